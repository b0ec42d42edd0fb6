/* The live feed's bookkeeping (pf_feedq.h): change detection, questions, the coalescing queue. */
#include "pf_feedq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pf_batch.h"

#define NONE UINT32_MAX
#define NV 7 /* values compared: a lot's free, total, status; a district's seven counts */

/* A lot or a district. */
struct item {
	char *key;
	uint8_t kind;
	bool dirty;  /* to be asked about */
	bool queued; /* in dirty[] (it stays there while asked) */
	bool asked;  /* in the question in flight */
	bool expect; /* expect_obs and expect_v hold the lot's latest known state */
	bool has_pub;
	int64_t expect_obs;
	int64_t expect_v[NV];
	int64_t pub_v[NV], pend_v[NV]; /* published; waiting in the queue (payload) */
	int64_t pub_changes, pend_changes;
	int64_t acct;  /* lots: lot_state.changes published or dropped last (-1: none yet) */
	char *payload; /* the message waiting in the queue, NULL when none */
	size_t len;
	uint64_t dirty_ns, pend_ns; /* commit that dirtied it last; that the message reports */
	uint64_t asked_ms;	    /* districts: asked last (the caller's clock), 0 = never */
	uint32_t next;		    /* next in the queue */
	uint32_t district;	    /* lots: its district at the last answer */
};

struct vec {
	uint32_t *v;
	size_t n, cap;
};

struct pf_feedq {
	struct pf_feedq_config cfg;
	struct item *items;
	uint32_t n_items, cap_items, n_kind[PF_FEEDQ__N];
	uint32_t *slots; /* open addressing over items, NONE when free */
	uint32_t n_slots;
	struct vec dirty[PF_FEEDQ__N], asked[PF_FEEDQ__N];
	uint32_t head, tail; /* the queue */
	struct pf_feedq_stats st;
};

/* One observation of a transaction. */
struct txn_obs {
	uint32_t item;
	int32_t free, total;
	int64_t obs;
	uint8_t status;
};

struct pf_feedq_txn {
	struct txn_obs *o;
	size_t n, cap;
	uint64_t untracked; /* observations of lots past max_lots */
};

/* ---- lots and districts by name ---- */

static uint32_t hash(uint8_t kind, const char *key, size_t len)
{
	uint32_t h = 2166136261u ^ kind; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	return h;
}

static uint32_t *slot_of(struct pf_feedq *q, uint8_t kind, const char *key, size_t len)
{
	uint32_t mask = q->n_slots - 1, i = hash(kind, key, len) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t k = q->slots[i];

		if (k == NONE || (q->items[k].kind == kind && strlen(q->items[k].key) == len &&
				  memcmp(q->items[k].key, key, len) == 0))
			return &q->slots[i];
	}
}

static int vec_reserve(struct vec *v, size_t n)
{
	uint32_t *p;

	if (n <= v->cap)
		return 0;
	p = realloc(v->v, n * 2 * sizeof(*p));
	if (!p)
		return -ENOMEM;
	v->v = p;
	v->cap = n * 2;
	return 0;
}

/* Room for one more item: the arrays, the hash (rebuilt at half load) and the vectors, so that
 * nothing later can fail for want of memory. */
