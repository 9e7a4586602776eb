#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-guest.sh --out DIR [--rounds N] [--runtime S] [--ramp S]
#                [--size MIB] [--tcrypt-sec S] [--interleave S] [--devices
#                LIST] [--jobs LIST] [--no-tcrypt] [--no-x16384] [--profile]
#
# Guest side of `make bench`: bench/bench.sh boots a guest with
# tests/vm/run-vm.sh and runs this as root, in a session keyring of its own
# (keyctl session -), with cwd = the repo.  Writes DIR/results.json (one
# JSON document, see bench/bench-guest.py) and the raw measurements under
# DIR/raw/.
#
# Devices, all on one brd ramdisk of MIB MiB (a power of two, >= 16),
# /dev/ram0, filled once with random data before anything is measured: the
# devices run one at a time, and sharing the ramdisk means they all read
# and write the same guest memory (separate ramdisks are separate host
# memory, whose cost under TCG need not be the same):
#   raw            /dev/ram0 itself
#   crypt_default  dm-crypt aes-xts-plain64, 512-bit key, no options
#   crypt_tuned    the same with no_read_workqueue no_write_workqueue
#                  sector_size:4096
#   cmk512         dm-cmk, 512-byte data unit, 4 extents
#   cmk4096        dm-cmk, 4096-byte data unit, 4 extents
#   cmk4096_x4096  dm-cmk, 4096-byte data unit, 4096 extents
# Jobs (fio, --direct=1 --ioengine=libaio, time based, S seconds after a
# ramp; see bench/bench-ids.sh): 4k randread and randwrite at iodepth 1 and 32
# (randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32),
# 1M sequential read and write at iodepth 8 (seqread-1m-qd8
# seqwrite-1m-qd8).  Each of N rounds runs every job on every device: the
# jobs in a new random order each round, and for each job the devices back
# to back in a new random order, so that the results a ratio compares are
# measured within seconds of each other.  Per job and device: MiB/s, IOPS
# and system-wide CPU (from /proc/stat, read by fio just before and just
# after the I/O).
#
# Also measured: the cipher's own speed (tcrypt mode=500, xts(aes) with a
# 512-bit key on 4096-byte blocks; S seconds per test, 0 = cycle counts; if
# tcrypt gives nothing, 1M sequential I/O on tuned dm-crypt over a "zero"
# target instead), and the load of a dm-cmk table of 16384 extents:
# dmsetup create time and kernel memory (Slab, VmallocUsed, slabinfo).
#
# Subsets, to iterate on a change: --devices and --jobs take comma-separated
# ids from the lists above (default: all).  Only those devices are set up
# and only those jobs go into raw/jobs.txt.  --no-tcrypt and
# --no-x16384 skip the cipher ceiling (raw/cipher.txt then says
# method=none) and the 16384-extent load (no raw/x16384.txt).
#
# --interleave S: after the rounds, each job for about S seconds on the
# devices the targets compare, alternating between them in slices of
# milliseconds (bench/cmk-interleave; "Interleaved slices" below); 0, the
# default here, skips it.
#
# --profile: after the rounds, each job once more on each device under
# perf record (cpu-clock sampling on every CPU: TCG has no PMU), and the
# hottest symbols into raw/profile.JOB@DEVICE.txt.  These runs are not
# among the measurements: sampling costs time of its own.
#
# Key bytes go from /dev/urandom to the kernel keyring only (keyctl padd,
# or add_key(2) from bench-guest.py): never on a command line or in a log.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
PY=/usr/bin/python3
helper=$repo/bench/bench-guest.py
interleave=$repo/build/bench/cmk-interleave

# usage: the synopsis, lines 4 to 6 of this file.
usage() {
	sed -n '4,6p' "$0" | sed 's/^# //' >&2
	exit 2
}

# The device and job ids, and bench_pick (shared with bench/bench.sh).
# shellcheck source=bench/bench-ids.sh
. "$repo/bench/bench-ids.sh"
read -r -a ALL_DEVICES <<<"$BENCH_DEVICES"

