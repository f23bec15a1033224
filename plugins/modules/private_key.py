#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: private_key
short_description: Ensure a Wise-compliant private key exists
version_added: 0.1.0
description:
  - Ensures that a private key that Wise accepts for mutual TLS exists at O(path) - RSA with 2048, 3072 or 4096
    bits, or ECC on P-256 or P-384 - optionally encrypted with a passphrase.
  - The key file is created with its final mode (C(0600) by default) from its first byte and written atomically.
  - An existing key that is not what was asked for (another type or size, not encrypted, corrupt) is never replaced
    silently - the module fails and says why, unless O(replace_mismatched=true), which keeps a backup of the old key.
  - Returns public information only (type, size, fingerprint, public key), never the private key.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the key type, size, public key fingerprint, owner, group and mode - never key material.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.files
options:
  path:
    description:
      - Where the private key lives on the host, in PEM (PKCS#8).
    type: path
    required: true
  type:
    description:
      - Key algorithm. V(rsa) is what Wise's own example uses; V(ecc) is smaller and much faster to create.
    type: str
    choices: [rsa, ecc]
    default: rsa
  size:
    description:
      - Key size in bits. For V(rsa) one of V(2048), V(3072), V(4096); for V(ecc) V(256) (P-256) or V(384) (P-384).
      - Defaults to V(4096) for RSA and V(256) for ECC.
      - Other sizes (RSA 1024 or 8192, P-521) are refused because Wise refuses them.
    type: int
  passphrase:
    description:
      - Passphrase that encrypts the key file. When set, an existing key must be encrypted with it.
    type: str
  state:
    description:
      - V(present) ensures the key exists; V(absent) removes it (see O(backup)).
    type: str
    choices: [present, absent]
    default: present
  replace_mismatched:
    description:
      - When an existing key is not what was asked for (another type or size, not encrypted while O(passphrase) is
        set, or unreadable as a key), replace it with a new key instead of failing. The old key is kept as a backup
        beside it (mode C(0600)), and its path is returned in RV(backup_file).
      - A wrong or missing passphrase for an encrypted key always fails, so that a typo never replaces a good key.
      - Replacing a key invalidates every certificate issued for it.
    type: bool
    default: false
  backup:
    description:
      - With O(state=absent), keep a copy (mode C(0600)) of the key before removing it.
    type: bool
    default: false
  mode:
    description:
      - Mode of the key file, as an octal string. Only the owner may write it; its group may read it (for a service
        group); others get nothing. Modes that grant more are refused.
    type: raw
    default: '0600'
  folder:
    description:
      - Also ensure the key's folder in the same call, as M(wise.mtls.folder) does with O(owner), O(group) and these
        options - one module call fewer on a new host. It is made when missing, and given this owner, group and mode
        when it has others; those changes are made only once every check of the key has passed.
      - When not set, the folder must exist and is left alone.
      - Only with O(state=present).
    type: dict
    suboptions:
      mode:
        description:
          - Mode of the folder, as an octal string.
        type: raw
        default: '0700'
      parent_mode:
        description:
          - Mode that the folder's parent must have; it is made when missing (with any missing folder above it, all
            with this mode). Its owner and group are left alone.
          - When not set, the parent must exist and is not looked at.
        type: raw
seealso:
  - module: wise.mtls.csr
  - module: wise.mtls.folder
  - name: Wise mutual TLS guide
    description: How Wise's platform API uses client certificates.
    link: https://docs.wise.com/api-docs/guides/mtls
