// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk key lifecycle: KEK rotation (stage, verify, switch), volume-key
 * rotation and rebind.  No data and no DEK is touched: a KEK rotation
 * re-wraps the volume key only, a volume-key rotation and a rebind re-wrap
 * every DEK locally under a new volume key.
 *
 * Every header update is read back from the device, bypassing the page
 * cache, and compared with what was written: a device that drops writes
 * (a failing disk, dm-flakey) makes the step fail instead of reporting a
 * rotation that never reached the disk, after which the old KEK would be
 * retired and the volume lost.  The states a crash can leave are in
 * Documentation/admin-guide/device-mapper/cmk-rotation.rst.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmk-volume.h"

static const uint8_t cmk_zero_pub[CMK_HDR_PUB_LEN];

/* One audit record for a lifecycle step (not a vault call). */
static void cmk_rotate_audit(struct cmk_vault *v, const struct cmk_hdr *h,
			     const char *op, const char *version,
			     enum cmk_vault_class cls, double start)
{
	char uuid[CMK_UUID_STR_LEN];
	struct cmk_vault_ctx ctx;

	if (!v)
		return;
	cmk_uuid_format(h->uuid, uuid);
	ctx = (struct cmk_vault_ctx){ .uuid = uuid,
				      .extent_count = h->extent_count };
	cmk_audit_record(v->audit_fd, v->audit_syslog, op, &ctx, v->uri,
			 version, cls, cmk_vault_now_ms() - start);
}

/**
 * cmk_volume_lock() - take the header lock of a device or header file
 * @fd: the open device or detached header file
 * @err: why it failed
 *
 * An exclusive flock(2), not waiting: two programs never change one
 * header at once (cmkctl and cmkd take it around every header update).
 * Released when @fd is closed.
 *
 * Return: 0, or -EWOULDBLOCK when another process holds it.
 */
int cmk_volume_lock(int fd, struct cmk_volume_error *err)
{
	if (!flock(fd, LOCK_EX | LOCK_NB))
		return 0;
	if (errno == EWOULDBLOCK)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EWOULDBLOCK,
				       "another process is changing this header (cmkctl or cmkd); try again when it is done");
	return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -errno,
			       "locking the header: %s", strerror(errno));
}

/**
 * cmk_volume_read_back() - check that a header write reached the device
 * @fd: the device or header file written
 * @h: the header as written (its sequence number and digest)
 * @err: why it failed
 *
 * The cached pages are dropped (they are clean after the write's
 * fdatasync) and both copies read again: each must be valid, and the
 * newest must be @h.
 *
 * Return: 0, or -EIO when the device does not hold what was written.
 */
int cmk_volume_read_back(int fd, const struct cmk_hdr *h,
			 struct cmk_volume_error *err)
{
	struct cmk_hdr_read_info info;
	struct cmk_hdr *back = NULL;
	int ret;

	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	ret = cmk_hdr_read(fd, &back, &info);
	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				       "reading the header back after writing it: %s",
				       info.why[0] ? info.why[0] : strerror(-ret));
	if (back->seqno != h->seqno ||
	    memcmp(back->digest, h->digest, sizeof(h->digest)))
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				      "the header read back is not the one written (sequence number %llu, expected %llu): the device dropped the write",
				      (unsigned long long)back->seqno,
				      (unsigned long long)h->seqno);
	else if (info.degraded)
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				      "one header copy did not reach the device (copy %c: %s)",
				      info.err[0] ? 'A' : 'B',
				      info.why[info.err[0] ? 0 : 1] ?
				      info.why[info.err[0] ? 0 : 1] :
				      "older than the other");
	cmk_hdr_free(back);
	return ret;
}

/* Write @h sealed under @vk, then read it back. */
static int cmk_rotate_write(int fd, struct cmk_hdr *h, const uint8_t *vk,
			    struct cmk_volume_error *err)
{
	const char *why;
	int ret;

