/* nm_host: decodes one request, calls snipd and encodes the reply. Errors
 * of every kind (bad JSON, bad fields, an unreachable or refusing snipd)
 * become error replies with a sentence a person can act on: the panel
 * shows the message as it is. */
#include "clients/nm/nm_host.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_mem.h"
#include "clients/nm/nm_build.h"
#include "clients/nm/nm_frame.h"
#include "clients/snipc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "proto/msg.h"

struct nm_host {
    const struct nm_config *cfg;
    char *config_error;
    snipc *cl;
};

/* The outcome of one request, before it is encoded. */
struct nm_outcome {
    json_t *result;     /* owned; set on success */
    const char *code;   /* gRPC status name on failure */
    const char *reason; /* its ErrorInfo reason from snipd, or NULL */
    struct sw_buf msg;  /* failure message */
    json_t *detail;     /* owned; NULL or more members of the error */
};

sw_err nm_host_new(const struct nm_config *cfg, const char *config_error,
                   nm_host **out)
{
    nm_host *h = sw_calloc(1, sizeof(*h));

    if (h == NULL)
        return SW_ENOMEM;
    h->cfg = cfg;
    if (cfg == NULL) {
        h->config_error =
            sw_strdup(config_error ? config_error : "no configuration");
        if (h->config_error == NULL) {
            sw_free(h);
            return SW_ENOMEM;
        }
    }
    *out = h;
    return SW_OK;
}

void nm_host_free(nm_host **h)
{
    if (h == NULL || *h == NULL)
        return;
    snipc_close(&(*h)->cl);
    sw_free((*h)->config_error);
    sw_free(*h);
    *h = NULL;
}

/* nm_host_fail records a failure; SW_ENOMEM only if the message does not
 * fit. */
