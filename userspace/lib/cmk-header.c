// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: the on-disk header codec (include/cmk-header.h, documented in
 * Documentation/admin-guide/device-mapper/cmk-header.rst), the two-copy
 * read and crash-safe write, and header backup and restore.
 *
 * Update protocol: cmk_hdr_write() bumps the sequence number, writes the
 * copy that is not the one the header was read from, fdatasync()s, then
 * writes the other copy and fdatasync()s again.  A crash at any point
 * leaves at least one valid copy: before the first sync the old header is
 * intact in the second copy; after it the new one is intact in the first.
 * cmk_hdr_read() takes the valid copy with the higher sequence number.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>
#include <openssl/evp.h>

#include "cmk-file.h"
#include "cmk-hdr.h"
#include "cmk-text.h"

#define CMK_CSUM_OFF	__builtin_offsetof(struct cmk_hdr_disk, checksum)

static bool cmk_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t cmk_div_round_up(uint64_t a, uint64_t b)
{
	return a / b + !!(a % b);
}

static uint64_t cmk_round_up(uint64_t a, uint64_t b)
{
	return cmk_div_round_up(a, b) * b;
}

/**
 * cmk_hdr_copy_size() - bytes of one header copy for a number of extents
 * @extent_count: extents
 *
 * Return: the fixed part plus the extent table, rounded up to 4 KiB.
 */
uint64_t cmk_hdr_copy_size(uint32_t extent_count)
{
	return cmk_round_up(CMK_HDR_FIXED_SIZE +
			    (uint64_t)extent_count * CMK_HDR_ENTRY_SIZE,
			    CMK_HDR_ALIGN);
}

/**
 * cmk_hdr_alloc() - a new header for a device, with a random UUID
 * @dev_sectors: the device (or, detached, the data area) in 512-byte sectors
 * @extent_sectors: extent size, a power of two, at least one data unit
 * @data_unit: 512 or 4096
 * @flags: CMK_HDR_ALLOC_DETACHED: the header goes to a separate file and
 *	   the whole device is data
 * @hp: the header; its extents have generation 0 until given DEKs
 *
 * Otherwise both copies go at the start of the device and the data area
 * starts after them, aligned to 1 MiB.
 *
 * Return: 0, -EINVAL (bad geometry), -E2BIG (too many extents), -ENOSPC
 * (no room for data), -ENOMEM.
 */
int cmk_hdr_alloc(uint64_t dev_sectors, uint32_t extent_sectors,
		  uint32_t data_unit, unsigned int flags, struct cmk_hdr **hp)
{
	uint64_t unit = data_unit / 512, count, off = 0, data = dev_sectors;
	struct cmk_hdr *h;
	int ret;

	*hp = NULL;
	if ((data_unit != 512 && data_unit != 4096) ||
	    !cmk_pow2(extent_sectors) || extent_sectors < unit ||
	    extent_sectors > CMK_EXTENT_SECTORS_MAX || (flags & ~CMK_HDR_ALLOC_DETACHED) ||
	    dev_sectors > (UINT64_MAX >> 9))
		return -EINVAL;
	if (!(flags & CMK_HDR_ALLOC_DETACHED)) {
		count = cmk_div_round_up(dev_sectors, extent_sectors);
		if (count > CMK_EXTENTS_MAX)
			return -E2BIG;
		off = cmk_round_up(2 * cmk_hdr_copy_size(count),
				   CMK_HDR_DATA_ALIGN) / 512;
		if (dev_sectors <= off)
			return -ENOSPC;
		data = dev_sectors - off;
	}
	data -= data % unit;
	if (!data)
		return -ENOSPC;
	count = cmk_div_round_up(data, extent_sectors);
	if (count > CMK_EXTENTS_MAX)
		return -E2BIG;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ext = calloc(count, sizeof(*h->ext));
	if (!h->ext) {
		free(h);
		return -ENOMEM;
	}
	ret = cmk_random(h->uuid, sizeof(h->uuid));
	if (ret) {
		cmk_hdr_free(h);
		return ret;
	}
	h->uuid[6] = (h->uuid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
	h->uuid[8] = (h->uuid[8] & 0x3f) | 0x80;
	h->version = CMK_HDR_VERSION;
	h->incompat = CMK_HDR_INCOMPAT_MAC;
	if (flags & CMK_HDR_ALLOC_DETACHED)
		h->incompat |= CMK_HDR_INCOMPAT_DETACHED;
	h->copy_size = cmk_hdr_copy_size(count);
	h->data_offset = off;
	h->data_sectors = data;
	h->data_unit = data_unit;
	h->extent_sectors = extent_sectors;
	h->extent_count = count;
	h->dek_wrap_alg = CMK_DEK_WRAP_AES256_GCM;
	h->copy = CMK_HDR_COPY_NONE;
	*hp = h;
	return 0;
}

/**
 * cmk_hdr_free() - free a header (it holds no secret)
 * @h: header or NULL
 */
void cmk_hdr_free(struct cmk_hdr *h)
{
	if (!h)
		return;
	free(h->ext);
	free(h);
}

/**
 * cmk_hdr_clone() - a deep copy of a header
 * @h: the header
 * @np: the copy, for cmk_hdr_free()
 *
 * Return: 0 or -ENOMEM.
 */
int cmk_hdr_clone(const struct cmk_hdr *h, struct cmk_hdr **np)
{
	struct cmk_hdr *n = malloc(sizeof(*n));

	*np = NULL;
	if (!n)
		return -ENOMEM;
	*n = *h;
	n->ext = calloc(h->extent_count ? h->extent_count : 1,
			sizeof(*n->ext));
	if (!n->ext) {
		free(n);
		return -ENOMEM;
	}
	memcpy(n->ext, h->ext, (size_t)h->extent_count * sizeof(*n->ext));
	*np = n;
	return 0;
}

/**
 * cmk_hdr_swap() - exchange the contents of two headers
 * @a: one header
 * @b: the other
 */
void cmk_hdr_swap(struct cmk_hdr *a, struct cmk_hdr *b)
{
	struct cmk_hdr t = *a;

	*a = *b;
	*b = t;
}

#define CMK_MAC_OFF	__builtin_offsetof(struct cmk_hdr_disk, mac)

/*
 * SHA-256 of the encoded copy @p of @len bytes, hashed in place (a copy can
 * be 128 MiB), as if its checksum field, and with @zero_mac its mac field,
 * were zero.  0 or -EIO.
 */
static int cmk_copy_sha256(const uint8_t *p, size_t len, bool zero_mac,
			   uint8_t md[32])
{
	static const uint8_t zero[32];
	size_t head = zero_mac ? CMK_MAC_OFF : CMK_CSUM_OFF;
	size_t mid = CMK_CSUM_OFF - CMK_MAC_OFF - CMK_HDR_MAC_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ret = -EIO;

	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, p, head) == 1 &&
	    (!zero_mac ||
	     (EVP_DigestUpdate(ctx, zero, CMK_HDR_MAC_LEN) == 1 &&
	      EVP_DigestUpdate(ctx, p + CMK_MAC_OFF + CMK_HDR_MAC_LEN,
			       mid) == 1)) &&
	    EVP_DigestUpdate(ctx, zero, CMK_HDR_CSUM_LEN) == 1 &&
	    EVP_DigestUpdate(ctx, p + CMK_HDR_FIXED_SIZE,
			     len - CMK_HDR_FIXED_SIZE) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == 32)
		ret = 0;
	EVP_MD_CTX_free(ctx);
	return ret;
}

