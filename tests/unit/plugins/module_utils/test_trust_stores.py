# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The platform table of OS trust stores, the labelled bundle format and keytool's listing."""

from __future__ import annotations

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores

# os-release files as the distributions ship them (the fields that matter).
OS_RELEASES = {
    "debian-12": ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', "debian"),
    "ubuntu-22.04": ('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n', "debian"),
    "linuxmint": ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian"),
    "rhel-9": ('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n', "rhel"),
    "rocky-9": ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "rhel"),
    "almalinux-9": ('ID="almalinux"\nID_LIKE="rhel centos fedora"\n', "rhel"),
    "fedora-40": ("ID=fedora\n", "rhel"),
    "amazon-2023": ('ID="amzn"\nID_LIKE="fedora"\n', "rhel"),
    "oracle-9": ('ID="ol"\nID_LIKE="fedora"\n', "rhel"),
    "sles-15": ('ID="sles"\nID_LIKE="suse"\n', "suse"),
    "opensuse-leap": ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "suse"),
    "opensuse-tumbleweed": ('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', "suse"),
    "alpine-3.20": ("NAME=\"Alpine Linux\"\nID=alpine\n", "alpine"),
    "arch": ("NAME=\"Arch Linux\"\nID=arch\n", "arch"),
    "manjaro": ("ID=manjaro\nID_LIKE=arch\n", "arch"),
    "derivative": ("# a comment line\nID=somethingnew\nID_LIKE='ubuntu debian'\n", "debian"),
    "nixos": ("ID=nixos\n", None),
    "empty": ("", None),
}


@pytest.mark.parametrize("name", sorted(OS_RELEASES))
def test_platform_detection_from_os_release(name):
    text, expected = OS_RELEASES[name]
    assert trust_stores.detect_platform(trust_stores.parse_os_release(text)) == expected


# The table must say what WISE_MTLS.md "Trust stores by platform" says.
@pytest.mark.parametrize("platform,anchor,command", [
    ("debian", "/usr/local/share/ca-certificates/wise-sandbox.crt", ["update-ca-certificates"]),
    ("rhel", "/etc/pki/ca-trust/source/anchors/wise-sandbox.pem", ["update-ca-trust", "extract"]),
    ("suse", "/etc/pki/trust/anchors/wise-sandbox.pem", ["update-ca-certificates"]),
    ("alpine", "/usr/local/share/ca-certificates/wise-sandbox.crt", ["update-ca-certificates"]),
    ("arch", "/etc/ca-certificates/trust-source/anchors/wise-sandbox.crt", ["trust", "extract-compat"]),
])
def test_platform_table(platform, anchor, command):
    store = trust_stores.system_store({"ID": platform})
    assert store.platform == platform
    assert store.anchor_path("wise-sandbox") == anchor
    assert store.refresh_command == command
    assert store.bundle.startswith("/")
    assert "ca-certificates" in store.package


def test_debian_removal_refreshes_with_fresh_and_others_as_usual():
    assert trust_stores.system_store({"ID": "ubuntu"}).remove_command == ["update-ca-certificates", "--fresh"]
    for platform in ("rhel", "suse", "alpine", "arch"):
        store = trust_stores.system_store({"ID": platform})
        assert store.remove_command == store.refresh_command
    custom = trust_stores.system_store({"ID": "debian"}, refresh_command=["/usr/local/bin/my-refresh"])
    assert custom.remove_command == ["/usr/local/bin/my-refresh"]


def test_alpine_names_the_package_with_the_refresh_command():
    assert "ca-certificates-bundle" in trust_stores.system_store({"ID": "alpine"}).package


def test_unknown_platform_needs_both_overrides():
    with pytest.raises(trust_stores.TrustStoreError) as error:
        trust_stores.system_store({"ID": "nixos"})
    assert "system_anchor_dir and system_refresh_command" in str(error.value) and "'nixos'" in str(error.value)
    with pytest.raises(trust_stores.TrustStoreError):
        trust_stores.system_store({"ID": "nixos"}, anchor_dir="/etc/ssl/anchors")
    store = trust_stores.system_store({"ID": "nixos"}, "/etc/ssl/anchors", ["/usr/bin/refresh-trust", "--all"])
    assert store.platform == "custom"
    assert store.anchor_path("wise") == "/etc/ssl/anchors/wise.crt"
    assert store.refresh_command == ["/usr/bin/refresh-trust", "--all"]


