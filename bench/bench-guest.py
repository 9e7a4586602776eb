#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# bench-guest.py addkeys PREFIX N | tcrypt FILE | collect RAWDIR
#
# Guest-side helper of bench/bench-guest.sh (standard library only):
#   addkeys PREFIX N  add N logon keys PREFIX0..PREFIX(N-1), 64 random bytes
#                     each, to the session keyring with add_key(2) through
#                     libkeyutils: one process instead of N keyctl runs (a
#                     cold exec costs a lot under TCG); the bytes go from
#                     os.urandom() to the kernel and nowhere else.
#   tcrypt FILE       parse tcrypt's kernel log lines; print the xts(aes)
#                     512-bit-key 4096-byte-block results as JSON; exit 1 if
#                     encryption or decryption is missing.
#   collect RAWDIR    turn the raw measurements of bench-guest.sh into one
#                     JSON document on stdout (schema: "schema" below).

import ctypes
import json
import os
import re
import statistics
import sys

SCHEMA = 3
KEY_SPEC_SESSION_KEYRING = -3


def addkeys(prefix, n):
    lib = ctypes.CDLL("libkeyutils.so.1", use_errno=True)
    lib.add_key.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                            ctypes.c_size_t, ctypes.c_int32]
    lib.add_key.restype = ctypes.c_int32
    buf = ctypes.create_string_buffer(64)
    try:
        for i in range(n):
            ctypes.memmove(buf, os.urandom(64), 64)
            desc = ("%s%d" % (prefix, i)).encode()
            if lib.add_key(b"logon", desc, buf, 64,
                           KEY_SPEC_SESSION_KEYRING) < 0:
                err = ctypes.get_errno()
                sys.exit("addkeys: add_key %s: %s" % (desc.decode(),
                                                      os.strerror(err)))
    finally:
        ctypes.memset(buf, 0, 64)


# --- tcrypt ---------------------------------------------------------------

TS = re.compile(r"^\s*\[\s*[0-9.]+\]\s*")
HEAD = re.compile(r"testing speed of (a?sync) (\S+) \((\S+)\) "
                  r"(encryption|decryption)")
TEST = re.compile(r"\((\d+) bit key, (\d+) byte blocks\):\s*(.*)$")
JIFFIES = re.compile(r"(\d+) operations in (\d+) seconds \((\d+) bytes\)")
CYCLES = re.compile(r"1 operation in (\d+) cycles \((\d+) bytes\)")


def parse_tcrypt(path, alg="xts(aes)", keybits=512, block=4096):
    """{"encrypt": {...}, "decrypt": {...}, "driver": ...} for alg."""
    with open(path, errors="replace") as f:
        lines = [TS.sub("", line.rstrip("\n")) for line in f]
    res = {"driver": None}
    cur = None
    for i, line in enumerate(lines):
        m = HEAD.search(line)
        if m:
            cur = m.groups()
            continue
        m = TEST.search(line)
        if not m or cur is None or cur[1] != alg:
            continue
        if int(m.group(1)) != keybits or int(m.group(2)) != block:
            continue
        rest = m.group(3)
        # pr_cont() continuations can land on a line of their own.
        if not rest and i + 1 < len(lines):
            rest = lines[i + 1]
        d = "encrypt" if cur[3] == "encryption" else "decrypt"
        r = {"mode": cur[0], "line": line if m.group(3) else line + rest}
        mj = JIFFIES.search(rest)
        mc = CYCLES.search(rest)
        if mj:
            ops, secs, nbytes = map(int, mj.groups())
            r.update(operations=ops, seconds=secs, bytes=nbytes,
                     bytes_per_s=nbytes / secs if secs else None)
        elif mc:
            r.update(cycles=int(mc.group(1)), bytes=int(mc.group(2)))
        else:
            continue
        res["driver"] = cur[2]
        res[d] = r
    return res


def tcrypt_main(path):
    res = parse_tcrypt(path)
    print(json.dumps(res, indent=1))
    return 0 if "encrypt" in res and "decrypt" in res else 1


# --- collect --------------------------------------------------------------

