#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rotate_test: the key lifecycle on the host (issue 14), against the
# embedded SoftHSM2 vault with volumes in regular files.  TAP; exit 0
# pass, 1 fail, 4 skip.
#
#   - kek-rotate to the newest version of the KEK, to another key, and to
#     a key in another vault (a second token behind p11-kit server);
#     the header records the exact version and public key; the old
#     version disabled afterwards changes nothing; kek-retire-check says
#     which versions are still needed; the DEKs are untouched.
#   - refusals: nothing newer, a disabled, missing or identical target,
#     an altered header, a header locked by another process; each leaves
#     the header as it was.
#   - crash safety: the rotation interrupted at every header write and
#     sync (tests/host/modules/write_fault.so): killed before the event,
#     a write torn in half and killed, and every write from the event on
#     dropped by the "device".  After each: the header opens with the old
#     KEK or the new one (each tried alone where the state allows both),
#     the tool never reported success for a header that is not the new
#     one, and running kek-rotate again finishes the rotation.
#   - vk-rotate and rebind: new volume key (fingerprint), DEKs the same,
#     the host's pin follows, killed at every event the volume still
#     opens; a rebound copy is a volume of its own, under another KEK.

# Conditions are single-quoted and eval'd by check().
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
SHIM=$ROOT/build/tests/host/modules/write_fault.so
DIGEST=$ROOT/build/tests/host/tools/dek_digest
VAULT=$ROOT/scripts/cmk-vault-softhsm
PY=/usr/bin/python3
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so

echo "TAP version 13"
# shellcheck source=tests/host/vault.sh
. "$(dirname "$(readlink -f "$0")")/vault.sh"
need_built "$CMKCTL" "$SHIM" "$DIGEST"
need_installed "$SOFTHSM" /usr/bin/softhsm2-util /usr/bin/pkcs11-tool "$PY" /usr/bin/flock /usr/bin/openssl

