# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Wise policy: key rules, subject rules, CSR rules and their stable finding codes."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy


def codes(findings):
    return sorted(finding.code for finding in findings)


def public_key(openssl, spec):
    return serialization.load_pem_private_key(openssl.key_pem(spec), None).public_key()


def csr_pem(openssl, tmp_path, spec="ec:P-256", subject="/C=EU/O=Example Payments Ltd", *extra):
    key = openssl.write_key(spec, tmp_path / "csr.key")
    return openssl.run("req", "-new", "-key", key, "-subj", subject, *extra).stdout


# ---------------------------------------------------------------- keys

@pytest.mark.parametrize("key_type, size", [("rsa", 2048), ("rsa", 3072), ("rsa", 4096), ("ecc", 256), ("ecc", 384)])
def test_every_allowed_key_request_passes(key_type, size):
    assert policy.check_key_request(key_type, size) == []


@pytest.mark.parametrize("key_type, size, code, words", [
    ("rsa", 1024, "rsa_key_size_not_allowed", ["RSA 1024", "too weak", "2048, 3072 or 4096"]),
    ("rsa", 8192, "rsa_key_size_not_allowed", ["RSA 8192", "too large", "2048, 3072 or 4096"]),
    ("rsa", 2047, "rsa_key_size_not_allowed", ["RSA 2047", "2048, 3072 or 4096"]),
    ("ecc", 521, "ecc_curve_not_allowed", ["ECC 521", "P-256", "P-384"]),
    ("ecc", 224, "ecc_curve_not_allowed", ["ECC 224", "P-256"]),
    ("ed25519", None, "key_type_not_allowed", ["'ed25519'", "RSA 2048, 3072 or 4096 bits, or ECC P-256 or P-384"]),
    ("dsa", 2048, "key_type_not_allowed", ["'dsa'"]),
])
def test_refused_key_requests_name_the_problem_and_the_fix(key_type, size, code, words):
    findings = policy.check_key_request(key_type, size)
    assert codes(findings) == [code]
    assert findings[0].severity == policy.ERROR
    for word in words:
        assert word in findings[0].message


@pytest.mark.parametrize("spec", ["rsa:2048", "ec:P-256", "ec:P-384"])
def test_allowed_existing_keys_pass(openssl, spec):
    assert policy.check_public_key(public_key(openssl, spec)) == []


@pytest.mark.parametrize("spec, code, words", [
    ("rsa:1024", "rsa_key_size_not_allowed", ["RSA 1024", "too weak"]),
    ("ec:P-521", "ecc_curve_not_allowed", ["ECC 521", "P-256"]),
    ("ed25519", "key_type_not_allowed", ["ed25519", "make a new key"]),
])
def test_refused_existing_keys(openssl, spec, code, words):
    findings = policy.check_public_key(public_key(openssl, spec))
    assert codes(findings) == [code]
    for word in words:
        assert word in findings[0].message


@pytest.mark.parametrize("mode", [None, 0o600, 0o400, 0o640, 0o440, 0o0])
def test_private_key_modes_that_share_with_a_group_at_most_pass(mode):
    assert policy.check_private_key_mode(mode) == []


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666, 0o700, 0o650, 0o601, 0o620, 0o4600, 0o2640, 0o1600])
def test_private_key_modes_that_open_the_key_are_refused(mode):
    findings = policy.check_private_key_mode(mode)
    assert codes(findings) == ["private_key_mode_too_open"]
    assert "{0:04o}".format(mode) in findings[0].message
    assert "use 0600, or 0640 with a service group" in findings[0].message


# ---------------------------------------------------------------- subjects

@pytest.mark.parametrize("organization", [None, "", "   "])
def test_missing_organization_is_refused(organization):
    findings = policy.check_subject_request(organization, "EU")
    assert codes(findings) == ["organization_missing"]
    assert "Organisation (O)" in findings[0].message and "company name" in findings[0].message


@pytest.mark.parametrize("country", [None, "EU", "GB", "de"])
def test_any_two_letter_country_passes(country):
    assert policy.check_subject_request("Example Payments Ltd", country) == []


