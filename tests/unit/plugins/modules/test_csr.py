# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.csr, run in-process; CSRs judged by the openssl CLI."""

from __future__ import annotations

import grp
import os
import re

import pytest

from ansible_collections.wise.mtls.plugins.modules import csr as csr_module
from ansible_collections.wise.mtls.tests.unit.helpers import (
    assert_no_key_material,
    file_mode,
    four_runs,
    needs_root,
    read_bytes,
    write_bytes,
)

PASSPHRASE = "correct horse battery staple"
ORGANIZATION = "Example Payments Ltd"
CLIENT_ID = "0f1e2d3c-example-client"
ONE_CSR_BLOCK = re.compile(rb"\A-----BEGIN CERTIFICATE REQUEST-----\n([A-Za-z0-9+/=]{1,64}\n)+"
                           rb"-----END CERTIFICATE REQUEST-----\n\Z")


@pytest.fixture
def key(openssl, tmp_path):
    return openssl.write_key("ec:P-256", tmp_path / "client.key")


def csr_args(tmp_path, key_path, **extra):
    args = dict(path=str(tmp_path / "client.csr"), private_key_path=key_path, organization=ORGANIZATION)
    args.update(extra)
    return args


def assert_wise_ready(openssl, path, key_path, subject, passphrase=None):
    """openssl verifies the CSR, its subject is subject, its key is key_path's, and the file is one PEM block."""
    verified, openssl_subject = openssl.req_verify(path)
    assert verified
    assert openssl_subject == subject
    assert ONE_CSR_BLOCK.match(read_bytes(path)), read_bytes(path)
    assert openssl.fingerprint(path, csr=True) == openssl.fingerprint(key_path, passphrase=passphrase)


@pytest.mark.parametrize("spec", ["rsa:2048", "rsa:3072", "ec:P-256", "ec:P-384"])
def test_csr_for_every_allowed_key(run_module, openssl, tmp_path, spec):
    key_path = openssl.write_key(spec, tmp_path / "client.key")
    args = csr_args(tmp_path, key_path, country="EU", client_id=CLIENT_ID)
    result = run_module(csr_module, args)
    assert result["rc"] == 0 and result["changed"]
    path = args["path"]
    assert_wise_ready(openssl, path, key_path, "C = EU, O = Example Payments Ltd, CN = " + CLIENT_ID)
    assert result["csr"].encode("ascii") == read_bytes(path)
    assert result["subject"] == {"C": "EU", "O": ORGANIZATION, "CN": CLIENT_ID}
    assert result["subject_string"] == "/C=EU/O=Example Payments Ltd/CN=" + CLIENT_ID
    assert result["fingerprint"] == openssl.fingerprint(key_path)
    assert result["reasons"] == ["there is no CSR yet"]
    assert file_mode(path) == 0o644
    assert_no_key_material(result["_stdout"], read_bytes(key_path))
    again = run_module(csr_module, args)
    assert not again["changed"] and again["reasons"] == [] and again["csr"] == result["csr"]


def test_without_client_id_there_is_no_cn(run_module, openssl, tmp_path, key):
    args = csr_args(tmp_path, key)
    assert run_module(csr_module, args)["changed"]
    assert_wise_ready(openssl, args["path"], key, "O = Example Payments Ltd")


def test_encrypted_key(run_module, openssl, tmp_path):
    key_path = openssl.write_key("ec:P-256", tmp_path / "client.key", passphrase=PASSPHRASE)
    args = csr_args(tmp_path, key_path, client_id=CLIENT_ID, private_key_passphrase=PASSPHRASE)
    result = run_module(csr_module, args)
    assert result["changed"] and PASSPHRASE not in result["_stdout"]
    assert_wise_ready(openssl, args["path"], key_path, "O = Example Payments Ltd, CN = " + CLIENT_ID,
                      passphrase=PASSPHRASE)
    assert not run_module(csr_module, args)["changed"]


