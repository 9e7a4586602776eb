/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmkd: the dm-cmk key daemon.  Opens the volumes of /etc/cmk/cmktab,
 * keeps a kernel lease per volume, checks each KEK every poll interval,
 * and tears a volume down (Inaccessible) as soon as its KEK is lost.
 * See Documentation/admin-guide/device-mapper/cmkd.rst.
 *
 * Threads: the main thread owns every volume and KEK record and does all
 * device-mapper and keyring work; two worker threads, one for the opens
 * (device, header, unlock) and one for the KEK checks, make the vault calls
 * (which may block on a dead vault or a slow device) and hand results back
 * through a pipe.
 */
#ifndef CMKD_H
#define CMKD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "libcmk.h"
#include "cmk-hdr.h"
#include "cmk-vault.h"
#include "cmk-volume.h"
#include "cmk-dm.h"
#include "cmk-tab.h"

#define CMKD_VERSION		"1.0.0"
#define CMKD_DEFAULT_TAB	"/etc/cmk/cmktab"
#define CMKD_DEFAULT_SOCKET	"/run/cmk/cmkd.sock"
#define CMKD_DEFAULT_AUDIT	"/var/log/cmk/audit.log"
/* Main loop tick: lease renewal, kernel state and deadline checks. */
#define CMKD_TICK_MS		250
/* How long a dm task waits for udev in the main loop (cmk_dm_set_udev_wait). */
#define CMKD_UDEV_WAIT_MS	500
/* Control clients: at most this many at once, each this long per phase. */
#define CMKD_CONN_MAX		16
#define CMKD_CONN_MS		2000
#define CMKD_REQ_MAX		2048
/* First retry of an open that could not reach the vault. */
#define CMKD_BACKOFF_MIN_MS	1000
/* Extra lease time while a table is being loaded. */
#define CMKD_LEASE_LOAD_S	30
/* Events remembered per volume for "cmkctl status". */
#define CMKD_EVENTS		8
/* First retry of a failed automatic KEK rotation, and the cap. */
#define CMKD_ROTATE_BACKOFF_MIN_MS	5000
#define CMKD_ROTATE_BACKOFF_MAX_MS	(3600 * 1000)
/* Longest reason text. */
#define CMKD_REASON_MAX		256

/**
 * enum cmkd_state - the state of a volume (the daemon's state machine)
 * @CMKD_OPENING: waiting for its header, the vault or the kernel
 * @CMKD_AVAILABLE: mapped, KEK checked, lease renewed
 * @CMKD_DEGRADED: mapped, but the vault could not be reached since
 *	a time within the grace period; the lease is still renewed
 * @CMKD_INACCESSIBLE: torn down: the KEK is lost or the grace ran out;
 *	comes back with revalidate
 * @CMKD_CLOSED: closed by the administrator (cmkctl close)
 */
enum cmkd_state {
	CMKD_OPENING,
	CMKD_AVAILABLE,
	CMKD_DEGRADED,
	CMKD_INACCESSIBLE,
	CMKD_CLOSED,
};

struct cmkd_kek;

/**
 * struct cmkd_event - one entry of a volume's recent history
 * @time: wall-clock time
 * @text: what happened
 */
struct cmkd_event {
	time_t time;
	char text[CMKD_REASON_MAX];
};

/**
 * struct cmkd_volume - one line of cmktab
 * @e: its cmktab entry
 * @state: see enum cmkd_state
 * @reason: why it is in that state ("" when available)
 * @cls: the vault class of the cause of the last failure
 * @since: wall-clock time of the last state change
 * @h: its header, once read (owned by the main thread)
 * @dev: the data device found
 * @uuid: the volume UUID, once known
 * @kek: the KEK it uses, once its header is known
 * @lease: serial of its lease key, 0 if none
 * @lease_desc: description of its lease key
 * @lease_renewed: monotonic ms of the last renewal
 * @lease_expiry: wall-clock expiry of the lease key
 * @open_pending: an open job is with the open worker
 * @next_open: monotonic ms of the next open attempt, 0 if none is due
 * @backoff_ms: current retry delay
 * @attempts: open attempts since the last success
 * @client: control connection waiting for the end of a revalidate, or -1
 * @events: ring of recent events
 * @nevents: events recorded so far
 * @fingerprint: its volume key fingerprint, from the last open
 * @kek_override: the KEK URI (with its local settings) a rotation to
 *	another vault moved the volume to, until cmktab says so; or NULL
 * @rotate_pending: a KEK rotation job is with the open worker
 * @rotate_client: control connection waiting for a kek-rotate, or -1
 * @next_rotate: monotonic ms before which no automatic rotation is tried
 *	again (after a failure), 0 if none
 * @rotate_backoff_ms: current automatic rotation retry delay
 * @rotate_failures: automatic rotations failed in a row
 */
