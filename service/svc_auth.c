/* svc_auth: bearer-key authentication against the store's key table. */
#include "service/svc_auth.h"

#include <grpc/slice.h>
#include <string.h>
#include <strings.h>

#include "store/store_tenant.h"

sw_err svc_auth_check(struct store *st, const grpc_metadata_array *md,
                      enum svc_access access, struct sw_arena *a,
                      struct svc_identity *id, const char **why)
{
    struct store_apikey key;
    const char *val = NULL;
    size_t vlen = 0, i;
    int found = 0;
    sw_err rc;

    id->team_id = "";
    id->key_id = "";
    id->is_admin = 0;
    if (access == SVC_PUBLIC)
        return SW_OK;
    for (i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") == 0) {
            val = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
            vlen = GRPC_SLICE_LENGTH(md->metadata[i].value);
            found++;
        }
    }
    if (found == 0) {
        *why = "missing API key: send metadata 'authorization: Bearer <key>'";
        return SW_EUNAUTH;
    }
    if (found > 1) {
        *why = "more than one authorization header";
        return SW_EUNAUTH;
    }
    if (vlen < 7 || strncasecmp(val, "Bearer ", 7) != 0) {
        *why = "malformed authorization header: expected 'Bearer <key>'";
        return SW_EUNAUTH;
    }
    val += 7;
    vlen -= 7;
    while (vlen > 0 && val[0] == ' ') {
        val++;
        vlen--;
    }
    memset(&key, 0, sizeof(key));
    rc = store_key_authenticate(st, val, vlen, &key);
    if (rc == SW_EUNAUTH) {
        *why = "invalid API key (unknown, revoked, or its team was deleted)";
        return rc;
    }
    if (rc) {
        *why = "could not check the API key";
        return rc;
    }
    id->is_admin = key.role == STORE_ROLE_ADMIN;
    id->team_id = sw_arena_strdup(a, key.team_id ? key.team_id : "");
    id->key_id = sw_arena_strdup(a, key.key_id ? key.key_id : "");
    store_apikey_clear(&key);
    if (id->team_id == NULL || id->key_id == NULL) {
        *why = "out of memory";
        return SW_ENOMEM;
    }
    if (access == SVC_ADMIN && !id->is_admin) {
        *why = "this method needs the server admin key";
        return SW_EPERM;
    }
    if (access == SVC_TEAM && id->is_admin) {
        *why = "this method acts on one team: use a team API key, not the "
               "admin key";
        return SW_EPERM;
    }
    return SW_OK;
}
