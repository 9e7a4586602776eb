// SPDX-License-Identifier: GPL-2.0
/*
 * dm-cmk: the I/O path.  Each data unit is encrypted or decrypted with the
 * AES-256-XTS transform of the extent it lies in; its tweak is the
 * little-endian number of its first 512-byte sector counted from the start
 * of the target (dm-crypt's aes-xts-plain64).
 *
 * Writes are encrypted into pages of our own and submitted as a clone.
 * Reads are remapped in place and decrypted when they complete.
 *
 * Where the crypto runs (cmk_crypt_start()): a bio of %CMK_SPLIT_MIN bytes
 * or more is split into pieces, one per CPU, that run at the same time;
 * the first runs inline and the others on the device's crypt workqueue.
 * A smaller bio runs inline in the submitter's context, which costs no
 * context switch (a synchronous submitter waits for it anyway), unless the
 * submitter has offloaded bios still running: then it is one that goes on
 * submitting, and its bios are offloaded too (for %CMK_BUSY_MSECS after
 * it was last seen so) so that the cipher runs on every CPU while it does.
 * Now and then a bio is offloaded as a probe, to find such submitters, and
 * so is a submitter's first bio after a pause, where a burst may begin.
 * Crypto that cannot run inline (read completions from hard interrupt
 * context or with interrupts off) always goes to the workqueue.
 *
 * Whether the crypto may sleep is decided by where it is called, never
 * guessed from the context (preemptible() cannot see an RCU read section
 * under PREEMPT_RCU):
 *
 * - cmk_map() runs in the submitter's task, where sleeping is allowed:
 *   dm-cmk does not declare DM_TARGET_NOWAIT, so a REQ_NOWAIT bio, which
 *   dm maps under rcu_read_lock(), never reaches it.  Writes are
 *   encrypted there and may sleep.
 * - A read completes wherever the device below completes it, so its
 *   crypto runs "atomic" when inline: no CRYPTO_TFM_REQ_MAY_SLEEP, no
 *   waiting, at most %CMK_STRETCH_BYTES before the rest moves to the
 *   workqueue, and an implementation that answers -EINPROGRESS goes on
 *   in its completion callback.
 * - The workqueue may sleep.  Crypto that may sleep yields the CPU every
 *   %CMK_STRETCH_BYTES.
 *
 * Every run of data units checks the dead flag every %CMK_STRETCH_BYTES, so
 * that a wipe or a lapse waits for at most that much crypto per piece in
 * flight, whatever the bio size; and bios are at most %CMK_BIO_MAX bytes.
 * A piece holds cmk_c::key_srcu from its start until its bio has completed
 * (srcu_down_read(), as it may end in another context): once the wipe's
 * synchronize_srcu() returns, no bio can still complete successfully.
 */

#include <linux/bio.h>
#include <linux/hash.h>
#include <linux/scatterlist.h>
#include <crypto/skcipher.h>

#include "dm-cmk.h"
#include "dm-cmk-compat.h"

static char *xts_driver;
module_param(xts_driver, charp, 0444);
MODULE_PARM_DESC(xts_driver,
		 "xts(aes) driver or template for tests (default: fastest)");

static unsigned int cmk_piece_req_offset(void)
{
	return ALIGN(sizeof(struct cmk_piece), CRYPTO_MINALIGN);
}

/**
 * cmk_io_size() - size of the per-bio data
 * @cc: the target, with cmk_c::reqsize and cmk_c::nr_pieces known
 *
 * Sets cmk_c::piece_size.
 *
 * Context: any.
 * Return: bytes of per-bio data: &struct cmk_io followed by
 * cmk_c::nr_pieces &struct cmk_piece, each with an aligned skcipher
 * request.
 */
unsigned int cmk_io_size(struct cmk_c *cc)
{
	cc->piece_size = ALIGN(cmk_piece_req_offset() +
			       sizeof(struct skcipher_request) + cc->reqsize,
			       CRYPTO_MINALIGN);
	return ALIGN(sizeof(struct cmk_io), CRYPTO_MINALIGN) +
	       cc->nr_pieces * cc->piece_size;
}

