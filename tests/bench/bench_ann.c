/* bench_ann: recall@10 of the HNSW backend against exact brute force on
 * clustered vectors, and queries per second through our C API. It writes
 * the index, queries and ground truth to a directory so bench_ann.py can
 * time Debian's python3-hnswlib on the very same graph.
 * Usage: bench_ann N DIM CLUSTERS QUERIES THREADS OUTDIR [M EFC]
 *        bench_ann --query N DIM QUERIES THREADS OUTDIR   (reuse OUTDIR) */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/ann.h"

#define K 10

struct bench {
    size_t n, dim, nq, threads;
    float *base, *queries;
    uint64_t *gt;
    const struct rank_ann *ann;
    struct rank_ann *build;
    size_t ef;
    size_t next; /* work counter */
    pthread_mutex_t mu;
    uint64_t *found;
};

/* A small deterministic generator (xorshift64*) and Box-Muller. */
static uint64_t bench_rng = 0x9e3779b97f4a7c15ULL;

static double bench_unif(void)
{
    bench_rng ^= bench_rng >> 12;
    bench_rng ^= bench_rng << 25;
    bench_rng ^= bench_rng >> 27;
    return ((bench_rng * 2685821657736338717ULL) >> 11) *
           (1.0 / 9007199254740992.0);
}

static double bench_gauss(void)
{
    double u = bench_unif(), v = bench_unif();
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void bench_norm(float *v, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    s = 1 / sqrt(s);
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] * s);
}

static void bench_points(float *out, size_t n, const float *centers, size_t nc,
                         size_t dim, double sigma)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)(bench_unif() * nc);
        for (size_t j = 0; j < dim; j++)
            out[i * dim + j] =
                (float)(centers[c * dim + j] + sigma * bench_gauss());
        bench_norm(out + i * dim, dim);
    }
}

static size_t bench_take(struct bench *b, size_t step, size_t limit)
{
    size_t i;
    pthread_mutex_lock(&b->mu);
    i = b->next;
    b->next += step;
    pthread_mutex_unlock(&b->mu);
    return i < limit ? i : limit;
}

static void *bench_add_thread(void *arg)
{
    struct bench *b = arg;
    size_t i;
    /* hnswlib's addPoint takes its own per-node locks, so parallel adds are
     * safe for this build (the ranker itself adds from one thread). */
    while ((i = bench_take(b, 1, b->n)) < b->n)
        if (b->build->ops->add(b->build, i + 1, b->base + i * b->dim))
            abort();
    return NULL;
}

static void *bench_gt_thread(void *arg)
{
    struct bench *b = arg;
    float d[K];
    size_t i, n;
    while ((i = bench_take(b, 1, b->nq)) < b->nq)
        if (b->ann->ops->search(b->ann, b->queries + i * b->dim, K, 0,
                                b->gt + i * K, d, &n) ||
            n != K)
            abort();
    return NULL;
}

static void *bench_q_thread(void *arg)
{
    struct bench *b = arg;
    float d[K];
    size_t i, n;
    while ((i = bench_take(b, 1, b->nq)) < b->nq)
        if (b->ann->ops->search(b->ann, b->queries + i * b->dim, K, b->ef,
                                b->found + i * K, d, &n))
            abort();
    return NULL;
}

static void bench_run(struct bench *b, void *(*fn)(void *))
{
    pthread_t t[64];
    size_t i;
    b->next = 0;
    for (i = 0; i < b->threads; i++)
        pthread_create(&t[i], NULL, fn, b);
    for (i = 0; i < b->threads; i++)
        pthread_join(t[i], NULL);
}

static double bench_recall(const struct bench *b)
{
    size_t hit = 0;
    for (size_t q = 0; q < b->nq; q++)
        for (size_t i = 0; i < K; i++)
            for (size_t j = 0; j < K; j++)
                if (b->found[q * K + i] == b->gt[q * K + j]) {
                    hit++;
                    break;
                }
    return (double)hit / (double)(b->nq * K);
}

