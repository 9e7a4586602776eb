#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmkd_test: host-side tests of the key daemon cmkd and of cmkctl's
# daemon commands, against the embedded SoftHSM2 vault
# (scripts/cmk-vault-softhsm) with a volume in a regular file.  TAP output;
# exit 0 pass, 1 fail, 4 skip (cmkd, cmkctl, SoftHSM2 or python3 missing).
#
# The host needs no device-mapper: without /dev/mapper/control cmkd runs
# but never maps a volume, which stays "opening" and is retried with
# backoff.  That covers everything short of the kernel: option parsing,
# --check of cmktab, the control socket (mode, root only, protocol,
# status/revalidate/close), one vault unwrap per open attempt (audit log),
# no PIN anywhere, the backoff, a second daemon on the same socket,
# sd_notify (READY=1, STATUS=), SIGHUP and SIGTERM.  The mapped states
# are tested in the guest (tests/kernel/cmkd_vm.sh).

# Conditions are single-quoted and eval'd by check(): shellcheck sees
# neither the expansions nor the uses of the helpers and of $rc.
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKD=${CMKD:-$ROOT/build/userspace/cmkd}
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
VAULT=$ROOT/scripts/cmk-vault-softhsm
PY=/usr/bin/python3
START=$(date +%s.%N)

echo "TAP version 13"
for need in "$CMKD" "$CMKCTL"; do
	if [ ! -x "$need" ]; then
		echo "1..0 # SKIP $need not built (make cmkctl cmkd)"
		exit 4
	fi
done
for need in /usr/lib/softhsm/libsofthsm2.so /usr/bin/softhsm2-util \
	    /usr/bin/pkcs11-tool "$PY"; do
	if [ ! -e "$need" ]; then
		echo "1..0 # SKIP $need not installed"
		exit 4
	fi
done

T=$(mktemp -d /tmp/cmkd_test.XXXXXX) || exit 1
umask 077
CMKD_PID=
B_PID=
LISTEN_PID=
cleanup() {
	local p
	for p in $CMKD_PID $B_PID $LISTEN_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	# The vault runs in process; stop a server only if one was started.
	[ -e "$T/v/p11kit.sock" ] && "$VAULT" stop "$T/v" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

PLAN=46

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"
rc=0
# run PROG ARGS...: output in $T/out and $T/err, exit status in $rc.
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}
is_json() {
	"$PY" -c 'import json,sys; json.load(sys.stdin)' <"$1" 2>/dev/null
}
# jq FILE EXPR [ARG...]: a Python assertion on the JSON in FILE (bound to
# d); the ARGs are sys.argv[2:].
jq() {
	"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" "${@:3}" 2>/dev/null
}
# A raw control-socket client: SOCKET REQUEST [nonl]: sends REQUEST and a
# newline (or, with nonl, no newline and then shuts its write side), prints
# the answer.
# the answer.  A reset after (part of) the answer ends it like EOF ("reset"
# on stderr): cmkd closes a refused client's connection unread.
RAW='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    if len(sys.argv) > 3 and sys.argv[3] == "nonl":
        s.sendall(sys.argv[2].encode())
        s.shutdown(socket.SHUT_WR)
    else:
        s.sendall(sys.argv[2].encode() + b"\n")
except (BrokenPipeError, ConnectionResetError):
    sys.stderr.write("reset while sending\n")
out = b""
while True:
    try:
        b = s.recv(65536)
    except ConnectionResetError:
        sys.stderr.write("reset\n")
        break
    if not b:
        break
    out += b
