#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmkctl against the real target, with the embedded SoftHSM2 vault
# (scripts/cmk-vault-softhsm): format a 64 MiB loop device -> open -> ext4
# and files -> close -> open -> files intact; status --json; the DEK keys
# are in no keyring after open; the wrong KEK fails with exit 3, creates
# nothing and writes nothing; a damaged header copy A still opens; a stock
# dm-crypt stack from recovery-table reads the same bytes; close refuses a
# busy mapping, and close --deferred wipes the keys at once and removes
# the mapping after umount; the same volume opened with the vault in its own
# process (cmk-vault-softhsm serve: p11-kit server), then refused with exit 3
# once that server is gone.

# Conditions are single-quoted and eval'd by tpoint().
# shellcheck disable=SC2016,SC2034

. "$(dirname "$0")/lib.sh"

CMKCTL=$CMK_REPO/build/userspace/cmkctl
VAULT=$CMK_REPO/scripts/cmk-vault-softhsm
PY=/usr/bin/python3
NAME=cmkvm$CMK_TAG
NAME2=cmkvm2$CMK_TAG
REC=cmkrec$CMK_TAG
LIN=cmklin$CMK_TAG
MNT=$CMK_TMP/mnt
export PATH=$PATH:/sbin:/usr/sbin

PLAN=67
tap_plan $PLAN

if [ ! -x "$CMKCTL" ] || [ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then
	for _ in $(seq $PLAN); do skip "cmkctl_vm" "cmkctl or SoftHSM2 missing"; done
	exit 0
fi

# vault DIR [ARGS]: create a vault; sets SOFTHSM2_CONF and CMK_KEK_URI.
vault() {
	local out
	out=$("$VAULT" create "$@") || return 1
	eval "$(grep -v '^#' <<<"$out")"
}

rc=0
# run ARGS...: cmkctl, output in $CMK_TMP/out and err, exit code in $rc.
run() {
	"$CMKCTL" "$@" >"$CMK_TMP/out" 2>"$CMK_TMP/err"
	rc=$?
}
out_of() {
	sed 's/^/out: /' "$CMK_TMP/out"
	sed 's/^/err: /' "$CMK_TMP/err"
}
# jq EXPR: a Python assertion on the JSON in $CMK_TMP/out (bound to d).
jq() {
	"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$CMK_TMP/out" 2>/dev/null
}
# tpoint DESC COND: a test point from a condition (eval'd), output on failure.
tpoint() {
	if eval "$2"; then ok "$1"; else not_ok "$1" "rc=$rc" "$(out_of)"; fi
}
mapped() {
	dmsetup info "$1" >/dev/null 2>&1
}
open_vol() {
	run open "$DEV" "$NAME" "${PINF[@]}" "$@"
	[ "$rc" = 0 ] && CMK_DEVS+=("$NAME")
	settle
}
# no_dek_keys: no key of this volume in any keyring (/proc/keys lists
# every key the caller may view; invalidated keys go within moments).
no_dek_keys() {
	local i
	for i in $(seq 20); do
		if ! grep -q "cmk:$UUID:" /proc/keys 2>/dev/null &&
		   ! keyctl search @s logon "cmk:$UUID:0" >/dev/null 2>&1 &&
		   ! keyctl search @u logon "cmk:$UUID:0" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
# drop_rec_keys: invalidate the keys recovery-table loaded.
drop_rec_keys() {
	drop_keys "cmk:$UUID:" "$NEXT"
}
sha_check() {
	(cd "$MNT" && sha256sum --quiet -c "$CMK_TMP/sums")
}

mkdir -p "$MNT"
DEV=$(new_loop 64) || exit 4
if ! vault "$CMK_TMP/v2" --token other --key other-kek >/dev/null; then
	echo "Bail out! cannot create the second vault"
	exit 1
fi
URI2=$CMK_KEK_URI
CONF2=$SOFTHSM2_CONF
if ! vault "$CMK_TMP/v1" >/dev/null; then
	echo "Bail out! cannot create the vault"
	exit 1
fi
URI1=$CMK_KEK_URI
# The header names the key only: the PIN comes from here (and the module is
# the default, SoftHSM2 in process).
PINF=(--pin-file "$CMK_TMP/v1/pin")

# --- format, open, ext4, close, open ---------------------------------------
run format "$DEV" --kek "$URI1" --extent-size 4M --label vm --json
tpoint "format 64 MiB loop device, 4 MiB extents" '[ $rc = 0 ] && jq "d[\"extent_sectors\"] == 8192"'
UUID=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["uuid"])' <"$CMK_TMP/out" 2>/dev/null)
NEXT=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["extent_count"])' <"$CMK_TMP/out" 2>/dev/null)
SECTORS=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["data_sectors"])' <"$CMK_TMP/out" 2>/dev/null)
diag "uuid $UUID, $NEXT extents, $SECTORS sectors"

