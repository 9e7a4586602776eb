#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vm.sh [-i] [-d IMAGE]... [-k KVER] [-o RESULTS_DIR] [-t TIMEOUT_S]
#           [-m MEM_MB] [-c CPUS] [-q QMP_SOCKET] -- COMMAND...
#
# Boot an installed Debian kernel in QEMU on the host's own userland (/ over
# 9p, read-only, under a tmpfs overlay) and run COMMAND as root in the
# guest, with cwd = this repo.  RESULTS_DIR (read-write in the guest, same
# path) gets console.log, guest.out, dmesg.txt, rc.
#
# -d IMAGE attaches a raw image file read-write as a virtio-blk disk: the
# first -d is /dev/vda in the guest, the second /dev/vdb, and so on.
#
# -q QMP_SOCKET: QEMU listens for QMP (its JSON control protocol) on that
# Unix socket path, without waiting for a client: a program on the host can
# then drive the running guest (tests/vm/memscan.py dumps its memory with
# dump-guest-memory).  The socket is created when QEMU starts and removed
# when run-vm.sh ends.
#
# -i: interactive.  The guest's serial console is on this terminal (QEMU's
# stdio, multiplexed with its monitor: Ctrl-A x kills the guest, Ctrl-A h
# lists the keys) and COMMAND runs on it, stdin, stdout and stderr, as a
# session leader with the console as its controlling terminal: job control
# and Ctrl-C work.  When stdin is not a terminal, it is read to its end
# first (RESULTS_DIR/stdin) and becomes COMMAND's stdin, so that a script
# can be piped in; its output still comes on stdout.  The kernel boots
# "quiet" (CMK_VM_APPEND=loglevel=7 shows everything), console.log is the
# whole session, and RESULTS_DIR/dmesg.txt and the kernel's lines of
# console.log (console.kmsg) are checked.  No time limit unless -t; the
# guest takes the terminal's size and, if terminfo knows it, its $TERM.
#
# Exit: COMMAND's exit code if the kernel logs are clean; 1 if check-log.sh
# found problems; 124 on timeout (guest killed); 125 if the guest never
# reported an exit code (crash, panic, QEMU failure); 2 on usage or setup
# errors.
#
# Environment: CMK_VM_KVM=0 never use KVM, =1 force KVM, unset: probe once
# (result cached per host kernel and KVER); CMK_VM_APPEND extra kernel
# arguments.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
	sed -n '4,5p' "$0" | sed 's/^# //' >&2
	exit 2
}

kver='' out='' tmo='' mem=2048 cpus=2 interactive=0 disks=() qmp=''
while getopts id:k:o:t:m:c:q:h opt; do
	case $opt in
	i) interactive=1 ;;
	d) disks+=("$OPTARG") ;;
	k) kver=$OPTARG ;;
	o) out=$OPTARG ;;
	t) tmo=$OPTARG ;;
	m) mem=$OPTARG ;;
	c) cpus=$OPTARG ;;
	q) qmp=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || usage
# No time limit on an interactive session unless asked for.
if [ -z "$tmo" ]; then
	tmo=900
	[ "$interactive" = 1 ] && tmo=0
fi

# Default kernel: the newest one with modules and a vmlinuz.
if [ -z "$kver" ]; then
	for d in $(printf '%s\n' /lib/modules/* | sort -rV); do
		d=${d##*/}
		[ -f "/boot/vmlinuz-$d" ] && kver=$d && break
	done
fi
kernel=/boot/vmlinuz-$kver
if [ -z "$kver" ] || [ ! -r "$kernel" ]; then
	echo "run-vm: no kernel $kernel" >&2
	exit 2
fi

# Initramfs, cached; rebuilt when the generator or modules are newer.
build=$repo/build/vm/$kver
initrd=$build/initramfs.cpio.gz
mkdir -p "$build"
if [ ! -f "$initrd" ] || [ "$here/mkinitramfs.sh" -nt "$initrd" ] ||
	[ "/lib/modules/$kver/modules.dep" -nt "$initrd" ]; then
	"$here/mkinitramfs.sh" "$kver" "$initrd" >&2 ||
		{ echo "run-vm: mkinitramfs.sh failed" >&2; exit 2; }
fi

out=${out:-$build/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The path goes on the kernel command line and into QEMU's option syntax.
case $out$here in
*[!A-Za-z0-9._/+-]*)
	echo "run-vm: paths must match [A-Za-z0-9._/+-]: $out $here" >&2
	exit 2 ;;