# selected ID LIST: is ID one of the comma-separated LIST?
selected() {
	case ",$2," in *",$1,"*) return 0 ;; esac
	return 1
}
out='' rounds=3 runtime=5 ramp=1 size=256 tsec=1 tcrypt=1 x16384=1 profile=0
il_sec=0
devices=${BENCH_DEVICES// /,}
jobs=${BENCH_JOBS// /,}
while [ $# -gt 0 ]; do
	case $1 in
	--no-tcrypt) tcrypt=0; shift; continue ;;
	--no-x16384) x16384=0; shift; continue ;;
	--profile) profile=1; shift; continue ;;
	esac
	[ $# -ge 2 ] || usage
	case $1 in
	--out) out=$2 ;;
	--devices) devices=$2 ;;
	--jobs) jobs=$2 ;;
	--rounds) rounds=$2 ;;
	--runtime) runtime=$2 ;;
	--ramp) ramp=$2 ;;
	--size) size=$2 ;;
	--tcrypt-sec) tsec=$2 ;;
	--interleave) il_sec=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[ -n "$out" ] || usage
for v in "$rounds" "$runtime" "$ramp" "$size" "$tsec" "$il_sec"; do
	case $v in '' | *[!0-9]*) usage ;; esac
done
if [ "$size" -lt 16 ] || [ $((size & (size - 1))) != 0 ] ||
	[ "$rounds" -lt 1 ] || [ "$runtime" -lt 1 ]; then
	echo "bench-guest: --size must be a power of two >= 16, --rounds and --runtime >= 1" >&2
	exit 2
fi
devices=$(bench_pick --devices "$devices" "$BENCH_DEVICES") || exit 2
jobs=$(bench_pick --jobs "$jobs" "$BENCH_JOBS") || exit 2

raw=$out/raw
rm -rf "$raw"
mkdir -p "$raw"
work=$(mktemp -d /tmp/cmkbench.XXXXXX)

log() { echo "bench: [$(cut -d' ' -f1 /proc/uptime)] $*" >&2; }
# span A B [DIGITS]: B - A, seconds from now() stamps, with DIGITS decimals
# (3).
span() { awk -v a="$1" -v b="$2" -v d="${3:-3}" 'BEGIN { printf "%.*f", d, b - a }'; }

# dm_node NAME, dm_remove NAME: from the guest tests' helpers (which also
# set an EXIT trap of their own, replaced below).
# shellcheck source=tests/kernel/lib.sh
. "$repo/tests/kernel/lib.sh"
DMS=()
cleanup() {
	local d
	for d in "${DMS[@]}"; do
		dmsetup info "$d" >/dev/null 2>&1 && dm_remove "$d"
	done
	rm -rf "$work" "$CMK_TMP"
}
trap cleanup EXIT

# Process substitution needs /dev/fd, which only udev or systemd make.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

# --- Modules --------------------------------------------------------------
kver=$(uname -r)
modprobe dm_mod
modprobe dm_crypt
if grep -q '^brd ' /proc/modules; then
	rmmod brd
fi
# One ramdisk for every device, and for the 16384 extents.
RAMDISK=/dev/ram0
modprobe brd rd_nr=1 rd_size=$((size * 1024)) max_part=0
ko=$repo/build/kernel/$kver/dm-cmk.ko
grep -q '^dm_cmk ' /proc/modules || insmod "$ko"
settle

L=$(blockdev --getsz "$RAMDISK")
log "kernel $kver, $(nproc) CPUs, ramdisk ${size} MiB ($L sectors)"

# --- System facts ---------------------------------------------------------
{
	echo "kernel=$kver"
	echo "cpus=$(nproc)"
	echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "mem_total_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
	echo "rounds=$rounds"
	echo "runtime_s=$runtime"
	echo "ramp_s=$ramp"
	echo "ramdisk_mib=$size"
	echo "ramdisks=1"
	echo "sectors=$L"
	echo "tcrypt_sec=$tsec"
	echo "fio=$(fio --version)"
} >"$raw/system.txt"
# The xts(aes) implementations, best first, as the crypto API sees them.
awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ { p = $3 }
	/^$/ { if (n == "xts(aes)") print p, d; n = "" }' /proc/crypto |
	sort -rn >"$raw/xts-drivers.txt" || true

