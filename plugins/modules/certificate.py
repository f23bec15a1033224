#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate
short_description: Install the client certificate Wise issued, after checking it against its key
version_added: 0.1.0
description:
  - Installs the client certificate that Wise's Developer Hub issued (given as O(content), or as O(src), a file on the
    host) at O(path), but only after checking it - exactly one PEM certificate; its public key equal to the public
    key of O(private_key_path) (SubjectPublicKeyInfo, so RSA and ECC alike); inside its validity window; CN equal to
    O(client_id) when that is given; signed by the CA in O(ca_path) or O(ca_content) when one is given.
  - A certificate that fails any check is refused with a message that names the problem (DER instead of PEM,
    several certificates, another key, expired, not yet valid, another client, another CA), and nothing on disk is
    changed - every check runs before the first file is written.
  - Optionally also writes a PKCS#12 keystore (O(pkcs12_path), for Java and other consumers that want one file with
    key and certificate) and a combined PEM with certificate and key (O(combined_path), for example for HAProxy).
    Both hold the private key, so their mode may grant the owner anything and the group read, nothing more.
  - PKCS#12 files differ on every write (random salts), so an existing one is opened with O(pkcs12_password) and its
    key, certificate, CA and friendly name are compared; it is written again only when they differ.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - One diff per file, with the certificate's subject, issuer, serial, SHA-256 fingerprint and expiry, the public
        key fingerprint, and the file's owner, group and mode - never key material.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.files
options:
  path:
    description:
      - Where the certificate is installed on the host (PEM, the certificate alone).
    type: path
    required: true
  content:
    description:
      - The certificate in PEM, as copied from Developer Hub's Certificate Details screen.
      - Text around the PEM block is tolerated (with a warning) and left out of the installed file.
    type: str
  src:
    description:
      - Path of a file on the managed host holding the certificate in PEM.
    type: path
  private_key_path:
    description:
      - The private key the certificate must belong to, for example made by M(wise.mtls.private_key).
    type: path
    required: true
  private_key_passphrase:
    description:
      - Passphrase of the private key, when it is encrypted.
    type: str
  client_id:
    description:
      - Your Wise Client ID. When given, the certificate's CN must be exactly this (Wise sets CN to the Client ID),
        which catches a certificate of another client or environment.
    type: str
  ca_path:
    description:
      - Path of a file on the host with the CA certificate (or certificates) that must have signed the certificate.
      - Whether the Wise CA also issues client certificates is not documented by Wise; use this only when you know
        which CA issued yours. The result tells what was found.
    type: path
  ca_content:
    description:
      - Like O(ca_path), given as PEM text.
    type: str
  mode:
    description:
      - Mode of the certificate file, as an octal string. A certificate is public.
    type: raw
    default: '0644'
  pkcs12_path:
    description:
      - Also write a PKCS#12 keystore with the key, the certificate and (when O(ca_path) or O(ca_content) is given)
        the CA that signed it. Java lists it as a C(PrivateKeyEntry) (C(keytool -list -storetype PKCS12)).
      - Owner and group are those of O(owner) and O(group).
    type: path
  pkcs12_password:
    description:
      - Password of the PKCS#12 keystore. Required with O(pkcs12_path).
    type: str
  pkcs12_friendly_name:
    description:
      - Friendly name of the key entry in the PKCS#12 keystore (the alias Java shows).
      - cryptography older than 36 cannot read friendly names back, so there a change of this option alone does not
        rewrite an existing keystore.
    type: str
    default: wise-mtls
  pkcs12_encryption:
    description:
      - How the PKCS#12 keystore is encrypted. V(aes256) is PBES2 with AES-256-CBC and an HMAC-SHA256 MAC, which
        OpenSSL 1.1.1 and newer and Java 8u301, 11.0.12, 17 and newer read. V(3des) is the legacy PBE-SHA1-3DES with
        an HMAC-SHA1 MAC, for older readers.
      - With cryptography older than 38 only V(3des) can be written; the module then warns and uses it.
    type: str
    choices: [aes256, 3des]
    default: aes256
  pkcs12_mode:
    description:
      - Mode of the PKCS#12 keystore. It holds the private key, so V(0600) or V(0640) (with a service group).
    type: raw
    default: '0600'
  combined_path:
    description:
      - Also write one PEM file with the certificate followed by the private key, exactly as the key is in
        O(private_key_path) (still encrypted when that key is).
      - Owner and group are those of O(owner) and O(group).
    type: path
  combined_mode:
    description:
      - Mode of the combined file. It holds the private key, so V(0600) or V(0640) (with a service group).
    type: raw
    default: '0600'
