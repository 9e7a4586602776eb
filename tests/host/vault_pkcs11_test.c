// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side tests of libcmk's vault layer with the PKCS#11 backend, against
 * real SoftHSM2 tokens: in process, and served by "p11-kit server" on a Unix
 * socket (the vault as its own process).  Each test makes its own token in
 * a temporary directory (SOFTHSM2_CONF names a generated config: test
 * configuration, not a secret) and removes it.  Keys are made and changed
 * by this binary re-executed as a helper ("--p11-helper"), a separate
 * process as an administrator's tool would be.
 *
 * Exits 4 (skip) when SoftHSM2 is not installed.
 */

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#include "kselftest_harness.h"
#include "cmk-vault.h"

#define SOFTHSM		"/usr/lib/softhsm/libsofthsm2.so"
#define SOFTHSM_UTIL	"/usr/bin/softhsm2-util"
#define P11KIT		"/usr/bin/p11-kit"
#define TOKEN		"cmk-test"
#define PIN		"cmk-Pin-7Qx3"
#define SO_PIN		"cmk-SoPin-9Zr1"
#define KEY		"kek"

static const char *const p11_client_paths[] = {
	"/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
	"/usr/lib64/pkcs11/p11-kit-client.so",
	"/usr/lib/pkcs11/p11-kit-client.so",
};

/* ---- helper mode: key administration in a separate process ---- */

static CK_FUNCTION_LIST *hf;
static CK_SESSION_HANDLE hs;

static int helper_open(void)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;
	void *dl = dlopen(SOFTHSM, RTLD_NOW);

	if (!dl)
		return -1;
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (!get || get(&hf) || hf->C_Initialize(NULL) ||
	    hf->C_GetSlotList(CK_TRUE, slots, &n))
		return -1;
	for (i = 0; i < n; i++)
		if (!hf->C_GetTokenInfo(slots[i], &ti) &&
		    !memcmp(ti.label, TOKEN, strlen(TOKEN)) &&
		    ti.label[strlen(TOKEN)] == ' ')
			break;
	if (i == n || hf->C_OpenSession(slots[i], CKF_SERIAL_SESSION |
					CKF_RW_SESSION, NULL, NULL, &hs) ||
	    hf->C_Login(hs, CKU_USER, (CK_UTF8CHAR *)PIN, strlen(PIN)))
		return -1;
	return 0;
}

static int helper_find(const char *label, CK_OBJECT_CLASS cls,
		       CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ULONG n = 0;

	if (hf->C_FindObjectsInit(hs, t, 2) ||
	    hf->C_FindObjects(hs, h, 1, &n) || hf->C_FindObjectsFinal(hs))
		return -1;
	return n == 1 ? 0 : -1;
}

static CK_ATTRIBUTE helper_date(CK_ATTRIBUTE_TYPE type, const char *s,
				CK_DATE *d)
{
	CK_ATTRIBUTE a = { type, d, sizeof(*d) };

	if (!strcmp(s, "-"))
		a.ulValueLen = 0;
	else
		memcpy(d, s, 8);
	return a;
}

/*
 * gen LABEL IDHEX BITS EXTRACTABLE SENSITIVE DECRYPT START END
 * set LABEL decrypt|start|end VALUE
 * del LABEL
 */
static int p11_helper(int argc, char **argv)
{
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, x, s, d;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG bits;
	CK_DATE ds, de;
	uint8_t id[8];
	size_t idl, i;

	if (argc < 2 || helper_open())
		return 2;
	if (!strcmp(argv[0], "gen") && argc == 9) {
		const char *label = argv[1];

		idl = strlen(argv[2]) / 2;
		for (i = 0; i < idl && i < sizeof(id); i++)
			sscanf(argv[2] + 2 * i, "%2hhx", &id[i]);
		bits = strtoul(argv[3], NULL, 10);
		x = argv[4][0] == '1';
		s = argv[5][0] == '1';
		d = argv[6][0] == '1';
		CK_ATTRIBUTE pt[] = {
			{ CKA_TOKEN, &yes, 1 }, { CKA_ENCRYPT, &yes, 1 },
			{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
			{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_ID, id, idl },
			helper_date(CKA_START_DATE, argv[7], &ds),
			helper_date(CKA_END_DATE, argv[8], &de),
		};
		CK_ATTRIBUTE kt[] = {
			{ CKA_TOKEN, &yes, 1 }, { CKA_PRIVATE, &yes, 1 },
			{ CKA_SENSITIVE, &s, 1 }, { CKA_EXTRACTABLE, &x, 1 },
			{ CKA_DECRYPT, &d, 1 }, { CKA_SIGN, &no, 1 },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_ID, id, idl },
			helper_date(CKA_START_DATE, argv[7], &ds),
			helper_date(CKA_END_DATE, argv[8], &de),
		};
		return hf->C_GenerateKeyPair(hs, &mech, pt, 8, kt, 10, &pub,
					     &priv) ? 1 : 0;
	}
	if (helper_find(argv[1], CKO_PRIVATE_KEY, &priv))
		return 3;
	if (!strcmp(argv[0], "del")) {
		if (hf->C_DestroyObject(hs, priv))
			return 1;
		if (!helper_find(argv[1], CKO_PUBLIC_KEY, &pub))
			hf->C_DestroyObject(hs, pub);
		return 0;
	}
	if (!strcmp(argv[0], "set") && argc == 4) {
		CK_ATTRIBUTE a;

		if (!strcmp(argv[2], "decrypt"))
			a = (CK_ATTRIBUTE){ CKA_DECRYPT,
					    argv[3][0] == '1' ? &yes : &no, 1 };
		else if (!strcmp(argv[2], "start"))
			a = helper_date(CKA_START_DATE, argv[3], &ds);
		else
			a = helper_date(CKA_END_DATE, argv[3], &de);
		if (hf->C_SetAttributeValue(hs, priv, &a, 1))
			return 1;
		/* Dates on both halves: SoftHSM2 cannot read a private one. */
		if (a.type != CKA_DECRYPT &&
		    (helper_find(argv[1], CKO_PUBLIC_KEY, &pub) ||
		     hf->C_SetAttributeValue(hs, pub, &a, 1)))
			return 1;
		return 0;
	}
	return 2;
}

