// SPDX-License-Identifier: GPL-2.0
/*
 * cmkctl: the key lifecycle commands.  kek-rotate (stage, verify, switch),
 * vk-rotate, rebind, and kek-retire-check, which answers from this host's
 * records whether a KEK version still wraps any volume.  The work is in
 * libcmk (cmk-rotate.c); the states a crash leaves are described in
 * Documentation/admin-guide/device-mapper/cmk-rotation.rst.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmkctl.h"

#define OPT_TO_VERSION	0x200
#define OPT_TO_MODULE	0x201
#define OPT_TO_PIN_FILE	0x202
#define OPT_ABORT	0x203
#define OPT_VERSION	0x204
#define OPT_SOCKET	0x205
#define OPT_NO_DAEMON	0x206

/* A device or header file opened to change its header, and locked. */
struct rotate_dev {
	const char *dev;
	const char *src;
	int fd;
	struct cmk_hdr *h;
	char uuid[CMK_UUID_STR_LEN];
	bool degraded;
};

/*
 * Open the header's device or file read-write, shared (the volume may be
 * mapped and mounted: only the header area is written), lock it, and read
 * the header.
 */
static int rotate_open(struct rotate_dev *r, const char *dev,
		       const char *hdr_path)
{
	struct cmk_hdr_read_info info;
	struct cmk_volume_error err = { 0 };
	struct stat st;
	int ret;

	r->dev = dev;
	r->src = hdr_path ? hdr_path : dev;
	r->h = NULL;
	r->fd = cmk_file_open(r->src, O_RDWR | O_CLOEXEC,
			      CMK_FILE_REG | CMK_FILE_BLK, &st);
	if (r->fd < 0) {
		error("opening %s: %s", r->src, r->fd == -ENOTBLK ||
		      r->fd == -EISDIR ? "not a block device or regular file" :
		      strerror(-r->fd));
		return r->fd == -ENOTBLK || r->fd == -EISDIR ? EXIT_USAGE :
		       EXIT_FAIL;
	}
	if (cmk_volume_lock(r->fd, &err)) {
		error("%s: %s", r->src, err.msg);
		close(r->fd);
		r->fd = -1;
		return EXIT_FAIL;
	}
	ret = read_header(r->src, r->fd, &r->h, &info, false);
	if (ret) {
		close(r->fd);
		r->fd = -1;
		return ret;
	}
	r->degraded = info.degraded;
	cmk_uuid_format(r->h->uuid, r->uuid);
	if (r->h->incompat & CMK_HDR_INCOMPAT_DEK_ROT) {
		error("%s: the header records an online DEK rotation of extent %u; finish it first",
		      r->src, r->h->dek_rot.extent);
		return EXIT_HEADER;
	}
	return EXIT_OK;
}

