#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmkd against the real target, with the vault as its own process (the
# embedded SoftHSM2 token served by p11-kit server).  An ext4 filesystem
# on the volume, and a reader doing direct I/O on a file in it.  For each
# cause (KEK deleted, disabled for decrypt, end date passed, PIN revoked,
# vault killed past the grace, C_Decrypt failing with CKR_GENERAL_ERROR
# past the grace, cmkd SIGKILLed, cmkd SIGSTOPped): the time
# from the cause to the reader's first EIO within its bound, cmkd's state
# and reason, the alert hook's environment, then the cause undone,
# revalidate, and every file written before the cause intact.  Also: cmkd
# started with the vault down opens the volume once the vault answers; a
# vault outage shorter than the grace tears nothing down, nor does one
# ambiguous C_Decrypt failure; the control
# socket refuses non-root clients, and a client trickling its requests
# for three leases holds up neither the lease nor I/O; cmktab errors are
# reported per line.

# shellcheck disable=SC2034

. "$(dirname "$0")/lib.sh"

CMKCTL=$CMK_REPO/build/userspace/cmkctl
CMKD=$CMK_REPO/build/userspace/cmkd
VAULT=$CMK_REPO/scripts/cmk-vault-softhsm
PY=/usr/bin/python3
NAME=cmkd$CMK_TAG
MNT=$CMK_TMP/mnt
SOCK=$CMK_TMP/cmkd.sock
TAB=$CMK_TMP/cmktab
AUDIT=$CMK_TMP/audit.log
ALERTS=$CMK_TMP/alerts.log
VDIR=$CMK_TMP/vault
# cmkd reaches the vault through a shim over p11-kit-client.so that fails
# the calls its control file names (tests/host/modules/shim_pkcs11.c).
SHIM=$CMK_REPO/build/tests/host/modules/shim_pkcs11.so
export CMK_SHIM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
export CMK_SHIM_CONTROL=$CMK_TMP/shim.faults
export PATH=$PATH:/sbin:/usr/sbin

# Settings of the volume under test (cmktab): bounds derive from them.
POLL=2 LEASE=6 GRACE=15 RETRY_MAX=4
KEK_LIMIT=$((POLL + 2))			# KEK lost: interval + 2 s
VAULT_LIMIT=$((GRACE + POLL + 2))	# vault killed: past the grace
LEASE_LIMIT=$((LEASE + 2))		# cmkd killed or stopped: lease + 2 s

CAUSES="delete disable expire revoke-pin vault-kill token-fault cmkd-kill cmkd-stop"
PER_CAUSE=8
PLAN=$((12 + 8 * PER_CAUSE + 8))
tap_plan $PLAN

