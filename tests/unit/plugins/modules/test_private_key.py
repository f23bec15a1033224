# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.private_key, run in-process; keys judged by the openssl CLI and os.stat."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from ansible_collections.wise.mtls.plugins.modules import private_key
from ansible_collections.wise.mtls.tests.unit.helpers import (
    assert_no_key_material,
    file_mode,
    four_runs,
    needs_root,
    read_bytes,
    write_bytes,
)

PASSPHRASE = "correct horse battery staple"
DAEMON_GID = grp.getgrnam("daemon").gr_gid
NOGROUP_GID = grp.getgrnam("nogroup").gr_gid


def key_files(folder):
    """Bytes of every file in folder (keys and backups) for the no-key-material checks."""
    return [read_bytes(os.path.join(str(folder), name)) for name in sorted(os.listdir(str(folder)))
            if os.path.isfile(os.path.join(str(folder), name))]


def assert_results_hold_no_key_material(results, folder):
    for result in results:
        for pem in key_files(folder):
            assert_no_key_material(result["_stdout"], pem)


# ---------------------------------------------------------------- every allowed key

@pytest.mark.parametrize("key_type, size, expected_size, openssl_says", [
    (None, None, 4096, "Private-Key: (4096 bit"),  # the default: RSA 4096, as in Wise's own example
    ("rsa", 2048, 2048, "Private-Key: (2048 bit"),
    ("rsa", 3072, 3072, "Private-Key: (3072 bit"),
    ("ecc", None, 256, "NIST CURVE: P-256"),
    ("ecc", 384, 384, "NIST CURVE: P-384"),
])
def test_every_allowed_key(run_module, openssl, tmp_path, key_type, size, expected_size, openssl_says):
    path = str(tmp_path / "client.key")
    args = dict(path=path)
    if key_type:
        args["type"] = key_type
    if size:
        args["size"] = size
    result = run_module(private_key, args)
    assert result["rc"] == 0 and result["changed"]
    assert file_mode(path) == 0o600
    assert openssl_says in openssl.pkey_text(path)
    assert read_bytes(path).startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert result["key_type"] == (key_type or "rsa") and result["key_size"] == expected_size
    assert result["fingerprint"] == openssl.fingerprint(path)
    assert result["public_key"].encode("ascii") == openssl.public_key_pem(path)
    assert result.get("key_curve") == {256: "secp256r1", 384: "secp384r1"}.get(expected_size if key_type == "ecc" else 0)
    assert_no_key_material(result["_stdout"], read_bytes(path))
    again = run_module(private_key, args)
    assert again["rc"] == 0 and not again["changed"]
    assert again["fingerprint"] == result["fingerprint"]


def test_key_is_0600_from_its_first_byte_whatever_the_umask(run_module, openssl, tmp_path, umask_000, write_spy):
    path = str(tmp_path / "client.key")
    events = write_spy(tmp_path)
    result = run_module(private_key, dict(path=path, type="ecc"))
    assert result["changed"]
    assert [event["kind"] for event in events if event["kind"] != "write"] == ["fsync", "rename"]
    assert events[0]["kind"] == "write" and events[0]["size"] == 0
    assert all(event["mode"] == 0o600 for event in events), events
    assert file_mode(path) == 0o600
    assert "NIST CURVE: P-256" in openssl.pkey_text(path)


@needs_root
def test_owner_group_and_mode_as_asked_from_the_first_byte(run_module, tmp_path, umask_000, write_spy):
    path = str(tmp_path / "client.key")
    events = write_spy(tmp_path)
    result = run_module(private_key, dict(path=path, type="ecc", owner="daemon", group="nogroup", mode="0640"))
    assert result["changed"] and result["owner"] == "daemon" and result["group"] == "nogroup"
    info = os.stat(path)
    wanted = (0o640, pwd.getpwnam("daemon").pw_uid, NOGROUP_GID)
    assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == wanted
    assert events and all((event["mode"], event["uid"], event["gid"]) == wanted for event in events), events
    assert not run_module(private_key, dict(path=path, type="ecc", owner="daemon", group="nogroup",
                                            mode="0640"))["changed"]


