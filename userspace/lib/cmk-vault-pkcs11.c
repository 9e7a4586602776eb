// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcmk vault backend: PKCS#11 tokens through dlopen() of any module
 * (SoftHSM2 in process, or p11-kit-client.so reaching a token that
 * "p11-kit server" serves on a Unix socket).  Keys are named by RFC 7512
 * pkcs11: URIs.  Unwrap is RSA-OAEP inside the token (C_Decrypt with
 * CKM_RSA_PKCS_OAEP); wrap is RSA-OAEP in software (OpenSSL EVP) with the
 * public half read out of the token.
 *
 * Tokens do not all enforce CKA_START_DATE / CKA_END_DATE (SoftHSM2 stores
 * but ignores them), so every wrap and unwrap checks the KEK requirements
 * of cmk_kek_check() here, against the key's attributes, first.
 *
 * A transient failure marks the handle broken; the next call reconnects
 * (re-initialising the module when this handle is its only user), so a
 * vault that comes back is usable again without reopening.
 */

#include <ctype.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#include "cmk-file.h"
#include "cmk-hdr.h"
#include "cmk-vault.h"

#define CMK_P11_DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define CMK_P11_PIN_MAX		256
#define CMK_P11_MODULUS_MAX	(CMK_VAULT_WRAPPED_MAX)
#define CMK_P11_MODULES_MAX	8
#define CMK_P11_VERSIONS_MAX	64

/* One loaded module, shared by every handle that names the same path. */
struct cmk_p11_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST *f;
	int refs;
	bool stale;
	time_t loaded;
};

static struct cmk_p11_module cmk_p11_modules[CMK_P11_MODULES_MAX];
static pthread_mutex_t cmk_p11_lock = PTHREAD_MUTEX_INITIALIZER;
/* Keep modules loaded and initialized when no vault uses them... */
static bool cmk_p11_keep;
/*
 * ...but start each one afresh at least this often: a module serving its
 * token in process (SoftHSM2) reads the PINs only when initialized, so a
 * PIN change reaches a kept module within this time.
 */
#define CMK_P11_KEEP_MAX_S	60

struct cmk_p11 {
	struct cmk_p11_module *mod;
	struct cmk_pkcs11_uri uri;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	bool have_session;
	bool login_required;
	bool broken;
	bool ambiguous;		/* the last C_Decrypt failed, cause unknown */
	int sha256_ok;		/* -1 unknown, 0 no, 1 yes */
	char *pin;		/* cmk_secure_alloc(), CMK_P11_PIN_MAX bytes, or NULL */
};

/* The attributes of a private key, read in one C_GetAttributeValue. */
struct cmk_p11_attrs {
	CK_OBJECT_HANDLE h;
	CK_KEY_TYPE type;
	CK_BBOOL decrypt, unwrap, sensitive, extractable;
	CK_BBOOL always_sensitive, never_extractable;
	CK_DATE start, end;
	char label[128];
	uint8_t id[CMK_P11_ID_MAX];
	uint8_t modulus[CMK_P11_MODULUS_MAX];
	uint8_t exponent[16];
	CK_ULONG len[14];
	time_t start_time, end_time;
	bool dates_unreadable;
};

enum {
	CMK_P11_A_TYPE, CMK_P11_A_DECRYPT, CMK_P11_A_UNWRAP,
	CMK_P11_A_SENSITIVE, CMK_P11_A_EXTRACTABLE, CMK_P11_A_ASENS,
	CMK_P11_A_NEVEREXT, CMK_P11_A_START, CMK_P11_A_END, CMK_P11_A_LABEL,
	CMK_P11_A_ID, CMK_P11_A_MODULUS, CMK_P11_A_EXPONENT, CMK_P11_A_N
};

static const struct {
	CK_RV rv;
	const char *name;
	enum cmk_vault_class cls;
} cmk_p11_rvs[] = {
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY", CMK_VAULT_TRANSIENT },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", CMK_VAULT_TRANSIENT },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", CMK_VAULT_TRANSIENT },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", CMK_VAULT_TRANSIENT },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", CMK_VAULT_INVALID_KEY },
	{ CKR_CANT_LOCK, "CKR_CANT_LOCK", CMK_VAULT_TRANSIENT },
	{ CKR_DATA_INVALID, "CKR_DATA_INVALID", CMK_VAULT_INVALID_KEY },
	{ CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", CMK_VAULT_INVALID_KEY },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", CMK_VAULT_TRANSIENT },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", CMK_VAULT_TRANSIENT },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", CMK_VAULT_TRANSIENT },
	{ CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID",
	  CMK_VAULT_INVALID_KEY },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE",
	  CMK_VAULT_INVALID_KEY },
	{ CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED", CMK_VAULT_TRANSIENT },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID",
	  CMK_VAULT_NOT_FOUND },
	{ CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", CMK_VAULT_INVALID_KEY },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT",
	  CMK_VAULT_INVALID_KEY },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED",
	  CMK_VAULT_DISABLED },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID",
	  CMK_VAULT_INVALID_KEY },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID",
	  CMK_VAULT_INVALID_KEY },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID",
	  CMK_VAULT_NOT_FOUND },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", CMK_VAULT_TRANSIENT },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", CMK_VAULT_PERMISSION_DENIED },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID", CMK_VAULT_PERMISSION_DENIED },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", CMK_VAULT_PERMISSION_DENIED },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", CMK_VAULT_PERMISSION_DENIED },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED", CMK_VAULT_PERMISSION_DENIED },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", CMK_VAULT_TRANSIENT },
	{ CKR_SESSION_COUNT, "CKR_SESSION_COUNT", CMK_VAULT_TRANSIENT },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID",
	  CMK_VAULT_TRANSIENT },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", CMK_VAULT_TRANSIENT },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED",
	  CMK_VAULT_TRANSIENT },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN",
	  CMK_VAULT_PERMISSION_DENIED },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED",
	  CMK_VAULT_PERMISSION_DENIED },
	{ CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID",
	  CMK_VAULT_PERMISSION_DENIED },
	{ CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
	  "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", CMK_VAULT_PERMISSION_DENIED },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", CMK_VAULT_INVALID_KEY },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED",
	  CMK_VAULT_TRANSIENT },
};

static const char *cmk_p11_rv_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(cmk_p11_rvs) / sizeof(cmk_p11_rvs[0]); i++)
		if (cmk_p11_rvs[i].rv == rv)
			return cmk_p11_rvs[i].name;
	return "CKR_?";
}

/* Unknown codes are transient: retrying is safer than shredding. */
static enum cmk_vault_class cmk_p11_rv_class(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(cmk_p11_rvs) / sizeof(cmk_p11_rvs[0]); i++)
		if (cmk_p11_rvs[i].rv == rv)
			return cmk_p11_rvs[i].cls;
	return CMK_VAULT_TRANSIENT;
}

static int cmk_p11_fail(struct cmk_p11 *p, CK_RV rv, const char *what,
			struct cmk_vault_error *err)
{
	enum cmk_vault_class cls = cmk_p11_rv_class(rv);

	if (cls == CMK_VAULT_TRANSIENT)
		p->broken = true;
	return cmk_vault_set_error(err, cls, rv, "%s: %s (0x%lx)", what,
				   cmk_p11_rv_name(rv), (unsigned long)rv);
}

