/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcmk: the on-disk header (include/cmk-header.h), the local DEK wrap
 * under the volume key, and mlocked buffers for secrets.  Every function
 * returns 0 or a negative errno; header checks also give a message that
 * names the problem and never contains key bytes.
 *
 * Errors of the header codec, by class (the message tells the case):
 *   -ENODATA          copy truncated (buffer or file shorter than needed)
 *   -ENOMSG           no header (bad magic)
 *   -EPROTONOSUPPORT  unsupported format version
 *   -EOPNOTSUPP       unknown incompat feature
 *   -EBADMSG          checksum mismatch
 *   -E2BIG            a count or length above its limit
 *   -EUCLEAN          inconsistent field (geometry, strings, states)
 *   -EROFS            unknown ro_compat feature: read-only (write only)
 *   -EINVAL           bad argument
 * The DEK unwrap returns -EBADMSG when the entry or its binding (UUID,
 * extent, generation, volume key) does not authenticate.
 */
#ifndef CMK_HDR_H
#define CMK_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmk-header.h"
#include "dm-cmk-abi.h"

/**
 * struct cmk_dek_entry - one extent's wrapped DEK, host byte order
 * @generation: DEK generation (>= 1)
 * @flags: must be 0
 * @nonce: GCM nonce
 * @tag: GCM tag
 * @wrapped: the DEK encrypted under the volume key
 */
struct cmk_dek_entry {
	uint32_t generation;
	uint32_t flags;
	uint8_t nonce[CMK_DEK_NONCE_LEN];
	uint8_t tag[CMK_DEK_TAG_LEN];
	uint8_t wrapped[CMK_DEK_WRAPPED_LEN];
};

/**
 * struct cmk_kek_ref - a KEK reference and the volume key wrapped by it
 * @vault_type: backend name, e.g. "pkcs11"
 * @key_version: key version or id, may be empty
 * @uri: KEK URI
 * @wrap_alg: CMK_VK_WRAP_*
 * @wrapped_vk_len: bytes used in @wrapped_vk
 * @wrapped_vk: opaque ciphertext from the vault
 * @pub: SHA-256 of the KEK's public key (DER SubjectPublicKeyInfo), all
 *	zero if unknown
 */
struct cmk_kek_ref {
	char vault_type[CMK_HDR_VAULT_LEN];
	char key_version[CMK_HDR_KEYVER_LEN];
	char uri[CMK_HDR_URI_LEN];
	uint32_t wrap_alg;
	uint32_t wrapped_vk_len;
	uint8_t wrapped_vk[CMK_HDR_WRAPPED_VK_MAX];
	uint8_t pub[CMK_HDR_PUB_LEN];
};

/**
 * struct cmk_dek_rot - an online DEK rotation in progress
 * @state: CMK_DEK_ROT_*
 * @extent: extent being rotated
 * @watermark: extent-relative sectors already under the new DEK
 * @new_dek: the new wrapped DEK (generation = old + 1)
 */
struct cmk_dek_rot {
	uint32_t state;
	uint32_t extent;
	uint64_t watermark;
	struct cmk_dek_entry new_dek;
};

/* struct cmk_hdr.copy: which copy a header was read from. */
#define CMK_HDR_COPY_NONE	(-1)
#define CMK_HDR_COPY_A		0
#define CMK_HDR_COPY_B		1

/**
 * struct cmk_hdr - a decoded header, host byte order
 * @version: format version
 * @incompat: incompat features
 * @compat: compat features
 * @ro_compat: ro_compat features
 * @seqno: sequence number
 * @copy_size: bytes of one copy
 * @uuid: volume UUID
 * @label: volume label
 * @data_offset: data area start, 512-byte sectors
 * @data_sectors: data area length, 512-byte sectors
 * @data_unit: 512 or 4096
 * @extent_sectors: extent size, 512-byte sectors
 * @extent_count: number of extents
 * @dek_wrap_alg: CMK_DEK_WRAP_*
 * @kek_state: CMK_KEK_ROT_*
 * @kek: current KEK
 * @kek_new: staged KEK (kek_state == CMK_KEK_ROT_STAGED)
 * @dek_rot: DEK rotation record
 * @mac: its MAC (cmk_hdr_seal(), cmk_hdr_authentic())
 * @digest: SHA-256 of the copy it was read from (or last sealed as), mac
 *	and checksum zeroed: what @mac covers
 * @copy: copy it was read from, CMK_HDR_COPY_NONE for a new header
 * @ext: @extent_count entries
 */
