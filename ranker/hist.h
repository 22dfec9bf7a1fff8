/* hist: a team's history as the ranker sees it, computed from one
 * consistent store snapshot: snippets, framing families (near-identical
 * framings pooled, ids stable between runs), content items, threads with
 * their outbound uses, and outcomes attributed to the families and content
 * items used, graded and credit-split, with evidence counts and values
 * per use shrunk toward the team's mean. Suggest scores with it (cached per
 * store state, see suggest.h) and the nightly job trains on it (rerank.h).
 *
 * A rank_hist is immutable once built and may be read by many threads. */
#ifndef RANK_HIST_H
#define RANK_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_arena.h"
#include "base/sw_err.h"
#include "ranker/rank_int.h"
#include "store/store.h"

/* Grades of outcomes (snipwise.v1.OutcomeKind): positive reply < meeting <
 * deal won; negative replies, unsubscribes and bounces count against;
 * neutral, out-of-office and lost deals are about 0. */
double rank_grade(int kind);

/* Ranking knobs shared by Suggest, the nightly job and the tests. */
struct rank_params {
    double prior_strength; /* pseudo-uses of the team mean in each prior */
    int64_t window_ms;     /* outcome → outbound attribution window */
    int64_t mature_ms;     /* a use without outcome counts as a miss after */
    double family_jaccard; /* MinHash Jaccard to join a family */
    double family_words;   /* the same over content words, to join
                              paraphrases (0: off; rank_family_cluster_cached) */
    double w_relevance;    /* weights of the score components, framings */
    double w_outcome;
    double w_collab;
    double w_explore;    /* the exploration share, framings */
    double wc_relevance; /* the same for content items, which must match */
    double wc_outcome;   /* the thread's topic: relevance weighs more */
    double wc_collab;
    double wc_adoption;    /* content: the team's adoption (rank_hitem) */
    double wc_explore;     /* content: the exploration share */
    double local_strength; /* pseudo-uses against moving an item's outcome
                              by how it did in threads like the query */
    double usage_strength; /* pseudo-uses in the usage ratio */
    double w_usage;    /* framings: the team's use in threads like the query */
    double wc_usage;   /* content: the same */
    double mmr_lambda; /* 1 = no diversity */
    double account_strength;   /* pseudo-uses of the team-wide value against
                                  an item's record with the recipients'
                                  accounts (rank_account_move) */
    double account_min_mature; /* the request's accounts count once the team
                                  has this many mature threads with them
                                  (fewer: no account term) */
    double w_account;          /* framings: the account term's weight */
    double wc_account;         /* content: the same */
    double feedback_strength;  /* pseudo-records against moving an item for
                                  the team by its pooled feedback
                                  (rank__score_feedback) */
    double w_feedback;         /* framings: the feedback term's weight */
    double wc_feedback;        /* content: the same */
    int use_adapter; /* Suggest applies the serving model's query adapter
                        (ranker/adapter.h) when it has one [1] */
};

/* rank_params_default fills p with the defaults documented in RANKING.md. */
void rank_params_default(struct rank_params *p);

/* Outcome kinds are snipwise.v1.OutcomeKind numbers, 1 to 9: arrays
 * indexed by kind have RANK_KINDS entries (entry 0 unused). */
#define RANK_KINDS 10

/* A track record: evidence in real counts, and the posterior inputs. */
struct rank_evid {
    int64_t times_used;  /* outbound emails that used the item */
    int64_t reps;        /* distinct reps */
    int64_t threads;     /* distinct threads */
    int64_t positives;   /* of those threads: positive reply or better */
    int64_t pos_replies; /* positive replies in those threads */
    int64_t meetings;
    int64_t deals;
    int64_t trials;    /* mature threads (with an outcome, or old enough) */
    int64_t successes; /* of those: positive or better */
    double value;      /* graded, attributed and credit-split outcome value */
    int64_t first_ms;  /* first use */
    int64_t last_ms;   /* latest use */
    int64_t outcomes[RANK_KINDS]; /* outcomes of those threads, by kind */
};

