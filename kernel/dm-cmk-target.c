// SPDX-License-Identifier: GPL-2.0
/*
 * dm-cmk: device-mapper target that encrypts a block device with
 * AES-256-XTS, a separate data encryption key per extent, the keys coming
 * from the kernel keyring (customer-managed keys).
 *
 * Target glue: constructor, destructor, map, status, messages.
 */

#include <linux/module.h>
#include <linux/init.h>
#include <linux/blkdev.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/mm.h>

#include "dm-cmk.h"

static int cmk_parse_features(struct dm_arg_set *as, struct cmk_c *cc,
			      struct dm_target *ti)
{
	static const struct dm_arg _args[] = {
		{0, 8, "Invalid number of feature args"},
	};
	unsigned int argc;
	const char *arg;
	int r;

	if (!as->argc)
		return 0;

	r = dm_read_arg_group(_args, as, &argc, &ti->error);
	if (r)
		return r;

	while (argc) {
		arg = dm_shift_arg(as);
		argc--;

		if (!strcasecmp(arg, "allow_discards")) {
			if (test_and_set_bit(CMK_F_ALLOW_DISCARDS, &cc->flags)) {
				ti->error = "Duplicate allow_discards feature";
				return -EINVAL;
			}
			continue;
		}

		if (!strcasecmp(arg, "lease")) {
			if (!argc) {
				ti->error = "Feature lease requires a key description";
				return -EINVAL;
			}
			arg = dm_shift_arg(as);
			argc--;
			if (cc->lease_desc) {
				ti->error = "Duplicate lease feature";
				return -EINVAL;
			}
			if (!cmk_key_desc_valid(arg)) {
				ti->error = "Invalid lease key description";
				return -EINVAL;
			}
			r = cmk_lease_init(cc, arg, &ti->error);
			if (r)
				return r;
			continue;
		}

		ti->error = "Unrecognised feature requested";
		return -EINVAL;
	}
	return 0;
}

/*
 * Check the geometry: data unit, extent size, offset and length against the
 * device, and derive the shifts and the number of extents.
 */
static int cmk_check_geometry(struct cmk_c *cc, struct dm_target *ti,
			      unsigned int extent_sectors)
{
	unsigned int unit_sectors = cc->sector_size >> SECTOR_SHIFT;
	sector_t dev_size = bdev_nr_sectors(cc->dev->bdev);
	u64 nr_extents;

	if (cc->sector_size != 512 && cc->sector_size != 4096) {
		ti->error = "Invalid data unit size (must be 512 or 4096)";
		return -EINVAL;
	}
	if (cc->sector_size < bdev_logical_block_size(cc->dev->bdev)) {
		ti->error = "Data unit smaller than the device's logical block size";
		return -EINVAL;
	}
	if (!is_power_of_2(extent_sectors)) {
		ti->error = "Extent size is not a power of two";
		return -EINVAL;
	}
	if (extent_sectors < unit_sectors) {
		ti->error = "Extent size smaller than the data unit";
		return -EINVAL;
	}
	if ((cc->start | ti->begin | ti->len) & (unit_sectors - 1)) {
		ti->error = "Offset, start or length not a multiple of the data unit";
		return -EINVAL;
	}
	if (cc->start >= dev_size || ti->len > dev_size - cc->start) {
		ti->error = "Data area extends beyond the end of the device";
		return -EINVAL;
	}

	cc->extent_shift = ilog2(extent_sectors);
	cc->sector_shift = ilog2(unit_sectors);
	nr_extents = DIV_ROUND_UP_ULL((u64)ti->len, extent_sectors);
	if (nr_extents > CMK_EXTENTS_MAX) {
		ti->error = "Too many extents (use larger extents)";
		return -EINVAL;
	}
	cc->nr_extents = nr_extents;
	return 0;
}

