/* store_outcome: outcomes of threads (a positive reply, a meeting booked, a
 * deal won ...), recorded by callers or derived from ingested replies by
 * the extraction worker. Each outcome is idempotent by a caller-chosen key
 * scoped to the team.
 *
 * Layout (team-prefixed):
 *   OUTCOMES      team\0 be64(UINT64_MAX - seq) → outcome record; newest
 *                 first in key order (seq: the team's "outcome" counter)
 *   OUTCOME_KEYS  team\0 idempotency key → be64 seq of the first outcome
 *
 * Conventions: functions taking a store_txn run inside the caller's
 * transaction; those taking a store run their own. Thread-safe. Out-params
 * are written only on SW_OK. */
#ifndef STORE_OUTCOME_H
#define STORE_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "store/store.h"

/* Sources: numerically equal to snipwise.v1.OutcomeSource. */
#define STORE_OUTCOME_RECORDED 1
#define STORE_OUTCOME_DERIVED 2

/* An outcome. kind is a snipwise.v1.OutcomeKind number (1..9). Strings are
 * owned when returned (store_outcome_clear) and borrowed when passed in;
 * returned strings are never NULL. */
struct store_outcome {
    char *outcome_id; /* "out_" + 16 hex; assigned by store_outcome_put */
    char *thread_id;
    int kind;
    int64_t occur_ms;
    int64_t record_ms;
    int source;         /* STORE_OUTCOME_* */
    char *email_id;     /* derived: the inbound email */
    char *idem_key;     /* idempotency key (required) */
    char *evidence;     /* derived: the sentence that shows it */
    char *note;         /* recorded: the caller's note */
    char *provenance;   /* derived: "provider/model" that classified it */
    int64_t deal_units; /* whole units of deal_currency; 0 when none */
    int32_t deal_nanos; /* and billionths of a unit, 0..999999999 */
    char *deal_currency;
    uint64_t seq; /* the team's outcome sequence number (read only) */
};

void store_outcome_clear(struct store_outcome *o);
void store_outcomes_free(struct store_outcome *o, size_t n);

/* store_outcome_put records o for team_id in write txn t. When o's
 * idem_key was used before, nothing is written, *duplicate is set to 1 and
 * *outcome_id receives the first outcome's id; else *duplicate is 0 and
 * *outcome_id the new id (sw_free). record_ms 0 = now, occur_ms 0 =
 * record_ms. Errors: SW_EINVAL (no team, thread, key, kind out of 1..9),
 * SW_ETOOBIG, SW_ESTORE, SW_ENOMEM, SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_outcome_put(store_txn *t, const char *team_id,
                                       const struct store_outcome *o,
                                       int *duplicate, char **outcome_id);

/* store_outcome_by_key reads into *out (store_outcome_clear) the outcome
 * first recorded with idempotency key idem_key, in transaction t (read or
 * write). Errors: SW_ENOTFOUND (key unused), SW_EINVAL, SW_ECORRUPT,
 * SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_outcome_by_key(store_txn *t, const char *team_id,
                                          const char *idem_key,
                                          struct store_outcome *out);

/* store_outcome_set_thread_txn moves the outcome with sequence number seq
 * of team_id to thread thread_id, in write transaction t (a thread merged
 * into another: store_thread_merge). Nothing else of it changes.
 * Errors: SW_EINVAL, SW_ENOTFOUND, SW_ECORRUPT, SW_ENOMEM, SW_ETOOBIG,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_outcome_set_thread_txn(store_txn *t,
                                                  const char *team_id,
                                                  uint64_t seq,
                                                  const char *thread_id);

/* A scan callback; o is valid during the call only. Return SW_OK to go
 * on, STORE_SCAN_STOP to stop, or an error. */
typedef sw_err (*store_outcome_fn)(const struct store_outcome *o, void *arg);

/* store_outcome_scan calls fn for each of team_id's outcomes, newest
 * first, only those of thread_id when it is not NULL or "".
 * Errors: fn's, SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_outcome_scan(store_txn *t, const char *team_id,
                                        const char *thread_id,
                                        store_outcome_fn fn, void *arg);

/* store_outcome_list returns one page (page_size 0 = 50, max 1000) of
 * team_id's outcomes, newest first, only of thread_id if set. page_token
 * NULL/"" or a previous *next_token (sw_free; NULL on the last page).
 * *items: store_outcomes_free. Errors: SW_EINVAL (bad token; why),
 * SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_outcome_list(store *s, const char *team_id,
                                        const char *thread_id, int page_size,
                                        const char *page_token,
                                        struct store_outcome **items, size_t *n,
                                        char **next_token, struct sw_buf *why);

#endif
