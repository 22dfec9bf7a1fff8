/* svc_team: TeamService handlers over store_tenant. */
#include "service/svc_team.h"

#include "service/svc_admin.h"
#include "service/svc_content.h"
#include "service/svc_suggest.h"

#include <string.h>

#include "base/sw_mem.h"
#include "snipwise/v1/team.pb-c.h"
#include "store/store_job.h"
#include "store/store_tenant.h"

#define SVC_WHY_MAX 1024

static Snipwise__V1__TeamMember *svc_team_member(struct svc_ctx *c,
                                                 const struct store_member *m)
{
    Snipwise__V1__TeamMember *p =
        svc_ctx_new(c, &snipwise__v1__team_member__descriptor);

    if (p == NULL)
        return NULL;
    p->email = svc_ctx_str(c, m->email);
    p->display_name = svc_ctx_str(c, m->display_name);
    p->create_time_unix_ms = m->create_ms;
    return p;
}

static Snipwise__V1__TeamDomain *svc_team_domain(struct svc_ctx *c,
                                                 const struct store_domain *d)
{
    Snipwise__V1__TeamDomain *p =
        svc_ctx_new(c, &snipwise__v1__team_domain__descriptor);

    if (p == NULL)
        return NULL;
    p->domain = svc_ctx_str(c, d->domain);
    p->create_time_unix_ms = d->create_ms;
    return p;
}

sw_err svc_team_get_my_team(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp)
{
    Snipwise__V1__Team *out;
    struct store_team team;
    struct sw_buf why;
    uint64_t pending = 0;
    sw_err rc;

    (void)req;
    memset(&team, 0, sizeof(team));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_get(svc_ctx_store(c), svc_ctx_team(c), &team, &why);
    if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    out = svc_admin_team(c, &team);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = store_job_team_pending(svc_ctx_store(c), svc_ctx_team(c), &pending);
    if (rc)
        goto out;
    out->pending_extraction_jobs = (int64_t)pending;
    out->content_library = svc_content_usage(c, svc_ctx_team(c), &rc);
    if (rc)
        goto out;
    if (svc_ctx_engine(c)) {
        struct rank_fresh f;
        rc = rank_engine_freshness(svc_ctx_engine(c), svc_ctx_team(c), &f);
        if (rc)
            goto out;
        out->statistics = svc_suggest_stats(c, &f);
        if (out->statistics == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    *resp = &out->base;
out:
    store_team_clear(&team);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_team_add_member(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp)
{
    const Snipwise__V1__AddTeamMemberRequest *r = (const void *)req;
    struct store_member m;
    struct sw_buf why;
    sw_err rc;

    if (r->member == NULL)
        return svc_ctx_fail_field(c, SW_EINVAL, "member", "is required");
    memset(&m, 0, sizeof(m));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_member_add(svc_ctx_store(c), svc_ctx_team(c), r->member->email,
                          r->member->display_name, &m, &why);
    if (rc == SW_EEXIST && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "'%s' is already a member", r->member->email);
    else if (rc)
        rc = svc_ctx_fail_buf_field(c, rc,
                                    strstr(sw_buf_str(&why), "display_name")
                                        ? "member.display_name"
                                        : "member.email",
                                    &why);
    if (rc == SW_OK) {
        Snipwise__V1__TeamMember *out = svc_team_member(c, &m);
        if (out == NULL)
            rc = SW_ENOMEM;
        else
            *resp = &out->base;
    }
    store_member_clear(&m);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_team_remove_member(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp)
{
    const Snipwise__V1__RemoveTeamMemberRequest *r = (const void *)req;
    struct sw_buf why;
    sw_err rc;

    (void)resp;
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_member_remove(svc_ctx_store(c), svc_ctx_team(c), r->email, &why);
    if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "'%s' is not a member", r->email);
    else if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    sw_buf_free(&why);
    return rc;
}

static ProtobufCMessage *svc_team_member_item(struct svc_ctx *c, size_t i,
                                              void *arg)
{
    Snipwise__V1__TeamMember *m =
        svc_team_member(c, &((const struct store_member *)arg)[i]);
    return m ? &m->base : NULL;
}

sw_err svc_team_list_members(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp)
{
    const Snipwise__V1__ListTeamMembersRequest *r = (const void *)req;
    struct store_member *items = NULL;
    size_t n = 0;
    char *next = NULL;
    struct sw_buf why;
    int page_size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc == SW_OK)
        rc = store_member_list(svc_ctx_store(c), svc_ctx_team(c), page_size,
                               r->page_token, &items, &n, &next, &why);
    if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    else
        rc = svc_ctx_list(
            c, &snipwise__v1__list_team_members_response__descriptor, "members",
            n, svc_team_member_item, items, next, resp);
    store_members_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_team_add_domain(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp)
{
    const Snipwise__V1__AddTeamDomainRequest *r = (const void *)req;
    struct store_domain d;
    struct sw_buf why;
    sw_err rc;

    memset(&d, 0, sizeof(d));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_domain_add(svc_ctx_store(c), svc_ctx_team(c), r->domain, &d,
                          &why);
    if (rc == SW_EEXIST && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "'%s' is already a team domain", r->domain);
    else if (rc)
        rc = svc_ctx_fail_buf_field(c, rc, "domain", &why);
    if (rc == SW_OK) {
        Snipwise__V1__TeamDomain *out = svc_team_domain(c, &d);
        if (out == NULL)
            rc = SW_ENOMEM;
        else
            *resp = &out->base;
    }
    store_domain_clear(&d);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_team_remove_domain(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp)
{
    const Snipwise__V1__RemoveTeamDomainRequest *r = (const void *)req;
    struct sw_buf why;
    sw_err rc;

    (void)resp;
    sw_buf_init(&why, SVC_WHY_MAX);
    rc =
        store_domain_remove(svc_ctx_store(c), svc_ctx_team(c), r->domain, &why);
    if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "'%s' is not a team domain", r->domain);
    else if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    sw_buf_free(&why);
    return rc;
}

static ProtobufCMessage *svc_team_domain_item(struct svc_ctx *c, size_t i,
                                              void *arg)
{
    Snipwise__V1__TeamDomain *m =
        svc_team_domain(c, &((const struct store_domain *)arg)[i]);
    return m ? &m->base : NULL;
}

sw_err svc_team_list_domains(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp)
{
    const Snipwise__V1__ListTeamDomainsRequest *r = (const void *)req;
    struct store_domain *items = NULL;
    size_t n = 0;
    char *next = NULL;
    struct sw_buf why;
    int page_size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc == SW_OK)
        rc = store_domain_list(svc_ctx_store(c), svc_ctx_team(c), page_size,
                               r->page_token, &items, &n, &next, &why);
    if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    else
        rc = svc_ctx_list(
            c, &snipwise__v1__list_team_domains_response__descriptor, "domains",
            n, svc_team_domain_item, items, next, resp);
    store_domains_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}
