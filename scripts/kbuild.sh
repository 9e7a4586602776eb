#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kbuild.sh KVER [make arguments...]: build dm-cmk.ko for kernel KVER in
# build/kernel/KVER (sources are symlinked so that builds for several
# kernels never share object files).  Extra arguments go to kbuild, e.g.
# W=1 or C=1.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 KVER [make args]" >&2; exit 2; }
kver=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
kdir=${KDIR:-/lib/modules/$kver/build}
out=$src/build/kernel/$kver

if [ ! -e "$kdir/Makefile" ]; then
	echo "error: no kernel build tree for $kver at $kdir" >&2
	echo "error: install linux-headers-$kver (scripts/deps.sh)" >&2
	exit 1
fi

mkdir -p "$out/kernel"
ln -sf "$src/Kbuild" "$out/Kbuild"
for f in "$src"/kernel/*.c; do
	ln -sf "$f" "$out/kernel/$(basename "$f")"
done

exec make -C "$kdir" M="$out" CMK_SRCDIR="$src" "$@" modules
