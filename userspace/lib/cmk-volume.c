// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk volumes: probe, format and unlock (see cmk-volume.h).
 *
 * The key hierarchy is that of ../shared/design.md: the KEK in the vault
 * wraps one 256-bit volume key (VK); the VK wraps each extent's DEK with
 * AES-256-GCM bound to the UUID, extent index and generation.  Format and
 * unlock therefore make exactly one wrap or unwrap call to the vault,
 * whatever the number of extents.  The VK and the DEKs live only in
 * cmk_secure_alloc() memory and are wiped before these functions return
 * (unlock hands the DEKs to the caller, who wipes them).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include <keyutils.h>
#include <libdevmapper.h>

#include "cmk-volume.h"

/* Report progress every this many extents. */


/**
 * cmk_volume_fail() - fill a volume error
 * @err: the error
 * @kind: what failed
 * @ret: returned as is
 * @fmt: the message, printf-style
 *
 * Return: @ret.
 */
int cmk_volume_fail(struct cmk_volume_error *err, enum cmk_volume_fail kind,
		    int ret, const char *fmt, ...)
{
	va_list ap;

	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret;
}

static void cmk_volume_err_init(struct cmk_volume_error *err)
{
	memset(err, 0, sizeof(*err));
	err->extent = -1;
}

/**
 * cmk_uuid_format() - the usual 8-4-4-4-12 text form of a UUID
 * @uuid: 16 bytes
 * @buf: output, CMK_UUID_STR_LEN bytes
 */
void cmk_uuid_format(const uint8_t *uuid, char buf[CMK_UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;
	int i;

	for (i = 0; i < CMK_HDR_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid[i] >> 4];
		*p++ = hex[uuid[i] & 15];
	}
	*p = '\0';
}

/**
 * cmk_dev_size() - size of a block device or regular file
 * @fd: open descriptor
 * @bytes: its size
 *
 * Return: 0, -ENOTBLK (neither a block device nor a regular file) or
 * another negative errno.
 */
int cmk_dev_size(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	*bytes = st.st_size;
	return 0;
}

/* Bytes read by cmk_volume_probe(): up to the btrfs magic. */
#define CMK_PROBE_LEN	(65536 + 64 + 8)

struct cmk_sig {
	const char *name;
	size_t off;
	size_t len;
	const char *magic;
};

static const struct cmk_sig cmk_sigs[] = {
	{ "a dm-cmk header", 0, CMK_HDR_MAGIC_LEN, CMK_HDR_MAGIC },
	{ "a LUKS header", 0, 6, "LUKS\xba\xbe" },
	{ "an XFS filesystem", 0, 4, "XFSB" },
	{ "an ext2/3/4 filesystem", 1024 + 56, 2, "\x53\xef" },
	{ "a btrfs filesystem", 65536 + 64, 8, "_BHRfS_M" },
	{ "a swap area", 4086, 10, "SWAPSPACE2" },
	{ "a swap area", 4086, 10, "SWAP-SPACE" },
	{ "a GPT partition table", 512, 8, "EFI PART" },
	{ "an MBR partition table or boot sector", 510, 2, "\x55\xaa" },
};

/**
 * cmk_volume_probe() - look for a known signature at the start of a device
 * @fd: device or file, open for reading
 * @what: set to a description of what was found ("an XFS filesystem")
 * @size: bytes in @what
 *
 * Looks for a dm-cmk header (either copy), LUKS, XFS, ext2/3/4, btrfs,
 * swap, GPT and MBR signatures.  A device shorter than a signature's
 * offset simply does not have it.
 *
 * Return: 1 if a signature was found, 0 if none, or a negative errno.
 */
