# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""The TLS/HTTP layer over requests: mutual TLS calls to Wise, and why they failed.

One ssl.SSLContext carries everything about trust and identity (the Wise CA or the system
store, the client certificate and key - an encrypted key is decrypted by OpenSSL in memory,
never written anywhere - and the lowest TLS version); requests and urllib3 only carry HTTP.
The context records every TLS handshake it completes, so the version, cipher and server
certificate of the live connection are known without reaching into urllib3's internals,
and a connection that dies right after a TLS 1.3 handshake can be told apart from one that
never got that far.

Every failure becomes a TransportError with a stable category, the underlying error text
(secrets removed) and a hint for the operator, read from the real exception chain
(requests -> urllib3 -> ssl / socket). Works with requests 2.25.1 (urllib3 1.26) and newer
(urllib3 2.x). Imports nothing from Ansible.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import ssl
import time
import traceback
from urllib.parse import urlsplit

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto

try:
    import requests
    from requests.adapters import HTTPAdapter

    REQUESTS_IMPORT_ERROR = None
    REQUESTS_VERSION = requests.__version__
except ImportError:  # reported by the module with missing_required_lib()
    requests = None
    HTTPAdapter = object
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    REQUESTS_VERSION = None

TLS_VERSIONS = ("1.2", "1.3")
MAX_BODY_BYTES = 1024 * 1024
MASK = "********"

# ---------------------------------------------------------------- failure categories

DNS = "dns"
CONNECT = "connect"
TIMEOUT = "timeout"
SERVER_UNTRUSTED = "server_untrusted"
HOSTNAME_MISMATCH = "hostname_mismatch"
CLIENT_CERT_REJECTED = "client_cert_rejected"
TLS_NEGOTIATION = "tls_negotiation"
TLS_ERROR = "tls_error"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
UNEXPECTED_STATUS = "unexpected_status"
TOKEN_FAILED = "token_failed"
CA_INVALID = "ca_invalid"
CLIENT_CERT_INVALID = "client_cert_invalid"
CLIENT_KEY_INVALID = "client_key_invalid"

# OpenSSL verify codes (X509_V_ERR_*) that need their own words.
_VERIFY_HOSTNAME_MISMATCH = (62, 64)  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_VERIFY_EXPIRED = 10
_VERIFY_NOT_YET_VALID = 9
_VERIFY_UNKNOWN_ISSUER = (2, 18, 19, 20, 21)

# TLS alerts by which a server refuses the client certificate (OpenSSL reason codes), with
# what each one means for the operator.
_CLIENT_CERT_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (
        "the server requires a client certificate and received none (TLS 1.3 alert certificate_required)",
        "Give the module the client certificate and key that Wise issued (client_cert_path, client_key_path)."),
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (
        "the server ended the handshake (alert handshake_failure); on a TLS 1.2 mTLS host this almost always means "
        "it did not accept the client certificate, rarely that no cipher was in common",
        "Check that the certificate was issued by Wise for this environment (sandbox and production have their own "
        "certificates), is still active in Developer Hub, and belongs to the key given."),
    "TLSV1_ALERT_UNKNOWN_CA": (
        "the server does not know the CA that issued the client certificate (alert unknown_ca)",
        "Use the certificate Developer Hub issued for this environment: a sandbox certificate does not work on "
        "production and the other way round, and a self-made or other CA's certificate never works."),
    "SSLV3_ALERT_BAD_CERTIFICATE": (
        "the server rejected the client certificate as bad (alert bad_certificate)",
        "Install the certificate exactly as Developer Hub issued it, with the key it was made for."),
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": (
        "the server does not support the client certificate (alert unsupported_certificate)",
        "Make a new key and CSR that follow Wise's rules (wise.mtls.private_key, wise.mtls.csr) and have it signed."),
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": (
        "the server could not accept the client certificate (alert certificate_unknown)",
        "Check that the certificate was issued by Wise for this environment and is active in Developer Hub."),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": (
        "the server says the client certificate has expired (alert certificate_expired)",
        "Renew the certificate in Developer Hub (rotation playbook); if it should still be valid, check the clock "
        "of this host and of the server."),
    "SSLV3_ALERT_CERTIFICATE_REVOKED": (
        "the server says the client certificate was revoked (alert certificate_revoked)",
        "The certificate was revoked in Developer Hub: install a current certificate for this key or make a new one."),
    "TLSV1_ALERT_ACCESS_DENIED": (
        "the server denied access to this client certificate (alert access_denied)",
        "Check in Developer Hub that the certificate is active and that mTLS is enabled for this client."),
    "TLSV1_ALERT_DECRYPT_ERROR": (
        "the server could not verify the handshake signature made with the client key (alert decrypt_error)",
        "Check that client_key_path is the key the certificate was issued for."),
}
_NEGOTIATION_REASONS = (
    "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "NO_SHARED_CIPHER",
    "SSLV3_ALERT_INSUFFICIENT_SECURITY", "TLSV1_ALERT_INSUFFICIENT_SECURITY", "NO_CIPHERS_AVAILABLE",
    "VERSION_TOO_LOW", "VERSION_TOO_HIGH",
)
_SSL_REASON_RE = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
_DNS_TEXT_RE = re.compile(r"Name or service not known|nodename nor servname|Temporary failure in name resolution|"
                          r"No address associated with hostname|getaddrinfo failed|Failed to resolve", re.I)


