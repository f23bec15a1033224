# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secrets: no passphrase, password, token, client secret or private key ever leaks.

Every module runs at -vvvv with --diff, with distinctive random secrets in play: a key
passphrase, a PKCS#12 password, a Java trust store password, an API client secret, an access
token (and the tokens verify fetches itself, recorded by the emulator), and the real private
keys the modules made (searched as their secret PEM lines and as their raw secret numbers in
hex, decimal and base64). Searched: standard output and error, every registered result, the
diffs (in the output and the results), every file the modules wrote or backed up (except
where a secret belongs: a key in its own key file, a key in its backup or the combined PEM),
and everything left in Ansible's temp folders.

Ansible's temp folders, by design: with ANSIBLE_KEEP_REMOTE_FILES=1 the AnsiballZ payload of
each task is kept, and it holds the task's own arguments - secrets the caller passed in
(passphrases, passwords, tokens), never key material. That is accepted when each such file
sits in a folder that Ansible created for the owner alone (0700). Without keep-remote-files,
nothing at all may remain there.
"""

from __future__ import annotations

import collections
import glob
import os
import pwd
import stat

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.wise.mtls.tests.safety.safety_helpers import (
    RecordingWise,
    SecretScanner,
    files_under,
    key_pem,
    random_secret,
    read_bytes,
    task,
    write_file,
)

VERBOSITY = 4


@pytest.fixture(scope="module")
def wise(tmp_path_factory):
    emulator = RecordingWise(tmp_path_factory.mktemp("wise-emulator") / "state",
                             "safety-client-" + random_secret("")[:12], random_secret("client-secret-"))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def access_token(wise, tmp_path_factory):
    """A real access token, fetched the way the playground's callers do (mTLS + client credentials)."""
    client = wise.hub.issue_client_certificate("token-fetcher", client_id=wise.client_id,
                                               out_dir=str(tmp_path_factory.mktemp("token-fetcher")))
    answer = requests.post(wise.base_url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(wise.client_id, wise.client_secret), cert=client.cert, verify=wise.ca_path, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def make_keys_tasks(f, s):
    return [
        task("wise.mtls.private_key", dict(path=f("enc.key"), type="rsa", size=2048, passphrase=s["passphrase"]), "enc_key"),
        task("wise.mtls.private_key", dict(path=f("enc.key"), type="rsa", size=2048, passphrase=s["passphrase"]), "enc_key_again"),
        task("wise.mtls.private_key", dict(path=f("plain.key"), type="ecc"), "plain_key"),
        task("wise.mtls.private_key", dict(path=f("old.key"), type="rsa", size=2048), "old_key"),
        task("wise.mtls.csr", dict(path=f("plain.csr"), private_key_path=f("plain.key"), organization="Safety Ltd",
                                   country="EU", client_id=s["client_id"]), "plain_csr"),
        task("wise.mtls.csr", dict(path=f("enc.csr"), private_key_path=f("enc.key"), organization="Safety Ltd",
                                   private_key_passphrase=s["passphrase"], client_id=s["client_id"]), "enc_csr"),
        task("wise.mtls.csr_info", dict(path=f("plain.csr"), client_id=s["client_id"]), "plain_csr_info"),
        task("wise.mtls.private_key", dict(path=f("enc.key"), type="rsa", size=2048, passphrase=s["wrong_passphrase"]),
             "enc_key_wrong_passphrase", ignore_errors=True),
        # Rotation: the live files (as the client role makes them), and a staged generation holding a given key.
        task("wise.mtls.private_key", dict(path=f("rotation", "client.key"), type="ecc"), "rotation_key"),
        task("wise.mtls.csr", dict(path=f("rotation", "client.csr"), private_key_path=f("rotation", "client.key"),
                                   organization="Safety Ltd", client_id=s["client_id"]), "rotation_csr"),
        task("wise.mtls.generation", dict(path=f("rotation"), state="staged", generation="next", private_key_content=s["staged_key"],
                                          organization="Safety Ltd", client_id=s["client_id"]), "staged"),
        task("wise.mtls.generation", dict(path=f("rotation"), state="staged", generation="next", private_key_content="not a key",
                                          organization="Safety Ltd"), "staged_bad_content", ignore_errors=True),
    ]


def install_tasks(f, s, wise):
    verify_common = dict(base_url=wise.base_url, ca_path=wise.ca_path, timeout=30)
    return [
        task("wise.mtls.certificate", dict(path=f("plain.pem"), content=s["plain_certificate"], private_key_path=f("plain.key"),
                                           client_id=s["client_id"], ca_path=wise.client_ca_path, pkcs12_path=f("plain.p12"),
                                           pkcs12_password=s["p12_password"], combined_path=f("combined.pem")), "plain_certificate"),
        task("wise.mtls.certificate", dict(path=f("plain.pem"), content=s["plain_certificate"], private_key_path=f("plain.key"),
                                           client_id=s["client_id"], ca_path=wise.client_ca_path, pkcs12_path=f("plain.p12"),
                                           pkcs12_password=s["p12_password"], combined_path=f("combined.pem")), "plain_certificate_again"),
        task("wise.mtls.certificate", dict(path=f("enc.pem"), content=s["enc_certificate"], private_key_path=f("enc.key"),
                                           private_key_passphrase=s["passphrase"], pkcs12_path=f("enc.p12"),
                                           pkcs12_password=s["p12_password"], combined_path=f("enc-combined.pem"),
                                           combined_mode="0640"), "enc_certificate"),
        task("wise.mtls.certificate", dict(path=f("enc.pem"), content=s["enc_certificate"], private_key_path=f("enc.key"),
                                           private_key_passphrase=s["wrong_passphrase"]), "enc_certificate_wrong_passphrase",
             ignore_errors=True),
        task("wise.mtls.ca_trust", dict(name="wise-sandbox", src=wise.ca_path, stores=["bundle", "java"], bundle_path=f("wise-ca.pem"),
                                        java_truststore_path=f("truststore.p12"), java_truststore_password=s["truststore_password"],
                                        java_truststore_backend="cryptography"), "ca_trust"),
        task("wise.mtls.ca_trust", dict(name="wise-sandbox", src=wise.ca_path, stores=["bundle", "java"], bundle_path=f("wise-ca.pem"),
                                        java_truststore_path=f("truststore.p12"), java_truststore_password=s["wrong_passphrase"],
                                        java_truststore_backend="cryptography"), "ca_trust_wrong_password", ignore_errors=True),
        task("wise.mtls.certificate_info", dict(path=f("enc.pem"), private_key_path=f("enc.key"),
                                                private_key_passphrase=s["passphrase"], ca_path=wise.client_ca_path), "enc_info"),
        task("wise.mtls.verify", dict(verify_common, client_cert_path=f("plain.pem"), client_key_path=f("plain.key"),
                                      access_token=s["access_token"]), "verify_token"),
        task("wise.mtls.verify", dict(verify_common, client_cert_path=f("enc.pem"), client_key_path=f("enc.key"),
                                      client_key_passphrase=s["passphrase"], client_id=s["client_id"],
                                      client_secret=s["client_secret"]), "verify_client_credentials"),
        task("wise.mtls.verify", dict(verify_common, client_cert_path=f("plain.pem"), client_key_path=f("plain.key"),
                                      client_id=s["client_id"], client_secret=s["wrong_client_secret"]), "verify_wrong_secret",
             ignore_errors=True),
        task("wise.mtls.certificate", dict(path=f("rotation", "client.pem"), content=s["rotation_certificate"],
                                           private_key_path=f("rotation", "client.key")), "rotation_certificate"),
        task("wise.mtls.certificate", dict(path=f("rotation", "generations", "next", "client.pem"), content=s["staged_certificate"],
                                           private_key_path=f("rotation", "generations", "next", "client.key")), "staged_certificate"),
        task("wise.mtls.generation", dict(path=f("rotation"), state="live", generation="next"), "switch"),
        task("wise.mtls.generation_info", dict(path=f("rotation")), "generations"),
        task("wise.mtls.generation", dict(path=f("rotation"), state="absent", generation="previous"), "previous_removed"),
        task("wise.mtls.private_key", dict(path=f("old.key"), type="ecc", replace_mismatched=True), "old_key_replaced"),
        task("wise.mtls.private_key", dict(path=f("old.key"), type="ecc", state="absent", backup=True), "old_key_removed"),
    ]


def run_secrets_flow(ansible, folder, wise, access_token, keep_remote_files):
    """Both playbooks at -vvvv --diff in folder; returns (runs, secrets, paths of the key files)."""
    os.makedirs(folder)

    def f(*names):
        return os.path.join(folder, *names)

    os.makedirs(f("rotation"))
    s = dict(passphrase=random_secret("passphrase-"), wrong_passphrase=random_secret("wrong-passphrase-"),
             staged_key=key_pem(ec.generate_private_key(ec.SECP256R1())).decode("ascii"),
             p12_password=random_secret("p12-password-"), truststore_password=random_secret("truststore-password-"),
             client_id=wise.client_id, client_secret=wise.client_secret, wrong_client_secret=random_secret("wrong-secret-"),
             access_token=access_token)
    options = dict(verbosity=VERBOSITY, diff=True, keep_remote_files=keep_remote_files)
    runs = [ansible.run(make_keys_tasks(f, s), name="secrets-keys", **options)]
    assert runs[0].rc == 0, runs[0].describe()
    s["rotation_key"] = read_bytes(f("rotation", "client.key"))  # before the switch makes it a generation, then removed
    for name, csr in (("plain", f("plain.csr")), ("enc", f("enc.csr")), ("rotation", f("rotation", "client.csr")),
                      ("staged", f("rotation", "generations", "next", "client.csr"))):
        pem = wise.sign(read_bytes(csr), "{0}-{1}-{2}".format(name, os.path.basename(folder), random_secret("")[:8]))
        s[name + "_certificate"] = pem.decode("ascii") if isinstance(pem, bytes) else pem
    runs.append(ansible.run(install_tasks(f, s, wise), name="secrets-install", **options))
    assert runs[1].rc == 0, runs[1].describe()
    return runs, s


def check_flow_results(runs):
    """The flow did what it should (so the scan is of real work, not of early failures)."""
    results = dict(runs[0].results, **runs[1].results)
    for name in ("enc_key", "plain_key", "old_key", "plain_csr", "enc_csr", "plain_certificate", "enc_certificate", "ca_trust",
                 "old_key_replaced", "old_key_removed", "staged", "switch", "previous_removed"):
        assert results[name]["changed"] and not results[name].get("failed"), (name, results[name])
    for name in ("enc_key_again", "plain_certificate_again"):
        assert not results[name]["changed"], (name, results[name])
    for name in ("enc_key_wrong_passphrase", "enc_certificate_wrong_passphrase", "ca_trust_wrong_password", "verify_wrong_secret",
                 "staged_bad_content"):
        assert results[name].get("failed"), (name, results[name])
    assert results["verify_token"].get("status") == 200, results["verify_token"]
    assert results["verify_client_credentials"].get("status") == 200, results["verify_client_credentials"]
    assert results["verify_wrong_secret"]["failure"]["category"] == "unauthorized", results["verify_wrong_secret"]
    assert results["old_key_replaced"].get("backup_file") and results["old_key_removed"].get("backup_file")
    return results


def build_scanner(folder, s, wise, results):
    """The scanner with every secret of the flow; and {file: the secret kinds that belong in it}."""
    scanner = SecretScanner()
    for kind in ("passphrase", "wrong_passphrase", "p12_password", "truststore_password", "client_secret",
                 "wrong_client_secret", "access_token"):
        scanner.add_text(kind, s[kind])
    scanner.add_basic_auth("client_secret", s["client_id"], s["client_secret"])
    scanner.add_basic_auth("wrong_client_secret", s["client_id"], s["wrong_client_secret"])
    fetched = [token for token in wise.issued_tokens if token != s["access_token"]]
    for number, token in enumerate(fetched):
        scanner.add_text("fetched access token {0}".format(number + 1), token)
    plain = read_bytes(os.path.join(folder, "plain.key"))
    encrypted = read_bytes(os.path.join(folder, "enc.key"))
    scanner.add_private_key("plain key", plain)
    scanner.add_private_key("encrypted key", encrypted, s["passphrase"])
    # The encrypted file's own PEM lines are as secret as the key (offline guessing of the passphrase).
    scanner.add_text_lines("encrypted key file", encrypted)
    allowed = {
        os.path.join(folder, "plain.key"): {"plain key"},
        os.path.join(folder, "enc.key"): {"encrypted key file"},
        os.path.join(folder, "combined.pem"): {"plain key"},
        os.path.join(folder, "enc-combined.pem"): {"encrypted key file"},
    }
    scanner.add_private_key("staged key content", s["staged_key"].encode("ascii"))
    scanner.add_private_key("rotation key", s["rotation_key"])
    allowed[os.path.join(folder, "rotation", "generations", "next", "client.key")] = {"staged key content"}
    for name, kind in (("old_key_replaced", "old RSA key"), ("old_key_removed", "its ECC replacement")):
        backup = results[name]["backup_file"]
        scanner.add_private_key(kind, read_bytes(backup))
        allowed[backup] = {kind}
    return scanner, allowed


def other_readable(path, stop_at):
    """True when a user other than the owner (and the group) could read path, judged from path up to stop_at."""
    if stat.S_IMODE(os.lstat(path).st_mode) & 0o044 == 0:
        return False
    folder = os.path.dirname(path)
    while folder.startswith(stop_at.rstrip(os.sep) + os.sep) or folder == stop_at:
        if stat.S_IMODE(os.stat(folder).st_mode) & 0o011 == 0:
            return False
        if folder == stop_at:
            break
        folder = os.path.dirname(folder)
    return True


@pytest.mark.parametrize("keep_remote_files", [False, True], ids=["default", "keep_remote_files"])
def test_no_secret_leaks(ansible, wise, access_token, tmp_path, tally, keep_remote_files):
    folder = str(tmp_path / "keys")
    runs, s = run_secrets_flow(ansible, folder, wise, access_token, keep_remote_files)
    results = check_flow_results(runs)
    scanner, allowed = build_scanner(folder, s, wise, results)

    artifacts = []  # (name, bytes, secret kinds allowed)
    for run in runs:
        name = os.path.basename(os.path.dirname(run.playbook_path))
        artifacts.append((name + " stdout", run.stdout.encode("utf-8"), set()))
        artifacts.append((name + " stderr", run.stderr.encode("utf-8"), set()))
        artifacts.append((name + " results", read_bytes(os.path.join(os.path.dirname(run.playbook_path), "results.json")), set()))
    for path in sorted(files_under(folder)):
        artifacts.append((path, read_bytes(path), allowed.get(path, set())))
    temp_files = [(run, path) for run in runs for path in sorted(files_under(run.temp_root))]
    for _run, path in temp_files:
        artifacts.append((path, read_bytes(path), "temp"))

    leaks, kept = [], collections.defaultdict(set)
    for name, data, may_hold in artifacts:
        hits = scanner.scan(data)
        if may_hold == "temp" and hits:
            kept[os.path.basename(name)].update(kind for kind, _form in hits)
            continue
        unexpected = [hit for hit in hits if hit[0] not in may_hold]
        if unexpected:
            leaks.append("{0}: {1}".format(name, unexpected))
    total_bytes = sum(len(data) for _name, data, _may in artifacts)
    tally.add("secret_scans", len(artifacts) * scanner.count, (len(artifacts) - len(leaks)) * scanner.count,
              hits=len(leaks), artifacts=len(artifacts), bytes=total_bytes, secrets=scanner.count, private_keys=6)
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)

    # Every secret was really in play: the scanner finds each in the place it belongs.
    assert scanner.scan(read_bytes(os.path.join(folder, "plain.key"))), "the scanner does not recognise the plain key"
    assert scanner.scan(read_bytes(os.path.join(folder, "combined.pem")))
    assert len(wise.issued_tokens) >= 2  # the access_token fixture's and the one verify fetched

    if not keep_remote_files:
        assert not temp_files, "Ansible left files in its temp folders: {0}".format([path for _run, path in temp_files])
        return
    # keep-remote-files: secrets only in the AnsiballZ payloads (the caller's own arguments), only
    # secrets that were arguments, and each in a folder that only its owner can enter.
    # A key given as a module argument (generation's private_key_content) is the caller's own input, like a passphrase;
    # the role that passes one must keep it out of kept files (the client role refuses keep_remote_files for its copy).
    key_kinds = {"plain key", "encrypted key", "encrypted key file", "old RSA key", "its ECC replacement", "rotation key"}
    problems = []
    for run, path in temp_files:
        hits = {kind for kind, _form in scanner.scan(read_bytes(path))}
        if not hits:
            continue
        if not os.path.basename(path).startswith("AnsiballZ_"):
            problems.append("{0} is not a module payload but holds {1}".format(path, sorted(hits)))
        if "staged key content" in hits and not os.path.basename(path).startswith("AnsiballZ_generation"):
            problems.append("{0} holds the staged key given to wise.mtls.generation".format(path))
        if hits & key_kinds or any(kind.startswith("fetched access token") for kind in hits):
            problems.append("{0} holds key material or a fetched token: {1}".format(path, sorted(hits)))
        if other_readable(path, run.temp_root):
            problems.append("{0} is readable by others: {1}".format(path, sorted(hits)))
    summary = "; ".join("{0}: {1}".format(name, ", ".join(sorted(kinds))) for name, kinds in sorted(kept.items()))
    tally.note("with ANSIBLE_KEEP_REMOTE_FILES=1 the kept AnsiballZ payloads hold the task's own secret arguments, as "
               "Ansible designs them (in 0700 folders): " + summary)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the client role

