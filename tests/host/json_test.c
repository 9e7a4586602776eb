// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of libcmk's small JSON reader (cmk-json.c):
 * cmk_json_skip(), cmk_json_member(), cmk_json_item() and cmk_json_text(),
 * as cmkctl uses them on cmkd's answers.
 *
 * Every document is copied into a heap buffer of exactly strlen() + 1
 * bytes (J()), so that a read past its terminating NUL is caught by
 * valgrind or AddressSanitizer:
 *
 *   valgrind --error-exitcode=9 build/tests/host/json_test
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "libcmk.h"

/* Up to 16 exact-size copies per test, freed by J_FREE(). */
static char *j_held[16];
static unsigned int j_n;

static const char *J(const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = malloc(len);

	if (!p)
		abort();
	memcpy(p, s, len);
	if (j_n < ARRAY_SIZE(j_held))
		j_held[j_n++] = p;
	return p;
}

static void J_FREE(void)
{
	while (j_n)
		free(j_held[--j_n]);
}

/* Text of the value at @v (or "<NULL>" if @v is NULL, "<rc N>" on error). */
static const char *text_of(const char *v, char *buf, size_t size)
{
	int r;

	if (!v)
		return "<NULL>";
	r = cmk_json_text(v, buf, size);
	if (r) {
		snprintf(buf, size, "<rc %d>", r);
		return buf;
	}
	return buf;
}

/* The text of member @key of @obj. */
static const char *mtext(const char *obj, const char *key, char *buf,
			 size_t size)
{
	return text_of(cmk_json_member(obj, key), buf, size);
}

