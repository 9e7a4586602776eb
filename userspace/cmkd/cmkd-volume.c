// SPDX-License-Identifier: GPL-2.0
/*
 * cmkd's state machine (Documentation/admin-guide/device-mapper/cmkd.rst):
 *
 *   Opening --unlocked, mapped--> Available <--check ok-- Degraded
 *   Available --vault unreachable--> Degraded --grace ran out--> Inaccessible
 *   Available/Degraded --KEK lost, or the kernel lease lapsed--> Inaccessible
 *   Inaccessible --revalidate (or auto-revalidate)--> Opening
 *   any --cmkctl close--> Closed --revalidate--> Opening
 *
 * Tearing down revokes the lease key first: the target fails every I/O
 * from then on, before anything else is done.  Then the target's keys are
 * wiped and the mapping removed (deferred while it is open).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <keyutils.h>

#include "cmkd.h"

static const char *const cmkd_state_names[] = {
	[CMKD_OPENING]		= "opening",
	[CMKD_AVAILABLE]	= "available",
	[CMKD_DEGRADED]		= "degraded",
	[CMKD_INACCESSIBLE]	= "inaccessible",
	[CMKD_CLOSED]		= "closed",
};

const char *cmkd_state_name(enum cmkd_state s)
{
	return s <= CMKD_CLOSED ? cmkd_state_names[s] : "?";
}

static bool cmkd_mapped(const struct cmkd_volume *v)
{
	return v->state == CMKD_AVAILABLE || v->state == CMKD_DEGRADED;
}

/* A vault class that may go away by itself: retry, within the grace. */
static bool cmkd_class_transient(enum cmk_vault_class cls)
{
	return cls == CMK_VAULT_TRANSIENT || cls == CMK_VAULT_CONFIG;
}

static void cmkd_event(struct cmkd_volume *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void cmkd_event(struct cmkd_volume *v, const char *fmt, ...)
{
	struct cmkd_event *ev = &v->events[v->nevents++ % CMKD_EVENTS];
	va_list ap;

	ev->time = time(NULL);
	va_start(ap, fmt);
	vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
	va_end(ap);
}

static void cmkd_set_state(struct cmkd_volume *v, enum cmkd_state s,
			   enum cmk_vault_class cls, const char *reason)
{
	if (v->state != s)
		v->since = time(NULL);
	v->state = s;
	v->cls = cls;
	snprintf(v->reason, sizeof(v->reason), "%s", reason ? reason : "");
	cmkd_event(v, "%s%s%s", cmkd_state_name(s), v->reason[0] ? ": " : "",
		   v->reason);
}

struct cmkd_volume *cmkd_find(struct cmkd *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nvols; i++)
		if (!strcmp(d->vols[i].e->name, name))
			return &d->vols[i];
	return NULL;
}

/* Reply to a client waiting for a revalidate, then let it go. */
static void cmkd_answer(struct cmkd_volume *v, bool ok)
{
	struct cmkd_buf b = { 0 };

	if (v->client < 0)
		return;
	cmkd_buf_printf(&b, "{\"name\":");
	cmkd_buf_json(&b, v->e->name);
	cmkd_buf_printf(&b, ",\"result\":\"%s\",\"state\":\"%s\",\"class\":\"%s\",\"reason\":",
			ok ? "ok" : "error", cmkd_state_name(v->state),
			cmk_vault_class_name(v->cls));
	cmkd_buf_json(&b, v->reason);
	cmkd_buf_printf(&b, "}");
	cmkd_ctl_reply(v->client, b.oom ? "{\"result\":\"error\"}" : b.p);
	cmkd_buf_free(&b);
	cmkd_ctl_done(v->client);
	v->client = -1;
}

/* ---- lease keys ---- */

static unsigned int cmkd_lease_secs(const struct cmkd_volume *v)
{
	return (unsigned int)((v->e->lease_ms + 999) / 1000);
}

/* Revoke (I/O fails at once) and unlink the volume's lease key. */
static void cmkd_lease_drop(struct cmkd_volume *v)
{
	if (!v->lease)
		return;
	keyctl_revoke(v->lease);
	keyctl_unlink(v->lease, KEY_SPEC_PROCESS_KEYRING);
	v->lease = 0;
	v->lease_expiry = 0;
}

/*
 * A fresh lease key in the daemon's process keyring: if the daemon dies,
 * the keyring goes and the target sees its lease unlinked; if it hangs,
 * the timeout runs out.
 */
static int cmkd_lease_create(struct cmkd_volume *v)
{
	static const char payload[] = "cmkd lease";
	key_serial_t k;

	cmkd_lease_drop(v);
	snprintf(v->lease_desc, sizeof(v->lease_desc), "cmk:lease:%s",
		 v->uuid);
	/* An old key of that name (a previous table's) must not be found. */
	k = keyctl_search(KEY_SPEC_PROCESS_KEYRING, "user", v->lease_desc, 0);
	if (k > 0) {
		keyctl_revoke(k);
		keyctl_unlink(k, KEY_SPEC_PROCESS_KEYRING);
	}
	k = add_key("user", v->lease_desc, payload, sizeof(payload) - 1,
		    KEY_SPEC_PROCESS_KEYRING);
	if (k < 0)
		return -errno;
	/*
	 * Room for the table load, which can take seconds (the first cipher
	 * allocation after boot runs the crypto self-tests); the lease proper
	 * starts once the table is in (cmkd_lease_start()).
	 */
	if (keyctl_set_timeout(k, cmkd_lease_secs(v) + CMKD_LEASE_LOAD_S)) {
		int r = -errno;

		keyctl_revoke(k);
		keyctl_unlink(k, KEY_SPEC_PROCESS_KEYRING);
		return r;
	}
	v->lease = k;
	v->lease_renewed = cmkd_now_ms();
	v->lease_expiry = time(NULL) + cmkd_lease_secs(v);
	return 0;
}

