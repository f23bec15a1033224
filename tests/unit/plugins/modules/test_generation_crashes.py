# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Rotation killed at every step: the paths consumers use always name one working pair.

wise.mtls.generation runs in a process of its own, which is killed (SIGKILL) at the N-th test-only
crash point it reaches - every step of every file write of the safe-file layer (temp file made, mode
set, half written, synced, renamed, folder synced) and every step of the switch (a new link made under
its temp name, renamed over the old one, a link removed, a file of a removed generation unlinked) - for
N = 1, 2, ... until a run passes them all. After each kill, client.key, client.csr and client.pem, opened
the way a consumer opens them, must hold one key, its CSR and its certificate, of the old generation or
the new one, never a mix; then the same module run again must finish the job and leave no temp file or
link behind.

The killed runs count the crash points themselves (see ForkServer). The scenarios: staging (the live
files must stay the old ones), the first switch of a folder the client role made (flat files becoming
a generation, then the switch), a later switch, a rollback, and the removal of inactive generations.
A second test arms the real crash point with its environment variables (not a counter), at the switch
itself, to prove that arming works for the new steps.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _generations as generations
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.modules import generation
from ansible_collections.wise.mtls.tests.unit.helpers import module_args, read_bytes, write_bytes

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(generations.__file__), "..", "..", "..", "..", ".."))
ORGANIZATION = "Example Payments Ltd"
CLIENT_ID = "client-id-1234"

# A process that imports the module once and then forks one child per request (it has a single thread, so
# forking is safe, unlike in pytest's process): each child runs the module and kills itself at the N-th
# crash point it passes. Starting an interpreter per run would cost about a second each.
FORK_SERVER = r"""
import json, os, signal, sys
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.modules import generation
for line in sys.stdin:
    args_path, kill_at = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            passed = [0]
            def point(step, path):
                passed[0] += 1
                if passed[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            safe_file._test_crash_point = point
            sys.argv = [sys.argv[0], args_path]
            generation.main()
        finally:
            os._exit(3)  # reached only when the kill did not happen
    _pid, status = os.waitpid(pid, 0)
    sys.stdout.write("%d\n" % (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)))
    sys.stdout.flush()
"""


