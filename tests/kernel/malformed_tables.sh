#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Malformed tables: each must be refused with its own ti->error message in
# the kernel log, leave no device behind, and cause no kernel warning.

. "$(dirname "$0")/lib.sh"

LEN=16384	# 8 MiB
E=2048		# 1 MiB extents: 8 of them
P="cmk:bad$CMK_TAG:"

DEV=$(new_loop 32) || exit 4
DEV4K=$(new_loop 32 -b 4096) || exit 4
BIG=$(new_loop 1024) || exit 4
add_keys "$P" 8 || exit 4

# Keys for the key-specific cases.
add_keys "cmk:user$CMK_TAG:" 8 64 user
add_keys "cmk:short$CMK_TAG:" 8 32
add_keys "cmk:long$CMK_TAG:" 8 65
add_keys "cmk:part$CMK_TAG:" 7
add_keys "cmk:rev$CMK_TAG:" 8
keyctl revoke "$(keyctl search @s logon "cmk:rev${CMK_TAG}:3")"
add_keys "cmk:exp$CMK_TAG:" 8
keyctl timeout "$(keyctl search @s logon "cmk:exp${CMK_TAG}:5")" 1
# 256 keys, the 201st too short: tables of 256 extents or more build their
# transforms on several CPUs at once, and must fail the same way.
add_keys "cmk:par$CMK_TAG:" 256
head -c 32 /dev/urandom | keyctl padd logon "cmk:par${CMK_TAG}:200" @s >/dev/null
keyctl add user "cmk:l$CMK_TAG" x @s >/dev/null
keyctl add user "cmk:explease$CMK_TAG" x @s >/dev/null
keyctl timeout "$(keyctl search @s user "cmk:explease$CMK_TAG")" 1
sleep 2

LONGP="cmk:$(printf 'x%.0s' $(seq 1 130)):"

# table|expected message (a substring of the ti->error logged by dm)
CASES=(
	"|Not enough arguments"
	"$DEV 0 $E 512|Not enough arguments"
	"/dev/cmk-no-such-device 0 $E 512 $P|Device lookup failed"
	"$DEV abc $E 512 $P|Invalid data offset"
	"$DEV 12x $E 512 $P|Invalid data offset"
	"$DEV -8 $E 512 $P|Invalid data offset"
	"$DEV 99999999999999999999999 $E 512 $P|Invalid data offset"
	"$DEV 65536 $E 512 $P|Data area extends beyond the end of the device"
	"$DEV 60000 $E 512 $P|Data area extends beyond the end of the device"
	"$DEV 0 0 512 $P|Invalid extent size"
	"$DEV 0 3000 512 $P|Extent size is not a power of two"
	"$DEV 0 2147483648 512 $P|Invalid extent size"
	"$DEV 0 1MiB 512 $P|Invalid extent size"
	"$DEV 0 4 4096 $P|Extent size smaller than the data unit"
	"$DEV 0 $E 1024 $P|Invalid data unit size (must be 512 or 4096)"
	"$DEV 0 $E 256 $P|Invalid data unit size (must be 512 or 4096)"
	"$DEV 0 $E 8192 $P|Invalid data unit size (must be 512 or 4096)"
	"$DEV 0 $E 4k $P|Invalid data unit size (must be 512 or 4096)"
	"$DEV 1 $E 4096 $P|Offset, start or length not a multiple of the data unit"
	"$DEV4K 0 $E 512 $P|Data unit smaller than the device's logical block size"
	"$DEV 0 $E 512 cmkbad$CMK_TAG|Invalid key prefix"
	"$DEV 0 $E 512 :cmkbad$CMK_TAG:|Invalid key prefix"
	"$DEV 0 $E 512 $LONGP|Key prefix too long"
	"$DEV 0 $E 512 cmk:nokeys$CMK_TAG:|Key not found"
	"$DEV 0 $E 512 cmk:part$CMK_TAG:|Key not found"
	"$DEV 0 $E 512 cmk:user$CMK_TAG:|Key is not a logon key"
	"$DEV 0 $E 512 cmk:short$CMK_TAG:|Key has the wrong size"
	"$DEV 0 $E 512 cmk:long$CMK_TAG:|Key has the wrong size"
	"$DEV 0 $E 512 cmk:rev$CMK_TAG:|Key revoked"
	"$DEV 0 $E 512 cmk:exp$CMK_TAG:|Key not found"
	"$DEV 0 $E 512 $P 9 allow_discards|Invalid number of feature args"
	"$DEV 0 $E 512 $P 2 allow_discards|Invalid number of feature args"
	"$DEV 0 $E 512 $P x|Invalid number of feature args"
	"$DEV 0 $E 512 $P 1 frobnicate|Unrecognised feature requested"
	"$DEV 0 $E 512 $P 2 allow_discards allow_discards|Duplicate allow_discards feature"
	"$DEV 0 $E 512 $P 1 lease|Feature lease requires a key description"
	"$DEV 0 $E 512 $P 4 lease cmk:l$CMK_TAG lease cmk:l$CMK_TAG|Duplicate lease feature"
	"$DEV 0 $E 512 $P 2 lease nocolon|Invalid lease key description"
	"$DEV 0 $E 512 $P 2 lease cmk:nolease$CMK_TAG|Lease key not found"
	"$DEV 0 $E 512 $P 2 lease cmk:explease$CMK_TAG|Lease key not found"
	"$DEV 0 $E 512 $P 1 allow_discards extra|Too many arguments"
	"$DEV 0 $E 512 $P 0 extra|Too many arguments"
)

