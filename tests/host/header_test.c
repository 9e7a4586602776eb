// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of the on-disk header (include/cmk-header.h): codec
 * round trips, rejection of damaged copies, two-copy selection and torn
 * writes, backup and restore, the local DEK wrap, and secure buffers.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cmk-hdr.h"
#include "cmk-volume.h"

static const uint8_t test_vk[CMK_VK_SIZE] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
};

/* A complete header of @n extents (detached: exactly @n extents). */
static struct cmk_hdr *mk_hdr(uint32_t n, uint32_t unit)
{
	uint32_t es = 64;
	struct cmk_hdr *h;
	uint32_t i;

	if (cmk_hdr_alloc((uint64_t)n * es - unit / 512, es, unit,
			  CMK_HDR_ALLOC_DETACHED, &h))
		return NULL;
	strcpy(h->label, "test volume");
	strcpy(h->kek.vault_type, "pkcs11");
	strcpy(h->kek.key_version, "1");
	strcpy(h->kek.uri, "pkcs11:token=cmk;object=kek;type=private");
	h->kek.wrap_alg = CMK_VK_WRAP_RSA_OAEP_SHA1;
	h->kek.wrapped_vk_len = 256;
	memset(h->kek.wrapped_vk, 0x5a, 256);
	for (i = 0; i < h->extent_count; i++)
		if (cmk_hdr_new_dek(h, test_vk, i)) {
			cmk_hdr_free(h);
			return NULL;
		}
	return h;
}

static uint8_t *mk_copy(uint32_t n, size_t *len)
{
	struct cmk_hdr *h = mk_hdr(n, 4096);
	const char *why;
	uint8_t *buf;

	if (!h)
		return NULL;
	*len = h->copy_size;
	buf = malloc(*len);
	if (buf && cmk_hdr_encode(h, buf, *len, &why)) {
		free(buf);
		buf = NULL;
	}
	cmk_hdr_free(h);
	return buf;
}

static void round_trip(struct __test_metadata *_metadata, uint32_t n,
		       uint32_t unit)
{
	struct cmk_hdr *h = mk_hdr(n, unit), *d;
	uint8_t *buf, *buf2, dek[CMK_DEK_SIZE];
	const char *why;
	uint32_t i;

	ASSERT_NE(NULL, h);
	ASSERT_EQ(n, h->extent_count);
	ASSERT_EQ(cmk_hdr_copy_size(n), h->copy_size);
	buf = malloc(h->copy_size);
	buf2 = malloc(h->copy_size);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, buf2);
	h->seqno = 42;
	ASSERT_EQ(0, cmk_hdr_encode(h, buf, h->copy_size, &why)) TH_LOG("%s", why);
	ASSERT_EQ(0, cmk_hdr_decode(buf, h->copy_size, &d, &why)) TH_LOG("%s", why);
	EXPECT_EQ(42, d->seqno);
	EXPECT_EQ(0, memcmp(h->uuid, d->uuid, 16));
	EXPECT_STREQ(h->label, d->label);
	EXPECT_EQ(h->data_offset, d->data_offset);
	EXPECT_EQ(h->data_sectors, d->data_sectors);
	EXPECT_EQ(unit, d->data_unit);
	EXPECT_EQ(h->extent_sectors, d->extent_sectors);
	EXPECT_EQ(h->incompat, d->incompat);
	EXPECT_STREQ(h->kek.uri, d->kek.uri);
	EXPECT_STREQ(h->kek.vault_type, d->kek.vault_type);
	EXPECT_STREQ(h->kek.key_version, d->kek.key_version);
	EXPECT_EQ(256, d->kek.wrapped_vk_len);
	EXPECT_EQ(0, memcmp(h->kek.wrapped_vk, d->kek.wrapped_vk, 512));
	EXPECT_EQ(0, memcmp(h->ext, d->ext, n * sizeof(*h->ext)));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(1, d->ext[i].generation);
		ASSERT_EQ(0, cmk_dek_unwrap(test_vk, d->uuid, i, &d->ext[i], dek));
	}
	/* Re-encoding the decoded header gives the same bytes. */
	ASSERT_EQ(0, cmk_hdr_encode(d, buf2, d->copy_size, &why));
	EXPECT_EQ(0, memcmp(buf, buf2, h->copy_size));
	cmk_hdr_free(d);
	cmk_hdr_free(h);
	free(buf);
	free(buf2);
}

TEST(round_trip_1)
{
	round_trip(_metadata, 1, 4096);
	round_trip(_metadata, 1, 512);
}

TEST(round_trip_7)
{
	round_trip(_metadata, 7, 4096);
	round_trip(_metadata, 7, 512);
}

TEST(round_trip_4096)
{
	round_trip(_metadata, 4096, 4096);
	EXPECT_EQ(4096 + 4096 * 128, cmk_hdr_copy_size(4096));
}

TEST(alloc_attached)
{
	struct cmk_hdr *h;

	/* 1 GiB device, 1 MiB extents: 1024 entries, 132 KiB per copy. */
	ASSERT_EQ(0, cmk_hdr_alloc(2097152, 2048, 4096, 0, &h));
	EXPECT_EQ(CMK_HDR_INCOMPAT_MAC, h->incompat);
	EXPECT_EQ(cmk_hdr_copy_size(h->extent_count), h->copy_size);
	EXPECT_EQ(2048, h->data_offset);		/* 1 MiB */
	EXPECT_EQ(2097152 - 2048, h->data_sectors);
	EXPECT_EQ(1023, h->extent_count);
	EXPECT_EQ(0x40, h->uuid[6] & 0xf0);
	cmk_hdr_free(h);
	EXPECT_EQ(-ENOSPC, cmk_hdr_alloc(2048, 8, 4096, 0, &h));
	EXPECT_EQ(-EINVAL, cmk_hdr_alloc(1 << 20, 12, 4096, 0, &h));
	EXPECT_EQ(-EINVAL, cmk_hdr_alloc(1 << 20, 4, 4096, 0, &h));
	EXPECT_EQ(-EINVAL, cmk_hdr_alloc(1 << 20, 8, 1024, 0, &h));
	EXPECT_EQ(-E2BIG, cmk_hdr_alloc(1ULL << 40, 8, 4096, 0, &h));
}

/* Rejection cases: one mutation of a valid 7-extent copy each. */
struct reject {
	const char *name;
	void (*mut)(uint8_t *buf, size_t *len);
	bool keep_csum;		/* do not recompute the checksum */
	int err;
	const char *why;
};

#define D(buf) ((struct cmk_hdr_disk *)(buf))
#define EXT(buf, i) ((struct cmk_hdr_extent *)((buf) + 4096 + (i) * 128))

