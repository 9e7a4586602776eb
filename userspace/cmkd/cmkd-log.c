// SPDX-License-Identifier: GPL-2.0
/*
 * cmkd's outputs: structured journal messages (the journal's native
 * protocol, no libsystemd needed; stderr in the foreground or without a
 * journal), sd_notify(3) status, the alert hook and audit records.
 * Nothing here ever sees key bytes or a PIN.
 */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "cmkd.h"

extern char **environ;

#define CMKD_JOURNAL_SOCKET	"/run/systemd/journal/socket"

/* MESSAGE_IDs of cmkd's journal messages, for journalctl MESSAGE_ID=. */
static const struct {
	const char *event;
	const char *id;
} cmkd_msg_ids[] = {
	{ "available",    "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c35" },
	{ "degraded",     "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c36" },
	{ "inaccessible", "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c37" },
	{ "waiting",      "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c38" },
	{ "closed",       "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c39" },
	{ "kek-rotated",  "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c3a" },
	{ "kek-rotate-failed", "3b0c5e9a7d8f4e1c9a2b6d4f8e0a1c3b" },
};

static bool cmkd_log_stderr = true;
/* The journal's socket; $CMKD_JOURNAL_SOCKET replaces it (for tests). */
static const char *cmkd_journal = CMKD_JOURNAL_SOCKET;

void cmkd_buf_printf(struct cmkd_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t want;
	char *p;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p ? b->p + b->len : NULL,
		      b->p ? b->size - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (b->p && b->len + n < b->size) {
		b->len += n;
		return;
	}
	want = (b->size ? b->size * 2 : 256) + n;
	p = realloc(b->p, want);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->size = want;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	b->len += n;
}

/**
 * cmkd_buf_json() - append a JSON string (quoted, escaped), or null
 * @b: the buffer
 * @s: the string, NULL for null
 */
void cmkd_buf_json(struct cmkd_buf *b, const char *s)
{
	if (!s) {
		cmkd_buf_printf(b, "null");
		return;
	}
	cmkd_buf_printf(b, "\"");
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			cmkd_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			cmkd_buf_printf(b, "\\u%04x", c);
		else
			cmkd_buf_printf(b, "%c", c);
	}
	cmkd_buf_printf(b, "\"");
}

void cmkd_buf_free(struct cmkd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/**
 * cmkd_log_init() - choose where messages go
 * @foreground: stderr (else the journal when there is one, else stderr)
 */
void cmkd_log_init(bool foreground)
{
	const char *j = getenv("CMKD_JOURNAL_SOCKET");

	if (j && *j == '/' && strlen(j) < sizeof(((struct sockaddr_un *)0)->sun_path))
		cmkd_journal = j;
	cmkd_log_stderr = foreground || access(cmkd_journal, W_OK);
	openlog("cmkd", LOG_PID, LOG_DAEMON);
}

/* One datagram in the journal's native format; newline-free values. */
static void cmkd_journal_send(const char *msg, int prio,
			      const struct cmkd_volume *v, const char *event)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cmkd_buf b = { 0 };
	size_t i;
	int fd;

	cmkd_buf_printf(&b, "MESSAGE=%s\nPRIORITY=%d\nSYSLOG_IDENTIFIER=cmkd\n",
			msg, prio);
	if (v) {
		char reason[sizeof(v->reason) * 4];

		cmkd_buf_printf(&b, "CMK_VOLUME=%s\nCMK_UUID=%s\nCMK_STATE=%s\nCMK_REASON=%s\n",
				v->e->name, v->uuid, cmkd_state_name(v->state),
				cmk_text_escape(v->reason, reason, sizeof(reason)));
	}
	if (event) {
		cmkd_buf_printf(&b, "CMK_EVENT=%s\n", event);
		for (i = 0; i < sizeof(cmkd_msg_ids) / sizeof(cmkd_msg_ids[0]); i++)
			if (!strcmp(cmkd_msg_ids[i].event, event))
				cmkd_buf_printf(&b, "MESSAGE_ID=%s\n",
						cmkd_msg_ids[i].id);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !b.oom) {
		strcpy(sa.sun_path, cmkd_journal);
		if (sendto(fd, b.p, b.len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			   sizeof(sa)) < 0)
			syslog(prio, "%s", msg);
	}
	if (fd >= 0)
		close(fd);
	cmkd_buf_free(&b);
}

/**
 * cmkd_log() - log a message, about a volume or not
 * @prio: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO
 * @v: the volume, or NULL
 * @event: the state event ("inaccessible"...) for MESSAGE_ID, or NULL
 * @fmt: the message
 */
