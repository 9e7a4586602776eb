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
#include <sys/stat.h>
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

/* Rotations read and write headers: they queue behind the opens. */
static struct cmkd_worker *cmkd_worker_of(const struct cmkd_job *job)
{
	return &cmkd_workers[job->type == CMKD_JOB_CHECK ? CMKD_JOB_CHECK :
			     CMKD_JOB_OPEN];
}

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
	free(job->to_uri);
	free(job->to_version);
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

/* Open the vault of @uri with the settings it names, not cmktab's. */
static int cmkd_job_vault_own(struct cmkd_job *job, const char *uri,
			      struct cmk_vault **vp)
{
	char *pin_file = job->pin_file, *module = job->module;
	bool device_uri = job->device_uri;
	int ret;

	job->pin_file = NULL;
	job->module = NULL;
	job->device_uri = false;
	ret = cmkd_job_vault(job, uri, vp);
	job->pin_file = pin_file;
	job->module = module;
	job->device_uri = device_uri;
	return ret;
}

/* Open the vault of a staged KEK (cmk_volume_unlock_vk()). */
static struct cmk_vault *cmkd_job_staged(const char *uri, void *arg)
{
	struct cmkd_job *job = arg;
	struct cmk_volume_error saved = job->err;
	struct cmk_vault *v = NULL;
	bool device_uri = job->device_uri;

	job->device_uri = true;
	if (cmkd_job_vault(job, uri, &v))
		v = NULL;
	job->device_uri = device_uri;
	job->err = saved;
	return v;
}

/*
 * Rotate the KEK of the volume's header: the header read and locked, the
 * volume key unwrapped (current KEK, or the staged one of an interrupted
 * rotation), the volume checked to be the one open (its fingerprint), then
 * cmk_volume_kek_rotate().  On failure after the header may have changed,
 * the header is read back into @job->h so that the main thread follows it.
 */
static int cmkd_job_rotate(struct cmkd_job *job, struct cmk_vault **vp)
{
	const char *src = job->header ? job->header : job->device;
	struct cmk_vault *v_new = NULL;
	char key[CMK_HDR_URI_LEN], fp[CMK_VK_FP_LEN], u[CMK_UUID_STR_LEN];
	struct cmk_hdr_read_info info;
	struct cmk_volume_error e2;
	uint8_t *vk = NULL;
	bool staged;
	struct stat st;
	int fd, ret;

	fd = cmk_file_open(src, O_RDWR | O_CLOEXEC,
			   CMK_FILE_REG | CMK_FILE_BLK, &st);
	if (fd < 0)
		return cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM, fd,
				      "opening %s: %s", src, strerror(-fd));
	ret = cmk_volume_lock(fd, &job->err);
	if (ret)
		goto out;
	ret = cmk_hdr_read(fd, &job->h, &info);
	if (ret) {
		cmkd_job_failk(job, CMK_VOLUME_FAIL_HEADER, ret,
			       "reading the header of %s: %s", src,
			       info.why[0] ? info.why[0] : strerror(-ret));
		goto out;
	}
	cmk_uuid_format(job->h->uuid, u);
	if (strcmp(u, job->uuid)) {
		ret = cmkd_job_failk(job, CMK_VOLUME_FAIL_HEADER, -EUCLEAN,
				     "%s now holds volume %s, not %s", src, u,
				     job->uuid);
		goto out;
	}
	job->from = job->h->kek;
	if (cmkd_job_vault(job, job->uri, vp))
		*vp = NULL;
	ret = cmk_volume_unlock_vk(job->h, *vp, cmkd_job_staged, job, &vk,
				   fp, &staged, &job->err);
	if (ret)
		goto out;
	/*
	 * The volume this host knows (its pin, as at open; a volume-key
	 * rotation since then moved the pin with it), not one written over
	 * it by someone with the KEK's public key.
	 */
	{
		struct cmk_volume_keys keys = { 0 };

		memcpy(keys.fingerprint, fp, sizeof(keys.fingerprint));
		job->pin_opts.fingerprint = job->vk_fingerprint;
		job->pin_opts.record = false;
		ret = cmk_volume_trust(job->h, &keys, &job->pin_opts,
				       &job->pin, &job->err);
		if (!ret && !job->pin.pinned)
			ret = cmkd_job_failk(job, CMK_VOLUME_FAIL_HEADER,
					     -EKEYREJECTED,
					     "the header on %s is not pinned on this host: a rotation needs the volume this host knows",
					     src);
		if (ret)
			goto out;
	}
	if (job->to_uri) {
		bool device_uri = job->device_uri;

		/*
		 * A URI with settings of its own names another vault; one
		 * without is in the current KEK's vault, reached with its
		 * settings (the current URI's query, cmktab's options).
		 */
		if (cmk_vault_uri_has_settings(job->to_uri)) {
			ret = cmkd_job_vault_own(job, job->to_uri, &v_new);
		} else {
			const char *q = strchr(job->uri, '?');
			char *u;

			if (asprintf(&u, "%s%s", job->to_uri, q && !strchr(job->to_uri, '?') ?
				     q : "") < 0) {
				ret = cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM,
						     -ENOMEM, "out of memory");
				goto out;
			}
			job->device_uri = false;
			ret = cmkd_job_vault(job, u, &v_new);
			job->device_uri = device_uri;
			free(u);
		}
		if (ret)
			goto out;
		if (cmk_vault_uri_key(job->to_uri, key, sizeof(key))) {
			ret = cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM, -E2BIG,
					     "the new KEK's URI is too long");
			goto out;
		}
	} else if (!*vp) {
		ret = cmkd_job_failk(job, CMK_VOLUME_FAIL_VAULT, -EAGAIN,
				     "the current KEK's vault cannot be opened: %s",
				     job->err.vault.msg);
		goto out;
	}
	ret = cmk_volume_kek_rotate(fd, job->h, vk, v_new ? v_new : *vp,
				    job->to_uri ? key : NULL, job->to_version,
				    &job->resumed, &job->err);
	if (!ret && cmk_pin_record(NULL, job->h, NULL, &e2))
		/* The header is rotated: say so, and follow it anyway. */
		cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM, -EIO,
			       "this host's record of the volume was not updated: %s",
			       e2.msg);
	if (ret && ret != -ENOENT && ret != -EALREADY) {
		/* Whatever reached the device is what the volume is now. */
		cmk_hdr_free(job->h);
		job->h = NULL;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (cmk_hdr_read(fd, &job->h, &info))
			job->h = NULL;
	}
