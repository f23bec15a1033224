# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pieces the modules share: failing on findings, diffs of public facts, loading a key file."""

from __future__ import annotations

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _module_support as support
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.tests.unit.helpers import write_bytes


class Failed(Exception):
    pass


class RecordingModule(object):
    """Stands in for AnsibleModule where only fail_json matters."""

    def fail_json(self, **result):
        raise Failed(result)


def test_fail_on_findings_reports_every_error_and_no_warning():
    findings = [policy.Finding("common_name_differs", policy.WARNING, "A warning."),
                policy.Finding("organization_missing", policy.ERROR, "Set O."),
                policy.Finding("country_invalid", policy.ERROR, "Fix C.")]
    with pytest.raises(Failed) as failure:
        support.fail_on_findings(RecordingModule(), findings, path="/x")
    result = failure.value.args[0]
    assert result["msg"] == "Set O. Fix C. Nothing was changed."
    codes = [finding["code"] for finding in result["findings"]]
    assert codes == ["common_name_differs", "organization_missing", "country_invalid"]
    assert result["path"] == "/x"


def test_fail_on_findings_passes_warnings_and_nothing():
    support.fail_on_findings(RecordingModule(), [])
    support.fail_on_findings(RecordingModule(), [policy.Finding("common_name_differs", policy.WARNING, "w")])


def test_render_diff():
    diff = support.render_diff({"mode": "0600", "type": "ecc"}, {"mode": "0640", "type": "ecc"}, "/k")
    assert diff == {"before": "mode: 0600\ntype: ecc\n", "after": "mode: 0640\ntype: ecc\n",
                    "before_header": "/k", "after_header": "/k"}
    assert support.render_diff(None, {}, "/k")["before"] == "" and support.render_diff(None, {}, "/k")["after"] == ""


def test_load_key_file(openssl, tmp_path):
    path = openssl.write_key("ec:P-256", tmp_path / "k")
    assert support.load_key_file(RecordingModule(), path, None).public_key() is not None
    with pytest.raises(Failed) as failure:
        support.load_key_file(RecordingModule(), str(tmp_path / "missing"), None)
    assert "does not exist; create it first (wise.mtls.private_key)" in failure.value.args[0]["msg"]
    encrypted = openssl.write_key("ec:P-256", tmp_path / "e", passphrase="secret")
    with pytest.raises(Failed) as failure:
        support.load_key_file(RecordingModule(), encrypted, "wrong")
    assert failure.value.args[0]["reason"] == "passphrase_wrong"
    assert failure.value.args[0]["msg"] == (
        "The private key {0} cannot be used: the passphrase does not decrypt the private key (or the key is corrupt). "
        "Check private_key_passphrase: it must be the passphrase the key was encrypted with. Nothing was changed."
    ).format(encrypted)
    with pytest.raises(Failed) as failure:
        support.load_key_file(RecordingModule(), encrypted, None, passphrase_option="client_key_passphrase")
    assert "Give its passphrase in client_key_passphrase. Nothing was changed." in failure.value.args[0]["msg"]
    with pytest.raises(Failed) as failure:
        support.load_key_file(RecordingModule(), write_bytes(tmp_path / "c", b"garbage", 0o600), None)
    assert failure.value.args[0]["reason"] == "corrupt"
    assert ".." not in failure.value.args[0]["msg"]
    assert "make a new key with wise.mtls.private_key. Nothing was changed." in failure.value.args[0]["msg"]
