/* parkfeed-api.conf: one table entry per key, on the same INI engine as parkfeed.conf. */
#include "apiconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pf_ini.h"
#include "pf_ledger.h"

static const char *const level_choices[] = {"debug", "info", "notice", "warning", "error", NULL};
/* In the order of enum api_crs. BD-09 is left out: Baidu's tiles are not in Web Mercator's
 * grid, so no XYZ template can bring them to the page. */
static const char *const tile_crs_choices[] = {"wgs84", "gcj02", NULL};

static int check_listen(const char *v, char *why, size_t whylen);
static int check_proxies(const char *v, char *why, size_t whylen);
static int check_origins(const char *v, char *why, size_t whylen);
static int check_tile_url(const char *v, char *why, size_t whylen);
static int check_text(const char *v, char *why, size_t whylen);

/* clang-format off */
#define K_STR(s, k, f, d, minlen, rl, chk, h) \
	PF_INI_STR(struct api_config, s, k, f, d, minlen, rl, chk, h)
#define K_INT(s, k, f, d, lo, hi, rl, h) PF_INI_INT(struct api_config, s, k, f, d, lo, hi, rl, h)
#define K_ENUM(s, k, f, d, ch, rl, h) PF_INI_ENUM(struct api_config, s, k, f, d, ch, rl, h)

/* Keep config/parkfeed-api.conf in step: it lists every key at its default (a test checks). */
static const struct pf_ini_key keys[] = {
	K_STR("postgres", "conninfo", postgres.conninfo, "", 0, false, NULL,
	      "libpq connection string of a login in parkfeed_reader (a hot standby will do)"),
	K_STR("postgres", "password_file", postgres.password_file, "", 0, false, NULL,
	      "file holding the database password; a bare name is read from $CREDENTIALS_DIRECTORY"),
	K_INT("postgres", "connect_timeout", postgres.connect_timeout, "5", 1, 300, false,
	      "give up a connection attempt after this many seconds"),
	K_INT("postgres", "statement_timeout_ms", postgres.statement_timeout_ms, "5000", 100,
	      600000, false, "cancel a query that runs longer"),
	K_INT("postgres", "reconnect_max", postgres.reconnect_max, "30", 1, 3600, true,
	      "cap of the reconnect backoff, seconds"),
	K_INT("postgres", "pool_size", postgres.pool_size, "2", 1, 16, false,
	      "connections for ledger and curve queries"),

	K_STR("api", "listen", api.listen, "127.0.0.1:8080", 1, false, check_listen,
	      "ADDRESS:PORT to serve HTTP on"),
	K_INT("api", "threads", api.threads, "2", 1, 64, false, "threads answering requests"),
	K_INT("api", "max_connections", api.max_connections, "512", 1, 100000, false,
	      "open connections at most"),
	K_INT("api", "per_ip_connections", api.per_ip_connections, "64", 0, 100000, false,
	      "open connections per client address at most (0: no limit)"),
	K_INT("api", "connection_timeout", api.connection_timeout, "30", 1, 3600, false,
	      "seconds an idle connection is kept"),
	K_INT("api", "max_url", api.max_url, "2048", 256, 4096, true,
	      "bytes of a request target (path and query); longer ones get 414"),
	K_INT("api", "rate_limit", api.rate_limit, "20", 0, 1000000, true,
	      "requests per second per client (0: no limit); beyond it 429"),
	K_INT("api", "rate_burst", api.rate_burst, "100", 1, 1000000, true,
	      "requests a client may send at once before rate_limit applies"),
	K_STR("api", "trusted_proxies", api.trusted_proxies, "", 0, true, check_proxies,
	      "load balancers whose X-Forwarded-For names the client (addresses or blocks)"),
	K_INT("api", "refresh_ms", api.refresh_ms, "2000", 200, 60000, true,
	      "milliseconds between two reads of every lot's state"),
	K_INT("api", "max_staleness", api.max_staleness, "10", 1, 3600, true,
	      "seconds the data may be old before /healthz answers 503"),
	K_INT("api", "max_replica_lag", api.max_replica_lag, "0", 0, 86400, true,
	      "seconds a standby may lag behind its primary before /healthz answers 503 (0: any)"),
	K_INT("api", "cache_max_age", api.cache_max_age, "5", 0, 86400, true,
	      "Cache-Control max-age of data answers, seconds"),
	K_INT("api", "query_cache", api.query_cache, "30", 0, 3600, true,
	      "seconds a ledger or curve answer is reused"),
	K_STR("api", "cors_allow_origin", api.cors_allow_origin, "*", 0, true, check_origins,
	      "Access-Control-Allow-Origin: *, a list of origins, or empty for none"),

	K_STR("web", "root", web.root, "/usr/share/parkfeed/web", 1, true, NULL,
	      "directory of the web page served at / and /ledger"),
	K_STR("web", "tile_url", web.tile_url, "", 0, true, check_tile_url,
	      "map tiles URL template for the page, e.g. https://{s}.tile.example.org/{z}/{x}/{y}.png"),
	K_STR("web", "tile_attribution", web.tile_attribution, "", 0, true, check_text,
	      "attribution the tile provider requires"),
	K_ENUM("web", "tile_crs", web.tile_crs, "wgs84", tile_crs_choices, true,
	      "coordinate system of the tiles: wgs84 (also CGCS2000, Tianditu) or gcj02 (AMap, Tencent)"),

	K_ENUM("log", "level", log.level, "info", level_choices, true, "lowest level logged"),

	K_INT("systemd", "ready_timeout", systemd.ready_timeout, "10", 1, 3600, false,
	      "seconds to wait for the first snapshot before reporting ready anyway"),
};

