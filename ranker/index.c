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
#define RANK_CAPACITY_MIN 1024

struct rank_index {
    char *team_id;
    pthread_mutex_t sync_mu;   /* one loader or catch-up or snapshot */
    pthread_rwlock_t ann_lock; /* read: search; write: add, delete */
    struct rank_ann *ann;
    struct rank_df df;
    int loaded;
    int from_snapshot;
    uint64_t covered_seq; /* written under ann_lock (write) */
    uint64_t snap_seq;
    int64_t snap_mono_ms;
    struct rank_index *next;
};

struct rank_ranker {
    store *s;
    struct rank_opts o;
    struct rank_embedder *emb;
    pthread_mutex_t mu; /* teams, stop, kicked */
    pthread_cond_t cond;
    struct rank_index *teams;
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
    rank_df_free(&ix->df);
    pthread_rwlock_destroy(&ix->ann_lock);
    pthread_mutex_destroy(&ix->sync_mu);
    sw_free(ix->team_id);
    sw_free(ix);
}

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
        r->o.ef_search = 64;
    if (r->o.snapshot_every == 0)
        r->o.snapshot_every = 10000;
    if (r->o.snapshot_ms == 0)
        r->o.snapshot_ms = 60000;
    if (r->o.poll_ms == 0)
        r->o.poll_ms = 500;
    if (r->o.batch == 0)
        r->o.batch = 512;
    r->s = s;
    rc = rank_embedder_new(r->o.embedder, r->o.dim, &r->emb);
    if (rc) {
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
        next = ix->next;
        rank_index_free(ix);
    }
    r->emb->ops->destroy(&r->emb);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    sw_free(r);
    *rp = NULL;
}

size_t rank_ranker_dim(const rank_ranker *r)
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
                        size_t capacity)
{
    rank_ann_params_default(p, r->o.dim);
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
};

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
    rc = store_key(&key, a->team, RANK_INDEX_KEY, strlen(RANK_INDEX_KEY));
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

/* rank_load_snapshot loads the stored snapshot into ix if there is one that
 * matches the ranker's settings. SW_ENOTFOUND when there is none. */
static SW_MUST_CHECK sw_err rank_load_snapshot(rank_ranker *r,
                                               struct rank_index *ix)
{
    struct rank_readarg a = {ix->team_id, NULL, NULL};
    struct rank_blob blob = RANK_BLOB_INIT;
    unsigned char sha[SW_SHA256_LEN];
    struct rank_ann_params p;
    Snipwise__Rank__IndexRecord *rec;
    sw_err rc;

    rc = store_view(r->s, rank_meta_fn, &a);
    if (rc)
        goto out;
    rec = a.rec;
    if (strcmp(rec->embedder, r->emb->ops->id) != 0 ||
        strcmp(rec->model, r->emb->model) != 0 || rec->dim != r->o.dim ||
        strcmp(rec->ann, r->o.ann->name) != 0 || rec->m != r->o.m) {
        /* Changed settings: the snapshot is of no use; rebuild. */
        sw_log_info("rank.snapshot_mismatch",
                    "team=%s embedder=%s model=%s dim=%u ann=%s", ix->team_id,
                    rec->embedder, rec->model, rec->dim, rec->ann);
        rc = SW_ENOTFOUND;
        goto out;
    }
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
    rank_params(r, &p, 0);
    rc = r->o.ann->load(&p, &blob, &ix->ann);
    if (rc)
        goto out;
    ix->covered_seq = rec->seq;
    ix->snap_seq = rec->seq;
    ix->from_snapshot = 1;
out:
    if (a.rec)
        snipwise__rank__index_record__free_unpacked(a.rec, &rank_pb_allocator);
    rank_blob_free(&blob);
    return rc;
}

/* rank_index_load prepares a not yet loaded index: its document
 * frequencies and its snapshot, or an empty ANN index. sync_mu held. */
static SW_MUST_CHECK sw_err rank_index_load(rank_ranker *r,
                                            struct rank_index *ix)
{
    struct rank_ann_params p;
    int64_t t0 = sw_mono_ms();
    sw_err rc;