/*
 * The checksum of the encoded copy @p of @len bytes, as if its checksum
 * field were zero.  All zeros if the digest cannot be computed: never
 * matches a real copy.
 */
static void cmk_hdr_digest(const uint8_t *p, size_t len,
			   uint8_t md[CMK_HDR_CSUM_LEN])
{
	if (cmk_copy_sha256(p, len, false, md))
		memset(md, 0, CMK_HDR_CSUM_LEN);
}

/**
 * cmk_hdr_auth_digest() - the digest a header copy's MAC covers
 * @copy: the encoded copy
 * @len: its size (at least CMK_HDR_FIXED_SIZE)
 * @out: SHA-256 of the copy with its mac and checksum fields zeroed
 *
 * Return: 0 or -EIO.
 */
int cmk_hdr_auth_digest(const uint8_t *copy, size_t len, uint8_t out[32])
{
	return cmk_copy_sha256(copy, len, true, out);
}

/**
 * cmk_hdr_checksum() - compute and store the checksum of an encoded copy
 * @buf: the copy; its checksum field is overwritten
 * @len: copy size (at least CMK_HDR_FIXED_SIZE)
 */
void cmk_hdr_checksum(void *buf, size_t len)
{
	uint8_t md[CMK_HDR_CSUM_LEN];

	cmk_hdr_digest(buf, len, md);
	memcpy((uint8_t *)buf + CMK_CSUM_OFF, md, CMK_HDR_CSUM_LEN);
}

