// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: the kernel side of a volume, from userspace.  DEKs go into the
 * kernel keyring as logon keys (never readable back), cmk mappings are
 * created, inspected, messaged and removed through libdevmapper, and the
 * DEK keys are dropped from the keyring once a table holds them.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keyutils.h>
#include <libdevmapper.h>

#include "libcmk.h"
#include "cmk-dm.h"

/**
 * cmk_keyring_add_deks() - load DEKs as logon keys
 * @prefix: key prefix of the table; key i is "<prefix><i>"
 * @deks: @n DEKs of %CMK_DEK_SIZE bytes each, in the caller's locked memory
 * @n: number of DEKs
 * @keyring: keyring to link them into (e.g. KEY_SPEC_SESSION_KEYRING)
 *
 * The key bytes go to the kernel through add_key(2) only.  On failure the
 * keys already added are invalidated.
 *
 * Return: 0 or a negative errno.
 */
int cmk_keyring_add_deks(const char *prefix, const uint8_t *deks, uint32_t n,
			 int32_t keyring)
{
	char desc[CMK_KEY_DESC_MAX];
	uint32_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = cmk_key_desc(prefix, i, desc, sizeof(desc));
		if (r)
			goto out_drop;
		if (add_key(CMK_DEK_KEY_TYPE, desc, deks + (size_t)i * CMK_DEK_SIZE,
			    CMK_DEK_SIZE, keyring) < 0) {
			r = -errno;
			goto out_drop;
		}
	}
	return 0;

out_drop:
	cmk_keyring_drop_deks(prefix, i, keyring);
	return r;
}

/**
 * cmk_keyring_drop_deks() - invalidate the DEK keys of a prefix
 * @prefix: key prefix
 * @n: number of keys, "<prefix>0" to "<prefix><n-1>"
 * @keyring: keyring to search
 *
 * Invalidation removes a key from every keyring at once; a table that
 * already holds the DEKs keeps working.  Keys that are not there are
 * skipped.
 *
 * Return: the number of keys invalidated.
 */
uint32_t cmk_keyring_drop_deks(const char *prefix, uint32_t n, int32_t keyring)
{
	char desc[CMK_KEY_DESC_MAX];
	uint32_t i, dropped = 0;
	long id;

	for (i = 0; i < n; i++) {
		if (cmk_key_desc(prefix, i, desc, sizeof(desc)))
			continue;
		id = keyctl_search(keyring, CMK_DEK_KEY_TYPE, desc, 0);
		if (id >= 0 && keyctl_invalidate(id) == 0)
			dropped++;
	}
	return dropped;
}

/*
 * How long a dm task waits for udev to finish with its uevent, in ms (-1:
 * until it has, the default).  udev probes a new mapping's contents, and
 * on a slow device each of its reads may take seconds: cmkd bounds the
 * wait so that its main loop (lease renewals) never waits on a device, and
 * finishes the late cookies with cmk_dm_udev_reap().
 */
static int cmk_dm_udev_wait_ms = -1;
#define CMK_DM_UDEV_LATE_MAX	64
static uint32_t cmk_dm_udev_late[CMK_DM_UDEV_LATE_MAX];
static unsigned int cmk_dm_udev_nlate;

/**
 * cmk_dm_set_udev_wait() - bound the wait for udev after a dm task
 * @ms: milliseconds; -1 waits until udev is done (the default)
 *
 * Not thread-safe: call it once, before any dm task; dm tasks that create,
 * resume or remove mappings then run in one thread only, which calls
 * cmk_dm_udev_reap() now and then.
 */
void cmk_dm_set_udev_wait(int ms)
{
	cmk_dm_udev_wait_ms = ms;
}

/**
 * cmk_dm_udev_reap() - finish the udev waits cut short by the bound
 *
 * Return: how many are still pending.
 */
unsigned int cmk_dm_udev_reap(void)
{
	unsigned int i = 0;
	int ready;

	while (i < cmk_dm_udev_nlate) {
		ready = 0;
		if (!dm_udev_wait_immediate(cmk_dm_udev_late[i], &ready) ||
		    ready)
			cmk_dm_udev_late[i] =
				cmk_dm_udev_late[--cmk_dm_udev_nlate];
		else
			i++;
	}
	return cmk_dm_udev_nlate;
}