void cmkd_log(int prio, const struct cmkd_volume *v, const char *event,
	      const char *fmt, ...)
{
	char raw[1024], msg[1024], line[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Fields from a header or a vault: one line, no terminal escapes. */
	cmk_text_escape(raw, msg, sizeof(msg));
	if (v)
		snprintf(line, sizeof(line), "%s: %s", v->e->name, msg);
	else
		snprintf(line, sizeof(line), "%s", msg);
	if (cmkd_log_stderr) {
		struct timespec ts;
		char stamp[32];
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ cmkd: %s%s\n", stamp,
			ts.tv_nsec / 1000000, prio <= LOG_ERR ? "error: " :
			prio == LOG_WARNING ? "warning: " : "", line);
	} else {
		cmkd_journal_send(line, prio, v, event);
	}
}

/**
 * cmkd_notify() - tell systemd (Type=notify) something, if it listens
 * @fmt: e.g. "READY=1\nSTATUS=..."
 */
void cmkd_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	char msg[1024];
	va_list ap;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

/**
 * cmkd_alert() - run the volume's alert hook, if it has one
 * @v: the volume, in its new state
 * @event: "inaccessible", "degraded", "available", "closed",
 *	"kek-rotated" or "kek-rotate-failed"
 *
 * The hook gets no arguments and no secrets; its environment is the
 * daemon's plus CMK_EVENT, CMK_VOLUME, CMK_UUID, CMK_DEVICE, CMK_STATE,
 * CMK_REASON, CMK_CLASS and CMK_TIME (UTC, ISO 8601).  It runs in the
 * background with stdin on /dev/null; cmkd does not wait for it.  It
 * starts with no signal blocked and every signal at its default action,
 * whatever cmkd blocks for its own signalfd.
 */
void cmkd_alert(const struct cmkd_volume *v, const char *event)
{
	char *argv[2], *env[64], vars[8][PATH_MAX + 32], stamp[32];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	struct tm tm;
	size_t n = 0, i;
	time_t now;
	pid_t pid;
	int r;

	if (!v->e->alert)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(vars[0], sizeof(vars[0]), "CMK_EVENT=%s", event);
	snprintf(vars[1], sizeof(vars[1]), "CMK_VOLUME=%s", v->e->name);
	snprintf(vars[2], sizeof(vars[2]), "CMK_UUID=%s", v->uuid);
	snprintf(vars[3], sizeof(vars[3]), "CMK_DEVICE=%s", v->dev);
	snprintf(vars[4], sizeof(vars[4]), "CMK_STATE=%s",
		 cmkd_state_name(v->state));
	snprintf(vars[5], sizeof(vars[5]), "CMK_REASON=%s", v->reason);
	snprintf(vars[6], sizeof(vars[6]), "CMK_CLASS=%s",
		 cmk_vault_class_name(v->cls));
	snprintf(vars[7], sizeof(vars[7]), "CMK_TIME=%s", stamp);
	for (i = 0; environ[i] && n < 64 - 9; i++)
		if (strncmp(environ[i], "CMK_", 4))
			env[n++] = environ[i];
	for (i = 0; i < 8; i++)
		env[n++] = vars[i];
	env[n] = NULL;
	argv[0] = v->e->alert;
	argv[1] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
					POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, v->e->alert, &fa, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		cmkd_log(LOG_ERR, v, NULL, "alert hook %s: %s", v->e->alert,
			 strerror(r));
}

/**
 * cmkd_reap() - collect finished alert hooks, logging failures
 */
void cmkd_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			cmkd_log(LOG_WARNING, NULL, NULL,
				 "alert hook (pid %d) failed: %s %d", (int)pid,
				 WIFEXITED(status) ? "exit" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) :
				 WTERMSIG(status));
}

/**
 * cmkd_audit() - write an audit record about a volume
 * @d: the daemon
 * @v: the volume
 * @op: "activate", "teardown", "revalidate", "close"
 * @cls: the result, CMK_VAULT_OK for success
 *
 * The record has the format of the vault calls' records (see
 * cmk_audit_record()) and goes to the volume's audit log, else the
 * daemon's, and to syslog.
 */
void cmkd_audit(struct cmkd *d, const struct cmkd_volume *v, const char *op,
		enum cmk_vault_class cls)
{
	struct cmk_vault_ctx ctx = { .uuid = v->uuid[0] ? v->uuid : NULL };
	int fd = d->audit_fd;

	if (v->e->audit_log)
		fd = cmk_audit_open(v->e->audit_log);
	cmk_audit_record(fd, true, op, &ctx, v->kek ? v->kek->safe_uri : NULL,
			 v->h ? v->h->kek.key_version : NULL, cls, 0);
	if (v->e->audit_log && fd >= 0)
		close(fd);
}
