// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of the cmktab parser (userspace/lib/cmk-tab.c):
 * durations, good files with every field and option, and each way a line
 * or a file is refused, with the line number and message reported.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libcmk.h"

#define MAX_REPORTS	16

struct reports {
	unsigned int n;
	unsigned int line[MAX_REPORTS];
	char path[MAX_REPORTS][128];
	char msg[MAX_REPORTS][512];
};

static void collect(void *arg, const char *path, unsigned int line,
		    const char *msg)
{
	struct reports *r = arg;

	if (r->n < MAX_REPORTS) {
		r->line[r->n] = line;
		snprintf(r->path[r->n], sizeof(r->path[0]), "%s", path);
		snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
	}
	r->n++;
}

static int parse_len(const char *text, size_t len, struct cmk_tab *tab,
		     struct reports *r)
{
	memset(r, 0, sizeof(*r));
	return cmk_tab_parse(text, len, NULL, tab, collect, r);
}

static int parse(const char *text, struct cmk_tab *tab, struct reports *r)
{
	return parse_len(text, strlen(text), tab, r);
}

/* @text has exactly one bad line, @ln, with one message holding @sub. */
#define CHECK_BAD_LEN(text, len, ln, sub) do {				\
		struct cmk_tab t_;					\
		struct reports r_;					\
									\
		EXPECT_EQ(1, parse_len(text, len, &t_, &r_))		\
			TH_LOG("accepted: '%s'", text);			\
		EXPECT_EQ(1, r_.n) TH_LOG("'%s': %u reports, first '%s'", \
					  text, r_.n, r_.msg[0]);	\
		EXPECT_EQ(ln, r_.line[0]);				\
		EXPECT_NE(NULL, strstr(r_.msg[0], sub))			\
			TH_LOG("message '%s' lacks '%s'", r_.msg[0], sub); \
		cmk_tab_free(&t_);					\
	} while (0)

#define CHECK_BAD(text, ln, sub) CHECK_BAD_LEN(text, strlen(text), ln, sub)

#define SEC(n)	((uint64_t)(n) * 1000)

static void expect_defaults(struct __test_metadata *_metadata,
			    const struct cmk_tab_entry *e)
{
	EXPECT_EQ(SEC(10), e->poll_ms);
	EXPECT_EQ(SEC(15), e->lease_ms);
	EXPECT_EQ(SEC(30), e->grace_ms);
	EXPECT_EQ(SEC(60), e->retry_max_ms);
	EXPECT_EQ(NULL, e->header);
	EXPECT_EQ(NULL, e->pin_file);
	EXPECT_EQ(NULL, e->module);
	EXPECT_EQ(NULL, e->vk_fingerprint);
	EXPECT_FALSE(e->allow_rollback);
	EXPECT_EQ(NULL, e->alert);
	EXPECT_EQ(NULL, e->audit_log);
	EXPECT_FALSE(e->read_only);
	EXPECT_FALSE(e->allow_discards);
	EXPECT_FALSE(e->auto_revalidate);
}

/* ---- durations ---- */

TEST(duration_parse_good)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
		{ "0", 0 }, { "10", SEC(10) }, { "10s", SEC(10) },
		{ "500ms", 500 }, { "2m", SEC(120) }, { "1h", SEC(3600) },
		{ "1d", SEC(86400) }, { "007s", SEC(7) }, { "0ms", 0 },
		{ "18446744073709551615ms", UINT64_MAX },
		{ "18446744073709551s", 18446744073709551000ULL },
	};
	unsigned int i;
	uint64_t ms;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = 1;
		EXPECT_EQ(0, cmk_duration_parse(cases[i].s, &ms))
			TH_LOG("%s", cases[i].s);
		EXPECT_EQ(cases[i].ms, ms) TH_LOG("%s", cases[i].s);
	}
}

TEST(duration_parse_bad_syntax)
{
	static const char *const bad[] = {
		"10x", "-1s", "1.5s", "", "s", "ms", "+1", "1 s", " 1",
		"1s ", "1S", "10sec", "1e3", "0x10", "1h30m", "1,5s",
	};
	unsigned int i;
	uint64_t ms = 42;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cmk_duration_parse(bad[i], &ms))
			TH_LOG("case %u accepted", i);
	EXPECT_EQ(-EINVAL, cmk_duration_parse(NULL, &ms));
	EXPECT_EQ(42, ms);
}

TEST(duration_parse_overflow)
{
	static const char *const big[] = {
		"99999999999999999999", "18446744073709551616ms",
		"18446744073709552s", "213503982335d",
		"99999999999999999999999999999999999999h",
	};
	unsigned int i;
	uint64_t ms;

	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		EXPECT_EQ(-ERANGE, cmk_duration_parse(big[i], &ms))
			TH_LOG("case %u", i);
	/* Bad syntax wins over overflow. */
	EXPECT_EQ(-EINVAL, cmk_duration_parse("99999999999999999999x", &ms));
}

