// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: opening the files and devices a user names.  A FIFO named where
 * a file is expected must be refused, not waited on, and a file that
 * configures or unlocks a volume (cmktab, a PIN file) must be the
 * caller's own and not writable by others.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cmk-file.h"

/**
 * cmk_file_open() - open a regular file or block device, nothing else
 * @path: the file or device
 * @flags: O_RDONLY or O_RDWR (and O_EXCL)
 * @types: CMK_FILE_REG and/or CMK_FILE_BLK: what @path may be
 * @st: its fstat()
 *
 * Opened without blocking, so that a FIFO is refused instead of hanging
 * the caller.  The descriptor returned is blocking and close-on-exec.
 *
 * Return: the descriptor; -ENOTBLK when @path is of a type not in @types
 * (a directory, FIFO, socket, character device...); another negative errno.
 */
int cmk_file_open(const char *path, int flags, unsigned int types,
		  struct stat *st)
{
	int fd, r;

	fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st)) {
		r = -errno;
		goto fail;
	}
	if (!((types & CMK_FILE_REG) && S_ISREG(st->st_mode)) &&
	    !((types & CMK_FILE_BLK) && S_ISBLK(st->st_mode))) {
		r = -ENOTBLK;
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		r = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

/**
 * cmk_file_trusted() - whether a file may configure or unlock a volume
 * @st: the file's fstat()
 *
 * cmktab's rule, for cmktab and PIN files alike: owned by the caller's
 * effective uid, not writable by its group or by others.
 *
 * Return: 0, -EPERM (another owner) or -EACCES (group- or world-writable).
 */
int cmk_file_trusted(const struct stat *st)
{
	if (st->st_uid != geteuid())
		return -EPERM;
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return -EACCES;
	return 0;
}