def test_encrypted_key(run_module, openssl, tmp_path):
    path = str(tmp_path / "client.key")
    args = dict(path=path, type="ecc", size=384, passphrase=PASSPHRASE)
    result = run_module(private_key, args)
    assert result["changed"] and file_mode(path) == 0o600
    assert read_bytes(path).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert "NIST CURVE: P-384" in openssl.pkey_text(path, PASSPHRASE)
    assert openssl.run("pkey", "-in", path, "-noout", "-passin", "pass:wrong", check=False).returncode != 0
    assert result["fingerprint"] == openssl.fingerprint(path, passphrase=PASSPHRASE)
    assert PASSPHRASE not in result["_stdout"]
    again = run_module(private_key, args)
    assert not again["changed"] and PASSPHRASE not in again["_stdout"]


# ---------------------------------------------------------------- refusals change nothing

def existing_key(spec, passphrase=None, mode=0o600):
    def prepare(openssl, folder):
        path = openssl.write_key(spec, os.path.join(folder, "client.key"), passphrase=passphrase)
        os.chmod(path, mode)

    return prepare


def existing_bytes(data):
    def prepare(_openssl, folder):
        write_bytes(os.path.join(folder, "client.key"), data, 0o600)

    return prepare


def truncated_key(openssl, folder):
    lines = openssl.key_pem("rsa:2048").splitlines(True)
    write_bytes(os.path.join(folder, "client.key"), b"".join(lines[:5] + lines[-1:]), 0o600)


def symlink_elsewhere(openssl, folder):
    elsewhere = os.path.join(folder, "elsewhere")
    os.mkdir(elsewhere)
    target = openssl.write_key("ec:P-256", os.path.join(elsewhere, "real.key"))
    os.symlink(target, os.path.join(folder, "client.key"))


def directory(_openssl, folder):
    os.mkdir(os.path.join(folder, "client.key"))


def nothing(_openssl, _folder):
    pass


def file_named(name):
    def prepare(_openssl, folder):
        write_bytes(os.path.join(folder, name), b"not a folder\n", 0o644)

    return prepare


