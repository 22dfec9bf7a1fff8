/* bench_adapter: how long the nightly job's query adapter takes to learn
 * at its pair cap (docs/RANKING.md, "The query adapter"): 50,000 pairs of
 * random unit vectors over 64 items, at the builtin's 384 dimensions and
 * an OpenAI-compatible 1,536, with the default options. A measurement,
 * run by hand: bazel run --config=opt //tests/bench:bench_adapter. */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "base/sw_mem.h"
#include "ranker/adapter.h"
#include "ranker/suggest.h"

#define BENCH_PAIRS 50000
#define BENCH_QUERIES 5000
#define BENCH_ITEMS 64

static uint64_t bench_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* bench_unit fills n rows of dim with random unit vectors. */
static void bench_unit(float *x, size_t n, size_t dim, uint64_t *s)
{
    size_t i, d;

    for (i = 0; i < n; i++) {
        double ss = 0;
        for (d = 0; d < dim; d++) {
            x[i * dim + d] =
                (float)((double)(bench_rng(s) >> 11) / 9007199254740992.0 -
                        0.5);
            ss += (double)x[i * dim + d] * x[i * dim + d];
        }
        for (d = 0; d < dim; d++)
            x[i * dim + d] /= (float)sqrt(ss);
    }
}

static int bench_one(size_t dim)
{
    struct rank_adapter_opts o;
    struct rank_adapter_pair *pairs = NULL;
    struct rank_adapter *a = NULL;
    struct timespec t0, t1;
    float *Q = NULL, *S = NULL;
    int kinds[BENCH_ITEMS], code = 1;
    uint64_t s = 42;
    size_t i, used = 0;

    Q = sw_malloc(BENCH_QUERIES * dim * sizeof(float));
    S = sw_malloc(BENCH_ITEMS * dim * sizeof(float));
    pairs = sw_calloc(BENCH_PAIRS, sizeof(*pairs));
    if (!Q || !S || !pairs)
        goto out;
    bench_unit(Q, BENCH_QUERIES, dim, &s);
    bench_unit(S, BENCH_ITEMS, dim, &s);
    for (i = 0; i < BENCH_ITEMS; i++)
        kinds[i] = i % 2 ? 'f' : 'c';
    for (i = 0; i < BENCH_PAIRS; i++) {
        pairs[i].q = (uint32_t)(bench_rng(&s) % BENCH_QUERIES);
        pairs[i].item = (uint32_t)(bench_rng(&s) % BENCH_ITEMS);
        pairs[i].w = 1.0f;
        pairs[i].negative = (bench_rng(&s) & 3) == 0;
    }
    rank_adapter_opts_default(&o);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rank_adapter_train(Q, BENCH_QUERIES, S, kinds, BENCH_ITEMS, dim, pairs,
                           BENCH_PAIRS, &o, &used, &a) != SW_OK)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("dim %zu: %zu of %d pairs, %d epochs, rank %d: %.2f s\n", dim, used,
           BENCH_PAIRS, o.epochs, o.rank,
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    code = 0;
out:
    rank_adapter_free(&a);
    sw_free(Q);
    sw_free(S);
    sw_free(pairs);
    return code;
}

int main(void)
{
    rank_blas_init(); /* one OpenBLAS thread, as in snipd */
    return bench_one(384) | bench_one(1536);
}
