# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The crypto layer, judged by the openssl CLI wherever openssl can judge."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.tests.unit.helpers import read_bytes, write_bytes

PASSPHRASE = "correct horse battery staple"


# ---------------------------------------------------------------- private keys

@pytest.mark.parametrize("key_type, size, openssl_says", [
    ("rsa", 2048, "Private-Key: (2048 bit"),
    ("ecc", 256, "NIST CURVE: P-256"),
    ("ecc", 384, "NIST CURVE: P-384"),
])
def test_generated_keys_are_what_was_asked(openssl, tmp_path, key_type, size, openssl_says):
    key = crypto.generate_private_key(key_type, size)
    pem = crypto.private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8
    path = write_bytes(tmp_path / "k.pem", pem, 0o600)
    assert openssl_says in openssl.pkey_text(path)
    assert crypto.describe_public_key(key.public_key())["size"] == size
    assert crypto.public_key_fingerprint(key.public_key()) == openssl.fingerprint(path)


def test_encrypted_key_opens_with_openssl_and_the_passphrase_only(openssl, tmp_path):
    key = crypto.generate_private_key("ecc", 256)
    pem = crypto.private_key_to_pem(key, PASSPHRASE)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert crypto.is_pem_encrypted(pem)
    path = write_bytes(tmp_path / "k.pem", pem, 0o600)
    assert "NIST CURVE: P-256" in openssl.pkey_text(path, PASSPHRASE)
    assert openssl.run("pkey", "-in", path, "-noout", "-passin", "pass:wrong", check=False).returncode != 0
    loaded = crypto.load_private_key(pem, PASSPHRASE)
    assert crypto.public_keys_equal(loaded.public_key(), key.public_key())


def test_load_private_key_made_by_openssl(openssl):
    for spec in ("rsa:2048", "ec:P-256", "ed25519"):
        key = crypto.load_private_key(openssl.key_pem(spec))
        assert key.public_key() is not None


def test_traditional_encrypted_pem(openssl, tmp_path):
    traditional = openssl.run("pkey", "-traditional", "-aes128", "-passout", "pass:" + PASSPHRASE,
                              stdin=openssl.key_pem("rsa:2048")).stdout
    assert b"Proc-Type: 4,ENCRYPTED" in traditional
    assert crypto.is_pem_encrypted(traditional)
    with pytest.raises(crypto.KeyLoadError) as error:
        crypto.load_private_key(traditional)
    assert error.value.reason == "passphrase_required"
    assert crypto.describe_public_key(crypto.load_private_key(traditional, PASSPHRASE).public_key())["size"] == 2048


@pytest.mark.parametrize("data, passphrase, reason", [
    ("encrypted", None, "passphrase_required"),
    ("encrypted", "", "passphrase_required"),
    ("encrypted", "wrong", "passphrase_wrong"),
    ("plain", "something", "not_encrypted"),
    (b"", None, "corrupt"),
    (b"hello\n", None, "corrupt"),
    ("truncated", None, "corrupt"),
    ("csr-instead", None, "corrupt"),
])
def test_key_load_errors_have_stable_reasons(openssl, tmp_path, data, passphrase, reason):
    plain = openssl.key_pem("ec:P-256")
    if data == "encrypted":
        data = openssl.run("pkey", "-aes256", "-passout", "pass:" + PASSPHRASE, stdin=plain).stdout
    elif data == "plain":
        data = plain
    elif data == "truncated":
        lines = plain.splitlines(True)
        data = b"".join(lines[:2] + lines[-1:])
    elif data == "csr-instead":
        key_path = write_bytes(tmp_path / "k", plain, 0o600)
        data = openssl.run("req", "-new", "-key", key_path, "-subj", "/O=x").stdout
    with pytest.raises(crypto.KeyLoadError) as error:
        crypto.load_private_key(data, passphrase)
    assert error.value.reason == reason
    assert str(error.value)
    assert PASSPHRASE not in str(error.value)


# ---------------------------------------------------------------- public keys

def test_describe_public_key(openssl):
    def describe(spec):
        return crypto.describe_public_key(crypto.load_private_key(openssl.key_pem(spec)).public_key())

    assert describe("rsa:1024") == {"type": "rsa", "size": 1024, "curve": None}
    assert describe("ec:P-256") == {"type": "ecc", "size": 256, "curve": "secp256r1"}
    assert describe("ec:P-384") == {"type": "ecc", "size": 384, "curve": "secp384r1"}
    assert describe("ec:P-521") == {"type": "ecc", "size": 521, "curve": "secp521r1"}
    assert describe("ed25519") == {"type": "ed25519", "size": None, "curve": None}


def test_fingerprints_match_openssl_and_tie_key_and_csr(openssl, tmp_path):
    key_path = openssl.write_key("rsa:2048", tmp_path / "k")
    csr_path = openssl.make_csr(key_path, tmp_path / "c", "/O=Example")
    key = crypto.load_private_key(read_bytes(key_path))
    csr = crypto.load_csr_pem(read_bytes(csr_path))
    assert crypto.public_key_fingerprint(key.public_key()) == openssl.fingerprint(key_path)
    assert crypto.public_key_fingerprint(csr.public_key()) == openssl.fingerprint(csr_path, csr=True)
    assert crypto.public_keys_equal(key.public_key(), csr.public_key())
    other = crypto.load_private_key(openssl.key_pem("ec:P-256"))
    assert not crypto.public_keys_equal(key.public_key(), other.public_key())
    assert crypto.public_key_pem(key.public_key()).encode("ascii") == openssl.public_key_pem(key_path)


# ---------------------------------------------------------------- PEM framing

