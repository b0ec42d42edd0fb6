/* parkfeed.conf: one table entry per key (the INI engine is ini.c), errors reported as FILE:LINE.
 */
#include "pf_config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pf_ini.h"

#define SECRET_MAX_FILE (64 * 1024)

static const char *const fsync_choices[] = {"off", "batch", NULL};
static const char *const level_choices[] = {"debug", "info", "notice", "warning", "error", NULL};
static const char *const bool_choices[] = {"false", "true", NULL};

_Static_assert(sizeof(enum pf_log_level) == sizeof(int), "PF_INI_ENUM stores an int");

static int check_topic_prefix(const char *v, char *why, size_t whylen);
static int check_shared_group(const char *v, char *why, size_t whylen);
static int check_protocols(const char *v, char *why, size_t whylen);
static int check_listen(const char *v, char *why, size_t whylen);
static int check_accounts(const char *v, char *why, size_t whylen);
static int check_feed_prefix(const char *v, char *why, size_t whylen);

/* clang-format off */
#define K_STR(s, k, f, d, minlen, rl, chk, h) \
	PF_INI_STR(struct pf_config, s, k, f, d, minlen, rl, chk, h)
#define K_INT(s, k, f, d, lo, hi, rl, h) PF_INI_INT(struct pf_config, s, k, f, d, lo, hi, rl, h)
#define K_SIZE(s, k, f, d, lo, hi, rl, h) PF_INI_SIZE(struct pf_config, s, k, f, d, lo, hi, rl, h)
#define K_BOOL(s, k, f, d, ch, rl, h) PF_INI_BOOL(struct pf_config, s, k, f, d, ch, rl, h)
#define K_ENUM(s, k, f, d, ch, rl, h) PF_INI_ENUM(struct pf_config, s, k, f, d, ch, rl, h)

#define KiB 1024LL
#define MiB (1024LL * KiB)
#define GiB (1024LL * MiB)
#define TiB (1024LL * GiB)

