#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Stage 2 of the test guest, PID 1 in the overlay root (host / + tmpfs).
# Reads RESULTS/cmd (a shell script) and RESULTS/cwd written by run-vm.sh,
# runs the command with output to RESULTS/guest.out, writes RESULTS/rc and
# RESULTS/dmesg.txt, then powers off.  The console is kept for the kernel.
#
# Kernel arguments from run-vm.sh: cmkvm.disks=N loads virtio_blk (disks
# from -d); cmkvm.interactive=tty (run-vm.sh -i on a terminal) runs the
# command on the console instead, as a session leader with the console as
# its controlling terminal (job control, Ctrl-C), TERM=cmkvm.term and the
# size cmkvm.ttysize=ROWSxCOLS; cmkvm.interactive=stdin (-i with stdin
# not a terminal) the same, but with stdin from RESULTS/stdin.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
umask 022

# Setup uses the static busybox if there is one: each cold exec of a
# dynamic binary over 9p costs a second or two under TCG.
bb=''
command -v busybox >/dev/null && bb=busybox

uptime() { read -r up _ </proc/uptime && echo "$up"; }
say() { echo "cmkvm: [$(uptime)] $*" >/dev/console; }

off() {
	sync
	[ -n "$bb" ] && busybox poweroff -f
	echo o >/proc/sysrq-trigger
	while :; do sleep 1000; done
}

# mnt TYPE DIR [OPTIONS]: mount unless DIR is a mount point already.
mnt() {
	while read -r _ m _; do [ "$m" = "$2" ] && return 0; done </proc/mounts
	$bb mkdir -p "$2"
	$bb mount -t "$1" -o "${3:-defaults}" "$1" "$2"
}

# /proc first, unconditionally: until then /proc is the host's, via 9p.
$bb mount -t proc -o nosuid,nodev,noexec proc /proc
mnt sysfs /sys nosuid,nodev,noexec
mnt devtmpfs /dev mode=0755,nosuid
mnt devpts /dev/pts gid=5,mode=620,ptmxmode=666
mnt tmpfs /dev/shm mode=1777,nosuid,nodev
mnt tmpfs /run mode=0755,nosuid,nodev
# A repo or results directory under /tmp (a CI clone there, say) must stay
# visible: then /tmp stays the overlay's own, in RAM too, not a new tmpfs.
case " $0 $(cat /proc/cmdline)" in
*" /tmp/"* | *" cmkvm.results=/tmp/"*) ;;
*) mnt tmpfs /tmp mode=1777,nosuid,nodev ;;
esac
[ -d /sys/kernel/debug ] && mnt debugfs /sys/kernel/debug
[ -d /sys/kernel/config ] && mnt configfs /sys/kernel/config
[ -d /sys/kernel/tracing ] && mnt tracefs /sys/kernel/tracing
[ -d /sys/fs/cgroup ] && mnt cgroup2 /sys/fs/cgroup
$bb mkdir -p /run/lock /var/tmp

results='' interactive='' term=vt100 ttysize='' disks=''
# shellcheck disable=SC2013
for a in $(cat /proc/cmdline); do
	case $a in
	cmkvm.results=*) results=${a#*=} ;;
	cmkvm.interactive=*) interactive=${a#*=} ;;
	cmkvm.term=*) term=${a#*=} ;;
	cmkvm.ttysize=*) ttysize=${a#*=} ;;
	cmkvm.disks=*) disks=${a#*=} ;;
	esac
done
if [ -z "$results" ] || [ ! -f "$results/cmd" ]; then
	say "no command"
	off
fi
cwd=/
[ -f "$results/cwd" ] && read -r cwd <"$results/cwd"

$bb hostname cmk-vm
$bb ip link set lo up
w() { [ -w "$1" ] && echo "$2" >"$1"; }
w /proc/sys/kernel/hung_task_timeout_secs 30
w /proc/sys/kernel/panic_on_oops 0
w /proc/sys/kernel/sysrq 1

say "stage 2 up"
# Disks (run-vm.sh -d): the initramfs has no virtio_blk.
if [ -n "$disks" ]; then
	modprobe virtio_blk || say "cannot load virtio_blk"
fi
# udev, so that dmsetup gets its /dev/mapper nodes the usual way.
udevd=''
for f in /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd; do
	[ -x "$f" ] && udevd=$f && break
done
if [ -n "$udevd" ]; then
	if "$udevd" --daemon --resolve-names=never >/dev/null 2>&1; then
		say "udevd started"
		# Coldplug block and misc devices only: a full trigger loads
		# ~20 unneeded drivers over 9p (~45 s under TCG).  Devices
		# created later (dm, loop, brd) get their events anyway.
		# cmkvm.coldplug=all on the kernel command line: everything.
		if grep -qw cmkvm.coldplug=all /proc/cmdline; then
			udevadm trigger --action=add >/dev/null 2>&1
		else
			udevadm trigger --action=add --subsystem-match=block \
				--subsystem-match=misc >/dev/null 2>&1
		fi
		udevadm settle --timeout=60 >/dev/null 2>&1 ||
			say "udevadm settle timed out"
	else
		say "systemd-udevd did not start"
	fi
else
	say "no systemd-udevd: /dev/mapper nodes need 'dmsetup mknodes'"
fi

say "running command (cwd $cwd)"
start=$(uptime)
if [ -n "$interactive" ]; then
	# The console's real tty (ttyS0): /dev/console cannot become a
	# controlling terminal.
	tty=''
	if read -r c <"/sys/class/tty/console/active" 2>/dev/null; then
		tty=/dev/${c##* }
	fi
	[ -c "$tty" ] || tty=/dev/ttyS0
	export TERM="$term"
	if [ "$interactive" = stdin ]; then
		# Output for a pipe, not a terminal: no CR before each LF.
		stty -onlcr <"$tty" 2>/dev/null
		(cd "$cwd" && exec sh "$results/cmd") <"$results/stdin" >"$tty" 2>&1
	else
		case $ttysize in
		[1-9]*x[1-9]*)
			stty rows "${ttysize%x*}" cols "${ttysize#*x}" <"$tty" 2>/dev/null ;;
		esac
		# shellcheck disable=SC2094 # the terminal, read and written
		(cd "$cwd" && exec setsid -w -c sh "$results/cmd") <"$tty" >"$tty" 2>&1
	fi
	rc=$?
	export TERM=dumb
else
	cd "$cwd" && sh "$results/cmd" </dev/null >"$results/guest.out" 2>&1
	rc=$?
fi
cd /
udevadm settle --timeout=10 >/dev/null 2>&1
dmesg >"$results/dmesg.txt" 2>&1
echo "$rc" >"$results/rc"
end=$(uptime)
say "command exited $rc after $((${end%.*} - ${start%.*})) s"
off
