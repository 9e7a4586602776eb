// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: the cmk table and status grammar, key descriptions, extent
 * arithmetic and the XTS tweak.  The checks mirror the kernel's, so that
 * tools refuse a table with the same reason before the kernel sees it.
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcmk.h"

static bool cmk_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* A key description as the kernel accepts it: "<subsys>:...", printable. */
static bool cmk_desc_valid(const char *s, size_t max)
{
	const char *colon = strchr(s, ':');
	size_t n = strlen(s);

	if (!n || n > max || !colon || colon == s)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

/**
 * cmk_table_validate() - check a table as the kernel would
 * @t: the table
 * @len: target length in 512-byte sectors
 * @why: set to the kernel's message for the first problem found
 *
 * Device size and key presence are the kernel's to check; everything else
 * is checked here.
 *
 * Return: 0 or -EINVAL.
 */
int cmk_table_validate(const struct cmk_table *t, uint64_t len,
		       const char **why)
{
	uint64_t unit;

	*why = NULL;
	if (!t->dev[0] || strpbrk(t->dev, " \t\n"))
		*why = "Device lookup failed";
	else if (t->sector_size != 512 && t->sector_size != 4096)
		*why = "Invalid data unit size (must be 512 or 4096)";
	else if (!t->extent_sectors ||
		 t->extent_sectors > CMK_EXTENT_SECTORS_MAX)
		*why = "Invalid extent size";
	else if (!cmk_is_pow2(t->extent_sectors))
		*why = "Extent size is not a power of two";
	else if (t->extent_sectors < t->sector_size / 512)
		*why = "Extent size smaller than the data unit";
	else if (strlen(t->key_prefix) > CMK_KEY_PREFIX_MAX)
		*why = "Key prefix too long";
	else if (!cmk_desc_valid(t->key_prefix, CMK_KEY_PREFIX_MAX))
		*why = "Invalid key prefix (must be <subsystem>:<name>, no spaces)";
	else if (t->lease[0] && !cmk_desc_valid(t->lease, CMK_KEY_PREFIX_MAX))
		*why = "Invalid lease key description";
	if (*why)
		return -EINVAL;

	unit = t->sector_size / 512;
	if (!len || ((t->offset | len) & (unit - 1)))
		*why = "Offset, start or length not a multiple of the data unit";
	else if (cmk_extent_count(len, t->extent_sectors) > CMK_EXTENTS_MAX)
		*why = "Too many extents (use larger extents)";
	return *why ? -EINVAL : 0;
}

/**
 * cmk_table_format() - the target parameters of a table line
 * @t: the table
 * @buf: output
 * @size: size of @buf
 *
 * Produces exactly what "dmsetup table" prints after "cmk" for a device
 * given by major:minor.
 *
 * Return: 0, or -ENOSPC when @buf is too small.
 */
int cmk_table_format(const struct cmk_table *t, char *buf, size_t size)
{
	unsigned int nr_opt = (t->allow_discards ? 1 : 0) + (t->lease[0] ? 2 : 0);
	int n;

	n = snprintf(buf, size, "%s %" PRIu64 " %" PRIu32 " %" PRIu32 " %s",
		     t->dev, t->offset, t->extent_sectors, t->sector_size,
		     t->key_prefix);
	if (n >= 0 && nr_opt && (size_t)n < size)
		n += snprintf(buf + n, size - n, " %u%s%s%s", nr_opt,
			      t->allow_discards ? " allow_discards" : "",
			      t->lease[0] ? " lease " : "", t->lease);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return 0;
}

/* Strict unsigned decimal: no sign, no blanks, no trailing characters. */
static int cmk_parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || *end || *v > max)
		return -EINVAL;
	return 0;
}

static int cmk_copy_word(char *dst, size_t size, const char *src)
{
	if (strlen(src) >= size)
		return -EINVAL;
	strcpy(dst, src);
	return 0;
}

#define CMK_MAX_WORDS 16

/* Split @s (modified) on blanks into at most CMK_MAX_WORDS words. */
static int cmk_split(char *s, char **w)
{
	int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (n == CMK_MAX_WORDS)
			return -E2BIG;
		w[n++] = tok;
	}
	return n;
}

/**
 * cmk_table_parse() - parse the target parameters of a table line
 * @params: what follows "<start> <len> cmk " in a table line
 * @t: filled in
 *
 * Return: 0, or -EINVAL for anything the kernel would not print.
 */
