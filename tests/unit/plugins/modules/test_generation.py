# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.generation and wise.mtls.generation_info on real folders.

A folder starts as the client role leaves it (regular client.key, client.csr, client.pem, wise-ca.pem,
certificate signed by a test CA). Staging never touches those files; the first switch turns them into a
generation and links; the consumer paths then name the new pair, read back with the openssl CLI.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file
from ansible_collections.wise.mtls.plugins.modules import certificate, client_info, csr, generation, generation_info, private_key
from ansible_collections.wise.mtls.tests.unit.helpers import (
    assert_no_key_material,
    file_mode,
    folder_snapshot,
    four_runs,
    read_bytes,
    write_bytes,
)

ORGANIZATION = "Example Payments Ltd"
CLIENT_ID = "client-id-1234"


class Host(object):
    """An environment folder as the client role leaves it, and helpers to rotate it."""

    def __init__(self, folder, pki, openssl):
        self.folder = folder
        self.pki = pki
        self.openssl = openssl
        os.chmod(str(folder), 0o700)
        self.old_key = pki.key("ec256", "old-" + folder.name)
        write_bytes(folder / "client.key", pki.key_pem(self.old_key), 0o600)
        openssl.make_csr(str(folder / "client.key"), str(folder / "client.csr"),
                         "/C=EU/O={0}/CN={1}".format(ORGANIZATION, CLIENT_ID))
        os.chmod(str(folder / "client.csr"), 0o644)
        self.old_cert = pki.leaf(self.old_key, days_before=-330, days_after=20)
        write_bytes(folder / "client.pem", pki.pem(self.old_cert), 0o644)
        write_bytes(folder / "wise-ca.pem", pki.pem(pki.ca), 0o644)

    @property
    def path(self):
        return str(self.folder)

    def stage_args(self, **extra):
        args = dict(path=self.path, state="staged", type="ecc", organization=ORGANIZATION, country="EU",
                    client_id=CLIENT_ID, certificate_name="sandbox-web-01-20261203-165400")
        args.update(extra)
        return args

    def generation(self, generation_id, name=""):
        return os.path.join(self.path, "generations", generation_id, name)

    def staged_key(self, generation_id):
        return serialization.load_pem_private_key(read_bytes(self.generation(generation_id, "client.key")), None)

    def sign_staged(self, generation_id, **leaf):
        certificate = self.pki.leaf(self.staged_key(generation_id), **leaf)
        write_bytes(self.generation(generation_id, "client.pem"), self.pki.pem(certificate), 0o644)
        return certificate

    def consumer_pair(self):
        """Fingerprints of the key and the certificate that F/client.key and F/client.pem give, read by openssl."""
        key = self.openssl.fingerprint(os.path.join(self.path, "client.key"))
        pub = self.openssl.run("x509", "-in", os.path.join(self.path, "client.pem"), "-noout", "-pubkey").stdout
        der = self.openssl.run("pkey", "-pubin", "-outform", "DER", stdin=pub).stdout
        cert = ":".join("{0:02x}".format(byte) for byte in bytearray(hashlib.sha256(der).digest()))
        return key, cert


@pytest.fixture
def host(tmp_path, pki, openssl):
    folder = tmp_path / "sandbox"
    folder.mkdir()
    return Host(folder, pki, openssl)


def top_files(host):
    return dict((name, read_bytes(os.path.join(host.path, name))) for name in ("client.key", "client.csr", "client.pem"))


def staged(run_module, host, **extra):
    result = run_module(generation, host.stage_args(**extra))
    assert result["rc"] == 0, result.get("msg")
    return result["generation"]


def activate(run_module, host, generation_id="staged", check_mode=False):
    result = run_module(generation, dict(path=host.path, state="live", generation=generation_id), check_mode=check_mode,
                        diff=True)
    assert result["rc"] == 0, result.get("msg")
    return result


# ---------------------------------------------------------------- staging

