# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The safe-file layer's own guards, in-process and in small subprocesses.

- The test-only crash point cannot fire by accident: every arming that lacks one of its three
  agreeing parts (or whose token file is not private to the user) writes the file normally.
- The folder lock really excludes another process, is re-entrant in one process, and leaves
  no file behind.
- The clean-up of stale temp files removes exactly the temp files of the file being written
  (and of its backups) and nothing else: not another file's, not a link, not a folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import signal
import subprocess
import sys

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.tests.safety.safety_helpers import COLLECTIONS_PATH, read_bytes, write_file

WRITER = """
import sys
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
safe_file.write_file(None, sys.argv[1], b"new content", safe_file.FileAttributes("0600"))
"""


def write_in_subprocess(path, environment):
    """Exit status of a process that writes path with environment, run in path's folder."""
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith("WISE_MTLS_TEST_CRASH"))
    env.update(environment, PYTHONPATH=COLLECTIONS_PATH)
    return subprocess.run([sys.executable, "-c", WRITER, path], env=env, cwd=os.path.dirname(path), capture_output=True,
                          timeout=120, check=False).returncode


def armed(folder, step="after_fsync", target="client.key", token=None, file_token=None, mode=0o600, link=False,
          relative=False):
    token = token or secrets.token_hex(32)
    token_file = os.path.join(folder, "token-" + secrets.token_hex(4))
    write_file(token_file, (file_token or token) + "\n", mode)
    if link:
        os.rename(token_file, token_file + ".real")
        os.symlink(token_file + ".real", token_file)
    path = os.path.basename(token_file) if relative else token_file  # relative to the writer's folder
    return token_file, {"WISE_MTLS_TEST_CRASH_AT": "{0}@{1}".format(step, target) if target else step,
                        "WISE_MTLS_TEST_CRASH_TOKEN": token, "WISE_MTLS_TEST_CRASH_TOKEN_FILE": path}


DUD_ARMINGS = {
    "the step alone": lambda folder: (None, {"WISE_MTLS_TEST_CRASH_AT": "after_fsync"}),
    "step and token, no file": lambda folder: (None, {"WISE_MTLS_TEST_CRASH_AT": "after_fsync",
                                                      "WISE_MTLS_TEST_CRASH_TOKEN": secrets.token_hex(32),
                                                      "WISE_MTLS_TEST_CRASH_TOKEN_FILE": os.path.join(folder, "missing")}),
    "a file with another token": lambda folder: armed(folder, file_token=secrets.token_hex(32)),
    "a token file readable by others": lambda folder: armed(folder, mode=0o644),
    "a token file readable by the group": lambda folder: armed(folder, mode=0o640),
    "a token file that is a symbolic link": lambda folder: armed(folder, link=True),
    "a short token": lambda folder: armed(folder, token="short-token"),
    "a relative token file path": lambda folder: armed(folder, relative=True),
    "another step": lambda folder: armed(folder, step="no_such_step"),
    "another file name": lambda folder: armed(folder, target="other.key"),
}


@pytest.mark.parametrize("arming", sorted(DUD_ARMINGS))
def test_the_crash_point_cannot_fire_by_accident(tmp_path, arming):
    folder = str(tmp_path)
    token_file, environment = DUD_ARMINGS[arming](folder)
    assert write_in_subprocess(os.path.join(folder, "client.key"), environment) == 0
    assert read_bytes(os.path.join(folder, "client.key")) == b"new content"
    if token_file:
        assert os.path.lexists(token_file), "a dud arming consumed its token file"


def test_the_crash_point_fires_once_when_armed(tmp_path):
    folder = str(tmp_path)
    token_file, environment = armed(folder)
    assert write_in_subprocess(os.path.join(folder, "client.key"), environment) == -signal.SIGKILL
    assert not os.path.exists(os.path.join(folder, "client.key")) and not os.path.exists(token_file)
    # The same environment again: its token file is gone, so nothing fires.
    assert write_in_subprocess(os.path.join(folder, "client.key"), environment) == 0


def test_the_folder_lock_excludes_other_processes_and_leaves_no_file(tmp_path):
    folder = str(tmp_path)
    probe = ("import errno, fcntl, os, sys\n"
             "descriptor = os.open(sys.argv[1], os.O_RDONLY)\n"
             "try:\n    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError as exc:\n"
             "    sys.exit(3 if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else 4)\n")
    path = os.path.join(folder, "client.key")
    with safe_file.locked(path, os.path.join(folder, "client.csr")):
        with safe_file.locked(path):  # re-entrant: no deadlock with itself
            safe_file.write_file(None, path, b"key", safe_file.FileAttributes("0600"))
        assert subprocess.run([sys.executable, "-c", probe, folder], timeout=60, check=False).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe, folder], timeout=60, check=False).returncode == 0
    assert os.listdir(folder) == ["client.key"]
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released here too
    except OSError as exc:
        pytest.fail("the lock was not released: {0}".format(errno.errorcode.get(exc.errno)))
    finally:
        os.close(descriptor)


def test_stale_temp_files_of_the_file_written_are_removed_and_nothing_else(tmp_path):
    folder = str(tmp_path)

    def f(name):
        return os.path.join(folder, name)

    stale = [".client.key.abcd_123.tmp", ".client.key.4711.2026-01-02@03:04:05~.k9x2m0q1.tmp"]
    kept = [".client.key.ABCD1234.tmp", ".other.key.abcd1234.tmp", ".client.key.abcd1234.tmp.bak", "client.key.abcd1234.tmp",
            ".client.keyx.abcd1234.tmp", ".client.key.abcd12345.tmp"]
    for name in stale + kept:
        write_file(f(name), b"stale", 0o600)
    os.symlink(f("client.key"), f(".client.key.link1234.tmp"))
    os.mkdir(f(".client.key.folder12.tmp"))
    safe_file.write_file(None, f("client.key"), b"new", safe_file.FileAttributes("0600"))
    left = set(os.listdir(folder))
    assert not left & set(stale), left
    assert left == set(kept) | {"client.key", ".client.key.link1234.tmp", ".client.key.folder12.tmp"}
