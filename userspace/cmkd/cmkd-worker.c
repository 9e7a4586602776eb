// SPDX-License-Identifier: GPL-2.0
/*
 * cmkd's vault workers: the threads that talk to vaults and read headers.
 * One runs the KEK checks, the other the opens (finding the device,
 * reading its header, unlocking): a device whose header is slow to read or
 * crafted to be expensive never delays a KEK check.  A vault that hangs
 * blocks a worker only; the main thread keeps renewing leases, serving the
 * control socket and counting the grace period, and tears the volumes down
 * once a check is overdue for longer than their grace.
 *
 * Every job opens the vault afresh (a new session and login, the PIN file
 * read again), so that a PIN that was changed or a permission that was
 * withdrawn is noticed by the next check, not hidden by an old session.
 */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmkd.h"

/* A worker and its queue, one per job type. */
struct cmkd_worker {
	pthread_t thread;
	pthread_cond_t cond;
	struct cmkd_job *head, *tail;
};

static struct cmkd_worker cmkd_workers[] = {
	[CMKD_JOB_OPEN] = { .cond = PTHREAD_COND_INITIALIZER },
	[CMKD_JOB_CHECK] = { .cond = PTHREAD_COND_INITIALIZER },
};

#define CMKD_WORKERS (sizeof(cmkd_workers) / sizeof(cmkd_workers[0]))

static pthread_mutex_t cmkd_worker_lock = PTHREAD_MUTEX_INITIALIZER;
static bool cmkd_worker_quit;
static int cmkd_worker_pipe[2] = { -1, -1 };

/**
 * cmkd_job_free() - free a job, wiping any keys it still holds
 * @job: the job, may be NULL
 */
void cmkd_job_free(struct cmkd_job *job)
{
	if (!job)
		return;
	cmk_volume_keys_wipe(&job->keys);
	cmk_hdr_free(job->h);
	free(job->uri);
	free(job->pin_file);
	free(job->module);
	free(job->vk_fingerprint);
	free(job->audit_log);
	free(job->device);
	free(job->header);
	free(job);
}

static double cmkd_elapsed_ms(uint64_t start)
{
	return (double)(cmkd_now_ms() - start);
}

static int cmkd_job_failk(struct cmkd_job *job, enum cmk_volume_fail kind,
			  int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cmkd_job_failk(struct cmkd_job *job, enum cmk_volume_fail kind,
			  int ret, const char *fmt, ...)
{
	va_list ap;

	job->err.kind = kind;
	va_start(ap, fmt);
	vsnprintf(job->err.msg, sizeof(job->err.msg), fmt, ap);
	va_end(ap);
	return ret;
}

/* Open the vault of @uri for @job; fills @job->err on failure. */
static int cmkd_job_vault(struct cmkd_job *job, const char *uri,
			  struct cmk_vault **vp)
{
	struct cmk_vault_ctx ctx = { .uuid = job->uuid };
	struct cmk_vault_options opt = { 0 };
	int ret;

	if (job->pin_file) {
		opt.pin = CMK_VAULT_PIN_FILE;
		opt.pin_arg = job->pin_file;
	}
	opt.module = job->module;
	opt.device_uri = job->device_uri;
	opt.audit_path = job->audit_log;
	opt.audit_syslog = true;
	ret = cmk_vault_open(uri, &opt, &ctx, vp, &job->err.vault);
	if (ret)
		cmkd_job_failk(job, CMK_VOLUME_FAIL_VAULT, ret,
			       "opening the vault: %s", job->err.vault.msg);
	return ret;
}

/* Find the device, read the header, check it is the volume asked for. */
static int cmkd_job_header(struct cmkd_job *job)
{
	const char *src;
	struct cmk_hdr_read_info info;
	char u[CMK_UUID_STR_LEN];
	struct stat st;
	int fd, ret;

	if (job->device) {
		snprintf(job->dev, sizeof(job->dev), "%s", job->device);
	} else {
		ret = cmk_volume_find_device(job->uuid, job->dev,
					     sizeof(job->dev));
		if (ret < 0)
			return cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM, ret, ret == -ENOTUNIQ ?
					     "more than one device holds volume %s; name the device in cmktab" :
					     "looking for volume %s: %s",
					     job->uuid, strerror(-ret));
		if (!ret)
			return cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM, -ENODEV,
					     "no device holds volume %s (yet)",
					     job->uuid);
	}
	src = job->header ? job->header : job->dev;
	fd = cmk_file_open(src, O_RDONLY, CMK_FILE_REG | CMK_FILE_BLK, &st);
	if (fd < 0)
		return cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM, fd, "opening %s: %s", src,
				     fd == -ENOTBLK ?
				     "not a block device or regular file" :
				     strerror(-fd));
	ret = cmk_hdr_read(fd, &job->h, &info);
	close(fd);
	if (ret) {
		return cmkd_job_failk(job, ret == -EIO ?
				      CMK_VOLUME_FAIL_SYSTEM :
				      CMK_VOLUME_FAIL_HEADER, ret,
				      "reading the header of %s: %s", src,
				      info.why[0] ? info.why[0] :
				      strerror(-ret));
	}
	cmk_uuid_format(job->h->uuid, u);
	if (job->uuid[0] && strcmp(u, job->uuid)) {
		return cmkd_job_failk(job, CMK_VOLUME_FAIL_HEADER, -EUCLEAN,
				      "%s holds volume %s, not %s", src, u,
				      job->uuid);
	}
	memcpy(job->uuid, u, sizeof(u));
	return 0;
}