static void rotate_close(struct rotate_dev *r)
{
	cmk_hdr_free(r->h);
	r->h = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static void print_error(const char *what, const char *dev,
			const struct cmk_volume_error *err)
{
	if (err->kind == CMK_VOLUME_FAIL_VAULT)
		error("%s %s: %s (%s)", what, dev, err->msg,
		      cmk_vault_class_name(err->vault.cls));
	else
		error("%s %s: %s", what, dev, err->msg);
}

/* What the staged-KEK opener needs (cmk_volume_unlock_vk()). */
struct staged_ctx {
	const struct vault_args *va;
	const char *uuid;
	const char *src;
};

static struct cmk_vault *open_staged(const char *uri, void *arg)
{
	struct staged_ctx *c = arg;
	struct cmk_vault *v = NULL;

	warning("%s: the current KEK did not unwrap the volume key; trying the KEK staged by an unfinished rotation",
		c->src);
	return open_vault(uri, true, c->va, c->uuid, &v) ? NULL : v;
}

/*
 * Unwrap the volume key of @r's header (one vault call, or two when the
 * current KEK of a staged header is gone: cmk_volume_unlock_vk()) and check
 * that it is the volume this host knows.  *@vp: the current KEK's vault,
 * or NULL if it could not be opened.
 */
static int rotate_unlock(struct rotate_dev *r, const char *kek,
			 const struct vault_args *va, uint8_t **vkp,
			 struct cmk_vault **vp)
{
	struct staged_ctx sc = { va, r->uuid, r->src };
	struct cmk_volume_keys keys = { 0 };
	struct cmk_volume_error err = { 0 };
	struct cmk_pin_result pr;
	struct cmk_vault *v = NULL;
	bool staged;
	int ret;

	*vkp = NULL;
	*vp = NULL;
	ret = open_vault(kek ? kek : r->h->kek.uri, !kek, va, r->uuid, &v);
	if (ret && r->h->kek_state != CMK_KEK_ROT_STAGED)
		return ret;
	if (cmk_volume_unlock_vk(r->h, v, open_staged, &sc, vkp,
				 keys.fingerprint, &staged, &err)) {
		if (err.msg[0])
			print_error("unlocking", r->src, &err);
		ret = err.msg[0] ? vault_exit(&err) : EXIT_VAULT;
		goto out;
	}
	ret = trust_volume(r->dev, r->h, &keys, va, false, &pr);
out:
	if (ret) {
		cmk_secure_free(*vkp);
		*vkp = NULL;
		cmk_vault_close(v);
		v = NULL;
	}
	*vp = v;
	return ret;
}

/* This host's record follows the header (sequence number, KEK). */
static int rotate_record(const struct rotate_dev *r, const char *state_dir,
			 const char *fingerprint)
{
	struct cmk_volume_error err = { 0 };

	if (!cmk_pin_record(state_dir, r->h, fingerprint, &err))
		return EXIT_OK;
	error("%s: the header was changed, but this host's record of it was not updated: %s",
	      r->src, err.msg);
	return EXIT_FAIL;
}

static void json_kek(const struct cmk_kek_ref *k)
{
	char pub[CMK_KEK_PUB_HEX_LEN];

	cmk_kek_pub_hex(k, pub);
	printf("{\"vault\":");
	json_str(k->vault_type);
	printf(",\"uri\":");
	json_str(k->uri);
	printf(",\"version\":");
	json_str(k->key_version);
	printf(",\"pub_sha256\":");
	json_str(pub);
	putchar('}');
}

static void text_kek(const char *what, const struct cmk_kek_ref *k)
{
	char pub[CMK_KEK_PUB_HEX_LEN];

	cmk_kek_pub_hex(k, pub);
	printf("%s %s version %s%s%s\n", what, k->uri,
	       k->key_version[0] ? k->key_version : "-",
	       pub[0] ? ", public key sha256:" : "", pub);
}

/*
 * The local settings of the new KEK's vault: --to-module and --to-pin-file,
 * else those the --to URI names itself (module-path=, module-name=,
 * pin-source=), else the current vault's.
 */
static void to_vault_args(const struct vault_args *va, const char *to,
			  const char *to_module, const char *to_pin_file,
			  struct vault_args *va_to)
{
	bool own = to && cmk_vault_uri_has_settings(to);

	*va_to = *va;
	if (to_module || own)
		va_to->module = to_module;
	if (to_pin_file || own) {
		va_to->pin_file = to_pin_file;
		va_to->pin_keyring = NULL;
		va_to->pin_prompt = false;
	}
}

/*
 * The new KEK's vault, and into @key its URI as the header records it.  A
 * --to URI without local settings of its own is in the current KEK's
 * vault: it gets the query of --kek (module-path=, pin-source=), as the
 * PIN options.
 */
static int open_to_vault(const char *to, const char *kek,
			 const struct vault_args *va_to, const char *uuid,
			 struct cmk_vault **vp, char *key, size_t size)
{
	const char *q = kek ? strchr(kek, '?') : NULL;
	char *u = NULL;
	int ret;

	if (cmk_vault_uri_key(to, key, size)) {
		error("--to: the URI is too long for the header");
		return EXIT_USAGE;
	}
	if (q && !strchr(to, '?') && asprintf(&u, "%s%s", to, q) < 0) {
		error("out of memory");
		return EXIT_FAIL;
	}
	ret = open_vault(u ? u : to, false, va_to, uuid, vp);
	free(u);
	return ret;
}

/* ---- kek-rotate ---- */

int cmd_kek_rotate(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "kek", required_argument, NULL, 'k' },
		{ "to", required_argument, NULL, 't' },
		{ "to-version", required_argument, NULL, OPT_TO_VERSION },
		{ "to-module", required_argument, NULL, OPT_TO_MODULE },
		{ "to-pin-file", required_argument, NULL, OPT_TO_PIN_FILE },
		{ "abort", no_argument, NULL, OPT_ABORT },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "no-daemon", no_argument, NULL, OPT_NO_DAEMON },
		PIN_OPTIONS,
		TRUST_OPTIONS,
		{ "audit-log", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("kek-rotate");
	const char *hdr_path = NULL, *kek = NULL, *to = NULL;
	const char *to_version = NULL;
	char uri_key[CMK_HDR_URI_LEN];
	struct vault_args va = { 0 }, va_to;
	const char *to_module = NULL, *to_pin_file = NULL;
	struct cmk_volume_error err = { 0 };
	struct cmk_vault *v = NULL, *v_new = NULL;
	struct rotate_dev r = { .fd = -1 };
	struct cmk_kek_ref old;
	bool json = false, abort_it = false, resumed = false, daemon = true;
	const char *sock = CMKD_SOCKET_DEFAULT;
	char name[CMK_DM_NAME_MAX];
	struct timespec t0, t1;
	uint8_t *vk = NULL;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hk:t:j", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'H':
			hdr_path = optarg;
			break;
		case 'k':
			kek = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case OPT_TO_VERSION:
			to_version = optarg;
			break;
		case OPT_TO_MODULE:
			to_module = optarg;
			break;
		case OPT_TO_PIN_FILE:
			to_pin_file = optarg;
			break;
		case OPT_ABORT:
			abort_it = true;
			break;
		case OPT_SOCKET:
			sock = optarg;
			break;
		case OPT_NO_DAEMON:
			daemon = false;
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
	/* A volume name (no '/', no such file): cmkd has it open. */
	if (!strchr(argv[optind], '/') && access(argv[optind], F_OK)) {
		if (abort_it || hdr_path || to_module || to_pin_file || !daemon)
			return usage_error(c->name, "%s: a volume name goes to cmkd, which takes --to, --to-version and --json only (give the new vault's settings in the --to URI)",
					   c->name);
		return cmkd_kek_rotate_request(sock, argv[optind], to_version,
					       to, json);
	}
	if (abort_it && (to || to_version))
		return usage_error(c->name, "%s: --abort takes no target",
				   c->name);
	if (to && !cmk_vault_backend(to))
		return usage_error(c->name, "%s: --to: not a KEK URI",
				   c->name);
	to_vault_args(&va, to, to_module, to_pin_file, &va_to);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = rotate_open(&r, argv[optind], hdr_path);
	if (ret)
		goto out;
	/*
	 * cmkd has the volume open: it rotates, so that its KEK checks move
	 * to the new KEK with the header (else disabling the old KEK would
	 * take the volume down).
	 */
	if (daemon && !abort_it &&
	    cmkd_volume_of_uuid(sock, r.uuid, name, sizeof(name))) {
		rotate_close(&r);
		if (to_module || to_pin_file) {
			error("%s is open under cmkd as %s: give the new vault's settings in the --to URI (module-path=, pin-source=), not --to-module or --to-pin-file",
			      argv[optind], name);
			return EXIT_USAGE;
		}
		notice("%s is open under cmkd as %s: cmkd rotates it", argv[optind],
		       name);
		return cmkd_kek_rotate_request(sock, name, to_version, to, json);
	}
	ret = rotate_unlock(&r, kek, &va, &vk, &v);
	if (ret)
		goto out;
	old = r.h->kek;

	if (abort_it) {
		if (r.h->kek_state != CMK_KEK_ROT_STAGED) {
			notice("%s: no KEK rotation is staged", r.src);
			ret = EXIT_OK;
			goto out;
		}
		if (cmk_volume_kek_abort(r.fd, r.h, vk, v, &err)) {
			print_error("aborting the KEK rotation of", r.src,
				    &err);
			ret = vault_exit(&err);
			goto out;
		}
		ret = rotate_record(&r, va.state_dir, NULL);
		if (!ret)
			printf("%s: staged KEK rotation dropped; the volume key stays wrapped by %s version %s\n",
			       r.uuid, r.h->kek.uri, r.h->kek.key_version[0] ?
			       r.h->kek.key_version : "-");
		goto out;
	}

	/* The target: --to (another key or vault), else a newer version. */
	if (to) {
		ret = open_to_vault(to, kek, &va_to, r.uuid, &v_new, uri_key,
				    sizeof(uri_key));
		if (ret)
			goto out;
	} else if (!v) {
		error("%s: the current KEK's vault cannot be opened: give --to",
		      r.src);
		ret = EXIT_VAULT;
		goto out;
	}
	ret = cmk_volume_kek_rotate(r.fd, r.h, vk, v_new ? v_new : v,
				    to ? uri_key : NULL, to_version, &resumed,
				    &err);
	if (resumed)
		notice("%s: finished the rotation staged by an earlier run",
		       r.src);
	/*
	 * Already at the target, one copy behind: an earlier run switched
	 * the first copy only.  Writing both finishes it.
	 */
	if ((ret == -ENOENT || ret == -EALREADY) && r.degraded &&
	    r.h->kek_state == CMK_KEK_ROT_IDLE) {
		ret = cmk_volume_repair(r.fd, r.h, vk, &err);
		if (!ret)
			notice("%s: the rotation to version %s had reached one header copy; both copies written",
			       r.src, r.h->kek.key_version[0] ?
			       r.h->kek.key_version : "-");
	}
	if (ret) {
		print_error("rotating the KEK of", r.src, &err);
		if (r.h->kek_state == CMK_KEK_ROT_STAGED &&
		    err.kind == CMK_VOLUME_FAIL_VAULT)
			error("%s: the header is left staged: it opens with the old KEK; run kek-rotate again, or kek-rotate --abort",
			      r.src);
		ret = ret == -EALREADY ? EXIT_USAGE : ret == -ENOENT ?
		      EXIT_VAULT : vault_exit(&err);
		goto out;
	}
	ret = rotate_record(&r, va.state_dir, NULL);
	if (ret)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (json) {
		printf("{\"uuid\":\"%s\",\"from\":", r.uuid);
		json_kek(&old);
		printf(",\"to\":");
		json_kek(&r.h->kek);
		printf(",\"resumed\":%s,\"seqno\":%" PRIu64 ",\"ms\":%.3f,"
		       "\"result\":\"ok\"}\n", resumed ? "true" : "false",
		       r.h->seqno, (t1.tv_sec - t0.tv_sec) * 1e3 +
		       (t1.tv_nsec - t0.tv_nsec) / 1e6);
	} else {
		printf("%s: volume key re-wrapped and verified; the header is durable\n",
		       r.uuid);
		text_kek("  from", &old);
		text_kek("  to  ", &r.h->kek);
		printf("  the old KEK version no longer wraps this volume; check others with: cmkctl kek-retire-check\n");
	}
out:
	cmk_secure_free(vk);
	cmk_vault_close(v);
	cmk_vault_close(v_new);
	rotate_close(&r);
	return ret;
}

