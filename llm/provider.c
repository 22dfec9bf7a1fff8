/* llm/provider: what every provider shares: the dispatch, response
 * cleanup and API key loading. */
#include "llm/provider.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"

void llm_response_clear(struct llm_response *r)
{
    if (r == NULL)
        return;
    sw_free(r->content);
    sw_free(r->error);
    memset(r, 0, sizeof(*r));
}

sw_err llm_provider_complete(struct llm_provider *p,
                             const struct llm_request *r,
                             struct llm_response *out)
{
    if (p == NULL || r == NULL || out == NULL || r->schema == NULL ||
        r->in == NULL)
        return SW_EINVAL;
    return p->ops->complete(p, r, out);
}

void llm_provider_free(struct llm_provider **p)
{
    if (p == NULL || *p == NULL)
        return;
    if ((*p)->ops && (*p)->ops->destroy)
        (*p)->ops->destroy(*p);
    sw_free((*p)->name);
    sw_free((*p)->model);
    sw_free(*p);
    *p = NULL;
}

sw_err llm_key_load(const char *path, const char *env_name, char **out)
{
    struct sw_buf b;
    char chunk[512];
    const char *s;
    size_t a, z;
    ssize_t r;
    int fd = -1;
    sw_err rc = SW_OK;

    *out = NULL;
    sw_buf_init(&b, 64 * 1024);
    if (path && path[0]) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return SW_EIO;
        for (;;) {
            r = read(fd, chunk, sizeof(chunk));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = SW_EIO;
                goto out;
            }
            if (r == 0)
                break;
            rc = sw_buf_add(&b, chunk, (size_t)r);
            if (rc)
                goto out;
        }
    } else if (env_name && (s = getenv(env_name)) != NULL) {
        rc = sw_buf_addstr(&b, s);
        if (rc)
            goto out;
    } else {
        goto out;
    }
    s = sw_buf_str(&b);
    a = 0;
    z = sw_buf_len(&b);
    while (a < z &&
           (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t'))
        a++;
    while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\n' || s[z - 1] == '\r' ||
                     s[z - 1] == '\t'))
        z--;
    if (z == a) {
        rc = path && path[0] ? SW_EINVAL : SW_OK;
        goto out;
    }
    *out = sw_strndup(s + a, z - a);
    if (*out == NULL)
        rc = SW_ENOMEM;
out:
    if (fd >= 0)
        close(fd);
    /* The buffer held the secret: wipe it before freeing. */
    if (b.data)
        memset(b.data, 0, b.cap);
    memset(chunk, 0, sizeof(chunk));
    sw_buf_free(&b);
    return rc;
}