int cmk_table_parse(const char *params, struct cmk_table *t)
{
	char *copy, *w[CMK_MAX_WORDS];
	uint64_t v, nr_opt;
	int n, i, r = -EINVAL;

	memset(t, 0, sizeof(*t));
	copy = strdup(params);
	if (!copy)
		return -ENOMEM;

	n = cmk_split(copy, w);
	if (n < 5)
		goto out;
	if (cmk_copy_word(t->dev, sizeof(t->dev), w[0]) ||
	    cmk_parse_u64(w[1], UINT64_MAX, &t->offset))
		goto out;
	if (cmk_parse_u64(w[2], CMK_EXTENT_SECTORS_MAX, &v))
		goto out;
	t->extent_sectors = v;
	if (cmk_parse_u64(w[3], CMK_DATA_UNIT_MAX, &v))
		goto out;
	t->sector_size = v;
	if (cmk_copy_word(t->key_prefix, sizeof(t->key_prefix), w[4]))
		goto out;

	if (n == 5) {
		r = 0;
		goto out;
	}
	if (cmk_parse_u64(w[5], 8, &nr_opt) || nr_opt != (uint64_t)(n - 6))
		goto out;
	for (i = 6; i < n; i++) {
		if (!strcmp(w[i], "allow_discards") && !t->allow_discards) {
			t->allow_discards = true;
		} else if (!strcmp(w[i], "lease") && !t->lease[0] && i + 1 < n) {
			if (cmk_copy_word(t->lease, sizeof(t->lease), w[++i]))
				goto out;
		} else {
			goto out;
		}
	}
	r = 0;
out:
	free(copy);
	return r;
}

/**
 * cmk_status_parse() - parse the target part of a status line
 * @params: what follows "<start> <len> cmk " in "dmsetup status"
 * @st: filled in
 *
 * Return: 0 or -EINVAL.
 */
int cmk_status_parse(const char *params, struct cmk_status *st)
{
	char *copy, *w[CMK_MAX_WORDS];
	uint64_t v;
	int n, r = -EINVAL;

	memset(st, 0, sizeof(*st));
	copy = strdup(params);
	if (!copy)
		return -ENOMEM;

	n = cmk_split(copy, w);
	if (n != 6)
		goto out;
	if (!strcmp(w[0], CMK_STATE_AVAILABLE))
		st->available = true;
	else if (strcmp(w[0], CMK_STATE_INACCESSIBLE))
		goto out;
	if (cmk_parse_u64(w[1], CMK_EXTENTS_MAX, &v))
		goto out;
	st->extents = v;
	if (cmk_parse_u64(w[2], st->extents, &v))
		goto out;
	st->keyed = v;
	if (!strcmp(w[3], "-"))
		st->lease_left = CMK_LEASE_NONE;
	else if (!strcmp(w[3], "inf"))
		st->lease_left = CMK_LEASE_INFINITE;
	else if (!cmk_parse_u64(w[3], INT64_MAX, &v))
		st->lease_left = v;
	else
		goto out;
	if (cmk_parse_u64(w[4], UINT64_MAX, &st->io_errors))
		goto out;
	if (cmk_copy_word(st->reason, sizeof(st->reason), w[5]))
		goto out;
	/* Available exactly when there is no reason. */
	if (st->available != !strcmp(st->reason, "-"))
		goto out;
	r = 0;
out:
	free(copy);
	return r;
}

/**
 * cmk_key_desc() - description of an extent's key
 * @prefix: key prefix of the table
 * @extent: extent index
 * @buf: output
 * @size: size of @buf (CMK_KEY_DESC_MAX is always enough)
 *
 * Return: 0 or -ENOSPC.
 */
int cmk_key_desc(const char *prefix, uint32_t extent, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s%" PRIu32, prefix, extent);

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

/**
 * cmk_extent_count() - extents of a target
 * @len: target length, 512-byte sectors
 * @extent_sectors: extent size
 *
 * Return: the number of extents, the last one possibly short.
 */
uint64_t cmk_extent_count(uint64_t len, uint32_t extent_sectors)
{
	return len / extent_sectors + !!(len % extent_sectors);
}

/**
 * cmk_extent_first_sector() - first target-relative sector of an extent
 * @extent: extent index
 * @extent_sectors: extent size
 *
 * This is also the iv_offset of a stock dm-crypt table over the extent.
 *
 * Return: the sector.
 */
uint64_t cmk_extent_first_sector(uint32_t extent, uint32_t extent_sectors)
{
	return (uint64_t)extent * extent_sectors;
}

/**
 * cmk_extent_len() - length of one extent
 * @len: target length
 * @extent: extent index, below cmk_extent_count()
 * @extent_sectors: extent size
 *
 * Return: the extent's length in sectors (the last one may be short).
 */
uint64_t cmk_extent_len(uint64_t len, uint32_t extent, uint32_t extent_sectors)
{
	uint64_t first = cmk_extent_first_sector(extent, extent_sectors);

	if (first >= len)
		return 0;
	return len - first < extent_sectors ? len - first : extent_sectors;
}

/**
 * cmk_xts_tweak() - the XTS tweak of a data unit
 * @sector: target-relative 512-byte sector where the data unit starts
 * @iv: the 16-byte tweak: @sector little-endian, zero-padded (plain64)
 */
void cmk_xts_tweak(uint64_t sector, uint8_t iv[16])
{
	int i;

	memset(iv, 0, 16);
	for (i = 0; i < 8; i++)
		iv[i] = sector >> (8 * i);
}