/* ---- vk-rotate and rebind ---- */

struct rekey_state {
	const char *state_dir;
	bool shown;
	bool progress;
};

static void rekey_progress(uint64_t done, uint64_t total, void *arg)
{
	struct rekey_state *s = arg;

	if (!s->progress)
		return;
	fprintf(stderr, "\rre-wrapping DEKs: %" PRIu64 "/%" PRIu64, done,
		total);
	s->shown = true;
}

/* Tell this host the new fingerprint before the header changes. */
static int rekey_expect(const struct cmk_hdr *n, const char *fingerprint,
			void *arg, struct cmk_volume_error *err)
{
	struct rekey_state *s = arg;

	if (s->shown) {
		fputc('\n', stderr);
		s->shown = false;
	}
	return cmk_pin_expect(s->state_dir, n, fingerprint, err);
}

static int rekey_cmd(int argc, char *argv[], bool rebind)
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "kek", required_argument, NULL, 'k' },
		{ "to", required_argument, NULL, 't' },
		{ "to-version", required_argument, NULL, OPT_TO_VERSION },
		{ "to-module", required_argument, NULL, OPT_TO_MODULE },
		{ "to-pin-file", required_argument, NULL, OPT_TO_PIN_FILE },
		{ "progress", no_argument, NULL, 'P' },
		PIN_OPTIONS,
		TRUST_OPTIONS,
		{ "audit-log", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command(rebind ? "rebind" :
					       "vk-rotate");
	const char *hdr_path = NULL, *kek = NULL, *to = NULL;
	const char *to_version = NULL, *to_module = NULL, *to_pin_file = NULL;
	char uri_key[CMK_HDR_URI_LEN], fp[CMK_VK_FP_LEN];
	char old_uuid[CMK_UUID_STR_LEN];
	struct vault_args va = { 0 }, va_to;
	struct cmk_volume_error err = { 0 };
	struct cmk_vault *v = NULL, *v_new = NULL;
	struct rotate_dev r = { .fd = -1 };
	struct rekey_state st = { 0 };
	struct cmk_rekey_opts o = {
		.progress = rekey_progress,
		.before_write = rekey_expect,
		.arg = &st,
		.fingerprint = fp,
	};
	bool json = false;
	struct timespec t0, t1;
	uint8_t *vk = NULL;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hk:t:jP", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'H':
			hdr_path = optarg;
			break;
		case 'k':
			kek = optarg;
			break;
		case 't':
		case OPT_TO_VERSION:
		case OPT_TO_MODULE:
		case OPT_TO_PIN_FILE:
			if (!rebind)
				return help_or_bad(c, '?', argv);
			if (opt == 't')
				to = optarg;
			else if (opt == OPT_TO_VERSION)
				to_version = optarg;
			else if (opt == OPT_TO_MODULE)
				to_module = optarg;
			else
				to_pin_file = optarg;
			break;
		case 'P':
			st.progress = true;
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
	if (to_version && !to)
		return usage_error(c->name, "%s: --to-version needs --to",
				   c->name);
	to_vault_args(&va, to, to_module, to_pin_file, &va_to);
	st.state_dir = va.state_dir;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = rotate_open(&r, argv[optind], hdr_path);
	if (ret)
		goto out;
	if (r.h->kek_state != CMK_KEK_ROT_IDLE) {
		error("%s: a KEK rotation is staged: finish it (cmkctl kek-rotate) or drop it (kek-rotate --abort) first",
		      r.src);
		ret = EXIT_HEADER;
		goto out;
	}
	memcpy(old_uuid, r.uuid, sizeof(old_uuid));
	ret = rotate_unlock(&r, kek, &va, &vk, &v);
	if (ret)
		goto out;
	if (to) {
		ret = open_to_vault(to, kek, &va_to, r.uuid, &v_new, uri_key,
				    sizeof(uri_key));
		if (ret)
			goto out;
	}
	if (!st.progress)
		st.progress = r.h->extent_count >= PROGRESS_MIN && isatty(2);
	if (rebind)
		ret = cmk_volume_rebind(r.fd, r.h, vk, v_new ? v_new : v,
					v_new ? uri_key : NULL, to_version,
					true, &o, &err);
	else
		ret = cmk_volume_vk_rotate(r.fd, r.h, vk, v, &o, &err);
	if (st.shown)
		fputc('\n', stderr);
	if (ret) {
		print_error(rebind ? "rebinding" : "rotating the volume key of",
			    r.src, &err);
		ret = vault_exit(&err);
		goto out;
	}
	cmk_uuid_format(r.h->uuid, r.uuid);
	ret = rotate_record(&r, va.state_dir, fp);
	if (ret)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (json) {
		printf("{\"uuid\":\"%s\"", r.uuid);
		if (rebind)
			printf(",\"old_uuid\":\"%s\"", old_uuid);
		printf(",\"extents\":%u,\"kek\":", r.h->extent_count);
		json_kek(&r.h->kek);
		printf(",\"vk_fingerprint\":\"%s\",\"seqno\":%" PRIu64
		       ",\"ms\":%.3f,\"result\":\"ok\"}\n", fp, r.h->seqno,
		       (t1.tv_sec - t0.tv_sec) * 1e3 +
		       (t1.tv_nsec - t0.tv_nsec) / 1e6);
	} else {
		if (rebind)
			printf("%s: rebound as volume %s: new volume key, %u DEKs re-wrapped (data untouched)\n",
			       old_uuid, r.uuid, r.h->extent_count);
		else
			printf("%s: new volume key; %u DEKs re-wrapped (data untouched)\n",
			       r.uuid, r.h->extent_count);
		text_kek("  KEK", &r.h->kek);
		printf("  volume key fingerprint %s (pinned on this host); give it to other hosts and cmktab: vk-fingerprint=%s\n",
		       fp, fp);
	}
out:
	cmk_secure_free(vk);
	cmk_vault_close(v);
	cmk_vault_close(v_new);
	rotate_close(&r);
	return ret;
}

