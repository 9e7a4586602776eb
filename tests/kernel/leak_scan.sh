#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# leak_scan: no DEK, and no AES key schedule made from one, is left in the
# guest's memory once a device lets go of its keys.  The guest side of
# tests/vm/leak-scan.sh, which boots the guest with a QMP socket and runs
# tests/vm/memscan.py on the host: each scan here asks it (a request file
# in $CMK_LEAK_DIR, the results share) to dump the guest's whole physical
# memory and count every copy of every test DEK: its two raw 32-byte AES
# halves, each half's encryption and decryption key schedules, and 64-byte
# windows of those schedules (memscan.py lists the patterns).
#
# Four key sets, all in use at the first scan: three dmsetup devices with
# keys made here (two random shares per set, in the results share for the
# host; tests/kernel/leak_addkey.c adds their XOR as logon keys, leaving no
# copy of its own) and a volume the host formatted, opened here with
# cmkctl (the host unwrapped its DEKs for the search itself).  The
# keyring's copies are invalidated once the tables hold the keys.  Then,
# one at a time, with a scan after each: "key wipe" on the first device, a
# lapse of the second's lease (its timeout), "dmsetup remove" of the
# third, "cmkctl close" of the volume.
#
# The first scan is the control: it must find both halves' encryption
# schedules of every key, or the scanner proves nothing, and one copy of
# each pattern per key, no more (a stray copy is a leak in the making).  A
# fifth set, two keys left in the session keyring for no table, must show
# as raw bytes only, one copy each (their payloads): a copy of a key
# outside any schedule is found too.  Those keys are then invalidated, and
# a canary is written into a tmpfs file and deleted: the second scan must
# find it in freed memory, so a key freed without being zeroed would be
# found.  Each later scan must find no byte pattern of any set let go so
# far, and must still find the sets still in use (the control again, in
# the same dump).
#
# A leak is reported with the pattern, the key and the guest physical
# address of each copy, and the page's flags from /proc/kpageflags (slab,
# free buddy page, page cache, anonymous...) as this guest sees them just
# after the dump.  Memory is not compacted nor caches dropped before a
# dump: that would hide copies in free pages; only sync runs.
#
# Environment (from tests/vm/leak-scan.sh): CMK_LEAK_DIR, the directory the
# host watches; CMK_LEAK_VAULT, the vault (softhsm2.conf, pin) of the
# volume on CMK_LEAK_DISK (default /dev/vda).  Without a scanner ready in
# CMK_LEAK_DIR the test skips (exit 4).  Key bytes are never printed.
set -euo pipefail

# shellcheck source=tests/kernel/lib.sh
. "$(dirname "$0")/lib.sh"

LEAK_DIR=${CMK_LEAK_DIR:-}
VAULT=${CMK_LEAK_VAULT:-}
DISK=${CMK_LEAK_DISK:-/dev/vda}
CMKCTL=$CMK_REPO/build/userspace/cmkctl
ADDKEY=$CMK_REPO/build/tests/leak_addkey
SCAN_WAIT=300	# seconds for one dump and search (2 s here under TCG)
LEN=8192	# 4 MiB dmsetup devices
E=4096		# 2 extents of 2 MiB each
VOL=cmklv$CMK_TAG
LEASE=cmk:leaselv$CMK_TAG
SETS=(wipe lease remove volume)

if [ -z "$LEAK_DIR" ] || [ ! -f "$LEAK_DIR/scanner-ready" ]; then
	echo "1..0 # SKIP no memory scanner on the host (run tests/vm/leak-scan.sh)"
	exit 4
fi
for f in "$CMKCTL" "$ADDKEY" "$VAULT/softhsm2.conf" "$VAULT/pin"; do
	if [ ! -e "$f" ]; then
		echo "1..0 # SKIP $f missing"
		exit 4
	fi
done
[ -b "$DISK" ] || { echo "1..0 # SKIP no disk $DISK"; exit 4; }

leak_cleanup() {
	if dmsetup info "$VOL" >/dev/null 2>&1; then
		SOFTHSM2_CONF=$VAULT/softhsm2.conf "$CMKCTL" close "$VOL" >/dev/null 2>&1 ||
			echo "# cleanup: cmkctl close $VOL failed"
	fi
	rm -f "$LEAK_DIR"/keys-*
	cmk_cleanup
}
trap leak_cleanup EXIT

