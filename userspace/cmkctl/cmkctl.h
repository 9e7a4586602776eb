/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmkctl: what the command files share (cmkctl.c: the commands on
 * volumes; cmkctl-daemon.c: the commands that talk to cmkd).
 */
#ifndef CMKCTL_H
#define CMKCTL_H

#include <stdbool.h>
#include <stdio.h>

#include "libcmk.h"
#include "cmk-volume.h"

/* Exit codes, documented in cmkctl(8). */
#define EXIT_OK		0	/* success */
#define EXIT_USAGE	1	/* bad command line */
#define EXIT_FAIL	2	/* I/O or system failure */
#define EXIT_VAULT	3	/* vault or KEK unavailable, refused, invalid */
#define EXIT_HEADER	4	/* header missing, invalid, altered, mismatch */
#define EXIT_REFUSED	5	/* would overwrite data; use --force */

#define DEFAULT_EXTENT_SIZE	(64ULL << 20)
/* Show progress for at least this many extents. */
#define PROGRESS_MIN		4096

/**
 * struct command - one cmkctl command
 * @name: as typed
 * @func: runs it; returns an exit code
 * @args: usage line after the name
 * @summary: what it does
 * @options: its options, one per line, or NULL
 */
struct command {
	const char *name;
	int (*func)(int argc, char *argv[]);
	const char *args;
	const char *summary;
	const char *options;
};

extern const char *progname;

void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_error(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int parse_end(const struct command *c, int argc, char *argv[],
	      int want_min, int want_max);
int help_or_bad(const struct command *c, int opt, char *argv[]);
const struct command *find_command(const char *name);
void json_str(const char *s);
int mapping_status(const char *cmd, const char *name, struct cmk_status *st);

/* cmkctl-daemon.c */
#define CMKD_SOCKET_DEFAULT	"/run/cmk/cmkd.sock"
int cmkd_request(const char *sock, const char *req, int timeout_s,
		 char **reply);
int cmd_revalidate(int argc, char *argv[]);
int cmkd_close_volume(const char *sock, const char *name, bool deferred,
		      bool *handled);
void cmkd_status_list(const char *sock, bool json);
const char *cmkd_status_volume(const char *sock, const char *name,
			       char **doc);
void cmkd_volume_text(const char *vol);

#endif /* CMKCTL_H */
