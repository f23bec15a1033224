#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_info
short_description: Report on an installed Wise client certificate, its key and its CA
version_added: 0.1.0
description:
  - Reads the certificate at O(path) and reports its subject, issuer, serial, CN, validity dates, days remaining,
    whether it expired or needs renewal (O(renew_before_days)), SHA-256 fingerprints of the certificate and its
    public key, and the owner, group and mode of the file.
  - With O(private_key_path), also whether the key belongs to the certificate (public keys compared, so RSA and ECC
    alike) and the owner, group and mode of the key file; a key file that others may read, or its group may
    change, is flagged.
  - With O(ca_path), also whether that CA signed the certificate.
  - Problems are reported in RV(findings), each with a stable code; the module does not fail on them (an expired
    certificate is something to report). It fails only when the certificate file is missing or holds no readable
    certificate.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.attributes.info_module
options:
  path:
    description:
      - The installed certificate (PEM). When the file holds several certificates, the first is reported on.
    type: path
    required: true
  private_key_path:
    description:
      - The private key that should belong to the certificate.
    type: path
  private_key_passphrase:
    description:
      - Passphrase of the private key, when it is encrypted.
    type: str
  ca_path:
    description:
      - A CA certificate (or a bundle of them) that should have signed the certificate.
    type: path
  renew_before_days:
    description:
      - RV(needs_renewal) is true once the certificate expires within this many days. Wise's own reminders start
        28 days before expiry, and certificates are valid for a year.
    type: int
    default: 30
seealso:
  - module: wise.mtls.certificate
  - module: wise.mtls.ca_trust
"""

EXAMPLES = r"""
- name: Read the state of the installed Wise client certificate
  wise.mtls.certificate_info:
    path: /etc/wise-mtls/production/client.pem
    private_key_path: /etc/wise-mtls/production/client.key
    ca_path: /etc/wise-mtls/production/wise-ca.pem
  register: wise_certificate

- name: Warn when the certificate needs renewing
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ wise_certificate.days_remaining }} days left, rotate now"
  when: wise_certificate.needs_renewal
"""

RETURN = r"""
path:
  description: Path of the certificate file.
  returned: always
  type: str
  sample: /etc/wise-mtls/production/client.pem
subject:
  description: Subject, attribute by attribute.
  returned: success
  type: dict
  sample: {"C": "EU", "O": "Example Payments Ltd", "CN": "example-client-id"}
subject_string:
  description: Subject in the one-line form openssl uses.
  returned: success
  type: str
  sample: /C=EU/O=Example Payments Ltd/CN=example-client-id
issuer:
  description: Issuer in the one-line form openssl uses.
  returned: success
  type: str
  sample: /C=GB/O=Wise Payments Ltd/CN=Wise Client CA
common_name:
  description: The CN (the Wise Client ID), V(null) when there is none.
  returned: success
  type: str
  sample: example-client-id
serial:
  description: Serial number, colon-separated hex.
  returned: success
  type: str
  sample: 4f:1a:09:c2
not_before:
  description: Start of the validity window, ISO 8601 in UTC.
  returned: success
  type: str
  sample: "2026-01-15T10:00:00Z"
not_after:
  description: End of the validity window, ISO 8601 in UTC.
  returned: success
  type: str
  sample: "2027-01-15T10:00:00Z"
days_remaining:
  description: Whole days until the certificate expires; negative once it has.
  returned: success
  type: int
  sample: 41
expired:
  description: Whether the certificate has expired.
  returned: success
  type: bool
  sample: false
not_yet_valid:
  description: Whether the certificate's validity window has not started yet.
  returned: success
  type: bool
  sample: false
needs_renewal:
  description: Whether the certificate expires within O(renew_before_days) days (or already has).
  returned: success
  type: bool
  sample: false
renew_before_days:
  description: The threshold RV(needs_renewal) was computed with.
  returned: success
  type: int
  sample: 30
fingerprint:
  description: SHA-256 fingerprint of the certificate.
  returned: success
  type: str
  sample: 9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19:3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e
