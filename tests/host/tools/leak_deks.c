// SPDX-License-Identifier: GPL-2.0
/*
 * leak_deks: for tests/vm/leak-scan.sh, on the host, the DEKs of a volume
 * that a guest will open with cmkctl, so that the guest's memory can be
 * searched for them (tests/vm/memscan.py --keys).
 *
 *   leak_deks IMAGE KEK_URI PIN_FILE OUT
 *	Unlocks the volume in IMAGE (one vault call) and writes its DEKs,
 *	extent 0 first, 64 bytes each, to OUT, a new file of mode 0600.
 *	Prints the number of extents.
 *
 * Key bytes go to OUT only, never to the terminal.  Exit 0 on success, 1
 * with a message otherwise.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libcmk.h"
#include "cmk-volume.h"

int main(int argc, char *argv[])
{
	struct cmk_vault_options opt = { .pin = CMK_VAULT_PIN_FILE };
	struct cmk_volume_keys keys = { 0 };
	struct cmk_volume_error err = { 0 };
	struct cmk_vault_error verr;
	struct cmk_vault *v = NULL;
	struct cmk_hdr *h = NULL;
	size_t len, done = 0;
	ssize_t n;
	int fd, out = -1, ret = 1;
	bool created = false;

	if (argc != 5) {
		fprintf(stderr, "usage: leak_deks IMAGE KEK_URI PIN_FILE OUT\n");
		return 1;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || cmk_hdr_read(fd, &h, NULL)) {
		fprintf(stderr, "leak_deks: no header in %s\n", argv[1]);
		goto out;
	}
	opt.pin_arg = argv[3];
	if (cmk_vault_open(argv[2], &opt, NULL, &v, &verr)) {
		fprintf(stderr, "leak_deks: vault: %s\n", verr.msg);
		goto out;
	}
	if (cmk_volume_unlock(h, v, &keys, &err)) {
		fprintf(stderr, "leak_deks: %s\n", err.msg);
		goto out;
	}
	out = open(argv[4], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		perror("leak_deks: OUT");
		goto out;
	}
	created = true;
	len = (size_t)keys.count * CMK_DEK_SIZE;
	while (done < len) {
		n = write(out, keys.deks + done, len - done);
		if (n <= 0) {
			perror("leak_deks: write");
			goto out;
		}
		done += n;
	}
	if (close(out)) {
		out = -1;
		perror("leak_deks: close");
		goto out;
	}
	out = -1;
	printf("%u\n", keys.count);
	ret = 0;
out:
	if (out >= 0)
		close(out);
	if (ret && created)
		unlink(argv[4]);
	cmk_volume_keys_wipe(&keys);
	cmk_vault_close(v);
	cmk_hdr_free(h);
	if (fd >= 0)
		close(fd);
	return ret;
}