static void m_magic(uint8_t *b, size_t *l) { (void)l; D(b)->magic[0] ^= 1; }
static void m_ver2(uint8_t *b, size_t *l) { (void)l; D(b)->version = htole32(2); }
static void m_ver0(uint8_t *b, size_t *l) { (void)l; D(b)->version = 0; }
static void m_incompat(uint8_t *b, size_t *l) { (void)l; D(b)->incompat |= htole32(0x80); }
static void m_fixed(uint8_t *b, size_t *l) { (void)l; D(b)->fixed_size = htole32(8192); }
static void m_entry(uint8_t *b, size_t *l) { (void)l; D(b)->entry_size = htole32(64); }
static void m_csalg(uint8_t *b, size_t *l) { (void)l; D(b)->checksum_alg = htole32(2); }
static void m_flip_ext(uint8_t *b, size_t *l) { (void)l; EXT(b, 3)->wrapped_dek[5] ^= 0x10; }
static void m_flip_label(uint8_t *b, size_t *l) { (void)l; D(b)->label[0] ^= 0x20; }
static void m_flip_pad(uint8_t *b, size_t *l) { b[*l - 1] ^= 1; }
static void m_flip_csum(uint8_t *b, size_t *l) { (void)l; D(b)->checksum[31] ^= 1; }
static void m_len0(uint8_t *b, size_t *l) { (void)b; *l = 0; }
static void m_len4095(uint8_t *b, size_t *l) { (void)b; *l = 4095; }
static void m_len4096(uint8_t *b, size_t *l) { (void)b; *l = 4096; }
static void m_lenm1(uint8_t *b, size_t *l) { (void)b; *l -= 1; }
static void m_count0(uint8_t *b, size_t *l) { (void)l; D(b)->extent_count = 0; }
static void m_count_big(uint8_t *b, size_t *l) { (void)l; D(b)->extent_count = htole32(CMK_EXTENTS_MAX + 1); }
static void m_count8(uint8_t *b, size_t *l) { (void)l; D(b)->extent_count = htole32(8); memset(EXT(b, 7), 0, 128); EXT(b, 7)->generation = htole32(1); }
static void m_count6(uint8_t *b, size_t *l) { (void)l; D(b)->extent_count = htole32(6); }
static void m_copy_odd(uint8_t *b, size_t *l) { (void)l; D(b)->copy_size = htole64(8192 - 512); }
static void m_copy_small(uint8_t *b, size_t *l) { (void)l; D(b)->copy_size = htole64(4096); }
static void m_copy_big(uint8_t *b, size_t *l) { (void)l; D(b)->copy_size = htole64(CMK_HDR_COPY_MAX + 4096); }
static void m_uuid0(uint8_t *b, size_t *l) { (void)l; memset(D(b)->uuid, 0, 16); }
static void m_label(uint8_t *b, size_t *l) { (void)l; memset(D(b)->label, 'x', 64); }
static void m_unit(uint8_t *b, size_t *l) { (void)l; D(b)->data_unit = htole32(1024); }
static void m_unit0(uint8_t *b, size_t *l) { (void)l; D(b)->data_unit = 0; }
static void m_es3(uint8_t *b, size_t *l) { (void)l; D(b)->extent_sectors = htole32(96); }
static void m_es_small(uint8_t *b, size_t *l) { (void)l; D(b)->extent_sectors = htole32(4); }
static void m_es_big(uint8_t *b, size_t *l) { (void)l; D(b)->extent_sectors = htole32(1U << 31); }
static void m_data0(uint8_t *b, size_t *l) { (void)l; D(b)->data_sectors = 0; }
static void m_data_odd(uint8_t *b, size_t *l) { (void)l; D(b)->data_sectors = htole64(le64toh(D(b)->data_sectors) + 1); }
static void m_off_odd(uint8_t *b, size_t *l) { (void)l; D(b)->data_offset = htole64(3); }
static void m_off_inside(uint8_t *b, size_t *l) { (void)l; D(b)->incompat &= ~htole32(CMK_HDR_INCOMPAT_DETACHED); D(b)->data_offset = htole64(16); }
static void m_off_huge(uint8_t *b, size_t *l) { (void)l; D(b)->data_offset = htole64((UINT64_MAX >> 9) - 7); }
static void m_dekalg(uint8_t *b, size_t *l) { (void)l; D(b)->dek_wrap_alg = htole32(2); }
static void m_vault_nul(uint8_t *b, size_t *l) { (void)l; memset(D(b)->kek.vault_type, 'p', 16); }
static void m_vault_empty(uint8_t *b, size_t *l) { (void)l; memset(D(b)->kek.vault_type, 0, 16); }
static void m_keyver(uint8_t *b, size_t *l) { (void)l; memset(D(b)->kek.key_version, '1', 64); }
static void m_uri_long(uint8_t *b, size_t *l) { (void)l; memset(D(b)->kek.uri, 'u', 1024); }
static void m_uri_empty(uint8_t *b, size_t *l) { (void)l; memset(D(b)->kek.uri, 0, 1024); }
static void m_vkalg(uint8_t *b, size_t *l) { (void)l; D(b)->kek.wrap_alg = htole32(3); }
static void m_vklen(uint8_t *b, size_t *l) { (void)l; D(b)->kek.wrapped_vk_len = htole32(513); }
static void m_vklen0(uint8_t *b, size_t *l) { (void)l; D(b)->kek.wrapped_vk_len = 0; }
static void m_gen0(uint8_t *b, size_t *l) { (void)l; EXT(b, 6)->generation = 0; }
static void m_eflags(uint8_t *b, size_t *l) { (void)l; EXT(b, 2)->flags = htole32(1); }
static void m_kst2(uint8_t *b, size_t *l) { (void)l; D(b)->kek_state = htole32(2); }
static void m_kst_noflag(uint8_t *b, size_t *l) { (void)l; D(b)->kek_state = htole32(1); }
static void m_kflag_nost(uint8_t *b, size_t *l) { (void)l; D(b)->incompat |= htole32(CMK_HDR_INCOMPAT_KEK_ROT); }
static void m_knew_empty(uint8_t *b, size_t *l) { (void)l; D(b)->incompat |= htole32(CMK_HDR_INCOMPAT_KEK_ROT); D(b)->kek_state = htole32(1); }
static void m_dst3(uint8_t *b, size_t *l) { (void)l; D(b)->dek_rot.state = htole32(3); }
static void m_dst_noflag(uint8_t *b, size_t *l) { (void)l; D(b)->dek_rot.state = htole32(1); }

