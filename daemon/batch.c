/*
 * Builds PostgreSQL array literals ({"a","b",NULL}) for the ingest functions. Text format
 * keeps one plan per statement and one parameter per column whatever the batch size
 * (no 65535-parameter limit), and the server parses arrays far faster than many rows.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pf_batch.h"
#include "pf_buf.h"
#include "pf_utf8.h"

enum {
	/* occupancy */
	O_LOT,
	O_OBSERVED,
	O_RECEIVED,
	O_TOTAL,
	O_FREE,
	O_OCCUPIED,
	O_STATUS,
	O_SEQ,
	O_FORMAT,
	O__N
};
enum { S_LOT, S_RECEIVED, S_ONLINE, S_SYSTEM, S_VERSION, S_PROTOCOL, S_COMPLIANT, S_REPLAY, S__N };
enum { R_RECEIVED, R_TOPIC, R_LOT, R_REASON, R_DETAIL, R_PAYLOAD, R_PAYLOAD_LEN, R__N };

struct pf_batch {
	struct pf_buf occ[O__N], st[S__N], rej[R__N];
	size_t n_occ, n_st, n_rej;
	int64_t oldest;
	bool oom;
};

/* Room for need bytes and the closing brace (pf_buf keeps room for the NUL). */
static int grow(struct pf_buf *s, size_t need)
{
	return pf_buf_reserve(s, need + 1) < 0 ? -ENOMEM : 0;
}

static void put(struct pf_buf *s, const char *data, size_t n)
{
	memcpy(s->p + s->len, data, n);
	s->len += n;
}

/* Opens the element: '{' before the first, ',' before the others. */
static int begin(struct pf_buf *s, size_t n_before, size_t need)
{
	if (grow(s, need + 1) < 0)
		return -ENOMEM;
	s->p[s->len++] = n_before == 0 ? '{' : ',';
	return 0;
}

static int add_raw(struct pf_buf *s, size_t n_before, const char *text)
{
	size_t n = strlen(text);

	if (begin(s, n_before, n) < 0)
		return -ENOMEM;
	put(s, text, n);
	return 0;
}

static int add_i64(struct pf_buf *s, size_t n_before, int64_t v)
{
	/* By hand: snprintf was a twentieth of the daemon's CPU in a backlog drain. */
	char tmp[24], *end = tmp + sizeof(tmp), *p = end;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	if (begin(s, n_before, (size_t)(end - p)) < 0)
		return -ENOMEM;
	put(s, p, (size_t)(end - p));
	return 0;
}

/*
 * A quoted element. PostgreSQL text cannot hold NUL or invalid UTF-8, and one such value
 * would make the server refuse the whole batch: replace them with U+FFFD here.
 */
static int add_text(struct pf_buf *s, size_t n_before, const char *text, size_t n)
{
	const unsigned char *u = (const unsigned char *)text;

	if (begin(s, n_before, n * 3 + 2) < 0)
		return -ENOMEM;
	s->p[s->len++] = '"';
	for (size_t i = 0; i < n;) {
		size_t k = u[i] >= 0x80 ? pf_utf8_seq(u + i, n - i) : u[i] != 0;
		if (k == 0) {
			put(s, "\xEF\xBF\xBD", 3);
			i++;
			continue;
		}
		if (u[i] == '"' || u[i] == '\\')
			s->p[s->len++] = '\\';
		put(s, text + i, k);
		i += k;
	}
	s->p[s->len++] = '"';
	return 0;
}

int pf_pgarray_text(struct pf_buf *s, size_t n_before, const char *text, size_t n)
{
	return add_text(s, n_before, text, n);
}

static int add_str(struct pf_buf *s, size_t n_before, const char *text)
{
	if (!text || !text[0])
		return add_raw(s, n_before, "NULL");
	return add_text(s, n_before, text, strlen(text));
}

/* bytea inside an array literal: "\\x..." (the backslash itself escaped). */
static int add_bytea(struct pf_buf *s, size_t n_before, const uint8_t *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (begin(s, n_before, n * 2 + 6) < 0)
		return -ENOMEM;
	put(s, "\"\\\\x", 4);
	for (size_t i = 0; i < n; i++) {
		s->p[s->len++] = hex[data[i] >> 4];
		s->p[s->len++] = hex[data[i] & 15];
	}
	s->p[s->len++] = '"';
	return 0;
}

static int add_occupancy(struct pf_batch *b, const struct pf_record *rec)
{
	const struct pf_observation *o = &rec->u.obs;
	size_t k = b->n_occ;
	int rc = 0;

	rc |= add_text(&b->occ[O_LOT], k, o->lot_id, strlen(o->lot_id));
	rc |= add_i64(&b->occ[O_OBSERVED], k, o->observed_at);
	rc |= add_i64(&b->occ[O_RECEIVED], k, rec->received_at);
	rc |= add_i64(&b->occ[O_TOTAL], k, o->total);
	rc |= add_i64(&b->occ[O_FREE], k, o->free);
	rc |= add_i64(&b->occ[O_OCCUPIED], k, o->occupied);
	rc |= add_str(&b->occ[O_STATUS], k, pf_lot_status_name(o->status));
	rc |= o->has_seq ? add_i64(&b->occ[O_SEQ], k, o->seq) : add_raw(&b->occ[O_SEQ], k, "NULL");
	rc |= add_str(&b->occ[O_FORMAT], k, pf_format_name(o->format));
	b->n_occ++;
	return rc;
}