/* clang-format on */

static const char *const sections[] = {"postgres", "api", "web", "log", "systemd"};

static const struct pf_ini_schema schema = {
	.sections = sections,
	.n_sections = sizeof(sections) / sizeof(sections[0]),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
};

static int check_listen(const char *v, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	unsigned int len;

	if (pf_config_parse_listen(v, &ss, &len) < 0) {
		snprintf(why, whylen,
			 "\"%s\" is not ADDRESS:PORT (allowed: a numeric IPv4 address or [IPv6] "
			 "address, then :1..65535, e.g. 127.0.0.1:8080)",
			 v);
		return -EINVAL;
	}
	return 0;
}

static int check_proxies(const char *v, char *why, size_t whylen)
{
	struct http_proxies p;
	char what[160];

	if (http__parse_proxies(v, &p, what, sizeof(what)) < 0) {
		snprintf(why, whylen,
			 "%s (allowed: addresses or blocks like 10.0.0.0/8, ::1, "
			 "separated by commas)",
			 what);
		return -EINVAL;
	}
	return 0;
}

/* Printable ASCII or UTF-8, no control characters: it ends up in headers and JSON. */
static int check_text(const char *v, char *why, size_t whylen)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(why, whylen, "must not hold control characters");
			return -EINVAL;
		}
	if (!pf_utf8_valid(v, strlen(v))) {
		snprintf(why, whylen, "is not valid UTF-8");
		return -EINVAL;
	}
	return 0;
}

/* scheme://host[:port] and nothing else: what an Origin header carries. */
static bool valid_origin(const char *s, size_t n)
{
	size_t i;

	if (n > 7 && memcmp(s, "http://", 7) == 0)
		i = 7;
	else if (n > 8 && memcmp(s, "https://", 8) == 0)
		i = 8;
	else
		return false;
	for (; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

static int check_origins(const char *v, char *why, size_t whylen)
{
	if (!v[0] || strcmp(v, "*") == 0)
		return 0;
	for (const char *p = v;;) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, ", ");
		if (!valid_origin(p, n)) {
			snprintf(why, whylen,
				 "\"%s\" is not an origin list (allowed: *, empty, or origins like "
				 "https://map.example.org separated by commas)",
				 v);
			return -EINVAL;
		}
		p += n;
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			return 0;
	}
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == ':';
}

