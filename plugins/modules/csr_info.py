#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: csr_info
short_description: Check a CSR made anywhere against every Wise rule
version_added: 0.1.0
description:
  - Reads a certificate signing request (CSR) from O(path) on the host or from O(content), made by any tool
    (openssl, an HSM, M(wise.mtls.csr)), and reports every rule of Wise's Developer Hub that it breaks.
  - Uses the same policy code as M(wise.mtls.csr). Each finding has a stable RV(findings[].code), a
    RV(findings[].severity) (V(error) - Wise refuses the CSR; V(warning) - worth fixing) and a message that says what
    to do.
  - A non-compliant CSR is a normal result, not a module failure; use RV(compliant) in a condition or an assert.
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
      - Path of the CSR file on the host. DER files are read too, and reported as not PEM.
      - Exactly one of O(path) and O(content) is required.
    type: path
  content:
    description:
      - The CSR text itself.
      - Exactly one of O(path) and O(content) is required.
    type: str
  client_id:
    description:
      - Your Wise Client ID. When given, a CN that differs from it is reported as a warning (Wise replaces CN with
        the Client ID).
    type: str
seealso:
  - module: wise.mtls.csr
"""

EXAMPLES = r"""
- name: Check a CSR made by the security team's HSM
  wise.mtls.csr_info:
    path: /srv/handoff/payments.csr
    client_id: example-client-id
  register: wise_csr_check

- name: Stop when Wise would refuse it
  ansible.builtin.assert:
    that: wise_csr_check.compliant
    fail_msg: "{{ wise_csr_check.findings | map(attribute='message') | join(' ') }}"
"""

RETURN = r"""
compliant:
  description: V(true) when no finding has severity V(error), that is, Developer Hub would accept the CSR.
  returned: always
  type: bool
  sample: false
findings:
  description: Every Wise rule the CSR breaks.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description:
        - Stable identifier of the rule, one of V(csr_empty), V(csr_not_pem), V(csr_wrong_pem_type),
          V(csr_multiple_pem_blocks), V(csr_text_outside_pem), V(csr_unreadable), V(csr_signature_invalid),
          V(key_type_not_allowed), V(rsa_key_size_not_allowed), V(ecc_curve_not_allowed), V(organization_missing),
          V(country_invalid), V(common_name_differs).
      type: str
      sample: rsa_key_size_not_allowed
    severity:
      description: V(error) when Wise refuses the CSR for it, V(warning) otherwise.
      type: str
      sample: error
    message:
      description: What is wrong and what to do, for people.
      type: str
      sample: RSA 1024 bits is not accepted by Wise (too weak); use 2048, 3072 or 4096 bits.
subject:
  description: Subject of the CSR, attribute by attribute, when it could be parsed.
  returned: when the CSR could be parsed
  type: dict
  sample: {"C": "EU", "O": "Example Payments Ltd"}
subject_string:
  description: Subject in the one-line form openssl uses.
  returned: when the CSR could be parsed
  type: str
  sample: /C=EU/O=Example Payments Ltd
public_key:
  description: The CSR's public key.
  returned: when the CSR could be parsed
  type: dict
  contains:
    type:
      description: Key algorithm (V(rsa), V(ecc) or another name).
      type: str
      sample: rsa
    size:
      description: Key size in bits.
      type: int
      sample: 4096
    curve:
      description: Curve name for ECC keys.
      type: str
      sample: secp256r1
    fingerprint:
      description: SHA-256 fingerprint of the public key.
      type: str
      sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
signature_valid:
  description: Whether the CSR's signature verifies with its own public key.
  returned: when the CSR could be parsed
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            content=dict(type="str"),
            client_id=dict(type="str"),
        ),
        mutually_exclusive=[("path", "content")],
        required_one_of=[("path", "content")],
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    params = module.params
    if params["path"] is not None:
        try:
            state = safe_file.FileState(params["path"], follow=True)
            if not state.exists:
                module.fail_json(msg="The CSR {0} does not exist on the host; check path, or give the CSR text in "
                                     "content instead.".format(params["path"]))
            data = state.read()
        except safe_file.SafeFileError as exc:
            module.fail_json(msg=to_native(exc))
    else:
        data = to_bytes(params["content"])

    findings = policy.check_csr_pem(data, client_id=params["client_id"])
    result = dict(changed=False, compliant=policy.is_compliant(findings),
                  findings=[finding.as_dict() for finding in findings])
    result.update(describe_parsable_csr(data))
    module.exit_json(**result)


def describe_parsable_csr(data):
    """Subject, key and signature of the first CSR in data, PEM or DER, when it parses at all."""
    csr = None
    for label, block in crypto.PemScan(data).blocks:
        if label in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"):
            csr = _parse(crypto.load_csr_pem, block)
            break
    else:
        csr = _parse(crypto.load_csr_der, data)
    if csr is None:
        return {}
    key = csr.public_key()
    key_facts = crypto.describe_public_key(key)
    key_facts["fingerprint"] = crypto.public_key_fingerprint(key)
    return dict(subject=crypto.name_to_dict(csr.subject), subject_string=crypto.name_to_string(csr.subject),
                public_key=key_facts, signature_valid=csr.is_signature_valid)


def _parse(loader, data):
    try:
        return loader(data)
    except ValueError:
        return None


if __name__ == "__main__":
    main()