static void cmkd_lease_renew(struct cmkd_volume *v)
{
	uint64_t every = v->e->lease_ms / 3;

	if (!v->lease || cmkd_now_ms() - v->lease_renewed < (every < 1000 ?
							      1000 : every))
		return;
	if (keyctl_set_timeout(v->lease, cmkd_lease_secs(v))) {
		cmkd_log(LOG_ERR, v, NULL, "renewing lease key %s: %s",
			 v->lease_desc, strerror(errno));
		return;
	}
	v->lease_renewed = cmkd_now_ms();
	v->lease_expiry = time(NULL) + cmkd_lease_secs(v);
}

/* The table holds the lease key: from now on, the lease time proper. */
static void cmkd_lease_start(struct cmkd_volume *v)
{
	v->lease_renewed = 0;
	cmkd_lease_renew(v);
}

/* ---- tear down ---- */

/*
 * Take a mapped volume offline: lease revoked first (I/O fails at once),
 * keys wiped, mapping removed (deferred while open).
 */
static void cmkd_unmap(struct cmkd_volume *v, bool deferred)
{
	int r;

	cmkd_lease_drop(v);
	if (cmk_dm_exists(v->e->name, NULL) <= 0)
		return;
	cmk_dm_message(v->e->name, "key wipe");
	r = cmk_dm_remove(v->e->name, deferred);
	if (r && r != -ENXIO)
		cmkd_log(LOG_ERR, v, NULL, "removing mapping %s: %s",
			 v->e->name, strerror(-r));
}

static void cmkd_teardown(struct cmkd *d, struct cmkd_volume *v,
			  enum cmk_vault_class cls, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Inaccessible, with everything that must go with it. */
static void cmkd_teardown(struct cmkd *d, struct cmkd_volume *v,
			  enum cmk_vault_class cls, const char *fmt, ...)
{
	char reason[CMKD_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	cmkd_unmap(v, true);
	cmkd_set_state(v, CMKD_INACCESSIBLE, cls, reason);
	cmkd_audit(d, v, "teardown", cls == CMK_VAULT_OK ? CMK_VAULT_CONFIG :
		   cls);
	cmkd_log(LOG_CRIT, v, "inaccessible", "inaccessible: %s", reason);
	cmkd_alert(v, "inaccessible");
	cmkd_answer(v, false);
}

/* ---- jobs ---- */

static bool cmkd_str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/**
 * cmkd_kek_uri() - the URI cmkd reaches a volume's KEK by
 * @tab: the cmktab KEK field, or NULL ("-")
 * @override: the URI a rotation to another vault moved the volume to, or
 *	NULL
 * @key: the key the volume's header records (its URI, no query)
 * @uri: set to the URI (malloc'd)
 * @device_uri: set when @uri is the header's alone (it may name the key
 *	only: module and PIN from cmktab's options)
 *
 * In order: @override, with its own settings, until cmktab names it;
 * @key alone when cmktab gives no KEK, or when @key has a query (read
 * from the device, it may not set one: refused as a device URI); @tab when
 * it names @key (the header's version then picks the version); @key with
 * @tab's local settings (its query) after a rotation to another key of the
 * same vault.
 *
 * Return: 0 or -ENOMEM.
 */
int cmkd_kek_uri(const char *tab, const char *override, const char *key,
		 char **uri, bool *device_uri)
{
	char k[CMK_HDR_URI_LEN];
	const char *q;

	*device_uri = false;
	if (override) {
		*uri = strdup(override);
	} else if (!tab || strchr(key, '?')) {
		/*
		 * Without a KEK field, or when the header's URI carries a
		 * query (the attacker's module or PIN source): the header's
		 * URI as a device URI, which names the key only, so that a
		 * query is refused before anything is loaded.
		 */
		*device_uri = true;
		*uri = strdup(key);
	} else if (!cmk_vault_uri_key(tab, k, sizeof(k)) && !strcmp(k, key)) {
		*uri = strdup(tab);
	} else {
		q = strchr(tab, '?');
		if (asprintf(uri, "%s%s", key, q ? q : "") < 0)
			*uri = NULL;
	}
	return *uri ? 0 : -ENOMEM;
}

/*
 * The KEK of volume @v, whose header has been read: shared by every volume
 * that names the same key version with the same local settings.
 */
static struct cmkd_kek *cmkd_kek_get(struct cmkd *d, struct cmkd_volume *v)
{
	const char *version = v->h->kek.key_version;
	/* An override names its own vault's module and PIN source. */
	const char *pin_file = v->kek_override ? NULL : v->e->pin_file;
	const char *module = v->kek_override ? NULL : v->e->module;
	struct cmkd_kek *k;
	bool device_uri;
	char *uri;

	if (cmkd_kek_uri(v->e->kek_uri, v->kek_override, v->h->kek.uri, &uri,
			 &device_uri))
		return NULL;
	for (k = d->keks; k; k = k->next)
		if (!strcmp(k->uri, uri) && k->device_uri == device_uri &&
		    !strcmp(k->version, version) &&
		    cmkd_str_eq(k->pin_file, pin_file) &&
		    cmkd_str_eq(k->module, module)) {
			free(uri);
			return k;
		}
	k = calloc(1, sizeof(*k));
	if (!k) {
		free(uri);
		return NULL;
	}
	k->uri = uri;
	k->pin_file = pin_file ? strdup(pin_file) : NULL;
	k->module = module ? strdup(module) : NULL;
	k->device_uri = device_uri;
	snprintf(k->version, sizeof(k->version), "%s", version);
	if ((pin_file && !k->pin_file) || (module && !k->module)) {
		free(k->uri);
		free(k->pin_file);
		free(k->module);
		free(k);
		return NULL;
	}
	if (cmk_vault_uri_redact(uri, k->safe_uri, sizeof(k->safe_uri)))
		snprintf(k->safe_uri, sizeof(k->safe_uri), "(KEK URI)");
	k->poll_ms = UINT64_MAX;
	k->next = d->keks;
	d->keks = k;
	return k;
}

static char *cmkd_strdup_opt(const char *s, bool *oom)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		*oom = true;
	return p;
}

static const char *cmkd_audit_path(struct cmkd *d, const struct cmkd_volume *v)
{
	return v->e->audit_log ? v->e->audit_log : d->audit_fd >= 0 ?
		d->audit_path : NULL;
}

static void cmkd_start_open(struct cmkd *d, struct cmkd_volume *v)
{
	struct cmkd_job *job = calloc(1, sizeof(*job));
	bool oom = false;

	if (job) {
		job->type = CMKD_JOB_OPEN;
		job->vol = v;
		/* The KEK's URI is chosen once the header is read. */
		job->uri = cmkd_strdup_opt(v->e->kek_uri, &oom);
		job->to_uri = cmkd_strdup_opt(v->kek_override, &oom);
		job->pin_file = cmkd_strdup_opt(v->e->pin_file, &oom);
		job->module = cmkd_strdup_opt(v->e->module, &oom);
		job->device_uri = !v->e->kek_uri;
		job->vk_fingerprint = cmkd_strdup_opt(v->e->vk_fingerprint,
						      &oom);
		job->pin_opts.allow_rollback = v->e->allow_rollback;
		job->audit_log = cmkd_strdup_opt(cmkd_audit_path(d, v), &oom);
		job->device = cmkd_strdup_opt(v->e->device, &oom);
		job->header = cmkd_strdup_opt(v->e->header, &oom);
		snprintf(job->uuid, sizeof(job->uuid), "%s", v->e->uuid);
	}
	if (!job || oom) {
		cmkd_job_free(job);
		cmkd_log(LOG_ERR, v, NULL, "out of memory; retrying");
		v->next_open = cmkd_now_ms() + CMKD_BACKOFF_MIN_MS;
		return;
	}
	v->open_pending = true;
	v->next_open = 0;
	v->attempts++;
	cmkd_worker_submit(job);
}

/* Does the KEK need checking: is a volume mapped, or waiting for it? */
static struct cmkd_volume *cmkd_kek_subject(struct cmkd *d, struct cmkd_kek *k)
{
	struct cmkd_volume *any = NULL;
	size_t i;

	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];

		if (v->kek != k || !v->h)
			continue;
		if (cmkd_mapped(v))
			return v;
		if (v->state == CMKD_INACCESSIBLE && v->e->auto_revalidate &&
		    !v->open_pending && v->cls != CMK_VAULT_OK)
			any = v;
	}
	return any;
}

