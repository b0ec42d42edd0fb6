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

#endif
