#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A KEK rotation whose device fails under it, as cryptsetup's reencryption
# tests do with dm-flakey and dm-error: the header lives on a dm device,
# and at a chosen header write or sync (tests/host/modules/write_fault.so,
# mode "hook") its table is swapped for dm-flakey that silently drops
# every write from there on (drop_writes), or fails them (error_writes).
# For each of the rotation's 8 header events and both modes: cmkctl must
# not report success; with the device healthy again the header opens
# (with the old KEK or the new one), a second kek-rotate finishes the
# rotation, and the DEKs and volume key are the same.
#
# CMK_CRASH_EVENTS: the events tried, "all" or a list; default a sample
# (1: the first staging write; 4: the staging's last sync; 5: the first
# switch write; 8: the last sync).  make check-extended tries all 8.

# shellcheck disable=SC2034

. "$(dirname "$0")/lib.sh"

CMKCTL=$CMK_REPO/build/userspace/cmkctl
VAULT=$CMK_REPO/scripts/cmk-vault-softhsm
SHIM=$CMK_REPO/build/tests/host/modules/write_fault.so
DIGEST=$CMK_REPO/build/tests/host/tools/dek_digest
HDR=hdr$CMK_TAG
VDIR=$CMK_TMP/vault
export CMK_STATE_DIR=$CMK_TMP/state
export PATH=$PATH:/sbin:/usr/sbin