run open "$DEV" "$NAME" --kek "pkcs11:token=nosuch;object=x;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so"
tpoint "open with a missing KEK: exit 3, nothing created" '[ $rc = 3 ] && ! mapped "$NAME"'

t0=$(now)
open_vol
t1=$(now)
tpoint "open" '[ $rc = 0 ] && mapped "$NAME"'
diag "open took $(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", e - s }') s"
NODE=$(dm_node "$NAME")
tpoint "dm uuid is CMK-<uuid>, length the header's data length" \
	'[ "$(dmsetup info -c --noheadings -o uuid "$NAME")" = "CMK-$UUID" ] &&
	 [ "$(dmsetup table "$NAME" | cut -d" " -f2)" = "$SECTORS" ]'
tpoint "table: the loop device, key prefix cmk:<uuid>:, 4096-byte unit" \
	'dmsetup table "$NAME" | grep -q " cmk $(cat /sys/block/"${DEV#/dev/}"/dev) [0-9]* 8192 4096 cmk:$UUID:$"'
tpoint "no DEK key in any keyring after open (/proc/keys, @s, @u)" '[ -r /proc/keys ] && no_dek_keys'
keyctl show @s >"$CMK_TMP/out" 2>&1
tpoint "keyctl show @s lists no DEK key" '! grep -q "cmk:$UUID" "$CMK_TMP/out"'

run status "$NAME" --json
tpoint "status NAME --json: available, every extent keyed, table without keys" \
	'[ $rc = 0 ] && jq "d[\"state\"] == \"available\" and d[\"keyed\"] == d[\"extents\"] == $NEXT and d[\"uuid\"] == \"$UUID\" and d[\"table\"][\"key_prefix\"] == \"cmk:$UUID:\" and d[\"reason\"] is None and d[\"lease\"] is None"'
run status --json
tpoint "status --json lists the mapping" \
	'[ $rc = 0 ] && jq "[m for m in d[\"mappings\"] if m[\"name\"] == \"$NAME\" and m[\"dm_uuid\"] == \"CMK-$UUID\" and m[\"state\"] == \"available\"]"'
run status
tpoint "status (text) lists the mapping" '[ $rc = 0 ] && grep -q "^$NAME .*available .*CMK-$UUID" "$CMK_TMP/out"'

run open "$DEV" "$NAME2" "${PINF[@]}"
tpoint "open of a volume already open: refused, names the mapping" \
	'[ $rc = 2 ] && grep -q "already open as $NAME" "$CMK_TMP/err" && ! mapped "$NAME2"'
run open "$DEV" "$NAME" "${PINF[@]}"
tpoint "open onto an existing name: refused" '[ $rc = 2 ] && grep -q "already exists" "$CMK_TMP/err"'