def keyvals(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    d[k] = v
    except FileNotFoundError:
        pass
    return d


def num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v


def read_json(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    # fio may put a warning before the document.
    start = text.find("{")
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def stat_line(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("cpu "):
                    return [int(x) for x in line.split()[1:]]
    except (FileNotFoundError, ValueError):
        pass
    return None


def cpu_delta(a, b):
    """System-wide CPU use between two /proc/stat "cpu" lines, in % of all
    CPUs (user nice system idle iowait irq softirq steal; guest time is
    already in user and nice)."""
    if not a or not b or len(a) < 8 or len(b) < 8:
        return None
    d = [y - x for x, y in zip(a[:8], b[:8])]
    total = sum(d)
    if total <= 0:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = d
    return {
        "cpu_pct": 100.0 * (total - idle - iowait) / total,
        "user_pct": 100.0 * (user + nice) / total,
        "sys_pct": 100.0 * system / total,
        "irq_pct": 100.0 * (irq + softirq) / total,
        "ticks": total,
    }


def fio_result(j, rw):
    """The numbers of one job of fio's JSON output."""
    if not j:
        return None
    side = j["read"] if "read" in rw else j["write"]
    lat = side.get("clat_ns") or side.get("lat_ns") or {}
    return {
        "mib_s": side.get("bw_bytes", 0) / 1048576.0,
        "iops": side.get("iops", 0.0),
        "lat_us": (lat.get("mean") or 0.0) / 1000.0,
        "io_mib": side.get("io_bytes", 0) / 1048576.0,
        "fio_usr_cpu": j.get("usr_cpu"),
        "fio_sys_cpu": j.get("sys_cpu"),
        "fio_error": j.get("error", 0),
    }


def meminfo(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = int(v.split()[0])
    except FileNotFoundError:
        pass
    return d


def slabinfo(path):
    """{cache: KiB in slabs} from /proc/slabinfo 2.x."""
    d = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(("slabinfo", "#")):
                    continue
                p = line.split()
                try:
                    sd = p.index("slabdata")
                    pages_per_slab = int(p[5])
                    num_slabs = int(p[sd + 2])
                except (ValueError, IndexError):
                    continue
                d[p[0]] = num_slabs * pages_per_slab * 4
    except (FileNotFoundError, PermissionError):
        return None
    return d


def parse_profile(path, top=12):
    """The hottest symbols of a `perf report --sort sym --stdio` listing:
    [[percent, symbol], ...], kernel symbols as they are, user space ones
    with "(user)" after them."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"\s*([0-9.]+)%\s+\[(.)\]\s+(\S+)", line)
                if m:
                    sym = m.group(3) + ("" if m.group(2) == "k" else
                                        " (user)")
                    out.append([float(m.group(1)), sym])
    except FileNotFoundError:
        pass
    return out[:top]


def collect(raw):
    j = lambda name: os.path.join(raw, name)  # noqa: E731
    system = {k: num(v) for k, v in keyvals(j("system.txt")).items()}
    try:
        with open(j("xts-drivers.txt")) as f:
            system["xts_drivers"] = [line.split()[1] for line in f
                                     if len(line.split()) == 2]
    except FileNotFoundError:
        pass

    devices = {}
    with open(j("devices.txt")) as f:
        for line in f:
            dev, node, table = (line.rstrip("\n").split("\t") + ["", ""])[:3]
            devices[dev] = {"node": node, "table": table}

    jobs = {}
    with open(j("jobs.txt")) as f:
        for line in f:
            job, rw, bs, qd = line.split()
            jobs[job] = {"rw": rw, "bs": bs, "iodepth": int(qd)}

    runs = []
    docs = {}
    with open(j("runs.txt")) as f:
        for line in f:
            rnd, seq, pos, job, dev, rc = line.split()
            base = j("run." + rnd)
            if rnd not in docs:
                doc = read_json(base + ".json") or {}
                docs[rnd] = {x.get("jobname"): x for x in doc.get("jobs", [])}
            section = "%s@%s" % (job, dev)
            r = {"round": int(rnd), "seq": int(seq), "position": int(pos),
                 "job": job, "device": dev, "rc": int(rc)}
            res = fio_result(docs[rnd].get(section), jobs[job]["rw"])
            if res:
                r.update(res)
            cpu = cpu_delta(stat_line("%s.%s.pre" % (base, section)),
                            stat_line("%s.%s.post" % (base, section)))
            if cpu:
                r.update(cpu)
            r["ok"] = bool(res and not res["fio_error"] and res["io_mib"] > 0)
            runs.append(r)

    cinfo = keyvals(j("cipher.txt"))
    cipher = {"method": cinfo.get("method", "none")}
    if cipher["method"] == "tcrypt":
        t = parse_tcrypt(j("tcrypt.txt"))
        tsc = num(cinfo.get("tsc_mhz") or cinfo.get("tsc_mhz_detected"))
        cipher.update(description="tcrypt mode=500 sec=%s: %s, 512-bit key,"
                      " 4096-byte blocks, one request at a time on one CPU"
                      % (system.get("tcrypt_sec"), "xts(aes)"),
                      driver=t.get("driver"), tsc_mhz=tsc,
                      seconds=num(cinfo.get("seconds")))
        for d in ("encrypt", "decrypt"):
            r = t.get(d)
            if not r:
                continue
            bps = r.get("bytes_per_s")
            if (bps is None and r.get("cycles") and
                    isinstance(tsc, (int, float))):
                bps = r["bytes"] / (r["cycles"] / (tsc * 1e6))
            r["mib_s"] = bps / 1048576.0 if bps else None
            cipher[d] = r
    elif cipher["method"] == "dm-crypt-zero":
        cipher["description"] = ("fio 1M iodepth 8 on dm-crypt (no workqueues,"
                                 " sector_size:4096) over a zero target")
        for d, rw in (("encrypt", "write"), ("decrypt", "read")):
            doc = read_json(j("zero-%s.json" % rw)) or {}
            res = fio_result((doc.get("jobs") or [None])[0], rw)
            if res:
                cipher[d] = {"mib_s": res["mib_s"]}

    profiles = {}
    for name in sorted(os.listdir(raw)):
        m = re.match(r"profile\.(.+)@(.+)\.txt$", name)
        if m:
            profiles.setdefault(m.group(1), {})[m.group(2)] = \
                parse_profile(j(name))

    interleaved = {}
    try:
        with open(j("il.txt")) as f:
            il = [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        il = []
    for job, slice_ms, cycles, rc in il:
        # The program's lines: cycle position device ios nanoseconds.
        slices = []
        try:
            with open(j("il.%s.txt" % job)) as f:
                for line in f:
                    c, p, dev, ios, ns = line.split()
                    slices.append({"cycle": int(c), "position": int(p),
                                   "device": dev, "ios": int(ios),
                                   "ns": int(ns)})
        except (FileNotFoundError, ValueError):
            pass
        interleaved[job] = {"slice_ms": int(slice_ms),
                            "cycles": int(cycles), "rc": int(rc),
                            "ok": rc == "0" and bool(slices),
                            "slices": slices}

    x = {}
    for k, v in keyvals(j("x16384.txt")).items():
        if k.endswith("_s_list"):
            # Repeated timings: the list, and its median as NAME_s.
            vals = [float(t) for t in v.split()]
            x[k] = vals
            if vals:
                x[k[:-len("_list")]] = statistics.median(vals)
        else:
            x[k] = num(v)
    if x:
        m0 = meminfo(j("x16384.before.meminfo"))
        m1 = meminfo(j("x16384.after.meminfo"))
        for k in ("Slab", "SUnreclaim", "SReclaimable", "VmallocUsed",
                  "Percpu"):
            if k in m0 and k in m1:
                x[k.lower() + "_kib_delta"] = m1[k] - m0[k]
        x["kernel_kib_delta"] = (x.get("slab_kib_delta", 0) +
                                 x.get("vmallocused_kib_delta", 0))
        s0 = slabinfo(j("x16384.before.slabinfo"))
        s1 = slabinfo(j("x16384.after.slabinfo"))
        if s0 is not None and s1 is not None:
            deltas = sorted(((s1.get(k, 0) - s0.get(k, 0), k)
                             for k in set(s0) | set(s1)), reverse=True)
            x["slabinfo_top_kib"] = {k: v for v, k in deltas[:10] if v > 0}

    doc = {
        "schema": SCHEMA,
        "system": system,
        "devices": devices,
        "jobs": jobs,
        "runs": runs,
        "cipher": cipher,
        "extents_16384": x,
    }
    if profiles:
        doc["profiles"] = profiles
    if interleaved:
        doc["interleaved"] = interleaved
    doc["summary"] = {"runs": len(runs),
                      "ok": sum(1 for r in runs if r["ok"])}
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "addkeys":
        addkeys(argv[2], int(argv[3]))
        return 0
    if len(argv) == 3 and argv[1] == "tcrypt":
        return tcrypt_main(argv[2])
    if len(argv) == 3 and argv[1] == "collect":
        return collect(argv[2])
    sys.exit("usage: bench-guest.py addkeys PREFIX N | tcrypt FILE |"
             " collect RAWDIR")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
