/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-cmk: per-extent AES-256-XTS encryption with keys from the kernel
 * keyring, for customer-managed keys.  Private definitions.
 */
#ifndef DM_CMK_H
#define DM_CMK_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/key.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/percpu_counter.h>
#include <linux/scatterlist.h>
#include <linux/srcu.h>
#include <linux/workqueue.h>
#include <crypto/skcipher.h>

#include "dm-cmk-abi.h"

#define DM_MSG_PREFIX CMK_TARGET_NAME

/* The skcipher every extent uses; the tweak is dm-crypt's plain64. */
#define CMK_CIPHER		"xts(aes)"
#define CMK_IV_SIZE		16

/* Bits of cmk_c::flags. */
enum cmk_flag {
	CMK_F_ALLOW_DISCARDS,	/* pass discards down */
	CMK_F_DEAD,		/* keys wiped: every I/O fails with EIO */
	CMK_F_LAPSED,		/* the lease ran out; only a new table helps */
};

/* Why a device is inaccessible (cmk_c::reason). */
enum cmk_reason {
	CMK_REASON_NONE,
	CMK_REASON_WIPED,		/* "key wipe" message */
	CMK_REASON_LEASE_EXPIRED,	/* lease key timed out */
	CMK_REASON_LEASE_REVOKED,	/* lease key revoked (or its type gone) */
	CMK_REASON_LEASE_INVALIDATED,	/* lease key invalidated */
	CMK_REASON_LEASE_UNLINKED,	/* lease key in no keyring any more */
	CMK_REASON_NO_KEY,		/* some extent has no key */
};

/**
 * struct cmk_extent - one extent of the device
 * @tfm: the extent's AES-256-XTS transform holding its DEK, or %NULL
 *	while the extent has no key.  Read under cmk_c::key_srcu.
 */
struct cmk_extent {
	struct crypto_skcipher *tfm;
};

/* Bios of at least this many bytes are split across CPUs. */
#define CMK_SPLIT_MIN		(64 * 1024)
/* At most this many pieces per bio (and CPUs one bio is spread over). */
#define CMK_PIECES_MAX		4
/* Submitters are told apart by a hash of their PID into this many slots. */
#define CMK_SLOT_BITS		6
/*
 * One bio in this many that would run inline is offloaded as a probe; the
 * interval doubles after each probe up to %CMK_PROBE_INTERVAL_MAX, and is
 * reset when a submitter is seen submitting with a backlog.
 */
#define CMK_PROBE_INTERVAL	128
#define CMK_PROBE_INTERVAL_MAX	4096
/* A submitter seen submitting with a backlog is offloaded for this long. */
#define CMK_BUSY_MSECS		20
/* Tables of at least this many extents build their transforms in parallel. */
#define CMK_PARALLEL_KEYS_MIN	256
/*
 * Write bounce pages kept for reuse per device (1 MiB): a page from the
 * page allocator is zeroed first where init_on_alloc is on (Debian's
 * default), and every byte of a bounce page that reaches the disk is
 * overwritten with ciphertext anyway.
 */
#define CMK_PAGE_STASH		256
/*
 * Bounce pages of all devices together stay below this share of RAM, split
 * evenly between the devices, but each may have %CMK_MIN_PAGES_PER_CLIENT
 * (dm-crypt's limits): a writer over its share waits for its own pages to
 * come back.
 */
#define CMK_MEMORY_PERCENT	2
#define CMK_MIN_PAGES_PER_CLIENT (BIO_MAX_VECS * 16)
/*
 * A piece checks the dead flag, and yields the CPU or leaves an atomic
 * context, every this many bytes of data units; no bio is larger than
 * %CMK_BIO_MAX.
 */
#define CMK_STRETCH_BYTES	(64 * 1024)
#define CMK_BIO_MAX		(BIO_MAX_VECS << PAGE_SHIFT)

/**
 * struct cmk_slot - what one submitter (a hash slot of them) has queued
 * @backlog: bios of this submitter whose crypto was offloaded to the
 *	workqueue and has not finished; while there are any, its next bios
 *	are offloaded too, so that it goes on submitting while the cipher
 *	runs on the other CPUs
 * @probe: bios of this submitter still to run inline before a probe
 * @interval: the current probe interval
 * @busy_until: jiffies until which its bios are offloaded even with no
 *	backlog: the workers catching up for a moment does not make it a
 *	synchronous submitter
 * @last_seen: jiffies of its last bio; the first bio after a pause of
 *	%CMK_BUSY_MSECS is a probe, so that a burst at depth is found at
 *	its start
 */
