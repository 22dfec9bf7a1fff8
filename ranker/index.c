/* index: per-team ANN indexes that follow the snippet feed, their LMDB
 * snapshots and the indexer thread (index.h). Lock order: ranker mu, then
 * an index's sync_mu, then its ann lock, then its df lock. */
#include "ranker/index.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/embed.h"
#include "ranker/rank_records.pb-c.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

#define RANK_CHUNK (1024 * 1024) /* bytes per snapshot chunk */
#define RANK_CHUNKS_PER_TXN 64   /* chunks written per transaction */
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
};

/* Labels. */

sw_err rank_id_label(const char *id, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (!store_snippet_id_ok(id))
        return SW_EINVAL;
    for (i = 5; i < 21; i++) {
        char c = id[i];
        v = (v << 4) | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    *out = v;
    return SW_OK;
}

void rank_label_id(uint64_t label, char out[22])
{
    unsigned char b[8];
    int i;

    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(label >> (56 - 8 * i));
    memcpy(out, "snip_", 5);
    sw_hex(b, 8, out + 5);
}

/* Opening and closing. */

static void rank_index_free(struct rank_index *ix)
{
    if (ix == NULL)
        return;
    if (ix->ann)
        ix->ann->ops->destroy(&ix->ann);
    if (ix->next)
        ix->next->ops->destroy(&ix->next);
    rank_df_free(&ix->df);
    pthread_rwlock_destroy(&ix->ann_lock);
    pthread_mutex_destroy(&ix->sync_mu);
    sw_free(ix->team_id);
    sw_free(ix);
}

static SW_MUST_CHECK sw_err rank_stored_dims(rank_ranker *r);

sw_err rank_ranker_open(store *s, const struct rank_opts *o, rank_ranker **out)
{
    rank_ranker *r;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    r = sw_calloc(1, sizeof(*r));
    if (r == NULL)
        return SW_ENOMEM;
    if (o)
        r->o = *o;
    if (r->o.dim == 0)
        r->o.dim = 384;
    if (r->o.ann == NULL)
        r->o.ann = &rank_ann_hnsw;
    if (r->o.m == 0)
        r->o.m = 16;
    if (r->o.ef_construction == 0)
        r->o.ef_construction = 200;
    if (r->o.ef_search == 0)
        r->o.ef_search = 128;
    if (r->o.snapshot_every == 0)
        r->o.snapshot_every = 10000;
    if (r->o.snapshot_ms == 0)
        r->o.snapshot_ms = 60000;
    if (r->o.poll_ms == 0)
        r->o.poll_ms = 500;
    if (r->o.batch == 0)
        r->o.batch = 512;
    if (r->o.retry_min_ms == 0)
        r->o.retry_min_ms = 1000;
    if (r->o.retry_max_ms < r->o.retry_min_ms)
        r->o.retry_max_ms =
            r->o.retry_min_ms > 60000 ? r->o.retry_min_ms : 60000;
    r->s = s;
    rc =
        rank_embedder_make(r->o.embedder, NULL, r->o.dim, r->o.openai, &r->emb);
    if (rc == SW_OK)
        rc = rank_stored_dims(r);
    if (rc) {
        if (r->emb)
            r->emb->ops->destroy(&r->emb);
        sw_free(r);
        return rc;
    }
    pthread_mutex_init(&r->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    *out = r;
    return SW_OK;
}

void rank_ranker_close(rank_ranker **rp)
{
    rank_ranker *r;
    struct rank_index *ix, *next;

    if (rp == NULL || *rp == NULL)
        return;
    r = *rp;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (ix = r->teams; ix; ix = next) {
        next = ix->next_team;
        rank_index_free(ix);
    }
    while (r->olds) {
        struct rank_old_emb *o = r->olds;
        r->olds = o->next;
        o->e->ops->destroy(&o->e);
        sw_free(o);
    }
    r->emb->ops->destroy(&r->emb);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    sw_free(r);
    *rp = NULL;
}

size_t rank_ranker_dim(const rank_ranker *r)
{
    return r->qdim;
}

size_t rank_ranker_embed_dim(const rank_ranker *r)
{
    return r->o.dim;
}

/* Records: packing and unpacking IndexRecord through sw_malloc. */

static void *rank_pb_alloc(void *data, size_t n)
{
    (void)data;
    return sw_malloc(n);
}

static void rank_pb_free(void *data, void *p)
{
    (void)data;
    sw_free(p);
}

static ProtobufCAllocator rank_pb_allocator = {rank_pb_alloc, rank_pb_free,
                                               NULL};

static void rank_params(const rank_ranker *r, struct rank_ann_params *p,
                        size_t dim, size_t capacity)
{
    rank_ann_params_default(p, dim);
    p->m = r->o.m;
    p->ef_construction = r->o.ef_construction;
    p->max_elements = capacity;
}

/* rank_chunk_key writes team\0gen(8)[chunk(8)] into b. */
static SW_MUST_CHECK sw_err rank_chunk_key(struct sw_buf *b, const char *team,
                                           uint64_t gen, int with_chunk,
                                           uint64_t chunk)
{
    sw_err rc;

    rc = store_key(b, team, NULL, 0);
    if (rc)
        return rc;
    rc = store_key_add_u64(b, gen);
    if (rc || !with_chunk)
        return rc;
    return store_key_add_u64(b, chunk);
}

/* Loading a snapshot. */

struct rank_readarg {
    const char *team;
    Snipwise__Rank__IndexRecord *rec; /* out of rank_meta_fn */
    struct rank_blob *blob;           /* filled by rank_chunks_fn */
    const char *key;                  /* NULL: RANK_INDEX_KEY */
};

/* rank_stored_dims_fn raises r->qdim to the dimension of every stored
 * index record (team\0"index"), so query buffers fit old indexes too. */
static sw_err rank_stored_dims_fn(const void *k, size_t klen, const void *v,
                                  size_t vlen, void *arg)
{
    static const char suffix[] = "\0" RANK_INDEX_KEY;
    rank_ranker *r = arg;
    Snipwise__Rank__IndexRecord *rec;

    if (klen < sizeof(suffix) - 1 ||
        memcmp((const char *)k + klen - (sizeof(suffix) - 1), suffix,
               sizeof(suffix) - 1) != 0)
        return SW_OK;
    rec = snipwise__rank__index_record__unpack(&rank_pb_allocator, vlen, v);
    if (rec == NULL)
        return SW_OK; /* the team's load reports it */
    if (rec->dim > r->qdim && rec->dim <= RANK_EMBED_DIM_MAX)
        r->qdim = rec->dim;
    snipwise__rank__index_record__free_unpacked(rec, &rank_pb_allocator);
    return SW_OK;
}

static sw_err rank_stored_dims_view(store_txn *t, void *arg)
{
    return store_scan(t, STORE_DB_RANK_META, NULL, 0, NULL, 0,
                      rank_stored_dims_fn, arg);
}

static sw_err rank_stored_dims(rank_ranker *r)
{
    r->qdim = r->o.dim;
    return store_view(r->s, rank_stored_dims_view, r);
}

static sw_err rank_meta_fn(store_txn *t, void *arg)
{
    struct rank_readarg *a = arg;
    struct sw_buf key;
    const void *v;
    size_t vlen;
    sw_err rc;

    sw_buf_init(&key, 1024);
    if (a->rec) {
        snipwise__rank__index_record__free_unpacked(a->rec, &rank_pb_allocator);
        a->rec = NULL;
    }
    rc = store_key(&key, a->team, a->key ? a->key : RANK_INDEX_KEY,
                   strlen(a->key ? a->key : RANK_INDEX_KEY));
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_RANK_META, sw_buf_str(&key), sw_buf_len(&key),
                   &v, &vlen);
    if (rc)
        goto out;
    a->rec = snipwise__rank__index_record__unpack(&rank_pb_allocator, vlen, v);
    if (a->rec == NULL)
        rc = SW_ECORRUPT;
out:
    sw_buf_free(&key);
    return rc;
}

static sw_err rank_chunks_fn(store_txn *t, void *arg)
{
    struct rank_readarg *a = arg;
    struct sw_buf key;
    const void *v;
    size_t vlen, off = 0;
    uint64_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&key, 1024);
    for (i = 0; i < a->rec->nchunks; i++) {
        rc = rank_chunk_key(&key, a->team, a->rec->gen, 1, i);
        if (rc)
            goto out;
        rc = store_get(t, STORE_DB_RANK_SNAP, sw_buf_str(&key),
                       sw_buf_len(&key), &v, &vlen);
        if (rc == SW_ENOTFOUND)
            rc = SW_ECORRUPT;
        if (rc)
            goto out;
        if (vlen > a->blob->n - off) {
            rc = SW_ECORRUPT;
            goto out;
        }
        memcpy((char *)a->blob->p + off, v, vlen);
        off += vlen;
    }
    if (off != a->blob->n)
        rc = SW_ECORRUPT;
out:
    sw_buf_free(&key);
    return rc;
}

