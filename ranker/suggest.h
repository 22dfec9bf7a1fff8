/* suggest: the ranking engine behind SuggestService. Given a thread (or
 * its text) and the draft, it embeds the context, over-fetches the team's
 * index, groups hits into content items and framing families, scores them
 * (relevance, prior-smoothed outcome in threads like this one,
 * collaborative term from the serving model, the team's usage in such
 * threads, an exploration bonus), diversifies with MMR and explains each
 * item in real counts.
 *
 * Determinism: the result depends only on the state it reads (the
 * statistics and model engine.h publishes, the index), the request and the
 * serving model; the random mode's draws come from a PRNG seeded by (team,
 * query hash, model version, the statistics' store sequences). A started
 * engine may answer from statistics older than the store (res.fresh says
 * how much); one never started reads exactly the store's state.
 *
 * Thread-safety: rank_suggest may run on many threads at once. */
#ifndef RANK_SUGGEST_H
#define RANK_SUGGEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "ranker/engine.h"
#include "ranker/feedback.h"
#include "ranker/hist.h"
#include "ranker/index.h"
#include "ranker/model.h"
#include "ranker/query.h"
#include "store/store.h"

/* Ranking modes, numerically equal to snipwise.v1.RankingMode. */
#define RANK_MODE_OUTCOME 1
#define RANK_MODE_POPULARITY 2
#define RANK_MODE_SIMILARITY 3
#define RANK_MODE_RANDOM 4

#define RANK_SUGGEST_DEFAULT 5
#define RANK_SUGGEST_MAX 50

/* A request. Exactly one of thread_id, in_reply_to and context may be set
 * (all NULL/"": the draft alone is the context). Strings are borrowed. */
struct rank_suggest_req {
    const char *team_id;
    const char *thread_id;
    const char *in_reply_to;
    const char *context; /* the thread as text (its last message) */
    const char *draft;
    const char *rep_email;
    /* Addresses the reply goes to: their accounts (rank_account_key),
     * with those of the thread's outside participants when the thread is
     * given by id or Message-ID, are the account context. */
    const char *const *recipients;
    size_t n_recipients;
    const char *const *exclude_contents;
    size_t n_exclude;
    size_t max_contents, max_framings; /* 0: RANK_SUGGEST_DEFAULT */
    int mode;                          /* RANK_MODE_*; 0 = outcome */
    int explain;
    uint64_t request_hash; /* hash of the whole request, for ids and seeds */
};

struct rank_score {
    double total, relevance, outcome, collab, explore, adoption, usage;
    double account;  /* tanh(rank_account_move) with the request's accounts */
    double feedback; /* tanh of what the rep and the team did with it when
                        suggested (rank__score_feedback) */
};

/* What reps did with an item when it was suggested (feedback.h). */
struct rank_sugg_fb {
    struct rank_fb_counts team; /* every rep's records */
    struct rank_fb_counts rep;  /* the requesting rep's */
    int64_t pending; /* inserts whose mail has not arrived yet: uses the
                        statistics do not count yet (rank_fb_pending) */
};

/* At most this many accounts make a request's context. */
#define RANK_SUGGEST_ACCOUNTS 8

/* One account of a request's context and the team's record with it. */
struct rank_sugg_account {
    const char *domain;
    int64_t threads, mature, positives; /* as struct rank_account; 0 for a
                                           domain the team has no thread
                                           with */
};

/* rank_blas_init puts OpenBLAS on one thread, once per process
 * (suggest_score.c says why); rank_engine_open and rank_rerank_team call
 * it. */
void rank_blas_init(void);

/* One suggested item; every string is a copy in the call's arena (the
 * statistics it came from may be freed once rank_suggest returns). */
struct rank_sugg {
    int kind; /* 'c' or 'f' */
    const char *item_id;
    const char *target_id; /* content id or snippet id */
    const char *family_id; /* framings */
    const char *content_id;
    const char *title;
    const char *text; /* framing text or key passage */
    int content_kind;
    struct rank_score score;
    struct rank_evid ev;
    double positive_rate, team_rate;
    struct rank_acct_evid acct; /* its record with the request's accounts */
    struct rank_sugg_fb fb;     /* the feedback it has had */
    const char *explanation;    /* "" unless explain */
};

