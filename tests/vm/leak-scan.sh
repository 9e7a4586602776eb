#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# leak-scan.sh [-k KVER] [-o DIR] [-t TIMEOUT_S] [-m MEM_MB]
#
# The guest memory leak scan: tests/kernel/leak_scan.sh in a guest booted
# with a QMP socket (tests/vm/run-vm.sh -q), and tests/vm/memscan.py on the
# host dumping the guest's physical memory and searching it whenever the
# guest asks (see both for what is searched and when).  One boot, with
# MEM_MB of memory (default 512: every scan reads all of it).
#
# Before the boot, on the host: a vault (scripts/cmk-vault-softhsm) and a
# 64 MiB volume of 16 MiB extents formatted with cmkctl on a disk image
# that the guest sees as /dev/vda, and the volume's DEKs unwrapped by
# build/tests/host/tools/leak_deks into a host scratch directory (mode
# 0700, under /var/tmp), where the memory dumps go too, one at a time.
# The guest opens the volume with cmkctl; it makes the keys of its other
# devices itself, as two random shares each in DIR/leak, the directory
# memscan.py watches.  DIR/leak (the shares) and the scratch (the vault)
# directory are deleted at the end, whatever happens; DIR keeps the scan
# results (DIR/scans/dump-result-N: counts and addresses, no key byte),
# memscan.log, run-vm.log and the guest's logs.
#
# TAP on stdout: memscan.py's self-test, the guest test's points, then
# "kernel log clean during the test" and "guest ran to the end with a
# clean kernel log".  Exit 0
# all passed, 1 a failure, 4 skipped (not built, or no QEMU), 2 usage.
# DIR defaults to build/leak-scan/KVER; KVER to the newest kernel.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

usage() {
	sed -n '4p' "$0" | sed 's/^# /usage: /' >&2
	exit 2
}

kver='' dir='' tmo=900 mem=512
while getopts k:o:t:m:h opt; do
	case $opt in
	k) kver=$OPTARG ;;
	o) dir=$OPTARG ;;
	t) tmo=$OPTARG ;;
	m) mem=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 0 ] || usage
kver=${kver:-$(scripts/kvers.sh all | tail -n 1)}
dir=${dir:-$repo/build/leak-scan/$kver}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 4
}
for f in build/userspace/cmkctl build/tests/leak_addkey \
	build/tests/host/tools/leak_deks build/tests/host/tools/memscan_find \
	"build/kernel/$kver/dm-cmk.ko"; do
	[ -e "$f" ] || skip_all "$f not built (make tests)"
done
for f in /usr/bin/qemu-system-x86_64 /usr/lib/softhsm/libsofthsm2.so /usr/bin/python3; do
	[ -e "$f" ] || skip_all "$f not installed"
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
leak=$dir/leak
scratch=$(mktemp -d /var/tmp/cmk-leak.XXXXXX)
scanpid=''
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$scanpid" ] && kill -0 "$scanpid" 2>/dev/null; then
		kill "$scanpid"
		wait "$scanpid" || :
	fi
	rm -rf "$scratch" "$leak"
}
trap cleanup EXIT
rm -rf "$leak" "$dir/scans" "$dir/tap"
mkdir -m 700 "$leak"
mkdir -p "$dir/scans" "$dir/tap"

bail() {
	echo "1..1"
	echo "not ok 1 - leak scan set-up: $*"
	exit 1
}

# The scanner's own check: its AES-256 schedules against FIPS-197, its
# search against Python's.
selftest=0
/usr/bin/python3 "$here/memscan.py" --self-test \
	--finder build/tests/host/tools/memscan_find >"$scratch/selftest.out" 2>&1 ||
	selftest=$?

# The volume, made on the host.
export CMK_STATE_DIR=$scratch/state
kek="pkcs11:token=cmk;object=cmk-kek;id=%01;type=private"
scripts/cmk-vault-softhsm create "$scratch/vault" >"$scratch/vault.out" 2>&1 ||
	bail "cmk-vault-softhsm create: $(cat "$scratch/vault.out")"
export SOFTHSM2_CONF=$scratch/vault/softhsm2.conf
truncate -s 64M "$scratch/disk.img"
build/userspace/cmkctl format "$scratch/disk.img" --kek "$kek" \
	--pin-file "$scratch/vault/pin" -e 16M >"$scratch/format.out" 2>&1 ||
	bail "cmkctl format: $(cat "$scratch/format.out")"
