/* llm/schemas: the three output schemas Snipwise asks models for, and their
 * vocabularies. Each is a const llm_schema (see llm/schema.h) whose field
 * table yields the JSON Schema and the validator. Immutable; thread-safe. */
#ifndef LLM_SCHEMAS_H
#define LLM_SCHEMAS_H

#include "llm/schema.h"

/* Outbound email with content, version 1:
 *   framings[]: {text (grounded in the email), content (an attachment's
 *                name), start (optional byte offset of text in the email)}
 *   passages[]: {content (an attachment's name), text (grounded in that
 *                attachment), start (optional offset in its text)}
 *   tags: {topic[] , intent, persona, stage} from the vocabularies below. */
extern const struct llm_schema llm_schema_outbound;

/* Inbound reply classification, version 1: {label, evidence (grounded)}. */
extern const struct llm_schema llm_schema_reply;

/* Suggest query decomposition, version 1: {query, topics[], date_range
 * {start_unix_ms, end_unix_ms}, content_kinds[]}. The input's text is the
 * thread and draft. */
extern const struct llm_schema llm_schema_query;

/* The vocabularies, NULL-terminated. Reply labels are in the order of
 * snipwise.v1.OutcomeKind 4..9 (POSITIVE=4 ... BOUNCE=9). */
extern const char *const llm_reply_labels[];
extern const char *const llm_tag_topics[];
extern const char *const llm_tag_intents[];
extern const char *const llm_tag_personas[];
extern const char *const llm_tag_stages[];
extern const char *const llm_content_kinds[];

/* llm_reply_label_kind maps a reply label to its snipwise.v1.OutcomeKind
 * number (4..9), or 0 for an unknown label. */
int llm_reply_label_kind(const char *label);

/* llm_schema_by_name returns the schema with that name, or NULL. */
const struct llm_schema *llm_schema_by_name(const char *name);

#endif
