/* account_int.h: the part of a history build (hist.c) that finds each
 * thread's accounts (the domains of its participants outside the team)
 * and sums the team's record per account and per (account, item) into
 * the rank_hist (hist.h). Included only inside ranker/. Not thread-safe:
 * one build at a time per rank_acct_build. */
#ifndef RANK_ACCOUNT_INT_H
#define RANK_ACCOUNT_INT_H

#include <stdint.h>

#include "base/sw_arena.h"
#include "base/sw_err.h"
#include "ranker/hist.h"
#include "store/store_mail.h"

struct rank_acct_build;

/* rank__acct_begin makes an empty build state in *out (the caller's,
 * rank__acct_end). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__acct_begin(struct rank_acct_build **out);

/* rank__acct_email notes the addresses of e, an email of thread index
 * thread: an outbound email's sender and rep are the team's own side,
 * the other addresses are the thread's candidate accounts (domain names
 * go into arena a). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__acct_email(struct rank_acct_build *ab,
                                      struct sw_arena *a, uint32_t thread,
                                      const struct store_email *e);

/* rank__acct_resolve, once every email is noted, makes h's accounts (the
 * candidates that are not the team's own domains, sorted by name), its
 * maps by_account and own, and each thread's list of accounts
 * (h->thr_acc, h->thr_acc_lo). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__acct_resolve(struct rank_acct_build *ab,
                                        struct rank_hist *h);

/* rank__acct_thread counts h's thread th (an outbound thread of the
 * training set) in its accounts' threads. */
void rank__acct_thread(struct rank_hist *h, uint32_t th);

/* rank__acct_uses, once h->uses and h->use_lo are final, makes one record
 * per (account, item) used in the account's threads, with its threads
 * counted (h->acct_ev, h->acct_lo); what outcomes add is
 * rank__acct_count's. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__acct_uses(struct rank_hist *h);

/* rank__acct_count adds (sign 1) or takes back (sign -1) what thread th's
 * outcomes give its accounts and their records per item: the thread's
 * mature and positive flags and its uses' as they are now. */
void rank__acct_count(struct rank_hist *h, uint32_t th, int sign);

/* rank__acct_ev_index returns the index in h->acct_ev of account a's
 * record of item (a binary search of a's run, sorted by item), or -1. */
long rank__acct_ev_index(const struct rank_hist *h, uint32_t a, uint32_t item);

/* rank__acct_end frees *ab and sets it to NULL; NULL is accepted. */
void rank__acct_end(struct rank_acct_build **ab);

/* For rank_hist_follow (hist_follow.c). rank__acct_seed makes ab, new,
 * hold base's accounts as the candidates of its threads and base's own
 * domains (the strings stay base's). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__acct_seed(struct rank_acct_build *ab,
                                     const struct rank_hist *base);

/* rank__acct_known_own: addr's account is one of ab's own domains, or
 * addr has no account key. */
int rank__acct_known_own(const struct rank_acct_build *ab, const char *addr);

/* rank__acct_room: thread th's candidates, with unseen more, stay below
 * the per-thread cap (so that which ones were kept cannot depend on the
 * order mail was read in). */
int rank__acct_room(const struct rank_acct_build *ab, uint32_t th,
                    size_t unseen);

/* rank__acct_nown: how many own domains ab holds. */
size_t rank__acct_nown(const struct rank_acct_build *ab);

#endif
