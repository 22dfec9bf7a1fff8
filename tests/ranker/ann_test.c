/* ann_test: the builtin embedder (determinism, similarity sanity) and the
 * ANN backends (HNSW shim against exact brute force, deletes, updates,
 * save/load round trips, loading from pieces against loading a blob,
 * corrupt images). */
#include "tests/testutil.h"

#include <math.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ranker/ann.h"
#include "ranker/embed.h"

#define DIM 64

static uint64_t rng = 88172645463325252ULL;

static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
}

static void normalise(float *v, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(s));
}

/* n points around 20 centres, L2-normalised. */
static float *clustered(size_t n, size_t dim)
{
    float *c = sw_malloc(20 * dim * sizeof(float));
    float *v = sw_malloc(n * dim * sizeof(float));
    assert_non_null(c);
    assert_non_null(v);
    for (size_t i = 0; i < 20 * dim; i++)
        c[i] = (float)(unif() - 0.5);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(unif() * 20);
        for (size_t j = 0; j < dim; j++)
            v[i * dim + j] = c[k * dim + j] + (float)(0.3 * (unif() - 0.5));
        normalise(v + i * dim, dim);
    }
    sw_free(c);
    return v;
}

static double dot(const float *a, const float *b, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* closer fails unless sim(q, near) exceeds sim(q, far) by margin. */
static void closer(const float *q, const float *near, const float *far,
                   double margin)
{
    double a = dot(q, near, 384), b = dot(q, far, 384);
    if (!(a > b + margin))
        fail_msg("similarity %.3f to the paraphrase, %.3f to the unrelated "
                 "text",
                 a, b);
}

static void test_embed_deterministic(void **state)
{
    struct rank_embedder *e = NULL;
    const char *t = "Attached is our pricing deck for the CFO.";
    float a[384], b[384];

    (void)state;
    ASSERT_OK(rank_embedder_new("builtin", 0, &e));
    ASSERT_EQ(e->dim, 384);
    ASSERT_OK(e->ops->embed(e, NULL, t, strlen(t), a));
    ASSERT_OK(e->ops->embed(e, NULL, t, strlen(t), b));
    assert_memory_equal(a, b, sizeof(a));
    assert_true(fabs(dot(a, a, 384) - 1.0) < 1e-5);
    /* Case and punctuation do not matter; words do. */
    {
        const char *t2 = "attached IS our pricing deck, for the cfo";
        ASSERT_OK(e->ops->embed(e, NULL, t2, strlen(t2), b));
    }
    assert_true(dot(a, b, 384) > 0.999);
    ASSERT_ERR(e->ops->embed(e, NULL, " .,;! ", 6, b), SW_EINVAL);
    ASSERT_ERR(rank_embedder_new("nope", 0, &e), SW_EINVAL);
    e->ops->destroy(&e);
    assert_null(e);
}

static void test_embed_similarity(void **state)
{
    static const char *corpus[] = {
        "I have attached the case study on how Acme cut onboarding time.",
        "Here is the pricing sheet you asked for; happy to walk through it.",
        "Following up on our call, the security whitepaper is attached.",
        "Let me know if Thursday works for a quick demo of the platform.",
        "Our quarterly results deck is attached for your board meeting.",
        "The contract draft is attached; legal has reviewed the terms.",
    };
    const char *q = "attaching the pricing sheet you requested, glad to walk "
                    "you through the prices";
    const char *para = "Here is the pricing sheet you asked for; happy to "
                       "walk through it.";
    const char *other = "Let me know if Thursday works for a quick demo of "
                        "the platform.";
    struct rank_embedder *e = NULL;
    struct rank_df df;
    float vq[384], vp[384], vo[384];
    size_t i;

    (void)state;
    ASSERT_OK(rank_embedder_new(NULL, 384, &e));
    ASSERT_OK(rank_df_init(&df));
    for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
        ASSERT_OK(rank_df_observe(&df, corpus[i], strlen(corpus[i])));
    ASSERT_EQ(df.docs, 6);
    ASSERT_OK(e->ops->embed(e, &df, q, strlen(q), vq));
    ASSERT_OK(e->ops->embed(e, &df, para, strlen(para), vp));
    ASSERT_OK(e->ops->embed(e, &df, other, strlen(other), vo));
    closer(vq, vp, vo, 0.05);
    /* Morphology through character n-grams: "prices" ~ "pricing". */
    ASSERT_OK(e->ops->embed(e, &df, "prices", 6, vq));
    ASSERT_OK(e->ops->embed(e, &df, "pricing", 7, vp));
    ASSERT_OK(e->ops->embed(e, &df, "thursday", 8, vo));
    closer(vq, vp, vo, 0.05);
    rank_df_free(&df);
    e->ops->destroy(&e);
}

static void build(const struct rank_ann_ops *ops, const float *v, size_t n,
                  struct rank_ann **out)
{
    struct rank_ann_params p;

    rank_ann_params_default(&p, DIM);
    p.max_elements = n / 2; /* forces a resize */
    ASSERT_OK(ops->create(&p, out));
    for (size_t i = 0; i < n; i++) {
        if ((*out)->ops->count(*out) == (*out)->ops->capacity(*out)) {
            ASSERT_ERR(ops->add(*out, 1000 + i, v + i * DIM), SW_ERANGE);
            ASSERT_OK(ops->resize(*out, 2 * ops->capacity(*out)));
        }
        ASSERT_OK(ops->add(*out, 1000 + i, v + i * DIM));
    }
    ASSERT_EQ(ops->count(*out), n);
}

static double recall(struct rank_ann *a, struct rank_ann *exact, const float *q,
                     size_t nq, size_t ef)
{
    uint64_t la[10], lb[10];
    float da[10], db[10];
    size_t na, nb, hit = 0;

    for (size_t i = 0; i < nq; i++) {
        ASSERT_OK(a->ops->search(a, q + i * DIM, 10, ef, la, da, &na));
        ASSERT_OK(exact->ops->search(exact, q + i * DIM, 10, 0, lb, db, &nb));
        ASSERT_EQ(na, 10);
        ASSERT_EQ(nb, 10);
        for (size_t j = 1; j < na; j++)
            assert_true(da[j - 1] <= da[j] + 1e-6);
        for (size_t j = 0; j < 10; j++)
            for (size_t k = 0; k < 10; k++)
                if (la[j] == lb[k]) {
                    hit++;
                    break;
                }
    }
    return (double)hit / (double)(nq * 10);
}

/* The HNSW index's distance is 1 - q.v whatever the dimension and
 * whichever vector instructions the CPU lends it (AVX2 when present, with
 * a scalar tail past the last 16 floats): each hit's distance against a
 * dot product in doubles, for dimensions of 16, 40 and 384 floats. */
static void test_hnsw_distances(void **state)
{
    static const size_t dims[] = {16, 40, 384};
    (void)state;
    for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++) {
        size_t dim = dims[d], n = 50, nh = 0;
        float *v = sw_malloc(n * dim * sizeof(float));
        uint64_t labels[50];
        float dists[50];
        struct rank_ann_params p;
        struct rank_ann *a = NULL;
        assert_non_null(v);
        for (size_t i = 0; i < n * dim; i++)
            v[i] = (float)(unif() - 0.5);
        for (size_t i = 0; i < n; i++)
            normalise(v + i * dim, dim);
        rank_ann_params_default(&p, dim);
        p.max_elements = n;
        ASSERT_OK(rank_ann_hnsw.create(&p, &a));
        for (size_t i = 0; i < n; i++)
            ASSERT_OK(rank_ann_hnsw.add(a, i, v + i * dim));
        ASSERT_OK(rank_ann_hnsw.search(a, v, n, n, labels, dists, &nh));
        ASSERT_EQ(nh, n);
        for (size_t i = 0; i < nh; i++) {
            assert_true(labels[i] < n);
            assert_true(fabs((double)dists[i] -
                             (1.0 - dot(v, v + labels[i] * dim, dim))) < 1e-5);
        }
        assert_true(labels[0] == 0 && fabs(dists[0]) < 1e-5);
        rank_ann_hnsw.destroy(&a);
        sw_free(v);
    }
}

