# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""Small pieces every module of the collection shares: failing on policy findings, diffs."""

from __future__ import annotations

from ansible_collections.wise.mtls.plugins.module_utils import _crypto as crypto
from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy
from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file


def fail_on_findings(module, findings, **extra):
    """Fail with every error finding's message (nothing has been changed at this point)."""
    problems = policy.errors(findings)
    if problems:
        module.fail_json(msg=" ".join(finding.message for finding in problems) + " Nothing was changed.",
                         findings=[finding.as_dict() for finding in findings], **extra)


def render_diff(before, after, path):
    """A diff of public facts (dicts or None) as readable 'key: value' lines."""
    return dict(before=_lines(before), after=_lines(after), before_header=path, after_header=path)


def _lines(facts):
    if not facts:
        return ""
    return "".join("{0}: {1}\n".format(key, facts[key]) for key in sorted(facts))


# What to do about a key that does not load, by KeyLoadError reason ({0}: the passphrase option).
KEY_LOAD_REMEDIES = {
    "passphrase_required": "Give its passphrase in {0}.",
    "passphrase_wrong": "Check {0}: it must be the passphrase the key was encrypted with.",
    "not_encrypted": "Leave {0} out for this key.",
    "corrupt": "Point the path at the PEM private key, or make a new key with wise.mtls.private_key.",
}


def load_key_file(module, path, passphrase, passphrase_option="private_key_passphrase"):
    """The private key at path, or a clear failure (missing, unreadable, wrong passphrase) that says what to do."""
    state = safe_file.FileState(path, follow=True)
    if not state.exists:
        module.fail_json(msg="The private key {0} does not exist; create it first (wise.mtls.private_key). "
                             "Nothing was changed.".format(path), path=path)
    try:
        return crypto.load_private_key(state.read(), passphrase)
    except crypto.KeyLoadError as exc:
        message = "The private key {0} cannot be used: {1}.".format(path, str(exc).rstrip("."))
        if exc.reason in KEY_LOAD_REMEDIES:
            message += " " + KEY_LOAD_REMEDIES[exc.reason].format(passphrase_option)
        module.fail_json(msg=message + " Nothing was changed.", path=path, reason=exc.reason)


def read_content_or_file(module, content, path, what, option):
    """Bytes given inline (content) or read from a file on the host (path), or a clear failure."""
    if content is not None:
        data = content.encode("utf-8") if not isinstance(content, bytes) else content
        # A private key pasted by mistake must not come back in the task's invocation or messages.
        for label, block in crypto.PemScan(data).blocks:
            if "PRIVATE KEY" in label:
                module.no_log_values.add(block.decode("utf-8", "replace"))
        return data
    try:
        state = safe_file.FileState(path, follow=True)
        if not state.exists:
            module.fail_json(msg="The {0} file {1} ({2}) does not exist on the host; copy it there first, or give the "
                                 "PEM text in the content option. Nothing was changed.".format(what, path, option))
        return state.read()
    except safe_file.SafeFileError as exc:
        module.fail_json(msg="The {0} file {1} ({2}) cannot be read: {3} Nothing was changed.".format(
            what, path, option, exc))