/* An item: a framing family (kind 'f') or a content item (kind 'c'). */
struct rank_hitem {
    int kind;
    char *id;         /* "fam_" + 16 hex, or the content id */
    uint32_t rep;     /* family: index of its oldest snippet; content: -1 */
    char *title;      /* content: file name; family: its oldest text */
    char *key;        /* what the item is, the same in every store with this
                         history (ids are random): its title, or for a
                         content without a file name "sha256:" and the hex
                         SHA-256 of its bytes. Seeds and ties use it. */
    int content_kind; /* content: ContentKind */
    int bare;         /* family: its text only introduces its document ("I've
                         attached the pricing sheet."): nothing to suggest as a
                         framing (rank_bare_framing) */
    struct rank_evid ev;
    double post_value; /* shrunk mean value per mature use */
    double adoption;   /* content: log(1 + uses per 30 days since its
                          first use), shrunk with 7 pseudo-days at the
                          team's mean rate: a new document starts at the
                          mean, not at zero (rank_hist_adoption) */
};

struct rank_hsnip {
    char *id;
    uint64_t label;
    int kind;         /* STORE_SNIPPET_* */
    uint32_t item;    /* framing: its family item; passage: its content item;
                       * UINT32_MAX when none */
    uint32_t content; /* item index of its content, or UINT32_MAX */
    char *text;
    int64_t create_ms;
};

/* One (thread, item) cell: the item was used in the thread. */
struct rank_use {
    uint32_t thread;
    uint32_t item;
    double value; /* attributed outcome value */
    int positive; /* the thread had a positive outcome or better */
    int mature;
};

struct rank_hthread {
    char *id;
    uint64_t hash;        /* rank__hash64 of the id */
    int64_t first_out_ms; /* first outbound email; 0 if none */
    int64_t first_in_ms;  /* first inbound email; 0 if none */
    char *context;        /* subject + text of its earliest message, inbound
                             or (a cold mail) outbound, truncated: what the
                             rep answered when choosing what to send */
    int positive;
    int mature;
    double value; /* total graded value of its outcomes */
    int64_t n_outcomes;
    uint32_t outcomes[RANK_KINDS]; /* its outcomes by kind (all, unlike the
                                      uses, whatever the training cutoff) */
    double attr_value; /* the graded value of its outcomes attributed to
                          an outbound email (the team's mean counts it) */
};

/* An outbound email as attribution reads it: sent at sent_ms, its framing
 * families email_items[lo, lo + nf) and content items [lo + nf, lo + nf +
 * nc). */
struct rank_hemail {
    int64_t sent_ms;
    uint64_t id;  /* rank__hash64 of its id (the build's hash of strings) */
    uint64_t rep; /* the same of its rep's address (or its sender's) */
    uint32_t lo, nf, nc;
};

/* An outcome of thread `thread`. */
struct rank_hout {
    int64_t occur_ms;
    uint32_t thread;
    int32_t kind;
};

/* An account: a domain outside the team (rank_account_key of an outside
 * participant) that the team has had threads with. */
struct rank_account {
    char *domain;
    int64_t threads;   /* outbound threads with it */
    int64_t mature;    /* of those, mature */
    int64_t positives; /* of the mature ones, positive or better */
};

/* An item's record in the threads of one account. */
struct rank_acct_evid {
    uint32_t account, item;
    int64_t threads;   /* the account's threads that used it */
    int64_t positives; /* of those, positive or better */
    int64_t trials;    /* of those, mature */
    double value;      /* the attributed value of its mature uses there */
};

/* The store's own sequences a history was read at (rank_hist.marks),
 * which tell rank_hist_follow what changed since. */
enum {
    RANK_MARK_EMAIL,   /* "email": the feed of new emails */
    RANK_MARK_ERASE,   /* STORE_ERASE_SEQ */
    RANK_MARK_MERGE,   /* STORE_MERGE_SEQ */
    RANK_MARK_CONTENT, /* "content": new content items */
    RANK_MARKS
};

/* Strings a history made by rank_hist_follow added: kept, shared, by the
 * follows made from it until the next full build. */
struct rank_strs {
    int refs;
    struct sw_arena arena;
};