static void test_hnsw_vs_flat(void **state)
{
    size_t n = 3000, nq = 100;
    float *v = clustered(n + nq, DIM);
    struct rank_ann *h = NULL, *f = NULL;
    uint64_t l[10];
    float d[10];
    size_t got;

    (void)state;
    build(&rank_ann_hnsw, v, n, &h);
    build(&rank_ann_flat, v, n, &f);
    assert_true(recall(h, f, v + n * DIM, nq, 100) >= 0.95);
    /* Suggest's wide search (k = ef = 500) returns each vector once,
     * nearest first. */
    {
        uint64_t *wl = sw_malloc(500 * sizeof(*wl));
        float *wd = sw_malloc(500 * sizeof(*wd));
        assert_non_null(wl);
        assert_non_null(wd);
        ASSERT_OK(h->ops->search(h, v + n * DIM, 500, 500, wl, wd, &got));
        ASSERT_EQ(got, 500);
        for (size_t i = 1; i < got; i++) {
            assert_true(wd[i - 1] <= wd[i]);
            for (size_t j = 0; j < i; j++)
                assert_true(wl[j] != wl[i]);
        }
        sw_free(wl);
        sw_free(wd);
    }
    /* The exact nearest neighbour of a stored vector is itself. */
    ASSERT_OK(h->ops->search(h, v + 7 * DIM, 1, 50, l, d, &got));
    ASSERT_EQ(l[0], 1007);
    assert_true(fabs(d[0]) < 1e-5);
    /* get gives back the stored vector, in both backends. */
    {
        float back[DIM];
        ASSERT_OK(h->ops->get(h, 1007, back));
        assert_memory_equal(back, v + 7 * DIM, sizeof(back));
        ASSERT_OK(f->ops->get(f, 1008, back));
        assert_memory_equal(back, v + 8 * DIM, sizeof(back));
        ASSERT_ERR(h->ops->get(h, 42, back), SW_ENOTFOUND);
        ASSERT_ERR(f->ops->get(f, 42, back), SW_ENOTFOUND);
    }
    /* Deleting hides it from both; deleting twice is fine; unknown is not. */
    ASSERT_OK(h->ops->mark_deleted(h, 1007));
    ASSERT_OK(h->ops->mark_deleted(h, 1007));
    ASSERT_OK(f->ops->mark_deleted(f, 1007));
    ASSERT_ERR(h->ops->mark_deleted(h, 42), SW_ENOTFOUND);
    ASSERT_ERR(f->ops->mark_deleted(f, 42), SW_ENOTFOUND);
    {
        float back[DIM];
        ASSERT_ERR(h->ops->get(h, 1007, back), SW_ENOTFOUND);
        ASSERT_ERR(f->ops->get(f, 1007, back), SW_ENOTFOUND);
    }
    ASSERT_EQ(h->ops->deleted(h), 1);
    ASSERT_OK(h->ops->search(h, v + 7 * DIM, 10, 50, l, d, &got));
    for (size_t i = 0; i < got; i++)
        assert_true(l[i] != 1007);
    assert_true(recall(h, f, v + n * DIM, nq, 100) >= 0.95);
    /* Re-adding a label updates and undeletes it. */
    ASSERT_OK(h->ops->add(h, 1007, v + 8 * DIM));
    ASSERT_OK(h->ops->search(h, v + 8 * DIM, 2, 50, l, d, &got));
    assert_true((l[0] == 1007 && l[1] == 1008) ||
                (l[0] == 1008 && l[1] == 1007));
    ASSERT_ERR(h->ops->search(h, v, 0, 10, l, d, &got), SW_EINVAL);
    h->ops->destroy(&h);
    f->ops->destroy(&f);
    assert_null(h);
    sw_free(v);
}

