# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""The crypto layer: keys, CSRs, certificates and PEM over the cryptography library.

Works with cryptography 3.4.8 (Ubuntu 22.04) through the newest release. It imports
nothing from Ansible so that the bundled Wise emulator can share it.
"""

from __future__ import annotations

import datetime
import re

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # reported by _cryptography_dep.ensure_cryptography()
    HAS_CRYPTOGRAPHY = False

PEM_BLOCK_RE = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>.*?)-----END (?P=label)-----(?:\r?\n)?",
    re.DOTALL,
)
ECC_CURVE_SIZES = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521, "secp224r1": 224, "secp192r1": 192}


class KeyLoadError(Exception):
    """A private key that cannot be used, with a stable reason code."""

    def __init__(self, reason, message):
        super(KeyLoadError, self).__init__(message)
        self.reason = reason


# ---------------------------------------------------------------- private keys

def generate_private_key(key_type, size):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    curve = {256: ec.SECP256R1, 384: ec.SECP384R1}[size]
    return ec.generate_private_key(curve())


def private_key_to_pem(private_key, passphrase=None):
    """PKCS#8 PEM, encrypted with the best available scheme when a passphrase is given."""
    if passphrase:
        encryption = serialization.BestAvailableEncryption(to_bytes(passphrase))
    else:
        encryption = serialization.NoEncryption()
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def is_pem_encrypted(data):
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_private_key(data, passphrase=None):
    """Load a PEM private key; raise KeyLoadError with a reason the caller can act on."""
    encrypted = is_pem_encrypted(data)
    if encrypted and not passphrase:
        raise KeyLoadError("passphrase_required", "the private key is encrypted and no passphrase was given")
    if not encrypted and passphrase:
        raise KeyLoadError("not_encrypted", "a passphrase was given but the private key is not encrypted")
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise KeyLoadError("corrupt", "the file does not hold a PEM private key")
    try:
        return serialization.load_pem_private_key(data, to_bytes(passphrase) if passphrase else None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if encrypted:
            raise KeyLoadError("passphrase_wrong", "the passphrase does not decrypt the private key (or the key is corrupt)")
        raise KeyLoadError("corrupt", "the private key cannot be read: {0}".format(exc))


# ---------------------------------------------------------------- public keys

def describe_public_key(public_key):
    """{'type': 'rsa'|'ecc'|other, 'size': bits, 'curve': name or None}."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return {"type": "rsa", "size": public_key.key_size, "curve": None}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        name = public_key.curve.name
        return {"type": "ecc", "size": ECC_CURVE_SIZES.get(name, public_key.curve.key_size), "curve": name}
    name = type(public_key).__name__.replace("PublicKey", "").replace("_", "").lower()
    return {"type": name or "unknown", "size": None, "curve": None}


def public_key_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def public_key_fingerprint(public_key):
    """SHA-256 over the SubjectPublicKeyInfo: the same for RSA and ECC keys."""
    return colon_hex(_sha256(public_key_der(public_key)))


def public_keys_equal(first, second):
    return public_key_der(first) == public_key_der(second)


# ---------------------------------------------------------------- PEM framing

class PemScan(object):
    """What a PEM text holds: its blocks (label, bytes) and any text outside them."""

    def __init__(self, data):
        self.blocks = []
        outside = []
        position = 0
        for match in PEM_BLOCK_RE.finditer(data):
            outside.append(data[position:match.start()])
            self.blocks.append((match.group("label").decode("ascii"), match.group(0)))
            position = match.end()
        outside.append(data[position:])
        self.outside_text = b"".join(outside)

    @property
    def has_text_outside(self):
        return bool(self.outside_text.strip())


def looks_binary(data):
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return True
    return any(ord(char) < 9 or 13 < ord(char) < 32 for char in text)


# ---------------------------------------------------------------- names

def build_name(organization=None, country=None, common_name=None):
    attributes = []
    if country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


_SHORT_NAMES = {
    "countryName": "C",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "commonName": "CN",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "emailAddress": "emailAddress",
}


def name_attributes(name):
    """[(short name, value)] in the order the name holds them."""
    result = []
    for attribute in name:
        long_name = getattr(attribute.oid, "_name", None) or attribute.oid.dotted_string
        result.append((_SHORT_NAMES.get(long_name, long_name), attribute.value))
    return result


def name_to_dict(name):
    return dict(name_attributes(name))


def name_to_string(name):
    """openssl-style one-line subject: /C=EU/O=Example/CN=1234."""
    return "".join("/{0}={1}".format(key, value) for key, value in name_attributes(name))


def name_values(name, oid_name):
    oid = getattr(NameOID, oid_name)
    return [attribute.value for attribute in name.get_attributes_for_oid(oid)]


# ---------------------------------------------------------------- CSRs

def build_csr(private_key, organization, country=None, common_name=None):
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        build_name(organization=organization, country=country, common_name=common_name)
    )
    return builder.sign(private_key, hashes.SHA256())


def csr_to_pem(csr):
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr_pem(data):
    return x509.load_pem_x509_csr(data)


def load_csr_der(data):
    return x509.load_der_x509_csr(data)


# ---------------------------------------------------------------- certificates

def load_certificate_pem(data):
    return x509.load_pem_x509_certificate(data)


def load_certificate_der(data):
    return x509.load_der_x509_certificate(data)


def certificate_to_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_fingerprint(certificate):
    return colon_hex(certificate.fingerprint(hashes.SHA256()))


def certificate_not_before(certificate):
    return _aware(getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before)


def certificate_not_after(certificate):
    return _aware(getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after)


def verify_signed_by(certificate, issuer_certificate):
    """True when issuer_certificate's key signed certificate (RSA PKCS#1 v1.5 or ECDSA)."""
    public_key = issuer_certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            from cryptography.hazmat.primitives.asymmetric import padding

            public_key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(),
                              certificate.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(certificate.signature, certificate.tbs_certificate_bytes,
                              ec.ECDSA(certificate.signature_hash_algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return certificate.issuer == issuer_certificate.subject


# ---------------------------------------------------------------- helpers

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _aware(value):
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value


def _sha256(data):
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def colon_hex(data):
    return ":".join("{0:02x}".format(byte) for byte in bytearray(data))


def to_bytes(value):
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")