if [ ! -x "$CMKD" ] || [ ! -x "$CMKCTL" ] ||
	[ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then
	for _ in $(seq $PLAN); do skip "cmkd_vm" "cmkd, cmkctl or SoftHSM2 missing"; done
	exit 0
fi

CMKD_PID=''
READER=''
cleanup() {
	[ -n "$READER" ] && kill "$READER" 2>/dev/null
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

# cmkd_start: cmkd in the foreground, its log appended to cmkd.log.
cmkd_start() {
	"$CMKD" --foreground --config "$TAB" --socket "$SOCK" \
		--audit-log "$AUDIT" >>"$CMK_TMP/cmkd.log" 2>&1 &
	CMKD_PID=$!
}

# vol_json: cmkctl status NAME --json into $CMK_TMP/st.json.
vol_json() {
	"$CMKCTL" status "$NAME" --json --socket "$SOCK" >"$CMK_TMP/st.json" 2>/dev/null
}

# vol_field FIELD: a scalar field of cmkd's view of the volume ("" if none).
# (grep, not python: a process start costs a second under TCG.)
vol_field() {
	vol_json
	sed 's/.*"cmkd"://' "$CMK_TMP/st.json" |
		grep -o "\"$1\":\(\"[^\"]*\"\|[^,}]*\)" | head -n 1 |
		sed "s/^\"$1\"://; s/^\"//; s/\"\$//; s/^null\$//"
}

# wait_state STATE SECS: until cmkd reports STATE.
wait_state() {
	local i
	for ((i = 0; i < $2 * 4; i++)); do
		[ "$(vol_field state)" = "$1" ] && return 0
		sleep 0.25
	done
	return 1
}

# start_reader: direct reads of a file in the filesystem until the first
# error (at most 90 s).
start_reader() {
	fio --name=probe --filename="$MNT/io.dat" --rw=randread --bs=4k \
		--direct=1 --ioengine=psync --size=4m --time_based \
		--runtime=90 >"$CMK_TMP/fio.out" 2>&1 &
	READER=$!
	sleep 1
}

# reader_stopped START: the reader ended with an error; DT = end - START.
reader_stopped() {
	local rc
	wait "$READER"
	rc=$?
	READER=''
	DT=$(awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2f\n", e - s }')
	[ "$rc" != 0 ]
}

# mount_and_check: mount the volume and verify the files written at setup.
mount_and_check() {
	local node
	settle
	node=$(dm_node "$NAME") || return 1
	mount "$node" "$MNT" || return 1
	(cd "$MNT" && sha256sum --quiet -c "$CMK_TMP/sums")
}

# cause NAME: make the KEK, the vault or cmkd fail.
cause() {
	case $1 in
	delete | disable | expire | revoke-pin)
		"$VAULT" kek "$VDIR" "$1" ;;
	vault-kill) "$VAULT" stop "$VDIR" ;;
	token-fault) echo "C_Decrypt 0x5 *" >"$CMK_SHIM_CONTROL" ;;
	cmkd-kill) kill -KILL "$CMKD_PID" ;;
	cmkd-stop) kill -STOP "$CMKD_PID" ;;
	esac
}

# undo NAME: undo the cause.
undo() {
	case $1 in
	delete) "$VAULT" kek "$VDIR" restore ;;
	disable) "$VAULT" kek "$VDIR" enable ;;
	expire) "$VAULT" kek "$VDIR" unexpire ;;
	revoke-pin) "$VAULT" kek "$VDIR" restore-pin ;;
	vault-kill) "$VAULT" serve "$VDIR" 2>>"$CMK_TMP/vault.err" ;;
	token-fault) rm "$CMK_SHIM_CONTROL" ;;
	cmkd-kill) wait "$CMKD_PID" 2>/dev/null; cmkd_start ;;
	cmkd-stop) kill -CONT "$CMKD_PID" ;;
	esac
}

# class_of NAME: the failure class cmkd must report for the cause.
class_of() {
	case $1 in
	delete) echo not-found ;;
	disable) echo disabled ;;
	expire) echo expired ;;
	revoke-pin) echo permission-denied ;;
	vault-kill | token-fault) echo transient ;;
	*) echo ok ;;	# the kernel lapsed the lease: no vault class
	esac
}

limit_of() {
	case $1 in
	vault-kill | token-fault) echo "$VAULT_LIMIT" ;;
	cmkd-*) echo "$LEASE_LIMIT" ;;
	*) echo "$KEK_LIMIT" ;;
	esac
}

# --- setup ------------------------------------------------------------------
mkdir -p "$MNT"
vault_serve "$VDIR"
DEV=$(new_loop 96)
check "setup: cmkctl format through the served vault" \
	"$CMKCTL" format "$DEV" --kek "$CMK_KEK_URI_REMOTE" -e 16M

cat >"$CMK_TMP/alert.sh" <<EOF
#!/bin/sh
echo "\$CMK_EVENT|\$CMK_VOLUME|\$CMK_STATE|\$CMK_CLASS|\$CMK_REASON|\$CMK_TIME" >>"$ALERTS"
grep -E '^Sig(Blk|Ign):' /proc/\$\$/status >>"$CMK_TMP/alert.sig"
EOF
chmod 755 "$CMK_TMP/alert.sh"
(
	umask 077
	cat >"$TAB" <<EOF
# cmkd_vm.sh
$NAME $DEV - module=$SHIM,pin-file=$VDIR/pin,poll=${POLL}s,lease=${LEASE}s,grace=${GRACE}s,retry-max=${RETRY_MAX}s,alert=$CMK_TMP/alert.sh
EOF
	printf 'bad1 relative/dev\nbad2 /dev/x - poll=0s\n' >"$CMK_TMP/badtab"
)

