# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wise mTLS API and Developer Hub emulator (tests and rehearsals, loopback only).

Run ``python -m wise_emulator --help`` with the folder holding this package on
``PYTHONPATH``, or use :class:`Emulator` from Python.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CertificateRecord": "registry",
    "ClientCertificate": "api",
    "CsrRefused": "hub",
    "DEFAULT_CLIENT_ID": "state",
    "DEFAULT_CLIENT_SECRET": "state",
    "Emulator": "api",
    "EmulatorError": "api",
    "HubError": "registry",
    "MAX_ACTIVE_PER_CLIENT": "registry",
    "PolicyUnavailable": "policy",
    "StateError": "state",
}


def __getattr__(name):
    # Imported on first use, so that "python -m wise_emulator" starts quickly.
    if name in _EXPORTS:
        return getattr(importlib.import_module("." + _EXPORTS[name], __name__), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


__version__ = "0.1.0"

__all__ = sorted(_EXPORTS)
