/* hist_build: the working state of a history's build (hist.c), shared
 * with rank_hist_follow (hist_follow.c), which fills it from a history
 * and the feeds instead of whole-team scans and then runs the same steps.
 * Included only inside ranker/. */
#ifndef RANK_HIST_BUILD_H
#define RANK_HIST_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "ranker/hist.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"

struct rank_tsnip {
    char *id, *text, *content_id, *email_id;
    int kind;
    int64_t create_ms;
};

struct rank_temail {
    uint32_t thread;
    int out;
    int64_t sent_ms;
    uint64_t id; /* rank__hash_str of its id */
    uint64_t rep;
    size_t nf, fcap; /* framing family items */
    uint32_t *fitems;
    size_t nc; /* content items */
    uint32_t *citems;
};

struct rank_toutcome {
    uint32_t thread;
    int kind;
    int64_t occur_ms;
};

struct rank_tthread {
    int64_t first_in_ms, first_out_ms;
    char *first_in_text, *first_out_text; /* arena; or RANK_TEXT_UNKNOWN */
};

/* A thread's first inbound or outbound text that a follow does not know
 * (rank_hist_follow keeps only the context chosen): never chosen again,
 * since the other side's time only moves earlier. */
extern char rank__text_unknown[];

struct rank_build {
    struct rank_hist *h;
    struct rank__map thread_by_id;
    const struct rank_params *p;
    const char *team;
    int64_t cutoff_ms;
    struct rank_sigs *sigs; /* family signatures kept between builds */
    struct rank_tsnip *ts;
    size_t nts, cts;
    struct rank_temail *te;
    size_t nte, cte;
    struct rank__map email_by_id; /* hash(email id) → index */
    size_t cthreads;
    struct rank_tthread *tt; /* parallel to h->threads */
    size_t ctt;
    struct rank_toutcome *to;
    size_t nto, cto;
    struct rank_hout *outs_sorted; /* or: every outcome, sorted already
                                      (a follow's), taken over */
    size_t nouts_sorted;
    size_t citems;
    struct rank_acct_build *ab; /* the threads' accounts (account.c) */
};

/* rank__vec_push appends a zeroed element of elsz bytes to *arr (n used,
 * cap allocated); NULL when out of memory. */
void *rank__vec_push(void **arr, size_t *n, size_t *cap, size_t elsz);

/* rank__hash_str: the hash of ids and addresses the build keys maps by. */
uint64_t rank__hash_str(const char *s);

/* rank__build_begin starts a build of team_id's history with p (NULL: the
 * defaults, written to *def, which must outlive the build): a new, empty
 * b->h. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__build_begin(struct rank_build *b,
                                       const char *team_id,
                                       const struct rank_params *p,
                                       struct rank_params *def);

/* rank__build_free releases b's working state (not b->h). */
void rank__build_free(struct rank_build *b);

/* rank__build_item appends an item (kind 'f' or 'c') to b->h, its index
 * in *out. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__build_item(struct rank_build *b, int kind,
                                      const char *id, const char *title,
                                      const char *sha_hex, int ckind,
                                      uint32_t *out);

/* The scans' callbacks: a content item, an email, an outcome. */
SW_MUST_CHECK sw_err rank__build_content_cb(const struct store_content *c,
                                            void *arg);
SW_MUST_CHECK sw_err rank__build_email_cb(const struct store_email *e,
                                          void *arg);
SW_MUST_CHECK sw_err rank__build_outcome_cb(const struct store_outcome *o,
                                            void *arg);

/* rank__build_thread finds thread id's index, appending a new thread. */
SW_MUST_CHECK sw_err rank__build_thread(struct rank_build *b, const char *id,
                                        uint32_t *out);

/* rank__tsnip_age_cmp orders snippets oldest first (qsort), ties by text
 * then id: a family's founder is its first. */
int rank__tsnip_age_cmp(const void *x, const void *y);

/* rank__build_uses makes, from the emails, threads and outcomes read,
 * the uses, the per-thread tables, the evidence and the team's sums (the
 * accounts resolved before: rank__acct_resolve). */
SW_MUST_CHECK sw_err rank__build_uses(struct rank_build *b);

/* rank__read_marks reads the store's sequences a history records
 * (RANK_MARK_*) in t. Errors: as store_seq_peek. */
SW_MUST_CHECK sw_err rank__read_marks(store_txn *t, const char *team_id,
                                      uint64_t marks[RANK_MARKS]);

/* rank__strs_put drops a reference to *sp (the last frees it), sets it to
 * NULL; NULL is accepted. */
void rank__strs_put(struct rank_strs **sp);

#endif