public_key_fingerprint:
  description: SHA-256 over the certificate's public key (SubjectPublicKeyInfo).
  returned: success
  type: str
  sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
public_key:
  description: Type, size and curve of the certificate's public key.
  returned: success
  type: dict
  sample: {"type": "rsa", "size": 4096, "curve": null}
key_match:
  description:
    - Whether the private key belongs to the certificate. V(null) when no key was given or it could not be read
      (see RV(findings)).
  returned: success
  type: bool
  sample: true
chain:
  description:
    - The chain check. C(status) is V(signed_by_ca), V(not_signed_by_ca), V(ca_unreadable) or V(not_checked) (no
      O(ca_path)); C(ca_subject) and C(ca_fingerprint) name the CA that signed it, when one did.
  returned: success
  type: dict
  sample: {"status": "signed_by_ca", "ca_subject": "/C=GB/O=Wise/CN=Wise Client CA", "ca_fingerprint": "12:ab:..."}
files:
  description:
    - Owner, group and mode of the certificate file (C(certificate)) and, when given, the key file
      (C(private_key)); C(exists) is false for a key file that is missing.
  returned: success
  type: dict
  sample: {"certificate": {"path": "/etc/wise-mtls/production/client.pem", "exists": true, "owner": "root",
           "group": "root", "mode": "0644"}, "private_key": {"path": "/etc/wise-mtls/production/client.key",
           "exists": true, "owner": "root", "group": "payments", "mode": "0640"}}
findings:
  description: Every problem found, each with a stable C(code), a C(severity) (V(error) or V(warning)) and a message.
  returned: success
  type: list
  elements: dict
  sample: [{"code": "certificate_needs_renewal", "severity": "warning",
            "message": "The certificate expires on 2027-01-15T10:00:00Z, in 12 days; ..."}]
healthy:
  description: True when there is no finding of severity V(error).
  returned: success
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            private_key_path=dict(type="path"),
            private_key_passphrase=dict(type="str", no_log=True),
            ca_path=dict(type="path"),
            renew_before_days=dict(type="int", default=policy.RENEW_BEFORE_DAYS),
        ),
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    module.exit_json(**report(module, module.params))


def report(module, params):
    path = params["path"]
    state, certificates, findings = read_certificate_file(module, path)
    certificate = certificates[0]
    now = crypto.utcnow()
    renew_before_days = params["renew_before_days"]
    result = dict(changed=False, path=path, renew_before_days=renew_before_days)
    result.update(describe(certificate, now, renew_before_days))
    findings.extend(policy.check_validity(certificate, role="certificate", now=now))
    if result["needs_renewal"] and not result["expired"]:
        findings.append(policy.Finding("certificate_needs_renewal", policy.WARNING,
                                       "The certificate expires on {0}, in {1} days (renewal starts {2} days before "
                                       "expiry): rotate it now.".format(result["not_after"], result["days_remaining"],
                                                                        renew_before_days)))
    result["files"] = dict(certificate=file_facts(path, state))

    result["key_match"] = None
    if params["private_key_path"]:
        key_facts, key_match, key_findings = check_key(params["private_key_path"], params["private_key_passphrase"],
                                                       certificate)
        result["files"]["private_key"] = key_facts
        result["key_match"] = key_match
        findings.extend(key_findings)

    result["chain"] = dict(status="not_checked")
    if params["ca_path"]:
        result["chain"], chain_findings = check_chain(params["ca_path"], certificate)
        findings.extend(chain_findings)

    result["findings"] = [finding.as_dict() for finding in findings]
    result["healthy"] = policy.is_compliant(findings)
    return result


