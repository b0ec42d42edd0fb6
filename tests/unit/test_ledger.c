/* Unit tests of pfledger: ranks, rates, display width, tables, the ledger renderings, CSV. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pf_ledger.h"

static void check_ranks(const int64_t *v, size_t n, const int *want)
{
	int got[16];

	pf_competition_rank(v, n, got);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

static void test_competition_rank(void **state)
{
	static const int64_t a[] = {10, 10, 8, 7, 7, 7, 1};
	static const int ra[] = {1, 1, 3, 4, 4, 4, 7};
	static const int64_t b[] = {3, 5, 5, 9};
	static const int rb[] = {4, 2, 2, 1};
	static const int64_t c[] = {0, 0, 0};
	static const int rc[] = {1, 1, 1};

	check_ranks(a, 7, ra);
	check_ranks(b, 4, rb);
	check_ranks(c, 3, rc);
	check_ranks(NULL, 0, NULL);
}

static void test_rate(void **state)
{
	char buf[32];

	assert_int_equal(pf_rate_hundredths(77, 92), 8370);    /* 83.6956... */
	assert_int_equal(pf_rate_hundredths(679, 300), 22633); /* 226.333... */
	assert_int_equal(pf_rate_hundredths(1, 8), 1250);      /* exact */
	assert_int_equal(pf_rate_hundredths(1, 32), 313);      /* 3.125: half up */
	assert_int_equal(pf_rate_hundredths(1, 16), 625);
	assert_int_equal(pf_rate_hundredths(1, 3), 3333);
	assert_int_equal(pf_rate_hundredths(2, 3), 6667);
	assert_int_equal(pf_rate_hundredths(1, 800), 13);  /* 0.125%: half up */
	assert_int_equal(pf_rate_hundredths(1, 20000), 1); /* 0.005%: half up */
	assert_int_equal(pf_rate_hundredths(1, 80000), 0); /* 0.00125% */
	assert_int_equal(pf_rate_hundredths(2, 3000), 7);  /* 0.0666...% */
	assert_int_equal(pf_rate_hundredths(0, 5), 0);
	assert_int_equal(pf_rate_hundredths(5, 0), PF_RATE_NONE);
	assert_int_equal(pf_rate_hundredths(0, 0), PF_RATE_NONE);

	pf_rate_format(8370, buf, sizeof(buf));
	assert_string_equal(buf, "83.70%");
	pf_rate_format(22633, buf, sizeof(buf));
	assert_string_equal(buf, "226.33%");
	pf_rate_format(10000, buf, sizeof(buf));
	assert_string_equal(buf, "100.00%");
	pf_rate_format(5, buf, sizeof(buf));
	assert_string_equal(buf, "0.05%");
	pf_rate_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0.00%");
	pf_rate_format(PF_RATE_NONE, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static struct pf_ledger_row *find(struct pf_ledger *l, const char *d)
{
	for (size_t i = 0; i < l->nrows; i++)
		if (strcmp(l->rows[i].district, d) == 0)
			return &l->rows[i];
	fail_msg("no row %s", d);
	return NULL;
}

/* 120%, 100%, 90%, 90%, 50% rank 1, 1, 3, 3, 5 by rate. */
static void test_rank_capped(void **state)
{
	struct pf_ledger_row rows[] = {
		{.district = "E", .target = 10, .completed = 5},
		{.district = "A", .target = 10, .completed = 12},
		{.district = "C", .target = 10, .completed = 9},
		{.district = "B", .target = 20, .completed = 20},
		{.district = "D", .target = 20, .completed = 18},
	};
	struct pf_ledger l = {.year = 2023, .as_of = "2023-06-30", .rows = rows, .nrows = 5};

	assert_int_equal(pf_ledger_rank(&l), 0);
	assert_int_equal(find(&l, "A")->rate_rank, 1);
	assert_int_equal(find(&l, "B")->rate_rank, 1);
	assert_int_equal(find(&l, "C")->rate_rank, 3);
	assert_int_equal(find(&l, "D")->rate_rank, 3);
	assert_int_equal(find(&l, "E")->rate_rank, 5);
	/* completed: B 20, D 18, A 12, C 9, E 5 */
	assert_int_equal(find(&l, "B")->completed_rank, 1);
	assert_int_equal(find(&l, "D")->completed_rank, 2);
	assert_int_equal(find(&l, "A")->completed_rank, 3);
	assert_int_equal(find(&l, "E")->completed_rank, 5);
	/* sorted by completed rank */
	assert_string_equal(l.rows[0].district, "B");
	assert_string_equal(l.rows[1].district, "D");
	assert_string_equal(l.rows[4].district, "E");
	assert_int_equal(l.total.target, 70);
	assert_int_equal(l.total.completed, 64);
	assert_int_equal(l.total.rate, 9143); /* 91.428... */
	assert_int_equal(l.total.completed_rank, 0);
}

/* Equal completed counts share a rank; the tie is ordered by district name. */
static void test_rank_ties_sorted(void **state)
{
	struct pf_ledger_row rows[] = {
		{.district = "温县", .target = 3, .completed = 2},
		{.district = "博爱县", .target = 3, .completed = 2},
		{.district = "修武县", .target = 4, .completed = 3},
	};
	struct pf_ledger l = {.year = 2023, .as_of = "2023-06-30", .rows = rows, .nrows = 3};

	assert_int_equal(pf_ledger_rank(&l), 0);
	assert_string_equal(l.rows[0].district, "修武县");
	assert_int_equal(l.rows[1].completed_rank, 2);
	assert_int_equal(l.rows[2].completed_rank, 2);
	assert_true(strcmp(l.rows[1].district, l.rows[2].district) < 0);
	/* rates 75.00, 66.67, 66.67 */
	assert_int_equal(l.rows[0].rate_rank, 1);
	assert_int_equal(l.rows[1].rate_rank, 2);
	assert_int_equal(l.rows[2].rate_rank, 2);
}

/* A zero target prints "-" and ranks after every district with a rate. */
static void test_rank_zero_target(void **state)
{
	struct pf_ledger_row rows[] = {
		{.district = "Z1", .target = 0, .completed = 4},
		{.district = "A", .target = 10, .completed = 0},
		{.district = "Z2", .target = 0, .completed = 0},
		{.district = "B", .target = 10, .completed = 3},
	};
	struct pf_ledger l = {.year = 2023, .as_of = "2023-06-30", .rows = rows, .nrows = 4};

	assert_int_equal(pf_ledger_rank(&l), 0);
	assert_int_equal(find(&l, "B")->rate_rank, 1);
	assert_int_equal(find(&l, "A")->rate_rank, 2);
	assert_int_equal(find(&l, "Z1")->rate_rank, 3);
	assert_int_equal(find(&l, "Z2")->rate_rank, 3);
	assert_int_equal(find(&l, "Z1")->rate, PF_RATE_NONE);
	assert_int_equal(find(&l, "Z1")->completed_rank, 1);
	assert_int_equal(l.total.rate, 3500);
}

/* Rates equal as printed rank equal, though the fractions differ. */
static void test_rank_rate_as_printed(void **state)
{
	struct pf_ledger_row rows[] = {
		{.district = "A", .target = 3, .completed = 1},	       /* 33.333...% */
		{.district = "B", .target = 10000, .completed = 3333}, /* 33.33% */
	};
	struct pf_ledger l = {.year = 2023, .as_of = "2023-06-30", .rows = rows, .nrows = 2};

	assert_int_equal(pf_ledger_rank(&l), 0);
	assert_int_equal(rows[0].rate_rank, 1);
	assert_int_equal(rows[1].rate_rank, 1);
}

static void test_empty_ledger(void **state)
{
	struct pf_ledger l = {.year = 2024, .as_of = "2024-01-01"};
	struct pf_buf b;

	assert_int_equal(pf_ledger_rank(&l), 0);
	assert_int_equal(l.total.target, 0);
	assert_int_equal(l.total.rate, PF_RATE_NONE);
	pf_buf_init(&b);
	pf_ledger_render(&b, &l, PF_LEDGER_CSV, PF_LEDGER_EN);
	assert_string_equal(b.p, "district,target,completed,completed_rank,rate,rate_rank\n"
				 "total,0,0,,-,\n");
	pf_buf_free(&b);
	pf_ledger_render(&b, &l, PF_LEDGER_JSON, PF_LEDGER_EN);
	assert_string_equal(b.p, "{\"year\":2024,\"as_of\":\"2024-01-01\",\"rows\":[],\n"
				 "\"total\":{\"district\":\"total\",\"target\":0,\"completed\":0,"
				 "\"rate\":null}}\n");
	pf_buf_free(&b);
}

static void test_render_csv_json(void **state)
{
	struct pf_ledger_row rows[] = {
		{.district = "沁阳市", .target = 92, .completed = 77},
		{.district = "温县", .target = 300, .completed = 679},
		{.district = "a,\"b\"", .target = 0, .completed = 0},
	};
	struct pf_ledger l = {.year = 2023, .as_of = "2023-06-30", .rows = rows, .nrows = 3};
	struct pf_buf b;

	assert_int_equal(pf_ledger_rank(&l), 0);
	pf_buf_init(&b);
	pf_ledger_render(&b, &l, PF_LEDGER_CSV, PF_LEDGER_EN);
	assert_string_equal(b.p, "district,target,completed,completed_rank,rate,rate_rank\n"
				 "温县,300,679,1,226.33%,1\n"
				 "沁阳市,92,77,2,83.70%,2\n"
				 "\"a,\"\"b\"\"\",0,0,3,-,3\n"
				 "total,392,756,,192.86%,\n");
	pf_buf_free(&b);
	pf_ledger_render(&b, &l, PF_LEDGER_CSV, PF_LEDGER_ZH);
	assert_non_null(
		strstr(b.p, "县（市、区）,全年任务目标,完成数,完成情况排名,完成率,完成率排名\n"));
	assert_non_null(strstr(b.p, "\n合计,392,756,,192.86%,\n"));
	pf_buf_free(&b);
	pf_ledger_render(&b, &l, PF_LEDGER_JSON, PF_LEDGER_EN);
	assert_non_null(strstr(b.p, "{\"district\":\"温县\",\"target\":300,\"completed\":679,"
				    "\"completed_rank\":1,\"rate\":\"226.33%\",\"rate_rank\":1}"));
	assert_non_null(strstr(b.p, "{\"district\":\"a,\\\"b\\\"\",\"target\":0,\"completed\":0,"
				    "\"completed_rank\":3,\"rate\":null,\"rate_rank\":3}"));
	assert_non_null(strstr(b.p, "\"total\":{\"district\":\"total\",\"target\":392,"
				    "\"completed\":756,\"rate\":\"192.86%\"}"));
	pf_buf_free(&b);
}

static void test_width(void **state)
{
	assert_int_equal(pf_display_width(""), 0);
	assert_int_equal(pf_display_width("total"), 5);
	assert_int_equal(pf_display_width("温县"), 4);
	assert_int_equal(pf_display_width("县（市、区）"), 12); /* fullwidth parens, 、 */
	assert_int_equal(pf_display_width("合计"), 4);
	assert_int_equal(pf_display_width("e\xcc\x81"), 1);    /* e + combining acute */
	assert_int_equal(pf_display_width("\xe3\x80\x80"), 2); /* ideographic space */
	assert_int_equal(pf_display_width("한국"), 4);	       /* Hangul */
	assert_int_equal(pf_display_width("ＡＢ"), 4);	       /* fullwidth Latin */
	assert_int_equal(pf_display_width("ｱ"), 1);	       /* halfwidth katakana */
	assert_int_equal(pf_display_width("83.70%"), 6);
	assert_int_equal(pf_display_width("\xff"), 1); /* invalid byte */
	assert_int_equal(pf_wcwidth(0x4e2d), 2);
	assert_int_equal(pf_wcwidth(0x0301), 0);
	assert_int_equal(pf_wcwidth(0x200b), 0);
	assert_int_equal(pf_wcwidth('a'), 1);
}

static void test_utf8(void **state)
{
	uint32_t cp;

	assert_true(pf_utf8_valid("温县 abc", strlen("温县 abc")));
	assert_false(pf_utf8_valid("\xc3\x28", 2));	    /* bad continuation */
	assert_false(pf_utf8_valid("\xc0\xaf", 2));	    /* overlong */
	assert_false(pf_utf8_valid("\xed\xa0\x80", 3));	    /* surrogate */
	assert_false(pf_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(pf_utf8_valid("\xe6\xb8", 2));	    /* truncated */
	assert_int_equal(pf_utf8_decode("\xe6\xb8\xa9", 3, &cp), 3);
	assert_int_equal(cp, 0x6e29);
}

/* Columns line up by display width: every line of a table has the same width. */
static void test_table_alignment(void **state)
{
	static const char *const hdr[] = {"县（市、区）", "完成数", "rate"};
	static const enum pf_align al[] = {PF_ALIGN_LEFT, PF_ALIGN_RIGHT, PF_ALIGN_RIGHT};
	static const char *const cells[] = {
		"温县", "12", "83.70%", "Qinyang", "7", "226.33%", "合计", "19", "-",
	};
	struct pf_table t = {.ncols = 3, .header = hdr, .align = al, .nrows = 3, .cells = cells};
	struct pf_buf b;
	char *line, *save = NULL;
	size_t width = 0, n = 0;

	pf_buf_init(&b);
	pf_table_text(&b, &t);
	assert_string_equal(b.p, "县（市、区）  完成数     rate\n"
				 "-----------------------------\n"
				 "温县              12   83.70%\n"
				 "Qinyang            7  226.33%\n"
				 "合计              19        -\n");
	for (line = strtok_r(b.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		if (!width)
			width = pf_display_width(line);
		assert_int_equal(pf_display_width(line), width);
	}
	assert_int_equal(n, 5);
	pf_buf_free(&b);

	pf_table_md(&b, &t);
	assert_string_equal(
		b.p, "| 县（市、区） | 完成数 | rate |\n| --- | ---: | ---: |\n"
		     "| 温县 | 12 | 83.70% |\n| Qinyang | 7 | 226.33% |\n| 合计 | 19 | - |\n");
	pf_buf_free(&b);
}

/* The zh text ledger: header and total in Chinese, every table line equally wide. */
static void test_render_table_zh(void **state)
{
	struct pf_ledger_row rows[] = {
		{.district = "高新区", .target = 10, .completed = 4},
		{.district = "孟州市", .target = 8, .completed = 8},
	};
	struct pf_overdue od[] = {
		{.district = "高新区",
		 .lot_id = "GX-1",
		 .name = "停车场",
		 .deadline = "2023-03-01",
		 .stage = "planned"},
	};
	struct pf_ledger l = {.year = 2023,
			      .as_of = "2023-06-30",
			      .rows = rows,
			      .nrows = 2,
			      .overdue = od,
			      .noverdue = 1};
	struct pf_buf b;
	char *p, *save = NULL;
	size_t w = 0;
	int n = 0;

	assert_int_equal(pf_ledger_rank(&l), 0);
	pf_buf_init(&b);
	pf_ledger_render(&b, &l, PF_LEDGER_TABLE, PF_LEDGER_ZH);
	assert_non_null(strstr(b.p, "县（市、区）  全年任务目标  完成数  完成情况排名   完成率  "
				    "完成率排名\n"));
	assert_non_null(strstr(b.p, "\n合计                    18      12"));
	assert_non_null(strstr(b.p, "GX-1"));
	p = strstr(b.p, "县（市、区）");
	for (char *line = strtok_r(p, "\n", &save); line && n < 4;
	     line = strtok_r(NULL, "\n", &save), n++) {
		if (!w)
			w = pf_display_width(line);
		/* header, rule and rows are equally wide (the total row ends early: no rank) */
		assert_int_equal(pf_display_width(line), w);
	}
	pf_buf_free(&b);
}

static void test_csv(void **state)
{
	static const char data[] = "\xef\xbb\xbf"
				   "a,b,c\r\n"
				   "1,\"x, \"\"y\"\"\",\r\n"
				   "\n"
				   "2,\"multi\nline\",z\n"
				   "3,bad\"quote,z\n"
				   "4,\"ok\"x,z\n"
				   "5,\"open";
	struct pf_csv c;
	const char *const *f;
	size_t nf, line;
	char err[128];

	pf_csv_init(&c, data, sizeof(data) - 1);
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 1);
	assert_int_equal(nf, 3);
	assert_int_equal(line, 1);
	assert_string_equal(f[0], "a");
	assert_string_equal(f[2], "c");
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 1);
	assert_int_equal(line, 2);
	assert_int_equal(nf, 3);
	assert_string_equal(f[1], "x, \"y\"");
	assert_string_equal(f[2], "");
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 1);
	assert_int_equal(line, 4);
	assert_string_equal(f[1], "multi\nline");
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 6);
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 7);
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 8);
	assert_non_null(strstr(err, "never closed"));
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 0);
	pf_csv_free(&c);
}

