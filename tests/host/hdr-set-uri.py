#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""hdr-set-uri FILE URI: what an attacker with the disk does to a header.

Writes URI as the KEK URI of both copies of the dm-cmk header at the start
of FILE (a device, an image or a detached header) and recomputes each
copy's checksum, so that the header still reads as valid.
"""
import hashlib
import struct
import sys

URI_LEN = 1024
CSUM_AT = 4064


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: hdr-set-uri FILE URI")
    path, uri = sys.argv[1], sys.argv[2].encode()
    if len(uri) >= URI_LEN:
        sys.exit("hdr-set-uri: URI too long")
    with open(path, 'r+b') as f:
        f.seek(40)
        size = struct.unpack('<Q', f.read(8))[0]
        for base in (0, size):
            f.seek(base)
            c = bytearray(f.read(size))
            at = c.index(b'pkcs11:', 0, CSUM_AT)
            c[at:at + URI_LEN] = uri + bytes(URI_LEN - len(uri))
            c[CSUM_AT:CSUM_AT + 32] = bytes(32)
            c[CSUM_AT:CSUM_AT + 32] = hashlib.sha256(bytes(c)).digest()
            f.seek(base)
            f.write(c)


main()
