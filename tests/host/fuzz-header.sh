#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz-header.sh: build the header fuzz target (tests/host/fuzz_header.c)
# with clang's libFuzzer, AddressSanitizer and UBSan, and run it for a
# bounded time from the seed corpus.  TAP output; exit 0 pass, 1 fail,
# 4 skip.  It is a security test: on a supported machine (Debian 12, where
# scripts/deps.sh installs clang and libclang-rt-dev) a missing clang or
# libFuzzer fails it; it skips only on a machine the README does not
# support.
#
# Environment: CMK_FUZZ_TIME (seconds, default 30), CLANG (default clang).
# A crash leaves its input in build/fuzz/artifacts/; replay it with the
# standalone driver: build/tests/host/fuzz_header FILE.
set -u
cd "$(dirname "$0")/../.." || exit 1

time=${CMK_FUZZ_TIME:-30}
clang=${CLANG:-clang}
out=build/fuzz
# All of libcmk, as the programs link it: a list of files went stale.
libs=$(echo userspace/lib/*.c)
syslibs="-lcrypto -lkeyutils -ldevmapper"
flags="-g -O1 -D_GNU_SOURCE -Iinclude -Iuserspace/lib -Wall -Wextra"

# supported: Debian 12, the machine the README's commands are for.
supported() {
	local ID="" VERSION_ID=""
	# shellcheck disable=SC1091
	[ -r /etc/os-release ] && . /etc/os-release
	[ "$ID" = debian ] && [ "$VERSION_ID" = 12 ]
}

# cannot WHY: fail on a supported machine, skip elsewhere.
cannot() {
	if supported; then
		echo "not ok 1 - header fuzzing: $1 (scripts/deps.sh installs clang and libclang-rt-dev)"
		exit 1
	fi
	echo "ok 1 - header fuzzing # SKIP $1 (not Debian 12: unsupported machine)"
	exit 4
}

echo "TAP version 13"
echo "1..1"
if ! command -v "$clang" >/dev/null; then
	cannot "no $clang"
fi
mkdir -p "$out/corpus" "$out/seeds" "$out/artifacts"
# The toolchain first (a missing libFuzzer is the machine's), then the
# target (a build error is the project's: it always fails).
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$out/probe.c"
if ! log=$("$clang" -fsanitize=fuzzer -o "$out/probe" "$out/probe.c" 2>&1); then
	sed 's/^/# /' <<<"$log"
	cannot "$clang cannot build with libFuzzer"
fi
if ! log=$("$clang" $flags -DCMK_LIBFUZZER -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o "$out/fuzz_header" \
		tests/host/fuzz_header.c $libs $syslibs 2>&1); then
	sed 's/^/# /' <<<"$log"
	echo "not ok 1 - header fuzzing: the fuzz target does not build"
	exit 1
fi
if ! log=$("$clang" $flags -o "$out/fuzz_header_seeds" tests/host/fuzz_header.c \
		$libs $syslibs 2>&1) || ! "$out/fuzz_header_seeds" --seeds "$out/seeds"; then
	sed 's/^/# /' <<<"$log"
	echo "not ok 1 - header fuzzing: cannot make the seed corpus"
	exit 1
fi

log=$("$out/fuzz_header" -max_total_time="$time" -max_len=65536 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" "$out/corpus" "$out/seeds" 2>&1)
rc=$?
runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' <<<"$log" | grep -oE '[0-9]+$')
cov=$(grep -oE 'cov: [0-9]+' <<<"$log" | tail -1)
if [ $rc = 0 ]; then
	echo "ok 1 - header fuzzing for ${time}s: ${runs:-?} inputs, ${cov:-cov: ?}, no crash"
	exit 0
fi
grep -E 'ERROR|SUMMARY|invariant|Test unit written' <<<"$log" | sed 's/^/# /'
echo "not ok 1 - header fuzzing: crash (exit $rc), input in $out/artifacts/"
exit 1