TEST(skip_scalars)
{
	static const struct { const char *in; size_t len; } c[] = {
		{ "42", 2 }, { "-1.5e+3", 7 }, { "0", 1 }, { "true", 4 },
		{ "false", 5 }, { "null", 4 }, { "  \t\r\n7", 6 },
		{ "12,13", 2 }, { "true]", 4 }, { "null }", 4 },
		{ "3:4", 1 }, { "\"s\"", 3 }, { "\"\"", 2 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		const char *d = J(c[i].in);

		EXPECT_EQ(d + c[i].len, cmk_json_skip(d)) TH_LOG("'%s'", c[i].in);
		J_FREE();
	}
}

TEST(skip_nested_containers)
{
	const char *d = J("{\"a\":[1,{\"b\":\"]}\"},[]],\"c\":{},\"d\":[[[]]]} tail");
	const char *e = cmk_json_skip(d);

	ASSERT_NE(NULL, e);
	EXPECT_STREQ(" tail", e);
	d = J(" [ {\"x\" : [ ] } , [ { } ] ] ,1");
	e = cmk_json_skip(d);
	ASSERT_NE(NULL, e);
	EXPECT_STREQ(" ,1", e);
	d = J("[]x");
	EXPECT_STREQ("x", cmk_json_skip(d));
	d = J("{}");
	EXPECT_EQ(d + 2, cmk_json_skip(d));
	J_FREE();
}

TEST(skip_string_escapes)
{
	/* "a\"b\\" then more: the escaped quote does not end the string. */
	const char *d = J("\"a\\\"b\\\\\" rest");

	EXPECT_STREQ(" rest", cmk_json_skip(d));
	/* Brackets and braces inside strings do not count. */
	d = J("[\"[\",\"{\",\"\\\"]\"] after");
	EXPECT_STREQ(" after", cmk_json_skip(d));
	J_FREE();
}

TEST(skip_malformed)
{
	static const char *const bad[] = {
		"", "   ", "\n", "}", "]", ",", ":", "{", "[", "[[[",
		"\"abc", "\"abc\\", "\"abc\\\"", "{\"a\":[1,2}",
		"{\"a\":\"}", "[\"]", "{\"a\":{\"b\":1}",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(NULL, cmk_json_skip(J(bad[i]))) TH_LOG("'%s'", bad[i]);
		J_FREE();
	}
}

TEST(member_basic)
{
	const char *d = J("{\"name\":\"vol1\",\"state\":\"opening\",\"n\":3,\"ok\":true,\"v\":null}");
	char b[64];

	EXPECT_STREQ("vol1", mtext(d, "name", b, sizeof(b)));
	EXPECT_STREQ("opening", mtext(d, "state", b, sizeof(b)));
	EXPECT_STREQ("3", mtext(d, "n", b, sizeof(b)));
	EXPECT_STREQ("true", mtext(d, "ok", b, sizeof(b)));
	EXPECT_STREQ("", mtext(d, "v", b, sizeof(b)));
	/* The value is returned in place, at its first character. */
	EXPECT_EQ(strstr(d, "\"vol1\""), cmk_json_member(d, "name"));
	J_FREE();
}

TEST(member_absent)
{
	const char *d = J("{\"name\":\"vol1\",\"state\":\"opening\"}");

	EXPECT_EQ(NULL, cmk_json_member(d, "reason"));
	EXPECT_EQ(NULL, cmk_json_member(d, ""));
	EXPECT_EQ(NULL, cmk_json_member(d, "Name"));
	/* A value equal to the key is not a member name. */
	EXPECT_EQ(NULL, cmk_json_member(d, "vol1"));
	EXPECT_EQ(NULL, cmk_json_member(J("{}"), "a"));
	EXPECT_EQ(NULL, cmk_json_member(J("{ }"), "a"));
	EXPECT_EQ(NULL, cmk_json_member(J(" {\n\t} "), "a"));
	J_FREE();
}

TEST(member_name_prefix)
{
	const char *d = J("{\"state_x\":\"a\",\"state\":\"b\",\"s\":\"c\"}");
	char b[64];

	EXPECT_STREQ("b", mtext(d, "state", b, sizeof(b)));
	EXPECT_STREQ("a", mtext(d, "state_x", b, sizeof(b)));
	EXPECT_STREQ("c", mtext(d, "s", b, sizeof(b)));
	EXPECT_EQ(NULL, cmk_json_member(d, "stat"));
	EXPECT_EQ(NULL, cmk_json_member(d, "state_"));
	EXPECT_EQ(NULL, cmk_json_member(d, "state_xy"));
	d = J("{\"state_x\":1}");
	EXPECT_EQ(NULL, cmk_json_member(d, "state"));
	d = J("{\"state\":1}");
	EXPECT_EQ(NULL, cmk_json_member(d, "state_x"));
	J_FREE();
}

TEST(member_nested_keys_not_top_level)
{
	const char *d = J("{\"a\":{\"state\":\"inner\"},"
			  "\"b\":[\"state\",{\"state\":2}],"
			  "\"c\":\"\\\"state\\\":3\","
			  "\"state\":\"top\"}");
	char b[64];

	EXPECT_STREQ("top", mtext(d, "state", b, sizeof(b)));
	d = J("{\"a\":{\"state\":\"inner\"},\"b\":[{\"state\":2}],\"c\":\"\\\"state\\\":3\"}");
	EXPECT_EQ(NULL, cmk_json_member(d, "state"));
	/* The nested one is reachable through its parent. */
	EXPECT_STREQ("inner", mtext(cmk_json_member(d, "a"), "state", b, sizeof(b)));
	J_FREE();
}

TEST(member_whitespace)
{
	const char *d = J("  {\n \"a\" :\t 1 ,\r\n \"b\" : [ ] ,\"c\"\n:\n\"x\"\n}\n");
	char b[64];

	EXPECT_STREQ("1", mtext(d, "a", b, sizeof(b)));
	EXPECT_EQ(NULL, cmk_json_item(cmk_json_member(d, "b"), 0));
	EXPECT_STREQ("x", mtext(d, "c", b, sizeof(b)));
	J_FREE();
}

TEST(member_not_an_object)
{
	static const char *const docs[] = {
		"[{\"a\":1}]", "\"a\"", "1", "", "   ", "null", "a",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(docs); i++) {
		EXPECT_EQ(NULL, cmk_json_member(J(docs[i]), "a")) TH_LOG("'%s'", docs[i]);
		J_FREE();
	}
}

TEST(member_malformed)
{
	static const struct { const char *doc, *key; } c[] = {
		{ "{\"a\" 1,\"b\":2}", "b" },	/* missing colon */
		{ "{\"a\" 1}", "a" },
		{ "{\"a\":1 \"b\":2}", "b" },	/* missing comma */
		{ "{\"a\":1 x}", "b" },		/* trailing garbage */
		{ "{\"a\":\"v\"x,\"b\":2}", "b" },
		{ "{\"a\":1,}", "b" },
		{ "{\"a\":\"x", "b" },		/* unterminated string */
		{ "{\"a\":\"x\\", "b" },
		{ "{\"a", "a" },
		{ "{\"a\"", "a" },
		{ "{", "a" },
		{ "}", "a" },
		{ "{\"a\":1", "b" },		/* unterminated object */
		{ "{a:1}", "a" },		/* unquoted name */
		{ "{\"a\":{\"b\":1,\"c\":2}", "d" },
		{ "{\"a\":}", "b" },
		{ "{,\"a\":1}", "a" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		EXPECT_EQ(NULL, cmk_json_member(J(c[i].doc), c[i].key))
			TH_LOG("'%s' member '%s'", c[i].doc, c[i].key);
		J_FREE();
	}
}

TEST(member_name_with_escaped_quote)
{
	/*
	 * Names are compared without unescaping: the member named a\"b
	 * (raw) is not the member a\ (raw), whose closing quote would be
	 * the escaped one.
	 */
	const char *d = J("{\"a\\\"b\":1}");

	EXPECT_EQ(NULL, cmk_json_member(d, "a\\"));
	EXPECT_NE(NULL, cmk_json_member(d, "a\\\"b"));
	J_FREE();
}

TEST(item_basic)
{
	const char *d = J("[1,\"two\",{\"three\":3},[4],true,null, -5 ]");
	char b[64];

	EXPECT_STREQ("1", text_of(cmk_json_item(d, 0), b, sizeof(b)));
	EXPECT_STREQ("two", text_of(cmk_json_item(d, 1), b, sizeof(b)));
	EXPECT_STREQ("3", mtext(cmk_json_item(d, 2), "three", b, sizeof(b)));
	EXPECT_STREQ("4", text_of(cmk_json_item(cmk_json_item(d, 3), 0), b, sizeof(b)));
	EXPECT_STREQ("true", text_of(cmk_json_item(d, 4), b, sizeof(b)));
	EXPECT_STREQ("", text_of(cmk_json_item(d, 5), b, sizeof(b)));
	EXPECT_STREQ("-5", text_of(cmk_json_item(d, 6), b, sizeof(b)));
	J_FREE();
}

TEST(item_past_the_end)
{
	const char *d = J("[1,2,3]");

	EXPECT_NE(NULL, cmk_json_item(d, 2));
	EXPECT_EQ(NULL, cmk_json_item(d, 3));
	EXPECT_EQ(NULL, cmk_json_item(d, 100));
	EXPECT_EQ(NULL, cmk_json_item(d, SIZE_MAX));
	d = J("[{\"a\":[1,2]}]");
	EXPECT_NE(NULL, cmk_json_item(d, 0));
	EXPECT_EQ(NULL, cmk_json_item(d, 1));
	J_FREE();
}

TEST(item_empty_containers)
{
	static const char *const docs[] = { "[]", "[ ]", "[\n\t]", " [] " };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(docs); i++) {
		EXPECT_EQ(NULL, cmk_json_item(J(docs[i]), 0)) TH_LOG("'%s'", docs[i]);
		J_FREE();
	}
	/* An empty array and object as values. */
	{
		const char *d = J("{\"events\":[],\"audit\":{}}");

		EXPECT_EQ(NULL, cmk_json_item(cmk_json_member(d, "events"), 0));
		EXPECT_EQ(NULL, cmk_json_member(cmk_json_member(d, "audit"), "x"));
		EXPECT_EQ(NULL, cmk_json_item(cmk_json_member(d, "audit"), 0));
		J_FREE();
	}
}

TEST(item_malformed)
{
	static const struct { const char *doc; size_t i; } c[] = {
		{ "[1 2]", 1 },		/* missing comma */
		{ "[1 x]", 1 },		/* trailing garbage */
		{ "[1,\"x", 2 },	/* unterminated string */
		{ "[1,2", 2 },		/* unterminated array */
		{ "[1,,2]", 2 },
		{ "{}", 0 },		/* not an array */
		{ "{\"a\":1}", 0 },
		{ "", 0 },
		{ "]", 0 },
		{ "1", 0 },
		{ "[\"a\"\"b\"]", 1 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		EXPECT_EQ(NULL, cmk_json_item(J(c[i].doc), c[i].i))
			TH_LOG("'%s' item %zu", c[i].doc, c[i].i);
		J_FREE();
	}
}

TEST(text_strings_and_escapes)
{
	static const struct { const char *in, *out; } c[] = {
		{ "\"plain\"", "plain" },
		{ "\"\"", "" },
		{ "  \"lead\"", "lead" },
		{ "\"a\\\"b\"", "a\"b" },
		{ "\"a\\\\b\"", "a\\b" },
		{ "\"a\\/b\"", "a/b" },
		{ "\"1\\n2\\t3\\r4\\b5\\f6\"", "1\n2\t3\r4\b5\f6" },
		{ "\"\\\\\"", "\\" },
		{ "\"end\\\\\" tail", "end\\" },
		{ "\"x\",\"y\"", "x" },
	};
	unsigned int i;
	char b[64];

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		EXPECT_STREQ(c[i].out, text_of(J(c[i].in), b, sizeof(b))) TH_LOG("'%s'", c[i].in);
		J_FREE();
	}
}

TEST(text_unicode_escapes)
{
	static const struct { const char *in, *out; } c[] = {
		{ "\"\\u0041\"", "A" },
		{ "\"\\u0041\\u0062c\"", "Abc" },
		{ "\"\\u004a\\u004A\"", "JJ" },
		{ "\"caf\\u00e9\"", "caf?" },
		{ "\"\\u00E9\"", "?" },
		{ "\"\\u20ac\"", "?" },
		{ "\"\\ud83d\\ude00!\"", "?\?!" },
		{ "\"\\u007f\"", "\x7f" },
		{ "\"\\u0080\"", "?" },
		{ "\"tab\\u0009x\"", "tab\tx" },
	};
	unsigned int i;
	char b[64];

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		EXPECT_STREQ(c[i].out, text_of(J(c[i].in), b, sizeof(b))) TH_LOG("'%s'", c[i].in);
		J_FREE();
	}
}

