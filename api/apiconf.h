/* parkfeed-api.conf: the API's INI file, one table entry per key (apiconf.c). */
#ifndef API_APICONF_H
#define API_APICONF_H

#include <stdbool.h>
#include <stddef.h>

#include "geo.h"
#include "httpx.h"
#include "pf_config.h"

#define APICONF_ORIGIN_MAX 256

struct api_config {
	struct {
		char *conninfo;		  /* "" = libpq defaults and PG* environment */
		char *password_file;	  /* "" = none; bare names from $CREDENTIALS_DIRECTORY */
		int connect_timeout;	  /* 5 s (1..300) */
		int statement_timeout_ms; /* 5000 (100..600000) */
		int reconnect_max;	  /* 30 s: cap of the reconnect backoff */
		int pool_size;		  /* 2 connections for ledger and curve queries (1..16) */
	} postgres;
	struct {
		char *listen;		/* 127.0.0.1:8080 */
		int threads;		/* 2 HTTP threads (1..64) */
		int max_connections;	/* 512 */
		int per_ip_connections; /* 64; 0 = no limit */
		int connection_timeout; /* 30 s idle before a connection is closed */
		int max_url;		/* 2048 bytes of a request target (256..4096) */
		int rate_limit;		/* 20 requests/s per client; 0 = no limit */
		int rate_burst;		/* 100 requests at once per client */
		char *trusted_proxies;	/* "" or addresses/blocks whose X-Forwarded-For counts */
		int refresh_ms;		/* 2000: the snapshot is read this often */
		int max_staleness;	/* 10 s: /healthz fails when the snapshot is older */
		int max_replica_lag; /* 0 = not judged; s a standby may lag before /healthz fails */
		int cache_max_age;   /* 5 s of Cache-Control max-age for data */
		int query_cache;     /* 30 s a ledger or curve answer is reused */
		char *cors_allow_origin; /* "*", origins, or "" for no CORS headers */
	} api;
	struct {
		char *root;		/* /usr/share/parkfeed/web */
		char *tile_url;		/* "" = the page has no base map */
		char *tile_attribution; /* shown on the map */
		enum api_crs tile_crs;	/* wgs84: the page asks for lots in the tiles' system */
	} web;
	struct {
		enum pf_log_level level; /* info */
	} log;
	struct {
		int ready_timeout; /* 10 s to wait for the first snapshot before READY=1 anyway */
	} systemd;

	struct http_proxies proxies;	      /* trusted_proxies, parsed */
	char tile_origin[APICONF_ORIGIN_MAX]; /* for the Content-Security-Policy; "" = none */
};

void apiconf__init(struct api_config *c);
/* As pf_config_load: FILE:LINE: [section] key: what is wrong (allowed: ...). */
__attribute__((warn_unused_result)) int apiconf__load(struct api_config *c, const char *path,
						      char *err, size_t errlen);
void apiconf__free(struct api_config *c);
/* 1 and the first key that differs and needs a restart in err; 0 if none. */
int apiconf__diff_restart(const struct api_config *a, const struct api_config *b, char *err,
			  size_t errlen);
/* For a reload: the keys that need a restart keep a's values in b. 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int apiconf__keep_restart_keys(struct api_config *b,
								   const struct api_config *a);
/* Every key: 1 and the first that differs, for tests of the shipped file. */
int apiconf__diff_all(const struct api_config *a, const struct api_config *b, char *err,
		      size_t errlen);
/* The i-th key: name, section and default; NULL past the end. */
const char *apiconf__key(size_t i, const char **section, const char **def);
/* The origin of a tile URL template for a Content-Security-Policy: a {s} placeholder in the
 * host's first label becomes a wildcard. 0, or -EINVAL when it is not a usable URL template. */
int apiconf__tile_origin(const char *url, char *out, size_t outlen);
/* Is origin (a request's Origin header) allowed by cors_allow_origin? */
bool apiconf__cors_allows(const char *allow, const char *origin);

#endif
