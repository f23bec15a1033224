# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulated Wise mTLS API: a threaded HTTPS server on loopback.

Every connection must present a client certificate issued by the emulator's
client-issuing CA; anything else fails in the TLS handshake, as with a real
mTLS gateway. Revoked certificates (and certificates a ``reject`` fault names)
are listed in a CRL that the server builds from the registry and loads into
the TLS context, so they too fail in the handshake (alert
``certificate_revoked``). The server answers HTTP/1.0 (one request per
connection), so each request goes through that handshake check.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import http.server
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import _files, pki, registry
from ._compat import isoformat, utcnow
from .loopback import NotLoopbackError, loopback_address
from .state import DEFAULT_TOKEN_TTL, MAX_DELAY_SECONDS, SERVER_CERT_CHOICES, TLS_VERSIONS, StateDir

TOKEN_PATH = "/oauth/token"
PLAYGROUND_PATH = "/v1/authenticated/playground"
HANDSHAKE_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
MAX_BODY = 64 * 1024

_FAULT_BODIES = {
    401: {"error": "invalid_token", "error_description": "Invalid access token (fault injected by the emulator)"},
    403: {"error": "forbidden", "error_description": "Access denied (fault injected by the emulator)"},
    500: {"error": "server_error", "error_description": "Internal server error (fault injected by the emulator)"},
}


class ServeError(Exception):
    """The server cannot start as asked."""


def _log(message):
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    try:
        sys.stderr.write("%s wise-emulator: %s\n" % (stamp, message))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class _Tokens:
    """Issued access tokens, in memory only, with expiry."""

    def __init__(self, ttl):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._tokens = {}

    def issue(self, client_id):
        token = str(uuid.uuid4())
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (_client, exp) in self._tokens.items() if exp <= now]:
                del self._tokens[key]
            self._tokens[token] = (client_id, now + self.ttl)
        return token

    def lookup(self, token):
        """``(client_id, expired)`` or ``(None, False)`` for an unknown token."""
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            return None, False
        client_id, expiry = entry
        return client_id, expiry <= time.monotonic()