	ret = cmk_hdr_write(fd, h, vk, &why);
	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "writing the header: %s: %s",
				       why ? why : "error", strerror(-ret));
	return cmk_volume_read_back(fd, h, err);
}

/**
 * cmk_volume_repair() - write both copies of an authentic header again
 * @fd: the device or header file, locked
 * @h: its header, authenticated under @vk
 * @vk: the volume key
 * @err: why it failed
 *
 * For a header whose copies differ (a rotation interrupted after its
 * first copy was written): both are written with the newer one's content
 * and read back.
 *
 * Return: 0 or a negative errno.
 */
int cmk_volume_repair(int fd, struct cmk_hdr *h, const uint8_t *vk,
		      struct cmk_volume_error *err)
{
	return cmk_rotate_write(fd, h, vk, err);
}

/**
 * cmk_kek_pub_hex() - a KEK slot's public key hash in hex
 * @k: the slot
 * @buf: 2 * CMK_HDR_PUB_LEN + 1 bytes
 *
 * Return: @buf: 64 lower-case hex digits, or "" when the slot records no
 * public key (all zero).
 */
const char *cmk_kek_pub_hex(const struct cmk_kek_ref *k, char *buf)
{
	int i;

	buf[0] = '\0';
	if (!memcmp(k->pub, cmk_zero_pub, CMK_HDR_PUB_LEN))
		return buf;
	for (i = 0; i < CMK_HDR_PUB_LEN; i++)
		sprintf(buf + 2 * i, "%02x", k->pub[i]);
	return buf;
}

/**
 * cmk_kek_ref_same() - whether two KEK slots name the same key version
 * @a: one slot
 * @b: the other
 *
 * Same backend and version, and the same public key when both know it
 * (else the same URI).
 *
 * Return: true if they do.
 */
bool cmk_kek_ref_same(const struct cmk_kek_ref *a, const struct cmk_kek_ref *b)
{
	if (strcmp(a->vault_type, b->vault_type) ||
	    strcmp(a->key_version, b->key_version))
		return false;
	if (memcmp(a->pub, cmk_zero_pub, CMK_HDR_PUB_LEN) &&
	    memcmp(b->pub, cmk_zero_pub, CMK_HDR_PUB_LEN))
		return !memcmp(a->pub, b->pub, CMK_HDR_PUB_LEN);
	return !strcmp(a->uri, b->uri);
}

/*
 * Check the KEK @version (NULL: the one @v's URI names) as validate-kek
 * does, then wrap @vk under it into @k, which is named @uri_key in the
 * header.  One attribute read and one wrap (local, with the public key,
 * for PKCS#11).
 */
static int cmk_rotate_wrap(const struct cmk_hdr *h, struct cmk_kek_ref *k,
			   const uint8_t *vk, struct cmk_vault *v,
			   const char *uri_key, const char *version,
			   struct cmk_volume_error *err)
{
	struct cmk_kek_check checks[CMK_KEK_CHECKS];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_AUTO;
	struct cmk_vault_key_info info;
	char uuid[CMK_UUID_STR_LEN];
	struct cmk_vault_ctx ctx;
	size_t len = 0;
	int ret;

	cmk_uuid_format(h->uuid, uuid);
	ctx = (struct cmk_vault_ctx){ .uuid = uuid };
	ret = cmk_vault_describe(v, &ctx, version, &info, &err->vault);
	if (!ret)
		ret = cmk_kek_check(&info, time(NULL), checks, &err->vault);
	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_VAULT, ret,
				       "checking the new KEK: %s",
				       err->vault.msg);
	memset(k, 0, sizeof(*k));
	if (strlen(info.version) >= sizeof(k->key_version) ||
	    strlen(uri_key) >= sizeof(k->uri) ||
	    strlen(v->ops->name) >= sizeof(k->vault_type))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -E2BIG,
				       "the new KEK's URI or version is too long for the header");
	strcpy(k->vault_type, v->ops->name);
	strcpy(k->key_version, info.version);
	strcpy(k->uri, uri_key);
	if (info.has_pub_sha256)
		memcpy(k->pub, info.pub_sha256, CMK_HDR_PUB_LEN);
	ctx.extent_count = h->extent_count;
	ret = cmk_vault_wrap(v, &ctx, info.version[0] ? info.version : NULL,
			     &alg, vk, CMK_VK_SIZE, k->wrapped_vk, &len,
			     &err->vault);
	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_VAULT, ret,
				       "wrapping the volume key under the new KEK: %s",
				       err->vault.msg);
	k->wrap_alg = cmk_vk_wrap_alg(alg);
	k->wrapped_vk_len = len;
	if (!k->wrap_alg || !len || len > CMK_HDR_WRAPPED_VK_MAX)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EPROTO,
				       "the vault returned an unusable wrap");
	return 0;
}