static struct cmk_piece *cmk_io_piece(struct cmk_io *io, unsigned int i)
{
	return (struct cmk_piece *)((u8 *)io +
		ALIGN(sizeof(struct cmk_io), CRYPTO_MINALIGN) +
		i * io->cc->piece_size);
}

static struct skcipher_request *cmk_piece_req(struct cmk_piece *p)
{
	return (struct skcipher_request *)((u8 *)p + cmk_piece_req_offset());
}

/**
 * cmk_io_init() - set up the per-bio state of a bio to map
 * @cc: the target
 * @bio: a read or write
 *
 * Context: the submitter's context.
 * Return: the bio's &struct cmk_io.
 */
struct cmk_io *cmk_io_init(struct cmk_c *cc, struct bio *bio)
{
	struct cmk_io *io = dm_per_bio_data(bio, cc->ti->per_io_data_size);

	io->cc = cc;
	io->bio = bio;
	io->clone = NULL;
	io->iter = bio->bi_iter;
	io->sector = dm_target_offset(cc->ti, bio->bi_iter.bi_sector);
	io->slot = &cc->slots[hash_32(task_pid_nr(current), CMK_SLOT_BITS)];
	io->counted = false;
	return io;
}

/**
 * cmk_tfm_alloc() - allocate a transform and give it a DEK
 * @cc: the target
 * @key: the DEK, %CMK_DEK_SIZE bytes
 * @len: its length
 *
 * The first transform of a target picks the implementation of
 * %CMK_CIPHER (the fastest, or the one the module parameter xts_driver
 * names); every later one uses the same driver, so that the request size
 * fixed at construction stays right even if a faster driver is loaded
 * meanwhile.  The caller wipes its copy of @key; the transform keeps only
 * the expanded key, which cmk_tfm_free() wipes.
 *
 * Context: process context, may sleep; caller holds cmk_c::key_lock, or
 * the driver is picked already (then several callers may run at once).
 * Return: the transform or an ERR_PTR().
 */
struct crypto_skcipher *cmk_tfm_alloc(struct cmk_c *cc, const u8 *key,
				      unsigned int len)
{
	struct crypto_skcipher *tfm;
	bool first = !cc->cipher_driver[0];
	const char *name = CMK_CIPHER;
	int r;

	/*
	 * Never an implementation that allocates memory per request: the
	 * crypto runs in the writeback (and swap-out) path, where that can
	 * deadlock.
	 */
	if (!first)
		name = cc->cipher_driver;
	else if (xts_driver && *xts_driver)
		name = xts_driver;
	tfm = crypto_alloc_skcipher(name, 0, CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(tfm))
		return tfm;
	/* xts_driver names an implementation, never another cipher. */
	if (strcmp(crypto_tfm_alg_name(crypto_skcipher_tfm(tfm)), CMK_CIPHER)) {
		crypto_free_skcipher(tfm);
		return ERR_PTR(-EINVAL);
	}

	if (first) {
		strscpy(cc->cipher_driver, crypto_skcipher_driver_name(tfm),
			sizeof(cc->cipher_driver));
		cc->reqsize = crypto_skcipher_reqsize(tfm);
	} else if (crypto_skcipher_reqsize(tfm) > cc->reqsize) {
		crypto_free_skcipher(tfm);
		return ERR_PTR(-EINVAL);
	}

	r = crypto_skcipher_setkey(tfm, key, len);
	if (r) {
		crypto_free_skcipher(tfm);
		return ERR_PTR(r);
	}
	return tfm;
}

/**
 * cmk_tfm_free() - free a transform and wipe its key
 * @tfm: transform from cmk_tfm_alloc(), or %NULL
 *
 * The crypto API frees transform memory with kfree_sensitive().
 *
 * Context: process context, may sleep.
 */
void cmk_tfm_free(struct crypto_skcipher *tfm)
{
	if (tfm)
		crypto_free_skcipher(tfm);
}

/*
 * Set up @p's request for its next data unit: the extent's transform (or
 * %NULL if it has none), the unit's scatterlists and its tweak.
 */