int cmd_vk_rotate(int argc, char *argv[])
{
	return rekey_cmd(argc, argv, false);
}

int cmd_rebind(int argc, char *argv[])
{
	return rekey_cmd(argc, argv, true);
}

/* ---- kek-retire-check ---- */

/*
 * Whether record KEK @k is the key @uri (key part @key) at @version; a
 * PKCS#11 URI is compared by its token and object attributes, in any
 * order, and its id= is a version.
 */
static bool kek_matches(const struct cmk_host_kek *k, const char *key,
			const char *version, const char *pub)
{
	struct cmk_pkcs11_uri a, b;
	bool same;

	if (pub && k->pub[0])
		return !strcmp(pub, k->pub);
	if (version && strcmp(version, k->version))
		return false;
	if (strncmp(key, "pkcs11:", 7) || strncmp(k->uri, "pkcs11:", 7))
		return !strcmp(key, k->uri);
	if (cmk_pkcs11_uri_parse(key, &a))
		return false;
	if (cmk_pkcs11_uri_parse(k->uri, &b)) {
		cmk_pkcs11_uri_free(&a);
		return false;
	}
#define SAME(f) (!a.f || (b.f && !strcmp(a.f, b.f)))
	same = SAME(token) && SAME(manufacturer) && SAME(serial) &&
	       SAME(model) && SAME(object);
#undef SAME
	cmk_pkcs11_uri_free(&a);
	cmk_pkcs11_uri_free(&b);
	return same;
}