/*
 * Unwrap slot @k through @v (one vault call) and compare with @vk: the
 * proof that the new KEK really gives the volume key back.
 */
static int cmk_rotate_verify(const struct cmk_hdr *h,
			     const struct cmk_kek_ref *k, const uint8_t *vk,
			     struct cmk_vault *v, struct cmk_volume_error *err)
{
	uint8_t *back;
	int ret;

	ret = cmk_volume_vk_unwrap(h, k, v, 0, &back, err);
	if (ret)
		return ret;
	if (CRYPTO_memcmp(back, vk, CMK_VK_SIZE)) {
		err->vault.cls = CMK_VAULT_INVALID_KEY;
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_VAULT, -EKEYREJECTED,
				      "the new KEK unwrapped another volume key than the one it was given");
	}
	cmk_secure_free(back);
	return ret;
}

/**
 * cmk_volume_kek_stage() - wrap the volume key under a new KEK, staged
 * @fd: the device or header file, locked (cmk_volume_lock())
 * @h: its header, authenticated under @vk; kek_new is replaced
 * @vk: the volume key
 * @v: the vault of the new KEK
 * @uri_key: the new KEK's URI as the header records it (the key's name,
 *	no local settings: cmk_vault_uri_key())
 * @version: the new KEK's version, or NULL for the one @v's URI names
 * @err: why it failed
 *
 * The new key's attributes are checked first (enabled, dates, size,
 * usage), then the volume key is wrapped under it into the staged slot
 * (kek_state 1, KEK_ROT), and the header written and read back.  The
 * current slot is untouched: the header opens with the old KEK as
 * before, and with the new one.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_kek_stage(int fd, struct cmk_hdr *h, const uint8_t *vk,
			 struct cmk_vault *v, const char *uri_key,
			 const char *version, struct cmk_volume_error *err)
{
	double t0 = cmk_vault_now_ms();
	struct cmk_kek_ref k;
	int ret;

	ret = cmk_rotate_wrap(h, &k, vk, v, uri_key, version, err);
	if (ret)
		goto out;
	if (cmk_kek_ref_same(&k, &h->kek)) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EALREADY,
				      "the volume key is already wrapped by this KEK version (%s)",
				      k.key_version[0] ? k.key_version : "-");
		goto out;
	}
	h->kek_new = k;
	h->kek_state = CMK_KEK_ROT_STAGED;
	h->incompat |= CMK_HDR_INCOMPAT_KEK_ROT;
	ret = cmk_rotate_write(fd, h, vk, err);
out:
	cmk_rotate_audit(v, h, "kek-stage", k.key_version,
			 ret ? (err->kind == CMK_VOLUME_FAIL_VAULT ?
				err->vault.cls : CMK_VAULT_TRANSIENT) :
			 CMK_VAULT_OK, t0);
	return ret;
}

/**
 * cmk_volume_kek_commit() - verify the staged KEK, then make it current
 * @fd: the device or header file, locked
 * @h: its header, with a staged rotation (as read back from @fd)
 * @vk: the volume key
 * @v: the vault of the staged KEK
 * @err: why it failed
 *
 * One vault call unwraps the staged slot, as read from the device, and it
 * must give @vk back.  Only then does the staged slot become the current
 * one (the old is dropped in the same write) and the header is written and
 * read back.  A crash before that write's first copy is durable leaves the
 * staged header; after it, the new one.
 *
 * Return: 0 or a negative errno; @err classifies the failure.  When the
 * new KEK does not give the volume key back, the header is left staged:
 * it still opens with the old KEK; cmk_volume_kek_abort() clears it.
 * When the switch's write fails, the device holds the staged header or
 * the new one: read it again before going on.
 */