static bool cmk_str_ok(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

static bool cmk_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

/* Checks of one KEK slot; @which is 0 for kek, 1 for kek_new. */
static int cmk_kek_check(const struct cmk_hdr_kek *k, int which,
			 const char **why)
{
	static const char *const msg[][7] = {
		{ "KEK vault type not NUL-terminated", "no KEK vault type",
		  "KEK version not NUL-terminated",
		  "KEK URI not NUL-terminated (longer than 1023 bytes)",
		  "no KEK URI", "unknown volume key wrap algorithm",
		  "no wrapped volume key" },
		{ "new KEK vault type not NUL-terminated",
		  "no new KEK vault type",
		  "new KEK version not NUL-terminated",
		  "new KEK URI not NUL-terminated (longer than 1023 bytes)",
		  "no new KEK URI",
		  "unknown volume key wrap algorithm for the new KEK",
		  "no volume key wrapped by the new KEK" },
	};
	uint32_t alg = le32toh(k->wrap_alg), len = le32toh(k->wrapped_vk_len);

	if (!cmk_str_ok(k->vault_type, sizeof(k->vault_type)))
		*why = msg[which][0];
	else if (!k->vault_type[0])
		*why = msg[which][1];
	else if (!cmk_str_ok(k->key_version, sizeof(k->key_version)))
		*why = msg[which][2];
	else if (!cmk_str_ok(k->uri, sizeof(k->uri)))
		*why = msg[which][3];
	else if (!k->uri[0])
		*why = msg[which][4];
	else if (alg != CMK_VK_WRAP_RSA_OAEP_SHA1 &&
		 alg != CMK_VK_WRAP_RSA_OAEP_SHA256)
		*why = msg[which][5];
	else if (!len)
		*why = msg[which][6];
	else if (len > CMK_HDR_WRAPPED_VK_MAX) {
		*why = which ? "volume key wrapped by the new KEK too long" :
			       "wrapped volume key too long";
		return -E2BIG;
	} else if (!cmk_text_plain(k->vault_type) ||
		   !cmk_text_plain(k->key_version) || !cmk_text_plain(k->uri))
		*why = which ? "control character in the new KEK's type, version or URI" :
			       "control character in the KEK's type, version or URI";
	return *why ? -EUCLEAN : 0;
}

static int cmk_entry_check(const struct cmk_hdr_extent *e, const char **why)
{
	if (!le32toh(e->generation))
		*why = "extent without a DEK (generation 0)";
	else if (le32toh(e->flags))
		*why = "unknown extent entry flags";
	return *why ? -EUCLEAN : 0;
}

/* The checks that need only the fixed part and the buffer length. */
static int cmk_fixed_check(const uint8_t *buf, size_t len,
			   const struct cmk_hdr_disk *d, const char **why)
{
	uint32_t count = le32toh(d->extent_count);
	uint64_t copy = le64toh(d->copy_size);

	if (memcmp(d->magic, CMK_HDR_MAGIC, CMK_HDR_MAGIC_LEN)) {
		*why = "bad magic (no cmk header)";
		return -ENOMSG;
	}
	if (le32toh(d->version) != CMK_HDR_VERSION) {
		*why = "unsupported header version";
		return -EPROTONOSUPPORT;
	}
	if (le32toh(d->fixed_size) != CMK_HDR_FIXED_SIZE) {
		*why = "bad fixed part size";
		return -EUCLEAN;
	}
	if (le32toh(d->entry_size) != CMK_HDR_ENTRY_SIZE) {
		*why = "bad extent entry size";
		return -EUCLEAN;
	}
	if (le32toh(d->incompat) & ~CMK_HDR_INCOMPAT_KNOWN) {
		*why = "unknown incompat feature";
		return -EOPNOTSUPP;
	}
	if (le32toh(d->checksum_alg) != CMK_HDR_CSUM_SHA256) {
		*why = "unknown checksum algorithm";
		return -EOPNOTSUPP;
	}
	if (!count) {
		*why = "no extents";
		return -EUCLEAN;
	}
	if (count > CMK_EXTENTS_MAX) {
		*why = "too many extents";
		return -E2BIG;
	}
	if (copy > CMK_HDR_COPY_MAX) {
		*why = "copy size too large";
		return -E2BIG;
	}
	if (copy % CMK_HDR_ALIGN) {
		*why = "copy size not a multiple of 4 KiB";
		return -EUCLEAN;
	}
	if (copy < cmk_hdr_copy_size(count)) {
		*why = "copy size too small for the extent count";
		return -EUCLEAN;
	}
	if (len < copy) {
		*why = "header copy truncated (extent table cut short)";
		return -ENODATA;
	}
	if (buf) {
		uint8_t md[CMK_HDR_CSUM_LEN];

		cmk_hdr_digest(buf, copy, md);
		if (memcmp(md, d->checksum, CMK_HDR_CSUM_LEN)) {
			*why = "checksum mismatch";
			return -EBADMSG;
		}
	}
	return 0;
}

static int cmk_geometry_check(const struct cmk_hdr_disk *d, const char **why)
{
	uint64_t off = le64toh(d->data_offset), data = le64toh(d->data_sectors);
	uint32_t unit = le32toh(d->data_unit), es = le32toh(d->extent_sectors);
	uint64_t copy = le64toh(d->copy_size);

	if (unit != 512 && unit != 4096)
		*why = "bad data unit (must be 512 or 4096)";
	else if (!cmk_pow2(es))
		*why = "extent size not a power of two";
	else if (es > CMK_EXTENT_SECTORS_MAX)
		*why = "extent size too large";
	else if (es < unit / 512)
		*why = "extent smaller than the data unit";
	else if (!data)
		*why = "empty data area";
	else if (data % (unit / 512))
		*why = "data area not a multiple of the data unit";
	else if (off % (unit / 512))
		*why = "data offset not aligned to the data unit";
	else if (off > (UINT64_MAX >> 9) || data > (UINT64_MAX >> 9) - off)
		*why = "data area beyond 2^64 bytes";
	else if (!(le32toh(d->incompat) & CMK_HDR_INCOMPAT_DETACHED) &&
		 off * 512 < 2 * copy)
		*why = "data offset inside the header area";
	else if (cmk_div_round_up(data, es) != le32toh(d->extent_count))
		*why = "extent count does not match data area and extent size";
	return *why ? -EUCLEAN : 0;
}

/* Rotation states are known and agree with their incompat flags. */
static int cmk_state_check(const struct cmk_hdr_disk *d, const char **why)
{
	uint32_t incompat = le32toh(d->incompat);
	uint32_t state = le32toh(d->dek_rot.state);

	if (le32toh(d->kek_state) > CMK_KEK_ROT_STAGED)
		*why = "bad KEK rotation state";
	else if (!le32toh(d->kek_state) != !(incompat & CMK_HDR_INCOMPAT_KEK_ROT))
		*why = "KEK rotation state and feature flag disagree";
	else if (state > CMK_DEK_ROT_MAX)
		*why = "bad DEK rotation state";
	else if (!state != !(incompat & CMK_HDR_INCOMPAT_DEK_ROT))
		*why = "DEK rotation state and feature flag disagree";
	return *why ? -EUCLEAN : 0;
}

/* The DEK rotation record against the extent table. */
static int cmk_rot_check(const struct cmk_hdr_disk *d, const uint8_t *table,
			 const char **why)
{
	const struct cmk_hdr_dek_rot *r = &d->dek_rot;
	uint32_t state = le32toh(r->state);
	uint32_t ext = le32toh(r->extent), es = le32toh(d->extent_sectors);
	uint64_t wm = le64toh(r->watermark), data = le64toh(d->data_sectors);
	struct cmk_hdr_extent e;
	uint64_t len;

	if (!state)
		return 0;
	if (ext >= le32toh(d->extent_count)) {
		*why = "DEK rotation extent out of range";
		return -EUCLEAN;
	}
	memcpy(&e, table + (size_t)ext * CMK_HDR_ENTRY_SIZE, sizeof(e));
	len = data - (uint64_t)ext * es;
	if (len > es)
		len = es;
	if (le32toh(r->new_dek.generation) != le32toh(e.generation) + 1)
		*why = "DEK rotation generation not the next one";
	else if (le32toh(r->new_dek.flags))
		*why = "unknown flags in the DEK rotation entry";
	else if (wm > len || wm % (le32toh(d->data_unit) / 512) ||
		 (state == CMK_DEK_ROT_STAGED && wm))
		*why = "DEK rotation watermark out of range";
	return *why ? -EUCLEAN : 0;
}

/*
 * Full validation of one copy in @buf; @d is an aligned copy of its fixed
 * part.
 */
static int cmk_disk_check(const uint8_t *buf, size_t len,
			  const struct cmk_hdr_disk *d, const char **why)
{
	const uint8_t *table = buf + CMK_HDR_FIXED_SIZE;
	struct cmk_hdr_extent e;
	uint32_t i, count;
	int ret;

	*why = NULL;
	ret = cmk_fixed_check(buf, len, d, why);
	if (ret)
		return ret;
	if (cmk_zero(d->uuid, sizeof(d->uuid)))
		*why = "null UUID";
	else if (!cmk_str_ok(d->label, sizeof(d->label)))
		*why = "label not NUL-terminated";
	else if (!cmk_text_plain(d->label))
		*why = "control character in the label";
	if (*why)
		return -EUCLEAN;
	ret = cmk_geometry_check(d, why);
	if (ret)
		return ret;
	if (le32toh(d->dek_wrap_alg) != CMK_DEK_WRAP_AES256_GCM) {
		*why = "unknown DEK wrap algorithm";
		return -EOPNOTSUPP;
	}
	ret = cmk_state_check(d, why);
	if (!ret)
		ret = cmk_kek_check(&d->kek, 0, why);
	if (!ret && le32toh(d->kek_state))
		ret = cmk_kek_check(&d->kek_new, 1, why);
	if (ret)
		return ret;
	count = le32toh(d->extent_count);
	for (i = 0; i < count; i++) {
		memcpy(&e, table + (size_t)i * CMK_HDR_ENTRY_SIZE, sizeof(e));
		ret = cmk_entry_check(&e, why);
		if (ret)
			return ret;
	}
	return cmk_rot_check(d, table, why);
}

/**
 * cmk_hdr_check() - validate one encoded header copy
 * @buf: the copy
 * @len: bytes available in @buf
 * @why: set to a message naming the first problem, NULL when valid
 *
 * Return: 0 or a negative errno of the classes listed in cmk-hdr.h.
 */
int cmk_hdr_check(const void *buf, size_t len, const char **why)
{
	struct cmk_hdr_disk *d;
	int ret;

	*why = NULL;
	if (!buf) {
		*why = "no buffer";
		return -EINVAL;
	}
	if (len < CMK_HDR_FIXED_SIZE) {
		*why = "header copy truncated (shorter than the fixed part)";
		return -ENODATA;
	}
	d = malloc(sizeof(*d));
	if (!d) {
		*why = "out of memory";
		return -ENOMEM;
	}
	memcpy(d, buf, sizeof(*d));
	ret = cmk_disk_check(buf, len, d, why);
	free(d);
	return ret;
}

static void cmk_entry_from_disk(struct cmk_dek_entry *h,
				const struct cmk_hdr_extent *e)
{
	h->generation = le32toh(e->generation);
	h->flags = le32toh(e->flags);
	memcpy(h->nonce, e->nonce, sizeof(h->nonce));
	memcpy(h->tag, e->tag, sizeof(h->tag));
	memcpy(h->wrapped, e->wrapped_dek, sizeof(h->wrapped));
}

static void cmk_entry_to_disk(struct cmk_hdr_extent *e,
			      const struct cmk_dek_entry *h)
{
	memset(e, 0, sizeof(*e));
	e->generation = htole32(h->generation);
	e->flags = htole32(h->flags);
	memcpy(e->nonce, h->nonce, sizeof(e->nonce));
	memcpy(e->tag, h->tag, sizeof(e->tag));
	memcpy(e->wrapped_dek, h->wrapped, sizeof(e->wrapped_dek));
}

static void cmk_kek_from_disk(struct cmk_kek_ref *h, const struct cmk_hdr_kek *k)
{
	memcpy(h->vault_type, k->vault_type, sizeof(h->vault_type));
	memcpy(h->key_version, k->key_version, sizeof(h->key_version));
	memcpy(h->uri, k->uri, sizeof(h->uri));
	h->wrap_alg = le32toh(k->wrap_alg);
	h->wrapped_vk_len = le32toh(k->wrapped_vk_len);
	memcpy(h->wrapped_vk, k->wrapped_vk, sizeof(h->wrapped_vk));
}

static void cmk_kek_to_disk(struct cmk_hdr_kek *k, const struct cmk_kek_ref *h)
{
	memcpy(k->vault_type, h->vault_type, sizeof(k->vault_type));
	memcpy(k->key_version, h->key_version, sizeof(k->key_version));
	memcpy(k->uri, h->uri, sizeof(k->uri));
	k->wrap_alg = htole32(h->wrap_alg);
	k->wrapped_vk_len = htole32(h->wrapped_vk_len);
	memcpy(k->wrapped_vk, h->wrapped_vk, sizeof(k->wrapped_vk));
}

/**
 * cmk_hdr_decode() - validate and decode one header copy
 * @buf: the copy
 * @len: bytes available in @buf
 * @hp: the decoded header (cmk_hdr_free() it), with copy CMK_HDR_COPY_NONE
 * @why: set to a message naming the problem, NULL on success
 *
 * Return: 0 or a negative errno of the classes listed in cmk-hdr.h.
 */
int cmk_hdr_decode(const void *buf, size_t len, struct cmk_hdr **hp,
		   const char **why)
{
	const uint8_t *table = (const uint8_t *)buf + CMK_HDR_FIXED_SIZE;
	struct cmk_hdr_disk *d = NULL;
	struct cmk_hdr_extent e;
	struct cmk_hdr *h = NULL;
	uint32_t i;
	int ret;

	*hp = NULL;
	ret = cmk_hdr_check(buf, len, why);
	if (ret)
		return ret;
	ret = -ENOMEM;
	*why = "out of memory";
	d = malloc(sizeof(*d));
	h = calloc(1, sizeof(*h));
	if (!d || !h)
		goto out;
	memcpy(d, buf, sizeof(*d));
	h->ext = calloc(le32toh(d->extent_count), sizeof(*h->ext));
	if (!h->ext)
		goto out;
	*why = NULL;
	h->version = le32toh(d->version);
	h->incompat = le32toh(d->incompat);
	h->compat = le32toh(d->compat);
	h->ro_compat = le32toh(d->ro_compat);
	h->seqno = le64toh(d->seqno);
	h->copy_size = le64toh(d->copy_size);
	memcpy(h->uuid, d->uuid, sizeof(h->uuid));
	memcpy(h->label, d->label, sizeof(h->label));
	h->data_offset = le64toh(d->data_offset);
	h->data_sectors = le64toh(d->data_sectors);
	h->data_unit = le32toh(d->data_unit);
	h->extent_sectors = le32toh(d->extent_sectors);
	h->extent_count = le32toh(d->extent_count);
	h->dek_wrap_alg = le32toh(d->dek_wrap_alg);
	h->kek_state = le32toh(d->kek_state);
	cmk_kek_from_disk(&h->kek, &d->kek);
	cmk_kek_from_disk(&h->kek_new, &d->kek_new);
	memcpy(h->kek.pub, d->kek_pub, sizeof(h->kek.pub));
	memcpy(h->kek_new.pub, d->kek_new_pub, sizeof(h->kek_new.pub));
	h->dek_rot.state = le32toh(d->dek_rot.state);
	h->dek_rot.extent = le32toh(d->dek_rot.extent);
	h->dek_rot.watermark = le64toh(d->dek_rot.watermark);
	cmk_entry_from_disk(&h->dek_rot.new_dek, &d->dek_rot.new_dek);
	memcpy(h->mac, d->mac, sizeof(h->mac));
	if (cmk_hdr_auth_digest(buf, h->copy_size, h->digest)) {
		*why = "computing the header digest failed";
		ret = -EIO;
		goto out;
	}
	h->copy = CMK_HDR_COPY_NONE;
	for (i = 0; i < h->extent_count; i++) {
		memcpy(&e, table + (size_t)i * CMK_HDR_ENTRY_SIZE, sizeof(e));
		cmk_entry_from_disk(&h->ext[i], &e);
	}
	free(d);
	*hp = h;
	return 0;
out:
	free(d);
	cmk_hdr_free(h);
	return ret;
}

/**
 * cmk_hdr_encode() - encode, checksum and validate one header copy
 * @h: the header
 * @buf: output, at least @h->copy_size bytes; bytes past the copy untouched
 * @len: size of @buf
 * @why: set to a message naming the problem, NULL on success
 *
 * Reserved fields and padding are written as zeros.  The result is checked
 * exactly as cmk_hdr_decode() would check it, so an invalid header is
 * never produced.
 *
 * Return: 0, -ENOSPC when @buf is too small, or a cmk_hdr_check() error.
 */
int cmk_hdr_encode(const struct cmk_hdr *h, void *buf, size_t len,
		   const char **why)
{
	struct cmk_hdr_extent e;
	struct cmk_hdr_disk *d;
	uint8_t *p = buf;
	uint32_t i;

	*why = NULL;
	if (!h || !buf || h->copy_size < CMK_HDR_FIXED_SIZE ||
	    h->copy_size > CMK_HDR_COPY_MAX ||
	    h->copy_size < cmk_hdr_copy_size(h->extent_count)) {
		*why = "bad header or copy size";
		return -EINVAL;
	}
	if (len < h->copy_size) {
		*why = "buffer smaller than a header copy";
		return -ENOSPC;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		*why = "out of memory";
		return -ENOMEM;
	}
	memcpy(d->magic, CMK_HDR_MAGIC, CMK_HDR_MAGIC_LEN);
	d->version = htole32(h->version);
	d->fixed_size = htole32(CMK_HDR_FIXED_SIZE);
	d->incompat = htole32(h->incompat);
	d->compat = htole32(h->compat);
	d->ro_compat = htole32(h->ro_compat);
	d->entry_size = htole32(CMK_HDR_ENTRY_SIZE);
	d->seqno = htole64(h->seqno);
	d->copy_size = htole64(h->copy_size);
	memcpy(d->uuid, h->uuid, sizeof(d->uuid));
	memcpy(d->label, h->label, sizeof(d->label));
	d->data_offset = htole64(h->data_offset);
	d->data_sectors = htole64(h->data_sectors);
	d->data_unit = htole32(h->data_unit);
	d->extent_sectors = htole32(h->extent_sectors);
	d->extent_count = htole32(h->extent_count);
	d->dek_wrap_alg = htole32(h->dek_wrap_alg);
	d->kek_state = htole32(h->kek_state);
	d->checksum_alg = htole32(CMK_HDR_CSUM_SHA256);
	cmk_kek_to_disk(&d->kek, &h->kek);
	cmk_kek_to_disk(&d->kek_new, &h->kek_new);
	memcpy(d->kek_pub, h->kek.pub, sizeof(d->kek_pub));
	memcpy(d->kek_new_pub, h->kek_new.pub, sizeof(d->kek_new_pub));
	d->dek_rot.state = htole32(h->dek_rot.state);
	d->dek_rot.extent = htole32(h->dek_rot.extent);
	d->dek_rot.watermark = htole64(h->dek_rot.watermark);
	cmk_entry_to_disk(&d->dek_rot.new_dek, &h->dek_rot.new_dek);
	memcpy(d->mac, h->mac, sizeof(d->mac));

	memset(p, 0, h->copy_size);
	memcpy(p, d, sizeof(*d));
	free(d);
	for (i = 0; i < h->extent_count; i++) {
		cmk_entry_to_disk(&e, &h->ext[i]);
		memcpy(p + CMK_HDR_FIXED_SIZE + (size_t)i * CMK_HDR_ENTRY_SIZE,
		       &e, sizeof(e));
	}
	cmk_hdr_checksum(p, h->copy_size);
	return cmk_hdr_check(p, h->copy_size, why);
}

/* I/O helpers: whole reads and writes, short read at EOF is -ENODATA. */
static int cmk_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ENODATA;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int cmk_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ENOSPC;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Copies larger than this have their checksum verified before they are read. */
#define CMK_HDR_STREAM_MIN	(1024 * 1024)

/*
 * Stream the copy at byte @off (fixed part in @fixed, @copy bytes in all)
 * through a small buffer and check its checksum, before any memory is
 * committed to the whole copy: a crafted 128 MiB candidate costs a read
 * and a hash, not 128 MiB of fresh pages.  0, -EBADMSG (*@why set) or a
 * read error.
 */
static int cmk_copy_csum_check(int fd, uint64_t off, const uint8_t *fixed,
			       uint64_t copy, const char **why)
{
	static const uint8_t zero[CMK_HDR_CSUM_LEN];
	const size_t chunk = CMK_HDR_STREAM_MIN;
	uint8_t out[EVP_MAX_MD_SIZE], *buf = malloc(chunk);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t pos = CMK_HDR_FIXED_SIZE;
	unsigned int n = 0;
	size_t len;
	int ret = -ENOMEM;

	*why = "out of memory";
	if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, fixed, CMK_CSUM_OFF) != 1 ||
	    EVP_DigestUpdate(ctx, zero, sizeof(zero)) != 1)
		goto out;
	while (pos < copy) {
		len = copy - pos < chunk ? copy - pos : chunk;
		ret = cmk_pread_full(fd, buf, len, off + pos);
		if (ret) {
			*why = ret == -ENODATA ?
				"header copy truncated (extent table cut short)" :
				"read error";
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, len) != 1) {
			ret = -ENOMEM;
			goto out;
		}
		pos += len;
	}
	ret = -ENOMEM;
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != CMK_HDR_CSUM_LEN)
		goto out;
	ret = 0;
	*why = NULL;
	if (memcmp(out, ((const struct cmk_hdr_disk *)fixed)->checksum,
		   CMK_HDR_CSUM_LEN)) {
		*why = "checksum mismatch";
		ret = -EBADMSG;
	}
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}

