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

Rotation activation (wise.mtls.generation state=live, what the rotate role runs) is killed
the same way at each of its steps: the copies of the first switch, which turns the client
role's regular files into a generation, and each link it creates, replaces or removes. The
paths consumers open must name one complete generation at every kill.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shutil
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores
from ansible_collections.wise.mtls.tests.safety.safety_helpers import (
    SIGNER,
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


# ---------------------------------------------------------------- rotation activation (wise.mtls.generation)

ROTATION_LINK_STEPS = ("link_created", "link_replaced")


def rotation_setup_tasks(folder, generation, signing_ca, outside, flat):
    """Tasks that make folder hold live files and a staged generation with its certificate."""
    def f(*names):
        return os.path.join(folder, *names)

    def sign(csr, out):
        return task("ansible.builtin.command", dict(argv=[sys.executable, "-c", SIGNER, signing_ca[0], signing_ca[1], csr,
                                                          os.path.join(outside, out)]), name="Sign " + csr)

    name = os.path.basename(folder)
    tasks = []
    if flat:  # what the client role makes: regular files
        tasks += [
            task("wise.mtls.private_key", dict(path=f("client.key"), type="ecc")),
            task("wise.mtls.csr", dict(path=f("client.csr"), private_key_path=f("client.key"), organization="Rotation Ltd",
                                       client_id="client-1")),
            sign(f("client.csr"), name + "-flat.pem"),
            task("wise.mtls.certificate", dict(path=f("client.pem"), src=os.path.join(outside, name + "-flat.pem"),
                                               private_key_path=f("client.key"))),
        ]
    generation_folder = f("generations", generation)
    tasks += [
        task("wise.mtls.generation", dict(path=folder, state="staged", generation=generation, type="ecc",
                                          organization="Rotation Ltd", client_id="client-1")),
        sign(os.path.join(generation_folder, "client.csr"), "{0}-{1}.pem".format(name, generation)),
        task("wise.mtls.certificate", dict(path=os.path.join(generation_folder, "client.pem"),
                                           src=os.path.join(outside, "{0}-{1}.pem".format(name, generation)),
                                           private_key_path=os.path.join(generation_folder, "client.key"))),
    ]
    return tasks


def consumer_pair(folder):
    """(key DER, certificate DER) behind the paths consumers open, or None when they do not belong together."""
    try:
        key = _load(read_bytes(os.path.join(folder, "client.key")))
        certificate = crypto.load_certificate_pem(read_bytes(os.path.join(folder, "client.pem")))
        csr = crypto.load_csr_pem(read_bytes(os.path.join(folder, "client.csr")))
    except (OSError, ValueError):
        return None
    if key is None or not (public_der(key) == public_der(certificate.public_key()) == public_der(csr.public_key())):
        return None
    return public_der(key)


def damaged_files(folder, counter=None):
    """Regular files in the tree that do not parse completely (temp files aside); counter[0] counts the files read."""
    damaged = []
    for root, _folders, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if TEMP_RE.match(name) or os.path.islink(path):
                continue
            data = read_bytes(path)
            if counter is not None:
                counter[0] += 1
            try:
                if name.endswith(".key"):
                    assert _load(data) is not None
                elif name.endswith(".csr"):
                    crypto.load_csr_pem(data)
                elif name.endswith(".pem"):
                    crypto.load_certificate_pem(data)
                elif name.endswith(".json"):
                    json.loads(data.decode("utf-8"))
            except (AssertionError, ValueError):
                damaged.append(os.path.relpath(path, folder))
    return damaged


def stray_temp_entries(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder) for root, folders, names in os.walk(folder)
                  for name in names + folders if TEMP_RE.match(name))


