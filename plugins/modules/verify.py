#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: verify
short_description: Prove that a host can call Wise over mutual TLS, and say exactly why when it cannot
version_added: 0.1.0
description:
  - Runs Wise's playground request (C(GET /v1/authenticated/playground)) from the host, with the client certificate,
    key and Wise CA installed there, the same way C(curl --cert --key --cacert) does in Wise's guide.
  - Before any network traffic it checks that the key and the certificate belong together (their public keys are
    equal) and that the certificate is inside its validity window.
  - The access token is given in O(access_token), or fetched with O(client_id) and O(client_secret) from Wise's
    C(POST /oauth/token) over the same mutual TLS settings. Tokens are never stored or returned.
  - On success it returns the HTTP status, the time taken, the TLS version and cipher, the server certificate and
    the body as Wise sent it. Any 2xx status is a success.
  - On failure the task fails with RV(failure.category), a stable name of what went wrong (for conditions,
    dashboards and runbooks), RV(failure.detail) with the underlying error text, and RV(failure.hint) telling the
    operator what to do.
  - The module never changes anything. It runs the request in check mode too.
author:
  - wise.mtls contributors (@wise-mtls)
requirements:
  - requests (2.25.1 or newer)
  - cryptography (3.4.8 or newer)
attributes:
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.attributes.info_module
options:
  environment:
    description:
      - The Wise environment whose mTLS host to call.
      - V(sandbox) is C(https://api-mtls.sandbox.transferwise.tech), V(production) is
        C(https://api-mtls.transferwise.com).
      - Ignored when O(base_url) is set.
    type: str
    choices: [sandbox, production]
    default: sandbox
  base_url:
    description:
      - The mTLS base URL to call instead of the O(environment)'s host, for example another Wise host name, a
        proxy, or the bundled Wise emulator.
      - Must start with C(https://) and hold no user name, password, query or fragment.
    type: str
  client_cert_path:
    description:
      - Path on the host of the client certificate Wise issued (PEM). Intermediate certificates may follow it in the
        same file.
    type: path
    required: true
  client_key_path:
    description:
      - Path on the host of the private key of O(client_cert_path) (PEM).
    type: path
    required: true
  client_key_passphrase:
    description:
      - Passphrase of an encrypted O(client_key_path). The key is decrypted in memory by the TLS library; the clear
        key is never written anywhere.
    type: str
  ca_path:
    description:
      - The Wise CA certificate (PEM file, or a folder prepared with C(openssl rehash)) that the server's certificate
        must chain to, as downloaded with Developer Hub's "Get Wise Certificate".
      - When not set, the host's system trust store is used (not the certificates bundled with C(requests)), so a
        Wise CA installed with M(wise.mtls.ca_trust) V(system) store is found.
    type: path
  access_token:
    description:
      - "An access token for the C(Authorization: Bearer) header."
      - Mutually exclusive with O(client_id) and O(client_secret); one of them is required.
    type: str
  client_id:
    description:
      - The API client ID from Developer Hub. With O(client_secret), the module fetches an access token with the
        client credentials grant from O(token_url) before the playground request.
    type: str
  client_secret:
    description:
      - The API client secret that goes with O(client_id).
    type: str
  token_url:
    description:
      - Where to fetch the access token. Defaults to C(/oauth/token) on the mTLS base URL, since Wise accepts only
        the mTLS hosts once mTLS is enforced for a partner.
      - Called with the same CA, client certificate and TLS settings as the playground request.
    type: str
  playground_path:
    description:
      - Path of the playground endpoint on the base URL.
    type: str
    default: /v1/authenticated/playground
  timeout:
    description:
      - Seconds to wait for the connection and for each answer, per request.
    type: float
    default: 10
  tls_version_min:
    description:
      - The lowest TLS version to offer. Wise requires TLS 1.2 or newer.
    type: str
    choices: ["1.2", "1.3"]
    default: "1.2"
notes:
  - The module uses its own TLS settings only. Proxy environment variables (C(HTTPS_PROXY), C(NO_PROXY)) are honoured,
    C(.netrc) and C(REQUESTS_CA_BUNDLE) are not.
  - Redirects are not followed; a redirect is reported as RV(failure.category=unexpected_status).
seealso:
  - module: wise.mtls.certificate
  - module: wise.mtls.ca_trust
  - module: wise.mtls.certificate_info
"""

EXAMPLES = r"""
- name: Prove the sandbox mTLS setup works, fetching a token with the client credentials
  wise.mtls.verify:
    environment: sandbox
    client_cert_path: /etc/wise-mtls/sandbox/client.pem
    client_key_path: /etc/wise-mtls/sandbox/client.key
    ca_path: /etc/wise-mtls/sandbox/wise-ca.pem
    client_id: "{{ wise_client_id }}"
    client_secret: "{{ wise_client_secret }}"
  register: wise_verify

- name: Show how the call went
  ansible.builtin.debug:
    msg: "{{ wise_verify.status }} over {{ wise_verify.tls_version }} in {{ wise_verify.elapsed }} s"

- name: Check production with a token, and keep going to report every host
  wise.mtls.verify:
    environment: production
    client_cert_path: /etc/wise-mtls/production/client.pem
    client_key_path: /etc/wise-mtls/production/client.key
    client_key_passphrase: "{{ wise_key_passphrase }}"
    ca_path: /etc/wise-mtls/production/wise-ca.pem
    access_token: "{{ wise_access_token }}"
  register: wise_verify_production
  ignore_errors: true

- name: Tell the operator what to do on hosts that failed
  ansible.builtin.debug:
    msg: "{{ wise_verify_production.failure.category }}: {{ wise_verify_production.failure.hint }}"
  when: wise_verify_production is failed

- name: Rehearse against the bundled Wise emulator
  wise.mtls.verify:
    base_url: https://127.0.0.1:8443
    client_cert_path: /etc/wise-mtls/sandbox/client.pem
    client_key_path: /etc/wise-mtls/sandbox/client.key
    ca_path: /var/lib/wise-emulator/wise-ca.pem
    client_id: wise-emulator-demo
    client_secret: "{{ wise_emulator_secret }}"
    tls_version_min: "1.3"
"""

RETURN = r"""
url:
  description: The playground URL that was (or would have been) called.
  returned: always
  type: str
  sample: https://api-mtls.sandbox.transferwise.tech/v1/authenticated/playground
status:
  description: HTTP status of the playground answer.
  returned: when the server answered over HTTP
  type: int
  sample: 200
elapsed:
  description: Seconds the playground request took, from connecting to the last byte of the answer.
  returned: when the server answered over HTTP
  type: float
  sample: 0.184
tls_version:
  description: TLS version of the connection.
  returned: when a TLS handshake completed
  type: str
  sample: TLSv1.3
cipher:
  description: Cipher suite of the connection.
  returned: when a TLS handshake completed
  type: str
  sample: TLS_AES_256_GCM_SHA384
server_certificate:
  description: The certificate the server presented on the live connection.
  returned: when a TLS handshake completed
  type: dict
  contains:
    subject:
      description: Subject, in the one-line form openssl uses.
      type: str
      sample: /CN=api-mtls.sandbox.transferwise.tech
    issuer:
      description: Issuer, in the one-line form openssl uses.
      type: str
      sample: /C=GB/O=Wise/CN=Wise mTLS CA
    serial_number:
      description: Serial number, hexadecimal.
      type: str
      sample: 4f1a3c
    not_before:
      description: Start of validity (UTC, ISO 8601).
      type: str
      sample: "2026-01-01T00:00:00Z"
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
      sample: "2027-01-01T00:00:00Z"
    days_remaining:
      description: Whole days until RV(server_certificate.not_after).
      type: int
      sample: 180
    fingerprint_sha256:
      description: SHA-256 fingerprint of the certificate.
      type: str
      sample: 9e:51:0a:3b:7c:44:d1:2e:88:f0:61:93:af:c2:15:7d:40:6b:e8:0c:31:5a:d9:72:1b:66:c0:8f:e3:24:97:ab
    subject_alt_names:
      description: Names the certificate is valid for.
      type: list
      elements: str
      returned: when the certificate has the extension
      sample: ["DNS:api-mtls.sandbox.transferwise.tech"]
client_certificate:
  description: The client certificate the module presented (the first one in O(client_cert_path)).
  returned: when O(client_cert_path) holds a readable certificate
  type: dict
  contains:
    subject:
      description: Subject, in the one-line form openssl uses.
      type: str
      sample: /C=EU/O=Example Payments Ltd/CN=example-client-id
    issuer:
      description: Issuer, in the one-line form openssl uses.
      type: str
      sample: /CN=Wise client CA
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
      sample: "2027-03-01T12:00:00Z"
    days_remaining:
      description: Whole days until the certificate expires (negative once it has).
      type: int
      sample: 88
    fingerprint_sha256:
      description: SHA-256 fingerprint of the certificate, as Developer Hub lists it.
      type: str
      sample: 3c:91:7a:0e:55:d2:6f:8a:22:4b:90:13:c4:7e:aa:01:5d:6e:9b:c7:32:18:40:f2:5e:a9:61:7d:0b:c4:e3:19
body:
  description:
    - The playground answer as it came, parsed when it is JSON, otherwise text (at most 1 MiB).
    - On a failure, the error body of the playground answer. Bodies of the token endpoint are never returned.
  returned: when the playground request got an HTTP answer
  type: raw
  sample: {"message": "Hello"}
body_truncated:
  description: V(true) when the body was longer than 1 MiB and was cut.
  returned: when the body was cut
  type: bool
  sample: true
token_source:
  description: Where the access token came from, V(access_token) (given) or V(client_credentials) (fetched).
  returned: always
  type: str
  sample: client_credentials
token_url:
  description: The token endpoint called.
  returned: when a token was fetched
  type: str
  sample: https://api-mtls.sandbox.transferwise.tech/oauth/token
failure:
  description: What went wrong, when the check failed.
  returned: on failure
  type: dict
  contains:
    category:
      description:
        - Stable name of the problem.
        - V(client_cert_invalid) - O(client_cert_path) is missing or holds no readable certificate (no network
          traffic).
        - V(client_key_invalid) - O(client_key_path) is missing or unreadable, is encrypted and O(client_key_passphrase)
          is missing or wrong (no network traffic).
        - V(ca_invalid) - O(ca_path) is missing or holds no CA certificate (no network traffic).
        - V(key_mismatch) - the key and the certificate do not belong together (their public keys differ) (no network
          traffic).
        - V(client_cert_expired) - the client certificate has expired or is not valid yet on this host's clock (no
          network traffic).
        - V(dns) - the host name does not resolve.
        - V(connect) - the connection was refused, could not be made, or was dropped after the TLS handshake
          without an answer.
        - V(timeout) - no connection or no answer within O(timeout).
        - V(server_untrusted) - the server's certificate does not chain to O(ca_path) (or the system store), or has
          expired, or is not valid yet.
        - V(hostname_mismatch) - the server's certificate is trusted but not valid for the host name called.
        - V(client_cert_rejected) - the server refused the client certificate with a TLS alert (TLS 1.2 during the
          handshake, TLS 1.3 right after it, for example C(certificate_required), C(unknown_ca),
          C(handshake_failure), C(certificate_revoked)), closed the connection right after a TLS 1.3 handshake, or
          a gateway answered HTTP 400 about the certificate.
        - V(tls_negotiation) - no TLS version or cipher in common.
        - V(tls_error) - any other TLS failure, for example a server that does not speak TLS.
        - V(unauthorized) - HTTP 401; for the playground the token is missing, invalid or expired, for the token
          request the client ID or secret is wrong. Wise's C(error) and C(error_description) are in
          RV(failure.detail).
        - V(forbidden) - HTTP 403.
        - V(unexpected_status) - any other status that is not 2xx (redirects and 5xx included).
        - V(token_failed) - the token endpoint answered 2xx without a usable access token.
      type: str
      sample: client_cert_rejected
    detail:
      description: The underlying error text, with secrets removed.
      type: str
      sample: "127.0.0.1:8443 refused the client certificate: the server does not know the CA that issued the client
        certificate (alert unknown_ca) ([SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580))."
    hint:
      description: What the operator should do about it.
      type: str
      sample: "Use the certificate Developer Hub issued for this environment: a sandbox certificate does not work on
        production and the other way round, and a self-made or other CA's certificate never works."
    step:
      description: Where it failed, V(local_check) (before any traffic), V(token) or V(playground).
      type: str
      sample: playground
    status:
      description: HTTP status, when the failure is an HTTP answer.
      type: int
      returned: when the server answered over HTTP
      sample: 401
    presented_server_certificate:
      description:
        - For V(server_untrusted) and V(hostname_mismatch), the certificate the server presented, read over a second
          connection that does not verify it and sends no client certificate. Same keys as RV(server_certificate).
        - Not available when a TLS 1.2 server ends that handshake before it completes.
      type: dict
      returned: when it could be read
      sample: {"subject": "/CN=api-mtls.sandbox.transferwise.tech", "not_after": "2025-01-01T00:00:00Z"}
"""

import os
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _http as http
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils._cryptography_dep import ensure_cryptography

LOCAL_CHECK = "local_check"
TOKEN = "token"
PLAYGROUND = "playground"


class CheckFailed(Exception):
    """The check failed: category, detail, hint, step, and facts gathered so far."""

    def __init__(self, category, detail, hint, step, **facts):
        super(CheckFailed, self).__init__(detail)
        self.failure = dict(category=category, detail=detail, hint=hint, step=step)
        self.facts = facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            environment=dict(type="str", default="sandbox", choices=sorted(policy.ENVIRONMENTS)),
            base_url=dict(type="str"),
            client_cert_path=dict(type="path", required=True),
            client_key_path=dict(type="path", required=True, no_log=False),
            client_key_passphrase=dict(type="str", no_log=True),
            ca_path=dict(type="path"),
            access_token=dict(type="str", no_log=True),
            client_id=dict(type="str"),
            client_secret=dict(type="str", no_log=True),
            token_url=dict(type="str", no_log=False),
            playground_path=dict(type="str", default=policy.PLAYGROUND_PATH),
            timeout=dict(type="float", default=10),
            tls_version_min=dict(type="str", default="1.2", choices=list(http.TLS_VERSIONS)),
        ),
        mutually_exclusive=[("access_token", "client_id"), ("access_token", "client_secret")],
        required_together=[("client_id", "client_secret")],
        required_one_of=[("access_token", "client_id")],
        supports_check_mode=True,
    )
    ensure_cryptography(module)
    if http.REQUESTS_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("requests", reason="to call Wise over mutual TLS")
                         + " On Debian and Ubuntu install python3-requests; on the RHEL family python3-requests.",
                         exception=http.REQUESTS_IMPORT_ERROR)
    params = module.params
    urls = resolve_urls(module, params)
    result = dict(changed=False, url=urls["playground"],
                  token_source="access_token" if params["access_token"] else "client_credentials")
    try:
        result["client_certificate"] = check_local_files(module, params)
        result.update(call_wise(module, params, urls))
    except CheckFailed as exc:
        result.update(exc.facts)
        module.fail_json(msg="Wise mTLS check failed ({0}): {1} {2}".format(
            exc.failure["category"], exc.failure["detail"], exc.failure["hint"]), failure=exc.failure, **result)
    module.exit_json(**result)


def resolve_urls(module, params):
    base_url = params["base_url"] or policy.environment_base_url(params["environment"])
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password or parts.query \
            or parts.fragment:
        module.fail_json(msg="base_url must be an https:// URL with a host name and nothing else (no user name, "
                             "password, query or fragment), for example https://api-mtls.transferwise.com.")
    playground_path = params["playground_path"]
    if not playground_path.startswith("/"):
        module.fail_json(msg="playground_path must start with '/', for example {0}.".format(policy.PLAYGROUND_PATH))
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds.")
    base_url = base_url.rstrip("/")
    token_url = params["token_url"] or base_url + policy.TOKEN_PATH
    if urlsplit(token_url).scheme != "https":
        module.fail_json(msg="token_url must be an https:// URL: the client secret must not travel in clear text.")
    return dict(base=base_url, playground=base_url + playground_path, token=token_url)


# ---------------------------------------------------------------- before any traffic

def check_local_files(module, params):
    """Facts of the client certificate, after checking certificate, key and CA locally."""
    cert_path = params["client_cert_path"]
    key_path = params["client_key_path"]
    certificate = read_certificate(cert_path)
    facts = describe_client_certificate(certificate)
    private_key = read_private_key(module, key_path, params["client_key_passphrase"], facts)
    if not crypto.public_keys_equal(private_key.public_key(), certificate.public_key()):
        raise CheckFailed(
            "key_mismatch",
            "The key {0} (public key {1}) does not belong to the certificate {2} (public key {3}).".format(
                key_path, crypto.public_key_fingerprint(private_key.public_key()), cert_path,
                crypto.public_key_fingerprint(certificate.public_key())),
            "Point client_key_path at the key the CSR was made from, or client_cert_path at the certificate issued "
            "for this key. During a rotation, check that the live key and certificate were switched together.",
            LOCAL_CHECK, client_certificate=facts)
    now = crypto.utcnow()
    not_before = crypto.certificate_not_before(certificate)
    not_after = crypto.certificate_not_after(certificate)
    if now > not_after:
        raise CheckFailed(
            "client_cert_expired",
            "The client certificate {0} expired on {1} ({2} days ago); Wise refuses it in the handshake.".format(
                cert_path, facts["not_after"], -facts["days_remaining"]),
            "Make a new CSR (rotation playbook), have Developer Hub issue a new certificate and install it. Wise "
            "has no grace period.", LOCAL_CHECK, client_certificate=facts)
    if now < not_before:
        raise CheckFailed(
            "client_cert_expired",
            "The client certificate {0} is not valid before {1}; this host's clock says it is earlier.".format(
                cert_path, http.describe_certificate(certificate)["not_before"]),
            "Check this host's clock (NTP); a certificate Developer Hub just issued is valid at once.",
            LOCAL_CHECK, client_certificate=facts)
    ca_path = params["ca_path"]
    if ca_path and not os.path.isdir(ca_path):
        check_ca_file(ca_path, facts)
    return facts


def read_certificate(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise CheckFailed("client_cert_invalid", "The client certificate {0} cannot be read: {1}.".format(
            path, to_native(exc.strerror or exc)), "Check client_cert_path and that the certificate was installed "
            "(wise.mtls.certificate).", LOCAL_CHECK) from exc
    for label, block in crypto.PemScan(data).blocks:
        if label == "CERTIFICATE":
            try:
                return crypto.load_certificate_pem(block)
            except ValueError as exc:
                raise CheckFailed("client_cert_invalid", "The first certificate in {0} cannot be parsed: {1}.".format(
                    path, to_native(exc)), "Install the certificate again exactly as Developer Hub shows it.",
                    LOCAL_CHECK) from exc
    raise CheckFailed("client_cert_invalid", "{0} holds no PEM certificate.".format(path),
                      "client_cert_path must be the PEM certificate from Developer Hub "
                      "('-----BEGIN CERTIFICATE-----').", LOCAL_CHECK)


def read_private_key(module, path, passphrase, facts):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise CheckFailed("client_key_invalid", "The private key {0} cannot be read: {1}.".format(
            path, to_native(exc.strerror or exc)), "Check client_key_path and that the module runs as a user that may "
            "read the key (become).", LOCAL_CHECK, client_certificate=facts) from exc
    if passphrase and not crypto.is_pem_encrypted(data):
        module.warn("client_key_passphrase is set but the key {0} is not encrypted; the passphrase is not used.".format(
            path))
        passphrase = None
    try:
        return crypto.load_private_key(data, passphrase)
    except crypto.KeyLoadError as exc:
        raise CheckFailed("client_key_invalid", "The private key {0} cannot be used: {1}.".format(path, exc),
                          "Check client_key_path and client_key_passphrase.", LOCAL_CHECK,
                          client_certificate=facts) from exc


def check_ca_file(path, facts):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise CheckFailed("ca_invalid", "The CA file {0} cannot be read: {1}.".format(path, to_native(
            exc.strerror or exc)), "Point ca_path at the Wise CA certificate from Developer Hub ('Get Wise "
            "Certificate'), or install it with wise.mtls.ca_trust.", LOCAL_CHECK, client_certificate=facts) from exc
    if not [label for label, _block in crypto.PemScan(data).blocks if label == "CERTIFICATE"]:
        raise CheckFailed("ca_invalid", "The CA file {0} holds no PEM certificate.".format(path),
                          "Point ca_path at the Wise CA certificate (PEM) from Developer Hub.", LOCAL_CHECK,
                          client_certificate=facts)


def describe_client_certificate(certificate):
    facts = http.describe_certificate(certificate)
    return dict((key, facts[key]) for key in ("subject", "issuer", "not_after", "days_remaining", "fingerprint_sha256"))


# ---------------------------------------------------------------- over the network

def call_wise(module, params, urls):
    try:
        context = http.build_context(
            ca_path=params["ca_path"], client_cert_path=params["client_cert_path"],
            client_key_path=params["client_key_path"], client_key_passphrase=params["client_key_passphrase"],
            tls_version_min=params["tls_version_min"])
    except http.SetupError as exc:
        raise CheckFailed(exc.category, exc.detail, exc.hint, LOCAL_CHECK) from exc
    client = http.MtlsClient(context, timeout=params["timeout"],
                             secrets=[params["access_token"], params["client_secret"], params["client_key_passphrase"]])
    try:
        facts = {}
        token = params["access_token"]
        if token is None:
            token = fetch_token(module, client, params, urls["token"])
            facts["token_url"] = urls["token"]
        exchange = send(client, "GET", urls["playground"], PLAYGROUND, facts, auth=http.BearerAuth(token),
                        headers={"Accept": "application/json"})
        facts.update(status=exchange.status, elapsed=round(exchange.elapsed, 3),
                     body=client.scrub(exchange.body))
        if exchange.body_truncated:
            facts["body_truncated"] = True
        problem = http.classify_status(exchange.status, exchange.body, PLAYGROUND, exchange.headers)
        if problem:
            category, detail, hint = problem
            failure_status(category, client.scrub(detail), hint, PLAYGROUND, exchange.status, facts)
        return facts
    finally:
        client.close()


def fetch_token(module, client, params, token_url):
    facts = {"token_url": token_url}
    exchange = send(client, "POST", token_url, TOKEN, facts, auth=(params["client_id"], params["client_secret"]),
                    headers={"Accept": "application/json"}, data={"grant_type": "client_credentials"})
    problem = http.classify_status(exchange.status, exchange.body, TOKEN, exchange.headers)
    if problem:
        category, detail, hint = problem
        failure_status(category, client.scrub(detail), hint, TOKEN, exchange.status, facts)
    token = exchange.body.get("access_token") if isinstance(exchange.body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise CheckFailed(
            "token_failed", "The token endpoint {0} answered HTTP {1} without an access_token.".format(
                token_url, exchange.status),
            "Check token_url: it must be Wise's /oauth/token on the mTLS host of this environment.", TOKEN,
            status=exchange.status, **facts)
    # From here on the token is a secret like the parameters marked no_log.
    module.no_log_values.add(token)
    client.add_secret(token)
    return token


def send(client, method, url, step, facts, **kwargs):
    try:
        exchange = client.request(method, url, **kwargs)
    except http.TransportError as exc:
        if exc.handshake is not None:
            facts.update(exc.handshake.describe())
        error = CheckFailed(exc.category, exc.detail, exc.hint, step, **facts)
        if exc.category in (http.SERVER_UNTRUSTED, http.HOSTNAME_MISMATCH):
            # What the server showed, to tell a wrong CA file from a wrong server or an intercepting proxy.
            presented = http.fetch_presented_certificate(url, client.timeout)
            if presented:
                error.failure["presented_server_certificate"] = presented
        raise error from exc
    if exchange.handshake is not None:
        facts.update(exchange.handshake.describe())
    return exchange


def failure_status(category, detail, hint, step, status, facts):
    error = CheckFailed(category, detail, hint, step, **facts)
    error.failure["status"] = status
    raise error


if __name__ == "__main__":
    main()