    rc = rank_df_load(r->s, ix->team_id, &ix->df);
    if (rc)
        return rc;
    rc = rank_load_snapshot(r, ix);
    if (rc && rc != SW_ENOTFOUND) {
        /* A snapshot is only a cache of the feed: log and rebuild. */
        sw_log_error("rank.snapshot_unusable", "team=%s err=%s", ix->team_id,
                     sw_err_name(rc));
    }
    if (rc) {
        rank_params(r, &p, RANK_CAPACITY_MIN);
        rc = r->o.ann->create(&p, &ix->ann);
        if (rc)
            return rc;
        ix->covered_seq = 0;
        ix->snap_seq = 0;
        ix->from_snapshot = 0;
    }
    ix->snap_mono_ms = sw_mono_ms();
    __atomic_store_n(&ix->loaded, 1, __ATOMIC_RELEASE);
    sw_log_info("rank.index_loaded", "team=%s count=%zu seq=%llu ms=%lld",
                ix->team_id, ix->ann->ops->count(ix->ann),
                (unsigned long long)ix->covered_seq,
                (long long)(sw_mono_ms() - t0));
    return SW_OK;
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
    for (ix = r->teams; ix; ix = ix->next)
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
        ix->next = r->teams;
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

/* rank_apply embeds and applies one batch to ix. sync_mu held. */
static SW_MUST_CHECK sw_err rank_apply(rank_ranker *r, struct rank_index *ix,
                                       struct rank_batch *b, float *vecs)
{
    uint64_t last = b->items[b->n - 1].seq;
    size_t i, dim = r->o.dim, need, cap;
    int observed = 0;
    sw_err rc = SW_OK;

