# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The safe-file layer follows the links of the rotation layout, and no other link.

F/client.key -> live/client.key and F/live -> generations/<id> are followed: reads and writes go to
the live generation's file, and the links stay links. Every other shape - another link text, a link
that leaves F, a generations folder or generation that is itself a link, an id with a dot - is refused
exactly as before, and nothing is written.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.tests.unit.helpers import file_mode, read_bytes, write_bytes

OLD, NEW = b"old generation\n", b"new generation\n"


@pytest.fixture
def folder(tmp_path):
    """F with two generations, 'a' live; client.key and client.pem links through live."""
    for generation, content in (("a", OLD), ("b", NEW)):
        os.makedirs(str(tmp_path / "generations" / generation))
        write_bytes(tmp_path / "generations" / generation / "client.key", content, 0o600)
        write_bytes(tmp_path / "generations" / generation / "client.pem", content, 0o644)
    os.symlink("generations/a", str(tmp_path / "live"))
    for name in ("client.key", "client.pem"):
        os.symlink("live/" + name, str(tmp_path / name))
    return tmp_path


def is_link(path):
    return stat.S_ISLNK(os.lstat(str(path)).st_mode)


def test_a_rotation_link_is_read_through(folder):
    state = safe_file.FileState(str(folder / "client.key"))
    assert state.exists and state.read() == OLD and state.mode == 0o600
    assert state.path == str(folder / "client.key")
    assert state.real_path == str(folder / "generations" / "a" / "client.key")
    assert safe_file.real_path(str(folder / "client.pem")) == str(folder / "generations" / "a" / "client.pem")
    assert safe_file.real_path(str(folder / "generations" / "a" / "client.pem")) == str(folder / "generations" / "a" / "client.pem")


def test_a_write_through_a_rotation_link_replaces_the_live_generations_file(folder):
    safe_file.write_file(None, str(folder / "client.pem"), b"renewed\n", safe_file.FileAttributes(0o640))
    assert is_link(folder / "client.pem") and os.readlink(str(folder / "client.pem")) == "live/client.pem"
    assert read_bytes(folder / "generations" / "a" / "client.pem") == b"renewed\n"
    assert file_mode(folder / "generations" / "a" / "client.pem") == 0o640
    assert read_bytes(folder / "generations" / "b" / "client.pem") == NEW
    assert sorted(os.listdir(str(folder / "generations" / "a"))) == ["client.key", "client.pem"]  # no temp file left


def test_a_switched_link_writes_to_the_new_live_generation(folder):
    os.unlink(str(folder / "live"))
    os.symlink("generations/b", str(folder / "live"))
    safe_file.write_file(None, str(folder / "client.key"), b"key b\n", safe_file.FileAttributes())
    assert read_bytes(folder / "generations" / "b" / "client.key") == b"key b\n"
    assert read_bytes(folder / "generations" / "a" / "client.key") == OLD
    assert file_mode(folder / "generations" / "b" / "client.key") == 0o600  # unset attributes keep the file's


def test_a_file_the_live_generation_lacks_is_absent_and_a_write_creates_it_there(folder):
    os.symlink("live/client.p12", str(folder / "client.p12"))
    state = safe_file.FileState(str(folder / "client.p12"))
    assert not state.exists and state.read() is None
    safe_file.write_file(None, str(folder / "client.p12"), b"p12\n", safe_file.FileAttributes(0o600))
    assert read_bytes(folder / "generations" / "a" / "client.p12") == b"p12\n"
    assert is_link(folder / "client.p12")


def test_attributes_and_removal_act_on_the_live_generations_file(folder):
    assert safe_file.apply_attributes(str(folder / "client.pem"), safe_file.FileAttributes(0o600)) is True
    assert file_mode(folder / "generations" / "a" / "client.pem") == 0o600
    assert os.lstat(str(folder / "client.pem")).st_mode & 0o777 == 0o777  # the link itself is untouched
    assert safe_file.remove_file(str(folder / "client.pem")) is True
    assert not os.path.exists(str(folder / "generations" / "a" / "client.pem"))
    assert is_link(folder / "client.pem")
    assert safe_file.remove_file(str(folder / "client.pem")) is False


def test_follow_still_follows_any_link(folder):
    state = safe_file.FileState(str(folder / "client.pem"), follow=True)
    assert state.exists and state.read() == OLD


def _other_link_text(folder):
    os.unlink(str(folder / "client.key"))
    os.symlink("live/client.pem", str(folder / "client.key"))


def _absolute_link(folder):
    os.unlink(str(folder / "client.key"))
    os.symlink(str(folder / "live" / "client.key"), str(folder / "client.key"))


def _live_leaves_the_folder(folder):
    os.makedirs(str(folder.parent / "elsewhere"))
    write_bytes(folder.parent / "elsewhere" / "client.key", b"elsewhere\n", 0o600)
    os.unlink(str(folder / "live"))
    os.symlink("../elsewhere", str(folder / "live"))


def _live_climbs_out(folder):
    os.unlink(str(folder / "live"))
    os.symlink("generations/../generations/b", str(folder / "live"))


def _live_one_level_too_deep(folder):
    os.makedirs(str(folder / "generations" / "a" / "x"))
    os.unlink(str(folder / "live"))
    os.symlink("generations/a/x", str(folder / "live"))


def _generation_is_a_link(folder):
    os.symlink(str(folder / "generations" / "b"), str(folder / "generations" / "c"))
    os.unlink(str(folder / "live"))
    os.symlink("generations/c", str(folder / "live"))


def _generations_folder_is_a_link(folder):
    os.rename(str(folder / "generations"), str(folder / "real-generations"))
    os.symlink("real-generations", str(folder / "generations"))


def _id_with_a_dot(folder):
    os.rename(str(folder / "generations" / "b"), str(folder / "generations" / "b.c"))
    os.unlink(str(folder / "live"))
    os.symlink("generations/b.c", str(folder / "live"))


def _live_is_a_folder(folder):
    os.unlink(str(folder / "live"))
    os.makedirs(str(folder / "live"))
    write_bytes(folder / "live" / "client.key", b"plain folder\n", 0o600)


@pytest.mark.parametrize("breakage", [
    _other_link_text, _absolute_link, _live_leaves_the_folder, _live_climbs_out, _live_one_level_too_deep,
    _generation_is_a_link, _generations_folder_is_a_link, _id_with_a_dot, _live_is_a_folder,
], ids=lambda function: function.__name__.strip("_"))
def test_any_other_link_shape_is_refused_and_nothing_is_written(folder, breakage, unchanged):
    breakage(folder)
    path = str(folder / "client.key")
    assert safe_file.generation_link_target(path) is None
    with unchanged(folder.parent):
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.FileState(path)
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.write_file(None, path, b"must not land anywhere\n", safe_file.FileAttributes(0o600))
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.apply_attributes(path, safe_file.FileAttributes(0o640))
        with pytest.raises(safe_file.SafeFileError, match="symbolic link"):
            safe_file.remove_file(path)