ROLE_HOSTS = ("web-1", "web-2")  # one key group: the key is made on web-1 and copied to web-2


def role_play(entry_point, variables):
    return {"name": "wise.mtls.client " + entry_point, "hosts": ":".join(ROLE_HOSTS), "gather_facts": False, "tasks": [
        {"name": "Run the client role", "ansible.builtin.include_role": {"name": "wise.mtls.client", "tasks_from": entry_point},
         "vars": variables}]}


def test_no_secret_leaks_from_the_client_role(ansible, wise, tmp_path, tally):
    """The role's whole lifecycle for a key group of two hosts, at -vvvv --diff: request, Developer Hub, install.

    With keep_remote_files on (the hardest case for the temp folders: everything stdout and the files show is
    scanned as in a default run, and more), except for the run that copies the group's key, which the role
    refuses to do with keep_remote_files on; that run's temp folders must end empty.
    """
    work = str(tmp_path)
    handoff = os.path.join(work, "handoff")
    s = dict(pkcs12_password=random_secret("role-p12-"), truststore_password=random_secret("role-truststore-"),
             client_secret=wise.client_secret)
    variables = dict(
        wise_mtls_client_organization="Role Safety Ltd", wise_mtls_client_client_id=wise.client_id,
        wise_mtls_client_key_group="payments", wise_mtls_client_key_type="ecc", wise_mtls_client_install_dependencies=False,
        wise_mtls_client_root=os.path.join(work, "hosts", "{{ inventory_hostname }}"), wise_mtls_client_handoff_dir=handoff,
        wise_mtls_client_base_url=wise.base_url, wise_mtls_client_client_secret=s["client_secret"],
        wise_mtls_client_pkcs12=True, wise_mtls_client_pkcs12_password=s["pkcs12_password"], wise_mtls_client_combined_pem=True,
        wise_mtls_client_ca_stores=["bundle", "java"], wise_mtls_client_java_truststore_password=s["truststore_password"],
    )
    inventory = ansible.write_inventory("role-secrets", ROLE_HOSTS + ("localhost",))
    options = dict(verbosity=VERBOSITY, diff=True, keep_remote_files=True, inventory=inventory)
    runs = [ansible.run(plays=lambda _results: [role_play("request", variables)], name="role-request", **options)]
    # Without pipelining (keep_remote_files turns it off) the key would sit in a kept module file on web-2: the
    # role refuses to copy it. The key is then copied by a run without keep_remote_files.
    assert runs[0].rc != 0 and "keep_remote_files" in runs[0].stdout and "Nothing was copied" in runs[0].stdout, \
        runs[0].describe()
    assert not os.path.exists(os.path.join(work, "hosts", "web-2", "sandbox", "client.key"))
    runs.append(ansible.run(plays=lambda _results: [role_play("request", variables)], name="role-request-again",
                            **dict(options, keep_remote_files=False)))
    assert runs[-1].rc == 0, runs[-1].describe()
    unit = os.path.join(handoff, "sandbox", "payments")
    certificate = wise.sign(read_bytes(os.path.join(unit, "client.csr")), "role-" + random_secret("")[:10])
    with open(os.path.join(unit, "client.pem"), "w") as handle:
        handle.write(certificate.decode("ascii") if isinstance(certificate, bytes) else certificate)
    with open(os.path.join(handoff, "sandbox", "wise-ca.pem"), "wb") as handle:
        handle.write(read_bytes(wise.ca_path))
    runs.append(ansible.run(plays=lambda _results: [role_play("main", variables)], name="role-install", **options))
    assert runs[-1].rc == 0, runs[-1].describe()

    folders = [os.path.join(work, "hosts", host, "sandbox") for host in ROLE_HOSTS]
    key = read_bytes(os.path.join(folders[0], "client.key"))
    assert read_bytes(os.path.join(folders[1], "client.key")) == key, "the key group's key was not shared"
    scanner = SecretScanner()
    for kind in ("pkcs12_password", "truststore_password", "client_secret"):
        scanner.add_text(kind, s[kind])
    scanner.add_basic_auth("client_secret", wise.client_id, s["client_secret"])
    for number, token in enumerate(wise.issued_tokens):
        scanner.add_text("fetched access token {0}".format(number + 1), token)
    scanner.add_private_key("the key group's key", key)
    assert scanner.scan(key) and len(wise.issued_tokens) >= 1, "the scan would not have seen the secrets"
    holders = set(os.path.join(folder, name) for folder in folders for name in ("client.key", "client-combined.pem"))
    scan_role_runs(tally, scanner, runs, work, holders, {"the key group's key"}, "client role with ANSIBLE_KEEP_REMOTE_FILES=1: "
                   "the role refuses to copy a key group's key (it would stay in a kept module file)")