static sw_err nm_host_fail(struct nm_outcome *o, const char *code,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sw_err nm_host_fail(struct nm_outcome *o, const char *code,
                           const char *fmt, ...)
{
    va_list ap;
    sw_err rc;

    o->code = code;
    sw_buf_reset(&o->msg);
    va_start(ap, fmt);
    rc = sw_buf_vprintf(&o->msg, fmt, ap);
    va_end(ap);
    return rc;
}

/* nm_host_status_text explains a non-OK gRPC status of a call to snipd. */
static sw_err nm_host_status_text(nm_host *h, const char *method,
                                  const struct snipc_status *st,
                                  struct nm_outcome *o)
{
    const char *addr = h->cfg->addr, *m = st->message;

    o->code = snipc_status_name(st->code);
    o->reason = st->reason && st->reason[0] ? st->reason : NULL;
    sw_buf_reset(&o->msg);
    switch (st->code) {
    case 14: /* UNAVAILABLE */
        return sw_buf_printf(&o->msg, "snipd is not reachable at %s: %s", addr,
                             m[0] ? m : "unavailable");
    case 4: /* DEADLINE_EXCEEDED */
        return sw_buf_printf(&o->msg,
                             "snipd at %s did not answer within %lld ms", addr,
                             (long long)h->cfg->timeout_ms);
    case 16: /* UNAUTHENTICATED */
        return sw_buf_printf(&o->msg,
                             "snipd at %s refused the API key from %s: %s",
                             addr, h->cfg->path, m);
    case 7: /* PERMISSION_DENIED */
        return sw_buf_printf(&o->msg, "the API key from %s may not call %s: %s",
                             h->cfg->path, method, m);
    case 12: /* UNIMPLEMENTED */
        return sw_buf_printf(&o->msg, "snipd at %s does not offer %s: %s", addr,
                             method, m);
    default:
        return sw_buf_addstr(&o->msg, m[0] ? m : o->code);
    }
}

/* nm_host_channel opens the channel to snipd unless it is open. *ready
 * tells whether it is; when not, o says why. SW_ENOMEM only. */
static sw_err nm_host_channel(nm_host *h, struct nm_outcome *o, int *ready)
{
    struct snipc_opts opts;
    sw_err rc;

    *ready = h->cl != NULL;
    if (*ready)
        return SW_OK;
    memset(&opts, 0, sizeof(opts));
    opts.addr = h->cfg->addr;
    opts.key = h->cfg->key;
    opts.tls_ca = h->cfg->tls_ca;
    opts.timeout_ms = h->cfg->timeout_ms;
    rc = snipc_open(&opts, &h->cl);
    if (rc == SW_ENOMEM)
        return rc;
    if (rc)
        return nm_host_fail(o, "FAILED_PRECONDITION",
                            "cannot set up a channel to snipd at %s "
                            "(check addr and tls_ca in the config): %s",
                            h->cfg->addr, sw_err_str(rc));
    *ready = 1;
    return SW_OK;
}

/* nm_host_call makes one unary call. On a completed OK call *resp is the
 * reply (in arena a); otherwise *resp is NULL and o says why. SW_ENOMEM
 * only. */
static sw_err nm_host_call(nm_host *h, const char *method,
                           const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *rd,
                           struct sw_arena *a, ProtobufCMessage **resp,
                           struct nm_outcome *o)
{
    struct snipc_status st;
    int ready;
    sw_err rc;

    *resp = NULL;
    rc = nm_host_channel(h, o, &ready);
    if (rc || !ready)
        return rc;
    rc = snipc_unary(h->cl, method, req, rd, a, resp, &st);
    if (rc == SW_ENOMEM)
        return rc;
    if (rc)
        return nm_host_fail(o, "INTERNAL", "the call %s to snipd failed: %s",
                            method, sw_err_str(rc));
    if (st.code != 0) {
        *resp = NULL;
        return nm_host_status_text(h, method, &st, o);
    }
    return SW_OK;
}

/* nm_host_result turns a reply message into the outcome's JSON result. */
static sw_err nm_host_result(const ProtobufCMessage *m, struct nm_outcome *o)
{
    struct sw_buf b;
    json_error_t jerr;
    sw_err rc;

    sw_buf_init(&b, 4 * NM_FRAME_OUT_MAX);
    rc = msg_to_json(m, &b);
    if (rc == SW_ETOOBIG) {
        rc = nm_host_fail(o, "RESOURCE_EXHAUSTED",
                          "the reply is too large for the browser");
        goto out;
    }
    if (rc)
        goto out;
    o->result = json_loadb(sw_buf_str(&b), sw_buf_len(&b), 0, &jerr);
    if (o->result == NULL)
        rc = nm_host_fail(o, "INTERNAL", "cannot re-read a reply: %s",
                          jerr.text);
out:
    sw_buf_free(&b);
    return rc;
}

static sw_err nm_host_ping(nm_host *h, struct sw_arena *a, struct nm_outcome *o)
{
    Grpc__Health__V1__HealthCheckRequest req =
        GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    json_t *health;
    sw_err rc;

    rc = nm_host_call(h, "/grpc.health.v1.Health/Check", &req.base,
                      &grpc__health__v1__health_check_response__descriptor, a,
                      &resp, o);
    if (rc || resp == NULL)
        return rc;
    rc = nm_host_result(resp, o);
    if (rc || o->result == NULL)
        return rc;
    health = o->result;
    o->result =
        json_pack("{s:s, s:s, s:s, s:o}", "host", "snipwise-nm", "version",
                  NM_HOST_VERSION, "addr", h->cfg->addr, "health", health);
    return o->result ? SW_OK : SW_ENOMEM;
}

static sw_err nm_host_suggest(nm_host *h, json_t *req, struct sw_arena *a,
                              struct nm_outcome *o)
{
    Snipwise__V1__SuggestRequest *r = NULL;
    ProtobufCMessage *resp = NULL;
    int has_text = 0, unused;
    sw_err rc;

    rc = nm_build_suggest(req, h->cfg->rep_email, 0, a, &r, &has_text, &o->msg);
    if (rc == SW_EINVAL)
        o->code = "INVALID_ARGUMENT";
    if (rc)
        return rc == SW_EINVAL ? SW_OK : rc;
    rc = nm_host_call(h, "/snipwise.v1.SuggestService/Suggest", &r->base,
                      &snipwise__v1__suggest_response__descriptor, a, &resp, o);
    /* An ingested thread id or Message-ID that snipd does not know (mail
     * not ingested yet): ask again with the thread as text. */
    if (rc == SW_OK && resp == NULL && has_text &&
        strcmp(o->code, "NOT_FOUND") == 0 &&
        r->thread_case != SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_TEXT) {
        sw_buf_reset(&o->msg);
        rc = nm_build_suggest(req, h->cfg->rep_email, 1, a, &r, &unused,
                              &o->msg);
        if (rc == SW_EINVAL) {
            o->code = "INVALID_ARGUMENT";
            return SW_OK;
        }
        if (rc == SW_OK)
            rc = nm_host_call(
                h, "/snipwise.v1.SuggestService/Suggest", &r->base,
                &snipwise__v1__suggest_response__descriptor, a, &resp, o);
    }
    if (rc || resp == NULL)
        return rc;
    return nm_host_result(resp, o);
}

static sw_err nm_host_feedback(nm_host *h, json_t *req, struct sw_arena *a,
                               struct nm_outcome *o)
{
    Snipwise__V1__RecordFeedbackRequest *r = NULL;
    ProtobufCMessage *resp = NULL;
    sw_err rc;

    rc = nm_build_feedback(req, h->cfg->rep_email, a, &r, &o->msg);
    if (rc == SW_EINVAL)
        o->code = "INVALID_ARGUMENT";
    if (rc)
        return rc == SW_EINVAL ? SW_OK : rc;
    rc = nm_host_call(h, "/snipwise.v1.OutcomeService/RecordFeedback", &r->base,
                      &snipwise__v1__record_feedback_response__descriptor, a,
                      &resp, o);
    if (rc || resp == NULL)
        return rc;
    return nm_host_result(resp, o);
}

static sw_err nm_host_content(nm_host *h, json_t *req, struct sw_arena *a,
                              struct nm_outcome *o)
{
    Snipwise__V1__GetContentRequest *r = NULL;
    ProtobufCMessage *resp = NULL;
    sw_err rc;

    rc = nm_build_content(req, a, &r, &o->msg);
    if (rc == SW_EINVAL)
        o->code = "INVALID_ARGUMENT";
    if (rc)
        return rc == SW_EINVAL ? SW_OK : rc;
    rc = nm_host_call(h, "/snipwise.v1.SnippetService/GetContent", &r->base,
                      &snipwise__v1__content__descriptor, a, &resp, o);
    if (rc || resp == NULL)
        return rc;
    return nm_host_result(resp, o);
}

/* nm_host_not_kept adds to a FAILED_PRECONDITION of ReadContent what the
 * extension needs to fall back on the thread's own attachment: when
 * GetContent says the library lacks the item's file, the error gains
 * "reason": "CONTENT_FILE_NOT_KEPT", "file_state" and "content" (the
 * item's JSON: file name and size to match an attachment by), which the
 * error itself does not carry, hence the second call. */
static sw_err nm_host_not_kept(nm_host *h, const char *content_id,
                               struct sw_arena *a, struct nm_outcome *o)
{
    Snipwise__V1__GetContentRequest q = SNIPWISE__V1__GET_CONTENT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct nm_outcome g;
    const char *fs;
    sw_err rc;

    memset(&g, 0, sizeof(g));
    sw_buf_init(&g.msg, 64 * 1024);
    q.content_id = (char *)content_id;
    rc = nm_host_call(h, "/snipwise.v1.SnippetService/GetContent", &q.base,
                      &snipwise__v1__content__descriptor, a, &resp, &g);
    if (rc || resp == NULL)
        goto out;
    if (((Snipwise__V1__Content *)resp)->file_state ==
        SNIPWISE__V1__CONTENT_FILE_STATE__CONTENT_FILE_STATE_KEPT)
        goto out; /* kept after all (it came back meanwhile): no fallback */
    rc = nm_host_result(resp, &g);
    fs = json_string_value(json_object_get(g.result, "file_state"));
    if (rc || fs == NULL)
        goto out;
    o->detail = json_pack("{s:s, s:s, s:O}", "reason", "CONTENT_FILE_NOT_KEPT",
                          "file_state", fs, "content", g.result);
    if (o->detail == NULL)
        rc = SW_ENOMEM;
out:
    json_decref(g.result);
    sw_buf_free(&g.msg);
    return rc;
}

#define NM_HOST_READ "/snipwise.v1.SnippetService/ReadContent"

/* The state of a read_content request while its stream runs. */
struct nm_host_read {
    nm_content *rd;
    struct sw_buf *why;
    sw_err rc; /* the first error of nm_content_take */
};

/* nm_host_read_msg passes one message of the stream on; non-zero stops
 * (and cancels) the stream. */
static int nm_host_read_msg(const ProtobufCMessage *m, void *arg)
{
    struct nm_host_read *r = arg;

    r->rc = nm_content_take(r->rd, (const void *)m, r->why);
    return r->rc != SW_OK;
}

/* nm_host_read_end turns how the stream ended into the outcome. */
static sw_err nm_host_read_end(nm_host *h, const char *content_id,
                               struct nm_host_read *r,
                               const struct snipc_status *st,
                               struct sw_arena *a, struct nm_outcome *o)
{
    sw_err rc = r->rc;

    /* o->msg already holds the sentence of nm_content's errors. */
    if (rc == SW_ENOMEM || rc == SW_EIO)
        return rc; /* out of memory, or the extension went away */
    if (rc) {
        o->code = rc == SW_ETOOBIG ? "RESOURCE_EXHAUSTED" : "INTERNAL";
        return SW_OK;
    }
    if (st->code != 0) {
        rc = nm_host_status_text(h, NM_HOST_READ, st, o);
        if (rc == SW_OK && st->code == 9) /* FAILED_PRECONDITION */
            rc = nm_host_not_kept(h, content_id, a, o);
        return rc;
    }
    rc = nm_content_finish(r->rd, &o->result, &o->msg);
    if (rc == SW_EPARSE || rc == SW_ECORRUPT || rc == SW_ETOOBIG) {
        o->code = rc == SW_ECORRUPT ? "DATA_LOSS" : "INTERNAL";
        return SW_OK;
    }
    return rc;
}

/* nm_host_read_content streams a content item's file to the extension as
 * chunk frames; the outcome is the final reply. */
static sw_err nm_host_read_content(nm_host *h, json_t *req, json_t *id,
                                   nm_content_send_fn send, void *arg,
                                   struct sw_arena *a, struct nm_outcome *o)
{
    Snipwise__V1__ReadContentRequest *q = NULL;
    struct nm_host_read r;
    struct snipc_status st;
    int ready;
    sw_err rc;

    memset(&r, 0, sizeof(r));
    rc = nm_build_read_content(req, a, &q, &o->msg);
    if (rc == SW_EINVAL)
        o->code = "INVALID_ARGUMENT";
    if (rc)
        return rc == SW_EINVAL ? SW_OK : rc;
    rc = nm_host_channel(h, o, &ready);
    if (rc || !ready)
        return rc;
    rc = nm_content_new(id, "read_content", send, arg, &r.rd);
    if (rc)
        return rc;
    r.why = &o->msg;
    rc = snipc_server_stream(h->cl, NM_HOST_READ, &q->base,
                             &snipwise__v1__read_content_response__descriptor,
                             nm_host_read_msg, &r, a, &st);
    if (rc == SW_OK)
        rc = nm_host_read_end(h, q->content_id, &r, &st, a, o);
    else if (rc != SW_ENOMEM)
        rc = nm_host_fail(o, "INTERNAL",
                          "the call ReadContent to snipd failed: %s",
                          sw_err_str(rc));
    nm_content_free(&r.rd);
    return rc;
}

/* nm_host_dump appends the JSON of j to the sw_buf given as data. */
static int nm_host_dump(const char *p, size_t n, void *data)
{
    return sw_buf_add(data, p, n) == SW_OK ? 0 : -1;
}

/* nm_host_encode appends the reply for an outcome to reply. */
static sw_err nm_host_encode(json_t *id, const char *type, struct nm_outcome *o,
                             struct sw_buf *reply)
{
    json_t *r = NULL, *err = NULL;
    size_t start = sw_buf_len(reply);
    sw_err rc = SW_ENOMEM;

    r = json_object();
    if (r == NULL)
        goto out;
    if (json_object_set(r, "id", id ? id : json_null()) ||
        json_object_set_new(r, "type",
                            type ? json_string(type) : json_null()) ||
        json_object_set_new(r, "ok", json_boolean(o->result != NULL)))
        goto out;
    if (o->result) {
        if (json_object_set(r, "result", o->result))
            goto out;
    } else {
        err = json_pack("{s:s, s:s}", "code", o->code ? o->code : "INTERNAL",
                        "message", sw_buf_str(&o->msg));
        if (err == NULL || json_object_set(r, "error", err))
            goto out;
        if (o->detail && json_object_update_missing(err, o->detail))
            goto out;
        if (o->reason && json_object_get(err, "reason") == NULL &&
            json_object_set_new(err, "reason", json_string(o->reason)))
            goto out;
    }
    if (json_dump_callback(r, nm_host_dump, reply, JSON_COMPACT) != 0)
        goto out;
    rc = SW_OK;
    if (sw_buf_len(reply) - start > NM_FRAME_OUT_MAX) {
        /* Browsers refuse replies over 1 MB; say so instead (without the
         * details, so the second reply is small). */
        json_decref(o->result);
        o->result = NULL;
        json_decref(o->detail);
        o->detail = NULL;
        reply->len = start;
        reply->data[start] = '\0';
        rc = nm_host_fail(o, "RESOURCE_EXHAUSTED",
                          "the reply is larger than the 1 MB a browser "
                          "accepts; ask for fewer items");
        if (rc == SW_OK)
            rc = nm_host_encode(id, type, o, reply);
    }
out:
    json_decref(err);
    json_decref(r);
    return rc;
}

sw_err nm_host_error_reply(const char *code, const char *message,
                           struct sw_buf *reply)
{
    struct nm_outcome o;
    sw_err rc;

    memset(&o, 0, sizeof(o));
    sw_buf_init(&o.msg, 64 * 1024);
    rc = nm_host_fail(&o, code, "%s", message);
    if (rc == SW_OK)
        rc = nm_host_encode(NULL, NULL, &o, reply);
    sw_buf_free(&o.msg);
    return rc;
}

sw_err nm_host_handle(nm_host *h, const char *body, size_t n,
                      nm_content_send_fn send, void *arg, struct sw_buf *reply)
{
    struct nm_outcome o;
    struct sw_arena a;
    json_t *req = NULL, *id = NULL, *tv;
    json_error_t jerr;
    const char *type = NULL;
    sw_err rc = SW_OK;

    memset(&o, 0, sizeof(o));
    sw_buf_init(&o.msg, 64 * 1024);
    sw_arena_init(&a, 0);
    req = json_loadb(body, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (req == NULL) {
        rc = nm_host_fail(&o, "INVALID_ARGUMENT",
                          "the message is not valid JSON: %s (at byte %d)",
                          jerr.text, jerr.position);
        goto reply;
    }
    if (!json_is_object(req)) {
        rc = nm_host_fail(&o, "INVALID_ARGUMENT",
                          "the message must be a JSON object");
        goto reply;
    }
    id = json_object_get(req, "id");
    tv = json_object_get(req, "type");
    if (!json_is_string(tv)) {
        rc = nm_host_fail(&o, "INVALID_ARGUMENT",
                          "\"type\" must be a string: \"suggest\", "
                          "\"feedback\", \"content\", \"read_content\" "
                          "or \"ping\"");
        goto reply;
    }
    type = json_string_value(tv);
    if (strcmp(type, "suggest") != 0 && strcmp(type, "feedback") != 0 &&
        strcmp(type, "content") != 0 && strcmp(type, "read_content") != 0 &&
        strcmp(type, "ping") != 0) {
        rc = nm_host_fail(&o, "INVALID_ARGUMENT",
                          "unknown type \"%s\"; expected \"suggest\", "
                          "\"feedback\", \"content\", \"read_content\" "
                          "or \"ping\"",
                          type);
        goto reply;
    }
    if (h->cfg == NULL) {
        rc = nm_host_fail(&o, "FAILED_PRECONDITION", "%s", h->config_error);
        goto reply;
    }
    if (strcmp(type, "ping") == 0)
        rc = nm_host_ping(h, &a, &o);
    else if (strcmp(type, "suggest") == 0)
        rc = nm_host_suggest(h, req, &a, &o);
    else if (strcmp(type, "feedback") == 0)
        rc = nm_host_feedback(h, req, &a, &o);
    else if (strcmp(type, "read_content") == 0)
        rc = nm_host_read_content(h, req, id, send, arg, &a, &o);
    else
        rc = nm_host_content(h, req, &a, &o);
reply:
    if (rc == SW_OK)
        rc = nm_host_encode(id, type, &o, reply);
    json_decref(o.result);
    json_decref(o.detail);
    json_decref(req);
    sw_buf_free(&o.msg);
    sw_arena_free(&a);
    return rc;
}