/* rank_read_rec reads team's record under key (SW_ENOTFOUND: none) into
 * *out (free with rank_rec_free). */
static SW_MUST_CHECK sw_err rank_read_rec(rank_ranker *r, const char *team,
                                          const char *key,
                                          Snipwise__Rank__IndexRecord **out)
{
    struct rank_readarg a = {team, NULL, NULL, key};
    sw_err rc;

    *out = NULL;
    rc = store_view(r->s, rank_meta_fn, &a);
    if (rc == SW_OK) {
        *out = a.rec;
        a.rec = NULL;
    }
    if (a.rec)
        snipwise__rank__index_record__free_unpacked(a.rec, &rank_pb_allocator);
    return rc;
}

static void rank_rec_free(Snipwise__Rank__IndexRecord *rec)
{
    if (rec)
        snipwise__rank__index_record__free_unpacked(rec, &rank_pb_allocator);
}

/* rank_rec_same_ann: rec was built with the ranker's ANN settings, so it
 * can be loaded and searched. */
static int rank_rec_same_ann(const rank_ranker *r,
                             const Snipwise__Rank__IndexRecord *rec)
{
    return strcmp(rec->ann, r->o.ann->name) == 0 && rec->m == r->o.m &&
           rec->dim > 0 && rec->dim <= r->qdim;
}

/* rank_rec_current: rec was also built with the configured embedder. */
static int rank_rec_current(const rank_ranker *r,
                            const Snipwise__Rank__IndexRecord *rec)
{
    return rank_rec_same_ann(r, rec) &&
           strcmp(rec->embedder, r->emb->ops->id) == 0 &&
           strcmp(rec->model, r->emb->model) == 0 && rec->dim == r->o.dim;
}

/* rank_load_rec loads the snapshot rec describes into *out. */
static SW_MUST_CHECK sw_err rank_load_rec(rank_ranker *r, const char *team,
                                          Snipwise__Rank__IndexRecord *rec,
                                          struct rank_ann **out)
{
    struct rank_readarg a = {team, rec, NULL, NULL};
    struct rank_blob blob = RANK_BLOB_INIT;
    unsigned char sha[SW_SHA256_LEN];
    struct rank_ann_params p;
    sw_err rc;

    rc = rank_blob_create(rec->bytes, &blob);
    if (rc)
        goto out;
    a.blob = &blob;
    rc = store_view(r->s, rank_chunks_fn, &a);
    if (rc)
        goto out;
    sw_sha256(blob.p, blob.n, sha);
    if (rec->sha256.len != SW_SHA256_LEN ||
        memcmp(rec->sha256.data, sha, SW_SHA256_LEN) != 0) {
        rc = SW_ECORRUPT;
        goto out;
    }
    rank_params(r, &p, rec->dim, 0);
    rc = r->o.ann->load(&p, &blob, out);
out:
    rank_blob_free(&blob);
    return rc;
}

/* rank_old_embedder finds or makes the embedder id/model/dim of a stored
 * index; NULL when it cannot be made (logged). */
