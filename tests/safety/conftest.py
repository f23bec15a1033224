# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures of the safety suite, and the block of figures it prints at the end.

Each test adds what it proved to the tally (``tally.add(figure, total, ok, **details)``); the
figures are summed over every test (and every pytest-xdist worker) and printed as one block
after the test results, whether the tests passed or not.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.wise.mtls.tests.safety.safety_helpers import Ansible, Pki, write_file

TALLY_VARIABLE = "WISE_MTLS_SAFETY_TALLY_DIR"

# figure -> (label, how the block phrases it)
FIGURES = collections.OrderedDict([
    ("bad_inputs", "bad inputs"),
    ("secret_scans", "secrets scans"),
    ("crash_points", "crash points"),
    ("concurrency_runs", "concurrency runs"),
    ("permission_checks", "permission checks"),
    ("fuzz_examples", "fuzz examples"),
])


class Tally(object):
    """Figures for the summary block, appended as JSON lines to a file per process."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "tally-{0}.jsonl".format(os.getpid()))

    def add(self, figure, total, ok, **details):
        assert figure in FIGURES, figure
        with open(self.path, "a") as handle:
            handle.write(json.dumps(dict(figure=figure, total=total, ok=ok, details=details)) + "\n")

    def note(self, text):
        with open(self.path, "a") as handle:
            handle.write(json.dumps(dict(note=text)) + "\n")


def pytest_configure(config):
    if not hasattr(config, "workerinput") and TALLY_VARIABLE not in os.environ:
        # Set before pytest-xdist starts its workers, which inherit it.
        os.environ[TALLY_VARIABLE] = tempfile.mkdtemp(prefix="wise-mtls-safety-tally-")


@pytest.fixture(scope="session")
def tally():
    return Tally(os.environ[TALLY_VARIABLE])


def read_tally(folder):
    figures = collections.OrderedDict((name, dict(total=0, ok=0, details=collections.Counter())) for name in FIGURES)
    notes = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            for line in handle:
                entry = json.loads(line)
                if "note" in entry:
                    notes.append(entry["note"])
                    continue
                figure = figures[entry["figure"]]
                figure["total"] += entry["total"]
                figure["ok"] += entry["ok"]
                figure["details"].update(entry["details"])
    return figures, notes


def format_figures(figures, notes):
    d = {name: figure["details"] for name, figure in figures.items()}
    f = figures
    lines = [
        "bad inputs         {0}/{1} refused with unchanged files ({2} ansible-playbook runs; {3} refused with a "
        "message naming the problem, {4} reported as findings by an info module)".format(
            f["bad_inputs"]["ok"], f["bad_inputs"]["total"], d["bad_inputs"]["playbooks"], d["bad_inputs"]["failed"],
            d["bad_inputs"]["reported"]),
        "secrets scans      {0} with {1} hits ({2} artifacts x their secrets: {3} bytes of output, results, diffs, "
        "backups, files and Ansible temp folders; {4} secrets incl. {5} private keys as PEM lines and raw numbers; "
        "{6} playbook runs without keep-remote-files, killed modules included, left Ansible's temp folders empty)".format(
            f["secret_scans"]["total"], d["secret_scans"]["hits"], d["secret_scans"]["artifacts"],
            d["secret_scans"]["bytes"], d["secret_scans"]["secrets"], d["secret_scans"]["private_keys"],
            d["secret_scans"]["clean_temp_runs"]),
        "crash points       {0} with {1} half-written files ({2} in rotation activation; {3} files checked after "
        "SIGKILL; stray temp files left by the kill: {4}, removed by the next run: {5}; {6} runs recovered)".format(
            f["crash_points"]["total"], d["crash_points"]["half_written"], d["crash_points"]["rotation"],
            d["crash_points"]["files_checked"], d["crash_points"]["stray_temp_files"],
            d["crash_points"]["stray_temp_files_removed"], d["crash_points"]["recovered"]),
        "concurrency runs   {0}/{1} consistent ({2} rounds of 2 ansible-playbook runs at once on the same paths)".format(
            f["concurrency_runs"]["ok"], f["concurrency_runs"]["total"], d["concurrency_runs"]["rounds"]),
        "permission checks  {0}/{1} passed ({2} modes observed under umask 000 during {3} watched module runs, "
        "{4} final file modes, {5} temp files stat'ed at the instant of a crash)".format(
            f["permission_checks"]["ok"], f["permission_checks"]["total"], d["permission_checks"]["observed_modes"],
            d["permission_checks"]["watched_runs"], d["permission_checks"]["files"],
            d["permission_checks"]["temp_files_at_crash"]),
        "fuzz examples      {0} with {1} tracebacks ({2} parsing entry points)".format(
            f["fuzz_examples"]["total"], f["fuzz_examples"]["total"] - f["fuzz_examples"]["ok"],
            d["fuzz_examples"]["entry_points"]),
    ]
    return lines + ["note: " + note for note in notes]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    folder = os.environ.get(TALLY_VARIABLE)
    if not folder or not os.path.isdir(folder):
        return
    figures, notes = read_tally(folder)
    terminalreporter.section("wise.mtls safety figures")
    for line in format_figures(figures, notes):
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def ansible(tmp_path_factory, tally):
    runner = Ansible(tmp_path_factory.mktemp("ansible"))
    yield runner
    tally.add("secret_scans", 0, 0, clean_temp_runs=runner.clean_runs)


@pytest.fixture(scope="session")
def pki():
    return Pki()


@pytest.fixture(scope="module")
def signing_ca(pki, tmp_path_factory):
    folder = tmp_path_factory.mktemp("signing-ca")
    key = write_file(str(folder / "ca.key"), pki.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    certificate = write_file(str(folder / "ca.pem"), pki.pem)
    return key, certificate