def test_key_behind_a_symlink_is_read(run_module, openssl, tmp_path, key):
    """Only the destination must not be a link; the key may be reached through one (a 'current' link)."""
    os.symlink(key, str(tmp_path / "current.key"))
    args = csr_args(tmp_path, str(tmp_path / "current.key"))
    assert run_module(csr_module, args)["changed"]
    assert_wise_ready(openssl, args["path"], key, "O = Example Payments Ltd")


# ---------------------------------------------------------------- the four-run pattern

def test_creation_four_runs(run_module, openssl, tmp_path, key):
    args = csr_args(tmp_path, key, country="EU", client_id=CLIENT_ID)
    results = four_runs(run_module, csr_module, args, str(tmp_path))
    assert results[0]["csr"] is None and results[0]["reasons"] == ["there is no CSR yet"]
    assert results[0]["diff"]["before"] == ""
    assert results[0]["diff"]["after"] == results[1]["diff"]["after"]
    assert "subject: /C=EU/O=Example Payments Ltd/CN={0}".format(CLIENT_ID) in results[1]["diff"]["after"]
    assert results[3]["diff"]["before"] == results[3]["diff"]["after"]
    assert results[3]["csr"] == results[1]["csr"] == results[2]["csr"]
    assert_wise_ready(openssl, args["path"], key, "C = EU, O = Example Payments Ltd, CN = " + CLIENT_ID)
    for result in results:
        assert_no_key_material(result["_stdout"], read_bytes(key))


@pytest.mark.parametrize("change, subject", [
    (dict(organization="Example Holdings BV"), "C = EU, O = Example Holdings BV, CN = " + CLIENT_ID),
    (dict(client_id="another-client"), "C = EU, O = Example Payments Ltd, CN = another-client"),
    (dict(country="GB"), "C = GB, O = Example Payments Ltd, CN = " + CLIENT_ID),
    (dict(client_id=None), "C = EU, O = Example Payments Ltd"),
])
def test_subject_change_four_runs(run_module, openssl, tmp_path, key, change, subject):
    args = csr_args(tmp_path, key, country="EU", client_id=CLIENT_ID)
    first = run_module(csr_module, args)
    args.update(change)
    results = four_runs(run_module, csr_module, args, str(tmp_path))
    assert results[0]["reasons"] == results[1]["reasons"]
    assert results[0]["reasons"][0].startswith("the subject changed from /C=EU/O=Example Payments Ltd/CN=")
    assert results[0]["diff"] == results[1]["diff"]
    assert results[0]["diff"]["before"] != results[0]["diff"]["after"]
    assert results[1]["csr"] != first["csr"]
    assert_wise_ready(openssl, args["path"], key, subject)


def test_new_key_four_runs(run_module, openssl, tmp_path, key):
    args = csr_args(tmp_path, key)
    run_module(csr_module, args)
    new_key = openssl.write_key("rsa:2048", tmp_path / "client.key")
    results = four_runs(run_module, csr_module, args, str(tmp_path))
    assert results[0]["reasons"] == ["the CSR is for another key"]
    assert results[0]["diff"] == results[1]["diff"]
    assert "fingerprint: {0}".format(openssl.fingerprint(new_key)) in results[0]["diff"]["after"]
    assert_wise_ready(openssl, args["path"], new_key, "O = Example Payments Ltd")


@needs_root
def test_attribute_change_four_runs(run_module, openssl, tmp_path, key):
    args = csr_args(tmp_path, key, client_id=CLIENT_ID)
    run_module(csr_module, args)
    content = read_bytes(args["path"])
    args.update(mode="0640", group="daemon")
    results = four_runs(run_module, csr_module, args, str(tmp_path))
    assert results[0]["reasons"] == [] and results[0]["csr"] == content.decode("ascii")
    assert results[0]["diff"] == results[1]["diff"]
    assert "mode: 0640" in results[0]["diff"]["after"] and "group: daemon" in results[0]["diff"]["after"]
    assert read_bytes(args["path"]) == content
    assert file_mode(args["path"]) == 0o640 and os.stat(args["path"]).st_gid == grp.getgrnam("daemon").gr_gid


