// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk: what a host knows of its volumes, so that a header written by
 * someone else is refused.  A header's MAC proves it was sealed with its
 * own volume key, but anyone with the KEK's public half can make a volume
 * key and seal a header with it; the host tells them apart by the volume
 * key's fingerprint, pinned
 *
 *   - by the administrator: cmkctl --vk-fingerprint, cmktab vk-fingerprint=;
 *   - or by the host itself, at format or at the first open, in a record
 *     STATE_DIR/<uuid> that also keeps the highest sequence number seen,
 *     so that an older (authentic) header written back is noticed.
 *
 * A record is root's own, mode 0600, in a directory of mode 0700 that is
 * nobody else's to write: the host's state, never the disk's.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmk-volume.h"

#define CMK_PIN_MAX	4096

/*
 * A record: the fingerprint pinned ("" if none), the one a volume-key
 * rotation in progress will give it ("" if none), the last seqno seen,
 * and what the last header seen said of the volume (cmk_host_record).
 */
struct cmk_pin_rec {
	char fingerprint[CMK_VK_FP_LEN];
	char next_fingerprint[CMK_VK_FP_LEN];
	uint64_t seqno;
	struct cmk_host_record info;
};

/* The record lines that describe a KEK slot, "kek-" or "kek-new-" first. */
static int cmk_pin_kek_line(struct cmk_host_kek *k, const char *key,
			    const char *v)
{
	size_t n = strlen(v);

	if (!strcmp(key, "vault") && n < sizeof(k->vault_type))
		memcpy(k->vault_type, v, n + 1);
	else if (!strcmp(key, "version") && n < sizeof(k->version))
		memcpy(k->version, v, n + 1);
	else if (!strcmp(key, "uri") && n && n < sizeof(k->uri))
		memcpy(k->uri, v, n + 1);
	else if (!strcmp(key, "pub") && n == 2 * CMK_HDR_PUB_LEN &&
		 strspn(v, "0123456789abcdef") == n)
		memcpy(k->pub, v, n + 1);
	else
		return -EUCLEAN;
	return 0;
}

/* One line "KEY VALUE" of a record into @rec. */
static int cmk_pin_line(struct cmk_pin_rec *rec, const char *key,
			const char *v)
{
	struct cmk_host_record *r = &rec->info;
	char *end;

	if (!cmk_text_plain(v))
		return -EUCLEAN;
	if (!strcmp(key, "fingerprint") && cmk_vk_fingerprint_valid(v)) {
		memcpy(rec->fingerprint, v, CMK_VK_FP_LEN);
	} else if (!strcmp(key, "next-fingerprint") &&
		   cmk_vk_fingerprint_valid(v)) {
		memcpy(rec->next_fingerprint, v, CMK_VK_FP_LEN);
	} else if ((!strcmp(key, "seqno") || !strcmp(key, "seen")) &&
		   *v >= '0' && *v <= '9') {
		uint64_t x;

		errno = 0;
		x = strtoull(v, &end, 10);
		if (errno || *end)
			return -EUCLEAN;
		if (!strcmp(key, "seqno"))
			rec->seqno = x;
		else
			r->seen = x;
	} else if (!strcmp(key, "label") && strlen(v) < sizeof(r->label)) {
		strcpy(r->label, v);
	} else if (!strncmp(key, "kek-new-", 8)) {
		r->staged = true;
		return cmk_pin_kek_line(&r->kek_new, key + 8, v);
	} else if (!strncmp(key, "kek-", 4)) {
		return cmk_pin_kek_line(&r->kek, key + 4, v);
	} else {
		return -EUCLEAN;
	}
	return 0;
}

/* @state_dir, else $CMK_STATE_DIR, else CMK_STATE_DIR. */
static const char *cmk_pin_dir(const char *state_dir)
{
	const char *env = getenv("CMK_STATE_DIR");

	if (state_dir)
		return state_dir;
	return env && *env == '/' ? env : CMK_STATE_DIR;
}

/* @path = DIR/<uuid of @h>. */
static int cmk_pin_path(const char *dir, const struct cmk_hdr *h,
			char *path, size_t size)
{
	char uuid[CMK_UUID_STR_LEN];

	cmk_uuid_format(h->uuid, uuid);
	return snprintf(path, size, "%s/%s", dir, uuid) < (int)size ?
	       0 : -ENAMETOOLONG;
}

/*
 * Read the record at @path into @rec: 0, -ENOENT (none), or an error with
 * @err filled (a record that is not the host's own, or not a record).
 */
static int cmk_pin_read(const char *path, struct cmk_pin_rec *rec,
			struct cmk_volume_error *err)
{
	char buf[CMK_PIN_MAX + 1], *line, *next, *v;
	struct stat st;
	ssize_t n;
	int fd, ret;

