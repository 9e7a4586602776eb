/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dm-cmk: the on-disk header, shared by the kernel and userspace.
 *
 * Documented byte by byte in
 * Documentation/admin-guide/device-mapper/cmk-header.rst.  Every integer
 * is little-endian; every string is NUL-terminated inside its field and
 * NUL-padded.  A header copy is the 4 KiB fixed part (struct cmk_hdr_disk)
 * followed by the extent table (one struct cmk_hdr_extent per extent),
 * zero-padded to copy_size, a multiple of 4 KiB.  Copy A is at byte 0,
 * copy B at byte copy_size; the data area starts at data_offset.
 */
#ifndef CMK_HEADER_H
#define CMK_HEADER_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/build_bug.h>
#else
#include <assert.h>
#endif

/* "CMKHDR", NUL, 0x01 */
#define CMK_HDR_MAGIC		"CMKHDR\0\1"
#define CMK_HDR_MAGIC_LEN	8
#define CMK_HDR_VERSION		1

/* Sizes of the fixed part, of one extent entry, and the copy granularity. */
#define CMK_HDR_FIXED_SIZE	4096
#define CMK_HDR_ENTRY_SIZE	128
#define CMK_HDR_ALIGN		4096
/* Largest copy: the fixed part and CMK_EXTENTS_MAX (2^20) entries. */
#define CMK_HDR_COPY_MAX	(CMK_HDR_FIXED_SIZE + 1048576ULL * CMK_HDR_ENTRY_SIZE)
/* Default data offset alignment: 1 MiB. */
#define CMK_HDR_DATA_ALIGN	(1024 * 1024)

/* String fields, bytes including the terminating NUL. */
#define CMK_HDR_LABEL_LEN	64
#define CMK_HDR_VAULT_LEN	16
#define CMK_HDR_KEYVER_LEN	64
#define CMK_HDR_URI_LEN		1024
/* Wrapped volume key: an RSA-OAEP ciphertext, up to RSA-4096. */
#define CMK_HDR_WRAPPED_VK_MAX	512
/* Volume key: AES-256. */
#define CMK_VK_SIZE		32
#define CMK_HDR_UUID_LEN	16
#define CMK_HDR_CSUM_LEN	32
#define CMK_HDR_MAC_LEN		32
/* SHA-256 of a KEK's public key (DER SubjectPublicKeyInfo). */
#define CMK_HDR_PUB_LEN		32

/* Wrapped DEK: AES-256-GCM of the 64-byte DEK. */
#define CMK_DEK_NONCE_LEN	12
#define CMK_DEK_TAG_LEN		16
#define CMK_DEK_WRAPPED_LEN	64
/* Domain separation string at the end of the GCM associated data. */
#define CMK_DEK_AAD_DOMAIN	"cmk-dek-v1"

/*
 * Feature flags, as ext4: an unknown incompat bit refuses the header, an
 * unknown ro_compat bit allows reading but not writing, an unknown compat
 * bit is ignored.
 */
/* The header lives in a separate file; data_offset may be 0. */
#define CMK_HDR_INCOMPAT_DETACHED	0x00000001U
/* dek_rot describes an online DEK rotation in progress. */
#define CMK_HDR_INCOMPAT_DEK_ROT	0x00000002U
/* kek_new holds a staged KEK rotation. */
#define CMK_HDR_INCOMPAT_KEK_ROT	0x00000004U
/*
 * mac authenticates the whole copy with a key derived from the volume key
 * (cmk-header.rst, "Authentication"); a header without it is not opened.
 */
#define CMK_HDR_INCOMPAT_MAC		0x00000008U
#define CMK_HDR_INCOMPAT_KNOWN		0x0000000fU
#define CMK_HDR_RO_COMPAT_KNOWN		0x00000000U
#define CMK_HDR_COMPAT_KNOWN		0x00000000U