/* What a controller or a CSV wrote is shown, never obeyed, in every human format. */
static void test_human_escape(void **state)
{
	static const char hostile[] = "\x1b]0;PWNED\x07\x1b[2K\x1b[1Aok";
	static const char *const hdr[] = {"lot", "system"};
	static const enum pf_align al[] = {PF_ALIGN_LEFT, PF_ALIGN_LEFT};
	const char *cells[] = {"JZ-1", hostile, "JZ-2",
			       "停车\xc2\x9b"
			       "2J\x7f|\xff"};
	struct pf_table t = {.ncols = 2, .header = hdr, .align = al, .nrows = 2, .cells = cells};
	struct pf_buf b;

	pf_buf_init(&b);
	pf_buf_human(&b, hostile);
	assert_string_equal(b.p, "\\x1b]0;PWNED\\x07\\x1b[2K\\x1b[1Aok");
	assert_int_equal(pf_human_width(hostile), strlen(b.p));
	pf_buf_free(&b);
	pf_buf_human(&b, "温县\n\t\xc2\x85\xc2\xa0ok");
	assert_string_equal(b.p, "温县\\x0a\\x09\\u0085\xc2\xa0ok");
	assert_int_equal(pf_human_width("温县\n"), 8);
	pf_buf_free(&b);

	pf_table_text(&b, &t);
	assert_string_equal(b.p, "lot   system\n"
				 "--------------------------------------\n"
				 "JZ-1  \\x1b]0;PWNED\\x07\\x1b[2K\\x1b[1Aok\n"
				 "JZ-2  停车\\u009b2J\\x7f|\\xff\n");
	assert_null(memchr(b.p, 0x1b, b.len));
	pf_buf_free(&b);
	pf_table_md(&b, &t);
	assert_string_equal(b.p, "| lot | system |\n| --- | --- |\n"
				 "| JZ-1 | \\x1b]0;PWNED\\x07\\x1b[2K\\x1b[1Aok |\n"
				 "| JZ-2 | 停车\\u009b2J\\x7f\\|\\xff |\n");
	pf_buf_free(&b);
}