/* ---- test side ---- */

static int run(const char *const argv[], bool quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int helper(const char *a0, const char *a1, const char *a2,
		  const char *a3)
{
	const char *argv[] = { "/proc/self/exe", "--p11-helper", a0, a1, a2,
			       a3, NULL };

	return run(argv, false);
}

static int gen_key(const char *label, const char *id, int bits,
		   bool extractable, bool sensitive, bool decrypt,
		   const char *start, const char *end)
{
	char b[16];
	const char *argv[] = { "/proc/self/exe", "--p11-helper", "gen",
			       label, id, b, extractable ? "1" : "0",
			       sensitive ? "1" : "0", decrypt ? "1" : "0",
			       start, end, NULL };

	snprintf(b, sizeof(b), "%d", bits);
	return run(argv, false);
}

/* A CK_DATE string @days from today (UTC). */
static void day(int days, char buf[9])
{
	time_t t = time(NULL) + (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 9, "%Y%m%d", &tm);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *p11_client(void)
{
	size_t i;

	for (i = 0; i < sizeof(p11_client_paths) / sizeof(p11_client_paths[0]); i++)
		if (!access(p11_client_paths[i], R_OK))
			return p11_client_paths[i];
	return NULL;
}

static int write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, s, strlen(s));
	close(fd);
	return w == (ssize_t)strlen(s) ? 0 : -1;
}

FIXTURE(vault) {
	char dir[64];
	char pin_file[128];
	char audit[128];
	char sock[128];
	char uri[256];
	pid_t server;
	struct cmk_vault_options opt;
	struct cmk_vault_ctx ctx;
};

