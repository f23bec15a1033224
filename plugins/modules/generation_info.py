#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: generation_info
short_description: Report the key generations of a Wise client folder and the expiry of the live certificate
version_added: 0.1.0
description:
  - Reads a Wise client folder (O(path), for example C(/etc/wise-mtls/sandbox)) and reports, in one call, which key
    generation is live, staged and previous (see M(wise.mtls.generation)), and for each generation its files, key
    fingerprint, certificate (CN, issuer, serial, SHA-256 fingerprint, expiry, days remaining, whether it needs
    renewal) and whether key and certificate belong together.
  - A folder the P(wise.mtls.client#role) made and that was never rotated (regular files) is reported as RV(layout=flat)
    with its files as the live generation, whose C(id) is V(null).
  - Fails only when the folder's links are not those of the rotation layout (for example C(live) pointing outside the
    folder); problems with files are reported in RV(problems).
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
      - The environment's folder, for example C(/etc/wise-mtls/sandbox).
    type: path
    required: true
  private_key_passphrase:
    description:
      - Passphrase of the keys, when they are encrypted (to report their fingerprints and whether they match).
    type: str
  renew_before_days:
    description:
      - C(needs_renewal) is true once a certificate expires within this many days. Wise's reminders start 28 days
        before expiry.
    type: int
    default: 30
seealso:
  - module: wise.mtls.generation
  - module: wise.mtls.certificate_info
"""

EXAMPLES = r"""
- name: Read the generations and the expiry of the live certificate
  wise.mtls.generation_info:
    path: /etc/wise-mtls/sandbox
  register: wise_generations

- name: Warn when the live certificate needs renewing
  ansible.builtin.debug:
    msg: >-
      {{ inventory_hostname }}: generation {{ wise_generations.live.id | default('(not rotated yet)', true) }},
      {{ wise_generations.days_remaining }} days left, rotate now
  when: wise_generations.needs_renewal
"""

RETURN = r"""
folder:
  description: The environment's folder.
  returned: always
  type: str
  sample: /etc/wise-mtls/sandbox
layout:
  description:
    - V(generations) (rotation layout), V(flat) (the regular files of the client role, never rotated), V(empty) (no
      key) or V(missing) (no folder).
  returned: success
  type: str
  sample: generations
live:
  description:
    - The live generation, or V(null) without one. Same fields as each element of RV(generations).
  returned: success
  type: dict
  sample: {"id": "20261203-165400", "files": ["client.key", "client.csr", "client.pem"], "key_match": true,
           "certificate": {"common_name": "example-client-id", "days_remaining": 364, "needs_renewal": false}}
staged:
  description: The staged generation, or V(null). Same fields as each element of RV(generations).
  returned: success
  type: dict
  sample: null
previous:
  description: The previous generation, or V(null). Same fields as each element of RV(generations).
  returned: success
  type: dict
  sample: null
generations:
  description: Every generation in C(generations/), oldest id first.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The generation id (the folder name); V(null) for the flat files of a folder never rotated.
      type: str
      sample: 20261203-165400
    path:
      description: The generation's folder.
      type: str
      sample: /etc/wise-mtls/sandbox/generations/20261203-165400
    files:
      description: The generation files present.
      type: list
      elements: str
      sample: [client.key, client.csr, client.pem]
    file_attributes:
      description: Owner, group and mode of each file.
      type: dict
      sample: {"client.key": {"owner": "root", "group": "root", "mode": "0600"}}
    live:
      description: Whether it is the live generation.
      type: bool
      sample: true
    staged:
      description: Whether it is the staged generation.
      type: bool
      sample: false
    previous:
      description: Whether it is the previous generation.
      type: bool
      sample: false
    certificate_name:
      description: The Developer Hub name recorded when it was staged, or V(null).
      type: str
      sample: sandbox-web-01-20261203-165400
    created:
      description: When the generation was made (staged, or made from the flat files), ISO 8601 in UTC, or V(null).
      type: str
      sample: "2026-12-03T16:54:00Z"
    origin:
      description: V(staged), V(migrated) (made from the flat files), V(flat), or V(null) when not recorded.
      type: str
      sample: staged
    key:
      description: Type, size and public key SHA-256 C(fingerprint) of its key, or V(null).
      type: dict
      sample: {"type": "ecc", "size": 256, "fingerprint": "3c:91:..."}
    certificate:
      description:
        - Public facts about its certificate, or V(null) - C(subject), C(issuer), C(common_name), C(serial),
          C(not_before), C(not_after), C(not_after_timestamp) (seconds since the epoch), C(days_remaining),
          C(expired), C(not_yet_valid), C(needs_renewal), C(fingerprint) (SHA-256 of the certificate) and
          C(public_key_fingerprint).
      type: dict
      sample: {"common_name": "example-client-id", "not_after": "2027-12-03T16:54:00Z", "days_remaining": 364}
    key_match:
      description: Whether key and certificate belong together; V(null) when one of them is missing or unreadable.
      type: bool
      sample: true
    problems:
      description: What is wrong with its files, in words.
      type: list
      elements: str
      sample: []