/* ---- RFC 7512 URIs ---- */

static int cmk_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string; binary allowed if @len. */
static int cmk_uri_decode(const char *s, size_t n, char **out, size_t *len)
{
	char *d = malloc(n + 1);
	size_t i, j = 0;
	int hi, lo;

	if (!d)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '%') {
			if (i + 2 >= n)
				goto bad;
			hi = cmk_hexval(s[i + 1]);
			lo = cmk_hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = hi << 4 | lo;
			i += 2;
			if (!c && !len)
				goto bad;
		} else if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}#", c)) {
			goto bad;
		}
		d[j++] = c;
	}
	d[j] = 0;
	*out = d;
	if (len)
		*len = j;
	return 0;
bad:
	free(d);
	return -EINVAL;
}

static int cmk_uri_set(char **field, const char *v, size_t n)
{
	if (*field)
		return -EINVAL;		/* duplicate */
	return cmk_uri_decode(v, n, field, NULL);
}

static int cmk_uri_path_attr(struct cmk_pkcs11_uri *u, const char *a,
			     size_t n)
{
	static const char *const ignored[] = {
		"library-manufacturer", "library-description",
		"library-version", "slot-manufacturer", "slot-description",
		"slot-id",
	};
	const char *eq = memchr(a, '=', n);
	size_t kl, vl, i;
	char *tmp;
	int ret;

	if (!eq || eq == a)
		return -EINVAL;
	kl = eq - a;
	vl = n - kl - 1;
#define CMK_KEY_IS(k) (kl == strlen(k) && !strncmp(a, k, kl))
	if (CMK_KEY_IS("token"))
		return cmk_uri_set(&u->token, eq + 1, vl);
	if (CMK_KEY_IS("manufacturer"))
		return cmk_uri_set(&u->manufacturer, eq + 1, vl);
	if (CMK_KEY_IS("serial"))
		return cmk_uri_set(&u->serial, eq + 1, vl);
	if (CMK_KEY_IS("model"))
		return cmk_uri_set(&u->model, eq + 1, vl);
	if (CMK_KEY_IS("object"))
		return cmk_uri_set(&u->object, eq + 1, vl);
	if (CMK_KEY_IS("type")) {
		ret = cmk_uri_set(&u->type, eq + 1, vl);
		if (ret)
			return ret;
		if (strcmp(u->type, "public") && strcmp(u->type, "private") &&
		    strcmp(u->type, "cert") && strcmp(u->type, "secret-key") &&
		    strcmp(u->type, "data"))
			return -EINVAL;
		return 0;
	}
	if (CMK_KEY_IS("id")) {
		if (u->has_id)
			return -EINVAL;
		ret = cmk_uri_decode(eq + 1, vl, &tmp, &u->id_len);
		if (ret)
			return ret;
		if (!u->id_len || u->id_len > sizeof(u->id)) {
			free(tmp);
			return -EINVAL;
		}
		memcpy(u->id, tmp, u->id_len);
		free(tmp);
		u->has_id = true;
		return 0;
	}
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (CMK_KEY_IS(ignored[i]))
			return 0;
	if (kl > 2 && !strncmp(a, "x-", 2))
		return 0;
	return -EINVAL;
}

static int cmk_uri_query_attr(struct cmk_pkcs11_uri *u, const char *a,
			      size_t n)
{
	const char *eq = memchr(a, '=', n);
	size_t kl, vl;

	if (!eq || eq == a)
		return -EINVAL;
	kl = eq - a;
	vl = n - kl - 1;
	if (CMK_KEY_IS("module-path"))
		return cmk_uri_set(&u->module_path, eq + 1, vl);
	if (CMK_KEY_IS("module-name"))
		return cmk_uri_set(&u->module_name, eq + 1, vl);
	if (CMK_KEY_IS("pin-source"))
		return cmk_uri_set(&u->pin_source, eq + 1, vl);
	if (CMK_KEY_IS("pin-value")) {
		if (u->has_pin_value)
			return -EINVAL;
		u->has_pin_value = true;
		return 0;
	}
	if (kl > 2 && !strncmp(a, "x-", 2))
		return 0;
	return -EINVAL;
#undef CMK_KEY_IS
}

/**
 * cmk_pkcs11_uri_parse() - parse an RFC 7512 PKCS#11 URI
 * @uri: the URI ("pkcs11:token=...;object=...?module-path=...")
 * @u: filled in; free with cmk_pkcs11_uri_free() (also after a failure)
 *
 * Path attributes token, manufacturer, serial, model, object, id and type
 * are kept; library-*, slot-* and x-* are accepted and ignored.  Query
 * attributes module-path, module-name and pin-source are kept; pin-value is
 * only noted (the backend refuses it).  Values are percent-decoded; id may
 * hold any byte, other values no NUL.  Unknown or repeated attributes,
 * empty components, bad escapes and characters RFC 3986 forbids are
 * rejected.
 *
 * Return: 0 or -EINVAL (-ENOMEM).
 */
int cmk_pkcs11_uri_parse(const char *uri, struct cmk_pkcs11_uri *u)
{
	const char *p, *end, *q;
	int ret;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(uri, "pkcs11:", 7))
		return -EINVAL;
	p = uri + 7;
	q = strchr(p, '?');
	if (!q)
		q = p + strlen(p);
	while (p < q) {
		end = memchr(p, ';', q - p);
		if (!end)
			end = q;
		if (end == p)
			return -EINVAL;
		ret = cmk_uri_path_attr(u, p, end - p);
		if (ret)
			return ret;
		p = end < q ? end + 1 : end;
		if (end < q && p == q)
			return -EINVAL;		/* trailing ';' */
	}
	if (!*q)
		return 0;
	p = q + 1;
	if (!*p)
		return -EINVAL;
	while (*p) {
		end = strchr(p, '&');
		if (!end)
			end = p + strlen(p);
		if (end == p)
			return -EINVAL;
		ret = cmk_uri_query_attr(u, p, end - p);
		if (ret)
			return ret;
		if (*end && !end[1])
			return -EINVAL;		/* trailing '&' */
		p = *end ? end + 1 : end;
	}
	return 0;
}

/**
 * cmk_pkcs11_uri_free() - free what cmk_pkcs11_uri_parse() allocated
 * @u: the parsed URI
 */
void cmk_pkcs11_uri_free(struct cmk_pkcs11_uri *u)
{
	free(u->token);
	free(u->manufacturer);
	free(u->serial);
	free(u->model);
	free(u->object);
	free(u->type);
	free(u->module_path);
	free(u->module_name);
	free(u->pin_source);
	memset(u, 0, sizeof(*u));
}

/* ---- modules ---- */

static const char *const cmk_p11_module_dirs[] = {
	"/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib64/pkcs11", "/usr/lib/pkcs11",
};

/* Where p11-kit registers modules, the administrator's first. */
static const char *const cmk_p11_kit_dirs[] = {
	"/etc/pkcs11/modules", "/usr/share/p11-kit/modules",
};

#define CMK_P11_NAME_MAX	64
#define CMK_P11_CONF_MAX	(64 * 1024)

/* A module name: what p11-kit's NAME.module or NAME.so may be called. */
static bool cmk_p11_module_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > CMK_P11_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

