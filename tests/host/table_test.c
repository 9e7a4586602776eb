// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of libcmk's table and status grammar, key names,
 * extent arithmetic and XTS tweak.
 */

#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "libcmk.h"

static void cmk_test_table(struct cmk_table *t)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->dev, "7:0");
	t->offset = 2048;
	t->extent_sectors = 256;
	t->sector_size = 4096;
	strcpy(t->key_prefix, "cmk:vol1:");
}

TEST(table_round_trip)
{
	static const char *const lines[] = {
		"7:0 2048 256 4096 cmk:vol1:",
		"7:0 0 1 512 cmk:a:",
		"253:3 18446744073709551615 1073741824 512 x:y 1 allow_discards",
		"7:0 8 8 4096 cmk:v: 2 lease cmk:v:lease",
		"7:0 8 8 4096 cmk:v: 3 allow_discards lease cmk:v:lease",
	};
	struct cmk_table t;
	char buf[512];
	unsigned int i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		ASSERT_EQ(0, cmk_table_parse(lines[i], &t)) TH_LOG("%s", lines[i]);
		ASSERT_EQ(0, cmk_table_format(&t, buf, sizeof(buf)));
		EXPECT_STREQ(lines[i], buf);
	}
}

TEST(table_format_fields)
{
	struct cmk_table t;
	char buf[256];

	cmk_test_table(&t);
	t.allow_discards = true;
	strcpy(t.lease, "cmk:vol1:lease");
	ASSERT_EQ(0, cmk_table_format(&t, buf, sizeof(buf)));
	EXPECT_STREQ("7:0 2048 256 4096 cmk:vol1: 3 allow_discards lease cmk:vol1:lease", buf);
	EXPECT_EQ(-ENOSPC, cmk_table_format(&t, buf, 20));
}

TEST(table_parse_rejects)
{
	static const char *const bad[] = {
		"",
		"7:0 0 256 4096",
		"7:0 -1 256 4096 cmk:v:",
		"7:0 1x 256 4096 cmk:v:",
		"7:0 0 0x100 4096 cmk:v:",
		"7:0 0 2147483648 4096 cmk:v:",
		"7:0 0 256 8192 cmk:v:",
		"7:0 0 256 4096 cmk:v: 1",
		"7:0 0 256 4096 cmk:v: 2 allow_discards",
		"7:0 0 256 4096 cmk:v: 2 allow_discards allow_discards",
		"7:0 0 256 4096 cmk:v: 1 frob",
		"7:0 0 256 4096 cmk:v: 1 lease",
		"7:0 0 256 4096 cmk:v: 4 lease a:b lease a:b",
		"7:0 0 256 4096 cmk:v: x",
		"7:0 0 256 4096 cmk:v: 0 extra",
		"7:0 0 256 4096 cmk:v: 9 a b c d e f g h i",
	};
	struct cmk_table t;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cmk_table_parse(bad[i], &t)) TH_LOG("accepted: '%s'", bad[i]);
}

TEST(table_validate)
{
	static const struct {
		void (*edit)(struct cmk_table *t);
		uint64_t len;
		const char *why;
	} cases[] = {
		{ NULL, 16384, NULL },
		{ NULL, 16383, "Offset, start or length not a multiple of the data unit" },
		{ NULL, 0, "Offset, start or length not a multiple of the data unit" },
	};
	struct cmk_table t;
	const char *why;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cmk_test_table(&t);
		if (cases[i].why) {
			EXPECT_EQ(-EINVAL, cmk_table_validate(&t, cases[i].len, &why));
			EXPECT_STREQ(cases[i].why, why);
		} else {
			EXPECT_EQ(0, cmk_table_validate(&t, cases[i].len, &why));
		}
	}

#define BAD(field_edit, msg) do {					\
		cmk_test_table(&t);					\
		field_edit;						\
		EXPECT_EQ(-EINVAL, cmk_table_validate(&t, 16384, &why));	\
		EXPECT_STREQ(msg, why ? why : "(none)");		\
	} while (0)

	BAD(t.sector_size = 1024, "Invalid data unit size (must be 512 or 4096)");
	BAD(t.extent_sectors = 0, "Invalid extent size");
	BAD(t.extent_sectors = 3000, "Extent size is not a power of two");
	BAD(t.extent_sectors = 4, "Extent size smaller than the data unit");
	BAD(t.offset = 1, "Offset, start or length not a multiple of the data unit");
	BAD(strcpy(t.key_prefix, "nocolon"), "Invalid key prefix (must be <subsystem>:<name>, no spaces)");
	BAD(strcpy(t.key_prefix, ":x"), "Invalid key prefix (must be <subsystem>:<name>, no spaces)");
	BAD(strcpy(t.key_prefix, "a:b c"), "Invalid key prefix (must be <subsystem>:<name>, no spaces)");
	BAD(strcpy(t.lease, "nocolon"), "Invalid lease key description");
	BAD(strcpy(t.dev, ""), "Device lookup failed");
