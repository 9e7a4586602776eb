#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-tests.sh OUTDIR [TEST...]: guest side of the VM test suite.  Loads
# dm-cmk for the running kernel and runs each test (default: all, in the
# order below) in its own session keyring, with a time limit.  Each test's
# TAP output goes to OUTDIR/NAME.tap and its exit code to OUTDIR/NAME.rc;
# a one-line summary per test goes to stdout.

set -u
cd "$(dirname "$0")/../.." || exit 1
repo=$(pwd)
out=${1:?usage: $0 OUTDIR [TEST...]}
shift
mkdir -p "$out"

# swap_soak is not in the list: it needs the small guest and the disk that
# tests/vm/swap-soak.sh gives it.  async_cipher and module_reload reload
# the module, so they come last.
ALL="cmk_io_test libcmk_dm_test malformed_tables keys_lease wipe_inflight discard fio_verify doc_examples cmkctl_vm cmkd_vm kek_rotate_vm kek_crash_vm rebind_vm cmkd_slow_open async_cipher module_reload"
tests=${*:-$ALL}

# Process substitution needs /dev/fd, which only udev or systemd make.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

for m in dm_mod dm_crypt loop; do
	modprobe "$m" 2>/dev/null
done
ko=$repo/build/kernel/$(uname -r)/dm-cmk.ko
if ! grep -q '^dm_cmk ' /proc/modules && ! insmod "$ko"; then
	echo "error: cannot load $ko" >&2
	for t in $tests; do
		echo "not ok 1 - $t: dm-cmk.ko did not load" >"$out/$t.tap"
		echo 1 >"$out/$t.rc"
	done
	exit 1
fi
export CMK_REPO=$repo CMK_KO=$ko

for t in $tests; do
	if [ -x "tests/kernel/$t.sh" ]; then
		cmd=("tests/kernel/$t.sh")
	else
		cmd=("build/tests/$t")
	fi
	# Each test's kernel messages are checked on their own, so that a
	# warning fails the test that caused it (the console log keeps all).
	dmesg -C
	start=$(date +%s)
	# cmkd_vm goes through seven causes of key loss, ~40 s each under TCG.
	tmo=600
	[ "$t" = cmkd_vm ] && tmo=900
	# swap_soak: CMK_SOAK_SECS per target, and slow swapoffs.
	[ "$t" = swap_soak ] && tmo=$(((${CMK_SOAK_SECS:-60} + 300) * 2 + 120))
	timeout -k 10 "$tmo" keyctl session - "${cmd[@]}" >"$out/$t.tap" 2>&1
	rc=$?
	echo "$rc" >"$out/$t.rc"
	dmesg >"$out/$t.kmsg"
	if bad=$(tests/vm/check-log.sh "$out/$t.kmsg" 2>&1); then
		echo "ok 1 - kernel log clean during $t" >"$out/$t.klog.tap"
		echo 0 >"$out/$t.klog.rc"
	else
		{
			echo "not ok 1 - kernel log clean during $t"
			sed 's/^/# /' <<<"$bad"
		} >"$out/$t.klog.tap"
		echo 1 >"$out/$t.klog.rc"
	fi
	echo "test $t: exit $rc in $(($(date +%s) - start)) s"
done
exit 0