/* Is a mapped volume of @k under rotate=auto? */
static bool cmkd_kek_auto(struct cmkd *d, const struct cmkd_kek *k)
{
	size_t i;

	for (i = 0; i < d->nvols; i++)
		if (d->vols[i].kek == k && d->vols[i].e->rotate_auto &&
		    cmkd_mapped(&d->vols[i]))
			return true;
	return false;
}

static void cmkd_start_check(struct cmkd *d, struct cmkd_kek *k,
			     struct cmkd_volume *v)
{
	struct cmkd_job *job = calloc(1, sizeof(*job));
	bool oom = false;

	if (job) {
		job->type = CMKD_JOB_CHECK;
		job->vol = v;
		job->kek = k;
		job->uri = cmkd_strdup_opt(k->uri, &oom);
		job->pin_file = cmkd_strdup_opt(k->pin_file, &oom);
		job->module = cmkd_strdup_opt(k->module, &oom);
		job->device_uri = k->device_uri;
		job->audit_log = cmkd_strdup_opt(cmkd_audit_path(d, v), &oom);
		snprintf(job->uuid, sizeof(job->uuid), "%s", v->uuid);
		job->list_versions = cmkd_kek_auto(d, k);
		/* The fixed part of the header and extent 0: all a check uses. */
		job->chk = *v->h;
		job->chk.extent_count = 1;
		job->chk_ext = v->h->ext[0];
		job->chk.ext = &job->chk_ext;
	}
	if (!job || oom) {
		cmkd_job_free(job);
		return;
	}
	k->check_pending = true;
	k->check_started = cmkd_now_ms();
	cmkd_worker_submit(job);
}

/* Next open attempt after a failure that may go away: backoff + jitter. */
static void cmkd_retry_later(struct cmkd_volume *v)
{
	uint64_t jitter;

	if (!v->backoff_ms)
		v->backoff_ms = CMKD_BACKOFF_MIN_MS;
	else if (v->backoff_ms < v->e->retry_max_ms)
		v->backoff_ms *= 2;
	if (v->backoff_ms > v->e->retry_max_ms)
		v->backoff_ms = v->e->retry_max_ms;
	/* Up to a quarter more, so that a fleet does not retry in step. */
	jitter = (uint64_t)random() % (v->backoff_ms / 4 + 1);
	v->next_open = cmkd_now_ms() + v->backoff_ms + jitter;
}