/* dek_wrap_alg */
#define CMK_DEK_WRAP_AES256_GCM		1
/* struct cmk_hdr_kek.wrap_alg */
#define CMK_VK_WRAP_RSA_OAEP_SHA1	1
#define CMK_VK_WRAP_RSA_OAEP_SHA256	2
/* checksum_alg */
#define CMK_HDR_CSUM_SHA256		1

/* struct cmk_hdr_dek_rot.state */
#define CMK_DEK_ROT_IDLE	0
/* New DEK wrapped in new_dek; no data rewritten yet. */
#define CMK_DEK_ROT_STAGED	1
/* Sectors of the extent below watermark are under the new DEK. */
#define CMK_DEK_ROT_RUNNING	2
#define CMK_DEK_ROT_MAX		2

/* kek_state */
#define CMK_KEK_ROT_IDLE	0
/* kek_new wraps the same volume key under the next KEK. */
#define CMK_KEK_ROT_STAGED	1

/**
 * struct cmk_hdr_extent - one extent's wrapped DEK (128 bytes)
 * @generation: DEK generation, 1 for the first key of the extent
 * @flags: none defined; must be 0
 * @nonce: AES-256-GCM nonce, random per wrap
 * @tag: AES-256-GCM tag
 * @wrapped_dek: the DEK encrypted under the volume key
 * @reserved: zero
 */
struct cmk_hdr_extent {
	__le32 generation;
	__le32 flags;
	__u8 nonce[CMK_DEK_NONCE_LEN];
	__u8 tag[CMK_DEK_TAG_LEN];
	__u8 wrapped_dek[CMK_DEK_WRAPPED_LEN];
	__u8 reserved[28];
};

/**
 * struct cmk_hdr_kek - a KEK reference and the volume key it wraps (1632 bytes)
 * @vault_type: backend name, e.g. "pkcs11"
 * @key_version: key version or id inside the vault, may be empty
 * @uri: the KEK, e.g. an RFC 7512 pkcs11: URI
 * @wrap_alg: CMK_VK_WRAP_*
 * @wrapped_vk_len: bytes used in @wrapped_vk
 * @wrapped_vk: the volume key wrapped by the KEK (opaque to the header)
 * @reserved: zero
 */
struct cmk_hdr_kek {
	char vault_type[CMK_HDR_VAULT_LEN];
	char key_version[CMK_HDR_KEYVER_LEN];
	char uri[CMK_HDR_URI_LEN];
	__le32 wrap_alg;
	__le32 wrapped_vk_len;
	__u8 wrapped_vk[CMK_HDR_WRAPPED_VK_MAX];
	__u8 reserved[8];
};

/**
 * struct cmk_hdr_dek_rot - online DEK rotation of one extent (160 bytes)
 * @state: CMK_DEK_ROT_*
 * @extent: the extent being rotated
 * @watermark: extent-relative 512-byte sectors already under the new DEK
 * @reserved: zero
 * @new_dek: the new DEK, wrapped; its generation is the old one plus 1
 */
struct cmk_hdr_dek_rot {
	__le32 state;
	__le32 extent;
	__le64 watermark;
	__u8 reserved[16];
	struct cmk_hdr_extent new_dek;
};

