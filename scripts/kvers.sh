#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kvers.sh [default|all]: installed kernels dm-cmk can be built for and
# booted (a build tree and a /boot/vmlinuz-* image), oldest first.
# "default" prints one: the running kernel if it qualifies, else the newest.
set -eu

list() {
	for d in /lib/modules/*/build; do
		[ -e "$d/Makefile" ] || continue
		k=${d#/lib/modules/}
		k=${k%/build}
		echo "$k"
	done | sort -V
}

case "${1:-all}" in
all)
	list
	;;
default)
	run=$(uname -r)
	if [ -e "/lib/modules/$run/build/Makefile" ]; then
		echo "$run"
	else
		list | tail -n 1
	fi
	;;
*)
	echo "usage: $0 [default|all]" >&2
	exit 2
	;;
esac
