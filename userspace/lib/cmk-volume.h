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

/**
 * struct cmk_host_kek - a KEK as a host record names it
 * @vault_type: backend ("pkcs11")
 * @version: the key version that wrapped the volume key ("" if none)
 * @uri: the key's URI as the header records it (no local settings)
 * @pub: hex SHA-256 of its public key, "" if unknown
 */
struct cmk_host_kek {
	char vault_type[CMK_HDR_VAULT_LEN];
	char version[CMK_HDR_KEYVER_LEN];
	char uri[CMK_HDR_URI_LEN];
	char pub[2 * CMK_HDR_PUB_LEN + 1];
};

/**
 * struct cmk_host_record - what this host last saw of a volume
 * @uuid: the volume UUID
 * @label: its label
 * @fingerprint: its pinned volume key fingerprint, "" if none
 * @seqno: the highest header sequence number seen
 * @seen: wall-clock time the record was last written, 0 if unknown
 * @kek: the KEK that wraps its volume key
 * @staged: a KEK rotation was staged in the last header seen
 * @kek_new: the staged KEK when @staged
 */
struct cmk_host_record {
	char uuid[CMK_UUID_STR_LEN];
	char label[CMK_HDR_LABEL_LEN];
	char fingerprint[CMK_VK_FP_LEN];
	uint64_t seqno;
	uint64_t seen;
	struct cmk_host_kek kek;
	bool staged;
	struct cmk_host_kek kek_new;
};

/* Progress is reported every this many extents. */
#define CMK_PROGRESS_STEP	256

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
uint32_t cmk_vk_wrap_alg(enum cmk_vault_alg alg);
int cmk_volume_format(int fd, struct cmk_hdr *h, struct cmk_vault *v,
		      cmk_volume_progress_fn progress, void *arg,
		      char *fingerprint, struct cmk_volume_error *err);
int cmk_volume_unlock(const struct cmk_hdr *h, struct cmk_vault *v,
		      struct cmk_volume_keys *keys,
		      struct cmk_volume_error *err);
int cmk_volume_unlock_slot(const struct cmk_hdr *h,
			   const struct cmk_kek_ref *k, struct cmk_vault *v,
			   struct cmk_volume_keys *keys,
			   struct cmk_volume_error *err);
int cmk_volume_vk_unwrap(const struct cmk_hdr *h, const struct cmk_kek_ref *k,
			 struct cmk_vault *v, uint32_t extents, uint8_t **vkp,
			 struct cmk_volume_error *err);
int cmk_volume_authenticate(const struct cmk_hdr *h, const uint8_t *vk,
			    char *fp, struct cmk_volume_error *err);
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

/**
 * struct cmk_rekey_opts - how a volume-key rotation or rebind reports
 * @progress: called while DEKs are re-wrapped, may be NULL
 * @before_write: called with the new header and the new key's
 *	fingerprint before the header is written (the host record is told
 *	first, cmk_pin_expect()); may be NULL; a non-zero return stops the
 *	change
 * @arg: passed to both
 * @fingerprint: CMK_VK_FP_LEN bytes: the new volume key's fingerprint
 */
struct cmk_rekey_opts {
	cmk_volume_progress_fn progress;
	int (*before_write)(const struct cmk_hdr *n, const char *fingerprint,
			    void *arg, struct cmk_volume_error *err);
	void *arg;
	char *fingerprint;
};

/* cmk-rotate.c */
int cmk_volume_lock(int fd, struct cmk_volume_error *err);
int cmk_volume_read_back(int fd, const struct cmk_hdr *h,
			 struct cmk_volume_error *err);
int cmk_volume_repair(int fd, struct cmk_hdr *h, const uint8_t *vk,
		      struct cmk_volume_error *err);
bool cmk_kek_ref_same(const struct cmk_kek_ref *a,
		      const struct cmk_kek_ref *b);
/* Hex digits of a public key hash, and the NUL. */
#define CMK_KEK_PUB_HEX_LEN	(2 * CMK_HDR_PUB_LEN + 1)
const char *cmk_kek_pub_hex(const struct cmk_kek_ref *k, char *buf);
int cmk_volume_kek_stage(int fd, struct cmk_hdr *h, const uint8_t *vk,
			 struct cmk_vault *v, const char *uri_key,
			 const char *version, struct cmk_volume_error *err);
int cmk_volume_kek_commit(int fd, struct cmk_hdr *h, const uint8_t *vk,
			  struct cmk_vault *v, struct cmk_volume_error *err);
int cmk_volume_kek_rotate(int fd, struct cmk_hdr *h, const uint8_t *vk,
			  struct cmk_vault *v_new, const char *uri_key,
			  const char *version, bool *resumed,
			  struct cmk_volume_error *err);
int cmk_volume_unlock_vk(const struct cmk_hdr *h, struct cmk_vault *v,
			 struct cmk_vault *(*open_staged)(const char *uri,
							  void *arg),
			 void *arg, uint8_t **vkp, char *fp, bool *used_staged,
			 struct cmk_volume_error *err);
int cmk_volume_kek_abort(int fd, struct cmk_hdr *h, const uint8_t *vk,
			 struct cmk_vault *v, struct cmk_volume_error *err);
int cmk_volume_vk_rotate(int fd, struct cmk_hdr *h, const uint8_t *vk_old,
			 struct cmk_vault *v,
			 const struct cmk_rekey_opts *opt,
			 struct cmk_volume_error *err);
int cmk_volume_rebind(int fd, struct cmk_hdr *h, const uint8_t *vk_old,
		      struct cmk_vault *v, const char *uri_key,
		      const char *version, bool new_uuid,
		      const struct cmk_rekey_opts *opt,
		      struct cmk_volume_error *err);

/* cmk-pin.c */
int cmk_volume_trust(const struct cmk_hdr *h,
		     const struct cmk_volume_keys *keys,
		     const struct cmk_pin_opts *o, struct cmk_pin_result *r,
		     struct cmk_volume_error *err);
int cmk_pin_record(const char *state_dir, const struct cmk_hdr *h,
		   const char *fingerprint, struct cmk_volume_error *err);
int cmk_pin_expect(const char *state_dir, const struct cmk_hdr *h,
		   const char *fingerprint, struct cmk_volume_error *err);
int cmk_host_records(const char *state_dir, struct cmk_host_record **list,
		     size_t *n, struct cmk_volume_error *err);
int cmk_volume_find_dm_uuid(const char *dm_uuid, char *name, size_t size);
int cmk_volume_mappings(struct cmk_mapping **list, size_t *n);

#endif /* CMK_VOLUME_H */