REFUSALS = {
    "rsa-1024": (nothing, dict(type="rsa", size=1024),
                 ["RSA 1024 bits is not accepted by Wise (too weak)", "use 2048, 3072 or 4096 bits", "Nothing was changed"]),
    "rsa-8192": (nothing, dict(type="rsa", size=8192),
                 ["RSA 8192 bits is not accepted by Wise (too large)", "use 2048, 3072 or 4096 bits"]),
    "ecc-521": (nothing, dict(type="ecc", size=521), ["ECC 521 bits is not accepted by Wise", "use P-256 (256) or P-384"]),
    "ed25519": (nothing, dict(type="ed25519"), ["type", "rsa, ecc", "ed25519"]),
    "mode-0644": (nothing, dict(type="ecc", mode="0644"), ["Mode 0644", "use 0600, or 0640 with a service group"]),
    "mode-0644-existing": (existing_key("ec:P-256"), dict(type="ecc", mode="0644"), ["Mode 0644"]),
    "mode-symbolic": (nothing, dict(type="ecc", mode="u=rw"), ["not an octal mode", "'0600'"]),
    "missing-parent": (nothing, dict(type="ecc", path="{folder}/missing/client.key"),
                       ["The folder {folder}/missing does not exist; create it first"]),
    "symlink": (symlink_elsewhere, dict(type="ecc"),
                ["{folder}/client.key is a symbolic link (to {folder}/elsewhere/real.key)", "remove the link"]),
    "symlink-absent": (symlink_elsewhere, dict(state="absent"), ["is a symbolic link", "remove the link"]),
    "directory": (directory, dict(type="ecc"), ["exists but is not a regular file", "choose another path"]),
    "other-type": (existing_key("ec:P-256"), dict(type="rsa", size=2048),
                   ["holds an ECC P-256 key, but an RSA 2048 key was asked for", "Nothing was changed",
                    "set replace_mismatched=true to replace it"]),
    "other-size": (existing_key("rsa:2048"), dict(type="rsa", size=3072),
                   ["holds an RSA 2048 key, but an RSA 3072 key was asked for", "replace_mismatched=true"]),
    "other-curve": (existing_key("ec:P-384"), dict(type="ecc", size=256),
                    ["holds an ECC P-384 key, but an ECC P-256 key was asked for"]),
    "existing-ed25519": (existing_key("ed25519"), dict(type="ecc"),
                         ["holds an Ed25519 key, but an ECC P-256 key was asked for", "replace_mismatched=true"]),
    "existing-p521": (existing_key("ec:P-521"), dict(type="ecc", size=384),
                      ["holds an ECC P-521 key, but an ECC P-384 key was asked for"]),
    "corrupt": (existing_bytes(b"this is not a key\n"), dict(type="ecc"),
                ["cannot be used: the file does not hold a PEM private key", "replace_mismatched=true"]),
    "truncated": (truncated_key, dict(type="rsa", size=2048), ["cannot be used: the private key cannot be read"]),
    "empty": (existing_bytes(b""), dict(type="ecc"), ["cannot be used"]),
    "not-encrypted": (existing_key("ec:P-256"), dict(type="ecc", passphrase=PASSPHRASE),
                      ["a passphrase was given but the private key is not encrypted", "replace_mismatched=true"]),
    "encrypted-without-passphrase": (existing_key("ec:P-256", passphrase=PASSPHRASE), dict(type="ecc"),
                                     ["the private key is encrypted and no passphrase was given",
                                      "Give the right passphrase; nothing was changed"]),
    "wrong-passphrase": (existing_key("ec:P-256", passphrase=PASSPHRASE), dict(type="ecc", passphrase="wrong"),
                         ["the passphrase does not decrypt the private key", "Give the right passphrase"]),
    "wrong-passphrase-even-with-replace": (existing_key("ec:P-256", passphrase=PASSPHRASE),
                                           dict(type="ecc", passphrase="wrong", replace_mismatched=True),
                                           ["the passphrase does not decrypt the private key"]),
    "unknown-group": (nothing, dict(type="ecc", group="no-such-group-wise"),
                      ["The group 'no-such-group-wise' does not exist on this host; create it first"]),
    "unknown-owner": (existing_key("ec:P-256"), dict(type="ecc", owner="no-such-user-wise"),
                      ["The owner 'no-such-user-wise' does not exist on this host"]),
    # With the folder option: nothing is made, and an existing folder keeps its mode, when the key is refused.
    "folder-rsa-1024": (nothing, dict(type="rsa", size=1024, path="{folder}/new/client.key",
                                      folder=dict(mode="0750", parent_mode="0755")),
                        ["RSA 1024 bits is not accepted by Wise (too weak)", "Nothing was changed"]),
    "folder-other-type": (existing_key("ec:P-256"), dict(type="rsa", size=2048, folder=dict(mode="0750")),
                          ["holds an ECC P-256 key, but an RSA 2048 key was asked for"]),
    "folder-wrong-passphrase": (existing_key("ec:P-256", passphrase=PASSPHRASE),
                                dict(type="ecc", passphrase="wrong", folder=dict(mode="0750")),
                                ["the passphrase does not decrypt the private key"]),
    "folder-unknown-group": (nothing, dict(type="ecc", path="{folder}/new/client.key", group="no-such-group-wise",
                                           folder=dict(parent_mode="0755")),
                             ["The group 'no-such-group-wise' does not exist on this host"]),
    "folder-symbolic-mode": (nothing, dict(type="ecc", path="{folder}/new/client.key", folder=dict(mode="u=rwx")),
                             ["not an octal mode"]),
    "folder-file-in-the-way": (file_named("new"), dict(type="ecc", path="{folder}/new/client.key", folder=dict()),
                               ["{folder}/new exists but is not a folder"]),
    "folder-missing-parent": (nothing, dict(type="ecc", path="{folder}/a/b/client.key", folder=dict()),
                              ["The folder {folder}/a does not exist; create it first, or give parent_mode"]),
    "folder-with-absent": (existing_key("ec:P-256"), dict(state="absent", folder=dict()),
                           ["folder is only for state=present"]),
}


@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "real"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_the_problem_and_change_nothing(run_module, openssl, tmp_path, unchanged, case, check_mode):
    prepare, args, words = REFUSALS[case]
    folder = str(tmp_path)
    prepare(openssl, folder)
    args = dict(args)
    args["path"] = args.get("path", "{folder}/client.key").format(folder=folder)
    with unchanged(folder):
        result = run_module(private_key, args, check_mode=check_mode, diff=True)
    assert result["rc"] == 1 and result["failed"]
    for word in words:
        assert word.format(folder=folder) in result["msg"]
    assert "diff" not in result
    assert PASSPHRASE not in result["_stdout"]
    if os.path.isfile(os.path.join(folder, "client.key")):
        assert_no_key_material(result["_stdout"], read_bytes(os.path.join(folder, "client.key")))


