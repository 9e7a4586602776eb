// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: what ties a header to its volume key.  Anyone with the KEK's
 * public half can write a header of their own, so a header is believed
 * only when (a) its MAC, keyed from the volume key, authenticates every
 * byte of it, and (b) the volume key is the one this host knows, by its
 * fingerprint (cmk-pin.c).  Both keys are derived with HMAC-SHA256 from
 * the volume key and the UUID, under labels of their own, so that neither
 * the MAC key nor the fingerprint says anything about the volume key or
 * about each other.
 *
 *   mac key     = HMAC-SHA256(VK, "cmk-header-mac-v1" || UUID)
 *   digest      = SHA-256(copy with mac and checksum zeroed)
 *   mac         = HMAC-SHA256(mac key, digest)
 *   fingerprint = "cmkvk1:" || hex(HMAC-SHA256(VK, "cmk-vk-fingerprint-v1"
 *                 || UUID)[0..16])
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cmk-hdr.h"

#define CMK_MAC_LABEL	"cmk-header-mac-v1"
#define CMK_FP_LABEL	"cmk-vk-fingerprint-v1"
#define CMK_FP_PREFIX	"cmkvk1:"
#define CMK_FP_BYTES	16

/* HMAC-SHA256(@vk, @label || @uuid) into @out (32 bytes). */
static int cmk_vk_derive(const uint8_t *vk, const char *label,
			 const uint8_t *uuid, uint8_t out[32])
{
	uint8_t msg[64];
	size_t n = strlen(label);
	unsigned int len = 0;
	int ret = 0;

	memcpy(msg, label, n);
	memcpy(msg + n, uuid, CMK_HDR_UUID_LEN);
	if (!HMAC(EVP_sha256(), vk, CMK_VK_SIZE, msg, n + CMK_HDR_UUID_LEN,
		  out, &len) || len != 32)
		ret = -EIO;
	explicit_bzero(msg, sizeof(msg));
	return ret;
}

/* The MAC of a copy with digest @digest under @vk. */
static int cmk_hdr_mac(const uint8_t *vk, const uint8_t *uuid,
		       const uint8_t *digest, uint8_t mac[CMK_HDR_MAC_LEN])
{
	uint8_t key[32];
	unsigned int len = 0;
	int ret;

	ret = cmk_vk_derive(vk, CMK_MAC_LABEL, uuid, key);
	if (!ret && (!HMAC(EVP_sha256(), key, sizeof(key), digest, 32, mac,
			   &len) || len != CMK_HDR_MAC_LEN))
		ret = -EIO;
	explicit_bzero(key, sizeof(key));
	return ret;
}

/**
 * cmk_hdr_seal() - compute the MAC of a header under its volume key
 * @h: the header, complete but for its MAC (@h->mac, @h->digest set)
 * @vk: its volume key
 * @why: set to a message on failure
 *
 * Call it after every change to @h and before writing it; cmk_hdr_write()
 * does, when given the volume key.
 *
 * Return: 0, a cmk_hdr_encode() error or -EIO.
 */
int cmk_hdr_seal(struct cmk_hdr *h, const uint8_t *vk, const char **why)
{
	uint8_t *buf;
	int ret;

	*why = NULL;
	h->incompat |= CMK_HDR_INCOMPAT_MAC;
	buf = malloc(h->copy_size ? h->copy_size : 1);
	if (!buf) {
		*why = "out of memory";
		return -ENOMEM;
	}
	ret = cmk_hdr_encode(h, buf, h->copy_size, why);
	if (!ret)
		ret = cmk_hdr_auth_digest(buf, h->copy_size, h->digest);
	if (!ret)
		ret = cmk_hdr_mac(vk, h->uuid, h->digest, h->mac);
	if (ret && !*why)
		*why = "computing the header MAC failed";
	free(buf);
	return ret;
}

/**
 * cmk_hdr_authentic() - whether a header read is authentic under a key
 * @h: the header, as cmk_hdr_decode() gave it (@h->digest of its bytes)
 * @vk: the volume key unwrapped from it
 *
 * Return: 0; -ENOKEY when the header carries no MAC (CMK_HDR_INCOMPAT_MAC
 * clear); -EBADMSG when the MAC does not match: some byte of the header
 * was changed since it was sealed, or it was sealed under another key.
 */
int cmk_hdr_authentic(const struct cmk_hdr *h, const uint8_t *vk)
{
	uint8_t mac[CMK_HDR_MAC_LEN];
	int ret;

	if (!(h->incompat & CMK_HDR_INCOMPAT_MAC))
		return -ENOKEY;
	ret = cmk_hdr_mac(vk, h->uuid, h->digest, mac);
	if (!ret && CRYPTO_memcmp(mac, h->mac, sizeof(mac)))
		ret = -EBADMSG;
	explicit_bzero(mac, sizeof(mac));
	return ret;
}

/**
 * cmk_vk_fingerprint() - the fingerprint of a volume key
 * @vk: the volume key
 * @uuid: the volume's UUID
 * @out: "cmkvk1:" and 32 hex digits (CMK_VK_FP_LEN bytes with the NUL)
 *
 * Safe to show and to store: it reveals nothing of the key.  It is what a
 * host pins (cmkctl --vk-fingerprint, cmktab vk-fingerprint=).
 *
 * Return: 0 or -EIO.
 */
int cmk_vk_fingerprint(const uint8_t *vk, const uint8_t *uuid,
		       char out[CMK_VK_FP_LEN])
{
	uint8_t d[32];
	int i, ret;

	ret = cmk_vk_derive(vk, CMK_FP_LABEL, uuid, d);
	if (ret)
		return ret;
	strcpy(out, CMK_FP_PREFIX);
	for (i = 0; i < CMK_FP_BYTES; i++)
		snprintf(out + strlen(CMK_FP_PREFIX) + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/**
 * cmk_vk_fingerprint_valid() - whether a string is a fingerprint
 * @s: the string
 *
 * Return: true for "cmkvk1:" and 32 lowercase hex digits.
 */
bool cmk_vk_fingerprint_valid(const char *s)
{
	size_t n = strlen(CMK_FP_PREFIX);

	return !strncmp(s, CMK_FP_PREFIX, n) &&
	       strlen(s + n) == 2 * CMK_FP_BYTES &&
	       strspn(s + n, "0123456789abcdef") == 2 * CMK_FP_BYTES;
}