check "mkfs.ext4 on the mapping" mkfs.ext4 -q -F "$NODE"
check "mount" mount "$NODE" "$MNT"
head -c 5M /dev/urandom >"$MNT/a"
mkdir -p "$MNT/d" && head -c 300K /dev/urandom >"$MNT/d/b" && echo hello >"$MNT/d/c"
(cd "$MNT" && sha256sum a d/b d/c) >"$CMK_TMP/sums"
check "files written and checksummed" sha_check
run close "$NAME"
tpoint "close of a mounted mapping without --deferred: refused, keys kept" \
	'[ $rc = 2 ] && grep -q "in use" "$CMK_TMP/err" && [ "$(cmk_field "$NAME" 1)" = available ]'
check "umount" umount "$MNT"
run close "$NAME"
tpoint "close" '[ $rc = 0 ] && ! mapped "$NAME"'
run close "$NAME"
tpoint "close of a missing mapping: exit 2, clear error" '[ $rc = 2 ] && grep -q "no such mapping" "$CMK_TMP/err"'

open_vol
tpoint "open again" '[ $rc = 0 ]'
NODE=$(dm_node "$NAME")
check "mount again" mount "$NODE" "$MNT"
check "files intact after close and open" sha_check
check "umount" umount "$MNT"

# --- recovery-table: stock dm-crypt reads the same bytes ---------------------
run recovery-table "$DEV" --load-keys "${PINF[@]}"
cp "$CMK_TMP/out" "$CMK_TMP/rec.table"
tpoint "recovery-table --load-keys: one dm-crypt line per extent" \
	'[ $rc = 0 ] && [ "$(grep -c " crypt aes-xts-plain64 :64:logon:cmk:$UUID:[0-9]* " "$CMK_TMP/rec.table")" = "$NEXT" ]'
tpoint "recovery-table: iv_offset = extent start, sector_size:4096, covers the volume" \
	'awk -v s="$SECTORS" '"'"'{ if ($1 != $6 || $NF != "sector_size:4096") bad = 1; end = $1 + $2 } END { exit bad || end != s }'"'"' "$CMK_TMP/rec.table"'
dmsetup create "$REC" --readonly <"$CMK_TMP/rec.table" >"$CMK_TMP/out" 2>"$CMK_TMP/err"
rc=$?
[ $rc = 0 ] && CMK_DEVS+=("$REC")
settle
tpoint "dmsetup create --readonly with the recovery table" '[ $rc = 0 ]'
RNODE=$(dm_node "$REC")
tpoint "bytes through stock dm-crypt equal those through dm-cmk" \
	'cmp <(direct_read "$RNODE" 0 $((SECTORS / 8)) 4096) <(direct_read "$NODE" 0 $((SECTORS / 8)) 4096)'
tpoint "the ext4 filesystem is there through dm-crypt" 'blkid -p "$RNODE" | grep -q "TYPE=\"ext4\""'
dm_remove "$REC"
drop_rec_keys
tpoint "recovery keys invalidated again" 'no_dek_keys'

# --- close a non-cmk mapping ------------------------------------------------
dmsetup create "$LIN" --table "0 8 linear $DEV 0" >/dev/null 2>&1 && CMK_DEVS+=("$LIN")
run close "$LIN"
tpoint "close of a non-cmk mapping: refused, left alone" \
	'[ $rc = 2 ] && grep -q "not a cmk mapping" "$CMK_TMP/err" && mapped "$LIN"'
dm_remove "$LIN"
run close "$NAME"
tpoint "close" '[ $rc = 0 ] && ! mapped "$NAME"'

# --- wrong KEK ----------------------------------------------------------------
direct_read "$DEV" 0 256 4096 >"$CMK_TMP/before"
SOFTHSM2_CONF=$CONF2 run open "$DEV" "$NAME" --kek "$URI2"
tpoint "open with the wrong KEK: exit 3, clear error" \
	'[ $rc = 3 ] && grep -q "^error: unlocking" "$CMK_TMP/err"'
tpoint "wrong KEK: no mapping, no dm uuid, no key" \
	'! mapped "$NAME" && ! dmsetup info -u "CMK-$UUID" >/dev/null 2>&1 && no_dek_keys'
tpoint "wrong KEK: first MiB of the device unchanged" 'cmp -s "$CMK_TMP/before" <(direct_read "$DEV" 0 256 4096)'