int cmk_volume_probe(int fd, char *what, size_t size)
{
	struct cmk_hdr_read_info info;
	struct cmk_hdr *h = NULL;
	uint8_t *buf;
	size_t got = 0, i;
	ssize_t n;
	int ret = 0;

	if (size)
		what[0] = '\0';
	buf = calloc(1, CMK_PROBE_LEN);
	if (!buf)
		return -ENOMEM;
	while (got < CMK_PROBE_LEN) {
		n = pread(fd, buf + got, CMK_PROBE_LEN - got, got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (!n)
			break;
		got += n;
	}
	for (i = 0; i < sizeof(cmk_sigs) / sizeof(cmk_sigs[0]); i++) {
		const struct cmk_sig *s = &cmk_sigs[i];

		if (s->off + s->len <= got &&
		    !memcmp(buf + s->off, s->magic, s->len)) {
			snprintf(what, size, "%s", s->name);
			ret = 1;
			goto out;
		}
	}
	/* A damaged copy A may leave a valid copy B further on. */
	if (!cmk_hdr_read(fd, &h, &info)) {
		snprintf(what, size, "a dm-cmk header");
		ret = 1;
	}
	cmk_hdr_free(h);
out:
	free(buf);
	return ret;
}

uint32_t cmk_vk_wrap_alg(enum cmk_vault_alg alg)
{
	switch (alg) {
	case CMK_VAULT_ALG_RSA_OAEP_SHA1:
		return CMK_VK_WRAP_RSA_OAEP_SHA1;
	case CMK_VAULT_ALG_RSA_OAEP_SHA256:
		return CMK_VK_WRAP_RSA_OAEP_SHA256;
	default:
		return 0;
	}
}

static enum cmk_vault_alg cmk_vault_alg_of(uint32_t wrap_alg)
{
	switch (wrap_alg) {
	case CMK_VK_WRAP_RSA_OAEP_SHA1:
		return CMK_VAULT_ALG_RSA_OAEP_SHA1;
	case CMK_VK_WRAP_RSA_OAEP_SHA256:
		return CMK_VAULT_ALG_RSA_OAEP_SHA256;
	default:
		return CMK_VAULT_ALG_AUTO;
	}
}

/**
 * cmk_volume_format() - key a new header and write it
 * @fd: device (attached header) or header file (detached), open read-write
 * @h: a header from cmk_hdr_alloc(), with @h->label and @h->kek's
 *	vault_type, uri and key_version already set
 * @v: the vault holding the KEK named by @h->kek.uri
 * @progress: called while DEKs are made, may be NULL
 * @arg: passed to @progress
 * @err: why it failed
 *
 * A random volume key is wrapped by the KEK (one vault call), every extent
 * gets a fresh random DEK wrapped under the volume key, and both header
 * copies are written and synced.  The volume key is wiped before return.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_format(int fd, struct cmk_hdr *h, struct cmk_vault *v,
		      cmk_volume_progress_fn progress, void *arg,
		      char *fingerprint, struct cmk_volume_error *err)
{
	enum cmk_vault_alg alg = CMK_VAULT_ALG_AUTO;
	char uuid[CMK_UUID_STR_LEN];
	struct cmk_vault_ctx ctx;
	uint8_t *vk;
	const char *why;
	size_t len = 0;
	uint32_t i;
	int ret;

	cmk_volume_err_init(err);
	cmk_uuid_format(h->uuid, uuid);
	vk = cmk_secure_alloc(CMK_VK_SIZE);
	if (!vk)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -errno,
				       "cannot lock memory for the volume key");
	ret = cmk_random(vk, CMK_VK_SIZE);
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"getrandom failed");
		goto out;
	}

	ctx = (struct cmk_vault_ctx){ .uuid = uuid, .extent_first = 0,
				      .extent_count = h->extent_count };
	ret = cmk_vault_wrap(v, &ctx, h->kek.key_version[0] ?
			     h->kek.key_version : NULL, &alg, vk, CMK_VK_SIZE,
			     h->kek.wrapped_vk, &len, &err->vault);
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_VAULT, ret,
				"wrapping the volume key: %s", err->vault.msg);
		goto out;
	}
	h->kek.wrap_alg = cmk_vk_wrap_alg(alg);
	h->kek.wrapped_vk_len = len;
	if (!h->kek.wrap_alg || !len || len > CMK_HDR_WRAPPED_VK_MAX) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EPROTO,
				      "the vault returned an unusable wrap");
		goto out;
	}

	for (i = 0; i < h->extent_count; i++) {
		ret = cmk_hdr_new_dek(h, vk, i);
		if (ret) {
			err->extent = i;
			cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
					"making the DEK of extent %u: %s", i,
					strerror(-ret));
			goto out;
		}
		if (progress && (i + 1) % CMK_PROGRESS_STEP == 0)
			progress(i + 1, h->extent_count, arg);
	}
	if (progress)
		progress(h->extent_count, h->extent_count, arg);

	ret = cmk_hdr_write(fd, h, vk, &why);
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"writing the header: %s: %s",
				why ? why : "error", strerror(-ret));
		goto out;
	}
	if (fingerprint && cmk_vk_fingerprint(vk, h->uuid, fingerprint))
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				      "computing the volume key fingerprint failed");
out:
	cmk_secure_free(vk);
	return ret;
}

/*
 * Unwrap the volume key of @h in one vault call into locked memory (*@vkp,
 * freed with cmk_secure_free()); the audit record names @extents extents.
 */
static int cmk_volume_unwrap_vk(const struct cmk_hdr *h, struct cmk_vault *v,
				uint32_t extents, uint8_t **vkp,
				struct cmk_volume_error *err)
{
	return cmk_volume_vk_unwrap(h, &h->kek, v, extents, vkp, err);
}

/**
 * cmk_volume_vk_unwrap() - unwrap the volume key from one KEK slot
 * @h: the header
 * @k: &@h->kek, or &@h->kek_new while a KEK rotation is staged
 * @v: the vault holding that slot's KEK
 * @extents: extents named in the audit record
 * @vkp: the volume key in locked memory, for cmk_secure_free()
 * @err: why it failed
 *
 * One vault call, for exactly the key version the slot records.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_vk_unwrap(const struct cmk_hdr *h, const struct cmk_kek_ref *k,
			 struct cmk_vault *v, uint32_t extents, uint8_t **vkp,
			 struct cmk_volume_error *err)
{
	enum cmk_vault_alg alg = cmk_vault_alg_of(k->wrap_alg);
	char uuid[CMK_UUID_STR_LEN];
	struct cmk_vault_ctx ctx;
	size_t len = 0;
	uint8_t *vk;
	int ret;

	cmk_volume_err_init(err);
	*vkp = NULL;
	if (!h->extent_count || alg == CMK_VAULT_ALG_AUTO)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -EUCLEAN,
				       "header has no extents or an unknown volume key wrap");
	cmk_uuid_format(h->uuid, uuid);
	vk = cmk_secure_alloc(CMK_VK_SIZE);
	if (!vk)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				       "cannot lock memory for the volume key (RLIMIT_MEMLOCK?)");
	ctx = (struct cmk_vault_ctx){ .uuid = uuid, .extent_first = 0,
				      .extent_count = extents };
	ret = cmk_vault_unwrap(v, &ctx, k->key_version[0] ?
			       k->key_version : NULL, &alg,
			       k->wrapped_vk, k->wrapped_vk_len, vk,
			       CMK_VK_SIZE, &len, &err->vault);
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_VAULT, ret,
				"unwrapping the volume key: %s", err->vault.msg);
		goto out;
	}
	if (len != CMK_VK_SIZE) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -EBADMSG,
				      "the KEK unwrapped a %zu-byte volume key, not %d",
				      len, CMK_VK_SIZE);
		goto out;
	}
	*vkp = vk;
	vk = NULL;
out:
	cmk_secure_free(vk);
	return ret;
}

/* Unwrap and authenticate extent @i's DEK of @h under @vk into @dek. */
static int cmk_volume_dek_unwrap(const struct cmk_hdr *h, const uint8_t *vk,
				 uint32_t i, uint8_t *dek,
				 struct cmk_volume_error *err)
{
	int ret = cmk_dek_unwrap(vk, h->uuid, i, &h->ext[i], dek);

	if (!ret)
		return 0;
	err->extent = i;
	return cmk_volume_fail(err, ret == -EBADMSG ? CMK_VOLUME_FAIL_HEADER :
			       CMK_VOLUME_FAIL_SYSTEM, ret,
			       "the DEK of extent %u does not authenticate: %s",
			       i, ret == -EBADMSG ?
			       "header altered or not this volume's key" :
			       strerror(-ret));
}

/*
 * The MAC of @h under @vk, then the fingerprint of @vk into @fp: a header
 * altered in any byte is refused here; one forged whole, under a key of
 * the forger's, is refused by the pin (cmk_volume_trust()).
 */
int cmk_volume_authenticate(const struct cmk_hdr *h, const uint8_t *vk,
			    char *fp, struct cmk_volume_error *err)
{
	int ret = cmk_hdr_authentic(h, vk);

	if (ret == -ENOKEY)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, ret,
				       "the header carries no MAC (written before headers were authenticated): it cannot be told from a forged one");
	if (ret == -EBADMSG)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, ret,
				       "the header does not authenticate under its volume key: it was altered after it was written");
	if (ret || cmk_vk_fingerprint(vk, h->uuid, fp))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				       "computing the header MAC failed");
	return 0;
}

