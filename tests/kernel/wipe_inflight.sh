#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What a wipe promises to I/O in flight (issue 13, item 9):
#  - reads and writes still at the device below when "key wipe" returns
#    complete with an error, never with data: under dm-delay (2 s), two
#    4 MiB reads and two 4 MiB writes issued 0.5 s before the wipe all
#    fail (the same batch with no wipe succeeds);
#  - a wipe waits for at most a bounded stretch of crypto, whatever the bio
#    size: with 4 MiB O_DIRECT reads in flight at depth 8 on a ramdisk
#    (brd completes reads in the submitter's task, so they are decrypted
#    inline in the completion), "key wipe" returns within 2 s (the figures
#    are printed: idle, and under 4 MiB reads, median and maximum of 3);
#  - the same, 512-byte data units;
#  - after each wipe, status says "inaccessible ... wiped" and the next
#    read fails.

. "$(dirname "$0")/lib.sh"

LEN=131072	# 64 MiB
E=32768		# 4 extents
P="cmk:wi$CMK_TAG:"
NAME=cmkwi$CMK_TAG
DLY=cmkwidly$CMK_TAG
DELAY_MS=2000

command -v fio >/dev/null || { echo "1..0 # SKIP no fio"; exit 4; }
DEV=$(new_loop 64) || exit 4
add_keys "$P" 4 || exit 4

tap_plan 12

# one_io KIND NODE I OUT: one 4 MiB O_DIRECT read or write at slot I;
# writes "START END RC" to OUT.
one_io() {
	local kind=$1 node=$2 i=$3 out=$4 s rc
	s=$(now)
	if [ "$kind" = read ]; then
		dd if="$node" of=/dev/null bs=4M skip="$i" count=1 \
			iflag=direct status=none 2>/dev/null
	else
		head -c 4M /dev/zero | dd of="$node" bs=4M seek="$i" count=1 \
			oflag=direct conv=notrunc iflag=fullblock status=none \
			2>/dev/null
	fi
	rc=$?
	echo "$s $(now) $rc" >"$out"
}

# batch TAG: two 4 MiB reads and two 4 MiB writes at once, in the
# background; their results go to $CMK_TMP/TAG.*.
batch() {
	local i
	for i in 0 1; do
		one_io read "$NODE" "$i" "$CMK_TMP/$1.r$i" &
		pids+=($!)
		one_io write "$NODE" $((i + 4)) "$CMK_TMP/$1.w$i" &
		pids+=($!)
	done
}

# --- in flight below: dm-delay under cmk -----------------------------------
check "dm-delay device ($DELAY_MS ms)" dmsetup create "$DLY" \
	--table "0 $LEN delay $DEV 0 $DELAY_MS"
settle
CMK_DEVS+=("$DLY")
check "cmk mapping over it" cmk_create "$NAME" "$LEN" \
	"$(dm_node "$DLY") 0 $E 4096 $P"
NODE=$(dm_node "$NAME")

# The control: a batch that ends before the wipe succeeds.
pids=()
batch before
wait "${pids[@]}"
n=$(cat "$CMK_TMP"/before.* | awk '$3 == 0 { n++ } END { print n + 0 }')
if [ "$n" = 4 ]; then
	ok "2 reads and 2 writes of 4 MiB through ${DELAY_MS} ms of delay succeed"
else
	not_ok "2 reads and 2 writes of 4 MiB through ${DELAY_MS} ms of delay succeed" \
		"$(cat "$CMK_TMP"/before.*)"
fi

# Then a batch still below the target (in dm-delay) when the wipe returns.
pids=()
batch during
sleep 0.5
t0=$(now)
check "key wipe with 2 reads and 2 writes in flight" \
	dmsetup message "$NAME" 0 key wipe
