/* A growable byte buffer for rendered output; an allocation failure is remembered, not fatal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_buf.h"
#include "pf_utf8.h"

void pf_buf_init(struct pf_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void pf_buf_free(struct pf_buf *b)
{
	free(b->p);
	pf_buf_init(b);
}

int pf_buf_reserve(struct pf_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void pf_buf_add(struct pf_buf *b, const char *s, size_t len)
{
	if (pf_buf_reserve(b, len) < 0)
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void pf_buf_puts(struct pf_buf *b, const char *s)
{
	pf_buf_add(b, s, strlen(s));
}

void pf_buf_pad(struct pf_buf *b, char c, size_t n)
{
	if (pf_buf_reserve(b, n) < 0)
		return;
	memset(b->p + b->len, c, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void pf_buf_printf(struct pf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || pf_buf_reserve(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A field needs quotes when it holds a separator, a quote, or any control character. */
static bool csv_needs_quotes(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if (*u == ',' || *u == '"' || *u < 0x20 || *u == 0x7f ||
		    (u[0] == 0xc2 && u[1] >= 0x80 && u[1] < 0xa0))
			return true;
	return false;
}

void pf_buf_csv_field(struct pf_buf *b, const char *s)
{
	if (!s)
		return;
	if (!csv_needs_quotes(s)) {
		pf_buf_puts(b, s);
		return;
	}
	pf_buf_add(b, "\"", 1);
	for (const char *q; (q = strchr(s, '"')); s = q + 1) {
		pf_buf_add(b, s, (size_t)(q - s));
		pf_buf_add(b, "\"\"", 2);
	}
	pf_buf_puts(b, s);
	pf_buf_add(b, "\"", 1);
}

/*
 * Code points a terminal or a JavaScript parser may act on rather than show: C0, DEL, C1
 * (U+0080..U+009F), and for JSON also U+2028 and U+2029 (line breaks to JavaScript).
 */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

void pf_buf_json_str(struct pf_buf *b, const char *s)
{
	size_t n;
	uint32_t cp;
	int k;

	if (!s) {
		pf_buf_puts(b, "null");
		return;
	}
	pf_buf_add(b, "\"", 1);
	for (n = strlen(s); n > 0; s += k, n -= (size_t)k) {
		k = pf_utf8_decode(s, n, &cp);
		if (k < 0) {
			pf_buf_puts(b, "\\ufffd"); /* JSON is UTF-8: a broken byte cannot pass */
			k = 1;
		} else if (cp == '"' || cp == '\\') {
			pf_buf_printf(b, "\\%c", (char)cp);
		} else if (cp == '\n') {
			pf_buf_puts(b, "\\n");
		} else if (cp == '\t') {
			pf_buf_puts(b, "\\t");
		} else if (cp == '\r') {
			pf_buf_puts(b, "\\r");
		} else if (is_control(cp) || cp == 0x2028 || cp == 0x2029) {
			pf_buf_printf(b, "\\u%04x", (unsigned)cp);
		} else {
			pf_buf_add(b, s, (size_t)k);
		}
	}
	pf_buf_add(b, "\"", 1);
}