PLAN=6
tap_plan $PLAN
if [ ! -x "$CMKCTL" ] || [ ! -e "$SHIM" ] || [ ! -x "$DIGEST" ] ||
	[ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then
	for _ in $(seq $PLAN); do skip "kek_crash_vm" "cmkctl, the shim, dek_digest or SoftHSM2 missing"; done
	exit 0
fi

out=$("$VAULT" create "$VDIR" 2>&1) && eval "$(grep -v '^#' <<<"$out")"
export SOFTHSM2_CONF
PINF=(--pin-file "$VDIR/pin")
KEY="pkcs11:token=cmk;object=cmk-kek;type=private"
if [ -n "${CMK_KEK_URI:-}" ] &&
	"$VAULT" newkey "$VDIR" --id 02 >>"$CMK_TMP/vault.log" 2>&1; then
	ok "setup: a vault with KEK versions 01 and 02"
else
	not_ok "setup: a vault with KEK versions 01 and 02" "$out"
fi

LOOP=$(new_loop 48)
SECTORS=$(blockdev --getsz "$LOOP")
LINEAR="0 $SECTORS linear $LOOP 0"
dmsetup create "$HDR" --table "$LINEAR"
CMK_DEVS+=("$HDR")
settle
DEV=$(dm_node "$HDR")
if "$CMKCTL" format "$DEV" --kek "pkcs11:token=cmk;object=cmk-kek;id=%01;type=private" \
	"${PINF[@]}" -e 8M >"$CMK_TMP/out" 2>&1 &&
	dd if="$DEV" of="$CMK_TMP/template" bs=1M count=1 iflag=direct status=none; then
	D0=$("$DIGEST" "$DEV" "$KEY" "$VDIR/pin")
	ok "setup: a volume on dm device $HDR under version 01 ($(wc -c <"$CMK_TMP/template") header bytes saved)"
else
	not_ok "setup: a volume on a dm device" "$(cat "$CMK_TMP/out")"
fi
cp -a "$CMK_STATE_DIR" "$CMK_TMP/state.template"

# swap TABLE: replace the header device's table (used by the shim's hook).
cat >"$CMK_TMP/swap.sh" <<EOF
#!/bin/sh
dmsetup suspend --noflush $HDR && dmsetup load $HDR --table "\$1" && dmsetup resume $HDR
EOF
chmod 755 "$CMK_TMP/swap.sh"

# fresh: the header as formatted, the device healthy, the host record back.
fresh() {
	"$CMK_TMP/swap.sh" "$LINEAR" || return 1
	dd if="$CMK_TMP/template" of="$DEV" bs=1M oflag=direct conv=notrunc status=none || return 1
	blockdev --flushbufs "$DEV"
	rm -rf "$CMK_STATE_DIR"
	cp -a "$CMK_TMP/state.template" "$CMK_STATE_DIR"
}

# Count the events of an undisturbed rotation.
fresh
rm -f "$CMK_TMP/fi.log"
CMK_FI_TARGET=$DEV CMK_FI_LOG=$CMK_TMP/fi.log LD_PRELOAD=$SHIM \
	"$CMKCTL" kek-rotate "$DEV" "${PINF[@]}" >"$CMK_TMP/out" 2>&1
rc=$?
EVENTS=$(wc -l <"$CMK_TMP/fi.log" 2>/dev/null)
if [ "$rc" = 0 ] && [ "$EVENTS" = 8 ]; then
	ok "an undisturbed rotation on the dm device: 8 header events"
else
	not_ok "an undisturbed rotation: 8 header events" "rc=$rc events=$EVENTS" "$(cat "$CMK_TMP/out")"
fi

# One run: the device turns bad at event AT (MODE drop_writes|error_writes).
scenario() {
	local mode=$1 at=$2 rc s why=""
	fresh || { echo "reset failed"; return; }
	CMK_FI_TARGET=$DEV CMK_FI_AT=$at CMK_FI_MODE=hook \
		CMK_FI_HOOK="$CMK_TMP/swap.sh '0 $SECTORS flakey $LOOP 0 0 1 1 $mode'" \
		LD_PRELOAD=$SHIM timeout 120 "$CMKCTL" kek-rotate "$DEV" "${PINF[@]}" \
		>"$CMK_TMP/out" 2>&1
	rc=$?
	"$CMK_TMP/swap.sh" "$LINEAR"
	blockdev --flushbufs "$DEV"
	echo 3 >/proc/sys/vm/drop_caches
	[ "$rc" != 0 ] || why="reported success"
	s=$("$CMKCTL" dump "$DEV" 2>/dev/null | sed -n 's/^KEK version:[[:space:]]*//p; s/^KEK rotation:[[:space:]]*//p' | tr '\n' ' ')
	timeout 60 "$CMKCTL" unlock-check "$DEV" "${PINF[@]}" >/dev/null 2>"$CMK_TMP/uc.err" ||
		why="$why; does not open ($s): $(tail -1 "$CMK_TMP/uc.err")"
	timeout 60 "$CMKCTL" kek-rotate "$DEV" "${PINF[@]}" >/dev/null 2>"$CMK_TMP/rs.err" ||
		why="$why; resume failed ($s): $(tail -1 "$CMK_TMP/rs.err")"
	[ "$("$CMKCTL" dump "$DEV" | sed -n 's/^KEK version:[[:space:]]*//p')" = 02 ] ||
		why="$why; not at version 02 after the resume"
	[ "$("$DIGEST" "$DEV" "$KEY" "$VDIR/pin")" = "$D0" ] || why="$why; DEKs or volume key changed"
	echo "${why#; }|$s|$(grep -m1 -o 'error: .*' "$CMK_TMP/out" | cut -c1-90)"
}

AT=${CMK_CRASH_EVENTS:-1 4 5 8}
[ "$AT" = all ] && AT=$(seq 1 "${EVENTS:-8}")
AT=$(echo $AT)
for mode in drop_writes error_writes; do
	bad=""
	for at in $AT; do
		r=$(scenario "$mode" "$at")
		diag "$mode from event $at: header after: ${r#*|}"
		[ -z "${r%%|*}" ] || bad="$bad [at $at: ${r%%|*}]"
	done
	if [ -z "$bad" ]; then
		ok "dm-flakey $mode from events $AT (of 8): never a false success, opens, resumes, DEKs intact"
	else
		not_ok "dm-flakey $mode from each event" "$bad"
	fi
done
kmsg_clean_ok
tap_done