def test_pem_scan(openssl):
    key = openssl.key_pem("ec:P-256")
    scan = crypto.PemScan(key)
    assert [label for label, _block in scan.blocks] == ["PRIVATE KEY"]
    assert scan.blocks[0][1] == key
    assert not scan.has_text_outside
    scan = crypto.PemScan(b"comment\n" + key + b"\n\n" + key + b"tail")
    assert len(scan.blocks) == 2
    assert scan.outside_text.split() == [b"comment", b"tail"]
    assert scan.has_text_outside
    assert crypto.PemScan(b"nothing here").blocks == []
    # A block whose END label differs from its BEGIN label is no block.
    assert crypto.PemScan(b"-----BEGIN A-----\nAAAA\n-----END B-----\n").blocks == []
    assert len(crypto.PemScan(key.replace(b"\n", b"\r\n")).blocks) == 1


def test_looks_binary():
    assert crypto.looks_binary(b"\x30\x82\x01\x0a")
    assert crypto.looks_binary(b"abc\x00def")
    assert crypto.looks_binary(b"caf\xc3\xa9")
    assert not crypto.looks_binary(b"-----BEGIN X-----\r\n\tAAAA\n")


# ---------------------------------------------------------------- names and CSRs

def test_names():
    name = crypto.build_name("Example Payments Ltd", "EU", "client-1")
    assert crypto.name_attributes(name) == [("C", "EU"), ("O", "Example Payments Ltd"), ("CN", "client-1")]
    assert crypto.name_to_dict(name) == {"C": "EU", "O": "Example Payments Ltd", "CN": "client-1"}
    assert crypto.name_to_string(name) == "/C=EU/O=Example Payments Ltd/CN=client-1"
    assert crypto.name_values(name, "ORGANIZATION_NAME") == ["Example Payments Ltd"]
    assert crypto.name_values(name, "ORGANIZATIONAL_UNIT_NAME") == []
    assert crypto.name_to_string(crypto.build_name("Example")) == "/O=Example"


@pytest.mark.parametrize("key_type, size", [("rsa", 2048), ("ecc", 384)])
def test_built_csrs_verify_with_openssl(openssl, tmp_path, key_type, size):
    key = crypto.generate_private_key(key_type, size)
    pem = crypto.csr_to_pem(crypto.build_csr(key, "Example Payments Ltd", "EU", "client-1"))
    path = write_bytes(tmp_path / "c.csr", pem)
    verified, subject = openssl.req_verify(path)
    assert verified
    assert subject == "C = EU, O = Example Payments Ltd, CN = client-1"
    assert crypto.PemScan(pem).blocks[0][1] == pem
    der = openssl.run("req", "-in", path, "-outform", "DER").stdout
    assert crypto.load_csr_der(der).subject == crypto.load_csr_pem(pem).subject
    with pytest.raises(ValueError):
        crypto.load_csr_pem(b"not a csr")


# ---------------------------------------------------------------- certificates

@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, a client certificate it issued and an unrelated self-signed certificate, all made by openssl."""
    from ansible_collections.wise.mtls.tests.unit.helpers import Openssl

    folder = tmp_path_factory.mktemp("certs")
    openssl = Openssl(folder)

    def path(name):
        return str(folder / name)

    openssl.write_key("ec:P-256", path("ca.key"))
    openssl.run("req", "-x509", "-new", "-key", path("ca.key"), "-subj", "/O=Test CA", "-days", "30",
                "-out", path("ca.pem"))
    openssl.write_key("rsa:2048", path("client.key"))
    openssl.make_csr(path("client.key"), path("client.csr"), "/O=Example/CN=client-1")
    openssl.run("x509", "-req", "-in", path("client.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "365", "-out", path("client.pem"))
    openssl.run("req", "-x509", "-new", "-key", path("client.key"), "-subj", "/O=Test CA", "-days", "1",
                "-out", path("impostor.pem"))
    return openssl, path


def test_certificate_helpers_agree_with_openssl(certificates):
    openssl, path = certificates
    client = crypto.load_certificate_pem(read_bytes(path("client.pem")))
    sha256 = openssl.run("x509", "-in", path("client.pem"), "-noout", "-fingerprint", "-sha256").stdout
    assert crypto.certificate_fingerprint(client) == sha256.decode("ascii").strip().split("=", 1)[1].lower()
    not_before, not_after = crypto.certificate_not_before(client), crypto.certificate_not_after(client)
    assert not_before.tzinfo is not None and not_after.tzinfo is not None
    assert not_before <= crypto.utcnow() < not_after
    assert datetime.timedelta(days=364) < not_after - not_before <= datetime.timedelta(days=366)
    assert crypto.certificate_to_pem(client) == read_bytes(path("client.pem"))
    der = openssl.run("x509", "-in", path("client.pem"), "-outform", "DER").stdout
    assert crypto.load_certificate_der(der) == client


def test_verify_signed_by(certificates):
    _openssl, path = certificates
    ca = crypto.load_certificate_pem(read_bytes(path("ca.pem")))
    client = crypto.load_certificate_pem(read_bytes(path("client.pem")))
    impostor = crypto.load_certificate_pem(read_bytes(path("impostor.pem")))
    assert crypto.verify_signed_by(client, ca)
    assert crypto.verify_signed_by(ca, ca)
    # Same issuer name as the CA, but another key signed the client certificate's lookalike.
    assert not crypto.verify_signed_by(client, impostor)
    assert not crypto.verify_signed_by(impostor, ca)


def test_small_helpers():
    assert crypto.colon_hex(b"\x00\xab\xff") == "00:ab:ff"
    assert crypto.to_bytes("é") == b"\xc3\xa9" and crypto.to_bytes(b"x") == b"x"
    assert crypto.utcnow().tzinfo is not None
