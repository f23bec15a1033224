# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures for the Wise emulator.

Load with ``pytest_plugins = ["wise_emulator.pytest_plugin"]`` in a
``conftest.py`` (the folder holding ``wise_emulator`` must be on ``sys.path``
first). Every server runs as a subprocess and is stopped at teardown.

Fixtures:

``wise_emulator``
    A started :class:`~wise_emulator.Emulator` (defaults: TLS 1.2 and 1.3, valid
    server certificate) in a fresh temporary state directory. Function scope.
``wise_emulator_factory``
    ``factory(state_dir=None, **start_options)`` starts another emulator, for
    example ``factory(tls_version="1.2", server_cert="expired", token_ttl=2,
    faults={"status": 500})``; all are stopped at teardown. Function scope.
``wise_emulator_client``
    A :class:`~wise_emulator.ClientCertificate` (ECC P-256 key and issued
    certificate for the default demo client) from ``wise_emulator``.
``wise_emulator_session``
    One started emulator shared by the whole session; faults are cleared before
    each test that uses it. Use it for read-only checks that need speed.
"""

from __future__ import annotations

import pytest

from .api import Emulator


@pytest.fixture
def wise_emulator_factory(tmp_path_factory):
    started = []

    def factory(state_dir=None, **start_options):
        if state_dir is None:
            state_dir = tmp_path_factory.mktemp("wise-emulator") / "state"
        emulator = Emulator(state_dir)
        started.append(emulator)
        return emulator.start(**start_options)

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def wise_emulator(wise_emulator_factory):
    return wise_emulator_factory()


@pytest.fixture
def wise_emulator_client(wise_emulator):
    return wise_emulator.issue_client_certificate("pytest-client")


@pytest.fixture(scope="session")
def _wise_emulator_session_server(tmp_path_factory):
    emulator = Emulator(tmp_path_factory.mktemp("wise-emulator-session") / "state")
    emulator.start(clear_faults=True)
    yield emulator
    emulator.stop()


@pytest.fixture
def wise_emulator_session(_wise_emulator_session_server):
    _wise_emulator_session_server.clear_faults()
    yield _wise_emulator_session_server
    _wise_emulator_session_server.clear_faults()