static void dek_rot(uint8_t *b, uint32_t ext, uint32_t gen, uint64_t wm)
{
	D(b)->incompat |= htole32(CMK_HDR_INCOMPAT_DEK_ROT);
	D(b)->dek_rot.state = htole32(CMK_DEK_ROT_RUNNING);
	D(b)->dek_rot.extent = htole32(ext);
	D(b)->dek_rot.watermark = htole64(wm);
	D(b)->dek_rot.new_dek = *EXT(b, ext < 7 ? ext : 0);
	D(b)->dek_rot.new_dek.generation = htole32(gen);
}

static void m_drot_ext(uint8_t *b, size_t *l) { (void)l; dek_rot(b, 7, 2, 8); }
static void m_drot_gen(uint8_t *b, size_t *l) { (void)l; dek_rot(b, 1, 3, 8); }
static void m_drot_wm(uint8_t *b, size_t *l) { (void)l; dek_rot(b, 1, 2, 72); }
static void m_drot_wm_last(uint8_t *b, size_t *l) { (void)l; dek_rot(b, 6, 2, 64); }

static void m_label_nl(uint8_t *b, size_t *l) { (void)l; D(b)->label[1] = '\n'; }
static void m_uri_esc(uint8_t *b, size_t *l) { (void)l; D(b)->kek.uri[7] = 0x1b; }
static void m_ver_del(uint8_t *b, size_t *l) { (void)l; D(b)->kek.key_version[0] = 0x7f; }

static const struct reject rejects[] = {
	{ "bad magic", m_magic, false, -ENOMSG, "bad magic" },
	{ "version 2", m_ver2, false, -EPROTONOSUPPORT, "version" },
	{ "version 0", m_ver0, false, -EPROTONOSUPPORT, "version" },
	{ "unknown incompat", m_incompat, false, -EOPNOTSUPP, "incompat" },
	{ "fixed size", m_fixed, false, -EUCLEAN, "fixed part size" },
	{ "entry size", m_entry, false, -EUCLEAN, "entry size" },
	{ "checksum alg", m_csalg, false, -EOPNOTSUPP, "checksum algorithm" },
	{ "csum: extent byte", m_flip_ext, true, -EBADMSG, "checksum mismatch" },
	{ "csum: label byte", m_flip_label, true, -EBADMSG, "checksum mismatch" },
	{ "csum: padding byte", m_flip_pad, true, -EBADMSG, "checksum mismatch" },
	{ "csum: checksum byte", m_flip_csum, true, -EBADMSG, "checksum mismatch" },
	{ "truncated to 0", m_len0, true, -ENODATA, "fixed part" },
	{ "truncated to 4095", m_len4095, true, -ENODATA, "fixed part" },
	{ "truncated to 4096", m_len4096, true, -ENODATA, "extent table" },
	{ "truncated by 1", m_lenm1, true, -ENODATA, "extent table" },
	{ "no extents", m_count0, false, -EUCLEAN, "no extents" },
	{ "too many extents", m_count_big, false, -E2BIG, "too many" },
	{ "extent count +1", m_count8, false, -EUCLEAN, "extent count does not match" },
	{ "extent count -1", m_count6, false, -EUCLEAN, "extent count does not match" },
	{ "copy size unaligned", m_copy_odd, false, -EUCLEAN, "multiple of 4 KiB" },
	{ "copy size too small", m_copy_small, false, -EUCLEAN, "too small" },
	{ "copy size too large", m_copy_big, false, -E2BIG, "too large" },
	{ "null uuid", m_uuid0, false, -EUCLEAN, "null UUID" },
	{ "label without NUL", m_label, false, -EUCLEAN, "label" },
	{ "newline in the label", m_label_nl, false, -EUCLEAN, "control character in the label" },
	{ "escape in the KEK URI", m_uri_esc, false, -EUCLEAN, "control character in the KEK" },
	{ "DEL in the KEK version", m_ver_del, false, -EUCLEAN, "control character in the KEK" },
	{ "data unit 1024", m_unit, false, -EUCLEAN, "data unit" },
	{ "data unit 0", m_unit0, false, -EUCLEAN, "data unit" },
	{ "extent not pow2", m_es3, false, -EUCLEAN, "power of two" },
	{ "extent < data unit", m_es_small, false, -EUCLEAN, "smaller than the data unit" },
	{ "extent too large", m_es_big, false, -EUCLEAN, "too large" },
	{ "empty data area", m_data0, false, -EUCLEAN, "empty" },
	{ "data area not in units", m_data_odd, false, -EUCLEAN, "multiple of the data unit" },
	{ "data offset unaligned", m_off_odd, false, -EUCLEAN, "not aligned" },
	{ "data offset in header", m_off_inside, false, -EUCLEAN, "inside the header" },
	{ "data area overflow", m_off_huge, false, -EUCLEAN, "2^64" },
	{ "dek wrap alg", m_dekalg, false, -EOPNOTSUPP, "DEK wrap" },
	{ "vault type no NUL", m_vault_nul, false, -EUCLEAN, "vault type not NUL" },
	{ "vault type empty", m_vault_empty, false, -EUCLEAN, "no KEK vault" },
	{ "key version no NUL", m_keyver, false, -EUCLEAN, "version not NUL" },
	{ "URI overflow", m_uri_long, false, -EUCLEAN, "URI not NUL" },
	{ "URI empty", m_uri_empty, false, -EUCLEAN, "no KEK URI" },
	{ "vk wrap alg", m_vkalg, false, -EUCLEAN, "volume key wrap algorithm" },
	{ "wrapped vk too long", m_vklen, false, -E2BIG, "too long" },
	{ "wrapped vk empty", m_vklen0, false, -EUCLEAN, "no wrapped volume key" },
	{ "extent generation 0", m_gen0, false, -EUCLEAN, "generation 0" },
	{ "extent flags", m_eflags, false, -EUCLEAN, "entry flags" },
	{ "kek state 2", m_kst2, false, -EUCLEAN, "bad KEK rotation state" },
	{ "kek state w/o flag", m_kst_noflag, false, -EUCLEAN, "disagree" },
	{ "kek flag w/o state", m_kflag_nost, false, -EUCLEAN, "disagree" },
	{ "staged kek empty", m_knew_empty, false, -EUCLEAN, "new KEK" },
	{ "dek rot state 3", m_dst3, false, -EUCLEAN, "bad DEK rotation state" },
	{ "dek rot w/o flag", m_dst_noflag, false, -EUCLEAN, "disagree" },
	{ "dek rot extent", m_drot_ext, false, -EUCLEAN, "extent out of range" },
	{ "dek rot generation", m_drot_gen, false, -EUCLEAN, "not the next" },
	{ "dek rot watermark", m_drot_wm, false, -EUCLEAN, "watermark" },
	{ "dek rot watermark, last extent", m_drot_wm_last, false, -EUCLEAN, "watermark" },
};

