# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP helpers for the host-side shell tests, sourced after $T (the test's
# temporary directory) is set: a command's output goes to $T/out and
# $T/err, and a failing test point shows both.
#
#   tap_plan N           "1..N"
#   ok DESC / notok DESC / skip DESC WHY
#   check DESC COND [NOTE]  a test point from a shell condition (eval'd);
#                        NOTE is printed as a diagnostic when it fails
#   diag TEXT            a "# " line
#   out_has RE / err_has RE   grep -E in $T/out / $T/err
#   tap_end              "# planned N, ran M" on a mismatch; exits 0 or 1

# The host's volume records (cmk-pin.c) of what the test formats and opens
# go to the test's directory, never to /var/lib/cmk.
export CMK_STATE_DIR=${CMK_STATE_DIR:-$T/state}

n=0
failed=0
_tap_plan=0

tap_plan() {
	_tap_plan=$1
	echo "1..$1"
}

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

notok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
	[ -s "$T/out" ] && sed 's/^/# out: /' "$T/out" | head -20
	[ -s "$T/err" ] && sed 's/^/# err: /' "$T/err" | head -20
	return 0
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

check() {
	if eval "$2"; then
		ok "$1"
	else
		notok "$1"
		[ -n "${3:-}" ] && echo "# $3"
	fi
	return 0
}

diag() { echo "# $*"; }
out_has() { grep -Eq -- "$1" "$T/out"; }
err_has() { grep -Eq -- "$1" "$T/err"; }

tap_end() {
	[ "$n" = "$_tap_plan" ] || { echo "# planned $_tap_plan tests, ran $n"; failed=1; }
	exit $failed
}
