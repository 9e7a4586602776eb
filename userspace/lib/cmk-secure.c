// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: buffers for secrets (volume key, DEKs).  Each buffer is its own
 * anonymous mapping, locked in memory (never swapped), excluded from core
 * dumps, wiped in a child after fork, and wiped before it is unmapped.
 */

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmk-hdr.h"

/* Bookkeeping in front of the caller's bytes, inside the locked mapping. */
struct cmk_secure_head {
	uint64_t magic;
	size_t map_len;
};

#define CMK_SECURE_MAGIC	0x636d6b7365637265ULL	/* "cmksecre" */
#define CMK_SECURE_HEAD		32	/* keeps the caller's bytes 32-aligned */

void (*cmk_secure_wipe_hook)(const void *area, size_t len);

/**
 * cmk_secure_alloc() - allocate a zeroed, mlocked buffer for a secret
 * @len: bytes wanted
 *
 * Return: the buffer, or NULL with errno set (ENOMEM when the memory
 * cannot be locked: a secret never lives in swappable memory).
 */
void *cmk_secure_alloc(size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	struct cmk_secure_head *head;
	size_t map_len;
	void *p;

	if (!len || len > SIZE_MAX / 2) {
		errno = EINVAL;
		return NULL;
	}
	map_len = (len + CMK_SECURE_HEAD + page - 1) / page * page;
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, map_len)) {
		munmap(p, map_len);
		errno = ENOMEM;
		return NULL;
	}
	madvise(p, map_len, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
	madvise(p, map_len, MADV_WIPEONFORK);
#endif
	head = p;
	head->magic = CMK_SECURE_MAGIC;
	head->map_len = map_len;
	return (char *)p + CMK_SECURE_HEAD;
}

/**
 * cmk_secure_free() - wipe, unlock and release a cmk_secure_alloc() buffer
 * @p: the buffer, or NULL
 *
 * The whole mapping is wiped with explicit_bzero(), which the compiler may
 * not elide, before munlock() and munmap().
 */
void cmk_secure_free(void *p)
{
	struct cmk_secure_head *head;
	size_t map_len;

	if (!p)
		return;
	head = (struct cmk_secure_head *)((char *)p - CMK_SECURE_HEAD);
	if (head->magic != CMK_SECURE_MAGIC)
		return;		/* not ours: leak rather than corrupt */
	map_len = head->map_len;
	explicit_bzero(head, map_len);
	if (cmk_secure_wipe_hook)
		cmk_secure_wipe_hook(head, map_len);
	munlock(head, map_len);
	munmap(head, map_len);
}

/* Bytes of stack cmk_secure_scrub_stack() wipes below its caller. */
#define CMK_SCRUB_STACK		(64 * 1024)

/**
 * cmk_secure_scrub_stack() - wipe the stack its caller's callees just used
 *
 * Code that is not ours and handles a secret (a PKCS#11 module returning
 * an unwrapped key, and its RPC to a token in another process) leaves
 * copies in its stack frames, below the caller's, where a core dump or
 * a later bug would find them.  Called right after such a call: its own
 * frame covers those frames and is wiped.
 */
__attribute__((noinline)) void cmk_secure_scrub_stack(void)
{
	uint8_t pad[CMK_SCRUB_STACK];

	explicit_bzero(pad, sizeof(pad));
	/* The wipe must not be optimised away as a dead store. */
	__asm__ __volatile__("" : : "r"(pad) : "memory");
}
