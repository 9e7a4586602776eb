#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the guest-side shell tests: TAP output, loop devices, keys and
# cmk mappings.  Sourced by tests/kernel/*.sh, which run as root in a guest
# with dm-cmk loaded, each in its own session keyring.

CMK_REPO=${CMK_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CMK_TMP=$(mktemp -d /tmp/cmktest.XXXXXX)
CMK_TAG=t$$
CMK_DEVS=()
CMK_LOOPS=()

_tap_n=0
_tap_fail=0
_tap_planned=0

# tap_plan N: print the TAP header for N test points.
tap_plan() {
	_tap_planned=$1
	echo "TAP version 13"
	echo "1..$1"
}

# ok DESC / not_ok DESC [DIAG...]: one test point.
ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1"
}

not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_fail=$((_tap_fail + 1))
	echo "not ok $_tap_n - $1"
	shift
	local l
	for l in "$@"; do
		echo "# $l"
	done
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

diag() {
	echo "# $*"
}

# check DESC CMD...: a test point that passes when CMD succeeds.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "command failed: $*" "$out"
	fi
}

# check_fails DESC CMD...: passes when CMD fails.
check_fails() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		not_ok "$desc" "command unexpectedly succeeded: $*" "$out"
	else
		ok "$desc"
	fi
}

# tap_done: close the plan; exit 1 on any failure or a plan mismatch.
tap_done() {
	if [ "$_tap_n" != "$_tap_planned" ]; then
		echo "# planned $_tap_planned test points, ran $_tap_n"
		_tap_fail=$((_tap_fail + 1))
	fi
	echo "# $((_tap_n - _tap_fail)) passed, $_tap_fail failed"
	[ "$_tap_fail" = 0 ]
}

# now: wall-clock seconds with fractions.
now() {
	date +%s.%N
}

# elapsed_ok START END LIMIT: END - START <= LIMIT (floats).
elapsed_le() {
	awk -v s="$1" -v e="$2" -v l="$3" 'BEGIN { exit !((e - s) <= l) }'
}

# dm_node NAME: block device node of a dm device (udev or not).
dm_node() {
	local blk

	if [ -b "/dev/mapper/$1" ]; then
		echo "/dev/mapper/$1"
		return 0
	fi
	blk=$(dmsetup info -c --noheadings -o blkdevname "$1" 2>/dev/null) || return 1
	[ -b "/dev/$blk" ] || dmsetup mknodes "$1" >/dev/null 2>&1
	if [ -b "/dev/$blk" ]; then
		echo "/dev/$blk"
	else
		echo "/dev/mapper/$1"
	fi
}

# dm_sysfs NAME: /sys/block/dm-N of a dm device.
dm_sysfs() {
	echo "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")"
}

# new_loop SIZE_MB [losetup options...]: a loop device over a sparse tmpfs
# file; prints its node.
new_loop() {
	local size=$1 f dev
	shift
	f=$(mktemp "$CMK_TMP/backing.XXXXXX")
	truncate -s "${size}M" "$f"
	dev=$(losetup -f --show "$@" "$f") || return 1
	CMK_LOOPS+=("$dev")
	echo "$dev"
}

# add_keys PREFIX N [SIZE [TYPE]]: N random keys PREFIX0..PREFIX(N-1) in
# the session keyring; bytes go from /dev/urandom to keyctl on a pipe.
add_keys() {
	local prefix=$1 n=$2 size=${3:-64} type=${4:-logon} i
	for ((i = 0; i < n; i++)); do
		head -c "$size" /dev/urandom |
			keyctl padd "$type" "$prefix$i" @s >/dev/null || return 1
	done
}

# add_keys_saved PREFIX N DIR: like add_keys, but keeps the key bytes in
# DIR/key.I (mode 600, on tmpfs) so tests can look for leaks.
add_keys_saved() {
	local prefix=$1 n=$2 dir=$3 i
	mkdir -p -m 700 "$dir"
	for ((i = 0; i < n; i++)); do
		(umask 077; head -c 64 /dev/urandom >"$dir/key.$i")
		keyctl padd logon "$prefix$i" @s <"$dir/key.$i" >/dev/null || return 1
	done
}

# drop_keys PREFIX N: unlink PREFIX0.. from the session keyring.
drop_keys() {
	local prefix=$1 n=$2 i id
	for ((i = 0; i < n; i++)); do
		id=$(keyctl search @s logon "$prefix$i" 2>/dev/null) &&
			keyctl invalidate "$id" >/dev/null 2>&1
	done
	return 0
}

# settle: wait for udev to finish with the devices just created, so that
# their /dev/mapper nodes exist.  A failure is said (a TAP diagnostic on
# standard output) and returned, never swallowed: a test that then misses
# a node must show why.
settle() {
	local rc=0
	udevadm settle --timeout=60 || rc=$?
	[ $rc = 0 ] || echo "# udevadm settle failed (exit $rc): device nodes may be missing"
	return $rc
}

