# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Set-up shared by the host tests that use the embedded SoftHSM2 vault
# (scripts/cmk-vault-softhsm).  Sourced once "TAP version 13" is printed,
# with $ROOT set:
#
#   need_built FILE...      skip the test (exit 4) unless each was built
#   need_installed FILE...  skip the test (exit 4) unless each is installed
#
# and, once tap.sh is sourced ($T set):
#
#   make_vault              a vault in $T/v: exports SOFTHSM2_CONF, sets
#                           KEY (its KEK's URI, without module or PIN)
#   make_volume             make_vault, then $T/d: a 64 MiB volume of
#                           16 MiB extents under KEY (PIN from $T/v/pin)
#
# A set-up step that fails bails out (exit 1) with its messages.

need_built() {
	local f
	for f in "$@"; do
		if [ ! -e "$f" ]; then
			echo "1..0 # SKIP $f not built (make tests)"
			exit 4
		fi
	done
}

need_installed() {
	local f
	for f in "$@"; do
		if [ ! -e "$f" ]; then
			echo "1..0 # SKIP $f not installed"
			exit 4
		fi
	done
}

make_vault() {
	if ! "$ROOT/scripts/cmk-vault-softhsm" create "$T/v" >"$T/v.out" \
		2>"$T/v.err"; then
		sed 's/^/# /' "$T/v.err"
		echo "Bail out! cmk-vault-softhsm create failed"
		exit 1
	fi
	export SOFTHSM2_CONF=$T/v/softhsm2.conf
	KEY="pkcs11:token=cmk;object=cmk-kek;id=%01;type=private"
}

make_volume() {
	make_vault
	truncate -s 64M "$T/d"
	if ! "${CMKCTL:-$ROOT/build/userspace/cmkctl}" format "$T/d" \
		--kek "$KEY" --pin-file "$T/v/pin" -e 16M >"$T/out" 2>"$T/err"; then
		sed 's/^/# /' "$T/err"
		echo "Bail out! cmkctl format failed"
		exit 1
	fi
}
