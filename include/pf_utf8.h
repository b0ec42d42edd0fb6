/* Strict UTF-8, the one definition every module checks text against. */
#ifndef PF_UTF8_H
#define PF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence at s, which has n > 0 bytes left, or 0
 * when it is not one (overlong forms, surrogates, code points past U+10FFFF, truncation).
 */
size_t pf_utf8_seq(const uint8_t *s, size_t n);

#endif