/* add_many with several threads builds as good a graph as one by one: every
 * vector finds itself, recall against brute force holds, a batch that does
 * not fit is refused whole, and the generic path (flat) agrees. */
static void test_add_many_parallel(void **state)
{
    size_t n = 3 * RANK_ANN_PAR_MIN, nq = 100, i, got;
    float *v = clustered(n + nq, DIM);
    const float **vp = sw_calloc(n, sizeof(*vp));
    uint64_t *lab = sw_calloc(n, sizeof(*lab)), l[10];
    struct rank_ann *h = NULL, *f = NULL, *small = NULL;
    struct rank_ann_params p;
    float d[10];

    (void)state;
    assert_non_null(vp);
    assert_non_null(lab);
    for (i = 0; i < n; i++) {
        vp[i] = v + i * DIM;
        lab[i] = 5000 + i;
    }
    rank_ann_params_default(&p, DIM);
    p.max_elements = n;
    ASSERT_OK(rank_ann_hnsw.create(&p, &h));
    ASSERT_OK(rank_ann_flat.create(&p, &f));
    ASSERT_OK(rank_ann_add_many(h, lab, vp, n, 4));
    ASSERT_OK(rank_ann_add_many(f, lab, vp, n, 4));
    ASSERT_EQ(h->ops->count(h), n);
    for (i = 0; i < n; i += 97) {
        ASSERT_OK(h->ops->search(h, vp[i], 1, 64, l, d, &got));
        ASSERT_EQ(l[0], lab[i]);
    }
    assert_true(recall(h, f, v + n * DIM, nq, 100) >= 0.95);
    /* Full: the whole batch is refused, nothing is added. */
    p.max_elements = n - 1;
    ASSERT_OK(rank_ann_hnsw.create(&p, &small));
    ASSERT_ERR(rank_ann_add_many(small, lab, vp, n, 2), SW_ERANGE);
    ASSERT_EQ(small->ops->count(small), 0);
    /* Labels already present are updates and need no room. */
    ASSERT_OK(rank_ann_add_many(small, lab, vp, n - 1, 2));
    ASSERT_OK(rank_ann_add_many(small, lab, vp + 1, n - 1, 2));
    ASSERT_EQ(small->ops->count(small), n - 1);
    h->ops->destroy(&h);
    f->ops->destroy(&f);
    small->ops->destroy(&small);
    sw_free(lab);
    sw_free(vp);
    sw_free(v);
}