/* CSV and JSON keep the text, escaped as each format requires. */
static void test_data_escape(void **state)
{
	struct pf_buf b;

	pf_buf_init(&b);
	pf_buf_csv_field(&b, "plain 温县");
	pf_buf_puts(&b, ",");
	pf_buf_csv_field(&b, "\x1b[2Jx");
	pf_buf_puts(&b, ",");
	pf_buf_csv_field(&b, "tab\there");
	pf_buf_puts(&b, ",");
	pf_buf_csv_field(&b, "c1\xc2\x9b");
	pf_buf_puts(&b, ",");
	pf_buf_csv_field(&b, "q\"\n");
	assert_string_equal(b.p,
			    "plain 温县,\"\x1b[2Jx\",\"tab\there\",\"c1\xc2\x9b\",\"q\"\"\n\"");
	pf_buf_free(&b);

	pf_buf_json_str(&b, "\x1b]0;x\x07 \x7f\xc2\x9b \xe2\x80\xa8 温\"\\\n\xff");
	assert_string_equal(b.p,
			    "\"\\u001b]0;x\\u0007 \\u007f\\u009b \\u2028 温\\\"\\\\\\n\\ufffd\"");
	pf_buf_free(&b);
}

/* A NUL inside a field is an error naming its line, not a silently shortened field. */
static void test_csv_nul(void **state)
{
	static const char data[] = "a,b\n"
				   "1,fine\n"
				   "2,cut\0here\n"
				   "3,\"quoted\n\0\"\n"
				   "4,after\n";
	struct pf_csv c;
	const char *const *f;
	size_t nf, line;
	char err[160];

	pf_csv_init(&c, data, sizeof(data) - 1);
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 1);
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 1);
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 3);
	assert_string_equal(err, "field 2 holds a NUL byte (on line 3): the file is not UTF-8 "
				 "text; save it as CSV UTF-8");
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 4);
	assert_non_null(strstr(err, "field 2 holds a NUL byte (on line 5)"));
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 1);
	assert_int_equal(line, 6);
	assert_string_equal(f[1], "after");
	assert_int_equal(pf_csv_next(&c, &f, &nf, &line, err, sizeof(err)), 0);
	pf_csv_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_competition_rank),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_rank_capped),
		cmocka_unit_test(test_rank_ties_sorted),
		cmocka_unit_test(test_rank_zero_target),
		cmocka_unit_test(test_rank_rate_as_printed),
		cmocka_unit_test(test_empty_ledger),
		cmocka_unit_test(test_render_csv_json),
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_table_alignment),
		cmocka_unit_test(test_render_table_zh),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_human_escape),
		cmocka_unit_test(test_data_escape),
		cmocka_unit_test(test_csv_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
