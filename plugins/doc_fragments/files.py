# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # Owner and group of a file written through the collection's safe-write path.
    DOCUMENTATION = r"""
options:
  owner:
    description:
      - Name or numeric ID of the user that should own the file.
      - When not set, a new file belongs to the user the module runs as and an existing file keeps its owner.
    type: str
  group:
    description:
      - Name or numeric ID of the group that should own the file.
      - When not set, a new file gets the primary group of the user the module runs as and an existing file keeps its group.
    type: str
notes:
  - Files are written atomically - a temporary file in the same folder is created with mode C(0600), given its final
    owner, group, mode and SELinux context before any content is written, synced to disk, then renamed over the
    destination. Readers see the old file or the new one, never a mix.
  - A destination that is a symbolic link or not a regular file is refused rather than written through. The one
    exception is the rotation layout of M(wise.mtls.generation) - C(<folder>/client.key) linking to C(live/client.key)
    and C(<folder>/live) to C(generations/<id>), all inside the folder - whose links lead to the live generation's file,
    which is read and written instead.
  - The parent folder must exist; the module does not create folders.
"""