tap_plan 31

# --- scans ------------------------------------------------------------------
SCAN_N=0
RESULT=''

SCANNER_GONE=''

# scan LABEL: a dump and search by the host; RESULT is its result file.
# Fails (with a diagnostic) if none comes in SCAN_WAIT seconds (and then
# the later scans fail at once) or it is an error.
scan() {
	local i

	sync
	SCAN_N=$((SCAN_N + 1))
	RESULT=$LEAK_DIR/dump-result-$SCAN_N
	if [ -n "$SCANNER_GONE" ]; then
		diag "scan $SCAN_N ($1): not asked, the host's scanner stopped answering"
		return 1
	fi
	printf '%s\n' "$1" >"$LEAK_DIR/.dump-request-$SCAN_N" || return 1
	mv "$LEAK_DIR/.dump-request-$SCAN_N" "$LEAK_DIR/dump-request-$SCAN_N" || return 1
	for ((i = 0; i < SCAN_WAIT * 5; i++)); do
		[ -f "$RESULT" ] && break
		sleep 0.2
	done
	if [ ! -f "$RESULT" ]; then
		SCANNER_GONE=1
		diag "scan $SCAN_N ($1): no result from the host in ${SCAN_WAIT} s"
		return 1
	fi
	if grep -q '^error ' "$RESULT" || ! grep -qx end "$RESULT"; then
		diag "scan $SCAN_N ($1): $(grep '^error ' "$RESULT" || echo 'incomplete result')"
		return 1
	fi
	diag "scan $SCAN_N ($1): $(awk '$1 == "dump" { printf "%d MiB of RAM, dump %s s, search %s s", $4 / 1048576, $6, $8 }' "$RESULT")"
}

# nkeys SET: keys of SET in the result (0 if not searched).
nkeys() {
	awk -v s="$1" '$1 == "set" && $2 == s { n = $3 } END { print n + 0 }' "$RESULT"
}

# keys_hit SET CLASS: keys of SET with at least one copy of CLASS.
keys_hit() {
	awk -v s="$1" -v c="$2" '$1 == "count" && $2 == s && $3 == c { n = $5 } END { print n + 0 }' "$RESULT"
}

# hits SET: copies of every pattern of SET, all classes.
hits() {
	awk -v s="$1" '$1 == "count" && $2 == s { n += $4 } END { print n + 0 }' "$RESULT"
}

# found SET: "class keys/N (copies)" for each pattern class found.
found() {
	awk -v s="$1" '$1 == "set" && $2 == s { n = $3 }
		$1 == "count" && $2 == s && $4 > 0 { l = l sprintf(" %s %d/%d (%d)", $3, $5, n, $4) }
		END { print (l == "" ? " nothing" : l) }' "$RESULT"
}

KPF=(locked error referenced uptodate dirty lru active slab writeback
	reclaim buddy mmap anon swapcache swapbacked compound_head
	compound_tail huge unevictable hwpoison nopage ksm thp offline
	zero_page idle pgtable)

# page_flags PADDR: the flags of the page holding guest physical PADDR.
page_flags() {
	local pfn=$(($1 / 4096)) v i out=''

	v=$(od -An -t u8 -j $((pfn * 8)) -N 8 /proc/kpageflags 2>/dev/null | tr -d ' ') || v=''
	[ -n "$v" ] || { echo "unknown"; return 0; }
	for i in "${!KPF[@]}"; do
		(((v >> i) & 1)) && out+="${out:+,}${KPF[$i]}"
	done
	echo "${out:-none (allocated directly, as vmalloc does, or free inside a buddy block)}"
}

# leaks SET...: one diagnostic per copy found of any of the SETs.
leaks() {
	local s key cls pa n=0

	for s in "$@"; do
		while read -r _ _ key cls pa; do
			n=$((n + 1))
			if [ "$pa" = - ]; then
				diag "copy: set $s, key $key, $cls, outside RAM (the dump's ELF notes)"
			else
				diag "copy: set $s, key $key, $cls, at guest physical $pa (offset $((pa % 4096)) in its page; page flags $(page_flags "$pa"))"
			fi
		done < <(awk -v s="$s" '$1 == "hit" && $2 == s' "$RESULT")
	done
	[ "$n" = 0 ] || diag "$n copies listed (at most 64 per set)"
}

