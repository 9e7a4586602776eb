#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Forward progress under memory pressure (issue 13, item 7), run by
# tests/vm/swap-soak.sh in a guest with little memory (-m 384) and a disk:
# CMK_SOAK_DISK (the disk; the test is skipped without it), CMK_SOAK_SECS
# (SECONDS, default 60) and CMK_SOAK_TARGETS (default "cmk crypt") come
# from the environment.  For each target, on the disk:
#  - swap on a 512 MiB device of that target (cmk: 4 KiB data units, 4
#    extents; crypt: dm-crypt aes-xts-plain64 with its key from the same
#    kind of logon key);
#  - a memory hog of 1.25 x the guest's memory that checks every page it
#    gets back from swap (tests/kernel/mem_hog.c), and fio with buffered
#    random writes verified with crc32c on a second 256 MiB device of the
#    same target, both for SECONDS;
#  - both finish in time (SECONDS + 240 s) with no error, swapoff succeeds,
#    and the kernel logs no warning, oops, hung task or allocation failure.
# Prints, per target, the hog's rounds and the swap traffic, so that cmk
# and dm-crypt can be compared in one run.

. "$(dirname "$0")/lib.sh"

DISK=${CMK_SOAK_DISK:-}
SECS=${CMK_SOAK_SECS:-60}
TARGETS=${CMK_SOAK_TARGETS:-cmk crypt}
P="cmk:ss$CMK_TAG:"
SWAP_LEN=1048576	# 512 MiB
DATA_LEN=524288		# 256 MiB
HOG=build/tests/mem_hog

if [ -z "$DISK" ] || [ ! -b "$DISK" ]; then
	echo "1..0 # SKIP no disk (tests/vm/swap-soak.sh gives one)"
	exit 4
fi
[ -x "$CMK_REPO/$HOG" ] || { echo "1..0 # SKIP no $HOG"; exit 4; }
command -v fio >/dev/null || { echo "1..0 # SKIP no fio"; exit 4; }
add_keys "$P" 4 || exit 4

read -ra targets <<<"$TARGETS"
tap_plan $((7 * ${#targets[@]}))

mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
hog_mb=$((mem_mb * 5 / 4))
diag "guest memory ${mem_mb} MiB, hog ${hog_mb} MiB, ${SECS} s per target"

# table TARGET START LEN: the table of a device of that target over DISK.
table() {
	case $1 in
	cmk) echo "0 $3 cmk $DISK $2 $(($3 / 4)) 4096 $P" ;;
	crypt) echo "0 $3 crypt aes-xts-plain64 :64:logon:${P}0 0 $DISK $2 1 sector_size:4096" ;;
	esac
}

vmstat() {
	awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat
}

for t in "${targets[@]}"; do
	sw=cmkss${t}sw$CMK_TAG
	da=cmkss${t}da$CMK_TAG
	mark=$(kmsg_mark)
	if dmsetup create "$sw" --table "$(table "$t" 0 $SWAP_LEN)" &&
		dmsetup create "$da" --table "$(table "$t" $SWAP_LEN $DATA_LEN)" &&
		settle; then
		CMK_DEVS+=("$sw" "$da")
		ok "$t: swap and data devices"
	else
		not_ok "$t: swap and data devices"
		continue
	fi
	swnode=$(dm_node "$sw")
	danode=$(dm_node "$da")
	check "$t: mkswap and swapon" eval "mkswap -q '$swnode' && swapon '$swnode'"

	in0=$(vmstat pswpin) out0=$(vmstat pswpout)
	start=$(now)
	timeout $((SECS + 240)) "$CMK_REPO/$HOG" "$hog_mb" "$SECS" \
		>"$CMK_TMP/hog.out" 2>"$CMK_TMP/hog.err" &
	hog=$!
	timeout $((SECS + 240)) fio --name=soak --filename="$danode" \
		--rw=randwrite --bs=16k --size=192M --ioengine=psync \
		--direct=0 --fsync=32 --verify=crc32c --verify_backlog=256 \
		--verify_fatal=1 --time_based --runtime="$SECS" \
		--output="$CMK_TMP/fio.out" >/dev/null 2>"$CMK_TMP/fio.err" &
	fio=$!
	wait "$hog"
	hrc=$?
	wait "$fio"
	frc=$?
	dt=$(awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.0f", e - s }')
	swin=$(($(vmstat pswpin) - in0)) swout=$(($(vmstat pswpout) - out0))

	if [ "$hrc" = 0 ]; then
		ok "$t: the hog found every page it got back from swap intact ($(cat "$CMK_TMP/hog.out"))"
	else
		not_ok "$t: the hog found every page it got back from swap intact" \
			"exit $hrc (124: did not finish in time)" "$(tail -n 5 "$CMK_TMP/hog.err")"
	fi
	if [ "$frc" = 0 ]; then
		ok "$t: fio buffered random writes verified (crc32c)"
	else
		not_ok "$t: fio buffered random writes verified (crc32c)" \
			"exit $frc (124: did not finish in time)" \
			"$(tail -n 5 "$CMK_TMP/fio.err")" "$(grep -i err "$CMK_TMP/fio.out" | head -n 5)"
	fi
	if [ "$swin" -gt 0 ] && [ "$swout" -gt 0 ]; then
		ok "$t: the guest swapped (pages in $swin, out $swout)"
	else
		not_ok "$t: the guest swapped" "pages in $swin, out $swout"
	fi
	diag "$t: ${dt} s, hog: $(cat "$CMK_TMP/hog.out"), swap pages in $swin out $swout, fio: $(grep -o 'WRITE: bw=[^,]*' "$CMK_TMP/fio.out")"
	check "$t: swapoff" swapoff "$swnode"
	log=$(kmsg_since "$mark")
	if bad=$(kmsg_bad "$log") || bad=$(grep -E 'page allocation failure|Out of memory' <<<"$log"); then
		not_ok "$t: no warning, hung task, OOM or allocation failure in the kernel log" "$bad"
	else
		ok "$t: no warning, hung task, OOM or allocation failure in the kernel log"
	fi
	dm_remove "$da"
	dm_remove "$sw"
done
tap_done
