# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures shared by the unit tests (plain helpers are in helpers.py)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import tempfile

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.tests.unit.helpers import Openssl, folder_snapshot, run_module_main


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check_mode=False, diff=False) -> the module's result, plus "rc"."""

    def run(module, args, check_mode=False, diff=False):
        return run_module_main(capsys, module, args, check_mode=check_mode, diff=diff)

    return run


@pytest.fixture(scope="session")
def openssl(tmp_path_factory):
    """The openssl CLI; keys it makes are cached per spec for the session."""
    return Openssl(tmp_path_factory.mktemp("openssl-keys"))


@pytest.fixture
def unchanged():
    """with unchanged(folder, ...): fails when anything in the folders changed inside the block."""

    @contextlib.contextmanager
    def watch(*folders):
        before = [folder_snapshot(folder) for folder in folders]
        yield
        for folder, old in zip(folders, before):
            new = folder_snapshot(folder)
            assert sorted(new) == sorted(old), "files appeared or vanished in {0}".format(folder)
            assert new == old, "something changed in {0}".format(folder)

    return watch


@pytest.fixture
def shared_tmp_path():
    """A folder that other users may traverse (pytest's own tmp_path is 0700 root)."""
    folder = tempfile.mkdtemp(prefix="wise-mtls-unit-")
    os.chmod(folder, 0o711)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def as_user():
    """with as_user('nobody'): run the block with that effective user and group (the tests run as root)."""
    if os.geteuid() != 0:
        pytest.skip("switching the effective user needs root")

    @contextlib.contextmanager
    def switch(name):
        entry = pwd.getpwnam(name)
        # A working folder the user may read: AnsibleModule moves away from one it cannot read, and the
        # test process would stay there.
        cwd = os.getcwd()
        os.chdir("/")
        os.setegid(entry.pw_gid)
        os.seteuid(entry.pw_uid)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)
            os.chdir(cwd)

    return switch


@pytest.fixture
def umask_000():
    """Run the test with umask 000: file modes must not depend on the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def _fd_path(descriptor):
    try:
        return os.readlink("/proc/self/fd/{0}".format(descriptor))
    except OSError:
        return ""


@pytest.fixture
def write_spy(monkeypatch):
    """write_spy(folder) -> events: mode, owner, group and size of the file at every os.write, os.fsync and
    os.rename the safe-file layer makes in folder (the temp file, observed at the moment content goes in)."""
    events = []
    real_write, real_rename, real_fsync = os.write, os.rename, os.fsync

    def start(folder):
        folder = str(folder)

        def record(kind, info, name):
            events.append(dict(kind=kind, mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid,
                               size=info.st_size, name=name))

        def spy_write(descriptor, data):
            path = _fd_path(descriptor)
            if path.startswith(folder + os.sep):
                record("write", os.fstat(descriptor), path)
            return real_write(descriptor, data)

        def spy_fsync(descriptor):
            path = _fd_path(descriptor)
            if path.startswith(folder + os.sep) and os.path.isfile(path):
                record("fsync", os.fstat(descriptor), path)
            return real_fsync(descriptor)

        def spy_rename(source, destination):
            if str(source).startswith(folder + os.sep):
                record("rename", os.lstat(source), str(source))
            return real_rename(source, destination)

        monkeypatch.setattr(safe_file.os, "write", spy_write)
        monkeypatch.setattr(safe_file.os, "fsync", spy_fsync)
        monkeypatch.setattr(safe_file.os, "rename", spy_rename)
        return events

    return start
