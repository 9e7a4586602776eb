/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcmk: DEKs into the kernel keyring, cmk mappings through libdevmapper.
 * Link with -lkeyutils -ldevmapper.
 */
#ifndef CMK_DM_H
#define CMK_DM_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * What a failed dm_task_create() means: libdevmapper could not reach the
 * kernel's device-mapper (it checks the driver when the first task is
 * made), far more often than it ran out of memory.
 */
#define CMK_DM_UNAVAILABLE	(-ENODEV)

/* Longest dm device name and dm uuid, with the NUL (DM_NAME_LEN etc.). */
#define CMK_DM_NAME_MAX		128
#define CMK_DM_UUID_MAX		129

/**
 * struct cmk_mapping - a device-mapper device whose table is one cmk target
 * @name: dm name
 * @dm_uuid: dm uuid, empty if none
 * @open_count: openers now
 * @read_only: the mapping is read-only
 */
struct cmk_mapping {
	char name[CMK_DM_NAME_MAX];
	char dm_uuid[CMK_DM_UUID_MAX];
	int32_t open_count;
	bool read_only;
};

struct cmk_table;
struct cmk_status;

int cmk_keyring_add_deks(const char *prefix, const uint8_t *deks, uint32_t n,
			 int32_t keyring);
uint32_t cmk_keyring_drop_deks(const char *prefix, uint32_t n, int32_t keyring);

int cmk_dm_create(const char *name, const char *dm_uuid, uint64_t len,
		  const struct cmk_table *t, bool read_only);
int cmk_dm_reload(const char *name, uint64_t len, const struct cmk_table *t);
int cmk_dm_remove(const char *name, bool deferred);
int cmk_dm_info(const char *name, const char *dm_uuid, struct cmk_mapping *m);
int cmk_dm_exists(const char *name, int32_t *open_count);
int cmk_dm_status(const char *name, struct cmk_status *st);
int cmk_dm_table(const char *name, struct cmk_table *t, uint64_t *len);
int cmk_dm_message(const char *name, const char *msg);
int cmk_dm_suspend(const char *name, bool suspend);
void cmk_dm_set_udev_wait(int ms);
unsigned int cmk_dm_udev_reap(void);

#endif /* CMK_DM_H */
