#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cmkd_syscalls_test: every system call cmkd makes is one its unit's
# seccomp filter allows.  TAP; exit 0 pass, 1 fail, 4 skip.
#
# userspace/cmkd/cmkd.service restricts cmkd with SystemCallFilter= (an
# allow list and deny lists of systemd's groups): a call outside it fails
# with EPERM at boot, where no test of this repository runs systemd.  So
# cmkd runs here under strace through what it does (reads cmktab, opens a
# volume: header, PKCS#11 module, unwrap, lease key in its keyring; the
# control socket: status, revalidate, close; an alert hook run for a
# volume whose module does not load; SIGTERM), and the calls it and the
# hook made are checked against the filter, expanded by systemd-analyze.

# Conditions are single-quoted and eval'd by check().
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKD=${CMKD:-$ROOT/build/userspace/cmkd}
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
UNIT=${CMKD_UNIT:-$ROOT/userspace/cmkd/cmkd.service}
PY=/usr/bin/python3
STRACE=/usr/bin/strace

echo "TAP version 13"
# shellcheck source=tests/host/vault.sh
. "$(dirname "$(readlink -f "$0")")/vault.sh"
need_built "$CMKD" "$CMKCTL"
need_installed /usr/lib/softhsm/libsofthsm2.so /usr/bin/softhsm2-util \
	/usr/bin/pkcs11-tool "$PY" "$STRACE" /usr/bin/systemd-analyze

T=$(mktemp -d /tmp/cmkd_syscalls_test.XXXXXX) || exit 1
CMKD_PID=
STRACE_PID=
cleanup() {
	[ -n "$CMKD_PID" ] && kill "$CMKD_PID" 2>/dev/null
	[ -n "$STRACE_PID" ] && wait "$STRACE_PID"
	rm -rf "$T"
}
trap cleanup EXIT
umask 077

PLAN=4

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"

# The unit's filter, as the set of calls it allows.
"$PY" - "$UNIT" >"$T/allowed" 2>"$T/err" <<'EOF'
import re, subprocess, sys

def expand(name, seen):
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if word and not word.startswith("#"):
            calls |= expand(word, seen)
    return calls

allow, deny = None, set()
for line in open(sys.argv[1]):
    m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
    if not m:
        continue
    names = set()
    for w in m.group(2).split():
        names |= expand(w, set())
    if m.group(1):
        deny |= names
    else:
        allow = names if allow is None else allow | names
if allow is None:
    sys.exit("no SystemCallFilter= allow list in the unit")
print("\n".join(sorted(allow - deny)))
EOF
check "the unit's SystemCallFilter= expands to an allow list" \
	'[ -s "$T/allowed" ] && grep -qx ioctl "$T/allowed" && ! grep -qx setuid "$T/allowed"'

make_volume
printf '#!/bin/sh\necho "$CMK_EVENT $CMK_VOLUME" >>%s\n' "$T/alerts" >"$T/alert"
chmod 700 "$T/alert"
{
	printf 'vol %s - pin-file=%s,poll=1s,retry-max=1s,alert=%s\n' \
		"$T/d" "$T/v/pin" "$T/alert"
	printf 'broken %s - pin-file=%s,module=/nonexistent/module.so,alert=%s\n' \
		"$T/d2" "$T/v/pin" "$T/alert"
} >"$T/cmktab"
cp "$T/d" "$T/d2"

"$STRACE" -f -qq -o "$T/trace" "$CMKD" --foreground --config "$T/cmktab" \
	--socket "$T/sock" --audit-log "$T/audit.log" 2>"$T/cmkd.log" &
STRACE_PID=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && [ -s "$T/alerts" ] && break; sleep 0.1; done
# cmkd is strace's child: signals go to it, not to strace.
CMKD_PID=$(pgrep -P "$STRACE_PID" -x cmkd)
sleep 3		# a few open attempts and KEK checks
"$CMKCTL" status --socket "$T/sock" --json >/dev/null 2>&1
"$CMKCTL" revalidate vol --socket "$T/sock" --timeout 10 >/dev/null 2>&1
"$CMKCTL" close vol --socket "$T/sock" >/dev/null 2>&1
kill "$CMKD_PID"
CMKD_PID=
wait "$STRACE_PID"
rc=$?
check "cmkd ran its course under strace: unwraps audited, the alert hook ran, exit 0 on SIGTERM (strace passes cmkd's status on)" \
	'[ $rc = 0 ] && grep -q "\"op\":\"unwrap\"" "$T/audit.log" && grep -q "^inaccessible broken" "$T/alerts"' \
	"$(tail -3 "$T/cmkd.log")"

sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$T/trace" | sort -u >"$T/used"
check "strace saw the calls (openat, ioctl or keyctl, execve among them)" \
	'grep -qx openat "$T/used" && grep -qx execve "$T/used" && grep -Eqx "keyctl|add_key" "$T/used"'
comm -23 "$T/used" "$T/allowed" >"$T/outside"
check "every call cmkd and its alert hook made is in the unit's filter ($(wc -l <"$T/used") calls)" \
	'[ ! -s "$T/outside" ]' "outside the filter: $(tr '\n' ' ' <"$T/outside")"

tap_end
