#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the work is done on the controller by the action plugin of the same name
# (plugins/action/handoff.py), as for ansible.builtin.fetch.

from __future__ import annotations

DOCUMENTATION = r"""
module: handoff
short_description: Save content into the hand-off folder on the controller
version_added: 0.1.0
description:
  - Writes O(content) to the file O(dest) on the B(controller), for example a CSR that M(wise.mtls.csr) returned, into
    the hand-off folder from which it is uploaded to Developer Hub.
  - Runs entirely on the controller, without a module call on the host or on C(localhost), so collecting the CSRs of
    many hosts costs no round trip. The file belongs to the user running Ansible; O(ignore:become) does not apply.
  - Creates the missing folders of O(dest) with O(directory_mode). Changes the file only when its content or mode
    differ from what is asked for.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
  async:
    support: none
    description: Supports being used with the C(async) keyword.
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the content before and after, the mode when it changes, and the folders that are made.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
options:
  content:
    description:
      - What the file holds, written exactly as given (UTF-8).
      - Meant for public material such as a CSR or a certificate, never for a private key.
    type: str
    required: true
  dest:
    description:
      - Path of the file on the controller. A relative path is taken from the folder C(ansible-playbook) runs in.
    type: path
    required: true
  mode:
    description:
      - Mode of the file, as an octal string.
    type: raw
    default: '0644'
  directory_mode:
    description:
      - Mode of the folders that are made because they are missing, as an octal string. Folders that exist are left
        alone.
    type: raw
    default: '0755'
notes:
  - The file is written atomically - a temporary file in the same folder is created with mode C(0600), given its final
    mode before any content is written, synced to disk, then renamed over O(dest), and the folder is synced. Readers
    see the old file or the new one, never a mix.
  - A O(dest) that is a symbolic link or not a regular file is refused rather than written through.
seealso:
  - module: wise.mtls.csr
  - module: ansible.builtin.fetch
"""

EXAMPLES = r"""
- name: Ensure the CSR
  wise.mtls.csr:
    path: /etc/wise-mtls/sandbox/client.csr
    private_key_path: /etc/wise-mtls/sandbox/client.key
    organization: Example Payments Ltd
  register: wise_csr

- name: Collect the CSR into the hand-off folder on the controller
  wise.mtls.handoff:
    content: "{{ wise_csr.csr }}"
    dest: "{{ playbook_dir }}/wise-mtls-handoff/sandbox/{{ inventory_hostname }}/client.csr"
"""

RETURN = r"""
dest:
  description: Path of the file on the controller.
  returned: always
  type: str
  sample: /home/ops/playbooks/wise-mtls-handoff/sandbox/web1/client.csr
mode:
  description: Mode of the file, as an octal string.
  returned: always
  type: str
  sample: '0644'
folders_created:
  description: Folders that were made (or, in check mode, would be made), outermost first.
  returned: always
  type: list
  elements: str
  sample: ["/home/ops/playbooks/wise-mtls-handoff/sandbox", "/home/ops/playbooks/wise-mtls-handoff/sandbox/web1"]
"""