@needs_root
def test_unreadable_key_is_refused(run_module, openssl, shared_tmp_path, as_user, unchanged):
    """A key the user cannot read is never replaced (not even with replace_mismatched)."""
    path = openssl.write_key("ec:P-256", os.path.join(shared_tmp_path, "client.key"))
    with unchanged(shared_tmp_path):
        with as_user("nobody"):
            result = run_module(private_key, dict(path=path, type="ecc", replace_mismatched=True))
    assert result["failed"]
    assert "Cannot read {0}: Permission denied. Check its permissions.".format(path) in result["msg"]


# ---------------------------------------------------------------- the four-run pattern, diffs

def test_creation_four_runs(run_module, openssl, tmp_path):
    path = str(tmp_path / "client.key")
    results = four_runs(run_module, private_key, dict(path=path, type="ecc", size=256), str(tmp_path))
    assert results[0]["fingerprint"] is None and results[0]["key_type"] == "ecc" and results[0]["key_size"] == 256
    assert results[0]["diff"]["before"] == ""
    assert "fingerprint: (new key)" in results[0]["diff"]["after"] and "mode: 0600" in results[0]["diff"]["after"]
    fingerprint = openssl.fingerprint(path)
    assert results[1]["fingerprint"] == results[2]["fingerprint"] == results[3]["fingerprint"] == fingerprint
    assert "fingerprint: {0}".format(fingerprint) in results[1]["diff"]["after"]
    assert results[3]["diff"]["before"] == results[3]["diff"]["after"]
    assert_results_hold_no_key_material(results, tmp_path)


def test_folder_option_makes_a_new_hosts_folders_and_key_in_one_call(run_module, openssl, tmp_path, umask_000):
    root = tmp_path / "etc" / "wise-mtls"
    folder = root / "sandbox"
    path = str(folder / "client.key")
    args = dict(path=path, type="ecc", folder=dict(mode="0750", parent_mode="0755"))
    results = four_runs(run_module, private_key, args, str(tmp_path))
    assert [file_mode(str(f)) for f in (tmp_path / "etc", root, folder)] == [0o755, 0o755, 0o750]
    assert file_mode(path) == 0o600 and results[1]["fingerprint"] == openssl.fingerprint(path)
    created = [str(tmp_path / "etc"), str(root), str(folder)]
    assert results[0]["folders_created"] == results[1]["folders_created"] == created
    assert results[2]["folders_created"] == results[3]["folders_created"] == []
    # The diff: the folders, then the key; check mode predicted the folders exactly.
    assert results[0]["diff"][0] == results[1]["diff"][0]
    assert results[1]["diff"][0]["before"][str(folder)] == dict(state="absent")
    assert results[1]["diff"][0]["after"][str(folder)]["mode"] == "0750"
    assert "fingerprint: (new key)" in results[0]["diff"][1]["after"]
    assert results[3]["diff"]["before"] == results[3]["diff"]["after"]
    assert_results_hold_no_key_material(results, folder)


def test_folder_option_fixes_the_folder_of_an_existing_key_and_keeps_the_key(run_module, openssl, tmp_path):
    folder = tmp_path / "sandbox"
    folder.mkdir()
    os.chmod(str(folder), 0o755)
    path = openssl.write_key("ec:P-256", folder / "client.key")
    key = read_bytes(path)
    results = four_runs(run_module, private_key, dict(path=path, type="ecc", folder=dict(mode="0700")),
                        str(tmp_path))
    assert read_bytes(path) == key and file_mode(str(folder)) == 0o700
    assert results[0]["folders_created"] == []
    assert results[0]["diff"][0]["before"][str(folder)]["mode"] == "0755"
    assert results[0]["diff"][0] == results[1]["diff"][0]
    assert results[0]["fingerprint"] == openssl.fingerprint(path)


