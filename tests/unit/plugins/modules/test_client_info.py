# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.client_info: in_place only where wise.mtls.certificate and wise.mtls.ca_trust find nothing to do.

The role skips those modules where client_info says "in place", so every case below is checked
against the real modules in check mode: in_place must be true exactly when the module would
neither fail, nor warn, nor change anything.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible.module_utils.common import warnings as ansible_warnings

from ansible_collections.wise.mtls.plugins.modules import ca_trust, certificate, client_info

CLIENT_ID = "client-id-1234"


def write(path, data, mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return str(path)


@pytest.fixture
def host(tmp_path, pki, run_module):
    class Host(object):
        folder = tmp_path / "sandbox"

        def __init__(self):
            self.folder.mkdir(mode=0o700)
            self.key = pki.key("ec256")
            self.key_path = pki.write_key(self.folder / "client.key", self.key)
            self.cert_path = str(self.folder / "client.pem")
            self.bundle_path = str(self.folder / "wise-ca.pem")
            self.certificate_pem = pki.pem(pki.leaf(self.key)).decode("ascii")
            self.ca_pem = pki.pem(pki.ca).decode("ascii")

        def certificate_args(self):
            return dict(path=self.cert_path, content=self.certificate_pem, private_key_path=self.key_path,
                        client_id=CLIENT_ID, mode="0644")

        def ca_args(self):
            return dict(name="wise-sandbox", content=self.ca_pem, stores=["bundle"], bundle_path=self.bundle_path,
                        mode="0644")

        def install(self):
            for module, args in ((certificate, self.certificate_args()), (ca_trust, self.ca_args())):
                result = run_module(module, args)
                assert result["rc"] == 0, result.get("msg")
            return self

        def info(self, **extra):
            args = dict(directory=str(self.folder), private_key_path=self.key_path,
                        csr_path=str(self.folder / "client.csr"), certificate_path=self.cert_path,
                        certificate_content=self.certificate_pem, client_id=CLIENT_ID, ca_name="wise-sandbox",
                        ca_content=self.ca_pem, ca_bundle_path=self.bundle_path)
            args.update(extra)
            results = [run_module(client_info, args, check_mode=True), run_module(client_info, args)]
            for result in results:
                assert result["rc"] == 0, result.get("msg")
                assert result["changed"] is False
            return results[1]

        def check(self, module, args):
            # Warnings of a module run in-process stay in Ansible's process-wide list and would show
            # up in the next run's result: start from none, as a real module process does.
            ansible_warnings._global_warnings.clear()
            return run_module(module, args, check_mode=True)

        def module_finds_nothing_to_do(self, module, args):
            result = self.check(module, args)
            return result["rc"] == 0 and not result["changed"] and not result.get("warnings")

    return Host()


def agrees_with_modules(host, result):
    """client_info's answer is the real modules' answer."""
    assert result["ca"]["in_place"] is host.module_finds_nothing_to_do(ca_trust, host.ca_args())
    assert result["certificate"]["in_place"] is host.module_finds_nothing_to_do(certificate, host.certificate_args())
    # The role skips its check-mode gate where checks_passed: the module's checks must pass there.
    checked = host.check(certificate, host.certificate_args())
    assert result["certificate"]["checks_passed"] is (checked["rc"] == 0 and not checked.get("warnings"))


def test_everything_in_place(host, unchanged, pki):
    host.install()
    with unchanged(host.folder):
        result = host.info()
    assert result["certificate"]["in_place"] is True and result["certificate"]["reason"] is None
    assert result["certificate"]["checks_passed"] is True
    assert result["ca"]["in_place"] is True and result["ca"]["reason"] is None
    assert result["certificate"]["common_name"] == CLIENT_ID
    assert 363 <= result["certificate"]["days_remaining"] <= 365
    assert result["ca"]["subject"] == "/C=EU/O=Wise Test/CN=Test Wise CA"
    assert result["missing"] == [] and result["python"]
    assert result["directory"]["type"] == "directory" and result["directory"]["mode"] == "0700"
    assert result["files"]["private_key"]["mode"] == "0600"
    assert result["files"]["certificate"]["type"] == "file" and result["files"]["csr"] == {"type": "none"}
    agrees_with_modules(host, result)


def test_new_host(host):
    result = host.info()
    assert result["certificate"]["in_place"] is False
    assert "there is no certificate" in result["certificate"]["reason"]
    assert result["certificate"]["checks_passed"] is True
    assert result["ca"]["in_place"] is False
    agrees_with_modules(host, result)


def test_without_contents_only_the_files(host):
    result = host.info(certificate_content=None, ca_content=None)
    assert "certificate" not in result and "ca" not in result
    assert result["files"]["private_key"]["type"] == "file"


def test_another_certificate_is_to_be_installed(host, pki):
    host.install()
    host.certificate_pem = pki.pem(pki.leaf(host.key, days_after=300)).decode("ascii")
    result = host.info(certificate_content=host.certificate_pem)
    assert result["certificate"]["in_place"] is False and "holds another certificate" in result["certificate"]["reason"]
    assert result["certificate"]["checks_passed"] is True
    agrees_with_modules(host, result)


@pytest.mark.parametrize("path_attr", ["cert_path", "bundle_path"])
def test_mode_differs(host, path_attr):
    host.install()
    os.chmod(getattr(host, path_attr), 0o600)
    result = host.info()
    which = "certificate" if path_attr == "cert_path" else "ca"
    assert result[which]["in_place"] is False
    agrees_with_modules(host, result)


def test_key_replaced_on_the_host(host, pki):
    host.install()
    pki.write_key(host.key_path, pki.key("ec256", "another"))
    result = host.info()
    assert result["certificate"]["in_place"] is False
    assert "another key" in result["certificate"]["reason"]
    assert result["certificate"]["checks_passed"] is False
    agrees_with_modules(host, result)


def test_key_missing(host):
    host.install()
    os.unlink(host.key_path)
    result = host.info()
    assert result["certificate"]["in_place"] is False and "no private key" in result["certificate"]["reason"]
    agrees_with_modules(host, result)


def test_other_client_id(host):
    host.install()
    result = host.info(client_id="someone-else")
    assert result["certificate"]["in_place"] is False and "CN" in result["certificate"]["reason"]
    assert result["certificate"]["checks_passed"] is False
    assert run_module_fails_like(host, client_id="someone-else")


def run_module_fails_like(host, **extra):
    args = host.certificate_args()
    args.update(extra)
    return not host.module_finds_nothing_to_do(certificate, args)


def test_expired_certificate_installed_earlier(host, pki):
    host.certificate_pem = pki.pem(pki.leaf(host.key, days_before=-400, days_after=-1)).decode("ascii")
    write(host.cert_path, host.certificate_pem.encode("ascii"))
    result = host.info()
    assert result["certificate"]["in_place"] is False and "expired" in result["certificate"]["reason"]
    assert result["certificate"]["checks_passed"] is False
    agrees_with_modules(host, result)


def test_text_around_the_pem_is_left_to_the_module(host, pki):
    host.install()
    host.certificate_pem = "Certificate details\n" + host.certificate_pem
    result = host.info(certificate_content=host.certificate_pem)
    # wise.mtls.certificate tolerates it with a warning: the warning must keep showing.
    assert result["certificate"]["in_place"] is False and result["certificate"]["checks_passed"] is False
    agrees_with_modules(host, result)


def test_ca_not_a_ca(host, pki):
    host.install()
    host.ca_pem = pki.pem(pki.make_ca("Not a CA", pki.key("ec256", "not-ca"), ca=False)).decode("ascii")
    result = host.info(ca_content=host.ca_pem)
    assert result["ca"]["in_place"] is False
    agrees_with_modules(host, result)


def test_expired_ca(host, pki):
    host.install()
    host.ca_pem = pki.pem(pki.make_ca("Old CA", pki.key("ec256", "old-ca"), days_before=-900,
                                      days_after=-1)).decode("ascii")
    result = host.info(ca_content=host.ca_pem)
    assert result["ca"]["in_place"] is False and "expired" in result["ca"]["reason"]
    agrees_with_modules(host, result)


def test_symlinked_certificate_is_left_to_the_module(host, tmp_path):
    host.install()
    target = tmp_path / "elsewhere.pem"
    os.rename(host.cert_path, str(target))
    os.symlink(str(target), host.cert_path)
    result = host.info()
    assert result["certificate"]["in_place"] is False
    assert result["files"]["certificate"]["type"] == "link"
    agrees_with_modules(host, result)


def test_unknown_owner_or_group_is_refused(host, run_module):
    # The client role runs client_info first: refusing here stops it before it creates any folder.
    host.install()
    for extra in (dict(owner="no-such-user-wise-mtls"), dict(group="no-such-group-wise-mtls")):
        result = run_module(client_info, dict(directory=str(host.folder), private_key_path=host.key_path,
                                              certificate_path=host.cert_path, **extra))
        assert result["failed"] and "does not exist on this host" in result["msg"]
        assert result["msg"].endswith("Nothing was changed.")


def test_never_returns_key_material(host, run_module, capsys):
    host.install()
    result = host.info()
    assert "PRIVATE KEY" not in repr(result)
    assert stat.S_IMODE(os.stat(host.key_path).st_mode) == 0o600


def test_ca_content_needs_name_and_bundle(host, run_module):
    result = run_module(client_info, dict(directory=str(host.folder), private_key_path=host.key_path,
                                          certificate_path=host.cert_path, ca_content=host.ca_pem))
    assert result["rc"] != 0 and "ca_content" in result["msg"]
