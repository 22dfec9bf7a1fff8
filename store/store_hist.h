/* store_hist: whole-team scans of emails, snippets and content items inside
 * the caller's transaction, for the ranker's statistics and the nightly job
 * (they must all come from one consistent snapshot, which the per-record
 * getters of store_mail.h and store_snippet.h cannot give).
 *
 * Records are passed to the callback fully decoded and are valid during
 * the call only. A callback returns SW_OK to go on, STORE_SCAN_STOP to end
 * the scan early (the scan then returns SW_OK), or an error, which ends
 * the scan and is returned. Thread-safe (the transaction is the caller's). */
#ifndef STORE_HIST_H
#define STORE_HIST_H

#include "base/sw_err.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_snippet.h"

typedef sw_err (*store_hist_email_fn)(const struct store_email *e, void *arg);
typedef sw_err (*store_hist_snippet_fn)(const struct store_snippet *s,
                                        void *arg);
typedef sw_err (*store_hist_content_fn)(const struct store_content *c,
                                        void *arg);

/* store_hist_emails calls fn for every email of team_id, in email-id order.
 * Errors: fn's, SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_hist_emails(store_txn *t, const char *team_id,
                                       store_hist_email_fn fn, void *arg);

/* store_hist_snippets calls fn for every snippet of team_id (deleted ones
 * included), in snippet-id order. Errors: as store_hist_emails. */
SW_MUST_CHECK sw_err store_hist_snippets(store_txn *t, const char *team_id,
                                         store_hist_snippet_fn fn, void *arg);

/* store_hist_contents calls fn for every content item of team_id, in id
 * order, with its text left out ("" with text_len kept). Errors: as
 * store_hist_emails. */
SW_MUST_CHECK sw_err store_hist_contents(store_txn *t, const char *team_id,
                                         store_hist_content_fn fn, void *arg);

/* store_hist_email_feed calls fn, in sequence order, for every email of
 * team_id whose "email" sequence number is greater than after_seq and
 * that is still stored (the EMAIL_SEQ feed, store.h: emails stored before
 * the feed existed are not in it). Emails are added, never changed there,
 * except by thread merges (STORE_MERGE_SEQ, store_mail.h) and erasures
 * (STORE_ERASE_SEQ), which a follower of the feed must check for itself.
 * Errors: as store_hist_emails. */
SW_MUST_CHECK sw_err store_hist_email_feed(store_txn *t, const char *team_id,
                                           uint64_t after_seq,
                                           store_hist_email_fn fn, void *arg);

/* store_hist_snippet_feed calls fn, in sequence order, for every snippet
 * of team_id whose snippet feed sequence number is greater than after_seq
 * (each at its latest, deleted ones included: store_snippet.h), in
 * transaction t. Errors: as store_hist_emails. */
SW_MUST_CHECK sw_err store_hist_snippet_feed(store_txn *t, const char *team_id,
                                             uint64_t after_seq,
                                             store_hist_snippet_fn fn,
                                             void *arg);

/* store_hist_seqs writes the team's current "email" (plus "erase":
 * store_erase.h), "snippet" and "outcome" sequence values (0 when never
 * advanced): together they identify the state every statistic of the
 * ranker is computed from. Errors:
 * SW_EINVAL, SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_hist_seqs(store_txn *t, const char *team_id,
                                     uint64_t out[3]);

#endif
