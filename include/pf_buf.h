/* A growable byte buffer for rendered output; an allocation failure is remembered, not fatal. */
#ifndef PF_BUF_H
#define PF_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct pf_buf {
	char *p; /* NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
	bool oom; /* an append failed: the content is incomplete */
};

void pf_buf_init(struct pf_buf *b);
/* Room for extra more bytes and a NUL, for writing into p directly: 0, or -1 (oom set). */
int pf_buf_reserve(struct pf_buf *b, size_t extra);
void pf_buf_free(struct pf_buf *b);
void pf_buf_add(struct pf_buf *b, const char *s, size_t len);
void pf_buf_puts(struct pf_buf *b, const char *s);
void pf_buf_pad(struct pf_buf *b, char c, size_t n);
void pf_buf_printf(struct pf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Field quoted as RFC 4180 requires, and also when it holds any other control character
 * (C0, DEL, C1), which is kept as it is: CSV carries the text as stored. */
void pf_buf_csv_field(struct pf_buf *b, const char *s);
/* JSON string literal with quotes; NULL gives null. Control characters (C0, DEL, C1) and
 * U+2028/U+2029 are \u escapes; a byte that is not UTF-8 becomes \ufffd. */
void pf_buf_json_str(struct pf_buf *b, const char *s);

#endif
