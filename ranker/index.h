/* index: one ANN index per team, following the team's snippet feed
 * (store_snippet_since). LMDB is the source of truth: an indexer thread
 * embeds and adds new snippets, marks deleted ones, and now and then stores
 * a snapshot of the index in LMDB (RANK_SNAP, 1 MiB chunks, described by
 * an IndexRecord in RANK_META) tagged with the snippet seq it covers. On
 * start a team's index loads its snapshot and replays the feed after it, so
 * a crash at any point loses nothing.
 *
 * Changing the embedder (its id, model or dimension) re-embeds in the
 * background. When team\0"index" was built by another embedder (with the
 * same ANN settings), the team keeps serving from that snapshot, and text
 * queries are embedded with the OLD embedder (made again from the record:
 * builtin always; openai with the configured endpoint and the record's
 * model; if it cannot be made, text queries get SW_EBUSY and only vector
 * queries are served). The old index also follows the feed with it, so
 * new snippets and deletions show up at once. Meanwhile a second index
 * (the rebuild) follows the feed from seq 0 with the new embedder and is
 * snapshotted as team\0"index_next" (its own chunk generation, above both
 * records'), so a crash resumes the rebuild from there. Once it has caught
 * up with the feed it is stored once more and ONE write txn makes it
 * team\0"index" and deletes "index_next"; the old chunks are deleted in a
 * later txn (a crash in between leaves only unreferenced chunks); then the
 * in-memory swap happens under the index's write lock. An embedding error
 * (endpoint unreachable, 429/5xx after retries) makes the team wait with
 * doubling, jittered backoff (retry_min_ms..retry_max_ms) and retry; the
 * old index keeps serving. Query buffers are rank_ranker_dim floats, the
 * largest of the configured and every stored dimension (found at open);
 * an index reads the first dim of them and the rest are zeros. A query
 * embedded just before a swap may be searched in the new index once (a
 * poor ranking for that query, never a crash).
 *
 * Thread-safety: every function may be called from any thread; searches
 * run in parallel with each other and with embedding, and wait only for
 * the short moments when the indexer adds a batch (never for a snapshot,
 * a load of another team, or a long catch-up). */
#ifndef RANK_INDEX_H
#define RANK_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "llm/embed_openai.h"
#include "ranker/ann.h"
#include "store/store.h"

typedef struct rank_ranker rank_ranker;

struct rank_opts {
    const char *embedder; /* NULL or "builtin", or "openai" */
    /* The embeddings endpoint (borrowed; must outlive the ranker): needed
     * for "openai", and to embed queries for an old openai index during a
     * rebuild. Its model is the configured openai model; dim is unused. */
    const struct llm_embed_opts *openai;
    size_t dim;                     /* 0: 384 */
    const struct rank_ann_ops *ann; /* NULL: rank_ann_hnsw */
    size_t m;                       /* 0: 16 */
    size_t ef_construction;         /* 0: 200 */
    size_t ef_search;               /* 0: 128; the least beam of a search */
    uint64_t snapshot_every;        /* least feed changes between snapshots, and
                                     * at least half the index; 0: 10000 */
    int64_t snapshot_ms;  /* snapshot changes older than this; 0: 60 s */
    int64_t poll_ms;      /* indexer idle wait; 0: 500 ms */
    size_t batch;         /* snippets per catch-up batch; 0: 512 */
    int64_t retry_min_ms; /* first wait after an embedding error; 0: 1 s */
    int64_t retry_max_ms; /* longest wait; 0 (or below min): 60 s */
};

/* Figures of one team's index, for tests, metrics and benchmarks. */
struct rank_index_stats {
    uint64_t covered_seq;  /* snippet seq the index has caught up to */
    uint64_t snapshot_seq; /* seq of the stored snapshot (0: none) */
    uint64_t feed_seq;     /* the team's latest snippet seq */
    size_t count;          /* vectors in the index, deleted included */
    size_t deleted;
    size_t memory;        /* approximate bytes held by the ANN index */
    int from_snapshot;    /* 1 if loaded from a snapshot */
    size_t dim;           /* the serving index's dimension */
    int text_queries;     /* 0: its embedder is unavailable (vectors only) */
    int rebuilding;       /* 1 while a rebuild with a new embedder runs */
    uint64_t rebuild_seq; /* feed seq the rebuild covers */
    uint64_t rebuild_snapshot_seq; /* seq of its stored snapshot (0: none) */
    size_t rebuild_count;          /* vectors in the rebuild */
    uint64_t rebuilds;             /* rebuilds swapped in since loading */
};

