/* Reference counts: a mutex only where the current object is swapped, atomics elsewhere. */
#include "rc.h"

void rc__init(struct rc *r, void (*destroy)(struct rc *r))
{
	atomic_init(&r->refs, 1);
	r->destroy = destroy;
}

void rc__ref(struct rc *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void rc__unref(struct rc *r)
{
	if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		r->destroy(r);
}

void rc__holder_init(struct rc_holder *h)
{
	pthread_mutex_init(&h->lock, NULL);
	h->cur = NULL;
}

struct rc *rc__get(struct rc_holder *h)
{
	struct rc *r;

	/* Load and increment under the lock: a put cannot free it in between. */
	pthread_mutex_lock(&h->lock);
	r = h->cur;
	if (r)
		rc__ref(r);
	pthread_mutex_unlock(&h->lock);
	return r;
}

void rc__put(struct rc_holder *h, struct rc *r)
{
	struct rc *old;

	pthread_mutex_lock(&h->lock);
	old = h->cur;
	h->cur = r;
	pthread_mutex_unlock(&h->lock);
	rc__unref(old);
}

void rc__holder_free(struct rc_holder *h)
{
	rc__unref(h->cur);
	h->cur = NULL;
	pthread_mutex_destroy(&h->lock);
}
