#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmkctl_test: host-side tests of cmkctl against the embedded SoftHSM2 vault
# (scripts/cmk-vault-softhsm) with sparse files as devices.  TAP output;
# exit 0 pass, 1 fail, 4 skip (SoftHSM2 or pkcs11-tool missing).
#
# Covers: per-command noargs / bad-args / --help (keyutils style), including
# the device-mapper commands (which run in the guest: tests/kernel/cmkctl_vm.sh);
# format
# and its refusals (cmk header, ext4) with and without --force; dump without
# key bytes; exactly one vault unwrap to unlock 1 and 4096 extents (audit
# log); wrong KEK changes nothing; a damaged copy A falls back to copy B;
# both copies damaged; a wrapped DEK, generation or extent index altered
# with valid checksums is refused; header backup/restore; validate-kek;
# every --json output parses.

# Conditions are single-quoted and eval'd by check(): shellcheck sees
# neither the expansions nor the uses of the helpers and of $rc.
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
VAULT=$ROOT/scripts/cmk-vault-softhsm
PY=/usr/bin/python3

echo "TAP version 13"
for need in /usr/lib/softhsm/libsofthsm2.so /usr/bin/softhsm2-util \
	    /usr/bin/pkcs11-tool "$PY"; do
	if [ ! -e "$need" ]; then
		echo "1..0 # SKIP $need not installed"
		exit 4
	fi
done
if [ ! -x "$CMKCTL" ]; then
	echo "1..0 # SKIP $CMKCTL not built (make cmkctl)"
	exit 4
fi