# cmktab errors: one message per bad line, exit 4 from --check.
"$CMKD" --check --config "$CMK_TMP/badtab" >"$CMK_TMP/out" 2>&1
rc=$?
if [ "$rc" = 4 ] && grep -q 'badtab:1: .*relative/dev' "$CMK_TMP/out" &&
	grep -q 'badtab:2: .*poll' "$CMK_TMP/out"; then
	ok "cmkd --check reports each bad cmktab line and exits 4"
else
	not_ok "cmkd --check reports each bad cmktab line and exits 4" "rc=$rc" "$(cat "$CMK_TMP/out")"
fi
check "cmkd --check accepts the test's cmktab" "$CMKD" --check --config "$TAB"

# Boot with the vault down: cmkd waits, then opens once the vault answers.
"$VAULT" stop "$VDIR" >/dev/null 2>&1
cmkd_start
sleep 4
st=$(vol_field state)
if [ "$st" = opening ] && ! dmsetup info "$NAME" >/dev/null 2>&1; then
	ok "vault down at start: volume waits in state opening ($(vol_field reason))"
else
	not_ok "vault down at start: volume waits in state opening" "state=$st" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
"$VAULT" serve "$VDIR" >/dev/null 2>>"$CMK_TMP/vault.err"
t0=$(now)
if wait_state available $((RETRY_MAX * 2 + 10)); then
	ok "vault up: volume available $(awk -v s="$t0" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }') s later (retry-max ${RETRY_MAX} s)"
else
	not_ok "vault up: volume available" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
diag "cmkd's log of the start:"
sed 's/^/#   /' "$CMK_TMP/cmkd.log"
CMK_DEVS+=("$NAME")

node=$(dm_node "$NAME")
if mkfs.ext4 -q "$node" && mount "$node" "$MNT" &&
	for i in 1 2 3 4; do head -c $((i * 300000)) /dev/urandom >"$MNT/f$i"; done &&
	head -c 4M /dev/urandom >"$MNT/io.dat" &&
	(cd "$MNT" && sha256sum f1 f2 f3 f4 io.dat) >"$CMK_TMP/sums" && sync; then
	ok "ext4 on the volume, files written"
else
	not_ok "ext4 on the volume, files written"
fi
# The volume's UUID: its DEK keys are "cmk:<uuid>:<i>".
VUUID=$(vol_field uuid)
lk=$(dmsetup table "$NAME" | grep -o 'lease [^ ]*')
if [ -n "$lk" ] && [ "$(vol_field lease_expires)" != "" ] &&
	[ "${#VUUID}" = 36 ]; then
	ok "table names a lease key ($lk), status shows its expiry and the volume's UUID"
else
	not_ok "table names a lease key, status shows its expiry" "$(dmsetup table "$NAME")"
fi

# Non-root clients are refused by the control socket.
if command -v setpriv >/dev/null; then
	chmod 755 "$CMK_TMP"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$CMKCTL" revalidate "$NAME" --socket "$SOCK" 2>&1)
	rc=$?
	chmod 700 "$CMK_TMP"
	if [ "$rc" != 0 ] && [ "$(vol_field state)" = available ]; then
		ok "control socket refuses a non-root client ($out)"
	else
		not_ok "control socket refuses a non-root client" "rc=$rc" "$out"
	fi
else
	skip "control socket refuses a non-root client" "no setpriv"
fi

# A root client trickling requests one byte every 1.5 s, reconnecting each
# time it is dropped, for three leases: every connection has 2 s for its
# request, so the main loop renews the lease all along and I/O goes on.
TRICKLE='
import socket, sys, time
end = time.monotonic() + float(sys.argv[2])
drops = 0
while time.monotonic() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    try:
        while time.monotonic() < end:
            s.send(b"s")
            s.settimeout(1.5)
            try:
                if s.recv(100) == b"":
                    drops += 1
                    break
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        drops += 1
    s.close()