/* @name.so in the first module directory that has it. */
static bool cmk_p11_module_in_dirs(const char *name, char *path, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(cmk_p11_module_dirs) /
		    sizeof(cmk_p11_module_dirs[0]); i++) {
		if (snprintf(path, size, "%s/%s", cmk_p11_module_dirs[i],
			     name) >= (int)size)
			continue;
		if (!access(path, R_OK))
			return true;
	}
	return false;
}

/*
 * The "module:" of p11-kit's registration @conf of a module (root's own,
 * not writable by others: it chooses code).  1 found, 0 no such file,
 * negative: a file that may not or cannot be used (*@why).
 */
static int cmk_p11_kit_module(const char *conf, char *path, size_t size,
			      const char **why)
{
	char *buf, *line, *next, *v;
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	fd = cmk_file_open(conf, O_RDONLY, CMK_FILE_REG, &st);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		*why = "a p11-kit module registration cannot be read";
		return fd;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		*why = "a p11-kit module registration is not root's own, or is writable by others";
		ret = -EPERM;
		goto out;
	}
	buf = calloc(1, CMK_P11_CONF_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		*why = "out of memory";
		goto out;
	}
	n = read(fd, buf, CMK_P11_CONF_MAX);
	if (n < 0) {
		ret = -errno;
		*why = "a p11-kit module registration cannot be read";
		goto out_free;
	}
	*why = "a p11-kit module registration has no usable \"module:\" line";
	ret = -EINVAL;
	for (line = buf; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line += strspn(line, " \t");
		if (strncmp(line, "module:", 7))
			continue;
		v = line + 7 + strspn(line + 7, " \t");
		v[strcspn(v, " \t\r")] = '\0';
		if (!*v)
			break;
		if (v[0] == '/') {
			if (snprintf(path, size, "%s", v) < (int)size)
				ret = 1;
		} else if (!strchr(v, '/') && cmk_p11_module_in_dirs(v, path, size)) {
			ret = 1;
		}
		break;
	}
	if (ret == 1)
		*why = NULL;
out_free:
	free(buf);
out:
	close(fd);
	return ret;
}

/**
 * cmk_vault_pkcs11_module() - the library a PKCS#11 module setting names
 * @module: an absolute path, or a name: a module registered with p11-kit
 *	(NAME.module in /etc/pkcs11/modules, then /usr/share/p11-kit/modules)
 *	or NAME.so in the PKCS#11 module directory
 * @path: the library's path
 * @size: bytes in @path
 * @why: what is wrong, on failure
 *
 * Only trusted local settings come here (command line, cmktab, a URI the
 * administrator gave): never a URI read from a device.
 *
 * Return: 0, -EINVAL (a bad setting) or -ENOENT (no such module).
 */
int cmk_vault_pkcs11_module(const char *module, char *path, size_t size,
			    const char **why)
{
	char conf[PATH_MAX], so[CMK_P11_NAME_MAX + 4];
	size_t i;
	int r;

	*why = NULL;
	if (strchr(module, '/')) {
		if (module[0] != '/') {
			*why = "a PKCS#11 module path must be absolute";
			return -EINVAL;
		}
		if (snprintf(path, size, "%s", module) >= (int)size) {
			*why = "PKCS#11 module path too long";
			return -EINVAL;
		}
		return 0;
	}
	if (!cmk_p11_module_name_ok(module)) {
		*why = "a PKCS#11 module is an absolute path or a name of letters, digits, '.', '_', '+' and '-'";
		return -EINVAL;
	}
	for (i = 0; i < sizeof(cmk_p11_kit_dirs) / sizeof(cmk_p11_kit_dirs[0]);
	     i++) {
		snprintf(conf, sizeof(conf), "%s/%s.module",
			 cmk_p11_kit_dirs[i], module);
		r = cmk_p11_kit_module(conf, path, size, why);
		if (r < 0)
			return -EINVAL;
		if (r > 0)
			return 0;
	}
	snprintf(so, sizeof(so), "%s.so", module);
	if (cmk_p11_module_in_dirs(so, path, size))
		return 0;
	*why = "no such PKCS#11 module: neither registered with p11-kit nor in the PKCS#11 module directory";
	return -ENOENT;
}

/* Drop a reference; @stale: the last call through it failed transiently. */
static void cmk_p11_module_put(struct cmk_p11_module *m, bool stale)
{
	pthread_mutex_lock(&cmk_p11_lock);
	if (stale)
		m->stale = true;
	if (--m->refs == 0 && !cmk_p11_keep) {
		m->f->C_Finalize(NULL);
		dlclose(m->dl);
		free(m->path);
		memset(m, 0, sizeof(*m));
	}
	pthread_mutex_unlock(&cmk_p11_lock);
}

/**
 * cmk_vault_pkcs11_keep_modules() - keep PKCS#11 modules loaded between uses
 * @keep: true: a module stays loaded and initialized when its last vault
 *	is closed, so that the next cmk_vault_open() of it costs a session
 *	and a login only (for a p11-kit client, no new connection to the
 *	server).  A module whose vault last failed with a transient error,
 *	or that was initialized more than CMK_P11_KEEP_MAX_S seconds ago, is
 *	finalized and initialized again at its next use.
 *
 * For a daemon that opens a vault for every check.  Sessions and logins are
 * never kept: each open logs in again, so a changed PIN is still noticed.
 */
void cmk_vault_pkcs11_keep_modules(bool keep)
{
	pthread_mutex_lock(&cmk_p11_lock);
	cmk_p11_keep = keep;
	pthread_mutex_unlock(&cmk_p11_lock);
}

static CK_RV cmk_p11_initialize(CK_FUNCTION_LIST *f)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV rv = f->C_Initialize(&args);

	return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}

static int cmk_p11_module_get(const char *path, struct cmk_p11_module **mp,
			      struct cmk_vault_error *err)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	struct cmk_p11_module *m = NULL;
	CK_FUNCTION_LIST *f;
	void *dl;
	CK_RV rv;
	int i, ret = 0;

	pthread_mutex_lock(&cmk_p11_lock);
	for (i = 0; i < CMK_P11_MODULES_MAX; i++) {
		m = &cmk_p11_modules[i];
		if (!m->path || strcmp(m->path, path))
			continue;
		if (!m->refs && (m->stale ||
				 time(NULL) - m->loaded >= CMK_P11_KEEP_MAX_S)) {
			/* Kept loaded, last used by a failed vault: start over. */
			m->f->C_Finalize(NULL);
			rv = cmk_p11_initialize(m->f);
			if (rv != CKR_OK) {
				ret = cmk_vault_set_error(err, cmk_p11_rv_class(rv),
							  rv, "C_Initialize: %s (0x%lx)",
							  cmk_p11_rv_name(rv),
							  (unsigned long)rv);
				goto out;
			}
			m->stale = false;
			m->loaded = time(NULL);
		}
		m->refs++;
		*mp = m;
		goto out;
	}
	m = NULL;
	for (i = 0; i < CMK_P11_MODULES_MAX && !m; i++)
		if (!cmk_p11_modules[i].path)
			m = &cmk_p11_modules[i];
	if (!m) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "too many PKCS#11 modules");
		goto out;
	}
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "loading PKCS#11 module: %s",
					  dlerror());
		goto out;
	}
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	if (!get_list || get_list(&f) != CKR_OK || !f) {
		dlclose(dl);
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "%s is not a PKCS#11 module", path);
		goto out;
	}
	rv = cmk_p11_initialize(f);
	if (rv != CKR_OK) {
		dlclose(dl);
		ret = cmk_vault_set_error(err, cmk_p11_rv_class(rv), rv,
					  "C_Initialize: %s (0x%lx)",
					  cmk_p11_rv_name(rv),
					  (unsigned long)rv);
		goto out;
	}
	m->path = strdup(path);
	if (!m->path) {
		f->C_Finalize(NULL);
		dlclose(dl);
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "out of memory");
		goto out;
	}
	m->dl = dl;
	m->f = f;
	m->refs = 1;
	m->loaded = time(NULL);
	*mp = m;
