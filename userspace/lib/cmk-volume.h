/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcmk volumes: the operations cmkctl and cmkd build on, above the header
 * codec (cmk-hdr.h) and the vaults (cmk-vault.h).
 *
 *   cmk_volume_probe()   is there a header, a filesystem or a partition
 *                        table at the start of a device?
 *   cmk_volume_format()  new volume key, wrapped by the KEK in ONE vault
 *                        call; fresh DEKs wrapped locally; header written
 *   cmk_volume_unlock()  ONE vault call to unwrap the volume key, then every
 *                        DEK locally, into one mlocked buffer
 *   cmk_volume_activate() the unlocked DEKs into the kernel: logon keys in
 *                        the calling thread's keyring, the cmk mapping
 *                        created, the keys dropped again
 *   cmk_volume_mappings() every cmk mapping on the system
 *
 * The device-mapper half needs -ldevmapper -lkeyutils.
 *
 * Failures are classified in struct cmk_volume_error so that a program can
 * map them to exit codes; no message ever holds key bytes or a PIN.
 */
#ifndef CMK_VOLUME_H
#define CMK_VOLUME_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcmk.h"

/* Text form of a UUID, with the NUL. */
#define CMK_UUID_STR_LEN	37

/**
 * enum cmk_volume_fail - what kind of failure a volume operation had
 * @CMK_VOLUME_FAIL_NONE: none
 * @CMK_VOLUME_FAIL_SYSTEM: I/O, memory, bad argument
 * @CMK_VOLUME_FAIL_VAULT: the vault refused or could not be reached;
 *	@vault in struct cmk_volume_error says why
 * @CMK_VOLUME_FAIL_HEADER: the header is invalid or does not authenticate
 *	(a DEK entry, extent index or generation was altered, or the KEK
 *	unwrapped a volume key that is not this volume's)
 */
enum cmk_volume_fail {
	CMK_VOLUME_FAIL_NONE = 0,
	CMK_VOLUME_FAIL_SYSTEM,
	CMK_VOLUME_FAIL_VAULT,
	CMK_VOLUME_FAIL_HEADER,
};

/**
 * struct cmk_volume_error - why a volume operation failed
 * @kind: the class of failure
 * @vault: the vault's error when @kind is CMK_VOLUME_FAIL_VAULT
 * @extent: the extent concerned, -1 if none
 * @msg: human-readable, no secrets
 */
struct cmk_volume_error {
	enum cmk_volume_fail kind;
	struct cmk_vault_error vault;
	int64_t extent;
	char msg[CMK_VAULT_MSG_MAX];
};

/**
 * struct cmk_volume_keys - unwrapped DEKs of a volume, in locked memory
 * @count: number of extents
 * @deks: @count * CMK_DEK_SIZE bytes from cmk_secure_alloc(); extent i's
 *	DEK at @deks + i * CMK_DEK_SIZE
 * @fingerprint: the volume key's fingerprint (cmk_vk_fingerprint()), for
 *	cmk_volume_trust()
 */
struct cmk_volume_keys {
	uint32_t count;
	uint8_t *deks;
	char fingerprint[CMK_VK_FP_LEN];
};

/* Prefix of a volume's DEK keys, "cmk:<uuid>:", with the NUL. */
#define CMK_VOLUME_PREFIX_LEN	(4 + CMK_UUID_STR_LEN + 1)
/* dm uuid of a volume's mapping, "CMK-<uuid>", with the NUL. */
#define CMK_VOLUME_DM_UUID_LEN	(4 + CMK_UUID_STR_LEN)

/**
 * struct cmk_activate_opts - how to load a volume's mapping
 * @read_only: a read-only mapping (create only)
 * @allow_discards: pass discards down
 * @reload: replace the table of the existing mapping of this volume
 * @lease: description of the lease key, NULL for none
 */
struct cmk_activate_opts {
	bool read_only;
	bool allow_discards;
	bool reload;
	const char *lease;
};

/* Where a host records the volumes it knows (cmk-pin.c). */
#define CMK_STATE_DIR	"/var/lib/cmk/volumes"

