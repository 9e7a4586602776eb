#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh KVER OUT.cpio.gz
#
# Build a tiny busybox-static initramfs for the installed kernel KVER.  It
# loads the virtio/9p/overlay modules, mounts the host's / (9p tag
# "hostroot", read-only) under a tmpfs overlay, mounts the results share
# (9p tag "results") and switch_roots into tests/vm/guest-init.sh.
# Nothing in it depends on the repo or results path: those come from the
# kernel command line (cmkvm.results=, cmkvm.init=).  With cmkvm.probe it
# only prints "cmkvm-probe-ok" and powers off (run-vm.sh's KVM probe).
set -eu

usage() { echo "usage: $0 KVER OUT.cpio.gz" >&2; exit 2; }
[ $# -eq 2 ] || usage
kver=$1
out=$2
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || { echo "$0: no $moddir/modules.dep" >&2; exit 1; }

busybox=$(command -v busybox 2>/dev/null || true)
[ -n "$busybox" ] || { echo "$0: busybox not found (busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "$0: $busybox is dynamically linked; install busybox-static" >&2
	exit 1
fi

# Load order matters; dependencies of each come first anyway.
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/lower" \
	"$root/rw" "$root/newroot" "$root/modules"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# An initial console helps; only root may mknod, /init copes without it.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

# Relative path of module $1 in modules.dep ("-" and "_" are equivalent).
modpath() {
	awk -F: -v m="$1" '{
		n = $1; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n)
		gsub(/-/, "_", n)
		if (n == m) { print $1; exit }
	}' "$moddir/modules.dep"
}

# Dependencies of $1 (relative paths), deepest first.
moddeps() {
	awk -F: -v p="$1" '$1 == p { n = split($2, d, " ");
		for (i = n; i >= 1; i--) print d[i]; exit }' "$moddir/modules.dep"
}

# Copy one module (relative path $1), decompressed, and append it to the
# load order unless already there.
addmod() {
	name=$(basename "$1"); name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
	grep -qxF "$name" "$root/modules/order" 2>/dev/null && return 0
	case $1 in
	*.xz) xz -dc "$moddir/$1" >"$root/modules/$name" ;;
	*.zst) zstd -qdc "$moddir/$1" >"$root/modules/$name" ;;
	*.gz) gzip -dc "$moddir/$1" >"$root/modules/$name" ;;
	*) cp "$moddir/$1" "$root/modules/$name" ;;
	esac
	echo "$name" >>"$root/modules/order"
}

: >"$root/modules/order"
for m in $MODULES; do
	p=$(modpath "$m")
	if [ -z "$p" ]; then
		if sed 's/-/_/g' "$moddir/modules.builtin" 2>/dev/null |
			grep -q "/$m\.ko\$"; then
			echo "mkinitramfs: $kver: $m is built in"
		else
			echo "mkinitramfs: $kver: $m is not a module here, skipped"
		fi
		continue
	fi
	for d in $(moddeps "$p"); do addmod "$d"; done
	addmod "$p"
done

cat >"$root/init" <<'EOF'
#!/bin/sh
# Stage 1: load modules, build the overlay root, switch_root into stage 2.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys

fail() {
	echo "cmkvm-init: $*"
	echo "cmkvm-init: powering off"
	poweroff -f
	sleep 1000000
}

results= init=
for a in $(cat /proc/cmdline); do
	case $a in
	cmkvm.results=*) results=${a#*=} ;;
	cmkvm.init=*) init=${a#*=} ;;
	cmkvm.probe) echo "cmkvm-probe-ok"; poweroff -f; sleep 1000000 ;;
	esac
done

while read -r m; do
	insmod "/modules/$m" || echo "cmkvm-init: insmod $m failed"
done </modules/order

mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose \
	hostroot /lower ||
	fail "cannot mount hostroot"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work \
	overlay /newroot || fail "cannot mount the overlay"
if [ -n "$results" ]; then
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 \
		results "/newroot$results" || fail "cannot mount results"
fi
[ -n "$init" ] && [ -x "/newroot$init" ] || fail "no stage 2 ($init)"

echo "cmkvm-init: [$(cut -d' ' -f1 /proc/uptime)] switch_root to $init"
# Keep /dev (the console); stage 2 mounts proc and sys itself.
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot "$init"
EOF
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "mkinitramfs: $kver: $out ($(tr '\n' ' ' <"$root/modules/order"))"