int cmk_volume_kek_commit(int fd, struct cmk_hdr *h, const uint8_t *vk,
			  struct cmk_vault *v, struct cmk_volume_error *err)
{
	double t0 = cmk_vault_now_ms();
	int ret;

	if (h->kek_state != CMK_KEK_ROT_STAGED)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EINVAL,
				       "no KEK rotation is staged");
	ret = cmk_rotate_verify(h, &h->kek_new, vk, v, err);
	cmk_rotate_audit(v, h, "kek-verify", h->kek_new.key_version,
			 ret ? err->vault.cls : CMK_VAULT_OK, t0);
	if (ret)
		return ret;
	t0 = cmk_vault_now_ms();
	h->kek = h->kek_new;
	memset(&h->kek_new, 0, sizeof(h->kek_new));
	h->kek_state = CMK_KEK_ROT_IDLE;
	h->incompat &= ~CMK_HDR_INCOMPAT_KEK_ROT;
	ret = cmk_rotate_write(fd, h, vk, err);
	cmk_rotate_audit(v, h, "kek-switch", h->kek.key_version,
			 ret ? CMK_VAULT_TRANSIENT : CMK_VAULT_OK, t0);
	return ret;
}

/**
 * cmk_volume_kek_abort() - drop a staged KEK rotation
 * @fd: the device or header file, locked
 * @h: its header, with a staged rotation
 * @vk: the volume key
 * @v: a vault, for the audit record only (may be NULL)
 * @err: why it failed
 *
 * Return: 0 or a negative errno.
 */
int cmk_volume_kek_abort(int fd, struct cmk_hdr *h, const uint8_t *vk,
			 struct cmk_vault *v, struct cmk_volume_error *err)
{
	double t0 = cmk_vault_now_ms();
	char version[CMK_HDR_KEYVER_LEN];
	int ret;

	if (h->kek_state != CMK_KEK_ROT_STAGED)
		return 0;
	memcpy(version, h->kek_new.key_version, sizeof(version));
	memset(&h->kek_new, 0, sizeof(h->kek_new));
	h->kek_state = CMK_KEK_ROT_IDLE;
	h->incompat &= ~CMK_HDR_INCOMPAT_KEK_ROT;
	ret = cmk_rotate_write(fd, h, vk, err);
	cmk_rotate_audit(v, h, "kek-abort", version,
			 ret ? CMK_VAULT_TRANSIENT : CMK_VAULT_OK, t0);
	return ret;
}

/**
 * cmk_volume_kek_rotate() - rotate a header's KEK: resolve, stage, commit
 * @fd: the device or header file, locked
 * @h: its header, authenticated under @vk
 * @vk: the volume key
 * @v_new: the vault of the new KEK
 * @uri_key: the new KEK's URI as the header records it; NULL for a new
 *	version of the current key (its recorded URI)
 * @version: the new KEK's version; NULL: with @uri_key, the one its URI
 *	names; without, the newest enabled version newer than the current
 *	(cmk_vault_newest_version())
 * @resumed: set when a rotation to the same target was already staged
 *	(by a run that was interrupted) and is finished here
 * @err: why it failed
 *
 * Return: 0; -ENOENT when there is no newer version (@err says so; the
 * header is unchanged); -EALREADY when the target is the current KEK;
 * or another negative errno, @err classifying it.
 */