TEST(rejects_damaged_copies)
{
	size_t len, l, i;
	uint8_t *good = mk_copy(7, &len), *buf;
	struct cmk_hdr *h;
	const char *why;

	ASSERT_NE(NULL, good);
	ASSERT_EQ(8192, len);
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_GE(sizeof(rejects) / sizeof(rejects[0]), 20);
	for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		const struct reject *r = &rejects[i];

		memcpy(buf, good, len);
		l = len;
		r->mut(buf, &l);
		if (!r->keep_csum)
			cmk_hdr_checksum(buf, len);
		h = (struct cmk_hdr *)1;
		EXPECT_EQ(r->err, cmk_hdr_decode(buf, l, &h, &why))
			TH_LOG("%s: %s", r->name, why);
		EXPECT_EQ(NULL, h) TH_LOG("%s", r->name);
		EXPECT_NE(NULL, why);
		if (why)
			EXPECT_NE(NULL, strstr(why, r->why))
				TH_LOG("%s: '%s' lacks '%s'", r->name, why, r->why);
		EXPECT_EQ(r->err, cmk_hdr_check(buf, l, &why)) TH_LOG("%s", r->name);
	}
	free(buf);
	free(good);
}

TEST(accepts_rotation_and_future_compat)
{
	size_t len, l;
	uint8_t *buf = mk_copy(7, &len);
	struct cmk_hdr *h;
	const char *why;

	ASSERT_NE(NULL, buf);
	l = len;
	/* DEK rotation running on the short last extent, watermark at its end. */
	dek_rot(buf, 6, 2, 56);
	D(buf)->incompat |= htole32(CMK_HDR_INCOMPAT_KEK_ROT);
	D(buf)->kek_state = htole32(CMK_KEK_ROT_STAGED);
	D(buf)->kek_new = D(buf)->kek;
	D(buf)->kek_new.key_version[0] = '2';
	D(buf)->compat = htole32(0x8000);	/* unknown compat: ignored */
	cmk_hdr_checksum(buf, len);
	ASSERT_EQ(0, cmk_hdr_decode(buf, l, &h, &why)) TH_LOG("%s", why);
	EXPECT_EQ(CMK_DEK_ROT_RUNNING, h->dek_rot.state);
	EXPECT_EQ(6, h->dek_rot.extent);
	EXPECT_EQ(56, h->dek_rot.watermark);
	EXPECT_EQ(2, h->dek_rot.new_dek.generation);
	EXPECT_STREQ("2", h->kek_new.key_version);
	{
		/* Decoded, but not opened: refused before any vault call
		 * (no vault is given), until DEK rotation exists.
		 */
		struct cmk_volume_keys keys;
		struct cmk_volume_error err = { 0 };

		EXPECT_EQ(-EOPNOTSUPP, cmk_volume_unlock(h, NULL, &keys, &err));
		EXPECT_EQ(CMK_VOLUME_FAIL_HEADER, err.kind);
		EXPECT_NE(NULL, strstr(err.msg, "online DEK rotation of extent 6"));
		EXPECT_EQ(NULL, keys.deks);
	}
	cmk_hdr_free(h);

	/* Unknown ro_compat: readable, not writable. */
	D(buf)->ro_compat = htole32(0x1);
	cmk_hdr_checksum(buf, len);
	ASSERT_EQ(0, cmk_hdr_decode(buf, l, &h, &why));
	EXPECT_EQ(-EROFS, cmk_hdr_write(-1, h, test_vk, &why));
	cmk_hdr_free(h);
	free(buf);
}

TEST(encode_refuses_invalid)
{
	struct cmk_hdr *h = mk_hdr(3, 4096);
	uint8_t buf[8192];
	const char *why;

	ASSERT_NE(NULL, h);
	EXPECT_EQ(-ENOSPC, cmk_hdr_encode(h, buf, 4096, &why));
	h->ext[1].generation = 0;
	EXPECT_EQ(-EUCLEAN, cmk_hdr_encode(h, buf, sizeof(buf), &why));
	h->ext[1].generation = 1;
	memset(h->kek.uri, 'u', sizeof(h->kek.uri));
	EXPECT_EQ(-EUCLEAN, cmk_hdr_encode(h, buf, sizeof(buf), &why));
	EXPECT_NE(NULL, strstr(why, "URI"));
	cmk_hdr_free(h);
}

/* Two copies in a file. */

static int tmp_file(void)
{
	char path[] = "/tmp/cmk-header-test.XXXXXX";
	int fd = mkstemp(path);

	if (fd >= 0)
		unlink(path);
	return fd;
}

static void put_copy(int fd, struct cmk_hdr *h, uint64_t seq, int copy)
{
	const char *why;
	uint8_t *buf = malloc(h->copy_size);

	h->seqno = seq;
	if (buf && !cmk_hdr_encode(h, buf, h->copy_size, &why))
		if (pwrite(fd, buf, h->copy_size, copy ? h->copy_size : 0) < 0)
			perror("pwrite");
	free(buf);
}

static void flip(int fd, off_t off)
{
	uint8_t c;

	if (pread(fd, &c, 1, off) == 1) {
		c ^= 0x40;
		if (pwrite(fd, &c, 1, off) != 1)
			perror("pwrite");
	}
}

/*
 * The MAC covers every byte: a sealed copy with any one byte changed (the
 * checksum recomputed, as an attacker would) either no longer decodes or
 * does not authenticate.  The control: unchanged, it authenticates, and
 * not under another key.
 */
TEST(mac_every_byte)
{
	static const uint8_t other_vk[CMK_VK_SIZE] = { 1 };
	struct cmk_hdr *h = mk_hdr(3, 4096), *r;
	size_t len, off, decoded = 0;
	uint8_t *buf, *copy;
	const char *why;

	ASSERT_NE(NULL, h);
	ASSERT_EQ(0, cmk_hdr_seal(h, test_vk, &why)) TH_LOG("%s", why);
	len = h->copy_size;
	buf = malloc(len);
	copy = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, cmk_hdr_encode(h, buf, len, &why));
	ASSERT_EQ(0, cmk_hdr_decode(buf, len, &r, &why));
	EXPECT_EQ(0, cmk_hdr_authentic(r, test_vk));
	EXPECT_EQ(-EBADMSG, cmk_hdr_authentic(r, other_vk));
	cmk_hdr_free(r);
	for (off = 0; off < len; off++) {
		if (off >= 4064 && off < 4096)
			continue;	/* the checksum itself */
		memcpy(copy, buf, len);
		copy[off] ^= 0x01;
		cmk_hdr_checksum(copy, len);
		if (cmk_hdr_decode(copy, len, &r, &why))
			continue;	/* refused before the MAC */
		decoded++;
		EXPECT_EQ(-EBADMSG, cmk_hdr_authentic(r, test_vk))
			TH_LOG("byte %zu changed, still authentic", off);
		cmk_hdr_free(r);
	}
	TH_LOG("%zu of %zu one-byte changes decode; the MAC refuses each",
	       decoded, len - 32);
	EXPECT_LT(len / 2, decoded);
	free(buf);
	free(copy);
	cmk_hdr_free(h);
}