/* Wait for udev's processing of @cookie, within the bound if there is one. */
static void cmk_dm_udev_wait(uint32_t cookie)
{
	struct timespec t0, t;
	long ms;
	int ready;

	if (cmk_dm_udev_wait_ms < 0 || !cookie) {
		dm_udev_wait(cookie);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ready = 0;
		if (!dm_udev_wait_immediate(cookie, &ready) || ready)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= cmk_dm_udev_wait_ms)
			break;
		usleep(10000);
	}
	cmk_dm_udev_reap();
	if (cmk_dm_udev_nlate < CMK_DM_UDEV_LATE_MAX)
		cmk_dm_udev_late[cmk_dm_udev_nlate++] = cookie;
	else
		dm_udev_wait(cookie);	/* never leak a semaphore */
}

/* Run a dm task that may create or remove nodes, waiting for udev. */
static int cmk_dm_run_udev(struct dm_task *dmt)
{
	uint32_t cookie = 0;
	int r;

	if (!dm_task_set_cookie(dmt, &cookie, 0))
		return -ENOMEM;
	r = dm_task_run(dmt) ? 0 : -EIO;
	cmk_dm_udev_wait(cookie);
	return r;
}

/* Longest parameter string of a cmk table line. */
#define CMK_DM_PARAMS_MAX	(CMK_DEV_PATH_MAX + 2 * CMK_KEY_PREFIX_MAX + 128)

/* @t as target parameters, checked first as the kernel would. */
static int cmk_dm_params(const struct cmk_table *t, uint64_t len,
			 char params[CMK_DM_PARAMS_MAX])
{
	const char *why;
	int r = cmk_table_validate(t, len, &why);

	return r ? r : cmk_table_format(t, params, CMK_DM_PARAMS_MAX);
}

/**
 * cmk_dm_create() - create a cmk mapping
 * @name: dm device name
 * @dm_uuid: dm uuid (e.g. "CMK-<volume uuid>"), or %NULL
 * @len: length in 512-byte sectors
 * @t: the table
 * @read_only: create it read-only
 *
 * The kernel looks the keys up in the calling process's keyrings.
 *
 * Return: 0, -EINVAL for a table the kernel would refuse (checked here
 * first), or -EIO when the kernel refused it (its reason is in the kernel
 * log).
 */
int cmk_dm_create(const char *name, const char *dm_uuid, uint64_t len,
		  const struct cmk_table *t, bool read_only)
{
	char params[CMK_DM_PARAMS_MAX];
	struct dm_task *dmt;
	int r;

	r = cmk_dm_params(t, len, params);
	if (r)
		return r;

	dmt = dm_task_create(DM_DEVICE_CREATE);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	r = -ENOMEM;
	if (!dm_task_set_name(dmt, name) ||
	    (dm_uuid && !dm_task_set_uuid(dmt, dm_uuid)) ||
	    (read_only && !dm_task_set_ro(dmt)) ||
	    !dm_task_add_target(dmt, 0, len, CMK_TARGET_NAME, params))
		goto out;
	r = cmk_dm_run_udev(dmt);
out:
	dm_task_destroy(dmt);
	return r;
}

/**
 * cmk_dm_reload() - replace the table of an existing cmk mapping
 * @name: dm device name
 * @len: length in 512-byte sectors
 * @t: the new table
 *
 * Loads @t as the inactive table and resumes the device, which swaps it
 * in (the kernel suspends the device first if it is not suspended).  A
 * deferred removal pending on the device is cancelled first, so that the
 * mapping stays.  The kernel looks the keys up in the calling process's
 * keyrings.
 *
 * Return: 0, -ENXIO if there is no such device, -EINVAL for a table the
 * kernel would refuse, -EIO when the kernel refused the table or the
 * resume (its reason is in the kernel log).
 */