static struct crypto_skcipher *cmk_unit_prepare(struct cmk_piece *p)
{
	struct cmk_io *io = p->io;
	struct cmk_c *cc = io->cc;
	struct bio *out = io->clone ?: io->bio;
	struct bio_vec bv_in = bio_iter_iovec(io->bio, p->in_iter);
	struct bio_vec bv_out = bio_iter_iovec(out, p->out_iter);
	struct crypto_skcipher *tfm;

	if (unlikely(bv_in.bv_len < cc->sector_size ||
		     bv_out.bv_len < cc->sector_size ||
		     (bv_in.bv_offset & (cc->sector_size - 1)) ||
		     (bv_out.bv_offset & (cc->sector_size - 1))))
		return NULL;

	tfm = READ_ONCE(cc->extents[cmk_extent_of(cc, p->sector)].tfm);
	if (unlikely(!tfm))
		return NULL;

	sg_init_table(&p->sg_in, 1);
	sg_set_page(&p->sg_in, bv_in.bv_page, cc->sector_size,
		    bv_in.bv_offset);
	sg_init_table(&p->sg_out, 1);
	sg_set_page(&p->sg_out, bv_out.bv_page, cc->sector_size,
		    bv_out.bv_offset);
	memset(p->iv, 0, sizeof(p->iv));
	*(__le64 *)p->iv = cpu_to_le64(p->sector);
	return tfm;
}

/* @p's current data unit is done: on to the next. */
static void cmk_unit_advance(struct cmk_piece *p)
{
	struct cmk_io *io = p->io;
	unsigned int size = io->cc->sector_size;

	bio_advance_iter(io->bio, &p->in_iter, size);
	bio_advance_iter(io->clone ?: io->bio, &p->out_iter, size);
	p->sector += size >> SECTOR_SHIFT;
}

/*
 * A piece's SRCU read section begins in cmk_crypt_start() and ends in
 * cmk_piece_end(), possibly in another context; sparse cannot follow it
 * there, so it is told the context is balanced.
 */
static int cmk_piece_hold(struct cmk_c *cc)
{
	int idx = srcu_down_read(&cc->key_srcu);

	__release(&cc->key_srcu);
	return idx;
}

static void cmk_piece_drop(struct cmk_c *cc, int idx)
{
	__acquire(&cc->key_srcu);
	srcu_up_read(&cc->key_srcu, idx);
}

static void cmk_piece_work(struct work_struct *work);

/* Go on with @p on the workqueue, where it may sleep. */
static void cmk_piece_requeue(struct cmk_piece *p)
{
	INIT_WORK(&p->work, cmk_piece_work);
	queue_work(p->io->cc->crypt_wq, &p->work);
}

static void cmk_piece_end(struct cmk_piece *p, int r);

/*
 * Completion of a data unit submitted without waiting (an atomic piece
 * whose implementation went asynchronous): the rest of the piece runs on
 * the workqueue.
 */
static void cmk_unit_async_done(CMK_CRYPTO_CB_ARG arg, int err)
{
	struct cmk_piece *p = cmk_crypto_cb_data(arg);

	if (err == -EINPROGRESS)
		return;
	if (err) {
		cmk_piece_end(p, err);
		return;
	}
	cmk_unit_advance(p);
	cmk_piece_requeue(p);
}

/*
 * Run @p's remaining data units through their extents' ciphers.  @atomic:
 * the caller may not sleep (see the comment at the top of the file).
 * Returns 0 or a negative errno when the piece is finished, or
 * -EINPROGRESS when it goes on elsewhere (on the workqueue, or in
 * cmk_unit_async_done()), which then ends it.
 */
