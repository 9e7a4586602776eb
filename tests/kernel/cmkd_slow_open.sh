#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Header I/O never delays KEK checks or lease renewals (issue 13, item 3):
# cmkd manages two volumes with lease=6s, A on a loop device and B behind
# dm-delay.  B is closed, its device made to answer every I/O 12 s late,
# and revalidated: cmkd's open worker waits on B's header, and udev on
# B's new mapping (it probes it), for over three of A's leases, while the
# main loop renews A's lease and the check worker checks its KEK, and
# direct reads of A go on.  Then the delay is lifted and B comes back.

# shellcheck disable=SC2034

. "$(dirname "$0")/lib.sh"

CMKCTL=$CMK_REPO/build/userspace/cmkctl
CMKD=$CMK_REPO/build/userspace/cmkd
VAULT=$CMK_REPO/scripts/cmk-vault-softhsm
A=cmksoa$CMK_TAG
B=cmksob$CMK_TAG
SLOW=cmksodly$CMK_TAG
SOCK=$CMK_TMP/cmkd.sock
TAB=$CMK_TMP/cmktab
VDIR=$CMK_TMP/vault
LEASE=6
export PATH=$PATH:/sbin:/usr/sbin

tap_plan 10

if [ ! -x "$CMKD" ] || [ ! -x "$CMKCTL" ] ||
	[ ! -e /usr/lib/softhsm/libsofthsm2.so ] || ! command -v fio >/dev/null; then
	for _ in $(seq 10); do skip "cmkd_slow_open" "cmkd, cmkctl, SoftHSM2 or fio missing"; done
	exit 0
fi

CMKD_PID='' READER='' REVAL=''
cleanup() {
	[ -n "$READER" ] && kill "$READER" 2>/dev/null
	# Lift the delay first, so that nothing waits 12 s per I/O on the way out.
	dmsetup info "$SLOW" >/dev/null 2>&1 && set_delay 0
	[ -n "$REVAL" ] && wait "$REVAL" 2>/dev/null
	if [ -n "$CMKD_PID" ]; then
		kill "$CMKD_PID" 2>/dev/null
		wait "$CMKD_PID" 2>/dev/null
	fi
	"$VAULT" stop "$VDIR" >/dev/null 2>&1
	cmk_cleanup
}
trap cleanup EXIT

# state NAME: cmkd's state of a volume, asked on the control socket ("" if
# cmkd does not answer).  Not cmkctl status, which reads the header too:
# B's takes minutes while its device is slow.
STATE_PY='
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"status\n")
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
for v in json.loads(data)["volumes"]:
    if v["name"] == sys.argv[2]:
        print(v["state"])
'
state() {
	/usr/bin/python3 -I -c "$STATE_PY" "$SOCK" "$1" 2>/dev/null
}

# wait_state NAME STATE SECS
wait_state() {
	local i
	for ((i = 0; i < $3 * 4; i++)); do
		[ "$(state "$1")" = "$2" ] && return 0
		sleep 0.25
	done
	return 1
}

# set_delay MS: dm-delay in front of B's device, MS late for every I/O.
# Without udev sync: udev probes the device after a resume, and with the
# delay each of its reads takes that long.
set_delay() {
	dmsetup suspend --noudevsync "$SLOW" &&
		dmsetup reload "$SLOW" --table "0 $SZB delay $DEVB 0 $1" &&
		dmsetup resume --noudevsync "$SLOW"
}

# --- setup ------------------------------------------------------------------
vault_serve "$VDIR"
DEVA=$(new_loop 48)
DEVB=$(new_loop 48)
SZB=$(blockdev --getsz "$DEVB")
check "setup: two volumes formatted" eval \
	"'$CMKCTL' format '$DEVA' --kek '$CMK_KEK_URI_REMOTE' -e 16M >/dev/null &&
	 '$CMKCTL' format '$DEVB' --kek '$CMK_KEK_URI_REMOTE' -e 16M >/dev/null"