FIXTURE_SETUP(vault)
{
	char conf[128], tokens[128], text[512];
	const char *init[] = { SOFTHSM_UTIL, "--init-token", "--free",
			       "--label", TOKEN, "--so-pin", SO_PIN,
			       "--pin", PIN, NULL };

	strcpy(self->dir, "/tmp/cmk-vault-test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", self->dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", self->dir);
	ASSERT_EQ(0, mkdir(tokens, 0700));
	snprintf(text, sizeof(text),
		 "directories.tokendir = %s\nobjectstore.backend = file\n"
		 "log.level = ERROR\n", tokens);
	ASSERT_EQ(0, write_file(conf, text, 0600));
	setenv("SOFTHSM2_CONF", conf, 1);
	ASSERT_EQ(0, run(init, true));
	snprintf(self->pin_file, sizeof(self->pin_file), "%s/pin", self->dir);
	ASSERT_EQ(0, write_file(self->pin_file, PIN "\n", 0600));
	snprintf(self->audit, sizeof(self->audit), "%s/audit.log", self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/p11.sock", self->dir);
	snprintf(self->uri, sizeof(self->uri),
		 "pkcs11:token=" TOKEN ";object=" KEY ";type=private");
	self->server = 0;
	memset(&self->opt, 0, sizeof(self->opt));
	self->opt.pin = CMK_VAULT_PIN_FILE;
	self->opt.pin_arg = self->pin_file;
	self->opt.audit_path = self->audit;
	self->opt.audit_syslog = true;
	self->ctx.uuid = "3f0a6c1e-8a53-4b1e-9d7c-2f6a1b9e0c11";
	self->ctx.extent_first = 0;
	self->ctx.extent_count = 4096;
}

FIXTURE_TEARDOWN(vault)
{
	const char *rm[] = { "/bin/rm", "-rf", self->dir, NULL };

	if (self->server > 0) {
		kill(-self->server, SIGKILL);
		waitpid(self->server, NULL, 0);
	}
	run(rm, true);
}

/* Serve the token with "p11-kit server" in its own process group. */
static int start_server(const char *sock)
{
	char tok[64];
	pid_t pid;
	int i;

	snprintf(tok, sizeof(tok), "pkcs11:token=%s", TOKEN);
	unlink(sock);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		int fd = open("/dev/null", O_WRONLY);

		setpgid(0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(P11KIT, P11KIT, "server", "-f", "--provider", SOFTHSM,
		      "-n", sock, tok, NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	for (i = 0; i < 200 && access(sock, F_OK); i++)
		usleep(10000);
	return access(sock, F_OK) ? -1 : pid;
}

static void stop_server(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(-*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

/* Wrap a fresh 32-byte key; unwrap it; compare. */
static void round_trip(struct __test_metadata *_metadata,
		       struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		       const char *what)
{
	uint8_t vk[32], wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_AUTO, ualg;
	struct cmk_vault_error err;
	size_t wl, ol;
	double t0, ms;
	int i, n = 20;

	for (i = 0; i < 32; i++)
		vk[i] = i * 7 + 1;
	ASSERT_EQ(0, cmk_vault_wrap(v, ctx, NULL, &alg, vk, sizeof(vk),
				    wrapped, &wl, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(256, wl);
	/* SoftHSM2 2.6 refuses SHA-256 OAEP: the probe picks SHA-1. */
	EXPECT_EQ(CMK_VAULT_ALG_RSA_OAEP_SHA1, alg);
	ualg = alg;
	ASSERT_EQ(0, cmk_vault_unwrap(v, ctx, NULL, &ualg, wrapped, wl, out,
				      sizeof(out), &ol, &err))
		TH_LOG("%s", err.msg);
	ASSERT_EQ(32, ol);
	EXPECT_EQ(0, memcmp(vk, out, 32));
	ualg = CMK_VAULT_ALG_AUTO;
	memset(out, 0, sizeof(out));
	ASSERT_EQ(0, cmk_vault_unwrap(v, ctx, NULL, &ualg, wrapped, wl, out,
				      sizeof(out), &ol, &err));
	EXPECT_EQ(0, memcmp(vk, out, 32));
	EXPECT_EQ(CMK_VAULT_ALG_RSA_OAEP_SHA1, ualg);
	/* A buffer too small for the key: refused, and wiped. */
	memset(out, 0xaa, sizeof(out));
	ualg = alg;
	EXPECT_EQ(-EKEYREJECTED, cmk_vault_unwrap(v, ctx, NULL, &ualg,
						  wrapped, wl, out, 16, &ol,
						  &err));
	EXPECT_EQ(0, out[0]);

	t0 = now_ms();
	for (i = 0; i < n; i++) {
		ualg = alg;
		ASSERT_EQ(0, cmk_vault_unwrap(v, ctx, NULL, &ualg, wrapped,
					      wl, out, sizeof(out), &ol,
					      &err));
	}
	ms = (now_ms() - t0) / n;
	TH_LOG("%s: unwrap %.2f ms (mean of %d)", what, ms, n);
}

TEST_F(vault, round_trip_in_process)
{
	struct cmk_vault_key_info info;
	struct cmk_vault_version vers[4];
	struct cmk_vault_error err;
	struct cmk_vault *v;
	size_t count;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, &self->ctx, &v,
				    &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, cmk_vault_describe(v, &self->ctx, NULL, &info, &err));
	EXPECT_TRUE(info.exists);
	EXPECT_STREQ("RSA", info.key_type);
	EXPECT_EQ(2048, info.bits);
	EXPECT_TRUE(info.can_decrypt);
	EXPECT_TRUE(info.sensitive);
	EXPECT_FALSE(info.extractable);
	EXPECT_TRUE(info.has_public);
	EXPECT_EQ(0, info.start);
	EXPECT_EQ(0, info.end);
	EXPECT_STREQ(KEY, info.label);
	EXPECT_STREQ("01", info.version);
	round_trip(_metadata, v, &self->ctx, "in process");
	ASSERT_EQ(0, cmk_vault_list_versions(v, NULL, vers, 4, &count, &err));
	EXPECT_EQ(1, count);
	EXPECT_STREQ("01", vers[0].version);
	EXPECT_TRUE(vers[0].enabled);
	ASSERT_EQ(0, cmk_vault_describe(v, NULL, "01", &info, &err));
	EXPECT_EQ(-ENOENT, cmk_vault_describe(v, NULL, "02", &info, &err));
	EXPECT_EQ(CMK_VAULT_NOT_FOUND, err.cls);
	cmk_vault_close(v);
}

/*
 * Two handles on one token in one process (cmkd's two workers; a rotation's
 * current and staged KEK): closing one must not log the other out, and
 * list-versions, the public key hash and version order see every version.
 */
TEST_F(vault, two_handles_and_versions)
{
	uint8_t vk[32] = { 7 }, wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_AUTO;
	struct cmk_vault_key_info i1, i2;
	char newest[CMK_VAULT_VERSION_MAX];
	struct cmk_vault_error err;
	struct cmk_vault *a, *b;
	size_t wl, ol;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, gen_key(KEY, "02", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, &self->ctx, &a,
				    &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, &self->ctx, &b,
				    &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, cmk_vault_describe(b, NULL, "01", &i1, &err));
	ASSERT_EQ(0, cmk_vault_describe(b, NULL, "02", &i2, &err));
	EXPECT_TRUE(i1.has_pub_sha256);
	EXPECT_NE(0, memcmp(i1.pub_sha256, i2.pub_sha256, 32));
	cmk_vault_close(b);
	ASSERT_EQ(0, cmk_vault_wrap(a, NULL, "02", &alg, vk, sizeof(vk),
				    wrapped, &wl, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, cmk_vault_unwrap(a, NULL, "02", &alg, wrapped, wl, out,
				      sizeof(out), &ol, &err))
		TH_LOG("after another handle was closed: %s", err.msg);
	EXPECT_EQ(0, memcmp(vk, out, 32));
	/* The URI names id 01; its versions are every object of its label. */
	ASSERT_EQ(0, cmk_vault_newest_version(a, NULL, "01", newest,
					      sizeof(newest), &err));
	EXPECT_STREQ("02", newest);
	EXPECT_EQ(-ENOENT, cmk_vault_newest_version(a, NULL, "02", newest,
						    sizeof(newest), &err));
	cmk_vault_close(a);
	EXPECT_LT(cmk_vault_version_cmp(0, "09", 0, "0a"), 0);
	EXPECT_LT(cmk_vault_version_cmp(0, "ff", 0, "0100"), 0);
	EXPECT_GT(cmk_vault_version_cmp(86400, "01", 0, "02"), 0);
}

TEST_F(vault, oaep_sha256_refused_or_used)
{
	uint8_t vk[32] = { 1 }, wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_RSA_OAEP_SHA256;
	struct cmk_vault_error err;
	struct cmk_vault *v;
	size_t wl, ol;
	int ret;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, NULL, &v, &err));
	/* An explicit SHA-256 wrap is done as asked (in software)... */
	ASSERT_EQ(0, cmk_vault_wrap(v, NULL, NULL, &alg, vk, sizeof(vk),
				    wrapped, &wl, &err));
	EXPECT_EQ(CMK_VAULT_ALG_RSA_OAEP_SHA256, alg);
	/* ...and its unwrap either works or is an invalid-key failure. */
	ret = cmk_vault_unwrap(v, NULL, NULL, &alg, wrapped, wl, out,
			       sizeof(out), &ol, &err);
	if (ret) {
		EXPECT_EQ(CMK_VAULT_INVALID_KEY, err.cls);
		TH_LOG("SHA-256 OAEP unwrap: %s", err.msg);
	} else {
		EXPECT_EQ(0, memcmp(vk, out, 32));
	}
	cmk_vault_close(v);
}

TEST_F(vault, round_trip_p11kit_server)
{
	uint8_t vk[32] = { 9 }, wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_RSA_OAEP_SHA1;
	struct cmk_vault_key_info info;
	struct cmk_vault_error err;
	struct cmk_vault *v;
	const char *client = p11_client();
	char addr[160];
	size_t wl, ol;

	if (!client || access(P11KIT, X_OK))
		SKIP(return, "p11-kit server or p11-kit-client.so missing");
	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	self->server = start_server(self->sock);
	ASSERT_LT(0, self->server);
	snprintf(addr, sizeof(addr), "unix:path=%s", self->sock);
	setenv("P11_KIT_SERVER_ADDRESS", addr, 1);
	self->opt.module = client;
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, &self->ctx, &v,
				    &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, cmk_vault_describe(v, NULL, NULL, &info, &err));
	EXPECT_EQ(2048, info.bits);
	EXPECT_TRUE(info.sensitive);
	round_trip(_metadata, v, &self->ctx, "p11-kit server");
	ASSERT_EQ(0, cmk_vault_wrap(v, NULL, NULL, &alg, vk, sizeof(vk),
				    wrapped, &wl, &err));

	/* The vault process dies: transient, every call. */
	stop_server(&self->server);
	EXPECT_EQ(-EAGAIN, cmk_vault_unwrap(v, &self->ctx, NULL, &alg,
					    wrapped, wl, out, sizeof(out),
					    &ol, &err));
	EXPECT_EQ(CMK_VAULT_TRANSIENT, err.cls);
	TH_LOG("server killed: %s", err.msg);
	EXPECT_EQ(-EAGAIN, cmk_vault_describe(v, NULL, NULL, &info, &err));
	EXPECT_EQ(CMK_VAULT_TRANSIENT, err.cls);

	/* It comes back: the same handle works again. */
	self->server = start_server(self->sock);
	ASSERT_LT(0, self->server);
	ASSERT_EQ(0, cmk_vault_unwrap(v, &self->ctx, NULL, &alg, wrapped, wl,
				      out, sizeof(out), &ol, &err))
		TH_LOG("after restart: %s", err.msg);
	EXPECT_EQ(0, memcmp(vk, out, 32));
	cmk_vault_close(v);

	/* Opening while the server is down is transient too. */
	stop_server(&self->server);
	EXPECT_EQ(-EAGAIN, cmk_vault_open(self->uri, &self->opt, NULL, &v,
					  &err));
	EXPECT_EQ(CMK_VAULT_TRANSIENT, err.cls);
	unsetenv("P11_KIT_SERVER_ADDRESS");
}

/* Wrap with a good key, change the key, unwrap: expect @cls. */
static void fails_after(struct __test_metadata *_metadata,
			FIXTURE_DATA(vault) *self, const char *attr,
			const char *value, enum cmk_vault_class cls)
{
	uint8_t vk[32] = { 3 }, wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_RSA_OAEP_SHA1;
	struct cmk_vault_error err;
	struct cmk_vault *v;
	size_t wl, ol;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, &self->ctx, &v,
				    &err));
	ASSERT_EQ(0, cmk_vault_wrap(v, &self->ctx, NULL, &alg, vk,
				    sizeof(vk), wrapped, &wl, &err));
	ASSERT_EQ(0, cmk_vault_unwrap(v, &self->ctx, NULL, &alg, wrapped, wl,
				      out, sizeof(out), &ol, &err));
	if (attr) {
		ASSERT_EQ(0, helper("set", KEY, attr, value));
	} else {
		ASSERT_EQ(0, helper("del", KEY, NULL, NULL));
	}
	memset(out, 0x55, sizeof(out));
	EXPECT_EQ(cmk_vault_class_errno(cls),
		  cmk_vault_unwrap(v, &self->ctx, NULL, &alg, wrapped, wl,
				   out, sizeof(out), &ol, &err));
	EXPECT_EQ(cls, err.cls) TH_LOG("got %s: %s",
				       cmk_vault_class_name(err.cls), err.msg);
	EXPECT_EQ(0, out[0]);
	EXPECT_EQ(0, ol);
	/* Wrapping a new volume key is refused the same way. */
	EXPECT_EQ(cmk_vault_class_errno(cls),
		  cmk_vault_wrap(v, &self->ctx, NULL, &alg, vk, sizeof(vk),
				 wrapped, &wl, &err));
	EXPECT_EQ(cls, err.cls);
	cmk_vault_close(v);
}

TEST_F(vault, fail_key_deleted)
{
	fails_after(_metadata, self, NULL, NULL, CMK_VAULT_NOT_FOUND);
}

TEST_F(vault, fail_decrypt_false)
{
	fails_after(_metadata, self, "decrypt", "0", CMK_VAULT_DISABLED);
}

TEST_F(vault, fail_end_date_passed)
{
	char d[9];

	day(-2, d);
	fails_after(_metadata, self, "end", d, CMK_VAULT_EXPIRED);
}

TEST_F(vault, fail_start_date_future)
{
	char d[9];

	day(2, d);
	fails_after(_metadata, self, "start", d, CMK_VAULT_NOT_YET_VALID);
}

TEST_F(vault, fail_wrong_pin)
{
	struct cmk_vault_error err;
	struct cmk_vault *v = NULL;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, write_file(self->pin_file, "0000-wrong\n", 0600));
	EXPECT_EQ(-EACCES, cmk_vault_open(self->uri, &self->opt, &self->ctx,
					  &v, &err));
	EXPECT_EQ(CMK_VAULT_PERMISSION_DENIED, err.cls);
	EXPECT_EQ(CKR_PIN_INCORRECT, err.code);
	EXPECT_EQ(NULL, v);
	/* No PIN at all: the private key is invisible. */
	self->opt.pin = CMK_VAULT_PIN_NONE;
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, NULL, &v, &err));
	{
		struct cmk_vault_key_info info;

		EXPECT_EQ(-EACCES, cmk_vault_describe(v, NULL, NULL, &info,
						      &err));
		EXPECT_EQ(CMK_VAULT_PERMISSION_DENIED, err.cls);
	}
	cmk_vault_close(v);
	/* A missing PIN file is a configuration error. */
	self->opt.pin = CMK_VAULT_PIN_FILE;
	self->opt.pin_arg = "/nonexistent/pin";
	EXPECT_EQ(-EINVAL, cmk_vault_open(self->uri, &self->opt, NULL, &v,
					  &err));
	EXPECT_EQ(CMK_VAULT_CONFIG, err.cls);
}

