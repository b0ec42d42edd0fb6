/* parkfeed.conf: one table entry per key, parsed with inih, errors reported as FILE:LINE. */
#include "pf_config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (1024 * 1024) /* a config file is a few KiB; refuse anything huge */
#define SECRET_MAX_FILE (64 * 1024)
#define CONFIG_ERR_MAX 512

enum config__type {
	CT_STRING, /* char *; min = minimum length */
	CT_INT,	   /* int, whole decimal number in min..max */
	CT_SIZE,   /* int64_t bytes, optional K/M/G/T suffix (powers of 1024) */
	CT_BOOL,   /* bool; choices[0] means false, choices[1] true */
	CT_ENUM,   /* int-sized enum; the index in choices is the value */
};

struct config__key {
	const char *section;
	const char *name;
	enum config__type type;
	size_t offset;	 /* of the field in struct pf_config */
	const char *def; /* default, spelled as in the file */
	int64_t min, max;
	const char *const *choices; /* CT_BOOL, CT_ENUM: NULL-terminated */
	bool reloadable;	    /* may change on SIGHUP without a restart */
	int (*check)(const char *value, char *why, size_t whylen); /* extra rule, or NULL */
	const char *help;
};

static const char *const fsync_choices[] = {"off", "batch", NULL};
static const char *const level_choices[] = {"debug", "info", "notice", "warning", "error", NULL};

_Static_assert(sizeof(enum pf_log_level) == sizeof(int), "CT_ENUM stores an int");

static int check_topic_prefix(const char *v, char *why, size_t whylen);
static int check_shared_group(const char *v, char *why, size_t whylen);
static int check_protocols(const char *v, char *why, size_t whylen);
static int check_listen(const char *v, char *why, size_t whylen);

/* clang-format off */
#define OFF(f) offsetof(struct pf_config, f)
#define K_STR(s, k, f, d, minlen, rl, chk, h) \
	{ s, k, CT_STRING, OFF(f), d, minlen, 0, NULL, rl, chk, h }
#define K_INT(s, k, f, d, lo, hi, rl, h) { s, k, CT_INT, OFF(f), d, lo, hi, NULL, rl, NULL, h }
#define K_SIZE(s, k, f, d, lo, hi, rl, h) { s, k, CT_SIZE, OFF(f), d, lo, hi, NULL, rl, NULL, h }
#define K_BOOL(s, k, f, d, ch, rl, h) { s, k, CT_BOOL, OFF(f), d, 0, 1, ch, rl, NULL, h }
#define K_ENUM(s, k, f, d, ch, rl, h) { s, k, CT_ENUM, OFF(f), d, 0, 0, ch, rl, NULL, h }

#define KiB 1024LL
#define MiB (1024LL * KiB)
#define GiB (1024LL * MiB)
#define TiB (1024LL * GiB)

/* Keep config/parkfeed.conf in step: it lists every key at its default (a test checks). */
static const struct config__key keys[] = {
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
};

/* clang-format on */

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"mqtt",	  "postgres", "ingest",	  "spool",  "log",
				       "metrics", "systemd",  "maintain", "aliases"};
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

/* Parser state. inih calls the reader once per line: the reader's count is the handler's line. */
struct config__ctx {
	struct pf_config *cfg;
	const char *path;
	const char *buf;
	size_t len, pos;
	int lineno;
	bool section_known; /* of the last [section] line handed out */
	bool failed;
	int err_line; /* of the first error; 0 for one that has no line */
	char err[CONFIG_ERR_MAX];
	int line_of[N_KEYS]; /* where each key was set, 0 = default */
	size_t alias_start;  /* aliases before this index came from elsewhere */
	bool oom;
};