@pytest.mark.parametrize("country", ["", "GBR", "1A", "E", "E U"])
def test_other_countries_are_refused(country):
    findings = policy.check_subject_request("Example Payments Ltd", country)
    assert codes(findings) == ["country_invalid"]
    assert "two letters" in findings[0].message


def test_subject_of_an_existing_csr():
    name = crypto.build_name("Example Payments Ltd", "EU", "client-1")
    assert policy.check_subject(name, client_id="client-1") == []
    assert policy.check_subject(crypto.build_name("Example Payments Ltd", "EU"), client_id="client-1") == []
    assert codes(policy.check_subject(crypto.build_name(None, "EU", "client-1"))) == ["organization_missing"]
    assert codes(policy.check_subject(crypto.build_name("  ", "EU"))) == ["organization_missing"]


def test_a_common_name_other_than_the_client_id_is_a_warning_only():
    findings = policy.check_subject(crypto.build_name("Example Payments Ltd", "EU", "web01"), client_id="client-1")
    assert codes(findings) == ["common_name_differs"]
    assert findings[0].severity == policy.WARNING
    assert "'web01'" in findings[0].message and "'client-1'" in findings[0].message
    assert policy.is_compliant(findings)
    # Without a client ID to compare with, any CN is fine.
    assert policy.check_subject(crypto.build_name("Example Payments Ltd", "EU", "web01")) == []


def test_errors_and_compliance():
    warning = policy.Finding("common_name_differs", policy.WARNING, "w")
    error = policy.Finding("organization_missing", policy.ERROR, "e")
    assert policy.errors([warning, error]) == [error]
    assert policy.is_compliant([]) and policy.is_compliant([warning])
    assert not policy.is_compliant([warning, error])
    assert error.as_dict() == {"code": "organization_missing", "severity": "error", "message": "e"}
    assert "organization_missing" in repr(error)


# ---------------------------------------------------------------- CSR files

def test_a_compliant_csr_has_no_findings(openssl, tmp_path):
    assert policy.check_csr_pem(csr_pem(openssl, tmp_path)) == []


@pytest.mark.parametrize("data", [b"", b"  \n\n", None])
def test_empty_csr(data):
    assert codes(policy.check_csr_pem(data)) == ["csr_empty"]


def test_der_csr_is_not_pem_and_the_message_says_how_to_convert(openssl, tmp_path):
    der = csr_pem(openssl, tmp_path, "ec:P-256", "/O=Example", "-outform", "DER")
    findings = policy.check_csr_pem(der)
    assert codes(findings) == ["csr_not_pem"]
    assert "DER" in findings[0].message and "openssl req -inform DER" in findings[0].message


def test_binary_garbage_is_not_a_csr():
    findings = policy.check_csr_pem(b"\x00\x01\x02binary\xff")
    assert codes(findings) == ["csr_not_pem"]
    assert "not a CSR" in findings[0].message


def test_text_without_pem_block():
    findings = policy.check_csr_pem(b"hello, this is not a CSR\n")
    assert codes(findings) == ["csr_not_pem"]
    assert "BEGIN CERTIFICATE REQUEST" in findings[0].message


def test_other_pem_types_are_named(openssl):
    findings = policy.check_csr_pem(openssl.key_pem("ec:P-256"))
    assert codes(findings) == ["csr_wrong_pem_type"]
    assert "PRIVATE KEY" in findings[0].message


def test_text_outside_the_pem_block(openssl, tmp_path):
    data = csr_pem(openssl, tmp_path, "ec:P-256", "/O=Example", "-text")
    assert not data.startswith(b"-----BEGIN")
    findings = policy.check_csr_pem(data)
    assert codes(findings) == ["csr_text_outside_pem"]
    assert "openssl req -text" in findings[0].message
    assert codes(policy.check_csr_pem(b"# made on web01\n" + csr_pem(openssl, tmp_path))) == ["csr_text_outside_pem"]
    assert codes(policy.check_csr_pem(csr_pem(openssl, tmp_path) + b"trailing words\n")) == ["csr_text_outside_pem"]


