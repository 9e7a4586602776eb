// SPDX-License-Identifier: GPL-2.0
/*
 * dm-cmk: keys.  Each extent's DEK comes from a "logon" key in the kernel
 * keyring, read once into the extent's transform; the target never keeps a
 * copy of the key bytes elsewhere.  An optional lease key bounds how long the
 * target may keep its keys: once it expires, is revoked, invalidated or
 * unlinked from every keyring, all keys are wiped and I/O fails.
 */

#include <linux/ctype.h>
#include <linux/key.h>
#include <linux/key-type.h>
#include <linux/xarray.h>
#include <keys/user-type.h>

#include "dm-cmk.h"

#define CMK_LEASE_POLL	msecs_to_jiffies(CMK_LEASE_POLL_MS)

/* Description of extent @extent's key, in a buffer of CMK_KEY_DESC_MAX. */
#define CMK_KEY_DESC_MAX	(CMK_KEY_PREFIX_MAX + 11)

/*
 * References that cmk targets hold on lease keys, by key serial.  A lease
 * key is "unlinked" once every reference to it is one of these: no keyring
 * links it any more and nobody else uses it.  Several targets, or a loaded
 * but inactive table, may share one lease key.
 */
static DEFINE_MUTEX(cmk_lease_holders_lock);
static DEFINE_XARRAY(cmk_lease_holders);

static const char *const cmk_reason_names[] = {
	[CMK_REASON_NONE]		= "-",
	[CMK_REASON_WIPED]		= "wiped",
	[CMK_REASON_LEASE_EXPIRED]	= "lease_expired",
	[CMK_REASON_LEASE_REVOKED]	= "lease_revoked",
	[CMK_REASON_LEASE_INVALIDATED]	= "lease_invalidated",
	[CMK_REASON_LEASE_UNLINKED]	= "lease_unlinked",
	[CMK_REASON_NO_KEY]		= "no_key",
};

/**
 * cmk_reason_name() - status token of a reason
 * @reason: the reason
 *
 * Context: any.
 * Return: a static string.
 */
const char *cmk_reason_name(enum cmk_reason reason)
{
	if (reason >= ARRAY_SIZE(cmk_reason_names))
		return "unknown";
	return cmk_reason_names[reason];
}

/**
 * cmk_key_desc_valid() - may this be a key description or prefix?
 * @desc: the string from the table
 *
 * logon keys need "<subsystem>:<name>" with a non-empty subsystem; dm
 * splits tables on blanks, and a description must print back as it was
 * given, so only printable characters without spaces are accepted.
 *
 * Context: any.
 * Return: true if acceptable.
 */
bool cmk_key_desc_valid(const char *desc)
{
	const char *colon = strchr(desc, ':');
	const char *p;

	if (!colon || colon == desc || strlen(desc) > CMK_KEY_PREFIX_MAX)
		return false;
	for (p = desc; *p; p++)
		if (!isgraph(*p) || *p == '\\')
			return false;
	return true;
}

/*
 * Look up a logon key the way dm-crypt's crypt_set_keyring_key() does, and
 * tell a user key of the same name apart from a missing one: only logon keys
 * are accepted, since their payload cannot be read back from userspace.
 */
static struct key *cmk_request_logon(const char *desc, char **error)
{
	struct key *key;

	key = request_key(&key_type_logon, desc, NULL);
	if (!IS_ERR(key))
		return key;

	switch (PTR_ERR(key)) {
	case -ENOKEY: {
		struct key *other = request_key(&key_type_user, desc, NULL);

		if (!IS_ERR(other)) {
			key_put(other);
			*error = "Key is not a logon key";
			return ERR_PTR(-EINVAL);
		}
		/* request_key() skips expired keys: they are not found. */
		*error = "Key not found";
		break;
	}
	case -EKEYREVOKED:
		*error = "Key revoked";
		break;
	case -EACCES:
		*error = "Key not accessible";
		break;
	default:
		*error = "Key lookup failed";
		break;
	}
	return key;
}

