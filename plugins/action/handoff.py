# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.handoff: write content into the hand-off folder on the controller, without a module call.

The write goes through the collection's safe-file layer (module_utils/_safe_file.py, which
imports nothing from Ansible), as every file the modules write on a host: a temp file in the
same folder, fsync, rename, folder fsync; a symbolic link at the destination is refused.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file

ARGUMENT_SPEC = dict(
    content=dict(type="str", required=True),
    dest=dict(type="path", required=True),
    mode=dict(type="raw", default="0644"),
    directory_mode=dict(type="raw", default="0755"),
)


def _octal(mode):
    return "{0:04o}".format(mode)


def missing_folders(folder):
    """The folders on the way to folder that do not exist yet, outermost first."""
    missing = []
    while True:
        try:
            info = os.stat(folder)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # ENOTDIR: a file on the way, found further up
                raise safe_file.SafeFileError("Cannot inspect {0}: {1}.".format(folder, exc.strerror)) from None
        else:
            if not stat.S_ISDIR(info.st_mode):
                raise safe_file.SafeFileError("{0} exists but is not a folder; move it away or choose another "
                                              "hand-off folder.".format(folder))
            break
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return list(reversed(missing))


def hand_off(dest, content, mode="0644", directory_mode="0755", check_mode=False):
    """Ensure dest holds content with mode; returns (changed, folders made, diffs). Raises SafeFileError."""
    dest = os.path.abspath(dest)
    wanted = safe_file.FileAttributes(mode=mode)
    folder_mode = safe_file.parse_mode(directory_mode)
    data = content.encode("utf-8")
    folders = missing_folders(os.path.dirname(dest))
    diffs = [dict(before=dict(path=folder, state="absent"), after=dict(path=folder, state="directory",
                                                                       mode=_octal(folder_mode)))
             for folder in folders]
    current = safe_file.FileState(dest) if not folders else None  # refuses a link or a non-regular file
    old = current.read() if current is not None else None
    if old != data:
        diffs.append(dict(before_header=dest, after_header=dest, before=to_text(old or b""),
                          after=content))
    if current is not None and current.exists and current.mode != wanted.mode:
        diffs.append(dict(before=dict(path=dest, mode=_octal(current.mode)),
                          after=dict(path=dest, mode=_octal(wanted.mode))))
    changed = bool(diffs)
    if changed and not check_mode:
        for folder in folders:  # one made at the same moment by another host's task is fine
            safe_file.make_folder(folder, safe_file.FileAttributes(folder_mode))
        with safe_file.locked(dest):
            if safe_file.FileState(dest).read() != data:
                safe_file.write_file(None, dest, data, wanted)
            else:
                safe_file.apply_attributes(dest, wanted)
    return changed, folders, diffs


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # not used: nothing goes to the host
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dest = os.path.abspath(args["dest"])  # relative: from the folder ansible-playbook runs in
        try:
            changed, folders, diffs = hand_off(dest, args["content"], mode=args["mode"],
                                               directory_mode=args["directory_mode"],
                                               check_mode=self._task.check_mode)
        except safe_file.SafeFileError as exc:
            result.update(failed=True, msg=str(exc), dest=dest)
            return result
        result.update(changed=changed, dest=dest, mode=_octal(safe_file.parse_mode(args["mode"])),
                      folders_created=folders)
        if self._task.diff and diffs:
            result["diff"] = diffs
        return result