# --- Fill the ramdisk -----------------------------------------------------
t0=$(now)
dd if=/dev/urandom of="$RAMDISK" bs=1M count="$size" oflag=direct status=none
log "filled the ramdisk with random data in $(span "$t0" "$(now)" 1) s"

# --- Keys -----------------------------------------------------------------
# dm-cmk: one per extent of the largest table loaded, "<prefix><extent>".
CRYPT_KEY=cmkbench:crypt
CMK_PREFIX=cmkbench:k:
NKEYS=0
if selected cmk512 "$devices" || selected cmk4096 "$devices"; then
	NKEYS=4
fi
if selected cmk4096_x4096 "$devices"; then
	NKEYS=4096
fi
if [ "$x16384" = 1 ]; then
	NKEYS=16384
fi
head -c 64 /dev/urandom | keyctl padd logon "$CRYPT_KEY" @s >/dev/null
if [ "$NKEYS" -gt 0 ]; then
	t0=$(now)
	"$PY" "$helper" addkeys "$CMK_PREFIX" "$NKEYS"
	log "added $NKEYS logon keys in $(span "$t0" "$(now)" 1) s"
fi

# --- Devices --------------------------------------------------------------
# devices.txt: id node table (the table names keys, never holds them).
: >"$raw/devices.txt"
add_dev() {
	local id=$1 node=$2 table=$3
	printf '%s\t%s\t%s\n' "$id" "$node" "$table" >>"$raw/devices.txt"
}
dm_dev() {
	local id=$1 table=$2 name=bench-$1
	dmsetup create "$name" --table "$table"
	DMS+=("$name")
	settle
	add_dev "$id" "$(dm_node "$name")" "$table"
}
# dm_table ID: the table of device ID (a dm one).
dm_table() {
	local r=$RAMDISK
	case $1 in
	crypt_default) echo "0 $L crypt aes-xts-plain64 :64:logon:$CRYPT_KEY 0 $r 0" ;;
	crypt_tuned) echo "0 $L crypt aes-xts-plain64 :64:logon:$CRYPT_KEY 0 $r 0 3 no_read_workqueue no_write_workqueue sector_size:4096" ;;
	cmk512) echo "0 $L cmk $r 0 $((L / 4)) 512 $CMK_PREFIX" ;;
	cmk4096) echo "0 $L cmk $r 0 $((L / 4)) 4096 $CMK_PREFIX" ;;
	cmk4096_x4096) echo "0 $L cmk $r 0 $((L / 4096)) 4096 $CMK_PREFIX" ;;
	esac
}
for id in "${ALL_DEVICES[@]}"; do
	selected "$id" "$devices" || continue
	if [ "$id" = raw ]; then
		add_dev raw "$RAMDISK" ""
	else
		dm_dev "$id" "$(dm_table "$id")"
	fi
done
mapfile -t DEVS < <(cut -f1 "$raw/devices.txt")
declare -A NODE
while IFS=$'\t' read -r id node _; do
	NODE[$id]=$node
done <"$raw/devices.txt"
log "devices: $(for d in "${DEVS[@]}"; do printf '%s=%s ' "$d" "${NODE[$d]}"; done)"

# --- Cipher ceiling -------------------------------------------------------
# tcrypt does all its work in its init function and then fails on purpose
# (EAGAIN), so modprobe's exit code means nothing; the results are in the
# kernel log.  Mode 500 runs every AES mode, 364 tests: ~6 min at sec=1.
if [ "$tcrypt" = 0 ]; then
	log "tcrypt: skipped (--no-tcrypt)"
	echo "method=none" >"$raw/cipher.txt"