TEST(duration_format)
{
	static const struct {
		uint64_t ms;
		const char *s;
	} cases[] = {
		{ 0, "0s" }, { 1, "1ms" }, { 1500, "1500ms" }, { SEC(3), "3s" },
		{ SEC(90), "90s" }, { SEC(120), "2m" }, { SEC(3600), "1h" },
		{ SEC(86400), "1d" }, { SEC(86401), "86401s" },
		{ UINT64_MAX, "18446744073709551615ms" },
	};
	unsigned int i;
	char buf[32];
	uint64_t back;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(0, cmk_duration_format(cases[i].ms, buf, sizeof(buf)));
		EXPECT_STREQ(cases[i].s, buf);
		ASSERT_EQ(0, cmk_duration_parse(buf, &back));
		EXPECT_EQ(cases[i].ms, back);
	}
	EXPECT_EQ(-ENOSPC, cmk_duration_format(SEC(3600), buf, 2));
}

/* ---- good files ---- */

TEST(good_two_fields_defaults)
{
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(0, parse("data /dev/vdb\n", &tab, &r));
	EXPECT_EQ(0, r.n);
	ASSERT_EQ(1, tab.count);
	EXPECT_STREQ("data", tab.entries[0].name);
	EXPECT_STREQ("/dev/vdb", tab.entries[0].device);
	EXPECT_STREQ("", tab.entries[0].uuid);
	EXPECT_EQ(NULL, tab.entries[0].kek_uri);
	EXPECT_EQ(1, tab.entries[0].line);
	expect_defaults(_metadata, &tab.entries[0]);
	cmk_tab_free(&tab);
	EXPECT_EQ(0, tab.count);
	EXPECT_EQ(NULL, tab.entries);
}

TEST(good_comments_blank_lines_tabs)
{
	static const char text[] =
		"# cmktab\n"
		"\n"
		"   \t  \n"
		"\t# indented comment\n"
		"a\t/dev/vda   # trailing comment\n"
		"  b \t\t /dev/disk/by-id/virtio-b\t-\t-   \n"
		"#c /dev/vdc\n"
		"c /dev/disk/by-label/a#b pkcs11:object=k";
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(0, parse(text, &tab, &r)) TH_LOG("%s", r.msg[0]);
	ASSERT_EQ(3, tab.count);
	EXPECT_STREQ("a", tab.entries[0].name);
	EXPECT_STREQ("/dev/vda", tab.entries[0].device);
	EXPECT_EQ(5, tab.entries[0].line);
	EXPECT_STREQ("b", tab.entries[1].name);
	EXPECT_STREQ("/dev/disk/by-id/virtio-b", tab.entries[1].device);
	EXPECT_EQ(NULL, tab.entries[1].kek_uri);
	EXPECT_EQ(6, tab.entries[1].line);
	/* '#' inside a field does not start a comment. */
	EXPECT_STREQ("/dev/disk/by-label/a#b", tab.entries[2].device);
	EXPECT_STREQ("pkcs11:object=k", tab.entries[2].kek_uri);
	EXPECT_EQ(8, tab.entries[2].line);
	cmk_tab_free(&tab);
}

TEST(good_every_option)
{
	static const char text[] =
		"vol-1.x_y+z UUID=3F0A6C1E-8A53-4B1E-9D7C-2F6A1B9E0C11 "
		"pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/cmk/pin "
		"poll=1500ms,lease=2m,grace=0,retry-max=1h,header=/etc/cmk/hdr.img,"
		"pin-file=/etc/cmk/pin,alert=/usr/local/sbin/cmk-alert,"
		"audit-log=/var/log/cmk/audit.log,read-only,allow-discards,auto-revalidate,"
		"module=p11-kit-client,vk-fingerprint=cmkvk1:0123456789abcdef0123456789abcdef,"
		"allow-rollback,rotate=auto\n";
	const struct cmk_tab_entry *e;
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(0, parse(text, &tab, &r)) TH_LOG("%s", r.msg[0]);
	ASSERT_EQ(1, tab.count);
	e = &tab.entries[0];
	EXPECT_STREQ("vol-1.x_y+z", e->name);
	EXPECT_EQ(NULL, e->device);
	EXPECT_STREQ("3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11", e->uuid);
	EXPECT_STREQ("pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/cmk/pin",
		     e->kek_uri);
	EXPECT_EQ(1500, e->poll_ms);
	EXPECT_EQ(SEC(120), e->lease_ms);
	EXPECT_EQ(0, e->grace_ms);
	EXPECT_EQ(SEC(3600), e->retry_max_ms);
	EXPECT_STREQ("/etc/cmk/hdr.img", e->header);
	EXPECT_STREQ("/etc/cmk/pin", e->pin_file);
	EXPECT_STREQ("p11-kit-client", e->module);
	EXPECT_STREQ("cmkvk1:0123456789abcdef0123456789abcdef", e->vk_fingerprint);
	EXPECT_TRUE(e->allow_rollback);
	EXPECT_STREQ("/usr/local/sbin/cmk-alert", e->alert);
	EXPECT_STREQ("/var/log/cmk/audit.log", e->audit_log);
	EXPECT_TRUE(e->read_only);
	EXPECT_TRUE(e->allow_discards);
	EXPECT_TRUE(e->auto_revalidate);
	EXPECT_TRUE(e->rotate_auto);
	cmk_tab_free(&tab);
}

