# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""Where a CA certificate is trusted: a dedicated PEM bundle, the OS trust store, a Java trust store.

Holds the one platform table of OS trust stores (WISE_MTLS.md, "Trust stores by platform") and,
for each kind of store, a planner that reads the current state and returns a StorePlan: whether
anything changes, public facts before and after for the diff, and an apply() that makes the
change through the safe-file layer. Planning never writes, so a module can plan every store,
fail cleanly on any problem, and only then apply.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")

# The platform table: anchor folder, file suffix, refresh command (and, where removing an anchor
# needs more, the command after a removal), the bundle the refresh builds, and the package that
# provides the command. Debian's update-ca-certificates rebuilds the bundle after a removal but keeps
# the removed CA's links in /etc/ssl/certs (it prunes them only when it also added or removed a
# certificate of its own), so a removal runs it with --fresh, as Debian documents.
SYSTEM_STORES = {
    "debian": dict(anchor_dir="/usr/local/share/ca-certificates", suffix=".crt",
                   refresh_command=["update-ca-certificates"], remove_command=["update-ca-certificates", "--fresh"],
                   bundle="/etc/ssl/certs/ca-certificates.crt", package="ca-certificates"),
    "rhel": dict(anchor_dir="/etc/pki/ca-trust/source/anchors", suffix=".pem",
                 refresh_command=["update-ca-trust", "extract"],
                 bundle="/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", package="ca-certificates"),
    "suse": dict(anchor_dir="/etc/pki/trust/anchors", suffix=".pem", refresh_command=["update-ca-certificates"],
                 bundle="/var/lib/ca-certificates/ca-bundle.pem", package="ca-certificates"),
    "alpine": dict(anchor_dir="/usr/local/share/ca-certificates", suffix=".crt",
                   refresh_command=["update-ca-certificates"], bundle="/etc/ssl/certs/ca-certificates.crt",
                   package="ca-certificates (ca-certificates-bundle alone has no update-ca-certificates)"),
    "arch": dict(anchor_dir="/etc/ca-certificates/trust-source/anchors", suffix=".crt",
                 refresh_command=["trust", "extract-compat"], bundle="/etc/ssl/certs/ca-certificates.crt",
                 package="ca-certificates (with p11-kit, which provides trust)"),
}

# os-release ID and ID_LIKE values, mapped to a row of SYSTEM_STORES.
PLATFORM_IDS = {
    "debian": "debian", "ubuntu": "debian", "linuxmint": "debian", "raspbian": "debian", "pop": "debian",
    "devuan": "debian", "kali": "debian",
    "rhel": "rhel", "fedora": "rhel", "centos": "rhel", "rocky": "rhel", "almalinux": "rhel", "ol": "rhel",
    "amzn": "rhel", "circle": "rhel", "eurolinux": "rhel",
    "suse": "suse", "sles": "suse", "sled": "suse", "opensuse": "suse", "opensuse-leap": "suse",
    "opensuse-tumbleweed": "suse", "sle-micro": "suse",
    "alpine": "alpine",
    "arch": "arch", "archarm": "arch", "manjaro": "arch", "endeavouros": "arch",
}

# A dedicated bundle labels each entry the way certifi's cacert.pem does, so that one file can hold
# several named CAs (sandbox and production, or the old and new CA during a rotation).
BUNDLE_LABEL_RE = re.compile(rb'^# Label: "(?P<name>[^"\r\n]*)"[ \t]*\r?$', re.MULTILINE)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

KEYTOOL_PASSWORD_VARIABLE = "WISE_MTLS_TRUSTSTORE_PASSWORD"
# keytool prints localised text and its output is parsed, so ask for English; the JIT and GC options
# make each short keytool run start about twice as fast.
KEYTOOL_JVM_OPTIONS = ["-J-Duser.language=en", "-J-Duser.country=US", "-J-XX:TieredStopAtLevel=1",
                       "-J-XX:+UseSerialGC"]


class TrustStoreError(Exception):
    """A store cannot be used as asked; the message says what to do."""


