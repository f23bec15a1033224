# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Developer Hub emulation: sign a CSR the way Wise does, revoke, list."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import pki, policy
from ._compat import isoformat, not_valid_after, not_valid_before, parse_isoformat, utcnow

MAX_ACTIVE_PER_CLIENT = 10
DEFAULT_VALIDITY_DAYS = 365
MAX_NAME_LENGTH = 100


class HubError(Exception):
    """Developer Hub refused the request."""


class CsrRefused(HubError):
    """The CSR breaks Wise's rules; ``findings`` holds the policy findings (errors)."""

    def __init__(self, findings, warnings=()):
        self.findings = list(findings)
        self.warnings = list(warnings)
        codes = ", ".join(f.code for f in self.findings)
        super().__init__("CSR refused: it breaks Wise's CSR rules (%s)" % codes)

    @property
    def codes(self):
        return [f.code for f in self.findings]


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


def _check_name(name):
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


def _wise_subject(csr_subject, client_id):
    """The CSR subject with every CN replaced by the client ID (other attributes kept)."""
    rdns = []
    has_cn = False
    for rdn in csr_subject.rdns:
        attributes = []
        for attribute in rdn:
            if attribute.oid == NameOID.COMMON_NAME:
                has_cn = True
                attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, client_id))
            else:
                attributes.append(attribute)
        rdns.append(x509.RelativeDistinguishedName(attributes))
    if not has_cn:
        rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, client_id)]))
    return x509.Name(rdns)


def sign(state, csr_pem, name, client_id, days=None, validity_seconds=None, backdate_seconds=0):
    """Issue a client certificate for ``csr_pem`` (bytes); return ``(record, warnings)``.

    Enforces what Developer Hub enforces: Wise's CSR rules (the collection's
    policy), a registered client, a unique certificate name and at most
    ``MAX_ACTIVE_PER_CLIENT`` active certificates per client. The subject CN
    becomes the client ID; validity is one year unless told otherwise.
    """
    state.require_initialized()
    name = _check_name(name)
    if not client_id or not state.client_exists(client_id):
        raise HubError("unknown client id %r: register it first with 'init --client-id ID --client-secret SECRET'"
                       % (client_id,))
    if days is not None and validity_seconds is not None:
        raise HubError("give either days or validity_seconds, not both")
    if validity_seconds is not None:
        lifetime = datetime.timedelta(seconds=int(validity_seconds))
    else:
        lifetime = datetime.timedelta(days=int(days if days is not None else DEFAULT_VALIDITY_DAYS))
    if lifetime.total_seconds() < 1:
        raise HubError("validity must be at least one second")
    if backdate_seconds < 0:
        raise HubError("backdate must not be negative")
    if isinstance(csr_pem, str):
        csr_pem = csr_pem.encode("utf-8")

    errors, warnings = policy.check_csr(csr_pem, client_id=client_id)
    if errors:
        raise CsrRefused(errors, warnings)
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise HubError("CSR cannot be read: %s" % exc)
    if not csr.is_signature_valid:
        raise HubError("CSR refused: its signature does not verify")

    subject = _wise_subject(csr.subject, client_id)
    not_before = utcnow() - datetime.timedelta(seconds=int(backdate_seconds))
    not_after = not_before + lifetime
    ca_cert, ca_key = state.client_ca()
    with state.edit_registry() as records:
        existing = [CertificateRecord.from_dict(r) for r in records]
        if any(r.name == name for r in existing):
            raise HubError("a certificate named %r already exists: certificate names must be unique" % name)
        now = utcnow()
        active = [r for r in existing if r.client_id == client_id and r.is_active(now)]
        if len(active) >= MAX_ACTIVE_PER_CLIENT:
            raise HubError(
                "client %s already has %d active certificates (the limit is %d): revoke one before adding %r "
                "(active: %s)" % (client_id, len(active), MAX_ACTIVE_PER_CLIENT, name,
                                  ", ".join(r.name for r in active)))
        cert = pki.make_client_cert(csr, subject, ca_cert, ca_key, not_before, not_after)
        record = CertificateRecord(
            name=name,
            client_id=client_id,
            serial=pki.serial_hex(cert),
            fingerprint_sha256=pki.fingerprint_sha256(cert),
            not_before=isoformat(not_valid_before(cert)),
            not_after=isoformat(not_valid_after(cert)),
            subject=cert.subject.rfc4514_string(),
            public_key=pki.describe_public_key(cert.public_key()),
            issued_at=isoformat(now),
            revoked_at=None,
            pem=pki.cert_to_pem(cert).decode("ascii"),
        )
        records.append(record.to_dict(with_status=False))
    return record, warnings


def _find(records, name=None, fingerprint=None):
    if fingerprint is not None:
        wanted = pki.normalize_fingerprint(fingerprint)
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
        rejected.add(pki.normalize_fingerprint(item))
    serials = set()
    for record in records:
        if record.get("revoked_at") or record.get("name") in rejected \
                or record.get("fingerprint_sha256") in rejected:
            serials.add(int(record["serial"], 16))
    return serials
