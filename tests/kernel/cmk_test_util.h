/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by dm-cmk's kselftest-style C tests: running dmsetup and
 * losetup without a shell, finding a device-mapper node with or without
 * udev, O_DIRECT I/O, key material in locked memory, logon keys, and
 * AES-256-XTS through OpenSSL as an independent oracle.
 *
 * Everything here is static and independent of the test harness: functions
 * return 0 (or a count) on success and a negative errno on failure, and
 * leave the reporting to the test.  Nothing here prints key bytes or passes
 * them to another process.
 *
 * Link with -lcrypto -lkeyutils.
 */
#ifndef CMK_TEST_UTIL_H
#define CMK_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <keyutils.h>
#include <openssl/evp.h>

extern char **environ;

#define CMK_TEST_SECTOR		512U	/* bytes in a sector */
#define CMK_TEST_ALIGN		4096U	/* alignment of every I/O buffer */
#define CMK_TEST_XTS_KEY	64U	/* AES-256-XTS key: data + tweak halves */
#define CMK_TEST_MAX_ARGS	32	/* arguments of one command */

/*
 * cmk_test_run() - run a program and wait for it
 * @argv: program (looked up in PATH) and arguments, NULL-terminated
 * @out, @outsz: receives its standard output, NUL-terminated and truncated
 *	to fit; may be NULL
 * @err, @errsz: the same for its standard error; may be NULL
 *
 * No shell is involved: every argument reaches the program as it is.
 * Standard input is /dev/null.  The output goes through memory files,
 * so a chatty program can never block on a full pipe.
 *
 * Return: the program's exit status (0-255), -ECHILD if a signal killed
 * it, or another negative errno if it could not be run.
 */
static inline int cmk_test_run(char *const argv[], char *out, size_t outsz,
			       char *err, size_t errsz)
{
	posix_spawn_file_actions_t fa;
	int ofd, efd, status, r;
	ssize_t n;
	pid_t pid;

	if (out && outsz)
		out[0] = '\0';
	if (err && errsz)
		err[0] = '\0';

	ofd = memfd_create("cmk-test-out", MFD_CLOEXEC);
	if (ofd < 0)
		return -errno;
	efd = memfd_create("cmk-test-err", MFD_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		close(ofd);
		return r;
	}

	/* dup2() clears close-on-exec on the copies the child keeps. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, ofd, 1);
	posix_spawn_file_actions_adddup2(&fa, efd, 2);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		r = -r;
		goto out;
	}

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto out;
		}
	}
	r = WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;

	if (out && outsz > 1) {
		n = pread(ofd, out, outsz - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	}
	if (err && errsz > 1) {
		n = pread(efd, err, errsz - 1, 0);
		err[n > 0 ? n : 0] = '\0';
	}
out:
	close(ofd);
	close(efd);
	return r;
}

/*
 * cmk_test_cmd() - cmk_test_run() with the arguments inline
 * @out, @outsz, @err, @errsz: as for cmk_test_run()
 * @prog: program, then its arguments, then NULL
 */
static inline __attribute__((sentinel)) int
cmk_test_cmd(char *out, size_t outsz, char *err, size_t errsz,
	     const char *prog, ...)
{
	char *argv[CMK_TEST_MAX_ARGS + 1];
	const char *a;
	va_list ap;
	int argc = 0;

	argv[argc++] = (char *)prog;
	va_start(ap, prog);
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (argc == CMK_TEST_MAX_ARGS) {
			va_end(ap);
			return -E2BIG;
		}
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	return cmk_test_run(argv, out, outsz, err, errsz);
}

/* Strip trailing white space (a program's final newline) in place. */
static inline char *cmk_test_chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Load a kernel module, quietly; it may be built in or loaded already. */
static inline void cmk_test_modprobe(const char *module)
{
	cmk_test_cmd(NULL, 0, NULL, 0, "modprobe", "-q", module, NULL);
}

/*
 * cmk_test_have_target() - is a device-mapper target type registered?
 * @target: its name, e.g. "cmk" or "crypt"
 *
 * Return: true if "dmsetup targets" lists it.
 */
static inline bool cmk_test_have_target(const char *target)
{
	char out[4096], *line, *save = NULL;
	size_t n = strlen(target);

	if (cmk_test_cmd(out, sizeof(out), NULL, 0,
			 "dmsetup", "targets", NULL) != 0)
		return false;
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, target, n) && (line[n] == ' ' || line[n] == '\t'))
			return true;
	return false;
}