if dmsetup create "$SLOW" --table "0 $SZB delay $DEVB 0 0" && settle; then
	CMK_DEVS+=("$SLOW")
	ok "setup: dm-delay in front of B"
else
	not_ok "setup: dm-delay in front of B"
fi
opts="module=p11-kit-client,pin-file=$VDIR/pin,poll=2s,lease=${LEASE}s,grace=15s"
(
	umask 077
	printf '%s %s - %s\n%s %s - %s\n' "$A" "$DEVA" "$opts" \
		"$B" "$(dm_node "$SLOW")" "$opts" >"$TAB"
)

"$CMKD" --foreground --config "$TAB" --socket "$SOCK" \
	--audit-log "$CMK_TMP/audit.log" >>"$CMK_TMP/cmkd.log" 2>&1 &
CMKD_PID=$!
if wait_state "$A" available 60 && wait_state "$B" available 60; then
	CMK_DEVS+=("$A" "$B")
	ok "cmkd opened both volumes"
else
	not_ok "cmkd opened both volumes" "A: $(state "$A"), B: $(state "$B")" \
		"$(tail -n 5 "$CMK_TMP/cmkd.log")"
fi
check "cmkctl close B" "$CMKCTL" close "$B" --socket "$SOCK"
# Nothing of B's device in the page cache: its header is read from it.
check "B's device answers 12 s late" eval \
	"blockdev --flushbufs '$(dm_node "$SLOW")' && set_delay 12000"

fio --name=probe --filename="$(dm_node "$A")" --rw=randread --bs=4k \
	--direct=1 --ioengine=psync --time_based --runtime=60 \
	>"$CMK_TMP/fio.out" 2>&1 &
READER=$!
checks0=$(wc -l <"$CMK_TMP/audit.log")
t0=$(now)
{
	"$CMKCTL" revalidate "$B" --socket "$SOCK" >"$CMK_TMP/reval.out" 2>&1
	rc=$?
	now >"$CMK_TMP/reval.end"
	exit $rc
} &
REVAL=$!
sleep $((3 * LEASE + 2))
sta=$(state "$A") stb=$(state "$B")
kst=$(dmsetup status "$A" | awk '{ print $4 }')
# B's open waits on its header before any vault call: what the vault did
# meanwhile is A's KEK checks (poll=2s).
checks=$(($(wc -l <"$CMK_TMP/audit.log") - checks0))
if [ "$sta" = available ] && [ "$kst" = available ] &&
	kill -0 "$READER" 2>/dev/null && [ "$checks" -ge 3 ]; then
	ok "A available for $((3 * LEASE + 2)) s (3 leases) while B's header read waits; reads of A went on; $checks vault operations (A's KEK checks) audited meanwhile"
else
	not_ok "A available for 3 leases while B's header read waits" \
		"cmkd: $sta, kernel: $kst, audited: $checks, reader: $(kill -0 "$READER" 2>/dev/null && echo running || echo stopped)" \
		"$(tail -n 8 "$CMK_TMP/cmkd.log")"
fi
if [ -s "$CMK_TMP/reval.end" ]; then
	diag "B after $((3 * LEASE + 2)) s: ${stb:-?}; its revalidate was answered after $(awk -v s="$t0" -v e="$(cat "$CMK_TMP/reval.end")" 'BEGIN { printf "%.1f", e - s }') s (its device answers 12 s late)"
else
	diag "B after $((3 * LEASE + 2)) s: ${stb:-?}; its revalidate still waits"
fi
kill "$READER" 2>/dev/null
wait "$READER" 2>/dev/null
READER=''

check "delay lifted" set_delay 0
if wait "$REVAL" && wait_state "$B" available 60; then
	ok "B back: revalidate answered, state available"
else
	not_ok "B back: revalidate answered, state available" "B: $(state "$B")" \
		"$(cat "$CMK_TMP/reval.out")" "$(tail -n 5 "$CMK_TMP/cmkd.log")"
fi
REVAL=''
kmsg_clean_ok
tap_done
