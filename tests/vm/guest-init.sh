#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Stage 2 of the test guest, PID 1 in the overlay root (host / + tmpfs).
# Reads RESULTS/cmd (a shell script) and RESULTS/cwd written by run-vm.sh,
# runs the command with output to RESULTS/guest.out, writes RESULTS/rc and
# RESULTS/dmesg.txt, then powers off.  The console is kept for the kernel.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
umask 022

say() { echo "cmkvm: $*" >/dev/console; }

off() {
	sync
	busybox poweroff -f 2>/dev/null
	echo o >/proc/sysrq-trigger
	while :; do sleep 1000; done
}

# mnt TYPE DIR [OPTIONS]: mount unless DIR is a mount point already.
mnt() {
	mkdir -p "$2"
	mountpoint -q "$2" && return 0
	mount -t "$1" -o "${3:-defaults}" "$1" "$2"
}

# /proc first, unconditionally: until then /proc is the host's, via 9p.
mount -t proc -o nosuid,nodev,noexec proc /proc
mnt sysfs /sys nosuid,nodev,noexec
mnt devtmpfs /dev mode=0755,nosuid
mnt devpts /dev/pts gid=5,mode=620,ptmxmode=666
mnt tmpfs /dev/shm mode=1777,nosuid,nodev
mnt tmpfs /run mode=0755,nosuid,nodev
mnt tmpfs /tmp mode=1777,nosuid,nodev
[ -d /sys/kernel/debug ] && mnt debugfs /sys/kernel/debug
[ -d /sys/kernel/config ] && mnt configfs /sys/kernel/config
[ -d /sys/kernel/tracing ] && mnt tracefs /sys/kernel/tracing
[ -d /sys/fs/cgroup ] && mnt cgroup2 /sys/fs/cgroup
mkdir -p /run/lock /var/tmp

results=
for a in $(cat /proc/cmdline); do
	case $a in cmkvm.results=*) results=${a#*=} ;; esac
done
[ -n "$results" ] && [ -f "$results/cmd" ] || { say "no command"; off; }
cwd=$(cat "$results/cwd" 2>/dev/null || echo /)

hostname cmk-vm
ip link set lo up 2>/dev/null || busybox ifconfig lo 127.0.0.1 up
w() { [ -w "$1" ] && echo "$2" >"$1"; }
w /proc/sys/kernel/hung_task_timeout_secs 30
w /proc/sys/kernel/panic_on_oops 0
w /proc/sys/kernel/sysrq 1

# udev, so that dmsetup gets its /dev/mapper nodes the usual way.
udevd=
for f in /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd; do
	[ -x "$f" ] && udevd=$f && break
done
if [ -n "$udevd" ]; then
	if "$udevd" --daemon --resolve-names=never >/dev/null 2>&1; then
		udevadm trigger --action=add >/dev/null 2>&1
		udevadm settle --timeout=60 >/dev/null 2>&1 ||
			say "udevadm settle timed out"
	else
		say "systemd-udevd did not start"
	fi
else
	say "no systemd-udevd: /dev/mapper nodes need 'dmsetup mknodes'"
fi

say "running command (cwd $cwd)"
start=$(cut -d' ' -f1 /proc/uptime)
cd "$cwd" && sh "$results/cmd" </dev/null >"$results/guest.out" 2>&1
rc=$?
cd /
udevadm settle --timeout=10 >/dev/null 2>&1
dmesg >"$results/dmesg.txt" 2>&1
echo "$rc" >"$results/rc"
say "command exited $rc after $(awk -v s="$start" '{ printf "%.1f", $1 - s }' /proc/uptime) s (uptime $(cut -d' ' -f1 /proc/uptime) s)"
off