def test_two_pem_blocks(openssl, tmp_path):
    findings = policy.check_csr_pem(csr_pem(openssl, tmp_path) * 2)
    assert codes(findings) == ["csr_multiple_pem_blocks"]
    assert "2 PEM blocks" in findings[0].message
    # A key next to the CSR is one block too many, and the worst thing to paste anywhere.
    assert codes(policy.check_csr_pem(openssl.key_pem("ec:P-256") + csr_pem(openssl, tmp_path))) == [
        "csr_multiple_pem_blocks"]


def test_a_block_that_does_not_parse(openssl, tmp_path):
    pem = csr_pem(openssl, tmp_path).decode("ascii").splitlines()
    broken = "\n".join([pem[0], "bm90IGEgY2VydGlmaWNhdGUgcmVxdWVzdA==", pem[-1]]) + "\n"
    findings = policy.check_csr_pem(broken.encode("ascii"))
    assert codes(findings) == ["csr_unreadable"]
    assert "make the CSR again" in findings[0].message


def flip_signature_byte(pem):
    """The same CSR with one bit changed inside its signature (the last bytes of the DER)."""
    body = re.search(rb"-----BEGIN CERTIFICATE REQUEST-----\n(.*?)-----END", pem, re.DOTALL).group(1)
    der = bytearray(base64.b64decode(body))
    der[-5] ^= 0x01
    encoded = base64.b64encode(bytes(der))
    lines = [encoded[index:index + 64] for index in range(0, len(encoded), 64)]
    return b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE REQUEST-----\n"


@pytest.mark.parametrize("spec", ["rsa:2048", "ec:P-256"])
def test_a_bad_signature(openssl, tmp_path, spec):
    findings = policy.check_csr_pem(flip_signature_byte(csr_pem(openssl, tmp_path, spec)))
    assert codes(findings) == ["csr_signature_invalid"]
    assert "make it again" in findings[0].message


@pytest.mark.parametrize("spec, code", [
    ("rsa:1024", "rsa_key_size_not_allowed"),
    ("ec:P-521", "ecc_curve_not_allowed"),
    ("ed25519", "key_type_not_allowed"),
])
def test_csr_keys_are_checked(openssl, tmp_path, spec, code):
    assert codes(policy.check_csr_pem(csr_pem(openssl, tmp_path, spec))) == [code]


def test_several_problems_are_all_reported(openssl, tmp_path):
    data = csr_pem(openssl, tmp_path, "rsa:1024", "/C=EU/CN=web01", "-text")
    findings = policy.check_csr_pem(data, client_id="client-1")
    assert codes(findings) == ["common_name_differs", "csr_text_outside_pem", "organization_missing",
                               "rsa_key_size_not_allowed"]
    assert not policy.is_compliant(findings)


def test_new_certificate_request_label_is_accepted(openssl, tmp_path):
    data = csr_pem(openssl, tmp_path).replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert policy.check_csr_pem(data) == []


def test_crlf_line_endings_are_still_one_clean_block(openssl, tmp_path):
    assert policy.check_csr_pem(csr_pem(openssl, tmp_path).replace(b"\n", b"\r\n")) == []


# ---------------------------------------------------------------- environments and constants

def test_environment_table():
    assert policy.environment_base_url("sandbox") == "https://api-mtls.sandbox.transferwise.tech"
    assert policy.environment_base_url("production") == "https://api-mtls.transferwise.com"
    table = {"local": {"base_url": "https://127.0.0.1:8443/"}}
    assert policy.environment_base_url("local", table) == "https://127.0.0.1:8443"
    with pytest.raises(ValueError) as error:
        policy.environment_base_url("staging")
    assert "production, sandbox" in str(error.value)


def test_wise_limits():
    assert policy.ALLOWED_KEY_SIZES == {"rsa": (2048, 3072, 4096), "ecc": (256, 384)}
    assert policy.CERTIFICATE_VALIDITY_DAYS == 365
    assert policy.MAX_ACTIVE_CERTIFICATES == 10
    assert policy.RENEW_BEFORE_DAYS == 30
    assert policy.EXPIRY_NOTICE_DAYS == (28, 14, 7, 3, 1, 0)
