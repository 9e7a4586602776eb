#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Module unload and reload: with no mapping left the module unloads, leaves
# no target, workqueue or thread behind, loads again and works; while a
# mapping exists it cannot be unloaded.

. "$(dirname "$0")/lib.sh"

KO=${CMK_KO:-$CMK_REPO/build/kernel/$(uname -r)/dm-cmk.ko}
[ -e "$KO" ] || { echo "1..0 # SKIP no $KO"; exit 4; }
grep -q '^dm_cmk ' /proc/modules || { echo "1..0 # SKIP dm-cmk not loaded"; exit 4; }

P="cmk:mr$CMK_TAG:"
NAME=cmkmr$CMK_TAG
DEV=$(new_loop 8) || exit 4
add_keys "$P" 4 || exit 4

tap_plan 10

leftovers() {
	dmsetup targets | grep -w cmk
	# Rescuer threads are named after the workqueue ("kcmkd/254:0");
	# pool kworkers only mention it ("kworker/u4:1-kcmkd/...").
	grep -l '^kcmkd' /proc/[0-9]*/comm 2>/dev/null
	grep -w dm_cmk /proc/modules
	[ -d /sys/module/dm_cmk ] && echo /sys/module/dm_cmk
}

check "mapping created" cmk_create "$NAME" 8192 "$DEV 0 2048 512 $P 2 lease $P"0
check_fails "module busy while a mapping exists" rmmod dm_cmk
dm_remove "$NAME"
if dmsetup ls | grep -q "$NAME"; then
	not_ok "mapping removed"
else
	ok "mapping removed"
fi
check "rmmod dm_cmk" rmmod dm_cmk
left=$(leftovers)
if [ -z "$left" ]; then
	ok "no target, module, workqueue thread left after unload"
else
	not_ok "no target, module, workqueue thread left after unload" "$left"
fi
check "insmod again" insmod "$KO"
check "target registered again" grep -qw cmk <(dmsetup targets)
check "mapping works after reload" cmk_create "$NAME" 8192 "$DEV 0 2048 512 $P"
check "I/O after reload" bash -c "head -c 1048576 /dev/urandom > $CMK_TMP/d && dd if=$CMK_TMP/d of=$(dm_node "$NAME") bs=1M oflag=direct status=none && cmp $CMK_TMP/d <(dd if=$(dm_node "$NAME") bs=1M count=1 iflag=direct status=none)"
dm_remove "$NAME"
# Load-unload cycles leave nothing behind either.
for i in 1 2 3; do
	rmmod dm_cmk && insmod "$KO" || break
done
check "three more unload/load cycles" grep -qw cmk <(dmsetup targets)

tap_done
