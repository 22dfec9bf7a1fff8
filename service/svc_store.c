/* svc_store: opening the data directory for snipd's commands, and the
 * status message of a write the store had no room for (see svc_store.h). */
#include "service/svc_store.h"

#include <stdio.h>
#include <string.h>

#include "base/sw_buf.h"
#include "service/svc_rpc.h"
#include "store/store.h"

int svc_store_open(const struct svc_config *cfg, const char *cmd, int create,
                   struct store **out)
{
    struct store_opts so;
    sw_err rc;

    memset(&so, 0, sizeof(so));
    so.dir = cfg->data_dir;
    so.max_map_bytes = (size_t)cfg->max_map_bytes;
    so.purge_slice = (size_t)cfg->purge_slice;
    so.must_exist = !create;
    rc = store_open(&so, out);
    if (rc == SW_OK)
        return 0;
    if (rc == SW_ENOTFOUND && create)
        fprintf(stderr,
                "snipd %s: cannot create the data directory %s: its parent "
                "directory does not exist (snipd creates only the last "
                "component of the path; create the parent first)\n",
                cmd, cfg->data_dir);
    else if (rc == SW_ENOTFOUND)
        fprintf(stderr,
                "snipd %s: %s is not a Snipwise store (no data.mdb with a "
                "Snipwise schema record there); check the path, or create a "
                "store with `snipd serve --data-dir %s`\n",
                cmd, cfg->data_dir, cfg->data_dir);
    else
        fprintf(stderr, "snipd %s: cannot open the store in %s: %s\n", cmd,
                cfg->data_dir, sw_err_str(rc));
    return 2;
}

const char *svc_store_full_cause(struct svc_ctx *c)
{
    struct sw_buf why;
    const char *cause = "disk";

    sw_buf_init(&why, 4096);
    if (store_nospace_why(svc_ctx_store(c), &why) == SW_OK &&
        strstr(sw_buf_str(&why), "map") != NULL)
        cause = "map";
    sw_buf_free(&why);
    return cause;
}

const char *svc_store_err_str(struct svc_ctx *c, sw_err rc)
{
    struct sw_buf why;
    const char *s = NULL;

    if (rc != SW_ENOSPACE)
        return sw_err_str(rc);
    sw_buf_init(&why, 4096);
    if (store_nospace_why(svc_ctx_store(c), &why) == SW_OK)
        s = svc_ctx_str(c, sw_buf_str(&why));
    sw_buf_free(&why);
    /* svc_ctx_str gives "" when out of memory. */
    return s && s[0] ? s : sw_err_str(rc);
}