/*
 * cmk_test_dm_create() - create a device-mapper device from a one-line table
 * @name: device name
 * @table: "<start> <len> <target> <args>", no key bytes in it
 * @err, @errsz: receives dmsetup's standard error
 *
 * Return: dmsetup's exit status, or a negative errno.
 */
static inline int cmk_test_dm_create(const char *name, const char *table,
				     char *err, size_t errsz)
{
	return cmk_test_cmd(NULL, 0, err, errsz, "dmsetup", "create", name,
			    "--table", table, NULL);
}

/* Does a device-mapper device of this name exist? */
static inline bool cmk_test_dm_exists(const char *name)
{
	return cmk_test_cmd(NULL, 0, NULL, 0, "dmsetup", "info", name,
			    NULL) == 0;
}

/*
 * cmk_test_dm_remove() - remove a device-mapper device
 * @name: its name
 *
 * --retry rides out a udev worker that still has the device open.
 *
 * Return: dmsetup's exit status, or a negative errno.
 */
static inline int cmk_test_dm_remove(const char *name)
{
	return cmk_test_cmd(NULL, 0, NULL, 0, "dmsetup", "remove", "--retry",
			    name, NULL);
}

static inline bool cmk_test_is_blk(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/*
 * cmk_test_dm_node() - find the block device node of a device-mapper device
 * @name: its name
 * @path, @pathsz: receives the node's path
 *
 * /dev/mapper/NAME where udev (or libdevmapper) made it, else /dev/dm-N
 * from devtmpfs, else whatever "dmsetup mknodes" makes.
 *
 * Return: 0 or a negative errno.
 */
static inline int cmk_test_dm_node(const char *name, char *path,
				   size_t pathsz)
{
	char out[64];

	snprintf(path, pathsz, "/dev/mapper/%s", name);
	if (cmk_test_is_blk(path))
		return 0;

	if (cmk_test_cmd(out, sizeof(out), NULL, 0, "dmsetup", "info", "-c",
			 "--noheadings", "-o", "blkdevname", name, NULL) == 0 &&
	    !strncmp(cmk_test_chomp(out), "dm-", 3) && !strchr(out, '/')) {
		snprintf(path, pathsz, "/dev/%s", out);
		if (cmk_test_is_blk(path))
			return 0;
	}

	cmk_test_cmd(NULL, 0, NULL, 0, "dmsetup", "mknodes", name, NULL);
	snprintf(path, pathsz, "/dev/mapper/%s", name);
	return cmk_test_is_blk(path) ? 0 : -ENODEV;
}

/*
 * cmk_test_loop_attach() - attach a file to a free loop device
 * @file: the backing file
 * @loop, @loopsz: receives the loop device's path
 * @err, @errsz: receives losetup's standard error
 *
 * Return: 0, losetup's non-zero exit status, or a negative errno.
 */
static inline int cmk_test_loop_attach(const char *file, char *loop,
				       size_t loopsz, char *err,
				       size_t errsz)
{
	int r;

	r = cmk_test_cmd(loop, loopsz, err, errsz, "losetup", "-f", "--show",
			 file, NULL);
	if (r)
		return r;
	cmk_test_chomp(loop);
	return cmk_test_is_blk(loop) ? 0 : -ENODEV;
}

/* Detach a loop device; the kernel drops it once nobody holds it. */
static inline int cmk_test_loop_detach(const char *loop)
{
	return cmk_test_cmd(NULL, 0, NULL, 0, "losetup", "-d", loop, NULL);
}

/* A zeroed buffer aligned for O_DIRECT, or NULL. */
static inline void *cmk_test_alloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, CMK_TEST_ALIGN, len ? len : 1))
		return NULL;
	memset(p, 0, len);
	return p;
}