out:
	pthread_mutex_unlock(&cmk_p11_lock);
	return ret;
}

/* ---- sessions ---- */

static bool cmk_p11_field_eq(const unsigned char *field, size_t n,
			     const char *want)
{
	size_t l = strlen(want);

	if (l > n)
		return false;
	if (memcmp(field, want, l))
		return false;
	for (; l < n; l++)
		if (field[l] != ' ')
			return false;
	return true;
}

static int cmk_p11_find_slot(struct cmk_p11 *p, struct cmk_vault_error *err)
{
	CK_FUNCTION_LIST *f = p->mod->f;
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_GetSlotList", err);
	for (i = 0; i < n; i++) {
		rv = f->C_GetTokenInfo(slots[i], &ti);
		if (rv != CKR_OK)
			continue;
		if (p->uri.token && !cmk_p11_field_eq(ti.label,
				sizeof(ti.label), p->uri.token))
			continue;
		if (p->uri.manufacturer && !cmk_p11_field_eq(ti.manufacturerID,
				sizeof(ti.manufacturerID), p->uri.manufacturer))
			continue;
		if (p->uri.serial && !cmk_p11_field_eq(ti.serialNumber,
				sizeof(ti.serialNumber), p->uri.serial))
			continue;
		if (p->uri.model && !cmk_p11_field_eq(ti.model,
				sizeof(ti.model), p->uri.model))
			continue;
		p->slot = slots[i];
		p->login_required = ti.flags & CKF_LOGIN_REQUIRED;
		return 0;
	}
	p->broken = true;
	return cmk_vault_set_error(err, CMK_VAULT_TRANSIENT,
				   CKR_TOKEN_NOT_PRESENT,
				   "no token matches the URI (CKR_TOKEN_NOT_PRESENT)");
}

static int cmk_p11_connect(struct cmk_p11 *p, struct cmk_vault_error *err)
{
	CK_FUNCTION_LIST *f = p->mod->f;
	CK_RV rv;
	int ret;

	ret = cmk_p11_find_slot(p, err);
	if (ret)
		return ret;
	rv = f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL,
			      &p->session);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_OpenSession", err);
	p->have_session = true;
	if (p->pin) {
		rv = f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR *)p->pin,
				strlen(p->pin));
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
			return cmk_p11_fail(p, rv, "C_Login", err);
	}
	p->broken = false;
	return 0;
}

static void cmk_p11_disconnect(struct cmk_p11 *p)
{
	if (p->have_session)
		p->mod->f->C_CloseSession(p->session);
	p->have_session = false;
}

/* Before each call: reconnect after a transient failure. */
static int cmk_p11_ready(struct cmk_p11 *p, struct cmk_vault_error *err)
{
	CK_RV rv;

	if (!p->broken && p->have_session)
		return 0;
	cmk_p11_disconnect(p);
	pthread_mutex_lock(&cmk_p11_lock);
	if (p->mod->refs == 1) {
		p->mod->f->C_Finalize(NULL);
		rv = cmk_p11_initialize(p->mod->f);
	} else {
		rv = CKR_OK;
	}
	pthread_mutex_unlock(&cmk_p11_lock);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_Initialize", err);
	return cmk_p11_connect(p, err);
}

/* ---- keys ---- */

static int cmk_version_to_id(const char *version, uint8_t *id, size_t *len)
{
	size_t n = strlen(version), i;
	int hi, lo;

	if (!n || n % 2 || n / 2 > CMK_P11_ID_MAX)
		return -EINVAL;
	for (i = 0; i < n / 2; i++) {
		hi = cmk_hexval(version[2 * i]);
		lo = cmk_hexval(version[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		id[i] = hi << 4 | lo;
	}
	*len = n / 2;
	return 0;
}

static void cmk_id_to_version(const uint8_t *id, size_t len, char *buf)
{
	size_t i;

	for (i = 0; i < len && i < CMK_P11_ID_MAX; i++)
		sprintf(buf + 2 * i, "%02x", id[i]);
	buf[2 * i] = 0;
}

/*
 * Find objects of @cls matching the URI (and @version, a hex CKA_ID, if
 * given; else the URI's id= unless @any_id).  Up to @max handles into @h,
 * the number into *@n (at most @max).
 */
static int cmk_p11_find_ids(struct cmk_p11 *p, CK_OBJECT_CLASS cls,
			    const char *version, bool any_id,
			    CK_OBJECT_HANDLE *h, CK_ULONG max, CK_ULONG *n,
			    struct cmk_vault_error *err)
{
	CK_FUNCTION_LIST *f = p->mod->f;
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG nt = 0;
	uint8_t id[CMK_P11_ID_MAX];
	size_t id_len;
	CK_RV rv, rv2;

	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	if (p->uri.object)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, p->uri.object,
					     strlen(p->uri.object) };
	if (version) {
		if (cmk_version_to_id(version, id, &id_len))
			return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
						   "bad key version %s", version);
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ID, id, id_len };
	} else if (p->uri.has_id && !any_id) {
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ID, p->uri.id,
					     p->uri.id_len };
	}
	rv = f->C_FindObjectsInit(p->session, tmpl, nt);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_FindObjectsInit", err);
	rv = f->C_FindObjects(p->session, h, max, n);
	rv2 = f->C_FindObjectsFinal(p->session);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_FindObjects", err);
	return 0;
}

static int cmk_p11_find(struct cmk_p11 *p, CK_OBJECT_CLASS cls,
			const char *version, CK_OBJECT_HANDLE *h, CK_ULONG max,
			CK_ULONG *n, struct cmk_vault_error *err)
{
	return cmk_p11_find_ids(p, cls, version, false, h, max, n, err);
}

static int cmk_p11_find_key(struct cmk_p11 *p, const char *version,
			    CK_OBJECT_HANDLE *h, struct cmk_vault_error *err)
{
	CK_OBJECT_HANDLE hs[2];
	CK_ULONG n;
	int ret;

	ret = cmk_p11_find(p, CKO_PRIVATE_KEY, version, hs, 2, &n, err);
	if (ret)
		return ret;
	if (n == 1) {
		*h = hs[0];
		return 0;
	}
	if (n > 1)
		return cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY, 0,
					   "the URI names more than one private key; add id=");
	if (p->login_required && !p->pin)
		return cmk_vault_set_error(err, CMK_VAULT_PERMISSION_DENIED,
					   CKR_USER_NOT_LOGGED_IN,
					   "no private key visible without a PIN (CKR_USER_NOT_LOGGED_IN)");
	return cmk_vault_set_error(err, CMK_VAULT_NOT_FOUND,
				   CKR_OBJECT_HANDLE_INVALID,
				   "no private key matches the URI");
}