/* Extent @extent's key, referenced, or an ERR_PTR() with @error set. */
static struct key *cmk_key_lookup(struct cmk_c *cc, unsigned int extent,
				  char **error)
{
	char desc[CMK_KEY_DESC_MAX];
	struct key *key;

	snprintf(desc, sizeof(desc), "%s%u", cc->key_prefix, extent);
	key = cmk_request_logon(desc, error);
	if (IS_ERR(key))
		DMERR("%s: extent %u: key %s: %s",
		      dm_table_device_name(cc->ti->table), extent, desc, *error);
	return key;
}

/*
 * A new transform keyed with @key's payload, read under its semaphore and
 * never copied; or an ERR_PTR() with @error set.  The caller holds
 * cmk_c::key_lock unless cmk_c::cipher_driver is already set.
 */
static struct crypto_skcipher *cmk_key_tfm(struct cmk_c *cc,
					   unsigned int extent,
					   struct key *key, char **error)
{
	const struct user_key_payload *ukp;
	struct crypto_skcipher *tfm;

	down_read(&key->sem);
	ukp = user_key_payload_locked(key);
	if (!ukp) {
		*error = "Key revoked";
		tfm = ERR_PTR(-EKEYREVOKED);
	} else if (ukp->datalen != CMK_DEK_SIZE) {
		*error = "Key has the wrong size";
		tfm = ERR_PTR(-EINVAL);
		DMERR("%s: extent %u: key %s has %u bytes, expected %u",
		      dm_table_device_name(cc->ti->table), extent,
		      key->description, ukp->datalen, CMK_DEK_SIZE);
	} else {
		tfm = cmk_tfm_alloc(cc, ukp->data, ukp->datalen);
		if (IS_ERR(tfm))
			*error = "Cannot allocate or key the cipher";
	}
	if (IS_ERR(tfm) && ukp && ukp->datalen == CMK_DEK_SIZE)
		DMERR("%s: extent %u: key %s: %s (error %ld)",
		      dm_table_device_name(cc->ti->table), extent,
		      key->description, *error, PTR_ERR(tfm));
	else if (!ukp)
		DMERR("%s: extent %u: key %s: %s",
		      dm_table_device_name(cc->ti->table), extent,
		      key->description, *error);
	up_read(&key->sem);
	return tfm;
}

/*
 * cmk_key_load() with the old transform, if any, handed to the caller in
 * *@old (to free after one SRCU grace period) instead of freed here.
 */
static int cmk_key_swap(struct cmk_c *cc, unsigned int extent,
			struct crypto_skcipher **old, char **error)
{
	struct crypto_skcipher *tfm;
	struct key *key;

	*old = NULL;
	key = cmk_key_lookup(cc, extent, error);
	if (IS_ERR(key))
		return PTR_ERR(key);

	mutex_lock(&cc->key_lock);
	tfm = cmk_key_tfm(cc, extent, key, error);
	mutex_unlock(&cc->key_lock);
	key_put(key);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);

	mutex_lock(&cc->key_lock);
	if (test_bit(CMK_F_LAPSED, &cc->flags)) {
		mutex_unlock(&cc->key_lock);
		cmk_tfm_free(tfm);
		*error = "Lease lapsed; load a new table";
		return -EKEYEXPIRED;
	}
	*old = xchg(&cc->extents[extent].tfm, tfm);
	if (!*old)
		atomic_inc(&cc->nr_keyed);
	mutex_unlock(&cc->key_lock);
	return 0;
}

/**
 * cmk_key_load() - give an extent its key from the keyring
 * @cc: the target
 * @extent: extent index
 * @error: set to a static message on failure
 *
 * Reads the logon key "<key_prefix><extent>" under its semaphore, checks its
 * length and sets it into a new transform; the payload is never copied.  An
 * existing key of the extent is replaced once no I/O uses it any more.
 *
 * Context: process context, may sleep; takes cmk_c::key_lock.
 * Return: 0 or a negative errno, with @error set.
 */
