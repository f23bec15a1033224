# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""Key generations of a Wise client folder: the rotation layout and its atomic switch.

An environment folder F (for example /etc/wise-mtls/sandbox) starts flat, as the client role
makes it: regular files client.key, client.csr, client.pem, wise-ca.pem. Rotation turns it into:

    F/client.key -> live/client.key     one link per generation file present (GENERATION_FILES)
    F/client.csr -> live/client.csr
    F/client.pem -> live/client.pem
    F/live       -> generations/<id>    the live generation
    F/previous   -> generations/<id>    the generation that was live before (the rollback target)
    F/staged     -> generations/<id>    the generation waiting to go live
    F/generations/<id>/client.key, client.csr, client.pem, ..., generation.json
    F/wise-ca.pem                       the Wise CA, shared by every generation (a regular file)

Key and certificate cannot be replaced together by two renames. Here every path a consumer
uses resolves through the one link F/live, so replacing F/live (a new link made under a temp
name, then rename(2) over the old one) switches key and certificate at once: at any instant the
paths name one generation, the old one or the new one. A switch that is killed at any step
leaves a folder where the paths still name one complete generation, and running it again
finishes the job (see the step order in make_live and migrate).

The safe-file layer follows exactly this link shape (safe_file.generation_link_target), so the
other modules read and write the live generation's files through F/client.key and the like.
Every change here holds the lock of F (safe_file.locked), which those modules hold too.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import random
import re
import stat
import string

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file

LIVE = safe_file.GENERATION_LINK
PREVIOUS = "previous"
STAGED = "staged"
POINTERS = (LIVE, PREVIOUS, STAGED)
GENERATIONS = safe_file.GENERATIONS_FOLDER
ID_RE = safe_file.GENERATION_ID_RE
KEY = "client.key"
CSR = "client.csr"
CERTIFICATE = "client.pem"
# The files of one generation: what belongs to one key. The Wise CA and the Java trust store are
# the same for every generation and stay regular files in F.
GENERATION_FILES = (KEY, CSR, CERTIFICATE, "client.p12", "client-combined.pem")
METADATA = "generation.json"
PUBLIC_MODE = 0o644

# TEST-ONLY crash points of a switch, beside the safe-file layer's write steps (same arming, see
# safe_file._test_crash_point): after a new link exists under its temp name, after it replaced the
# old one, after a link was removed, after a file of a removed generation was unlinked.
TEST_CRASH_STEPS = ("link_created", "link_replaced", "link_removed", "generation_file_removed")
_TEMP_LINK_RE = re.compile(r"\A\.(?:" + "|".join(re.escape(name) for name in POINTERS + GENERATION_FILES)
                           + r")\.[a-z0-9]{8}\.tmp\Z")


class GenerationError(Exception):
    """A generation operation refused or failed; the message says what to do."""


def _crash_point(step, path):
    safe_file._test_crash_point(step, path)  # pylint: disable=protected-access


