/* The ledger as text table, Markdown, CSV or JSON, in English or Chinese. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_ledger.h"

#define NCOLS 6

static const char *const header_en[NCOLS] = {
	"district", "target", "completed", "completed_rank", "rate", "rate_rank",
};
static const char *const header_zh[NCOLS] = {
	"县（市、区）", "全年任务目标", "完成数", "完成情况排名", "完成率", "完成率排名",
};
static const enum pf_align align[NCOLS] = {
	PF_ALIGN_LEFT,	PF_ALIGN_RIGHT, PF_ALIGN_RIGHT,
	PF_ALIGN_RIGHT, PF_ALIGN_RIGHT, PF_ALIGN_RIGHT,
};

/* Text of one row's cells; rank 0 (the total row) prints empty. */
struct row_text {
	char target[24], completed[24], crank[16], rate[32], rrank[16];
};

static void row_text(const struct pf_ledger_row *r, struct row_text *t)
{
	snprintf(t->target, sizeof(t->target), "%" PRId64, r->target);
	snprintf(t->completed, sizeof(t->completed), "%" PRId64, r->completed);
	pf_rate_format(r->rate, t->rate, sizeof(t->rate));
	t->crank[0] = t->rrank[0] = '\0';
	if (r->completed_rank > 0)
		snprintf(t->crank, sizeof(t->crank), "%d", r->completed_rank);
	if (r->rate_rank > 0)
		snprintf(t->rrank, sizeof(t->rrank), "%d", r->rate_rank);
}

static void render_json(struct pf_buf *out, const struct pf_ledger *l)
{
	struct row_text t;

	pf_buf_printf(out, "{\"year\":%d,\"as_of\":", l->year);
	pf_buf_json_str(out, l->as_of);
	pf_buf_puts(out, ",\"rows\":[");
	for (size_t i = 0; i < l->nrows; i++) {
		const struct pf_ledger_row *r = &l->rows[i];

		row_text(r, &t);
		pf_buf_puts(out, i ? ",\n  {\"district\":" : "\n  {\"district\":");
		pf_buf_json_str(out, r->district);
		pf_buf_printf(out,
			      ",\"target\":%" PRId64 ",\"completed\":%" PRId64
			      ",\"completed_rank\":%d,\"rate\":",
			      r->target, r->completed, r->completed_rank);
		pf_buf_json_str(out, r->rate < 0 ? NULL : t.rate);
		pf_buf_printf(out, ",\"rate_rank\":%d}", r->rate_rank);
	}
	row_text(&l->total, &t);
	pf_buf_printf(out,
		      "],\n\"total\":{\"district\":\"total\",\"target\":%" PRId64
		      ",\"completed\":%" PRId64 ",\"rate\":",
		      l->total.target, l->total.completed);
	pf_buf_json_str(out, l->total.rate < 0 ? NULL : t.rate);
	pf_buf_puts(out, "}}\n");
}

static void render_overdue(struct pf_buf *out, const struct pf_ledger *l, enum pf_ledger_format fmt,
			   enum pf_ledger_lang lang)
{
	bool zh = lang == PF_LEDGER_ZH, md = fmt == PF_LEDGER_MD;
	const char *prev = NULL;
	bool first = true;

	pf_buf_puts(out, "\n");
	if (zh)
		pf_buf_printf(out, "%s逾期未接入停车场（截至%s）：%zu\n", md ? "**" : "", l->as_of,
			      l->noverdue);
	else
		pf_buf_printf(out, "%sOverdue lots (deadline passed, not connected by %s): %zu\n",
			      md ? "**" : "", l->as_of, l->noverdue);
	if (md && l->noverdue)
		pf_buf_puts(out, "\n");
	for (size_t i = 0; i < l->noverdue; i++) {
		const struct pf_overdue *o = &l->overdue[i];
		const char *d = o->district ? o->district : (zh ? "（未知）" : "(unknown)");

		if (first || strcmp(d, prev) != 0) {
			size_t n = 0;

			for (size_t j = i; j < l->noverdue; j++) {
				const char *dj = l->overdue[j].district;

				if ((dj == NULL) != (o->district == NULL) ||
				    (dj && strcmp(dj, o->district) != 0))
					break;
				n++;
			}
			pf_buf_puts(out, md ? "- " : "  ");
			pf_buf_human(out, d);
			pf_buf_printf(out, " (%zu)\n", n);
			prev = d;
			first = false;
		}
		pf_buf_printf(out, md ? "  - %s " : "    %s  ", o->lot_id);
		pf_buf_human(out, o->name ? o->name : "");
		pf_buf_printf(out, md ? " (%s %s, %s)\n" : "  (%s %s, %s)\n",
			      zh ? "期限" : "deadline", o->deadline, o->stage);
	}
}

void pf_ledger_render(struct pf_buf *out, const struct pf_ledger *l, enum pf_ledger_format fmt,
		      enum pf_ledger_lang lang)
{
	bool zh = lang == PF_LEDGER_ZH;
	size_t nrows = l->nrows + 1;
	struct row_text *txt;
	const char **cells;

	if (fmt == PF_LEDGER_JSON) {
		render_json(out, l);
		return;
	}
	txt = calloc(nrows, sizeof(*txt));
	cells = calloc(nrows * NCOLS, sizeof(*cells));
	if (!txt || !cells) {
		out->oom = true;
		goto out;
	}
	for (size_t i = 0; i < nrows; i++) {
		const struct pf_ledger_row *r = i < l->nrows ? &l->rows[i] : &l->total;
		const char **c = &cells[i * NCOLS];

		row_text(r, &txt[i]);
		c[0] = i < l->nrows ? r->district : (zh ? "合计" : "total");
		c[1] = txt[i].target;
		c[2] = txt[i].completed;
		c[3] = txt[i].crank;
		c[4] = txt[i].rate;
		c[5] = txt[i].rrank;
	}
	struct pf_table t = {
		.ncols = NCOLS,
		.header = zh ? header_zh : header_en,
		.align = align,
		.nrows = nrows,
		.cells = cells,
	};

	switch (fmt) {
	case PF_LEDGER_CSV:
		pf_table_csv(out, &t);
		break;
	case PF_LEDGER_MD:
		if (zh)
			pf_buf_printf(out,
				      "**%d年停车场接入市级智慧停车平台进度（截至%s，"
				      "此数据包含去年数据，为累计数）**\n\n",
				      l->year, l->as_of);
		else
			pf_buf_printf(out,
				      "**Lots connected to the city platform, %d, as of %s "
				      "(cumulative)**\n\n",
				      l->year, l->as_of);
		pf_table_md(out, &t);
		render_overdue(out, l, fmt, lang);
		break;
	default:
		if (zh)
			pf_buf_printf(out,
				      "%d年停车场接入进度  截至%s（此数据包含去年数据，"
				      "为累计数）\n\n",
				      l->year, l->as_of);
		else
			pf_buf_printf(out,
				      "Lots connected to the city platform, %d, as of %s "
				      "(cumulative)\n\n",
				      l->year, l->as_of);
		pf_table_text(out, &t);
		render_overdue(out, l, fmt, lang);
		break;
	}
out:
	free(txt);
	free(cells);
}
