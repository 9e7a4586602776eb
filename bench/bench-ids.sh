# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034
#
# bench-ids.sh: the device and job ids of `make bench`, sourced by
# bench/bench.sh (host) and bench/bench-guest.sh (guest) so that both
# accept the same --devices and --jobs.

# The devices in ramdisk order (raw is /dev/ram0, ..., cmk4096_x4096
# /dev/ram5).
BENCH_DEVICES="raw crypt_default crypt_tuned cmk512 cmk4096 cmk4096_x4096"

# The jobs: id rw bs iodepth.
bench_jobspecs() {
	cat <<EOF_JOBS
randread-4k-qd1	randread	4k	1
randread-4k-qd32	randread	4k	32
randwrite-4k-qd1	randwrite	4k	1
randwrite-4k-qd32	randwrite	4k	32
seqread-1m-qd8	read	1M	8
seqwrite-1m-qd8	write	1M	8
EOF_JOBS
}
BENCH_JOBS=$(bench_jobspecs | cut -f1 | tr '\n' ' ')
BENCH_JOBS=${BENCH_JOBS% }

# bench_pick OPTION LIST ALL: LIST (comma-separated ids) checked against
# ALL (blank-separated); prints the ids in ALL's order, each once,
# comma-separated.  Returns 2, with a message, on an empty list or an
# unknown id.
bench_pick() {
	local opt=$1 list=$2 all=$3 id a found out=''
	local -a ids=()
	IFS=, read -r -a ids <<<"$list"
	if [ "${#ids[@]}" = 0 ]; then
		echo "${0##*/}: $opt: empty list (ids: $all)" >&2
		return 2
	fi
	for id in "${ids[@]}"; do
		found=0
		for a in $all; do
			[ "$id" != "$a" ] || found=1
		done
		if [ "$found" = 0 ]; then
			echo "${0##*/}: $opt: unknown id '$id' (ids: $all)" >&2
			return 2
		fi
	done
	for a in $all; do
		for id in "${ids[@]}"; do
			if [ "$id" = "$a" ]; then
				out=${out:+$out,}$a
				break
			fi
		done
	done
	echo "$out"
}