	memset(rec, 0, sizeof(*rec));
	fd = cmk_file_open(path, O_RDONLY, CMK_FILE_REG, &st);
	if (fd == -ENOENT)
		return fd;
	if (fd < 0)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, fd,
				       "host record %s: %s", path,
				       fd == -ENOTBLK ? "not a regular file" :
				       strerror(-fd));
	ret = cmk_file_trusted(&st);
	if (ret) {
		close(fd);
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "host record %s: %s", path, ret == -EPERM ?
				       "not owned by the user reading it" :
				       "group- or world-writable");
	}
	n = read(fd, buf, CMK_PIN_MAX + 1);
	close(fd);
	if (n < 0 || n > CMK_PIN_MAX)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EIO,
				       "host record %s: %s", path, n < 0 ?
				       strerror(errno) : "too long");
	buf[n] = '\0';
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line || *line == '#')
			continue;
		v = strchr(line, ' ');
		if (v)
			*v++ = '\0';
		if (!v || cmk_pin_line(rec, line, v))
			goto bad;
	}
	memcpy(rec->info.fingerprint, rec->fingerprint, CMK_VK_FP_LEN);
	rec->info.seqno = rec->seqno;
	return 0;
bad:
	return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EUCLEAN,
			       "host record %s: not a dm-cmk record (line '%s')",
			       path, cmk_text_plain(line) ? line : "?");
}

/* mkdir -p @dir, mode 0700, and check that it is the caller's alone. */
static int cmk_pin_mkdir(const char *dir, struct cmk_volume_error *err)
{
	char path[PATH_MAX], *p;
	struct stat st;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENAMETOOLONG,
				       "state directory %s: name too long", dir);
	for (p = path + 1; ; p++) {
		if (*p && *p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -errno,
					       "creating %s: %s", path,
					       strerror(errno));
		if (p - path >= (ptrdiff_t)strlen(dir))
			break;
		*p = '/';
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -ENOTDIR,
				       "state directory %s: not a directory", dir);
	if (cmk_file_trusted(&st))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EPERM,
				       "state directory %s: not the caller's own, or writable by others",
				       dir);
	return 0;
}

static void cmk_pin_write_kek(FILE *f, const char *pfx,
			      const struct cmk_kek_ref *k)
{
	char hex[CMK_KEK_PUB_HEX_LEN];

	fprintf(f, "%svault %s\n", pfx, k->vault_type);
	if (k->key_version[0])
		fprintf(f, "%sversion %s\n", pfx, k->key_version);
	fprintf(f, "%suri %s\n", pfx, k->uri);
	if (cmk_kek_pub_hex(k, hex)[0])
		fprintf(f, "%spub %s\n", pfx, hex);
}

/*
 * What the header says of the volume, for "which volumes still need this
 * KEK" (cmk_host_records()).  Header strings are plain text (the decoder
 * refuses control characters), so a value cannot start a new line.
 */
static void cmk_pin_write_info(FILE *f, const struct cmk_hdr *h)
{
	if (h->label[0])
		fprintf(f, "label %s\n", h->label);
	fprintf(f, "seen %lld\n", (long long)time(NULL));
	if (!h->kek.vault_type[0])
		return;
	cmk_pin_write_kek(f, "kek-", &h->kek);
	if (h->kek_state == CMK_KEK_ROT_STAGED)
		cmk_pin_write_kek(f, "kek-new-", &h->kek_new);
}

/* Replace the record at @path (in @dir) with @rec, crash-safely. */
static int cmk_pin_write(const char *dir, const char *path,
			 const struct cmk_hdr *h, const struct cmk_pin_rec *rec,
			 struct cmk_volume_error *err)
{
	char tmp[PATH_MAX + 8], uuid[CMK_UUID_STR_LEN];
	int fd, dfd, ret;
	FILE *f;

	ret = cmk_pin_mkdir(dir, err);
	if (ret)
		return ret;
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -errno,
				       "writing %s: %s", path, strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		goto fail;
	}
	cmk_uuid_format(h->uuid, uuid);
	fprintf(f, "# dm-cmk: what this host knows of volume %s (cmkctl, cmkd)\n",
		uuid);
	if (rec->fingerprint[0])
		fprintf(f, "fingerprint %s\n", rec->fingerprint);
	if (rec->next_fingerprint[0])
		fprintf(f, "next-fingerprint %s\n", rec->next_fingerprint);
	fprintf(f, "seqno %" PRIu64 "\n", rec->seqno);
	cmk_pin_write_info(f, h);
	if (fflush(f) || fsync(fileno(f))) {
		ret = -errno;
		fclose(f);
		goto fail;
	}
	if (fclose(f)) {
		ret = -errno;
		goto fail;
	}
	if (rename(tmp, path)) {
		ret = -errno;
		goto fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	unlink(tmp);
	return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret, "writing %s: %s",
			       path, strerror(-ret));
}

