#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vault_admin_test: host-side tests of the vault-side events of the embedded
# SoftHSM2 vault ("scripts/cmk-vault-softhsm kek DIR VERB", done by
# build/userspace/cmk-softhsm-admin), each checked with cmkctl: validate-kek
# and unlock-check of a formatted image file see the KEK disabled, expired,
# its PIN revoked, deleted, and each time restored (the very same key: the
# volume unlocks again).  Run in process and again through "p11-kit server"
# (the vault as its own process).  TAP output; exit 0 pass, 1 fail, 4 skip
# (SoftHSM2, pkcs11-tool, cmkctl or the admin tool missing).

# Conditions are single-quoted and eval'd by check(): shellcheck sees
# neither the expansions nor the uses of the helpers and of $rc.
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
ADMIN=$ROOT/build/userspace/cmk-softhsm-admin
VAULT=$ROOT/scripts/cmk-vault-softhsm

echo "TAP version 13"
for need in /usr/lib/softhsm/libsofthsm2.so /usr/bin/softhsm2-util \
	    /usr/bin/pkcs11-tool; do
	if [ ! -e "$need" ]; then
		echo "1..0 # SKIP $need not installed"
		exit 4
	fi
done
for need in "$CMKCTL" "$ADMIN"; do
	if [ ! -x "$need" ]; then
		echo "1..0 # SKIP $need not built (make)"
		exit 4
	fi
done

