// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk vaults: the backend registry, error classes, the audited call
 * wrappers, the KEK requirements and the PIN sources.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "cmk-file.h"
#include "cmk-hdr.h"
#include "cmk-text.h"
#include "cmk-vault.h"

static const struct cmk_vault_ops *const cmk_vault_backends[] = {
	&cmk_vault_pkcs11_ops,
};

static const struct {
	const char *name;
	int err;
} cmk_vault_classes[CMK_VAULT_CLASS_COUNT] = {
	[CMK_VAULT_OK]			= { "ok", 0 },
	[CMK_VAULT_TRANSIENT]		= { "transient", EAGAIN },
	[CMK_VAULT_NOT_FOUND]		= { "not-found", ENOENT },
	[CMK_VAULT_DISABLED]		= { "disabled", EKEYREVOKED },
	[CMK_VAULT_EXPIRED]		= { "expired", EKEYEXPIRED },
	[CMK_VAULT_NOT_YET_VALID]	= { "not-yet-valid", ENOKEY },
	[CMK_VAULT_PERMISSION_DENIED]	= { "permission-denied", EACCES },
	[CMK_VAULT_INVALID_KEY]		= { "invalid-key", EKEYREJECTED },
	[CMK_VAULT_CONFIG]		= { "config", EINVAL },
};

/**
 * cmk_vault_class_name() - the stable name of a class
 * @cls: the class
 *
 * Return: "ok", "transient", "not-found", "disabled", "expired",
 * "not-yet-valid", "permission-denied", "invalid-key", "config", or
 * "unknown".
 */
const char *cmk_vault_class_name(enum cmk_vault_class cls)
{
	if ((unsigned int)cls >= CMK_VAULT_CLASS_COUNT)
		return "unknown";
	return cmk_vault_classes[cls].name;
}

/**
 * cmk_vault_class_errno() - the negative errno a class is returned as
 * @cls: the class
 *
 * Return: 0 for CMK_VAULT_OK, else a negative errno unique to the class.
 */
int cmk_vault_class_errno(enum cmk_vault_class cls)
{
	if ((unsigned int)cls >= CMK_VAULT_CLASS_COUNT)
		return -EIO;
	return -cmk_vault_classes[cls].err;
}

/**
 * cmk_vault_alg_name() - the name of a wrap algorithm
 * @alg: the algorithm
 *
 * Return: "auto", "rsa-oaep-sha1", "rsa-oaep-sha256" or "unknown".
 */
const char *cmk_vault_alg_name(enum cmk_vault_alg alg)
{
	switch (alg) {
	case CMK_VAULT_ALG_AUTO:
		return "auto";
	case CMK_VAULT_ALG_RSA_OAEP_SHA1:
		return "rsa-oaep-sha1";
	case CMK_VAULT_ALG_RSA_OAEP_SHA256:
		return "rsa-oaep-sha256";
	}
	return "unknown";
}

/**
 * cmk_vault_set_error() - fill an error and return its errno
 * @err: the error, may be NULL
 * @cls: its class
 * @code: the backend's code, 0 if none
 * @fmt: printf format of the message (no secrets)
 *
 * Return: cmk_vault_class_errno(@cls).
 */
int cmk_vault_set_error(struct cmk_vault_error *err,
			enum cmk_vault_class cls, unsigned long code,
			const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->cls = cls;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return cmk_vault_class_errno(cls);
}

/**
 * cmk_vault_check_uri() - check a KEK URI with its backend's own parser
 * @uri: key URI
 * @why: what is wrong, on failure
 *
 * Nothing is loaded or contacted: the scheme must be one a backend serves
 * and the rest what that backend accepts (cmkd --check, cmktab).
 *
 * Return: 0, -ENOENT (no backend for the scheme) or -EINVAL.
 */
int cmk_vault_check_uri(const char *uri, const char **why)
{
	const struct cmk_vault_ops *ops = cmk_vault_backend(uri);

	if (!ops) {
		*why = "no vault backend for this URI scheme (known: pkcs11:)";
		return -ENOENT;
	}
	*why = NULL;
	return ops->check_uri ? ops->check_uri(uri, why) : 0;
}