/* A header without the MAC feature cannot be authenticated. */
TEST(mac_absent)
{
	struct cmk_hdr *h = mk_hdr(1, 4096), *r;
	const char *why;
	uint8_t *buf;

	ASSERT_NE(NULL, h);
	h->incompat &= ~CMK_HDR_INCOMPAT_MAC;
	buf = malloc(h->copy_size);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, cmk_hdr_encode(h, buf, h->copy_size, &why));
	ASSERT_EQ(0, cmk_hdr_decode(buf, h->copy_size, &r, &why));
	EXPECT_EQ(-ENOKEY, cmk_hdr_authentic(r, test_vk));
	cmk_hdr_free(r);
	free(buf);
	cmk_hdr_free(h);
}

TEST(vk_fingerprint)
{
	static const uint8_t vk2[CMK_VK_SIZE] = { 2 };
	static const uint8_t uuid2[16] = { 9 };
	char a[CMK_VK_FP_LEN], b[CMK_VK_FP_LEN], c[CMK_VK_FP_LEN];
	char d[CMK_VK_FP_LEN];
	uint8_t uuid[16] = { 0 };

	ASSERT_EQ(0, cmk_vk_fingerprint(test_vk, uuid, a));
	ASSERT_EQ(0, cmk_vk_fingerprint(test_vk, uuid, b));
	ASSERT_EQ(0, cmk_vk_fingerprint(vk2, uuid, c));
	ASSERT_EQ(0, cmk_vk_fingerprint(test_vk, uuid2, d));
	EXPECT_STREQ(a, b);
	EXPECT_STRNE(a, c);
	EXPECT_STRNE(a, d);
	EXPECT_EQ(39, strlen(a));
	EXPECT_TRUE(cmk_vk_fingerprint_valid(a));
	EXPECT_FALSE(cmk_vk_fingerprint_valid("cmkvk1:00"));
	EXPECT_FALSE(cmk_vk_fingerprint_valid("cmkvk2:0123456789abcdef0123456789abcdef"));
	EXPECT_FALSE(cmk_vk_fingerprint_valid("cmkvk1:0123456789ABCDEF0123456789abcdef"));
	EXPECT_TRUE(cmk_vk_fingerprint_valid("cmkvk1:0123456789abcdef0123456789abcdef"));
}

