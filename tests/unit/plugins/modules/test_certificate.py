# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.certificate: install only a certificate that fits its key, and the optional keystores."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess

import pytest

from ansible_collections.wise.mtls.plugins.modules import certificate

PASSWORD = "keystore-secret"


def read(path):
    with open(str(path), "rb") as handle:
        return handle.read()


def write(path, data, mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return str(path)


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def openssl(*args, **kwargs):
    return subprocess.run(["openssl"] + [str(arg) for arg in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          input=kwargs.get("stdin"), check=False)


def warnings_of(result):
    """Warning texts (ansible-core 2.19 and newer return them as structured events)."""
    texts = []
    for warning in result.get("warnings", []):
        texts.append(warning["event"]["msg"] if isinstance(warning, dict) else warning)
    return texts


def without_none(args):
    """Options set to None are left out, as a task that does not mention them."""
    return dict((key, value) for key, value in args.items() if value is not None)


def four_runs(run_module, args):
    """check, real, check, real: changed, changed, not changed, not changed."""
    results = [run_module(certificate, args, check_mode=True, diff=True), run_module(certificate, args, diff=True),
               run_module(certificate, args, check_mode=True, diff=True), run_module(certificate, args, diff=True)]
    for result in results:
        assert result["rc"] == 0, result["msg"]
    assert [result["changed"] for result in results] == [True, True, False, False]
    return results


@pytest.fixture
def setup(tmp_path, pki):
    """A folder with a key (kind chosen by the test) and the matching certificate signed by the test CA."""

    class Setup(object):
        folder = tmp_path

        def __init__(self):
            self.ca_path = write(tmp_path / "wise-ca.pem", pki.pem(pki.ca))

        def use(self, kind="ec256", passphrase=None):
            self.key = pki.key(kind)
            self.key_path = pki.write_key(tmp_path / "client.key", self.key, passphrase)
            self.cert = pki.leaf(self.key)
            self.cert_pem = pki.pem(self.cert)
            return self

        def args(self, **extra):
            args = dict(path=str(tmp_path / "client.pem"), content=self.cert_pem.decode("ascii"),
                        private_key_path=self.key_path)
            args.update(extra)
            return without_none(args)

    return Setup()


# ---------------------------------------------------------------- installing

@pytest.mark.parametrize("kind", ["rsa2048", "ec256", "ec384"])
def test_installs_certificate_for_its_key_rsa_and_ecc(run_module, setup, kind):
    setup.use(kind)
    results = four_runs(run_module, setup.args(client_id="client-id-1234", ca_path=setup.ca_path))
    path = setup.folder / "client.pem"
    assert read(path) == setup.cert_pem
    assert mode_of(path) == 0o644
    verified = openssl("verify", "-CAfile", setup.ca_path, path)
    assert verified.returncode == 0 and b"OK" in verified.stdout, verified.stderr
    result = results[1]
    assert result["common_name"] == "client-id-1234"
    assert result["subject_string"] == "/C=EU/O=Example Payments Ltd/CN=client-id-1234"
    assert result["chain"]["signed_by_ca"] is True
    assert result["chain"]["ca_subject"] == "/C=EU/O=Wise Test/CN=Test Wise CA"
    assert isinstance(result["days_remaining"], int) and 363 <= result["days_remaining"] <= 365
    assert result["not_after"].endswith("Z") and "T" in result["not_after"]
    assert result["reasons"] == ["there is no certificate at {0} yet".format(path)]
    assert results[3]["reasons"] == []


def test_fingerprints_agree_with_openssl(run_module, setup):
    setup.use("rsa2048")
    result = run_module(certificate, setup.args())
    expected = openssl("x509", "-in", setup.folder / "client.pem", "-noout", "-fingerprint", "-sha256").stdout
    assert expected.decode("ascii").strip().split("=", 1)[1].lower() == result["fingerprint"]
    serial = openssl("x509", "-in", setup.folder / "client.pem", "-noout", "-serial").stdout.decode().strip()
    assert int(serial.split("=", 1)[1], 16) == int(result["serial"].replace(":", ""), 16)


def test_installs_from_src_file_on_the_host_with_text_around_the_block(run_module, setup):
    setup.use()
    source = write(setup.folder / "downloaded.pem", b"Certificate Details\nName: box-1\n" + setup.cert_pem)
    result = run_module(certificate, setup.args(content=None, src=source))
    assert result["rc"] == 0 and result["changed"], result["msg"]
    assert read(setup.folder / "client.pem") == setup.cert_pem
    assert any("outside" in warning for warning in warnings_of(result))


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owner and group needs root")
def test_owner_group_mode_as_asked_and_attribute_only_change(run_module, setup):
    setup.use()
    args = setup.args(owner="nobody", group="nogroup", mode="0640")
    four_runs(run_module, args)
    info = os.stat(str(setup.folder / "client.pem"))
    assert pwd.getpwuid(info.st_uid).pw_name == "nobody"
    assert grp.getgrgid(info.st_gid).gr_name == "nogroup"
    assert stat.S_IMODE(info.st_mode) == 0o640
    before = read(setup.folder / "client.pem")
    result = run_module(certificate, dict(args, mode="0644"), diff=True)
    assert result["changed"] and result["reasons"] == ["owner, group or mode of {0} differ".format(
        setup.folder / "client.pem")]
    assert read(setup.folder / "client.pem") == before and mode_of(setup.folder / "client.pem") == 0o644
    assert "mode: 0640" in result["diff"][0]["before"] and "mode: 0644" in result["diff"][0]["after"]


def test_replacing_an_older_certificate_shows_both_in_the_diff(run_module, setup, pki):
    setup.use()
    old = pki.leaf(setup.key, days_before=-300, days_after=60)
    run_module(certificate, setup.args(content=pki.pem(old).decode()))
    result = run_module(certificate, setup.args(), check_mode=True, diff=True)
    assert result["changed"]
    diff = result["diff"][0]
    assert "fingerprint: " + fingerprint(old) in diff["before"]
    assert "fingerprint: " + fingerprint(setup.cert) in diff["after"]
    assert "subject: /C=EU/O=Example Payments Ltd/CN=client-id-1234" in diff["after"]
    assert read(setup.folder / "client.pem") == pki.pem(old)  # check mode changed nothing
    run_module(certificate, setup.args())
    assert read(setup.folder / "client.pem") == setup.cert_pem


def fingerprint(cert):
    from cryptography.hazmat.primitives import hashes

    return ":".join("{0:02x}".format(byte) for byte in bytearray(cert.fingerprint(hashes.SHA256())))


# ---------------------------------------------------------------- PKCS#12 and combined outputs

@pytest.mark.parametrize("kind", ["rsa2048", "ec256"])
def test_pkcs12_opens_with_openssl_and_keytool_and_is_idempotent(run_module, setup, keytool, kind):
    setup.use(kind)
    p12 = setup.folder / "client.p12"
    args = setup.args(pkcs12_path=str(p12), pkcs12_password=PASSWORD, ca_path=setup.ca_path,
                      pkcs12_friendly_name="payments")
    results = four_runs(run_module, args)
    assert results[1]["pkcs12"]["changed"] and not results[3]["pkcs12"]["changed"]
    assert mode_of(p12) == 0o600
    # openssl reads the key and both certificates with the password.
    certs = openssl("pkcs12", "-in", p12, "-passin", "pass:" + PASSWORD, "-nokeys")
    assert certs.returncode == 0, certs.stderr
    assert setup.cert_pem.strip() in certs.stdout and read(setup.ca_path).strip() in certs.stdout
    assert b"friendlyName: payments" in certs.stdout
    keys = openssl("pkcs12", "-in", p12, "-passin", "pass:" + PASSWORD, "-nocerts", "-nodes")
    assert keys.returncode == 0, keys.stderr
    public = openssl("pkey", "-pubout", stdin=keys.stdout).stdout
    assert public == openssl("pkey", "-pubout", "-in", setup.key_path).stdout
    # Java lists it as a key entry under the friendly name.
    listing = subprocess.run([keytool, "-list", "-storetype", "PKCS12", "-keystore", str(p12), "-storepass", PASSWORD,
                              "-J-Duser.language=en"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert listing.returncode == 0, listing.stdout
    assert b"payments," in listing.stdout and b"PrivateKeyEntry" in listing.stdout
    # No rewrite when nothing changed: the bytes (random salts) are those of the first write.
    first = read(p12)
    assert not run_module(certificate, args)["changed"]
    assert read(p12) == first


def test_pkcs12_rewritten_when_password_friendly_name_or_chain_change(run_module, setup):
    setup.use()
    p12 = str(setup.folder / "client.p12")
    args = setup.args(pkcs12_path=p12, pkcs12_password=PASSWORD)
    run_module(certificate, args)
    result = run_module(certificate, dict(args, pkcs12_password="another-secret"), check_mode=True)
    assert result["changed"] and "cannot be opened with pkcs12_password" in result["reasons"][0]
    result = run_module(certificate, dict(args, ca_path=setup.ca_path), check_mode=True)
    assert result["changed"] and "CA certificates differ" in result["reasons"][0]
    result = run_module(certificate, dict(args, pkcs12_friendly_name="other"), check_mode=True)
    from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto

    if crypto.load_pkcs12(read(p12), PASSWORD).names_known:
        assert result["changed"] and "friendly name" in result["reasons"][0]
    result = run_module(certificate, dict(args, pkcs12_password="another-secret"))
    assert result["changed"]
    assert openssl("pkcs12", "-in", p12, "-passin", "pass:another-secret", "-nokeys").returncode == 0


def test_pkcs12_encryption_choice(run_module, setup):
    from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto

    setup.use()
    p12 = str(setup.folder / "client.p12")
    for algorithm, marker in (("aes256", b"AES-256-CBC"), ("3des", b"TripleDES")):
        os.path.exists(p12) and os.unlink(p12)
        result = run_module(certificate, setup.args(pkcs12_path=p12, pkcs12_password=PASSWORD,
                                                    pkcs12_encryption=algorithm))
        info = openssl("pkcs12", "-in", p12, "-passin", "pass:" + PASSWORD, "-info", "-noout")
        assert info.returncode == 0, info.stderr
        if crypto.pkcs12_can_choose_encryption():
            assert result["pkcs12"]["encryption"] == algorithm
            assert marker in info.stderr + info.stdout
        else:  # cryptography < 38: 3DES only, with a warning when AES was asked for
            assert result["pkcs12"]["encryption"] == "3des"
            assert b"TripleDES" in info.stderr + info.stdout
            assert (algorithm == "3des") or any("3DES" in warning for warning in warnings_of(result))


def test_combined_file_holds_certificate_then_key_and_is_private(run_module, setup):
    setup.use("rsa2048")
    combined = setup.folder / "combined.pem"
    results = four_runs(run_module, setup.args(combined_path=str(combined)))
    assert mode_of(combined) == 0o600
    assert read(combined) == setup.cert_pem + read(setup.key_path)
    # openssl finds both in the one file, and they belong together.
    cert_key = openssl("x509", "-in", combined, "-noout", "-pubkey").stdout
    key_key = openssl("pkey", "-in", combined, "-pubout").stdout
    assert cert_key == key_key and b"PUBLIC KEY" in cert_key
    for result in results:
        assert "PRIVATE KEY" not in result["_stdout"]
    assert run_module(certificate, setup.args(combined_path=str(combined), combined_mode="0640"))["changed"]
    assert mode_of(combined) == 0o640


def test_combined_file_keeps_an_encrypted_key_encrypted(run_module, setup):
    setup.use(passphrase="key-pass")
    combined = setup.folder / "combined.pem"
    result = run_module(certificate, setup.args(private_key_passphrase="key-pass", combined_path=str(combined)))
    assert result["rc"] == 0
    assert b"ENCRYPTED PRIVATE KEY" in read(combined)
    assert "key-pass" not in result["_stdout"]


@pytest.mark.parametrize("option", ["combined", "pkcs12"])
@pytest.mark.parametrize("mode", ["0644", "0604", "0660", "0700"])
def test_files_with_the_key_refuse_open_modes(run_module, setup, unchanged, option, mode):
    setup.use()
    args = setup.args(**{option + "_path": str(setup.folder / ("out." + option)), option + "_mode": mode,
                         "pkcs12_password": PASSWORD})
    with unchanged(setup.folder):
        result = run_module(certificate, args)
    assert result["rc"] == 1
    assert "{0}_mode".format(option) in result["msg"] and "Nothing was changed" in result["msg"]


# ---------------------------------------------------------------- refusals: nothing changes on disk

@pytest.fixture
def installed(run_module, setup):
    """A folder where a good certificate, PKCS#12 and combined file are already installed."""
    setup.use("ec256")
    args = setup.args(pkcs12_path=str(setup.folder / "client.p12"), pkcs12_password=PASSWORD,
                      combined_path=str(setup.folder / "combined.pem"))
    assert run_module(certificate, args)["changed"]
    setup.installed_args = args
    return setup


def refused(run_module, unchanged, setup, expected, **changes):
    args = dict(setup.installed_args)
    args.update(changes)
    args = without_none(args)
    with unchanged(setup.folder):
        result = run_module(certificate, args)
    assert result["rc"] == 1, result
    for text in expected:
        assert text in result["msg"], result["msg"]
    assert "Nothing was changed" in result["msg"]
    return result


@pytest.mark.parametrize("other_kind", ["rsa2048", "ec256", "ec384"])
def test_refuses_certificate_for_another_key(run_module, unchanged, installed, pki, other_kind):
    other = pki.leaf(pki.key(other_kind, "stranger"))
    result = refused(run_module, unchanged, installed, ["is for another key"], content=pki.pem(other).decode())
    assert result["findings"][0]["code"] == "certificate_key_mismatch"


def test_refuses_ecc_certificate_for_rsa_key(run_module, unchanged, setup, pki):
    setup.use("rsa2048")
    other = pki.leaf(pki.key("ec256", "stranger"))
    with unchanged(setup.folder):
        result = run_module(certificate, setup.args(content=pki.pem(other).decode()))
    assert result["rc"] == 1
    assert "ECC P-256" in result["msg"] and "RSA 2048" in result["msg"]


def test_refuses_expired_certificate_naming_the_dates(run_module, unchanged, installed, pki):
    expired = pki.leaf(installed.key, days_before=-400, days_after=-35)
    result = refused(run_module, unchanged, installed, ["expired on", "valid from"], content=pki.pem(expired).decode())
    assert pki.iso(expired, "not_after") in result["msg"]
    assert result["findings"][0]["code"] == "certificate_expired"


def test_refuses_not_yet_valid_certificate(run_module, unchanged, installed, pki):
    future = pki.leaf(installed.key, days_before=3, days_after=368)
    result = refused(run_module, unchanged, installed, ["not valid yet", "clock"], content=pki.pem(future).decode())
    assert pki.iso(future, "not_before") in result["msg"]


def test_refuses_der(run_module, unchanged, installed, pki):
    der = write(installed.folder / "incoming.der", pki.der(installed.cert))
    refused(run_module, unchanged, installed, ["DER", "openssl x509 -inform DER"], content=None, src=der)


@pytest.mark.parametrize("garbage", [b"hello, this is not a certificate\n", b"\x00\x01\x02garbage\xff",
                                     b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"])
def test_refuses_garbage(run_module, unchanged, installed, garbage):
    source = write(installed.folder / "incoming.pem", garbage)
    result = refused(run_module, unchanged, installed, ["certificate"], content=None, src=source)
    assert result["findings"][0]["code"] in ("certificate_not_pem", "certificate_unreadable")


def test_refuses_several_certificates(run_module, unchanged, installed, pki):
    result = refused(run_module, unchanged, installed, ["2 certificates", "exactly one"],
                     content=pki.pem(installed.cert, pki.ca).decode())
    assert result["findings"][0]["code"] == "certificate_multiple"


def test_refuses_content_holding_the_private_key(run_module, unchanged, installed, pki):
    text = (pki.pem(installed.cert) + pki.key_pem(installed.key)).decode()
    result = refused(run_module, unchanged, installed, ["private key"], content=text)
    assert "PRIVATE KEY-----\n" not in result["_stdout"].replace("BEGIN PRIVATE KEY", "")
    assert pki.key_pem(installed.key).decode().splitlines()[1] not in result["_stdout"]


def test_refuses_a_csr(run_module, unchanged, installed):
    csr = b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
    refused(run_module, unchanged, installed, ["CERTIFICATE REQUEST", "that is the CSR"], content=csr.decode())


def test_refuses_common_name_other_than_client_id(run_module, unchanged, installed):
    refused(run_module, unchanged, installed, ["CN is 'client-id-1234'", "'client-id-9999'"], client_id="client-id-9999")


def test_refuses_wrong_key_passphrase(run_module, unchanged, setup):
    setup.use(passphrase="right-pass")
    with unchanged(setup.folder):
        result = run_module(certificate, setup.args(private_key_passphrase="wrong-pass"))
    assert result["rc"] == 1 and "passphrase" in result["msg"] and "Nothing was changed" in result["msg"]
    assert "wrong-pass" not in result["_stdout"] and "right-pass" not in result["_stdout"]


def test_refuses_certificate_not_signed_by_the_given_ca(run_module, unchanged, installed, pki):
    other_ca = write(installed.folder / "other-ca.pem", pki.pem(pki.other_ca))
    result = refused(run_module, unchanged, installed, ["not signed by the given CA", "name matches the issuer"], ca_path=other_ca)
    assert result["findings"][0]["code"] == "certificate_not_signed_by_ca"


def test_missing_src_and_missing_key_fail_cleanly(run_module, unchanged, installed):
    refused(run_module, unchanged, installed, ["does not exist"], content=None,
            src=str(installed.folder / "missing.pem"))
    refused(run_module, unchanged, installed, ["does not exist"], private_key_path=str(installed.folder / "none.key"))


def test_results_and_diffs_never_hold_key_material_or_passwords(run_module, setup):
    setup.use("rsa2048", passphrase="key-pass")
    args = setup.args(private_key_passphrase="key-pass", pkcs12_path=str(setup.folder / "c.p12"),
                      pkcs12_password=PASSWORD, combined_path=str(setup.folder / "combined.pem"))
    for check_mode in (True, False, True):
        result = run_module(certificate, args, check_mode=check_mode, diff=True)
        assert result["rc"] == 0
        text = result["_stdout"]
        assert "PRIVATE KEY" not in text and PASSWORD not in text and "key-pass" not in text
        for line in read(setup.key_path).decode().splitlines()[1:-1]:
            assert line not in text
        assert [diff["before_header"] for diff in result["diff"]] == [
            args["path"], args["pkcs12_path"], args["combined_path"]]
        for diff in result["diff"]:
            assert "fingerprint: " + fingerprint(setup.cert) in diff["after"]


@pytest.mark.parametrize("clash", [dict(combined_path="{key}"), dict(pkcs12_path="{path}", pkcs12_password=PASSWORD),
                                   dict(combined_path="{folder}/c.pem", pkcs12_path="{folder}/c.pem",
                                        pkcs12_password=PASSWORD), dict(path="{key}")])
def test_outputs_never_overwrite_the_key_or_each_other(run_module, unchanged, setup, clash):
    setup.use()
    values = dict(key=setup.key_path, path=str(setup.folder / "client.pem"), folder=str(setup.folder))
    args = setup.args(**dict((option, value.format(**values) if isinstance(value, str) else value)
                             for option, value in clash.items()))
    with unchanged(setup.folder):
        result = run_module(certificate, args)
    assert result["rc"] == 1 and "are the same file" in result["msg"] and "Nothing was changed" in result["msg"]
