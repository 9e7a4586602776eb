#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo, guest side: customer-managed keys from end to end.
#
#   the customer's vault (a SoftHSM2 token behind p11-kit server, its own
#   process) holds an RSA-2048 KEK that never leaves it; cmkctl formats a
#   disk (one vault call wraps the volume key, which wraps a DEK per
#   extent); cmkd opens it (one vault call), renews its kernel lease and
#   checks the KEK every 2 s; a filesystem and files; the customer disables
#   the KEK in the vault: the volume goes Inaccessible within seconds (I/O
#   fails, keys wiped, alert raised); the customer enables it again:
#   cmkctl revalidate brings it back, files intact.  Before that, the
#   customer rotates the KEK: a new version in the vault, the mounted
#   volume moved to it by cmkd, the old version retired without a blip.
set -eu

cd "$(dirname "$0")/../.."
repo=$(pwd)
export PATH=$repo/build/userspace:$repo/scripts:$PATH:/sbin:/usr/sbin
for m in dm_mod loop; do modprobe "$m"; done
grep -q '^dm_cmk ' /proc/modules || insmod "build/kernel/$(uname -r)/dm-cmk.ko"

say() { printf '\n==> %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

tmp=$(mktemp -d)
vault=$tmp/vault
sock=$tmp/cmkd.sock
name=data
cmkd_pid=''
cleanup() {
	mountpoint -q "$tmp/mnt" 2>/dev/null && umount -l "$tmp/mnt"
	[ -n "$cmkd_pid" ] && kill "$cmkd_pid" 2>/dev/null && wait "$cmkd_pid" 2>/dev/null
	if [ -e "$vault/p11kit.pid" ] && ! cmk-vault-softhsm stop "$vault" >/dev/null; then
		echo "demo: stopping the vault failed" >&2
	fi
	[ -n "${disk:-}" ] && losetup -d "$disk" 2>/dev/null
	true
}
trap cleanup EXIT

# state: cmkd's state of the volume.
state() {
	cmkctl status "$name" --json --socket "$sock" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; print((json.load(sys.stdin).get("cmkd") or {}).get("state", "?"))' 2>/dev/null
}

say "1. the customer's vault: an RSA-2048 KEK in an HSM (SoftHSM2), served by its own process"
out=$(cmk-vault-softhsm create "$vault" 2>&1)
eval "$(grep -v '^#' <<<"$out")"
out=$(cmk-vault-softhsm serve "$vault" 2>>"$tmp/vault.err")
eval "$(grep -v '^#' <<<"$out")"
export P11_KIT_SERVER_ADDRESS
echo "KEK: $CMK_KEK_URI_REMOTE"
run cmkctl validate-kek "$CMK_KEK_URI_REMOTE"

say "2. format a 256 MiB disk: one vault call wraps the volume key; 16 extents, a DEK each"
truncate -s 256M "$tmp/disk.img"
disk=$(losetup -f --show "$tmp/disk.img")
run cmkctl format "$disk" --kek "$CMK_KEK_URI_REMOTE" --extent-size 16M --label demo
run cmkctl dump "$disk" | head -n 16

say "3. cmkd manages it: cmktab, then the daemon (KEK checked every 2 s, lease 6 s)"
mkdir -p /etc/cmk
cat >"$tmp/alert" <<EOF
#!/bin/sh
echo "ALERT: volume \$CMK_VOLUME is \$CMK_EVENT at \$CMK_TIME: \$CMK_REASON" >>"$tmp/alerts"
EOF
chmod 755 "$tmp/alert"
(umask 077; echo "$name $disk - module=p11-kit-client,pin-file=$vault/pin,poll=2s,lease=6s,grace=6s,alert=$tmp/alert" >"$tmp/cmktab")
run cat "$tmp/cmktab"
cmkd --foreground --config "$tmp/cmktab" --socket "$sock" \
	--audit-log "$tmp/audit.log" 2>"$tmp/cmkd.log" &
cmkd_pid=$!
for _ in $(seq 240); do [ "$(state)" = available ] && break; sleep 0.25; done
sed 's/^/cmkd: /' "$tmp/cmkd.log"
run cmkctl status --socket "$sock"
echo "the table names the DEK keys and the lease key, never key bytes:"
run dmsetup table "$name"

say "4. a filesystem and some files"
udevadm settle 2>/dev/null || dmsetup mknodes "$name"
run mkfs.ext4 -q -L demo "/dev/mapper/$name"
mkdir -p "$tmp/mnt"
run mount "/dev/mapper/$name" "$tmp/mnt"
head -c 20M /dev/urandom >"$tmp/mnt/data.bin"
echo "customer data, encrypted at rest with customer-managed keys" >"$tmp/mnt/hello.txt"
sync
(cd "$tmp/mnt" && sha256sum data.bin hello.txt | tee "$tmp/sums")

say "5. the customer rotates the KEK: a new version in the vault; the mounted volume moves to it"
run cmk-vault-softhsm newkey "$vault" --id 02
run cmkctl kek-rotate "$name" --socket "$sock"
run cmkctl kek-retire-check "pkcs11:token=cmk;object=cmk-kek;id=%01" --socket "$sock"
run cmk-vault-softhsm kek "$vault" disable --id 01
sleep 5
echo "cmkd state after three KEK checks with the old version disabled: $(state)"
[ "$(state)" = available ] || { echo "UNEXPECTED: the old version took the volume down"; exit 1; }
(cd "$tmp/mnt" && run sha256sum -c "$tmp/sums")
grep -E 'KEK rotat' "$tmp/cmkd.log" | sed 's/^/cmkd: /'

say "6. the customer disables the KEK in use (version 02) in the vault"
run cmk-vault-softhsm kek "$vault" disable --id 02
t0=$(date +%s.%N)
until ! dd if="/dev/mapper/$name" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; do
	sleep 0.1
done
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "first EIO %.2f s after the KEK was disabled (poll interval 2 s)\n", b - a }'
for _ in $(seq 40); do [ "$(state)" = inaccessible ] && break; sleep 0.25; done
grep -E 'inaccessible' "$tmp/cmkd.log" | sed 's/^/cmkd: /'
for _ in $(seq 20); do [ -s "$tmp/alerts" ] && break; sleep 0.25; done
cat "$tmp/alerts" 2>/dev/null || echo "(no alert yet)"
echo 3 >/proc/sys/vm/drop_caches
printf '$ cat hello.txt\n'
if cat "$tmp/mnt/hello.txt"; then
	echo "UNEXPECTED: the file is still readable" && exit 1