/* A CK_DATE as seconds since the epoch; @end: its last second. */
static time_t cmk_p11_date(const CK_DATE *d, CK_ULONG len, bool end);

/* Read the validity dates of @h; -1 if the token cannot return them. */
/*
 * The start and end dates of object @h (0: none).  Return: CKR_OK, or the
 * CK_RV of a read that failed twice.
 */
static CK_RV cmk_p11_get_dates(struct cmk_p11 *p, CK_OBJECT_HANDLE h,
			       time_t *start, time_t *end)
{
	CK_DATE ds, de;
	CK_ATTRIBUTE t[2] = {
		{ CKA_START_DATE, &ds, sizeof(ds) },
		{ CKA_END_DATE, &de, sizeof(de) },
	};
	CK_RV rv;

	rv = p->mod->f->C_GetAttributeValue(p->session, h, t, 2);
	if (rv == CKR_GENERAL_ERROR || rv == CKR_DEVICE_ERROR) {
		/* Once more: a glitch passes, SoftHSM2's quirk stays. */
		t[0].ulValueLen = sizeof(ds);
		t[1].ulValueLen = sizeof(de);
		rv = p->mod->f->C_GetAttributeValue(p->session, h, t, 2);
	}
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return rv;
	*start = t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 :
		 cmk_p11_date(&ds, t[0].ulValueLen, false);
	*end = t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 :
	       cmk_p11_date(&de, t[1].ulValueLen, true);
	return CKR_OK;
}

/*
 * The key's validity: the later start and the earlier end of its private
 * and public halves.  SoftHSM2 2.6 stores the dates of a CKA_PRIVATE
 * object unencrypted but tries to decrypt them when read, failing with
 * CKR_GENERAL_ERROR (SoftHSMv2 issue #655); the public half's dates are
 * then the only ones readable.  Unreadable private dates with no public
 * dates fail closed.
 */
static int cmk_p11_validity(struct cmk_p11 *p, struct cmk_p11_attrs *a,
			    struct cmk_vault_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, a->id, a->len[CMK_P11_A_ID] },
	};
	CK_FUNCTION_LIST *f = p->mod->f;
	CK_OBJECT_HANDLE pub;
	CK_ULONG n = 0;
	time_t s = 0, e = 0;
	bool pub_dates = false;
	CK_RV rv;

	rv = cmk_p11_get_dates(p, a->h, &a->start_time, &a->end_time);
	/* Anything but SoftHSM2's quirk is a token fault, not a verdict. */
	if (rv != CKR_OK && rv != CKR_GENERAL_ERROR)
		return cmk_p11_fail(p, rv, "reading the key's dates", err);
	a->dates_unreadable = rv != CKR_OK;
	if (a->dates_unreadable)
		a->start_time = a->end_time = 0;
	rv = f->C_FindObjectsInit(p->session, tmpl, 2);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_FindObjectsInit", err);
	rv = f->C_FindObjects(p->session, &pub, 1, &n);
	f->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_FindObjects", err);
	if (n == 1) {
		rv = cmk_p11_get_dates(p, pub, &s, &e);
		if (rv != CKR_OK)
			return cmk_p11_fail(p, rv, "reading the public key's dates",
					    err);
		pub_dates = s || e;
		if (s > a->start_time)
			a->start_time = s;
		if (e && (!a->end_time || e < a->end_time))
			a->end_time = e;
	}
	if (a->dates_unreadable && !pub_dates)
		return cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY,
					   CKR_GENERAL_ERROR,
					   "the private key's start/end dates cannot be read (SoftHSM2 stores them unreadable on private objects): set them on the public key too");
	return 0;
}

static int cmk_p11_get_attrs(struct cmk_p11 *p, CK_OBJECT_HANDLE h,
			     struct cmk_p11_attrs *a,
			     struct cmk_vault_error *err)
{
	CK_ATTRIBUTE t[CMK_P11_A_N] = {
		[CMK_P11_A_TYPE] = { CKA_KEY_TYPE, &a->type, sizeof(a->type) },
		[CMK_P11_A_DECRYPT] = { CKA_DECRYPT, &a->decrypt, 1 },
		[CMK_P11_A_UNWRAP] = { CKA_UNWRAP, &a->unwrap, 1 },
		[CMK_P11_A_SENSITIVE] = { CKA_SENSITIVE, &a->sensitive, 1 },
		[CMK_P11_A_EXTRACTABLE] = { CKA_EXTRACTABLE, &a->extractable, 1 },
		[CMK_P11_A_ASENS] = { CKA_ALWAYS_SENSITIVE,
				      &a->always_sensitive, 1 },
		[CMK_P11_A_NEVEREXT] = { CKA_NEVER_EXTRACTABLE,
					 &a->never_extractable, 1 },
		[CMK_P11_A_START] = { CKA_START_DATE, &a->start,
				      sizeof(a->start) },
		[CMK_P11_A_END] = { CKA_END_DATE, &a->end, sizeof(a->end) },
		[CMK_P11_A_LABEL] = { CKA_LABEL, a->label,
				      sizeof(a->label) - 1 },
		[CMK_P11_A_ID] = { CKA_ID, a->id, sizeof(a->id) },
		[CMK_P11_A_MODULUS] = { CKA_MODULUS, a->modulus,
					sizeof(a->modulus) },
		[CMK_P11_A_EXPONENT] = { CKA_PUBLIC_EXPONENT, a->exponent,
					 sizeof(a->exponent) },
	};
	CK_RV rv;
	int i;

	memset(a, 0, sizeof(*a));
	a->h = h;
	/* Dates apart: see cmk_p11_validity(). */
	t[CMK_P11_A_START].type = CKA_LABEL;
	t[CMK_P11_A_START].ulValueLen = 0;
	t[CMK_P11_A_START].pValue = NULL;
	t[CMK_P11_A_END] = t[CMK_P11_A_START];
	rv = p->mod->f->C_GetAttributeValue(p->session, h, t, CMK_P11_A_N);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL)
		return cmk_p11_fail(p, rv, "C_GetAttributeValue", err);
	for (i = 0; i < CMK_P11_A_N; i++)
		a->len[i] = t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION ?
			    0 : t[i].ulValueLen;
	if (!a->len[CMK_P11_A_TYPE])
		a->type = CK_UNAVAILABLE_INFORMATION;
	a->label[a->len[CMK_P11_A_LABEL]] = 0;
	return cmk_p11_validity(p, a, err);
}

