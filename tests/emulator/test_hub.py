# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Developer Hub emulation: signing rules, limits, revocation, listing."""

from __future__ import annotations

import datetime
import json
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from wise_emulator import MAX_ACTIVE_PER_CLIENT, CsrRefused, HubError, pki
from wise_emulator._compat import not_valid_after, not_valid_before


def _csr_pem(key_type="ec256", organization="Acme Ltd", country="EU", common=None):
    return pki.csr_to_pem(pki.make_csr(pki.generate_key(key_type), organization=organization, country=country,
                                       common=common))


def _subject(cert, oid):
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def test_sign_replaces_cn_with_client_id_and_keeps_o_and_c(state_emulator):
    record = state_emulator.sign(_csr_pem(common="my-server.example"), "cn-test")
    cert = x509.load_pem_x509_certificate(record.pem.encode())
    assert _subject(cert, NameOID.COMMON_NAME) == ["wise-emulator-demo"]
    assert _subject(cert, NameOID.ORGANIZATION_NAME) == ["Acme Ltd"]
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["EU"]
    assert cert.issuer == pki.load_cert(state_emulator.client_ca_path).subject
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert record.fingerprint_sha256 == pki.fingerprint_sha256(cert)
    assert record.serial == "%x" % cert.serial_number
    assert record.status() == "active"


def test_sign_adds_cn_when_the_csr_has_none(state_emulator):
    state_emulator.add_client("acme-sandbox", "pw")
    record = state_emulator.sign(_csr_pem(), "no-cn", client_id="acme-sandbox")
    cert = x509.load_pem_x509_certificate(record.pem.encode())
    assert _subject(cert, NameOID.COMMON_NAME) == ["acme-sandbox"]


def test_validity_is_one_year_by_default_or_as_asked(state_emulator):
    cert = x509.load_pem_x509_certificate(state_emulator.sign(_csr_pem(), "year").pem.encode())
    assert not_valid_after(cert) - not_valid_before(cert) == datetime.timedelta(days=365)
    cert = x509.load_pem_x509_certificate(state_emulator.sign(_csr_pem(), "days", days=30).pem.encode())
    assert not_valid_after(cert) - not_valid_before(cert) == datetime.timedelta(days=30)
    cert = x509.load_pem_x509_certificate(
        state_emulator.sign(_csr_pem(), "short", validity_seconds=90).pem.encode())
    assert not_valid_after(cert) - not_valid_before(cert) == datetime.timedelta(seconds=90)
    with pytest.raises(HubError):
        state_emulator.sign(_csr_pem(), "both", days=1, validity_seconds=5)


def test_certificate_names_must_be_unique(state_emulator):
    state_emulator.sign(_csr_pem(), "web-01")
    with pytest.raises(HubError, match="must be unique"):
        state_emulator.sign(_csr_pem(), "web-01")
    state_emulator.revoke("web-01")
    with pytest.raises(HubError, match="must be unique"):
        state_emulator.sign(_csr_pem(), "web-01")
    with pytest.raises(HubError, match="name is required"):
        state_emulator.sign(_csr_pem(), "  ")


def test_eleventh_active_certificate_is_refused(state_emulator):
    csr = _csr_pem()
    for index in range(MAX_ACTIVE_PER_CLIENT):
        state_emulator.sign(csr, "host-%02d" % index)
    with pytest.raises(HubError) as refused:
        state_emulator.sign(csr, "host-10")
    assert "already has 10 active certificates" in str(refused.value)
    assert "revoke one" in str(refused.value)
    # Another client has its own quota.
    state_emulator.add_client("other-client", "pw")
    state_emulator.sign(csr, "other-01", client_id="other-client")
    # Revoking one frees a slot; expired ones never count.
    state_emulator.revoke("host-03")
    state_emulator.sign(csr, "host-10")
    with pytest.raises(HubError, match="limit is 10"):
        state_emulator.sign(csr, "host-11")
    state_emulator.revoke("host-04")
    state_emulator.sign(csr, "expired-one", validity_seconds=60, backdate_seconds=3600)
    state_emulator.sign(csr, "host-11")
    statuses = dict((r.name, r.status()) for r in state_emulator.list())
    assert statuses["expired-one"] == "expired"
    assert statuses["host-03"] == statuses["host-04"] == "revoked"
    assert sum(1 for r in state_emulator.list()
               if r.client_id == "wise-emulator-demo" and r.status() == "active") == 10