static void cmk_dtr(struct dm_target *ti)
{
	struct cmk_c *cc = ti->private;

	if (!cc)
		return;

	cmk_target_unregister(cc);
	cmk_lease_exit(cc);
	/*
	 * A bio's last piece leaves its SRCU read section just after it
	 * completed the bio, so possibly after the suspend that led here.
	 */
	synchronize_srcu(&cc->key_srcu);
	if (cc->crypt_wq)
		destroy_workqueue(cc->crypt_wq);
	if (cc->wq)
		destroy_workqueue(cc->wq);
	cmk_keys_free(cc);
	kvfree(cc->extents);
	cmk_crypt_exit(cc);
	cleanup_srcu_struct(&cc->key_srcu);
	if (cc->dev)
		dm_put_device(ti, cc->dev);
	kfree(cc->key_prefix);
	kfree(cc);
	ti->private = NULL;
}

/*
 * Construct an encrypted mapping:
 *
 * <dev_path> <offset> <extent_sectors> <sector_size> <key_prefix>
 *     [<#opt_params> <opt_params>]
 *
 * dev_path:       underlying device
 * offset:         first sector of the data area on dev_path
 * extent_sectors: extent size in 512-byte sectors, a power of two, at least
 *                 one data unit
 * sector_size:    data unit in bytes, 512 or 4096
 * key_prefix:     extent i's DEK is the 64-byte logon key "<key_prefix><i>"
 *
 * Optional parameters:
 *   allow_discards       pass discards to the underlying device
 *   lease <description>  wipe every key and fail I/O once this logon or
 *                        user key is expired, revoked, invalidated or
 *                        unlinked
 */
