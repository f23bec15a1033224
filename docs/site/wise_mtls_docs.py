# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sphinx glue for the wise.mtls documentation site (built by scripts/docs).

The guides are Markdown files in docs/, written for the places people read them: GitHub
and Galaxy / Automation Hub (which show docs/*.md). The site renders the same files with
MyST. Their links point into the repository (../plugins/modules/verify.py), which is right
on GitHub; here they are rewritten to the reference pages antsibull-docs generated for the
module or role, and to the repository for anything else, so that a link to a module that
does not exist fails the build instead of leaving a dead link.

The site must build offline: references to the Ansible documentation that antsibull-docs
writes into the reference pages resolve through a small local intersphinx inventory that
points at docs.ansible.com.
"""

from __future__ import annotations

import os
import re
import zlib

GUIDES_DIR = "guides"
COLLECTION_DOCS = "collections/wise/mtls"

# A Markdown link target that leaves docs/: [text](../path#fragment).
REPOSITORY_LINK = re.compile(r"\]\(\.\./([^)#\s]+)(#[^)\s]*)?\)")
MODULE_SOURCE = re.compile(r"plugins/modules/(\w+)\.py")
ROLE_PATH = re.compile(r"roles/(\w+)(/.*)?")

ANSIBLE_DOCS_URL = "https://docs.ansible.com/projects/ansible/devel/"
# Labels of the Ansible documentation that antsibull-docs refers to from generated pages.
# When a new one shows up (the build then fails with "undefined label"), add it here.
ANSIBLE_DOCS_LABELS = {
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
    "playbooks_checkmode": ("playbook_guide/playbooks_checkmode.html#check-mode-dry", "Check mode"),
    "playbooks_variables": ("playbook_guide/playbooks_variables.html#playbooks-variables", "Using Variables"),
}


def rewrite_repository_links(text, repository_url, branch="main"):
    """Point links that leave docs/ at the site's reference pages or at the repository."""

    def replace(match):
        path, fragment = match.group(1), match.group(2) or ""
        module = MODULE_SOURCE.fullmatch(path)
        if module:
            return "](project:../%s/%s_module.rst)" % (COLLECTION_DOCS, module.group(1))
        role = ROLE_PATH.fullmatch(path)
        if role:
            return "](project:../%s/%s_role.rst)" % (COLLECTION_DOCS, role.group(1))
        return "](%s/blob/%s/%s%s)" % (repository_url.rstrip("/"), branch, path, fragment)

    return REPOSITORY_LINK.sub(replace, text)


# Plugin types whose ansible.builtin pages M() and P() references point at, and where
# ansible-core keeps their documented sources.
BUILTIN_PLUGIN_DIRS = {
    "module": "modules",
    "become": "plugins/become",
    "callback": "plugins/callback",
    "connection": "plugins/connection",
    "filter": "plugins/filter",
    "inventory": "plugins/inventory",
    "lookup": "plugins/lookup",
    "test": "plugins/test",
    "vars": "plugins/vars",
}


def builtin_plugin_labels():
    """Labels of the ansible.builtin plugin pages on docs.ansible.com, from the installed ansible-core."""
    import ansible

    root = os.path.dirname(ansible.__file__)
    labels = {}
    for plugin_type, folder in BUILTIN_PLUGIN_DIRS.items():
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        for filename in os.listdir(path):
            name, extension = os.path.splitext(filename)
            if extension not in (".py", ".yml") or name.startswith("_"):
                continue
            page = "%s_%s" % (name, plugin_type)
            labels["ansible_collections.ansible.builtin.%s" % page] = (
                "collections/ansible/builtin/%s.html" % page, "ansible.builtin.%s %s" % (name, plugin_type))
    return labels


def write_inventory(path, base_url=ANSIBLE_DOCS_URL, labels=None):
    """Write a Sphinx (version 2) inventory that maps labels to pages of base_url."""
    if labels is None:
        labels = dict(builtin_plugin_labels(), **ANSIBLE_DOCS_LABELS)
    lines = []
    for name, (uri, title) in sorted(labels.items()):
        lines.append("%s std:label -1 %s %s\n" % (name, uri, title))
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              "# The remainder of this file is compressed using zlib.\n")
    with open(path, "wb") as stream:
        stream.write(header.encode("utf-8"))
        stream.write(zlib.compress("".join(lines).encode("utf-8")))


def _on_source_read(app, docname, source):
    if docname.startswith(GUIDES_DIR + "/"):
        source[0] = rewrite_repository_links(source[0], app.config.wise_mtls_repository_url)


def _on_config_inited(app, config):
    inventory = os.path.join(app.doctreedir, "ansible_devel.inv")
    os.makedirs(app.doctreedir, exist_ok=True)
    write_inventory(inventory)
    # Only the local inventory: the build never reaches out to the network.
    config.intersphinx_mapping = {"ansible_devel": (ANSIBLE_DOCS_URL, inventory)}
    # GitHub-style anchors for headings, so that [x](#dns) works on GitHub and here alike.
    config.myst_heading_anchors = 3


def setup(app):
    app.setup_extension("myst_parser")
    app.add_config_value("wise_mtls_repository_url", "", "env")
    app.connect("config-inited", _on_config_inited, priority=400)
    app.connect("source-read", _on_source_read)
    return {"version": "0.1.0", "parallel_read_safe": True, "parallel_write_safe": True}