class TransportError(Exception):
    """A call that did not give an HTTP answer: category, detail, hint (and TLS facts when known)."""

    def __init__(self, category, detail, hint, handshake=None):
        super(TransportError, self).__init__(detail)
        self.category = category
        self.detail = detail
        self.hint = hint
        self.handshake = handshake


class SetupError(Exception):
    """A local file the TLS context needs cannot be used (nothing was sent)."""

    def __init__(self, category, detail, hint):
        super(SetupError, self).__init__(detail)
        self.category = category
        self.detail = detail
        self.hint = hint


# ---------------------------------------------------------------- TLS context

class Handshake(object):
    """What one completed TLS handshake showed: version, cipher and the server's certificate (DER)."""

    def __init__(self, version=None, cipher=None, peer_certificate_der=None, source="connection"):
        self.version = version
        self.cipher = cipher
        self.peer_certificate_der = peer_certificate_der
        self.source = source

    @classmethod
    def capture(cls, tls, source="connection"):
        """Read the facts from an SSLSocket or SSLObject; None when its handshake has not completed."""
        try:
            version = tls.version()
            cipher = tls.cipher()
            der = tls.getpeercert(binary_form=True)
        except (AttributeError, ValueError, OSError):
            return None
        if not version:
            return None
        return cls(version, cipher[0] if cipher else None, der, source)

    def describe(self):
        facts = dict(tls_version=self.version, cipher=self.cipher)
        if self.peer_certificate_der:
            facts["server_certificate"] = describe_certificate_der(self.peer_certificate_der)
        return facts


class RecordingContext(ssl.SSLContext):
    """An SSLContext that remembers the TLS connections it made, for facts and for failure analysis."""

    def wrap_socket(self, *args, **kwargs):
        tls = super(RecordingContext, self).wrap_socket(*args, **kwargs)
        # urllib3 connects before wrapping, so the handshake is complete here; keep the facts now,
        # the socket may be closed by the time anybody asks.
        self._remember(Handshake.capture(tls) or tls)
        return tls

    def wrap_bio(self, *args, **kwargs):
        # TLS inside a TLS proxy tunnel: the handshake happens later, so keep the object itself.
        tls = super(RecordingContext, self).wrap_bio(*args, **kwargs)
        self._remember(tls)
        return tls

    def _remember(self, item):
        if not hasattr(self, "connections"):
            self.connections = []
        self.connections.append(item)

    def handshakes_since(self, mark):
        found = []
        for item in getattr(self, "connections", [])[mark:]:
            handshake = item if isinstance(item, Handshake) else Handshake.capture(item)
            if handshake is not None:
                found.append(handshake)
        return found

    def mark(self):
        return len(getattr(self, "connections", []))


