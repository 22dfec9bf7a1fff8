/* snipc: gRPC core client calls. Every call gets a private completion queue
 * used with pluck, which keeps the code sequential and thread-safe. */
#include "clients/snipc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "proto/msg.h"

#define SNIPC_MAX_IDLE_CQ 64

struct snipc {
    grpc_channel *ch;
    char *auth;      /* "Bearer <key>" or NULL */
    int tls;         /* the channel speaks TLS */
    int client_cert; /* and presents a client certificate */
    int64_t timeout_ms;
    /* Completion queues of finished calls, kept for the next call: creating
     * and draining a queue per call costs more than the call itself. */
    pthread_mutex_t mu;
    grpc_completion_queue *idle[SNIPC_MAX_IDLE_CQ];
    int nidle;
};

struct snipc_stream {
    snipc *c;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata md;
    grpc_metadata_array trailing;
    grpc_status_code status;
    grpc_slice details;
    int status_started;
    int failed;
};

static void snipc_cq_destroy(grpc_completion_queue *cq);

static const char *const snipc_names[] = {"OK",
                                          "CANCELLED",
                                          "UNKNOWN",
                                          "INVALID_ARGUMENT",
                                          "DEADLINE_EXCEEDED",
                                          "NOT_FOUND",
                                          "ALREADY_EXISTS",
                                          "PERMISSION_DENIED",
                                          "RESOURCE_EXHAUSTED",
                                          "FAILED_PRECONDITION",
                                          "ABORTED",
                                          "OUT_OF_RANGE",
                                          "UNIMPLEMENTED",
                                          "INTERNAL",
                                          "UNAVAILABLE",
                                          "DATA_LOSS",
                                          "UNAUTHENTICATED"};

const char *snipc_status_name(int code)
{
    if (code < 0 || code > 16)
        return "UNKNOWN";
    return snipc_names[code];
}

static sw_err snipc_read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    struct sw_buf b;
    char chunk[4096];
    size_t n;
    sw_err rc = SW_OK;

    if (f == NULL)
        return SW_EIO;
    sw_buf_init(&b, 1024 * 1024);
    while (rc == SW_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = sw_buf_add(&b, chunk, n);
    fclose(f);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    sw_buf_free(&b);
    return rc;
}

/* snipc_free_pem frees what snipc_open read, wiping the private key. */
static void snipc_free_pem(char **ca, char **cert, char **key)
{
    if (*key)
        memset(*key, 0, strlen(*key));
    sw_free(*key);
    sw_free(*cert);
    sw_free(*ca);
    *key = *cert = *ca = NULL;
}

/* snipc_hint returns advice for an UNAVAILABLE call whose cause is likely
 * the TLS set-up, or NULL. gRPC core cannot tell a plaintext client that
 * the port speaks TLS: the server just closes the connection ("Socket
 * closed"), unlike a port nobody listens on ("Connection refused"). */
static const char *snipc_hint(const snipc *c, grpc_status_code code,
                              const char *m)
{
    if (code != GRPC_STATUS_UNAVAILABLE)
        return NULL;
    if (!c->tls) {
        if (strstr(m, "Connection refused") || strstr(m, "DNS") ||
            strstr(m, "resolution") || strstr(m, "No address"))
            return NULL;
        return "the server may be using TLS: pass --tls-ca CA.pem";
    }
    if (strstr(m, "wrong version number") || strstr(m, "WRONG_VERSION_NUMBER"))
        return "the server may not be using TLS: leave out --tls-ca";
    if (strstr(m, "certificate verify failed") ||
        strstr(m, "CERTIFICATE_VERIFY_FAILED"))
        return "the server's certificate is not signed by the --tls-ca CA";
    if (!c->client_cert && !strstr(m, "Connection refused"))
        return "the server may require a client certificate: pass "
               "--tls-cert CERT.pem --tls-key KEY.pem";
    return NULL;
}