# gone SET...: a test point: no copy of any pattern of SETs.
gone() {
	local desc=$1 s bad=''
	shift
	for s in "$@"; do
		if [ "$(nkeys "$s")" = 0 ]; then
			bad+=" $s (not searched)"
		elif [ "$(hits "$s")" != 0 ]; then
			bad+=" $s:$(found "$s")"
		fi
	done
	if [ -z "$bad" ]; then
		ok "$desc"
	else
		not_ok "$desc" "found:$bad"
		leaks "$@"
	fi
}

# present SET...: a test point, the control: both halves' encryption
# schedules of every key of each SET; which patterns were found is said.
present() {
	local desc=$1 s n bad=''
	shift
	for s in "$@"; do
		n=$(nkeys "$s")
		diag "$s: $n keys; found:$(found "$s")"
		if [ "$n" = 0 ] || [ "$(keys_hit "$s" enc0)" != "$n" ] ||
			[ "$(keys_hit "$s" enc1)" != "$n" ]; then
			bad+=" $s"
		fi
	done
	if [ -z "$bad" ]; then
		ok "$desc"
	else
		not_ok "$desc" "an encryption schedule of a key in use was not found:$bad"
	fi
}

# single DESC SET...: a test point: while in use, one copy of each pattern
# of each key, no more: the transform's (a crypto_aes_ctx per XTS half); a
# stray copy is a leak in the making, whether the keyring's, cmkctl's or
# the kernel's.
single() {
	local desc=$1 s n c bad=''
	shift
	for s in "$@"; do
		n=$(nkeys "$s")
		for c in raw{0,1} enc{0,1} enc_tail{0,1} dec{0,1} dec_head{0,1} dec_tail{0,1}; do
			if [ "$(keys_hit "$s" "$c")" != "$n" ] ||
				[ "$(awk -v s="$s" -v c="$c" '$1 == "count" && $2 == s && $3 == c { print $4 }' "$RESULT")" != "$n" ]; then
				bad+=" $s/$c"
			fi
		done
	done
	if [ -z "$bad" ]; then
		ok "$desc"
	else
		not_ok "$desc" "not one copy per key:$bad"
		leaks "$@"
	fi
}

# scan_point LABEL: a test point for the scan itself.
scan_point() {
	if scan "$1"; then
		ok "scan $SCAN_N ($1): guest memory dumped and searched"
	else
		not_ok "scan $SCAN_N ($1): guest memory dumped and searched"
		return 1
	fi
}

# --- the devices ------------------------------------------------------------
# point DESC CMD...: a test point that passes when CMD succeeds; unlike
# check, CMD runs in this shell (the devices it makes are cleaned up).
point() {
	local desc=$1
	shift
	if "$@" >"$CMK_TMP/out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc" "command failed: $*" "$(cat "$CMK_TMP/out")"
	fi
}

# new_dev SET [LEASE]: a 2-extent cmk device over a loop device, keyed from
# two fresh shares, a 4 MiB round trip through it; the device's name is
# cmkl<SET>$CMK_TAG.
new_dev() {
	local set=$1 name=cmkl$1$CMK_TAG prefix=cmk:l$1$CMK_TAG: dev node extra=''

	(umask 077
	 head -c 128 /dev/urandom >"$LEAK_DIR/keys-$set.a"
	 head -c 128 /dev/urandom >"$LEAK_DIR/keys-$set.b")
	"$ADDKEY" "$LEAK_DIR/keys-$set.a" "$LEAK_DIR/keys-$set.b" "$prefix" || return 1
	dev=$(new_loop 4) || return 1
	[ -z "${2:-}" ] || extra=" 2 lease $2"
	cmk_create "$name" "$LEN" "$dev 0 $E 512 $prefix$extra" || return 1
	node=$(dm_node "$name")
	head -c $((LEN * 512)) /dev/urandom >"$CMK_TMP/data"
	direct_write "$node" 0 $((LEN / 8)) 4096 <"$CMK_TMP/data" || return 1
	cmp -s "$CMK_TMP/data" <(direct_read "$node" 0 $((LEN / 8)) 4096) || return 1
	drop_keys "$prefix" 2
}