TEST(text_unicode_escape_needs_four_hex_digits)
{
	/*
	 * JSON's \u takes exactly four hex digits.  sscanf("%4x") accepts
	 * fewer, a sign, a 0x prefix or leading blanks, and the parser then
	 * skips four characters whatever it read: malformed escapes must be
	 * -EINVAL, not a wrong string (or one cut by an embedded NUL).
	 */
	static const char *const bad[] = {
		"\"\\u\"", "\"\\uZZZZ\"", "\"\\u12\"", "\"\\u00G1\"",
		"\"\\u+041\"", "\"\\u0x41\"", "\"\\u 041\"", "\"\\u-001\"",
		"\"\\u4 zY\"",
	};
	unsigned int i;
	char b[64];

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, cmk_json_text(J(bad[i]), b, sizeof(b)))
			TH_LOG("'%s' gave '%s'", bad[i], b);
		J_FREE();
	}
}

TEST(text_numbers_and_literals)
{
	static const struct { const char *in, *out; } c[] = {
		{ "42", "42" }, { "-0.5e-3", "-0.5e-3" }, { "1E+9", "1E+9" },
		{ "0", "0" }, { "  7 ", "7" }, { "3.000,", "3.000" },
		{ "true", "true" }, { "false", "false" }, { "null", "" },
		{ "null}", "" }, { "12}", "12" },
	};
	unsigned int i;
	char b[64];

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		EXPECT_STREQ(c[i].out, text_of(J(c[i].in), b, sizeof(b))) TH_LOG("'%s'", c[i].in);
		J_FREE();
	}
	{
		const char *d = J("{\"pid\":1234,\"poll_s\":3.000,\"up\":false,\"uuid\":null}");

		EXPECT_STREQ("1234", mtext(d, "pid", b, sizeof(b)));
		EXPECT_STREQ("3.000", mtext(d, "poll_s", b, sizeof(b)));
		EXPECT_STREQ("false", mtext(d, "up", b, sizeof(b)));
		EXPECT_STREQ("", mtext(d, "uuid", b, sizeof(b)));
		J_FREE();
	}
}

