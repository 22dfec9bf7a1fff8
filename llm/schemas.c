/* llm/schemas: the field tables of Snipwise's three output schemas. Change
 * a table and bump its version: the version is part of the cache key, so
 * old cached answers are not reused for a new schema. */
#include "llm/schemas.h"

#include <string.h>

const char *const llm_reply_labels[] = {
    "POSITIVE",    "NEUTRAL", "NEGATIVE", "OUT_OF_OFFICE",
    "UNSUBSCRIBE", "BOUNCE",  NULL,
};
const char *const llm_tag_topics[] = {
    "pricing",     "security",   "integration", "roi",        "case_study",
    "product",     "onboarding", "analytics",   "compliance", "experimentation",
    "performance", "support",    "other",       NULL,
};
const char *const llm_tag_intents[] = {
    "introduce", "follow_up", "share_content", "book_meeting",
    "nurture",   "close",     "other",         NULL,
};
const char *const llm_tag_personas[] = {
    "executive", "finance",    "engineering", "product", "marketing",
    "sales",     "operations", "unknown",     NULL,
};
const char *const llm_tag_stages[] = {
    "prospecting", "discovery", "evaluation", "negotiation",
    "customer",    "unknown",   NULL,
};
const char *const llm_content_kinds[] = {
    "PDF",  "DOCUMENT", "PRESENTATION", "SPREADSHEET", "HTML",
    "TEXT", "IMAGE",    "OTHER",        NULL,
};

#define R LLM_F_REQUIRED

/* Outbound. */
static const struct llm_field llm_outbound_framing_fields[] = {
    {"text", LLM_T_STRING, R | LLM_F_GROUNDED,
     "one or more consecutive sentences copied verbatim from the email that "
     "introduce or position the attachment",
     NULL, 1, 1000, NULL, NULL, 0},
    {"content", LLM_T_STRING, R | LLM_F_DOCREF,
     "the exact file name of the attachment the text refers to", NULL, 1, 512,
     NULL, NULL, 0},
    {"start", LLM_T_INT, LLM_F_OFFSET,
     "byte offset of text in the email, or null", NULL, 0, 1 << 30, NULL, NULL,
     0},
};
static const struct llm_field llm_outbound_framing = {
    NULL, LLM_T_OBJECT, R, NULL, NULL, 0, 0, NULL, llm_outbound_framing_fields,
    3};

static const struct llm_field llm_outbound_passage_fields[] = {
    {"content", LLM_T_STRING, R | LLM_F_DOCREF,
     "the exact file name of the attachment", NULL, 1, 512, NULL, NULL, 0},
    {"text", LLM_T_STRING, R | LLM_F_GROUNDED_DOC,
     "a key passage (one to three sentences) copied verbatim from that "
     "attachment: a result, a figure, a customer outcome",
     NULL, 1, 2000, NULL, NULL, 0},
    {"start", LLM_T_INT, LLM_F_OFFSET,
     "byte offset of text in the attachment's text, or null", NULL, 0, 1 << 30,
     NULL, NULL, 0},
};
static const struct llm_field llm_outbound_passage = {
    NULL, LLM_T_OBJECT, R, NULL, NULL, 0, 0, NULL, llm_outbound_passage_fields,
    3};

static const struct llm_field llm_outbound_topic = {
    NULL, LLM_T_ENUM, R, NULL, llm_tag_topics, 0, 0, NULL, NULL, 0};

static const struct llm_field llm_outbound_tag_fields[] = {
    {"topic", LLM_T_ARRAY, R, "topics of the email", NULL, 1, 5,
     &llm_outbound_topic, NULL, 0},
    {"intent", LLM_T_ENUM, R, "what the email tries to do", llm_tag_intents, 0,
     0, NULL, NULL, 0},
    {"persona", LLM_T_ENUM, R, "the recipient's role", llm_tag_personas, 0, 0,
     NULL, NULL, 0},
    {"stage", LLM_T_ENUM, R, "the sales stage", llm_tag_stages, 0, 0, NULL,
     NULL, 0},
};

static const struct llm_field llm_outbound_fields[] = {
    {"framings", LLM_T_ARRAY, R,
     "framing sentences, one item per attachment "
     "reference",
     NULL, 0, 20, &llm_outbound_framing, NULL, 0},
    {"passages", LLM_T_ARRAY, R, "key passages of the attached documents", NULL,
     0, 40, &llm_outbound_passage, NULL, 0},
    {"tags", LLM_T_OBJECT, R, "tags of the email", NULL, 0, 0, NULL,
     llm_outbound_tag_fields, 4},
};
static const struct llm_field llm_outbound_root = {
    NULL, LLM_T_OBJECT, R, NULL, NULL, 0, 0, NULL, llm_outbound_fields, 3};