static void cmkd_open_failed(struct cmkd *d, struct cmkd_volume *v,
			     struct cmkd_job *job)
{
	enum cmk_vault_class cls = job->err.kind == CMK_VOLUME_FAIL_VAULT ?
		job->err.vault.cls : CMK_VAULT_OK;
	bool retry;

	/*
	 * Retried with backoff: an unreachable vault, a device that is not
	 * there yet, a kernel that refused (module not loaded yet, say).
	 * Not retried: a KEK that is lost (until it is usable again, with
	 * auto-revalidate), a header that is invalid, a configuration that
	 * cannot work (a module that does not load, a PIN file that cannot
	 * be used, a header URI that sets a module): retrying would only
	 * hide it.  cmkctl revalidate tries again once it is fixed.
	 */
	if (job->err.kind == CMK_VOLUME_FAIL_VAULT)
		retry = cls == CMK_VAULT_TRANSIENT;
	else
		retry = job->err.kind != CMK_VOLUME_FAIL_HEADER;
	cmkd_audit(d, v, "activate", cls == CMK_VAULT_OK ? CMK_VAULT_CONFIG : cls);
	if (retry) {
		cmkd_retry_later(v);
		cmkd_set_state(v, CMKD_OPENING, cls, job->err.msg);
		cmkd_log(LOG_WARNING, v, "waiting",
			 "cannot open yet (attempt %u): %s; retrying in %.1f s",
			 v->attempts, job->err.msg,
			 (double)(v->next_open - cmkd_now_ms()) / 1000);
		cmkd_notify("STATUS=%s: waiting: %s", v->e->name,
			    job->err.msg);
		cmkd_answer(v, false);
		return;
	}
	cmkd_set_state(v, CMKD_INACCESSIBLE, cls, job->err.msg);
	if (cls == CMK_VAULT_CONFIG)
		cmkd_log(LOG_CRIT, v, "inaccessible",
			 "cannot open: configuration error: %s; not retried: fix it, then cmkctl revalidate %s",
			 job->err.msg, v->e->name);
	else
		cmkd_log(LOG_CRIT, v, "inaccessible", "cannot open: %s",
			 job->err.msg);
	cmkd_alert(v, "inaccessible");
	cmkd_answer(v, false);
}

static void cmkd_open_done(struct cmkd *d, struct cmkd_volume *v,
			   struct cmkd_job *job)
{
	struct cmk_activate_opts o = {
		.read_only = v->e->read_only,
		.allow_discards = v->e->allow_discards,
	};
	struct cmk_volume_error err;
	enum cmkd_state was = v->state;
	struct cmkd_kek *k;
	int r;

	v->open_pending = false;
	if (job->h) {
		cmk_hdr_free(v->h);
		v->h = job->h;
		job->h = NULL;
		snprintf(v->dev, sizeof(v->dev), "%s", job->dev);
		cmk_uuid_format(v->h->uuid, v->uuid);
		k = cmkd_kek_get(d, v);
		if (k) {
			v->kek = k;
			if (v->e->poll_ms < k->poll_ms)
				k->poll_ms = v->e->poll_ms;
		}
	}
	if (v->state == CMKD_CLOSED && v->client < 0)
		return;		/* closed while the job ran */
	if (job->ret) {
		cmkd_open_failed(d, v, job);
		return;
	}
	if (!v->kek) {
		job->err.kind = CMK_VOLUME_FAIL_SYSTEM;
		snprintf(job->err.msg, sizeof(job->err.msg), "out of memory");
		cmkd_open_failed(d, v, job);
		return;
	}
	memcpy(v->fingerprint, job->keys.fingerprint, sizeof(v->fingerprint));
	/* The worker proved the KEK usable just now. */
	v->kek->last_ok = time(NULL);
	v->kek->first_fail = 0;
	if (job->pin.recorded_now)
		cmkd_log(LOG_NOTICE, v, NULL,
			 "pinned on this host: volume key fingerprint %s (%s)",
			 job->keys.fingerprint, job->pin.record);
	if (job->pin.rolled_back)
		cmkd_log(LOG_WARNING, v, NULL,
			 "rollback allowed (allow-rollback): header sequence number %" PRIu64 ", this host had seen %" PRIu64,
			 v->h->seqno, job->pin.last_seqno);

