/* svc_ingest: the ingest and mail-reading RPCs over ingest/pipeline.h and
 * store/store_mail.h, and the mail part of `snipd check`. */
#include "service/svc_ingest.h"

#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ingest/pipeline.h"
#include "service/svc_stats.h"
#include "service/svc_store.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "store/store_mail.h"

#define SVC_WHY_MAX 1024
#define SVC_RESULTS_MAX 1000 /* IngestEmailsResponse.results bound */
#define SVC_THREAD_EMAILS_MAX 500
#define SVC_WINDOW 32 /* stream items parsed ahead of their commit */

/* svc_ingest_pipeline gives the server's pipeline (made by snipd before the
 * server starts, see svc_ctx_ingest). */
static SW_MUST_CHECK sw_err svc_ingest_pipeline(struct svc_ctx *c,
                                                ingest_pipeline **out)
{
    *out = svc_ctx_ingest(c);
    if (*out == NULL)
        return svc_ctx_fail(c, SW_EUNIMPL,
                            "this server runs without email ingest");
    return SW_OK;
}

void svc_ingest_close(struct ingest_pipeline **p)
{
    struct ingest_totals t;

    if (p == NULL || *p == NULL)
        return;
    ingest_pipeline_totals(*p, &t);
    sw_log_info("ingest.totals",
                "calls=%llu new=%llu duplicate=%llu rejected=%llu "
                "commits=%llu parse_us=%lld prepare_us=%lld queue_us=%lld "
                "commit_us=%lld",
                (unsigned long long)t.calls, (unsigned long long)t.new_emails,
                (unsigned long long)t.duplicates,
                (unsigned long long)t.rejected, (unsigned long long)t.commits,
                (long long)t.parse_us, (long long)t.prepare_us,
                (long long)t.queue_us, (long long)t.commit_us);
    ingest_pipeline_close(p);
}

/* --- Ingest ----------------------------------------------------------------
 */

static int svc_ingest_rejectable(sw_err rc)
{
    return rc == SW_EINVAL || rc == SW_EPARSE || rc == SW_ETOOBIG;
}

/* svc_ingest_begin starts one request through the pipeline. The
 * ParsedEmail is viewed, not copied: its strings live in the call's arena. */
static SW_MUST_CHECK sw_err
svc_ingest_begin(struct svc_ctx *c, ingest_pipeline *p,
                 const Snipwise__V1__IngestEmailRequest *r, ingest_ticket **t,
                 struct sw_buf *why)
{
    struct ingest_request ir;
    struct ingest_fields f;
    struct ingest_file *files = NULL;
    size_t i;

    memset(&ir, 0, sizeof(ir));
    ir.direction = (int)r->direction;
    if (r->source_case == SNIPWISE__V1__INGEST_EMAIL_REQUEST__SOURCE_RAW_MIME) {
        ir.raw = r->raw_mime.data ? (const void *)r->raw_mime.data : "";
        ir.raw_len = r->raw_mime.len;
    } else if (r->source_case ==
                   SNIPWISE__V1__INGEST_EMAIL_REQUEST__SOURCE_PARSED &&
               r->parsed) {
        const Snipwise__V1__ParsedEmail *pe = r->parsed;
        memset(&f, 0, sizeof(f));
        f.message_id = pe->message_id;
        f.in_reply_to = pe->in_reply_to;
        f.references = pe->references;
        f.n_references = pe->n_references;
        f.subject = pe->subject;
        f.from = pe->from_address;
        f.to = pe->to_addresses;
        f.n_to = pe->n_to_addresses;
        f.cc = pe->cc_addresses;
        f.n_cc = pe->n_cc_addresses;
        f.sent_ms = pe->sent_time_unix_ms;
        f.text_body = pe->text_body;
        f.html_body = pe->html_body;
        if (pe->n_attachments) {
            files = sw_arena_alloc(svc_ctx_arena(c),
                                   pe->n_attachments * sizeof(*files));
            if (files == NULL)
                return SW_ENOMEM;
            for (i = 0; i < pe->n_attachments; i++) {
                files[i].filename = pe->attachments[i]->filename;
                files[i].content_type = pe->attachments[i]->content_type;
                files[i].data = pe->attachments[i]->data.data;
                files[i].len = pe->attachments[i]->data.len;
            }
        }
        f.files = files;
        f.n_files = pe->n_attachments;
        ir.fields = &f;
    } else {
        sw_buf_reset(why);
        if (sw_buf_addstr(why, "one of raw_mime and parsed is required"))
            return SW_ENOMEM;
        return SW_EINVAL;
    }
    return ingest_email_begin(p, svc_ctx_team(c), &ir, t, why);
}

