/* parkfeed.conf: the INI file every program reads. One table entry per key (config.c). */
#ifndef PF_CONFIG_H
#define PF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pf_log.h"
#include "pf_normalize.h"

#define PF_MAX_ALIASES 64
#define PF_MAX_PROTOCOLS 16

struct pf_config {
	struct {
		char *host;	     /* 127.0.0.1 */
		int port;	     /* 1883 */
		char *client_id;     /* parkfeed-1: fixed, the broker keeps its session */
		char *topic_prefix;  /* parking */
		int qos;	     /* 1 (1..2) */
		int keepalive;	     /* 30 s (5..3600) */
		char *username;	     /* "" = none */
		char *password_file; /* relative names are looked up in $CREDENTIALS_DIRECTORY */
		char *tls_ca_file;   /* "" = plain TCP */
		char *tls_cert_file;
		char *tls_key_file;
		char *shared_group; /* "" = none; else subscribe $share/<group>/... */
		int reconnect_max;  /* 30 s: cap of the exponential backoff (1..3600) */
	} mqtt;
	struct {
		char *conninfo;	     /* libpq conninfo string */
		char *password_file; /* "" = none; as mqtt.password_file */
		int connect_timeout; /* 10 s (1..300) */
		int reconnect_max;   /* 30 s (1..3600) */
	} postgres;
	struct {
		int max_payload; /* 65536 bytes (64..16777216) */
		int clock_skew;	 /* 300 s (0..86400) */
		int max_age;	 /* 0 = off: seconds an observation may lie before its receipt */
		char *local_timezone; /* Asia/Shanghai */
		int max_depth;	      /* 32 (2..512) */
		int max_topic_len;    /* 256 (16..512) */
		int batch_rows;	      /* 5000 rows per database batch (1..50000) */
		int batch_ms;	      /* 20 ms max wait to fill a batch (0..10000) */
		int group_commit_ms;  /* 100: low-rate pause to gather a flush (0..1000, 0 off) */
		int pipeline_depth;   /* 4 batches in flight (1..64) */
		int stall_timeout;    /* 30 s without a commit while records wait (0 = off) */
		int reject_burst;     /* 100 rejects per lot per minute stored (0 = no limit) */
		int reject_sample;    /* 100: beyond the burst, 1 reject in this many stored */
		char *compliant_protocols; /* "parkfeed/1" comma-separated */
	} ingest;
	struct {
		char *dir;	       /* /var/lib/parkfeed/spool */
		int64_t max_bytes;     /* 1 GiB (1 MiB..1 TiB) */
		int64_t segment_bytes; /* 64 MiB (64 KiB..1 GiB) */
		bool fsync;	       /* batch (true) | off (false) */
	} spool;
	struct {
		enum pf_log_level level; /* info */
	} log;
	struct {
		char *listen;		    /* "" = off; ADDRESS:PORT, e.g. 127.0.0.1:8187 */
		int64_t health_spool_bytes; /* 64M: /healthz fails past this while the db is down */
		int health_stall_seconds; /* 60: /healthz fails when the writer stalls this long */
	} metrics;
	struct {
		int ready_timeout; /* 30 s (1..3600): READY=1 by then, degraded if need be */
	} systemd;
	struct {
		char *conninfo;	     /* "" = [postgres] conninfo */
		char *user;	     /* parkfeed_maintain; "" = the conninfo's user */
		char *password_file; /* "" = none; as postgres.password_file */
	} maintain;		     /* parkfeedctl maintain only */
	struct {		     /* parkfeedctl broker sync; the daemon ignores it */
		char *host;	     /* 127.0.0.1 */
		int port;	     /* 1883 */
		char *username;	     /* dynamic-security admin account, "" = none */
		char *password_file; /* as mqtt.password_file */
		char *tls_ca_file;   /* "" = plain TCP */
		char *tls_cert_file;
		char *tls_key_file;
		char *daemons; /* comma-separated parkfeedd accounts, "" = not managed */
	} broker;
	struct {
		char *topic_prefix; /* "" = no feed; else <prefix>/lots/<id>, .../districts/<d> */
		bool echo_rejects;  /* false; true: each stored reject on .../<lot_id>/rejected */
		int queue_max;	    /* 10000 lots and districts waiting (1..1000000) */
		int max_inflight;   /* 100 feed messages not acknowledged yet (1..65535) */
	} feed;

	/* [aliases] vendor_field = native_field (ts,total,free,occupied,seq,status);
	 * built-in defaults first, then the file's. */
	struct pf_alias aliases[PF_MAX_ALIASES];
	char *alias_names[PF_MAX_ALIASES]; /* owned storage behind aliases[].vendor_name */
	size_t n_aliases;

	const char *protocols[PF_MAX_PROTOCOLS]; /* compliant_protocols split; point into... */
	char *protocols_buf;			 /* ...this owned copy */
	size_t n_protocols;
};

/* Defaults for every key. */
void pf_config_init(struct pf_config *cfg);
/*
 * Load `path` over the defaults. Unknown section/key, bad value or value out of bounds is an
 * error: returns a negative errno (-ENOENT, -EACCES... when unreadable, -EINVAL for bad
 * content, -ENOMEM) with "FILE:LINE: [section] key: what is wrong (allowed: ...)" in err.
 * On error cfg may be partly changed: load into a fresh pf_config_init()ed copy to keep the old.
 */
__attribute__((warn_unused_result)) int pf_config_load(struct pf_config *cfg, const char *path,
						       char *err, size_t errlen);
void pf_config_free(struct pf_config *cfg);

/*
 * Read a secret named by a *_file key: an absolute path, or a name looked up in
 * $CREDENTIALS_DIRECTORY (systemd LoadCredential=). Trailing newline stripped. Returns a
 * malloc'd string or NULL with the reason in err (never the secret itself).
 */
char *pf_config_read_secret(const char *name, char *err, size_t errlen);

/*
 * For SIGHUP reload: returns 1 and names the first key that differs between a and b but
 * cannot change without a restart ("[mqtt] host changed ...") in err; 0 if there is none.
 */
int pf_config_diff_nonreloadable(const struct pf_config *a, const struct pf_config *b, char *err,
				 size_t errlen);
/*
 * For SIGHUP reload: move every key marked reloadable in the key table (and [aliases]) from
 * next into cur. Values are swapped, so freeing next frees what cur held before.
 */
void pf_config_apply_reloadable(struct pf_config *cur, struct pf_config *next);

/*
 * Parse a [metrics] listen value: a numeric IPv4 address or a [bracketed] IPv6 address, a
 * colon and a port ("127.0.0.1:8187", "[::1]:8187"). Names are refused so that the address
 * bound is exactly the one written. Fills *out (a struct sockaddr_storage) and *outlen;
 * returns 0 or -EINVAL.
 */
struct sockaddr_storage;
__attribute__((warn_unused_result)) int
pf_config_parse_listen(const char *value, struct sockaddr_storage *out, unsigned int *outlen);

/* Internal to config.c and its tests. */
/* As above over every key and [aliases] when `all`; only non-reloadable keys otherwise. */
int config__diff(const struct pf_config *a, const struct pf_config *b, bool all, char *err,
		 size_t errlen);
/* The i-th table key: name, section and default as spelled in the file; NULL past the end. */
const char *config__key(size_t i, const char **section, const char **def);

#endif
