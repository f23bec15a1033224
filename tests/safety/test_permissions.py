# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Permissions: a private key is never readable by others, not for an instant, even with umask 000.

A real playbook runs under umask 000 while a watcher records every mode ever seen for every
file in the folder (inotify events, each followed at once by an lstat, and a polling thread
that scans the folder without pause): keys, their temp files, their backups, the combined
PEM and the PKCS#12 keystore. Files that hold key material may only ever be seen with the
owner's read and write, plus the group's read where the task asked for a service group;
never anything for others. Then the final modes, read with stat: keys 0600 (or 0640 where
asked), key backups 0600, combined PEM 0600 or 0640, PKCS#12 0600.

The crash suite adds the deterministic half: it stops a write (under umask 000) right after
the temp file is created and right after its mode is set, and checks the temp file's mode at
that instant.
"""

from __future__ import annotations

import fnmatch
import grp
import os
import re
import stat
import sys

import pytest

from ansible_collections.wise.mtls.tests.safety.safety_helpers import SIGNER, FolderWatcher, task

# Files that hold private key material, and the group bits each may ever show (others: never anything).
KEY_MATERIAL = [
    ("client.key", 0), (".client.key.*", 0), ("client.key.*~", 0),
    ("service.key", 0o040), (".service.key.*", 0o040), ("service.key.*~", 0),
    ("combined.pem", 0), (".combined.pem.*", 0),
    ("service-combined.pem", 0o040), (".service-combined.pem.*", 0o040),
    ("client.p12", 0), (".client.p12.*", 0),
]


def generic_name(name):
    """.client.key.<random>.tmp -> .client.key.*.tmp; client.key.<pid>.<date>~ -> client.key.*~"""
    name = re.sub(r"\.[a-z0-9_]{8}\.tmp\Z", ".*.tmp", name)
    return re.sub(r"\.[0-9]+\.[0-9]{4}-[0-9]{2}-[0-9]{2}@[0-9:]{8}~", ".*~", name)


FINAL_MODES = [
    ("client.key", 0o600), ("client.key.*~", 0o600), ("service.key", 0o600), ("service.key.*~", 0o600),
    ("combined.pem", 0o600), ("service-combined.pem", 0o640), ("client.p12", 0o600),
    ("client.csr", 0o644), ("client.pem", 0o644), ("service.pem", 0o644), ("wise-ca.pem", 0o644),
]


def service_groups():
    """Two groups other than root's own, for a service that reads the key."""
    if os.geteuid() != 0:
        pytest.skip("giving a key to a service group needs root")
    names = [entry.gr_name for entry in grp.getgrall() if entry.gr_gid not in (0, os.getegid())]
    if len(names) < 2:
        pytest.skip("this host has fewer than two groups besides root's")
    return names[0], names[1]


def key_material_rule(name):
    for pattern, group_bits in KEY_MATERIAL:
        if fnmatch.fnmatchcase(name, pattern):
            return group_bits
    return None


def test_keys_are_never_readable_by_others_even_with_umask_000(ansible, signing_ca, pki, tmp_path, tally):
    folder = str(tmp_path / "keys")
    outside = str(tmp_path / "issued")
    os.mkdir(folder)
    os.mkdir(outside)
    os.chmod(folder, 0o755)
    group, other_group = service_groups()

    def f(name):
        return os.path.join(folder, name)

    def sign(csr, out):
        return task("ansible.builtin.command", dict(argv=[sys.executable, "-c", SIGNER, signing_ca[0], signing_ca[1], csr,
                                                          os.path.join(outside, out)]), name="Sign " + os.path.basename(csr))

    tasks = [
        task("wise.mtls.private_key", dict(path=f("client.key"), type="rsa", size=4096), "client_key"),
        task("wise.mtls.private_key", dict(path=f("service.key"), type="ecc", mode="0640", group=group), "service_key"),
        task("wise.mtls.private_key", dict(path=f("client.key"), type="ecc", replace_mismatched=True), "client_key_replaced"),
        task("wise.mtls.private_key", dict(path=f("service.key"), type="ecc", mode="0640", group=other_group), "service_key_regroup"),
        task("wise.mtls.csr", dict(path=f("client.csr"), private_key_path=f("client.key"), organization="Modes Ltd"), "client_csr"),
        task("wise.mtls.csr", dict(path=f("service.csr"), private_key_path=f("service.key"), organization="Modes Ltd"), "service_csr"),
        sign(f("client.csr"), "client.pem"),
        sign(f("service.csr"), "service.pem"),
        task("wise.mtls.certificate", dict(path=f("client.pem"), src=os.path.join(outside, "client.pem"),
                                           private_key_path=f("client.key"), combined_path=f("combined.pem"),
                                           pkcs12_path=f("client.p12"), pkcs12_password="modes-p12-password"), "client_certificate"),
        task("wise.mtls.certificate", dict(path=f("service.pem"), src=os.path.join(outside, "service.pem"),
                                           private_key_path=f("service.key"), combined_path=f("service-combined.pem"),
                                           combined_mode="0640", group=other_group), "service_certificate"),
        task("wise.mtls.ca_trust", dict(name="wise-sandbox", content=pki.pem.decode("ascii"), bundle_path=f("wise-ca.pem")), "ca"),
        task("wise.mtls.private_key", dict(path=f("service.key"), type="ecc", state="absent", backup=True), "service_key_removed"),
        task("wise.mtls.private_key", dict(path=f("service.key"), type="ecc", mode="0640", group=group), "service_key_again"),
        task("wise.mtls.private_key", dict(path=f("service.key"), type="ecc", mode="0600"), "service_key_narrowed"),
    ]
    watcher = FolderWatcher(folder).start()
    try:
        run = ansible.run(tasks, name="permissions", umask=0)
    finally:
        watcher.stop()
    assert run.rc == 0, run.describe()
    assert run.results["client_key_replaced"].get("backup_file") and run.results["service_key_removed"].get("backup_file")

    problems, checks = [], 0
    temp_files_seen = [name for name in watcher.modes if name.startswith(".")]
    for name, modes in sorted(watcher.modes.items()):
        group_bits = key_material_rule(name)
        for mode in sorted(modes):
            checks += 1
            if group_bits is None:
                continue
            if mode & 0o007 or mode & (0o070 ^ group_bits) or mode & 0o7100:
                problems.append("{0} was seen with mode {1:04o}".format(name, mode))
    files = 0
    for name in sorted(os.listdir(folder)):
        final = [mode for pattern, mode in FINAL_MODES if fnmatch.fnmatchcase(name, pattern)]
        if not final:
            continue
        files += 1
        checks += 1
        mode = stat.S_IMODE(os.lstat(os.path.join(folder, name)).st_mode)
        if mode != final[0]:
            problems.append("{0} is mode {1:04o}, not {2:04o}".format(name, mode, final[0]))
    observed = sum(len(modes) for modes in watcher.modes.values())
    seen = {}
    for name, modes in watcher.modes.items():
        if key_material_rule(name) is not None:
            seen.setdefault(generic_name(name), set()).update(modes)
    tally.note("modes seen under umask 000 for files holding key material: " + ", ".join(
        "{0} {1}".format(name, "/".join("{0:04o}".format(mode) for mode in sorted(modes))) for name, modes in sorted(seen.items())))
    tally.add("permission_checks", checks, checks - len(problems), observed_modes=observed,
              watched_runs=len([entry for entry in tasks if entry.get("register")]), files=files)
    assert watcher.events > 0 and temp_files_seen, "the watcher saw no temp file: it did not watch the writes"
    assert not problems, "\n".join(problems)
