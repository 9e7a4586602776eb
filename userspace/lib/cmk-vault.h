/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcmk vaults: one interface for every key vault that holds a KEK (PKCS#11
 * tokens today; KMIP, Azure Key Vault and HashiCorp Vault transit later).
 *
 * A backend is a struct cmk_vault_ops.  Callers never call the ops
 * directly: the cmk_vault_*() wrappers pick the backend from the URI
 * scheme, time every call, classify every failure into exactly one
 * enum cmk_vault_class and write one audit record per call (a JSON line to
 * a log file and to syslog, LOG_AUTHPRIV).  Functions return 0 or a negative
 * errno; the class and the backend's own code and message are in the
 * struct cmk_vault_error the caller passes.
 *
 * A handle is used by one thread at a time.
 */
#ifndef CMK_VAULT_H
#define CMK_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/**
 * enum cmk_vault_class - what a failed vault call means for the volume
 * @CMK_VAULT_OK: no failure
 * @CMK_VAULT_TRANSIENT: vault unreachable or busy: retry later (-EAGAIN)
 * @CMK_VAULT_NOT_FOUND: the key does not exist (deleted) (-ENOENT)
 * @CMK_VAULT_DISABLED: the key exists but may not decrypt/unwrap
 *	(-EKEYREVOKED)
 * @CMK_VAULT_EXPIRED: the key's end date has passed (-EKEYEXPIRED)
 * @CMK_VAULT_NOT_YET_VALID: the key's start date is in the future (-ENOKEY)
 * @CMK_VAULT_PERMISSION_DENIED: wrong, locked or missing credentials
 *	(-EACCES)
 * @CMK_VAULT_INVALID_KEY: wrong type or size, not sensitive, extractable,
 *	or not the key that wrapped this data (-EKEYREJECTED)
 * @CMK_VAULT_CONFIG: the call could not be made: malformed URI, module or
 *	PIN source missing, bad arguments.  Not a state of the key (-EINVAL)
 * @CMK_VAULT_CLASS_COUNT: number of classes
 */
enum cmk_vault_class {
	CMK_VAULT_OK = 0,
	CMK_VAULT_TRANSIENT,
	CMK_VAULT_NOT_FOUND,
	CMK_VAULT_DISABLED,
	CMK_VAULT_EXPIRED,
	CMK_VAULT_NOT_YET_VALID,
	CMK_VAULT_PERMISSION_DENIED,
	CMK_VAULT_INVALID_KEY,
	CMK_VAULT_CONFIG,
	CMK_VAULT_CLASS_COUNT
};

/**
 * enum cmk_vault_alg - how the volume key is wrapped by the KEK
 * @CMK_VAULT_ALG_AUTO: wrap: SHA-256 OAEP if the options allow it and the
 *	token can unwrap it, else SHA-1; unwrap: the same order
 * @CMK_VAULT_ALG_RSA_OAEP_SHA1: RSA-OAEP, SHA-1, MGF1-SHA-1, no label
 *	(Azure Key Vault "RSA-OAEP"; all SoftHSM2 2.6 supports)
 * @CMK_VAULT_ALG_RSA_OAEP_SHA256: RSA-OAEP, SHA-256, MGF1-SHA-256, no label
 *
 * The numbers are stored in the on-disk header: never renumber.
 */
enum cmk_vault_alg {
	CMK_VAULT_ALG_AUTO = 0,
	CMK_VAULT_ALG_RSA_OAEP_SHA1 = 1,
	CMK_VAULT_ALG_RSA_OAEP_SHA256 = 2,
};

/* Longest message in a struct cmk_vault_error. */
#define CMK_VAULT_MSG_MAX	512
/* Longest key version string (hex CKA_ID, Azure version, ...), plus NUL. */
#define CMK_VAULT_VERSION_MAX	129
/* Versions of one key that cmk_vault_newest_version() looks at. */
#define CMK_VAULT_VERSIONS_MAX	64
/* Largest wrapped key (RSA-4096). */
#define CMK_VAULT_WRAPPED_MAX	512

/**
 * struct cmk_vault_error - why a vault call failed
 * @cls: the class
 * @code: the backend's own code (CK_RV for PKCS#11), 0 if none
 * @msg: human-readable, no secrets
 */
struct cmk_vault_error {
	enum cmk_vault_class cls;
	unsigned long code;
	char msg[CMK_VAULT_MSG_MAX];
};