T=$(mktemp -d /tmp/cmkctl_test.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
umask 077

COMMANDS="format dump validate-kek header-backup header-restore unlock-check open close recovery-table"
# 3 per command, 3 for status (which takes no argument), plus the rest.
PLAN=$((3 * 9 + 3 + 49 + 4 + 8))

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"
# run WANT_RC ARGS...: run cmkctl, output in $T/out and $T/err.
rc=0
run() {
	"$CMKCTL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
is_json() {
	"$PY" -c 'import json,sys; json.load(sys.stdin)' <"$1" 2>/dev/null
}
# The KEK's public key hash (dump shows it: public, not a key byte) is
# taken out first; it is computed here from the token's public key.
no_key_bytes() {
	local pub
	pub=$(pkcs11-tool --module "$SOFTHSM" --token-label cmk --read-object \
		--type pubkey --id 01 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ ${#pub} = 64 ] || return 1
	! sed "s/$pub//g" "$1" | grep -Eqi '[0-9a-f]{64}' && ! grep -qF "$PIN" "$1"
}
unwraps() {
	grep -c '"op":"unwrap"' "$1"
}
# flip FILE OFFSET: invert one byte.
flip() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))
EOF
}
# edit_both FILE OP: alter extent entries in both copies, recompute checksums.
#   dek: flip a byte of extent 0's wrapped DEK; gen: bump extent 0's
#   generation; swap: swap the entries of extents 0 and 1.
edit_both() {
	"$PY" - "$1" "$2" <<'EOF'
import hashlib, struct, sys
path, op = sys.argv[1], sys.argv[2]
with open(path, 'r+b') as f:
    f.seek(40); size = struct.unpack('<Q', f.read(8))[0]
    for base in (0, size):
        f.seek(base); c = bytearray(f.read(size))
        e0, e1 = 4096, 4096 + 128
        if op == 'dek':
            c[e0 + 36] ^= 0x01
        elif op == 'gen':
            c[e0:e0 + 4] = struct.pack('<I', struct.unpack('<I', c[e0:e0 + 4])[0] + 1)
        elif op == 'swap':
            c[e0:e0 + 128], c[e1:e1 + 128] = c[e1:e1 + 128], c[e0:e0 + 128]
        c[4064:4096] = bytes(32)
        c[4064:4096] = hashlib.sha256(bytes(c)).digest()
        f.seek(base); f.write(c)
EOF
}
copy_size() {
	"$PY" -c 'import struct,sys; f=open(sys.argv[1],"rb"); f.seek(40); print(struct.unpack("<Q", f.read(8))[0])' "$1"
}
# jq FILE EXPR: a Python assertion on the JSON in FILE (bound to d).
jq() {
	"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" 2>/dev/null
}

# ---- per command: --help, noargs, bad-args ----
for c in $COMMANDS; do
	run "$c" --help
	check "$c --help: exit 0 with usage" \
		'[ $rc = 0 ] && out_has "^Usage: cmkctl $c "'
	run "$c"
	check "$c noargs: exit 1 with an error" \
		'[ $rc = 1 ] && err_has "^error: "'
	run "$c" --no-such-option x
	check "$c bad-args: exit 1, names the option" \
		'[ $rc = 1 ] && err_has "^error: .*--no-such-option"'
done

# status lists every mapping without an argument: check too many instead.
run status --help
check "status --help: exit 0 with usage" \
	'[ $rc = 0 ] && out_has "^Usage: cmkctl status "'
run status a b
check "status with two names: exit 1 with an error" \
	'[ $rc = 1 ] && err_has "^error: "'
run status --no-such-option x
check "status bad-args: exit 1, names the option" \
	'[ $rc = 1 ] && err_has "^error: .*--no-such-option"'
run open "$T" "bad/name"
check "open with a bad mapping name: usage error" '[ $rc = 1 ]'
run recovery-table "$T" --pin-file "$T/x"
check "recovery-table --pin-file without --load-keys: usage error" '[ $rc = 1 ]'

run
check "no command: exit 1" '[ $rc = 1 ]'
run frobnicate
check "unknown command: exit 1 with an error" \
	'[ $rc = 1 ] && err_has "^error: unknown command .frobnicate."'
run --help
check "--help lists every command" \
	'[ $rc = 0 ] && [ "$(grep -cE "^  (format|dump|validate-kek|header-backup|header-restore|unlock-check|open|close|status|recovery-table) " "$T/out")" = 10 ]'
run format "$T/x" --kek pkcs11:token=x --data-unit 1024
check "format --data-unit 1024: usage error" '[ $rc = 1 ]'
run format "$T/x" --kek pkcs11:token=x --extent-size 3000
check "format --extent-size 3000: usage error" '[ $rc = 1 ]'
run format "$T/x"
check "format without --kek: usage error" '[ $rc = 1 ]'

# ---- vaults ----
if ! "$VAULT" create "$T/v1" >"$T/v1.out" 2>&1 ||
   ! "$VAULT" create "$T/v2" --token other --key other-kek >"$T/v2.out" 2>&1; then
	cat "$T/v1.out" "$T/v2.out" | sed 's/^/# /'
	echo "Bail out! cannot create SoftHSM2 vaults"
	exit 1
fi
export SOFTHSM2_CONF=$T/v1/softhsm2.conf
PIN=$(head -n1 "$T/v1/pin")
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
URI="pkcs11:token=cmk;object=cmk-kek;id=%01;type=private?module-path=$SOFTHSM"
URI2="pkcs11:token=other;object=other-kek;id=%01;type=private?module-path=$SOFTHSM"
P1=(--pin-file "$T/v1/pin")

# ---- validate-kek ----
run validate-kek "$URI" "${P1[@]}"
check "validate-kek: embedded vault's KEK passes every requirement" \
	'[ $rc = 0 ] && [ "$(grep -cE "^  pass " "$T/out")" = 7 ]'
run validate-kek "$URI" "${P1[@]}" --json
check "validate-kek --json parses" \
	'[ $rc = 0 ] && jq "$T/out" "d[\"result\"] == \"pass\" and len(d[\"checks\"]) == 7"'
run validate-kek "pkcs11:token=cmk;object=missing;type=private?module-path=$SOFTHSM" "${P1[@]}"
check "validate-kek of a missing key: exit 3" '[ $rc = 3 ]'

# ---- format, 1 extent ----
truncate -s 64M "$T/d1"
run format "$T/d1" --kek "$URI" "${P1[@]}" --label one --json
check "format 1-extent volume --json" \
	'[ $rc = 0 ] && jq "$T/out" "d[\"extent_count\"] == 1"'
UUID1=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["uuid"])' <"$T/out")
run dump "$T/d1"
check "dump shows geometry and the KEK" \
	'[ $rc = 0 ] && out_has "^extents:[[:space:]]+1$" &&
	 out_has "^data unit:[[:space:]]+4096" && out_has "^UUID:[[:space:]]+$UUID1" &&
	 out_has "^KEK VK wrap:.*rsa-oaep.*256 bytes"'