/**
 * cmk_volume_unlock() - unwrap the volume key and every DEK of a volume
 * @h: the volume's header
 * @v: the vault holding the KEK (@h->kek.uri, or another URI for it)
 * @keys: on success, every DEK in one locked buffer; release it with
 *	cmk_volume_keys_wipe()
 * @err: why it failed
 *
 * Exactly one vault call (unwrap of the volume key), audited with the
 * volume's UUID and all its extents; the DEKs are then unwrapped and
 * authenticated locally.  An entry that does not authenticate (altered DEK,
 * extent index, generation, or a volume key that is not this volume's)
 * fails the whole unlock: no key is handed out from a tampered header.
 * A header that records an online DEK rotation is refused before the
 * vault is asked: part of that extent is under the new DEK, which this
 * version cannot map, and its old DEK alone would read it wrongly.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_unlock(const struct cmk_hdr *h, struct cmk_vault *v,
		      struct cmk_volume_keys *keys,
		      struct cmk_volume_error *err)
{
	return cmk_volume_unlock_slot(h, &h->kek, v, keys, err);
}

/**
 * cmk_volume_unlock_slot() - cmk_volume_unlock() through a chosen KEK slot
 * @h: the volume's header
 * @k: &@h->kek, or &@h->kek_new while a KEK rotation is staged (both
 *	wrap the same volume key: a header caught mid-rotation opens with
 *	the old KEK or the new one)
 * @v: the vault holding that KEK
 * @keys: as for cmk_volume_unlock()
 * @err: why it failed
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_unlock_slot(const struct cmk_hdr *h,
			   const struct cmk_kek_ref *k, struct cmk_vault *v,
			   struct cmk_volume_keys *keys,
			   struct cmk_volume_error *err)
{
	uint8_t *vk, *deks = NULL;
	uint32_t i;
	int ret;

	keys->count = 0;
	keys->deks = NULL;
	keys->fingerprint[0] = '\0';
	if (h->incompat & CMK_HDR_INCOMPAT_DEK_ROT)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -EOPNOTSUPP,
				       "the header records an online DEK rotation of extent %u, which this version cannot open",
				       h->dek_rot.extent);
	if (k != &h->kek && (k != &h->kek_new ||
			     h->kek_state != CMK_KEK_ROT_STAGED))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EINVAL,
				       "no such KEK slot in the header");
	ret = cmk_volume_vk_unwrap(h, k, v, h->extent_count, &vk, err);
	if (ret)
		return ret;
	ret = cmk_volume_authenticate(h, vk, keys->fingerprint, err);
	if (ret)
		goto out;
	deks = cmk_secure_alloc((size_t)h->extent_count * CMK_DEK_SIZE);
	if (!deks) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				      "cannot lock memory for %u DEKs (RLIMIT_MEMLOCK?)",
				      h->extent_count);
		goto out;
	}
	for (i = 0; i < h->extent_count; i++) {
		ret = cmk_volume_dek_unwrap(h, vk, i,
					    deks + (size_t)i * CMK_DEK_SIZE,
					    err);
		if (ret)
			goto out;
	}
	keys->count = h->extent_count;
	keys->deks = deks;
	deks = NULL;
out:
	cmk_secure_free(deks);
	cmk_secure_free(vk);
	return ret;
}

/**
 * cmk_volume_rewrite() - write an authentic header again, sealed afresh
 * @fd: its device or detached header file, open for writing
 * @h: the header, as read from @fd
 * @v: the vault holding its KEK
 * @err: why it failed
 *
 * One vault call unwraps the volume key; the header must authenticate
 * under it; then both copies are written with the next sequence number
 * and a new MAC.  Repairs a damaged copy; every later update of a header
 * (rotations) ends the same way.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_rewrite(int fd, struct cmk_hdr *h, struct cmk_vault *v,
		       struct cmk_volume_error *err)
{
	char fp[CMK_VK_FP_LEN];
	const char *why;
	uint8_t *vk;
	int ret;

	ret = cmk_volume_unwrap_vk(h, v, 0, &vk, err);
	if (ret)
		return ret;
	ret = cmk_volume_authenticate(h, vk, fp, err);
	if (!ret) {
		ret = cmk_hdr_write(fd, h, vk, &why);
		if (ret)
			cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
					"writing the header: %s: %s",
					why ? why : "error", strerror(-ret));
	}
	cmk_secure_free(vk);
	return ret;
}

/**
 * cmk_volume_check_kek() - prove that the KEK still unwraps a volume's key
 * @h: the volume's header
 * @v: the vault holding the KEK
 * @err: why it failed
 *
 * One vault call (unwrap of the volume key, audited with the volume's UUID
 * and no extents), then the DEK of extent 0 is authenticated with it, so
 * that a KEK that unwraps something else does not pass.  Both are wiped at
 * once.  This is the check cmkd makes every poll interval: it covers the
 * key's existence, its enabled state and dates, and the caller's own
 * permission to use it.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_check_kek(const struct cmk_hdr *h, struct cmk_vault *v,
			 struct cmk_volume_error *err)
{
	uint8_t *vk, *dek;
	int ret;

	ret = cmk_volume_unwrap_vk(h, v, 0, &vk, err);
	if (ret)
		return ret;
	dek = cmk_secure_alloc(CMK_DEK_SIZE);
	if (dek)
		ret = cmk_volume_dek_unwrap(h, vk, 0, dek, err);
	else
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				      "cannot lock memory for a DEK");
	cmk_secure_free(dek);
	cmk_secure_free(vk);
	return ret;
}

/**
 * cmk_volume_keys_wipe() - wipe and free DEKs from cmk_volume_unlock()
 * @keys: the keys; left empty
 */