"""

EXAMPLES = r"""
- name: Ensure the Wise client key exists (RSA 4096, like Wise's own example)
  wise.mtls.private_key:
    path: /etc/wise-mtls/sandbox/client.key

- name: Ensure an ECC P-256 key readable by the payments service group
  wise.mtls.private_key:
    path: /etc/wise-mtls/production/client.key
    type: ecc
    size: 256
    owner: root
    group: payments
    mode: '0640'

- name: Ensure a new host's folder and its key in one call, under a root every service may pass through
  wise.mtls.private_key:
    path: /etc/wise-mtls/sandbox/client.key
    type: ecc
    group: payments
    mode: '0640'
    folder:
      mode: '0750'
      parent_mode: '0755'

- name: Ensure an encrypted key, replacing an old RSA 2048 key (the old one is kept as a backup)
  wise.mtls.private_key:
    path: /etc/wise-mtls/production/client.key
    type: rsa
    size: 3072
    passphrase: "{{ vault_wise_key_passphrase }}"
    replace_mismatched: true
"""

RETURN = r"""
path:
  description: Path of the key file.
  returned: always
  type: str
  sample: /etc/wise-mtls/sandbox/client.key
key_type:
  description: Key algorithm of the key on disk (or of the key that would be created, in check mode).
  returned: when O(state=present)
  type: str
  sample: rsa
key_size:
  description: Key size in bits.
  returned: when O(state=present)
  type: int
  sample: 4096
key_curve:
  description: Curve name of an ECC key.
  returned: when O(state=present) and the key is ECC
  type: str
  sample: secp256r1
fingerprint:
  description:
    - SHA-256 over the DER SubjectPublicKeyInfo, colon-separated hex. The same value is reported for the CSR and
      the certificate made for this key, so it ties the three together.
    - V(null) in check mode when the key does not exist yet.
  returned: when O(state=present)
  type: str
  sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
public_key:
  description: The public key in PEM. V(null) in check mode when the key does not exist yet.
  returned: when O(state=present)
  type: str
  sample: "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...\n-----END PUBLIC KEY-----\n"
backup_file:
  description: Path of the backup of the previous key, when one was made.
  returned: changed and a backup was made
  type: str
  sample: /etc/wise-mtls/sandbox/client.key.2188.2026-12-03@16:40:11~
folders_created:
  description: Folders that were made (or, in check mode, would be made) for O(folder), outermost first.
  returned: when O(folder) is set
  type: list
  elements: str
  sample: ["/etc/wise-mtls", "/etc/wise-mtls/sandbox"]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _folders as folders
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography
from ansible_collections.wise.mtls.plugins.module_utils._module_support import fail_on_findings, render_diff

KEY_BACKUP_MODE = 0o600
# Problems with an existing key that replace_mismatched may fix; a passphrase problem never is one.
REPLACEABLE_LOAD_ERRORS = ("corrupt", "not_encrypted")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            type=dict(type="str", choices=["rsa", "ecc"], default="rsa"),
            size=dict(type="int"),
            passphrase=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            replace_mismatched=dict(type="bool", default=False),
            backup=dict(type="bool", default=False),
            mode=dict(type="raw", default="0600"),
            owner=dict(type="str"),
            group=dict(type="str"),
            folder=dict(type="dict", options=dict(
                mode=dict(type="raw", default="0700"),
                parent_mode=dict(type="raw"),
            )),
        ),
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    params = module.params
    path = params["path"]
    try:
        wanted_attributes = safe_file.FileAttributes(params["mode"], params["owner"], params["group"])
        folder = None
        if params["state"] == "present":
            check_key_request(module, wanted_attributes)
            if params["folder"] is not None:
                folder = plan_key_folder(module, path)
        elif params["folder"] is not None:
            module.fail_json(msg="folder is only for state=present: leave it out to remove a key. Nothing was changed.",
                             path=path)
        with safe_file.locked(path):  # a second run at once waits, then finds this run's key instead of making one
            current = safe_file.FileState(path)
            if params["state"] == "absent":
                module.exit_json(**remove_key(module, current))
            module.exit_json(**ensure_key(module, current, wanted_attributes, folder))
    except safe_file.SafeFileError as exc:
        module.fail_json(msg=to_native(exc), path=path)


def check_key_request(module, wanted_attributes):
    key_type = module.params["type"]
    size = module.params["size"] or policy.DEFAULT_KEY_SIZES[key_type]
    fail_on_findings(module, policy.check_key_request(key_type, size) + policy.check_private_key_mode(
        wanted_attributes.mode))


def plan_key_folder(module, path):
    """The plan for the key's folder (the folder option); a new folder is made at once, an existing one is left
    to ensure_key, which changes it only after every check of the key there has passed."""
    options = module.params["folder"]
    folder = os.path.dirname(os.path.abspath(path))
    wanted = safe_file.FileAttributes(options["mode"], module.params["owner"], module.params["group"])
    parent_wanted = safe_file.FileAttributes(options["parent_mode"]) if options["parent_mode"] is not None else None
    plan = folders.plan_folder(folder, wanted, parent_wanted)
    if not plan.exists and not module.check_mode:
        # A new folder holds no key that could stop this run. Made now, so that the key is made under its lock.
        folders.apply_folder(plan)
    return plan