else
	t0=$(now)
	log "tcrypt mode=500 sec=$tsec"
	# tcrypt's speed tests refuse to stay loaded: modprobe fails with
	# EAGAIN by design.  Any other failure is logged (no ceiling then).
	if ! terr=$(modprobe tcrypt mode=500 sec="$tsec" 2>&1) &&
	   [[ $terr != *"Resource temporarily unavailable"* ]]; then
		log "tcrypt: $terr"
	fi
	dmesg | grep -E 'tcrypt|testing speed of|bit key, [0-9]+ byte blocks|operations? in' \
		>"$raw/tcrypt.txt" || true
	{
		echo "method=tcrypt"
		echo "seconds=$(span "$t0" "$(now)" 1)"
		dmesg | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/tsc_mhz=\1/p; s/.*tsc: Detected \([0-9.]*\) MHz.*/tsc_mhz_detected=\1/p'
	} >"$raw/cipher.txt"
	if ! "$PY" "$helper" tcrypt "$raw/tcrypt.txt" >/dev/null 2>&1; then
		# No usable tcrypt output: dm-crypt (tuned, so the cipher runs
		# in fio's context) over a target that reads zeroes and drops
		# writes.
		log "no xts(aes) lines from tcrypt: measuring dm-crypt over a zero target"
		dmsetup create bench-zero --table "0 $L zero"
		DMS+=(bench-zero)
		dmsetup create bench-zcrypt --table "0 $L crypt aes-xts-plain64 :64:logon:$CRYPT_KEY 0 $(dm_node bench-zero) 0 3 no_read_workqueue no_write_workqueue sector_size:4096"
		DMS+=(bench-zcrypt)
		settle
		echo "method=dm-crypt-zero" >"$raw/cipher.txt"
		for rw in read write; do
			fio --name="zero-$rw" --filename="$(dm_node bench-zcrypt)" \
				--direct=1 --ioengine=libaio --time_based \
				--runtime="$runtime" --rw=$rw --bs=1M --iodepth=8 \
				--output-format=json --output="$raw/zero-$rw.json" ||
				log "fio on dm-crypt over zero failed"
		done
		dm_remove bench-zcrypt
		dm_remove bench-zero
	fi
fi

# --- fio ------------------------------------------------------------------
# jobs.txt: id rw bs iodepth, the selected jobs only.
bench_jobspecs | while IFS=$'\t' read -r job spec; do
	if selected "$job" "$jobs"; then
		printf '%s\t%s\n' "$job" "$spec"
	fi
done >"$raw/jobs.txt"
mapfile -t JOBS < <(cut -f1 "$raw/jobs.txt")

# One fio run per round (fio starts once a round: each start costs seconds
# under TCG).  Within it every job in turn, the jobs in a new random order
# each round, and for each job every device in a new random order, one
# stonewalled section "JOB@DEVICE" each.  The devices a ratio compares thus
# run within (runtime + ramp) x devices seconds of each other, so that any
# slow swing of the shared host hits them alike; report.py pairs them by
# round.  (Measured, most of the noise is faster than that and only more
# rounds shrink it: dm-cmk-performance.rst, step 6.)  fio runs
# exec_prerun/exec_postrun with their output going to
# SECTION.{pre,post}run.txt in its cwd: the CPU counters right before and
# right after each section's I/O (ramp included).
#
# jobfile ORDER: the fio job file of a round; ORDER has "job device" lines.
jobfile() {
	printf '[global]\ndirect=1\nioengine=libaio\n'
	printf 'time_based\nruntime=%s\nramp_time=%s\n' "$runtime" "$ramp"
	printf 'randrepeat=0\nnorandommap\nstonewall\n'
	printf 'exec_prerun=head -n 1 /proc/stat\n'
	printf 'exec_postrun=head -n 1 /proc/stat\n'
	local job dev rw bs qd
	while read -r job dev; do
		read -r rw bs qd <<<"${SPEC[$job]}"
		printf '\n[%s@%s]\nfilename=%s\nrw=%s\nbs=%s\niodepth=%s\n' \
			"$job" "$dev" "${NODE[$dev]}" "$rw" "$bs" "$qd"
	done <"$1"
}
declare -A SPEC
while IFS=$'\t' read -r job rw bs qd; do
	SPEC[$job]="$rw $bs $qd"
done <"$raw/jobs.txt"

