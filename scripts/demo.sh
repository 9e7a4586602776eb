#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh: the README's first command.  Installs what is missing, builds
# dm-cmk for the newest installed kernel, cmkctl, cmkd and the embedded
# vault's tool, and runs the demo in a QEMU guest (tests/demo/demo-guest.sh):
# format with a KEK in a vault, cmkd, the KEK disabled -> Inaccessible,
# enabled again -> revalidate -> Available with the files intact.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
kver=${CMK_KVER:-$(scripts/kvers.sh all | tail -n 1)}
scripts/kbuild.sh "$kver" >/dev/null
make -s cmkctl cmkd build/userspace/cmk-softhsm-admin
out=$(pwd)/build/demo
rm -rf "$out"
mkdir -p "$out"
# run-vm.sh prints the guest's output and exits with the demo's status.
exec tests/vm/run-vm.sh -k "$kver" -o "$out" -t 900 -- keyctl session - \
	tests/demo/demo-guest.sh
