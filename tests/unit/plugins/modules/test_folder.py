# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.folder: the environment's folder and its root in one call, with exact modes whatever the umask,
check mode and diff that tell the truth, idempotence, and refusals that change nothing."""

from __future__ import annotations

import grp
import os
import pwd
import stat

from ansible_collections.wise.mtls.plugins.modules import folder
from ansible_collections.wise.mtls.tests.unit.helpers import four_runs, needs_root


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_makes_root_and_folder_with_their_own_modes(run_module, tmp_path, umask_000):
    root = tmp_path / "etc" / "wise-mtls"
    path = root / "sandbox"
    results = four_runs(run_module, folder, dict(path=str(path), mode="0700", parent_mode="0755"), str(tmp_path))
    assert mode_of(path) == 0o700 and mode_of(root) == 0o755 and mode_of(tmp_path / "etc") == 0o755
    assert results[0]["folders_created"] == results[1]["folders_created"] == [
        str(tmp_path / "etc"), str(root), str(path)]
    assert results[2]["folders_created"] == []
    diff = results[0]["diff"]
    assert diff["before"][str(path)] == dict(state="absent")
    assert diff["after"][str(path)]["state"] == "directory" and diff["after"][str(path)]["mode"] == "0700"
    assert diff["after"][str(root)]["mode"] == "0755"
    assert results[1]["diff"] == diff  # check mode announced what the real run did
    assert "diff" not in results[2]


def test_fixes_modes_of_existing_folders(run_module, tmp_path):
    root = tmp_path / "root"
    path = root / "sandbox"
    path.mkdir(parents=True)
    os.chmod(str(root), 0o700)
    os.chmod(str(path), 0o755)
    results = four_runs(run_module, folder, dict(path=str(path), mode="0750", parent_mode="0755"), str(tmp_path))
    assert mode_of(root) == 0o755 and mode_of(path) == 0o750
    before = results[1]["diff"]["before"]
    assert sorted(before) == sorted([str(root), str(path)])
    assert before[str(root)]["mode"] == "0700" and before[str(path)]["mode"] == "0755"
    assert results[1]["folders_created"] == []


def test_without_parent_mode_the_parent_is_left_alone(run_module, tmp_path):
    os.chmod(str(tmp_path), 0o711)
    path = tmp_path / "sandbox"
    four_runs(run_module, folder, dict(path=str(path)), str(tmp_path))
    assert mode_of(path) == 0o700 and mode_of(tmp_path) == 0o711


def test_a_missing_parent_without_parent_mode_is_refused(run_module, tmp_path, unchanged):
    with unchanged(str(tmp_path)):
        result = run_module(folder, dict(path=str(tmp_path / "root" / "sandbox")))
    assert result["failed"] and "does not exist" in result["msg"] and str(tmp_path / "root") in result["msg"]


def test_a_file_in_the_way_is_refused(run_module, tmp_path, unchanged):
    (tmp_path / "root").write_text("x")
    with unchanged(str(tmp_path)):
        for path in (tmp_path / "root", tmp_path / "root" / "sandbox"):
            result = run_module(folder, dict(path=str(path), parent_mode="0755"))
            assert result["failed"] and "is not a folder" in result["msg"]


def test_links_on_the_way_are_followed(run_module, tmp_path):
    (tmp_path / "data").mkdir()
    os.symlink("data", str(tmp_path / "root"))
    result = run_module(folder, dict(path=str(tmp_path / "root" / "sandbox"), parent_mode="0755"))
    assert result["changed"] and os.path.isdir(str(tmp_path / "data" / "sandbox"))
    assert os.path.islink(str(tmp_path / "root")) and mode_of(tmp_path / "data") == 0o755


def test_bad_input_is_refused_before_anything_changes(run_module, tmp_path, unchanged):
    with unchanged(str(tmp_path)):
        result = run_module(folder, dict(path=str(tmp_path / "a" / "b"), mode="u=rwx", parent_mode="0755"))
        assert result["failed"] and "octal mode" in result["msg"]
        result = run_module(folder, dict(path=str(tmp_path / "a" / "b"), parent_mode="rwx"))
        assert result["failed"] and "octal mode" in result["msg"]
        result = run_module(folder, dict(path=str(tmp_path / "a"), owner="no-such-user-wise"))
        assert result["failed"] and "does not exist on this host" in result["msg"]


@needs_root
def test_owner_and_group_of_the_folder_only(run_module, shared_tmp_path):
    path = os.path.join(shared_tmp_path, "root", "sandbox")
    results = four_runs(run_module, folder, dict(path=path, owner="daemon", group="nogroup", mode="0750",
                                                 parent_mode="0755"), shared_tmp_path)
    info = os.stat(path)
    assert (info.st_uid, info.st_gid) == (pwd.getpwnam("daemon").pw_uid, grp.getgrnam("nogroup").gr_gid)
    assert stat.S_IMODE(info.st_mode) == 0o750
    root = os.stat(os.path.dirname(path))
    assert (root.st_uid, root.st_gid, stat.S_IMODE(root.st_mode)) == (0, 0, 0o755)
    assert results[0]["diff"]["after"][path]["owner"] == "daemon"


def test_a_folder_made_at_the_same_moment_by_another_run_is_fine(run_module, tmp_path, monkeypatch, umask_000):
    # Hosts sharing a root (local hosts, or one machine in several inventories) make it at the same time:
    # here another run makes it (0700, its mode before its chmod) between this run's look and its mkdir.
    root, real_mkdir = tmp_path / "root", os.mkdir

    def mkdir_after_the_other_run(path, mode=0o777):
        if str(path) == str(root) and not root.exists():
            real_mkdir(path, 0o700)
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", mkdir_after_the_other_run)
    result = run_module(folder, dict(path=str(root / "web3"), parent_mode="0755"))
    assert not result.get("failed"), result.get("msg")
    assert mode_of(root) == 0o755 and mode_of(root / "web3") == 0o700
