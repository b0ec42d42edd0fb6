/* HTTP details without the server: ETags, content negotiation, gzip, client addresses,
 * per-client rate limits (httpx.c, ratelimit.c). */
#ifndef API_HTTPX_H
#define API_HTTPX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* The ETag of a body: "crc32adler32" of its bytes, quoted; identical bytes, identical tag, so
 * every copy of parkfeed-api behind a load balancer gives the same one. */
void http__etag(const char *data, size_t len, char out[24]);
/* If-None-Match holds etag (or *): a weak comparison (W/ and a -gz suffix ignored), as RFC 9110
 * wants for GET. */
bool http__etag_match(const char *if_none_match, const char *etag);
/* The ETag as sent for the gzip form of a body: the tag with -gz before the closing quote. */
void http__etag_gz(const char *etag, char out[28]);
/* Accept-Encoding allows gzip (q > 0, also through *). */
bool http__accepts_gzip(const char *accept_encoding);
/* Accept asks for application/ld+json rather than application/json (NGSI-LD). */
bool http__wants_ld_json(const char *accept);
/* gzip data[0..len) at level 6: 0 with a malloc'd *out, or -ENOMEM. */
__attribute__((warn_unused_result)) int http__gzip(const char *data, size_t len, char **out,
						   size_t *out_len);
/* A body (one reference: rc__unref(&b->rc)) from a malloc'd buffer it takes over, with its
 * ETag; with shared, also its gzip form (when that is smaller) for the many requests that
 * will send it. NULL when out of memory (data is freed). */
struct api_body *http__body(char *data, size_t len, bool shared);
/* The same from a rendered buffer, which is left empty; NULL when it ran out of memory. */
struct pf_buf;
struct api_body *http__body_from_buf(struct pf_buf *b, bool shared);
/* The gzip form of a body made for one answer, made when the client asks for it (only a body
 * nobody else holds is changed). */
void http__body_gzip_own(struct api_body *b);
/* RFC 3339 in UTC: 2023-06-19T00:00:05Z, with .fff or .ffffff when the time has a fraction. */
void http__time(int64_t epoch_us, char buf[32]);

/* ---- client addresses ------------------------------------------------------------------ */

#define HTTP_MAX_PROXIES 16

/* An address block: 16 bytes (IPv4 as ::ffff:a.b.c.d) and a prefix length. */
struct http_cidr {
	unsigned char addr[16];
	int bits;
};

struct http_proxies {
	struct http_cidr net[HTTP_MAX_PROXIES];
	size_t n;
};

/* "127.0.0.1, 10.0.0.0/8, ::1": 0, or -EINVAL with why. Empty: no proxy trusted. */
__attribute__((warn_unused_result)) int http__parse_proxies(const char *s, struct http_proxies *out,
							    char *why, size_t whylen);
/* The address text (IPv4 or IPv6, no port) as 16 bytes; false if it is not one. */
bool http__parse_addr(const char *s, size_t len, unsigned char out[16]);
bool http__in_proxies(const struct http_proxies *p, const unsigned char addr[16]);
/*
 * Who the client is, for rate limits and logs: the peer, or when the peer is a trusted proxy,
 * the right-most address of X-Forwarded-For that is not a trusted proxy. The key is the
 * address with IPv6 cut to its /64 (one subscriber's prefix). Fills text (for logs) too.
 */
void http__client(const unsigned char peer[16], const char *forwarded_for,
		  const struct http_proxies *trusted, unsigned char key[16], char *text,
		  size_t textlen);

/* ---- rate limits (ratelimit.c) --------------------------------------------------------- */

struct rate_limiter;

/* A table of at most capacity clients (the least recently seen are forgotten first). */
struct rate_limiter *rate__new(size_t capacity);
void rate__free(struct rate_limiter *r);
/*
 * One request of client key at now_us: a token bucket of burst tokens refilled at rate per
 * second. 0 when allowed, else the whole seconds (>= 1) until a token is back.
 */
int rate__take(struct rate_limiter *r, const unsigned char key[16], double rate, double burst,
	       int64_t now_us);

#endif