/* svc_ingest_one runs one request through the pipeline. */
static SW_MUST_CHECK sw_err
svc_ingest_one(struct svc_ctx *c, ingest_pipeline *p,
               const Snipwise__V1__IngestEmailRequest *r,
               struct ingest_result *res, struct sw_buf *why)
{
    ingest_ticket *t = NULL;
    sw_err rc = svc_ingest_begin(c, p, r, &t, why);

    if (rc == SW_OK)
        rc = ingest_email_end(&t, res, NULL, why);
    return rc;
}

static char **svc_strv(struct svc_ctx *c, char *const *v, size_t n)
{
    char **out;
    size_t i;

    out = sw_arena_alloc(svc_ctx_arena(c), (n ? n : 1) * sizeof(char *));
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        out[i] = svc_ctx_str(c, v[i]);
    return out;
}

static Snipwise__V1__ContentRef *svc_content_ref(struct svc_ctx *c,
                                                 const char *id,
                                                 const char *filename,
                                                 int status, int state)
{
    Snipwise__V1__ContentRef *cr =
        svc_ctx_new(c, &snipwise__v1__content_ref__descriptor);

    if (cr == NULL)
        return NULL;
    cr->content_id = svc_ctx_str(c, id);
    cr->filename = svc_ctx_str(c, filename);
    cr->status = (Snipwise__V1__IngestStatus)status;
    cr->extraction_state = (Snipwise__V1__ExtractionState)state;
    return cr;
}

