/* nm_build: turns the extension's JSON requests into typed snipwise.v1
 * requests. Every field is type-checked; a bad field gives SW_EINVAL and a
 * sentence naming it, so the extension's developer sees what to fix. */
#ifndef NM_BUILD_H
#define NM_BUILD_H

#include <jansson.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"

/* Caps on what one request may carry (the frame cap bounds the bytes). */
#define NM_BUILD_MAX_LIST 1000

/* nm_build_suggest builds a SuggestRequest from req:
 *   "thread": {"thread_id"} | {"in_reply_to_message_id"} |
 *             {"subject", "messages": [{"from", "sent_time_unix_ms",
 *              "text"}]}            (optional; ids win unless use_text)
 *   "draft": string, "recipients": [string], "rep_email": string,
 *   "attachment_content_ids": [string], "max_contents", "max_framings":
 *   integers 0..100, "mode": "outcome"|"popularity"|"similarity"|"random".
 * With use_text set, a thread that also carries messages is sent as text
 * (the retry when the ids are unknown to snipd). *has_text tells whether
 * the thread had messages to fall back on. default_rep (may be NULL) fills
 * rep_email when req has none. explain is always set. Strings are copied
 * into arena a; *out lives until the arena is freed.
 * SW_EINVAL with a message appended to why; SW_ENOMEM. */
SW_MUST_CHECK sw_err nm_build_suggest(json_t *req, const char *default_rep,
                                      int use_text, struct sw_arena *a,
                                      Snipwise__V1__SuggestRequest **out,
                                      int *has_text, struct sw_buf *why);

/* nm_build_feedback builds a RecordFeedbackRequest from req:
 *   "suggestion_id", "item_id": required strings; "kind": "shown" |
 *   "inserted" | "copied" | "dismissed" | "thumbs_up" | "thumbs_down";
 *   "rep_email", "idempotency_key": optional strings; "time_unix_ms".
 * Without an idempotency_key the key is derived from suggestion, item and
 * kind, so a retried or repeated report counts once. Errors and lifetime
 * as for nm_build_suggest. */
SW_MUST_CHECK sw_err nm_build_feedback(
    json_t *req, const char *default_rep, struct sw_arena *a,
    Snipwise__V1__RecordFeedbackRequest **out, struct sw_buf *why);

/* nm_build_content builds a GetContentRequest from req's "content_id".
 * Errors and lifetime as for nm_build_suggest. */
SW_MUST_CHECK sw_err nm_build_content(json_t *req, struct sw_arena *a,
                                      Snipwise__V1__GetContentRequest **out,
                                      struct sw_buf *why);

/* nm_build_read_content builds a ReadContentRequest from req's
 * "content_id". Errors and lifetime as for nm_build_suggest. */
SW_MUST_CHECK sw_err nm_build_read_content(
    json_t *req, struct sw_arena *a, Snipwise__V1__ReadContentRequest **out,
    struct sw_buf *why);

#endif
