#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# KEK rotation of an open volume under cmkd (issue 14), against the real
# target with the vault as its own process (SoftHSM2 behind p11-kit
# server), ext4 mounted and a writer running all along:
#
#   - rotate=auto: a new version of the KEK appears in the vault; cmkd
#     rotates to it within a poll interval (time measured), audits it and
#     calls the alert hook; the header on the device records it;
#   - the old version disabled afterwards: no teardown over three polls;
#     kek-retire-check calls it safe and the new one needed;
#   - cmkctl kek-rotate DEVICE --to another key while cmkd has the volume
#     open: cmkd does it and moves its checks;
#   - an automatic rotation that fails (the new version expired): the
#     volume stays available on the old KEK, the failure is audited and
#     alerted, and it is retried with backoff once the version is usable;
#   - the writer never saw an error, every file it wrote is intact;
#   - cmkctl kek-rotate NAME --to a key in another vault (SoftHSM2 in
#     cmkd's process, its own PIN): the old vault's key disabled takes
#     nothing down;
#   - the KEK in use disabled: the volume goes inaccessible within the
#     usual bound; enabled and revalidated (through the new vault): back,
#     files intact, fsck clean.
# cmktab names the first KEK with its settings (module-path=, pin-source=
# in the URI): after the rotations cmkd reaches the header's key with
# them, and the new vault with the settings given to kek-rotate.

# shellcheck disable=SC2034

. "$(dirname "$0")/lib.sh"

CMKCTL=$CMK_REPO/build/userspace/cmkctl
CMKD=$CMK_REPO/build/userspace/cmkd
VAULT=$CMK_REPO/scripts/cmk-vault-softhsm
NAME=rot$CMK_TAG
MNT=$CMK_TMP/mnt
SOCK=$CMK_TMP/cmkd.sock
TAB=$CMK_TMP/cmktab
AUDIT=$CMK_TMP/audit.log
ALERTS=$CMK_TMP/alerts.log
VDIR=$CMK_TMP/vault
VB=$CMK_TMP/vault-b
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
export CMK_STATE_DIR=$CMK_TMP/state
export PATH=$PATH:/sbin:/usr/sbin

POLL=2 LEASE=6 GRACE=15
KEK_LIMIT=$((POLL + 2))
# A new version is seen by the next check (one poll) and rotated to by the
# open worker: three vault calls and two header writes, a few seconds
# under TCG.
ROTATE_LIMIT=$((POLL + 6))

