#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Concurrent fio writers with crc32c verification over small extents, so
# that most I/O crosses extent boundaries, for both data units.  Then the
# same data is verified again after the mapping is re-created.

. "$(dirname "$0")/lib.sh"

command -v fio >/dev/null || { echo "1..0 # SKIP fio not installed"; exit 4; }

LEN=65536	# 32 MiB
E=128		# 64 KiB extents: 512 of them
P="cmk:fio$CMK_TAG:"
NAME=cmkfio$CMK_TAG

DEV=$(new_loop 33) || exit 4
add_keys "$P" $((LEN / E)) || exit 4

tap_plan 10

for unit in 512 4096; do
	cmk_create "$NAME" "$LEN" "$DEV 2048 $E $unit $P"
	NODE=$(dm_node "$NAME")
	# Four jobs on disjoint 8 MiB regions, random sizes up to 192 KiB
	# (three extents), so bios straddle extents; verify after writing.
	out=$(fio --name=cmkfio --filename="$NODE" --direct=1 \
		--ioengine=libaio --iodepth=16 --numjobs=4 --size=8M \
		--offset_increment=8M --rw=randwrite --bsrange=${unit}-192k \
		--blockalign=$unit --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --group_reporting 2>&1)
	rc=$?
	if [ $rc = 0 ] && ! grep -qE "err= *[1-9]|verify failed|bad magic" <<<"$out"; then
		ok "data unit $unit: 4 concurrent fio jobs, crc32c verify passed"
	else
		not_ok "data unit $unit: 4 concurrent fio jobs, crc32c verify passed" \
			"fio exit $rc" "$(tail -n 20 <<<"$out")"
	fi
	errs=$(cmk_field "$NAME" 5)
	check "data unit $unit: no I/O errors counted" test "$errs" = 0

	# Verify-only pass on a fresh mapping of the same device.
	dm_remove "$NAME"
	cmk_create "$NAME" "$LEN" "$DEV 2048 $E $unit $P"
	NODE=$(dm_node "$NAME")
	out=$(fio --name=cmkfio --filename="$NODE" --direct=1 \
		--ioengine=libaio --iodepth=16 --numjobs=4 --size=8M \
		--offset_increment=8M --rw=randwrite --bsrange=${unit}-192k \
		--blockalign=$unit --verify=crc32c --verify_fatal=1 \
		--verify_only=1 --group_reporting 2>&1)
	rc=$?
	if [ $rc = 0 ]; then
		ok "data unit $unit: data verifies again after re-creating the mapping"
	else
		not_ok "data unit $unit: data verifies again after re-creating the mapping" \
			"fio exit $rc" "$(tail -n 20 <<<"$out")"
	fi
	# Stock dm-crypt with each extent's own key reads the same data:
	# extents from both ends of every key loader's range (the
	# transforms of a table this size are built on several CPUs).
	opt=''
	[ "$unit" = 512 ] || opt=" 1 sector_size:$unit"
	bad=''
	for k in 0 1 2 255 256 257 510 511; do
		dmsetup create "${NAME}x" --table "0 $E crypt aes-xts-plain64 :64:logon:$P$k $((k * E)) $DEV $((2048 + k * E))$opt" ||
			{ bad="$bad $k(create)"; continue; }
		cmp -s <(dd if="$(dm_node "${NAME}x")" bs=64k iflag=direct status=none) \
			<(dd if="$NODE" bs=64k skip="$k" count=1 iflag=direct status=none) ||
			bad="$bad $k"
		dm_remove "${NAME}x"
	done
	check "data unit $unit: dm-crypt with extent k's key reads extent k (0-2, 255-257, 510-511)${bad:+ (differ:$bad)}" \
		test -z "$bad"
	if [ "$unit" = 512 ]; then
		# Control: the verify pass must notice damage.
		dd if=/dev/zero of="$NODE" bs=64k count=16 seek=8 oflag=direct status=none
		if fio --name=cmkfio --filename="$NODE" --direct=1 \
			--ioengine=libaio --iodepth=16 --numjobs=4 --size=8M \
			--offset_increment=8M --rw=randwrite --bsrange=${unit}-192k \
			--blockalign=$unit --verify=crc32c --verify_fatal=1 \
			--verify_only=1 --group_reporting >/dev/null 2>&1; then
			not_ok "control: verification fails after 1 MiB was zeroed"
		else
			ok "control: verification fails after 1 MiB was zeroed"
		fi
	fi
	if [ "$unit" = 4096 ]; then
		# Suspend and resume while fio writes and verifies: no I/O
		# may be lost or fail.
		( for i in 1 2 3; do
			sleep 1.5
			dmsetup suspend "$NAME" && sleep 0.3 && dmsetup resume "$NAME" || exit 1
		  done ) &
		cycler=$!
		out=$(fio --name=cmkfio --filename="$NODE" --direct=1 \
			--ioengine=libaio --iodepth=16 --numjobs=2 --size=8M \
			--offset_increment=8M --rw=randwrite --bsrange=4k-128k \
			--blockalign=4096 --verify=crc32c --verify_fatal=1 \
			--do_verify=1 --group_reporting 2>&1)
		rc=$?
		wait "$cycler"
		crc=$?
		if [ $rc = 0 ] && [ $crc = 0 ]; then
			ok "data unit 4096: fio verify passes across 3 suspend/resume cycles"
		else
			not_ok "data unit 4096: fio verify passes across 3 suspend/resume cycles" \
				"fio exit $rc, cycler exit $crc" "$(tail -n 20 <<<"$out")"
		fi
	fi
	dm_remove "$NAME"
done

tap_done
