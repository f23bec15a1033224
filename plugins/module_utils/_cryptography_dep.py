# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""The one place that checks for the cryptography library and its version."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.compat.version import LooseVersion

# Ubuntu 22.04 ships 3.4.8: the oldest release this collection supports on targets.
MINIMAL_CRYPTOGRAPHY_VERSION = "3.4.8"

try:
    import cryptography

    CRYPTOGRAPHY_VERSION = LooseVersion(cryptography.__version__)
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    CRYPTOGRAPHY_VERSION = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()


def ensure_cryptography(module):
    """Fail the module cleanly when cryptography is missing or too old."""
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib(
                "cryptography >= {0}".format(MINIMAL_CRYPTOGRAPHY_VERSION),
                reason="to handle keys, CSRs and certificates",
            )
            + " On Debian and Ubuntu install python3-cryptography; on the RHEL family python3-cryptography.",
            exception=CRYPTOGRAPHY_IMPORT_ERROR,
        )
    if CRYPTOGRAPHY_VERSION < LooseVersion(MINIMAL_CRYPTOGRAPHY_VERSION):
        module.fail_json(
            msg="The cryptography library on the target is {0}; wise.mtls needs {1} or newer. "
            "Upgrade the python3-cryptography package.".format(
                CRYPTOGRAPHY_VERSION, MINIMAL_CRYPTOGRAPHY_VERSION
            )
        )