TEST(text_not_a_scalar)
{
	static const char *const docs[] = {
		"{}", "[]", "{\"a\":1}", "[1]", " [\"x\"]",
	};
	unsigned int i;
	char b[16];

	for (i = 0; i < ARRAY_SIZE(docs); i++) {
		memset(b, 'X', sizeof(b));
		EXPECT_EQ(-EINVAL, cmk_json_text(J(docs[i]), b, sizeof(b))) TH_LOG("'%s'", docs[i]);
		EXPECT_STREQ("", b);
		J_FREE();
	}
}

TEST(text_malformed)
{
	static const char *const bad[] = {
		"", "   ", "}", "]", ",", ":", "\"abc", "\"abc\\",
		"\"abc\\\"", "\"", "\"\\u00",
	};
	unsigned int i;
	char b[16];

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(b, 'X', sizeof(b));
		EXPECT_EQ(-EINVAL, cmk_json_text(J(bad[i]), b, sizeof(b))) TH_LOG("'%s'", bad[i]);
		EXPECT_STREQ("", b);
		J_FREE();
	}
}

TEST(text_enospc)
{
	char b[16];

	EXPECT_EQ(0, cmk_json_text(J("\"hello\""), b, 6));
	EXPECT_STREQ("hello", b);
	EXPECT_EQ(-ENOSPC, cmk_json_text(J("\"hello\""), b, 5));
	EXPECT_STREQ("hell", b);	/* cut, still terminated */
	EXPECT_EQ(-ENOSPC, cmk_json_text(J("\"hello\""), b, 1));
	EXPECT_STREQ("", b);
	memset(b, 'X', sizeof(b));
	EXPECT_EQ(-ENOSPC, cmk_json_text(J("\"hello\""), b, 0));
	EXPECT_EQ('X', b[0]);		/* size 0: nothing written */
	/* Escapes count once unescaped. */
	EXPECT_EQ(0, cmk_json_text(J("\"a\\nb\""), b, 4));
	EXPECT_STREQ("a\nb", b);
	EXPECT_EQ(0, cmk_json_text(J("\"\\u0041\""), b, 2));
	EXPECT_STREQ("A", b);
	EXPECT_EQ(-ENOSPC, cmk_json_text(J("\"\\u0041\""), b, 1));
	/* Numbers and literals are not cut: all or -ENOSPC. */
	EXPECT_EQ(0, cmk_json_text(J("12345"), b, 6));
	EXPECT_STREQ("12345", b);
	EXPECT_EQ(-ENOSPC, cmk_json_text(J("12345"), b, 5));
	EXPECT_STREQ("", b);
	EXPECT_EQ(-ENOSPC, cmk_json_text(J("true"), b, 4));
	EXPECT_EQ(0, cmk_json_text(J("null"), b, 1));
	EXPECT_STREQ("", b);
	EXPECT_EQ(0, cmk_json_text(J("\"\""), b, 1));
	J_FREE();
}

