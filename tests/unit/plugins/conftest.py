# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test certificates for the certificate, ca_trust and certificate_info tests.

``pki`` makes CAs and leaf certificates with the cryptography library directly (not with the
collection's own code, which is under test): any validity window, RSA or ECC keys, CA or leaf
basicConstraints, X.509 v1. ``keytool`` is the path of Java's keytool, or a skip when it is
missing on a developer's machine; under CI (CI set) a missing keytool fails instead.
"""

from __future__ import annotations

import datetime
import os
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KEYTOOL_PACKAGE = "default-jre-headless"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


class Pki(object):
    """Keys (one per kind, reused) and certificates on demand."""

    def __init__(self):
        self._keys = {}
        self.ca_key = self.key("ec256", "ca")
        self.ca = self.make_ca("Test Wise CA", self.ca_key)
        self.other_ca_key = self.key("ec256", "other-ca")
        self.other_ca = self.make_ca("Test Wise CA", self.other_ca_key)  # same name, another key

    def key(self, kind="ec256", slot="default"):
        """A private key: rsa2048, rsa3072, rsa4096, ec256, ec384; one per (kind, slot)."""
        if (kind, slot) not in self._keys:
            if kind.startswith("rsa"):
                key = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
            else:
                key = ec.generate_private_key({"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1()}[kind])
            self._keys[(kind, slot)] = key
        return self._keys[(kind, slot)]

    @staticmethod
    def name(common_name, organization="Example Payments Ltd"):
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "EU")]
        if organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        if common_name:
            attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        return x509.Name(attributes)

    def _builder(self, subject, issuer, public_key, days_before, days_after, serial=None):
        now = _now()
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(serial or x509.random_serial_number())
                .not_valid_before(now + datetime.timedelta(days=days_before))
                .not_valid_after(now + datetime.timedelta(days=days_after)))

    def make_ca(self, common_name, key, days_before=-1, days_after=3650, ca=True, basic_constraints=True):
        subject = self.name(common_name, "Wise Test")
        builder = self._builder(subject, subject, key.public_key(), days_before, days_after)
        if basic_constraints:
            builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        return builder.sign(key, hashes.SHA256())

    def leaf(self, key, common_name="client-id-1234", days_before=-1, days_after=365, issuer=None, issuer_key=None):
        """A client certificate for key, signed by the test CA unless issuer/issuer_key are given."""
        issuer = issuer or self.ca
        issuer_key = issuer_key or self.ca_key
        builder = self._builder(self.name(common_name), issuer.subject, key.public_key(), days_before, days_after)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    @staticmethod
    def iso(certificate, which):
        """not_before or not_after as ISO 8601 UTC, read without the deprecated naive properties."""
        value = getattr(certificate, "not_valid_{0}_utc".format(which[4:]), None)
        if value is None:
            value = getattr(certificate, "not_valid_{0}".format(which[4:]))
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def pem(*certificates):
        return b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in certificates)

    @staticmethod
    def der(certificate):
        return certificate.public_bytes(serialization.Encoding.DER)

    @staticmethod
    def key_pem(key, passphrase=None):
        encryption = (serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
                      else serialization.NoEncryption())
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    def write_key(self, path, key, passphrase=None, mode=0o600):
        with open(str(path), "wb") as handle:
            handle.write(self.key_pem(key, passphrase))
        os.chmod(str(path), mode)
        return str(path)


@pytest.fixture(scope="session")
def pki():
    return Pki()


@pytest.fixture(scope="session")
def keytool():
    """Path of keytool; skipped on a developer's machine without Java, a failure under CI."""
    path = shutil.which("keytool")
    if path is None and os.environ.get("JAVA_HOME"):
        candidate = os.path.join(os.environ["JAVA_HOME"], "bin", "keytool")
        path = candidate if os.access(candidate, os.X_OK) else None
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("keytool is missing, and CI is set: the test machine must have a Java runtime "
                        "(apt-get install {0}).".format(KEYTOOL_PACKAGE))
        pytest.skip("keytool not found (install {0} to run the Java checks)".format(KEYTOOL_PACKAGE))
    return path
