#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: client_info
short_description: Tell in one call what of a host's Wise client setup is in place and what is left to do
version_added: 0.1.0
description:
  - Reads, in one round trip, everything a run needs to know about a host before it changes anything - the Python
    libraries the other modules need, the Wise client folder and the type, owner, group and mode of its files, and
    whether the issued certificate and the Wise CA are already installed exactly as M(wise.mtls.certificate) and
    M(wise.mtls.ca_trust) would install them.
  - It makes the steady state cheap - a playbook (such as the P(wise.mtls.client#role)) calls M(wise.mtls.certificate)
    and M(wise.mtls.ca_trust) only where this module did not find their work done.
  - It applies the same checks as those modules, with the same code - one PEM certificate, its public key equal to the
    private key's, inside its validity window, CN equal to O(client_id); the CA a CA certificate and valid now; same
    content, owner, group and mode. RV(certificate.in_place) and RV(ca.in_place) are V(true) only when every check
    passes without even a warning and no file would change; anything else - including a problem - is V(false) with
    a RV(certificate.reason), and the module that does the job then runs and reports the problem in its own words.
  - Runs without C(cryptography) and C(requests) too, and then lists them in RV(missing).
  - Reads the private key only to compare its public key with the certificate's, and never returns key material.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.attributes.info_module
options:
  directory:
    description:
      - The folder holding the Wise client files.
    type: path
    required: true
  private_key_path:
    description:
      - The private key (PEM).
    type: path
    required: true
  private_key_passphrase:
    description:
      - Passphrase of the private key, when it is encrypted.
    type: str
  csr_path:
    description:
      - The CSR. Only its type, owner, group and mode are reported.
    type: path
  certificate_path:
    description:
      - Where the client certificate is (or is to be) installed.
    type: path
    required: true
  certificate_content:
    description:
      - The issued certificate in PEM, as M(wise.mtls.certificate) would get it in its O(wise.mtls.certificate#module:content).
      - Without it, RV(certificate) is not returned.
    type: str
  client_id:
    description:
      - Your Wise Client ID. When given, the certificate's CN must be exactly this, as in M(wise.mtls.certificate).
    type: str
  certificate_mode:
    description:
      - Mode the certificate file must have.
    type: raw
    default: '0644'
  ca_name:
    description:
      - Name of the Wise CA's entry in the bundle, as in M(wise.mtls.ca_trust)'s O(wise.mtls.ca_trust#module:name).
      - Required with O(ca_content).
    type: str
  ca_content:
    description:
      - The Wise CA certificate in PEM. Without it, RV(ca) is not returned.
    type: str
  ca_bundle_path:
    description:
      - The dedicated CA bundle file (the V(bundle) store of M(wise.mtls.ca_trust)). Required with O(ca_content).
    type: path
  ca_mode:
    description:
      - Mode the bundle file must have.
    type: raw
    default: '0644'
  owner:
    description:
      - Owner the certificate and the bundle must have. Not checked when not given.
      - The module fails when the host has no such user.
    type: str
  group:
    description:
      - Group the certificate and the bundle must have. Not checked when not given.
      - The module fails when the host has no such group.
    type: str
notes:
  - Only the V(bundle) store of M(wise.mtls.ca_trust) is checked here; for the V(system) and V(java) stores run
    M(wise.mtls.ca_trust) itself. PKCS#12 and combined outputs of M(wise.mtls.certificate) are not checked either.
seealso:
  - module: wise.mtls.certificate
  - module: wise.mtls.ca_trust
  - module: wise.mtls.certificate_info
"""

EXAMPLES = r"""
- name: Look at the host's Wise client setup
  wise.mtls.client_info:
    directory: /etc/wise-mtls/sandbox
    private_key_path: /etc/wise-mtls/sandbox/client.key
    certificate_path: /etc/wise-mtls/sandbox/client.pem
    certificate_content: "{{ lookup('ansible.builtin.file', 'certificates/' + inventory_hostname + '.pem') }}"
    client_id: example-client-id
    ca_name: wise-sandbox
    ca_content: "{{ lookup('ansible.builtin.file', 'certificates/wise-ca.pem') }}"
    ca_bundle_path: /etc/wise-mtls/sandbox/wise-ca.pem
  register: wise_client

- name: Install the certificate only where it is not in place yet
  wise.mtls.certificate:
    path: /etc/wise-mtls/sandbox/client.pem
    content: "{{ lookup('ansible.builtin.file', 'certificates/' + inventory_hostname + '.pem') }}"
    private_key_path: /etc/wise-mtls/sandbox/client.key
    client_id: example-client-id
  when: not wise_client.certificate.in_place
"""

RETURN = r"""
python:
  description: The Python interpreter that ran the module (and runs the collection's other modules).
  returned: always
  type: str
  sample: /usr/bin/python3
missing:
  description: Python libraries the collection's modules need that this interpreter cannot import.
  returned: always
  type: list
  elements: str
  sample: ["requests"]
ca_tools:
  description: Whether a command that refreshes the OS trust store (C(update-ca-certificates), C(update-ca-trust)) exists.
  returned: always
  type: bool
  sample: true
directory:
  description: The folder - C(type) (V(directory), V(file), V(link), V(other) or V(none)), C(mode), C(owner), C(group).
  returned: always
  type: dict
  sample: {"type": "directory", "mode": "0700", "owner": "root", "group": "root"}
files:
  description:
    - The files - C(private_key), C(csr) (when O(csr_path) is given), C(certificate) and C(ca) (when O(ca_bundle_path)
      is given), each described like RV(directory). Metadata only.
    - A path that is a link of the rotation layout (M(wise.mtls.generation)) is described by the live generation's file
      behind it, with C(link=true).
  returned: always
  type: dict
  sample: {"private_key": {"type": "file", "mode": "0600", "owner": "root", "group": "root"}}
certificate:
  description:
    - What was found about the certificate of O(certificate_content) at O(certificate_path).
  returned: when O(certificate_content) is given
  type: dict
  contains:
    in_place:
      description:
        - V(true) when the certificate is installed exactly as M(wise.mtls.certificate) would install it and every
          check of that module passes without a warning, so that it would neither fail, nor warn, nor change anything.
      type: bool
      sample: true
    checks_passed:
      description:
        - V(true) when the certificate passes every check of M(wise.mtls.certificate) without a warning (one PEM
          certificate, the key's public key, valid now, CN = O(client_id)), so that what is left, if anything, is
          writing the file.
      type: bool
      sample: true
    reason:
      description: Why the certificate is not in place, V(null) when it is.
      type: str
      sample: there is no certificate at /etc/wise-mtls/sandbox/client.pem yet
    common_name:
      description: The certificate's CN (returned when the certificate could be read).
      type: str
      sample: example-client-id
    subject_string:
      description: Subject in the one-line form openssl uses (returned when the certificate could be read).
      type: str
      sample: /C=EU/O=Example Payments Ltd/CN=example-client-id
    not_after:
      description: End of the validity window, ISO 8601 in UTC (returned when the certificate could be read).
      type: str
      sample: "2027-01-15T10:00:00Z"
    days_remaining:
      description: Whole days until the certificate expires (returned when the certificate could be read).
      type: int
      sample: 364
    fingerprint:
      description: SHA-256 fingerprint of the certificate (returned when the certificate could be read).
      type: str
      sample: 9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19:3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e
ca:
  description:
    - What was found about the CA of O(ca_content) in O(ca_bundle_path).
  returned: when O(ca_content) is given
  type: dict
  contains:
    in_place:
      description:
        - V(true) when the bundle holds the CA under O(ca_name) exactly as M(wise.mtls.ca_trust) would put it there,
          with the wanted owner, group and mode, and every check of that module passes without a warning.
      type: bool
      sample: false
    reason:
      description: Why the CA is not in place, V(null) when it is.
      type: str
      sample: /etc/wise-mtls/sandbox/wise-ca.pem does not hold this CA under wise-sandbox with the wanted owner, group and mode yet
    subject:
      description: Subject of the CA certificate (returned when it could be read).
      type: str
      sample: /C=GB/O=Wise Payments Ltd/CN=Wise Sandbox CA
    fingerprint:
      description: SHA-256 fingerprint of the CA certificate (returned when it could be read).
      type: str
      sample: 12:ab:34:cd:56:ef:78:90:12:ab:34:cd:56:ef:78:90:12:ab:34:cd:56:ef:78:90:12:ab:34:cd:56:ef:78:90
    not_after:
      description: End of the CA's validity window, ISO 8601 in UTC (returned when it could be read).
      type: str
      sample: "2036-01-15T10:00:00Z"
"""

import grp
import os
import pwd
import stat
import sys
from importlib.util import find_spec

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import CRYPTOGRAPHY_IMPORT_ERROR
from ansible_collections.wise.mtls.plugins.module_utils._module_support import read_content_or_file

CA_TOOLS = ("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates",
            "/usr/bin/update-ca-trust", "/usr/sbin/update-ca-trust")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directory=dict(type="path", required=True),
            private_key_path=dict(type="path", required=True, no_log=False),
            private_key_passphrase=dict(type="str", no_log=True),
            csr_path=dict(type="path"),
            certificate_path=dict(type="path", required=True),
            certificate_content=dict(type="str"),
            client_id=dict(type="str"),
            certificate_mode=dict(type="raw", default="0644"),
            ca_name=dict(type="str"),
            ca_content=dict(type="str"),
            ca_bundle_path=dict(type="path"),
            ca_mode=dict(type="raw", default="0644"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        required_by={"ca_content": ("ca_name", "ca_bundle_path")},
        supports_check_mode=True,
    )
    params = module.params
    # An owner or group the host does not know would make the role create the folder and then
    # fail on the key; refusing here stops the run before anything on the host changes.
    try:
        safe_file.FileAttributes(None, params["owner"], params["group"])
    except safe_file.SafeFileError as exc:
        module.fail_json(msg="{0} Nothing was changed.".format(exc))
    missing = [name for name in ("cryptography", "requests") if find_spec(name) is None]
    if CRYPTOGRAPHY_IMPORT_ERROR is not None and "cryptography" not in missing:
        missing.insert(0, "cryptography")
    paths = dict(private_key=params["private_key_path"], csr=params["csr_path"],
                 certificate=params["certificate_path"], ca=params["ca_bundle_path"])
    result = dict(
        changed=False,
        python=sys.executable,
        missing=missing,
        ca_tools=any(os.path.exists(tool) for tool in CA_TOOLS),
        directory=describe_path(params["directory"]),
        files=dict((name, describe_path(path)) for name, path in paths.items() if path),
    )
    usable = "cryptography" not in missing
    if params["certificate_content"] is not None:
        result["certificate"] = certificate_state(module, params) if usable else not_checked()
    if params["ca_content"] is not None:
        result["ca"] = ca_state(module, params) if usable else not_checked()
    module.exit_json(**result)


def describe_path(path):
    """Type, mode, owner and group of a path, without following a link and without reading it.

    The one exception is a link of the rotation layout (see wise.mtls.generation): it is described by the live
    generation's file behind it, the file the other modules read and write through it, with link=True.
    """
    real = safe_file.real_path(path)
    try:
        info = os.lstat(real)
    except OSError:
        return dict(type="none")
    if stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISLNK(info.st_mode):
        kind = "link"
    else:
        kind = "other"
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    facts = dict(type=kind, mode="%04o" % stat.S_IMODE(info.st_mode), owner=owner, group=group)
    if real != path:
        facts["link"] = True
    return facts


def not_checked():
    return dict(in_place=False, checks_passed=False,
                reason="cryptography is missing on the host, so nothing could be checked")


def not_in_place(facts, reason):
    facts.setdefault("checks_passed", False)
    facts.update(in_place=False, reason=reason)
    return facts


def attributes(module, mode, params):
    try:
        return safe_file.FileAttributes(mode, params["owner"], params["group"]), None
    except (safe_file.SafeFileError, ValueError) as exc:
        return None, str(exc)


def certificate_state(module, params):
    """Whether wise.mtls.certificate would find nothing to check-fail, warn about or write."""
    facts = {}
    data = read_content_or_file(module, params["certificate_content"], None, "certificate", "certificate_content")
    certificates, findings = policy.read_certificates_pem(data, role="certificate", single=True)
    if findings or not certificates:
        return not_in_place(facts, "the certificate content has findings: " + describe_findings(findings))
    certificate = certificates[0]
    common_names = crypto.name_values(certificate.subject, "COMMON_NAME")
    facts.update(
        subject_string=crypto.name_to_string(certificate.subject),
        common_name=common_names[0] if common_names else None,
        not_after=crypto.iso8601(crypto.certificate_not_after(certificate)),
        days_remaining=policy.days_remaining(certificate),
        fingerprint=crypto.certificate_fingerprint(certificate),
    )
    try:
        key_state = safe_file.FileState(params["private_key_path"], follow=True)
        if not key_state.exists:
            return not_in_place(facts, "there is no private key at {0}".format(params["private_key_path"]))
        private_key = crypto.load_private_key(key_state.read(), params["private_key_passphrase"])
    except (safe_file.SafeFileError, crypto.KeyLoadError) as exc:
        return not_in_place(facts, "the private key cannot be used: {0}".format(exc))
    findings = policy.check_key_matches(certificate, private_key, params["private_key_path"])
    findings.extend(policy.check_validity(certificate, role="certificate"))
    findings.extend(policy.check_client_id(certificate, params["client_id"]))
    if findings:
        return not_in_place(facts, describe_findings(findings))
    wanted, problem = attributes(module, params["certificate_mode"], params)
    if problem:
        return not_in_place(facts, problem)
    try:
        safe_file.check_parent(params["certificate_path"])
        state = safe_file.FileState(params["certificate_path"])
        current = state.read() if state.exists else None
    except safe_file.SafeFileError as exc:
        return not_in_place(facts, str(exc))
    # Every check of wise.mtls.certificate passes: what is left, if anything, is writing the file.
    facts["checks_passed"] = True
    if current is None:
        return not_in_place(facts, "there is no certificate at {0} yet".format(params["certificate_path"]))
    if current != crypto.certificate_to_pem(certificate):
        return not_in_place(facts, "{0} holds another certificate".format(params["certificate_path"]))
    if state.attributes_differ(wanted):
        return not_in_place(facts, "owner, group or mode of {0} differ".format(params["certificate_path"]))
    facts.update(in_place=True, reason=None)
    return facts


def ca_state(module, params):
    """Whether wise.mtls.ca_trust (bundle store) would find nothing to check-fail, warn about or write."""
    facts = {}
    data = read_content_or_file(module, params["ca_content"], None, "CA certificate", "ca_content")
    certificates, findings = policy.read_certificates_pem(data, role="ca", single=True)
    if certificates and not policy.errors(findings):
        findings.extend(policy.check_ca_certificate(certificates[0]))
        findings.extend(policy.check_validity(certificates[0], role="ca"))
    if certificates:
        facts.update(subject=crypto.name_to_string(certificates[0].subject),
                     fingerprint=crypto.certificate_fingerprint(certificates[0]),
                     not_after=crypto.iso8601(crypto.certificate_not_after(certificates[0])))
    if findings or not certificates:
        return not_in_place(facts, "the CA content has findings: " + describe_findings(findings))
    wanted, problem = attributes(module, params["ca_mode"], params)
    if problem:
        return not_in_place(facts, problem)
    try:
        trust_stores.check_name(params["ca_name"])
        plan = trust_stores.plan_bundle(module, params["ca_bundle_path"], params["ca_name"], certificates[0], wanted)
    except (safe_file.SafeFileError, trust_stores.TrustStoreError) as exc:
        return not_in_place(facts, str(exc))
    if plan.changed:
        return not_in_place(facts, "{0} does not hold this CA under {1} with the wanted owner, group and mode yet".format(
            params["ca_bundle_path"], params["ca_name"]))
    facts.update(in_place=True, reason=None)
    return facts


def describe_findings(findings):
    return " ".join(finding.message for finding in findings) or "no certificate found"


if __name__ == "__main__":
    main()