print(drops)
'
start_reader
drops=$("$PY" -I -c "$TRICKLE" "$SOCK" $((3 * LEASE)) 2>&1)
kst=$(dmsetup status "$NAME" | awk '{ print $4 }')
if kill -0 "$READER" 2>/dev/null && [ "$(vol_field state)" = available ] &&
	[ "$kst" = available ] && [ "$drops" -ge 3 ] 2>/dev/null; then
	ok "a client trickling requests for $((3 * LEASE)) s (3 leases): dropped $drops times, lease kept, I/O went on"
else
	not_ok "a client trickling requests for $((3 * LEASE)) s: lease kept" "drops=$drops" \
		"kernel state=$kst" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
kill "$READER" 2>/dev/null
wait "$READER" 2>/dev/null
READER=''

# One ambiguous failure (C_Decrypt CKR_GENERAL_ERROR once): confirmed on a
# fresh session before it counts, so no teardown; the audit log shows it.
start_reader
echo "C_Decrypt 0x5 1" >"$CMK_SHIM_CONTROL"
sleep $((2 * POLL + 2))
if kill -0 "$READER" 2>/dev/null && [ "$(vol_field state)" = available ] &&
	grep -q "^C_Decrypt 0x5" "$CMK_SHIM_CONTROL.log" 2>/dev/null &&
	grep -q '"op":"unwrap-attempt".*"result":"transient"' "$AUDIT" &&
	! grep -q inaccessible "$ALERTS" 2>/dev/null; then
	ok "C_Decrypt CKR_GENERAL_ERROR once: retried, volume stays available, the attempt audited"
else
	not_ok "C_Decrypt CKR_GENERAL_ERROR once: no teardown" "state=$(vol_field state)" \
		"$(cat "$CMK_SHIM_CONTROL.log" 2>&1)" "$(grep unwrap "$AUDIT" | tail -3)" \
		"$(tail -5 "$CMK_TMP/cmkd.log")"
fi
rm -f "$CMK_SHIM_CONTROL"
kill "$READER" 2>/dev/null
wait "$READER" 2>/dev/null
READER=''

# A vault outage shorter than the grace: degraded at most, no teardown.
# (Away from the stop to the end of serve: 2 s plus a second or two for
# the commands under TCG; the first failed check may start up to a poll
# interval after the stop.)
start_reader
t0=$(now)
"$VAULT" stop "$VDIR" >/dev/null 2>>"$CMK_TMP/vault.err"
t1=$(now)
sleep 1
"$VAULT" serve "$VDIR" >/dev/null 2>>"$CMK_TMP/vault.err"
t2=$(now)
away=$(awk -v s="$t0" -v e="$t2" 'BEGIN { printf "%.1f", e - s }')
sleep $((POLL + 2))
if kill -0 "$READER" 2>/dev/null && [ "$(vol_field state)" = available ] &&
	! grep -q inaccessible "$ALERTS" 2>/dev/null; then
	ok "vault away ${away} s (< grace ${GRACE} s): I/O goes on, volume stays available"
else
	not_ok "vault away ${away} s (< grace ${GRACE} s): no teardown" "state=$(vol_field state)" \
		"stop took $(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", e - s }') s" \
		"$(cat "$CMK_TMP/vault.err")" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
kill "$READER" 2>/dev/null
wait "$READER" 2>/dev/null
READER=''

