# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m wise_emulator``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