def test_staging_makes_a_new_key_and_csr_beside_the_live_files_and_leaves_them_untouched(run_module, host, openssl):
    before = top_files(host)
    modes = dict((name, file_mode(os.path.join(host.path, name))) for name in before)
    results = four_runs(run_module, generation, host.stage_args(), host.path)
    generation_id = results[1]["generation"]
    assert results[3]["generation"] == generation_id
    assert top_files(host) == before and all(
        file_mode(os.path.join(host.path, name)) == mode for name, mode in modes.items())
    assert os.readlink(os.path.join(host.path, "staged")) == "generations/" + generation_id
    assert sorted(os.listdir(host.generation(generation_id))) == ["client.csr", "client.key", "generation.json"]
    assert file_mode(host.generation(generation_id, "client.key")) == 0o600
    assert file_mode(host.generation(generation_id, "client.csr")) == 0o644
    assert file_mode(host.generation(generation_id)) == 0o700  # the mode of the environment's folder
    verified, subject = openssl.req_verify(host.generation(generation_id, "client.csr"))
    assert verified and subject == "C = EU, O = {0}, CN = {1}".format(ORGANIZATION, CLIENT_ID)
    assert openssl.fingerprint(host.generation(generation_id, "client.key")) == results[1]["fingerprint"]
    assert openssl.fingerprint(host.generation(generation_id, "client.key")) != openssl.fingerprint(
        os.path.join(host.path, "client.key"))
    assert results[1]["csr"] == read_bytes(host.generation(generation_id, "client.csr")).decode("ascii")
    assert results[3]["csr"] == results[1]["csr"] and results[3]["certificate_name"] == "sandbox-web-01-20261203-165400"
    assert results[1]["staged"] == results[2]["staged"] == generation_id and results[0]["staged"]  # planned in check mode
    assert results[1]["layout"] == "flat" and results[1]["live"] is None
    for result in results:
        assert_no_key_material(result["_stdout"], read_bytes(host.generation(generation_id, "client.key")))


def test_a_staged_generation_keeps_its_id_and_name_and_gets_a_new_csr_when_the_subject_changes(run_module, host, openssl):
    generation_id = staged(run_module, host, generation="first")
    result = run_module(generation, host.stage_args(generation="second", certificate_name="another-name",
                                                    organization="Renamed Ltd"))
    assert result["changed"] is True and result["generation"] == "first"
    assert result["certificate_name"] == "sandbox-web-01-20261203-165400"
    assert openssl.req_verify(host.generation(generation_id, "client.csr"))[1].startswith("C = EU, O = Renamed Ltd")
    assert os.listdir(os.path.join(host.path, "generations")) == ["first"]


def test_a_key_group_member_stages_the_groups_key_and_follows_a_new_one(run_module, host, pki):
    shared = pki.key("ec256", "group-1")
    content = pki.key_pem(shared).decode("ascii")
    first = run_module(generation, host.stage_args(private_key_content=content, generation="g1"))
    assert first["changed"] is True and first["generation"] == "g1"
    again = run_module(generation, host.stage_args(private_key_content=content, generation="g1"))
    assert again["changed"] is False
    assert read_bytes(host.generation("g1", "client.key")) == pki.key_pem(shared)
    other = pki.key_pem(pki.key("ec256", "group-2")).decode("ascii")
    replaced = run_module(generation, host.stage_args(private_key_content=other, generation="g2"))
    assert replaced["changed"] is True and replaced["generation"] == "g2"
    assert os.listdir(os.path.join(host.path, "generations")) == ["g2"]  # the old staged one never went live
    assert_no_key_material(replaced["_stdout"], other.encode("ascii"))
    assert_no_key_material(replaced["_stdout"], content.encode("ascii"))


@pytest.mark.parametrize("extra, words", [
    (dict(type="ecc", size=521), "ECC 521 bits"),
    (dict(type="rsa", size=1024), "1024"),
    (dict(organization=""), "rganisation"),
    (dict(mode="0644"), "0644"),
    (dict(generation="../x"), "not a generation id"),
    (dict(private_key_content="not a key"), "private_key_content cannot be used"),
])
def test_bad_staging_requests_are_refused_and_change_nothing(run_module, host, unchanged, extra, words):
    with unchanged(host.folder):
        result = run_module(generation, host.stage_args(**extra))
    assert result["rc"] == 1 and words in result["msg"], result["msg"]


def test_staging_needs_a_live_key(run_module, tmp_path, unchanged):
    folder = tmp_path / "empty"
    folder.mkdir()
    with unchanged(folder):
        result = run_module(generation, dict(path=str(folder), state="staged", organization=ORGANIZATION))
    assert result["rc"] == 1 and "Onboard the host first" in result["msg"]


