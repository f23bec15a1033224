# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys, certificates, CRLs and safe file writes for the emulator."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._compat import not_valid_after, utcnow
from ._files import read_bytes

# Host names the "valid" server certificate answers to: loopback plus the real
# Wise mTLS hosts, so that clients can map those names to 127.0.0.1.
SERVER_DNS_NAMES = (
    "localhost",
    "api-mtls.sandbox.transferwise.tech",
    "api-mtls.wise-sandbox.com",
    "api-mtls.transferwise.com",
)
SERVER_IP_ADDRESSES = ("127.0.0.1", "::1")
WRONG_HOST_NAME = "wrong-host.wise-emulator.invalid"


# ---------------------------------------------------------------- keys

def generate_key(kind="ec256"):
    """Generate a private key: ``ec256``, ``ec384``, ``ec521`` or ``rsa<bits>``."""
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ec521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    raise ValueError("unknown key kind %r" % (kind,))


def key_to_pem(key):
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_key(path):
    return serialization.load_pem_private_key(read_bytes(path), password=None)


def describe_public_key(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA %d" % public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ECC %s" % public_key.curve.name
    return type(public_key).__name__


# ---------------------------------------------------------------- certificates

def cert_to_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(path):
    return x509.load_pem_x509_certificate(read_bytes(path))


def fingerprint_sha256(cert):
    """Lowercase hex SHA-256 of the DER certificate, without colons."""
    return cert.fingerprint(hashes.SHA256()).hex()


def serial_hex(cert):
    return "%x" % cert.serial_number


def common_name(cert_or_name):
    name = getattr(cert_or_name, "subject", cert_or_name)
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def _name(common, organization="Wise emulator (not Wise)"):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])


def _sign(builder, issuer_key):
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca(common, not_before=None, days=3650):
    """A self-signed CA certificate and its key (ECC P-256)."""
    key = generate_key("ec256")
    start = (not_before or utcnow()) - datetime.timedelta(days=1)
    subject = _name(common)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    return _sign(builder, key), key


def make_server_cert(ca_cert, ca_key, dns_names=SERVER_DNS_NAMES, ip_addresses=SERVER_IP_ADDRESSES,
                     not_before=None, not_after=None):
    """A TLS server certificate signed by ``ca_cert``."""
    key = generate_key("ec256")
    start = not_before or (utcnow() - datetime.timedelta(hours=1))
    end = not_after or (start + datetime.timedelta(days=825))
    alt_names = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(addr)) for addr in ip_addresses]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    return _sign(builder, ca_key), key


def make_client_cert(csr, subject, ca_cert, ca_key, not_before, not_after):
    """The client certificate Developer Hub would issue for ``csr``."""
    public_key = csr.public_key()
    key_encipherment = isinstance(public_key, rsa.RSAPublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=key_encipherment,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    return _sign(builder, ca_key)


def make_crl(ca_cert, ca_key, serials, valid_for=datetime.timedelta(days=7)):
    """A CRL from ``ca_cert`` listing ``serials`` (ints)."""
    now = utcnow()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - datetime.timedelta(minutes=5))
        .next_update(now + valid_for)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
    )
    for serial in sorted(set(serials)):
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - datetime.timedelta(minutes=5))
            .build()
        )
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(ca_key, hashes.SHA256())


def make_csr(key, organization="Wise emulator test", country="EU", common=None):
    """A CSR the way Wise's docs make one (``/C=EU/O=<organisation>``)."""
    attributes = []
    if country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    return builder.sign(key, hashes.SHA256())


def csr_to_pem(csr):
    return csr.public_bytes(serialization.Encoding.PEM)


def expires_within(cert, delta):
    return not_valid_after(cert) - utcnow() < delta