static const struct rank_embedder *
rank_old_embedder(rank_ranker *r, const char *id, const char *model, size_t dim)
{
    struct rank_old_emb *o;
    struct rank_embedder *e = NULL;
    sw_err rc;

    pthread_mutex_lock(&r->mu);
    for (o = r->olds; o; o = o->next)
        if (strcmp(o->e->ops->id, id) == 0 && strcmp(o->e->model, model) == 0 &&
            o->e->dim == dim) {
            e = o->e;
            break;
        }
    if (e == NULL) {
        rc = rank_embedder_make(id, model, dim, r->o.openai, &e);
        o = rc == SW_OK ? sw_calloc(1, sizeof(*o)) : NULL;
        if (o) {
            o->e = e;
            o->next = r->olds;
            r->olds = o;
        } else {
            if (e)
                e->ops->destroy(&e);
            sw_log_warn("rank.old_embedder_unavailable",
                        "embedder=%s model=%s dim=%zu err=%s: text queries "
                        "wait for the rebuild; vector queries are served",
                        id, model, dim, sw_err_name(rc ? rc : SW_ENOMEM));
        }
    }
    pthread_mutex_unlock(&r->mu);
    return e;
}

/* rank_del_gens_fn deletes the chunks of gens[0..n) and, if key is set,
 * that record. */
struct rank_delarg {
    const char *team;
    const char *key;
    uint64_t gens[2];
    int n;
};

static sw_err rank_del_gens_fn(store_txn *t, void *arg)
{
    struct rank_delarg *a = arg;
    struct sw_buf key;
    sw_err rc = SW_OK;
    int i;

    sw_buf_init(&key, 1024);
    for (i = 0; i < a->n; i++) {
        rc = rank_chunk_key(&key, a->team, a->gens[i], 0, 0);
        if (rc)
            goto out;
        rc = store_del_prefix(t, STORE_DB_RANK_SNAP, sw_buf_str(&key),
                              sw_buf_len(&key), NULL);
        if (rc)
            goto out;
    }
    if (a->key) {
        rc = store_key(&key, a->team, a->key, strlen(a->key));
        if (rc)
            goto out;
        rc = store_del(t, STORE_DB_RANK_META, sw_buf_str(&key),
                       sw_buf_len(&key));
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
    }
out:
    sw_buf_free(&key);
    return rc;
}

/* rank_drop_next deletes a stale rebuild snapshot (logged on failure: it
 * is only garbage). */
static void rank_drop_next(rank_ranker *r, const char *team,
                           const Snipwise__Rank__IndexRecord *nxt)
{
    struct rank_delarg d = {team, RANK_NEXT_KEY, {nxt->gen, 0}, 1};
    sw_err rc = store_update(r->s, rank_del_gens_fn, &d);

    if (rc)
        sw_log_warn("rank.drop_next", "team=%s err=%s", team, sw_err_name(rc));
}

/* rank_index_load prepares a not yet loaded index: its document
 * frequencies and its snapshot, or an empty ANN index; or, when the
 * snapshot was built by another embedder, that snapshot to serve from and
 * a rebuild (resumed from its own snapshot if there is one). sync_mu
 * held. */
static SW_MUST_CHECK sw_err rank_index_load(rank_ranker *r,
                                            struct rank_index *ix)
{
    Snipwise__Rank__IndexRecord *cur = NULL, *nxt = NULL;
    struct rank_ann_params p;
    int64_t t0 = sw_mono_ms();
    sw_err rc;

    rc = rank_df_load(r->s, ix->team_id, &ix->df);
    if (rc)
        return rc;
    rc = rank_read_rec(r, ix->team_id, RANK_INDEX_KEY, &cur);
    if (rc == SW_OK)
        rc = rank_read_rec(r, ix->team_id, RANK_NEXT_KEY, &nxt);
    if (rc && rc != SW_ENOTFOUND)
        sw_log_error("rank.snapshot_unusable", "team=%s err=%s", ix->team_id,
                     sw_err_name(rc));
    ix->emb = r->emb;
    if (cur && rank_rec_same_ann(r, cur)) {
        rc = rank_load_rec(r, ix->team_id, cur, &ix->ann);
        if (rc) {
            /* A snapshot is only a cache of the feed: log and rebuild. */
            sw_log_error("rank.snapshot_unusable", "team=%s err=%s",
                         ix->team_id, sw_err_name(rc));
        } else {
            ix->dim = cur->dim;
            ix->covered_seq = cur->seq;
            ix->snap_seq = cur->seq;
            ix->from_snapshot = 1;
        }
    } else if (cur) {
        /* Changed ANN settings: the snapshot is of no use; rebuild. */
        sw_log_info("rank.snapshot_mismatch",
                    "team=%s embedder=%s model=%s dim=%u ann=%s", ix->team_id,
                    cur->embedder, cur->model, cur->dim, cur->ann);
    }
    if (ix->ann && !rank_rec_current(r, cur)) {
        /* Another embedder built it: serve from it (with that embedder)
         * while the rebuild embeds everything anew. */
        ix->emb = rank_old_embedder(r, cur->embedder, cur->model, cur->dim);
        if (nxt && rank_rec_current(r, nxt) &&
            rank_load_rec(r, ix->team_id, nxt, &ix->next) == SW_OK) {
            ix->next_seq = nxt->seq;
            ix->next_snap_seq = nxt->seq;
        } else {
            rank_params(r, &p, r->o.dim, RANK_CAPACITY_MIN);
            rc = r->o.ann->create(&p, &ix->next);
            if (rc)
                goto out;
        }
        sw_log_info("rank.rebuild_start",
                    "team=%s from=%s/%s/%u to=%s/%s/%zu resume_seq=%llu",
                    ix->team_id, cur->embedder, cur->model, cur->dim,
                    r->emb->ops->id, r->emb->model, r->o.dim,
                    (unsigned long long)ix->next_seq);
    } else if (nxt) {
        rank_drop_next(r, ix->team_id, nxt);
    }
    if (ix->ann == NULL) {
        rank_params(r, &p, r->o.dim, RANK_CAPACITY_MIN);
        rc = r->o.ann->create(&p, &ix->ann);
        if (rc)
            goto out;
        ix->emb = r->emb;
        ix->dim = r->o.dim;
        ix->covered_seq = 0;
        ix->snap_seq = 0;
        ix->from_snapshot = 0;
    }
    rc = SW_OK;
    ix->snap_mono_ms = sw_mono_ms();
    __atomic_store_n(&ix->loaded, 1, __ATOMIC_RELEASE);
    sw_log_info("rank.index_loaded", "team=%s count=%zu seq=%llu ms=%lld",
                ix->team_id, ix->ann->ops->count(ix->ann),
                (unsigned long long)ix->covered_seq,
                (long long)(sw_mono_ms() - t0));
out:
    if (rc && ix->ann)
        ix->ann->ops->destroy(&ix->ann);
    if (rc && ix->next)
        ix->next->ops->destroy(&ix->next);
    rank_rec_free(cur);
    rank_rec_free(nxt);
    return rc;
}