void cmk_volume_keys_wipe(struct cmk_volume_keys *keys)
{
	cmk_secure_free(keys->deks);
	keys->deks = NULL;
	keys->count = 0;
}

/**
 * cmk_volume_key_prefix() - key prefix of a volume's DEKs, "cmk:<uuid>:"
 * @h: the volume's header
 * @buf: output
 */
void cmk_volume_key_prefix(const struct cmk_hdr *h,
			   char buf[CMK_VOLUME_PREFIX_LEN])
{
	char uuid[CMK_UUID_STR_LEN];

	cmk_uuid_format(h->uuid, uuid);
	snprintf(buf, CMK_VOLUME_PREFIX_LEN, "cmk:%s:", uuid);
}

/**
 * cmk_volume_dm_uuid() - dm uuid of a volume's mapping, "CMK-<uuid>"
 * @h: the volume's header
 * @buf: output
 */
void cmk_volume_dm_uuid(const struct cmk_hdr *h,
			char buf[CMK_VOLUME_DM_UUID_LEN])
{
	char uuid[CMK_UUID_STR_LEN];

	cmk_uuid_format(h->uuid, uuid);
	snprintf(buf, CMK_VOLUME_DM_UUID_LEN, "CMK-%s", uuid);
}

/**
 * cmk_volume_table() - the cmk table of a volume
 * @h: the volume's header
 * @dev: the data device (a path or major:minor)
 * @t: filled in: data offset, extent size and data unit from the header
 *	(the data offset is 0 with a detached header), key prefix
 *	"cmk:<uuid>:", no lease, no discards
 *
 * Return: 0, or -ENAMETOOLONG.
 */
