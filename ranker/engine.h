/* engine: the ranking engine's state, per team: the statistics (rank_hist),
 * the serving model, their link and the feedback tally (feedback.h) that
 * Suggest reads. Once started, a background publisher builds them whenever
 * the store has moved on (a new feedback record only catches the tally up
 * and rolls it up again, and new outcomes are counted into the published
 * statistics (rank_hist_delta), without rebuilding them; new mail or
 * snippets take a full build, which a builder thread runs meanwhile and
 * hands back, the team resting between two) and swaps the finished,
 * immutable state in; Suggest only takes a reference to what is
 * published and never waits for a build, except the very first one of a
 * team (nothing to answer from yet). Not started (the
 * tests, the tools), every read builds what is stale inline, so results
 * follow the store exactly.
 *
 * Thread-safety: every function may run on many threads at once, but
 * rank_engine_open/start/close. */
#ifndef RANK_ENGINE_H
#define RANK_ENGINE_H

#include <stdint.h>

#include "base/sw_err.h"
#include "ranker/hist.h"
#include "ranker/index.h"
#include "store/store.h"

typedef struct rank_engine rank_engine;

/* rank_engine_open makes an engine over s and r (both borrowed; they must
 * outlive it); p NULL: defaults. It reads the secret of suggestion ids
 * from s, making it on the store's first use (one write transaction).
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ECORRUPT, SW_EIO, SW_ENOSPACE,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err rank_engine_open(store *s, rank_ranker *r,
                                      const struct rank_params *p,
                                      rank_engine **out);

/* rank_engine_start starts the publisher and builder threads (at nice
 * 10, below the server's calls): the publisher lists the store's teams
 * and has each one's state built (the warm-up after a restart), then
 * polls every poll_ms (0: 200) the teams it knows for changes, and wakes
 * at once on rank_engine_kick.
 * A deleted team's sequences read as zero, so its next pass publishes an
 * empty state in place of the old one (the memory is let go).
 * Errors: SW_ESTATE (already started), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_engine_start(rank_engine *e, int64_t poll_ms);

/* rank_engine_kick wakes the publisher (a team changed). Without a
 * started publisher it does nothing. */
void rank_engine_kick(rank_engine *e);

/* rank_engine_close stops the publisher (finishing the build in hand),
 * frees the engine and its state; NULL is accepted. No call may be
 * running. */
void rank_engine_close(rank_engine **e);

/* How current a team's state is. */
struct rank_fresh {
    int current;      /* every email, snippet, outcome and feedback record
                         stored counts, the serving model is the one loaded,
                         and the index holds every snippet */
    int64_t lag_ms;   /* not current: how long the oldest change not yet
                         counted has been known to the engine (0 if current) */
    uint64_t seqs[3]; /* store_hist_seqs the statistics were built from
                         (not ready: the store's now) */
    int ready;        /* statistics are published (a started engine has
                         none for a team until its first build is done) */
};

/* rank_engine_freshness fills *out for team_id from the store's state
 * now; a stale team wakes the publisher. It never builds anything.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ESTORE, SW_ECORRUPT. */
SW_MUST_CHECK sw_err rank_engine_freshness(rank_engine *e, const char *team_id,
                                           struct rank_fresh *out);

/* What the statistics say about one thread, content item or snippet
 * (rank_engine_stats). */
#define RANK_STATS_THREAD 't'
#define RANK_STATS_CONTENT 'c'
#define RANK_STATS_SNIPPET 's'

struct rank_item_stats {
    int found; /* the statistics know the id (0: every field below 0) */
    /* Content: its evidence. Snippet: its framing family's, or for a key
     * passage its content item's (a passage goes wherever its document
     * goes). Threads: unused. */
    struct rank_evid ev;
    char family_id[24]; /* snippet: its framing family; "" otherwise */
    uint32_t outcomes[RANK_KINDS]; /* thread: its outcomes by kind */
    int best_outcome;              /* thread: rank_best_outcome of those */
};

/* rank_engine_stats looks up ids[0..n), all of kind what (RANK_STATS_*),
 * in team_id's statistics and fills out[0..n). It reads what Suggest
 * reads: for a started engine the published statistics, however old
 * (none published yet: nothing found), and it never builds; an engine
 * never started builds what is stale, as for Suggest. So a page of n
 * items costs n hash lookups. fresh (may be NULL) says how current the
 * statistics read are. Errors: SW_EINVAL, SW_ENOMEM, SW_ESTORE,
 * SW_ECORRUPT. */
SW_MUST_CHECK sw_err rank_engine_stats(rank_engine *e, const char *team_id,
                                       int what, const char *const *ids,
                                       size_t n, struct rank_item_stats *out,
                                       struct rank_fresh *fresh);

/* A test hook: the publisher calls hook(arg, team_id) before each full
 * build of statistics it starts, not before a pass that only counts new
 * outcomes, feedback or a model (a test may block in it to hold a build
 * open). Set it before rank_engine_start; NULL removes it. */
typedef void (*rank_engine_hook)(void *arg, const char *team_id);
void rank_engine_set_build_hook(rank_engine *e, rank_engine_hook hook,
                                void *arg);

/* rank_engine_set_follow: follow (1, the default) new mail from the feeds
 * without a full build (rank_hist_follow), or (0) count it by full builds
 * only, whose statistics are a function of the store alone (the
 * simulator's runs must repeat). Call it before rank_engine_start. */
void rank_engine_set_follow(rank_engine *e, int follow);

/* rank_engine_set_stats_dir keeps each team's statistics in a file in
 * dir (made, mode 0700, if missing; NULL: none), so that after a restart
 * Suggest ranks with them as soon as the publisher has loaded them
 * (hist_file.h) instead of after a full build: the builder saves a
 * team's full build at most once every save_every_ms (sooner after an
 * erasure, whose mail the file may hold), and the publisher loads a
 * team's file once, before its first statistics, when it is of this
 * store's past (then counts what came since as after any build: new
 * outcomes at once, new mail by a full build). A file that is damaged,
 * ahead of the store or older than an erasure is removed, never used.
 * Call it before rank_engine_start. Errors: SW_EINVAL, SW_EIO (dir
 * cannot be made), SW_ENOMEM, SW_ESTATE (started). */
SW_MUST_CHECK sw_err rank_engine_set_stats_dir(rank_engine *e, const char *dir,
                                               int64_t save_every_ms);

/* rank_engine_rerank_begin marks a re-ranking run of team_id as running
 * in this process; SW_EABORTED if one already is. Pair it with
 * rank_engine_rerank_end. (Suggest needs no signal: the publisher loads
 * a newly promoted model.) Errors: SW_EABORTED, SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_engine_rerank_begin(rank_engine *e,
                                              const char *team_id);
void rank_engine_rerank_end(rank_engine *e, const char *team_id);

/* rank_engine_store and rank_engine_ranker return the borrowed handles;
 * rank_engine_params the engine's knobs (valid while it is open). */
store *rank_engine_store(rank_engine *e);
rank_ranker *rank_engine_ranker(rank_engine *e);
const struct rank_params *rank_engine_params(const rank_engine *e);

#endif
