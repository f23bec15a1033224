# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.handoff (action plugin, on the controller): folders and file with exact modes whatever the
umask, an atomic write, check mode and diff that tell the truth, idempotence, and refusals that change
nothing."""

from __future__ import annotations

import os
import stat
from unittest import mock

import pytest

try:  # ansible-core 2.19 and newer
    from ansible.module_utils import _internal as module_internal
except ImportError:  # ansible-core 2.17 and 2.18
    module_internal = None

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBFDCBuwIBADBZ\n-----END CERTIFICATE REQUEST-----\n"
OTHER = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBFDCBuwIBADBa\n-----END CERTIFICATE REQUEST-----\n"


def mode_of(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


@pytest.fixture
def handoff(monkeypatch):
    """The action plugin, imported for the test only.

    Importing Ansible's controller code marks the process as the controller, and from then on
    ansible-core 2.19 and newer show a module's warnings instead of returning them: the module
    tests that share this process afterwards must still see theirs.
    """
    if module_internal is not None:
        monkeypatch.setattr(module_internal, "is_controller", module_internal.is_controller)
    from ansible_collections.wise.mtls.plugins.action import handoff as plugin

    if module_internal is not None:
        monkeypatch.setattr(module_internal, "is_controller", True)  # as in ansible-playbook
    return plugin


@pytest.fixture
def run(handoff):
    """run(args, check_mode=False, diff=False) -> the action plugin's result, as ansible-playbook would get it."""
    from ansible.errors import AnsibleActionFail

    def run_action(args, check_mode=False, diff=False):
        task = mock.MagicMock()
        task.args = dict(args)
        task.async_val = 0
        task.check_mode = check_mode
        task.diff = diff
        task.action = "wise.mtls.handoff"
        connection = mock.MagicMock()
        connection._shell.tmpdir = None
        action = handoff.ActionModule(task=task, connection=connection, play_context=mock.MagicMock(),
                                      loader=mock.MagicMock(), templar=mock.MagicMock(),
                                      shared_loader_obj=mock.MagicMock())
        action._load_name = "wise.mtls.handoff"  # set by Ansible's plugin loader
        try:
            return action.run(task_vars={})
        except AnsibleActionFail as exc:  # ansible-playbook reports it as the task's failure
            return dict(failed=True, msg=str(exc))

    return run_action


def test_first_run_makes_folders_and_file_then_changes_nothing(run, tmp_path, umask_000, unchanged):
    dest = tmp_path / "handoff" / "sandbox" / "web1" / "client.csr"
    result = run(dict(content=CSR, dest=str(dest)))
    assert result["changed"] is True
    assert not result.get("failed")
    assert dest.read_text() == CSR
    assert mode_of(dest) == 0o644
    for folder in (tmp_path / "handoff", tmp_path / "handoff" / "sandbox", dest.parent):
        assert mode_of(folder) == 0o755, folder
    assert result["folders_created"] == [str(tmp_path / "handoff"), str(tmp_path / "handoff" / "sandbox"),
                                         str(dest.parent)]
    assert result["dest"] == str(dest) and result["mode"] == "0644"
    with unchanged(str(tmp_path)):
        again = run(dict(content=CSR, dest=str(dest)))
    assert again["changed"] is False and again["folders_created"] == []
    assert "diff" not in again