sys.stdout.write(out.decode(errors="replace"))
'
raw() {
	"$PY" -I -c "$RAW" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
# wait_for SECONDS CONDITION: poll (every 0.1 s) until the eval'd
# condition holds; false on timeout.
wait_for() {
	local end
	end=$(($(date +%s%N) / 1000000 + $1 * 1000))
	while ! eval "$2"; do
		[ $(($(date +%s%N) / 1000000)) -ge "$end" ] && return 1
		sleep 0.1
	done
	return 0
}
alive() { kill -0 "$1" 2>/dev/null; }
# no_pin FILE...: the PIN appears in none of them.
no_pin() { ! grep -qF -- "$PIN" "$@"; }
attempts() { grep -c 'cannot open yet' "$T/cmkd.log"; }

# ---- option parsing ----
run "$CMKD" --help
check "cmkd --help: exit 0, mentions --config" \
	'[ $rc = 0 ] && out_has "--config"'
run "$CMKD" --no-such-option
check "cmkd with an unknown option: exit 1" '[ $rc = 1 ] && [ -s "$T/err" ]'
run "$CMKD" --config /nonexistent extra
check "cmkd with an extra argument: exit 1, names it" \
	'[ $rc = 1 ] && err_has "extra"'
run "$CMKD" --version
check "cmkd --version: exit 0, prints the version" \
	'[ $rc = 0 ] && out_has "^cmkd [0-9]"'

# ---- vault and volume ----
if ! "$VAULT" create "$T/v" >"$T/v.out" 2>"$T/v.err"; then
	sed 's/^/# /' "$T/v.err"
	echo "Bail out! cmk-vault-softhsm create failed"
	exit 1
fi
eval "$(grep -v '^#' "$T/v.out")"
PIN=$(head -n1 "$T/v/pin")
truncate -s 64M "$T/f.img"
if ! (cd "$T" && "$CMKCTL" format "$T/f.img" --kek "$CMK_KEK_URI" -e 16M) \
	>"$T/format.out" 2>"$T/format.err"; then
	sed 's/^/# /' "$T/format.err"
	echo "Bail out! cmkctl format failed"
	exit 1
fi
UUID=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["uuid"])' \
	< <("$CMKCTL" dump "$T/f.img" --json 2>/dev/null))
[ -n "$UUID" ] || { echo "Bail out! no UUID from cmkctl dump"; exit 1; }

TAB=$T/cmktab
printf '# test volume\nvol1 %s %s poll=3s,lease=9s,grace=20s,retry-max=4s\n' \
	"$T/f.img" "$CMK_KEK_URI" >"$TAB"

# ---- --check ----
run "$CMKD" --check --config "$TAB"
check "--check on a good cmktab: exit 0, 1 volume, 0 bad lines" \
	'[ $rc = 0 ] && out_has "1 volume, 0 bad lines" && [ ! -s "$T/err" ]'

mkfifo "$T/tab.fifo"
rc=0
timeout 10 "$CMKD" --check --config "$T/tab.fifo" >"$T/out" 2>"$T/err" || rc=$?
check "--check of a cmktab that is a FIFO: refused at once, no hang" \
	'[ $rc != 0 ] && [ $rc != 124 ] && grep -q "not a regular file" "$T/out" "$T/err"'

BAD=$T/bad.tab
{
	printf 'vol1 %s -\n' "$T/f.img"
	printf 'rel relative/f.img -\n'
	printf 'opt %s/g.img - lease=0s\n' "$T"
	printf 'vol1 %s/h.img -\n' "$T"
} >"$BAD"
run "$CMKD" --check --config "$BAD"
check "--check on 3 bad lines: exit 4, one FILE:LINE: message each" \
	'[ $rc = 4 ] && [ "$(grep -c . "$T/err")" = 3 ] &&
	 err_has "^$BAD:2: " && err_has "^$BAD:3: " &&
	 err_has "^$BAD:4: .*duplicate" && out_has "1 volume, 3 bad lines"'

printf 'pv %s pkcs11:token=cmk;object=k?pin-value=1234\n' "$T/f.img" >"$T/pv.tab"
run "$CMKD" --check --config "$T/pv.tab"
check "--check refuses a KEK URI with pin-value (exit 4), does not echo it" \
	'[ $rc = 4 ] && err_has "^$T/pv.tab:1: " && ! grep -q "1234" "$T/err"'

run "$CMKD" --check --config "$T/missing.tab"
check "--check on a missing file: exit 2, clear message" \
	'[ $rc = 2 ] && err_has "$T/missing.tab: No such file"'

cp "$TAB" "$T/gw.tab"
chmod 620 "$T/gw.tab"
run "$CMKD" --check --config "$T/gw.tab"
check "--check refuses a group-writable cmktab (exit 4, message)" \
	'[ $rc = 4 ] && err_has "^$T/gw.tab:0: .*writable"'