class EmulatorApp:
    """Shared state of one running server: TLS context, tokens, faults."""

    def __init__(self, state, tls_version="both", server_cert="valid", token_ttl=DEFAULT_TOKEN_TTL):
        if tls_version not in TLS_VERSIONS:
            raise ServeError("--tls-version must be one of %s" % ", ".join(TLS_VERSIONS))
        if server_cert not in SERVER_CERT_CHOICES:
            raise ServeError("--server-cert must be one of %s" % ", ".join(SERVER_CERT_CHOICES))
        self.state = state
        self.tls_version = tls_version
        self.server_cert = server_cert
        self.tokens = _Tokens(token_ttl)
        self.stopping = threading.Event()
        self._context_lock = threading.Lock()
        self._context = None
        self._context_key = None
        self._context_built = 0.0
        self._client_ca_pem = _files.read_bytes(state.client_ca_path)
        self._client_ca = state.client_ca()

    # ------------------------------------------------------------ TLS
    def _build_context(self, refused):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        lowest = ssl.TLSVersion.TLSv1_3 if self.tls_version == "1.3" else ssl.TLSVersion.TLSv1_2
        highest = ssl.TLSVersion.TLSv1_2 if self.tls_version == "1.2" else ssl.TLSVersion.TLSv1_3
        context.minimum_version = lowest
        context.maximum_version = highest
        context.load_cert_chain(self.state.server_cert_path(self.server_cert),
                                self.state.server_key_path(self.server_cert))
        context.verify_mode = ssl.CERT_REQUIRED
        crl = pki.make_crl(self._client_ca[0], self._client_ca[1], refused)
        bundle = self._client_ca_pem + crl.public_bytes(serialization.Encoding.PEM)
        # CRLs load only from a file (cadata takes certificates only).
        fd, path = tempfile.mkstemp(prefix="wise-emulator-trust-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(bundle)
            context.load_verify_locations(cafile=path)
        finally:
            os.unlink(path)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return context

    def current_context(self):
        """The TLS context for a new connection, rebuilt when the refused set changes."""
        refused = frozenset(registry.refused_serials(self.state))
        with self._context_lock:
            stale = time.monotonic() - self._context_built > 3600
            if self._context is None or refused != self._context_key or stale:
                self._context = self._build_context(refused)
                self._context_key = refused
                self._context_built = time.monotonic()
            return self._context

    # ------------------------------------------------------------ faults
    def faults(self):
        return self.state.read_faults()

    def sleep(self, seconds):
        """Wait (bounded), but wake up at once when the server stops."""
        self.stopping.wait(min(max(float(seconds), 0.0), MAX_DELAY_SECONDS))


def _peer_identity(ssl_sock):
    der = ssl_sock.getpeercert(binary_form=True)
    if not der:
        return None, None, None
    cert = x509.load_der_x509_certificate(der)
    return cert, pki.common_name(cert), pki.fingerprint_sha256(cert)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "wise-emulator"
    sys_version = ""

    # ------------------------------------------------------------ plumbing
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Silence the default access log: :meth:`_access_log` writes one clean line."""

    def send_error(self, code, message=None, explain=None):
        # Malformed requests still get a JSON answer.
        self._send_json(code, {"error": "bad_request", "error_description": message or "Bad request"})

    def _send_json(self, status, body, headers=None):
        data = (json.dumps(body) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._status = status
        self._length = len(data)

    def _access_log(self):
        path = urllib.parse.urlsplit(self.path or "").path  # no query string: it could carry secrets
        fp = (self._fingerprint or "-")[:16]
        _log('%s "%s %s" %s %s cn=%s cert=%s %s %.3fs' % (
            self.client_address[0], self.command, path, getattr(self, "_status", "-"),
            getattr(self, "_length", "-"), self._cn or "-", fp, self.connection.version(),
            time.monotonic() - self._started))

    def _dispatch(self):
        self._started = time.monotonic()
        self._status = None
        self._cert, self._cn, self._fingerprint = _peer_identity(self.connection)
        try:
            self._route()
        finally:
            self._access_log()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    # ------------------------------------------------------------ routing
    def _route(self):
        app = self.server.app
        path = urllib.parse.urlsplit(self.path).path
        if self._cert is None:  # cannot happen with CERT_REQUIRED, kept as a guard
            return self._send_json(403, {"error": "forbidden", "error_description": "Client certificate required"})
        refused = registry.refused_serials(app.state)
        if self._cert.serial_number in refused:
            # The handshake check normally stops this certificate; this catches
            # a revocation that landed between handshake and request.
            return self._send_json(403, {"error": "forbidden",
                                         "error_description": "Client certificate revoked or rejected"})
        if path == TOKEN_PATH:
            if self.command != "POST":
                return self._send_json(405, {"error": "method_not_allowed", "error_description": "Use POST"},
                                       {"Allow": "POST"})
            return self._token(app)
        if path == PLAYGROUND_PATH:
            if self.command not in ("GET", "HEAD"):
                return self._send_json(405, {"error": "method_not_allowed", "error_description": "Use GET"},
                                       {"Allow": "GET"})
            return self._playground(app)
        return self._send_json(404, {"error": "not_found", "error_description": "No such endpoint: %s" % path})

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        return self.rfile.read(min(length, MAX_BODY))

    def _fault(self, faults, status_key, delay_key, app):
        delay = faults.get(delay_key)
        if delay:
            app.sleep(delay)
        status = faults.get(status_key)
        if status:
            body = _FAULT_BODIES.get(int(status), {"error": "fault", "error_description": "Fault injected by the emulator"})
            self._send_json(int(status), body, {"X-Wise-Emulator-Fault": "%s=%s" % (status_key, status)})
            return True
        return False

    def _basic_credentials(self):
        header = self.headers.get("Authorization") or ""
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            return None, None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None, None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return None, None
        return client_id, secret

    def _token(self, app):
        body = self._read_body()
        if self._fault(app.faults(), "token_status", "token_delay", app):
            return None
        client_id, secret = self._basic_credentials()
        if client_id is None or not app.state.check_client_secret(client_id, secret):
            return self._send_json(401, {"error": "invalid_client", "error_description": "Client authentication failed"},
                                   {"WWW-Authenticate": 'Basic realm="oauth2/client"'})
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = (form.get("grant_type") or [""])[0]
        if not grant:
            return self._send_json(400, {"error": "invalid_request", "error_description": "Missing grant type"})
        if grant != "client_credentials":
            return self._send_json(400, {"error": "unsupported_grant_type",
                                         "error_description": "Unsupported grant type: %s" % grant[:64]})
        token = app.tokens.issue(client_id)
        return self._send_json(200, {"access_token": token, "token_type": "bearer",
                                     "expires_in": int(app.tokens.ttl), "scope": "transfers"},
                               {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _playground(self, app):
        if self._fault(app.faults(), "status", "delay", app):
            return None
        header = self.headers.get("Authorization") or ""
        scheme, _sep, token = header.partition(" ")
        token = token.strip()
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if scheme.lower() != "bearer" or not token:
            return self._send_json(401, {"error": "invalid_token", "error_description": "Missing bearer access token"},
                                   {"WWW-Authenticate": "Bearer"})
        client_id, expired = app.tokens.lookup(token)
        if client_id is None:
            return self._send_json(401, {"error": "invalid_token", "error_description": "Invalid access token"},
                                   challenge)
        if expired:
            return self._send_json(401, {"error": "invalid_token", "error_description": "Access token expired"},
                                   challenge)
        if client_id != self._cn:
            return self._send_json(403, {
                "error": "forbidden",
                "error_description": "Access token belongs to client %s but the client certificate is for %s"
                                     % (client_id, self._cn)})
        record = next((r for r in app.state.read_registry()
                       if r.get("fingerprint_sha256") == self._fingerprint), None)
        return self._send_json(200, {
            "message": "Hello from the Wise emulator playground: mutual TLS works",
            "client_id": self._cn,
            "certificate_name": record.get("name") if record else None,
            "certificate_fingerprint_sha256": self._fingerprint,
            "certificate_serial": pki.serial_hex(self._cert),
            "tls_version": self.connection.version(),
            "time": isoformat(utcnow()),
        })


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, app, family):
        self.address_family = family
        self.app = app
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address):
        """Do the TLS handshake in the worker thread, then serve one request."""
        conn = request
        try:
            context = self.app.current_context()
            request.settimeout(HANDSHAKE_TIMEOUT)
            conn = context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            try:
                conn.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                _log("%s TLS handshake refused: %s" % (client_address[0], _describe_tls_error(exc)))
                _linger(conn)
                return
            conn.settimeout(REQUEST_TIMEOUT)
            self.finish_request(conn, client_address)
            _close_notify(conn)
        except Exception as exc:  # pylint: disable=broad-except
            _log("%s connection error: %s: %s" % (client_address[0], type(exc).__name__, exc))
        finally:
            self.shutdown_request(conn)

    def handle_error(self, request, client_address):
        _log("%s unexpected error" % (client_address[0],))


def _describe_tls_error(exc):
    reason = getattr(exc, "reason", None)
    verify = getattr(exc, "verify_message", None)
    if verify:
        return "%s (%s)" % (reason or exc, verify)
    return str(reason or exc)


def _linger(conn):
    """After a refused handshake, let the alert reach the client before closing.

    Closing with unread client data in the buffer makes the kernel send a
    reset, which can overtake the TLS alert; so stop writing, then read what
    the client still sends for a moment.
    """
    try:
        socket.socket.shutdown(conn, socket.SHUT_WR)
        socket.socket.settimeout(conn, 1.0)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if not socket.socket.recv(conn, 65536):
                break
    except OSError:
        pass


def _close_notify(conn):
    try:
        conn.settimeout(0.5)
        conn.unwrap()
    except (OSError, ValueError, ssl.SSLError):
        pass


def write_ready_file(path, info):
    _files.write_file_atomic(path, json.dumps(info, indent=2, sort_keys=True) + "\n", mode=0o644)


def serve(state_dir, port=0, bind="127.0.0.1", tls_version="both", server_cert="valid", ready_file=None,
          token_ttl=DEFAULT_TOKEN_TTL, watch_pid=None, faults=None, clear_faults=False):
    """Run the server until SIGTERM/SIGINT (or until ``watch_pid`` is gone). Returns the exit code."""
    state = StateDir(state_dir)
    state.require_initialized()
    try:
        address = loopback_address(bind)
    except NotLoopbackError as exc:
        raise ServeError(str(exc)) from None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if clear_faults:
        state.clear_faults()
    if faults:
        state.set_faults(**faults)
    app = EmulatorApp(state, tls_version=tls_version, server_cert=server_cert, token_ttl=token_ttl)
    app.current_context()  # fail early on a broken state dir
    server = _Server((address, port), app, family)
    port = server.server_address[1]
    host = "[%s]" % address if family == socket.AF_INET6 else address
    info = {
        "base_url": "https://%s:%d" % (host, port),
        "port": port,
        "bind": address,
        "ca_path": state.ca_path,
        "client_ca_path": state.client_ca_path,
        "state_dir": state.path,
        "pid": os.getpid(),
        "tls_version": tls_version,
        "server_cert": server_cert,
    }
    stop = threading.Event()

    def _on_signal(signum, _frame):
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="wise-emulator", daemon=True)
    thread.start()
    _log("listening on %s (TLS %s, server certificate %s, pid %d)" % (
        info["base_url"], tls_version, server_cert, os.getpid()))
    if ready_file:
        write_ready_file(ready_file, info)
    try:
        while not stop.wait(0.2):
            if watch_pid and not _alive(watch_pid):
                _log("process %d is gone: stopping" % watch_pid)
                break
    finally:
        app.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        if ready_file:
            try:
                os.unlink(ready_file)
            except OSError:
                pass
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _log("stopped")
    return 0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
