#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# shell.sh [-k KVER] [-r] [-n] [-s SIZE] [-D DIR] [-t TIMEOUT_S]
#
# A root shell in a QEMU guest with dm-cmk loaded and a disk to encrypt,
# for trying cmkctl by hand (README.md, "Try it by hand").  As root on a
# fresh Debian 12 machine: installs what is missing (scripts/deps.sh),
# builds (make -s all), and boots the newest installed kernel on this
# terminal (tests/vm/run-vm.sh -i) into tests/vm/guest-shell.sh.
#
# State kept across runs in DIR (default build/shell):
#   DIR/disk.img  a sparse raw image of SIZE (default 256M): /dev/vda
#   DIR/vault     the vault directory for cmk-vault-softhsm ($CMK_VAULT_DIR
#                 in the guest; created there by "cmk-vault-softhsm create")
# DIR is also run-vm.sh's results directory (console.log, dmesg.txt, rc),
# read-write in the guest at the same path.
#
#   -k KVER  kernel to boot (default: the newest, scripts/kvers.sh)
#   -r       recreate: delete DIR/disk.img and DIR/vault first
#   -n       no deps.sh and no make (already built)
#   -s SIZE  size of a new disk image (truncate(1) syntax)
#   -t SECS  time limit for the guest (default: none)
#
# Quit with exit or Ctrl-D in the guest (or Ctrl-A x, which kills it).
# With stdin not a terminal, the guest's bash runs the script read from
# stdin and this exits with its status (tests/vm/quickstart.sh does so).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	sed -n '4p' "$0" | sed 's/^# /usage: /' >&2
	exit 2
}

kver='' recreate=0 build=1 size=256M dir='' tmo=''
while getopts k:rns:D:t:h opt; do
	case $opt in
	k) kver=$OPTARG ;;
	r) recreate=1 ;;
	n) build=0 ;;
	s) size=$OPTARG ;;
	D) dir=$OPTARG ;;
	t) tmo=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 0 ] || usage
case ${dir:=$repo/build/shell} in
/*) ;;
*) dir=$PWD/$dir ;;
esac
# The vault's path goes into pkcs11: URIs (cmk-vault-softhsm's rule).
if [[ ! $dir =~ ^[A-Za-z0-9/._-]+$ ]]; then
	echo "shell: $dir: use only A-Z a-z 0-9 / . _ - (the vault's URIs name it; -D)" >&2
	exit 2
fi
cd "$repo"

if [ "$build" = 1 ]; then
	scripts/deps.sh >&2
	make -s all >&2
fi
kver=${kver:-$(scripts/kvers.sh all | tail -n 1)}
for f in "build/kernel/$kver/dm-cmk.ko" build/userspace/cmkctl; do
	if [ ! -e "$f" ]; then
		echo "shell: $f missing: run make -s all (or drop -n)" >&2
		exit 1
	fi
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
img=$dir/disk.img
if [ "$recreate" = 1 ]; then
	rm -rf "$img" "$dir/vault"
fi
if [ ! -e "$img" ]; then
	truncate -s "$size" "$img"
	echo "shell: new empty disk image $img ($size, sparse)" >&2
else
	echo "shell: disk image $img (kept; -r starts over)" >&2
fi

args=(-i -d "$img" -k "$kver" -o "$dir")
[ -n "$tmo" ] && args+=(-t "$tmo")
exec tests/vm/run-vm.sh "${args[@]}" -- tests/vm/guest-shell.sh "$dir/vault"
