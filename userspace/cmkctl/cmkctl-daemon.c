// SPDX-License-Identifier: GPL-2.0
/*
 * cmkctl: the commands and views that talk to cmkd over its control
 * socket (cmkd(8)): revalidate, close of a volume cmkd manages, and the
 * daemon's part of status.  One request line, one JSON line back.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmkctl.h"

/**
 * cmkd_request() - one request to cmkd
 * @sock: control socket path
 * @req: the request, without the newline
 * @timeout_s: how long to wait for the answer
 * @reply: set to the answer (malloc'd, no newline) on success
 *
 * Return: 0, -ENOENT / -ECONNREFUSED when no cmkd listens, -ETIMEDOUT,
 * or another negative errno.
 */
int cmkd_request(const char *sock, const char *req, int timeout_s,
		 char **reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	size_t len = 0, size = 4096;
	char *buf = NULL, *p;
	ssize_t n;
	int fd, r;

	*reply = NULL;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		goto out;
	}
	n = strlen(req);
	buf = malloc(n + 2);
	r = -ENOMEM;
	if (!buf)
		goto out;
	memcpy(buf, req, n);
	memcpy(buf + n, "\n", 2);
	/* MSG_NOSIGNAL: a daemon that already closed is an error, not SIGPIPE. */
	if (send(fd, buf, n + 1, MSG_NOSIGNAL) != n + 1) {
		r = -errno;
		goto out;
	}
	free(buf);
	buf = malloc(size);
	r = -ENOMEM;
	if (!buf)
		goto out;
	for (;;) {
		if (len + 1 >= size) {
			p = realloc(buf, size * 2);
			if (!p)
				goto out;
			buf = p;
			size *= 2;
		}
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (!n)
			break;
		len += n;
	}
	buf[len] = '\0';
	p = strchr(buf, '\n');
	if (p)
		*p = '\0';
	if (!len) {
		r = -EPROTO;
		goto out;
	}
	*reply = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/* A member of a JSON object as text ("" if absent or not a scalar). */
static const char *jtext(const char *obj, const char *key, char *buf,
			 size_t size)
{
	const char *v = obj ? cmk_json_member(obj, key) : NULL;

	if (!v || cmk_json_text(v, buf, size) == -EINVAL)
		buf[0] = '\0';
	return buf;
}

static bool no_daemon(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED;
}

int cmd_revalidate(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c = find_command("revalidate");
	const char *sock = CMKD_SOCKET_DEFAULT, *name;
	char req[200], result[16], state[32], reason[512], cls[32], *end;
	char *reply = NULL;
	long timeout = 300;
	bool json = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, ":hs:t:j", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < 1 || timeout > 86400)
				return usage_error(c->name, "%s: --timeout '%s': 1 to 86400 seconds",
						   c->name, optarg);
			break;
		case 'j':
			json = true;
			break;
		default:
			return help_or_bad(c, opt, argv);
		}
	}
	r = parse_end(c, argc, argv, 1, 1);
	if (r)
		return r;
	name = argv[optind];
	if (strlen(name) >= CMK_DM_NAME_MAX || strpbrk(name, " \t\r\n"))
		return usage_error(c->name, "%s: '%s': not a volume name",
				   c->name, name);
	snprintf(req, sizeof(req), "revalidate %s", name);
	r = cmkd_request(sock, req, (int)timeout, &reply);
	if (r) {
		error("revalidating %s: %s", name, no_daemon(r) ?
		      "cmkd is not running (no control socket)" :
		      r == -ETIMEDOUT ? "no answer from cmkd in time" :
		      strerror(-r));
		return EXIT_FAIL;
	}
	jtext(reply, "result", result, sizeof(result));
	jtext(reply, "state", state, sizeof(state));
	jtext(reply, "reason", reason, sizeof(reason));
	jtext(reply, "class", cls, sizeof(cls));
	if (json)
		printf("%s\n", reply);
	else if (!strcmp(result, "ok"))
		printf("%s: %s\n", name, state);
	free(reply);
	if (!strcmp(result, "ok"))
		return EXIT_OK;
	error("revalidating %s: %s%s%s", name, reason[0] ? reason :
	      "refused by cmkd", state[0] ? "; state " : "", state);
	return cls[0] && strcmp(cls, "ok") ? EXIT_VAULT : EXIT_FAIL;
}

/**
 * cmkd_close_volume() - close a volume through cmkd, if cmkd manages it
 * @sock: control socket
 * @name: the volume
 * @deferred: remove it once it is no longer in use
 * @handled: set when cmkd manages @name (its answer is final)
 *
 * Return: an exit code; meaningful only when *@handled.
 */
int cmkd_close_volume(const char *sock, const char *name, bool deferred,
		      bool *handled)
{
	char req[200], result[16], reason[512], *reply = NULL;
	int r;

	*handled = false;
	snprintf(req, sizeof(req), "close %s%s", name,
		 deferred ? " deferred" : "");
	r = cmkd_request(sock, req, 60, &reply);
	if (r)
		return EXIT_FAIL;
	jtext(reply, "result", result, sizeof(result));
	jtext(reply, "reason", reason, sizeof(reason));
	free(reply);
	if (!strcmp(result, "ok")) {
		*handled = true;
		return EXIT_OK;
	}
	if (!strncmp(reason, "no volume ", 10))
		return EXIT_FAIL;
	*handled = true;
	error("closing %s: %s", name, reason);
	return EXIT_FAIL;
}

