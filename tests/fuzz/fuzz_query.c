/* libFuzzer target: the builtin's query decomposition (llm_builtin_extract
 * with llm_schema_query) on an arbitrary thread and draft. The answer holds
 * no quote, so it must be valid whatever the bytes: NUL-terminated JSON
 * that the query schema's validator accepts, the same for the same text. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm/builtin.h"
#include "llm/schemas.h"
#include "tests/fuzz/fuzz_llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct llm_verrs errs = {NULL, 0};
    struct llm_input in;
    struct sw_buf out, again;

    memset(&in, 0, sizeof(in));
    in.text = (const char *)data;
    in.len = size;
    sw_buf_init(&out, 16u << 20);
    sw_buf_init(&again, 16u << 20);
    FUZZ_CHECK(llm_builtin_extract(&llm_schema_query, &in, &out) == SW_OK);
    FUZZ_CHECK(fuzz_answer_errors(&llm_schema_query, &in, &out, &errs, 1) == 0);
    FUZZ_CHECK(llm_builtin_extract(&llm_schema_query, &in, &again) == SW_OK);
    FUZZ_CHECK(sw_buf_len(&again) == sw_buf_len(&out) &&
               memcmp(sw_buf_str(&again), sw_buf_str(&out), sw_buf_len(&out)) ==
                   0);
    llm_verrs_clear(&errs);
    sw_buf_free(&again);
    sw_buf_free(&out);
    return 0;
}
