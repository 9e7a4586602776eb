// SPDX-License-Identifier: GPL-2.0
/*
 * cmk-softhsm-admin: key administration of the embedded demo/test vault
 * (scripts/cmk-vault-softhsm kek) through the PKCS#11 C API: disable or
 * enable a KEK for decryption, set or clear its end date, destroy it,
 * change the token's user PIN, and show the key's state.  These are the
 * vault-side events (a key disabled, expired, deleted, its credential
 * revoked) that the key daemon must see and survive.
 *
 * PINs are read from files (first line; /dev/fd/N works too), never from
 * argv or the environment.  Any PKCS#11 module can be named with --module;
 * the default is SoftHSM2's.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 no such key.
 */

#include <dlfcn.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define PIN_MAX		256
#define MAX_OBJS	16
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum { EXIT_USAGE = 2, EXIT_NOKEY = 3 };

static const char *prog = "cmk-softhsm-admin";
static CK_FUNCTION_LIST *f;
static CK_SESSION_HANDLE sess;

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
#define RV(x) { x, #x }
	RV(CKR_OK), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
	RV(CKR_CANT_LOCK), RV(CKR_ATTRIBUTE_READ_ONLY),
	RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
	RV(CKR_ACTION_PROHIBITED), RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY),
	RV(CKR_DEVICE_REMOVED), RV(CKR_FUNCTION_CANCELED),
	RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID),
	RV(CKR_OBJECT_HANDLE_INVALID), RV(CKR_OPERATION_ACTIVE),
	RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT),
	RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_EXPIRED),
	RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED), RV(CKR_SESSION_COUNT),
	RV(CKR_SESSION_HANDLE_INVALID), RV(CKR_SESSION_READ_ONLY),
	RV(CKR_SESSION_READ_ONLY_EXISTS), RV(CKR_TEMPLATE_INCOMPLETE),
	RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
	RV(CKR_TOKEN_NOT_RECOGNIZED), RV(CKR_TOKEN_WRITE_PROTECTED),
	RV(CKR_USER_ALREADY_LOGGED_IN), RV(CKR_USER_NOT_LOGGED_IN),
	RV(CKR_USER_PIN_NOT_INITIALIZED), RV(CKR_USER_TYPE_INVALID),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN), RV(CKR_BUFFER_TOO_SMALL),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
#undef RV
};

static const char *rv_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rv_names); i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	return "CKR_?";
}

static int fail_rv(const char *what, CK_RV rv)
{
	fprintf(stderr, "%s: %s: %s (0x%lx)\n", prog, what, rv_name(rv),
		(unsigned long)rv);
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: %s [OPTIONS] COMMAND [ARG]\n"
"\n"
"Key administration of a PKCS#11 token (the embedded SoftHSM2 vault).\n"
"\n"
"Commands:\n"
"  decrypt on|off          set CKA_DECRYPT of the key's private half\n"
"  end-date YYYYMMDD|none  set or clear CKA_END_DATE on both halves\n"
"  delete                  destroy the key (private and public halves)\n"
"  set-pin                 change the user PIN to --new-pin-file's\n"
"  show                    print the key's decrypt flag and end date\n"
"  keygen BITS on|off      a new RSA key pair labelled --key with --id,\n"
"                          allowed to decrypt (on) or not (off)\n"
"\n"
"Options:\n"
"  -m, --module PATH       PKCS#11 module (default %s)\n"
"  -t, --token LABEL       token label (required)\n"
"  -k, --key LABEL         key label (CKA_LABEL; all but set-pin)\n"
"  -p, --pin-file FILE     user PIN: first line of FILE (required)\n"
"  -n, --new-pin-file FILE new user PIN for set-pin\n"
"  -i, --id HEX            the key with this CKA_ID (one of several\n"
"                          versions with the same label)\n"
"  -h, --help              show this help\n"
"\n"
"Exit codes: 0 ok, 1 failure, 2 usage, 3 no such key.\n",
		prog, DEFAULT_MODULE);
}

