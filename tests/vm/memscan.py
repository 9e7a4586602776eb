#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""memscan: search a running test guest's whole physical memory for DEKs.

The host side of tests/kernel/leak_scan.sh (driven by tests/vm/leak-scan.sh).
It connects to the guest's QMP socket (tests/vm/run-vm.sh -q), then watches
DIR, a directory the guest writes too (the results share), for requests:

  DIR/dump-request-N    written by the guest (one line: a label); N = 1, 2..

For each it dumps the guest's physical memory with QMP dump-guest-memory
(paging=false: every byte of RAM, as the guest's physical address space
holds it, in an ELF file) into SCRATCH, a directory of the host's own,
searches the dump, writes DIR/dump-result-N and deletes the dump.  It ends
when QEMU closes the socket.  DIR/scanner-ready says it is connected.

Key sets: the DEKs searched for, each a series of 64-byte AES-256-XTS keys.

  --keys NAME=FILE      the file holds the keys themselves (the host's own
                        scratch file; tests/vm/leak-scan.sh unwraps a cmkctl
                        volume's DEKs into one)
  DIR/keys-NAME.a and DIR/keys-NAME.b
                        two random shares of equal length written by the
                        guest test; the keys are their XOR.  Neither share
                        alone is key material: the guest reads them and
                        XORs them in a helper (tests/kernel/leak_addkey.c)
                        whose one copy of each key is wiped after add_key(2).
                        The guest's page cache, 9p buffers and processes
                        only ever see shares: the copies of a key in the
                        guest are the ones the kernel makes of it.

Every request searches every key set present at the time.  For each key,
each of its two AES-256 halves (0: the first 32 bytes, the data key; 1:
the second, the tweak key), the patterns are:

  raw     the 32 key bytes
  enc     the 240-byte encryption key schedule (FIPS-197 key expansion,
          round keys in order, each in the standard byte order): the bytes
          of struct crypto_aes_ctx.key_enc as lib/crypto/aes.c
          aes_expandkey() and the AES-NI aesni_set_key() leave them (u32
          words loaded little-endian from the key on a little-endian CPU)
  enc_tail  enc's last 64 bytes (round keys 11-14): no key byte in them,
          so a hit is a (part of a) schedule, never a copy of the key
  dec     the 240-byte decryption schedule of the Equivalent Inverse
          Cipher, crypto_aes_ctx.key_dec: round key 14, InvMixColumns of
          round keys 13 down to 1, round key 0
  dec_head  dec's first 64 bytes (no key byte in them either)
  dec_tail  dec's last 64 bytes (InvMixColumns of round keys 3 to 1, then
          round key 0, which is key bytes 0-15)

A schedule split between two pages that are not next to each other in
physical memory (vmalloc, user memory) still shows one of its windows
whatever the split: raw or enc_tail for enc, dec_head or dec_tail for dec.