/* What a host records of a volume, and what it refuses. */
TEST(pin_and_rollback)
{
	char dir[] = "/tmp/cmk-pin-test.XXXXXX", rec[PATH_MAX];
	struct cmk_hdr *h = mk_hdr(2, 4096);
	struct cmk_volume_keys k = { 0 }, forged = { 0 };
	struct cmk_pin_opts o = { 0 };
	struct cmk_volume_error err;
	struct cmk_pin_result r;
	FILE *f;

	ASSERT_NE(NULL, h);
	ASSERT_NE(NULL, mkdtemp(dir));
	o.state_dir = dir;
	ASSERT_EQ(0, cmk_vk_fingerprint(test_vk, h->uuid, k.fingerprint));
	strcpy(forged.fingerprint, "cmkvk1:0123456789abcdef0123456789abcdef");
	h->seqno = 5;

	/* Unknown, check only: not pinned, nothing written. */
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_FALSE(r.pinned);
	EXPECT_FALSE(r.recorded_now);
	EXPECT_NE(0, access(r.record, F_OK));
	/* First open: pinned now. */
	o.record = true;
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err)) TH_LOG("%s", err.msg);
	EXPECT_FALSE(r.pinned);
	EXPECT_TRUE(r.recorded_now);
	EXPECT_EQ(0, access(r.record, R_OK));
	strcpy(rec, r.record);
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_TRUE(r.pinned);
	EXPECT_FALSE(r.recorded_now);
	/* A forged header: another volume key under the same UUID. */
	EXPECT_EQ(-EKEYREJECTED, cmk_volume_trust(h, &forged, &o, &r, &err));
	EXPECT_EQ(CMK_VOLUME_FAIL_HEADER, err.kind);
	EXPECT_NE(NULL, strstr(err.msg, "the one this host pinned"));
	/* An explicit pin: the same refusal, and it wins over no record. */
	o.fingerprint = forged.fingerprint;
	EXPECT_EQ(-EKEYREJECTED, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_NE(NULL, strstr(err.msg, "is not the pinned"));
	o.fingerprint = "cmkvk1:nothex";
	EXPECT_EQ(-EINVAL, cmk_volume_trust(h, &k, &o, &r, &err));
	o.fingerprint = k.fingerprint;
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_TRUE(r.pinned);
	/* A newer header moves the record on; an older one is a rollback. */
	h->seqno = 9;
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));
	h->seqno = 6;
	EXPECT_EQ(-ESTALE, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_NE(NULL, strstr(err.msg, "rollback: the header's sequence number 6 is older than 9"));
	o.allow_rollback = true;
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_TRUE(r.rolled_back);
	o.allow_rollback = false;
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));	/* 6 accepted */
	/* A restore on purpose accepts an older number, keeps the pin. */
	h->seqno = 2;
	EXPECT_EQ(0, cmk_pin_record(dir, h, NULL, &err));
	EXPECT_EQ(0, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_EQ(-EKEYREJECTED, cmk_volume_trust(h, &forged, &o, &r, &err));
	/* Records that are not the host's own are refused. */
	ASSERT_EQ(0, chmod(rec, 0666));
	EXPECT_EQ(-EACCES, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_NE(NULL, strstr(err.msg, "writable"));
	ASSERT_EQ(0, chmod(rec, 0600));
	f = fopen(rec, "a");
	ASSERT_NE(NULL, f);
	fputs("module /tmp/evil.so\n", f);
	fclose(f);
	EXPECT_EQ(-EUCLEAN, cmk_volume_trust(h, &k, &o, &r, &err));
	EXPECT_NE(NULL, strstr(err.msg, "not a dm-cmk record"));
	unlink(rec);
	rmdir(dir);
	cmk_hdr_free(h);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The copy B scan bomb: copy A gone, and plausible fixed parts (right
 * magic, sane geometry, a copy size equal to their offset, wrong checksum)
 * planted where the scan looks.  The scan used to read and checksum every
 * one in full: quadratic, hours for the 128 MiB window.  Now it looks at
 * fixed parts in one pass and checksums at most two copies.  Both layouts
 * an attacker would choose: a candidate at every 4 KiB, and two candidates
 * at the largest offsets (the most expensive to check).  The times are
 * printed; the bound asserted is only far below the quadratic scan's.
 */
static void plant(int fd, const uint8_t *fixed, uint64_t off)
{
	uint8_t b[4096];

	memcpy(b, fixed, sizeof(b));
	D(b)->copy_size = htole64(off);
	if (pwrite(fd, b, sizeof(b), off) != (ssize_t)sizeof(b))
		perror("pwrite");
}

TEST(copy_b_scan_bounded)
{
	char path[] = "/tmp/header_test.XXXXXX";
	struct cmk_hdr_read_info info;
	struct cmk_hdr *r = (void *)1;
	size_t len;
	uint8_t *fixed = mk_copy(1, &len);
	uint64_t off, top = CMK_HDR_COPY_MAX - 4096;
	double t0, every, two;
	int fd;

	ASSERT_NE(NULL, fixed);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);

	/* A candidate at every 4 KiB up to the largest copy size. */
	for (off = 8192; off <= top; off += 4096)
		plant(fd, fixed, off);
	t0 = now_s();
	EXPECT_NE(0, cmk_hdr_read(fd, &r, &info));
	every = now_s() - t0;
	EXPECT_EQ(NULL, r);
	EXPECT_EQ(-ENOMSG, info.err[0]);
	EXPECT_NE(NULL, strstr(info.why[1], "more candidates than a scan checks"))
		TH_LOG("copy B: %s", info.why[1]);

	/* Two candidates, 128 MiB copies each (a sparse file). */
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(0, ftruncate(fd, 2 * CMK_HDR_COPY_MAX));
	plant(fd, fixed, top - 4096);
	plant(fd, fixed, top);
	t0 = now_s();
	EXPECT_EQ(-EBADMSG, cmk_hdr_read(fd, &r, &info));
	two = now_s() - t0;
	EXPECT_STREQ("checksum mismatch", info.why[1]);
	EXPECT_EQ((int64_t)top, info.offset[1]);

	TH_LOG("crafted copy B candidates rejected: every 4 KiB (%llu) in %.3f s, two 128 MiB ones in %.3f s",
	       (unsigned long long)((top - 8192) / 4096 + 1), every, two);
	EXPECT_GT(30.0, every);
	EXPECT_GT(30.0, two);
	close(fd);
	free(fixed);
}

TEST(two_copies_fresh_write)
{
	struct cmk_hdr *h = mk_hdr(7, 4096), *r;
	struct cmk_hdr_read_info info;
	const char *why;
	int fd = tmp_file();

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, h);
	ASSERT_EQ(0, cmk_hdr_write(fd, h, test_vk, &why)) TH_LOG("%s", why);
	EXPECT_EQ(1, h->seqno);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(0, info.err[0]);
	EXPECT_EQ(0, info.err[1]);
	EXPECT_EQ(8192, info.offset[1]);
	EXPECT_FALSE(info.degraded);
	EXPECT_EQ(CMK_HDR_COPY_A, r->copy);
	EXPECT_EQ(1, r->seqno);
	/* An update writes B first, then A; both end at seqno 2. */
	ASSERT_EQ(0, cmk_hdr_new_dek(r, test_vk, 4));
	ASSERT_EQ(0, cmk_hdr_write(fd, r, test_vk, &why));
	EXPECT_EQ(2, r->seqno);
	cmk_hdr_free(r);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_FALSE(info.degraded);
	EXPECT_EQ(2, info.seqno[0]);
	EXPECT_EQ(2, info.seqno[1]);
	EXPECT_EQ(2, r->ext[4].generation);
	cmk_hdr_free(r);
	cmk_hdr_free(h);
	close(fd);
}

TEST(two_copies_selection)
{
	struct cmk_hdr *h = mk_hdr(7, 4096), *r;
	struct cmk_hdr_read_info info;
	int fd = tmp_file();

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, h);

	/* A newer. */
	put_copy(fd, h, 10, 0);
	put_copy(fd, h, 5, 1);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_A, r->copy);
	EXPECT_EQ(10, r->seqno);
	EXPECT_TRUE(info.degraded);
	cmk_hdr_free(r);

	/* B newer. */
	put_copy(fd, h, 11, 1);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_B, r->copy);
	EXPECT_EQ(11, r->seqno);
	EXPECT_TRUE(info.degraded);
	cmk_hdr_free(r);

	/* A corrupt (older or not): B used, with a warning. */
	put_copy(fd, h, 12, 0);
	flip(fd, 4096 + 200);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_B, r->copy);
	EXPECT_EQ(11, r->seqno);
	EXPECT_TRUE(info.degraded);
	EXPECT_EQ(-EBADMSG, info.err[0]);
	EXPECT_STREQ("checksum mismatch", info.why[0]);
	cmk_hdr_free(r);

	/* A's fixed part wiped: copy B is found by scanning. */
	ASSERT_EQ(0, ftruncate(fd, 0));
	put_copy(fd, h, 3, 0);
	put_copy(fd, h, 3, 1);
	{
		static const uint8_t zero[4096];

		ASSERT_EQ(4096, pwrite(fd, zero, 4096, 0));
	}
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_B, r->copy);
	EXPECT_EQ(-ENOMSG, info.err[0]);
	EXPECT_EQ(8192, info.offset[1]);
	cmk_hdr_free(r);

	/* Both corrupt. */
	flip(fd, 8192 + 4096 + 5);
	EXPECT_EQ(-EBADMSG, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(NULL, r);
	EXPECT_EQ(-ENOMSG, info.err[0]);
	EXPECT_EQ(-EBADMSG, info.err[1]);

	/* B truncated away. */
	put_copy(fd, h, 4, 0);
	ASSERT_EQ(0, ftruncate(fd, 8192 + 6000));
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_A, r->copy);
	EXPECT_EQ(-ENODATA, info.err[1]);
	EXPECT_TRUE(info.degraded);
	cmk_hdr_free(r);

	/* Nothing at all. */
	ASSERT_EQ(0, ftruncate(fd, 0));
	EXPECT_EQ(-ENODATA, cmk_hdr_read(fd, &r, &info));
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	EXPECT_EQ(-ENOMSG, cmk_hdr_read(fd, &r, &info));
	cmk_hdr_free(h);
	close(fd);
}