PLAN=24
tap_plan $PLAN
if [ ! -x "$CMKD" ] || [ ! -x "$CMKCTL" ] || [ ! -e "$CLIENT" ] ||
	[ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then
	for _ in $(seq $PLAN); do skip "kek_rotate_vm" "cmkd, cmkctl, p11-kit-client or SoftHSM2 missing"; done
	exit 0
fi

CMKD_PID=''
WRITER=''
cleanup() {
	[ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null
	if [ -n "$CMKD_PID" ]; then
		kill -CONT "$CMKD_PID" 2>/dev/null
		kill "$CMKD_PID" 2>/dev/null
		wait "$CMKD_PID" 2>/dev/null
	fi
	mountpoint -q "$MNT" && umount -l "$MNT"
	"$VAULT" stop "$VDIR" >/dev/null 2>&1
	cmk_cleanup
}
trap cleanup EXIT

vol_field() {
	cmkd_field "$SOCK" "$NAME" "$1"
}

wait_field() {
	cmkd_wait "$SOCK" "$NAME" "$@"
}

# kek VERB [--key L] [--id N]: a vault-side event.
kek() {
	"$VAULT" kek "$VDIR" "$@" >>"$CMK_TMP/vault.log" 2>&1
}

no_teardown() {
	kill -0 "$WRITER" 2>/dev/null && [ "$(vol_field state)" = available ] &&
		[ "$(dmsetup status "$NAME" | awk '{ print $4 }')" = available ] &&
		! grep -q '^inaccessible' "$ALERTS" 2>/dev/null
}

# The writer: 256 KiB files, each checksummed once on disk, until told to
# stop; the first error ends it with exit 1.
writer() {
	local i=0
	mkdir -p "$MNT/w" || exit 1
	while [ ! -e "$CMK_TMP/stop" ]; do
		i=$((i + 1))
		head -c 262144 /dev/urandom >"$MNT/w/f$i" || exit 1
		sync "$MNT/w/f$i" || exit 1
		(cd "$MNT/w" && sha256sum "f$i") >>"$CMK_TMP/wsums" || exit 1
	done
	exit 0
}

# --- setup ------------------------------------------------------------------
mkdir -p "$MNT"
vault_serve "$VDIR"
DEV=$(new_loop 96)
check "setup: cmkctl format under KEK version 01" \
	"$CMKCTL" format "$DEV" --kek "$CMK_KEK_URI_REMOTE" -e 16M
# The second vault: SoftHSM2 in cmkd's and cmkctl's own process.
check "setup: a second vault" "$VAULT" create "$VB" --token second
export SOFTHSM2_CONF=$VB/softhsm2.conf

cat >"$CMK_TMP/alert.sh" <<EOF
#!/bin/sh
echo "\$CMK_EVENT|\$CMK_VOLUME|\$CMK_STATE|\$CMK_CLASS|\$CMK_REASON" >>"$ALERTS"
EOF
chmod 755 "$CMK_TMP/alert.sh"
(
	umask 077
	echo "$NAME $DEV $CMK_KEK_URI_REMOTE poll=${POLL}s,lease=${LEASE}s,grace=${GRACE}s,rotate=auto,alert=$CMK_TMP/alert.sh" >"$TAB"
)
"$CMKD" --foreground --config "$TAB" --socket "$SOCK" --audit-log "$AUDIT" \
	>>"$CMK_TMP/cmkd.log" 2>&1 &
CMKD_PID=$!
if wait_field state available 60 >/dev/null; then
	ok "cmkd opened the volume (rotate=auto)"
else
	not_ok "cmkd opened the volume" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
CMK_DEVS+=("$NAME")
node=$(dm_node "$NAME")
if mkfs.ext4 -q "$node" && mount "$node" "$MNT" &&
	for i in 1 2 3; do head -c $((i * 500000)) /dev/urandom >"$MNT/f$i"; done &&
	(cd "$MNT" && sha256sum f1 f2 f3) >"$CMK_TMP/sums" && sync; then
	ok "ext4 mounted on the volume, files written"
else
	not_ok "ext4 mounted on the volume, files written"
fi
writer &
WRITER=$!
sleep 2

out=$("$CMKCTL" kek-rotate "$NAME" --socket "$SOCK" 2>&1)
rc=$?
if [ "$rc" = 3 ] && grep -q "no enabled version newer than 01" <<<"$out" &&
	[ "$(vol_field kek_version)" = 01 ]; then
	ok "kek-rotate NAME with no newer version: exit 3, says so"
else
	not_ok "kek-rotate NAME with no newer version: exit 3" "rc=$rc" "$out"
fi

# --- rotate=auto --------------------------------------------------------------
t0=$(now)
"$VAULT" newkey "$VDIR" --id 02 >>"$CMK_TMP/vault.log" 2>&1
t1=$(now)
dt=$(wait_field kek_version 02 $((ROTATE_LIMIT + 10)))
if [ -n "$dt" ] && elapsed_le "$t1" "$(now)" "$ROTATE_LIMIT"; then
	ok "rotate=auto: version 02 created, the volume uses it ${dt} s after it exists ($(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", e - s }') s to create it; poll ${POLL} s, bound ${ROTATE_LIMIT} s)"
else
	not_ok "rotate=auto: the volume moves to version 02 within ${ROTATE_LIMIT} s" \
		"version=$(vol_field kek_version)" "$(tail -8 "$CMK_TMP/cmkd.log")"
fi
if grep -q '"op":"kek-rotate".*"version":"02","result":"ok"' "$AUDIT" &&
	grep -q '"op":"kek-switch".*"result":"ok"' "$AUDIT" &&
	grep -q "^kek-rotated|$NAME|available" "$ALERTS" &&
	grep -q "KEK rotated: version 02" "$CMK_TMP/cmkd.log"; then
	ok "the rotation is audited (stage, verify, switch, kek-rotate), logged and alerted"
else
	not_ok "the rotation is audited, logged and alerted" "$(grep -E 'kek-' "$AUDIT" | tail -4)" \
		"$(cat "$ALERTS" 2>&1)"
fi
v=$("$CMKCTL" dump "$DEV" --json 2>/dev/null | grep -o '"kek":{[^}]*}' | grep -o '"version":"[^"]*"')
if [ "$v" = '"version":"02"' ] && "$CMKCTL" dump "$DEV" | grep -q "^KEK rotation:.*idle"; then
	ok "the header on the device: version 02, no rotation staged"
else
	not_ok "the header on the device: version 02" "$v"
fi
kek disable --id 01
sleep $((3 * POLL + 1))
if no_teardown; then
	ok "the old version disabled: still available after three polls, the writer going on"
else
	not_ok "the old version disabled: no teardown" "state=$(vol_field state)" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
K01="pkcs11:token=cmk;object=cmk-kek;id=%01"
out=$("$CMKCTL" kek-retire-check "$K01" --socket "$SOCK" 2>&1)
rc=$?
out2=$("$CMKCTL" kek-retire-check "pkcs11:token=cmk;object=cmk-kek;id=%02" --socket "$SOCK" 2>&1)
rc2=$?
if [ "$rc" = 0 ] && grep -q "safe to disable" <<<"$out" && [ "$rc2" = 5 ] &&
	grep -q "checked by cmkd, version 02" <<<"$out2"; then
	ok "kek-retire-check: version 01 safe to disable; 02 needed (cmkd checks it, the host record names it)"
else
	not_ok "kek-retire-check: 01 safe, 02 needed" "$rc: $out" "$rc2: $out2"
fi

# --- vk-rotate while cmkd has the volume open ----------------------------------------
fp0=$(vol_field vk_fingerprint)
out=$("$CMKCTL" vk-rotate "$DEV" --module "$CLIENT" --pin-file "$VDIR/pin" --json 2>&1)
rc=$?
fp1=$(grep -o '"vk_fingerprint":"[^"]*"' <<<"$out" | cut -d'"' -f4)
sleep $((2 * POLL))
if [ "$rc" = 0 ] && [ -n "$fp1" ] && [ "$fp1" != "$fp0" ] && no_teardown &&
	grep -qx "fingerprint $fp1" "$CMK_STATE_DIR/$(vol_field uuid)"; then
	ok "vk-rotate while open and written to: new volume key fingerprint, pinned; cmkd keeps the volume available"
else
	not_ok "vk-rotate while open" "rc=$rc" "$out" "state=$(vol_field state)"
fi

# --- cmkctl kek-rotate DEVICE --to another key, through cmkd ----------------------
"$VAULT" newkey "$VDIR" --key kek-b --id 10 >>"$CMK_TMP/vault.log" 2>&1
out=$("$CMKCTL" kek-rotate "$DEV" --to "pkcs11:token=cmk;object=kek-b" --socket "$SOCK" 2>&1)
rc=$?
if [ "$rc" = 0 ] && grep -q "cmkd rotates it" <<<"$out" &&
	[ "$(vol_field kek_version)" = 10 ] && [ "$(vol_field kek_key)" = "pkcs11:token=cmk;object=kek-b" ]; then
	ok "kek-rotate DEVICE --to kek-b while cmkd has it open: cmkd rotates, its checks follow (version 10)"
else
	not_ok "kek-rotate DEVICE --to kek-b through cmkd" "rc=$rc" "$out" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
kek disable --id 02
sleep $((3 * POLL + 1))
if no_teardown && [ "$(vol_field last_check_result)" = ok ]; then
	ok "version 02 disabled after that: no teardown, checks of kek-b succeed"
else
	not_ok "version 02 disabled: no teardown" "state=$(vol_field state)" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi

# --- a failed automatic rotation, retried -----------------------------------------
# Version 11 is made disabled, expired, then enabled: from then on it is
# listed as a newer version, and refused by the KEK checks.
"$VAULT" newkey "$VDIR" --key kek-b --id 11 --disabled >>"$CMK_TMP/vault.log" 2>&1
kek expire --key kek-b --id 11
kek enable --key kek-b --id 11
for _ in $(seq $((4 * (2 * POLL + 6)))); do
	grep -q "^kek-rotate-failed|$NAME" "$ALERTS" 2>/dev/null && break
	sleep 0.25
done
if grep -q "^kek-rotate-failed|$NAME|available" "$ALERTS" &&
	grep -q '"op":"kek-rotate".*"result":"expired"' "$AUDIT" &&
	[ "$(vol_field kek_version)" = 10 ] && no_teardown; then
	ok "rotate=auto to an expired version: fails, audited and alerted; the volume stays available on version 10"
else
	not_ok "a failed automatic rotation" "$(cat "$ALERTS")" "$(grep kek-rotate "$AUDIT" | tail -2)" \
		"version=$(vol_field kek_version)" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
if [ "$(vol_field rotate_failures)" -ge 1 ] 2>/dev/null &&
	grep -q "KEK rotation failed (rotate=auto).*retrying later" "$CMK_TMP/cmkd.log"; then
	ok "the failure is counted and a retry is scheduled"
else
	not_ok "the failure is counted and a retry is scheduled" "$(vol_field rotate_failures)"
fi
kek unexpire --key kek-b --id 11
dt=$(wait_field kek_version 11 40)
if [ -n "$dt" ]; then
	ok "version 11 usable: the retry (backoff) rotates to it ${dt} s later"
else
	not_ok "the retry rotates to version 11" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi

# --- the writer ---------------------------------------------------------------------
touch "$CMK_TMP/stop"
wait "$WRITER"
wrc=$?
WRITER=''
nfiles=$(wc -l <"$CMK_TMP/wsums" 2>/dev/null || echo 0)
if [ "$wrc" = 0 ] && [ "$nfiles" -gt 3 ] &&
	(cd "$MNT/w" && sha256sum --quiet -c "$CMK_TMP/wsums"); then
	ok "the writer ran through three rotations and a failed one without an error; its $nfiles files are intact"
else
	not_ok "the writer ran without an error, its files intact" "rc=$wrc files=$nfiles"
fi

# --- the KEK in use disabled: teardown; back with revalidate -----------------------
sync
kek disable --key kek-b --id 10
sleep $((2 * POLL + 1))
if [ "$(vol_field state)" = available ]; then
	ok "version 10 (no longer used) disabled: no teardown"
else
	not_ok "version 10 disabled: no teardown" "$(vol_field state)"
fi
KB="pkcs11:token=second;object=cmk-kek;id=%01;type=private"
out=$("$CMKCTL" kek-rotate "$NAME" --to "$KB?module-path=$SOFTHSM&pin-source=file:$VB/pin" --socket "$SOCK" 2>&1)
rc=$?
kek disable --key kek-b --id 11
sleep $((2 * POLL + 1))
if [ "$rc" = 0 ] && [ "$(vol_field kek_key)" = "$KB" ] && [ "$(vol_field state)" = available ] &&
	[ "$(vol_field last_check_result)" = ok ] && grep -q "name the new KEK in cmktab" "$CMK_TMP/cmkd.log"; then
	ok "kek-rotate NAME --to a key in another vault: cmkd checks it there; the first vault's key disabled, no teardown"
else
	not_ok "kek-rotate to another vault through cmkd" "rc=$rc" "$out" "$(vol_field state) $(vol_field kek_key)" \
		"$(tail -4 "$CMK_TMP/cmkd.log")"
fi
t0=$(now)
"$VAULT" kek "$VB" disable >>"$CMK_TMP/vault.log" 2>&1
torn=''
for _ in $(seq $((4 * (KEK_LIMIT + 4)))); do
	if ! dd if="$node" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
		torn=$(now)
		break
	fi
	sleep 0.25
done
if [ -n "$torn" ] && elapsed_le "$t0" "$torn" "$KEK_LIMIT" &&
	[ "$(vol_field state)" = inaccessible ] && [ "$(vol_field class)" = disabled ]; then
	ok "the KEK in use (the second vault's) disabled: EIO $(awk -v s="$t0" -v e="$torn" 'BEGIN { printf "%.2f", e - s }') s later (bound ${KEK_LIMIT} s), inaccessible, class disabled"
else
	not_ok "the KEK in use disabled: teardown within ${KEK_LIMIT} s" "state=$(vol_field state)" \
		"$(tail -5 "$CMK_TMP/cmkd.log")"
fi
umount -l "$MNT"
"$VAULT" kek "$VB" enable >>"$CMK_TMP/vault.log" 2>&1
if "$CMKCTL" revalidate "$NAME" --socket "$SOCK" >/dev/null 2>&1 &&
	[ "$(vol_field state)" = available ]; then
	ok "enabled again and revalidated (opened through the second vault): available"
else
	not_ok "enabled again and revalidated" "$(vol_field state)" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
node=$(dm_node "$NAME")
# Mounted first: the journal the teardown interrupted is replayed.
if mount "$node" "$MNT" &&
	(cd "$MNT" && sha256sum --quiet -c "$CMK_TMP/sums") &&
	(cd "$MNT/w" && sha256sum --quiet -c "$CMK_TMP/wsums") &&
	umount "$MNT" && fsck.ext4 -n -f "$node" >"$CMK_TMP/fsck.out" 2>&1; then
	ok "the files of the setup and of the writer intact; fsck clean"
else
	not_ok "files intact, fsck clean" "$(tail -5 "$CMK_TMP/fsck.out")"
fi
kmsg_clean_ok
tap_done