/**
 * cmk_vault_backend() - the backend serving a URI
 * @uri: key URI
 *
 * Return: the backend, or NULL if no backend knows the scheme.
 */
const struct cmk_vault_ops *cmk_vault_backend(const char *uri)
{
	size_t i;

	for (i = 0; i < sizeof(cmk_vault_backends) / sizeof(cmk_vault_backends[0]); i++)
		if (!strncmp(uri, cmk_vault_backends[i]->scheme,
			     strlen(cmk_vault_backends[i]->scheme)))
			return cmk_vault_backends[i];
	return NULL;
}

/**
 * cmk_vault_uri_redact() - a URI without its secrets, safe to log
 * @uri: the URI
 * @buf: output
 * @size: bytes in @buf
 *
 * Drops every pin-value query attribute (RFC 7512), whatever its case.
 *
 * Return: 0, or -ENOSPC if @buf is too small.
 */
int cmk_vault_uri_redact(const char *uri, char *buf, size_t size)
{
	const char *q = strchr(uri, '?');
	const char *p, *end;
	size_t n = q ? (size_t)(q - uri) : strlen(uri);
	char sep = '?';

	if (n >= size)
		return -ENOSPC;
	memcpy(buf, uri, n);
	buf[n] = 0;
	if (!q)
		return 0;
	for (p = q + 1; *p; p = *end ? end + 1 : end) {
		end = strchr(p, '&');
		if (!end)
			end = p + strlen(p);
		if (!strncasecmp(p, "pin-value", 9) &&
		    (p[9] == '=' || p + 9 == end))
			continue;
		if (p == end)
			continue;
		if (n + 1 + (size_t)(end - p) >= size)
			return -ENOSPC;
		buf[n++] = sep;
		memcpy(buf + n, p, end - p);
		n += end - p;
		buf[n] = 0;
		sep = '&';
	}
	return 0;
}

/**
 * cmk_vault_uri_key() - the part of a URI that names the key
 * @uri: the URI
 * @buf: output
 * @size: bytes in @buf
 *
 * The URI without its query component: what a header records.  Local
 * settings (module, PIN source, endpoint...) stay on the host that gave
 * them, and a header carries nothing that chooses code, files, hosts or
 * credentials.
 *
 * Return: 0, or -ENOSPC if @buf is too small.
 */
int cmk_vault_uri_key(const char *uri, char *buf, size_t size)
{
	size_t n = strcspn(uri, "?");

	if (n >= size)
		return -ENOSPC;
	memcpy(buf, uri, n);
	buf[n] = '\0';
	return 0;
}

/*
 * A URI read from a device: anything but the key's name is refused.  The
 * names of the attributes it tried to set (escaped: they come from the
 * disk) go into @err, never their values.
 */
static int cmk_vault_device_uri(const char *uri, struct cmk_vault_error *err)
{
	const char *q = strchr(uri, '?'), *p, *end;
	char names[160] = "", name[48], esc[64];
	size_t n = 0;

	if (!q)
		return 0;
	for (p = q + 1; *p && n + 1 < sizeof(names); p = *end ? end + 1 : end) {
		end = p + strcspn(p, "&");
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(p, "=&"), p);
		cmk_text_escape(name, esc, sizeof(esc));
		n += snprintf(names + n, sizeof(names) - n, "%s%s=",
			      n ? ", " : "", esc);
	}
	return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
				   "the KEK URI recorded on the device sets %s: a device may only name its key, never a module, file, host or credential; give these locally (--kek, --module, --pin-file; cmktab: the KEK field, module=, pin-file=)",
				   names);
}

/**
 * cmk_vault_now_ms() - monotonic milliseconds, for the audit records' "ms"
 *
 * Return: the time.
 */
double cmk_vault_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A vault reached over a socket (p11-kit client) may write to a peer that
 * died: SIGPIPE must become an error, not kill the caller.  Block it in
 * this thread around backend calls and drop one that the call raised.
 */