static int cmk_crypt_units(struct cmk_piece *p, bool atomic)
{
	struct cmk_io *io = p->io;
	struct cmk_c *cc = io->cc;
	bool encrypt = !!io->clone;
	struct skcipher_request *req = cmk_piece_req(p);
	unsigned int stretch = CMK_STRETCH_BYTES >> (cc->sector_shift +
						     SECTOR_SHIFT);
	unsigned int n = 0;
	DECLARE_CRYPTO_WAIT(wait);
	int r;

	if (cmk_dead(cc))
		return -EIO;

	while (p->in_iter.bi_size) {
		struct crypto_skcipher *tfm;

		/* A wipe waits for at most one stretch per piece. */
		if (n == stretch) {
			if (cmk_dead(cc))
				return -EIO;
			if (atomic) {
				cmk_piece_requeue(p);
				return -EINPROGRESS;
			}
			cond_resched();
			n = 0;
		}

		tfm = cmk_unit_prepare(p);
		if (unlikely(!tfm))
			return -EIO;
		skcipher_request_set_tfm(req, tfm);
		skcipher_request_set_crypt(req, &p->sg_in, &p->sg_out,
					   cc->sector_size, p->iv);
		if (atomic) {
			skcipher_request_set_callback(req, 0,
						      cmk_unit_async_done, p);
			r = encrypt ? crypto_skcipher_encrypt(req) :
				      crypto_skcipher_decrypt(req);
			if (r == -EINPROGRESS || r == -EBUSY)
				return -EINPROGRESS;
			if (r == -ENOSPC) {
				/* Not queued: again, where it may wait. */
				cmk_piece_requeue(p);
				return -EINPROGRESS;
			}
		} else {
			skcipher_request_set_callback(req,
						      CRYPTO_TFM_REQ_MAY_BACKLOG |
						      CRYPTO_TFM_REQ_MAY_SLEEP,
						      crypto_req_done, &wait);
			r = crypto_wait_req(encrypt ?
					    crypto_skcipher_encrypt(req) :
					    crypto_skcipher_decrypt(req),
					    &wait);
		}
		if (unlikely(r))
			return r;
		cmk_unit_advance(p);
		n++;
	}
	return 0;
}

static void cmk_read_done(struct cmk_io *io, blk_status_t status)
{
	struct bio *bio = io->bio;

	bio->bi_end_io = io->orig_end_io;
	bio->bi_private = io->orig_private;
	bio->bi_status = status;
	bio_endio(bio);
}

static void cmk_write_done(struct cmk_io *io, blk_status_t status);

/*
 * The last piece of a bio finished: complete a read, submit a write.  The
 * caller still holds its piece's SRCU read section, so a wipe that has
 * returned was seen here.
 */
static void cmk_crypt_done(struct cmk_io *io)
{
	blk_status_t status = READ_ONCE(io->status);

	if (!status && cmk_dead(io->cc))
		status = BLK_STS_IOERR;
	if (io->counted)
		atomic_dec(&io->slot->backlog);
	if (io->clone)
		cmk_write_done(io, status);
	else
		cmk_read_done(io, status);
}

/*
 * @p is finished, with 0 or a negative errno.  The last piece completes
 * the bio; then the piece leaves its SRCU read section (@p and its bio may
 * be gone by then: cmk_dtr() waits for the section).
 */
static void cmk_piece_end(struct cmk_piece *p, int r)
{
	struct cmk_io *io = p->io;
	struct cmk_c *cc = io->cc;
	int idx = p->srcu_idx;

	if (r)
		WRITE_ONCE(io->status, BLK_STS_IOERR);
	/* Fully ordered: the last piece sees every other one's status. */
	if (atomic_dec_and_test(&io->pending))
		cmk_crypt_done(io);
	cmk_piece_drop(cc, idx);
}

static void cmk_piece_run(struct cmk_piece *p, bool atomic)
{
	int r = cmk_crypt_units(p, atomic);

	if (r != -EINPROGRESS)
		cmk_piece_end(p, r);
}

static void cmk_piece_work(struct work_struct *work)
{
	cmk_piece_run(container_of(work, struct cmk_piece, work), false);
}

/*
 * Should @io's crypto leave the current context for the workqueue?  See
 * the comment at the top of the file.  Counts an offloaded bio in its
 * submitter's backlog.
 */
