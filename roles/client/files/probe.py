# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only look at a host for the wise.mtls.client role, in one round trip.

Run as ``python3 -c <this text> FOLDER``; prints JSON: the Python libraries the modules
need that this interpreter cannot import, whether a CA store refresh tool exists, and the
type, mode, owner and group of the Wise client folder and of each file in it. It reads
metadata only: never the content of a file.
"""
import grp
import json
import os
import pwd
import stat
import sys
from importlib.util import find_spec

FILES = ("client.key", "client.csr", "client.pem", "wise-ca.pem")
CA_TOOLS = ("/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates",
            "/usr/bin/update-ca-trust", "/usr/sbin/update-ca-trust")


def describe(path):
    try:
        info = os.lstat(path)
    except OSError:
        return {"type": "none"}
    if stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISLNK(info.st_mode):
        kind = "link"
    else:
        kind = "other"
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return {"type": kind, "mode": "%04o" % stat.S_IMODE(info.st_mode), "owner": owner, "group": group}


def main(folder):
    result = {
        "python": sys.executable,
        "missing": [name for name in ("cryptography", "requests") if find_spec(name) is None],
        "ca_tools": any(os.path.exists(tool) for tool in CA_TOOLS),
        "folder": describe(folder),
        "files": {name: describe(os.path.join(folder, name)) for name in FILES},
    }
    print(json.dumps(result, sort_keys=True))


main(sys.argv[1])
