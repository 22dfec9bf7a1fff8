/* svc_auth: bearer-key authentication against the store's key table. */
#include "service/svc_auth.h"

#include <grpc/slice.h>
#include <string.h>
#include <strings.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store_move.h"
#include "store/store_tenant.h"

/* svc_auth_rep_refused explains why a rep key may not call m. */
static const char *svc_auth_rep_refused(const struct svc_method *m,
                                        struct sw_arena *a)
{
    struct sw_buf b;
    const char *msg = NULL;

    sw_buf_init(&b, 1024);
    if (sw_buf_printf(&b,
                      "a rep key may not call %s: it manages the team and "
                      "needs the team's admin key (ROLE_TEAM)",
                      m->path) == SW_OK)
        msg = sw_arena_strdup(a, sw_buf_str(&b));
    sw_buf_free(&b);
    return msg ? msg : "a rep key may not call this method";
}

/* svc_auth_moved: SW_OK when the key's routing prefix names a team that
 * moved away from this node (store_move.h's tombstone), with *why naming
 * where: a client whose route is stale retries, and the proxy's updated
 * route takes it there. */
static sw_err svc_auth_moved(struct store *st, const char *key, size_t n,
                             struct sw_arena *a, const char **why)
{
    char team[STORE_ROUTE_LEN + 1];
    char *node = NULL;
    sw_err rc = store_key_route(key, n, team);

    if (rc == SW_OK)
        rc = store_team_moved_to(st, team, &node);
    if (rc)
        return rc;
    *why = sw_arena_printf(a,
                           "team %s moved to node %s; this node no longer "
                           "serves it: retry (the route follows the team)",
                           team, node);
    sw_free(node);
    if (*why == NULL)
        *why = "the team moved to another node: retry";
    return SW_OK;
}

sw_err svc_auth_check(struct store *st, const grpc_metadata_array *md,
                      const struct svc_method *m, struct sw_arena *a,
                      struct svc_identity *id, const char **why,
                      const char **reason)
{
    enum svc_access access = m->access;
    struct store_apikey key;
    const char *val = NULL;
    size_t vlen = 0, i;
    int found = 0, is_rep;
    sw_err rc;

    id->team_id = "";
    id->key_id = "";
    id->is_admin = 0;
    id->rep_email = "";
    *reason = NULL;
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
    if (rc == SW_EUNAUTH && svc_auth_moved(st, val, vlen, a, why) == SW_OK) {
        *reason = "TEAM_MOVED";
        return SW_EBUSY;
    }
    if (rc == SW_EUNAUTH) {
        *why = "invalid API key (unknown, revoked, or its team was deleted)";
        return rc;
    }
    if (rc) {
        *why = "could not check the API key";
        return rc;
    }
    id->is_admin = key.role == STORE_ROLE_ADMIN;
    is_rep = key.role == STORE_ROLE_REP;
    id->team_id = sw_arena_strdup(a, key.team_id ? key.team_id : "");
    id->key_id = sw_arena_strdup(a, key.key_id ? key.key_id : "");
    id->rep_email =
        sw_arena_strdup(a, is_rep && key.rep_email ? key.rep_email : "");
    store_apikey_clear(&key);
    if (id->team_id == NULL || id->key_id == NULL || id->rep_email == NULL) {
        *why = "out of memory";
        return SW_ENOMEM;
    }
    if (access == SVC_ADMIN && !id->is_admin) {
        *why = "this method needs the server admin key";
        *reason = "ADMIN_KEY_REQUIRED";
        return SW_EPERM;
    }
    if (access != SVC_ADMIN && id->is_admin) {
        *why = "this method acts on one team: use a team API key, not the "
               "admin key";
        *reason = "ADMIN_KEY_REQUIRED";
        return SW_EPERM;
    }
    /* A rep key acts as one member: only rows marked SVC_REP let it in. */
    if (is_rep && access != SVC_REP) {
        *why = svc_auth_rep_refused(m, a);
        *reason = "REP_KEY_NOT_ALLOWED";
        return SW_EPERM;
    }
    return SW_OK;
}