/* A CK_DATE as seconds since the epoch; @end: its last second. */
static time_t cmk_p11_date(const CK_DATE *d, CK_ULONG len, bool end)
{
	struct tm tm = { 0 };
	char s[9];
	int i;

	if (len != sizeof(*d))
		return 0;
	memcpy(s, d, 8);
	s[8] = 0;
	for (i = 0; i < 8; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	if (!strcmp(s, "00000000"))
		return 0;
	tm.tm_mday = atoi(s + 6);
	s[6] = 0;
	tm.tm_mon = atoi(s + 4) - 1;
	s[4] = 0;
	tm.tm_year = atoi(s) - 1900;
	if (end) {
		tm.tm_hour = 23;
		tm.tm_min = 59;
		tm.tm_sec = 59;
	}
	return timegm(&tm);
}

static bool cmk_p11_pub_sha256(const struct cmk_p11_attrs *a, uint8_t *out);

static void cmk_p11_info(const struct cmk_p11_attrs *a,
			 struct cmk_vault_key_info *info)
{
	CK_ULONG ml = a->len[CMK_P11_A_MODULUS];
	const uint8_t *m = a->modulus;

	memset(info, 0, sizeof(*info));
	info->exists = true;
	switch (a->type) {
	case CKK_RSA:
		strcpy(info->key_type, "RSA");
		break;
	case CKK_EC:
		strcpy(info->key_type, "EC");
		break;
	case CKK_AES:
		strcpy(info->key_type, "AES");
		break;
	default:
		strcpy(info->key_type, "unknown");
		break;
	}
	while (ml && !*m) {
		m++;
		ml--;
	}
	if (ml)
		info->bits = ml * 8 - (__builtin_clz(m[0]) - 24);
	info->can_decrypt = a->len[CMK_P11_A_DECRYPT] && a->decrypt;
	info->can_unwrap = a->len[CMK_P11_A_UNWRAP] && a->unwrap;
	info->sensitive = a->len[CMK_P11_A_SENSITIVE] && a->sensitive;
	info->extractable = !a->len[CMK_P11_A_EXTRACTABLE] || a->extractable;
	info->always_sensitive = a->len[CMK_P11_A_ASENS] && a->always_sensitive;
	info->never_extractable = a->len[CMK_P11_A_NEVEREXT] &&
				  a->never_extractable;
	info->has_public = a->len[CMK_P11_A_MODULUS] &&
			   a->len[CMK_P11_A_EXPONENT];
	info->can_encrypt = info->has_public;
	info->can_wrap = info->has_public;
	info->start = a->start_time;
	info->end = a->end_time;
	info->enabled = info->can_decrypt;
	snprintf(info->label, sizeof(info->label), "%s", a->label);
	cmk_id_to_version(a->id, a->len[CMK_P11_A_ID], info->version);
	info->has_pub_sha256 = cmk_p11_pub_sha256(a, info->pub_sha256);
}

/* Find the key, read it, and refuse it unless it meets the requirements. */
static int cmk_p11_usable_key(struct cmk_p11 *p, const char *version,
			      struct cmk_p11_attrs *a,
			      struct cmk_vault_key_info *info,
			      struct cmk_vault_error *err)
{
	struct cmk_kek_check checks[CMK_KEK_CHECKS];
	CK_OBJECT_HANDLE h;
	int ret;

	ret = cmk_p11_ready(p, err);
	if (ret)
		return ret;
	ret = cmk_p11_find_key(p, version, &h, err);
	if (ret)
		return ret;
	ret = cmk_p11_get_attrs(p, h, a, err);
	if (ret)
		return ret;
	cmk_p11_info(a, info);
	return cmk_kek_check(info, time(NULL), checks, err);
}

static const EVP_MD *cmk_p11_md(enum cmk_vault_alg alg)
{
	return alg == CMK_VAULT_ALG_RSA_OAEP_SHA256 ? EVP_sha256() : EVP_sha1();
}

/* The key's public half as an OpenSSL key, NULL if it cannot be read. */
static EVP_PKEY *cmk_p11_pubkey(const struct cmk_p11_attrs *a)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;

	if (!a->len[CMK_P11_A_MODULUS] || !a->len[CMK_P11_A_EXPONENT])
		return NULL;
	n = BN_bin2bn(a->modulus, a->len[CMK_P11_A_MODULUS], NULL);
	e = BN_bin2bn(a->exponent, a->len[CMK_P11_A_EXPONENT], NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/*
 * SHA-256 of the DER SubjectPublicKeyInfo of the key's public half, as
 * "openssl pkey -pubin -outform DER | sha256sum" gives it.
 */
static bool cmk_p11_pub_sha256(const struct cmk_p11_attrs *a, uint8_t *out)
{
	EVP_PKEY *pkey = cmk_p11_pubkey(a);
	unsigned char *der = NULL;
	unsigned int len = 0;
	bool ok = false;
	int n;

	if (!pkey)
		return false;
	n = i2d_PUBKEY(pkey, &der);
	if (n > 0 && EVP_Digest(der, n, out, &len, EVP_sha256(), NULL) &&
	    len == 32)
		ok = true;
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return ok;
}

/* RSA-OAEP encrypt in software with the key's public half. */
static int cmk_p11_encrypt(const struct cmk_p11_attrs *a,
			   enum cmk_vault_alg alg, const uint8_t *in,
			   size_t in_len, uint8_t *out, size_t *out_len,
			   struct cmk_vault_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey;
	size_t len = CMK_VAULT_WRAPPED_MAX;
	int ret = -EINVAL;

	pkey = cmk_p11_pubkey(a);
	if (!pkey)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, cmk_p11_md(alg)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, cmk_p11_md(alg)) <= 0 ||
	    EVP_PKEY_encrypt(ctx, out, &len, in, in_len) <= 0)
		goto out;
	*out_len = len;
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	if (ret)
		return cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY, 0,
					   "RSA-OAEP encryption with the public key failed");
	return 0;
}

/* RSA-OAEP decrypt inside the token; the plaintext only in @out. */
static int cmk_p11_decrypt(struct cmk_p11 *p, CK_OBJECT_HANDLE h,
			   enum cmk_vault_alg alg, const uint8_t *in,
			   size_t in_len, uint8_t *out, size_t out_size,
			   size_t *out_len, struct cmk_vault_error *err)
{
	CK_RSA_PKCS_OAEP_PARAMS oaep = {
		.hashAlg = alg == CMK_VAULT_ALG_RSA_OAEP_SHA256 ?
			   CKM_SHA256 : CKM_SHA_1,
		.mgf = alg == CMK_VAULT_ALG_RSA_OAEP_SHA256 ?
		       CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
		.source = CKZ_DATA_SPECIFIED,
	};
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_FUNCTION_LIST *f = p->mod->f;
	uint8_t buf[CMK_P11_MODULUS_MAX];
	CK_ULONG n = sizeof(buf);
	CK_RV rv;
	int ret = 0;

	rv = f->C_DecryptInit(p->session, &mech, h);
	if (rv != CKR_OK)
		return cmk_p11_fail(p, rv, "C_DecryptInit", err);
	rv = f->C_Decrypt(p->session, (CK_BYTE *)in, in_len, buf, &n);
	if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) {
		/*
		 * Data not for this key (SoftHSM2 fails OAEP padding so), or
		 * a token fault: transient until cmk_p11_unwrap() knows.
		 */
		p->ambiguous = true;
		ret = cmk_p11_fail(p, rv, "C_Decrypt", err);
	} else if (rv != CKR_OK) {
		ret = cmk_p11_fail(p, rv, "C_Decrypt", err);
	} else if (n > out_size) {
		ret = cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY, 0,
					  "unwrapped key too long (%lu bytes)",
					  (unsigned long)n);
	} else {
		memcpy(out, buf, n);
		*out_len = n;
	}
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

/*
 * A known-answer probe: encrypt a random value with the key's public half
 * and have the token decrypt it with @alg.  0 if the token gives it back;
 * otherwise the error of the decryption (@err).
 */
