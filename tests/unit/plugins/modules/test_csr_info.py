# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.csr_info on CSRs made with the openssl CLI, the way operators and HSM tooling make them."""

from __future__ import annotations

import base64
import os
import re

import pytest

from ansible_collections.wise.mtls.plugins.modules import csr_info
from ansible_collections.wise.mtls.tests.unit.helpers import read_bytes, write_bytes

WISE_SUBJECT = "/C=EU/O=Example Payments Ltd"


def flip_signature_byte(pem):
    """The same CSR with one bit changed inside its signature (the last bytes of the DER)."""
    body = re.search(rb"-----BEGIN CERTIFICATE REQUEST-----\n(.*?)-----END", pem, re.DOTALL).group(1)
    der = bytearray(base64.b64decode(body))
    der[-5] ^= 0x01
    encoded = base64.b64encode(bytes(der))
    lines = [encoded[index:index + 64] for index in range(0, len(encoded), 64)]
    return b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE REQUEST-----\n"


def make(openssl, folder, spec="ec:P-256", subject=WISE_SUBJECT, *extra):
    key = openssl.write_key(spec, os.path.join(folder, "k.key"))
    return openssl.make_csr(key, os.path.join(folder, "c.csr"), subject, *extra)


def report(run_module, path=None, content=None, **extra):
    args = dict(extra)
    if path is not None:
        args["path"] = path
    if content is not None:
        args["content"] = content
    result = run_module(csr_info, args)
    assert result["rc"] == 0 and result["changed"] is False, result.get("msg")
    return result


def codes(result):
    return sorted(finding["code"] for finding in result["findings"])


@pytest.mark.parametrize("bits", [2048, 4096])
def test_the_csr_of_wises_own_example_command_passes(run_module, openssl, tmp_path, bits):
    """openssl req -nodes -newkey rsa:4096 -keyout k -out c -subj "/C=EU/O=..." (WISE_MTLS.md)."""
    key, csr = str(tmp_path / "k"), str(tmp_path / "c")
    openssl.run("req", "-nodes", "-newkey", "rsa:{0}".format(bits), "-keyout", key, "-out", csr, "-subj", WISE_SUBJECT)
    result = report(run_module, path=csr)
    assert result["compliant"] is True and result["findings"] == []
    assert result["subject"] == {"C": "EU", "O": "Example Payments Ltd"}
    assert result["subject_string"] == WISE_SUBJECT
    assert result["public_key"]["type"] == "rsa" and result["public_key"]["size"] == bits
    assert result["public_key"]["fingerprint"] == openssl.fingerprint(key)
    assert result["signature_valid"] is True


CASES = {
    # name: (key spec, subject, openssl req extra args, transform of the bytes, client_id, codes, compliant)
    "rsa-1024": ("rsa:1024", WISE_SUBJECT, (), None, None, ["rsa_key_size_not_allowed"], False),
    "p-521": ("ec:P-521", WISE_SUBJECT, (), None, None, ["ecc_curve_not_allowed"], False),
    "ed25519": ("ed25519", WISE_SUBJECT, (), None, None, ["key_type_not_allowed"], False),
    "no-organization": ("ec:P-256", "/C=EU/CN=client-1", (), None, None, ["organization_missing"], False),
    "text-dump": ("ec:P-256", WISE_SUBJECT, ("-text",), None, None, ["csr_text_outside_pem"], False),
    "der": ("ec:P-256", WISE_SUBJECT, ("-outform", "DER"), None, None, ["csr_not_pem"], False),
    "two-blocks": ("ec:P-256", WISE_SUBJECT, (), lambda data: data + data, None, ["csr_multiple_pem_blocks"], False),
    "key-and-csr": ("ec:P-256", WISE_SUBJECT, (), "with-key", None, ["csr_multiple_pem_blocks"], False),
    "cn-differs": ("ec:P-256", WISE_SUBJECT + "/CN=web01", (), None, "client-1", ["common_name_differs"], True),
    "cn-is-client-id": ("ec:P-256", WISE_SUBJECT + "/CN=client-1", (), None, "client-1", [], True),
    "bad-signature-rsa": ("rsa:2048", WISE_SUBJECT, (), flip_signature_byte, None, ["csr_signature_invalid"], False),
    "bad-signature-ecc": ("ec:P-256", WISE_SUBJECT, (), flip_signature_byte, None, ["csr_signature_invalid"], False),
    "p-384": ("ec:P-384", WISE_SUBJECT, (), None, None, [], True),
    "everything-wrong": ("rsa:1024", "/CN=web01", ("-text",), None, "client-1",
                         ["common_name_differs", "csr_text_outside_pem", "organization_missing",
                          "rsa_key_size_not_allowed"], False),
}


