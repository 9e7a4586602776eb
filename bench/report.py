#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# report.py [--meta KEY=VALUE]... RESULTS_JSON OUTDIR
#
# Report of one `make bench` run (bench/bench-guest.sh's JSON document):
# writes OUTDIR/results.json (the document, plus the --meta pairs under
# "meta": command, machine, ...), OUTDIR/report.md (medians with min and
# max per device and job, system-wide CPU, ratios to raw, to default and
# tuned dm-crypt and to the cipher's own speed, the targets, the
# 16384-extent table load) and OUTDIR/chart.png (grouped bars per job,
# devices as series, normalised to tuned dm-crypt).  Needs only the
# standard library and, for the chart, matplotlib (Agg backend); without
# matplotlib the chart is skipped and said so.
#
# The main table's ratios are ratios of medians.  The targets are judged
# on paired ratios: bench-guest.sh runs a job on every device back to back
# within a round, so each round gives one ratio of two devices measured
# seconds apart, and the median of those ratios over the rounds is what
# the host's slow swings disturb least.  Both are reported.  Where the run
# has interleaved slices of a job (bench/cmk-interleave: the devices in
# turn, tens of milliseconds each), its per-cycle ratios are far tighter
# and decide the target; fio's paired ratio is shown beside it.
#
# A run of a subset (bench.sh --devices, --jobs, --no-tcrypt, --no-x16384)
# reports what it has: a ratio column whose device was not measured is
# left out, a target that needs one is not judged, a section not measured
# says so, and the chart is normalised to raw, or to the first device
# measured, when tuned dm-crypt was not.

import json
import math
import os
import statistics
import sys

DEVICES = [
    ("raw", "raw brd"),
    ("crypt_default", "dm-crypt default"),
    ("crypt_tuned", "dm-crypt tuned"),
    ("cmk512", "dm-cmk 512, 4 ext"),
    ("cmk4096", "dm-cmk 4096, 4 ext"),
    ("cmk4096_x4096", "dm-cmk 4096, 4096 ext"),
]
LABEL = dict(DEVICES)
# The targets.
CMK_VS_CRYPT = 1.00
EXT_SCALING = 0.98
LOAD_S = 1.0
LOAD_MIB = 64


def usage():
    sys.exit("usage: report.py [--meta KEY=VALUE]... RESULTS_JSON OUTDIR")


