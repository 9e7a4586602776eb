// SPDX-License-Identifier: GPL-2.0
/*
 * mem_hog MIB SECONDS: keep MIB MiB of anonymous memory busy for SECONDS
 * seconds, so that a guest with less memory swaps all the time, and check
 * every page that comes back from swap.
 *
 * Each round visits every page in a new pseudo-random order, checks that
 * it holds what the previous round wrote there (a pattern of its index and
 * the round) and writes this round's pattern.  Prints progress on
 * standard error every 10 s and a summary on standard output:
 *   "rounds R pages P mismatches 0 seconds S".
 * Exit: 0, 1 on a mismatch (the first few are described), 2 on usage or
 * allocation errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WORDS_CHECKED	8	/* per page: the first 8 words and the last */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static uint64_t pattern(uint64_t page, uint64_t round, unsigned int word)
{
	uint64_t x = (page << 20) ^ (round << 8) ^ word;

	/* splitmix64 finaliser: every word differs, none is zero */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (x ^ (x >> 31)) | 1;
}

int main(int argc, char **argv)
{
	size_t page_size = sysconf(_SC_PAGESIZE);
	size_t words = page_size / sizeof(uint64_t);
	uint64_t npages, round, i, p, step, mismatches = 0, visited = 0;
	double start, limit, shown;
	uint64_t *mem;
	unsigned int w;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MIB SECONDS\n", argv[0]);
		return 2;
	}
	errno = 0;
	npages = strtoull(argv[1], &end, 10) * (1024 * 1024 / page_size);
	if (errno || *end || !npages) {
		fprintf(stderr, "mem_hog: invalid size %s\n", argv[1]);
		return 2;
	}
	limit = strtod(argv[2], &end);
	if (*end || limit <= 0) {
		fprintf(stderr, "mem_hog: invalid duration %s\n", argv[2]);
		return 2;
	}

	mem = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "mem_hog: mmap %" PRIu64 " pages: %s\n",
			npages, strerror(errno));
		return 2;
	}

	start = shown = now();
	for (round = 0; now() - start < limit || round < 2; round++) {
		/* A step coprime with npages visits every page once. */
		step = (round * 2654435761ULL + npages / 3) % npages | 1;
		while (gcd(step, npages) != 1)
			step += 2;
		for (i = 0, p = round % npages; i < npages;
		     i++, p = (p + step) % npages) {
			uint64_t *pg = mem + p * words;

			if (round) {
				for (w = 0; w <= WORDS_CHECKED; w++) {
					unsigned int at = w < WORDS_CHECKED ?
							  w : words - 1;

					if (pg[at] == pattern(p, round - 1, at))
						continue;
					if (++mismatches <= 5)
						fprintf(stderr,
							"mem_hog: round %" PRIu64 ": page %" PRIu64 " word %u: %#" PRIx64 ", expected %#" PRIx64 "\n",
							round, p, at, pg[at],
							pattern(p, round - 1, at));
				}
			}
			for (w = 0; w < WORDS_CHECKED; w++)
				pg[w] = pattern(p, round, w);
			pg[words - 1] = pattern(p, round, words - 1);
			visited++;
		}
		if (now() - shown >= 10) {
			shown = now();
			fprintf(stderr, "mem_hog: round %" PRIu64 " done at %.1f s\n",
				round, shown - start);
		}
	}
	printf("rounds %" PRIu64 " pages %" PRIu64 " mismatches %" PRIu64 " seconds %.1f\n",
	       round, visited, mismatches, now() - start);
	return mismatches ? 1 : 0;
}
