// SPDX-License-Identifier: GPL-2.0
/*
 * cmk-interleave: one block I/O job on several devices in short alternating
 * slices, so that the devices' throughputs are compared within
 * milliseconds of each other instead of seconds.  Part of `make bench`
 * (bench/bench-guest.sh): under TCG on a shared host, a run's throughput
 * swings by 3-18 % over seconds (Documentation/admin-guide/device-mapper/
 * dm-cmk-performance.rst, step 6), more than the differences the targets
 * ask about; swings slower than a slice hit every device of a cycle alike.
 *
 *   cmk-interleave --rw randread|randwrite|read|write --bs BYTES
 *                  --iodepth N --slice-ms MS --cycles N [--ramp-cycles N]
 *                  [--seed N] ID=DEVICE...
 *
 * A cycle runs one slice on every device, in a new random order each cycle.
 * A slice keeps N I/Os in flight (Linux AIO, O_DIRECT, like fio's libaio
 * engine) for MS milliseconds, then stops submitting and waits for the
 * I/Os still in flight: each device runs alone, and a slice's time runs
 * from its first submission to its last completion.  Random offsets are
 * multiples of BYTES over the smallest device (or regular file); sequential jobs go on from
 * where the device's previous slice stopped.  Writes write random data.
 *
 * Output (stdout), one line per measured slice after --ramp-cycles cycles
 * (default 1) that are run and thrown away:
 *   CYCLE POSITION ID IOS NANOSECONDS
 * Errors go to stderr as "cmk-interleave: error: ...".
 *
 * Exit codes: 0 ok, 1 I/O or system error, 2 usage.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>
#include <linux/fs.h>

#define CI_MAX_DEVS	16
#define CI_MAX_DEPTH	256
#define CI_ALIGN	4096

enum { CI_EXIT_FAIL = 1, CI_EXIT_USAGE = 2 };

static const char *prog = "cmk-interleave";

struct ci_dev {
	const char *id;
	const char *path;
	int fd;
	uint64_t next;		/* sequential jobs: next offset */
};

struct ci_job {
	bool write;
	bool random;
	size_t bs;
	unsigned int depth;
	long slice_ns;
	uint64_t span;		/* bytes addressable on every device */
	aio_context_t ctx;
	void *bufs[CI_MAX_DEPTH];
	struct iocb iocbs[CI_MAX_DEPTH];
	uint64_t rng;
};

static void ci_usage(void)
{
	fprintf(stderr,
		"usage: %s --rw randread|randwrite|read|write --bs BYTES --iodepth N\n"
		"       --slice-ms MS --cycles N [--ramp-cycles N] [--seed N] ID=DEVICE...\n",
		prog);
	exit(CI_EXIT_USAGE);
}

static int ci_error(const char *what, const char *on, int err)
{
	fprintf(stderr, "%s: error: %s%s%s: %s\n", prog, what, on ? " " : "",
		on ? on : "", strerror(err));
	return CI_EXIT_FAIL;
}

/* xorshift64*: the offsets only need to be spread, not secret. */
static uint64_t ci_rand(struct ci_job *j)
{
	j->rng ^= j->rng >> 12;
	j->rng ^= j->rng << 25;
	j->rng ^= j->rng >> 27;
	return j->rng * 0x2545F4914F6CDD1DULL;
}