int cmk_key_load(struct cmk_c *cc, unsigned int extent, char **error)
{
	struct crypto_skcipher *old;
	int r;

	r = cmk_key_swap(cc, extent, &old, error);
	if (old) {
		synchronize_srcu(&cc->key_srcu);
		cmk_tfm_free(old);
	}
	return r;
}

/* cmk_key_load() extents @first to @end - 1, stopping at the first error. */
static int cmk_keys_load_range(struct cmk_c *cc, unsigned int first,
			       unsigned int end, char **error)
{
	unsigned int i;
	int r;

	for (i = first; i < end; i++) {
		r = cmk_key_load(cc, i, error);
		if (r)
			return r;
		cond_resched();
	}
	return 0;
}

/**
 * cmk_keys_load_all() - (re)key every extent
 * @cc: the target
 * @error: set to a static message on failure
 *
 * The transforms replaced are freed together after one SRCU grace period,
 * not one per extent.
 *
 * Context: process context, may sleep.
 * Return: 0 or the first failure's negative errno, with @error set.
 */
int cmk_keys_load_all(struct cmk_c *cc, char **error)
{
	struct crypto_skcipher **old;
	unsigned int i;
	int r = 0;

	old = kvcalloc(cc->nr_extents, sizeof(*old), GFP_KERNEL);
	if (!old)
		return cmk_keys_load_range(cc, 0, cc->nr_extents, error);
	for (i = 0; i < cc->nr_extents; i++) {
		r = cmk_key_swap(cc, i, &old[i], error);
		if (r)
			break;
		cond_resched();
	}
	/* Slots not reached are still NULL (kvcalloc()). */
	synchronize_srcu(&cc->key_srcu);
	for (i = 0; i < cc->nr_extents; i++) {
		cmk_tfm_free(old[i]);
		cond_resched();
	}
	kvfree(old);
	return r;
}

/**
 * struct cmk_loader - keys a range of extents of a new target
 * @work: runs cmk_loader_run() on the target's workqueue
 * @cc: the target
 * @keys: the extents' keys, looked up by the constructor
 * @first: first extent of the range
 * @end: one past its last extent
 * @error: static message, if @r
 * @r: 0 or a negative errno
 */
struct cmk_loader {
	struct work_struct work;
	struct cmk_c *cc;
	struct key **keys;
	unsigned int first;
	unsigned int end;
	char *error;
	int r;
};

static void cmk_loader_run(struct cmk_loader *ld)
{
	struct crypto_skcipher *tfm;
	unsigned int i;

	for (i = ld->first; i < ld->end; i++) {
		tfm = cmk_key_tfm(ld->cc, i, ld->keys[i], &ld->error);
		if (IS_ERR(tfm)) {
			ld->r = PTR_ERR(tfm);
			return;
		}
		/* A new target: no I/O, no lease check and no other writer. */
		ld->cc->extents[i].tfm = tfm;
		cond_resched();
	}
}

static void cmk_loader_work(struct work_struct *work)
{
	cmk_loader_run(container_of(work, struct cmk_loader, work));
}

/*
 * Key extents 1.. of a new target from @keys: the transforms are allocated
 * and keyed on every CPU at once (%CMK_PIECES_MAX at most), which is most
 * of a large table's load time.  Returns 0 or the first failure's errno.
 */
static int cmk_keys_init_parallel(struct cmk_c *cc, struct key **keys,
				  unsigned int nr, char **error)
{
	unsigned int range = cc->nr_extents - 1, i;
	struct cmk_loader *ld;
	int r = 0;

	ld = kcalloc(nr, sizeof(*ld), GFP_KERNEL);
	if (!ld) {
		*error = "Cannot allocate key loaders";
		return -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		ld[i].cc = cc;
		ld[i].keys = keys;
		ld[i].first = 1 + i * range / nr;	/* < 2^22 */
		ld[i].end = 1 + (i + 1) * range / nr;
		if (i) {
			INIT_WORK(&ld[i].work, cmk_loader_work);
			queue_work(cc->wq, &ld[i].work);
		}
	}
	cmk_loader_run(&ld[0]);
	for (i = 1; i < nr; i++)
		flush_work(&ld[i].work);

	/* The lowest failing extent: each loader stops at its first. */
	for (i = 0; i < nr && !r; i++) {
		r = ld[i].r;
		if (r)
			*error = ld[i].error;
	}
	kfree(ld);
	return r;
}