# no_logon_keys: no logon key left in any keyring (the DEKs' payloads are
# freed, with kfree_sensitive(), once the key is gone from /proc/keys).
no_logon_keys() {
	local i
	for i in $(seq 50); do
		awk '$8 == "logon" { f = 1 } END { exit !f }' /proc/keys || return 0
		sleep 0.1
	done
	awk '$8 == "logon" { print "# still there: " $9 }' /proc/keys
	return 1
}

lid=$(keyctl add user "$LEASE" lease @s)
point "wipe: 2-extent device keyed from the test's shares, I/O round trip" new_dev wipe
point "lease: the same, with a lease key" new_dev lease "$LEASE"
point "remove: the same" new_dev remove

vol_open() {
	SOFTHSM2_CONF=$VAULT/softhsm2.conf CMK_STATE_DIR=$CMK_TMP/state \
		"$CMKCTL" open "$DISK" "$VOL" --pin-file "$VAULT/pin" || return 1
	settle
	head -c 1M /dev/urandom >"$CMK_TMP/vdata"
	direct_write "$(dm_node "$VOL")" 0 256 4096 <"$CMK_TMP/vdata" || return 1
	cmp -s "$CMK_TMP/vdata" <(direct_read "$(dm_node "$VOL")" 0 256 4096)
}
point "volume: cmkctl open of the host's volume, I/O round trip" vol_open
point "no logon key left in any keyring (DEK payloads freed)" no_logon_keys

# The raw-copy control: two keys left in the session keyring, never
# expanded by any table: the scanner must find their raw halves (the key
# payloads), and once the keys are invalidated, nothing.
keyring_keys() {
	(umask 077
	 head -c 128 /dev/urandom >"$LEAK_DIR/keys-keyring.a"
	 head -c 128 /dev/urandom >"$LEAK_DIR/keys-keyring.b")
	"$ADDKEY" "$LEAK_DIR/keys-keyring.a" "$LEAK_DIR/keys-keyring.b" "cmk:lkeyring$CMK_TAG:"
}
point "keyring: two keys added to the session keyring, for no table" keyring_keys

# --- 1: everything in use: the control --------------------------------------
# raw_only DESC SET: a test point: both raw halves of every key of SET,
# once each, and no schedule of them.
raw_only() {
	local desc=$1 n
	n=$(nkeys "$2")
	diag "$2: $n keys; found:$(found "$2")"
	if [ "$n" != 0 ] && [ "$(keys_hit "$2" raw0)" = "$n" ] &&
		[ "$(keys_hit "$2" raw1)" = "$n" ] &&
		[ "$(hits "$2")" = $((2 * n)) ]; then
		ok "$desc"
	else
		not_ok "$desc"
	fi
}
if scan_point open; then
	present "control: every key's schedules found while in use" "${SETS[@]}"
	single "while in use: one copy of each pattern of each key, no stray copy" "${SETS[@]}"
	raw_only "control: the keyring's keys found as raw bytes (payloads), once each, no schedule" keyring
else
	not_ok "control: every key's schedules found while in use"
	not_ok "while in use: one copy of each pattern of each key, no stray copy"
	not_ok "control: the keyring's keys found as raw bytes (payloads), once each, no schedule"
fi

# --- 2: key wipe ------------------------------------------------------------
st_is() {
	[ "$(cmk_field "$1" 1) $(cmk_field "$1" 6)" = "$2" ]
}
drop_keyring() {
	drop_keys "cmk:lkeyring$CMK_TAG:" 2
	no_logon_keys
}
point "keyring: its keys invalidated and gone" drop_keyring

