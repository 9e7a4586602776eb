// SPDX-License-Identifier: GPL-2.0
/*
 * write_fault.so: an LD_PRELOAD shim that interrupts a program's writes
 * to one file or block device at a chosen point, for the crash-safety
 * tests of header updates (tests/host/rotate_test.sh, and in the guest
 * tests/kernel/kek_rotate_vm.sh), as cryptsetup's reencryption tests do
 * with dm-flakey and dm-error.
 *
 * Events are pwrite() and fdatasync()/fsync() calls on the target, counted
 * from 1.  Environment (test-only; never secrets):
 *
 *   CMK_FI_TARGET  path of the file or device whose writes count
 *   CMK_FI_AT      the event at which to act (0 or unset: never)
 *   CMK_FI_MODE    kill   SIGKILL the process instead of event AT
 *                  torn   event AT, a pwrite, writes its first half (a
 *                         4 KiB multiple), then SIGKILL
 *                  drop   event AT and every later one report success
 *                         and do nothing (a device that loses writes)
 *                  hook   run CMK_FI_HOOK with /bin/sh before event AT,
 *                         then go on (the hook may make the device drop
 *                         or fail writes from there on, in the guest)
 *   CMK_FI_LOG     append "N pwrite OFFSET LEN" / "N sync" per event
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static long fi_event;
static int fi_dropping;

/* Whether @fd is the target (same device and inode, or same rdev). */
static int fi_is_target(int fd)
{
	const char *t = getenv("CMK_FI_TARGET");
	struct stat a, b;

	if (!t || fstat(fd, &a) || stat(t, &b))
		return 0;
	if (S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode))
		return a.st_rdev == b.st_rdev;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void fi_log(const char *fmt, ...)
{
	const char *p = getenv("CMK_FI_LOG");
	va_list ap;
	FILE *f;

	if (!p)
		return;
	f = fopen(p, "ae");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/*
 * One event on the target: 0 to perform it, 1 to report success without
 * performing it; does not return when the process is to die.  @len > 0:
 * a pwrite of @len bytes (*@half set to the torn length).
 */
static int fi_event_at(const char *what, long long off, size_t len,
		       size_t *half)
{
	const char *mode = getenv("CMK_FI_MODE");
	const char *at_s = getenv("CMK_FI_AT");
	long at = at_s ? atol(at_s) : 0;
	long n = ++fi_event;

	if (len)
		fi_log("%ld %s %lld %zu\n", n, what, off, len);
	else
		fi_log("%ld %s\n", n, what);
	if (fi_dropping)
		return 1;
	if (!at || n != at || !mode)
		return 0;
	if (!strcmp(mode, "kill")) {
		kill(getpid(), SIGKILL);
	} else if (!strcmp(mode, "torn") && len) {
		*half = (len / 2) & ~(size_t)4095;
		return 2;
	} else if (!strcmp(mode, "drop")) {
		fi_dropping = 1;
		return 1;
	} else if (!strcmp(mode, "hook") && getenv("CMK_FI_HOOK")) {
		if (system(getenv("CMK_FI_HOOK")))
			fi_log("%ld hook failed\n", n);
	}
	return 0;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	size_t half = 0;
	int r;

	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))
			dlsym(RTLD_NEXT, "pwrite");
	if (!fi_is_target(fd))
		return real(fd, buf, count, off);
	r = fi_event_at("pwrite", (long long)off, count, &half);
	if (r == 1)
		return count;
	if (r == 2) {
		int (*sync)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

		if (half)
			real(fd, buf, half, off);
		sync(fd);
		kill(getpid(), SIGKILL);
	}
	return real(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
	__attribute__((alias("pwrite")));

static int fi_sync(int fd, const char *name)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);

	if (fi_is_target(fd) && fi_event_at("sync", 0, 0, NULL) == 1)
		return 0;
	return real(fd);
}

int fdatasync(int fd)
{
	return fi_sync(fd, "fdatasync");
}

int fsync(int fd)
{
	return fi_sync(fd, "fsync");
}