/**
 * struct cmk_hdr_disk - the fixed 4 KiB part of a header copy
 * @magic: CMK_HDR_MAGIC
 * @version: CMK_HDR_VERSION
 * @fixed_size: CMK_HDR_FIXED_SIZE
 * @incompat: CMK_HDR_INCOMPAT_*
 * @compat: compatible features
 * @ro_compat: read-only compatible features
 * @entry_size: CMK_HDR_ENTRY_SIZE
 * @seqno: sequence number, incremented by every update
 * @copy_size: bytes of one copy, a multiple of 4 KiB; copy B starts here
 * @uuid: volume UUID
 * @label: volume label
 * @data_offset: first 512-byte sector of the data area
 * @data_sectors: length of the data area, 512-byte sectors
 * @data_unit: 512 or 4096
 * @extent_sectors: extent size, 512-byte sectors, a power of two
 * @extent_count: number of extents, DIV_ROUND_UP(data_sectors, extent_sectors)
 * @dek_wrap_alg: CMK_DEK_WRAP_*
 * @kek_state: CMK_KEK_ROT_*
 * @checksum_alg: CMK_HDR_CSUM_*
 * @reserved0: zero
 * @reserved1: zero
 * @kek: the current KEK and wrapped volume key
 * @kek_new: the next KEK during a KEK rotation
 * @dek_rot: the DEK rotation in progress
 * @mac: HMAC-SHA256 keyed from the volume key over the SHA-256 of the
 *	whole copy with @mac and @checksum zeroed (CMK_HDR_INCOMPAT_MAC)
 * @kek_pub: SHA-256 of the DER SubjectPublicKeyInfo of @kek's public key,
 *	all zero if the vault gave none (a symmetric KEK)
 * @kek_new_pub: the same for @kek_new
 * @reserved2: zero
 * @checksum: SHA-256 of the whole copy with this field zeroed
 */
struct cmk_hdr_disk {
	__u8 magic[CMK_HDR_MAGIC_LEN];		/*    0 */
	__le32 version;				/*    8 */
	__le32 fixed_size;			/*   12 */
	__le32 incompat;			/*   16 */
	__le32 compat;				/*   20 */
	__le32 ro_compat;			/*   24 */
	__le32 entry_size;			/*   28 */
	__le64 seqno;				/*   32 */
	__le64 copy_size;			/*   40 */
	__u8 uuid[CMK_HDR_UUID_LEN];		/*   48 */
	char label[CMK_HDR_LABEL_LEN];		/*   64 */
	__le64 data_offset;			/*  128 */
	__le64 data_sectors;			/*  136 */
	__le32 data_unit;			/*  144 */
	__le32 extent_sectors;			/*  148 */
	__le32 extent_count;			/*  152 */
	__le32 dek_wrap_alg;			/*  156 */
	__le32 kek_state;			/*  160 */
	__le32 checksum_alg;			/*  164 */
	__le64 reserved0;			/*  168 */
	__u8 reserved1[80];			/*  176 */
	struct cmk_hdr_kek kek;			/*  256 */
	struct cmk_hdr_kek kek_new;		/* 1888 */
	struct cmk_hdr_dek_rot dek_rot;		/* 3520 */
	__u8 mac[CMK_HDR_MAC_LEN];		/* 3680 */
	__u8 kek_pub[CMK_HDR_PUB_LEN];		/* 3712 */
	__u8 kek_new_pub[CMK_HDR_PUB_LEN];	/* 3744 */
	__u8 reserved2[288];			/* 3776 */
	__u8 checksum[CMK_HDR_CSUM_LEN];	/* 4064 */
};

static_assert(sizeof(struct cmk_hdr_extent) == CMK_HDR_ENTRY_SIZE,
	      "cmk_hdr_extent size");
static_assert(sizeof(struct cmk_hdr_kek) == 1632, "cmk_hdr_kek size");
static_assert(sizeof(struct cmk_hdr_dek_rot) == 160, "cmk_hdr_dek_rot size");
static_assert(sizeof(struct cmk_hdr_disk) == CMK_HDR_FIXED_SIZE,
	      "cmk_hdr_disk size");
static_assert(__builtin_offsetof(struct cmk_hdr_disk, kek) == 256,
	      "cmk_hdr_disk kek offset");
static_assert(__builtin_offsetof(struct cmk_hdr_disk, dek_rot) == 3520,
	      "cmk_hdr_disk dek_rot offset");
static_assert(__builtin_offsetof(struct cmk_hdr_disk, mac) == 3680,
	      "cmk_hdr_disk mac offset");
static_assert(__builtin_offsetof(struct cmk_hdr_disk, kek_pub) == 3712,
	      "cmk_hdr_disk kek_pub offset");
static_assert(__builtin_offsetof(struct cmk_hdr_disk, checksum) == 4064,
	      "cmk_hdr_disk checksum offset");

#endif /* CMK_HEADER_H */