static int cmk_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	static const struct dm_arg _args[] = {
		{1, CMK_EXTENT_SECTORS_MAX, "Invalid extent size"},
		{CMK_DATA_UNIT_MIN, CMK_DATA_UNIT_MAX,
		 "Invalid data unit size (must be 512 or 4096)"},
	};
	unsigned long long tmpll;
	unsigned int extent_sectors, i;
	struct dm_arg_set as;
	struct cmk_c *cc;
	int r;

	if (argc < 5) {
		ti->error = "Not enough arguments";
		return -EINVAL;
	}

	cc = kzalloc(sizeof(*cc), GFP_KERNEL);
	if (!cc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	ti->private = cc;
	cc->ti = ti;
	mutex_init(&cc->key_lock);
	mutex_init(&cc->keyset_lock);
	INIT_LIST_HEAD(&cc->node);
	atomic_set(&cc->nr_keyed, 0);
	atomic64_set(&cc->io_errors, 0);

	r = init_srcu_struct(&cc->key_srcu);
	if (r) {
		ti->error = "Cannot allocate SRCU";
		kfree(cc);
		ti->private = NULL;
		return r;
	}

	as.argc = argc;
	as.argv = argv;

	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &cc->dev);
	if (r) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	/* kstrtoull() refuses '-', blanks and trailing characters. */
	r = -EINVAL;
	if (kstrtoull(dm_shift_arg(&as), 10, &tmpll) ||
	    tmpll != (sector_t)tmpll) {
		ti->error = "Invalid data offset";
		goto bad;
	}
	cc->start = tmpll;

	r = dm_read_arg(_args, &as, &extent_sectors, &ti->error);
	if (r)
		goto bad;
	r = dm_read_arg(_args + 1, &as, &cc->sector_size, &ti->error);
	if (r)
		goto bad;

	cc->key_prefix = kstrdup(dm_shift_arg(&as), GFP_KERNEL);
	if (!cc->key_prefix) {
		ti->error = "Cannot allocate key prefix";
		r = -ENOMEM;
		goto bad;
	}
	r = -EINVAL;
	if (strlen(cc->key_prefix) > CMK_KEY_PREFIX_MAX) {
		ti->error = "Key prefix too long";
		goto bad;
	}
	if (!cmk_key_desc_valid(cc->key_prefix)) {
		ti->error = "Invalid key prefix (must be <subsystem>:<name>, no spaces)";
		goto bad;
	}

	r = cmk_parse_features(&as, cc, ti);
	if (r)
		goto bad;
	if (as.argc) {
		ti->error = "Too many arguments";
		r = -EINVAL;
		goto bad;
	}

	r = cmk_check_geometry(cc, ti, extent_sectors);
	if (r)
		goto bad;

	cc->extents = kvcalloc(cc->nr_extents, sizeof(*cc->extents),
			       GFP_KERNEL);
	if (!cc->extents) {
		ti->error = "Cannot allocate extents";
		r = -ENOMEM;
		goto bad;
	}

	cc->wq = alloc_workqueue("kcmkd/%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0,
				 dm_table_device_name(ti->table));
	/*
	 * As many crypto work items at a time as there are CPUs: more would
	 * only take turns on them.
	 */
	cc->crypt_wq = alloc_workqueue("kcmkd_io/%s",
				       WQ_MEM_RECLAIM | WQ_UNBOUND,
				       num_online_cpus(),
				       dm_table_device_name(ti->table));
	if (!cc->wq || !cc->crypt_wq) {
		ti->error = "Cannot allocate workqueue";
		r = -ENOMEM;
		goto bad;
	}

	cmk_target_register(cc);
	r = cmk_keys_init(cc, &ti->error);
	if (r)
		goto bad;
	/* A "key wipe" of the device while this table was being loaded. */
	if (test_bit(CMK_F_DEAD, &cc->flags)) {
		ti->error = "Keys wiped while the table was loaded";
		r = -ENOKEY;
		goto bad;
	}

	/* The lease may have lapsed while the keys were loaded. */
	if (cmk_lease_reason(cc, true) != CMK_REASON_NONE) {
		ti->error = "Lease key is no longer valid";
		r = -EKEYEXPIRED;
		goto bad;
	}

	r = cmk_crypt_init(cc);
	if (r) {
		ti->error = "Cannot allocate I/O pools";
		goto bad;
	}

	cc->nr_pieces = min_t(unsigned int, num_online_cpus(),
			      CMK_PIECES_MAX);
	for (i = 0; i < ARRAY_SIZE(cc->slots); i++) {
		atomic_set(&cc->slots[i].probe, CMK_PROBE_INTERVAL);
		cc->slots[i].interval = CMK_PROBE_INTERVAL;
		cc->slots[i].busy_until = jiffies;
	}
	ti->per_io_data_size = cmk_io_size(cc);
	DMINFO("%s: %u extents of %u sectors, data unit %u, cipher %s",
	       dm_table_device_name(ti->table), cc->nr_extents,
	       1U << cc->extent_shift, cc->sector_size, cc->cipher_driver);
	ti->accounts_remapped_io = true;
	/* Swap-out writes need bounce pages: not too many at once. */
	ti->limit_swap_bios = true;
	ti->num_flush_bios = 1;
	if (test_bit(CMK_F_ALLOW_DISCARDS, &cc->flags))
		ti->num_discard_bios = 1;

	cmk_lease_start(cc);
	return 0;

bad:
	cmk_dtr(ti);
	return r;
}

/* dm fails killed bios without calling cmk_end_io(): count them here. */
static int cmk_kill(struct cmk_c *cc)
{
	atomic64_inc(&cc->io_errors);
	return DM_MAPIO_KILL;
}