def build_context(ca_path=None, client_cert_path=None, client_key_path=None, client_key_passphrase=None,
                  tls_version_min="1.2"):
    """The SSLContext for Wise: trust, client identity and TLS versions. Raises SetupError."""
    context = RecordingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if tls_version_min == "1.3" else ssl.TLSVersion.TLSv1_2
    # The host name is matched by urllib3 (1.26 and 2.x alike) once the chain is verified: OpenSSL's own
    # check needs a server_hostname, which urllib3 1.26 leaves out for IP addresses.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_path:
        try:
            if os.path.isdir(ca_path):
                context.load_verify_locations(capath=ca_path)
            else:
                context.load_verify_locations(cafile=ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise SetupError(CA_INVALID, "The CA file {0} cannot be used: {1}".format(ca_path, _error_text(exc)),
                             "Point ca_path at the Wise CA certificate (PEM) that Developer Hub's "
                             "'Get Wise Certificate' downloads.") from exc
    else:
        context.load_default_certs()
    if client_cert_path:
        secret = crypto.to_bytes(client_key_passphrase) if client_key_passphrase else b""

        def passphrase():
            # Always a callback: OpenSSL would otherwise prompt on a terminal for an encrypted key.
            return secret

        try:
            context.load_cert_chain(client_cert_path, client_key_path or None, password=passphrase)
        except ssl.SSLError as exc:
            raise SetupError(CLIENT_KEY_INVALID,
                             "The client certificate and key cannot be loaded together: {0}".format(_error_text(exc)),
                             "Check client_key_path, its passphrase and that it is the key of client_cert_path.") from exc
        except OSError as exc:
            raise SetupError(CLIENT_CERT_INVALID, "The client certificate or key cannot be read: {0}".format(
                _error_text(exc)), "Check client_cert_path and client_key_path and their permissions.") from exc
    return context


class _ContextAdapter(HTTPAdapter):
    """A requests adapter whose every connection (direct or through a proxy) uses one SSLContext."""

    def __init__(self, ssl_context, **kwargs):
        self._wise_ssl_context = ssl_context  # set before HTTPAdapter.__init__ builds the pool manager
        super(_ContextAdapter, self).__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._wise_ssl_context
        return super(_ContextAdapter, self).init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        proxy_kwargs["ssl_context"] = self._wise_ssl_context
        return super(_ContextAdapter, self).proxy_manager_for(proxy, **proxy_kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        # Trust anchors and the client certificate live in the SSLContext only: never let requests add
        # REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or certifi's bundle to it, nor a certificate of its own.
        return super(_ContextAdapter, self).send(request, stream=stream, timeout=timeout, verify=True, cert=None,
                                                 proxies=proxies)

    def cert_verify(self, conn, url, verify, cert):
        # requests < 2.32 would load certifi's bundle into the context here for verify=True.
        conn.cert_reqs = "CERT_REQUIRED"


# ---------------------------------------------------------------- HTTP

if requests is not None:
    class BearerAuth(requests.auth.AuthBase):
        """Authorization: Bearer <token>, given as auth so that requests never swaps in .netrc credentials."""

        def __init__(self, token):
            self.token = token

        def __call__(self, request):
            request.headers["Authorization"] = "Bearer " + self.token
            return request

        def __repr__(self):
            return "BearerAuth(********)"


class Exchange(object):
    """An HTTP answer: status, parsed body, time taken and the TLS handshake it came over."""

    def __init__(self, url, status, reason, headers, body, body_truncated, elapsed, handshake):
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.body_truncated = body_truncated
        self.elapsed = elapsed
        self.handshake = handshake

    @property
    def ok(self):
        return 200 <= self.status < 300


class MtlsClient(object):
    """Mutual-TLS HTTP calls with one SSLContext; failures raise TransportError."""

    def __init__(self, context, timeout=10.0, secrets=()):
        self.context = context
        self.timeout = timeout
        self.secrets = [secret for secret in secrets if secret]
        self.session = requests.Session()
        adapter = _ContextAdapter(context)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def add_secret(self, secret):
        if secret:
            self.secrets.append(secret)

    def close(self):
        self.session.close()

    def request(self, method, url, auth=None, headers=None, data=None):
        mark = self.context.mark()
        started = time.monotonic()
        try:
            # No redirects: a redirect is reported (it would also drop or leak the Authorization header).
            response = self.session.request(method, url, auth=auth, headers=headers, data=data,
                                            timeout=self.timeout, allow_redirects=False, stream=True, verify=True)
            try:
                handshake = self._handshake(mark, response)
                raw_body, truncated = _read_body(response)
            finally:
                response.close()
        except (requests.RequestException, OSError, ValueError) as exc:
            handshakes = self.context.handshakes_since(mark)
            category, detail, hint = classify_exception(exc, handshakes[-1] if handshakes else None, url, self.timeout)
            raise TransportError(category, self.scrub(detail), hint, handshakes[-1] if handshakes else None) from exc
        elapsed = time.monotonic() - started
        body = _decode_body(raw_body, response.headers.get("Content-Type", ""))
        return Exchange(url, response.status_code, response.reason, dict(response.headers), body, truncated,
                        elapsed, handshake)

    def _handshake(self, mark, response):
        handshakes = self.context.handshakes_since(mark)
        if handshakes:
            return handshakes[-1]
        # A connection reused from an earlier call: its socket is on the response.
        handshake = Handshake.capture(_response_socket(response), source="connection")
        if handshake is not None:
            return handshake
        return probe_handshake(self.context, response.url, self.timeout)

    def scrub(self, value):
        return scrub(value, self.secrets)


def _response_socket(response):
    raw = getattr(response, "raw", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:  # http.client's response reads from sock.makefile()
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock


def probe_handshake(context, url, timeout):
    """A separate handshake with the same context, when the live connection's facts are out of reach."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=_sni(parts.hostname)) as tls:
                handshake = Handshake.capture(tls, source="separate_handshake")
    except (OSError, ValueError):
        return None
    return handshake


def fetch_presented_certificate(url, timeout):
    """The server certificate as presented, unverified and without a client certificate (diagnostics only).

    A TLS 1.2 server that requires a client certificate ends the handshake before Python lets
    anyone read the peer certificate; then this returns None.
    """
    parts = urlsplit(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=_sni(parts.hostname)) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return describe_certificate_der(der) if der else None


def _sni(hostname):
    return None if _is_ip_address(hostname) else hostname


def _is_ip_address(hostname):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, hostname)
            return True
        except (OSError, ValueError):
            continue
    return False


def _read_body(response):
    chunks = []
    size = 0
    for chunk in response.iter_content(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:MAX_BODY_BYTES], True
    return b"".join(chunks), False


def _decode_body(raw, content_type):
    text = raw.decode(_charset(content_type), "replace")
    if "json" in content_type.lower() or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _charset(content_type):
    match = re.search(r"charset=([A-Za-z0-9_.:-]+)", content_type or "")
    if match:
        try:
            "".encode(match.group(1))
            return match.group(1)
        except LookupError:
            pass
    return "utf-8"


# ---------------------------------------------------------------- certificates

def describe_certificate_der(der):
    """Public facts of a certificate: subject, issuer, validity, fingerprint, names."""
    certificate = crypto.load_certificate_der(der)
    return describe_certificate(certificate)


def describe_certificate(certificate, now=None):
    now = now or crypto.utcnow()
    not_after = crypto.certificate_not_after(certificate)
    facts = dict(
        subject=crypto.name_to_string(certificate.subject),
        issuer=crypto.name_to_string(certificate.issuer),
        serial_number="{0:x}".format(certificate.serial_number),
        not_before=_iso(crypto.certificate_not_before(certificate)),
        not_after=_iso(not_after),
        days_remaining=int((not_after - now).total_seconds() // 86400),
        fingerprint_sha256=crypto.certificate_fingerprint(certificate),
    )
    names = _subject_alt_names(certificate)
    if names is not None:
        facts["subject_alt_names"] = names
    return facts


def _subject_alt_names(certificate):
    from cryptography import x509

    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    names = ["DNS:" + value for value in extension.value.get_values_for_type(x509.DNSName)]
    names += ["IP:" + str(value) for value in extension.value.get_values_for_type(x509.IPAddress)]
    return names


def _iso(value):
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- classification

def exception_chain(exc):
    """exc and every exception it wraps (args, reason, cause, context), outermost first, each once."""
    seen = []
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or any(current is item for item in seen):
            continue
        seen.append(current)
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        for attribute in ("reason", "original_error", "__cause__", "__context__"):
            pending.append(getattr(current, attribute, None))
    return seen


def _type_names(exc):
    return [klass.__name__ for klass in type(exc).__mro__]


def classify_exception(exc, handshake=None, url=None, timeout=None):
    """(category, detail, hint) for an exception from requests; handshake: the last completed one, if any."""
    chain = exception_chain(exc)
    where = _where(url)

    # Typed evidence first (verify codes, certificate errors), then what only the text says.
    for strict in (True, False):
        for item in chain:
            result = _classify_certificate_error(item, where, strict)
            if result:
                return result

    ssl_errors = [item for item in chain if isinstance(item, ssl.SSLError)]
    for item in ssl_errors:
        reason = _ssl_reason(item)
        if reason in _CLIENT_CERT_ALERTS:
            meaning, hint = _CLIENT_CERT_ALERTS[reason]
            return (CLIENT_CERT_REJECTED, "{0} refused the client certificate: {1} ({2}).".format(
                where, meaning, _error_text(item)), hint)
        if reason in _NEGOTIATION_REASONS:
            return (TLS_NEGOTIATION, "{0} and this host have no TLS version or cipher in common ({1}).".format(
                where, _error_text(item)),
                "Wise requires TLS 1.2 or newer: check tls_version_min and that this host's OpenSSL supports "
                "TLS 1.2 and 1.3.")
    # Text-only SSL errors (some wrappers keep only the message).
    for item in chain:
        match = _SSL_REASON_RE.search(str(item))
        if match and match.group(1) in _CLIENT_CERT_ALERTS:
            meaning, hint = _CLIENT_CERT_ALERTS[match.group(1)]
            return (CLIENT_CERT_REJECTED, "{0} refused the client certificate: {1} ({2}).".format(
                where, meaning, str(item)), hint)

    if any(_is_timeout(item) for item in chain):
        within = "{0:g} s".format(timeout) if timeout else "the timeout"
        stage = "after the TLS handshake" if handshake is not None else "while connecting"
        detail = "{0} did not answer within {1}, {2} ({3}).".format(where, within, stage, _innermost_text(chain))
        return (TIMEOUT, detail,
                "Check that this host may reach the Wise mTLS host on port 443 (firewall, proxy, routing); "
                "raise timeout if the network is slow.")

    if any(_is_dns_error(item) for item in chain):
        return (DNS, "The host name in {0} cannot be resolved ({1}).".format(where, _innermost_text(chain)),
                "Check the spelling of base_url (or environment) and this host's DNS resolver; a name that only "
                "resolves inside another network needs a resolver or hosts entry here.")

    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        return (CONNECT, "{0} refused the connection: nothing listens on that port ({1}).".format(
            where, _innermost_text(chain)),
            "Check the port in base_url, that the server runs, and any firewall between this host and Wise.")

    closed = [item for item in chain if _is_connection_closed(item)]
    if closed:
        if handshake is not None and handshake.version == "TLSv1.3":
            return (CLIENT_CERT_REJECTED,
                    "{0} closed the connection right after the TLS 1.3 handshake, before any HTTP answer ({1}). "
                    "This is how a TLS 1.3 server rejects a client certificate.".format(where, _innermost_text(chain)),
                    "Check that the certificate was issued by Wise for this environment, is active in Developer "
                    "Hub, is not expired, and belongs to the key given.")
        if handshake is not None:
            return (CONNECT, "{0} closed the connection after the TLS handshake without an HTTP answer ({1}).".format(
                where, _innermost_text(chain)),
                "The server or a proxy in between dropped the request: retry, and check proxies and the URL.")
        return (TLS_ERROR, "{0} closed the connection during the TLS handshake ({1}).".format(
            where, _innermost_text(chain)),
            "The server dropped the handshake: check that base_url is Wise's mTLS host and port, that no proxy "
            "intercepts TLS, and that the client certificate is the one Wise issued.")

    if ssl_errors:
        detail = _error_text(ssl_errors[-1])
        hint = "Check that base_url points at Wise's mTLS host over HTTPS and that no proxy intercepts TLS."
        if _ssl_reason(ssl_errors[-1]) == "WRONG_VERSION_NUMBER":
            hint = "The server did not speak TLS: check that base_url uses https:// and the HTTPS port."
        return (TLS_ERROR, "The TLS connection to {0} failed: {1}.".format(where, detail), hint)

    if any(isinstance(item, OSError) for item in chain) or _is_requests_connection_error(exc):
        return (CONNECT, "Cannot connect to {0}: {1}.".format(where, _innermost_text(chain)),
                "Check the network path from this host to Wise (routing, firewall, proxy settings).")
    return (TLS_ERROR, "The request to {0} failed: {1}.".format(where, _innermost_text(chain)),
            "Run the task again with -vvv and check base_url.")


def _classify_certificate_error(item, where, strict):
    names = _type_names(item)
    verify_code = getattr(item, "verify_code", None)
    verify_message = getattr(item, "verify_message", None)
    text = str(item)
    if not strict:
        if isinstance(item, ssl.SSLError) and _ssl_reason(item) == "CERTIFICATE_VERIFY_FAILED":
            return (SERVER_UNTRUSTED, "The server's certificate cannot be verified ({0}): {1}.".format(where, text),
                    "Set ca_path to the Wise CA certificate from Developer Hub for this environment.")
        return None
    if verify_code in _VERIFY_HOSTNAME_MISMATCH or (
            "CertificateError" in names and "SSLCertVerificationError" not in names) or (
            "SSLCertVerificationError" in names and verify_code is None and "match" in text):
        return (HOSTNAME_MISMATCH,
                "The server's certificate ({0}) is not valid for the host name called: {1}.".format(where, text),
                "Use the Wise mTLS host name exactly as Wise gives it (environment, or base_url); connecting by IP "
                "address or another alias fails this check on purpose.")
    if verify_code is not None or "SSLCertVerificationError" in names:
        if verify_code == _VERIFY_EXPIRED:
            what = "The server's certificate has expired"
            hint = ("If this is really Wise, check this host's clock; otherwise something intercepts the connection "
                    "or base_url points at the wrong server.")
        elif verify_code == _VERIFY_NOT_YET_VALID:
            what = "The server's certificate is not valid yet"
            hint = "Check this host's clock (NTP)."
        elif verify_code in _VERIFY_UNKNOWN_ISSUER:
            what = "The server's certificate was not issued by a CA this host trusts"
            hint = ("Set ca_path to the Wise CA certificate from Developer Hub ('Get Wise Certificate') for this "
                    "environment, or install it with wise.mtls.ca_trust. A proxy that intercepts TLS also causes "
                    "this.")
        else:
            what = "The server's certificate cannot be verified"
            hint = "Set ca_path to the Wise CA certificate from Developer Hub for this environment."
        detail = "{0} ({1}): {2}; {3}.".format(what, where, verify_message or "verification failed", text)
        return (SERVER_UNTRUSTED, detail, hint)
    return None


def _ssl_reason(exc):
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    match = _SSL_REASON_RE.search(str(exc))
    return match.group(1) if match else None


def _is_timeout(exc):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return True
    # The exact class only: urllib3's NewConnectionError (refused, unreachable) derives from ConnectTimeoutError.
    if type(exc).__name__ in ("Timeout", "ConnectTimeout", "ReadTimeout", "ConnectTimeoutError", "ReadTimeoutError"):
        return True
    return isinstance(exc, ssl.SSLError) and "timed out" in str(exc)


def _is_dns_error(exc):
    if isinstance(exc, socket.gaierror) or "NameResolutionError" in _type_names(exc):
        return True
    return "NewConnectionError" in _type_names(exc) and bool(_DNS_TEXT_RE.search(str(exc)))


def _is_connection_closed(exc):
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLEOFError,
                        ssl.SSLZeroReturnError)):
        return True
    names = _type_names(exc)
    if "RemoteDisconnected" in names or "IncompleteRead" in names:
        return True
    if isinstance(exc, ssl.SSLError) and _ssl_reason(exc) in ("UNEXPECTED_EOF_WHILE_READING",):
        return True
    return "ProtocolError" in names and "Connection aborted" in str(exc) and "BadStatusLine" not in str(exc)


def _is_requests_connection_error(exc):
    return requests is not None and isinstance(exc, requests.ConnectionError)


_LOW_LEVEL_MODULES = ("builtins", "ssl", "_ssl", "socket", "_socket", "http.client")


def _innermost_text(chain):
    """The most specific error text: that of the first socket, ssl or http.client error in the chain."""
    for item in chain:
        if type(item).__module__ in _LOW_LEVEL_MODULES and str(item).strip():
            return _error_text(item)
    return _error_text(chain[-1])


def _error_text(exc):
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    if text.startswith("[") or type(exc).__name__ in text:
        return text
    return "{0}: {1}".format(type(exc).__name__, text)


def _where(url):
    if not url:
        return "the server"
    parts = urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError:
        port = "?"
    return "{0}:{1}".format(parts.hostname, port)


# ---------------------------------------------------------------- HTTP status

def classify_status(status, body, step="playground", headers=None):
    """(category, detail, hint) for a non-2xx answer; None for 2xx."""
    if 200 <= status < 300:
        return None
    error, description = wise_error(body)
    said = ""
    if error or description:
        said = ": Wise says {0}".format(" - ".join(part for part in (error, description) if part))
    if status == 401:
        if step == "token":
            hint = ("The client ID or client secret is wrong (or not for this environment): copy both from Developer "
                    "Hub for the environment of base_url.")
        else:
            hint = ("The access token is missing, invalid or expired (they last about 12 hours): get a fresh one, "
                    "or give client_id and client_secret so the module fetches one.")
        return (UNAUTHORIZED, "HTTP 401 from the {0} request{1}.".format(_step_name(step), said), hint)
    if status == 403:
        return (FORBIDDEN, "HTTP 403 from the {0} request{1}.".format(_step_name(step), said),
                "The server knows who you are but refuses: check that the token and the client certificate belong to "
                "the same Wise client (API client ID), that the certificate is active in Developer Hub, and that the "
                "client may call this endpoint.")
    if status == 400 and _says_client_certificate(body):
        return (CLIENT_CERT_REJECTED, "HTTP 400 from the {0} request: the gateway rejected or did not receive the "
                "client certificate{1}.".format(_step_name(step), said or ": " + _short(body)),
                "Check that the certificate was issued by Wise for this environment and belongs to the key given.")
    if 300 <= status < 400:
        location = (headers or {}).get("Location")
        return (UNEXPECTED_STATUS, "HTTP {0} from the {1} request: a redirect{2}, which the module does not "
                "follow.".format(status, _step_name(step), " to " + location if location else ""),
                "Use the Wise mTLS base URL itself (https://, no path) for base_url.")
    if status == 404:
        hint = "Check base_url and the path (playground_path or token_url)."
    elif status >= 500:
        hint = ("The server failed: retry later and check Wise's status page; if it keeps failing, contact Wise "
                "support with the time of the call.")
    else:
        hint = "Check base_url, token_url and playground_path; Wise answered something the module does not expect."
    return (UNEXPECTED_STATUS, "HTTP {0} from the {1} request{2}.".format(status, _step_name(step), said), hint)


def wise_error(body):
    """Wise's error and error_description from a JSON error body, or (None, None)."""
    if isinstance(body, dict):
        error = body.get("error")
        description = body.get("error_description") or body.get("message")
        return (error if isinstance(error, str) else None, description if isinstance(description, str) else None)
    return None, None


def _says_client_certificate(body):
    text = body if isinstance(body, str) else json.dumps(body)
    return bool(re.search(r"ssl certificate|client certificate|certificate required", text, re.I))


def _short(body, limit=200):
    text = body if isinstance(body, str) else json.dumps(body)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text[:limit]


def _step_name(step):
    return {"token": "token", "playground": "playground"}.get(step, step)


# ---------------------------------------------------------------- secrets

def scrub(value, secrets):
    """value (text, list or dict) with every secret replaced by a mask."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            if secret:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return dict((key, scrub(item, secrets)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub(item, secrets) for item in value]
    return value
