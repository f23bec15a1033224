# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real TLS peers on loopback for the tests of the verify module and its TLS/HTTP layer.

- ``Pki``: a throw-away CA hierarchy made with cryptography (3.4.8 and newer) - server and client
  certificates, expired ones, certificates from another CA, encrypted keys.
- ``OpensslServer``: ``openssl s_server -Verify 1 -verify_return_error -www``, an mTLS peer that
  shares no code with the collection or the emulator.
- ``MiniWise``: a tiny Python ``http.server`` + ``ssl`` mTLS server with scripted answers (status,
  headers, body), which records what it was sent.
- ``SilentServer``: a socket that accepts and never speaks (timeouts), counting connections (so a
  test proves that nothing was sent).
- ``closed_port()``: a loopback port nobody listens on.
- ``run_in_private_network()``: run a command in a new network namespace, where no packet can leave.
- ``start_emulator()``: the bundled Wise emulator.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "emulator"))
if EMULATOR_DIR not in sys.path:
    sys.path.insert(0, EMULATOR_DIR)


def utcnow_naive():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def write(path, data, mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return str(path)


def read(path):
    with open(str(path), "rb") as handle:
        return handle.read()


# ---------------------------------------------------------------- certificates

class Pki(object):
    """CAs, server and client certificates written as PEM files into one folder."""

    def __init__(self, folder):
        self.folder = str(folder)
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder, 0o700)
        self.server_ca = self._ca("Test server CA")
        self.client_ca = self._ca("Test client CA")
        self.other_ca = self._ca("Some other CA")

    def path(self, name):
        return os.path.join(self.folder, name)

    def _ca(self, common_name):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = utcnow_naive()
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        slug = common_name.lower().replace(" ", "-")
        write(self.path(slug + ".pem"), certificate.public_bytes(serialization.Encoding.PEM))
        return dict(key=key, certificate=certificate, path=self.path(slug + ".pem"))

    def _issue(self, ca, subject, public_key, usage, names=(), not_before=None, not_after=None):
        now = utcnow_naive()
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca["certificate"].subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(hours=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            alternatives = []
            for name in names:
                try:
                    alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
                except ValueError:
                    alternatives.append(x509.DNSName(name))
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        return builder.sign(ca["key"], hashes.SHA256())

    def server(self, name, names=("localhost", "127.0.0.1"), ca=None, not_before=None, not_after=None):
        """(cert_path, key_path) of a server certificate for names."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._issue(ca or self.server_ca, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]),
                                  key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH, names, not_before, not_after)
        return self._write_pair(name, certificate, key)

    def client(self, name, ca=None, not_before=None, not_after=None, key=None, passphrase=None):
        """(cert_path, key_path) of a client certificate (key encrypted when passphrase is given)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test payments"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = self._issue(ca or self.client_ca, subject, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH,
                                  not_before=not_before, not_after=not_after)
        return self._write_pair(name, certificate, key, passphrase)

    def key(self, name, passphrase=None):
        key = ec.generate_private_key(ec.SECP256R1())
        return write(self.path(name + ".key"), key_pem(key, passphrase), 0o600)

    def _write_pair(self, name, certificate, key, passphrase=None):
        cert_path = write(self.path(name + ".pem"), certificate.public_bytes(serialization.Encoding.PEM))
        key_path = write(self.path(name + ".key"), key_pem(key, passphrase), 0o600)
        return cert_path, key_path


def key_pem(key, passphrase=None):
    encryption = serialization.NoEncryption()
    if passphrase:
        encryption = serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


# ---------------------------------------------------------------- servers