def test_the_limit_holds_under_concurrent_signing(state_emulator):
    csr = _csr_pem()
    outcomes = []

    def sign(index):
        try:
            state_emulator.sign(csr, "parallel-%02d" % index)
            outcomes.append("ok")
        except HubError:
            outcomes.append("refused")

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 4
    assert len(state_emulator.list()) == 10


def test_unknown_client_is_refused(state_emulator):
    with pytest.raises(HubError, match="unknown client id"):
        state_emulator.sign(_csr_pem(), "x", client_id="not-registered")


@pytest.mark.parametrize("key_type, kwargs, code", [
    ("rsa1024", {}, "rsa_key_size_not_allowed"),
    ("ec521", {}, "ecc_curve_not_allowed"),
    ("ec256", {"organization": None}, "organization_missing"),
])
def test_non_compliant_csrs_are_refused_with_codes(state_emulator, key_type, kwargs, code):
    with pytest.raises(CsrRefused) as refused:
        state_emulator.sign(_csr_pem(key_type, **kwargs), "bad-" + code)
    assert code in refused.value.codes
    assert code in str(refused.value)
    assert state_emulator.list() == []


def test_csr_with_text_dump_in_front_is_refused(state_emulator):
    pem = _csr_pem()
    with pytest.raises(CsrRefused) as refused:
        state_emulator.sign(b"Certificate Request:\n    Data: ...\n" + pem, "text")
    assert "csr_text_outside_pem" in refused.value.codes


def test_cli_sign_refusal_prints_codes(state_emulator, tmp_path):
    csr = tmp_path / "weak.csr"
    csr.write_bytes(_csr_pem("rsa1024", organization=None))
    out = tmp_path / "weak.pem"
    result = state_emulator.cli("sign", "--csr", csr, "--name", "weak", "--client-id", "wise-emulator-demo",
                                "--out", out)
    assert result.returncode == 1
    assert "rsa_key_size_not_allowed" in result.stderr
    assert "organization_missing" in result.stderr
    assert not out.exists()


def test_cli_sign_list_revoke(state_emulator, tmp_path):
    openssl_key = tmp_path / "client.key"
    csr = tmp_path / "client.csr"
    try:
        subprocess.run(["openssl", "req", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-keyout", str(openssl_key), "-out", str(csr), "-subj", "/C=EU/O=Acme Ltd"],
                       check=True, capture_output=True)
    except FileNotFoundError:
        csr.write_bytes(_csr_pem())
    out = tmp_path / "client.pem"
    result = state_emulator.cli("sign", "--csr", csr, "--name", "cli-cert", "--out", out, "--validity-seconds",
                                "3600", "--json")
    assert result.returncode == 0, result.stderr
    issued = json.loads(result.stdout)
    cert = pki.load_cert(str(out))
    assert issued["fingerprint_sha256"] == pki.fingerprint_sha256(cert)
    assert issued["status"] == "active" and "pem" not in issued

    listed = json.loads(state_emulator.cli("list", "--json").stdout)
    assert [(r["name"], r["client_id"], r["status"]) for r in listed] == [("cli-cert", "wise-emulator-demo", "active")]
    for field in ("serial", "fingerprint_sha256", "not_before", "not_after", "pem"):
        assert listed[0][field]
    table = state_emulator.cli("list").stdout
    assert "cli-cert" in table and issued["fingerprint_sha256"] in table and "active" in table

    result = state_emulator.cli("revoke", "--name", "cli-cert")
    assert result.returncode == 0 and "revoked" in result.stdout
    result = state_emulator.cli("revoke", "--fingerprint", issued["fingerprint_sha256"].upper(), "--json")
    assert json.loads(result.stdout)["already_revoked"] is True
    assert json.loads(state_emulator.cli("list", "--json").stdout)[0]["status"] == "revoked"
    result = state_emulator.cli("revoke", "--name", "nope")
    assert result.returncode == 1 and "no certificate named" in result.stderr


def test_cli_sign_reads_stdin_and_writes_stdout(state_emulator):
    result = state_emulator.cli("sign", "--csr", "-", "--name", "piped", "--out", "-", input=_csr_pem().decode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("key_type, described", [("rsa2048", "RSA 2048"), ("ec256", "ECC secp256r1"),
                                                 ("ec384", "ECC secp384r1")])
def test_compliant_key_types_are_signed(state_emulator, key_type, described):
    record = state_emulator.sign(_csr_pem(key_type), "ok-" + key_type)
    assert record.public_key == described
    cert = x509.load_pem_x509_certificate(record.pem.encode())
    key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature
    assert key_usage.key_encipherment == key_type.startswith("rsa")