/* The first line of @path into @pin (NUL-terminated); 0 or -1. */
static int read_pin(const char *path, char *pin, size_t size)
{
	FILE *fp = fopen(path, "re");
	size_t len;

	if (!fp) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	if (!fgets(pin, size, fp)) {
		fprintf(stderr, "%s: %s: empty PIN file\n", prog, path);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	len = strcspn(pin, "\r\n");
	if (len == size - 1 && pin[len] == 0) {
		fprintf(stderr, "%s: %s: PIN too long\n", prog, path);
		explicit_bzero(pin, size);
		return -1;
	}
	pin[len] = 0;
	if (!len) {
		fprintf(stderr, "%s: %s: empty PIN\n", prog, path);
		return -1;
	}
	return 0;
}

/* Load @module, find the token labelled @token, open a R/W session. */
static int open_token(const char *module, const char *token)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR list);
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	char label[sizeof(ti.label)];
	size_t tl = strlen(token);
	void *dl;
	CK_RV rv;

	if (tl > sizeof(label)) {
		fprintf(stderr, "%s: token label '%s' longer than %zu\n", prog,
			token, sizeof(label));
		return 1;
	}
	memset(label, ' ', sizeof(label));
	memcpy(label, token, tl);
	dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "%s: %s\n", prog, dlerror());
		return 1;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (!get) {
		fprintf(stderr, "%s: %s: no C_GetFunctionList\n", prog, module);
		return 1;
	}
	rv = get(&f);
	if (rv != CKR_OK)
		return fail_rv("C_GetFunctionList", rv);
	rv = f->C_Initialize(NULL);
	if (rv != CKR_OK)
		return fail_rv("C_Initialize", rv);
	rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n) {
		slots = calloc(n, sizeof(*slots));
		if (!slots) {
			fprintf(stderr, "%s: out of memory\n", prog);
			return 1;
		}
		rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		free(slots);
		return fail_rv("C_GetSlotList", rv);
	}
	for (i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    !memcmp(ti.label, label, sizeof(label)))
			break;
	if (i == n) {
		free(slots);
		fprintf(stderr, "%s: no token labelled '%s' in %s\n", prog,
			token, module);
		return 1;
	}
	rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
			      NULL, NULL, &sess);
	free(slots);
	if (rv != CKR_OK)
		return fail_rv("C_OpenSession", rv);
	return 0;
}

static int login(const char *pin)
{
	CK_RV rv = f->C_Login(sess, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));

	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return fail_rv("C_Login", rv);
	return 0;
}

static int find(CK_ATTRIBUTE *tmpl, CK_ULONG nt, CK_OBJECT_HANDLE *h,
		CK_ULONG *n)
{
	CK_RV rv, rv2;

	*n = 0;
	rv = f->C_FindObjectsInit(sess, tmpl, nt);
	if (rv != CKR_OK)
		return fail_rv("C_FindObjectsInit", rv);
	rv = f->C_FindObjects(sess, h, MAX_OBJS, n);
	rv2 = f->C_FindObjectsFinal(sess);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK)
		return fail_rv("C_FindObjects", rv);
	return 0;
}

/* --id: the key's CKA_ID, to pick one of several with the same label. */
static CK_BYTE key_id[64];
static CK_ULONG key_id_len;

/* Hex digits into key_id; 0 or -1. */
static int parse_id(const char *hex)
{
	size_t n = strlen(hex), i;
	unsigned int b;

	if (!n || n % 2 || n / 2 > sizeof(key_id))
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (!isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		key_id[i] = b;
	}
	key_id_len = n / 2;
	return 0;
}

/*
 * The private key labelled @key (exactly one; with --id, the one with that
 * CKA_ID) and its public halves: those
 * with the private key's CKA_ID (which is how libcmk finds them), or with
 * its label if it has no ID.
 */