def ensure_key(module, current, wanted_attributes, folder=None):
    params = module.params
    key_type = params["type"]
    size = params["size"] or policy.DEFAULT_KEY_SIZES[key_type]
    if folder is None:
        safe_file.check_parent(current.path)

    existing_key = None
    mismatch = None
    if current.exists:
        existing_key, mismatch = load_existing_key(module, current, key_type, size)
        if mismatch and not params["replace_mismatched"]:
            module.fail_json(msg="{0} {1}. Nothing was changed. Point path at another file, fix the key, or set "
                                 "replace_mismatched=true to replace it (a backup is kept, and certificates issued "
                                 "for the old key stop matching).".format(current.path, mismatch), path=current.path)

    create = not current.exists or mismatch is not None
    attributes_change = not create and current.attributes_differ(wanted_attributes)
    before = describe_key(existing_key, current)
    result = dict(changed=create or attributes_change, path=current.path)
    if folder is not None:
        result.update(changed=result["changed"] or folder.changed, folders_created=folder.created)

    if module.check_mode:
        if create:
            after = dict(type=key_type, size=size, fingerprint="(new key)")
            result.update(key_type=key_type, key_size=size, fingerprint=None, public_key=None)
        else:
            after = dict(before)
            result.update(key_report(existing_key))
        after.update(safe_file.describe_planned(current, wanted_attributes))
    else:
        if folder is not None and folder.exists:
            folders.apply_folder(folder)
        if create:
            if current.exists:
                result["backup_file"] = safe_file.backup_file(module, current.path, mode=KEY_BACKUP_MODE)
            existing_key = crypto.generate_private_key(key_type, size)
            safe_file.write_file(module, current.path, crypto.private_key_to_pem(existing_key, params["passphrase"]),
                                 wanted_attributes)
        elif attributes_change:
            safe_file.apply_attributes(current.path, wanted_attributes)
        after = describe_key(existing_key, safe_file.FileState(current.path))
        result.update(key_report(existing_key))
    if module._diff:
        result["diff"] = render_diff(before, after, current.path)
        if folder is not None and folder.changed:
            result["diff"] = [dict(before=folder.before, after=folder.after), result["diff"]]
    return result


def load_existing_key(module, current, key_type, size):
    """(key or None, mismatch text or None) for the key on disk; fails at once on passphrase problems."""
    passphrase = module.params["passphrase"]
    try:
        key = crypto.load_private_key(current.read(), passphrase)
    except crypto.KeyLoadError as exc:
        if exc.reason not in REPLACEABLE_LOAD_ERRORS:
            module.fail_json(msg="{0}: {1}. Give the right passphrase; nothing was changed.".format(
                current.path, to_native(exc)), path=current.path, reason=exc.reason)
        return None, "cannot be used: {0}".format(to_native(exc))
    info = crypto.describe_public_key(key.public_key())
    if info["type"] != key_type or info["size"] != size:
        return key, "holds {0} key, but {1} key was asked for".format(
            describe_kind(info["type"], info["size"]), describe_kind(key_type, size))
    return key, None


def describe_kind(key_type, size):
    """'an RSA 2048', 'an ECC P-256', 'an Ed25519' for messages (key types without a size have none)."""
    if key_type == "rsa":
        return "an RSA {0}".format(size)
    if key_type == "ecc":
        return "an ECC P-{0}".format(size)
    names = {"ed25519": "an Ed25519", "ed448": "an Ed448", "dsa": "a DSA"}
    return names.get(key_type, "a {0}".format(key_type))


def remove_key(module, current):
    result = dict(changed=current.exists, path=current.path)
    if module._diff:  # described before it is gone
        before = describe_key(readable_key(current, module.params["passphrase"]), current) if current.exists else None
        result["diff"] = render_diff(before, None, current.path)
    if current.exists and not module.check_mode:
        if module.params["backup"]:
            result["backup_file"] = safe_file.backup_file(module, current.path, mode=KEY_BACKUP_MODE)
        safe_file.remove_file(current.path)
    return result


def readable_key(current, passphrase):
    """The key on disk when it loads with the passphrase given, for the diff of a removal; else None."""
    try:
        return crypto.load_private_key(current.read(), passphrase)
    except (crypto.KeyLoadError, safe_file.SafeFileError):
        return None


def key_report(key):
    info = crypto.describe_public_key(key.public_key())
    report = dict(key_type=info["type"], key_size=info["size"], fingerprint=crypto.public_key_fingerprint(key.public_key()),
                  public_key=crypto.public_key_pem(key.public_key()))
    if info["curve"]:
        report["key_curve"] = info["curve"]
    return report


def describe_key(key, state):
    """Public facts about a key file for the diff: never key material."""
    if not state.exists:
        return None
    facts = safe_file.describe(state)
    if key is not None:
        info = crypto.describe_public_key(key.public_key())
        facts.update(type=info["type"], size=info["size"], fingerprint=crypto.public_key_fingerprint(key.public_key()))
    return facts


if __name__ == "__main__":
    main()