/*
 * The record of @h's volume in @dir: its path into @path, and its content
 * into @rec (empty when there is none: -ENOENT).
 *
 * Return: 0, -ENOENT, or another negative errno with @err set.
 */
static int cmk_pin_load(const char *dir, const struct cmk_hdr *h,
			char *path, size_t size, struct cmk_pin_rec *rec,
			struct cmk_volume_error *err)
{
	int ret = cmk_pin_path(dir, h, path, size);

	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "state directory %s: name too long", dir);
	return cmk_pin_read(path, rec, err);
}

/**
 * cmk_volume_trust() - whether an unlocked header is the volume this host
 * knows
 * @h: the header, unlocked (its MAC verified by cmk_volume_unlock())
 * @keys: what cmk_volume_unlock() gave (the volume key's fingerprint)
 * @o: the pin and the policy
 * @r: what was found
 * @err: why it is refused
 *
 * Refused, as a header failure: a volume key whose fingerprint is not
 * @o->fingerprint, or not the one recorded on this host (a header forged
 * with the KEK's public key, or another volume's under this UUID); a
 * header whose sequence number is lower than the last this host saw (an
 * older copy written back), unless @o->allow_rollback.  With @o->record,
 * the record is then written: the fingerprint if none was recorded (the
 * first open pins the volume) and the sequence number.
 *
 * Call it before any table is loaded with the keys.
 *
 * Return: 0 or a negative errno; @err says why.
 */
int cmk_volume_trust(const struct cmk_hdr *h,
		     const struct cmk_volume_keys *keys,
		     const struct cmk_pin_opts *o, struct cmk_pin_result *r,
		     struct cmk_volume_error *err)
{
	const char *dir = cmk_pin_dir(o->state_dir);
	bool have, promoted = false;
	struct cmk_pin_rec rec;
	int ret;

	memset(r, 0, sizeof(*r));
	if (o->fingerprint && !cmk_vk_fingerprint_valid(o->fingerprint))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EINVAL,
				       "'%s' is not a volume key fingerprint (cmkvk1: and 32 hex digits)",
				       cmk_text_plain(o->fingerprint) ?
				       o->fingerprint : "?");
	if (o->fingerprint && strcmp(o->fingerprint, keys->fingerprint))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -EKEYREJECTED,
				       "the volume key's fingerprint %s is not the pinned %s: this header was not written with the volume's key (forged with the KEK's public key, or another volume's)",
				       keys->fingerprint, o->fingerprint);
	ret = cmk_pin_load(dir, h, r->record, sizeof(r->record), &rec, err);
	if (ret && ret != -ENOENT)
		return ret;
	have = !ret;
	if (have && rec.next_fingerprint[0] &&
	    !strcmp(rec.next_fingerprint, keys->fingerprint)) {
		/*
		 * A volume-key rotation announced itself here before it
		 * wrote the header (cmk_pin_expect()): the new key is this
		 * volume's from now on.
		 */
		memcpy(rec.fingerprint, rec.next_fingerprint, CMK_VK_FP_LEN);
		rec.next_fingerprint[0] = '\0';
		promoted = true;
	}
	if (have && rec.fingerprint[0] &&
	    strcmp(rec.fingerprint, keys->fingerprint))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -EKEYREJECTED,
				       "the volume key's fingerprint %s is not %s, the one this host pinned (%s): this header was not written with the volume's key (forged with the KEK's public key, or another volume's)",
				       keys->fingerprint, rec.fingerprint,
				       r->record);
	r->pinned = o->fingerprint || (have && rec.fingerprint[0]);
	r->last_seqno = have ? rec.seqno : 0;
	if (have && h->seqno < rec.seqno) {
		if (!o->allow_rollback)
			return cmk_volume_fail(err, CMK_VOLUME_FAIL_HEADER, -ESTALE,
					       "rollback: the header's sequence number %" PRIu64 " is older than %" PRIu64 ", the last this host saw (%s): an older copy of the header was written back; allow it with --allow-rollback (cmktab: allow-rollback) if it was restored on purpose",
					       h->seqno, rec.seqno, r->record);
		r->rolled_back = true;
	}
	if (!o->record)
		return 0;
	if (!have || !rec.fingerprint[0] || h->seqno != rec.seqno ||
	    promoted || !rec.info.kek.uri[0]) {
		r->recorded_now = !rec.fingerprint[0];
		memcpy(rec.fingerprint, keys->fingerprint, CMK_VK_FP_LEN);
		if (r->rolled_back || h->seqno > rec.seqno)
			rec.seqno = h->seqno;
		ret = cmk_pin_write(dir, r->record, h, &rec, err);
	}
	return ret;
}

