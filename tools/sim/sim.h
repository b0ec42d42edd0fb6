/* parkfeed-sim's shared types: options, the lot model, one generated message. */
#ifndef PF_SIM_H
#define PF_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* China has kept UTC+8 without daylight saving since 1991: Asia/Shanghai is a fixed offset. */
#define SIM_TZ_OFFSET_S (8 * 3600)

#define SIM_LOT_ID_MAX 32
#define SIM_LOT_NAME_MAX 160
#define SIM_TOPIC_MAX 256

enum sim_format { FMT_NATIVE = 0, FMT_VENDOR, FMT_FIWARE, FMT_NGSI_LD, FMT__COUNT };

enum sim_lot_type {
	LOT_COMMERCIAL = 0,
	LOT_RESIDENTIAL,
	LOT_HOSPITAL,
	LOT_OFFICE,
	LOT_SCENIC,
	LOT__TYPES
};

enum sim_lot_status { SIM_OPEN = 0, SIM_CLOSED, SIM_FULL };

/* Ways a message is made bad; each names the reject reason parkfeed should give it. */
enum sim_bad {
	BAD_NONE = 0,
	BAD_JSON_SYNTAX,   /* json_syntax */
	BAD_FREE_GT_TOTAL, /* out_of_range / inconsistent_counts */
	BAD_MISSING_TS,	   /* missing_field */
	BAD_FUTURE_TS,	   /* future_ts */
	BAD_UTF8,	   /* bad_utf8 */
	BAD_WRONG_ID,	   /* id_mismatch */
	BAD_TOO_LARGE,	   /* payload_too_large (only with --max-payload) */
	BAD_TOPIC,	   /* bad_topic */
	BAD__COUNT
};

struct sim_opts {
	const char *host;
	int port;
	const char *prefix;
	int qos;
	char client_id[64];
	const char *username;
	const char *password_file;
	int keepalive;

	int lots;
	uint64_t seed;
	unsigned formats; /* bit per enum sim_format */

	double rate;	 /* messages/s overall; 0: lots / interval */
	double interval; /* seconds between two reports of one lot */
	double duration; /* seconds; 0: no limit */
	int64_t count;	 /* occupancy messages (good + bad); 0: no limit */
	bool burst;	 /* no rate limit */
	bool unbatched;	 /* --burst through libmosquitto instead of fast.c */
	int window;	 /* most QoS 1 messages unacknowledged at once */

	bool seq;	   /* exact, sequenced observation times */
	int64_t base_time; /* epoch seconds of k = 0 with --seq */
	bool base_time_set;
	bool stamp; /* ts = publish time, epoch ms */

	double bad_ratio;
	size_t max_payload; /* 0: no too-large messages */
	double duplicates;
	bool shuffle;
	int shuffle_window;

	bool status;	      /* retained status per lot first */
	bool offline_on_exit; /* retained {"online":false} per lot at the end */

	int emit_csv; /* > 0: print the lots CSV for this many lots and exit */
	bool with_stages;
};

struct sim_district {
	const char *code; /* in lot ids: JZ-<code>-nnn */
	const char *name; /* Chinese, exactly as parkfeed's registry spells it */
	double lon, lat;  /* the district's seat, WGS-84 */
	double spread;	  /* lots lie within this many degrees of it, each way */
	unsigned weight;  /* share of the city's lots */
};

struct sim_lot {
	char id[SIM_LOT_ID_MAX];
	char name[SIM_LOT_NAME_MAX]; /* UTF-8 */
	const struct sim_district *district;
	enum sim_lot_type type;
	int spaces;		  /* total in service */
	int out_of_service;	  /* counted in neither free nor occupied */
	double peak;		  /* scales the type's daily curve */
	int shift_s;		  /* moves the curve earlier or later */
	int close_from, close_to; /* local hours when closed at night; -1: open all night */
	double lon, lat;	  /* WGS-84 */
	enum sim_format format;
	int variant;	  /* field names / optional fields within the format */
	uint64_t key;	  /* seeds this lot's noise */
	int64_t next_seq; /* next seq k */
	int status_kind;  /* which system/protocol its status reports */
};

struct sim_occupancy {
	int total, free, occupied;
	enum sim_lot_status status;
};

/* One occupancy message to render: everything random is decided before rendering. */
struct sim_msg {
	const struct sim_lot *lot;
	const struct sim_lot *other; /* another lot, for BAD_WRONG_ID */
	int64_t t_ms;		     /* observation time, epoch ms UTC */
	int64_t seq;
	int ts_form; /* rotates through the contract's timestamp forms */
	struct sim_occupancy occ;
	enum sim_bad bad;
	int bad_variant;
};

/* rng: splitmix64 as a hash, xorshift-style state stepping; deterministic from --seed. */
static inline uint64_t sim_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t sim_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return sim_mix(*state);
}

/* Uniform in [0, 1). */
static inline double sim_unit(uint64_t *state)
{
	return (double)(sim_next(state) >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi]. */
static inline int sim_range(uint64_t *state, int lo, int hi)
{
	return lo + (int)(sim_next(state) % (uint64_t)(hi - lo + 1));
}

/* lots.c */
extern const struct sim_district sim_districts[];
extern const int sim_n_districts;
const char *lots__type_name(enum sim_lot_type t);
struct sim_lot *lots__make(int n, uint64_t seed, unsigned formats);
void lots__occupancy(const struct sim_lot *lot, int64_t t_ms, struct sim_occupancy *out);
void lots__status(const struct sim_lot *lot, const char **system, const char **version,
		  const char **protocol);

/* csv.c */
int csv__emit(int n, uint64_t seed, bool with_stages, int64_t now_s);

/* payload.c */
const char *payload__bad_name(enum sim_bad b);
const char *payload__format_name(enum sim_format f);
int payload__format_from_name(const char *name);
/* Renders topic and payload; returns the payload length, or -1 if buf is too small. */
long payload__render(const struct sim_opts *o, const struct sim_msg *msg, char *topic,
		     size_t topic_cap, char *buf, size_t cap);
void payload__local_date(int64_t t_s, char out[11]);

/* fast.c */
struct fast;
struct fast *fast__connect(const struct sim_opts *o, const char *password);
int fast__publish(struct fast *f, const char *topic, const void *payload, size_t len, bool retain);
int fast__service(struct fast *f, int64_t timeout_ns);
uint64_t fast__acked(const struct fast *f);
void fast__close(struct fast *f);

/* pub.c */
int pub__run(const struct sim_opts *o);

#endif
