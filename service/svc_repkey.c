/* svc_repkey: rep keys (svc_repkey.h). The store checks the email, the
 * membership and the key's role in the same transaction as the write; this
 * file turns its refusals into statuses with their details. */
#include "service/svc_repkey.h"

#include <string.h>

#include "base/sw_mem.h"
#include "service/svc_admin.h"
#include "snipwise/v1/team.pb-c.h"
#include "store/store_tenant.h"

#define SVC_REPKEY_WHY_MAX 1024

sw_err svc_repkey_make(struct svc_ctx *c, const char *team_id,
                       const char *rep_email, const char *display_name,
                       struct store_apikey *key, char **secret)
{
    struct sw_buf why;
    sw_err rc;

    sw_buf_init(&why, SVC_REPKEY_WHY_MAX);
    rc = store_key_create_rep(svc_ctx_store(c), team_id, rep_email,
                              display_name[0] ? display_name : "rep key", key,
                              secret, &why);
    if (rc == SW_ESTATE) {
        svc_ctx_reason(c, "REP_NOT_A_MEMBER");
        rc = svc_ctx_fail_field(c, rc, "rep_email",
                                "%s is not a member of team %s: add it with "
                                "AddTeamMember first",
                                rep_email, team_id);
    } else if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0) {
        rc = svc_ctx_fail(c, rc, "no team '%s'", team_id);
    } else if (rc == SW_EINVAL && sw_buf_len(&why) > 0) {
        rc = svc_ctx_fail_buf_field(
            c, rc,
            strncmp(sw_buf_str(&why), "display_name", 12) == 0 ? "display_name"
            : strncmp(sw_buf_str(&why), "team_id", 7) == 0     ? "team_id"
                                                               : "rep_email",
            &why);
    } else if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why);
    }
    sw_buf_free(&why);
    return rc;
}

sw_err svc_repkey_create(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    const Snipwise__V1__CreateRepKeyRequest *r = (const void *)req;
    Snipwise__V1__CreateRepKeyResponse *out;
    struct store_apikey key;
    char *secret = NULL;
    sw_err rc;

    memset(&key, 0, sizeof(key));
    if (r->rep_email[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "rep_email",
                                  "is required: the member the key acts as");
    rc = svc_repkey_make(c, svc_ctx_team(c), r->rep_email, r->display_name,
                         &key, &secret);
    if (rc)
        goto out;
    out = svc_ctx_new(c, &snipwise__v1__create_rep_key_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->key = svc_admin_key(c, &key);
    out->api_key = svc_ctx_str(c, secret);
    if (out->key == NULL || svc_ctx_oom(c)) {
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
    return rc;
}

sw_err svc_repkey_list(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__ListRepKeysRequest *r = (const void *)req;
    struct store_apikey *items = NULL;
    size_t n = 0;
    char *next = NULL;
    struct sw_buf why;
    int page_size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_REPKEY_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc)
        goto out;
    rc = store_key_list_role(svc_ctx_store(c), svc_ctx_team(c), STORE_ROLE_REP,
                             page_size, r->page_token, &items, &n, &next, &why);
    if (rc) {
        rc = svc_ctx_fail_buf_field(c, rc, "page_token", &why);
        goto out;
    }
    rc = svc_ctx_list(c, &snipwise__v1__list_rep_keys_response__descriptor,
                      "keys", n, svc_admin_key_item, items, next, resp);
out:
    store_apikeys_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_repkey_revoke(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    const Snipwise__V1__RevokeRepKeyRequest *r = (const void *)req;
    Snipwise__V1__ApiKey *out;
    struct store_apikey key;
    struct sw_buf why;
    sw_err rc;

    memset(&key, 0, sizeof(key));
    sw_buf_init(&why, SVC_REPKEY_WHY_MAX);
    /* Scoped to the caller's team and to rep keys: a team key cannot
     * revoke itself or its team's other admin keys here. */
    rc = store_key_revoke_role(svc_ctx_store(c), svc_ctx_team(c),
                               STORE_ROLE_REP, r->key_id, &key, &why);
    if (rc == SW_ESTATE) {
        svc_ctx_reason(c, "NOT_A_REP_KEY");
        rc = svc_ctx_fail_field(c, rc, "key_id",
                                "%s is not a rep key: only the server admin "
                                "revokes a team key (AdminService)",
                                r->key_id);
    } else if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0) {
        rc = svc_ctx_fail(c, rc, "no API key '%s' in this team", r->key_id);
    } else if (rc) {
        rc = svc_ctx_fail_buf_field(c, rc, "key_id", &why);
    }
    if (rc)
        goto out;
    out = svc_admin_key(c, &key);
    if (out == NULL || svc_ctx_oom(c)) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    store_apikey_clear(&key);
    sw_buf_free(&why);
    return rc;
}