sw_err svc_ingest_email(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__IngestEmailRequest *r = (const void *)req;
    Snipwise__V1__IngestEmailResponse *out;
    struct ingest_result res;
    ingest_pipeline *p = NULL;
    struct sw_buf why;
    size_t i;
    sw_err rc;

    memset(&res, 0, sizeof(res));
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = svc_ingest_pipeline(c, &p);
    if (rc)
        goto out;
    rc = svc_ingest_one(c, p, r, &res, &why);
    if (rc) {
        if (rc != SW_ENOSPACE) /* svc_finish tells a full store's cause */
            rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    out = svc_ctx_new(c, &snipwise__v1__ingest_email_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->email_id = svc_ctx_str(c, res.email_id);
    out->thread_id = svc_ctx_str(c, res.thread_id);
    out->status = (Snipwise__V1__IngestStatus)res.status;
    out->direction = (Snipwise__V1__Direction)res.direction;
    out->client_ref = svc_ctx_str(c, r->client_ref);
    out->contents =
        sw_arena_alloc(svc_ctx_arena(c), (res.n_contents ? res.n_contents : 1) *
                                             sizeof(*out->contents));
    out->defects = svc_strv(c, res.defects, res.n_defects);
    if (out->contents == NULL || out->defects == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->n_defects = res.n_defects;
    for (i = 0; i < res.n_contents; i++) {
        out->contents[i] = svc_content_ref(
            c, res.contents[i].content_id, res.contents[i].filename,
            res.contents[i].status, res.contents[i].state);
        if (out->contents[i] == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        out->n_contents++;
    }
    rc = svc_ctx_oom(c) ? SW_ENOMEM : SW_OK;
    if (rc == SW_OK)
        *resp = &out->base;
out:
    ingest_result_clear(&res);
    sw_buf_free(&why);
    return rc;
}

/* svc_ingest_item records one stream item that was rejected or had
 * defects, within the bound. */
static SW_MUST_CHECK sw_err
svc_ingest_item(struct svc_ctx *c, Snipwise__V1__IngestEmailsResponse *out,
                int64_t index, const char *client_ref, int status,
                const struct ingest_result *res, const char *reason)
{
    Snipwise__V1__IngestItemResult *it;

    if (out->n_results >= SVC_RESULTS_MAX) {
        out->results_omitted++;
        return SW_OK;
    }
    it = svc_ctx_new(c, &snipwise__v1__ingest_item_result__descriptor);
    if (it == NULL)
        return SW_ENOMEM;
    it->index = index;
    it->client_ref = svc_ctx_str(c, client_ref);
    it->status = (Snipwise__V1__IngestStatus)status;
    if (res) {
        it->email_id = svc_ctx_str(c, res->email_id);
        it->thread_id = svc_ctx_str(c, res->thread_id);
        it->defects = svc_strv(c, res->defects, res->n_defects);
        if (it->defects == NULL)
            return SW_ENOMEM;
        it->n_defects = res->n_defects;
    }
    it->reason = svc_ctx_str(c, reason);
    out->results[out->n_results++] = it;
    return svc_ctx_oom(c) ? SW_ENOMEM : SW_OK;
}

/* A stream item in flight: begun (ticket) or already rejected. */
struct svc_pending {
    ingest_ticket *t;
    int64_t index;
    const char *client_ref; /* in the call's arena */
    sw_err rc;              /* the begin's error when t is NULL */
    const char *reason;     /* in the call's arena, or static */
};

struct svc_stream {
    struct svc_ctx *c;
    Snipwise__V1__IngestEmailsResponse *out;
    struct svc_pending win[SVC_WINDOW];
    size_t head, n;
    /* Items that failed (not stored) and that were rejected: when the call
     * fails, its error says which (svc_stream_account). */
    struct sw_buf failed, rejected;
};

/* svc_stream_note appends item index to a comma-separated list, which its
 * buffer bounds (a client reads the counts to see whether it is whole). */
static void svc_stream_note(struct sw_buf *b, int64_t index)
{
    if (sw_buf_printf(b, "%s%lld", sw_buf_len(b) ? "," : "",
                      (long long)index) != SW_OK) {
        /* over the bound: the counts still tell how many */
    }
}

/* svc_stream_account puts, in the error of a stream that ends early, what
 * became of its items: received, stored new or duplicate, rejected and
 * failed, with the indexes of the last two; every item received and in
 * neither list was stored. */
static void svc_stream_account(struct svc_stream *s, int64_t received)
{
    svc_ctx_meta(s->c, "items_received", "%lld", (long long)received);
    svc_ctx_meta(s->c, "new_count", "%lld", (long long)s->out->new_count);
    svc_ctx_meta(s->c, "duplicate_count", "%lld",
                 (long long)s->out->duplicate_count);
    svc_ctx_meta(s->c, "rejected_count", "%lld",
                 (long long)s->out->rejected_count);
    svc_ctx_meta(s->c, "rejected_items", "%s", sw_buf_str(&s->rejected));
    svc_ctx_meta(s->c, "failed_items", "%s", sw_buf_str(&s->failed));
}

/* svc_stream_finish ends the oldest pending item and counts it. A server
 * failure is returned (the call then fails); a rejection is not. */
static SW_MUST_CHECK sw_err svc_stream_finish(struct svc_stream *s)
{
    struct svc_pending *q = &s->win[s->head];
    struct ingest_result res;
    struct sw_buf why;
    sw_err rc = q->rc, rec = SW_OK;

    memset(&res, 0, sizeof(res));
    sw_buf_init(&why, 1024);
    if (q->t)
        rc = ingest_email_end(&q->t, &res, NULL, &why);
    s->head = (s->head + 1) % SVC_WINDOW;
    s->n--;
    if (rc == SW_OK) {
        if (res.status == INGEST_NEW)
            s->out->new_count++;
        else
            s->out->duplicate_count++;
        if (res.n_defects)
            rec = svc_ingest_item(s->c, s->out, q->index, q->client_ref,
                                  res.status, &res, "");
    } else if (svc_ingest_rejectable(rc)) {
        s->out->rejected_count++;
        svc_stream_note(&s->rejected, q->index);
        rec = svc_ingest_item(s->c, s->out, q->index, q->client_ref, 3, NULL,
                              q->reason ? q->reason : sw_err_str(rc));
    } else {
        svc_stream_note(&s->failed, q->index);
        rec = svc_ctx_fail(
            s->c, rc, "ingest failed at item %lld: %s", (long long)q->index,
            sw_buf_len(&why) ? sw_buf_str(&why) : svc_store_err_str(s->c, rc));
    }
    ingest_result_clear(&res);
    sw_buf_free(&why);
    return rec;
}

/* svc_stream_drain ends every pending item, keeping the first error; every
 * ticket is ended whatever happens, since the committer holds them. */
static SW_MUST_CHECK sw_err svc_stream_drain(struct svc_stream *s, sw_err rc)
{
    while (s->n) {
        sw_err r2 = svc_stream_finish(s);
        if (rc == SW_OK)
            rc = r2;
    }
    return rc;
}

/* IngestEmails reads its stream asynchronously (svc_ctx_read_async): the
 * state below lives in the call's arena, each message is begun as it
 * arrives (svc_emails_item) and the window of begun items is ended as it
 * fills and when the stream ends (svc_emails_end). */
struct svc_emails {
    struct svc_stream st;
    ingest_pipeline *p;
    int64_t index;
    struct sw_buf why;
};

static sw_err svc_emails_item(struct svc_ctx *c, void *state,
                              ProtobufCMessage *m, sw_err rc)
{
    struct svc_emails *e = state;
    const Snipwise__V1__IngestEmailRequest *r = (const void *)m;
    struct svc_pending *q;
    int64_t index = e->index++;

    if (e->st.n == SVC_WINDOW) {
        sw_err frc = svc_stream_finish(&e->st);
        if (frc)
            return frc;
    }
    q = &e->st.win[(e->st.head + e->st.n) % SVC_WINDOW];
    memset(q, 0, sizeof(*q));
    q->index = index;
    q->client_ref = "";
    if (rc == SW_EPARSE) { /* a malformed item: rejected, go on */
        q->rc = SW_EPARSE;
        q->reason = "the message does not decode as an IngestEmailRequest";
        e->st.n++;
        return SW_OK;
    }
    q->client_ref = r->client_ref;
    sw_buf_reset(&e->why);
    q->rc = svc_ingest_begin(c, e->p, r, &q->t, &e->why);
    if (q->rc && !svc_ingest_rejectable(q->rc)) {
        svc_stream_note(&e->st.failed, index);
        return svc_ctx_fail(c, q->rc, "ingest failed at item %lld: %s",
                            (long long)index, sw_err_str(q->rc));
    }
    if (q->rc && sw_buf_len(&e->why))
        q->reason = svc_ctx_str(c, sw_buf_str(&e->why));
    e->st.n++;
    return SW_OK;
}

static sw_err svc_emails_end(struct svc_ctx *c, void *state, sw_err rc,
                             ProtobufCMessage **resp)
{
    struct svc_emails *e = state;

    /* Every begun item is ended whatever happens: the committer holds
     * them. */
    rc = svc_stream_drain(&e->st, rc);
    if (rc == SW_OK && svc_ctx_oom(c))
        rc = SW_ENOMEM;
    if (rc == SW_OK)
        *resp = &e->st.out->base;
    else
        svc_stream_account(&e->st, e->index);
    sw_buf_free(&e->why);
    sw_buf_free(&e->st.failed);
    sw_buf_free(&e->st.rejected);
    return rc;
}

/* Items stay in the call's arena: the window of begun items points into
 * them until each commits. */
static const struct svc_stream_ops svc_emails_ops = {svc_emails_item,
                                                     svc_emails_end, 0};

sw_err svc_ingest_emails(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    struct svc_emails *e;
    sw_err rc;

    (void)req;
    (void)resp;
    e = sw_arena_alloc(svc_ctx_arena(c), sizeof(*e));
    if (e == NULL)
        return SW_ENOMEM;
    memset(e, 0, sizeof(*e));
    e->st.c = c;
    e->st.out =
        svc_ctx_new(c, &snipwise__v1__ingest_emails_response__descriptor);
    if (e->st.out == NULL)
        return SW_ENOMEM;
    e->st.out->results = sw_arena_alloc(
        svc_ctx_arena(c), SVC_RESULTS_MAX * sizeof(*e->st.out->results));
    if (e->st.out->results == NULL)
        return SW_ENOMEM;
    rc = svc_ingest_pipeline(c, &e->p);
    if (rc)
        return rc;
    sw_buf_init(&e->why, SVC_WHY_MAX);
    sw_buf_init(&e->st.failed, SVC_WHY_MAX);
    sw_buf_init(&e->st.rejected, SVC_WHY_MAX);
    rc = svc_ctx_read_async(c, &svc_emails_ops, e);
    if (rc) {
        sw_buf_free(&e->why);
        sw_buf_free(&e->st.failed);
        sw_buf_free(&e->st.rejected);
    }
    return rc;
}

/* --- Reading ----------------------------------------------------------------
 */

static Snipwise__V1__Email *svc_email_msg(struct svc_ctx *c,
                                          const struct store_email *e)
{
    struct sw_arena *a = svc_ctx_arena(c);
    Snipwise__V1__Email *m = svc_ctx_new(c, &snipwise__v1__email__descriptor);
    size_t i;

    if (m == NULL)
        return NULL;
    m->email_id = svc_ctx_str(c, e->email_id);
    m->thread_id = svc_ctx_str(c, e->thread_id);
    m->message_id = svc_ctx_str(c, e->message_id);
    m->in_reply_to = svc_ctx_str(c, e->in_reply_to);
    m->references = svc_strv(c, e->references, e->n_references);
    m->n_references = e->n_references;
    m->subject = svc_ctx_str(c, e->subject);
    m->from_address = svc_ctx_str(c, e->from_email);
    m->to_addresses =
        sw_arena_alloc(a, (e->n_to ? e->n_to : 1) * sizeof(char *));
    m->cc_addresses =
        sw_arena_alloc(a, (e->n_cc ? e->n_cc : 1) * sizeof(char *));
    m->contents = sw_arena_alloc(a, (e->n_contents ? e->n_contents : 1) *
                                        sizeof(*m->contents));
    m->defects = svc_strv(c, e->defects, e->n_defects);
    m->n_defects = e->n_defects;
    if (m->references == NULL || m->to_addresses == NULL ||
        m->cc_addresses == NULL || m->contents == NULL || m->defects == NULL)
        return NULL;
    for (i = 0; i < e->n_to; i++)
        m->to_addresses[i] = svc_ctx_str(c, e->to[i].email);
    m->n_to_addresses = e->n_to;
    for (i = 0; i < e->n_cc; i++)
        m->cc_addresses[i] = svc_ctx_str(c, e->cc[i].email);
    m->n_cc_addresses = e->n_cc;
    m->sent_time_unix_ms = e->sent_ms;
    m->ingest_time_unix_ms = e->ingest_ms;
    m->direction = (Snipwise__V1__Direction)e->direction;
    m->rep_email = svc_ctx_str(c, e->rep_email);
    m->new_text = svc_ctx_str(c, e->new_text);
    for (i = 0; i < e->n_contents; i++) {
        m->contents[i] = svc_content_ref(
            c, e->contents[i].content_id, e->contents[i].filename,
            e->contents[i].is_new ? INGEST_NEW : INGEST_DUPLICATE,
            e->contents[i].state);
        if (m->contents[i] == NULL)
            return NULL;
    }
    m->n_contents = e->n_contents;
    m->reply_kind = (Snipwise__V1__OutcomeKind)e->reply_kind;
    return svc_ctx_oom(c) ? NULL : m;
}

sw_err svc_ingest_get_email(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp)
{
    const Snipwise__V1__GetEmailRequest *r = (const void *)req;
    struct store_email e;
    Snipwise__V1__Email *m;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    if (r->email_ref_case ==
        SNIPWISE__V1__GET_EMAIL_REQUEST__EMAIL_REF_EMAIL_ID)
        rc =
            store_email_get(svc_ctx_store(c), svc_ctx_team(c), r->email_id, &e);
    else if (r->email_ref_case ==
             SNIPWISE__V1__GET_EMAIL_REQUEST__EMAIL_REF_MESSAGE_ID)
        rc = store_email_by_message_id(svc_ctx_store(c), svc_ctx_team(c),
                                       r->message_id, &e);
    else
        return svc_ctx_fail(c, SW_EINVAL,
                            "one of email_id and message_id is required");
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL) {
        svc_ctx_reason(c, "EMAIL_NOT_FOUND");
        return svc_ctx_fail(c, SW_ENOTFOUND, "no such email");
    }
    if (rc)
        return rc;
    m = svc_email_msg(c, &e);
    store_email_clear(&e);
    if (m == NULL)
        return SW_ENOMEM;
    *resp = &m->base;
    return SW_OK;
}

static Snipwise__V1__Thread *svc_thread_msg(struct svc_ctx *c,
                                            const struct store_thread *t)
{
    Snipwise__V1__Thread *m = svc_ctx_new(c, &snipwise__v1__thread__descriptor);

    if (m == NULL)
        return NULL;
    m->thread_id = svc_ctx_str(c, t->thread_id);
    m->subject = svc_ctx_str(c, t->subject);
    m->participants = svc_strv(c, t->participants, t->n_participants);
    m->n_participants = t->n_participants;
    m->rep_emails = svc_strv(c, t->rep_emails, t->n_rep_emails);
    m->n_rep_emails = t->n_rep_emails;
    m->first_email_time_unix_ms = t->first_ms;
    m->last_email_time_unix_ms = t->last_ms;
    m->email_count = (int32_t)t->n_emails;
    if (m->participants == NULL || m->rep_emails == NULL || svc_ctx_oom(c))
        return NULL;
    return m;
}

/* svc_email_older orders emails by sent time, then ingest time. */
static int svc_email_older(const Snipwise__V1__Email *a,
                           const Snipwise__V1__Email *b)
{
    if (a->sent_time_unix_ms != b->sent_time_unix_ms)
        return a->sent_time_unix_ms < b->sent_time_unix_ms;
    return a->ingest_time_unix_ms < b->ingest_time_unix_ms;
}

sw_err svc_ingest_get_thread(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp)
{
    const Snipwise__V1__GetThreadRequest *r = (const void *)req;
    struct store_thread t;
    struct store_email e;
    Snipwise__V1__Thread *m;
    size_t i, j, n;
    sw_err rc;

    memset(&t, 0, sizeof(t));
    rc = store_thread_get(svc_ctx_store(c), svc_ctx_team(c), r->thread_id, &t);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL) {
        svc_ctx_reason(c, "THREAD_NOT_FOUND");
        return svc_ctx_fail(c, SW_ENOTFOUND, "no such thread: %s",
                            r->thread_id);
    }
    if (rc)
        return rc;
    m = svc_thread_msg(c, &t);
    if (m == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = svc_stats_threads(c, &m, 1);
    if (rc)
        goto out;
    if (r->include_emails) {
        n = t.n_emails < SVC_THREAD_EMAILS_MAX ? t.n_emails
                                               : SVC_THREAD_EMAILS_MAX;
        m->emails =
            sw_arena_alloc(svc_ctx_arena(c), (n ? n : 1) * sizeof(*m->emails));
        if (m->emails == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        for (i = 0; i < n; i++) {
            Snipwise__V1__Email *em;
            memset(&e, 0, sizeof(e));
            rc = store_email_get(svc_ctx_store(c), svc_ctx_team(c),
                                 t.email_ids[i], &e);
            if (rc == SW_ENOTFOUND) { /* deleted meanwhile */
                rc = SW_OK;
                continue;
            }
            if (rc)
                goto out;
            em = svc_email_msg(c, &e);
            store_email_clear(&e);
            if (em == NULL) {
                rc = SW_ENOMEM;
                goto out;
            }
            /* Insertion sort: oldest first. */
            for (j = m->n_emails;
                 j > 0 && svc_email_older(em, m->emails[j - 1]); j--)
                m->emails[j] = m->emails[j - 1];
            m->emails[j] = em;
            m->n_emails++;
        }
    }
    *resp = &m->base;
out:
    store_thread_clear(&t);
    return rc;
}

static ProtobufCMessage *svc_thread_item(struct svc_ctx *c, size_t i, void *arg)
{
    Snipwise__V1__Thread *m =
        svc_thread_msg(c, &((const struct store_thread *)arg)[i]);
    return m ? &m->base : NULL;
}

sw_err svc_ingest_list_threads(struct svc_ctx *c, const ProtobufCMessage *req,
                               ProtobufCMessage **resp)
{
    const Snipwise__V1__ListThreadsRequest *r = (const void *)req;
    Snipwise__V1__ListThreadsResponse *out;
    struct store_thread_filter tf;
    int page_size = 0;
    struct store_thread *items = NULL;
    size_t n = 0;
    char *next = NULL;
    struct sw_buf why;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    /* 0: the default; over SVC_MAX_PAGE_SIZE (the store's maximum too):
     * capped, never refused (AIP-158). */
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc)
        goto out;
    memset(&tf, 0, sizeof(tf));
    tf.rep_email = r->rep_email;
    if (r->last_email_time_range) {
        tf.last_from_ms = r->last_email_time_range->start_time_unix_ms;
        tf.last_to_ms = r->last_email_time_range->end_time_unix_ms;
    }
    /* The order is the one of the first page (the token keeps it): see
     * store_thread_list. */
    rc = store_thread_list(svc_ctx_store(c), svc_ctx_team(c), &tf, page_size,
                           r->page_token, &items, &n, &next, &why);
    if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    rc = svc_ctx_list(c, &snipwise__v1__list_threads_response__descriptor,
                      "threads", n, svc_thread_item, items, next, resp);
    if (rc)
        goto out;
    out = (Snipwise__V1__ListThreadsResponse *)*resp;
    rc = svc_stats_threads(c, out->threads, out->n_threads);
out:
    store_threads_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

static Snipwise__V1__Content *svc_content_msg(struct svc_ctx *c,
                                              const struct store_content *s)
{
    Snipwise__V1__Content *m =
        svc_ctx_new(c, &snipwise__v1__content__descriptor);
    Snipwise__V1__ContentStats *st =
        svc_ctx_new(c, &snipwise__v1__content_stats__descriptor);

    if (m == NULL || st == NULL)
        return NULL;
    m->content_id = svc_ctx_str(c, s->content_id);
    m->filename = svc_ctx_str(c, s->filename);
    m->media_type = svc_ctx_str(c, s->media_type);
    m->kind = (Snipwise__V1__ContentKind)s->kind;
    m->sha256 = svc_ctx_str(c, s->sha256_hex);
    m->size_bytes = s->size_bytes;
    m->text_length = (int64_t)s->text_len;
    m->extraction_state = (Snipwise__V1__ExtractionState)s->state;
    m->page_count = s->pages;
    m->file_state = (Snipwise__V1__ContentFileState)s->file_state;
    m->first_seen_time_unix_ms = s->first_seen_ms;
    m->last_used_time_unix_ms = s->last_used_ms;
    st->times_used = s->times_used;
    m->stats = st;
    return svc_ctx_oom(c) ? NULL : m;
}

sw_err svc_ingest_get_content(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp)
{
    const Snipwise__V1__GetContentRequest *r = (const void *)req;
    struct store_content s;
    Snipwise__V1__Content *m;
    sw_err rc;

    memset(&s, 0, sizeof(s));
    rc =
        store_content_get(svc_ctx_store(c), svc_ctx_team(c), r->content_id, &s);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL) {
        svc_ctx_reason(c, "CONTENT_NOT_FOUND");
        return svc_ctx_fail(c, SW_ENOTFOUND, "no such content item");
    }
    if (rc)
        return rc;
    m = svc_content_msg(c, &s);
    store_content_clear(&s);
    if (m == NULL)
        return SW_ENOMEM;
    rc = svc_stats_contents(c, &m, 1);
    if (rc)
        return rc;
    *resp = &m->base;
    return SW_OK;
}

static ProtobufCMessage *svc_content_item(struct svc_ctx *c, size_t i,
                                          void *arg)
{
    Snipwise__V1__Content *m =
        svc_content_msg(c, &((const struct store_content *)arg)[i]);
    return m ? &m->base : NULL;
}

sw_err svc_ingest_list_contents(struct svc_ctx *c, const ProtobufCMessage *req,
                                ProtobufCMessage **resp)
{
    const Snipwise__V1__ListContentsRequest *r = (const void *)req;
    Snipwise__V1__ListContentsResponse *out;
    struct store_content *items = NULL;
    int *kinds = NULL, page_size = 0;
    size_t n = 0, i;
    char *next = NULL;
    struct sw_buf why;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    /* 0: the default; over SVC_MAX_PAGE_SIZE (the store's maximum too):
     * capped, never refused (AIP-158). */
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc)
        goto out;
    if (r->n_kinds) {
        kinds = sw_arena_alloc(svc_ctx_arena(c), r->n_kinds * sizeof(int));
        if (kinds == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        for (i = 0; i < r->n_kinds; i++)
            kinds[i] = (int)r->kinds[i];
    }
    rc =
        store_content_list(svc_ctx_store(c), svc_ctx_team(c), kinds, r->n_kinds,
                           page_size, r->page_token, &items, &n, &next, &why);
    if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    rc = svc_ctx_list(c, &snipwise__v1__list_contents_response__descriptor,
                      "contents", n, svc_content_item, items, next, resp);
    if (rc)
        goto out;
    out = (Snipwise__V1__ListContentsResponse *)*resp;
    rc = svc_stats_contents(c, out->contents, out->n_contents);
out:
    store_contents_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

/* --- snipd check ------------------------------------------------------------
 */

long svc_ingest_check(struct store *st, FILE *out)
{
    struct sw_buf report, summary;
    size_t v = 0;
    long ret;
    sw_err rc;

    sw_buf_init(&report, (size_t)1 << 22);
    sw_buf_init(&summary, 4096);
    rc = store_mail_check(st, &report, &v, &summary);
    if (rc) {
        fprintf(out, "snipd check: mail check failed: %s\n", sw_err_str(rc));
        ret = -1;
    } else {
        fprintf(out, "snipd check: mail: %s\n", sw_buf_str(&summary));
        if (v)
            fprintf(out, "%s", sw_buf_str(&report));
        ret = (long)v;
    }
    sw_buf_free(&report);
    sw_buf_free(&summary);
    return ret;
}