t1=$(now)
wait "${pids[@]}"
diag "wipe took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s"
for kind in read write; do
	res=$(cat "$CMK_TMP"/during."${kind:0:1}"* | awk -v t1="$t1" '
		{ n++; if ($3 == 0) good++; if ($2 < t1) early++ }
		END { printf "%d %d %d\n", n, good, early }')
	read -r n good early <<<"$res"
	if [ "$n" = 2 ] && [ "$good" = 0 ] && [ "$early" = 0 ]; then
		ok "${kind}s in flight below the target when the wipe returned fail (2 of 2)"
	else
		not_ok "${kind}s in flight below the target when the wipe returned fail" \
			"I/Os: $n, succeeded: $good, ended before the wipe returned: $early" \
			"$(cat "$CMK_TMP"/during."${kind:0:1}"*)"
	fi
done
dm_remove "$NAME"
dm_remove "$DLY"

# --- wipe latency with 4 MiB reads in flight on a ramdisk ------------------
# wipe_latency UNIT: create the mapping on the ramdisk, then 4 times: fio
# with 4 MiB reads at depth 8 (or nothing, for "idle"), wipe, reload.
# Prints "IDLE MEDIAN MAX" in seconds.
wipe_latency() {
	local unit=$1 lat=() i t0 t1 fio_pid
	cmk_create "$NAME" "$LEN" "$RAM 0 $E $unit $P" || return 1
	for i in 0 1 2 3; do
		fio_pid=''
		if [ "$i" -gt 0 ]; then
			fio --name=big --filename="$(dm_node "$NAME")" \
				--rw=randread --bs=4M --iodepth=8 \
				--ioengine=libaio --direct=1 --numjobs=2 \
				--time_based --runtime=60 >/dev/null 2>&1 &
			fio_pid=$!
			sleep 2
		fi
		t0=$(now)
		dmsetup message "$NAME" 0 key wipe || return 1
		t1=$(now)
		[ "$(cmk_field "$NAME" 1) $(cmk_field "$NAME" 6)" = "inaccessible wiped" ] ||
			return 1
		! direct_read "$(dm_node "$NAME")" 0 1 4096 >/dev/null 2>&1 ||
			return 1
		[ -z "$fio_pid" ] || wait "$fio_pid"
		lat+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
		dmsetup reload "$NAME" --table "0 $LEN cmk $RAM 0 $E $unit $P" &&
			dmsetup resume "$NAME" || return 1
	done
	dm_remove "$NAME"
	printf '%s\n' "${lat[@]:1}" | sort -g | awk -v idle="${lat[0]}" '
		{ v[NR] = $1 } END { printf "%.3f %.3f %.3f\n", idle, v[int((NR + 1) / 2)], v[NR] }'
}

if modprobe brd rd_nr=1 rd_size=65536 max_part=0 && [ -b /dev/ram0 ]; then
	RAM=/dev/ram0
	ok "ramdisk"
else
	RAM=$(new_loop 64)
	not_ok "ramdisk" "modprobe brd failed; a loop device instead"
fi
dd if=/dev/urandom of="$RAM" bs=1M count=64 oflag=direct status=none

for unit in 4096 512; do
	if res=$(wipe_latency "$unit"); then
		read -r idle med max <<<"$res"
		diag "data unit $unit: key wipe idle ${idle} s; with 4 MiB reads in flight median ${med} s, max ${max} s (3 wipes)"
		ok "data unit $unit: wipe, status \"wiped\", read fails, reload: 4 times"
		if awk -v m="$max" 'BEGIN { exit !(m < 2) }'; then
			ok "data unit $unit: wipe under 4 MiB reads returns within 2 s (max ${max} s)"
		else
			not_ok "data unit $unit: wipe under 4 MiB reads returns within 2 s" "max ${max} s"
		fi
	else
		not_ok "data unit $unit: wipe, status \"wiped\", read fails, reload: 4 times"
		not_ok "data unit $unit: wipe under 4 MiB reads returns within 2 s" "not measured"
		dm_remove "$NAME"
	fi
done

kmsg_clean_ok
[ "$RAM" != /dev/ram0 ] || rmmod brd
tap_done
