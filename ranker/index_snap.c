/* index_snap: a team index's LMDB snapshots: the IndexRecord, its 1 MiB
 * chunks, loading at start (with the rebuild's own snapshot when another
 * embedder built the serving one) and writing the serving index, the
 * rebuild, or the finished rebuild swapped in, each in few transactions.
 * Lock order as in index.c. */
#include <pthread.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/index_int.h"
#include "ranker/rank_records.pb-c.h"
#include "store/store.h"
#include "store/store_tenant.h"

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

sw_err rank__stored_dims(rank_ranker *r)
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

/* Loading reads the chunks in place: their values stay mapped while the
 * read transaction is open, so the ANN backend copies them once, straight
 * into the index (rank_ann_load_pieces), while another thread checks the
 * image's SHA-256 (issue 13: no memfd, no second copy). */
struct rank_loadarg {
    rank_ranker *r;
    const char *team;
    const Snipwise__Rank__IndexRecord *rec;
    struct rank_ann *ann; /* out */
};

struct rank_hasharg {
    const struct rank_piece *pieces;
    size_t n;
    unsigned char sha[SW_SHA256_LEN];
    sw_err rc;
};

static void *rank_hash_fn(void *arg)
{
    struct rank_hasharg *h = arg;
    sw_sha256_ctx *c = NULL;
    size_t i;

    h->rc = sw_sha256_begin(&c);
    for (i = 0; h->rc == SW_OK && i < h->n; i++)
        h->rc = sw_sha256_update(c, h->pieces[i].p, h->pieces[i].n);
    if (c) {
        sw_err rc = sw_sha256_end(&c, h->sha);
        if (h->rc == SW_OK)
            h->rc = rc;
    }
    return NULL;
}

/* rank_pieces collects the record's chunks (in place, in t) into
 * *pieces (sw_malloc'd, grown as chunks are found, so a record naming too
 * many fails at the first missing one). */
static SW_MUST_CHECK sw_err rank_pieces(store_txn *t, const char *team,
                                        const Snipwise__Rank__IndexRecord *rec,
                                        struct rank_piece **pieces)
{
    struct rank_piece *pc = NULL, *grown;
    struct sw_buf key;
    const void *v;
    size_t vlen, off = 0, cap = 0;
    uint64_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&key, 1024);
    for (i = 0; i < rec->nchunks; i++) {
        rc = rank_chunk_key(&key, team, rec->gen, 1, i);
        if (rc)
            goto out;
        rc = store_get(t, STORE_DB_RANK_SNAP, sw_buf_str(&key),
                       sw_buf_len(&key), &v, &vlen);
        if (rc == SW_ENOTFOUND)
            rc = SW_ECORRUPT;
        if (rc)
            goto out;
        if (vlen > rec->bytes - off) {
            rc = SW_ECORRUPT;
            goto out;
        }
        if (i == cap) {
            cap = cap ? 2 * cap : 64;
            grown = sw_realloc(pc, cap * sizeof(*pc));
            if (grown == NULL) {
                rc = SW_ENOMEM;
                goto out;
            }
            pc = grown;
        }
        pc[i].p = v;
        pc[i].n = vlen;
        off += vlen;
    }
    if (off != rec->bytes)
        rc = SW_ECORRUPT;
out:
    sw_buf_free(&key);
    if (rc)
        sw_free(pc);
    else
        *pieces = pc;
    return rc;
}

static sw_err rank_load_fn(store_txn *t, void *arg)
{
    struct rank_loadarg *a = arg;
    struct rank_hasharg h;
    struct rank_piece *pieces = NULL;
    struct rank_ann_params p;
    struct rank_ann *ann = NULL;
    pthread_t th;
    int threaded = 0;
    sw_err rc;

    rc = rank_pieces(t, a->team, a->rec, &pieces);
    if (rc)
        return rc;
    memset(&h, 0, sizeof(h));
    h.pieces = pieces;
    h.n = (size_t)a->rec->nchunks;
    threaded = a->r->build_threads > 1 &&
               pthread_create(&th, NULL, rank_hash_fn, &h) == 0;
    rank_params(a->r, &p, a->rec->dim, 0);
    rc = rank_ann_load_pieces(a->r->o.ann, &p, pieces, h.n, a->r->build_threads,
                              &ann);
    if (threaded) {
        (void)pthread_join(th, NULL); /* cannot fail: joinable, not self */
    } else
        (void)rank_hash_fn(&h);
    if (rc == SW_OK && h.rc)
        rc = h.rc;
    if (rc == SW_OK && (a->rec->sha256.len != SW_SHA256_LEN ||
                        memcmp(a->rec->sha256.data, h.sha, SW_SHA256_LEN)))
        rc = SW_ECORRUPT;
    if (rc == SW_OK)
        a->ann = ann;
    else if (ann)
        ann->ops->destroy(&ann);
    sw_free(pieces);
    return rc;
}

/* rank_read_rec reads team's record under key (SW_ENOTFOUND: none) into
 * *out (free with rank_rec_free). */
static SW_MUST_CHECK sw_err rank_read_rec(rank_ranker *r, const char *team,
                                          const char *key,
                                          Snipwise__Rank__IndexRecord **out)
{
    struct rank_readarg a = {team, NULL, key};
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
    struct rank_loadarg a = {r, team, rec, NULL};
    sw_err rc;

    rc = store_view(r->s, rank_load_fn, &a);
    if (rc == SW_OK)
        *out = a.ann;
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
sw_err rank__index_load(rank_ranker *r, struct rank_index *ix)
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
            __atomic_store_n(&ix->snap_unix_ms, cur->create_unix_ms,
                             __ATOMIC_RELAXED);
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

/* Snapshots. */

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

    /* The team went (deleted, or moved to another node) while this was
     * being made: nothing of it may outlive the team. */
    if (store_team_exists_txn(t, a->team) == SW_ENOTFOUND)
        return SW_OK;
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

    /* The team went (deleted, or moved to another node) while this was
     * being made: nothing of it may outlive the team. */
    if (store_team_exists_txn(t, a->team) == SW_ENOTFOUND)
        return SW_OK;
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

/* rank__snapshot stores ix's serving index (RANK_SNAP_CUR) or its rebuild
 * (RANK_SNAP_NEXT, RANK_SNAP_SWAP). Chunk generations are above both
 * records', so the two snapshots never share one. sync_mu held, so no
 * batch runs meanwhile; searches go on. */
sw_err rank__snapshot(rank_ranker *r, struct rank_index *ix,
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
    if (kind != RANK_SNAP_NEXT)
        __atomic_store_n(&ix->snap_unix_ms, rec.create_unix_ms,
                         __ATOMIC_RELAXED);
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
