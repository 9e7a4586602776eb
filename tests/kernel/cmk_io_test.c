// SPDX-License-Identifier: GPL-2.0
/*
 * cmk_io_test: the dm-cmk data path, checked against independent oracles.
 *
 * Each test gets a fresh dm-cmk device over a loop device over a sparse
 * file in /tmp, with a random 64-byte logon key per extent, a data offset
 * and a length that ends in a partial extent.  The variants cover 512 and
 * 4096-byte data units.  Every read and write, on the dm-cmk device and on
 * the loop device beneath it, uses O_DIRECT, so no page cache can hide
 * what is really on the disk.
 *
 *   roundtrip       writes in many shapes (whole device, across extent
 *                   boundaries, larger than an extent, from the middle of an
 *                   extent, the partial last extent, scattered iovecs, an
 *                   unaligned user buffer) read back equal, also after
 *                   reopening and after re-creating the mapping; nothing is
 *                   written outside the data area.
 *   oracle_openssl  the ciphertext on the loop device is OpenSSL's
 *                   AES-256-XTS of the plaintext with the extent's key and
 *                   the plain64 tweak; ciphertext written by OpenSSL reads
 *                   back as its plaintext.
 *   oracle_dmcrypt  stock dm-crypt (aes-xts-plain64, the extent's key from
 *                   the keyring, iv_offset = the extent's first sector)
 *                   reads each extent as written through dm-cmk, and data
 *                   written through dm-crypt reads back through dm-cmk.
 *   wrong_key_table tables whose keys are missing, short or not logon keys
 *                   fail to load and leave no device behind.
 *
 * Needs root, dm-cmk.ko loaded (skips otherwise), dm-crypt and loop, and
 * dmsetup and losetup in PATH.  Key bytes never leave this process's locked
 * memory except through add_key(2); they are wiped at teardown.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include "dm-cmk-abi.h"
/* The harness has an unused parameter; -Wextra must stay quiet about it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "cmk_test_util.h"

#define SECT		CMK_TEST_SECTOR
#define CMK_IO_TIMEOUT	300		/* seconds per test; TCG is slow */
#define CMK_IO_MAX_EXTENTS	16
#define CMK_IO_MAX_EXTRA	8	/* other dm devices one test makes */
#define CMK_IO_MAX_XKEYS	(4 * CMK_IO_MAX_EXTENTS)
#define CMK_IO_PAD	2048		/* sectors of loop device after the data */

FIXTURE(cmk_io) {
	bool skip;			/* setup decided to skip */

	/* Geometry; sizes in 512-byte sectors unless said otherwise. */
	unsigned int unit;		/* data unit, bytes */
	uint64_t us;			/* data unit, sectors */
	uint64_t ext;			/* extent size */
	unsigned int nr_extents;	/* the last one partial */
	uint64_t len;			/* target length */
	uint64_t offset;		/* data offset on the loop device */
	uint64_t dev_sectors;		/* loop device size */

	char name[24];			/* dm-cmk device name */
	char prefix[64];		/* key description prefix */
	char file[64];			/* backing file; "" once unlinked */
	char loop[64];			/* loop device; "" once detached */
	char node[128];			/* dm-cmk device node */
	bool mapped;			/* the dm-cmk device exists */
	int fd;				/* dm-cmk device, O_DIRECT */
	int loop_fd;			/* loop device, O_DIRECT */

	unsigned char *keys;		/* nr_extents DEKs, locked memory */
	key_serial_t key_ids[CMK_IO_MAX_EXTENTS];
	key_serial_t xkeys[CMK_IO_MAX_XKEYS];	/* other keys a test adds */
	unsigned int nr_xkeys;
	char extra[CMK_IO_MAX_EXTRA][64];	/* other dm devices */

	unsigned char *shadow;		/* what the device should read */
};

FIXTURE_VARIANT(cmk_io) {
	unsigned int unit;		/* data unit, bytes */
	unsigned int extent_sectors;	/* a power of two */
	unsigned int full_extents;	/* whole extents, at least 7 */
	unsigned int tail_sectors;	/* the partial last extent, > 0 */
	unsigned int offset;		/* data offset on the loop device */
};

/* 8 extents of 128 KiB, the last one 37 sectors (not a multiple of 8). */
FIXTURE_VARIANT_ADD(cmk_io, unit512) {
	.unit = 512,
	.extent_sectors = 256,
	.full_extents = 7,
	.tail_sectors = 37,
	.offset = 2048,
};

/* 10 extents of 128 KiB, the last one 36 KiB: 1.16 MiB in all. */
FIXTURE_VARIANT_ADD(cmk_io, unit4096) {
	.unit = 4096,
	.extent_sectors = 256,
	.full_extents = 9,
	.tail_sectors = 72,
	.offset = 2048,
};

#define SELF	FIXTURE_DATA(cmk_io)

static unsigned char *cmk_io_key(SELF *self, unsigned int extent)
{
	return self->keys + (size_t)extent * CMK_TEST_XTS_KEY;
}

static unsigned int cmk_io_extent(SELF *self, uint64_t sector)
{
	return sector / self->ext;
}

/* Sectors of extent @i (the last one may be short). */
static uint64_t cmk_io_extent_len(SELF *self, unsigned int i)
{
	uint64_t start = (uint64_t)i * self->ext;

	return self->len - start < self->ext ? self->len - start : self->ext;
}