/* Copy size claimed by a fixed part with a good magic, 0 if implausible. */
static uint64_t cmk_claimed_size(const uint8_t *fixed)
{
	struct cmk_hdr_disk d;
	uint64_t copy;

	memcpy(&d, fixed, sizeof(d));
	copy = le64toh(d.copy_size);
	if (memcmp(d.magic, CMK_HDR_MAGIC, CMK_HDR_MAGIC_LEN) ||
	    copy < CMK_HDR_FIXED_SIZE || copy > CMK_HDR_COPY_MAX ||
	    copy % CMK_HDR_ALIGN)
		return 0;
	return copy;
}

/*
 * Read and decode the copy at byte @off.  Copy B is only valid at the
 * offset equal to its own copy size.  @claimed gets the copy size the
 * fixed part claims (0 if it has no magic or an implausible size).
 */
static int cmk_read_copy(int fd, uint64_t off, struct cmk_hdr **hp,
			 uint64_t *claimed, const char **why)
{
	uint8_t *buf;
	uint64_t copy;
	int ret;

	*hp = NULL;
	*claimed = 0;
	buf = malloc(CMK_HDR_FIXED_SIZE);
	if (!buf) {
		*why = "out of memory";
		return -ENOMEM;
	}
	ret = cmk_pread_full(fd, buf, CMK_HDR_FIXED_SIZE, off);
	if (ret) {
		*why = ret == -ENODATA ?
			"header copy truncated (shorter than the fixed part)" :
			"read error";
		goto out;
	}
	copy = cmk_claimed_size(buf);
	*claimed = copy;
	if (copy > CMK_HDR_STREAM_MIN) {
		struct cmk_hdr_disk d;

		memcpy(&d, buf, sizeof(d));
		ret = cmk_fixed_check(NULL, copy, &d, why);
		if (!ret)
			ret = cmk_copy_csum_check(fd, off, buf, copy, why);
		if (ret)
			goto out;
	}
	if (copy > CMK_HDR_FIXED_SIZE) {
		uint8_t *big = realloc(buf, copy);

		if (!big) {
			*why = "out of memory";
			ret = -ENOMEM;
			goto out;
		}
		buf = big;
		ret = cmk_pread_full(fd, buf + CMK_HDR_FIXED_SIZE,
				     copy - CMK_HDR_FIXED_SIZE,
				     off + CMK_HDR_FIXED_SIZE);
		if (ret == -ENODATA) {
			*why = "header copy truncated (extent table cut short)";
			goto out;
		} else if (ret) {
			*why = "read error";
			goto out;
		}
	} else {
		copy = CMK_HDR_FIXED_SIZE;
	}
	ret = cmk_hdr_decode(buf, copy, hp, why);
	if (!ret && off && (*hp)->copy_size != off) {
		cmk_hdr_free(*hp);
		*hp = NULL;
		*why = "copy B is not at the offset of its own copy size";
		ret = -EUCLEAN;
	}
out:
	free(buf);
	return ret;
}

