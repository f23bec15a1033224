# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers of the safety suite (fixtures and the summary of figures are in conftest.py).

- ``Ansible``: real ``ansible-playbook`` runs on localhost, many cases batched into one
  playbook, every registered result read back as JSON.
- ``snapshot``: bytes, type, mode, owner and group of everything under some folders.
- ``Pki``: a throw-away CA that issues certificates for keys the modules made.
- ``SecretScanner``: finds secrets, private key PEM lines and raw private key numbers in
  any text or file, in the encodings they would leak in.
- ``FolderWatcher``: every mode ever seen for every file of a folder while modules run
  (inotify, with a polling thread besides).
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import datetime
import errno
import hashlib
import json
import os
import re
import secrets
import select
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file

COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(safe_file.__file__), "..", ".."))
COLLECTIONS_PATH = os.path.abspath(os.path.join(COLLECTION_ROOT, "..", "..", ".."))
BIN_DIR = os.path.dirname(sys.executable)
CRASH_VARIABLES = ("WISE_MTLS_TEST_CRASH_AT", "WISE_MTLS_TEST_CRASH_TOKEN", "WISE_MTLS_TEST_CRASH_TOKEN_FILE")


def random_secret(prefix):
    """A distinctive secret: letters and digits only, so that no escaping can hide it from a scan."""
    return prefix + secrets.token_hex(20)


# ---------------------------------------------------------------- ansible-playbook

class PlaybookRun(object):
    def __init__(self, rc, stdout, stderr, results, temp_root, playbook_path):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.results = results
        self.temp_root = temp_root
        self.playbook_path = playbook_path

    def describe(self):
        return "ansible-playbook {0} exited {1}\n--- stdout (end)\n{2}\n--- stderr (end)\n{3}".format(
            self.playbook_path, self.rc, self.stdout[-6000:], self.stderr[-3000:])


