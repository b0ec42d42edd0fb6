/* The one data structure that travels the pipeline: a received MQTT message, normalized. */
#ifndef PF_RECORD_H
#define PF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PF_LOT_ID_MAX 64	/* [A-Za-z0-9._-]{1,64} (docs/contract.md) */
#define PF_DETAIL_MAX 240	/* human-readable reject detail, NUL included */
#define PF_STATUS_FIELD_MAX 128 /* system / version / protocol strings, NUL included */

enum pf_record_kind {
	PF_REC_OCCUPANCY = 1, /* one accepted observation -> parking.occupancy */
	PF_REC_STATUS = 2,    /* controller status -> parking.lots */
	PF_REC_REJECT = 3,    /* anything refused -> parking.rejected */
};

/* Stable reason codes (docs/contract.md, "Reason codes"); the strings are part of the contract. */
enum pf_reject_reason {
	PF_REJ_NONE = 0,
	PF_REJ_PAYLOAD_TOO_LARGE,
	PF_REJ_BAD_UTF8,
	PF_REJ_JSON_SYNTAX,
	PF_REJ_NOT_OBJECT,
	PF_REJ_MISSING_FIELD,
	PF_REJ_BAD_TYPE,
	PF_REJ_OUT_OF_RANGE,
	PF_REJ_INCONSISTENT_COUNTS,
	PF_REJ_FUTURE_TS,
	PF_REJ_BAD_TOPIC,
	PF_REJ_ID_MISMATCH,
	PF_REJ_TOO_DEEP,   /* JSON nested deeper than [ingest] max_depth */
	PF_REJ_DB_REFUSED, /* PostgreSQL refused the row on its own (poison data) */
	PF_REJ_TOO_OLD,	   /* observed more than [ingest] max_age before its receive time */
	PF_REJ__COUNT
};

enum pf_lot_status { PF_LOT_STATUS_NONE = 0, PF_LOT_OPEN, PF_LOT_CLOSED, PF_LOT_FULL };

/* Which payload shape an observation came in; stored in parking.occupancy.format. */
enum pf_format {
	PF_FMT_NATIVE = 1, /* "native"   */
	PF_FMT_VENDOR,	   /* "vendor":  native shape, at least one field found through an alias */
	PF_FMT_FIWARE_KV,  /* "fiware"   FIWARE OffStreetParking keyValues */
	PF_FMT_NGSI_LD,	   /* "ngsi-ld"  FIWARE OffStreetParking NGSI-LD normalized */
};

struct pf_observation {
	char lot_id[PF_LOT_ID_MAX + 1];
	int64_t observed_at; /* microseconds since the Unix epoch, UTC */
	int32_t total;	     /* spaces in service, 0..100000 */
	int32_t free;	     /* 0..total */
	int32_t occupied;    /* 0..total, free + occupied <= total */
	int64_t seq;	     /* controller counter, valid if has_seq */
	bool has_seq;
	enum pf_lot_status status; /* PF_LOT_STATUS_NONE when absent */
	enum pf_format format;
};

struct pf_status_report {
	char lot_id[PF_LOT_ID_MAX + 1];
	int online;			  /* 1, 0, or -1 when the message does not say */
	char system[PF_STATUS_FIELD_MAX]; /* "" when not reported */
	char version[PF_STATUS_FIELD_MAX];
	char protocol[PF_STATUS_FIELD_MAX];
	bool compliant; /* protocol is in [ingest] compliant_protocols */
};

struct pf_reject {
	enum pf_reject_reason reason;
	char lot_id[PF_LOT_ID_MAX + 1]; /* from the topic when it parsed, else "" */
	char detail[PF_DETAIL_MAX];	/* what was wrong, for the operator */
};

/*
 * A normalized message. topic and payload point into memory the record does not own
 * (the MQTT message while normalizing, the spool read buffer after decoding); only a
 * reject carries them further, to parking.rejected.
 */
struct pf_record {
	enum pf_record_kind kind;
	int64_t received_at; /* microseconds since the Unix epoch, UTC */
	bool retained;	     /* delivered with MQTT's retain flag: the broker replaying a retained
				message at a (re)subscribe, not news from the controller */
	union {
		struct pf_observation obs;
		struct pf_status_report status;
		struct pf_reject reject;
	} u;
	const char *topic;
	size_t topic_len;
	const uint8_t *payload;	   /* rejects only: raw bytes, possibly truncated */
	size_t payload_len;	   /* bytes at payload */
	uint32_t payload_full_len; /* length of the payload as received */
};

/* Contract strings for enums ("payload_too_large", "open", "ngsi-ld", ...). */
const char *pf_reject_reason_name(enum pf_reject_reason r);
const char *pf_lot_status_name(enum pf_lot_status s); /* NULL for NONE */
const char *pf_format_name(enum pf_format f);

/*
 * Spool encoding of a record (little-endian, self-delimiting within the length the spool
 * frames it with). encode returns the bytes written, or a negative errno (-ENOBUFS if cap
 * is too small; PF_RECORD_MAX always suffices for a record built by the normalizer with a
 * payload of at most PF_REJECT_PAYLOAD_MAX). decode validates every length and enum and
 * returns 0 or -EBADMSG; on success topic/payload point into buf. Records spooled by earlier
 * versions decode as they were written (retained false).
 */
#define PF_REJECT_PAYLOAD_MAX 4096 /* bytes of a rejected payload kept */
#define PF_TOPIC_MAX 512
#define PF_RECORD_MAX (1024 + PF_TOPIC_MAX + PF_REJECT_PAYLOAD_MAX)

__attribute__((warn_unused_result)) int pf_record_encode(const struct pf_record *rec, uint8_t *buf,
							 size_t cap);
__attribute__((warn_unused_result)) int pf_record_decode(struct pf_record *rec, const uint8_t *buf,
							 size_t len);
/*
 * decode for the writer: a version-1 record whose text holds control characters (parkfeed
 * 0.1 spooled controllers' status strings raw) is cleaned as the normalizer cleans it now,
 * not refused. Returns 0, 1 (text was cleaned) or -EBADMSG. pf_record_decode stays strict, so
 * the encoding stays canonical.
 */
__attribute__((warn_unused_result)) int pf_record_decode_spooled(struct pf_record *rec,
								 const uint8_t *buf, size_t len);

#endif