struct rank_hist {
    struct sw_arena arena;      /* every string and array below */
    uint64_t seqs[3];           /* store_hist_seqs of the snapshot */
    uint64_t marks[RANK_MARKS]; /* the store's sequences then (RANK_MARK_*) */
    int64_t now_ms;             /* the latest event time in the history */
    struct rank_hsnip *snips;
    size_t nsnips;
    struct rank_hitem *items;
    size_t nitems;
    struct rank_hthread *threads;
    size_t nthreads;
    struct rank_use *uses; /* sorted by thread, then item */
    size_t nuses;
    uint32_t *use_lo; /* uses of thread t: [use_lo[t], use_lo[t + 1]) */
    struct rank__map by_thread; /* rank_hthread.hash → thread index */
    struct rank__map by_label;  /* snippet label → snippet index */
    struct rank__map by_item;   /* hash of item id → item index */
    double team_rate;           /* positive rate over outbound threads */
    double team_value;    /* mean graded value per mature outbound thread */
    double use_sd;        /* standard deviation of the value of a mature use */
    int64_t team_threads; /* outbound threads */
    int64_t team_mature;
    int64_t n_outcomes;
    /* Accounts (account.c): sorted by domain; acct_ev sorted by account,
     * then item, account a's records in [acct_lo[a], acct_lo[a + 1]). */
    struct rank_account *accounts;
    size_t naccounts;
    struct rank_acct_evid *acct_ev;
    size_t nacct_ev;
    uint32_t *acct_lo;
    struct rank__map by_account; /* hash of the domain → account index */
    struct rank__map own;        /* hashes of the team's own domains: those
                                    its outbound mail is sent from */
    /* What counting a later outcome takes without a rebuild
     * (rank_hist_delta): the training cutoff, each thread's outbound
     * emails (by thread, then time: emails[email_lo[t], email_lo[t + 1])),
     * its outcomes (outs[out_lo[t], out_lo[t + 1]), the ones the build
     * read; xouts: those counted since, sorted the same way), its accounts
     * (thr_acc[thr_acc_lo[t], thr_acc_lo[t + 1])), the outbound training
     * threads by first outbound time (by_out: those that mature as time
     * goes on) and the team's sums before division. */
    int64_t cutoff_ms;
    struct rank_hemail *emails;
    uint32_t *email_lo;
    uint32_t *email_items;
    struct rank_hout *outs;
    size_t nouts;
    uint32_t *out_lo;
    struct rank_hout *xouts;
    size_t nxouts;
    uint32_t *thr_acc;
    uint32_t *thr_acc_lo;
    uint32_t *by_out;
    size_t nby_out;
    int64_t team_pos; /* mature outbound threads with a positive outcome */
    double team_vsum; /* their attributed value */
    double use_sum;   /* value of the mature uses, summed */
    double use_sq;    /* and its squares */
    int64_t use_n;    /* mature uses */
    /* A history made by rank_hist_delta shares the strings, maps and
     * per-thread tables above of its root (the full build it descends
     * from) and owns only its items, threads, uses, accounts, acct_ev and
     * xouts. refs: a root's owners (itself and its descendants). */
    struct rank_hist *root;
    int refs;
    /* A root loaded from a file (hist_file.h): its mapping, where the
     * strings are read in place; unmapped with the root. */
    void *file_map;
    size_t file_len;
    /* A root made by rank_hist_follow: origin, the full build (or file)
     * whose strings it reads, and strs[0..nstrs), the strings added by the
     * follows since (its own last), one reference to each; its snippets
     * are its own allocation (a full build's are in its arena). follows:
     * how many follows since origin. */
    struct rank_hist *origin;
    struct rank_strs **strs;
    size_t nstrs;
    int follows;
};

/* rank_hist_build reads team_id's history in transaction t and computes
 * families, attribution, evidence and priors with p (NULL: defaults).
 * Only threads whose first outbound email is before cutoff_ms count when
 * cutoff_ms is non-zero (the nightly job's training split; the outcomes
 * of those threads are still all counted). On success *out is the
 * caller's (rank_hist_free). Errors: SW_EINVAL, SW_ENOMEM, SW_ECORRUPT,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err rank_hist_build(store_txn *t, const char *team_id,
                                     const struct rank_params *p,
                                     int64_t cutoff_ms, struct rank_hist **out);

struct rank_sigs;

/* rank_hist_build_cached is rank_hist_build with a signature cache for
 * the families (rank_sigs_new; NULL: none), read and refreshed. */
SW_MUST_CHECK sw_err rank_hist_build_cached(store_txn *t, const char *team_id,
                                            const struct rank_params *p,
                                            int64_t cutoff_ms,
                                            struct rank_sigs *sigs,
                                            struct rank_hist **out);

