# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Copy a PEM CSR with one bit changed inside its signature: flip_signature_byte.py SOURCE DESTINATION.

The signature is the last element of a CSR, so a byte near the end of the DER lies inside it.
"""

from __future__ import annotations

import base64
import re
import sys


def main():
    source, destination = sys.argv[1], sys.argv[2]
    with open(source, "rb") as handle:
        pem = handle.read()
    body = re.search(rb"-----BEGIN CERTIFICATE REQUEST-----\r?\n(.*?)-----END", pem, re.DOTALL).group(1)
    der = bytearray(base64.b64decode(body))
    der[-5] ^= 0x01
    encoded = base64.b64encode(bytes(der))
    lines = [encoded[index:index + 64] for index in range(0, len(encoded), 64)]
    with open(destination, "wb") as handle:
        handle.write(b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE REQUEST-----\n")


if __name__ == "__main__":
    main()
