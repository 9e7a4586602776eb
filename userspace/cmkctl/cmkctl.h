/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmkctl: what the command files share (cmkctl.c: the commands on
 * volumes; cmkctl-daemon.c: the commands that talk to cmkd).
 */
#ifndef CMKCTL_H
#define CMKCTL_H

#include <stdbool.h>
#include <stdio.h>

#include "libcmk.h"
#include "cmk-volume.h"

/* Exit codes, documented in cmkctl(8). */
#define EXIT_OK		0	/* success */
#define EXIT_USAGE	1	/* bad command line */
#define EXIT_FAIL	2	/* I/O or system failure */
#define EXIT_VAULT	3	/* vault or KEK unavailable, refused, invalid */
#define EXIT_HEADER	4	/* header missing, invalid, altered, mismatch */
#define EXIT_REFUSED	5	/* would overwrite data; use --force */

#define DEFAULT_EXTENT_SIZE	(64ULL << 20)
/* Show progress for at least this many extents. */
#define PROGRESS_MIN		4096

/**
 * struct command - one cmkctl command
 * @name: as typed
 * @func: runs it; returns an exit code
 * @args: usage line after the name
 * @summary: what it does
 * @options: its options, one per line, or NULL
 */
struct command {
	const char *name;
	int (*func)(int argc, char *argv[]);
	const char *args;
	const char *summary;
	const char *options;
};

extern const char *progname;

struct vault_args {
	const char *vk_fingerprint;
	const char *state_dir;
	bool allow_rollback;
	const char *module;
	const char *pin_file;
	const char *pin_keyring;
	bool pin_prompt;
	const char *audit_log;
};

/* Long-only option codes of the PIN sources besides --pin-file. */
#define OPT_PIN_KEYRING	0x100
#define OPT_PIN_PROMPT	0x101
#define OPT_MODULE	0x102
#define OPT_VK_FP	0x103
#define OPT_ROLLBACK	0x104
#define OPT_STATE_DIR	0x105
/* What this host knows of a volume: the commands that unlock one. */
#define TRUST_OPTIONS \
	{ "vk-fingerprint", required_argument, NULL, OPT_VK_FP }, \
	{ "allow-rollback", no_argument, NULL, OPT_ROLLBACK }, \
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR }
#define TRUST_HELP \
	"      --vk-fingerprint FP the volume key must have this fingerprint\n" \
	"                          (cmkvk1:..., as format or a first open printed)\n" \
	"      --allow-rollback    accept a header older than the last one seen\n" \
	"      --state-dir DIR     this host's volume records (default\n" \
	"                          " CMK_STATE_DIR ")\n"
#define PIN_OPTIONS \
	{ "module", required_argument, NULL, OPT_MODULE }, \
	{ "pin-file", required_argument, NULL, 'p' }, \
	{ "pin-keyring", required_argument, NULL, OPT_PIN_KEYRING }, \
	{ "pin-prompt", no_argument, NULL, OPT_PIN_PROMPT }
#define PIN_HELP \
	"      --module MODULE     PKCS#11 module: a path, or the name of one\n" \
	"                          registered with p11-kit (default: SoftHSM2)\n" \
	"      --pin-file FILE     read the token PIN from FILE\n" \
	"      --pin-keyring DESC  the token PIN is the \"user\" key DESC in your\n" \
	"                          keyrings (keyctl padd user DESC @u)\n" \
	"      --pin-prompt        ask for the token PIN on the terminal\n"

struct cmk_hdr;
struct cmk_hdr_read_info;
struct cmk_vault;
struct cmk_pin_result;

uint64_t parse_size(const char *s);
bool take_vault_option(int opt, struct vault_args *va);
int open_vault(const char *uri, bool device_uri, const struct vault_args *va,
	       const char *uuid, struct cmk_vault **vp);
int open_dev(const char *path, int flags, int *fdp);
int read_header(const char *path, int fd, struct cmk_hdr **hp,
		struct cmk_hdr_read_info *info, bool quiet);
int vault_exit(const struct cmk_volume_error *err);
int load_header(const char *dev, const char *hdr_path, struct cmk_hdr **hp,
		struct cmk_hdr_read_info *info);
int trust_volume(const char *dev, const struct cmk_hdr *h,
		 const struct cmk_volume_keys *keys,
		 const struct vault_args *va, bool record,
		 struct cmk_pin_result *r);
int unlock_volume(const char *dev, const struct cmk_hdr *h, const char *kek,
		  const struct vault_args *va, bool record,
		  struct cmk_volume_keys *keys, struct cmk_pin_result *r);

void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_error(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int parse_end(const struct command *c, int argc, char *argv[],
	      int want_min, int want_max);
int help_or_bad(const struct command *c, int opt, char *argv[]);
const struct command *find_command(const char *name);
void json_str(const char *s);
int mapping_status(const char *cmd, const char *name, struct cmk_status *st);

/* cmkctl-rotate.c */
int cmd_kek_rotate(int argc, char *argv[]);
int cmd_vk_rotate(int argc, char *argv[]);
int cmd_rebind(int argc, char *argv[]);
int cmd_kek_retire_check(int argc, char *argv[]);
void host_keks_status(bool json);

/* cmkctl-daemon.c */
#define CMKD_SOCKET_DEFAULT	"/run/cmk/cmkd.sock"
int cmkd_request(const char *sock, const char *req, int timeout_s,
		 char **reply);
int cmd_revalidate(int argc, char *argv[]);
int cmkd_close_volume(const char *sock, const char *name, bool deferred,
		      bool *handled);
void cmkd_status_list(const char *sock, bool json);
const char *cmkd_status_volume(const char *sock, const char *name,
			       char **doc);
void cmkd_volume_text(const char *vol);
/* Longest request line cmkd takes, with the newline (cmkd.h CMKD_REQ_MAX). */
#define CMKD_REQ_LINE	2048
bool cmkd_volume_of_uuid(const char *sock, const char *uuid, char *name,
			 size_t size);
int cmkd_kek_versions(const char *sock,
		      void (*fn)(const char *name, const char *uuid,
				 const char *uri, const char *version,
				 const char *pub, void *arg),
		      void *arg);
int cmkd_kek_rotate_request(const char *sock, const char *name,
			    const char *version, const char *to, bool json);

#endif /* CMKCTL_H */