@pytest.mark.parametrize("existing", ["text-dump", "two-blocks", "not-a-csr", "der", "weak-key"])
def test_a_non_compliant_csr_on_disk_is_made_again(run_module, openssl, tmp_path, key, existing):
    path = str(tmp_path / "client.csr")
    if existing == "text-dump":
        openssl.make_csr(key, path, "/O=Example Payments Ltd", "-text")
        reason = "csr_text_outside_pem"
    elif existing == "two-blocks":
        openssl.make_csr(key, path, "/O=Example Payments Ltd")
        write_bytes(path, read_bytes(path) * 2)
        reason = "csr_multiple_pem_blocks"
    elif existing == "not-a-csr":
        write_bytes(path, b"paste the CSR here\n")
        reason = "csr_not_pem"
    elif existing == "der":
        openssl.make_csr(key, path, "/O=Example Payments Ltd", "-outform", "DER")
        reason = "csr_not_pem"
    else:
        weak = openssl.write_key("rsa:1024", tmp_path / "weak.key")
        openssl.make_csr(weak, path, "/O=Example Payments Ltd")
        reason = "rsa_key_size_not_allowed"
    results = four_runs(run_module, csr_module, csr_args(tmp_path, key), str(tmp_path))
    assert results[0]["reasons"] == ["the CSR breaks a Wise rule: {0}".format(reason)]
    assert_wise_ready(openssl, path, key, "O = Example Payments Ltd")


def test_csr_made_by_openssl_for_the_same_key_and_subject_is_kept(run_module, openssl, tmp_path, key):
    path = openssl.make_csr(key, tmp_path / "client.csr", "/C=EU/O=Example Payments Ltd/CN=" + CLIENT_ID)
    before = read_bytes(path)
    os.chmod(path, 0o644)
    result = run_module(csr_module, csr_args(tmp_path, key, country="EU", client_id=CLIENT_ID))
    assert result["rc"] == 0 and not result["changed"]
    assert read_bytes(path) == before


# ---------------------------------------------------------------- refusals change nothing

def key_file(spec, passphrase=None):
    def prepare(openssl, folder):
        return openssl.write_key(spec, os.path.join(folder, "client.key"), passphrase=passphrase)

    return prepare


def key_bytes(data):
    def prepare(_openssl, folder):
        return write_bytes(os.path.join(folder, "client.key"), data, 0o600)

    return prepare


def with_existing_csr(prepare_key, make_destination):
    def prepare(openssl, folder):
        key_path = prepare_key(openssl, folder)
        make_destination(openssl, folder, key_path)
        return key_path

    return prepare


def symlink_destination(openssl, folder, key_path):
    elsewhere = os.path.join(folder, "elsewhere")
    os.mkdir(elsewhere)
    target = openssl.make_csr(key_path, os.path.join(elsewhere, "real.csr"), "/O=Other")
    os.symlink(target, os.path.join(folder, "client.csr"))


def directory_destination(_openssl, folder, _key_path):
    os.mkdir(os.path.join(folder, "client.csr"))


def existing_compliant_csr(openssl, folder, key_path):
    openssl.make_csr(key_path, os.path.join(folder, "client.csr"), "/O=Old Name")


