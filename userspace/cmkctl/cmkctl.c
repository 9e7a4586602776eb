// SPDX-License-Identifier: GPL-2.0
/*
 * cmkctl: administration of dm-cmk volumes.
 *
 * A thin program over libcmk: a commands[] table, getopt_long per command,
 * "error: <what>: <why>" messages, documented exit codes (cmkctl(8)).  The
 * logic lives in the library (cmk-volume.c, cmk-header.c, cmk-vault.c).
 *
 * Secrets never appear in argv, the environment or the output: the PIN
 * comes from a file (--pin-file) or the KEK URI's pin-source, and the
 * volume key and DEKs only ever live in cmk_secure_alloc() memory.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <keyutils.h>

#include "libcmk.h"
#include "cmk-volume.h"
#include "cmkctl.h"

const char *progname = "cmkctl";


void error(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void message(const char *what, const char *fmt, va_list ap)
{
	fputs(what, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	message("warning: ", fmt, ap);
	va_end(ap);
}

void notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	message("notice: ", fmt, ap);
	va_end(ap);
}


static void command_usage(FILE *f, const struct command *c)
{
	fprintf(f, "Usage: %s %s %s\n\n%s\n", progname, c->name, c->args,
		c->summary);
	if (c->options)
		fprintf(f, "\nOptions:\n%s", c->options);
	fprintf(f, "  -h, --help              show this help\n");
}

/* A usage error of command @name: message, hint, EXIT_USAGE. */
int usage_error(const char *name, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", progname, name);
	return EXIT_USAGE;
}

/* ---- output helpers ---- */

void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *kek_result_name(enum cmk_kek_result r)
{
	return r == CMK_KEK_PASS ? "pass" : r == CMK_KEK_WARN ? "warn" : "fail";
}

static const char *vk_wrap_name(uint32_t alg)
{
	switch (alg) {
	case CMK_VK_WRAP_RSA_OAEP_SHA1:
		return "rsa-oaep-sha1";
	case CMK_VK_WRAP_RSA_OAEP_SHA256:
		return "rsa-oaep-sha256";
	default:
		return "unknown";
	}
}

static const char *dek_wrap_name(uint32_t alg)
{
	return alg == CMK_DEK_WRAP_AES256_GCM ? "aes-256-gcm" : "unknown";
}

static const char *dek_rot_name(uint32_t state)
{
	switch (state) {
	case CMK_DEK_ROT_IDLE:
		return "idle";
	case CMK_DEK_ROT_STAGED:
		return "staged";
	case CMK_DEK_ROT_RUNNING:
		return "running";
	default:
		return "unknown";
	}
}

/* ---- argument parsing ---- */