int cmk_volume_table(const struct cmk_hdr *h, const char *dev,
		     struct cmk_table *t)
{
	memset(t, 0, sizeof(*t));
	if (strlen(dev) >= sizeof(t->dev))
		return -ENAMETOOLONG;
	strcpy(t->dev, dev);
	t->offset = h->data_offset;
	t->extent_sectors = h->extent_sectors;
	t->sector_size = h->data_unit;
	cmk_volume_key_prefix(h, t->key_prefix);
	return 0;
}

/**
 * cmk_volume_activate() - create the cmk mapping of an unlocked volume
 * @h: the volume's header
 * @keys: its DEKs, from cmk_volume_unlock()
 * @dev: the data device (a path or major:minor)
 * @name: dm name of the new mapping
 * @read_only: create it read-only
 * @err: why it failed
 *
 * cmk_volume_activate_opts() with only @read_only set.
 *
 * Return: as cmk_volume_activate_opts().
 */
int cmk_volume_activate(const struct cmk_hdr *h,
			const struct cmk_volume_keys *keys, const char *dev,
			const char *name, bool read_only,
			struct cmk_volume_error *err)
{
	struct cmk_activate_opts o = { .read_only = read_only };

	return cmk_volume_activate_opts(h, keys, dev, name, &o, err);
}

