#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# smoke.sh: does the guest do dm-crypt with a keyring key, and udev?  Run it
# as root in a test guest: tests/vm/run-vm.sh -- tests/vm/smoke.sh
# TAP output; exit 0 pass, 1 fail, 4 skip.
set -u

name=cmk-smoke-$$
key=cmk:smoke:0
tmp=''
loop='' kid=''
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
# t DESCRIPTION COMMAND...: one test point.
t() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }
bail() { echo "Bail out! $*"; exit 1; }
skip_all() { echo "1..0 # SKIP $*"; exit 4; }

cleanup() {
	dmsetup remove "$name" 2>/dev/null
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	[ -n "$kid" ] && keyctl unlink "$kid" @s >/dev/null 2>&1
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT

echo "TAP version 13"
[ "$(id -u)" = 0 ] || skip_all "not root"
for c in dmsetup keyctl losetup; do
	command -v $c >/dev/null || skip_all "no $c"
done
# Give this shell a session keyring of its own, inherited by dmsetup.
# (Without one, "keyctl padd ... @s" puts the key in a throwaway session
# keyring that dies with keyctl, and dm-crypt finds no key.)
keyctl new_session >/dev/null || bail "keyctl new_session"
tmp=$(mktemp -d)
modprobe dm_crypt 2>/dev/null || skip_all "cannot load dm_crypt (not in a test guest?)"
echo "1..11"
ok "modprobe dm_crypt"

# 64 MiB loop device backed by a file in tmpfs.
truncate -s 64M "$tmp/disk" || bail "truncate"
modprobe loop 2>/dev/null
loop=$(losetup -f --show "$tmp/disk") || bail "losetup"
ok "loop device $loop"

# 64-byte logon key; the bytes go through a pipe, never argv.
kid=$(head -c 64 /dev/urandom | keyctl padd logon "$key" @s) || bail "keyctl padd"
ok "logon key $key ($kid)"

sectors=$(($(blockdev --getsz "$loop")))
table="0 $sectors crypt aes-xts-plain64 :64:logon:$key 0 $loop 0"
dmsetup create "$name" --table "$table" || bail "dmsetup create"
ok "dmsetup create with keyring key"

dev=/dev/mapper/$name
t "$dev exists" test -b "$dev"
# udev makes /dev/mapper/NAME a symlink; libdevmapper alone a node.
if udevadm control --ping 2>/dev/null; then
	t "udev made $dev (symlink)" test -L "$dev"
else
	ok "udev made $dev # SKIP no systemd-udevd running"
fi

head -c 4M /dev/urandom >"$tmp/data"
rw_ok() {
	dd if="$tmp/data" of="$dev" bs=1M oflag=direct conv=fsync status=none &&
		dd if="$dev" bs=1M count=4 iflag=direct status=none | cmp -s - "$tmp/data"
}
t "write 4 MiB, read back equal" rw_ok
t "ciphertext differs from plaintext" \
	sh -c "! head -c 4M '$loop' | cmp -s - '$tmp/data'"

reopen_ok() {
	dmsetup remove "$name" && dmsetup create "$name" --table "$table" &&
		udevadm settle 2>/dev/null
	dd if="$dev" bs=1M count=4 iflag=direct status=none | cmp -s - "$tmp/data"
}
t "remove, re-create with same key: data reads back" reopen_ok

t "dmsetup remove" dmsetup remove "$name"
udevadm settle 2>/dev/null
t "$dev gone" test ! -e "$dev"
[ $failed = 0 ]
