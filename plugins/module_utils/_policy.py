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
        labels = ", ".join(sorted(set(label for label, _ in scan.blocks)))
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