static void bench_write(const char *dir, const char *name, const void *p,
                        size_t n)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void *bench_read(const char *dir, const char *name, size_t n)
{
    char path[4096];
    void *p = malloc(n ? n : 1);
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (p == NULL || f == NULL || fread(p, 1, n, f) != n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return p;
}

static void bench_qps(struct bench *b)
{
    size_t efs[] = {32, 64, 128, 256};
    for (size_t i = 0; i < sizeof(efs) / sizeof(efs[0]); i++) {
        int64_t best = 0;
        for (int rep = 0; rep < 3; rep++) {
            int64_t t = sw_mono_ms();
            b->ef = efs[i];
            bench_run(b, bench_q_thread);
            t = sw_mono_ms() - t;
            if (rep == 0 || t < best)
                best = t;
        }
        printf("{\"impl\":\"snipwise C API\",\"ef\":%zu,\"k\":%d,"
               "\"recall_at_10\":%.4f,\"qps\":%.0f}\n",
               efs[i], K, bench_recall(b),
               b->nq / (best > 0 ? best / 1000.0 : 0.001));
    }
    fflush(stdout);
}

/* bench_query reloads OUTDIR's index and times the queries again, so the
 * C and Python timings can alternate in one run. */
static int bench_query(char **argv)
{
    struct bench b;
    struct rank_ann_params p;
    struct rank_blob blob = RANK_BLOB_INIT;
    struct rank_ann *a = NULL;
    char path[4096];
    FILE *f;
    long sz;

    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.mu, NULL);
    b.n = strtoull(argv[2], NULL, 10);
    b.dim = strtoull(argv[3], NULL, 10);
    b.nq = strtoull(argv[4], NULL, 10);
    b.threads = strtoull(argv[5], NULL, 10);
    snprintf(path, sizeof(path), "%s/index.bin", argv[6]);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0)
        return 1;
    rewind(f);
    if (rank_blob_create((size_t)sz, &blob) ||
        fread(blob.p, 1, (size_t)sz, f) != (size_t)sz)
        return 1;
    fclose(f);
    rank_ann_params_default(&p, b.dim);
    p.max_elements = 0;
    if (rank_ann_hnsw.load(&p, &blob, &a))
        return 1;
    rank_blob_free(&blob);
    b.queries = bench_read(argv[6], "queries.f32", b.nq * b.dim * 4);
    b.gt = bench_read(argv[6], "gt.u64", b.nq * K * 8);
    b.found = malloc(b.nq * K * sizeof(uint64_t));
    b.ann = a;
    bench_qps(&b);
    rank_ann_hnsw.destroy(&a);
    free(b.queries);
    free(b.gt);
    free(b.found);
    return 0;
}

/* bench_build (--build N DIM CLUSTERS THREADS OUTDIR [M EFC]): the index
 * build alone, as the ranker's catch-up does it (rank_ann_add_many over
 * the whole set, THREADS inserting), on the clustered vectors, which it
 * writes to OUTDIR/base.f32 for bench_ann.py --build to insert the same
 * ones with python3-hnswlib's add_items. */