/* rank_ranker_open makes a ranker over s (which must outlive it); o may be
 * NULL for the defaults. No thread runs until rank_ranker_start.
 * Errors: SW_EINVAL (unknown embedder, bad dim), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_ranker_open(store *s, const struct rank_opts *o,
                                      rank_ranker **out);

/* rank_ranker_start starts the indexer thread, which follows every team's
 * feed. Errors: SW_ESTATE (already started), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_ranker_start(rank_ranker *r);

/* rank_ranker_kick wakes the indexer at once (after writing snippets). */
void rank_ranker_kick(rank_ranker *r);

/* rank_ranker_close stops the indexer (finishing its current batch; no
 * snapshot is forced, so restarts replay), frees every index and sets *r to
 * NULL. Accepts NULL. No other thread may use the ranker any more. */
void rank_ranker_close(rank_ranker **r);

/* rank_ranker_sync brings team_id's serving index up to date with at most
 * max feed entries (0: all), loading it first if needed, and writes 1 to
 * *caught_up (optional) when nothing is left. It never advances a rebuild
 * (the indexer thread and rank_ranker_rebuild do). Errors: SW_EINVAL,
 * SW_ENOMEM, SW_ECORRUPT, SW_ESTORE, SW_EINTERNAL; SW_EPROVIDER,
 * SW_ETIMEOUT (a remote embedder failed; what is indexed keeps serving). */
SW_MUST_CHECK sw_err rank_ranker_sync(rank_ranker *r, const char *team_id,
                                      size_t max, int *caught_up);

/* rank_ranker_rebuild advances team_id's background rebuild (if any) by at
 * most max feed entries (0: all), ignoring any backoff, snapshotting it
 * when due and swapping it in once caught up; *done (optional) gets 1 when
 * no rebuild is left. Errors: as rank_ranker_sync (on embedding errors the
 * team backs off; the old index keeps serving), SW_EIO, SW_ETOOBIG. */
SW_MUST_CHECK sw_err rank_ranker_rebuild(rank_ranker *r, const char *team_id,
                                         size_t max, int *done);

/* rank_ranker_sync_nowait is rank_ranker_sync for the serving index only
 * (never a rebuild), except that when another thread is already updating
 * or snapshotting the index, or the team is backing off after an
 * embedding error, it returns SW_OK at once with *caught_up 0; embedding
 * errors also give SW_OK with *caught_up 0 (searches use it, so they never
 * wait behind a rebuild or an unreachable endpoint). */
SW_MUST_CHECK sw_err rank_ranker_sync_nowait(rank_ranker *r,
                                             const char *team_id, size_t max,
                                             int *caught_up);

/* rank_ranker_covered writes the last snippet feed seq team_id's serving
 * index holds to *seq, without loading it or waiting for the indexer
 * (0 when it is not loaded yet). Errors: SW_EINVAL. */
SW_MUST_CHECK sw_err rank_ranker_covered(rank_ranker *r, const char *team_id,
                                         uint64_t *seq);

/* rank_ranker_count writes the number of vectors in team_id's index
 * (deleted ones included) to *out without waiting for the indexer.
 * Errors: as rank_ranker_sync. */
SW_MUST_CHECK sw_err rank_ranker_count(rank_ranker *r, const char *team_id,
                                       size_t *out);

/* rank_ranker_snapshot stores a snapshot of team_id's index now (after a
 * sync); during a rebuild, of the rebuild (as "index_next"). Errors: as
 * rank_ranker_sync, SW_EIO, SW_ETOOBIG. */
SW_MUST_CHECK sw_err rank_ranker_snapshot(rank_ranker *r, const char *team_id);

/* rank_ranker_dim returns the length of query and embedding buffers: the
 * configured dimension, or a stored index's if larger (see above). */
size_t rank_ranker_dim(const rank_ranker *r);

