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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _folders as folders
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


def ensure_folder(module, params):
    plan = folders.plan_folder(
        params["path"], safe_file.FileAttributes(params["mode"], params["owner"], params["group"]),
        safe_file.FileAttributes(params["parent_mode"]) if params["parent_mode"] is not None else None)
    if not module.check_mode:
        folders.apply_folder(plan)
    result = dict(changed=plan.changed, path=plan.path, folders_created=plan.created)
    if module._diff and plan.changed:
        result["diff"] = dict(before=plan.before, after=plan.after)
    return result


if __name__ == "__main__":
    main()
