/* svc_outcome: OutcomeService handlers over store_outcome and
 * store_feedback. */
#include "service/svc_outcome.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ranker/suggest.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "store/store_erase.h"
#include "store/store_feedback.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"

#define SVC_OUTCOME_KEY_MAX 400
#define SVC_OUTCOME_NOTE_MAX 4096
#define SVC_OUTCOME_WHY_MAX 1024

/* Deal values up to a quadrillion units (their thousandths fit int64). */
#define SVC_OUTCOME_UNITS_MAX 1000000000000000LL

/* Money.amount is deprecated (units and nanos replace it) but still read
 * from older clients and filled for them: these two are its only uses. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static double svc_money_amount(const Snipwise__V1__Money *m)
{
    return m->amount;
}

static void svc_money_set_amount(Snipwise__V1__Money *m, double v)
{
    m->amount = v;
}
#pragma GCC diagnostic pop

/* svc_outcome_units reads a checked deal value as units and nanos (from
 * the deprecated amount when both are 0, rounded to the nearest nano). */
static void svc_outcome_units(const Snipwise__V1__Money *m, int64_t *units,
                              int32_t *nanos)
{
    double whole;

    if (m->units != 0 || m->nanos != 0 || svc_money_amount(m) == 0) {
        *units = m->units;
        *nanos = m->nanos;
        return;
    }
    whole = floor(svc_money_amount(m));
    *units = (int64_t)whole;
    *nanos = (int32_t)llround((svc_money_amount(m) - whole) * 1e9);
    if (*nanos > 999999999) { /* rounded up to the next unit */
        *units += 1;
        *nanos = 0;
    }
}
/* The write of one RecordOutcome: the thread is resolved and the outcome
 * stored in one transaction, so a thread cannot vanish in between. */
struct svc_outcome_put {
    const char *team;
    const Snipwise__V1__RecordOutcomeRequest *r;
    struct svc_outcome_result *res;
    int missing; /* the thread or email does not exist */
};

void svc_outcome_result_clear(struct svc_outcome_result *res)
{
    if (res == NULL)
        return;
    sw_free(res->outcome_id);
    sw_free(res->thread_id);
    res->outcome_id = res->thread_id = NULL;
    res->duplicate = 0;
}

/* svc_outcome_thread resolves the request's thread reference. */
static sw_err svc_outcome_thread(store_txn *t, struct svc_outcome_put *p)
{
    const Snipwise__V1__RecordOutcomeRequest *r = p->r;
    struct store_thread th;
    struct store_email em;
    struct sw_buf k;
    char *eid = NULL;
    sw_err rc;

    memset(&th, 0, sizeof(th));
    memset(&em, 0, sizeof(em));
    sw_buf_init(&k, 1024);
    if (r->thread_ref_case ==
        SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF_THREAD_ID) {
        rc = strlen(r->thread_id) > 256
                 ? SW_ENOTFOUND
                 : store_thread_get_txn(t, p->team, r->thread_id, &th);
        if (rc == SW_OK) {
            p->res->thread_id = sw_strdup(th.thread_id);
            rc = p->res->thread_id ? SW_OK : SW_ENOMEM;
        }
    } else {
        rc = store_mail_msgid_key(&k, r->message_id);
        if (rc == SW_EINVAL)
            rc = SW_ENOTFOUND;
        if (rc == SW_OK)
            rc = store_email_lookup(t, p->team, sw_buf_str(&k), sw_buf_len(&k),
                                    &eid);
        if (rc == SW_OK)
            rc = store_email_get_txn(t, p->team, eid, &em);
        if (rc == SW_OK) {
            p->res->thread_id = sw_strdup(em.thread_id);
            rc = p->res->thread_id ? SW_OK : SW_ENOMEM;
        }
    }
    if (rc == SW_ENOTFOUND)
        p->missing = 1;
    sw_free(eid);
    sw_buf_free(&k);
    store_thread_clear(&th);
    store_email_clear(&em);
    return rc;
}

static sw_err svc_outcome_put_txn(store_txn *t, void *arg)
{
    struct svc_outcome_put *p = arg;
    const Snipwise__V1__RecordOutcomeRequest *r = p->r;
    struct store_outcome prev, o;
    sw_err rc;

    svc_outcome_result_clear(p->res);
    p->missing = 0;
    memset(&prev, 0, sizeof(prev));
    /* A repeat returns the first result whatever its other fields say. */
    rc = store_outcome_by_key(t, p->team, r->idempotency_key, &prev);
    if (rc == SW_OK) {
        p->res->outcome_id = prev.outcome_id;
        p->res->thread_id = prev.thread_id;
        prev.outcome_id = prev.thread_id = NULL;
        store_outcome_clear(&prev);
        p->res->duplicate = 1;
        return SW_OK;
    }
    if (rc != SW_ENOTFOUND)
        return rc;
    rc = svc_outcome_thread(t, p);
    if (rc)
        return rc;
    memset(&o, 0, sizeof(o));
    o.thread_id = p->res->thread_id;
    o.kind = (int)r->kind;
    o.occur_ms = r->occur_time_unix_ms;
    o.source = STORE_OUTCOME_RECORDED;
    o.idem_key = r->idempotency_key;
    o.note = r->note;
    if (r->deal_value) {
        svc_outcome_units(r->deal_value, &o.deal_units, &o.deal_nanos);
        o.deal_currency = r->deal_value->currency_code;
    }
    return store_outcome_put(t, p->team, &o, &p->res->duplicate,
                             &p->res->outcome_id);
}

