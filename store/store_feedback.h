/* store_feedback: what reps did with suggested items (shown, inserted,
 * dismissed, thumbs up/down ...), idempotent by a caller-chosen key scoped
 * to the team. Suggestions themselves are not stored: their item ids carry
 * the suggestion and the suggested snippet or content item (ranker/suggest.h),
 * so a feedback record is complete on its own.
 *
 * Layout (team-prefixed):
 *   FEEDBACK       team\0 be64(UINT64_MAX - seq) → record, newest first
 *                  (seq: the team's "feedback" counter)
 *   FEEDBACK_KEYS  team\0 idempotency key → be64 seq of the first record
 *
 * Records are never erased or edited, so a reader that counted the feed up
 * to a seq stays exact by reading only the newer records (ranker/feedback.h).
 *
 * Conventions as in store_outcome.h. Thread-safe. */
#ifndef STORE_FEEDBACK_H
#define STORE_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "store/store.h"

/* One feedback record. kind is a snipwise.v1.FeedbackKind number (1..6);
 * target_kind is 'c' (content item) or 'f' (framing snippet). Strings are
 * borrowed when passed in and owned when returned (store_feedback_clear);
 * returned strings are never NULL. */
struct store_feedback {
    char *feedback_id; /* "fb_" + 16 hex; assigned by store_feedback_put */
    char *suggestion_id;
    char *item_id;
    int target_kind;
    char *target_id; /* content id or snippet id */
    int kind;
    char *rep_email;
    int64_t time_ms;   /* when the rep acted; 0 = record time */
    int64_t record_ms; /* when it was stored; 0 = now */
    char *idem_key;
    uint64_t seq; /* read only */
};

void store_feedback_clear(struct store_feedback *f);

/* The team's sequence counter that numbers its feedback records
 * (store_seq_peek gives the newest record's seq). */
#define STORE_FEEDBACK_SEQ "feedback"

/* store_feedback_put records f for team_id in write transaction t. A key
 * used before writes nothing, sets *duplicate to 1 and *feedback_id to the
 * first record's id; else *duplicate is 0 and *feedback_id the new id. The
 * caller sw_frees *feedback_id. Errors: SW_EINVAL (no team, suggestion,
 * item, target or key; kind out of 1..6), SW_ETOOBIG, SW_ESTORE, SW_ENOMEM,
 * SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_feedback_put(store_txn *t, const char *team_id,
                                        const struct store_feedback *f,
                                        int *duplicate, char **feedback_id);

/* A scan callback; f is valid during the call only. Return SW_OK to go on,
 * STORE_SCAN_STOP to stop, or an error. */
typedef sw_err (*store_feedback_fn)(const struct store_feedback *f, void *arg);

/* store_feedback_scan calls fn for each of team_id's feedback records,
 * newest first. Errors: fn's, SW_EINVAL, SW_ECORRUPT, SW_ESTORE,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err store_feedback_scan(store_txn *t, const char *team_id,
                                         store_feedback_fn fn, void *arg);

/* store_feedback_scan_before is store_feedback_scan from the newest record
 * older than before_seq (seq < before_seq; 0 = from the newest), for
 * paging. Errors as store_feedback_scan. */
SW_MUST_CHECK sw_err store_feedback_scan_before(store_txn *t,
                                                const char *team_id,
                                                uint64_t before_seq,
                                                store_feedback_fn fn,
                                                void *arg);

#endif
