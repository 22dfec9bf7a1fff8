/* ann_blob: memfd-backed byte images of saved indexes (rank_blob in ann.h),
 * the default build parameters and the generic add_many. hnswlib 0.6 saves and
 * loads only by path, so blobs live in memfds that it can open as
 * /proc/self/fd/N. */
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