def test_a_crash_during_rotation_activation_leaves_one_complete_generation(ansible, signing_ca, tmp_path, tally):
    """The switch to a staged generation (wise.mtls.generation state=live), killed at each step.

    The first switch of a folder that the client role made (regular files: they become a generation
    first) and a switch from one generation to the next. At any kill, the paths consumers open
    (client.key, client.csr, client.pem) must name one complete generation, the old or the new.
    """
    templates = {"first": str(tmp_path / "template-first"), "next": str(tmp_path / "template-next")}
    outside = str(tmp_path / "issued")
    for folder in list(templates.values()) + [outside]:
        os.mkdir(folder)
    setup = (rotation_setup_tasks(templates["first"], "g2", signing_ca, outside, flat=True)
             + rotation_setup_tasks(templates["next"], "g2", signing_ca, outside, flat=True)
             + [task("wise.mtls.generation", dict(path=templates["next"], state="live", generation="staged"))]
             + rotation_setup_tasks(templates["next"], "g3", signing_ca, outside, flat=False))
    prepared = ansible.run(setup, name="rotation-setup")
    assert prepared.rc == 0, prepared.describe()
    pairs = {
        "first": (consumer_pair(templates["first"]), _pair_of(templates["first"], "g2")),
        "next": (consumer_pair(templates["next"]), _pair_of(templates["next"], "g3")),
    }
    for kind, (old, new) in pairs.items():
        assert old is not None and new is not None and old != new, kind
    targets = {
        "first": [(step, "client.key") for step in safe_file.TEST_CRASH_STEPS]
        + [(step, name) for name in ("live", "client.key", "client.pem") for step in ROTATION_LINK_STEPS]
        + [("link_removed", "staged")],
        "next": [(step, name) for name in ("previous", "live") for step in ROTATION_LINK_STEPS] + [("link_removed", "staged")],
    }
    new_ids = {"first": "g2", "next": "g3"}
    points, tasks = [], []
    for kind, steps in sorted(targets.items()):
        for step, target in steps:
            folder = str(tmp_path / "{0:02d}-{1}-{2}-{3}".format(len(points), kind, step, target))
            shutil.copytree(templates[kind], folder, symlinks=True)
            token_file, environment = arm(str(tmp_path), step, target)
            points.append((kind, folder, step, target, token_file))
            # The generation by id, as a re-run after a kill needs it: once the switch is done and the staged link
            # removed, "staged" names nothing any more (the run would fail although the switch is complete).
            tasks.append(task("wise.mtls.generation", dict(path=folder, state="live", generation=new_ids[kind]),
                              register="crash_{0:02d}".format(len(tasks)), ignore_errors=True, environment=environment,
                              name="{0} switch killed {1} of {2}".format(kind, step, target)))
    crashed = ansible.run(tasks, name="rotation-crash", umask=0)
    assert crashed.rc == 0, crashed.describe()

    problems, failed_points, stray, checked = [], set(), 0, 0
    for index, (kind, folder, step, target, token_file) in enumerate(points):
        where = "{0} switch killed {1} of {2}".format(kind, step, target)
        if os.path.exists(token_file) or not crashed.results["crash_{0:02d}".format(index)].get("failed"):
            problems.append(where + ": the crash point did not fire")
            failed_points.add(index)
            continue
        if consumer_pair(folder) not in pairs[kind]:
            problems.append(where + ": client.key, client.csr and client.pem do not name one complete generation")
            failed_points.add(index)
        counter = [0]
        damaged = damaged_files(folder, counter)
        checked += counter[0]
        if damaged:
            problems.append("{0}: half-written files {1}".format(where, damaged))
            failed_points.add(index)
        stray += len(stray_temp_entries(folder))

    recovery = [dict(entry, register="recover_{0:02d}".format(number)) for number, entry in enumerate(tasks)]
    for entry in recovery:
        entry.pop("environment")
        entry.pop("ignore_errors")
    recovered = ansible.run(recovery, name="rotation-recovery")
    assert recovered.rc == 0, recovered.describe()
    finished = 0
    for index, (kind, folder, step, target, _token_file) in enumerate(points):
        where = "{0} switch killed {1} of {2}, then run again".format(kind, step, target)
        left = stray_temp_entries(folder)
        if consumer_pair(folder) != pairs[kind][1] or left or damaged_files(folder):
            problems.append("{0}: not finished (new generation live: {1}, temp files left: {2})".format(
                where, consumer_pair(folder) == pairs[kind][1], left))
            failed_points.add(index)
        else:
            finished += 1
    tally.add("crash_points", len(points), len(points) - len(failed_points), half_written=0, files_checked=checked,
              stray_temp_files=stray, stray_temp_files_removed=stray if finished == len(points) else 0,
              recovered=finished, rotation=len(points))
    assert not problems, "\n".join(problems)


def _pair_of(folder, generation):
    generation_folder = os.path.join(folder, "generations", generation)
    key = _load(read_bytes(os.path.join(generation_folder, "client.key")))
    certificate = crypto.load_certificate_pem(read_bytes(os.path.join(generation_folder, "client.pem")))
    assert public_der(key) == public_der(certificate.public_key())
    return public_der(key)