/* Remember a dm device a test creates, so that teardown removes it. */
static const char *cmk_io_extra_name(SELF *self, unsigned int slot,
				     const char *what)
{
	snprintf(self->extra[slot], sizeof(self->extra[slot]), "%s-%s",
		 self->name, what);
	return self->extra[slot];
}

/*
 * Create the dm-cmk mapping, find its node and open it.  Returns 0 or a
 * negative errno / dmsetup's exit status, with @why set.
 */
static int cmk_io_map(SELF *self, char *why, size_t whysz)
{
	char table[512], err[1024];
	int r;

	snprintf(table, sizeof(table), "0 %" PRIu64 " %s %s %" PRIu64 " %"
		 PRIu64 " %u %s", self->len, CMK_TARGET_NAME, self->loop,
		 self->offset, self->ext, self->unit, self->prefix);
	r = cmk_test_dm_create(self->name, table, err, sizeof(err));
	if (r) {
		snprintf(why, whysz, "dmsetup create %s (%s) failed (%d): %s",
			 self->name, table, r, cmk_test_chomp(err));
		if (cmk_test_dm_exists(self->name))
			self->mapped = true;
		return r < 0 ? r : -EIO;
	}
	self->mapped = true;

	r = cmk_test_dm_node(self->name, self->node, sizeof(self->node));
	if (r) {
		snprintf(why, whysz, "no device node for %s", self->name);
		return r;
	}
	self->fd = open(self->node, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (self->fd < 0) {
		r = -errno;
		snprintf(why, whysz, "open %s: %s", self->node, strerror(errno));
		return r;
	}
	return 0;
}

/* Close and remove the dm-cmk mapping.  Returns 0 or dmsetup's status. */
static int cmk_io_unmap(SELF *self)
{
	int r = 0;

	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
	if (self->mapped) {
		r = cmk_test_dm_remove(self->name);
		if (!r)
			self->mapped = false;
	}
	return r;
}

/*
 * Undo whatever setup and the test did; safe to call on a half-built
 * fixture and more than once.  Returns the number of things that could
 * not be undone.
 */
static int cmk_io_cleanup(SELF *self)
{
	unsigned int i;
	int failed = 0;

	for (i = 0; i < CMK_IO_MAX_EXTRA; i++) {
		if (!self->extra[i][0])
			continue;
		if (cmk_test_dm_exists(self->extra[i]) &&
		    cmk_test_dm_remove(self->extra[i])) {
			fprintf(stderr, "# teardown: cannot remove %s\n",
				self->extra[i]);
			failed++;
		}
		self->extra[i][0] = '\0';
	}
	if (cmk_io_unmap(self)) {
		fprintf(stderr, "# teardown: cannot remove %s\n", self->name);
		failed++;
	}
	if (self->loop_fd >= 0)
		close(self->loop_fd);
	self->loop_fd = -1;
	if (self->loop[0]) {
		if (cmk_test_loop_detach(self->loop)) {
			fprintf(stderr, "# teardown: cannot detach %s\n",
				self->loop);
			failed++;
		}
		self->loop[0] = '\0';
	}
	if (self->file[0]) {
		unlink(self->file);
		self->file[0] = '\0';
	}

	for (i = 0; i < CMK_IO_MAX_EXTENTS; i++) {
		cmk_test_drop_key(self->key_ids[i]);
		self->key_ids[i] = 0;
	}
	for (i = 0; i < self->nr_xkeys; i++)
		cmk_test_drop_key(self->xkeys[i]);
	self->nr_xkeys = 0;
	cmk_test_secret_free(self->keys,
			     CMK_IO_MAX_EXTENTS * CMK_TEST_XTS_KEY);
	self->keys = NULL;

	free(self->shadow);
	self->shadow = NULL;
	return failed;
}

/*
 * Build the fixture.  Returns 0, 1 to skip, or -1 to fail, with @why set.
 */
static int cmk_io_prepare(SELF *self,
			  const FIXTURE_VARIANT(cmk_io) *variant,
			  char *why, size_t whysz)
{
	char err[1024];
	unsigned int i;
	char desc[96];
	int fd, r;

	self->fd = -1;
	self->loop_fd = -1;
	if (geteuid() != 0) {
		snprintf(why, whysz, "needs root");
		return 1;
	}

	/* Geometry from the variant. */
	self->unit = variant->unit;
	self->us = variant->unit / SECT;
	self->ext = variant->extent_sectors;
	self->nr_extents = variant->full_extents + 1;
	self->len = (uint64_t)variant->full_extents * self->ext +
		    variant->tail_sectors;
	self->offset = variant->offset;
	self->dev_sectors = self->offset + self->len + CMK_IO_PAD;
	if (self->nr_extents > CMK_IO_MAX_EXTENTS || variant->full_extents < 7 ||
	    !variant->tail_sectors || variant->tail_sectors >= self->ext ||
	    (self->ext & (self->ext - 1)) || self->ext % self->us ||
	    variant->tail_sectors % self->us || self->offset % self->us) {
		snprintf(why, whysz, "bad variant geometry");
		return -1;
	}

	/* Modules; the cmk target is the test subject: skip without it. */
	cmk_test_modprobe("dm_mod");
	cmk_test_modprobe("dm_crypt");
	cmk_test_modprobe("loop");
	if (!cmk_test_have_target(CMK_TARGET_NAME)) {
		snprintf(why, whysz, "no \"%s\" device-mapper target (load %s.ko)",
			 CMK_TARGET_NAME, CMK_MODULE_NAME);
		return 1;
	}

	/*
	 * A session keyring of our own: the keys go in it, dmsetup inherits
	 * it, and the kernel's request_key() in dmsetup's ioctl finds them.
	 */
	if (keyctl_join_session_keyring(NULL) < 0) {
		snprintf(why, whysz, "keyctl_join_session_keyring: %s",
			 strerror(errno));
		return -1;
	}

	snprintf(self->name, sizeof(self->name), "cmk-io-%d", getpid());
	snprintf(self->prefix, sizeof(self->prefix), "cmk:io%d:", getpid());

	/* Sparse backing file, loop device, then the file can go. */
	snprintf(self->file, sizeof(self->file), "/tmp/%s.img", self->name);
	fd = open(self->file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whysz, "create %s: %s", self->file, strerror(errno));
		self->file[0] = '\0';
		return -1;
	}
	r = ftruncate(fd, self->dev_sectors * SECT);
	close(fd);
	if (r) {
		snprintf(why, whysz, "truncate %s: %s", self->file, strerror(errno));
		return -1;
	}
	r = cmk_test_loop_attach(self->file, self->loop, sizeof(self->loop),
				 err, sizeof(err));
	if (r) {
		snprintf(why, whysz, "losetup %s failed (%d): %s", self->file,
			 r, cmk_test_chomp(err));
		self->loop[0] = '\0';
		return -1;
	}
	unlink(self->file);
	self->file[0] = '\0';
	self->loop_fd = open(self->loop, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (self->loop_fd < 0) {
		snprintf(why, whysz, "open %s: %s", self->loop, strerror(errno));
		return -1;
	}

	/* One random logon key per extent. */
	self->keys = cmk_test_secret_alloc(CMK_IO_MAX_EXTENTS * CMK_TEST_XTS_KEY);
	if (!self->keys) {
		snprintf(why, whysz, "cannot allocate locked key memory");
		return -1;
	}
	for (i = 0; i < self->nr_extents; i++) {
		snprintf(desc, sizeof(desc), "%s%u", self->prefix, i);
		r = cmk_test_random(cmk_io_key(self, i), CMK_TEST_XTS_KEY);
		if (!r)
			r = cmk_test_add_key(CMK_DEK_KEY_TYPE, desc,
					     cmk_io_key(self, i),
					     CMK_TEST_XTS_KEY);
		if (r < 0) {
			snprintf(why, whysz, "key %s: %s", desc, strerror(-r));
			return -1;
		}
		self->key_ids[i] = r;
	}

	self->shadow = cmk_test_alloc(self->len * SECT);
	if (!self->shadow) {
		snprintf(why, whysz, "cannot allocate %" PRIu64 " sectors",
			 self->len);
		return -1;
	}

	return cmk_io_map(self, why, whysz) ? -1 : 0;
}

FIXTURE_SETUP(cmk_io)
{
	char why[1536] = "";
	int r;

	r = cmk_io_prepare(self, variant, why, sizeof(why));
	if (r) {
		/* The harness runs no teardown after a failed setup. */
		cmk_io_cleanup(self);
		if (r > 0) {
			/* Tests check self->skip: a SKIP in setup does not stop them. */
			self->skip = true;
			SKIP(return, "%s", why);
		}
		ASSERT_EQ(0, r) TH_LOG("setup: %s", why);
	}
}

FIXTURE_TEARDOWN(cmk_io)
{
	EXPECT_EQ(0, cmk_io_cleanup(self))
		TH_LOG("teardown left devices behind");
}

/* Helpers the tests share. */

/*
 * Write fresh random data over target sectors [start, start + count)
 * through @fd, whose sector 0 is target sector @base (0 for the dm-cmk
 * device, the extent's first sector for a dm-crypt device over one
 * extent), and record it in the shadow.
 */
static int cmk_io_write_random(SELF *self, int fd, uint64_t base,
			       uint64_t start, uint64_t count)
{
	size_t len = count * SECT;
	unsigned char *buf;
	int r;

	buf = cmk_test_alloc(len);
	if (!buf)
		return -ENOMEM;
	r = cmk_test_random(buf, len);
	if (!r)
		r = cmk_test_pwrite(fd, buf, len, (start - base) * SECT);
	if (!r)
		memcpy(self->shadow + start * SECT, buf, len);
	free(buf);
	return r;
}

/*
 * Read target sectors [start, start + count) through @fd (sector 0 of
 * which is target sector @base) and compare with the shadow.  Returns 0
 * if equal, a negative errno if the read failed, or 1 with *@bad set to
 * the first target sector that differs.
 */
static int cmk_io_compare(SELF *self, int fd, uint64_t base, uint64_t start,
			  uint64_t count, uint64_t *bad)
{
	size_t len = count * SECT;
	unsigned char *buf;
	ssize_t d;
	int r;

	buf = cmk_test_alloc(len);
	if (!buf)
		return -ENOMEM;
	r = cmk_test_pread(fd, buf, len, (start - base) * SECT);
	if (!r) {
		d = cmk_test_diff(buf, self->shadow + start * SECT, len);
		if (d >= 0) {
			*bad = start + d / SECT;
			r = 1;
		}
	}
	free(buf);
	return r;
}

/* cmk_io_compare() with the verdict reported; true if equal. */
static bool cmk_io_check(struct __test_metadata *_metadata, SELF *self,
			 int fd, uint64_t base, const char *what,
			 uint64_t start, uint64_t count)
{
	uint64_t bad = 0;
	int r;

	r = cmk_io_compare(self, fd, base, start, count, &bad);
	EXPECT_EQ(0, r) {
		if (r > 0)
			TH_LOG("%s: sectors %" PRIu64 "+%" PRIu64
			       " read back wrong from sector %" PRIu64
			       " (extent %u)", what, start, count, bad,
			       cmk_io_extent(self, bad));
		else
			TH_LOG("%s: reading sectors %" PRIu64 "+%" PRIu64
			       " failed: %s", what, start, count,
			       strerror(-r));
	}
	return r == 0;
}

/* Write through dm-cmk and read straight back; both reported. */
static void cmk_io_write_check(struct __test_metadata *_metadata, SELF *self,
			       const char *what, uint64_t start,
			       uint64_t count)
{
	int r;

	r = cmk_io_write_random(self, self->fd, 0, start, count);
	EXPECT_EQ(0, r) {
		TH_LOG("%s: writing sectors %" PRIu64 "+%" PRIu64
		       " (extents %u-%u) failed: %s", what, start, count,
		       cmk_io_extent(self, start),
		       cmk_io_extent(self, start + count - 1), strerror(-r));
		return;
	}
	cmk_io_check(_metadata, self, self->fd, 0, what, start, count);
}

/* Is [start, start + count) of the loop device all zeroes? */
static void cmk_io_check_zero(struct __test_metadata *_metadata, SELF *self,
			      const char *what, uint64_t start,
			      uint64_t count)
{
	size_t len = count * SECT;
	unsigned char *buf, *zero;
	ssize_t d = -1;
	int r;

	buf = cmk_test_alloc(len);
	zero = cmk_test_alloc(len);
	ASSERT_TRUE(buf && zero);
	r = cmk_test_pread(self->loop_fd, buf, len, start * SECT);
	if (!r)
		d = cmk_test_diff(buf, zero, len);
	free(buf);
	free(zero);
	EXPECT_EQ(0, r) TH_LOG("%s: reading the loop device: %s", what,
			       strerror(-r));
	EXPECT_EQ(-1, d) TH_LOG("%s: loop sector %" PRIu64 " was written",
				what, start + d / SECT);
}

struct cmk_io_region {
	const char *what;
	uint64_t start;			/* target sector */
	uint64_t count;			/* sectors */
};

/*
 * 1. Round trip: whatever shape a write has, it reads back.
 */
TEST_F_TIMEOUT(cmk_io, roundtrip, CMK_IO_TIMEOUT)
{
	const uint64_t E = self->ext, us = self->us, len = self->len;
	const uint64_t tail = len % E, last = len - tail;
	const struct cmk_io_region pats[] = {
		{ "whole device in one write", 0, len },
		{ "straddling extents 0 and 1", E - 2 * us, 4 * us },
		{ "first unit of extent 3", 3 * E, us },
		{ "last unit of extent 3", 4 * E - us, us },
		{ "extents 1-3 exactly, one write", E, 3 * E },
		{ "three extents' worth from mid extent 2", 2 * E + E / 2, 3 * E },
		{ "one extent's worth from inside extent 4", 4 * E + 3 * us, E },
		{ "a few units inside extent 5", 5 * E + 5 * us, 3 * us },
		{ "the partial last extent", last, tail },
		{ "last unit of the device", len - us, us },
		{ "from extent 6 into the partial last extent",
		  last - 2 * us, 2 * us + tail },
	};
	const unsigned int nseg = 8, nslot = 16;
	struct iovec iov[8];
	unsigned char *buf, *base;
	uint64_t start, n, bad;
	char why[1536];
	unsigned int i;
	ssize_t ret;
	int r;

	if (self->skip)
		return;

	for (i = 0; i < ARRAY_SIZE(pats); i++)
		cmk_io_write_check(_metadata, self, pats[i].what,
				   pats[i].start, pats[i].count);

	/* Everything at once, then in chunks that do not match the writes. */
	cmk_io_check(_metadata, self, self->fd, 0, "whole device", 0, len);
	for (start = 0; start < len; start += n) {
		n = len - start < 7 * us ? len - start : 7 * us;
		if (!cmk_io_check(_metadata, self, self->fd, 0,
				  "7-unit chunks", start, n))
			break;
	}

	/*
	 * Scattered iovecs: one unit per segment, buffers out of order, the
	 * write straddling extents 1 and 2.
	 */
	buf = cmk_test_alloc(nslot * self->unit);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, cmk_test_random(buf, nslot * self->unit));
	start = 2 * E - (nseg / 2) * us;
	for (i = 0; i < nseg; i++) {
		iov[i].iov_base = buf + ((3 * i + 1) % nslot) * self->unit;
		iov[i].iov_len = self->unit;
	}
	ret = pwritev(self->fd, iov, nseg, start * SECT);
	EXPECT_EQ((ssize_t)(nseg * self->unit), ret)
		TH_LOG("scattered pwritev at sector %" PRIu64 ": %s", start,
		       ret < 0 ? strerror(errno) : "short");
	if (ret == (ssize_t)(nseg * self->unit))
		for (i = 0; i < nseg; i++)
			memcpy(self->shadow + (start + i * us) * SECT,
			       iov[i].iov_base, self->unit);
	for (i = 0; i < nseg; i++)
		iov[i].iov_base = buf + ((5 * i + 2) % nslot) * self->unit;
	memset(buf, 0, nslot * self->unit);
	ret = preadv(self->fd, iov, nseg, start * SECT);
	EXPECT_EQ((ssize_t)(nseg * self->unit), ret)
		TH_LOG("scattered preadv at sector %" PRIu64 ": %s", start,
		       ret < 0 ? strerror(errno) : "short");
	for (i = 0; ret > 0 && i < nseg; i++)
		EXPECT_EQ(-1, cmk_test_diff(iov[i].iov_base,
					    self->shadow + (start + i * us) * SECT,
					    self->unit))
			TH_LOG("scattered preadv: segment %u (sector %" PRIu64
			       ", extent %u) wrong", i, start + i * us,
			       cmk_io_extent(self, start + i * us));
	free(buf);

	/*
	 * A user buffer aligned to 512 bytes but not to a page: with 512-byte
	 * units it must work; with 4096-byte units every unit would straddle
	 * two pages, and the kernel must refuse it (EINVAL, from the
	 * advertised alignment) or get it right, never fail it with EIO.
	 */
	base = cmk_test_alloc(3 * CMK_TEST_ALIGN);
	ASSERT_NE(NULL, base);
	buf = base + SECT;
	start = 6 * E - us;
	n = 2 * us;
	ASSERT_EQ(0, cmk_test_random(buf, n * SECT));
	ret = pwrite(self->fd, buf, n * SECT, start * SECT);
	if (ret == (ssize_t)(n * SECT)) {
		memcpy(self->shadow + start * SECT, buf, n * SECT);
	} else {
		EXPECT_TRUE(self->unit > SECT && ret < 0 && errno == EINVAL)
			TH_LOG("pwrite from a buffer at page offset 512, sector %"
			       PRIu64 ": %s", start,
			       ret < 0 ? strerror(errno) : "short");
	}
	memset(buf, 0, n * SECT);
	ret = pread(self->fd, buf, n * SECT, start * SECT);
	if (ret == (ssize_t)(n * SECT)) {
		bad = cmk_test_diff(buf, self->shadow + start * SECT, n * SECT);
		EXPECT_EQ((uint64_t)-1, bad)
			TH_LOG("pread into a buffer at page offset 512: sector %"
			       PRIu64 " (extent %u) wrong", start + bad / SECT,
			       cmk_io_extent(self, start + bad / SECT));
	} else {
		EXPECT_TRUE(self->unit > SECT && ret < 0 && errno == EINVAL)
			TH_LOG("pread into a buffer at page offset 512, sector %"
			       PRIu64 ": %s", start,
			       ret < 0 ? strerror(errno) : "short");
	}
	free(base);

	/* A new open file. */
	close(self->fd);
	self->fd = open(self->node, O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("reopen %s: %s", self->node,
				      strerror(errno));
	cmk_io_check(_metadata, self, self->fd, 0, "whole device after reopen",
		     0, len);

	/* A new mapping with the same keys: the data is really on disk. */
	ASSERT_EQ(0, cmk_io_unmap(self)) TH_LOG("dmsetup remove %s", self->name);
	r = cmk_io_map(self, why, sizeof(why));
	ASSERT_EQ(0, r) TH_LOG("re-create: %s", why);
	cmk_io_check(_metadata, self, self->fd, 0, "whole device after re-create",
		     0, len);

	/* Nothing outside the data area was touched. */
	cmk_io_check_zero(_metadata, self, "before the data offset", 0,
			  self->offset);
	cmk_io_check_zero(_metadata, self, "after the data area",
			  self->offset + len, CMK_IO_PAD);
}

/*
 * 2. The ciphertext is AES-256-XTS as OpenSSL computes it, with the
 * extent's key and tweak = the unit's first sector, in both directions.
 */
TEST_F_TIMEOUT(cmk_io, oracle_openssl, CMK_IO_TIMEOUT)
{
	const uint64_t E = self->ext, us = self->us, len = self->len;
	const size_t U = self->unit;
	const unsigned int mid = self->nr_extents / 2;
	const unsigned int lastx = self->nr_extents - 1;
	/* Named units: first, last and middle units of three extents. */
	const struct cmk_io_region units[] = {
		{ "first unit of extent 0", 0, us },
		{ "last unit of extent 0", E - us, us },
		{ "first unit of the middle extent", mid * E, us },
		{ "a unit in the middle extent", mid * E + E / 2, us },
		{ "last unit of the middle extent", (mid + 1) * E - us, us },
		{ "first unit of the partial last extent", lastx * E, us },
		{ "last unit of the device", len - us, us },
	};
	/* Units that get the same plaintext P. */
	const uint64_t same[] = { us, 2 * us, E, 2 * E };
	/* Units written as ciphertext straight to the loop device. */
	const uint64_t back[] = { E / 2, mid * E + us, lastx * E, len - us };
	unsigned char *ct, *exp, *pt, *p;
	uint64_t s, first_bad = 0;
	unsigned int nbad = 0;
	unsigned int i, x;
	char what[96];
	int r;

	if (self->skip)
		return;

	ct = cmk_test_alloc(len * SECT);
	exp = cmk_test_alloc(U);
	pt = cmk_test_alloc(U);
	ASSERT_TRUE(ct && exp && pt);

	/* Random plaintext everywhere, then P at the units of same[]. */
	r = cmk_io_write_random(self, self->fd, 0, 0, len);
	ASSERT_EQ(0, r) TH_LOG("writing the whole device: %s", strerror(-r));
	ASSERT_EQ(0, cmk_test_random(pt, U));
	for (i = 0; i < ARRAY_SIZE(same); i++) {
		r = cmk_test_pwrite(self->fd, pt, U, same[i] * SECT);
		ASSERT_EQ(0, r) TH_LOG("writing sector %" PRIu64 ": %s",
				       same[i], strerror(-r));
		memcpy(self->shadow + same[i] * SECT, pt, U);
	}

	/* The raw data area, then every unit against OpenSSL. */
	r = cmk_test_pread(self->loop_fd, ct, len * SECT, self->offset * SECT);
	ASSERT_EQ(0, r) TH_LOG("reading the loop device: %s", strerror(-r));
	for (s = 0; s < len; s += us) {
		x = cmk_io_extent(self, s);
		ASSERT_EQ(0, cmk_test_xts(cmk_io_key(self, x), s,
					  self->shadow + s * SECT, exp, U, true));
		if (memcmp(ct + s * SECT, exp, U)) {
			if (!nbad++)
				first_bad = s;
		}
	}
	EXPECT_EQ(0U, nbad)
		TH_LOG("%u units differ from OpenSSL's ciphertext, the first at sector %"
		       PRIu64 " (extent %u)", nbad, first_bad,
		       cmk_io_extent(self, first_bad));

	/* The named units, one by one, read at their own place. */
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		s = units[i].start;
		x = cmk_io_extent(self, s);
		r = cmk_test_pread(self->loop_fd, exp, U,
				   (self->offset + s) * SECT);
		ASSERT_EQ(0, r) TH_LOG("%s: reading the loop device: %s",
				       units[i].what, strerror(-r));
		EXPECT_TRUE(memcmp(exp, self->shadow + s * SECT, U) != 0)
			TH_LOG("%s (sector %" PRIu64 ", extent %u): stored in clear",
			       units[i].what, s, x);
		ASSERT_EQ(0, cmk_test_xts(cmk_io_key(self, x), s, exp, exp, U,
					  false));
		EXPECT_TRUE(memcmp(exp, self->shadow + s * SECT, U) == 0)
			TH_LOG("%s (sector %" PRIu64 ", extent %u): OpenSSL does not decrypt it",
			       units[i].what, s, x);
	}

	/* Same plaintext: the key differs between extents... */
	EXPECT_TRUE(memcmp(ct + E * SECT, ct + 2 * E * SECT, U) != 0)
		TH_LOG("extents 1 and 2: same plaintext, same ciphertext");
	/* ...and the extent's own key is used, not a neighbour's... */
	for (x = 0; x <= 2; x += 2) {
		ASSERT_EQ(0, cmk_test_xts(cmk_io_key(self, x), E, pt, exp, U,
					  true));
		EXPECT_TRUE(memcmp(ct + E * SECT, exp, U) != 0)
			TH_LOG("extent 1 is encrypted with extent %u's key", x);
	}
	/* ...and the tweak differs between units of one extent. */
	EXPECT_TRUE(memcmp(ct + us * SECT, ct + 2 * us * SECT, U) != 0)
		TH_LOG("extent 0: same plaintext in units 1 and 2, same ciphertext");

	/*
	 * The other direction: ciphertext made by OpenSSL, written to the
	 * loop device, reads through dm-cmk as its plaintext.
	 */
	for (i = 0; i < ARRAY_SIZE(back); i++) {
		s = back[i];
		x = cmk_io_extent(self, s);
		p = self->shadow + s * SECT;
		ASSERT_EQ(0, cmk_test_random(p, U));
		ASSERT_EQ(0, cmk_test_xts(cmk_io_key(self, x), s, p, exp, U,
					  true));
		r = cmk_test_pwrite(self->loop_fd, exp, U,
				    (self->offset + s) * SECT);
		ASSERT_EQ(0, r) TH_LOG("writing loop sector %" PRIu64 ": %s",
				       self->offset + s, strerror(-r));
		snprintf(what, sizeof(what), "OpenSSL's ciphertext at sector %"
			 PRIu64 " (extent %u)", s, x);
		cmk_io_check(_metadata, self, self->fd, 0, what, s, us);
	}

	free(ct);
	free(exp);
	free(pt);
}

