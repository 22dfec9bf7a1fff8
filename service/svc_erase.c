/* svc_erase: the erasure RPCs of IngestService (svc_erase.h). */
#include "service/svc_erase.h"

#include <assert.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_log.h"
#include "ranker/index.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "store/store_erase.h"
#include "store/store_tenant.h"

#define SVC_ERASE_ADDRESS_MAX 320 /* RFC 5321's limit on a path */

/* svc_erase_summary makes the index forget n's snippets and returns n as an
 * arena ErasureSummary (NULL with *rc set on failure). */
static Snipwise__V1__ErasureSummary *
svc_erase_summary(struct svc_ctx *c, const struct store_erase_counts *n,
                  sw_err *rc)
{
    Snipwise__V1__ErasureSummary *out;
    size_t i;

    /* The store is the truth (searches re-check it); this only makes the
     * index forget at once instead of on the indexer's next pass. */
    for (i = 0; *rc == SW_OK && svc_ctx_ranker(c) && i < n->n_snippets; i++)
        *rc = rank_ranker_forget_snippet(svc_ctx_ranker(c), svc_ctx_team(c),
                                         n->snippet_ids[i]);
    if (*rc)
        return NULL;
    out = svc_ctx_new(c, &snipwise__v1__erasure_summary__descriptor);
    if (out == NULL) {
        *rc = SW_ENOMEM;
        return NULL;
    }
    out->email_count = (int64_t)n->emails;
    out->thread_count = (int64_t)n->threads;
    out->snippet_count = (int64_t)n->n_snippets;
    out->outcome_count = (int64_t)n->outcomes;
    out->content_count = (int64_t)n->contents;
    out->library_bytes = n->library_bytes;
    out->journal_entry_count = (int64_t)n->journal;
    sw_log_info("erasure.done",
                "team=%s emails=%zu threads=%zu snippets=%zu outcomes=%zu "
                "contents=%zu bytes=%lld journal=%zu",
                svc_ctx_team(c), n->emails, n->threads, n->n_snippets,
                n->outcomes, n->contents, (long long)n->library_bytes,
                n->journal);
    return out;
}

static enum store_erase_content_mode svc_erase_mode(protobuf_c_boolean all)
{
    return all ? STORE_ERASE_UNUSED_CONTENT : STORE_ERASE_KEEP_CONTENT;
}

/* svc_erase_answer turns an erasure's result into the call's answer: a
 * message of type d whose field `summary` is the ErasureSummary, or the
 * failure (what names the thing erased for NOT_FOUND, with reason). */
static sw_err svc_erase_answer(struct svc_ctx *c, sw_err rc,
                               struct store_erase_counts *n, const char *reason,
                               const char *what, const char *id,
                               const ProtobufCMessageDescriptor *d,
                               ProtobufCMessage **resp)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, "summary");
    ProtobufCMessage *out = NULL;

    assert(f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL) {
        svc_ctx_reason(c, reason);
        rc = svc_ctx_fail(c, SW_ENOTFOUND, "no such %s: %s", what, id);
    } else if (rc == SW_EABORTED) {
        rc = svc_ctx_fail(c, rc,
                          "%s %s kept gaining mail while it was being "
                          "deleted; what was deleted stays deleted: call "
                          "again",
                          what, id);
    } else if (rc == SW_OK) {
        out = svc_ctx_new(c, d);
        rc = out ? SW_OK : SW_ENOMEM;
    }
    if (rc == SW_OK) {
        *(void **)((char *)out + f->offset) = svc_erase_summary(c, n, &rc);
        *resp = out;
    }
    store_erase_counts_clear(n);
    return rc;
}

sw_err svc_erase_email(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteEmailRequest *r = (const void *)req;
    struct store_erase_counts n;
    sw_err rc;

    if (r->email_id == NULL || r->email_id[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "email_id", "is required");
    rc = store_email_erase(svc_ctx_store(c), svc_ctx_team(c), r->email_id,
                           svc_erase_mode(r->delete_unused_content), &n);
    return svc_erase_answer(c, rc, &n, "EMAIL_NOT_FOUND", "email", r->email_id,
                            &snipwise__v1__delete_email_response__descriptor,
                            resp);
}

sw_err svc_erase_thread(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteThreadRequest *r = (const void *)req;
    struct store_erase_counts n;
    sw_err rc;

    if (r->thread_id == NULL || r->thread_id[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "thread_id", "is required");
    rc = store_thread_erase(svc_ctx_store(c), svc_ctx_team(c), r->thread_id,
                            svc_erase_mode(r->delete_unused_content), &n);
    return svc_erase_answer(
        c, rc, &n, "THREAD_NOT_FOUND", "thread", r->thread_id,
        &snipwise__v1__delete_thread_response__descriptor, resp);
}

/* svc_erase_address_ok: one '@' with text on both sides, no spaces. */
static int svc_erase_address_ok(const char *a)
{
    const char *at = strchr(a, '@');
    size_t n = strlen(a);

    return n > 0 && n <= SVC_ERASE_ADDRESS_MAX && at != NULL && at != a &&
           at[1] != '\0' && strchr(at + 1, '@') == NULL &&
           strpbrk(a, " \t\r\n<>") == NULL;
}

sw_err svc_erase_contact(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    const Snipwise__V1__ForgetContactRequest *r = (const void *)req;
    struct store_erase_counts n;
    bool member = false;
    sw_err rc;

    if (r->email_address == NULL || r->email_address[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "email_address", "is required");
    if (!svc_erase_address_ok(r->email_address))
        return svc_ctx_fail_field(c, SW_EINVAL, "email_address",
                                  "is not an email address");
    rc = store_member_is(svc_ctx_store(c), svc_ctx_team(c), r->email_address,
                         &member);
    if (rc)
        return rc;
    if (member) {
        svc_ctx_reason(c, "CONTACT_IS_TEAM_MEMBER");
        return svc_ctx_fail(c, SW_ESTATE,
                            "%s is a member of the team: remove the member "
                            "first (RemoveTeamMember), then forget the address",
                            r->email_address);
    }
    rc = store_contact_erase(svc_ctx_store(c), svc_ctx_team(c),
                             r->email_address, &n);
    return svc_erase_answer(c, rc, &n, NULL, "contact", r->email_address,
                            &snipwise__v1__forget_contact_response__descriptor,
                            resp);
}