/* May @name be (re)loaded for the volume of dm uuid @dm_uuid? */
static int cmk_volume_check_name(const char *name, const char *dm_uuid,
				 bool reload, struct cmk_volume_error *err)
{
	char other[CMK_DM_NAME_MAX];
	int ret;

	ret = cmk_dm_exists(name, NULL);
	if (ret < 0)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "device-mapper is not available: %s",
				       strerror(-ret));
	if (ret && !reload)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EEXIST,
				       "a device-mapper device named %s already exists",
				       name);
	if (!ret && reload)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENXIO,
				       "there is no device-mapper device named %s",
				       name);
	ret = cmk_volume_find_dm_uuid(dm_uuid, other, sizeof(other));
	if (ret < 0)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "looking for dm uuid %s: %s", dm_uuid,
				       strerror(-ret));
	if (ret && (!reload || strcmp(other, name)))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EBUSY,
				       "the volume is already open as %s", other);
	if (!ret && reload)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EBUSY,
				       "%s is not this volume's mapping", name);
	return 0;
}

/**
 * cmk_volume_activate_opts() - create or reload the cmk mapping of a volume
 * @h: the volume's header
 * @keys: its DEKs, from cmk_volume_unlock()
 * @dev: the data device (a path or major:minor)
 * @name: dm name of the mapping
 * @o: read-only, discards, lease key, and whether to reload an existing
 *	mapping of this volume instead of creating one
 * @err: why it failed
 *
 * The DEKs become logon keys "cmk:<uuid>:<i>" in the calling thread's
 * keyring, which no other process can search; the kernel's request_key()
 * at table load runs in this thread and finds them there.  Once the table
 * is loaded (or refused) they are invalidated, so they stay in the kernel
 * only inside the target.  A new mapping gets the dm uuid "CMK-<uuid>" and
 * the header's data length.  A reload replaces the table of the mapping
 * @name, which must carry this volume's dm uuid, and resumes it: this is
 * how a mapping whose lease lapsed comes back with the same device node.
 * The lease key named by @o->lease must be in a keyring of the calling
 * process.
 *
 * Return: 0, -EEXIST (@name exists and @o->reload is false), -ENXIO (no
 * mapping @name to reload), -EBUSY (the volume is mapped under another
 * name), -EINVAL (a table the kernel would refuse), -EIO (the kernel
 * refused it; the reason is in its log) or another negative errno.
 */