/*
 * How many candidates for copy B a scan reads in full and checksums.  Each
 * costs up to CMK_HDR_COPY_MAX (128 MiB) of reading and hashing, and the
 * device is the attacker's: it can plant a plausible fixed part at every
 * 4 KiB.  A real device has one copy B, perhaps a stale one of an earlier
 * format too.
 */
#define CMK_HDR_SCAN_TRIES	2

/*
 * Whether the fixed part at @fixed could be a copy B at byte @off: magic,
 * version, sizes, features and geometry sane, and its copy size @off.  No
 * checksum: that needs the whole copy.
 */
static bool cmk_copy_b_candidate(const uint8_t *fixed, uint64_t off)
{
	struct cmk_hdr_disk d;
	const char *why = NULL;

	if (cmk_claimed_size(fixed) != off)
		return false;
	memcpy(&d, fixed, sizeof(d));
	return !cmk_fixed_check(NULL, off, &d, &why) &&
	       !cmk_geometry_check(&d, &why);
}

/*
 * Look for copy B when copy A does not say where it is: at a 4 KiB-aligned
 * offset equal to its own copy size.  Bounded whatever the device holds:
 * one pass over the first CMK_HDR_COPY_MAX bytes that looks at fixed parts
 * only, and at most CMK_HDR_SCAN_TRIES copies read whole and checksummed.
 */