/* rank_hist_delta makes in *out the history of transaction t's store
 * from base, a full history of team_id built with no cutoff (or one made
 * by rank_hist_delta), by counting only what changed in the outcome feed
 * since base->seqs[2]: each new outcome of a thread base knows, and each
 * thread that matures because the history's latest event moved on, is
 * taken out of the evidence, attributed again and counted back. Its time
 * is that of the change plus one copy of the items, threads, uses and
 * account records (strings, maps and the per-thread tables are shared
 * with base's root, which stays alive while any descendant does). Its
 * seqs are base's with the outcome sequence of t, so when mail or
 * snippets changed since base, outcomes of threads base does not know
 * wait for the next full build. p must be the build's. base may be
 * read by other threads meanwhile. On success *out is the caller's
 * (rank_hist_free). Errors: SW_EINVAL (base is not such a history),
 * SW_ENOMEM, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_hist_delta(store_txn *t, const char *team_id,
                                     const struct rank_params *p,
                                     const struct rank_hist *base,
                                     struct rank_hist **out);

/* rank_hist_follow makes in *out the history of transaction t's store
 * from base (a history of team_id with no cutoff: a full build, one made
 * by rank_hist_delta or by rank_hist_follow) without reading the whole
 * team again: base's mail, snippets, families, accounts and outcomes as
 * its root read them, plus the emails (store_hist_email_feed), snippets
 * (store_hist_snippet_feed) and outcomes stored since, are counted again
 * in memory. A new framing joins the family of a known framing with the
 * same text, or founds its own (a paraphrase or an edit waits for the
 * next full build to join its family). Everything else comes out as a
 * full build of the same snapshot would make it. The result is a root
 * (rank_hist_delta may count later outcomes into it) that shares base's
 * strings. Returns SW_ESTATE, and nothing, where only a full build can
 * tell: erasures or thread merges since base, feeds that went back (the
 * team deleted and made again), a snippet base counts that
 * changed, a new framing older than its family's founder, mail from a
 * domain the team had not sent from, a thread whose companies would pass
 * the per-thread cap, content items that came without mail, base built
 * before marks existed. Errors otherwise: SW_EINVAL, SW_ENOMEM,
 * SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_hist_follow(store_txn *t, const char *team_id,
                                      const struct rank_params *p,
                                      const struct rank_hist *base,
                                      struct rank_hist **out);

/* rank_hist_delta_heavy: h counts so many outcomes since its root (a
 * full build) that a full build is due although no mail came: each delta
 * copies and merges them (more than RANK_XOUTS_MAX, and more than a
 * quarter of the root's own outcomes). */
#define RANK_XOUTS_MAX 4096
int rank_hist_delta_heavy(const struct rank_hist *h);

/* rank_hist_provisional builds, in transaction t, a history of just the
 * snippets whose ANN labels are labels[0..n) (duplicates and deleted ones
 * skipped) and their content items: families among them, no mail, no
 * outcomes, so no evidence. Suggest ranks by it, by similarity, while a
 * team's first full statistics are still being built (engine.h). On
 * success *out is the caller's (rank_hist_free). Errors: as
 * rank_hist_build. */
SW_MUST_CHECK sw_err rank_hist_provisional(store_txn *t, const char *team_id,
                                           const struct rank_params *p,
                                           const uint64_t *labels, size_t n,
                                           struct rank_hist **out);

/* rank_bare_framing returns 1 when text says little beyond introducing a
 * document named title: fewer than 3 words of 4+ letters remain once the
 * words of the title and attaching words ("attached", "here", "please
 * find") are set aside. */
int rank_bare_framing(const char *text, const char *title);

/* rank_hist_adoption sets the adoption of h's content items from their
 * evidence (times_used, first_ms) and h->now_ms; rank_hist_build calls
 * it. */
void rank_hist_adoption(struct rank_hist *h);

/* rank_best_outcome returns the best kind among counts (indexed by
 * kind, RANK_KINDS entries) by rank_grade, ties going to the kind that
 * shows more progress (a lost deal over a neutral reply over an
 * out-of-office; a negative reply over a bounce); 0 when all are 0. */
int rank_best_outcome(const uint32_t *counts);

/* rank_is_positive: kind is a positive outcome or better (a positive
 * reply, a meeting booked, a deal won): what positive rates count. */
int rank_is_positive(int kind);

/* rank_hist_free frees h and sets *h to NULL (a root only once no
 * history made from it by rank_hist_delta remains); NULL is accepted. */
void rank_hist_free(struct rank_hist **h);

/* rank_hist_item finds the item of id; returns its index or -1. */
long rank_hist_item(const struct rank_hist *h, const char *id);

/* rank_hist_thread finds the thread of id; returns its index or -1. */
long rank_hist_thread(const struct rank_hist *h, const char *id);

/* rank_hist_snippet finds the snippet of id (deleted and empty snippets
 * are not in a history); returns its index in h->snips or -1. */
long rank_hist_snippet(const struct rank_hist *h, const char *id);

