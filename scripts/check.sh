#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh: the whole test suite (make check).  Lint, host-side tests, then
# the VM tests on every installed kernel, each kernel's batch in one guest
# boot, and the guest memory leak scan in one more (512 MiB) boot per
# kernel.  Counts every TAP test point and ends with "N passed, N failed,
# N skipped"; exits non-zero if anything failed.
#
# Environment: CMK_KVERS (kernels to boot, default all installed),
# CMK_VM_TIMEOUT (seconds per guest, default 1500), CMK_VM_TESTS (subset;
# the leak scan runs when it is unset or names leak_scan).
set -u
cd "$(dirname "$0")/.." || exit 1

echo "== dependencies"
scripts/deps.sh || exit 1

results=build/results
rm -rf "$results"
mkdir -p "$results"

pass=0
fail=0
skipped=0

# count NAME FILE RC: add up the TAP test points of FILE (exit code RC).
count() {
	local name=$1 file=$2 rc=$3 p f s
	p=$(grep -cE '^ok ' "$file" 2>/dev/null)
	s=$(grep -cE '^ok .*# (SKIP|skip)' "$file" 2>/dev/null)
	f=$(grep -cE '^not ok ' "$file" 2>/dev/null)
	p=$((p - s))
	if [ "$rc" = 4 ] && [ "$p" = 0 ] && [ "$f" = 0 ]; then
		s=$((s + 1))
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
		echo "not ok - $name: exited $rc without a failing test point"
	elif [ "$rc" = 0 ] && [ $((p + s + f)) = 0 ]; then
		f=1
		echo "not ok - $name: ran no test"
	fi
	grep -E '^not ok ' "$file" 2>/dev/null | sed "s|^|[$name] |"
	echo "# $name: $p passed, $f failed, $s skipped"
	pass=$((pass + p))
	fail=$((fail + f))
	skipped=$((skipped + s))
}

echo "== lint"
scripts/lint.sh >"$results/lint.tap" 2>&1
count lint "$results/lint.tap" $?

echo "== build"
if ! make -s all >"$results/build.log" 2>&1; then
	cat "$results/build.log"
	echo "not ok - build"
	fail=$((fail + 1))
fi

echo "== host tests"
for t in build/tests/host/*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=host/$(basename "$t")
	"$t" >"$results/$(basename "$t").tap" 2>&1
	count "$name" "$results/$(basename "$t").tap" $?
done

# Bounded fuzzing of the header decoder (libFuzzer, 30 s).
tests/host/fuzz-header.sh >"$results/fuzz-header.tap" 2>&1
count host/fuzz-header "$results/fuzz-header.tap" $?

# README.md's "Try it by hand", piped into the guest shell (newest kernel).
echo "== quickstart"
tests/vm/quickstart.sh -k "$(scripts/kvers.sh all | tail -n 1)" \
	-o "$(pwd)/$results/quickstart" >"$results/quickstart.tap" 2>&1
count quickstart "$results/quickstart.tap" $?

# make bench end to end on a tiny configuration (newest kernel): that it
# runs and reports, never how fast (bench/smoke.sh).
echo "== bench (quick)"
bench/smoke.sh "$(pwd)/$results/bench" >"$results/bench.tap" 2>&1
count bench "$results/bench.tap" $?

# Forward progress under memory pressure (issue 13, item 7), a sample:
# 45 s of swap on cmk, then on dm-crypt, in a 384 MiB guest (newest
# kernel).  `make check-extended` runs it for 5 minutes on every kernel.
echo "== swap soak (sample)"
k=$(scripts/kvers.sh all | tail -n 1)
tests/vm/swap-soak.sh -k "$k" -s 45 -o "$(pwd)/$results/swap-soak" \
	>"$results/swap-soak.tap" 2>&1
count "$k/swap-soak" "$results/swap-soak.tap" $?

for k in ${CMK_KVERS:-$(scripts/kvers.sh all)}; do
	echo "== VM tests on $k"
	dir=$(pwd)/$results/$k
	mkdir -p "$dir/tap"
	tests/vm/run-vm.sh -k "$k" -o "$dir" -t "${CMK_VM_TIMEOUT:-1500}" -- \
		tests/kernel/run-tests.sh "$dir/tap" ${CMK_VM_TESTS:-}
	vmrc=$?
	cat "$dir/guest.out" 2>/dev/null | grep '^test ' | sed "s|^|[$k] |"
	for rcf in "$dir"/tap/*.rc; do
		[ -e "$rcf" ] || continue
		t=$(basename "$rcf" .rc)
		count "$k/$t" "$dir/tap/$t.tap" "$(cat "$rcf")"
	done
	# The guest itself: it must power off cleanly with a clean log.
	if [ "$vmrc" = 0 ] || [ "$vmrc" = 4 ]; then
		pass=$((pass + 1))
		echo "ok - $k: guest ran to the end with a clean kernel log"
	else
		fail=$((fail + 1))
		echo "not ok - $k: guest failed (run-vm exit $vmrc); logs in $dir"
	fi

	# The host dumps the guest's memory and searches it for the test's
	# keys while they are in use and after each way of letting them go.
	case " ${CMK_VM_TESTS:-leak_scan} " in
	*" leak_scan "*)
		echo "== leak scan on $k"
		tests/vm/leak-scan.sh -k "$k" -o "$dir/leak-scan" \
			>"$results/$k-leak-scan.tap" 2>&1
		count "$k/leak-scan" "$results/$k-leak-scan.tap" $?
		;;
	esac
done

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
