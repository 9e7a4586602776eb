// SPDX-License-Identifier: GPL-2.0
/*
 * marker_pkcs11.so: what an attacker would name in a header's KEK URI
 * (module-path=).  Its constructor runs as soon as the library is loaded,
 * before any PKCS#11 call, and leaves a marker file (the path in
 * $CMK_TEST_MARKER): a test that finds no marker proves the library was
 * never loaded.  As a module it fails every call.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void marker_loaded(void)
{
	const char *path = getenv("CMK_TEST_MARKER");
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, "loaded\n", 7) != 7)
			_exit(99);
		close(fd);
	}
}

/* CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR): CKR_GENERAL_ERROR. */
unsigned long C_GetFunctionList(void **list)
{
	*list = NULL;
	return 0x5UL;
}