static int bench_build(int argc, char **argv)
{
    struct rank_ann_params p;
    struct rank_ann *a = NULL;
    size_t n = strtoull(argv[2], NULL, 10), dim = strtoull(argv[3], NULL, 10);
    size_t nc = strtoull(argv[4], NULL, 10);
    size_t threads = strtoull(argv[5], NULL, 10), i;
    float *centers = malloc(nc * dim * sizeof(float));
    float *base = malloc(n * dim * sizeof(float));
    uint64_t *labels = malloc(n * sizeof(uint64_t));
    const float **vecs = malloc(n * sizeof(*vecs));
    int64_t t0;

    if (!centers || !base || !labels || !vecs)
        return 1;
    for (i = 0; i < nc * dim; i++)
        centers[i] = (float)bench_gauss();
    for (i = 0; i < nc; i++)
        bench_norm(centers + i * dim, dim);
    bench_points(base, n, centers, nc, dim, 0.05);
    bench_write(argv[6], "base.f32", base, n * dim * 4);
    for (i = 0; i < n; i++) {
        labels[i] = i + 1;
        vecs[i] = base + i * dim;
    }
    rank_ann_params_default(&p, dim);
    p.max_elements = n;
    if (argc >= 9) {
        p.m = strtoull(argv[7], NULL, 10);
        p.ef_construction = strtoull(argv[8], NULL, 10);
    }
    if (rank_ann_hnsw.create(&p, &a))
        return 1;
    t0 = sw_mono_ms();
    if (rank_ann_add_many(a, labels, vecs, n, threads))
        return 1;
    printf("{\"impl\":\"snipwise C (rank_ann_add_many)\",\"n\":%zu,"
           "\"dim\":%zu,\"m\":%zu,\"efc\":%zu,\"threads\":%zu,"
           "\"build_s\":%.1f}\n",
           n, dim, p.m, p.ef_construction, threads,
           (sw_mono_ms() - t0) / 1000.0);
    rank_ann_hnsw.destroy(&a);
    free(vecs);
    free(labels);
    free(base);
    free(centers);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b;
    struct rank_ann_params p;
    struct rank_ann *flat = NULL;
    struct rank_blob blob = RANK_BLOB_INIT;
    size_t nc, i, m = 16, efc = 200;
    float *centers;
    int64_t t0;

    if (argc < 7) {
        fprintf(stderr, "usage: bench_ann N DIM CLUSTERS QUERIES THREADS "
                        "OUTDIR [M EFC]\n"
                        "       bench_ann --build N DIM CLUSTERS THREADS "
                        "OUTDIR [M EFC]\n");
        return 2;
    }
    if (argc == 7 && strcmp(argv[1], "--query") == 0)
        return bench_query(argv);
    if ((argc == 7 || argc == 9) && strcmp(argv[1], "--build") == 0)
        return bench_build(argc, argv);
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.mu, NULL);
    b.n = strtoull(argv[1], NULL, 10);
    b.dim = strtoull(argv[2], NULL, 10);
    nc = strtoull(argv[3], NULL, 10);
    b.nq = strtoull(argv[4], NULL, 10);
    b.threads = strtoull(argv[5], NULL, 10);
    if (argc >= 9) {
        m = strtoull(argv[7], NULL, 10);
        efc = strtoull(argv[8], NULL, 10);
    }
    centers = malloc(nc * b.dim * sizeof(float));
    b.base = malloc(b.n * b.dim * sizeof(float));
    b.queries = malloc(b.nq * b.dim * sizeof(float));
    b.gt = malloc(b.nq * K * sizeof(uint64_t));
    b.found = malloc(b.nq * K * sizeof(uint64_t));
    for (i = 0; i < nc * b.dim; i++)
        centers[i] = (float)bench_gauss();
    for (i = 0; i < nc; i++)
        bench_norm(centers + i * b.dim, b.dim);
    /* sigma 0.05 per component: noise of norm ~1.0 around unit centres,
     * so clusters are clear but their insides are not trivial. */
    bench_points(b.base, b.n, centers, nc, b.dim, 0.05);
    bench_points(b.queries, b.nq, centers, nc, b.dim, 0.05);

    rank_ann_params_default(&p, b.dim);
    p.max_elements = b.n;
    p.m = m;
    p.ef_construction = efc;
    if (rank_ann_flat.create(&p, &flat))
        return 1;
    for (i = 0; i < b.n; i++)
        if (rank_ann_flat.add(flat, i + 1, b.base + i * b.dim))
            return 1;
    t0 = sw_mono_ms();
    b.ann = flat;
    bench_run(&b, bench_gt_thread);
    fprintf(stderr, "ground truth: %lld ms\n", (long long)(sw_mono_ms() - t0));

    if (rank_ann_hnsw.create(&p, &b.build))
        return 1;
    t0 = sw_mono_ms();
    bench_run(&b, bench_add_thread);
    printf("{\"n\":%zu,\"dim\":%zu,\"clusters\":%zu,\"m\":%zu,\"efc\":%zu,"
           "\"threads\":%zu,\"build_s\":%.1f,\"memory_bytes\":%zu}\n",
           b.n, b.dim, nc, m, efc, b.threads, (sw_mono_ms() - t0) / 1000.0,
           rank_ann_hnsw.memory(b.build));
    b.ann = b.build;
    bench_qps(&b);
    if (rank_ann_hnsw.save(b.build, &blob))
        return 1;
    bench_write(argv[6], "index.bin", blob.p, blob.n);
    bench_write(argv[6], "queries.f32", b.queries, b.nq * b.dim * 4);
    bench_write(argv[6], "gt.u64", b.gt, b.nq * K * 8);
    rank_blob_free(&blob);
    rank_ann_hnsw.destroy(&b.build);
    rank_ann_flat.destroy(&flat);
    free(centers);
    free(b.base);
    free(b.queries);
    free(b.gt);
    free(b.found);
    return 0;
}