# runs.txt: round seq position job device rc: seq counts the sections of
# the whole run in the order they ran, position is the device's place in
# its job's block, rc fio's exit code for the round.  Round R's fio output
# is run.R.json; each section's CPU counters run.R.SECTION.{pre,post}.
: >"$raw/runs.txt"
seq=0
t0=$(now)
for ((r = 1; r <= rounds; r++)); do
	f=$raw/run.$r
	for job in $(shuf -e "${JOBS[@]}"); do
		pos=0
		for dev in $(shuf -e "${DEVS[@]}"); do
			pos=$((pos + 1))
			echo "$job $dev $pos"
		done
	done >"$f.order"
	jobfile <(cut -d' ' -f1,2 "$f.order") >"$f.fio"
	rm -f "$work"/*.prerun.txt "$work"/*.postrun.txt
	rc=0
	(cd "$work" && fio --output-format=json --output="$f.json" "$f.fio") \
		</dev/null >"$f.log" 2>&1 || rc=$?
	# Shell builtins only: every exec counts under TCG.
	while read -r job dev pos; do
		seq=$((seq + 1))
		for w in pre post; do
			l=''
			read -r l <"$work/$job@$dev.${w}run.txt" 2>/dev/null || true
			echo "$l" >"$f.$job@$dev.$w"
		done
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$seq" "$pos" "$job" \
			"$dev" "$rc" >>"$raw/runs.txt"
	done <"$f.order"
	[ "$rc" = 0 ] || log "round $r: fio exit $rc"
	log "round $r/$rounds done ($seq fio sections, $(span "$t0" "$(now)" 0) s)"
done

# --- Interleaved slices ---------------------------------------------------
# The target comparisons once more, measured to within a few per cent:
# bench/cmk-interleave runs a job on the devices the targets compare in
# slices of a few tens of milliseconds, alternating between them in a new
# random order each cycle, so that the host's swings over seconds, the
# bulk of the fio runs' noise, hit every device of a cycle alike.  A second
# tuned dm-crypt table on the same ramdisk, crypt_tuned_aa, is the control:
# its ratio to crypt_tuned shows what the method itself gives between equal
# devices.  Slices: 50 ms at iodepth 1, 100 ms for 4k at depth, 500 ms for
# 1M, so that the wait for the last I/Os of a slice is a small part of it.
# il.txt: job slice_ms cycles rc; il.JOB.txt the slices (see the program).
if [ "$il_sec" = 0 ]; then
	log "interleaved: skipped (--interleave 0)"
else
	ildevs=()
	for id in crypt_default crypt_tuned cmk4096 cmk4096_x4096; do
		if selected "$id" "$devices"; then
			ildevs+=("$id=${NODE[$id]}")
		fi
	done
	if selected crypt_tuned "$devices"; then
		dmsetup create bench-crypt_tuned_aa --table "$(dm_table crypt_tuned)"
		DMS+=(bench-crypt_tuned_aa)
		settle
		ildevs+=("crypt_tuned_aa=$(dm_node bench-crypt_tuned_aa)")
	fi
	: >"$raw/il.txt"
	if [ "${#ildevs[@]}" -lt 2 ]; then
		log "interleaved: skipped (fewer than two of its devices selected)"
	else
		t0=$(now)
		for job in "${JOBS[@]}"; do
			read -r rw bs qd <<<"${SPEC[$job]}"
			case $bs in
			*k) bytes=$((${bs%k} * 1024)) ;;
			*M) bytes=$((${bs%M} * 1048576)) ;;
			*) bytes=$bs ;;
			esac
			slice=500
			if [ "$qd" = 1 ]; then
				slice=50
			elif [ "$bytes" -le 65536 ]; then
				slice=100
			fi
			cycles=$((il_sec * 1000 / (slice * ${#ildevs[@]})))
			[ "$cycles" -ge 2 ] || cycles=2
			rc=0
			"$interleave" --rw "$rw" --bs "$bytes" --iodepth "$qd" \
				--slice-ms "$slice" --cycles "$cycles" \
				--seed "$RANDOM" "${ildevs[@]}" \
				>"$raw/il.$job.txt" 2>"$raw/il.$job.log" || rc=$?
			printf '%s\t%s\t%s\t%s\n' "$job" "$slice" "$cycles" "$rc" \
				>>"$raw/il.txt"
			[ "$rc" = 0 ] || log "interleaved $job: exit $rc: $(head -c 300 "$raw/il.$job.log")"
		done
		log "interleaved: ${#JOBS[@]} jobs on ${#ildevs[@]} devices in $(span "$t0" "$(now)" 0) s"
	fi
	if selected crypt_tuned "$devices"; then
		dm_remove bench-crypt_tuned_aa
	fi
fi

# --- Profiles -------------------------------------------------------------
if [ "$profile" = 1 ]; then
	for job in "${JOBS[@]}"; do
		for dev in "${DEVS[@]}"; do
			f=$raw/profile.$job@$dev
			echo "$job $dev" >"$f.order"
			jobfile "$f.order" >"$f.fio"
			(cd "$work" && perf record -q -a -e cpu-clock -F 999 \
				-o "$work/perf.data" -- fio --output-format=json \
				--output="$f.json" "$f.fio") </dev/null >"$f.log" 2>&1 ||
				log "profile of $job on $dev: perf or fio failed"
			perf report -i "$work/perf.data" --no-children --sort sym \
				--stdio --percent-limit 0.5 >"$f.txt" 2>>"$f.log" || true
		done
	done
	log "profiles: $(find "$raw" -name 'profile.*.txt' -size +0 | wc -l) written"
fi

# --- 16384 extents: table load time and kernel memory ------------------
# On the ramdisk, now that nothing is measured on it.  The keys are in the
# keyring already, so the memory delta is the table's own.
if [ "$x16384" = 0 ]; then
	log "16384 extents: skipped (--no-x16384)"
else
	N16=16384
	X16_REPS=3
	E16=$((L / N16))
	du=4096
	[ "$E16" -ge 8 ] || du=512
	x16=bench-x16384
	table16="0 $L cmk $RAMDISK 0 $E16 $du $CMK_PREFIX"
	# No drop_caches: it would make the timed dmsetup (and udev's helpers)
	# cold execs from 9p; the table's memory is unreclaimable slab anyway.
	mem_snap() {
		grep -E '^(Slab|SReclaimable|SUnreclaim|VmallocUsed|Percpu|MemFree):' \
			/proc/meminfo >"$1.meminfo"
		cat /proc/slabinfo >"$1.slabinfo" 2>/dev/null || true
	}
	dmsetup version >/dev/null	# warm: a cold exec costs seconds under TCG
	# X16_REPS times: a whole create (kernel memory measured around the
	# first), then the same split into an empty device, the table load
	# (the constructor: key lookups and transforms) and the resume.  Single
	# timings vary by 20 % under TCG; report.py takes the medians.
	creates='' loads='' resumes='' removes=''
	for ((i = 1; i <= X16_REPS; i++)); do
		if [ "$i" = 1 ]; then
			mem_snap "$raw/x16384.before"
		fi
		t0=$(now)
		dmsetup create "$x16" --table "$table16"
		t1=$(now)
		DMS+=("$x16")
		settle
		if [ "$i" = 1 ]; then
			mem_snap "$raw/x16384.after"
		fi
		t2=$(now)
		dm_remove "$x16"
		t3=$(now)
		dmsetup create "$x16" --notable
		t4=$(now)
		dmsetup load "$x16" --table "$table16"
		t5=$(now)
		dmsetup resume "$x16"
		t6=$(now)
		dm_remove "$x16"
		creates+=" $(span "$t0" "$t1")" removes+=" $(span "$t2" "$t3")"
		loads+=" $(span "$t4" "$t5")" resumes+=" $(span "$t5" "$t6")"
	done
	{
		echo "extents=$N16"
		echo "extent_sectors=$E16"
		echo "data_unit=$du"
		echo "table=$table16"
		echo "create_s_list=${creates# }"
		echo "remove_s_list=${removes# }"
		echo "load_s_list=${loads# }"
		echo "resume_s_list=${resumes# }"
	} >"$raw/x16384.txt"
	log "16384 extents: $(tr '\n' ' ' <"$raw/x16384.txt")"
fi

# The driver dm-cmk picked (logged at table load).
dmesg | grep -E 'cmk: .*extents of .*, cipher ' | tail -n 1 |
	sed 's/.*, cipher /cmk_cipher=/' >>"$raw/system.txt" || true

"$PY" "$helper" collect "$raw" >"$out/results.json"
log "wrote $out/results.json"
