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
            raise KeyLoadError("passphrase_wrong",
                               "the passphrase does not decrypt the private key (or the key is corrupt)") from None
        raise KeyLoadError("corrupt", "the private key cannot be read: {0}".format(exc)) from None


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


CERTIFICATE_PEM_LABELS = ("CERTIFICATE", "X509 CERTIFICATE")


def load_certificate_blocks(data):
    """Every CERTIFICATE block of a PEM text, parsed, in file order (raises ValueError on a bad block)."""
    return [load_certificate_pem(block) for label, block in PemScan(data).blocks if label in CERTIFICATE_PEM_LABELS]


def certificate_version(certificate):
    """1 or 3 (X.509 v1 or v3)."""
    return certificate.version.value + 1


def basic_constraints_ca(certificate):
    """True or False from basicConstraints, None when the certificate has no such extension."""
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return None


def is_self_issued(certificate):
    return certificate.issuer == certificate.subject


def certificate_serial_hex(certificate):
    """Serial number as openssl prints it: colon-separated hex bytes."""
    serial = certificate.serial_number
    length = max(1, (serial.bit_length() + 7) // 8)
    return colon_hex(serial.to_bytes(length, "big"))


def private_keys_equal(first, second):
    """Same private key (used to compare a key inside a PKCS#12 file with the key file)."""
    if not public_keys_equal(first.public_key(), second.public_key()):
        return False
    try:
        return first.private_numbers() == second.private_numbers()
    except (AttributeError, TypeError, ValueError):
        return False


# ---------------------------------------------------------------- PKCS#12

# What a PKCS#12 file is encrypted with. aes256: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an
# HMAC-SHA256 MAC, which OpenSSL 1.1.1+ and Java 8u301+/11.0.12+/17+ read. 3des: PBE-SHA1-3DES with an
# HMAC-SHA1 MAC, for older readers (every Java, OpenSSL 1.0). cryptography before 38 can only write 3des.
PKCS12_ENCRYPTIONS = ("aes256", "3des")
PKCS12_KDF_ROUNDS = 100000


def pkcs12_can_choose_encryption():
    pkcs12_format = getattr(serialization.PrivateFormat, "PKCS12", None)
    return getattr(pkcs12_format, "encryption_builder", None) is not None


def pkcs12_encryption(password, algorithm="aes256"):
    """(KeySerializationEncryption, the algorithm it really is) for a PKCS#12 file."""
    if not pkcs12_can_choose_encryption():
        # cryptography < 38 serialises PKCS#12 through OpenSSL's PKCS12_create with PBE-SHA1-3DES for
        # BestAvailableEncryption: no choice, but readable everywhere.
        return serialization.BestAvailableEncryption(to_bytes(password)), "3des"
    from cryptography.hazmat.primitives.serialization import pkcs12

    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(PKCS12_KDF_ROUNDS)
    if algorithm == "3des":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.build(to_bytes(password)), algorithm


def pkcs12_keystore(private_key, certificate, ca_certificates, friendly_name, password, algorithm="aes256"):
    """(PKCS#12 bytes holding the key and its certificate chain, encryption used)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    encryption, used = pkcs12_encryption(password, algorithm)
    data = pkcs12.serialize_key_and_certificates(to_bytes(friendly_name) if friendly_name else None, private_key,
                                                 certificate, list(ca_certificates) or None, encryption)
    return data, used


class Pkcs12Contents(object):
    """What a PKCS#12 file holds. Friendly names are None when this cryptography cannot read them (< 36)."""

    def __init__(self, key, certificate, friendly_name, additional, names_known):
        self.key = key
        self.certificate = certificate
        self.friendly_name = friendly_name
        self.additional = additional  # [(friendly name or None, certificate)]
        self.names_known = names_known


def load_pkcs12(data, password):
    """Pkcs12Contents of a PKCS#12 file; ValueError when it is not one or the password is wrong."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = to_bytes(password) if password is not None else None
    if hasattr(pkcs12, "load_pkcs12"):  # cryptography >= 36
        loaded = pkcs12.load_pkcs12(data, password)
        certificate, name = None, None
        if loaded.cert is not None:
            certificate, name = loaded.cert.certificate, _text(loaded.cert.friendly_name)
        additional = [(_text(entry.friendly_name), entry.certificate) for entry in loaded.additional_certs]
        return Pkcs12Contents(loaded.key, certificate, name, additional, True)
    key, certificate, additional = pkcs12.load_key_and_certificates(data, password)
    return Pkcs12Contents(key, certificate, None, [(None, entry) for entry in additional], False)


def can_write_java_truststore():
    """cryptography >= 45 writes the bag attribute that makes Java list a certificate as trustedCertEntry."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    return hasattr(pkcs12, "serialize_java_truststore")


def java_truststore(entries, password):
    """PKCS#12 trust store bytes for [(alias, certificate)], every entry a Java trustedCertEntry."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    encryption, _used = pkcs12_encryption(password, "aes256")
    certificates = [pkcs12.PKCS12Certificate(certificate, to_bytes(alias) if alias else None)
                    for alias, certificate in entries]
    return pkcs12.serialize_java_truststore(certificates, encryption)


# ---------------------------------------------------------------- helpers

def iso8601(value):
    """A datetime as ISO 8601 in UTC with a Z: 2026-12-03T16:40:11Z."""
    return _aware(value).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value):
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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