struct rank_suggest_res {
    const char *suggestion_id;
    struct rank_sugg *contents;
    size_t n_contents;
    struct rank_sugg *framings;
    size_t n_framings;
    const char *model_version;       /* "" when no model is serving */
    const char *query;               /* the query text used */
    struct rank_query decomposition; /* what the draft and thread ask for
                                        (rank_query_merge); content of its
                                        kinds and range comes first */
    struct rank_fresh fresh;         /* how current the statistics used are */
    struct rank_sugg_account *accounts; /* the request's account context */
    size_t n_accounts;
};

/* rank_suggest answers q, allocating the result in a (the call's arena).
 * Errors: SW_EINVAL (bad mode, no context at all; reason in why),
 * SW_ENOTFOUND (unknown thread or Message-ID), SW_ENOMEM, SW_ESTORE,
 * SW_ECORRUPT, SW_EINTERNAL. */
SW_MUST_CHECK sw_err rank_suggest(rank_engine *e,
                                  const struct rank_suggest_req *q,
                                  struct sw_arena *a,
                                  struct rank_suggest_res *out,
                                  struct sw_buf *why);

/* --- Item ids ------------------------------------------------------------ */

/* Suggestion ids are "sg_", 16 hex digits of a hash of the team, the
 * request and the state ranked from, and 16 hex digits of a tag; item ids
 * are "<suggestion id>.<c|f>.<target id>.<tag>". Each tag is an
 * HMAC-SHA256 (64 bits of it) under a secret kept in the store's META
 * database, over the team and what the id names (suggest_id.c says why
 * this and not a record of each suggestion): so an id proves that this
 * server gave it to this team, and Suggest writes nothing. */

/* A parsed item id. */
struct rank_item {
    char suggestion_id[48];
    int kind; /* 'c' or 'f' */
    char target_id[64];
    char tag[17];
};

/* rank_item_parse splits an item id; it does not check the tag.
 * Errors: SW_EINVAL (malformed). */
SW_MUST_CHECK sw_err rank_item_parse(const char *item_id,
                                     struct rank_item *out);

/* rank_suggestion_check: SW_OK when suggestion_id is one this server's
 * Suggest gave team_id, SW_ENOTFOUND when it is not (malformed, forged,
 * another team's or another server's). Errors: SW_EINVAL (NULL),
 * SW_ENOMEM. Thread-safe; no I/O. */
SW_MUST_CHECK sw_err rank_suggestion_check(rank_engine *e, const char *team_id,
                                           const char *suggestion_id);

/* rank_item_check: SW_OK, with the item parsed into *out, when item_id is
 * an item of suggestion suggestion_id as Suggest gave it to team_id;
 * SW_ENOTFOUND when it is not (malformed, of another suggestion, another
 * target or forged). Check the suggestion first. Errors: SW_EINVAL
 * (NULL), SW_ENOMEM. Thread-safe; no I/O. */
SW_MUST_CHECK sw_err rank_item_check(rank_engine *e, const char *team_id,
                                     const char *suggestion_id,
                                     const char *item_id,
                                     struct rank_item *out);

/* --- Scoring pieces (exposed for the nightly job and the tests) ---------- */

/* A seeded PRNG (splitmix64): the random mode's draws. */
struct rank_rng {
    uint64_t s;
};
double rank_rng_uniform(struct rank_rng *g);

/* rank_mmr picks up to want of n candidates greedily by
 * lambda * score - (1 - lambda) * max similarity to those picked, with
 * sim[i * n + j] the similarity of candidates i and j; order receives the
 * picked indexes and the return value their count. */
size_t rank_mmr(const double *score, const double *sim, size_t n, double lambda,
                size_t want, size_t *order);

#endif
