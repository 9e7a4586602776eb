#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Keys and lease: status and table never show key bytes; "key wipe" fails
# I/O with EIO, and also takes the keys of a table loaded but not resumed;
# resume is refused while an extent has no key; "key set" while suspended
# brings the data back, and an extent index past 2^32 is refused; a lease that expires, is revoked,
# invalidated or unlinked takes the device down within 2 s, including I/O
# already running, and only a new table brings it back.

. "$(dirname "$0")/lib.sh"

LEN=16384	# 8 MiB
E=2048		# 8 extents
P="cmk:kl$CMK_TAG:"
NAME=cmkkl$CMK_TAG
KEYDIR=$CMK_TMP/keys

DEV=$(new_loop 16) || exit 4
add_keys_saved "$P" 8 "$KEYDIR" || exit 4

tap_plan 52

# io_ok NODE: can we read the first and last data unit?
io_ok() {
	direct_read "$1" 0 1 4096 >/dev/null 2>&1 &&
		direct_read "$1" $((LEN / 8 - 1)) 1 4096 >/dev/null 2>&1
}

# start_reader NODE: a single fio process reading the device until its
# first error (at most 30 s), so that the moment I/O starts failing is
# measured without spawning a process per probe.
start_reader() {
	fio --name=probe --filename="$1" --rw=randread --bs=4k --direct=1 \
		--ioengine=psync --time_based --runtime=30 >/dev/null 2>&1 &
	READER=$!
	sleep 1.5	# let it start before the cause
}

