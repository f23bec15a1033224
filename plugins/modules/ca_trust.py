#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ca_trust
short_description: Trust the Wise CA certificate in a dedicated bundle, the OS trust store or a Java trust store
version_added: 0.1.0
description:
  - Installs the Wise CA certificate (the one Developer Hub's "Get Wise Certificate" downloads) under a O(name) into
    one or more trust stores, or removes it from them with O(state=absent).
  - V(bundle), the default, is a PEM file at O(bundle_path) that only the Wise client uses (curl C(--cacert),
    Python C(requests) C(verify=)). Each entry is labelled with its name, as in certifi's C(cacert.pem), so one file
    can hold several named CAs; entries the module did not write are kept as they are.
  - V(system) is the trust store of the operating system, found from C(/etc/os-release) - Debian and Ubuntu
    (C(/usr/local/share/ca-certificates/<name>.crt), C(update-ca-certificates)), the RHEL family
    (C(/etc/pki/ca-trust/source/anchors/<name>.pem), C(update-ca-trust extract)), SUSE
    (C(/etc/pki/trust/anchors/<name>.pem), C(update-ca-certificates)), Alpine (like Debian; needs the
    C(ca-certificates) package) and Arch (C(/etc/ca-certificates/trust-source/anchors/<name>.crt),
    C(trust extract-compat)). The refresh command runs only when the anchor file changed, and never in check mode.
    Trusting the Wise CA system-wide is broader than needed; prefer V(bundle) unless a client cannot be pointed at
    a bundle.
  - V(java) is a PKCS#12 trust store at O(java_truststore_path) in which the CA is a trusted certificate entry
    (C(trustedCertEntry)) under the alias O(name) in lower case. Java only lists a certificate as trusted when its
    PKCS#12 bag carries Oracle's trusted-key-usage attribute (OID 2.16.840.1.113894.746875.1.1); the cryptography
    library writes it from version 45 on. With an older cryptography the module uses C(keytool) when it is found,
    and otherwise fails saying what to install.
  - The certificate must be a CA certificate (basicConstraints C(CA:TRUE)) and inside its validity window; a leaf
    certificate, an expired CA, DER or several certificates are refused with a message naming the problem, and
    nothing is changed.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
    details:
      - The refresh command of the OS store does not run in check mode; RV(refreshed) says whether it would have.
  diff_mode:
    support: full
    details:
      - One diff per store, with the entry's name, subject, SHA-256 fingerprint and expiry, and the file's owner,
        group and mode, before and after.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.files
options:
  name:
    description:
      - Name of the CA in every store - the label in the bundle, the anchor file name in the OS store, the alias in
        the Java trust store. Letters, digits, C(.), C(_) and C(-).
      - Use one name per CA, for example V(wise-sandbox) and V(wise-production).
    type: str
    required: true
  state:
    description:
      - V(present) installs the CA in each of O(stores); V(absent) removes the entry called O(name) from each.
    type: str
    choices: [present, absent]
    default: present
  content:
    description:
      - The CA certificate in PEM. Exactly one certificate.
      - Required with O(state=present) unless O(src) is given.
    type: str
  src:
    description:
      - Path of a file on the managed host holding the CA certificate in PEM.
    type: path
  stores:
    description:
      - Where to trust the CA.
    type: list
    elements: str
    choices: [bundle, system, java]
    default: [bundle]
  bundle_path:
    description:
      - The dedicated PEM bundle. Required when O(stores) contains V(bundle).
      - When the last entry is removed with O(state=absent), the file is removed.
    type: path
  mode:
    description:
      - Mode of the bundle and of the Java trust store, as an octal string. They hold public certificates only.
      - Anchor files of the OS store are always C(0644).
    type: raw
    default: '0644'
  system_anchor_dir:
    description:
      - Folder for the anchor file of the OS store, instead of the platform's usual one.
      - Needed, with O(system_refresh_command), on a platform the module does not know.
    type: path
  system_refresh_command:
    description:
      - Command (program and arguments) that rebuilds the OS trust store after an anchor changed, instead of the
        platform's usual one.
      - Without it, Debian and Ubuntu run C(update-ca-certificates --fresh) after a removal, which also drops the
        removed CA's links from C(/etc/ssl/certs).
    type: list
    elements: str
  java_truststore_path:
    description:
      - The PKCS#12 Java trust store. Required when O(stores) contains V(java). Other entries in it are kept.
      - When the last entry is removed with O(state=absent), the file is removed.
    type: path
  java_truststore_password:
    description:
      - Password of the Java trust store (Java's own default is C(changeit)). Required when O(stores) contains
        V(java). keytool insists on at least 6 characters.
    type: str
  java_truststore_backend:
    description:
      - What writes the Java trust store. V(auto) uses the cryptography library when it can write trusted entries
        (version 45 or newer) and C(keytool) otherwise.
      - A store written by the cryptography library is encrypted with AES-256-CBC and an HMAC-SHA256 MAC, which
        Java 8u301, 11.0.12, 17 and newer read; keytool uses the defaults of the Java it belongs to.
    type: str
    choices: [auto, cryptography, keytool]
    default: auto
  java_keytool_path:
    description:
      - Path of C(keytool) when it is not on the PATH (nor in C($JAVA_HOME/bin)).
    type: path
notes:
  - A store that was left alone is not read again after a change elsewhere, so each store is as independent as
    separate tasks would be; all of them are checked before any is changed.
  - With V(system), the module trusts the anchor file - if someone removed the CA from the system bundle by hand
    without removing the anchor, run the refresh command yourself.
seealso:
  - module: wise.mtls.certificate
  - module: wise.mtls.certificate_info
  - name: Wise mutual TLS guide
    description: Where to download the Wise certificate and how clients use it.
    link: https://docs.wise.com/api-docs/guides/mtls
"""

EXAMPLES = r"""
- name: Trust the Wise sandbox CA in the bundle the Wise client uses
  wise.mtls.ca_trust:
    name: wise-sandbox
    src: /etc/wise-mtls/sandbox/downloaded-wise-ca.pem
    bundle_path: /etc/wise-mtls/sandbox/wise-ca.pem

- name: Trust the Wise production CA system-wide and in the payments service's Java trust store
  wise.mtls.ca_trust:
    name: wise-production
    content: "{{ lookup('ansible.builtin.file', 'files/wise-production-ca.pem') }}"
    stores: [system, java]
    java_truststore_path: /etc/payments/truststore.p12
    java_truststore_password: "{{ vault_truststore_password }}"
    group: payments
  register: wise_ca

- name: Restart the payments service when the trust changed
  ansible.builtin.debug:
    msg: "Trust changed in {{ wise_ca.stores | dict2items | selectattr('value.changed') | map(attribute='key') | list }}"
  when: wise_ca.changed

- name: Stop trusting an old Wise CA everywhere
  wise.mtls.ca_trust:
    name: wise-production-2025
    state: absent
    stores: [bundle, system, java]
    bundle_path: /etc/wise-mtls/production/wise-ca.pem
    java_truststore_path: /etc/payments/truststore.p12
    java_truststore_password: "{{ vault_truststore_password }}"
"""

RETURN = r"""
name:
  description: The name of the CA in the stores.
  returned: always
  type: str
  sample: wise-sandbox
subject:
  description: Subject of the CA certificate, in the one-line form openssl uses.
  returned: when O(state=present)
  type: str
  sample: /C=GB/O=Wise Payments Ltd/CN=Wise Sandbox mTLS CA
fingerprint:
  description: SHA-256 fingerprint of the CA certificate.
  returned: when O(state=present)
  type: str
  sample: 5e:a9:61:7d:0b:c4:e3:19:3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2
not_after:
  description: End of the CA certificate's validity, ISO 8601 in UTC.
  returned: when O(state=present)
  type: str
  sample: "2031-03-01T00:00:00Z"
refreshed:
  description:
    - Whether the OS trust store's refresh command ran (in check mode - would have run).
  returned: always
  type: bool
  sample: false
stores:
  description: What happened in each store asked for, by store name.
  returned: always
  type: dict
  contains:
    bundle:
      description: The dedicated bundle - C(path), C(changed), and C(file_removed) when the last entry went.
      returned: when O(stores) contains V(bundle)
      type: dict
      sample: {"path": "/etc/wise-mtls/sandbox/wise-ca.pem", "changed": true}
    system:
      description:
        - The OS store - C(path) of the anchor file, C(changed), C(platform) (V(debian), V(rhel), V(suse),
          V(alpine), V(arch) or V(custom)), C(refresh_command), and C(bundle), the system bundle the refresh builds
          (for clients that take a CA file).
      returned: when O(stores) contains V(system)
      type: dict
      sample: {"path": "/usr/local/share/ca-certificates/wise-sandbox.crt", "changed": true, "platform": "debian",
               "refresh_command": ["/usr/sbin/update-ca-certificates"], "bundle": "/etc/ssl/certs/ca-certificates.crt"}
    java:
      description: The Java trust store - C(path), C(changed), C(backend) (V(cryptography) or V(keytool)).
      returned: when O(stores) contains V(java)
      type: dict
      sample: {"path": "/etc/payments/truststore.p12", "changed": false, "backend": "cryptography"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography
from ansible_collections.wise.mtls.plugins.module_utils._module_support import (
    fail_on_findings,
    read_content_or_file,
    render_diff,
)

STORE_ORDER = ("bundle", "java", "system")  # the OS store last: its refresh is the one step that can fail late


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            content=dict(type="str"),
            src=dict(type="path"),
            stores=dict(type="list", elements="str", choices=["bundle", "system", "java"], default=["bundle"]),
            bundle_path=dict(type="path"),
            mode=dict(type="raw", default="0644"),
            owner=dict(type="str"),
            group=dict(type="str"),
            system_anchor_dir=dict(type="path"),
            system_refresh_command=dict(type="list", elements="str"),
            java_truststore_path=dict(type="path"),
            java_truststore_password=dict(type="str", no_log=True),
            java_truststore_backend=dict(type="str", choices=["auto", "cryptography", "keytool"], default="auto"),
            java_keytool_path=dict(type="path"),
        ),
        mutually_exclusive=[("content", "src")],
        required_if=[("state", "present", ("content", "src"), True)],
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    try:
        module.exit_json(**ensure_trust(module, module.params))
    except (safe_file.SafeFileError, trust_stores.TrustStoreError) as exc:
        module.fail_json(msg=to_native(exc), name=module.params["name"])


def ensure_trust(module, params):
    name = params["name"]
    trust_stores.check_name(name)
    stores = [store for store in STORE_ORDER if store in params["stores"]]
    if not stores:
        module.fail_json(msg="stores is empty; give at least one of bundle, system, java. Nothing was changed.")
    check_store_options(module, params, stores)

    certificate = None
    result = dict(changed=False, name=name, refreshed=False, stores={})
    if params["state"] == "present":
        certificate = read_ca_certificate(module, params)
        result.update(subject=crypto.name_to_string(certificate.subject),
                      fingerprint=crypto.certificate_fingerprint(certificate),
                      not_after=crypto.iso8601(crypto.certificate_not_after(certificate)))
    attributes = safe_file.FileAttributes(params["mode"], params["owner"], params["group"])
    system = None
    if "system" in stores:
        system = trust_stores.system_store(trust_stores.read_os_release(), params["system_anchor_dir"],
                                           params["system_refresh_command"])
    # No other run changes these stores between reading them and writing them.
    with safe_file.locked(params["bundle_path"] if "bundle" in stores else None,
                          params["java_truststore_path"] if "java" in stores else None,
                          system.anchor_path(name) if system else None):
        return plan_and_apply(module, params, stores, system, certificate, attributes, result)


def plan_and_apply(module, params, stores, system, certificate, attributes, result):
    """Plan every store (reading only), then change them, refreshing the OS store when its anchor changed."""
    name = params["name"]
    plans = []
    refresh_command = None
    for store in stores:
        if store == "bundle":
            plans.append(trust_stores.plan_bundle(module, params["bundle_path"], name, certificate, attributes))
        elif store == "java":
            backend, keytool = trust_stores.choose_java_backend(module, params["java_truststore_backend"],
                                                                params["java_keytool_path"])
            java_store = trust_stores.JavaTrustStore(module, params["java_truststore_path"],
                                                     params["java_truststore_password"], backend, keytool)
            plans.append(trust_stores.plan_java(module, java_store, name, certificate, attributes))
        else:
            plan = trust_stores.plan_system(module, system, name, certificate)
            if plan.changed:
                refresh_command = trust_stores.resolve_refresh_command(module, system, removal=certificate is None)
            plans.append(plan)

    result["changed"] = any(plan.changed for plan in plans)
    result["refreshed"] = refresh_command is not None
    for plan in plans:
        report = plan.report()
        if plan.store == "system":
            report.update(refresh_command=refresh_command or list(system.refresh_command), bundle=system.bundle)
        result["stores"][plan.store] = report
    if module._diff:
        result["diff"] = [render_diff(plan.before, plan.after, plan.path) for plan in plans]

    if not module.check_mode:
        for plan in plans:
            plan.apply()
            if plan.store == "system" and refresh_command is not None:
                refresh(module, plan, refresh_command)
    return result


def check_store_options(module, params, stores):
    missing = []
    if "bundle" in stores and not params["bundle_path"]:
        missing.append("bundle_path (for the bundle store)")
    if "java" in stores:
        if not params["java_truststore_path"]:
            missing.append("java_truststore_path (for the java store)")
        if not params["java_truststore_password"]:
            missing.append("java_truststore_password (for the java store)")
    if missing:
        module.fail_json(msg="Missing option{0}: {1}. Nothing was changed.".format(
            "s" if len(missing) > 1 else "", ", ".join(missing)))


def read_ca_certificate(module, params):
    """The CA certificate from content or src, after every check; fails naming the problem."""
    data = read_content_or_file(module, params["content"], params["src"], "CA certificate", "src")
    certificates, findings = policy.read_certificates_pem(data, role="ca", single=True)
    if certificates and not policy.errors(findings):
        findings.extend(policy.check_ca_certificate(certificates[0]))
        findings.extend(policy.check_validity(certificates[0], role="ca"))
    fail_on_findings(module, findings, name=params["name"])
    for finding in findings:
        module.warn(finding.message)
    return certificates[0]


def refresh(module, plan, command):
    rc, out, err = module.run_command(command)
    if rc != 0:
        plan.rollback()
        module.fail_json(msg="The OS trust store refresh ({0}) failed with exit status {1}: {2}. The anchor file {3} "
                             "was put back as it was, so the next run tries again; stores listed before the OS store "
                             "were already updated.".format(" ".join(command), rc, (err or out).strip(), plan.path),
                         rc=rc, stdout=out, stderr=err)


if __name__ == "__main__":
    main()