# --- each cause ---------------------------------------------------------------
for c in $CAUSES; do
	limit=$(limit_of "$c")
	: >"$ALERTS"
	amark=$(($(wc -l <"$AUDIT") + 1))
	start_reader
	# The cause has taken effect when its command returns; one that
	# failed (a vault that could not stop) fails the point it decides.
	cause_err=""
	out=$(cause "$c" 2>&1) || cause_err="the cause failed: ${out:-no message}"
	t0=$(now)
	if ! reader_stopped "$t0"; then
		not_ok "$c: first EIO after the cause (limit ${limit} s)" "$cause_err" "$(tail -3 "$CMK_TMP/fio.out")"
	elif [ -n "$cause_err" ]; then
		not_ok "$c: first EIO ${DT} s after the cause (limit ${limit} s)" "$cause_err"
	elif elapsed_le 0 "$DT" "$limit"; then
		ok "$c: first EIO ${DT} s after the cause (limit ${limit} s)"
	else
		not_ok "$c: first EIO ${DT} s after the cause (limit ${limit} s)" "$(tail -3 "$CMK_TMP/fio.out")"
	fi
	if [ "$c" = cmkd-kill ]; then
		# Nobody to ask: the kernel lapsed the lease by itself.
		r=$(dmsetup status "$NAME" | awk '{ print $4, $9 }')
		if [ "${r% *}" = inaccessible ]; then
			ok "$c: the kernel took the volume offline by itself ($r)"
		else
			not_ok "$c: the kernel took the volume offline by itself" "$(dmsetup status "$NAME")"
		fi
		blk=$(dmsetup info -c --noheadings -o blkdevname "$NAME")
		undo "$c"
		wait_state available 60
		if [ "$(dmsetup info -c --noheadings -o blkdevname "$NAME")" = "$blk" ] &&
			grep -q "available: reloaded" "$CMK_TMP/cmkd.log"; then
			ok "$c: restarted cmkd reloaded the same device ($blk) with a new lease"
		else
			not_ok "$c: restarted cmkd reloaded the same device" "$(tail -5 "$CMK_TMP/cmkd.log")"
		fi
	else
		[ "$c" = cmkd-stop ] && undo "$c"
		if wait_state inaccessible 10 &&
			[ "$(vol_field class)" = "$(class_of "$c")" ]; then
			ok "$c: cmkd reports inaccessible, class $(class_of "$c"): $(vol_field reason)"
		else
			not_ok "$c: cmkd reports inaccessible, class $(class_of "$c")" "state=$(vol_field state) class=$(vol_field class)" "$(tail -5 "$CMK_TMP/cmkd.log")"
		fi
		sleep 0.5
		if grep -q "^inaccessible|$NAME|inaccessible|" "$ALERTS" 2>/dev/null; then
			ok "$c: alert hook ran: $(grep -m1 '^inaccessible' "$ALERTS")"
		else
			not_ok "$c: alert hook ran" "$(cat "$ALERTS" 2>/dev/null)"
		fi
	fi
	# No DEK is left in any keyring we can see, and none in the target.
	if grep -q "logon.*cmk:$VUUID:" /proc/keys; then
		not_ok "$c: no DEK key left in any keyring" "$(grep "cmk:$VUUID:" /proc/keys)"
	elif [ "$(vol_field state)" != available ] &&
		dmsetup status "$NAME" >/dev/null 2>&1 &&
		[ "$(cmk_field "$NAME" 3)" != 0 ]; then
		not_ok "$c: no DEK key left in the target" "$(dmsetup status "$NAME")"
	else
		ok "$c: no DEK left in a keyring or in the target"
	fi
	if [ "$c" = cmkd-kill ]; then
		# cmkd restarted: it reloaded the mapping with a new lease.
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
		if [ "$(vol_field state)" = available ]; then
			ok "$c: restarted cmkd brought the volume back"
		else
			not_ok "$c: restarted cmkd brought the volume back" "$(tail -5 "$CMK_TMP/cmkd.log")"
		fi
		if dmsetup table "$NAME" | grep -q "lease cmk:lease:" &&
			[ "$(cmk_field "$NAME" 1)" = available ]; then
			ok "$c: the kernel serves the reloaded table"
		else
			not_ok "$c: the kernel serves the reloaded table" "$(dmsetup status "$NAME")"
		fi
	else
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
		settle
		sleep 0.5
		if ! dmsetup info "$NAME" >/dev/null 2>&1; then
			ok "$c: mapping removed once unmounted (deferred removal)"
		else
			not_ok "$c: mapping removed once unmounted" "$(dmsetup info "$NAME")"
		fi
		urc=0
		[ "$c" = cmkd-stop ] || undo "$c" >/dev/null 2>>"$CMK_TMP/vault.err" || urc=$?
		out=$("$CMKCTL" revalidate "$NAME" --socket "$SOCK" 2>&1)
		rc=$?
		if [ "$urc" != 0 ]; then
			not_ok "$c: undone, cmkctl revalidate" "undoing $c failed (exit $urc)" "$(tail -3 "$CMK_TMP/vault.err")"
		elif [ "$rc" = 0 ] && [ "$(vol_field state)" = available ]; then
			ok "$c: undone, cmkctl revalidate: $out"
		else
			not_ok "$c: undone, cmkctl revalidate" "rc=$rc" "$out" "$(tail -5 "$CMK_TMP/cmkd.log")"
		fi
	fi
	if mount_and_check >"$CMK_TMP/check.out" 2>&1; then
		ok "$c: every file written before the cause is intact"
	else
		not_ok "$c: every file written before the cause is intact" "$(cat "$CMK_TMP/check.out")"
	fi
	tail -n +"$amark" "$AUDIT" >"$CMK_TMP/audit.cause"
	if [ "$c" = cmkd-kill ]; then
		if grep -q '"op":"activate".*"result":"ok"' "$CMK_TMP/audit.cause"; then
			ok "$c: audit log has the restarted cmkd's activate"
		else
			not_ok "$c: audit log has the restarted cmkd's activate" "$(tail -3 "$CMK_TMP/audit.cause")"
		fi
	elif grep -q '"op":"teardown"' "$CMK_TMP/audit.cause" &&
		grep -q '"op":"revalidate"' "$CMK_TMP/audit.cause"; then
		ok "$c: audit log has the teardown and the revalidate"
	else
		not_ok "$c: audit log has the teardown and the revalidate" "$(tail -3 "$CMK_TMP/audit.cause")"
	fi
