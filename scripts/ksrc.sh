#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ksrc.sh OUTDIR: extract from Debian's linux-source tarball the files the
# build borrows from the kernel tree (checkpatch and its data files, the
# kselftest headers) into OUTDIR, once.  Nothing of it is committed.
set -eu

out=${1:?usage: $0 OUTDIR}
stamp=$out/.extracted
# Bump when the list below changes, so older extractions are refreshed.
version=2
[ "$(cat "$stamp" 2>/dev/null)" = "$version" ] && exit 0

tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)
if [ -z "$tarball" ]; then
	echo "error: no /usr/src/linux-source-*.tar.xz; run scripts/deps.sh" >&2
	exit 1
fi
top=$(basename "$tarball" .tar.xz)

mkdir -p "$out"
tar -xJf "$tarball" -C "$out" --strip-components=1 \
	"$top/scripts/checkpatch.pl" \
	"$top/scripts/kernel-doc" \
	"$top/scripts/spelling.txt" \
	"$top/scripts/const_structs.checkpatch" \
	"$top/tools/testing/selftests/kselftest.h" \
	"$top/tools/testing/selftests/kselftest_harness.h"
echo "$version" >"$stamp"
