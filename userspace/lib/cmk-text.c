// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: text that reaches a terminal, a log or the journal.  Fields can
 * come from a disk or a vault (design.md, "Trust boundary"): a newline in
 * one would forge a journal field or a log line, an escape sequence would
 * drive the reader's terminal.
 */
#include <stdio.h>
#include <string.h>

#include "cmk-text.h"

/**
 * cmk_text_escape() - copy a string with its control characters escaped
 * @in: the string
 * @out: the escaped copy, always NUL-terminated (truncated before the first
 *       character or escape that does not fit)
 * @size: bytes in @out, at least 1
 *
 * Bytes below 0x20 and DEL become \n, \t, \r or \xNN, and a backslash
 * becomes \\, so that the result is one line and can be read back.  Other
 * bytes (UTF-8 included) are copied.
 *
 * Return: @out.
 */
char *cmk_text_escape(const char *in, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = 0;
	char tmp[5];
	const char *e;

	for (; *s; s++) {
		switch (*s) {
		case '\n': e = "\\n"; break;
		case '\t': e = "\\t"; break;
		case '\r': e = "\\r"; break;
		case '\\': e = "\\\\"; break;
		default:
			if (*s >= 0x20 && *s != 0x7f) {
				tmp[0] = (char)*s;
				tmp[1] = '\0';
			} else {
				snprintf(tmp, sizeof(tmp), "\\x%02x", *s);
			}
			e = tmp;
			break;
		}
		/* An escape fits whole or not at all: no dangling "\x1". */
		if (n + strlen(e) + 1 > size)
			break;
		while (*e)
			out[n++] = *e++;
	}
	out[n] = '\0';
	return out;
}

/**
 * cmk_text_plain() - whether a string holds no control character
 * @s: the string
 *
 * Return: true when no byte is below 0x20 or DEL.
 */
bool cmk_text_plain(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}
