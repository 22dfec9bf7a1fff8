/* nm_frame: reading and writing length-prefixed native messaging frames
 * with plain read(2)/write(2), so that partial reads, EOF and EINTR are
 * handled in one place. */
#include "clients/nm/nm_frame.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_mem.h"

/* nm_frame_fill reads exactly n bytes into p; *got tells how many arrived
 * before EOF. SW_EIO on a read error. */
static sw_err nm_frame_fill(int fd, void *p, size_t n, size_t *got)
{
    size_t have = 0;

    while (have < n) {
        ssize_t r = read(fd, (char *)p + have, n - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return SW_EIO;
        if (r == 0)
            break;
        have += (size_t)r;
    }
    *got = have;
    return SW_OK;
}

sw_err nm_frame_read(int fd, size_t max, char **out, size_t *len, int *eof)
{
    uint32_t n32;
    size_t got = 0;
    char *body = NULL;
    sw_err rc;

    rc = nm_frame_fill(fd, &n32, sizeof(n32), &got);
    if (rc)
        goto out;
    if (got == 0) {
        *eof = 1;
        *out = NULL;
        goto out;
    }
    if (got < sizeof(n32)) {
        rc = SW_EPARSE;
        goto out;
    }
    if (n32 > max) {
        *len = n32;
        rc = SW_ETOOBIG;
        goto out;
    }
    body = sw_malloc((size_t)n32 + 1);
    if (body == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = nm_frame_fill(fd, body, n32, &got);
    if (rc)
        goto out;
    if (got < n32) {
        rc = SW_EPARSE;
        goto out;
    }
    body[n32] = '\0';
    *out = body;
    *len = n32;
    *eof = 0;
    body = NULL;
out:
    sw_free(body);
    return rc;
}

sw_err nm_frame_skip(int fd, uint64_t n)
{
    char chunk[16384];
    size_t got;
    sw_err rc = SW_OK;

    while (n > 0) {
        size_t want = n < sizeof(chunk) ? (size_t)n : sizeof(chunk);
        rc = nm_frame_fill(fd, chunk, want, &got);
        if (rc)
            goto out;
        if (got < want) {
            rc = SW_EPARSE;
            goto out;
        }
        n -= want;
    }
out:
    return rc;
}

/* nm_frame_put writes all n bytes at p. */
static sw_err nm_frame_put(int fd, const void *p, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(fd, (const char *)p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return SW_EIO;
        done += (size_t)w;
    }
    return SW_OK;
}

sw_err nm_frame_write(int fd, const char *p, size_t n)
{
    uint32_t n32;
    sw_err rc;

    if (n > NM_FRAME_OUT_MAX)
        return SW_ETOOBIG;
    n32 = (uint32_t)n;
    rc = nm_frame_put(fd, &n32, sizeof(n32));
    if (rc)
        return rc;
    return nm_frame_put(fd, p, n);
}