/* rank_ranker_embed_dim returns the configured embedder's dimension. */
size_t rank_ranker_embed_dim(const rank_ranker *r);

/* rank_ranker_embed embeds text[0..len) for team_id (with the team's IDF
 * and the embedder of its serving index) into out[0..rank_ranker_dim),
 * zero-padded. Errors: SW_EINVAL (no words), SW_ENOMEM, SW_EBUSY (an old
 * index whose embedder is unavailable), SW_EPROVIDER and SW_ETIMEOUT
 * (remote embedder), and load errors as rank_ranker_sync. */
SW_MUST_CHECK sw_err rank_ranker_embed(rank_ranker *r, const char *team_id,
                                       const char *text, size_t len,
                                       float *out);

struct rank_df;

/* rank_ranker_embed_df is rank_ranker_embed with the document frequencies
 * df (NULL: the team's) instead of the team's: a ranking model weighs the
 * words of thread contexts by how common they are among contexts. */
SW_MUST_CHECK sw_err rank_ranker_embed_df(rank_ranker *r, const char *team_id,
                                          struct rank_df *df, const char *text,
                                          size_t len, float *out);

/* rank_ranker_search finds up to k nearest snippets of team_id to q (dim
 * floats, L2-normalised), with beam max(ef, ef_search, k). labels and
 * dists hold k; *n receives the count found, closest first. Labels map to
 * snippet ids with rank_label_id. Errors: SW_EINVAL, SW_ENOMEM,
 * SW_EINTERNAL, load errors. */
SW_MUST_CHECK sw_err rank_ranker_search(rank_ranker *r, const char *team_id,
                                        const float *q, size_t k, size_t ef,
                                        uint64_t *labels, float *dists,
                                        size_t *n);

/* rank_ranker_vectors copies the vectors team_id's serving index holds
 * under labels[0..n) (the vectors Suggest's searches compare queries
 * with) into out, n rows of rank_ranker_dim floats, zero-padded beyond the
 * index's dimension; found[i] gets 1 for a label it holds, 0 (and a row
 * of zeros) for one it does not (not indexed yet, or deleted). It waits
 * only as a search does. Errors: SW_EINVAL, SW_EINTERNAL, load errors as
 * rank_ranker_sync. */
SW_MUST_CHECK sw_err rank_ranker_vectors(rank_ranker *r, const char *team_id,
                                         const uint64_t *labels, size_t n,
                                         float *out, unsigned char *found);

/* rank_ranker_forget_snippet removes snippet_id from team_id's index at
 * once (call it after store_snippet_delete; the indexer would do it on its
 * next pass). SW_OK if it was not indexed. Errors: SW_EINVAL, load
 * errors. */
SW_MUST_CHECK sw_err rank_ranker_forget_snippet(rank_ranker *r,
                                                const char *team_id,
                                                const char *snippet_id);

/* rank_ranker_stats fills *st for team_id (loading its index). Errors: as
 * rank_ranker_sync. */
SW_MUST_CHECK sw_err rank_ranker_stats(rank_ranker *r, const char *team_id,
                                       struct rank_index_stats *st);

/* Figures of one team's index in memory, for metrics. */
struct rank_team_figures {
    char *team_id;
    size_t count;             /* vectors, deleted included */
    size_t deleted;           /* of those, deleted */
    int64_t snapshot_unix_ms; /* when its serving snapshot was stored;
                                 0: none stored yet */
};

/* rank_ranker_figures lists the figures of every team index loaded in
 * memory (the indexer loads each team soon after start), without loading
 * one: it waits only for the short moments when a batch is added, as a
 * search does, never for a load, catch-up or snapshot. *out (caller frees
 * with rank_team_figures_free) receives *n entries. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_ranker_figures(rank_ranker *r,
                                         struct rank_team_figures **out,
                                         size_t *n);
void rank_team_figures_free(struct rank_team_figures *f, size_t n);

/* rank_id_label converts a snippet id ("snip_" and 16 hex digits) to its
 * ANN label. Errors: SW_EINVAL. */
SW_MUST_CHECK sw_err rank_id_label(const char *snippet_id, uint64_t *out);

/* rank_label_id writes the snippet id of label into out (22 bytes). */
void rank_label_id(uint64_t label, char out[22]);

#endif