/**
 * cmk_pin_record() - record a volume on this host
 * @state_dir: the host's records, NULL for CMK_STATE_DIR
 * @h: its header, as written
 * @fingerprint: its volume key's fingerprint (format: the volume is pinned
 *	on the host that made it), or NULL to keep the recorded one (a header
 *	restored from a backup on purpose: its sequence number is accepted,
 *	however old)
 * @err: why it failed
 *
 * Return: 0 or a negative errno.
 */
int cmk_pin_record(const char *state_dir, const struct cmk_hdr *h,
		   const char *fingerprint, struct cmk_volume_error *err)
{
	const char *dir = cmk_pin_dir(state_dir);
	char path[PATH_MAX];
	struct cmk_pin_rec rec;
	int ret;

	ret = cmk_pin_load(dir, h, path, sizeof(path), &rec, err);
	if (ret && ret != -ENOENT)
		return ret;
	if (fingerprint) {
		memcpy(rec.fingerprint, fingerprint, CMK_VK_FP_LEN);
		rec.next_fingerprint[0] = '\0';
	}
	rec.seqno = h->seqno;
	return cmk_pin_write(dir, path, h, &rec, err);
}

/**
 * cmk_pin_expect() - announce the fingerprint a volume is about to take
 * @state_dir: as in struct cmk_pin_opts
 * @h: the volume's header, before the change
 * @fingerprint: the fingerprint of its next volume key
 * @err: why it failed
 *
 * A volume-key rotation (or rebind) writes this before it writes the
 * header, so that a crash between the two leaves a host that accepts
 * either key: cmk_volume_trust() takes the announced one as the volume's
 * own once it sees it, and cmk_pin_record() replaces the pin when the
 * rotation ends.
 *
 * Return: 0 or a negative errno.
 */
int cmk_pin_expect(const char *state_dir, const struct cmk_hdr *h,
		   const char *fingerprint, struct cmk_volume_error *err)
{
	const char *dir = cmk_pin_dir(state_dir);
	char path[PATH_MAX];
	struct cmk_pin_rec rec;
	int ret;

	if (!cmk_vk_fingerprint_valid(fingerprint))
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -EINVAL,
				       "not a volume key fingerprint");
	ret = cmk_pin_load(dir, h, path, sizeof(path), &rec, err);
	if (ret && ret != -ENOENT)
		return ret;
	memcpy(rec.next_fingerprint, fingerprint, CMK_VK_FP_LEN);
	if (rec.seqno < h->seqno)
		rec.seqno = h->seqno;
	return cmk_pin_write(dir, path, h, &rec, err);
}

static int cmk_host_record_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cmk_host_record *)a)->uuid,
		      ((const struct cmk_host_record *)b)->uuid);
}

/* A record file name: a UUID in its text form, nothing else. */
static bool cmk_pin_name_ok(const char *name)
{
	size_t i;

	if (strlen(name) != CMK_UUID_STR_LEN - 1)
		return false;
	for (i = 0; name[i]; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (name[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", name[i])) {
			return false;
		}
	}
	return true;
}

/**
 * cmk_host_records() - every volume this host has a record of
 * @state_dir: as in struct cmk_pin_opts
 * @list: on success, an array to free(), sorted by UUID
 * @n: its length
 * @err: why it failed
 *
 * A record is written by cmkctl and cmkd whenever they open a volume or
 * change its header: it says which KEK (and staged KEK) the last header
 * seen was wrapped by.  Files that are not records (temporary files,
 * other names) are skipped; a record that does not parse fails the call,
 * since an answer that skipped it could call a KEK unused.
 *
 * Return: 0 (also when the directory does not exist: no records) or a
 * negative errno.
 */
int cmk_host_records(const char *state_dir, struct cmk_host_record **list,
		     size_t *n, struct cmk_volume_error *err)
{
	const char *dir = cmk_pin_dir(state_dir);
	struct cmk_host_record *l = NULL, *t;
	char path[PATH_MAX];
	struct cmk_pin_rec rec;
	struct dirent *de;
	size_t cnt = 0;
	DIR *d;
	int ret = 0;

	*list = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, -errno,
				       "state directory %s: %s", dir,
				       strerror(errno));
	}
	while ((de = readdir(d))) {
		if (!cmk_pin_name_ok(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		ret = cmk_pin_read(path, &rec, err);
		if (ret == -ENOENT)
			continue;
		if (ret)
			goto out;
		t = realloc(l, (cnt + 1) * sizeof(*l));
		if (!t) {
			ret = cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM,
					      -ENOMEM, "out of memory");
			goto out;
		}
		l = t;
		l[cnt] = rec.info;
		memcpy(l[cnt].uuid, de->d_name, CMK_UUID_STR_LEN);
		cnt++;
	}
	qsort(l, cnt, sizeof(*l), cmk_host_record_cmp);
	*list = l;
	*n = cnt;
	l = NULL;
out:
	closedir(d);
	free(l);
	return ret;
}