static void *field_ptr(struct pf_config *cfg, const struct config__key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield_ptr(const struct pf_config *cfg, const struct config__key *k)
{
	return (const char *)cfg + k->offset;
}

/* Keep only the first error: it is the one ini_parse_stream's return value refers to. */
static void fail_at(struct config__ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail_at(struct config__ctx *c, int line, const char *fmt, ...)
{
	va_list ap;

	if (c->failed && c->err_line <= line)
		return;
	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_line = line;
}

/* Edit distance counting a swap of neighbours as one edit ("hots" -> "host"); names are short. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int rows[3][64], *r2, *r1, *r0;

	if (la >= 64 || lb >= 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		rows[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		r0 = rows[i % 3];
		r1 = rows[(i + 2) % 3];
		r2 = rows[(i + 1) % 3];
		r0[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int best = r1[j - 1] + (a[i - 1] != b[j - 1]);

			if (r1[j] + 1 < best)
				best = r1[j] + 1;
			if (r0[j - 1] + 1 < best)
				best = r0[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    r2[j - 2] + 1 < best)
				best = r2[j - 2] + 1;
			r0[j] = best;
		}
	}
	return rows[la % 3][lb];
}

static bool close_enough(const char *typed, const char *known)
{
	int d = edit_distance(typed, known);

	return strcasecmp(typed, known) == 0 || d <= (strlen(known) < 6 ? 1 : 2);
}

static bool section_known(const char *name)
{
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (strcmp(name, sections[i]) == 0)
			return true;
	return false;
}

static const struct config__key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void append(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

static void fail_unknown_section(struct config__ctx *c, const char *name)
{
	char hint[256] = "";

	for (size_t i = 0; i < N_SECTIONS; i++)
		if (close_enough(name, sections[i])) {
			snprintf(hint, sizeof(hint), "did you mean [%s]?", sections[i]);
			break;
		}
	if (!hint[0]) {
		append(hint, sizeof(hint), "allowed:");
		for (size_t i = 0; i < N_SECTIONS; i++)
			append(hint, sizeof(hint), "%s [%s]", i ? "," : "", sections[i]);
	}
	fail_at(c, c->lineno, "%s:%d: [%s]: unknown section (%s)", c->path, c->lineno, name, hint);
}

static void fail_unknown_key(struct config__ctx *c, const char *section, const char *name)
{
	char hint[CONFIG_ERR_MAX / 2] = "";

	for (size_t i = 0; i < N_KEYS && !hint[0]; i++)
		if (strcmp(keys[i].section, section) == 0 && close_enough(name, keys[i].name))
			snprintf(hint, sizeof(hint), "did you mean %s?", keys[i].name);
	for (size_t i = 0; i < N_KEYS && !hint[0]; i++)
		if (strcmp(keys[i].name, name) == 0)
			snprintf(hint, sizeof(hint), "it belongs in [%s]", keys[i].section);
	if (!hint[0] && !section[0])
		snprintf(hint, sizeof(hint), "put it under its [section]");
	if (!hint[0]) {
		append(hint, sizeof(hint), "allowed:");
		for (size_t i = 0, n = 0; i < N_KEYS; i++)
			if (strcmp(keys[i].section, section) == 0)
				append(hint, sizeof(hint), "%s %s", n++ ? "," : "", keys[i].name);
	}
	if (!section[0])
		fail_at(c, c->lineno, "%s:%d: %s: key outside of any section (%s)", c->path,
			c->lineno, name, hint);
	else
		fail_at(c, c->lineno, "%s:%d: [%s] %s: unknown key (%s)", c->path, c->lineno,
			section, name, hint);
}

/* Whole decimal number, nothing else: "1e3", "0x10", "3.5" and " 3" are refused. */
static bool parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s[0] || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_size(const char *s, int64_t *out)
{
	static const char suffixes[] = "KMGT";
	char num[32], last;
	size_t n = strlen(s);
	int64_t v, mult = 1;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	last = (char)toupper((unsigned char)num[n - 1]);
	if (isalpha((unsigned char)last)) {
		const char *p = strchr(suffixes, last);

		if (!p)
			return false;
		for (const char *q = suffixes; q <= p; q++)
			mult *= 1024;
		num[n - 1] = '\0';
	}
	if (!parse_int64(num, &v) || v < 0 || v > INT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

/* Bytes as the shortest exact spelling: 1073741824 -> "1G". */
static void format_size(int64_t v, char *buf, size_t size)
{
	static const char suffixes[] = "KMGT";
	int i = -1;

	while (i < 3 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, size, "%lld", (long long)v);
	else
		snprintf(buf, size, "%lld%c", (long long)v, suffixes[i]);
}

static void list_choices(const struct config__key *k, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; k->choices[i]; i++)
		append(buf, size, "%s%s", i ? ", " : "", k->choices[i]);
}

static int set_string(struct pf_config *cfg, const struct config__key *k, const char *v, char *why,
		      size_t whylen)
{
	char **field = field_ptr(cfg, k);
	char *copy;

	if ((int64_t)strlen(v) < k->min) {
		snprintf(why, whylen, "must not be empty");
		return -EINVAL;
	}
	if (k->check && k->check(v, why, whylen) < 0)
		return -EINVAL;
	copy = strdup(v);
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

/*
 * Apply one value to the field behind k. On error returns a negative errno and says in `why`
 * what is wrong, in the words of the file ("3 is out of range (5..3600)").
 */
static int set_value(struct pf_config *cfg, const struct config__key *k, const char *v, char *why,
		     size_t whylen)
{
	char lo[32], hi[32], list[128];
	int64_t n;

	switch (k->type) {
	case CT_STRING:
		return set_string(cfg, k, v, why, whylen);
	case CT_INT:
		if (!parse_int64(v, &n)) {
			snprintf(why, whylen, "\"%s\" is not a whole number (allowed: %lld..%lld)",
				 v, (long long)k->min, (long long)k->max);
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			snprintf(why, whylen, "%s is out of range (%lld..%lld)", v,
				 (long long)k->min, (long long)k->max);
			return -ERANGE;
		}
		*(int *)field_ptr(cfg, k) = (int)n;
		return 0;
	case CT_SIZE:
		format_size(k->min, lo, sizeof(lo));
		format_size(k->max, hi, sizeof(hi));
		if (!parse_size(v, &n)) {
			snprintf(why, whylen,
				 "\"%s\" is not a size (allowed: %s..%s, bytes with an optional K, "
				 "M, G or T suffix)",
				 v, lo, hi);
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			snprintf(why, whylen, "%s is out of range (%s..%s)", v, lo, hi);
			return -ERANGE;
		}
		*(int64_t *)field_ptr(cfg, k) = n;
		return 0;
	case CT_BOOL:
	case CT_ENUM:
		for (int i = 0; k->choices[i]; i++) {
			if (strcmp(v, k->choices[i]) != 0)
				continue;
			if (k->type == CT_BOOL)
				*(bool *)field_ptr(cfg, k) = i == 1;
			else
				*(int *)field_ptr(cfg, k) = i;
			return 0;
		}
		list_choices(k, list, sizeof(list));
		snprintf(why, whylen, "\"%s\" is not allowed (allowed: %s)", v, list);
		return -EINVAL;
	}
	return -EINVAL;
}

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

	if (!colon || colon == v || !parse_int64(colon + 1, &port) || port < 1 || port > 65535)
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

static int set_alias(struct config__ctx *c, const char *name, const char *value)
{
	struct pf_config *cfg = c->cfg;
	int field = pf_field_from_name(value);
	size_t i;
	char *copy;

	if (field < 0 || field >= PF_F__COUNT) {
		fail_at(c, c->lineno,
			"%s:%d: [aliases] %s: \"%s\" is not a native field (allowed: ts, total, "
			"free, occupied, seq, status)",
			c->path, c->lineno, name, value);
		return -EINVAL;
	}
	if (pf_field_from_name(name) >= 0) {
		fail_at(c, c->lineno,
			"%s:%d: [aliases] %s: is a native field name itself (allowed: a vendor's "
			"field name)",
			c->path, c->lineno, name);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_aliases; i++) {
		if (strcmp(cfg->aliases[i].vendor_name, name) != 0)
			continue;
		if (i >= c->alias_start) {
			fail_at(c, c->lineno, "%s:%d: [aliases] %s: duplicate key", c->path,
				c->lineno, name);
			return -EINVAL;
		}
		/* The file may remap a built-in name; it then counts as the file's. */
		cfg->aliases[i].field = (enum pf_field)field;
		return 0;
	}
	if (cfg->n_aliases >= PF_MAX_ALIASES) {
		fail_at(c, c->lineno,
			"%s:%d: [aliases] %s: too many aliases (at most %d, built-in included)",
			c->path, c->lineno, name, PF_MAX_ALIASES);
		return -EINVAL;
	}
	copy = strdup(name);
	if (!copy) {
		c->oom = true;
		fail_at(c, c->lineno, "%s:%d: out of memory", c->path, c->lineno);
		return -ENOMEM;
	}
	cfg->alias_names[cfg->n_aliases] = copy;
	cfg->aliases[cfg->n_aliases].vendor_name = copy;
	cfg->aliases[cfg->n_aliases].field = (enum pf_field)field;
	cfg->n_aliases++;
	return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct config__ctx *c = user;
	const struct config__key *k;
	char why[CONFIG_ERR_MAX / 2];
	int rc;

	if (section[0] && !c->section_known)
		return 1; /* already reported at the [section] line */
	if (!name[0]) {
		fail_at(c, c->lineno, "%s:%d: [%s]: missing key name before '='", c->path,
			c->lineno, section);
		return 0;
	}
	if (strcmp(section, "aliases") == 0) {
		return set_alias(c, name, value) == 0;
	}
	k = find_key(section, name);
	if (!k) {
		fail_unknown_key(c, section, name);
		return 0;
	}
	if (c->line_of[k - keys]) {
		fail_at(c, c->lineno, "%s:%d: [%s] %s: duplicate key (first set on line %d)",
			c->path, c->lineno, section, name, c->line_of[k - keys]);
		return 0;
	}
	c->line_of[k - keys] = c->lineno;
	rc = set_value(c->cfg, k, value, why, sizeof(why));
	if (rc < 0) {
		c->oom |= rc == -ENOMEM;
		fail_at(c, c->lineno, "%s:%d: [%s] %s: %s", c->path, c->lineno, section, name, why);
		return 0;
	}
	return 1;
}

/*
 * fgets-style reader over the file in memory. It hands inih one whole line per call (so our
 * line count is inih's), drops leading blanks (inih would otherwise take an indented line as
 * the continuation of the previous value), and checks what inih cannot report by itself:
 * unknown section names and lines longer than its fixed buffer (it would silently cut them).
 */
static char *reader(char *str, int num, void *stream)
{
	struct config__ctx *c = stream;
	const char *p = c->buf + c->pos, *nl, *end;
	size_t n, max = num > 3 ? (size_t)num - 3 : 0;

	if (c->pos >= c->len)
		return NULL;
	nl = memchr(p, '\n', c->len - c->pos);
	end = nl ? nl : c->buf + c->len;
	c->pos = (size_t)(end - c->buf) + (nl ? 1 : 0);
	c->lineno++;
	if (c->lineno == 1 && end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	n = (size_t)(end - p);
	if (n && p[n - 1] == '\r')
		n--;
	if (memchr(p, '\0', n)) {
		fail_at(c, c->lineno, "%s:%d: line contains a NUL byte", c->path, c->lineno);
		n = 0;
	} else if (n > max) {
		fail_at(c, c->lineno, "%s:%d: line is longer than %zu characters", c->path,
			c->lineno, max);
		n = 0;
	}
	memcpy(str, p, n);
	str[n] = '\n';
	str[n + 1] = '\0';

	if (n && str[0] == '[') {
		char name[64];
		size_t len = strcspn(str + 1, "]\n");

		if (str[1 + len] == ']') {
			snprintf(name, sizeof(name), "%.*s", (int)len, str + 1);
			c->section_known = section_known(name);
			if (!c->section_known)
				fail_unknown_section(c, name);
		}
	}
	return str;
}

/* What inih refused on its own: a line that is neither [section], key = value nor comment. */
static void fail_syntax(struct config__ctx *c, int line)
{
	const char *p = c->buf;

	for (int i = 1; i < line && p; i++) {
		p = memchr(p, '\n', c->len - (size_t)(p - c->buf));
		p = p ? p + 1 : NULL;
	}
	while (p && (*p == ' ' || *p == '\t'))
		p++;
	if (p && *p == '[')
		fail_at(c, line, "%s:%d: section line without a closing ']' (allowed: [name])",
			c->path, line);
	else
		fail_at(c, line, "%s:%d: not a [section], key = value or ; comment line", c->path,
			line);
}

static int read_file(const char *path, size_t limit, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	buf = malloc(limit + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, limit + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > limit) {
			rc = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, limit + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* Cross-key rules, checked once the whole file is read. */
static void check_whole(struct config__ctx *c)
{
	const struct pf_config *cfg = c->cfg;
	const struct config__key *seg = find_key("spool", "segment_bytes");
	const struct config__key *max = find_key("spool", "max_bytes");
	int line_seg = c->line_of[seg - keys], line_max = c->line_of[max - keys];
	char a[32], b[32];

	if (cfg->spool.segment_bytes > cfg->spool.max_bytes) {
		int line = line_seg > line_max ? line_seg : line_max;

		format_size(cfg->spool.segment_bytes, a, sizeof(a));
		format_size(cfg->spool.max_bytes, b, sizeof(b));
		fail_at(c, line, "%s:%d: [spool] %s: segment_bytes %s is larger than max_bytes %s",
			c->path, line, line == line_seg ? "segment_bytes" : "max_bytes", a, b);
	}
}

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
	char why[CONFIG_ERR_MAX];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_KEYS; i++) {
		if (set_value(cfg, &keys[i], keys[i].def, why, sizeof(why)) < 0) {
			fprintf(stderr, "parkfeed: bad built-in default [%s] %s: %s\n",
				keys[i].section, keys[i].name, why);
			abort();
		}
	}
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
	struct config__ctx *c;
	char *buf = NULL;
	size_t len = 0;
	int rc, line;

	rc = read_file(path, CONFIG_MAX_FILE, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read %s: %s (check -c PATH)", path,
			 rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		free(buf);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c->cfg = cfg;
	c->path = path;
	c->buf = buf;
	c->len = len;
	c->alias_start = cfg->n_aliases;

	line = ini_parse_stream(reader, c, handler, c);
	if (line > 0 && (!c->failed || line < c->err_line))
		fail_syntax(c, line);
	else if (line < 0 && !c->failed)
		fail_at(c, 0, "%s: out of memory", path);
	if (!c->failed)
		check_whole(c);
	if (!c->failed && split_protocols(cfg) < 0) {
		c->oom = true;
		fail_at(c, 0, "%s: out of memory", path);
	}

	rc = 0;
	if (c->failed) {
		snprintf(err, errlen, "%s", c->err);
		rc = c->oom ? -ENOMEM : -EINVAL;
	}
	free(buf);
	free(c);
	return rc;
}

void pf_config_free(struct pf_config *cfg)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].type == CT_STRING) {
			char **field = field_ptr(cfg, &keys[i]);

			free(*field);
			*field = NULL;
		}
	for (size_t i = 0; i < cfg->n_aliases; i++)
		free(cfg->alias_names[i]);
	free(cfg->protocols_buf);
	memset(cfg, 0, sizeof(*cfg));
}

static bool key_equal(const struct pf_config *a, const struct pf_config *b,
		      const struct config__key *k)
{
	const void *pa = cfield_ptr(a, k), *pb = cfield_ptr(b, k);

	switch (k->type) {
	case CT_STRING:
		return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
	case CT_INT:
	case CT_ENUM:
		return *(const int *)pa == *(const int *)pb;
	case CT_SIZE:
		return *(const int64_t *)pa == *(const int64_t *)pb;
	case CT_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	}
	return false;
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
	for (size_t i = 0; i < N_KEYS; i++) {
		if ((!all && keys[i].reloadable) || key_equal(a, b, &keys[i]))
			continue;
		snprintf(err, errlen, "[%s] %s changed%s", keys[i].section, keys[i].name,
			 keys[i].reloadable ? "" : " (it takes a restart, not a reload)");
		return 1;
	}
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

/* One key's value: swapped, so that freeing `from` frees what `to` held before. */
static void swap_key(struct pf_config *to, struct pf_config *from, const struct config__key *k)
{
	void *a = field_ptr(to, k), *b = field_ptr(from, k);

	switch (k->type) {
	case CT_STRING:
		SWAP(*(char **)a, *(char **)b);
		break;
	case CT_INT:
	case CT_ENUM:
		SWAP(*(int *)a, *(int *)b);
		break;
	case CT_SIZE:
		SWAP(*(int64_t *)a, *(int64_t *)b);
		break;
	case CT_BOOL:
		SWAP(*(bool *)a, *(bool *)b);
		break;
	}
}

void pf_config_apply_reloadable(struct pf_config *cur, struct pf_config *next)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].reloadable)
			swap_key(cur, next, &keys[i]);
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

	rc = read_file(path, SECRET_MAX_FILE, &buf, &len);
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