/* Keep config/parkfeed.conf in step: it lists every key at its default (a test checks). */
static const struct pf_ini_key keys[] = {
	K_STR("mqtt", "host", mqtt.host, "127.0.0.1", 1, false, NULL,
	      "broker host name or address"),
	K_INT("mqtt", "port", mqtt.port, "1883", 1, 65535, false, "broker TCP port"),
	K_STR("mqtt", "client_id", mqtt.client_id, "parkfeed-1", 1, false, NULL,
	      "fixed client id: the broker keeps a persistent session for it"),
	K_STR("mqtt", "topic_prefix", mqtt.topic_prefix, "parking", 1, false, check_topic_prefix,
	      "topics are <prefix>/<lot_id>/occupancy and .../status"),
	K_INT("mqtt", "qos", mqtt.qos, "1", 1, 2, false, "subscription QoS"),
	K_INT("mqtt", "keepalive", mqtt.keepalive, "30", 5, 3600, false, "MQTT keepalive, seconds"),
	K_STR("mqtt", "username", mqtt.username, "", 0, false, NULL,
	      "broker user name, empty = none"),
	K_STR("mqtt", "password_file", mqtt.password_file, "", 0, false, NULL,
	      "file holding the broker password; a bare name is read from $CREDENTIALS_DIRECTORY"),
	K_STR("mqtt", "tls_ca_file", mqtt.tls_ca_file, "", 0, false, NULL,
	      "CA bundle to verify the broker; empty = plain TCP"),
	K_STR("mqtt", "tls_cert_file", mqtt.tls_cert_file, "", 0, false, NULL,
	      "client certificate for TLS client authentication"),
	K_STR("mqtt", "tls_key_file", mqtt.tls_key_file, "", 0, false, NULL,
	      "private key of tls_cert_file"),
	K_STR("mqtt", "shared_group", mqtt.shared_group, "", 0, false, check_shared_group,
	      "subscribe as $share/<group>/... to split the load among daemons; empty = none"),
	K_INT("mqtt", "reconnect_max", mqtt.reconnect_max, "30", 1, 3600, true,
	      "cap of the reconnect backoff, seconds"),

	K_STR("postgres", "conninfo", postgres.conninfo, "", 0, false, NULL,
	      "libpq connection string; empty = libpq defaults and PG* environment"),
	K_STR("postgres", "password_file", postgres.password_file, "", 0, false, NULL,
	      "file holding the database password, as mqtt.password_file"),
	K_INT("postgres", "connect_timeout", postgres.connect_timeout, "10", 1, 300, true,
	      "give up a connection attempt after this many seconds"),
	K_INT("postgres", "reconnect_max", postgres.reconnect_max, "30", 1, 3600, true,
	      "cap of the reconnect backoff, seconds"),

	K_INT("ingest", "max_payload", ingest.max_payload, "65536", 64, 16777216, true,
	      "bytes; larger payloads are rejected unparsed"),
	K_INT("ingest", "clock_skew", ingest.clock_skew, "300", 0, 86400, true,
	      "seconds an observation may lie in the future"),
	K_INT("ingest", "max_age", ingest.max_age, "0", 0, 315360000, true,
	      "seconds an observation may lie before its receive time (0: no limit)"),
	K_STR("ingest", "local_timezone", ingest.local_timezone, "Asia/Shanghai", 1, true, NULL,
	      "zone for timestamps that carry no offset"),
	K_INT("ingest", "max_depth", ingest.max_depth, "32", 2, 512, true, "JSON nesting limit"),
	K_INT("ingest", "max_topic_len", ingest.max_topic_len, "256", 16, 512, true,
	      "longer topics are rejected"),
	K_INT("ingest", "batch_rows", ingest.batch_rows, "5000", 1, 50000, false,
	      "rows per database batch"),
	K_INT("ingest", "batch_ms", ingest.batch_ms, "20", 0, 10000, true,
	      "milliseconds to wait for a batch to fill"),
	K_INT("ingest", "group_commit_ms", ingest.group_commit_ms, "100", 0, 1000, true,
	      "below 500 msg/s, longest pause to gather messages into one flush (0: none)"),
	K_INT("ingest", "pipeline_depth", ingest.pipeline_depth, "4", 1, 64, false,
	      "batches in flight to PostgreSQL"),
	K_INT("ingest", "stall_timeout", ingest.stall_timeout, "30", 0, 3600, true,
	      "seconds without a commit while records wait before the database connection is "
	      "given up and made again (0: never)"),
	K_INT("ingest", "reject_burst", ingest.reject_burst, "100", 0, 1000000, false,
	      "rejects per lot per minute stored in full (0: no limit)"),
	K_INT("ingest", "reject_sample", ingest.reject_sample, "100", 1, 1000000, false,
	      "beyond reject_burst, one reject in this many is stored"),
	K_STR("ingest", "compliant_protocols", ingest.compliant_protocols, "parkfeed/1", 0, true,
	      check_protocols, "comma-separated status protocols that mark a lot upgraded"),

	K_STR("spool", "dir", spool.dir, "/var/lib/parkfeed/spool", 1, false, NULL,
	      "local spool for messages not yet committed"),
	K_SIZE("spool", "max_bytes", spool.max_bytes, "1G", 1 * MiB, 1 * TiB, true,
	       "spool size limit"),
	K_SIZE("spool", "segment_bytes", spool.segment_bytes, "64M", 64 * KiB, 1 * GiB, false,
	       "size of one spool file"),
	K_BOOL("spool", "fsync", spool.fsync, "batch", fsync_choices, false,
	       "batch: fdatasync before acknowledging; off: never (unsafe)"),

	K_ENUM("log", "level", log.level, "info", level_choices, true, "lowest level logged"),

	K_STR("metrics", "listen", metrics.listen, "", 0, false, check_listen,
	      "ADDRESS:PORT of the /metrics and /healthz HTTP endpoint; empty = off"),
	K_SIZE("metrics", "health_spool_bytes", metrics.health_spool_bytes, "64M", 0, 1 * TiB, true,
	       "/healthz fails once the spool holds more than this while PostgreSQL is down"),
	K_INT("metrics", "health_stall_seconds", metrics.health_stall_seconds, "60", 1, 86400, true,
	      "/healthz fails once records have waited this long with nothing committed while "
	      "PostgreSQL is connected"),

	K_INT("systemd", "ready_timeout", systemd.ready_timeout, "30", 1, 3600, false,
	      "seconds to wait for the broker before reporting ready (degraded) anyway"),

	/* parkfeedctl maintain's own login; the daemon reads none of these */
	K_STR("maintain", "conninfo", maintain.conninfo, "", 0, true, NULL,
	      "libpq conninfo for parkfeedctl maintain; empty = [postgres] conninfo"),
	K_STR("maintain", "user", maintain.user, "parkfeed_maintain", 0, true, NULL,
	      "database login of parkfeedctl maintain (in parkfeed_maintainer); empty = conninfo's"),
	K_STR("maintain", "password_file", maintain.password_file, "", 0, true, NULL,
	      "file holding that login's password, as [postgres] password_file; empty = none"),

	/* parkfeedctl broker sync only; the daemon ignores them (reloadable: no restart warning) */
	K_STR("broker", "host", broker.host, "127.0.0.1", 1, true, NULL,
	      "broker whose dynamic-security plugin broker sync administers"),
	K_INT("broker", "port", broker.port, "1883", 1, 65535, true, "its TCP port"),
	K_STR("broker", "username", broker.username, "", 0, true, NULL,
	      "dynamic-security admin account; empty = none configured"),
	K_STR("broker", "password_file", broker.password_file, "", 0, true, NULL,
	      "file holding the admin password, as mqtt.password_file"),
	K_STR("broker", "tls_ca_file", broker.tls_ca_file, "", 0, true, NULL,
	      "CA bundle to verify the broker; empty = plain TCP"),
	K_STR("broker", "tls_cert_file", broker.tls_cert_file, "", 0, true, NULL,
	      "client certificate for TLS client authentication"),
	K_STR("broker", "tls_key_file", broker.tls_key_file, "", 0, true, NULL,
	      "private key of tls_cert_file"),
	K_STR("broker", "daemons", broker.daemons, "", 0, true, check_accounts,
	      "comma-separated broker accounts of parkfeedd instances; empty = not managed"),

	K_STR("feed", "topic_prefix", feed.topic_prefix, "", 0, false, check_feed_prefix,
	      "live feed of availability under <prefix>/lots/ and <prefix>/districts/; empty = none"),
	K_BOOL("feed", "echo_rejects", feed.echo_rejects, "false", bool_choices, true,
	       "publish each stored reject of a lot on <[mqtt] topic_prefix>/<lot_id>/rejected"),
	K_INT("feed", "queue_max", feed.queue_max, "10000", 1, 1000000, false,
	      "lots and districts waiting to be published; past it a change is dropped"),
	K_INT("feed", "max_inflight", feed.max_inflight, "100", 1, 65535, false,
	      "feed messages sent and not yet acknowledged by the broker"),
};