int cmk_dm_reload(const char *name, uint64_t len, const struct cmk_table *t)
{
	char params[CMK_DM_PARAMS_MAX];
	struct dm_task *dmt;
	int r;

	r = cmk_dm_params(t, len, params);
	if (r)
		return r;
	r = cmk_dm_exists(name, NULL);
	if (r <= 0)
		return r ? r : -ENXIO;
	/* Fails harmlessly when no removal is pending. */
	cmk_dm_message(name, "@cancel_deferred_remove");

	dmt = dm_task_create(DM_DEVICE_RELOAD);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	r = -ENOMEM;
	if (!dm_task_set_name(dmt, name) ||
	    !dm_task_add_target(dmt, 0, len, CMK_TARGET_NAME, params))
		goto out;
	r = dm_task_run(dmt) ? 0 : -EIO;
	dm_task_destroy(dmt);
	if (r)
		return r;

	/*
	 * The resume swaps the tables.  It must not freeze a filesystem on
	 * the device first: the old table may be failing every I/O (a lease
	 * lapse), and a freeze would then fail or wait on it.
	 */
	dmt = dm_task_create(DM_DEVICE_RESUME);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	r = -ENOMEM;
	if (!dm_task_set_name(dmt, name) || !dm_task_skip_lockfs(dmt))
		goto out;
	r = cmk_dm_run_udev(dmt);
out:
	dm_task_destroy(dmt);
	return r;
}

/**
 * cmk_dm_remove() - remove a mapping
 * @name: dm device name
 * @deferred: if it is open, remove it once the last opener closes it
 *
 * Return: 0, -ENXIO if there is no such device, or -EBUSY / -EIO.
 */
int cmk_dm_remove(const char *name, bool deferred)
{
	int32_t open_count = 0;
	struct dm_task *dmt;
	int r;

	r = cmk_dm_exists(name, &open_count);
	if (r <= 0)
		return r ? r : -ENXIO;
	if (open_count && !deferred)
		return -EBUSY;

	dmt = dm_task_create(DM_DEVICE_REMOVE);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	r = -ENOMEM;
	if (!dm_task_set_name(dmt, name) ||
	    (deferred && !dm_task_deferred_remove(dmt)))
		goto out;
	dm_task_retry_remove(dmt);
	r = cmk_dm_run_udev(dmt);
out:
	dm_task_destroy(dmt);
	return r;
}

/**
 * cmk_dm_info() - look a mapping up by name or by dm uuid
 * @name: dm device name, or %NULL to look it up by @dm_uuid
 * @dm_uuid: dm uuid (e.g. "CMK-<uuid>"), used when @name is %NULL
 * @m: when it exists, filled in with its name, dm uuid, open count and
 *	read-only flag (may be %NULL)
 *
 * Return: 1 if it exists, 0 if not, or a negative errno
 * (CMK_DM_UNAVAILABLE without device-mapper).
 */
int cmk_dm_info(const char *name, const char *dm_uuid, struct cmk_mapping *m)
{
	struct dm_task *dmt;
	struct dm_info info;
	const char *s;
	int r;

	dmt = dm_task_create(DM_DEVICE_INFO);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	r = -EIO;
	if (!(name ? dm_task_set_name(dmt, name) :
	      dm_task_set_uuid(dmt, dm_uuid)) || !dm_task_run(dmt) ||
	    !dm_task_get_info(dmt, &info))
		goto out;
	r = info.exists ? 1 : 0;
	if (r && m) {
		s = dm_task_get_name(dmt);
		snprintf(m->name, sizeof(m->name), "%s", s ? s : "?");
		s = dm_task_get_uuid(dmt);
		snprintf(m->dm_uuid, sizeof(m->dm_uuid), "%s", s ? s : "");
		m->open_count = info.open_count;
		m->read_only = info.read_only;
	}
out:
	dm_task_destroy(dmt);
	return r;
}

/**
 * cmk_dm_exists() - does a mapping exist?
 * @name: dm device name
 * @open_count: set to its open count when it exists (may be %NULL)
 *
 * Return: 1 if it exists, 0 if not, or a negative errno.
 */
