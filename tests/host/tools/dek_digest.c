// SPDX-License-Identifier: GPL-2.0
/*
 * dek_digest: proof for tests/host/rotate_test.sh that a key rotation
 * left the data keys alone.  Unlocks a volume (one vault call) and prints
 * one line: the SHA-256 of all its DEKs, in extent order, and the volume
 * key fingerprint.  Never a key byte.
 *
 *   dek_digest FILE KEK_URI PIN_FILE
 *
 * KEK_URI may carry the module (module-path=).  Exit 0, or 1 with a
 * message.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "libcmk.h"
#include "cmk-volume.h"

int main(int argc, char *argv[])
{
	struct cmk_vault_options opt = { .pin = CMK_VAULT_PIN_FILE };
	struct cmk_volume_keys keys = { 0 };
	struct cmk_volume_error err = { 0 };
	struct cmk_hdr_read_info info;
	struct cmk_vault_error verr;
	struct cmk_vault *v = NULL;
	struct cmk_hdr *h = NULL;
	unsigned char md[32];
	unsigned int len = 0, i;
	int fd, ret = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: dek_digest FILE KEK_URI PIN_FILE\n");
		return 1;
	}
	opt.pin_arg = argv[3];
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || cmk_hdr_read(fd, &h, &info)) {
		fprintf(stderr, "dek_digest: cannot read the header of %s\n",
			argv[1]);
		goto out;
	}
	if (cmk_vault_open(argv[2], &opt, NULL, &v, &verr)) {
		fprintf(stderr, "dek_digest: %s\n", verr.msg);
		goto out;
	}
	if (cmk_volume_unlock(h, v, &keys, &err)) {
		fprintf(stderr, "dek_digest: %s\n", err.msg);
		goto out;
	}
	if (!EVP_Digest(keys.deks, (size_t)keys.count * CMK_DEK_SIZE, md,
			&len, EVP_sha256(), NULL))
		goto out;
	for (i = 0; i < len; i++)
		printf("%02x", md[i]);
	printf(" %s\n", keys.fingerprint);
	ret = 0;
out:
	cmk_volume_keys_wipe(&keys);
	cmk_vault_close(v);
	cmk_hdr_free(h);
	if (fd >= 0)
		close(fd);
	return ret;
}