int cmk_volume_kek_rotate(int fd, struct cmk_hdr *h, const uint8_t *vk,
			  struct cmk_vault *v_new, const char *uri_key,
			  const char *version, bool *resumed,
			  struct cmk_volume_error *err)
{
	char newest[CMK_VAULT_VERSION_MAX], uuid[CMK_UUID_STR_LEN];
	char key[CMK_HDR_URI_LEN];
	int ret;

	*resumed = false;
	cmk_uuid_format(h->uuid, uuid);
	/* A new version of the current key: the URI names the key only. */
	if (uri_key)
		snprintf(key, sizeof(key), "%s", uri_key);
	else if (cmk_vault_uri_unversioned(h->kek.uri, key, sizeof(key)))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -E2BIG,
				       "the KEK URI is too long");
	if (!uri_key && !version) {
		if (h->kek_state == CMK_KEK_ROT_STAGED &&
		    !strcmp(h->kek_new.uri, key)) {
			/* An interrupted rotation to a newer version. */
			snprintf(newest, sizeof(newest), "%s",
				 h->kek_new.key_version);
		} else {
			ret = cmk_vault_newest_version(v_new,
				&(struct cmk_vault_ctx){ .uuid = uuid },
				h->kek.key_version, newest, sizeof(newest),
				&err->vault);
			if (ret == -ENOENT)
				return cmk_volume_fail(err,
						       CMK_VOLUME_FAIL_SYSTEM,
						       -ENOENT,
						       "the KEK has no enabled version newer than %s",
						       h->kek.key_version[0] ?
						       h->kek.key_version :
						       "the current one");
			if (ret)
				return cmk_volume_fail(err,
						       CMK_VOLUME_FAIL_VAULT,
						       ret,
						       "listing the versions of the KEK: %s",
						       err->vault.msg);
		}
		version = newest;
	}
	if (h->kek_state == CMK_KEK_ROT_STAGED &&
	    !strcmp(h->kek_new.uri, key) &&
	    !strcmp(h->kek_new.vault_type, v_new->ops->name) &&
	    (!version || !strcmp(h->kek_new.key_version, version))) {
		*resumed = true;
	} else {
		ret = cmk_volume_kek_stage(fd, h, vk, v_new, key, version,
					   err);
		if (ret)
			return ret;
	}
	return cmk_volume_kek_commit(fd, h, vk, v_new, err);
}

/**
 * cmk_volume_unlock_vk() - the volume key of a header being changed
 * @h: the header
 * @v: the vault of its current KEK, or NULL if it could not be opened
 * @open_staged: opens the vault of a staged KEK's URI (the header's, so a
 *	device URI: it may name the key only), or NULL
 * @arg: passed to @open_staged
 * @vkp: the volume key, for cmk_secure_free()
 * @fp: its fingerprint (CMK_VK_FP_LEN)
 * @used_staged: set when the staged KEK gave it
 * @err: why it failed
 *
 * One vault call through the current KEK; when a rotation is staged and
 * the current KEK fails for good (not a transient fault), one through the
 * staged KEK: a header caught mid-rotation opens with either.  Then the
 * header's MAC is checked under the key.
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_unlock_vk(const struct cmk_hdr *h, struct cmk_vault *v,
			 struct cmk_vault *(*open_staged)(const char *uri,
							  void *arg),
			 void *arg, uint8_t **vkp, char *fp, bool *used_staged,
			 struct cmk_volume_error *err)
{
	struct cmk_vault *vs = NULL;
	int ret = -EINVAL;

	*vkp = NULL;
	*used_staged = false;
	if (v)
		ret = cmk_volume_vk_unwrap(h, &h->kek, v, 0, vkp, err);
	if (ret && h->kek_state == CMK_KEK_ROT_STAGED && open_staged &&
	    !(v && err->kind == CMK_VOLUME_FAIL_VAULT &&
	      err->vault.cls == CMK_VAULT_TRANSIENT) &&
	    (!v || err->kind != CMK_VOLUME_FAIL_HEADER)) {
		vs = open_staged(h->kek_new.uri, arg);
		if (vs) {
			memset(err, 0, sizeof(*err));
			ret = cmk_volume_vk_unwrap(h, &h->kek_new, vs, 0, vkp,
						   err);
			*used_staged = !ret;
			cmk_vault_close(vs);
		}
	}
	if (ret)
		return ret;
	ret = cmk_volume_authenticate(h, *vkp, fp, err);
	if (ret) {
		cmk_secure_free(*vkp);
		*vkp = NULL;
	}
	return ret;
}

/*
 * Re-wrap every DEK of @h under @vk_new for the UUID @uuid (the
 * generation kept), checking each under @vk_old first.  Works on a copy of
 * the table: @h is changed only on success.
 */