def test_a_staged_key_of_another_kind_is_not_replaced_silently(run_module, host, unchanged):
    staged(run_module, host)
    with unchanged(host.folder):
        result = run_module(generation, host.stage_args(type="rsa", size=2048))
    assert result["rc"] == 1 and "holds ECC P-256 key, but RSA 2048 was asked for" in result["msg"]


# ---------------------------------------------------------------- switching

def test_the_first_switch_turns_the_flat_files_into_a_generation_and_makes_the_new_pair_live(run_module, host):
    generation_id = staged(run_module, host, generation="20261203-165400")
    new_cert = host.sign_staged(generation_id)
    old_pair = host.consumer_pair()
    old_files = top_files(host)
    snapshot = folder_snapshot(host.folder)
    planned = activate(run_module, host, check_mode=True)
    assert folder_snapshot(host.folder) == snapshot
    result = activate(run_module, host)
    for answer in (planned, result):
        assert answer["changed"] is True and answer["switched"] is True and answer["migrated"] is True
        assert answer["live"] == generation_id and answer["staged"] is None and answer["layout"] == "generations"
        assert answer["previous"] == answer["previous_live"]
    old_id = result["previous_live"]
    issued = host.pki.iso(host.old_cert, "not_before")  # the old certificate's issue time names it
    assert old_id == issued[:10].replace("-", "") + "-" + issued[11:19].replace(":", "")
    assert planned["diff"]["after"] == result["diff"]["after"]
    # The consumer paths are links through live, and name the new pair; the old one is kept as it was.
    for name in ("client.key", "client.csr", "client.pem"):
        assert os.readlink(os.path.join(host.path, name)) == "live/" + name
        assert read_bytes(host.generation(old_id, name)) == old_files[name]
        assert file_mode(host.generation(old_id, name)) == (0o600 if name == "client.key" else 0o644)
    assert os.readlink(os.path.join(host.path, "live")) == "generations/" + generation_id
    assert os.readlink(os.path.join(host.path, "previous")) == "generations/" + old_id
    assert not os.path.lexists(os.path.join(host.path, "staged"))
    new_pair = host.consumer_pair()
    assert new_pair[0] == new_pair[1] != old_pair[0]
    assert read_bytes(os.path.join(host.path, "client.pem")) == host.pki.pem(new_cert)
    assert stat.S_ISREG(os.lstat(os.path.join(host.path, "wise-ca.pem")).st_mode)  # shared, untouched
    again = activate(run_module, host, generation_id)
    assert again["changed"] is False and again["switched"] is False
    assert [name for name in os.listdir(host.path) if name.endswith(".tmp")] == []


def test_the_other_modules_work_unchanged_through_the_links_of_a_rotated_folder(run_module, host, unchanged):
    generation_id = staged(run_module, host)
    new_cert = host.sign_staged(generation_id)
    activate(run_module, host)
    key, pem, request = (os.path.join(host.path, name) for name in ("client.key", "client.pem", "client.csr"))
    with unchanged(host.folder):
        results = [
            run_module(private_key, dict(path=key, type="ecc")),
            run_module(csr, dict(path=request, private_key_path=key, organization=ORGANIZATION, country="EU",
                                 client_id=CLIENT_ID)),
            run_module(certificate, dict(path=pem, private_key_path=key, content=host.pki.pem(new_cert).decode("ascii"),
                                         client_id=CLIENT_ID, mode="0644")),
        ]
    for result in results:
        assert result["rc"] == 0 and result["changed"] is False, result.get("msg")
        assert result["path"] in (key, pem, request)
    # A renewed certificate for the live key lands in the live generation; the link stays.
    renewed = host.pki.leaf(host.staged_key(generation_id), days_after=400)
    result = run_module(certificate, dict(path=pem, private_key_path=key, content=host.pki.pem(renewed).decode("ascii")))
    assert result["changed"] is True
    assert os.readlink(pem) == "live/client.pem"
    assert read_bytes(host.generation(generation_id, "client.pem")) == host.pki.pem(renewed)


def test_rolling_back_makes_the_old_pair_live_and_the_new_one_staged_again(run_module, host):
    generation_id = staged(run_module, host, generation="new")
    host.sign_staged(generation_id)
    old_pair = host.consumer_pair()
    old_id = activate(run_module, host)["previous_live"]
    result = activate(run_module, host, "previous")
    assert result["changed"] is True and result["rolled_back"] is True and result["generation"] == old_id
    assert (result["live"], result["staged"], result["previous"]) == (old_id, "new", None)
    assert host.consumer_pair() == old_pair
    assert not os.path.lexists(os.path.join(host.path, "previous"))
    assert activate(run_module, host, old_id)["changed"] is False
    forward = activate(run_module, host)  # staged again, so it can be activated once fixed
    assert forward["generation"] == "new" and forward["previous"] == old_id


