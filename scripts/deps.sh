#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install every Debian package that dm-cmk's build, tests, demo and
# benchmarks need.  Idempotent: packages already present are skipped and
# apt is not touched at all when nothing is missing.
#
#   scripts/deps.sh          install what is missing
#   scripts/deps.sh --list   print the list, one package a line
#
# Every program that a script, test, demo or benchmark runs must come from
# one of these packages or from a minimal Debian 12 (debootstrap
# --variant=minbase): lint checks it (scripts/deps-check.py), and
# scripts/fresh-machine.sh runs the suite on such a machine.
set -eu

PKGS="
build-essential make gcc bc flex bison libelf-dev kmod xz-utils zstd cpio
linux-image-amd64 linux-headers-amd64
linux-image-6.12-amd64 linux-headers-6.12-amd64
linux-source-6.1
qemu-system-x86 qemu-utils busybox-static
dmsetup libdevmapper-dev keyutils libkeyutils-dev
softhsm2 opensc p11-kit p11-kit-modules libp11-kit-dev
fio cryptsetup-bin openssl libssl-dev linux-perf
clang libclang-rt-dev gdb strace
sparse perl python3 python3-docutils python3-matplotlib shfmt
util-linux e2fsprogs procps udev systemd man-db groff-base
git debootstrap
"

if [ "${1:-}" = --list ]; then
	printf '%s\n' $PKGS
	exit 0
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root to install them" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