static void round_trip(const struct rank_ann_ops *ops)
{
    size_t n = 1500;
    float *v = clustered(n, DIM);
    struct rank_ann *a = NULL, *b = NULL;
    struct rank_blob blob = RANK_BLOB_INIT, bad = RANK_BLOB_INIT;
    struct rank_ann_params p;
    uint64_t la[10], lb[10];
    float da[10], db[10];
    size_t na, nb;

    build(ops, v, n, &a);
    ASSERT_OK(ops->mark_deleted(a, 1003));
    ASSERT_OK(ops->save(a, &blob));
    assert_true(blob.n > n * DIM * sizeof(float));
    rank_ann_params_default(&p, DIM);
    p.max_elements = 0;
    ASSERT_OK(ops->load(&p, &blob, &b));
    ASSERT_EQ(ops->count(b), n);
    ASSERT_EQ(ops->deleted(b), 1);
    for (size_t i = 0; i < 50; i++) {
        ASSERT_OK(ops->search(a, v + i * DIM, 10, 64, la, da, &na));
        ASSERT_OK(ops->search(b, v + i * DIM, 10, 64, lb, db, &nb));
        ASSERT_EQ(na, nb);
        assert_memory_equal(la, lb, na * sizeof(uint64_t));
    }
    /* The loaded index still grows. */
    ASSERT_OK(ops->resize(b, n + 10));
    ASSERT_OK(ops->add(b, 99999, v));
    /* Wrong dimension, truncation and garbage are rejected cleanly. */
    p.dim = DIM * 2;
    ASSERT_ERR(ops->load(&p, &blob, &b), SW_ECORRUPT);
    p.dim = DIM;
    ASSERT_OK(rank_blob_create(blob.n / 2, &bad));
    memcpy(bad.p, blob.p, bad.n);
    ASSERT_ERR(ops->load(&p, &bad, &b), SW_ECORRUPT);
    memset(bad.p, 0x5a, bad.n);
    ASSERT_ERR(ops->load(&p, &bad, &b), SW_ECORRUPT);
    rank_blob_free(&bad);
    rank_blob_free(&blob);
    ops->destroy(&a);
    ops->destroy(&b);
    sw_free(v);
}

static void test_hnsw_save_load(void **state)
{
    (void)state;
    round_trip(&rank_ann_hnsw);
}

static void test_flat_save_load(void **state)
{
    (void)state;
    round_trip(&rank_ann_flat);
}

/* split cuts blob into pieces of uneven sizes (empty ones among them), as
 * a snapshot's chunks are; returns how many (at most max). */
static size_t split(const struct rank_blob *b, struct rank_piece *pc,
                    size_t max)
{
    static const size_t sizes[] = {1, 7, 0, 4093, 96, 65536, 3, 100000};
    size_t off = 0, n = 0;

    while (off < b->n) {
        size_t want = sizes[n % (sizeof(sizes) / sizeof(sizes[0]))];
        size_t take = want < b->n - off ? want : b->n - off;
        assert_true(n < max);
        pc[n].p = (const char *)b->p + off;
        pc[n].n = take;
        off += take;
        n++;
    }
    return n;
}

