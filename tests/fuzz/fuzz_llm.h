/* Helpers shared by the builtin extractor's fuzzers (fuzz_label.c,
 * fuzz_query.c, fuzz_outbound.c): a contract check that names the broken
 * rule before it traps, and the tests that decide which answers must be
 * valid. Static functions only: each fuzzer is one translation unit. */
#ifndef FUZZ_LLM_H
#define FUZZ_LLM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_utf8.h"
#include "llm/schema.h"
#include "llm/text.h"

/* FUZZ_CHECK: a broken contract is a finding, as a crash is. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "contract broken at %s:%d: %s\n", __FILE__,        \
                    __LINE__, #cond);                                          \
            __builtin_trap();                                                  \
        }                                                                      \
    } while (0)

/* fuzz_quotable: s[0..n) has something a grounded quote can hold, text
 * left after whitespace normalisation (llm_text_norm, U+00A0 included). */
static inline int fuzz_quotable(const char *s, size_t n)
{
    char *norm = NULL;
    size_t len = 0;

    if (llm_text_norm(s, n, &norm, &len) != SW_OK)
        abort(); /* out of memory: not a finding */
    sw_free(norm);
    return len > 0;
}

/* fuzz_answer_errors validates the builtin's answer out (NUL-terminated,
 * checked here) against schema s on input in, and returns how many errors
 * it has (in errs); when strict, the answer and its errors are printed
 * before the caller traps. */
static inline size_t fuzz_answer_errors(const struct llm_schema *s,
                                        const struct llm_input *in,
                                        const struct sw_buf *out,
                                        struct llm_verrs *errs, int strict)
{
    struct sw_buf why;

    FUZZ_CHECK(strlen(sw_buf_str(out)) == sw_buf_len(out));
    FUZZ_CHECK(llm_schema_validate(s, in, sw_buf_str(out), sw_buf_len(out),
                                   errs, NULL) == SW_OK);
    if (strict && errs->n > 0) {
        sw_buf_init(&why, 1 << 16);
        if (llm_verrs_format(errs, &why) == SW_OK)
            fprintf(stderr, "answer: %.2000s\nerrors:\n%s", sw_buf_str(out),
                    sw_buf_str(&why));
        sw_buf_free(&why);
    }
    return errs->n;
}

#endif