check "dump shows no key bytes (no 64-hex-char run, no PIN)" 'no_key_bytes "$T/out"'
run dump "$T/d1" --json
check "dump --json parses and holds no key bytes" \
	'[ $rc = 0 ] && jq "$T/out" True && no_key_bytes "$T/out"'
check "dump --json: extent_count 1, both copies valid, no wrapped VK" \
	'jq "$T/out" "d[\"extent_count\"] == 1 and all(c[\"valid\"] for c in d[\"copies\"]) and \"wrapped_vk\" not in d[\"kek\"]"'

# ---- refusals ----
cp "$T/d1" "$T/d1.before"
run format "$T/d1" --kek "$URI" "${P1[@]}"
check "format refuses an existing cmk header (exit 5), nothing written" \
	'[ $rc = 5 ] && err_has "dm-cmk header" && cmp -s "$T/d1" "$T/d1.before"'
truncate -s 16M "$T/e4"
MKFS=$(PATH=$PATH:/sbin:/usr/sbin command -v mkfs.ext4)
if [ -n "$MKFS" ]; then
	"$MKFS" -q -F "$T/e4" >/dev/null 2>&1
	cp "$T/e4" "$T/e4.before"
	run format "$T/e4" --kek "$URI" "${P1[@]}" --extent-size 1M
	check "format refuses an ext4 image (exit 5), nothing written" \
		'[ $rc = 5 ] && err_has "ext2/3/4" && cmp -s "$T/e4" "$T/e4.before"'
	run format "$T/e4" --kek "$URI" "${P1[@]}" --extent-size 1M --force
	check "format --force accepts the ext4 image" '[ $rc = 0 ]'
else
	skip "format refuses an ext4 image" "mkfs.ext4 missing"
	skip "format --force accepts the ext4 image" "mkfs.ext4 missing"
fi
run format "$T/d1" --kek "$URI" "${P1[@]}" --force --label one
check "format --force over a cmk header: new UUID" \
	'[ $rc = 0 ] && [ "$(cat "$T/out")" != "$UUID1" ]'
UUID1=$(cat "$T/out")

# ---- unlock: one vault call ----
run unlock-check "$T/d1" "${P1[@]}" --audit-log "$T/a1"
check "unlock-check 1 extent: ok, exactly one unwrap audited" \
	'[ $rc = 0 ] && [ "$(unwraps "$T/a1")" = 1 ]'
check "audit log holds no key bytes or PIN" 'no_key_bytes "$T/a1"'
truncate -s 18M "$T/d4k"
run format "$T/d4k" --kek "$URI" "${P1[@]}" --extent-size 4K --data-unit 512 \
	--audit-log "$T/f4k" --progress
check "format 4096 extents: progress, one wrap, no unwrap" \
	'[ $rc = 0 ] && err_has "wrapping DEKs: 4096/4096" && [ "$(grep -c "\"op\":\"wrap\"" "$T/f4k")" = 1 ] && [ "$(unwraps "$T/f4k")" = 0 ]'
run unlock-check "$T/d4k" "${P1[@]}" --audit-log "$T/a4k" --json
check "unlock-check 4096 extents: exactly one unwrap, for all 4096" \
	'[ $rc = 0 ] && [ "$(unwraps "$T/a4k")" = 1 ] &&
	 grep -q "\"op\":\"unwrap\".*\"extent_count\":4096" "$T/a4k"'
check "unlock-check --json parses, extents 4096" \
	'jq "$T/out" "d[\"extents\"] == 4096 and d[\"result\"] == \"ok\""'

# ---- wrong KEK ----
cp "$T/d1" "$T/d1.before"
SOFTHSM2_CONF=$T/v2/softhsm2.conf run unlock-check "$T/d1" --kek "$URI2" \
	--pin-file "$T/v2/pin" --audit-log "$T/aw"
check "unlock-check with another KEK: exit 3, clear error" \
	'[ $rc = 3 ] && err_has "^error: unlocking .*volume key"'
check "wrong KEK changed nothing (cmp)" 'cmp -s "$T/d1" "$T/d1.before"'
run unlock-check "$T/d1" --pin-file "$T/v2/pin"
check "unlock-check with the wrong PIN: exit 3" '[ $rc = 3 ]'
check "wrong PIN changed nothing (cmp)" 'cmp -s "$T/d1" "$T/d1.before"'

