/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcmk: /etc/cmk/cmktab, the volumes cmkd opens and watches, one a line
 * (format in Documentation/man/cmktab.5):
 *
 *   <name> <device> [<kek> [<options>]]
 *
 * cmk_tab_parse() checks every line and reports each problem through a
 * callback; the good lines end up in a struct cmk_tab in file order, the bad
 * ones are left out.  Durations are kept in milliseconds.
 */
#ifndef CMK_TAB_H
#define CMK_TAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default place of the file. */
#define CMK_TAB_PATH		"/etc/cmk/cmktab"

/* A dm name: 1..127 characters of [A-Za-z0-9._+-], with the NUL. */
#define CMK_TAB_NAME_MAX	128
/* "UUID=" device: 8-4-4-4-12 hex, with the NUL (CMK_UUID_STR_LEN). */
#define CMK_TAB_UUID_LEN	37
/* Longest KEK URI, without the NUL. */
#define CMK_TAB_URI_MAX		1023
/* Longest line, without the newline. */
#define CMK_TAB_LINE_MAX	4095
/* Most volumes one file may list. */
#define CMK_TAB_ENTRIES_MAX	4096

/* Option defaults and ranges, milliseconds. */
#define CMK_MS_PER_S		1000ULL
#define CMK_MS_PER_M		(60 * CMK_MS_PER_S)
#define CMK_MS_PER_H		(60 * CMK_MS_PER_M)
#define CMK_MS_PER_D		(24 * CMK_MS_PER_H)

#define CMK_TAB_POLL_DEFAULT_MS		(10 * CMK_MS_PER_S)
#define CMK_TAB_POLL_MIN_MS		CMK_MS_PER_S
#define CMK_TAB_POLL_MAX_MS		CMK_MS_PER_H
#define CMK_TAB_LEASE_DEFAULT_MS	(15 * CMK_MS_PER_S)
#define CMK_TAB_LEASE_MIN_MS		(3 * CMK_MS_PER_S)
#define CMK_TAB_LEASE_MAX_MS		CMK_MS_PER_H
#define CMK_TAB_GRACE_DEFAULT_MS	(30 * CMK_MS_PER_S)
#define CMK_TAB_GRACE_MIN_MS		0ULL
#define CMK_TAB_GRACE_MAX_MS		CMK_MS_PER_D
#define CMK_TAB_RETRY_MAX_DEFAULT_MS	(60 * CMK_MS_PER_S)
#define CMK_TAB_RETRY_MAX_MIN_MS	CMK_MS_PER_S
#define CMK_TAB_RETRY_MAX_MAX_MS	CMK_MS_PER_H

/**
 * struct cmk_tab_entry - one volume of cmktab
 * @name: device-mapper name of the mapping
 * @device: absolute path of the data device; %NULL when @uuid is set
 * @uuid: dm-cmk header UUID of a "UUID=" device, lowercase; "" when @device
 * @kek_uri: KEK URI; %NULL: the one recorded in the volume's header
 * @header: detached header file; %NULL: the header is on the device
 * @pin_file: PIN file; %NULL: the URI's pin-source, if any
 * @module: PKCS#11 module (path or p11-kit name); %NULL: the URI's, else
 *	the default
 * @vk_fingerprint: the volume key fingerprint the volume must have; %NULL:
 *	the one this host recorded, if any
 * @alert: alert hook executable; %NULL: none
 * @audit_log: audit log file; %NULL: the daemon's default
 * @poll_ms: KEK check interval
 * @lease_ms: kernel lease time
 * @grace_ms: how long an unreachable vault is tolerated (0: not at all)
 * @retry_max_ms: cap of the backoff between open attempts at boot
 * @read_only: map read-only
 * @allow_discards: pass discards down
 * @auto_revalidate: bring the volume back by itself once its KEK returns
 * @allow_rollback: accept a header older than the last one this host saw
 * @rotate_auto: rotate=auto: cmkd moves the volume to a new version of
 *	its KEK as soon as it sees one
 * @line: 1-based line in the file
 */
struct cmk_tab_entry {
	char name[CMK_TAB_NAME_MAX];
	char *device;
	char uuid[CMK_TAB_UUID_LEN];
	char *kek_uri;
	char *header;
	char *pin_file;
	char *module;
	char *vk_fingerprint;
	char *alert;
	char *audit_log;
	uint64_t poll_ms, lease_ms, grace_ms, retry_max_ms;
	bool read_only, allow_discards, auto_revalidate, allow_rollback;
	bool rotate_auto;
	unsigned int line;
};

/**
 * struct cmk_tab - the good lines of a cmktab, in file order
 * @entries: @count entries
 * @count: number of entries
 */
struct cmk_tab {
	struct cmk_tab_entry *entries;
	size_t count;
};

/*
 * Called once per problem: @path is the file (or "<string>"), @line the
 * 1-based line (0: the file as a whole), @msg has no trailing newline.
 */
typedef void (*cmk_tab_report_fn)(void *arg, const char *path,
				  unsigned int line, const char *msg);

/* cmk-tab.c */
int cmk_duration_parse(const char *s, uint64_t *ms);
int cmk_duration_format(uint64_t ms, char *buf, size_t size);
int cmk_tab_parse(const char *text, size_t len, const char *path,
		  struct cmk_tab *tab, cmk_tab_report_fn report, void *arg);
int cmk_tab_load(const char *path, struct cmk_tab *tab,
		 cmk_tab_report_fn report, void *arg);
const struct cmk_tab_entry *cmk_tab_find(const struct cmk_tab *tab,
					 const char *name);
void cmk_tab_free(struct cmk_tab *tab);

#endif /* CMK_TAB_H */