static int cmk_rotate_rewrap(struct cmk_hdr *h, const uint8_t *vk_old,
			     const uint8_t *vk_new, const uint8_t *uuid,
			     cmk_volume_progress_fn progress, void *arg,
			     struct cmk_volume_error *err)
{
	struct cmk_dek_entry *ext;
	uint8_t *dek;
	uint32_t i;
	int ret = 0;

	ext = calloc(h->extent_count, sizeof(*ext));
	dek = cmk_secure_alloc(CMK_DEK_SIZE);
	if (!ext || !dek) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				      "out of memory (or RLIMIT_MEMLOCK) for the DEK table");
		goto out;
	}
	for (i = 0; i < h->extent_count; i++) {
		ret = cmk_dek_unwrap(vk_old, h->uuid, i, &h->ext[i], dek);
		if (ret) {
			err->extent = i;
			cmk_volume_fail(err, ret == -EBADMSG ?
					CMK_VOLUME_FAIL_HEADER :
					CMK_VOLUME_FAIL_SYSTEM, ret,
					"the DEK of extent %u does not authenticate", i);
			goto out;
		}
		ret = cmk_dek_wrap(vk_new, uuid, i, h->ext[i].generation, dek,
				   &ext[i]);
		if (ret) {
			err->extent = i;
			cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
					"re-wrapping the DEK of extent %u failed", i);
			goto out;
		}
		if (progress && (i + 1) % CMK_PROGRESS_STEP == 0)
			progress(i + 1, h->extent_count, arg);
	}
	if (progress)
		progress(h->extent_count, h->extent_count, arg);
	memcpy(h->ext, ext, (size_t)h->extent_count * sizeof(*ext));
out:
	cmk_secure_free(dek);
	free(ext);
	return ret;
}

/**
 * cmk_volume_vk_rotate() - give a volume a new volume key
 * @fd: the device or header file, locked
 * @h: its header, authenticated under @vk_old, no rotation staged
 * @vk_old: its volume key
 * @v: the vault of its current KEK
 * @opt: progress callback and where the new fingerprint goes
 * @err: why it failed
 *
 * A random volume key; every DEK unwrapped under the old one and wrapped
 * under the new one, locally (no data is touched); the new key wrapped
 * by the current KEK version and unwrapped again through the vault to
 * prove it (one wrap and one unwrap); then one header write, read back.
 * The two-copy write makes the switch atomic: a crash leaves the old
 * header or the new one, both opened by the same KEK.  The caller
 * announces the new fingerprint to the host first (@opt->before_write).
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_vk_rotate(int fd, struct cmk_hdr *h, const uint8_t *vk_old,
			 struct cmk_vault *v,
			 const struct cmk_rekey_opts *opt,
			 struct cmk_volume_error *err)
{
	return cmk_volume_rebind(fd, h, vk_old, v, NULL, NULL, false, opt, err);
}

/**
 * cmk_volume_rebind() - new volume key, optionally new UUID and new KEK
 * @fd: the device or header file, locked
 * @h: its header, authenticated under @vk_old, no rotation staged
 * @vk_old: its volume key
 * @v: the vault that wraps the new volume key: the current KEK's, or the
 *	new KEK's when @uri_key is given
 * @uri_key: the new KEK's URI as recorded, or NULL to keep the KEK
 * @version: the new KEK's version (NULL: the one its URI names)
 * @new_uuid: give the volume a new random UUID (a copy becomes a volume
 *	of its own)
 * @opt: progress, and a callback run with the new fingerprint before
 *	the header is written
 * @err: why it failed
 *
 * As cmk_volume_vk_rotate(), with the DEKs bound to the new UUID.  The
 * DEKs themselves are kept, so the data stays readable with no rewrite
 * (the XTS tweak does not depend on the UUID).
 *
 * Return: 0 or a negative errno; @err classifies the failure.
 */
