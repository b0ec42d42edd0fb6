/* The normalizer: topic + payload bytes + receive time -> one record. Pure: no I/O, no clock. */
#ifndef PF_NORMALIZE_H
#define PF_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "pf_record.h"
#include "pf_tz.h"

/* Canonical native fields an alias may map to. */
enum pf_field {
	PF_F_TS = 0,
	PF_F_TOTAL,
	PF_F_FREE,
	PF_F_OCCUPIED,
	PF_F_SEQ,
	PF_F_STATUS,
	PF_F__COUNT
};

struct pf_alias {
	const char *vendor_name; /* e.g. "remain_parking_space" */
	enum pf_field field;	 /* e.g. PF_F_FREE */
};

struct pf_norm_config {
	const char *topic_prefix; /* "parking": topics are <prefix>/<lot_id>/{occupancy,status} */
	size_t max_payload;	  /* larger payloads: payload_too_large, unparsed */
	int64_t clock_skew_us;	  /* observations further ahead of received_at: future_ts */
	int64_t max_age_us;	  /* 0 = off; observations further behind received_at: too_old */
	const struct pf_tz *tz;	  /* local zone for timestamps without an offset */
	int max_depth;		  /* JSON nesting limit: too_deep beyond it */
	size_t max_topic_len;	  /* longer topics: bad_topic */
	const struct pf_alias *aliases; /* vendor field names, tried after the native name */
	size_t n_aliases;
	const char *const *compliant_protocols; /* status "protocol" values that mean upgraded */
	size_t n_compliant;
};

/* Returns the field an alias name stands for ("free", "total", ...), or -1. */
int pf_field_from_name(const char *name);

/*
 * Normalize one message. Always fills *out (an occupancy, status or reject record) and
 * never fails: bad input becomes a PF_REC_REJECT with a reason and a detail. out->topic and
 * out->payload point at the arguments (payload truncated to PF_REJECT_PAYLOAD_MAX).
 */
void pf_normalize(const struct pf_norm_config *cfg, const char *topic, const uint8_t *payload,
		  size_t len, int64_t received_at, struct pf_record *out);

/* Topic parsing alone (also a fuzz target): 0 and the kind and lot id, or -1 for bad_topic. */
enum pf_topic_kind { PF_TOPIC_OCCUPANCY = 1, PF_TOPIC_STATUS = 2 };
int pf_topic_parse(const char *prefix, const char *topic, size_t topic_len, size_t max_len,
		   enum pf_topic_kind *kind, char lot_id[PF_LOT_ID_MAX + 1]);

/* Timestamp parsing alone: the contract's string forms -> microseconds UTC, or -1. */
int pf_parse_timestamp(const char *s, size_t len, const struct pf_tz *tz, int64_t *out_us);

/*
 * Let jansson allocate from a per-thread arena that each pf_normalize call rewinds (a tenth
 * of the daemon's CPU went to malloc and free without it). jansson's allocator is
 * process-wide, so the program decides: call it once before any JSON is parsed, and keep no
 * other jansson value alive across a call of pf_normalize (build and free it within one call,
 * as the live feed does). A no-op in sanitizer builds.
 */
void pf_normalize_use_arena(void);

#endif