	r = cmkd_lease_create(v);
	if (r) {
		snprintf(job->err.msg, sizeof(job->err.msg),
			 "creating lease key: %s", strerror(-r));
		job->err.kind = CMK_VOLUME_FAIL_SYSTEM;
		cmkd_open_failed(d, v, job);
		return;
	}
	o.lease = v->lease_desc;
	/* A mapping of this volume left by a teardown or an earlier cmkd. */
	o.reload = cmk_dm_exists(v->e->name, NULL) > 0;
	r = cmk_volume_activate_opts(v->h, &job->keys, v->dev, v->e->name,
				     &o, &err);
	cmk_volume_keys_wipe(&job->keys);
	if (r) {
		cmkd_lease_drop(v);
		job->err = err;
		if (err.kind == CMK_VOLUME_FAIL_SYSTEM && (r == -EEXIST ||
							   r == -EBUSY))
			job->err.kind = CMK_VOLUME_FAIL_HEADER;
		cmkd_open_failed(d, v, job);
		return;
	}
	cmkd_lease_start(v);
	v->attempts = 0;
	v->backoff_ms = 0;
	cmkd_set_state(v, CMKD_AVAILABLE, CMK_VAULT_OK, NULL);
	cmkd_audit(d, v, was == CMKD_OPENING && v->nevents <= 2 ? "activate" :
		   "revalidate", CMK_VAULT_OK);
	cmkd_log(LOG_NOTICE, v, "available",
		 "available: %s on %s, %u extents, lease %u s, KEK checked every %.1f s",
		 o.reload ? "reloaded" : "mapped", v->dev, v->h->extent_count,
		 cmkd_lease_secs(v), (double)v->e->poll_ms / 1000);
	if (was == CMKD_INACCESSIBLE || v->nevents > 2)
		cmkd_alert(v, "available");
	cmkd_answer(v, true);
	if (v->kek->next_check < cmkd_now_ms() + v->kek->poll_ms)
		v->kek->next_check = cmkd_now_ms() + v->kek->poll_ms;
}

/* ---- KEK rotation ---- */

static void cmkd_rotate_answer(struct cmkd_volume *v, const struct cmkd_job *job)
{
	struct cmkd_buf b = { 0 };

	if (v->rotate_client < 0)
		return;
	cmkd_buf_printf(&b, "{\"name\":");
	cmkd_buf_json(&b, v->e->name);
	cmkd_buf_printf(&b, ",\"result\":\"%s\"", job->ret ? "error" : "ok");
	if (job->ret) {
		cmkd_buf_printf(&b, ",\"class\":\"%s\",\"reason\":",
				cmk_vault_class_name(job->err.kind ==
					CMK_VOLUME_FAIL_VAULT ?
					job->err.vault.cls : CMK_VAULT_OK));
		cmkd_buf_json(&b, job->err.msg);
	} else {
		cmkd_buf_printf(&b, ",\"from\":{\"uri\":");
		cmkd_buf_json(&b, job->from.uri);
		cmkd_buf_printf(&b, ",\"version\":");
		cmkd_buf_json(&b, job->from.key_version);
		cmkd_buf_printf(&b, "},\"to\":{\"uri\":");
		cmkd_buf_json(&b, v->h->kek.uri);
		cmkd_buf_printf(&b, ",\"version\":");
		cmkd_buf_json(&b, v->h->kek.key_version);
		cmkd_buf_printf(&b, "},\"resumed\":%s,\"seqno\":%llu",
				job->resumed ? "true" : "false",
				(unsigned long long)v->h->seqno);
	}
	cmkd_buf_printf(&b, "}");
	cmkd_ctl_reply(v->rotate_client, b.oom ? "{\"result\":\"error\"}" :
		       b.p);
	cmkd_buf_free(&b);
	cmkd_ctl_done(v->rotate_client);
	v->rotate_client = -1;
}

/*
 * Rotate @v's KEK on the open worker: to @to_uri (NULL: a newer version of
 * the current key) at @to_version (NULL: the newest, or the URI's).
 * @client: control connection to answer, or -1 (rotate=auto).
 */
static int cmkd_start_rotate(struct cmkd *d, struct cmkd_volume *v,
			     const char *to_uri, const char *to_version,
			     int client)
{
	struct cmkd_job *job = calloc(1, sizeof(*job));
	bool oom = false;

	if (job) {
		job->type = CMKD_JOB_ROTATE;
		job->vol = v;
		job->uri = cmkd_strdup_opt(v->kek->uri, &oom);
		job->pin_file = cmkd_strdup_opt(v->kek->pin_file, &oom);
		job->module = cmkd_strdup_opt(v->kek->module, &oom);
		job->device_uri = v->kek->device_uri;
		job->vk_fingerprint = cmkd_strdup_opt(v->e->vk_fingerprint,
						      &oom);
		job->pin_opts.allow_rollback = v->e->allow_rollback;
		job->audit_log = cmkd_strdup_opt(cmkd_audit_path(d, v), &oom);
		job->device = cmkd_strdup_opt(v->dev, &oom);
		job->header = cmkd_strdup_opt(v->e->header, &oom);
		job->to_uri = cmkd_strdup_opt(to_uri, &oom);
		job->to_version = cmkd_strdup_opt(to_version, &oom);
		snprintf(job->uuid, sizeof(job->uuid), "%s", v->uuid);
	}
	if (!job || oom) {
		cmkd_job_free(job);
		return -ENOMEM;
	}
	v->rotate_pending = true;
	v->rotate_client = client;
	cmkd_worker_submit(job);
	return 0;
}

/**
 * cmkd_kek_rotate() - rotate a volume's KEK for the administrator
 * @d: the daemon
 * @v: the volume; open
 * @to_uri: the new KEK (with its vault's settings if they differ), or
 *	NULL for a newer version of the current key
 * @to_version: its version, or NULL
 * @client: control connection, answered when the rotation is done
 *
 * Return: 0 if started (answered later), else the answer was sent.
 */
