# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers that hide differences between cryptography releases.

The emulator must run with cryptography 3.4.8 (Ubuntu 22.04) up to the newest
release; newer releases deprecate the naive datetime accessors.
"""

from __future__ import annotations

import datetime

UTC = datetime.timezone.utc


def utcnow():
    """Timezone-aware current time in UTC, without microseconds."""
    return datetime.datetime.now(UTC).replace(microsecond=0)


def _aware(value):
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def not_valid_before(cert):
    """Start of a certificate's validity as an aware UTC datetime."""
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:
        value = cert.not_valid_before
    return _aware(value)


def not_valid_after(cert):
    """End of a certificate's validity as an aware UTC datetime."""
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:
        value = cert.not_valid_after
    return _aware(value)


def crl_next_update(crl):
    value = getattr(crl, "next_update_utc", None)
    if value is None:
        value = crl.next_update
    return _aware(value) if value is not None else None


def isoformat(value):
    """RFC 3339 text in UTC with a trailing Z, e.g. 2025-01-31T12:00:00Z."""
    return _aware(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_isoformat(text):
    """Inverse of :func:`isoformat` (accepts a trailing Z or an offset)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return _aware(datetime.datetime.fromisoformat(text))
