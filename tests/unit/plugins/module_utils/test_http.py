# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The TLS/HTTP layer against real peers: openssl s_server, a Python mTLS server, silent and closed ports.

Every failure category here comes from a real failure on loopback, not from a made-up exception.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from ansible_collections.wise.mtls.plugins.module_utils import _http as http
from ansible_collections.wise.mtls.tests.unit import mtls_peers as peers


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = peers.Pki(tmp_path_factory.mktemp("verify-pki"))
    pki.server_pair = pki.server("server")
    pki.other_host_pair = pki.server("other-host", names=("other-host.example",))
    now = peers.utcnow_naive()
    pki.expired_server_pair = pki.server("expired-server", not_before=now - datetime.timedelta(days=10),
                                         not_after=now - datetime.timedelta(days=1))
    pki.client_pair = pki.client("client")
    pki.other_ca_client_pair = pki.client("client-other-ca", ca=pki.other_ca)
    pki.encrypted_client_pair = pki.client("client-encrypted", passphrase="correct horse battery")
    return pki


@pytest.fixture
def s_server(pki, tmp_path):
    """s_server(tls_version=None, pair=None) -> a running openssl s_server, stopped after the test."""
    started = []

    def start(tls_version=None, pair=None):
        cert_path, key_path = pair or pki.server_pair
        server = peers.OpensslServer(tmp_path, cert_path, key_path, pki.client_ca["path"], tls_version)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def call(url, pki, client_pair="default", ca_path="default", tls_version_min="1.2", timeout=10, passphrase=None,
         method="GET", **kwargs):
    client_pair = pki.client_pair if client_pair == "default" else client_pair
    ca_path = pki.server_ca["path"] if ca_path == "default" else ca_path
    context = http.build_context(ca_path=ca_path, client_cert_path=client_pair[0] if client_pair else None,
                                 client_key_path=client_pair[1] if client_pair else None,
                                 client_key_passphrase=passphrase, tls_version_min=tls_version_min)
    client = http.MtlsClient(context, timeout=timeout)
    try:
        return client.request(method, url, **kwargs)
    finally:
        client.close()


def failure_of(url, pki, **kwargs):
    with pytest.raises(http.TransportError) as info:
        call(url, pki, **kwargs)
    return info.value


def openssl_fingerprint(cert_path):
    """SHA-256 fingerprint as openssl prints it, in the module's lower-case colon form."""
    out = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-fingerprint", "-sha256"],
                         stdout=subprocess.PIPE, check=True).stdout.decode("ascii")
    return out.strip().split("=", 1)[1].lower()


# ---------------------------------------------------------------- success

@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_mutual_tls_succeeds_and_reports_the_live_connection(s_server, pki, tls_version):
    server = s_server(tls_version)
    exchange = call(server.base_url + "/v1/authenticated/playground", pki)

    assert exchange.status == 200 and exchange.ok
    assert exchange.handshake.version == "TLSv" + tls_version
    assert exchange.handshake.source == "connection"
    # s_server's status page names the protocol and cipher it negotiated: the same as reported.
    assert "Protocol  : TLSv{0}".format(tls_version) in exchange.body or \
        "TLSv{0}, Cipher is {1}".format(tls_version, exchange.handshake.cipher) in exchange.body
    assert "Cipher is {0}".format(exchange.handshake.cipher) in exchange.body
    facts = exchange.handshake.describe()
    assert facts["tls_version"] == "TLSv" + tls_version
    assert facts["server_certificate"]["fingerprint_sha256"] == openssl_fingerprint(pki.server_pair[0])
    assert facts["server_certificate"]["issuer"] == "/CN=Test server CA"
    assert facts["server_certificate"]["subject_alt_names"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert exchange.elapsed > 0


def test_encrypted_key_is_used_with_its_passphrase(s_server, pki, tmp_path):
    server = s_server("1.3")
    exchange = call(server.base_url + "/", pki, client_pair=pki.encrypted_client_pair,
                    passphrase="correct horse battery")
    assert exchange.status == 200
    # The key file stays encrypted, and no clear copy of it was written next to it.
    with open(pki.encrypted_client_pair[1], "rb") as handle:
        assert b"ENCRYPTED PRIVATE KEY" in handle.read()
    assert sorted(name for name in os.listdir(pki.folder) if name.endswith(".key")) == [
        "client-encrypted.key", "client-other-ca.key", "client.key", "expired-server.key", "other-host.key",
        "server.key"]


@pytest.mark.parametrize("passphrase", [None, "wrong"])
def test_encrypted_key_without_the_right_passphrase_is_a_setup_error(pki, passphrase):
    with pytest.raises(http.SetupError) as info:
        http.build_context(ca_path=pki.server_ca["path"], client_cert_path=pki.encrypted_client_pair[0],
                           client_key_path=pki.encrypted_client_pair[1], client_key_passphrase=passphrase)
    assert info.value.category == http.CLIENT_KEY_INVALID


def test_missing_ca_file_is_a_setup_error(pki, tmp_path):
    with pytest.raises(http.SetupError) as info:
        http.build_context(ca_path=str(tmp_path / "missing.pem"))
    assert info.value.category == http.CA_INVALID


def test_requests_ca_bundle_variables_do_not_add_trust(s_server, pki, monkeypatch):
    """Only ca_path (or the system store) is trusted: requests' own environment variables are not."""
    server = s_server()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki.server_ca["path"])
    monkeypatch.setenv("CURL_CA_BUNDLE", pki.server_ca["path"])
    failure = failure_of(server.base_url + "/", pki, ca_path=None)
    assert failure.category == http.SERVER_UNTRUSTED


