# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The certificate rules of the policy and the certificate and PKCS#12 helpers of the crypto layer."""

from __future__ import annotations

import datetime
import subprocess

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy


def codes(findings):
    return [finding.code for finding in findings]


# ---------------------------------------------------------------- reading certificates

def test_one_pem_certificate_is_read(pki):
    certificates, findings = policy.read_certificates_pem(pki.pem(pki.ca))
    assert certificates == [pki.ca] and findings == []


@pytest.mark.parametrize("data,code", [
    (b"", "certificate_empty"),
    (b"  \n", "certificate_empty"),
    (b"\x00\x01\x02\x03", "certificate_not_pem"),
    (b"just some words", "certificate_not_pem"),
    (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "certificate_wrong_pem_type"),
    (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "certificate_unreadable"),
])
def test_unusable_input_is_named(data, code):
    certificates, findings = policy.read_certificates_pem(data)
    assert certificates == [] and codes(findings)[0] == code
    assert findings[0].severity == policy.ERROR


def test_der_is_recognised(pki):
    certificates, findings = policy.read_certificates_pem(pki.der(pki.ca), role="ca")
    assert codes(findings) == ["ca_der"] and "openssl x509 -inform DER" in findings[0].message


def test_several_certificates_only_where_allowed(pki):
    data = pki.pem(pki.ca, pki.other_ca)
    _certificates, findings = policy.read_certificates_pem(data, single=True)
    assert codes(findings) == ["certificate_multiple"] and "2 certificates" in findings[0].message
    certificates, findings = policy.read_certificates_pem(data, single=False)
    assert certificates == [pki.ca, pki.other_ca] and findings == []


def test_private_key_and_other_blocks_are_refused(pki):
    key = pki.key_pem(pki.key("ec256"))
    _certificates, findings = policy.read_certificates_pem(pki.pem(pki.ca) + key)
    assert codes(findings) == ["certificate_contains_private_key"]
    assert "-----" not in findings[0].message.replace("PRIVATE KEY", "")
    csr = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    _certificates, findings = policy.read_certificates_pem(pki.pem(pki.ca) + csr)
    assert codes(findings) == ["certificate_unexpected_pem_block"]


def test_text_outside_only_warns(pki):
    certificates, findings = policy.read_certificates_pem(b"subject=/CN=x\n" + pki.pem(pki.ca) + b"trailing\n")
    assert certificates == [pki.ca]
    assert codes(findings) == ["certificate_text_outside_pem"] and findings[0].severity == policy.WARNING
    assert policy.is_compliant(findings)


# ---------------------------------------------------------------- validity and renewal

def test_validity_window_boundaries(pki):
    leaf = pki.leaf(pki.key("ec256"), days_before=-10, days_after=20)
    not_before = crypto.certificate_not_before(leaf)
    not_after = crypto.certificate_not_after(leaf)
    second = datetime.timedelta(seconds=1)
    assert policy.check_validity(leaf, now=not_before) == []
    assert policy.check_validity(leaf, now=not_after) == []
    findings = policy.check_validity(leaf, now=not_before - second)
    assert codes(findings) == ["certificate_not_yet_valid"]
    assert crypto.iso8601(not_before) in findings[0].message and crypto.iso8601(not_after) in findings[0].message
    findings = policy.check_validity(leaf, role="ca", now=not_after + second)
    assert codes(findings) == ["ca_expired"] and "expired on " + crypto.iso8601(not_after) in findings[0].message


def test_days_remaining_and_needs_renewal(pki):
    leaf = pki.leaf(pki.key("ec256"))
    not_after = crypto.certificate_not_after(leaf)
    assert policy.days_remaining(leaf, now=not_after - datetime.timedelta(days=30, hours=1)) == 30
    assert policy.days_remaining(leaf, now=not_after - datetime.timedelta(hours=1)) == 0
    assert policy.days_remaining(leaf, now=not_after + datetime.timedelta(hours=1)) == -1
    assert policy.needs_renewal(leaf, now=not_after - datetime.timedelta(days=30)) is True
    assert policy.needs_renewal(leaf, now=not_after - datetime.timedelta(days=31)) is False
    assert policy.needs_renewal(leaf, renew_before_days=60, now=not_after - datetime.timedelta(days=31)) is True


def test_iso8601_is_utc_with_z():
    value = datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert crypto.iso8601(value) == "2027-01-02T01:04:05Z"
    assert crypto.iso8601(datetime.datetime(2027, 1, 2, 3, 4, 5)) == "2027-01-02T03:04:05Z"


# ---------------------------------------------------------------- key, client ID, chain, CA

