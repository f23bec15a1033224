# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mTLS API server, exercised with real clients: ssl/http.client, requests, curl, openssl."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from emulator_helpers import basic, client_context, get_token, handshake, playground, request

from wise_emulator import DEFAULT_CLIENT_SECRET, Emulator, _files, pki

PLAYGROUND = "/v1/authenticated/playground"


def _refused(excinfo_value):
    """Text of a TLS refusal as a client sees it."""
    return str(excinfo_value).lower()


@pytest.fixture(scope="module")
def token(emulator, client):
    return get_token(emulator, client).json()["access_token"]


@pytest.fixture(scope="module")
def foreign_client(tmp_path_factory):
    """A key and certificate from a CA that is not the emulator's client-issuing CA."""
    folder = tmp_path_factory.mktemp("foreign")
    ca, ca_key = pki.make_ca("Some other CA")
    key = pki.generate_key("ec256")
    csr = pki.make_csr(key, common="wise-emulator-demo")
    now = pki.utcnow()
    cert = pki.make_client_cert(csr, csr.subject, ca, ca_key, now, now + datetime.timedelta(days=1))
    key_path, cert_path = str(folder / "foreign.key"), str(folder / "foreign.pem")
    _files.write_file_atomic(key_path, pki.key_to_pem(key), mode=0o600)
    _files.write_file_atomic(cert_path, pki.cert_to_pem(cert))
    return cert_path, key_path


def _wait_for_log(emu, text, timeout=3.0):
    """The server logs a refused handshake just after sending the alert: give it a moment."""
    deadline = time.monotonic() + timeout
    while text not in emu.log_tail(5):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ---------------------------------------------------------------- success over TLS 1.2 and 1.3

@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_playground_succeeds_over_tls(emu, client, token, tls):
    response = playground(emu, client, token, tls=tls)
    assert response.status == 200
    assert response.tls_version == "TLSv" + tls
    body = response.json()
    assert body["client_id"] == "wise-emulator-demo"
    assert body["certificate_fingerprint_sha256"] == client.fingerprint_sha256
    assert body["certificate_name"] == "module-client"
    assert body["tls_version"] == "TLSv" + tls


@pytest.mark.parametrize("server_tls, client_tls, expected", [("1.2", None, "TLSv1.2"), ("1.3", None, "TLSv1.3")])
def test_server_tls_version_option(wise_emulator_factory, server_tls, client_tls, expected):
    emu = wise_emulator_factory(tls_version=server_tls)
    client = emu.issue_client_certificate("tls-" + server_tls)
    token = get_token(emu, client).json()["access_token"]
    assert playground(emu, client, token, tls=client_tls).tls_version == expected
    other = "1.3" if server_tls == "1.2" else "1.2"
    with pytest.raises(ssl.SSLError):
        handshake(emu.base_url, client_context(emu.ca_path, *client.cert, tls=other))


def test_requests_client_with_certificate(emu, client):
    requests = pytest.importorskip("requests")
    with requests.Session() as session:
        session.cert = client.cert
        # verify per request: a session-level verify loses to $REQUESTS_CA_BUNDLE.
        answer = session.post(emu.base_url + "/oauth/token", auth=(client.client_id, client.client_secret),
                              data={"grant_type": "client_credentials"}, timeout=10, verify=emu.ca_path)
        assert answer.status_code == 200
        body = answer.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 43199 and body["scope"] == "transfers"
        answer = session.get(emu.base_url + PLAYGROUND, timeout=10, verify=emu.ca_path,
                             headers={"Authorization": "Bearer " + body["access_token"]})
        assert answer.status_code == 200
        assert answer.json()["client_id"] == client.client_id


# ---------------------------------------------------------------- refusals at the TLS layer

@pytest.mark.parametrize("tls, alert", [("1.2", "handshake failure"), ("1.3", "certificate required")])
def test_no_client_certificate_is_refused_in_tls(emu, tls, alert):
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        request(emu.base_url, "GET", PLAYGROUND, client_context(emu.ca_path, tls=tls))
    assert alert in _refused(refused.value)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_certificate_from_another_ca_is_refused_in_tls(emu, foreign_client, tls):
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        request(emu.base_url, "GET", PLAYGROUND, client_context(emu.ca_path, *foreign_client, tls=tls))
    assert "unknown ca" in _refused(refused.value)