# ---- the daemon ----
S=$T/sock
"$CMKD" --foreground --config "$TAB" --socket "$S" --audit-log "$T/audit.log" \
	2>"$T/cmkd.log" &
CMKD_PID=$!
wait_for 10 '[ -S "$S" ]'
check "control socket within 10 s, mode 0600" \
	'[ -S "$S" ] && [ "$(stat -c %a "$S")" = 600 ]'
# Let the first open attempt finish.
wait_for 10 '[ "$(attempts)" -ge 1 ]'

run "$CMKCTL" status --socket "$S" --json
check "cmkctl status --json: exit 0, JSON with cmkd's pid" \
	'[ $rc = 0 ] && is_json "$T/out" && jq "$T/out" "d[\"cmkd\"][\"cmkd\"][\"pid\"] == $CMKD_PID"' \
	'cmkctl status aborts ("listing device-mapper devices: device-mapper is not available", exit 2) before asking cmkd: without device-mapper it never shows the daemon part'

raw "$S" status
cp "$T/out" "$T/status.json"
check "status (socket): JSON, cmkd.pid is cmkd's, one volume" \
	'[ $rc = 0 ] && is_json "$T/status.json" &&
	 jq "$T/status.json" "d[\"cmkd\"][\"pid\"] == $CMKD_PID and len(d[\"volumes\"]) == 1"'
V='d["volumes"][0]'
check "status: vol1 opening with a reason" \
	'jq "$T/status.json" "$V[\"name\"] == \"vol1\" and $V[\"state\"] == \"opening\" and len($V[\"reason\"]) > 0"'
check "status: kek is the URI, no pin-value" \
	'jq "$T/status.json" "$V[\"kek\"] == sys.argv[2]" "$CMK_KEK_URI" && ! grep -q "pin-value" "$T/status.json"'
check "status: poll_s 3, lease_s 9, grace_s 20 as in cmktab" \
	'jq "$T/status.json" "$V[\"poll_s\"] == 3 and $V[\"lease_s\"] == 9 and $V[\"grace_s\"] == 20"'
check "status: uuid from the header (cmkctl dump), events not empty" \
	'jq "$T/status.json" "$V[\"uuid\"] == \"$UUID\" and len($V[\"events\"]) > 0"'

run "$CMKCTL" status --socket "$S"
check "cmkctl status: a line starting with vol1" 'out_has "^vol1 "' \
	'cmkctl status exits 2 ("listing device-mapper devices: device-mapper is not available") without showing cmkd'\''s volumes'

run "$CMKCTL" status vol1 --socket "$S"
check "cmkctl status vol1 (no mapping): mapping none and cmkd's fields" \
	'[ $rc = 0 ] && out_has "^mapping:[[:space:]]+none" &&
	 out_has "^cmkd state +opening" && out_has "^KEK +pkcs11:" &&
	 out_has "^volume uuid +$UUID" && out_has "^poll \(s\) +3" &&
	 out_has "^events:"' \
	'cmk_dm_status() gives -ENOMEM, not -ENXIO, when device-mapper is absent (dm_task_create() NULL -> -ENOMEM in cmk-dm.c), so cmkctl status NAME fails with "reading its status: Cannot allocate memory" instead of showing "mapping: none" and cmkd'\''s view'

# ---- a second daemon on the same socket ----
run timeout 10 "$CMKD" --foreground --config "$TAB" --socket "$S" \
	--audit-log "$T/audit2.log"
check "a second cmkd on the same socket: exit 2, another cmkd is running" \
	'[ $rc = 2 ] && err_has "another cmkd is running" && [ -S "$S" ] && alive $CMKD_PID'

# ---- --socket naming something that is not a socket ----
printf 'keep me\n' >"$T/notasocket"
run timeout 10 "$CMKD" --foreground --config "$TAB" --socket "$T/notasocket" \
	--audit-log "$T/audit3.log"
check "--socket naming a regular file: refused, the file left intact" \
	'[ $rc != 0 ] && err_has "notasocket: exists and is not a socket" &&
	 [ "$(cat "$T/notasocket")" = "keep me" ] && alive $CMKD_PID'

