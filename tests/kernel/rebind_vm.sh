#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A replica made of a volume (issue 14): the disk cloned block for block,
# then "cmkctl rebind" on the clone with a KEK in a second vault.  The
# clone gets a volume of its own (new UUID, new volume key, DEKs re-wrapped,
# data untouched); cmkd opens both side by side from cmktab by UUID (which
# would be ambiguous had the clone kept the original's); the first KEK
# disabled takes the original down and leaves the clone available, its
# files intact.  The first vault is SoftHSM2 behind p11-kit server, the
# second SoftHSM2 in cmkd's own process: two tokens, two PINs.

# shellcheck disable=SC2034

. "$(dirname "$0")/lib.sh"

CMKCTL=$CMK_REPO/build/userspace/cmkctl
CMKD=$CMK_REPO/build/userspace/cmkd
VAULT=$CMK_REPO/scripts/cmk-vault-softhsm
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
ORIG=orig$CMK_TAG
CLONE=clone$CMK_TAG
SOCK=$CMK_TMP/cmkd.sock
TAB=$CMK_TMP/cmktab
VA=$CMK_TMP/va
VB=$CMK_TMP/vb
export CMK_STATE_DIR=$CMK_TMP/state
export PATH=$PATH:/sbin:/usr/sbin
POLL=2 LEASE=6
KEK_LIMIT=$((POLL + 2))

PLAN=10
tap_plan $PLAN
if [ ! -x "$CMKD" ] || [ ! -x "$CMKCTL" ] || [ ! -e "$CLIENT" ] || [ ! -e "$SOFTHSM" ]; then
	for _ in $(seq $PLAN); do skip "rebind_vm" "cmkd, cmkctl, p11-kit-client or SoftHSM2 missing"; done
	exit 0
fi

CMKD_PID=''
cleanup() {
	if [ -n "$CMKD_PID" ]; then
		kill "$CMKD_PID" 2>/dev/null
		wait "$CMKD_PID" 2>/dev/null
	fi
	for m in "$CMK_TMP/m1" "$CMK_TMP/m2"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	"$VAULT" stop "$VA" >/dev/null 2>&1
	cmk_cleanup
}
trap cleanup EXIT

field() {
	cmkd_field "$SOCK" "$1" "$2"
}

wait_state() {
	cmkd_wait "$SOCK" "$1" state "$2" "$3" >/dev/null
}

mkdir -p "$CMK_TMP/m1" "$CMK_TMP/m2"
vault_serve "$VA"
out=$("$VAULT" create "$VB" --token second 2>&1) ||
	not_ok "setup: a second vault" "$out"
# In this process (and cmkd's), SoftHSM2 is the second vault's.
export SOFTHSM2_CONF=$VB/softhsm2.conf
KB="pkcs11:token=second;object=cmk-kek;id=%01;type=private"
PA=(--module "$CLIENT" --pin-file "$VA/pin")

D1=$(new_loop 64)
D2=$(new_loop 64)
if "$CMKCTL" format "$D1" --kek "$CMK_KEK_URI_REMOTE" -e 16M >"$CMK_TMP/out" 2>&1 &&
	"$CMKCTL" open "$D1" "$ORIG" "${PA[@]}" >>"$CMK_TMP/out" 2>&1 &&
	settle && mkfs.ext4 -q "$(dm_node "$ORIG")" &&
	mount "$(dm_node "$ORIG")" "$CMK_TMP/m1" &&
	for i in 1 2 3; do head -c $((i * 400000)) /dev/urandom >"$CMK_TMP/m1/f$i"; done &&
	(cd "$CMK_TMP/m1" && sha256sum f1 f2 f3) >"$CMK_TMP/sums" &&
	umount "$CMK_TMP/m1" && "$CMKCTL" close "$ORIG" >>"$CMK_TMP/out" 2>&1 &&
	dd if="$D1" of="$D2" bs=1M iflag=direct oflag=direct status=none; then
	ok "setup: a volume under the first vault's KEK, with files; cloned block for block"
else
	not_ok "setup: a volume with files, cloned" "$(cat "$CMK_TMP/out")"
fi
U1=$("$CMKCTL" dump "$D1" --json | grep -o '"uuid":"[^"]*"' | cut -d'"' -f4)

