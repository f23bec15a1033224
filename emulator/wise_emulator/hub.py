# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Developer Hub emulation: sign a CSR the way Wise does, revoke, list."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import pki, policy
from ._compat import isoformat, not_valid_after, not_valid_before, utcnow
from .registry import DEFAULT_VALIDITY_DAYS, MAX_ACTIVE_PER_CLIENT, CertificateRecord, HubError, check_name


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
    name = check_name(name)
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
        raise HubError("CSR cannot be read: %s" % exc) from exc
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
