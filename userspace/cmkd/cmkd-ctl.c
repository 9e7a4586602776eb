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
 *   kek-rotate NAME [VERSION|- [URI]]
 *                            rotate the KEK of an open volume: to VERSION
 *                            (- or absent: the newest) of the current key,
 *                            or of the key URI; answered when done
 *
 * Connections are non-blocking and served from the main loop's poll: a
 * client has CMKD_CONN_MS to send its request and CMKD_CONN_MS more to
 * take its answer, and is dropped after that, so that a slow or stuck
 * client never holds up lease renewals, KEK checks or other clients.  A
 * revalidate waits for its answer without a deadline (the client sets its
 * own).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "cmkd.h"

/* Audit records shown per volume, and how far back the log is read. */
#define CMKD_AUDIT_SHOWN	5
#define CMKD_AUDIT_TAIL		(256 * 1024)

/* One control connection. */
struct cmkd_conn {
	int fd;
	bool used;
	bool root;	/* the peer is root */
	bool waiting;	/* handed to a volume (revalidate): answered later */
	bool done;	/* answered: flush, then shut the write side */
	bool shut;	/* flushed and shut: close at the peer's EOF */
	bool dead;	/* to be closed and freed */
	char in[CMKD_REQ_MAX];
	size_t got;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline;	/* monotonic ms; 0 while waiting */
};

static struct cmkd_conn cmkd_conns[CMKD_CONN_MAX];

static struct cmkd_conn *cmkd_conn_find(int fd)
{
	size_t i;

	for (i = 0; i < CMKD_CONN_MAX; i++)
		if (cmkd_conns[i].used && cmkd_conns[i].fd == fd)
			return &cmkd_conns[i];
	return NULL;
}

static void cmkd_conn_free(struct cmkd_conn *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
}

