# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator listens on loopback only (standard library only)."""

from __future__ import annotations

import ipaddress


class NotLoopbackError(ValueError):
    """An address that is not on loopback."""


def loopback_address(bind):
    """Resolve ``bind`` to a loopback IP address text, or raise NotLoopbackError."""
    if bind == "localhost":
        bind = "127.0.0.1"
    try:
        address = ipaddress.ip_address(bind.strip("[]"))
    except ValueError:
        raise NotLoopbackError("--bind must be a loopback IP address (127.0.0.1 or ::1), not %r" % bind) from None
    if not address.is_loopback:
        raise NotLoopbackError(
            "refusing to listen on %s: the emulator only listens on loopback (127.0.0.0/8, ::1)" % bind)
    return str(address)