/* svc_outcome_why writes a reason into why and returns SW_EINVAL. */
static sw_err svc_outcome_why(struct sw_buf *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static sw_err svc_outcome_why(struct sw_buf *why, const char *fmt, ...)
{
    va_list ap;

    sw_buf_reset(why);
    va_start(ap, fmt);
    /* A reason that does not fit leaves the default message; the error
     * stays SW_EINVAL. */
    if (sw_buf_vprintf(why, fmt, ap) != SW_OK)
        sw_buf_reset(why);
    va_end(ap);
    return SW_EINVAL;
}

/* svc_outcome_money checks a deal value: finite, not negative, an ISO 4217
 * code of three capital letters. */
static sw_err svc_outcome_money(const Snipwise__V1__RecordOutcomeRequest *r,
                                struct sw_buf *why)
{
    const Snipwise__V1__Money *m = r->deal_value;
    const char *cc;

    if (m == NULL)
        return SW_OK;
    if (r->kind != SNIPWISE__V1__OUTCOME_KIND__OUTCOME_KIND_OPPORTUNITY_WON &&
        r->kind != SNIPWISE__V1__OUTCOME_KIND__OUTCOME_KIND_OPPORTUNITY_LOST)
        return svc_outcome_why(why, "deal_value is only for OPPORTUNITY_WON "
                                    "and OPPORTUNITY_LOST");
    if (m->units == 0 && m->nanos == 0 && svc_money_amount(m) != 0 &&
        (!isfinite(svc_money_amount(m)) || svc_money_amount(m) < 0 ||
         svc_money_amount(m) > (double)SVC_OUTCOME_UNITS_MAX))
        return svc_outcome_why(why, "deal_value.amount must be a finite "
                                    "amount from 0 to 1e15 (better: "
                                    "deal_value.units and nanos)");
    if ((m->units != 0 || m->nanos != 0) && svc_money_amount(m) != 0)
        return svc_outcome_why(why, "deal_value: give units and nanos, not "
                                    "the deprecated amount as well");
    if (m->units < 0 || m->units > SVC_OUTCOME_UNITS_MAX)
        return svc_outcome_why(why, "deal_value.units must be from 0 to "
                                    "1e15");
    if (m->nanos < 0 || m->nanos > 999999999)
        return svc_outcome_why(why, "deal_value.nanos must be from 0 to "
                                    "999999999");
    cc = m->currency_code;
    if (strlen(cc) != 3 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' ||
        cc[1] > 'Z' || cc[2] < 'A' || cc[2] > 'Z')
        return svc_outcome_why(why, "deal_value.currency_code must be an ISO "
                                    "4217 code such as \"EUR\"");
    return SW_OK;
}

/* svc_outcome_check applies RecordOutcome's field rules to r; SW_EINVAL
 * with the reason, fit for an API caller, in why. */
static sw_err svc_outcome_check(const Snipwise__V1__RecordOutcomeRequest *r,
                                struct sw_buf *why)
{
    if (r->thread_ref_case ==
            SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF__NOT_SET ||
        (r->thread_ref_case ==
             SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF_THREAD_ID &&
         r->thread_id[0] == '\0') ||
        (r->thread_ref_case ==
             SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF_MESSAGE_ID &&
         r->message_id[0] == '\0'))
        return svc_outcome_why(why, "thread_id or message_id is required");
    if ((int)r->kind < 1 || (int)r->kind > 9)
        return svc_outcome_why(why,
                               "kind is required (an OutcomeKind from 1 to 9)");
    if (r->idempotency_key[0] == '\0')
        return svc_outcome_why(why, "idempotency_key is required");
    if (strlen(r->idempotency_key) > SVC_OUTCOME_KEY_MAX)
        return svc_outcome_why(why, "idempotency_key is longer than %d bytes",
                               SVC_OUTCOME_KEY_MAX);
    if (strlen(r->note) > SVC_OUTCOME_NOTE_MAX)
        return svc_outcome_why(why, "note is longer than %d bytes",
                               SVC_OUTCOME_NOTE_MAX);
    if (r->occur_time_unix_ms < 0)
        return svc_outcome_why(why, "occur_time_unix_ms must not be negative");
    return svc_outcome_money(r, why);
}

sw_err svc_outcome_store(store *st, const char *team_id,
                         const Snipwise__V1__RecordOutcomeRequest *r,
                         struct svc_outcome_result *res, struct sw_buf *why)
{
    struct svc_outcome_put p;
    sw_err rc;

    memset(res, 0, sizeof(*res));
    sw_buf_reset(why);
    rc = svc_outcome_check(r, why);
    if (rc)
        return rc;
    memset(&p, 0, sizeof(p));
    p.team = team_id;
    p.r = r;
    p.res = res;
    rc = store_update(st, svc_outcome_put_txn, &p);
    if (rc == SW_ENOTFOUND && p.missing) {
        int by_id = r->thread_ref_case ==
                    SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF_THREAD_ID;
        sw_buf_reset(why);
        if (sw_buf_printf(why, "no %s %s in this team",
                          by_id ? "thread" : "email with Message-ID",
                          by_id ? r->thread_id : r->message_id) != SW_OK)
            sw_buf_reset(why); /* too long to quote: the default message */
    }
    if (rc)
        svc_outcome_result_clear(res);
    return rc;
}

sw_err svc_outcome_record(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__RecordOutcomeRequest *r =
        (const Snipwise__V1__RecordOutcomeRequest *)req;
    Snipwise__V1__RecordOutcomeResponse *out;
    struct svc_outcome_result res;
    struct sw_buf why;
    sw_err rc;

    sw_buf_init(&why, SVC_OUTCOME_WHY_MAX);
    rc = svc_outcome_store(svc_ctx_store(c), svc_ctx_team(c), r, &res, &why);
    if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why); /* store errors leave why empty */
        goto out;
    }
    out = svc_ctx_new(c, &snipwise__v1__record_outcome_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->outcome_id = svc_ctx_str(c, res.outcome_id);
    out->thread_id = svc_ctx_str(c, res.thread_id);
    out->duplicate = res.duplicate ? 1 : 0;
    if (svc_ctx_oom(c)) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    svc_outcome_result_clear(&res);
    sw_buf_free(&why);
    return rc;
}

