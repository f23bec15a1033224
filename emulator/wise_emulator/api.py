# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Python API: drive an emulator state directory and its server subprocess."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import uuid

from . import _files, hub, pki, process, registry
from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StateDir


class EmulatorError(Exception):
    """The emulator server could not be started or stopped as asked."""


class ClientCertificate:
    """A key and certificate issued by the emulator, ready for a client to use."""

    def __init__(self, name, client_id, client_secret, key_path, cert_path, record):
        self.name = name
        self.client_id = client_id
        self.client_secret = client_secret
        self.key_path = key_path
        self.cert_path = cert_path
        self.record = record

    @property
    def cert(self):
        """``(cert_path, key_path)``, the shape ``requests`` takes for ``cert=``."""
        return (self.cert_path, self.key_path)

    @property
    def fingerprint_sha256(self):
        return self.record.fingerprint_sha256

    def __repr__(self):
        return "ClientCertificate(name=%r, client_id=%r, cert_path=%r)" % (self.name, self.client_id, self.cert_path)


class Emulator:
    """One emulator state directory, and optionally its running server.

    ``start()`` runs ``python -m wise_emulator serve`` as a subprocess and
    waits for its ready file; ``stop()`` ends it (SIGTERM, then SIGKILL).
    Used as a context manager, it initialises, starts and stops::

        with Emulator(tmp_dir) as emu:
            requests.get(emu.base_url + "/v1/authenticated/playground", ...)
    """

    def __init__(self, state_dir):
        self.state = StateDir(state_dir)
        self.process = None
        self.info = None
        self._log = None
        self._ready_file = None
        self._secrets = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}

    # ------------------------------------------------------------ paths
    @property
    def state_dir(self):
        return self.state.path

    @property
    def ca_path(self):
        """Wise server CA: what clients trust (``--cacert``)."""
        return self.state.ca_path

    @property
    def client_ca_path(self):
        """CA that signed the client certificates."""
        return self.state.client_ca_path

    @property
    def log_path(self):
        return self.state.log_path

    @property
    def base_url(self):
        self._require_running()
        return self.info["base_url"]

    @property
    def port(self):
        self._require_running()
        return self.info["port"]

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def _require_running(self):
        if self.info is None:
            raise EmulatorError("the emulator server is not running: call start() first")

    # ------------------------------------------------------------ state and Developer Hub
    def init(self, client_id=None, client_secret=None):
        """Create the state directory (idempotent); optionally register an API client."""
        created = self.state.init(client_id=client_id, client_secret=client_secret)
        if client_id is not None:
            self._secrets[client_id] = client_secret
        return created

    def add_client(self, client_id, client_secret):
        return self.init(client_id=client_id, client_secret=client_secret)

    def sign(self, csr, name, client_id=DEFAULT_CLIENT_ID, days=None, validity_seconds=None, backdate_seconds=0,
             out=None):
        """Issue a certificate for ``csr`` (PEM bytes/str or a CSR object) like Developer Hub.

        Returns the :class:`~wise_emulator.registry.CertificateRecord` (``.pem`` holds
        the certificate). Raises :class:`~wise_emulator.hub.CsrRefused` (with
        ``.codes``) or :class:`~wise_emulator.registry.HubError`.
        """
        if hasattr(csr, "public_bytes"):
            csr = pki.csr_to_pem(csr)
        record, _warnings = hub.sign(self.state, csr, name, client_id, days=days,
                                     validity_seconds=validity_seconds, backdate_seconds=backdate_seconds)
        if out is not None:
            _files.write_file_atomic(out, record.pem, mode=0o644)
        return record

    def revoke(self, name=None, fingerprint=None):
        record, _already = registry.revoke(self.state, name=name, fingerprint=fingerprint)
        return record

    def list(self):
        return registry.list_certificates(self.state)

    def issue_client_certificate(self, name, client_id=DEFAULT_CLIENT_ID, key_type="ec256",
                                 organization="Wise emulator test", country="EU", out_dir=None, **sign_options):
        """Make a key and CSR, have them signed, write ``<name>.key``/``<name>.pem``.

        A convenience for tests: the collection's own modules make keys and
        CSRs in real runs. Files go to ``out_dir`` (default
        ``<state_dir>/issued``); the key is 0600.
        """
        out_dir = out_dir or os.path.join(self.state_dir, "issued")
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
        key = pki.generate_key(key_type)
        csr = pki.make_csr(key, organization=organization, country=country)
        record = self.sign(csr, name, client_id=client_id, **sign_options)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        key_path = os.path.join(out_dir, safe + ".key")
        cert_path = os.path.join(out_dir, safe + ".pem")
        _files.write_file_atomic(key_path, pki.key_to_pem(key), mode=0o600)
        _files.write_file_atomic(cert_path, record.pem, mode=0o644)
        return ClientCertificate(name, client_id, self._secrets.get(client_id), key_path, cert_path, record)

    # ------------------------------------------------------------ faults
    def set_faults(self, status=None, token_status=None, delay=None, token_delay=None, reject=None):
        """Merge faults into ``faults.json`` (read by the server on every request).

        ``reject`` (a name or fingerprint, or a list of them) adds to what is rejected.
        """
        changes = dict((k, v) for k, v in (("status", status), ("token_status", token_status), ("delay", delay),
                                           ("token_delay", token_delay), ("reject", reject)) if v is not None)
        return self.state.set_faults(**changes)

    def clear_faults(self, *names):
        return self.state.clear_faults(*names)

    def faults(self):
        return self.state.read_faults()

    # ------------------------------------------------------------ CLI
    def cli(self, *args, check=False, timeout=60, input=None):  # pylint: disable=redefined-builtin
        """Run ``python -m wise_emulator <args> --state-dir <dir>``; return the CompletedProcess."""
        argv = [sys.executable, "-m", "wise_emulator"] + [str(a) for a in args]
        if "--state-dir" not in argv:
            argv += ["--state-dir", self.state_dir]
        return subprocess.run(argv, env=process.python_env(), capture_output=True, text=True, check=check,
                              timeout=timeout, input=input)

    # ------------------------------------------------------------ server
    def start(self, tls_version="both", server_cert="valid", port=0, bind="127.0.0.1", token_ttl=None,
              faults=None, clear_faults=False, timeout=30.0):
        """Start ``serve`` as a subprocess; return self once it listens.

        ``faults`` is a dict like ``{"status": 500, "delay": 2}`` applied at start.
        """
        if self.running:
            raise EmulatorError("already running (pid %d)" % self.process.pid)
        self.init()
        self._ready_file = os.path.join(self.state_dir, "ready-%s.json" % uuid.uuid4().hex)
        argv = [sys.executable, "-m", "wise_emulator", "serve", "--state-dir", self.state_dir,
                "--port", str(port), "--bind", bind, "--tls-version", tls_version, "--server-cert", server_cert,
                "--ready-file", self._ready_file, "--watch-pid", str(os.getpid())]
        if token_ttl is not None:
            argv += ["--token-ttl", str(int(token_ttl))]
        if clear_faults:
            argv.append("--clear-faults")
        for key, value in (faults or {}).items():
            option = "--" + key.replace("_", "-")
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                argv += [option, str(item)]
        self._log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=process.python_env(),
            close_fds=True)
        _RUNNING.add(self)
        try:
            self.info = process.wait_ready(self.process, self._ready_file, self.log_path, timeout)
        except process.ProcessError as exc:
            self.stop()
            raise EmulatorError(str(exc)) from None
        return self

    def stop(self, timeout=10.0):
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); return its exit status or None."""
        if self.process is None:
            return None
        code = process.stop_child(self.process, timeout)
        self._cleanup_process()
        return code

    def _cleanup_process(self):
        self.process = None
        self.info = None
        _RUNNING.discard(self)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._ready_file:
            try:
                os.unlink(self._ready_file)
            except OSError:
                pass
            self._ready_file = None

    def log_tail(self, lines=40):
        return process.log_tail(self.log_path, lines)

    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        where = self.info["base_url"] if self.info else "not running"
        return "Emulator(%r, %s)" % (self.state_dir, where)


_RUNNING = set()


@atexit.register
def _stop_all():
    for emulator in list(_RUNNING):
        try:
            emulator.stop(timeout=5)
        except Exception:  # pylint: disable=broad-except
            pass
