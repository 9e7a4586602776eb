// SPDX-License-Identifier: GPL-2.0
/*
 * cmkd's control socket: a Unix stream socket, mode 0600 in a 0700
 * directory, and every peer's credentials checked (root only).  One
 * request line per connection, one JSON line back:
 *
 *   status                   every volume: state, reason, KEK checks, lease,
 *                            recent events and audit records
 *   revalidate NAME          answered once the volume is back, or not
 *   close NAME [deferred]
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "cmkd.h"

/* Audit records shown per volume, and how far back the log is read. */
#define CMKD_AUDIT_SHOWN	5
#define CMKD_AUDIT_TAIL		(256 * 1024)

void cmkd_ctl_reply(int fd, const char *json)
{
	size_t len = strlen(json), off = 0;
	ssize_t w;

	while (off < len) {
		w = send(fd, json + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
	send(fd, "\n", 1, MSG_NOSIGNAL);
}

static int cmkd_mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/**
 * cmkd_ctl_open() - listen on the control socket
 * @d: the daemon (@d->socket_path)
 *
 * A socket file left by a dead daemon is replaced; one a live daemon
 * answers on is not (-EADDRINUSE), nor is anything at that path that is
 * not a socket (-ENOTSOCK): a mistyped --socket never deletes a file.
 *
 * Return: 0 or a negative errno.
 */
int cmkd_ctl_open(struct cmkd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, d->socket_path);
	r = cmkd_mkdir_parent(d->socket_path);
	if (r)
		return r;
	if (!lstat(d->socket_path, &st) && !S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(d->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(d->socket_path, 0600) || listen(fd, 16)) {
		r = -errno;
		close(fd);
		return r;
	}
	d->ctl_fd = fd;
	return 0;
}

void cmkd_ctl_close(struct cmkd *d)
{
	if (d->ctl_fd < 0)
		return;
	close(d->ctl_fd);
	unlink(d->socket_path);
	d->ctl_fd = -1;
}

static void cmkd_json_time(struct cmkd_buf *b, time_t t)
{
	char stamp[32];
	struct tm tm;

	if (!t) {
		cmkd_buf_printf(b, "null");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cmkd_buf_printf(b, "\"%s\"", stamp);
}

/* The last audit records of volume @uuid, as a JSON array of records. */
static void cmkd_json_audit(struct cmkd *d, const struct cmkd_volume *v,
			    struct cmkd_buf *b)
{
	const char *path = v->e->audit_log ? v->e->audit_log : d->audit_path;
	const char *found[CMKD_AUDIT_SHOWN];
	char needle[CMK_UUID_STR_LEN + 16], *buf, *line, *end;
	size_t nfound = 0, i;
	struct stat st;
	ssize_t n;
	off_t size;
	int fd;

	cmkd_buf_printf(b, "[");
	fd = v->uuid[0] && path ?
	     cmk_file_open(path, O_RDONLY, CMK_FILE_REG, &st) : -1;
	buf = fd >= 0 ? malloc(CMKD_AUDIT_TAIL + 1) : NULL;
	if (buf) {
		size = lseek(fd, 0, SEEK_END);
		size = size > CMKD_AUDIT_TAIL ? size - CMKD_AUDIT_TAIL : 0;
		n = pread(fd, buf, CMKD_AUDIT_TAIL, size);
		buf[n > 0 ? n : 0] = '\0';
		snprintf(needle, sizeof(needle), "\"uuid\":\"%s\"", v->uuid);
		/* Whole lines only; keep the last CMKD_AUDIT_SHOWN matches. */
		line = size ? strchr(buf, '\n') : buf;
		while (line && *line) {
			if (*line == '\n')
				line++;
			end = strchr(line, '\n');
			if (!end)
				break;
			*end = '\0';
			if (line[0] == '{' && strstr(line, needle)) {
				if (nfound == CMKD_AUDIT_SHOWN) {
					memmove(found, found + 1,
						sizeof(found[0]) * (nfound - 1));
					nfound--;
				}
				found[nfound++] = line;
			}
			line = end + 1;
		}
		for (i = 0; i < nfound; i++)
			cmkd_buf_printf(b, "%s%s", i ? "," : "", found[i]);
	}
	cmkd_buf_printf(b, "]");
	free(buf);
	if (fd >= 0)
		close(fd);
}

static void cmkd_json_volume(struct cmkd *d, const struct cmkd_volume *v,
			     struct cmkd_buf *b)
{
	const struct cmkd_kek *k = v->kek;
	unsigned int i, first;

	cmkd_buf_printf(b, "{\"name\":");
	cmkd_buf_json(b, v->e->name);
	cmkd_buf_printf(b, ",\"state\":\"%s\",\"reason\":",
			cmkd_state_name(v->state));
	cmkd_buf_json(b, v->reason);
	cmkd_buf_printf(b, ",\"class\":\"%s\",\"since\":",
			cmk_vault_class_name(v->cls));
	cmkd_json_time(b, v->since);
	cmkd_buf_printf(b, ",\"device\":");
	cmkd_buf_json(b, v->dev[0] ? v->dev : NULL);
	cmkd_buf_printf(b, ",\"uuid\":");
	cmkd_buf_json(b, v->uuid[0] ? v->uuid : NULL);
	cmkd_buf_printf(b, ",\"kek\":");
	cmkd_buf_json(b, k ? k->safe_uri : NULL);
	cmkd_buf_printf(b, ",\"poll_s\":%.3f,\"lease_s\":%.3f,\"grace_s\":%.3f,\"auto_revalidate\":%s",
			(double)v->e->poll_ms / 1000,
			(double)v->e->lease_ms / 1000,
			(double)v->e->grace_ms / 1000,
			v->e->auto_revalidate ? "true" : "false");
	cmkd_buf_printf(b, ",\"last_check\":");
	cmkd_json_time(b, k ? k->last_check : 0);
	cmkd_buf_printf(b, ",\"last_check_result\":");
	cmkd_buf_json(b, k && k->last_check ?
		      cmk_vault_class_name(k->last_cls) : NULL);
	cmkd_buf_printf(b, ",\"last_check_ok\":");
	cmkd_json_time(b, k ? k->last_ok : 0);
	cmkd_buf_printf(b, ",\"lease_expires\":");
	cmkd_json_time(b, v->lease ? v->lease_expiry : 0);
	cmkd_buf_printf(b, ",\"events\":[");
	first = v->nevents > CMKD_EVENTS ? v->nevents - CMKD_EVENTS : 0;
	for (i = first; i < v->nevents; i++) {
		const struct cmkd_event *ev = &v->events[i % CMKD_EVENTS];

		cmkd_buf_printf(b, "%s{\"time\":", i > first ? "," : "");
		cmkd_json_time(b, ev->time);
		cmkd_buf_printf(b, ",\"text\":");
		cmkd_buf_json(b, ev->text);
		cmkd_buf_printf(b, "}");
	}
	cmkd_buf_printf(b, "],\"audit\":");
	cmkd_json_audit(d, v, b);
	cmkd_buf_printf(b, "}");
}

static void cmkd_ctl_status(struct cmkd *d, int fd)
{
	struct cmkd_buf b = { 0 };
	size_t i;

	cmkd_buf_printf(&b, "{\"cmkd\":{\"version\":\"%s\",\"pid\":%d,\"config\":",
			CMKD_VERSION, (int)getpid());
	cmkd_buf_json(&b, d->tab_path);
	cmkd_buf_printf(&b, ",\"audit_log\":");
	cmkd_buf_json(&b, d->audit_path);
	cmkd_buf_printf(&b, "},\"volumes\":[");
	for (i = 0; i < d->nvols; i++) {
		if (i)
			cmkd_buf_printf(&b, ",");
		cmkd_json_volume(d, &d->vols[i], &b);
	}
	cmkd_buf_printf(&b, "]}");
	cmkd_ctl_reply(fd, b.oom ?
		       "{\"result\":\"error\",\"reason\":\"out of memory\"}" :
		       b.p);
	cmkd_buf_free(&b);
}

static void cmkd_ctl_error(int fd, const char *reason)
{
	struct cmkd_buf b = { 0 };

	cmkd_buf_printf(&b, "{\"result\":\"error\",\"reason\":");
	cmkd_buf_json(&b, reason);
	cmkd_buf_printf(&b, "}");
	cmkd_ctl_reply(fd, b.oom ? "{\"result\":\"error\"}" : b.p);
	cmkd_buf_free(&b);
}

/* Handle one request; returns true if @fd was handed on (revalidate). */
static bool cmkd_ctl_request(struct cmkd *d, int fd, char *req)
{
	char *cmd, *name, *arg, *save = NULL, msg[CMKD_REASON_MAX];
	struct cmkd_volume *v;

	cmd = strtok_r(req, " \t\r\n", &save);
	name = strtok_r(NULL, " \t\r\n", &save);
	arg = strtok_r(NULL, " \t\r\n", &save);
	if (!cmd) {
		cmkd_ctl_error(fd, "empty request");
		return false;
	}
	if (!strcmp(cmd, "status") && !name) {
		cmkd_ctl_status(d, fd);
		return false;
	}
	if (strcmp(cmd, "revalidate") && strcmp(cmd, "close")) {
		cmkd_ctl_error(fd, "unknown request");
		return false;
	}
	if (!name || (arg && (strcmp(cmd, "close") ||
			      strcmp(arg, "deferred")))) {
		cmkd_ctl_error(fd, "bad request");
		return false;
	}
	v = cmkd_find(d, name);
	if (!v) {
		snprintf(msg, sizeof(msg), "no volume %s in %s", name,
			 d->tab_path);
		cmkd_ctl_error(fd, msg);
		return false;
	}
	if (!strcmp(cmd, "revalidate")) {
		cmkd_revalidate(d, v, fd);
		return true;
	}
	if (cmkd_close(d, v, arg != NULL, msg, sizeof(msg)))
		cmkd_ctl_error(fd, msg);
	else
		cmkd_ctl_reply(fd, "{\"result\":\"ok\",\"state\":\"closed\"}");
	return false;
}

/**
 * cmkd_ctl_accept() - serve one waiting connection
 * @d: the daemon
 */
void cmkd_ctl_accept(struct cmkd *d)
{
	struct timeval tv = { .tv_sec = 2 };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char req[512];
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.uid != 0) {
		cmkd_log(LOG_WARNING, NULL, NULL,
			 "control socket: refused a client (uid %d, pid %d)",
			 len == sizeof(cred) ? (int)cred.uid : -1,
			 len == sizeof(cred) ? (int)cred.pid : -1);
		/*
		 * Read (and ignore) the request first: closing with unread
		 * data resets the connection and loses the answer.
		 */
		recv(fd, req, sizeof(req), MSG_DONTWAIT);
		cmkd_ctl_error(fd, "permission denied: root only");
		shutdown(fd, SHUT_WR);
		recv(fd, req, sizeof(req), 0);
		close(fd);
		return;
	}
	while (got < sizeof(req) - 1) {
		n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
		if (memchr(req, '\n', got))
			break;
	}
	req[got] = '\0';
	if (!memchr(req, '\n', got)) {
		cmkd_ctl_error(fd, "request not terminated by a newline");
		close(fd);
		return;
	}
	if (!cmkd_ctl_request(d, fd, req))
		close(fd);
}