static int cmk_map(struct dm_target *ti, struct bio *bio)
{
	struct cmk_c *cc = ti->private;
	struct cmk_io *io;

	if (unlikely(cmk_dead(cc)))
		return cmk_kill(cc);
	if (cc->lease &&
	    unlikely(cmk_lease_reason(cc, false) != CMK_REASON_NONE)) {
		mod_delayed_work(cc->wq, &cc->lease_work, 0);
		return cmk_kill(cc);
	}

	/* Flushes and discards carry no data to encrypt. */
	if (unlikely(bio->bi_opf & REQ_PREFLUSH ||
		     bio_op(bio) == REQ_OP_DISCARD)) {
		if (bio_op(bio) == REQ_OP_DISCARD &&
		    !test_bit(CMK_F_ALLOW_DISCARDS, &cc->flags))
			return cmk_kill(cc);
		bio_set_dev(bio, cc->dev->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector = cc->start +
				dm_target_offset(ti, bio->bi_iter.bi_sector);
		return DM_MAPIO_REMAPPED;
	}

	if (unlikely(bio_op(bio) != REQ_OP_READ &&
		     bio_op(bio) != REQ_OP_WRITE))
		return cmk_kill(cc);

	/* Whole data units only: a bio of 4097 bytes is not 8 sectors. */
	if (unlikely((bio->bi_iter.bi_sector &
		      ((cc->sector_size >> SECTOR_SHIFT) - 1)) ||
		     (bio->bi_iter.bi_size & (cc->sector_size - 1))))
		return cmk_kill(cc);

	/*
	 * At most CMK_BIO_MAX bytes: a write's bounce pages fit in the page
	 * pool, and a wipe never waits for a huge read.
	 */
	if (unlikely(bio->bi_iter.bi_size > CMK_BIO_MAX))
		dm_accept_partial_bio(bio, CMK_BIO_MAX >> SECTOR_SHIFT);

	io = cmk_io_init(cc, bio);
	if (bio_data_dir(bio) == READ)
		return cmk_map_read(cc, io);
	return cmk_map_write(cc, io);
}

static int cmk_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct cmk_c *cc = ti->private;

	/* Bios that were mapped and then failed, here or below. */
	if (*error)
		atomic64_inc(&cc->io_errors);
	return DM_ENDIO_DONE;
}

static void cmk_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct cmk_c *cc = ti->private;
	unsigned int sz = 0, nr_keyed, nr_opt;
	bool discards = test_bit(CMK_F_ALLOW_DISCARDS, &cc->flags);
	enum cmk_reason reason;
	long long left;

	switch (type) {
	case STATUSTYPE_INFO:
		nr_keyed = atomic_read(&cc->nr_keyed);
		reason = READ_ONCE(cc->reason);
		if (!cmk_dead(cc) && nr_keyed == cc->nr_extents)
			reason = CMK_REASON_NONE;
		else if (reason == CMK_REASON_NONE)
			reason = CMK_REASON_NO_KEY;
		DMEMIT("%s %u %u ", reason == CMK_REASON_NONE ?
		       CMK_STATE_AVAILABLE : CMK_STATE_INACCESSIBLE,
		       cc->nr_extents, nr_keyed);
		left = cmk_lease_seconds_left(cc);
		if (left == -1)
			DMEMIT("-");
		else if (left == -2)
			DMEMIT("inf");
		else
			DMEMIT("%lld", left);
		DMEMIT(" %lld %s", (long long)atomic64_read(&cc->io_errors),
		       cmk_reason_name(reason));
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu %u %u %s", cc->dev->name,
		       (unsigned long long)cc->start, 1U << cc->extent_shift,
		       cc->sector_size, cc->key_prefix);
		nr_opt = discards + (cc->lease_desc ? 2 : 0);
		if (nr_opt) {
			DMEMIT(" %u", nr_opt);
			if (discards)
				DMEMIT(" allow_discards");
			if (cc->lease_desc)
				DMEMIT(" lease %s", cc->lease_desc);
		}
		break;

	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",extent_sectors=%u,sector_size=%u,nr_extents=%u",
		       1U << cc->extent_shift, cc->sector_size, cc->nr_extents);
		DMEMIT(",allow_discards=%c,lease=%c;", discards ? 'y' : 'n',
		       cc->lease ? 'y' : 'n');
		break;
	}
}

/*
 * Messages:
 *   key wipe                 wipe every key now; all I/O fails with EIO
 *   key set <extent>|all     (suspended) reload keys from the keyring
 */
