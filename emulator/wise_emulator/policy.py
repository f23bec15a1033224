# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bridge to the collection's own Wise policy (one policy, not a copy).

The emulator ships inside the collection (``<collection>/emulator/wise_emulator``).
The policy lives in ``<collection>/plugins/module_utils/_policy.py`` and is
imported as ``ansible_collections.wise.mtls.plugins.module_utils._policy``;
that import needs a folder on ``sys.path`` holding ``ansible_collections/wise/mtls``.
When the collection does not already sit at such a path (a plain git clone),
a private temporary folder with a symlink ``ansible_collections/wise/mtls ->
<collection>`` is made, put on ``sys.path`` and removed at exit.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile

POLICY_MODULE = "ansible_collections.wise.mtls.plugins.module_utils._policy"
_COLLECTION_TAIL = ("ansible_collections", "wise", "mtls")

_state = {"tmp": None, "module": None}


class PolicyUnavailable(Exception):
    """The collection's policy module cannot be imported."""


def collection_root():
    """The collection root: two levels above this package."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def _search_root_for(root):
    """The folder holding ``ansible_collections`` if ``root`` ends in ansible_collections/wise/mtls."""
    parts = os.path.normpath(root).split(os.sep)
    if tuple(parts[-3:]) == _COLLECTION_TAIL:
        return os.sep.join(parts[:-3]) or os.sep
    return None


def _cleanup():
    tmp = _state.get("tmp")
    _state["tmp"] = None
    if not tmp:
        return
    link = os.path.join(tmp, *_COLLECTION_TAIL)
    try:
        os.unlink(link)  # the symlink only, never what it points to
    except OSError:
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        sys.path.remove(tmp)
    except ValueError:
        pass


def ensure_importable(root=None):
    """Make ``ansible_collections.wise.mtls`` resolve to ``root``; return the sys.path entry used."""
    root = os.path.abspath(root or collection_root())
    for candidate in (root, os.path.realpath(root)):
        search = _search_root_for(candidate)
        if search is not None:
            if search not in sys.path:
                sys.path.insert(0, search)
            return search
    if _state["tmp"] is None:
        tmp = tempfile.mkdtemp(prefix="wise-emulator-collection-")
        parent = os.path.join(tmp, *_COLLECTION_TAIL[:-1])
        os.makedirs(parent)
        os.symlink(root, os.path.join(parent, _COLLECTION_TAIL[-1]))
        _state["tmp"] = tmp
        atexit.register(_cleanup)
    if _state["tmp"] not in sys.path:
        sys.path.insert(0, _state["tmp"])
    return _state["tmp"]


def load_policy():
    """Import and return the collection's ``_policy`` module."""
    if _state["module"] is not None:
        return _state["module"]
    root = collection_root()
    expected = os.path.join(root, "plugins", "module_utils", "_policy.py")
    if not os.path.exists(expected):
        raise PolicyUnavailable(
            "the collection's Wise policy (%s) is missing: the emulator must run from inside the wise.mtls collection"
            % os.path.join("plugins", "module_utils", "_policy.py"))
    ensure_importable(root)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(POLICY_MODULE)
    except ImportError as exc:
        raise PolicyUnavailable("cannot import %s: %s" % (POLICY_MODULE, exc)) from exc
    loaded = os.path.realpath(getattr(module, "__file__", "") or "")
    if loaded != os.path.realpath(expected):
        raise PolicyUnavailable(
            "%s was imported from %s, not from this collection (%s); another copy of wise.mtls is first on sys.path"
            % (POLICY_MODULE, loaded, os.path.realpath(expected)))
    _state["module"] = module
    return module


def check_csr(data, client_id=None):
    """Run the collection's CSR checks; return ``(errors, warnings)`` lists of findings."""
    findings = load_policy().check_csr_pem(data, client_id=client_id)
    errors = [f for f in findings if getattr(f, "severity", "error") == "error"]
    warnings = [f for f in findings if getattr(f, "severity", "error") != "error"]
    return errors, warnings