def test_requests_without_client_certificate_fails(emu):
    requests = pytest.importorskip("requests")
    with pytest.raises(requests.exceptions.RequestException) as refused:
        requests.get(emu.base_url + PLAYGROUND, verify=emu.ca_path, timeout=10)
    assert "certificate required" in str(refused.value).lower()


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_revoked_certificate_is_refused_in_tls(emu, tls):
    victim = emu.issue_client_certificate("to-revoke-" + tls)
    assert request(emu.base_url, "GET", "/nowhere", client_context(emu.ca_path, *victim.cert, tls=tls)).status == 404
    emu.revoke("to-revoke-" + tls)
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        request(emu.base_url, "GET", "/nowhere", client_context(emu.ca_path, *victim.cert, tls=tls))
    assert "certificate revoked" in _refused(refused.value)
    assert _wait_for_log(emu, "certificate revoked")


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_expired_client_certificate_is_refused_in_tls(emu, tls):
    old = emu.issue_client_certificate("expired-" + tls, validity_seconds=60, backdate_seconds=3600)
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        request(emu.base_url, "GET", "/x", client_context(emu.ca_path, *old.cert, tls=tls))
    assert "certificate expired" in _refused(refused.value)


def test_reject_fault_refuses_a_certificate_by_name_or_fingerprint(emu):
    fresh = emu.issue_client_certificate("new-generation")
    context = client_context(emu.ca_path, *fresh.cert)
    assert request(emu.base_url, "GET", "/x", context).status == 404
    for selector in ("new-generation", "SHA256:" + fresh.fingerprint_sha256.upper()):
        emu.set_faults(reject=[selector])
        with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
            request(emu.base_url, "GET", "/x", context)
        assert "certificate revoked" in _refused(refused.value)
        emu.clear_faults("reject")
        assert request(emu.base_url, "GET", "/x", context).status == 404


# ---------------------------------------------------------------- the token endpoint

def test_token_with_right_secret(emu, client):
    response = get_token(emu, client)
    assert response.status == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 43199
    assert get_token(emu, client).json()["access_token"] != body["access_token"]


@pytest.mark.parametrize("client_id, secret", [("wise-emulator-demo", "wrong"), ("nobody", DEFAULT_CLIENT_SECRET)])
def test_token_with_wrong_credentials(emu, client, client_id, secret):
    response = get_token(emu, client, client_id=client_id, secret=secret)
    assert response.status == 401
    assert response.json() == {"error": "invalid_client", "error_description": "Client authentication failed"}


def test_token_without_basic_auth(emu, client):
    response = request(emu.base_url, "POST", "/oauth/token", client_context(emu.ca_path, *client.cert),
                       body="grant_type=client_credentials")
    assert response.status == 401 and response.json()["error"] == "invalid_client"


def test_token_with_wrong_grant(emu, client):
    response = get_token(emu, client, grant="password")
    assert response.status == 400
    assert response.json()["error"] == "unsupported_grant_type"
    response = request(emu.base_url, "POST", "/oauth/token", client_context(emu.ca_path, *client.cert),
                       headers={"Authorization": basic(client.client_id, client.client_secret)}, body="")
    assert response.status == 400 and response.json()["error"] == "invalid_request"


def test_token_endpoint_wants_post(emu, client):
    response = request(emu.base_url, "GET", "/oauth/token", client_context(emu.ca_path, *client.cert))
    assert response.status == 405


# ---------------------------------------------------------------- the playground

def test_playground_without_token(emu, client):
    response = playground(emu, client)
    assert response.status == 401
    assert response.json()["error"] == "invalid_token"


def test_playground_with_unknown_token(emu, client):
    response = playground(emu, client, "not-a-token")
    assert response.status == 401
    assert response.json() == {"error": "invalid_token", "error_description": "Invalid access token"}


