// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target of the header codec and the two-copy reader.
 *
 * Input: one mode byte, then the bytes of a header area (copy A at 0, copy
 * B at A's copy size).  Mode bit 0 recomputes the checksums of both copies
 * first, so that mutations reach the checks behind the checksum; bit 1
 * runs cmk_hdr_read() and cmk_hdr_write() on a memfd holding the bytes;
 * otherwise cmk_hdr_decode() runs on them.  Whatever decodes must
 * re-encode, decode again to the same header, and write back readable.
 *
 * Built three ways:
 *  - by tests/host/fuzz-header.sh with clang -fsanitize=fuzzer,address
 *    and -DCMK_LIBFUZZER: libFuzzer's main;
 *  - by the Makefile as a host test: a standalone TAP driver that runs the
 *    seeds and a few seconds of deterministic random mutations;
 *  - "fuzz_header --seeds DIR" writes the seed corpus,
 *    "fuzz_header FILE..." replays inputs (crash reproduction).
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmk-hdr.h"

#define FUZZ_MAX	(1 << 20)

/* The volume key a header that decodes is sealed with and written back. */
static const uint8_t fuzz_vk[CMK_VK_SIZE] = { 0x42, 0x17 };

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_header: invariant broken: %s\n", what);
	abort();
}

/* Recompute the checksum of the copy at @off if its fixed part is sane. */
static void fix_copy(uint8_t *buf, size_t len, uint64_t off)
{
	struct cmk_hdr_disk d;
	uint64_t copy;

	if (off > len || len - off < sizeof(d))
		return;
	memcpy(&d, buf + off, sizeof(d));
	copy = le64toh(d.copy_size);
	if (copy >= CMK_HDR_FIXED_SIZE && copy <= len - off)
		cmk_hdr_checksum(buf + off, copy);
}

static uint64_t claimed(const uint8_t *buf, size_t len)
{
	struct cmk_hdr_disk d;

	if (len < sizeof(d))
		return 0;
	memcpy(&d, buf, sizeof(d));
	return le64toh(d.copy_size);
}

static void check_decoded(const struct cmk_hdr *h)
{
	struct cmk_hdr *h2;
	const char *why;
	uint8_t *buf, dek[CMK_DEK_SIZE];
	static const uint8_t vk[CMK_VK_SIZE];
	int ret;

	if (!h->extent_count || h->copy_size < cmk_hdr_copy_size(h->extent_count))
		fuzz_fail("decoded header with bad sizes");
	buf = malloc(h->copy_size);
	if (!buf)
		return;
	if (cmk_hdr_encode(h, buf, h->copy_size, &why))
		fuzz_fail("a decoded header does not re-encode");
	if (cmk_hdr_decode(buf, h->copy_size, &h2, &why))
		fuzz_fail("a re-encoded header does not decode");
	if (h2->seqno != h->seqno || h2->extent_count != h->extent_count ||
	    h2->data_offset != h->data_offset ||
	    memcmp(h2->uuid, h->uuid, sizeof(h->uuid)) ||
	    memcmp(&h2->kek, &h->kek, sizeof(h->kek)) ||
	    memcmp(&h2->dek_rot, &h->dek_rot, sizeof(h->dek_rot)) ||
	    memcmp(h2->ext, h->ext, h->extent_count * sizeof(*h->ext)))
		fuzz_fail("decode(encode(h)) != h");
	cmk_hdr_free(h2);
	free(buf);
	ret = cmk_dek_unwrap(vk, h->uuid, 0, &h->ext[0], dek);
	if (ret && ret != -EBADMSG)
		fuzz_fail("unwrap failed with an unexpected error");
}