fi
echo "the volume is Inaccessible: every read and write fails, its keys are wiped"
run cmkctl status "$name" --socket "$sock" | sed -n '/^cmkd state/,/^since/p'
run umount "$tmp/mnt"
echo "(the mapping was removed once unmounted)"
dmsetup info "$name" >/dev/null 2>&1 && echo "UNEXPECTED: mapping still there" && exit 1

say "7. the customer enables the KEK again: revalidate (one vault call)"
run cmk-vault-softhsm kek "$vault" enable --id 02
run cmkctl revalidate "$name" --socket "$sock"
udevadm settle 2>/dev/null || dmsetup mknodes "$name"
run mount "/dev/mapper/$name" "$tmp/mnt"
(cd "$tmp/mnt" && run sha256sum -c "$tmp/sums")
run cat "$tmp/mnt/hello.txt"

say "8. the audit trail (one JSON line per vault call and state change; no keys, no PIN)"
grep -m1 '"op":"unwrap"' "$tmp/audit.log"
grep -E '"op":"(activate|kek-rotate|teardown|revalidate|close)"' "$tmp/audit.log" | tail -n 5
echo "vault calls: $(grep -c '"op":"unwrap"' "$tmp/audit.log") unwraps (1 open, 2 for the rotation, 1 revalidate, the rest KEK checks)"

say "9. clean up"
run umount "$tmp/mnt"
run cmkctl close "$name" --socket "$sock"
kill "$cmkd_pid"
wait "$cmkd_pid" || true
cmkd_pid=''
echo
echo "demo: OK"
