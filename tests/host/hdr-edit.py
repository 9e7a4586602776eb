#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""hdr-edit FILE uri URI | hdr-edit FILE flip OFFSET

What an attacker with the disk does to a dm-cmk header (the one at the
start of FILE: a device, an image or a detached header), in both copies,
with each copy's checksum recomputed so that the header still reads as
valid:

  uri URI      write URI as the KEK URI (include/cmk-header.h: kek.uri)
  flip OFFSET  invert the byte at OFFSET of the copy (for example 1368,
               the first byte of the wrapped volume key; 4096 on: the
               extent table), the checksum excepted
"""
import hashlib
import struct
import sys

URI_AT = 256 + 80
URI_LEN = 1024
CSUM_AT = 4064


def edit(c, cmd, arg):
    """Apply CMD to the copy C (a bytearray of one whole copy)."""
    if cmd == 'uri':
        uri = arg.encode()
        if len(uri) >= URI_LEN:
            sys.exit("hdr-edit: URI too long")
        c[URI_AT:URI_AT + URI_LEN] = uri + bytes(URI_LEN - len(uri))
    elif cmd == 'flip':
        off = int(arg, 0)
        if not 0 <= off < len(c) or CSUM_AT <= off < CSUM_AT + 32:
            sys.exit("hdr-edit: offset outside the copy, or in its checksum")
        c[off] ^= 0xff
    else:
        sys.exit("hdr-edit: unknown command " + cmd)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: hdr-edit FILE uri URI | hdr-edit FILE flip OFFSET")
    path, cmd, arg = sys.argv[1:]
    with open(path, 'r+b') as f:
        f.seek(40)
        size = struct.unpack('<Q', f.read(8))[0]
        for base in (0, size):
            f.seek(base)
            c = bytearray(f.read(size))
            if c[:6] != b'CMKHDR':
                sys.exit("hdr-edit: no dm-cmk header copy at %d" % base)
            edit(c, cmd, arg)
            c[CSUM_AT:CSUM_AT + 32] = bytes(32)
            c[CSUM_AT:CSUM_AT + 32] = hashlib.sha256(bytes(c)).digest()
            f.seek(base)
            f.write(c)


main()