def test_playground_with_expired_token(wise_emulator_factory):
    emu = wise_emulator_factory(token_ttl=3)
    client = emu.issue_client_certificate("short-token")
    body = get_token(emu, client).json()
    issued = time.monotonic()
    assert body["expires_in"] == 3
    assert playground(emu, client, body["access_token"]).status == 200
    time.sleep(max(0.0, issued + 3.2 - time.monotonic()))
    response = playground(emu, client, body["access_token"])
    assert response.status == 401
    assert response.json() == {"error": "invalid_token", "error_description": "Access token expired"}


def test_playground_with_another_clients_token_is_forbidden(emu, client):
    emu.add_client("second-client", "second-secret")
    token = get_token(emu, client, client_id="second-client", secret="second-secret").json()["access_token"]
    response = playground(emu, client, token)
    assert response.status == 403
    assert "second-client" in response.json()["error_description"]


def test_unknown_path_is_404_json(emu, client):
    response = request(emu.base_url, "GET", "/v2/profiles", client_context(emu.ca_path, *client.cert))
    assert response.status == 404
    assert response.json()["error"] == "not_found"
    assert response.headers["Content-Type"].startswith("application/json")


# ---------------------------------------------------------------- faults

@pytest.mark.parametrize("status, error", [(401, "invalid_token"), (403, "forbidden"), (500, "server_error")])
def test_status_fault_on_the_playground(emu, client, token, status, error):
    emu.set_faults(status=status)
    response = playground(emu, client, token)
    assert response.status == status
    assert response.json()["error"] == error
    assert get_token(emu, client).status == 200  # the token endpoint is not affected
    emu.clear_faults("status")
    assert playground(emu, client, token).status == 200


def test_status_fault_from_the_cli_and_at_start(wise_emulator_factory):
    emu = wise_emulator_factory(faults={"status": 500})
    client = emu.issue_client_certificate("fault-start")
    token = get_token(emu, client).json()["access_token"]
    assert playground(emu, client, token).status == 500
    assert emu.cli("fault", "clear").returncode == 0
    assert playground(emu, client, token).status == 200
    assert emu.cli("fault", "set", "--status", "403").returncode == 0
    assert playground(emu, client, token).status == 403


def test_token_status_fault(emu, client):
    emu.set_faults(token_status=500)
    assert get_token(emu, client).status == 500


def test_delay_fault_makes_clients_time_out(emu, client, token):
    emu.set_faults(delay=5)
    started = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        playground(emu, client, token, timeout=1)
    assert time.monotonic() - started < 4
    emu.set_faults(delay=0.3)
    started = time.monotonic()
    assert playground(emu, client, token).status == 200
    assert time.monotonic() - started >= 0.3
    emu.clear_faults()
    emu.set_faults(token_delay=0.3)
    started = time.monotonic()
    assert get_token(emu, client).status == 200
    assert time.monotonic() - started >= 0.3


@pytest.fixture(scope="module")
def misbehaving_servers(emulator):
    """One server per bad server certificate, sharing the module's state directory, started together."""
    servers = {}
    try:
        for variant in ("expired", "unknown-ca", "wrong-host"):
            servers[variant] = Emulator(emulator.state_dir).start(server_cert=variant)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("variant, message", [
    ("expired", "certificate has expired"),
    ("unknown-ca", "unable to get local issuer certificate"),
    ("wrong-host", "mismatch"),
])
def test_server_certificate_faults(misbehaving_servers, client, variant, message):
    server = misbehaving_servers[variant]
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        handshake(server.base_url, client_context(server.ca_path, *client.cert))
    assert message in str(refused.value)


def test_wrong_host_certificate_is_fine_for_its_own_name(misbehaving_servers, client):
    server = misbehaving_servers["wrong-host"]
    version = handshake(server.base_url, client_context(server.ca_path, *client.cert),
                        server_hostname=pki.WRONG_HOST_NAME)
    assert version == "TLSv1.3"


@pytest.mark.parametrize("name", ["api-mtls.sandbox.transferwise.tech", "api-mtls.wise-sandbox.com",
                                  "api-mtls.transferwise.com", "localhost"])
