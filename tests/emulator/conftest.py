# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the Wise emulator: make ``emulator/`` importable however pytest is run."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "emulator"))
# The emulator package, and emulator_helpers beside this file (pytest may run in importlib mode).
for folder in (HERE, EMULATOR_DIR):
    if folder not in sys.path:
        sys.path.insert(0, folder)

# pylint: disable=wrong-import-position
import pytest  # noqa: E402

from wise_emulator import Emulator  # noqa: E402

pytest_plugins = ["wise_emulator.pytest_plugin"]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """One started emulator per test module; faults are cleared around each test (see ``emu``)."""
    emu = Emulator(tmp_path_factory.mktemp("emu") / "state")
    emu.start(clear_faults=True)
    yield emu
    emu.stop()


@pytest.fixture
def emu(emulator):
    emulator.clear_faults()
    yield emulator
    emulator.clear_faults()


@pytest.fixture(scope="module")
def client(emulator):
    """A key and issued certificate for the default demo client of the module's emulator."""
    return emulator.issue_client_certificate("module-client")


@pytest.fixture
def state_emulator(tmp_path):
    """An initialised emulator state directory with no server running."""
    emu = Emulator(tmp_path / "state")
    emu.init()
    return emu