def _no_certificate(host, generation_id):
    pass


def _certificate_of_another_key(host, generation_id):
    write_bytes(host.generation(generation_id, "client.pem"), host.pki.pem(host.old_cert))


def _expired_certificate(host, generation_id):
    host.sign_staged(generation_id, days_before=-10, days_after=-1)


def _not_yet_valid_certificate(host, generation_id):
    host.sign_staged(generation_id, days_before=2, days_after=300)


def _live_has_a_keystore_the_new_generation_lacks(host, generation_id):
    host.sign_staged(generation_id)
    write_bytes(host.folder / "client.p12", b"not really a keystore", 0o600)


@pytest.mark.parametrize("breakage, words", [
    (_no_certificate, "has no certificate"),
    (_certificate_of_another_key, "for another key"),
    (_expired_certificate, "expired"),
    (_not_yet_valid_certificate, "not valid yet"),
    (_live_has_a_keystore_the_new_generation_lacks, "lacks client.p12"),
], ids=lambda value: getattr(value, "__name__", "").strip("_"))
def test_a_generation_that_cannot_work_is_never_switched_to(run_module, host, unchanged, breakage, words):
    generation_id = staged(run_module, host)
    breakage(host, generation_id)
    for check_mode in (True, False):
        with unchanged(host.folder):
            result = run_module(generation, dict(path=host.path, state="live"), check_mode=check_mode)
        assert result["rc"] == 1 and words in result["msg"] and "Nothing was switched" in result["msg"], result["msg"]


def test_nothing_to_switch_to(run_module, host, unchanged):
    with unchanged(host.folder):
        for wanted, words in (("staged", "no staged generation"), ("previous", "no previous generation"),
                              ("nope", "has no generation nope")):
            result = run_module(generation, dict(path=host.path, state="live", generation=wanted))
            assert result["rc"] == 1 and words in result["msg"], result["msg"]


# ---------------------------------------------------------------- removing

def test_a_negative_age_is_refused_before_anything_is_removed(run_module, host, unchanged):
    generation_id = staged(run_module, host)
    host.sign_staged(generation_id)
    activate(run_module, host)
    with unchanged(host.folder):
        result = run_module(generation, dict(path=host.path, state="absent", generation="previous", older_than_days=-7))
    assert result["rc"] == 1 and "older_than_days is -7" in result["msg"] and "Nothing was changed" in result["msg"]


def test_cleanup_removes_the_previous_generation_and_names_its_certificate(run_module, host):
    generation_id = staged(run_module, host)
    host.sign_staged(generation_id)
    old_id = activate(run_module, host)["previous_live"]
    snapshot = folder_snapshot(host.folder)
    waiting = run_module(generation, dict(path=host.path, state="absent", older_than_days=7))
    assert waiting["changed"] is False and waiting["removed"] == [] and waiting["live_since"]
    assert folder_snapshot(host.folder) == snapshot
    results = four_runs(run_module, generation, dict(path=host.path, state="absent", generation="previous"), host.path)
    removed = results[1]["removed"]
    assert [entry["id"] for entry in removed] == [old_id] and results[0]["removed"] == removed
    assert removed[0]["certificate"]["fingerprint"] == ":".join(
        "{0:02x}".format(byte) for byte in bytearray(host.old_cert.fingerprint(hashes.SHA256())))
    assert removed[0]["origin"] == "migrated" and removed[0]["certificate_name"] is None
    assert os.listdir(os.path.join(host.path, "generations")) == [generation_id]
    assert not os.path.lexists(os.path.join(host.path, "previous"))
    assert host.consumer_pair()[0] == host.consumer_pair()[1]


def test_the_live_generation_is_never_removed(run_module, host, unchanged):
    generation_id = staged(run_module, host)
    host.sign_staged(generation_id)
    activate(run_module, host)
    with unchanged(host.folder):
        result = run_module(generation, dict(path=host.path, state="absent", generation=generation_id))
    assert result["rc"] == 1 and "is live" in result["msg"]