/**
 * cmkd_status_volume() - cmkd's view of one volume
 * @sock: control socket
 * @name: the volume
 * @doc: set to the whole answer (free it), NULL if cmkd does not answer
 *
 * Return: the volume's object inside *@doc, or NULL.
 */
const char *cmkd_status_volume(const char *sock, const char *name,
			       char **doc)
{
	const char *vols, *v;
	char n[CMK_DM_NAME_MAX];
	size_t i;

	if (cmkd_request(sock, "status", 10, doc))
		return NULL;
	vols = cmk_json_member(*doc, "volumes");
	for (i = 0; vols && (v = cmk_json_item(vols, i)); i++)
		if (!strcmp(jtext(v, "name", n, sizeof(n)), name))
			return v;
	return NULL;
}

/* "2026-11-28T06:30:00Z" as "06:30:00" (today's date is implied). */
static const char *short_time(const char *iso)
{
	return strlen(iso) == 20 && iso[10] == 'T' ? iso + 11 : iso[0] ?
		iso : "-";
}

/**
 * cmkd_status_list() - cmkd's part of "cmkctl status"
 * @sock: control socket
 * @json: print ,"cmkd":... (inside the caller's object) instead of text
 */
void cmkd_status_list(const char *sock, bool json)
{
	char name[CMK_DM_NAME_MAX], state[32], reason[512], ok[32], lease[32];
	char since[32], pid[16], conf[256];
	const char *vols, *v, *daemon;
	char *doc = NULL;
	size_t i;

	if (cmkd_request(sock, "status", 10, &doc)) {
		if (json)
			printf(",\"cmkd\":null");
		return;
	}
	if (json) {
		printf(",\"cmkd\":%s", doc);
		free(doc);
		return;
	}
	daemon = cmk_json_member(doc, "cmkd");
	vols = cmk_json_member(doc, "volumes");
	printf("\ncmkd (pid %s, %s):\n", jtext(daemon, "pid", pid, sizeof(pid)),
	       jtext(daemon, "config", conf, sizeof(conf)));
	printf("%-20s %-12s %-9s %-13s %-13s %s\n", "VOLUME", "STATE", "SINCE",
	       "LAST_KEK_OK", "LEASE_UNTIL", "REASON");
	for (i = 0; vols && (v = cmk_json_item(vols, i)); i++) {
		jtext(v, "last_check_ok", ok, sizeof(ok));
		jtext(v, "lease_expires", lease, sizeof(lease));
		jtext(v, "since", since, sizeof(since));
		printf("%-20s %-12s %-9s %-13s %-13s %s\n",
		       jtext(v, "name", name, sizeof(name)),
		       jtext(v, "state", state, sizeof(state)),
		       short_time(since), short_time(ok), short_time(lease),
		       jtext(v, "reason", reason, sizeof(reason))[0] ?
		       reason : "-");
	}
	free(doc);
}

/**
 * cmkd_volume_text() - cmkd's view of one volume, for people
 * @v: the volume's object from cmkd_status_volume()
 */
void cmkd_volume_text(const char *v)
{
	static const char *const fields[][2] = {
		{ "state", "cmkd state" }, { "reason", "reason" },
		{ "since", "since" }, { "device", "device" },
		{ "uuid", "volume uuid" }, { "kek", "KEK" },
		{ "kek_version", "KEK version" }, { "rotate", "rotate" },
		{ "last_check", "KEK checked" },
		{ "last_check_result", "check result" },
		{ "last_check_ok", "KEK last ok" },
		{ "lease_expires", "lease until" },
		{ "poll_s", "poll (s)" }, { "lease_s", "lease (s)" },
		{ "grace_s", "grace (s)" },
	};
	const char *list, *e;
	char buf[1024], t[32];
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		printf("%-15s %s\n", fields[i][1], jtext(v, fields[i][0], buf,
			sizeof(buf))[0] ? buf : "-");
	list = cmk_json_member(v, "events");
	printf("events:\n");
	for (i = 0; list && (e = cmk_json_item(list, i)); i++)
		printf("  %s  %s\n", jtext(e, "time", t, sizeof(t)),
		       jtext(e, "text", buf, sizeof(buf)));
	list = cmk_json_member(v, "audit");
	printf("audit (last records):\n");
	for (i = 0; list && (e = cmk_json_item(list, i)); i++) {
		const char *end = cmk_json_skip(e);

		printf("  %.*s\n", end ? (int)(end - e) : 0, e);
	}
}

/**
 * cmkd_volume_of_uuid() - the cmkd volume that has volume @uuid open
 * @sock: control socket
 * @uuid: the volume UUID
 * @name: set to its cmktab name
 * @size: bytes in @name
 *
 * Return: true if cmkd runs and has it mapped (available or degraded).
 */