# --- damaged copy A -------------------------------------------------------------
printf 'DAMAGED!' | dd of="$DEV" bs=1 seek=200 conv=notrunc status=none
sync
run dump "$DEV" --json
tpoint "dump: copy A damaged, copy B used" \
	'[ $rc = 0 ] && jq "not d[\"copies\"][0][\"valid\"] and d[\"used_copy\"] == \"B\""'
open_vol
tpoint "open with copy A damaged: works, warns" \
	'[ $rc = 0 ] && grep -q "^warning: .*copy A is damaged" "$CMK_TMP/err"'
NODE=$(dm_node "$NAME")
check "mount" mount "$NODE" "$MNT"
check "files intact (copy B)" sha_check

# --- close --deferred while mounted ---------------------------------------------
sync
run close "$NAME" --deferred
tpoint "close --deferred while mounted: accepted" '[ $rc = 0 ] && grep -q "deferred" "$CMK_TMP/out"'
tpoint "keys wiped at once: inaccessible, 0 keyed, reason wiped" \
	'[ "$(dmsetup status "$NAME" | cut -d" " -f4-6,9)" = "inaccessible $NEXT 0 wiped" ]'
check_fails "reads fail at once" direct_read "$NODE" 0 1 4096
check "umount" umount "$MNT"
gone=1
for _ in $(seq 50); do
	mapped "$NAME" || { gone=0; break; }
	sleep 0.1
done
tpoint "mapping gone after umount" '[ $gone = 0 ]'

# --- detached header, 512-byte data unit -----------------------------------
DEV2=$(new_loop 16) || exit 4
HDR=$CMK_TMP/detached.hdr
run format "$DEV2" --header "$HDR" --kek "$URI1" --extent-size 1M --data-unit 512 --json
tpoint "format with a detached header, 512-byte unit, 1 MiB extents" \
	'[ $rc = 0 ] && jq "d[\"data_offset\"] == 0 and d[\"extent_count\"] == 16"'
UUID2=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["uuid"])' <"$CMK_TMP/out" 2>/dev/null)
run open "$DEV2" "$NAME2" --header "$HDR" "${PINF[@]}"
[ "$rc" = 0 ] && CMK_DEVS+=("$NAME2")
settle
tpoint "open --header: data offset 0, 512-byte unit" \
	'[ $rc = 0 ] && dmsetup table "$NAME2" | grep -q " cmk [0-9:]* 0 2048 512 cmk:$UUID2:$"'
NODE2=$(dm_node "$NAME2")
head -c 16M /dev/urandom >"$CMK_TMP/data2"
check "write 16 MiB through the mapping" direct_write "$NODE2" 0 4096 4096 <"$CMK_TMP/data2"
run recovery-table "$DEV2" --header "$HDR" --load-keys "${PINF[@]}"
cp "$CMK_TMP/out" "$CMK_TMP/rec2.table"
tpoint "recovery-table --header: 16 lines, offsets from 0, no sector_size option" \
	'[ $rc = 0 ] && [ "$(wc -l <"$CMK_TMP/rec2.table")" = 16 ] &&
	 awk '"'"'{ if (NF != 8 || $6 != $1 || $8 != $1) bad = 1 } END { exit bad }'"'"' "$CMK_TMP/rec2.table"'
dmsetup create "$REC" --readonly <"$CMK_TMP/rec2.table" >/dev/null 2>&1 && CMK_DEVS+=("$REC")
settle
tpoint "stock dm-crypt reads back what dm-cmk wrote (512-byte unit)" \
	'cmp "$CMK_TMP/data2" <(direct_read "$(dm_node "$REC")" 0 4096 4096)'
dm_remove "$REC"
drop_keys "cmk:$UUID2:" 16
run close "$NAME2"
tpoint "close" '[ $rc = 0 ] && ! mapped "$NAME2"'