# ---------------------------------------------------------------- the client certificate refused

@pytest.mark.parametrize("tls_version, alert", [("1.2", "handshake_failure"), ("1.3", "certificate_required")])
def test_no_client_certificate_is_rejected(s_server, pki, tls_version, alert):
    server = s_server(tls_version)
    failure = failure_of(server.base_url + "/", pki, client_pair=None)
    assert failure.category == http.CLIENT_CERT_REJECTED
    assert alert in failure.detail
    assert "127.0.0.1:{0}".format(server.port) in failure.detail
    assert failure.hint


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_client_certificate_from_another_ca_is_rejected(s_server, pki, tls_version):
    server = s_server(tls_version)
    failure = failure_of(server.base_url + "/", pki, client_pair=pki.other_ca_client_pair)
    assert failure.category == http.CLIENT_CERT_REJECTED
    assert "unknown_ca" in failure.detail
    if tls_version == "1.3":
        # TLS 1.3 refuses after the client's side of the handshake completed: its facts are known.
        assert failure.handshake is not None and failure.handshake.version == "TLSv1.3"


@pytest.mark.parametrize("tls_version, category", [("1.3", http.CLIENT_CERT_REJECTED), ("1.2", http.CONNECT)])
def test_hang_up_after_the_handshake(pki, tls_version, category):
    """After a TLS 1.3 handshake, a silent hang-up is how a server refuses the client certificate;
    after a TLS 1.2 handshake the certificate was already accepted, so it is only a lost connection."""
    server = peers.HangUpServer(pki.server_pair[0], pki.server_pair[1], pki.client_ca["path"], tls_version)
    try:
        failure = failure_of(server.base_url + "/", pki)
    finally:
        server.stop()
    assert server.handshakes == ["TLSv" + tls_version]
    assert failure.category == category
    assert failure.handshake.version == "TLSv" + tls_version
    assert "after the TLS" in failure.detail


# ---------------------------------------------------------------- the server not trusted

@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_server_from_an_unknown_ca_is_untrusted(s_server, pki, tls_version):
    server = s_server(tls_version)
    failure = failure_of(server.base_url + "/", pki, ca_path=pki.other_ca["path"])
    assert failure.category == http.SERVER_UNTRUSTED
    assert "not issued by a CA this host trusts" in failure.detail
    assert "ca_path" in failure.hint


def test_expired_server_certificate_is_untrusted_and_said_to_be_expired(s_server, pki):
    server = s_server(pair=pki.expired_server_pair)
    failure = failure_of(server.base_url + "/", pki)
    assert failure.category == http.SERVER_UNTRUSTED
    assert "expired" in failure.detail