int cmkd_kek_rotate(struct cmkd *d, struct cmkd_volume *v, const char *to_uri,
		    const char *to_version, int client)
{
	const char *why = NULL;

	if (!cmkd_mapped(v) || !v->h || !v->kek)
		why = "the volume is not open: rotate its header with cmkctl kek-rotate DEVICE";
	else if (v->rotate_pending)
		why = "a KEK rotation of this volume is already running";
	else if (to_uri && !cmk_vault_backend(to_uri))
		why = "not a KEK URI";
	if (!why && !cmkd_start_rotate(d, v, to_uri, to_version, client)) {
		cmkd_log(LOG_NOTICE, v, NULL,
			 "KEK rotation requested: to %s%s%s",
			 to_uri ? "another key" : "a newer version",
			 to_version ? ", version " : "",
			 to_version ? to_version : "");
		return 0;
	}
	{
		struct cmkd_buf buf = { 0 };

		cmkd_buf_printf(&buf, "{\"result\":\"error\",\"reason\":");
		cmkd_buf_json(&buf, why ? why : "out of memory");
		cmkd_buf_printf(&buf, "}");
		cmkd_ctl_reply(client, buf.oom ? "{\"result\":\"error\"}" :
			       buf.p);
		cmkd_buf_free(&buf);
	}
	cmkd_ctl_done(client);
	return -EINVAL;
}

/* The next automatic rotation attempt after a failure: backoff + jitter. */
static void cmkd_rotate_later(struct cmkd_volume *v)
{
	uint64_t jitter;

	if (!v->rotate_backoff_ms)
		v->rotate_backoff_ms = CMKD_ROTATE_BACKOFF_MIN_MS;
	else if (v->rotate_backoff_ms < CMKD_ROTATE_BACKOFF_MAX_MS / 2)
		v->rotate_backoff_ms *= 2;
	else
		v->rotate_backoff_ms = CMKD_ROTATE_BACKOFF_MAX_MS;
	jitter = (uint64_t)random() % (v->rotate_backoff_ms / 4 + 1);
	v->next_rotate = cmkd_now_ms() + v->rotate_backoff_ms + jitter;
}

static void cmkd_rotate_done(struct cmkd *d, struct cmkd_volume *v,
			     struct cmkd_job *job)
{
	enum cmk_vault_class cls = job->err.kind == CMK_VOLUME_FAIL_VAULT ?
		job->err.vault.cls : CMK_VAULT_OK;
	bool manual = v->rotate_client >= 0;
	struct cmkd_kek *k;

	v->rotate_pending = false;
	/*
	 * Follow the header as it is on the device: the rotation's header,
	 * or, when a step after the switch failed, whatever the job read
	 * back (written by this job under the volume's own key).
	 */
	if (job->h && v->h && !cmk_kek_ref_same(&job->h->kek, &v->h->kek) &&
	    !memcmp(job->h->uuid, v->h->uuid, sizeof(v->h->uuid))) {
		cmk_hdr_free(v->h);
		v->h = job->h;
		job->h = NULL;
		if (job->to_uri && strchr(job->to_uri, '?')) {
			free(v->kek_override);
			v->kek_override = strdup(job->to_uri);
		}
		k = cmkd_kek_get(d, v);
		if (k) {
			v->kek = k;
			if (v->e->poll_ms < k->poll_ms)
				k->poll_ms = v->e->poll_ms;
			/* The job proved the new KEK just now. */
			k->last_ok = time(NULL);
			if (!k->next_check ||
			    k->next_check > cmkd_now_ms() + k->poll_ms)
				k->next_check = cmkd_now_ms() + k->poll_ms;
		}
		cmkd_log(LOG_NOTICE, v, "kek-rotated",
			 "KEK rotated%s: version %s of %s now wraps the volume key (was version %s of %s)%s",
			 job->resumed ? " (a staged rotation finished)" : "",
			 v->h->kek.key_version[0] ? v->h->kek.key_version : "-",
			 v->h->kek.uri,
			 job->from.key_version[0] ? job->from.key_version : "-",
			 job->from.uri,
			 v->kek_override ? "; name the new KEK in cmktab (kek=) before cmkd restarts" : "");
		cmkd_audit(d, v, "kek-rotate", CMK_VAULT_OK);
		cmkd_alert(v, "kek-rotated");
		if (job->ret) {
			cmkd_log(LOG_WARNING, v, NULL,
				 "after the switch: %s", job->err.msg);
			job->ret = 0;
		}
		v->rotate_backoff_ms = 0;
		v->rotate_failures = 0;
		v->next_rotate = 0;
	} else if (job->ret == -ENOENT || job->ret == -EALREADY) {
		/* Nothing newer (rotate=auto raced a version that went away). */
	} else if (job->ret) {
		if (!manual) {
			v->rotate_failures++;
			cmkd_rotate_later(v);
		}
		cmkd_log(LOG_ERR, v, "kek-rotate-failed",
			 "KEK rotation failed%s: %s; the volume stays on version %s of its KEK%s",
			 manual ? "" : " (rotate=auto)", job->err.msg,
			 v->h && v->h->kek.key_version[0] ?
			 v->h->kek.key_version : "-",
			 manual ? "" : "; retrying later");
		cmkd_audit(d, v, "kek-rotate", cls == CMK_VAULT_OK ?
			   CMK_VAULT_TRANSIENT : cls);
		cmkd_alert(v, "kek-rotate-failed");
	}
	cmkd_rotate_answer(v, job);
}

/*
 * After a check that saw a newer version of @k: rotate its rotate=auto
 * volumes (each once its backoff allows).
 */