struct cmk_sigpipe {
	sigset_t old;
	bool pending;
};

static void cmk_sigpipe_block(struct cmk_sigpipe *s)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pend);
	s->pending = sigismember(&pend, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &s->old);
}

static void cmk_sigpipe_restore(struct cmk_sigpipe *s)
{
	struct timespec zero = { 0, 0 };
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pend);
	if (!s->pending && sigismember(&pend, SIGPIPE))
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

static void cmk_vault_audit(struct cmk_vault *v, const char *op,
			    const struct cmk_vault_ctx *ctx,
			    const char *version, int ret,
			    const struct cmk_vault_error *err, double start)
{
	enum cmk_vault_class cls = ret ? err->cls : CMK_VAULT_OK;

	if (ret && cls == CMK_VAULT_OK)
		cls = CMK_VAULT_TRANSIENT;
	cmk_audit_record(v->audit_fd, v->audit_syslog, op, ctx, v->uri,
			 version, cls, cmk_vault_now_ms() - start);
}

/**
 * cmk_vault_audit_step() - audit a step a backend takes inside a call
 * @v: the vault
 * @op: the step ("unwrap-attempt", "probe")
 * @version: key version, or NULL
 * @cls: its outcome
 * @start: cmk_vault_now_ms() when the step began
 *
 * For a call that retries or confirms a failure before it answers: each
 * try gets a record of its own before the call's.
 */
void cmk_vault_audit_step(struct cmk_vault *v, const char *op,
			  const char *version, enum cmk_vault_class cls,
			  double start)
{
	cmk_audit_record(v->audit_fd, v->audit_syslog, op, v->ctx, v->uri,
			 version, cls, cmk_vault_now_ms() - start);
}

static void cmk_vault_free(struct cmk_vault *v)
{
	if (v->audit_fd >= 0)
		close(v->audit_fd);
	free(v->uri);
	free(v);
}

/**
 * cmk_vault_open() - open the vault holding a key
 * @uri: key URI ("pkcs11:...")
 * @opt: options, NULL for defaults
 * @ctx: audit context, may be NULL
 * @vp: the handle, on success
 * @err: why it failed
 *
 * Audited as operation "open".
 *
 * Return: 0 or a negative errno; @err is filled on failure.
 */
int cmk_vault_open(const char *uri, const struct cmk_vault_options *opt,
		   const struct cmk_vault_ctx *ctx, struct cmk_vault **vp,
		   struct cmk_vault_error *err)
{
	static const struct cmk_vault_options defaults;
	const struct cmk_vault_ops *ops;
	struct cmk_vault *v;
	double start = cmk_vault_now_ms();
	struct cmk_sigpipe sp;
	size_t n;
	int ret;

	*vp = NULL;
	if (!opt)
		opt = &defaults;
	memset(err, 0, sizeof(*err));
	v = calloc(1, sizeof(*v));
	n = strlen(uri) + 1;
	if (!v || !(v->uri = malloc(n))) {
		free(v);
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "out of memory");
	}
	v->audit_fd = -1;
	v->audit_syslog = opt->audit_syslog;
	v->alg = opt->alg;
	cmk_vault_uri_redact(uri, v->uri, n);
	if (opt->audit_path) {
		v->audit_fd = cmk_audit_open(opt->audit_path);
		if (v->audit_fd < 0) {
			ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
						  "opening audit log %s: %s",
						  opt->audit_path,
						  strerror(-v->audit_fd));
			goto out;
		}
	}
	ops = cmk_vault_backend(uri);
	if (!ops) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "no vault backend for this URI scheme");
		goto out_audit;
	}
	if (opt->device_uri) {
		ret = cmk_vault_device_uri(uri, err);
		if (ret)
			goto out_audit;
	}
	v->ops = ops;
	cmk_sigpipe_block(&sp);
	ret = ops->open(v, uri, opt, err);
	cmk_sigpipe_restore(&sp);
	if (ret)
		goto out_audit;
	cmk_vault_audit(v, "open", ctx, NULL, 0, err, start);
	*vp = v;
	return 0;

