#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo, guest side: a filesystem on a dm-cmk volume whose keys sit in
# the kernel keyring and whose lease is renewed by a stand-in for cmkd.
# Revoking the lease (what cmkd does when the KEK is revoked) takes the
# volume down within a second; a new table (revalidation) brings it back
# with its files.
#
# Today the DEKs are random keys made here; the vault (KEK wrapping a volume
# key that wraps the DEKs), cmkctl and cmkd come with issues 3 and 4.
set -eu

cd "$(dirname "$0")/../.."
for m in dm_mod loop; do modprobe "$m"; done
grep -q '^dm_cmk ' /proc/modules || insmod "build/kernel/$(uname -r)/dm-cmk.ko"

say() { printf '\n==> %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

tmp=$(mktemp -d)
truncate -s 256M "$tmp/disk.img"
disk=$(losetup -f --show "$tmp/disk.img")
name=demo
len=$((256 * 2048))
ext=32768		# 16 MiB extents: 16 DEKs
prefix=cmk:demo:
lease=cmk:demo:lease

say "1. one 512-bit DEK per extent into the kernel keyring (logon keys: unreadable from userspace)"
for i in $(seq 0 15); do
	head -c 64 /dev/urandom | keyctl padd logon "$prefix$i" @s >/dev/null
done
run keyctl show @s | head -n 6
echo "   ... 16 DEKs"

say "2. a lease key with a 3 s timeout, renewed every second (cmkd's job)"
lid=$(keyctl add user "$lease" lease @s)
keyctl timeout "$lid" 3
( while keyctl timeout "$lid" 3 2>/dev/null; do sleep 1; done ) &
renewer=$!

say "3. the cmk mapping: key descriptions only in the table, never key bytes"
run dmsetup create "$name" --table "0 $len cmk $disk 0 $ext 4096 $prefix 2 lease $lease"
udevadm settle 2>/dev/null || dmsetup mknodes "$name"
run dmsetup table "$name"
run dmsetup status "$name"

say "4. a filesystem and some files"
run mkfs.ext4 -q -L demo "/dev/mapper/$name"
mkdir -p "$tmp/mnt"
run mount "/dev/mapper/$name" "$tmp/mnt"
head -c 20M /dev/urandom >"$tmp/mnt/data.bin"
echo "customer data, encrypted at rest with customer-managed keys" >"$tmp/mnt/hello.txt"
sync
(cd "$tmp/mnt" && sha256sum data.bin hello.txt | tee "$tmp/sums")

say "5. the KEK is revoked: cmkd revokes the lease"
t0=$(date +%s.%N)
run keyctl revoke "$lid"
until ! dd if="/dev/mapper/$name" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; do
	sleep 0.05
done
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   first EIO %.2f s after the revoke\n", b - a }'
run dmsetup status "$name"
echo 3 >/proc/sys/vm/drop_caches
printf '$ cat hello.txt\n'
if cat "$tmp/mnt/hello.txt"; then
	echo "   UNEXPECTED: the file is still readable" && exit 1
fi
printf '$ dd of=/dev/mapper/%s oflag=direct\n' "$name"
if head -c 4096 /dev/zero | dd of="/dev/mapper/$name" bs=4k oflag=direct status=none; then
	echo "   UNEXPECTED: the volume still takes writes" && exit 1
fi
echo "   the volume is Inaccessible: every read and write fails with EIO"
kill "$renewer" 2>/dev/null || true
umount "$tmp/mnt" 2>/dev/null || umount -l "$tmp/mnt"

say "6. revalidation: a fresh lease and a new table bring it back (Available)"
lid=$(keyctl add user "$lease" lease @s)
keyctl timeout "$lid" 3
( while keyctl timeout "$lid" 3 2>/dev/null; do sleep 1; done ) &
renewer=$!
run dmsetup reload "$name" --table "0 $len cmk $disk 0 $ext 4096 $prefix 2 lease $lease"
run dmsetup resume "$name"
run dmsetup status "$name"
run mount "/dev/mapper/$name" "$tmp/mnt"
(cd "$tmp/mnt" && run sha256sum -c "$tmp/sums")

say "7. clean up"
umount "$tmp/mnt"
kill "$renewer"
run dmsetup remove "$name"
for i in $(seq 0 15); do keyctl unlink "$(keyctl search @s logon "$prefix$i")" @s >/dev/null; done
losetup -d "$disk"
echo
echo "demo: OK"
