# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The safe-file layer: real files, real modes and owners; failures injected only where the
machine cannot produce them on demand (a full disk, a failing rename)."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import stat

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.tests.unit.helpers import file_mode, needs_root, read_bytes, write_bytes

CONTENT = b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 64 * 40 + b"\n-----END PRIVATE KEY-----\n"
DAEMON_GID = grp.getgrnam("daemon").gr_gid
NOGROUP_GID = grp.getgrnam("nogroup").gr_gid


@pytest.fixture
def spy(write_spy, tmp_path):
    return write_spy(tmp_path)


# ---------------------------------------------------------------- FileState

def test_absent_file(tmp_path):
    state = safe_file.FileState(str(tmp_path / "missing"))
    assert not state.exists and state.read() is None and state.mode is None
    assert safe_file.describe(state) == {}


def test_regular_file(tmp_path):
    path = write_bytes(tmp_path / "f", b"data", 0o640)
    state = safe_file.FileState(path)
    assert state.exists and state.mode == 0o640 and state.uid == os.geteuid()
    assert state.read() == b"data"


def test_symlink_is_refused_and_names_its_target(tmp_path):
    target = write_bytes(tmp_path / "real", b"data")
    os.symlink(target, str(tmp_path / "link"))
    with pytest.raises(safe_file.SafeFileError) as error:
        safe_file.FileState(str(tmp_path / "link"))
    message = str(error.value)
    assert "symbolic link" in message and target in message and "remove the link" in message
    # Readers that may follow links (the key a CSR is made for) do so on request.
    assert safe_file.FileState(str(tmp_path / "link"), follow=True).read() == b"data"


def test_dangling_symlink_is_refused(tmp_path):
    os.symlink(str(tmp_path / "nowhere"), str(tmp_path / "link"))
    with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
        safe_file.FileState(str(tmp_path / "link"))


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_non_regular_files_are_refused(tmp_path, kind):
    path = str(tmp_path / kind)
    if kind == "directory":
        os.mkdir(path)
    else:
        os.mkfifo(path)
    with pytest.raises(safe_file.SafeFileError) as error:
        safe_file.FileState(path)
    assert "not a regular file" in str(error.value) and "choose another path" in str(error.value)


def test_huge_files_are_not_read(tmp_path):
    path = write_bytes(tmp_path / "big", b"x" * 2048)
    with pytest.raises(safe_file.SafeFileError, match="larger than 1024 bytes"):
        safe_file.FileState(path).read(limit=1024)


@needs_root
def test_unreadable_file(shared_tmp_path, as_user):
    path = write_bytes(os.path.join(shared_tmp_path, "key"), b"secret", 0o600)
    with as_user("nobody"):
        state = safe_file.FileState(path)
        with pytest.raises(safe_file.SafeFileError) as error:
            state.read()
    assert "Permission denied" in str(error.value) and "Check its permissions" in str(error.value)


def test_attribute_changes(tmp_path):
    path = write_bytes(tmp_path / "f", b"x", 0o600)
    state = safe_file.FileState(path)
    assert state.attribute_changes(safe_file.FileAttributes()) == {}
    assert state.attribute_changes(safe_file.FileAttributes("0600", os.geteuid(), os.getegid())) == {}
    assert state.attribute_changes(safe_file.FileAttributes("0640")) == {"mode": ("0600", "0640")}
    assert state.attribute_changes(safe_file.FileAttributes(group="nogroup")) == {"group": (os.getegid(), NOGROUP_GID)}
    assert state.attributes_differ(safe_file.FileAttributes(owner="nobody"))


# ---------------------------------------------------------------- attributes

@pytest.mark.parametrize("given, expected", [("0600", 0o600), ("600", 0o600), ("0640", 0o640), (0o644, 0o644),
                                             (" 0600 ", 0o600), (None, None), ("0o600", 0o600)])
def test_parse_mode(given, expected):
    assert safe_file.parse_mode(given) == expected


@pytest.mark.parametrize("given, words", [("u=rw", "not an octal mode"), ("0900", "not an octal mode"),
                                          ("17777", "out of range")])