def timestamp_id(moment=None):
    """A generation id from a moment in UTC: 20261203-165400."""
    return (moment or crypto.utcnow()).astimezone(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")


def check_id(generation_id):
    if not ID_RE.match(generation_id or ""):
        raise GenerationError("{0!r} is not a generation id: use 1 to 64 letters, digits, '_' and '-', starting with a "
                              "letter or digit (for example 20261203-165400).".format(generation_id))
    return generation_id


# ---------------------------------------------------------------- reading the layout

class Layout(object):
    """What an environment folder holds: flat files, or generations and the links that name them."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        try:
            info = os.lstat(self.folder)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise GenerationError("Cannot inspect {0}: {1}.".format(self.folder, exc.strerror)) from None
            info = None
        if info is not None and not stat.S_ISDIR(info.st_mode):
            raise GenerationError("{0} is not a folder; point path at the environment's folder (for example "
                                  "/etc/wise-mtls/sandbox).".format(self.folder))
        self.exists = info is not None
        self.folder_info = info
        raw = dict((name, read_pointer(self.folder, name) if self.exists else None) for name in POINTERS)
        self.live = raw[LIVE]
        # A pointer that names the live generation says nothing more: a switch killed half-way leaves one.
        self.previous = raw[PREVIOUS] if raw[PREVIOUS] != self.live else None
        self.staged = raw[STAGED] if raw[STAGED] != self.live else None
        self.raw_pointers = raw
        self.generation_ids = self._generation_ids()
        for name in POINTERS:
            if raw[name] is not None and raw[name] not in self.generation_ids:
                raise GenerationError("{0} names the generation {1}, but {2} is missing. Nothing was changed. Restore "
                                      "that folder from a backup, or point {0} at a generation that exists.".format(
                                          self.path(name), raw[name], self.generation_path(raw[name])))
        self.top = dict((name, self._top_kind(name)) for name in GENERATION_FILES)

    @property
    def kind(self):
        """'generations' (rotation layout), 'flat' (the client role's files, never rotated), 'empty' or 'missing'."""
        if not self.exists:
            return "missing"
        if self.live is not None:
            return "generations"
        if self.top[KEY] == "file":
            return "flat"
        return "empty"

    def path(self, name):
        return os.path.join(self.folder, name)

    def generation_path(self, generation_id, name=None):
        folder = os.path.join(self.folder, GENERATIONS, generation_id)
        return folder if name is None else os.path.join(folder, name)

    def _generation_ids(self):
        folder = self.path(GENERATIONS)
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return []
            raise GenerationError("Cannot list {0}: {1}.".format(folder, exc.strerror)) from None
        if stat.S_ISLNK(os.lstat(folder).st_mode):
            raise GenerationError("{0} is a link; the generations must live in a real folder inside {1}. Nothing was "
                                  "changed. Replace the link with the folder it points to.".format(folder, self.folder))
        return sorted(entry.name for entry in entries
                      if ID_RE.match(entry.name) and entry.is_dir(follow_symlinks=False))

    def _top_kind(self, name):
        path = self.path(name)
        try:
            info = os.lstat(path)
        except OSError:
            return "missing"
        if stat.S_ISREG(info.st_mode):
            return "file"
        if stat.S_ISLNK(info.st_mode) and os.readlink(path) == LIVE + "/" + name:
            return "link"
        return "other"

    def generation_files(self, generation_id):
        """Names of the generation files present (regular files) in a generation."""
        return [name for name in GENERATION_FILES if _is_regular(self.generation_path(generation_id, name))]

    def live_files(self):
        """Names of the generation files that consumers see now."""
        if self.live is not None:
            return self.generation_files(self.live)
        return [name for name in GENERATION_FILES if self.top[name] == "file"]

    def live_file_path(self, name):
        """Where the live file is: the live generation's copy, or the flat file."""
        return self.generation_path(self.live, name) if self.live is not None else self.path(name)

    def pointer_since(self, name):
        """When a pointer link was last replaced (its own mtime), or None."""
        if self.raw_pointers.get(name) is None:
            return None
        return datetime.datetime.fromtimestamp(os.lstat(self.path(name)).st_mtime, datetime.timezone.utc)

    def inactive(self):
        """Generations that are neither live nor staged, oldest first."""
        return [gid for gid in self.generation_ids if gid not in (self.live, self.staged)]

    def resolve(self, wanted):
        """The generation id that 'staged', 'previous' or an id names; GenerationError when there is none."""
        if wanted in (STAGED, PREVIOUS) and self.raw_pointers[wanted] is not None and self.raw_pointers[wanted] == self.live:
            return self.live  # a switch to it was killed after the switch itself: nothing left but to tidy up
        if wanted == STAGED:
            if self.staged is None:
                raise GenerationError("{0} has no staged generation. Nothing was changed. Stage one first "
                                      "(wise.mtls.generation with state=staged, or the rotate playbook's stage "
                                      "phase).".format(self.folder))
            return self.staged
        if wanted == PREVIOUS:
            if self.previous is None:
                raise GenerationError("{0} has no previous generation to go back to. Nothing was changed.".format(
                    self.folder))
            return self.previous
        check_id(wanted)
        if wanted not in self.generation_ids:
            raise GenerationError("{0} has no generation {1} (it has: {2}). Nothing was changed.".format(
                self.folder, wanted, ", ".join(self.generation_ids) or "none"))
        return wanted


def read_pointer(folder, name):
    """The generation id a pointer link names, None when there is no link; refuses anything else."""
    path = os.path.join(folder, name)
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise GenerationError("Cannot inspect {0}: {1}.".format(path, exc.strerror)) from None
    if not stat.S_ISLNK(info.st_mode):
        raise GenerationError("{0} exists but is not the link the rotation layout uses there. Nothing was changed. "
                              "Move it away, then run again.".format(path))
    text = os.readlink(path)
    parts = text.split("/")
    if len(parts) != 2 or parts[0] != GENERATIONS or not ID_RE.match(parts[1]):
        raise GenerationError("{0} points to {1!r}, which is not a generation of this folder (generations/<id>). "
                              "Nothing was changed. Remove the link or point it at a generation.".format(path, text))
    return parts[1]


def _is_regular(path):
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


# ---------------------------------------------------------------- describing generations

def read_metadata(path):
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(65536).decode("utf-8"))
    except (IOError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def metadata_content(certificate_name, origin, created=None):
    data = dict(certificate_name=certificate_name, created=crypto.iso8601(created or crypto.utcnow()), origin=origin)
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def load_key(path, passphrase):
    """The private key at path; GenerationError naming the problem."""
    state = safe_file.FileState(path, follow=True)
    if not state.exists:
        raise GenerationError("The private key {0} does not exist.".format(path))
    try:
        return crypto.load_private_key(state.read(), passphrase)
    except crypto.KeyLoadError as exc:
        raise GenerationError("The private key {0} cannot be used: {1}.".format(path, exc)) from None


def load_certificate(path):
    state = safe_file.FileState(path, follow=True)
    if not state.exists:
        raise GenerationError("The certificate {0} does not exist.".format(path))
    certificates, findings = policy.read_certificates_pem(state.read(), role="certificate", single=False)
    if not certificates:
        raise GenerationError("{0} holds no readable certificate: {1}".format(
            path, " ".join(finding.message for finding in findings)))
    return certificates[0]


def certificate_facts(certificate, now=None, renew_before_days=policy.RENEW_BEFORE_DAYS):
    """Public facts about a certificate: the same names wise.mtls.certificate_info returns."""
    now = now or crypto.utcnow()
    not_before = crypto.certificate_not_before(certificate)
    not_after = crypto.certificate_not_after(certificate)
    common_names = crypto.name_values(certificate.subject, "COMMON_NAME")
    return dict(
        subject=crypto.name_to_string(certificate.subject),
        issuer=crypto.name_to_string(certificate.issuer),
        common_name=common_names[0] if common_names else None,
        serial=crypto.certificate_serial_hex(certificate),
        not_before=crypto.iso8601(not_before),
        not_after=crypto.iso8601(not_after),
        not_after_timestamp=int((not_after - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()),
        days_remaining=policy.days_remaining(certificate, now),
        expired=now > not_after,
        not_yet_valid=now < not_before,
        needs_renewal=policy.needs_renewal(certificate, renew_before_days, now),
        fingerprint=crypto.certificate_fingerprint(certificate),
        public_key_fingerprint=crypto.public_key_fingerprint(certificate.public_key()),
    )


def describe_files(folder, names):
    """Owner, group and mode of each file of a generation (public facts)."""
    facts = {}
    for name in names:
        state = safe_file.FileState(os.path.join(folder, name), follow=True)
        facts[name] = safe_file.describe(state)
    return facts


def describe(layout, generation_id, passphrase=None, renew_before_days=policy.RENEW_BEFORE_DAYS, now=None):
    """Everything public about one generation (generation_id None: the flat files of a folder never rotated)."""
    now = now or crypto.utcnow()
    if generation_id is None:
        folder = layout.folder
        files = [name for name in GENERATION_FILES if layout.top[name] == "file"]
        metadata = {}
    else:
        folder = layout.generation_path(generation_id)
        files = layout.generation_files(generation_id)
        metadata = read_metadata(os.path.join(folder, METADATA))
    facts = dict(id=generation_id, path=folder, files=files, file_attributes=describe_files(folder, files),
                 live=generation_id == layout.live if generation_id is not None else layout.kind == "flat",
                 staged=generation_id is not None and generation_id == layout.staged,
                 previous=generation_id is not None and generation_id == layout.previous,
                 certificate_name=metadata.get("certificate_name"), created=metadata.get("created"),
                 origin=metadata.get("origin") or ("flat" if generation_id is None else None),
                 key=None, certificate=None, key_match=None, problems=[])
    key = certificate = None
    if KEY in files:
        try:
            key = load_key(os.path.join(folder, KEY), passphrase)
        except (GenerationError, safe_file.SafeFileError) as exc:
            facts["problems"].append(str(exc))
        else:
            info = crypto.describe_public_key(key.public_key())
            facts["key"] = dict(type=info["type"], size=info["size"],
                                fingerprint=crypto.public_key_fingerprint(key.public_key()))
    if CERTIFICATE in files:
        try:
            certificate = load_certificate(os.path.join(folder, CERTIFICATE))
        except (GenerationError, safe_file.SafeFileError) as exc:
            facts["problems"].append(str(exc))
        else:
            facts["certificate"] = certificate_facts(certificate, now, renew_before_days)
    if key is not None and certificate is not None:
        facts["key_match"] = crypto.public_keys_equal(key.public_key(), certificate.public_key())
        if not facts["key_match"]:
            facts["problems"].append("The certificate in {0} is for another key than {1}.".format(
                os.path.join(folder, CERTIFICATE), os.path.join(folder, KEY)))
    return facts


# ---------------------------------------------------------------- links and folders

def _random_suffix():
    chooser = random.SystemRandom()
    return "".join(chooser.choice(string.ascii_lowercase + string.digits) for _index in range(8))


def replace_link(folder, name, text, owner=None):
    """Make folder/name a link to text, atomically: a new link under a temp name, renamed over the old."""
    path = os.path.join(folder, name)
    for _attempt in range(100):
        temp = os.path.join(folder, ".{0}.{1}.tmp".format(name, _random_suffix()))
        try:
            os.symlink(text, temp)
            break
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise GenerationError("Cannot create a link in {0}: {1}. Nothing was switched.".format(
                    folder, exc.strerror)) from None
    else:
        raise GenerationError("Cannot find a free temp name in {0}.".format(folder))
    try:
        if owner is not None:
            os.lchown(temp, owner[0], owner[1])
        _crash_point("link_created", path)
        os.rename(temp, path)
    except OSError as exc:
        safe_file.unlink_quietly(temp)
        raise GenerationError("Cannot replace {0}: {1}.".format(path, exc.strerror)) from None
    except BaseException:
        safe_file.unlink_quietly(temp)
        raise
    _crash_point("link_replaced", path)
    safe_file.fsync_folder(folder)


def remove_link(folder, name):
    path = os.path.join(folder, name)
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise GenerationError("Cannot remove {0}: {1}.".format(path, exc.strerror)) from None
    _crash_point("link_removed", path)
    safe_file.fsync_folder(folder)
    return True


def remove_stale_temp_links(folder):
    """Temp links that a killed switch left (called under the folder's lock)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if _TEMP_LINK_RE.match(entry.name) and entry.is_symlink():
            safe_file.unlink_quietly(entry.path)


def ensure_folder(path, like):
    """Create path with the owner, group and mode of like (an os.stat result) when it is missing."""
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is not None:
        if not stat.S_ISDIR(info.st_mode):
            raise GenerationError("{0} exists but is not a folder. Nothing was switched. Move it away.".format(path))
        return False
    try:
        made = safe_file.make_folder(path, safe_file.FileAttributes.like(like))
    except safe_file.SafeFileError as exc:
        raise GenerationError(str(exc)) from None
    safe_file.fsync_folder(os.path.dirname(path))
    return made


def _copy_file(module, source, destination):
    """Copy a file with its owner, group and mode through the safe-write path; True when it changed."""
    state = safe_file.FileState(source)
    content = state.read()
    target = safe_file.FileState(destination)
    attributes = safe_file.FileAttributes(state.mode, state.uid, state.gid)
    if target.exists and target.read() == content and not target.attributes_differ(attributes):
        return False
    safe_file.write_file(module, destination, content, attributes)
    return True


# ---------------------------------------------------------------- the switch

def check_pair(layout, generation_id, passphrase=None, now=None):
    """(key, certificate) of a generation after checking that they belong together and can be used now."""
    key_path = layout.generation_path(generation_id, KEY)
    certificate_path = layout.generation_path(generation_id, CERTIFICATE)
    if not _is_regular(certificate_path):
        raise GenerationError("The generation {0} has no certificate ({1}). Nothing was switched. Install the "
                              "certificate Developer Hub issued for its CSR first.".format(generation_id, certificate_path))
    key = load_key(key_path, passphrase)
    certificate = load_certificate(certificate_path)
    findings = policy.check_key_matches(certificate, key, key_path) + policy.check_validity(certificate, now=now)
    if policy.errors(findings):
        raise GenerationError("The generation {0} cannot go live: {1} Nothing was switched.".format(
            generation_id, " ".join(finding.message for finding in policy.errors(findings))))
    return key, certificate


def migrated_id(layout):
    """The id the flat files get as a generation: the time their certificate was issued (else the key's mtime)."""
    moment = None
    if layout.top[CERTIFICATE] == "file":
        try:
            moment = crypto.certificate_not_before(load_certificate(layout.path(CERTIFICATE)))
        except (GenerationError, safe_file.SafeFileError):
            moment = None
    if moment is None:
        moment = datetime.datetime.fromtimestamp(os.lstat(layout.path(KEY)).st_mtime, datetime.timezone.utc)
    base = timestamp_id(moment)
    candidate, counter = base, 0
    # A folder of that name is reused only when it holds nothing but copies of these flat files (a migration
    # killed half-way); anything else gets another name.
    while candidate in layout.generation_ids and not _is_partial_copy(layout, candidate):
        counter += 1
        candidate = "{0}-{1}".format(base, counter)
    return candidate


def _is_partial_copy(layout, generation_id):
    if generation_id in (layout.live, layout.previous, layout.staged):
        return False
    for name in layout.generation_files(generation_id):
        if layout.top[name] != "file" or _read(layout.path(name)) != _read(layout.generation_path(generation_id, name)):
            return False
    return True


def _read(path):
    return safe_file.FileState(path, follow=True).read()


def migrate(module, layout):
    """Turn a flat folder into the rotation layout, its files becoming one generation; returns its id.

    Order, so that a kill at any step leaves every path naming the same bytes: (1) copy the flat
    files into generations/<id>/, (2) create F/live; then finish_links (3) replaces each flat file
    with its link, one rename each, the link resolving to an identical copy. Run again, a killed
    migration finishes what is left (a folder with F/live is no longer flat, and finish_links
    converts the files still regular).
    """
    generation_id = migrated_id(layout)
    ensure_folder(layout.path(GENERATIONS), layout.folder_info)
    ensure_folder(layout.generation_path(generation_id), layout.folder_info)
    for name in layout.live_files():
        _copy_file(module, layout.path(name), layout.generation_path(generation_id, name))
    metadata_path = layout.generation_path(generation_id, METADATA)
    if not _is_regular(metadata_path):
        safe_file.write_file(module, metadata_path, metadata_content(None, "migrated"),
                             safe_file.FileAttributes(PUBLIC_MODE, layout.folder_info.st_uid, layout.folder_info.st_gid))
    replace_link(layout.folder, LIVE, GENERATIONS + "/" + generation_id, _owner(layout))
    return generation_id


def finish_links(module, layout, generation_id, names):
    """Make F/<name> the link to live/<name> for each name; a regular file left there is synced into the live
    generation first, so that consumers see the same bytes before and after."""
    changed = False
    for name in names:
        kind = Layout(layout.folder).top[name]
        if kind == "link":
            continue
        if kind == "other":
            raise GenerationError("{0} is neither a regular file nor the link of the rotation layout. Nothing more was "
                                  "changed. Move it away, then run again.".format(layout.path(name)))
        if kind == "file":
            _copy_file(module, layout.path(name), layout.generation_path(generation_id, name))
        replace_link(layout.folder, name, LIVE + "/" + name, _owner(layout))
        changed = True
    return changed


def _owner(layout):
    return layout.folder_info.st_uid, layout.folder_info.st_gid


def plan_live(layout, wanted, passphrase=None, now=None):
    """What making a generation live would do, after every check; GenerationError when it must not happen."""
    if layout.kind in ("empty", "missing") and not layout.generation_ids:
        raise GenerationError("{0} holds no key yet. Nothing was changed. Onboard the host first (the wise.mtls.client "
                              "role), then stage and activate a new generation.".format(layout.folder))
    target = layout.resolve(wanted)
    check_pair(layout, target, passphrase, now)
    target_files = layout.generation_files(target)
    missing = [name for name in layout.live_files() if name not in target_files]
    if missing and target != layout.live:
        raise GenerationError("The generation {0} lacks {1}, which the live files have: consumers of {2} would lose "
                              "them. Nothing was switched. Make them in generations/{0}/ first (the certificate "
                              "module's pkcs12_path and combined_path; the rotate role does so with the client role's "
                              "settings).".format(target, ", ".join(missing),
                                                  ", ".join(layout.path(name) for name in missing)))
    links = [name for name in sorted(set(target_files) | set(layout.live_files())) if layout.top[name] != "link"]
    switch = target != layout.live
    return dict(target=target, migrate=layout.kind == "flat", links=links, switch=switch,
                rollback=switch and target == layout.previous,
                stale_pointers=[name for name in (PREVIOUS, STAGED)
                                if layout.raw_pointers[name] is not None and layout.raw_pointers[name] == layout.live])


def make_live(module, layout, plan):
    """Carry out plan_live's plan; returns the id of the generation that was live before (or None)."""
    remove_stale_temp_links(layout.folder)
    old = layout.live
    if plan["migrate"]:
        old = migrate(module, layout)
        layout = Layout(layout.folder)
    finish_links(module, layout, old if old is not None else plan["target"], plan["links"])
    target = plan["target"]
    if target != old:
        if target == layout.previous:  # a rollback: the generation that failed is staged again, to retry once fixed
            replace_link(layout.folder, STAGED, GENERATIONS + "/" + old, _owner(layout))
            replace_link(layout.folder, LIVE, GENERATIONS + "/" + target, _owner(layout))
            remove_link(layout.folder, PREVIOUS)
        else:
            if old is not None:
                replace_link(layout.folder, PREVIOUS, GENERATIONS + "/" + old, _owner(layout))
            replace_link(layout.folder, LIVE, GENERATIONS + "/" + target, _owner(layout))
    for name in (PREVIOUS, STAGED):  # a pointer naming the live generation (a switch killed half-way, or this one)
        if read_pointer(layout.folder, name) == target:
            remove_link(layout.folder, name)
    return old


# ---------------------------------------------------------------- staging

def plan_stage(layout, wanted_key=None, key_type=None, size=None, passphrase=None):
    """(action, generation id or None, reason): 'keep' the staged generation, or 'create' a new one.

    wanted_key is the private key to stage (a key shared by a key group, made on another host); without it, a
    key of key_type and size is made, and a staged generation whose key is of that kind is kept.
    """
    if layout.kind in ("empty", "missing"):
        raise GenerationError("{0} holds no live key. Nothing was changed. Onboard the host first (the wise.mtls.client "
                              "role); rotation stages a new key beside a live one.".format(layout.folder))
    if layout.staged is None:
        return "create", None, "there is no staged generation"
    key_path = layout.generation_path(layout.staged, KEY)
    try:
        staged_key = load_key(key_path, passphrase)
    except (GenerationError, safe_file.SafeFileError) as exc:
        if wanted_key is not None:
            return "replace", layout.staged, str(exc)
        raise GenerationError("{0} Nothing was changed. Remove the staged generation (state=absent, "
                              "generation=staged) and stage again.".format(exc)) from None
    if wanted_key is not None:
        if crypto.private_keys_equal(staged_key, wanted_key):
            return "keep", layout.staged, None
        return "replace", layout.staged, "the staged generation {0} holds another key".format(layout.staged)
    info = crypto.describe_public_key(staged_key.public_key())
    if info["type"] != key_type or info["size"] != size:
        raise GenerationError("The staged generation {0} holds {1} key, but {2} was asked for. Nothing was changed. "
                              "Activate it as it is, or remove it (state=absent, generation=staged) and stage "
                              "again.".format(layout.staged, policy.describe_key_briefly(staged_key.public_key()),
                                              "RSA {0}".format(size) if key_type == "rsa" else
                                              "ECC " + policy.ECC_CURVE_NAMES.get(size, str(size))))
    return "keep", layout.staged, None


# ---------------------------------------------------------------- removing

def plan_remove(layout, wanted, older_than_days=0, now=None):
    """The generation ids to remove for 'previous', 'inactive', 'staged' or an id; refuses the live one."""
    now = now or crypto.utcnow()
    if wanted == "inactive":
        candidates = layout.inactive()
    elif wanted == PREVIOUS:
        candidates = [layout.previous] if layout.previous is not None else []
    elif wanted == STAGED:
        candidates = [layout.staged] if layout.staged is not None else []
    else:
        check_id(wanted)
        candidates = [wanted] if wanted in layout.generation_ids else []
    if layout.live is not None and layout.live in candidates:
        raise GenerationError("The generation {0} is live in {1}; it cannot be removed. Nothing was changed. Make "
                              "another generation live first.".format(layout.live, layout.folder))
    if candidates and older_than_days:
        since = layout.pointer_since(LIVE)
        if since is not None and now - since < datetime.timedelta(days=older_than_days):
            return [], since
        return candidates, since
    return candidates, layout.pointer_since(LIVE)


def remove_generation(layout, generation_id):
    """Remove one generation: first the links naming it, then its files, then its folder."""
    folder = layout.generation_path(generation_id)
    entries = list(os.scandir(folder))
    others = [entry.name for entry in entries if not entry.is_file(follow_symlinks=False)]
    if others:
        raise GenerationError("{0} holds {1}, which are not files the rotation made. Nothing was removed. Move them "
                              "away, then run again.".format(folder, ", ".join(sorted(others))))
    # Files first, while a pointer may still name the generation (a killed run is then finished by the same
    # request); a generation without its files can never be switched to. Then the pointers, then the folder.
    for entry in entries:
        try:
            os.unlink(entry.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise GenerationError("Cannot remove {0}: {1}.".format(entry.path, exc.strerror)) from None
        _crash_point("generation_file_removed", entry.path)
    safe_file.fsync_folder(folder)
    for name in (PREVIOUS, STAGED):
        if layout.raw_pointers[name] == generation_id:
            remove_link(layout.folder, name)
    try:
        os.rmdir(folder)
    except OSError as exc:
        raise GenerationError("Cannot remove the folder {0}: {1}.".format(folder, exc.strerror)) from None
    safe_file.fsync_folder(layout.path(GENERATIONS))
