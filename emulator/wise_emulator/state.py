# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's state directory: CAs, server certificates, API clients,
the registry of issued certificates and the runtime faults.

Layout (all created by :meth:`StateDir.init`)::

    wise-ca.pem                 Wise server CA: what clients trust ("Get Wise Certificate")
    client-ca.pem               Wise client-issuing CA: signs client certificates
    server/valid.pem            server certificate for loopback and the Wise mTLS host names
    server/expired.pem          expired, signed by the Wise server CA
    server/unknown-ca.pem       right names, signed by an unrelated CA
    server/wrong-host.pem       signed by the Wise server CA, for another host name only
    server/unknown-ca-root.pem  the unrelated CA
    private/*.key               private keys (folder 0700, keys 0600 from their first byte)
    clients.json                registered API clients (salted secret hashes, 0600)
    certificates.json           registry of issued certificates
    faults.json                 misbehaviour switched on at runtime (optional)
    state.lock                  lock file guarding the JSON files
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import hmac
import json
import os
import secrets

from . import _files
from ._compat import isoformat, utcnow

DEFAULT_CLIENT_ID = "wise-emulator-demo"
DEFAULT_CLIENT_SECRET = "wise-emulator-demo-secret"

SERVER_CERT_CHOICES = ("valid", "expired", "unknown-ca", "wrong-host")
TLS_VERSIONS = ("1.2", "1.3", "both")
DEFAULT_TOKEN_TTL = 43199  # what Wise answers: about 12 hours

MAX_DELAY_SECONDS = 60.0
FAULT_KEYS = ("status", "token_status", "delay", "token_delay", "reject")

_PBKDF2_ROUNDS = 20000


class StateError(Exception):
    """The state directory is missing, incomplete or was asked something impossible."""


class StateDir:
    """Paths and locked, atomic access to one emulator state directory."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))

    # ------------------------------------------------------------ paths
    def _p(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def ca_path(self):
        return self._p("wise-ca.pem")

    @property
    def client_ca_path(self):
        return self._p("client-ca.pem")

    @property
    def private_dir(self):
        return self._p("private")

    @property
    def server_dir(self):
        return self._p("server")

    def key_path(self, name):
        return self._p("private", name + ".key")

    def server_cert_path(self, variant):
        if variant not in SERVER_CERT_CHOICES:
            raise StateError("unknown server certificate %r (choose from %s)" % (variant, ", ".join(SERVER_CERT_CHOICES)))
        return self._p("server", variant + ".pem")

    def server_key_path(self, variant):
        self.server_cert_path(variant)
        return self.key_path("server-" + variant)

    @property
    def unknown_ca_path(self):
        return self._p("server", "unknown-ca-root.pem")

    @property
    def clients_path(self):
        return self._p("clients.json")

    @property
    def registry_path(self):
        return self._p("certificates.json")

    @property
    def faults_path(self):
        return self._p("faults.json")

    @property
    def lock_path(self):
        return self._p("state.lock")

    @property
    def log_path(self):
        return self._p("server.log")

    # ------------------------------------------------------------ locking
    @contextlib.contextmanager
    def locked(self, exclusive=True):
        """Hold the state lock (``flock``) so CLI and server never interleave."""
        if not os.path.isdir(self.path):
            raise StateError("state directory %s does not exist: run 'init' first" % self.path)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------ init
    def is_initialized(self):
        needed = [self.ca_path, self.client_ca_path, self.clients_path, self.registry_path]
        needed += [self.server_cert_path(v) for v in SERVER_CERT_CHOICES]
        return all(os.path.exists(p) for p in needed)

    def require_initialized(self):
        if not self.is_initialized():
            raise StateError("state directory %s is not initialised: run 'init' first" % self.path)

    def init(self, client_id=None, client_secret=None):
        """Create whatever is missing; never replace what exists (idempotent).

        Returns a list of human-readable lines saying what was created.
        """
        # cryptography is imported only by the commands that need it, so the others start fast.
        created = []
        if not os.path.isdir(self.path):
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            created.append("state directory")
        with self.locked():
            for folder, mode in ((self.private_dir, 0o700), (self.server_dir, 0o755)):
                if not os.path.isdir(folder):
                    os.mkdir(folder, mode)
            server_ca, server_ca_key = self._ensure_ca(self.ca_path, "server-ca", "Wise emulator server CA", created)
            self._ensure_ca(self.client_ca_path, "client-ca", "Wise emulator client-issuing CA", created)
            unknown_ca, unknown_ca_key = self._ensure_ca(
                self.unknown_ca_path, "unknown-ca-root", "Unknown CA (not Wise)", created)
            self._ensure_server_certs(server_ca, server_ca_key, unknown_ca, unknown_ca_key, created)
            if not os.path.exists(self.clients_path):
                self._write_json(self.clients_path, {"clients": {}}, mode=0o600)
            clients = self._read_json(self.clients_path)["clients"]
            wanted = [(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)] if DEFAULT_CLIENT_ID not in clients else []
            if client_id is not None:
                if not client_secret:
                    raise StateError("a client secret is needed with --client-id")
                wanted.append((client_id, client_secret))
            changed = False
            for cid, secret in wanted:
                _check_client_id(cid)
                entry = clients.get(cid)
                if entry is not None and _secret_matches(entry, secret):
                    continue
                clients[cid] = _hash_secret(secret)
                clients[cid]["added"] = isoformat(utcnow())
                created.append("API client %s" % cid if entry is None else "new secret for API client %s" % cid)
                changed = True
            if changed:
                self._write_json(self.clients_path, {"clients": clients}, mode=0o600)
            if not os.path.exists(self.registry_path):
                self._write_json(self.registry_path, {"version": 1, "certificates": []})
        return created

    def _ensure_ca(self, cert_path, key_name, common, created):
        from . import pki  # pylint: disable=import-outside-toplevel
        key_path = self.key_path(key_name)
        if os.path.exists(cert_path) and os.path.exists(key_path):
            return pki.load_cert(cert_path), pki.load_key(key_path)
        cert, key = pki.make_ca(common)
        _files.write_file_atomic(key_path, pki.key_to_pem(key), mode=0o600)
        _files.write_file_atomic(cert_path, pki.cert_to_pem(cert), mode=0o644)
        created.append(common)
        return cert, key

    def _ensure_server_certs(self, server_ca, server_ca_key, unknown_ca, unknown_ca_key, created):
        from . import pki  # pylint: disable=import-outside-toplevel
        now = utcnow()
        for variant in SERVER_CERT_CHOICES:
            cert_path = self.server_cert_path(variant)
            key_path = self.server_key_path(variant)
            if os.path.exists(cert_path) and os.path.exists(key_path):
                cert = pki.load_cert(cert_path)
                # A long-lived state dir keeps working: renew a "valid" server
                # certificate that gets close to its end, and any certificate
                # that an old CA no longer matches.
                issuer = unknown_ca if variant == "unknown-ca" else server_ca
                stale = cert.issuer != issuer.subject
                if variant != "expired":
                    stale = stale or pki.expires_within(cert, datetime.timedelta(days=30))
                if not stale:
                    continue
            if variant == "valid":
                cert, key = pki.make_server_cert(server_ca, server_ca_key)
            elif variant == "expired":
                cert, key = pki.make_server_cert(
                    server_ca, server_ca_key,
                    not_before=now - datetime.timedelta(days=400),
                    not_after=now - datetime.timedelta(days=2))
            elif variant == "unknown-ca":
                cert, key = pki.make_server_cert(unknown_ca, unknown_ca_key)
            else:
                cert, key = pki.make_server_cert(
                    server_ca, server_ca_key, dns_names=(pki.WRONG_HOST_NAME,), ip_addresses=())
            _files.write_file_atomic(key_path, pki.key_to_pem(key), mode=0o600)
            _files.write_file_atomic(cert_path, pki.cert_to_pem(cert), mode=0o644)
            created.append("server certificate (%s)" % variant)

    # ------------------------------------------------------------ CA material
    def client_ca(self):
        from . import pki  # pylint: disable=import-outside-toplevel
        return pki.load_cert(self.client_ca_path), pki.load_key(self.key_path("client-ca"))

    # ------------------------------------------------------------ JSON files
    @staticmethod
    def _read_json(path, default=None):
        try:
            with open(path, "r", encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            if default is not None:
                return default
            raise
        except ValueError as exc:
            raise StateError("%s is not valid JSON (%s): fix or remove it" % (path, exc)) from None

    @staticmethod
    def _write_json(path, data, mode=0o644):
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        _files.write_file_atomic(path, text, mode=mode)

    # clients
    def clients(self):
        with self.locked(exclusive=False):
            return self._read_json(self.clients_path, {"clients": {}})["clients"]

    def client_exists(self, client_id):
        return client_id in self.clients()

    def check_client_secret(self, client_id, secret):
        entry = self.clients().get(client_id)
        if entry is None:
            # Spend the same time as a real check, so ids cannot be probed by timing.
            _secret_matches(_hash_secret("x"), secret)
            return False
        return _secret_matches(entry, secret)

    # registry
    def read_registry(self):
        """Certificate records (list of dicts), read under a shared lock."""
        with self.locked(exclusive=False):
            return self._read_json(self.registry_path, {"certificates": []})["certificates"]

    @contextlib.contextmanager
    def edit_registry(self):
        """Yield the record list under the exclusive lock; write it back atomically."""
        with self.locked():
            records = self._read_json(self.registry_path, {"certificates": []})["certificates"]
            yield records
            self._write_json(self.registry_path, {"version": 1, "certificates": records})

    # faults
    def read_faults(self):
        """Current faults (dict). A broken file counts as no faults."""
        try:
            with open(self.faults_path, "r", encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def set_faults(self, replace=False, **changes):
        """Merge ``changes`` into faults.json and return the result.

        A value of None removes that fault; ``reject`` adds to the names and
        fingerprints already rejected (clear it to start over).
        """
        for key in changes:
            if key not in FAULT_KEYS:
                raise StateError("unknown fault %r (known: %s)" % (key, ", ".join(FAULT_KEYS)))
        with self.locked():
            faults = {} if replace else self.read_faults()
            for key, value in changes.items():
                if value is None or value == []:
                    faults.pop(key, None)
                elif key == "reject":
                    faults[key] = validate_fault(key, list(faults.get(key) or []) + list(validate_fault(key, value)))
                else:
                    faults[key] = validate_fault(key, value)
            self._write_json(self.faults_path, faults)
            return faults

    def clear_faults(self, *keys):
        """Remove the named faults, or all of them when none is named."""
        if not keys:
            return self.set_faults(replace=True)
        return self.set_faults(**dict((key, None) for key in keys))


def validate_fault(key, value):
    if key in ("status", "token_status"):
        status = int(value)
        if not 400 <= status <= 599:
            raise StateError("%s must be an HTTP error status (400-599), not %r" % (key, value))
        return status
    if key in ("delay", "token_delay"):
        delay = float(value)
        if not 0 <= delay <= MAX_DELAY_SECONDS:
            raise StateError("%s must be between 0 and %d seconds, not %r" % (key, MAX_DELAY_SECONDS, value))
        return delay
    if key == "reject":
        if isinstance(value, str):
            value = [value]
        return sorted(set(str(item).strip() for item in value if str(item).strip()))
    raise StateError("unknown fault %r" % (key,))


def _check_client_id(client_id):
    if not client_id or len(client_id) > 128 or any(ch.isspace() or ord(ch) < 32 for ch in client_id) \
            or ":" in client_id:
        raise StateError("invalid client id %r (1-128 characters, no spaces, no colon)" % (client_id,))


def _hash_secret(secret):
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, _PBKDF2_ROUNDS)
    return {"salt": salt.hex(), "pbkdf2_sha256": digest.hex(), "rounds": _PBKDF2_ROUNDS}


def _secret_matches(entry, secret):
    digest = hashlib.pbkdf2_hmac(
        "sha256", secret.encode("utf-8"), bytes.fromhex(entry["salt"]), int(entry.get("rounds", _PBKDF2_ROUNDS)))
    return hmac.compare_digest(digest.hex(), entry["pbkdf2_sha256"])
