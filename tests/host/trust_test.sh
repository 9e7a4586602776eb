#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trust_test: the disk is the attacker's (design.md, "Trust boundary";
# Documentation/admin-guide/device-mapper/cmk-threat-model.rst).  Host-side,
# against the embedded SoftHSM2 vault with volumes in regular files.  TAP;
# exit 0 pass, 1 fail, 4 skip.
#
# A header rewritten with valid checksums so that its KEK URI names a
# PKCS#11 module of the attacker's (module-path=, a library whose
# constructor leaves a marker file) and a FIFO as its PIN source: cmkctl
# unlock-check and dump, and cmkd for a cmktab line
# whose KEK field is "-", never load the module nor open the FIFO, and say
# why.  The control: the same module given by the administrator is loaded
# (the marker appears), so a missing marker means something.  open and
# recovery-table, which need a block device, are tried in the guest
# (tests/kernel/cmkctl_vm.sh).

# Conditions are single-quoted and eval'd by check().
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
CMKD=${CMKD:-$ROOT/build/userspace/cmkd}
MARKER_SO=$ROOT/build/tests/host/modules/marker_pkcs11.so
PY=/usr/bin/python3
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so

echo "TAP version 13"
# shellcheck source=tests/host/vault.sh
. "$(dirname "$(readlink -f "$0")")/vault.sh"
need_built "$CMKCTL" "$CMKD" "$MARKER_SO"
need_installed "$SOFTHSM" /usr/bin/softhsm2-util /usr/bin/pkcs11-tool "$PY"

T=$(mktemp -d /tmp/trust_test.XXXXXX) || exit 1
umask 077
CMKD_PID=
cleanup() {
	[ -n "$CMKD_PID" ] && kill "$CMKD_PID" 2>/dev/null && wait "$CMKD_PID"
	rm -rf "$T"
}
trap cleanup EXIT

PLAN=29

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"
rc=0
# run ARGS...: cmkctl with a 20 s bound (a FIFO must not hang it).
run() {
	rc=0
	timeout 20 "$CMKCTL" "$@" >"$T/out" 2>"$T/err" || rc=$?
}
# rewrite_uri FILE URI: the KEK URI of both header copies, checksums redone.
rewrite_uri() {
	"$ROOT/tests/host/hdr-edit.py" "$1" uri "$2"
}

make_vault
export CMK_TEST_MARKER=$T/loaded
PINF=(--pin-file "$T/v/pin")
mkfifo "$T/fifo"

# ---- the control: a module the administrator names is loaded ----
run validate-kek "$KEY?module-path=$MARKER_SO" "${PINF[@]}"
check "control: the marker module given on the command line is loaded (marker written), and refused as a module" \
	'[ $rc = 3 ] && [ -s "$T/loaded" ] && err_has "not a PKCS#11 module"'
rm -f "$T/loaded"

# ---- format records the key's name only ----
truncate -s 64M "$T/d"
run format "$T/d" --kek "$KEY?module-path=$SOFTHSM&pin-source=file:$T/v/pin" -e 16M --json
UUID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["uuid"])' "$T/out")
FP=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vk_fingerprint"])' "$T/out")
check "format: exit 0, prints the volume key fingerprint, pinned on this host" \
	'[ $rc = 0 ] && [ "${#FP}" = 39 ] && err_has "pinned on this host: volume key fingerprint $FP" &&
	 grep -qx "fingerprint $FP" "$CMK_STATE_DIR/$UUID" &&
	 [ "$(stat -c %a "$CMK_STATE_DIR/$UUID")" = 600 ]'
run dump "$T/d" --json
check "format records the key's name only: no module, no PIN source in the header" \
	'[ $rc = 0 ] && "$PY" -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))[\"kek\"][\"uri\"] != sys.argv[2])" "$T/out" "$KEY"'
run unlock-check "$T/d" "${PINF[@]}"
check "unlock-check with the header's URI, the default module and --pin-file: exit 0" \
	'[ $rc = 0 ]'
run unlock-check "$T/d" --module softhsm2 "${PINF[@]}"
check "--module softhsm2 (the name p11-kit registers it under): exit 0" \
	'[ $rc = 0 ]'
run unlock-check "$T/d" --module lib/x.so "${PINF[@]}"
check "--module with a relative path: exit 3, says it must be absolute" \
	'[ $rc = 3 ] && err_has "must be absolute"'

