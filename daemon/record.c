/* Names of the record enums, and the spool's binary encoding of a record. */
#include <errno.h>
#include <string.h>

#include "pf_record.h"
#include "pf_utf8.h"

/*
 * Encoding, little-endian, strings as a length byte (u16 for topic and payload) + bytes:
 *   u8  version << 4 | kind
 *   i64 received_at
 *   occupancy: str lot_id, i64 observed_at, i32 total, i32 free, i32 occupied,
 *              u8 has_seq, i64 seq, u8 status, u8 format
 *   status:    str lot_id, i8 online, u8 compliant, str system, str version, str protocol
 *   reject:    u8 reason, str lot_id, str detail, u16 topic_len, topic,
 *              u32 payload_full_len, u16 payload_len, payload
 *   version 2 only: u8 flags (REC_F_RETAINED), never 0
 * Only a reject keeps its topic and payload; the other kinds decode with them NULL.
 * A record without flags is written as version 1, byte for byte what earlier versions wrote,
 * so a spool can go either way across an upgrade and the encoding stays canonical (one byte
 * string per record). decode() reads bytes from disk, so it checks every length against what
 * remains and every value against the same invariants encode() insists on.
 */
#define REC_V1 1	    /* parkfeed 0.1 and this one, for records without flags */
#define REC_V2 2	    /* a flags byte at the end */
#define REC_F_RETAINED 0x01 /* pf_record.retained */
#define OBS_TS_MAX INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999Z */
#define TOTAL_MAX 100000

static const char *const reason_names[PF_REJ__COUNT] = {
	[PF_REJ_NONE] = "none",
	[PF_REJ_PAYLOAD_TOO_LARGE] = "payload_too_large",
	[PF_REJ_BAD_UTF8] = "bad_utf8",
	[PF_REJ_JSON_SYNTAX] = "json_syntax",
	[PF_REJ_NOT_OBJECT] = "not_object",
	[PF_REJ_MISSING_FIELD] = "missing_field",
	[PF_REJ_BAD_TYPE] = "bad_type",
	[PF_REJ_OUT_OF_RANGE] = "out_of_range",
	[PF_REJ_INCONSISTENT_COUNTS] = "inconsistent_counts",
	[PF_REJ_FUTURE_TS] = "future_ts",
	[PF_REJ_BAD_TOPIC] = "bad_topic",
	[PF_REJ_ID_MISMATCH] = "id_mismatch",
	[PF_REJ_TOO_DEEP] = "too_deep",
	[PF_REJ_DB_REFUSED] = "db_refused",
	[PF_REJ_TOO_OLD] = "too_old",
};

const char *pf_reject_reason_name(enum pf_reject_reason r)
{
	return (unsigned)r < PF_REJ__COUNT ? reason_names[r] : "unknown";
}

const char *pf_lot_status_name(enum pf_lot_status s)
{
	switch (s) {
	case PF_LOT_OPEN:
		return "open";
	case PF_LOT_CLOSED:
		return "closed";
	case PF_LOT_FULL:
		return "full";
	default:
		return NULL;
	}
}

const char *pf_format_name(enum pf_format f)
{
	switch (f) {
	case PF_FMT_NATIVE:
		return "native";
	case PF_FMT_VENDOR:
		return "vendor";
	case PF_FMT_FIWARE_KV:
		return "fiware";
	case PF_FMT_NGSI_LD:
		return "ngsi-ld";
	default:
		return "unknown";
	}
}

/* ---- invariants shared by encode and decode ---- */

static bool lot_id_ok(const char *s, bool may_be_empty)
{
	size_t n = strnlen(s, PF_LOT_ID_MAX + 1);

	if (n > PF_LOT_ID_MAX || (n == 0 && !may_be_empty))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') &&
		    c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* Text the database takes and a terminal shows as it is: the normalizer made it clean. */
static bool cstr_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	return n < cap && pf_utf8_clean((const uint8_t *)s, n);
}

static bool obs_ok(const struct pf_observation *o)
{
	return lot_id_ok(o->lot_id, false) && o->observed_at >= 0 && o->observed_at <= OBS_TS_MAX &&
	       o->total >= 0 && o->total <= TOTAL_MAX && o->free >= 0 && o->occupied >= 0 &&
	       o->free <= o->total && o->occupied <= o->total - o->free &&
	       (o->has_seq || o->seq == 0) && (unsigned)o->status <= PF_LOT_FULL &&
	       o->format >= PF_FMT_NATIVE && o->format <= PF_FMT_NGSI_LD;
}

