/* libFuzzer target: llm_builtin_reply_label on arbitrary reply text, and
 * the builtin's reply answer made from it (llm_builtin_extract with
 * llm_schema_reply). Besides memory errors it checks the contract: the
 * label is one of llm_reply_labels; the evidence span lies in [0, n) and
 * is a trimmed, non-empty sentence (the whole text when the text is all
 * whitespace); the answer is NUL-terminated JSON with the same label and
 * that span as evidence (cut at the schema's 1,000 bytes), which the reply
 * schema's validator accepts whenever the text is what ingest hands over
 * (valid UTF-8, no NUL) and holds something to quote. The labeller runs
 * twice (alone and inside the answer), so both must agree. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm/builtin.h"
#include "llm/schemas.h"
#include "tests/fuzz/fuzz_llm.h"

static int fuzz_label_blank(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isspace(p[i]))
            return 0;
    return 1;
}

/* fuzz_label_lenient: the errors an answer may have when the text is not
 * what ingest produces or has nothing to quote (a NUL, escaped as \u0000,
 * is refused by the JSON parser; invalid UTF-8 becomes U+FFFD, which the
 * text does not hold). Never a wrong label, type or field. */
static int fuzz_label_lenient(const struct llm_verrs *e, int has_nul)
{
    size_t i;

    for (i = 0; i < e->n; i++) {
        enum llm_vcode c = e->v[i].code;
        if (c != LLM_V_NOT_GROUNDED && c != LLM_V_MIN_LENGTH &&
            c != LLM_V_MAX_LENGTH && !(c == LLM_V_JSON && has_nul))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *label;
    size_t off = 0, len = 0;
    struct llm_verrs errs = {NULL, 0};
    struct llm_input in;
    struct sw_buf out, want;
    int strict;

    label = llm_builtin_reply_label(text, size, &off, &len);
    FUZZ_CHECK(label != NULL && llm_reply_label_kind(label) != 0);
    FUZZ_CHECK(off <= size && len <= size - off);
    if (fuzz_label_blank(data, size)) {
        FUZZ_CHECK(strcmp(label, "NEUTRAL") == 0 && off == 0 && len == size);
    } else {
        FUZZ_CHECK(len > 0 && !isspace(data[off]) &&
                   !isspace(data[off + len - 1]));
    }

    memset(&in, 0, sizeof(in));
    in.text = text;
    in.len = size;
    sw_buf_init(&out, 16u << 20);
    sw_buf_init(&want, 16u << 20);
    FUZZ_CHECK(llm_builtin_extract(&llm_schema_reply, &in, &out) == SW_OK);
    /* The answer is {"label":L,"evidence":E} with E the span, or (past the
     * schema's cap) a shorter start of it. */
    FUZZ_CHECK(sw_buf_printf(&want, "{\"label\":\"%s\",\"evidence\":", label) ==
               SW_OK);
    if (len <= 1000) {
        FUZZ_CHECK(sw_buf_add_json_str(&want, text + off, len) == SW_OK);
        FUZZ_CHECK(sw_buf_addc(&want, '}') == SW_OK);
        FUZZ_CHECK(sw_buf_len(&out) == sw_buf_len(&want));
    }
    FUZZ_CHECK(sw_buf_len(&out) >= sw_buf_len(&want) &&
               memcmp(sw_buf_str(&out), sw_buf_str(&want), sw_buf_len(&want)) ==
                   0);
    strict = sw_utf8_valid(data, size) && fuzz_quotable(text, size);
    if (fuzz_answer_errors(&llm_schema_reply, &in, &out, &errs, strict) > 0)
        FUZZ_CHECK(!strict &&
                   fuzz_label_lenient(&errs, memchr(data, 0, size) != NULL));
    llm_verrs_clear(&errs);
    sw_buf_free(&want);
    sw_buf_free(&out);
    return 0;
}
