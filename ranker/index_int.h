/* index_int: what index.c (catching up, queries, the indexer thread) and
 * index_snap.c (snapshot records, loading and writing) share. Internal to
 * ranker/index*.c. */
#ifndef RANK_INDEX_INT_H
#define RANK_INDEX_INT_H

#include <pthread.h>
#include <stdint.h>

#include "ranker/ann.h"
#include "ranker/embed.h"
#include "ranker/index.h"

#define RANK_CHUNK (1024 * 1024) /* bytes per snapshot chunk */
/* Chunks written per write transaction: a snapshot holds LMDB's single
 * writer for 8 MB at a time, so other teams' small writes interleave with
 * a large team's snapshot (issue 14) instead of waiting behind 64 MB. */
#define RANK_CHUNKS_PER_TXN 8
#define RANK_INDEX_KEY "index"
#define RANK_NEXT_KEY "index_next" /* the rebuild's snapshot */
#define RANK_CAPACITY_MIN 1024

struct rank_index {
    char *team_id;
    pthread_mutex_t sync_mu;   /* one loader or catch-up or snapshot */
    pthread_rwlock_t ann_lock; /* read: search; write: add, delete, swap */
    struct rank_ann *ann;      /* the serving index */
    size_t dim;                /* its dimension */
    /* Embeds for ann: r->emb, or during a rebuild the embedder the stored
     * index was built with (owned by the ranker; NULL when it cannot be
     * made: then only vector queries are served). Under ann_lock. */
    const struct rank_embedder *emb;
    struct rank_df df;
    int loaded;
    int from_snapshot;
    uint64_t covered_seq; /* written under ann_lock (write) */
    uint64_t snap_seq;
    int64_t snap_mono_ms;
    /* When the serving snapshot was stored (its record's create_unix_ms;
     * 0: none). Written under sync_mu with __atomic_store_n and read
     * without it (rank_ranker_figures). */
    int64_t snap_unix_ms;
    /* The background rebuild with r->emb (index.h), or NULL. The pointer
     * changes under sync_mu and ann_lock (write); its contents under
     * ann_lock (write), by the sync_mu holder or a forget. */
    struct rank_ann *next;
    uint64_t next_seq;      /* feed seq the rebuild covers */
    uint64_t next_snap_seq; /* seq of its stored snapshot (0: none) */
    uint64_t rebuilds;      /* rebuilds finished and swapped in */
    int64_t wait_until_ms;  /* after an embedding error, no retry before */
    int64_t wait_ms;        /* the current backoff (0: none) */
    struct rank_index *next_team;
};

/* An embedder of a stored index, kept while any team still serves it. */
struct rank_old_emb {
    struct rank_embedder *e;
    struct rank_old_emb *next;
};

struct rank_ranker {
    store *s;
    struct rank_opts o;
    struct rank_embedder *emb;
    size_t qdim;        /* query buffer size: o.dim and every stored dim */
    pthread_mutex_t mu; /* teams, olds, stop, kicked */
    pthread_cond_t cond;
    struct rank_index *teams;
    struct rank_old_emb *olds;
    pthread_t thread;
    int started, stop, kicked;
    unsigned build_threads; /* inserting a full catch-up batch: the CPUs */
};

enum rank_snap_kind {
    RANK_SNAP_CUR,  /* the serving index, as team\0"index" */
    RANK_SNAP_NEXT, /* the rebuild, as team\0"index_next" */
    RANK_SNAP_SWAP, /* the finished rebuild, made current in one txn */
};

/* rank__stored_dims raises r->qdim to every dimension stored in a
 * snapshot record (queries may hit an old index during a rebuild). */
SW_MUST_CHECK sw_err rank__stored_dims(rank_ranker *r);

/* rank__index_load prepares a not yet loaded index (index_snap.c). sync_mu
 * held. */
SW_MUST_CHECK sw_err rank__index_load(rank_ranker *r, struct rank_index *ix);

/* rank__snapshot stores ix's serving index or rebuild (kind) in LMDB.
 * sync_mu held. */
SW_MUST_CHECK sw_err rank__snapshot(rank_ranker *r, struct rank_index *ix,
                                    enum rank_snap_kind kind);

#endif