done

# The hooks inherit nothing of cmkd's signal handling (its signalfd blocks
# SIGTERM, SIGINT, SIGHUP and SIGCHLD): none blocked, none ignored.  Signals
# 32 and 33 are glibc's own (thread cancellation, setxid): no program can
# change them, and an ignored state inherited from the guest's init stays.
sig_clean() {
	local f v
	[ -s "$1" ] || return 1
	while read -r f v; do
		[ $((0x$v & ~0x180000000)) = 0 ] || return 1
	done <"$1"
}
if sig_clean "$CMK_TMP/alert.sig"; then
	ok "alert hooks start with no signal blocked or ignored ($(grep -c Blk "$CMK_TMP/alert.sig") runs)"
else
	not_ok "alert hooks start with no signal blocked or ignored" "$(sort -u "$CMK_TMP/alert.sig" 2>/dev/null)"
fi

# --- two volumes, one KEK; auto-revalidate --------------------------------------
# cmkd restarted with a second volume under the same KEK, both with
# auto-revalidate: one KEK check per interval serves both; once the KEK is
# usable again, both come back by themselves.
umount "$MNT"
kill "$CMKD_PID"
wait "$CMKD_PID"
NAMEB=${NAME}b
DEVB=$(new_loop 40)
"$CMKCTL" format "$DEVB" --kek "$CMK_KEK_URI_REMOTE" -e 16M >/dev/null 2>>"$CMK_TMP/vault.err"
sed -i "s/retry-max=${RETRY_MAX}s,/retry-max=${RETRY_MAX}s,auto-revalidate,/" "$TAB"
sed -n "s|^$NAME $DEV |$NAMEB $DEVB |p" "$TAB" >>"$TAB.b" && cat "$TAB.b" >>"$TAB"
CMK_DEVS+=("$NAMEB")
cmkd_start
wait_state available 60
for _ in $(seq 120); do
	"$CMKCTL" status "$NAMEB" --json --socket "$SOCK" 2>/dev/null | grep -q '"cmkd":{[^}]*"state":"available"' && break
	sleep 0.5
done
amark=$(($(wc -l <"$AUDIT") + 1))
sleep $((POLL * 4))
checks=$(tail -n +"$amark" "$AUDIT" | grep -c '"op":"unwrap"')
if [ "$(vol_field state)" = available ] && [ "$checks" -ge 2 ] &&
	[ "$checks" -le 5 ]; then
	ok "two volumes, one KEK: $checks vault checks in $((POLL * 4)) s (poll ${POLL} s: shared, not one per volume)"
else
	not_ok "two volumes, one KEK: one check per interval" "checks=$checks in $((POLL * 4)) s" "$(tail -n +"$amark" "$AUDIT" | head -12)"
