# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""A folder with its owner, group and mode, and optionally its missing parents: first a read-only
plan (what is there, what would change, for check mode and diff), then applying it.

Used by wise.mtls.folder, and by wise.mtls.private_key's folder option, which makes a new host's
folder in the same module call as its key.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file


class FolderPlan(object):
    """What ensuring a folder means here and now; built by plan_folder(), read-only."""

    def __init__(self, path, steps):
        self.path = path
        # (folder, its os.stat or None when missing, wanted FileAttributes), outermost first.
        self.steps = steps
        self.created = [folder for folder, info, _wanted in steps if info is None]
        self.before, self.after = {}, {}
        for folder, info, wanted in steps:
            if info is None or _differs(info, wanted):
                self.before[folder] = _describe(info)
                self.after[folder] = _describe(info, wanted)

    @property
    def changed(self):
        return bool(self.before)

    @property
    def exists(self):
        return self.steps[-1][1] is not None


def plan_folder(path, wanted, parent_wanted=None):
    """The plan for the folder path with wanted attributes (safe_file.FileAttributes).

    With parent_wanted, its parent folder (and any missing folder above it) gets those attributes
    too; without, the parent must exist. Refuses anything on the way that is not a folder.
    """
    path = os.path.abspath(path)
    steps = [(path, _inspect(path), wanted)]
    folder = os.path.dirname(path)
    if parent_wanted is not None:
        steps.insert(0, (folder, _inspect(folder), parent_wanted))
        while steps[0][1] is None and os.path.dirname(steps[0][0]) != steps[0][0]:
            folder = os.path.dirname(steps[0][0])
            info = _inspect(folder)
            if info is not None:
                break
            steps.insert(0, (folder, None, parent_wanted))
    elif steps[0][1] is None and _inspect(folder) is None:
        raise safe_file.SafeFileError("The folder {0} does not exist; create it first, or give parent_mode.".format(
            folder))
    return FolderPlan(path, steps)


def apply_folder(plan):
    """Make what the plan found missing and set what it found different."""
    for folder, info, wanted in plan.steps:
        # A folder made at the same moment by another host's task (a shared root) is looked after
        # like one that was there.
        if info is not None or not safe_file.make_folder(folder, wanted):
            safe_file.set_folder_attributes(folder, os.stat(folder) if info is None else info, wanted)
    if plan.created:
        safe_file.fsync_folder(os.path.dirname(plan.created[0]))


def _inspect(path):
    """os.stat of the folder at path (links followed), None when missing; refuses anything but a folder."""
    safe_file.refuse_nul(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):  # ENOTDIR: a file further up, reported when reached
            return None
        raise safe_file.SafeFileError("Cannot inspect {0}: {1}.".format(path, exc.strerror)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise safe_file.SafeFileError("{0} exists but is not a folder; move it away or choose another path.".format(path))
    return info


def _differs(info, wanted):
    return ((wanted.mode is not None and stat.S_IMODE(info.st_mode) != wanted.mode)
            or (wanted.uid is not None and info.st_uid != wanted.uid)
            or (wanted.gid is not None and info.st_gid != wanted.gid))


def _describe(info, wanted=None):
    """State, mode, owner and group of a folder as people read them (as it will be, with wanted)."""
    if info is None and wanted is None:
        return dict(state="absent")
    mode = wanted.mode if wanted is not None and wanted.mode is not None else (
        stat.S_IMODE(info.st_mode) if info is not None else None)
    uid = wanted.uid if wanted is not None and wanted.uid is not None else (info.st_uid if info else os.geteuid())
    gid = wanted.gid if wanted is not None and wanted.gid is not None else (info.st_gid if info else os.getegid())
    return dict(state="directory", mode=None if mode is None else "{0:04o}".format(mode),
                owner=_name(pwd.getpwuid, uid, "pw_name"), group=_name(grp.getgrgid, gid, "gr_name"))


def _name(lookup, number, field):
    try:
        return getattr(lookup(number), field)
    except KeyError:
        return str(number)
