/* A growable byte buffer for rendered output; an allocation failure is remembered, not fatal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_buf.h"

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

void pf_buf_csv_field(struct pf_buf *b, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
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

void pf_buf_json_str(struct pf_buf *b, const char *s)
{
	if (!s) {
		pf_buf_puts(b, "null");
		return;
	}
	pf_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			pf_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			pf_buf_puts(b, "\\n");
		else if (c == '\t')
			pf_buf_puts(b, "\\t");
		else if (c == '\r')
			pf_buf_puts(b, "\\r");
		else if (c < 0x20)
			pf_buf_printf(b, "\\u%04x", c);
		else
			pf_buf_add(b, (const char *)&c, 1);
	}
	pf_buf_add(b, "\"", 1);
}