# --- a header rewritten to choose the module and PIN source -------------------
# (tests/host/trust_test.sh has the rest.)  Its KEK URI names a library whose
# constructor leaves a marker, and a FIFO: open and recovery-table refuse the
# URI before anything is loaded or opened.
EVIL=$CMK_TMP/evil.hdr
MARKER_SO=$CMK_REPO/build/tests/host/modules/marker_pkcs11.so
export CMK_TEST_MARKER=$CMK_TMP/marker
cp "$HDR" "$EVIL"
mkfifo "$CMK_TMP/pin.fifo"
"$CMK_REPO/tests/host/hdr-edit.py" "$EVIL" uri \
	"pkcs11:token=cmk;object=cmk-kek?module-path=$MARKER_SO&pin-source=file:$CMK_TMP/pin.fifo"
rc=0
timeout 20 "$CMKCTL" open "$DEV2" "$NAME2" --header "$EVIL" "${PINF[@]}" \
	>"$CMK_TMP/out" 2>"$CMK_TMP/err" || rc=$?
tpoint "open of a header whose URI sets module-path and pin-source: exit 3, says why, nothing loaded or mapped" \
	'[ $rc = 3 ] && grep -q "sets module-path=, pin-source=: a device may only name its key" "$CMK_TMP/err" &&
	 [ ! -e "$CMK_TEST_MARKER" ] && ! mapped "$NAME2"'
rc=0
timeout 20 "$CMKCTL" recovery-table "$DEV2" --header "$EVIL" --load-keys \
	>"$CMK_TMP/out" 2>"$CMK_TMP/err" || rc=$?
tpoint "recovery-table --load-keys of that header: exit 3, nothing loaded, no key added" \
	'[ $rc = 3 ] && grep -q "a device may only name its key" "$CMK_TMP/err" &&
	 [ ! -e "$CMK_TEST_MARKER" ] && ! grep -q "cmk:$UUID2:" /proc/keys'

# --- a header forged with the KEK's public key -------------------------------
# (tests/host/trust_test.sh has the rest.)  Same UUID, a volume key of the
# forger's, sealed with it: the host pinned the real key at format.
FORGED=$CMK_TMP/forged.hdr
cp "$HDR" "$FORGED"
"$CMK_REPO/build/tests/host/tools/hdr_forge" forge "$FORGED" "$URI1" "$CMK_TMP/v1/pin" >/dev/null
run open "$DEV2" "$NAME2" --header "$FORGED" "${PINF[@]}"
tpoint "open of a forged header: exit 4, refused before any table, no mapping, no key" \
	'[ $rc = 4 ] && grep -q "this header was not written with the volume.s key" "$CMK_TMP/err" &&
	 ! mapped "$NAME2" && ! grep -q "cmk:$UUID2:" /proc/keys'

# --- read-only open ---------------------------------------------------------------
open_vol --read-only --json
tpoint "open --read-only --json: read-only mapping" \
	'[ $rc = 0 ] && jq "d[\"read_only\"] and d[\"vault_calls\"] == 1 and d[\"degraded\"]" && [ "$(blockdev --getro "$(dm_node "$NAME")")" = 1 ]'
run close "$NAME"
tpoint "close" '[ $rc = 0 ] && ! mapped "$NAME"'

# --- the vault in its own process: p11-kit server -----------------------------
# The same token behind "cmk-vault-softhsm serve" (p11-kit server on a Unix
# socket), reached through p11-kit-client.so with the URI and address that
# serve prints; SOFTHSM2_CONF unset, so that only the server can find the
# token.  Then the server stops: open fails as "vault unreachable".
VDIR=$CMK_TMP/v1
served=0
stop_server() {
	[ "$served" = 1 ] && "$VAULT" stop "$VDIR" >/dev/null 2>&1
	served=0
}
trap 'stop_server; cmk_cleanup' EXIT
# remote_open [ARGS]: cmkctl open with the remote KEK URI, like run.
remote_open() {
	env -u SOFTHSM2_CONF "$CMKCTL" open "$DEV" "$NAME" --kek "$URIR" "$@" \
		>"$CMK_TMP/out" 2>"$CMK_TMP/err"
	rc=$?
	[ "$rc" = 0 ] && CMK_DEVS+=("$NAME")
	settle
}