TEST(good_uuid_normalised)
{
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(0, parse("a UUID=ABCDEF01-2345-6789-ABCD-EF0123456789\n"
			   "b UUID=00000000-0000-0000-0000-00000000000a\n"
			   "c UUID=aBcDeF01-2345-6789-abCD-ef0123456780\n",
			   &tab, &r));
	ASSERT_EQ(3, tab.count);
	EXPECT_STREQ("abcdef01-2345-6789-abcd-ef0123456789", tab.entries[0].uuid);
	EXPECT_EQ(NULL, tab.entries[0].device);
	EXPECT_STREQ("00000000-0000-0000-0000-00000000000a", tab.entries[1].uuid);
	EXPECT_STREQ("abcdef01-2345-6789-abcd-ef0123456780", tab.entries[2].uuid);
	cmk_tab_free(&tab);
}

TEST(good_dash_fields_and_three_fields)
{
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(0, parse("a /dev/vda -\n"
			   "b /dev/vdb - -\n"
			   "c /dev/vdc - read-only\n"
			   "d /dev/vdd pkcs11:token=t;id=%01;type=private\n"
			   "e /dev/vde pkcs11:object=k -\n",
			   &tab, &r)) TH_LOG("%s", r.msg[0]);
	ASSERT_EQ(5, tab.count);
	EXPECT_EQ(NULL, tab.entries[0].kek_uri);
	expect_defaults(_metadata, &tab.entries[0]);
	EXPECT_EQ(NULL, tab.entries[1].kek_uri);
	expect_defaults(_metadata, &tab.entries[1]);
	EXPECT_EQ(NULL, tab.entries[2].kek_uri);
	EXPECT_TRUE(tab.entries[2].read_only);
	EXPECT_STREQ("pkcs11:token=t;id=%01;type=private", tab.entries[3].kek_uri);
	expect_defaults(_metadata, &tab.entries[3]);
	EXPECT_STREQ("pkcs11:object=k", tab.entries[4].kek_uri);
	expect_defaults(_metadata, &tab.entries[4]);
	cmk_tab_free(&tab);
}

TEST(good_empty_and_comment_only)
{
	struct cmk_tab tab;
	struct reports r;

	EXPECT_EQ(0, parse_len(NULL, 0, &tab, &r));
	EXPECT_EQ(0, tab.count);
	EXPECT_EQ(0, parse("", &tab, &r));
	EXPECT_EQ(0, parse("\n\n# nothing here\n  # nor here\n", &tab, &r));
	EXPECT_EQ(0, tab.count);
	EXPECT_EQ(NULL, tab.entries);
	EXPECT_EQ(0, r.n);
	cmk_tab_free(&tab);
}

TEST(good_range_boundaries)
{
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(0, parse("a /dev/a - poll=1s,lease=3s,grace=0s,retry-max=1\n"
			   "b /dev/b - poll=1h,lease=3600,grace=1d,retry-max=60m\n"
			   "c /dev/c - poll=1000ms,lease=3000ms,grace=86400s,retry-max=3600000ms\n",
			   &tab, &r)) TH_LOG("%s", r.msg[0]);
	ASSERT_EQ(3, tab.count);
	EXPECT_EQ(SEC(1), tab.entries[0].poll_ms);
	EXPECT_EQ(SEC(3), tab.entries[0].lease_ms);
	EXPECT_EQ(0, tab.entries[0].grace_ms);
	EXPECT_EQ(SEC(1), tab.entries[0].retry_max_ms);
	EXPECT_EQ(SEC(3600), tab.entries[1].poll_ms);
	EXPECT_EQ(SEC(3600), tab.entries[1].lease_ms);
	EXPECT_EQ(SEC(86400), tab.entries[1].grace_ms);
	EXPECT_EQ(SEC(3600), tab.entries[1].retry_max_ms);
	EXPECT_EQ(SEC(86400), tab.entries[2].grace_ms);
	cmk_tab_free(&tab);
}

