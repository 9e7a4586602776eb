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
VAULT=$ROOT/scripts/cmk-vault-softhsm
PY=/usr/bin/python3
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so

echo "TAP version 13"
for need in "$CMKCTL" "$CMKD" "$MARKER_SO"; do
	if [ ! -e "$need" ]; then
		echo "1..0 # SKIP $need not built (make tests)"
		exit 4
	fi
done
for need in "$SOFTHSM" /usr/bin/softhsm2-util /usr/bin/pkcs11-tool "$PY"; do
	if [ ! -e "$need" ]; then
		echo "1..0 # SKIP $need not installed"
		exit 4
	fi
done

T=$(mktemp -d /tmp/trust_test.XXXXXX) || exit 1
umask 077
CMKD_PID=
cleanup() {
	[ -n "$CMKD_PID" ] && kill "$CMKD_PID" 2>/dev/null && wait "$CMKD_PID"
	rm -rf "$T"
}
trap cleanup EXIT

PLAN=15

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

if ! "$VAULT" create "$T/v" >"$T/v.out" 2>"$T/v.err"; then
	sed 's/^/# /' "$T/v.err"
	echo "Bail out! cmk-vault-softhsm create failed"
	exit 1
fi
export SOFTHSM2_CONF=$T/v/softhsm2.conf
export CMK_TEST_MARKER=$T/loaded
KEY="pkcs11:token=cmk;object=cmk-kek;id=%01;type=private"
PINF=(--pin-file "$T/v/pin")
mkfifo "$T/fifo"

# ---- the control: a module the administrator names is loaded ----
run validate-kek "$KEY?module-path=$MARKER_SO" "${PINF[@]}"
check "control: the marker module given on the command line is loaded (marker written), and refused as a module" \
	'[ $rc = 3 ] && [ -s "$T/loaded" ] && err_has "not a PKCS#11 module"'
rm -f "$T/loaded"

# ---- format records the key's name only ----
truncate -s 64M "$T/d"
run format "$T/d" --kek "$KEY?module-path=$SOFTHSM&pin-source=file:$T/v/pin" -e 16M
check "format: exit 0" '[ $rc = 0 ]'
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
check "the administrator's --kek replaces the header's URI: exit 0, module not loaded" \
	'[ $rc = 0 ] && [ ! -e "$T/loaded" ]'

rewrite_uri "$T/evil" "$KEY?module-name=marker_pkcs11&x-evil%0Aline=1"
run unlock-check "$T/evil" "${PINF[@]}"
check "module-name= and an x- attribute with an encoded newline: refused, named, one line" \
	'[ $rc = 3 ] && err_has "sets module-name=, x-evil%0Aline=:" && [ "$(wc -l <"$T/err")" = 1 ]'

# ---- cmkd, KEK field "-": the header's URI ----
rewrite_uri "$T/evil" "$KEY?module-path=$MARKER_SO&pin-source=file:$T/fifo"
printf 'evil %s - pin-file=%s,poll=2s,retry-max=2s\n' "$T/evil" "$T/v/pin" >"$T/cmktab"
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
check "cmkd: the module was never loaded, the FIFO never opened" \
	'[ ! -e "$T/loaded" ] && kill -0 $CMKD_PID'
check "cmkd: a configuration error, reported once and not retried (retry-max=2s, 3 s later)" \
	'[ "$(grep -c "recorded on the device" "$T/cmkd.log")" = 1 ] &&
	 grep -q "configuration error: .*not retried: fix it, then cmkctl revalidate evil" "$T/cmkd.log"'
kill "$CMKD_PID"
wait "$CMKD_PID"
check "cmkd: exits 0 on SIGTERM with the attacker's volume pending" '[ $? = 0 ]'
CMKD_PID=

tap_end