/**
 * cmk_keys_init() - key every extent of a new target
 * @cc: the target, being constructed
 * @error: set to a static message on failure
 *
 * Extent 0 is keyed first and picks the cipher driver.  The other extents'
 * keys are looked up here, in the caller's context (request_key() searches
 * the caller's keyrings); their transforms are then built in parallel when
 * there are many.  On failure the transforms built so far stay for the
 * destructor to free.
 *
 * Context: process context, may sleep; from the constructor only.
 * Return: 0 or the first failure's negative errno, with @error set.
 */
int cmk_keys_init(struct cmk_c *cc, char **error)
{
	unsigned int nr = min(num_online_cpus(), CMK_PIECES_MAX);
	struct key **keys;
	unsigned int i;
	int r;

	r = cmk_key_load(cc, 0, error);
	if (r)
		return r;
	if (nr < 2 || cc->nr_extents < CMK_PARALLEL_KEYS_MIN)
		return cmk_keys_load_range(cc, 1, cc->nr_extents, error);

	keys = kvcalloc(cc->nr_extents, sizeof(*keys), GFP_KERNEL);
	if (!keys) {
		*error = "Cannot allocate key table";
		return -ENOMEM;
	}
	for (i = 1; i < cc->nr_extents; i++) {
		keys[i] = cmk_key_lookup(cc, i, error);
		if (IS_ERR(keys[i])) {
			r = PTR_ERR(keys[i]);
			keys[i] = NULL;
			goto out;
		}
		cond_resched();
	}

	r = cmk_keys_init_parallel(cc, keys, nr, error);
	if (!r)
		atomic_set(&cc->nr_keyed, cc->nr_extents);
out:
	for (i = 1; i < cc->nr_extents; i++)
		if (keys[i])
			key_put(keys[i]);
	kvfree(keys);
	return r;
}

/**
 * cmk_keys_free() - free every extent's transform
 * @cc: the target, with no I/O in flight
 *
 * Context: process context, may sleep; caller holds cmk_c::key_lock or is
 * the destructor.
 */
void cmk_keys_free(struct cmk_c *cc)
{
	unsigned int i;

	if (!cc->extents)
		return;
	for (i = 0; i < cc->nr_extents; i++) {
		cmk_tfm_free(xchg(&cc->extents[i].tfm, NULL));
		cond_resched();
	}
	atomic_set(&cc->nr_keyed, 0);
}

/*
 * Every cmk target, with its mapped device: a "key wipe" sent to a
 * device's live table wipes the keys of a table loaded into it and not yet
 * resumed too, so that no resume brings the keys back.
 */
static DEFINE_MUTEX(cmk_targets_lock);
static LIST_HEAD(cmk_targets);

/**
 * cmk_target_register() - list a target being constructed
 * @cc: the target
 *
 * Before its keys are loaded, so that a wipe of its device during the load
 * is seen (cmk_ctr() fails then).
 *
 * Context: process context, may sleep.
 */
void cmk_target_register(struct cmk_c *cc)
{
	cc->md = dm_table_get_md(cc->ti->table);
	mutex_lock(&cmk_targets_lock);
	list_add(&cc->node, &cmk_targets);
	mutex_unlock(&cmk_targets_lock);
}

/**
 * cmk_target_unregister() - take a target off the list
 * @cc: the target; tolerates one never registered
 *
 * Context: process context, may sleep.
 */
void cmk_target_unregister(struct cmk_c *cc)
{
	if (!cc->md)
		return;
	mutex_lock(&cmk_targets_lock);
	list_del(&cc->node);
	mutex_unlock(&cmk_targets_lock);
	cc->md = NULL;
}

