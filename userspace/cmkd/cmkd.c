// SPDX-License-Identifier: GPL-2.0
/*
 * cmkd: the dm-cmk key daemon (see cmkd.h and cmkd(8)).
 *
 *   cmkd [--config FILE] [--socket PATH] [--audit-log FILE] [--foreground]
 *   cmkd --check [--config FILE]
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cmkd.h"

/**
 * cmkd_now_ms() - monotonic milliseconds
 *
 * Return: CLOCK_MONOTONIC in ms (boot-relative; never 0 in practice).
 */
uint64_t cmkd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cmkd [OPTION]...\n"
		"The dm-cmk key daemon: opens the volumes of cmktab, renews their kernel\n"
		"leases, checks their KEKs and takes a volume offline when its KEK is lost.\n"
		"\n"
		"  -c, --config FILE     volumes to manage (default %s)\n"
		"  -s, --socket PATH     control socket (default %s)\n"
		"  -a, --audit-log FILE  audit log (default %s)\n"
		"  -f, --foreground      log to stderr instead of the journal\n"
		"  -t, --check           check the configuration and exit\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"Exit status: 0 stopped by a signal, or --check found no problem;\n"
		"1 usage; 2 cannot start; 4 --check found problems.\n"
		"See cmkd(8) and cmktab(5).\n",
		CMKD_DEFAULT_TAB, CMKD_DEFAULT_SOCKET, CMKD_DEFAULT_AUDIT);
}

static void cmkd_tab_report(void *arg, const char *path, unsigned int line,
			    const char *msg)
{
	bool *quiet = arg;

	if (*quiet)
		fprintf(stderr, "%s:%u: %s\n", path, line, msg);
	else
		cmkd_log(LOG_ERR, NULL, NULL, "%s:%u: %s (line skipped)", path,
			 line, msg);
}

/* Tell systemd how many volumes are up and which are waiting. */
static void cmkd_status_line(struct cmkd *d)
{
	static char last[512];
	char line[512], waiting[384] = "";
	size_t i, up = 0, wait = 0, off = 0, pend = 0;

	for (i = 0; i < d->nvols; i++) {
		const struct cmkd_volume *v = &d->vols[i];

		if (v->state == CMKD_AVAILABLE || v->state == CMKD_DEGRADED) {
			up++;
		} else if (v->state == CMKD_OPENING) {
			wait++;
			if (off < sizeof(waiting) - 1)
				off += snprintf(waiting + off,
						sizeof(waiting) - off, "%s%s",
						wait > 1 ? " " : "",
						v->e->name);
		}
		if (v->state == CMKD_OPENING && v->attempts == 0)
			pend++;
	}
	snprintf(line, sizeof(line), "%zu of %zu volumes available%s%s",
		 up, d->nvols, wait ? "; waiting: " : "", waiting);
	if (strcmp(line, last)) {
		snprintf(last, sizeof(last), "%s", line);
		cmkd_notify("STATUS=%s", line);
	}
	/* Ready once every volume has had its first try. */
	if (!d->ready && !pend) {
		for (i = 0; i < d->nvols; i++)
			if (d->vols[i].open_pending && d->vols[i].attempts <= 1)
				return;
		d->ready = true;
		cmkd_notify("READY=1\nSTATUS=%s", line);
		cmkd_log(LOG_INFO, NULL, NULL, "ready: %s", line);
	}
}

/* At exit: udev's late work for cmkd's mappings, for a few seconds more. */
static void cmkd_udev_drain(void)
{
	int i;

	for (i = 0; i < 50 && cmk_dm_udev_reap(); i++)
		usleep(100000);
	if (i == 50)
		cmkd_log(LOG_WARNING, NULL, NULL,
			 "udev has not finished with %u of cmkd's mappings; not waiting",
			 cmk_dm_udev_reap());
}