static int find_key(const char *key, CK_OBJECT_HANDLE *priv,
		    CK_OBJECT_HANDLE *pub, CK_ULONG *npub)
{
	CK_OBJECT_CLASS cpriv = CKO_PRIVATE_KEY, cpub = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[3] = {
		{ CKA_CLASS, &cpriv, sizeof(cpriv) },
		{ CKA_LABEL, (void *)key, strlen(key) },
		{ CKA_ID, key_id, key_id_len },
	};
	CK_OBJECT_HANDLE h[MAX_OBJS];
	CK_BYTE id[256];
	CK_ATTRIBUTE ida = { CKA_ID, id, sizeof(id) };
	CK_ULONG n;
	CK_RV rv;

	if (find(t, key_id_len ? 3 : 2, h, &n))
		return 1;
	if (n == 0) {
		fprintf(stderr, "%s: no private key labelled '%s'%s\n", prog,
			key, key_id_len ? " with that --id" : "");
		return EXIT_NOKEY;
	}
	if (n > 1) {
		fprintf(stderr, "%s: %lu private keys labelled '%s' (give --id)\n",
			prog, (unsigned long)n, key);
		return 1;
	}
	*priv = h[0];
	rv = f->C_GetAttributeValue(sess, *priv, &ida, 1);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return fail_rv("C_GetAttributeValue(CKA_ID)", rv);
	t[0].pValue = &cpub;
	if (rv == CKR_OK && ida.ulValueLen &&
	    ida.ulValueLen != CK_UNAVAILABLE_INFORMATION)
		t[1] = ida;
	return find(t, 2, pub, npub);
}

static int set_attr(CK_OBJECT_HANDLE h, CK_ATTRIBUTE *a, const char *what)
{
	CK_RV rv = f->C_SetAttributeValue(sess, h, a, 1);

	if (rv != CKR_OK)
		return fail_rv(what, rv);
	return 0;
}

static int cmd_decrypt(const char *key, const char *arg)
{
	CK_OBJECT_HANDLE priv, pub[MAX_OBJS];
	CK_BBOOL v;
	CK_ATTRIBUTE a = { CKA_DECRYPT, &v, sizeof(v) };
	CK_ULONG npub;
	int ret;

	v = strcmp(arg, "on") ? CK_FALSE : CK_TRUE;	/* checked by main() */
	ret = find_key(key, &priv, pub, &npub);
	if (ret)
		return ret;
	return set_attr(priv, &a, "C_SetAttributeValue(CKA_DECRYPT)");
}

