// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of libcmk's text escaping (cmk-text.c): what cmkd
 * writes to its log and the journal, where a field from a header or a
 * vault must never start a new line (a forged journal field) or drive a
 * terminal (an escape sequence).
 */

#include <string.h>

#include "kselftest_harness.h"
#include "libcmk.h"

TEST(escapes_controls)
{
	char out[128];

	EXPECT_STREQ("a\\nMESSAGE_ID=forged",
		     cmk_text_escape("a\nMESSAGE_ID=forged", out, sizeof(out)));
	EXPECT_STREQ("\\x1b[31mred\\x1b[0m",
		     cmk_text_escape("\x1b[31mred\x1b[0m", out, sizeof(out)));
	EXPECT_STREQ("tab\\tcr\\rdel\\x7fbs\\\\nul?",
		     cmk_text_escape("tab\tcr\rdel\x7f" "bs\\nul?", out, sizeof(out)));
	EXPECT_STREQ("\\x01\\x1f", cmk_text_escape("\x01\x1f", out, sizeof(out)));
}

TEST(keeps_text_and_utf8)
{
	char out[128];
	const char *s = "pkcs11:token=cmk;object=kek \xc3\xa9t\xc3\xa9 ~";

	EXPECT_STREQ(s, cmk_text_escape(s, out, sizeof(out)));
	EXPECT_STREQ("", cmk_text_escape("", out, sizeof(out)));
}

TEST(truncates_whole_escapes)
{
	char out[6];

	/* "ab\x1b..." needs 2 + 4 bytes: the escape is dropped whole. */
	EXPECT_STREQ("ab", cmk_text_escape("ab\x1bzz", out, sizeof(out)));
	EXPECT_STREQ("abcde", cmk_text_escape("abcdefgh", out, sizeof(out)));
	EXPECT_STREQ("", cmk_text_escape("\n", out, 2));
}

TEST(plain)
{
	EXPECT_TRUE(cmk_text_plain("a label / URI ~ \xc3\xa9"));
	EXPECT_TRUE(cmk_text_plain(""));
	EXPECT_FALSE(cmk_text_plain("a\nb"));
	EXPECT_FALSE(cmk_text_plain("\x1b[2J"));
	EXPECT_FALSE(cmk_text_plain("del\x7f"));
}

TEST_HARNESS_MAIN
