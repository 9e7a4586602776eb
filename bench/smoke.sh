#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# smoke.sh RESULTS_DIR: the test suite's check of `make bench` (issue 5):
# bench/bench.sh --quick end to end on the newest kernel, then the shape of
# what it wrote, in TAP.  Numbers are never judged here: under TCG, and in
# a 1-second run, they mean nothing; `make bench` is where they are read.
set -u
cd "$(dirname "$0")/.." || exit 1
out=${1:?usage: $0 RESULTS_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

echo "1..4"
bench/bench.sh --quick --out "$out/report" >"$out/bench.log" 2>&1
rc=$?
if [ "$rc" = 0 ]; then
	echo "ok 1 - bench/bench.sh --quick ran end to end"
else
	echo "not ok 1 - bench/bench.sh --quick ran end to end (exit $rc)"
	tail -n 20 "$out/bench.log" | sed 's/^/# /'
fi
# Every device ran every job without a fio error; the cipher ceiling and
# the 16384-extent load were measured.
if /usr/bin/python3 - "$out/report/results.json" <<'PY' >"$out/check.log" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
devs, jobs = set(d["devices"]), set(d["jobs"])
assert len(devs) == 6 and len(jobs) == 6, (devs, jobs)
done = {(r["device"], r["job"]) for r in d["runs"] if r["ok"] and r["mib_s"] > 0}
missing = {(a, b) for a in devs for b in jobs} - done
assert not missing, "no good run for %s" % sorted(missing)
assert d["cipher"]["encrypt"] and d["cipher"]["decrypt"], d["cipher"]
e = d["extents_16384"]
assert e["extents"] == 16384 and e["create_s"] > 0, e
il = d["interleaved"]
assert set(il) == jobs, set(il)
for job, x in il.items():
    assert x["ok"], (job, x["rc"])
    seen = {s["device"] for s in x["slices"] if s["ios"] > 0 and s["ns"] > 0}
    assert seen == {"crypt_default", "crypt_tuned", "crypt_tuned_aa",
                    "cmk4096", "cmk4096_x4096"}, (job, seen)
PY
then
	echo "ok 2 - results.json: 6 devices x 6 jobs without a fio error, interleaved slices of 5 devices x 6 jobs, cipher ceiling, 16384-extent load"
else
	echo "not ok 2 - results.json: 6 devices x 6 jobs without a fio error, interleaved slices of 5 devices x 6 jobs, cipher ceiling, 16384-extent load"
	sed 's/^/# /' "$out/check.log"
fi
if grep -q 'dm-cmk' "$out/report/report.md" 2>/dev/null &&
	grep -q 'tuned' "$out/report/report.md" &&
	grep -q '^| randread 4k qd1 | 50 ms' "$out/report/report.md"; then
	echo "ok 3 - report.md has the table with dm-cmk and tuned dm-crypt, and the interleaved one"
else
	echo "not ok 3 - report.md has the table with dm-cmk and tuned dm-crypt, and the interleaved one"
fi
if [ "$(head -c 8 "$out/report/chart.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ]; then
	echo "ok 4 - chart.png is a PNG"
else
	echo "not ok 4 - chart.png is a PNG"
fi
