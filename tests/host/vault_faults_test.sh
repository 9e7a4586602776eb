#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vault_faults_test: how vault errors are classified, through a PKCS#11
# shim over SoftHSM2 (tests/host/modules/shim_pkcs11.c) that makes chosen
# calls fail.  TAP; exit 0 pass, 1 fail, 4 skip.
#
# C_Decrypt's CKR_GENERAL_ERROR and CKR_FUNCTION_FAILED mean "not wrapped by
# this key" or "the token failed": one of them once is retried on a fresh
# session and the unlock succeeds (the audit log shows the failed attempt);
# persistently, a known-answer probe fails too and the error is transient
# (a volume then rides out its grace), never "invalid key".  A wrapped
# volume key that is really corrupt still fails as invalid-key (the probe
# decrypts).  A CKR_DEVICE_ERROR reading the key's dates once is read
# again; persistently it is transient.  cmkd's teardown bounds for these
# are measured in the guest (tests/kernel/cmkd_vm.sh).

# Conditions are single-quoted and eval'd by check().
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
SHIM=$ROOT/build/tests/host/modules/shim_pkcs11.so
PY=/usr/bin/python3
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so

echo "TAP version 13"
# shellcheck source=tests/host/vault.sh
. "$(dirname "$(readlink -f "$0")")/vault.sh"
need_built "$CMKCTL" "$SHIM"
need_installed "$SOFTHSM" /usr/bin/softhsm2-util /usr/bin/pkcs11-tool "$PY"

T=$(mktemp -d /tmp/vault_faults_test.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
umask 077

PLAN=16

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"

make_volume
export CMK_SHIM_MODULE=$SOFTHSM CMK_SHIM_CONTROL=$T/faults

rc=0
# unlock [FAULT...]: the faults (lines of the control file), then
# unlock-check through the shim; audit records in $T/audit.
unlock() {
	rm -f "$T/faults" "$T/faults.log" "$T/audit"
	[ $# -gt 0 ] && printf '%s\n' "$@" >"$T/faults"
	rc=0
	timeout 60 "$CMKCTL" unlock-check "$T/d" --module "$SHIM" \
		--pin-file "$T/v/pin" --audit-log "$T/audit" \
		>"$T/out" 2>"$T/err" || rc=$?
	cp "$T/audit" "$T/audit.last" 2>/dev/null
}
# ops: the audit log's "op:result" sequence, space-separated.
ops() {
	"$PY" -c 'import json,sys; print(" ".join(d["op"] + ":" + d["result"] for d in map(json.loads, open(sys.argv[1]))))' "$T/audit"
}
injected() { [ -f "$T/faults.log" ] && wc -l <"$T/faults.log" || echo 0; }

unlock
check "control: through the shim, no fault: unlocks, one unwrap" \
	'[ $rc = 0 ] && [ "$(ops)" = "open:ok unwrap:ok" ]' "ops: $(ops)"

unlock "C_Decrypt 0x5 1"
check "C_Decrypt CKR_GENERAL_ERROR once: retried on a fresh session, unlocks" \
	'[ $rc = 0 ] && [ "$(injected)" = 1 ]'
check "... the audit log shows the failed attempt, then the unwrap" \
	'[ "$(ops)" = "open:ok unwrap-attempt:transient unwrap:ok" ]' "ops: $(ops)"

unlock "C_Decrypt 0x6 1"
check "C_Decrypt CKR_FUNCTION_FAILED once: unlocks, the attempt audited" \
	'[ $rc = 0 ] && [ "$(ops)" = "open:ok unwrap-attempt:transient unwrap:ok" ]' "ops: $(ops)"

unlock "C_Decrypt 0x5 *"
check "C_Decrypt CKR_GENERAL_ERROR persistently: exit 3, transient, not invalid-key" \
	'[ $rc = 3 ] && err_has "\(transient\)" && err_has "probe fails too" && ! err_has "invalid-key"'
check "... audited: two attempts, the probe, the unwrap, all transient" \
	'[ "$(ops)" = "open:ok unwrap-attempt:transient unwrap-attempt:transient probe:transient unwrap:transient" ]' \
	"ops: $(ops)"

cp "$T/d" "$T/d.good"
"$ROOT/tests/host/hdr-edit.py" "$T/d" flip 1368
unlock
check "a corrupt wrapped volume key (checksums recomputed): exit 3, invalid-key" \
	'[ $rc = 3 ] && err_has "\(invalid-key\)" && err_has "known-answer probe decrypts"'
check "... audited: two attempts, the probe ok, the unwrap invalid-key" \
	'[ "$(ops)" = "open:ok unwrap-attempt:transient unwrap-attempt:transient probe:ok unwrap:invalid-key" ]' \
	"ops: $(ops)"
cp "$T/d.good" "$T/d"

unlock "dates-private 0x30 1"
check "CKR_DEVICE_ERROR reading the key's dates once: read again, unlocks" \
	'[ $rc = 0 ] && [ "$(injected)" = 1 ] && [ "$(ops)" = "open:ok unwrap:ok" ]' "ops: $(ops)"
unlock "dates-private 0x30 *"
check "CKR_DEVICE_ERROR reading the dates persistently: exit 3, transient" \
	'[ $rc = 3 ] && err_has "reading the key.s dates: CKR_DEVICE_ERROR" && err_has "\(transient\)"'
unlock "dates-public 0x30 *"
check "CKR_DEVICE_ERROR reading the public key's dates persistently: transient too" \
	'[ $rc = 3 ] && err_has "public key.s dates: CKR_DEVICE_ERROR" && err_has "\(transient\)"'
unlock "dates-private 0x5 1"
check "CKR_GENERAL_ERROR reading the private dates once: read again, unlocks" \
	'[ $rc = 0 ] && [ "$(injected)" = 1 ]'
unlock "dates-private 0x5 *"
check "... persistently (SoftHSM2's quirk), no public dates: invalid-key, fails closed as documented" \
	'[ $rc = 3 ] && err_has "\(invalid-key\)" && err_has "dates cannot be read"'

unlock "C_Decrypt 0x30 1"
check "C_Decrypt CKR_DEVICE_ERROR once: transient at once (no confirmation needed), exit 3" \
	'[ $rc = 3 ] && err_has "CKR_DEVICE_ERROR" && err_has "\(transient\)"'
unlock "C_Decrypt 0x68 1"
check "C_Decrypt CKR_KEY_FUNCTION_NOT_PERMITTED: definitive at once (disabled), one unwrap record" \
	'[ $rc = 3 ] && err_has "\(disabled\)" && [ "$(ops)" = "open:ok unwrap:disabled" ]' "ops: $(ops)"
no_key() { ! grep -Eqi '[0-9a-f]{64}' "$T/out" "$T/err" "$T/audit.last"; }
check "no key bytes in any output or audit record of these runs" 'no_key'

tap_end