@needs_root
def test_attribute_change_four_runs(run_module, openssl, tmp_path):
    path = openssl.write_key("ec:P-256", tmp_path / "client.key")
    key = read_bytes(path)
    args = dict(path=path, type="ecc", mode="0640", group="daemon")
    results = four_runs(run_module, private_key, args, str(tmp_path))
    assert read_bytes(path) == key
    assert file_mode(path) == 0o640 and os.stat(path).st_gid == DAEMON_GID
    # Check mode predicted exactly what the real run did.
    assert results[0]["diff"] == results[1]["diff"]
    assert "group: daemon" in results[0]["diff"]["after"] and "mode: 0640" in results[0]["diff"]["after"]
    assert "mode: 0600" in results[0]["diff"]["before"]
    assert results[0]["fingerprint"] == openssl.fingerprint(path)
    assert_results_hold_no_key_material(results, tmp_path)


@needs_root
def test_replacement_four_runs_keeps_a_0600_backup(run_module, openssl, tmp_path):
    old_path = openssl.write_key("ec:P-256", tmp_path / "client.key")
    os.chmod(old_path, 0o640)
    os.chown(old_path, -1, DAEMON_GID)
    old_key = read_bytes(old_path)
    args = dict(path=old_path, type="ecc", size=384, replace_mismatched=True)
    results = four_runs(run_module, private_key, args, str(tmp_path))
    assert "backup_file" not in results[0]
    backup = results[1]["backup_file"]
    assert os.path.dirname(backup) == str(tmp_path) and backup.startswith(old_path + ".")
    assert read_bytes(backup) == old_key
    assert file_mode(backup) == 0o600 and os.stat(backup).st_gid == DAEMON_GID
    assert sorted(os.listdir(str(tmp_path))) == sorted(["client.key", os.path.basename(backup)])
    assert "NIST CURVE: P-384" in openssl.pkey_text(old_path)
    assert file_mode(old_path) == 0o600
    assert "size: 256" in results[0]["diff"]["before"] and "size: 384" in results[0]["diff"]["after"]
    assert "size: 384" in results[1]["diff"]["after"]
    assert_results_hold_no_key_material(results, tmp_path)


def test_replacing_a_corrupt_key_and_encrypting(run_module, openssl, tmp_path):
    path = write_bytes(tmp_path / "client.key", b"garbage\n", 0o600)
    results = four_runs(run_module, private_key, dict(path=path, type="ecc", passphrase=PASSPHRASE,
                                                      replace_mismatched=True), str(tmp_path))
    assert read_bytes(results[1]["backup_file"]) == b"garbage\n"
    assert "NIST CURVE: P-256" in openssl.pkey_text(path, PASSPHRASE)
    for result in results:
        assert PASSPHRASE not in result["_stdout"]
    assert_results_hold_no_key_material(results, tmp_path)


def test_absent_four_runs_with_backup(run_module, openssl, tmp_path):
    path = openssl.write_key("rsa:2048", tmp_path / "client.key")
    key = read_bytes(path)
    results = four_runs(run_module, private_key, dict(path=path, state="absent", backup=True), str(tmp_path))
    assert not os.path.exists(path)
    backup = results[1]["backup_file"]
    assert read_bytes(backup) == key and file_mode(backup) == 0o600
    assert os.listdir(str(tmp_path)) == [os.path.basename(backup)]
    assert "type: rsa" in results[0]["diff"]["before"] and results[0]["diff"]["after"] == ""
    assert results[0]["diff"] == results[1]["diff"]
    for result in results:
        assert_no_key_material(result["_stdout"], key)


def test_absent_without_backup_and_missing_folder(run_module, openssl, tmp_path):
    path = openssl.write_key("ec:P-256", tmp_path / "client.key")
    four_runs(run_module, private_key, dict(path=path, state="absent"), str(tmp_path))
    assert os.listdir(str(tmp_path)) == []
    missing = run_module(private_key, dict(path=str(tmp_path / "nowhere" / "client.key"), state="absent"))
    assert missing["rc"] == 0 and not missing["changed"]


def test_existing_key_from_openssl_is_kept(run_module, openssl, tmp_path):
    """A compliant key made elsewhere (openssl, as in Wise's guide) is adopted as it is."""
    path = openssl.write_key("rsa:2048", tmp_path / "client.key", passphrase=PASSPHRASE)
    before = read_bytes(path)
    result = run_module(private_key, dict(path=path, type="rsa", size=2048, passphrase=PASSPHRASE))
    assert result["rc"] == 0 and not result["changed"]
    assert read_bytes(path) == before
    assert result["fingerprint"] == openssl.fingerprint(path, passphrase=PASSPHRASE)
