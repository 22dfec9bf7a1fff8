/* ann: the approximate-nearest-neighbour index behind one small ops table,
 * implemented by rank_ann_hnsw (ann_hnsw.cc, a shim over hnswlib 0.6) and
 * rank_ann_flat (ann_flat.c, exact brute force, for tests and recall).
 * Vectors are float[dim], expected L2-normalised; the distance is
 * 1 - inner product (smaller is closer). Labels are 64-bit and chosen by
 * the caller.
 *
 * Thread-safety: search may run on many threads at once; add,
 * mark_deleted and resize need exclusive access (the caller's lock; see
 * ranker/index.c). Different handles are independent. */
#ifndef RANK_ANN_H
#define RANK_ANN_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

struct rank_ann_ops;

/* An index handle. Backends embed it as their first member. */
struct rank_ann {
    const struct rank_ann_ops *ops;
};

/* Build parameters. */
struct rank_ann_params {
    size_t dim;             /* vector length, 1..65536 */
    size_t m;               /* HNSW links per node (default 16) */
    size_t ef_construction; /* HNSW build beam (default 200) */
    size_t max_elements;    /* capacity; grow with resize */
    uint64_t seed;          /* level generator seed (default 100) */
};

/* A byte image of a saved index: a sealed-off memfd (so hnswlib can reach
 * it by path) mapped at p for n bytes. Made by rank_blob_create or by a
 * backend's save; released with rank_blob_free. */
struct rank_blob {
    void *p;
    size_t n;
    int fd;
};
#define RANK_BLOB_INIT                                                         \
    {                                                                          \
        NULL, 0, -1                                                            \
    }

/* One piece of a saved image: n bytes at p. A long image may come as
 * several pieces in order (a snapshot's LMDB chunks, read in place). */
struct rank_piece {
    const void *p;
    size_t n;
};

struct rank_ann_ops {
    const char *name; /* "hnsw" or "flat" */
    /* create makes an empty index. Errors: SW_EINVAL (dim 0 or too big),
     * SW_ENOMEM. */
    sw_err (*create)(const struct rank_ann_params *p, struct rank_ann **out);
    /* add inserts vec (dim floats, copied) under label; an existing label
     * is updated (and undeleted). Errors: SW_ERANGE (full: resize first),
     * SW_ENOMEM, SW_EINTERNAL. */
    sw_err (*add)(struct rank_ann *a, uint64_t label, const float *vec);
    /* mark_deleted hides label from search. Deleting a deleted label is
     * SW_OK. Errors: SW_ENOTFOUND (unknown label), SW_EINTERNAL. */
    sw_err (*mark_deleted)(struct rank_ann *a, uint64_t label);
    /* search writes up to k nearest live labels, closest first, into
     * labels[0..*n) and their distances into dists (both hold k). ef is
     * the search beam (raised to k when smaller). Errors: SW_EINVAL (k 0),
     * SW_ENOMEM, SW_EINTERNAL. */
    sw_err (*search)(const struct rank_ann *a, const float *q, size_t k,
                     size_t ef, uint64_t *labels, float *dists, size_t *n);
    /* resize changes the capacity (never below count). Errors: SW_EINVAL,
     * SW_ENOMEM, SW_EINTERNAL. */
    sw_err (*resize)(struct rank_ann *a, size_t max_elements);
    /* save writes the whole index into a new blob (*out, the caller's).
     * Errors: SW_EIO, SW_ENOMEM, SW_EINTERNAL. */
    sw_err (*save)(const struct rank_ann *a, struct rank_blob *out);
    /* load builds an index from a blob made by save of the same backend,
     * with capacity at least max_elements (0: as saved). p->dim must
     * match. The blob stays the caller's. Errors: SW_ECORRUPT (not an
     * index of this shape), SW_ENOMEM, SW_EIO. */
    sw_err (*load)(const struct rank_ann_params *p, const struct rank_blob *b,
                   struct rank_ann **out);
    /* count returns the number of elements, deleted ones included;
     * capacity the current max_elements; deleted the deleted count. */
    size_t (*count)(const struct rank_ann *a);
    size_t (*capacity)(const struct rank_ann *a);
    size_t (*deleted)(const struct rank_ann *a);
    /* memory returns the approximate bytes the index holds. */
    size_t (*memory)(const struct rank_ann *a);
    /* destroy frees the index and sets *a to NULL; NULL is accepted. */
    void (*destroy)(struct rank_ann **a);
    /* add_many adds n vectors (vecs[i], dim floats each) under labels[i]
     * (distinct), as add does, with up to threads threads inserting at
     * once when n is at least RANK_ANN_PAR_MIN; the graph then depends on
     * how the threads interleave. NULL: rank_ann_add_many adds one by one.
     * Errors: as add; SW_ERANGE (nothing added) when the new labels do not
     * fit. */
    sw_err (*add_many)(struct rank_ann *a, const uint64_t *labels,
                       const float *const *vecs, size_t n, unsigned threads);
    /* get copies the vector stored under label (dim floats) to out.
     * Errors: SW_ENOTFOUND (unknown or deleted label), SW_EINTERNAL. */
    sw_err (*get)(const struct rank_ann *a, uint64_t label, float *out);
    /* load_pieces is load from the image pieces[0..npieces) (their
     * concatenation is what save wrote), copied straight into the index:
     * no blob. The pieces stay the caller's and are read only during the
     * call; up to threads threads copy at once. NULL: rank_ann_load_pieces
     * copies the pieces into a blob and calls load. Errors: as load. */
    sw_err (*load_pieces)(const struct rank_ann_params *p,
                          const struct rank_piece *pieces, size_t npieces,
                          unsigned threads, struct rank_ann **out);
};

/* Fewest vectors for a parallel add_many: smaller batches (an indexer
 * following new mail) stay sequential, so their graph is reproducible. */
#define RANK_ANN_PAR_MIN 512

/* rank_ann_add_many is a's add_many, or add in a loop when it has none. */
SW_MUST_CHECK sw_err rank_ann_add_many(struct rank_ann *a,
                                       const uint64_t *labels,
                                       const float *const *vecs, size_t n,
                                       unsigned threads);

/* rank_ann_load_pieces is ops's load_pieces, or (when it has none) load
 * from a blob holding the pieces' concatenation. Errors: as load; SW_EIO
 * (no blob). */
SW_MUST_CHECK sw_err rank_ann_load_pieces(const struct rank_ann_ops *ops,
                                          const struct rank_ann_params *p,
                                          const struct rank_piece *pieces,
                                          size_t npieces, unsigned threads,
                                          struct rank_ann **out);

/* The two backends. */
extern const struct rank_ann_ops rank_ann_hnsw;
extern const struct rank_ann_ops rank_ann_flat;

/* rank_ann_params_default fills p with dim and the defaults above. */
void rank_ann_params_default(struct rank_ann_params *p, size_t dim);

/* rank_blob_create makes a zero-filled, writable blob of n bytes (n may be
 * 0). Errors: SW_EIO (memfd or mmap failed), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_blob_create(size_t n, struct rank_blob *out);

/* rank_blob_from_fd maps the whole file fd (taking ownership of fd, which
 * is closed on failure too) as a blob. Errors: SW_EIO. */
SW_MUST_CHECK sw_err rank_blob_from_fd(int fd, struct rank_blob *out);

/* rank_blob_free unmaps and closes the blob and resets it to
 * RANK_BLOB_INIT, which it also accepts. */
void rank_blob_free(struct rank_blob *b);

#endif
