/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-cmk: the differences between the kernels dm-cmk supports (Debian's
 * 6.1 and 6.12 LTS), in one place.  Everything else is written against
 * the newer API.  Kbuild defines CMK_HAVE_<feature> from the kernel's
 * headers.
 */
#ifndef DM_CMK_COMPAT_H
#define DM_CMK_COMPAT_H

#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <crypto/skcipher.h>

#ifndef CMK_HAVE_SRCU_DOWN_READ
/*
 * srcu_down_read() and srcu_up_read() (6.2): an SRCU read section that
 * ends in another context than it began.  Before, they are the same calls
 * without the lockdep annotation that ties a section to its task.
 */
static inline int srcu_down_read(struct srcu_struct *ssp) __acquires(ssp)
{
	return __srcu_read_lock(ssp);
}

static inline void srcu_up_read(struct srcu_struct *ssp, int idx)
	__releases(ssp)
{
	__srcu_read_unlock(ssp, idx);
}
#endif

/*
 * A crypto completion callback gets its request's data (6.3), or the
 * request itself before.  CMK_CRYPTO_CB_ARG is the type of its first
 * argument, cmk_crypto_cb_data() the data it carries.
 */
#ifdef CMK_HAVE_CRYPTO_CB_DATA
#define CMK_CRYPTO_CB_ARG void *
static inline void *cmk_crypto_cb_data(void *arg)
{
	return arg;
}
#else
#define CMK_CRYPTO_CB_ARG struct crypto_async_request *
static inline void *cmk_crypto_cb_data(struct crypto_async_request *arg)
{
	return arg->data;
}
#endif

/* Shrinkers are allocated by the shrinker core since 6.7. */
#ifdef CMK_HAVE_SHRINKER_ALLOC
static inline struct shrinker *cmk_shrinker_alloc(const char *name)
{
	return shrinker_alloc(0, "%s", name);
}

static inline int cmk_shrinker_register(struct shrinker *s, const char *name)
{
	shrinker_register(s);
	return 0;
}

static inline void cmk_shrinker_free(struct shrinker *s, bool registered)
{
	shrinker_free(s);
}
#else
static inline struct shrinker *cmk_shrinker_alloc(const char *name)
{
	return kzalloc(sizeof(struct shrinker), GFP_KERNEL);
}

static inline int cmk_shrinker_register(struct shrinker *s, const char *name)
{
	s->seeks = DEFAULT_SEEKS;
	return register_shrinker(s, "%s", name);
}

static inline void cmk_shrinker_free(struct shrinker *s, bool registered)
{
	if (registered)
		unregister_shrinker(s);
	kfree(s);
}
#endif

#endif /* DM_CMK_COMPAT_H */