static void cmkd_rotate_auto(struct cmkd *d, struct cmkd_kek *k,
			     const char *newest)
{
	uint64_t now = cmkd_now_ms();
	size_t i;

	if (strcmp(k->newest, newest)) {
		snprintf(k->newest, sizeof(k->newest), "%s", newest);
		cmkd_log(LOG_NOTICE, NULL, NULL,
			 "KEK %s: a newer version (%s) is available",
			 k->safe_uri, newest);
	}
	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];

		if (v->kek != k || !v->e->rotate_auto || !cmkd_mapped(v) ||
		    v->rotate_pending || (v->next_rotate && now < v->next_rotate))
			continue;
		if (cmkd_start_rotate(d, v, NULL, newest, -1))
			cmkd_log(LOG_ERR, v, NULL,
				 "out of memory starting a KEK rotation");
		else
			cmkd_log(LOG_NOTICE, v, NULL,
				 "rotate=auto: moving to version %s of its KEK",
				 newest);
	}
}

/* Apply the grace period to the mapped volumes of @k. */
static void cmkd_kek_grace(struct cmkd *d, struct cmkd_kek *k)
{
	uint64_t now = cmkd_now_ms();
	size_t i;

	if (!k->first_fail)
		return;
	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];
		char why[CMKD_REASON_MAX];

		if (v->kek != k || !cmkd_mapped(v))
			continue;
		snprintf(why, sizeof(why), "vault unreachable for %.1f s: %.200s",
			 (double)(now - k->first_fail) / 1000, k->last_msg);
		if (now - k->first_fail >= v->e->grace_ms) {
			cmkd_teardown(d, v, CMK_VAULT_TRANSIENT,
				      "%s (grace %.1f s)", why,
				      (double)v->e->grace_ms / 1000);
		} else if (v->state == CMKD_AVAILABLE) {
			cmkd_set_state(v, CMKD_DEGRADED, CMK_VAULT_TRANSIENT,
				       why);
			cmkd_log(LOG_WARNING, v, "degraded",
				 "degraded: %s; tearing down after %.1f s",
				 why, (double)v->e->grace_ms / 1000);
			cmkd_alert(v, "degraded");
		}
	}
}

static void cmkd_check_done(struct cmkd *d, struct cmkd_job *job)
{
	struct cmkd_kek *k = job->kek;
	enum cmk_vault_class cls;
	size_t i;

	k->check_pending = false;
	k->checks++;
	k->last_check = time(NULL);
	/* Checks start every poll interval, however long one takes. */
	k->next_check = k->check_started + k->poll_ms;
	cls = !job->ret ? CMK_VAULT_OK :
		job->err.kind == CMK_VOLUME_FAIL_VAULT ? job->err.vault.cls :
		job->err.kind == CMK_VOLUME_FAIL_HEADER ?
		CMK_VAULT_INVALID_KEY : CMK_VAULT_TRANSIENT;
	k->last_cls = cls;
	if (job->ms > (double)k->poll_ms / 2)
		cmkd_log(LOG_WARNING, NULL, NULL,
			 "KEK %s: a check took %.0f ms, more than half the poll interval",
			 k->safe_uri, job->ms);
	snprintf(k->last_msg, sizeof(k->last_msg), "%s",
		 job->ret ? job->err.msg : "");
	if (cls == CMK_VAULT_OK) {
		k->last_ok = k->last_check;
		k->first_fail = 0;
		if (job->newest[0])
			cmkd_rotate_auto(d, k, job->newest);
	} else if (cmkd_class_transient(cls)) {
		if (!k->first_fail)
			k->first_fail = k->check_started;
	}

	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];

		if (v->kek != k)
			continue;
		if (cls == CMK_VAULT_OK) {
			if (v->state == CMKD_DEGRADED) {
				cmkd_set_state(v, CMKD_AVAILABLE,
					       CMK_VAULT_OK, NULL);
				cmkd_log(LOG_NOTICE, v, "available",
					 "available: the vault answers again");
				cmkd_alert(v, "available");
			} else if (v->state == CMKD_INACCESSIBLE &&
				   v->e->auto_revalidate && !v->open_pending &&
				   v->cls != CMK_VAULT_OK) {
				cmkd_log(LOG_NOTICE, v, NULL,
					 "KEK usable again: revalidating");
				cmkd_set_state(v, CMKD_OPENING, CMK_VAULT_OK,
					       "auto-revalidate");
				cmkd_start_open(d, v);
			}
		} else if (!cmkd_class_transient(cls) && cmkd_mapped(v)) {
			cmkd_teardown(d, v, cls, "KEK %s: %s",
				      cmk_vault_class_name(cls), job->err.msg);
		}
	}
	if (cmkd_class_transient(cls))
		cmkd_kek_grace(d, k);
}

/**
 * cmkd_job_done() - act on a job a worker finished
 * @d: the daemon
 * @job: the job; freed here
 */
void cmkd_job_done(struct cmkd *d, struct cmkd_job *job)
{
	if (job->type == CMKD_JOB_OPEN)
		cmkd_open_done(d, job->vol, job);
	else if (job->type == CMKD_JOB_ROTATE)
		cmkd_rotate_done(d, job->vol, job);
	else
		cmkd_check_done(d, job);
	cmkd_job_free(job);
}

/* Has the kernel taken the mapping down by itself, or has it gone? */
static void cmkd_kernel_state(struct cmkd *d, struct cmkd_volume *v)
{
	struct cmk_status st;
	int r = cmk_dm_status(v->e->name, &st);

	if (r == -ENXIO || r == -ENODEV) {
		cmkd_lease_drop(v);
		cmkd_set_state(v, CMKD_CLOSED, CMK_VAULT_OK,
			       "the mapping was removed outside cmkd");
		cmkd_log(LOG_WARNING, v, "closed",
			 "the mapping was removed outside cmkd");
		cmkd_alert(v, "closed");
		return;
	}
	if (!r && !st.available)
		cmkd_teardown(d, v, CMK_VAULT_OK,
			      "the kernel took it offline: %s", st.reason);
}