static bool status_ok(const struct pf_status_report *s)
{
	return lot_id_ok(s->lot_id, false) && s->online >= -1 && s->online <= 1 &&
	       cstr_ok(s->system, sizeof(s->system)) && cstr_ok(s->version, sizeof(s->version)) &&
	       cstr_ok(s->protocol, sizeof(s->protocol));
}

static bool reject_ok(const struct pf_record *rec)
{
	const struct pf_reject *r = &rec->u.reject;

	return r->reason > PF_REJ_NONE && r->reason < PF_REJ__COUNT && lot_id_ok(r->lot_id, true) &&
	       cstr_ok(r->detail, sizeof(r->detail)) && rec->topic_len <= PF_TOPIC_MAX &&
	       (rec->topic_len == 0 || (rec->topic && !memchr(rec->topic, 0, rec->topic_len))) &&
	       rec->payload_len <= PF_REJECT_PAYLOAD_MAX &&
	       rec->payload_len <= rec->payload_full_len && (rec->payload || !rec->payload_len);
}

static bool record_ok(const struct pf_record *rec)
{
	if (rec->received_at < 0 || rec->received_at > OBS_TS_MAX)
		return false;
	switch (rec->kind) {
	case PF_REC_OCCUPANCY:
		return obs_ok(&rec->u.obs);
	case PF_REC_STATUS:
		return status_ok(&rec->u.status);
	case PF_REC_REJECT:
		return reject_ok(rec);
	default:
		return false;
	}
}

/* ---- writer ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool full; /* something did not fit: the result is -ENOBUFS */
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	if (n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_le(struct wbuf *w, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(w, b, n);
}

static void put_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s); /* bounded: record_ok checked it against the field's size */

	put_le(w, n, 1);
	put(w, s, n);
}

static void put_obs(struct wbuf *w, const struct pf_observation *o)
{
	put_str(w, o->lot_id);
	put_le(w, (uint64_t)o->observed_at, 8);
	put_le(w, (uint32_t)o->total, 4);
	put_le(w, (uint32_t)o->free, 4);
	put_le(w, (uint32_t)o->occupied, 4);
	put_le(w, o->has_seq, 1);
	put_le(w, (uint64_t)o->seq, 8);
	put_le(w, (uint8_t)o->status, 1);
	put_le(w, (uint8_t)o->format, 1);
}

static void put_status(struct wbuf *w, const struct pf_status_report *s)
{
	put_str(w, s->lot_id);
	put_le(w, (uint8_t)(int8_t)s->online, 1);
	put_le(w, s->compliant, 1);
	put_str(w, s->system);
	put_str(w, s->version);
	put_str(w, s->protocol);
}

static void put_reject(struct wbuf *w, const struct pf_record *rec)
{
	put_le(w, (uint8_t)rec->u.reject.reason, 1);
	put_str(w, rec->u.reject.lot_id);
	put_str(w, rec->u.reject.detail);
	put_le(w, rec->topic_len, 2);
	put(w, rec->topic, rec->topic_len);
	put_le(w, rec->payload_full_len, 4);
	put_le(w, rec->payload_len, 2);
	put(w, rec->payload, rec->payload_len);
}

int pf_record_encode(const struct pf_record *rec, uint8_t *buf, size_t cap)
{
	struct wbuf w = {.p = buf, .cap = cap};
	unsigned flags = rec->retained ? REC_F_RETAINED : 0;

	if (!record_ok(rec))
		return -EINVAL;
	put_le(&w, (flags ? REC_V2 : REC_V1) << 4 | (unsigned)rec->kind, 1);
	put_le(&w, (uint64_t)rec->received_at, 8);
	if (rec->kind == PF_REC_OCCUPANCY)
		put_obs(&w, &rec->u.obs);
	else if (rec->kind == PF_REC_STATUS)
		put_status(&w, &rec->u.status);
	else
		put_reject(&w, rec);
	if (flags)
		put_le(&w, flags, 1);
	if (w.full)
		return -ENOBUFS;
	return (int)w.len;
}

/* ---- reader ---- */

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad; /* ran past the end: the result is -EBADMSG */
};