def check_name(name):
    if not name or not NAME_RE.match(name):
        raise TrustStoreError("The name {0!r} cannot be used: it names files and trust store entries, so use letters, "
                              "digits, '.', '_' and '-' only, starting with a letter or digit (for example "
                              "wise-sandbox).".format(name))


def certificate_facts(certificate):
    """Public facts about a CA certificate for results and diffs."""
    return dict(subject=crypto.name_to_string(certificate.subject),
                fingerprint=crypto.certificate_fingerprint(certificate),
                not_after=crypto.iso8601(crypto.certificate_not_after(certificate)))


class StorePlan(object):
    """What one store needs: changed, facts before/after (None = no entry), and apply()."""

    def __init__(self, store, path, changed, before, after, apply=None, rollback=None, **details):
        self.store = store
        self.path = path
        self.changed = changed
        self.before = before
        self.after = after
        self._apply = apply
        self._rollback = rollback
        self.details = details

    def apply(self):
        if self.changed and self._apply is not None:
            self._apply()

    def rollback(self):
        """Put the file back as it was before apply() (for stores whose refresh failed)."""
        if self.changed and self._rollback is not None:
            self._rollback()

    def report(self):
        report = dict(path=self.path, changed=self.changed)
        report.update(self.details)
        return report


def _file_facts(entry_facts, state):
    if entry_facts is None and not state.exists:
        return None
    facts = dict(entry_facts or {"entry": "(none)"})
    facts.update(safe_file.describe(state))
    return facts


def _planned_facts(entry_facts, state, attributes):
    facts = dict(entry_facts)
    facts.update(safe_file.describe_planned(state, attributes))
    return facts


# ---------------------------------------------------------------- OS store

def parse_os_release(text):
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def read_os_release(paths=OS_RELEASE_PATHS):
    for path in paths:
        try:
            with open(path) as handle:
                return parse_os_release(handle.read())
        except (IOError, OSError):
            continue
    return {}