/* Send what fits now; once all is sent and the answer is done, shut. */
static void cmkd_conn_flush(struct cmkd_conn *c)
{
	ssize_t w;

	while (c->out_off < c->out_len) {
		w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			c->dead = true;
			return;
		}
		c->out_off += w;
	}
	if (c->done && !c->shut) {
		/*
		 * Closing with unread input would reset the connection and
		 * lose the answer: shut the write side and wait for the
		 * peer's EOF (or the deadline).
		 */
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

/**
 * cmkd_ctl_reply() - queue a JSON line for a control client
 * @fd: the client's connection
 * @json: the answer, without its newline
 *
 * Sent from the main loop as the client reads it, within CMKD_CONN_MS.
 */
void cmkd_ctl_reply(int fd, const char *json)
{
	struct cmkd_conn *c = cmkd_conn_find(fd);
	size_t len = strlen(json);
	char *out;

	if (!c || c->dead)
		return;
	out = realloc(c->out, c->out_len + len + 1);
	if (!out) {
		c->dead = true;
		return;
	}
	memcpy(out + c->out_len, json, len);
	out[c->out_len + len] = '\n';
	c->out = out;
	c->out_len += len + 1;
	c->waiting = false;
	c->deadline = cmkd_now_ms() + CMKD_CONN_MS;
	cmkd_conn_flush(c);
}

/**
 * cmkd_ctl_done() - the answer to a control client is complete
 * @fd: the client's connection
 *
 * It is closed once the answer is sent (or its deadline passes).
 */
void cmkd_ctl_done(int fd)
{
	struct cmkd_conn *c = cmkd_conn_find(fd);

	if (!c)
		return;
	c->waiting = false;
	c->done = true;
	if (!c->deadline)
		c->deadline = cmkd_now_ms() + CMKD_CONN_MS;
	cmkd_conn_flush(c);
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
	size_t i;

	for (i = 0; i < CMKD_CONN_MAX; i++)
		if (cmkd_conns[i].used)
			cmkd_conn_free(&cmkd_conns[i]);
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
	char pub[CMK_KEK_PUB_HEX_LEN];
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
	cmkd_buf_printf(b, ",\"kek_key\":");
	cmkd_buf_json(b, v->h ? v->h->kek.uri : NULL);
	cmkd_buf_printf(b, ",\"kek_version\":");
	cmkd_buf_json(b, v->h ? v->h->kek.key_version : NULL);
	cmkd_buf_printf(b, ",\"vk_fingerprint\":");
	cmkd_buf_json(b, v->fingerprint[0] ? v->fingerprint : NULL);
	cmkd_buf_printf(b, ",\"kek_pub\":");
	cmkd_buf_json(b, v->h ? cmk_kek_pub_hex(&v->h->kek, pub) : NULL);
	cmkd_buf_printf(b, ",\"kek_staged\":%s,\"rotate\":\"%s\",\"rotating\":%s,\"rotate_failures\":%u",
			v->h && v->h->kek_state == CMK_KEK_ROT_STAGED ?
			"true" : "false", v->e->rotate_auto ? "auto" : "off",
			v->rotate_pending ? "true" : "false",
			v->rotate_failures);
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
	char *cmd, *name, *arg, *arg2, *save = NULL, msg[CMKD_REASON_MAX];
	struct cmkd_volume *v;
	bool rotate;

	cmd = strtok_r(req, " \t\r\n", &save);
	name = strtok_r(NULL, " \t\r\n", &save);
	arg = strtok_r(NULL, " \t\r\n", &save);
	arg2 = strtok_r(NULL, " \t\r\n", &save);
	if (!cmd) {
		cmkd_ctl_error(fd, "empty request");
		return false;
	}
	if (!strcmp(cmd, "status") && !name) {
		cmkd_ctl_status(d, fd);
		return false;
	}
	if (strcmp(cmd, "revalidate") && strcmp(cmd, "close") &&
	    strcmp(cmd, "kek-rotate")) {
		cmkd_ctl_error(fd, "unknown request");
		return false;
	}
	rotate = !strcmp(cmd, "kek-rotate");
	if (!name || (rotate ? !!strtok_r(NULL, " \t\r\n", &save) :
		      arg2 || (arg && (strcmp(cmd, "close") ||
				       strcmp(arg, "deferred"))))) {
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
	if (rotate) {
		/* kek-rotate NAME [VERSION|- [URI]] */
		cmkd_kek_rotate(d, v, arg2, arg && strcmp(arg, "-") ? arg :
				NULL, fd);
		return true;
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
 * cmkd_ctl_accept() - take a waiting connection
 * @d: the daemon
 *
 * Its request is read, and answered, from the main loop
 * (cmkd_ctl_pollfds(), cmkd_ctl_serve()).
 */
void cmkd_ctl_accept(struct cmkd *d)
{
	static const char busy[] =
		"{\"result\":\"error\",\"reason\":\"too many control connections\"}\n";
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct cmkd_conn *c = NULL;
	size_t i;
	int fd;

	fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < CMKD_CONN_MAX && !c; i++)
		if (!cmkd_conns[i].used)
			c = &cmkd_conns[i];
	if (!c) {
		cmkd_log(LOG_WARNING, NULL, NULL,
			 "control socket: %d connections open, refused another",
			 CMKD_CONN_MAX);
		send(fd, busy, strlen(busy), MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	c->used = true;
	c->fd = fd;
	c->deadline = cmkd_now_ms() + CMKD_CONN_MS;
	c->root = !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) &&
		  len == sizeof(cred) && cred.uid == 0;
	if (!c->root)
		cmkd_log(LOG_WARNING, NULL, NULL,
			 "control socket: refused a client (uid %d, pid %d)",
			 len == sizeof(cred) ? (int)cred.uid : -1,
			 len == sizeof(cred) ? (int)cred.pid : -1);
}

/* A whole request line (or EOF, or a full buffer) has arrived. */
static void cmkd_conn_request(struct cmkd *d, struct cmkd_conn *c)
{
	int fd = c->fd;

	c->in[c->got] = '\0';
	if (!c->root) {
		cmkd_ctl_error(fd, "permission denied: root only");
	} else if (!memchr(c->in, '\n', c->got)) {
		cmkd_ctl_error(fd, "request not terminated by a newline");
	} else if (cmkd_ctl_request(d, fd, c->in)) {
		/* Handed to a volume, unless it was answered at once. */
		if (!c->done && !c->out_len) {
			c->waiting = true;
			c->deadline = 0;
		}
		return;
	}
	cmkd_ctl_done(fd);
}

static void cmkd_conn_read(struct cmkd *d, struct cmkd_conn *c)
{
	char sink[512];
	ssize_t n;

	if (c->shut) {
		/* Answered: drain until the peer closes. */
		do {
			n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		} while (n > 0);
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			       errno != EINTR))
			c->dead = true;
		return;
	}
	n = recv(c->fd, c->in + c->got, sizeof(c->in) - 1 - c->got,
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n < 0) {
		c->dead = true;
		return;
	}
	c->got += n;
	if (!n || memchr(c->in, '\n', c->got) || c->got == sizeof(c->in) - 1)
		cmkd_conn_request(d, c);
}

/**
 * cmkd_ctl_pollfds() - what the main loop polls for the control clients
 * @pfd: filled with at most CMKD_CONN_MAX entries
 *
 * A client waiting for a revalidate is not polled: it is answered when the
 * volume is done.
 *
 * Return: the number of entries.
 */
int cmkd_ctl_pollfds(struct pollfd *pfd)
{
	struct cmkd_conn *c;
	int n = 0;
	size_t i;

	for (i = 0; i < CMKD_CONN_MAX; i++) {
		c = &cmkd_conns[i];
		if (!c->used || c->waiting || c->dead)
			continue;
		pfd[n].fd = c->fd;
		pfd[n].events = (!c->done || c->shut ? POLLIN : 0) |
				(c->out_off < c->out_len ? POLLOUT : 0);
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

/**
 * cmkd_ctl_serve() - serve the control clients after a poll
 * @d: the daemon
 * @pfd: the entries cmkd_ctl_pollfds() filled, with their revents
 * @n: their number
 *
 * Reads requests, answers them, sends answers, and drops every client past
 * its deadline.
 */
void cmkd_ctl_serve(struct cmkd *d, const struct pollfd *pfd, int n)
{
	uint64_t now;
	struct cmkd_conn *c;
	size_t i;
	int k;

	for (k = 0; k < n; k++) {
		c = cmkd_conn_find(pfd[k].fd);
		if (!c || c->dead || c->waiting)
			continue;
		if (pfd[k].revents & POLLOUT)
			cmkd_conn_flush(c);
		if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR) && !c->dead)
			cmkd_conn_read(d, c);
	}
	now = cmkd_now_ms();
	for (i = 0; i < CMKD_CONN_MAX; i++) {
		c = &cmkd_conns[i];
		if (!c->used)
			continue;
		if (!c->dead && c->deadline && now >= c->deadline) {
			if (!c->shut)
				cmkd_log(LOG_WARNING, NULL, NULL,
					 "control socket: a client took longer than %d ms to %s; dropped",
					 CMKD_CONN_MS, c->done || c->out_len ?
					 "take its answer" : "send its request");
			c->dead = true;
		}
		if (c->dead)
			cmkd_conn_free(c);
	}
}