/* rank_index_get finds or creates team_id's index and loads it. */
static SW_MUST_CHECK sw_err rank_index_get(rank_ranker *r, const char *team_id,
                                           struct rank_index **out)
{
    struct rank_index *ix;
    sw_err rc = SW_OK;

    if (team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    pthread_mutex_lock(&r->mu);
    for (ix = r->teams; ix; ix = ix->next_team)
        if (strcmp(ix->team_id, team_id) == 0)
            break;
    if (ix == NULL) {
        ix = sw_calloc(1, sizeof(*ix));
        if (ix == NULL || (ix->team_id = sw_strdup(team_id)) == NULL) {
            sw_free(ix);
            pthread_mutex_unlock(&r->mu);
            return SW_ENOMEM;
        }
        rc = rank_df_init(&ix->df);
        if (rc) {
            sw_free(ix->team_id);
            sw_free(ix);
            pthread_mutex_unlock(&r->mu);
            return rc;
        }
        pthread_mutex_init(&ix->sync_mu, NULL);
        pthread_rwlock_init(&ix->ann_lock, NULL);
        ix->next_team = r->teams;
        r->teams = ix;
    }
    pthread_mutex_unlock(&r->mu);
    /* Loaded indexes skip sync_mu, so searches never queue behind a
     * snapshot or catch-up holding it. */
    if (__atomic_load_n(&ix->loaded, __ATOMIC_ACQUIRE)) {
        *out = ix;
        return SW_OK;
    }
    pthread_mutex_lock(&ix->sync_mu);
    if (!ix->loaded)
        rc = rank_index_load(r, ix);
    pthread_mutex_unlock(&ix->sync_mu);
    if (rc)
        return rc;
    *out = ix;
    return SW_OK;
}

/* Catching up with the feed. */

struct rank_item {
    uint64_t label, seq;
    int live, skip;
    char *text;
};

struct rank_batch {
    struct rank_item *items;
    size_t n, cap;
};

static sw_err rank_batch_fn(const struct store_snippet *sn, void *arg)
{
    struct rank_batch *b = arg;
    struct rank_item *it;
    uint64_t label;

    if (b->n >= b->cap)
        return STORE_SCAN_STOP;
    it = &b->items[b->n];
    memset(it, 0, sizeof(*it));
    it->seq = sn->seq;
    if (rank_id_label(sn->snippet_id, &label) != SW_OK) {
        /* store_snippet_put only accepts such ids; skip anything else. */
        sw_log_error("rank.bad_snippet_id", "seq=%llu",
                     (unsigned long long)sn->seq);
        it->skip = 1;
        b->n++;
        return SW_OK;
    }
    it->label = label;
    it->live = !sn->deleted && sn->text[0] != '\0';
    if (it->live) {
        it->text = sw_strdup(sn->text);
        if (it->text == NULL)
            return SW_ENOMEM;
    }
    b->n++;
    return SW_OK;
}

static void rank_batch_clear(struct rank_batch *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        sw_free(b->items[i].text);
    b->n = 0;
}

/* rank_apply embeds and applies one batch to ix's serving index, or with
 * to_next to its rebuild. sync_mu held. */
static SW_MUST_CHECK sw_err rank_apply(rank_ranker *r, struct rank_index *ix,
                                       struct rank_batch *b, float *vecs,
                                       int to_next)
{
    const struct rank_embedder *e = to_next ? r->emb : ix->emb;
    uint64_t last = b->items[b->n - 1].seq;
    const char **texts = NULL;
    size_t *lens = NULL, i, n = 0, need, cap, dim = e ? e->dim : 0;
    unsigned char *empty = NULL;
    struct rank_ann *ann;
    uint64_t df_seq;
    size_t j;
    int observed = 0, seq_df;
    sw_err rc = SW_OK;

    /* An embedder that weighs words by the team's document frequencies
     * (builtin: no batch op) embeds each snippet right after counting it,
     * so that its vector depends only on the snippets before it, never on
     * how the feed was cut into batches (which depends on timing). Remote
     * embedders ignore the frequencies and get the whole batch at once. */
    seq_df = e == NULL || e->ops->embed_batch == NULL;
    df_seq = ix->df.seq;
    for (i = 0; i < b->n && !seq_df; i++) {
        struct rank_item *it = &b->items[i];
        if (it->skip || !it->live || it->seq <= df_seq)
            continue;
        rc = rank_df_observe(&ix->df, it->text, strlen(it->text));
        if (rc)
            return rc;
        observed = 1;
    }
    texts = sw_malloc(b->n * sizeof(*texts));
    lens = sw_malloc(b->n * sizeof(*lens));
    empty = sw_calloc(b->n, 1);
    if (texts == NULL || lens == NULL || empty == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < b->n && e; i++) {
        if (!b->items[i].live)
            continue;
        texts[n] = b->items[i].text;
        lens[n++] = strlen(b->items[i].text);
    }
    /* One call for the batch: remote embedders send it in few requests. */
    if (n > 0 && !seq_df) {
        rc = rank_embed_many(e, &ix->df, texts, lens, n, vecs, empty);
        if (rc)
            goto out;
    }
    for (i = 0, j = 0; seq_df && e && i < b->n; i++) {
        struct rank_item *it = &b->items[i];
        if (!it->live)
            continue;
        if (!it->skip && it->seq > df_seq) {
            rc = rank_df_observe(&ix->df, it->text, strlen(it->text));
            if (rc)
                goto out;
            observed = 1;
        }
        rc = rank_embed_many(e, &ix->df, &texts[j], &lens[j], 1, vecs + j * dim,
                             empty + j);
        if (rc)
            goto out;
        j++;
    }
    if (observed) {
        rc = rank_df_flush(r->s, ix->team_id, &ix->df, last);
        if (rc)
            goto out;
    }
    pthread_rwlock_wrlock(&ix->ann_lock);
    ann = to_next ? ix->next : ix->ann;
    need = ann->ops->count(ann) + b->n;
    cap = ann->ops->capacity(ann);
    if (need > cap) {
        while (cap < need)
            cap *= 2;
        rc = ann->ops->resize(ann, cap);
        if (rc)
            goto unlock;
    }
    for (i = 0, n = 0; i < b->n; i++) {
        struct rank_item *it = &b->items[i];
        if (it->skip)
            continue;
        if (it->live && e == NULL)
            continue; /* an old index without its embedder: only deletes */
        if (it->live && !empty[n]) {
            rc = ann->ops->add(ann, it->label, vecs + n * dim);
        } else {
            /* Gone, or no words: nothing to find it by. */
            rc = ann->ops->mark_deleted(ann, it->label);
            if (rc == SW_ENOTFOUND)
                rc = SW_OK;
        }
        if (it->live)
            n++;
        if (rc)
            goto unlock;
    }
    if (to_next)
        ix->next_seq = last;
    else
        ix->covered_seq = last;
unlock:
    pthread_rwlock_unlock(&ix->ann_lock);
out:
    sw_free(empty);
    sw_free(lens);
    sw_free(texts);
    return rc;
}

/* rank_catch_up applies up to max feed entries (0: all) to the serving
 * index, or with to_next to the rebuild. sync_mu held. */
static SW_MUST_CHECK sw_err rank_catch_up(rank_ranker *r, struct rank_index *ix,
                                          size_t max, int *caught_up,
                                          int to_next)
{
    struct rank_batch b = {0};
    float *vecs = NULL;
    size_t done = 0;
    sw_err rc = SW_OK;

    *caught_up = 0;
    b.cap = r->o.batch;
    b.items = sw_calloc(b.cap, sizeof(*b.items));
    vecs = sw_malloc(b.cap * r->qdim * sizeof(float));
    if (b.items == NULL || vecs == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (;;) {
        if (max && done >= max)
            break;
        rank_batch_clear(&b);
        rc = store_snippet_since(r->s, ix->team_id,
                                 to_next ? ix->next_seq : ix->covered_seq,
                                 b.cap, rank_batch_fn, &b);
        if (rc)
            goto out;
        if (b.n == 0) {
            *caught_up = 1;
            break;
        }
        rc = rank_apply(r, ix, &b, vecs, to_next);
        if (rc)
            goto out;
        done += b.n;
    }
out:
    if (rc)
        sw_log_error("rank.catch_up", "team=%s rebuild=%d err=%s", ix->team_id,
                     to_next, sw_err_name(rc));
    rank_batch_clear(&b);
    sw_free(b.items);
    sw_free(vecs);
    return rc;
}

sw_err rank_ranker_count(rank_ranker *r, const char *team_id, size_t *out)
{
    struct rank_index *ix;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&ix->ann_lock);
    *out = ix->ann->ops->count(ix->ann);
    pthread_rwlock_unlock(&ix->ann_lock);
    return SW_OK;
}

/* Snapshots. */

enum rank_snap_kind {
    RANK_SNAP_CUR,  /* the serving index, as team\0"index" */
    RANK_SNAP_NEXT, /* the rebuild, as team\0"index_next" */
    RANK_SNAP_SWAP, /* the finished rebuild, made current in one txn */
};

struct rank_writearg {
    const char *team;
    const struct rank_blob *blob;
    uint64_t gen, from, to; /* chunks [from, to) */
    Snipwise__Rank__IndexRecord *rec;
    const char *key;     /* record to write */
    const char *del_key; /* record to delete in the same txn, or NULL */
    uint64_t old_gen;    /* chunks to delete in the same txn */
    int has_old;
};

static sw_err rank_write_chunks_fn(store_txn *t, void *arg)
{
    struct rank_writearg *a = arg;
    struct sw_buf key;
    uint64_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&key, 1024);
    if (a->from == 0) {
        /* Clear leftovers of an earlier attempt at this generation. */
        rc = rank_chunk_key(&key, a->team, a->gen, 0, 0);
        if (rc)
            goto out;
        rc = store_del_prefix(t, STORE_DB_RANK_SNAP, sw_buf_str(&key),
                              sw_buf_len(&key), NULL);
        if (rc)
            goto out;
    }
    for (i = a->from; i < a->to; i++) {
        size_t off = (size_t)i * RANK_CHUNK;
        size_t n =
            a->blob->n - off < RANK_CHUNK ? a->blob->n - off : RANK_CHUNK;
        rc = rank_chunk_key(&key, a->team, a->gen, 1, i);
        if (rc)
            goto out;
        rc = store_put(t, STORE_DB_RANK_SNAP, sw_buf_str(&key),
                       sw_buf_len(&key), (char *)a->blob->p + off, n, 0);
        if (rc)
            goto out;
    }
out:
    sw_buf_free(&key);
    return rc;
}