out=$("$CMKCTL" rebind "$D2" "${PA[@]}" --to "$KB?module-path=$SOFTHSM&pin-source=file:$VB/pin" --json 2>&1)
rc=$?
U2=$(grep -o '"uuid":"[^"]*"' <<<"$out" | head -1 | cut -d'"' -f4)
if [ "$rc" = 0 ] && [ -n "$U2" ] && [ "$U2" != "$U1" ] &&
	[ "$("$CMKCTL" dump "$D1" --json | grep -o '"uuid":"[^"]*"' | cut -d'"' -f4)" = "$U1" ] &&
	"$CMKCTL" dump "$D2" | grep -q "^KEK URI:[[:space:]]*$KB\$"; then
	ok "rebind the clone to the second vault: new UUID $U2, KEK token=second; the original's header unchanged"
else
	not_ok "rebind the clone to the second vault" "rc=$rc" "$out"
fi

(
	umask 077
	cat >"$TAB" <<EOF
$ORIG UUID=$U1 - module=$CLIENT,pin-file=$VA/pin,poll=${POLL}s,lease=${LEASE}s
$CLONE UUID=$U2 - module=$SOFTHSM,pin-file=$VB/pin,poll=${POLL}s,lease=${LEASE}s
EOF
)
"$CMKD" --foreground --config "$TAB" --socket "$SOCK" --audit-log "$CMK_TMP/audit.log" \
	>>"$CMK_TMP/cmkd.log" 2>&1 &
CMKD_PID=$!
if wait_state "$ORIG" available 60 && wait_state "$CLONE" available 60; then
	ok "cmkd opens both by UUID, side by side"
else
	not_ok "cmkd opens both by UUID" "$(tail -6 "$CMK_TMP/cmkd.log")"
fi
CMK_DEVS+=("$ORIG" "$CLONE")
settle
if mount "$(dm_node "$ORIG")" "$CMK_TMP/m1" && mount "$(dm_node "$CLONE")" "$CMK_TMP/m2" &&
	(cd "$CMK_TMP/m1" && sha256sum --quiet -c "$CMK_TMP/sums") &&
	(cd "$CMK_TMP/m2" && sha256sum --quiet -c "$CMK_TMP/sums"); then
	ok "both mounted; the clone's files are the original's"
else
	not_ok "both mounted, same files"
fi
head -c 300000 /dev/urandom >"$CMK_TMP/m2/clone-only" && sync
(cd "$CMK_TMP/m2" && sha256sum clone-only) >"$CMK_TMP/sums2"
if [ ! -e "$CMK_TMP/m1/clone-only" ] &&
	[ "$(field "$ORIG" vk_fingerprint)" != "$(field "$CLONE" vk_fingerprint)" ]; then
	ok "two volumes: a file written to the clone is not in the original; different volume keys"
else
	not_ok "two volumes of their own"
fi

sync
t0=$(now)
"$VAULT" kek "$VA" disable >>"$CMK_TMP/vault.log" 2>&1
torn=''
for _ in $(seq $((4 * (KEK_LIMIT + 4)))); do
	if ! dd if="$(dm_node "$ORIG")" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
		torn=$(now)
		break
	fi
	sleep 0.25
done
if [ -n "$torn" ] && elapsed_le "$t0" "$torn" "$KEK_LIMIT" &&
	[ "$(field "$ORIG" state)" = inaccessible ]; then
	ok "the first KEK disabled: the original inaccessible $(awk -v s="$t0" -v e="$torn" 'BEGIN { printf "%.2f", e - s }') s later (bound ${KEK_LIMIT} s)"
else
	not_ok "the first KEK disabled: the original inaccessible" "$(field "$ORIG" state)" "$(tail -4 "$CMK_TMP/cmkd.log")"
fi
sleep $((2 * POLL))
if [ "$(field "$CLONE" state)" = available ] &&
	dd if="$(dm_node "$CLONE")" of=/dev/null bs=1M count=4 iflag=direct 2>/dev/null; then
	ok "the clone stays available through it"
else
	not_ok "the clone stays available" "$(field "$CLONE" state)"
fi
echo 3 >/proc/sys/vm/drop_caches
if (cd "$CMK_TMP/m2" && sha256sum --quiet -c "$CMK_TMP/sums" && sha256sum --quiet -c "$CMK_TMP/sums2"); then
	ok "the clone's files are intact (read from the device again)"
else
	not_ok "the clone's files are intact"
fi
umount -l "$CMK_TMP/m1"
umount "$CMK_TMP/m2"
kmsg_clean_ok
tap_done