static int64_t ci_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool ci_number(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ci_prep: point iocb @i at device @d, at a fresh offset. */
static void ci_prep(struct ci_job *j, struct ci_dev *d, unsigned int i)
{
	struct iocb *cb = &j->iocbs[i];
	uint64_t off;

	if (j->random) {
		off = (ci_rand(j) % (j->span / j->bs)) * j->bs;
	} else {
		if (d->next + j->bs > j->span)
			d->next = 0;
		off = d->next;
		d->next += j->bs;
	}
	memset(cb, 0, sizeof(*cb));
	cb->aio_data = i;
	cb->aio_lio_opcode = j->write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
	cb->aio_fildes = d->fd;
	cb->aio_buf = (uintptr_t)j->bufs[i];
	cb->aio_nbytes = j->bs;
	cb->aio_offset = off;
}

static int ci_submit(struct ci_job *j, struct ci_dev *d, unsigned int i)
{
	struct iocb *cb = &j->iocbs[i];
	long rc;

	ci_prep(j, d, i);
	rc = syscall(SYS_io_submit, j->ctx, 1, &cb);
	if (rc != 1)
		return ci_error("submitting I/O to", d->path, rc < 0 ? errno : EAGAIN);
	return 0;
}

/*
 * ci_slice: one slice on @d.  Returns 0 with the completed I/Os in @ios and
 * the slice's nanoseconds in @ns, or an exit code.
 */
static int ci_slice(struct ci_job *j, struct ci_dev *d, uint64_t *ios,
		    int64_t *ns)
{
	struct io_event ev[CI_MAX_DEPTH];
	unsigned int i, inflight = 0;
	int64_t t0, stop, t;
	long n, k;
	int rc;

	*ios = 0;
	t0 = ci_now();
	stop = t0 + j->slice_ns;
	for (i = 0; i < j->depth; i++) {
		rc = ci_submit(j, d, i);
		if (rc)
			return rc;
		inflight++;
	}
	while (inflight) {
		n = syscall(SYS_io_getevents, j->ctx, 1, (long)inflight, ev, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ci_error("waiting for I/O on", d->path, errno);
		t = ci_now();
		for (k = 0; k < n; k++) {
			inflight--;
			if (ev[k].res != (int64_t)j->bs)
				return ci_error(j->write ? "writing" : "reading",
						d->path, ev[k].res < 0 ?
						(int)-ev[k].res : EIO);
			(*ios)++;
			if (t < stop) {
				rc = ci_submit(j, d, (unsigned int)ev[k].data);
				if (rc)
					return rc;
				inflight++;
			}
		}
	}
	*ns = ci_now() - t0;
	return 0;
}

static int ci_open(struct ci_job *j, struct ci_dev *devs, int ndev)
{
	struct stat st;
	uint64_t size;
	int i;

	j->span = UINT64_MAX;
	for (i = 0; i < ndev; i++) {
		devs[i].fd = open(devs[i].path,
				  (j->write ? O_RDWR : O_RDONLY) | O_DIRECT);
		if (devs[i].fd < 0)
			return ci_error("opening", devs[i].path, errno);
		if (fstat(devs[i].fd, &st))
			return ci_error("reading the size of", devs[i].path, errno);
		if (S_ISREG(st.st_mode))
			size = (uint64_t)st.st_size;
		else if (ioctl(devs[i].fd, BLKGETSIZE64, &size))
			return ci_error("reading the size of", devs[i].path, errno);
		if (size < j->span)
			j->span = size;
	}
	if (j->span < j->bs) {
		fprintf(stderr, "%s: error: devices smaller than one I/O of %zu bytes\n",
			prog, j->bs);
		return CI_EXIT_FAIL;
	}
	return 0;
}

static int ci_buffers(struct ci_job *j)
{
	unsigned int i;
	size_t k;

	for (i = 0; i < j->depth; i++) {
		if (posix_memalign(&j->bufs[i], CI_ALIGN, j->bs))
			return ci_error("allocating buffers", NULL, ENOMEM);
		for (k = 0; k + sizeof(uint64_t) <= j->bs; k += sizeof(uint64_t)) {
			uint64_t r = ci_rand(j);

			memcpy((char *)j->bufs[i] + k, &r, sizeof(r));
		}
	}
	return 0;
}

static void ci_shuffle(struct ci_job *j, int *order, int n)
{
	int i, k, t;

	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		k = (int)(ci_rand(j) % (uint64_t)(i + 1));
		t = order[i];
		order[i] = order[k];
		order[k] = t;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "iodepth", required_argument, NULL, 'd' },
		{ "slice-ms", required_argument, NULL, 's' },
		{ "cycles", required_argument, NULL, 'c' },
		{ "ramp-cycles", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ci_dev devs[CI_MAX_DEVS];
	struct ci_job j = { .rng = 0x9E3779B97F4A7C15ULL };
	long bs = 0, depth = 0, slice = 0, cycles = 0, ramp = 1, seed = 0, v;
	int order[CI_MAX_DEVS];
	const char *rw = NULL;
	int c, i, ndev = 0, rc;
	long cyc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rw = optarg;
			break;
		case 'b':
			if (!ci_number(optarg, 512, 64L << 20, &bs) || bs % 512)
				ci_usage();
			break;
		case 'd':
			if (!ci_number(optarg, 1, CI_MAX_DEPTH, &depth))
				ci_usage();
			break;
		case 's':
			if (!ci_number(optarg, 1, 60000, &slice))
				ci_usage();
			break;
		case 'c':
			if (!ci_number(optarg, 1, 1000000, &cycles))
				ci_usage();
			break;
		case 'R':
			if (!ci_number(optarg, 0, 1000000, &ramp))
				ci_usage();
			break;
		case 'S':
			if (!ci_number(optarg, 0, LONG_MAX, &v))
				ci_usage();
			seed = v;
			break;
		default:
			ci_usage();
		}
	}
	if (!rw || !bs || !depth || !slice || !cycles || optind >= argc)
		ci_usage();
	if (!strcmp(rw, "randread") || !strcmp(rw, "randwrite"))
		j.random = true;
	else if (strcmp(rw, "read") && strcmp(rw, "write"))
		ci_usage();
	j.write = !strcmp(rw, "randwrite") || !strcmp(rw, "write");
	j.bs = (size_t)bs;
	j.depth = (unsigned int)depth;
	j.slice_ns = slice * 1000000L;
	j.rng ^= (uint64_t)seed * 0xBF58476D1CE4E5B9ULL;
	for (i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (ndev == CI_MAX_DEVS || !eq || eq == argv[i] || !eq[1])
			ci_usage();
		*eq = '\0';
		devs[ndev].id = argv[i];
		devs[ndev].path = eq + 1;
		devs[ndev].next = 0;
		ndev++;
	}

	rc = ci_open(&j, devs, ndev);
	if (rc)
		return rc;
	rc = ci_buffers(&j);
	if (rc)
		return rc;
	if (syscall(SYS_io_setup, j.depth, &j.ctx))
		return ci_error("setting up AIO", NULL, errno);

	for (cyc = 1 - ramp; cyc <= cycles; cyc++) {
		ci_shuffle(&j, order, ndev);
		for (i = 0; i < ndev; i++) {
			struct ci_dev *d = &devs[order[i]];
			uint64_t ios;
			int64_t ns;

			rc = ci_slice(&j, d, &ios, &ns);
			if (rc)
				return rc;
			if (cyc > 0)
				printf("%ld %d %s %" PRIu64 " %" PRId64 "\n",
				       cyc, i + 1, d->id, ios, ns);
		}
	}
	if (fflush(stdout))
		return ci_error("writing the results", NULL, errno);
	return 0;
}
