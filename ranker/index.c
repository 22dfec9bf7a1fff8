/* index: per-team ANN indexes that follow the snippet feed (their LMDB
 * snapshots are in index_snap.c) and the indexer thread (index.h). Lock
 * order: ranker mu, then an index's sync_mu, then its ann lock, then its
 * df lock. */
#include "ranker/index.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/embed.h"
#include "ranker/index_int.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

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

sw_err rank_ranker_open(store *s, const struct rank_opts *o, rank_ranker **out)
{
    rank_ranker *r;
    long ncpu;
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
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    r->build_threads = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
    if (r->o.retry_min_ms == 0)
        r->o.retry_min_ms = 1000;
    if (r->o.retry_max_ms < r->o.retry_min_ms)
        r->o.retry_max_ms =
            r->o.retry_min_ms > 60000 ? r->o.retry_min_ms : 60000;
    r->s = s;
    rc =
        rank_embedder_make(r->o.embedder, NULL, r->o.dim, r->o.openai, &r->emb);
    if (rc == SW_OK)
        rc = rank__stored_dims(r);
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
        rc = rank__index_load(r, ix);
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
    size_t *lens = NULL, i, n = 0, na, need, cap, dim = e ? e->dim : 0;
    unsigned char *empty = NULL;
    uint64_t *add_labels = NULL;
    const float **add_vecs = NULL;
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
    add_labels = sw_malloc(b->n * sizeof(*add_labels));
    add_vecs = sw_malloc(b->n * sizeof(*add_vecs));
    if (!texts || !lens || !empty || !add_labels || !add_vecs) {
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
    /* Deletes first, then the adds in one call (labels are distinct in a
     * batch, so the order does not matter); a full batch of a large
     * catch-up inserts on several threads. */
    for (i = 0, n = 0, na = 0; i < b->n; i++) {
        struct rank_item *it = &b->items[i];
        if (it->skip)
            continue;
        if (it->live && e == NULL)
            continue; /* an old index without its embedder: only deletes */
        if (it->live && !empty[n]) {
            add_labels[na] = it->label;
            add_vecs[na++] = vecs + n * dim;
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
    rc = rank_ann_add_many(ann, add_labels, add_vecs, na, r->build_threads);
    if (rc)
        goto unlock;
    if (to_next)
        ix->next_seq = last;
    else
        ix->covered_seq = last;
unlock:
    pthread_rwlock_unlock(&ix->ann_lock);
out:
    sw_free(add_vecs);
    sw_free(add_labels);
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

sw_err rank_ranker_covered(rank_ranker *r, const char *team_id, uint64_t *seq)
{
    struct rank_index *ix;

    if (team_id == NULL || team_id[0] == '\0' || seq == NULL)
        return SW_EINVAL;
    *seq = 0;
    pthread_mutex_lock(&r->mu);
    for (ix = r->teams; ix; ix = ix->next_team)
        if (strcmp(ix->team_id, team_id) == 0)
            break;
    pthread_mutex_unlock(&r->mu);
    /* Indexes live until the ranker closes; a loaded one's ann_lock is
     * held for writing only while a batch is added. */
    if (ix && __atomic_load_n(&ix->loaded, __ATOMIC_ACQUIRE)) {
        pthread_rwlock_rdlock(&ix->ann_lock);
        *seq = ix->covered_seq;
        pthread_rwlock_unlock(&ix->ann_lock);
    }
    return SW_OK;
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
            rc = rank__snapshot(r, ix, RANK_SNAP_NEXT);
        return rc;
    }
    rc = rank__snapshot(r, ix, RANK_SNAP_SWAP);
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
    rc = rank__snapshot(r, ix, ix->next ? RANK_SNAP_NEXT : RANK_SNAP_CUR);
    pthread_mutex_unlock(&ix->sync_mu);
    return rc;
}

/* Queries. */

sw_err rank_ranker_embed(rank_ranker *r, const char *team_id, const char *text,
                         size_t len, float *out)
{
    return rank_ranker_embed_df(r, team_id, NULL, text, len, out);
}

sw_err rank_ranker_embed_df(rank_ranker *r, const char *team_id,
                            struct rank_df *df, const char *text, size_t len,
                            float *out)
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
    return e->ops->embed(e, df ? df : &ix->df, text, len, out);
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

sw_err rank_ranker_vectors(rank_ranker *r, const char *team_id,
                           const uint64_t *labels, size_t n, float *out,
                           unsigned char *found)
{
    struct rank_index *ix;
    size_t i, qdim = r->qdim;
    sw_err rc;

    if ((n > 0 && (labels == NULL || out == NULL || found == NULL)))
        return SW_EINVAL;
    rc = rank_index_get(r, team_id, &ix);
    if (rc)
        return rc;
    memset(out, 0, n * qdim * sizeof(*out));
    pthread_rwlock_rdlock(&ix->ann_lock);
    if (ix->ann->ops->get == NULL || ix->dim > qdim)
        rc = SW_EINTERNAL; /* NEVER: both backends have it; qdim is the max */
    for (i = 0; rc == SW_OK && i < n; i++) {
        rc = ix->ann->ops->get(ix->ann, labels[i], out + i * qdim);
        found[i] = rc == SW_OK;
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
    }
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

void rank_team_figures_free(struct rank_team_figures *f, size_t n)
{
    size_t i;

    for (i = 0; f && i < n; i++)
        sw_free(f[i].team_id);
    sw_free(f);
}

sw_err rank_ranker_figures(rank_ranker *r, struct rank_team_figures **out,
                           size_t *np)
{
    struct rank_team_figures *f = NULL;
    struct rank_index **ixs = NULL, *ix;
    size_t n = 0, i;
    sw_err rc = SW_OK;

    /* Indexes are freed only by rank_ranker_close, so the pointers taken
     * under r->mu stay valid after it is released. */
    pthread_mutex_lock(&r->mu);
    for (ix = r->teams; ix; ix = ix->next_team)
        n += __atomic_load_n(&ix->loaded, __ATOMIC_ACQUIRE) != 0;
    f = sw_calloc(n ? n : 1, sizeof(*f));
    ixs = sw_calloc(n ? n : 1, sizeof(*ixs));
    if (f == NULL || ixs == NULL) {
        pthread_mutex_unlock(&r->mu);
        rc = SW_ENOMEM;
        goto out;
    }
    i = 0;
    for (ix = r->teams; ix && i < n; ix = ix->next_team) {
        if (!__atomic_load_n(&ix->loaded, __ATOMIC_ACQUIRE))
            continue;
        f[i].team_id = sw_strdup(ix->team_id);
        if (f[i].team_id == NULL) {
            pthread_mutex_unlock(&r->mu);
            rc = SW_ENOMEM;
            goto out;
        }
        ixs[i++] = ix;
    }
    pthread_mutex_unlock(&r->mu);
    n = i;
    for (i = 0; i < n; i++) {
        ix = ixs[i];
        pthread_rwlock_rdlock(&ix->ann_lock);
        f[i].count = ix->ann->ops->count(ix->ann);
        f[i].deleted = ix->ann->ops->deleted(ix->ann);
        pthread_rwlock_unlock(&ix->ann_lock);
        f[i].snapshot_unix_ms =
            __atomic_load_n(&ix->snap_unix_ms, __ATOMIC_RELAXED);
    }
out:
    sw_free(ixs);
    if (rc) {
        rank_team_figures_free(f, n);
        return rc;
    }
    *out = f;
    *np = n;
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
        rc = rank__snapshot(r, ix, RANK_SNAP_CUR);
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

    /* Indexing is background work: below the server's calls. */
    if (sw_thread_nice(10) != 0)
        sw_log_warn("rank.nice_failed", "errno=%d", errno);

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
            sw_timespec_in(CLOCK_MONOTONIC, r->o.poll_ms, &ts);
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