static bool cmk_offload(struct cmk_io *io, bool atomic)
{
	struct cmk_slot *slot = io->slot;
	unsigned long now = jiffies, seen;
	unsigned int interval;
	bool paused;

	/* The skcipher walk refuses hard interrupt context. */
	if (atomic && (in_hardirq() || irqs_disabled()))
		goto offload;
	if (io->cc->nr_pieces < 2)
		return false;
	/* Racy updates of the slot's hints do no harm. */
	seen = READ_ONCE(slot->last_seen);
	paused = time_after(now, seen + msecs_to_jiffies(CMK_BUSY_MSECS));
	if (seen != now)
		WRITE_ONCE(slot->last_seen, now);
	if (atomic_read(&slot->backlog)) {
		WRITE_ONCE(slot->busy_until,
			   now + msecs_to_jiffies(CMK_BUSY_MSECS));
		WRITE_ONCE(slot->interval, CMK_PROBE_INTERVAL);
	} else if (!time_before(now, READ_ONCE(slot->busy_until))) {
		/*
		 * Not recently seen with a backlog: inline, or a probe.  The
		 * first bio after a pause is one too, outside the count.
		 */
		if (!paused) {
			if (atomic_dec_return(&slot->probe) > 0)
				return false;
			interval = min(2 * READ_ONCE(slot->interval),
				       CMK_PROBE_INTERVAL_MAX);
			WRITE_ONCE(slot->interval, interval);
			atomic_set(&slot->probe, interval);
		}
	}
offload:
	atomic_inc(&slot->backlog);
	io->counted = true;
	return true;
}

/*
 * Crypt @io's data, from cmk_io::bio to cmk_io::clone or in place: split
 * into pieces that run inline or on the workqueue.  @atomic: the caller
 * may not sleep.  The last piece to finish calls cmk_crypt_done(); @io may
 * be gone when this returns.
 */
static void cmk_crypt_start(struct cmk_io *io, bool atomic)
{
	struct cmk_c *cc = io->cc;
	struct bio *out = io->clone ?: io->bio;
	struct bvec_iter in_iter = io->iter;
	struct bvec_iter out_iter = io->clone ? io->clone->bi_iter : io->iter;
	unsigned int unit_shift = cc->sector_shift + SECTOR_SHIFT;
	unsigned int units = in_iter.bi_size >> unit_shift;
	unsigned int n = 1, i, done = 0;
	bool offload = cmk_offload(io, atomic);
	struct cmk_piece *p;

	if (in_iter.bi_size >= CMK_SPLIT_MIN)
		n = min(cc->nr_pieces, units);
	atomic_set(&io->pending, n);
	io->status = BLK_STS_OK;

	for (i = 0; i < n; i++) {
		unsigned int end = (i + 1) * units / n;	/* < 2^25 */
		unsigned int bytes = (end - done) << unit_shift;

		p = cmk_io_piece(io, i);
		p->io = io;
		p->srcu_idx = cmk_piece_hold(cc);
		p->sector = io->sector + ((sector_t)done << cc->sector_shift);
		p->in_iter = in_iter;
		p->in_iter.bi_size = bytes;
		p->out_iter = out_iter;
		p->out_iter.bi_size = bytes;
		if (i + 1 < n) {
			bio_advance_iter(io->bio, &in_iter, bytes);
			bio_advance_iter(out, &out_iter, bytes);
		}
		done = end;

		/*
		 * Piece 0 runs inline below unless offloaded.  @io stays
		 * until the last piece is done, and that cannot be before
		 * every piece was queued (or piece 0 ran).
		 */
		if (i || offload)
			cmk_piece_requeue(p);
	}
	if (!offload)
		cmk_piece_run(cmk_io_piece(io, 0), atomic);
}

/* Reads */

static void cmk_read_endio(struct bio *bio)
{
	struct cmk_io *io = bio->bi_private;

	if (bio->bi_status || cmk_dead(io->cc)) {
		cmk_read_done(io, bio->bi_status ?: BLK_STS_IOERR);
		return;
	}
	/* A completion's context is the device's: never sleep in it. */
	cmk_crypt_start(io, true);
}

/**
 * cmk_map_read() - remap a read; it is decrypted when it completes
 * @cc: the target
 * @io: the read's state, from cmk_io_init()
 *
 * Context: the submitter's context.
 * Return: a DM_MAPIO_* code.
 */