TEST(good_name_127_and_uri_1023)
{
	char text[2048], name[128], uri[1024];
	struct cmk_tab tab;
	struct reports r;

	memset(name, 'n', 127);
	name[127] = '\0';
	memcpy(uri, "pkcs11:object=", 14);
	memset(uri + 14, 'k', 1023 - 14);
	uri[1023] = '\0';
	snprintf(text, sizeof(text), "%s /dev/vdb %s\n", name, uri);
	ASSERT_EQ(0, parse(text, &tab, &r)) TH_LOG("%s", r.msg[0]);
	ASSERT_EQ(1, tab.count);
	EXPECT_EQ(127, strlen(tab.entries[0].name));
	EXPECT_EQ(1023, strlen(tab.entries[0].kek_uri));
	cmk_tab_free(&tab);
}

TEST(good_line_4095)
{
	char text[4097];
	struct cmk_tab tab;
	struct reports r;

	memset(text, 'x', 4095);
	memcpy(text, "a /dev/", 7);
	text[4095] = '\n';
	text[4096] = '\0';
	ASSERT_EQ(0, parse(text, &tab, &r)) TH_LOG("%s", r.msg[0]);
	ASSERT_EQ(1, tab.count);
	EXPECT_EQ(4093, strlen(tab.entries[0].device));
	cmk_tab_free(&tab);
}

TEST(find_and_report_null)
{
	struct cmk_tab tab;

	ASSERT_EQ(1, cmk_tab_parse("a /dev/a\nb b\nc /dev/c\n", 22, NULL, &tab,
				   NULL, NULL));
	ASSERT_EQ(2, tab.count);
	ASSERT_NE(NULL, cmk_tab_find(&tab, "c"));
	EXPECT_EQ(3, cmk_tab_find(&tab, "c")->line);
	EXPECT_STREQ("/dev/a", cmk_tab_find(&tab, "a")->device);
	EXPECT_EQ(NULL, cmk_tab_find(&tab, "b"));
	EXPECT_EQ(NULL, cmk_tab_find(&tab, "/dev/a"));
	cmk_tab_free(&tab);
	cmk_tab_free(&tab);	/* twice is harmless */
}

/* ---- bad lines ---- */

TEST(bad_names)
{
	char longname[160];

	CHECK_BAD("a /dev/vdb - module=lib/x.so", 1, "must be absolute");
	CHECK_BAD("a /dev/vdb - vk-fingerprint=cmkvk1:00", 1, "not a volume key fingerprint");
	CHECK_BAD("a /dev/vdb - vk-fingerprint=CMKVK1:0123456789abcdef0123456789abcdef", 1, "not a volume key fingerprint");
	CHECK_BAD("a /dev/vdb - allow-rollback=yes", 1, "takes no value");
	CHECK_BAD("a /dev/vdb - rotate=yes", 1, "bad option 'rotate=yes': auto or off");
	CHECK_BAD("a /dev/vdb - rotate", 1, "needs a value");
	CHECK_BAD("a /dev/vdb - module=.hidden", 1, "a PKCS#11 module is an absolute path or a name");
	CHECK_BAD("a /dev/vdb - module=a;b", 1, "a PKCS#11 module is an absolute path or a name");
	CHECK_BAD("a /dev/vdb - module=", 1, "a PKCS#11 module is an absolute path or a name");
	CHECK_BAD("a /dev/vdb - module=/m.so,module=/n.so", 1, "duplicate option 'module'");
	CHECK_BAD("a/b /dev/vdb", 1, "bad name 'a/b'");
	CHECK_BAD("a:b /dev/vdb", 1, "only A-Z a-z 0-9 . _ + - are allowed");
	CHECK_BAD("# x\nn\xc3\xa9 /dev/vdb", 2, "bad name");
	CHECK_BAD(". /dev/vdb", 1, "'.' and '..' are not allowed");
	CHECK_BAD(".. /dev/vdb", 1, "bad name '..'");
	CHECK_BAD("a*b /dev/vdb", 1, "bad name");
	memset(longname, 'n', 128);
	strcpy(longname + 128, " /dev/vdb");
	CHECK_BAD(longname, 1, "longer than 127 characters");
}

TEST(bad_relative_device)
{
	CHECK_BAD("data dev/vdb", 1, "bad device 'dev/vdb': not an absolute path or UUID=<uuid>");
	CHECK_BAD("\ndata vdb", 2, "not an absolute path");
	CHECK_BAD("data uuid=3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11", 1, "not an absolute path");
	CHECK_BAD("data -", 1, "bad device '-'");
}

