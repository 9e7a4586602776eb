#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# coredump_test: no volume key, DEK or PIN in a core dump of cmkctl or cmkd
# taken mid-operation.  TAP; exit 0 pass, 1 fail, 4 skip.
#
# gdb runs the program to the unwrap of extent 1's DEK (the volume key,
# extent 0's DEK and the token PIN are all in memory then), saves those
# three secrets from the process's memory, and writes two cores with
# gcore: one as a core dump is made (mappings marked MADV_DONTDUMP left
# out, as the kernel leaves them out) and one with every mapping (the
# control: it must hold all three, or the search proves nothing).  The
# first must hold none of them, and must hold the process's ordinary data
# (the device path), or it is not a core of the process.  cmkctl is also
# non-dumpable, so the kernel writes no core of it at all; gcore, as root
# over ptrace, still can.

# Conditions are single-quoted and eval'd by check().
# shellcheck disable=SC2016,SC2034,SC2317
set -u

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
CMKCTL=${CMKCTL:-$ROOT/build/userspace/cmkctl}
CMKD=${CMKD:-$ROOT/build/userspace/cmkd}
PY=/usr/bin/python3
GDB=/usr/bin/gdb

echo "TAP version 13"
# shellcheck source=tests/host/vault.sh
. "$(dirname "$(readlink -f "$0")")/vault.sh"
need_built "$CMKCTL" "$CMKD"
need_installed /usr/lib/softhsm/libsofthsm2.so /usr/bin/softhsm2-util \
	/usr/bin/pkcs11-tool "$PY" "$GDB"

T=$(mktemp -d /tmp/coredump_test.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
umask 077

PLAN=8

# shellcheck source=tests/host/tap.sh
. "$(dirname "$(readlink -f "$0")")/tap.sh"
tap_plan "$PLAN"

make_volume
head -n1 "$T/v/pin" | tr -d '\n' >"$T/pin.bin"

# stop_and_dump NAME ARGS...: run ARGS under gdb to the DEK unwrap of
# extent 1; secrets to $T/NAME.{vk,dek0}, cores to $T/NAME.core (as a
# core dump is made) and $T/NAME.all (every mapping).
stop_and_dump() {
	local name=$1
	shift
	cat >"$T/$name.gdb" <<EOF
set pagination off
set confirm off
set breakpoint pending on
break cmk_dek_unwrap if extent == 1
run
dump binary memory $T/$name.vk vk vk+32
dump binary memory $T/$name.dek0 dek-64 dek
gcore $T/$name.core
set dump-excluded-mappings on
gcore $T/$name.all
kill
quit
EOF
	timeout 120 "$GDB" -batch -nx -x "$T/$name.gdb" --args "$@" \
		>"$T/$name.gdb.out" 2>&1
}
# has CORE FILE...: which of the FILEs' bytes are found in CORE, by name.
has() {
	"$PY" - "$@" <<'EOF'
import os, sys
core = open(sys.argv[1], 'rb').read()
print(" ".join(os.path.basename(f) for f in sys.argv[2:]
               if open(f, 'rb').read() in core))
EOF
}
secrets() {
	echo "$T/$1.vk" "$T/$1.dek0" "$T/pin.bin"
}
printf '%s' "$T/d" >"$T/path.bin"

# ---- cmkctl unlock-check ----
stop_and_dump cmkctl "$CMKCTL" unlock-check "$T/d" --pin-file "$T/v/pin"
check "cmkctl: stopped at the unwrap of extent 1's DEK, both cores written" \
	'[ -s "$T/cmkctl.core" ] && [ -s "$T/cmkctl.all" ] &&
	 [ "$(stat -c %s "$T/cmkctl.vk")" = 32 ] && [ "$(stat -c %s "$T/cmkctl.dek0")" = 64 ]' \
	"$(tail -5 "$T/cmkctl.gdb.out")"
# shellcheck disable=SC2046
check "control: the full core holds the volume key, DEK 0 and the PIN" \
	'[ "$(has "$T/cmkctl.all" $(secrets cmkctl))" = "cmkctl.vk cmkctl.dek0 pin.bin" ]' \
	"found: $(has "$T/cmkctl.all" $(secrets cmkctl))"
check "control: the core as dumped holds the process's data (the device path)" \
	'[ "$(has "$T/cmkctl.core" "$T/path.bin")" = path.bin ]'
# shellcheck disable=SC2046
check "cmkctl's core holds no volume key, no DEK, no PIN" \
	'[ -z "$(has "$T/cmkctl.core" $(secrets cmkctl))" ]' \
	"found: $(has "$T/cmkctl.core" $(secrets cmkctl))"

# ---- cmkd, opening the volume (no device-mapper here: the unlock runs) ----
printf 'vol %s - pin-file=%s\n' "$T/d" "$T/v/pin" >"$T/cmktab"
stop_and_dump cmkd "$CMKD" --foreground --config "$T/cmktab" \
	--socket "$T/sock" --audit-log "$T/audit.log"
check "cmkd: stopped at the unwrap of extent 1's DEK, both cores written" \
	'[ -s "$T/cmkd.core" ] && [ -s "$T/cmkd.all" ] &&
	 [ "$(stat -c %s "$T/cmkd.vk")" = 32 ]' "$(tail -5 "$T/cmkd.gdb.out")"
# shellcheck disable=SC2046
check "control: cmkd's full core holds the volume key, DEK 0 and the PIN" \
	'[ "$(has "$T/cmkd.all" $(secrets cmkd))" = "cmkd.vk cmkd.dek0 pin.bin" ]' \
	"found: $(has "$T/cmkd.all" $(secrets cmkd))"
check "control: cmkd's core as dumped holds its data (the device path)" \
	'[ "$(has "$T/cmkd.core" "$T/path.bin")" = path.bin ]'
# shellcheck disable=SC2046
check "cmkd's core holds no volume key, no DEK, no PIN" \
	'[ -z "$(has "$T/cmkd.core" $(secrets cmkd))" ]' \
	"found: $(has "$T/cmkd.core" $(secrets cmkd))"

tap_end