const struct llm_schema llm_schema_outbound = {
    "outbound_extraction",
    1,
    "You extract sales snippets from an outbound email and its attachments. "
    "Framings are sentences the sender wrote to introduce or position an "
    "attachment; copy them verbatim from the email and name the attachment "
    "by its exact file name. Key passages are the most useful sentences of "
    "each attachment (results, figures, customer outcomes), copied verbatim. "
    "Never paraphrase. Answer with JSON only, matching the schema.",
    &llm_outbound_root,
};

/* Reply. */
static const struct llm_field llm_reply_fields[] = {
    {"label", LLM_T_ENUM, R, "how the prospect replied", llm_reply_labels, 0, 0,
     NULL, NULL, 0},
    {"evidence", LLM_T_STRING, R | LLM_F_GROUNDED,
     "the sentence of the reply, copied verbatim, that shows the label", NULL,
     1, 1000, NULL, NULL, 0},
};
static const struct llm_field llm_reply_root = {
    NULL, LLM_T_OBJECT, R, NULL, NULL, 0, 0, NULL, llm_reply_fields, 2};

const struct llm_schema llm_schema_reply = {
    "reply_classification",
    1,
    "You classify a prospect's reply to a sales email: POSITIVE (interest, "
    "wants a meeting or more), NEUTRAL (a question, not now, forwarded), "
    "NEGATIVE (not interested), OUT_OF_OFFICE (automatic absence notice), "
    "UNSUBSCRIBE (asks to stop emailing), BOUNCE (delivery failure). Quote "
    "the deciding sentence verbatim as evidence. Answer with JSON only.",
    &llm_reply_root,
};

/* Query. */
static const struct llm_field llm_query_topic = {
    NULL, LLM_T_STRING, R, NULL, NULL, 1, 64, NULL, NULL, 0};
static const struct llm_field llm_query_kind = {
    NULL, LLM_T_ENUM, R, NULL, llm_content_kinds, 0, 0, NULL, NULL, 0};
static const struct llm_field llm_query_range_fields[] = {
    {"start_unix_ms", LLM_T_INT, 0, "inclusive lower bound, or null", NULL, 0,
     INT64_MAX / 2, NULL, NULL, 0},
    {"end_unix_ms", LLM_T_INT, 0, "exclusive upper bound, or null", NULL, 0,
     INT64_MAX / 2, NULL, NULL, 0},
};
static const struct llm_field llm_query_fields[] = {
    {"query", LLM_T_STRING, R, "a short search query for the team's snippets",
     NULL, 1, 500, NULL, NULL, 0},
    {"topics", LLM_T_ARRAY, R, "topics the rep needs content about", NULL, 0,
     10, &llm_query_topic, NULL, 0},
    {"date_range", LLM_T_OBJECT, R, "a time range the rep asks for", NULL, 0, 0,
     NULL, llm_query_range_fields, 2},
    {"content_kinds", LLM_T_ARRAY, R, "kinds of content wanted", NULL, 0, 8,
     &llm_query_kind, NULL, 0},
};
static const struct llm_field llm_query_root = {
    NULL, LLM_T_OBJECT, R, NULL, NULL, 0, 0, NULL, llm_query_fields, 4};

const struct llm_schema llm_schema_query = {
    "suggest_query",
    1,
    "You turn a sales email thread and the rep's draft into a search for "
    "content to attach: a short query, the topics, a date range if the rep "
    "asks for one (else nulls), and the kinds of content wanted. Answer with "
    "JSON only.",
    &llm_query_root,
};

int llm_reply_label_kind(const char *label)
{
    int i;

    for (i = 0; llm_reply_labels[i]; i++)
        if (strcmp(llm_reply_labels[i], label) == 0)
            return 4 + i;
    return 0;
}

const struct llm_schema *llm_schema_by_name(const char *name)
{
    if (strcmp(name, llm_schema_outbound.name) == 0)
        return &llm_schema_outbound;
    if (strcmp(name, llm_schema_reply.name) == 0)
        return &llm_schema_reply;
    if (strcmp(name, llm_schema_query.name) == 0)
        return &llm_schema_query;
    return NULL;
}