static uint8_t *snapshot(int fd, size_t len)
{
	uint8_t *b = malloc(len);

	if (b && pread(fd, b, len, 0) != (ssize_t)len) {
		free(b);
		b = NULL;
	}
	return b;
}

TEST(torn_write)
{
	struct cmk_hdr *h = mk_hdr(7, 4096), *r;
	struct cmk_hdr_read_info info;
	uint8_t *v1, *v2;
	const char *why;
	int fd = tmp_file();

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, h);
	ASSERT_EQ(0, cmk_hdr_write(fd, h, test_vk, &why));
	cmk_hdr_free(h);
	ASSERT_EQ(0, cmk_hdr_read(fd, &h, &info));
	ASSERT_EQ(CMK_HDR_COPY_A, h->copy);
	v1 = snapshot(fd, 16384);
	ASSERT_NE(NULL, v1);
	ASSERT_EQ(0, cmk_hdr_new_dek(h, test_vk, 0));
	ASSERT_EQ(0, cmk_hdr_write(fd, h, test_vk, &why));	/* B then A */
	v2 = snapshot(fd, 16384);
	ASSERT_NE(NULL, v2);

	/* Crash after B was synced, before A was written: new header. */
	ASSERT_EQ(8192, pwrite(fd, v1, 8192, 0));
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_B, r->copy);
	EXPECT_EQ(2, r->seqno);
	EXPECT_EQ(2, r->ext[0].generation);
	EXPECT_TRUE(info.degraded);
	/* Crash in the middle of writing A: still the new header, from B. */
	ASSERT_EQ(4096, pwrite(fd, v2, 4096, 0));
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(2, r->seqno);
	EXPECT_EQ(-EBADMSG, info.err[0]);
	/* The caller repairs by writing: both copies valid again. */
	ASSERT_EQ(0, cmk_hdr_write(fd, r, test_vk, &why));
	cmk_hdr_free(r);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_FALSE(info.degraded);
	EXPECT_EQ(3, r->seqno);
	cmk_hdr_free(r);

	/* Crash in the middle of writing B (A untouched): old header. */
	ASSERT_EQ(16384, pwrite(fd, v1, 16384, 0));
	ASSERT_EQ(4096, pwrite(fd, v2 + 8192, 4096, 8192));
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(CMK_HDR_COPY_A, r->copy);
	EXPECT_EQ(1, r->seqno);
	EXPECT_EQ(1, r->ext[0].generation);
	EXPECT_EQ(-EBADMSG, info.err[1]);
	EXPECT_TRUE(info.degraded);
	cmk_hdr_free(r);
	cmk_hdr_free(h);
	free(v1);
	free(v2);
	close(fd);
}

TEST(new_header_clears_stale_copy_b)
{
	struct cmk_hdr *big = mk_hdr(64, 4096), *small = mk_hdr(3, 4096), *r;
	struct cmk_hdr_read_info info;
	const char *why;
	int fd = tmp_file();

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, small);
	big->seqno = 100;
	ASSERT_EQ(0, cmk_hdr_write(fd, big, test_vk, &why));
	ASSERT_EQ(0, cmk_hdr_write(fd, small, test_vk, &why));
	/* Wipe the new copy A: the old header's B must not come back. */
	{
		static const uint8_t zero[4096];

		ASSERT_EQ(4096, pwrite(fd, zero, 4096, 0));
	}
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, &info));
	EXPECT_EQ(0, memcmp(small->uuid, r->uuid, 16));
	EXPECT_EQ(3, r->extent_count);
	cmk_hdr_free(r);
	cmk_hdr_free(big);
	cmk_hdr_free(small);
	close(fd);
}

TEST(backup_restore)
{
	struct cmk_hdr *h = mk_hdr(7, 4096), *other = mk_hdr(7, 4096), *r;
	char path[] = "/tmp/cmk-header-backup.XXXXXX";
	const char *why;
	int fd = tmp_file(), fd2 = tmp_file(), bfd;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, fd2);
	ASSERT_NE(NULL, h);
	ASSERT_NE(NULL, other);
	bfd = mkstemp(path);
	ASSERT_LE(0, bfd);
	close(bfd);
	ASSERT_EQ(0, cmk_hdr_write(fd, h, test_vk, &why));
	EXPECT_EQ(-EEXIST, cmk_hdr_backup(fd, path, &why));
	unlink(path);
	ASSERT_EQ(0, cmk_hdr_backup(fd, path, &why)) TH_LOG("%s", why);

	/* Same volume, damaged: restore repairs. */
	flip(fd, 100);
	flip(fd, 8192 + 100);
	EXPECT_EQ(-EBADMSG, cmk_hdr_read(fd, &r, NULL));
	EXPECT_EQ(-ENOENT, cmk_hdr_restore(fd, path, false, &why));
	EXPECT_EQ(0, cmk_hdr_restore(fd, path, true, &why)) TH_LOG("%s", why);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, NULL));
	EXPECT_EQ(0, memcmp(h->uuid, r->uuid, 16));
	cmk_hdr_free(r);
	EXPECT_EQ(0, cmk_hdr_restore(fd, path, false, &why)) TH_LOG("%s", why);
	ASSERT_EQ(0, cmk_hdr_read(fd, &r, NULL));
	/* As saved: only the volume key could seal a newer one. */
	EXPECT_EQ(h->seqno, r->seqno);
	EXPECT_EQ(0, cmk_hdr_authentic(r, test_vk));
	cmk_hdr_free(r);

	/* Another volume on the target: refused unless forced. */
	ASSERT_EQ(0, cmk_hdr_write(fd2, other, test_vk, &why));
	EXPECT_EQ(-ESTALE, cmk_hdr_restore(fd2, path, false, &why));
	EXPECT_NE(NULL, strstr(why, "another volume"));
	ASSERT_EQ(0, cmk_hdr_read(fd2, &r, NULL));
	EXPECT_EQ(0, memcmp(other->uuid, r->uuid, 16));
	cmk_hdr_free(r);
	EXPECT_EQ(0, cmk_hdr_restore(fd2, path, true, &why));
	ASSERT_EQ(0, cmk_hdr_read(fd2, &r, NULL));
	EXPECT_EQ(0, memcmp(h->uuid, r->uuid, 16));
	cmk_hdr_free(r);

	/* A backup that is not a header. */
	ASSERT_EQ(0, ftruncate(fd2, 0));
	bfd = open(path, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, bfd);
	close(bfd);
	EXPECT_EQ(-ENODATA, cmk_hdr_restore(fd, path, true, &why));
	unlink(path);
	cmk_hdr_free(h);
	cmk_hdr_free(other);
	close(fd);
	close(fd2);
}