@pytest.mark.parametrize("kind,other", [("rsa2048", "rsa2048"), ("ec256", "ec256"), ("ec256", "ec384"),
                                        ("rsa2048", "ec256")])
def test_key_match_compares_public_keys(pki, kind, other):
    key = pki.key(kind)
    leaf = pki.leaf(key)
    assert policy.check_key_matches(leaf, key) == []
    stranger = pki.key(other, "stranger")
    findings = policy.check_key_matches(leaf, stranger, "/etc/wise/client.key")
    assert codes(findings) == ["certificate_key_mismatch"]
    assert crypto.public_key_fingerprint(stranger.public_key()) in findings[0].message
    assert "/etc/wise/client.key" in findings[0].message


def test_client_id(pki):
    leaf = pki.leaf(pki.key("ec256"), common_name="abc-123")
    assert policy.check_client_id(leaf, "abc-123") == []
    assert policy.check_client_id(leaf, None) == []
    assert "'abc-123'" in policy.check_client_id(leaf, "xyz")[0].message
    nameless = pki.leaf(pki.key("ec256"), common_name=None)
    assert "CN is missing" in policy.check_client_id(nameless, "xyz")[0].message


def test_find_issuer(pki):
    leaf = pki.leaf(pki.key("ec256"))
    assert policy.find_issuer(leaf, [pki.other_ca, pki.ca]) == (pki.ca, [])
    issuer, findings = policy.find_issuer(leaf, [pki.other_ca])
    assert issuer is None and codes(findings) == ["certificate_not_signed_by_ca"]
    assert "name matches the issuer" in findings[0].message
    unrelated = pki.make_ca("Unrelated CA", pki.key("ec256", "unrelated"))
    issuer, findings = policy.find_issuer(leaf, [unrelated])
    assert "name matches" not in findings[0].message and "/CN=Unrelated CA" in findings[0].message


def test_ca_certificate(pki):
    assert policy.check_ca_certificate(pki.ca) == []
    leaf = pki.leaf(pki.key("ec256"))
    assert "CA:FALSE" in policy.check_ca_certificate(leaf)[0].message
    bare = pki.make_ca("Bare", pki.key("ec256", "bare"), basic_constraints=False)
    assert crypto.basic_constraints_ca(bare) is None
    assert codes(policy.check_ca_certificate(bare)) == ["ca_not_a_ca"]
    assert crypto.certificate_version(pki.ca) == 3


def test_serial_hex_matches_openssl(pki):
    leaf = pki.leaf(pki.key("ec256"))
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pki.pem(leaf), stdout=subprocess.PIPE,
                         check=True).stdout.decode().strip()
    assert int(crypto.certificate_serial_hex(leaf).replace(":", ""), 16) == int(out.split("=", 1)[1], 16)
    assert crypto.certificate_serial_hex(pki.ca) == crypto.certificate_serial_hex(pki.ca).lower()


# ---------------------------------------------------------------- PKCS#12

@pytest.mark.parametrize("kind", ["rsa2048", "ec256"])
def test_pkcs12_round_trip(pki, kind):
    key = pki.key(kind)
    leaf = pki.leaf(key)
    data, used = crypto.pkcs12_keystore(key, leaf, [pki.ca], "wise-mtls", "secret")
    assert used == ("aes256" if crypto.pkcs12_can_choose_encryption() else "3des")
    contents = crypto.load_pkcs12(data, "secret")
    assert crypto.private_keys_equal(contents.key, key)
    assert not crypto.private_keys_equal(contents.key, pki.key(kind, "stranger"))
    assert contents.certificate == leaf
    assert [certificate for _name, certificate in contents.additional] == [pki.ca]
    if contents.names_known:
        assert contents.friendly_name == "wise-mtls"
    with pytest.raises(ValueError):
        crypto.load_pkcs12(data, "wrong")


def test_pkcs12_3des_for_old_readers(pki):
    key = pki.key("ec256")
    data, used = crypto.pkcs12_keystore(key, pki.leaf(key), [], None, "secret", algorithm="3des")
    assert used == "3des"
    info = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-passin", "pass:secret"], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert info.returncode == 0 and b"TripleDES" in info.stdout


def test_java_truststore_writer_where_cryptography_has_it(pki):
    if not crypto.can_write_java_truststore():
        pytest.skip("cryptography < 45 cannot write Java trusted entries")
    data = crypto.java_truststore([("wise-ca", pki.ca)], "changeit")
    info = subprocess.run(["openssl", "pkcs12", "-info", "-nokeys", "-passin", "pass:changeit"], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert info.returncode == 0 and b"2.16.840.1.113894.746875.1.1" in info.stdout
    assert b"friendlyName: wise-ca" in info.stdout