/**
 * struct cmk_pin_opts - what a host knows of a volume, and what it allows
 * @fingerprint: the volume key fingerprint the volume must have (cmkctl
 *	--vk-fingerprint, cmktab vk-fingerprint=), or NULL
 * @state_dir: the host's records, NULL for $CMK_STATE_DIR (an absolute
 *	path) or else CMK_STATE_DIR
 * @allow_rollback: accept a header older than the last one seen
 * @record: write the record (an open); false: only check (unlock-check)
 */
struct cmk_pin_opts {
	const char *fingerprint;
	const char *state_dir;
	bool allow_rollback;
	bool record;
};

/**
 * struct cmk_pin_result - what cmk_volume_trust() found
 * @pinned: the volume key matched a pin (given, or recorded on this host)
 * @recorded_now: it was not pinned on this host, and now is (first open)
 * @rolled_back: the header is older than the last seen, and was allowed
 * @last_seqno: the last sequence number this host had seen, 0 if none
 * @record: the host's record of the volume
 */
struct cmk_pin_result {
	bool pinned;
	bool recorded_now;
	bool rolled_back;
	uint64_t last_seqno;
	char record[PATH_MAX];
};

/* Called every so many extents during long work; @done of @total. */
typedef void (*cmk_volume_progress_fn)(uint64_t done, uint64_t total,
				       void *arg);

/* cmk-volume.c */
int cmk_volume_fail(struct cmk_volume_error *err, enum cmk_volume_fail kind,
		    int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void cmk_uuid_format(const uint8_t *uuid, char buf[CMK_UUID_STR_LEN]);
int cmk_dev_size(int fd, uint64_t *bytes);
int cmk_volume_probe(int fd, char *what, size_t size);
int cmk_volume_format(int fd, struct cmk_hdr *h, struct cmk_vault *v,
		      cmk_volume_progress_fn progress, void *arg,
		      char *fingerprint, struct cmk_volume_error *err);
int cmk_volume_unlock(const struct cmk_hdr *h, struct cmk_vault *v,
		      struct cmk_volume_keys *keys,
		      struct cmk_volume_error *err);
void cmk_volume_keys_wipe(struct cmk_volume_keys *keys);
void cmk_volume_key_prefix(const struct cmk_hdr *h,
			   char buf[CMK_VOLUME_PREFIX_LEN]);
void cmk_volume_dm_uuid(const struct cmk_hdr *h,
			char buf[CMK_VOLUME_DM_UUID_LEN]);
int cmk_volume_table(const struct cmk_hdr *h, const char *dev,
		     struct cmk_table *t);
int cmk_volume_activate(const struct cmk_hdr *h,
			const struct cmk_volume_keys *keys, const char *dev,
			const char *name, bool read_only,
			struct cmk_volume_error *err);
int cmk_volume_activate_opts(const struct cmk_hdr *h,
			     const struct cmk_volume_keys *keys,
			     const char *dev, const char *name,
			     const struct cmk_activate_opts *o,
			     struct cmk_volume_error *err);
int cmk_volume_check_kek(const struct cmk_hdr *h, struct cmk_vault *v,
			 struct cmk_volume_error *err);
int cmk_volume_rewrite(int fd, struct cmk_hdr *h, struct cmk_vault *v,
		       struct cmk_volume_error *err);
int cmk_volume_find_device(const char *uuid, char *path, size_t size);

/* cmk-pin.c */
int cmk_volume_trust(const struct cmk_hdr *h,
		     const struct cmk_volume_keys *keys,
		     const struct cmk_pin_opts *o, struct cmk_pin_result *r,
		     struct cmk_volume_error *err);
int cmk_pin_record(const char *state_dir, const struct cmk_hdr *h,
		   const char *fingerprint, struct cmk_volume_error *err);
int cmk_volume_find_dm_uuid(const char *dm_uuid, char *name, size_t size);
int cmk_volume_mappings(struct cmk_mapping **list, size_t *n);

#endif /* CMK_VOLUME_H */