int cmk_volume_rebind(int fd, struct cmk_hdr *h, const uint8_t *vk_old,
		      struct cmk_vault *v, const char *uri_key,
		      const char *version, bool new_uuid,
		      const struct cmk_rekey_opts *opt,
		      struct cmk_volume_error *err)
{
	const char *op = new_uuid ? "rebind" : "vk-rotate";
	double t0 = cmk_vault_now_ms();
	uint8_t uuid[CMK_HDR_UUID_LEN];
	struct cmk_hdr *n = NULL;
	uint8_t *vk_new;
	int ret;

	if (h->kek_state != CMK_KEK_ROT_IDLE ||
	    (h->incompat & CMK_HDR_INCOMPAT_DEK_ROT))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EBUSY,
				       "a %s rotation is in progress: finish it first",
				       h->kek_state ? "KEK" : "DEK");
	vk_new = cmk_secure_alloc(CMK_VK_SIZE);
	if (!vk_new)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOMEM,
				       "cannot lock memory for the volume key");
	ret = cmk_random(vk_new, CMK_VK_SIZE);
	memcpy(uuid, h->uuid, sizeof(uuid));
	if (!ret && new_uuid) {
		ret = cmk_random(uuid, sizeof(uuid));
		uuid[6] = (uuid[6] & 0x0f) | 0x40;
		uuid[8] = (uuid[8] & 0x3f) | 0x80;
	}
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"getrandom failed");
		goto out;
	}
	/* Work on a copy: @h is left as it was unless the write succeeds. */
	ret = cmk_hdr_clone(h, &n);
	if (ret) {
		cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				"out of memory");
		goto out;
	}
	ret = cmk_rotate_rewrap(n, vk_old, vk_new, uuid, opt->progress,
				opt->arg, err);
	if (ret)
		goto out;
	memcpy(n->uuid, uuid, sizeof(uuid));
	if (uri_key) {
		ret = cmk_rotate_wrap(n, &n->kek, vk_new, v, uri_key, version,
				      err);
	} else {
		struct cmk_kek_ref k = n->kek;

		ret = cmk_rotate_wrap(n, &n->kek, vk_new, v, k.uri,
				      k.key_version[0] ? k.key_version : NULL,
				      err);
		if (!ret && !cmk_kek_ref_same(&k, &n->kek))
			ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM,
					      -ESTALE,
					      "the vault's key is not the KEK version the header records");
	}
	if (ret)
		goto out;
	ret = cmk_rotate_verify(n, &n->kek, vk_new, v, err);
	if (ret)
		goto out;
	if (cmk_vk_fingerprint(vk_new, n->uuid, opt->fingerprint)) {
		ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				      "computing the volume key fingerprint failed");
		goto out;
	}
	if (opt->before_write) {
		ret = opt->before_write(n, opt->fingerprint, opt->arg, err);
		if (ret)
			goto out;
	}
	ret = cmk_rotate_write(fd, n, vk_new, err);
	if (ret)
		goto out;
	/* The new header replaces the old one in the caller's hands. */
	cmk_hdr_swap(h, n);
out:
	cmk_rotate_audit(v, h, op, h->kek.key_version, ret ? (err->kind ==
			 CMK_VOLUME_FAIL_VAULT ? err->vault.cls :
			 CMK_VAULT_TRANSIENT) : CMK_VAULT_OK, t0);
	cmk_hdr_free(n);
	cmk_secure_free(vk_new);
	return ret;
}