T=$(mktemp -d /tmp/rotate_test.XXXXXX) || exit 1
umask 077
cleanup() {
	[ -d "$T/v2" ] && "$VAULT" stop "$T/v2" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan 44
rc=0
A=(--audit-log "$T/audit.log")
PINF=(--pin-file "$T/v/pin")
run() {
	rc=0
	timeout 60 "$CMKCTL" "$@" >"$T/out" 2>"$T/err" || rc=$?
}
# jq-like: a field of the JSON in $T/out ("a.b.c").
field() {
	"$PY" -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$T/out" "$1"
}
# state FILE: "<kek version> <idle|staged> <seqno>" of its header.
state() {
	"$CMKCTL" dump "$1" --json >"$T/dump.json" 2>"$T/dump.err" || { echo "none"; return; }
	"$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(d["kek"]["version"], d["kek_rotation"], d["seqno"])' "$T/dump.json"
}
vault() {
	"$VAULT" "$@" >>"$T/vault.log" 2>&1 || { echo "Bail out! cmk-vault-softhsm $*"; tail -5 "$T/vault.log"; exit 1; }
}
digest() {
	"$DIGEST" "$1" "$2" "$3" 2>"$T/digest.err" | cut -d' ' -f1
}
audit_count() {
	grep -c "\"op\":\"$1\"" "$T/audit.log"
}

make_vault
K01=$KEY
KBASE="pkcs11:token=cmk;object=cmk-kek"
truncate -s 64M "$T/d"
run format "$T/d" --kek "$K01" "${PINF[@]}" -e 16M --json
UUID=$(field uuid)
FP=$(field vk_fingerprint)
D0=$(digest "$T/d" "$K01" "$T/v/pin")
check "set-up: a 4-extent volume under version 01, its DEK digest read" \
	'[ $rc = 0 ] && [ ${#D0} = 64 ]'
cp "$T/d" "$T/template"
cp -a "$CMK_STATE_DIR" "$T/state.template"

# ---- kek-rotate to the newest version ----
run kek-rotate "$T/d" "${PINF[@]}" "${A[@]}"
check "no newer version: exit 3, says so, header unchanged" \
	'[ $rc = 3 ] && err_has "no enabled version newer than 01" && [ "$(state "$T/d")" = "01 idle 1" ]'
vault newkey "$T/v" --id 02
vault kek "$T/v" disable --id 02
run kek-rotate "$T/d" "${PINF[@]}" "${A[@]}"
check "the only newer version is disabled: exit 3, header unchanged" \
	'[ $rc = 3 ] && err_has "no enabled version newer" && [ "$(state "$T/d")" = "01 idle 1" ]'
vault kek "$T/v" enable --id 02
: >"$T/audit.log"
run kek-rotate "$T/d" "${PINF[@]}" "${A[@]}" --json
PUB02=$(field to.pub_sha256 2>/dev/null)
check "kek-rotate: exit 0, from version 01 to 02, both public key hashes" \
	'[ $rc = 0 ] && [ "$(field from.version)" = 01 ] && [ "$(field to.version)" = 02 ] &&
	 [ "$(field from.pub_sha256)" != "$PUB02" ] && [ ${#PUB02} = 64 ]'
check "audit: one unwrap through the old KEK, one wrap and one verifying unwrap under the new, each step recorded" \
	'[ "$(audit_count unwrap)" = 2 ] && [ "$(audit_count wrap)" = 1 ] && [ "$(audit_count describe)" = 1 ] &&
	 [ "$(audit_count list-versions)" = 1 ] && [ "$(audit_count kek-stage)" = 1 ] &&
	 [ "$(audit_count kek-verify)" = 1 ] && [ "$(audit_count kek-switch)" = 1 ] &&
	 ! grep -v "\"result\":\"ok\"" "$T/audit.log"'
diag "vault records for one rotation: $(grep -o '"op":"[a-z-]*"' "$T/audit.log" | cut -d'"' -f4 | tr '\n' ' ')"
run dump "$T/d" --json
check "dump: version 02 and its public key hash recorded, rotation idle, both copies at seqno 3" \
	'[ "$(field kek.version)" = 02 ] && [ "$(field kek.pub_sha256)" = "$PUB02" ] &&
	 [ "$(field kek_rotation)" = idle ] && [ "$(field seqno)" = 3 ] && [ "$(field copies.1.seqno)" = 3 ]'
pkcs11-tool --module "$SOFTHSM" --token-label cmk --read-object --type pubkey \
	--id 02 -o "$T/pub02.der" >/dev/null 2>&1
check "the recorded hash is the SHA-256 of the version's public key as the token exports it (DER SubjectPublicKeyInfo)" \
	'[ "$(openssl pkey -pubin -inform DER -in "$T/pub02.der" -outform DER | sha256sum | cut -d" " -f1)" = "$PUB02" ]'
check "this host's record follows: version 02, its public key, seqno 3" \
	'grep -qx "kek-version 02" "$CMK_STATE_DIR/$UUID" && grep -qx "kek-pub $PUB02" "$CMK_STATE_DIR/$UUID" &&
	 grep -qx "seqno 3" "$CMK_STATE_DIR/$UUID"'
check "the DEKs are untouched and the volume key the same" \
	'[ "$("$DIGEST" "$T/d" "$KBASE;type=private" "$T/v/pin")" = "$D0 $FP" ]'
vault kek "$T/v" disable --id 01
run unlock-check "$T/d" "${PINF[@]}"
check "the old version disabled: the volume still unlocks (exit 0)" '[ $rc = 0 ]'
run kek-retire-check "$K01" --json
check "kek-retire-check of version 01: safe (exit 0), no volume" \
	'[ $rc = 0 ] && [ "$(field safe)" = true ] && [ "$(field volumes)" = "[]" ]'
run kek-retire-check "$KBASE;id=%02"
check "kek-retire-check of version 02: not safe (exit 5), names the volume" \
	'[ $rc = 5 ] && out_has "NOT safe" && out_has "$UUID .*current KEK, version 02"'
run kek-retire-check "sha256:$PUB02" --json
check "kek-retire-check by public key hash: the same answer" \
	'[ $rc = 5 ] && [ "$(field volumes.0.uuid)" = "$UUID" ]'
vault kek "$T/v" enable --id 01
run status --json --socket "$T/no-cmkd.sock"
check "status --json: the KEK versions in use on this host, with their volumes (version 02: this volume)" \
	'"$PY" -c "import json,sys
d = json.load(open(sys.argv[1]))
k = [x for x in d[\"keks\"] if x[\"version\"] == \"02\"]
sys.exit(not (k and k[0][\"pub_sha256\"] == sys.argv[3] and
              [v[\"uuid\"] for v in k[0][\"volumes\"]] == [sys.argv[2]]))" "$T/out" "$UUID" "$PUB02"'

# ---- vault calls do not depend on the number of extents ----
truncate -s 4M "$T/one"
truncate -s 69M "$T/big"
"$CMKCTL" format "$T/one" --kek "$K01" "${PINF[@]}" -e 4M >/dev/null 2>&1
"$CMKCTL" format "$T/big" --kek "$K01" "${PINF[@]}" -e 4K -u 4096 >/dev/null 2>&1
ops() {
	grep -o '"op":"[a-z-]*"' "$1" | cut -d'"' -f4 | tr '\n' ' '
}
for d in one big; do
	: >"$T/a.$d"
	"$CMKCTL" kek-rotate "$T/$d" "${PINF[@]}" --audit-log "$T/a.$d" >/dev/null 2>&1
	: >"$T/b.$d"
	"$CMKCTL" vk-rotate "$T/$d" "${PINF[@]}" --audit-log "$T/b.$d" --json >"$T/vk.$d" 2>&1
done
NBIG=$("$CMKCTL" dump "$T/big" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["extent_count"])')
check "vault calls per kek-rotate and per vk-rotate: the same for 1 and $NBIG extents" \
	'[ "$NBIG" = 16384 ] && [ -n "$(ops "$T/a.one")" ] && [ "$(ops "$T/a.one")" = "$(ops "$T/a.big")" ] &&
	 [ "$(ops "$T/b.one")" = "$(ops "$T/b.big")" ] && [ "$(grep -c "\"op\":\"unwrap\"" "$T/a.big")" = 2 ]'
diag "kek-rotate, 1 or $NBIG extents, audit records: $(ops "$T/a.big")"
diag "vk-rotate, audit records: $(ops "$T/b.big")"
diag "vk-rotate of $NBIG extents (every DEK re-wrapped): $(grep -o '"ms":[0-9.]*' "$T/vk.big" | cut -d: -f2) ms in all, 1 extent: $(grep -o '"ms":[0-9.]*' "$T/vk.one" | cut -d: -f2) ms"

# ---- refusals ----
run kek-rotate "$T/d" "${PINF[@]}" --to "$KBASE;id=%02"
check "--to the current version: exit 1, already wrapped by it, header unchanged" \
	'[ $rc = 1 ] && err_has "already wrapped by this KEK version" && [ "$(state "$T/d")" = "02 idle 3" ]'
vault newkey "$T/v" --key kek-b --id 10
vault kek "$T/v" disable --key kek-b --id 10
run kek-rotate "$T/d" "${PINF[@]}" --to "pkcs11:token=cmk;object=kek-b"
check "--to a disabled key: exit 3 (disabled), header unchanged" \
	'[ $rc = 3 ] && err_has "checking the new KEK: .*(disabled)" && [ "$(state "$T/d")" = "02 idle 3" ]'
vault kek "$T/v" enable --key kek-b --id 10
vault kek "$T/v" expire --key kek-b --id 10
run kek-rotate "$T/d" "${PINF[@]}" --to "pkcs11:token=cmk;object=kek-b"
check "--to an expired key: exit 3 (expired), header unchanged" \
	'[ $rc = 3 ] && err_has "expired" && [ "$(state "$T/d")" = "02 idle 3" ]'
vault kek "$T/v" unexpire --key kek-b --id 10
run kek-rotate "$T/d" "${PINF[@]}" --to "pkcs11:token=cmk;object=no-such-key"
check "--to a missing key: exit 3 (not-found), header unchanged" \
	'[ $rc = 3 ] && err_has "not-found" && [ "$(state "$T/d")" = "02 idle 3" ]'
flock "$T/d" sleep 5 &
sleep 0.5
run kek-rotate "$T/d" "${PINF[@]}" --to "pkcs11:token=cmk;object=kek-b"
check "header locked by another process: exit 2, says so, header unchanged" \
	'[ $rc = 2 ] && err_has "another process is changing this header" && [ "$(state "$T/d")" = "02 idle 3" ]'
wait
cp "$T/d" "$T/altered"
"$ROOT/tests/host/hdr-edit.py" "$T/altered" flip 3900 >/dev/null
run kek-rotate "$T/altered" "${PINF[@]}" --to "pkcs11:token=cmk;object=kek-b"
check "an altered header (a reserved byte flipped, checksums redone): exit 4, not rotated" \
	'[ $rc = 4 ] && err_has "does not authenticate" && [ "$(state "$T/altered" | cut -d" " -f1-2)" = "02 idle" ]'

# ---- another key, then another vault ----
run kek-rotate "$T/d" "${PINF[@]}" --to "pkcs11:token=cmk;object=kek-b" --json
check "--to another key in the same token: exit 0, version 10, URI names kek-b" \
	'[ $rc = 0 ] && [ "$(field to.version)" = 10 ] && [ "$(field to.uri)" = "pkcs11:token=cmk;object=kek-b" ]'
vault kek "$T/v" disable --id 02
run unlock-check "$T/d" "${PINF[@]}"
check "version 02 disabled afterwards: still unlocks" '[ $rc = 0 ]'
vault kek "$T/v" enable --id 02
if "$VAULT" create "$T/v2" --token other >/dev/null 2>"$T/err" &&
   "$VAULT" serve "$T/v2" >"$T/serve.out" 2>>"$T/err"; then
	eval "$(grep -E '^P11_KIT_SERVER_ADDRESS=' "$T/serve.out")"
	REMOTE=$(sed -n "s/^CMK_KEK_URI_REMOTE='\(.*\)'$/\1/p" "$T/serve.out")
	CLIENT=$(sed -n 's/.*module-path=\([^&]*\)&.*/\1/p' <<<"$REMOTE")
	run kek-rotate "$T/d" "${PINF[@]}" --to "$REMOTE" --json
	check "--to a key in another vault (p11-kit server, its own PIN): exit 0, header names token other, no module or PIN in it" \
		'[ $rc = 0 ] && [ "$(field to.uri)" = "pkcs11:token=other;object=cmk-kek;id=%01;type=private" ]'
	run unlock-check "$T/d" --module "$CLIENT" --pin-file "$T/v2/pin"
	check "unlocks through the other vault" '[ $rc = 0 ]'
	vault kek "$T/v" delete --key kek-b --id 10
	run unlock-check "$T/d" --module "$CLIENT" --pin-file "$T/v2/pin"
	check "the first vault's key deleted: still unlocks" '[ $rc = 0 ]'
	check "DEKs and volume key unchanged after three rotations" \
		'[ "$("$DIGEST" "$T/d" "pkcs11:token=other;object=cmk-kek;type=private?module-path=$CLIENT" "$T/v2/pin")" = "$D0 $FP" ]'
else
	for _ in 1 2 3 4; do skip "another vault" "p11-kit server did not start: $(head -1 "$T/err")"; done
fi

# ---- crash safety: every header event of a rotation ----
# The template: a volume under 01, with 02 enabled in the vault.
fresh() {
	cp "$T/template" "$T/c"
	rm -rf "$CMK_STATE_DIR"
	cp -a "$T/state.template" "$CMK_STATE_DIR"
}
# inject MODE AT: kek-rotate of $T/c under the shim.
# (The braces take bash's own "Killed" notice into $T/err too.)
inject() {
	rc=0
	{ CMK_FI_TARGET=$T/c CMK_FI_AT=$2 CMK_FI_MODE=$1 CMK_FI_LOG=${FILOG:-/dev/null} \
		LD_PRELOAD=$SHIM timeout 60 "$CMKCTL" kek-rotate "$T/c" \
		"${PINF[@]}" >"$T/out"; } 2>"$T/err" || rc=$?
}
# opens_with VERSION: unlock-check of $T/c with only VERSION enabled.
opens_with() {
	local other=01 r=0
	[ "$1" = 01 ] && other=02
	vault kek "$T/v" disable --id "$other"
	timeout 60 "$CMKCTL" unlock-check "$T/c" "${PINF[@]}" >/dev/null 2>"$T/open.err" || r=$?
	vault kek "$T/v" enable --id "$other"
	return $r
}
# verdict: the header after an interrupted rotation, then resume.
verdict() {
	local s v st why=""
	s=$(state "$T/c")
	v=${s%% *}
	st=$(cut -d' ' -f2 <<<"$s")
	case "$v $st" in
	"01 idle") opens_with 01 || why="idle under 01 but does not open with 01" ;;
	"01 staged") { opens_with 01 && opens_with 02; } || why="staged but does not open with both" ;;
	"02 idle") opens_with 02 || why="idle under 02 but does not open with 02" ;;
	*) why="unexpected header state '$s'" ;;
	esac
	if [ $rc = 0 ] && [ "$v $st" != "02 idle" ]; then
		why="$why; reported success with header '$s'"
	fi
	if [ $rc = 0 ] && ! timeout 60 "$CMKCTL" dump "$T/c" | grep -q "copy B:.*valid.*seqno 3"; then
		why="$why; reported success with a copy not written"
	fi
	rc=0
	timeout 60 "$CMKCTL" kek-rotate "$T/c" "${PINF[@]}" >/dev/null 2>"$T/resume.err" || rc=$?
	# Already at 02: nothing newer (exit 3), or one copy behind, which
	# the second run writes (exit 0).
	if [ "$v $st" = "02 idle" ]; then
		[ $rc = 3 ] || [ $rc = 0 ] || why="$why; a second kek-rotate gave $rc"
	elif [ $rc != 0 ] || [ "$(state "$T/c" | cut -d' ' -f1-2)" != "02 idle" ]; then
		why="$why; resume failed ($rc: $(head -1 "$T/resume.err"))"
	fi
	[ "$("$DIGEST" "$T/c" "$KBASE;type=private" "$T/v/pin")" = "$D0 $FP" ] ||
		why="$why; DEKs or volume key changed"
	timeout 60 "$CMKCTL" dump "$T/c" --json >"$T/dump.json" 2>/dev/null
	"$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
c = d["copies"]
sys.exit(not (c[0]["valid"] and c[1]["valid"] and c[0]["seqno"] == c[1]["seqno"]))' "$T/dump.json" ||
		why="$why; the header copies differ after the second run"
	echo "${why#; }"
}
vault kek "$T/v" enable --id 01
fresh
rm -f "$T/fi.log"
FILOG=$T/fi.log inject none 0
EVENTS=$(wc -l <"$T/fi.log")
check "an uninterrupted rotation is 8 header events: stage (write B, sync, write A, sync), switch (the same)" \
	'[ $rc = 0 ] && [ "$EVENTS" = 8 ] && [ "$(grep -c pwrite "$T/fi.log")" = 4 ]'
bad=""
for at in 1 2 3 4 5 6 7 8 9; do
	fresh
	inject kill "$at"
	diag "killed before event $at: exit $rc, header (version, rotation, seqno) $(state "$T/c")"
	w=$(verdict)
	[ -z "$w" ] || bad="$bad [kill at $at: $w]"
done
check "killed before each of the 8 events (and after the last): opens with the old or the new KEK, resumes, DEKs intact" \
	'[ -z "$bad" ]' "$bad"
bad=""
for at in $(grep pwrite "$T/fi.log" | cut -d' ' -f1); do
	fresh
	inject torn "$at"
	w=$(verdict)
	[ -z "$w" ] || bad="$bad [torn at $at: $w]"
done
check "each of the 4 copy writes torn in half, then killed: opens, resumes, DEKs intact" \
	'[ -z "$bad" ]' "$bad"
bad=""
for at in 1 2 3 4 5 6 7 8; do
	fresh
	inject drop "$at"
	s=$(state "$T/c")
	[ "$at" = 8 ] || [ $rc != 0 ] || bad="$bad [drop from $at: exit 0 with header $s]"
	w=$(verdict)
	[ -z "$w" ] || bad="$bad [drop from $at: $w]"
done
check "every write and sync from event 1..8 on dropped by the device: never a false success, opens, resumes, DEKs intact" \
	'[ -z "$bad" ]' "$bad"
fresh
inject drop 1
check "a dropped staging write is reported: the header read back is not the one written (exit 2)" \
	'[ $rc = 2 ] && err_has "device dropped the write"'
fresh
inject kill 5
vault kek "$T/v" disable --id 01
run unlock-check "$T/c" "${PINF[@]}"
check "staged header, old KEK disabled: unlock-check opens it with the staged KEK, and says so" \
	'[ $rc = 0 ] && err_has "trying the KEK staged by an unfinished rotation"'
run kek-rotate "$T/c" "${PINF[@]}" --json
check "... and kek-rotate resumes it with the old KEK gone (exit 0, resumed)" \
	'[ $rc = 0 ] && [ "$(field resumed)" = true ] && [ "$(field to.version)" = 02 ]'
vault kek "$T/v" enable --id 01
fresh
inject kill 5
run kek-rotate "$T/c" "${PINF[@]}" --abort
check "kek-rotate --abort drops a staged rotation: idle under 01 again" \
	'[ $rc = 0 ] && [ "$(state "$T/c" | cut -d" " -f1-2)" = "01 idle" ]'

# ---- vk-rotate ----
fresh
run vk-rotate "$T/c" "${PINF[@]}" "${A[@]}" --json
FP2=$(field vk_fingerprint 2>/dev/null)
check "vk-rotate: exit 0, a new volume key fingerprint, same KEK version" \
	'[ $rc = 0 ] && [ "$FP2" != "$FP" ] && [ ${#FP2} = 39 ] && [ "$(field kek.version)" = 01 ]'
check "vk-rotate: the DEKs are the same; this host's pin is the new fingerprint" \
	'[ "$("$DIGEST" "$T/c" "$K01" "$T/v/pin")" = "$D0 $FP2" ] && grep -qx "fingerprint $FP2" "$CMK_STATE_DIR/$UUID" &&
	 ! grep -q "next-fingerprint" "$CMK_STATE_DIR/$UUID"'
run unlock-check "$T/c" "${PINF[@]}"
check "vk-rotate: unlock-check pinned under the new key" \
	'[ $rc = 0 ] && out_has "fingerprint $FP2, pinned"'
run unlock-check "$T/c" "${PINF[@]}" --vk-fingerprint "$FP"
check "vk-rotate: the old fingerprint given by an administrator is refused (exit 4)" \
	'[ $rc = 4 ] && err_has "is not the pinned $FP"'
bad=""
for at in 1 2 3 4 5; do
	fresh
	rc=0
	{ CMK_FI_TARGET=$T/c CMK_FI_AT=$at CMK_FI_MODE=kill LD_PRELOAD=$SHIM \
		timeout 60 "$CMKCTL" vk-rotate "$T/c" "${PINF[@]}" >"$T/out"; } 2>"$T/err" || rc=$?
	r=0
	timeout 60 "$CMKCTL" unlock-check "$T/c" "${PINF[@]}" >"$T/out" 2>"$T/err" || r=$?
	[ $r = 0 ] || bad="$bad [kill at $at: unlock-check $r: $(head -1 "$T/err")]"
	d=$("$DIGEST" "$T/c" "$K01" "$T/v/pin" | cut -d' ' -f1)
	[ "$d" = "$D0" ] || bad="$bad [kill at $at: DEKs changed]"
	r=0
	timeout 60 "$CMKCTL" vk-rotate "$T/c" "${PINF[@]}" >/dev/null 2>"$T/err" || r=$?
	[ $r = 0 ] || bad="$bad [kill at $at: vk-rotate again $r: $(head -1 "$T/err")]"
done
check "vk-rotate killed before each of its 4 header events (and after): the pinned volume opens, DEKs intact, rotates again" \
	'[ -z "$bad" ]' "$bad"

# ---- rebind ----
fresh
cp "$T/c" "$T/clone"
run rebind "$T/clone" "${PINF[@]}" --to "$KBASE;id=%02" "${A[@]}" --json
NEWUUID=$(field uuid 2>/dev/null)
FP3=$(field vk_fingerprint 2>/dev/null)
check "rebind: exit 0, a new UUID and volume key, under version 02" \
	'[ $rc = 0 ] && [ "$(field old_uuid)" = "$UUID" ] && [ -n "$NEWUUID" ] && [ "$NEWUUID" != "$UUID" ] &&
	 [ "$FP3" != "$FP" ] && [ "$(field kek.version)" = 02 ]'
check "rebind: the clone's DEKs are the original's (data untouched); a record of its own, the original's unchanged" \
	'[ "$("$DIGEST" "$T/clone" "$KBASE;type=private" "$T/v/pin")" = "$D0 $FP3" ] &&
	 grep -qx "fingerprint $FP3" "$CMK_STATE_DIR/$NEWUUID" && grep -qx "fingerprint $FP" "$CMK_STATE_DIR/$UUID" &&
	 grep -qx "kek-version 01" "$CMK_STATE_DIR/$UUID"'
vault kek "$T/v" disable --id 01
run unlock-check "$T/c" "${PINF[@]}"
r1=$rc
run unlock-check "$T/clone" "${PINF[@]}"
check "the original's KEK disabled: the original refuses (exit 3), the rebound clone unlocks" \
	'[ $r1 = 3 ] && [ $rc = 0 ]'
vault kek "$T/v" enable --id 01
run rebind "$T/c" "${PINF[@]}" --to-version 02
check "rebind --to-version without --to: usage error (exit 1)" '[ $rc = 1 ]'

tap_end