/*
 * Map stock dm-crypt (aes-xts-plain64) over extent @x of the data area as
 * extra device @slot, with extent @kx's logon key (by description: no key
 * bytes in the table) and iv_offset = extent @x's first sector.  Returns an
 * O_DIRECT file descriptor, or a negative errno with @why set.
 */
static int cmk_io_crypt_open(SELF *self, unsigned int slot, unsigned int x,
			     unsigned int kx, char *why, size_t whysz)
{
	uint64_t start = (uint64_t)x * self->ext;
	char table[512], err[1024], node[128], tag[16];
	const char *name;
	int fd, r;

	snprintf(tag, sizeof(tag), "crypt%u", slot);
	name = cmk_io_extra_name(self, slot, tag);
	snprintf(table, sizeof(table),
		 "0 %" PRIu64 " crypt aes-xts-plain64 :%u:%s:%s%u %" PRIu64
		 " %s %" PRIu64, cmk_io_extent_len(self, x), CMK_TEST_XTS_KEY,
		 CMK_DEK_KEY_TYPE, self->prefix, kx, start, self->loop,
		 self->offset + start);
	if (self->unit != SECT)
		snprintf(table + strlen(table), sizeof(table) - strlen(table),
			 " 1 sector_size:%u", self->unit);

	r = cmk_test_dm_create(name, table, err, sizeof(err));
	if (r) {
		snprintf(why, whysz, "dmsetup create %s (%s) failed (%d): %s",
			 name, table, r, cmk_test_chomp(err));
		return r < 0 ? r : -EIO;
	}
	r = cmk_test_dm_node(name, node, sizeof(node));
	if (r) {
		snprintf(why, whysz, "no device node for %s", name);
		goto out_remove;
	}
	fd = open(node, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whysz, "open %s: %s", node, strerror(errno));
		goto out_remove;
	}
	return fd;