# ---- the attacker's header ----
cp "$T/d" "$T/evil"
rewrite_uri "$T/evil" "$KEY?module-path=$MARKER_SO&pin-source=file:$T/fifo"
WHY="recorded on the device sets module-path=, pin-source=: a device may only name its key"
run dump "$T/evil"
check "dump of the rewritten header: exit 0, module not loaded" \
	'[ $rc = 0 ] && out_has "module-path=" && [ ! -e "$T/loaded" ]'
run unlock-check "$T/evil" "${PINF[@]}"
check "unlock-check: refused at once (exit 3), says why; module not loaded, FIFO not opened" \
	'[ $rc = 3 ] && err_has "$WHY" && [ ! -e "$T/loaded" ]'
run unlock-check "$T/evil"
check "unlock-check without a PIN option: the same (the header gives no PIN source)" \
	'[ $rc = 3 ] && err_has "$WHY" && [ ! -e "$T/loaded" ]'
run unlock-check "$T/evil" --kek "$KEY" "${PINF[@]}"
check "with the administrator's --kek the URI passes, and the rewritten header fails its MAC (exit 4); module not loaded" \
	'[ $rc = 4 ] && err_has "does not authenticate under its volume key" && [ ! -e "$T/loaded" ]'

rewrite_uri "$T/evil" "$KEY?module-name=marker_pkcs11&x-evil%0Aline=1"
run unlock-check "$T/evil" "${PINF[@]}"
check "module-name= and an x- attribute with an encoded newline: refused, named, one line" \
	'[ $rc = 3 ] && err_has "sets module-name=, x-evil%0Aline=:" && [ "$(wc -l <"$T/err")" = 1 ]'

# ---- forged headers, altered bytes, rollback (issue 13, item 2) ----
run unlock-check "$T/d" "${PINF[@]}"
check "unlock-check: the volume key fingerprint, pinned" \
	'[ $rc = 0 ] && out_has "volume key fingerprint $FP, pinned"'
HOST2=$T/host2
CMK_STATE_DIR=$HOST2 run unlock-check "$T/d" "${PINF[@]}"
check "on a host that never saw it: accepted, with its fingerprint and how to pin it" \
	'[ $rc = 0 ] && err_has "not pinned on this host: its volume key fingerprint is $FP; pin it with --vk-fingerprint $FP \(cmktab: vk-fingerprint=$FP\)" &&
	 [ ! -e "$HOST2/$UUID" ]'

# Anyone with the KEK's public half: a volume key of their own, the DEKs
# under it, the header sealed with it; same UUID, a higher sequence.
cp "$T/d" "$T/forged"
FORGE=$ROOT/build/tests/host/tools/hdr_forge
"$FORGE" forge "$T/forged" "$KEY" "$T/v/pin" >"$T/out" 2>"$T/err"
check "hdr_forge: a forged header of volume $UUID written" '[ $? = 0 ]'
run unlock-check "$T/forged" "${PINF[@]}"
check "the forged header is refused where the volume is pinned (exit 4), and says why" \
	'[ $rc = 4 ] && err_has "is not $FP, the one this host pinned .*: this header was not written with the volume.s key"'
CMK_STATE_DIR=$HOST2 run unlock-check "$T/forged" --vk-fingerprint "$FP" "${PINF[@]}"
check "... and with --vk-fingerprint on a host without a record (exit 4)" \
	'[ $rc = 4 ] && err_has "is not the pinned $FP"'
CMK_STATE_DIR=$HOST2 run unlock-check "$T/forged" "${PINF[@]}"
check "control: unpinned, the forged header would pass (another fingerprint, a warning)" \
	'[ $rc = 0 ] && err_has "not pinned on this host" && ! err_has "$FP"'

# One byte anywhere, the checksums recomputed: the MAC refuses it.
bad=""
for off in 32 64 150 1900 3530 3690 3800 4196; do
	cp "$T/d" "$T/flip"
	"$ROOT/tests/host/hdr-edit.py" "$T/flip" flip "$off"
	run unlock-check "$T/flip" "${PINF[@]}"
	[ $rc = 4 ] || bad+=" $off(rc=$rc)"
	# The label (64), the seqno (32), the staged KEK, the rotation record,
	# reserved bytes, the MAC: decoded fine, refused by the MAC.
	case $off in
	32 | 64 | 1900 | 3530 | 3690 | 3800)
		err_has "does not authenticate under its volume key" || bad+=" $off(why)" ;;
	esac