# The freed-memory control: a canary (random, its share b all zeros, so
# the canary is share a) written 16384 times over into a tmpfs file that
# is then deleted: its pages go back to the page allocator as they are
# (Debian's kernels zero pages on allocation, not on free), and the next
# scan must find copies of it.  A key freed without being wiped would be
# found the same way.
canary() {
	local f=$CMK_TMP/canary i x16=() x4=()
	(umask 077
	 head -c 64 /dev/urandom >"$LEAK_DIR/keys-canary.a"
	 head -c 64 /dev/zero >"$LEAK_DIR/keys-canary.b")
	for ((i = 0; i < 16; i++)); do x16+=("$f"); done
	x4=("$f" "$f" "$f" "$f")
	# 64 bytes, times 16, 16, 16 and 4: 1 MiB, in few processes.
	cat "$LEAK_DIR/keys-canary.a" >"$f.0"
	cat "${x16[@]/%/.0}" >"$f.1"
	cat "${x16[@]/%/.1}" >"$f.2"
	cat "${x16[@]/%/.2}" >"$f.3"
	cat "${x4[@]/%/.3}" >"$f.4"
	[ "$(stat -c %s "$f.4")" = $((1 << 20)) ] || return 1
	rm "$f".[0-4]
}
point "canary: 1 MiB of copies written to tmpfs and deleted" canary
check "key wipe accepted" dmsetup message "cmklwipe$CMK_TAG" 0 key wipe
check "status: inaccessible, wiped" st_is "cmklwipe$CMK_TAG" "inaccessible wiped"
if scan_point key-wipe; then
	gone "after key wipe: no copy of the wiped device's keys" wipe
	gone "after invalidation: no copy of the keyring's keys (payloads wiped)" keyring
	if [ "$(keys_hit canary raw0)" = 1 ] && [ "$(keys_hit canary raw1)" = 1 ]; then
		ok "control: the deleted canary found in freed memory ($(awk '$1 == "count" && $2 == "canary" && $3 == "raw0" { print $4 }' "$RESULT") copies)"
	else
		not_ok "control: the deleted canary found in freed memory" "canary:$(found canary)"
	fi
	present "after key wipe: the keys still in use are found" lease remove volume
else
	not_ok "after key wipe: no copy of the wiped device's keys"
	not_ok "after invalidation: no copy of the keyring's keys (payloads wiped)"
	not_ok "control: the deleted canary found in freed memory"
	not_ok "after key wipe: the keys still in use are found"
fi

# --- 3: lease lapse ------------------------------------------------------------
lapsed() {
	local i
	for i in $(seq 50); do
		st_is "cmkllease$CMK_TAG" "inaccessible lease_expired" && return 0
		sleep 0.2
	done
	dmsetup status "cmkllease$CMK_TAG"
	return 1
}
keyctl timeout "$lid" 1
point "lease expired: inaccessible, lease_expired within 10 s" lapsed
if scan_point lease-lapse; then
	gone "after the lease lapse: no copy of its device's keys (nor the wiped ones)" lease wipe
	present "after the lease lapse: the keys still in use are found" remove volume
else
	not_ok "after the lease lapse: no copy of its device's keys (nor the wiped ones)"
	not_ok "after the lease lapse: the keys still in use are found"
fi

# --- 4: dmsetup remove ------------------------------------------------------
point "dmsetup remove" dm_remove "cmklremove$CMK_TAG"
if scan_point remove; then
	gone "after dmsetup remove: no copy of its keys (nor the earlier ones)" remove lease wipe
	present "after dmsetup remove: the volume's keys are found" volume
else
	not_ok "after dmsetup remove: no copy of its keys (nor the earlier ones)"
	not_ok "after dmsetup remove: the volume's keys are found"
fi

# --- 5: cmkctl close --------------------------------------------------------
vol_close() {
	SOFTHSM2_CONF=$VAULT/softhsm2.conf "$CMKCTL" close "$VOL" || return 1
	! dmsetup info "$VOL" >/dev/null 2>&1
}
point "cmkctl close" vol_close
if scan_point cmkctl-close; then
	gone "after cmkctl close: no copy of the volume's DEKs" volume
	gone "after all four: no copy of any key of any set" "${SETS[@]}" keyring
else
	not_ok "after cmkctl close: no copy of the volume's DEKs"
	not_ok "after all four: no copy of any key of any set"
fi

diag "scans: $SCAN_N"
tap_done
