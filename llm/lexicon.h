/* llm/lexicon: keyword lexicons of the builtin extractor (cue phrases for
 * framings, reply rules, tag vocabularies, stop words). Const data, read
 * by builtin.c only; a trailing '*' in a word matches any word it begins. */
#ifndef LLM_LEXICON_H
#define LLM_LEXICON_H

#include <stddef.h>

/* A rule: a value (tag value or reply label) and its NULL-terminated
 * phrases. */
struct llm_lex_rule {
    const char *value;
    const char *const *phrases;
};

extern const char *const llm_lex_framing_strong[];
extern const char *const llm_lex_framing_noun[];
extern const char *const llm_lex_outcome[];
extern const char *const llm_lex_stop[];
extern const char *const llm_lex_greeting[];
extern const char *const llm_lex_unsub_ask[];
extern const char *const llm_lex_bare_no[];
extern const char *const llm_lex_negator[];
extern const char *const llm_lex_neg_target[];

/* Reply rules in priority order (first match wins across sentences). */
extern const struct llm_lex_rule llm_lex_reply[];
extern const size_t llm_lex_reply_n;

/* Tag rules: topic (all matches), intent/persona/stage (first match in
 * priority order), and content kinds for query decomposition. */
extern const struct llm_lex_rule llm_lex_topic[];
extern const size_t llm_lex_topic_n;
extern const struct llm_lex_rule llm_lex_intent[];
extern const size_t llm_lex_intent_n;
extern const struct llm_lex_rule llm_lex_persona[];
extern const size_t llm_lex_persona_n;
extern const struct llm_lex_rule llm_lex_stage[];
extern const size_t llm_lex_stage_n;
extern const struct llm_lex_rule llm_lex_kind[];
extern const size_t llm_lex_kind_n;

#endif
