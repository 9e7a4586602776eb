// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: the cmktab parser.  Every line is checked and every problem
 * reported with its line number, so that one run of "cmkd --check" shows
 * them all; the good lines are kept in file order, the bad ones left out.
 * No message ever repeats a PIN: a URI with pin-value= is refused without
 * being quoted.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcmk.h"

/* At most this much of a field is quoted in a message. */
#define CMK_TAB_SHOW_MAX	64
#define CMK_TAB_MSG_MAX		512
/* cmk_tab_load() refuses a larger file. */
#define CMK_TAB_FILE_MAX	(64U << 20)
#define CMK_TAB_FIELDS_MAX	4

#define CMK_TAB_NAME_CHARS						\
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-"
#define CMK_TAB_SCHEME_CHARS						\
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-."

/* Parser state: every line that got as far as its fields, good or not. */
struct cmk_tab_ctx {
	const char *path;
	cmk_tab_report_fn report;
	void *arg;
	unsigned int line;
	unsigned int problems;		/* on the current line */
	struct cmk_tab_entry *all;
	bool *good;
	size_t n, cap, ngood;
	char shown[CMK_TAB_SHOW_MAX + 4];
};

static void cmk_tab_vreport(cmk_tab_report_fn report, void *arg,
			    const char *path, unsigned int line,
			    const char *fmt, va_list ap)
{
	char msg[CMK_TAB_MSG_MAX];

	if (!report)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	report(arg, path, line, msg);
}

static void __attribute__((format(printf, 4, 5)))
cmk_tab_report_file(cmk_tab_report_fn report, void *arg, const char *path,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cmk_tab_vreport(report, arg, path, 0, fmt, ap);
	va_end(ap);
}

/* One problem on the current line. */
static void __attribute__((format(printf, 2, 3)))
cmk_tab_bad(struct cmk_tab_ctx *c, const char *fmt, ...)
{
	va_list ap;

	c->problems++;
	va_start(ap, fmt);
	cmk_tab_vreport(c->report, c->arg, c->path, c->line, fmt, ap);
	va_end(ap);
}

/* @s as quoted in a message: cut after CMK_TAB_SHOW_MAX bytes. */
static const char *cmk_tab_show(struct cmk_tab_ctx *c, const char *s)
{
	if (strlen(s) <= CMK_TAB_SHOW_MAX)
		return s;
	snprintf(c->shown, sizeof(c->shown), "%.*s...", CMK_TAB_SHOW_MAX, s);
	return c->shown;
}

/* Units of a duration, largest first; no unit means seconds. */
static const struct {
	const char *unit;
	uint64_t ms;
} cmk_duration_units[] = {
	{ "d", CMK_MS_PER_D },
	{ "h", CMK_MS_PER_H },
	{ "m", CMK_MS_PER_M },
	{ "s", CMK_MS_PER_S },
	{ "ms", 1 },
	{ "", CMK_MS_PER_S },
};

#define CMK_DURATION_UNITS \
	(sizeof(cmk_duration_units) / sizeof(cmk_duration_units[0]))

/**
 * cmk_duration_parse() - parse a cmktab duration
 * @s: a non-negative decimal integer and an optional unit: "ms", "s"
 *	(the default), "m", "h" or "d"; no sign, blank or fraction
 * @ms: the duration in milliseconds
 *
 * Return: 0, -EINVAL for bad syntax, -ERANGE when the value does not fit
 * in 64 bits of milliseconds.
 */
int cmk_duration_parse(const char *s, uint64_t *ms)
{
	bool overflow = false;
	uint64_t v = 0;
	unsigned int d;
	size_t i;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		d = *s - '0';
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	for (i = 0; i < CMK_DURATION_UNITS; i++)
		if (!strcmp(s, cmk_duration_units[i].unit))
			break;
	if (i == CMK_DURATION_UNITS)
		return -EINVAL;
	if (overflow || v > UINT64_MAX / cmk_duration_units[i].ms)
		return -ERANGE;
	*ms = v * cmk_duration_units[i].ms;
	return 0;
}

