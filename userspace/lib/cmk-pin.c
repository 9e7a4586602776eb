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

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmk-volume.h"

#define CMK_PIN_MAX	4096

/* A record: the fingerprint pinned ("" if none) and the last seqno seen. */
struct cmk_pin_rec {
	char fingerprint[CMK_VK_FP_LEN];
	uint64_t seqno;
};

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
		if (v && !strcmp(line, "fingerprint") &&
		    cmk_vk_fingerprint_valid(v)) {
			memcpy(rec->fingerprint, v, CMK_VK_FP_LEN);
		} else if (v && !strcmp(line, "seqno") && *v >= '0' &&
			   *v <= '9') {
			char *end;

			errno = 0;
			rec->seqno = strtoull(v, &end, 10);
			if (errno || *end)
				goto bad;
		} else {
			goto bad;
		}
	}
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
	fprintf(f, "seqno %" PRIu64 "\n", rec->seqno);
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
	struct cmk_pin_rec rec;
	bool have;
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
	ret = cmk_pin_path(dir, h, r->record, sizeof(r->record));
	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "state directory %s: name too long", dir);
	ret = cmk_pin_read(r->record, &rec, err);
	if (ret && ret != -ENOENT)
		return ret;
	have = !ret;
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
	if (!have || !rec.fingerprint[0] || h->seqno != rec.seqno) {
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

	ret = cmk_pin_path(dir, h, path, sizeof(path));
	if (ret)
		return cmk_volume_fail(err, CMK_VOLUME_FAIL_SYSTEM, ret,
				       "state directory %s: name too long", dir);
	ret = cmk_pin_read(path, &rec, err);
	if (ret && ret != -ENOENT)
		return ret;
	if (fingerprint)
		memcpy(rec.fingerprint, fingerprint, CMK_VK_FP_LEN);
	rec.seqno = h->seqno;
	return cmk_pin_write(dir, path, h, &rec, err);
}