static int cmk_scan_copy_b(int fd, uint64_t skip, struct cmk_hdr **hp,
			   int64_t *where, const char **why)
{
	const size_t chunk = 1024 * 1024;
	uint64_t base, off, claimed;
	uint8_t *buf = malloc(chunk);
	unsigned int tries = 0;
	ssize_t n;
	size_t i;
	int ret = -ENOMSG;

	*why = "copy B not found";
	if (!buf)
		return -ENOMEM;
	for (base = 0; base <= CMK_HDR_COPY_MAX; base += chunk) {
		n = pread(fd, buf, chunk, base);
		if (n <= 0)
			break;
		for (i = 0; i + CMK_HDR_FIXED_SIZE <= (size_t)n;
		     i += CMK_HDR_ALIGN) {
			off = base + i;
			if (!off || off == skip ||
			    !cmk_copy_b_candidate(buf + i, off))
				continue;
			if (tries++ == CMK_HDR_SCAN_TRIES) {
				*why = "copy B not found, and more candidates than a scan checks (a crafted device?)";
				ret = -ENOMSG;
				goto out;
			}
			ret = cmk_read_copy(fd, off, hp, &claimed, why);
			*where = off;
			if (!ret)
				goto out;
		}
		if ((size_t)n < chunk)
			break;
	}
out:
	free(buf);
	return ret;
}