/**
 * enum cmk_vault_pin - where a PIN or secret comes from; never argv or env
 * @CMK_VAULT_PIN_NONE: the URI's pin-source, else no login
 * @CMK_VAULT_PIN_FILE: first line of a file (@pin_arg is its path)
 * @CMK_VAULT_PIN_KEYRING: payload of a "user" key found by request_key()
 *	(@pin_arg is its description)
 * @CMK_VAULT_PIN_PROMPT: read from /dev/tty without echo (@pin_arg: prompt)
 */
enum cmk_vault_pin {
	CMK_VAULT_PIN_NONE = 0,
	CMK_VAULT_PIN_FILE,
	CMK_VAULT_PIN_KEYRING,
	CMK_VAULT_PIN_PROMPT,
};

/**
 * struct cmk_vault_options - how to open a vault
 * @pin: PIN source; overrides the URI's pin-source
 * @pin_arg: file path, key description or prompt, per @pin
 * @module: PKCS#11 module: an absolute path, or the name of a module
 *	registered with p11-kit or installed in the PKCS#11 module directory;
 *	overrides the URI's module-path / module-name
 * @device_uri: the URI was read from a device or a header file, which an
 *	attacker may have written: it may name the key only, and a query
 *	component (module, PIN source or any other local setting) is refused
 *	before anything is loaded or opened
 * @alg: CMK_VAULT_ALG_AUTO allows SHA-256 OAEP where the token offers it;
 *	a fixed algorithm is used as is
 * @audit_path: append audit records to this file (created 0600); NULL: none
 * @audit_syslog: also send audit records to syslog (LOG_AUTHPRIV)
 */
struct cmk_vault_options {
	enum cmk_vault_pin pin;
	const char *pin_arg;
	const char *module;
	bool device_uri;
	enum cmk_vault_alg alg;
	const char *audit_path;
	bool audit_syslog;
};

/**
 * struct cmk_vault_ctx - what a call is for, for the audit record
 * @uuid: device UUID, NULL if none
 * @extent_first: first extent concerned
 * @extent_count: number of extents concerned, 0 if none
 */
struct cmk_vault_ctx {
	const char *uuid;
	uint64_t extent_first;
	uint64_t extent_count;
};

/**
 * struct cmk_vault_key_info - what a vault says about a key
 * @exists: the key was found
 * @key_type: "RSA", "EC", "AES", ... or "unknown"
 * @bits: key size in bits
 * @enabled: the operation the backend unwraps with is permitted
 * @can_decrypt: private key may decrypt (CKA_DECRYPT)
 * @can_unwrap: private key may unwrap (CKA_UNWRAP)
 * @can_encrypt: public key may encrypt
 * @can_wrap: public key may wrap
 * @sensitive: private key never leaves in plaintext (CKA_SENSITIVE)
 * @extractable: private key may be exported wrapped (CKA_EXTRACTABLE)
 * @always_sensitive: CKA_ALWAYS_SENSITIVE
 * @never_extractable: CKA_NEVER_EXTRACTABLE
 * @has_public: the public key can be read (needed to wrap)
 * @start: first second of validity (UTC), 0 if none
 * @end: last second of validity (UTC), 0 if none; for PKCS#11 the later
 *	CKA_START_DATE and earlier CKA_END_DATE of the private and public
 *	halves, a date's whole day (UTC) included
 * @label: the key's label or name
 * @version: the key's version or id (hex CKA_ID for PKCS#11)
 * @has_pub_sha256: @pub_sha256 is set (the key has a public half)
 * @pub_sha256: SHA-256 of its public key's DER SubjectPublicKeyInfo
 */
struct cmk_vault_key_info {
	bool exists;
	char key_type[16];
	unsigned int bits;
	bool enabled;
	bool can_decrypt;
	bool can_unwrap;
	bool can_encrypt;
	bool can_wrap;
	bool sensitive;
	bool extractable;
	bool always_sensitive;
	bool never_extractable;
	bool has_public;
	time_t start;
	time_t end;
	char label[128];
	char version[CMK_VAULT_VERSION_MAX];
	bool has_pub_sha256;
	uint8_t pub_sha256[32];
};

/**
 * struct cmk_vault_version - one version of a key
 * @version: as in struct cmk_vault_key_info
 * @label: as in struct cmk_vault_key_info
 * @enabled: may decrypt or unwrap
 * @start: its activation time (UTC), 0 if none
 */
struct cmk_vault_version {
	char version[CMK_VAULT_VERSION_MAX];
	char label[128];
	bool enabled;
	time_t start;
};

struct cmk_vault;

