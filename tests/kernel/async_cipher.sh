#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The I/O path with an asynchronous xts(aes), as an accelerator would give
# (issue 13, item 9): dm-cmk is reloaded with
# xts_driver=cryptd(xts(ecb(aes-generic))), whose every request completes
# later in cryptd's worker, so that the atomic read path's completion
# callback and the workqueue's waits all run.  On it: the C test
# cmk_io_test (round trips against the OpenSSL oracle, both data units,
# short last extent); fio verify over a ramdisk (reads complete in the
# submitter's task and are decrypted inline) and over a loop device; a wipe
# under load.  An xts_driver that is not an xts(aes) is refused.  The
# module is reloaded as it was at the end.

. "$(dirname "$0")/lib.sh"

KO=${CMK_KO:-$CMK_REPO/build/kernel/$(uname -r)/dm-cmk.ko}
DRV='cryptd(xts(ecb(aes-generic)))'
P="cmk:ac$CMK_TAG:"
NAME=cmkac$CMK_TAG
LEN=65536	# 32 MiB

[ -e "$KO" ] || { echo "1..0 # SKIP no $KO"; exit 4; }
grep -q '^dm_cmk ' /proc/modules || { echo "1..0 # SKIP dm-cmk not loaded"; exit 4; }
command -v fio >/dev/null || { echo "1..0 # SKIP no fio"; exit 4; }
if dmsetup table --target cmk | grep -qv '^No devices'; then
	echo "1..0 # SKIP cmk mappings exist"
	exit 4
fi
add_keys "$P" 4 || exit 4
LOOP=$(new_loop 32) || exit 4

tap_plan 13

# Whatever happens, leave the module loaded as run-tests.sh loaded it.
restore() {
	local d
	for d in "${CMK_DEVS[@]}"; do
		dmsetup info "$d" >/dev/null 2>&1 && dm_remove "$d"
	done
	grep -q '^brd ' /proc/modules && rmmod brd
	if ! grep -q '^dm_cmk ' /proc/modules ||
		[ "$(cat /sys/module/dm_cmk/parameters/xts_driver)" != "(null)" ]; then
		rmmod dm_cmk 2>/dev/null
		insmod "$KO"
	fi
	cmk_cleanup
}
trap restore EXIT

# fio_verify NODE: random writes of 4 KiB to 1 MiB verified with crc32c,
# 8 in flight, then read back.
fio_verify() {
	fio --name=v --filename="$1" --rw=randwrite --bsrange=4k-1m \
		--bs_unaligned=0 --blockalign=4k --size=24M --iodepth=8 \
		--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --output="$CMK_TMP/fio.out" >/dev/null 2>&1
}

check "rmmod dm_cmk" rmmod dm_cmk
check "insmod dm-cmk.ko xts_driver=$DRV" insmod "$KO" "xts_driver=$DRV"
mark=$(kmsg_mark)
check "mapping over a loop device" cmk_create "$NAME" "$LEN" "$LOOP 0 16384 4096 $P"
if kmsg_since "$mark" | grep -qF "cipher $DRV"; then
	ok "the mapping uses $DRV"
else
	not_ok "the mapping uses $DRV" "$(kmsg_since "$mark" | grep -i cipher)"
fi
check "fio verify over loop, 4 KiB to 1 MiB, 8 in flight" fio_verify "$(dm_node "$NAME")"
dm_remove "$NAME"

if modprobe brd rd_nr=1 rd_size=32768 max_part=0 && [ -b /dev/ram0 ]; then
	check "mapping over a ramdisk" cmk_create "$NAME" "$LEN" "/dev/ram0 0 16384 512 $P"
	check "fio verify over the ramdisk, 512-byte units" fio_verify "$(dm_node "$NAME")"
	fio --name=load --filename="$(dm_node "$NAME")" --rw=randrw --bs=1m \
		--iodepth=8 --ioengine=libaio --direct=1 --time_based \
		--runtime=30 >/dev/null 2>&1 &
	load=$!
	sleep 2
	check "key wipe under load" dmsetup message "$NAME" 0 key wipe
	if wait "$load"; then
		not_ok "the load fails after the wipe"
	else
		ok "the load fails after the wipe"
	fi
	dm_remove "$NAME"
	rmmod brd
else
	for d in "mapping over a ramdisk" "fio verify over the ramdisk, 512-byte units" \
		"key wipe under load" "the load fails after the wipe"; do
		not_ok "$d" "modprobe brd failed"
	done
fi

# The C round-trip test against the OpenSSL oracle, on this driver.
if "$CMK_REPO/build/tests/cmk_io_test" >"$CMK_TMP/io.tap" 2>&1; then
	ok "cmk_io_test on $DRV ($(grep -c '^ok' "$CMK_TMP/io.tap") cases)"
else
	not_ok "cmk_io_test on $DRV" "$(grep -E '^(not ok|#.*(FAIL|error))' "$CMK_TMP/io.tap" | head -n 10)"
fi

check "rmmod dm_cmk" rmmod dm_cmk
# Another cipher by driver name is refused at the first table.
if insmod "$KO" "xts_driver=cbc(aes-generic)"; then
	check_fails "xts_driver=cbc(aes-generic): the table is refused" \
		dmsetup create "$NAME" --table "0 $LEN cmk $LOOP 0 16384 4096 $P"
	rmmod dm_cmk
else
	not_ok "xts_driver=cbc(aes-generic): the table is refused" "insmod failed"
fi
kmsg_clean_ok
tap_done