/*
 * cmk_test_secret_alloc() - memory for key material
 * @len: bytes
 *
 * Locked (never swapped) and left out of core dumps.  Free it with
 * cmk_test_secret_free(), which wipes it.
 *
 * Return: zeroed memory, or NULL.
 */
static inline void *cmk_test_secret_alloc(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, len)) {
		munmap(p, len);
		return NULL;
	}
	madvise(p, len, MADV_DONTDUMP);
	return p;
}

/* Wipe and release memory from cmk_test_secret_alloc(); NULL is fine. */
static inline void cmk_test_secret_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	munlock(p, len);
	munmap(p, len);
}

/* Fill a buffer from the kernel's CSPRNG.  Return: 0 or a negative errno. */
static inline int cmk_test_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * cmk_test_pread() / cmk_test_pwrite() - all of it, or an error
 * @fd: file descriptor, typically opened with O_DIRECT
 * @buf: aligned buffer
 * @len: bytes
 * @off: byte offset
 *
 * Return: 0, a negative errno, or -EIO for a short transfer that made no
 * progress (end of device).
 */
static inline int cmk_test_pread(int fd, void *buf, size_t len, off_t off)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static inline int cmk_test_pwrite(int fd, const void *buf, size_t len,
				  off_t off)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/*
 * cmk_test_diff() - where do two buffers first differ?
 * Return: the byte index of the first difference, or -1 if they are equal.
 */
static inline ssize_t cmk_test_diff(const void *a, const void *b,
				    size_t len)
{
	const unsigned char *x = a, *y = b;
	size_t i;

	if (!memcmp(a, b, len))
		return -1;
	for (i = 0; x[i] == y[i]; i++)
		;
	return i;
}

/*
 * cmk_test_add_key() - add a key to the session keyring
 * @type: "logon" or "user"
 * @desc: description
 * @key, @len: payload
 *
 * Return: the key's serial number, or a negative errno.
 */
static inline key_serial_t cmk_test_add_key(const char *type,
					    const char *desc,
					    const void *key, size_t len)
{
	key_serial_t id;

	id = add_key(type, desc, key, len, KEY_SPEC_SESSION_KEYRING);
	return id < 0 ? -errno : id;
}

/* Invalidate a key (it goes from every keyring at once); 0 is ignored. */
static inline void cmk_test_drop_key(key_serial_t id)
{
	if (id > 0 && keyctl_invalidate(id) < 0)
		keyctl_unlink(id, KEY_SPEC_SESSION_KEYRING);
}

/*
 * cmk_test_xts() - AES-256-XTS over one data unit, with OpenSSL
 * @key: 64 bytes: data key, then tweak key (dm-crypt's and the kernel
 *	xts(aes)'s layout too)
 * @sector: the unit's first 512-byte sector; the tweak is its
 *	little-endian 64-bit value, zero-padded to 16 bytes (plain64)
 * @in, @out, @len: the unit (@in and @out may be the same)
 * @encrypt: true to encrypt, false to decrypt
 *
 * Return: 0, or -EIO if OpenSSL refused.
 */
static inline int cmk_test_xts(const unsigned char *key, uint64_t sector,
			       const void *in, void *out, size_t len,
			       bool encrypt)
{
	unsigned char iv[16] = { 0 };
	EVP_CIPHER_CTX *ctx;
	int outl = 0, i, ok;

	for (i = 0; i < 8; i++)
		iv[i] = sector >> (8 * i);

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	/* One update call per data unit: OpenSSL's XTS does no streaming. */
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, key, iv,
			       encrypt ? 1 : 0) == 1 &&
	     EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1 &&
	     outl == (int)len;
	/* Frees and cleanses the expanded key. */
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

#endif /* CMK_TEST_UTIL_H */
