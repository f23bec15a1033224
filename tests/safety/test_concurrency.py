# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Concurrency: two runs at once on one host and the same paths end consistent.

Each round starts two ansible-playbook processes together, both making the key, the CSR,
having the CSR signed (each run signs the CSR it finds) and installing the certificate with
its PKCS#12 keystore and combined PEM, then reading it back with certificate_info. What makes
it safe is the advisory lock the safe-file layer takes on the destination's folder: a module
holds it from reading the files to writing them, so the second run waits, then finds the first
run's key instead of making another one (and never writes a CSR for a key that is being
replaced). Atomic renames alone would keep every file whole, but not the set consistent.

Afterwards: both runs succeeded, both report the same key fingerprint (the one on disk),
and key, CSR, certificate, PKCS#12 and combined PEM all hold the same public key.
"""

from __future__ import annotations

import os
import sys

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.tests.safety.safety_helpers import SIGNER, load_key, public_der, read_bytes, task

P12_PASSWORD = "concurrency-p12-password"
ROUNDS = [("rsa", 4096), ("ecc", 256), ("rsa", 2048), ("ecc", 384)]


def lifecycle_tasks(folder, key_type, size, run, signing_ca):
    def f(name):
        return os.path.join(folder, name)

    signed = f("issued-{0}.pem".format(run))
    return [
        task("wise.mtls.private_key", dict(path=f("client.key"), type=key_type, size=size), "key"),
        task("wise.mtls.csr", dict(path=f("client.csr"), private_key_path=f("client.key"), organization="Concurrent Ltd",
                                   client_id="client-1"), "csr"),
        task("ansible.builtin.command", dict(argv=[sys.executable, "-c", SIGNER, signing_ca[0], signing_ca[1], f("client.csr"),
                                                   signed]), "signed", name="Sign the CSR (Developer Hub)"),
        task("wise.mtls.certificate", dict(path=f("client.pem"), src=signed, private_key_path=f("client.key"),
                                           pkcs12_path=f("client.p12"), pkcs12_password=P12_PASSWORD,
                                           combined_path=f("combined.pem")), "certificate"),
        task("wise.mtls.certificate_info", dict(path=f("client.pem"), private_key_path=f("client.key")), "info"),
    ]


def consistency_problems(folder, runs):
    """What is inconsistent on disk and in what the runs reported (empty when all is well)."""
    def f(name):
        return os.path.join(folder, name)

    problems = []
    key = load_key(read_bytes(f("client.key")))
    wanted = public_der(key)
    fingerprint = crypto.public_key_fingerprint(key.public_key())
    held = {
        "client.csr": public_der(crypto.load_csr_pem(read_bytes(f("client.csr"))).public_key()),
        "client.pem": public_der(crypto.load_certificate_pem(read_bytes(f("client.pem"))).public_key()),
        "combined.pem": public_der(crypto.load_certificate_pem(read_bytes(f("combined.pem"))).public_key()),
    }
    combined = read_bytes(f("combined.pem"))
    if read_bytes(f("client.key")) not in combined or not combined.startswith(read_bytes(f("client.pem"))):
        problems.append("combined.pem is not the installed certificate followed by the key")
    contents = crypto.load_pkcs12(read_bytes(f("client.p12")), P12_PASSWORD)
    held["client.p12 key"] = public_der(contents.key)
    held["client.p12 certificate"] = public_der(contents.certificate.public_key())
    for name, public in sorted(held.items()):
        if public != wanted:
            problems.append("{0} is for another key than client.key".format(name))
    for number, run in enumerate(runs):
        if run.rc != 0:
            failed = [(name, result.get("msg")) for name, result in run.results.items() if result.get("failed")]
            problems.append("run {0} failed: {1}".format(number + 1, failed or run.stdout[-2000:]))
            continue
        if run.results["key"]["fingerprint"] != fingerprint:
            problems.append("run {0} reported key {1}, but client.key is {2}".format(
                number + 1, run.results["key"]["fingerprint"], fingerprint))
        if run.results["csr"]["fingerprint"] != fingerprint:
            problems.append("run {0} wrote a CSR for key {1}, but client.key is {2}".format(
                number + 1, run.results["csr"]["fingerprint"], fingerprint))
        if run.results["info"]["key_match"] is not True:
            problems.append("run {0}: certificate_info found no key match".format(number + 1))
    return problems


def test_two_runs_at_once_end_consistent(ansible, signing_ca, tmp_path, tally):
    problems = []
    consistent = 0
    for number, (key_type, size) in enumerate(ROUNDS):
        folder = str(tmp_path / "round-{0}".format(number + 1))
        os.mkdir(folder)
        started = [ansible.start(lifecycle_tasks(folder, key_type, size, run, signing_ca),
                                 name="concurrent-{0}-{1}".format(number + 1, run)) for run in (1, 2)]
        runs = [handle.wait() for handle in started]
        found = consistency_problems(folder, runs)
        created = [run.results.get("key", {}).get("changed") for run in runs if run.rc == 0]
        if created.count(True) > 1:
            found.append("both runs created a key")
        for run in (1, 2):
            if not [problem for problem in found if not problem.startswith("run ") or problem.startswith("run {0} ".format(run))]:
                consistent += 1
        problems.extend("round {0} ({1} {2}): {3}".format(number + 1, key_type, size, problem) for problem in found)
    tally.add("concurrency_runs", 2 * len(ROUNDS), consistent, rounds=len(ROUNDS))
    assert not problems, "\n".join(problems)