class Ansible(object):
    """ansible-playbook on localhost (local connection, this Python on both sides)."""

    def __init__(self, base_dir):
        self.base_dir = str(base_dir)
        self.counter = 0
        self.clean_runs = 0  # runs without keep_remote_files that left Ansible's temp folders empty
        os.makedirs(self.base_dir, exist_ok=True)
        self.inventory = os.path.join(self.base_dir, "inventory.ini")
        with open(self.inventory, "w") as handle:
            handle.write("localhost ansible_connection=local ansible_python_interpreter={0}\n".format(sys.executable))

    def environment(self, temp_root, extra=None, keep_remote_files=False):
        env = dict((key, value) for key, value in os.environ.items()
                   if key not in CRASH_VARIABLES and not key.startswith("ANSIBLE_"))
        env.update(
            PATH=BIN_DIR + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
            ANSIBLE_CONFIG=os.path.join(self.base_dir, "no-ansible.cfg"),  # none: only the settings below
            ANSIBLE_HOME=os.path.join(self.base_dir, "ansible-home"),
            ANSIBLE_LOCAL_TEMP=os.path.join(temp_root, "local"),
            ANSIBLE_REMOTE_TMP=os.path.join(temp_root, "remote"),
            ANSIBLE_KEEP_REMOTE_FILES="1" if keep_remote_files else "0",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_HOST_KEY_CHECKING="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        )
        env.update(extra or {})
        return env

    def localhost_play(self, tasks, name, results_path, record=True):
        """One play on localhost; with record, a last task dumps every registered result to results_path."""
        tasks = list(tasks)
        registered = [task["register"] for task in tasks if "register" in task]
        if record and registered:
            tasks.append({
                "name": "Record every registered result",
                "ansible.builtin.copy": {
                    "dest": results_path,
                    "mode": "0600",
                    "content": "{{ {" + ", ".join("'{0}': {0}".format(name) for name in registered) + "} | to_json }}",
                },
                "diff": False,
            })
        return [{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}]

    def start(self, tasks=None, name="play", verbosity=0, diff=False, check=False, env=None, umask=None,
              keep_remote_files=False, record=True, plays=None, inventory=None):
        """Start ansible-playbook; returns a handle whose wait() gives a PlaybookRun.

        tasks make one play on localhost; or plays(results_path) returns the plays, for other hosts
        (inventory: the path of another inventory).
        """
        self.counter += 1
        run_dir = os.path.join(self.base_dir, "run-{0:03d}-{1}".format(self.counter, name))
        os.makedirs(run_dir)
        results_path = os.path.join(run_dir, "results.json")
        playbook = plays(results_path) if plays is not None else self.localhost_play(tasks, name, results_path, record)
        playbook_path = os.path.join(run_dir, "playbook.yml")
        with open(playbook_path, "w") as handle:
            json.dump(playbook, handle, indent=1)  # JSON is YAML: no quoting surprises with hostile strings
        temp_root = os.path.join(run_dir, "ansible-temp")
        os.makedirs(temp_root)
        argv = [os.path.join(BIN_DIR, "ansible-playbook"), "-i", inventory or self.inventory, playbook_path]
        if verbosity:
            argv.append("-" + "v" * verbosity)
        if diff:
            argv.append("--diff")
        if check:
            argv.append("--check")

        def set_umask():
            if umask is not None:
                os.umask(umask)

        stdout = open(os.path.join(run_dir, "stdout.txt"), "w+")
        stderr = open(os.path.join(run_dir, "stderr.txt"), "w+")
        process = subprocess.Popen(argv, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                   env=self.environment(temp_root, env, keep_remote_files), preexec_fn=set_umask)
        return RunningPlaybook(process, stdout, stderr, results_path, temp_root, playbook_path, keep_remote_files, self)

    def write_inventory(self, name, hosts, host_vars=None, group_vars=None):
        """An inventory of local hosts (this Python) at base_dir/<name>.json; returns its path."""
        group_vars = dict(ansible_connection="local", ansible_python_interpreter=sys.executable, **(group_vars or {}))
        inventory = {"all": {"hosts": dict((host, (host_vars or {}).get(host, {})) for host in hosts), "vars": group_vars}}
        path = os.path.join(self.base_dir, name + ".json")
        with open(path, "w") as handle:
            json.dump(inventory, handle, indent=1)
        return path

    def run(self, tasks=None, **options):
        return self.start(tasks, **options).wait()


class RunningPlaybook(object):
    def __init__(self, process, stdout, stderr, results_path, temp_root, playbook_path, keep_remote_files, ansible):
        self.process = process
        self.stdout = stdout
        self.stderr = stderr
        self.results_path = results_path
        self.temp_root = temp_root
        self.playbook_path = playbook_path
        self.keep_remote_files = keep_remote_files
        self.ansible = ansible

    def wait(self, timeout=600):
        rc = self.process.wait(timeout)
        texts = []
        for handle in (self.stdout, self.stderr):
            handle.seek(0)
            texts.append(handle.read())
            handle.close()
        results = {}
        if os.path.exists(self.results_path):
            with open(self.results_path) as handle:
                results = json.load(handle)
        if not self.keep_remote_files:
            # Every run, failed and killed modules included, must leave Ansible's temp folders empty.
            left = list(files_under(self.temp_root))
            assert not left, "{0} left files in Ansible's temp folders: {1}".format(self.playbook_path, left)
            self.ansible.clean_runs += 1
        return PlaybookRun(rc, texts[0], texts[1], results, self.temp_root, self.playbook_path)


def task(module, args, register=None, **keywords):
    """One task dict for a playbook: the module with args, optionally registered, plus task keywords."""
    entry = {"name": keywords.pop("name", register or module), module: args}
    if register:
        entry["register"] = register
    entry.update(keywords)
    return entry


# ---------------------------------------------------------------- what is on disk

def snapshot(*roots, **options):
    """{path: (type, mode, uid, gid, sha256 or link target)} of the roots and everything under them."""
    exclude = tuple(os.path.abspath(path) for path in options.get("exclude", ()))
    result = {}
    for root in roots:
        root = os.path.abspath(str(root))
        result[root] = _entry(root)
        for folder, folders, files in os.walk(root):
            folders[:] = [name for name in folders if not os.path.join(folder, name).startswith(exclude)]
            for name in folders + files:
                path = os.path.join(folder, name)
                if exclude and path.startswith(exclude):
                    continue
                result[path] = _entry(path)
    return result


def _entry(path):
    info = os.lstat(path)
    entry = (stat.S_IFMT(info.st_mode), "{0:04o}".format(stat.S_IMODE(info.st_mode)), info.st_uid, info.st_gid)
    if stat.S_ISLNK(info.st_mode):
        return entry + ("-> " + os.readlink(path),)
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            return entry + (hashlib.sha256(handle.read()).hexdigest(),)
    return entry


def snapshot_differences(before, after):
    lines = []
    for path in sorted(set(before) | set(after)):
        if path not in after:
            lines.append("vanished: {0}".format(path))
        elif path not in before:
            lines.append("appeared: {0} {1}".format(path, after[path]))
        elif before[path] != after[path]:
            lines.append("changed: {0} {1} -> {2}".format(path, before[path], after[path]))
    return lines


def write_file(path, data, mode=0o644):
    data = data.encode("utf-8") if isinstance(data, str) else data
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
    return str(path)


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def file_mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---------------------------------------------------------------- keys and certificates

class Pki(object):
    """A throw-away CA (ECC P-256, fast) that issues client certificates and further CAs."""

    def __init__(self, name="wise.mtls safety test CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self._build(self.key.public_key(), name, self.key, None, ca=True)

    @property
    def pem(self):
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def _build(self, public_key, common_name, signing_key, issuer, ca=False, days=(-1, 365), organization="Example"):
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                             x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.subject if issuer is not None else subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=days[0]))
                   .not_valid_after(now + datetime.timedelta(days=days[1]))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return builder.sign(signing_key, hashes.SHA256())

    def issue(self, public_key, common_name="safety-client", days=(-1, 365)):
        """PEM of a client certificate for public_key (a key, or PEM of a key, CSR or public key)."""
        public_key = as_public_key(public_key)
        certificate = self._build(public_key, common_name, self.key, self.certificate, days=days)
        return certificate.public_bytes(serialization.Encoding.PEM)

    def issue_ca(self, common_name="Other CA", days=(-1, 3650), ca=True):
        """PEM of another self-signed certificate (a CA, or with ca=False a self-signed leaf)."""
        key = ec.generate_private_key(ec.SECP256R1())
        return self._build(key.public_key(), common_name, key, None, ca=ca, days=days).public_bytes(
            serialization.Encoding.PEM)