def test_valid_server_certificate_answers_to_wise_host_names(emu, client, name):
    assert handshake(emu.base_url, client_context(emu.ca_path, *client.cert), server_hostname=name) == "TLSv1.3"


# ---------------------------------------------------------------- logging

def test_log_has_one_line_per_request_and_no_secrets(emu, client):
    before = len(emu.log_tail(10000).splitlines())
    body = get_token(emu, client).json()
    playground(emu, client, body["access_token"])
    request(emu.base_url, "GET", PLAYGROUND + "?secret=query-secret", client_context(emu.ca_path, *client.cert))
    lines = emu.log_tail(10000).splitlines()[before:]
    assert len(lines) == 3
    assert '"POST /oauth/token" 200' in lines[0]
    assert '"GET /v1/authenticated/playground" 200' in lines[1]
    text = "\n".join(lines)
    for secret in (body["access_token"], client.client_secret, "query-secret"):
        assert secret not in text


# ---------------------------------------------------------------- other clients: curl and openssl

def _curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_playground_the_way_wise_documents_it(emu, client, token):
    port = emu.port
    host = "api-mtls.sandbox.transferwise.tech"
    result = _curl("--key", client.key_path, "--cert", client.cert_path, "--cacert", emu.ca_path,
                   "--resolve", "%s:%d:127.0.0.1" % (host, port),
                   "https://%s:%d%s" % (host, port, PLAYGROUND), "-H", "Authorization: Bearer " + token)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["client_id"] == "wise-emulator-demo"
    result = _curl("--cacert", emu.ca_path, "--tls-max", "1.2", emu.base_url + PLAYGROUND)
    assert result.returncode != 0 and "handshake failure" in result.stderr
    result = _curl("--cacert", emu.ca_path, emu.base_url + PLAYGROUND)
    assert result.returncode != 0 and "certificate required" in result.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize("tls, expected", [("-tls1_2", "alert handshake failure"),
                                           ("-tls1_3", "alert certificate required")])
def test_openssl_s_client_without_certificate(emu, tls, expected):
    result = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % emu.port, "-CAfile", emu.ca_path, tls,
         "-verify_return_error", "-ign_eof"],
        input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=20, check=False)
    assert expected in (result.stdout + result.stderr)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_with_certificate(emu, client):
    result = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % emu.port, "-CAfile", emu.ca_path,
         "-cert", client.cert_path, "-key", client.key_path, "-verify_return_error", "-ign_eof",
         "-servername", "api-mtls.transferwise.com", "-verify_hostname", "api-mtls.transferwise.com"],
        input="GET /v1/authenticated/playground HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=20, check=False)
    assert "Verify return code: 0 (ok)" in result.stdout
    assert "HTTP/1.0 401" in result.stdout


def test_ready_file_contents(emulator):
    info = emulator.info
    assert info["base_url"] == "https://127.0.0.1:%d" % info["port"]
    assert info["ca_path"] == emulator.ca_path and os.path.isfile(info["ca_path"])
    assert info["pid"] == emulator.process.pid


def test_parallel_clients(emu, client, token):
    # A small, bounded burst: 32 requests from 8 threads, all on loopback.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _i: playground(emu, client, token).status, range(32)))
    assert statuses == [200] * 32


def test_stopping_cuts_a_delayed_answer_short(wise_emulator_factory):
    emu = wise_emulator_factory(faults={"delay": 30})
    client = emu.issue_client_certificate("slow")
    token = get_token(emu, client).json()["access_token"]
    outcome = []

    def slow_request():
        try:
            outcome.append(playground(emu, client, token, timeout=40).status)
        except (OSError, ssl.SSLError) as exc:
            outcome.append(type(exc).__name__)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert emu.stop() == 0
    assert time.monotonic() - started < 5
    worker.join(10)
    assert not worker.is_alive()


def test_rsa_client_certificate_works(emu):
    rsa_client = emu.issue_client_certificate("rsa-client", key_type="rsa2048")
    token = get_token(emu, rsa_client).json()["access_token"]
    for tls in ("1.2", "1.3"):
        response = playground(emu, rsa_client, token, tls=tls)
        assert response.status == 200 and response.json()["certificate_name"] == "rsa-client"