def stats(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def ratio(a, b):
    if a is None or b is None or not b.get("median"):
        return None
    return a["median"] / b["median"]


def fmt_num(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2
    return "%.*f" % (digits, v)


def fmt_stat(s, digits=None):
    if s is None:
        return "–"
    if s["n"] == 1:
        return fmt_num(s["median"], digits)
    return "%s (%s–%s)" % (fmt_num(s["median"], digits),
                           fmt_num(s["min"], digits),
                           fmt_num(s["max"], digits))


def fmt_ratio(r):
    return "–" if r is None else "%.2f" % r


def job_label(job, spec):
    rw = {"randread": "randread", "randwrite": "randwrite",
          "read": "seq read", "write": "seq write"}.get(spec["rw"], spec["rw"])
    return "%s %s qd%d" % (rw, spec["bs"], spec["iodepth"])


def analyse(doc):
    devs = [d for d, _ in DEVICES if d in doc["devices"]]
    devs += [d for d in doc["devices"] if d not in devs]
    jobs = list(doc["jobs"])
    cell = {}
    for job in jobs:
        for dev in devs:
            rs = [r for r in doc["runs"]
                  if r["job"] == job and r["device"] == dev and r.get("ok")]
            cell[job, dev] = {
                k: stats([r[k] for r in rs if r.get(k) is not None])
                for k in ("mib_s", "iops", "cpu_pct", "lat_us")}
            # Throughput by round, for paired ratios.
            cell[job, dev]["by_round"] = {
                r["round"]: r["mib_s"] for r in rs if r.get("mib_s")}
    return devs, jobs, cell


def median_ci(values, level=0.95):
    """A distribution-free confidence interval of the median: the order
    statistics x(k) and x(n+1-k), k the largest with P(Bin(n, 1/2) < k)
    <= (1 - level) / 2.  Returns (lo, hi, coverage); with fewer than 6
    values no k qualifies and it is (min, max) with its lower coverage."""
    xs = sorted(values)
    n = len(xs)
    k, tail = 1, 0.5 ** n		# tail: P(Bin(n, 1/2) < k)
    while True:
        nxt = tail + math.comb(n, k) * 0.5 ** n
        if k + 1 > (n + 1) // 2 or nxt > (1 - level) / 2:
            break
        k, tail = k + 1, nxt
    return xs[k - 1], xs[n - k], 1 - 2 * tail


def paired_ratios(ra, rb):
    """Stats of the ratios ra[k] / rb[k] over the keys both have (rounds,
    or cycles), with the median's confidence interval, or None."""
    vals = [ra[k] / rb[k] for k in sorted(ra) if k in rb and rb[k]]
    s = stats(vals)
    if s:
        s["ci_lo"], s["ci_hi"], s["ci_level"] = median_ci(vals)
    return s


def paired(cell, job, a, b):
    """Stats of the per-round ratios of device a to device b on a job (the
    rounds where both ran), or None."""
    return paired_ratios(cell.get((job, a), {}).get("by_round", {}),
                         cell.get((job, b), {}).get("by_round", {}))


def bs_bytes(bs):
    """fio's block size ("4k", "1M") in bytes."""
    mult = {"k": 1024, "m": 1048576}.get(bs[-1:].lower(), 1)
    return int(bs.rstrip("kKmM")) * mult


def il_analyse(doc):
    """The interleaved slices (bench/cmk-interleave) per job: throughput
    of each device over all its slices, and by cycle for paired ratios."""
    out = {}
    for job, il in (doc.get("interleaved") or {}).items():
        if not il.get("ok") or job not in doc["jobs"]:
            continue
        mib = bs_bytes(doc["jobs"][job]["bs"]) / 1048576.0
        ios, ns, by = {}, {}, {}
        for s in il["slices"]:
            d = s["device"]
            ios[d] = ios.get(d, 0) + s["ios"]
            ns[d] = ns.get(d, 0) + s["ns"]
            if s["ns"] > 0:
                by.setdefault(d, {})[s["cycle"]] = \
                    s["ios"] * mib / (s["ns"] / 1e9)
        out[job] = {"slice_ms": il["slice_ms"], "cycles": il["cycles"],
                    "mib_s": {d: ios[d] * mib / (ns[d] / 1e9)
                              for d in ios if ns[d] > 0},
                    "by_cycle": by}
    return out


def il_paired(il, job, a, b):
    """Per-cycle ratios of device a to b in job's interleaved slices."""
    j = il.get(job)
    if not j or a not in j["by_cycle"] or b not in j["by_cycle"]:
        return None
    return paired_ratios(j["by_cycle"][a], j["by_cycle"][b])


def il_better_crypt(il, job, crypts):
    """The dm-crypt setup faster over the job's interleaved slices."""
    t = (il.get(job) or {}).get("mib_s", {})
    have = [d for d in crypts if d in t]
    return max(have, key=lambda d: t[d]) if have else None


def better_crypt(cell, job, crypts):
    """The dm-crypt setup with the higher median throughput on a job."""
    best = None
    for d in crypts:
        s = cell.get((job, d), {}).get("mib_s")
        if s and (best is None or
                  s["median"] > cell[job, best]["mib_s"]["median"]):
            best = d
    return best


def ceiling(doc, job):
    """The cipher's speed for a job's direction, MiB/s."""
    c = doc.get("cipher", {})
    d = "decrypt" if "read" in doc["jobs"][job]["rw"] else "encrypt"
    return (c.get(d) or {}).get("mib_s")


def header(doc, meta):
    s = doc.get("system", {})
    out = ["# dm-cmk benchmark, %s" % meta.get("date", "?"), ""]
    if meta.get("command"):
        out.append("Command: `%s`  " % meta["command"])
    host = meta.get("host")
    if host:
        out.append("Machine: %s  " % host)
    out.append("Guest: Linux %s, %s vCPUs (%s), %s MiB, %s  " % (
        s.get("kernel", "?"), s.get("cpus", "?"), s.get("cpu_model", "?"),
        (s.get("mem_total_kib") or 0) // 1024, meta.get("accel", "?")))
    out.append("Protocol: %s MiB %s filled with random data; "
               "fio `--direct=1 --ioengine=libaio`, %s s per run after a "
               "%s s ramp; %s round(s), each running the jobs in a new "
               "random order and each job on every device back to back, "
               "in a new random order; %s of %s runs ok.  xts(aes): "
               "dm-cmk `%s`, tcrypt `%s`." % (
                   s.get("ramdisk_mib", "?"),
                   "brd ramdisk shared by all devices,"
                   if s.get("ramdisks") == 1 else "brd ramdisks",
                   s.get("runtime_s", "?"),
                   s.get("ramp_s", "?"), s.get("rounds", "?"),
                   doc.get("summary", {}).get("ok", "?"),
                   doc.get("summary", {}).get("runs", "?"),
                   s.get("cmk_cipher") or "–",
                   doc.get("cipher", {}).get("driver") or "–"))
    out.append("")
    return out


def main_table(doc, devs, jobs, cell):
    # The ratio columns: one per reference device measured, and the
    # cipher's when there is a ceiling.
    refs = [(d, "÷ " + LABEL[d].replace(" brd", ""))
            for d in ("raw", "crypt_default", "crypt_tuned") if d in devs]
    has_ceil = (any(d != "raw" for d in devs) and
                any(ceiling(doc, job) for job in jobs))
    heads = ["Job", "Device", "MiB/s", "IOPS", "CPU %"]
    heads += [h for _, h in refs] + (["÷ cipher"] if has_ceil else [])
    ratios = []
    if refs:
        ratios.append("÷: ratio of median throughputs")
    if has_ceil:
        ratios.append("÷ cipher: throughput over the cipher's own one-CPU "
                      "speed (decryption for reads, encryption for writes)")
    out = ["Medians over the rounds (min–max).  CPU: system-wide, % of all "
           "guest CPUs during the run." +
           ("  " + "; ".join(ratios) + "." if ratios else ""), "",
           "| " + " | ".join(heads) + " |",
           "|---|---|" + "--:|" * (len(heads) - 2)]
    for job in jobs:
        ceil = ceiling(doc, job)
        for dev in devs:
            c = cell[job, dev]
            m = c["mib_s"]
            row = [job_label(job, doc["jobs"][job]), LABEL.get(dev, dev),
                   fmt_stat(m), fmt_num(c["iops"]["median"] if c["iops"]
                                        else None, 0),
                   fmt_stat(c["cpu_pct"], 0)]
            for ref, _ in refs:
                if dev == ref:
                    row.append("1.00" if m else "–")
                else:
                    row.append(fmt_ratio(ratio(
                        m, cell.get((job, ref), {}).get("mib_s"))))
            if has_ceil:
                cr = None
                if dev != "raw" and m and ceil:
                    cr = m["median"] / ceil
                row.append(fmt_ratio(cr))
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def fmt_paired(p):
    if p is None:
        return "–"
    # Three decimals for the median: it decides "met" at 0.98 and 1.00.
    if p["n"] == 1:
        return "%.3f" % p["median"]
    # Tight intervals (interleaved slices) get three decimals too.
    d = 3 if p["ci_hi"] - p["ci_lo"] < 0.1 else 2
    return "%.3f [%.*f–%.*f]" % (p["median"], d, p["ci_lo"], d, p["ci_hi"])


def ordinal(k):
    return "%d%s" % (k, {1: "st", 2: "nd", 3: "rd"}.get(
        k if k < 20 else k % 10, "th"))


def met(p, target):
    return "–" if p is None else "yes" if p["median"] >= target else "**no**"


def targets_table(doc, devs, jobs, cell, il):
    crypts = [d for d in ("crypt_default", "crypt_tuned") if d in devs]
    t1 = "cmk4096" in devs and bool(crypts)
    t2 = "cmk4096" in devs and "cmk4096_x4096" in devs
    if not t1 and not t2:
        return ["Targets (issue 5): not judged; they need dm-cmk 4096 "
                "(4 extents) and dm-crypt, or dm-cmk 4096 with 4 and with "
                "4096 extents.", ""]
    what, heads = [], ["Job"]
    if t1:
        if len(crypts) == 2:
            what.append("dm-cmk 4096 ≥ %.2f × the better dm-crypt (the "
                        "faster on the job)" % CMK_VS_CRYPT)
            heads.append("better dm-crypt")
        else:
            what.append("dm-cmk 4096 ≥ %.2f × the better dm-crypt (only %s "
                        "measured)" % (CMK_VS_CRYPT, LABEL[crypts[0]]))
            heads.append("dm-crypt")
        heads += ["dm-cmk 4096 ÷ it, interleaved", "fio, paired", "met"]
    else:
        what.append("dm-cmk 4096 against dm-crypt not judged (not measured)")
    if t2:
        what.append("4096 extents ≥ %.2f × 4 extents" % EXT_SCALING)
        heads += ["4096 ext ÷ 4 ext, interleaved", "fio, paired", "met"]
    else:
        what.append("4096 against 4 extents not judged (not measured)")
    n = max([len(cell[k]["by_round"]) for k in cell] or [0])
    if n > 1:
        lo, hi, cov = median_ci(list(range(n)))
        fio_ci = "a %.0f %% interval, the %s and %s smallest of %d ratios" % (
            100 * cov, ordinal(lo + 1), ordinal(hi + 1), n)
    else:
        fio_ci = "one round, no interval"
    out = ["Targets (issue 5): %s.  Each ratio is the median of paired "
           "ratios, in brackets a confidence interval of that median "
           "(order statistics; the run's noise, not a spread of speeds).  "
           "Interleaved: one ratio per cycle of slices a few tens of "
           "milliseconds long (section below; a 95 %% interval or wider).  "
           "fio, paired: one ratio per round (%s).  A target is judged on "
           "the interleaved ratio where there is one, else on fio's."
           % ("; ".join(what), fio_ci), "",
           "| " + " | ".join(heads) + " |",
           "|---|" + ("---|--:|--:|:-:|" if t1 else "") +
           ("--:|--:|:-:|" if t2 else "")]
    for job in jobs:
        row = [job_label(job, doc["jobs"][job])]
        if t1:
            best = il_better_crypt(il, job, crypts)
            pi = il_paired(il, job, "cmk4096", best) if best else None
            fbest = better_crypt(cell, job, crypts)
            pf = paired(cell, job, "cmk4096", fbest) if fbest else None
            name = LABEL.get(best or fbest, "–").replace("dm-crypt ", "")
            if pi and fbest and fbest != best:
                name += " (fio: %s)" % LABEL[fbest].replace("dm-crypt ", "")
            row += [name, fmt_paired(pi), fmt_paired(pf),
                    met(pi or pf, CMK_VS_CRYPT)]
        if t2:
            pi = il_paired(il, job, "cmk4096_x4096", "cmk4096")
            pf = paired(cell, job, "cmk4096_x4096", "cmk4096")
            row += [fmt_paired(pi), fmt_paired(pf), met(pi or pf, EXT_SCALING)]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def il_text(doc, jobs, il):
    """The interleaved slices: throughput per device and the control."""
    if not il:
        return ["Interleaved slices: not measured.", ""]
    devs = [d for d in ("crypt_default", "crypt_tuned", "crypt_tuned_aa",
                        "cmk4096", "cmk4096_x4096")
            if any(d in j["mib_s"] for j in il.values())]
    label = dict(LABEL, crypt_tuned_aa="dm-crypt tuned, 2nd table")
    out = ["Interleaved slices (bench/cmk-interleave): each job on these "
           "devices in turn, one slice each per cycle in a new random order; "
           "a slice keeps the job's I/Os in flight for its length, then "
           "waits for the last of them.  MiB/s: all of a device's I/O over "
           "all its slices' time.  Control: a second, identical tuned "
           "dm-crypt table against the first, per-cycle ratios; it shows "
           "the method's own bias and spread between equal devices.", "",
           "| Job | slice, cycles | " +
           " | ".join(label[d] + " MiB/s" for d in devs) +
           " | control: 2nd ÷ 1st tuned |",
           "|---|--:|" + "--:|" * len(devs) + "--:|"]
    for job in jobs:
        j = il.get(job)
        if not j:
            continue
        row = [job_label(job, doc["jobs"][job]),
               "%d ms, %d" % (j["slice_ms"], j["cycles"])]
        row += [fmt_num(j["mib_s"].get(d)) for d in devs]
        row.append(fmt_paired(il_paired(il, job, "crypt_tuned_aa",
                                        "crypt_tuned")))
        out.append("| " + " | ".join(row) + " |")
    missing = [job_label(job, doc["jobs"][job]) for job in jobs
               if job not in il]
    if missing:
        out += ["", "No interleaved result for: %s." % ", ".join(missing)]
    out.append("")
    return out


def cipher_text(doc):
    c = doc.get("cipher", {})
    if c.get("method", "none") == "none":
        return ["Cipher ceiling: not measured.", ""]
    if not c.get("encrypt") and not c.get("decrypt"):
        return ["Cipher ceiling: not measured (%s gave nothing).  "
                % c.get("method"), ""]
    enc = (c.get("encrypt") or {}).get("mib_s")
    dec = (c.get("decrypt") or {}).get("mib_s")
    how = c.get("description", c.get("method"))
    if (c.get("encrypt") or {}).get("cycles"):
        how += "; from cycle counts (8 operations each) at a TSC of %s MHz" \
            % c.get("tsc_mhz")
    return ["Cipher ceiling: %s MiB/s encryption, %s MiB/s decryption "
            "(%s, driver %s)." % (fmt_num(enc), fmt_num(dec), how,
                                  c.get("driver") or "–"), ""]


def extents_text(doc):
    x = doc.get("extents_16384") or {}
    if not x:
        return ["16384 extents: not measured.", ""]
    kib = x.get("kernel_kib_delta")

    def t(name):
        # A timing: the median of the repeats (min–max), or the one value.
        s = stats(x.get(name + "_s_list") or [])
        if s:
            return fmt_stat(s, 2)
        return fmt_num(x.get(name + "_s"), 2)
    reps = len(x.get("create_s_list") or [])
    out = ["16384 extents (%s sectors each, data unit %s): `dmsetup create` "
           "%s s of guest wall time (separately: load %s s, resume %s s%s; "
           "target < %.0f s); kernel memory +%s MiB (Slab %+d KiB of which "
           "unreclaimable %+d KiB, VmallocUsed %+d KiB, Percpu %+d KiB; "
           "target < %d MiB)." % (
               x.get("extent_sectors"), x.get("data_unit"),
               t("create"), t("load"), t("resume"),
               "; medians of %d, min–max" % reps if reps > 1 else "", LOAD_S,
               fmt_num(kib / 1024.0 if kib is not None else None, 1),
               x.get("slab_kib_delta", 0), x.get("sunreclaim_kib_delta", 0),
               x.get("vmallocused_kib_delta", 0),
               x.get("percpu_kib_delta", 0), LOAD_MIB)]
    top = x.get("slabinfo_top_kib")
    if top:
        out.append("Largest slab cache growth: " + ", ".join(
            "%s +%d KiB" % (k, v) for k, v in
            sorted(top.items(), key=lambda kv: -kv[1])[:5]) + ".")
    out.append("")
    return out


def profiles_text(doc, devs, jobs):
    prof = doc.get("profiles") or {}
    if not prof:
        return []
    out = ["Profiles (`--profile`: each job once more on each device under "
           "`perf record -a -e cpu-clock`, every CPU, idle included; the "
           "hottest symbols, % of samples):", ""]
    for job in jobs:
        if job not in prof:
            continue
        out += ["%s:" % job_label(job, doc["jobs"][job]), ""]
        for dev in devs:
            syms = prof[job].get(dev)
            if syms is None:
                continue
            out.append("- %s: %s" % (LABEL.get(dev, dev), ", ".join(
                "%s %.1f" % (sym, pct) for pct, sym in syms[:8]) or "–"))
        out.append("")
    return out


def chart_ref(devs, jobs, cell):
    """The device the chart is normalised to: tuned dm-crypt, else raw,
    else the first one (in the order of DEVICES) with a result; None if
    there is nothing."""
    for dev in ["crypt_tuned"] + devs:
        if dev in devs and any(cell[job, dev]["mib_s"] for job in jobs):
            return dev
    return None


def chart(doc, devs, jobs, cell, path, meta):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ref = chart_ref(devs, jobs, cell)
    if ref is None:
        return None
    short = "raw" if ref == "raw" else LABEL.get(ref, ref)
    # Raw brd is 3 to 20 times any dm device: it goes into the labels, not
    # the bars, unless it is the reference.
    bars = [d for d in devs if d == ref or d != "raw"]
    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=110)
    width = 0.8 / max(len(bars), 1)
    labels = []
    for i, job in enumerate(jobs):
        base = (cell.get((job, ref), {}).get("mib_s") or {}).get("median")
        label = "%s\n%s %s MiB/s" % (job_label(job, doc["jobs"][job]),
                                     short, fmt_num(base))
        raw = (cell.get((job, "raw"), {}).get("mib_s") or {}).get("median")
        if "raw" not in bars and raw:
            label += "\nraw %s MiB/s" % fmt_num(raw)
        labels.append(label)
    top = 1.0
    for k, dev in enumerate(bars):
        xs, hs, lo, hi = [], [], [], []
        for i, job in enumerate(jobs):
            base = (cell.get((job, ref), {}).get("mib_s") or {}).get("median")
            s = cell[job, dev]["mib_s"]
            if not base or not s:
                continue
            h = s["median"] / base
            xs.append(i - 0.4 + width * (k + 0.5))
            hs.append(h)
            lo.append(h - s["min"] / base)
            hi.append(s["max"] / base - h)
            top = max(top, s["max"] / base)
        ax.bar(xs, hs, width, yerr=[lo, hi], capsize=2,
               label=LABEL.get(dev, dev))
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(jobs)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("throughput ÷ %s (median; whiskers min–max)"
                  % LABEL.get(ref, ref))
    s = doc.get("system", {})
    ax.set_title("dm-cmk vs dm-crypt: Linux %s, %s vCPUs, %s, %s round(s)"
                 % (s.get("kernel", "?"), s.get("cpus", "?"),
                    meta.get("accel", "?"), s.get("rounds", "?")),
                 fontsize=10)
    # Room above the bars for the legend.
    ax.set_ylim(0, top * 1.2)
    ax.legend(fontsize=8, ncol=max(len(bars), 1), loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv):
    meta = {}
    args = argv[1:]
    while args and args[0] == "--meta":
        if len(args) < 2 or "=" not in args[1]:
            usage()
        k, _, v = args[1].partition("=")
        meta[k] = v
        args = args[2:]
    if len(args) != 2:
        usage()
    src, outdir = args
    with open(src) as f:
        doc = json.load(f)
    doc.setdefault("meta", {}).update(meta)
    meta = doc["meta"]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")

    devs, jobs, cell = analyse(doc)
    md = header(doc, meta)
    md += main_table(doc, devs, jobs, cell)
    il = il_analyse(doc)
    md += targets_table(doc, devs, jobs, cell, il)
    md += il_text(doc, jobs, il)
    md += cipher_text(doc)
    md += extents_text(doc)
    md += profiles_text(doc, devs, jobs)
    drawn = chart(doc, devs, jobs, cell, os.path.join(outdir, "chart.png"),
                  meta)
    if drawn:
        ref = chart_ref(devs, jobs, cell)
        md += ["![throughput normalised to %s](chart.png)" % (
            "the raw ramdisk" if ref == "raw" else LABEL.get(ref, ref)), ""]
    elif drawn is None:
        md += ["Chart skipped: no results to plot.", ""]
    else:
        md += ["Chart skipped: matplotlib is not installed "
               "(Debian: python3-matplotlib).", ""]
        print("report: matplotlib missing, chart skipped", file=sys.stderr)
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
