#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Queue limits: the data unit is the logical block size.  Discards reach
# the underlying device only with allow_discards.  The loop
# device sits on a tmpfs file, so a discard punches a hole that reads back
# as zeros on the loop device.

. "$(dirname "$0")/lib.sh"

LEN=16384
E=2048
P="cmk:dc$CMK_TAG:"
NAME=cmkdc$CMK_TAG

DEV=$(new_loop 16) || exit 4
add_keys "$P" 8 || exit 4
if [ "$(cat /sys/block/"${DEV#/dev/}"/queue/discard_max_bytes)" = 0 ]; then
	echo "1..0 # SKIP loop device has no discard support"
	exit 4
fi
command -v blkdiscard >/dev/null || { echo "1..0 # SKIP no blkdiscard"; exit 4; }

tap_plan 12

# 1 MiB at 2 MiB, inside extent 2, and 1.5 MiB across extents 4 and 5.
OFF1=$((2 * 1048576)); LEN1=1048576
OFF2=$((4 * 1048576 + 524288)); LEN2=$((3 * 524288))

zeros_on_loop() {
	cmp -s <(direct_read "$DEV" $(($1 / 4096)) $(($2 / 4096)) 4096) \
		<(head -c "$2" /dev/zero)
}

for mode in plain discards; do
	if [ "$mode" = plain ]; then
		cmk_create "$NAME" "$LEN" "$DEV 0 $E 512 $P"
		check "data unit 512 advertised as logical block size" \
			test "$(cat "$(dm_sysfs "$NAME")/queue/logical_block_size")" = 512
		dm_remove "$NAME"
		cmk_create "$NAME" "$LEN" "$DEV 0 $E 4096 $P"
		check "data unit 4096 advertised as logical block size" \
			test "$(cat "$(dm_sysfs "$NAME")/queue/logical_block_size")" = 4096
	else
		cmk_create "$NAME" "$LEN" "$DEV 0 $E 512 $P 1 allow_discards"
	fi
	NODE=$(dm_node "$NAME")
	SYS=$(dm_sysfs "$NAME")
	head -c $((LEN * 512)) /dev/urandom | direct_write "$NODE" 0 $((LEN / 8)) 4096
	max=$(cat "$SYS/queue/discard_max_bytes")

	if [ "$mode" = plain ]; then
		check "without allow_discards: discard_max_bytes is 0" test "$max" = 0
		check_fails "without allow_discards: blkdiscard fails" blkdiscard -o $OFF1 -l $LEN1 "$NODE"
		if zeros_on_loop $OFF1 $LEN1; then
			not_ok "without allow_discards: ciphertext untouched"
		else
			ok "without allow_discards: ciphertext untouched"
		fi
		check "table has no features" test "$(dmsetup table "$NAME" | wc -w)" = 8
	else
		check "with allow_discards: discard_max_bytes > 0 ($max)" test "$max" -gt 0
		check "with allow_discards: blkdiscard inside one extent" blkdiscard -o $OFF1 -l $LEN1 "$NODE"
		check "with allow_discards: blkdiscard across extents" blkdiscard -o $OFF2 -l $LEN2 "$NODE"
		if zeros_on_loop $OFF1 $LEN1 && zeros_on_loop $OFF2 $LEN2; then
			ok "discarded ranges are holes on the underlying device"
		else
			not_ok "discarded ranges are holes on the underlying device"
		fi
		if zeros_on_loop 0 $OFF1; then
			not_ok "data before the discarded range untouched"
		else
			ok "data before the discarded range untouched"
		fi
		check "table shows allow_discards" grep -q " 1 allow_discards$" <(dmsetup table "$NAME")
	fi
	dm_remove "$NAME"
done

tap_done
