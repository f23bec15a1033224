# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input: every module refuses it with a message that names the problem, and changes nothing.

The cases run through real ansible-playbook (a few playbooks, each with many tasks that
ignore their errors and register their results). The bytes, type, mode, owner and group
of every file and folder involved are snapshot before and after: they must be identical,
and no file may appear (no temp file, backup, lock file or half-made key).
"""

from __future__ import annotations

import os
import pwd
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.wise.mtls.tests.safety.safety_helpers import (
    key_pem,
    random_secret,
    read_bytes,
    snapshot,
    snapshot_differences,
    task,
    write_file,
)

HUGE = 2 * 1024 * 1024  # over the 1 MiB that the modules read from a key, CSR or certificate file


class Case(object):
    """One bad input: the task, and what the answer must say.

    expect is a regular expression the failure message must match (case-insensitive), or
    ("finding", code) for an info module, which reports a bad input as a finding instead of failing.
    """

    def __init__(self, name, module, args, expect, **keywords):
        self.name = name
        self.module = module
        self.args = args
        self.expect = expect
        self.keywords = keywords

    def register(self, index):
        return "case_{0:03d}".format(index)


@pytest.fixture(scope="module")
def material(tmp_path_factory, pki):
    """A folder of good and bad keys, CSRs and certificates, folders and links, and a folder outside it."""
    root = tmp_path_factory.mktemp("bad-input")
    work = root / "work"
    elsewhere = root / "elsewhere"
    for folder in (work, elsewhere, work / "adir", work / "ca-anchors"):
        folder.mkdir()
    passphrase = random_secret("bad-input-passphrase-")
    client_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    client_key_pem = key_pem(client_key)
    paths = dict(work=str(work), elsewhere=str(elsewhere), passphrase=passphrase)
    files = {
        "client.key": (client_key_pem, 0o600),
        "encrypted.key": (key_pem(client_key, passphrase), 0o600),
        "rsa1024.key": (key_pem(rsa.generate_private_key(65537, 1024)), 0o600),
        "rsa2048.key": (key_pem(rsa.generate_private_key(65537, 2048)), 0o600),
        "p521.key": (key_pem(ec.generate_private_key(ec.SECP521R1())), 0o600),
        "ed25519.key": (key_pem(ed25519.Ed25519PrivateKey.generate()), 0o600),
        "garbage.key": (b"this is not a key\n", 0o600),
        "truncated.key": (client_key_pem[:len(client_key_pem) // 2], 0o600),
        "huge.key": (b"A" * HUGE, 0o600),
        "client.pem": (pki.issue(client_key, "client-1"), 0o644),
        "other.pem": (pki.issue(other_key, "client-1"), 0o644),
        "expired.pem": (pki.issue(client_key, "client-1", days=(-400, -35)), 0o644),
        "future.pem": (pki.issue(client_key, "client-1", days=(30, 400)), 0o644),
        "chain.pem": (pki.issue(client_key, "client-1") + pki.pem, 0o644),
        "ca.pem": (pki.pem, 0o644),
        "other-ca.pem": (pki.issue_ca("Another CA"), 0o644),
        "leaf-as-ca.pem": (pki.issue_ca("A leaf", ca=False), 0o644),
        "expired-ca.pem": (pki.issue_ca("An old CA", days=(-800, -1)), 0o644),
        "huge.pem": (b"-----BEGIN CERTIFICATE-----\n" + b"QUFB\n" * (HUGE // 5), 0o644),
        "existing.csr": (b"-----BEGIN CERTIFICATE REQUEST-----\nnot really\n-----END CERTIFICATE REQUEST-----\n", 0o644),
        "bundle.pem": (pki.pem, 0o644),
        "damaged-bundle.pem": (pki.pem + b"-----BEGIN CERTIFICATE-----\nMIIBcut short\n", 0o644),
    }
    for name, (data, mode) in files.items():
        paths[name] = write_file(str(work / name), data, mode)
    certificate = read_bytes(paths["client.pem"])
    paths["truncated.pem"] = write_file(str(work / "truncated.pem"), certificate[:len(certificate) // 2])
    paths["der.pem"] = write_file(str(work / "der.pem"), _der(certificate))
    paths["cert-and-key.pem"] = write_file(str(work / "cert-and-key.pem"), certificate + client_key_pem, 0o600)
    target = write_file(str(elsewhere / "target.key"), key_pem(other_key), 0o600)
    os.symlink(target, str(work / "link.key"))
    os.symlink(str(elsewhere / "target.pem"), str(work / "dangling.pem"))
    paths.update(target=target, link=str(work / "link.key"), dangling=str(work / "dangling.pem"),
                 adir=str(work / "adir"), anchors=str(work / "ca-anchors"))
    paths["client_key_object"] = client_key
    return paths


def _der(pem):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def key_cases(m):
    w = m["work"]
    new = os.path.join(w, "new.key")
    return [
        Case("RSA 1024 asked for", "wise.mtls.private_key", dict(path=new, type="rsa", size=1024), r"RSA 1024 bits is not accepted"),
        Case("RSA 8192 asked for", "wise.mtls.private_key", dict(path=new, type="rsa", size=8192), r"RSA 8192 bits is not accepted"),
        Case("ECC P-521 asked for", "wise.mtls.private_key", dict(path=new, type="ecc", size=521), r"ECC 521 bits is not accepted"),
        Case("key type ed25519", "wise.mtls.private_key", dict(path=new, type="ed25519"), r"value of type must be one of: rsa, ecc"),
        Case("replace_mismatched is not a boolean", "wise.mtls.private_key", dict(path=new, type="ecc", replace_mismatched="perhaps"),
             r"replace_mismatched.*bool"),
        Case("size is not a number", "wise.mtls.private_key", dict(path=new, size="big"), r"size.*(int|could not convert)"),
        Case("mode 0644 for a key", "wise.mtls.private_key", dict(path=new, type="ecc", mode="0644"), r"Mode 0644 grants more than a private key may have"),
        Case("symbolic mode", "wise.mtls.private_key", dict(path=new, type="ecc", mode="u=rw"), r"'u=rw' is not an octal mode"),
        Case("mode out of range", "wise.mtls.private_key", dict(path=new, type="ecc", mode="177777"), r"out of range"),
        Case("state maybe", "wise.mtls.private_key", dict(path=new, state="maybe"), r"value of state must be one of: present, absent"),
        Case("misspelt option", "wise.mtls.private_key", dict(path=new, pasphrase="x"), r"Unsupported parameters.*pasphrase"),
        Case("owner does not exist", "wise.mtls.private_key", dict(path=new, type="ecc", owner="no-such-user-x"), r"owner 'no-such-user-x' does not exist"),
        Case("group does not exist", "wise.mtls.private_key", dict(path=new, type="ecc", group="no-such-group-x"), r"group 'no-such-group-x' does not exist"),
        Case("key path is a folder", "wise.mtls.private_key", dict(path=m["adir"], type="ecc"), r"exists but is not a regular file"),
        Case("key path is a symlink", "wise.mtls.private_key", dict(path=m["link"], type="ecc"), r"is a symbolic link \(to .*target\.key\); refusing"),
        Case("key path climbs out with ../ into a missing folder", "wise.mtls.private_key",
             dict(path=os.path.join(w, "..", "..", "no-such-folder", "client.key"), type="ecc"), r"folder .*no-such-folder does not exist"),
        Case("key path with a NUL byte", "wise.mtls.private_key", dict(path=w + "/client\0.key", type="ecc"), r"(null|NUL) (byte|character)"),
        Case("key file name too long", "wise.mtls.private_key", dict(path=os.path.join(w, "k" * 300 + ".key"), type="ecc"), r"File name too long"),
        Case("existing key is garbage", "wise.mtls.private_key", dict(path=m["garbage.key"], type="ecc"),
             r"cannot be used: the file does not hold a PEM private key.*replace_mismatched"),
        Case("existing key truncated", "wise.mtls.private_key", dict(path=m["truncated.key"], type="ecc"), r"cannot be used.*replace_mismatched"),
        Case("existing key is 2 MiB", "wise.mtls.private_key", dict(path=m["huge.key"], type="ecc"), r"larger than 1048576 bytes"),
        Case("existing key of another size", "wise.mtls.private_key", dict(path=m["rsa2048.key"], type="rsa", size=4096),
             r"holds an RSA 2048 key, but an RSA 4096 key was asked for"),
        Case("wrong passphrase", "wise.mtls.private_key", dict(path=m["encrypted.key"], type="ecc", passphrase="wrong-passphrase"),
             r"passphrase does not decrypt"),
        Case("encrypted key, no passphrase", "wise.mtls.private_key", dict(path=m["encrypted.key"], type="ecc"), r"encrypted and no passphrase was given"),
        Case("wrong passphrase even with replace_mismatched", "wise.mtls.private_key",
             dict(path=m["encrypted.key"], type="ecc", passphrase="wrong-passphrase", replace_mismatched=True), r"passphrase does not decrypt"),
    ]


def csr_cases(m):
    w = m["work"]
    new = os.path.join(w, "new.csr")
    base = dict(path=new, private_key_path=m["client.key"], organization="Example Ltd")

    def args(**changes):
        merged = dict(base)
        merged.update(changes)
        return merged

    return [
        Case("empty organisation", "wise.mtls.csr", args(organization=" "), r"Organisation \(O\) is not set"),
        Case("organisation missing", "wise.mtls.csr", dict(path=new, private_key_path=m["client.key"]), r"missing required arguments: organization"),
        Case("country of three letters", "wise.mtls.csr", args(country="EUR"), r"Country 'EUR' is not two letters"),
        Case("key file missing", "wise.mtls.csr", args(private_key_path=os.path.join(w, "missing.key")), r"missing\.key does not exist"),
        Case("key is RSA 1024", "wise.mtls.csr", args(private_key_path=m["rsa1024.key"]), r"RSA 1024 bits is not accepted"),
        Case("key is P-521", "wise.mtls.csr", args(private_key_path=m["p521.key"]), r"ECC 521 bits is not accepted"),
        Case("key is Ed25519", "wise.mtls.csr", args(private_key_path=m["ed25519.key"]), r"ed25519, which Wise does not accept"),
        Case("key path is a certificate", "wise.mtls.csr", args(private_key_path=m["client.pem"]), r"does not hold a PEM private key"),
        Case("key path is a folder", "wise.mtls.csr", args(private_key_path=m["adir"]), r"not a regular file"),
        Case("key wrong passphrase", "wise.mtls.csr", args(private_key_path=m["encrypted.key"], private_key_passphrase="nope"), r"passphrase does not decrypt"),
        Case("CSR path is a symlink", "wise.mtls.csr", args(path=m["link"]), r"symbolic link"),
        Case("CSR path is a folder", "wise.mtls.csr", args(path=m["adir"]), r"not a regular file"),
        Case("CSR mode not octal", "wise.mtls.csr", args(mode="0888"), r"'0888' is not an octal mode"),
        Case("CSR path with a NUL byte", "wise.mtls.csr", args(path=w + "/x\0.csr"), r"(null|NUL) (byte|character)"),
        Case("CSR mode is a list", "wise.mtls.csr", args(mode=["0644"]), r"is not an octal mode"),
    ]


def csr_info_cases(m):
    w = m["work"]
    return [
        Case("CSR file missing", "wise.mtls.csr_info", dict(path=os.path.join(w, "missing.csr")), r"missing\.csr.*does not exist"),
        Case("CSR path is a folder", "wise.mtls.csr_info", dict(path=m["adir"]), r"not a regular file"),
        Case("neither path nor content", "wise.mtls.csr_info", dict(), r"one of the following is required: path, content"),
        Case("CSR content is garbage", "wise.mtls.csr_info", dict(content="hello"), ("finding", "csr_not_pem")),
        Case("CSR content is a certificate", "wise.mtls.csr_info", dict(content=read_bytes(m["client.pem"]).decode()), ("finding", "csr_wrong_pem_type")),
        Case("CSR content is a broken block", "wise.mtls.csr_info", dict(path=m["existing.csr"]), ("finding", "csr_unreadable")),
    ]


def certificate_cases(m):
    w = m["work"]
    new = os.path.join(w, "new.pem")
    cert = read_bytes(m["client.pem"]).decode()
    base = dict(path=new, private_key_path=m["client.key"], content=cert)

    def args(**changes):
        merged = dict(base)
        merged.update(changes)
        return dict((key, value) for key, value in merged.items() if value is not None)

    return [
        Case("certificate content is garbage", "wise.mtls.certificate", args(content="garbage"), r"holds no PEM block"),
        Case("certificate content is the CSR", "wise.mtls.certificate", args(content=read_bytes(m["existing.csr"]).decode()), r"that is the CSR"),
        Case("certificate for another key", "wise.mtls.certificate", args(content=read_bytes(m["other.pem"]).decode()), r"The certificate is for another key"),
        Case("certificate expired", "wise.mtls.certificate", args(content=read_bytes(m["expired.pem"]).decode()), r"The certificate expired on"),
        Case("certificate not yet valid", "wise.mtls.certificate", args(content=read_bytes(m["future.pem"]).decode()), r"not valid yet"),
        Case("certificate text holds the private key", "wise.mtls.certificate", args(content=None, src=m["cert-and-key.pem"]), r"also holds a private key"),
        Case("certificate is DER", "wise.mtls.certificate", args(content=None, src=m["der.pem"]), r"is DER \(binary\)"),
        Case("certificate is a chain", "wise.mtls.certificate", args(content=read_bytes(m["chain.pem"]).decode()),
             r"holds 2 certificates where exactly one is expected"),
        Case("certificate truncated", "wise.mtls.certificate", args(content=None, src=m["truncated.pem"]), r"(holds no PEM block|cannot be parsed)"),
        Case("certificate file of 2 MiB", "wise.mtls.certificate", args(content=None, src=m["huge.pem"]), r"larger than 1048576 bytes"),
        Case("certificate src missing", "wise.mtls.certificate", args(content=None, src=os.path.join(w, "missing.pem")),
             r"missing\.pem \(src\) does not exist"),
        Case("certificate src is a dangling link", "wise.mtls.certificate", args(content=None, src=m["dangling"]), r"dangling\.pem \(src\) does not exist"),
        Case("client_id differs", "wise.mtls.certificate", args(client_id="another-client"), r"CN is 'client-1', but client_id is 'another-client'"),
        Case("CA did not sign it", "wise.mtls.certificate", args(ca_path=m["other-ca.pem"]), r"was not signed by the given CA"),
        Case("content and src together", "wise.mtls.certificate", args(src=m["client.pem"]), r"mutually exclusive: content\|src"),
        Case("pkcs12_path without password", "wise.mtls.certificate", args(pkcs12_path=os.path.join(w, "new.p12")), r"pkcs12_path.*pkcs12_password"),
        Case("combined file mode 0644", "wise.mtls.certificate", args(combined_path=os.path.join(w, "combined.pem"), combined_mode="0644"),
             r"combined_mode: Mode 0644 grants more"),
        Case("certificate path is a folder", "wise.mtls.certificate", args(path=m["adir"]), r"not a regular file"),
        Case("certificate path is a symlink", "wise.mtls.certificate", args(path=m["link"]), r"symbolic link"),
        Case("pkcs12 path climbs out with ../", "wise.mtls.certificate",
             args(pkcs12_path=os.path.join(w, "..", "..", "nowhere", "x.p12"), pkcs12_password="p12-password"), r"nowhere does not exist"),
        Case("private key of the wrong type", "wise.mtls.certificate", args(private_key_path=m["rsa2048.key"]), r"The certificate is for another key"),
        Case("certificate path with a NUL byte", "wise.mtls.certificate", args(path=w + "/c\0.pem"), r"(null|NUL) (byte|character)"),
    ]


def ca_trust_cases(m):
    w = m["work"]
    bundle = os.path.join(w, "wise-ca.pem")
    ca = read_bytes(m["ca.pem"]).decode()
    base = dict(name="wise-sandbox", content=ca, bundle_path=bundle)

    def args(**changes):
        merged = dict(base)
        merged.update(changes)
        return dict((key, value) for key, value in merged.items() if value is not None)

    return [
        Case("CA name climbs out with ../", "wise.mtls.ca_trust", args(name="../../etc/evil"), r"name '\.\./\.\./etc/evil' cannot be used"),
        Case("CA name with a slash", "wise.mtls.ca_trust", args(name="a/b"), r"name 'a/b' cannot be used"),
        Case("CA name with a NUL byte", "wise.mtls.ca_trust", args(name="wise\0ca"), r"(null|NUL) (byte|character)|cannot be used"),
        Case("CA name of 300 characters", "wise.mtls.ca_trust",
             args(name="n" * 300, stores=["system"], system_anchor_dir=m["anchors"], system_refresh_command=["/bin/true"]),
             r"(too long|cannot be used)"),
        Case("CA is a leaf certificate", "wise.mtls.ca_trust", args(content=read_bytes(m["leaf-as-ca.pem"]).decode()), r"is not a CA certificate"),
        Case("CA expired", "wise.mtls.ca_trust", args(content=read_bytes(m["expired-ca.pem"]).decode()), r"The CA certificate expired on"),
        Case("CA content is the client key", "wise.mtls.ca_trust", args(content=read_bytes(m["client.key"]).decode()), r"also holds a private key"),
        Case("stores empty", "wise.mtls.ca_trust", args(stores=[]), r"stores is empty"),
        Case("store unknown", "wise.mtls.ca_trust", args(stores=["keychain"]), r"value of stores must be one or more of"),
        Case("java store without password", "wise.mtls.ca_trust", args(stores=["java"], java_truststore_path=os.path.join(w, "t.p12")),
             r"java_truststore_password"),
        Case("bundle path is a folder", "wise.mtls.ca_trust", args(bundle_path=m["adir"]), r"not a regular file"),
        Case("bundle path is a symlink", "wise.mtls.ca_trust", args(bundle_path=m["link"]), r"symbolic link"),
        Case("bundle is binary", "wise.mtls.ca_trust", args(bundle_path=m["der.pem"]), r"not a PEM bundle"),
        Case("bundle ends in a cut-off certificate", "wise.mtls.ca_trust", args(bundle_path=m["damaged-bundle.pem"]),
             r"BEGIN or END line without its partner"),
        Case("present without content", "wise.mtls.ca_trust", dict(name="wise-sandbox", bundle_path=bundle),
             r"state is present but any of the following are missing: content, src"),
        Case("CA is two certificates", "wise.mtls.ca_trust", args(content=ca + read_bytes(m["other-ca.pem"]).decode()), r"holds 2 certificates"),
    ]


def info_and_verify_cases(m):
    w = m["work"]
    # no_log values long enough that Ansible's masking of them cannot blank out parts of the messages
    token, secret = random_secret("token-"), random_secret("secret-")

    def verify(**changes):
        merged = dict(base_url="https://127.0.0.1:9", client_cert_path=m["client.pem"], client_key_path=m["client.key"],
                      access_token=token)
        merged.update(changes)
        return dict((key, value) for key, value in merged.items() if value is not None)

    return [
        Case("certificate_info: file missing", "wise.mtls.certificate_info", dict(path=os.path.join(w, "missing.pem")), r"missing\.pem does not exist"),
        Case("certificate_info: file is a key", "wise.mtls.certificate_info", dict(path=m["client.key"]), r"holds no readable certificate"),
        Case("certificate_info: days not a number", "wise.mtls.certificate_info", dict(path=m["client.pem"], renew_before_days="soon"),
             r"renew_before_days.*(int|convert)"),
        Case("verify: unknown environment", "wise.mtls.verify", verify(environment="staging", base_url=None),
             r"value of environment must be one of"),
        Case("verify: base_url not https", "wise.mtls.verify", verify(base_url="http://127.0.0.1:9"), r"base_url must be an https:// URL"),
        Case("verify: token and client secret together", "wise.mtls.verify", verify(client_secret=secret, client_id="c"),
             r"mutually exclusive"),
        Case("verify: negative timeout", "wise.mtls.verify", verify(timeout=-1), r"timeout must be a positive"),
        Case("verify: TLS 1.0 asked for", "wise.mtls.verify", verify(tls_version_min="1.0"), r"value of tls_version_min must be one of"),
        Case("verify: token_url in clear text", "wise.mtls.verify",
             verify(access_token=None, client_id="c", client_secret=secret, token_url="http://127.0.0.1:9/oauth/token"),
             r"token_url must be an https:// URL"),
    ]


ALL_CASES = (key_cases, csr_cases, csr_info_cases, certificate_cases, ca_trust_cases, info_and_verify_cases)


def check_case(case, result):
    """None when the case was refused (or reported) as it should be, else what went wrong."""
    if result is None:
        return "no result was registered"
    if isinstance(case.expect, tuple):
        codes = [finding["code"] for finding in result.get("findings", [])]
        if result.get("failed") or result.get("compliant") is not False or case.expect[1] not in codes:
            return "expected a finding {0}, got {1}".format(case.expect[1], result)
        return None
    if not result.get("failed"):
        return "it did not fail: {0}".format(result)
    if result.get("changed"):
        return "it failed but says it changed something"
    message = result.get("msg", "")
    if "Traceback" in message or "MODULE FAILURE" in message or result.get("exception", "") not in ("", "(traceback unavailable)"):
        return "it crashed instead of refusing: {0}".format(result)
    if not re.search(case.expect, message, re.IGNORECASE | re.DOTALL):
        return "its message does not name the problem (wanted /{0}/): {1}".format(case.expect, message)
    return None


@pytest.mark.parametrize("syslog", ["default", "no_target_syslog"])
def test_bad_inputs_are_refused_and_change_nothing(ansible, material, tally, syslog):
    """Every case, in one playbook run, with the target's syslog logging on (Ansible's default) and off."""
    cases = [case for make in ALL_CASES for case in make(material)]
    if syslog == "no_target_syslog":
        # With syslog logging on, Ansible itself refuses a NUL byte in an argument before the module
        # sees it; with it off, the module must refuse the path itself, with its own message.
        cases = [case for case in cases if "NUL" in case.name]
    tasks = [task(case.module, case.args, register=case.register(index), name=case.name, ignore_errors=True)
             for index, case in enumerate(cases)]
    roots = (material["work"], material["elsewhere"])
    before = snapshot(*roots)
    run = ansible.run(tasks, name="bad-input-" + syslog,
                      env={"ANSIBLE_NO_TARGET_SYSLOG": "1"} if syslog == "no_target_syslog" else None)
    after = snapshot(*roots)
    assert run.rc == 0, run.describe()
    problems = []
    for index, case in enumerate(cases):
        problem = check_case(case, run.results.get(case.register(index)))
        if problem:
            problems.append("{0} ({1}): {2}".format(case.name, case.module, problem))
    differences = snapshot_differences(before, after)
    ok = 0 if differences else len(cases) - len(problems)
    failed = sum(1 for case in cases if not isinstance(case.expect, tuple))
    tally.add("bad_inputs", len(cases), ok, playbooks=1, failed=failed, reported=len(cases) - failed)
    assert not problems, "{0} of {1} bad inputs were not refused properly:\n".format(
        len(problems), len(cases)) + "\n".join(problems)
    assert not differences, "files changed although every input was bad:\n" + "\n".join(differences)
    assert len(cases) >= 40 or syslog != "default"


# ---------------------------------------------------------------- the client role's variables

def role_cases(m, pki):
    """(name, variables changed from a good set (None removes one), expected message, folder to prepare)."""
    other_key_certificate = read_bytes(m["other.pem"]).decode("ascii")
    return [
        ("role: organisation missing", dict(wise_mtls_client_organization=None), r"wise_mtls_client_organization"),
        ("role: organisation blank", dict(wise_mtls_client_organization="   "), r"wise_mtls_client_organization is empty"),
        ("role: unknown environment", dict(wise_mtls_client_environment="staging"),
         r"wise_mtls_client_environment.*(sandbox|production)"),
        ("role: country of three letters", dict(wise_mtls_client_country="EUR"), r"wise_mtls_client_country must be two letters"),
        ("role: RSA 1024", dict(wise_mtls_client_key_type="rsa", wise_mtls_client_key_size=1024),
         r"wise_mtls_client_key_size 1024 is not allowed for rsa keys"),
        ("role: key size not a number", dict(wise_mtls_client_key_size="big"), r"wise_mtls_client_key_size.*int"),
        ("role: key type dsa", dict(wise_mtls_client_key_type="dsa"), r"wise_mtls_client_key_type.*(rsa|ecc)"),
        ("role: base_url in clear text", dict(wise_mtls_client_base_url="http://127.0.0.1:9"),
         r"wise_mtls_client_base_url must start with https://"),
        ("role: unknown CA store", dict(wise_mtls_client_ca_stores=["keychain"]), r"wise_mtls_client_ca_stores.*(bundle|system|java)"),
        ("role: PKCS#12 without a password", dict(wise_mtls_client_pkcs12=True), r"wise_mtls_client_pkcs12 needs wise_mtls_client_pkcs12_password"),
        ("role: Java store without a password", dict(wise_mtls_client_ca_stores=["java"]), r"java store needs wise_mtls_client_java_truststore_password"),
        ("role: certificate is not PEM", dict(wise_mtls_client_certificate="paste here"), r"is not a PEM certificate"),
        ("role: certificate for another key", dict(wise_mtls_client_certificate=other_key_certificate,
                                                   wise_mtls_client_ca_certificate=pki.pem.decode("ascii")),
         r"certificate is for another key", "with-key"),
        ("role: key group named ..", dict(wise_mtls_client_key_group=".."), r"key group|wise_mtls_client_key_group"),
        ("role: owner that does not exist", dict(wise_mtls_client_owner="no-such-user-x"), r"no-such-user-x"),
        ("role: group that does not exist", dict(wise_mtls_client_group="no-such-group-x"), r"no-such-group-x"),
        ("role: relative root folder", dict(wise_mtls_client_root="relative/wise-mtls"), r"wise_mtls_client_root.*absolute"),
    ]


def run_role_cases(ansible, tally, work, role, cases, variables, name, prepare=None):
    """Each case in a play of its own, on a host of its own (folder work/<host>), the role's failure caught with rescue.

    cases: (name, variables changed (None removes one), expected message, ...); variables(host, case) gives the
    host's good set (and may lay out the host's folder); prepare(), when given, runs after that and before the
    snapshot. Every file under work (the hosts' folders and the hand-off folder) must stay as it was.
    """
    hosts = ["{0}-{1:02d}".format(name, index) for index in range(len(cases))]
    plays = []
    for host, case in zip(hosts, cases):
        role_vars = variables(host, case)
        for key, value in case[1].items():
            if value is None:
                role_vars.pop(key, None)
            else:
                role_vars[key] = value
        plays.append({"name": case[0], "hosts": host, "gather_facts": False, "tasks": [{
            "block": [{"name": "Run the role", "ansible.builtin.include_role": {"name": role}, "vars": role_vars}],
            "rescue": [{"name": "Keep the failure", "ansible.builtin.set_fact": {"wise_safety_failure": "{{ ansible_failed_result }}"}}],
        }]})

    def playbook(results_path):
        content = "{{ {" + ", ".join("'{0}': hostvars['{0}'].wise_safety_failure | default('it did not fail')".format(host)
                                     for host in hosts) + "} | to_json }}"
        return plays + [{"name": "Record the failures", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Record", "ansible.builtin.copy": {"dest": results_path, "content": content, "mode": "0600"}}]}]

    if prepare is not None:
        prepare()
    inventory = ansible.write_inventory(name + "-bad-input", hosts + ["localhost"])
    before = snapshot(work)
    run = ansible.run(plays=playbook, inventory=inventory, name=name + "-bad-variables")
    after = snapshot(work)
    assert run.rc == 0, run.describe()
    problems = []
    for host, case in zip(hosts, cases):
        result = run.results.get(host)
        if not isinstance(result, dict):
            problems.append("{0}: the role did not fail ({1})".format(case[0], result))
        elif not re.search(case[2], result.get("msg", ""), re.IGNORECASE | re.DOTALL):
            problems.append("{0}: the message does not name the problem (wanted /{1}/): {2}".format(
                case[0], case[2], result.get("msg")))
    differences = snapshot_differences(before, after)
    changed_hosts = set(path.split(os.sep)[len(work.split(os.sep))] for path in
                        (line.split(" ")[1] for line in differences) if path.startswith(work + os.sep))
    ok = len([host for host, case in zip(hosts, cases)
              if host not in changed_hosts and not any(problem.startswith(case[0] + ":") for problem in problems)])
    if changed_hosts - set(hosts):  # the hand-off folder, or anything else all hosts share
        ok = 0
    tally.add("bad_inputs", len(cases), ok, playbooks=1, failed=len(cases), reported=0)
    assert not problems, "{0} of {1} bad {2} variables were not refused properly:\n".format(
        len(problems), len(cases), role) + "\n".join(problems)
    assert not differences, "files changed although every {0} input was bad:\n".format(role) + "\n".join(differences)


def test_bad_role_variables_are_refused_and_change_nothing(ansible, material, pki, tally):
    """The client role's variables, one play per case on a host of its own, failures caught with rescue."""
    work = os.path.abspath(os.path.join(material["work"], "..", "role"))
    os.makedirs(os.path.join(work, "handoff"), exist_ok=True)
    good = dict(wise_mtls_client_organization="Role Ltd", wise_mtls_client_key_type="ecc", wise_mtls_client_client_id="client-1",
                wise_mtls_client_install_dependencies=False, wise_mtls_client_handoff_dir=os.path.join(work, "handoff"))

    def variables(host, case):
        root = os.path.join(work, host)
        os.makedirs(root, exist_ok=True)
        if len(case) > 3:  # a host that already holds its key (folder and key as the role makes them)
            os.makedirs(os.path.join(root, "sandbox"), mode=0o700, exist_ok=True)
            write_file(os.path.join(root, "sandbox", "client.key"), key_pem(material["client_key_object"]), 0o600)
        return dict(good, wise_mtls_client_root=root)

    run_role_cases(ansible, tally, work, "wise.mtls.client", role_cases(material, pki), variables, "role")


# ---------------------------------------------------------------- the rotate role's variables

STAGED_ID = "20260101-000000"


def rotate_cases(m, pki):
    """(name, variables changed from a good set (None removes one), expected message, what the host holds).

    What the host holds: "live" (a live key and certificate, as the client role leaves them), "none" (an empty
    environment folder), "staged" (a staged generation beside the live pair, its certificate in the hand-off folder)
    or "previous" (rotated once: the previous generation kept).
    """
    other_key_certificate = read_bytes(m["other.pem"]).decode("ascii")
    return [
        ("rotate: unknown phase", dict(wise_mtls_rotate_phase="renew"), r"wise_mtls_rotate_phase.*stage, activate, cleanup", "live"),
        ("rotate: no phase", dict(wise_mtls_rotate_phase=None), r"wise_mtls_rotate_phase", "live"),
        ("rotate: unknown environment", dict(wise_mtls_client_environment="staging"),
         r"wise_mtls_client_environment.*(sandbox|production)", "live"),
        ("rotate: relative root folder", dict(wise_mtls_client_root="relative/wise-mtls"), r"wise_mtls_client_root.*absolute", "live"),
        ("rotate: key group named ..", dict(wise_mtls_client_key_group=".."), r"key group|wise_mtls_client_key_group", "live"),
        ("rotate stage: renewal days not a number", dict(wise_mtls_rotate_renew_before_days="soon"),
         r"wise_mtls_rotate_renew_before_days.*int", "live"),
        ("rotate stage: organisation missing", dict(wise_mtls_client_organization=None), r"wise_mtls_client_organization is empty",
         "live"),
        ("rotate stage: no live pair", dict(), r"holds no live key and certificate", "none"),
        ("rotate stage: key type dsa", dict(wise_mtls_client_key_type="dsa"), r"wise_mtls_client_key_type.*(rsa|ecc)", "live"),
        ("rotate stage: RSA 1024", dict(wise_mtls_client_key_type="rsa", wise_mtls_client_key_size=1024),
         r"RSA 1024 bits is not accepted", "live"),
        ("rotate stage: country of three letters", dict(wise_mtls_client_country="EUR"), r"Country 'EUR' is not two letters", "live"),
        ("rotate stage: owner that does not exist", dict(wise_mtls_client_owner="no-such-user-x"), r"no-such-user-x", "live"),
        ("rotate activate: certificate for another key",
         dict(wise_mtls_rotate_phase="activate", wise_mtls_rotate_certificate=other_key_certificate),
         r"certificate is for another key", "staged"),
        ("rotate activate: certificate is not PEM", dict(wise_mtls_rotate_phase="activate", wise_mtls_rotate_certificate="paste here"),
         r"holds no PEM block", "staged"),
        ("rotate activate: no credentials with pre-flight on",
         dict(wise_mtls_rotate_phase="activate", wise_mtls_client_client_secret=None), r"need credentials.*wise_mtls_client_client_secret", "staged"),
        ("rotate cleanup: age not a number", dict(wise_mtls_rotate_phase="cleanup", wise_mtls_rotate_cleanup_after_days="a week"),
         r"wise_mtls_rotate_cleanup_after_days.*int", "previous"),
        ("rotate cleanup: negative age", dict(wise_mtls_rotate_phase="cleanup", wise_mtls_rotate_cleanup_after_days=-7),
         r"wise_mtls_rotate_cleanup_after_days", "previous"),
    ]


def test_bad_rotate_variables_are_refused_and_change_nothing(ansible, material, pki, tally):
    """The rotate role's variables and states it must refuse, each phase on onboarded hosts (one play per case)."""
    work = os.path.abspath(os.path.join(material["work"], "..", "rotate"))
    handoff = os.path.join(work, "handoff")
    os.makedirs(handoff, exist_ok=True)
    good = dict(wise_mtls_rotate_phase="stage", wise_mtls_rotate_due_only=False, wise_mtls_client_organization="Rotate Ltd",
                wise_mtls_client_key_type="ecc", wise_mtls_client_client_id="client-1",
                wise_mtls_client_client_secret=random_secret("rotate-secret-"), wise_mtls_client_base_url="https://127.0.0.1:9",
                wise_mtls_client_owner=pwd.getpwuid(os.getuid()).pw_name, wise_mtls_client_handoff_dir=handoff)
    setup = []

    def variables(host, case):
        folder = os.path.join(work, host, "sandbox")
        os.makedirs(folder, mode=0o700)
        if case[3] != "none":  # the live pair, as the client role leaves it
            key = ec.generate_private_key(ec.SECP256R1())
            write_file(os.path.join(folder, "client.key"), key_pem(key), 0o600)
            write_file(os.path.join(folder, "client.pem"), pki.issue(key, "client-1"))
        if case[3] in ("staged", "previous"):  # a generation staged with a key of ours, so its certificate is known
            key = ec.generate_private_key(ec.SECP256R1())
            certificate = pki.issue(key, "client-1").decode("ascii")
            setup.append(task("wise.mtls.generation", dict(path=folder, state="staged", generation=STAGED_ID, organization="Rotate Ltd",
                                                           client_id="client-1", private_key_content=key_pem(key).decode("ascii"))))
            if case[3] == "staged":
                unit = os.path.join(handoff, "sandbox", host, "rotation", STAGED_ID)
                os.makedirs(unit)
                write_file(os.path.join(unit, "client.pem"), certificate)
            else:
                setup.append(task("wise.mtls.certificate", dict(path=os.path.join(folder, "generations", STAGED_ID, "client.pem"),
                                                                content=certificate, private_key_path=os.path.join(
                                                                    folder, "generations", STAGED_ID, "client.key"))))
                setup.append(task("wise.mtls.generation", dict(path=folder, state="live", generation=STAGED_ID)))
        return dict(good, wise_mtls_client_root=os.path.join(work, host))

    def prepare():
        run = ansible.run(setup, name="rotate-bad-input-setup", record=False)
        assert run.rc == 0, run.describe()

    run_role_cases(ansible, tally, work, "wise.mtls.rotate", rotate_cases(material, pki), variables, "rotate", prepare)
