#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: folder
short_description: Ensure the folder for the Wise client files, and its parent, in one call
version_added: 0.1.0
description:
  - Ensures that O(path) is a folder with the owner, group and mode asked for, making it when it is missing.
  - With O(parent_mode), also ensures that its parent folder (the root that holds one folder per environment) has
    that mode, making it and any missing folder above it with that mode. Two folders with different modes cost one
    module call instead of two M(ansible.builtin.file) tasks.
  - Links on the way are followed, as M(ansible.builtin.file) does for a folder.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows, for each folder, whether it exists and its mode, owner and group before and after.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
options:
  path:
    description:
      - The folder.
    type: path
    required: true
  mode:
    description:
      - Mode of the folder, as an octal string.
    type: raw
    default: '0700'
  owner:
    description:
      - Name or numeric ID of the user that should own the folder.
      - When not set, a new folder belongs to the user the module runs as and an existing folder keeps its owner.
    type: str
  group:
    description:
      - Name or numeric ID of the group that should own the folder.
      - When not set, a new folder gets the primary group of the user the module runs as and an existing folder keeps
        its group.
    type: str
  parent_mode:
    description:
      - Mode, as an octal string, that the parent folder of O(path) must have. It is made when missing (with any
        missing folder above it, all with this mode), and given this mode when it has another one. Its owner and
        group are left alone.
      - When not set, the parent folder must exist and is not looked at.
    type: raw
seealso:
  - module: ansible.builtin.file
  - module: wise.mtls.private_key
"""

EXAMPLES = r"""
- name: Ensure the folder for the sandbox's Wise client files, under a root every service may pass through
  wise.mtls.folder:
    path: /etc/wise-mtls/sandbox
    owner: root
    group: payments
    mode: "0750"
    parent_mode: "0755"
"""

RETURN = r"""
path:
  description: Path of the folder.
  returned: always
  type: str
  sample: /etc/wise-mtls/sandbox
folders_created:
  description: Folders that were made (or, in check mode, would be made), outermost first.
  returned: always
  type: list
  elements: str
  sample: ["/etc/wise-mtls", "/etc/wise-mtls/sandbox"]
"""

import errno
import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            mode=dict(type="raw", default="0700"),
            owner=dict(type="str"),
            group=dict(type="str"),
            parent_mode=dict(type="raw"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        module.exit_json(**ensure_folder(module, params))
    except safe_file.SafeFileError as exc:
        module.fail_json(msg=to_native(exc), path=params["path"])


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


def ensure_folder(module, params):
    path = os.path.abspath(params["path"])
    wanted = safe_file.FileAttributes(params["mode"], params["owner"], params["group"])
    parent_wanted = safe_file.FileAttributes(params["parent_mode"]) if params["parent_mode"] is not None else None

    # (path, current stat or None, wanted attributes), outermost first: what this call looks after.
    plan = [(path, _inspect(path), wanted)]
    folder = os.path.dirname(path)
    if parent_wanted is not None:
        plan.insert(0, (folder, _inspect(folder), parent_wanted))
        while plan[0][1] is None and os.path.dirname(plan[0][0]) != plan[0][0]:
            folder = os.path.dirname(plan[0][0])
            info = _inspect(folder)
            if info is not None:
                break
            plan.insert(0, (folder, None, parent_wanted))
    elif plan[0][1] is None and _inspect(folder) is None:
        raise safe_file.SafeFileError("The folder {0} does not exist; create it first, or give parent_mode.".format(
            folder))

    created, before, after = [], {}, {}
    for folder, info, attributes in plan:
        if info is None:
            created.append(folder)
        changes = info is None or _differs(info, attributes)
        if changes:
            before[folder] = _describe(info)
            after[folder] = _describe(info, attributes)
    if not module.check_mode:
        for folder, info, attributes in plan:
            # A folder made at the same moment by another host's task (a shared root) is looked after
            # like one that was there.
            if info is not None or not safe_file.make_folder(folder, attributes):
                safe_file.set_folder_attributes(folder, os.stat(folder) if info is None else info, attributes)
        if created:
            safe_file.fsync_folder(os.path.dirname(created[0]))
    result = dict(changed=bool(before), path=path, folders_created=created)
    if module._diff and before:
        result["diff"] = dict(before=before, after=after)
    return result


def _differs(info, wanted):
    return ((wanted.mode is not None and stat.S_IMODE(info.st_mode) != wanted.mode)
            or (wanted.uid is not None and info.st_uid != wanted.uid)
            or (wanted.gid is not None and info.st_gid != wanted.gid))


if __name__ == "__main__":
    main()
