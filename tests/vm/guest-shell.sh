#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# guest-shell.sh [VAULT_DIR]
#
# Guest side of scripts/shell.sh (run by tests/vm/run-vm.sh -i): loads
# dm-cmk for the running kernel from build/kernel/<kver>/dm-cmk.ko, puts
# cmkctl (build/userspace) and cmk-vault-softhsm (scripts) on PATH,
# exports CMK_VAULT_DIR=VAULT_DIR (default /root/vault, which does not
# outlive the guest), prints a banner and runs an interactive bash with job
# control.  When stdin is not a terminal (a script piped into
# scripts/shell.sh), bash reads the script from stdin instead and this
# exits with its status.  Leaving the shell (exit, Ctrl-D, or poweroff)
# powers the guest off.
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
kver=$(uname -r)
ko=$repo/build/kernel/$kver/dm-cmk.ko
export CMK_VAULT_DIR=${1:-/root/vault}
export PATH=$repo/build/userspace:$repo/scripts:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Process substitution needs /dev/fd, which only udev or systemd make.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

for m in dm_mod dm_crypt loop; do
	modprobe "$m" 2>/dev/null
done
if ! grep -q '^dm_cmk ' /proc/modules && ! insmod "$ko"; then
	echo "guest-shell: cannot load $ko (make -s all builds it)" >&2
fi

# bash's start-up file for this shell: the host's ~/.bashrc is not ours.
rc=/run/cmk-shell.bashrc
cat >"$rc" <<'EOF'
PS1='cmk-vm:\w# '
HISTFILE=/root/.bash_history
# poweroff -f would stop the guest before its kernel log is saved and
# checked: leave the shell instead, which powers off cleanly.
poweroff() { echo "poweroff: leaving the shell; the guest powers off"; exit 0; }
EOF

banner() {
	local d size disks='' vault

	for d in /sys/block/vd*; do
		[ -e "$d" ] || continue
		size=$(($(cat "$d/size") / 2048))
		disks+="${disks:+, }/dev/${d##*/} (${size} MiB)"
	done
	if [ -e "$CMK_VAULT_DIR/vault.env" ]; then
		vault="holds a vault: eval \"\$(cmk-vault-softhsm status \"\$CMK_VAULT_DIR\")\""
	else
		vault="no vault yet: eval \"\$(cmk-vault-softhsm create \"\$CMK_VAULT_DIR\")\""
	fi
	cat <<EOF

dm-cmk shell: Linux $kver, $(grep -q '^dm_cmk ' /proc/modules && echo "dm-cmk loaded" || echo "dm-cmk NOT loaded")
  disks:  ${disks:-none}
  vault:  \$CMK_VAULT_DIR=$CMK_VAULT_DIR (kept on the host)
          $vault
  tools:  cmkctl, cmk-vault-softhsm (on PATH), dmsetup, keyctl
First session (README.md, "Try it by hand"):
  eval "\$(cmk-vault-softhsm create "\$CMK_VAULT_DIR")"
  cmkctl format /dev/vda --kek "\$CMK_KEK_URI"
  cmkctl open /dev/vda data --pin-file "\$CMK_VAULT_DIR/pin" && mkfs.ext4 -q /dev/mapper/data
Later sessions:
  eval "\$(cmk-vault-softhsm status "\$CMK_VAULT_DIR")"
  cmkctl open /dev/vda data --pin-file "\$CMK_VAULT_DIR/pin"
  mkdir -p /mnt/data && mount /dev/mapper/data /mnt/data
Quit: exit, Ctrl-D or poweroff (clean: the kernel log is checked);
      Ctrl-A x kills the guest.

EOF
}

banner
if [ -t 0 ]; then
	bash --rcfile "$rc" -i
else
	bash -s
fi
