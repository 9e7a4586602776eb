#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# check-log.sh [-a ALLOW_ERE] LOGFILE...
#
# Scan guest kernel logs (serial console, dmesg) for signs of kernel
# trouble: oops, BUG, WARNING, panic, GPF, KASAN/UBSAN/kmemleak reports,
# hung tasks, RCU stalls, lockups, stack traces.  Prints the offending
# lines as FILE:LINE:TEXT and exits 1; exits 0 when clean.  Lines that
# match ALLOW_ERE (or $CMK_LOG_ALLOW) are ignored, for tests that provoke
# a report on purpose.
set -eu

allow=${CMK_LOG_ALLOW:-}
while getopts a: opt; do
	case $opt in
	a) allow=$OPTARG ;;
	*) echo "usage: $0 [-a ALLOW_ERE] LOGFILE..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-a ALLOW_ERE] LOGFILE..." >&2; exit 2; }

# Extended regexps, one per line.  Each is specific enough not to match a
# clean boot of Debian's 6.1 and 6.12 kernels under QEMU (checked).
BAD='(^|[] :])BUG:
(^|[] :])WARNING:
(^|[] :])Oops[:[ -]
-+\[ cut here \]-+
Kernel panic
general protection fault
KASAN:
UBSAN:
INFO: task .* blocked for more than
hung_task
Call Trace:
kernel BUG at
suspected memory leak
RCU stall
rcu_.* stall
detected stalls? on CPU
soft lockup
hard LOCKUP
list_(add|del) corruption
stack-protector:
double fault
Unable to handle kernel
Attempted to kill init
refcount_t:
DEBUG_LOCKS_WARN_ON'

# The kernel echoes its command line, which may name anything.
CMDLINE='^[0-9]+:(\[[ 0-9.]+\] )?(Kernel )?[Cc]ommand line: '

rc=0
for f in "$@"; do
	[ -r "$f" ] || { echo "check-log: cannot read $f" >&2; rc=1; continue; }
	hits=$(grep -naE -e "$BAD" "$f" | grep -vE -e "$CMDLINE" |
		{ if [ -n "$allow" ]; then grep -vE -e "$allow"; else cat; fi; } ||
		true)
	if [ -n "$hits" ]; then
		echo "check-log: problems in $f:"
		printf '%s\n' "$hits" | sed "s|^|$f:|" | head -n 200
		rc=1
	fi
done
[ $rc = 0 ] && echo "check-log: clean: $*"
exit $rc
