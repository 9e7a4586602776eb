// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk audit: one JSON line per vault call, to a log file opened with
 * O_APPEND (each record is one write(), so concurrent writers do not
 * interleave) and to syslog under LOG_AUTHPRIV.  Records name the key by
 * its redacted URI and version; they never hold key bytes or a PIN.
 *
 *   {"time":"2025-01-31T12:00:00.123Z","op":"unwrap","uuid":"...",
 *    "extent_first":0,"extent_count":4096,"kek":"pkcs11:...",
 *    "version":"01","result":"ok","ms":2.104}
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cmk-vault.h"

#define CMK_AUDIT_LINE_MAX	4096

/**
 * cmk_audit_open() - open an audit log for appending
 * @path: the log file; created 0600 if missing
 *
 * Return: a file descriptor, or a negative errno.
 */
int cmk_audit_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		      O_NOCTTY, 0600);

	return fd < 0 ? -errno : fd;
}

struct cmk_audit_buf {
	char *p;
	size_t n;
	size_t size;
	bool full;
};

static void cmk_audit_put(struct cmk_audit_buf *b, const char *s, size_t n)
{
	if (b->full || b->n + n >= b->size) {
		b->full = true;
		return;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void cmk_audit_fmt(struct cmk_audit_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void cmk_audit_fmt(struct cmk_audit_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		b->full = true;
	else
		cmk_audit_put(b, tmp, n);
}

/* A JSON string: quotes, backslash and control characters escaped. */
static void cmk_audit_str(struct cmk_audit_buf *b, const char *key,
			  const char *s)
{
	char esc[8];

	cmk_audit_fmt(b, ",\"%s\":", key);
	if (!s) {
		cmk_audit_put(b, "null", 4);
		return;
	}
	cmk_audit_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = c;
			cmk_audit_put(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			cmk_audit_put(b, esc, 6);
		} else {
			cmk_audit_put(b, s, 1);
		}
	}
	cmk_audit_put(b, "\"", 1);
}

/**
 * cmk_audit_record() - write one audit record
 * @fd: audit log, or -1 for none
 * @use_syslog: also log to syslog (LOG_AUTHPRIV | LOG_INFO, or
 *	LOG_WARNING for failures)
 * @op: operation ("open", "describe", "wrap", "unwrap", ...)
 * @ctx: device UUID and extents, may be NULL
 * @uri: the KEK URI, already redacted
 * @version: the key version, may be NULL
 * @cls: the result class
 * @ms: duration in milliseconds
 *
 * Return: 0, or a negative errno if the log file could not be written.
 */
int cmk_audit_record(int fd, bool use_syslog, const char *op,
		     const struct cmk_vault_ctx *ctx, const char *uri,
		     const char *version, enum cmk_vault_class cls,
		     double ms)
{
	char line[CMK_AUDIT_LINE_MAX];
	struct cmk_audit_buf b = { line, 0, sizeof(line) - 1, false };
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	ssize_t w;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	line[0] = 0;
	cmk_audit_fmt(&b, "{\"time\":\"%s.%03ldZ\"", stamp,
		      ts.tv_nsec / 1000000);
	cmk_audit_str(&b, "op", op);
	cmk_audit_str(&b, "uuid", ctx ? ctx->uuid : NULL);
	if (ctx && ctx->extent_count)
		cmk_audit_fmt(&b, ",\"extent_first\":%" PRIu64
			      ",\"extent_count\":%" PRIu64,
			      ctx->extent_first, ctx->extent_count);
	cmk_audit_str(&b, "kek", uri);
	cmk_audit_str(&b, "version", version && *version ? version : NULL);
	cmk_audit_str(&b, "result", cmk_vault_class_name(cls));
	cmk_audit_fmt(&b, ",\"ms\":%.3f}", ms < 0 ? 0 : ms);
	if (b.full) {
		/* Never truncate into invalid JSON: drop the URI instead. */
		b.n = 0;
		b.full = false;
		cmk_audit_fmt(&b, "{\"time\":\"%s.%03ldZ\"", stamp,
			      ts.tv_nsec / 1000000);
		cmk_audit_str(&b, "op", op);
		cmk_audit_str(&b, "kek", "(too long)");
		cmk_audit_str(&b, "result", cmk_vault_class_name(cls));
		cmk_audit_fmt(&b, ",\"ms\":%.3f}", ms < 0 ? 0 : ms);
	}
	if (use_syslog)
		syslog(LOG_AUTHPRIV | (cls ? LOG_WARNING : LOG_INFO),
		       "cmk-audit: %s", line);
	if (fd < 0)
		return 0;
	line[b.n++] = '\n';
	do {
		w = write(fd, line, b.n);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t)w == b.n ? 0 : -EIO;
}