static int cmk_message(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct cmk_c *cc = ti->private;
	unsigned int extent;
	char *error = NULL;
	int r;

	if (argc < 2 || strcasecmp(argv[0], "key"))
		goto bad;

	if (!strcasecmp(argv[1], "wipe")) {
		if (argc != 2)
			goto bad;
		cmk_keys_wipe_device(cc);
		return 0;
	}

	if (!strcasecmp(argv[1], "set")) {
		if (argc != 3)
			goto bad;
		if (!dm_suspended(ti)) {
			DMWARN("key set: suspend the device first");
			return -EINVAL;
		}
		/* kstrtouint(): 4294967296 is an error, not extent 0. */
		if (strcasecmp(argv[2], "all") &&
		    (kstrtouint(argv[2], 10, &extent) ||
		     extent >= cc->nr_extents)) {
			DMWARN("key set: invalid extent %s (device has %u)",
			       argv[2], cc->nr_extents);
			return -EINVAL;
		}
		/* No resume between the first key and the last. */
		mutex_lock(&cc->keyset_lock);
		if (!strcasecmp(argv[2], "all"))
			r = cmk_keys_load_all(cc, &error);
		else
			r = cmk_key_load(cc, extent, &error);
		mutex_unlock(&cc->keyset_lock);
		if (r)
			DMWARN("key set %s: %s", argv[2], error);
		return r;
	}

bad:
	DMWARN("unrecognised message received");
	return -EINVAL;
}

static int cmk_preresume(struct dm_target *ti)
{
	struct cmk_c *cc = ti->private;
	int r = 0;

	mutex_lock(&cc->keyset_lock);
	mutex_lock(&cc->key_lock);
	if (test_bit(CMK_F_LAPSED, &cc->flags)) {
		DMERR("%s: lease lapsed; load a new table",
		      dm_table_device_name(ti->table));
		r = -EKEYEXPIRED;
	} else if (atomic_read(&cc->nr_keyed) != cc->nr_extents) {
		DMERR("%s: %u of %u extents have no key; use \"key set\"",
		      dm_table_device_name(ti->table),
		      cc->nr_extents - atomic_read(&cc->nr_keyed),
		      cc->nr_extents);
		r = -ENOKEY;
	} else {
		WRITE_ONCE(cc->reason, CMK_REASON_NONE);
		clear_bit(CMK_F_DEAD, &cc->flags);
	}
	mutex_unlock(&cc->key_lock);
	mutex_unlock(&cc->keyset_lock);
	return r;
}

static int cmk_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct cmk_c *cc = ti->private;

	return fn(ti, cc->dev, cc->start, ti->len, data);
}

static void cmk_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct cmk_c *cc = ti->private;

	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size,
					   cc->sector_size);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size,
					    cc->sector_size);
	limits->io_min = max_t(unsigned int, limits->io_min, cc->sector_size);
	/*
	 * A data unit must never straddle a page; reads land in the caller's
	 * pages, so keep any stricter alignment the device below needs.
	 */
	limits->dma_alignment = max_t(unsigned int, limits->dma_alignment,
				      limits->logical_block_size - 1);
}

static struct target_type cmk_target = {
	.name		 = CMK_TARGET_NAME,
	.version	 = {1, 2, 0},
	.module		 = THIS_MODULE,
	.ctr		 = cmk_ctr,
	.dtr		 = cmk_dtr,
	.map		 = cmk_map,
	.end_io		 = cmk_end_io,
	.status		 = cmk_status,
	.message	 = cmk_message,
	.preresume	 = cmk_preresume,
	.iterate_devices = cmk_iterate_devices,
	.io_hints	 = cmk_io_hints,
};

static int __init dm_cmk_init(void)
{
	int r;

	r = cmk_crypt_module_init();
	if (r) {
		DMERR("cannot register the page stash shrinker: %d", r);
		return r;
	}
	r = dm_register_target(&cmk_target);
	if (r < 0) {
		DMERR("register failed %d", r);
		cmk_crypt_module_exit();
	}
	return r;
}

static void __exit dm_cmk_exit(void)
{
	dm_unregister_target(&cmk_target);
	cmk_crypt_module_exit();
}

module_init(dm_cmk_init);
module_exit(dm_cmk_exit);

MODULE_DESCRIPTION(DM_NAME " per-extent encryption with customer-managed keys");
MODULE_AUTHOR("dm-cmk developers");
MODULE_LICENSE("GPL");
