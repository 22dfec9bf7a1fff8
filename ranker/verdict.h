/* verdict: reps' verdicts on suggested items (RecordFeedback's dismissals
 * and thumbs) tied to the thread they were given for, so that the nightly
 * job's query adapter can pair them with that thread's context
 * (docs/RANKING.md, "How it is learnt").
 *
 * A feedback record names the item and the suggestion, not the thread:
 * suggestions are not stored (suggest_id.c) and a suggestion id is a hash
 * of the request. So a verdict is tied to the thread of the same rep's
 * next outbound email, sent at or after the verdict and at most
 * RANK_VERDICT_WINDOW_MS after it: the mail the rep was writing when the
 * suggestion was judged. A verdict with no such email is left out.
 *
 * Thread-safety: a rank_verdicts is immutable once read and may be shared. */
#ifndef RANK_VERDICT_H
#define RANK_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "store/store.h"

/* A verdict counts for the rep's next outbound email within this time. */
#define RANK_VERDICT_WINDOW_MS (60 * 60 * 1000LL)

/* One verdict: feedback kind (RANK_FB_DISMISSED, RANK_FB_THUMBS_DOWN or
 * RANK_FB_THUMBS_UP) on target (kind 'c', a content id, or 'f', a framing
 * snippet id) for thread thread_id, given at ms. */
struct rank_verdict {
    char *thread_id;
    char *target_id;
    int target_kind;
    int kind;
    int64_t ms;
};

/* The verdicts of a team, in the order they were recorded. */
struct rank_verdicts {
    struct rank_verdict *v;
    size_t n;
};

/* rank_verdicts_read reads team_id's dismissals and thumbs in transaction
 * t and ties each to its thread (above); inserts, copies and "shown" are
 * not read (an insert is in the mail, which counts it as a use). On
 * success *out is the caller's (rank_verdicts_free). Errors: SW_EINVAL,
 * SW_ENOMEM, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_verdicts_read(store_txn *t, const char *team_id,
                                        struct rank_verdicts **out);

/* rank_verdicts_free frees *v and sets it to NULL; NULL is accepted. */
void rank_verdicts_free(struct rank_verdicts **v);

#endif