sw_err snipc_open(const struct snipc_opts *o, snipc **out)
{
    snipc *c = NULL;
    grpc_channel_credentials *creds = NULL;
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_ssl_pem_key_cert_pair pair;
    struct sw_buf b;
    sw_err rc = SW_OK;

    if (o->addr == NULL || o->addr[0] == '\0')
        return SW_EINVAL;
    sw_buf_init(&b, 8192);
    c = sw_calloc(1, sizeof(*c));
    if (c == NULL)
        return SW_ENOMEM;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    pthread_mutex_init(&c->mu, NULL);
    if (o->key && o->key[0]) {
        rc = sw_buf_printf(&b, "Bearer %s", o->key);
        if (rc == SW_OK)
            rc = sw_buf_take(&b, &c->auth, NULL);
        if (rc)
            goto fail;
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        rc = SW_EINVAL;
        goto fail;
    }
    if (o->tls_ca || o->tls_cert) {
        /* Without a CA, the system's trusted roots. */
        if (o->tls_ca)
            rc = snipc_read_file(o->tls_ca, &ca);
        if (rc == SW_OK && o->tls_cert)
            rc = snipc_read_file(o->tls_cert, &cert);
        if (rc == SW_OK && o->tls_key)
            rc = snipc_read_file(o->tls_key, &key);
        if (rc)
            goto fail;
        pair.cert_chain = cert;
        pair.private_key = key;
        creds =
            grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
        c->tls = 1;
        c->client_cert = cert != NULL;
    } else {
        creds = grpc_insecure_credentials_create();
    }
    c->ch = grpc_channel_create(o->addr, creds, NULL);
    grpc_channel_credentials_release(creds);
    if (c->ch == NULL) {
        rc = SW_EINVAL;
        goto fail;
    }
    snipc_free_pem(&ca, &cert, &key);
    *out = c;
    return SW_OK;
fail:
    snipc_free_pem(&ca, &cert, &key);
    sw_buf_free(&b);
    sw_free(c->auth);
    pthread_mutex_destroy(&c->mu);
    sw_free(c);
    return rc;
}

void snipc_close(snipc **cp)
{
    snipc *c = cp ? *cp : NULL;

    if (c == NULL)
        return;
    *cp = NULL;
    while (c->nidle > 0)
        snipc_cq_destroy(c->idle[--c->nidle]);
    grpc_channel_destroy(c->ch);
    sw_free(c->auth);
    pthread_mutex_destroy(&c->mu);
    sw_free(c);
}

static grpc_call *snipc_call(snipc *c, grpc_completion_queue *cq,
                             const char *method)
{
    grpc_slice m = grpc_slice_from_static_string(method);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));

    return grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m,
                                    NULL, deadline, NULL);
}

static void snipc_auth_md(snipc *c, grpc_metadata *md, size_t *n)
{
    *n = 0;
    if (c->auth == NULL)
        return;
    memset(md, 0, sizeof(*md));
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_from_static_string(c->auth);
    *n = 1;
}

static sw_err snipc_encode(const ProtobufCMessage *m, grpc_byte_buffer **out)
{
    size_t n = msg_packed_size(m);
    grpc_slice sl = grpc_slice_malloc(n);

    msg_pack_to(m, GRPC_SLICE_START_PTR(sl));
    *out = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return SW_OK;
}

static sw_err snipc_decode(grpc_byte_buffer *bb,
                           const ProtobufCMessageDescriptor *d,
                           struct sw_arena *a, ProtobufCMessage **out)
{
    grpc_byte_buffer_reader r;
    grpc_slice sl;
    sw_err rc;

    if (!grpc_byte_buffer_reader_init(&r, bb))
        return SW_EPARSE;
    sl = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    rc = msg_decode(d, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), a, out);
    grpc_slice_unref(sl);
    return rc;
}

/* snipc_reason finds the ErrorInfo reason in the grpc-status-details-bin
 * trailer (a google.rpc.Status); "" when there is none or it is malformed.
 * The reason is copied into a. */
static const char *snipc_reason(const grpc_metadata_array *trailing,
                                struct sw_arena *a, struct snipc_status *out)
{
    static const char bin[] = "grpc-status-details-bin";
    static const char info[] = "type.googleapis.com/google.rpc.ErrorInfo";
    const char *reason = "";
    size_t i, k;

