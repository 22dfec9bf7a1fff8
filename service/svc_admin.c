/* svc_admin: AdminService handlers. They validate nothing the store does
 * not: the store checks names and ids and explains its refusals, which are
 * passed on as the status message. */
#include "service/svc_admin.h"

#include <string.h>

#include "base/sw_mem.h"
#include "service/svc_content.h"
#include "service/svc_repkey.h"
#include "snipwise/v1/admin.pb-c.h"
#include "store/store_job.h"
#include "store/store_tenant.h"

#define SVC_WHY_MAX 1024

Snipwise__V1__Team *svc_admin_team(struct svc_ctx *c,
                                   const struct store_team *t)
{
    Snipwise__V1__Team *p = svc_ctx_new(c, &snipwise__v1__team__descriptor);

    if (p == NULL)
        return NULL;
    p->team_id = svc_ctx_str(c, t->team_id);
    p->display_name = svc_ctx_str(c, t->display_name);
    p->create_time_unix_ms = t->create_ms;
    return p;
}

Snipwise__V1__ApiKey *svc_admin_key(struct svc_ctx *c,
                                    const struct store_apikey *k)
{
    Snipwise__V1__ApiKey *p =
        svc_ctx_new(c, &snipwise__v1__api_key__descriptor);

    if (p == NULL)
        return NULL;
    p->key_id = svc_ctx_str(c, k->key_id);
    p->team_id = svc_ctx_str(c, k->team_id);
    p->display_name = svc_ctx_str(c, k->display_name);
    p->role = k->role == STORE_ROLE_ADMIN ? SNIPWISE__V1__ROLE__ROLE_ADMIN
              : k->role == STORE_ROLE_REP ? SNIPWISE__V1__ROLE__ROLE_REP
                                          : SNIPWISE__V1__ROLE__ROLE_TEAM;
    p->create_time_unix_ms = k->create_ms;
    p->revoke_time_unix_ms = k->revoke_ms;
    p->key_prefix = svc_ctx_str(c, k->key_prefix);
    p->rep_email = svc_ctx_str(c, k->rep_email);
    return p;
}

