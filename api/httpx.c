/* ETags, content negotiation, gzip, RFC 3339 times and client addresses; no sockets here. */
#include "httpx.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "pf_avail.h"
#include "pf_ledger.h"

#define GZIP_MIN_BYTES 512 /* below this gzip saves too little to be worth a header */

void http__etag(const char *data, size_t len, char out[24])
{
	uLong c = crc32(0L, Z_NULL, 0), a = adler32(0L, Z_NULL, 0);

	/* zlib takes uInt lengths: feed it in pieces. */
	for (size_t off = 0; off < len;) {
		uInt n = len - off > 1u << 30 ? 1u << 30 : (uInt)(len - off);

		c = crc32(c, (const Bytef *)data + off, n);
		a = adler32(a, (const Bytef *)data + off, n);
		off += n;
	}
	snprintf(out, 24, "\"%08lx%08lx\"", c & 0xffffffffUL, a & 0xffffffffUL);
}

void http__etag_gz(const char *etag, char out[28])
{
	size_t n = strlen(etag);

	snprintf(out, 28, "%.*s-gz\"", (int)(n ? n - 1 : 0), etag);
}

/* The opaque tag of one list item, without W/, quotes and a -gz suffix. */
static size_t tag_core(const char *s, size_t len, const char **core)
{
	if (len >= 2 && (s[0] == 'W' || s[0] == 'w') && s[1] == '/') {
		s += 2;
		len -= 2;
	}
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len >= 3 && memcmp(s + len - 3, "-gz", 3) == 0)
		len -= 3;
	*core = s;
	return len;
}

bool http__etag_match(const char *inm, const char *etag)
{
	const char *want;
	size_t wlen;

	if (!inm)
		return false;
	wlen = tag_core(etag, strlen(etag), &want);
	for (const char *p = inm; *p;) {
		const char *item, *core;
		size_t n, clen;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		item = p;
		while (*p && *p != ',')
			p++;
		n = (size_t)(p - item);
		while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		if (n == 1 && item[0] == '*')
			return true;
		clen = tag_core(item, n, &core);
		if (n && clen == wlen && memcmp(core, want, wlen) == 0)
			return true;
	}
	return false;
}

/* The q of a coding in an Accept-Encoding style list, or -1 when it is not named. */
static double coding_q(const char *list, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *item, *semi, *end;
		double q = 1.0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		item = p;
		end = strchr(p, ',');
		end = end ? end : p + strlen(p);
		p = end;
		semi = memchr(item, ';', (size_t)(end - item));
		size_t len = (size_t)((semi ? semi : end) - item);

		while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
			len--;
		if (len != nlen || strncasecmp(item, name, nlen) != 0)
			continue;
		if (semi) {
			const char *qp = semi + 1;

			while (*qp == ' ')
				qp++;
			if ((qp[0] == 'q' || qp[0] == 'Q') && qp[1] == '=')
				q = strtod(qp + 2, NULL);
		}
		return q;
	}
	return -1;
}

bool http__accepts_gzip(const char *ae)
{
	double q;

	if (!ae)
		return false;
	q = coding_q(ae, "gzip");
	if (q < 0)
		q = coding_q(ae, "x-gzip");
	if (q < 0)
		q = coding_q(ae, "*");
	return q > 0;
}

bool http__wants_ld_json(const char *accept)
{
	double ld, js;

	if (!accept)
		return false;
	ld = coding_q(accept, "application/ld+json");
	js = coding_q(accept, "application/json");
	return ld > 0 && ld >= js;
}