TEST_F(vault, fail_wrong_kek)
{
	uint8_t vk[32] = { 5 }, wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_RSA_OAEP_SHA1;
	struct cmk_vault_error err;
	struct cmk_vault *v, *w;
	size_t wl, ol;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, gen_key("other", "02", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, NULL, &v, &err));
	ASSERT_EQ(0, cmk_vault_open("pkcs11:token=" TOKEN ";object=other",
				    &self->opt, NULL, &w, &err));
	ASSERT_EQ(0, cmk_vault_wrap(v, NULL, NULL, &alg, vk, sizeof(vk),
				    wrapped, &wl, &err));
	EXPECT_EQ(-EKEYREJECTED, cmk_vault_unwrap(w, NULL, NULL, &alg,
						  wrapped, wl, out,
						  sizeof(out), &ol, &err));
	EXPECT_EQ(CMK_VAULT_INVALID_KEY, err.cls);
	wrapped[10] ^= 1;
	EXPECT_EQ(-EKEYREJECTED, cmk_vault_unwrap(v, NULL, NULL, &alg,
						  wrapped, wl, out,
						  sizeof(out), &ol, &err));
	cmk_vault_close(w);
	cmk_vault_close(v);
	/* A URI matching two keys is ambiguous; a version picks one. */
	ASSERT_EQ(0, gen_key(KEY, "03", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, NULL, &v, &err));
	{
		struct cmk_vault_version vers[4];
		struct cmk_vault_key_info info;
		size_t count;

		EXPECT_EQ(-EKEYREJECTED, cmk_vault_describe(v, NULL, NULL,
							    &info, &err));
		EXPECT_EQ(0, cmk_vault_describe(v, NULL, "03", &info, &err));
		EXPECT_STREQ("03", info.version);
		EXPECT_EQ(0, cmk_vault_list_versions(v, NULL, vers, 4, &count,
						     &err));
		EXPECT_EQ(2, count);
	}
	cmk_vault_close(v);
}

