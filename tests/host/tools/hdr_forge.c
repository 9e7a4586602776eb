// SPDX-License-Identifier: GPL-2.0
/*
 * hdr_forge: header writes for tests/host/trust_test.sh.
 *
 *   hdr_forge forge FILE KEK_URI PIN_FILE
 *	What anyone with the KEK's public half can do: a new volume key,
 *	wrapped under the same KEK, new DEKs under it, the header sealed
 *	with it, same UUID and geometry.  Without a pin the host would take
 *	it for the volume.
 *   hdr_forge rewrite FILE KEK_URI PIN_FILE STATE_DIR
 *	A legitimate update on this host (what a rotation does): the header
 *	unlocked, written back with the next sequence number and sealed
 *	with its own key, and the host's record moved on.
 *
 * Exit 0 on success, 1 with a message otherwise.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libcmk.h"
#include "cmk-volume.h"

int main(int argc, char *argv[])
{
	struct cmk_vault_options opt = { .pin = CMK_VAULT_PIN_FILE };
	struct cmk_volume_error err = { 0 };
	struct cmk_vault_error verr;
	struct cmk_vault *v = NULL;
	struct cmk_hdr *h = NULL;
	char fp[CMK_VK_FP_LEN];
	bool forge;
	int fd, ret = 1;

	forge = argc == 5 && !strcmp(argv[1], "forge");
	if (!forge && !(argc == 6 && !strcmp(argv[1], "rewrite"))) {
		fprintf(stderr, "usage: hdr_forge forge FILE KEK_URI PIN_FILE\n"
			"       hdr_forge rewrite FILE KEK_URI PIN_FILE STATE_DIR\n");
		return 1;
	}
	fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0 || cmk_hdr_read(fd, &h, NULL)) {
		fprintf(stderr, "hdr_forge: no header in %s\n", argv[2]);
		goto out;
	}
	opt.pin_arg = argv[4];
	if (cmk_vault_open(argv[3], &opt, NULL, &v, &verr)) {
		fprintf(stderr, "hdr_forge: vault: %s\n", verr.msg);
		goto out;
	}
	if (forge) {
		/* Sealed with the forger's key, numbered past the real one. */
		h->seqno += 100;
		ret = cmk_volume_format(fd, h, v, NULL, NULL, fp, &err);
	} else {
		ret = cmk_volume_rewrite(fd, h, v, &err);
		if (!ret)
			ret = cmk_pin_record(argv[5], h, NULL, &err);
	}
	if (ret) {
		fprintf(stderr, "hdr_forge: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	printf("seqno %llu\n", (unsigned long long)h->seqno);
out:
	cmk_vault_close(v);
	cmk_hdr_free(h);
	if (fd >= 0)
		close(fd);
	return ret;
}