/* clang-format on */

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"mqtt",	  "postgres", "ingest",	 "spool",  "log", "metrics",
				       "systemd", "maintain", "aliases", "broker", "feed"};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static const struct {
	const char *vendor;
	enum pf_field field;
} builtin_aliases[] = {
	{"remain_parking_space", PF_F_FREE},
	{"RemainingSpaces", PF_F_FREE},
	{"total_parking_space", PF_F_TOTAL},
	{"TotalSpaces", PF_F_TOTAL},
};

static int check_topic_prefix(const char *v, char *why, size_t whylen)
{
	if (strpbrk(v, "+#") || v[0] == '/' || v[strlen(v) - 1] == '/' || strstr(v, "//")) {
		snprintf(why, whylen,
			 "\"%s\" is not a topic prefix (allowed: topic levels without + or #, no "
			 "leading, trailing or double /)",
			 v);
		return -EINVAL;
	}
	return 0;
}

/* Empty (no feed) or a topic prefix; the cross-check with [mqtt] topic_prefix is check_whole's. */
static int check_feed_prefix(const char *v, char *why, size_t whylen)
{
	return v[0] ? check_topic_prefix(v, why, whylen) : 0;
}

static int check_shared_group(const char *v, char *why, size_t whylen)
{
	if (strpbrk(v, "/+#")) {
		snprintf(why, whylen, "\"%s\" is not a group name (allowed: no /, + or #)", v);
		return -EINVAL;
	}
	return 0;
}

static size_t trimmed(const char **s, size_t len)
{
	while (len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		len--;
	}
	while (len && ((*s)[len - 1] == ' ' || (*s)[len - 1] == '\t'))
		len--;
	return len;
}