Every occurrence is counted, at any alignment, in the whole dump (RAM and
the dump's ELF notes).  DIR/dump-result-N, written atomically, holds no key
byte:

  scan N LABEL
  dump BYTES ram BYTES dump_s SECONDS scan_s SECONDS
  set NAME KEYS                       per key set
  count NAME CLASS HITS KEYS_HIT      CLASS: raw0 enc0 enc_tail0 dec0
                                      dec_head0 dec_tail0, the same with 1;
                                      KEYS_HIT: keys with at least one hit
  hit NAME KEY CLASS PADDR            each hit (first 64 of a set): key
                                      index, class, guest physical address
                                      in hex ("-" outside RAM)
  end

or "error MESSAGE" and "end".  Progress and timings go to standard error.

  memscan.py --qmp SOCKET --dir DIR --scratch SCRATCH [--keys NAME=FILE]...
             [--finder PATH] [--connect-timeout S]
  memscan.py --self-test [--finder PATH]

The search itself is tests/host/tools/memscan_find (--finder, default
build/tests/host/tools/memscan_find): one pass over the dump for all
patterns, which get to it in a file of SCRATCH deleted at once.

Exit: 0 once QEMU has gone, 1 on an error (no QMP, a failed dump), 2 usage.
"""

import argparse
import json
import mmap
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

# --- AES-256 key schedules ------------------------------------------------


def _xtime(b):
    b <<= 1
    return (b ^ 0x11b) if b & 0x100 else b


def _gmul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a = _xtime(a)
        b >>= 1
    return r


def _sbox():
    box = [0] * 256
    for x in range(256):
        inv = 0
        if x:
            inv = next(y for y in range(1, 256) if _gmul(x, y) == 1)
        s = inv
        for sh in range(1, 5):
            s ^= ((inv << sh) | (inv >> (8 - sh))) & 0xff
        box[x] = s ^ 0x63
    return box


SBOX = _sbox()


def expand_enc(key):
    """FIPS-197 key expansion of a 32-byte key: 15 round keys, 240 bytes."""
    assert len(key) == 32
    w = [list(key[4 * i:4 * i + 4]) for i in range(8)]
    rcon = 1
    for i in range(8, 60):
        t = list(w[i - 1])
        if i % 8 == 0:
            t = [SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _xtime(rcon)
        elif i % 8 == 4:
            t = [SBOX[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - 8], t)])
    return bytes(b for word in w for b in word)


def _inv_mix_column(c):
    return [_gmul(c[0], 14) ^ _gmul(c[1], 11) ^ _gmul(c[2], 13) ^ _gmul(c[3], 9),
            _gmul(c[0], 9) ^ _gmul(c[1], 14) ^ _gmul(c[2], 11) ^ _gmul(c[3], 13),
            _gmul(c[0], 13) ^ _gmul(c[1], 9) ^ _gmul(c[2], 14) ^ _gmul(c[3], 11),
            _gmul(c[0], 11) ^ _gmul(c[1], 13) ^ _gmul(c[2], 9) ^ _gmul(c[3], 14)]


def expand_dec(enc):
    """The Equivalent Inverse Cipher's schedule from an AES-256 one."""
    rk = [enc[16 * i:16 * i + 16] for i in range(15)]
    out = [rk[14]]
    for i in range(13, 0, -1):
        out.append(bytes(b for j in range(4)
                         for b in _inv_mix_column(rk[i][4 * j:4 * j + 4])))
    out.append(rk[0])
    return b"".join(out)


CLASSES = ("raw", "enc", "enc_tail", "dec", "dec_head", "dec_tail")


def patterns(key):
    """{class+half: bytes} for one 64-byte XTS key."""
    out = {}
    for half in (0, 1):
        raw = key[32 * half:32 * half + 32]
        enc = expand_enc(raw)
        dec = expand_dec(enc)
        out["raw%d" % half] = raw
        out["enc%d" % half] = enc
        out["enc_tail%d" % half] = enc[176:]
        out["dec%d" % half] = dec
        out["dec_head%d" % half] = dec[:64]
        out["dec_tail%d" % half] = dec[176:]
    return out


def self_test():
    """FIPS-197 appendix A.3 (expansion) and C.3 (cipher, both ways)."""
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d7781"
                        "1f352c073b6108d72d9810a30914dff4")
    enc = expand_enc(key)
    assert enc[:32] == key
    assert enc[32:36].hex() == "9ba35411", enc[32:36].hex()
    assert enc[236:240].hex() == "706c631e", enc[236:240].hex()
    # The equivalent inverse cipher with dec undoes the cipher with enc.
    key = bytes(range(32))
    enc = expand_enc(key)
    dec = expand_dec(enc)
    pt = bytes.fromhex("00112233445566778899aabbccddeeff")
    ct = _cipher(enc, pt)
    assert ct.hex() == "8ea2b7ca516745bfeafc49904b496089", ct.hex()
    assert _inv_cipher(dec, ct) == pt
    assert dec[224:] == enc[:16] and dec[:16] == enc[224:]
    print("memscan: self-test: AES-256 schedules match FIPS-197 A.3 and C.3")


def self_test_finder(finder):
    """memscan_find against bytes.find, on zeros, noise and copies of
    patterns at every alignment (the first at offset 0, the last ending at
    the last byte)."""
    sets = [("a", [os.urandom(64) for _ in range(3)]), ("b", [os.urandom(64)])]
    pats = [(s, k, c, p) for s, keys in sets for k, key in enumerate(keys)
            for c, p in patterns(key).items()]
    blob = bytearray(os.urandom(1 << 16) + bytes(1 << 16))
    for i, (_, _, c, p) in enumerate(pats):
        if c in ("enc0", "enc1", "dec0", "dec1"):
            where = (i * 997 + i % 8) % (len(blob) - 300)
            blob[where:where + len(p)] = p
    last = pats[-1][3]
    blob[:len(pats[0][3])] = pats[0][3]
    blob += os.urandom(5) + last
    tmp = tempfile.mkdtemp()
    try:
        dump = os.path.join(tmp, "dump")
        with open(dump, "wb") as f:
            f.write(blob)
        found = scan(finder, tmp, dump, sets)
    finally:
        shutil.rmtree(tmp)
    data = bytes(blob)
    for s, k, c, p in pats:
        want, i = [], data.find(p)
        while i >= 0:
            want.append(i)
            i = data.find(p, i + 1)
        assert sorted(found[(s, k, c)]) == want, (s, k, c, found[(s, k, c)], want)
    print("memscan: self-test: %s finds what bytes.find finds (%d hits of %d patterns)"
          % (os.path.basename(finder), sum(map(len, found.values())), len(pats)))