    for (i = 0; i < b->n; i++) {
        struct rank_item *it = &b->items[i];
        if (it->skip || !it->live || it->seq <= ix->df.seq)
            continue;
        rc = rank_df_observe(&ix->df, it->text, strlen(it->text));
        if (rc)
            return rc;
        observed = 1;
    }
    if (observed) {
        rc = rank_df_flush(r->s, ix->team_id, &ix->df, last);
        if (rc)
            return rc;
    }
    for (i = 0; i < b->n; i++) {
        struct rank_item *it = &b->items[i];
        if (!it->live)
            continue;
        rc = r->emb->ops->embed(r->emb, &ix->df, it->text, strlen(it->text),
                                vecs + i * dim);
        if (rc == SW_EINVAL) {
            it->live = 0; /* no words: nothing to find it by */
            rc = SW_OK;
        }
        if (rc)
            return rc;
    }
    pthread_rwlock_wrlock(&ix->ann_lock);
    need = ix->ann->ops->count(ix->ann) + b->n;
    cap = ix->ann->ops->capacity(ix->ann);
    if (need > cap) {
        while (cap < need)
            cap *= 2;
        rc = ix->ann->ops->resize(ix->ann, cap);
        if (rc)
            goto unlock;
    }
    for (i = 0; i < b->n; i++) {
        struct rank_item *it = &b->items[i];
        if (it->skip)
            continue;
        if (it->live)
            rc = ix->ann->ops->add(ix->ann, it->label, vecs + i * dim);
        else {
            rc = ix->ann->ops->mark_deleted(ix->ann, it->label);
            if (rc == SW_ENOTFOUND)
                rc = SW_OK;
        }
        if (rc)
            goto unlock;
    }
    ix->covered_seq = last;
unlock:
    pthread_rwlock_unlock(&ix->ann_lock);
    return rc;
}

/* rank_catch_up applies up to max feed entries (0: all). sync_mu held. */
static SW_MUST_CHECK sw_err rank_catch_up(rank_ranker *r, struct rank_index *ix,
                                          size_t max, int *caught_up)
{
    struct rank_batch b = {0};
    float *vecs = NULL;
    size_t done = 0;
    sw_err rc = SW_OK;

    *caught_up = 0;
    b.cap = r->o.batch;
    b.items = sw_calloc(b.cap, sizeof(*b.items));
    vecs = sw_malloc(b.cap * r->o.dim * sizeof(float));
    if (b.items == NULL || vecs == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (;;) {
        if (max && done >= max)
            break;
        rank_batch_clear(&b);
        rc = store_snippet_since(r->s, ix->team_id, ix->covered_seq, b.cap,
                                 rank_batch_fn, &b);
        if (rc)
            goto out;
        if (b.n == 0) {
            *caught_up = 1;
            break;
        }
        rc = rank_apply(r, ix, &b, vecs);
        if (rc)
            goto out;
        done += b.n;
    }
out:
    if (rc)
        sw_log_error("rank.catch_up", "team=%s err=%s", ix->team_id,
                     sw_err_name(rc));
    rank_batch_clear(&b);
    sw_free(b.items);
    sw_free(vecs);
    return rc;
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
    rc = rank_catch_up(r, ix, max, &done);
    pthread_mutex_unlock(&ix->sync_mu);
    if (rc == SW_OK && caught_up)
        *caught_up = done;
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
    rc = rank_catch_up(r, ix, max, &done);
    pthread_mutex_unlock(&ix->sync_mu);
    if (rc == SW_OK)
        *caught_up = done;
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

struct rank_writearg {
    const char *team;
    const struct rank_blob *blob;
    uint64_t gen, from, to; /* chunks [from, to) */
    Snipwise__Rank__IndexRecord *rec;
    uint64_t old_gen;
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
    rc = store_key(&key, a->team, RANK_INDEX_KEY, strlen(RANK_INDEX_KEY));
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_RANK_META, sw_buf_str(&key), sw_buf_len(&key),
                   buf, n, 0);
    if (rc)
        goto out;
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

/* rank_snapshot stores ix's index. sync_mu held, so no batch runs
 * meanwhile; searches go on. */
static SW_MUST_CHECK sw_err rank_snapshot(rank_ranker *r, struct rank_index *ix)
{
    Snipwise__Rank__IndexRecord rec = SNIPWISE__RANK__INDEX_RECORD__INIT;
    struct rank_readarg ra = {ix->team_id, NULL, NULL};
    struct rank_writearg wa;
    struct rank_blob blob = RANK_BLOB_INIT;
    unsigned char sha[SW_SHA256_LEN];
    uint64_t seq, nchunks, from;
    int64_t t0 = sw_mono_ms();
    sw_err rc;

    memset(&wa, 0, sizeof(wa));
    pthread_rwlock_rdlock(&ix->ann_lock);
    rc = ix->ann->ops->save(ix->ann, &blob);
    seq = ix->covered_seq;
    pthread_rwlock_unlock(&ix->ann_lock);
    if (rc)
        goto out;
    sw_sha256(blob.p, blob.n, sha);
    rc = store_view(r->s, rank_meta_fn, &ra);
    if (rc && rc != SW_ENOTFOUND)
        goto out;
    wa.team = ix->team_id;
    wa.blob = &blob;
    wa.has_old = rc == SW_OK;
    wa.old_gen = wa.has_old ? ra.rec->gen : 0;
    wa.gen = wa.old_gen + 1;
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
    rc = store_update(r->s, rank_write_meta_fn, &wa);
    if (rc)
        goto out;
    ix->snap_seq = seq;
    ix->snap_mono_ms = sw_mono_ms();
    sw_log_info("rank.snapshot", "team=%s seq=%llu bytes=%zu ms=%lld",
                ix->team_id, (unsigned long long)seq, blob.n,
                (long long)(sw_mono_ms() - t0));
out:
    if (ra.rec)
        snipwise__rank__index_record__free_unpacked(ra.rec, &rank_pb_allocator);
    rank_blob_free(&blob);
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
    rc = rank_snapshot(r, ix);
    pthread_mutex_unlock(&ix->sync_mu);
    return rc;
}

/* Queries. */

sw_err rank_ranker_embed(rank_ranker *r, const char *team_id, const char *text,
                         size_t len, float *out)
{
    struct rank_index *ix;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    return r->emb->ops->embed(r->emb, &ix->df, text, len, out);
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
    int caught_up = 0, due;
    sw_err rc;

    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return 0;
    pthread_mutex_lock(&ix->sync_mu);
    rc = rank_catch_up(r, ix, r->o.batch * 16, &caught_up);
    /* Snapshot when the changes since the last one reach snapshot_every
     * and half the index (so a rebuild of n snippets writes about 3n, not
     * n^2 / snapshot_every), or when caught up and the last is old. */
    if (ix->covered_seq > ix->snap_seq) {
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
        rc = rank_snapshot(r, ix);
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
