#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The admin guide's examples, run as a reader would paste them: every
# literal block of its "Examples" section, in order, in one bash.  A
# "# <output>" line after a command is the output the guide promises; each
# is a test point (lease seconds and device numbers may differ).

. "$(dirname "$0")/lib.sh"

DOC=$CMK_REPO/Documentation/admin-guide/device-mapper/dm-cmk.rst
[ -r "$DOC" ] || { echo "1..0 # SKIP no $DOC"; exit 4; }
for f in /tmp/cmk.img /root/cmk-keys; do
	[ -e "$f" ] && { echo "1..0 # SKIP $f exists"; exit 4; }
done

script=$CMK_TMP/examples.sh
results=$CMK_TMP/results

# Literal blocks: the indented lines after a paragraph ending in "::",
# from "Examples" up to the next section.
awk '
	/^Examples$/ { in_ex = 1; next }
	in_ex && /^Known limits$/ { exit }
	!in_ex { next }
	/::$/ { blk = 1; next }
	blk && /^$/ { next }
	blk && /^  / { print substr($0, 3); next }
	blk { blk = 0 }
' "$DOC" >"$CMK_TMP/blocks"

# Turn "cmd" + "# expected" into a captured command and checks.
{
	echo "exec 3>\"$results\""
	echo '__expect() {'
	echo '	local want=$1 got=$(printf "%s\n" "$__out" | head -n 1)'
	echo '	local norm="s/ [0-9]+:[0-9]+ / M:m /; / cmk (available|inaccessible) /s/^(([^ ]+ ){6})[0-9]+ /\1L /"'
	echo '	want=$(sed -E "$norm" <<<"$want"); got=$(sed -E "$norm" <<<"$got")'
	echo '	if [ "$want" = "$got" ]; then echo "ok|$want" >&3'
	echo '	else echo "fail|$want|$got" >&3; fi'
	echo '}'
	awk '
		{ line[NR] = $0 }
		END {
			for (i = 1; i <= NR; i++) {
				if (line[i] ~ /^# / && i > 1) continue
				if (i < NR && line[i + 1] ~ /^# / && line[i] !~ /\\$/) {
					printf "__out=$( { %s ; } 2>&1 ); printf \"%%s\\n\" \"$__out\"\n", line[i]
					for (j = i + 1; j <= NR && line[j] ~ /^# /; j++) {
						e = substr(line[j], 3)
						gsub(/\047/, "\047\\\047\047", e)
						printf "__expect \047%s\047\n", e
					}
				} else {
					print line[i]
				}
			}
		}
	' "$CMK_TMP/blocks"
} >"$script"

nexp=$(grep -c '^__expect ' "$script")
tap_plan $((nexp + 2))
if [ "$nexp" -lt 5 ]; then
	diag "only $nexp expected outputs found in $DOC"
fi

out=$(cd "$CMK_TMP" && timeout 300 bash "$script" 2>&1)
rc=$?

while IFS='|' read -r res want got; do
	if [ "$res" = ok ]; then
		ok "documented output: $want"
	else
		not_ok "documented output: $want" "got: $got"
	fi
done <"$results"
for ((i = $(wc -l <"$results"); i < nexp; i++)); do
	not_ok "documented output not reached"
done

bad=$(grep -E 'command not found|syntax error|No such file|Usage:|usage:' <<<"$out")
if [ -z "$bad" ]; then
	ok "examples ran without shell or usage errors"
else
	not_ok "examples ran without shell or usage errors" "$bad"
fi
if [ $rc = 0 ]; then
	ok "examples' last command (clean up) succeeded"
else
	not_ok "examples' last command (clean up) succeeded" "exit $rc" "$(tail -n 5 <<<"$out")"
fi

# Whatever the examples left behind.
dmsetup remove vol1-recovery >/dev/null 2>&1
dmsetup remove vol1-x2 >/dev/null 2>&1
dmsetup remove vol1 >/dev/null 2>&1
rm -rf /tmp/cmk.img /root/cmk-keys
tap_done