struct cmk_slot {
	atomic_t backlog;
	atomic_t probe;
	unsigned int interval;
	unsigned long busy_until;
	unsigned long last_seen;
};

/**
 * struct cmk_c - one cmk target
 * @ti: the dm target
 * @dev: underlying device
 * @start: first sector of the data area on @dev
 * @extent_shift: log2 of the extent size in 512-byte sectors
 * @sector_size: data unit in bytes (512 or 4096)
 * @sector_shift: log2 of the data unit in 512-byte sectors
 * @nr_extents: number of extents, the last one possibly short
 * @extents: per-extent keys
 * @key_prefix: description of extent i's key is "<key_prefix><i>"
 * @lease_desc: description of the lease key, or %NULL
 * @lease: the lease key, referenced, or %NULL
 * @flags: &enum cmk_flag bits
 * @reason: &enum cmk_reason, why the device is inaccessible
 * @nr_keyed: extents that have a key
 * @io_errors: I/Os completed with an error
 * @reqsize: bytes of skcipher request context the transforms need
 * @cipher_driver: driver of the first transform; every later one is
 *	allocated by this name so that its request fits in @reqsize
 * @key_srcu: readers are the I/O path using @extents; the writers (wipe,
 *	key replacement) wait for them before freeing a transform
 * @key_lock: serialises key set, wipe and lapse
 * @keyset_lock: held across a whole "key set" and by preresume, so that a
 *	resume never sees a key set half done
 * @md: the mapped device the table belongs to (live or inactive)
 * @node: in the list of every cmk target (a wipe reaches them all)
 * @wq: per-device workqueue for the lease check, the key loaders and
 *	writes mapped where they could not sleep (which may wait for pages)
 * @crypt_wq: per-device workqueue for crypto that cannot or should not
 *	run inline; one work item per CPU at a time, and none of them waits
 *	for another
 * @nr_pieces: most pieces a bio is split into, one per CPU up to
 *	%CMK_PIECES_MAX
 * @piece_size: bytes of one &struct cmk_piece with its skcipher request
 * @slots: per-submitter backlog, see cmk_offload()
 * @lease_work: periodic lease check
 * @bs: bio set for write clones
 * @page_pool: pages holding ciphertext of writes in flight
 * @alloc_lock: taken by a writer that has to wait on @page_pool
 * @stash_lock: protects @stash and @stashed
 * @stashed: pages in @stash
 * @stash: bounce pages kept for the next writes, see cmk_put_page(); they
 *	hold nothing but ciphertext
 * @nr_pages: bounce pages allocated (in flight, stashed or in the pool)
 * @client: in the list of devices with bounce pages (for the page limit and
 *	the shrinker that empties the stashes)
 */
struct cmk_c {
	struct dm_target *ti;
	struct dm_dev *dev;
	sector_t start;
	unsigned int extent_shift;
	unsigned int sector_size;
	unsigned int sector_shift;
	unsigned int nr_extents;
	struct cmk_extent *extents;
	char *key_prefix;
	char *lease_desc;
	struct key *lease;
	unsigned long flags;
	enum cmk_reason reason;
	atomic_t nr_keyed;
	atomic64_t io_errors;
	unsigned int reqsize;
	char cipher_driver[CRYPTO_MAX_ALG_NAME];
	struct srcu_struct key_srcu;
	struct mutex key_lock;		/* key set, wipe, lapse */
	struct mutex keyset_lock;	/* a key set against resume */
	struct mapped_device *md;
	struct list_head node;
	struct workqueue_struct *wq;
	struct workqueue_struct *crypt_wq;
	unsigned int nr_pieces;
	unsigned int piece_size;
	struct cmk_slot slots[1 << CMK_SLOT_BITS];
	struct delayed_work lease_work;
	struct bio_set bs;
	mempool_t page_pool;
	struct mutex alloc_lock;	/* one waiter on page_pool */
	spinlock_t stash_lock;
	unsigned int stashed;
	struct page *stash[CMK_PAGE_STASH];
	struct percpu_counter nr_pages;
	struct list_head client;
};