/**
 * cmk_hdr_read() - read the header: the newest valid of the two copies
 * @fd: device or detached header file, open for reading
 * @hp: the header (cmk_hdr_free() it); @hp->copy names the copy used
 * @info: what was found in each copy (may be NULL)
 *
 * Copy B is looked for at the copy size copy A claims; when copy A is too
 * damaged to say, 4 KiB-aligned offsets are scanned for a copy B that
 * sits at its own copy size.  With both copies valid, the higher sequence
 * number wins (copy A on a tie).  @info->degraded tells the caller to warn
 * and rewrite the header (cmk_hdr_write() repairs both copies).
 *
 * Return: 0, or the error of copy A (of copy B when A has no magic and B
 * was found) when no copy is valid.
 */
int cmk_hdr_read(int fd, struct cmk_hdr **hp, struct cmk_hdr_read_info *info)
{
	struct cmk_hdr_read_info local;
	struct cmk_hdr *c[2] = { NULL, NULL };
	uint64_t claimed, dummy;
	int use;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	*hp = NULL;
	info->offset[0] = 0;
	info->offset[1] = -1;
	info->used = CMK_HDR_COPY_NONE;
	info->err[0] = cmk_read_copy(fd, 0, &c[0], &claimed, &info->why[0]);
	info->err[1] = -ENOMSG;
	info->why[1] = "copy B not found";
	if (claimed) {
		info->offset[1] = claimed;
		info->err[1] = cmk_read_copy(fd, claimed, &c[1], &dummy,
					     &info->why[1]);
	}
	if (info->err[1] && info->err[0]) {
		int64_t where = -1;
		const char *why;
		int ret = cmk_scan_copy_b(fd, claimed, &c[1], &where, &why);

		if (!ret || where >= 0 || !claimed) {
			info->err[1] = ret;
			info->why[1] = ret ? why : NULL;
			info->offset[1] = where;
		}
	}
	if (info->err[0] && info->err[1])
		return info->err[0] == -ENOMSG && info->offset[1] >= 0 ?
		       info->err[1] : info->err[0];

	if (c[0])
		info->seqno[0] = c[0]->seqno;
	if (c[1])
		info->seqno[1] = c[1]->seqno;
	use = !c[0] || (c[1] && c[1]->seqno > c[0]->seqno);
	info->used = use;
	info->degraded = !c[0] || !c[1] || c[0]->seqno != c[1]->seqno;
	c[use]->copy = use;
	*hp = c[use];
	cmk_hdr_free(c[!use]);
	return 0;
}

/* Write both copies of @h (already encoded in @buf), @first one first. */
static int cmk_write_copies(int fd, const struct cmk_hdr *h,
			    const uint8_t *buf, int first, const char **why)
{
	int i, ret;

	for (i = 0; i < 2; i++) {
		int copy = i ? !first : first;

		ret = cmk_pwrite_full(fd, buf, h->copy_size,
				      copy ? h->copy_size : 0);
		if (!ret && fdatasync(fd))
			ret = -errno;
		if (ret) {
			*why = "writing a header copy failed";
			return ret;
		}
	}
	return 0;
}

/* A new header: clear copy B of a previous header of another size. */
static int cmk_wipe_stale(int fd, uint64_t copy_size)
{
	uint8_t fixed[CMK_HDR_FIXED_SIZE], zero[CMK_HDR_FIXED_SIZE] = { 0 };
	uint64_t old;

	if (cmk_pread_full(fd, fixed, sizeof(fixed), 0))
		return 0;
	old = cmk_claimed_size(fixed);
	if (!old || old == copy_size)
		return 0;
	if (cmk_pread_full(fd, fixed, sizeof(fixed), old) ||
	    cmk_claimed_size(fixed) != old)
		return 0;
	return cmk_pwrite_full(fd, zero, sizeof(zero), old);
}

/**
 * cmk_hdr_write() - write the header crash-safely
 * @fd: device or detached header file, open for writing
 * @h: the header; on success its seqno is the one written
 * @vk: its volume key: the sequence number is bumped and the header sealed
 *	(cmk_hdr_seal()) before it is written.  NULL: written as it is, with
 *	its sequence number and MAC (a header restored from a backup)
 * @why: set to a message on failure
 *
 * The copy @h was not read from is written and synced first, then the
 * other; both end identical.  A new header (copy CMK_HDR_COPY_NONE) is
 * written A then B, after clearing copy B of an older header of another
 * size.
 *
 * Return: 0, -EROFS (unknown ro_compat feature), a cmk_hdr_encode() or
 * cmk_hdr_seal() error, or the I/O error.
 */
