# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small TLS/HTTP clients for the emulator tests (standard library only)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import urllib.parse

TLS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def client_context(ca_path, cert=None, key=None, tls=None, check_hostname=True):
    context = ssl.create_default_context(cafile=ca_path)
    context.check_hostname = check_hostname
    if tls:
        context.minimum_version = TLS[tls]
        context.maximum_version = TLS[tls]
    if cert:
        context.load_cert_chain(cert, key)
    return context


class Response:
    def __init__(self, status, headers, body, tls_version):
        self.status = status
        self.headers = headers
        self.body = body
        self.tls_version = tls_version

    def json(self):
        return json.loads(self.body)


def request(base_url, method, path, context, headers=None, body=None, timeout=10):
    """One HTTPS request; returns a Response or raises ssl.SSLError / OSError."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        version = conn.sock.version()
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, dict(resp.getheaders()), data, version)
    finally:
        conn.close()


def handshake(base_url, context, server_hostname=None, timeout=10):
    """TLS handshake only (connecting to the loopback address of ``base_url``); returns the TLS version."""
    parts = urllib.parse.urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=server_hostname or parts.hostname) as tls:
            return tls.version()


def basic(client_id, secret):
    return "Basic " + base64.b64encode(("%s:%s" % (client_id, secret)).encode()).decode()


def get_token(emu, client, client_id=None, secret=None, grant="client_credentials"):
    context = client_context(emu.ca_path, *client.cert)
    return request(emu.base_url, "POST", "/oauth/token", context,
                   headers={"Authorization": basic(client_id or client.client_id, secret or client.client_secret),
                            "Content-Type": "application/x-www-form-urlencoded"},
                   body="grant_type=%s" % grant)


def playground(emu, client, token=None, tls=None, timeout=10):
    context = client_context(emu.ca_path, *client.cert, tls=tls)
    headers = {"Authorization": "Bearer %s" % token} if token else {}
    return request(emu.base_url, "GET", "/v1/authenticated/playground", context, headers=headers, timeout=timeout)
