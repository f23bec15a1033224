# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Crashes: a module killed (SIGKILL) at any step of any write never leaves a half-written file.

The safe-file layer has a test-only crash point at each step of a write (after the temp file
is created, after its owner and mode are set, halfway through the content, after fsync, after
the rename, after the folder's fsync). It fires only when armed with three environment
variables that agree (the step, a random token, and a file holding that token, owned by this
user and readable by nobody else, which the point removes as it fires), so a stray variable
cannot trigger it. The module then sends itself SIGKILL.

Every step of every write that private_key, csr, certificate and ca_trust make is armed in
turn, each in a folder of its own, all in one playbook. Afterwards each file is either exactly
as before or completely new (a key that loads, a certificate equal to the one installed, a
PKCS#12 file that opens with its password and holds the key and a certificate), a backup is a
complete copy, and the key and certificate on disk still belong together. Temp files the
kill left behind are counted; the next run of the same task must remove them and finish the
job.

Rotation activation (the rotate role) will add its own cases here once it exists: a
CrashCase per file it switches, with the live pair checked the same way.
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores
from ansible_collections.wise.mtls.tests.safety.safety_helpers import (
    file_mode,
    key_pem,
    load_key,
    public_der,
    read_bytes,
    task,
    write_file,
)

TEMP_RE = re.compile(r"\A\..+\.[a-z0-9_]{8}\.tmp\Z")
P12_PASSWORD = "crash-test-p12-password"
TRUSTSTORE_PASSWORD = "crash-test-truststore-password"
OLD, NEW = "old", "new"
KEY_MATERIAL = ("client.key", "client.key.*~", "client.p12", "combined.pem")  # targets whose temp files hold a key


class CrashCase(object):
    """A module run whose writes are killed one step at a time.

    prepare(folder) makes the state before; args(folder) are the module's arguments; targets are
    the file name patterns (fnmatch) of the writes to kill; judge(folder, name, data) says whether
    a file is OLD, NEW or neither (None: half-written or wrong); pair(folder) checks that the key
    and certificate on disk belong together.
    """

    def __init__(self, name, module, targets, prepare, args, judge, watched, pair=None):
        self.name = name
        self.module = module
        self.targets = targets
        self.prepare = prepare
        self.args = args
        self.judge = judge
        self.watched = watched  # file names (fnmatch) whose content is judged
        self.pair = pair


@pytest.fixture(scope="module")
def material(pki):
    key = ec.generate_private_key(ec.SECP256R1())
    old_rsa = rsa.generate_private_key(65537, 2048)
    old_certificate = pki.issue(key, "client-1", days=(-300, 60))
    new_certificate = pki.issue(key, "client-1")
    old_ca, new_ca, other_ca = pki.issue_ca("Wise CA 2025"), pki.issue_ca("Wise CA 2026"), pki.issue_ca("Another CA")
    return dict(key=key, key_pem=key_pem(key), old_rsa_pem=key_pem(old_rsa), old_certificate=old_certificate,
                new_certificate=new_certificate, old_ca=old_ca, new_ca=new_ca, other_ca=other_ca)


def build_cases(m):
    def path(folder, name):
        return os.path.join(folder, name)

    # -- private_key: a new key
    def judge_new_key(folder, name, data):
        if data is None:
            return OLD
        key = _load(data)
        return NEW if key is not None and isinstance(key, ec.EllipticCurvePrivateKey) else None

    # -- private_key: replacing a mismatched key, with a backup
    def prepare_replace(folder):
        write_file(path(folder, "client.key"), m["old_rsa_pem"], 0o600)

    def judge_replace(folder, name, data):
        if name == "client.key":
            if data == m["old_rsa_pem"]:
                return OLD
            key = _load(data)
            return NEW if isinstance(key, ec.EllipticCurvePrivateKey) else None
        # a backup is complete and owner-only, or it is not there at all
        return NEW if data == m["old_rsa_pem"] and file_mode(path(folder, name)) == 0o600 else None

    # -- csr: the CSR made again for a new subject
    old_csr = crypto.csr_to_pem(crypto.build_csr(m["key"], "Old Name Ltd", "GB", "client-1"))

    def prepare_csr(folder):
        write_file(path(folder, "client.key"), m["key_pem"], 0o600)
        write_file(path(folder, "client.csr"), old_csr, 0o644)

    def judge_csr(folder, name, data):
        if name == "client.key":
            return OLD if data == m["key_pem"] else None
        if data == old_csr:
            return OLD
        try:
            csr = crypto.load_csr_pem(data)
        except ValueError:
            return None
        good = (csr.is_signature_valid and public_der(csr.public_key()) == public_der(m["key"])
                and crypto.name_values(csr.subject, "ORGANIZATION_NAME") == ["New Name Ltd"])
        return NEW if good else None

    # -- certificate: the renewed certificate, its PKCS#12 keystore and the combined PEM
    def prepare_certificate(folder):
        write_file(path(folder, "client.key"), m["key_pem"], 0o600)
        write_file(path(folder, "client.pem"), m["old_certificate"], 0o644)
        old = crypto.load_certificate_pem(m["old_certificate"])
        write_file(path(folder, "client.p12"),
                   crypto.pkcs12_keystore(m["key"], old, [], "wise-mtls", P12_PASSWORD)[0], 0o600)
        write_file(path(folder, "combined.pem"), m["old_certificate"] + m["key_pem"], 0o600)

    def judge_certificate(folder, name, data):
        versions = {m["old_certificate"]: OLD, m["new_certificate"]: NEW}
        if name == "client.key":
            return OLD if data == m["key_pem"] else None
        if name == "client.pem":
            return versions.get(data)
        if name == "combined.pem":
            return versions.get(data[:len(m["old_certificate"])]) if data in (
                m["old_certificate"] + m["key_pem"], m["new_certificate"] + m["key_pem"]) else None
        try:
            contents = crypto.load_pkcs12(data, P12_PASSWORD)
        except (ValueError, TypeError):
            return None
        if contents.key is None or public_der(contents.key) != public_der(m["key"]) or contents.certificate is None:
            return None
        return versions.get(crypto.certificate_to_pem(contents.certificate))

    def certificate_pair(folder):
        key = _load(read_bytes(path(folder, "client.key")))
        certificate = crypto.load_certificate_pem(read_bytes(path(folder, "client.pem")))
        return public_der(certificate.public_key()) == public_der(key)

    # -- ca_trust: the Wise CA replaced in a bundle and in a Java trust store that hold another CA too
    def bundle(ca):
        return trust_stores.bundle_with(trust_stores.bundle_with(b"", "other", _certificate(m["other_ca"])),
                                        "wise-sandbox", _certificate(ca))

    def prepare_bundle(folder):
        write_file(path(folder, "wise-ca.pem"), bundle(m["old_ca"]), 0o644)

    def judge_bundle(folder, name, data):
        return {bundle(m["old_ca"]): OLD, bundle(m["new_ca"]): NEW}.get(data)

    def truststore(ca):
        return crypto.java_truststore([("other", _certificate(m["other_ca"])), ("wise-sandbox", _certificate(ca))],
                                      TRUSTSTORE_PASSWORD)

    def prepare_java(folder):
        write_file(path(folder, "truststore.p12"), truststore(m["old_ca"]), 0o644)

    def judge_java(folder, name, data):
        try:
            contents = crypto.load_pkcs12(data, TRUSTSTORE_PASSWORD)
        except (ValueError, TypeError):
            return None
        entries = dict(((alias or "").lower(), crypto.certificate_to_pem(certificate))
                       for alias, certificate in contents.additional)
        if entries.get("other") != m["other_ca"] or len(entries) != 2:
            return None
        return {m["old_ca"]: OLD, m["new_ca"]: NEW}.get(entries.get("wise-sandbox"))

    return [
        CrashCase("private_key creates a key", "wise.mtls.private_key", ["client.key"], lambda folder: None,
                  lambda folder: dict(path=path(folder, "client.key"), type="ecc"), judge_new_key, ["client.key"]),
        CrashCase("private_key replaces a mismatched key (backup, then key)", "wise.mtls.private_key",
                  ["client.key.*~", "client.key"], prepare_replace,
                  lambda folder: dict(path=path(folder, "client.key"), type="ecc", replace_mismatched=True),
                  judge_replace, ["client.key", "client.key.*~"]),
        CrashCase("csr is made again for a new subject", "wise.mtls.csr", ["client.csr"], prepare_csr,
                  lambda folder: dict(path=path(folder, "client.csr"), private_key_path=path(folder, "client.key"),
                                      organization="New Name Ltd", country="GB", client_id="client-1"),
                  judge_csr, ["client.key", "client.csr"]),
        CrashCase("certificate installs a renewal (certificate, PKCS#12, combined PEM)", "wise.mtls.certificate",
                  ["client.pem", "client.p12", "combined.pem"], prepare_certificate,
                  lambda folder: dict(path=path(folder, "client.pem"), content=m["new_certificate"].decode("ascii"),
                                      private_key_path=path(folder, "client.key"), client_id="client-1",
                                      pkcs12_path=path(folder, "client.p12"), pkcs12_password=P12_PASSWORD,
                                      combined_path=path(folder, "combined.pem")),
                  judge_certificate, ["client.key", "client.pem", "client.p12", "combined.pem"], certificate_pair),
        CrashCase("ca_trust replaces the Wise CA in a bundle", "wise.mtls.ca_trust", ["wise-ca.pem"], prepare_bundle,
                  lambda folder: dict(name="wise-sandbox", content=m["new_ca"].decode("ascii"),
                                      bundle_path=path(folder, "wise-ca.pem")),
                  judge_bundle, ["wise-ca.pem"]),
        CrashCase("ca_trust replaces the Wise CA in a Java trust store", "wise.mtls.ca_trust", ["truststore.p12"],
                  prepare_java,
                  lambda folder: dict(name="wise-sandbox", content=m["new_ca"].decode("ascii"), stores=["java"],
                                      java_truststore_path=path(folder, "truststore.p12"),
                                      java_truststore_password=TRUSTSTORE_PASSWORD, java_truststore_backend="cryptography"),
                  judge_java, ["truststore.p12"]),
    ]


def _load(data):
    try:
        return load_key(data)
    except (ValueError, TypeError):
        return None


def _certificate(pem):
    return crypto.load_certificate_pem(pem)


def watched_files(folder, case):
    """{name: bytes} of every file in folder that case judges (None for an expected file that is absent)."""
    names = sorted(os.listdir(folder))
    found = dict((name, read_bytes(os.path.join(folder, name))) for name in names
                 if any(fnmatch.fnmatchcase(name, pattern) for pattern in case.watched) and not TEMP_RE.match(name))
    for pattern in case.watched:
        if not any(ch in pattern for ch in "*?[") and pattern not in found:
            found[pattern] = None
    return found


def stray_temp_files(folder):
    return sorted(name for name in os.listdir(folder) if TEMP_RE.match(name))


def arm(crash_root, step, target):
    """Environment that arms one crash point (and the token file that the point consumes as it fires)."""
    token = secrets.token_hex(32)
    token_file = os.path.join(crash_root, "token-{0}".format(secrets.token_hex(8)))
    write_file(token_file, token + "\n", 0o600)
    return token_file, {"WISE_MTLS_TEST_CRASH_AT": "{0}@{1}".format(step, target),
                        "WISE_MTLS_TEST_CRASH_TOKEN": token, "WISE_MTLS_TEST_CRASH_TOKEN_FILE": token_file}


def test_a_crash_at_any_write_step_leaves_old_or_new_files_never_half_written(ansible, material, tmp_path, tally):
    crash_root = str(tmp_path)
    points = []  # (case, folder, step, target, token file)
    tasks = []
    for case in build_cases(material):
        for target in case.targets:
            for step in safe_file.TEST_CRASH_STEPS:
                folder = os.path.join(crash_root, "{0:02d}-{1}".format(len(points), step))
                os.mkdir(folder)
                case.prepare(folder)
                token_file, environment = arm(crash_root, step, target)
                points.append((case, folder, step, target, token_file))
                tasks.append(task(case.module, case.args(folder), register="crash_{0:02d}".format(len(tasks)),
                                  name="{0}: killed {1} of {2}".format(case.name, step, target), ignore_errors=True,
                                  environment=environment))
    crashed = ansible.run(tasks, name="crash", umask=0)  # the temp files' modes must not depend on the umask
    assert crashed.rc == 0, crashed.describe()

    problems, failed_points, half_written, files_checked, stray, mode_checks = [], set(), 0, 0, {}, 0

    def problem(index, text):
        problems.append(text)
        failed_points.add(index)

    for index, (case, folder, step, target, token_file) in enumerate(points):
        where = "{0}, killed {1} of {2}".format(case.name, step, target)
        result = crashed.results["crash_{0:02d}".format(index)]
        if os.path.exists(token_file) or not result.get("failed"):
            problem(index, "{0}: the crash point did not fire ({1})".format(where, result.get("msg")))
            continue
        for name, data in watched_files(folder, case).items():
            files_checked += 1
            if case.judge(folder, name, data) is None:
                half_written += 1
                problem(index, "{0}: {1} is neither the old nor a complete new file".format(where, name))
        if case.pair is not None and not case.pair(folder):
            problem(index, "{0}: the key and the certificate on disk do not belong together".format(where))
        stray[index] = stray_temp_files(folder)
        for name in stray[index]:
            temp_mode = file_mode(os.path.join(folder, name))
            mode_checks += 1
            if step == "after_temp_create" and temp_mode != 0o600:
                problem(index, "{0}: the new temp file {1} is mode {2:04o}, not 0600".format(where, name, temp_mode))
            if any(fnmatch.fnmatchcase(target, pattern) for pattern in KEY_MATERIAL) and temp_mode & 0o077:
                problem(index, "{0}: the temp file {1} holds key material and is mode {2:04o}".format(where, name, temp_mode))

    # The same tasks again, unarmed: each finishes the job and removes the temp files the kill left.
    recovery_tasks = [dict(entry, register="recover_{0:02d}".format(number), ignore_errors=False)
                      for number, entry in enumerate(tasks)]
    for entry in recovery_tasks:
        entry.pop("environment")
    recovered = ansible.run(recovery_tasks, name="crash-recovery")
    assert recovered.rc == 0, recovered.describe()
    removed, recovered_runs = 0, 0
    for index, (case, folder, step, target, _token_file) in enumerate(points):
        where = "{0}, killed {1} of {2}, then run again".format(case.name, step, target)
        result = recovered.results["recover_{0:02d}".format(index)]
        left = stray_temp_files(folder)
        removed += len([name for name in stray.get(index, []) if name not in left])
        if left:
            problem(index, "{0}: stray temp files remain: {1}".format(where, left))
        states = dict((name, case.judge(folder, name, data)) for name, data in watched_files(folder, case).items())
        finished = all(state == (OLD if name == "client.key" and case.module != "wise.mtls.private_key" else NEW)
                       for name, state in states.items())
        if result.get("failed") or not finished:
            problem(index, "{0}: did not finish the job: {1} {2}".format(where, states, result.get("msg")))
        else:
            recovered_runs += 1
        if case.pair is not None and not case.pair(folder):
            problem(index, "{0}: the key and the certificate on disk do not belong together".format(where))

    left_by_kill = sum(len(names) for names in stray.values())
    ok = len(points) - len(failed_points)
    tally.add("crash_points", len(points), ok, half_written=half_written, files_checked=files_checked,
              stray_temp_files=left_by_kill, stray_temp_files_removed=removed, recovered=recovered_runs)
    mode_problems = len([text for text in problems if "is mode" in text])
    tally.add("permission_checks", mode_checks, mode_checks - mode_problems, temp_files_at_crash=mode_checks)
    assert len(points) >= 50
    assert not problems, "\n".join(problems)
    assert left_by_kill > 0  # the kills before the rename really left temp files, and the next run removed them