REFUSALS = {
    "ed25519-key": (key_file("ed25519"), {}, ["The key is ed25519, which Wise does not accept",
                                              "make a new key: RSA 2048, 3072 or 4096 bits, or ECC P-256 or P-384",
                                              "Nothing was changed"]),
    "rsa-1024-key": (key_file("rsa:1024"), {}, ["RSA 1024 bits is not accepted by Wise (too weak)"]),
    "p521-key": (key_file("ec:P-521"), {}, ["ECC 521 bits is not accepted by Wise", "P-256"]),
    "organization-empty": (key_file("ec:P-256"), dict(organization=""),
                           ["Organisation (O) is not set; Wise requires it", "company name"]),
    "organization-blank": (key_file("ec:P-256"), dict(organization="   "), ["Organisation (O) is not set"]),
    "organization-missing": (key_file("ec:P-256"), dict(organization=None),
                             ["missing required arguments: organization"]),
    "country-invalid": (key_file("ec:P-256"), dict(country="EUR"), ["Country 'EUR' is not two letters", "GB"]),
    "key-missing": (lambda _openssl, folder: os.path.join(folder, "client.key"), {},
                    ["The private key {folder}/client.key does not exist; create it first (wise.mtls.private_key)"]),
    "key-corrupt": (key_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), {},
                    ["The private key {folder}/client.key cannot be used: the private key cannot be read",
                     "Point the path at the PEM private key, or make a new key with wise.mtls.private_key"]),
    "key-garbage": (key_bytes(b"garbage"), {},
                    ["cannot be used: the file does not hold a PEM private key.",
                     "make a new key with wise.mtls.private_key"]),
    "key-encrypted-no-passphrase": (key_file("ec:P-256", PASSPHRASE), {},
                                    ["the private key is encrypted and no passphrase was given",
                                     "Give its passphrase in private_key_passphrase"]),
    "key-wrong-passphrase": (key_file("ec:P-256", PASSPHRASE), dict(private_key_passphrase="wrong"),
                             ["the passphrase does not decrypt the private key",
                              "Check private_key_passphrase: it must be the passphrase the key was encrypted with"]),
    "key-not-encrypted": (key_file("ec:P-256"), dict(private_key_passphrase=PASSPHRASE),
                          ["a passphrase was given but the private key is not encrypted",
                           "Leave private_key_passphrase out for this key"]),
    "missing-parent": (key_file("ec:P-256"), dict(path="{folder}/missing/client.csr"),
                       ["The folder {folder}/missing does not exist; create it first"]),
    "symlink-destination": (with_existing_csr(key_file("ec:P-256"), symlink_destination), {},
                            ["{folder}/client.csr is a symbolic link (to {folder}/elsewhere/real.csr)",
                             "remove the link"]),
    "directory-destination": (with_existing_csr(key_file("ec:P-256"), directory_destination), {},
                              ["{folder}/client.csr exists but is not a regular file"]),
    "unknown-group": (with_existing_csr(key_file("ec:P-256"), existing_compliant_csr), dict(group="no-such-group-wise"),
                      ["The group 'no-such-group-wise' does not exist on this host"]),
    "key-ed25519-existing-csr": (with_existing_csr(key_file("ed25519"), existing_compliant_csr), {},
                                 ["The key is ed25519"]),
}


@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "real"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_the_problem_and_change_nothing(run_module, openssl, tmp_path, unchanged, case, check_mode):
    prepare, change, words = REFUSALS[case]
    folder = str(tmp_path)
    key_path = prepare(openssl, folder)
    args = csr_args(tmp_path, key_path, country="EU", client_id=CLIENT_ID)
    args.update(change)
    args["path"] = args["path"].format(folder=folder)
    args = dict((name, value) for name, value in args.items() if value is not None)
    with unchanged(folder):
        result = run_module(csr_module, args, check_mode=check_mode, diff=True)
    assert result["rc"] == 1 and result["failed"]
    for word in words:
        assert word.format(folder=folder) in result["msg"]
    assert PASSPHRASE not in result["_stdout"]
    if os.path.isfile(key_path):
        assert_no_key_material(result["_stdout"], read_bytes(key_path))


@needs_root
def test_unreadable_key_is_refused(run_module, openssl, shared_tmp_path, as_user, unchanged):
    key_path = openssl.write_key("ec:P-256", os.path.join(shared_tmp_path, "client.key"))
    args = dict(path=os.path.join(shared_tmp_path, "client.csr"), private_key_path=key_path, organization=ORGANIZATION)
    with unchanged(shared_tmp_path):
        with as_user("nobody"):
            result = run_module(csr_module, args)
    assert result["failed"]
    assert "Cannot read {0}: Permission denied. Check its permissions.".format(key_path) in result["msg"]