/**
 * cmk_keys_wipe_device() - "key wipe": every key of the device, now
 * @cc: the target that got the message (the live table's)
 *
 * Wipes @cc, then every other cmk target of the same mapped device: an
 * inactive table loaded with "dmsetup reload" loses its keys too, and its
 * resume is refused for want of them.
 *
 * Context: process context, may sleep.
 */
void cmk_keys_wipe_device(struct cmk_c *cc)
{
	struct cmk_c *o;

	cmk_keys_wipe(cc, CMK_REASON_WIPED);
	mutex_lock(&cmk_targets_lock);
	list_for_each_entry(o, &cmk_targets, node)
		if (o != cc && o->md == cc->md)
			cmk_keys_wipe(o, CMK_REASON_WIPED);
	mutex_unlock(&cmk_targets_lock);
}

/**
 * cmk_keys_wipe() - wipe every key and fail all I/O from now on
 * @cc: the target
 * @reason: why; a lease reason makes it permanent for this table
 *
 * Marks the target dead first, waits for the I/O that is using a key to
 * finish with it, then frees (and so wipes) every transform.  Safe while
 * I/O is running.
 *
 * Context: process context, may sleep; takes cmk_c::key_lock.
 */
void cmk_keys_wipe(struct cmk_c *cc, enum cmk_reason reason)
{
	mutex_lock(&cc->key_lock);
	if (test_bit(CMK_F_LAPSED, &cc->flags)) {
		mutex_unlock(&cc->key_lock);
		return;
	}
	if (reason != CMK_REASON_WIPED)
		set_bit(CMK_F_LAPSED, &cc->flags);
	set_bit(CMK_F_DEAD, &cc->flags);
	WRITE_ONCE(cc->reason, reason);
	synchronize_srcu(&cc->key_srcu);
	cmk_keys_free(cc);
	mutex_unlock(&cc->key_lock);

	if (reason == CMK_REASON_WIPED)
		DMINFO("%s: keys wiped", dm_table_device_name(cc->ti->table));
	else
		DMWARN("%s: lease key %s: %s; keys wiped, I/O fails until a new table is loaded",
		       dm_table_device_name(cc->ti->table), cc->lease_desc,
		       cmk_reason_name(reason));
	dm_table_event(cc->ti->table);
}

/**
 * cmk_lease_reason() - is the lease still valid?
 * @cc: the target
 * @deep: also check that the key is still linked somewhere
 *
 * A lease is valid while its key is neither expired, revoked nor
 * invalidated and, checked only when @deep, while something other than cmk
 * targets holds it: a keyring link or a user.  The cheap checks run on
 * every bio, the deep one in the periodic check.
 *
 * Context: any.
 * Return: %CMK_REASON_NONE while valid (or without a lease), else why not.
 */
enum cmk_reason cmk_lease_reason(struct cmk_c *cc, bool deep)
{
	unsigned long held;

	if (!cc->lease)
		return CMK_REASON_NONE;

	switch (key_validate(cc->lease)) {
	case 0:
		break;
	case -EKEYEXPIRED:
		return CMK_REASON_LEASE_EXPIRED;
	case -EKEYREVOKED:
		return CMK_REASON_LEASE_REVOKED;
	default:
		return CMK_REASON_LEASE_INVALIDATED;
	}
	if (!deep)
		return CMK_REASON_NONE;

	held = xa_to_value(xa_load(&cmk_lease_holders, cc->lease->serial));
	if (refcount_read(&cc->lease->usage) <= held)
		return CMK_REASON_LEASE_UNLINKED;
	return CMK_REASON_NONE;
}

/**
 * cmk_lease_seconds_left() - time left on the lease
 * @cc: the target
 *
 * Context: any.
 * Return: seconds before the lease key expires (0 once lapsed), -1 without
 * a lease, -2 for a lease key that has no timeout.
 */