sw_err svc_admin_create_team(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp)
{
    const Snipwise__V1__CreateTeamRequest *r = (const void *)req;
    Snipwise__V1__CreateTeamResponse *out;
    struct store_team team;
    char *secret = NULL;
    struct sw_buf why;
    sw_err rc;

    memset(&team, 0, sizeof(team));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_create(svc_ctx_store(c), r->display_name, &team, &secret,
                           &why);
    if (rc) {
        rc = svc_ctx_fail_buf_field(c, rc, "display_name", &why);
        goto out;
    }
    out = svc_ctx_new(c, &snipwise__v1__create_team_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->team = svc_admin_team(c, &team);
    out->api_key = svc_ctx_str(c, secret);
    if (out->team == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    if (secret) {
        memset(secret, 0, strlen(secret));
        sw_free(secret);
    }
    store_team_clear(&team);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_admin_get_team(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__GetTeamRequest *r = (const void *)req;
    Snipwise__V1__Team *out;
    struct store_team team;
    struct sw_buf why;
    uint64_t pending = 0;
    sw_err rc;

    memset(&team, 0, sizeof(team));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_get(svc_ctx_store(c), r->team_id, &team, &why);
    if (rc) {
        if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
            rc = svc_ctx_fail(c, rc, "no team '%s'", r->team_id);
        else
            rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    out = svc_admin_team(c, &team);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    /* One team: a prefix count of its job index, as GetMyTeam does (a list
     * of teams leaves it 0 rather than count every team's queue). */
    rc = store_job_team_pending(svc_ctx_store(c), team.team_id, &pending);
    if (rc)
        goto out;
    out->pending_extraction_job_count = (int64_t)pending;
    out->content_library = svc_content_usage(c, team.team_id, &rc);
    if (rc)
        goto out;
    *resp = &out->base;
out:
    store_team_clear(&team);
    sw_buf_free(&why);
    return rc;
}

static ProtobufCMessage *svc_admin_team_item(struct svc_ctx *c, size_t i,
                                             void *arg)
{
    Snipwise__V1__Team *t =
        svc_admin_team(c, &((const struct store_team *)arg)[i]);
    return t ? &t->base : NULL;
}

sw_err svc_admin_list_teams(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp)
{
    const Snipwise__V1__ListTeamsRequest *r = (const void *)req;
    struct store_team *items = NULL;
    size_t n = 0;
    char *next = NULL;
    struct sw_buf why;
    int page_size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc == SW_OK)
        rc = store_team_list(svc_ctx_store(c), page_size, r->page_token, &items,
                             &n, &next, &why);
    if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    else
        rc = svc_ctx_list(c, &snipwise__v1__list_teams_response__descriptor,
                          "teams", n, svc_admin_team_item, items, next, resp);
    store_teams_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_admin_delete_team(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteTeamRequest *r = (const void *)req;
    struct sw_buf why;
    sw_err rc;

    (void)resp; /* an empty DeleteTeamResponse */
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_delete(svc_ctx_store(c), r->team_id, &why);
    if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "no team '%s'", r->team_id);
    else if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_admin_create_api_key(struct svc_ctx *c, const ProtobufCMessage *req,
                                ProtobufCMessage **resp)
{
    const Snipwise__V1__CreateApiKeyRequest *r = (const void *)req;
    Snipwise__V1__CreateApiKeyResponse *out;
    struct store_apikey key;
    char *secret = NULL;
    struct sw_buf why;
    int role;
    sw_err rc;

    memset(&key, 0, sizeof(key));
    sw_buf_init(&why, SVC_WHY_MAX);
    switch (r->role) {
    case SNIPWISE__V1__ROLE__ROLE_ADMIN:
        role = STORE_ROLE_ADMIN;
        if (r->team_id[0] != '\0') {
            rc = svc_ctx_fail_field(c, SW_EINVAL, "team_id",
                                    "must be empty: an admin key belongs to "
                                    "no team");
            goto out;
        }
        break;
    case SNIPWISE__V1__ROLE__ROLE_TEAM:
    case SNIPWISE__V1__ROLE__ROLE_UNSPECIFIED:
    case SNIPWISE__V1__ROLE__ROLE_REP:
        role = r->role == SNIPWISE__V1__ROLE__ROLE_REP ? STORE_ROLE_REP
                                                       : STORE_ROLE_TEAM;
        if (r->team_id[0] == '\0') {
            rc = svc_ctx_fail_field(c, SW_EINVAL, "team_id",
                                    "is required for a team or rep key");
            goto out;
        }
        break;
    default:
        rc = svc_ctx_fail_field(c, SW_EINVAL, "role", "%d is not a Role",
                                (int)r->role);
        goto out;
    }
    if ((role == STORE_ROLE_REP) != (r->rep_email[0] != '\0')) {
        rc = svc_ctx_fail_field(c, SW_EINVAL, "rep_email",
                                role == STORE_ROLE_REP
                                    ? "is required for a rep key (ROLE_REP)"
                                    : "is only for a rep key (ROLE_REP)");
        goto out;
    }
    if (role == STORE_ROLE_REP) {
        rc = svc_repkey_make(c, r->team_id, r->rep_email, r->display_name, &key,
                             &secret);
    } else {
        /* display_name is an optional label; the store wants one. */
        rc = store_key_create(svc_ctx_store(c), r->team_id,
                              r->display_name[0]         ? r->display_name
                              : role == STORE_ROLE_ADMIN ? "admin key"
                                                         : "team key",
                              role, &key, &secret, &why);
        if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
            rc = svc_ctx_fail(c, rc, "no team '%s'", r->team_id);
        else if (rc)
            rc = svc_ctx_fail_buf(c, rc, &why);
    }
    if (rc)
        goto out;
    out = svc_ctx_new(c, &snipwise__v1__create_api_key_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->key = svc_admin_key(c, &key);
    out->api_key = svc_ctx_str(c, secret);
    if (out->key == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    if (secret) {
        memset(secret, 0, strlen(secret));
        sw_free(secret);
    }
    store_apikey_clear(&key);
    sw_buf_free(&why);
    return rc;
}

ProtobufCMessage *svc_admin_key_item(struct svc_ctx *c, size_t i, void *arg)
{
    Snipwise__V1__ApiKey *k =
        svc_admin_key(c, &((const struct store_apikey *)arg)[i]);
    return k ? &k->base : NULL;
}

sw_err svc_admin_list_api_keys(struct svc_ctx *c, const ProtobufCMessage *req,
                               ProtobufCMessage **resp)
{
    const Snipwise__V1__ListApiKeysRequest *r = (const void *)req;
    struct store_apikey *items = NULL;
    size_t n = 0;
    char *next = NULL;
    struct sw_buf why;
    int page_size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &page_size);
    /* An empty team_id lists the admin keys (team ""), as the API says. */
    if (rc == SW_OK)
        rc = store_key_list(svc_ctx_store(c), r->team_id, page_size,
                            r->page_token, &items, &n, &next, &why);
    if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    else
        rc = svc_ctx_list(c, &snipwise__v1__list_api_keys_response__descriptor,
                          "keys", n, svc_admin_key_item, items, next, resp);
    store_apikeys_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_admin_revoke_api_key(struct svc_ctx *c, const ProtobufCMessage *req,
                                ProtobufCMessage **resp)
{
    const Snipwise__V1__RevokeApiKeyRequest *r = (const void *)req;
    Snipwise__V1__ApiKey *out;
    struct store_apikey key;
    struct sw_buf why;
    sw_err rc;

    memset(&key, 0, sizeof(key));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_key_revoke(svc_ctx_store(c), NULL, r->key_id, &key, &why);
    if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "no API key '%s'", r->key_id);
    else if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    if (rc)
        goto out;
    out = svc_admin_key(c, &key);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    store_apikey_clear(&key);
    sw_buf_free(&why);
    return rc;
}