T=$(mktemp -d /tmp/vault_admin_test.XXXXXX) || exit 1
cleanup() {
	[ -e "$T/v/p11kit.pid" ] && "$VAULT" stop "$T/v" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
umask 077

# Per mode (in process, served): 2 before, then per event.
PER_MODE=$((2 + 5 + 3 + 4 + 3 + 5 + 4 + 5 + 5 + 2))
# Served: serve, the same server, then the lifecycle of its workers (8).
SERVED=$((2 + 8))
PLAN=$((4 + 2 * PER_MODE + SERVED))

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"
mode_of() { stat -c %a "$1" 2>/dev/null; }
rc=0
# cmk ARGS...: run cmkctl; vault VERB...: run the vault script on $T/v.
cmk() {
	"$CMKCTL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
vault() {
	"$VAULT" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	cat "$T/out" "$T/err" >>"$T/vault.log"
}
kek() {
	vault kek "$T/v" "$@"
}

# ---- setup ----
vault create "$T/v" --token cmk --key kek
check "create a vault" '[ $rc = 0 ]'
eval "$(grep -E '^(SOFTHSM2_CONF|CMK_KEK_URI)=' "$T/out")"
truncate -s 64M "$T/x.img"
cmk format "$T/x.img" --kek "$CMK_KEK_URI" -e 16M
check "format an image with the KEK" '[ $rc = 0 ]'
vault kek "$T/v" no-such-verb
check "kek: an unknown verb is a usage error (exit 2)" '[ $rc = 2 ]'
vault kek "$T/nowhere" show
check "kek: not a vault: exit 1 with an error" \
	'[ $rc = 1 ] && err_has "^error: "'

# events URI MODE: the whole cycle against KEK URI (in process or served).
events() {
	local uri=$1 m=$2

	cmk validate-kek "$uri"
	check "$m: validate-kek passes" '[ $rc = 0 ] && ! out_has "^ *fail "'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: unlock-check ok" '[ $rc = 0 ]'

	# disable / enable
	kek disable
	check "$m: kek disable" \
		'[ $rc = 0 ] && out_has "^# KEK .kek. disabled for decrypt$"'
	kek show
	check "$m: kek show: decrypt off" '[ $rc = 0 ] && out_has "decrypt off"'
	cmk validate-kek "$uri"
	check "$m: disabled: validate-kek fails the usage check (exit 3)" \
		'[ $rc = 3 ] && out_has "fail +usage"'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: disabled: unlock-check exit 3, class disabled" \
		'[ $rc = 3 ] && err_has "\(disabled\)$"'
	kek disable
	check "$m: kek disable again: exit 0" '[ $rc = 0 ]'
	kek enable
	check "$m: kek enable" \
		'[ $rc = 0 ] && out_has "^# KEK .kek. enabled for decrypt$"'
	cmk validate-kek "$uri"
	check "$m: enabled: validate-kek passes" '[ $rc = 0 ]'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: enabled: unlock-check ok" '[ $rc = 0 ]'

	# expire / unexpire
	kek expire
	check "$m: kek expire (yesterday, UTC)" \
		'[ $rc = 0 ] && out_has "expired \(end date $(date -u -d yesterday +%Y%m%d)"'
	cmk validate-kek "$uri"
	check "$m: expired: validate-kek fails the end check (exit 3)" \
		'[ $rc = 3 ] && out_has "fail +end +expired"'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: expired: unlock-check exit 3, class expired" \
		'[ $rc = 3 ] && err_has "\(expired\)$"'
	kek expire
	check "$m: kek expire again: exit 0" '[ $rc = 0 ]'
	kek unexpire
	check "$m: kek unexpire" \
		'[ $rc = 0 ] && out_has "^# KEK .kek. end date cleared$"'
	cmk validate-kek "$uri"
	check "$m: unexpired: validate-kek passes" '[ $rc = 0 ]'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: unexpired: unlock-check ok" '[ $rc = 0 ]'

	# revoke-pin / restore-pin
	kek revoke-pin
	check "$m: kek revoke-pin, new PIN in pin.revoked (0600)" \
		'[ $rc = 0 ] && [ "$(mode_of "$T/v/pin.revoked")" = 600 ] &&
		 ! cmp -s "$T/v/pin" "$T/v/pin.revoked"'
	cmk validate-kek "$uri"
	check "$m: PIN revoked: validate-kek exit 3, class permission-denied" \
		'[ $rc = 3 ] && err_has "CKR_PIN_INCORRECT.*\(permission-denied\)$"'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: PIN revoked: unlock-check exit 3, class permission-denied" \
		'[ $rc = 3 ] && err_has "CKR_PIN_INCORRECT.*\(permission-denied\)$"'
	kek disable
	check "$m: PIN revoked: kek verbs still work (disable)" '[ $rc = 0 ]'
	kek enable
	kek revoke-pin
	check "$m: kek revoke-pin again: exit 1 with an error" \
		'[ $rc = 1 ] && err_has "^error: .*already revoked"'
	kek restore-pin
	check "$m: kek restore-pin, pin.revoked removed" \
		'[ $rc = 0 ] && [ ! -e "$T/v/pin.revoked" ]'
	cmk validate-kek "$uri"
	check "$m: PIN restored: validate-kek passes" '[ $rc = 0 ]'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: PIN restored: unlock-check ok" '[ $rc = 0 ]'
	kek restore-pin
	check "$m: kek restore-pin again: exit 1 with an error" \
		'[ $rc = 1 ] && err_has "^error: .*not revoked"'

	# delete / restore
	kek delete
	check "$m: kek delete, token saved in backup/ (0700)" \
		'[ $rc = 0 ] && out_has "^# KEK .kek. deleted" &&
		 [ "$(mode_of "$T/v/backup")" = 700 ]'
	cmk validate-kek "$uri"
	check "$m: deleted: validate-kek exit 3, class not-found" \
		'[ $rc = 3 ] && err_has "\(not-found\)$"'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: deleted: unlock-check exit 3, class not-found" \
		'[ $rc = 3 ] && err_has "\(not-found\)$"'
	kek show
	check "$m: deleted: kek show says not found" \
		'[ $rc = 0 ] && out_has "not found" && out_has "saved in"'
	kek delete
	check "$m: kek delete again: exit 1 with an error" \
		'[ $rc = 1 ] && err_has "^error: .*already deleted"'
	kek restore
	check "$m: kek restore, backup consumed" \
		'[ $rc = 0 ] && out_has "^# KEK .kek. restored" &&
		 [ ! -e "$T/v/backup" ]'
	cmk validate-kek "$uri"
	check "$m: restored: validate-kek passes" '[ $rc = 0 ]'
	cmk unlock-check "$T/x.img" --kek "$uri"
	check "$m: restored: unlock-check ok (the same key)" \
		'[ $rc = 0 ] && out_has "unwrapped and authenticated"'
	kek show
	check "$m: restored: decrypt on, no end date" \
		'[ $rc = 0 ] && out_has "decrypt on, end date none"'
	kek restore
	check "$m: kek restore again: exit 1 with an error" \
		'[ $rc = 1 ] && err_has "^error: no backup"'

	# The token's files: the key objects are back, nothing left over.
	check "$m: no staging files left in the vault" \
		'[ -z "$(find "$T/v" -name "*.restore" -o -name "*.new")" ]'
	check "$m: the PIN never on the output of the vault script" \
		'! grep -qF -f "$T/v/pin" "$T/vault.log"'
}

# ---- a served vault's workers: dropped, stopped, never silently ----

# client_connect: a client that holds a connection to the served vault
# (p11-kit server forks a worker per connection) until the worker goes
# away; its pid in $cpid, the worker's in $wpid.
client_connect() {
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.recv(1)' "$T/v/p11kit.sock" &
	cpid=$!
	wpid=""
	for _ in $(seq 100); do
		wpid=$(pgrep -P "$pid") && break
		sleep 0.05
	done
}

proc_state() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null; }

# gone PID: PID has exited within 5 s (a zombie not yet reaped counts).
gone() {
	local st
	for _ in $(seq 100); do
		st=$(proc_state "$1")
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		sleep 0.05
	done
	return 1
}

served_lifecycle() {
	local sp
	client_connect
	check "served: a connected client has a worker process" '[ -n "$wpid" ]'
	kek revoke-pin
	check "served: revoke-pin drops the connected client's worker" \
		'[ $rc = 0 ] && out_has "dropped its client connections" && [ -n "$wpid" ] &&
		 gone "$wpid" && [ -z "$(pgrep -P "$pid")" ] && kill -0 "$pid"'
	wait "$cpid" 2>/dev/null
	kek restore-pin
	check "served: restore-pin with no client connected" \
		'[ $rc = 0 ] && ! out_has "dropped" && kill -0 "$pid"'

	# A vault whose workers cannot be listed says so and keeps serving.
	mkdir -p "$T/fakebin"
	printf '#!/bin/sh\necho "pgrep: simulated failure" >&2\nexit 3\n' >"$T/fakebin/pgrep"
	chmod 755 "$T/fakebin/pgrep"
	PATH=$T/fakebin:$PATH vault stop "$T/v"
	check "served: stop fails (exit 1) when the workers cannot be listed" \
		'[ $rc = 1 ] && err_has "cannot list the workers of p11-kit server $pid \(pgrep exit 3\)" &&
		 ! out_has "^# stopped"'
	check "served: after the failed stop the server runs on (not left stopped)" \
		'[ -e "$T/v/p11kit.pid" ] && kill -0 "$pid" && [ "$(proc_state "$pid")" != T ]'

	client_connect
	vault stop "$T/v"
	check "served: stop ends the server and the worker of a connected client" \
		'[ $rc = 0 ] && out_has "^# stopped p11-kit server $pid$" && [ -n "$wpid" ] &&
		 gone "$pid" && gone "$wpid" && [ ! -e "$T/v/p11kit.pid" ] &&
		 [ ! -e "$T/v/p11kit.sock" ]'
	wait "$cpid" 2>/dev/null

	# A stale pid file naming another process: that process is not killed.
	sleep 30 &
	sp=$!
	echo "$sp" >"$T/v/p11kit.pid"
	vault stop "$T/v"
	check "stop with a stale pid file: another process is left alone" \
		'[ $rc = 0 ] && out_has "was not running" && kill -0 "$sp" &&
		 [ ! -e "$T/v/p11kit.pid" ]'
	kill "$sp"
	wait "$sp" 2>/dev/null
	vault stop "$T/v"
	check "stop of a vault not served: exit 1 with an error" \
		'[ $rc = 1 ] && err_has "not served"'
}

events "$CMK_KEK_URI" "in process"

# ---- the same through p11-kit server ----
client=""
for f in /usr/lib/*/pkcs11/p11-kit-client.so /usr/lib64/pkcs11/p11-kit-client.so; do
	[ -r "$f" ] && client=$f && break
done
if [ ! -x /usr/bin/p11-kit ] || [ -z "$client" ]; then
	for _ in $(seq $((PER_MODE + SERVED))); do
		skip "served" "p11-kit or p11-kit-client.so not installed"
	done
else
	vault serve "$T/v"
	check "serve the vault" '[ $rc = 0 ]'
	eval "$(grep -E '^(P11_KIT_SERVER_ADDRESS|CMK_KEK_URI_REMOTE)=' "$T/out")"
	pid=$(cat "$T/v/p11kit.pid")
	events "$CMK_KEK_URI_REMOTE" "served"
	# restore advances the token's generation: the server need not restart.
	check "served: the same p11-kit server throughout (pid $pid)" \
		'[ "$(cat "$T/v/p11kit.pid")" = "$pid" ] && kill -0 "$pid"'
	served_lifecycle
fi

[ "$n" = "$PLAN" ] || { echo "# ran $n of $PLAN test points"; failed=1; }
exit $failed
