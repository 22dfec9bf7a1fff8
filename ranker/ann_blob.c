/* ann_blob: memfd-backed byte images of saved indexes (rank_blob in ann.h),
 * the default build parameters and the generic add_many. hnswlib 0.6 saves and
 * loads only by path, so blobs live in memfds that it can open as
 * /proc/self/fd/N. rank_ann_load_pieces is the generic load from pieces. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_log.h"
#include "ranker/ann.h"

sw_err rank_ann_add_many(struct rank_ann *a, const uint64_t *labels,
                         const float *const *vecs, size_t n, unsigned threads)
{
    size_t i;
    sw_err rc;

    if (a->ops->add_many)
        return a->ops->add_many(a, labels, vecs, n, threads);
    for (i = 0; i < n; i++)
        if ((rc = a->ops->add(a, labels[i], vecs[i])))
            return rc;
    return SW_OK;
}

sw_err rank_ann_load_pieces(const struct rank_ann_ops *ops,
                            const struct rank_ann_params *p,
                            const struct rank_piece *pieces, size_t npieces,
                            unsigned threads, struct rank_ann **out)
{
    struct rank_blob b = RANK_BLOB_INIT;
    size_t i, n = 0, off = 0;
    sw_err rc;

    if (ops->load_pieces)
        return ops->load_pieces(p, pieces, npieces, threads, out);
    for (i = 0; i < npieces; i++) {
        if (pieces[i].n > SIZE_MAX - n)
            return SW_ECORRUPT;
        n += pieces[i].n;
    }
    rc = rank_blob_create(n, &b);
    if (rc)
        return rc;
    for (i = 0; i < npieces; i++) {
        if (pieces[i].n)
            memcpy((char *)b.p + off, pieces[i].p, pieces[i].n);
        off += pieces[i].n;
    }
    rc = ops->load(p, &b, out);
    rank_blob_free(&b);
    return rc;
}

void rank_ann_params_default(struct rank_ann_params *p, size_t dim)
{
    p->dim = dim;
    p->m = 16;
    p->ef_construction = 200;
    p->max_elements = 1024;
    p->seed = 100;
}

/* rank_blob_map maps n bytes of fd read-write (n 0: no mapping). */
static SW_MUST_CHECK sw_err rank_blob_map(int fd, size_t n,
                                          struct rank_blob *out)
{
    void *p = NULL;

    if (n > 0) {
        p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            sw_log_error("rank.blob_mmap", "bytes=%zu", n);
            return SW_EIO;
        }
    }
    out->p = p;
    out->n = n;
    out->fd = fd;
    return SW_OK;
}

sw_err rank_blob_create(size_t n, struct rank_blob *out)
{
    int fd;
    sw_err rc;

    fd = memfd_create("snipwise-ann", MFD_CLOEXEC);
    if (fd < 0) {
        sw_log_error("rank.blob_memfd", "failed");
        return SW_EIO;
    }
    if (ftruncate(fd, (off_t)n) != 0) {
        sw_log_error("rank.blob_truncate", "bytes=%zu", n);
        close(fd);
        return SW_EIO;
    }
    rc = rank_blob_map(fd, n, out);
    if (rc)
        close(fd);
    return rc;
}

sw_err rank_blob_from_fd(int fd, struct rank_blob *out)
{
    struct stat st;
    sw_err rc;

    if (fstat(fd, &st) != 0) {
        close(fd);
        return SW_EIO;
    }
    rc = rank_blob_map(fd, (size_t)st.st_size, out);
    if (rc)
        close(fd);
    return rc;
}

void rank_blob_free(struct rank_blob *b)
{
    if (b == NULL)
        return;
    if (b->p != NULL)
        (void)munmap(b->p, b->n); /* cannot fail for a mapping we made */
    if (b->fd >= 0)
        close(b->fd);
    b->p = NULL;
    b->n = 0;
    b->fd = -1;
}