static void check_kek(struct __test_metadata *_metadata,
		      FIXTURE_DATA(vault) *self, const char *label,
		      const char *failed, enum cmk_vault_class cls)
{
	struct cmk_kek_check checks[CMK_KEK_CHECKS];
	struct cmk_vault_error err;
	struct cmk_vault *v;
	char uri[128];
	int i, nfail = 0;

	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s", TOKEN, label);
	ASSERT_EQ(0, cmk_vault_open(uri, &self->opt, NULL, &v, &err));
	EXPECT_EQ(failed ? cmk_vault_class_errno(cls) : 0,
		  cmk_vault_validate_kek(v, NULL, NULL, checks, &err));
	for (i = 0; i < CMK_KEK_CHECKS; i++) {
		ASSERT_NE(NULL, checks[i].name);
		if (checks[i].result == CMK_KEK_FAIL) {
			nfail++;
			EXPECT_STREQ(failed, checks[i].name);
			EXPECT_EQ(cls, checks[i].cls);
		}
	}
	EXPECT_EQ(failed ? 1 : 0, nfail);
	if (failed) {
		EXPECT_EQ(cls, err.cls);
	}
	cmk_vault_close(v);
}

TEST_F(vault, kek_requirements)
{
	struct cmk_kek_check checks[CMK_KEK_CHECKS];
	struct cmk_vault_key_info info;
	struct cmk_vault_error err;
	char later[9];
	int i;

	day(30, later);
	ASSERT_EQ(0, gen_key("good", "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, gen_key("small", "02", 1024, false, true, true, "-", "-"));
	ASSERT_EQ(0, gen_key("extr", "03", 2048, true, true, true, "-", "-"));
	ASSERT_EQ(0, gen_key("plain", "04", 2048, false, false, true, "-", "-"));
	ASSERT_EQ(0, gen_key("nodec", "05", 2048, false, true, false, "-", "-"));
	ASSERT_EQ(0, gen_key("ends", "06", 3072, false, true, true, "-", later));
	check_kek(_metadata, self, "good", NULL, 0);
	check_kek(_metadata, self, "small", "size", CMK_VAULT_INVALID_KEY);
	check_kek(_metadata, self, "extr", "extractable",
		  CMK_VAULT_INVALID_KEY);
	check_kek(_metadata, self, "plain", "sensitive",
		  CMK_VAULT_INVALID_KEY);
	check_kek(_metadata, self, "nodec", "usage", CMK_VAULT_DISABLED);
	check_kek(_metadata, self, "ends", NULL, 0);

	/* The end date warns; a non-RSA key fails "type". */
	memset(&info, 0, sizeof(info));
	strcpy(info.key_type, "RSA");
	info.bits = 4096;
	info.enabled = info.can_unwrap = info.sensitive = true;
	info.end = time(NULL) + 3600;
	EXPECT_EQ(0, cmk_kek_check(&info, time(NULL), checks, &err));
	for (i = 0; i < CMK_KEK_CHECKS; i++)
		if (!strcmp(checks[i].name, "end")) {
			EXPECT_EQ(CMK_KEK_WARN, checks[i].result);
		}
	strcpy(info.key_type, "EC");
	EXPECT_EQ(-EKEYREJECTED, cmk_kek_check(&info, time(NULL), checks,
					       &err));
	EXPECT_STREQ("type", checks[0].name);
	EXPECT_EQ(CMK_KEK_FAIL, checks[0].result);
}

TEST_F(vault, audit_log_json_no_pin)
{
	uint8_t vk[32] = { 7 }, wrapped[CMK_VAULT_WRAPPED_MAX], out[64];
	enum cmk_vault_alg alg = CMK_VAULT_ALG_RSA_OAEP_SHA1;
	struct cmk_vault_key_info info;
	struct cmk_vault_error err;
	struct cmk_vault *v;
	char buf[16384], uri[512];
	const char *py[] = { "/usr/bin/python3", "-c",
		"import json, sys\n"
		"n = 0\n"
		"for line in open(sys.argv[1]):\n"
		"    r = json.loads(line)\n"
		"    for k in ('time', 'op', 'uuid', 'kek', 'version', 'result', 'ms'):\n"
		"        assert k in r, k\n"
		"    assert r['time'].endswith('Z') and len(r['time']) == 24\n"
		"    assert 'pin-value' not in r['kek']\n"
		"    n += 1\n"
		"sys.exit(0 if n == int(sys.argv[2]) else 1)\n",
		self->audit, "7", NULL };
	struct stat st;
	ssize_t n;
	size_t wl, ol;
	int fd;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, &self->ctx, &v,
				    &err));
	ASSERT_EQ(0, cmk_vault_describe(v, &self->ctx, NULL, &info, &err));
	ASSERT_EQ(0, cmk_vault_wrap(v, &self->ctx, NULL, &alg, vk,
				    sizeof(vk), wrapped, &wl, &err));
	ASSERT_EQ(0, cmk_vault_unwrap(v, &self->ctx, NULL, &alg, wrapped, wl,
				      out, sizeof(out), &ol, &err));
	ASSERT_EQ(0, helper("set", KEY, "decrypt", "0"));
	ASSERT_NE(0, cmk_vault_unwrap(v, NULL, NULL, &alg, wrapped, wl, out,
				      sizeof(out), &ol, &err));
	cmk_vault_close(v);
	/* A pin-value is refused, and never logged. */
	snprintf(uri, sizeof(uri), "%s?pin-value=%s&module-path=%s",
		 self->uri, PIN, "/usr/lib/softhsm/libsofthsm2.so");
	EXPECT_EQ(-EINVAL, cmk_vault_open(uri, &self->opt, NULL, &v, &err));
	snprintf(uri, sizeof(uri), "%s?module-path=/nonexistent.so",
		 self->uri);
	EXPECT_EQ(-EINVAL, cmk_vault_open(uri, &self->opt, NULL, &v, &err));

	ASSERT_EQ(0, stat(self->audit, &st));
	EXPECT_EQ(0600, st.st_mode & 0777);
	fd = open(self->audit, O_RDONLY);
	ASSERT_LE(0, fd);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = 0;
	EXPECT_EQ(NULL, strstr(buf, PIN));
	EXPECT_NE(NULL, strstr(buf, "\"op\":\"unwrap\""));
	EXPECT_NE(NULL, strstr(buf, "\"result\":\"disabled\""));
	EXPECT_NE(NULL, strstr(buf, "\"extent_count\":4096"));
	EXPECT_NE(NULL, strstr(buf, "\"version\":\"01\""));
	if (access(py[0], X_OK))
		SKIP(return, "no /usr/bin/python3 to parse the JSON");
	EXPECT_EQ(0, run(py, false)) TH_LOG("%s", buf);
}