esac
for i in "${!disks[@]}"; do
	d=${disks[$i]}
	if [ ! -f "$d" ] || [ ! -w "$d" ]; then
		echo "run-vm: -d $d: not a writable image file" >&2
		exit 2
	fi
	d=$(cd "$(dirname "$d")" && pwd)/$(basename "$d")
	case $d in
	*[!A-Za-z0-9._/+-]*)
		echo "run-vm: paths must match [A-Za-z0-9._/+-]: $d" >&2
		exit 2 ;;
	esac
	disks[i]=$d
done
if [ -n "$qmp" ]; then
	if [ ! -d "$(dirname "$qmp")" ] || [ -e "$qmp" ]; then
		echo "run-vm: -q $qmp: its directory must exist and the path must be free" >&2
		exit 2
	fi
	qmp=$(cd "$(dirname "$qmp")" && pwd)/$(basename "$qmp")
	case $qmp in
	*[!A-Za-z0-9._/+-]*)
		echo "run-vm: paths must match [A-Za-z0-9._/+-]: $qmp" >&2
		exit 2 ;;
	esac
	# sockaddr_un holds 107 bytes and the NUL.
	if [ ${#qmp} -gt 107 ]; then
		echo "run-vm: -q $qmp: longer than a Unix socket path may be" >&2
		exit 2
	fi
fi
rm -f "$out"/{console.log,guest.out,dmesg.txt,rc,cmd,cwd,qemu.log}
rm -f "$out"/{stdin,console.kmsg}

# The command, as a shell script, so that any argument survives.
{
	printf 'exec'
	for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done
	printf '\n'
} >"$out/cmd"
echo "$repo" >"$out/cwd"

# Interactive: what the guest needs to know about this terminal.
extra=''
[ ${#disks[@]} -gt 0 ] && extra+=" cmkvm.disks=${#disks[@]}"
if [ "$interactive" = 1 ]; then
	if [ -t 0 ]; then
		extra+=" quiet cmkvm.interactive=tty"
		size=$(stty size 2>/dev/null || true)
		case $size in
		[1-9]*" "[1-9]*) extra+=" cmkvm.ttysize=${size% *}x${size#* }" ;;
		esac
	else
		extra+=" quiet cmkvm.interactive=stdin"
		cat >"$out/stdin"
	fi
	term=vt100
	case ${TERM:-} in
	'' | *[!A-Za-z0-9._+-]*) ;;
	*)
		for t in /etc/terminfo /lib/terminfo /usr/share/terminfo; do
			[ -e "$t/${TERM:0:1}/$TERM" ] && term=$TERM && break
		done ;;
	esac
	extra+=" cmkvm.term=$term"
fi

append="console=ttyS0,115200 panic=-1 cmkvm.results=$out$extra"
append+=" cmkvm.init=$here/guest-init.sh ${CMK_VM_APPEND:-}"

qemu=(qemu-system-x86_64 -nodefaults -display none -monitor none -nic none
	-no-reboot -machine q35 -m "$mem" -smp "$cpus" -kernel "$kernel"
	-initrd "$initrd")

# KVM only where it really boots a kernel (here it does not: TCG).
kvm_works() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	case ${CMK_VM_KVM:-} in 0) return 1 ;; 1) return 0 ;; esac
	local cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/cmk-vm
	local key
	key=$cache/kvm-$(uname -r)-$kver
	if [ ! -f "$key" ]; then
		mkdir -p "$cache" 2>/dev/null || return 1
		local log=$build/kvm-probe.log
		# A subshell that is not replaced by timeout: it, not we,
		# reports a QEMU that aborts (as it does here).
		(
			exec 2>/dev/null
			timeout -k 5 20 "${qemu[@]}" -accel kvm -cpu host -m 256 \
				-serial "file:$log" -append "console=ttyS0 panic=-1 cmkvm.probe" \
				</dev/null >/dev/null
			true
		)
		if grep -q cmkvm-probe-ok "$log" 2>/dev/null; then
			echo yes >"$key"
		else
			echo no >"$key"
		fi
	fi
	[ "$(cat "$key")" = yes ]
}
if kvm_works; then
	accel=(-accel kvm -cpu host)
else
	accel=(-accel 'tcg,thread=multi' -cpu max)
