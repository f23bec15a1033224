#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: generation
short_description: Stage, switch atomically, roll back and remove key generations of a Wise client folder
version_added: 0.1.0
description:
  - Manages the key generations of a Wise client folder (O(path), for example C(/etc/wise-mtls/sandbox)), the layout
    that lets a key and its certificate be replaced together without an outage.
  - A generation is a folder C(generations/<id>/) holding one key with its C(client.key), C(client.csr),
    C(client.pem) (and C(client.p12) and C(client-combined.pem) when used). The paths consumers use,
    C(<path>/client.key) and the like, are links to C(live/client.key), and C(<path>/live) is a link to the live
    generation. C(<path>/previous) names the generation that was live before, C(<path>/staged) the one waiting to go
    live. The Wise CA (C(wise-ca.pem)) is shared by all generations and stays a regular file.
  - O(state=staged) makes a new key and its CSR in a new generation beside the live one, and leaves the live files
    untouched. An existing staged generation is kept when its key is what was asked for (so a second run changes
    nothing).
  - O(state=live) makes a generation live after checking that its key and certificate belong together and that the
    certificate is valid now. The switch replaces the one link C(<path>/live) with a single atomic C(rename(2)), so
    every consumer path names one generation at any instant - key and certificate never come from two generations.
    The generation that was live becomes the previous one. Going back to the previous generation (a rollback) makes
    the generation that was live the staged one again.
  - The first switch in a folder the P(wise.mtls.client#role) made (regular files) first turns the live files into a
    generation of their own, one atomic rename per file, each link leading to an identical copy.
  - O(state=absent) removes generations that are not live - the previous one, a staged one, all inactive ones, or one
    by id - and returns what they held (certificate fingerprint, serial, expiry and Developer Hub name) so that the
    old certificates can be revoked.
  - Killed at any step, the module leaves a folder whose paths name one complete generation; running it again
    finishes the job. Every change holds the folder's lock, which the collection's other modules hold too.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows which generation is live, previous and staged, and the kind of each consumer path (file or
        link) - never key material.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.files
options:
  path:
    description:
      - The environment's folder, which holds the generations, for example C(/etc/wise-mtls/sandbox).
    type: path
    required: true
  state:
    description:
      - V(staged) makes a new key and CSR in a new staged generation (or keeps the staged one).
      - V(live) makes O(generation) live (an atomic switch).
      - V(absent) removes the generations O(generation) names; the live generation is never removed.
    type: str
    choices: [staged, live, absent]
    required: true
  generation:
    description:
      - With O(state=staged), the id of a new generation; an existing staged generation keeps its id. Defaults to the
        time in UTC, for example V(20261203-165400). Ids are 1 to 64 letters, digits, C(_) and C(-).
      - With O(state=live), the generation to make live - an id, V(staged) (the default) or V(previous) (a rollback).
      - With O(state=absent), the generations to remove - an id, V(previous), V(staged) or V(inactive) (the default,
        every generation that is neither live nor staged).
    type: str
  older_than_days:
    description:
      - With O(state=absent), remove nothing until the live generation has been live for at least this many days
        (the time of the last switch). V(0) removes at once; a negative number is refused.
    type: int
    default: 0
  type:
    description:
      - With O(state=staged), the algorithm of the new key.
    type: str
    choices: [rsa, ecc]
    default: rsa
  size:
    description:
      - With O(state=staged), the size of the new key - V(2048), V(3072) or V(4096) for RSA (default V(4096)), V(256)
        or V(384) for ECC (default V(256)).
    type: int
  private_key_content:
    description:
      - With O(state=staged), stage this private key (PEM) instead of making one - the key of a key group, made on
        one host and shared by the others. A staged generation that holds another key is replaced.
      - Pass it over a connection that does not write module arguments to disk (pipelining) and with C(no_log).
    type: str
  private_key_passphrase:
    description:
      - Passphrase of the keys of this folder, when they are encrypted; a new staged key is encrypted with it.
    type: str
  organization:
    description:
      - With O(state=staged), the organisation (O) of the new CSR. Required with O(state=staged).
    type: str
  country:
    description:
      - With O(state=staged), the two-letter country (C) of the new CSR.
    type: str
  client_id:
    description:
      - With O(state=staged), your Wise Client ID, the CN of the new CSR.
    type: str
  certificate_name:
    description:
      - With O(state=staged), the unique name the new certificate gets in Developer Hub. It is recorded in the new
        generation (C(generation.json)) and returned later, by O(state=absent) among others, to say which
        certificate to revoke. A staged generation keeps the name it was given first.
    type: str
  mode:
    description:
      - With O(state=staged), the mode of the new key - V(0600), or V(0640) for a service group. The CSR and the
        record are C(0644); new folders get the owner, group and mode of O(path).
    type: raw
    default: '0600'
notes:
  - Key and certificate of the new generation are installed with M(wise.mtls.certificate) at
    C(<path>/generations/<id>/client.pem) before O(state=live) - the module refuses a generation without a certificate
    that belongs to its key.
  - Consumers that read C(<path>/client.key) and C(<path>/client.pem) get the new pair once they open the files again
    (reload them after a switch); a consumer that opened the key just before a switch and the certificate just after
    would read two generations, which is why services are reloaded after the switch, not during it.
seealso:
  - module: wise.mtls.generation_info
  - module: wise.mtls.certificate
  - module: wise.mtls.verify
  - name: The wise.mtls.rotate role
    description: Stage, activate canary first with pre-flight and post-flight verification and rollback, clean up.
    link: https://github.com/wise-mtls/wise.mtls/tree/main/docs/rotation.md
"""

EXAMPLES = r"""
- name: Stage a new key and CSR beside the live ones
  wise.mtls.generation:
    path: /etc/wise-mtls/sandbox
    state: staged
    type: ecc
    organization: Example Payments Ltd
    country: EU
    client_id: "{{ wise_client_id }}"
    certificate_name: sandbox-web-01-20261203-165400
  register: wise_staged

- name: Install the new certificate into the staged generation, checked against its key
  wise.mtls.certificate:
    content: "{{ lookup('ansible.builtin.file', 'handoff/web-01/new.pem') }}"
    path: /etc/wise-mtls/sandbox/generations/{{ wise_staged.generation }}/client.pem
    private_key_path: /etc/wise-mtls/sandbox/generations/{{ wise_staged.generation }}/client.key

- name: Switch to the staged generation (one atomic rename)
  wise.mtls.generation:
    path: /etc/wise-mtls/sandbox
    state: live
    generation: staged
  register: wise_switch

- name: Go back to the generation that was live before
  wise.mtls.generation:
    path: /etc/wise-mtls/sandbox
    state: live
    generation: previous

- name: Remove the generations that are not live, a week after the switch
  wise.mtls.generation:
    path: /etc/wise-mtls/sandbox
    state: absent
    generation: inactive
    older_than_days: 7
  register: wise_cleanup

- name: Say which certificates to revoke in Developer Hub
  ansible.builtin.debug:
    msg: "Revoke {{ item.certificate_name | default('(name not recorded)', true) }}, SHA-256 {{ item.certificate.fingerprint }}"
  loop: "{{ wise_cleanup.removed | selectattr('certificate') | list }}"
  loop_control:
    label: "{{ item.id }}"
"""

RETURN = r"""
folder:
  description: The environment's folder.
  returned: always
  type: str
  sample: /etc/wise-mtls/sandbox
layout:
  description:
    - V(generations) once the folder uses generations, V(flat) while it holds the regular files the client role made,
      V(empty) without a key. After the run (planned, in check mode).
  returned: success
  type: str
  sample: generations
live:
  description: Id of the live generation after the run (planned, in check mode); V(null) for a flat folder.
  returned: success
  type: str
  sample: 20261203-165400
previous:
  description: Id of the previous generation after the run, or V(null).
  returned: success
  type: str
  sample: 20251201-093000
staged:
  description: Id of the staged generation after the run, or V(null).
  returned: success
  type: str
  sample: null
generation:
  description: The generation staged (O(state=staged)) or made live (O(state=live)).
  returned: when O(state=staged) or O(state=live)
  type: str
  sample: 20261203-165400
previous_live:
  description: The generation that was live before this run - what to make live again to roll back.
  returned: when O(state=live)
  type: str
  sample: 20251201-093000
switched:
  description: Whether the live generation changed.
  returned: when O(state=live)
  type: bool
  sample: true
rolled_back:
  description: Whether the switch went back to the previous generation.
  returned: when O(state=live)
  type: bool
  sample: false
migrated:
  description: Whether the regular files of the folder became a generation (the first switch).
  returned: when O(state=live)
  type: bool
  sample: false
certificate:
  description: Public facts about the certificate of the generation made live.
  returned: when O(state=live)
  type: dict
  sample: {"common_name": "example-client-id", "fingerprint": "9b:c7:32:...", "not_after": "2027-12-03T16:54:00Z",
           "days_remaining": 364, "serial": "4f:1a:09:c2", "issuer": "/C=GB/O=Wise/CN=Wise Client CA"}
csr:
  description: The CSR of the staged generation, PEM - what to paste into Developer Hub. V(null) in check mode before it exists.
  returned: when O(state=staged)
  type: str
  sample: "-----BEGIN CERTIFICATE REQUEST-----\nMIIBKTCB0AIBADBu...\n-----END CERTIFICATE REQUEST-----\n"
certificate_name:
  description: The Developer Hub name recorded for the staged generation, or V(null).
  returned: when O(state=staged)
  type: str
  sample: sandbox-web-01-20261203-165400
fingerprint:
  description: SHA-256 fingerprint of the staged key's public key. V(null) in check mode before the key exists.
  returned: when O(state=staged)
  type: str
  sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
removed:
  description:
    - The generations removed (to be removed, in check mode), each with its C(id), C(certificate_name) (when one was
      recorded), C(certificate) (public facts, among them C(fingerprint), C(serial) and C(not_after), or V(null)) and
      C(key) (type, size and fingerprint).
  returned: when O(state=absent)
  type: list
  elements: dict
  sample: [{"id": "20251201-093000", "certificate_name": null, "certificate": {"fingerprint": "12:ab:...",
            "serial": "4f:1a", "not_after": "2026-12-01T09:30:00Z"}, "key": {"type": "ecc", "size": 256}}]
live_since:
  description: When the live generation became live (the last switch), ISO 8601 in UTC; V(null) for a flat folder.
  returned: when O(state=absent)
  type: str
  sample: "2026-12-03T16:54:00Z"
reasons:
  description: What the run changed (would change, in check mode), in words.
  returned: success
  type: list
  elements: str
  sample: ["the live files became generation 20251201-093000", "generation 20261203-165400 is live"]
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _generations as generations
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography
from ansible_collections.wise.mtls.plugins.module_utils._module_support import fail_on_findings, render_diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["staged", "live", "absent"], required=True),
            generation=dict(type="str"),
            older_than_days=dict(type="int", default=0),
            type=dict(type="str", choices=["rsa", "ecc"], default="rsa"),
            size=dict(type="int"),
            private_key_content=dict(type="str", no_log=True),
            private_key_passphrase=dict(type="str", no_log=True),
            organization=dict(type="str"),
            country=dict(type="str"),
            client_id=dict(type="str"),
            certificate_name=dict(type="str"),
            mode=dict(type="raw", default="0600"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        required_if=[("state", "staged", ["organization"])],
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    params = module.params
    folder = params["path"]
    handlers = dict(staged=stage, live=make_live, absent=remove)
    try:
        with safe_file.locked(folder + "/" + generations.LIVE):  # the folder's lock: no switch and no write at once
            if not module.check_mode:
                generations.remove_stale_temp_links(folder)  # what a killed run left; never live
            layout = generations.Layout(folder)
            before = snapshot(layout)
            result = handlers[params["state"]](module, params, layout)
            after = result.pop("_after", None) or snapshot(generations.Layout(folder))
    except (generations.GenerationError, safe_file.SafeFileError) as exc:
        module.fail_json(msg=to_native(exc), folder=folder)
    result.update(folder=layout.folder, layout=after["layout"], live=after["live"], previous=after["previous"],
                  staged=after["staged"])
    if module._diff:
        result["diff"] = render_diff(before, after, layout.folder)
    module.exit_json(**result)


def snapshot(layout):
    """Public facts for the diff and the result: the pointers and the kind of each consumer path."""
    facts = dict(layout=layout.kind, live=layout.live, previous=layout.previous, staged=layout.staged)
    for name in generations.GENERATION_FILES:
        if layout.top[name] != "missing":
            facts[name] = layout.top[name]
    return facts


# ---------------------------------------------------------------- state=staged

def stage(module, params, layout):
    passphrase = params["private_key_passphrase"]
    key_type = params["type"]
    size = params["size"] or policy.DEFAULT_KEY_SIZES[key_type]
    wanted_key = None
    findings = policy.check_subject_request(params["organization"], params["country"], params["client_id"])
    findings += policy.check_private_key_mode(safe_file.parse_mode(params["mode"]))
    if params["private_key_content"]:
        try:
            wanted_key = crypto.load_private_key(to_bytes(params["private_key_content"]), passphrase)
        except crypto.KeyLoadError as exc:
            module.fail_json(msg="private_key_content cannot be used: {0}. Nothing was changed.".format(exc),
                             folder=layout.folder)
        findings += policy.check_public_key(wanted_key.public_key())
    else:
        findings += policy.check_key_request(key_type, size)
    fail_on_findings(module, findings, folder=layout.folder)
    key_attributes = safe_file.FileAttributes(params["mode"], params["owner"], params["group"])
    public_attributes = safe_file.FileAttributes(generations.PUBLIC_MODE, params["owner"], params["group"])

    action, existing, reason = generations.plan_stage(layout, wanted_key, key_type, size, passphrase)
    generation_id = existing if action == "keep" else generations.check_id(
        params["generation"] or generations.timestamp_id())
    leftover = None
    if action != "keep" and generation_id in layout.generation_ids and generation_id != existing:
        if generation_id == layout.live or generation_id == layout.previous or generations.CERTIFICATE in \
                layout.generation_files(generation_id):
            module.fail_json(msg="{0} already has a generation {1}. Nothing was changed. Give another id, or leave "
                                 "generation unset.".format(layout.folder, generation_id), folder=layout.folder)
        leftover = generation_id  # what a staging killed half-way left: made again from scratch
    wanted_subject = crypto.build_name(params["organization"], params["country"], params["client_id"])
    result = dict(changed=False, generation=generation_id, reasons=[])
    if action != "keep":
        result["reasons"].append("{0}: a new generation {1} is staged".format(reason, generation_id))

    if action == "keep":
        key = generations.load_key(layout.generation_path(generation_id, generations.KEY), passphrase)
        csr_path = layout.generation_path(generation_id, generations.CSR)
        csr_state = safe_file.FileState(csr_path)
        existing_csr = csr_state.read() if csr_state.exists else None
        csr_reasons = policy.csr_reasons_to_remake(existing_csr, key, wanted_subject, params["client_id"])
        metadata = generations.read_metadata(layout.generation_path(generation_id, generations.METADATA))
        certificate_name = metadata.get("certificate_name")
        record = certificate_name is None and params["certificate_name"] is not None
        key_path = layout.generation_path(generation_id, generations.KEY)
        key_attributes_change = safe_file.FileState(key_path).attribute_changes(key_attributes)
        result["reasons"].extend("generation {0}: {1}".format(generation_id, text) for text in csr_reasons)
        if key_attributes_change:
            result["reasons"].append("generation {0}: the key's {1} change".format(
                generation_id, ", ".join(sorted(key_attributes_change))))
        if record:
            result["reasons"].append("generation {0}: the certificate name is recorded".format(generation_id))
            certificate_name = params["certificate_name"]
        result["changed"] = bool(csr_reasons or record or key_attributes_change)
        csr_pem = existing_csr
        if csr_reasons:
            csr_pem = None if module.check_mode else crypto.csr_to_pem(crypto.build_csr(
                key, params["organization"], params["country"], params["client_id"]))
        if not module.check_mode:
            if key_attributes_change:
                safe_file.apply_attributes(key_path, key_attributes)
            if csr_reasons:
                safe_file.write_file(module, csr_path, csr_pem, public_attributes)
            if record:
                safe_file.write_file(module, layout.generation_path(generation_id, generations.METADATA),
                                     generations.metadata_content(certificate_name, "staged", metadata_created(metadata)),
                                     public_attributes)
        result.update(csr=to_native(csr_pem) if csr_pem else None, certificate_name=certificate_name,
                      fingerprint=crypto.public_key_fingerprint(key.public_key()))
        return result

    result["changed"] = True
    after = snapshot(layout)
    after.update(staged=generation_id)
    result["_after"] = after
    if module.check_mode:
        result.update(csr=None, certificate_name=params["certificate_name"],
                      fingerprint=crypto.public_key_fingerprint(wanted_key.public_key()) if wanted_key else None)
        return result
    if leftover is not None:
        generations.remove_generation(layout, leftover)
    key = wanted_key if wanted_key is not None else crypto.generate_private_key(key_type, size)
    csr_pem = crypto.csr_to_pem(crypto.build_csr(key, params["organization"], params["country"], params["client_id"]))
    folder = layout.generation_path(generation_id)
    generations.ensure_folder(layout.path(generations.GENERATIONS), layout.folder_info)
    generations.ensure_folder(folder, layout.folder_info)
    safe_file.write_file(module, layout.generation_path(generation_id, generations.KEY),
                         crypto.private_key_to_pem(key, passphrase), key_attributes)
    safe_file.write_file(module, layout.generation_path(generation_id, generations.CSR), csr_pem, public_attributes)
    safe_file.write_file(module, layout.generation_path(generation_id, generations.METADATA),
                         generations.metadata_content(params["certificate_name"], "staged"), public_attributes)
    generations.replace_link(layout.folder, generations.STAGED, generations.GENERATIONS + "/" + generation_id,
                             (layout.folder_info.st_uid, layout.folder_info.st_gid))
    if action == "replace":  # the key group's key changed: the generation staged before never went live
        generations.remove_generation(generations.Layout(layout.folder), existing)
        result["reasons"].append("the generation {0} staged before, with another key, is removed".format(existing))
    result.update(csr=to_native(csr_pem), certificate_name=params["certificate_name"],
                  fingerprint=crypto.public_key_fingerprint(key.public_key()))
    return result


def metadata_created(metadata):
    """The creation time a record already holds, so that recording a name later keeps it."""
    try:
        return datetime.datetime.strptime(metadata["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (KeyError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------- state=live

def make_live(module, params, layout):
    plan = generations.plan_live(layout, params["generation"] or generations.STAGED, params["private_key_passphrase"])
    target = plan["target"]
    reasons = []
    if plan["migrate"]:
        reasons.append("the live files become a generation of their own")
    if plan["links"]:
        reasons.append("{0} become links to live/".format(", ".join(plan["links"])))
    if plan["switch"]:
        reasons.append("generation {0} goes live{1}".format(target, " (a rollback)" if plan["rollback"] else ""))
    if plan["stale_pointers"]:
        reasons.append("{0} named the live generation and are removed".format(", ".join(plan["stale_pointers"])))
    certificate = generations.load_certificate(layout.generation_path(target, generations.CERTIFICATE))
    result = dict(changed=bool(reasons), generation=target, previous_live=layout.live, switched=plan["switch"],
                  rolled_back=plan["rollback"], migrated=plan["migrate"], reasons=reasons,
                  certificate=generations.certificate_facts(certificate))
    if module.check_mode:
        old = generations.migrated_id(layout) if plan["migrate"] else layout.live
        result["previous_live"] = old
        after = snapshot(layout)
        if plan["switch"]:
            after.update(layout="generations", live=target, previous=None if plan["rollback"] else old,
                         staged=old if plan["rollback"] else (None if layout.staged == target else layout.staged))
        for name in plan["links"]:
            after[name] = "link"
        result["_after"] = after
        return result
    if result["changed"]:
        result["previous_live"] = generations.make_live(module, layout, plan)
    return result


# ---------------------------------------------------------------- state=absent

def remove(module, params, layout):
    wanted = params["generation"] or "inactive"
    if params["older_than_days"] < 0:
        module.fail_json(msg="older_than_days is {0}; it counts days since the last switch, so give 0 (remove at once) "
                             "or more. Nothing was changed.".format(params["older_than_days"]))
    candidates, since = generations.plan_remove(layout, wanted, params["older_than_days"])
    removed = [generations.describe(layout, generation_id, params["private_key_passphrase"])
               for generation_id in candidates]
    for facts in removed:
        for key in ("live", "previous", "staged", "file_attributes", "path"):
            facts.pop(key, None)
    result = dict(changed=bool(candidates), removed=removed, live_since=crypto.iso8601(since) if since else None,
                  reasons=["generation {0} is removed".format(generation_id) for generation_id in candidates])
    if module.check_mode:
        after = snapshot(layout)
        after.update(previous=None if layout.previous in candidates else layout.previous,
                     staged=None if layout.staged in candidates else layout.staged)
        result["_after"] = after
        return result
    for generation_id in candidates:
        generations.remove_generation(generations.Layout(layout.folder), generation_id)
    return result


if __name__ == "__main__":
    main()
