/* The ledger's arithmetic: completion rates, competition ranks, the total row, the row order. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_ledger.h"

int64_t pf_rate_hundredths(int64_t completed, int64_t target)
{
	if (target <= 0 || completed < 0)
		return PF_RATE_NONE;
	/* round(completed * 10000 / target), half up, in integers: no binary fractions */
	return (completed * 20000 + target) / (2 * target);
}

void pf_rate_format(int64_t rate, char *buf, size_t len)
{
	if (rate < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRId64 ".%02" PRId64 "%%", rate / 100, rate % 100);
}

void pf_competition_rank(const int64_t *values, size_t n, int *ranks)
{
	/* O(n^2), n is a handful of districts: rank = 1 + how many are strictly better */
	for (size_t i = 0; i < n; i++) {
		int better = 0;

		for (size_t j = 0; j < n; j++)
			if (values[j] > values[i])
				better++;
		ranks[i] = better + 1;
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct pf_ledger_row *x = a, *y = b;

	if (x->completed_rank != y->completed_rank)
		return x->completed_rank < y->completed_rank ? -1 : 1;
	return strcmp(x->district ? x->district : "", y->district ? y->district : "");
}

int pf_ledger_rank(struct pf_ledger *l)
{
	size_t n = l->nrows;
	int64_t *v = calloc(n ? n : 1, sizeof(*v));
	int *rk = calloc(n ? n : 1, sizeof(*rk));

	if (!v || !rk) {
		free(v);
		free(rk);
		return -ENOMEM;
	}
	memset(&l->total, 0, sizeof(l->total));
	for (size_t i = 0; i < n; i++) {
		struct pf_ledger_row *r = &l->rows[i];

		r->rate = pf_rate_hundredths(r->completed, r->target);
		l->total.target += r->target;
		l->total.completed += r->completed;
	}
	l->total.rate = pf_rate_hundredths(l->total.completed, l->total.target);

	for (size_t i = 0; i < n; i++)
		v[i] = l->rows[i].completed;
	pf_competition_rank(v, n, rk);
	for (size_t i = 0; i < n; i++)
		l->rows[i].completed_rank = rk[i];

	/* Rate as printed, capped at 100.00%; a zero target (no rate) below every real rate. */
	for (size_t i = 0; i < n; i++) {
		int64_t r = l->rows[i].rate;

		v[i] = r == PF_RATE_NONE ? -1 : (r > 10000 ? 10000 : r);
	}
	pf_competition_rank(v, n, rk);
	for (size_t i = 0; i < n; i++)
		l->rows[i].rate_rank = rk[i];

	if (n > 1)
		qsort(l->rows, n, sizeof(*l->rows), row_cmp);
	free(v);
	free(rk);
	return 0;
}