int http__gzip(const char *data, size_t len, char **out, size_t *out_len)
{
	z_stream z = {0};
	uLong cap = compressBound((uLong)len) + 32;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		return -ENOMEM;
	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

static void body_destroy(struct rc *r)
{
	struct api_body *b = rc__of(r, struct api_body, rc);

	free(b->data);
	free(b->gz);
	free(b);
}

static void add_gzip(struct api_body *b)
{
	if (b->len >= GZIP_MIN_BYTES && http__gzip(b->data, b->len, &b->gz, &b->gz_len) == 0 &&
	    b->gz_len >= b->len) {
		free(b->gz);
		b->gz = NULL;
	}
}

void http__body_gzip_own(struct api_body *b)
{
	if (!b->gz && atomic_load(&b->rc.refs) == 1)
		add_gzip(b);
}

struct api_body *http__body(char *data, size_t len, bool shared)
{
	struct api_body *b = calloc(1, sizeof(*b));

	if (!b) {
		free(data);
		return NULL;
	}
	rc__init(&b->rc, body_destroy);
	b->data = data;
	b->len = len;
	http__etag(data, len, b->etag);
	if (shared)
		add_gzip(b);
	return b;
}

struct api_body *http__body_from_buf(struct pf_buf *b, bool shared)
{
	char *data = b->p;
	size_t len = b->len;
	bool ok = !b->oom && data;

	pf_buf_init(b);
	if (!ok) {
		free(data);
		return NULL;
	}
	return http__body(data, len, shared);
}

void http__time(int64_t us, char buf[32])
{
	pf_avail_time(us, buf);
}

/* ---- client addresses ------------------------------------------------------------------ */

bool http__parse_addr(const char *s, size_t len, unsigned char out[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, buf, out) == 1;
}

static bool is_v4(const unsigned char a[16])
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, prefix, 12) == 0;
}

int http__parse_proxies(const char *s, struct http_proxies *out, char *why, size_t whylen)
{
	out->n = 0;
	for (const char *p = s; *p;) {
		const char *item, *slash;
		size_t n;
		long bits;
		struct http_cidr *c;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		item = p;
		while (*p && *p != ',' && *p != ' ')
			p++;
		n = (size_t)(p - item);
		if (out->n == HTTP_MAX_PROXIES) {
			snprintf(why, whylen, "more than %d addresses", HTTP_MAX_PROXIES);
			return -EINVAL;
		}
		c = &out->net[out->n];
		slash = memchr(item, '/', n);
		if (!http__parse_addr(item, slash ? (size_t)(slash - item) : n, c->addr)) {
			snprintf(why, whylen, "\"%.*s\" is not an IPv4 or IPv6 address", (int)n,
				 item);
			return -EINVAL;
		}
		bits = 128;
		if (slash) {
			char *end;

			bits = strtol(slash + 1, &end, 10);
			if (end != p || slash + 1 == end || bits < 0 ||
			    bits > (is_v4(c->addr) ? 32 : 128)) {
				snprintf(why, whylen, "\"%.*s\" has a bad prefix length", (int)n,
					 item);
				return -EINVAL;
			}
			if (is_v4(c->addr))
				bits += 96;
		}
		c->bits = (int)bits;
		out->n++;
	}
	return 0;
}

static bool in_net(const struct http_cidr *c, const unsigned char a[16])
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

bool http__in_proxies(const struct http_proxies *p, const unsigned char addr[16])
{
	for (size_t i = 0; i < p->n; i++)
		if (in_net(&p->net[i], addr))
			return true;
	return false;
}

/* The right-most address of X-Forwarded-For that no trusted proxy added, into who. */
static void forwarded_client(const char *xff, const struct http_proxies *trusted,
			     unsigned char who[16])
{
	const char *end = xff + strlen(xff);

	while (end > xff) {
		const char *seg = end, *s;
		unsigned char a[16];
		size_t n;

		while (seg > xff && seg[-1] != ',')
			seg--;
		s = seg;
		n = (size_t)(end - seg);
		while (n && isspace((unsigned char)*s))
			s++, n--;
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (!http__parse_addr(s, n, a))
			return; /* garbage from here on: the last good hop is the client */
		memcpy(who, a, 16);
		if (!http__in_proxies(trusted, a))
			return;
		end = seg > xff ? seg - 1 : xff; /* before the comma */
	}
}

void http__client(const unsigned char peer[16], const char *xff, const struct http_proxies *trusted,
		  unsigned char key[16], char *text, size_t textlen)
{
	unsigned char who[16];

	memcpy(who, peer, 16);
	if (xff && trusted->n && http__in_proxies(trusted, peer))
		forwarded_client(xff, trusted, who);
	if (is_v4(who))
		inet_ntop(AF_INET, who + 12, text, (socklen_t)textlen);
	else
		inet_ntop(AF_INET6, who, text, (socklen_t)textlen);
	memcpy(key, who, 16);
	if (!is_v4(who))
		memset(key + 8, 0, 8);
}
