/* Strict UTF-8 (RFC 3629): the daemon, parkfeedctl and the tests check text against this. */
#include <string.h>

#include "pf_utf8.h"

size_t pf_utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xBF;
	size_t k;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		k = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else {
		return 0;
	}
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if ((s[j] & 0xC0) != 0x80)
			return 0;
	return k;
}

int pf_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t n = len ? pf_utf8_seq(u, len) : 0;
	static const uint8_t lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t c;

	if (n == 0)
		return -1;
	c = u[0] & lead_mask[n];
	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (u[i] & 0x3f);
	*cp = c;
	return (int)n;
}

bool pf_utf8_valid(const char *s, size_t len)
{
	const uint8_t *u = (const uint8_t *)s;

	while (len > 0) {
		size_t n = pf_utf8_seq(u, len);

		if (n == 0)
			return false;
		u += n;
		len -= n;
	}
	return true;
}

/* A well-formed sequence of k bytes at s that encodes a C0, DEL or C1 control character. */
static bool control(const uint8_t *s, size_t k)
{
	return (k == 1 && (s[0] < 0x20 || s[0] == 0x7F)) || (k == 2 && s[0] == 0xC2 && s[1] < 0xA0);
}

bool pf_utf8_clean(const uint8_t *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if ((k = pf_utf8_seq(s + i, n - i)) == 0 || control(s + i, k))
			return false;
	return true;
}

size_t pf_utf8_sanitize(char *s, size_t n)
{
	uint8_t *u = (uint8_t *)s;
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = pf_utf8_seq(u + i, n - i);
		if (k == 0 || control(u + i, k)) {
			u[o++] = '?';
			i += k ? k : 1;
			continue;
		}
		memmove(u + o, u + i, k);
		o += k;
		i += k;
	}
	u[o] = '\0';
	return o;
}