out_remove:
	/* The slot is reused: do not leave the name taken. */
	if (!cmk_test_dm_remove(name))
		self->extra[slot][0] = '\0';
	return r;
}

/* Close and remove extra device @slot.  Returns dmsetup's status. */
static int cmk_io_crypt_close(SELF *self, unsigned int slot, int fd)
{
	int r;

	if (fd >= 0)
		close(fd);
	r = cmk_test_dm_remove(self->extra[slot]);
	if (!r)
		self->extra[slot][0] = '\0';
	return r;
}

/*
 * 3. Stock dm-crypt over one extent, with that extent's key and iv_offset,
 * reads what dm-cmk wrote, and dm-cmk reads what dm-crypt wrote: the
 * format is dm-crypt's, extent by extent (no lock-in).
 */
TEST_F_TIMEOUT(cmk_io, oracle_dmcrypt, CMK_IO_TIMEOUT)
{
	const unsigned int mid = self->nr_extents / 2;
	const unsigned int pick[] = { 0, 1, mid, self->nr_extents - 1 };
	const uint64_t us = self->us;
	char why[1536], what[128];
	uint64_t start, n, bad = 0;
	unsigned int i, x;
	int fd, r;

	if (self->skip)
		return;
	if (!cmk_test_have_target("crypt"))
		SKIP(return, "no dm-crypt target");

	r = cmk_io_write_random(self, self->fd, 0, 0, self->len);
	ASSERT_EQ(0, r) TH_LOG("writing the whole device: %s", strerror(-r));

	for (i = 0; i < ARRAY_SIZE(pick); i++) {
		x = pick[i];
		start = (uint64_t)x * self->ext;
		n = cmk_io_extent_len(self, x);

		fd = cmk_io_crypt_open(self, 0, x, x, why, sizeof(why));
		EXPECT_LE(0, fd) TH_LOG("extent %u: %s", x, why);
		if (fd < 0)
			continue;

		/* dm-crypt reads what dm-cmk wrote... */
		snprintf(what, sizeof(what), "extent %u read through dm-crypt", x);
		cmk_io_check(_metadata, self, fd, start, what, start, n);

		/* ...and writes (all but the first and last unit)... */
		r = cmk_io_write_random(self, fd, start, start + us, n - 2 * us);
		EXPECT_EQ(0, r) TH_LOG("extent %u: writing through dm-crypt: %s",
				       x, strerror(-r));
		EXPECT_EQ(0, cmk_io_crypt_close(self, 0, fd))
			TH_LOG("extent %u: cannot remove the dm-crypt device", x);

		/* ...what dm-cmk reads. */
		snprintf(what, sizeof(what),
			 "extent %u written by dm-crypt, read through dm-cmk", x);
		cmk_io_check(_metadata, self, self->fd, 0, what, start, n);
	}

	/* The oracle can fail: extent 1 under extent 0's key is garbage. */
	fd = cmk_io_crypt_open(self, 1, 1, 0, why, sizeof(why));
	ASSERT_LE(0, fd) TH_LOG("extent 1 with key 0: %s", why);
	r = cmk_io_compare(self, fd, self->ext, self->ext, self->ext, &bad);
	EXPECT_EQ(1, r) TH_LOG("extent 1 read through dm-crypt with extent 0's key: %s",
			       r ? strerror(-r) : "plaintext");
	EXPECT_EQ(self->ext, bad)
		TH_LOG("extent 1 with extent 0's key: first %" PRIu64
		       " sectors read as plaintext", bad - self->ext);
	EXPECT_EQ(0, cmk_io_crypt_close(self, 1, fd))
		TH_LOG("cannot remove the dm-crypt device");
}