TEST(bad_uuid)
{
	static const char *const bad[] = {
		"d UUID=",
		"d UUID=3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c1",
		"d UUID=3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c111",
		"d UUID=3f0a6c1e8a534b1e9d7c2f6a1b9e0c11",
		"d UUID=3f0a6c1e-8a53-4b1e-9d7c_2f6a1b9e0c11",
		"d UUID=3f0a6c1g-8a53-4b1e-9d7c-2f6a1b9e0c11",
		"d UUID=3f0a6c1e-8a534-b1e-9d7c-2f6a1b9e0c11",
		"d UUID={3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c1}",
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_BAD(bad[i], 1, "UUID= needs 8-4-4-4-12 hex digits");
}

TEST(duplicate_name)
{
	CHECK_BAD("# volumes\ndata /dev/vdb\nother /dev/vdc\ndata /dev/vdd\n",
		  4, "duplicate name 'data' (first on line 2)");
}

TEST(duplicate_device)
{
	CHECK_BAD("a /dev/vdb\nb /dev/vdc\n\nc /dev/vdb - read-only\n",
		  4, "duplicate device '/dev/vdb' (first on line 1)");
}

TEST(duplicate_uuid_any_case)
{
	CHECK_BAD("a UUID=3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11\n"
		  "b UUID=3F0A6C1E-8A53-4B1E-9D7C-2F6A1B9E0C11\n",
		  2, "duplicate device 'UUID=3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11' (first on line 1)");
}

TEST(duplicate_of_a_bad_line)
{
	struct cmk_tab tab;
	struct reports r;

	/* Line 1 is bad (option), yet its name and device stay taken. */
	ASSERT_EQ(3, parse("data /dev/vdb - bogus\n"
			   "data /dev/vdc\n"
			   "other /dev/vdb\n", &tab, &r));
	EXPECT_EQ(0, tab.count);
	ASSERT_EQ(3, r.n);
	EXPECT_NE(NULL, strstr(r.msg[1], "duplicate name 'data' (first on line 1)"));
	EXPECT_EQ(2, r.line[1]);
	EXPECT_NE(NULL, strstr(r.msg[2], "duplicate device '/dev/vdb' (first on line 1)"));
	EXPECT_EQ(3, r.line[2]);
	cmk_tab_free(&tab);
}

TEST(pin_value_refused_unquoted)
{
	struct cmk_tab tab;
	struct reports r;

	CHECK_BAD("a /dev/vdb pkcs11:token=t;object=k?pin-value=1234", 1, "pin-value");
	CHECK_BAD("a /dev/vdb pkcs11:object=k?module-path=/m.so&PIN-VALUE=1234", 1, "pin-source=");
	ASSERT_EQ(1, parse("\n\na /dev/vdb pkcs11:object=k?pin-value=s3cr3t\n", &tab, &r));
	EXPECT_EQ(3, r.line[0]);
	EXPECT_EQ(NULL, strstr(r.msg[0], "s3cr3t"));
	cmk_tab_free(&tab);
}

TEST(uri_without_scheme)
{
	CHECK_BAD("a /dev/vdb token=x;object=y", 1, "bad KEK URI 'token=x;object=y': no scheme");
	CHECK_BAD("a /dev/vdb :object=y", 1, "no scheme");
	CHECK_BAD("a /dev/vdb 1pkcs11:object=y", 1, "no scheme");
	CHECK_BAD("a /dev/vdb /etc/cmk/kek:1", 1, "no scheme");
	CHECK_BAD("a /dev/vdb pk_cs11:object=y", 1, "no scheme");
}

/* The backend's own parser: what cmkd could never open is a bad line. */
TEST(uri_backend_checks)
{
	CHECK_BAD("a /dev/vdb kmip://kms.example:5696/key-1", 1,
		  "no vault backend for this URI scheme");
	CHECK_BAD("a /dev/vdb pkcs11:object=k;colour=red", 1, "malformed pkcs11: URI");
	CHECK_BAD("a /dev/vdb pkcs11:object=k#frag", 1, "malformed pkcs11: URI");
	CHECK_BAD("a /dev/vdb pkcs11:object=k?modul-path=/m.so", 1, "malformed pkcs11: URI");
	CHECK_BAD("a /dev/vdb pkcs11:object=k;type=public", 1, "type=private");
	CHECK_BAD("a /dev/vdb pkcs11:token=t", 1, "names no key");
}

TEST(uri_too_long)
{
	char text[1200];

	strcpy(text, "a /dev/vdb pkcs11:object=");
	memset(text + strlen(text), 'k', 1024 - 14);
	text[11 + 1024] = '\0';
	ASSERT_EQ(1024, strlen(text + 11));
	CHECK_BAD(text, 1, "longer than 1023 bytes");
}

TEST(unknown_option)
{
	CHECK_BAD("a /dev/vdb - read-only,bogus=1", 1, "unknown option 'bogus'");
	CHECK_BAD("a /dev/vdb - Read-Only", 1, "unknown option 'Read-Only'");
	CHECK_BAD("a /dev/vdb - discard", 1, "unknown option 'discard'");
}

TEST(option_missing_value)
{
	CHECK_BAD("a /dev/vdb - poll", 1, "option 'poll' needs a value");
	CHECK_BAD("a /dev/vdb - read-only,header", 1, "option 'header' needs a value");
	CHECK_BAD("a /dev/vdb - pin-file", 1, "option 'pin-file' needs a value");
}

TEST(flag_with_value)
{
	CHECK_BAD("a /dev/vdb - read-only=yes", 1, "option 'read-only' takes no value");
	CHECK_BAD("a /dev/vdb - allow-discards=", 1, "option 'allow-discards' takes no value");
	CHECK_BAD("a /dev/vdb - auto-revalidate=1", 1, "option 'auto-revalidate' takes no value");
}

TEST(duplicate_option)
{
	CHECK_BAD("a /dev/vdb - poll=5s,read-only,poll=5s", 1, "duplicate option 'poll'");
	CHECK_BAD("a /dev/vdb - read-only,read-only", 1, "duplicate option 'read-only'");
	CHECK_BAD("a /dev/vdb - alert=/a,alert=/b", 1, "duplicate option 'alert'");
}

TEST(empty_option)
{
	CHECK_BAD("a /dev/vdb - read-only,", 1, "empty option");
	CHECK_BAD("a /dev/vdb - ,read-only", 1, "empty option");
	CHECK_BAD("a /dev/vdb - read-only,,allow-discards", 1, "empty option");
}

TEST(durations_out_of_range)
{
	CHECK_BAD("a /dev/vdb - poll=999ms", 1, "bad option 'poll=999ms': poll must be between 1s and 1h");
	CHECK_BAD("a /dev/vdb - poll=0", 1, "poll must be between 1s and 1h");
	CHECK_BAD("a /dev/vdb - poll=3601s", 1, "poll must be between 1s and 1h");
	CHECK_BAD("a /dev/vdb - lease=0s", 1, "bad option 'lease=0s': lease must be between 3s and 1h");
	CHECK_BAD("a /dev/vdb - lease=2999ms", 1, "lease must be between 3s and 1h");
	CHECK_BAD("a /dev/vdb - lease=61m", 1, "lease must be between 3s and 1h");
	CHECK_BAD("a /dev/vdb - grace=1441m", 1, "bad option 'grace=1441m': grace must be between 0s and 1d");
	CHECK_BAD("a /dev/vdb - grace=2d", 1, "grace must be between 0s and 1d");
	CHECK_BAD("a /dev/vdb - retry-max=0", 1, "retry-max must be between 1s and 1h");
	CHECK_BAD("a /dev/vdb - retry-max=2h", 1, "bad option 'retry-max=2h': retry-max must be between 1s and 1h");
}

TEST(bad_duration_syntax)
{
	CHECK_BAD("a /dev/vdb - poll=10x", 1, "bad option 'poll=10x': not a duration");
	CHECK_BAD("a /dev/vdb - poll=-1s", 1, "not a duration");
	CHECK_BAD("a /dev/vdb - lease=1.5s", 1, "bad option 'lease=1.5s': not a duration");
	CHECK_BAD("a /dev/vdb - grace=", 1, "bad option 'grace=': not a duration");
	CHECK_BAD("a /dev/vdb - retry-max=s", 1, "not a duration");
	CHECK_BAD("a /dev/vdb - poll=99999999999999999999", 1,
		  "bad option 'poll=99999999999999999999': poll must be between 1s and 1h");
}

TEST(path_options_must_be_absolute)
{
	CHECK_BAD("a /dev/vdb - header=hdr.img", 1, "bad option 'header=hdr.img': header must be an absolute path");
	CHECK_BAD("a /dev/vdb - pin-file=", 1, "pin-file must be an absolute path");
	CHECK_BAD("a /dev/vdb - alert=./hook", 1, "alert must be an absolute path");
	CHECK_BAD("a /dev/vdb - audit-log=~/log", 1, "audit-log must be an absolute path");
}

TEST(too_many_fields)
{
	CHECK_BAD("\na /dev/vdb - read-only extra", 2, "too many fields (5; at most 4");
	CHECK_BAD("a /dev/vdb - - - - -", 1, "too many fields (7;");
}

TEST(missing_device)
{
	CHECK_BAD("lonely\n", 1, "missing device");
	CHECK_BAD("ok /dev/vdb\n  lonely # comment\n", 2, "missing device");
}

TEST(nul_byte)
{
	static const char text[] = "a /dev/vda\nb /dev/v\0db\nc /dev/vdc\n";
	struct cmk_tab tab;
	struct reports r;

	CHECK_BAD_LEN(text, sizeof(text) - 1, 2, "NUL byte");
	/* Even in a comment. */
	CHECK_BAD_LEN("# x\0y\n", 6, 1, "NUL byte");
	ASSERT_EQ(1, parse_len(text, sizeof(text) - 1, &tab, &r));
	ASSERT_EQ(2, tab.count);
	EXPECT_STREQ("c", tab.entries[1].name);
	cmk_tab_free(&tab);
}

TEST(over_long_line)
{
	char text[5000];
	struct cmk_tab tab;
	struct reports r;

	strcpy(text, "a /dev/vda\n#");
	memset(text + 12, 'x', 4095);	/* comment line of 4096 bytes */
	strcpy(text + 12 + 4095, "\nb /dev/vdb\n");
	ASSERT_EQ(1, parse(text, &tab, &r));
	ASSERT_EQ(1, r.n);
	EXPECT_EQ(2, r.line[0]);
	EXPECT_NE(NULL, strstr(r.msg[0], "line longer than 4095 bytes"));
	ASSERT_EQ(2, tab.count);
	EXPECT_EQ(3, tab.entries[1].line);
	cmk_tab_free(&tab);
}

TEST(control_characters)
{
	CHECK_BAD("a /dev/vda\r\n", 1, "carriage return");
	CHECK_BAD("a /dev/v\x01" "da\n", 1, "control character 0x01");
	CHECK_BAD("a /dev/vda\x7f\n", 1, "control character 0x7f");
}

TEST(several_problems_one_line)
{
	struct cmk_tab tab;
	struct reports r;

	ASSERT_EQ(1, parse("a:b dev - poll=0,bogus,read-only=1\n", &tab, &r));
	EXPECT_EQ(0, tab.count);
	ASSERT_EQ(5, r.n);
	EXPECT_NE(NULL, strstr(r.msg[0], "bad name"));
	EXPECT_NE(NULL, strstr(r.msg[1], "bad device"));
	EXPECT_NE(NULL, strstr(r.msg[2], "poll must be"));
	EXPECT_NE(NULL, strstr(r.msg[3], "unknown option 'bogus'"));
	EXPECT_NE(NULL, strstr(r.msg[4], "takes no value"));
	EXPECT_STREQ("<string>", r.path[0]);
	EXPECT_EQ(1, r.line[4]);
	cmk_tab_free(&tab);
}

TEST(mixed_good_and_bad_lines)
{
	static const char text[] =
		"# cmktab\n"					/* 1 */
		"root /dev/vda - lease=30s,auto-revalidate\n"	/* 2 */
		"bad/name /dev/vdb\n"				/* 3 */
		"home UUID=3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11\n" /* 4 */
		"root /dev/vdc\n"				/* 5 */
		"\n"						/* 6 */
		"logs /dev/vdd pkcs11:object=logs - \n"		/* 7 */
		"tmp /dev/vde - lease=1s\n"			/* 8 */
		"srv /dev/vdf nope\n"				/* 9 */
		"var /dev/vdg - read-only\n";			/* 10 */
	static const unsigned int bad_lines[] = { 3, 5, 8, 9 };
	static const char *const good[] = { "root", "home", "logs", "var" };
	static const unsigned int good_lines[] = { 2, 4, 7, 10 };
	struct cmk_tab tab;
	struct reports r;
	unsigned int i;

	ASSERT_EQ(4, parse(text, &tab, &r));
	ASSERT_EQ(4, r.n);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(bad_lines[i], r.line[i]) TH_LOG("%s", r.msg[i]);
	ASSERT_EQ(4, tab.count);
	for (i = 0; i < 4; i++) {
		EXPECT_STREQ(good[i], tab.entries[i].name);
		EXPECT_EQ(good_lines[i], tab.entries[i].line);
	}
	EXPECT_EQ(SEC(30), tab.entries[0].lease_ms);
	EXPECT_TRUE(tab.entries[0].auto_revalidate);
	EXPECT_STREQ("3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11", tab.entries[1].uuid);
	EXPECT_STREQ("pkcs11:object=logs", tab.entries[2].kek_uri);
	EXPECT_TRUE(tab.entries[3].read_only);
	cmk_tab_free(&tab);
}

TEST(too_many_entries)
{
	size_t size = (CMK_TAB_ENTRIES_MAX + 2) * 32, len = 0;
	char *text = malloc(size);
	struct cmk_tab tab;
	struct reports r;
	unsigned int i;

	ASSERT_NE(NULL, text);
	for (i = 0; i < CMK_TAB_ENTRIES_MAX + 2; i++)
		len += snprintf(text + len, size - len, "v%u /dev/d%u\n", i, i);
	ASSERT_EQ(2, parse_len(text, len, &tab, &r));
	EXPECT_EQ(CMK_TAB_ENTRIES_MAX, tab.count);
	ASSERT_EQ(2, r.n);
	EXPECT_EQ(CMK_TAB_ENTRIES_MAX + 1, r.line[0]);
	EXPECT_NE(NULL, strstr(r.msg[0], "too many volumes (at most 4096)"));
	EXPECT_STREQ("v4095", tab.entries[CMK_TAB_ENTRIES_MAX - 1].name);
	cmk_tab_free(&tab);
	free(text);
}

/* ---- files ---- */

FIXTURE(file) {
	char dir[64];
	char path[128];
};

FIXTURE_SETUP(file)
{
	strcpy(self->dir, "/tmp/cmk-tab-test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/cmktab", self->dir);
}

FIXTURE_TEARDOWN(file)
{
	unlink(self->path);
	rmdir(self->dir);
}

static int write_tab(const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text);
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode))
		r = -EIO;
	close(fd);
	return r;
}