TEST(cmkd_status_answer)
{
	/* The shape of cmkd's "status" answer (cmkd-ctl.c). */
	const char *d = J(
		"{\"cmkd\":{\"version\":\"0.1\",\"pid\":4242,\"config\":\"/etc/cmk/cmktab\",\"audit_log\":\"/var/log/cmk/audit.log\"},"
		"\"volumes\":[{\"name\":\"data\",\"state\":\"opening\",\"reason\":\"device-mapper is not available: \\\"x\\\"\\u000a\","
		"\"class\":\"ok\",\"since\":\"2026-01-02T03:04:05Z\",\"device\":null,\"uuid\":\"3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11\","
		"\"kek\":\"pkcs11:token=t;object=k\",\"poll_s\":3.000,\"lease_s\":9.000,\"grace_s\":20.000,\"auto_revalidate\":false,"
		"\"last_check\":null,\"last_check_result\":null,\"last_check_ok\":null,\"lease_expires\":null,"
		"\"events\":[{\"time\":\"2026-01-02T03:04:05Z\",\"text\":\"waiting: x\"},{\"time\":null,\"text\":\"y\"}],"
		"\"audit\":[{\"op\":\"unwrap\",\"uuid\":\"3f0a\",\"result\":\"transient\"}]},"
		"{\"name\":\"two\",\"state\":\"closed\",\"reason\":\"closed by cmkctl close\",\"events\":[],\"audit\":[]}]}\n");
	const char *cmkd, *vols, *v, *ev, *au, *end;
	char b[128];

	cmkd = cmk_json_member(d, "cmkd");
	ASSERT_NE(NULL, cmkd);
	EXPECT_STREQ("4242", mtext(cmkd, "pid", b, sizeof(b)));
	EXPECT_STREQ("/etc/cmk/cmktab", mtext(cmkd, "config", b, sizeof(b)));
	EXPECT_EQ(NULL, cmk_json_member(d, "pid"));
	vols = cmk_json_member(d, "volumes");
	ASSERT_NE(NULL, vols);
	v = cmk_json_item(vols, 0);
	ASSERT_NE(NULL, v);
	EXPECT_STREQ("data", mtext(v, "name", b, sizeof(b)));
	EXPECT_STREQ("opening", mtext(v, "state", b, sizeof(b)));
	EXPECT_STREQ("device-mapper is not available: \"x\"\n", mtext(v, "reason", b, sizeof(b)));
	EXPECT_STREQ("", mtext(v, "device", b, sizeof(b)));
	EXPECT_STREQ("9.000", mtext(v, "lease_s", b, sizeof(b)));
	ev = cmk_json_member(v, "events");
	EXPECT_STREQ("waiting: x", mtext(cmk_json_item(ev, 0), "text", b, sizeof(b)));
	EXPECT_STREQ("", mtext(cmk_json_item(ev, 1), "time", b, sizeof(b)));
	EXPECT_EQ(NULL, cmk_json_item(ev, 2));
	au = cmk_json_item(cmk_json_member(v, "audit"), 0);
	ASSERT_NE(NULL, au);
	end = cmk_json_skip(au);
	ASSERT_NE(NULL, end);
	EXPECT_EQ('}', end[-1]);
	EXPECT_EQ(']', end[0]);
	EXPECT_STREQ("unwrap", mtext(au, "op", b, sizeof(b)));
	v = cmk_json_item(vols, 1);
	EXPECT_STREQ("two", mtext(v, "name", b, sizeof(b)));
	EXPECT_EQ(NULL, cmk_json_item(cmk_json_member(v, "events"), 0));
	EXPECT_EQ(NULL, cmk_json_item(vols, 2));
	/* The whole answer skips to its newline. */
	EXPECT_STREQ("\n", cmk_json_skip(d));
	J_FREE();

	d = J("{\"result\":\"error\",\"reason\":\"no volume nosuch in /etc/cmk/cmktab\"}");
	EXPECT_STREQ("error", mtext(d, "result", b, sizeof(b)));
	EXPECT_STREQ("no volume nosuch in /etc/cmk/cmktab", mtext(d, "reason", b, sizeof(b)));
	EXPECT_EQ(NULL, cmk_json_member(d, "state"));
	J_FREE();
}