def test_system_store_is_used_without_ca_path(s_server, pki):
    """The test CA is in no system store: without ca_path the server is untrusted."""
    server = s_server()
    failure = failure_of(server.base_url + "/", pki, ca_path=None)
    assert failure.category == http.SERVER_UNTRUSTED


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_certificate_for_another_host_is_a_hostname_mismatch(s_server, pki, host):
    server = s_server(pair=pki.other_host_pair)
    failure = failure_of("https://{0}:{1}/".format(host, server.port), pki)
    assert failure.category == http.HOSTNAME_MISMATCH
    assert host in failure.detail


def test_presented_certificate_is_read_for_diagnostics(s_server, pki):
    server = s_server("1.3", pair=pki.other_host_pair)
    presented = http.fetch_presented_certificate(server.base_url + "/", timeout=5)
    assert presented["subject_alt_names"] == ["DNS:other-host.example"]
    assert presented["fingerprint_sha256"] == openssl_fingerprint(pki.other_host_pair[0])


def test_separate_handshake_reads_the_same_facts(s_server, pki):
    """The fallback when the live connection is out of reach: a second handshake with the same context."""
    server = s_server("1.3")
    context = http.build_context(ca_path=pki.server_ca["path"], client_cert_path=pki.client_pair[0],
                                 client_key_path=pki.client_pair[1])
    handshake = http.probe_handshake(context, server.base_url + "/", timeout=5)
    assert handshake.source == "separate_handshake"
    assert handshake.version == "TLSv1.3"
    assert http.describe_certificate_der(handshake.peer_certificate_der)["fingerprint_sha256"] == \
        openssl_fingerprint(pki.server_pair[0])


# ---------------------------------------------------------------- TLS versions and plain servers

def test_no_common_tls_version_is_a_negotiation_failure(s_server, pki):
    server = s_server("1.2")
    failure = failure_of(server.base_url + "/", pki, tls_version_min="1.3")
    assert failure.category == http.TLS_NEGOTIATION


def test_plain_http_port_is_a_tls_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def answer_in_clear_text():
        conn, _address = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer_in_clear_text, daemon=True)
    thread.start()
    try:
        context = http.build_context()
        with pytest.raises(http.TransportError) as info:
            http.MtlsClient(context, timeout=5).request("GET", "https://127.0.0.1:{0}/".format(port))
    finally:
        thread.join(5)
        listener.close()
    assert info.value.category == http.TLS_ERROR
    assert "https://" in info.value.hint


# ---------------------------------------------------------------- no connection at all

def test_nothing_listening_is_a_connect_failure(pki):
    failure = failure_of("https://127.0.0.1:{0}/".format(peers.closed_port()), pki)
    assert failure.category == http.CONNECT
    assert "refused" in failure.detail


def test_server_that_never_answers_is_a_timeout(pki):
    silent = peers.SilentServer()
    try:
        failure = failure_of(silent.base_url + "/", pki, timeout=1)
    finally:
        silent.stop()
    assert failure.category == http.TIMEOUT
    assert "within 1 s, while connecting" in failure.detail
    assert len(silent.accepted) == 1


DNS_PROBE = """
import json, sys
from ansible_collections.wise.mtls.plugins.module_utils import _http as http
client = http.MtlsClient(http.build_context(), timeout=5)
try:
    client.request("GET", "https://wise-mtls-verify.invalid/")
except http.TransportError as exc:
    print(json.dumps(dict(category=exc.category, detail=exc.detail)))
"""


@pytest.mark.skipif(not peers.private_network_available(), reason="cannot make a network namespace here")
def test_name_that_does_not_resolve_is_a_dns_failure():
    """Resolved inside an empty network namespace: the lookup fails without a packet leaving the machine."""
    completed = peers.run_in_private_network([sys.executable, "-c", DNS_PROBE],
                                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.decode("utf-8"))
    assert outcome["category"] == http.DNS
    assert "wise-mtls-verify.invalid" in outcome["detail"]


# ---------------------------------------------------------------- HTTP answers (Python mTLS server)