long long cmk_lease_seconds_left(struct cmk_c *cc)
{
	time64_t expiry, now;

	if (!cc->lease)
		return -1;
	if (test_bit(CMK_F_LAPSED, &cc->flags))
		return 0;
	/* Keys without a timeout have expiry 0 or, since 6.9 and in
	 * stable kernels that took the fix, TIME64_MAX.
	 */
	expiry = READ_ONCE(cc->lease->expiry);
	if (!expiry || expiry == TIME64_MAX)
		return -2;
	now = ktime_get_real_seconds();
	return expiry > now ? expiry - now : 0;
}

static void cmk_lease_work(struct work_struct *work)
{
	struct cmk_c *cc = container_of(to_delayed_work(work), struct cmk_c,
					lease_work);
	enum cmk_reason reason = cmk_lease_reason(cc, true);

	if (reason != CMK_REASON_NONE) {
		cmk_keys_wipe(cc, reason);
		return;
	}
	queue_delayed_work(cc->wq, &cc->lease_work, CMK_LEASE_POLL);
}

/**
 * cmk_lease_init() - take a reference on the lease key
 * @cc: the target
 * @desc: description of a logon or user key
 * @error: set to a static message on failure
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno, with @error set.
 */
int cmk_lease_init(struct cmk_c *cc, const char *desc, char **error)
{
	unsigned long held;
	struct key *key;
	int r;

	INIT_DELAYED_WORK(&cc->lease_work, cmk_lease_work);

	cc->lease_desc = kstrdup(desc, GFP_KERNEL);
	if (!cc->lease_desc) {
		*error = "Cannot allocate lease description";
		return -ENOMEM;
	}

	key = request_key(&key_type_logon, desc, NULL);
	if (IS_ERR(key) && PTR_ERR(key) == -ENOKEY)
		key = request_key(&key_type_user, desc, NULL);
	if (IS_ERR(key)) {
		switch (PTR_ERR(key)) {
		case -ENOKEY:
			/* Expired keys are skipped by request_key(). */
			*error = "Lease key not found";
			break;
		case -EKEYREVOKED:
			*error = "Lease key revoked";
			break;
		default:
			*error = "Lease key lookup failed";
			break;
		}
		DMERR("%s: lease key %s: %s",
		      dm_table_device_name(cc->ti->table), desc, *error);
		return PTR_ERR(key);
	}

	mutex_lock(&cmk_lease_holders_lock);
	held = xa_to_value(xa_load(&cmk_lease_holders, key->serial));
	r = xa_err(xa_store(&cmk_lease_holders, key->serial,
			    xa_mk_value(held + 1), GFP_KERNEL));
	mutex_unlock(&cmk_lease_holders_lock);
	if (r) {
		key_put(key);
		*error = "Cannot record the lease key";
		return r;
	}
	cc->lease = key;
	return 0;
}

/**
 * cmk_lease_start() - start checking the lease
 * @cc: the target
 *
 * Context: any.
 */
void cmk_lease_start(struct cmk_c *cc)
{
	if (cc->lease)
		queue_delayed_work(cc->wq, &cc->lease_work, CMK_LEASE_POLL);
}

/**
 * cmk_lease_exit() - stop checking the lease and drop the key
 * @cc: the target; tolerates a partly initialised one
 *
 * Context: process context, may sleep.
 */
void cmk_lease_exit(struct cmk_c *cc)
{
	unsigned long held;

	if (cc->lease) {
		cancel_delayed_work_sync(&cc->lease_work);
		mutex_lock(&cmk_lease_holders_lock);
		held = xa_to_value(xa_load(&cmk_lease_holders,
					   cc->lease->serial));
		if (held > 1)
			xa_store(&cmk_lease_holders, cc->lease->serial,
				 xa_mk_value(held - 1), GFP_KERNEL);
		else
			xa_erase(&cmk_lease_holders, cc->lease->serial);
		mutex_unlock(&cmk_lease_holders_lock);
		key_put(cc->lease);
		cc->lease = NULL;
	}
	kfree(cc->lease_desc);
	cc->lease_desc = NULL;
}