seealso:
  - module: wise.mtls.private_key
  - module: wise.mtls.csr
  - module: wise.mtls.certificate_info
  - module: wise.mtls.ca_trust
"""

EXAMPLES = r"""
- name: Install the certificate downloaded from Developer Hub, checked against the key and the Client ID
  wise.mtls.certificate:
    path: /etc/wise-mtls/sandbox/client.pem
    content: "{{ lookup('ansible.builtin.file', 'certificates/' + inventory_hostname + '.pem') }}"
    private_key_path: /etc/wise-mtls/sandbox/client.key
    client_id: example-client-id

- name: Install the certificate and a PKCS#12 keystore for the payments service (Java)
  wise.mtls.certificate:
    path: /etc/wise-mtls/production/client.pem
    src: /etc/wise-mtls/production/incoming/client.pem
    private_key_path: /etc/wise-mtls/production/client.key
    owner: root
    group: payments
    pkcs12_path: /etc/wise-mtls/production/client.p12
    pkcs12_password: "{{ vault_wise_keystore_password }}"
    pkcs12_mode: '0640'
  register: wise_certificate

- name: Show how long the certificate is valid
  ansible.builtin.debug:
    msg: "{{ wise_certificate.subject_string }} expires {{ wise_certificate.not_after }} ({{ wise_certificate.days_remaining }} days)"
"""

RETURN = r"""
path:
  description: Path of the certificate file.
  returned: always
  type: str
  sample: /etc/wise-mtls/sandbox/client.pem
subject:
  description: Subject of the certificate, attribute by attribute.
  returned: success
  type: dict
  sample: {"C": "EU", "O": "Example Payments Ltd", "CN": "example-client-id"}
subject_string:
  description: Subject in the one-line form openssl uses.
  returned: success
  type: str
  sample: /C=EU/O=Example Payments Ltd/CN=example-client-id
issuer:
  description: Issuer of the certificate in the one-line form openssl uses.
  returned: success
  type: str
  sample: /C=GB/O=Wise Payments Ltd/CN=Wise Sandbox Client CA
common_name:
  description: The CN of the certificate (the Wise Client ID), V(null) when it has none.
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
  description: Whole days until the certificate expires.
  returned: success
  type: int
  sample: 364
fingerprint:
  description: SHA-256 fingerprint of the certificate.
  returned: success
  type: str
  sample: 9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19:3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e
public_key_fingerprint:
  description: SHA-256 over the public key (SubjectPublicKeyInfo); the same value M(wise.mtls.private_key) reports.
  returned: success
  type: str
  sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
chain:
  description: The result of the chain check - the CA that signed the certificate.
  returned: when O(ca_path) or O(ca_content) is given
  type: dict
  sample: {"signed_by_ca": true, "ca_subject": "/C=GB/O=Wise/CN=Wise Client CA", "ca_fingerprint": "12:ab:..."}
reasons:
  description: Why files were (or, in check mode, would be) written. Empty when nothing changed.
  returned: success
  type: list
  elements: str
  sample: ["there is no certificate at /etc/wise-mtls/sandbox/client.pem yet"]
pkcs12:
  description:
    - The PKCS#12 keystore - C(path), C(changed), and C(encryption), the algorithm used when the file is written.
  returned: when O(pkcs12_path) is given
  type: dict
  sample: {"path": "/etc/wise-mtls/sandbox/client.p12", "changed": true, "encryption": "aes256"}
combined:
  description: The combined certificate and key file - C(path) and C(changed).
  returned: when O(combined_path) is given
  type: dict
  sample: {"path": "/etc/wise-mtls/sandbox/client-combined.pem", "changed": false}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography
