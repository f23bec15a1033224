# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state directory: CAs, server certificates, clients, file modes."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import stat

import pytest
from cryptography import x509

from wise_emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, _files, pki
from wise_emulator._compat import not_valid_after, not_valid_before, utcnow
from wise_emulator.state import StateDir, StateError


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _all_files(root):
    for folder, _dirs, files in os.walk(root):
        for name in files:
            yield os.path.join(folder, name)


def test_init_creates_layout_and_is_idempotent(tmp_path):
    emu = Emulator(tmp_path / "state")
    created = emu.init()
    assert "Wise emulator server CA" in created and "Wise emulator client-issuing CA" in created
    assert "API client %s" % DEFAULT_CLIENT_ID in created
    snapshot = dict((p, _files.read_bytes(p)) for p in _all_files(emu.state_dir))
    assert emu.init() == []
    assert dict((p, _files.read_bytes(p)) for p in _all_files(emu.state_dir)) == snapshot
    for path in (emu.ca_path, emu.client_ca_path, os.path.join(emu.state_dir, "certificates.json")):
        assert os.path.isfile(path)


def test_private_files_are_0600_and_private_dir_0700(state_emulator):
    state = state_emulator.state
    keys = [p for p in _all_files(state.path) if p.endswith(".key")]
    assert len(keys) == 7
    for path in keys + [state.clients_path, state.lock_path]:
        assert _mode(path) == 0o600, path
    assert _mode(state.private_dir) == 0o700
    assert _mode(state.path) == 0o700


def test_private_key_is_0600_from_first_byte_even_with_open_umask(tmp_path):
    old = os.umask(0)
    try:
        seen = []
        real_fdopen = os.fdopen

        def spy(fd, *args, **kwargs):
            # At the moment the first byte is written, the file must already be 0600.
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
            return real_fdopen(fd, *args, **kwargs)

        os.fdopen = spy
        try:
            _files.write_file_atomic(str(tmp_path / "k.key"), b"secret", mode=0o600)
        finally:
            os.fdopen = real_fdopen
    finally:
        os.umask(old)
    assert seen == [0o600]
    assert _mode(tmp_path / "k.key") == 0o600


def test_server_ca_and_client_issuing_ca_are_distinct(state_emulator, tmp_path):
    server_ca = pki.load_cert(state_emulator.ca_path)
    client_ca = pki.load_cert(state_emulator.client_ca_path)
    assert server_ca.subject != client_ca.subject
    assert server_ca.public_key().public_numbers() != client_ca.public_key().public_numbers()
    for ca in (server_ca, client_ca):
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    issued = state_emulator.issue_client_certificate("distinct", out_dir=str(tmp_path))
    cert = pki.load_cert(issued.cert_path)
    assert cert.issuer == client_ca.subject
    assert cert.issuer != server_ca.subject


def test_valid_server_certificate_names(state_emulator):
    cert = pki.load_cert(state_emulator.state.server_cert_path("valid"))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "localhost", "api-mtls.sandbox.transferwise.tech", "api-mtls.wise-sandbox.com", "api-mtls.transferwise.com"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    assert cert.issuer == pki.load_cert(state_emulator.ca_path).subject
    assert not_valid_before(cert) <= utcnow() < not_valid_after(cert)


def test_misbehaving_server_certificates(state_emulator):
    state = state_emulator.state
    server_ca = pki.load_cert(state.ca_path)
    expired = pki.load_cert(state.server_cert_path("expired"))
    assert not_valid_after(expired) < utcnow()
    assert expired.issuer == server_ca.subject
    unknown = pki.load_cert(state.server_cert_path("unknown-ca"))
    assert unknown.issuer != server_ca.subject
    assert unknown.issuer == pki.load_cert(state.unknown_ca_path).subject
    wrong = pki.load_cert(state.server_cert_path("wrong-host"))
    san = wrong.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [pki.WRONG_HOST_NAME]
    assert san.get_values_for_type(x509.IPAddress) == []
    assert wrong.issuer == server_ca.subject


