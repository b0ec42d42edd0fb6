/* Per-client token buckets in a fixed table: bounded memory whatever the number of clients. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpx.h"

#define PROBES 8 /* slots looked at per client; the stalest of them makes room */

struct bucket {
	unsigned char key[16];
	bool used;
	double tokens;
	int64_t at_us; /* when tokens was computed; also "last seen" for eviction */
};

struct rate_limiter {
	struct bucket *slot;
	size_t mask;
};

struct rate_limiter *rate__new(size_t capacity)
{
	struct rate_limiter *r = calloc(1, sizeof(*r));
	size_t n = 16;

	while (n < capacity)
		n <<= 1;
	if (!r || !(r->slot = calloc(n, sizeof(*r->slot)))) {
		free(r);
		return NULL;
	}
	r->mask = n - 1;
	return r;
}

void rate__free(struct rate_limiter *r)
{
	if (!r)
		return;
	free(r->slot);
	free(r);
}

/* FNV-1a: the key is an address, not chosen to collide by anyone who gains from it more than
 * a shared slot's worth of eviction. */
static size_t hash(const unsigned char key[16])
{
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct bucket *find(struct rate_limiter *r, const unsigned char key[16], double burst,
			   int64_t now_us)
{
	size_t h = hash(key);
	struct bucket *victim = NULL;

	for (size_t i = 0; i < PROBES; i++) {
		struct bucket *b = &r->slot[(h + i) & r->mask];

		if (b->used && memcmp(b->key, key, 16) == 0)
			return b;
		if (!victim || !b->used || (victim->used && b->at_us < victim->at_us))
			victim = b;
	}
	/* A forgotten client starts with a full bucket, as a new one does. */
	memcpy(victim->key, key, 16);
	victim->used = true;
	victim->tokens = burst;
	victim->at_us = now_us;
	return victim;
}

int rate__take(struct rate_limiter *r, const unsigned char key[16], double rate, double burst,
	       int64_t now_us)
{
	struct bucket *b = find(r, key, burst, now_us);
	double wait;

	if (now_us > b->at_us)
		b->tokens += rate * (double)(now_us - b->at_us) / 1e6;
	if (b->tokens > burst) /* also when a reload lowered the burst */
		b->tokens = burst;
	b->at_us = now_us > b->at_us ? now_us : b->at_us;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	wait = ceil((1.0 - b->tokens) / rate);
	return wait >= 1 ? (int)wait : 1;
}