def test_check_mode_tells_and_writes_nothing(run, tmp_path, unchanged):
    dest = tmp_path / "sandbox" / "web1" / "client.csr"
    with unchanged(str(tmp_path)):
        result = run(dict(content=CSR, dest=str(dest)), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["folders_created"] == [str(tmp_path / "sandbox"), str(dest.parent)]
    assert dict(before=dict(path=str(dest.parent), state="absent"),
                after=dict(path=str(dest.parent), state="directory", mode="0755")) in result["diff"]
    assert dict(before_header=str(dest), after_header=str(dest), before="", after=CSR) in result["diff"]
    # What check mode announced is what the real run does.
    real = run(dict(content=CSR, dest=str(dest)), diff=True)
    assert real["changed"] is True and real["diff"] == result["diff"]


def test_new_content_replaces_the_file_atomically(run, tmp_path, write_spy):
    dest = tmp_path / "client.csr"
    dest.write_text(CSR)
    os.chmod(str(dest), 0o644)
    existing_folder_mode = mode_of(tmp_path)
    events = write_spy(tmp_path)
    result = run(dict(content=OTHER, dest=str(dest)), diff=True)
    assert result["changed"] is True
    assert result["diff"] == [dict(before_header=str(dest), after_header=str(dest), before=CSR, after=OTHER)]
    assert dest.read_text() == OTHER and mode_of(dest) == 0o644
    assert mode_of(tmp_path) == existing_folder_mode  # folders that exist are left alone
    kinds = [event["kind"] for event in events]
    assert kinds[-2:] == ["fsync", "rename"] and "write" in kinds
    assert all(event["name"] != str(dest) for event in events)  # written to a temp file, renamed over dest
    assert sorted(os.listdir(str(tmp_path))) == ["client.csr"]  # no temp file left


def test_mode_only_is_fixed_in_place(run, tmp_path):
    dest = tmp_path / "client.csr"
    dest.write_text(CSR)
    os.chmod(str(dest), 0o600)
    inode = os.lstat(str(dest)).st_ino
    check = run(dict(content=CSR, dest=str(dest)), check_mode=True, diff=True)
    assert check["changed"] is True and mode_of(dest) == 0o600
    assert check["diff"] == [dict(before=dict(path=str(dest), mode="0600"), after=dict(path=str(dest), mode="0644"))]
    result = run(dict(content=CSR, dest=str(dest)))
    assert result["changed"] is True and mode_of(dest) == 0o644
    assert os.lstat(str(dest)).st_ino == inode and dest.read_text() == CSR


def test_other_modes(run, tmp_path, umask_000):
    dest = tmp_path / "new" / "client.pem"
    result = run(dict(content=CSR, dest=str(dest), mode="0640", directory_mode="0750"))
    assert result["changed"] is True and result["mode"] == "0640"
    assert mode_of(dest) == 0o640 and mode_of(dest.parent) == 0o750


def test_relative_dest_is_taken_from_the_working_folder(run, tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    result = run(dict(content=CSR, dest="handoff/web1/client.csr"))
    assert result["changed"] is True and result["dest"] == str(tmp_path / "handoff" / "web1" / "client.csr")
    assert (tmp_path / "handoff" / "web1" / "client.csr").read_text() == CSR


@pytest.mark.parametrize("target", ["elsewhere.csr", "missing.csr"])
def test_a_link_at_dest_is_refused(run, tmp_path, unchanged, target):
    (tmp_path / "elsewhere.csr").write_text(OTHER)
    dest = tmp_path / "client.csr"
    os.symlink(target, str(dest))
    for check_mode in (True, False):
        with unchanged(str(tmp_path)):
            result = run(dict(content=CSR, dest=str(dest)), check_mode=check_mode)
        assert result["failed"] is True
        assert "symbolic link" in result["msg"] and str(dest) in result["msg"]
    assert (tmp_path / "elsewhere.csr").read_text() == OTHER


def test_a_folder_at_dest_or_a_file_on_the_way_is_refused(run, tmp_path, unchanged):
    (tmp_path / "client.csr").mkdir()
    (tmp_path / "file").write_text("x")
    with unchanged(str(tmp_path)):
        result = run(dict(content=CSR, dest=str(tmp_path / "client.csr")))
        assert result["failed"] is True and "not a regular file" in result["msg"]
        result = run(dict(content=CSR, dest=str(tmp_path / "file" / "web1" / "client.csr")))
        assert result["failed"] is True and "is not a folder" in result["msg"]


def test_bad_input_is_refused_before_anything_changes(run, tmp_path, unchanged):
    dest = tmp_path / "web1" / "client.csr"
    with unchanged(str(tmp_path)):
        result = run(dict(content=CSR, dest=str(dest), mode="u=rw"))
        assert result["failed"] is True and "octal mode" in result["msg"]
        result = run(dict(content=CSR, dest=str(dest), directory_mode="rwx"))
        assert result["failed"] is True and "octal mode" in result["msg"]
        result = run(dict(content=CSR, dest=str(dest), owner="root"))
        assert result["failed"] is True and "owner" in result["msg"]
        result = run(dict(dest=str(dest)))
        assert result["failed"] is True and "content" in result["msg"]


def test_a_folder_made_meanwhile_by_another_host_is_fine(run, tmp_path, monkeypatch, handoff):
    dest = tmp_path / "web1" / "client.csr"
    real_mkdir = os.mkdir

    def racing_mkdir(path, mode=0o777):
        real_mkdir(path, mode)  # another host's task made it first
        real_mkdir(path, mode)

    monkeypatch.setattr(handoff.os, "mkdir", racing_mkdir)
    result = run(dict(content=CSR, dest=str(dest)))
    assert result["changed"] is True and dest.read_text() == CSR