def detect_platform(os_release):
    """The SYSTEM_STORES row for an os-release dict (ID first, then ID_LIKE in order), or None."""
    candidates = [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split()
    for candidate in candidates:
        platform = PLATFORM_IDS.get(candidate.strip().lower())
        if platform:
            return platform
    return None


class SystemStore(object):
    """The OS trust store of this host: anchor folder, file suffix, refresh command."""

    def __init__(self, platform, anchor_dir, suffix, refresh_command, bundle, package, remove_command=None):
        self.platform = platform
        self.anchor_dir = anchor_dir
        self.suffix = suffix
        self.refresh_command = list(refresh_command)
        self.remove_command = list(remove_command or refresh_command)
        self.bundle = bundle
        self.package = package

    def anchor_path(self, name):
        return os.path.join(self.anchor_dir, name + self.suffix)


def system_store(os_release, anchor_dir=None, refresh_command=None):
    """The SystemStore for this platform, with the caller's overrides; TrustStoreError when unknown."""
    platform = detect_platform(os_release)
    row = SYSTEM_STORES.get(platform)
    if row is None and not (anchor_dir and refresh_command):
        raise TrustStoreError(
            "The OS trust store of this host is not known (os-release ID={0!r}, ID_LIKE={1!r}); known are Debian, "
            "Ubuntu, the RHEL family, SUSE, Alpine and Arch. Set system_anchor_dir and system_refresh_command for "
            "this host.".format(os_release.get("ID", ""), os_release.get("ID_LIKE", "")))
    row = row or dict(suffix=".crt", bundle=None, package=None)
    return SystemStore(platform or "custom", anchor_dir or row["anchor_dir"], row["suffix"],
                       refresh_command or row["refresh_command"], row["bundle"], row["package"],
                       # a command given by the caller serves after a removal too
                       None if refresh_command else row.get("remove_command"))


def resolve_refresh_command(module, store, removal=False):
    """The refresh command (after a removal: the remove command) with its program resolved to a path.

    Raises TrustStoreError when the program is missing.
    """
    command = store.remove_command if removal else store.refresh_command
    program = command[0]
    path = program if os.path.isabs(program) else module.get_bin_path(program, opt_dirs=["/usr/sbin", "/sbin"])
    if not path or not os.access(path, os.X_OK):
        package = (" Install the {0} package.".format(store.package) if store.package
                   else " Install what provides it, or set system_refresh_command.")
        raise TrustStoreError("The command {0!r}, which refreshes the OS trust store on this {1} host, was not "
                              "found.{2} Nothing was changed.".format(program, store.platform, package))
    return [path] + command[1:]


def plan_system(module, store, name, certificate):
    """Plan the anchor file: certificate (PEM, 0644) present, or absent when certificate is None."""
    path = store.anchor_path(name)
    if not os.path.isdir(store.anchor_dir):
        if certificate is None:
            return StorePlan("system", path, False, None, None, platform=store.platform)
        raise TrustStoreError("The anchor folder {0} of the OS trust store does not exist; install the {1} package "
                              "or set system_anchor_dir.".format(store.anchor_dir, store.package or "ca-certificates"))
    state = safe_file.FileState(path)
    current = state.read() if state.exists else None
    before = _file_facts(_anchor_facts(current), state)

    def rollback():
        if current is None:
            safe_file.remove_file(path)
        else:
            safe_file.write_file(module, path, current, safe_file.FileAttributes(state.mode, state.uid, state.gid))

    if certificate is None:
        return StorePlan("system", path, state.exists, before, None, lambda: safe_file.remove_file(path), rollback,
                         platform=store.platform)
    wanted = crypto.certificate_to_pem(certificate)
    attributes = safe_file.FileAttributes(0o644)
    changed = current != wanted or state.attributes_differ(attributes)
    after = _planned_facts(dict(certificate_facts(certificate), entry=name), state, attributes)

    def apply():
        if current != wanted:
            safe_file.write_file(module, path, wanted, attributes)
        else:
            safe_file.apply_attributes(path, attributes)

    return StorePlan("system", path, changed, before, after, apply, rollback, platform=store.platform)


def _anchor_facts(data):
    if data is None:
        return None
    try:
        certificates = crypto.load_certificate_blocks(data)
    except ValueError:
        certificates = []
    if len(certificates) != 1:
        return dict(entry="(not a single certificate)")
    return certificate_facts(certificates[0])


# ---------------------------------------------------------------- dedicated PEM bundle

class BundleEntry(object):
    def __init__(self, preamble, block, label, label_start):
        self.preamble = preamble  # the text between the previous block and this one
        self.block = block
        self.label = label
        self.label_start = label_start  # where the label line starts in the preamble

    @property
    def text_before_label(self):
        return self.preamble[:self.label_start]


def parse_bundle(data):
    """(entries, trailing text) of a PEM bundle; each entry keeps the text before its block."""
    entries = []
    position = 0
    for match in crypto.PEM_BLOCK_RE.finditer(data):
        preamble = data[position:match.start()]
        labels = list(BUNDLE_LABEL_RE.finditer(preamble))
        if labels:
            entries.append(BundleEntry(preamble, match.group(0), labels[-1].group("name").decode("utf-8", "replace"),
                                       labels[-1].start()))
        else:
            entries.append(BundleEntry(preamble, match.group(0), None, len(preamble)))
        position = match.end()
    return entries, data[position:]


def bundle_is_damaged(data):
    """True when BEGIN or END lines remain outside the complete PEM blocks (found by fuzzing the bundle)."""
    outside = crypto.PemScan(data).outside_text
    return b"-----BEGIN " in outside or b"-----END " in outside


def bundle_entry_text(name, certificate):
    facts = certificate_facts(certificate)
    header = ('# Label: "{0}"\n# Subject: {1}\n# Issuer: {2}\n# Not After: {3}\n# SHA256 Fingerprint: {4}\n'.format(
        name, facts["subject"], crypto.name_to_string(certificate.issuer), facts["not_after"], facts["fingerprint"]))
    return header.encode("utf-8") + crypto.certificate_to_pem(certificate)


def bundle_with(data, name, certificate):
    """The bundle with the entry labelled name set to certificate (replaced in place, or appended)."""
    entries, trailer = parse_bundle(data or b"")
    ours = bundle_entry_text(name, certificate)
    parts = []
    placed = False
    for entry in entries:
        if entry.label == name:
            if not placed:
                parts.append(entry.text_before_label + ours)
                placed = True
            continue
        parts.append(entry.preamble + entry.block)
    text = b"".join(parts)
    if placed:
        return text + trailer
    text += trailer
    if text and not text.endswith(b"\n"):
        text += b"\n"
    return text + ours


def bundle_without(data, name):
    """(the bundle without the entries labelled name, number of PEM blocks left)."""
    entries, trailer = parse_bundle(data or b"")
    # An entry is its label line to its END line: text before the label is someone else's and stays.
    text = b"".join(entry.text_before_label if entry.label == name else entry.preamble + entry.block
                    for entry in entries) + trailer
    return text, len([entry for entry in entries if entry.label != name])


def bundle_entry(data, name):
    """The certificate labelled name in a bundle, or None."""
    entries, _trailer = parse_bundle(data or b"")
    for entry in entries:
        if entry.label == name:
            try:
                return crypto.load_certificate_pem(entry.block)
            except ValueError:
                return None
    return None


def plan_bundle(module, path, name, certificate, attributes):
    """Plan the dedicated bundle: the entry name set to certificate, or removed when certificate is None."""
    safe_file.check_parent(path)
    state = safe_file.FileState(path)
    current = state.read() if state.exists else None
    if current is not None and crypto.looks_binary(current):
        raise TrustStoreError("{0} is not a PEM bundle (it holds binary data); choose another bundle_path. Nothing "
                              "was changed.".format(path))
    if current is not None and bundle_is_damaged(current):
        raise TrustStoreError("{0} holds a PEM BEGIN or END line without its partner (a certificate cut short?); "
                              "writing to it would bury the Wise CA inside the damaged block, where no client finds it. "
                              "Repair or remove the damaged entry, or choose another bundle_path. Nothing was "
                              "changed.".format(path))
    existing = bundle_entry(current, name)
    before = _file_facts(dict(certificate_facts(existing), entry=name) if existing else None, state)
    if certificate is None:
        if name not in [entry.label for entry in parse_bundle(current or b"")[0]]:
            return StorePlan("bundle", path, False, before, before)
        remaining_text, remaining = bundle_without(current, name)
        after = _file_facts(None, state) if remaining else None

        def remove():
            if remaining:
                safe_file.write_file(module, path, remaining_text, safe_file.FileAttributes())
            else:
                safe_file.remove_file(path)

        return StorePlan("bundle", path, True, before, after, remove, file_removed=not remaining)
    wanted = bundle_with(current, name, certificate)
    changed = current != wanted or state.attributes_differ(attributes)
    after = _planned_facts(dict(certificate_facts(certificate), entry=name), state, attributes)

    def apply():
        if current != wanted:
            safe_file.write_file(module, path, wanted, attributes)
        else:
            safe_file.apply_attributes(path, attributes)

    return StorePlan("bundle", path, changed, before, after, apply)


# ---------------------------------------------------------------- Java PKCS#12 trust store

class JavaEntry(object):
    def __init__(self, alias, entry_type, certificate):
        self.alias = alias
        self.entry_type = entry_type  # "trustedCertEntry", "PrivateKeyEntry", ...
        self.certificate = certificate


def choose_java_backend(module, wanted, keytool_path=None):
    """('cryptography', None) or ('keytool', path); TrustStoreError when neither can write the store."""
    native = crypto.can_write_java_truststore()
    if wanted in ("auto", "cryptography") and native:
        return "cryptography", None
    keytool = keytool_path or module.get_bin_path("keytool", opt_dirs=_java_bin_dirs())
    if wanted in ("auto", "keytool") and keytool and os.access(keytool, os.X_OK):
        return "keytool", keytool
    if wanted == "cryptography":
        raise TrustStoreError("The cryptography library on this host cannot write a Java trust store entry (it needs "
                              "cryptography 45 or newer for the trusted-certificate attribute Java requires). Upgrade "
                              "it, or set java_truststore_backend=auto to use keytool. Nothing was changed.")
    raise TrustStoreError(
        "Cannot write the Java trust store: this host's cryptography library is too old to write the trusted-"
        "certificate attribute Java needs (cryptography 45 or newer does), and keytool was not found{0}. Install a "
        "Java runtime that provides keytool (on Debian and Ubuntu: default-jre-headless; on the RHEL family: "
        "java-17-openjdk-headless), set java_keytool_path, or upgrade python3-cryptography. Nothing was "
        "changed.".format(" at " + keytool_path if keytool_path else ""))


def _java_bin_dirs():
    folders = []
    if os.environ.get("JAVA_HOME"):
        folders.append(os.path.join(os.environ["JAVA_HOME"], "bin"))
    return folders


class JavaTrustStore(object):
    """A PKCS#12 trust store at path, read and written with cryptography or with keytool."""

    def __init__(self, module, path, password, backend, keytool=None):
        self.module = module
        self.path = path
        self.password = password
        self.backend = backend
        self.keytool = keytool
        self.state = safe_file.FileState(path)

    def entries(self):
        """The store's entries ([] when the file does not exist)."""
        if not self.state.exists:
            return []
        if self.backend == "keytool":
            return self._keytool_entries()
        try:
            contents = crypto.load_pkcs12(self.state.read(), self.password)
        except (ValueError, TypeError) as exc:
            raise TrustStoreError("The Java trust store {0} cannot be opened with the given password ({1}); give the "
                                  "right java_truststore_password, or another java_truststore_path. Nothing was "
                                  "changed.".format(self.path, exc)) from None
        entries = []
        if contents.key is not None:
            entries.append(JavaEntry((contents.friendly_name or "").lower(), "PrivateKeyEntry", contents.certificate))
        elif contents.certificate is not None:
            entries.append(JavaEntry((contents.friendly_name or "").lower(), "trustedCertEntry", contents.certificate))
        entries.extend(JavaEntry((alias or "").lower(), "trustedCertEntry", certificate)
                       for alias, certificate in contents.additional)
        return entries

    def render(self, entries):
        """New store bytes holding entries (trusted certificates only)."""
        if self.backend == "keytool":
            raise AssertionError("keytool stores are changed with keytool")
        return crypto.java_truststore([(entry.alias, entry.certificate) for entry in entries], self.password)

    # keytool ---------------------------------------------------------------

    def _keytool(self, store_path, *args):
        command = [self.keytool] + list(args) + ["-keystore", store_path, "-storetype", "PKCS12",
                                                 "-storepass:env", KEYTOOL_PASSWORD_VARIABLE] + KEYTOOL_JVM_OPTIONS
        rc, out, err = self.module.run_command(command, environ_update={KEYTOOL_PASSWORD_VARIABLE: self.password})
        return rc, out, err

    def _keytool_entries(self):
        rc, out, err = self._keytool(self.path, "-list", "-rfc")
        if rc != 0:
            text = (out + err).strip()
            if "password" in text.lower():
                raise TrustStoreError("The Java trust store {0} cannot be opened with the given password (keytool: {1}); "
                                      "give the right java_truststore_password. Nothing was changed.".format(
                                          self.path, text))
            raise TrustStoreError("keytool cannot read the Java trust store {0}: {1}. Nothing was changed.".format(
                self.path, text))
        return parse_keytool_list(out)

    def keytool_change(self, name, certificate, replace):
        """Store bytes with the entry name set to certificate (or removed when None), made by keytool.

        replace says whether the store already has an entry called name (it is deleted first).
        """
        folder = tempfile.mkdtemp(prefix="wise-mtls-truststore-")
        try:
            work = os.path.join(folder, "store.p12")
            if self.state.exists:
                with open(work, "wb") as handle:
                    handle.write(self.state.read())
                if replace:
                    self._keytool_checked(work, "-delete", "-alias", name)
            if certificate is not None:
                pem = os.path.join(folder, "ca.pem")
                with open(pem, "wb") as handle:
                    handle.write(crypto.certificate_to_pem(certificate))
                self._keytool_checked(work, "-importcert", "-noprompt", "-alias", name, "-file", pem)
            with open(work, "rb") as handle:
                return handle.read()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _keytool_checked(self, store_path, *args):
        rc, out, err = self._keytool(store_path, *args)
        if rc != 0:
            raise TrustStoreError("keytool {0} failed for the Java trust store {1}: {2}. Nothing was changed.".format(
                args[0], self.path, (out + err).strip()))


def parse_keytool_list(text):
    """Entries of 'keytool -list -rfc' output (English): alias, entry type, first certificate."""
    entries = []
    sections = re.split(r"^Alias name: ", text, flags=re.MULTILINE)[1:]
    for section in sections:
        alias = section.splitlines()[0].strip()
        match = re.search(r"^Entry type: (\S+)", section, re.MULTILINE)
        certificates = []
        try:
            certificates = crypto.load_certificate_blocks(section.encode("utf-8"))
        except ValueError:
            pass
        entries.append(JavaEntry(alias.lower(), match.group(1) if match else "unknown",
                                 certificates[0] if certificates else None))
    return entries


def plan_java(module, store, name, certificate, attributes):
    """Plan the Java trust store: alias name a trusted entry for certificate, or removed when None."""
    safe_file.check_parent(store.path)
    alias = name.lower()  # Java keeps PKCS#12 aliases in lower case
    entries = store.entries()
    for entry in entries:
        if entry.alias == alias and entry.entry_type != "trustedCertEntry":
            raise TrustStoreError("The alias {0!r} in the Java trust store {1} is a {2}, not a trusted certificate; "
                                  "choose another name. Nothing was changed.".format(
                                      alias, store.path, entry.entry_type))
    if store.backend == "cryptography" and any(entry.entry_type == "PrivateKeyEntry" for entry in entries):
        raise TrustStoreError("The Java trust store {0} holds a private key entry; keep trusted CA certificates in a "
                              "trust store of their own (another java_truststore_path), or let keytool manage it "
                              "(java_truststore_backend=keytool). Nothing was changed.".format(store.path))
    ours = [entry for entry in entries if entry.alias == alias]
    existing = ours[0].certificate if ours else None
    state = store.state
    before = _file_facts(dict(certificate_facts(existing), entry=alias) if existing else None, state)
    details = dict(backend=store.backend)

    if certificate is None:
        if not ours:
            return StorePlan("java", store.path, False, before, before, **details)
        others = [entry for entry in entries if entry.alias != alias]

        def remove():
            if not others:
                safe_file.remove_file(store.path)
            elif store.backend == "keytool":
                safe_file.write_file(module, store.path, store.keytool_change(name, None, True), safe_file.FileAttributes())
            else:
                safe_file.write_file(module, store.path, store.render(others), safe_file.FileAttributes())

        return StorePlan("java", store.path, True, before, _file_facts(None, state) if others else None, remove,
                         file_removed=not others, **details)

    content_changes = len(ours) != 1 or ours[0].certificate != certificate
    changed = content_changes or state.attributes_differ(attributes)
    after = _planned_facts(dict(certificate_facts(certificate), entry=alias), state, attributes)

    def apply():
        if not content_changes:
            safe_file.apply_attributes(store.path, attributes)
        elif store.backend == "keytool":
            safe_file.write_file(module, store.path, store.keytool_change(name, certificate, bool(ours)), attributes)
        else:
            kept = [entry for entry in entries if entry.alias != alias]
            data = store.render(kept + [JavaEntry(alias, "trustedCertEntry", certificate)])
            safe_file.write_file(module, store.path, data, attributes)

    return StorePlan("java", store.path, changed, before, after, apply, **details)