static void cmkd_job_try(struct cmkd_job *job)
{
	struct cmk_vault *v = NULL;

	cmk_volume_keys_wipe(&job->keys);
	cmk_hdr_free(job->h);
	job->h = NULL;
	memset(&job->err, 0, sizeof(job->err));
	job->err.extent = -1;
	if (job->type == CMKD_JOB_OPEN) {
		job->ret = cmkd_job_header(job);
		if (!job->ret)
			job->ret = cmkd_job_vault(job, job->uri ? job->uri :
						  job->h->kek.uri, &v);
		if (!job->ret)
			job->ret = cmk_volume_unlock(job->h, v, &job->keys,
						     &job->err);
		/* Before any table is loaded: the volume this host knows? */
		if (!job->ret) {
			job->pin_opts.fingerprint = job->vk_fingerprint;
			job->pin_opts.record = true;
			job->ret = cmk_volume_trust(job->h, &job->keys,
						    &job->pin_opts, &job->pin,
						    &job->err);
			if (job->ret)
				cmk_volume_keys_wipe(&job->keys);
		}
	} else {
		job->chk.ext = &job->chk_ext;
		job->ret = cmkd_job_vault(job, job->uri, &v);
		if (!job->ret)
			job->ret = cmk_volume_check_kek(&job->chk, v,
							&job->err);
	}
	if (v)
		cmk_vault_close(v);
}

/*
 * A transient failure is tried again at once, once: the vault's modules
 * stay loaded between jobs (cmk_vault_pkcs11_keep_modules()), and the first
 * call after a vault restart fails on the old connection, which the failed
 * call marks for a fresh start.  Only a vault that is really away costs a
 * failed check.
 */
static void cmkd_job_run(struct cmkd_job *job)
{
	uint64_t start = cmkd_now_ms();

	cmkd_job_try(job);
	if (job->ret && job->err.kind == CMK_VOLUME_FAIL_VAULT &&
	    job->err.vault.cls == CMK_VAULT_TRANSIENT)
		cmkd_job_try(job);
	job->ms = cmkd_elapsed_ms(start);
}

static void *cmkd_worker_main(void *arg)
{
	struct cmkd_worker *w = arg;
	struct cmkd_job *job;
	ssize_t n;

	for (;;) {
		pthread_mutex_lock(&cmkd_worker_lock);
		while (!w->head && !cmkd_worker_quit)
			pthread_cond_wait(&w->cond, &cmkd_worker_lock);
		if (cmkd_worker_quit) {
			pthread_mutex_unlock(&cmkd_worker_lock);
			return NULL;
		}
		job = w->head;
		w->head = job->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&cmkd_worker_lock);

		job->next = NULL;
		cmkd_job_run(job);
		/* A pointer is less than PIPE_BUF: the two workers' writes never mix. */
		do {
			n = write(cmkd_worker_pipe[1], &job, sizeof(job));
		} while (n < 0 && errno == EINTR);
		if (n != sizeof(job))
			cmkd_job_free(job);
	}
}

/**
 * cmkd_worker_start() - start the vault workers (opens, KEK checks)
 * @result_fd: set to the pipe the main thread polls for results
 *
 * Return: 0 or a negative errno.
 */
int cmkd_worker_start(int *result_fd)
{
	size_t i;
	int r;

	if (pipe2(cmkd_worker_pipe, O_CLOEXEC))
		return -errno;
	for (i = 0; i < CMKD_WORKERS; i++) {
		r = pthread_create(&cmkd_workers[i].thread, NULL,
				   cmkd_worker_main, &cmkd_workers[i]);
		if (r) {
			/* Those started only leave once the process does. */
			cmkd_worker_stop();
			return -r;
		}
	}
	*result_fd = cmkd_worker_pipe[0];
	return 0;
}

/**
 * cmkd_worker_stop() - stop the workers once their current jobs are done
 *
 * Queued jobs are dropped.  A worker stuck in a vault call or a device
 * read is left behind: the process exits anyway.
 */
void cmkd_worker_stop(void)
{
	struct cmkd_worker *w;
	struct cmkd_job *job;
	size_t i;

	pthread_mutex_lock(&cmkd_worker_lock);
	cmkd_worker_quit = true;
	for (i = 0; i < CMKD_WORKERS; i++) {
		w = &cmkd_workers[i];
		while ((job = w->head)) {
			w->head = job->next;
			cmkd_job_free(job);
		}
		w->tail = NULL;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&cmkd_worker_lock);
}

/**
 * cmkd_worker_submit() - queue a job; its result comes back on the pipe
 * @job: the job, owned by the workers until it comes back
 *
 * Opens and KEK checks go to separate workers and may come back in either
 * order.
 */
void cmkd_worker_submit(struct cmkd_job *job)
{
	struct cmkd_worker *w = &cmkd_workers[job->type];

	job->next = NULL;
	pthread_mutex_lock(&cmkd_worker_lock);
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&cmkd_worker_lock);
}

/**
 * cmkd_worker_result() - take one finished job from the result pipe
 * @result_fd: from cmkd_worker_start()
 *
 * Return: the job, or NULL if none could be read.
 */
struct cmkd_job *cmkd_worker_result(int result_fd)
{
	struct cmkd_job *job;
	ssize_t r;

	do {
		r = read(result_fd, &job, sizeof(job));
	} while (r < 0 && errno == EINTR);
	return r == sizeof(job) ? job : NULL;
}