# DER is binary: it travels as a file, never as the text of content.
@pytest.mark.parametrize("case, source", [(case, source) for case in sorted(CASES) for source in ("path", "content")
                                          if not (case == "der" and source == "content")])
def test_each_broken_rule_is_reported_with_its_code(run_module, openssl, tmp_path, case, source):
    spec, subject, extra, transform, client_id, expected, compliant = CASES[case]
    path = make(openssl, str(tmp_path), spec, subject, *extra)
    if transform == "with-key":
        write_bytes(path, openssl.key_pem("ec:P-256") + read_bytes(path))
    elif transform is not None:
        write_bytes(path, transform(read_bytes(path)))
    if source == "content":
        result = report(run_module, content=read_bytes(path).decode("ascii"), client_id=client_id)
    else:
        result = report(run_module, path=path, client_id=client_id)
    assert codes(result) == expected
    assert result["compliant"] is compliant
    for finding in result["findings"]:
        assert finding["severity"] == ("warning" if finding["code"] == "common_name_differs" else "error")
        assert finding["message"].endswith(".")
    # The CSR still parses in all these cases: its facts are reported, whatever is wrong with it.
    assert result["subject_string"] == subject
    assert result["signature_valid"] is (not case.startswith("bad-signature"))
    if transform == "with-key" and source == "path":  # given as content, Ansible echoes it back in invocation
        assert "PRIVATE KEY" not in result["_stdout"]


def test_finding_messages_say_what_to_do(run_module, openssl, tmp_path):
    path = make(openssl, str(tmp_path), "rsa:1024", "/CN=web01", "-text")
    messages = dict((finding["code"], finding["message"]) for finding in
                    report(run_module, path=path, client_id="client-1")["findings"])
    assert "use 2048, 3072 or 4096 bits" in messages["rsa_key_size_not_allowed"]
    assert "Give your company name as the organization" in messages["organization_missing"]
    assert "Keep only the lines from BEGIN to END" in messages["csr_text_outside_pem"]
    assert "set CN to the Client ID" in messages["common_name_differs"]


def test_der_message_says_how_to_convert(run_module, openssl, tmp_path):
    result = report(run_module, path=make(openssl, str(tmp_path), "ec:P-256", WISE_SUBJECT, "-outform", "DER"))
    assert "openssl req -inform DER" in result["findings"][0]["message"]
    assert result["public_key"]["type"] == "ecc" and result["public_key"]["curve"] == "secp256r1"


@pytest.mark.parametrize("content, code", [
    ("", "csr_empty"),
    ("\n\n", "csr_empty"),
    ("paste the CSR here", "csr_not_pem"),
    ("certificate", "csr_wrong_pem_type"),
])
def test_other_content(run_module, openssl, tmp_path, content, code):
    if content == "certificate":
        key = openssl.write_key("ec:P-256", tmp_path / "k")
        content = openssl.run("req", "-x509", "-new", "-key", key, "-subj", "/O=x", "-days", "1").stdout.decode("ascii")
    result = report(run_module, content=content)
    assert codes(result) == [code] and result["compliant"] is False
    assert "subject" not in result


def test_check_mode_reports_the_same(run_module, openssl, tmp_path):
    path = make(openssl, str(tmp_path), "rsa:1024")
    normal = report(run_module, path=path)
    checked = run_module(csr_info, dict(path=path), check_mode=True)
    assert checked["findings"] == normal["findings"] and checked["changed"] is False


def test_csr_behind_a_symlink_is_read(run_module, openssl, tmp_path):
    path = make(openssl, str(tmp_path))
    os.symlink(path, str(tmp_path / "link.csr"))
    assert report(run_module, path=str(tmp_path / "link.csr"))["compliant"]


@pytest.mark.parametrize("case, words", [
    ("missing", "The CSR {path} does not exist on the host; check path, or give the CSR text in content"),
    ("directory", "{path} exists but is not a regular file"),
])
def test_unreadable_sources_fail_clearly(run_module, tmp_path, case, words):
    path = str(tmp_path / "c.csr")
    if case == "directory":
        os.mkdir(path)
    result = run_module(csr_info, dict(path=path))
    assert result["failed"] and words.format(path=path) in result["msg"]


@pytest.mark.parametrize("args, words", [
    (dict(), "one of the following is required: path, content"),
    (dict(path="/x", content="y"), "parameters are mutually exclusive: path|content"),
])
def test_exactly_one_source(run_module, args, words):
    result = run_module(csr_info, args)
    assert result["failed"] and words in result["msg"]
