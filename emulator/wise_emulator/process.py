# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, wait for and stop ``serve`` processes (standard library only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ProcessError(Exception):
    """A server process did not start or stop as asked."""


def python_env():
    """The environment for a child ``python -m wise_emulator``: this package on PYTHONPATH."""
    env = os.environ.copy()
    parts = [PACKAGE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != PACKAGE_PARENT]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def read_ready_file(path):
    """The JSON a server wrote once listening, or None (missing or being written)."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def log_tail(path, lines=40):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def alive(pid):
    """True when ``pid`` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[-1].split()
        return not fields or fields[0] != b"Z"
    except OSError:
        return True


def is_emulator(pid):
    """True when ``pid`` is a running ``wise_emulator serve`` (guards against a reused PID)."""
    if not isinstance(pid, int) or pid <= 0 or not alive(pid):
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return True  # no /proc: trust the ready file
    return b"wise_emulator" in argv and b"serve" in argv


def wait_ready(process, ready_file, log_file, timeout):
    """Wait until ``process`` wrote ``ready_file``; return its JSON, or raise ProcessError."""
    deadline = time.monotonic() + timeout
    while True:
        info = read_ready_file(ready_file)
        if info is not None and info.get("pid") == process.pid:
            return info
        code = process.poll()
        if code is not None:
            raise ProcessError("the emulator exited with status %s before it was ready:\n%s"
                               % (code, log_tail(log_file)))
        if time.monotonic() > deadline:
            stop_child(process, 5)
            raise ProcessError("the emulator was not ready within %.0f s:\n%s" % (timeout, log_tail(log_file)))
        time.sleep(0.02)


def stop_child(process, timeout):
    """SIGTERM a child, SIGKILL it after ``timeout``; return its exit status."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def start_detached(argv, ready_file, log_file, timeout=30.0):
    """Run ``argv`` (a ``serve`` command) in its own session, outliving this process."""
    try:
        os.unlink(ready_file)
    except OSError:
        pass
    with open(log_file, "ab") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=python_env(), close_fds=True,
            start_new_session=True)
    info = wait_ready(process, ready_file, log_file, timeout)
    process.returncode = 0  # not ours to wait for any more; keeps Popen from warning at exit
    return info


def stop_pid(pid, timeout=10.0):
    """Stop a detached server by PID: ``stopped``, ``killed`` or ``not running``."""
    if not is_emulator(pid):
        return "not running"
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "not running"
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return "stopped"
            deadline = time.monotonic() + 5
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            return "killed"
        time.sleep(0.02)
    return "stopped"
