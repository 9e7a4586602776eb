// SPDX-License-Identifier: GPL-2.0
/*
 * Guest test of libcmk's kernel side: DEKs into the keyring as logon keys,
 * cmk mappings created, inspected, messaged, suspended and removed through
 * libdevmapper, DEK keys dropped once the table holds them.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <keyutils.h>

#include "kselftest_harness.h"
#include "libcmk.h"

#define NR_EXT	8
#define EXT	2048		/* sectors: 1 MiB extents */
#define LEN	(NR_EXT * EXT)

FIXTURE(dm)
{
	char img[64];
	char loop[64];
	char name[64];
	char prefix[64];
	uint8_t *deks;
	uint8_t *buf;
	struct cmk_table t;
	bool skip;
};

/* Run a command without a shell; return its exit status or -1. */
static int run(char *const argv[], char *out, size_t size)
{
	int pipefd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (out && (size_t)got < size - 1 &&
	       (n = read(pipefd[0], out + got, size - 1 - got)) > 0)
		got += n;
	if (out)
		out[got] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int node_io(const char *name, off_t off, void *buf, size_t len,
		   bool write)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/dev/mapper/%s", name);
	fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

FIXTURE_SETUP(dm)
{
	struct stat st;
	int fd;

	if (geteuid() || access("/sys/module/dm_cmk", F_OK)) {
		self->skip = true;
		SKIP(return, "needs root and dm-cmk loaded");
	}
	snprintf(self->img, sizeof(self->img), "/tmp/libcmk-dm.%d", getpid());
	snprintf(self->name, sizeof(self->name), "libcmkdm%d", getpid());
	snprintf(self->prefix, sizeof(self->prefix), "cmk:ld%d:", getpid());
	fd = open(self->img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, (off_t)LEN * 512));
	close(fd);

	char *losetup[] = { "losetup", "-f", "--show", self->img, NULL };
	ASSERT_EQ(0, run(losetup, self->loop, sizeof(self->loop)));
	self->loop[strcspn(self->loop, "\n")] = '\0';
	ASSERT_EQ(0, stat(self->loop, &st));

	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, 1 << 20));
	self->deks = cmk_secure_alloc(NR_EXT * CMK_DEK_SIZE);
	ASSERT_NE(NULL, self->deks);
	ASSERT_EQ(NR_EXT * CMK_DEK_SIZE,
		  getrandom(self->deks, NR_EXT * CMK_DEK_SIZE, 0));

	snprintf(self->t.dev, sizeof(self->t.dev), "%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	self->t.offset = 0;
	self->t.extent_sectors = EXT;
	self->t.sector_size = 4096;
	snprintf(self->t.key_prefix, sizeof(self->t.key_prefix), "%s",
		 self->prefix);
}

FIXTURE_TEARDOWN(dm)
{
	char *losetup[] = { "losetup", "-d", self->loop, NULL };

	if (self->skip)
		return;
	if (cmk_dm_exists(self->name, NULL) == 1)
		cmk_dm_remove(self->name, false);
	cmk_keyring_drop_deks(self->prefix, NR_EXT, KEY_SPEC_SESSION_KEYRING);
	run(losetup, NULL, 0);
	unlink(self->img);
	cmk_secure_free(self->deks);
	free(self->buf);
}

