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
echo "1..$(($(wc -w <<<"$kvers") * 2 + $(wc -w <<<"$files")))"

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

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