# reader_stopped START: wait for the reader (not in a subshell: it is this
# shell's child); set DT to the seconds from START to its end; fail if it
# ended without an I/O error.
reader_stopped() {
	local rc
	wait "$READER"
	rc=$?
	DT=$(awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2f\n", e - s }')
	[ "$rc" != 0 ]
}

# new_lease DESC TIMEOUT: a user key to serve as lease; prints its id.
new_lease() {
	local id
	id=$(keyctl add user "$1" lease @s) || return 1
	[ "$2" = 0 ] || keyctl timeout "$id" "$2"
	echo "$id"
}

# --- status, table and key bytes ------------------------------------------
check "create mapping" cmk_create "$NAME" "$LEN" "$DEV 0 $E 512 $P"
NODE=$(dm_node "$NAME")
st=$(dmsetup status "$NAME")
if [ "$(cut -d' ' -f4- <<<"$st")" = "available 8 8 - 0 -" ]; then
	ok "status: available, 8 of 8 extents keyed, no lease, no errors"
else
	not_ok "status: available, 8 of 8 extents keyed, no lease, no errors" "$st"
fi
tb=$(dmsetup table "$NAME")
if [ "$(cut -d' ' -f4- <<<"$tb")" = "$(cat /sys/block/"${DEV#/dev/}"/dev) 0 $E 512 $P" ]; then
	ok "table reproduces the arguments, key prefix only"
else
	not_ok "table reproduces the arguments, key prefix only" "$tb"
fi

leak=""
texts="$(dmsetup table "$NAME"; dmsetup table --showkeys "$NAME"; dmsetup status "$NAME"; dmsetup info "$NAME"; dmesg)"
for f in "$KEYDIR"/key.*; do
	for h in "$(od -An -tx1 -v "$f" | tr -d ' \n')" "$(od -An -tx1 -v -N 16 "$f" | tr -d ' \n')"; do
		grep -qi "$h" <<<"$(tr -d ' \n' <<<"$texts")" && leak="$leak $f"
	done
done
if [ -z "$leak" ]; then
	ok "no key bytes (hex) in table, status, info or kernel log"
else
	not_ok "no key bytes (hex) in table, status, info or kernel log" "$leak"
fi

head -c $((LEN * 512)) /dev/urandom >"$CMK_TMP/data"
check "write 8 MiB" direct_write "$NODE" 0 $((LEN / 8)) 4096 <"$CMK_TMP/data"
check "read back identical" cmp "$CMK_TMP/data" <(direct_read "$NODE" 0 $((LEN / 8)) 4096)

# --- key wipe while live ---------------------------------------------------
check "key wipe message accepted while live" dmsetup message "$NAME" 0 key wipe
check_fails "read fails after key wipe" direct_read "$NODE" 0 1 4096
check_fails "write fails after key wipe" direct_write "$NODE" 0 1 4096 </dev/zero
st=$(dmsetup status "$NAME")
read -r _ _ _ state nr keyed _ errs reason <<<"$st"
if [ "$state $nr $keyed $reason" = "inaccessible 8 0 wiped" ] && [ "$errs" -ge 2 ]; then
	ok "status after wipe: inaccessible, 0 keyed, reason wiped, errors counted"
else
	not_ok "status after wipe: inaccessible, 0 keyed, reason wiped, errors counted" "$st"
fi

# --- suspend / key set / resume ---------------------------------------------
check_fails "key set refused while not suspended" dmsetup message "$NAME" 0 key set all
check "suspend" dmsetup suspend "$NAME"
mark=$(kmsg_mark)
check_fails "resume refused while extents have no key" dmsetup resume "$NAME"
if kmsg_since "$mark" | grep -q "8 of 8 extents have no key"; then
	ok "resume refusal logged with the number of keyless extents"
else
	not_ok "resume refusal logged with the number of keyless extents"
fi
check_fails "key set with an out-of-range extent refused" dmsetup message "$NAME" 0 key set 8
check_fails "key set with a malformed extent refused" dmsetup message "$NAME" 0 key set 1x
check_fails "unknown message refused" dmsetup message "$NAME" 0 key frob
check "key set 0 while suspended" dmsetup message "$NAME" 0 key set 0
check_fails "resume still refused with 7 extents keyless" dmsetup resume "$NAME"
check "key set all while suspended" dmsetup message "$NAME" 0 key set all
check "resume with every extent keyed" dmsetup resume "$NAME"
check "data intact after wipe, key set and resume" cmp "$CMK_TMP/data" <(direct_read "$NODE" 0 $((LEN / 8)) 4096)
check "status available again" test "$(cmk_field "$NAME" 1) $(cmk_field "$NAME" 6)" = "available -"

# Key set with a missing key fails and keeps the device suspended safely.
check "suspend again" dmsetup suspend "$NAME"
keyctl invalidate "$(keyctl search @s logon "${P}3")"
check_fails "key set all fails when a key is missing" dmsetup message "$NAME" 0 key set all
keyctl padd logon "${P}3" @s <"$KEYDIR/key.3" >/dev/null
check "resume (old keys were kept)" dmsetup resume "$NAME"
check "data intact" cmp "$CMK_TMP/data" <(direct_read "$NODE" 0 $((LEN / 8)) 4096)

# An extent index past 2^32 is an error, not extent 0 (with extent 0's key
# in the keyring replaced meanwhile, a wrong rekey would show in the data).
check "suspend for key set 4294967296" dmsetup suspend "$NAME"
head -c 64 /dev/urandom | keyctl padd logon "${P}0" @s >/dev/null
check_fails "key set 4294967296 refused" dmsetup message "$NAME" 0 key set 4294967296
check_fails "key set -1 refused" dmsetup message "$NAME" 0 key set -1
keyctl padd logon "${P}0" @s <"$KEYDIR/key.0" >/dev/null
check "resume" dmsetup resume "$NAME"
check "data intact: extent 0 kept its key" cmp "$CMK_TMP/data" <(direct_read "$NODE" 0 $((LEN / 8)) 4096)

# "key wipe" reaches a table loaded with reload and not yet resumed: its
# resume is refused, and it has no key to serve I/O with.
check "reload a table (keys from the keyring), not resumed" \
	dmsetup reload "$NAME" --table "0 $LEN cmk $DEV 0 $E 512 $P"
mark=$(kmsg_mark)
check "key wipe with a table loaded" dmsetup message "$NAME" 0 key wipe
check_fails "resume of the loaded table refused after the wipe" dmsetup resume "$NAME"
st=$(dmsetup status "$NAME")
if [ "$(cmk_field "$NAME" 1) $(cmk_field "$NAME" 3) $(cmk_field "$NAME" 6)" = "inaccessible 0 wiped" ] &&
	[ "$(kmsg_since "$mark" | grep -c "keys wiped")" -ge 2 ] &&
	kmsg_since "$mark" | grep -q "8 of 8 extents have no key"; then
	ok "both tables wiped: the loaded one has no key, status wiped"
else
	not_ok "both tables wiped" "$st" "$(kmsg_since "$mark")"
fi
dm_remove "$NAME"

# --- lease ------------------------------------------------------------------
L="cmk:lease$CMK_TAG"
lid=$(new_lease "$L" 0)
check "create mapping with a lease" cmk_create "$NAME" "$LEN" "$DEV 0 $E 512 $P 2 lease $L"
NODE=$(dm_node "$NAME")
check "lease without timeout shows inf" test "$(cmk_field "$NAME" 4)" = inf

# Renewal keeps the device up past several lease periods: a renewer in
# the background (as cmkd will be) and I/O checked meanwhile.  Timeouts
# count whole seconds from the current one, so "5" means 4 to 5 s; a
# renewal delayed by more than that (a very loaded host) would lapse it.
keyctl timeout "$lid" 5
( while keyctl timeout "$lid" 5 2>/dev/null; do sleep 0.5; done ) &
renewer=$!
fail=0
t0=$(now)
while elapsed_le "$t0" "$(now)" 12; do
	io_ok "$NODE" || fail=1
	sleep 0.5
done
kill "$renewer" 2>/dev/null
wait "$renewer" 2>/dev/null
if [ "$fail" = 0 ] && [ "$(cmk_field "$NAME" 1)" = available ]; then
	ok "a 5 s lease renewed every 0.5 s keeps I/O working for 12 s"
else
	not_ok "a 5 s lease renewed every 0.5 s keeps I/O working for 12 s" \
		"status: $(dmsetup status "$NAME")"
fi
keyctl timeout "$lid" 30
left=$(cmk_field "$NAME" 4)
check "status shows the seconds left on the lease ($left of 30)" test "$left" -ge 25 -a "$left" -le 30

# Expiry: the kernel expires at a whole second; measure from that second.
start_reader "$NODE"
t0=$(date +%s)
keyctl timeout "$lid" 2
expiry=$((t0 + 2))
if reader_stopped "$expiry"; then
	dt=$DT
	if elapsed_le 0 "$dt" 2; then
		ok "lease expiry: first EIO ${dt}s after expiry (limit 2 s)"
	else
		not_ok "lease expiry: first EIO ${dt}s after expiry (limit 2 s)"
	fi
else
	not_ok "lease expiry: reader saw no EIO in 30 s"
fi
check "status: inaccessible, lease_expired, lease 0" test "$(cmk_field "$NAME" 1) $(cmk_field "$NAME" 4) $(cmk_field "$NAME" 6)" = "inaccessible 0 lease_expired"
check "suspend after lapse" dmsetup suspend "$NAME"
check_fails "key set refused after lapse" dmsetup message "$NAME" 0 key set all
check_fails "resume refused after lapse" dmsetup resume "$NAME"
# A new table (new lease) brings the data back.
keyctl unlink "$lid" @s >/dev/null 2>&1
lid=$(new_lease "$L" 0)
check "reload a new table and resume" sh -c "dmsetup reload $NAME --table '0 $LEN cmk $DEV 0 $E 512 $P 2 lease $L' && dmsetup resume $NAME"
check "data intact under the new table" cmp "$CMK_TMP/data" <(direct_read "$NODE" 0 $((LEN / 8)) 4096)

# Revoke while I/O is running: the running reader must stop with an error
# within 2 s, not hang.
fio_log=$CMK_TMP/fio.log
fio --name=lease --filename="$NODE" --rw=randread --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=32 --time_based --runtime=60 \
	--output="$fio_log" >/dev/null 2>&1 &
fpid=$!
sleep 2
t0=$(now)
keyctl revoke "$lid"
while kill -0 "$fpid" 2>/dev/null && elapsed_le "$t0" "$(now)" 5; do
	sleep 0.05
done
t1=$(now)
if kill -0 "$fpid" 2>/dev/null; then
	kill -9 "$fpid"
	not_ok "lease revoke: running fio fails within 2 s" "fio still running after 5 s"
else
	dt=$(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f\n", e - s }')
	if elapsed_le "$t0" "$t1" 2; then
		ok "lease revoke: running fio (iodepth 32) ended with an error ${dt}s after revoke"
	else
		not_ok "lease revoke: running fio ended ${dt}s after revoke (limit 2 s)"
	fi
fi
wait "$fpid" 2>/dev/null
check "status reason lease_revoked" test "$(cmk_field "$NAME" 6)" = lease_revoked

# Invalidate and unlink are lapses too.
for how in invalidate unlink; do
	dm_remove "$NAME"
	lid=$(new_lease "$L.$how" 0)
	cmk_create "$NAME" "$LEN" "$DEV 0 $E 512 $P 2 lease $L.$how"
	NODE=$(dm_node "$NAME")
	start_reader "$NODE"
	t0=$(now)
	if [ "$how" = unlink ]; then
		keyctl unlink "$lid" @s >/dev/null
	else
		keyctl invalidate "$lid"
	fi
	reader_stopped "$t0"
	rc=$?
	dt=$DT
	if [ $rc = 0 ] && elapsed_le 0 "$dt" 2; then
		ok "lease $how: EIO after ${dt}s, reason $(cmk_field "$NAME" 6)"
	else
		not_ok "lease $how: EIO within 2 s (${dt}s)" "status: $(dmsetup status "$NAME")"
	fi
done
check "status reason lease_unlinked" test "$(cmk_field "$NAME" 6)" = lease_unlinked

tap_done