def test_bad_modes_say_how_to_write_one(given, words):
    with pytest.raises(safe_file.SafeFileError) as error:
        safe_file.parse_mode(given)
    assert words in str(error.value) and "'0600'" in str(error.value)


def test_owner_and_group_resolution():
    attributes = safe_file.FileAttributes("0640", "daemon", "nogroup")
    assert (attributes.mode, attributes.uid, attributes.gid) == (0o640, pwd.getpwnam("daemon").pw_uid, NOGROUP_GID)
    attributes = safe_file.FileAttributes(None, "4321", 4321)
    assert (attributes.uid, attributes.gid) == (4321, 4321)
    attributes = safe_file.FileAttributes(None, "", None)
    assert (attributes.mode, attributes.uid, attributes.gid) == (None, None, None)


@pytest.mark.parametrize("owner, group, words", [
    ("no-such-user-wise", None, "The owner 'no-such-user-wise' does not exist on this host"),
    (None, "no-such-group-wise", "The group 'no-such-group-wise' does not exist on this host"),
])
def test_unknown_owner_or_group(owner, group, words):
    with pytest.raises(safe_file.SafeFileError) as error:
        safe_file.FileAttributes("0600", owner, group)
    assert words in str(error.value) and "create it first" in str(error.value)


def test_missing_parent(tmp_path):
    with pytest.raises(safe_file.SafeFileError) as error:
        safe_file.check_parent(str(tmp_path / "missing" / "client.key"))
    assert str(tmp_path / "missing") in str(error.value) and "create it first" in str(error.value)
    assert safe_file.check_parent(str(tmp_path / "client.key")) == str(tmp_path)


# ---------------------------------------------------------------- write_file

def test_new_file_has_its_final_mode_from_the_first_byte(tmp_path, umask_000, spy):
    path = str(tmp_path / "client.key")
    safe_file.write_file(None, path, CONTENT, safe_file.FileAttributes("0600"))
    assert read_bytes(path) == CONTENT and file_mode(path) == 0o600
    writes = [event for event in spy if event["kind"] == "write"]
    assert writes, "write_file did not write through os.write"
    assert writes[0]["size"] == 0
    for event in spy:
        assert event["mode"] == 0o600, event
        assert os.path.dirname(event["name"]) == str(tmp_path)  # the temp file sits beside its destination
        assert event["name"] != path
    assert [event["kind"] for event in spy][-2:] == ["fsync", "rename"]
    assert os.listdir(str(tmp_path)) == ["client.key"]


@needs_root
def test_owner_group_and_mode_are_set_before_any_byte(tmp_path, umask_000, spy):
    path = str(tmp_path / "client.key")
    safe_file.write_file(None, path, CONTENT, safe_file.FileAttributes("0640", "nobody", "daemon"))
    info = os.stat(path)
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o640, pwd.getpwnam("nobody").pw_uid, DAEMON_GID)
    assert spy
    for event in spy:
        assert (event["mode"], event["uid"], event["gid"]) == (0o640, pwd.getpwnam("nobody").pw_uid, DAEMON_GID)


def test_unset_attributes_keep_those_of_the_existing_file(tmp_path):
    path = write_bytes(tmp_path / "f", b"old", 0o640)
    safe_file.write_file(None, path, b"new", safe_file.FileAttributes())
    assert read_bytes(path) == b"new" and file_mode(path) == 0o640
    new_path = str(tmp_path / "g")
    safe_file.write_file(None, new_path, b"new", safe_file.FileAttributes())
    assert file_mode(new_path) == 0o600


def test_symlink_destination_is_refused_and_its_target_untouched(tmp_path, unchanged):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = write_bytes(elsewhere / "target", b"keep me", 0o644)
    folder = tmp_path / "keys"
    folder.mkdir()
    os.symlink(target, str(folder / "client.key"))
    with unchanged(str(elsewhere), str(folder)):
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.write_file(None, str(folder / "client.key"), CONTENT, safe_file.FileAttributes("0600"))


def test_directory_destination_is_refused(tmp_path, unchanged):
    (tmp_path / "client.key").mkdir()
    with unchanged(str(tmp_path)):
        with pytest.raises(safe_file.SafeFileError, match="not a regular file"):
            safe_file.write_file(None, str(tmp_path / "client.key"), CONTENT, safe_file.FileAttributes("0600"))


