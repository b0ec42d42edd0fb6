/* Unit tests for daemon/utf8.c: what counts as clean text and how the rest is replaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pf_utf8.h"

/* A literal and its length, inner NULs included. */
#define S(lit) lit, sizeof(lit) - 1

static bool clean(const char *s, size_t n)
{
	return pf_utf8_clean((const uint8_t *)s, n);
}

static void test_clean(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		bool clean;
	} cases[] = {
		{S(""), true},
		{S("JZ-SY-001 人民公园 ~"), true},
		{S("\xc2\xa0 nbsp, \xc2\xbf"), true}, /* U+00A0 and U+00BF: printable */
		{S("\xf0\x9f\x9a\x97"), true},	      /* U+1F697, four bytes */
		{S("a\000b"), false},		      /* NUL inside the length */
		{S("tab\t"), false},		      /* C0 */
		{S("\x1b[2J"), false},		      /* ESC */
		{S("\x1f"), false},		      /* last of C0 */
		{S("\x7f"), false},		      /* DEL */
		{S("\xc2\x80"), false},		      /* first of C1 */
		{S("\xc2\x9f"), false},		      /* last of C1 */
		{S("\xc2"), false},		      /* truncated */
		{S("\xc0\xaf"), false},		      /* overlong */
		{S("\xed\xa0\x80"), false},	      /* surrogate */
		{S("\xf4\x90\x80\x80"), false},	      /* past U+10FFFF */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (clean(cases[i].s, cases[i].n) != cases[i].clean)
			fail_msg("case %zu: expected %s", i,
				 cases[i].clean ? "clean" : "not clean");
}

static void test_sanitize(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
		{S(""), ""},
		{S("ok 停车"), "ok 停车"},
		{S("\x1b]0;PWNED\x07\x1b[2K\x1b[1Aok"), "?]0;PWNED??[2K?[1Aok"},
		{S("a\000b"), "a?b"},
		{S("\r\n\t\x7f"), "????"},
		{S("x\xc2\x9b"
		   "31m"),
		 "x?31m"},		     /* C1 CSI: two bytes, one '?' */
		{S("\xc2\xa0"), "\xc2\xa0"}, /* U+00A0 stays */
		{S("\xff\xfe"
		   "A"),
		 "??A"}, /* each broken byte */
		{S("\xe6\xb8"
		   "x"),
		 "??x"},		     /* a cut sequence */
		{S("end\xe5\x81"), "end??"}, /* cut at the end */
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(buf, cases[i].in, cases[i].n);
		memset(buf + cases[i].n, 'Z', sizeof(buf) - cases[i].n);
		assert_int_equal(pf_utf8_sanitize(buf, cases[i].n), strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
		assert_true(clean(buf, strlen(buf)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_sanitize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