def scan_role_runs(tally, scanner, runs, work, holders, key_kinds, note):
    """Search the runs' output, every file under work but the holders (where a key belongs) and Ansible's temp folders.

    No secret anywhere; in the temp folders (runs with keep_remote_files) only module payloads holding their own secret
    arguments, in folders only their owner can enter - never key material (key_kinds) or a token a module fetched.
    """
    artifacts, temp_hits, leaks = [], [], []
    for run in runs:
        artifacts.append((run.playbook_path + " stdout", run.stdout.encode("utf-8")))
        artifacts.append((run.playbook_path + " stderr", run.stderr.encode("utf-8")))
    artifacts += [(path, read_bytes(path)) for path in sorted(files_under(work)) if path not in holders]
    temp_files = [(run, path) for run in runs for path in sorted(files_under(run.temp_root))]
    for name, data in artifacts:
        hits = scanner.scan(data)
        if hits:
            leaks.append("{0}: {1}".format(name, hits))
    for run, path in temp_files:
        hits = scanner.scan(read_bytes(path))
        if hits:
            temp_hits.append((run, path, hits))
    tally.add("secret_scans", (len(artifacts) + len(temp_files)) * scanner.count,
              (len(artifacts) + len(temp_files) - len(leaks)) * scanner.count, hits=len(leaks),
              artifacts=len(artifacts) + len(temp_files), bytes=sum(len(data) for _name, data in artifacts),
              secrets=scanner.count, private_keys=len(key_kinds))
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)
    problems = []
    for run, path, hits in temp_hits:
        kinds = sorted(set(kind for kind, _form in hits))
        if not os.path.basename(path).startswith("AnsiballZ_"):
            problems.append("{0} is not a module payload but holds {1}".format(path, kinds))
        if set(kinds) & key_kinds or any(kind.startswith("fetched access token") for kind in kinds):
            problems.append("{0} holds key material or a fetched token: {1}".format(path, kinds))
        if other_readable(path, run.temp_root):
            problems.append("{0} is readable by others: {1}".format(path, kinds))
    tally.note(note + "; payloads holding their own secret arguments: " + ", ".join(sorted(set(
        "{0} ({1})".format(os.path.basename(path), ", ".join(sorted(set(kind for kind, _form in hits))))
        for _run, path, hits in temp_hits))))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the rotate role