out_audit:
	cmk_vault_audit(v, "open", ctx, NULL, ret, err, start);
out:
	cmk_vault_free(v);
	return ret;
}

/**
 * cmk_vault_close() - close a vault handle and wipe its secrets
 * @v: the handle, may be NULL
 */
void cmk_vault_close(struct cmk_vault *v)
{
	struct cmk_sigpipe sp;

	if (!v)
		return;
	cmk_sigpipe_block(&sp);
	v->ops->close(v);
	cmk_sigpipe_restore(&sp);
	cmk_vault_free(v);
}

/**
 * cmk_vault_describe() - what the vault says about the key
 * @v: the vault
 * @ctx: audit context, may be NULL
 * @version: key version, NULL for the URI's key
 * @info: filled in
 * @err: why it failed
 *
 * Return: 0 or a negative errno.
 */
int cmk_vault_describe(struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		       const char *version, struct cmk_vault_key_info *info,
		       struct cmk_vault_error *err)
{
	double start = cmk_vault_now_ms();
	struct cmk_sigpipe sp;
	int ret;

	memset(err, 0, sizeof(*err));
	memset(info, 0, sizeof(*info));
	cmk_sigpipe_block(&sp);
	ret = v->ops->describe(v, version, info, err);
	cmk_sigpipe_restore(&sp);
	cmk_vault_audit(v, "describe", ctx, info->version[0] ? info->version :
			version, ret, err, start);
	return ret;
}

/**
 * cmk_vault_wrap() - wrap a volume key with the KEK
 * @v: the vault
 * @ctx: audit context, may be NULL
 * @version: key version, NULL for the URI's key
 * @alg: in: wanted algorithm (AUTO: the handle's choice); out: used
 * @in: the key to wrap
 * @in_len: its length
 * @out: wrapped key, CMK_VAULT_WRAPPED_MAX bytes
 * @out_len: its length
 * @err: why it failed
 *
 * Return: 0 or a negative errno.
 */
int cmk_vault_wrap(struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		   const char *version, enum cmk_vault_alg *alg,
		   const uint8_t *in, size_t in_len, uint8_t *out,
		   size_t *out_len, struct cmk_vault_error *err)
{
	double start = cmk_vault_now_ms();
	struct cmk_sigpipe sp;
	int ret;

	memset(err, 0, sizeof(*err));
	if (*alg == CMK_VAULT_ALG_AUTO)
		*alg = v->alg;
	cmk_sigpipe_block(&sp);
	ret = v->ops->wrap(v, version, alg, in, in_len, out, out_len, err);
	cmk_sigpipe_restore(&sp);
	cmk_vault_audit(v, "wrap", ctx, version, ret, err, start);
	return ret;
}

/**
 * cmk_vault_unwrap() - unwrap a volume key inside the vault
 * @v: the vault
 * @ctx: audit context, may be NULL
 * @version: key version, NULL for the URI's key
 * @alg: in: the algorithm it was wrapped with (AUTO: try); out: used
 * @in: wrapped key
 * @in_len: its length
 * @out: the key, in the caller's locked memory
 * @out_size: bytes in @out
 * @out_len: length of the key
 * @err: why it failed
 *
 * Return: 0 or a negative errno; @out is wiped on failure.
 */
int cmk_vault_unwrap(struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		     const char *version, enum cmk_vault_alg *alg,
		     const uint8_t *in, size_t in_len, uint8_t *out,
		     size_t out_size, size_t *out_len,
		     struct cmk_vault_error *err)
{
	double start = cmk_vault_now_ms();
	struct cmk_sigpipe sp;
	int ret;

	memset(err, 0, sizeof(*err));
	*out_len = 0;
	if (*alg == CMK_VAULT_ALG_AUTO)
		*alg = v->alg;
	cmk_sigpipe_block(&sp);
	v->ctx = ctx;
	ret = v->ops->unwrap(v, version, alg, in, in_len, out, out_size,
			     out_len, err);
	v->ctx = NULL;
	/* The module's frames held the plaintext: only @out may keep it. */
	cmk_secure_scrub_stack();
	cmk_sigpipe_restore(&sp);
	if (ret) {
		explicit_bzero(out, out_size);
		*out_len = 0;
	}
	cmk_vault_audit(v, "unwrap", ctx, version, ret, err, start);
	return ret;
}