/* What kek-retire-check looks for, and what it found in cmkd. */
struct retire_ctx {
	const char *key;
	const char *version;
	const char *pub;
	bool json;
	size_t used;
};

static void retire_cmkd(const char *name, const char *uuid, const char *uri,
			const char *version, const char *pub, void *arg)
{
	struct retire_ctx *c = arg;
	struct cmk_host_kek k = { 0 };

	snprintf(k.uri, sizeof(k.uri), "%s", uri);
	snprintf(k.version, sizeof(k.version), "%s", version);
	snprintf(k.pub, sizeof(k.pub), "%s", pub);
	if (!kek_matches(&k, c->key, c->version, c->pub))
		return;
	if (c->json) {
		printf("%s{\"uuid\":", c->used ? "," : "");
		json_str(uuid);
		printf(",\"label\":\"\",\"role\":\"checked by cmkd\",\"name\":");
		json_str(name);
		printf(",\"version\":");
		json_str(version);
		printf("}");
	} else {
		if (!c->used)
			printf("NOT safe to disable: these volumes on this host still need it\n");
		printf("  %s  %-20s checked by cmkd, version %s\n", uuid, name,
		       version[0] ? version : "-");
	}
	c->used++;
}

int cmd_kek_retire_check(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("kek-retire-check");
	const char *sock = CMKD_SOCKET_DEFAULT;
	struct retire_ctx rc = { 0 };
	const char *version = NULL, *state_dir = NULL, *pub = NULL;
	char key[CMK_HDR_URI_LEN], idver[2 * CMK_P11_ID_MAX + 1];
	struct cmk_volume_error err = { 0 };
	struct cmk_host_record *l = NULL;
	struct cmk_pkcs11_uri u;
	size_t n = 0, i, used = 0;
	bool json = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, ":hj", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_VERSION:
			version = optarg;
			break;
		case OPT_STATE_DIR:
			state_dir = optarg;
			break;
		case OPT_SOCKET:
			sock = optarg;
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
	if (!strncmp(argv[optind], "sha256:", 7)) {
		pub = argv[optind] + 7;
		if (strlen(pub) != 2 * CMK_HDR_PUB_LEN ||
		    strspn(pub, "0123456789abcdef") != 2 * CMK_HDR_PUB_LEN)
			return usage_error(c->name, "%s: sha256: takes 64 lower-case hex digits",
					   c->name);
		key[0] = '\0';
	} else {
		if (!cmk_vault_backend(argv[optind]))
			return usage_error(c->name, "%s: '%s' is not a KEK URI (pkcs11:...) or sha256:<public key hash>",
					   c->name, cmk_text_plain(argv[optind]) ?
					   argv[optind] : "?");
		if (cmk_vault_uri_key(argv[optind], key, sizeof(key)))
			return usage_error(c->name, "%s: URI too long", c->name);
		/* A PKCS#11 id= names one version. */
		if (!version && !strncmp(key, "pkcs11:", 7) &&
		    !cmk_pkcs11_uri_parse(key, &u)) {
			if (u.has_id && u.id_len) {
				for (i = 0; i < u.id_len; i++)
					sprintf(idver + 2 * i, "%02x", u.id[i]);
				version = idver;
			}
			cmk_pkcs11_uri_free(&u);
		}
	}
	if (cmk_host_records(state_dir, &l, &n, &err)) {
		error("reading this host's volume records: %s", err.msg);
		return EXIT_FAIL;
	}
	if (json) {
		printf("{\"kek\":");
		json_str(pub ? argv[optind] : key);
		printf(",\"version\":");
		if (version)
			json_str(version);
		else
			printf("null");
		printf(",\"records\":%zu,\"volumes\":[", n);
	}
	for (i = 0; i < n; i++) {
		const char *role = NULL;

		if (l[i].kek.uri[0] &&
		    kek_matches(&l[i].kek, key, version, pub))
			role = "current";
		else if (l[i].staged &&
			 kek_matches(&l[i].kek_new, key, version, pub))
			role = "staged";
		if (!role)
			continue;
		if (json) {
			printf("%s{\"uuid\":\"%s\",\"label\":", used ? "," : "",
			       l[i].uuid);
			json_str(l[i].label);
			printf(",\"role\":\"%s\",\"version\":", role);
			json_str(!strcmp(role, "current") ? l[i].kek.version :
				 l[i].kek_new.version);
			printf(",\"seqno\":%" PRIu64 ",\"seen\":%" PRIu64 "}",
			       l[i].seqno, l[i].seen);
		} else {
			if (!used)
				printf("NOT safe to disable: these volumes on this host still need it\n");
			printf("  %s  %-20s %s KEK, version %s (header seqno %" PRIu64 ")\n",
			       l[i].uuid, l[i].label[0] ? l[i].label : "-",
			       role, !strcmp(role, "current") ?
			       l[i].kek.version : l[i].kek_new.version,
			       l[i].seqno);
		}
		used++;
	}
	/* The versions cmkd checks: a volume it has open needs them too. */
	rc = (struct retire_ctx){ pub ? "" : key, version, pub, json, used };
	ret = cmkd_kek_versions(sock, retire_cmkd, &rc);
	used = rc.used;
	if (json)
		printf("],\"cmkd\":%s,\"safe\":%s}\n", ret ? "false" : "true",
		       used ? "false" : "true");
	else if (!used)
		printf("safe to disable: none of the %zu volume%s this host knows is wrapped by it%s\n",
		       n, n == 1 ? "" : "s", ret ? " (cmkd is not running)" :
		       ", and cmkd checks it for none");
	else
		printf("rotate them first: cmkctl kek-rotate DEVICE\n");
	free(l);
	/* Exit 0: safe; 5: still in use (refused). */
	return used ? EXIT_REFUSED : EXIT_OK;
}