int cmk_volume_activate_opts(const struct cmk_hdr *h,
			     const struct cmk_volume_keys *keys,
			     const char *dev, const char *name,
			     const struct cmk_activate_opts *o,
			     struct cmk_volume_error *err)
{
	char dm_uuid[CMK_VOLUME_DM_UUID_LEN];
	struct cmk_table *t;
	const char *why;
	int ret;

	cmk_volume_err_init(err);
	if (keys->count != h->extent_count || !keys->deks)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EINVAL,
				       "the keys are not this volume's");
	cmk_volume_dm_uuid(h, dm_uuid);
	ret = cmk_volume_check_name(name, dm_uuid, o->reload, err);
	if (ret)
		return ret;

	t = calloc(1, sizeof(*t));
	if (!t)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				       "out of memory");
	ret = cmk_volume_table(h, dev, t);
	if (!ret && o->lease && strlen(o->lease) >= sizeof(t->lease))
		ret = -ENAMETOOLONG;
	if (!ret) {
		if (o->lease)
			strcpy(t->lease, o->lease);
		t->allow_discards = o->allow_discards;
		ret = cmk_table_validate(t, h->data_sectors, &why);
	} else {
		why = "device path or lease name too long";
	}
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, ret,
				"the header gives an invalid table: %s", why);
		goto out;
	}
	ret = cmk_keyring_add_deks(t->key_prefix, keys->deks, keys->count,
				   KEY_SPEC_THREAD_KEYRING);
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"adding the DEKs to the thread keyring: %s",
				strerror(-ret));
		goto out;
	}
	if (o->reload)
		ret = cmk_dm_reload(name, h->data_sectors, t);
	else
		ret = cmk_dm_create(name, dm_uuid, h->data_sectors, t,
				    o->read_only);
	cmk_keyring_drop_deks(t->key_prefix, keys->count,
			      KEY_SPEC_THREAD_KEYRING);
	keyctl_clear(KEY_SPEC_THREAD_KEYRING);
	if (ret)
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"%s", ret == -EIO ?
				"the kernel refused the table (see its log: dmesg)" :
				strerror(-ret));
out:
	free(t);
	return ret;
}

/**
 * cmk_volume_find_dm_uuid() - the dm device with a given dm uuid
 * @dm_uuid: e.g. "CMK-<uuid>"
 * @name: set to its name when found
 * @size: bytes in @name
 *
 * Return: 1 if found, 0 if not, or a negative errno.
 */
int cmk_volume_find_dm_uuid(const char *dm_uuid, char *name, size_t size)
{
	struct cmk_mapping m;
	int r = cmk_dm_info(NULL, dm_uuid, &m);

	if (r > 0)
		snprintf(name, size, "%s", m.name);
	return r;
}

/**
 * cmk_volume_mappings() - every dm device whose table is one cmk target
 * @list: set to an array, sorted by name; free() it
 * @n: set to its length
 *
 * Devices that vanish while they are listed are skipped, and so are
 * devices with any other table (including an inactive-only cmk table).
 *
 * Return: 0, or a negative errno (-ENODEV when device-mapper is not
 * there).
 */
