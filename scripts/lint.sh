#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# lint.sh: kernel code must build without warnings under W=1 and sparse for
# every installed kernel, and pass checkpatch --strict.  TAP output, one
# test point per check; exit 1 when any fails.
set -u
cd "$(dirname "$0")/.." || exit 1

scripts/ksrc.sh build/ksrc || exit 1
kvers=$(scripts/kvers.sh all)
files=$(ls kernel/*.[ch] include/*.h)
docs=$(find Documentation -name '*.rst' | sort)
mans=$(ls Documentation/man/*.[0-9])
units=$(ls userspace/*/*.service)

n=0
failed=0
point() {	# point OK|FAIL DESC [DETAIL]
	n=$((n + 1))
	if [ "$1" = OK ]; then
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && sed 's/^/# /' <<<"$3"
	fi
}

echo "TAP version 13"
echo "1..$(($(wc -w <<<"$kvers") * 2 + $(wc -w <<<"$files") + $(wc -w <<<"$docs") + $(wc -w <<<"$mans") + $(wc -w <<<"$units") + 2))"

for k in $kvers; do
	rm -rf "build/kernel/$k"
	log=$(scripts/kbuild.sh "$k" W=1 2>&1)
	rc=$?
	warn=$(grep -E 'warning:|error:' <<<"$log")
	if [ $rc = 0 ] && [ -z "$warn" ]; then
		point OK "$k: W=1 build without warnings"
	else
		point FAIL "$k: W=1 build without warnings" "$warn"
	fi
	log=$(scripts/kbuild.sh "$k" C=2 W=1 2>&1)
	rc=$?
	warn=$(grep -E 'warning:|error:' <<<"$log")
	if [ $rc = 0 ] && [ -z "$warn" ] && grep -q CHECK <<<"$log"; then
		point OK "$k: sparse clean"
	else
		point FAIL "$k: sparse clean" "${warn:-sparse did not run}"
	fi
done

for f in $files; do
	log=$(perl build/ksrc/scripts/checkpatch.pl --strict --no-tree \
		--show-types --quiet -f "$f" 2>&1)
	if [ -z "$log" ]; then
		point OK "checkpatch --strict $f"
	else
		point FAIL "checkpatch --strict $f" "$log"
	fi
done

# kernel-doc: the comments parse, and every non-static kernel function has
# one ("name() - ..." in the file or the private header).
log=$(perl build/ksrc/scripts/kernel-doc -none kernel/*.c kernel/*.h 2>&1)
for f in kernel/*.c; do
	for fn in $(grep -E '^[a-z][a-z0-9_ *]*[ *](cmk_|dm_cmk_)[a-z0-9_]+\(' "$f" |
		    grep -v '^static' | sed -E 's/^.*[ *]((cmk_|dm_cmk_)[a-z0-9_]+)\(.*/\1/'); do
		grep -q " \* $fn() - " "$f" kernel/dm-cmk.h ||
			log="$log
$f: $fn() has no kernel-doc comment"
	done
done
if [ -z "$log" ]; then
	point OK "kernel-doc on every non-static function, comments parse"
else
	point FAIL "kernel-doc on every non-static function, comments parse" "$log"
fi

# reStructuredText must parse without a warning (Debian's docutils, which
# lives under /usr/bin/python3).
for f in $docs; do
	log=$(/usr/bin/python3 - "$f" 2>&1 <<'PY'
import sys
import docutils.core
docutils.core.publish_doctree(open(sys.argv[1]).read(), source_path=sys.argv[1],
	settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": sys.stdout})
PY
)
	if [ -z "$log" ]; then
		point OK "rst parses cleanly: $f"
	else
		point FAIL "rst parses cleanly: $f" "$log"
	fi
done

# Man pages: no groff warnings.
for f in $mans; do
	log=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	if [ -z "$log" ]; then
		point OK "man page renders without warnings: $f"
	else
		point FAIL "man page renders without warnings: $f" "$log"
	fi
done

# systemd units: systemd-analyze verify, with the programs (not installed
# here, maybe not built yet) replaced by /bin/true and man pages not looked
# up: the unit's syntax, dependencies and sandboxing options are checked.
for f in $units; do
	tmpd=$(mktemp -d)
	sed "s|/usr/sbin/[a-z]*|/bin/true|" "$f" >"$tmpd/$(basename "$f")"
	log=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		"$tmpd/$(basename "$f")" 2>&1)
	rm -rf "$tmpd"
	if [ -z "$log" ]; then
		point OK "systemd-analyze verify: $f"
	else
		point FAIL "systemd-analyze verify: $f" "$log"
	fi
done

# Every program a script, test, demo or benchmark runs comes from a package
# that scripts/deps.sh installs (or from a minimal Debian 12): what this
# machine has by chance is not on a fresh one (scripts/deps-check.py).
log=$(scripts/deps-check.py 2>&1)
if [ $? = 0 ]; then
	point OK "scripts/deps.sh installs every program the scripts run (${log##*deps-check: })"
else
	point FAIL "scripts/deps.sh installs every program the scripts run" "$log"
fi

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