/**
 * cmk_duration_format() - a duration in its shortest exact form
 * @ms: milliseconds
 * @buf: output, e.g. "15s", "1h", "1500ms", "0s"
 * @size: size of @buf (24 is always enough)
 *
 * The result reads back through cmk_duration_parse() as @ms.
 *
 * Return: 0 or -ENOSPC.
 */
int cmk_duration_format(uint64_t ms, char *buf, size_t size)
{
	const char *unit = "s";
	uint64_t div = CMK_MS_PER_S;
	size_t i;
	int n;

	for (i = 0; ms && i < CMK_DURATION_UNITS; i++) {
		if (!(ms % cmk_duration_units[i].ms)) {
			unit = cmk_duration_units[i].unit;
			div = cmk_duration_units[i].ms;
			break;
		}
	}
	n = snprintf(buf, size, "%" PRIu64 "%s", ms / div, unit);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

static void cmk_tab_entry_free(struct cmk_tab_entry *e)
{
	free(e->device);
	free(e->kek_uri);
	free(e->header);
	free(e->pin_file);
	free(e->module);
	free(e->vk_fingerprint);
	free(e->alert);
	free(e->audit_log);
}

/* Options: what each one sets in struct cmk_tab_entry. */
enum cmk_tab_opt_kind {
	CMK_TAB_OPT_DURATION,
	CMK_TAB_OPT_PATH,
	CMK_TAB_OPT_MODULE,
	CMK_TAB_OPT_FINGERPRINT,
	CMK_TAB_OPT_FLAG,
	CMK_TAB_OPT_ROTATE,
};

struct cmk_tab_opt {
	const char *name;
	enum cmk_tab_opt_kind kind;
	size_t off;
	uint64_t min, max;
};

#define CMK_TAB_DURATION(n, f, lo, hi)					\
	{ n, CMK_TAB_OPT_DURATION, offsetof(struct cmk_tab_entry, f), lo, hi }
#define CMK_TAB_PATH_OPT(n, f)						\
	{ n, CMK_TAB_OPT_PATH, offsetof(struct cmk_tab_entry, f), 0, 0 }
#define CMK_TAB_FLAG(n, f)						\
	{ n, CMK_TAB_OPT_FLAG, offsetof(struct cmk_tab_entry, f), 0, 0 }

static const struct cmk_tab_opt cmk_tab_opts[] = {
	CMK_TAB_DURATION("poll", poll_ms,
			 CMK_TAB_POLL_MIN_MS, CMK_TAB_POLL_MAX_MS),
	CMK_TAB_DURATION("lease", lease_ms,
			 CMK_TAB_LEASE_MIN_MS, CMK_TAB_LEASE_MAX_MS),
	CMK_TAB_DURATION("grace", grace_ms,
			 CMK_TAB_GRACE_MIN_MS, CMK_TAB_GRACE_MAX_MS),
	CMK_TAB_DURATION("retry-max", retry_max_ms,
			 CMK_TAB_RETRY_MAX_MIN_MS, CMK_TAB_RETRY_MAX_MAX_MS),
	CMK_TAB_PATH_OPT("header", header),
	CMK_TAB_PATH_OPT("pin-file", pin_file),
	{ "module", CMK_TAB_OPT_MODULE, offsetof(struct cmk_tab_entry, module),
	  0, 0 },
	{ "vk-fingerprint", CMK_TAB_OPT_FINGERPRINT,
	  offsetof(struct cmk_tab_entry, vk_fingerprint), 0, 0 },
	CMK_TAB_PATH_OPT("alert", alert),
	CMK_TAB_PATH_OPT("audit-log", audit_log),
	CMK_TAB_FLAG("read-only", read_only),
	CMK_TAB_FLAG("allow-discards", allow_discards),
	CMK_TAB_FLAG("auto-revalidate", auto_revalidate),
	CMK_TAB_FLAG("allow-rollback", allow_rollback),
	{ "rotate", CMK_TAB_OPT_ROTATE,
	  offsetof(struct cmk_tab_entry, rotate_auto), 0, 0 },
};

#define CMK_TAB_OPTS (sizeof(cmk_tab_opts) / sizeof(cmk_tab_opts[0]))

static void cmk_tab_duration_opt(struct cmk_tab_ctx *c,
				 const struct cmk_tab_opt *o,
				 struct cmk_tab_entry *e, const char *val)
{
	char lo[24], hi[24];
	uint64_t ms;
	int r;

	r = cmk_duration_parse(val, &ms);
	if (r == -EINVAL) {
		cmk_tab_bad(c, "bad option '%s=%s': not a duration (<number>[ms|s|m|h|d], e.g. 500ms, 10s, 2m)",
			    o->name, cmk_tab_show(c, val));
	} else if (r || ms < o->min || ms > o->max) {
		cmk_duration_format(o->min, lo, sizeof(lo));
		cmk_duration_format(o->max, hi, sizeof(hi));
		cmk_tab_bad(c, "bad option '%s=%s': %s must be between %s and %s",
			    o->name, cmk_tab_show(c, val), o->name, lo, hi);
	} else {
		*(uint64_t *)((char *)e + o->off) = ms;
	}
}

/* One "key" or "key=value" of the options field (@opt is modified). */
static int cmk_tab_option(struct cmk_tab_ctx *c, struct cmk_tab_entry *e,
			  char *opt, unsigned int *seen)
{
	char *val = strchr(opt, '=');
	const struct cmk_tab_opt *o;
	char path[PATH_MAX];
	const char *why;
	char **str;
	size_t i;

	if (!*opt) {
		cmk_tab_bad(c, "empty option (stray ',')");
		return 0;
	}
	if (val)
		*val++ = '\0';
	for (i = 0; i < CMK_TAB_OPTS; i++)
		if (!strcmp(opt, cmk_tab_opts[i].name))
			break;
	if (i == CMK_TAB_OPTS) {
		cmk_tab_bad(c, "unknown option '%s'", cmk_tab_show(c, opt));
		return 0;
	}
	o = &cmk_tab_opts[i];
	if (*seen & (1U << i)) {
		cmk_tab_bad(c, "duplicate option '%s'", o->name);
		return 0;
	}
	*seen |= 1U << i;

	if (o->kind == CMK_TAB_OPT_FLAG) {
		if (val)
			cmk_tab_bad(c, "option '%s' takes no value", o->name);
		else
			*(bool *)((char *)e + o->off) = true;
		return 0;
	}
	if (!val) {
		cmk_tab_bad(c, "option '%s' needs a value (%s=...)",
			    o->name, o->name);
		return 0;
	}
	if (o->kind == CMK_TAB_OPT_DURATION) {
		cmk_tab_duration_opt(c, o, e, val);
		return 0;
	}
	if (o->kind == CMK_TAB_OPT_ROTATE) {
		if (!strcmp(val, "auto") || !strcmp(val, "off"))
			e->rotate_auto = val[0] == 'a';
		else
			cmk_tab_bad(c, "bad option 'rotate=%s': auto or off",
				    cmk_tab_show(c, val));
		return 0;
	}
	if (o->kind == CMK_TAB_OPT_FINGERPRINT) {
		if (!cmk_vk_fingerprint_valid(val)) {
			cmk_tab_bad(c, "bad option '%s=%s': not a volume key fingerprint (cmkvk1: and 32 lowercase hex digits, as cmkctl format printed it)",
				    o->name, cmk_tab_show(c, val));
			return 0;
		}
	} else if (o->kind == CMK_TAB_OPT_MODULE) {
		/* A module not installed yet is the vault's error, at open. */
		if (cmk_vault_pkcs11_module(val, path, sizeof(path), &why) ==
		    -EINVAL) {
			cmk_tab_bad(c, "bad option '%s=%s': %s", o->name,
				    cmk_tab_show(c, val), why);
			return 0;
		}
	} else if (val[0] != '/') {
		cmk_tab_bad(c, "bad option '%s=%s': %s must be an absolute path",
			    o->name, cmk_tab_show(c, val), o->name);
		return 0;
	}
	str = (char **)((char *)e + o->off);
	*str = strdup(val);
	return *str ? 0 : -ENOMEM;
}

static int cmk_tab_options(struct cmk_tab_ctx *c, struct cmk_tab_entry *e,
			   char *field)
{
	unsigned int seen = 0;
	char *opt;
	int r;

	if (!strcmp(field, "-"))
		return 0;
	while ((opt = strsep(&field, ","))) {
		r = cmk_tab_option(c, e, opt, &seen);
		if (r)
			return r;
	}
	return 0;
}

/* What two lines may not share. */
enum cmk_tab_key {
	CMK_TAB_KEY_NAME,
	CMK_TAB_KEY_PATH,
	CMK_TAB_KEY_UUID,
};

/* The earlier line that has @s as its @key, if any. */
static const struct cmk_tab_entry *cmk_tab_seen(const struct cmk_tab_ctx *c,
						enum cmk_tab_key key,
						const char *s)
{
	const struct cmk_tab_entry *e;
	const char *v;
	size_t i;

	/* The last entry is the current line's. */
	for (i = 0; i + 1 < c->n; i++) {
		e = &c->all[i];
		v = key == CMK_TAB_KEY_NAME ? e->name :
		    key == CMK_TAB_KEY_UUID ? e->uuid : e->device;
		if (v && !strcmp(v, s))
			return e;
	}
	return NULL;
}

static void cmk_tab_name(struct cmk_tab_ctx *c, struct cmk_tab_entry *e,
			 const char *s)
{
	const struct cmk_tab_entry *first;
	size_t n = strlen(s);
	const char *why = NULL;

	if (n >= CMK_TAB_NAME_MAX)
		why = "longer than 127 characters";
	else if (!strcmp(s, ".") || !strcmp(s, ".."))
		why = "'.' and '..' are not allowed";
	else if (strspn(s, CMK_TAB_NAME_CHARS) != n)
		why = "only A-Z a-z 0-9 . _ + - are allowed";
	if (why) {
		cmk_tab_bad(c, "bad name '%s': %s", cmk_tab_show(c, s), why);
		return;
	}
	first = cmk_tab_seen(c, CMK_TAB_KEY_NAME, s);
	if (first)
		cmk_tab_bad(c, "duplicate name '%s' (first on line %u)",
			    s, first->line);
	else
		strcpy(e->name, s);
}

/* "8-4-4-4-12" hex digits, either case, into lowercase @out. */
static bool cmk_tab_uuid_parse(const char *s, char out[CMK_TAB_UUID_LEN])
{
	size_t i;

	if (strlen(s) != CMK_TAB_UUID_LEN - 1)
		return false;
	for (i = 0; i < CMK_TAB_UUID_LEN - 1; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
		out[i] = tolower((unsigned char)s[i]);
	}
	out[i] = '\0';
	return true;
}

static int cmk_tab_device(struct cmk_tab_ctx *c, struct cmk_tab_entry *e,
			  const char *s)
{
	bool by_uuid = !strncmp(s, "UUID=", 5);
	const struct cmk_tab_entry *first;
	char uuid[CMK_TAB_UUID_LEN];

	if (by_uuid && !cmk_tab_uuid_parse(s + 5, uuid)) {
		cmk_tab_bad(c, "bad device '%s': UUID= needs 8-4-4-4-12 hex digits",
			    cmk_tab_show(c, s));
		return 0;
	}
	if (!by_uuid && s[0] != '/') {
		cmk_tab_bad(c, "bad device '%s': not an absolute path or UUID=<uuid>",
			    cmk_tab_show(c, s));
		return 0;
	}
	first = by_uuid ? cmk_tab_seen(c, CMK_TAB_KEY_UUID, uuid) :
			  cmk_tab_seen(c, CMK_TAB_KEY_PATH, s);
	if (first) {
		cmk_tab_bad(c, "duplicate device '%s%s' (first on line %u)",
			    by_uuid ? "UUID=" : "",
			    cmk_tab_show(c, by_uuid ? uuid : s), first->line);
		return 0;
	}
	if (by_uuid) {
		strcpy(e->uuid, uuid);
		return 0;
	}
	e->device = strdup(s);
	return e->device ? 0 : -ENOMEM;
}

static int cmk_tab_kek(struct cmk_tab_ctx *c, struct cmk_tab_entry *e,
		       const char *s)
{
	const char *why;

	if (!strcmp(s, "-"))
		return 0;
	/* Not quoted: the URI holds a PIN. */
	if (strcasestr(s, "pin-value=")) {
		cmk_tab_bad(c, "KEK URI holds a PIN (pin-value=), and cmktab is no place for one: use pin-source= or the pin-file= option");
		return 0;
	}
	if (strlen(s) > CMK_TAB_URI_MAX) {
		cmk_tab_bad(c, "bad KEK URI '%s': longer than %d bytes",
			    cmk_tab_show(c, s), CMK_TAB_URI_MAX);
		return 0;
	}
	if (!isalpha((unsigned char)s[0]) ||
	    s[strspn(s, CMK_TAB_SCHEME_CHARS)] != ':') {
		cmk_tab_bad(c, "bad KEK URI '%s': no scheme (<scheme>:..., e.g. pkcs11:...)",
			    cmk_tab_show(c, s));
		return 0;
	}
	if (cmk_vault_check_uri(s, &why)) {
		cmk_tab_bad(c, "bad KEK URI '%s': %s", cmk_tab_show(c, s), why);
		return 0;
	}
	e->kek_uri = strdup(s);
	return e->kek_uri ? 0 : -ENOMEM;
}

/* Room for one more line in c->all. */
static struct cmk_tab_entry *cmk_tab_new(struct cmk_tab_ctx *c)
{
	struct cmk_tab_entry *all, *e;
	size_t cap;
	bool *good;

	if (c->n == c->cap) {
		cap = c->cap ? 2 * c->cap : 16;
		all = realloc(c->all, cap * sizeof(*all));
		if (!all)
			return NULL;
		c->all = all;
		good = realloc(c->good, cap * sizeof(*good));
		if (!good)
			return NULL;
		c->good = good;
		c->cap = cap;
	}
	e = &c->all[c->n];
	c->good[c->n] = false;
	c->n++;
	memset(e, 0, sizeof(*e));
	e->poll_ms = CMK_TAB_POLL_DEFAULT_MS;
	e->lease_ms = CMK_TAB_LEASE_DEFAULT_MS;
	e->grace_ms = CMK_TAB_GRACE_DEFAULT_MS;
	e->retry_max_ms = CMK_TAB_RETRY_MAX_DEFAULT_MS;
	e->line = c->line;
	return e;
}

/* Cut @buf at a comment; check what is left for control characters. */
static bool cmk_tab_clean(struct cmk_tab_ctx *c, char *buf)
{
	char *p;

	for (p = buf; *p; p++) {
		if (*p == '#' && (p == buf || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
	for (p = buf; *p; p++) {
		if (*p == '\r') {
			cmk_tab_bad(c, "carriage return in line (DOS line endings?)");
			return false;
		}
		if ((*p != '\t' && (unsigned char)*p < 0x20) || *p == 0x7f) {
			cmk_tab_bad(c, "control character 0x%02x in line",
				    (unsigned char)*p);
			return false;
		}
	}
	return true;
}

/* Check one line (without its newline); keep it if it is good. */
static int cmk_tab_line(struct cmk_tab_ctx *c, const char *text, size_t len)
{
	char buf[CMK_TAB_LINE_MAX + 1], *f[CMK_TAB_FIELDS_MAX], *save, *tok;
	struct cmk_tab_entry *e;
	unsigned int nf = 0;
	int r;

	c->problems = 0;
	if (memchr(text, '\0', len)) {
		cmk_tab_bad(c, "NUL byte in line");
		return 0;
	}
	if (len > CMK_TAB_LINE_MAX) {
		cmk_tab_bad(c, "line longer than %d bytes", CMK_TAB_LINE_MAX);
		return 0;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (!cmk_tab_clean(c, buf))
		return 0;

	for (tok = strtok_r(buf, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (nf < CMK_TAB_FIELDS_MAX)
			f[nf] = tok;
		nf++;
	}
	if (!nf)
		return 0;
	if (nf > CMK_TAB_FIELDS_MAX) {
		cmk_tab_bad(c, "too many fields (%u; at most 4: <name> <device> [<kek> [<options>]])",
			    nf);
		return 0;
	}

	e = cmk_tab_new(c);
	if (!e)
		return -ENOMEM;
	cmk_tab_name(c, e, f[0]);
	if (nf < 2) {
		cmk_tab_bad(c, "missing device (<name> <device> [<kek> [<options>]])");
		return 0;
	}
	r = cmk_tab_device(c, e, f[1]);
	if (!r && nf > 2)
		r = cmk_tab_kek(c, e, f[2]);
	if (!r && nf > 3)
		r = cmk_tab_options(c, e, f[3]);
	if (r)
		return r;

	if (c->problems)
		return 0;
	if (c->ngood == CMK_TAB_ENTRIES_MAX) {
		cmk_tab_bad(c, "too many volumes (at most %d)",
			    CMK_TAB_ENTRIES_MAX);
		return 0;
	}
	c->good[c->n - 1] = true;
	c->ngood++;
	return 0;
}

/* Hand the good lines over to @tab; drop the others. */
static void cmk_tab_collect(struct cmk_tab_ctx *c, struct cmk_tab *tab)
{
	struct cmk_tab_entry *shrunk;
	size_t i, j = 0;

	for (i = 0; i < c->n; i++) {
		if (c->good[i])
			c->all[j++] = c->all[i];
		else
			cmk_tab_entry_free(&c->all[i]);
	}
	free(c->good);
	if (!j) {
		free(c->all);
		return;
	}
	shrunk = realloc(c->all, j * sizeof(*shrunk));
	tab->entries = shrunk ? shrunk : c->all;
	tab->count = j;
}

/**
 * cmk_tab_parse() - parse the text of a cmktab
 * @text: the file's contents (need not end in a newline nor hold a NUL)
 * @len: length of @text
 * @path: named in reports; %NULL: "<string>"
 * @tab: set to the good lines, in file order; free with cmk_tab_free()
 *	(also after a failure: @tab is always left valid)
 * @report: called once per problem; may be %NULL
 * @arg: passed to @report
 *
 * Every line is checked, and every problem on it reported; a line with a
 * problem is left out of @tab.  A name, device path or UUID is a duplicate
 * when an earlier line named it, even if that line was bad for another
 * reason.
 *
 * Return: the number of bad lines (0: all good), or -ENOMEM (@tab empty).
 */
int cmk_tab_parse(const char *text, size_t len, const char *path,
		  struct cmk_tab *tab, cmk_tab_report_fn report, void *arg)
{
	struct cmk_tab_ctx c = {
		.path = path ? path : "<string>",
		.report = report,
		.arg = arg,
	};
	const char *p = text, *end = text + len, *nl;
	int bad = 0, r;
	size_t i;

	memset(tab, 0, sizeof(*tab));
	if (!text)
		return len ? -EINVAL : 0;
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		c.line++;
		r = cmk_tab_line(&c, p, nl - p);
		if (r)
			goto fail;
		if (c.problems && bad < INT_MAX)
			bad++;
		p = nl + (nl < end);
	}
	cmk_tab_collect(&c, tab);
	return bad;

fail:
	for (i = 0; i < c.n; i++)
		cmk_tab_entry_free(&c.all[i]);
	free(c.all);
	free(c.good);
	return r;
}

/* All of @fd, at most CMK_TAB_FILE_MAX + 1 bytes. */
static int cmk_tab_read(int fd, size_t hint, char **bufp, size_t *lenp)
{
	const size_t max = CMK_TAB_FILE_MAX + 1;
	size_t len = 0, cap = hint < 4096 ? 4096 : hint + 1;
	char *buf, *nbuf;
	ssize_t n;

	if (cap > max)
		cap = max;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	while (len < max) {
		if (len == cap) {
			cap = cap > max / 2 ? max : 2 * cap;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				free(buf);
				return -ENOMEM;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return n;
		}
		if (!n)
			break;
		len += n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

/**
 * cmk_tab_load() - read and parse a cmktab file
 * @path: the file, usually CMK_TAB_PATH
 * @tab: as for cmk_tab_parse()
 * @report: as for cmk_tab_parse(); problems of the file as a whole are
 *	reported on line 0
 * @arg: passed to @report
 *
 * The file must be a regular file (a symlink to one is followed) owned by
 * the effective user (root, for cmkd) and writable by nobody else, and at
 * most 64 MiB; otherwise it is refused as one problem, and nothing of it is
 * parsed.
 *
 * Return: the number of bad lines (1 for a refused file), or a negative
 * errno from open() or read(), or -ENOMEM.
 */
int cmk_tab_load(const char *path, struct cmk_tab *tab,
		 cmk_tab_report_fn report, void *arg)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	memset(tab, 0, sizeof(*tab));
	fd = cmk_file_open(path, O_RDONLY, CMK_FILE_REG, &st);
	if (fd == -ENOTBLK) {
		cmk_tab_report_file(report, arg, path, "not a regular file");
		return 1;
	}
	if (fd < 0)
		return fd;
	r = cmk_file_trusted(&st);
	if (r == -EPERM)
		cmk_tab_report_file(report, arg, path,
				    "owned by uid %u, not %u: refusing it",
				    (unsigned int)st.st_uid,
				    (unsigned int)geteuid());
	else if (r == -EACCES)
		cmk_tab_report_file(report, arg, path,
				    "group- or world-writable (mode %04o): refusing it (chmod go-w)",
				    (unsigned int)(st.st_mode & 07777));
	if (r) {
		r = 1;
		goto out;
	}
	r = cmk_tab_read(fd, st.st_size, &buf, &len);
	if (r)
		goto out;
	if (len > CMK_TAB_FILE_MAX) {
		cmk_tab_report_file(report, arg, path,
				    "larger than %u MiB", CMK_TAB_FILE_MAX >> 20);
		r = 1;
		goto out;
	}
	r = cmk_tab_parse(buf, len, path, tab, report, arg);
out:
	free(buf);
	close(fd);
	return r;
}

/**
 * cmk_tab_find() - the entry of a mapping name
 * @tab: a parsed cmktab
 * @name: dm name
 *
 * Return: the entry, or %NULL.
 */
const struct cmk_tab_entry *cmk_tab_find(const struct cmk_tab *tab,
					 const char *name)
{
	size_t i;

	for (i = 0; i < tab->count; i++)
		if (!strcmp(tab->entries[i].name, name))
			return &tab->entries[i];
	return NULL;
}

/**
 * cmk_tab_free() - free what cmk_tab_parse() or cmk_tab_load() returned
 * @tab: emptied (count 0, entries %NULL); may be empty already
 */
void cmk_tab_free(struct cmk_tab *tab)
{
	size_t i;

	for (i = 0; i < tab->count; i++)
		cmk_tab_entry_free(&tab->entries[i]);
	free(tab->entries);
	tab->entries = NULL;
	tab->count = 0;
}