    for (i = 0; trailing && i < trailing->count; i++) {
        const grpc_metadata *m = &trailing->metadata[i];
        Google__Rpc__Status *st;
        if (GRPC_SLICE_LENGTH(m->key) != sizeof(bin) - 1 ||
            memcmp(GRPC_SLICE_START_PTR(m->key), bin, sizeof(bin) - 1) != 0)
            continue;
        st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(m->value),
                                         GRPC_SLICE_START_PTR(m->value));
        for (k = 0; st && k < st->n_details && reason[0] == '\0'; k++) {
            Google__Protobuf__Any *d = st->details[k];
            Google__Rpc__ErrorInfo *e;
            if (d->type_url == NULL || strcmp(d->type_url, info) != 0)
                continue;
            e = google__rpc__error_info__unpack(NULL, d->value.len,
                                                d->value.data);
            if (e && e->reason)
                reason = sw_arena_strdup(a, e->reason);
            if (e && e->n_metadata)
                out->meta =
                    sw_arena_alloc(a, 2 * e->n_metadata * sizeof(char *));
            for (size_t j = 0; e && out->meta && j < e->n_metadata; j++) {
                const char *key = sw_arena_strdup(a, e->metadata[j]->key);
                const char *val = sw_arena_strdup(a, e->metadata[j]->value);
                if (key && val) {
                    out->meta[2 * out->n_meta] = key;
                    out->meta[2 * out->n_meta + 1] = val;
                    out->n_meta++;
                }
            }
            if (e)
                google__rpc__error_info__free_unpacked(e, NULL);
        }
        if (st)
            google__rpc__status__free_unpacked(st, NULL);
    }
    return reason ? reason : "";
}

const char *snipc_status_meta(const struct snipc_status *st, const char *key)
{
    size_t i;

    for (i = 0; st->meta && i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0)
            return st->meta[2 * i + 1];
    return NULL;
}

const char *snipc_status_label(const struct snipc_status *st, char *buf,
                               size_t n)
{
    const char *name = snipc_status_name(st->code);

    if (st->reason && st->reason[0] && strcmp(st->reason, name) != 0)
        snprintf(buf, n, "%s (%s)", name, st->reason);
    else
        snprintf(buf, n, "%s", name);
    return buf;
}

static void snipc_set_status(const snipc *c, struct snipc_status *st,
                             grpc_status_code code, grpc_slice details,
                             const grpc_metadata_array *trailing,
                             struct sw_arena *a)
{
    const char *hint;
    struct sw_buf b;

    st->code = (int)code;
    st->meta = NULL;
    st->n_meta = 0;
    st->reason = code == GRPC_STATUS_OK ? "" : snipc_reason(trailing, a, st);
    st->message =
        sw_arena_strndup(a, (const char *)GRPC_SLICE_START_PTR(details),
                         GRPC_SLICE_LENGTH(details));
    if (st->message == NULL)
        st->message = "";
    hint = snipc_hint(c, code, st->message);
    if (hint == NULL)
        return;
    sw_buf_init(&b, 1 << 16);
    if (sw_buf_printf(&b, "%s (%s)", st->message, hint) == SW_OK) {
        const char *m = sw_arena_strndup(a, sw_buf_str(&b), sw_buf_len(&b));
        if (m)
            st->message = m;
    }
    sw_buf_free(&b);
}

static sw_err snipc_wait(grpc_completion_queue *cq, void *tag)
{
    grpc_event ev = grpc_completion_queue_pluck(
        cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

    return ev.type == GRPC_OP_COMPLETE && ev.success ? SW_OK : SW_ECANCELLED;
}

/* snipc_cq_get returns an idle pluck queue or a new one. A queue is only
 * reused after every tag of its previous call has been plucked. */
static grpc_completion_queue *snipc_cq_get(snipc *c)
{
    grpc_completion_queue *cq = NULL;

    pthread_mutex_lock(&c->mu);
    if (c->nidle > 0)
        cq = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->mu);
    return cq ? cq : grpc_completion_queue_create_for_pluck(NULL);
}