static int cmk_p11_kat(struct cmk_p11 *p, const struct cmk_p11_attrs *a,
		       enum cmk_vault_alg alg, struct cmk_vault_error *err)
{
	uint8_t probe[32], ct[CMK_VAULT_WRAPPED_MAX], pt[64];
	size_t ct_len, pt_len = 0;
	int ret;

	if (RAND_bytes(probe, sizeof(probe)) != 1)
		return cmk_vault_set_error(err, CMK_VAULT_TRANSIENT, 0,
					   "no random bytes for a probe");
	ret = cmk_p11_encrypt(a, alg, probe, sizeof(probe), ct, &ct_len, err);
	if (!ret)
		ret = cmk_p11_decrypt(p, a->h, alg, ct, ct_len, pt, sizeof(pt),
				      &pt_len, err);
	if (!ret && (pt_len != sizeof(probe) ||
		     memcmp(pt, probe, sizeof(probe))))
		ret = cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY, 0,
					  "the token decrypted a probe wrongly");
	explicit_bzero(probe, sizeof(probe));
	explicit_bzero(pt, sizeof(pt));
	return ret;
}

/* May the token decrypt SHA-256 OAEP?  Learnt once by trying. */
static bool cmk_p11_sha256_ok(struct cmk_p11 *p,
			      const struct cmk_p11_attrs *a)
{
	struct cmk_vault_error e;

	if (p->sha256_ok >= 0)
		return p->sha256_ok;
	p->ambiguous = false;
	if (!cmk_p11_kat(p, a, CMK_VAULT_ALG_RSA_OAEP_SHA256, &e)) {
		p->sha256_ok = 1;
	} else if (e.cls != CMK_VAULT_TRANSIENT) {
		p->sha256_ok = 0;
	} else if (p->ambiguous &&
		   !cmk_p11_kat(p, a, CMK_VAULT_ALG_RSA_OAEP_SHA1, &e)) {
		/* SHA-1 works where SHA-256 fails: the token lacks it. */
		p->sha256_ok = 0;
		p->broken = false;
	}
	/* Otherwise unknown yet: ask again next time. */
	p->ambiguous = false;
	return p->sha256_ok == 1;
}

/* ---- ops ---- */

static void cmk_p11_free(struct cmk_p11 *p)
{
	cmk_secure_free(p->pin);
	cmk_pkcs11_uri_free(&p->uri);
	free(p);
}

static int cmk_p11_read_pin(struct cmk_p11 *p,
			    const struct cmk_vault_options *opt,
			    struct cmk_vault_error *err)
{
	enum cmk_vault_pin src = opt->pin;
	const char *arg = opt->pin_arg;

	if (src == CMK_VAULT_PIN_NONE && p->uri.pin_source) {
		src = CMK_VAULT_PIN_FILE;
		arg = p->uri.pin_source;
		if (!strncmp(arg, "file:", 5)) {
			arg += 5;
			if (!strncmp(arg, "//", 2))
				arg += 2;
		}
	}
	if (src == CMK_VAULT_PIN_NONE)
		return 0;
	/* Locked, wiped when freed, left out of core dumps. */
	p->pin = cmk_secure_alloc(CMK_P11_PIN_MAX);
	if (!p->pin)
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "cannot lock memory for the PIN (RLIMIT_MEMLOCK?)");
	return cmk_vault_read_pin(src, arg, p->pin, CMK_P11_PIN_MAX, err);
}

/* Parse @uri into @u; NULL, or why it cannot name a KEK. */
static const char *cmk_p11_uri_problem(const char *uri,
				       struct cmk_pkcs11_uri *u)
{
	if (cmk_pkcs11_uri_parse(uri, u))
		return "malformed pkcs11: URI (bad syntax, or an unknown or repeated attribute)";
	if (u->has_pin_value)
		return "pin-value in a URI is refused; use pin-source, the keyring or a prompt";
	if (u->type && strcmp(u->type, "private"))
		return "the URI must name a private key (type=private)";
	if (!u->object && !u->has_id)
		return "the URI names no key (object= or id=)";
	return NULL;
}

static int cmk_p11_check_uri(const char *uri, const char **why)
{
	struct cmk_pkcs11_uri u;

	*why = cmk_p11_uri_problem(uri, &u);
	cmk_pkcs11_uri_free(&u);
	return *why ? -EINVAL : 0;
}

static int cmk_p11_open(struct cmk_vault *v, const char *uri,
			const struct cmk_vault_options *opt,
			struct cmk_vault_error *err)
{
	struct cmk_p11 *p;
	char path[PATH_MAX], real[PATH_MAX];
	const char *module, *why;
	int ret;

	p = calloc(1, sizeof(*p));
	if (!p)
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "out of memory");
	p->sha256_ok = -1;
	why = cmk_p11_uri_problem(uri, &p->uri);
	if (why) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0, "%s", why);
		goto out;
	}
	module = opt->module ?: p->uri.module_path ?: p->uri.module_name ?:
		 CMK_P11_DEFAULT_MODULE;
	if (cmk_vault_pkcs11_module(module, path, sizeof(path), &why)) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0, "%s", why);
		goto out;
	}
	/* One module loaded once, whatever the path or link that names it. */
	if (!realpath(path, real)) {
		ret = cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					  "PKCS#11 module %s: %s", path,
					  strerror(errno));
		goto out;
	}
	ret = cmk_p11_read_pin(p, opt, err);
	if (ret)
		goto out;
	ret = cmk_p11_module_get(real, &p->mod, err);
	if (ret)
		goto out;
	ret = cmk_p11_connect(p, err);
	if (ret) {
		cmk_p11_disconnect(p);
		cmk_p11_module_put(p->mod, p->broken);
		goto out;
	}
	v->priv = p;
	return 0;
out:
	cmk_p11_free(p);
	return ret;
}

static void cmk_p11_close(struct cmk_vault *v)
{
	struct cmk_p11 *p = v->priv;

	if (!p)
		return;
	/*
	 * A login belongs to the application, not the session: logging out
	 * here would log out every other handle on the token in this process
	 * (cmkd's other worker, the staged KEK's vault of a rotation).  Only
	 * the last user logs out; closing the last session does too.
	 */
	pthread_mutex_lock(&cmk_p11_lock);
	if (p->have_session && p->pin && p->mod->refs == 1)
		p->mod->f->C_Logout(p->session);
	pthread_mutex_unlock(&cmk_p11_lock);
	cmk_p11_disconnect(p);
	cmk_p11_module_put(p->mod, p->broken);
	cmk_p11_free(p);
	v->priv = NULL;
}

static int cmk_p11_describe(struct cmk_vault *v, const char *version,
			    struct cmk_vault_key_info *info,
			    struct cmk_vault_error *err)
{
	struct cmk_p11 *p = v->priv;
	struct cmk_p11_attrs a;
	CK_OBJECT_HANDLE h;
	int ret;

	ret = cmk_p11_ready(p, err);
	if (ret)
		return ret;
	ret = cmk_p11_find_key(p, version, &h, err);
	if (ret)
		return ret;
	ret = cmk_p11_get_attrs(p, h, &a, err);
	if (ret)
		return ret;
	cmk_p11_info(&a, info);
	return 0;
}