live_since:
  description: When the live generation became live (the last switch), ISO 8601 in UTC; V(null) for a flat folder.
  returned: success
  type: str
  sample: "2026-12-03T16:54:00Z"
days_remaining:
  description: Days until the live certificate expires, or V(null) without one.
  returned: success
  type: int
  sample: 364
needs_renewal:
  description: Whether the live certificate expires within O(renew_before_days) days, or V(null) without one.
  returned: success
  type: bool
  sample: false
healthy:
  description: Whether the live generation has a key and a certificate that belong together and has not expired.
  returned: success
  type: bool
  sample: true
problems:
  description: Every problem found with the live generation, in words.
  returned: success
  type: list
  elements: str
  sample: []
limits:
  description:
    - Wise's limits, from the collection's policy - C(max_active_certificates) (per account), C(validity_days) and
      C(renew_before_days).
  returned: success
  type: dict
  sample: {"max_active_certificates": 10, "validity_days": 365, "renew_before_days": 30}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _generations as generations
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            private_key_passphrase=dict(type="str", no_log=True),
            renew_before_days=dict(type="int", default=policy.RENEW_BEFORE_DAYS),
        ),
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    try:
        module.exit_json(**report(module.params))
    except (generations.GenerationError, safe_file.SafeFileError) as exc:
        module.fail_json(msg=to_native(exc), folder=module.params["path"])


def report(params):
    layout = generations.Layout(params["path"])
    now = crypto.utcnow()

    def describe(generation_id):
        return generations.describe(layout, generation_id, params["private_key_passphrase"], params["renew_before_days"],
                                    now)

    found = [describe(generation_id) for generation_id in layout.generation_ids]
    by_id = dict((facts["id"], facts) for facts in found)
    live = by_id.get(layout.live) if layout.live is not None else (describe(None) if layout.kind == "flat" else None)
    since = layout.pointer_since(generations.LIVE)
    result = dict(changed=False, folder=layout.folder, layout=layout.kind, live=live, generations=found,
                  staged=by_id.get(layout.staged), previous=by_id.get(layout.previous),
                  live_since=crypto.iso8601(since) if since else None,
                  limits=dict(max_active_certificates=policy.MAX_ACTIVE_CERTIFICATES,
                              validity_days=policy.CERTIFICATE_VALIDITY_DAYS,
                              renew_before_days=params["renew_before_days"]))
    certificate = live["certificate"] if live else None
    result["days_remaining"] = certificate["days_remaining"] if certificate else None
    result["needs_renewal"] = certificate["needs_renewal"] if certificate else None
    problems = list(live["problems"]) if live else ["{0} holds no live key and certificate.".format(layout.folder)]
    if live and not certificate and not live["problems"]:
        problems.append("The live generation has no certificate yet.")
    if certificate and certificate["expired"]:
        problems.append("The live certificate expired on {0}.".format(certificate["not_after"]))
    result["problems"] = problems
    result["healthy"] = bool(live and live["key_match"] and not certificate["expired"] and not certificate["not_yet_valid"])
    return result


if __name__ == "__main__":
    main()
