/* hist_int.h: the outcome side of a history (hist_outcome.c), shared by
 * the full build (hist.c) and rank_hist_delta. Included only inside
 * ranker/. */
#ifndef RANK_HIST_INT_H
#define RANK_HIST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ranker/hist.h"

/* Outcome kinds (snipwise.v1.OutcomeKind). */
enum {
    RANK_K_MEETING = 1,
    RANK_K_WON = 2,
    RANK_K_LOST = 3,
    RANK_K_POSITIVE = 4,
    RANK_K_NEUTRAL = 5,
    RANK_K_NEGATIVE = 6,
    RANK_K_OOO = 7,
    RANK_K_UNSUB = 8,
    RANK_K_BOUNCE = 9,
};

/* rank__hist_train: thread th of h has an outbound email before h's
 * training cutoff (any, without one): its uses count. */
int rank__hist_train(const struct rank_hist *h, uint32_t th);

/* rank__hout_cmp orders outcomes by thread, time, then kind (qsort). */
int rank__hout_cmp(const void *x, const void *y);

/* rank__thread_eval sets thread th's outcome fields from its outcomes
 * a[0..na) then b[0..nb), and, for a training thread, its maturity (at
 * h->now_ms) and its uses' flags and attributed values: each outcome goes
 * to the latest outbound email sent before it within p->window_ms, split
 * between that email's framings (a bare introduction takes none beside a
 * real framing) and between its content items. It counts nothing into
 * the evidence (rank__thread_count). */
void rank__thread_eval(struct rank_hist *h, const struct rank_params *p,
                       uint32_t th, const struct rank_hout *a, size_t na,
                       const struct rank_hout *b, size_t nb);

/* rank__thread_count adds (sign 1) or takes back (sign -1) what training
 * thread th's outcomes, as rank__thread_eval left them, give the evidence
 * of the items it used, its accounts and the team's sums. What its mail
 * alone gives (uses, reps, first and last use) is the build's. */
void rank__thread_count(struct rank_hist *h, uint32_t th, int sign);

/* rank__hist_finish derives from the sums the team's rate, mean value and
 * spread, the content items' adoption and every item's shrunk value. */
void rank__hist_finish(struct rank_hist *h, const struct rank_params *p);

#endif