/* DEK wrap. */

TEST(dek_wrap_round_trip)
{
	uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t dek[CMK_DEK_SIZE], out[CMK_DEK_SIZE];
	struct cmk_dek_entry e, e2;

	ASSERT_EQ(0, cmk_random(dek, sizeof(dek)));
	ASSERT_EQ(0, cmk_dek_wrap(test_vk, uuid, 5, 3, dek, &e));
	EXPECT_EQ(3, e.generation);
	EXPECT_EQ(0, e.flags);
	EXPECT_NE(0, memcmp(dek, e.wrapped, sizeof(dek)));
	ASSERT_EQ(0, cmk_dek_unwrap(test_vk, uuid, 5, &e, out));
	EXPECT_EQ(0, memcmp(dek, out, sizeof(dek)));
	/* A fresh nonce per wrap. */
	ASSERT_EQ(0, cmk_dek_wrap(test_vk, uuid, 5, 3, dek, &e2));
	EXPECT_NE(0, memcmp(e.nonce, e2.nonce, sizeof(e.nonce)));
	EXPECT_NE(0, memcmp(e.wrapped, e2.wrapped, sizeof(e.wrapped)));
	EXPECT_EQ(-EINVAL, cmk_dek_wrap(test_vk, uuid, 5, 0, dek, &e2));
}

TEST(dek_unwrap_rejects_alterations)
{
	uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t dek[CMK_DEK_SIZE], out[CMK_DEK_SIZE], vk2[CMK_VK_SIZE];
	static const uint8_t zero[CMK_DEK_SIZE];
	struct cmk_dek_entry e, x;
	int i;

	ASSERT_EQ(0, cmk_random(dek, sizeof(dek)));
	ASSERT_EQ(0, cmk_dek_wrap(test_vk, uuid, 9, 1, dek, &e));

#define REJECT(what, vk_, uuid_, ext_)					\
	do {								\
		memset(out, 0xee, sizeof(out));				\
		EXPECT_EQ(-EBADMSG, cmk_dek_unwrap(vk_, uuid_, ext_, &x, out)) \
			TH_LOG("%s", what);				\
		EXPECT_EQ(0, memcmp(out, zero, sizeof(out))) TH_LOG("%s", what); \
	} while (0)

	for (i = 0; i < CMK_DEK_WRAPPED_LEN; i += 21) {
		x = e;
		x.wrapped[i] ^= 1;
		REJECT("wrapped DEK", test_vk, uuid, 9);
	}
	x = e;
	x.nonce[11] ^= 0x80;
	REJECT("nonce", test_vk, uuid, 9);
	x = e;
	x.tag[0] ^= 1;
	REJECT("tag", test_vk, uuid, 9);
	x = e;
	x.generation = 2;
	REJECT("generation", test_vk, uuid, 9);
	x = e;
	x.generation = 0;
	REJECT("generation 0", test_vk, uuid, 9);
	x = e;
	x.flags = 1;
	REJECT("flags", test_vk, uuid, 9);
	x = e;
	REJECT("extent index", test_vk, uuid, 8);
	REJECT("extent index high bits", test_vk, uuid, 9 + (1ULL << 32));
	uuid[15] ^= 1;
	REJECT("UUID", test_vk, uuid, 9);
	uuid[15] ^= 1;
	memcpy(vk2, test_vk, sizeof(vk2));
	vk2[0] ^= 1;
	REJECT("volume key", vk2, uuid, 9);
	/* And the genuine entry still opens. */
	ASSERT_EQ(0, cmk_dek_unwrap(test_vk, uuid, 9, &e, out));
	EXPECT_EQ(0, memcmp(dek, out, sizeof(dek)));
#undef REJECT
}

TEST(header_entry_swap_rejected)
{
	struct cmk_hdr *h = mk_hdr(7, 4096), *d;
	uint8_t *buf, dek[CMK_DEK_SIZE];
	struct cmk_hdr_extent tmp;
	const char *why;

	ASSERT_NE(NULL, h);
	buf = malloc(h->copy_size);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, cmk_hdr_encode(h, buf, h->copy_size, &why));
	/* An attacker swaps two entries and fixes the checksum. */
	tmp = *EXT(buf, 1);
	*EXT(buf, 1) = *EXT(buf, 2);
	*EXT(buf, 2) = tmp;
	cmk_hdr_checksum(buf, h->copy_size);
	ASSERT_EQ(0, cmk_hdr_decode(buf, h->copy_size, &d, &why));
	EXPECT_EQ(-EBADMSG, cmk_dek_unwrap(test_vk, d->uuid, 1, &d->ext[1], dek));
	EXPECT_EQ(-EBADMSG, cmk_dek_unwrap(test_vk, d->uuid, 2, &d->ext[2], dek));
	EXPECT_EQ(0, cmk_dek_unwrap(test_vk, d->uuid, 3, &d->ext[3], dek));
	cmk_hdr_free(d);
	cmk_hdr_free(h);
	free(buf);
}

/* Secure buffers. */

static size_t wiped_len;
static bool wiped_zero;

static void wipe_hook(const void *area, size_t len)
{
	const uint8_t *p = area;
	size_t i;

	wiped_len = len;
	wiped_zero = true;
	for (i = 0; i < len; i++)
		if (p[i])
			wiped_zero = false;
}

/* Locked memory of this process, -1 if unknown (ASan makes mlock a no-op). */
static long vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

#if defined(__SANITIZE_ADDRESS__)
	return -1;
#endif
	f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

TEST(secure_buffer)
{
	long before = vmlck_kb();
	uint8_t *p = cmk_secure_alloc(100);
	size_t i;

	ASSERT_NE(NULL, p);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, p[i]);
	if (before >= 0)
		EXPECT_LT(before, vmlck_kb());
	memset(p, 0xaa, 100);
	cmk_secure_wipe_hook = wipe_hook;
	cmk_secure_free(p);
	cmk_secure_wipe_hook = NULL;
	EXPECT_TRUE(wiped_zero);
	EXPECT_GE(wiped_len, 100);
	if (before >= 0)
		EXPECT_EQ(before, vmlck_kb());
	cmk_secure_free(NULL);
	EXPECT_EQ(NULL, cmk_secure_alloc(0));
}

TEST_HARNESS_MAIN
