// SPDX-License-Identifier: GPL-2.0
/*
 * leak_addkey SHARE_A SHARE_B PREFIX: for tests/kernel/leak_scan.sh, add
 * logon keys PREFIX0, PREFIX1, ... to the session keyring, key i being the
 * XOR of bytes [64i, 64i + 64) of the two share files (of equal length, a
 * multiple of 64, at most 4096 bytes).
 *
 * The memory scan must see only the copies the kernel makes of a key, so
 * no key byte may be left behind by the test itself: the shares are read
 * (by the kernel, through the page cache or 9p, and by this program) but
 * are no key material on their own; each key exists in this process only
 * in one locked buffer, combined byte by byte through volatile pointers (in
 * general registers, never in vector registers that a context switch
 * would save to memory), handed to add_key(2) (which copies it into the
 * key's payload and frees its own copy with kvfree_sensitive()), and
 * wiped.  Nothing is printed but errors.  Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/keyctl.h>

#define DEK_SIZE	64
#define SHARES_MAX	4096

/* Read all of @path into @buf (SHARES_MAX bytes); its length, or -1. */
static ssize_t read_share(const char *path, uint8_t *buf)
{
	ssize_t n, len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + len, SHARES_MAX + 1 - len)) > 0) {
		len += n;
		if (len > SHARES_MAX)
			break;
	}
	close(fd);
	return n < 0 || len > SHARES_MAX ? -1 : len;
}

int main(int argc, char *argv[])
{
	const size_t size = SHARES_MAX * 2 + 2 + DEK_SIZE;
	volatile uint8_t *key;
	const volatile uint8_t *a, *b;
	uint8_t *mem;
	char desc[256];
	ssize_t la, lb;
	int i, j, ret = 1;

	if (argc != 4 || strlen(argv[3]) > 200) {
		fprintf(stderr, "usage: leak_addkey SHARE_A SHARE_B PREFIX\n");
		return 1;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mlock(mem, size)) {
		perror("leak_addkey: locked buffer");
		return 1;
	}
	madvise(mem, size, MADV_DONTDUMP);
	a = mem;
	b = mem + SHARES_MAX + 1;
	key = mem + 2 * (SHARES_MAX + 1);
	la = read_share(argv[1], mem);
	lb = read_share(argv[2], mem + SHARES_MAX + 1);
	if (la <= 0 || la != lb || la % DEK_SIZE) {
		fprintf(stderr, "leak_addkey: %s and %s: unreadable, or not two shares of n * %d bytes\n",
			argv[1], argv[2], DEK_SIZE);
		goto out;
	}
	for (i = 0; i < la / DEK_SIZE; i++) {
		for (j = 0; j < DEK_SIZE; j++)
			key[j] = a[i * DEK_SIZE + j] ^ b[i * DEK_SIZE + j];
		snprintf(desc, sizeof(desc), "%s%d", argv[3], i);
		if (syscall(SYS_add_key, "logon", desc, (const void *)key,
			    (size_t)DEK_SIZE, KEY_SPEC_SESSION_KEYRING) < 0) {
			fprintf(stderr, "leak_addkey: add_key %s: %s\n", desc,
				strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	explicit_bzero(mem, size);
	munlock(mem, size);
	munmap(mem, size);
	return ret;
}