TEST_F(file, load_good)
{
	struct cmk_tab tab;
	struct reports r = { 0 };

	ASSERT_EQ(0, write_tab(self->path,
			       "# test\ndata /dev/vdb pkcs11:object=k poll=5s\n"
			       "bad dev\n", 0600));
	ASSERT_EQ(1, cmk_tab_load(self->path, &tab, collect, &r));
	ASSERT_EQ(1, tab.count);
	EXPECT_STREQ("data", tab.entries[0].name);
	EXPECT_EQ(SEC(5), tab.entries[0].poll_ms);
	ASSERT_EQ(1, r.n);
	EXPECT_STREQ(self->path, r.path[0]);
	EXPECT_EQ(3, r.line[0]);
	cmk_tab_free(&tab);

	ASSERT_EQ(0, write_tab(self->path, "data /dev/vdb\n", 0644));
	ASSERT_EQ(0, cmk_tab_load(self->path, &tab, NULL, NULL));
	EXPECT_EQ(1, tab.count);
	cmk_tab_free(&tab);
}

TEST_F(file, load_refuses_writable_by_others)
{
	static const mode_t modes[] = { 0666, 0620, 0602, 0660 };
	struct cmk_tab tab;
	struct reports r;
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memset(&r, 0, sizeof(r));
		ASSERT_EQ(0, write_tab(self->path, "data /dev/vdb\n", modes[i]));
		EXPECT_EQ(1, cmk_tab_load(self->path, &tab, collect, &r));
		EXPECT_EQ(0, tab.count);
		EXPECT_EQ(NULL, tab.entries);
		ASSERT_EQ(1, r.n);
		EXPECT_EQ(0, r.line[0]);
		EXPECT_NE(NULL, strstr(r.msg[0], "group- or world-writable"))
			TH_LOG("%s", r.msg[0]);
		cmk_tab_free(&tab);
	}
	EXPECT_NE(NULL, strstr(r.msg[0], "mode 0660"));
}