/* same_answers checks that a and b give the same labels and distances. */
static void same_answers(struct rank_ann *a, struct rank_ann *b, const float *q,
                         size_t nq)
{
    uint64_t la[10], lb[10];
    float da[10], db[10];
    size_t na, nb;

    for (size_t i = 0; i < nq; i++) {
        ASSERT_OK(a->ops->search(a, q + i * DIM, 10, 64, la, da, &na));
        ASSERT_OK(b->ops->search(b, q + i * DIM, 10, 64, lb, db, &nb));
        ASSERT_EQ(na, nb);
        assert_memory_equal(la, lb, na * sizeof(uint64_t));
        assert_memory_equal(da, db, na * sizeof(float));
    }
}

/* same_image checks that a saves exactly the bytes of want. */
static void same_image(struct rank_ann *a, const struct rank_blob *want)
{
    struct rank_blob got = RANK_BLOB_INIT;

    ASSERT_OK(a->ops->save(a, &got));
    ASSERT_EQ(got.n, want->n);
    assert_memory_equal(got.p, want->p, got.n);
    rank_blob_free(&got);
}

/* An image saved by hnswlib's saveIndex (the snapshots already stored)
 * loads from pieces into the index loading the whole blob gives (issue
 * 13): the same answers, the same bytes saved again, and the same graph
 * after further additions, deletions and a resize (the level generators
 * and the upper layers' block behave as hnswlib's own); with one thread
 * or several. */
static void test_hnsw_load_pieces(void **state)
{
    size_t n = 2000, extra = 300, nq = 100, np, i;
    float *v = clustered(n + extra + nq, DIM);
    const float *q = v + (n + extra) * DIM;
    struct rank_ann *a = NULL, *old = NULL, *b = NULL;
    struct rank_blob blob = RANK_BLOB_INIT, after = RANK_BLOB_INIT;
    struct rank_piece *pc;
    struct rank_ann_params p;
    unsigned threads;

    (void)state;
    build(&rank_ann_hnsw, v, n, &a);
    ASSERT_OK(a->ops->mark_deleted(a, 1003));
    ASSERT_OK(a->ops->mark_deleted(a, 1500));
    ASSERT_OK(a->ops->save(a, &blob));
    pc = sw_calloc(blob.n, sizeof(*pc));
    assert_non_null(pc);
    np = split(&blob, pc, blob.n);
    assert_true(np > 10);
    rank_ann_params_default(&p, DIM);
    p.max_elements = 0;
    ASSERT_OK(rank_ann_hnsw.load(&p, &blob, &old));
    for (threads = 1; threads <= 3; threads += 2) {
        ASSERT_OK(
            rank_ann_load_pieces(&rank_ann_hnsw, &p, pc, np, threads, &b));
        ASSERT_EQ(b->ops->count(b), n);
        ASSERT_EQ(b->ops->deleted(b), 2);
        ASSERT_EQ(b->ops->capacity(b), old->ops->capacity(old));
        ASSERT_EQ(b->ops->memory(b), old->ops->memory(old));
        same_answers(old, b, q, nq);
        same_image(b, &blob);
        if (threads == 1) {
            b->ops->destroy(&b);
            continue;
        }
        /* Both go on alike: a resize, additions (some with upper layers,
         * which hnswlib mallocs itself), an update, deletions. */
        ASSERT_OK(old->ops->resize(old, n + extra));
        ASSERT_OK(b->ops->resize(b, n + extra));
        for (i = n; i < n + extra; i++) {
            ASSERT_OK(old->ops->add(old, 1000 + i, v + i * DIM));
            ASSERT_OK(b->ops->add(b, 1000 + i, v + i * DIM));
        }
        ASSERT_OK(old->ops->add(old, 1004, v + 5 * DIM));
        ASSERT_OK(b->ops->add(b, 1004, v + 5 * DIM));
        ASSERT_OK(old->ops->mark_deleted(old, 1010));
        ASSERT_OK(b->ops->mark_deleted(b, 1010));
        same_answers(old, b, q, nq);
        ASSERT_OK(old->ops->save(old, &after));
        same_image(b, &after);
        rank_blob_free(&after);
        b->ops->destroy(&b);
    }
    assert_null(b);
    /* A backend without load_pieces goes through a blob. */
    {
        struct rank_ann *f = NULL, *g = NULL;
        struct rank_blob fb = RANK_BLOB_INIT;
        build(&rank_ann_flat, v, n, &f);
        ASSERT_OK(f->ops->save(f, &fb));
        np = split(&fb, pc, blob.n);
        ASSERT_OK(rank_ann_load_pieces(&rank_ann_flat, &p, pc, np, 2, &g));
        same_answers(f, g, q, nq);
        f->ops->destroy(&f);
        g->ops->destroy(&g);
        rank_blob_free(&fb);
    }
    old->ops->destroy(&old);
    a->ops->destroy(&a);
    rank_blob_free(&blob);
    sw_free(pc);
    sw_free(v);
}

