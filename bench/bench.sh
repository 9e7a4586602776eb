#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh [--quick] [--rounds N] [--runtime S] [--ramp S] [--size MIB]
#          [--tcrypt-sec S] [--interleave S] [--devices LIST] [--jobs LIST]
#          [--no-tcrypt] [--no-x16384] [--profile] [--out DIR] [-k KVER]
#
# `make bench` (make bench BENCH_ARGS='--rounds 3 ...'): dm-cmk against
# raw brd and dm-crypt, default and tuned, in one QEMU guest run (the
# protocol of design.md, "Benchmark protocol").  Builds dm-cmk for KVER
# (default: the newest installed kernel), boots it with tests/vm/run-vm.sh
# and runs bench/bench-guest.sh there; then bench/report.py writes
# DIR/results.json, DIR/report.md and DIR/chart.png, and the report is
# printed.  DIR defaults to bench/results/DATE-KVER (with --quick:
# build/bench/results/DATE-KVER-quick, so that smoke checks leave the
# source tree alone).  The guest's logs and raw measurements stay in
# build/bench/DATE-KVER/.
#
#   --quick       tiny and fast, for smoke checks: a 32 MiB ramdisk, 1
#                 round of 1 s per job, no ramp, tcrypt in cycle mode,
#                 interleaved slices for 2 s per job
#   --rounds N    rounds; each runs the jobs in a new random order, and
#                 each job on every device back to back in a new random
#                 order (10)
#   --runtime S   seconds per fio run, after a ramp (3)
#   --ramp S      seconds of fio ramp before each run (1)
#   --size MIB    size of the ramdisk all devices share, a power of two
#                 >= 16 (256)
#   --tcrypt-sec S  tcrypt mode=500 seconds per test; 0 = cycle counts
#                 (1; mode 500 has ~360 tests, so ~6 min of guest time)
#   --interleave S  then each job for about S seconds on the devices the
#                 targets compare (dm-crypt default and tuned, a second
#                 tuned table as a control, dm-cmk 4096 with 4 and 4096
#                 extents), alternating between them every 50-500 ms
#                 (bench/cmk-interleave); the report judges the targets on
#                 these ratios, which the host's slow swings cancel out
#                 of; 0 skips it (60)
#   --devices LIST  comma-separated device ids to measure (default: all):
#                 raw crypt_default crypt_tuned cmk512 cmk4096 cmk4096_x4096
#   --jobs LIST   comma-separated fio job ids to run (default: all):
#                 randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1
#                 randwrite-4k-qd32 seqread-1m-qd8 seqwrite-1m-qd8
#   --no-tcrypt   skip the cipher ceiling (tcrypt) measurement
#   --no-x16384   skip the 16384-extent table load measurement
#   --profile     then each job once more on each device under perf
#                 (cpu-clock sampling); the report lists the hottest
#                 kernel symbols per job and device
#   --out DIR     where the report goes (see above)
#   -k KVER       the kernel to build for and boot
#
# The subset options are for iterating on a change: the report then says
# "–" or "not measured" where a ratio or section needs what was left out.
# Absolute speeds under TCG mean nothing; ratios within one run do.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

# usage: the synopsis (lines 4 to 6 of this file) and the options.
usage() {
	sed -n '4,6p; 7s/.*//p; /^#   --quick/,/^#   -k/p' "$0" |
		sed 's/^# \{0,1\}//' >&2
	exit 2
}

# shellcheck source=bench/bench-ids.sh
. bench/bench-ids.sh

quick=0 rounds='' runtime='' ramp='' size='' tsec='' il='' out='' kver=''
devices=${BENCH_DEVICES// /,} jobs=${BENCH_JOBS// /,} tcrypt=1 x16384=1
profile=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; shift; continue ;;
	--no-tcrypt) tcrypt=0; shift; continue ;;
	--no-x16384) x16384=0; shift; continue ;;
	--profile) profile=1; shift; continue ;;
	-h | --help) usage ;;
	esac
	[ $# -ge 2 ] || usage
	case $1 in
	--rounds) rounds=$2 ;;
	--runtime) runtime=$2 ;;
	--ramp) ramp=$2 ;;
	--size) size=$2 ;;
	--tcrypt-sec) tsec=$2 ;;
	--interleave) il=$2 ;;
	--devices) devices=$(bench_pick "$1" "$2" "$BENCH_DEVICES") || exit 2 ;;
	--jobs) jobs=$(bench_pick "$1" "$2" "$BENCH_JOBS") || exit 2 ;;
	--out) out=$2 ;;
	-k) kver=$2 ;;
	*) usage ;;
	esac
	shift 2