# ---- audit log and secrets ----
check "audit log: unwrap records, one per open attempt; mode 0600" \
	'u=$(grep -c "\"op\":\"unwrap\"" "$T/audit.log"); a=$(attempts);
	 [ "$u" -ge 1 ] && [ "$u" -ge "$a" ] && [ "$u" -le $((a + 1)) ] &&
	 [ "$(stat -c %a "$T/audit.log")" = 600 ] ||
	 { diag "unwraps $u, attempts $a"; false; }'
check "no PIN in the audit log, cmkd's log or the status answer" \
	'[ -n "$PIN" ] && no_pin "$T/audit.log" "$T/cmkd.log" "$T/status.json"'

# ---- raw protocol ----
raw "$S" bogus
check "protocol: unknown request -> result error" \
	'[ $rc = 0 ] && jq "$T/out" "d[\"result\"] == \"error\" and \"unknown\" in d[\"reason\"]"'
raw "$S" status nonl
check "protocol: request without a newline -> error, not terminated" \
	'[ $rc = 0 ] && jq "$T/out" "d[\"result\"] == \"error\" and \"not terminated\" in d[\"reason\"]"'
raw "$S" close
check "protocol: close without a name -> error, bad request" \
	'[ $rc = 0 ] && jq "$T/out" "d[\"result\"] == \"error\" and \"bad request\" in d[\"reason\"]"'

# ---- slow clients ----
# A root client trickling its request one byte every 1.5 s used to hold the
# main loop (lease renewals included) for as long as it liked.  Now each
# connection has 2 s for its request: the trickler is dropped, and other
# clients are answered at once all along.  Then 17 idle connections: the
# 17th is refused (16 at most), and once their 2 s are up status works.
SLOW='
import json, socket, sys, threading, time
path = sys.argv[1]
res = {}
def trickle():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    t0 = time.monotonic()
    try:
        for _ in range(8):
            s.send(b"s")
            s.settimeout(1.5)
            try:
                if s.recv(100) == b"":
                    break
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    res["trickle_dropped_s"] = round(time.monotonic() - t0, 2)
th = threading.Thread(target=trickle)
th.start()
worst = 0.0
while th.is_alive():
    t0 = time.monotonic()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    c.sendall(b"status\n")
    out = b""
    while not out.endswith(b"\n"):
        b = c.recv(65536)
        if not b:
            break
        out += b
    json.loads(out)
    c.close()
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.3)
res["status_worst_s"] = round(worst, 3)
idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(17)]
for c in idle:
    c.connect(path)
time.sleep(0.5)
idle[-1].settimeout(2)
res["17th"] = idle[-1].recv(200).decode(errors="replace")
time.sleep(3)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(5)
c.connect(path)
c.sendall(b"status\n")
res["after"] = json.loads(c.makefile().readline()).get("cmkd", {}).get("pid")
print(json.dumps(res))
'
rc=0
timeout 60 "$PY" -I -c "$SLOW" "$S" >"$T/slow.json" 2>"$T/err" || rc=$?
cp "$T/slow.json" "$T/out"
diag "slow clients: $(cat "$T/slow.json")"
check "a client trickling its request (1 byte / 1.5 s) is dropped within 2-4 s, and logged" \
	'[ $rc = 0 ] && jq "$T/slow.json" "2.0 <= d[\"trickle_dropped_s\"] <= 4.0" &&
	 grep -q "took longer than 2000 ms to send its request; dropped" "$T/cmkd.log"'
check "meanwhile every other client's status is answered within 1 s" \
	'jq "$T/slow.json" "d[\"status_worst_s\"] < 1.0"'
check "17 idle connections: the 17th is refused, too many control connections" \
	'jq "$T/slow.json" "\"too many control connections\" in d[\"17th\"]"'
check "once the idle ones are dropped, status works again" \
	'jq "$T/slow.json" "d[\"after\"] == $CMKD_PID"'

# ---- sd_notify, on a second instance ----
LISTEN='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "a") as f:
    while True:
        try:
            d = s.recv(4096)
        except socket.timeout:
            break
        f.write(d.decode(errors="replace") + "\n")
        f.flush()
