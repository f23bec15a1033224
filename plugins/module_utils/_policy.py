# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""The Wise policy: every rule Wise sets for keys, CSRs and hosts, in one place.

Each rule yields a Finding with a stable code (for tests, reports and users' own checks),
a severity (an error makes Wise refuse; a warning is worth knowing) and a message that
names the problem and what to do. The bundled Wise emulator uses the same functions.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto

# Hosts per environment (WISE_MTLS.md, "Hosts and environments"). Overridable with base_url.
ENVIRONMENTS = {
    "sandbox": {
        "base_url": "https://api-mtls.sandbox.transferwise.tech",
        "alternative_base_urls": ["https://api-mtls.wise-sandbox.com"],
    },
    "production": {
        "base_url": "https://api-mtls.transferwise.com",
        "alternative_base_urls": [],
    },
}
PLAYGROUND_PATH = "/v1/authenticated/playground"
TOKEN_PATH = "/oauth/token"

ALLOWED_KEY_SIZES = {"rsa": (2048, 3072, 4096), "ecc": (256, 384)}
DEFAULT_KEY_SIZES = {"rsa": 4096, "ecc": 256}
ECC_CURVE_NAMES = {256: "P-256", 384: "P-384"}

CERTIFICATE_VALIDITY_DAYS = 365
MAX_ACTIVE_CERTIFICATES = 10
RENEW_BEFORE_DAYS = 30
EXPIRY_NOTICE_DAYS = (28, 14, 7, 3, 1, 0)

ERROR = "error"
WARNING = "warning"

COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
# Private keys may be shared with a service group for reading, never with others; setuid, setgid,
# sticky and execute bits have no business on a key either.
PRIVATE_KEY_FORBIDDEN_MODE_BITS = 0o7137


class Finding(object):
    """One broken rule: stable code, severity and a message for people."""

    __slots__ = ("code", "severity", "message")

    def __init__(self, code, severity, message):
        self.code = code
        self.severity = severity
        self.message = message

    def as_dict(self):
        return {"code": self.code, "severity": self.severity, "message": self.message}

    def __repr__(self):
        return "Finding({0!r}, {1!r})".format(self.code, self.severity)


def errors(findings):
    return [finding for finding in findings if finding.severity == ERROR]


def is_compliant(findings):
    return not errors(findings)


def describe_allowed_keys():
    return "RSA 2048, 3072 or 4096 bits, or ECC P-256 or P-384"


# ---------------------------------------------------------------- keys

def check_key_request(key_type, size):
    """Findings for a key that a caller asks us to create."""
    allowed = ALLOWED_KEY_SIZES.get(key_type)
    if allowed is None:
        return [Finding("key_type_not_allowed", ERROR,
                        "Key type {0!r} is not accepted by Wise; use {1}.".format(key_type, describe_allowed_keys()))]
    if size not in allowed:
        return [_key_size_finding(key_type, size)]
    return []


def check_public_key(public_key):
    """Findings for an existing key (in a key file, a CSR or a certificate)."""
    info = crypto.describe_public_key(public_key)
    if info["type"] not in ALLOWED_KEY_SIZES:
        return [Finding("key_type_not_allowed", ERROR,
                        "The key is {0}, which Wise does not accept; make a new key: {1}.".format(
                            info["type"] or "of an unknown type", describe_allowed_keys()))]
    if info["size"] not in ALLOWED_KEY_SIZES[info["type"]]:
        return [_key_size_finding(info["type"], info["size"])]
    return []


def _key_size_finding(key_type, size):
    if key_type == "rsa":
        weak = size is not None and size < 2048
        return Finding("rsa_key_size_not_allowed", ERROR,
                       "RSA {0} bits is not accepted by Wise ({1}); use 2048, 3072 or 4096 bits.".format(
                           size, "too weak" if weak else "too large"))
    return Finding("ecc_curve_not_allowed", ERROR,
                   "ECC {0} bits is not accepted by Wise; use P-256 (256) or P-384 (384).".format(size))


def check_private_key_mode(mode):
    """A key file mode may grant its owner read and write and its group read, nothing more."""
    if mode is not None and mode & PRIVATE_KEY_FORBIDDEN_MODE_BITS:
        return [Finding("private_key_mode_too_open", ERROR,
                        "Mode {0:04o} grants more than a private key may have (owner read and write, its group "
                        "read at most); use 0600, or 0640 with a service group.".format(mode))]
    return []


# ---------------------------------------------------------------- subjects

def check_subject_request(organization, country=None, client_id=None):
    """Findings for the subject a caller asks us to put in a CSR."""
    findings = []
    if not organization or not organization.strip():
        findings.append(_organization_missing())
    if country is not None and not COUNTRY_RE.match(country):
        findings.append(_country_invalid(country))
    return findings


def check_subject(name, client_id=None):
    """Findings for the subject of an existing CSR."""
    findings = []
    organizations = crypto.name_values(name, "ORGANIZATION_NAME")
    if not [value for value in organizations if value.strip()]:
        findings.append(_organization_missing())
    for country in crypto.name_values(name, "COUNTRY_NAME"):
        if not COUNTRY_RE.match(country):
            findings.append(_country_invalid(country))
    common_names = crypto.name_values(name, "COMMON_NAME")
    if client_id and common_names and common_names != [client_id]:
        findings.append(Finding("common_name_differs", WARNING,
                                "CN is {0!r}, but Wise replaces CN with your Client ID {1!r}; set CN to the "
                                "Client ID (or leave it out) so the CSR says what the certificate will.".format(
                                    ", ".join(common_names), client_id)))
    return findings


def _organization_missing():
    return Finding("organization_missing", ERROR,
                   "Organisation (O) is not set; Wise requires it. Give your company name as the organization.")


def _country_invalid(country):
    return Finding("country_invalid", ERROR,
                   "Country {0!r} is not two letters; use a two-letter code such as GB or Wise's own EU.".format(country))


# ---------------------------------------------------------------- CSR files

def check_csr_pem(data, client_id=None):
    """Every Wise rule that the CSR bytes break, as a list of findings (empty = compliant)."""
    if not data or not data.strip():
        return [Finding("csr_empty", ERROR, "The CSR is empty; paste or point at the PEM CSR file.")]
    if crypto.looks_binary(data):
        if _parses_as_der(data):
            return [Finding("csr_not_pem", ERROR,
                            "The CSR is DER (binary), but Wise takes PEM only; convert it with "
                            "'openssl req -inform DER -in <file> -out <file>.pem'.")]
        return [Finding("csr_not_pem", ERROR, "The CSR is binary data that is not a CSR; Wise takes a PEM CSR.")]

    scan = crypto.PemScan(data)
    requests = [block for label, block in scan.blocks if label in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")]
    findings = []
    if not scan.blocks:
        return [Finding("csr_not_pem", ERROR,
                        "No PEM block was found; a CSR starts with '-----BEGIN CERTIFICATE REQUEST-----'.")]
    if not requests:
        labels = ", ".join(sorted(set(label for label, _block in scan.blocks)))
        return [Finding("csr_wrong_pem_type", ERROR,
                        "The file holds {0} but no CERTIFICATE REQUEST; give Wise the CSR, not this.".format(labels))]
    if len(scan.blocks) > 1:
        findings.append(Finding("csr_multiple_pem_blocks", ERROR,
                                "The file holds {0} PEM blocks; Wise takes exactly one CERTIFICATE REQUEST block "
                                "and nothing else.".format(len(scan.blocks))))
    if scan.has_text_outside:
        findings.append(Finding("csr_text_outside_pem", ERROR,
                                "There is text outside the PEM block (for example the dump of 'openssl req -text'); "
                                "Wise takes the PEM block alone. Keep only the lines from BEGIN to END."))
    try:
        csr = crypto.load_csr_pem(requests[0])
    except ValueError as exc:
        findings.append(Finding("csr_unreadable", ERROR,
                                "The CERTIFICATE REQUEST block cannot be parsed ({0}); make the CSR again.".format(exc)))
        return findings
    findings.extend(check_csr(csr, client_id=client_id))
    return findings


def check_csr(csr, client_id=None):
    """Rules on a parsed CSR: signature, key and subject."""
    findings = []
    if not csr.is_signature_valid:
        findings.append(Finding("csr_signature_invalid", ERROR,
                                "The CSR's signature does not verify, so it was altered or is corrupt; make it again "
                                "from the private key."))
    try:
        public_key = csr.public_key()
    except (ValueError, TypeError) as exc:
        findings.append(Finding("key_type_not_allowed", ERROR,
                                "The CSR's public key cannot be read ({0}); use {1}.".format(exc, describe_allowed_keys())))
    else:
        findings.extend(check_public_key(public_key))
    findings.extend(check_subject(csr.subject, client_id=client_id))
    return findings


def csr_reasons_to_remake(existing, private_key, wanted_subject, client_id):
    """Why an existing CSR (PEM bytes or None) cannot stay: empty when it is compliant, for this key and with this subject."""
    if existing is None:
        return ["there is no CSR yet"]
    findings = errors(check_csr_pem(existing, client_id=client_id))
    if findings:
        return ["the CSR breaks a Wise rule: {0}".format(finding.code) for finding in findings]
    csr = crypto.load_csr_pem(existing)
    reasons = []
    if not crypto.public_keys_equal(csr.public_key(), private_key.public_key()):
        reasons.append("the CSR is for another key")
    if csr.subject != wanted_subject:
        reasons.append("the subject changed from {0} to {1}".format(crypto.name_to_string(csr.subject),
                                                                    crypto.name_to_string(wanted_subject)))
    return reasons


def _parses_as_der(data):
    try:
        crypto.load_csr_der(data)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- environments

def environment_base_url(environment, environments=None):
    table = environments or ENVIRONMENTS
    if environment not in table:
        raise ValueError("Unknown Wise environment {0!r}; use one of: {1}.".format(
            environment, ", ".join(sorted(table))))
    return table[environment]["base_url"].rstrip("/")


# ---------------------------------------------------------------- certificates

# Finding codes start with the role of the certificate: "certificate" (the client certificate Wise
# issued) or "ca" (the Wise CA certificate).
_ROLE_LABELS = {"certificate": "The certificate", "ca": "The CA certificate"}
_ROLE_REMEDIES = {
    "certificate": "Request a new certificate in Developer Hub with this key's CSR and install that one.",
    "ca": "Download the current Wise certificate from Developer Hub ('Get Wise Certificate').",
}


def read_certificates_pem(data, role="certificate", single=True):
    """(certificates, findings) for bytes that should hold PEM certificates.

    With single=True exactly one certificate is expected. Text outside the PEM blocks (for example
    the dump of 'openssl x509 -text') only warns: callers write the certificates alone.
    """
    label = _ROLE_LABELS[role]
    if not data or not data.strip():
        return [], [Finding(role + "_empty", ERROR, "{0} is empty; give the PEM text, which starts with "
                                                    "'-----BEGIN CERTIFICATE-----'.".format(label))]
    if crypto.looks_binary(data):
        if _parses_as_der_certificate(data):
            return [], [Finding(role + "_der", ERROR,
                                "{0} is DER (binary), but PEM is needed; convert it with "
                                "'openssl x509 -inform DER -in <file> -out <file>.pem'.".format(label))]
        return [], [Finding(role + "_not_pem", ERROR,
                            "{0} is binary data that is not a certificate; give the PEM certificate, which starts "
                            "with '-----BEGIN CERTIFICATE-----'.".format(label))]
    scan = crypto.PemScan(data)
    if not scan.blocks:
        return [], [Finding(role + "_not_pem", ERROR,
                            "{0} holds no PEM block (is it a file name or garbage?); a PEM certificate starts with "
                            "'-----BEGIN CERTIFICATE-----'.".format(label))]
    findings = []
    key_labels = sorted(set(name for name, _block in scan.blocks if "PRIVATE KEY" in name))
    if key_labels:
        findings.append(Finding(role + "_contains_private_key", ERROR,
                                "{0} text also holds a private key ({1}); give the certificate alone and keep the key "
                                "where it is.".format(label, ", ".join(key_labels))))
    blocks = [block for name, block in scan.blocks if name in crypto.CERTIFICATE_PEM_LABELS]
    others = sorted(set(name for name, _block in scan.blocks
                        if name not in crypto.CERTIFICATE_PEM_LABELS and "PRIVATE KEY" not in name))
    if not blocks:
        hint = " (that is the CSR: give the certificate Wise issued for it)" if any("REQUEST" in name for name in others) else ""
        findings.append(Finding(role + "_wrong_pem_type", ERROR,
                                "{0} holds {1} but no CERTIFICATE{2}.".format(label, ", ".join(others or key_labels), hint)))
        return [], findings
    if others:
        findings.append(Finding(role + "_unexpected_pem_block", ERROR,
                                "{0} text also holds {1}; give the certificate alone.".format(label, ", ".join(others))))
    if single and len(blocks) > 1:
        findings.append(Finding(role + "_multiple", ERROR,
                                "{0} text holds {1} certificates where exactly one is expected; give that certificate "
                                "alone (not a chain or a bundle).".format(label, len(blocks))))
    certificates = []
    for index, block in enumerate(blocks):
        try:
            certificates.append(crypto.load_certificate_pem(block))
        except ValueError as exc:
            findings.append(Finding(role + "_unreadable", ERROR,
                                    "{0} (PEM block {1}) cannot be parsed ({2}); copy it again, from BEGIN to END.".format(
                                        label, index + 1, exc)))
    if scan.has_text_outside:
        findings.append(Finding(role + "_text_outside_pem", WARNING,
                                "{0} text has text outside its PEM block; only the certificate itself is used.".format(label)))
    return certificates, findings


def _parses_as_der_certificate(data):
    try:
        crypto.load_certificate_der(data)
    except ValueError:
        return False
    return True


def check_validity(certificate, role="certificate", now=None):
    """Findings when now lies outside the certificate's validity window."""
    now = now or crypto.utcnow()
    not_before = crypto.certificate_not_before(certificate)
    not_after = crypto.certificate_not_after(certificate)
    window = "valid from {0} to {1}; it is now {2}".format(
        crypto.iso8601(not_before), crypto.iso8601(not_after), crypto.iso8601(now))
    label = _ROLE_LABELS[role]
    if now < not_before:
        return [Finding(role + "_not_yet_valid", ERROR,
                        "{0} is not valid yet ({1}). Check the host's clock, or install it once it is valid.".format(
                            label, window))]
    if now > not_after:
        return [Finding(role + "_expired", ERROR, "{0} expired on {1} ({2}). {3}".format(
            label, crypto.iso8601(not_after), window, _ROLE_REMEDIES[role]))]
    return []


def describe_key_briefly(public_key):
    """'RSA 4096', 'ECC P-256', 'ed25519' for messages."""
    info = crypto.describe_public_key(public_key)
    if info["type"] == "rsa":
        return "RSA {0}".format(info["size"])
    if info["type"] == "ecc":
        return "ECC {0}".format(ECC_CURVE_NAMES.get(info["size"], info["curve"]))
    return info["type"]


def check_key_matches(certificate, private_key, key_path=None):
    """A finding when the certificate was issued for another key (SubjectPublicKeyInfo comparison)."""
    certificate_key = certificate.public_key()
    if crypto.public_keys_equal(certificate_key, private_key.public_key()):
        return []
    return [Finding("certificate_key_mismatch", ERROR,
                    "The certificate is for another key: its public key ({0}, SHA-256 {1}) is not the public key of "
                    "the private key{2} ({3}, SHA-256 {4}). Install the certificate Wise issued for this key's CSR, or "
                    "point private_key_path at the key that CSR was made with.".format(
                        describe_key_briefly(certificate_key), crypto.public_key_fingerprint(certificate_key),
                        " " + key_path if key_path else "", describe_key_briefly(private_key.public_key()),
                        crypto.public_key_fingerprint(private_key.public_key())))]


def check_client_id(certificate, client_id):
    """A finding when the certificate's CN is not the Wise Client ID (Wise sets CN to it)."""
    common_names = crypto.name_values(certificate.subject, "COMMON_NAME")
    if not client_id or common_names == [client_id]:
        return []
    found = ", ".join(repr(name) for name in common_names) if common_names else "missing"
    return [Finding("certificate_client_id_mismatch", ERROR,
                    "The certificate's CN is {0}, but client_id is {1!r}: Wise sets CN to the Client ID, so this "
                    "certificate belongs to another client (or environment). Install the certificate issued for this "
                    "client, or correct client_id.".format(found, client_id))]


def find_issuer(certificate, ca_certificates):
    """(the CA among ca_certificates whose key signed certificate, or None; findings)."""
    for ca_certificate in ca_certificates:
        if crypto.verify_signed_by(certificate, ca_certificate):
            return ca_certificate, []
    given = "; ".join("{0} (SHA-256 {1})".format(crypto.name_to_string(ca.subject), crypto.certificate_fingerprint(ca))
                      for ca in ca_certificates)
    same_name = [ca for ca in ca_certificates if ca.subject == certificate.issuer]
    detail = (" The CA's name matches the issuer, but the signature does not verify with its key: it is another CA "
              "with the same name, or one of the two certificates was altered." if same_name else "")
    return None, [Finding("certificate_not_signed_by_ca", ERROR,
                          "The certificate was not signed by the given CA: its issuer is {0}, and the CA given is "
                          "{1}.{2} Give the CA that issued it, or leave the CA out of this check.".format(
                              crypto.name_to_string(certificate.issuer) or "(empty)", given, detail))]


def check_ca_certificate(certificate):
    """A finding when a certificate given as a CA cannot act as one (a leaf certificate, typically)."""
    is_ca = crypto.basic_constraints_ca(certificate)
    if is_ca:
        return []
    if is_ca is None and crypto.certificate_version(certificate) == 1 and crypto.is_self_issued(certificate):
        return []  # an X.509 v1 root has no extensions; OpenSSL trusts it as a CA
    reason = "basicConstraints says CA:FALSE" if is_ca is False else "it has no basicConstraints extension"
    return [Finding("ca_not_a_ca", ERROR,
                    "The certificate given as the CA ({0}) is not a CA certificate: {1}. It looks like a leaf (client "
                    "or server) certificate; give the Wise CA certificate instead ('Get Wise Certificate' in Developer "
                    "Hub).".format(crypto.name_to_string(certificate.subject) or "empty subject", reason))]


def days_remaining(certificate, now=None):
    """Whole days until the certificate expires (negative once it has)."""
    now = now or crypto.utcnow()
    return int((crypto.certificate_not_after(certificate) - now).total_seconds() // 86400)


def needs_renewal(certificate, renew_before_days=RENEW_BEFORE_DAYS, now=None):
    now = now or crypto.utcnow()
    return crypto.certificate_not_after(certificate) - now <= datetime.timedelta(days=renew_before_days)