def as_public_key(value):
    if hasattr(value, "public_key"):
        return value.public_key()
    if hasattr(value, "public_bytes"):
        return value
    data = value.encode("ascii") if isinstance(value, str) else value
    if b"CERTIFICATE REQUEST" in data:
        return x509.load_pem_x509_csr(data).public_key()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, None).public_key()
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def key_pem(key, passphrase=None, legacy=False):
    encryption = (serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
                  else serialization.NoEncryption())
    private_format = serialization.PrivateFormat.TraditionalOpenSSL if legacy else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, private_format, encryption)


def public_der(value):
    return as_public_key(value).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_key(data, passphrase=None):
    return serialization.load_pem_private_key(data, passphrase.encode("utf-8") if passphrase else None)


def certificates_in(data):
    return [x509.load_pem_x509_certificate(block) for block in
            re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", data, re.DOTALL)]


# Signs the CSR it is given with the test CA (what Developer Hub does), as a task of the playbook.
SIGNER = """
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
ca_key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
csr = x509.load_pem_x509_csr(open(sys.argv[3], "rb").read())
now = datetime.datetime.now(datetime.timezone.utc)
certificate = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
               .public_key(csr.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
               .sign(ca_key, hashes.SHA256()))
open(sys.argv[4], "wb").write(certificate.public_bytes(serialization.Encoding.PEM))
"""


# ---------------------------------------------------------------- secret scanning

HEX_WINDOW, HEX_STEP = 24, 8      # a leak of 31 hex digits (about 16 bytes) or more is found
DEC_WINDOW, DEC_STEP = 24, 8      # 31 decimal digits or more
B64_WINDOW, B64_STEP = 20, 6      # 25 base64 characters (about 19 bytes) or more
_NOT_HEX = re.compile(r"[^0-9a-f]+")
_NOT_DEC = re.compile(r"[^0-9]+")
_NOT_B64 = re.compile(r"[^A-Za-z0-9+/]+")


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _number_bytes(number):
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")


def private_numbers(key):
    """{name: int} of a private key's secret numbers."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return dict(d=numbers.d, p=numbers.p, q=numbers.q, dmp1=numbers.dmp1, dmq1=numbers.dmq1, iqmp=numbers.iqmp)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return dict(private_value=key.private_numbers().private_value)
    raise TypeError("unsupported key type {0}".format(type(key).__name__))


def secret_pem_lines(pem, key=None):
    """Body lines of a PEM private key that carry secret bytes (all of them for an encrypted key).

    Lines that only hold public bytes (the RSA modulus, an EC public point) are left out: the same
    bytes are public in the CSR and the certificate, so they are no evidence of a leak.
    """
    match = re.search(rb"-----BEGIN ([A-Z ]+)-----\r?\n(.+?)-----END \1-----", pem, re.DOTALL)
    body_lines = [line.strip() for line in match.group(2).split(b"\n") if line.strip() and b":" not in line]
    if key is None or b"ENCRYPTED" in match.group(1) or b"ENCRYPTED" in match.group(2):
        return [line.decode("ascii") for line in body_lines if len(line) >= 16]
    der = base64.b64decode(b"".join(body_lines))
    private_ranges = []
    for number in private_numbers(key).values():
        raw = _number_bytes(number)
        start = der.find(raw)
        if start >= 0:
            private_ranges.append((start, start + len(raw)))
    lines = []
    offset = 0
    for line in body_lines:
        size = len(base64.b64decode(line + b"=" * (-len(line) % 4)))
        if any(start < offset + size and offset < end for start, end in private_ranges) and len(line) >= 16:
            lines.append(line.decode("ascii"))
        offset += size
    return lines


class SecretScanner(object):
    """Every form a secret could leak in: as is, base64 (any alignment), hex, decimal, PEM lines."""

    def __init__(self):
        self.secrets = []  # (kind, value) for reports
        self._plain = []  # (kind, form, text) searched as exact substrings
        self._hex = {}
        self._dec = {}
        self._b64 = {}

    @property
    def count(self):
        return len(self.secrets)

    def add_text(self, kind, value):
        self.secrets.append((kind, value))
        data = value.encode("utf-8")
        self._plain.append((kind, "as is", value))
        self._add_bytes(kind, data)

    def add_basic_auth(self, kind, user, password):
        header = _b64("{0}:{1}".format(user, password).encode("utf-8"))
        self._plain.append((kind, "HTTP Basic credentials", header))

    def add_private_key(self, kind, pem, passphrase=None):
        """A private key as written on disk: its secret PEM lines and its raw secret numbers."""
        self.secrets.append((kind, "(private key)"))
        key = load_key(pem, passphrase)
        if not passphrase:  # an encrypted file's lines are its own secret: add_text_lines()
            for line in secret_pem_lines(pem, key):
                self._plain.append((kind, "PEM line", line))
        for name, number in private_numbers(key).items():
            self._add_bytes(kind, _number_bytes(number), name + " as ")
            self._add_windows(self._dec, str(number), DEC_WINDOW, kind, name + " as decimal")
        return key

    def add_text_lines(self, kind, pem):
        """Every body line of a PEM file (an encrypted key: its ciphertext invites offline guessing)."""
        for line in secret_pem_lines(pem):
            self._plain.append((kind, "PEM line", line))

    def _add_bytes(self, kind, data, what=""):
        self._add_windows(self._hex, data.hex(), HEX_WINDOW, kind, what + "hex")
        for skip in range(3):
            encoded = _b64(data[skip:])
            self._add_windows(self._b64, encoded[:-4] if len(encoded) > 8 else encoded, B64_WINDOW, kind, what + "base64")

    @staticmethod
    def _add_windows(table, text, size, kind, form):
        if len(text) < size:
            return
        for start in range(len(text) - size + 1):
            table.setdefault(text[start:start + size], (kind, form))

    def scan(self, data):
        """[(kind, form)] of every secret found in data (bytes or text)."""
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        hits = set()
        for kind, form, value in self._plain:
            if value in text:
                hits.add((kind, form))
        lowered = text.lower()
        for table, mush, size, step in ((self._hex, _NOT_HEX.sub("", lowered), HEX_WINDOW, HEX_STEP),
                                        (self._dec, _NOT_DEC.sub("", text), DEC_WINDOW, DEC_STEP),
                                        (self._b64, _NOT_B64.sub("", text.replace("-", "+").replace("_", "/")),
                                         B64_WINDOW, B64_STEP)):
            for start in range(0, max(0, len(mush) - size + 1), step):
                found = table.get(mush[start:start + size])
                if found:
                    hits.add(found)
        return sorted(hits)


def files_under(*roots):
    """Every regular file under roots (symbolic links are not followed)."""
    for root in roots:
        for folder, _folders, files in os.walk(str(root)):
            for name in files:
                path = os.path.join(folder, name)
                if stat.S_ISREG(os.lstat(path).st_mode):
                    yield path


# ---------------------------------------------------------------- watching a folder

_IN_ALL = 0x00000FFF  # every inotify file event
_EVENT = struct.Struct("iIII")


class FolderWatcher(object):
    """Record every mode of every file in a folder, from inotify events and a tight polling loop.

    Each inotify event (create, attribute change, write, rename...) triggers an lstat of the file it
    names, and a second thread scans the folder without pause; both record (name, mode). The temp
    file of a write is caught the moment it is created.
    """

    def __init__(self, folder):
        self.folder = str(folder)
        self.modes = {}  # name -> set of modes seen
        self.events = 0
        self.scans = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self._inotify = None

    def _record(self, name):
        try:
            info = os.lstat(os.path.join(self.folder, name))
        except OSError:
            return
        if stat.S_ISREG(info.st_mode):
            with self._lock:
                self.modes.setdefault(name, set()).add(stat.S_IMODE(info.st_mode))

    def _poll(self):
        while not self._stop.is_set():
            try:
                with os.scandir(self.folder) as entries:
                    for entry in entries:
                        self._record(entry.name)
            except OSError:
                pass
            self.scans += 1
            time.sleep(0.0005)  # tight, yet leaves the CPU to the modules being watched

    def _watch(self, descriptor):
        while not self._stop.is_set():
            ready, _w, _x = select.select([descriptor], [], [], 0.05)
            if not ready:
                continue
            data = os.read(descriptor, 65536)
            position = 0
            while position < len(data):
                _wd, _mask, _cookie, length = _EVENT.unpack_from(data, position)
                position += _EVENT.size
                name = data[position:position + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
                position += length
                self.events += 1
                if name:
                    self._record(name)

    def start(self):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        descriptor = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if descriptor < 0 or libc.inotify_add_watch(descriptor, self.folder.encode(), _IN_ALL) < 0:
            raise OSError(ctypes.get_errno(), "inotify is not available: " + os.strerror(ctypes.get_errno()))
        self._inotify = descriptor
        for target, args in ((self._watch, (descriptor,)), (self._poll, ())):
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        time.sleep(0.1)  # the last events
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        if self._inotify is not None:
            os.close(self._inotify)
        return self


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def errno_name(code):
    return errno.errorcode.get(code, str(code))


# ---------------------------------------------------------------- the Wise emulator, in this process

class RecordingWise(object):
    """The bundled Wise emulator served from a thread of this process, recording every access token it issues.

    The verify module fetches its own token (client credentials); recording what the emulator handed out
    is the only way to search the outputs for that token too. The server runs in-process for that reason,
    from the emulator's own server classes; the state (CA, API clients, Developer Hub) is the public API's.
    """

    def __init__(self, state_dir, client_id, client_secret):
        sys.path.insert(0, os.path.join(COLLECTION_ROOT, "emulator"))
        from wise_emulator import api, server  # pylint: disable=import-error

        self.client_id = client_id
        self.client_secret = client_secret
        self.hub = api.Emulator(str(state_dir))
        self.hub.init(client_id=client_id, client_secret=client_secret)
        self.issued_tokens = []
        self._app = server.EmulatorApp(self.hub.state)
        issue = self._app.tokens.issue

        def recording_issue(*args, **kwargs):
            token = issue(*args, **kwargs)
            self.issued_tokens.append(token)
            return token

        self._app.tokens.issue = recording_issue
        self._server = server._Server(("127.0.0.1", 0), self._app, socket.AF_INET)  # pylint: disable=protected-access
        self.base_url = "https://127.0.0.1:{0}".format(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def ca_path(self):
        """The Wise server CA (what clients trust)."""
        return self.hub.ca_path

    @property
    def client_ca_path(self):
        """The CA that signs client certificates in Developer Hub."""
        return self.hub.client_ca_path

    def sign(self, csr_pem, name):
        return self.hub.sign(csr_pem, name, client_id=self.client_id).pem

    def stop(self):
        self._app.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
