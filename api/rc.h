/* Reference-counted immutable objects and the holder that swaps the current one (rc.c). */
#ifndef API_RC_H
#define API_RC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* Embedded first in a snapshot, a configuration, the web files, a body: it dies with its
 * last reference, whichever thread drops it. */
struct rc {
	atomic_int refs;
	void (*destroy)(struct rc *r);
};

#define rc__of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

void rc__init(struct rc *r, void (*destroy)(struct rc *r)); /* one reference, the caller's */
void rc__ref(struct rc *r);
void rc__unref(struct rc *r); /* NULL is fine */

/* The current object of a kind: swapped by one thread, taken by many. */
struct rc_holder {
	pthread_mutex_t lock;
	struct rc *cur; /* NULL until the first put */
};

void rc__holder_init(struct rc_holder *h);
struct rc *rc__get(struct rc_holder *h);	 /* with a reference for the caller, or NULL */
void rc__put(struct rc_holder *h, struct rc *r); /* takes the caller's reference */
void rc__holder_free(struct rc_holder *h);

#endif
