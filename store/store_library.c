/* store_library: kept files, content-addressed per team (store_library.h). */
#include "store/store_library.h"

#include <assert.h>
#include <string.h>

#include "store/store_int.h"

/* store_library_key writes team\0sha[chunk] into k. */
static SW_MUST_CHECK sw_err store_library_key(struct sw_buf *k,
                                              const char *team_id,
                                              const unsigned char *sha,
                                              uint32_t chunk)
{
    unsigned char rest[SW_SHA256_LEN + 4];

    memcpy(rest, sha, SW_SHA256_LEN);
    rest[SW_SHA256_LEN] = (unsigned char)(chunk >> 24);
    rest[SW_SHA256_LEN + 1] = (unsigned char)(chunk >> 16);
    rest[SW_SHA256_LEN + 2] = (unsigned char)(chunk >> 8);
    rest[SW_SHA256_LEN + 3] = (unsigned char)chunk;
    return store_key(k, team_id, rest, sizeof(rest));
}

sw_err store_library_usage(store_txn *t, const char *team_id,
                           struct store_library_usage *out)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    if (t == NULL || team_id == NULL || out == NULL)
        return SW_EINVAL;
    memset(out, 0, sizeof(*out));
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_key(&k, team_id, NULL, 0);
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_LIBRARY_USAGE, sw_buf_str(&k), sw_buf_len(&k),
                   &v, &vl);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK;
        goto out;
    }
    if (rc)
        goto out;
    if (vl != 16) {
        rc = SW_ECORRUPT;
        goto out;
    }
    out->bytes = (int64_t)store_u64_get(v);
    out->files = (int64_t)store_u64_get((const unsigned char *)v + 8);
out:
    sw_buf_free(&k);
    return rc;
}

/* store_library_account adds the deltas to team_id's usage. */
static SW_MUST_CHECK sw_err store_library_account(store_txn *t,
                                                  const char *team_id,
                                                  int64_t bytes, int64_t files)
{
    struct store_library_usage u;
    unsigned char v[16];
    struct sw_buf k;
    sw_err rc;

    rc = store_library_usage(t, team_id, &u);
    if (rc)
        return rc;
    u.bytes += bytes;
    u.files += files;
    if (u.bytes < 0 || u.files < 0)
        return SW_ECORRUPT; /* more taken off than was ever counted */
    store_u64_put(v, (uint64_t)u.bytes);
    store_u64_put(v + 8, (uint64_t)u.files);
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_key(&k, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_LIBRARY_USAGE, sw_buf_str(&k),
                       sw_buf_len(&k), v, sizeof(v), 0);
    sw_buf_free(&k);
    return rc;
}

sw_err store_library_put(store_txn *t, const char *team_id,
                         const unsigned char sha[SW_SHA256_LEN],
                         const void *data, size_t len, int64_t quota_bytes,
                         int *added)
{
    struct store_library_usage u;
    const void *v;
    size_t vl, off = 0;
    uint32_t chunk = 0;
    struct sw_buf k;
    sw_err rc;

    if (added)
        *added = 0;
    if (t == NULL || team_id == NULL || sha == NULL ||
        (data == NULL && len > 0) || len > (size_t)INT64_MAX)
        return SW_EINVAL;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_library_key(&k, team_id, sha, 0);
    if (rc)
        goto out;
    rc =
        store_get(t, STORE_DB_LIBRARY, sw_buf_str(&k), sw_buf_len(&k), &v, &vl);
    if (rc != SW_ENOTFOUND) /* kept already (SW_OK), or a store error */
        goto out;
    rc = store_library_usage(t, team_id, &u);
    if (rc)
        goto out;
    if (quota_bytes > 0 && (int64_t)len > quota_bytes - u.bytes) {
        rc = SW_EQUOTA;
        goto out;
    }
    do {
        size_t n =
            len - off < STORE_LIBRARY_CHUNK ? len - off : STORE_LIBRARY_CHUNK;
        rc = store_library_key(&k, team_id, sha, chunk);
        if (rc == SW_OK)
            rc = store_put(t, STORE_DB_LIBRARY, sw_buf_str(&k), sw_buf_len(&k),
                           n ? (const char *)data + off : "", n, 0);
        if (rc)
            goto out;
        off += n;
        chunk++;
    } while (off < len);
    assert(off == len);
    rc = store_library_account(t, team_id, (int64_t)len, 1);
    if (rc == SW_OK && added)
        *added = 1;
out:
    sw_buf_free(&k);
    return rc;
}

sw_err store_library_read(store_txn *t, const char *team_id,
                          const unsigned char sha[SW_SHA256_LEN],
                          uint32_t chunk, struct sw_buf *out)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    if (t == NULL || team_id == NULL || sha == NULL || out == NULL)
        return SW_EINVAL;
    sw_buf_reset(out);
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_library_key(&k, team_id, sha, chunk);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_LIBRARY, sw_buf_str(&k), sw_buf_len(&k), &v,
                       &vl);
    if (rc == SW_OK && vl > STORE_LIBRARY_CHUNK)
        rc = SW_ECORRUPT;
    if (rc == SW_OK)
        rc = sw_buf_add(out, v, vl);
    sw_buf_free(&k);
    return rc;
}

sw_err store_library_delete(store_txn *t, const char *team_id,
                            const unsigned char sha[SW_SHA256_LEN],
                            int64_t size)
{
    uint32_t chunk, n;
    struct sw_buf k;
    sw_err rc;

    if (t == NULL || team_id == NULL || sha == NULL || size < 0)
        return SW_EINVAL;
    n = size == 0 ? 1
                  : (uint32_t)((size + STORE_LIBRARY_CHUNK - 1) /
                               STORE_LIBRARY_CHUNK);
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    for (chunk = 0; chunk < n; chunk++) {
        rc = store_library_key(&k, team_id, sha, chunk);
        if (rc == SW_OK)
            rc = store_del(t, STORE_DB_LIBRARY, sw_buf_str(&k), sw_buf_len(&k));
        if (rc == SW_ENOTFOUND && chunk > 0)
            rc = SW_ECORRUPT; /* chunk 0 was there: the file is cut short */
        if (rc)
            goto out;
    }
    rc = store_library_account(t, team_id, -size, -1);
out:
    sw_buf_free(&k);
    return rc;
}