int cmk_hdr_write(int fd, struct cmk_hdr *h, const uint8_t *vk,
		  const char **why)
{
	uint64_t seq = h->seqno;
	uint8_t *buf;
	int first, ret;

	*why = NULL;
	if (h->ro_compat & ~CMK_HDR_RO_COMPAT_KNOWN) {
		*why = "unknown ro_compat feature: header is read-only";
		return -EROFS;
	}
	if (h->copy_size > CMK_HDR_COPY_MAX || seq == UINT64_MAX) {
		*why = "bad header";
		return -EINVAL;
	}
	buf = malloc(h->copy_size ? h->copy_size : 1);
	if (!buf) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (vk) {
		h->seqno = seq + 1;
		ret = cmk_hdr_seal(h, vk, why);
		if (ret)
			goto out;
	}
	ret = cmk_hdr_encode(h, buf, h->copy_size, why);
	if (ret)
		goto out;
	if (h->copy == CMK_HDR_COPY_NONE) {
		first = CMK_HDR_COPY_A;
		ret = cmk_wipe_stale(fd, h->copy_size);
		if (ret) {
			*why = "clearing an old header copy failed";
			goto out;
		}
	} else {
		first = !h->copy;
	}
	ret = cmk_write_copies(fd, h, buf, first, why);
	if (ret)
		goto out;
	h->copy = !first;
	free(buf);
	return 0;
out:
	h->seqno = seq;
	free(buf);
	return ret;
}

static int cmk_dev_bytes(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	*bytes = st.st_size;
	return 0;
}

/**
 * cmk_hdr_backup() - save a device's header to a new file
 * @fd: device or detached header file
 * @path: backup file; must not exist; created mode 0600
 * @why: set to a message on failure
 *
 * The newest valid header is written as both copies of the file, which is
 * then a valid detached-layout header file that cmk_hdr_read() accepts.
 *
 * Return: 0 or a negative errno.
 */
int cmk_hdr_backup(int fd, const char *path, const char **why)
{
	struct cmk_hdr_read_info info;
	struct cmk_hdr *h;
	int out, ret;

	*why = NULL;
	ret = cmk_hdr_read(fd, &h, &info);
	if (ret) {
		*why = info.why[0];
		return ret;
	}
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		ret = -errno;
		*why = "cannot create the backup file";
		goto out;
	}
	/* As read: sequence number and MAC included. */
	h->copy = CMK_HDR_COPY_NONE;
	ret = cmk_hdr_write(out, h, NULL, why);
	if (!ret && fsync(out))
		ret = -errno;
	if (close(out) && !ret)
		ret = -errno;
	if (ret) {
		unlink(path);
		if (!*why)
			*why = "writing the backup file failed";
	}
out:
	cmk_hdr_free(h);
	return ret;
}

static bool cmk_same_volume(const struct cmk_hdr *a, const struct cmk_hdr *b)
{
	return !memcmp(a->uuid, b->uuid, sizeof(a->uuid)) &&
	       a->copy_size == b->copy_size &&
	       a->data_offset == b->data_offset &&
	       a->data_sectors == b->data_sectors &&
	       a->data_unit == b->data_unit &&
	       a->extent_sectors == b->extent_sectors &&
	       a->extent_count == b->extent_count;
}

/**
 * cmk_hdr_restore() - put a backed-up header back on its device
 * @fd: device or detached header file, open read-write
 * @path: backup file made by cmk_hdr_backup()
 * @force: write even if the device holds no valid header, another volume
 *	   (UUID) or another geometry, or is too small for the data area
 * @why: set to a message on failure
 *
 * Both copies are rewritten with a sequence number above those of the
 * backup and of the device.
 *
 * Return: 0, -ENOENT (device has no valid header to compare with),
 * -ESTALE (device holds another volume or geometry), -ENOSPC (device too
 * small), a cmk_hdr_read() error of the backup, or an I/O error.
 */
int cmk_hdr_restore(int fd, const char *path, bool force, const char **why)
{
	struct cmk_hdr *b = NULL, *cur = NULL;
	struct cmk_hdr_read_info info;
	struct stat st;
	uint64_t bytes;
	int bfd, ret;

	*why = NULL;
	bfd = cmk_file_open(path, O_RDONLY, CMK_FILE_REG | CMK_FILE_BLK, &st);
	if (bfd < 0) {
		*why = bfd == -ENOTBLK ?
			"the backup is not a regular file or block device" :
			"cannot open the backup file";
		return bfd;
	}
	ret = cmk_hdr_read(bfd, &b, &info);
	close(bfd);
	if (ret) {
		*why = "the backup file holds no valid header";
		return ret;
	}
	ret = cmk_dev_bytes(fd, &bytes);
	if (ret) {
		*why = "cannot get the device size";
		goto out;
	}
	if (!force && bytes < 2 * b->copy_size) {
		*why = "device too small for the header";
		ret = -ENOSPC;
		goto out;
	}
	if (!force && !(b->incompat & CMK_HDR_INCOMPAT_DETACHED) &&
	    bytes / 512 < b->data_offset + b->data_sectors) {
		*why = "device too small for the header's data area";
		ret = -ENOSPC;
		goto out;
	}
	if (!cmk_hdr_read(fd, &cur, NULL)) {
		if (!force && !cmk_same_volume(b, cur)) {
			*why = "the device holds another volume or geometry";
			ret = -ESTALE;
			goto out;
		}
	} else if (!force) {
		*why = "the device has no valid header to compare with";
		ret = -ENOENT;
		goto out;
	}
	/*
	 * As saved, sequence number and MAC included: only the volume key
	 * could seal a newer one.  A host that saw a later header calls this
	 * a rollback at the next open (cmk_volume_trust()), unless told that
	 * the restore was meant (cmk_pin_accept()).
	 */
	b->copy = CMK_HDR_COPY_NONE;
	ret = cmk_hdr_write(fd, b, NULL, why);
out:
	cmk_hdr_free(cur);
	cmk_hdr_free(b);
	return ret;
}