# The 4096-unit length case, the extent-count limit and the tables of 256
# and 512 extents (keys built in parallel) need their own table lengths.
SPECIAL=(
	"16380|$DEV 0 $E 4096 $P|Offset, start or length not a multiple of the data unit"
	"1048577|$BIG 0 1 512 $P|Too many extents (use larger extents)"
	"16384|$DEV 0 64 512 cmk:par$CMK_TAG:|Key has the wrong size"
	"16384|$DEV 0 32 512 cmk:par$CMK_TAG:|Key not found"
)

tap_plan $((${#CASES[@]} + ${#SPECIAL[@]} + 2))

NAME=cmkbad$CMK_TAG
START=$(kmsg_mark)

try_table() {
	local len=$1 args=$2 want=$3 mark out log

	mark=$(kmsg_mark)
	if out=$(dmsetup create "$NAME" --table "0 $len cmk $args" 2>&1); then
		dm_remove "$NAME"
		not_ok "refused: $want [$args]" "table was accepted"
		return
	fi
	log=$(kmsg_since "$mark")
	if dmsetup info "$NAME" >/dev/null 2>&1; then
		dm_remove "$NAME"
		not_ok "refused: $want [$args]" "device left behind"
	elif ! grep -qF "cmk: $want" <<<"$log"; then
		not_ok "refused: $want [$args]" "expected message not logged" \
			"log: $(tr '\n' ' ' <<<"$log")"
	else
		ok "refused: $want"
	fi
}

for c in "${CASES[@]}"; do
	try_table "$LEN" "${c%%|*}" "${c#*|}"
done
for c in "${SPECIAL[@]}"; do
	len=${c%%|*}
	rest=${c#*|}
	try_table "$len" "${rest%%|*}" "${rest#*|}"
done

# A good table still loads after all that (nothing was left half-built).
if cmk_create "good$CMK_TAG" "$LEN" "$DEV 0 $E 512 $P"; then
	ok "a valid table loads after the malformed ones"
else
	not_ok "a valid table loads after the malformed ones"
fi

bad=$(kmsg_bad "$(kmsg_since "$START")")
if [ -z "$bad" ]; then
	ok "no kernel warning while refusing tables"
else
	not_ok "no kernel warning while refusing tables" "$bad"
fi

tap_done