int cmk_map_read(struct cmk_c *cc, struct cmk_io *io)
{
	struct bio *bio = io->bio;

	io->orig_end_io = bio->bi_end_io;
	io->orig_private = bio->bi_private;

	bio_set_dev(bio, cc->dev->bdev);
	bio->bi_iter.bi_sector = cc->start + io->sector;
	bio->bi_end_io = cmk_read_endio;
	bio->bi_private = io;
	dm_submit_bio_remap(bio, NULL);
	return DM_MAPIO_SUBMITTED;
}

/* Writes */

/*
 * A bounce page: one kept from an earlier write if there is one, else one
 * from the page pool.  A kept page skips the allocator and the zeroing
 * init_on_alloc does there; the write overwrites what it uses of it.
 */
static struct page *cmk_stash_pop(struct cmk_c *cc)
{
	struct page *page = NULL;
	unsigned long flags;

	spin_lock_irqsave(&cc->stash_lock, flags);
	if (cc->stashed)
		page = cc->stash[--cc->stashed];
	spin_unlock_irqrestore(&cc->stash_lock, flags);
	return page;
}

static struct page *cmk_get_page(struct cmk_c *cc, gfp_t gfp)
{
	return cmk_stash_pop(cc) ?: mempool_alloc(&cc->page_pool, gfp);
}

/*
 * Done with a bounce page: it refills the page pool's reserve first (a
 * writer may be waiting on it), then the stash, and what is left goes
 * back to the page allocator.
 */
static void cmk_put_page(struct cmk_c *cc, struct page *page)
{
	unsigned long flags;

	if (READ_ONCE(cc->page_pool.curr_nr) < cc->page_pool.min_nr) {
		mempool_free(page, &cc->page_pool);
		return;
	}
	spin_lock_irqsave(&cc->stash_lock, flags);
	if (cc->stashed < CMK_PAGE_STASH) {
		cc->stash[cc->stashed++] = page;
		page = NULL;
	}
	spin_unlock_irqrestore(&cc->stash_lock, flags);
	if (page)
		mempool_free(page, &cc->page_pool);
}

static void cmk_free_buffer(struct cmk_c *cc, struct bio *clone)
{
	struct bio_vec *bv;
	struct bvec_iter_all iter_all;

	bio_for_each_segment_all(bv, clone, iter_all)
		cmk_put_page(cc, bv->bv_page);
}

/*
 * Pages for @size bytes of ciphertext.  A first try never waits; when the
 * pool is short, one writer at a time waits on it so that writers holding
 * part of the pool cannot starve each other (as dm-crypt does).
 */
static struct bio *cmk_alloc_buffer(struct cmk_io *io, unsigned int size)
{
	struct cmk_c *cc = io->cc;
	unsigned int nr_pages = DIV_ROUND_UP(size, PAGE_SIZE);
	gfp_t gfp = GFP_NOWAIT | __GFP_NOWARN;
	struct bio *clone;
	unsigned int i, len;
	struct page *page;

retry:
	/* A bio set allocation that may wait never fails. */
	clone = bio_alloc_bioset(cc->dev->bdev, nr_pages, io->bio->bi_opf,
				 GFP_NOIO, &cc->bs);

	for (i = 0; i < nr_pages; i++) {
		page = cmk_get_page(cc, gfp);
		if (!page) {
			cmk_free_buffer(cc, clone);
			bio_put(clone);
			gfp = GFP_NOIO;
			mutex_lock(&cc->alloc_lock);
			goto retry;
		}
		len = min_t(unsigned int, size - i * PAGE_SIZE, PAGE_SIZE);
		__bio_add_page(clone, page, len, 0);
	}

	if (gfp & __GFP_DIRECT_RECLAIM)
		mutex_unlock(&cc->alloc_lock);
	return clone;
}

