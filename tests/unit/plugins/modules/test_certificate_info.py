# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.certificate_info: a report on what is installed, never a failure over a bad state."""

from __future__ import annotations

import datetime
import os
import re
import subprocess

import pytest

from ansible_collections.wise.mtls.plugins.modules import certificate_info


def write(path, data, mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return str(path)


def codes(result):
    return [finding["code"] for finding in result["findings"]]


@pytest.fixture
def host(tmp_path, pki):
    class Host(object):
        folder = tmp_path

        def install(self, kind="ec256", days_before=-1, days_after=365, passphrase=None, key_mode=0o600, **leaf):
            self.key = pki.key(kind)
            self.key_path = pki.write_key(tmp_path / "client.key", self.key, passphrase, mode=key_mode)
            self.cert = pki.leaf(self.key, days_before=days_before, days_after=days_after, **leaf)
            self.cert_path = write(tmp_path / "client.pem", pki.pem(self.cert))
            self.ca_path = write(tmp_path / "wise-ca.pem", pki.pem(pki.ca))
            return self

        def args(self, **extra):
            args = dict(path=self.cert_path, private_key_path=self.key_path, ca_path=self.ca_path)
            args.update(extra)
            return dict((key, value) for key, value in args.items() if value is not None)

    return Host()


def report(run_module, unchanged, host, **extra):
    """Run the module in check mode and for real: same answer, nothing touched, never changed."""
    with unchanged(host.folder):
        results = [run_module(certificate_info, host.args(**extra), check_mode=True),
                   run_module(certificate_info, host.args(**extra))]
    for result in results:
        assert result["rc"] == 0, result.get("msg")
        assert result["changed"] is False
    first, second = (dict(result, _stdout=None, invocation=None) for result in results)
    assert first == second
    return results[1]


@pytest.mark.parametrize("kind", ["rsa2048", "ec256"])
def test_healthy_certificate_report(run_module, unchanged, host, kind):
    host.install(kind)
    result = report(run_module, unchanged, host)
    assert result["healthy"] is True and result["findings"] == []
    assert result["key_match"] is True
    assert result["chain"]["status"] == "signed_by_ca"
    assert result["chain"]["ca_subject"] == "/C=EU/O=Wise Test/CN=Test Wise CA"
    assert result["common_name"] == "client-id-1234"
    assert result["subject"] == {"C": "EU", "O": "Example Payments Ltd", "CN": "client-id-1234"}
    assert result["issuer"] == "/C=EU/O=Wise Test/CN=Test Wise CA"
    assert isinstance(result["days_remaining"], int) and not isinstance(result["days_remaining"], bool)
    assert 363 <= result["days_remaining"] <= 365
    assert result["expired"] is False and result["not_yet_valid"] is False and result["needs_renewal"] is False
    assert result["renew_before_days"] == 30
    for field in ("not_before", "not_after"):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", result[field])
    assert result["public_key"]["type"] == kind[:3].replace("ec2", "ecc")
    assert result["files"]["certificate"] == dict(path=host.cert_path, exists=True, owner="root" if os.geteuid() == 0
                                                  else result["files"]["certificate"]["owner"],
                                                  group=result["files"]["certificate"]["group"], mode="0644")
    assert result["files"]["private_key"]["mode"] == "0600"
    # Fingerprints agree with openssl.
    out = subprocess.run(["openssl", "x509", "-in", host.cert_path, "-noout", "-fingerprint", "-sha256"],
                         stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    assert out.split("=", 1)[1].lower() == result["fingerprint"]
    spki = subprocess.run(["openssl", "x509", "-in", host.cert_path, "-noout", "-pubkey"], stdout=subprocess.PIPE,
                          check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=spki, stdout=subprocess.PIPE,
                         check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-hex", "-c"], input=der, stdout=subprocess.PIPE,
                            check=True).stdout.decode().strip()
    assert digest.split("= ", 1)[1].lower() == result["public_key_fingerprint"]


def test_expired_certificate_is_reported_not_failed(run_module, unchanged, host):
    host.install(days_before=-400, days_after=-3)
    result = report(run_module, unchanged, host)
    assert result["expired"] is True and result["needs_renewal"] is True
    assert result["days_remaining"] in (-3, -4)
    assert "certificate_expired" in codes(result) and result["healthy"] is False
    assert "certificate_needs_renewal" not in codes(result)  # expired says it all


def test_not_yet_valid_certificate_is_reported(run_module, unchanged, host):
    host.install(days_before=2, days_after=367)
    result = report(run_module, unchanged, host)
    assert result["not_yet_valid"] is True and result["expired"] is False
    assert "certificate_not_yet_valid" in codes(result)


def test_needs_renewal_against_the_threshold(run_module, unchanged, host):
    host.install(days_before=-340, days_after=12)
    result = report(run_module, unchanged, host)
    assert result["needs_renewal"] is True and result["healthy"] is True
    assert codes(result) == ["certificate_needs_renewal"]
    assert result["findings"][0]["severity"] == "warning"
    result = report(run_module, unchanged, host, renew_before_days=5)
    assert result["needs_renewal"] is False and result["findings"] == []


@pytest.mark.parametrize("kinds", [("ec256", "rsa2048"), ("rsa2048", "rsa2048"), ("ec256", "ec256")])
def test_key_mismatch_rsa_and_ecc(run_module, unchanged, host, pki, kinds):
    host.install(kinds[0])
    stranger = pki.key(kinds[1], "stranger")
    pki.write_key(host.key_path, stranger)
    result = report(run_module, unchanged, host)
    assert result["key_match"] is False
    assert "certificate_key_mismatch" in codes(result) and result["healthy"] is False


@pytest.mark.parametrize("mode,flagged", [(0o600, False), (0o640, False), (0o400, False), (0o644, True),
                                          (0o604, True), (0o660, True), (0o700, True)])
def test_key_file_mode_findings(run_module, unchanged, host, mode, flagged):
    host.install(key_mode=mode)
    result = report(run_module, unchanged, host)
    assert ("private_key_mode_too_open" in codes(result)) is flagged
    assert result["files"]["private_key"]["mode"] == "{0:04o}".format(mode)
    if flagged:
        assert "Mode {0:04o}".format(mode) in result["findings"][0]["message"]


def test_key_problems_are_findings(run_module, unchanged, host):
    host.install(passphrase="right-pass")
    result = report(run_module, unchanged, host, private_key_passphrase="wrong-pass")
    assert result["key_match"] is None and "private_key_unreadable" in codes(result)
    assert "wrong-pass" not in result["_stdout"]
    result = report(run_module, unchanged, host, private_key_passphrase="right-pass")
    assert result["key_match"] is True
    result = report(run_module, unchanged, host, private_key_path=str(host.folder / "missing.key"))
    assert result["key_match"] is None and "private_key_missing" in codes(result)
    assert result["files"]["private_key"]["exists"] is False


def test_chain_status(run_module, unchanged, host, pki):
    host.install()
    other = write(host.folder / "other-ca.pem", pki.pem(pki.other_ca))
    result = report(run_module, unchanged, host, ca_path=other)
    assert result["chain"] == dict(status="not_signed_by_ca")
    assert "certificate_not_signed_by_ca" in codes(result)
    bundle = write(host.folder / "bundle.pem", pki.pem(pki.other_ca, pki.ca))
    assert report(run_module, unchanged, host, ca_path=bundle)["chain"]["status"] == "signed_by_ca"
    result = report(run_module, unchanged, host, ca_path=str(host.folder / "missing.pem"), private_key_path=None)
    assert result["chain"]["status"] == "ca_unreadable" and result["key_match"] is None
    assert "private_key" not in result["files"]
    assert report(run_module, unchanged, host, ca_path=None)["chain"] == dict(status="not_checked")


def test_file_with_a_chain_reports_the_first_certificate(run_module, unchanged, host, pki):
    host.install()
    write(host.cert_path, pki.pem(host.cert, pki.ca))
    result = report(run_module, unchanged, host)
    assert result["common_name"] == "client-id-1234" and "certificate_multiple" in codes(result)


@pytest.mark.parametrize("content", [None, b"garbage\n", b""])
def test_fails_only_without_a_readable_certificate(run_module, unchanged, host, content):
    host.install()
    if content is None:
        os.unlink(host.cert_path)
    else:
        write(host.cert_path, content)
    with unchanged(host.folder):
        result = run_module(certificate_info, host.args())
    assert result["rc"] == 1
    assert ("does not exist" if content is None else "holds no readable certificate") in result["msg"]


def test_days_remaining_is_whole_days(run_module, unchanged, host):
    host.install(days_before=-1, days_after=10)
    result = report(run_module, unchanged, host)
    not_after = datetime.datetime.strptime(result["not_after"], "%Y-%m-%dT%H:%M:%SZ")
    expected = (not_after - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).days
    assert result["days_remaining"] in (expected, expected - 1)
