# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.ca_trust: the Wise CA in a dedicated bundle, the OS store and a Java trust store."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import uuid

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores
from ansible_collections.wise.mtls.plugins.modules import ca_trust

PASSWORD = "changeit"
TRUSTED_BAG_ATTRIBUTE = b"2.16.840.1.113894.746875.1.1"


def read(path):
    with open(str(path), "rb") as handle:
        return handle.read()


def write(path, data, mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return str(path)


def run(*command, **kwargs):
    return subprocess.run([str(part) for part in command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False, **kwargs)


def openssl_verify(ca_file, certificate_path):
    """True when openssl verifies the certificate with ca_file as the only trust (no CA folder)."""
    return run("openssl", "verify", "-no-CApath", "-CAfile", ca_file, certificate_path).returncode == 0


def keytool_list(keytool, path, password=PASSWORD):
    completed = run(keytool, "-list", "-storetype", "PKCS12", "-keystore", path, "-storepass", password,
                    "-J-Duser.language=en")
    assert completed.returncode == 0, completed.stdout
    return completed.stdout.decode("utf-8", "replace")


def four_runs(run_module, args):
    results = [run_module(ca_trust, args, check_mode=True, diff=True), run_module(ca_trust, args, diff=True),
               run_module(ca_trust, args, check_mode=True, diff=True), run_module(ca_trust, args, diff=True)]
    for result in results:
        assert result["rc"] == 0, result["msg"]
    assert [result["changed"] for result in results] == [True, True, False, False]
    return results


@pytest.fixture
def env(tmp_path, pki):
    class Env(object):
        folder = tmp_path
        bundle = str(tmp_path / "wise-ca.pem")
        leaf_path = write(tmp_path / "client.pem", pki.pem(pki.leaf(pki.key("ec256"))))

        @staticmethod
        def args(**extra):
            args = dict(name="wise-test", content=pki.pem(pki.ca).decode(), bundle_path=str(tmp_path / "wise-ca.pem"))
            args.update(extra)
            return dict((key, value) for key, value in args.items() if value is not None)

    return Env()


# ---------------------------------------------------------------- dedicated bundle

def test_bundle_installs_the_ca_and_openssl_trusts_it(run_module, env, pki):
    assert not os.path.exists(env.bundle)
    results = four_runs(run_module, env.args())
    assert openssl_verify(env.bundle, env.leaf_path)
    text = read(env.bundle)
    assert text.startswith(b'# Label: "wise-test"\n# Subject: /C=EU/O=Wise Test/CN=Test Wise CA\n')
    assert text.endswith(pki.pem(pki.ca))
    assert stat.S_IMODE(os.stat(env.bundle).st_mode) == 0o644
    result = results[1]
    assert result["stores"]["bundle"] == dict(path=env.bundle, changed=True)
    assert result["subject"] == "/C=EU/O=Wise Test/CN=Test Wise CA"
    assert result["fingerprint"] == crypto.certificate_fingerprint(pki.ca)
    assert result["refreshed"] is False
    diff = results[0]["diff"][0]
    assert diff["before"] == ""
    assert "fingerprint: " + result["fingerprint"] in diff["after"] and "subject: /C=EU/O=Wise Test" in diff["after"]
    assert results[3]["diff"][0]["before"] == results[3]["diff"][0]["after"]


def test_bundle_holds_several_named_cas_and_keeps_foreign_certificates(run_module, env, pki):
    foreign = pki.make_ca("Someone Else CA", pki.key("ec256", "foreign"))
    write(env.bundle, b"# a certificate the module did not write\n" + pki.pem(foreign))
    assert run_module(ca_trust, env.args())["changed"]
    assert run_module(ca_trust, env.args(name="wise-other", content=pki.pem(pki.other_ca).decode()))["changed"]
    text = read(env.bundle)
    assert text.startswith(b"# a certificate the module did not write\n" + pki.pem(foreign))
    assert text.count(b"-----BEGIN CERTIFICATE-----") == 3
    assert openssl_verify(env.bundle, env.leaf_path)

    # Another certificate under an existing name replaces that entry in place.
    newer = pki.make_ca("Test Wise CA 2027", pki.key("ec256", "newer"))
    result = run_module(ca_trust, env.args(content=pki.pem(newer).decode()), diff=True)
    assert result["changed"]
    assert crypto.certificate_fingerprint(pki.ca) in result["diff"][0]["before"]
    assert crypto.certificate_fingerprint(newer) in result["diff"][0]["after"]
    entries, _trailer = trust_stores.parse_bundle(read(env.bundle))
    assert [entry.label for entry in entries] == [None, "wise-test", "wise-other"]
    assert not openssl_verify(env.bundle, env.leaf_path)

    # Removing one name keeps the rest.
    result = run_module(ca_trust, dict(name="wise-test", state="absent", bundle_path=env.bundle), diff=True)
    assert result["changed"] and not result["stores"]["bundle"].get("file_removed")
    assert "entry: (none)" in result["diff"][0]["after"]
    entries, _trailer = trust_stores.parse_bundle(read(env.bundle))
    assert [entry.label for entry in entries] == [None, "wise-other"]


def test_bundle_absent_four_runs_and_the_last_entry_removes_the_file(run_module, env):
    run_module(ca_trust, env.args())
    absent = dict(name="wise-test", state="absent", bundle_path=env.bundle)
    results = four_runs(run_module, absent)
    assert not os.path.exists(env.bundle)
    assert results[1]["stores"]["bundle"]["file_removed"] is True
    assert "subject: /C=EU/O=Wise Test/CN=Test Wise CA" in results[0]["diff"][0]["before"]
    assert results[0]["diff"][0]["after"] == ""
    assert not run_module(ca_trust, dict(absent, bundle_path=str(env.folder / "never-made.pem")))["changed"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owner and group needs root")
def test_bundle_owner_group_mode(run_module, env):
    four_runs(run_module, env.args(owner="nobody", group="nogroup", mode="0640"))
    info = os.stat(env.bundle)
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert info.st_uid == int(run("id", "-u", "nobody").stdout)
    assert info.st_gid == int(run("getent", "group", "nogroup").stdout.split(b":")[2])


# ---------------------------------------------------------------- refusals

def refused(run_module, unchanged, env, expected, code=None, **changes):
    run_module(ca_trust, env.args())  # something installed that must stay as it is
    with unchanged(env.folder):
        result = run_module(ca_trust, env.args(**changes))
    assert result["rc"] == 1, result
    for text in expected:
        assert text in result["msg"], result["msg"]
    if code:
        assert code in [finding["code"] for finding in result["findings"]]
    return result


def test_refuses_a_leaf_certificate_as_ca(run_module, unchanged, env, pki):
    leaf = pki.leaf(pki.key("ec256"))
    refused(run_module, unchanged, env, ["is not a CA certificate", "CA:FALSE", "leaf"], "ca_not_a_ca",
            content=pki.pem(leaf).decode())


def test_refuses_a_v3_certificate_without_basic_constraints(run_module, unchanged, env, pki):
    bare = pki.make_ca("Bare CA", pki.key("ec256", "bare"), basic_constraints=False)
    refused(run_module, unchanged, env, ["no basicConstraints"], "ca_not_a_ca", content=pki.pem(bare).decode())


def test_refuses_an_expired_ca_naming_the_dates(run_module, unchanged, env, pki):
    expired = pki.make_ca("Old Wise CA", pki.key("ec256", "old"), days_before=-800, days_after=-2)
    result = refused(run_module, unchanged, env, ["expired on", "Get Wise Certificate"], "ca_expired",
                     content=pki.pem(expired).decode())
    assert pki.iso(expired, "not_after") in result["msg"]


def test_refuses_a_ca_not_valid_yet(run_module, unchanged, env, pki):
    future = pki.make_ca("Future Wise CA", pki.key("ec256", "future"), days_before=2, days_after=800)
    refused(run_module, unchanged, env, ["not valid yet"], "ca_not_yet_valid", content=pki.pem(future).decode())


def test_refuses_der_garbage_and_several_certificates(run_module, unchanged, env, pki):
    der = write(env.folder / "ca.der", pki.der(pki.ca))
    refused(run_module, unchanged, env, ["DER"], "ca_der", content=None, src=der)
    refused(run_module, unchanged, env, ["no PEM block"], "ca_not_pem", content="not a certificate at all")
    refused(run_module, unchanged, env, ["2 certificates", "exactly one"], "ca_multiple",
            content=pki.pem(pki.ca, pki.other_ca).decode())


def test_refuses_bad_names_and_missing_options(run_module, unchanged, env):
    for name in ("../etc/evil", "wise ca", "-x", ""):
        with unchanged(env.folder):
            result = run_module(ca_trust, env.args(name=name))
        assert result["rc"] == 1 and "cannot be used" in result["msg"]
    with unchanged(env.folder):
        result = run_module(ca_trust, env.args(bundle_path=None))
    assert result["rc"] == 1 and "bundle_path" in result["msg"]
    with unchanged(env.folder):
        result = run_module(ca_trust, env.args(stores=["java"]))
    assert "java_truststore_path" in result["msg"] and "java_truststore_password" in result["msg"]


def test_refuses_a_bundle_path_holding_binary_data(run_module, unchanged, env):
    write(env.bundle, b"\x00\x01binary")
    with unchanged(env.folder):
        result = run_module(ca_trust, env.args())
    assert result["rc"] == 1 and "not a PEM bundle" in result["msg"]


# ---------------------------------------------------------------- OS store with overridden locations

@pytest.fixture
def fake_system(tmp_path):
    """An anchor folder and a refresh command that logs each run, instead of the host's store."""
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    log = tmp_path / "refresh.log"
    return dict(anchors=str(anchors), log=str(log),
                args=dict(stores=["system"], system_anchor_dir=str(anchors),
                          system_refresh_command=["/bin/sh", "-c", "echo refreshed >> {0}".format(log)]))


def refresh_count(fake_system):
    return read(fake_system["log"]).count(b"refreshed") if os.path.exists(fake_system["log"]) else 0


def test_system_store_refreshes_only_when_the_anchor_changes(run_module, env, pki, fake_system):
    args = env.args(bundle_path=None, **fake_system["args"])
    results = four_runs(run_module, args)
    assert [result["refreshed"] for result in results] == [True, True, False, False]
    assert refresh_count(fake_system) == 1  # check mode never ran it
    anchor = os.path.join(fake_system["anchors"], "wise-test" + results[1]["stores"]["system"]["path"][-4:])
    assert results[1]["stores"]["system"]["path"] == anchor
    assert read(anchor) == pki.pem(pki.ca)
    assert stat.S_IMODE(os.stat(anchor).st_mode) == 0o644

    absent = dict(args, state="absent")
    absent.pop("content")
    results = four_runs(run_module, absent)
    assert [result["refreshed"] for result in results] == [True, True, False, False]
    assert refresh_count(fake_system) == 2
    assert not os.path.exists(anchor)


def test_system_store_puts_the_anchor_back_when_the_refresh_fails(run_module, env, pki, fake_system):
    broken = dict(fake_system["args"], system_refresh_command=["/bin/sh", "-c", "echo broken >&2; exit 3"])
    result = run_module(ca_trust, env.args(bundle_path=None, **broken))
    assert result["rc"] == 1
    assert "exit status 3" in result["msg"] and "broken" in result["msg"] and "put back" in result["msg"]
    assert os.listdir(fake_system["anchors"]) == []  # a new anchor is removed again
    # An anchor that was there is restored, so the next run sees the change and refreshes again.
    assert run_module(ca_trust, env.args(bundle_path=None, **fake_system["args"]))["refreshed"]
    (anchor,) = os.listdir(fake_system["anchors"])
    newer = pki.make_ca("Test Wise CA 2027", pki.key("ec256", "newer"))
    result = run_module(ca_trust, env.args(bundle_path=None, content=pki.pem(newer).decode(), **broken))
    assert result["rc"] == 1
    assert read(os.path.join(fake_system["anchors"], anchor)) == pki.pem(pki.ca)
    assert run_module(ca_trust, env.args(bundle_path=None, content=pki.pem(newer).decode(),
                                         **fake_system["args"]))["refreshed"]


def test_system_store_missing_refresh_command_fails_before_writing(run_module, env, unchanged, fake_system):
    args = env.args(bundle_path=None, **dict(fake_system["args"],
                                             system_refresh_command=["/nonexistent/update-ca-certificates"]))
    for check_mode in (True, False):
        with unchanged(env.folder):
            result = run_module(ca_trust, args, check_mode=check_mode)
        assert result["rc"] == 1 and "was not found" in result["msg"] and "Nothing was changed" in result["msg"]


def test_several_stores_in_one_task_each_with_its_diff(run_module, env, fake_system):
    args = env.args(**dict(fake_system["args"], stores=["system", "bundle"]))
    results = four_runs(run_module, args)
    assert sorted(results[1]["stores"]) == ["bundle", "system"]
    assert [diff["before_header"] for diff in results[0]["diff"]] == [
        env.bundle, results[1]["stores"]["system"]["path"]]


# ---------------------------------------------------------------- the real OS store (Debian)

def links_to(name, folder):
    """Entries of folder that are named after name or are symbolic links whose target mentions it."""
    found = []
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if name in entry or (os.path.islink(path) and name in os.readlink(path)):
            found.append(entry)
    return found


DEBIAN_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/etc/debian_version")
                    or not shutil.which("update-ca-certificates", path=os.environ.get("PATH", "") + ":/usr/sbin"),
                    reason="needs root on Debian or Ubuntu with update-ca-certificates")
def test_debian_system_store_trusts_and_untrusts_the_ca(run_module, env, pki):
    name = "wise-mtls-test-" + uuid.uuid4().hex[:12]
    ca_key = pki.key("ec256", name)
    ca = pki.make_ca("Wise mTLS test CA " + name, ca_key)
    leaf = write(env.folder / "leaf.pem", pki.pem(pki.leaf(pki.key("ec256"), issuer=ca, issuer_key=ca_key)))
    args = dict(name=name, content=pki.pem(ca).decode(), stores=["system"])
    anchor = "/usr/local/share/ca-certificates/{0}.crt".format(name)
    assert not openssl_verify(DEBIAN_BUNDLE, leaf)
    try:
        result = run_module(ca_trust, args)
        assert result["rc"] == 0, result["msg"]
        assert result["changed"] and result["refreshed"]
        assert result["stores"]["system"]["platform"] == "debian"
        assert result["stores"]["system"]["path"] == anchor
        assert result["stores"]["system"]["bundle"] == DEBIAN_BUNDLE
        assert openssl_verify(DEBIAN_BUNDLE, leaf)

        bundle_mtime = os.stat(DEBIAN_BUNDLE).st_mtime_ns
        anchor_mtime = os.stat(anchor).st_mtime_ns
        for check_mode in (True, False):
            again = run_module(ca_trust, args, check_mode=check_mode)
            assert again["changed"] is False and again["refreshed"] is False
        assert os.stat(DEBIAN_BUNDLE).st_mtime_ns == bundle_mtime
        assert os.stat(anchor).st_mtime_ns == anchor_mtime

        link = "/etc/ssl/certs/{0}.pem".format(name)
        assert os.path.islink(link)
        removed = run_module(ca_trust, dict(name=name, state="absent", stores=["system"]))
        assert removed["changed"] and removed["refreshed"]
        assert removed["stores"]["system"]["refresh_command"][1:] == ["--fresh"]
        assert not os.path.exists(anchor)
        assert not openssl_verify(DEBIAN_BUNDLE, leaf)
        # No link to the removed CA is left in /etc/ssl/certs (plain update-ca-certificates keeps them).
        assert not os.path.lexists(link)
        assert links_to(name, "/etc/ssl/certs") == []
        again = run_module(ca_trust, dict(name=name, state="absent", stores=["system"]))
        assert again["changed"] is False and again["refreshed"] is False
    finally:
        if os.path.exists(anchor):
            os.unlink(anchor)
            run("update-ca-certificates", "--fresh")


# ---------------------------------------------------------------- Java trust store

def java_backend(request, keytool_fixture_name="keytool"):
    backend = request.param
    if backend == "cryptography" and not crypto.can_write_java_truststore():
        pytest.skip("this cryptography cannot write Java trusted entries (needs 45 or newer); keytool covers it")
    keytool = request.getfixturevalue(keytool_fixture_name)
    return backend, keytool


@pytest.fixture(params=["cryptography", "keytool"])
def java(request, env):
    backend, keytool = java_backend(request)
    store = str(env.folder / "truststore.p12")
    return dict(backend=backend, keytool=keytool, store=store,
                args=dict(stores=["java"], java_truststore_path=store, java_truststore_password=PASSWORD,
                          java_truststore_backend=backend, bundle_path=None))


def test_java_truststore_entry_is_a_trusted_certificate(run_module, env, pki, java):
    results = four_runs(run_module, env.args(**java["args"]))
    assert results[1]["stores"]["java"] == dict(path=java["store"], changed=True, backend=java["backend"])
    listing = keytool_list(java["keytool"], java["store"])
    assert "Your keystore contains 1 entry" in listing
    assert "wise-test," in listing and "trustedCertEntry" in listing
    info = run("openssl", "pkcs12", "-in", java["store"], "-passin", "pass:" + PASSWORD, "-nokeys", "-info")
    assert info.returncode == 0, info.stdout
    assert TRUSTED_BAG_ATTRIBUTE in info.stdout
    assert pki.pem(pki.ca).strip() in info.stdout
    first = read(java["store"])
    assert not run_module(ca_trust, env.args(**java["args"]))["changed"]
    assert read(java["store"]) == first


def test_java_truststore_keeps_other_entries_and_removes_only_its_own(run_module, env, pki, java):
    other = write(env.folder / "other.pem", pki.pem(pki.make_ca("Other CA", pki.key("ec256", "java-other"))))
    made = run(java["keytool"], "-importcert", "-noprompt", "-alias", "someone-else", "-file", other, "-keystore",
               java["store"], "-storetype", "PKCS12", "-storepass", PASSWORD)
    assert made.returncode == 0, made.stdout
    assert run_module(ca_trust, env.args(**java["args"]))["changed"]
    listing = keytool_list(java["keytool"], java["store"])
    assert "someone-else," in listing and "wise-test," in listing and listing.count("trustedCertEntry") == 2

    absent = dict(env.args(**java["args"]), state="absent")
    absent.pop("content")
    results = four_runs(run_module, absent)
    assert crypto.certificate_fingerprint(pki.ca) in results[0]["diff"][0]["before"]
    listing = keytool_list(java["keytool"], java["store"])
    assert "someone-else," in listing and "wise-test," not in listing

    assert run_module(ca_trust, dict(absent, name="someone-else"))["stores"]["java"]["file_removed"]
    assert not os.path.exists(java["store"])


def test_java_truststore_with_another_password_is_refused(run_module, env, unchanged, java):
    run_module(ca_trust, env.args(**java["args"]))
    with unchanged(env.folder):
        result = run_module(ca_trust, env.args(**dict(java["args"], java_truststore_password="not-the-password")))
    assert result["rc"] == 1 and "password" in result["msg"] and "Nothing was changed" in result["msg"]
    assert "not-the-password" not in result["_stdout"] and PASSWORD not in result["_stdout"]


def test_java_without_a_way_to_write_trusted_entries_says_what_to_install(run_module, env, unchanged):
    args = env.args(stores=["java"], java_truststore_path=str(env.folder / "ts.p12"),
                    java_truststore_password=PASSWORD, bundle_path=None, java_truststore_backend="keytool",
                    java_keytool_path=str(env.folder / "no-keytool-here"))
    with unchanged(env.folder):
        result = run_module(ca_trust, args)
    assert result["rc"] == 1
    assert "keytool was not found at" in result["msg"] and "default-jre-headless" in result["msg"]
    if not crypto.can_write_java_truststore():
        with unchanged(env.folder):
            result = run_module(ca_trust, dict(args, java_truststore_backend="cryptography"))
        assert result["rc"] == 1 and "cryptography 45" in result["msg"]


def test_java_auto_backend_prefers_cryptography_and_falls_back_to_keytool(run_module, env, keytool):
    result = run_module(ca_trust, env.args(stores=["java"], java_truststore_path=str(env.folder / "ts.p12"),
                                           java_truststore_password=PASSWORD, bundle_path=None))
    assert result["rc"] == 0, result["msg"]
    expected = "cryptography" if crypto.can_write_java_truststore() else "keytool"
    assert result["stores"]["java"]["backend"] == expected
    assert "trustedCertEntry" in keytool_list(keytool, env.folder / "ts.p12")