/**
 * struct cmk_vault_ops - a vault backend
 * @name: backend name, for messages and the header ("pkcs11")
 * @scheme: URI scheme it serves, with the colon ("pkcs11:")
 * @open: connect, authenticate, remember the key named by @uri; set
 *	@v->priv.  Must not keep a reference to @opt's strings
 * @close: disconnect and free @v->priv; wipe every secret
 * @describe: fill @info about the key (@version NULL: the URI's); a
 *	missing key is -ENOENT with @info->exists false
 * @wrap: RSA-OAEP encrypt @in with the public key; *@alg in: wanted
 *	(AUTO allowed), out: used.  @out holds CMK_VAULT_WRAPPED_MAX bytes
 * @unwrap: RSA-OAEP decrypt @in inside the vault into @out (@out_size
 *	bytes, the caller's locked memory); *@alg as for @wrap.  Expired
 *	and not-yet-valid keys are refused here even if the vault does
 *	not enforce dates
 * @list_versions: up to @max versions of the key into @vers, the number
 *	found into *@count (may exceed @max)
 * @check_uri: whether a URI is one this backend can open (syntax and
 *	attributes, nothing contacted); *@why says what is wrong
 *
 * Every op fills @err on failure and returns a negative errno.
 *
 * The trust rule for every backend (Documentation/admin-guide/device-mapper/
 * cmk-threat-model.rst): a URI's path names the key and nothing else; what
 * picks code, a file, a host or a credential (PKCS#11 module, PIN source,
 * endpoint, CA, client identity, token) is a local setting, given in the
 * query component of a URI from trusted configuration or by
 * cmk_vault_options.  A header records the path only (cmk_vault_uri_key()),
 * and cmk_vault_open() refuses a URI read from a device that has a query.
 */
struct cmk_vault_ops {
	const char *name;
	const char *scheme;
	int (*open)(struct cmk_vault *v, const char *uri,
		    const struct cmk_vault_options *opt,
		    struct cmk_vault_error *err);
	void (*close)(struct cmk_vault *v);
	int (*describe)(struct cmk_vault *v, const char *version,
			struct cmk_vault_key_info *info,
			struct cmk_vault_error *err);
	int (*wrap)(struct cmk_vault *v, const char *version,
		    enum cmk_vault_alg *alg, const uint8_t *in, size_t in_len,
		    uint8_t *out, size_t *out_len,
		    struct cmk_vault_error *err);
	int (*unwrap)(struct cmk_vault *v, const char *version,
		      enum cmk_vault_alg *alg, const uint8_t *in, size_t in_len,
		      uint8_t *out, size_t out_size, size_t *out_len,
		      struct cmk_vault_error *err);
	int (*list_versions)(struct cmk_vault *v,
			     struct cmk_vault_version *vers, size_t max,
			     size_t *count, struct cmk_vault_error *err);
	int (*check_uri)(const char *uri, const char **why);
};

/**
 * struct cmk_vault - an open vault
 * @ops: the backend
 * @priv: the backend's state
 * @uri: the key URI with any pin-value removed (safe to log)
 * @alg: the options' algorithm choice
 * @audit_fd: audit log, -1 if none
 * @audit_syslog: audit to syslog too
 * @ctx: the audit context of the call in progress (cmk_vault_audit_step())
 */
struct cmk_vault {
	const struct cmk_vault_ops *ops;
	void *priv;
	char *uri;
	enum cmk_vault_alg alg;
	int audit_fd;
	bool audit_syslog;
	const struct cmk_vault_ctx *ctx;
};

/**
 * enum cmk_kek_result - outcome of one KEK requirement
 * @CMK_KEK_PASS: met
 * @CMK_KEK_WARN: met, but worth a look (an end date is set)
 * @CMK_KEK_FAIL: not met: the key must not be used
 */
enum cmk_kek_result {
	CMK_KEK_PASS,
	CMK_KEK_WARN,
	CMK_KEK_FAIL,
};

/* Number of requirements cmk_kek_check() reports. */
#define CMK_KEK_CHECKS	7

/**
 * struct cmk_kek_check - one KEK requirement and its outcome
 * @name: short name ("type", "size", "usage", "start", "end",
 *	"sensitive", "extractable")
 * @result: pass, warn or fail
 * @cls: the failure class when @result is CMK_KEK_FAIL
 * @msg: what was found
 */
struct cmk_kek_check {
	const char *name;
	enum cmk_kek_result result;
	enum cmk_vault_class cls;
	char msg[128];
};

