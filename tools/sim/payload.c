/* Occupancy payloads in the contract's shapes (native, vendor, FIWARE), good and bad. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static const char *const format_names[FMT__COUNT] = {"native", "vendor", "fiware", "ngsi-ld"};

static const char *const bad_names[BAD__COUNT] = {
	[BAD_NONE] = "none",
	[BAD_JSON_SYNTAX] = "json_syntax",
	[BAD_FREE_GT_TOTAL] = "free_gt_total",
	[BAD_MISSING_TS] = "missing_ts",
	[BAD_FUTURE_TS] = "future_ts",
	[BAD_UTF8] = "bad_utf8",
	[BAD_WRONG_ID] = "id_mismatch",
	[BAD_TOO_LARGE] = "payload_too_large",
	[BAD_TOPIC] = "bad_topic",
};

static const char *const status_names[] = {"open", "closed", "full"};

static const char ngsi_context[] =
	"https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/"
	"context.jsonld";

const char *payload__format_name(enum sim_format f)
{
	return format_names[f];
}

const char *payload__bad_name(enum sim_bad b)
{
	return bad_names[b];
}

int payload__format_from_name(const char *name)
{
	for (int f = 0; f < FMT__COUNT; f++)
		if (strcmp(name, format_names[f]) == 0)
			return f;
	return -1;
}

/* A bounded string builder: overflow is remembered, never written past cap. */
struct sb {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

/* A JSON string; our names hold only UTF-8 text, quotes and commas need escaping. */
static void sb_json_str(struct sb *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			char esc[2] = {'\\', *s};
			sb_put(b, esc, 2);
		} else if ((unsigned char)*s < 0x20) {
			sb_printf(b, "\\u%04x", (unsigned char)*s);
		} else {
			sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

/* Timestamp spellings the contract accepts. */
enum tsf {
	TSF_OFFSET,	 /* 2023-06-19T08:00:05+08:00 */
	TSF_UTC_MS,	 /* 2023-06-19T00:00:05.123Z */
	TSF_LOCAL_SPACE, /* 2023-06-19 08:00:05, Asia/Shanghai */
	TSF_EPOCH_MS,	 /* 1687132805123, a JSON integer */
	TSF_LOCAL_T,	 /* 2023-06-19T08:00:05, as in FIWARE's published example */
};

static void fmt_time(char out[40], int64_t t_ms, enum tsf f)
{
	int64_t s = t_ms / 1000 - (t_ms % 1000 < 0);
	int ms = (int)(t_ms - s * 1000);
	time_t tt = (time_t)(f == TSF_UTC_MS ? s : s + SIM_TZ_OFFSET_S);
	struct tm tm;

	if (f == TSF_EPOCH_MS) {
		snprintf(out, 40, "%lld", (long long)t_ms);
		return;
	}
	gmtime_r(&tt, &tm);
	snprintf(out, 40, "%04d-%02d-%02d%c%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, f == TSF_LOCAL_SPACE ? ' ' : 'T', tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (f == TSF_OFFSET)
		strcat(out, "+08:00");
	else if (f == TSF_UTC_MS)
		snprintf(out + 19, 21, ".%03dZ", ms);
}

void payload__local_date(int64_t t_s, char out[11])
{
	char buf[40];

	fmt_time(buf, t_s * 1000, TSF_LOCAL_SPACE);
	memcpy(out, buf, 10);
	out[10] = '\0';
}

/* A quoted string, or a bare integer for epoch milliseconds. */
static void sb_time(struct sb *b, int64_t t_ms, enum tsf f)
{
	char t[40];

	fmt_time(t, t_ms, f);
	if (f == TSF_EPOCH_MS)
		sb_puts(b, t);
	else
		sb_printf(b, "\"%s\"", t);
}

static const enum tsf native_forms[] = {TSF_OFFSET, TSF_UTC_MS, TSF_LOCAL_SPACE, TSF_EPOCH_MS};

static enum tsf native_form(const struct sim_opts *o, const struct sim_msg *m)
{
	return o->stamp ? TSF_EPOCH_MS : native_forms[m->ts_form % 4];
}

/* Tweaks the bad kinds apply to an otherwise native payload. */
struct native_tweak {
	bool no_ts;
	bool free_gt_total;
	bool occupied_gt_total;
	const char *raw_note; /* inserted unescaped: invalid UTF-8 bytes */
	size_t pad_to;	      /* grow past this many bytes */
	bool trailing_comma;
	bool single_quotes;
};

static void render_native(struct sb *b, const struct sim_opts *o, const struct sim_msg *m,
			  const struct native_tweak *tw)
{
	const struct sim_occupancy *c = &m->occ;
	int variant = m->lot->variant;
	/* Only one count when the other follows from the total (no spaces out of service). */
	bool exact = m->lot->out_of_service == 0 && c->status != SIM_CLOSED;
	bool has_free = !(exact && variant == 2);
	bool has_occupied = !(exact && variant == 1);
	char q = tw->single_quotes ? '\'' : '"';

	sb_puts(b, "{");
	if (!tw->no_ts) {
		sb_printf(b, "%cts%c:", q, q);
		sb_time(b, m->t_ms, native_form(o, m));
		sb_puts(b, ",");
	}
	sb_printf(b, "%ctotal%c:%d", q, q, c->total);
	if (tw->free_gt_total)
		sb_printf(b, ",\"free\":%d", c->total + 1 + m->bad_variant);
	else if (tw->occupied_gt_total)
		sb_printf(b, ",\"occupied\":%d", c->total + 1 + m->bad_variant);
	else {
		if (has_free)
			sb_printf(b, ",%cfree%c:%d", q, q, c->free);
		if (has_occupied)
			sb_printf(b, ",%coccupied%c:%d", q, q, c->occupied);
	}
	sb_printf(b, ",%cseq%c:%lld", q, q, (long long)m->seq);
	if (variant != 3)
		sb_printf(b, ",%cstatus%c:%c%s%c", q, q, q, status_names[c->status], q);
	if (tw->raw_note)
		sb_printf(b, ",\"note\":\"%s\"", tw->raw_note);
	if (tw->pad_to) {
		sb_puts(b, ",\"pad\":\"");
		while (!b->overflow && b->len < tw->pad_to + 2)
			sb_put(b, "0123456789abcdef", 16);
		sb_puts(b, "\"");
	}
	if (tw->trailing_comma)
		sb_puts(b, ",");
	sb_puts(b, "}");
}

/* Chinese lot-management systems report remaining spaces under their own names. */
static void render_vendor(struct sb *b, const struct sim_opts *o, const struct sim_msg *m)
{
	const struct sim_occupancy *c = &m->occ;

	sb_puts(b, "{\"ts\":");
	sb_time(b, m->t_ms, native_form(o, m));
	if (m->lot->variant % 2 == 0) {
		sb_puts(b, ",\"park_name\":");
		sb_json_str(b, m->lot->name);
		sb_printf(b, ",\"total_parking_space\":%d,\"remain_parking_space\":%d}", c->total,
			  c->free);
	} else {
		sb_printf(b, ",\"TotalSpaces\":%d,\"RemainingSpaces\":%d}", c->total, c->free);
	}
}

static void entity_id(struct sb *b, const char *lot_id, bool plain)
{
	if (plain)
		sb_json_str(b, lot_id);
	else
		sb_printf(b, "\"urn:ngsi-ld:OffStreetParking:%s\"", lot_id);
}

static double occupancy_ratio(const struct sim_occupancy *c)
{
	return c->total > 0 ? (double)c->occupied / c->total : 0.0;
}

/* keyValues, shaped like the data model's example.json. */
static void render_fiware(struct sb *b, const struct sim_opts *o, const struct sim_msg *m,
			  const char *id)
{
	const struct sim_occupancy *c = &m->occ;
	const struct sim_lot *lot = m->lot;
	char t[40];

	sb_puts(b, "{\"id\":");
	entity_id(b, id, lot->variant == 3 && id == lot->id);
	sb_puts(b, ",\"type\":\"OffStreetParking\",\"name\":");
	sb_json_str(b, lot->name);
	sb_printf(b,
		  ",\"category\":[\"public\",\"feeCharged\"],\"location\":{\"type\":\"Point\","
		  "\"coordinates\":[%.6f,%.6f]},\"address\":{\"addressRegion\":\"河南省\","
		  "\"addressLocality\":\"焦作市\",\"district\":\"%s\",\"addressCountry\":\"CN\"}",
		  lot->lon, lot->lat, lot->district->name);
	sb_printf(b,
		  ",\"totalSpotNumber\":%d,\"availableSpotNumber\":%d,\"occupiedSpotNumber\":%d"
		  ",\"occupancy\":%.2f,\"status\":[\"%s\"]",
		  c->total, c->free, c->occupied, occupancy_ratio(c), status_names[c->status]);
	if (o->stamp) {
		fmt_time(t, m->t_ms, TSF_UTC_MS);
		sb_printf(b, ",\"observationDateTime\":\"%s\"}", t);
		return;
	}
	switch (m->ts_form % 3) {
	case 0:
		fmt_time(t, m->t_ms, TSF_OFFSET);
		sb_printf(b, ",\"observationDateTime\":\"%s\",\"occupancyModified\":\"%s\"}", t, t);
		break;
	case 1:
		fmt_time(t, m->t_ms, TSF_UTC_MS);
		sb_printf(b,
			  ",\"observationDateTime\":{\"@type\":\"DateTime\","
			  "\"@value\":\"%s\"}}",
			  t);
		break;
	default:
		/* Only occupancyModified, local time without offset, like the published example. */
		fmt_time(t, m->t_ms, TSF_LOCAL_T);
		sb_printf(b, ",\"occupancyModified\":\"%s\"}", t);
		break;
	}
}

/* NGSI-LD normalized, shaped like the data model's example-normalized.jsonld. */
static void render_ngsi_ld(struct sb *b, const struct sim_opts *o, const struct sim_msg *m,
			   const char *id)
{
	const struct sim_occupancy *c = &m->occ;
	const struct sim_lot *lot = m->lot;
	bool observed_at = o->stamp || m->ts_form % 2 == 0;
	char t[40];

	fmt_time(t, m->t_ms, TSF_UTC_MS);
	sb_puts(b, "{\"id\":");
	entity_id(b, id, false);
	sb_puts(b, ",\"type\":\"OffStreetParking\",\"name\":{\"type\":\"Property\",\"value\":");
	sb_json_str(b, lot->name);
	sb_printf(b,
		  "},\"location\":{\"type\":\"GeoProperty\",\"value\":{\"type\":\"Point\","
		  "\"coordinates\":[%.6f,%.6f]}}",
		  lot->lon, lot->lat);
	sb_printf(b, ",\"totalSpotNumber\":{\"type\":\"Property\",\"value\":%d}", c->total);
	sb_printf(b, ",\"availableSpotNumber\":{\"type\":\"Property\",\"value\":%d", c->free);
	if (observed_at)
		sb_printf(b, ",\"observedAt\":\"%s\"", t);
	sb_printf(b, "},\"occupiedSpotNumber\":{\"type\":\"Property\",\"value\":%d", c->occupied);
	if (observed_at)
		sb_printf(b, ",\"observedAt\":\"%s\"", t);
	sb_printf(b, "},\"occupancy\":{\"type\":\"Property\",\"value\":%.2f}", occupancy_ratio(c));
	sb_printf(b, ",\"status\":{\"type\":\"Property\",\"value\":[\"%s\"]}",
		  status_names[c->status]);
	if (!observed_at)
		sb_printf(b,
			  ",\"observationDateTime\":{\"type\":\"Property\",\"value\":"
			  "{\"@type\":\"DateTime\",\"@value\":\"%s\"}}",
			  t);
	sb_printf(b, ",\"@context\":[\"%s\"]}", ngsi_context);
}

static const char *const bad_utf8_notes[] = {
	"\xff\xfe", "\xc3\x28", "\xe5\xb1", "\xed\xa0\x80", "\xc0\xaf",
};

static void render_bad(struct sb *b, const struct sim_opts *o, const struct sim_msg *m)
{
	struct native_tweak tw = {0};
	int v = m->bad_variant;

	switch (m->bad) {
	case BAD_JSON_SYNTAX:
		tw.trailing_comma = v % 3 == 1;
		tw.single_quotes = v % 3 == 2;
		render_native(b, o, m, &tw);
		if (v % 3 == 0 && b->len > 2)
			b->p[b->len -= b->len / 2] = '\0'; /* cut off mid-object */
		return;
	case BAD_FREE_GT_TOTAL:
		tw.free_gt_total = v % 2 == 0;
		tw.occupied_gt_total = v % 2 == 1;
		break;
	case BAD_MISSING_TS:
		tw.no_ts = true;
		break;
	case BAD_UTF8:
		tw.raw_note = bad_utf8_notes[v % 5];
		break;
	case BAD_TOO_LARGE:
		tw.pad_to = o->max_payload + (size_t)v;
		break;
	case BAD_WRONG_ID:
		if (v % 2 == 0)
			render_fiware(b, o, m, m->other->id);
		else
			render_ngsi_ld(b, o, m, m->other->id);
		return;
	default: /* future ts, bad topic: a well-formed payload */
		break;
	}
	render_native(b, o, m, &tw);
}

/* Lot ids a topic must not carry: [A-Za-z0-9._-]{1,64} is the rule. */
static void bad_topic(const struct sim_opts *o, const struct sim_msg *m, char *topic, size_t cap)
{
	const char *id = m->lot->id;

	switch (m->bad_variant % 6) {
	case 0:
		snprintf(topic, cap, "%s/%s!/occupancy", o->prefix, id);
		break;
	case 1:
		snprintf(topic, cap, "%s/JZ %s/occupancy", o->prefix, id + 3);
		break;
	case 2:
		snprintf(topic, cap, "%s/JZ:%s/occupancy", o->prefix, id + 3);
		break;
	case 3:
		snprintf(topic, cap, "%s/%s*/occupancy", o->prefix, id);
		break;
	case 4:
		snprintf(topic, cap, "%s/%s停车/occupancy", o->prefix, id);
		break;
	default:
		snprintf(topic, cap, "%s/%s-%s/occupancy", o->prefix, id,
			 "0123456789012345678901234567890123456789012345678901234567890123");
		break;
	}
}

long payload__render(const struct sim_opts *o, const struct sim_msg *m, char *topic,
		     size_t topic_cap, char *buf, size_t cap)
{
	struct sb b = {.p = buf, .cap = cap};

	if (m->bad == BAD_TOPIC)
		bad_topic(o, m, topic, topic_cap);
	else
		snprintf(topic, topic_cap, "%s/%s/occupancy", o->prefix, m->lot->id);

	if (m->bad != BAD_NONE && m->bad != BAD_FUTURE_TS && m->bad != BAD_TOPIC) {
		render_bad(&b, o, m);
	} else {
		switch (m->lot->format) {
		case FMT_VENDOR:
			render_vendor(&b, o, m);
			break;
		case FMT_FIWARE:
			render_fiware(&b, o, m, m->lot->id);
			break;
		case FMT_NGSI_LD:
			render_ngsi_ld(&b, o, m, m->lot->id);
			break;
		default: {
			struct native_tweak none = {0};
			render_native(&b, o, m, &none);
			break;
		}
		}
	}
	return b.overflow ? -1 : (long)b.len;
}