TEST_F(file, load_missing_gives_enoent)
{
	struct cmk_tab tab;
	struct reports r = { 0 };

	EXPECT_EQ(-ENOENT, cmk_tab_load(self->path, &tab, collect, &r));
	EXPECT_EQ(0, tab.count);
	EXPECT_EQ(0, r.n);
}

TEST_F(file, load_refuses_non_regular)
{
	struct cmk_tab tab;
	struct reports r = { 0 };

	EXPECT_EQ(1, cmk_tab_load(self->dir, &tab, collect, &r));
	EXPECT_EQ(0, tab.count);
	ASSERT_EQ(1, r.n);
	EXPECT_NE(NULL, strstr(r.msg[0], "not a regular file"));
}

TEST_F(file, load_empty_and_no_final_newline)
{
	struct cmk_tab tab;

	ASSERT_EQ(0, write_tab(self->path, "", 0600));
	EXPECT_EQ(0, cmk_tab_load(self->path, &tab, NULL, NULL));
	EXPECT_EQ(0, tab.count);
	ASSERT_EQ(0, write_tab(self->path, "a /dev/a\nb /dev/b", 0400));
	EXPECT_EQ(0, cmk_tab_load(self->path, &tab, NULL, NULL));
	ASSERT_EQ(2, tab.count);
	EXPECT_STREQ("/dev/b", tab.entries[1].device);
	cmk_tab_free(&tab);
	chmod(self->path, 0600);
}

TEST_HARNESS_MAIN
