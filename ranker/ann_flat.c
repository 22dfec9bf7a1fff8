/* ann_flat: exact brute-force nearest neighbours behind the rank_ann ops
 * (ann.h). Used by tests and to measure the recall of the HNSW backend; it
 * scans every vector, so it is not for serving. */
#include <string.h>

#include "base/sw_mem.h"
#include "ranker/ann.h"
#include "ranker/rank_int.h"

#define RANK_FLAT_MAGIC "SWFLAT1"
#define RANK_FLAT_DIM_MAX 65536

struct rank_flat {
    struct rank_ann base;
    size_t dim, n, cap, ndeleted;
    float *vecs;          /* cap * dim */
    uint64_t *labels;     /* cap */
    unsigned char *dead;  /* cap */
    struct rank__map pos; /* label → index */
};

static struct rank_flat *rank_flat_of(const struct rank_ann *a)
{
    return (struct rank_flat *)a;
}

static void rank_flat_destroy(struct rank_ann **a)
{
    struct rank_flat *f;

    if (a == NULL || *a == NULL)
        return;
    f = rank_flat_of(*a);
    sw_free(f->vecs);
    sw_free(f->labels);
    sw_free(f->dead);
    rank__map_free(&f->pos);
    sw_free(f);
    *a = NULL;
}

static sw_err rank_flat_resize(struct rank_ann *a, size_t cap)
{
    struct rank_flat *f = rank_flat_of(a);
    float *v;
    uint64_t *l;
    unsigned char *d;

    if (cap < f->n)
        return SW_EINVAL;
    if (cap == 0)
        cap = 1;
    if (cap > SIZE_MAX / sizeof(float) / f->dim)
        return SW_ENOMEM;
    v = sw_realloc(f->vecs, cap * f->dim * sizeof(float));
    if (v == NULL)
        return SW_ENOMEM;
    f->vecs = v;
    l = sw_realloc(f->labels, cap * sizeof(uint64_t));
    if (l == NULL)
        return SW_ENOMEM;
    f->labels = l;
    d = sw_realloc(f->dead, cap);
    if (d == NULL)
        return SW_ENOMEM;
    f->dead = d;
    f->cap = cap;
    return SW_OK;
}

static sw_err rank_flat_create(const struct rank_ann_params *p,
                               struct rank_ann **out)
{
    struct rank_flat *f;
    struct rank_ann *a;
    sw_err rc;

    if (p->dim == 0 || p->dim > RANK_FLAT_DIM_MAX)
        return SW_EINVAL;
    f = sw_calloc(1, sizeof(*f));
    if (f == NULL)
        return SW_ENOMEM;
    f->base.ops = &rank_ann_flat;
    f->dim = p->dim;
    a = &f->base;
    rc = rank_flat_resize(a, p->max_elements);
    if (rc) {
        rank_flat_destroy(&a);
        return rc;
    }
    *out = a;
    return SW_OK;
}

static sw_err rank_flat_add(struct rank_ann *a, uint64_t label,
                            const float *vec)
{
    struct rank_flat *f = rank_flat_of(a);
    uint64_t i;
    sw_err rc;

    if (rank__map_get(&f->pos, label, &i)) {
        memcpy(f->vecs + i * f->dim, vec, f->dim * sizeof(float));
        if (f->dead[i]) {
            f->dead[i] = 0;
            f->ndeleted--;
        }
        return SW_OK;
    }
    if (f->n >= f->cap)
        return SW_ERANGE;
    rc = rank__map_put(&f->pos, label, f->n);
    if (rc)
        return rc;
    memcpy(f->vecs + f->n * f->dim, vec, f->dim * sizeof(float));
    f->labels[f->n] = label;
    f->dead[f->n] = 0;
    f->n++;
    return SW_OK;
}

static sw_err rank_flat_mark_deleted(struct rank_ann *a, uint64_t label)
{
    struct rank_flat *f = rank_flat_of(a);
    uint64_t i;

    if (!rank__map_get(&f->pos, label, &i))
        return SW_ENOTFOUND;
    if (!f->dead[i]) {
        f->dead[i] = 1;
        f->ndeleted++;
    }
    return SW_OK;
}

/* A max-heap on distance of the best k so far. */
static void rank_flat_sift_down(float *d, uint64_t *l, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < n && d[c] > d[m])
            m = c;
        if (c + 1 < n && d[c + 1] > d[m])
            m = c + 1;
        if (m == i)
            return;
        float td = d[i];
        uint64_t tl = l[i];
        d[i] = d[m];
        l[i] = l[m];
        d[m] = td;
        l[m] = tl;
        i = m;
    }
}

static void rank_flat_sift_up(float *d, uint64_t *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (d[p] >= d[i])
            return;
        float td = d[i];
        uint64_t tl = l[i];
        d[i] = d[p];
        l[i] = l[p];
        d[p] = td;
        l[p] = tl;
        i = p;
    }
}

