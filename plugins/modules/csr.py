#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: csr
short_description: Ensure a Wise-compliant certificate signing request exists for a key
version_added: 0.1.0
description:
  - Ensures that O(path) holds a certificate signing request (CSR) for the private key at O(private_key_path) that
    Wise's Developer Hub accepts - exactly one PEM block and nothing else in the file, an allowed key, the
    organisation (O) set, and CN set to the Wise Client ID when O(client_id) is given.
  - The CSR is made again only when the key, the subject or its compliance changed; otherwise the file is left
    alone, so the CSR that was uploaded to Developer Hub stays the same.
  - Returns the CSR in PEM (public) and its subject, ready to paste into Developer Hub.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the subject and the public key fingerprint of the CSR before and after.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.files
options:
  path:
    description:
      - Where the CSR is written on the host (PEM).
    type: path
    required: true
  private_key_path:
    description:
      - Path of the private key the CSR is made for, for example made by M(wise.mtls.private_key).
    type: path
    required: true
  private_key_passphrase:
    description:
      - Passphrase of the private key, when it is encrypted.
    type: str
  organization:
    description:
      - Organisation name (O). Wise requires it; use your company's name.
    type: str
    required: true
  country:
    description:
      - Two-letter country (C). Wise's own example uses V(EU), which is not an ISO 3166 code, so any two letters are
        accepted.
    type: str
  client_id:
    description:
      - Your Wise Client ID. It becomes the CN. Wise sets CN to the Client ID in any case, so this only makes the
        CSR say what the certificate will.
    type: str
  mode:
    description:
      - Mode of the CSR file, as an octal string. A CSR is public.
    type: raw
    default: '0644'
seealso:
  - module: wise.mtls.private_key
  - module: wise.mtls.csr_info
"""

EXAMPLES = r"""
- name: Ensure the CSR for the sandbox key exists
  wise.mtls.csr:
    path: /etc/wise-mtls/sandbox/client.csr
    private_key_path: /etc/wise-mtls/sandbox/client.key
    organization: Example Payments Ltd
    country: EU
    client_id: example-client-id
  register: wise_csr

- name: Show the CSR to paste into Developer Hub
  ansible.builtin.debug:
    msg: "{{ wise_csr.csr }}"
"""

RETURN = r"""
path:
  description: Path of the CSR file.
  returned: always
  type: str
  sample: /etc/wise-mtls/sandbox/client.csr
csr:
  description: The CSR in PEM, exactly what the file holds. V(null) in check mode when it would be made anew.
  returned: always
  type: str
  sample: "-----BEGIN CERTIFICATE REQUEST-----\nMIIBFDCBuwIBADBZMQswCQYDVQQGEwJFVTEd...\n-----END CERTIFICATE REQUEST-----\n"
subject:
  description: Subject of the CSR, attribute by attribute.
  returned: always
  type: dict
  sample: {"C": "EU", "O": "Example Payments Ltd", "CN": "example-client-id"}
subject_string:
  description: Subject of the CSR in the one-line form openssl uses.
  returned: always
  type: str
  sample: /C=EU/O=Example Payments Ltd/CN=example-client-id
fingerprint:
  description: SHA-256 fingerprint of the public key (the same as M(wise.mtls.private_key) reports for the key).
  returned: always
  type: str
  sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
reasons:
  description: Why the CSR was (or, in check mode, would be) made anew. Empty when it was left alone.
  returned: always
  type: list
  elements: str
  sample: ["the CSR is for another key"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography
from ansible_collections.wise.mtls.plugins.module_utils._module_support import (
    fail_on_findings,
    load_key_file,
    render_diff,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            private_key_path=dict(type="path", required=True),
            private_key_passphrase=dict(type="str", no_log=True),
            organization=dict(type="str", required=True),
            country=dict(type="str"),
            client_id=dict(type="str"),
            mode=dict(type="raw", default="0644"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    params = module.params
    try:
        with safe_file.locked(params["path"], params["private_key_path"]):  # no key replaced while its CSR is made
            module.exit_json(**ensure_csr(module, params))
    except safe_file.SafeFileError as exc:
        module.fail_json(msg=to_native(exc), path=params["path"])


def ensure_csr(module, params):
    fail_on_findings(module, policy.check_subject_request(
        params["organization"], params["country"], params["client_id"]))
    wanted_attributes = safe_file.FileAttributes(params["mode"], params["owner"], params["group"])
    private_key = load_key_file(module, params["private_key_path"], params["private_key_passphrase"])
    fail_on_findings(module, policy.check_public_key(private_key.public_key()), path=params["private_key_path"])
    wanted_subject = crypto.build_name(params["organization"], params["country"], params["client_id"])
    safe_file.check_parent(params["path"])

    current = safe_file.FileState(params["path"])
    existing = current.read() if current.exists else None
    reasons = policy.csr_reasons_to_remake(existing, private_key, wanted_subject, params["client_id"])
    attributes_change = current.exists and current.attributes_differ(wanted_attributes)
    result = dict(changed=bool(reasons) or attributes_change, path=current.path, reasons=reasons)
    before = dict(describe_csr(existing), **safe_file.describe(current)) if current.exists else None

    csr_pem = existing
    if reasons and module.check_mode:
        csr_pem = None  # ECDSA signatures differ run to run: there is no exact CSR to show before it is made
    elif reasons:
        csr_pem = crypto.csr_to_pem(crypto.build_csr(private_key, params["organization"], params["country"],
                                                     params["client_id"]))
        safe_file.write_file(module, current.path, csr_pem, wanted_attributes)
    elif attributes_change and not module.check_mode:
        safe_file.apply_attributes(current.path, wanted_attributes)
    after = dict(subject=crypto.name_to_string(wanted_subject),
                 fingerprint=crypto.public_key_fingerprint(private_key.public_key()))
    after.update(safe_file.describe_planned(current, wanted_attributes))

    result.update(
        csr=to_native(csr_pem) if csr_pem else None,
        subject=crypto.name_to_dict(wanted_subject),
        subject_string=crypto.name_to_string(wanted_subject),
        fingerprint=crypto.public_key_fingerprint(private_key.public_key()),
    )
    if module._diff:
        result["diff"] = render_diff(before, after, current.path)
    return result


def describe_csr(pem):
    """Subject and key fingerprint of a CSR for the diff."""
    try:
        csr = crypto.load_csr_pem(pem)
        return dict(subject=crypto.name_to_string(csr.subject),
                    fingerprint=crypto.public_key_fingerprint(csr.public_key()))
    except ValueError:
        return dict(subject="(unreadable)", fingerprint="(unreadable)")


if __name__ == "__main__":
    main()