INV_SBOX = [SBOX.index(i) for i in range(256)]


def _mix_column(c):
    return [_gmul(c[0], 2) ^ _gmul(c[1], 3) ^ c[2] ^ c[3],
            c[0] ^ _gmul(c[1], 2) ^ _gmul(c[2], 3) ^ c[3],
            c[0] ^ c[1] ^ _gmul(c[2], 2) ^ _gmul(c[3], 3),
            _gmul(c[0], 3) ^ c[1] ^ c[2] ^ _gmul(c[3], 2)]


def _rounds(sched, block, sbox, shift, mix):
    s = [a ^ b for a, b in zip(block, sched[:16])]
    for r in range(1, 15):
        s = [sbox[b] for b in s]
        s = [s[(i + shift * 4 * (i % 4)) % 16] for i in range(16)]
        if r != 14:
            s = [b for j in range(4) for b in mix(s[4 * j:4 * j + 4])]
        s = [a ^ b for a, b in zip(s, sched[16 * r:16 * r + 16])]
    return bytes(s)


def _cipher(enc, block):
    return _rounds(enc, block, SBOX, 1, _mix_column)


def _inv_cipher(dec, block):
    return _rounds(dec, block, INV_SBOX, -1, _inv_mix_column)

# --- key sets ---------------------------------------------------------------


def key_sets(directory, given):
    """[(name, [64-byte keys])]: the --keys files, then DIR's share pairs."""
    sets = []
    for name, path in given:
        with open(path, "rb") as f:
            data = f.read()
        sets.append((name, [data[i:i + 64] for i in range(0, len(data), 64)]))
    for f in sorted(os.listdir(directory)):
        m = re.fullmatch(r"keys-([A-Za-z0-9_-]+)\.a", f)
        if not m or not os.path.exists(os.path.join(directory, f[:-1] + "b")):
            continue
        with open(os.path.join(directory, f), "rb") as fa, \
                open(os.path.join(directory, f[:-1] + "b"), "rb") as fb:
            a, b = fa.read(), fb.read()
        if not a or len(a) != len(b) or len(a) % 64:
            raise ValueError("key shares %s: %d and %d bytes" % (m.group(1), len(a), len(b)))
        data = bytes(x ^ y for x, y in zip(a, b))
        sets.append((m.group(1), [data[i:i + 64] for i in range(0, len(data), 64)]))
    return sets

# --- the dump -----------------------------------------------------------------


def ram_segments(mm):
    """[(file offset, size, guest physical address)] of an ELF64 dump's PT_LOADs."""
    if mm[:4] != b"\x7fELF" or mm[4] != 2 or mm[5] != 1:
        raise ValueError("not a little-endian ELF64 dump")
    phoff, = struct.unpack_from("<Q", mm, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", mm, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", mm, phoff + i * phentsize)
        if p_type == 1:
            segs.append((p_offset, p_filesz, p_paddr))
    return segs


def paddr_of(segs, off):
    for o, size, pa in segs:
        if o <= off < o + size:
            return "%#x" % (pa + off - o)
    return "-"


def scan(finder, scratch, dump, sets):
    """{(set, key index, class): [offsets in the dump]}, every pattern of
    every key searched in one pass by memscan_find (tests/host/tools), the
    patterns handed over in a file of the host's scratch directory that is
    deleted at once."""
    index = []
    records = []
    for name, keys in sets:
        for k, key in enumerate(keys):
            for cls, pat in patterns(key).items():
                index.append((name, k, cls))
                records.append(struct.pack("<H", len(pat)) + pat)
    found = {i: [] for i in index}
    path = os.path.join(scratch, "patterns")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"".join(records))
        out = subprocess.run([finder, path, dump], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=False)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        raise RuntimeError("memscan_find: %s" % out.stderr.decode(errors="replace").strip())
    for line in out.stdout.split(b"\n"):
        if line:
            i, off = map(int, line.split())
            found[index[i]].append(off)
    return found


