# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry of issued certificates: records, revocation, listing.

Standard library only, so that the CLI commands that only read or flip
records start quickly; signing lives in :mod:`wise_emulator.hub`.
"""

from __future__ import annotations

from ._compat import isoformat, parse_isoformat, utcnow

MAX_ACTIVE_PER_CLIENT = 10
DEFAULT_VALIDITY_DAYS = 365
MAX_NAME_LENGTH = 100


class HubError(Exception):
    """Developer Hub refused the request."""


class CertificateRecord:
    """One issued certificate as kept in the registry."""

    FIELDS = ("name", "client_id", "serial", "fingerprint_sha256", "not_before", "not_after",
              "subject", "public_key", "issued_at", "revoked_at", "pem")

    def __init__(self, **values):
        for field in self.FIELDS:
            setattr(self, field, values.get(field))

    @classmethod
    def from_dict(cls, data):
        return cls(**dict((k, data.get(k)) for k in cls.FIELDS))

    def status(self, now=None):
        """``revoked``, ``expired``, ``not_yet_valid`` or ``active``."""
        now = now or utcnow()
        if self.revoked_at:
            return "revoked"
        if parse_isoformat(self.not_after) <= now:
            return "expired"
        if parse_isoformat(self.not_before) > now:
            return "not_yet_valid"
        return "active"

    def is_active(self, now=None):
        # "Active" for the 10-certificate limit: not revoked and not expired.
        return self.status(now) in ("active", "not_yet_valid")

    def to_dict(self, with_pem=True, with_status=True):
        data = dict((field, getattr(self, field)) for field in self.FIELDS)
        if not with_pem:
            data.pop("pem")
        if with_status:
            data["status"] = self.status()
        return data

    def __repr__(self):
        return "CertificateRecord(name=%r, client_id=%r, serial=%r, status=%r)" % (
            self.name, self.client_id, self.serial, self.status())


def check_name(name):
    if name is None:
        raise HubError("a certificate name is required")
    name = name.strip()
    if not name:
        raise HubError("a certificate name is required")
    if len(name) > MAX_NAME_LENGTH:
        raise HubError("certificate name is longer than %d characters" % MAX_NAME_LENGTH)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise HubError("certificate name contains control characters")
    return name


def normalize_fingerprint(text):
    """Accept ``AB:CD:..``, ``sha256:abcd..``, ``SHA256 Fingerprint=AB:..``."""
    value = text.strip()
    if "=" in value:
        value = value.split("=", 1)[1]
    lowered = value.lower()
    if lowered.startswith("sha256:"):
        value = value[7:]
    return value.replace(":", "").replace(" ", "").lower()


def _find(records, name=None, fingerprint=None):
    if fingerprint is not None:
        wanted = normalize_fingerprint(fingerprint)
        return [r for r in records if r.get("fingerprint_sha256") == wanted]
    return [r for r in records if r.get("name") == name]


def revoke(state, name=None, fingerprint=None):
    """Revoke a certificate by name (or fingerprint); return ``(record, already_revoked)``."""
    state.require_initialized()
    if (name is None) == (fingerprint is None):
        raise HubError("give a certificate name or a fingerprint")
    with state.edit_registry() as records:
        found = _find(records, name=name.strip() if name else None, fingerprint=fingerprint)
        if not found:
            raise HubError("no certificate named %r" % name if name is not None
                           else "no certificate with fingerprint %s" % fingerprint)
        data = found[0]
        already = bool(data.get("revoked_at"))
        if not already:
            data["revoked_at"] = isoformat(utcnow())
        return CertificateRecord.from_dict(data), already


def list_certificates(state):
    """All issued certificates, oldest first."""
    state.require_initialized()
    return [CertificateRecord.from_dict(r) for r in state.read_registry()]


def refused_serials(state, records=None, faults=None):
    """Serial numbers (ints) the server refuses: revoked ones and those a fault rejects."""
    records = state.read_registry() if records is None else records
    faults = state.read_faults() if faults is None else faults
    rejected = set()
    for item in faults.get("reject") or []:
        rejected.add(item)
        rejected.add(normalize_fingerprint(item))
    serials = set()
    for record in records:
        if record.get("revoked_at") or record.get("name") in rejected \
                or record.get("fingerprint_sha256") in rejected:
            serials.add(int(record["serial"], 16))
    return serials
