/* llm/text: the text primitives shared by the validator and the builtin
 * extractor: whitespace normalisation, grounded search (a quote found in a
 * source after normalisation) and a sentence splitter for email prose.
 * Pure functions; thread-safe. */
#ifndef LLM_TEXT_H
#define LLM_TEXT_H

#include <stddef.h>

#include "base/sw_err.h"

/* A span of a source text: bytes [off, off+len). */
struct llm_span {
    size_t off;
    size_t len;
};

/* llm_text_norm returns s[0..n) with every run of whitespace (including
 * non-breaking space U+00A0) replaced by one space and leading/trailing
 * whitespace removed. *out is NUL-terminated, the caller frees it with
 * sw_free; *out_len (optional) receives its length. SW_ENOMEM. */
SW_MUST_CHECK sw_err llm_text_norm(const char *s, size_t n, char **out,
                                   size_t *out_len);

/* llm_text_find_norm reports whether the whitespace-normalised needle occurs
 * in hay_norm (a text already normalised by llm_text_norm). Returns 1 when
 * found, 0 when not (an empty needle is never found). SW_ENOMEM is reported
 * as -1. */
int llm_text_find_norm(const char *hay_norm, size_t hay_len, const char *needle,
                       size_t n);

/* llm_text_at reports whether the normalised needle is what src[off..]
 * begins with, once normalised: the check that a quote's offset matches its
 * text. 1 yes, 0 no (also for off past the end), -1 out of memory. */
int llm_text_at(const char *src, size_t src_len, size_t off, const char *needle,
                size_t n);

/* llm_text_sentences splits s[0..n) into sentences: breaks at '.', '!' or
 * '?' followed by whitespace, at blank lines, after lines ending in ',' or
 * ':' (salutations such as "Hi Ana,") and at list bullets. Spans are trimmed
 * and non-empty. *out (caller frees with sw_free; NULL when *n_out is 0)
 * receives at most max spans. SW_ENOMEM. */
SW_MUST_CHECK sw_err llm_text_sentences(const char *s, size_t n, size_t max,
                                        struct llm_span **out, size_t *n_out);

/* llm_text_icontains: 1 when word (ASCII, any case) occurs in s[0..n) at a
 * word boundary on both sides, else 0. A trailing '*' in word matches any
 * ending; an apostrophe in word also matches a typographic one (U+2019)
 * in s. */
int llm_text_icontains(const char *s, size_t n, const char *word);

#endif
