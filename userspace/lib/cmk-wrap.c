// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: the local wrap of each extent's DEK under the volume key.
 *
 * AES-256-GCM, key = volume key, random 96-bit nonce per wrap, 128-bit tag,
 * associated data = UUID (16) || extent index (le64) || generation (le32)
 * || "cmk-dek-v1" (10 bytes, no NUL): 46 bytes.  An entry moved to another
 * extent or volume, replayed with another generation, or altered in any
 * byte fails to authenticate and yields -EBADMSG, never a key.
 */

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "cmk-hdr.h"

#define CMK_AAD_LEN	(CMK_HDR_UUID_LEN + 8 + 4 + sizeof(CMK_DEK_AAD_DOMAIN) - 1)

/**
 * cmk_random() - fill a buffer from the kernel's CSPRNG
 * @buf: output
 * @len: bytes
 *
 * Return: 0 or a negative errno.
 */
int cmk_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static void cmk_dek_aad(uint8_t *aad, const uint8_t *uuid, uint64_t extent,
			uint32_t generation)
{
	uint64_t le_ext = htole64(extent);
	uint32_t le_gen = htole32(generation);

	memcpy(aad, uuid, CMK_HDR_UUID_LEN);
	memcpy(aad + 16, &le_ext, 8);
	memcpy(aad + 24, &le_gen, 4);
	memcpy(aad + 28, CMK_DEK_AAD_DOMAIN, sizeof(CMK_DEK_AAD_DOMAIN) - 1);
}

/* One GCM pass: encrypt (tag out) or decrypt (tag in). */
static int cmk_gcm(bool enc, const uint8_t *vk, const uint8_t *nonce,
		   const uint8_t *aad, const uint8_t *in, uint8_t *out,
		   uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ret = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
				CMK_DEK_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, vk, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, CMK_AAD_LEN) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, CMK_DEK_SIZE) != 1 ||
	    n != CMK_DEK_SIZE)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					CMK_DEK_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1) {
		ret = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
				       CMK_DEK_TAG_LEN, tag) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/**
 * cmk_dek_wrap() - wrap one extent's DEK under the volume key
 * @vk: volume key, CMK_VK_SIZE bytes
 * @uuid: volume UUID, 16 bytes
 * @extent: extent index
 * @generation: DEK generation (>= 1)
 * @dek: the DEK, CMK_DEK_SIZE bytes
 * @e: filled with generation, flags 0, a fresh nonce, tag and ciphertext
 *
 * Return: 0 or a negative errno.
 */
int cmk_dek_wrap(const uint8_t *vk, const uint8_t *uuid, uint64_t extent,
		 uint32_t generation, const uint8_t *dek,
		 struct cmk_dek_entry *e)
{
	uint8_t aad[CMK_AAD_LEN];
	int ret;

	if (!vk || !uuid || !dek || !e || !generation)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->generation = generation;
	ret = cmk_random(e->nonce, sizeof(e->nonce));
	if (ret)
		return ret;
	cmk_dek_aad(aad, uuid, extent, generation);
	ret = cmk_gcm(true, vk, e->nonce, aad, dek, e->wrapped, e->tag);
	if (ret)
		memset(e, 0, sizeof(*e));
	return ret;
}

/**
 * cmk_dek_unwrap() - unwrap and authenticate one extent's DEK
 * @vk: volume key, CMK_VK_SIZE bytes
 * @uuid: volume UUID, 16 bytes
 * @extent: extent index the entry must belong to
 * @e: the wrapped entry (its generation is authenticated too)
 * @dek: output, CMK_DEK_SIZE bytes (should be cmk_secure_alloc() memory);
 *	 zeroed on any failure
 *
 * Return: 0, -EBADMSG when the entry does not authenticate, or another
 * negative errno.
 */
int cmk_dek_unwrap(const uint8_t *vk, const uint8_t *uuid, uint64_t extent,
		   const struct cmk_dek_entry *e, uint8_t *dek)
{
	uint8_t aad[CMK_AAD_LEN], tag[CMK_DEK_TAG_LEN];
	int ret;

	if (!vk || !uuid || !dek || !e)
		return -EINVAL;
	if (!e->generation || e->flags) {
		explicit_bzero(dek, CMK_DEK_SIZE);
		return -EBADMSG;
	}
	memcpy(tag, e->tag, sizeof(tag));
	cmk_dek_aad(aad, uuid, extent, e->generation);
	ret = cmk_gcm(false, vk, e->nonce, aad, e->wrapped, dek, tag);
	if (ret)
		explicit_bzero(dek, CMK_DEK_SIZE);
	return ret;
}

/**
 * cmk_hdr_new_dek() - give an extent a fresh random DEK, wrapped
 * @h: header
 * @vk: volume key
 * @extent: extent index
 *
 * The generation becomes the old one plus one (1 for a new header).  The
 * DEK lives only in a locked buffer, wiped before return.
 *
 * Return: 0 or a negative errno (-EOVERFLOW when the generation wraps).
 */
int cmk_hdr_new_dek(struct cmk_hdr *h, const uint8_t *vk, uint32_t extent)
{
	uint32_t gen;
	uint8_t *dek;
	int ret;

	if (!h || extent >= h->extent_count)
		return -EINVAL;
	gen = h->ext[extent].generation + 1;
	if (!gen)
		return -EOVERFLOW;
	dek = cmk_secure_alloc(CMK_DEK_SIZE);
	if (!dek)
		return -errno;
	ret = cmk_random(dek, CMK_DEK_SIZE);
	if (!ret)
		ret = cmk_dek_wrap(vk, h->uuid, extent, gen, dek, &h->ext[extent]);
	cmk_secure_free(dek);
	return ret;
}