fi
"$VAULT" kek "$VDIR" disable >/dev/null 2>>"$CMK_TMP/vault.err"
wait_state inaccessible $((KEK_LIMIT + 10))
settle
"$VAULT" kek "$VDIR" enable >/dev/null 2>>"$CMK_TMP/vault.err"
t0=$(now)
if wait_state available 60 && mount_and_check >"$CMK_TMP/check.out" 2>&1 &&
	"$CMKCTL" status "$NAMEB" --json --socket "$SOCK" 2>/dev/null | grep -q '"cmkd":{[^}]*"state":"available"'; then
	ok "auto-revalidate: both volumes available again $(awk -v s="$t0" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }') s after the KEK was enabled, files intact"
else
	not_ok "auto-revalidate: both available again once the KEK is enabled" "state=$(vol_field state)" "$(cat "$CMK_TMP/check.out")" "$(tail -5 "$CMK_TMP/cmkd.log")"
fi
"$CMKCTL" close "$NAMEB" --socket "$SOCK" >/dev/null 2>&1

# --- status, close, stop ------------------------------------------------------
"$CMKCTL" status --socket "$SOCK" >"$CMK_TMP/out" 2>&1
if grep -q "^$NAME .*available" "$CMK_TMP/out"; then
	ok "cmkctl status lists cmkd's volume"
else
	not_ok "cmkctl status lists cmkd's volume" "$(cat "$CMK_TMP/out")"
fi
"$CMKCTL" status "$NAME" --socket "$SOCK" >"$CMK_TMP/out" 2>&1
if grep -q '^cmkd state *available' "$CMK_TMP/out" && grep -q '^KEK last ok' "$CMK_TMP/out" &&
	grep -q '^lease until' "$CMK_TMP/out" && grep -q '"op":' "$CMK_TMP/out"; then
	ok "cmkctl status NAME: state, last KEK check, lease, audit records"
else
	not_ok "cmkctl status NAME: state, last KEK check, lease, audit records" "$(cat "$CMK_TMP/out")"
fi
umount "$MNT"
out=$("$CMKCTL" close "$NAME" --socket "$SOCK" 2>&1)
rc=$?
sleep $((POLL + 1))
if [ "$rc" = 0 ] && ! dmsetup info "$NAME" >/dev/null 2>&1 &&
	[ "$(vol_field state)" = closed ]; then
	ok "cmkctl close through cmkd: removed, and cmkd leaves it closed"
else
	not_ok "cmkctl close through cmkd" "rc=$rc" "$out" "state=$(vol_field state)"
fi
kill "$CMKD_PID"
wait "$CMKD_PID"
rc=$?
CMKD_PID=''
if [ "$rc" = 0 ] && [ ! -e "$SOCK" ]; then
	ok "cmkd stops on SIGTERM with exit 0 and removes its socket"
else
	not_ok "cmkd stops on SIGTERM" "rc=$rc"
fi

# No key bytes in anything cmkd wrote.
if grep -qiE 'pin-value|[0-9a-f]{64}' "$CMK_TMP/cmkd.log" "$AUDIT" "$ALERTS" 2>/dev/null; then
	not_ok "no key material or PIN in cmkd's log, audit or alerts"
else
	ok "no key material or PIN in cmkd's log, audit or alerts"
fi
if grep -qE 'error|warning' "$CMK_TMP/cmkd.log"; then
	diag "cmkd log (warnings and errors):"
	grep -E 'error|warning' "$CMK_TMP/cmkd.log" | tail -20 | sed 's/^/# /'
fi
if grep -q '"op":"unwrap"' "$AUDIT"; then
	diag "vault unwrap calls (KEK checks and opens): $(grep '"op":"unwrap"' "$AUDIT" | grep -o '"ms":[0-9.]*' |
		cut -d: -f2 | sort -n | awk '{ a[NR] = $1 } END { printf "%d, median %.1f ms, max %.1f ms", NR, a[int((NR + 1) / 2)], a[NR] }')"
fi
# On failure, the daemon's whole story.
if [ "$_tap_fail" != 0 ]; then
	diag "cmkd log:"
	sed 's/^/#   /' "$CMK_TMP/cmkd.log"
fi
tap_done