static sw_err rank_write_meta_fn(store_txn *t, void *arg)
{
    struct rank_writearg *a = arg;
    struct sw_buf key;
    unsigned char *buf = NULL;
    size_t n;
    sw_err rc;

    sw_buf_init(&key, 1024);
    n = snipwise__rank__index_record__get_packed_size(a->rec);
    buf = sw_malloc(n ? n : 1);
    if (buf == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    (void)snipwise__rank__index_record__pack(a->rec, buf);
    rc = store_key(&key, a->team, a->key, strlen(a->key));
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_RANK_META, sw_buf_str(&key), sw_buf_len(&key),
                   buf, n, 0);
    if (rc)
        goto out;
    if (a->del_key) {
        rc = store_key(&key, a->team, a->del_key, strlen(a->del_key));
        if (rc)
            goto out;
        rc = store_del(t, STORE_DB_RANK_META, sw_buf_str(&key),
                       sw_buf_len(&key));
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
        if (rc)
            goto out;
    }
    if (a->has_old) {
        rc = rank_chunk_key(&key, a->team, a->old_gen, 0, 0);
        if (rc)
            goto out;
        rc = store_del_prefix(t, STORE_DB_RANK_SNAP, sw_buf_str(&key),
                              sw_buf_len(&key), NULL);
    }
out:
    sw_free(buf);
    sw_buf_free(&key);
    return rc;
}