from ansible_collections.wise.mtls.plugins.module_utils._module_support import (
    fail_on_findings,
    load_key_file,
    read_content_or_file,
    render_diff,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            content=dict(type="str"),
            src=dict(type="path"),
            private_key_path=dict(type="path", required=True),
            private_key_passphrase=dict(type="str", no_log=True),
            client_id=dict(type="str"),
            ca_path=dict(type="path"),
            ca_content=dict(type="str"),
            mode=dict(type="raw", default="0644"),
            owner=dict(type="str"),
            group=dict(type="str"),
            pkcs12_path=dict(type="path"),
            pkcs12_password=dict(type="str", no_log=True),
            pkcs12_friendly_name=dict(type="str", default="wise-mtls"),
            pkcs12_encryption=dict(type="str", choices=["aes256", "3des"], default="aes256"),
            pkcs12_mode=dict(type="raw", default="0600"),
            combined_path=dict(type="path"),
            combined_mode=dict(type="raw", default="0600"),
        ),
        mutually_exclusive=[("content", "src"), ("ca_path", "ca_content")],
        required_one_of=[("content", "src")],
        required_by={"pkcs12_path": "pkcs12_password"},
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    params = module.params
    try:
        # No key replaced, and no other run writing these files, between the checks and the writes.
        with safe_file.locked(params["path"], params["private_key_path"], params["pkcs12_path"], params["combined_path"]):
            module.exit_json(**install_certificate(module, params))
    except safe_file.SafeFileError as exc:
        module.fail_json(msg=to_native(exc), path=module.params["path"])


class FilePlan(object):
    """One output file: its current state, wanted attributes, whether content and attributes change."""

    def __init__(self, label, path, attributes):
        self.label = label
        self.path = path
        self.attributes = attributes
        safe_file.check_parent(path)
        self.state = safe_file.FileState(path)
        self.content_change = False
        self.reason = None
        self.before = None
        self.after = None
        self.content_factory = None

    @property
    def attributes_change(self):
        return self.state.exists and self.state.attributes_differ(self.attributes)

    @property
    def changed(self):
        return self.content_change or self.attributes_change

    def facts(self, facts, planned=False):
        facts = dict(facts)
        facts.update(safe_file.describe_planned(self.state, self.attributes) if planned else safe_file.describe(self.state))
        return facts

    def apply(self, module, content_factory):
        if self.content_change:
            safe_file.write_file(module, self.path, content_factory(), self.attributes)
        elif self.attributes_change:
            safe_file.apply_attributes(self.path, self.attributes)


def install_certificate(module, params):
    check_distinct_paths(module, params)
    attributes = file_attributes(module, params)
    certificate, private_key, issuer = checked_certificate(module, params)
    chain = [issuer] if issuer is not None else []

    plans = [plan_certificate_file(params["path"], attributes["certificate"], certificate)]
    if params["pkcs12_path"]:
        plans.append(plan_pkcs12(module, params, attributes["pkcs12"], certificate, private_key, chain))
    if params["combined_path"]:
        plans.append(plan_combined(params, attributes["combined"], certificate, private_key))

    result = dict(changed=any(plan.changed for plan in plans), path=params["path"],
                  reasons=[plan.reason for plan in plans if plan.reason])
    result.update(describe_certificate(certificate))
    if issuer is not None:
        result["chain"] = dict(signed_by_ca=True, ca_subject=crypto.name_to_string(issuer.subject),
                               ca_fingerprint=crypto.certificate_fingerprint(issuer))
    for plan in plans[1:]:
        result[plan.label] = dict(path=plan.path, changed=plan.changed)
        if plan.label == "pkcs12":
            result[plan.label]["encryption"] = plan.encryption
    if module._diff:
        result["diff"] = [render_diff(plan.before, plan.after, plan.path) for plan in plans]

    if not module.check_mode:
        for plan in plans:
            plan.apply(module, plan.content_factory)
    return result


def check_distinct_paths(module, params):
    """Each output its own file, and none of them the private key."""
    seen = {}
    for option in ("private_key_path", "path", "pkcs12_path", "combined_path"):
        if not params[option]:
            continue
        real = os.path.realpath(params[option])
        if real in seen:
            module.fail_json(msg="{0} and {1} are the same file ({2}); the certificate, the PKCS#12 keystore and the "
                                 "combined file each need a file of their own, apart from the private key. Nothing was "
                                 "changed.".format(seen[real], option, params[option]), path=params["path"])
        seen[real] = option