# ---- damaged copies ----
CS=$(copy_size "$T/d1")
cp "$T/d1" "$T/dA"
flip "$T/dA" 70		# inside copy A's label
run dump "$T/dA"
check "copy A damaged: dump warns and uses copy B" \
	'[ $rc = 0 ] && err_has "^warning: .*copy A is damaged.*using copy B" &&
	 out_has "^copy B:.*\(used\)"'
run dump "$T/dA" --json
check "copy A damaged: dump --json used_copy B, degraded" \
	'jq "$T/out" "d[\"used_copy\"] == \"B\" and d[\"degraded\"] and not d[\"copies\"][0][\"valid\"]"'
run unlock-check "$T/dA" "${P1[@]}"
check "copy A damaged: unlock-check still works" '[ $rc = 0 ]'
cp "$T/dA" "$T/dAB"
flip "$T/dAB" $((CS + 70))
run dump "$T/dAB"
check "both copies damaged: dump exit 4" '[ $rc = 4 ] && err_has "^error: "'
run unlock-check "$T/dAB" "${P1[@]}"
check "both copies damaged: unlock-check exit 4" '[ $rc = 4 ]'

# ---- authenticated DEK entries (checksums recomputed) ----
cp "$T/d1" "$T/dd"
edit_both "$T/dd" dek
run dump "$T/dd"
check "altered wrapped DEK with valid checksums: header reads" '[ $rc = 0 ]'
run unlock-check "$T/dd" "${P1[@]}"
check "altered wrapped DEK: unlock-check refuses (exit 4): the header MAC" \
	'[ $rc = 4 ] && err_has "does not authenticate under its volume key"'
cp "$T/d1" "$T/dg"
edit_both "$T/dg" gen
run unlock-check "$T/dg" "${P1[@]}"
check "altered DEK generation: unlock-check refuses (exit 4)" '[ $rc = 4 ]'
cp "$T/d4k" "$T/ds"
edit_both "$T/ds" swap
run unlock-check "$T/ds" "${P1[@]}"
check "swapped extent entries: unlock-check refuses (exit 4)" '[ $rc = 4 ]'

# ---- header backup / restore ----
run header-backup "$T/d1" "$T/b1"
check "header-backup" '[ $rc = 0 ] && [ -f "$T/b1" ]'
run header-backup "$T/d1" "$T/b1"
check "header-backup refuses to overwrite a file" '[ $rc = 2 ]'
run dump "$T/b1"
check "backup file is a valid header of the volume" \
	'[ $rc = 0 ] && out_has "^UUID:[[:space:]]+$UUID1"'
cp "$T/d1" "$T/dr"
flip "$T/dr" 70
run header-restore "$T/dr" "$T/b1"
check "header-restore repairs a damaged copy A" '[ $rc = 0 ]'
run dump "$T/dr" --json
check "restored header: both copies valid, same UUID" \
	'jq "$T/out" "d[\"uuid\"] == \"$UUID1\" and not d[\"degraded\"]"'
run unlock-check "$T/dr" "${P1[@]}"
check "restored header unlocks" '[ $rc = 0 ]'
truncate -s 64M "$T/d2"
run format "$T/d2" --kek "$URI" "${P1[@]}"
cp "$T/d2" "$T/d2.before"
run header-restore "$T/d2" "$T/b1"
check "header-restore onto another volume refused (exit 4), nothing written" \
	'[ $rc = 4 ] && err_has "another volume" && cmp -s "$T/d2" "$T/d2.before"'
run header-restore "$T/d2" "$T/b1" --force
check "header-restore --force onto another volume" '[ $rc = 0 ]'
run dump "$T/d2"
check "forced restore: device now has the backup's UUID" \
	'[ $rc = 0 ] && out_has "^UUID:[[:space:]]+$UUID1"'

# ---- detached header ----
truncate -s 8M "$T/dd0"
run format "$T/dd0" --kek "$URI" "${P1[@]}" --header "$T/hdr" --extent-size 1M
check "format with a detached header" '[ $rc = 0 ]'
run unlock-check "$T/dd0" --header "$T/hdr" "${P1[@]}" --json
check "unlock-check with the detached header: 8 extents" \
	'[ $rc = 0 ] && jq "$T/out" "d[\"extents\"] == 8"'