TEST_F(vault, pin_from_keyring)
{
	struct cmk_vault_error err;
	struct cmk_vault *v;
	char desc[64];
	long id;

	ASSERT_EQ(0, gen_key(KEY, "01", 2048, false, true, true, "-", "-"));
	snprintf(desc, sizeof(desc), "cmk-test:pin:%d", getpid());
	/* KEY_SPEC_PROCESS_KEYRING = -2 */
	id = syscall(SYS_add_key, "user", desc, PIN, strlen(PIN), -2);
	if (id < 0)
		SKIP(return, "no keyring here: %s", strerror(errno));
	self->opt.pin = CMK_VAULT_PIN_KEYRING;
	self->opt.pin_arg = desc;
	ASSERT_EQ(0, cmk_vault_open(self->uri, &self->opt, NULL, &v, &err))
		TH_LOG("%s", err.msg);
	cmk_vault_close(v);
	self->opt.pin_arg = "cmk-test:pin:none";
	EXPECT_EQ(-EINVAL, cmk_vault_open(self->uri, &self->opt, NULL, &v,
					  &err));
}

TEST(uri_parse_good)
{
	struct cmk_pkcs11_uri u;

	ASSERT_EQ(0, cmk_pkcs11_uri_parse("pkcs11:token=My%20Token;object=kek;type=private;id=%01%02%00?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/cmk/pin", &u));
	EXPECT_STREQ("My Token", u.token);
	EXPECT_STREQ("kek", u.object);
	EXPECT_STREQ("private", u.type);
	EXPECT_EQ(3, u.id_len);
	EXPECT_EQ(0, memcmp(u.id, "\x01\x02\x00", 3));
	EXPECT_STREQ("/usr/lib/softhsm/libsofthsm2.so", u.module_path);
	EXPECT_STREQ("file:/etc/cmk/pin", u.pin_source);
	EXPECT_FALSE(u.has_pin_value);
	cmk_pkcs11_uri_free(&u);

	ASSERT_EQ(0, cmk_pkcs11_uri_parse("pkcs11:", &u));
	EXPECT_EQ(NULL, u.token);
	cmk_pkcs11_uri_free(&u);
	ASSERT_EQ(0, cmk_pkcs11_uri_parse("PKCS11:object=a%3bb%3Dc%25;manufacturer=SoftHSM%20project;serial=1a2b;model=SoftHSM%20v2;slot-id=3;x-vendor=1?module-name=p11-kit-client&pin-value=1234&x-foo=bar", &u));
	EXPECT_STREQ("a;b=c%", u.object);
	EXPECT_STREQ("SoftHSM project", u.manufacturer);
	EXPECT_STREQ("1a2b", u.serial);
	EXPECT_STREQ("SoftHSM v2", u.model);
	EXPECT_STREQ("p11-kit-client", u.module_name);
	EXPECT_TRUE(u.has_pin_value);
	cmk_pkcs11_uri_free(&u);
	ASSERT_EQ(0, cmk_pkcs11_uri_parse("pkcs11:id=%aB", &u));
	EXPECT_EQ(0xab, u.id[0]);
	cmk_pkcs11_uri_free(&u);
}

