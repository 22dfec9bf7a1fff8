/* svc_feedback: ListFeedback (svc_feedback.h). One read transaction scans
 * the team's feedback from the page token's record on (store_feedback.h
 * keeps it newest first); the token is the decimal sequence number of the
 * last record returned. */
#include "service/svc_feedback.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "base/sw_util.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "store/store_feedback.h"

#define SVC_FEEDBACK_PAGE_DEFAULT 50

struct svc_feedback_page {
    struct svc_ctx *c;
    const char *rep; /* filter; "" = everyone */
    uint64_t before; /* from the token; 0 = from the newest */
    size_t limit;
    Snipwise__V1__Feedback **items; /* limit slots */
    size_t n;
    uint64_t last_seq;
    int more;
};

static sw_err svc_feedback_cb(const struct store_feedback *f, void *arg)
{
    struct svc_feedback_page *p = arg;
    Snipwise__V1__Feedback *o;

    if (p->rep[0] && strcasecmp(f->rep_email, p->rep) != 0)
        return SW_OK;
    if (p->n == p->limit) {
        p->more = 1;
        return STORE_SCAN_STOP;
    }
    o = svc_ctx_new(p->c, &snipwise__v1__feedback__descriptor);
    if (o == NULL)
        return SW_ENOMEM;
    o->feedback_id = svc_ctx_str(p->c, f->feedback_id);
    o->suggestion_id = svc_ctx_str(p->c, f->suggestion_id);
    o->item_id = svc_ctx_str(p->c, f->item_id);
    o->kind = (Snipwise__V1__FeedbackKind)f->kind;
    o->rep_email = svc_ctx_str(p->c, f->rep_email);
    o->time_unix_ms = f->time_ms;
    o->record_time_unix_ms = f->record_ms;
    p->items[p->n++] = o;
    p->last_seq = f->seq;
    return SW_OK;
}

static SW_MUST_CHECK sw_err svc_feedback_view(store_txn *t, void *arg)
{
    struct svc_feedback_page *p = arg;

    p->n = 0; /* a rerun starts the page afresh */
    p->more = 0;
    return store_feedback_scan_before(t, svc_ctx_team(p->c), p->before,
                                      svc_feedback_cb, p);
}

static ProtobufCMessage *svc_feedback_item(struct svc_ctx *c, size_t i,
                                           void *arg)
{
    (void)c; /* made by svc_feedback_cb in the view */
    return &((struct svc_feedback_page *)arg)->items[i]->base;
}

sw_err svc_feedback_list(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    const Snipwise__V1__ListFeedbackRequest *r = (const void *)req;
    struct svc_feedback_page p;
    char *next = NULL;
    int64_t tok = 0;
    int size = 0;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    rc = svc_ctx_page(c, r->page_size, &size);
    if (rc)
        return rc;
    if (r->page_token[0] && sw_parse_i64(r->page_token, strlen(r->page_token),
                                         1, INT64_MAX, &tok) != SW_OK)
        return svc_ctx_fail_field(c, SW_EINVAL, "page_token",
                                  "is not a token of ListFeedback");
    p.c = c;
    p.rep = r->rep_email;
    p.before = (uint64_t)tok;
    p.limit = size ? (size_t)size : SVC_FEEDBACK_PAGE_DEFAULT;
    p.items = sw_arena_alloc(svc_ctx_arena(c), p.limit * sizeof(*p.items));
    if (p.items == NULL)
        return SW_ENOMEM;
    rc = store_view(svc_ctx_store(c), svc_feedback_view, &p);
    if (rc)
        return rc;
    if (p.more && (next = sw_arena_printf(svc_ctx_arena(c), "%" PRIu64,
                                          p.last_seq)) == NULL)
        return SW_ENOMEM;
    return svc_ctx_list(c, &snipwise__v1__list_feedback_response__descriptor,
                        "feedback", p.n, svc_feedback_item, &p, next, resp);
}
