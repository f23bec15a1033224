# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers of the unit tests (the fixtures built on them are in conftest.py).

- ``run_module_main``: run a module's ``main()`` in-process on ansible-core 2.17 to the newest
  and return its JSON result.
- ``Openssl``: the openssl CLI, an independent judge of keys and CSRs and the maker of test
  material that the collection's own code must not be trusted to make.
- ``folder_snapshot``: everything observable about a folder, to prove a refusal changed nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
from unittest import mock

import pytest

from ansible.module_utils import basic

try:  # ansible-core 2.19 and newer
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.17 and 2.18
    patch_module_args = None

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owner, group or user needs root")


# ---------------------------------------------------------------- running modules

@contextlib.contextmanager
def module_args(args):
    """Expose args to AnsibleModule the way the running ansible-core expects them."""
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
    else:
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield


def run_module_main(capsys, module, args, check_mode=False, diff=False):
    """Run module.main() with args; the JSON it printed, plus "rc" (exit status) and "_stdout" (raw text)."""
    args = dict(args)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    capsys.readouterr()
    with module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result["rc"] = exit_info.value.code
    assert (result["rc"] == 1) == bool(result.get("failed")), out
    result["_stdout"] = out
    return result


# ---------------------------------------------------------------- the openssl CLI

class Openssl(object):
    """Thin wrapper over the openssl command line tool."""

    def __init__(self, cache_dir):
        self.cache_dir = str(cache_dir)
        self._keys = {}

    def run(self, *args, **kwargs):
        check = kwargs.pop("check", True)
        stdin = kwargs.pop("stdin", None)
        completed = subprocess.run(["openssl"] + [str(arg) for arg in args], input=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, check=False)
        if check and completed.returncode != 0:
            raise AssertionError("openssl {0} failed: {1}".format(" ".join(str(arg) for arg in args),
                                                                  completed.stderr.decode("utf-8", "replace")))
        return completed

    def key_pem(self, spec):
        """PEM of a key made by openssl: 'rsa:1024', 'ec:P-256', 'ed25519' (one key per spec and session)."""
        if spec not in self._keys:
            path = os.path.join(self.cache_dir, spec.replace(":", "-") + ".key")
            algorithm, _sep, parameter = spec.partition(":")
            if algorithm == "rsa":
                self.run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:" + parameter, "-out", path)
            elif algorithm == "ec":
                self.run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + parameter, "-out", path)
            elif algorithm == "ed25519":
                self.run("genpkey", "-algorithm", "ED25519", "-out", path)
            else:
                raise ValueError(spec)
            self._keys[spec] = read_bytes(path)
        return self._keys[spec]

    def write_key(self, spec, path, passphrase=None):
        """Write a key made by openssl to path (0600), encrypted with AES-256 when passphrase is given."""
        data = self.key_pem(spec)
        if passphrase is not None:
            data = self.run("pkey", "-aes256", "-passout", "pass:" + passphrase, stdin=data).stdout
        return write_bytes(path, data, 0o600)

    def make_csr(self, key_path, csr_path, subject, *extra):
        self.run("req", "-new", "-key", key_path, "-subj", subject, "-out", csr_path, *extra)
        return str(csr_path)

    def pkey_text(self, path, passphrase=None):
        args = ["pkey", "-in", path, "-noout", "-text"]
        if passphrase is not None:
            args += ["-passin", "pass:" + passphrase]
        return self.run(*args).stdout.decode("ascii")

    def req_verify(self, path):
        """(verified, subject) of the CSR at path as openssl sees them; subject like 'C=EU, O=Example, CN=id'."""
        completed = self.run("req", "-in", path, "-noout", "-verify", "-subject", "-nameopt", "oneline,-esc_msb",
                             check=False)
        text = (completed.stdout + completed.stderr).decode("utf-8", "replace")
        verified = completed.returncode == 0 and "verify OK" in text
        subjects = [line for line in completed.stdout.decode("utf-8", "replace").splitlines()
                    if line.startswith("subject=")]
        return verified, subjects[0][len("subject="):].strip() if subjects else None

    def public_key_pem(self, path, passphrase=None, csr=False):
        if csr:
            return self.run("req", "-in", path, "-noout", "-pubkey").stdout
        args = ["pkey", "-in", path, "-pubout"]
        if passphrase is not None:
            args += ["-passin", "pass:" + passphrase]
        return self.run(*args).stdout

    def fingerprint(self, path, passphrase=None, csr=False):
        """SHA-256 over the DER SubjectPublicKeyInfo of a key or CSR, computed by openssl and hashlib alone."""
        der = self.run("pkey", "-pubin", "-outform", "DER",
                       stdin=self.public_key_pem(path, passphrase=passphrase, csr=csr)).stdout
        return ":".join("{0:02x}".format(byte) for byte in bytearray(hashlib.sha256(der).digest()))


# ---------------------------------------------------------------- the four-run pattern

def four_runs(run, module, args, folder):
    """Check mode, real, check mode again, real again, with diffs: the results.

    Asserts changed, changed, not changed, not changed; that check mode leaves the folder exactly
    as it was; and that the second real run does not touch it either.
    """
    results = []
    for check_mode in (True, False, True, False):
        before = folder_snapshot(folder)
        result = run(module, args, check_mode=check_mode, diff=True)
        assert result["rc"] == 0, result.get("msg")
        if check_mode or len(results) == 3:
            assert folder_snapshot(folder) == before, "run {0} changed files".format(len(results) + 1)
        results.append(result)
    assert [result["changed"] for result in results] == [True, True, False, False]
    return results


# ---------------------------------------------------------------- files

def write_bytes(path, data, mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return str(path)


def read_bytes(path):
    with open(str(path), "rb") as handle:
        return handle.read()


def file_mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def folder_snapshot(folder):
    """Everything observable about a folder and what it holds, atime aside.

    The folder's own mtime is part of it: a temp or backup file that appeared and was
    removed again still changes it.
    """
    folder = str(folder)
    info = os.lstat(folder)
    snapshot = {".": (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, info.st_mtime_ns)}
    for root, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            info = os.lstat(path)
            entry = [stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
                     info.st_mtime_ns, info.st_size]
            if stat.S_ISLNK(info.st_mode):
                entry.append(os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                entry.append(read_bytes(path))
            snapshot[os.path.relpath(path, folder)] = tuple(entry)
    return snapshot


# ---------------------------------------------------------------- secrets

def private_key_lines(pem):
    """The base64 lines of a PEM private key: none of them may appear in a result or a diff."""
    return [line for line in pem.decode("ascii").splitlines()
            if line and not line.startswith("-----") and ":" not in line and len(line) >= 16]


def assert_no_key_material(text, key_pem):
    assert "PRIVATE KEY" not in text
    for line in private_key_lines(key_pem):
        assert line not in text