#undef BAD

	/* 2^20 extents are fine, one more is not. */
	cmk_test_table(&t);
	t.extent_sectors = 8;
	EXPECT_EQ(0, cmk_table_validate(&t, 8ULL << 20, &why));
	EXPECT_EQ(-EINVAL, cmk_table_validate(&t, (8ULL << 20) + 8, &why));
	EXPECT_STREQ("Too many extents (use larger extents)", why);
}

TEST(status_parse)
{
	struct cmk_status st;

	ASSERT_EQ(0, cmk_status_parse("available 8 8 - 0 -", &st));
	EXPECT_TRUE(st.available);
	EXPECT_EQ(8, st.extents);
	EXPECT_EQ(8, st.keyed);
	EXPECT_EQ(CMK_LEASE_NONE, st.lease_left);
	EXPECT_EQ(0, st.io_errors);

	ASSERT_EQ(0, cmk_status_parse("available 4096 4096 inf 3 -", &st));
	EXPECT_EQ(CMK_LEASE_INFINITE, st.lease_left);
	EXPECT_EQ(3, st.io_errors);

	ASSERT_EQ(0, cmk_status_parse("inaccessible 8 0 0 12 lease_expired", &st));
	EXPECT_FALSE(st.available);
	EXPECT_EQ(0, st.keyed);
	EXPECT_EQ(0, st.lease_left);
	EXPECT_STREQ("lease_expired", st.reason);

	ASSERT_EQ(0, cmk_status_parse("available 2 2 27 0 -", &st));
	EXPECT_EQ(27, st.lease_left);
}

TEST(status_parse_rejects)
{
	static const char *const bad[] = {
		"",
		"available 8 8 - 0",
		"available 8 8 - 0 - extra",
		"up 8 8 - 0 -",
		"available 8 9 - 0 -",
		"available x 8 - 0 -",
		"available 8 8 -3 0 -",
		"available 8 8 - -1 -",
		"available 8 8 - 0 wiped",
		"inaccessible 8 0 - 0 -",
	};
	struct cmk_status st;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cmk_status_parse(bad[i], &st)) TH_LOG("accepted status case %u", i);
}

TEST(key_desc)
{
	char buf[CMK_KEY_DESC_MAX], small[8];
	char prefix[CMK_KEY_PREFIX_MAX + 1];

	ASSERT_EQ(0, cmk_key_desc("cmk:vol1:", 0, buf, sizeof(buf)));
	EXPECT_STREQ("cmk:vol1:0", buf);
	ASSERT_EQ(0, cmk_key_desc("cmk:vol1:", 4294967295U, buf, sizeof(buf)));
	EXPECT_STREQ("cmk:vol1:4294967295", buf);
	EXPECT_EQ(-ENOSPC, cmk_key_desc("cmk:vol1:", 12, small, sizeof(small)));

	/* The longest prefix with the largest index still fits. */
	memset(prefix, 'p', CMK_KEY_PREFIX_MAX);
	prefix[1] = ':';
	prefix[CMK_KEY_PREFIX_MAX] = '\0';
	EXPECT_EQ(0, cmk_key_desc(prefix, 4294967295U, buf, sizeof(buf)));
}

TEST(extents)
{
	EXPECT_EQ(8, cmk_extent_count(16384, 2048));
	EXPECT_EQ(9, cmk_extent_count(16385, 2048));
	EXPECT_EQ(1, cmk_extent_count(1, 2048));
	EXPECT_EQ(2048, cmk_extent_first_sector(1, 2048));
	EXPECT_EQ(8ULL << 30, cmk_extent_first_sector(8, 1U << 30));
	EXPECT_EQ(2048, cmk_extent_len(16385, 7, 2048));
	EXPECT_EQ(1, cmk_extent_len(16385, 8, 2048));
	EXPECT_EQ(0, cmk_extent_len(16385, 9, 2048));
}

TEST(xts_tweak)
{
	static const uint8_t want[16] = {
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	};
	uint8_t iv[16];

	memset(iv, 0xaa, sizeof(iv));
	cmk_xts_tweak(0x0102030405060708ULL, iv);
	EXPECT_EQ(0, memcmp(want, iv, sizeof(iv)));
	cmk_xts_tweak(0, iv);
	EXPECT_EQ(0, iv[0] | iv[7] | iv[15]);
}

TEST_HARNESS_MAIN