def test_missing_parent_folder_is_refused(tmp_path, unchanged):
    with unchanged(str(tmp_path)):
        with pytest.raises(safe_file.SafeFileError, match="does not exist"):
            safe_file.write_file(None, str(tmp_path / "missing" / "client.key"), CONTENT, safe_file.FileAttributes())


@needs_root
def test_folder_where_the_user_cannot_create_files(shared_tmp_path, as_user, unchanged):
    with unchanged(shared_tmp_path):
        with as_user("nobody"):
            with pytest.raises(safe_file.SafeFileError) as error:
                safe_file.write_file(None, os.path.join(shared_tmp_path, "client.key"), CONTENT,
                                     safe_file.FileAttributes())
    assert "Cannot create a file in {0}".format(shared_tmp_path) in str(error.value)


def failing_write(monkeypatch, exception, after_bytes=100):
    """os.write that writes after_bytes of the content, then raises exception."""
    real_write = os.write
    written = []

    def write(descriptor, data):
        if sum(written) >= after_bytes:
            raise exception
        count = real_write(descriptor, bytes(data[:after_bytes - sum(written)]))
        written.append(count)
        return count

    monkeypatch.setattr(safe_file.os, "write", write)
    return written


def test_a_write_failing_midway_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, unchanged):
    path = write_bytes(tmp_path / "client.key", b"the old key", 0o600)
    written = failing_write(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(safe_file.SafeFileError) as error:
        safe_file.write_file(None, path, CONTENT, safe_file.FileAttributes("0600"))
    assert sum(written) == 100  # it failed midway, not before starting
    assert "Cannot write {0}: No space left on device".format(path) in str(error.value)
    assert read_bytes(path) == b"the old key" and file_mode(path) == 0o600
    assert os.listdir(str(tmp_path)) == ["client.key"]


def test_an_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    path = write_bytes(tmp_path / "client.key", b"the old key", 0o600)
    failing_write(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        safe_file.write_file(None, path, CONTENT, safe_file.FileAttributes("0600"))
    assert read_bytes(path) == b"the old key"
    assert os.listdir(str(tmp_path)) == ["client.key"]


@pytest.mark.parametrize("call", ["rename", "fsync", "fchmod"])
def test_other_failures_keep_the_old_file(tmp_path, monkeypatch, call):
    path = write_bytes(tmp_path / "client.key", b"the old key", 0o600)

    def fail(*_args):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(safe_file.os, call, fail)
    with pytest.raises(safe_file.SafeFileError, match="Input/output error"):
        safe_file.write_file(None, path, CONTENT, safe_file.FileAttributes("0600"))
    monkeypatch.undo()
    assert read_bytes(path) == b"the old key"
    assert os.listdir(str(tmp_path)) == ["client.key"]


class FakeSelinuxModule(object):
    """SELinux is not enabled here: stands in for AnsibleModule's SELinux helpers."""

    def __init__(self):
        self.calls = []

    def selinux_enabled(self):
        return True

    def selinux_default_context(self, path):
        return ["system_u", "object_r", "etc_t", "s0"]

    def selinux_context(self, path):
        return ["system_u", "object_r", "cert_t", "s0"]

    def set_context_if_different(self, path, context, changed):
        self.calls.append((path, list(context), os.stat(path).st_size))
        return changed


def test_selinux_context_is_set_on_the_temp_file_before_content(tmp_path):
    module = FakeSelinuxModule()
    path = str(tmp_path / "client.key")
    safe_file.write_file(module, path, CONTENT, safe_file.FileAttributes("0600"))
    ((temp_path, context, size),) = module.calls
    assert temp_path != path and os.path.dirname(temp_path) == str(tmp_path)
    assert context == ["system_u", "object_r", "etc_t", "s0"] and size == 0
    safe_file.write_file(module, path, CONTENT, safe_file.FileAttributes("0600"))
    assert module.calls[1][1] == ["system_u", "object_r", "cert_t", "s0"]


# ---------------------------------------------------------------- attributes in place, backups, removal

def test_apply_attributes(tmp_path):
    path = write_bytes(tmp_path / "f", b"x", 0o600)
    assert safe_file.apply_attributes(path, safe_file.FileAttributes("0600")) is False
    assert safe_file.apply_attributes(path, safe_file.FileAttributes("0640", group="nogroup")) is True
    assert file_mode(path) == 0o640 and os.stat(path).st_gid == NOGROUP_GID
    assert read_bytes(path) == b"x"


def test_apply_attributes_refuses_a_symlink(tmp_path, unchanged):
    target = write_bytes(tmp_path / "real", b"x", 0o644)
    os.symlink(target, str(tmp_path / "link"))
    with unchanged(str(tmp_path)):
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.apply_attributes(str(tmp_path / "link"), safe_file.FileAttributes("0600"))


@needs_root
@pytest.mark.parametrize("old_mode, new_mode", [(0o640, 0o600), (0o640, 0o640), (0o600, 0o640)])
def test_a_new_group_never_gets_more_than_both_modes_allow(tmp_path, monkeypatch, old_mode, new_mode):
    """Moving a key from one service group to another must not let the new group read it under the old mode."""
    path = write_bytes(tmp_path / "client.key", b"x", old_mode)
    os.chown(path, -1, DAEMON_GID)
    seen = []
    real_lchown = os.lchown

    def spy_lchown(target, uid, gid):
        seen.append(file_mode(target))
        return real_lchown(target, uid, gid)

    monkeypatch.setattr(safe_file.os, "lchown", spy_lchown)
    safe_file.apply_attributes(path, safe_file.FileAttributes("{0:o}".format(new_mode), group="nogroup"))
    assert seen == [old_mode & new_mode]
    assert file_mode(path) == new_mode and os.stat(path).st_gid == NOGROUP_GID


@needs_root
def test_backup_copies_content_owner_and_group_with_the_mode_asked(tmp_path):
    path = write_bytes(tmp_path / "client.key", b"the old key", 0o640)
    os.chown(path, -1, DAEMON_GID)
    backup = safe_file.backup_file(None, path, mode=0o600)
    assert re.match(re.escape(path) + r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$", backup)
    assert read_bytes(backup) == b"the old key" and file_mode(backup) == 0o600
    assert os.stat(backup).st_gid == DAEMON_GID
    assert read_bytes(path) == b"the old key" and file_mode(path) == 0o640
    second = safe_file.backup_file(None, str(tmp_path / "client.key"))
    assert file_mode(second) == 0o640
    assert safe_file.backup_file(None, str(tmp_path / "missing")) is None


def test_remove_file(tmp_path):
    path = write_bytes(tmp_path / "f", b"x")
    assert safe_file.remove_file(path) is True
    assert not os.path.exists(path)
    assert safe_file.remove_file(path) is False


def test_remove_file_refuses_a_symlink(tmp_path, unchanged):
    target = write_bytes(tmp_path / "real", b"x")
    os.symlink(target, str(tmp_path / "link"))
    with unchanged(str(tmp_path)):
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.remove_file(str(tmp_path / "link"))


# ---------------------------------------------------------------- descriptions

def test_describe(tmp_path):
    path = write_bytes(tmp_path / "f", b"x", 0o640)
    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    assert safe_file.describe(safe_file.FileState(path)) == {"mode": "0640", "owner": user, "group": group}


@needs_root
def test_describe_unnamed_owner(tmp_path):
    path = write_bytes(tmp_path / "f", b"x", 0o600)
    os.chown(path, 54321, 54321)
    assert safe_file.describe(safe_file.FileState(path)) == {"mode": "0600", "owner": "54321", "group": "54321"}


def test_describe_planned(tmp_path):
    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    absent = safe_file.FileState(str(tmp_path / "missing"))
    assert safe_file.describe_planned(absent, safe_file.FileAttributes()) == {
        "mode": "0600", "owner": user, "group": group}
    assert safe_file.describe_planned(absent, safe_file.FileAttributes("0640", group="daemon")) == {
        "mode": "0640", "owner": user, "group": "daemon"}
    existing = safe_file.FileState(write_bytes(tmp_path / "f", b"x", 0o644))
    assert safe_file.describe_planned(existing, safe_file.FileAttributes()) == {
        "mode": "0644", "owner": user, "group": group}
