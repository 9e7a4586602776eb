/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcmk: opening the files and devices a user names (cmk-file.c). */
#ifndef CMK_FILE_H
#define CMK_FILE_H

#include <sys/stat.h>

/* cmk_file_open() @types */
#define CMK_FILE_REG	0x1	/* a regular file */
#define CMK_FILE_BLK	0x2	/* a block device */

int cmk_file_open(const char *path, int flags, unsigned int types,
		  struct stat *st);
int cmk_file_trusted(const struct stat *st);

#endif /* CMK_FILE_H */