struct cmk_hdr {
	uint32_t version;
	uint32_t incompat;
	uint32_t compat;
	uint32_t ro_compat;
	uint64_t seqno;
	uint64_t copy_size;
	uint8_t uuid[CMK_HDR_UUID_LEN];
	char label[CMK_HDR_LABEL_LEN];
	uint64_t data_offset;
	uint64_t data_sectors;
	uint32_t data_unit;
	uint32_t extent_sectors;
	uint32_t extent_count;
	uint32_t dek_wrap_alg;
	uint32_t kek_state;
	struct cmk_kek_ref kek;
	struct cmk_kek_ref kek_new;
	struct cmk_dek_rot dek_rot;
	uint8_t mac[CMK_HDR_MAC_LEN];
	uint8_t digest[32];
	int copy;
	struct cmk_dek_entry *ext;
};

/* A volume key fingerprint, "cmkvk1:" and 32 hex digits, with the NUL. */
#define CMK_VK_FP_LEN	40

/* cmk_hdr_alloc() flags */
#define CMK_HDR_ALLOC_DETACHED	0x1

/**
 * struct cmk_hdr_read_info - what cmk_hdr_read() found in each copy
 * @err: 0 if the copy is valid, else its negative errno
 * @why: message for a bad copy, NULL for a good one
 * @seqno: sequence number of a valid copy
 * @offset: byte offset where the copy was looked for (B: -1 if not found)
 * @used: copy returned, CMK_HDR_COPY_A or CMK_HDR_COPY_B
 * @degraded: one copy is bad or older: warn and rewrite the header
 */
struct cmk_hdr_read_info {
	int err[2];
	const char *why[2];
	uint64_t seqno[2];
	int64_t offset[2];
	int used;
	bool degraded;
};

/* cmk-header.c */
uint64_t cmk_hdr_copy_size(uint32_t extent_count);
int cmk_hdr_alloc(uint64_t dev_sectors, uint32_t extent_sectors,
		  uint32_t data_unit, unsigned int flags, struct cmk_hdr **hp);
void cmk_hdr_free(struct cmk_hdr *h);
int cmk_hdr_clone(const struct cmk_hdr *h, struct cmk_hdr **np);
void cmk_hdr_swap(struct cmk_hdr *a, struct cmk_hdr *b);
int cmk_hdr_check(const void *buf, size_t len, const char **why);
int cmk_hdr_decode(const void *buf, size_t len, struct cmk_hdr **hp,
		   const char **why);
int cmk_hdr_encode(const struct cmk_hdr *h, void *buf, size_t len,
		   const char **why);
void cmk_hdr_checksum(void *buf, size_t len);
int cmk_hdr_read(int fd, struct cmk_hdr **hp, struct cmk_hdr_read_info *info);
int cmk_hdr_write(int fd, struct cmk_hdr *h, const uint8_t *vk,
		  const char **why);
int cmk_hdr_backup(int fd, const char *path, const char **why);
int cmk_hdr_restore(int fd, const char *path, bool force, const char **why);

/* cmk-wrap.c */
int cmk_dek_wrap(const uint8_t *vk, const uint8_t *uuid, uint64_t extent,
		 uint32_t generation, const uint8_t *dek,
		 struct cmk_dek_entry *e);
int cmk_dek_unwrap(const uint8_t *vk, const uint8_t *uuid, uint64_t extent,
		   const struct cmk_dek_entry *e, uint8_t *dek);
int cmk_hdr_new_dek(struct cmk_hdr *h, const uint8_t *vk, uint32_t extent);
int cmk_random(void *buf, size_t len);

/* cmk-auth.c */
int cmk_hdr_auth_digest(const uint8_t *copy, size_t len, uint8_t out[32]);
int cmk_hdr_seal(struct cmk_hdr *h, const uint8_t *vk, const char **why);
int cmk_hdr_authentic(const struct cmk_hdr *h, const uint8_t *vk);
int cmk_vk_fingerprint(const uint8_t *vk, const uint8_t *uuid,
		       char out[CMK_VK_FP_LEN]);
bool cmk_vk_fingerprint_valid(const char *s);

/* cmk-secure.c */
void *cmk_secure_alloc(size_t len);
void cmk_secure_free(void *p);
void cmk_secure_scrub_stack(void);
/* Test hook: called with the whole wiped area just before it is unmapped. */
extern void (*cmk_secure_wipe_hook)(const void *area, size_t len);

#endif /* CMK_HDR_H */
