#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-extended.sh (make check-extended): the long matrices that
# scripts/check.sh only samples.  Needs a build (make all).
#
#  - swap soak (tests/vm/swap-soak.sh): swap on cmk, then on dm-crypt, under
#    a memory hog and fio verify in a 384 MiB guest, CMK_SOAK_SECS seconds
#    each (default 300), on every installed kernel (check.sh: 45 s, newest
#    kernel only).
#  - KEK rotation on a failing device (tests/kernel/kek_crash_vm.sh): the
#    header device turned into dm-flakey drop_writes / error_writes at
#    every one of the rotation's 8 header events, on every installed kernel
#    (check.sh: events 1, 4, 5 and 8).
#
# Counts every TAP test point and ends with "N passed, N failed,
# N skipped"; exits non-zero if anything failed.  Environment: CMK_KVERS
# (kernels, default all installed), CMK_SOAK_SECS.
set -u
cd "$(dirname "$0")/.." || exit 1

results=build/results-extended
rm -rf "$results"
mkdir -p "$results"
pass=0 fail=0 skipped=0

# count NAME FILE: add up the TAP test points of FILE.
count() {
	local p f s
	p=$(grep -cE '^ok ' "$2")
	s=$(grep -cE '^ok .*# (SKIP|skip)' "$2")
	f=$(grep -cE '^not ok ' "$2")
	p=$((p - s))
	[ $((p + f + s)) -gt 0 ] || f=1
	grep -E '^not ok ' "$2" | sed "s|^|[$1] |"
	grep -E '^# .*(cmk|crypt): [0-9]+ s, ' "$2" | sed "s|^|[$1] |"
	echo "# $1: $p passed, $f failed, $s skipped"
	pass=$((pass + p)) fail=$((fail + f)) skipped=$((skipped + s))
}

for k in ${CMK_KVERS:-$(scripts/kvers.sh all)}; do
	echo "== swap soak on $k (${CMK_SOAK_SECS:-300} s per target)"
	tests/vm/swap-soak.sh -k "$k" -s "${CMK_SOAK_SECS:-300}" \
		-o "$(pwd)/$results/swap-soak-$k" >"$results/swap-soak-$k.tap" 2>&1
	rc=$?
	count "$k/swap-soak" "$results/swap-soak-$k.tap"
	if [ "$rc" != 0 ] && ! grep -q '^not ok' "$results/swap-soak-$k.tap"; then
		echo "not ok - $k/swap-soak: exited $rc without a failing test point"
		fail=$((fail + 1))
	fi
done

for k in ${CMK_KVERS:-$(scripts/kvers.sh all)}; do
	echo "== KEK rotation at every header event on $k"
	dir=$(pwd)/$results/kek-crash-$k
	tests/vm/run-vm.sh -k "$k" -o "$dir" -t 1500 -- env CMK_CRASH_EVENTS=all \
		tests/kernel/run-tests.sh "$dir/tap" kek_crash_vm >"$dir.log" 2>&1
	rc=$?
	for f in "$dir"/tap/*.tap; do
		[ -e "$f" ] && count "$k/$(basename "$f" .tap)" "$f"
	done
	if [ "$rc" != 0 ] && ! grep -qs '^not ok' "$dir"/tap/*.tap; then
		echo "not ok - $k/kek-crash: guest exited $rc without a failing test point (see $dir.log)"
		fail=$((fail + 1))
	fi
done

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