def file_attributes(module, params):
    """Wanted attributes of every output; files that hold the key may not be readable by others."""
    findings = []
    for option in ("pkcs12", "combined"):
        if params[option + "_path"]:
            mode = safe_file.parse_mode(params[option + "_mode"])
            for finding in policy.check_private_key_mode(mode):
                finding.message = "{0}_mode: {1}".format(option, finding.message)
                findings.append(finding)
    fail_on_findings(module, findings, path=params["path"])
    return dict(
        certificate=safe_file.FileAttributes(params["mode"], params["owner"], params["group"]),
        pkcs12=safe_file.FileAttributes(params["pkcs12_mode"], params["owner"], params["group"]),
        combined=safe_file.FileAttributes(params["combined_mode"], params["owner"], params["group"]),
    )


def checked_certificate(module, params):
    """(certificate, private key, issuing CA or None) after every check; fails naming each problem."""
    data = read_content_or_file(module, params["content"], params["src"], "certificate", "src")
    certificates, findings = policy.read_certificates_pem(data, role="certificate", single=True)
    private_key = load_key_file(module, params["private_key_path"], params["private_key_passphrase"])
    certificate = certificates[0] if certificates and not policy.errors(findings) else None
    issuer = None
    if certificate is not None:
        findings.extend(policy.check_key_matches(certificate, private_key, params["private_key_path"]))
        findings.extend(policy.check_validity(certificate, role="certificate"))
        findings.extend(policy.check_client_id(certificate, params["client_id"]))
    if params["ca_path"] is not None or params["ca_content"] is not None:
        ca_data = read_content_or_file(module, params["ca_content"], params["ca_path"], "CA certificate", "ca_path")
        ca_certificates, ca_findings = policy.read_certificates_pem(ca_data, role="ca", single=False)
        findings.extend(ca_findings)
        if certificate is not None and ca_certificates and not policy.errors(ca_findings):
            issuer, chain_findings = policy.find_issuer(certificate, ca_certificates)
            findings.extend(chain_findings)
    fail_on_findings(module, findings, path=params["path"])
    for finding in findings:
        module.warn(finding.message)
    return certificate, private_key, issuer


def describe_certificate(certificate):
    common_names = crypto.name_values(certificate.subject, "COMMON_NAME")
    return dict(
        subject=crypto.name_to_dict(certificate.subject),
        subject_string=crypto.name_to_string(certificate.subject),
        issuer=crypto.name_to_string(certificate.issuer),
        common_name=common_names[0] if common_names else None,
        serial=crypto.certificate_serial_hex(certificate),
        not_before=crypto.iso8601(crypto.certificate_not_before(certificate)),
        not_after=crypto.iso8601(crypto.certificate_not_after(certificate)),
        days_remaining=policy.days_remaining(certificate),
        fingerprint=crypto.certificate_fingerprint(certificate),
        public_key_fingerprint=crypto.public_key_fingerprint(certificate.public_key()),
    )


def certificate_facts(certificate):
    """Public facts for the diff."""
    return dict(subject=crypto.name_to_string(certificate.subject), issuer=crypto.name_to_string(certificate.issuer),
                serial=crypto.certificate_serial_hex(certificate), fingerprint=crypto.certificate_fingerprint(certificate),
                not_after=crypto.iso8601(crypto.certificate_not_after(certificate)))


def plan_certificate_file(path, attributes, certificate):
    plan = FilePlan("certificate", path, attributes)
    wanted = crypto.certificate_to_pem(certificate)
    current = plan.state.read() if plan.state.exists else None
    plan.content_change = current != wanted
    if current is None:
        plan.reason = "there is no certificate at {0} yet".format(path)
    elif plan.content_change:
        plan.reason = "{0} holds another certificate".format(path)
        plan.before = plan.facts(_installed_certificate_facts(current))
    else:
        plan.before = plan.facts(certificate_facts(certificate))
    if plan.attributes_change and not plan.content_change:
        plan.reason = "owner, group or mode of {0} differ".format(path)
    plan.after = plan.facts(certificate_facts(certificate), planned=True)
    plan.content_factory = lambda: wanted
    return plan


def _installed_certificate_facts(data):
    try:
        certificates = crypto.load_certificate_blocks(data)
    except ValueError:
        certificates = []
    if not certificates:
        return dict(subject="(not a PEM certificate)")
    return certificate_facts(certificates[0])