TEST(uri_parse_bad)
{
	static const char *const bad[] = {
		"", "pkcs11", "pkcs:token=a", "file:/x", "pkcs11:token",
		"pkcs11:=a", "pkcs11:token=a;", "pkcs11:;token=a",
		"pkcs11:token=a;;object=b", "pkcs11:token=a;token=b",
		"pkcs11:object=%4", "pkcs11:object=%zz", "pkcs11:object=a%",
		"pkcs11:object=a%00b", "pkcs11:object=a b",
		"pkcs11:object=a\"b", "pkcs11:type=secret",
		"pkcs11:colour=blue", "pkcs11:id=", "pkcs11:object=a?",
		"pkcs11:object=a?&module-path=/x", "pkcs11:object=a?module-path=/x&",
		"pkcs11:object=a?pin-source=a&pin-source=b",
		"pkcs11:object=a?pin-value=1&pin-value=2",
		"pkcs11:object=a?token=b", "pkcs11:object=a?x-",
		"pkcs11:id=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14%15%16%17%18%19%1a%1b%1c%1d%1e%1f%20%21%22%23%24%25%26%27%28%29%2a%2b%2c%2d%2e%2f%30%31%32%33%34%35%36%37%38%39%3a%3b%3c%3d%3e%3f%40",
	};
	struct cmk_pkcs11_uri u;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, cmk_pkcs11_uri_parse(bad[i], &u))
			TH_LOG("accepted %s", bad[i]);
		cmk_pkcs11_uri_free(&u);
	}
}

TEST(uri_redact)
{
	char buf[256];

	ASSERT_EQ(0, cmk_vault_uri_redact("pkcs11:object=k?pin-value=1234&module-path=/m.so", buf, sizeof(buf)));
	EXPECT_STREQ("pkcs11:object=k?module-path=/m.so", buf);
	ASSERT_EQ(0, cmk_vault_uri_redact("pkcs11:object=k?module-path=/m.so&PIN-VALUE=1234&pin-source=/p", buf, sizeof(buf)));
	EXPECT_STREQ("pkcs11:object=k?module-path=/m.so&pin-source=/p", buf);
	ASSERT_EQ(0, cmk_vault_uri_redact("pkcs11:object=k?pin-value=1234", buf, sizeof(buf)));
	EXPECT_STREQ("pkcs11:object=k", buf);
	EXPECT_EQ(-ENOSPC, cmk_vault_uri_redact("pkcs11:object=k", buf, 8));
}