/* "4096", "64M", "1G", "512K": bytes; 0 on a bad value. */
uint64_t parse_size(const char *s)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s[0] || s[0] == '-')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return 0;
	}
	if (shift && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return 0;
	if (v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

/*
 * An option every vault-using command takes (the PIN sources, --audit-log):
 * record it; false if @opt is not one.
 */
bool take_vault_option(int opt, struct vault_args *va)
{
	switch (opt) {
	case OPT_MODULE:
		va->module = optarg;
		return true;
	case OPT_VK_FP:
		va->vk_fingerprint = optarg;
		return true;
	case OPT_ROLLBACK:
		va->allow_rollback = true;
		return true;
	case OPT_STATE_DIR:
		va->state_dir = optarg;
		return true;
	case 'p':
		va->pin_file = optarg;
		return true;
	case OPT_PIN_KEYRING:
		va->pin_keyring = optarg;
		return true;
	case OPT_PIN_PROMPT:
		va->pin_prompt = true;
		return true;
	case 'a':
		va->audit_log = optarg;
		return true;
	}
	return false;
}

static void vault_options(const struct vault_args *va,
			  struct cmk_vault_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	if (va->pin_file) {
		opt->pin = CMK_VAULT_PIN_FILE;
		opt->pin_arg = va->pin_file;
	} else if (va->pin_keyring) {
		opt->pin = CMK_VAULT_PIN_KEYRING;
		opt->pin_arg = va->pin_keyring;
	} else if (va->pin_prompt) {
		opt->pin = CMK_VAULT_PIN_PROMPT;
		opt->pin_arg = "Token PIN: ";
	}
	opt->module = va->module;
	opt->audit_path = va->audit_log;
}

/*
 * Open the vault of @uri; @device_uri: @uri was read from a header, and may
 * only name the key (cmk_vault_options).
 */
int open_vault(const char *uri, bool device_uri,
		      const struct vault_args *va, const char *uuid,
		      struct cmk_vault **vp)
{
	struct cmk_vault_ctx ctx = { .uuid = uuid };
	struct cmk_vault_options opt;
	struct cmk_vault_error err;
	char safe[CMK_HDR_URI_LEN];

	if (!!va->pin_file + !!va->pin_keyring + va->pin_prompt > 1) {
		error("give one PIN source: --pin-file, --pin-keyring or --pin-prompt");
		return EXIT_USAGE;
	}
	if (va->pin_file && access(va->pin_file, R_OK)) {
		error("reading PIN file %s: %s", va->pin_file, strerror(errno));
		return EXIT_USAGE;
	}
	vault_options(va, &opt);
	opt.device_uri = device_uri;
	if (cmk_vault_open(uri, &opt, uuid ? &ctx : NULL, vp, &err)) {
		if (cmk_vault_uri_redact(uri, safe, sizeof(safe)))
			snprintf(safe, sizeof(safe), "(KEK URI)");
		error("opening the vault of %s: %s (%s)", safe, err.msg,
		      cmk_vault_class_name(err.cls));
		return EXIT_VAULT;
	}
	return EXIT_OK;
}

/*
 * Open a device or file (nothing else: a FIFO, directory or character
 * device is a usage error); a block device opened to write is opened O_EXCL.
 */
int open_dev(const char *path, int flags, int *fdp)
{
	struct stat st;
	int fd;

	if ((flags & O_ACCMODE) == O_RDWR && !stat(path, &st) &&
	    S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	fd = cmk_file_open(path, flags, CMK_FILE_REG | CMK_FILE_BLK, &st);
	if (fd == -ENOTBLK || fd == -EISDIR) {
		error("%s: not a block device or regular file", path);
		return EXIT_USAGE;
	}
	if (fd < 0) {
		error("opening %s: %s", path, fd == -EBUSY ?
		      "device in use (mounted, mapped or held open)" :
		      strerror(-fd));
		return EXIT_FAIL;
	}
	*fdp = fd;
	return EXIT_OK;
}

/* Read the header of @path; on failure print why and return an exit code. */
int read_header(const char *path, int fd, struct cmk_hdr **hp,
		       struct cmk_hdr_read_info *info, bool quiet)
{
	int ret = cmk_hdr_read(fd, hp, info);

	if (ret) {
		const char *why = info->why[0] ? info->why[0] : strerror(-ret);

		if (ret == -ENOMSG && info->offset[1] < 0)
			error("reading the header of %s: no dm-cmk header", path);
		else
			error("reading the header of %s: no valid copy: copy A: %s; copy B: %s",
			      path, why, info->why[1] ? info->why[1] :
			      strerror(-info->err[1]));
		return ret == -EIO ? EXIT_FAIL : EXIT_HEADER;
	}
	if (info->degraded && !quiet) {
		int bad = !info->used;

		if (info->err[bad])
			warning("%s: header copy %c is damaged (%s); using copy %c; rewrite the header",
				path, bad ? 'B' : 'A', info->why[bad] ?
				info->why[bad] : strerror(-info->err[bad]),
				info->used ? 'B' : 'A');
		else
			warning("%s: header copy %c is older (seqno %" PRIu64
				"); using copy %c (seqno %" PRIu64 ")", path,
				bad ? 'B' : 'A', info->seqno[bad],
				info->used ? 'B' : 'A', info->seqno[info->used]);
	}
	return EXIT_OK;
}

int vault_exit(const struct cmk_volume_error *err)
{
	switch (err->kind) {
	case CMK_VOLUME_FAIL_VAULT:
		return EXIT_VAULT;
	case CMK_VOLUME_FAIL_HEADER:
		return EXIT_HEADER;
	default:
		return EXIT_FAIL;
	}
}

/* Read the header of DEVICE or of --header FILE, read-only. */
int load_header(const char *dev, const char *hdr_path,
		       struct cmk_hdr **hp, struct cmk_hdr_read_info *info)
{
	const char *src = hdr_path ? hdr_path : dev;
	int fd, ret;

	ret = open_dev(src, O_RDONLY, &fd);
	if (ret)
		return ret;
	ret = read_header(src, fd, hp, info, false);
	close(fd);
	return ret;
}

/*
 * Whether the unlocked header is the volume this host knows
 * (cmk_volume_trust()); @record: write the host's record (open).  Says so
 * when the volume is not pinned.
 */
int trust_volume(const char *dev, const struct cmk_hdr *h,
			const struct cmk_volume_keys *keys,
			const struct vault_args *va, bool record,
			struct cmk_pin_result *r)
{
	struct cmk_pin_opts o = {
		.fingerprint = va->vk_fingerprint,
		.state_dir = va->state_dir,
		.allow_rollback = va->allow_rollback,
		.record = record,
	};
	struct cmk_volume_error err = { 0 };
	char uuid[CMK_UUID_STR_LEN];

	cmk_uuid_format(h->uuid, uuid);
	if (cmk_volume_trust(h, keys, &o, r, &err)) {
		error("%s: refused: %s", dev, err.msg);
		return err.kind == CMK_VOLUME_FAIL_HEADER ? EXIT_HEADER :
		       EXIT_FAIL;
	}
	if (r->rolled_back)
		warning("%s: rollback allowed: header sequence number %" PRIu64
			", this host had seen %" PRIu64, dev, h->seqno,
			r->last_seqno);
	if (r->recorded_now)
		notice("volume %s was not pinned on this host; pinned now to its volume key fingerprint %s (%s); on other hosts: --vk-fingerprint %s, or vk-fingerprint=%s in cmktab",
		       uuid, keys->fingerprint, r->record, keys->fingerprint,
		       keys->fingerprint);
	else if (!r->pinned)
		warning("volume %s is not pinned on this host: its volume key fingerprint is %s; pin it with --vk-fingerprint %s (cmktab: vk-fingerprint=%s), or by opening it once on this host",
			uuid, keys->fingerprint, keys->fingerprint,
			keys->fingerprint);
	return EXIT_OK;
}

/*
 * Unlock a volume: one vault call, then the pin and rollback checks
 * (trust_volume()); errors printed, exit code returned.  @r may be NULL.
 */
int unlock_volume(const char *dev, const struct cmk_hdr *h,
			 const char *kek, const struct vault_args *va,
			 bool record, struct cmk_volume_keys *keys,
			 struct cmk_pin_result *r)
{
	struct cmk_volume_error err = { 0 };
	struct cmk_pin_result local;
	struct cmk_vault *v = NULL;
	char uuid[CMK_UUID_STR_LEN];
	int ret, opened;

	cmk_uuid_format(h->uuid, uuid);
	ret = open_vault(kek ? kek : h->kek.uri, !kek, va, uuid, &v);
	opened = !ret;
	if (opened) {
		ret = cmk_volume_unlock(h, v, keys, &err);
		cmk_vault_close(v);
		v = NULL;
	}
	/*
	 * A header caught mid KEK rotation opens with the old KEK or the new
	 * one: when the current KEK is gone for good, the staged one.
	 */
	if (ret && h->kek_state == CMK_KEK_ROT_STAGED &&
	    !(err.kind == CMK_VOLUME_FAIL_VAULT &&
	      err.vault.cls == CMK_VAULT_TRANSIENT) &&
	    err.kind != CMK_VOLUME_FAIL_HEADER) {
		warning("%s: the current KEK did not unwrap the volume key%s%s; trying the KEK staged by an unfinished rotation (finish it with cmkctl kek-rotate)",
			dev, err.kind ? ": " : "", err.kind ? err.msg : "");
		ret = open_vault(h->kek_new.uri, true, va, uuid, &v);
		if (ret)
			return ret;
		ret = cmk_volume_unlock_slot(h, &h->kek_new, v, keys, &err);
		cmk_vault_close(v);
		opened = 1;
	}
	if (!opened)
		return ret;
	if (!ret) {
		ret = trust_volume(dev, h, keys, va, record, r ? r : &local);
		if (ret)
			cmk_volume_keys_wipe(keys);
		return ret;
	}
	if (err.kind == CMK_VOLUME_FAIL_VAULT)
		error("unlocking %s: %s (%s)", dev, err.msg,
		      cmk_vault_class_name(err.vault.cls));
	else
		error("unlocking %s: %s", dev, err.msg);
	return vault_exit(&err);
}

int parse_end(const struct command *c, int argc, char *argv[],
		     int want_min, int want_max)
{
	int n = argc - optind;

	if (n < want_min)
		return usage_error(c->name, "%s: missing argument", c->name);
	if (n > want_max)
		return usage_error(c->name, "%s: unexpected argument '%s'",
				   c->name, argv[optind + want_max]);
	return EXIT_OK;
}

/* --help (exit 0) or a bad option (exit 1), after getopt_long(). */
int help_or_bad(const struct command *c, int opt, char *argv[])
{
	const char *arg = argv[optind - 1];

	if (opt == 'h') {
		command_usage(stdout, c);
		return EXIT_OK;
	}
	if (opt == ':') {
		if (optopt && arg[0] == '-' && arg[1] != '-')
			return usage_error(c->name, "%s: option '-%c' needs an argument",
					   c->name, optopt);
		return usage_error(c->name, "%s: option '%s' needs an argument",
				   c->name, arg);
	}
	if (optopt && !(arg[0] == '-' && arg[1] == '-'))
		return usage_error(c->name, "%s: unknown option '-%c'", c->name,
				   optopt);
	return usage_error(c->name, "%s: unknown option '%s'", c->name, arg);
}

/* ---- format ---- */

struct progress_state {
	bool shown;
};

static void format_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress_state *ps = arg;

	fprintf(stderr, "\rwrapping DEKs: %" PRIu64 "/%" PRIu64 " (%u%%)",
		done, total, (unsigned int)(done * 100 / total));
	ps->shown = true;
	if (done == total)
		fputc('\n', stderr);
}

static int cmd_format(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "kek", required_argument, NULL, 'k' },
		PIN_OPTIONS,
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "extent-size", required_argument, NULL, 'e' },
		{ "data-unit", required_argument, NULL, 'u' },
		{ "label", required_argument, NULL, 'l' },
		{ "header", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'f' },
		{ "audit-log", required_argument, NULL, 'a' },
		{ "progress", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("format");
	struct vault_args va = { 0 };
	const char *kek = NULL, *label = "", *hdr_path = NULL, *dev;
	uint64_t extent_size = DEFAULT_EXTENT_SIZE, bytes;
	uint32_t data_unit = 4096;
	bool force = false, json = false, progress = false;
	struct cmk_vault_key_info info;
	struct cmk_kek_check checks[CMK_KEK_CHECKS];
	struct cmk_vault_error verr;
	struct cmk_volume_error err;
	struct progress_state ps = { false };
	struct cmk_vault *v = NULL;
	struct cmk_hdr *h = NULL;
	char uuid[CMK_UUID_STR_LEN], what[64], fp[CMK_VK_FP_LEN];
	int fd = -1, hfd = -1, opt, ret, i;

	while ((opt = getopt_long(argc, argv, ":hk:e:u:l:fj", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'k':
			kek = optarg;
			break;
		case 'e':
			extent_size = parse_size(optarg);
			if (!extent_size || extent_size % 512 ||
			    (extent_size & (extent_size - 1)) ||
			    extent_size / 512 > CMK_EXTENT_SECTORS_MAX)
				return usage_error(c->name,
						   "format: --extent-size %s: not a power of two of at least 512 bytes",
						   optarg);
			break;
		case 'u':
			if (!strcmp(optarg, "512"))
				data_unit = 512;
			else if (!strcmp(optarg, "4096"))
				data_unit = 4096;
			else
				return usage_error(c->name,
						   "format: --data-unit %s: must be 512 or 4096",
						   optarg);
			break;
		case 'l':
			if (strlen(optarg) >= CMK_HDR_LABEL_LEN)
				return usage_error(c->name,
						   "format: --label: longer than %d bytes",
						   CMK_HDR_LABEL_LEN - 1);
			if (!cmk_text_plain(optarg))
				return usage_error(c->name,
						   "format: --label: control characters are not allowed");
			label = optarg;
			break;
		case 'H':
			hdr_path = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'P':
			progress = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			if (take_vault_option(opt, &va))
				break;
			return help_or_bad(c, opt, argv);
		}
	}
	ret = parse_end(c, argc, argv, 1, 1);
	if (ret)
		return ret;
	dev = argv[optind];
	if (!kek)
		return usage_error(c->name, "format: --kek URI is required");
	if (strlen(kek) >= CMK_HDR_URI_LEN)
		return usage_error(c->name, "format: --kek: URI longer than %d bytes",
				   CMK_HDR_URI_LEN - 1);
	if (extent_size < data_unit)
		return usage_error(c->name,
				   "format: --extent-size is smaller than the data unit");

	ret = open_dev(dev, O_RDWR, &fd);
	if (ret)
		return ret;
	if (hdr_path) {
		hfd = open(hdr_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (hfd < 0) {
			error("opening header file %s: %s", hdr_path,
			      strerror(errno));
			ret = EXIT_FAIL;
			goto out;
		}
	}
	for (i = 0; i < (hdr_path ? 2 : 1); i++) {
		const char *p = i ? hdr_path : dev;
		int r = cmk_volume_probe(i ? hfd : fd, what, sizeof(what));

		if (r < 0) {
			error("reading %s: %s", p, strerror(-r));
			ret = EXIT_FAIL;
			goto out;
		}
		if (r > 0 && !force) {
			error("formatting %s: it holds %s (use --force to overwrite)",
			      p, what);
			ret = EXIT_REFUSED;
			goto out;
		}
		if (r > 0)
			warning("%s: overwriting %s", p, what);
	}
	ret = cmk_dev_size(fd, &bytes);
	if (ret) {
		error("getting the size of %s: %s", dev, strerror(-ret));
		ret = EXIT_FAIL;
		goto out;
	}
	ret = cmk_hdr_alloc(bytes / 512, extent_size / 512, data_unit,
			    hdr_path ? CMK_HDR_ALLOC_DETACHED : 0, &h);
	if (ret) {
		error("formatting %s: %s", dev,
		      ret == -E2BIG ? "too many extents: use a larger --extent-size" :
		      ret == -ENOSPC ? "device too small for the header and data" :
		      strerror(-ret));
		ret = ret == -ENOMEM ? EXIT_FAIL : EXIT_USAGE;
		goto out;
	}
	snprintf(h->label, sizeof(h->label), "%s", label);
	cmk_uuid_format(h->uuid, uuid);

	ret = open_vault(kek, false, &va, uuid, &v);
	if (ret)
		goto out;
	/* Check the KEK before trusting a volume to it; remember its version. */
	ret = cmk_vault_describe(v, &(struct cmk_vault_ctx){ .uuid = uuid },
				 NULL, &info, &verr);
	if (!ret)
		ret = cmk_kek_check(&info, time(NULL), checks, &verr);
	if (ret) {
		error("checking the KEK: %s (%s)", verr.msg,
		      cmk_vault_class_name(verr.cls));
		ret = EXIT_VAULT;
		goto out;
	}
	snprintf(h->kek.vault_type, sizeof(h->kek.vault_type), "%s",
		 v->ops->name);
	if (strlen(info.version) >= sizeof(h->kek.key_version)) {
		error("formatting %s: the KEK's version is too long for the header",
		      dev);
		ret = EXIT_VAULT;
		goto out;
	}
	memcpy(h->kek.key_version, info.version, strlen(info.version) + 1);
	if (info.has_pub_sha256)
		memcpy(h->kek.pub, info.pub_sha256, CMK_HDR_PUB_LEN);
	/* The key's name only: the module and PIN source stay on this host. */
	if (cmk_vault_uri_key(kek, h->kek.uri, sizeof(h->kek.uri))) {
		error("formatting %s: the KEK URI is too long for the header (at most %zu bytes before '?')",
		      dev, sizeof(h->kek.uri) - 1);
		ret = EXIT_USAGE;
		goto out;
	}

	if (progress || (h->extent_count >= PROGRESS_MIN && isatty(2)))
		ret = cmk_volume_format(hdr_path ? hfd : fd, h, v,
					format_progress, &ps, fp, &err);
	else
		ret = cmk_volume_format(hdr_path ? hfd : fd, h, v, NULL, NULL,
					fp, &err);
	if (ret) {
		if (ps.shown)
			fputc('\n', stderr);
		error("formatting %s: %s", dev, err.msg);
		ret = vault_exit(&err);
		goto out;
	}
	if (hdr_path && fsync(hfd)) {
		error("syncing %s: %s", hdr_path, strerror(errno));
		ret = EXIT_FAIL;
		goto out;
	}
	/* The host that made the volume knows its key: pinned here. */
	if (cmk_pin_record(va.state_dir, h, fp, &err)) {
		error("%s: formatted as volume %s, but not pinned on this host: %s; its volume key fingerprint is %s",
		      dev, uuid, err.msg, fp);
		ret = EXIT_FAIL;
		goto out;
	}
	notice("volume %s pinned on this host: volume key fingerprint %s", uuid,
	       fp);
	if (json) {
		printf("{\"uuid\":\"%s\",\"extent_count\":%u,\"extent_sectors\":%u,"
		       "\"data_unit\":%u,\"data_offset\":%" PRIu64
		       ",\"data_sectors\":%" PRIu64 ",\"vk_wrap\":\"%s\","
		       "\"vk_fingerprint\":\"%s\"}\n",
		       uuid, h->extent_count, h->extent_sectors, h->data_unit,
		       h->data_offset, h->data_sectors,
		       vk_wrap_name(h->kek.wrap_alg), fp);
	} else {
		printf("%s\n", uuid);
	}
	ret = EXIT_OK;
out:
	cmk_vault_close(v);
	cmk_hdr_free(h);
	if (hfd >= 0)
		close(hfd);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- dump ---- */

static void dump_copy_text(const struct cmk_hdr_read_info *info, int i)
{
	printf("copy %c:\t\t", i ? 'B' : 'A');
	if (info->offset[i] < 0)
		printf("not found");
	else if (info->err[i])
		printf("DAMAGED at byte %" PRId64 ": %s", info->offset[i],
		       info->why[i] ? info->why[i] : strerror(-info->err[i]));
	else
		printf("valid at byte %" PRId64 ", seqno %" PRIu64,
		       info->offset[i], info->seqno[i]);
	printf("%s\n", info->used == i ? " (used)" : "");
}

static void dump_copy_json(const struct cmk_hdr_read_info *info, int i)
{
	printf("{\"offset\":%" PRId64 ",\"valid\":%s", info->offset[i],
	       info->err[i] ? "false" : "true");
	if (info->err[i]) {
		printf(",\"error\":");
		json_str(info->why[i] ? info->why[i] : strerror(-info->err[i]));
	} else {
		printf(",\"seqno\":%" PRIu64, info->seqno[i]);
	}
	printf(",\"used\":%s}", info->used == i ? "true" : "false");
}

static void dump_kek_text(const char *what, const struct cmk_kek_ref *k)
{
	char hex[CMK_KEK_PUB_HEX_LEN];

	printf("%s vault:\t%s\n", what, k->vault_type);
	printf("%s URI:\t%s\n", what, k->uri);
	printf("%s version:\t%s\n", what, k->key_version[0] ? k->key_version : "-");
	printf("%s VK wrap:\t%s, %u bytes\n", what, vk_wrap_name(k->wrap_alg),
	       k->wrapped_vk_len);
	printf("%s public key:\t%s\n", what,
	       cmk_kek_pub_hex(k, hex)[0] ? hex : "-");
}

static void dump_kek_json(const struct cmk_kek_ref *k)
{
	char hex[CMK_KEK_PUB_HEX_LEN];

	printf("{\"vault\":");
	json_str(k->vault_type);
	printf(",\"uri\":");
	json_str(k->uri);
	printf(",\"version\":");
	json_str(k->key_version);
	printf(",\"vk_wrap\":\"%s\",\"wrapped_vk_len\":%u,\"pub_sha256\":",
	       vk_wrap_name(k->wrap_alg), k->wrapped_vk_len);
	json_str(cmk_kek_pub_hex(k, hex)[0] ? hex : "-");
	putchar('}');
}

static int cmd_dump(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("dump");
	const char *hdr_path = NULL, *src;
	struct cmk_hdr_read_info info;
	struct cmk_hdr *h = NULL;
	char uuid[CMK_UUID_STR_LEN];
	uint32_t gmin = UINT32_MAX, gmax = 0, i;
	bool json = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hj", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			hdr_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return help_or_bad(c, opt, argv);
		}
	}
	ret = parse_end(c, argc, argv, 1, 1);
	if (ret)
		return ret;
	src = hdr_path ? hdr_path : argv[optind];
	ret = load_header(argv[optind], hdr_path, &h, &info);
	if (ret)
		goto out;
	cmk_uuid_format(h->uuid, uuid);
	for (i = 0; i < h->extent_count; i++) {
		if (h->ext[i].generation < gmin)
			gmin = h->ext[i].generation;
		if (h->ext[i].generation > gmax)
			gmax = h->ext[i].generation;
	}

	if (json) {
		printf("{\"device\":");
		json_str(argv[optind]);
		printf(",\"header\":");
		json_str(src);
		printf(",\"detached\":%s,\"copies\":[",
		       h->incompat & CMK_HDR_INCOMPAT_DETACHED ? "true" : "false");
		dump_copy_json(&info, 0);
		putchar(',');
		dump_copy_json(&info, 1);
		printf("],\"used_copy\":\"%c\",\"degraded\":%s",
		       info.used ? 'B' : 'A', info.degraded ? "true" : "false");
		printf(",\"version\":%u,\"incompat\":%u,\"compat\":%u,\"ro_compat\":%u",
		       h->version, h->incompat, h->compat, h->ro_compat);
		printf(",\"seqno\":%" PRIu64 ",\"copy_size\":%" PRIu64,
		       h->seqno, h->copy_size);
		printf(",\"uuid\":\"%s\",\"label\":", uuid);
		json_str(h->label);
		printf(",\"data_offset\":%" PRIu64 ",\"data_sectors\":%" PRIu64
		       ",\"data_unit\":%u,\"extent_sectors\":%u,\"extent_count\":%u",
		       h->data_offset, h->data_sectors, h->data_unit,
		       h->extent_sectors, h->extent_count);
		printf(",\"dek_wrap\":\"%s\",\"dek_size\":%d",
		       dek_wrap_name(h->dek_wrap_alg), CMK_DEK_SIZE);
		printf(",\"dek_generation_min\":%u,\"dek_generation_max\":%u",
		       gmin, gmax);
		printf(",\"kek\":");
		dump_kek_json(&h->kek);
		printf(",\"kek_rotation\":\"%s\"",
		       h->kek_state == CMK_KEK_ROT_STAGED ? "staged" : "idle");
		if (h->kek_state == CMK_KEK_ROT_STAGED) {
			printf(",\"kek_new\":");
			dump_kek_json(&h->kek_new);
		}
		printf(",\"dek_rotation\":{\"state\":\"%s\"",
		       dek_rot_name(h->dek_rot.state));
		if (h->dek_rot.state != CMK_DEK_ROT_IDLE)
			printf(",\"extent\":%u,\"watermark\":%" PRIu64
			       ",\"new_generation\":%u", h->dek_rot.extent,
			       h->dek_rot.watermark,
			       h->dek_rot.new_dek.generation);
		printf("}}\n");
	} else {
		printf("device:\t\t%s\n", argv[optind]);
		if (hdr_path)
			printf("header file:\t%s (detached)\n", hdr_path);
		dump_copy_text(&info, 0);
		dump_copy_text(&info, 1);
		printf("version:\t%u\n", h->version);
		printf("features:\tincompat 0x%x, compat 0x%x, ro_compat 0x%x%s\n",
		       h->incompat, h->compat, h->ro_compat,
		       h->incompat & CMK_HDR_INCOMPAT_DETACHED ? " (detached)" : "");
		printf("seqno:\t\t%" PRIu64 "\n", h->seqno);
		printf("copy size:\t%" PRIu64 " bytes\n", h->copy_size);
		printf("UUID:\t\t%s\n", uuid);
		printf("label:\t\t%s\n", h->label);
		printf("data offset:\t%" PRIu64 " sectors\n", h->data_offset);
		printf("data length:\t%" PRIu64 " sectors (%" PRIu64 " MiB)\n",
		       h->data_sectors, h->data_sectors >> 11);
		printf("data unit:\t%u bytes\n", h->data_unit);
		printf("extent size:\t%u sectors (%" PRIu64 " KiB)\n",
		       h->extent_sectors, (uint64_t)h->extent_sectors / 2);
		printf("extents:\t%u\n", h->extent_count);
		printf("DEK wrap:\t%s, %d-byte DEKs, generations %u..%u\n",
		       dek_wrap_name(h->dek_wrap_alg), CMK_DEK_SIZE, gmin, gmax);
		dump_kek_text("KEK", &h->kek);
		printf("KEK rotation:\t%s\n",
		       h->kek_state == CMK_KEK_ROT_STAGED ? "staged" : "idle");
		if (h->kek_state == CMK_KEK_ROT_STAGED)
			dump_kek_text("new KEK", &h->kek_new);
		printf("DEK rotation:\t%s", dek_rot_name(h->dek_rot.state));
		if (h->dek_rot.state != CMK_DEK_ROT_IDLE)
			printf(", extent %u, watermark %" PRIu64
			       ", new generation %u", h->dek_rot.extent,
			       h->dek_rot.watermark,
			       h->dek_rot.new_dek.generation);
		putchar('\n');
	}
	ret = EXIT_OK;
out:
	cmk_hdr_free(h);
	return ret;
}

/* ---- validate-kek ---- */

static int cmd_validate_kek(int argc, char *argv[])
{
	static const struct option longopts[] = {
		PIN_OPTIONS,
		{ "audit-log", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("validate-kek");
	struct cmk_kek_check checks[CMK_KEK_CHECKS];
	struct cmk_vault_error err;
	struct vault_args va = { 0 };
	struct cmk_vault *v = NULL;
	char safe[CMK_HDR_URI_LEN];
	bool json = false, failed = false;
	int opt, ret, i;

	while ((opt = getopt_long(argc, argv, ":hj", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		default:
			if (take_vault_option(opt, &va))
				break;
			return help_or_bad(c, opt, argv);
		}
	}
	ret = parse_end(c, argc, argv, 1, 1);
	if (ret)
		return ret;
	ret = open_vault(argv[optind], false, &va, NULL, &v);
	if (ret)
		return ret;
	ret = cmk_vault_validate_kek(v, NULL, NULL, checks, &err);
	if (ret && !checks[0].name) {
		/* describe itself failed: the key is missing or unreachable */
		error("describing the KEK: %s (%s)", err.msg,
		      cmk_vault_class_name(err.cls));
		ret = EXIT_VAULT;
		goto out;
	}
	cmk_vault_uri_redact(argv[optind], safe, sizeof(safe));
	if (json) {
		printf("{\"kek\":");
		json_str(safe);
		printf(",\"checks\":[");
	} else {
		printf("KEK: %s\n", safe);
	}
	for (i = 0; i < CMK_KEK_CHECKS; i++) {
		const struct cmk_kek_check *k = &checks[i];

		if (k->result == CMK_KEK_FAIL)
			failed = true;
		if (json) {
			printf("%s{\"name\":\"%s\",\"result\":\"%s\",\"message\":",
			       i ? "," : "", k->name, kek_result_name(k->result));
			json_str(k->msg);
			if (k->result == CMK_KEK_FAIL)
				printf(",\"class\":\"%s\"",
				       cmk_vault_class_name(k->cls));
			putchar('}');
		} else {
			printf("  %-4s  %-12s %s\n", kek_result_name(k->result),
			       k->name, k->msg);
		}
	}
	if (json)
		printf("],\"result\":\"%s\"}\n", failed ? "fail" : "pass");
	else
		printf("result: %s\n", failed ? "FAIL" : "pass");
	ret = failed ? EXIT_VAULT : EXIT_OK;
out:
	cmk_vault_close(v);
	return ret;
}

/* ---- header-backup / header-restore ---- */

static int cmd_header_backup(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("header-backup");
	struct cmk_hdr_read_info info;
	struct cmk_hdr *h = NULL;
	const char *why;
	int fd, opt, ret;

	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		return help_or_bad(c, opt, argv);
	}
	ret = parse_end(c, argc, argv, 2, 2);
	if (ret)
		return ret;
	ret = open_dev(argv[optind], O_RDONLY, &fd);
	if (ret)
		return ret;
	/* Check (and warn) first, so that the messages are the usual ones. */
	ret = read_header(argv[optind], fd, &h, &info, false);
	cmk_hdr_free(h);
	if (ret)
		goto out;
	ret = cmk_hdr_backup(fd, argv[optind + 1], &why);
	if (ret) {
		error("backing up the header of %s to %s: %s: %s", argv[optind],
		      argv[optind + 1], why ? why : "failed", strerror(-ret));
		ret = EXIT_FAIL;
	}
out:
	close(fd);
	return ret;
}

static int cmd_header_restore(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("header-restore");
	const char *why, *state_dir = NULL;
	struct cmk_volume_error err = { 0 };
	struct cmk_hdr *h = NULL;
	bool force = false;
	int fd, opt, ret;

	while ((opt = getopt_long(argc, argv, ":hf", longopts, NULL)) != -1) {
		if (opt == 'f') {
			force = true;
			continue;
		}
		if (opt == OPT_STATE_DIR) {
			state_dir = optarg;
			continue;
		}
		return help_or_bad(c, opt, argv);
	}
	ret = parse_end(c, argc, argv, 2, 2);
	if (ret)
		return ret;
	ret = open_dev(argv[optind], O_RDWR, &fd);
	if (ret)
		return ret;
	ret = cmk_hdr_restore(fd, argv[optind + 1], force, &why);
	if (ret) {
		error("restoring the header of %s from %s: %s%s", argv[optind],
		      argv[optind + 1], why ? why : strerror(-ret),
		      ret == -ESTALE || ret == -ENOENT || ret == -ENOSPC ?
		      " (use --force to write it anyway)" : "");
		if (ret == -ESTALE || ret == -ENOENT || ret == -ENOSPC ||
		    ret == -ENOMSG || ret == -EBADMSG || ret == -ENODATA ||
		    ret == -EUCLEAN || ret == -EPROTONOSUPPORT ||
		    ret == -EOPNOTSUPP || ret == -E2BIG)
			ret = EXIT_HEADER;
		else
			ret = EXIT_FAIL;
	} else if (cmk_hdr_read(fd, &h, NULL) ||
		   cmk_pin_record(state_dir, h, NULL, &err)) {
		/*
		 * Restored on purpose: this host accepts its (older) sequence
		 * number.  Without the record the next open calls it a
		 * rollback.
		 */
		error("%s: header restored, but this host's record of it was not updated: %s; open it once with --allow-rollback",
		      argv[optind], err.msg[0] ? err.msg : "cannot read it back");
		ret = EXIT_FAIL;
	}
	cmk_hdr_free(h);
	close(fd);
	return ret;
}

/* ---- unlock-check ---- */

static int cmd_unlock_check(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "kek", required_argument, NULL, 'k' },
		PIN_OPTIONS,
		TRUST_OPTIONS,
		{ "audit-log", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("unlock-check");
	struct cmk_pin_result pr;
	const char *hdr_path = NULL, *kek = NULL;
	struct cmk_hdr_read_info info;
	struct cmk_volume_keys keys = { 0 };
	struct vault_args va = { 0 };
	struct cmk_hdr *h = NULL;
	char uuid[CMK_UUID_STR_LEN];
	bool json = false;
	struct timespec t0, t1;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hk:j", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			hdr_path = optarg;
			break;
		case 'k':
			kek = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			if (take_vault_option(opt, &va))
				break;
			return help_or_bad(c, opt, argv);
		}
	}
	ret = parse_end(c, argc, argv, 1, 1);
	if (ret)
		return ret;
	ret = load_header(argv[optind], hdr_path, &h, &info);
	if (ret)
		return ret;
	cmk_uuid_format(h->uuid, uuid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = unlock_volume(argv[optind], h, kek, &va, false, &keys, &pr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cmk_volume_keys_wipe(&keys);
	if (ret)
		goto out;
	if (json)
		printf("{\"uuid\":\"%s\",\"extents\":%u,\"used_copy\":\"%c\","
		       "\"degraded\":%s,\"vault_calls\":1,\"ms\":%.3f,"
		       "\"vk_fingerprint\":\"%s\",\"pinned\":%s,\"seqno\":%" PRIu64
		       ",\"result\":\"ok\"}\n",
		       uuid, h->extent_count, info.used ? 'B' : 'A',
		       info.degraded ? "true" : "false",
		       (t1.tv_sec - t0.tv_sec) * 1e3 +
		       (t1.tv_nsec - t0.tv_nsec) / 1e6, keys.fingerprint,
		       pr.pinned ? "true" : "false", h->seqno);
	else
		printf("%s: volume key and %u DEKs unwrapped and authenticated (header copy %c); volume key fingerprint %s%s\n",
		       uuid, h->extent_count, info.used ? 'B' : 'A',
		       keys.fingerprint, pr.pinned ? ", pinned" : "");
	ret = EXIT_OK;
out:
	cmk_hdr_free(h);
	return ret;
}

/* ---- device-mapper: open, close, status, recovery-table ---- */

/*
 * The data device of a table: its major:minor, so that the table does not
 * depend on a path; a block device is required.
 */
static int data_dev(const char *path, char *buf, size_t size)
{
	struct stat st;

	if (stat(path, &st)) {
		error("opening %s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	if (!S_ISBLK(st.st_mode)) {
		error("mapping %s: not a block device (attach a file with losetup first)",
		      path);
		return EXIT_FAIL;
	}
	snprintf(buf, size, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return EXIT_OK;
}

/* A dm name: not empty, shorter than 128 bytes, no '/', printable. */
static bool dm_name_ok(const char *name)
{
	const char *p;

	if (!name[0] || strlen(name) >= CMK_DM_NAME_MAX || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (p = name; *p; p++)
		if (*p == '/' || (unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static int cmd_open(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "kek", required_argument, NULL, 'k' },
		PIN_OPTIONS,
		TRUST_OPTIONS,
		{ "read-only", no_argument, NULL, 'r' },
		{ "allow-discards", no_argument, NULL, 'D' },
		{ "lease", required_argument, NULL, 'L' },
		{ "audit-log", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("open");
	const char *hdr_path = NULL, *kek = NULL, *dev, *name;
	struct cmk_hdr_read_info info;
	struct cmk_volume_keys keys = { 0 };
	struct cmk_volume_error err;
	struct vault_args va = { 0 };
	struct cmk_hdr *h = NULL;
	char uuid[CMK_UUID_STR_LEN], dm_uuid[CMK_VOLUME_DM_UUID_LEN];
	char devno[32], other[CMK_DM_NAME_MAX];
	struct cmk_activate_opts ao = { 0 };
	bool json = false, ro = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hk:rj", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			hdr_path = optarg;
			break;
		case 'k':
			kek = optarg;
			break;
		case 'r':
			ro = true;
			break;
		case 'D':
			ao.allow_discards = true;
			break;
		case 'L':
			if (!*optarg || strlen(optarg) > CMK_KEY_PREFIX_MAX ||
			    strpbrk(optarg, " \t\n"))
				return usage_error(c->name, "open: --lease '%s': a key description of 1 to %d characters, no spaces",
						   optarg, CMK_KEY_PREFIX_MAX);
			ao.lease = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			if (take_vault_option(opt, &va))
				break;
			return help_or_bad(c, opt, argv);
		}
	}
	ret = parse_end(c, argc, argv, 2, 2);
	if (ret)
		return ret;
	dev = argv[optind];
	name = argv[optind + 1];
	if (!dm_name_ok(name))
		return usage_error(c->name, "open: '%s': not a valid mapping name",
				   name);
	ret = data_dev(dev, devno, sizeof(devno));
	if (ret)
		return ret;
	/* Refuse early, before any vault call. */
	ret = cmk_dm_exists(name, NULL);
	if (ret < 0) {
		error("opening %s: device-mapper is not available: %s", dev,
		      strerror(-ret));
		return EXIT_FAIL;
	}
	if (ret) {
		error("opening %s as %s: a device-mapper device %s already exists",
		      dev, name, name);
		return EXIT_FAIL;
	}
	ret = load_header(dev, hdr_path, &h, &info);
	if (ret)
		goto out;
	cmk_uuid_format(h->uuid, uuid);
	cmk_volume_dm_uuid(h, dm_uuid);
	ret = cmk_volume_find_dm_uuid(dm_uuid, other, sizeof(other));
	if (ret) {
		if (ret > 0)
			error("opening %s as %s: volume %s is already open as %s",
			      dev, name, uuid, other);
		else
			error("opening %s: looking for dm uuid %s: %s", dev,
			      dm_uuid, strerror(-ret));
		ret = EXIT_FAIL;
		goto out;
	}
	ret = unlock_volume(dev, h, kek, &va, true, &keys, NULL);
	if (ret)
		goto out;
	ao.read_only = ro;
	ret = cmk_volume_activate_opts(h, &keys, devno, name, &ao, &err);
	cmk_volume_keys_wipe(&keys);
	if (ret) {
		error("opening %s as %s: %s", dev, name, err.msg);
		ret = err.kind == CMK_VOLUME_FAIL_HEADER ? EXIT_HEADER : EXIT_FAIL;
		goto out;
	}
	if (json)
		printf("{\"name\":\"%s\",\"device\":\"%s\",\"uuid\":\"%s\","
		       "\"dm_uuid\":\"%s\",\"extents\":%u,\"sectors\":%" PRIu64
		       ",\"read_only\":%s,\"used_copy\":\"%c\",\"degraded\":%s,"
		       "\"vault_calls\":1}\n", name, devno, uuid, dm_uuid,
		       h->extent_count, h->data_sectors, ro ? "true" : "false",
		       info.used ? 'B' : 'A', info.degraded ? "true" : "false");
	else
		printf("%s: opened as %s (%u extents, %" PRIu64 " MiB%s)\n",
		       uuid, name, h->extent_count, h->data_sectors >> 11,
		       ro ? ", read-only" : "");
	ret = EXIT_OK;
out:
	cmk_volume_keys_wipe(&keys);
	cmk_hdr_free(h);
	return ret;
}

/* A cmk mapping's status; errors printed, exit code returned. */
int mapping_status(const char *cmd, const char *name,
			  struct cmk_status *st)
{
	int ret = cmk_dm_status(name, st);

	if (!ret)
		return EXIT_OK;
	if (ret == -ENXIO)
		error("%s %s: no such mapping", cmd, name);
	else if (ret == CMK_DM_UNAVAILABLE)
		error("%s %s: device-mapper is not available (dm_mod not loaded?)",
		      cmd, name);
	else if (ret == -EMEDIUMTYPE)
		error("%s %s: not a cmk mapping", cmd, name);
	else
		error("%s %s: reading its status: %s", cmd, name,
		      strerror(-ret));
	return EXIT_FAIL;
}

static int cmd_close(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "deferred", no_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("close");
	const char *sock = CMKD_SOCKET_DEFAULT;
	struct cmk_status st;
	const char *name;
	int32_t open_count = 0;
	bool deferred = false, handled;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hds:", longopts, NULL)) != -1) {
		if (opt == 'd') {
			deferred = true;
			continue;
		}
		if (opt == 's') {
			sock = optarg;
			continue;
		}
		return help_or_bad(c, opt, argv);
	}
	ret = parse_end(c, argc, argv, 1, 1);
	if (ret)
		return ret;
	name = argv[optind];
	/* A volume cmkd manages is closed by cmkd, so that it stays closed. */
	ret = cmkd_close_volume(sock, name, deferred, &handled);
	if (handled)
		return ret;
	ret = mapping_status("closing", name, &st);
	if (ret)
		return ret;
	ret = cmk_dm_exists(name, &open_count);
	if (ret <= 0) {
		error("closing %s: %s", name, ret ? strerror(-ret) :
		      "no such mapping");
		return EXIT_FAIL;
	}
	if (open_count && !deferred) {
		error("closing %s: in use (mounted or held open by %d); unmount it first or use --deferred",
		      name, open_count);
		return EXIT_FAIL;
	}
	/* The keys leave the kernel now, even if removal waits. */
	ret = cmk_dm_message(name, "key wipe");
	if (ret) {
		error("closing %s: the target refused \"key wipe\": %s", name,
		      strerror(-ret));
		return EXIT_FAIL;
	}
	ret = cmk_dm_remove(name, deferred && open_count);
	if (ret) {
		error("closing %s: keys wiped, but removing the mapping failed: %s",
		      name, ret == -EBUSY || ret == -EIO ?
		      "in use (mounted or held open)" : strerror(-ret));
		return EXIT_FAIL;
	}
	if (deferred && open_count)
		printf("%s: keys wiped; removal deferred until it is closed\n",
		       name);
	return EXIT_OK;
}

static void status_lease_json(int64_t lease)
{
	if (lease == CMK_LEASE_NONE)
		printf("null");
	else if (lease == CMK_LEASE_INFINITE)
		printf("\"inf\"");
	else
		printf("%" PRId64, lease);
}

static const char *status_lease_text(int64_t lease, char *buf, size_t size)
{
	if (lease == CMK_LEASE_NONE)
		return "-";
	if (lease == CMK_LEASE_INFINITE)
		return "inf";
	snprintf(buf, size, "%" PRId64, lease);
	return buf;
}

static void status_json(const struct cmk_mapping *m,
			const struct cmk_status *st)
{
	printf("{\"name\":");
	json_str(m->name);
	printf(",\"dm_uuid\":");
	json_str(m->dm_uuid);
	printf(",\"uuid\":");
	if (!strncmp(m->dm_uuid, "CMK-", 4))
		json_str(m->dm_uuid + 4);
	else
		printf("null");
	printf(",\"state\":\"%s\",\"extents\":%u,\"keyed\":%u,\"lease\":",
	       st->available ? CMK_STATE_AVAILABLE : CMK_STATE_INACCESSIBLE,
	       st->extents, st->keyed);
	status_lease_json(st->lease_left);
	printf(",\"io_errors\":%" PRIu64 ",\"reason\":", st->io_errors);
	if (st->available)
		printf("null");
	else
		json_str(st->reason);
	printf(",\"open_count\":%d,\"read_only\":%s", m->open_count,
	       m->read_only ? "true" : "false");
}

static int cmd_status(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("status");
	const char *sock = CMKD_SOCKET_DEFAULT, *dvol;
	struct cmk_mapping *list = NULL, one;
	struct cmk_status st;
	struct cmk_table *t = NULL;
	uint64_t len = 0;
	size_t n = 0, i, shown = 0;
	bool json = false;
	char lease[24], *doc = NULL;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hjs:", longopts, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
			continue;
		}
		if (opt == 's') {
			sock = optarg;
			continue;
		}
		return help_or_bad(c, opt, argv);
	}
	ret = parse_end(c, argc, argv, 0, 1);
	if (ret)
		return ret;

	if (optind < argc) {
		const char *name = argv[optind];

		dvol = cmkd_status_volume(sock, name, &doc);
		ret = dvol ? cmk_dm_status(name, &st) : 0;
		if (ret == -ENXIO || ret == CMK_DM_UNAVAILABLE) {
			/* Managed by cmkd, not mapped now (inaccessible). */
			if (json) {
				const char *end = cmk_json_skip(dvol);

				printf("{\"name\":");
				json_str(name);
				printf(",\"mapping\":null,\"cmkd\":%.*s}\n",
				       end ? (int)(end - dvol) : 4,
				       end ? dvol : "null");
			} else {
				printf("name:\t\t%s\nmapping:\tnone\n", name);
				cmkd_volume_text(dvol);
			}
			free(doc);
			return EXIT_OK;
		}
		ret = mapping_status("status", name, &st);
		if (ret) {
			free(doc);
			return ret;
		}
		ret = cmk_volume_mappings(&list, &n);
		if (ret) {
			error("status %s: listing device-mapper devices: %s",
			      name, strerror(-ret));
			free(doc);
			return EXIT_FAIL;
		}
		memset(&one, 0, sizeof(one));
		for (i = 0; i < n; i++)
			if (!strcmp(list[i].name, name))
				one = list[i];
		free(list);
		snprintf(one.name, sizeof(one.name), "%s", name);
		t = calloc(1, sizeof(*t));
		if (!t) {
			error("status %s: out of memory", name);
			return EXIT_FAIL;
		}
		ret = cmk_dm_table(name, t, &len);
		if (ret) {
			error("status %s: reading its table: %s", name,
			      strerror(-ret));
			free(t);
			return EXIT_FAIL;
		}
		if (json) {
			status_json(&one, &st);
			printf(",\"table\":{\"device\":");
			json_str(t->dev);
			printf(",\"sectors\":%" PRIu64 ",\"offset\":%" PRIu64
			       ",\"extent_sectors\":%u,\"data_unit\":%u,\"key_prefix\":",
			       len, t->offset, t->extent_sectors, t->sector_size);
			json_str(t->key_prefix);
			printf(",\"allow_discards\":%s,\"lease_key\":",
			       t->allow_discards ? "true" : "false");
			if (t->lease[0])
				json_str(t->lease);
			else
				printf("null");
			if (dvol) {
				const char *end = cmk_json_skip(dvol);

				printf("},\"cmkd\":%.*s}\n",
				       end ? (int)(end - dvol) : 4,
				       end ? dvol : "null");
			} else {
				printf("},\"cmkd\":null}\n");
			}
		} else {
			printf("name:\t\t%s\n", name);
			printf("dm uuid:\t%s\n", one.dm_uuid[0] ? one.dm_uuid : "-");
			printf("state:\t\t%s%s%s\n", st.available ?
			       CMK_STATE_AVAILABLE : CMK_STATE_INACCESSIBLE,
			       st.available ? "" : ", ",
			       st.available ? "" : st.reason);
			printf("extents:\t%u, %u keyed\n", st.extents, st.keyed);
			printf("lease:\t\t%s\n", status_lease_text(st.lease_left,
				lease, sizeof(lease)));
			printf("I/O errors:\t%" PRIu64 "\n", st.io_errors);
			printf("open count:\t%d%s\n", one.open_count,
			       one.read_only ? " (read-only)" : "");
			printf("device:\t\t%s\n", t->dev);
			printf("length:\t\t%" PRIu64 " sectors (%" PRIu64 " MiB)\n",
			       len, len >> 11);
			printf("data offset:\t%" PRIu64 " sectors\n", t->offset);
			printf("extent size:\t%u sectors\n", t->extent_sectors);
			printf("data unit:\t%u bytes\n", t->sector_size);
			printf("key prefix:\t%s\n", t->key_prefix);
			printf("discards:\t%s\n", t->allow_discards ? "passed down" : "no");
			printf("lease key:\t%s\n", t->lease[0] ? t->lease : "-");
			if (dvol)
				cmkd_volume_text(dvol);
		}
		free(t);
		free(doc);
		return EXIT_OK;
	}

	ret = cmk_volume_mappings(&list, &n);
	if (ret == -ENODEV) {
		/* cmkd's volumes are still worth showing. */
		warning("status: device-mapper is not available: no mappings");
		list = NULL;
		n = 0;
	} else if (ret) {
		error("status: listing device-mapper devices: %s",
		      strerror(-ret));
		return EXIT_FAIL;
	}
	if (json)
		printf("{\"mappings\":[");
	else if (n)
		printf("%-20s %-12s %7s %5s %5s %9s %-17s %s\n", "NAME", "STATE",
		       "EXTENTS", "KEYED", "LEASE", "IO_ERRORS", "REASON",
		       "DM_UUID");
	for (i = 0; i < n; i++) {
		/* A mapping removed meanwhile is skipped. */
		if (cmk_dm_status(list[i].name, &st))
			continue;
		if (json) {
			printf("%s", shown++ ? "," : "");
			status_json(&list[i], &st);
			putchar('}');
		} else {
			printf("%-20s %-12s %7u %5u %5s %9" PRIu64 " %-17s %s\n",
			       list[i].name, st.available ? CMK_STATE_AVAILABLE :
			       CMK_STATE_INACCESSIBLE, st.extents, st.keyed,
			       status_lease_text(st.lease_left, lease,
						 sizeof(lease)),
			       st.io_errors, st.available ? "-" : st.reason,
			       list[i].dm_uuid[0] ? list[i].dm_uuid : "-");
		}
	}
	if (json)
		printf("]");
	cmkd_status_list(sock, json);
	host_keks_status(json);
	if (json)
		printf("}\n");
	free(list);
	return EXIT_OK;
}

static int cmd_recovery_table(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "load-keys", no_argument, NULL, 'L' },
		{ "kek", required_argument, NULL, 'k' },
		PIN_OPTIONS,
		TRUST_OPTIONS,
		{ "keyring", required_argument, NULL, 'K' },
		{ "audit-log", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("recovery-table");
	const char *hdr_path = NULL, *kek = NULL, *dev, *ring_name = NULL;
	struct cmk_hdr_read_info info;
	struct cmk_volume_keys keys = { 0 };
	struct vault_args va = { 0 };
	struct cmk_hdr *h = NULL;
	char prefix[CMK_VOLUME_PREFIX_LEN], devno[32];
	int32_t ring = KEY_SPEC_SESSION_KEYRING;
	bool load = false;
	uint64_t first, len;
	uint32_t i;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hk:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			hdr_path = optarg;
			break;
		case 'L':
			load = true;
			break;
		case 'k':
			kek = optarg;
			break;
		case 'K':
			ring_name = optarg;
			if (!strcmp(optarg, "session"))
				ring = KEY_SPEC_SESSION_KEYRING;
			else if (!strcmp(optarg, "user"))
				ring = KEY_SPEC_USER_KEYRING;
			else
				return usage_error(c->name,
						   "recovery-table: --keyring %s: must be session or user",
						   optarg);
			break;
		default:
			if (take_vault_option(opt, &va))
				break;
			return help_or_bad(c, opt, argv);
		}
	}
	ret = parse_end(c, argc, argv, 1, 1);
	if (ret)
		return ret;
	if (!load && (kek || va.pin_file || va.pin_keyring || va.pin_prompt ||
		      va.audit_log || ring_name))
		return usage_error(c->name,
				   "recovery-table: --kek, --pin-file, --keyring and --audit-log need --load-keys");
	dev = argv[optind];
	ret = data_dev(dev, devno, sizeof(devno));
	if (ret)
		return ret;
	ret = load_header(dev, hdr_path, &h, &info);
	if (ret)
		goto out;
	cmk_volume_key_prefix(h, prefix);
	if (load) {
		ret = unlock_volume(dev, h, kek, &va, false, &keys, NULL);
		if (ret)
			goto out;
		ret = cmk_keyring_add_deks(prefix, keys.deks, keys.count, ring);
		cmk_volume_keys_wipe(&keys);
		if (ret) {
			error("recovery-table %s: adding the DEKs to the %s keyring: %s",
			      dev, ring_name ? ring_name : "session",
			      strerror(-ret));
			ret = EXIT_FAIL;
			goto out;
		}
		fprintf(stderr, "%s: %u logon keys %s0..%u added to the %s keyring; invalidate them once the table is loaded\n",
			dev, h->extent_count, prefix, h->extent_count - 1,
			ring_name ? ring_name : "session");
	}
	/*
	 * One dm-crypt target per extent: extent i's key, iv_offset = its
	 * first sector (the XTS tweak counts from the start of the volume),
	 * the same sectors of the device.
	 */
	for (i = 0; i < h->extent_count; i++) {
		first = (uint64_t)i * h->extent_sectors;
		len = h->data_sectors - first;
		if (len > h->extent_sectors)
			len = h->extent_sectors;
		printf("%" PRIu64 " %" PRIu64 " crypt aes-xts-plain64 :%d:logon:%s%u %"
		       PRIu64 " %s %" PRIu64, first, len, CMK_DEK_SIZE, prefix, i,
		       first, devno, h->data_offset + first);
		if (h->data_unit != 512)
			printf(" 1 sector_size:%u", h->data_unit);
		putchar('\n');
	}
	ret = EXIT_OK;
out:
	cmk_volume_keys_wipe(&keys);
	cmk_hdr_free(h);
	return ret;
}

/* ---- the table ---- */

static int cmd_help(int argc, char *argv[]);

static const struct command commands[] = {
	{ "format", cmd_format, "DEVICE --kek URI [OPTIONS]",
	  "Create a new dm-cmk volume: a random volume key wrapped by the KEK\n"
	  "(one vault call), a fresh DEK per extent, both header copies written.\n"
	  "Refuses a device holding a header, filesystem or partition table.",
	  "  -k, --kek URI           KEK (pkcs11: URI); required\n"
	  PIN_HELP
	  "      --state-dir DIR     pin the volume here (default\n"
	  "                          " CMK_STATE_DIR ")\n"
	  "  -e, --extent-size SIZE  extent size (bytes, K/M/G suffix; default 64M)\n"
	  "  -u, --data-unit N       512 or 4096 (default 4096)\n"
	  "  -l, --label LABEL       volume label\n"
	  "      --header FILE       detached header: write it to FILE\n"
	  "  -f, --force             overwrite an existing signature\n"
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "      --progress          show progress even when stderr is no tty\n"
	  "  -j, --json              print the result as JSON\n" },
	{ "dump", cmd_dump, "DEVICE [--header FILE] [--json]",
	  "Show the header without secrets, which copy was used and whether\n"
	  "the other one is damaged.",
	  "      --header FILE       detached header file\n"
	  "  -j, --json              print JSON\n" },
	{ "validate-kek", cmd_validate_kek, "URI [--pin-file FILE] [--json]",
	  "Check a key against the KEK requirements, each with pass/warn/fail.",
	  PIN_HELP
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "  -j, --json              print JSON\n" },
	{ "header-backup", cmd_header_backup, "DEVICE FILE",
	  "Save the device's header to a new file (mode 0600).", NULL },
	{ "header-restore", cmd_header_restore, "DEVICE FILE [--force]",
	  "Write a backed-up header to the device; refuses another volume\n"
	  "or geometry unless forced.  This host then accepts its sequence\n"
	  "number, however old (no rollback is reported at the next open).",
	  "  -f, --force             write even if the header does not match\n"
	  "      --state-dir DIR     this host's volume records (default\n"
	  "                          " CMK_STATE_DIR ")\n" },
	{ "kek-rotate", cmd_kek_rotate, "DEVICE|NAME [--to URI] [OPTIONS]",
	  "Wrap the volume key under a new KEK: the newest version of the\n"
	  "current key, or --to another key, in this vault or another.  The\n"
	  "new key is checked (as validate-kek), the wrap staged in the\n"
	  "header and synced, unwrapped again through the new KEK, and only\n"
	  "then made current.  The volume may be open and mounted; when cmkd\n"
	  "has it open (or NAME is its cmktab name), cmkd rotates it and moves\n"
	  "its KEK checks to the new KEK.  A staged rotation left by a crash\n"
	  "is resumed by running it again.",
	  "      --header FILE       detached header file\n"
	  "  -k, --kek URI           the current KEK (default: the header's)\n"
	  "  -t, --to URI            the new KEK (default: the current key's\n"
	  "                          newest enabled version)\n"
	  "      --to-version V      this version of the new key\n"
	  "      --to-module MODULE  PKCS#11 module of the new KEK's vault\n"
	  "      --to-pin-file FILE  PIN of the new KEK's vault\n"
	  "      --abort             drop a staged rotation\n"
	  "      --socket PATH       cmkd's control socket\n"
	  "      --no-daemon         rotate here even if cmkd has the volume open\n"
	  "                          (cmkd then keeps checking the old KEK)\n"
	  PIN_HELP
	  TRUST_HELP
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "  -j, --json              print JSON\n" },
	{ "vk-rotate", cmd_vk_rotate, "DEVICE [OPTIONS]",
	  "Give the volume a new volume key: every DEK re-wrapped locally\n"
	  "(no data touched), the new key wrapped by the current KEK version\n"
	  "and unwrapped again to prove it, then one atomic header write.\n"
	  "The volume key fingerprint changes: this host's pin follows.",
	  "      --header FILE       detached header file\n"
	  "  -k, --kek URI           the KEK (default: the header's)\n"
	  "  -P, --progress          show progress\n"
	  PIN_HELP
	  TRUST_HELP
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "  -j, --json              print JSON\n" },
	{ "rebind", cmd_rebind, "DEVICE [--to URI] [OPTIONS]",
	  "Make a copy of a volume (a cloned disk, or a restored image and\n"
	  "header backup) a volume of its own: a new UUID and volume key,\n"
	  "every DEK re-wrapped for them (no data touched), optionally under\n"
	  "another KEK.  The original volume is not affected.",
	  "      --header FILE       detached header file\n"
	  "  -k, --kek URI           the copy's current KEK (default: the header's)\n"
	  "  -t, --to URI            wrap the new volume key under this KEK\n"
	  "      --to-version V      this version of it\n"
	  "      --to-module MODULE  PKCS#11 module of its vault\n"
	  "      --to-pin-file FILE  PIN of its vault\n"
	  "  -P, --progress          show progress\n"
	  PIN_HELP
	  TRUST_HELP
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "  -j, --json              print JSON\n" },
	{ "kek-retire-check", cmd_kek_retire_check,
	  "URI|sha256:HASH [--version V] [--json]",
	  "Say whether a KEK version may be disabled: lists the volumes this\n"
	  "host knows (its records, written at every open and rotation) whose\n"
	  "volume key it still wraps, or stages.  Exit 0: safe; 5: in use.",
	  "      --version V         this version only (PKCS#11: id= in the URI)\n"
	  "      --state-dir DIR     this host's volume records (default\n"
	  "                          " CMK_STATE_DIR ")\n"
	  "  -j, --json              print JSON\n" },
	{ "unlock-check", cmd_unlock_check, "DEVICE [OPTIONS]",
	  "Unwrap the volume key (one vault call) and every DEK in locked\n"
	  "memory to prove the header intact and the KEK right; wipe them.",
	  "      --header FILE       detached header file\n"
	  "  -k, --kek URI           use this KEK URI instead of the header's\n"
	  PIN_HELP
	  TRUST_HELP
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "  -j, --json              print JSON\n" },
	{ "open", cmd_open, "DEVICE NAME [OPTIONS]",
	  "Unlock a volume (one vault call) and create its cmk mapping NAME\n"
	  "(/dev/mapper/NAME, dm uuid CMK-<uuid>).  The DEKs pass through the\n"
	  "kernel keyring of cmkctl's own thread and are dropped from it at once.",
	  "      --header FILE       detached header file\n"
	  "  -k, --kek URI           use this KEK URI instead of the header's\n"
	  PIN_HELP
	  TRUST_HELP
	  "  -r, --read-only         create a read-only mapping\n"
	  "      --allow-discards    pass discards down to the device\n"
	  "      --lease DESC        name the lease key DESC (a user key you keep\n"
	  "                          alive; see dm-cmk.rst) in the table\n"
	  "      --audit-log FILE    append vault audit records to FILE\n"
	  "  -j, --json              print the result as JSON\n" },
	{ "close", cmd_close, "NAME [--deferred]",
	  "Wipe the keys of cmk mapping NAME in the kernel, then remove it.\n"
	  "Refuses a mapping in use unless --deferred.",
	  "      --deferred          if in use, wipe the keys now (I/O fails from\n"
	  "                          then on) and remove it once the last user\n"
	  "                          closes it\n"
	  "      --socket PATH       cmkd's control socket: a volume cmkd manages\n"
	  "                          is closed through cmkd (default\n"
	  "                          " CMKD_SOCKET_DEFAULT ")\n" },
	{ "status", cmd_status, "[NAME] [--json]",
	  "Show every cmk mapping (state, extents, keyed, lease, I/O errors,\n"
	  "reason, dm uuid), or one with its table (key prefix, no key bytes).\n"
	  "When cmkd runs, also its volumes: state and reason, last good KEK\n"
	  "check, lease expiry, recent events and audit records.",
	  "  -j, --json              print JSON\n"
	  "      --socket PATH       cmkd's control socket (default " CMKD_SOCKET_DEFAULT ")\n" },
	{ "revalidate", cmd_revalidate, "NAME [--json]",
	  "Ask cmkd to unwrap volume NAME again (one vault call) and bring it\n"
	  "back to Available after it went Inaccessible or was closed; waits\n"
	  "for the result.",
	  "      --timeout SECS      wait at most SECS (default 300)\n"
	  "      --socket PATH       cmkd's control socket (default " CMKD_SOCKET_DEFAULT ")\n"
	  "  -j, --json              print cmkd's answer as JSON\n" },
	{ "recovery-table", cmd_recovery_table, "DEVICE [OPTIONS]",
	  "Print a stock dm-crypt table stack reading the volume without dm-cmk\n"
	  "(one aes-xts-plain64 target per extent), for 'dmsetup create NAME\n"
	  "--readonly'.  With --load-keys, first unwrap the DEKs (one vault\n"
	  "call) and add them as logon keys to a keyring the table can use.",
	  "      --header FILE       detached header file\n"
	  "      --load-keys         unwrap the DEKs and add them to the keyring\n"
	  "  -k, --kek URI           use this KEK URI instead of the header's\n"
	  PIN_HELP
	  TRUST_HELP
	  "      --keyring RING      session (default) or user\n"
	  "      --audit-log FILE    append vault audit records to FILE\n" },
	{ "help", cmd_help, "[COMMAND]", "Show help.", NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: %s COMMAND [ARGS...]\n\nCommands:\n", progname);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].args);
	fprintf(f, "\nRun '%s COMMAND --help' for details; see cmkctl(8).\n"
		"Exit codes: 0 ok, 1 usage, 2 failure, 3 vault or KEK, 4 header,\n"
		"5 refused (use --force).\n", progname);
}

static int cmd_help(int argc, char *argv[])
{
	const struct command *c;

	if (argc < 2) {
		usage(stdout);
		return EXIT_OK;
	}
	c = find_command(argv[1]);
	if (!c)
		return usage_error("help", "help: unknown command '%s'", argv[1]);
	command_usage(stdout, c);
	return EXIT_OK;
}

int main(int argc, char *argv[])
{
	const struct command *c;

	/* PINs, volume keys and DEKs pass through: no core dump, no ptrace
	 * by the same user.
	 */
	prctl(PR_SET_DUMPABLE, 0);
	if (argc < 2) {
		error("no command given");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	c = find_command(argv[1]);
	if (!c) {
		error("unknown command '%s'", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	umask(077);
	opterr = 0;
	return c->func(argc - 1, argv + 1);
}