fi

if [ "$interactive" = 1 ]; then
	# The console on stdio, with a copy in console.log; Ctrl-C goes to
	# the guest (signal=off), Ctrl-A to QEMU's multiplexer.
	# shellcheck disable=SC2054 # commas inside QEMU's option strings
	serial=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$out/console.log"
		-serial chardev:con -mon chardev=con,mode=readline)
else
	serial=(-serial "file:$out/console.log")
fi
qemu+=("${accel[@]}" "${serial[@]}" -append "$append"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$out,mount_tag=results,security_model=none,multidevs=remap")
for i in "${!disks[@]}"; do
	qemu+=(-drive "file=${disks[$i]},format=raw,if=virtio,discard=unmap")
done
[ -n "$qmp" ] && qemu+=(-qmp "unix:$qmp,server=on,wait=off")

if [ "$interactive" = 1 ]; then
	limit="no time limit"
	[ "$tmo" != 0 ] && limit="timeout ${tmo}s"
	echo "run-vm: $kver, ${accel[1]}, ${mem} MiB, $cpus CPUs, $limit, interactive (Ctrl-A x kills the guest): $*" >&2
else
	echo "run-vm: $kver, ${accel[1]}, ${mem} MiB, $cpus CPUs, timeout ${tmo}s: $*" >&2
fi
start=$SECONDS
qrc=0
if [ "$interactive" = 1 ]; then
	# QEMU must stay in the terminal's foreground process group (no
	# plain timeout, which leaves it) and gives the terminal back as it
	# was, even if killed.
	tty_saved=''
	in=/dev/null
	if [ -t 0 ]; then
		tty_saved=$(stty -g 2>/dev/null || true)
		in=/dev/stdin
	fi
	if [ "$tmo" = 0 ]; then
		"${qemu[@]}" <"$in" 2>"$out/qemu.log" || qrc=$?
	else
		timeout --foreground -k 10 "$tmo" "${qemu[@]}" <"$in" \
			2>"$out/qemu.log" || qrc=$?
	fi
	[ -n "$tty_saved" ] && stty "$tty_saved" 2>/dev/null
	echo >&2
else
	timeout -k 10 "$tmo" "${qemu[@]}" </dev/null >"$out/qemu.log" 2>&1 || qrc=$?
fi
echo "run-vm: guest ran $((SECONDS - start)) s" >&2
[ -n "$qmp" ] && rm -f "$qmp"
[ -f "$out/guest.out" ] && cat "$out/guest.out"

if [ "$interactive" = 1 ]; then
	# The session's console mixes the kernel with what was typed and
	# printed: check only the kernel's own (timestamped) lines.
	grep -aoE '\[ *[0-9]+\.[0-9]+\] .*' "$out/console.log" \
		>"$out/console.kmsg" 2>/dev/null || true
	logs=("$out/console.kmsg")
else
	logs=("$out/console.log")
fi
[ -f "$out/dmesg.txt" ] && logs+=("$out/dmesg.txt")
lrc=0
"$here/check-log.sh" "${logs[@]}" >&2 || lrc=$?

if [ "$interactive" = 1 ]; then
	echo "run-vm: logs in $out (console.log dmesg.txt)" >&2
else
	echo "run-vm: logs in $out (console.log guest.out dmesg.txt)" >&2
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	tail -n 20 "$out/console.log" >&2 || true
	echo "run-vm: TIMEOUT: guest killed after ${tmo}s" >&2
	exit 124
fi
if [ ! -s "$out/rc" ]; then
	[ "$interactive" = 1 ] || tail -n 20 "$out/console.log" >&2 || true
	[ -s "$out/qemu.log" ] && sed 's/^/qemu: /' "$out/qemu.log" >&2
	if [ "$interactive" = 1 ]; then
		echo "run-vm: the guest stopped before the command ended (Ctrl-A x, poweroff -f, a panic, or QEMU failed: qemu rc $qrc)" >&2
	else
		echo "run-vm: CRASH: the guest reported no exit code (panic, or QEMU failed: qemu rc $qrc)" >&2
	fi
	exit 125
fi
rc=$(cat "$out/rc")
if [ "$lrc" != 0 ]; then
	echo "run-vm: FAIL: kernel log problems (command exit code $rc)" >&2
	exit 1
fi
echo "run-vm: command exit code $rc" >&2
exit "$rc"