static void snipc_cq_put(snipc *c, grpc_completion_queue *cq)
{
    pthread_mutex_lock(&c->mu);
    if (c->nidle < SNIPC_MAX_IDLE_CQ) {
        c->idle[c->nidle++] = cq;
        cq = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (cq)
        snipc_cq_destroy(cq);
}

static void snipc_cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

static sw_err snipc_unary_once(snipc *c, const char *method,
                               const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_d,
                               struct sw_arena *a, ProtobufCMessage **resp,
                               struct snipc_status *st)
{
    grpc_completion_queue *cq = snipc_cq_get(c);
    grpc_call *call = snipc_call(c, cq, method);
    grpc_metadata md;
    grpc_metadata_array init_md, trailing;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    size_t nmd;
    int tag = 1;
    sw_err rc;

    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trailing);
    snipc_auth_md(c, &md, &nmd);
    rc = snipc_encode(req, &send);
    if (rc)
        goto out;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? &md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
        rc = SW_EINTERNAL;
        goto out;
    }
    (void)snipc_wait(cq, &tag); /* the status tells how it went */
    snipc_set_status(c, st, code, details, &trailing, a);
    if (code == GRPC_STATUS_OK) {
        if (recv == NULL) {
            rc = SW_EPARSE;
            goto out;
        }
        rc = snipc_decode(recv, resp_d, a, resp);
    }
out:
    if (send)
        grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    snipc_cq_put(c, cq);
    return rc;
}

/* snipc_moving: the call was refused because its team is moving between
 * nodes (TEAM_MOVING: writes pause for the cut-over; TEAM_MOVED: a stale
 * route): nothing of it was applied, and it is worth repeating. */
static int snipc_moving(const struct snipc_status *st)
{
    return st->code == GRPC_STATUS_UNAVAILABLE && st->reason &&
           (strcmp(st->reason, "TEAM_MOVING") == 0 ||
            strcmp(st->reason, "TEAM_MOVED") == 0);
}