def test_init_renews_a_valid_server_certificate_close_to_its_end(state_emulator):
    state = state_emulator.state
    server_ca = pki.load_cert(state.ca_path)
    ca_key = pki.load_key(state.key_path("server-ca"))
    now = utcnow()
    cert, key = pki.make_server_cert(server_ca, ca_key, not_before=now - datetime.timedelta(days=800),
                                     not_after=now + datetime.timedelta(days=3))
    _files.write_file_atomic(state.server_key_path("valid"), pki.key_to_pem(key), mode=0o600)
    _files.write_file_atomic(state.server_cert_path("valid"), pki.cert_to_pem(cert))
    assert state_emulator.init() == ["server certificate (valid)"]
    renewed = pki.load_cert(state.server_cert_path("valid"))
    assert not_valid_after(renewed) > now + datetime.timedelta(days=300)


def test_init_registers_clients_with_hashed_secrets(state_emulator):
    state = state_emulator.state
    result = state_emulator.cli("init", "--client-id", "acme-prod", "--client-secret", "s3cret", "--json")
    assert result.returncode == 0, result.stderr
    assert "API client acme-prod" in json.loads(result.stdout)["created"]
    text = _files.read_bytes(state.clients_path).decode()
    assert "s3cret" not in text and DEFAULT_CLIENT_SECRET not in text
    assert state.check_client_secret("acme-prod", "s3cret")
    assert not state.check_client_secret("acme-prod", "wrong")
    assert state.check_client_secret(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert not state.check_client_secret("nobody", "s3cret")
    # Same secret again: nothing to do. New secret: replaced.
    assert state_emulator.init("acme-prod", "s3cret") == []
    assert state_emulator.init("acme-prod", "other") == ["new secret for API client acme-prod"]
    assert state.check_client_secret("acme-prod", "other")


def test_cli_refuses_a_missing_state_dir(tmp_path):
    emu = Emulator(tmp_path / "absent")
    result = emu.cli("list")
    assert result.returncode == 1
    assert "run 'init' first" in result.stderr


def test_faults_file_round_trip(state_emulator):
    state = StateDir(state_emulator.state_dir)
    assert state.read_faults() == {}
    assert state_emulator.set_faults(status=500, delay=1.5) == {"status": 500, "delay": 1.5}
    assert state_emulator.set_faults(reject=["b", "a"]) == {"status": 500, "delay": 1.5, "reject": ["a", "b"]}
    assert state_emulator.set_faults(reject="c")["reject"] == ["a", "b", "c"]  # adds
    assert state_emulator.clear_faults("delay", "reject") == {"status": 500}
    assert state_emulator.clear_faults() == {}
    for bad in ({"status": 200}, {"token_status": 99}, {"delay": 61}, {"token_delay": -1}):
        with pytest.raises(StateError):
            state_emulator.set_faults(**bad)


def test_fault_cli(state_emulator):
    result = state_emulator.cli("fault", "set", "--status", "403", "--delay", "2", "--reject", "x", "--reject", "y")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": 403, "delay": 2.0, "reject": ["x", "y"]}
    result = state_emulator.cli("fault", "clear", "reject", "delay")
    assert json.loads(result.stdout) == {"status": 403}
    assert state_emulator.faults() == {"status": 403}
    result = state_emulator.cli("fault", "set", "--delay", "61")
    assert result.returncode == 2 and "between 0 and 60" in result.stderr
    result = state_emulator.cli("fault", "clear", "bogus")
    assert result.returncode == 1 and "unknown fault" in result.stderr


def test_a_broken_registry_is_reported_not_a_traceback(state_emulator):
    with open(state_emulator.state.registry_path, "w", encoding="utf-8") as handle:
        handle.write("{not json")
    result = state_emulator.cli("list")
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr and "Traceback" not in result.stderr