static void fuzz_read(const uint8_t *buf, size_t len)
{
	struct cmk_hdr_read_info info;
	struct cmk_hdr *h;
	const char *why;
	uint64_t seq;
	int fd, ret;

	fd = memfd_create("cmk-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, buf, len) != (ssize_t)len)
		goto out;
	ret = cmk_hdr_read(fd, &h, &info);
	if (ret) {
		if (info.err[0] == 0 || info.err[1] == 0)
			fuzz_fail("read failed with a valid copy");
		goto out;
	}
	if (h->copy != CMK_HDR_COPY_A && h->copy != CMK_HDR_COPY_B)
		fuzz_fail("read returned no copy");
	check_decoded(h);
	seq = h->seqno;
	if (seq == UINT64_MAX || h->ro_compat) {
		cmk_hdr_free(h);
		goto out;
	}
	if (cmk_hdr_write(fd, h, fuzz_vk, &why))
		fuzz_fail("a header read does not write back");
	cmk_hdr_free(h);
	if (cmk_hdr_read(fd, &h, &info) || info.degraded || h->seqno != seq + 1)
		fuzz_fail("a header written does not read back whole");
	if (cmk_hdr_authentic(h, fuzz_vk))
		fuzz_fail("a header sealed does not authenticate");
	cmk_hdr_free(h);
out:
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmk_hdr *h;
	const char *why;
	uint8_t mode, *buf;
	size_t len;

	if (!size || size > FUZZ_MAX)
		return 0;
	mode = data[0];
	len = size - 1;
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if (mode & 1) {
		fix_copy(buf, len, 0);
		fix_copy(buf, len, claimed(buf, len));
	}
	if (mode & 2) {
		fuzz_read(buf, len);
	} else if (!cmk_hdr_decode(buf, len, &h, &why)) {
		if (why)
			fuzz_fail("success with a message");
		check_decoded(h);
		cmk_hdr_free(h);
	} else if (!why) {
		fuzz_fail("failure without a message");
	}
	free(buf);
	return 0;
}

#ifndef CMK_LIBFUZZER

static const uint8_t seed_vk[CMK_VK_SIZE] = { 1, 2, 3 };

/* A seed: mode 3 and both copies of a valid header of @n extents. */
static uint8_t *make_seed(uint32_t n, int variant, size_t *size)
{
	struct cmk_hdr *h;
	const char *why;
	uint8_t *out = NULL;
	uint32_t i;

	if (cmk_hdr_alloc((uint64_t)n * 16, 16, variant == 2 ? 4096 : 512,
			  CMK_HDR_ALLOC_DETACHED, &h))
		return NULL;
	strcpy(h->label, "seed");
	strcpy(h->kek.vault_type, "pkcs11");
	strcpy(h->kek.uri, "pkcs11:token=cmk;object=kek");
	h->kek.wrap_alg = CMK_VK_WRAP_RSA_OAEP_SHA256;
	h->kek.wrapped_vk_len = 256;
	for (i = 0; i < n; i++)
		if (cmk_hdr_new_dek(h, seed_vk, i))
			goto out;
	if (variant == 1) {
		h->incompat |= CMK_HDR_INCOMPAT_KEK_ROT | CMK_HDR_INCOMPAT_DEK_ROT;
		h->kek_state = CMK_KEK_ROT_STAGED;
		h->kek_new = h->kek;
		strcpy(h->kek_new.key_version, "2");
		h->dek_rot.state = CMK_DEK_ROT_RUNNING;
		h->dek_rot.extent = n - 1;
		h->dek_rot.watermark = 8;
		h->dek_rot.new_dek = h->ext[n - 1];
		h->dek_rot.new_dek.generation = 2;
	}
	*size = 1 + 2 * h->copy_size;
	out = calloc(1, *size);
	if (!out)
		goto out;
	out[0] = 3;
	h->seqno = 7;
	if (cmk_hdr_encode(h, out + 1, h->copy_size, &why) ||
	    cmk_hdr_encode(h, out + 1 + h->copy_size, h->copy_size, &why)) {
		free(out);
		out = NULL;
	}
out:
	cmk_hdr_free(h);
	return out;
}

static const struct { uint32_t n; int variant; } seeds[] = {
	{ 1, 0 }, { 3, 1 }, { 7, 0 }, { 40, 2 }, { 33, 1 },
};
#define NR_SEEDS (sizeof(seeds) / sizeof(seeds[0]))

static int write_seeds(const char *dir)
{
	char path[4096];
	uint8_t *s;
	size_t i, n;
	FILE *f;

	mkdir(dir, 0755);
	for (i = 0; i < NR_SEEDS; i++) {
		s = make_seed(seeds[i].n, seeds[i].variant, &n);
		snprintf(path, sizeof(path), "%s/seed-%zu", dir, i);
		f = fopen(path, "w");
		if (!s || !f || fwrite(s, 1, n, f) != n) {
			fprintf(stderr, "cannot write %s\n", path);
			return 1;
		}
		fclose(f);
		free(s);
	}
	return 0;
}

static int replay(int argc, char **argv)
{
	static uint8_t buf[FUZZ_MAX];
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		printf("ok %d - %s\n", i, argv[i]);
	}
	return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Deterministic mutations of the seeds for @secs seconds; returns count. */
static unsigned long mutate(double secs)
{
	struct timespec t0, t;
	unsigned long runs = 0;
	uint8_t *s[NR_SEEDS], *buf;
	size_t len[NR_SEEDS], i, n, k, m;

	for (i = 0; i < NR_SEEDS; i++) {
		s[i] = make_seed(seeds[i].n, seeds[i].variant, &len[i]);
		if (!s[i])
			exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		i = next() % NR_SEEDS;
		n = len[i];
		buf = malloc(n);
		memcpy(buf, s[i], n);
		buf[0] = next() & 3;
		m = 1 + next() % 4;
		for (k = 0; k < m; k++) {
			size_t at = 1 + next() % (n - 1);

			switch (next() % 4) {
			case 0:
				buf[at] ^= 1 << (next() % 8);
				break;
			case 1:
				buf[at] = next();
				break;
			case 2:	/* a field of the fixed parts */
				at = 1 + (next() % 2) * (n / 2) + next() % 256;
				if (at < n)
					buf[at] = next();
				break;
			default:
				if (!(next() % 4))
					n = 1 + next() % n;
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		runs++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	for (i = 0; i < NR_SEEDS; i++)
		free(s[i]);
	return runs;
}

/* Run @fn in a child so that a broken invariant is a test failure. */
static int run_child(int nr, const char *name, double secs)
{
	unsigned long runs = 0;
	int pipefd[2], st;
	pid_t pid;

	if (pipe(pipefd))
		return 1;
	fflush(stdout);
	pid = fork();
	if (!pid) {
		size_t i, n;
		uint8_t *s;

		close(pipefd[0]);
		if (secs > 0) {
			runs = mutate(secs);
		} else {
			for (i = 0; i < NR_SEEDS; i++) {
				s = make_seed(seeds[i].n, seeds[i].variant, &n);
				struct cmk_hdr *h;
				const char *why;

				if (!s)
					_exit(2);
				if (cmk_hdr_decode(s + 1, n - 1, &h, &why)) {
					fprintf(stderr, "seed %zu: %s\n", i, why);
					_exit(4);
				}
				cmk_hdr_free(h);
				for (s[0] = 0; s[0] < 4; s[0]++, runs++)
					LLVMFuzzerTestOneInput(s, n);
				free(s);
			}
		}
		if (write(pipefd[1], &runs, sizeof(runs)) != sizeof(runs))
			_exit(3);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &runs, sizeof(runs)) != sizeof(runs))
		runs = 0;
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && !WEXITSTATUS(st)) {
		printf("ok %d - %s (%lu inputs)\n", nr, name, runs);
		return 0;
	}
	printf("not ok %d - %s (child status 0x%x)\n", nr, name, st);
	return 1;
}

int main(int argc, char **argv)
{
	int fail = 0;

	if (argc == 3 && !strcmp(argv[1], "--seeds"))
		return write_seeds(argv[2]);
	if (argc > 1)
		return replay(argc, argv);
	printf("TAP version 13\n1..2\n");
	fail |= run_child(1, "header fuzz seeds, every mode", 0);
	fail |= run_child(2, "header fuzz: random mutations for 3 s", 3);
	return fail;
}

#endif /* CMK_LIBFUZZER */