/**
 * cmk_vault_list_versions() - the versions of the key
 * @v: the vault
 * @ctx: audit context, may be NULL
 * @vers: output array
 * @max: entries in @vers
 * @count: versions found (may exceed @max)
 * @err: why it failed
 *
 * Return: 0 or a negative errno.
 */
int cmk_vault_list_versions(struct cmk_vault *v,
			    const struct cmk_vault_ctx *ctx,
			    struct cmk_vault_version *vers, size_t max,
			    size_t *count, struct cmk_vault_error *err)
{
	double start = cmk_vault_now_ms();
	struct cmk_sigpipe sp;
	int ret;

	memset(err, 0, sizeof(*err));
	*count = 0;
	cmk_sigpipe_block(&sp);
	ret = v->ops->list_versions(v, vers, max, count, err);
	cmk_sigpipe_restore(&sp);
	cmk_vault_audit(v, "list-versions", ctx, NULL, ret, err, start);
	return ret;
}

/**
 * cmk_vault_uri_has_settings() - whether a URI names local settings
 * @uri: a KEK URI
 *
 * Return: true if its query sets a module (module-path=, module-name=) or
 * a PIN source (pin-source=): it names a vault of its own, reached with
 * those settings rather than another vault's.
 */
bool cmk_vault_uri_has_settings(const char *uri)
{
	const char *q = strchr(uri, '?');

	return q && (strstr(q, "module-") || strstr(q, "pin-source="));
}

/**
 * cmk_vault_uri_unversioned() - a key URI that names the key, not a version
 * @uri: a key URI as a header records it (no query)
 * @buf: output
 * @size: bytes in @buf
 *
 * For PKCS#11 the id= path attribute is dropped when the URI has a label
 * (object=): the versions of a key are the objects with its label, and the
 * header's key_version names the one in use.  Other URIs are copied as
 * they are.
 *
 * Return: 0, or -ENOSPC if @buf is too small.
 */
int cmk_vault_uri_unversioned(const char *uri, char *buf, size_t size)
{
	const char *p, *end;
	size_t n = 0, len;

	/* Without a label (object=), the id is all that names the key. */
	if (strncmp(uri, "pkcs11:", 7) || strchr(uri, '?') ||
	    (strncmp(uri + 7, "object=", 7) && !strstr(uri, ";object=")))
		return snprintf(buf, size, "%s", uri) < (int)size ? 0 : -ENOSPC;
	if (size < 8)
		return -ENOSPC;
	memcpy(buf, "pkcs11:", 7);
	n = 7;
	for (p = uri + 7; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		len = end - p;
		if (!len || (len >= 3 && !strncmp(p, "id=", 3)))
			continue;
		if (n + (n > 7) + len + 1 > size)
			return -ENOSPC;
		if (n > 7)
			buf[n++] = ';';
		memcpy(buf + n, p, len);
		n += len;
	}
	buf[n] = '\0';
	return 0;
}

/**
 * cmk_vault_version_cmp() - which of two key versions is the newer
 * @a_start: activation time of @a (0: none)
 * @a: a version id
 * @b_start: activation time of @b
 * @b: another version id
 *
 * The later activation date is newer; on equal dates (or none) the
 * version ids are compared as numbers (longer is larger, then byte
 * order), so that PKCS#11 ids 01, 02, ..., 0a, 10 count up.  What counts
 * as a new version for each backend is in cmk-rotation.rst.
 *
 * Return: < 0 if @a is older, 0 if the same, > 0 if newer.
 */