/* cmk-vault.c */
const char *cmk_vault_class_name(enum cmk_vault_class cls);
int cmk_vault_class_errno(enum cmk_vault_class cls);
const char *cmk_vault_alg_name(enum cmk_vault_alg alg);
const struct cmk_vault_ops *cmk_vault_backend(const char *uri);
int cmk_vault_check_uri(const char *uri, const char **why);
int cmk_vault_set_error(struct cmk_vault_error *err,
			enum cmk_vault_class cls, unsigned long code,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int cmk_vault_uri_redact(const char *uri, char *buf, size_t size);
int cmk_vault_uri_key(const char *uri, char *buf, size_t size);
double cmk_vault_now_ms(void);
void cmk_vault_audit_step(struct cmk_vault *v, const char *op,
			  const char *version, enum cmk_vault_class cls,
			  double start);
int cmk_vault_open(const char *uri, const struct cmk_vault_options *opt,
		   const struct cmk_vault_ctx *ctx, struct cmk_vault **vp,
		   struct cmk_vault_error *err);
void cmk_vault_close(struct cmk_vault *v);
int cmk_vault_describe(struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		       const char *version, struct cmk_vault_key_info *info,
		       struct cmk_vault_error *err);
int cmk_vault_wrap(struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		   const char *version, enum cmk_vault_alg *alg,
		   const uint8_t *in, size_t in_len, uint8_t *out,
		   size_t *out_len, struct cmk_vault_error *err);
int cmk_vault_unwrap(struct cmk_vault *v, const struct cmk_vault_ctx *ctx,
		     const char *version, enum cmk_vault_alg *alg,
		     const uint8_t *in, size_t in_len, uint8_t *out,
		     size_t out_size, size_t *out_len,
		     struct cmk_vault_error *err);
int cmk_vault_list_versions(struct cmk_vault *v,
			    const struct cmk_vault_ctx *ctx,
			    struct cmk_vault_version *vers, size_t max,
			    size_t *count, struct cmk_vault_error *err);
int cmk_vault_uri_unversioned(const char *uri, char *buf, size_t size);
bool cmk_vault_uri_has_settings(const char *uri);
int cmk_vault_version_cmp(time_t a_start, const char *a, time_t b_start,
			  const char *b);
int cmk_vault_newest_version(struct cmk_vault *v,
			     const struct cmk_vault_ctx *ctx,
			     const char *current, char *out, size_t size,
			     struct cmk_vault_error *err);
int cmk_kek_check(const struct cmk_vault_key_info *info, time_t now,
		  struct cmk_kek_check checks[CMK_KEK_CHECKS],
		  struct cmk_vault_error *err);
int cmk_vault_validate_kek(struct cmk_vault *v,
			   const struct cmk_vault_ctx *ctx,
			   const char *version,
			   struct cmk_kek_check checks[CMK_KEK_CHECKS],
			   struct cmk_vault_error *err);
int cmk_vault_read_pin(enum cmk_vault_pin src, const char *arg, char *pin,
		       size_t size, struct cmk_vault_error *err);

/* cmk-audit.c */
int cmk_audit_open(const char *path);
int cmk_audit_record(int fd, bool use_syslog, const char *op,
		     const struct cmk_vault_ctx *ctx, const char *uri,
		     const char *version, enum cmk_vault_class cls,
		     double ms);

/* cmk-vault-pkcs11.c */
extern const struct cmk_vault_ops cmk_vault_pkcs11_ops;
void cmk_vault_pkcs11_keep_modules(bool keep);
int cmk_vault_pkcs11_module(const char *module, char *path, size_t size,
			    const char **why);

/* Query attributes RFC 7512 defines that this parser keeps. */
#define CMK_P11_ID_MAX	64

/**
 * struct cmk_pkcs11_uri - a parsed RFC 7512 URI (strings percent-decoded)
 * @token: token label, NULL if absent
 * @manufacturer: token manufacturer, NULL if absent
 * @serial: token serial number, NULL if absent
 * @model: token model, NULL if absent
 * @object: object label (CKA_LABEL), NULL if absent
 * @id: object id (CKA_ID) bytes
 * @id_len: bytes in @id, 0 if absent
 * @has_id: an id= attribute was present
 * @type: "private", "public", "cert", "secret-key", "data" or NULL
 * @module_path: query module-path, NULL if absent
 * @module_name: query module-name, NULL if absent
 * @pin_source: query pin-source, NULL if absent
 * @has_pin_value: query pin-value was present (refused by the backend)
 */
struct cmk_pkcs11_uri {
	char *token;
	char *manufacturer;
	char *serial;
	char *model;
	char *object;
	uint8_t id[CMK_P11_ID_MAX];
	size_t id_len;
	bool has_id;
	char *type;
	char *module_path;
	char *module_name;
	char *pin_source;
	bool has_pin_value;
};

int cmk_pkcs11_uri_parse(const char *uri, struct cmk_pkcs11_uri *u);
void cmk_pkcs11_uri_free(struct cmk_pkcs11_uri *u);

#endif /* CMK_VAULT_H */