def result_text(n, label, size, ram, dump_s, scan_s, sets, found, segs):
    lines = ["scan %d %s" % (n, label),
             "dump %d ram %d dump_s %.1f scan_s %.1f" % (size, ram, dump_s, scan_s)]
    hits = []
    for name, keys in sets:
        lines.append("set %s %d" % (name, len(keys)))
        for half in "01":
            for cls in CLASSES:
                c = cls + half
                per_key = [found[(name, k, c)] for k in range(len(keys))]
                lines.append("count %s %s %d %d" % (
                    name, c, sum(map(len, per_key)), sum(1 for h in per_key if h)))
        shown = 0
        for k in range(len(keys)):
            for half in "01":
                for cls in CLASSES:
                    for o in found[(name, k, cls + half)]:
                        if shown < 64:
                            hits.append("hit %s %d %s %s" % (
                                name, k, cls + half, paddr_of(segs, o)))
                        shown += 1
    return "\n".join(lines + hits + ["end"]) + "\n"

# --- QMP ----------------------------------------------------------------------


class Qmp:
    """A QMP client: one command at a time, events read and dropped."""

    def __init__(self, path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buf = b""
        self.closed = False
        greeting = self.read(30)
        if "QMP" not in greeting:
            raise RuntimeError("no QMP greeting: %r" % greeting)
        self.command("qmp_capabilities")

    def _fill(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def read(self, timeout):
        """The next message, or None (timeout, or QEMU gone)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if self.closed or left <= 0:
                return None
            self._fill(left)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, timeout=600, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.read(timeout)
            if r is None:
                raise RuntimeError("%s: no answer from QEMU" % name)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"].get("desc", r["error"])))

    def alive(self, timeout):
        """Wait up to timeout for QEMU to close the socket; drop events."""
        while self.read(timeout) is not None:
            pass
        return not self.closed


def log(msg):
    print("memscan: [%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def handle(qmp, args, n, label):
    dump = os.path.join(args.scratch, "dump-%d.elf" % n)
    if os.path.exists(dump):
        os.unlink(dump)
    try:
        sets = key_sets(args.dir, args.keys)
        t0 = time.monotonic()
        qmp.command("dump-guest-memory", paging=False, protocol="file:" + dump)
        t1 = time.monotonic()
        with open(dump, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                segs = ram_segments(mm)
        found = scan(args.finder, args.scratch, dump, sets)
        t2 = time.monotonic()
    finally:
        if os.path.exists(dump):
            os.unlink(dump)
    ram = sum(s[1] for s in segs)
    text = result_text(n, label, size, ram, t1 - t0, t2 - t1, sets, found, segs)
    total = sum(len(v) for v in found.values())
    log("scan %d (%s): %d MiB of RAM dumped in %.1f s, %d keys in %d sets searched in %.1f s, %d hits"
        % (n, label, ram >> 20, t1 - t0, sum(len(k) for _, k in sets), len(sets),
           t2 - t1, total))
    return text


def serve(args):
    qmp = Qmp(args.qmp, args.connect_timeout)
    log("connected to %s" % args.qmp)
    with open(os.path.join(args.dir, "scanner-ready"), "w") as f:
        f.write("ready\n")
    n = 1
    while True:
        req = os.path.join(args.dir, "dump-request-%d" % n)
        if not os.path.exists(req):
            if not qmp.alive(0.2):
                log("QEMU has gone; %d scans" % (n - 1))
                return 0
            continue
        with open(req) as f:
            label = (f.readline().strip() or "-")[:80]
        label = re.sub(r"[^A-Za-z0-9._:+-]", "_", label)
        try:
            text = handle(qmp, args, n, label)
        except (OSError, RuntimeError, ValueError) as e:
            log("scan %d (%s) failed: %s" % (n, label, e))
            text = "scan %d %s\nerror %s\nend\n" % (n, label, str(e).replace("\n", " "))
        tmp = os.path.join(args.dir, ".dump-result-%d" % n)
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(args.dir, "dump-result-%d" % n))
        n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qmp")
    ap.add_argument("--dir")
    ap.add_argument("--scratch")
    ap.add_argument("--keys", action="append", default=[],
                    type=lambda s: tuple(s.split("=", 1)))
    ap.add_argument("--finder", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build",
        "tests", "host", "tools", "memscan_find"))
    ap.add_argument("--connect-timeout", type=float, default=300)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        self_test_finder(args.finder)
        return 0
    if not (args.qmp and args.dir and args.scratch):
        ap.print_usage(sys.stderr)
        return 2
    for k in args.keys:
        if len(k) != 2 or not re.fullmatch(r"[A-Za-z0-9_-]+", k[0]):
            ap.print_usage(sys.stderr)
            return 2
    try:
        return serve(args)
    except (OSError, RuntimeError) as e:
        log("error: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
