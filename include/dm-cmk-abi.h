/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dm-cmk: constants shared by the kernel target and userspace.
 *
 * The table, status and message grammar is documented in
 * Documentation/admin-guide/device-mapper/dm-cmk.rst; the values here are
 * the ones both sides must agree on.
 */
#ifndef DM_CMK_ABI_H
#define DM_CMK_ABI_H

/* Device-mapper target name and module name. */
#define CMK_TARGET_NAME		"cmk"
#define CMK_MODULE_NAME		"dm-cmk"

/* Data encryption key: AES-256-XTS, two 256-bit halves (data, tweak). */
#define CMK_DEK_SIZE		64
/* Kernel key type that carries DEKs; userspace can never read it back. */
#define CMK_DEK_KEY_TYPE	"logon"

/* Data unit sizes, in bytes, that the target accepts. */
#define CMK_DATA_UNIT_MIN	512
#define CMK_DATA_UNIT_MAX	4096

/* Longest key description prefix accepted in a table. */
#define CMK_KEY_PREFIX_MAX	128
/* Most extents one target may have (2^20). */
#define CMK_EXTENTS_MAX		1048576U
/* Largest extent, in 512-byte sectors (2^30 sectors = 512 GiB). */
#define CMK_EXTENT_SECTORS_MAX	1073741824U

/* Period of the lease check, in ms; every bio checks the lease too. */
#define CMK_LEASE_POLL_MS	250

/* Tokens of the first field of "dmsetup status". */
#define CMK_STATE_AVAILABLE	"available"
#define CMK_STATE_INACCESSIBLE	"inaccessible"

#endif /* DM_CMK_ABI_H */