TEST(uri_key)
{
	char buf[64];

	ASSERT_EQ(0, cmk_vault_uri_key("pkcs11:token=t;object=k?module-path=/m.so&pin-source=/p", buf, sizeof(buf)));
	EXPECT_STREQ("pkcs11:token=t;object=k", buf);
	ASSERT_EQ(0, cmk_vault_uri_key("pkcs11:object=k", buf, sizeof(buf)));
	EXPECT_STREQ("pkcs11:object=k", buf);
	EXPECT_EQ(-ENOSPC, cmk_vault_uri_key("pkcs11:object=k?x", buf, 15));
	ASSERT_EQ(0, cmk_vault_uri_key("pkcs11:object=k?x", buf, 16));
}

/* A URI from a device may name its key only: refused before any loading. */
TEST(uri_unversioned)
{
	char b[64];

	ASSERT_EQ(0, cmk_vault_uri_unversioned("pkcs11:token=t;object=k;id=%01;type=private",
					       b, sizeof(b)));
	EXPECT_STREQ("pkcs11:token=t;object=k;type=private", b);
	ASSERT_EQ(0, cmk_vault_uri_unversioned("pkcs11:object=k;id=%02", b,
					       sizeof(b)));
	EXPECT_STREQ("pkcs11:object=k", b);
	/* No label: the id is all that names the key. */
	ASSERT_EQ(0, cmk_vault_uri_unversioned("pkcs11:token=t;id=%01", b,
					       sizeof(b)));
	EXPECT_STREQ("pkcs11:token=t;id=%01", b);
	EXPECT_EQ(-ENOSPC, cmk_vault_uri_unversioned("pkcs11:token=t;object=k;id=%01",
						     b, 12));
}

TEST(device_uri_refused)
{
	static const char *const bad[] = {
		"pkcs11:object=k?module-path=/tmp/evil.so",
		"pkcs11:object=k?module-name=evil",
		"pkcs11:object=k?pin-source=file:/dev/tty",
		"pkcs11:object=k?x-anything=1",
		"pkcs11:object=k?",
	};
	struct cmk_vault_options opt = { .device_uri = true };
	struct cmk_vault_error err;
	struct cmk_vault *v;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, cmk_vault_open(bad[i], &opt, NULL, &v, &err))
			TH_LOG("accepted %s", bad[i]);
		EXPECT_EQ(CMK_VAULT_CONFIG, err.cls);
		EXPECT_NE(NULL, strstr(err.msg, "a device may only name its key"))
			TH_LOG("%s: %s", bad[i], err.msg);
	}
	EXPECT_EQ(-EINVAL, cmk_vault_open(bad[0], &opt, NULL, &v, &err));
	EXPECT_NE(NULL, strstr(err.msg, "sets module-path=:"));
}

TEST(module_resolve)
{
	char path[PATH_MAX];
	const char *why;

	ASSERT_EQ(0, cmk_vault_pkcs11_module("/opt/m.so", path, sizeof(path), &why));
	EXPECT_STREQ("/opt/m.so", path);
	EXPECT_EQ(-EINVAL, cmk_vault_pkcs11_module("opt/m.so", path, sizeof(path), &why));
	EXPECT_NE(NULL, strstr(why, "must be absolute"));
	EXPECT_EQ(-EINVAL, cmk_vault_pkcs11_module("..", path, sizeof(path), &why));
	EXPECT_EQ(-EINVAL, cmk_vault_pkcs11_module("a b", path, sizeof(path), &why));
	EXPECT_EQ(-ENOENT, cmk_vault_pkcs11_module("no-such-module-x", path, sizeof(path), &why));
	EXPECT_NE(NULL, strstr(why, "no such PKCS#11 module"));
	/* Debian's softhsm2 registers itself with p11-kit. */
	if (!access("/usr/share/p11-kit/modules/softhsm2.module", R_OK)) {
		ASSERT_EQ(0, cmk_vault_pkcs11_module("softhsm2", path, sizeof(path), &why)) TH_LOG("%s", why);
		EXPECT_NE(NULL, strstr(path, "libsofthsm2.so"));
	}
	/* p11-kit-client.so is installed in the module directory. */
	if (!access("/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so", R_OK)) {
		ASSERT_EQ(0, cmk_vault_pkcs11_module("p11-kit-client", path, sizeof(path), &why));
		EXPECT_STREQ("/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so", path);
	}
}

TEST(class_names)
{
	static const char *const names[] = {
		"ok", "transient", "not-found", "disabled", "expired",
		"not-yet-valid", "permission-denied", "invalid-key", "config",
	};
	int errs[CMK_VAULT_CLASS_COUNT];
	int i, j;

	for (i = 0; i < CMK_VAULT_CLASS_COUNT; i++) {
		EXPECT_STREQ(names[i], cmk_vault_class_name(i));
		errs[i] = cmk_vault_class_errno(i);
		for (j = 0; j < i; j++)
			EXPECT_NE(errs[j], errs[i]);
	}
	EXPECT_STREQ("unknown", cmk_vault_class_name(CMK_VAULT_CLASS_COUNT));
	EXPECT_STREQ("rsa-oaep-sha1",
		     cmk_vault_alg_name(CMK_VAULT_ALG_RSA_OAEP_SHA1));
}

/* TEST_HARNESS_MAIN, plus the helper mode and a whole-file skip. */
static void __attribute__((constructor)) __constructor_order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--p11-helper"))
		return p11_helper(argc - 2, argv + 2);
	if (access(SOFTHSM, R_OK) || access(SOFTHSM_UTIL, X_OK)) {
		printf("TAP version 13\n1..0 # SKIP softhsm2 is not installed\n");
		return KSFT_SKIP;
	}
	return test_harness_run(argc, argv);
}