static void cmk_write_endio(struct bio *clone)
{
	struct cmk_io *io = clone->bi_private;
	struct cmk_c *cc = io->cc;
	blk_status_t status = clone->bi_status;
	int idx;

	cmk_free_buffer(cc, clone);
	bio_put(clone);

	/*
	 * Nothing completes successfully once the keys are gone: the check
	 * and the completion are one SRCU read section, which a wipe waits
	 * for.
	 */
	idx = srcu_read_lock(&cc->key_srcu);
	if (!status && cmk_dead(cc))
		status = BLK_STS_IOERR;
	io->bio->bi_status = status;
	bio_endio(io->bio);
	srcu_read_unlock(&cc->key_srcu, idx);
}

/* A write's ciphertext is ready, or failed: submit it or fail the bio. */
static void cmk_write_done(struct cmk_io *io, blk_status_t status)
{
	struct bio *clone = io->clone;

	if (status) {
		cmk_free_buffer(io->cc, clone);
		bio_put(clone);
		io->bio->bi_status = status;
		bio_endio(io->bio);
		return;
	}
	dm_submit_bio_remap(io->bio, clone);
}

static void cmk_write_start(struct cmk_io *io)
{
	struct cmk_c *cc = io->cc;
	struct bio *clone;

	clone = cmk_alloc_buffer(io, io->iter.bi_size);
	clone->bi_private = io;
	clone->bi_end_io = cmk_write_endio;
	clone->bi_ioprio = io->bio->bi_ioprio;
	clone->bi_iter.bi_sector = cc->start + io->sector;
	io->clone = clone;
	cmk_crypt_start(io, false);
}

/**
 * cmk_map_write() - encrypt a write and submit the ciphertext
 * @cc: the target
 * @io: the write's state, from cmk_io_init()
 *
 * Context: cmk_map(), in the submitter's task: may sleep (see the comment
 * at the top of the file).
 * Return: a DM_MAPIO_* code.
 */
int cmk_map_write(struct cmk_c *cc, struct cmk_io *io)
{
	cmk_write_start(io);
	return DM_MAPIO_SUBMITTED;
}

/*
 * Devices with bounce pages: each one's share of the page limit, and the
 * stashes the shrinker empties.
 */
static DEFINE_SPINLOCK(cmk_clients_lock);
static LIST_HEAD(cmk_clients);
static unsigned int cmk_nr_clients;
static unsigned long cmk_pages_per_client;
static struct shrinker *cmk_stash_shrinker;

/* Caller holds cmk_clients_lock. */
static void cmk_clients_changed(void)
{
	unsigned long pages = totalram_pages() * CMK_MEMORY_PERCENT / 100;

	if (cmk_nr_clients)
		pages /= cmk_nr_clients;
	WRITE_ONCE(cmk_pages_per_client,
		   max_t(unsigned long, pages, CMK_MIN_PAGES_PER_CLIENT));
}

/*
 * The page pool's allocator.  mempool_alloc() tries without waiting and
 * with __GFP_NORETRY first: a device over its share gets no new page then,
 * so it takes one from the pool's reserve or waits for one of its own to
 * come back (as dm-crypt's crypt_page_alloc() does).
 */
static void *cmk_page_alloc(gfp_t gfp, void *data)
{
	struct cmk_c *cc = data;
	struct page *page;

	if (unlikely(percpu_counter_compare(&cc->nr_pages,
					    READ_ONCE(cmk_pages_per_client)) >= 0) &&
	    likely(gfp & __GFP_NORETRY))
		return NULL;
	page = alloc_page(gfp);
	if (likely(page))
		percpu_counter_inc(&cc->nr_pages);
	return page;
}

static void cmk_page_free(void *element, void *data)
{
	struct cmk_c *cc = data;

	__free_page(element);
	percpu_counter_dec(&cc->nr_pages);
}

/* Give up to @max of @cc's stashed pages back; returns how many. */
static unsigned long cmk_stash_drain(struct cmk_c *cc, unsigned long max)
{
	unsigned long freed = 0;
	struct page *page;

	while (freed < max && (page = cmk_stash_pop(cc))) {
		mempool_free(page, &cc->page_pool);
		freed++;
	}
	return freed;
}

static unsigned long cmk_stash_count(struct shrinker *shrink,
				     struct shrink_control *sc)
{
	unsigned long n = 0;
	struct cmk_c *cc;

