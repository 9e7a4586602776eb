// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: just enough JSON reading for cmkctl to show cmkd's answers.
 * Values are located in place in a NUL-terminated document, never copied
 * as a tree: cmk_json_member() finds a member of an object,
 * cmk_json_item() an element of an array, cmk_json_text() copies a
 * scalar out (strings unescaped).  Malformed input gives NULL / -EINVAL,
 * never a read past the terminating NUL.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libcmk.h"

static const char *cmk_json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Past a string starting at its opening quote, or NULL. */
static const char *cmk_json_skip_string(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/**
 * cmk_json_skip() - the end of the JSON value at @p
 * @p: a value, leading whitespace allowed
 *
 * Return: the first character after the value, or NULL if malformed.
 */
const char *cmk_json_skip(const char *p)
{
	int depth = 0;

	p = cmk_json_ws(p);
	if (*p != '"' && *p != '{' && *p != '[') {
		/* A bare scalar (number, true, false, null). */
		const char *start = p;

		while (*p && !strchr(",:{}[]\" \t\r\n", *p))
			p++;
		return p == start ? NULL : p;
	}
	do {
		switch (*p) {
		case '\0':
			return NULL;
		case '"':
			p = cmk_json_skip_string(p);
			if (!p)
				return NULL;
			break;
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			depth--;
			p++;
			break;
		default:
			p++;
			break;
		}
	} while (depth > 0);
	return p;
}

/**
 * cmk_json_member() - the value of member @key of the object at @obj
 * @obj: an object, leading whitespace allowed
 * @key: the member name (compared without unescaping)
 *
 * Return: the value (at its first character), or NULL if absent or
 * malformed.
 */
const char *cmk_json_member(const char *obj, const char *key)
{
	size_t klen = strlen(key);
	const char *p = cmk_json_ws(obj), *k;

	if (*p != '{')
		return NULL;
	p = cmk_json_ws(p + 1);
	while (*p == '"') {
		const char *kend;

		k = p + 1;
		p = cmk_json_skip_string(p);
		if (!p)
			return NULL;
		/* The raw name is [k, kend): compared whole, escapes and all. */
		kend = p - 1;
		p = cmk_json_ws(p);
		if (*p != ':')
			return NULL;
		p = cmk_json_ws(p + 1);
		if ((size_t)(kend - k) == klen && !strncmp(k, key, klen))
			return p;
		p = cmk_json_skip(p);
		if (!p)
			return NULL;
		p = cmk_json_ws(p);
		if (*p != ',')
			return NULL;
		p = cmk_json_ws(p + 1);
	}
	return NULL;
}

/**
 * cmk_json_item() - element @i of the array at @arr
 * @arr: an array, leading whitespace allowed
 * @i: index from 0
 *
 * Return: the element, or NULL past the end or if malformed.
 */
const char *cmk_json_item(const char *arr, size_t i)
{
	const char *p = cmk_json_ws(arr);

	if (*p != '[')
		return NULL;
	p = cmk_json_ws(p + 1);
	if (*p == ']')
		return NULL;
	for (;;) {
		if (!i--)
			return p;
		p = cmk_json_skip(p);
		if (!p)
			return NULL;
		p = cmk_json_ws(p);
		if (*p != ',')
			return NULL;
		p = cmk_json_ws(p + 1);
	}
}

/**
 * cmk_json_text() - copy a scalar out
 * @val: a string, number, true, false or null
 * @buf: set to the string unescaped (\uXXXX above 0x7f becomes '?'), the
 *	number or literal as written, or "" for null
 * @size: bytes in @buf
 *
 * Return: 0, -EINVAL if @val is not a scalar, -ENOSPC if it was cut.
 */
int cmk_json_text(const char *val, char *buf, size_t size)
{
	const char *p = cmk_json_ws(val), *end;
	size_t n = 0;
	unsigned int u;
	char c;

	if (!size)
		return -ENOSPC;
	buf[0] = '\0';
	if (*p == '{' || *p == '[')
		return -EINVAL;
	end = cmk_json_skip(p);
	if (!end)
		return -EINVAL;
	if (*p != '"') {
		if (!strncmp(p, "null", 4) && end - p == 4)
			return 0;
		if ((size_t)(end - p) >= size)
			return -ENOSPC;
		memcpy(buf, p, end - p);
		buf[end - p] = '\0';
		return 0;
	}
	for (p++; p < end - 1; p++) {
		c = *p;
		if (c == '\\') {
			switch (*++p) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u':
				/* Exactly four hex digits; no NUL inside a string. */
				if (p + 4 >= end - 1 || !isxdigit(p[1]) ||
				    !isxdigit(p[2]) || !isxdigit(p[3]) ||
				    !isxdigit(p[4]) ||
				    sscanf(p + 1, "%4x", &u) != 1 || !u)
					return -EINVAL;
				p += 4;
				c = u < 0x80 ? (char)u : '?';
				break;
			default:
				c = *p;
				break;
			}
		}
		if (n + 1 >= size) {
			buf[n] = '\0';
			return -ENOSPC;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}
