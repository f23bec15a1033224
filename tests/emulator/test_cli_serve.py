# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``serve`` command as a process: ready file, signals, loopback only; the Python API around it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from emulator_helpers import client_context, handshake

from wise_emulator import Emulator, EmulatorError, process
from wise_emulator.loopback import NotLoopbackError, loopback_address
from wise_emulator.process import python_env as _python_env


def _serve(state_dir, *args):
    ready = os.path.join(str(state_dir), "ready.json")
    argv = [sys.executable, "-m", "wise_emulator", "serve", "--state-dir", str(state_dir), "--ready-file", ready]
    proc = subprocess.Popen(argv + list(args), env=_python_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    return proc, ready


def _wait_ready(proc, ready, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(ready):
        if proc.poll() is not None:
            raise AssertionError("serve exited early: %s" % proc.stderr.read())
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("serve was not ready")
        time.sleep(0.02)
    with open(ready, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_ends_cleanly_on_signal(state_emulator, signum):
    proc, ready = _serve(state_emulator.state_dir)
    try:
        info = _wait_ready(proc, ready)
        assert info["pid"] == proc.pid
        assert set(info) >= {"base_url", "port", "ca_path", "pid"}
        handshake(info["base_url"], client_context(info["ca_path"]))  # listening, server trusted
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "stopped" in err
    assert not os.path.exists(ready)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", info["port"]), timeout=2).close()


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "172.16.0.1", "192.168.1.1", "8.8.8.8", "::", "::ffff:10.0.0.1",
                                  "example.com", ""])
def test_non_loopback_addresses_are_refused(bind):
    with pytest.raises(NotLoopbackError):
        loopback_address(bind)


@pytest.mark.parametrize("bind, address", [("127.0.0.1", "127.0.0.1"), ("127.5.6.7", "127.5.6.7"), ("::1", "::1"),
                                           ("[::1]", "::1"), ("localhost", "127.0.0.1")])
def test_loopback_addresses_are_accepted(bind, address):
    assert loopback_address(bind) == address


def test_serve_refuses_non_loopback_bind(state_emulator):
    result = state_emulator.cli("serve", "--bind", "0.0.0.0", "--port", "0", timeout=20)
    assert result.returncode == 1
    assert "only listens on loopback" in result.stderr


def test_serve_on_ipv6_loopback(state_emulator):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 is not available")
    state_emulator.start(bind="::1")
    try:
        assert state_emulator.base_url.startswith("https://[::1]:")
        assert handshake(state_emulator.base_url, client_context(state_emulator.ca_path),
                         server_hostname="localhost") == "TLSv1.3"
    finally:
        state_emulator.stop()


def test_serve_needs_an_initialised_state_dir(tmp_path):
    result = Emulator(tmp_path / "empty").cli("serve", timeout=20)
    assert result.returncode == 1
    assert "init" in result.stderr


def test_serve_stops_when_the_watched_process_is_gone(state_emulator):
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc, ready = _serve(state_emulator.state_dir, "--watch-pid", str(watched.pid))
    try:
        _wait_ready(proc, ready)
        watched.kill()
        watched.wait()
        _out, err = proc.communicate(timeout=10)
    finally:
        for child in (watched, proc):
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert proc.returncode == 0
    assert "is gone: stopping" in err


def test_stop_kills_a_server_that_ignores_sigterm(state_emulator):
    state_emulator.start()
    pid = state_emulator.process.pid
    os.kill(pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    started = time.monotonic()
    code = state_emulator.stop(timeout=0.5)
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not state_emulator.running


def test_start_reports_a_server_that_cannot_start(state_emulator):
    with pytest.raises(EmulatorError) as failed:
        state_emulator.start(bind="10.0.0.1")
    assert "loopback" in str(failed.value)
    assert state_emulator.process is None


def test_context_manager_starts_and_stops(tmp_path):
    with Emulator(tmp_path / "state") as emu:
        pid = emu.process.pid
        assert emu.running
        assert handshake(emu.base_url, client_context(emu.ca_path)) == "TLSv1.3"
    assert not emu.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(EmulatorError):
        assert emu.base_url


def test_two_servers_can_share_one_state_dir(state_emulator):
    other = Emulator(state_emulator.state_dir)
    state_emulator.start(tls_version="1.2")
    try:
        other.start(tls_version="1.3")
        try:
            assert state_emulator.port != other.port
            client = other.issue_client_certificate("shared")
            context = client_context(state_emulator.ca_path, *client.cert)
            assert handshake(state_emulator.base_url, context) == "TLSv1.2"
            assert handshake(other.base_url, context) == "TLSv1.3"
        finally:
            other.stop()
    finally:
        state_emulator.stop()


def test_fixtures_from_the_plugin(wise_emulator, wise_emulator_client, wise_emulator_session):
    assert wise_emulator.running and wise_emulator_session.running
    assert wise_emulator is not wise_emulator_session
    assert wise_emulator_client.client_id == "wise-emulator-demo"
    assert wise_emulator_client.client_secret == "wise-emulator-demo-secret"
    assert [r.name for r in wise_emulator.list()] == ["pytest-client"]
    assert oct(os.stat(wise_emulator_client.key_path).st_mode & 0o777) == "0o600"
    assert wise_emulator_session.faults() == {}


def test_cli_start_and_stop_a_detached_server(state_emulator):
    result = state_emulator.cli("start", "--tls-version", "1.2", "--status", "503", timeout=60)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    try:
        assert info["tls_version"] == "1.2"
        assert os.path.exists(os.path.join(state_emulator.state_dir, "ready.json"))
        client = state_emulator.issue_client_certificate("detached")
        assert handshake(info["base_url"], client_context(info["ca_path"], *client.cert)) == "TLSv1.2"
        assert state_emulator.faults() == {"status": 503}
        again = state_emulator.cli("start", timeout=60)  # idempotent: the same server
        assert again.returncode == 0 and json.loads(again.stdout)["pid"] == info["pid"]
        assert "already running" in again.stderr
    finally:
        result = state_emulator.cli("stop", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert not process.alive(info["pid"])  # gone (or a zombie awaiting its new parent)
    assert not os.path.exists(os.path.join(state_emulator.state_dir, "ready.json"))
    result = state_emulator.cli("stop", timeout=60)
    assert result.returncode == 0 and "not running" in result.stdout


def test_cli_stop_does_not_signal_a_process_that_is_not_the_emulator(state_emulator):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ready = os.path.join(state_emulator.state_dir, "ready.json")
        with open(ready, "w", encoding="utf-8") as handle:
            json.dump({"pid": bystander.pid}, handle)
        result = state_emulator.cli("stop", timeout=60)
        assert result.returncode == 0 and "not running" in result.stdout
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_cli_start_reports_a_server_that_cannot_start(state_emulator):
    result = state_emulator.cli("start", "--bind", "192.168.0.1", timeout=60)
    assert result.returncode == 1
    assert "loopback" in result.stderr


def test_cli_start_passes_watch_pid_on(state_emulator):
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = state_emulator.cli("start", "--watch-pid", watched.pid, timeout=60)
        assert result.returncode == 0, result.stderr
        pid = json.loads(result.stdout)["pid"]
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            assert str(watched.pid).encode() in handle.read().split(b"\0")
    finally:
        watched.kill()
        watched.wait()
    deadline = time.monotonic() + 10
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.alive(pid)