out:
	cmk_secure_free(vk);
	cmk_vault_close(v_new);
	close(fd);
	return ret;
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
		if (!job->ret) {
			char *uri = NULL;
			bool device_uri = job->device_uri;
			int r = cmkd_kek_uri(job->uri, job->to_uri,
					     job->h->kek.uri, &uri,
					     &job->device_uri);

			if (r)
				r = cmkd_job_failk(job, CMK_VOLUME_FAIL_SYSTEM,
						   r, "out of memory");
			/* An override carries its own vault's settings. */
			else if (job->to_uri)
				r = cmkd_job_vault_own(job, uri, &v);
			else
				r = cmkd_job_vault(job, uri, &v);
			job->device_uri = device_uri;
			free(uri);
			job->ret = r ? r : cmk_volume_unlock(job->h, v,
							     &job->keys,
							     &job->err);
		}
		/* Mid KEK rotation: the old KEK gone, the staged one. */
		if (job->ret && job->h &&
		    job->h->kek_state == CMK_KEK_ROT_STAGED &&
		    job->err.kind == CMK_VOLUME_FAIL_VAULT &&
		    job->err.vault.cls != CMK_VAULT_TRANSIENT &&
		    job->err.vault.cls != CMK_VAULT_CONFIG) {
			struct cmk_vault *vs = cmkd_job_staged(
				job->h->kek_new.uri, job);

			if (vs) {
				memset(&job->err, 0, sizeof(job->err));
				job->ret = cmk_volume_unlock_slot(job->h,
					&job->h->kek_new, vs, &job->keys,
					&job->err);
				cmk_vault_close(vs);
			}
		}
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
	} else if (job->type == CMKD_JOB_ROTATE) {
		job->ret = cmkd_job_rotate(job, &v);
	} else {
		job->chk.ext = &job->chk_ext;
		job->newest[0] = '\0';
		job->ret = cmkd_job_vault(job, job->uri, &v);
		if (!job->ret)
			job->ret = cmk_volume_check_kek(&job->chk, v,
							&job->err);
		/* rotate=auto: one list-versions call, after a good check. */
		if (!job->ret && job->list_versions) {
			struct cmk_vault_ctx ctx = { .uuid = job->uuid };
			struct cmk_vault_error e;

			if (cmk_vault_newest_version(v, &ctx,
						     job->chk.kek.key_version,
						     job->newest,
						     sizeof(job->newest), &e))
				job->newest[0] = '\0';
		}
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
	struct cmkd_worker *w = cmkd_worker_of(job);

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
