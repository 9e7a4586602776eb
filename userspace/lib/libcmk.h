/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcmk: userspace library of dm-cmk.  This part knows the target's table
 * and status grammar (Documentation/admin-guide/device-mapper/dm-cmk.rst)
 * and the fixed conventions of ../shared/design.md: extents, key names and
 * the XTS tweak.  Every symbol is prefixed cmk_; functions return 0 or a
 * negative errno.
 */
#ifndef LIBCMK_H
#define LIBCMK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dm-cmk-abi.h"

/* Longest device path a table may name. */
#define CMK_DEV_PATH_MAX	4096
/* A key description: prefix plus a decimal 32-bit index, plus NUL. */
#define CMK_KEY_DESC_MAX	(CMK_KEY_PREFIX_MAX + 11)

/**
 * struct cmk_table - the target parameters of one cmk table line
 * @dev: underlying device (path or major:minor)
 * @offset: first sector of the data area on @dev
 * @extent_sectors: extent size, 512-byte sectors
 * @sector_size: data unit, bytes
 * @key_prefix: extent i's key is "<key_prefix><i>"
 * @allow_discards: pass discards down
 * @lease: lease key description, empty for none
 */
struct cmk_table {
	char dev[CMK_DEV_PATH_MAX];
	uint64_t offset;
	uint32_t extent_sectors;
	uint32_t sector_size;
	char key_prefix[CMK_KEY_PREFIX_MAX + 1];
	bool allow_discards;
	char lease[CMK_KEY_PREFIX_MAX + 1];
};

/* Lease fields of struct cmk_status. */
#define CMK_LEASE_NONE		(-1)
#define CMK_LEASE_INFINITE	(-2)

/**
 * struct cmk_status - a parsed "dmsetup status" line of a cmk target
 * @available: state is "available"
 * @extents: number of extents
 * @keyed: extents holding a key
 * @lease_left: seconds left, or CMK_LEASE_NONE / CMK_LEASE_INFINITE
 * @io_errors: I/Os failed
 * @reason: why inaccessible ("-" when available)
 */
struct cmk_status {
	bool available;
	uint32_t extents;
	uint32_t keyed;
	int64_t lease_left;
	uint64_t io_errors;
	char reason[32];
};

/* cmk-table.c */
int cmk_table_validate(const struct cmk_table *t, uint64_t len,
		       const char **why);
int cmk_table_format(const struct cmk_table *t, char *buf, size_t size);
int cmk_table_parse(const char *params, struct cmk_table *t);
int cmk_status_parse(const char *params, struct cmk_status *st);
int cmk_key_desc(const char *prefix, uint32_t extent, char *buf,
		 size_t size);
uint64_t cmk_extent_count(uint64_t len, uint32_t extent_sectors);
uint64_t cmk_extent_first_sector(uint32_t extent, uint32_t extent_sectors);
uint64_t cmk_extent_len(uint64_t len, uint32_t extent, uint32_t extent_sectors);
void cmk_xts_tweak(uint64_t sector, uint8_t iv[16]);

/* cmk-json.c: locating values in a JSON document (cmkd's answers) */
const char *cmk_json_skip(const char *p);
const char *cmk_json_member(const char *obj, const char *key);
const char *cmk_json_item(const char *arr, size_t i);
int cmk_json_text(const char *val, char *buf, size_t size);

/* cmk-text.c: text for terminals, logs and the journal */
#include "cmk-text.h"

/* cmk-file.c: opening what a user names */
#include "cmk-file.h"

/* The on-disk header, DEK wrap and secure buffers; the vault backends. */
#include "cmk-hdr.h"
#include "cmk-vault.h"
#include "cmk-dm.h"
#include "cmk-tab.h"

#endif /* LIBCMK_H */