static int add_status(struct pf_batch *b, const struct pf_record *rec)
{
	const struct pf_status_report *st = &rec->u.status;
	size_t k = b->n_st;
	int rc = 0;

	rc |= add_text(&b->st[S_LOT], k, st->lot_id, strlen(st->lot_id));
	rc |= add_i64(&b->st[S_RECEIVED], k, rec->received_at);
	rc |= add_raw(&b->st[S_ONLINE], k, st->online < 0 ? "NULL" : st->online ? "t" : "f");
	rc |= add_str(&b->st[S_SYSTEM], k, st->system);
	rc |= add_str(&b->st[S_VERSION], k, st->version);
	rc |= add_str(&b->st[S_PROTOCOL], k, st->protocol);
	rc |= add_raw(&b->st[S_COMPLIANT], k, st->compliant ? "t" : "f");
	rc |= add_raw(&b->st[S_REPLAY], k, rec->retained ? "t" : "f");
	b->n_st++;
	return rc;
}

static int add_reject(struct pf_batch *b, const struct pf_record *rec)
{
	const struct pf_reject *r = &rec->u.reject;
	size_t k = b->n_rej;
	int rc = 0;

	rc |= add_i64(&b->rej[R_RECEIVED], k, rec->received_at);
	rc |= add_text(&b->rej[R_TOPIC], k, rec->topic ? rec->topic : "", rec->topic_len);
	rc |= add_text(&b->rej[R_LOT], k, r->lot_id, strlen(r->lot_id));
	rc |= add_str(&b->rej[R_REASON], k, pf_reject_reason_name(r->reason));
	rc |= add_text(&b->rej[R_DETAIL], k, r->detail, strlen(r->detail));
	rc |= add_bytea(&b->rej[R_PAYLOAD], k, rec->payload, rec->payload_len);
	rc |= add_i64(&b->rej[R_PAYLOAD_LEN], k, rec->payload_full_len);
	b->n_rej++;
	return rc;
}

struct pf_batch *pf_batch_new(void)
{
	return calloc(1, sizeof(struct pf_batch));
}

static void free_bufs(struct pf_buf *s, int n)
{
	for (int i = 0; i < n; i++)
		pf_buf_free(&s[i]);
}

void pf_batch_free(struct pf_batch *b)
{
	if (!b)
		return;
	free_bufs(b->occ, O__N);
	free_bufs(b->st, S__N);
	free_bufs(b->rej, R__N);
	free(b);
}

static void reset_bufs(struct pf_buf *s, int n)
{
	for (int i = 0; i < n; i++) {
		s[i].len = 0;
		s[i].oom = false;
	}
}

void pf_batch_reset(struct pf_batch *b)
{
	reset_bufs(b->occ, O__N);
	reset_bufs(b->st, S__N);
	reset_bufs(b->rej, R__N);
	b->n_occ = b->n_st = b->n_rej = 0;
	b->oldest = 0;
	b->oom = false;
}

int pf_batch_add(struct pf_batch *b, const struct pf_record *rec)
{
	int rc;

	/* A batch that ran out of memory part-way has ragged arrays: the caller must reset. */
	if (b->oom)
		return -ENOMEM;
	switch (rec->kind) {
	case PF_REC_OCCUPANCY:
		rc = add_occupancy(b, rec);
		break;
	case PF_REC_STATUS:
		rc = add_status(b, rec);
		break;
	case PF_REC_REJECT:
		rc = add_reject(b, rec);
		break;
	default:
		return -EINVAL;
	}
	if (rc) {
		b->oom = true;
		return -ENOMEM;
	}
	if (!b->oldest || rec->received_at < b->oldest)
		b->oldest = rec->received_at;
	return 0;
}

size_t pf_batch_records(const struct pf_batch *b)
{
	return b->n_occ + b->n_st + b->n_rej;
}

static size_t bytes_of(const struct pf_buf *s, int n)
{
	size_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += s[i].len;
	return sum;
}

size_t pf_batch_bytes(const struct pf_batch *b)
{
	return bytes_of(b->occ, O__N) + bytes_of(b->st, S__N) + bytes_of(b->rej, R__N);
}

int64_t pf_batch_oldest(const struct pf_batch *b)
{
	return b->oldest;
}

/* grow() always leaves room for these two bytes. */
static const char *finish(struct pf_buf *s)
{
	s->p[s->len] = '}';
	s->p[s->len + 1] = '\0';
	return s->p;
}

const char *pf_pgarray_end(struct pf_buf *s, size_t n)
{
	if (n == 0 && add_raw(s, 0, "") < 0) /* "{" */
		return NULL;
	return finish(s);
}

static void describe(struct pf_ingest_query *q, enum pf_ingest_call call, struct pf_buf *s, int n)
{
	q->call = call;
	for (int i = 0; i < n; i++)
		q->params[i] = finish(&s[i]);
}

int pf_batch_queries(struct pf_batch *b, struct pf_ingest_query *q)
{
	int nq = 0;

	if (b->n_occ)
		describe(&q[nq++], PF_INGEST_OCCUPANCY, b->occ, O__N);
	if (b->n_st)
		describe(&q[nq++], PF_INGEST_STATUS, b->st, S__N);
	if (b->n_rej)
		describe(&q[nq++], PF_INGEST_REJECTED, b->rej, R__N);
	return nq;
}