/* svc_feedback_item checks that the team was given suggestion sid and
 * item_id as one of its items, and parses the item into *out. The ids
 * carry a tag that proves it (ranker/suggest.h), so nothing is looked up
 * and Suggest stays a read. NOT_FOUND with reason SUGGESTION_NOT_FOUND or
 * SUGGESTION_ITEM_NOT_FOUND when not. */
static sw_err svc_feedback_item(struct svc_ctx *c, const char *sid,
                                const char *item_id, struct rank_item *out)
{
    rank_engine *e = svc_ctx_engine(c);
    sw_err rc;

    /* Without an engine this server made no suggestion at all. */
    rc = e ? rank_suggestion_check(e, svc_ctx_team(c), sid) : SW_ENOTFOUND;
    if (rc == SW_ENOTFOUND) {
        svc_ctx_reason(c, "SUGGESTION_NOT_FOUND");
        svc_ctx_meta(c, "suggestion_id", "%.64s", sid);
        return svc_ctx_fail(c, rc, "no suggestion %.64s was made to this team",
                            sid);
    }
    if (rc == SW_OK)
        rc = rank_item_check(e, svc_ctx_team(c), sid, item_id, out);
    if (rc == SW_ENOTFOUND) {
        svc_ctx_reason(c, "SUGGESTION_ITEM_NOT_FOUND");
        svc_ctx_meta(c, "suggestion_id", "%.64s", sid);
        svc_ctx_meta(c, "item_id", "%.128s", item_id);
        return svc_ctx_fail(c, rc, "%.128s is not an item of suggestion %.64s",
                            item_id, sid);
    }
    return rc;
}

struct svc_feedback_put {
    const char *team;
    const struct store_feedback *f;
    char *id;
    int duplicate;
};

static sw_err svc_feedback_put_txn(store_txn *t, void *arg)
{
    struct svc_feedback_put *p = arg;

    sw_free(p->id);
    p->id = NULL;
    p->duplicate = 0;
    return store_feedback_put(t, p->team, p->f, &p->duplicate, &p->id);
}