sw_err snipc_unary(snipc *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_d, struct sw_arena *a,
                   ProtobufCMessage **resp, struct snipc_status *st)
{
    int64_t end = sw_mono_ms() + c->timeout_ms;
    sw_err rc;

    /* A move's cut-over lasts seconds: repeat after the server's hint
     * until the call's own timeout has passed. */
    for (;;) {
        const char *hint;
        int64_t wait;
        rc = snipc_unary_once(c, method, req, resp_d, a, resp, st);
        if (rc || !snipc_moving(st))
            return rc;
        hint = snipc_status_meta(st, "retry_after_ms");
        wait = hint ? strtoll(hint, NULL, 10) : 500;
        if (wait <= 0 || wait > 5000)
            wait = 500;
        if (sw_mono_ms() + wait >= end)
            return rc;
        {
            struct timespec ts = {(time_t)(wait / 1000),
                                  (long)(wait % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

sw_err snipc_server_stream(snipc *c, const char *method,
                           const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_d,
                           snipc_msg_fn fn, void *arg, struct sw_arena *a,
                           struct snipc_status *st)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call = snipc_call(c, cq, method);
    grpc_metadata md;
    grpc_metadata_array init_md, trailing;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[4];
    size_t nmd;
    int tag_send = 1, tag_status = 2, tag_recv = 3;
    sw_err rc;

    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trailing);
    snipc_auth_md(c, &md, &nmd);
    rc = snipc_encode(req, &send);
    if (rc)
        goto out;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? &md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    if (grpc_call_start_batch(call, ops, 4, &tag_send, NULL) != GRPC_CALL_OK) {
        rc = SW_EINTERNAL;
        goto out;
    }
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[0].data.recv_status_on_client.status = &code;
    ops[0].data.recv_status_on_client.status_details = &details;
    if (grpc_call_start_batch(call, ops, 1, &tag_status, NULL) !=
        GRPC_CALL_OK) {
        rc = SW_EINTERNAL;
        goto out;
    }
    (void)snipc_wait(cq, &tag_send);
    for (;;) {
        struct sw_arena ma;
        ProtobufCMessage *m = NULL;
        int stop;
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_RECV_MESSAGE;
        ops[0].data.recv_message.recv_message = &recv;
        if (grpc_call_start_batch(call, ops, 1, &tag_recv, NULL) !=
            GRPC_CALL_OK)
            break;
        (void)snipc_wait(cq, &tag_recv);
        if (recv == NULL)
            break;
        sw_arena_init(&ma, 0);
        rc = snipc_decode(recv, resp_d, &ma, &m);
        grpc_byte_buffer_destroy(recv);
        recv = NULL;
        stop = rc != SW_OK || fn(m, arg) != 0;
        sw_arena_free(&ma);
        if (stop) {
            grpc_call_cancel(call, NULL);
            break;
        }
    }
    (void)snipc_wait(cq, &tag_status);
    snipc_set_status(c, st, code, details, &trailing, a);
out:
    if (send)
        grpc_byte_buffer_destroy(send);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    snipc_cq_destroy(cq);
    return rc;
}

sw_err snipc_stream_open(snipc *c, const char *method, snipc_stream **out)
{
    snipc_stream *s = sw_calloc(1, sizeof(*s));
    grpc_op ops[2];
    size_t nmd;
    int tag = 1;

    if (s == NULL)
        return SW_ENOMEM;
    s->c = c;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->call = snipc_call(c, s->cq, method);
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->trailing);
    snipc_auth_md(c, &s->md, &nmd);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? &s->md : NULL;
    if (grpc_call_start_batch(s->call, ops, 1, &tag, NULL) != GRPC_CALL_OK)
        s->failed = 1;
    else
        (void)snipc_wait(s->cq, &tag);
    /* Ask for the status now, so a server that ends the call early is
     * noticed by the next send. */
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, ops, 1, &s->status_started, NULL) ==
        GRPC_CALL_OK)
        s->status_started = 1;
    *out = s;
    return SW_OK;
}

sw_err snipc_stream_send(snipc_stream *s, const ProtobufCMessage *m)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    int tag = 1;
    sw_err rc;

    if (s->failed)
        return SW_ECANCELLED;
    rc = snipc_encode(m, &bb);
    if (rc)
        return rc;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    if (grpc_call_start_batch(s->call, &op, 1, &tag, NULL) != GRPC_CALL_OK)
        rc = SW_EINTERNAL;
    else
        rc = snipc_wait(s->cq, &tag);
    grpc_byte_buffer_destroy(bb);
    if (rc)
        s->failed = 1;
    return rc;
}

sw_err snipc_stream_finish(snipc_stream **sp,
                           const ProtobufCMessageDescriptor *resp_d,
                           struct sw_arena *a, ProtobufCMessage **resp,
                           struct snipc_status *st)
{
    snipc_stream *s = *sp;
    grpc_metadata_array init_md;
    grpc_byte_buffer *recv = NULL;
    grpc_op ops[3];
    int tag = 1;
    sw_err rc = SW_OK;

    *sp = NULL;
    grpc_metadata_array_init(&init_md);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[2].op = GRPC_OP_RECV_MESSAGE;
    ops[2].data.recv_message.recv_message = &recv;
    if (grpc_call_start_batch(s->call, s->failed ? ops + 1 : ops,
                              s->failed ? 2 : 3, &tag, NULL) == GRPC_CALL_OK)
        (void)snipc_wait(s->cq, &tag);
    if (s->status_started)
        (void)snipc_wait(s->cq, &s->status_started);
    snipc_set_status(s->c, st, s->status, s->details, &s->trailing, a);
    if (s->status == GRPC_STATUS_OK) {
        if (recv == NULL)
            rc = SW_EPARSE;
        else
            rc = snipc_decode(recv, resp_d, a, resp);
    }
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&s->trailing);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
    snipc_cq_destroy(s->cq);
    sw_free(s);
    return rc;
}