done
if [ "$quick" = 1 ]; then
	rounds=${rounds:-1} runtime=${runtime:-1} ramp=${ramp:-0}
	size=${size:-32} tsec=${tsec:-0} il=${il:-2}
else
	rounds=${rounds:-10} runtime=${runtime:-3} ramp=${ramp:-1}
	size=${size:-256} tsec=${tsec:-1} il=${il:-60}
fi
for v in "$rounds" "$runtime" "$ramp" "$size" "$tsec" "$il"; do
	case $v in '' | *[!0-9]*) usage ;; esac
done

kver=${kver:-$(scripts/kvers.sh all | tail -n 1)}
if [ -z "$kver" ]; then
	echo "bench: no kernel with headers and an image (scripts/deps.sh)" >&2
	exit 2
fi

echo "bench: building dm-cmk for $kver" >&2
scripts/kbuild.sh "$kver" >/dev/null
make -s lib bench-tools

stamp=$(date +%Y%m%d-%H%M%S)
vmout=$repo/build/bench/$stamp-$kver
if [ -z "$out" ]; then
	if [ "$quick" = 1 ]; then
		out=build/bench/results/$stamp-$kver-quick
	else
		out=bench/results/$stamp-$kver
	fi
fi
mkdir -p "$vmout"

# Guest size: the ramdisk (filled), the 16384-extent table and room for
# the rest.  Time limit: the runs with
# slack for fio's start-up, tcrypt, the fill and the set-up, generously
# (TCG on a busy host is slow).
IFS=, read -r -a dl <<<"$devices"
IFS=, read -r -a jl <<<"$jobs"
ndev=${#dl[@]} njobs=${#jl[@]}
mem=$((1024 + size))
[ "$mem" -ge 2048 ] || mem=2048
runs=$((rounds * ndev * njobs))
tmo=$((900 + runs * (runtime + ramp + 10) + tcrypt * tsec * 400 +
	size / 3 + profile * ndev * njobs * (runtime + ramp + 30) +
	njobs * (il * 2 + 30)))
guest_opts=(--devices "$devices" --jobs "$jobs")
[ "$tcrypt" = 1 ] || guest_opts+=(--no-tcrypt)
[ "$x16384" = 1 ] || guest_opts+=(--no-x16384)
[ "$profile" = 0 ] || guest_opts+=(--profile)

start=$SECONDS
rc=0
tests/vm/run-vm.sh -k "$kver" -o "$vmout" -m "$mem" -t "$tmo" -- \
	keyctl session - bench/bench-guest.sh --out "$vmout" \
	--rounds "$rounds" --runtime "$runtime" --ramp "$ramp" \
	--size "$size" --tcrypt-sec "$tsec" --interleave "$il" \
	"${guest_opts[@]}" \
	2> >(tee "$vmout/run-vm.log" >&2) || rc=$?
secs=$((SECONDS - start))
if [ ! -s "$vmout/results.json" ]; then
	echo "bench: FAIL: no results (run-vm exit $rc); logs in $vmout" >&2
	exit 1
fi

accel=$(sed -n "s/^run-vm: [^,]*, \([a-z]*\).*/\1/p" "$vmout/run-vm.log" |
	head -n 1)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
/usr/bin/python3 bench/report.py \
	--meta "date=$(date -u +%Y-%m-%dT%H:%MZ)" \
	--meta "command=bench/bench.sh${args[*]:+ ${args[*]}}" \
	--meta "host=$(hostname), $cpu, $(nproc) CPUs, Linux $(uname -r)" \
	--meta "accel=${accel:-?}" \
	--meta "guest_seconds=$secs" \
	--meta "guest_mem_mib=$mem" \
	"$vmout/results.json" "$out"

cat "$out/report.md"
echo
echo "bench: $out/{results.json,report.md,chart.png}; guest logs in $vmout; $secs s" >&2
if [ "$rc" != 0 ]; then
	echo "bench: FAIL: run-vm exit $rc (see $vmout/run-vm.log)" >&2
	exit 1
fi