class OpensslServer(object):
    """openssl s_server requiring a client certificate (-Verify 1 -verify_return_error), answering -www."""

    def __init__(self, folder, cert_path, key_path, client_ca_path, tls_version=None):
        self.log_path = os.path.join(str(folder), "s_server-{0}.log".format(time.monotonic_ns()))
        argv = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert_path, "-key", key_path,
                "-CAfile", client_ca_path, "-Verify", "1", "-verify_return_error", "-www"]
        if tls_version == "1.2":
            argv.append("-tls1_2")
        elif tls_version == "1.3":
            argv.append("-tls1_3")
        self._log = open(self.log_path, "wb")  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,  # pylint: disable=consider-using-with
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            match = re.search(rb"ACCEPT [^\n]*:(\d+)", read(self.log_path))
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("openssl s_server did not start: {0}".format(read(self.log_path)))
            time.sleep(0.02)
        self.base_url = "https://127.0.0.1:{0}".format(self.port)

    def log(self):
        return read(self.log_path).decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class MiniWise(object):
    """A Python HTTPS server that requires a client certificate and answers as scripted.

    ``answers`` maps a path to ``(status, headers, body)`` (body: dict for JSON, str or bytes)
    or to a callable ``(request) -> (status, headers, body)``. Every request is recorded in
    ``requests`` as a dict of method, path, headers and body.
    """

    def __init__(self, cert_path, key_path, client_ca_path, answers=None, tls_version=None):
        self.answers = dict(answers or {})
        self.requests = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        context.load_verify_locations(cafile=client_ca_path)
        context.verify_mode = ssl.CERT_REQUIRED
        if tls_version == "1.2":
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = dict(method=self.command, path=self.path, headers=dict(self.headers.items()), body=body)
                owner.requests.append(request)
                answer = owner.answers.get(self.path.split("?")[0], (404, {}, {"error": "not_found"}))
                if callable(answer):
                    answer = answer(request)
                status, headers, payload = answer
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode("utf-8")
                    headers = dict({"Content-Type": "application/json"}, **headers)
                elif isinstance(payload, str):
                    data = payload.encode("utf-8")
                    headers = dict({"Content-Type": "text/plain; charset=utf-8"}, **headers)
                else:
                    data = payload or b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and status not in (204, 304):
                    self.wfile.write(data)

            do_GET = do_POST = _answer

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, address = super(Server, self).get_request()
                return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

            def finish_request(self, request, client_address):
                try:
                    request.settimeout(10)
                    request.do_handshake()
                except (ssl.SSLError, OSError):
                    return
                super(Server, self).finish_request(request, client_address)

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = "https://127.0.0.1:{0}".format(self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1), daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class HangUpServer(object):
    """Completes one TLS handshake (client certificate optional), then closes without a word.

    A gateway that rejects the client certificate after a TLS 1.3 handshake looks like this.
    """

    def __init__(self, cert_path, key_path, client_ca_path, tls_version):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.context.load_verify_locations(cafile=client_ca_path)
        self.context.verify_mode = ssl.CERT_OPTIONAL
        version = ssl.TLSVersion.TLSv1_2 if tls_version == "1.2" else ssl.TLSVersion.TLSv1_3
        self.context.minimum_version = self.context.maximum_version = version
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.base_url = "https://127.0.0.1:{0}".format(self.port)
        self.handshakes = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _address = self.sock.accept()
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes.append(tls.version())
                time.sleep(0.2)  # the client's request arrives unread: closing now resets the connection
        except OSError:
            return

    def stop(self):
        self.thread.join(10)
        self.sock.close()


class SilentServer(object):
    """Accepts TCP connections on loopback and never says anything; counts the connections."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.base_url = "https://127.0.0.1:{0}".format(self.port)
        self.accepted = []
        self._stop = threading.Event()
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _address = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self):
        self._stop.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def closed_port():
    """A loopback port that nothing listens on (bound, then released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def private_network_available():
    """Whether this process may make a network namespace (root, or user namespaces allowed)."""
    if not shutil.which("unshare"):
        return False
    completed = subprocess.run(["unshare", "--net", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=False)
    return completed.returncode == 0


def run_in_private_network(argv, env=None, timeout=120):
    """Run argv in a new, empty network namespace: not even a DNS query can leave the machine."""
    return subprocess.run(["unshare", "--net"] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, timeout=timeout, check=False)


# ---------------------------------------------------------------- the emulator

def emulator_class():
    from wise_emulator import Emulator  # pylint: disable=import-outside-toplevel

    return Emulator