/*
 * Add keys "<prefix><i>" for extents 0..@nr-1, of @type, 64 bytes except
 * extent 0's (@len0 bytes), recording them for teardown.  Returns 0 or a
 * negative errno.
 */
static int cmk_io_add_keys(SELF *self, const char *prefix, unsigned int nr,
			   const char *type, size_t len0)
{
	unsigned char key[CMK_TEST_XTS_KEY];
	key_serial_t id = 0;
	unsigned int i;
	char desc[112];

	for (i = 0; i < nr && id >= 0; i++) {
		if (self->nr_xkeys == CMK_IO_MAX_XKEYS) {
			id = -ENOSPC;
			break;
		}
		snprintf(desc, sizeof(desc), "%s%u", prefix, i);
		id = cmk_test_random(key, sizeof(key));
		if (!id)
			id = cmk_test_add_key(type, desc, key,
					      i ? sizeof(key) : len0);
		if (id > 0)
			self->xkeys[self->nr_xkeys++] = id;
	}
	explicit_bzero(key, sizeof(key));
	return id < 0 ? id : 0;
}

/*
 * 4. A table must not load unless every extent has a proper key: a
 * 64-byte logon key.  The last case, with proper keys, must load, so that
 * the others fail for the reason they test.
 */
TEST_F_TIMEOUT(cmk_io, wrong_key_table, CMK_IO_TIMEOUT)
{
	const struct {
		const char *what, *tag, *type;
		unsigned int nr_keys;
		size_t len0;
		bool loads;
	} cases[] = {
		{ "no key at all", "none", "logon", 0, 64, false },
		{ "the partial last extent without a key", "nolast", "logon",
		  self->nr_extents - 1, 64, false },
		{ "extent 0's key 32 bytes", "short", "logon",
		  self->nr_extents, 32, false },
		{ "user keys instead of logon keys", "user", "user",
		  self->nr_extents, 64, false },
		{ "proper keys (control)", "good", "logon",
		  self->nr_extents, 64, true },
	};
	char prefix[96], table[512], err[1024], status[512], state[32];
	unsigned int i, nr = 0, keyed = 0;
	const char *name, *verdict;
	int r;

	if (self->skip)
		return;

	/* The fixture's own device: available, every extent keyed. */
	r = cmk_test_cmd(status, sizeof(status), err, sizeof(err),
			 "dmsetup", "status", self->name, NULL);
	ASSERT_EQ(0, r) TH_LOG("dmsetup status %s: %s", self->name,
			       cmk_test_chomp(err));
	EXPECT_EQ(3, sscanf(status, "%*u %*u cmk %31s %u %u", state, &nr,
			    &keyed))
		TH_LOG("status line of %s not understood", self->name);
	EXPECT_STREQ(CMK_STATE_AVAILABLE, state);
	EXPECT_EQ(self->nr_extents, nr);
	EXPECT_EQ(self->nr_extents, keyed);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(prefix, sizeof(prefix), "cmk:io%d%s:", getpid(),
			 cases[i].tag);
		r = cmk_io_add_keys(self, prefix, cases[i].nr_keys,
				    cases[i].type, cases[i].len0);
		ASSERT_EQ(0, r) TH_LOG("%s: adding keys: %s", cases[i].what,
				       strerror(-r));

		name = cmk_io_extra_name(self, 0, cases[i].tag);
		snprintf(table, sizeof(table), "0 %" PRIu64 " %s %s %" PRIu64
			 " %" PRIu64 " %u %s", self->len, CMK_TARGET_NAME,
			 self->loop, self->offset, self->ext, self->unit,
			 prefix);
		r = cmk_test_dm_create(name, table, err, sizeof(err));
		if (cases[i].loads) {
			EXPECT_EQ(0, r) TH_LOG("%s: dmsetup create failed: %s",
					       cases[i].what,
					       cmk_test_chomp(err));
		} else {
			EXPECT_NE(0, r) TH_LOG("%s: the table loaded",
					       cases[i].what);
		}
		if (cases[i].loads)
			verdict = "is missing";
		else
			verdict = "was left behind";
		EXPECT_EQ(cases[i].loads, cmk_test_dm_exists(name))
			TH_LOG("%s: device %s %s", cases[i].what, name, verdict);
		if (cmk_test_dm_exists(name))
			EXPECT_EQ(0, cmk_test_dm_remove(name))
				TH_LOG("dmsetup remove %s", name);
		self->extra[0][0] = '\0';
	}
}

/*
 * Without root or without the target there is nothing to test: say so once
 * and exit with KSFT_SKIP (4), rather than skip every case and exit 0.
 */
int main(int argc, char **argv)
{
	cmk_test_modprobe("dm_mod");
	if (geteuid() != 0) {
		ksft_print_header();
		ksft_exit_skip("needs root\n");
	}
	if (!cmk_test_have_target(CMK_TARGET_NAME)) {
		ksft_print_header();
		ksft_exit_skip("no \"%s\" device-mapper target (load %s.ko)\n",
			       CMK_TARGET_NAME, CMK_MODULE_NAME);
	}
	return test_harness_run(argc, argv);
}