static int cmk_p11_wrap(struct cmk_vault *v, const char *version,
			enum cmk_vault_alg *alg, const uint8_t *in,
			size_t in_len, uint8_t *out, size_t *out_len,
			struct cmk_vault_error *err)
{
	struct cmk_p11 *p = v->priv;
	struct cmk_vault_key_info info;
	struct cmk_p11_attrs a;
	int ret;

	ret = cmk_p11_usable_key(p, version, &a, &info, err);
	if (ret)
		return ret;
	if (!info.has_public)
		return cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY, 0,
					   "the public key cannot be read");
	if (*alg == CMK_VAULT_ALG_AUTO)
		*alg = cmk_p11_sha256_ok(p, &a) ? CMK_VAULT_ALG_RSA_OAEP_SHA256 :
		       CMK_VAULT_ALG_RSA_OAEP_SHA1;
	if (p->broken)
		return cmk_vault_set_error(err, CMK_VAULT_TRANSIENT, 0,
					   "the vault failed during the OAEP probe");
	return cmk_p11_encrypt(&a, *alg, in, in_len, out, out_len, err);
}

/* One unwrap with a fixed algorithm. */
static int cmk_p11_unwrap_once(struct cmk_p11 *p, const char *version,
			       enum cmk_vault_alg alg, const uint8_t *in,
			       size_t in_len, uint8_t *out, size_t out_size,
			       size_t *out_len, struct cmk_vault_error *err)
{
	struct cmk_vault_key_info info;
	struct cmk_p11_attrs a;
	int ret;

	ret = cmk_p11_usable_key(p, version, &a, &info, err);
	if (ret)
		return ret;
	if (!info.can_decrypt)
		return cmk_vault_set_error(err, CMK_VAULT_DISABLED,
					   CKR_KEY_FUNCTION_NOT_PERMITTED,
					   "the key may not decrypt (CKA_DECRYPT false)");
	return cmk_p11_decrypt(p, a.h, alg, in, in_len, out, out_size,
			       out_len, err);
}

/*
 * An unwrap whose failure is confirmed before it counts.  C_Decrypt's
 * CKR_GENERAL_ERROR and CKR_FUNCTION_FAILED say either "not wrapped by
 * this key" (definitive: the volume is not this key's) or "the token
 * failed" (transient): the call is tried again on a fresh session, and if
 * it fails so again, a known-answer probe tells the two apart.  Each step
 * is audited ("unwrap-attempt", "probe").
 */
static int cmk_p11_unwrap_confirmed(struct cmk_vault *v, const char *version,
				    enum cmk_vault_alg alg, const uint8_t *in,
				    size_t in_len, uint8_t *out,
				    size_t out_size, size_t *out_len,
				    struct cmk_vault_error *err)
{
	struct cmk_p11 *p = v->priv;
	struct cmk_vault_key_info info;
	struct cmk_vault_error e;
	struct cmk_p11_attrs a;
	double start = cmk_vault_now_ms();
	unsigned long rv;
	int i, ret;

	for (i = 0; i < 2; i++) {
		p->ambiguous = false;
		ret = cmk_p11_unwrap_once(p, version, alg, in, in_len, out,
					  out_size, out_len, err);
		if (!ret || !p->ambiguous)
			return ret;
		cmk_vault_audit_step(v, "unwrap-attempt", version, err->cls,
				     start);
		start = cmk_vault_now_ms();
	}
	rv = err->code;
	p->ambiguous = false;
	ret = cmk_p11_usable_key(p, version, &a, &info, &e);
	if (!ret)
		ret = cmk_p11_kat(p, &a, alg, &e);
	cmk_vault_audit_step(v, "probe", version, ret ? e.cls : CMK_VAULT_OK,
			     start);
	p->ambiguous = false;
	if (!ret) {
		p->broken = false;
		return cmk_vault_set_error(err, CMK_VAULT_INVALID_KEY, rv,
					   "C_Decrypt: %s (0x%lx) twice, while a known-answer probe decrypts: not wrapped by this key, or corrupted",
					   cmk_p11_rv_name(rv), rv);
	}
	p->broken = true;
	return cmk_vault_set_error(err, CMK_VAULT_TRANSIENT, rv,
				   "C_Decrypt: %s (0x%lx) twice, and a known-answer probe fails too (%s): the token is failing",
				   cmk_p11_rv_name(rv), rv, e.msg);
}

static int cmk_p11_unwrap(struct cmk_vault *v, const char *version,
			  enum cmk_vault_alg *alg, const uint8_t *in,
			  size_t in_len, uint8_t *out, size_t out_size,
			  size_t *out_len, struct cmk_vault_error *err)
{
	int ret;

	if (*alg != CMK_VAULT_ALG_AUTO)
		return cmk_p11_unwrap_confirmed(v, version, *alg, in, in_len,
						out, out_size, out_len, err);
	*alg = CMK_VAULT_ALG_RSA_OAEP_SHA256;
	ret = cmk_p11_unwrap_confirmed(v, version, *alg, in, in_len, out,
				       out_size, out_len, err);
	if (!ret || err->cls != CMK_VAULT_INVALID_KEY)
		return ret;
	*alg = CMK_VAULT_ALG_RSA_OAEP_SHA1;
	return cmk_p11_unwrap_confirmed(v, version, *alg, in, in_len, out,
					out_size, out_len, err);
}

static int cmk_p11_list_versions(struct cmk_vault *v,
				 struct cmk_vault_version *vers, size_t max,
				 size_t *count, struct cmk_vault_error *err)
{
	struct cmk_p11 *p = v->priv;
	CK_OBJECT_HANDLE hs[CMK_P11_VERSIONS_MAX];
	struct cmk_vault_key_info info;
	struct cmk_p11_attrs a;
	CK_ULONG n, i;
	int ret;

	if (!p->uri.object)
		return cmk_vault_set_error(err, CMK_VAULT_CONFIG, 0,
					   "the KEK URI names no label (object=): its versions cannot be listed; name the new key with its own URI");
	ret = cmk_p11_ready(p, err);
	if (ret)
		return ret;
	/* Every version: the objects with the URI's label, whatever id= says. */
	ret = cmk_p11_find_ids(p, CKO_PRIVATE_KEY, NULL, true, hs,
			       CMK_P11_VERSIONS_MAX, &n, err);
	if (ret)
		return ret;
	for (i = 0; i < n && i < max; i++) {
		ret = cmk_p11_get_attrs(p, hs[i], &a, err);
		if (ret)
			return ret;
		cmk_p11_info(&a, &info);
		memcpy(vers[i].version, info.version, sizeof(vers[i].version));
		memcpy(vers[i].label, info.label, sizeof(vers[i].label));
		vers[i].enabled = info.enabled;
		vers[i].start = info.start;
	}
	*count = n;
	if (!n)
		return cmk_p11_find_key(p, NULL, hs, err);
	return 0;
}

const struct cmk_vault_ops cmk_vault_pkcs11_ops = {
	.name		= "pkcs11",
	.scheme		= "pkcs11:",
	.open		= cmk_p11_open,
	.close		= cmk_p11_close,
	.describe	= cmk_p11_describe,
	.wrap		= cmk_p11_wrap,
	.unwrap		= cmk_p11_unwrap,
	.list_versions	= cmk_p11_list_versions,
	.check_uri	= cmk_p11_check_uri,
};