"$VAULT" serve "$VDIR" >"$CMK_TMP/out" 2>"$CMK_TMP/err"
rc=$?
[ $rc = 0 ] && served=1
cp "$CMK_TMP/out" "$CMK_TMP/serve"
SPID=$(cat "$VDIR/p11kit.pid" 2>/dev/null)
tpoint "cmk-vault-softhsm serve: p11-kit server up, prints its address and URI" \
	'[ $rc = 0 ] && [ -S "$VDIR/p11kit.sock" ] && kill -0 "$SPID" &&
	 grep -q "^P11_KIT_SERVER_ADDRESS=unix:path=$VDIR/p11kit.sock;" "$CMK_TMP/serve" &&
	 grep -q "^CMK_KEK_URI_REMOTE=.*module-path=[^&]*p11-kit-client.so" "$CMK_TMP/serve"'
CMK_KEK_URI_REMOTE=''
# P11_KIT_SERVER_ADDRESS (exported) and CMK_KEK_URI_REMOTE.
eval "$(grep -v '^#' "$CMK_TMP/serve")"
URIR=$CMK_KEK_URI_REMOTE
diag "p11-kit server pid $SPID, $P11_KIT_SERVER_ADDRESS"

remote_open --json
tpoint "open through p11-kit server: one vault call, mapped" \
	'[ $rc = 0 ] && jq "d[\"vault_calls\"] == 1" && mapped "$NAME"'
NODE=$(dm_node "$NAME")
check "mount" mount "$NODE" "$MNT"
check "files intact, KEK through p11-kit server" sha_check
check "umount" umount "$MNT"
tpoint "no DEK key in any keyring after the remote open" 'no_dek_keys'
run close "$NAME"
tpoint "close" '[ $rc = 0 ] && ! mapped "$NAME"'

# open --lease (a key the caller keeps alive) and --allow-discards.
LEASE_ID=$(keyctl add user "cmkvm:lease:$CMK_TAG" lease @s)
keyctl timeout "$LEASE_ID" 30
remote_open --lease "cmkvm:lease:$CMK_TAG" --allow-discards
tpoint "open --lease --allow-discards: both in the table" \
	'[ $rc = 0 ] && dmsetup table "$NAME" | grep -q " 3 allow_discards lease cmkvm:lease:$CMK_TAG$"'
NODE=$(dm_node "$NAME")
keyctl revoke "$LEASE_ID"
sleep 0.5
tpoint "the caller revokes the lease: I/O fails, status inaccessible" \
	'! direct_read "$NODE" 0 1 4096 >/dev/null 2>&1 &&
	 [ "$(cmk_field "$NAME" 1)" = inaccessible ]'
run close "$NAME"
tpoint "close the lapsed mapping" '[ $rc = 0 ] && ! mapped "$NAME"'

"$VAULT" stop "$VDIR" >"$CMK_TMP/out" 2>"$CMK_TMP/err"
rc=$?
served=0
gone=1
for _ in $(seq 50); do
	kill -0 "$SPID" 2>/dev/null || { gone=0; break; }
	sleep 0.1
done
tpoint "cmk-vault-softhsm stop: server gone, socket removed" \
	'[ $rc = 0 ] && [ $gone = 0 ] && [ ! -e "$VDIR/p11kit.sock" ]'
remote_open
tpoint "open with the vault unreachable: exit 3, transient, clear error" \
	'[ $rc = 3 ] && grep -Eq "^error: .*vault.*(unreachable|transient)" "$CMK_TMP/err"'
grep '^error: ' "$CMK_TMP/err" | sed 's/^/# /'
tpoint "vault unreachable: no mapping, no dm uuid, no key" \
	'! mapped "$NAME" && ! dmsetup info -u "CMK-$UUID" >/dev/null 2>&1 && no_dek_keys'

tap_done