static int check_protocols(const char *v, char *why, size_t whylen)
{
	size_t count = 0;

	if (!v[0])
		return 0;
	for (const char *p = v;; p++) {
		const char *item = p;
		size_t len;

		p += strcspn(p, ",");
		len = trimmed(&item, (size_t)(p - item));
		if (len == 0 || len > 127) {
			snprintf(why, whylen,
				 "\"%s\" has an empty or too long item (allowed: comma-separated "
				 "names of 1..127 characters)",
				 v);
			return -EINVAL;
		}
		if (++count > PF_MAX_PROTOCOLS) {
			snprintf(why, whylen, "more than %d protocols", PF_MAX_PROTOCOLS);
			return -EINVAL;
		}
		if (!*p)
			return 0;
	}
}

int pf_config_parse_listen(const char *v, struct sockaddr_storage *out, unsigned int *outlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(v, ':');
	bool v6 = v[0] == '[';
	size_t hlen;
	int64_t port;

	if (!colon || colon == v || !pf_ini_parse_int64(colon + 1, &port) || port < 1 ||
	    port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - v);
	if (v6) {
		if (hlen < 3 || v[hlen - 1] != ']')
			return -EINVAL;
		v++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, v, hlen);
	host[hlen] = '\0';
	memset(out, 0, sizeof(*out));
	if (!v6) {
		struct sockaddr_in *a = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*outlen = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*outlen = sizeof(*a);
	}
	return 0;
}

/* Account names as lot ids are spelled: they become MQTT user names and client ids. */
static bool account_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int check_accounts(const char *v, char *why, size_t whylen)
{
	if (!v[0])
		return 0;
	for (const char *p = v;; p++) {
		const char *item = p;
		size_t len, n = 0;

		p += strcspn(p, ",");
		len = trimmed(&item, (size_t)(p - item));
		while (n < len && account_char(item[n]))
			n++;
		if (len == 0 || len > 64 || n != len) {
			snprintf(why, whylen,
				 "\"%s\" is not a list of account names (allowed: comma-separated "
				 "names of 1..64 characters A-Z a-z 0-9 . _ -)",
				 v);
			return -EINVAL;
		}
		if (!*p)
			return 0;
	}
}

static int check_listen(const char *v, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	unsigned int len;

	if (v[0] && pf_config_parse_listen(v, &ss, &len) < 0) {
		snprintf(why, whylen,
			 "\"%s\" is not ADDRESS:PORT (allowed: empty = off, a numeric IPv4 "
			 "address or [IPv6] address, then :1..65535, e.g. 127.0.0.1:8187)",
			 v);
		return -EINVAL;
	}
	return 0;
}

/* Split compliant_protocols into cfg->protocols; the string was validated when set. */
static int split_protocols(struct pf_config *cfg)
{
	char *buf = strdup(cfg->ingest.compliant_protocols);
	char *p;

	if (!buf)
		return -ENOMEM;
	free(cfg->protocols_buf);
	cfg->protocols_buf = buf;
	cfg->n_protocols = 0;
	if (!buf[0])
		return 0;
	for (p = buf; cfg->n_protocols < PF_MAX_PROTOCOLS;) {
		char *comma = p + strcspn(p, ",");
		bool last = *comma == '\0';
		const char *item = p;
		size_t len;

		*comma = '\0';
		len = trimmed(&item, (size_t)(comma - p));
		((char *)item)[len] = '\0';
		cfg->protocols[cfg->n_protocols++] = item;
		if (last)
			break;
		p = comma + 1;
	}
	return 0;
}

