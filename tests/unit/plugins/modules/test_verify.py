# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.verify end to end: the module's main() against the bundled Wise emulator (a real HTTPS
server requiring client certificates), a scripted Python mTLS server, silent and closed ports, and
ansible-playbook -vvvv to prove that no secret reaches the output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import requests

from ansible_collections.wise.mtls.plugins.modules import verify
from ansible_collections.wise.mtls.tests.unit import mtls_peers as peers
from ansible_collections.wise.mtls.tests.unit.helpers import assert_no_key_material, read_bytes

Emulator = peers.emulator_class()

PASSPHRASE = "verify-key-passphrase-5f1c"
OTHER_CLIENT_ID = "other-client"
OTHER_CLIENT_SECRET = "other-client-secret-90ad"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Wise(object):
    """One emulator state (CAs, clients, issued certificates) and servers started on it as needed."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.state_dir = os.path.join(self.folder, "state")
        self.primary = Emulator(self.state_dir)
        self.primary.start(clear_faults=True)
        self.primary.add_client(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET)
        self._servers = {("both", "valid"): self.primary}
        issued = os.path.join(self.folder, "issued")
        self.client = self.primary.issue_client_certificate("verify-client", out_dir=issued)
        self.encrypted = self.primary.issue_client_certificate("verify-encrypted", out_dir=issued)
        _encrypt_key(self.encrypted.key_path, PASSPHRASE)
        self.expired = self.primary.issue_client_certificate(
            "verify-expired", out_dir=issued, validity_seconds=86400, backdate_seconds=3 * 86400)
        self.revoked = self.primary.issue_client_certificate("verify-revoked", out_dir=issued)
        self.primary.revoke(name="verify-revoked")
        self.pki = peers.Pki(os.path.join(self.folder, "pki"))
        self.other_ca_client = self.pki.client("other-ca-client", ca=self.pki.other_ca)
        self.other_key = self.pki.key("unrelated")

    @property
    def ca_path(self):
        return self.primary.ca_path

    def server(self, tls_version="both", server_cert="valid"):
        key = (tls_version, server_cert)
        if key not in self._servers:
            self._servers[key] = Emulator(self.state_dir).start(tls_version=tls_version, server_cert=server_cert)
        return self._servers[key]

    def token(self, client=None, secret=None):
        client = client or self.client
        response = requests.post(self.primary.base_url + "/oauth/token", cert=client.cert, verify=self.ca_path,
                                 auth=(client.client_id, secret or client.client_secret),
                                 data={"grant_type": "client_credentials"}, timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]

    def stop(self):
        for server in self._servers.values():
            server.stop()


def _encrypt_key(path, passphrase):
    """Re-write the key encrypted with AES-256, by the openssl CLI."""
    completed = subprocess.run(["openssl", "pkey", "-in", path, "-aes256", "-passout", "pass:" + passphrase],
                               stdout=subprocess.PIPE, check=True)
    with open(path, "wb") as handle:
        handle.write(completed.stdout)


@pytest.fixture(scope="module")
def wise(tmp_path_factory):
    wise = Wise(tmp_path_factory.mktemp("verify-wise"))
    yield wise
    wise.stop()


@pytest.fixture
def emulator(wise):
    wise.primary.clear_faults()
    yield wise.primary
    wise.primary.clear_faults()


def args_for(wise, server=None, client=None, **extra):
    client = client or wise.client
    args = dict(base_url=(server or wise.primary).base_url, client_cert_path=client.cert_path,
                client_key_path=client.key_path, ca_path=wise.ca_path, client_id=client.client_id,
                client_secret=client.client_secret, timeout=10)
    args.update(extra)
    return dict((key, value) for key, value in args.items() if value is not None)


def run_verify(run_module, args, check_mode=False):
    return run_module(verify, args, check_mode=check_mode)


def assert_failure(result, category, step=None):
    assert result["rc"] == 1, result
    assert result["failure"]["category"] == category, result["failure"]
    assert result["failure"]["hint"] and result["failure"]["detail"]
    assert result["changed"] is False
    if step:
        assert result["failure"]["step"] == step
    assert category in result["msg"]


def openssl_fingerprint(cert_path):
    out = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-fingerprint", "-sha256"],
                         stdout=subprocess.PIPE, check=True).stdout.decode("ascii")
    return out.strip().split("=", 1)[1].lower()


# ---------------------------------------------------------------- success

@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_client_credentials_give_a_token_and_a_successful_call(wise, run_module, tls_version):
    server = wise.server(tls_version=tls_version)
    result = run_verify(run_module, args_for(wise, server))

    assert result["rc"] == 0, result.get("msg")
    assert result["changed"] is False
    assert result["status"] == 200
    assert result["tls_version"] == "TLSv" + tls_version
    assert result["cipher"]
    assert result["elapsed"] > 0
    assert result["token_source"] == "client_credentials"
    assert result["token_url"] == server.base_url + "/oauth/token"
    assert result["url"] == server.base_url + "/v1/authenticated/playground"
    # The body as the server sent it: the emulator saw our certificate over the TLS version we report.
    body = result["body"]
    assert body["client_id"] == wise.client.client_id
    assert body["tls_version"] == "TLSv" + tls_version
    client_fingerprint = openssl_fingerprint(wise.client.cert_path)
    assert body["certificate_fingerprint_sha256"] == client_fingerprint.replace(":", "")
    assert result["client_certificate"]["fingerprint_sha256"] == client_fingerprint
    assert 360 <= result["client_certificate"]["days_remaining"] <= 366
    server_cert_path = os.path.join(wise.state_dir, "server", "valid.pem")
    assert result["server_certificate"]["fingerprint_sha256"] == openssl_fingerprint(server_cert_path)
    assert "Wise emulator server CA" in result["server_certificate"]["issuer"]
    assert result["server_certificate"]["not_after"].endswith("Z")
    assert wise.client.client_secret not in result["_stdout"]
    assert not UUID_RE.search(result["_stdout"]), "the fetched token (a UUID) is in the result"


def test_given_access_token_works_and_check_mode_runs_the_same(wise, emulator, run_module):
    token = wise.token()
    args = args_for(wise, client_id=None, client_secret=None, access_token=token)
    for check_mode in (False, True):
        result = run_verify(run_module, args, check_mode=check_mode)
        assert result["rc"] == 0, result.get("msg")
        assert (result["changed"], result["status"], result["token_source"]) == (False, 200, "access_token")
        assert "token_url" not in result
        assert token not in result["_stdout"]


def test_encrypted_key_with_its_passphrase(wise, emulator, run_module):
    result = run_verify(run_module, args_for(wise, client=wise.encrypted, client_key_passphrase=PASSPHRASE))
    assert result["rc"] == 0, result.get("msg")
    assert result["body"]["certificate_name"] == "verify-encrypted"
    assert PASSPHRASE not in result["_stdout"]
    assert b"ENCRYPTED PRIVATE KEY" in read_bytes(wise.encrypted.key_path)


def test_any_2xx_is_success_and_text_bodies_come_as_text(wise, run_module, tmp_path):
    pki = wise.pki
    server_pair = pki.server("mini-wise-204")
    client = pki.client("mini-client")
    mini = peers.MiniWise(server_pair[0], server_pair[1], pki.client_ca["path"], {
        "/oauth/token": (200, {}, {"access_token": "mini-token-7d1e", "token_type": "bearer"}),
        "/v1/authenticated/playground": (202, {}, "accepted, thanks"),
    })
    try:
        result = run_verify(run_module, dict(
            base_url=mini.base_url, client_cert_path=client[0], client_key_path=client[1],
            ca_path=pki.server_ca["path"], client_id="mini-client", client_secret="mini-secret-3b9a"))
    finally:
        mini.stop()
    assert result["rc"] == 0, result.get("msg")
    assert (result["status"], result["body"]) == (202, "accepted, thanks")
    token_request, playground_request = mini.requests
    assert token_request["method"] == "POST" and token_request["body"] == b"grant_type=client_credentials"
    assert token_request["headers"]["Authorization"].startswith("Basic ")
    assert playground_request["headers"]["Authorization"] == "Bearer mini-token-7d1e"
    for secret in ("mini-token-7d1e", "mini-secret-3b9a"):
        assert secret not in result["_stdout"]


# ---------------------------------------------------------------- HTTP failures

def test_wrong_client_secret_is_unauthorized_with_wises_invalid_client(wise, emulator, run_module):
    result = run_verify(run_module, args_for(wise, client_secret="not-the-secret-e41b"))
    assert_failure(result, "unauthorized", step="token")
    assert result["failure"]["status"] == 401
    assert "invalid_client" in result["failure"]["detail"]
    assert "Client authentication failed" in result["failure"]["detail"]
    assert "client secret" in result["failure"]["hint"]
    assert "not-the-secret-e41b" not in result["_stdout"]
    assert result["tls_version"].startswith("TLSv")  # the TLS part worked


def test_invalid_access_token_is_unauthorized_with_wises_description(wise, emulator, run_module):
    bad_token = "f00dbabe-not-a-token-9c2d"
    result = run_verify(run_module, args_for(wise, client_id=None, client_secret=None, access_token=bad_token))
    assert_failure(result, "unauthorized", step="playground")
    assert "invalid_token" in result["failure"]["detail"]
    assert "Invalid access token" in result["failure"]["detail"]
    assert result["body"]["error"] == "invalid_token"
    assert bad_token not in result["_stdout"]


def test_token_of_another_client_is_forbidden(wise, emulator, run_module):
    # A token for another API client, presented with this client's certificate.
    response = requests.post(emulator.base_url + "/oauth/token", cert=wise.client.cert, verify=wise.ca_path,
                             auth=(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET), data={"grant_type": "client_credentials"},
                             timeout=10)
    other_token = response.json()["access_token"]
    result = run_verify(run_module, args_for(wise, client_id=None, client_secret=None, access_token=other_token))
    assert_failure(result, "forbidden", step="playground")
    assert result["failure"]["status"] == 403
    assert OTHER_CLIENT_ID in result["failure"]["detail"]
    assert other_token not in result["_stdout"]


@pytest.mark.parametrize("fault, step", [({"status": 500}, "playground"), ({"token_status": 500}, "token")])
def test_server_error_is_an_unexpected_status(wise, emulator, run_module, fault, step):
    emulator.set_faults(**fault)
    result = run_verify(run_module, args_for(wise))
    assert_failure(result, "unexpected_status", step=step)
    assert result["failure"]["status"] == 500
    assert "server_error" in result["failure"]["detail"]


def test_redirect_and_gateway_400_from_a_scripted_server(wise, run_module):
    pki = wise.pki
    server_pair = pki.server("mini-wise-3xx")
    client = pki.client("mini-client-3xx")
    mini = peers.MiniWise(server_pair[0], server_pair[1], pki.client_ca["path"], {
        "/v1/authenticated/playground": (302, {"Location": "https://login.example.invalid/"}, ""),
        "/gateway": (400, {"Content-Type": "text/html"},
                     "<html><center>No required SSL certificate was sent</center></html>"),
    })
    base = dict(base_url=mini.base_url, client_cert_path=client[0], client_key_path=client[1],
                ca_path=pki.server_ca["path"], access_token="mini-access-token-0a1b")
    try:
        redirect = run_verify(run_module, base)
        gateway = run_verify(run_module, dict(base, playground_path="/gateway"))
    finally:
        mini.stop()
    assert_failure(redirect, "unexpected_status", step="playground")
    assert "https://login.example.invalid/" in redirect["failure"]["detail"]
    assert len(mini.requests) == 2  # not followed
    assert_failure(gateway, "client_cert_rejected", step="playground")
    assert "No required SSL certificate was sent" in gateway["failure"]["detail"]


def test_token_answer_without_a_token_is_token_failed(wise, run_module):
    pki = wise.pki
    server_pair = pki.server("mini-wise-token")
    client = pki.client("mini-client-token")
    mini = peers.MiniWise(server_pair[0], server_pair[1], pki.client_ca["path"], {
        "/oauth/token": (200, {}, {"token_type": "bearer"})})
    try:
        result = run_verify(run_module, dict(
            base_url=mini.base_url, client_cert_path=client[0], client_key_path=client[1],
            ca_path=pki.server_ca["path"], client_id="id", client_secret="mini-secret-77e0"))
    finally:
        mini.stop()
    assert_failure(result, "token_failed", step="token")


# ---------------------------------------------------------------- TLS failures

@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_client_certificate_from_another_ca_is_rejected(wise, run_module, tls_version):
    server = wise.server(tls_version=tls_version)
    cert_path, key_path = wise.other_ca_client
    result = run_verify(run_module, args_for(wise, server, client_cert_path=cert_path, client_key_path=key_path))
    assert_failure(result, "client_cert_rejected", step="token")
    assert "unknown_ca" in result["failure"]["detail"]


def test_revoked_client_certificate_is_rejected(wise, run_module):
    result = run_verify(run_module, args_for(wise, client=wise.revoked))
    assert_failure(result, "client_cert_rejected")
    assert "revoked" in result["failure"]["detail"]


@pytest.mark.parametrize("server_cert, category, words", [
    ("expired", "server_untrusted", "expired"),
    ("unknown-ca", "server_untrusted", "not issued by a CA this host trusts"),
    ("wrong-host", "hostname_mismatch", "127.0.0.1"),
])
def test_server_certificate_problems(wise, run_module, server_cert, category, words):
    server = wise.server(server_cert=server_cert)
    result = run_verify(run_module, args_for(wise, server))
    assert_failure(result, category, step="token")
    assert words in result["failure"]["detail"]
    presented = result["failure"]["presented_server_certificate"]
    assert presented["fingerprint_sha256"] == openssl_fingerprint(
        os.path.join(wise.state_dir, "server", server_cert + ".pem"))
    assert "status" not in result


def test_hostname_mismatch_by_name(wise, run_module):
    """localhost is in the valid certificate; the wrong-host one names only another host."""
    server = wise.server(server_cert="wrong-host")
    result = run_verify(run_module, args_for(wise, base_url="https://localhost:{0}".format(server.port)))
    assert_failure(result, "hostname_mismatch")
    assert "localhost" in result["failure"]["detail"]


def test_nothing_listening_is_connect(wise, run_module):
    result = run_verify(run_module, args_for(wise, base_url="https://127.0.0.1:{0}".format(peers.closed_port())))
    assert_failure(result, "connect", step="token")


def test_server_that_never_answers_is_timeout(wise, run_module):
    silent = peers.SilentServer()
    try:
        result = run_verify(run_module, args_for(wise, base_url=silent.base_url, timeout=1))
    finally:
        silent.stop()
    assert_failure(result, "timeout", step="token")


def test_slow_playground_is_timeout(wise, emulator, run_module):
    """The emulator answers the token at once and the playground after 5 s; the module waits 1 s."""
    emulator.set_faults(delay=5)
    result = run_verify(run_module, args_for(wise, timeout=1))
    assert_failure(result, "timeout", step="playground")
    assert "after the TLS handshake" in result["failure"]["detail"]
    assert result["tls_version"].startswith("TLSv")


@pytest.mark.skipif(not peers.private_network_available(), reason="cannot make a network namespace here")
def test_name_that_does_not_resolve_is_dns(wise, tmp_path):
    """The module runs as a script in an empty network namespace: the lookup fails and nothing leaves."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args_for(
        wise, base_url="https://api-mtls.wise-verify.invalid")}))
    completed = peers.run_in_private_network(
        [sys.executable, "-m", "ansible_collections.wise.mtls.plugins.modules.verify", str(args_file)],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    result = json.loads(completed.stdout.decode("utf-8"))
    assert completed.returncode == 1
    assert result["failure"]["category"] == "dns", result["failure"]
    assert "api-mtls.wise-verify.invalid" in result["failure"]["detail"]


# ---------------------------------------------------------------- local checks: no traffic at all

@pytest.fixture
def listener():
    """A loopback port that counts connections: proof that a check sent nothing."""
    silent = peers.SilentServer()
    yield silent
    silent.stop()


def test_expired_client_certificate_fails_before_connecting(wise, run_module, listener):
    result = run_verify(run_module, args_for(wise, client=wise.expired, base_url=listener.base_url))
    assert_failure(result, "client_cert_expired", step="local_check")
    assert "expired" in result["failure"]["detail"]
    assert result["client_certificate"]["days_remaining"] < 0
    assert listener.accepted == []


def test_key_of_another_certificate_is_a_mismatch_before_connecting(wise, run_module, listener):
    result = run_verify(run_module, args_for(wise, client_key_path=wise.other_key, base_url=listener.base_url))
    assert_failure(result, "key_mismatch", step="local_check")
    assert wise.other_key in result["failure"]["detail"]
    assert listener.accepted == []
    assert_no_key_material(result["_stdout"], read_bytes(wise.other_key))


@pytest.mark.parametrize("passphrase", [None, "wrong passphrase"])
def test_encrypted_key_without_its_passphrase(wise, run_module, listener, passphrase):
    result = run_verify(run_module, args_for(wise, client=wise.encrypted, base_url=listener.base_url,
                                             client_key_passphrase=passphrase))
    assert_failure(result, "client_key_invalid", step="local_check")
    assert listener.accepted == []
    if passphrase:
        assert passphrase not in result["_stdout"]


def test_unreadable_files_are_named(wise, run_module, listener, tmp_path):
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("hello\n")
    missing = str(tmp_path / "missing.pem")
    cert = run_verify(run_module, args_for(wise, client_cert_path=str(not_a_cert), base_url=listener.base_url))
    assert_failure(cert, "client_cert_invalid", step="local_check")
    ca = run_verify(run_module, args_for(wise, ca_path=missing, base_url=listener.base_url))
    assert_failure(ca, "ca_invalid", step="local_check")
    assert missing in ca["failure"]["detail"]
    assert listener.accepted == []


@pytest.mark.parametrize("extra, words", [
    (dict(base_url="http://127.0.0.1:1"), "https://"),
    (dict(base_url="https://user:pw@127.0.0.1:1"), "no user name"),
    (dict(playground_path="v1/authenticated/playground"), "must start with '/'"),
    (dict(token_url="http://127.0.0.1:1/oauth/token"), "clear text"),
    (dict(timeout=0), "positive"),
])
def test_bad_options_fail_with_a_message(wise, run_module, extra, words):
    result = run_verify(run_module, args_for(wise, **extra))
    assert result["rc"] == 1 and words in result["msg"]


def test_environment_selects_the_wise_host(wise, run_module, listener):
    """Without base_url the environment's host is called (the local checks fail first here, offline)."""
    result = run_verify(run_module, args_for(wise, base_url=None, environment="production", client=wise.expired))
    assert result["url"] == "https://api-mtls.transferwise.com/v1/authenticated/playground"
    assert_failure(result, "client_cert_expired")


# ---------------------------------------------------------------- ansible-playbook -vvvv leaks nothing

# The secrets come from an extra-vars file, as they would from a vault: ansible-core 2.19+ prints the
# playbook lines around a failed task, so a secret written into the playbook itself would show there.
PLAYBOOK = textwrap.dedent("""\
    - name: Verify Wise mTLS
      hosts: localhost
      gather_facts: false
      vars:
        common: &common
          base_url: "{{ wise_base_url }}"
          client_cert_path: "{{ wise_cert }}"
          client_key_path: "{{ wise_key }}"
          client_key_passphrase: "{{ wise_passphrase }}"
          ca_path: "{{ wise_ca }}"
      tasks:
        - name: With client credentials
          wise.mtls.verify:
            <<: *common
            client_id: "{{ wise_client_id }}"
            client_secret: "{{ wise_secret }}"
          register: with_credentials
        - name: With an access token
          wise.mtls.verify:
            <<: *common
            access_token: "{{ wise_token }}"
        - name: With a wrong secret
          wise.mtls.verify:
            <<: *common
            client_id: "{{ wise_client_id }}"
            client_secret: "{{ wise_wrong_secret }}"
          ignore_errors: true
          register: wrong_secret
        - name: With a wrong token
          wise.mtls.verify:
            <<: *common
            access_token: "{{ wise_wrong_token }}"
          ignore_errors: true
          register: wrong_token
        - name: Show everything registered
          ansible.builtin.debug:
            var: item
          loop: ["{{ with_credentials }}", "{{ wrong_secret }}", "{{ wrong_token }}"]
        - name: Check the outcomes
          ansible.builtin.assert:
            that:
              - with_credentials.status == 200
              - wrong_secret.failure.category == 'unauthorized'
              - wrong_token.failure.category == 'unauthorized'
    """)


def _ansible_playbook():
    candidate = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return [candidate] if os.path.exists(candidate) else [sys.executable, "-m", "ansible.cli.playbook"]


def _collections_root():
    # .../ansible_collections/wise/mtls/plugins/modules/verify.py -> the folder holding ansible_collections
    return os.path.abspath(os.path.join(os.path.dirname(verify.__file__), *[".."] * 5))


def test_vvvv_output_holds_no_secret(wise, emulator, tmp_path):
    token = wise.token()  # same API client as the encrypted key's certificate
    wrong_secret = "wrong-secret-c0ffee-5e"
    wrong_token = "wrong-token-c0ffee-7f"
    playbook = tmp_path / "verify.yml"
    playbook.write_text(PLAYBOOK)
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(dict(
        wise_base_url=emulator.base_url, wise_cert=wise.encrypted.cert_path, wise_key=wise.encrypted.key_path,
        wise_passphrase=PASSPHRASE, wise_ca=wise.ca_path, wise_client_id=wise.encrypted.client_id,
        wise_secret=wise.encrypted.client_secret, wise_token=token, wise_wrong_secret=wrong_secret,
        wise_wrong_token=wrong_token)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_root(), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "local-tmp"), ANSIBLE_REMOTE_TEMP=str(tmp_path / "remote-tmp"))
    completed = subprocess.run(
        _ansible_playbook() + ["-vvvv", "-i", "localhost,", "-c", "local", str(playbook),
                               "-e", "@" + str(secrets), "-e", "ansible_python_interpreter=" + sys.executable],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path), timeout=300, check=False)
    output = completed.stdout.decode("utf-8", "replace")
    assert completed.returncode == 0, output[-6000:]
    assert "ok=6" in output and "ignored=2" in output, output[-3000:]
    assert '"status": 200' in output  # the registered result was printed in full
    for secret in (wise.encrypted.client_secret, PASSPHRASE, token, wrong_secret, wrong_token):
        assert secret not in output, output
    # The token fetched with the client credentials: the emulator's tokens are UUIDs.
    assert not UUID_RE.search(output), UUID_RE.search(output).group(0)
    assert "Authorization" not in output
    assert "Bearer " not in output
    assert_no_key_material(output, read_bytes(wise.encrypted.key_path))
    assert_no_key_material(output, read_bytes(wise.client.key_path))