/* rank_snapshot stores ix's serving index (RANK_SNAP_CUR) or its rebuild
 * (RANK_SNAP_NEXT, RANK_SNAP_SWAP). Chunk generations are above both
 * records', so the two snapshots never share one. sync_mu held, so no
 * batch runs meanwhile; searches go on. */
static SW_MUST_CHECK sw_err rank_snapshot(rank_ranker *r, struct rank_index *ix,
                                          enum rank_snap_kind kind)
{
    Snipwise__Rank__IndexRecord rec = SNIPWISE__RANK__INDEX_RECORD__INIT;
    Snipwise__Rank__IndexRecord *cur = NULL, *nxt = NULL;
    struct rank_writearg wa;
    struct rank_blob blob = RANK_BLOB_INIT;
    unsigned char sha[SW_SHA256_LEN];
    uint64_t seq, nchunks, from;
    int64_t t0 = sw_mono_ms();
    sw_err rc;

    memset(&wa, 0, sizeof(wa));
    pthread_rwlock_rdlock(&ix->ann_lock);
    if (kind == RANK_SNAP_CUR) {
        rc = ix->ann->ops->save(ix->ann, &blob);
        seq = ix->covered_seq;
    } else {
        rc = ix->next->ops->save(ix->next, &blob);
        seq = ix->next_seq;
    }
    pthread_rwlock_unlock(&ix->ann_lock);
    if (rc)
        goto out;
    sw_sha256(blob.p, blob.n, sha);
    rc = rank_read_rec(r, ix->team_id, RANK_INDEX_KEY, &cur);
    if (rc && rc != SW_ENOTFOUND)
        goto out;
    rc = rank_read_rec(r, ix->team_id, RANK_NEXT_KEY, &nxt);
    if (rc && rc != SW_ENOTFOUND)
        goto out;
    wa.team = ix->team_id;
    wa.blob = &blob;
    wa.gen = 1 + (cur ? cur->gen : 0);
    if (nxt && nxt->gen + 1 > wa.gen)
        wa.gen = nxt->gen + 1;
    nchunks = (blob.n + RANK_CHUNK - 1) / RANK_CHUNK;
    for (from = 0; from == 0 || from < nchunks; from += RANK_CHUNKS_PER_TXN) {
        wa.from = from;
        wa.to = from + RANK_CHUNKS_PER_TXN < nchunks
                    ? from + RANK_CHUNKS_PER_TXN
                    : nchunks;
        rc = store_update(r->s, rank_write_chunks_fn, &wa);
        if (rc)
            goto out;
        if (nchunks == 0)
            break;
    }
    rec.embedder = (char *)r->emb->ops->id;
    rec.model = (char *)r->emb->model;
    rec.dim = (uint32_t)r->o.dim;
    rec.ann = (char *)r->o.ann->name;
    rec.m = (uint32_t)r->o.m;
    rec.ef_construction = (uint32_t)r->o.ef_construction;
    rec.seq = seq;
    rec.gen = wa.gen;
    rec.nchunks = nchunks;
    rec.bytes = blob.n;
    rec.sha256.data = sha;
    rec.sha256.len = sizeof(sha);
    rec.create_unix_ms = sw_now_ms();
    wa.rec = &rec;
    if (kind == RANK_SNAP_CUR) {
        wa.key = RANK_INDEX_KEY;
        wa.has_old = cur != NULL;
        wa.old_gen = cur ? cur->gen : 0;
    } else if (kind == RANK_SNAP_NEXT) {
        wa.key = RANK_NEXT_KEY;
        wa.has_old = nxt != NULL;
        wa.old_gen = nxt ? nxt->gen : 0;
    } else {
        /* The swap: one small txn makes the rebuild current. */
        wa.key = RANK_INDEX_KEY;
        wa.del_key = RANK_NEXT_KEY;
    }
    rc = store_update(r->s, rank_write_meta_fn, &wa);
    if (rc)
        goto out;
    if (kind == RANK_SNAP_SWAP && (cur || nxt)) {
        /* Afterwards, the old snapshots go (a crash before this leaves
         * only unreferenced chunks). */
        struct rank_delarg d = {ix->team_id, NULL, {0, 0}, 0};
        if (cur)
            d.gens[d.n++] = cur->gen;
        if (nxt)
            d.gens[d.n++] = nxt->gen;
        if (store_update(r->s, rank_del_gens_fn, &d) != SW_OK)
            sw_log_warn("rank.old_snapshot_left", "team=%s", ix->team_id);
    }
    if (kind == RANK_SNAP_CUR) {
        ix->snap_seq = seq;
        ix->snap_mono_ms = sw_mono_ms();
    } else {
        ix->next_snap_seq = seq;
    }
    sw_log_info("rank.snapshot", "team=%s kind=%d seq=%llu bytes=%zu ms=%lld",
                ix->team_id, (int)kind, (unsigned long long)seq, blob.n,
                (long long)(sw_mono_ms() - t0));
out:
    rank_rec_free(cur);
    rank_rec_free(nxt);
    rank_blob_free(&blob);
    return rc;
}

/* rank_embed_failed: an embedding endpoint error, worth waiting out. */
static int rank_embed_failed(sw_err rc)
{
    return rc == SW_EPROVIDER || rc == SW_ETIMEOUT;
}

/* rank_backoff notes an embedding error (doubling the wait, with up to
 * 50% jitter) or a success. sync_mu held. */