static sw_err rank_flat_search(const struct rank_ann *a, const float *q,
                               size_t k, size_t ef, uint64_t *labels,
                               float *dists, size_t *n)
{
    const struct rank_flat *f = rank_flat_of(a);
    size_t i, j, h = 0;

    (void)ef;
    if (k == 0)
        return SW_EINVAL;
    for (i = 0; i < f->n; i++) {
        const float *v = f->vecs + i * f->dim;
        float ip = 0, d;
        if (f->dead[i])
            continue;
        for (j = 0; j < f->dim; j++)
            ip += v[j] * q[j];
        d = 1.0f - ip;
        if (h < k) {
            dists[h] = d;
            labels[h] = f->labels[i];
            rank_flat_sift_up(dists, labels, h);
            h++;
        } else if (d < dists[0]) {
            dists[0] = d;
            labels[0] = f->labels[i];
            rank_flat_sift_down(dists, labels, h, 0);
        }
    }
    /* Heap-sort in place: repeatedly move the largest to the end. */
    *n = h;
    while (h > 1) {
        float td = dists[0];
        uint64_t tl = labels[0];
        dists[0] = dists[h - 1];
        labels[0] = labels[h - 1];
        dists[h - 1] = td;
        labels[h - 1] = tl;
        h--;
        rank_flat_sift_down(dists, labels, h, 0);
    }
    return SW_OK;
}

/* Saved layout: magic[8], dim, n (u64 each), labels[n] (u64), dead[n],
 * then vectors[n * dim] as floats, all in host byte order. */
static sw_err rank_flat_save(const struct rank_ann *a, struct rank_blob *out)
{
    const struct rank_flat *f = rank_flat_of(a);
    size_t total = 24 + f->n * 8 + f->n + f->n * f->dim * sizeof(float);
    uint64_t hdr[2] = {f->dim, f->n};
    struct rank_blob b = RANK_BLOB_INIT;
    char *p;
    sw_err rc;

    rc = rank_blob_create(total, &b);
    if (rc)
        return rc;
    p = b.p;
    memcpy(p, RANK_FLAT_MAGIC, 8);
    memcpy(p + 8, hdr, 16);
    p += 24;
    memcpy(p, f->labels, f->n * 8);
    p += f->n * 8;
    memcpy(p, f->dead, f->n);
    p += f->n;
    memcpy(p, f->vecs, f->n * f->dim * sizeof(float));
    *out = b;
    return SW_OK;
}

static sw_err rank_flat_load(const struct rank_ann_params *p,
                             const struct rank_blob *b, struct rank_ann **out)
{
    struct rank_ann_params q = *p;
    struct rank_ann *a = NULL;
    struct rank_flat *f;
    const char *s = b->p;
    uint64_t hdr[2], i;
    sw_err rc;

    if (b->n < 24 || memcmp(s, RANK_FLAT_MAGIC, 8) != 0)
        return SW_ECORRUPT;
    memcpy(hdr, s + 8, 16);
    if (hdr[0] != p->dim || hdr[1] > (b->n - 24) / (9 + p->dim * 4) ||
        b->n != 24 + hdr[1] * (9 + p->dim * sizeof(float)))
        return SW_ECORRUPT;
    if (q.max_elements < hdr[1])
        q.max_elements = hdr[1];
    rc = rank_flat_create(&q, &a);
    if (rc)
        return rc;
    f = rank_flat_of(a);
    s += 24;
    memcpy(f->labels, s, hdr[1] * 8);
    s += hdr[1] * 8;
    memcpy(f->dead, s, hdr[1]);
    s += hdr[1];
    memcpy(f->vecs, s, hdr[1] * p->dim * sizeof(float));
    f->n = hdr[1];
    for (i = 0; i < f->n; i++) {
        f->ndeleted += f->dead[i] ? 1 : 0;
        rc = rank__map_put(&f->pos, f->labels[i], i);
        if (rc) {
            rank_flat_destroy(&a);
            return rc;
        }
    }
    *out = a;
    return SW_OK;
}

static size_t rank_flat_count(const struct rank_ann *a)
{
    return rank_flat_of(a)->n;
}

static size_t rank_flat_capacity(const struct rank_ann *a)
{
    return rank_flat_of(a)->cap;
}

static size_t rank_flat_deleted(const struct rank_ann *a)
{
    return rank_flat_of(a)->ndeleted;
}

static size_t rank_flat_memory(const struct rank_ann *a)
{
    const struct rank_flat *f = rank_flat_of(a);

    return f->cap * (f->dim * sizeof(float) + 9) + f->pos.cap * 16;
}

static sw_err rank_flat_get(const struct rank_ann *a, uint64_t label,
                            float *out)
{
    const struct rank_flat *f = rank_flat_of(a);
    uint64_t i;

    if (!rank__map_get(&f->pos, label, &i) || f->dead[i])
        return SW_ENOTFOUND;
    memcpy(out, f->vecs + i * f->dim, f->dim * sizeof(*out));
    return SW_OK;
}

const struct rank_ann_ops rank_ann_flat = {
    "flat",
    rank_flat_create,
    rank_flat_add,
    rank_flat_mark_deleted,
    rank_flat_search,
    rank_flat_resize,
    rank_flat_save,
    rank_flat_load,
    rank_flat_count,
    rank_flat_capacity,
    rank_flat_deleted,
    rank_flat_memory,
    rank_flat_destroy,
    NULL, /* add_many: one by one */
    rank_flat_get,
    NULL, /* load_pieces: through a blob */
};