def test_inactive_generations_go_but_the_staged_one_stays(run_module, host):
    first = staged(run_module, host, generation="one")
    host.sign_staged(first)
    migrated = activate(run_module, host)["previous_live"]
    second = staged(run_module, host, generation="two")
    host.sign_staged(second)
    activate(run_module, host)
    staged(run_module, host, generation="three")
    result = run_module(generation, dict(path=host.path, state="absent", generation="inactive"))
    assert sorted(entry["id"] for entry in result["removed"]) == sorted([migrated, "one"])
    assert sorted(os.listdir(os.path.join(host.path, "generations"))) == ["three", "two"]
    assert (result["live"], result["staged"], result["previous"]) == ("two", "three", None)


# ---------------------------------------------------------------- generation_info

def test_info_on_a_flat_folder_reports_the_live_certificate(run_module, host, unchanged):
    with unchanged(host.folder):
        result = run_module(generation_info, dict(path=host.path))
    assert result["rc"] == 0 and result["changed"] is False
    assert result["layout"] == "flat" and result["live"]["id"] is None and result["generations"] == []
    assert result["live"]["key_match"] is True and result["healthy"] is True
    assert result["needs_renewal"] is True and 18 <= result["days_remaining"] <= 20
    assert result["live"]["certificate"]["common_name"] == CLIENT_ID
    assert result["limits"]["max_active_certificates"] == 10
    assert result["live_since"] is None and result["staged"] is None


def test_info_reports_live_staged_and_previous_generations(run_module, host):
    generation_id = staged(run_module, host, generation="g1")
    host.sign_staged(generation_id, days_after=365)
    old_id = activate(run_module, host)["previous_live"]
    staged(run_module, host, generation="g2")
    result = run_module(generation_info, dict(path=host.path, renew_before_days=400))
    assert result["layout"] == "generations"
    assert result["live"]["id"] == "g1" and result["previous"]["id"] == old_id and result["staged"]["id"] == "g2"
    assert [entry["id"] for entry in result["generations"]] == sorted([old_id, "g1", "g2"])
    assert result["needs_renewal"] is True and result["healthy"] is True  # within 400 days
    assert result["live"]["certificate_name"] == "sandbox-web-01-20261203-165400"
    assert result["staged"]["certificate"] is None and result["staged"]["key"]["type"] == "ecc"
    switched = datetime.datetime.fromtimestamp(int(os.lstat(os.path.join(host.path, "live")).st_mtime), datetime.timezone.utc)
    assert result["live_since"] == switched.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_info_on_a_missing_folder_and_on_foreign_links(run_module, tmp_path, host):
    missing = run_module(generation_info, dict(path=str(tmp_path / "missing")))
    assert missing["rc"] == 0 and missing["layout"] == "missing" and missing["healthy"] is False
    os.symlink("/etc", os.path.join(host.path, "live"))
    broken = run_module(generation_info, dict(path=host.path))
    assert broken["rc"] == 1 and "not a generation of this folder" in broken["msg"]


def test_safe_file_layer_sees_the_switch(run_module, host):
    generation_id = staged(run_module, host)
    host.sign_staged(generation_id)
    activate(run_module, host)
    assert safe_file.FileState(os.path.join(host.path, "client.key")).real_path == host.generation(
        generation_id, "client.key")


def test_client_info_describes_the_files_behind_the_links_of_a_rotated_folder(run_module, host):
    generation_id = staged(run_module, host)
    host.sign_staged(generation_id)
    activate(run_module, host)
    result = run_module(client_info, dict(directory=host.path, private_key_path=os.path.join(host.path, "client.key"),
                                          csr_path=os.path.join(host.path, "client.csr"),
                                          certificate_path=os.path.join(host.path, "client.pem")))
    assert result["rc"] == 0, result.get("msg")
    files = result["files"]
    assert (files["private_key"]["type"], files["private_key"]["mode"], files["private_key"]["link"]) == ("file", "0600", True)
    assert (files["certificate"]["type"], files["certificate"]["mode"], files["certificate"]["link"]) == ("file", "0644", True)
    assert files["csr"]["type"] == "file" and files["csr"]["link"] is True
    os.symlink("/etc/hostname", os.path.join(host.path, "other-link"))
    other = run_module(client_info, dict(directory=host.path, private_key_path=os.path.join(host.path, "other-link"),
                                         certificate_path=os.path.join(host.path, "client.pem")))
    assert other["files"]["private_key"]["type"] == "link" and "link" not in other["files"]["private_key"]