/**
 * struct cmk_io - per-bio state (dm per-bio data)
 * @cc: the target
 * @bio: the bio dm handed to cmk_map()
 * @clone: a write's ciphertext, submitted in its place; %NULL for reads
 * @iter: @bio's data, as it was when mapped
 * @sector: target-relative sector of @iter's first data unit
 * @slot: the submitter's &struct cmk_slot
 * @counted: the bio is in its slot's backlog
 * @pending: pieces still running; the last one completes the bio
 * @status: %BLK_STS_IOERR once any piece failed
 * @orig_end_io: @bio's completion, restored before a read completes
 * @orig_private: @bio's private data, restored likewise
 *
 * cmk_c::nr_pieces &struct cmk_piece follow (see cmk_io_piece()).
 */
struct cmk_io {
	struct cmk_c *cc;
	struct bio *bio;
	struct bio *clone;
	struct bvec_iter iter;
	sector_t sector;
	struct cmk_slot *slot;
	bool counted;
	atomic_t pending;
	blk_status_t status;
	bio_end_io_t *orig_end_io;
	void *orig_private;
};

/**
 * struct cmk_piece - a run of data units of one bio, crypted by one CPU
 * @io: the bio's state
 * @work: runs the piece on the workqueue
 * @in_iter: the piece's data in cmk_io::bio not yet processed
 * @out_iter: where its result goes: cmk_io::clone, or in place for reads
 * @sector: target-relative sector of its next data unit
 * @srcu_idx: the piece's read section of cmk_c::key_srcu, from its start
 *	until its bio completed (it may end in another context)
 * @sg_in: the data unit being processed
 * @sg_out: where its result goes
 * @iv: its tweak
 *
 * The piece's skcipher request follows, aligned (see cmk_piece_req()).
 */
struct cmk_piece {
	struct cmk_io *io;
	struct work_struct work;
	struct bvec_iter in_iter;
	struct bvec_iter out_iter;
	sector_t sector;
	int srcu_idx;
	struct scatterlist sg_in;
	struct scatterlist sg_out;
	u8 iv[CMK_IV_SIZE] __aligned(__alignof__(__le64));
};

/* Functions defined in dm-cmk-crypt.c */
int cmk_crypt_module_init(void);
void cmk_crypt_module_exit(void);
int cmk_crypt_init(struct cmk_c *cc);
void cmk_crypt_exit(struct cmk_c *cc);
struct crypto_skcipher *cmk_tfm_alloc(struct cmk_c *cc, const u8 *key,
				      unsigned int len);
void cmk_tfm_free(struct crypto_skcipher *tfm);
unsigned int cmk_io_size(struct cmk_c *cc);
struct cmk_io *cmk_io_init(struct cmk_c *cc, struct bio *bio);
int cmk_map_read(struct cmk_c *cc, struct cmk_io *io);
int cmk_map_write(struct cmk_c *cc, struct cmk_io *io);

/* Functions defined in dm-cmk-key.c */
int cmk_key_load(struct cmk_c *cc, unsigned int extent, char **error);
int cmk_keys_load_all(struct cmk_c *cc, char **error);
void cmk_target_register(struct cmk_c *cc);
void cmk_target_unregister(struct cmk_c *cc);
void cmk_keys_wipe_device(struct cmk_c *cc);
int cmk_keys_init(struct cmk_c *cc, char **error);
void cmk_keys_free(struct cmk_c *cc);
void cmk_keys_wipe(struct cmk_c *cc, enum cmk_reason reason);
int cmk_lease_init(struct cmk_c *cc, const char *desc, char **error);
bool cmk_key_desc_valid(const char *desc);
void cmk_lease_start(struct cmk_c *cc);
void cmk_lease_exit(struct cmk_c *cc);
enum cmk_reason cmk_lease_reason(struct cmk_c *cc, bool deep);
long long cmk_lease_seconds_left(struct cmk_c *cc);
const char *cmk_reason_name(enum cmk_reason reason);

/**
 * cmk_dead() - may the target still do I/O?
 * @cc: the target
 *
 * Context: any.
 * Return: true once the keys were wiped (message or lease).
 */
static inline bool cmk_dead(struct cmk_c *cc)
{
	return test_bit(CMK_F_DEAD, &cc->flags);
}

/**
 * cmk_extent_of() - extent index of a target-relative sector
 * @cc: the target
 * @sector: 512-byte sector counted from the start of the target
 *
 * Context: any.
 * Return: the index into cmk_c::extents.
 */
static inline unsigned int cmk_extent_of(struct cmk_c *cc, sector_t sector)
{
	return sector >> cc->extent_shift;
}

#endif /* DM_CMK_H */
