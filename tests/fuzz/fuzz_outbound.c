/* libFuzzer target: the builtin's outbound extraction (llm_builtin_extract
 * with llm_schema_outbound) and llm_builtin_framing_score. The input is
 * split at NUL bytes: the email's text, then a file name and a document
 * text for each attachment (at most FUZZ_OUT_DOCS). Checks: the framing
 * score is >= 0 and names a document of the input; the answer is the same
 * for the same input, NUL-terminated, never has a wrong type, field or
 * vocabulary value, and is wholly valid whenever the input is what ingest
 * hands over (valid UTF-8 throughout; file names of 1..512 bytes, no two
 * alike). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm/builtin.h"
#include "llm/schemas.h"
#include "tests/fuzz/fuzz_llm.h"

#define FUZZ_OUT_DOCS 16

/* fuzz_out_lenient: the errors an answer may have for input ingest would
 * not produce: a quote or a name that is not valid UTF-8 or too long, a
 * name shared by two documents. */
static int fuzz_out_lenient(const struct llm_verrs *e)
{
    size_t i;

    for (i = 0; i < e->n; i++) {
        enum llm_vcode c = e->v[i].code;
        if (c != LLM_V_NOT_GROUNDED && c != LLM_V_MIN_LENGTH &&
            c != LLM_V_MAX_LENGTH && c != LLM_V_UNKNOWN_DOC &&
            c != LLM_V_OFFSET && c != LLM_V_MAX_ITEMS)
            return 0;
    }
    return 1;
}

static void fuzz_out_score(const struct llm_input *in, const char *s, size_t n)
{
    size_t doc = 99;
    int score = llm_builtin_framing_score(in, s, n, &doc);

    FUZZ_CHECK(score >= 0);
    FUZZ_CHECK(in->n_docs == 0 ? doc == 0 : doc < in->n_docs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct llm_doc docs[FUZZ_OUT_DOCS];
    char *names[FUZZ_OUT_DOCS];
    const uint8_t *p = data, *end = data + size, *nul;
    struct llm_verrs errs = {NULL, 0};
    struct llm_input in;
    struct sw_buf out, again;
    size_t nd = 0, i, j, len;
    int strict;

    memset(&in, 0, sizeof(in));
    memset(docs, 0, sizeof(docs));
    nul = memchr(p, 0, size);
    in.text = (const char *)p;
    in.len = nul ? (size_t)(nul - p) : size;
    strict = sw_utf8_valid(p, in.len);
    p = nul ? nul + 1 : end;
    while (p < end && nd < FUZZ_OUT_DOCS) {
        nul = memchr(p, 0, (size_t)(end - p));
        len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        names[nd] = sw_malloc(len + 1);
        FUZZ_CHECK(names[nd] != NULL);
        memcpy(names[nd], p, len);
        names[nd][len] = '\0';
        strict = strict && len >= 1 && len <= 512 && sw_utf8_valid(p, len);
        for (j = 0; j < nd; j++)
            strict = strict && strcmp(names[j], names[nd]) != 0;
        docs[nd].name = names[nd];
        p = nul ? nul + 1 : end;
        nul = memchr(p, 0, (size_t)(end - p));
        len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        docs[nd].text = (const char *)p;
        docs[nd].len = len;
        strict = strict && sw_utf8_valid(p, len);
        p = nul ? nul + 1 : end;
        nd++;
    }
    in.docs = docs;
    in.n_docs = nd;

    fuzz_out_score(&in, in.text, in.len);
    for (i = 0; i < nd; i++)
        fuzz_out_score(&in, docs[i].text, docs[i].len);

    sw_buf_init(&out, 16u << 20);
    sw_buf_init(&again, 16u << 20);
    FUZZ_CHECK(llm_builtin_extract(&llm_schema_outbound, &in, &out) == SW_OK);
    FUZZ_CHECK(llm_builtin_extract(&llm_schema_outbound, &in, &again) == SW_OK);
    FUZZ_CHECK(sw_buf_len(&again) == sw_buf_len(&out) &&
               memcmp(sw_buf_str(&again), sw_buf_str(&out), sw_buf_len(&out)) ==
                   0);
    if (fuzz_answer_errors(&llm_schema_outbound, &in, &out, &errs, strict) > 0)
        FUZZ_CHECK(!strict && fuzz_out_lenient(&errs));
    llm_verrs_clear(&errs);
    sw_buf_free(&again);
    sw_buf_free(&out);
    for (i = 0; i < nd; i++)
        sw_free(names[i]);
    return 0;
}
