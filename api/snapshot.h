/* The immutable, reference-counted picture of every lot that requests are answered from. */
#ifndef API_SNAPSHOT_H
#define API_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geo.h"
#include "rc.h"

enum api_freshness { API_ONLINE = 0, API_STALE, API_OFFLINE };

struct api_lot {
	const char *id;
	const char *name, *district, *address, *status; /* NULL = unknown */
	double lon, lat;				/* WGS-84, when has_pos */
	bool has_pos;
	bool has_data; /* the lot has reported: total and observed_us are set */
	bool has_free, has_occupied;
	int free, total, occupied;
	int64_t observed_us; /* epoch microseconds */
	enum api_freshness freshness;
};

struct api_district {
	const char *name; /* NULL: lots of unknown district */
	int lots, lots_reporting, lots_online, lots_stale, lots_offline;
	bool has_spaces;     /* some lot is online: free and total are set */
	int64_t free, total; /* in online lots */
};

/* A rendered response body with its gzip form and ETag, shared by the responses that send it
 * and the cache that keeps it (httpx.c makes them). */
struct api_body {
	struct rc rc;
	char *data;
	size_t len;
	char *gz; /* NULL when gzip would not help */
	size_t gz_len;
	char etag[24]; /* "..." quoted */
};

struct snap_meta {
	int64_t taken_us;    /* realtime, epoch microseconds, when the database was read */
	int schema_version;  /* parking.schema_migrations */
	bool standby;	     /* read from a hot standby */
	double replay_lag_s; /* standby: how far behind the primary it replays (-1: unknown) */
	uint64_t digest;     /* of the rows read: the same rows make the same snapshot */
};

struct api_snapshot {
	struct rc rc;
	struct snap_meta meta;
	struct api_lot *lots; /* sorted by id (byte order) */
	size_t n_lots;
	double (*vec)[3]; /* unit vector of each lot's position, for nearest queries */
	bool *has_pos;
	struct api_district *districts; /* sorted by name, unknown last */
	size_t n_districts;
	char *arena; /* every string above */
	pthread_mutex_t lock;
	struct api_body *full[API_CRS__N]; /* GET /v1/lots by crs, rendered on first use */
};

/* Rows as read from the database; strings are copied. */
struct snap_lot_row {
	const char *id, *name, *district, *address, *status;
	bool has_pos;
	double lon, lat;
	bool has_data, has_free, has_occupied;
	int free, total, occupied;
	int64_t observed_us;
	enum api_freshness freshness;
};

struct snap_district_row {
	const char *name;
	int lots, lots_reporting, lots_online, lots_stale, lots_offline;
	bool has_spaces;
	int64_t free, total;
};

/* A snapshot holding one reference (for the caller: rc__unref(&s->rc)), or NULL when out of
 * memory. */
struct api_snapshot *snap__build(const struct snap_lot_row *lots, size_t n_lots,
				 const struct snap_district_row *districts, size_t n_districts,
				 const struct snap_meta *meta);
const struct api_lot *snap__find(const struct api_snapshot *s, const char *id);
/* The district of that name (NULL: the unknown district), or NULL if there is none. */
const struct api_district *snap__district(const struct api_snapshot *s, const char *name);
/* The current snapshot of a holder with a reference for the caller, or NULL. */
struct api_snapshot *snap__get(struct rc_holder *h);

#endif