/* rank_item_shrunk computes an item's prior-smoothed outcome score: the
 * shrunk mean value minus the team mean (0 = average). */
double rank_item_outcome(const struct rank_hist *h,
                         const struct rank_hitem *it);

/* --- Accounts (account.c) ---------------------------------------------- */

/* Bytes an account key needs: a domain name's 253 and the NUL. */
#define RANK_ACCOUNT_KEY_MAX 254

/* rank_account_key writes to out (cap bytes) the account of addr, an
 * address ("a@acme.example", "Ann <a@Acme.Example>") or a bare domain:
 * its domain lowercased, cut to the registrable part ("eu.acme.example"
 * → "acme.example", "x.acme.co.uk" → "acme.co.uk"), so that a company's
 * subdomains are one account. Returns its length, or 0 when addr names
 * no account: malformed, too long for out, or a free-mail domain
 * (gmail.com and the like), where the domain says nothing of the
 * company. */
size_t rank_account_key(const char *addr, char *out, size_t cap);

/* rank_account_find returns the index in h->accounts of the account
 * named key (rank_account_key's form), or -1. */
long rank_account_find(const struct rank_hist *h, const char *key);

/* rank_account_own: key (rank_account_key's form) is one of the team's
 * own domains as h knows them (its outbound mail's). */
int rank_account_own(const struct rank_hist *h, const char *key);

/* rank_account_sum adds up item's records in the n accounts acc[0..n) of
 * h into *out (account UINT32_MAX; zeros when none). A thread with two of
 * those accounts counts in each. */
void rank_account_sum(const struct rank_hist *h, const uint32_t *acc, size_t n,
                      uint32_t item, struct rank_acct_evid *out);

/* rank_account_move is how much better or worse (in value per use) item
 * it did in the threads summed in ev than over all its uses: its mean
 * value there minus its shrunk team-wide value (post_value), times
 * trials / (trials + p->account_strength), so an account with little
 * history moves it little; 0 without mature uses there. */
double rank_account_move(const struct rank_params *p,
                         const struct rank_hitem *it,
                         const struct rank_acct_evid *ev);

/* --- Families (family.c) ----------------------------------------------- */

/* rank_family_cluster groups n texts into families of near-identical
 * texts: normalised character 5-gram shingles, 64 MinHash values, LSH in
 * 16 bands of 4, and a union of pairs whose estimated Jaccard is at least
 * threshold. order gives the texts' age rank (0 = oldest); fam[i]
 * receives, for each text, the index of the oldest text of its family.
 * The result depends only on the texts and their order. Errors:
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_family_cluster(const char *const *texts, size_t n,
                                         double threshold, uint32_t *fam);

/* A cache of MinHash signatures by text, kept between clusterings of one
 * team's framings (the engine keeps one per team): a rebuild then computes
 * signatures only for texts it has not seen, with the same result. Not
 * thread-safe; one clustering at a time. */
struct rank_sigs;
SW_MUST_CHECK sw_err rank_sigs_new(struct rank_sigs **out);
void rank_sigs_free(struct rank_sigs **s);

/* rank_family_cluster_cached is rank_family_cluster reading and then
 * refreshing cache (NULL: none), and, when word_threshold is above 0,
 * joining paraphrases too: texts whose content words (function and
 * attaching words left out, number words as digits, crude stems) agree
 * at least word_threshold by MinHash, with the same numbers and units
 * ("two weeks" and "two months" stay apart). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_family_cluster_cached(const char *const *texts,
                                                size_t n, double threshold,
                                                double word_threshold,
                                                struct rank_sigs *cache,
                                                uint32_t *fam);

/* rank_paraphrase_join: texts a and b would be joined in one step of
 * rank_family_cluster_cached with these thresholds (for tests and the
 * labelled pairs' figures). */
int rank_paraphrase_join(const char *a, const char *b, double threshold,
                         double word_threshold);

/* rank_family_text_key returns a key of text as the families compare
 * it (lowercased, letters and digits, runs of anything else one space):
 * texts with the same key have the same signatures. */
uint64_t rank_family_text_key(const char *text);

/* rank_family_id writes "fam_" + 16 hex of a stable hash of the family's
 * oldest member's snippet id into out (21 bytes). */
void rank_family_id(const char *oldest_snippet_id, char out[21]);

/* rank_minhash_jaccard estimates the Jaccard similarity of two texts as
 * rank_family_cluster does (for tests and reports). */
double rank_minhash_jaccard(const char *a, const char *b);

#endif