bool cmkd_volume_of_uuid(const char *sock, const char *uuid, char *name,
			 size_t size)
{
	char u[CMK_UUID_STR_LEN + 1], st[32];
	const char *vols, *v;
	char *doc = NULL;
	bool found = false;
	size_t i;

	if (cmkd_request(sock, "status", 10, &doc))
		return false;
	vols = cmk_json_member(doc, "volumes");
	for (i = 0; vols && (v = cmk_json_item(vols, i)); i++) {
		if (strcmp(jtext(v, "uuid", u, sizeof(u)), uuid))
			continue;
		jtext(v, "state", st, sizeof(st));
		if (strcmp(st, "available") && strcmp(st, "degraded"))
			continue;
		jtext(v, "name", name, size);
		found = name[0];
		break;
	}
	free(doc);
	return found;
}

/**
 * cmkd_kek_versions() - the KEK versions cmkd watches, volume by volume
 * @sock: control socket
 * @fn: called with each volume's name, uuid, KEK URI (as its header
 *	records it), version and public key hash ("" if none)
 * @arg: passed to @fn
 *
 * Return: 0, or -ENOENT when cmkd does not run.
 */
int cmkd_kek_versions(const char *sock,
		      void (*fn)(const char *name, const char *uuid,
				 const char *uri, const char *version,
				 const char *pub, void *arg),
		      void *arg)
{
	char n[CMK_DM_NAME_MAX], u[CMK_UUID_STR_LEN + 1], k[1024], ver[128];
	char pub[CMK_KEK_PUB_HEX_LEN];
	const char *vols, *v;
	char *doc = NULL;
	size_t i;
	int r;

	r = cmkd_request(sock, "status", 10, &doc);
	if (r)
		return no_daemon(r) ? -ENOENT : r;
	vols = cmk_json_member(doc, "volumes");
	for (i = 0; vols && (v = cmk_json_item(vols, i)); i++) {
		if (!jtext(v, "kek_key", k, sizeof(k))[0])
			continue;
		jtext(v, "kek_pub", pub, sizeof(pub));
		fn(jtext(v, "name", n, sizeof(n)), jtext(v, "uuid", u, sizeof(u)),
		   k, jtext(v, "kek_version", ver, sizeof(ver)), pub, arg);
	}
	free(doc);
	return 0;
}

/**
 * cmkd_kek_rotate_request() - have cmkd rotate the KEK of a volume it has open
 * @sock: control socket
 * @name: the volume's cmktab name
 * @version: the new version, or NULL
 * @to: the new KEK's URI, or NULL for a newer version of the current key
 * @json: print cmkd's answer as is
 *
 * cmkd rotates the header and moves its KEK checks to the new KEK in one
 * step: the old KEK may be disabled as soon as this returns.
 *
 * Return: an exit code.
 */
int cmkd_kek_rotate_request(const char *sock, const char *name,
			    const char *version, const char *to, bool json)
{
	char req[CMKD_REQ_LINE], result[16], reason[512], cls[32];
	char fv[128], tv[128], fu[1024], tu[1024];
	const char *from, *dest;
	char *reply = NULL;
	int r;

	if ((version && strpbrk(version, " \t\r\n")) ||
	    (to && strpbrk(to, " \t\r\n")))
		return usage_error("kek-rotate", "kek-rotate: a version or URI with white space cannot be sent to cmkd");
	if (snprintf(req, sizeof(req), "kek-rotate %s %s%s%s", name,
		     version ? version : "-", to ? " " : "", to ? to : "") >=
	    (int)sizeof(req))
		return usage_error("kek-rotate", "kek-rotate: URI too long");
	r = cmkd_request(sock, req, 300, &reply);
	if (r) {
		error("rotating the KEK of %s: %s", name, no_daemon(r) ?
		      "cmkd is not running (no control socket)" :
		      r == -ETIMEDOUT ? "no answer from cmkd in time" :
		      strerror(-r));
		return EXIT_FAIL;
	}
	jtext(reply, "result", result, sizeof(result));
	jtext(reply, "reason", reason, sizeof(reason));
	jtext(reply, "class", cls, sizeof(cls));
	if (json) {
		printf("%s\n", reply);
	} else if (!strcmp(result, "ok")) {
		from = cmk_json_member(reply, "from");
		dest = cmk_json_member(reply, "to");
		printf("%s: KEK rotated by cmkd, which now checks the new KEK\n  from %s version %s\n  to   %s version %s\n",
		       name, jtext(from, "uri", fu, sizeof(fu)),
		       jtext(from, "version", fv, sizeof(fv)),
		       jtext(dest, "uri", tu, sizeof(tu)),
		       jtext(dest, "version", tv, sizeof(tv)));
	}
	free(reply);
	if (!strcmp(result, "ok"))
		return EXIT_OK;
	error("rotating the KEK of %s: %s", name, reason[0] ? reason :
	      "refused by cmkd");
	return strstr(reason, "no enabled version newer") ? EXIT_VAULT :
	       cls[0] && strcmp(cls, "ok") ? EXIT_VAULT : EXIT_FAIL;
}
