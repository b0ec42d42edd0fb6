/* Tables as aligned text (by display width, so CJK lines up), GitHub Markdown or CSV. Text and
 * Markdown are read in terminals: cells go through pf_buf_human. */
#include <stdlib.h>
#include <string.h>

#include "pf_ledger.h"

static const char *cell(const struct pf_table *t, size_t r, size_t c)
{
	const char *s = t->cells[r * t->ncols + c];

	return s ? s : "";
}

static void put_padded(struct pf_buf *out, const char *s, size_t width, enum pf_align align,
		       bool last)
{
	size_t w = pf_human_width(s);
	size_t pad = width > w ? width - w : 0;

	if (align == PF_ALIGN_RIGHT)
		pf_buf_pad(out, ' ', pad);
	pf_buf_human(out, s);
	if (align == PF_ALIGN_LEFT && !last)
		pf_buf_pad(out, ' ', pad);
}

void pf_table_text(struct pf_buf *out, const struct pf_table *t)
{
	size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(*width));
	size_t total = 0;

	if (!width) {
		out->oom = true;
		return;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = pf_human_width(t->header[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = pf_human_width(cell(t, r, c));

			if (w > width[c])
				width[c] = w;
		}
		total += width[c] + (c ? 2 : 0);
	}
	for (size_t c = 0; c < t->ncols; c++) {
		if (c)
			pf_buf_puts(out, "  ");
		put_padded(out, t->header[c], width[c], t->align[c], c + 1 == t->ncols);
	}
	pf_buf_puts(out, "\n");
	pf_buf_pad(out, '-', total);
	pf_buf_puts(out, "\n");
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (c)
				pf_buf_puts(out, "  ");
			put_padded(out, cell(t, r, c), width[c], t->align[c], c + 1 == t->ncols);
		}
		while (!out->oom && out->len && out->p[out->len - 1] == ' ')
			out->p[--out->len] = '\0'; /* an empty right-aligned last cell */
		pf_buf_puts(out, "\n");
	}
	free(width);
}

/* | is escaped and a line break is a space, as a table row is one line; the rest as text. */
static void md_cell(struct pf_buf *out, const char *s)
{
	pf_buf_puts(out, " ");
	for (;;) {
		size_t n = strcspn(s, "|\n\r");

		pf_buf_human_n(out, s, n);
		if (!s[n])
			break;
		pf_buf_puts(out, s[n] == '|' ? "\\|" : " ");
		s += n + 1;
	}
	pf_buf_puts(out, " |");
}

void pf_table_md(struct pf_buf *out, const struct pf_table *t)
{
	pf_buf_puts(out, "|");
	for (size_t c = 0; c < t->ncols; c++)
		md_cell(out, t->header[c]);
	pf_buf_puts(out, "\n|");
	for (size_t c = 0; c < t->ncols; c++)
		pf_buf_puts(out, t->align[c] == PF_ALIGN_RIGHT ? " ---: |" : " --- |");
	pf_buf_puts(out, "\n");
	for (size_t r = 0; r < t->nrows; r++) {
		pf_buf_puts(out, "|");
		for (size_t c = 0; c < t->ncols; c++)
			md_cell(out, cell(t, r, c));
		pf_buf_puts(out, "\n");
	}
}

void pf_table_csv(struct pf_buf *out, const struct pf_table *t)
{
	for (size_t c = 0; c < t->ncols; c++) {
		if (c)
			pf_buf_puts(out, ",");
		pf_buf_csv_field(out, t->header[c]);
	}
	pf_buf_puts(out, "\n");
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (c)
				pf_buf_puts(out, ",");
			pf_buf_csv_field(out, cell(t, r, c));
		}
		pf_buf_puts(out, "\n");
	}
}