/**
 * cmkd_volumes_tick() - timers: opens due, checks due, leases, grace
 * @d: the daemon
 */
void cmkd_volumes_tick(struct cmkd *d)
{
	uint64_t now = cmkd_now_ms();
	struct cmkd_volume *subject;
	struct cmkd_kek *k;
	size_t i;

	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];

		if (v->state == CMKD_OPENING && !v->open_pending &&
		    v->next_open && now >= v->next_open)
			cmkd_start_open(d, v);
		if (cmkd_mapped(v)) {
			cmkd_kernel_state(d, v);
			if (cmkd_mapped(v))
				cmkd_lease_renew(v);
		}
	}
	for (k = d->keks; k; k = k->next) {
		subject = cmkd_kek_subject(d, k);
		if (!subject)
			continue;
		if (!k->check_pending && now >= k->next_check) {
			cmkd_start_check(d, k, subject);
		} else if (k->check_pending && !k->first_fail &&
			   now - k->check_started > k->poll_ms) {
			/* The vault does not answer: the check worker is stuck. */
			k->first_fail = k->check_started;
			snprintf(k->last_msg, sizeof(k->last_msg),
				 "no answer from the vault");
		}
		/* The grace runs out on time, not at the next check's end. */
		if (k->first_fail)
			cmkd_kek_grace(d, k);
	}
}

/**
 * cmkd_volumes_init() - one volume per valid cmktab line, all Opening
 * @d: the daemon, with @d->tab loaded
 *
 * Return: 0 or -ENOMEM.
 */
int cmkd_volumes_init(struct cmkd *d)
{
	size_t i;

	d->nvols = d->tab.count;
	d->vols = calloc(d->nvols ? d->nvols : 1, sizeof(*d->vols));
	if (!d->vols)
		return -ENOMEM;
	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];

		v->e = &d->tab.entries[i];
		v->client = -1;
		v->rotate_client = -1;
		snprintf(v->uuid, sizeof(v->uuid), "%s", v->e->uuid);
		snprintf(v->dev, sizeof(v->dev), "%s",
			 v->e->device ? v->e->device : "");
		cmkd_set_state(v, CMKD_OPENING, CMK_VAULT_OK, "starting");
		v->next_open = cmkd_now_ms();
	}
	return 0;
}

/**
 * cmkd_revalidate() - unwrap again and bring a volume back
 * @d: the daemon
 * @v: the volume
 * @client: control connection to answer when done (closed then)
 *
 * Return: 0 if the open was started (the answer comes later), else the
 * answer was sent already.
 */
int cmkd_revalidate(struct cmkd *d, struct cmkd_volume *v, int client)
{
	if (v->client >= 0) {
		cmkd_ctl_reply(client,
			       "{\"result\":\"error\",\"reason\":\"a revalidate of this volume is already running\"}");
		cmkd_ctl_done(client);
		return -EBUSY;
	}
	v->client = client;
	if (cmkd_mapped(v)) {
		cmkd_answer(v, true);
		return -EALREADY;
	}
	cmkd_log(LOG_NOTICE, v, NULL, "revalidate requested (was %s: %s)",
		 cmkd_state_name(v->state), v->reason);
	cmkd_set_state(v, CMKD_OPENING, CMK_VAULT_OK, "revalidating");
	v->attempts = 0;
	v->backoff_ms = 0;
	if (!v->open_pending)
		cmkd_start_open(d, v);
	return 0;
}

/**
 * cmkd_close() - close a volume for the administrator
 * @d: the daemon
 * @v: the volume
 * @deferred: remove the mapping once its last opener closes it
 * @msg: set to why it failed
 * @size: bytes in @msg
 *
 * Return: 0 or a negative errno (-EBUSY: open and not @deferred).
 */
int cmkd_close(struct cmkd *d, struct cmkd_volume *v, bool deferred,
	       char *msg, size_t size)
{
	int32_t open_count = 0;

	if (cmk_dm_exists(v->e->name, &open_count) > 0 && open_count &&
	    !deferred) {
		snprintf(msg, size, "%s is in use (open count %d); unmount it or use --deferred",
			 v->e->name, open_count);
		return -EBUSY;
	}
	cmkd_unmap(v, deferred);
	v->next_open = 0;
	cmkd_set_state(v, CMKD_CLOSED, CMK_VAULT_OK, "closed by cmkctl close");
	cmkd_audit(d, v, "close", CMK_VAULT_OK);
	cmkd_log(LOG_NOTICE, v, "closed", "closed%s",
		 open_count ? " (removal deferred until it is no longer open)" :
		 "");
	cmkd_answer(v, false);
	return 0;
}

/**
 * cmkd_shutdown() - take every mapped volume offline as cmkd stops
 * @d: the daemon
 */
void cmkd_shutdown(struct cmkd *d)
{
	size_t i;

	for (i = 0; i < d->nvols; i++) {
		struct cmkd_volume *v = &d->vols[i];

		if (!cmkd_mapped(v))
			continue;
		cmkd_unmap(v, true);
		cmkd_set_state(v, CMKD_CLOSED, CMK_VAULT_OK, "cmkd stopped");
		cmkd_audit(d, v, "close", CMK_VAULT_OK);
		cmkd_log(LOG_NOTICE, v, "closed", "closed: cmkd stopped");
	}
}