/* ---- status: the KEK versions in use on this host ---- */

static bool host_kek_eq(const struct cmk_host_kek *a,
			const struct cmk_host_kek *b)
{
	return !strcmp(a->vault_type, b->vault_type) &&
	       !strcmp(a->uri, b->uri) && !strcmp(a->version, b->version);
}

/**
 * host_keks_status() - "cmkctl status": which KEK versions wrap which of
 *	the volumes this host knows (its records)
 * @json: print ,"keks":[...] (inside the caller's object)
 */
void host_keks_status(bool json)
{
	struct cmk_volume_error err = { 0 };
	struct cmk_host_record *l = NULL;
	size_t n = 0, i, j, k, shown = 0;

	if (cmk_host_records(NULL, &l, &n, &err)) {
		if (json)
			printf(",\"keks\":null");
		else
			warning("status: this host's volume records: %s",
				err.msg);
		return;
	}
	if (json)
		printf(",\"keks\":[");
	else if (n)
		printf("\nKEK versions in use on this host (its volume records):\n");
	/* Each distinct KEK version, current or staged, once. */
	for (i = 0; i < 2 * n; i++) {
		const struct cmk_host_kek *ki = i < n ? &l[i].kek :
						 &l[i - n].kek_new;

		if (!ki->uri[0] || (i >= n && !l[i - n].staged))
			continue;
		for (j = 0; j < i; j++) {
			const struct cmk_host_kek *kj = j < n ? &l[j].kek :
							 &l[j - n].kek_new;

			if ((j < n || l[j - n].staged) && kj->uri[0] &&
			    host_kek_eq(ki, kj))
				break;
		}
		if (j < i)
			continue;
		if (json) {
			printf("%s{\"vault\":", shown ? "," : "");
			json_str(ki->vault_type);
			printf(",\"uri\":");
			json_str(ki->uri);
			printf(",\"version\":");
			json_str(ki->version);
			printf(",\"pub_sha256\":");
			json_str(ki->pub);
			printf(",\"volumes\":[");
		} else {
			printf("  %s version %s%s%s\n", ki->uri,
			       ki->version[0] ? ki->version : "-",
			       ki->pub[0] ? ", public key sha256:" : "",
			       ki->pub);
		}
		for (k = 0, j = 0; k < 2 * n; k++) {
			const struct cmk_host_kek *kk = k < n ? &l[k].kek :
							 &l[k - n].kek_new;
			const struct cmk_host_record *r = &l[k % n];

			if ((k >= n && !r->staged) || !host_kek_eq(ki, kk))
				continue;
			if (json) {
				printf("%s{\"uuid\":\"%s\",\"label\":",
				       j ? "," : "", r->uuid);
				json_str(r->label);
				printf(",\"role\":\"%s\"}", k < n ? "current" :
				       "staged");
			} else {
				printf("    %s  %s%s\n", r->uuid,
				       r->label[0] ? r->label : "-",
				       k < n ? "" : "  (staged)");
			}
			j++;
		}
		if (json)
			printf("]}");
		shown++;
	}
	if (json)
		printf("]");
	free(l);
}
