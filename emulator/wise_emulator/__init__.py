# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wise mTLS API and Developer Hub emulator (tests and rehearsals, loopback only).

Run ``python -m wise_emulator --help`` with the folder holding this package on
``PYTHONPATH``, or use :class:`Emulator` from Python.
"""

from __future__ import annotations

from .api import ClientCertificate, Emulator, EmulatorError
from .hub import MAX_ACTIVE_PER_CLIENT, CertificateRecord, CsrRefused, HubError
from .policy import PolicyUnavailable
from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StateError

__version__ = "0.1.0"

__all__ = [
    "CertificateRecord",
    "ClientCertificate",
    "CsrRefused",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Emulator",
    "EmulatorError",
    "HubError",
    "MAX_ACTIVE_PER_CLIENT",
    "PolicyUnavailable",
    "StateError",
]