int cmk_vault_version_cmp(time_t a_start, const char *a, time_t b_start,
			  const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (a_start != b_start)
		return a_start < b_start ? -1 : 1;
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/**
 * cmk_vault_newest_version() - the newest usable version of a key
 * @v: the vault, opened on the key's URI
 * @ctx: audit context
 * @current: the version in use (may be NULL or "")
 * @out: the newest version, if newer than @current
 * @size: bytes in @out
 * @err: why it failed
 *
 * One list-versions call.  A candidate is enabled, already active, and
 * newer than @current (cmk_vault_version_cmp(); @current's own date is
 * taken from the list).  The full KEK checks are left to the rotation.
 *
 * Return: 0 with @out set, -ENOENT when no version is newer than
 * @current (@err->cls CMK_VAULT_OK), or a negative errno.
 */
int cmk_vault_newest_version(struct cmk_vault *v,
			     const struct cmk_vault_ctx *ctx,
			     const char *current, char *out, size_t size,
			     struct cmk_vault_error *err)
{
	struct cmk_vault_version *vers;
	time_t cur_start = 0, now = time(NULL);
	size_t n = 0, i, best = SIZE_MAX;
	int ret;

	vers = calloc(CMK_VAULT_VERSIONS_MAX, sizeof(*vers));
	if (!vers)
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "out of memory");
	ret = cmk_vault_list_versions(v, ctx, vers, CMK_VAULT_VERSIONS_MAX,
				      &n, err);
	if (ret)
		goto out;
	if (n > CMK_VAULT_VERSIONS_MAX)
		n = CMK_VAULT_VERSIONS_MAX;
	if (!current)
		current = "";
	for (i = 0; i < n; i++)
		if (!strcmp(vers[i].version, current))
			cur_start = vers[i].start;
	for (i = 0; i < n; i++) {
		if (!vers[i].enabled || vers[i].start > now ||
		    cmk_vault_version_cmp(vers[i].start, vers[i].version,
					  cur_start, current) <= 0)
			continue;
		if (best == SIZE_MAX ||
		    cmk_vault_version_cmp(vers[i].start, vers[i].version,
					  vers[best].start,
					  vers[best].version) > 0)
			best = i;
	}
	if (best == SIZE_MAX) {
		memset(err, 0, sizeof(*err));
		snprintf(err->msg, sizeof(err->msg),
			 "no enabled version newer than %s", *current ?
			 current : "the current one");
		ret = -ENOENT;
		goto out;
	}
	if (strlen(vers[best].version) >= size) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "key version too long");
		goto out;
	}
	strcpy(out, vers[best].version);
out:
	free(vers);
	return ret;
}