TEST_F(dm, create_inspect_wipe_rekey_remove)
{
	struct cmk_status st;
	struct cmk_table t;
	uint64_t len;
	uint8_t *copy;

	if (self->skip)
		return;
	ASSERT_EQ(0, cmk_keyring_add_deks(self->prefix, self->deks, NR_EXT,
					  KEY_SPEC_SESSION_KEYRING));
	ASSERT_EQ(0, cmk_dm_create(self->name, NULL, LEN, &self->t, false));
	ASSERT_EQ(1, cmk_dm_exists(self->name, NULL));

	ASSERT_EQ(0, cmk_dm_status(self->name, &st));
	EXPECT_TRUE(st.available);
	EXPECT_EQ(NR_EXT, st.extents);
	EXPECT_EQ(NR_EXT, st.keyed);
	EXPECT_EQ(CMK_LEASE_NONE, st.lease_left);
	ASSERT_EQ(0, cmk_dm_table(self->name, &t, &len));
	EXPECT_EQ(LEN, len);
	EXPECT_STREQ(self->t.dev, t.dev);
	EXPECT_STREQ(self->prefix, t.key_prefix);
	EXPECT_EQ(EXT, t.extent_sectors);
	EXPECT_EQ(4096, t.sector_size);

	/* The keys can leave the keyring: the table holds the DEKs. */
	EXPECT_EQ(NR_EXT, cmk_keyring_drop_deks(self->prefix, NR_EXT,
						KEY_SPEC_SESSION_KEYRING));
	ASSERT_EQ(1 << 20, getrandom(self->buf, 1 << 20, 0));
	copy = malloc(1 << 20);
	ASSERT_NE(NULL, copy);
	memcpy(copy, self->buf, 1 << 20);
	ASSERT_EQ(0, node_io(self->name, 512 * 1024, self->buf, 1 << 20, true));
	memset(self->buf, 0, 1 << 20);
	ASSERT_EQ(0, node_io(self->name, 512 * 1024, self->buf, 1 << 20, false));
	EXPECT_EQ(0, memcmp(copy, self->buf, 1 << 20));

	/* Wipe, then the keys back through suspend / key set / resume. */
	ASSERT_EQ(0, cmk_dm_message(self->name, "key wipe"));
	ASSERT_EQ(0, cmk_dm_status(self->name, &st));
	EXPECT_FALSE(st.available);
	EXPECT_EQ(0, st.keyed);
	EXPECT_STREQ("wiped", st.reason);
	EXPECT_GT(0, node_io(self->name, 0, self->buf, 4096, false));
	ASSERT_EQ(0, cmk_dm_suspend(self->name, true));
	EXPECT_EQ(-EIO, cmk_dm_message(self->name, "key set all"));
	EXPECT_EQ(-EIO, cmk_dm_suspend(self->name, false));
	ASSERT_EQ(0, cmk_keyring_add_deks(self->prefix, self->deks, NR_EXT,
					  KEY_SPEC_SESSION_KEYRING));
	ASSERT_EQ(0, cmk_dm_message(self->name, "key set all"));
	ASSERT_EQ(0, cmk_dm_suspend(self->name, false));
	memset(self->buf, 0, 1 << 20);
	ASSERT_EQ(0, node_io(self->name, 512 * 1024, self->buf, 1 << 20, false));
	EXPECT_EQ(0, memcmp(copy, self->buf, 1 << 20));
	free(copy);

	ASSERT_EQ(0, cmk_dm_remove(self->name, false));
	EXPECT_EQ(0, cmk_dm_exists(self->name, NULL));
	EXPECT_EQ(-ENXIO, cmk_dm_remove(self->name, false));
}

TEST_F(dm, deferred_remove_while_open)
{
	char path[128];
	int fd, i;

	if (self->skip)
		return;
	ASSERT_EQ(0, cmk_keyring_add_deks(self->prefix, self->deks, NR_EXT,
					  KEY_SPEC_SESSION_KEYRING));
	ASSERT_EQ(0, cmk_dm_create(self->name, NULL, LEN, &self->t, false));
	snprintf(path, sizeof(path), "/dev/mapper/%s", self->name);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, cmk_dm_remove(self->name, false));
	EXPECT_EQ(0, cmk_dm_remove(self->name, true));
	EXPECT_EQ(1, cmk_dm_exists(self->name, NULL));
	close(fd);
	for (i = 0; i < 50 && cmk_dm_exists(self->name, NULL) == 1; i++)
		usleep(100000);
	EXPECT_EQ(0, cmk_dm_exists(self->name, NULL));
}

TEST_F(dm, refused_tables)
{
	struct cmk_table bad = self->t;
	struct cmk_status st;

	if (self->skip)
		return;
	/* No keys in the keyring: the kernel refuses the table. */
	EXPECT_EQ(-EIO, cmk_dm_create(self->name, NULL, LEN, &self->t, false));
	EXPECT_EQ(0, cmk_dm_exists(self->name, NULL));
	/* Checked before the kernel is asked. */
	bad.extent_sectors = 3000;
	EXPECT_EQ(-EINVAL, cmk_dm_create(self->name, NULL, LEN, &bad, false));
	EXPECT_EQ(-ENXIO, cmk_dm_status("cmk-no-such-device", &st));
}

TEST_HARNESS_MAIN