done
check "8 one-byte changes (seqno, label, geometry, staged KEK, rotation record, MAC, reserved, an extent entry): each refused" \
	'[ -z "$bad" ]' "not refused as expected:$bad"

# Rollback: an authentic older header written back.
run header-backup "$T/d" "$T/d.bak"
"$FORGE" rewrite "$T/d" "$KEY" "$T/v/pin" "$CMK_STATE_DIR" >"$T/out" 2>"$T/err"
check "a legitimate update on this host: sequence 2, recorded" \
	'[ $? = 0 ] && grep -q "^seqno 2$" "$T/out" && grep -qx "seqno 2" "$CMK_STATE_DIR/$UUID"'
dd if="$T/d.bak" of="$T/d" conv=notrunc status=none
run unlock-check "$T/d" "${PINF[@]}"
check "the older header written back: refused as a rollback (exit 4)" \
	'[ $rc = 4 ] && err_has "rollback: the header.s sequence number 1 is older than 2, the last this host saw"'
run unlock-check "$T/d" --allow-rollback "${PINF[@]}"
check "--allow-rollback: accepted, with a warning" \
	'[ $rc = 0 ] && err_has "rollback allowed: header sequence number 1, this host had seen 2"'
run header-restore "$T/d" "$T/d.bak"
check "header-restore of that backup, on purpose: exit 0" '[ $rc = 0 ]'
run unlock-check "$T/d" "${PINF[@]}"
check "after header-restore this host accepts it: no rollback" \
	'[ $rc = 0 ] && ! err_has "rollback" && grep -qx "seqno 1" "$CMK_STATE_DIR/$UUID"'

# ---- cmkd, KEK field "-": the header's URI ----
rewrite_uri "$T/evil" "$KEY?module-path=$MARKER_SO&pin-source=file:$T/fifo"
{
	printf 'evil %s - pin-file=%s,poll=2s,retry-max=2s\n' "$T/evil" "$T/v/pin"
	printf 'forged %s - pin-file=%s,vk-fingerprint=%s,poll=2s,retry-max=2s\n' \
		"$T/forged" "$T/v/pin" "$FP"
	# A KEK field naming another key: cmkd would take the header's key
	# with this field's settings (after a rotation): never its query.
	printf 'evil2 %s pkcs11:token=cmk;object=another-key?module-path=%s pin-file=%s,poll=2s,retry-max=2s\n' \
		"$T/evil2" "$SOFTHSM" "$T/v/pin"
} >"$T/cmktab"
cp "$T/evil" "$T/evil2"
"$CMKD" --foreground --config "$T/cmktab" --socket "$T/sock" \
	--audit-log "$T/audit.log" 2>"$T/cmkd.log" &
CMKD_PID=$!
for _ in $(seq 100); do
	grep -q "recorded on the device" "$T/cmkd.log" && break
	sleep 0.1
done
sleep 3		# one more attempt, and its KEK checks
check "cmkd: the open attempt is refused, the log says why" \
	'grep -q "$WHY" "$T/cmkd.log"' "$(sed 's/^/# /' "$T/cmkd.log" | head -5)"
check "cmkd: with a cmktab KEK naming another key, the header's query is refused too" \
	'grep -q "evil2: .*$WHY" "$T/cmkd.log"' "$(grep evil2 "$T/cmkd.log" | head -3)"
check "cmkd: the module was never loaded, the FIFO never opened" \
	'[ ! -e "$T/loaded" ] && kill -0 $CMKD_PID'
check "cmkd: a configuration error, reported once and not retried (retry-max=2s, 3 s later)" \
	'[ "$(grep -c "evil: .*recorded on the device" "$T/cmkd.log")" = 1 ] &&
	 grep -q "configuration error: .*not retried: fix it, then cmkctl revalidate evil" "$T/cmkd.log"'
check "cmkd: the forged volume (cmktab vk-fingerprint=) is refused before any table, not retried" \
	'grep -q "forged.*is not the pinned $FP" "$T/cmkd.log" &&
	 [ "$(grep -c "forged.*is not the pinned" "$T/cmkd.log")" -le 2 ]' "$(grep forged "$T/cmkd.log" | head -3)"
kill "$CMKD_PID"
wait "$CMKD_PID"
check "cmkd: exits 0 on SIGTERM with the attacker's volume pending" '[ $? = 0 ]'
CMKD_PID=

tap_end