static bool valid_date(const char *s)
{
	int y, m, d;
	size_t i;

	if (strlen(s) != 8)
		return false;
	for (i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	if (sscanf(s, "%4d%2d%2d", &y, &m, &d) != 3)
		return false;
	return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/*
 * On both halves: SoftHSM2 stores a private object's dates but cannot read
 * them back, and libcmk takes the earlier end date of the two.
 */
static int cmd_end_date(const char *key, const char *arg)
{
	CK_OBJECT_HANDLE priv, pub[MAX_OBJS];
	CK_DATE d;
	CK_ATTRIBUTE a = { CKA_END_DATE, &d, sizeof(d) };
	CK_ULONG npub, i;
	int ret;

	/* YYYYMMDD or none: checked by main(). */
	if (!strcmp(arg, "none")) {
		a.pValue = NULL;
		a.ulValueLen = 0;
	} else {
		memcpy(d.year, arg, 4);
		memcpy(d.month, arg + 4, 2);
		memcpy(d.day, arg + 6, 2);
	}
	ret = find_key(key, &priv, pub, &npub);
	if (ret)
		return ret;
	if (set_attr(priv, &a, "C_SetAttributeValue(CKA_END_DATE, private)"))
		return 1;
	for (i = 0; i < npub; i++)
		if (set_attr(pub[i], &a,
			     "C_SetAttributeValue(CKA_END_DATE, public)"))
			return 1;
	if (!npub)
		fprintf(stderr,
			"%s: warning: key '%s' has no public half: SoftHSM2 cannot read its end date back\n",
			prog, key);
	return 0;
}

static int cmd_delete(const char *key)
{
	CK_OBJECT_HANDLE priv, pub[MAX_OBJS];
	CK_ULONG npub, i;
	CK_RV rv;
	int ret;

	ret = find_key(key, &priv, pub, &npub);
	if (ret)
		return ret;
	rv = f->C_DestroyObject(sess, priv);
	if (rv != CKR_OK)
		return fail_rv("C_DestroyObject(private)", rv);
	for (i = 0; i < npub; i++) {
		rv = f->C_DestroyObject(sess, pub[i]);
		if (rv != CKR_OK)
			return fail_rv("C_DestroyObject(public)", rv);
	}
	return 0;
}

/* One line: the key's decrypt flag and the earlier end date of its halves. */
static int cmd_show(const char *key)
{
	CK_OBJECT_HANDLE priv, pub[MAX_OBJS];
	CK_BBOOL dec = CK_FALSE;
	CK_ATTRIBUTE a = { CKA_DECRYPT, &dec, sizeof(dec) };
	char end[9] = "none", e[9];
	CK_DATE d;
	CK_ATTRIBUTE da = { CKA_END_DATE, &d, sizeof(d) };
	CK_ULONG npub, i;
	CK_RV rv;
	int ret;

	ret = find_key(key, &priv, pub, &npub);
	if (ret)
		return ret;
	rv = f->C_GetAttributeValue(sess, priv, &a, 1);
	if (rv != CKR_OK)
		return fail_rv("C_GetAttributeValue(CKA_DECRYPT)", rv);
	/* The private half's dates are unreadable in SoftHSM2 (issue #655). */
	for (i = 0; i < npub; i++) {
		da.ulValueLen = sizeof(d);
		rv = f->C_GetAttributeValue(sess, pub[i], &da, 1);
		if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
			return fail_rv("C_GetAttributeValue(CKA_END_DATE)", rv);
		if (rv != CKR_OK || da.ulValueLen != sizeof(d))
			continue;
		memcpy(e, &d, 8);
		e[8] = 0;
		if (!strcmp(end, "none") || strcmp(e, end) < 0)
			memcpy(end, e, sizeof(e));
	}
	printf("key '%s': decrypt %s, end date %s, %lu public half(s)\n", key,
	       dec ? "on" : "off", end, (unsigned long)npub);
	return 0;
}

/*
 * A new RSA key pair labelled @key with --id, its private half sensitive,
 * never extractable, and allowed to decrypt or not (@decrypt "on" or
 * "off") from the moment it exists: a test can make a version that is
 * never usable, then change it, with no window in between.
 */
static int cmd_keygen(const char *key, const char *bits_s, const char *decrypt)
{
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = strcmp(decrypt, "on") ? CK_FALSE : CK_TRUE;
	CK_BYTE exp[] = { 0x01, 0x00, 0x01 };
	CK_ULONG bits = strtoul(bits_s, NULL, 10);
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, exp, sizeof(exp) },
		{ CKA_LABEL, (void *)key, strlen(key) },
		{ CKA_ID, key_id, key_id_len },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_DECRYPT, &dec, sizeof(dec) },
		{ CKA_LABEL, (void *)key, strlen(key) },
		{ CKA_ID, key_id, key_id_len },
	};
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv;

	rv = f->C_GenerateKeyPair(sess, &mech, pub, 6, priv, 7, &hpub, &hpriv);
	if (rv != CKR_OK)
		return fail_rv("C_GenerateKeyPair", rv);
	return 0;
}