# cmk_create NAME LEN ARGS...: create a cmk mapping "0 LEN cmk ARGS".
cmk_create() {
	local name=$1 len=$2
	shift 2
	dmsetup create "$name" --table "0 $len cmk $*" || return 1
	CMK_DEVS+=("$name")
	settle
}

# cmk_field NAME N: field N (1-based) of the cmk status line.
cmk_field() {
	dmsetup status "$1" | awk -v f="$2" '{ print $(3 + f) }'
}

# dm_remove NAME: remove a mapping, retrying while udev holds it.
dm_remove() {
	local i
	for i in 1 2 3 4 5; do
		dmsetup remove "$1" >/dev/null 2>&1 && return 0
		udevadm settle >/dev/null 2>&1 || sleep 0.2
	done
	dmsetup remove --force "$1" >/dev/null 2>&1
}

# direct_read DEV SKIP COUNT BS: read with O_DIRECT to stdout.
direct_read() {
	dd if="$1" bs="$4" skip="$2" count="$3" iflag=direct status=none
}

# direct_write DEV SEEK COUNT BS < data
direct_write() {
	dd of="$1" bs="$4" seek="$2" count="$3" oflag=direct conv=notrunc \
		status=none iflag=fullblock
}

# kmsg_mark / kmsg_since MARK: kernel log lines written after the mark.
kmsg_mark() {
	dmesg | wc -l
}

kmsg_since() {
	dmesg | tail -n +"$(($1 + 1))"
}

# kmsg_bad TEXT: does TEXT show a kernel warning, oops or similar?
kmsg_bad() {
	grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|blocked for more than' <<<"$1"
}

# kmsg_clean_ok: a test point, the whole kernel log has no warning, oops
# or hung task.
kmsg_clean_ok() {
	local bad
	if bad=$(kmsg_bad "$(dmesg)"); then
		not_ok "no warning, oops or hung task in the kernel log" "$bad"
	else
		ok "no warning, oops or hung task in the kernel log"
	fi
}

# vault_serve DIR: a test point, the embedded vault created in DIR and
# served by p11-kit server; its settings (CMK_KEK_URI_REMOTE,
# P11_KIT_SERVER_ADDRESS, SOFTHSM2_CONF, ...) set and exported.
vault_serve() {
	local out
	out=$("$CMK_REPO/scripts/cmk-vault-softhsm" create "$1" 2>&1) &&
		eval "$(grep -v '^#' <<<"$out")" &&
		out=$("$CMK_REPO/scripts/cmk-vault-softhsm" serve "$1" 2>>"$CMK_TMP/vault.err") &&
		eval "$(grep -v '^#' <<<"$out")"
	if [ -n "${CMK_KEK_URI_REMOTE:-}" ] && [ -n "${P11_KIT_SERVER_ADDRESS:-}" ]; then
		ok "setup: vault created and served by p11-kit server"
	else
		not_ok "setup: vault created and served by p11-kit server" "$out"
	fi
	export P11_KIT_SERVER_ADDRESS SOFTHSM2_CONF
}

# cmkd_field SOCK NAME FIELD: a scalar field of cmkd's view of volume NAME
# ("" if none), from cmkctl status (grep, not python: a process start
# costs a second under TCG).
cmkd_field() {
	"$CMK_REPO/build/userspace/cmkctl" status "$2" --json --socket "$1" 2>/dev/null |
		sed 's/.*"cmkd"://' |
		grep -o "\"$3\":\(\"[^\"]*\"\|[^,}]*\)" | head -n 1 |
		sed "s/^\"$3\"://; s/^\"//; s/\"\$//; s/^null\$//"
}

# cmkd_wait SOCK NAME FIELD VALUE SECS: until cmkd reports it; prints the
# seconds it took.
cmkd_wait() {
	local t0 i
	t0=$(now)
	for ((i = 0; i < $5 * 4; i++)); do
		if [ "$(cmkd_field "$1" "$2" "$3")" = "$4" ]; then
			awk -v s="$t0" -v e="$(now)" 'BEGIN { printf "%.2f\n", e - s }'
			return 0
		fi
		sleep 0.25
	done
	return 1
}

cmk_cleanup() {
	local d
	for d in "${CMK_DEVS[@]}"; do
		dmsetup info "$d" >/dev/null 2>&1 && dm_remove "$d"
	done
	for d in "${CMK_LOOPS[@]}"; do
		losetup -d "$d" >/dev/null 2>&1
	done
	rm -rf "$CMK_TMP"
}
trap cmk_cleanup EXIT