struct cmkd_volume {
	struct cmk_tab_entry *e;
	enum cmkd_state state;
	char reason[CMKD_REASON_MAX];
	enum cmk_vault_class cls;
	time_t since;
	struct cmk_hdr *h;
	char dev[PATH_MAX];
	char uuid[CMK_UUID_STR_LEN];
	struct cmkd_kek *kek;
	int32_t lease;
	char lease_desc[64];
	uint64_t lease_renewed;
	time_t lease_expiry;
	bool open_pending;
	uint64_t next_open;
	uint64_t backoff_ms;
	unsigned int attempts;
	int client;
	struct cmkd_event events[CMKD_EVENTS];
	unsigned int nevents;
	char fingerprint[CMK_VK_FP_LEN];
	char *kek_override;
	bool rotate_pending;
	int rotate_client;
	uint64_t next_rotate;
	uint64_t rotate_backoff_ms;
	unsigned int rotate_failures;
};

/**
 * struct cmkd_kek - a KEK and the checks shared by the volumes using it
 * @uri: the KEK URI (may name a PIN source; never logged as is)
 * @safe_uri: @uri redacted, for logs and status
 * @pin_file: PIN file, NULL for the URI's pin-source
 * @module: PKCS#11 module (cmktab module=), NULL for the URI's or default
 * @device_uri: @uri came from a header: it may name the key only
 * @version: the key version its volumes' headers record
 * @newest: a newer version seen by the last check (rotate=auto), or ""
 * @poll_ms: the smallest poll interval of its volumes
 * @next_check: monotonic ms of the next check
 * @check_pending: a check is with the check worker
 * @check_started: monotonic ms the pending check was queued
 * @first_fail: monotonic ms of the first transient failure in a row, 0
 * @last_ok: wall-clock time of the last successful check, 0 if none
 * @last_check: wall-clock time of the last check result, 0 if none
 * @last_cls: class of the last check
 * @last_msg: message of the last failed check
 * @checks: checks done
 * @next: next KEK in the daemon's list
 */
struct cmkd_kek {
	char *uri;
	char safe_uri[CMK_HDR_URI_LEN];
	char *pin_file;
	char *module;
	bool device_uri;
	char version[CMK_HDR_KEYVER_LEN];
	char newest[CMK_VAULT_VERSION_MAX];
	uint64_t poll_ms;
	uint64_t next_check;
	bool check_pending;
	uint64_t check_started;
	uint64_t first_fail;
	time_t last_ok;
	time_t last_check;
	enum cmk_vault_class last_cls;
	char last_msg[CMK_VAULT_MSG_MAX];
	uint64_t checks;
	struct cmkd_kek *next;
};

/**
 * enum cmkd_job_type - what the worker is asked to do
 * @CMKD_JOB_OPEN: find the device, read the header, unlock the volume
 * @CMKD_JOB_CHECK: one KEK check (cmk_volume_check_kek()), and for
 *	rotate=auto volumes a look for a newer version
 * @CMKD_JOB_ROTATE: rotate a volume's KEK (cmk_volume_kek_rotate()); runs
 *	on the open worker (it reads and writes the header)
 */
enum cmkd_job_type {
	CMKD_JOB_OPEN,
	CMKD_JOB_CHECK,
	CMKD_JOB_ROTATE,
};

/**
 * struct cmkd_job - a vault job and its result
 * @type: see enum cmkd_job_type
 * @vol: the volume (open) or the volume whose header is used (check)
 * @kek: the KEK checked (check)
 * @uri: KEK URI to use (check, rotate); (open) the cmktab KEK field, or
 *	NULL, from which the URI is chosen once the header is read
 *	(cmkd_kek_uri())
 * @pin_file: PIN file, or NULL
 * @module: PKCS#11 module (cmktab module=), or NULL
 * @device_uri: @uri (or, when NULL, the header's) was read from the device
 * @vk_fingerprint: the volume's pinned fingerprint (cmktab), or NULL
 * @pin_opts: the volume's pin and rollback policy (open)
 * @pin: what cmk_volume_trust() found (open)
 * @audit_log: audit log for the vault calls
 * @device: device path or NULL (open)
 * @uuid: volume UUID to look for when @device is NULL (open)
 * @header: detached header path or NULL (open)
 * @chk: header used by a check: a copy of the volume's KEK slot and
 *	extent 0 (@chk_ext)
 * @chk_ext: extent 0's entry for @chk
 * @ret: 0 or a negative errno
 * @err: the failure
 * @h: the header read (open), handed to the main thread
 * @keys: the DEKs (open), wiped by the main thread once loaded
 * @dev: the device found (open)
 * @ms: duration of the job
 * @list_versions: (check) also look for a newer version of the key
 * @newest: (check) the newer version found, "" if none
 * @to_uri: (rotate) the new KEK's URI, with its own local settings if it
 *	names them; NULL: a newer version of the current key.  (open) the
 *	volume's KEK override (struct cmkd_volume.kek_override), or NULL
 * @to_version: (rotate) its version, or NULL
 * @resumed: (rotate) a staged rotation was finished
 * @from: (rotate) the KEK slot before the rotation
 * @next: next job in the queue
 */