ROTATE_HOSTS = ("pay-1", "pay-2")  # one key group: the new key is made on pay-1 and copied to pay-2


def rotate_play(phase, variables):
    return {"name": "wise.mtls.rotate " + phase, "hosts": ":".join(ROTATE_HOSTS), "gather_facts": False, "tasks": [
        {"name": "Run the rotate role", "ansible.builtin.include_role": {"name": "wise.mtls.rotate"},
         "vars": dict(variables, wise_mtls_rotate_phase=phase)}]}


def test_no_secret_leaks_from_the_rotate_role(ansible, wise, access_token, tmp_path, tmp_path_factory, tally):
    """The rotation of a key group of two onboarded hosts at -vvvv --diff: stage, Developer Hub, activate, cleanup.

    pay-1 calls the playground with the client ID and secret (verify fetches its tokens), pay-2 with an access token.
    With keep_remote_files on, except for the stage run that copies the group's new key, which the role refuses
    with keep_remote_files on; that run's temp folders must end empty.
    """
    work = str(tmp_path)
    handoff = os.path.join(work, "handoff")
    old = wise.hub.issue_client_certificate("payments-onboarded", client_id=wise.client_id,
                                            out_dir=str(tmp_path_factory.mktemp("rotate-onboarded")))
    old_key = read_bytes(old.key_path)
    folders = dict((host, os.path.join(work, "hosts", host, "sandbox")) for host in ROTATE_HOSTS)
    for folder in folders.values():  # onboarded as the client role leaves a host
        os.makedirs(folder, mode=0o700)
        write_file(os.path.join(folder, "client.key"), old_key, 0o600)
        write_file(os.path.join(folder, "client.pem"), read_bytes(old.cert_path))
        write_file(os.path.join(folder, "wise-ca.pem"), read_bytes(wise.ca_path))
    s = dict(client_secret=wise.client_secret, access_token=access_token, pkcs12_password=random_secret("rotate-p12-"))
    variables = dict(
        wise_mtls_client_organization="Rotate Safety Ltd", wise_mtls_client_client_id=wise.client_id,
        wise_mtls_client_key_group="payments", wise_mtls_client_key_type="ecc", wise_mtls_rotate_due_only=False,
        wise_mtls_client_owner=pwd.getpwuid(os.getuid()).pw_name, wise_mtls_client_root=os.path.join(work, "hosts", "{{ inventory_hostname }}"),
        wise_mtls_client_handoff_dir=handoff, wise_mtls_client_base_url=wise.base_url,
        wise_mtls_client_pkcs12=True, wise_mtls_client_pkcs12_password=s["pkcs12_password"], wise_mtls_client_combined_pem=True,
    )
    inventory = ansible.write_inventory("rotate-secrets", ROTATE_HOSTS + ("localhost",), host_vars={
        "pay-1": dict(wise_mtls_client_client_secret=s["client_secret"]),
        "pay-2": dict(wise_mtls_client_access_token=s["access_token"])})
    options = dict(verbosity=VERBOSITY, diff=True, keep_remote_files=True, inventory=inventory)

    def rotate(phase, name, **changes):
        runs.append(ansible.run(plays=lambda _results: [rotate_play(phase, variables)], name=name, **dict(options, **changes)))
        return runs[-1]

    runs = []
    # Without pipelining (keep_remote_files turns it off) the new key would sit in a kept module file on pay-2: the
    # role refuses to copy it. The key is then copied by a run without keep_remote_files.
    run = rotate("stage", "rotate-stage")
    assert run.rc != 0 and "keep_remote_files" in run.stdout and "Nothing was copied" in run.stdout, run.describe()
    assert not os.path.exists(os.path.join(folders["pay-2"], "generations")), "pay-2 staged although the copy was refused"
    run = rotate("stage", "rotate-stage-again", keep_remote_files=False)
    assert run.rc == 0, run.describe()
    csrs = glob.glob(os.path.join(handoff, "sandbox", "payments", "rotation", "*", "client.csr"))
    assert len(csrs) == 1, csrs
    certificate = wise.sign(read_bytes(csrs[0]), "rotate-" + random_secret("")[:10])
    write_file(os.path.join(os.path.dirname(csrs[0]), "client.pem"), certificate)
    run = rotate("activate", "rotate-activate")
    assert run.rc == 0 and "Playground: HTTP 200" in run.stdout, run.describe()
    run = rotate("cleanup", "rotate-cleanup")
    assert run.rc == 0 and "Revoke in Wise Developer Hub" in run.stdout, run.describe()

    new_key = read_bytes(os.path.join(folders["pay-1"], "client.key"))
    for folder in folders.values():
        assert read_bytes(os.path.join(folder, "client.key")) == new_key != old_key, "not both hosts switched to the new key"
        assert len(os.listdir(os.path.join(folder, "generations"))) == 1, "the cleanup kept the previous generation"
    scanner = SecretScanner()
    for kind in ("client_secret", "access_token", "pkcs12_password"):
        scanner.add_text(kind, s[kind])
    scanner.add_basic_auth("client_secret", wise.client_id, s["client_secret"])
    fetched = [token for token in wise.issued_tokens if token != s["access_token"]]
    for number, token in enumerate(fetched):
        scanner.add_text("fetched access token {0}".format(number + 1), token)
    scanner.add_private_key("the onboarded key", old_key)
    scanner.add_private_key("the rotated key", new_key)
    assert fetched and scanner.scan(old_key) and scanner.scan(new_key), "the scan would not have seen the secrets"
    holders = set(path for path in files_under(work) if os.path.basename(path) in ("client.key", "client-combined.pem"))
    scan_role_runs(tally, scanner, runs, work, holders, {"the onboarded key", "the rotated key"},
                   "rotate role with ANSIBLE_KEEP_REMOTE_FILES=1: the role refuses to copy a key group's new key "
                   "(it would stay in a kept module file)")
