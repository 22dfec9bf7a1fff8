/* llm/builtin: the offline, deterministic extractor behind the "builtin"
 * provider. It answers the same schemas as a model would, with the same
 * JSON, and its answers go through the same validator:
 *  - framings: sentences of the email that refer to an attachment (its file
 *    name or title words, or cues such as "attached", "I've included",
 *    "see the deck", "enclosed", "here is", "case study");
 *  - key passages: sentences of each document ranked by TF-IDF cosine to
 *    the document's centroid plus signals (figures, percentages, customer
 *    names, outcome words such as "reduced", "increased", "saved");
 *  - tags from keyword lexicons; reply labels by rules with the evidence
 *    sentence; query decomposition by keywords. Thread-safe. */
#ifndef LLM_BUILTIN_H
#define LLM_BUILTIN_H

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "llm/schema.h"

/* llm_builtin_extract appends the JSON answer for schema s on input in to
 * out. SW_EUNIMPL for a schema it does not know, SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err llm_builtin_extract(const struct llm_schema *s,
                                         const struct llm_input *in,
                                         struct sw_buf *out);

/* llm_builtin_framing_score rates how strongly sentence s[0..n) frames one
 * of in's documents: 0 = not a framing. *doc receives the index of the
 * document it refers to (0 when only one). Exposed for the evaluation. */
int llm_builtin_framing_score(const struct llm_input *in, const char *s,
                              size_t n, size_t *doc);

/* llm_builtin_reply_label classifies reply text[0..n): returns the label
 * (a static string of llm_reply_labels) and the evidence span in *ev. */
const char *llm_builtin_reply_label(const char *text, size_t n, size_t *ev_off,
                                    size_t *ev_len);

#endif
