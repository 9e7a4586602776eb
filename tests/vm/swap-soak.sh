#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# swap-soak.sh [-k KVER] [-s SECONDS] [-m MEM_MB] [-o DIR] [-t TARGETS]
#
# Forward progress under memory pressure (issue 13, item 7): boots KVER
# (default: the newest installed) with MEM_MB of memory (384) and a fresh
# 1 GiB disk image in DIR (build/swap-soak/KVER), and runs
# tests/kernel/swap_soak.sh there: swap on a cmk device, then on a dm-crypt
# device for comparison (TARGETS, default "cmk crypt"), each under a memory
# hog and fio verify for SECONDS (60).  TAP on stdout: the test's points,
# then one for its kernel log and one for the guest.  Exit 0 when all
# pass.  scripts/check.sh samples it (45 s, newest kernel); `make
# check-extended` runs it for 5 minutes per target on every kernel.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2

usage() {
	sed -n '4p' "$0" | sed 's/^# /usage: /' >&2
	exit 2
}

kver='' secs=60 mem=384 dir='' targets='cmk crypt'
while getopts k:s:m:o:t:h opt; do
	case $opt in
	k) kver=$OPTARG ;;
	s) secs=$OPTARG ;;
	m) mem=$OPTARG ;;
	o) dir=$OPTARG ;;
	t) targets=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 0 ] || usage
case $secs in '' | *[!0-9]*) usage ;; esac
kver=${kver:-$(scripts/kvers.sh all | tail -n 1)}
dir=${dir:-$repo/build/swap-soak/$kver}
mkdir -p "$dir/tap" && dir=$(cd "$dir" && pwd) || exit 2
rm -f "$dir"/tap/* "$dir/disk.img"
truncate -s 1G "$dir/disk.img" || exit 2

ntargets=$(wc -w <<<"$targets")
tests/vm/run-vm.sh -k "$kver" -o "$dir" -m "$mem" -d "$dir/disk.img" \
	-t $(((secs + 300) * ntargets + 300)) -- \
	env CMK_SOAK_DISK=/dev/vda CMK_SOAK_SECS="$secs" \
	CMK_SOAK_TARGETS="$targets" \
	tests/kernel/run-tests.sh "$dir/tap" swap_soak >"$dir/run-vm.log" 2>&1
vmrc=$?
rm -f "$dir/disk.img"

# One TAP stream: the test's points, its kernel log, the guest; renumbered.
fail=0
{
	if [ -s "$dir/tap/swap_soak.tap" ]; then
		grep -Ev '^(TAP version|1\.\.)' "$dir/tap/swap_soak.tap"
	else
		echo "not ok - swap_soak wrote no TAP"
	fi
	if [ -s "$dir/tap/swap_soak.klog.tap" ]; then
		cat "$dir/tap/swap_soak.klog.tap"
	else
		echo "not ok - kernel log clean during swap_soak (not checked)"
	fi
	if [ "$vmrc" = 0 ] || [ "$vmrc" = 4 ]; then
		echo "ok - $kver: guest ($mem MiB) ran to the end with a clean kernel log"
	else
		echo "not ok - $kver: guest ($mem MiB) failed (run-vm exit $vmrc); logs in $dir"
		sed 's/^/# /' "$dir/run-vm.log"
	fi
} >"$dir/all.tap"
awk 'BEGIN { print "TAP version 13" }
	/^(not )?ok / { n++; sub(/^ok [0-9]* ?-?/, "ok " n " -"); sub(/^not ok [0-9]* ?-?/, "not ok " n " -") }
	{ lines[NR] = $0 } END { print "1.." n; for (i = 1; i <= NR; i++) print lines[i] }' "$dir/all.tap"
grep -q '^not ok' "$dir/all.tap" && fail=1
[ "$(cat "$dir/tap/swap_soak.rc" 2>/dev/null)" = 0 ] || fail=1
exit $fail