static int cmkd_loop(struct cmkd *d, int sfd)
{
	struct pollfd pfd[3 + CMKD_CONN_MAX] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = d->ctl_fd, .events = POLLIN },
		{ .fd = d->result_fd, .events = POLLIN },
	};
	struct signalfd_siginfo si;
	struct cmkd_job *job;
	int nconn;

	while (!d->stop) {
		cmk_dm_udev_reap();
		nconn = cmkd_ctl_pollfds(pfd + 3);
		if (poll(pfd, 3 + nconn, CMKD_TICK_MS) < 0) {
			if (errno != EINTR)
				return -errno;
			continue;
		}
		if (pfd[0].revents & POLLIN &&
		    read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				cmkd_reap();
			else if (si.ssi_signo != SIGHUP)
				d->stop = true;
			else
				cmkd_log(LOG_NOTICE, NULL, NULL,
					 "SIGHUP: cmktab is read at start only; restart cmkd to apply changes");
		}
		if (pfd[2].revents & POLLIN) {
			job = cmkd_worker_result(d->result_fd);
			if (job)
				cmkd_job_done(d, job);
		}
		if (pfd[1].revents & POLLIN)
			cmkd_ctl_accept(d);
		cmkd_ctl_serve(d, pfd + 3, nconn);
		cmkd_volumes_tick(d);
		cmkd_status_line(d);
	}
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "audit-log", required_argument, NULL, 'a' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmkd d = {
		.tab_path = CMKD_DEFAULT_TAB,
		.socket_path = CMKD_DEFAULT_SOCKET,
		.audit_path = CMKD_DEFAULT_AUDIT,
		.audit_fd = -1,
		.ctl_fd = -1,
		.result_fd = -1,
	};
	bool check = false, quiet;
	sigset_t mask;
	int opt, r, sfd, ret = 2;

	while ((opt = getopt_long(argc, argv, "c:s:a:ftVh", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			d.tab_path = optarg;
			break;
		case 's':
			d.socket_path = optarg;
			break;
		case 'a':
			d.audit_path = optarg;
			break;
		case 'f':
			d.foreground = true;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("cmkd %s\n", CMKD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "cmkd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 1;
	}

	/* No core dumps and no ptrace by other users: keys pass through. */
	prctl(PR_SET_DUMPABLE, 0);
	cmkd_log_init(d.foreground || check);
	quiet = check;
	r = cmk_tab_load(d.tab_path, &d.tab, cmkd_tab_report, &quiet);
	if (r < 0) {
		fprintf(stderr, "cmkd: error: reading %s: %s\n", d.tab_path,
			strerror(-r));
		cmkd_log(LOG_ERR, NULL, NULL, "reading %s: %s", d.tab_path,
			 strerror(-r));
		return 2;
	}
	if (check) {
		printf("%s: %zu volume%s, %d bad line%s\n", d.tab_path,
		       d.tab.count, d.tab.count == 1 ? "" : "s", r,
		       r == 1 ? "" : "s");
		cmk_tab_free(&d.tab);
		return r ? 4 : 0;
	}
	if (!d.tab.count)
		cmkd_log(LOG_WARNING, NULL, NULL, "%s: no volumes", d.tab_path);

	d.audit_fd = cmk_audit_open(d.audit_path);
	if (d.audit_fd < 0)
		cmkd_log(LOG_WARNING, NULL, NULL,
			 "audit log %s: %s; auditing to syslog only",
			 d.audit_path, strerror(-d.audit_fd));

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	/* Before the workers start, so that they inherit the mask. */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		cmkd_log(LOG_ERR, NULL, NULL, "signalfd: %s", strerror(errno));
		goto out;
	}
	srandom((unsigned int)(getpid() ^ cmkd_now_ms()));
	/* A check every few seconds: no module load or server connection each. */
	cmk_vault_pkcs11_keep_modules(true);
	r = cmkd_ctl_open(&d);
	if (r) {
		cmkd_log(LOG_ERR, NULL, NULL, "control socket %s: %s",
			 d.socket_path, r == -EADDRINUSE ?
			 "another cmkd is running" : r == -ENOTSOCK ?
			 "exists and is not a socket (not replaced)" :
			 strerror(-r));
		goto out;
	}
	/*
	 * udev probes every mapping cmkd creates; on a slow device that
	 * takes as long as its reads.  The main loop renews leases: it
	 * waits for udev a moment only, and finishes the rest as it goes.
	 */
	cmk_dm_set_udev_wait(CMKD_UDEV_WAIT_MS);
	r = cmkd_worker_start(&d.result_fd);
	if (!r)
		r = cmkd_volumes_init(&d);
	if (r) {
		cmkd_log(LOG_ERR, NULL, NULL, "starting: %s", strerror(-r));
		goto out;
	}
	/* The process keyring holds the lease keys; create it now. */
	cmkd_log(LOG_INFO, NULL, NULL,
		 "cmkd %s started: %zu volume%s from %s, control socket %s",
		 CMKD_VERSION, d.nvols, d.nvols == 1 ? "" : "s", d.tab_path,
		 d.socket_path);
	r = cmkd_loop(&d, sfd);
	cmkd_notify("STOPPING=1");
	cmkd_shutdown(&d);
	cmkd_worker_stop();
	cmkd_udev_drain();
	cmkd_log(LOG_INFO, NULL, NULL, "cmkd stopped");
	ret = r ? 2 : 0;
out:
	cmkd_ctl_close(&d);
	cmk_tab_free(&d.tab);
	free(d.vols);
	if (d.audit_fd >= 0)
		close(d.audit_fd);
	return ret;
}
