#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deps_check_test: scripts/deps-check.py, the lint check that every program
# the project's scripts run comes from a package scripts/deps.sh installs.
# Scripts written here call pgrep (package procps) in every way the check
# must see through (wrappers, sh -c, command substitutions, find -exec,
# Python's subprocess, a C argument vector); with procps taken out of the
# package list each must fail the check, naming the program, the package
# and the line, and with the real list pass; so must the literal blocks of
# a guide's "Examples" section.  TAP output; exit 0 pass,
# 1 fail, 4 skip (shfmt or dpkg missing: not a Debian machine).
#
# shellcheck disable=SC2016 # conditions are eval'd by check()
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CHECK=$ROOT/scripts/deps-check.py

echo "TAP version 13"
for need in shfmt dpkg-query pgrep; do
	if ! command -v "$need" >/dev/null; then
		echo "1..0 # SKIP $need not installed (scripts/deps.sh)"
		exit 4
	fi
done

T=$(mktemp -d /tmp/deps_check_test.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan 18

all=$("$ROOT/scripts/deps.sh" --list | tr '\n' ' ')
noprocps=$("$ROOT/scripts/deps.sh" --list | grep -vx procps | tr '\n' ' ')
rc=0
# dc PACKAGES ARGS...: run the check with that package list.
dc() {
	local pk=$1
	shift
	"$CHECK" --packages "$pk" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
# missing FILE LINE: the check failed and named pgrep, procps and FILE:LINE.
missing() {
	[ "$rc" = 1 ] &&
	grep -Eq "program pgrep: from package procps, which scripts/deps.sh does not install \\(.*$1:$2" "$T/out"
}

mkdir -p "$T/s"
# script NAME BODY: a shell script with a bash "#!" line.
script() {
	printf '#!/bin/bash\n%s\n' "$2" >"$T/s/$1"
}

script plain.sh 'workers=$(pgrep -P 1)'
dc "$noprocps" "$T/s/plain.sh"
check "a script calling pgrep fails without procps in the list" 'missing plain.sh 2'
dc "$all" "$T/s/plain.sh"
check "... and passes with the real list" '[ $rc = 0 ] && grep -q "0 not installed" "$T/out"'

script timeout.sh 'timeout -k 1 5 pgrep -x init'
dc "$noprocps" "$T/s/timeout.sh"
check "behind timeout -k 1 5" 'missing timeout.sh 2'

script env.sh 'env -u LANG A=1 nice -n 5 pgrep -x init'
dc "$noprocps" "$T/s/env.sh"
check "behind env VAR=... and nice -n" 'missing env.sh 2'

script shc.sh "sh -c 'echo start; pgrep -x init'"
dc "$noprocps" "$T/s/shc.sh"
check "inside sh -c '...'" 'missing shc.sh 2'

script pipe.sh 'if true; then
	ls /proc | xargs -n 1 pgrep -P >/dev/null
fi'
dc "$noprocps" "$T/s/pipe.sh"
check "behind xargs -n 1, in a pipeline inside if" 'missing pipe.sh 3'

script find.sh 'find /proc -maxdepth 0 -exec pgrep -x {} \;'
dc "$noprocps" "$T/s/find.sh"
check "find -exec" 'missing find.sh 2'

script var.sh 'PG=pgrep
"$PG" -x init
f() { "${PG}" -P "$1"; }'
dc "$noprocps" "$T/s/var.sh"
check "through a variable assigned one literal value" 'missing var.sh 3'

script arr.sh 'cmd=(pgrep -x init)
"${cmd[@]}"'
dc "$noprocps" "$T/s/arr.sh"
check 'through an array run as "${cmd[@]}"' 'missing arr.sh 3'

script default.sh 'p=${PGREP:-pgrep}
"$p" -x init'
dc "$noprocps" "$T/s/default.sh"
check 'through ${VAR:-default}' 'missing default.sh 3'

printf 'import subprocess\nsubprocess.run(["pgrep", "-x", "init"])\n' >"$T/s/prog.py"
dc "$noprocps" "$T/s/prog.py"
check "Python: subprocess.run([\"pgrep\", ...])" 'missing prog.py 2'

printf 'static int run(char *const argv[]);\nint f(void)\n{\n\tchar *pg[] = { "pgrep", "-x", "init", NULL };\n\treturn run(pg);\n}\n' >"$T/s/prog.c"
dc "$noprocps" "$T/s/prog.c"
check "C: an argument vector handed to run()" 'missing prog.c 4'

script own.sh 'pgrep() { echo "my own"; }
pgrep -P 1
read -r x </dev/null
printf "%s\n" "$x"'
dc "$noprocps" "$T/s/own.sh"
check "a function of the script's own and builtins are not programs" \
	'[ $rc = 0 ] && ! grep -q pgrep "$T/out"'

script nowhere.sh 'cmk-no-such-program --help'
dc "$all" "$T/s/nowhere.sh"
check "a program installed nowhere fails, naming it" \
	'[ $rc = 1 ] && grep -q "program cmk-no-such-program: not installed on this machine at all (.*nowhere.sh:2)" "$T/out"'

printf 'import json\nimport cmk_no_such_module\n' >"$T/s/mod.py"
dc "$all" "$T/s/mod.py"
check "a Python module outside the standard library and Debian fails" \
	'[ $rc = 1 ] && grep -q "python module cmk_no_such_module: not installed" "$T/out" &&
	 ! grep -q "module json" "$T/out"'

printf 'Title\n=====\n\nExamples\n========\n\nRun::\n\n  echo start\n  pgrep -x init\n\nLater\n=====\n\nNot run::\n\n  cmk-no-such-program\n' >"$T/s/guide.rst"
dc "$noprocps" "$T/s/guide.rst"
check "the documentation's Examples blocks (doc_examples.sh runs them), only those" \
	'missing "guide.rst \\(Examples\\)" 10 && ! grep -q cmk-no-such-program "$T/out"'

printf '#!/bin/bash\nif then\n' >"$T/s/broken.sh"
dc "$all" "$T/s/broken.sh"
check "a script that does not parse fails the check" \
	'[ $rc = 1 ] && grep -q "broken.sh: shfmt" "$T/out"'

"$CHECK" --no-such-option >"$T/out" 2>"$T/err"
rc=$?
check "an unknown option is a usage error (exit 2)" '[ $rc = 2 ]'

tap_end
