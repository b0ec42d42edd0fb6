/* An RFC 4180 CSV reader over a buffer: quoted fields, "" escapes, CRLF or LF, line numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_ledger.h"

void pf_csv_init(struct pf_csv *c, const char *data, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->p = data;
	c->end = data + len;
	c->line = 1;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		c->p += 3;
}

void pf_csv_free(struct pf_csv *c)
{
	free(c->field_buf);
	free(c->fields);
	c->field_buf = NULL;
	c->fields = NULL;
}

/* Skip to the start of the next line (after an error). */
static void skip_line(struct pf_csv *c)
{
	while (c->p < c->end && *c->p != '\n')
		c->p++;
	if (c->p < c->end) {
		c->p++;
		c->line++;
	}
}

/*
 * A NUL byte cannot be part of a C string field: taken as it is, it would cut the field short
 * without a word. A file holding one is not CSV text (UTF-16, a spreadsheet's binary format).
 */
static int nul_byte(struct pf_csv *c, size_t nf, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "field %zu holds a NUL byte (on line %zu): the file is not UTF-8 text; save it as "
		 "CSV UTF-8",
		 nf + 1, c->line);
	skip_line(c);
	return -EINVAL;
}

int pf_csv_next(struct pf_csv *c, const char *const **fields, size_t *nfields, size_t *line,
		char *err, size_t errlen)
{
	size_t need = (size_t)(c->end - c->p) + 1, used = 0, nf = 0;
	size_t *starts;

	/* skip empty lines */
	while (c->p < c->end &&
	       (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n'))) {
		c->p += *c->p == '\r' ? 2 : 1;
		c->line++;
	}
	if (c->p >= c->end)
		return 0;
	*line = c->line;

	/* every field of the record fits in what is left of the input, plus NULs */
	if (need * 2 > c->field_cap) {
		char *nb = realloc(c->field_buf, need * 2);

		if (!nb)
			return -ENOMEM;
		c->field_buf = nb;
		c->field_cap = need * 2;
	}
	starts = NULL;
	for (;;) {
		size_t start = used;

		if (c->p < c->end && *c->p == '"') {
			size_t qline = c->line;

			c->p++;
			for (;;) {
				if (c->p >= c->end) {
					snprintf(err, errlen,
						 "quoted field opened on line %zu is "
						 "never closed",
						 qline);
					free(starts);
					return -EINVAL;
				}
				if (*c->p == '"') {
					if (c->p + 1 < c->end && c->p[1] == '"') {
						c->field_buf[used++] = '"';
						c->p += 2;
						continue;
					}
					c->p++;
					break;
				}
				if (*c->p == '\n')
					c->line++;
				if (*c->p == '\0') {
					free(starts);
					return nul_byte(c, nf, err, errlen);
				}
				c->field_buf[used++] = *c->p++;
			}
			if (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
			    !(*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n') &&
			    !(*c->p == '\r' && c->p + 1 == c->end)) {
				snprintf(err, errlen, "field %zu: text after the closing quote",
					 nf + 1);
				free(starts);
				skip_line(c);
				return -EINVAL;
			}
		} else {
			while (c->p < c->end && *c->p != ',' && *c->p != '\n') {
				if (*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n'))
					break;
				if (*c->p == '"') {
					snprintf(
						err, errlen,
						"field %zu: a quote inside an unquoted "
						"field (quote the whole field and double the quote)",
						nf + 1);
					free(starts);
					skip_line(c);
					return -EINVAL;
				}
				if (*c->p == '\0') {
					free(starts);
					return nul_byte(c, nf, err, errlen);
				}
				c->field_buf[used++] = *c->p++;
			}
		}
		c->field_buf[used++] = '\0';
		size_t *ns = realloc(starts, (nf + 1) * sizeof(*ns));

		if (!ns) {
			free(starts);
			return -ENOMEM;
		}
		starts = ns;
		starts[nf++] = start;

		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n') {
			c->p++;
			c->line++;
		}
		break;
	}
	if (nf > c->fields_cap) {
		const char **nfp = realloc(c->fields, nf * sizeof(*nfp));

		if (!nfp) {
			free(starts);
			return -ENOMEM;
		}
		c->fields = nfp;
		c->fields_cap = nf;
	}
	for (size_t i = 0; i < nf; i++)
		c->fields[i] = c->field_buf + starts[i];
	free(starts);
	*fields = c->fields;
	*nfields = nf;
	return 1;
}