static void cmk_kek_set(struct cmk_kek_check *c, const char *name,
			enum cmk_kek_result r, enum cmk_vault_class cls,
			const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void cmk_kek_set(struct cmk_kek_check *c, const char *name,
			enum cmk_kek_result r, enum cmk_vault_class cls,
			const char *fmt, ...)
{
	va_list ap;

	c->name = name;
	c->result = r;
	c->cls = r == CMK_KEK_FAIL ? cls : CMK_VAULT_OK;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

static void cmk_kek_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/**
 * cmk_kek_check() - check a key against the KEK requirements
 * @info: the key, from describe
 * @now: the current time
 * @checks: one entry per requirement, in a fixed order
 * @err: the first failed requirement, if any
 *
 * Requirements: RSA; 2048, 3072 or 4096 bits; enabled for the operation
 * the backend unwraps with (PKCS#11: CKA_DECRYPT);
 * start date not in the future; end date not passed (a warning when one is
 * set); private key sensitive; private key not extractable.
 *
 * Return: 0 if none failed, else the errno of the first failure's class.
 */
int cmk_kek_check(const struct cmk_vault_key_info *info, time_t now,
		  struct cmk_kek_check checks[CMK_KEK_CHECKS],
		  struct cmk_vault_error *err)
{
	struct cmk_kek_check *c = checks;
	char date[32];
	int i;

	if (!strcmp(info->key_type, "RSA"))
		cmk_kek_set(c++, "type", CMK_KEK_PASS, 0, "RSA");
	else
		cmk_kek_set(c++, "type", CMK_KEK_FAIL, CMK_VAULT_INVALID_KEY,
			    "%s, must be RSA", info->key_type);
	if (info->bits == 2048 || info->bits == 3072 || info->bits == 4096)
		cmk_kek_set(c++, "size", CMK_KEK_PASS, 0, "%u bits",
			    info->bits);
	else
		cmk_kek_set(c++, "size", CMK_KEK_FAIL, CMK_VAULT_INVALID_KEY,
			    "%u bits, must be 2048, 3072 or 4096", info->bits);
	if (info->enabled)
		cmk_kek_set(c++, "usage", CMK_KEK_PASS, 0, "%s%s%s",
			    info->can_decrypt ? "decrypt" : "",
			    info->can_decrypt && info->can_unwrap ? ", " : "",
			    info->can_unwrap ? "unwrap" : "");
	else
		cmk_kek_set(c++, "usage", CMK_KEK_FAIL, CMK_VAULT_DISABLED,
			    "%s is not permitted",
			    info->can_unwrap ? "decrypt" : "decrypt or unwrap");
	if (!info->start) {
		cmk_kek_set(c++, "start", CMK_KEK_PASS, 0, "no start date");
	} else {
		cmk_kek_date(info->start, date, sizeof(date));
		if (info->start <= now)
			cmk_kek_set(c++, "start", CMK_KEK_PASS, 0,
				    "valid since %s", date);
		else
			cmk_kek_set(c++, "start", CMK_KEK_FAIL,
				    CMK_VAULT_NOT_YET_VALID,
				    "not valid before %s", date);
	}
	if (!info->end) {
		cmk_kek_set(c++, "end", CMK_KEK_PASS, 0, "no end date");
	} else {
		cmk_kek_date(info->end, date, sizeof(date));
		if (info->end >= now)
			cmk_kek_set(c++, "end", CMK_KEK_WARN, 0,
				    "expires after %s", date);
		else
			cmk_kek_set(c++, "end", CMK_KEK_FAIL, CMK_VAULT_EXPIRED,
				    "expired after %s", date);
	}
	if (info->sensitive)
		cmk_kek_set(c++, "sensitive", CMK_KEK_PASS, 0,
			    "private key is sensitive");
	else
		cmk_kek_set(c++, "sensitive", CMK_KEK_FAIL,
			    CMK_VAULT_INVALID_KEY,
			    "private key is not sensitive");
	if (!info->extractable)
		cmk_kek_set(c++, "extractable", CMK_KEK_PASS, 0,
			    "private key is not extractable");
	else
		cmk_kek_set(c++, "extractable", CMK_KEK_FAIL,
			    CMK_VAULT_INVALID_KEY,
			    "private key is extractable");

	for (i = 0; i < CMK_KEK_CHECKS; i++)
		if (checks[i].result == CMK_KEK_FAIL)
			return cmk_vault_set_error(err, checks[i].cls, 0,
						   "KEK %s: %s", checks[i].name,
						   checks[i].msg);
	return 0;
}

/**
 * cmk_vault_validate_kek() - describe the key and check the requirements
 * @v: the vault
 * @ctx: audit context, may be NULL
 * @version: key version, NULL for the URI's key
 * @checks: one entry per requirement (left zeroed if describe failed)
 * @err: why it failed
 *
 * Return: 0 if the key may be used as a KEK, else a negative errno.
 */
int cmk_vault_validate_kek(struct cmk_vault *v,
			   const struct cmk_vault_ctx *ctx,
			   const char *version,
			   struct cmk_kek_check checks[CMK_KEK_CHECKS],
			   struct cmk_vault_error *err)
{
	struct cmk_vault_key_info info;
	int ret;

	memset(checks, 0, sizeof(*checks) * CMK_KEK_CHECKS);
	ret = cmk_vault_describe(v, ctx, version, &info, err);
	if (ret)
		return ret;
	return cmk_kek_check(&info, time(NULL), checks, err);
}

static int cmk_pin_from_tty(const char *prompt, char *pin, size_t size)
{
	struct termios old, quiet;
	size_t n = 0;
	int fd, ret = 0;
	char c;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &old)) {
		ret = -errno;
		goto out;
	}
	quiet = old;
	quiet.c_lflag &= ~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(fd, prompt, strlen(prompt)) < 0 ||
	    tcsetattr(fd, TCSAFLUSH, &quiet)) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 >= size) {
			ret = -ENAMETOOLONG;
			break;
		}
		pin[n++] = c;
	}
	pin[n] = 0;
	c = 0;
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		ret = ret ?: -errno;
out:
	close(fd);
	return ret;
}

