#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fresh-machine.sh: run the README's test command the way a new user meets
# it.  A minimal Debian 12 root (debootstrap --variant=minbase bookworm,
# cached), with only git and make installed in it, gets a fresh clone of
# this repository, and "CI=true bash .ci/run" runs inside it as root with
# the host's /proc, /sys and /dev bind-mounted and a clean environment.
# Everything else the suite needs must come from the project's own files
# (scripts/deps.sh): a missing install step fails here, where it would
# pass on a developer's machine.
#
#   scripts/fresh-machine.sh [options]
#     --rev REV         commit to clone (default HEAD of this repository;
#                       uncommitted changes are not part of it, as in CI)
#     --work DIR        where the root is made (default /var/tmp/cmk-fresh)
#     --cache DIR       the cached minbase root (default /var/cache/cmk-fresh)
#     --refresh         make the cached minbase root anew
#     --keep            leave the root in DIR/root after the run
#     --prepare         only make the cached minbase root, run nothing
#     --shell           a shell in the prepared root instead of the suite
#
# Not part of .ci/run: it takes as long as the suite plus the package
# installs.  Run it before resolving an issue that adds a dependency.
#
# The log of the run is kept in DIR/run-YYYYmmdd-HHMMSS.log (DIR is --work)
# and the last line printed is the suite's closing line ("N passed,
# N failed, N skipped"), or a line saying why there is none.  The Debian
# archive is the one the host's apt uses (/etc/apt/sources.list{,.d}).
#
# Exit codes: the suite's (0 all passed), 1 a failure of this script
# itself, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
SUITE=bookworm
work=/var/tmp/cmk-fresh
cache=/var/cache/cmk-fresh
rev=HEAD
refresh=0
keep=0
mode=run

usage() {
	sed -n 's/^#   //p' "$0" >&2
	exit 2
}

die() {
	echo "fresh-machine: $*" >&2
	exit 1
}

log() {
	echo "fresh-machine: $*" >&2
}

while [ $# -gt 0 ]; do
	case $1 in
	--rev) rev=${2:?}; shift 2 ;;
	--work) work=${2:?}; shift 2 ;;
	--cache) cache=${2:?}; shift 2 ;;
	--refresh) refresh=1; shift ;;
	--keep) keep=1; shift ;;
	--prepare) mode=prepare; shift ;;
	--shell) mode=shell; shift ;;
	-h|--help) usage ;;
	*) usage ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, bind mounts)"
commit=$(git -C "$ROOT" rev-parse --verify "$rev^{commit}") ||
	die "$rev: not a commit of $ROOT"

# The archive the host's apt uses: the first "deb" URI for $SUITE, from
# one-line (.list) or deb822 (.sources) files.  Not hard-coded, so that a
# machine with a local mirror uses it.
host_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" } {
			t = ""; u = ""; ok = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) t = 1
				if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); u = a[2] }
				if ($i ~ /^Suites:/) { n = split($i, a, /[ \t]+/); for (j = 2; j <= n; j++) if (a[j] == s) ok = 1 }
				if ($i ~ /^Enabled:[ \t]*no/) t = ""
			}
			if (t && ok && u != "") { print u; exit }
		}' "$f"
	done
}

# Mounts at or below $1, deepest first.
mounts_under() {
	awk -v p="$1" '{ if ($5 == p || index($5, p "/") == 1) print $5 }' /proc/self/mountinfo |
		sort -r
}

umount_all() {
	local r=$1 m
	for m in $(mounts_under "$r"); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	[ -z "$(mounts_under "$r")" ]
}

# Remove a root only once nothing is mounted inside it: with the host's
# /dev bound into it, rm -rf would empty the host's /dev.
remove_root() {
	local r=$1
	[ -e "$r" ] || return 0
	umount_all "$r" || die "$r: still mounted ($(mounts_under "$r" | head -n 3 | tr '\n' ' ')); not removed"
	rm -rf --one-file-system "$r"
}