# ---- PIN sources besides a file ----
# The keyring: a "user" key in a session keyring of this test only.
out=$(keyctl session - bash -c '
	tr -d "\n" <"$1" | keyctl padd user "cmktest:pin:$$" @s >/dev/null &&
	"$2" unlock-check "$3" --kek "$4" --pin-keyring "cmktest:pin:$$" --json' \
	_ "$T/v1/pin" "$CMKCTL" "$T/dr" "$URI" 2>&1)
rc=$?
if [ "$rc" = 0 ] && grep -q '"extents"' <<<"$out"; then
	ok "unlock-check with the PIN from the keyring (--pin-keyring)"
else
	notok "unlock-check with the PIN from the keyring (--pin-keyring)"
	diag "rc=$rc: $out"
fi
run unlock-check "$T/dr" --kek "$URI" --pin-keyring "cmktest:nosuch:$$"
check "--pin-keyring with no such key: exit 3, says which key" \
	'[ $rc = 3 ] && err_has "cmktest:nosuch"'
run unlock-check "$T/dr" --kek "$URI" --pin-prompt </dev/null
check "--pin-prompt without a terminal: exit 3, says so" \
	'[ $rc = 3 ] && err_has "no terminal"'
run unlock-check "$T/dr" --kek "$URI" --pin-prompt "${P1[@]}"
check "two PIN sources refused (exit 1)" \
	'[ $rc = 1 ] && err_has "one PIN source"'

# ---- header text reaches terminals and logs: no control characters ----
run format "$T/dr" --kek "$URI" "${P1[@]}" --force --label "$(printf 'a\033[2Jb')"
check "format --label with an escape sequence: exit 1, header untouched" \
	'[ $rc = 1 ] && err_has "control characters are not allowed"'

# ---- only regular files and devices: nothing that blocks or misleads ----
mkfifo "$T/fifo"
run dump /tmp
check "dump of a directory: exit 1, not a block device or regular file" \
	'[ $rc = 1 ] && err_has "/tmp: not a block device or regular file"'
rc=0
timeout 10 "$CMKCTL" dump "$T/fifo" >"$T/out" 2>"$T/err" || rc=$?
check "dump of a FIFO: refused at once (exit 1), no hang" \
	'[ $rc = 1 ] && err_has "fifo: not a block device or regular file"'
rc=0
timeout 10 "$CMKCTL" unlock-check "$T/dr" --kek "$URI" --pin-file "$T/fifo" \
	>"$T/out" 2>"$T/err" || rc=$?
check "--pin-file naming a FIFO: refused at once (exit 3), no hang" \
	'[ $rc = 3 ] && err_has "fifo: not a regular file"'
rc=0
timeout 10 "$CMKCTL" unlock-check "$T/dr" --kek "$URI&pin-source=file:$T/fifo" \
	>"$T/out" 2>"$T/err" || rc=$?
check "a URI whose pin-source is a FIFO: refused at once (exit 3), no hang" \
	'[ $rc = 3 ] && err_has "fifo: not a regular file"'
install -m 0620 "$T/v1/pin" "$T/pin.gw"
run unlock-check "$T/dr" --kek "$URI" --pin-file "$T/pin.gw"
check "a group-writable PIN file is refused (exit 3), as cmktab would be" \
	'[ $rc = 3 ] && err_has "pin.gw: group- or world-writable"'
install -m 0600 -o nobody "$T/v1/pin" "$T/pin.other"
run unlock-check "$T/dr" --kek "$URI" --pin-file "$T/pin.other"
check "a PIN file owned by another user is refused (exit 3)" \
	'[ $rc = 3 ] && err_has "pin.other: not owned by the user reading it"'
install -m 0400 "$T/v1/pin" "$T/pin.ro"
run unlock-check "$T/dr" --kek "$URI" --pin-file "$T/pin.ro"
check "a PIN file of the user's own, mode 0400: accepted (control)" '[ $rc = 0 ]'

[ "$n" = "$PLAN" ] || { echo "# planned $PLAN tests, ran $n"; failed=1; }
exit $failed