struct cmkd_job {
	enum cmkd_job_type type;
	struct cmkd_volume *vol;
	struct cmkd_kek *kek;
	char *uri;
	char *pin_file;
	char *module;
	bool device_uri;
	char *vk_fingerprint;
	struct cmk_pin_opts pin_opts;
	struct cmk_pin_result pin;
	char *audit_log;
	char *device;
	char uuid[CMK_UUID_STR_LEN];
	char *header;
	struct cmk_hdr chk;
	struct cmk_dek_entry chk_ext;
	int ret;
	struct cmk_volume_error err;
	struct cmk_hdr *h;
	struct cmk_volume_keys keys;
	char dev[PATH_MAX];
	double ms;
	bool list_versions;
	char newest[CMK_VAULT_VERSION_MAX];
	char *to_uri;
	char *to_version;
	bool resumed;
	struct cmk_kek_ref from;
	struct cmkd_job *next;
};

/**
 * struct cmkd - the daemon
 * @tab_path: cmktab path
 * @socket_path: control socket path
 * @audit_path: default audit log
 * @audit_fd: default audit log, -1 if it cannot be opened
 * @foreground: log to stderr
 * @tab: the parsed cmktab
 * @vols: one per valid cmktab line
 * @nvols: number of @vols
 * @keks: the KEKs in use
 * @ctl_fd: listening control socket
 * @result_fd: read end of the worker's result pipe
 * @stop: a signal asked the daemon to stop
 * @ready: READY=1 was sent to systemd
 */
struct cmkd {
	const char *tab_path;
	const char *socket_path;
	const char *audit_path;
	int audit_fd;
	bool foreground;
	struct cmk_tab tab;
	struct cmkd_volume *vols;
	size_t nvols;
	struct cmkd_kek *keks;
	int ctl_fd;
	int result_fd;
	volatile bool stop;
	bool ready;
};

/* cmkd.c */
uint64_t cmkd_now_ms(void);

/* cmkd-worker.c */
int cmkd_worker_start(int *result_fd);
void cmkd_worker_stop(void);
void cmkd_worker_submit(struct cmkd_job *job);
struct cmkd_job *cmkd_worker_result(int result_fd);
void cmkd_job_free(struct cmkd_job *job);

/* cmkd-volume.c */
const char *cmkd_state_name(enum cmkd_state s);
int cmkd_kek_uri(const char *tab, const char *override, const char *key,
		 char **uri, bool *device_uri);
int cmkd_volumes_init(struct cmkd *d);
void cmkd_volumes_tick(struct cmkd *d);
void cmkd_job_done(struct cmkd *d, struct cmkd_job *job);
int cmkd_revalidate(struct cmkd *d, struct cmkd_volume *v, int client);
int cmkd_kek_rotate(struct cmkd *d, struct cmkd_volume *v, const char *to_uri,
		    const char *to_version, int client);
int cmkd_close(struct cmkd *d, struct cmkd_volume *v, bool deferred,
	       char *msg, size_t size);
void cmkd_shutdown(struct cmkd *d);
struct cmkd_volume *cmkd_find(struct cmkd *d, const char *name);

/* cmkd-ctl.c */
int cmkd_ctl_open(struct cmkd *d);
void cmkd_ctl_accept(struct cmkd *d);
struct pollfd;
int cmkd_ctl_pollfds(struct pollfd *pfd);
void cmkd_ctl_serve(struct cmkd *d, const struct pollfd *pfd, int n);
void cmkd_ctl_reply(int fd, const char *json);
void cmkd_ctl_done(int fd);
void cmkd_ctl_close(struct cmkd *d);

/* cmkd-log.c */
/**
 * struct cmkd_buf - a growing string
 * @p: the text, NUL-terminated
 * @len: its length
 * @size: bytes allocated
 * @oom: an allocation failed; @p holds what fitted
 */
struct cmkd_buf {
	char *p;
	size_t len;
	size_t size;
	bool oom;
};

void cmkd_buf_printf(struct cmkd_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cmkd_buf_json(struct cmkd_buf *b, const char *s);
void cmkd_buf_free(struct cmkd_buf *b);
void cmkd_log_init(bool foreground);
void cmkd_log(int prio, const struct cmkd_volume *v, const char *event,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cmkd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cmkd_alert(const struct cmkd_volume *v, const char *event);
void cmkd_reap(void);
void cmkd_audit(struct cmkd *d, const struct cmkd_volume *v, const char *op,
		enum cmk_vault_class cls);

#endif /* CMKD_H */