'
"$PY" -I -c "$LISTEN" "$T/notify" "$T/notify.log" 2>"$T/listen.err" &
LISTEN_PID=$!
printf 'vol2 %s %s poll=3s\n' "$T/f.img" "$CMK_KEK_URI" >"$T/tab2"
if wait_for 5 '[ -S "$T/notify" ]'; then
	NOTIFY_SOCKET=$T/notify "$CMKD" --foreground --config "$T/tab2" \
		--socket "$T/sockB" --audit-log "$T/auditB.log" 2>"$T/cmkdB.log" &
	B_PID=$!
	wait_for 10 'grep -q "^READY=1" "$T/notify.log" 2>/dev/null'
	check "sd_notify: READY=1 arrives" 'grep -q "^READY=1" "$T/notify.log"'
	check "sd_notify: a STATUS= line says waiting" \
		'grep -q "^STATUS=.*waiting" "$T/notify.log"'
	kill -TERM "$B_PID"
	wait "$B_PID"
	rc=$?
	B_PID=
	check "second instance: SIGTERM -> exit 0, STOPPING=1 sent" \
		'[ $rc = 0 ] && grep -q "^STOPPING=1" "$T/notify.log"'
else
	skip "sd_notify: READY=1 arrives" "no datagram listener"
	skip "sd_notify: a STATUS= line says waiting" "no datagram listener"
	skip "second instance: SIGTERM -> exit 0, STOPPING=1 sent" "no datagram listener"
fi
kill "$LISTEN_PID" 2>/dev/null && wait "$LISTEN_PID" 2>/dev/null
LISTEN_PID=
sed 's/^/# notify: /' "$T/notify.log" 2>/dev/null | head -5

# ---- the journal's native protocol, on a third instance ----
"$PY" -I -c "$LISTEN" "$T/journal" "$T/journal.log" 2>>"$T/listen.err" &
LISTEN_PID=$!
printf 'vol3 %s %s poll=3s\n' "$T/f.img" "$CMK_KEK_URI" >"$T/tab3"
if wait_for 5 '[ -S "$T/journal" ]'; then
	# No --foreground: messages go to the journal, here the listener.
	CMKD_JOURNAL_SOCKET=$T/journal "$CMKD" --config "$T/tab3" \
		--socket "$T/sockC" --audit-log "$T/auditC.log" 2>"$T/cmkdC.log" &
	C_PID=$!
	wait_for 10 'grep -q "^CMK_EVENT=waiting" "$T/journal.log" 2>/dev/null'
	kill -TERM "$C_PID"
	wait "$C_PID"
	C_PID=
	check "journal: a structured 'waiting' message (MESSAGE_ID, CMK_VOLUME, PRIORITY)" \
		'grep -q "^MESSAGE_ID=3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c38$" "$T/journal.log" &&
		 grep -q "^CMK_VOLUME=vol3$" "$T/journal.log" &&
		 grep -q "^PRIORITY=4$" "$T/journal.log" &&
		 grep -q "^SYSLOG_IDENTIFIER=cmkd$" "$T/journal.log"'
	check "journal: nothing on stderr without --foreground, no PIN in the messages" \
		'[ ! -s "$T/cmkdC.log" ] || ! grep -q "cannot open yet" "$T/cmkdC.log"; \
		 ! grep -qF "$(cat "$T/v/pin")" "$T/journal.log"'
else
	skip "journal: a structured 'waiting' message" "no datagram listener"
	skip "journal: nothing on stderr without --foreground" "no datagram listener"
fi
kill "$LISTEN_PID" 2>/dev/null && wait "$LISTEN_PID" 2>/dev/null
LISTEN_PID=