	spin_lock(&cmk_clients_lock);
	list_for_each_entry(cc, &cmk_clients, client)
		n += READ_ONCE(cc->stashed);
	spin_unlock(&cmk_clients_lock);
	return n ?: SHRINK_EMPTY;
}

static unsigned long cmk_stash_scan(struct shrinker *shrink,
				    struct shrink_control *sc)
{
	unsigned long freed = 0;
	struct cmk_c *cc;

	spin_lock(&cmk_clients_lock);
	list_for_each_entry(cc, &cmk_clients, client) {
		freed += cmk_stash_drain(cc, sc->nr_to_scan - freed);
		if (freed >= sc->nr_to_scan)
			break;
	}
	spin_unlock(&cmk_clients_lock);
	return freed ?: SHRINK_STOP;
}

/**
 * cmk_crypt_module_init() - set up what all devices share: the shrinker
 * of the bounce page stashes
 *
 * Context: module init.
 * Return: 0 or a negative errno.
 */
int cmk_crypt_module_init(void)
{
	int r;

	cmk_stash_shrinker = cmk_shrinker_alloc("dm-cmk-stash");
	if (!cmk_stash_shrinker)
		return -ENOMEM;
	cmk_stash_shrinker->count_objects = cmk_stash_count;
	cmk_stash_shrinker->scan_objects = cmk_stash_scan;
	r = cmk_shrinker_register(cmk_stash_shrinker, "dm-cmk-stash");
	if (r) {
		cmk_shrinker_free(cmk_stash_shrinker, false);
		cmk_stash_shrinker = NULL;
	}
	return r;
}

/**
 * cmk_crypt_module_exit() - undo cmk_crypt_module_init()
 *
 * Context: module exit.
 */
void cmk_crypt_module_exit(void)
{
	cmk_shrinker_free(cmk_stash_shrinker, true);
}

/**
 * cmk_crypt_init() - set up what the I/O path allocates from
 * @cc: the target, with its extents keyed (cmk_c::reqsize known)
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno.
 */
int cmk_crypt_init(struct cmk_c *cc)
{
	int r;

	INIT_LIST_HEAD(&cc->client);
	mutex_init(&cc->alloc_lock);
	spin_lock_init(&cc->stash_lock);
	r = percpu_counter_init(&cc->nr_pages, 0, GFP_KERNEL);
	if (r)
		return r;

	r = bioset_init(&cc->bs, BIO_POOL_SIZE, 0, BIOSET_NEED_BVECS);
	if (r)
		goto bad_bs;

	r = mempool_init(&cc->page_pool, BIO_MAX_VECS, cmk_page_alloc,
			 cmk_page_free, cc);
	if (r)
		goto bad_pool;

	spin_lock(&cmk_clients_lock);
	list_add(&cc->client, &cmk_clients);
	cmk_nr_clients++;
	cmk_clients_changed();
	spin_unlock(&cmk_clients_lock);
	return 0;

bad_pool:
	bioset_exit(&cc->bs);
bad_bs:
	percpu_counter_destroy(&cc->nr_pages);
	return r;
}

/**
 * cmk_crypt_exit() - release what cmk_crypt_init() set up
 * @cc: the target; tolerates a partly initialised one
 *
 * Context: process context, may sleep.
 */
void cmk_crypt_exit(struct cmk_c *cc)
{
	if (!cc->client.next)
		return;	/* cmk_crypt_init() never ran */
	if (!list_empty(&cc->client)) {
		spin_lock(&cmk_clients_lock);
		list_del_init(&cc->client);
		cmk_nr_clients--;
		cmk_clients_changed();
		spin_unlock(&cmk_clients_lock);
	}
	/* No I/O is left, and the shrinker cannot see the stash any more. */
	cmk_stash_drain(cc, CMK_PAGE_STASH);
	mempool_exit(&cc->page_pool);
	bioset_exit(&cc->bs);
	if (percpu_counter_initialized(&cc->nr_pages))
		percpu_counter_destroy(&cc->nr_pages);
}
