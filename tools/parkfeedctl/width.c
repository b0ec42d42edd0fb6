/* Terminal display width (a wcwidth for the ranges ledgers contain), and text shown escaped. */
#include <stdio.h>
#include <string.h>

#include "pf_ledger.h"
#include "pf_utf8.h"

struct range {
	uint32_t lo, hi;
};

/* Combining marks and other zero-width code points. */
static const struct range zero_width[] = {
	{0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd},	{0x0610, 0x061a}, {0x064b, 0x065f},
	{0x0670, 0x0670}, {0x06d6, 0x06dc}, {0x06df, 0x06e4},	{0x0e31, 0x0e31}, {0x0e34, 0x0e3a},
	{0x0e47, 0x0e4e}, {0x1ab0, 0x1aff}, {0x1dc0, 0x1dff},	{0x200b, 0x200f}, {0x202a, 0x202e},
	{0x2060, 0x2064}, {0x20d0, 0x20ff}, {0x302a, 0x302d},	{0x3099, 0x309a}, {0xfe00, 0xfe0f},
	{0xfe20, 0xfe2f}, {0xfeff, 0xfeff}, {0xe0100, 0xe01ef},
};

/* East Asian Wide and Fullwidth. */
static const struct range wide[] = {
	{0x1100, 0x115f},   /* Hangul Jamo initial consonants */
	{0x2e80, 0x303e},   /* CJK radicals, Kangxi, ideographic description, CJK punctuation */
	{0x3041, 0x33ff},   /* Hiragana .. CJK compatibility */
	{0x3400, 0x4dbf},   /* CJK Unified Ideographs Extension A */
	{0x4e00, 0x9fff},   /* CJK Unified Ideographs */
	{0xa000, 0xa4cf},   /* Yi */
	{0xa960, 0xa97f},   /* Hangul Jamo Extended-A */
	{0xac00, 0xd7a3},   /* Hangul syllables */
	{0xf900, 0xfaff},   /* CJK compatibility ideographs */
	{0xfe10, 0xfe19},   /* vertical forms */
	{0xfe30, 0xfe6f},   /* CJK compatibility forms, small form variants */
	{0xff00, 0xff60},   /* fullwidth forms */
	{0xffe0, 0xffe6},   /* fullwidth signs */
	{0x1f300, 0x1f64f}, /* pictographs, emoticons */
	{0x1f900, 0x1f9ff}, /* supplemental symbols and pictographs */
	{0x20000, 0x2fffd}, /* CJK Extensions B.. */
	{0x30000, 0x3fffd}, /* CJK Extension G.. */
};

static bool in_ranges(uint32_t cp, const struct range *r, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

int pf_wcwidth(uint32_t cp)
{
	if (cp == 0)
		return 0;
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		return 0;
	if (in_ranges(cp, zero_width, sizeof(zero_width) / sizeof(zero_width[0])))
		return 0;
	if (in_ranges(cp, wide, sizeof(wide) / sizeof(wide[0])))
		return 2;
	return 1;
}

size_t pf_display_width(const char *s)
{
	size_t len = strlen(s), w = 0;
	uint32_t cp;

	while (len > 0) {
		int n = pf_utf8_decode(s, len, &cp);

		if (n < 0) {
			w++;
			n = 1;
		} else {
			w += (size_t)pf_wcwidth(cp);
		}
		s += n;
		len -= (size_t)n;
	}
	return w;
}

/* The visible form of one escaped character, or NULL for one shown as it is. */
static const char *human_escape(const char *s, size_t n, int *used, char esc[8])
{
	uint32_t cp;

	*used = pf_utf8_decode(s, n, &cp);
	if (*used < 0) {
		*used = 1;
		snprintf(esc, 8, "\\x%02x", (unsigned char)*s);
	} else if (cp < 0x20 || cp == 0x7f) {
		snprintf(esc, 8, "\\x%02x", (unsigned)cp);
	} else if (cp >= 0x80 && cp < 0xa0) {
		snprintf(esc, 8, "\\u%04x", (unsigned)cp);
	} else {
		return NULL;
	}
	return esc;
}

void pf_buf_human(struct pf_buf *b, const char *s)
{
	pf_buf_human_n(b, s, strlen(s));
}

void pf_buf_human_n(struct pf_buf *b, const char *s, size_t n)
{
	size_t run = 0;
	char esc[8];
	int k;

	while (run < n) {
		const char *e = human_escape(s + run, n - run, &k, esc);

		if (!e) {
			run += (size_t)k;
			continue;
		}
		pf_buf_add(b, s, run);
		pf_buf_puts(b, e);
		s += run + (size_t)k;
		n -= run + (size_t)k;
		run = 0;
	}
	pf_buf_add(b, s, run);
}

size_t pf_human_width(const char *s)
{
	size_t n = strlen(s), w = 0;
	uint32_t cp;
	char esc[8];
	int k;

	for (; n > 0; s += k, n -= (size_t)k) {
		const char *e = human_escape(s, n, &k, esc);

		if (e)
			w += strlen(e);
		else if (pf_utf8_decode(s, n, &cp) > 0)
			w += (size_t)pf_wcwidth(cp);
	}
	return w;
}
