# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fuzzing: the PEM, key, CSR and certificate parsers fail cleanly on any input.

Hypothesis feeds each parsing entry point the modules use with random bytes, PEM-shaped
text with random labels and bodies, and real keys, CSRs, certificates, bundles and PKCS#12
files mutated (bytes flipped, cut short, junk inserted, blocks repeated, labels swapped,
line ends changed). Each entry point may only answer or raise what it documents (findings,
KeyLoadError, ValueError); anything else is a traceback a user would see.

Example counts are bounded, and the examples are derived from a fixed seed (derandomize) so that
a run is repeatable; WISE_MTLS_FUZZ_EXAMPLES multiplies the counts for a longer hunt.
"""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _trust_stores as trust_stores
from ansible_collections.wise.mtls.tests.safety.safety_helpers import key_pem

SCALE = float(os.environ.get("WISE_MTLS_FUZZ_EXAMPLES", "1"))
LABELS = ["CERTIFICATE", "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
          "RSA PRIVATE KEY", "EC PRIVATE KEY", "PUBLIC KEY", "X509 CERTIFICATE", "PKCS7", "X"]


def fuzz_settings(examples):
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def seeds(pki):
    """Real artifacts to mutate (ECC mostly: loading a valid RSA key costs a consistency check)."""
    ecc = ec.generate_private_key(ec.SECP256R1())
    small_rsa = rsa.generate_private_key(65537, 2048)
    csr = crypto.csr_to_pem(crypto.build_csr(ecc, "Fuzz Ltd", "EU", "client-1"))
    certificate = pki.issue(ecc, "client-1")
    bundle = trust_stores.bundle_with(b"", "wise-sandbox", crypto.load_certificate_pem(pki.pem))
    return dict(
        text=[csr, certificate, pki.pem, bundle, certificate + key_pem(ecc), key_pem(ecc), key_pem(ecc, legacy=True),
              key_pem(ecc, "fuzz-passphrase"), key_pem(small_rsa), crypto.csr_to_pem(crypto.build_csr(small_rsa, "Fuzz"))],
        pkcs12=[crypto.pkcs12_keystore(ecc, crypto.load_certificate_pem(certificate), [], "wise-mtls", "fuzz")[0]],
    )


def mutate(data, operations):
    for operation, position, junk in operations:
        position = position % (len(data) + 1)
        if operation == "flip" and data:
            index = position % len(data)
            data = data[:index] + bytes([data[index] ^ (1 + junk[0] % 255 if junk else 1)]) + data[index + 1:]
        elif operation == "cut":
            data = data[:position]
        elif operation == "insert":
            data = data[:position] + junk + data[position:]
        elif operation == "delete":
            data = data[:position] + data[position + 1 + len(junk):]
        elif operation == "repeat":
            data = data[:position] + data[position:] + data[position:]
        elif operation == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif operation == "label":
            data = data.replace(b"CERTIFICATE", LABELS[position % len(LABELS)].encode(), 1)
        elif operation == "unwrap":
            data = data.replace(b"\n", b"", 1 + position % 40)
    return data


OPERATIONS = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "delete", "repeat", "crlf", "label", "unwrap"]),
                                st.integers(0, 1 << 16), st.binary(max_size=24)), min_size=1, max_size=4)


@st.composite
def pem_shaped(draw):
    """Text with BEGIN/END lines, random labels and base64 bodies of random DER-ish bytes, and text around."""
    parts = []
    for _block in range(draw(st.integers(1, 3))):
        label = draw(st.sampled_from(LABELS))
        body = base64.b64encode(draw(st.binary(max_size=600))).decode("ascii")
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        end = draw(st.sampled_from([label, label, "OTHER"]))
        parts.append("{0}-----BEGIN {1}-----\n{2}\n-----END {3}-----\n".format(
            draw(st.text(max_size=20)), label, lines, end))
    return "".join(parts).encode("utf-8", "surrogatepass")


class Counter(object):
    def __init__(self):
        self.examples = 0
        self.failures = []


def run_fuzz(tally, name, check, strategy, examples):
    counter = Counter()

    @fuzz_settings(examples)
    @given(data=strategy)
    def fuzz(data):
        counter.examples += 1
        try:
            check(data)
        except Exception as exc:  # anything a parser raises that it does not document is a failure
            counter.failures.append((type(exc).__name__, str(exc)[:200], data[:200]))
            raise

    try:
        fuzz()
    finally:
        tally.add("fuzz_examples", counter.examples, counter.examples - len(counter.failures), entry_points=1)
    assert not counter.failures, "{0}: {1}".format(name, counter.failures[:3])


def any_input(seeds):
    return st.one_of(st.binary(max_size=2048), pem_shaped(), st.builds(mutate, st.sampled_from(seeds["text"]), OPERATIONS))


# ---------------------------------------------------------------- entry points

def test_pem_scan(seeds, tally):
    def check(data):
        scan = crypto.PemScan(data)
        assert isinstance(scan.has_text_outside, bool)
        for label, block in scan.blocks:
            assert isinstance(label, str) and block in data

    run_fuzz(tally, "PemScan", check, any_input(seeds), 400)


def test_check_csr_pem(seeds, tally):
    def check(data):
        findings = policy.check_csr_pem(data, client_id="client-1")
        assert all(isinstance(finding, policy.Finding) and finding.code and finding.message for finding in findings)

    run_fuzz(tally, "check_csr_pem", check, any_input(seeds), 400)


def test_load_private_key(seeds, tally):
    def check(data):
        for passphrase in (None, "fuzz-passphrase"):
            try:
                crypto.load_private_key(data, passphrase)
            except crypto.KeyLoadError as exc:
                assert exc.reason in ("passphrase_required", "not_encrypted", "corrupt", "passphrase_wrong"), exc.reason

    run_fuzz(tally, "load_private_key", check, any_input(seeds), 250)


def test_read_certificates_pem(seeds, tally):
    def check(data):
        for role, single in (("certificate", True), ("ca", False)):
            certificates, findings = policy.read_certificates_pem(data, role=role, single=single)
            assert all(isinstance(finding, policy.Finding) for finding in findings)
            if certificates and not policy.errors(findings):
                policy.check_validity(certificates[0], role=role)
                policy.check_ca_certificate(certificates[0])

    run_fuzz(tally, "read_certificates_pem", check, any_input(seeds), 400)


def test_load_certificate_blocks(seeds, tally):
    def check(data):
        try:
            crypto.load_certificate_blocks(data)
        except ValueError:
            pass  # documented: a block that does not parse

    run_fuzz(tally, "load_certificate_blocks", check, any_input(seeds), 300)


def test_trust_bundle_parsing(seeds, pki, tally):
    """What ca_trust does with whatever an existing bundle file holds."""
    ca = crypto.load_certificate_pem(pki.pem)

    def check(data):
        trust_stores.parse_bundle(data)
        trust_stores.bundle_entry(data, "wise-sandbox")
        trust_stores.bundle_without(data, "wise-sandbox")
        if crypto.looks_binary(data) or trust_stores.bundle_is_damaged(data):
            return  # ca_trust refuses such a bundle (plan_bundle)
        text = trust_stores.bundle_with(data, "wise-sandbox", ca)
        assert trust_stores.bundle_entry(text, "wise-sandbox") == ca, "the entry written cannot be found again"

    run_fuzz(tally, "bundle parsing", check, any_input(seeds), 300)


# cryptography warns that it falls back to BER for some mutated files; the fallback is what is being tested.
@pytest.mark.filterwarnings("ignore:PKCS#12 bundle could not be parsed as DER")
def test_load_pkcs12(seeds, tally):
    """What certificate and ca_trust do with an existing PKCS#12 file."""
    def check(data):
        try:
            crypto.load_pkcs12(data, "fuzz")
        except (ValueError, TypeError):
            pass  # documented: not PKCS#12, or another password

    strategy = st.one_of(st.binary(max_size=2048), st.builds(mutate, st.sampled_from(seeds["pkcs12"]), OPERATIONS))
    run_fuzz(tally, "load_pkcs12", check, strategy, 200)