def test_overrides_on_a_known_platform():
    store = trust_stores.system_store({"ID": "debian"}, anchor_dir="/opt/anchors")
    assert store.anchor_path("wise") == "/opt/anchors/wise.crt" and store.refresh_command == ["update-ca-certificates"]
    store = trust_stores.system_store({"ID": "rocky", "ID_LIKE": "rhel"}, refresh_command=["/bin/true"])
    assert store.anchor_path("wise") == "/etc/pki/ca-trust/source/anchors/wise.pem"
    assert store.refresh_command == ["/bin/true"]


@pytest.mark.parametrize("name,ok", [("wise-sandbox", True), ("wise.production_2027", True), ("W1", True),
                                     ("../x", False), ("a/b", False), (".hidden", False), ("-x", False),
                                     ("with space", False), ("", False), ("naïve", False)])
def test_names(name, ok):
    if ok:
        trust_stores.check_name(name)
    else:
        with pytest.raises(trust_stores.TrustStoreError):
            trust_stores.check_name(name)


# ---------------------------------------------------------------- the labelled bundle

def test_bundle_entries_are_labelled_replaced_in_place_and_removed(pki):
    foreign = pki.pem(pki.other_ca)
    start = b"# kept as it is\n" + foreign + b"\n"
    with_ours = trust_stores.bundle_with(start, "wise-test", pki.ca)
    assert with_ours.startswith(start)
    assert trust_stores.bundle_with(with_ours, "wise-test", pki.ca) == with_ours  # idempotent
    assert trust_stores.bundle_entry(with_ours, "wise-test") == pki.ca
    assert trust_stores.bundle_entry(with_ours, "nothing") is None
    entries, trailer = trust_stores.parse_bundle(with_ours)
    assert [entry.label for entry in entries] == [None, "wise-test"] and trailer == b""

    newer = pki.make_ca("Newer CA", pki.key("ec256", "bundle-newer"))
    two = trust_stores.bundle_with(with_ours, "second", newer)
    replaced = trust_stores.bundle_with(two, "wise-test", newer)
    assert [entry.label for entry in trust_stores.parse_bundle(replaced)[0]] == [None, "wise-test", "second"]
    assert trust_stores.bundle_entry(replaced, "wise-test") == newer

    without, left = trust_stores.bundle_without(replaced, "wise-test")
    assert left == 2 and trust_stores.bundle_entry(without, "wise-test") is None
    assert without.startswith(start)
    without, left = trust_stores.bundle_without(trust_stores.bundle_with(b"", "only", pki.ca), "only")
    assert (without, left) == (b"", 0)


def test_bundle_without_final_newline_and_with_crlf(pki):
    pem = pki.pem(pki.other_ca)
    text = pem.rstrip(b"\n")
    assert trust_stores.bundle_with(text, "a", pki.ca).count(b"-----BEGIN CERTIFICATE-----") == 2
    crlf = trust_stores.bundle_with(b"", "a", pki.ca).replace(b"\n", b"\r\n")
    assert trust_stores.bundle_entry(crlf, "a") == pki.ca


def test_bundle_entry_header_names_the_certificate(pki):
    text = trust_stores.bundle_entry_text("wise-test", pki.ca).decode()
    lines = text.splitlines()
    assert lines[0] == '# Label: "wise-test"'
    assert lines[1] == "# Subject: /C=EU/O=Wise Test/CN=Test Wise CA"
    assert lines[4].startswith("# SHA256 Fingerprint: ")
    assert lines[5] == "-----BEGIN CERTIFICATE-----"


# ---------------------------------------------------------------- keytool's listing

def test_parse_keytool_list(pki):
    leaf = pki.leaf(pki.key("ec256"))
    text = (
        "Keystore type: PKCS12\nKeystore provider: SUN\n\nYour keystore contains 2 entries\n\n"
        "Alias name: wise-ca\nCreation date: Dec 3, 2026\nEntry type: trustedCertEntry\n\n"
        + pki.pem(pki.ca).decode()
        + "\n\n*******************************************\n*******************************************\n\n\n"
        "Alias name: wise-mtls\nCreation date: Dec 3, 2026\nEntry type: PrivateKeyEntry\n"
        "Certificate chain length: 2\nCertificate[1]:\n" + pki.pem(leaf).decode() + "Certificate[2]:\n"
        + pki.pem(pki.ca).decode()
        + "\n\n*******************************************\n*******************************************\n\n\n"
    )
    entries = trust_stores.parse_keytool_list(text)
    assert [(entry.alias, entry.entry_type) for entry in entries] == [("wise-ca", "trustedCertEntry"),
                                                                      ("wise-mtls", "PrivateKeyEntry")]
    assert entries[0].certificate == pki.ca and entries[1].certificate == leaf
    assert trust_stores.parse_keytool_list("Keystore type: PKCS12\n\nYour keystore contains 0 entries\n\n") == []