def plan_pkcs12(module, params, attributes, certificate, private_key, chain):
    plan = FilePlan("pkcs12", params["pkcs12_path"], attributes)
    password, name = params["pkcs12_password"], params["pkcs12_friendly_name"]
    _encryption, plan.encryption = crypto.pkcs12_encryption(password, params["pkcs12_encryption"])
    if plan.encryption != params["pkcs12_encryption"]:
        module.warn("The cryptography library on this host is older than 38 and can only write PKCS#12 files "
                    "encrypted with 3DES (PBE-SHA1-3DES); {0} uses that.".format(plan.path))
    wanted_facts = _pkcs12_facts(name, certificate, private_key, chain)
    if not plan.state.exists:
        plan.content_change = True
        plan.reason = "there is no PKCS#12 keystore at {0} yet".format(plan.path)
    else:
        try:
            contents = crypto.load_pkcs12(plan.state.read(), password)
        except (ValueError, TypeError):
            plan.content_change = True
            plan.reason = "{0} cannot be opened with pkcs12_password (another password, or not PKCS#12)".format(
                plan.path)
            plan.before = plan.facts(dict(contents="(cannot be opened with pkcs12_password)"))
        else:
            difference = _pkcs12_difference(contents, name, certificate, private_key, chain)
            plan.content_change = difference is not None
            plan.reason = "{0}: {1}".format(plan.path, difference) if difference else None
            plan.before = plan.facts(_pkcs12_facts(contents.friendly_name if contents.names_known else name,
                                                   contents.certificate, contents.key,
                                                   [entry for _alias, entry in contents.additional]))
    if plan.attributes_change and not plan.content_change:
        plan.reason = "owner, group or mode of {0} differ".format(plan.path)
    plan.after = plan.facts(wanted_facts, planned=True)
    plan.content_factory = lambda: crypto.pkcs12_keystore(private_key, certificate, chain, name, password,
                                                          params["pkcs12_encryption"])[0]
    return plan


def _pkcs12_difference(contents, name, certificate, private_key, chain):
    """What differs between a PKCS#12 file's contents and what is wanted, or None."""
    if contents.key is None or not crypto.private_keys_equal(contents.key, private_key):
        return "it holds another private key" if contents.key is not None else "it holds no private key"
    if contents.certificate != certificate:
        return "it holds another certificate"
    if [entry for _alias, entry in contents.additional] != list(chain):
        return "its CA certificates differ"
    if contents.names_known and contents.friendly_name != name:
        return "its friendly name is {0!r}, not {1!r}".format(contents.friendly_name, name)
    return None


def _pkcs12_facts(name, certificate, private_key, chain):
    facts = dict(friendly_name=name if name is not None else "(unknown)",
                 certificates_for_ca=len(chain))
    if certificate is not None:
        facts.update(certificate_facts(certificate))
    facts["key_fingerprint"] = crypto.public_key_fingerprint(private_key.public_key()) if private_key else "(none)"
    return facts


def plan_combined(params, attributes, certificate, private_key):
    plan = FilePlan("combined", params["combined_path"], attributes)
    key_state = safe_file.FileState(params["private_key_path"], follow=True)
    key_blocks = [block for label, block in crypto.PemScan(key_state.read()).blocks if "PRIVATE KEY" in label]
    wanted = crypto.certificate_to_pem(certificate) + b"".join(key_blocks)
    current = plan.state.read() if plan.state.exists else None
    plan.content_change = current != wanted
    facts = dict(certificate_facts(certificate),
                 key_fingerprint=crypto.public_key_fingerprint(private_key.public_key()))
    if current is None:
        plan.reason = "there is no combined file at {0} yet".format(plan.path)
    elif plan.content_change:
        plan.reason = "{0} holds another certificate or key".format(plan.path)
        plan.before = plan.facts(_installed_certificate_facts(current))
    else:
        plan.before = plan.facts(facts)
    if plan.attributes_change and not plan.content_change:
        plan.reason = "owner, group or mode of {0} differ".format(plan.path)
    plan.after = plan.facts(facts, planned=True)
    plan.content_factory = lambda: wanted
    return plan


if __name__ == "__main__":
    main()