/* load_corrupt expects img (one piece) to be refused cleanly. */
static void load_corrupt(const void *img, size_t len, size_t dim)
{
    struct rank_piece pc = {img, len};
    struct rank_ann_params p;
    struct rank_ann *b = NULL;

    rank_ann_params_default(&p, dim);
    p.max_elements = 0;
    ASSERT_ERR(rank_ann_hnsw.load_pieces(&p, &pc, 1, 2, &b), SW_ECORRUPT);
    assert_null(b);
}

/* Images that are not what saveIndex writes are refused: short, long,
 * garbage, another dimension, an upper-layer size that is not a whole
 * number of levels, an entry point below the top level. */
static void test_hnsw_load_pieces_corrupt(void **state)
{
    size_t n = 600, i, sdpe, pos;
    float *v = clustered(n, DIM);
    struct rank_ann *a = NULL, *b = NULL;
    struct rank_blob blob = RANK_BLOB_INIT;
    struct rank_ann_params p;
    unsigned char *img;
    unsigned int sz, ep = 0, low = 0;
    int found = 0;

    (void)state;
    build(&rank_ann_hnsw, v, n, &a);
    ASSERT_OK(a->ops->save(a, &blob));
    img = sw_malloc(blob.n + 1);
    assert_non_null(img);
    memcpy(img, blob.p, blob.n);
    rank_ann_params_default(&p, DIM);
    p.max_elements = 0;
    ASSERT_ERR(rank_ann_hnsw.load_pieces(&p, NULL, 0, 2, &b), SW_ECORRUPT);
    load_corrupt(img, blob.n - 1, DIM);
    load_corrupt(img, blob.n / 2, DIM);
    load_corrupt(img, 40, DIM);
    img[blob.n] = 0;
    load_corrupt(img, blob.n + 1, DIM);
    load_corrupt(img, blob.n, DIM * 2);
    /* The first element's upper layers: sizes follow level 0. */
    memcpy(&sdpe, img + 24, sizeof(sdpe));
    pos = 96 + n * sdpe;
    memcpy(&sz, img + pos, sizeof(sz));
    sz += 4;
    memcpy(img + pos, &sz, sizeof(sz));
    load_corrupt(img, blob.n, DIM);
    memcpy(img, blob.p, blob.n);
    /* An entry point on level 0 (each index of 600 has upper levels). */
    memcpy(&ep, img + 52, sizeof(ep));
    for (i = 0; i < n && !found; i++) {
        memcpy(&sz, img + pos, sizeof(sz));
        if (sz == 0) {
            low = (unsigned int)i;
            found = 1;
        }
        pos += sizeof(sz) + sz;
    }
    assert_true(found);
    assert_true(low != ep);
    memcpy(img + 52, &low, sizeof(low));
    load_corrupt(img, blob.n, DIM);
    /* The untouched image still loads. */
    memcpy(img, blob.p, blob.n);
    {
        struct rank_piece pc = {img, blob.n};
        ASSERT_OK(rank_ann_hnsw.load_pieces(&p, &pc, 1, 2, &b));
        same_answers(a, b, v, 50);
        b->ops->destroy(&b);
    }
    memset(img, 0x5a, blob.n);
    load_corrupt(img, blob.n, DIM);
    sw_free(img);
    rank_blob_free(&blob);
    a->ops->destroy(&a);
    sw_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_deterministic),
        cmocka_unit_test(test_embed_similarity),
        cmocka_unit_test(test_hnsw_distances),
        cmocka_unit_test(test_hnsw_vs_flat),
        cmocka_unit_test(test_add_many_parallel),
        cmocka_unit_test(test_hnsw_save_load),
        cmocka_unit_test(test_flat_save_load),
        cmocka_unit_test(test_hnsw_load_pieces),
        cmocka_unit_test(test_hnsw_load_pieces_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