static const uint8_t *take(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t get_le(struct rbuf *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A length-prefixed string into a fixed array; lengths that do not fit leave it bad. */
static void get_str(struct rbuf *r, char *dst, size_t cap)
{
	size_t n = (size_t)get_le(r, 1);
	const uint8_t *p;

	dst[0] = '\0';
	if (n >= cap || (p = take(r, n)) == NULL || memchr(p, 0, n)) {
		r->bad = true; /* an inner NUL would silently shorten the string */
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void get_obs(struct rbuf *r, struct pf_observation *o)
{
	uint8_t has_seq;

	get_str(r, o->lot_id, sizeof(o->lot_id));
	o->observed_at = (int64_t)get_le(r, 8);
	o->total = (int32_t)(uint32_t)get_le(r, 4);
	o->free = (int32_t)(uint32_t)get_le(r, 4);
	o->occupied = (int32_t)(uint32_t)get_le(r, 4);
	has_seq = (uint8_t)get_le(r, 1);
	o->seq = (int64_t)get_le(r, 8);
	o->status = (enum pf_lot_status)get_le(r, 1);
	o->format = (enum pf_format)get_le(r, 1);
	r->bad |= has_seq > 1;
	o->has_seq = has_seq;
}

static void get_status(struct rbuf *r, struct pf_status_report *s)
{
	uint8_t compliant;

	get_str(r, s->lot_id, sizeof(s->lot_id));
	s->online = (int8_t)get_le(r, 1);
	compliant = (uint8_t)get_le(r, 1);
	get_str(r, s->system, sizeof(s->system));
	get_str(r, s->version, sizeof(s->version));
	get_str(r, s->protocol, sizeof(s->protocol));
	r->bad |= compliant > 1;
	s->compliant = compliant;
}

static void get_reject(struct rbuf *r, struct pf_record *rec)
{
	rec->u.reject.reason = (enum pf_reject_reason)get_le(r, 1);
	get_str(r, rec->u.reject.lot_id, sizeof(rec->u.reject.lot_id));
	get_str(r, rec->u.reject.detail, sizeof(rec->u.reject.detail));
	rec->topic_len = (size_t)get_le(r, 2);
	rec->topic = (const char *)take(r, rec->topic_len);
	rec->payload_full_len = (uint32_t)get_le(r, 4);
	rec->payload_len = (size_t)get_le(r, 2);
	rec->payload = take(r, rec->payload_len);
}

/* Clean a text field in place: true when it held a control character. */
static bool clean_field(char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n >= cap || pf_utf8_clean((const uint8_t *)s, n))
		return false;
	pf_utf8_sanitize(s, n);
	return true;
}

/* Controller text a version-1 record may hold raw: parkfeed 0.1 spooled status strings as
 * controllers sent them (the database cleans them too). */
static bool clean_text(struct pf_record *rec)
{
	bool cleaned = false;

	if (rec->kind == PF_REC_STATUS) {
		cleaned |= clean_field(rec->u.status.system, sizeof(rec->u.status.system));
		cleaned |= clean_field(rec->u.status.version, sizeof(rec->u.status.version));
		cleaned |= clean_field(rec->u.status.protocol, sizeof(rec->u.status.protocol));
	} else if (rec->kind == PF_REC_REJECT) {
		cleaned |= clean_field(rec->u.reject.detail, sizeof(rec->u.reject.detail));
	}
	return cleaned;
}

static int decode(struct pf_record *rec, const uint8_t *buf, size_t len, bool lenient)
{
	struct rbuf r = {.p = buf, .len = buf ? len : 0};
	bool cleaned = false;
	unsigned head = (unsigned)get_le(&r, 1), version = head >> 4, flags;

	memset(rec, 0, sizeof(*rec));
	rec->kind = (enum pf_record_kind)(head & 0x0F);
	rec->received_at = (int64_t)get_le(&r, 8);
	if (version != REC_V1 && version != REC_V2)
		r.bad = true;
	else if (rec->kind == PF_REC_OCCUPANCY)
		get_obs(&r, &rec->u.obs);
	else if (rec->kind == PF_REC_STATUS)
		get_status(&r, &rec->u.status);
	else if (rec->kind == PF_REC_REJECT)
		get_reject(&r, rec);
	if (version == REC_V2) {
		/* Version 2 exists for its flags: none set, or one unknown, was never written. */
		flags = (unsigned)get_le(&r, 1);
		r.bad |= flags == 0 || (flags & ~(unsigned)REC_F_RETAINED);
		rec->retained = flags & REC_F_RETAINED;
	}
	if (lenient && !r.bad && version == REC_V1)
		cleaned = clean_text(rec);
	if (r.bad || r.off != r.len || !record_ok(rec)) {
		memset(rec, 0, sizeof(*rec));
		return -EBADMSG;
	}
	return cleaned;
}

int pf_record_decode(struct pf_record *rec, const uint8_t *buf, size_t len)
{
	return decode(rec, buf, len, false);
}

int pf_record_decode_spooled(struct pf_record *rec, const uint8_t *buf, size_t len)
{
	return decode(rec, buf, len, true);
}