sw_err svc_outcome_feedback(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp)
{
    const Snipwise__V1__RecordFeedbackRequest *r =
        (const Snipwise__V1__RecordFeedbackRequest *)req;
    Snipwise__V1__RecordFeedbackResponse *out;
    const char *rep = NULL;
    struct rank_item item;
    struct store_feedback f;
    struct svc_feedback_put p;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    memset(&f, 0, sizeof(f));
    /* Every bad field is named (one violation each). */
    rc = SW_OK;
    if (r->suggestion_id[0] == '\0')
        rc = svc_ctx_fail_field(c, SW_EINVAL, "suggestion_id", "is required");
    if (r->item_id[0] == '\0')
        rc = svc_ctx_fail_field(c, SW_EINVAL, "item_id", "is required");
    if ((int)r->kind < 1 || (int)r->kind > 6)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "kind",
                                "is required (a FeedbackKind from 1 to 6)");
    if (r->idempotency_key[0] == '\0')
        rc = svc_ctx_fail_field(c, SW_EINVAL, "idempotency_key", "is required");
    else if (strlen(r->idempotency_key) > SVC_OUTCOME_KEY_MAX)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "idempotency_key",
                                "is longer than %d bytes", SVC_OUTCOME_KEY_MAX);
    if (strlen(r->rep_email) > 320)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "rep_email",
                                "is longer than 320 bytes");
    if (r->time_unix_ms < 0)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "time_unix_ms",
                                "must not be negative");
    if (rc)
        return rc;
    /* Feedback with a rep key is tied to the key's rep. */
    rc = svc_ctx_rep_identity(c, "rep_email", r->rep_email, &rep);
    if (rc)
        return rc;
    rc = svc_feedback_item(c, r->suggestion_id, r->item_id, &item);
    if (rc)
        return rc;
    f.suggestion_id = r->suggestion_id;
    f.item_id = r->item_id;
    f.target_kind = item.kind;
    f.target_id = item.target_id;
    f.kind = (int)r->kind;
    f.rep_email = (char *)rep;
    f.time_ms = r->time_unix_ms;
    f.idem_key = r->idempotency_key;
    p.team = svc_ctx_team(c);
    p.f = &f;
    rc = store_update(svc_ctx_store(c), svc_feedback_put_txn, &p);
    if (rc)
        goto out;
    out = svc_ctx_new(c, &snipwise__v1__record_feedback_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->feedback_id = svc_ctx_str(c, p.id);
    out->duplicate = p.duplicate ? 1 : 0;
    if (svc_ctx_oom(c)) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    sw_free(p.id);
    return rc;
}

static ProtobufCMessage *svc_outcome_item(struct svc_ctx *c, size_t i,
                                          void *arg)
{
    const struct store_outcome *it = &((const struct store_outcome *)arg)[i];
    Snipwise__V1__Outcome *o =
        svc_ctx_new(c, &snipwise__v1__outcome__descriptor);

    if (o == NULL)
        return NULL;
    o->outcome_id = svc_ctx_str(c, it->outcome_id);
    o->thread_id = svc_ctx_str(c, it->thread_id);
    o->kind = (Snipwise__V1__OutcomeKind)it->kind;
    o->occur_time_unix_ms = it->occur_ms;
    o->record_time_unix_ms = it->record_ms;
    o->source = (Snipwise__V1__OutcomeSource)it->source;
    o->email_id = svc_ctx_str(c, it->email_id);
    o->note = svc_ctx_str(c, it->note);
    if (it->deal_currency[0]) {
        o->deal_value = svc_ctx_new(c, &snipwise__v1__money__descriptor);
        if (o->deal_value == NULL)
            return NULL;
        o->deal_value->units = it->deal_units;
        o->deal_value->nanos = it->deal_nanos;
        svc_money_set_amount(o->deal_value, (double)it->deal_units +
                                                (double)it->deal_nanos / 1e9);
        o->deal_value->currency_code = svc_ctx_str(c, it->deal_currency);
    }
    return &o->base;
}

sw_err svc_outcome_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__ListOutcomesRequest *r =
        (const Snipwise__V1__ListOutcomesRequest *)req;
    struct store_outcome *items = NULL;
    struct sw_buf why;
    size_t n = 0;
    char *next = NULL;
    int size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_OUTCOME_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &size);
    if (rc == SW_OK)
        rc = store_outcome_list(svc_ctx_store(c), svc_ctx_team(c), r->thread_id,
                                size, r->page_token, &items, &n, &next, &why);
    if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    else
        rc = svc_ctx_list(c, &snipwise__v1__list_outcomes_response__descriptor,
                          "outcomes", n, svc_outcome_item, items, next, resp);
    store_outcomes_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

sw_err svc_outcome_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteOutcomeRequest *r = (const void *)req;
    sw_err rc;

    (void)resp; /* an empty DeleteOutcomeResponse */
    if (r->outcome_id == NULL || r->outcome_id[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "outcome_id", "is required");
    rc = store_outcome_erase(svc_ctx_store(c), svc_ctx_team(c), r->outcome_id);
    if (rc == SW_ENOTFOUND) {
        svc_ctx_reason(c, "OUTCOME_NOT_FOUND");
        return svc_ctx_fail(c, rc, "no outcome %.64s in this team",
                            r->outcome_id);
    }
    return rc;
}
