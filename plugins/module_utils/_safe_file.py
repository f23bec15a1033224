# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""The one safe-write path for every file this collection puts on a host.

A file is written to a temp file in the destination folder that is created 0600 (whatever
the umask), given its owner, group and final mode and SELinux context before a byte is
written, fsynced, then renamed over the destination (atomic on POSIX) and the folder
fsynced. Readers therefore see the old file or the new one, never a mix, and a private key
is never readable by anyone else, not even for an instant. A destination that is a
symbolic link, or not a regular file, is refused rather than written through.

One kind of link is expected and followed: the rotation layout (see generation_link_target()),
where <folder>/client.key is a link to live/client.key and <folder>/live a link to
generations/<id>, all inside <folder>. Reads and writes then go to the file of the live
generation, so the modules keep working on a host whose key has been rotated.

Writers hold an advisory lock on the destination's folder (see locked()), so two runs at
once cannot interleave, and temp files that a killed writer left behind are removed by the
next write of the same file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import grp
import hmac
import os
import pwd
import re
import signal
import stat
import tempfile
import time


class SafeFileError(Exception):
    """A file operation refused or failed; the message says what to do."""


class FileState(object):
    """What is on disk at a path: content (None when absent) and attributes."""

    def __init__(self, path, follow=False):
        self.path = path
        self.real_path = path  # differs for a link of the rotation layout (generation_link_target)
        self.exists = False
        self.content = None
        self.mode = None
        self.uid = None
        self.gid = None
        refuse_nul(path)
        try:
            info = os.stat(path) if follow else os.lstat(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            raise SafeFileError("Cannot inspect {0}: {1}.".format(path, exc.strerror)) from None
        if stat.S_ISLNK(info.st_mode) and not follow:
            self.real_path = generation_link_target(path)
            if self.real_path is None:
                raise SafeFileError(
                    "{0} is a symbolic link (to {1}); refusing to read or write through it. Point the path at the real "
                    "file, or remove the link.".format(path, os.readlink(path)))
            try:
                info = os.lstat(self.real_path)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return  # the live generation has no such file yet; a write creates it there
                raise SafeFileError("Cannot inspect {0}: {1}.".format(self.real_path, exc.strerror)) from None
        if not stat.S_ISREG(info.st_mode):
            raise SafeFileError("{0} exists but is not a regular file; move it away or choose another path.".format(path))
        self.exists = True
        self.mode = stat.S_IMODE(info.st_mode)
        self.uid = info.st_uid
        self.gid = info.st_gid

    def read(self, limit=1024 * 1024):
        """Read the content (at most limit bytes: these files are small, a huge one is a mistake)."""
        if not self.exists:
            return None
        if self.content is None:
            try:
                with open(self.real_path, "rb") as handle:
                    self.content = handle.read(limit + 1)
            except (IOError, OSError) as exc:
                raise SafeFileError("Cannot read {0}: {1}. Check its permissions.".format(self.path, exc.strerror)) from None
            if len(self.content) > limit:
                raise SafeFileError("{0} is larger than {1} bytes; it is not a key, CSR or certificate.".format(
                    self.path, limit))
        return self.content

    def attributes_differ(self, wanted):
        """True when owner, group or mode differ from wanted (a FileAttributes)."""
        return bool(self.attribute_changes(wanted))

    def attribute_changes(self, wanted):
        changes = {}
        if wanted.mode is not None and self.mode != wanted.mode:
            changes["mode"] = (_octal(self.mode), _octal(wanted.mode))
        if wanted.uid is not None and self.uid != wanted.uid:
            changes["owner"] = (self.uid, wanted.uid)
        if wanted.gid is not None and self.gid != wanted.gid:
            changes["group"] = (self.gid, wanted.gid)
        return changes


class FileAttributes(object):
    """Wanted owner, group and mode, resolved to numbers once (None = leave as is)."""

    def __init__(self, mode=None, owner=None, group=None):
        self.mode = parse_mode(mode)
        self.uid = _resolve(owner, pwd.getpwnam, "pw_uid", "owner")
        self.gid = _resolve(group, grp.getgrnam, "gr_gid", "group")

    @classmethod
    def like(cls, info):
        """The owner, group and mode of an existing file or folder (an os.stat result)."""
        attributes = cls()
        attributes.mode, attributes.uid, attributes.gid = stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
        return attributes


def parse_mode(mode):
    """Accept 0600, '0600' or '600' (octal); refuse symbolic modes with a clear message."""
    if mode is None:
        return None
    if isinstance(mode, int):
        return mode
    text = str(mode).strip()
    try:
        value = int(text, 8)
    except ValueError:
        raise SafeFileError("Mode {0!r} is not an octal mode; write it as a quoted string such as '0600'.".format(
            mode)) from None
    if value > 0o7777:
        raise SafeFileError("Mode {0!r} is out of range; use an octal mode such as '0600'.".format(mode))
    return value


def _resolve(name, lookup, field, what):
    if name is None or name == "":
        return None
    text = str(name)
    if text.isdigit():
        return int(text)
    try:
        return getattr(lookup(text), field)
    except KeyError:
        raise SafeFileError("The {0} {1!r} does not exist on this host; create it first or use another.".format(
            what, text)) from None


def _octal(mode):
    return None if mode is None else "{0:04o}".format(mode)


def refuse_nul(path):
    """No file name holds a NUL byte; say so rather than fail deep in the OS layer."""
    if "\0" in str(path):
        raise SafeFileError("The path {0!r} contains a NUL byte, which no file name can hold; check the variable "
                            "that builds it.".format(path))


# The rotation layout (wise.mtls.generation): the only links this layer follows.
GENERATION_LINK = "live"
GENERATIONS_FOLDER = "generations"
GENERATION_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


def generation_link_target(path):
    """The live generation's file behind path, when path is a link of the rotation layout; else None.

    Exactly one shape is followed, and everything in it stays inside path's folder F:
    F/<name> is a link whose text is "live/<name>", F/live is a link whose text is
    "generations/<id>" (an id of letters, digits, "_" and "-"), and F/generations and
    F/generations/<id> are real folders, not links. Any other link stays refused.
    """
    folder, name = os.path.split(os.path.abspath(path))
    try:
        if os.readlink(path) != GENERATION_LINK + "/" + name:
            return None
        generation = os.readlink(os.path.join(folder, GENERATION_LINK)).split("/")
    except (OSError, ValueError):
        return None
    if len(generation) != 2 or generation[0] != GENERATIONS_FOLDER or not GENERATION_ID_RE.match(generation[1]):
        return None
    generations = os.path.join(folder, GENERATIONS_FOLDER)
    for candidate in (generations, os.path.join(generations, generation[1])):
        try:
            if not stat.S_ISDIR(os.lstat(candidate).st_mode):
                return None
        except OSError:
            return None
    return os.path.join(generations, generation[1], name)


def real_path(path):
    """path itself, or for a link of the rotation layout, the live generation's file behind it."""
    try:
        is_link = stat.S_ISLNK(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return path
    return (generation_link_target(path) or path) if is_link else path


def check_parent(path):
    refuse_nul(path)
    parent = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(parent):
        raise SafeFileError("The folder {0} does not exist; create it first (the wise.mtls.client role does).".format(
            parent))
    return parent


def write_file(module, path, content, attributes):
    """Atomically put content at path with attributes; returns nothing, raises SafeFileError.

    A link of the rotation layout is written through: the file of the live generation is
    replaced, under the lock of the link's folder too, so that the live generation cannot
    change between finding the file and replacing it.
    """
    check_parent(path)
    with locked(path):  # the link's folder first: the live generation cannot change from here on
        path = real_path(path)
        with locked(path):
            parent = check_parent(path)
            _remove_stale_temp_files(parent, os.path.basename(path))
            _write_file_locked(module, path, parent, content, attributes)


def _write_file_locked(module, path, parent, content, attributes):
    existing = FileState(path)  # refuses a symlink or a non-regular file at the destination
    uid, gid, mode = attributes.uid, attributes.gid, attributes.mode
    if existing.exists:  # unset attributes keep what the file had
        uid = existing.uid if uid is None else uid
        gid = existing.gid if gid is None else gid
        mode = existing.mode if mode is None else mode
    context = _selinux_context(module, path)
    try:
        descriptor, temp_path = tempfile.mkstemp(dir=parent, prefix=".{0}.".format(os.path.basename(path)),
                                                 suffix=".tmp")
    except OSError as exc:
        raise SafeFileError("Cannot create a file in {0}: {1}.".format(parent, exc.strerror)) from None
    _test_crash_point("after_temp_create", path)
    try:
        try:
            # mkstemp made it 0600; owner, group and mode are set before any content exists.
            if uid is not None or gid is not None:
                os.fchown(descriptor, -1 if uid is None else uid, -1 if gid is None else gid)
            os.fchmod(descriptor, 0o600 if mode is None else mode)
            if context is not None:
                module.set_context_if_different(temp_path, context, False)
            _test_crash_point("after_chmod", path)
            half = len(content) // 2
            _write_all(descriptor, content[:half])
            _test_crash_point("mid_write", path)
            _write_all(descriptor, content[half:])
            os.fsync(descriptor)
            _test_crash_point("after_fsync", path)
        finally:
            os.close(descriptor)
        os.rename(temp_path, path)
        _test_crash_point("after_rename", path)
    except OSError as exc:
        unlink_quietly(temp_path)
        raise SafeFileError("Cannot write {0}: {1}.".format(path, exc.strerror)) from None
    except BaseException:
        unlink_quietly(temp_path)
        raise
    fsync_folder(parent)
    _test_crash_point("after_folder_fsync", path)


def apply_attributes(path, attributes):
    """Set owner, group and mode of an existing file in place; True when anything changed."""
    state = FileState(path)
    path = state.real_path
    changes = state.attribute_changes(attributes)
    try:
        if "owner" in changes or "group" in changes:
            if "mode" in changes:
                # Narrow the mode first: a new owner or group never gets, even for an instant, what the
                # old mode granted and the new one does not (a key moving from one service group to another).
                os.chmod(path, state.mode & attributes.mode)
            os.lchown(path, -1 if attributes.uid is None else attributes.uid,
                      -1 if attributes.gid is None else attributes.gid)
        if "mode" in changes:
            os.chmod(path, attributes.mode)
    except OSError as exc:
        raise SafeFileError("Cannot set owner, group or mode of {0}: {1}.".format(path, exc.strerror)) from None
    return bool(changes)


def backup_file(module, path, mode=None):
    """Copy path beside itself through the safe path; returns the copy's path.

    The copy keeps owner and group, and the original's mode unless mode is given
    (private keys pass 0600 so that no backup is ever more open than that).
    """
    state = FileState(path)
    if not state.exists:
        return None
    backup_path = "{0}.{1}.{2}~".format(path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
    wanted = FileAttributes(mode=state.mode if mode is None else mode, owner=state.uid, group=state.gid)
    write_file(module, backup_path, state.read(), wanted)
    return backup_path


def describe(state):
    """Owner, group and mode of a FileState as people read them (names where they exist); {} when absent."""
    if not state.exists:
        return {}
    return {"mode": _octal(state.mode), "owner": _name(pwd.getpwuid, state.uid, "pw_name"),
            "group": _name(grp.getgrgid, state.gid, "gr_name")}


def describe_planned(current, wanted):
    """Owner, group and mode the file will have once written with wanted attributes."""
    mode = wanted.mode if wanted.mode is not None else (current.mode if current.exists else 0o600)
    uid = wanted.uid if wanted.uid is not None else (current.uid if current.exists else os.geteuid())
    gid = wanted.gid if wanted.gid is not None else (current.gid if current.exists else os.getegid())
    return {"mode": _octal(mode), "owner": _name(pwd.getpwuid, uid, "pw_name"), "group": _name(grp.getgrgid, gid, "gr_name")}


def _name(lookup, number, field):
    try:
        return getattr(lookup(number), field)
    except KeyError:
        return str(number)


def remove_file(path):
    """Remove path (for a link of the rotation layout, the live generation's file; the link stays)."""
    path = FileState(path).real_path
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise SafeFileError("Cannot remove {0}: {1}.".format(path, exc.strerror)) from None
        return False
    fsync_folder(os.path.dirname(os.path.abspath(path)))
    return True


# ---------------------------------------------------------------- locking

LOCK_TIMEOUT = 120  # seconds; a run holds the lock while it makes an RSA 4096 key, which can take a few
_LOCK_UNSUPPORTED = (errno.EBADF, errno.EINVAL, errno.ENOLCK, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP))
_held_locks = {}  # (st_dev, st_ino) of a folder this process has locked -> [descriptor, depth]


@contextlib.contextmanager
def locked(*paths):
    """Hold an exclusive advisory lock (flock) on the folders holding paths; re-entrant in one process.

    Every write_file() locks its destination's folder, and modules hold the lock from reading a file
    to writing it, so two runs at once on one host cannot both create a key, or write a CSR for a key
    that the other run is replacing. The folder itself is locked, so no lock file is ever left beside a
    key, and a check-mode or failing run adds nothing to the folder. Folders are locked in one fixed
    order (device, inode) so that two runs never wait for each other in a cycle. Where the file system
    cannot lock a folder (some network file systems), writes stay atomic but are not serialised.
    """
    wanted = {}
    for path in paths:
        if not path:
            continue
        folder = os.path.dirname(os.path.abspath(path)) or "/"
        try:
            descriptor = os.open(folder, os.O_RDONLY)
        except (OSError, ValueError):
            continue  # a missing or unreadable folder is reported by the caller's own checks
        info = os.fstat(descriptor)
        key = (info.st_dev, info.st_ino)
        if key in wanted or key in _held_locks:
            os.close(descriptor)
            wanted.setdefault(key, (None, folder))
        else:
            wanted[key] = (descriptor, folder)
    entered = []
    try:
        for key in sorted(wanted):
            descriptor, folder = wanted[key]
            if key in _held_locks:
                _held_locks[key][1] += 1
            elif _flock(descriptor, folder):
                _held_locks[key] = [descriptor, 1]
            else:
                os.close(descriptor)
                continue
            wanted[key] = (None, folder)
            entered.append(key)
        yield
    finally:
        for key in reversed(entered):
            _held_locks[key][1] -= 1
            if not _held_locks[key][1]:
                os.close(_held_locks.pop(key)[0])  # closing the descriptor releases the lock
        for descriptor, _folder in wanted.values():
            if descriptor is not None:
                os.close(descriptor)


def _flock(descriptor, folder):
    """Lock descriptor exclusively, waiting up to LOCK_TIMEOUT; False where locking is not supported."""
    deadline = time.time() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            failure = exc
        if failure.errno in _LOCK_UNSUPPORTED:
            return False
        if failure.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise SafeFileError("Cannot lock the folder {0}: {1}.".format(folder, failure.strerror))
        if time.time() > deadline:
            raise SafeFileError("Another process has held the lock on the folder {0} for {1} seconds (another run "
                                "writing there?); nothing was changed. Try again once it has finished.".format(
                                    folder, LOCK_TIMEOUT))
        time.sleep(0.05)


def _stale_temp_name_re(name):
    """Names of the temp files write_file() makes for name and for name's backups (see backup_file)."""
    return re.compile(r"\A\." + re.escape(name) + r"(?:\.[0-9]+\.[0-9]{4}-[0-9]{2}-[0-9]{2}@[0-9]{2}:[0-9]{2}:[0-9]{2}~)?"
                      r"\.[a-z0-9_]{8}\.tmp\Z")


def _remove_stale_temp_files(parent, name):
    """Remove temp files of name that a killed writer left (called under the folder's lock).

    Every writer holds the folder's lock while its temp file exists, so one found while we hold it
    belongs to a writer that died (killed, or the host lost power). It may hold a complete copy of a
    private key that never went live: leaving it would keep key material nobody knows about.
    """
    pattern = _stale_temp_name_re(name)
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        if pattern.match(entry.name) and entry.is_file(follow_symlinks=False):
            unlink_quietly(entry.path)


# ---------------------------------------------------------------- test-only crash points

# TEST-ONLY. tests/safety kills a module at each step of a write to prove that a crash never leaves a
# half-written file in place. Inert unless three environment variables agree: the step
# (WISE_MTLS_TEST_CRASH_AT=<step> or <step>@<file name pattern>), a random token of 32 characters or more
# (WISE_MTLS_TEST_CRASH_TOKEN) and the absolute path of a file holding the same token
# (WISE_MTLS_TEST_CRASH_TOKEN_FILE) that is a regular file owned by this user and readable by nobody else.
# The point removes that file as it fires, so one arming fires once; a stray variable alone does nothing.
TEST_CRASH_STEPS = ("after_temp_create", "after_chmod", "mid_write", "after_fsync", "after_rename",
                    "after_folder_fsync")


def _test_crash_point(step, path):
    wanted = os.environ.get("WISE_MTLS_TEST_CRASH_AT")
    if not wanted:
        return
    wanted_step, _at, name_pattern = wanted.partition("@")
    if wanted_step != step or (name_pattern and not fnmatch.fnmatchcase(os.path.basename(path), name_pattern)):
        return
    token = os.environ.get("WISE_MTLS_TEST_CRASH_TOKEN", "")
    token_file = os.environ.get("WISE_MTLS_TEST_CRASH_TOKEN_FILE", "")
    if len(token) < 32 or not os.path.isabs(token_file):
        return
    try:
        descriptor = os.open(token_file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            info = os.fstat(descriptor)
            data = os.read(descriptor, 4096)
        finally:
            os.close(descriptor)
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        return
    if not hmac.compare_digest(data.strip(), token.encode("utf-8")):
        return
    try:
        os.unlink(token_file)  # claims this arming: only the process that removed the file fires
    except OSError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _write_all(descriptor, content):
    view = memoryview(content)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def make_folder(path, attributes):
    """Make the folder path with attributes' owner, group and mode; True when this call made it.

    It is 0700 until they are set, whatever the umask. A folder that appears at the same moment
    (another host's task making the same parent, a second run) is not an error: False, left as
    it is, for the caller to look after like any existing folder.
    """
    try:
        os.mkdir(path, 0o700)
    except OSError as exc:
        if exc.errno == errno.EEXIST and os.path.isdir(path):
            return False
        raise SafeFileError("Cannot create the folder {0}: {1}.".format(path, exc.strerror)) from None
    set_folder_attributes(path, os.stat(path), attributes)
    return True


def set_folder_attributes(path, info, attributes):
    """Give an existing folder (info: its os.stat) attributes' owner, group and mode; True when changed."""
    mode = stat.S_IMODE(info.st_mode)
    new_owner = ((attributes.uid is not None and info.st_uid != attributes.uid)
                 or (attributes.gid is not None and info.st_gid != attributes.gid))
    new_mode = attributes.mode is not None and mode != attributes.mode
    try:
        if new_owner:
            if new_mode:
                os.chmod(path, mode & attributes.mode)  # as apply_attributes: narrow first
            os.chown(path, -1 if attributes.uid is None else attributes.uid,
                     -1 if attributes.gid is None else attributes.gid)
        if new_mode:
            os.chmod(path, attributes.mode)
    except OSError as exc:
        raise SafeFileError("Cannot set owner, group or mode of {0}: {1}.".format(path, exc.strerror)) from None
    return new_owner or new_mode


def fsync_folder(folder):
    """fsync a folder so that a rename or unlink in it survives a crash; best effort."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def unlink_quietly(path):
    """Remove a file when it is there; a file already gone is fine."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _selinux_context(module, path):
    if module is None or not module.selinux_enabled():
        return None
    if os.path.exists(path):
        return module.selinux_context(path)
    return module.selinux_default_context(path)
