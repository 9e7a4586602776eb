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

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "cmk-volume.h"

/* Report progress every this many extents. */
#define CMK_PROGRESS_STEP	256

static int cmk_volume_fail(struct cmk_volume_error *err,
			   enum cmk_volume_fail kind, int ret,
			   const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cmk_volume_fail(struct cmk_volume_error *err,
			   enum cmk_volume_fail kind, int ret,
			   const char *fmt, ...)
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

static uint32_t cmk_vk_wrap_alg(enum cmk_vault_alg alg)
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
		      struct cmk_volume_error *err)
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

	ret = cmk_hdr_write(fd, h, &why);
	if (ret)
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"writing the header: %s: %s",
				why ? why : "error", strerror(-ret));
out:
	cmk_secure_free(vk);
	return ret;
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
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_unlock(const struct cmk_hdr *h, struct cmk_vault *v,
		      struct cmk_volume_keys *keys,
		      struct cmk_volume_error *err)
{
	enum cmk_vault_alg alg = cmk_vault_alg_of(h->kek.wrap_alg);
	char uuid[CMK_UUID_STR_LEN];
	struct cmk_vault_ctx ctx;
	uint8_t *vk, *deks = NULL;
	size_t len = 0;
	uint32_t i;
	int ret;

	cmk_volume_err_init(err);
	keys->count = 0;
	keys->deks = NULL;
	if (!h->extent_count || alg == CMK_VAULT_ALG_AUTO)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -EUCLEAN,
				       "header has no extents or an unknown volume key wrap");
	cmk_uuid_format(h->uuid, uuid);
	vk = cmk_secure_alloc(CMK_VK_SIZE);
	deks = cmk_secure_alloc((size_t)h->extent_count * CMK_DEK_SIZE);
	if (!vk || !deks) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				      "cannot lock memory for %u DEKs (RLIMIT_MEMLOCK?)",
				      h->extent_count);
		goto out;
	}

	ctx = (struct cmk_vault_ctx){ .uuid = uuid, .extent_first = 0,
				      .extent_count = h->extent_count };
	ret = cmk_vault_unwrap(v, &ctx, h->kek.key_version[0] ?
			       h->kek.key_version : NULL, &alg,
			       h->kek.wrapped_vk, h->kek.wrapped_vk_len, vk,
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

	for (i = 0; i < h->extent_count; i++) {
		ret = cmk_dek_unwrap(vk, h->uuid, i, &h->ext[i],
				     deks + (size_t)i * CMK_DEK_SIZE);
		if (ret) {
			err->extent = i;
			cmk_volume_fail(err, ret == -EBADMSG ?
					CMK_VOLUME_FAIL_HEADER :
					CMK_VOLUME_FAIL_SYSTEM, ret,
					"the DEK of extent %u does not authenticate: %s",
					i, ret == -EBADMSG ?
					"header altered or not this volume's key" :
					strerror(-ret));
			goto out;
		}
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
 * cmk_volume_keys_wipe() - wipe and free DEKs from cmk_volume_unlock()
 * @keys: the keys; left empty
 */
void cmk_volume_keys_wipe(struct cmk_volume_keys *keys)
{
	cmk_secure_free(keys->deks);
	keys->deks = NULL;
	keys->count = 0;
}