build/tests/host/tools/leak_deks "$scratch/disk.img" "$kek" "$scratch/vault/pin" \
	"$scratch/volume.deks" >"$scratch/deks.out" 2>&1 ||
	bail "leak_deks: $(cat "$scratch/deks.out")"

# The scanner, then the guest.
/usr/bin/python3 "$here/memscan.py" --qmp "$scratch/qmp.sock" --dir "$leak" \
	--scratch "$scratch" --keys "volume=$scratch/volume.deks" \
	--finder build/tests/host/tools/memscan_find \
	2>"$dir/memscan.log" &
scanpid=$!
start=$SECONDS
vmrc=0
tests/vm/run-vm.sh -k "$kver" -o "$dir" -t "$tmo" -m "$mem" -c 2 \
	-q "$scratch/qmp.sock" -d "$scratch/disk.img" -- \
	env CMK_LEAK_DIR="$leak" CMK_LEAK_VAULT="$scratch/vault" CMK_LEAK_DISK=/dev/vda \
	tests/kernel/run-tests.sh "$dir/tap" leak_scan >"$dir/run-vm.log" 2>&1 || vmrc=$?
elapsed=$((SECONDS - start))
# memscan.py ends once QEMU has closed the socket.
scanrc=0
for _ in $(seq 50); do
	kill -0 "$scanpid" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "$scanpid" 2>/dev/null; then
	kill "$scanpid"
	scanrc=124
fi
wait "$scanpid" || scanrc=$?
scanpid=''
for f in "$leak"/dump-result-*; do
	[ -e "$f" ] && mv "$f" "$dir/scans/"
done

# TAP: the guest test's points, renumbered, then the two about the guest.
tap=$dir/tap/leak_scan.tap
trc=$(cat "$dir/tap/leak_scan.rc" 2>/dev/null || echo none)
# Here the scanner is running and everything the guest test needs is
# built: a skip means the scanner never got ready, a failure.
if [ "$trc" = 4 ]; then
	echo "1..1"
	echo "not ok 1 - leak scan: the guest test skipped ($(grep -m1 SKIP "$tap"))"
	awk '{ print "# " $0 }' "$dir/memscan.log"
	exit 1
fi
n=0
[ -f "$tap" ] && n=$(awk '/^(not )?ok [0-9]/ { n++ } END { print n + 0 }' "$tap")
echo "TAP version 13"
echo "1..$((n + 3))"
if [ "$selftest" = 0 ]; then
	echo "ok 1 - memscan.py --self-test: $(sed 's/^memscan: self-test: //' "$scratch/selftest.out" | paste -sd ';' | sed 's/;/; /g')"
else
	echo "not ok 1 - memscan.py --self-test (exit $selftest)"
	sed 's/^/# /' "$scratch/selftest.out"
fi
[ -f "$tap" ] && awk '
	/^(not )?ok [0-9]+/ { i++; sub(/ok [0-9]+/, "ok " i + 1); print; next }
	/^TAP version|^1\.\./ { next }
	/^#/ { print; next }
	{ print "# " $0 }' "$tap"
if [ "$(cat "$dir/tap/leak_scan.klog.rc" 2>/dev/null || echo 1)" = 0 ]; then
	echo "ok $((n + 2)) - kernel log clean during the test"
else
	echo "not ok $((n + 2)) - kernel log clean during the test"
	[ -f "$dir/tap/leak_scan.klog.tap" ] && sed 's/^/# /' "$dir/tap/leak_scan.klog.tap"
fi
if [ "$vmrc" = 0 ] && [ "$scanrc" = 0 ]; then
	echo "ok $((n + 3)) - guest ran to the end with a clean kernel log (${elapsed} s, memscan exit 0)"
else
	echo "not ok $((n + 3)) - guest ran to the end with a clean kernel log"
	echo "# run-vm exit $vmrc, memscan exit $scanrc, test exit $trc; logs in $dir"
	tail -n 5 "$dir/run-vm.log" | sed 's/^/# /'
	tail -n 5 "$dir/memscan.log" | sed 's/^/# /'
fi
awk '/^memscan: .*scan [0-9]/ { print "# " $0 }' "$dir/memscan.log"
if [ "$selftest" = 0 ] && [ "$trc" = 0 ] && [ "$vmrc" = 0 ] && [ "$scanrc" = 0 ] &&
	[ "$(cat "$dir/tap/leak_scan.klog.rc")" = 0 ]; then
	exit 0
fi
exit 1
