# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator uses the collection's own policy module, wherever the collection sits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from wise_emulator import policy

PROBE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from wise_emulator import policy
module = policy.load_policy()
print(json.dumps({"file": os.path.realpath(module.__file__), "tmp": policy._state["tmp"],
                  "root": policy.collection_root()}))
"""


def _probe(emulator_dir):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # nothing but what the emulator sets up itself
    result = subprocess.run([sys.executable, "-c", PROBE, emulator_dir], capture_output=True, text=True,
                            env=env, cwd="/", timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_policy_is_the_collections_own_module():
    root = policy.collection_root()
    module = policy.load_policy()
    assert os.path.realpath(module.__file__) == os.path.realpath(
        os.path.join(root, "plugins", "module_utils", "_policy.py"))
    assert module.__name__ == policy.POLICY_MODULE


def test_plain_checkout_gets_a_temporary_symlink_that_is_removed_at_exit(tmp_path):
    # A checkout that is not under ansible_collections/wise/mtls: link the real tree from a plain folder.
    checkout = tmp_path / "wise.mtls-checkout"
    checkout.symlink_to(os.path.realpath(policy.collection_root()))
    info = _probe(str(checkout / "emulator"))
    assert info["tmp"] is not None
    assert info["file"] == os.path.realpath(os.path.join(policy.collection_root(), "plugins", "module_utils",
                                                         "_policy.py"))
    assert not os.path.exists(info["tmp"])  # cleaned up at exit


def test_collection_under_ansible_collections_is_used_in_place(tmp_path):
    parent = tmp_path / "collections" / "ansible_collections" / "wise"
    parent.mkdir(parents=True)
    (parent / "mtls").symlink_to(os.path.realpath(policy.collection_root()))
    info = _probe(str(parent / "mtls" / "emulator"))
    assert info["tmp"] is None
    assert info["root"] == str(parent / "mtls")
