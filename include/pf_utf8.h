/* Strict UTF-8, the one definition every module checks text against. */
#ifndef PF_UTF8_H
#define PF_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence at s, which has n > 0 bytes left, or 0
 * when it is not one (overlong forms, surrogates, code points past U+10FFFF, truncation).
 */
size_t pf_utf8_seq(const uint8_t *s, size_t n);
/* Decode one code point: bytes used (1..4), or -1 for an invalid or truncated sequence. */
int pf_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Whole string is well-formed UTF-8. */
bool pf_utf8_valid(const char *s, size_t len);

/*
 * Text safe to store and to show: well-formed UTF-8 without control characters (C0 including
 * NUL, tab and line breaks, DEL, and the C1 range U+0080..U+009F, which terminals may obey
 * as escape sequences).
 */
bool pf_utf8_clean(const uint8_t *s, size_t n);

/*
 * Make the n bytes at s clean in place: each control character (NUL included) and each byte
 * that is not part of a well-formed sequence becomes '?'; a two-byte C1 character becomes one
 * '?', so the text only shrinks. Writes a NUL after the result (s has room for n + 1 bytes)
 * and returns its length.
 */
size_t pf_utf8_sanitize(char *s, size_t n);

#endif
