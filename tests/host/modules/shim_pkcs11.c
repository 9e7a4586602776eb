// SPDX-License-Identifier: GPL-2.0
/*
 * shim_pkcs11.so: a PKCS#11 module that passes every call to a real one
 * ($CMK_SHIM_MODULE, for example SoftHSM2 or p11-kit-client.so) and makes
 * chosen calls fail, for the tests of how dm-cmk classifies vault errors.
 *
 * $CMK_SHIM_CONTROL names a control file, read again at every call, so a
 * test can change the faults of a running cmkd.  Each line:
 *
 *	CALL RV COUNT
 *
 * CALL is C_Decrypt, or dates-private / dates-public (a C_GetAttributeValue
 * that asks for CKA_START_DATE of a private / public key); RV the CK_RV to return (0x5 CKR_GENERAL_ERROR, 0x6
 * CKR_FUNCTION_FAILED, 0x30 CKR_DEVICE_ERROR...); COUNT how many calls
 * fail, or "*" for every call.  A new file (another inode or mtime)
 * starts the counts again; a missing or empty file injects nothing.  Each
 * injected failure is appended to CONTROL.log as "CALL RV".
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#define SHIM_RULES	4

struct shim_rule {
	char call[32];
	CK_RV rv;
	long count;		/* -1: every call */
	long used;
};

static CK_FUNCTION_LIST shim_list;
static CK_FUNCTION_LIST *shim_real;
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_rule shim_rules[SHIM_RULES];
static int shim_nrules;
static ino_t shim_ino;
static struct timespec shim_mtime;

/* Read the control file again if it changed; call with shim_lock held. */
static void shim_reload(void)
{
	const char *path = getenv("CMK_SHIM_CONTROL");
	char line[128], cnt[16];
	struct stat st;
	FILE *f;

	if (!path || stat(path, &st)) {
		shim_nrules = 0;
		shim_ino = 0;
		return;
	}
	if (st.st_ino == shim_ino && st.st_mtim.tv_sec == shim_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == shim_mtime.tv_nsec)
		return;
	shim_ino = st.st_ino;
	shim_mtime = st.st_mtim;
	shim_nrules = 0;
	f = fopen(path, "re");
	if (!f)
		return;
	while (shim_nrules < SHIM_RULES && fgets(line, sizeof(line), f)) {
		struct shim_rule *r = &shim_rules[shim_nrules];
		unsigned long rv;

		if (sscanf(line, "%31s %lx %15s", r->call, &rv, cnt) != 3)
			continue;
		r->rv = rv;
		r->count = strcmp(cnt, "*") ? strtol(cnt, NULL, 10) : -1;
		r->used = 0;
		shim_nrules++;
	}
	fclose(f);
}

/* The CK_RV to fail @call with, or CKR_OK to pass it on. */
static CK_RV shim_fault(const char *call)
{
	const char *path = getenv("CMK_SHIM_CONTROL");
	CK_RV rv = CKR_OK;
	char log[4096];
	int i, fd;

	pthread_mutex_lock(&shim_lock);
	shim_reload();
	for (i = 0; i < shim_nrules; i++) {
		struct shim_rule *r = &shim_rules[i];

		if (strcmp(r->call, call) ||
		    (r->count >= 0 && r->used >= r->count))
			continue;
		r->used++;
		rv = r->rv;
		break;
	}
	pthread_mutex_unlock(&shim_lock);
	if (rv != CKR_OK && path &&
	    snprintf(log, sizeof(log), "%s.log", path) < (int)sizeof(log)) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dprintf(fd, "%s 0x%lx\n", call, (unsigned long)rv);
			close(fd);
		}
	}
	return rv;
}

static CK_RV shim_decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
			  CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	CK_RV rv = shim_fault("C_Decrypt");

	if (rv != CKR_OK) {
		/* The operation ends with the failure, as a token's would. */
		CK_BYTE sink[1024];
		CK_ULONG n = sizeof(sink);

		shim_real->C_Decrypt(s, in, in_len, sink, &n);
		return rv;
	}
	return shim_real->C_Decrypt(s, in, in_len, out, out_len);
}

static CK_RV shim_get_attribute_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
				      CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_ULONG i;
	CK_RV rv;

	CK_OBJECT_CLASS cls = 0;
	CK_ATTRIBUTE ct = { CKA_CLASS, &cls, sizeof(cls) };

	for (i = 0; i < n; i++)
		if (t[i].type == CKA_START_DATE) {
			if (shim_real->C_GetAttributeValue(s, h, &ct, 1) != CKR_OK)
				break;
			rv = shim_fault(cls == CKO_PRIVATE_KEY ? "dates-private" :
					"dates-public");
			if (rv != CKR_OK)
				return rv;
			break;
		}
	return shim_real->C_GetAttributeValue(s, h, t, n);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("CMK_SHIM_MODULE");
	void *dl;

	if (!list)
		return CKR_ARGUMENTS_BAD;
	if (!shim_real) {
		dl = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
		*(void **)&get = dl ? dlsym(dl, "C_GetFunctionList") : NULL;
		if (!get || get(&shim_real) != CKR_OK || !shim_real)
			return CKR_GENERAL_ERROR;
		shim_list = *shim_real;
		shim_list.C_Decrypt = shim_decrypt;
		shim_list.C_GetAttributeValue = shim_get_attribute_value;
	}
	*list = &shim_list;
	return CKR_OK;
}