/* [aliases] vendor_field = native_field; hook_arg is where the file's own aliases begin. */
static int set_alias(struct pf_ini_ctx *c, void *obj, const char *name, const char *value)
{
	struct pf_config *cfg = obj;
	size_t alias_start = *(const size_t *)pf_ini_hook_arg(c);
	const char *path = pf_ini_path(c);
	int line = pf_ini_lineno(c);
	int field = pf_field_from_name(value);
	size_t i;
	char *copy;

	if (field < 0 || field >= PF_F__COUNT) {
		pf_ini_fail(
			c, line,
			"%s:%d: [aliases] %s: \"%s\" is not a native field (allowed: ts, total, "
			"free, occupied, seq, status)",
			path, line, name, value);
		return -EINVAL;
	}
	if (pf_field_from_name(name) >= 0) {
		pf_ini_fail(
			c, line,
			"%s:%d: [aliases] %s: is a native field name itself (allowed: a vendor's "
			"field name)",
			path, line, name);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_aliases; i++) {
		if (strcmp(cfg->aliases[i].vendor_name, name) != 0)
			continue;
		if (i >= alias_start) {
			pf_ini_fail(c, line, "%s:%d: [aliases] %s: duplicate key", path, line,
				    name);
			return -EINVAL;
		}
		/* The file may remap a built-in name; it then counts as the file's. */
		cfg->aliases[i].field = (enum pf_field)field;
		return 0;
	}
	if (cfg->n_aliases >= PF_MAX_ALIASES) {
		pf_ini_fail(c, line,
			    "%s:%d: [aliases] %s: too many aliases (at most %d, built-in included)",
			    path, line, name, PF_MAX_ALIASES);
		return -EINVAL;
	}
	copy = strdup(name);
	if (!copy) {
		pf_ini_fail_oom(c);
		return -ENOMEM;
	}
	cfg->alias_names[cfg->n_aliases] = copy;
	cfg->aliases[cfg->n_aliases].vendor_name = copy;
	cfg->aliases[cfg->n_aliases].field = (enum pf_field)field;
	cfg->n_aliases++;
	return 0;
}

static const struct pf_ini_schema schema;

/*
 * The feed's topics must lie outside the controllers' prefix: a controller's account may publish
 * anything under <prefix>/<its lot_id>/, so a lot named like the feed's next level could forge
 * it, and with the same prefix the daemon would read <prefix>/lots/status as a lot's status.
 */
static void check_feed_apart(struct pf_ini_ctx *c, const struct pf_config *cfg)
{
	const char *feed = cfg->feed.topic_prefix, *mqtt = cfg->mqtt.topic_prefix;
	size_t n = strlen(mqtt);
	int line = pf_ini_key_line(c, pf_ini_find(&schema, "feed", "topic_prefix"));

	if (!feed[0] || strncmp(feed, mqtt, n) != 0 || (feed[n] != '\0' && feed[n] != '/'))
		return;
	pf_ini_fail(c, line,
		    "%s:%d: [feed] topic_prefix: \"%s\" lies within [mqtt] topic_prefix \"%s\", "
		    "where lot controllers publish (allowed: a prefix of its own, e.g. "
		    "availability)",
		    pf_ini_path(c), line, feed, mqtt);
}

/* Cross-key rules, checked once the whole file is read. */
static void check_whole(struct pf_ini_ctx *c, void *obj)
{
	const struct pf_config *cfg = obj;
	int line_seg = pf_ini_key_line(c, pf_ini_find(&schema, "spool", "segment_bytes"));
	int line_max = pf_ini_key_line(c, pf_ini_find(&schema, "spool", "max_bytes"));
	char a[32], b[32];

	check_feed_apart(c, cfg);
	if (cfg->spool.segment_bytes > cfg->spool.max_bytes) {
		int line = line_seg > line_max ? line_seg : line_max;

		pf_ini_format_size(cfg->spool.segment_bytes, a, sizeof(a));
		pf_ini_format_size(cfg->spool.max_bytes, b, sizeof(b));
		pf_ini_fail(c, line,
			    "%s:%d: [spool] %s: segment_bytes %s is larger than max_bytes %s",
			    pf_ini_path(c), line, line == line_seg ? "segment_bytes" : "max_bytes",
			    a, b);
	}
}

static const struct pf_ini_schema schema = {
	.sections = sections,
	.n_sections = N_SECTIONS,
	.keys = keys,
	.n_keys = N_KEYS,
	.free_section = "aliases",
	.free_key = set_alias,
	.check_whole = check_whole,
};

static void *xstrdup_or_abort(const char *s)
{
	char *copy = strdup(s);

	/* Defaults are set before anything runs: without memory for them there is nothing to do. */
	if (!copy) {
		fputs("parkfeed: out of memory setting configuration defaults\n", stderr);
		abort();
	}
	return copy;
}

