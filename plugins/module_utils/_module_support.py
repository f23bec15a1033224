# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.

"""Small pieces every module of the collection shares: failing on policy findings, diffs."""

from __future__ import annotations

from ansible_collections.wise.mtls.plugins.module_utils import _policy as policy


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
