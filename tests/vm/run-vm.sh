#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vm.sh [-k KVER] [-o RESULTS_DIR] [-t TIMEOUT_S] [-m MEM_MB] [-c CPUS]
#           -- COMMAND...
#
# Boot an installed Debian kernel in QEMU on the host's own userland (/ over
# 9p, read-only, under a tmpfs overlay) and run COMMAND as root in the
# guest, with cwd = this repo.  RESULTS_DIR (read-write in the guest, same
# path) gets console.log, guest.out, dmesg.txt, rc.
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

kver='' out='' tmo=900 mem=2048 cpus=2
while getopts k:o:t:m:c:h opt; do
	case $opt in
	k) kver=$OPTARG ;;
	o) out=$OPTARG ;;
	t) tmo=$OPTARG ;;
	m) mem=$OPTARG ;;
	c) cpus=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || usage

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
rm -f "$out"/{console.log,guest.out,dmesg.txt,rc,cmd,cwd,qemu.log}

# The command, as a shell script, so that any argument survives.
{
	printf 'exec'
	for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done
	printf '\n'
} >"$out/cmd"
echo "$repo" >"$out/cwd"

append="console=ttyS0,115200 panic=-1 cmkvm.results=$out"
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

qemu+=("${accel[@]}" -serial "file:$out/console.log" -append "$append"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$out,mount_tag=results,security_model=none,multidevs=remap")

echo "run-vm: $kver, ${accel[1]}, ${mem} MiB, $cpus CPUs, timeout ${tmo}s: $*" >&2
start=$SECONDS
qrc=0
timeout -k 10 "$tmo" "${qemu[@]}" </dev/null >"$out/qemu.log" 2>&1 || qrc=$?
echo "run-vm: guest ran $((SECONDS - start)) s" >&2
[ -f "$out/guest.out" ] && cat "$out/guest.out"

logs=("$out/console.log")
[ -f "$out/dmesg.txt" ] && logs+=("$out/dmesg.txt")
lrc=0
"$here/check-log.sh" "${logs[@]}" >&2 || lrc=$?

echo "run-vm: logs in $out (console.log guest.out dmesg.txt)" >&2
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	tail -n 20 "$out/console.log" >&2 || true
	echo "run-vm: TIMEOUT: guest killed after ${tmo}s" >&2
	exit 124
fi
if [ ! -s "$out/rc" ]; then
	tail -n 20 "$out/console.log" >&2 || true
	[ -s "$out/qemu.log" ] && sed 's/^/qemu: /' "$out/qemu.log" >&2
	echo "run-vm: CRASH: the guest reported no exit code (panic, or QEMU failed: qemu rc $qrc)" >&2
	exit 125
fi
rc=$(cat "$out/rc")
if [ "$lrc" != 0 ]; then
	echo "run-vm: FAIL: kernel log problems (command exit code $rc)" >&2
	exit 1
fi
echo "run-vm: command exit code $rc" >&2
exit "$rc"
