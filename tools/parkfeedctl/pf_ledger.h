/* pfledger: the pure parts of parkfeedctl: ranks, rates, display width, tables, CSV. No I/O. */
#ifndef PF_LEDGER_H
#define PF_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pf_buf.h"
#include "pf_utf8.h"

/* ---- display width (width.c; UTF-8 itself is pf_utf8.h's) ----------------------------- */

/*
 * Text for a terminal: each control character as a visible escape, \xHH for C0 and DEL
 * (\x1b for ESC, \x0a for a line feed) and \u0080..\u009f for C1, and each byte that is not
 * UTF-8 as \xHH; everything else as it is. What a controller or a CSV wrote cannot move the
 * cursor, retitle the window or write the clipboard of the operator reading it.
 */
void pf_buf_human(struct pf_buf *b, const char *s);
/* The same for the n bytes at s. */
void pf_buf_human_n(struct pf_buf *b, const char *s, size_t n);
/* Terminal columns of s as pf_buf_human writes it. */
size_t pf_human_width(const char *s);
/* Terminal columns of one code point: 0 (combining, zero-width), 1, or 2 (East Asian wide). */
int pf_wcwidth(uint32_t cp);
/* Columns of a UTF-8 string; an invalid byte counts as one column. */
size_t pf_display_width(const char *s);

/* ---- tables (table.c) ------------------------------------------------------------------ */

enum pf_align { PF_ALIGN_LEFT = 0, PF_ALIGN_RIGHT };

struct pf_table {
	size_t ncols;
	const char *const *header;  /* ncols titles */
	const enum pf_align *align; /* ncols alignments */
	size_t nrows;
	const char *const *cells; /* nrows * ncols, row-major; NULL prints as "" */
};

/* Plain text: columns padded to their display width, two spaces apart, a dashed rule under
 * the header, no trailing blanks. */
void pf_table_text(struct pf_buf *out, const struct pf_table *t);
/* GitHub Markdown table (| escaped in cells). */
void pf_table_md(struct pf_buf *out, const struct pf_table *t);
/* CSV with the header line. */
void pf_table_csv(struct pf_buf *out, const struct pf_table *t);

/* ---- the ledger (ledger.c, ledger_render.c) -------------------------------------------- */

#define PF_RATE_NONE (-1) /* rate of a zero target: printed "-", ranked last */

struct pf_ledger_row {
	const char *district;
	int64_t target;
	int64_t completed;
	int64_t rate;	    /* completed / target in hundredths of a percent, or PF_RATE_NONE */
	int completed_rank; /* competition rank by completed */
	int rate_rank;	    /* competition rank by rate capped at 100% */
};

struct pf_overdue {
	const char *district; /* NULL: unknown */
	const char *lot_id;
	const char *name;
	const char *deadline; /* YYYY-MM-DD */
	const char *stage;
};

struct pf_ledger {
	int year;
	const char *as_of; /* YYYY-MM-DD */
	struct pf_ledger_row *rows;
	size_t nrows;
	struct pf_ledger_row total;	  /* district NULL (printed "total" / 合计), ranks 0 */
	const struct pf_overdue *overdue; /* printed under table and md output */
	size_t noverdue;
};

enum pf_ledger_format { PF_LEDGER_TABLE = 0, PF_LEDGER_CSV, PF_LEDGER_JSON, PF_LEDGER_MD };
enum pf_ledger_lang { PF_LEDGER_EN = 0, PF_LEDGER_ZH };

/* completed / target x 100 in hundredths, rounded half up; PF_RATE_NONE if target <= 0. */
int64_t pf_rate_hundredths(int64_t completed, int64_t target);
/* "83.70%", "226.33%", or "-" for PF_RATE_NONE. */
void pf_rate_format(int64_t rate, char *buf, size_t len);
/* Standard competition ranks of values (larger is better): 1, 1, 3, ... */
void pf_competition_rank(const int64_t *values, size_t n, int *ranks);
/*
 * Fill rate, completed_rank and rate_rank of every row (the rate rank on the rate as printed,
 * capped at 100%; zero targets share the last rank), compute the total, and sort the rows by
 * completed rank, then district (byte order). Returns 0 or -ENOMEM.
 */
__attribute__((warn_unused_result)) int pf_ledger_rank(struct pf_ledger *l);
/* Render in a format and language (csv and json headers/keys per docs/contract.md). */
void pf_ledger_render(struct pf_buf *out, const struct pf_ledger *l, enum pf_ledger_format fmt,
		      enum pf_ledger_lang lang);

/* ---- CSV input (csv.c) ----------------------------------------------------------------- */

struct pf_csv {
	const char *p; /* next byte */
	const char *end;
	size_t line;	 /* line of the next byte (1-based) */
	char *field_buf; /* storage of the current record's fields */
	size_t field_cap;
	const char **fields;
	size_t fields_cap;
};

/* Parse `len` bytes (a leading UTF-8 BOM is skipped). */
void pf_csv_init(struct pf_csv *c, const char *data, size_t len);
void pf_csv_free(struct pf_csv *c);
/*
 * Next record: 1 with *fields and *nfields (valid until the next call) and *line (where the record
 * starts), 0 at the end, or -EINVAL with what is wrong in err (the parse resumes on the next
 * line). Empty lines are skipped. A NUL byte in a field is an error (a C string would end
 * there). Fields are not checked for UTF-8 here.
 */
int pf_csv_next(struct pf_csv *c, const char *const **fields, size_t *nfields, size_t *line,
		char *err, size_t errlen);

#endif