kill_chroot_procs() {
	local r=$1 p link pids=""
	for p in /proc/[0-9]*; do
		link=$(readlink "$p/root" 2>/dev/null) || continue
		case $link in "$r"|"$r"/*) pids="$pids ${p#/proc/}" ;; esac
	done
	[ -n "$pids" ] || return 0
	log "stopping processes left in the root:$pids"
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL $pids 2>/dev/null || true
	sleep 1
}

make_base() {
	local mirror tmp
	mirror=$(host_mirror | head -n 1)
	[ -n "$mirror" ] || die "no 'deb' source for $SUITE in the host's apt configuration"
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap on the host"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2 ||
			{ apt-get update -q >&2 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2; } ||
			die "cannot install debootstrap"
	fi
	mkdir -p "$cache"
	tmp=$cache/root.new
	remove_root "$tmp"
	log "debootstrap --variant=minbase $SUITE from the host's archive (a few minutes)"
	debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
	# The host's apt sources (updates and security carry the kernels) and
	# nothing else of the host's.
	rm -f "$tmp/etc/apt/sources.list"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		cp "$f" "$tmp$f"
	done
	dpkg-query --admindir="$tmp/var/lib/dpkg" -W -f '${Package}\n' | sort >"$cache/minbase-packages.txt"
	tar -C "$tmp" --numeric-owner -cf "$cache/root.tar.new" .
	mv -f "$cache/root.tar.new" "$cache/root.tar"
	remove_root "$tmp"
	log "cached $cache/root.tar ($(wc -l <"$cache/minbase-packages.txt") packages)"
}

if [ "$refresh" = 1 ] || [ ! -s "$cache/root.tar" ]; then
	make_base
fi
[ "$mode" = prepare ] && { log "minbase root cached in $cache/root.tar"; exit 0; }

mkdir -p "$work"
work=$(cd "$work" && pwd)
r=$work/root
remove_root "$r"
mkdir -p "$r"
tar -C "$r" --numeric-owner -xf "$cache/root.tar"
cp -L /etc/resolv.conf "$r/etc/resolv.conf"

cleanup() {
	kill_chroot_procs "$r"
	umount_all "$r" || log "$r: could not unmount everything"
	if [ "$keep" = 0 ]; then
		remove_root "$r"
	else
		log "root kept in $r"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount --rbind /proc "$r/proc"
mount --make-rslave "$r/proc"
mount --rbind /sys "$r/sys"
mount --make-rslave "$r/sys"
mount --rbind /dev "$r/dev"
mount --make-rslave "$r/dev"
# The origin repository, read-only, to clone from.
mkdir -p "$r/mnt/origin"
mount --bind "$ROOT" "$r/mnt/origin"
mount -o remount,bind,ro "$r/mnt/origin"

in_root() {
	chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

stamp=$(date +%Y%m%d-%H%M%S)
runlog=$work/run-$stamp.log
log "root in $r; log in $runlog; commit $commit"
# What a new user does: git and make (no recommends), then a clone.
prepare_root() {
	echo "# fresh-machine: commit $commit, minbase $SUITE + git make"
	in_root sh -c 'export DEBIAN_FRONTEND=noninteractive
		apt-get update -q &&
		apt-get install -y -q --no-install-recommends git make' || return 1
	in_root git -c safe.directory='*' clone -q /mnt/origin /root/dm-cmk || return 1
	in_root git -C /root/dm-cmk checkout -q "$commit" || return 1
	echo "# fresh-machine: packages before the suite: $(in_root dpkg-query -W -f '.\n' | wc -l)"
}
prepare_root >"$runlog" 2>&1 ||
	{ tail -n 20 "$runlog" >&2; die "preparing the root failed (log: $runlog)"; }
umount "$r/mnt/origin"

if [ "$mode" = shell ]; then
	log "a shell in the root (exit to clean up): cd /root/dm-cmk"
	in_root bash -l </dev/tty >/dev/tty 2>&1 || true
	exit 0
fi

start=$(date +%s)
set +e
in_root CI=true bash -c 'cd /root/dm-cmk && bash .ci/run' </dev/null 2>&1 |
	tee -a "$runlog"
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)
echo "# fresh-machine: .ci/run exited $rc after $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s;" \
	"packages after: $(in_root dpkg-query -W -f '.\n' | wc -l)" | tee -a "$runlog"
# Keep the suite's results next to the log.
if [ -d "$r/root/dm-cmk/build/results" ]; then
	rm -rf "$work/results-$stamp"
	cp -a "$r/root/dm-cmk/build/results" "$work/results-$stamp"
fi
closing=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$runlog" | tail -n 1)
echo "log: $runlog"
echo "${closing:-fresh-machine: the suite printed no closing line (exit $rc)}"
exit "$rc"