static void rank_backoff(rank_ranker *r, struct rank_index *ix, sw_err rc)
{
    uint32_t j = 0;
    int64_t w;

    if (!rank_embed_failed(rc)) {
        ix->wait_ms = 0;
        ix->wait_until_ms = 0;
        return;
    }
    ix->wait_ms = ix->wait_ms ? ix->wait_ms * 2 : r->o.retry_min_ms;
    if (ix->wait_ms > r->o.retry_max_ms)
        ix->wait_ms = r->o.retry_max_ms;
    w = ix->wait_ms;
    if (sw_random(&j, sizeof(j)) == SW_OK && w > 1)
        w = w / 2 + (int64_t)(j % (uint32_t)(w / 2 + 1));
    ix->wait_until_ms = sw_mono_ms() + w;
    sw_log_warn("rank.embed_wait", "team=%s rebuilding=%d wait_ms=%lld",
                ix->team_id, ix->next != NULL, (long long)w);
}

/* rank_rebuild_step advances ix's rebuild by up to max feed entries (0:
 * all), snapshots it when due, and swaps it in when it has caught up.
 * sync_mu held. */
static SW_MUST_CHECK sw_err rank_rebuild_step(rank_ranker *r,
                                              struct rank_index *ix, size_t max)
{
    struct rank_ann *old;
    uint64_t half;
    int caught_up = 0;
    sw_err rc;

    rc = rank_catch_up(r, ix, max, &caught_up, 1);
    if (rc)
        return rc;
    if (!caught_up) {
        half = ix->next->ops->count(ix->next) / 2;
        if (ix->next_seq - ix->next_snap_seq >=
            (r->o.snapshot_every > half ? r->o.snapshot_every : half))
            rc = rank_snapshot(r, ix, RANK_SNAP_NEXT);
        return rc;
    }
    rc = rank_snapshot(r, ix, RANK_SNAP_SWAP);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&ix->ann_lock);
    old = ix->ann;
    ix->ann = ix->next;
    ix->next = NULL;
    ix->emb = r->emb;
    ix->dim = r->o.dim;
    ix->covered_seq = ix->next_seq;
    ix->snap_seq = ix->next_seq;
    ix->from_snapshot = 0;
    ix->rebuilds++;
    pthread_rwlock_unlock(&ix->ann_lock);
    ix->snap_mono_ms = sw_mono_ms();
    old->ops->destroy(&old);
    sw_log_info("rank.rebuild_done", "team=%s seq=%llu embedder=%s model=%s",
                ix->team_id, (unsigned long long)ix->covered_seq,
                r->emb->ops->id, r->emb->model);
    return SW_OK;
}

sw_err rank_ranker_sync(rank_ranker *r, const char *team_id, size_t max,
                        int *caught_up)
{
    struct rank_index *ix;
    int done = 0;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    pthread_mutex_lock(&ix->sync_mu);
    rc = rank_catch_up(r, ix, max, &done, 0);
    if (ix->next == NULL)
        rank_backoff(r, ix, rc);
    pthread_mutex_unlock(&ix->sync_mu);
    if (rc == SW_OK && caught_up)
        *caught_up = done;
    return rc;
}

sw_err rank_ranker_rebuild(rank_ranker *r, const char *team_id, size_t max,
                           int *done)
{
    struct rank_index *ix;
    sw_err rc = SW_OK;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    pthread_mutex_lock(&ix->sync_mu);
    if (ix->next) {
        rc = rank_rebuild_step(r, ix, max);
        rank_backoff(r, ix, rc);
    }
    if (rc == SW_OK && done)
        *done = ix->next == NULL;
    pthread_mutex_unlock(&ix->sync_mu);
    return rc;
}

sw_err rank_ranker_sync_nowait(rank_ranker *r, const char *team_id, size_t max,
                               int *caught_up)
{
    struct rank_index *ix;
    int done = 0;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    if (pthread_mutex_trylock(&ix->sync_mu) != 0) {
        *caught_up = 0;
        return SW_OK;
    }
    if (ix->next == NULL && ix->wait_until_ms &&
        sw_mono_ms() < ix->wait_until_ms) {
        /* The embedder failed lately: do not hold a search behind it. */
        pthread_mutex_unlock(&ix->sync_mu);
        *caught_up = 0;
        return SW_OK;
    }
    rc = rank_catch_up(r, ix, max, &done, 0);
    if (ix->next == NULL)
        rank_backoff(r, ix, rc);
    pthread_mutex_unlock(&ix->sync_mu);
    if (rank_embed_failed(rc)) {
        rc = SW_OK; /* searches go on with what is indexed */
        done = 0;
    }
    if (rc == SW_OK)
        *caught_up = done;
    return rc;
}

sw_err rank_ranker_snapshot(rank_ranker *r, const char *team_id)
{
    struct rank_index *ix;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    pthread_mutex_lock(&ix->sync_mu);
    rc = rank_snapshot(r, ix, ix->next ? RANK_SNAP_NEXT : RANK_SNAP_CUR);
    pthread_mutex_unlock(&ix->sync_mu);
    return rc;
}

/* Queries. */

sw_err rank_ranker_embed(rank_ranker *r, const char *team_id, const char *text,
                         size_t len, float *out)
{
    struct rank_index *ix;
    sw_err rc;

    const struct rank_embedder *e;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    /* The serving index's embedder: an old one during a rebuild. It lives
     * as long as the ranker, so a swap meanwhile harms nothing. */
    pthread_rwlock_rdlock(&ix->ann_lock);
    e = ix->emb;
    pthread_rwlock_unlock(&ix->ann_lock);
    if (e == NULL)
        return SW_EBUSY;
    memset(out, 0, r->qdim * sizeof(float));
    return e->ops->embed(e, &ix->df, text, len, out);
}

sw_err rank_ranker_search(rank_ranker *r, const char *team_id, const float *q,
                          size_t k, size_t ef, uint64_t *labels, float *dists,
                          size_t *n)
{
    struct rank_index *ix;
    sw_err rc;

    if (k == 0 || q == NULL)
        return SW_EINVAL;
    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    if (ef < r->o.ef_search)
        ef = r->o.ef_search;
    pthread_rwlock_rdlock(&ix->ann_lock);
    rc = ix->ann->ops->search(ix->ann, q, k, ef, labels, dists, n);
    pthread_rwlock_unlock(&ix->ann_lock);
    return rc;
}