@pytest.fixture
def mini_wise(pki):
    started = []

    def start(answers, tls_version=None):
        server = peers.MiniWise(pki.server_pair[0], pki.server_pair[1], pki.client_ca["path"], answers, tls_version)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_bodies_are_parsed_when_json_and_kept_as_text_otherwise(mini_wise, pki):
    server = mini_wise({"/json": (200, {}, {"a": 1}), "/text": (200, {}, "hello"), "/empty": (204, {}, b"")})
    assert call(server.base_url + "/json", pki).body == {"a": 1}
    assert call(server.base_url + "/text", pki).body == "hello"
    empty = call(server.base_url + "/empty", pki)
    assert (empty.status, empty.body, empty.ok) == (204, "", True)


def test_keep_alive_connection_reports_tls_facts_of_the_reused_connection(mini_wise, pki):
    server = mini_wise({"/a": (200, {}, {"n": 1}), "/b": (200, {}, {"n": 2})}, tls_version="1.2")
    context = http.build_context(ca_path=pki.server_ca["path"], client_cert_path=pki.client_pair[0],
                                 client_key_path=pki.client_pair[1])
    client = http.MtlsClient(context, timeout=5)
    try:
        first = client.request("GET", server.base_url + "/a")
        second = client.request("GET", server.base_url + "/b")
    finally:
        client.close()
    assert context.mark() == 1  # one TLS connection for both requests
    assert first.handshake.version == second.handshake.version == "TLSv1.2"
    assert second.handshake.peer_certificate_der == first.handshake.peer_certificate_der


def test_redirects_are_not_followed(mini_wise, pki):
    server = mini_wise({"/moved": (302, {"Location": "https://example.invalid/elsewhere"}, "")})
    exchange = call(server.base_url + "/moved", pki)
    assert exchange.status == 302
    category, detail, _hint = http.classify_status(exchange.status, exchange.body, "playground", exchange.headers)
    assert category == http.UNEXPECTED_STATUS
    assert "https://example.invalid/elsewhere" in detail
    assert len(server.requests) == 1


def test_bearer_token_goes_in_the_authorization_header_only(mini_wise, pki, tmp_path, monkeypatch):
    """An explicit auth object: a .netrc entry for the host cannot replace the Bearer token."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server = mini_wise({"/p": (200, {}, {})})
    call(server.base_url + "/p", pki, auth=http.BearerAuth("the-token"))
    assert server.requests[0]["headers"]["Authorization"] == "Bearer the-token"


# ---------------------------------------------------------------- status classification

@pytest.mark.parametrize("status, body, step, category, words", [
    (200, {}, "playground", None, []),
    (204, "", "playground", None, []),
    (401, {"error": "invalid_token", "error_description": "Access token expired"}, "playground",
     http.UNAUTHORIZED, ["invalid_token", "Access token expired"]),
    (401, {"error": "invalid_client", "error_description": "Client authentication failed"}, "token",
     http.UNAUTHORIZED, ["invalid_client", "Client authentication failed", "token request"]),
    (403, {"error": "forbidden"}, "playground", http.FORBIDDEN, ["403"]),
    (500, {"error": "server_error"}, "playground", http.UNEXPECTED_STATUS, ["500", "server_error"]),
    (404, "Not Found", "playground", http.UNEXPECTED_STATUS, ["404"]),
    (400, "<html><center>No required SSL certificate was sent</center></html>", "playground",
     http.CLIENT_CERT_REJECTED, ["No required SSL certificate was sent"]),
    (400, {"error": "invalid_request"}, "token", http.UNEXPECTED_STATUS, ["invalid_request"]),
])
def test_status_classification(status, body, step, category, words):
    outcome = http.classify_status(status, body, step)
    if category is None:
        assert outcome is None
        return
    assert outcome[0] == category
    for word in words:
        assert word in outcome[1]
    assert outcome[2]


def test_scrub_masks_every_secret_in_nested_values():
    value = {"a": "token abc123 here", "b": ["abc123", {"c": "s3cret!"}], "n": 3}
    assert http.scrub(value, ["abc123", "s3cret!"]) == {"a": "token ******** here",
                                                        "b": ["********", {"c": "********"}], "n": 3}