void pf_config_init(struct pf_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	pf_ini_defaults(&schema, cfg);
	for (size_t i = 0; i < sizeof(builtin_aliases) / sizeof(builtin_aliases[0]); i++) {
		cfg->alias_names[i] = xstrdup_or_abort(builtin_aliases[i].vendor);
		cfg->aliases[i].vendor_name = cfg->alias_names[i];
		cfg->aliases[i].field = builtin_aliases[i].field;
		cfg->n_aliases++;
	}
	if (split_protocols(cfg) < 0) {
		fputs("parkfeed: out of memory setting configuration defaults\n", stderr);
		abort();
	}
}

int pf_config_load(struct pf_config *cfg, const char *path, char *err, size_t errlen)
{
	size_t alias_start = cfg->n_aliases;
	int rc = pf_ini_load(&schema, cfg, path, &alias_start, err, errlen);

	if (rc == 0 && split_protocols(cfg) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
	}
	return rc;
}

void pf_config_free(struct pf_config *cfg)
{
	pf_ini_free(&schema, cfg);
	for (size_t i = 0; i < cfg->n_aliases; i++)
		free(cfg->alias_names[i]);
	free(cfg->protocols_buf);
	memset(cfg, 0, sizeof(*cfg));
}

static bool aliases_equal(const struct pf_config *a, const struct pf_config *b)
{
	if (a->n_aliases != b->n_aliases)
		return false;
	for (size_t i = 0; i < a->n_aliases; i++)
		if (strcmp(a->aliases[i].vendor_name, b->aliases[i].vendor_name) != 0 ||
		    a->aliases[i].field != b->aliases[i].field)
			return false;
	return true;
}

int config__diff(const struct pf_config *a, const struct pf_config *b, bool all, char *err,
		 size_t errlen)
{
	if (pf_ini_diff(&schema, a, b, all, err, errlen))
		return 1;
	if (all && !aliases_equal(a, b)) {
		snprintf(err, errlen, "[aliases] changed");
		return 1;
	}
	return 0;
}

int pf_config_diff_nonreloadable(const struct pf_config *a, const struct pf_config *b, char *err,
				 size_t errlen)
{
	return config__diff(a, b, false, err, errlen);
}

#define SWAP(a, b)                                                                                 \
	do {                                                                                       \
		__typeof__(a) swap_tmp_ = (a);                                                     \
		(a) = (b);                                                                         \
		(b) = swap_tmp_;                                                                   \
	} while (0)

void pf_config_apply_reloadable(struct pf_config *cur, struct pf_config *next)
{
	pf_ini_swap_reloadable(&schema, cur, next);
	/* What the reloadable keys and [aliases] were parsed into. */
	SWAP(cur->protocols_buf, next->protocols_buf);
	SWAP(cur->n_protocols, next->n_protocols);
	for (size_t i = 0; i < PF_MAX_PROTOCOLS; i++)
		SWAP(cur->protocols[i], next->protocols[i]);
	SWAP(cur->n_aliases, next->n_aliases);
	for (size_t i = 0; i < PF_MAX_ALIASES; i++) {
		SWAP(cur->aliases[i], next->aliases[i]);
		SWAP(cur->alias_names[i], next->alias_names[i]);
	}
}

const char *config__key(size_t i, const char **section, const char **def)
{
	if (i >= N_KEYS)
		return NULL;
	*section = keys[i].section;
	*def = keys[i].def;
	return keys[i].name;
}

char *pf_config_read_secret(const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (!name || !name[0]) {
		snprintf(err, errlen, "no secret file named");
		return NULL;
	}
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen,
			 "secret \"%s\": a relative path; use an absolute path or a bare "
			 "credential name",
			 name);
		return NULL;
	} else if (!dir || !dir[0]) {
		snprintf(
			err, errlen,
			"secret \"%s\": not an absolute path and $CREDENTIALS_DIRECTORY is not set "
			"(use an absolute path, or LoadCredential=%s:/path in the unit)",
			name, name);
		return NULL;
	} else if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(err, errlen, "secret \"%s\": path too long", name);
		return NULL;
	}

	rc = pf_ini_read_file(path, SECRET_MAX_FILE, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read secret %s: %s", path,
			 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		explicit_bzero(buf, len);
		free(buf);
		snprintf(err, errlen, "secret %s contains a NUL byte", path);
		return NULL;
	}
	if (len && buf[len - 1] == '\n') {
		buf[--len] = '\0';
		if (len && buf[len - 1] == '\r')
			buf[--len] = '\0';
	}
	return buf;
}