int cmk_volume_mappings(struct cmk_mapping **list, size_t *n)
{
	struct cmk_mapping *out = NULL, *tmp;
	struct cmk_status st;
	struct dm_names *names;
	struct dm_task *dmt;
	size_t cnt = 0, cap = 0;
	unsigned int next = 0;
	int r;

	*list = NULL;
	*n = 0;
	/* NULL also when there is no device-mapper driver. */
	dmt = dm_task_create(DM_DEVICE_LIST);
	if (!dmt)
		return -ENODEV;
	r = -EIO;
	if (!dm_task_run(dmt) || !(names = dm_task_get_names(dmt)))
		goto out;
	r = 0;
	if (!names->dev)
		goto out;
	do {
		names = (struct dm_names *)((char *)names + next);
		next = names->next;
		if (strlen(names->name) >= CMK_DM_NAME_MAX ||
		    cmk_dm_status(names->name, &st))
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 8;
			tmp = realloc(out, cap * sizeof(*out));
			if (!tmp) {
				r = -ENOMEM;
				goto out;
			}
			out = tmp;
		}
		memset(&out[cnt], 0, sizeof(out[cnt]));
		r = cmk_dm_info(names->name, NULL, &out[cnt]);
		if (r < 0)
			goto out;
		if (r)
			cnt++;
		r = 0;
	} while (next);
out:
	dm_task_destroy(dmt);
	if (r) {
		free(out);
		return r;
	}
	/* DM_DEVICE_LIST comes in hash order: sort by name. */
	for (size_t i = 1; i < cnt; i++)
		for (size_t j = i; j > 0 &&
		     strcmp(out[j - 1].name, out[j].name) > 0; j--) {
			struct cmk_mapping x = out[j];

			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	*list = out;
	*n = cnt;
	return 0;
}

/* Is /sys/class/block/@dev a cmk mapping itself (dm uuid "CMK-...")? */
static bool cmk_volume_is_cmk_mapping(const char *dev)
{
	char path[300], uuid[8] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/block/%s/dm/uuid", dev);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(uuid, sizeof(uuid), f))
		uuid[0] = '\0';
	fclose(f);
	return !strncmp(uuid, "CMK-", 4);
}

/**
 * cmk_volume_find_device() - the block device holding a volume's header
 * @uuid: the volume's UUID in text form (lowercase)
 * @path: set to "/dev/<name>" when found
 * @size: bytes in @path
 *
 * Looks at the start of every block device in /sys/class/block, except
 * cmk mappings themselves, for a dm-cmk header with this UUID.  Two
 * devices holding it (a copy of a disk, say) is an error: the caller must
 * name the device.
 *
 * Return: 1 if found, 0 if not, -ENOTUNIQ if more than one device holds
 * it, or another negative errno.
 */
int cmk_volume_find_device(const char *uuid, char *path, size_t size)
{
	struct cmk_hdr_read_info info;
	char dev[300], what[64], u[CMK_UUID_STR_LEN];
	struct cmk_hdr *h;
	struct dirent *d;
	int fd, found = 0;
	DIR *dir;

	dir = opendir("/sys/class/block");
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || cmk_volume_is_cmk_mapping(d->d_name))
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", d->d_name);
		fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		h = NULL;
		if (cmk_volume_probe(fd, what, sizeof(what)) == 1 &&
		    !strcmp(what, "a dm-cmk header") &&
		    !cmk_hdr_read(fd, &h, &info)) {
			cmk_uuid_format(h->uuid, u);
			if (!strcmp(u, uuid)) {
				if (found++)
					found = -ENOTUNIQ;
				else
					snprintf(path, size, "%s", dev);
			}
			cmk_hdr_free(h);
		}
		close(fd);
		if (found < 0)
			break;
	}
	closedir(dir);
	return found;
}