TEST(truncated_documents_stay_in_bounds)
{
	/*
	 * Every prefix of a document, in an exact-size buffer: an
	 * incomplete container never skips; whatever is located lies
	 * inside the buffer; nothing reads past the NUL (valgrind/ASan).
	 */
	static const char doc[] =
		"{\"a\":[1,\"t\\\"w\\\\o\\u0041\",{\"b\":null}],\"s\":\"x\\ny\",\"n\":-1.5,\"t\":true}";
	size_t len, full = strlen(doc);
	static const char *const keys[] = { "a", "s", "n", "t", "zz" };
	unsigned int k;
	char b[64];

	for (len = 0; len <= full; len++) {
		char *d = strndup(doc, len);
		const char *e, *v, *a;
		size_t i;

		ASSERT_NE(NULL, d);
		e = cmk_json_skip(d);
		if (len < full) {
			EXPECT_EQ(NULL, e) TH_LOG("prefix %zu", len);
		} else {
			EXPECT_EQ(d + full, e);
		}
		for (k = 0; k < ARRAY_SIZE(keys); k++) {
			v = cmk_json_member(d, keys[k]);
			if (!v)
				continue;
			EXPECT_TRUE(v >= d && v <= d + len) TH_LOG("prefix %zu", len);
			cmk_json_text(v, b, sizeof(b));
			e = cmk_json_skip(v);
			if (e) {
				EXPECT_TRUE(e > v && e <= d + len);
			}
		}
		a = cmk_json_member(d, "a");
		for (i = 0; a && (v = cmk_json_item(a, i)); i++) {
			EXPECT_TRUE(v >= d && v <= d + len);
			cmk_json_text(v, b, sizeof(b));
			cmk_json_member(v, "b");
		}
		free(d);
	}
}

TEST_HARNESS_MAIN