int cmk_dm_exists(const char *name, int32_t *open_count)
{
	struct cmk_mapping m;
	int r = cmk_dm_info(name, NULL, &m);

	if (r > 0 && open_count)
		*open_count = m.open_count;
	return r;
}

/*
 * The single target line of a mapping: STATUS or TABLE.  Refuses a mapping
 * that is not one cmk target covering the device.
 */
static int cmk_dm_target_line(const char *name, int task, char *buf,
			      size_t size, uint64_t *len)
{
	char *type = NULL, *params = NULL;
	uint64_t start, length;
	struct dm_task *dmt;
	struct dm_info info;
	void *next;
	int r;

	dmt = dm_task_create(task);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	/* libdevmapper reports a missing device as success, !info.exists. */
	r = -ENXIO;
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt) ||
	    !dm_task_get_info(dmt, &info) || !info.exists)
		goto out;
	next = dm_get_next_target(dmt, NULL, &start, &length, &type, &params);
	r = -EMEDIUMTYPE;
	if (next || start || !type || strcmp(type, CMK_TARGET_NAME) || !params)
		goto out;
	r = -ENOSPC;
	if (snprintf(buf, size, "%s", params) >= (int)size)
		goto out;
	if (len)
		*len = length;
	r = 0;
out:
	dm_task_destroy(dmt);
	return r;
}

/**
 * cmk_dm_status() - parsed status of a cmk mapping
 * @name: dm device name
 * @st: filled in
 *
 * Return: 0, -ENXIO (no such device), -EMEDIUMTYPE (not a cmk mapping),
 * or -EINVAL (unparsable status).
 */
int cmk_dm_status(const char *name, struct cmk_status *st)
{
	char line[256];
	int r;

	r = cmk_dm_target_line(name, DM_DEVICE_STATUS, line, sizeof(line), NULL);
	return r ? r : cmk_status_parse(line, st);
}

/**
 * cmk_dm_table() - parsed table of a cmk mapping
 * @name: dm device name
 * @t: filled in (the device as major:minor)
 * @len: set to the mapping's length in sectors
 *
 * Return: 0 or a negative errno as for cmk_dm_status().
 */
int cmk_dm_table(const char *name, struct cmk_table *t, uint64_t *len)
{
	char line[CMK_DM_PARAMS_MAX];
	int r;

	r = cmk_dm_target_line(name, DM_DEVICE_TABLE, line, sizeof(line), len);
	return r ? r : cmk_table_parse(line, t);
}

/**
 * cmk_dm_message() - send a message to the cmk target of a mapping
 * @name: dm device name
 * @msg: e.g. "key wipe" or "key set all"
 *
 * Return: 0, or -EIO when the target refused it.
 */
int cmk_dm_message(const char *name, const char *msg)
{
	struct dm_task *dmt;
	int r = -ENOMEM;

	dmt = dm_task_create(DM_DEVICE_TARGET_MSG);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	if (!dm_task_set_name(dmt, name) || !dm_task_set_sector(dmt, 0) ||
	    !dm_task_set_message(dmt, msg))
		goto out;
	r = dm_task_run(dmt) ? 0 : -EIO;
out:
	dm_task_destroy(dmt);
	return r;
}

/**
 * cmk_dm_suspend() - suspend or resume a mapping
 * @name: dm device name
 * @suspend: true to suspend, false to resume
 *
 * Return: 0, or -EIO (a resume the target refuses, e.g. keys missing).
 */
int cmk_dm_suspend(const char *name, bool suspend)
{
	struct dm_task *dmt;
	int r = -ENOMEM;

	dmt = dm_task_create(suspend ? DM_DEVICE_SUSPEND : DM_DEVICE_RESUME);
	if (!dmt)
		return CMK_DM_UNAVAILABLE;
	if (!dm_task_set_name(dmt, name))
		goto out;
	r = suspend ? (dm_task_run(dmt) ? 0 : -EIO) : cmk_dm_run_udev(dmt);
out:
	dm_task_destroy(dmt);
	return r;
}