def read_certificate_file(module, path):
    """(FileState, certificates, findings); the one place this module fails: no readable certificate."""
    try:
        state = safe_file.FileState(path, follow=True)
        if not state.exists:
            module.fail_json(msg="The certificate {0} does not exist; install it first (wise.mtls.certificate).".format(
                path), path=path)
        data = state.read()
    except safe_file.SafeFileError as exc:
        module.fail_json(msg=to_native(exc), path=path)
    certificates, findings = policy.read_certificates_pem(data, role="certificate", single=False)
    if not certificates:
        module.fail_json(msg="{0} holds no readable certificate: {1}".format(
            path, " ".join(finding.message for finding in findings)),
            path=path, findings=[finding.as_dict() for finding in findings])
    if len(certificates) > 1:
        findings.append(policy.Finding("certificate_multiple", policy.WARNING,
                                       "{0} holds {1} certificates; this reports on the first. Clients read the "
                                       "first as their own certificate.".format(path, len(certificates))))
    return state, certificates, findings


def describe(certificate, now, renew_before_days):
    not_before = crypto.certificate_not_before(certificate)
    not_after = crypto.certificate_not_after(certificate)
    common_names = crypto.name_values(certificate.subject, "COMMON_NAME")
    return dict(
        subject=crypto.name_to_dict(certificate.subject),
        subject_string=crypto.name_to_string(certificate.subject),
        issuer=crypto.name_to_string(certificate.issuer),
        common_name=common_names[0] if common_names else None,
        serial=crypto.certificate_serial_hex(certificate),
        not_before=crypto.iso8601(not_before),
        not_after=crypto.iso8601(not_after),
        days_remaining=policy.days_remaining(certificate, now),
        expired=now > not_after,
        not_yet_valid=now < not_before,
        needs_renewal=policy.needs_renewal(certificate, renew_before_days, now),
        fingerprint=crypto.certificate_fingerprint(certificate),
        public_key_fingerprint=crypto.public_key_fingerprint(certificate.public_key()),
        public_key=crypto.describe_public_key(certificate.public_key()),
    )


def file_facts(path, state):
    facts = dict(path=path, exists=state.exists)
    facts.update(safe_file.describe(state))
    return facts


def check_key(path, passphrase, certificate):
    """(file facts, key matches or None, findings) for the private key; never fails."""
    findings = []
    try:
        state = safe_file.FileState(path, follow=True)
    except safe_file.SafeFileError as exc:
        return dict(path=path, exists=False), None, [
            policy.Finding("private_key_unreadable", policy.ERROR, to_native(exc))]
    facts = file_facts(path, state)
    if not state.exists:
        return facts, None, [policy.Finding("private_key_missing", policy.ERROR,
                                            "The private key {0} does not exist.".format(path))]
    for finding in policy.check_private_key_mode(state.mode):
        finding.message = "{0}: {1}".format(path, finding.message)
        findings.append(finding)
    try:
        private_key = crypto.load_private_key(state.read(), passphrase)
    except (crypto.KeyLoadError, safe_file.SafeFileError) as exc:
        findings.append(policy.Finding("private_key_unreadable", policy.ERROR,
                                       "The private key {0} cannot be used: {1}.".format(path, to_native(exc))))
        return facts, None, findings
    mismatch = policy.check_key_matches(certificate, private_key, path)
    findings.extend(mismatch)
    return facts, not mismatch, findings


def check_chain(ca_path, certificate):
    """(chain dict, findings) for the CA file at ca_path; never fails."""
    try:
        state = safe_file.FileState(ca_path, follow=True)
        data = state.read() if state.exists else None
    except safe_file.SafeFileError as exc:
        return dict(status="ca_unreadable"), [policy.Finding("ca_unreadable", policy.ERROR, to_native(exc))]
    if data is None:
        return dict(status="ca_unreadable"), [policy.Finding("ca_unreadable", policy.ERROR,
                                                             "The CA file {0} does not exist.".format(ca_path))]
    ca_certificates, findings = policy.read_certificates_pem(data, role="ca", single=False)
    if not ca_certificates:
        return dict(status="ca_unreadable"), findings
    issuer, chain_findings = policy.find_issuer(certificate, ca_certificates)
    findings.extend(chain_findings)
    if issuer is None:
        return dict(status="not_signed_by_ca"), findings
    return dict(status="signed_by_ca", ca_subject=crypto.name_to_string(issuer.subject),
                ca_fingerprint=crypto.certificate_fingerprint(issuer)), findings


if __name__ == "__main__":
    main()