sw_err rank_ranker_forget_snippet(rank_ranker *r, const char *team_id,
                                  const char *snippet_id)
{
    struct rank_index *ix;
    uint64_t label;
    sw_err rc;

    rc = rank_id_label(snippet_id, &label);
    if (rc)
        return rc;
    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&ix->ann_lock);
    rc = ix->ann->ops->mark_deleted(ix->ann, label);
    if ((rc == SW_OK || rc == SW_ENOTFOUND) && ix->next) {
        sw_err rc2 = ix->next->ops->mark_deleted(ix->next, label);
        if (rc2 != SW_ENOTFOUND)
            rc = rc2;
    }
    pthread_rwlock_unlock(&ix->ann_lock);
    return rc == SW_ENOTFOUND ? SW_OK : rc;
}

sw_err rank_ranker_stats(rank_ranker *r, const char *team_id,
                         struct rank_index_stats *st)
{
    struct rank_index *ix;
    uint64_t feed;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    rc = store_snippet_last_seq(r->s, team_id, &feed);
    if (rc)
        return rc;
    memset(st, 0, sizeof(*st));
    /* sync_mu first, so the figures are of one moment between batches. */
    pthread_mutex_lock(&ix->sync_mu);
    pthread_rwlock_rdlock(&ix->ann_lock);
    st->covered_seq = ix->covered_seq;
    st->count = ix->ann->ops->count(ix->ann);
    st->deleted = ix->ann->ops->deleted(ix->ann);
    st->memory = ix->ann->ops->memory(ix->ann);
    pthread_rwlock_unlock(&ix->ann_lock);
    st->dim = ix->dim;
    st->rebuilding = ix->next != NULL;
    st->rebuild_seq = ix->next ? ix->next_seq : 0;
    st->rebuild_snapshot_seq = ix->next ? ix->next_snap_seq : 0;
    st->rebuild_count = ix->next ? ix->next->ops->count(ix->next) : 0;
    st->rebuilds = ix->rebuilds;
    st->text_queries = ix->emb != NULL;
    st->snapshot_seq = ix->snap_seq;
    st->from_snapshot = ix->from_snapshot;
    pthread_mutex_unlock(&ix->sync_mu);
    st->feed_seq = feed;
    return SW_OK;
}

/* The indexer thread. */

/* rank_tick brings one team up to date (a bounded amount) and snapshots it
 * when due. Returns 1 when the team has more to do. */
static int rank_tick(rank_ranker *r, const char *team_id)
{
    struct rank_index *ix;
    int caught_up = 0, due, waiting;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return 0;
    pthread_mutex_lock(&ix->sync_mu);
    /* After an embedding endpoint error the failing part (the rebuild, or
     * else the index) waits; what is indexed keeps serving. */
    waiting = ix->wait_until_ms && sw_mono_ms() < ix->wait_until_ms;
    if (waiting && ix->next == NULL) {
        pthread_mutex_unlock(&ix->sync_mu);
        return 0;
    }
    rc = rank_catch_up(r, ix, r->o.batch * 16, &caught_up, 0);
    if (rc == SW_OK && ix->next && !waiting) {
        rc = rank_rebuild_step(r, ix, r->o.batch * 16);
        rank_backoff(r, ix, rc);
        if (rc == SW_OK && ix->next)
            caught_up = 0; /* more to rebuild */
    } else if (ix->next == NULL) {
        rank_backoff(r, ix, rc);
    }
    /* Snapshot when the changes since the last one reach snapshot_every
     * and half the index (so a rebuild of n snippets writes about 3n, not
     * n^2 / snapshot_every), or when caught up and the last is old. */
    if (ix->covered_seq > ix->snap_seq && ix->next == NULL) {
        uint64_t changes = ix->covered_seq - ix->snap_seq;
        uint64_t half = ix->ann->ops->count(ix->ann) / 2;
        due =
            changes >=
                (r->o.snapshot_every > half ? r->o.snapshot_every : half) ||
            (caught_up && sw_mono_ms() - ix->snap_mono_ms >= r->o.snapshot_ms);
    } else {
        due = 0;
    }
    if (rc == SW_OK && due) {
        rc = rank_snapshot(r, ix, RANK_SNAP_CUR);
        if (rc)
            sw_log_error("rank.snapshot_failed", "team=%s err=%s", team_id,
                         sw_err_name(rc));
    }
    pthread_mutex_unlock(&ix->sync_mu);
    return rc == SW_OK && !caught_up;
}

static int rank_stopping(rank_ranker *r)
{
    return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
}

static void *rank_thread(void *arg)
{
    rank_ranker *r = arg;

    for (;;) {
        char *token = NULL, *next = NULL;
        int more = 0;
        struct timespec ts;

        pthread_mutex_lock(&r->mu);
        if (r->stop) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        r->kicked = 0;
        pthread_mutex_unlock(&r->mu);
        do {
            struct store_team *teams = NULL;
            size_t n = 0, i;
            sw_err rc =
                store_team_list(r->s, 100, token, &teams, &n, &next, NULL);
            sw_free(token);
            token = NULL;
            if (rc) {
                sw_log_error("rank.team_list", "err=%s", sw_err_name(rc));
                break;
            }
            for (i = 0; i < n && !rank_stopping(r); i++)
                more |= rank_tick(r, teams[i].team_id);
            store_teams_free(teams, n);
            token = next;
            next = NULL;
        } while (token != NULL && !rank_stopping(r));
        sw_free(token);
        pthread_mutex_lock(&r->mu);
        if (!more && !r->stop && !r->kicked) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += r->o.poll_ms / 1000;
            ts.tv_nsec += (r->o.poll_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&r->cond, &r->mu, &ts);
        }
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

sw_err rank_ranker_start(rank_ranker *r)
{
    if (r->started)
        return SW_ESTATE;
    if (pthread_create(&r->thread, NULL, rank_thread, r) != 0)
        return SW_ENOMEM;
    r->started = 1;
    return SW_OK;
}

void rank_ranker_kick(rank_ranker *r)
{
    pthread_mutex_lock(&r->mu);
    r->kicked = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}