static int cmd_set_pin(const char *pin, const char *new_pin)
{
	CK_RV rv = f->C_SetPIN(sess, (CK_UTF8CHAR *)pin, strlen(pin),
			       (CK_UTF8CHAR *)new_pin, strlen(new_pin));

	if (rv != CKR_OK)
		return fail_rv("C_SetPIN", rv);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "new-pin-file", required_argument, NULL, 'n' },
		{ "id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *module = DEFAULT_MODULE, *token = NULL, *key = NULL;
	const char *pin_file = NULL, *new_pin_file = NULL, *cmd;
	char pin[PIN_MAX], new_pin[PIN_MAX];
	int c, nargs, ret;

	while ((c = getopt_long(argc, argv, "m:t:k:p:n:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (parse_id(optarg)) {
				fprintf(stderr, "%s: --id: hex digits, an even number, at most 128\n",
					prog);
				return EXIT_USAGE;
			}
			break;
		case 'm':
			module = optarg;
			break;
		case 't':
			token = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'p':
			pin_file = optarg;
			break;
		case 'n':
			new_pin_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	nargs = argc - optind - 1;
	if (!((!strcmp(cmd, "decrypt") && nargs == 1) ||
	      (!strcmp(cmd, "end-date") && nargs == 1) ||
	      (!strcmp(cmd, "delete") && nargs == 0) ||
	      (!strcmp(cmd, "show") && nargs == 0) ||
	      (!strcmp(cmd, "keygen") && nargs == 2) ||
	      (!strcmp(cmd, "set-pin") && nargs == 0))) {
		fprintf(stderr, "%s: unknown command or wrong arguments: %s\n",
			prog, cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "decrypt") && strcmp(argv[optind + 1], "on") &&
	    strcmp(argv[optind + 1], "off")) {
		fprintf(stderr, "%s: decrypt on|off, not '%s'\n", prog,
			argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "end-date") && strcmp(argv[optind + 1], "none") &&
	    !valid_date(argv[optind + 1])) {
		fprintf(stderr, "%s: end-date YYYYMMDD|none, not '%s'\n", prog,
			argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "keygen") &&
	    ((strcmp(argv[optind + 1], "2048") && strcmp(argv[optind + 1], "3072") &&
	      strcmp(argv[optind + 1], "4096")) ||
	     (strcmp(argv[optind + 2], "on") && strcmp(argv[optind + 2], "off")) ||
	     !key_id_len)) {
		fprintf(stderr, "%s: keygen 2048|3072|4096 on|off, with --id\n",
			prog);
		return EXIT_USAGE;
	}
	if (!token || !pin_file) {
		fprintf(stderr, "%s: --token and --pin-file are required\n",
			prog);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "set-pin") ? !key : !new_pin_file) {
		fprintf(stderr, "%s: %s needs %s\n", prog, cmd,
			strcmp(cmd, "set-pin") ? "--key" : "--new-pin-file");
		return EXIT_USAGE;
	}
	if (read_pin(pin_file, pin, sizeof(pin)))
		return 1;
	if (new_pin_file && !strcmp(cmd, "set-pin") &&
	    read_pin(new_pin_file, new_pin, sizeof(new_pin))) {
		explicit_bzero(pin, sizeof(pin));
		return 1;
	}
	ret = open_token(module, token);
	if (!ret)
		ret = login(pin);
	if (!ret) {
		if (!strcmp(cmd, "decrypt"))
			ret = cmd_decrypt(key, argv[optind + 1]);
		else if (!strcmp(cmd, "end-date"))
			ret = cmd_end_date(key, argv[optind + 1]);
		else if (!strcmp(cmd, "delete"))
			ret = cmd_delete(key);
		else if (!strcmp(cmd, "show"))
			ret = cmd_show(key);
		else if (!strcmp(cmd, "keygen"))
			ret = cmd_keygen(key, argv[optind + 1],
					 argv[optind + 2]);
		else
			ret = cmd_set_pin(pin, new_pin);
	}
	explicit_bzero(pin, sizeof(pin));
	explicit_bzero(new_pin, sizeof(new_pin));
	if (f) {
		if (sess) {
			f->C_Logout(sess);
			f->C_CloseSession(sess);
		}
		f->C_Finalize(NULL);
	}
	return ret;
}