# ---- root only ----
if [ -x /usr/bin/setpriv ]; then
	NOBODY=(/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups)
	chmod 755 "$T"
	run "${NOBODY[@]}" "$CMKCTL" status --socket "$S"
	check "non-root cmkctl status: fails or shows no cmkd part" \
		'[ $rc != 0 ] || ! out_has "^cmkd \(pid"'
	chmod 666 "$S"
	run "${NOBODY[@]}" "$PY" -I -c "$RAW" "$S" status
	check "non-root client on a 0666 socket: permission denied: root only" \
		'jq "$T/out" "d == {\"result\": \"error\", \"reason\": \"permission denied: root only\"}" &&
		 grep -q "refused a client (uid 65534" "$T/cmkd.log"'
	run "${NOBODY[@]}" "$CMKCTL" revalidate vol1 --socket "$S" --timeout 5
	check "non-root cmkctl revalidate on a 0666 socket: says permission denied" \
		'[ $rc = 2 ] && err_has "permission denied: root only"'
	chmod 600 "$S"
	chmod 700 "$T"
else
	skip "non-root cmkctl status: fails or shows no cmkd part" "no setpriv"
	skip "non-root client on a 0666 socket: permission denied: root only" "no setpriv"
	skip "non-root cmkctl revalidate on a 0666 socket: says permission denied" "no setpriv"
fi

# ---- backoff (before revalidate, which restarts it) ----
# retry-max=4s: delays of 1, 2, 4, 4 s, each plus up to a quarter.
wait_for 15 '[ "$(attempts)" -ge 4 ]'
grep -o 'retrying in [0-9.]* s' "$T/cmkd.log" | awk '{ print $3 }' >"$T/delays"
check "backoff: >= 4 attempts, delays 1, 2, 4 s then capped at 4 s (+jitter)" \
	'awk "
		BEGIN { want[1] = 1; want[2] = 2; want[3] = 4; want[4] = 4 }
		NR <= 4 { if (\$1 < want[NR] - 0.15 || \$1 > want[NR] * 1.25 + 0.15) bad = 1
			  if (NR > 1 && NR < 4 && \$1 < prev) bad = 1; prev = \$1 }
		END { exit (NR < 4 || bad) }" "$T/delays" ||
	 { diag "delays: $(tr "\n" " " <"$T/delays")"; false; }'

# ---- revalidate and close ----
run "$CMKCTL" revalidate vol1 --socket "$S" --timeout 20
check "revalidate vol1: fails, naming the volume and device-mapper" \
	'[ $rc != 0 ] && err_has "vol1" && err_has "device-mapper"'
run "$CMKCTL" revalidate nosuch --socket "$S" --timeout 20
check "revalidate nosuch: fails with no volume nosuch" \
	'[ $rc != 0 ] && err_has "no volume nosuch"'
run "$CMKCTL" close vol1 --socket "$S"
check "close vol1 through cmkd: exit 0" '[ $rc = 0 ]'
CLOSED_AT=$(date +%s%N)
BEFORE=$(attempts)
raw "$S" status
check "status after close: vol1 closed, audit record of the close" \
	'jq "$T/out" "d[\"volumes\"][0][\"state\"] == \"closed\"" &&
	 grep -q "\"op\":\"close\"" "$T/audit.log"'

# ---- SIGHUP, during the 5 s without open attempts ----
kill -HUP "$CMKD_PID"
wait_for 3 'grep -q SIGHUP "$T/cmkd.log"'
sleep 0.3
check "SIGHUP: logged and ignored (still running, still answering)" \
	'grep -q SIGHUP "$T/cmkd.log" && alive $CMKD_PID && raw "$S" status && is_json "$T/out"'

# Whatever is left of 5 s since the close.
left=$((5000 - ($(date +%s%N) - CLOSED_AT) / 1000000))
[ "$left" -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
check "no open attempt in the 5 s after close" \
	'[ "$(attempts)" = "$BEFORE" ] || { diag "attempts $BEFORE -> $(attempts)"; false; }'

# ---- SIGTERM ----
kill -TERM "$CMKD_PID"
wait_for 5 '! alive $CMKD_PID'
gone=$?
wait "$CMKD_PID"
rc=$?
CMKD_PID=
check "SIGTERM: exit 0 within 5 s, socket removed" \
	'[ $gone = 0 ] && [ $rc = 0 ] && [ ! -e "$S" ]'

if [ "$n" != "$PLAN" ]; then
	echo "# planned $PLAN test points, ran $n"
	failed=1
fi
diag "$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "elapsed %.1f s", e - s }')"
exit $failed