/*
 * A PIN file is held to cmktab's rule: a regular file (a FIFO would hang
 * the caller), owned by the caller's effective uid, not writable by group
 * or others.  @why says which rule failed (with -EPERM).
 */
static int cmk_pin_from_file(const char *path, char *pin, size_t size,
			     const char **why)
{
	struct stat st;
	ssize_t r;
	size_t n = 0;
	int fd, ret = 0;

	*why = NULL;
	fd = cmk_file_open(path, O_RDONLY, CMK_FILE_REG, &st);
	if (fd == -ENOTBLK) {
		*why = "not a regular file";
		return -EPERM;
	}
	if (fd < 0)
		return fd;
	ret = cmk_file_trusted(&st);
	if (ret) {
		*why = ret == -EPERM ? "not owned by the user reading it" :
				       "group- or world-writable (chmod go-w)";
		ret = -EPERM;
		goto out;
	}
	while (n + 1 < size) {
		r = read(fd, pin + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (!r)
			break;
		n += r;
	}
	if (n + 1 >= size) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	pin[n] = 0;
	pin[strcspn(pin, "\r\n")] = 0;
out:
	close(fd);
	return ret;
}

static int cmk_pin_from_keyring(const char *desc, char *pin, size_t size)
{
	/* KEYCTL_READ = 11; key serials are 32-bit */
	long id, n;

	id = syscall(SYS_request_key, "user", desc, NULL, 0);
	if (id < 0)
		return -errno;
	n = syscall(SYS_keyctl, 11, id, pin, size - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= size) {
		/* too long: the kernel copied nothing or a prefix */
		explicit_bzero(pin, size);
		return -ENAMETOOLONG;
	}
	pin[n] = 0;
	pin[strcspn(pin, "\r\n")] = 0;
	return 0;
}

/**
 * cmk_vault_read_pin() - read a PIN from its source
 * @src: file, keyring or prompt
 * @arg: path, key description or prompt (NULL: a default prompt)
 * @pin: output, NUL-terminated, the caller's locked memory
 * @size: bytes in @pin
 * @err: why it failed
 *
 * Never from argv or the environment.  A file's first line, a user key's
 * payload up to its first newline, or a line typed on /dev/tty without echo.
 *
 * Return: 0 or a negative errno; @pin is wiped on failure.
 */
int cmk_vault_read_pin(enum cmk_vault_pin src, const char *arg, char *pin,
		       size_t size, struct cmk_vault_error *err)
{
	const char *what, *why = NULL;
	int ret;

	if (size < 2)
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "PIN buffer too small");
	switch (src) {
	case CMK_VAULT_PIN_FILE:
		what = "PIN file";
		ret = arg ? cmk_pin_from_file(arg, pin, size, &why) : -EINVAL;
		break;
	case CMK_VAULT_PIN_KEYRING:
		what = "PIN key";
		ret = arg ? cmk_pin_from_keyring(arg, pin, size) : -EINVAL;
		break;
	case CMK_VAULT_PIN_PROMPT:
		what = "PIN prompt";
		arg = arg ?: "PIN: ";
		ret = cmk_pin_from_tty(arg, pin, size);
		break;
	default:
		what = "PIN source";
		arg = "none";
		ret = -EINVAL;
		break;
	}
	if (ret) {
		explicit_bzero(pin, size);
		if (src == CMK_VAULT_PIN_PROMPT)
			return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
						   "reading the PIN from the terminal: %s",
						   ret == -ENXIO ? "no terminal" :
						   strerror(-ret));
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "reading %s %s: %s", what,
					   arg ?: "(unset)",
					   why ?: strerror(-ret));
	}
	return 0;
}