class ForkServer(object):
    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                                        universal_newlines=True)

    def run(self, args_path, kill_at):
        self.process.stdin.write(json.dumps([args_path, kill_at]) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


@pytest.fixture
def forks():
    server = ForkServer()
    yield server
    server.close()


def public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class Folder(object):
    def __init__(self, path, pki, openssl):
        self.path = str(path)
        self.pki = pki
        self.openssl = openssl
        os.makedirs(self.path, 0o700)
        self.key = pki.key("ec256", "crash-old")
        write_bytes(os.path.join(self.path, "client.key"), pki.key_pem(self.key), 0o600)
        openssl.make_csr(os.path.join(self.path, "client.key"), os.path.join(self.path, "client.csr"),
                         "/C=EU/O={0}/CN={1}".format(ORGANIZATION, CLIENT_ID))
        write_bytes(os.path.join(self.path, "client.pem"), pki.pem(pki.leaf(self.key, days_before=-300)), 0o644)
        write_bytes(os.path.join(self.path, "wise-ca.pem"), pki.pem(pki.ca), 0o644)

    def run(self, args, env):
        """The module in a process of its own (python -m), with extra environment variables: the exit status."""
        args_path = self.path + ".args.json"
        with open(args_path, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        completed = subprocess.run([sys.executable, "-m", "ansible_collections.wise.mtls.plugins.modules.generation",
                                    args_path], env=dict(os.environ, PYTHONPATH=COLLECTIONS, **env),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        os.unlink(args_path)
        return completed

    def traced_run(self, args, monkeypatch):
        """Run the module in this process, recording every crash point it passes: [(step, path in the folder)]."""
        trace = []
        monkeypatch.setattr(safe_file, "_test_crash_point",
                            lambda step, path: trace.append((step, os.path.relpath(path, self.path))))
        with module_args(dict(args)), pytest.raises(SystemExit) as exit_info:
            generation.main()
        monkeypatch.undo()
        assert exit_info.value.code in (0, None)
        return trace

    def killed_run(self, forks, args, kill_at):
        """The module in a process of its own that kills itself (SIGKILL) at crash point number kill_at: its status."""
        args_path = self.path + ".args.json"
        with open(args_path, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        try:
            return forks.run(args_path, kill_at)
        finally:
            os.unlink(args_path)

    def stage(self, run_module, generation_id, sign=True):
        result = run_module(generation, dict(path=self.path, state="staged", type="ecc", organization=ORGANIZATION,
                                             generation=generation_id, certificate_name="name-" + generation_id))
        assert result["rc"] == 0, result["msg"]
        if sign:
            key_path = os.path.join(self.path, "generations", generation_id, "client.key")
            key = serialization.load_pem_private_key(read_bytes(key_path), None)
            write_bytes(os.path.join(self.path, "generations", generation_id, "client.pem"),
                        self.pki.pem(self.pki.leaf(key)), 0o644)

    def switch(self, run_module, wanted):
        result = run_module(generation, dict(path=self.path, state="live", generation=wanted))
        assert result["rc"] == 0, result["msg"]

    def consumer_pair(self):
        """The public key (DER) that client.key, client.csr and client.pem name, opened as a consumer opens them."""
        key = crypto.load_private_key(read_bytes(os.path.join(self.path, "client.key")))
        csr = crypto.load_csr_pem(read_bytes(os.path.join(self.path, "client.csr")))
        certificate = crypto.load_certificate_pem(read_bytes(os.path.join(self.path, "client.pem")))
        ders = set(public_der(item) for item in (key.public_key(), csr.public_key(), certificate.public_key()))
        assert len(ders) == 1, "client.key, client.csr and client.pem come from different generations"
        return ders.pop()

    def leftovers(self):
        """Temp files and temp links anywhere under the folder."""
        found = []
        for root, dirs, files in os.walk(self.path):
            found.extend(os.path.join(root, name) for name in dirs + files if name.endswith(".tmp"))
        return found


def restore(snapshot, path):
    shutil.rmtree(path)
    shutil.copytree(snapshot, path, symlinks=True)


def kill_at_every_point(folder, run_module, monkeypatch, forks, args, allowed_pairs, final_check, tally):
    """Run args killed at crash point 1, 2, ... on copies of folder's state; returns the trace of a whole run.

    The killed runs are processes of their own (see ForkServer); the run that must then finish the job is the module's main() in this
    process (a fresh run all the same: the killed process holds nothing any more, its locks died with it).
    """
    snapshot = folder.path + ".snapshot"
    shutil.copytree(folder.path, snapshot, symlinks=True)
    trace = folder.traced_run(args, monkeypatch)  # a run that passes every point: which there are
    assert trace, "the run reached no crash point"
    for index in range(1, len(trace) + 1):
        restore(snapshot, folder.path)
        status = folder.killed_run(forks, args, index)
        assert status == -signal.SIGKILL, (index, trace[index - 1], status)
        pair = folder.consumer_pair()
        assert pair in allowed_pairs, "killed at {0}: the consumer paths name a generation they should not".format(
            trace[index - 1])
        result = run_module(generation, args)
        assert result["rc"] == 0, (trace[index - 1], result["msg"])
        assert folder.leftovers() == [], trace[index - 1]
        final_check()
        tally.append(tuple(trace[index - 1]))
    restore(snapshot, folder.path)
    shutil.rmtree(snapshot)
    return trace


@pytest.fixture
def folder(tmp_path, pki, openssl):
    return Folder(tmp_path / "sandbox", pki, openssl)


def live_public_key(folder, generation_id):
    key = serialization.load_pem_private_key(read_bytes(os.path.join(folder.path, "generations", generation_id,
                                                                     "client.key")), None)
    return public_der(key.public_key())


def test_a_killed_stage_never_touches_the_live_pair(folder, run_module, monkeypatch, forks):
    old = folder.consumer_pair()
    covered = []
    args = dict(path=folder.path, state="staged", type="ecc", organization=ORGANIZATION, generation="next")

    def final_check():
        assert os.readlink(os.path.join(folder.path, "staged")) == "generations/next"
        assert folder.consumer_pair() == old

    trace = kill_at_every_point(folder, run_module, monkeypatch, forks, args, [old], final_check, covered)
    assert {step for step, _path in trace} >= {"after_temp_create", "mid_write", "after_rename", "link_replaced"}


def test_the_first_switch_killed_at_every_step(folder, run_module, monkeypatch, forks):
    old = folder.consumer_pair()
    folder.stage(run_module, "next")
    new = live_public_key(folder, "next")
    covered = []

    def final_check():
        assert os.readlink(os.path.join(folder.path, "live")) == "generations/next"
        assert folder.consumer_pair() == new
        assert not os.path.lexists(os.path.join(folder.path, "staged"))

    trace = kill_at_every_point(folder, run_module, monkeypatch, forks, dict(path=folder.path, state="live", generation="next"), [old, new],
                                final_check, covered)
    # The migration copies every file, links each consumer path, then switches.
    steps = [(step, path) for step, path in trace if step.startswith("link_")]
    assert ("link_replaced", "live") in steps and ("link_replaced", "client.key") in steps
    assert ("link_replaced", "client.pem") in steps and ("link_replaced", "previous") in steps
    assert ("link_removed", "staged") in steps
    assert len(covered) == len(trace) >= 30


def test_a_later_switch_and_a_rollback_killed_at_every_step(folder, run_module, monkeypatch, forks):
    old = folder.consumer_pair()
    folder.stage(run_module, "one")
    folder.switch(run_module, "staged")
    one = folder.consumer_pair()
    folder.stage(run_module, "two")
    two = live_public_key(folder, "two")
    covered = []

    def switched():
        assert folder.consumer_pair() == two
        assert os.readlink(os.path.join(folder.path, "previous")) == "generations/one"

    kill_at_every_point(folder, run_module, monkeypatch, forks, dict(path=folder.path, state="live", generation="two"), [one, two], switched,
                        covered)
    folder.switch(run_module, "staged")

    def rolled_back():
        assert folder.consumer_pair() == one
        assert os.readlink(os.path.join(folder.path, "staged")) == "generations/two"
        assert not os.path.lexists(os.path.join(folder.path, "previous"))

    kill_at_every_point(folder, run_module, monkeypatch, forks, dict(path=folder.path, state="live", generation="one"), [one, two], rolled_back,
                        covered)
    assert old not in (one, two)


def test_a_killed_cleanup_never_touches_the_live_pair(folder, run_module, monkeypatch, forks):
    folder.stage(run_module, "next")
    folder.switch(run_module, "staged")
    new = folder.consumer_pair()
    covered = []

    def final_check():
        assert sorted(os.listdir(os.path.join(folder.path, "generations"))) == ["next"]
        assert folder.consumer_pair() == new

    trace = kill_at_every_point(folder, run_module, monkeypatch, forks, dict(path=folder.path, state="absent", generation="inactive"), [new],
                                final_check, covered)
    assert [step for step, _path in trace].count("generation_file_removed") == 4  # key, CSR, certificate, record


def test_the_real_arming_fires_at_the_switch(folder, run_module, tmp_path):
    """The crash point armed by its environment variables (as tests/safety arms it) kills the switch itself."""
    folder.stage(run_module, "first")
    folder.switch(run_module, "first")  # the folder uses generations already: the next "live" link written is the switch
    old = folder.consumer_pair()
    folder.stage(run_module, "next")
    new = live_public_key(folder, "next")
    for step in ("link_created@live", "link_replaced@live"):
        token = secrets.token_hex(24)
        token_file = str(tmp_path / "crash-token")
        with open(token_file, "w") as handle:
            handle.write(token)
        os.chmod(token_file, 0o600)
        completed = folder.run(dict(path=folder.path, state="live", generation="next"), dict(
            WISE_MTLS_TEST_CRASH_AT=step, WISE_MTLS_TEST_CRASH_TOKEN=token, WISE_MTLS_TEST_CRASH_TOKEN_FILE=token_file))
        assert completed.returncode == -signal.SIGKILL, completed.stdout
        assert not os.path.exists(token_file)  # one arming fires once
        expected = old if step.startswith("link_created") else new
        assert folder.consumer_pair() == expected
    result = run_module(generation, dict(path=folder.path, state="live", generation="next"))
    assert result["rc"] == 0 and folder.consumer_pair() == new and folder.leftovers() == []