static int grow(struct pf_feedq *q, uint8_t kind)
{
	uint32_t need = q->n_kind[kind] + 1;

	if (vec_reserve(&q->dirty[kind], need) < 0 || vec_reserve(&q->asked[kind], need) < 0)
		return -ENOMEM;
	if (q->n_items == q->cap_items) {
		uint32_t cap = q->cap_items ? q->cap_items * 2 : 64;
		struct item *n = realloc(q->items, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		q->items = n;
		q->cap_items = cap;
	}
	if ((q->n_items + 1) * 2 > q->n_slots) {
		uint32_t ns = q->n_slots ? q->n_slots * 2 : 128, *old = q->slots;

		q->slots = malloc(ns * sizeof(*q->slots));
		if (!q->slots) {
			q->slots = old;
			return -ENOMEM;
		}
		memset(q->slots, 0xff, ns * sizeof(*q->slots));
		q->n_slots = ns;
		for (uint32_t k = 0; k < q->n_items; k++) {
			const char *key = q->items[k].key;

			*slot_of(q, q->items[k].kind, key, strlen(key)) = k;
		}
		free(old);
	}
	return 0;
}

/* The item of that name, added if need be: its index, or NONE (past the limit, no memory). */
static uint32_t find(struct pf_feedq *q, uint8_t kind, const char *key, bool add)
{
	size_t len = strlen(key),
	       limit = kind == PF_FEEDQ_LOT ? q->cfg.max_lots : q->cfg.max_districts;
	uint32_t *slot;
	struct item *it;

	if (q->n_slots) {
		slot = slot_of(q, kind, key, len);
		if (*slot != NONE || !add)
			return *slot;
	}
	if (!add || q->n_kind[kind] >= limit || grow(q, kind) < 0)
		return NONE;
	it = &q->items[q->n_items];
	memset(it, 0, sizeof(*it));
	if (!(it->key = strdup(key)))
		return NONE;
	it->kind = kind;
	it->acct = -1;
	it->next = it->district = NONE;
	*slot_of(q, kind, key, len) = q->n_items;
	q->n_kind[kind]++;
	return q->n_items++;
}

static void mark_dirty(struct pf_feedq *q, uint32_t k, uint64_t now_ns)
{
	struct item *it = &q->items[k];

	it->dirty = true;
	if (now_ns)
		it->dirty_ns = now_ns;
	if (!it->queued) {
		it->queued = true;
		q->dirty[it->kind].v[q->dirty[it->kind].n++] = k; /* reserved by grow() */
	}
}

/* ---- transactions ---- */

struct pf_feedq_txn *pf_feedq_txn_new(void)
{
	return calloc(1, sizeof(struct pf_feedq_txn));
}

void pf_feedq_txn_free(struct pf_feedq_txn *t)
{
	if (t)
		free(t->o);
	free(t);
}

void pf_feedq_txn_reset(struct pf_feedq_txn *t)
{
	t->n = 0;
	t->untracked = 0;
}

size_t pf_feedq_txn_size(const struct pf_feedq_txn *t)
{
	return t->n;
}

static void lot_values(int64_t v[NV], int64_t free, int64_t total, int status)
{
	memset(v, 0, NV * sizeof(*v));
	v[0] = free;
	v[1] = total;
	v[2] = status;
}

int pf_feedq_txn_add(struct pf_feedq *q, struct pf_feedq_txn *t, const struct pf_observation *o)
{
	uint32_t k = find(q, PF_FEEDQ_LOT, o->lot_id, true);
	struct txn_obs *e;

	if (k == NONE) {
		t->untracked++;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct txn_obs *n = realloc(t->o, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->o = n;
		t->cap = cap;
	}
	e = &t->o[t->n++];
	e->item = k;
	e->obs = o->observed_at;
	e->free = o->free;
	e->total = o->total;
	e->status = (uint8_t)o->status;
	return 0;
}

/* By lot, newest first: the first of each lot is what lot_state took from the transaction. */
static int cmp_obs(const void *a, const void *b)
{
	const struct txn_obs *x = a, *y = b;

	if (x->item != y->item)
		return x->item < y->item ? -1 : 1;
	return x->obs > y->obs ? -1 : x->obs < y->obs;
}

void pf_feedq_committed(struct pf_feedq *q, struct pf_feedq_txn *t, uint64_t now_ns)
{
	q->st.dropped[PF_FEEDQ_LOT] += t->untracked;
	if (t->n > 1) /* a transaction of rejects and statuses has none (and t->o may be NULL) */
		qsort(t->o, t->n, sizeof(*t->o), cmp_obs);
	for (size_t i = 0; i < t->n; i++) {
		const struct txn_obs *e = &t->o[i];
		struct item *it = &q->items[e->item];
		int64_t v[NV];
		bool changed;

		if (i > 0 && t->o[i - 1].item == e->item)
			continue;
		if (it->expect && e->obs <= it->expect_obs)
			continue; /* lot_state keeps the newer one it has */
		lot_values(v, e->free, e->total, e->status);
		changed = !it->expect || memcmp(it->expect_v, v, sizeof(v)) != 0;
		it->expect = true;
		it->expect_obs = e->obs;
		memcpy(it->expect_v, v, sizeof(v));
		/* With other daemons writing the lot, unchanged values here say nothing. */
		if (changed || !q->cfg.exclusive)
			mark_dirty(q, e->item, now_ns);
	}
	pf_feedq_txn_reset(t);
}

/* ---- questions ---- */

bool pf_feedq_want_lots(const struct pf_feedq *q)
{
	for (size_t i = 0; i < q->dirty[PF_FEEDQ_LOT].n; i++)
		if (!q->items[q->dirty[PF_FEEDQ_LOT].v[i]].asked)
			return true;
	return false;
}

bool pf_feedq_want_districts(const struct pf_feedq *q)
{
	for (size_t i = 0; i < q->dirty[PF_FEEDQ_DISTRICT].n; i++)
		if (!q->items[q->dirty[PF_FEEDQ_DISTRICT].v[i]].asked)
			return true;
	return false;
}

/* Take up to max dirty items that are not asked already, and were not asked in the gap_ms
 * before now_ms, into asked[], their names into lit. */
static int ask(struct pf_feedq *q, uint8_t kind, struct pf_buf *lit, size_t max, uint64_t now_ms,
	       uint64_t gap_ms)
{
	struct vec *d = &q->dirty[kind], *a = &q->asked[kind];
	size_t keep = 0;

	if (a->n)
		return 0; /* one question at a time */
	for (size_t i = 0; i < d->n && a->n < max; i++) {
		const struct item *it = &q->items[d->v[i]];

		if (it->asked || (it->asked_ms && now_ms < it->asked_ms + gap_ms))
			continue;
		if (pf_pgarray_text(lit, a->n, it->key, strlen(it->key)) < 0) {
			a->n = 0;
			return -ENOMEM;
		}
		a->v[a->n++] = d->v[i];
	}
	if (a->n == 0)
		return 0;
	if (!pf_pgarray_end(lit, a->n)) {
		a->n = 0;
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->n; i++) {
		q->items[a->v[i]].asked = true;
		q->items[a->v[i]].dirty = false;
		q->items[a->v[i]].asked_ms = now_ms;
	}
	for (size_t i = 0; i < d->n; i++) {
		struct item *it = &q->items[d->v[i]];

		if (it->dirty)
			d->v[keep++] = d->v[i];
		else
			it->queued = false;
	}
	d->n = keep;
	return (int)a->n;
}

int pf_feedq_ask_lots(struct pf_feedq *q, struct pf_buf *lit, size_t max)
{
	return ask(q, PF_FEEDQ_LOT, lit, max, 0, 0);
}

int pf_feedq_ask_district(struct pf_feedq *q, struct pf_buf *lit, uint64_t now_ms, uint64_t gap_ms)
{
	return ask(q, PF_FEEDQ_DISTRICT, lit, 1, now_ms, gap_ms);
}

void pf_feedq_sweep_districts(struct pf_feedq *q)
{
	for (uint32_t k = 0; k < q->n_items; k++)
		if (q->items[k].kind == PF_FEEDQ_DISTRICT)
			mark_dirty(q, k, 0);
}

static void answered(struct pf_feedq *q, uint8_t kind, bool ok)
{
	struct vec *a = &q->asked[kind];

	for (size_t i = 0; i < a->n; i++) {
		q->items[a->v[i]].asked = false;
		if (!ok)
			mark_dirty(q, a->v[i], 0);
	}
	a->n = 0;
}

void pf_feedq_lots_answered(struct pf_feedq *q, bool ok)
{
	answered(q, PF_FEEDQ_LOT, ok);
}

void pf_feedq_districts_answered(struct pf_feedq *q, bool ok)
{
	answered(q, PF_FEEDQ_DISTRICT, ok);
}

/* ---- the queue ---- */

/* Lots, with this daemon their only writer: changes never published on their own. */
static void account(struct pf_feedq *q, struct item *it, int64_t changes)
{
	if (it->kind != PF_FEEDQ_LOT || !q->cfg.exclusive)
		return;
	if (it->acct >= 0 && changes > it->acct + 1)
		q->st.coalesced[PF_FEEDQ_LOT] += (uint64_t)(changes - it->acct - 1);
	if (changes > it->acct)
		it->acct = changes;
}

/* A change given up: the lot's next report asks about it again, whatever its values. */
static void dropped(struct pf_feedq *q, struct item *it, int64_t changes)
{
	q->st.dropped[it->kind]++;
	account(q, it, changes);
	it->expect = false;
}

/* A message for the item, latest wins: it replaces a waiting one, or joins the queue. */
static void enqueue(struct pf_feedq *q, uint32_t k, struct pf_buf *msg, const int64_t v[NV],
		    int64_t changes)
{
	struct item *it = &q->items[k];

	if (msg->oom) {
		pf_buf_free(msg);
		dropped(q, it, changes);
		return;
	}
	if (it->payload) {
		free(it->payload);
		/* counted by account() for a lot written by this daemon alone */
		if (it->kind != PF_FEEDQ_LOT || !q->cfg.exclusive)
			q->st.coalesced[it->kind]++;
	} else if (q->st.queued >= q->cfg.queue_max) {
		pf_buf_free(msg);
		dropped(q, it, changes);
		return;
	} else {
		it->next = NONE;
		if (q->st.queued++ == 0)
			q->head = k;
		else
			q->items[q->tail].next = k;
		q->tail = k;
	}
	it->payload = msg->p;
	it->len = msg->len;
	memcpy(it->pend_v, v, sizeof(it->pend_v));
	it->pend_changes = changes;
	it->pend_ns = it->dirty_ns;
}

/* What the message would say is not what the queue or the broker has for it already. */
static bool news(const struct pf_feedq *q, const struct item *it, const int64_t v[NV],
		 int64_t changes)
{
	const int64_t *have = it->payload ? it->pend_v : it->pub_v;
	int64_t have_changes = it->payload ? it->pend_changes : it->pub_changes;

	if (!it->payload && !it->has_pub)
		return true;
	if (it->kind == PF_FEEDQ_DISTRICT)
		return memcmp(have, v, NV * sizeof(*v)) != 0;
	/* Alone, the values say it; with others the count does (a change and back, elsewhere). */
	return changes != have_changes &&
	       (!q->cfg.exclusive || memcmp(have, v, NV * sizeof(*v)) != 0);
}

static int status_code(const char *s)
{
	if (!s)
		return PF_LOT_STATUS_NONE;
	if (strcmp(s, "open") == 0)
		return PF_LOT_OPEN;
	if (strcmp(s, "closed") == 0)
		return PF_LOT_CLOSED;
	return strcmp(s, "full") == 0 ? PF_LOT_FULL : PF_LOT_STATUS_NONE;
}

/* A lot's district follows the lot: the old and the new one are asked about again. */
static void follow_district(struct pf_feedq *q, uint32_t k, const char *district)
{
	uint32_t d = district ? find(q, PF_FEEDQ_DISTRICT, district, true) : NONE;
	uint32_t old = q->items[k].district;

	if (old != NONE && old != d)
		mark_dirty(q, old, q->items[k].dirty_ns);
	if (d != NONE)
		mark_dirty(q, d, q->items[k].dirty_ns);
	q->items[k].district = d;
}

void pf_feedq_lot_row(struct pf_feedq *q, const struct pf_feedq_lot_row *row)
{
	uint32_t k = find(q, PF_FEEDQ_LOT, row->lot.id, false);
	const struct pf_avail_lot *l = &row->lot;
	struct pf_buf msg;
	struct item *it;
	int64_t v[NV];

	if (k == NONE)
		return;
	it = &q->items[k];
	lot_values(v, l->has_free ? l->free : -1, l->total, status_code(l->status));
	/* The database's word is the lot's state from now on. */
	if (!it->expect || l->observed_us >= it->expect_obs) {
		it->expect = true;
		it->expect_obs = l->observed_us;
		memcpy(it->expect_v, v, sizeof(v));
	}
	if (!news(q, it, v, row->changes)) {
		account(q, it, row->changes);
		return;
	}
	pf_buf_init(&msg);
	pf_avail_entity(&msg, l, true, false);
	enqueue(q, k, &msg, v, row->changes);
	follow_district(q, k, l->district);
}

void pf_feedq_district_row(struct pf_feedq *q, const struct pf_avail_district *d)
{
	uint32_t k = d->name ? find(q, PF_FEEDQ_DISTRICT, d->name, true) : NONE;
	int64_t v[NV] = {d->lots,
			 d->lots_reporting,
			 d->lots_online,
			 d->lots_stale,
			 d->lots_offline,
			 d->has_spaces ? d->free : -1,
			 d->has_spaces ? d->total : -1};
	struct pf_buf msg;

	if (k == NONE || !news(q, &q->items[k], v, 0))
		return; /* the lots of no district have no topic */
	pf_buf_init(&msg);
	pf_avail_emit(&msg, pf_avail_district_json(d));
	enqueue(q, k, &msg, v, 0);
}

bool pf_feedq_next(struct pf_feedq *q, struct pf_feedq_msg *m)
{
	const struct item *it;

	if (q->st.queued == 0)
		return false;
	it = &q->items[q->head];
	*m = (struct pf_feedq_msg){
		.kind = (enum pf_feedq_kind)it->kind,
		.key = it->key,
		.payload = it->payload,
		.len = it->len,
		.since_ns = it->pend_ns,
		.item = q->head,
	};
	return true;
}

void pf_feedq_done(struct pf_feedq *q, const struct pf_feedq_msg *m, bool sent)
{
	struct item *it = &q->items[m->item];

	q->head = it->next;
	q->st.queued--;
	free(it->payload);
	it->payload = NULL;
	if (!sent) {
		dropped(q, it, it->pend_changes);
		return;
	}
	q->st.published[it->kind]++;
	account(q, it, it->pend_changes);
	memcpy(it->pub_v, it->pend_v, sizeof(it->pub_v));
	it->pub_changes = it->pend_changes;
	it->has_pub = true;
}

void pf_feedq_stats(const struct pf_feedq *q, struct pf_feedq_stats *out)
{
	*out = q->st;
	out->asking = 0;
	for (int k = 0; k < PF_FEEDQ__N; k++) {
		const struct vec *a = &q->asked[k];

		out->asking += q->dirty[k].n; /* dirty, or asked and dirty again */
		for (size_t i = 0; i < a->n; i++)
			out->asking += !q->items[a->v[i]].dirty;
	}
}

/* ---- life ---- */

struct pf_feedq *pf_feedq_new(const struct pf_feedq_config *cfg)
{
	struct pf_feedq *q = calloc(1, sizeof(*q));

	if (q)
		q->cfg = *cfg;
	return q;
}

void pf_feedq_free(struct pf_feedq *q)
{
	if (!q)
		return;
	for (uint32_t k = 0; k < q->n_items; k++) {
		free(q->items[k].key);
		free(q->items[k].payload);
	}
	for (int i = 0; i < PF_FEEDQ__N; i++) {
		free(q->dirty[i].v);
		free(q->asked[i].v);
	}
	free(q->items);
	free(q->slots);
	free(q);
}
