# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one check for the cryptography library: present and new enough, or a failure that says what to install.

cryptography is installed wherever these tests run, so its absence and an old release are
simulated by setting what the import found.
"""

from __future__ import annotations

import pytest

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.wise.mtls.plugins.module_utils import _cryptography_dep as dep


class Failed(Exception):
    pass


class RecordingModule(object):
    def fail_json(self, **result):
        raise Failed(result)


def test_the_installed_release_is_accepted():
    assert dep.CRYPTOGRAPHY_IMPORT_ERROR is None
    assert dep.CRYPTOGRAPHY_VERSION >= LooseVersion(dep.MINIMAL_CRYPTOGRAPHY_VERSION)
    dep.ensure_cryptography(RecordingModule())


def test_missing_library_says_what_to_install(monkeypatch):
    monkeypatch.setattr(dep, "CRYPTOGRAPHY_IMPORT_ERROR", "Traceback: No module named 'cryptography'")
    monkeypatch.setattr(dep, "CRYPTOGRAPHY_VERSION", None)
    with pytest.raises(Failed) as failure:
        dep.ensure_cryptography(RecordingModule())
    result = failure.value.args[0]
    assert "cryptography >= 3.4.8" in result["msg"] and "python3-cryptography" in result["msg"]
    assert result["exception"] == "Traceback: No module named 'cryptography'"


def test_too_old_library_says_what_to_upgrade(monkeypatch):
    monkeypatch.setattr(dep, "CRYPTOGRAPHY_VERSION", LooseVersion("3.3.2"))
    with pytest.raises(Failed) as failure:
        dep.ensure_cryptography(RecordingModule())
    assert failure.value.args[0]["msg"] == ("The cryptography library on the target is 3.3.2; wise.mtls needs 3.4.8 or "
                                            "newer. Upgrade the python3-cryptography package.")
