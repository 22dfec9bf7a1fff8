/* llm/answer: typed views of validated answers, so that callers outside
 * llm/ (the extraction worker, ranking) never parse JSON themselves. Each
 * parser takes the canonical JSON that llm_call returned for its schema
 * (llm_result.output) and copies it into plain C structs. */
#ifndef LLM_ANSWER_H
#define LLM_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

/* A framing: a sentence of the email that introduces an attachment. */
struct llm_framing {
    char *text;    /* verbatim from the email */
    char *content; /* the attachment's file name as the model cited it */
    int64_t start; /* byte offset in the email's text, or -1 */
};

/* A key passage of an attached document. */
struct llm_passage {
    char *content; /* the attachment's file name */
    char *text;    /* verbatim from that attachment's text */
    int64_t start; /* byte offset in the attachment's text, or -1 */
};

/* The answer of llm_schema_outbound. Strings are owned (sw_malloc'd) and
 * never NULL; release with llm_outbound_clear. */
struct llm_outbound {
    struct llm_framing *framings;
    size_t n_framings;
    struct llm_passage *passages;
    size_t n_passages;
    char **topics; /* llm_tag_topics values, at least one */
    size_t n_topics;
    char *intent; /* llm_tag_intents value */
    char *persona;
    char *stage;
};

/* The answer of llm_schema_reply. Owned; llm_reply_clear. */
struct llm_reply {
    char *label;    /* one of llm_reply_labels */
    int kind;       /* its snipwise.v1.OutcomeKind (4..9) */
    char *evidence; /* verbatim from the reply */
};

/* The answer of llm_schema_query. Owned; llm_query_clear. */
struct llm_query {
    char *query;
    char **topics;
    size_t n_topics;
    int64_t start_ms;     /* -1 when open */
    int64_t end_ms;       /* -1 when open */
    char **content_kinds; /* llm_content_kinds values */
    size_t n_content_kinds;
};

/* llm_outbound_parse, llm_reply_parse and llm_query_parse read json[0..n)
 * (a valid answer of their schema) into *out, which is zeroed first and
 * written only on success. They re-check the shape they rely on, so an
 * answer of another schema is refused rather than misread.
 * Errors: SW_EPARSE (not JSON, or not of the schema's shape; an unknown
 * reply label), SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err llm_outbound_parse(const char *json, size_t n,
                                        struct llm_outbound *out);
SW_MUST_CHECK sw_err llm_reply_parse(const char *json, size_t n,
                                     struct llm_reply *out);
SW_MUST_CHECK sw_err llm_query_parse(const char *json, size_t n,
                                     struct llm_query *out);

/* The _clear functions free every string and zero the struct; NULL and
 * zeroed structs are accepted. */
void llm_outbound_clear(struct llm_outbound *o);
void llm_reply_clear(struct llm_reply *r);
void llm_query_clear(struct llm_query *q);

#endif