int apiconf__tile_origin(const char *url, char *out, size_t outlen)
{
	const char *host, *end, *dot, *rest;
	size_t scheme_len;
	bool wild;
	int n;

	if (strncmp(url, "https://", 8) == 0)
		scheme_len = 8;
	else if (strncmp(url, "http://", 7) == 0)
		scheme_len = 7;
	else
		return -EINVAL;
	for (const char *p = url; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\'' || *p == ';' || *p == ',' || *p == '\\' ||
		    (unsigned char)*p >= 0x7f)
			return -EINVAL;
	host = url + scheme_len;
	end = host + strcspn(host, "/");
	if (end == host || !*end || !strstr(end, "{z}") || !strstr(end, "{x}") ||
	    !strstr(end, "{y}"))
		return -EINVAL;
	/* A placeholder ({s}: tile servers a, b, c) may stand in the host's first label only: the
	 * policy then allows every subdomain of the rest. */
	dot = memchr(host, '.', (size_t)(end - host));
	wild = dot && memchr(host, '{', (size_t)(dot - host));
	rest = wild ? dot : host;
	for (const char *p = rest; p < end; p++)
		if (!host_char(*p))
			return -EINVAL;
	if (wild)
		n = snprintf(out, outlen, "%.*s*%.*s", (int)scheme_len, url, (int)(end - dot), dot);
	else
		n = snprintf(out, outlen, "%.*s", (int)(end - url), url);
	return n > 0 && (size_t)n < outlen ? 0 : -EINVAL;
}

static int check_tile_url(const char *v, char *why, size_t whylen)
{
	char origin[APICONF_ORIGIN_MAX];

	if (v[0] && apiconf__tile_origin(v, origin, sizeof(origin)) < 0) {
		snprintf(
			why, whylen,
			"\"%s\" is not a tile URL template (allowed: empty, or http(s)://host/...{z}"
			"...{x}...{y}..., with {s} only as the host's first label)",
			v);
		return -EINVAL;
	}
	return 0;
}

bool apiconf__cors_allows(const char *allow, const char *origin)
{
	size_t olen;

	if (!allow[0])
		return false;
	if (strcmp(allow, "*") == 0)
		return true;
	if (!origin)
		return false;
	olen = strlen(origin);
	for (const char *p = allow; *p;) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n && n == olen && memcmp(p, origin, n) == 0)
			return true;
		p += n;
	}
	return false;
}

/* What the keys imply, computed once they are all read. */
static int derive(struct api_config *c, char *err, size_t errlen)
{
	char why[160];

	if (http__parse_proxies(c->api.trusted_proxies, &c->proxies, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "[api] trusted_proxies: %s", why);
		return -EINVAL;
	}
	c->tile_origin[0] = '\0';
	if (c->web.tile_url[0] &&
	    apiconf__tile_origin(c->web.tile_url, c->tile_origin, sizeof(c->tile_origin)) < 0) {
		snprintf(err, errlen, "[web] tile_url: not a usable URL template");
		return -EINVAL;
	}
	return 0;
}

void apiconf__init(struct api_config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	pf_ini_defaults(&schema, c);
	if (derive(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "parkfeed-api: bad built-in default: %s\n", err);
		abort();
	}
}

int apiconf__load(struct api_config *c, const char *path, char *err, size_t errlen)
{
	int rc = pf_ini_load(&schema, c, path, NULL, err, errlen);

	return rc < 0 ? rc : derive(c, err, errlen);
}

void apiconf__free(struct api_config *c)
{
	pf_ini_free(&schema, c);
	memset(c, 0, sizeof(*c));
}

int apiconf__diff_restart(const struct api_config *a, const struct api_config *b, char *err,
			  size_t errlen)
{
	return pf_ini_diff(&schema, a, b, false, err, errlen);
}

int apiconf__keep_restart_keys(struct api_config *b, const struct api_config *a)
{
	return pf_ini_copy_fixed(&schema, b, a);
}

int apiconf__diff_all(const struct api_config *a, const struct api_config *b, char *err,
		      size_t errlen)
{
	return pf_ini_diff(&schema, a, b, true, err, errlen);
}

const char *apiconf__key(size_t i, const char **section, const char **def)
{
	if (i >= schema.n_keys)
		return NULL;
	*section = keys[i].section;
	*def = keys[i].def;
	return keys[i].name;
}
