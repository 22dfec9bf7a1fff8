/* llm/schema: an output schema is defined once, as a static table of field
 * descriptors, and yields both the JSON Schema sent to the provider and the
 * validator run on the provider's answer, so the two can never drift.
 * Validation covers types, required fields, unknown fields, enums, lengths,
 * item counts, ranges, grounding (a quote must occur verbatim in the source
 * after whitespace normalisation), document references and offsets.
 * Schemas are immutable const data; every function here is thread-safe. */
#ifndef LLM_SCHEMA_H
#define LLM_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"

enum llm_type {
    LLM_T_STRING = 0,
    LLM_T_INT = 1,
    LLM_T_NUMBER = 2,
    LLM_T_BOOL = 3,
    LLM_T_ENUM = 4, /* a string from enum_values */
    LLM_T_ARRAY = 5,
    LLM_T_OBJECT = 6,
};

/* Field flags. */
#define LLM_F_REQUIRED 0x1u /* must be present and non-null */
#define LLM_F_GROUNDED 0x2u /* string occurs verbatim in the input's text */
#define LLM_F_GROUNDED_DOC                                                     \
    0x4u /* string occurs verbatim in the document named by the sibling        \
            LLM_F_DOCREF field */
#define LLM_F_DOCREF 0x8u /* string names a document of the input */
#define LLM_F_OFFSET                                                           \
    0x10u /* int: byte offset where the sibling grounded string starts in      \
             its source; checked when present */

/* One field. min/max bound a string's length in bytes, an array's item
 * count or an int's/number's value; both 0 means unbounded (for ints use
 * min > max to mean "no range" is not supported: set a real range).
 * Arrays describe their element in items[0]; objects list fields[0..n). */
struct llm_field {
    const char *name; /* NULL for array elements */
    enum llm_type type;
    unsigned flags;
    const char *desc;               /* sent to the model */
    const char *const *enum_values; /* NULL-terminated, LLM_T_ENUM */
    int64_t min, max;
    const struct llm_field *items; /* LLM_T_ARRAY */
    const struct llm_field *fields;
    size_t n_fields; /* LLM_T_OBJECT */
};

/* A whole output schema. The root is an object. */
struct llm_schema {
    const char *name;         /* "outbound_extraction" */
    int version;              /* bump when the fields or the prompt change */
    const char *instructions; /* the task, sent as the system prompt */
    const struct llm_field *root;
};

/* A document of the input (an attachment): name as the model must cite it
 * and its text. */
struct llm_doc {
    const char *name;
    const char *text;
    size_t len;
};

/* What a call is about: the main text (an email body, a reply, a query
 * context) and its documents. Borrowed; must outlive the call. */
struct llm_input {
    const char *text;
    size_t len;
    const struct llm_doc *docs;
    size_t n_docs;
};

/* Stable validation codes: values are journaled, never renumber. */
#define LLM_VERR_LIST(X)                                                       \
    X(LLM_V_JSON, 1, "json")                                                   \
    X(LLM_V_TYPE, 2, "type")                                                   \
    X(LLM_V_REQUIRED, 3, "required")                                           \
    X(LLM_V_UNKNOWN_FIELD, 4, "unknown_field")                                 \
    X(LLM_V_ENUM, 5, "enum")                                                   \
    X(LLM_V_MIN_LENGTH, 6, "min_length")                                       \
    X(LLM_V_MAX_LENGTH, 7, "max_length")                                       \
    X(LLM_V_MIN_ITEMS, 8, "min_items")                                         \
    X(LLM_V_MAX_ITEMS, 9, "max_items")                                         \
    X(LLM_V_RANGE, 10, "range")                                                \
    X(LLM_V_NOT_GROUNDED, 11, "not_grounded")                                  \
    X(LLM_V_UNKNOWN_DOC, 12, "unknown_document")                               \
    X(LLM_V_OFFSET, 13, "offset_mismatch")

enum llm_vcode {
#define LLM_VERR_ENUM(name, value, str) name = value,
    LLM_VERR_LIST(LLM_VERR_ENUM)
#undef LLM_VERR_ENUM
};

/* llm_vcode_str: the static name of a code ("not_grounded"), "?" if
 * unknown. */
const char *llm_vcode_str(enum llm_vcode c);

struct llm_verr {
    enum llm_vcode code;
    char *path;    /* "framings[2].text"; "" for the root */
    char *message; /* English, for logs and the re-ask */
};

/* A list of validation errors; owned by its holder. */
struct llm_verrs {
    struct llm_verr *v;
    size_t n;
};

/* llm_verrs_clear frees every error and empties the list; NULL is fine. */
void llm_verrs_clear(struct llm_verrs *e);

/* llm_verrs_format appends the errors to b, one per line, as
 * "path: message [code]". SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err llm_verrs_format(const struct llm_verrs *e,
                                      struct sw_buf *b);

/* llm_schema_json appends the JSON Schema of s (draft 2020-12 subset that
 * OpenAI strict mode accepts: every property listed in "required", optional
 * ones nullable, additionalProperties false) to b as compact JSON.
 * SW_ENOMEM, SW_ETOOBIG, SW_EINTERNAL (a malformed descriptor). */
SW_MUST_CHECK sw_err llm_schema_json(const struct llm_schema *s,
                                     struct sw_buf *b);

/* llm_schema_validate parses out[0..n) as JSON and validates it against s,
 * grounding quotes in in. Every error found is appended to *errs (up to 64);
 * *errs empty means valid. When canon is not NULL and the output is valid,
 * the canonical compact JSON (keys sorted) is appended to it.
 * Returns SW_OK whether or not the output is valid; SW_ENOMEM, SW_ETOOBIG
 * only for resource failures. */
SW_MUST_CHECK sw_err llm_schema_validate(const struct llm_schema *s,
                                         const struct llm_input *in,
                                         const char *out, size_t n,
                                         struct llm_verrs *errs,
                                         struct sw_buf *canon);

#endif
