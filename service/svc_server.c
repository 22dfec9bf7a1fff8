/* svc_server: gRPC core plumbing for snipd.
 *
 * Each polling thread owns one completion queue and keeps SVC_PREREQ calls
 * requested per method on it, plus one generic request that answers calls to
 * unknown methods with UNIMPLEMENTED. A new call starts a RECV_CLOSE batch
 * (so cancellation and deadlines are seen), then runs its handler inline
 * (SVC_INLINE methods) or on the worker pool. The final batch sends initial
 * metadata, the response and the status together. A call holds one
 * reference per outstanding tag plus one for its handler and is freed when
 * the last one drops. */
#include "service/svc_server.h"
#include "service/svc_server_int.h"

#include <assert.h>
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "proto/msg.h"
#include "service/svc_alias.h"
#include "service/svc_auth.h"
#include "service/svc_idem.h"
#include "service/svc_mailbox.h"
#include "service/svc_metrics.h"
#include "service/svc_rjobs.h"
#include "service/svc_rpc.h"
#include "service/svc_status.h"
#include "service/svc_store.h"
#include "service/svc_tls.h"
#include "store/store_move.h"

#define SVC_PREREQ 8      /* requested calls per method per queue */
#define SVC_ARENA_LIMIT 0 /* arenas are bounded by the message limit */
/* How often the first polling thread looks for idle client streams. */
#define SVC_IDLE_SCAN_MS 250
/* The main pool's nice value (see svc_worker_main). */
#define SVC_HEAVY_NICE 5
/* At stop, how long cancelled calls may take to reach a worker and end. */
#define SVC_STOP_CALLS_MS 5000

static void svc_call_unref(struct svc_ctx *c);
static void svc_work_push(svc_server *s, struct svc_ctx *c);
static void svc_stream_read(struct svc_ctx *c);
static void svc_share_drop(struct svc_ctx *c);
static void svc_gate_drop(struct svc_ctx *c);
static void svc_request_registered(svc_server *s, struct svc_queue *q,
                                   size_t mi);
static void svc_request_generic(svc_server *s, struct svc_queue *q);

/* --- call state -------------------------------------------------------- */

static struct svc_ctx *svc_call_new(svc_server *s, struct svc_queue *q)
{
    struct svc_ctx *c = sw_calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->srv = s;
    c->q = q;
    atomic_init(&c->refs, 1);
    atomic_init(&c->closed, 0);
    c->t_new.call = c;
    c->t_close.kind = SVC_TAG_CLOSE;
    c->t_close.call = c;
    c->t_done.kind = SVC_TAG_DONE;
    c->t_done.call = c;
    c->t_sync.kind = SVC_TAG_SYNC;
    c->t_sync.call = c;
    c->t_recv.kind = SVC_TAG_RECV;
    c->t_recv.call = c;
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    sw_arena_init(&c->arena, SVC_ARENA_LIMIT);
    sw_arena_init(&c->item_arena, SVC_ARENA_LIMIT);
    atomic_fetch_add(&s->live_calls, 1);
    return c;
}

static void svc_call_free(struct svc_ctx *c)
{
    svc_server *s = c->srv;

    if (c->call)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->send_bb)
        grpc_byte_buffer_destroy(c->send_bb);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    if (c->park_bb)
        grpc_byte_buffer_destroy(c->park_bb);
    if (c->has_details)
        grpc_slice_unref(c->status_details);
    if (c->has_trail)
        grpc_slice_unref(c->trail_md.value);
    if (c->active)
        atomic_fetch_sub(&s->active_calls, 1);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    sw_arena_free(&c->arena);
    sw_arena_free(&c->item_arena);
    sw_free(c);
    atomic_fetch_sub(&s->live_calls, 1);
}

static void svc_call_ref(struct svc_ctx *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void svc_call_unref(struct svc_ctx *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        svc_call_free(c);
}

/* svc_sync_batch starts ops on the call and waits for their completion,
 * which the polling thread reports through t_sync. With idle_ms > 0 (a
 * send) a client that takes nothing for that long gets the call cancelled
 * with DEADLINE_EXCEEDED, so that a reader that stalls holds the worker for
 * a bounded time; the completion then comes at once. */
static sw_err svc_sync_batch(struct svc_ctx *c, grpc_op *ops, size_t n,
                             int64_t idle_ms)
{
    int64_t end = sw_mono_ms() + idle_ms;
    grpc_call_error ce;
    int ok, expired = 0;

    pthread_mutex_lock(&c->mu);
    c->sync_done = 0;
    pthread_mutex_unlock(&c->mu);
    ce = grpc_call_start_batch(c->call, ops, n, &c->t_sync, NULL);
    if (ce != GRPC_CALL_OK) {
        sw_log_error("rpc.batch_failed", "method=%s grpc_call_error=%d",
                     c->m->path, (int)ce);
        return SW_EINTERNAL;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->sync_done) {
        struct timespec ts;
        int64_t left = end - sw_mono_ms();
        if (idle_ms <= 0 || expired) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        if (left <= 0) {
            char msg[160];
            expired = 1;
            snprintf(msg, sizeof(msg),
                     "the client read nothing for %lld ms (the server's "
                     "limit); the stream is ended",
                     (long long)idle_ms);
            sw_log_info("rpc.send_idle", "method=%s", c->m->path);
            grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                         msg, NULL);
            continue;
        }
        if (left > 100)
            left = 100;
        sw_timespec_in(CLOCK_REALTIME, left, &ts);
        (void)pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    ok = c->sync_ok;
    pthread_mutex_unlock(&c->mu);
    if (expired)
        return SW_ETIMEOUT;
    return ok ? SW_OK : SW_ECANCELLED;
}

static sw_err svc_encode(const ProtobufCMessage *m, grpc_byte_buffer **out)
{
    size_t n;
    grpc_slice sl;

    /* Renamed fields answer under both names (svc_alias.h). What is sent is
     * always the call's own message, built in its arena: never const. */
    svc_alias_fill((ProtobufCMessage *)m);
    n = msg_packed_size(m);
    sl = grpc_slice_malloc(n);

    msg_pack_to(m, GRPC_SLICE_START_PTR(sl));
    *out = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return *out ? SW_OK : SW_ENOMEM;
}

/* svc_decode decodes a request message; failures carry a status message
 * naming the type (or the offending string field). */
static sw_err svc_decode(struct svc_ctx *c, grpc_byte_buffer *bb,
                         struct sw_arena *a, ProtobufCMessage **out)
{
    grpc_byte_buffer_reader r;
    grpc_slice sl;
    const char *bad = NULL;
    sw_err rc;

    svc_ctx_reason(c, "REQUEST_MALFORMED");
    svc_ctx_meta(c, "message", "%s", c->m->req->name);
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return svc_ctx_fail(c, SW_EINVAL, "the request could not be read");
    sl = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    rc = msg_decode_checked(c->m->req, GRPC_SLICE_START_PTR(sl),
                            GRPC_SLICE_LENGTH(sl), a, out, &bad);
    grpc_slice_unref(sl);
    if (rc == SW_EPARSE)
        return svc_ctx_fail(c, SW_EINVAL,
                            "the request is not a valid %s message",
                            c->m->req->name);
    if (rc == SW_EINVAL) {
        svc_ctx_reason(c, "STRING_INVALID");
        return svc_ctx_fail_field(c, SW_EINVAL, bad ? bad : "?",
                                  "of %s holds a NUL byte or invalid UTF-8",
                                  c->m->req->name);
    }
    if (rc == SW_OK) {
        svc_ctx_reason(c, NULL); /* the request is well formed */
        svc_alias_fill(*out);    /* an old field name fills the new one */
    }
    return rc;
}

sw_err svc_ctx_send(struct svc_ctx *c, const ProtobufCMessage *m)
{
    grpc_op ops[2];
    size_t n = 0;
    grpc_byte_buffer *bb = NULL;
    sw_err rc;

    if (svc_ctx_done(c))
        return SW_ECANCELLED;
    rc = svc_encode(m, &bb);
    if (rc)
        return rc;
    memset(ops, 0, sizeof(ops));
    if (!c->sent_initial_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->sent_initial_md = 1;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    rc = svc_sync_batch(c, ops, n, c->srv->stream_idle_ms);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

/* svc_take_recv decodes the message a read left in c->recv_bb:
 * SW_ENOTFOUND when the client half-closed instead. One bad message of a
 * stream is the handler's to report (as svc_rpc.h promises, SW_EPARSE);
 * the stream may go on. */
static sw_err svc_take_recv(struct svc_ctx *c, ProtobufCMessage **out)
{
    sw_err rc;

    if (c->recv_bb == NULL)
        return SW_ENOTFOUND;
    if (c->sops && c->sops->item_arena) {
        sw_arena_free(&c->item_arena);
        rc = svc_decode(c, c->recv_bb, &c->item_arena, out);
    } else
        rc = svc_decode(c, c->recv_bb, &c->arena, out);
    grpc_byte_buffer_destroy(c->recv_bb);
    c->recv_bb = NULL;
    if (rc == SW_EINVAL)
        c->fail_msg = NULL; /* about this item, not the call */
    return rc == SW_EINVAL ? SW_EPARSE : rc;
}

sw_err svc_ctx_recv(struct svc_ctx *c, ProtobufCMessage **out)
{
    grpc_op op;
    sw_err rc;

    if (svc_ctx_done(c))
        return SW_ECANCELLED;
    if (c->recv_bb) {
        grpc_byte_buffer_destroy(c->recv_bb);
        c->recv_bb = NULL;
    }
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    rc = svc_sync_batch(c, &op, 1, 0);
    if (rc)
        return rc;
    return svc_take_recv(c, out);
}

/* --- finishing a call ----------------------------------------------------- */

/* svc_observe reports a call whose status is now final to the metrics
 * (counters and the access log line). */
static void svc_observe(struct svc_ctx *c, int status)
{
    struct svc_metrics_call mc;
    char *peer = NULL;

    if (c->srv->mx == NULL)
        return;
    memset(&mc, 0, sizeof(mc));
    mc.method = c->m ? c->m->path : NULL;
    mc.method_index = c->m ? (size_t)(c->m - c->srv->methods) : 0;
    mc.status = status;
    mc.us = sw_mono_us() - c->t0_us;
    mc.team = c->id.team_id;
    if (svc_metrics_access_log(c->srv->mx))
        peer = grpc_call_get_peer(c->call);
    mc.peer = peer;
    svc_metrics_call_done(c->srv->mx, &mc);
    gpr_free(peer);
}

/* svc_finish sends the response (if any) and the status in one batch. On
 * error paths resp is NULL. */
static void svc_finish(struct svc_ctx *c, sw_err rc,
                       const ProtobufCMessage *resp)
{
    grpc_op ops[3];
    size_t n = 0;
    const char *msg;
    int status;
    grpc_call_error ce;

    svc_share_drop(c);
    svc_gate_drop(c);
    if (rc == SW_OK && resp && svc_encode(resp, &c->send_bb) != SW_OK)
        rc = SW_ENOMEM;
    if (rc == SW_ENOSPACE && c->fail_msg == NULL)
        c->fail_msg = svc_store_err_str(c, rc); /* map or disk: which */
    if (rc == SW_ENOSPACE)
        svc_ctx_meta(c, "cause", "%s", svc_store_full_cause(c));
    status = svc_rpc_status(rc);
    memset(ops, 0, sizeof(ops));
    if (!c->sent_initial_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->sent_initial_md = 1;
    }
    if (rc == SW_OK && c->send_bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->send_bb;
        n++;
    }
    msg = rc == SW_OK ? "" : (c->fail_msg ? c->fail_msg : sw_err_str(rc));
    c->status_details = grpc_slice_from_copied_string(msg);
    c->has_details = 1;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)status;
    ops[n].data.send_status_from_server.status_details = &c->status_details;
    if (rc != SW_OK)
        svc__trailer(c, &ops[n], status, msg, rc);
    n++;
    /* Counted before it is sent: a client that has its answer finds its
     * call in the metrics. */
    svc_observe(c, status);
    svc_call_ref(c);
    ce = grpc_call_start_batch(c->call, ops, n, &c->t_done, NULL);
    if (ce != GRPC_CALL_OK) {
        sw_log_error("rpc.finish_failed", "method=%s grpc_call_error=%d",
                     c->m ? c->m->path : "?", (int)ce);
        svc_call_unref(c);
    }
    if (rc != SW_OK && rc != SW_EUNAUTH && rc != SW_EUNIMPL &&
        rc != SW_ECANCELLED)
        sw_log_info("rpc.error", "method=%s code=%s status=%d msg=\"%s\"",
                    c->m ? c->m->path : "?", sw_err_name(rc), status, msg);
}

/* --- team shares ---------------------------------------------------------- */

/* svc_share_find returns team's entry, or NULL. Under tmu. */
static struct svc_share *svc_share_find(svc_server *s, const char *team)
{
    struct svc_share *sh;

    for (sh = s->shares; sh && strcmp(sh->team, team) != 0; sh = sh->next)
        ;
    return sh;
}

/* svc_share_get returns team's entry, made when missing; NULL when out
 * of memory. Under tmu. */
static struct svc_share *svc_share_get(svc_server *s, const char *team)
{
    struct svc_share *sh = svc_share_find(s, team);

    if (sh == NULL) {
        sh = sw_calloc(1, sizeof(*sh));
        if (sh == NULL)
            return NULL;
        memcpy(sh->team, team, strlen(team) + 1);
        sh->next = s->shares;
        s->shares = sh;
    }
    return sh;
}

/* svc_share_put frees sh once nothing holds it. Under tmu. */
static void svc_share_put(svc_server *s, struct svc_share *sh)
{
    struct svc_share **p;

    assert(sh->calls >= 0 && sh->streams >= 0 && sh->writes >= 0);
    if (sh->calls || sh->streams || sh->writes)
        return;
    for (p = &s->shares; *p && *p != sh; p = &(*p)->next)
        ;
    if (*p)
        *p = sh->next;
    sw_free(sh);
}

/* svc_share_take counts an SVC_HEAVY call of a team against the team's
 * share: team_max_calls unary and server-stream calls, team_max_streams
 * client streams, in progress at once. Over it the call fails with
 * RESOURCE_EXHAUSTED and a retry hint; other teams are not affected. */
static sw_err svc_share_take(struct svc_ctx *c)
{
    svc_server *s = c->srv;
    const char *team = c->id.team_id;
    int stream = c->m->kind == SVC_CLIENT_STREAM;
    struct svc_share *sh;
    int over = 0;

    if (!(c->m->flags & SVC_HEAVY) || team == NULL || team[0] == '\0' ||
        strlen(team) >= sizeof(sh->team))
        return SW_OK;
    pthread_mutex_lock(&s->tmu);
    sh = svc_share_get(s, team);
    if (sh == NULL) {
        pthread_mutex_unlock(&s->tmu);
        return SW_ENOMEM;
    }
    if (stream ? sh->streams >= s->team_max_streams
               : sh->calls >= s->team_max_calls) {
        over = 1;
        svc_share_put(s, sh);
    } else {
        if (stream)
            sh->streams++;
        else
            sh->calls++;
        c->share = sh;
    }
    pthread_mutex_unlock(&s->tmu);
    if (!over)
        return SW_OK;
    svc_ctx_reason(c, stream ? "TEAM_STREAM_LIMIT" : "TEAM_CALL_LIMIT");
    svc_ctx_meta(c, "limit", "%s",
                 stream ? "--team-max-streams" : "--team-max-calls");
    svc_ctx_meta(c, "max", "%d",
                 stream ? s->team_max_streams : s->team_max_calls);
    return svc_ctx_fail(
        c, SW_EBUDGET,
        "the team already has %d %s in progress, its share of this server "
        "(%s); retry when one of them has finished",
        stream ? s->team_max_streams : s->team_max_calls,
        stream ? "ingest streams" : "ingest, Suggest, search or rerank calls",
        stream ? "--team-max-streams" : "--team-max-calls");
}

/* svc_share_drop returns the call's place in its team's share. */
static void svc_share_drop(struct svc_ctx *c)
{
    svc_server *s = c->srv;
    struct svc_share *sh = c->share;

    if (sh == NULL)
        return;
    pthread_mutex_lock(&s->tmu);
    if (c->m->kind == SVC_CLIENT_STREAM)
        sh->streams--;
    else
        sh->calls--;
    svc_share_put(s, sh);
    pthread_mutex_unlock(&s->tmu);
    c->share = NULL;
}

/* --- the write gate of team moves --------------------------------------- */

/* svc_gate_refuse fails a write of a team that is moving (TEAM_MOVING). */
static sw_err svc_gate_refuse(struct svc_ctx *c)
{
    svc_ctx_reason(c, "TEAM_MOVING");
    svc_ctx_meta(c, "retry_after_ms", "%d", SVC_MOVE_RETRY_MS);
    return svc_ctx_fail(c, SW_EBUSY,
                        "team %s is moving to another node: its writes pause "
                        "until the move's cut-over ends; nothing of this "
                        "call was applied: retry in %d ms",
                        c->id.team_id, SVC_MOVE_RETRY_MS);
}

/* svc_gate_check: SW_OK when the call's team takes writes, else its
 * refusal. One LMDB lookup. */
static sw_err svc_gate_check(struct svc_ctx *c)
{
    int frozen = 0;
    sw_err rc = store_team_frozen(c->srv->st, c->id.team_id, &frozen);

    if (rc)
        return svc_ctx_fail(c, rc, "could not read the team's move state");
    return frozen ? svc_gate_refuse(c) : SW_OK;
}

/* svc_gate_drop ends the call's place among its team's writes. */
static void svc_gate_drop(struct svc_ctx *c)
{
    svc_server *s = c->srv;
    struct svc_share *sh = c->gate;

    if (sh == NULL)
        return;
    pthread_mutex_lock(&s->tmu);
    if (--sh->writes == 0)
        pthread_cond_broadcast(&s->tcv);
    svc_share_put(s, sh);
    pthread_mutex_unlock(&s->tmu);
    c->gate = NULL;
}

/* svc_gate_take counts an SVC_WRITE call among its team's writes, then
 * refuses it if the team is frozen for a move. Counting first makes the
 * freeze safe: a write that found the team not frozen is counted, and
 * FreezeTeam, which records the freeze before it waits, waits for it
 * (svc_ctx_drain_writes); a write counted after the freeze sees it. */
static sw_err svc_gate_take(struct svc_ctx *c)
{
    svc_server *s = c->srv;
    const char *team = c->id.team_id;
    struct svc_share *sh;
    sw_err rc;

    if (!(c->m->flags & SVC_WRITE) || team == NULL || team[0] == '\0' ||
        strlen(team) >= sizeof(sh->team))
        return SW_OK;
    pthread_mutex_lock(&s->tmu);
    sh = svc_share_get(s, team);
    if (sh)
        sh->writes++;
    pthread_mutex_unlock(&s->tmu);
    if (sh == NULL)
        return SW_ENOMEM;
    c->gate = sh;
    rc = svc_gate_check(c);
    if (rc)
        svc_gate_drop(c);
    return rc;
}

sw_err svc_ctx_drain_writes(struct svc_ctx *c, const char *team_id,
                            int64_t timeout_ms)
{
    svc_server *s = c->srv;
    struct svc_share *sh;
    struct timespec until;
    sw_err rc = SW_OK;

    sw_timespec_in(CLOCK_REALTIME, timeout_ms, &until);
    pthread_mutex_lock(&s->tmu);
    for (;;) {
        /* Found again after each wait: the entry goes with its last call. */
        sh = svc_share_find(s, team_id);
        if (sh == NULL || sh->writes == 0)
            break;
        if (pthread_cond_timedwait(&s->tcv, &s->tmu, &until) == ETIMEDOUT) {
            rc = SW_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&s->tmu);
    return rc;
}

/* svc_run executes the handler of a call that has arrived, on whichever
 * thread it was given to, then finishes the call and drops the handler's
 * reference. */
static void svc_run(struct svc_ctx *c)
{
    const struct svc_method *m = c->m;
    ProtobufCMessage *req = NULL, *resp = NULL;
    int replayed = 0;
    const char *why = NULL, *reason = NULL;
    sw_err rc;

    rc =
        svc_auth_check(c->srv->st, &c->md, m, &c->arena, &c->id, &why, &reason);
    if (rc) {
        c->fail_msg = why;
        if (reason)
            svc_ctx_reason(c, reason);
        if (reason && strcmp(reason, "REP_KEY_NOT_ALLOWED") == 0)
            svc_ctx_meta(c, "method", "%s", m->path);
        if (reason && strcmp(reason, "TEAM_MOVED") == 0)
            svc_ctx_meta(c, "retry_after_ms", "%d", SVC_MOVE_RETRY_MS);
        goto out;
    }
    if (m->fn == NULL) {
        rc = svc_ctx_fail(c, SW_EUNIMPL, "%s is not implemented yet: %s",
                          m->path, m->pending ? m->pending : "planned");
        goto out;
    }
    rc = svc_share_take(c);
    if (rc == SW_OK)
        rc = svc_gate_take(c);
    if (rc)
        goto out;
    /* A call whose client gave up while it waited for a worker is not
     * worth running. Draining does not stop it: calls that arrived before
     * shutdown are served. */
    rc = svc_ctx_done_reason(c);
    if (rc)
        goto out;
    if (m->kind != SVC_CLIENT_STREAM) {
        if (c->payload == NULL) {
            rc = svc_ctx_fail(c, SW_EINVAL, "the request carries no message");
            goto out;
        }
        rc = svc_decode(c, c->payload, &c->arena, &req);
        if (rc == SW_OK)
            rc = svc_page_open(c, &c->srv->page_key, m->path, req);
        if (rc)
            goto out;
    }
    if (m->kind == SVC_UNARY && svc_idem_request_id(req)) {
        /* A create with a request_id: a repeat gets the first answer. */
        rc = svc_idem_begin(c, &c->srv->idem, m->path, req, m->resp, &resp);
        replayed = rc == SW_OK && resp != NULL;
        if (rc == SW_OK && !replayed)
            rc = m->fn(c, req, &resp);
        if (rc == SW_OK && c->oom)
            rc = SW_ENOMEM;
        svc_idem_end(c, &c->srv->idem, m->path, req, resp,
                     rc == SW_OK && !replayed);
    } else {
        rc = m->fn(c, req, &resp);
    }
    if (rc == SW_OK && c->oom)
        rc = SW_ENOMEM;
    if (rc == SW_OK && resp && m->kind == SVC_UNARY)
        rc = svc_page_seal(c, &c->srv->page_key, m->path, req, resp);
    if (rc == SW_OK && m->kind != SVC_SERVER_STREAM && resp == NULL) {
        resp = msg_new(m->resp, &c->arena);
        if (resp == NULL)
            rc = SW_ENOMEM;
    }
out:
    /* A parked call is finished later, by svc_unpark; the parked list holds
     * its own reference. An asynchronous stream is read from here on and
     * finished by its end (svc_stream_end). */
    if (rc == SW_OK && c->stream_taken)
        svc_stream_read(c);
    else if (!(rc == SW_OK && c->park_taken))
        svc_finish(c, rc, m->kind == SVC_SERVER_STREAM ? NULL : resp);
    svc_call_unref(c);
}

/* --- asynchronous client streams ------------------------------------------ */

sw_err svc_ctx_read_async(struct svc_ctx *c, const struct svc_stream_ops *ops,
                          void *state)
{
    svc_server *s = c->srv;

    if (c->m == NULL || c->m->kind != SVC_CLIENT_STREAM || ops == NULL ||
        ops->item == NULL || ops->end == NULL || c->stream_taken)
        return SW_EINTERNAL;
    c->sops = ops;
    c->sstate = state;
    c->stream_taken = 1;
    pthread_mutex_lock(&s->smu);
    c->streaming = 1;
    c->sprev = NULL;
    c->snext = s->streams;
    if (s->streams)
        s->streams->sprev = c;
    s->streams = c;
    pthread_mutex_unlock(&s->smu);
    return SW_OK;
}

/* svc_stream_unlist takes c off the stream list (under smu). */
static void svc_stream_unlist(svc_server *s, struct svc_ctx *c)
{
    pthread_mutex_lock(&s->smu);
    if (c->streaming) {
        if (c->sprev)
            c->sprev->snext = c->snext;
        else
            s->streams = c->snext;
        if (c->snext)
            c->snext->sprev = c->sprev;
        c->streaming = 0;
    }
    c->recv_pending = 0;
    pthread_mutex_unlock(&s->smu);
}

/* svc_stream_end ends an asynchronous stream: its end callback, then the
 * final batch. The caller keeps its own reference. */
static void svc_stream_end(struct svc_ctx *c, sw_err why)
{
    ProtobufCMessage *resp = NULL;
    sw_err rc;

    svc_stream_unlist(c->srv, c);
    rc = c->sops->end(c, c->sstate, why, &resp);
    if (rc == SW_OK && c->oom)
        rc = SW_ENOMEM;
    if (rc == SW_OK && resp == NULL) {
        resp = msg_new(c->m->resp, &c->arena);
        if (resp == NULL)
            rc = SW_ENOMEM;
    }
    svc_finish(c, rc, resp);
}

/* svc_stream_read starts the next read of an asynchronous stream; its
 * completion (SVC_TAG_RECV) queues the call for a worker (svc_stream_step).
 * The read holds a reference. */
static void svc_stream_read(struct svc_ctx *c)
{
    svc_server *s = c->srv;
    grpc_call_error ce;
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    pthread_mutex_lock(&s->smu);
    c->recv_pending = 1;
    c->recv_since = sw_mono_ms();
    pthread_mutex_unlock(&s->smu);
    svc_call_ref(c);
    ce = grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL);
    if (ce != GRPC_CALL_OK) {
        sw_log_error("rpc.batch_failed", "method=%s grpc_call_error=%d",
                     c->m->path, (int)ce);
        svc_call_unref(c);
        svc_stream_end(c, SW_EINTERNAL);
    }
}

/* svc_stream_step runs on a worker when a read has ended: the next item,
 * the end of the stream, or its early end. It drops the read's
 * reference. */
static void svc_stream_step(struct svc_ctx *c)
{
    ProtobufCMessage *m = NULL;
    int expired;
    sw_err rc;

    pthread_mutex_lock(&c->srv->smu);
    c->recv_pending = 0;
    expired = c->idle_expired;
    pthread_mutex_unlock(&c->srv->smu);
    if (!c->recv_ok || expired || svc_ctx_done(c)) {
        if (c->recv_bb) {
            grpc_byte_buffer_destroy(c->recv_bb);
            c->recv_bb = NULL;
        }
        svc_stream_end(c, expired ? SW_ETIMEOUT : SW_ECANCELLED);
        svc_call_unref(c);
        return;
    }
    rc = svc_take_recv(c, &m);
    if (rc == SW_ENOTFOUND) {
        svc_stream_end(c, SW_OK); /* the client half-closed */
        svc_call_unref(c);
        return;
    }
    c->items++;
    /* A team frozen for a move mid-stream: the stream ends before this
     * message; what came before is committed by the stream's end. */
    if (c->gate && (rc == SW_OK || rc == SW_EPARSE))
        rc = svc_gate_check(c);
    if (rc == SW_OK || rc == SW_EPARSE)
        rc = c->sops->item(c, c->sstate, rc == SW_OK ? m : NULL, rc);
    if (rc)
        svc_stream_end(c, rc);
    else
        svc_stream_read(c);
    svc_call_unref(c);
}

/* svc_stream_idle_scan ends the client streams whose read has waited past
 * the idle limit: DEADLINE_EXCEEDED with the count so far. The read then
 * completes unsuccessfully and the stream's end runs on a worker. */
static void svc_stream_idle_scan(svc_server *s)
{
    int64_t now = sw_mono_ms();
    struct svc_ctx *c;
    char msg[256];

    pthread_mutex_lock(&s->smu);
    for (c = s->streams; c; c = c->snext) {
        if (!c->recv_pending || c->idle_expired ||
            now - c->recv_since < s->stream_idle_ms)
            continue;
        c->idle_expired = 1;
        snprintf(msg, sizeof(msg),
                 "the stream sent nothing for %lld ms (the server's limit) "
                 "after %lld messages; the messages before were processed, "
                 "and sending them again is safe",
                 (long long)(now - c->recv_since), (long long)c->items);
        sw_log_info("rpc.stream_idle", "method=%s items=%lld", c->m->path,
                    (long long)c->items);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                     msg, NULL);
    }
    pthread_mutex_unlock(&s->smu);
}

sw_err svc_ctx_park(struct svc_ctx *c, const ProtobufCMessage *on_drain)
{
    svc_server *s = c->srv;
    sw_err rc;

    rc = svc_encode(on_drain, &c->park_bb);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->pmu);
    if (atomic_load(&c->closed) || atomic_load(&s->draining)) {
        pthread_mutex_unlock(&s->pmu);
        grpc_byte_buffer_destroy(c->park_bb);
        c->park_bb = NULL;
        return atomic_load(&c->closed) ? SW_ECANCELLED : SW_EBUSY;
    }
    svc_call_ref(c);
    c->park_taken = 1;
    c->parked = 1;
    c->pprev = NULL;
    c->pnext = s->parked;
    if (s->parked)
        s->parked->pprev = c;
    s->parked = c;
    pthread_mutex_unlock(&s->pmu);
    return SW_OK;
}

/* svc_unpark removes c from the parked list if it is still there; returns
 * whether this caller did (and so owns the list's reference). */
static int svc_unpark(svc_server *s, struct svc_ctx *c)
{
    int was;

    pthread_mutex_lock(&s->pmu);
    was = c->parked;
    if (was) {
        if (c->pprev)
            c->pprev->pnext = c->pnext;
        else
            s->parked = c->pnext;
        if (c->pnext)
            c->pnext->pprev = c->pprev;
        c->parked = 0;
    }
    pthread_mutex_unlock(&s->pmu);
    return was;
}

/* svc_drain_parked ends every parked stream with its final message and OK,
 * when shutdown begins. */
static void svc_drain_parked(svc_server *s)
{
    struct svc_ctx *c;

    for (;;) {
        pthread_mutex_lock(&s->pmu);
        c = s->parked;
        pthread_mutex_unlock(&s->pmu);
        if (c == NULL || !svc_unpark(s, c))
            break;
        c->send_bb = c->park_bb;
        c->park_bb = NULL;
        svc_finish(c, SW_OK, NULL);
        svc_call_unref(c);
    }
}

/* svc_unknown answers a call to a method that is not in the table. */
static void svc_unknown(struct svc_ctx *c)
{
    grpc_op ops[3];
    char *path = grpc_slice_to_c_string(c->details.method);
    struct sw_buf b;
    grpc_call_error ce;

    sw_buf_init(&b, 1024);
    if (sw_buf_printf(&b, "unknown method %s", path) != SW_OK)
        sw_buf_reset(&b);
    svc_ctx_reason(c, "METHOD_UNKNOWN");
    svc_ctx_meta(c, "method", "%s", path);
    gpr_free(path);
    c->status_details = grpc_slice_from_copied_string(sw_buf_str(&b));
    c->has_details = 1;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[1].data.send_status_from_server.status_details = &c->status_details;
    svc__trailer(c, &ops[1], GRPC_STATUS_UNIMPLEMENTED, sw_buf_str(&b),
                 SW_EUNIMPL);
    sw_buf_free(&b);
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &c->cancelled_out;
    svc_call_ref(c);
    c->t0_us = sw_mono_us();
    svc_observe(c, GRPC_STATUS_UNIMPLEMENTED);
    ce = grpc_call_start_batch(c->call, ops, 3, &c->t_done, NULL);
    if (ce != GRPC_CALL_OK)
        svc_call_unref(c);
    svc_call_unref(c);
}

/* --- worker pool ---------------------------------------------------------- */

/* svc_work_pool: 0 (main) for SVC_HEAVY calls and the steps of client
 * streams, 1 (light) for every other call. */
static int svc_work_pool(const struct svc_ctx *c)
{
    return c->resume || (c->m->flags & SVC_HEAVY) ? 0 : 1;
}

static void svc_work_push(svc_server *s, struct svc_ctx *c)
{
    int p = svc_work_pool(c);

    pthread_mutex_lock(&s->wmu);
    c->next = NULL;
    if (s->wtail[p])
        s->wtail[p]->next = c;
    else
        s->whead[p] = c;
    s->wtail[p] = c;
    pthread_cond_signal(&s->wcv[p]);
    pthread_mutex_unlock(&s->wmu);
}

static void svc_worker_loop(svc_server *s, int p)
{
    struct svc_ctx *c;

    for (;;) {
        pthread_mutex_lock(&s->wmu);
        while (s->whead[p] == NULL && !s->wstop)
            pthread_cond_wait(&s->wcv[p], &s->wmu);
        c = s->whead[p];
        if (c) {
            s->whead[p] = c->next;
            if (s->whead[p] == NULL)
                s->wtail[p] = NULL;
        }
        pthread_mutex_unlock(&s->wmu);
        if (c == NULL)
            return; /* stopped and the queue is empty */
        if (c->resume) {
            c->resume = 0;
            svc_stream_step(c);
        } else {
            svc_run(c);
        }
    }
}

static void *svc_worker_main(void *arg)
{
    /* The main pool runs at a lower priority than the polling threads and
     * the light pool (nice SVC_HEAVY_NICE, which needs no privilege): when
     * expensive calls saturate the CPUs, cheap calls still get it. */
    if (sw_thread_nice(SVC_HEAVY_NICE) != 0)
        sw_log_warn("server.nice_failed", "errno=%d", errno);
    svc_worker_loop(arg, 0);
    return NULL;
}

static void *svc_light_main(void *arg)
{
    svc_worker_loop(arg, 1);
    return NULL;
}

/* --- polling threads -------------------------------------------------------
 */

static void svc_on_new(svc_server *s, struct svc_queue *q, struct svc_ctx *c,
                       int ok)
{
    size_t mi = (size_t)(c->m - s->methods);
    grpc_op op;
    grpc_call_error ce;

    if (!ok) {
        /* The server is shutting down: this request was never filled. */
        svc_call_unref(c);
        return;
    }
    c->active = 1;
    c->t0_us = sw_mono_us();
    atomic_fetch_add(&s->active_calls, 1);
    if (!atomic_load(&s->draining))
        svc_request_registered(s, q, mi);
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled_out;
    svc_call_ref(c);
    ce = grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL);
    if (ce != GRPC_CALL_OK) {
        svc_call_unref(c);
        svc_call_unref(c);
        return;
    }
    if (c->m->flags & SVC_INLINE)
        svc_run(c);
    else
        svc_work_push(s, c);
}

static void svc_on_event(svc_server *s, struct svc_queue *q, grpc_event ev)
{
    struct svc_tag *t = ev.tag;
    struct svc_ctx *c = t->call;

    switch (t->kind) {
    case SVC_TAG_NEW:
        svc_on_new(s, q, c, ev.success);
        break;
    case SVC_TAG_GENERIC_NEW:
        if (!ev.success) {
            svc_call_unref(c);
            break;
        }
        if (!atomic_load(&s->draining))
            svc_request_generic(s, q);
        svc_unknown(c);
        break;
    case SVC_TAG_CLOSE:
        pthread_mutex_lock(&c->mu);
        atomic_store(&c->closed, 1);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        if (svc_unpark(s, c)) {
            /* The client went away (cancel or deadline) from a parked
             * stream: finish it so gRPC can release the call. */
            svc_finish(c, SW_ECANCELLED, NULL);
            svc_call_unref(c);
        }
        svc_call_unref(c);
        break;
    case SVC_TAG_DONE:
        svc_call_unref(c);
        break;
    case SVC_TAG_SYNC:
        pthread_mutex_lock(&c->mu);
        c->sync_done = 1;
        c->sync_ok = ev.success;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        break;
    case SVC_TAG_RECV:
        /* The read's reference goes with the call to a worker. */
        pthread_mutex_lock(&s->smu);
        c->recv_pending = 0; /* no longer idle, whatever the worker finds */
        pthread_mutex_unlock(&s->smu);
        c->recv_ok = ev.success;
        c->resume = 1;
        svc_work_push(s, c);
        break;
    }
}

static void *svc_poll_main(void *arg)
{
    struct svc_queue *q = arg;

    /* With --poll-rt the polling threads (network I/O, and the inline
     * calls: Health, GetMyTeam) run ahead of every thread at a normal
     * priority: on a machine whose cores the workers keep busy, a cheap
     * call then waits for no time slice (docs/PERFORMANCE.md). They block
     * in the completion queue between events, so they take a core only
     * for the work they are given. */
    if (q->srv->poll_rt) {
        struct sched_param sp = {.sched_priority = 1};
        int e = pthread_setschedparam(pthread_self(), SCHED_RR, &sp);
        if (e != 0)
            sw_log_warn("server.poll_rt_refused",
                        "errno=%d hint=\"needs CAP_SYS_NICE or "
                        "LimitRTPRIO=1\"",
                        e);
    }
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            q->cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(SVC_IDLE_SCAN_MS, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.type == GRPC_OP_COMPLETE)
            svc_on_event(q->srv, q, ev);
        if (q->idx == 0 &&
            sw_mono_ms() - q->srv->idle_scan_ms >= SVC_IDLE_SCAN_MS) {
            q->srv->idle_scan_ms = sw_mono_ms();
            svc_stream_idle_scan(q->srv);
        }
    }
}

static void svc_request_registered(svc_server *s, struct svc_queue *q,
                                   size_t mi)
{
    const struct svc_method *m = &s->methods[mi];
    struct svc_ctx *c = svc_call_new(s, q);
    grpc_call_error ce;

    if (c == NULL) {
        sw_log_error("rpc.request_failed", "method=%s err=out_of_memory",
                     m->path);
        return;
    }
    c->m = m;
    c->t_new.kind = SVC_TAG_NEW;
    ce = grpc_server_request_registered_call(
        s->server, s->rm[mi], &c->call, &c->deadline, &c->md,
        m->kind == SVC_CLIENT_STREAM ? NULL : &c->payload, q->cq, q->cq,
        &c->t_new);
    if (ce != GRPC_CALL_OK) {
        sw_log_error("rpc.request_failed", "method=%s grpc_call_error=%d",
                     m->path, (int)ce);
        svc_call_unref(c);
    }
}

static void svc_request_generic(svc_server *s, struct svc_queue *q)
{
    struct svc_ctx *c = svc_call_new(s, q);
    grpc_call_error ce;

    if (c == NULL)
        return;
    c->t_new.kind = SVC_TAG_GENERIC_NEW;
    ce = grpc_server_request_call(s->server, &c->call, &c->details, &c->md,
                                  q->cq, q->cq, &c->t_new);
    if (ce != GRPC_CALL_OK)
        svc_call_unref(c);
}

/* --- start and stop ----------------------------------------------------------
 */

static grpc_server_credentials *svc_creds(const struct svc_server_opts *o)
{
    grpc_ssl_pem_key_cert_pair pair;

    if (o->tls)
        return svc_tls_creds(o->tls);
    if (o->tls_cert_pem == NULL)
        return grpc_insecure_server_credentials_create();
    pair.private_key = o->tls_key_pem;
    pair.cert_chain = o->tls_cert_pem;
    return grpc_ssl_server_credentials_create_ex(
        NULL, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
}

sw_err svc_server_start(const struct svc_server_opts *o, struct store *st,
                        svc_server **out, int *port)
{
    svc_server *s = NULL;
    grpc_arg args[4];
    grpc_channel_args cargs;
    grpc_server_credentials *creds = NULL;
    int i, bound = 0;
    size_t mi;
    sw_err rc = SW_OK;

    if (o->cq_threads < 1 || o->workers < 1 || o->max_message_bytes < 1024 ||
        o->max_message_bytes > INT32_MAX ||
        (o->tls_cert_pem == NULL) != (o->tls_key_pem == NULL))
        return SW_EINVAL;
    s = sw_calloc(1, sizeof(*s));
    if (s == NULL)
        return SW_ENOMEM;
    s->st = st;
    rc = svc_page_key_load(st, &s->page_key);
    if (rc == SW_OK)
        rc = svc_idem_init(st, &s->idem);
    if (rc) {
        sw_free(s);
        return rc;
    }
    s->ranker = o->ranker;
    s->engine = o->engine;
    if (o->engine) {
        rc = svc_rjobs_open(o->engine, o->metrics, &s->rjobs);
        if (rc) {
            sw_free(s);
            return rc;
        }
    }
    s->ingest = o->ingest;
    s->mailbox = o->mailbox;
    s->mx = o->metrics;
    s->max_message_bytes = o->max_message_bytes;
    s->stream_idle_ms = o->stream_idle_ms > 0 ? o->stream_idle_ms : 30000;
    s->team_max_calls = o->team_max_calls > 0 ? o->team_max_calls
                        : o->workers / 2 > 1  ? o->workers / 2
                                              : 1;
    s->team_max_streams = o->team_max_streams > 0 ? o->team_max_streams : 64;
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv[0], NULL);
    pthread_cond_init(&s->wcv[1], NULL);
    pthread_mutex_init(&s->tmu, NULL);
    pthread_cond_init(&s->tcv, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_mutex_init(&s->smu, NULL);
    rc = svc_rpc_table(&s->methods, &s->nmethods);
    if (rc == SW_OK)
        rc = svc_alias_check();
    if (rc == SW_OK)
        rc = svc_mailbox_check();
    if (rc)
        goto fail;
    s->rm = sw_calloc(s->nmethods ? s->nmethods : 1, sizeof(void *));
    s->poll_rt = o->poll_rt; /* read by the polling threads at their start */
    s->queues = sw_calloc((size_t)o->cq_threads, sizeof(*s->queues));
    s->workers =
        sw_calloc((size_t)o->workers +
                      (size_t)(o->light_workers > 0 ? o->light_workers : 2),
                  sizeof(pthread_t));
    if (s->rm == NULL || s->queues == NULL || s->workers == NULL) {
        rc = SW_ENOMEM;
        goto fail;
    }

    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)o->max_message_bytes;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    /* Only uncompressed requests: gRPC core inflates a whole compressed
     * message before it compares it with the size limit, so a request of
     * a few hundred KiB could make it allocate hundreds of MiB. A client
     * that compresses gets UNIMPLEMENTED without anything inflated. */
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET;
    args[3].value.integer = 1 << GRPC_COMPRESS_NONE;
    cargs.num_args = 4;
    cargs.args = args;
    s->server = grpc_server_create(&cargs, NULL);
    if (s->server == NULL) {
        rc = SW_EINTERNAL;
        goto fail;
    }
    s->nqueues = o->cq_threads;
    for (i = 0; i < s->nqueues; i++) {
        s->queues[i].srv = s;
        s->queues[i].idx = i;
        s->queues[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->queues[i].cq, NULL);
    }
    for (mi = 0; mi < s->nmethods; mi++) {
        const struct svc_method *m = &s->methods[mi];
        s->rm[mi] = grpc_server_register_method(
            s->server, m->path, NULL,
            m->kind == SVC_CLIENT_STREAM
                ? GRPC_SRM_PAYLOAD_NONE
                : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
            0);
        if (s->rm[mi] == NULL) {
            sw_log_error("server.register_failed", "method=%s", m->path);
            rc = SW_EINTERNAL;
            goto fail;
        }
    }
    creds = svc_creds(o);
    if (creds == NULL) {
        rc = SW_EINVAL;
        goto fail;
    }
    bound = grpc_server_add_http2_port(s->server, o->listen, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        sw_log_error("server.bind_failed", "addr=%s", o->listen);
        rc = SW_EIO;
        goto fail;
    }
    grpc_server_start(s->server);
    for (i = 0; i < s->nqueues; i++) {
        int k;
        for (mi = 0; mi < s->nmethods; mi++) {
            for (k = 0; k < SVC_PREREQ; k++)
                svc_request_registered(s, &s->queues[i], mi);
        }
        svc_request_generic(s, &s->queues[i]);
        if (pthread_create(&s->queues[i].thread, NULL, svc_poll_main,
                           &s->queues[i]) == 0)
            s->queues[i].started = 1;
    }
    s->nworkers = o->workers;
    s->nlight = o->light_workers > 0 ? o->light_workers : 2;
    for (i = 0; i < s->nworkers + s->nlight; i++) {
        if (pthread_create(&s->workers[i], NULL,
                           i < s->nworkers ? svc_worker_main : svc_light_main,
                           s) != 0)
            break;
        s->workers_started++;
    }
    *out = s;
    *port = bound;
    return SW_OK;

fail:
    if (s->server) {
        grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_shutdown_and_notify(s->server, cq, NULL);
        (void)grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                         NULL);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_next(
                   cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(cq);
        grpc_server_destroy(s->server);
    }
    for (i = 0; s->queues && i < s->nqueues; i++) {
        if (s->queues[i].cq) {
            grpc_completion_queue_shutdown(s->queues[i].cq);
            while (
                grpc_completion_queue_next(
                    s->queues[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                    .type != GRPC_QUEUE_SHUTDOWN)
                ;
            grpc_completion_queue_destroy(s->queues[i].cq);
        }
    }
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv[0]);
    pthread_cond_destroy(&s->wcv[1]);
    pthread_mutex_destroy(&s->tmu);
    pthread_cond_destroy(&s->tcv);
    pthread_mutex_destroy(&s->pmu);
    pthread_mutex_destroy(&s->smu);
    svc_rjobs_close(&s->rjobs);
    svc_idem_destroy(&s->idem);
    svc_rpc_table_free(s->methods, s->nmethods);
    sw_free(s->rm);
    sw_free(s->queues);
    sw_free(s->workers);
    sw_free(s);
    return rc;
}

void svc_server_stop(svc_server **sp, int64_t grace_ms)
{
    svc_server *s = sp ? *sp : NULL;
    grpc_completion_queue *scq;
    grpc_event ev;
    int64_t end;
    int i, tag = 0, idle = 0;

    if (s == NULL)
        return;
    *sp = NULL;
    atomic_store(&s->draining, 1);
    svc_drain_parked(s);
    scq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(s->server, scq, &tag);
    /* Wait for the calls in flight in short steps. gRPC core 1.51 sometimes
     * withholds the shutdown notification although no call is left (seen
     * about once in eight shutdowns under load); once none of ours has been
     * alive for two steps, cancelling is harmless and releases it. */
    end = sw_mono_ms() + grace_ms;
    for (;;) {
        int64_t now = sw_mono_ms();
        ev = grpc_completion_queue_pluck(
            scq, &tag,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(50, GPR_TIMESPAN)),
            NULL);
        if (ev.type != GRPC_QUEUE_TIMEOUT)
            break;
        idle = atomic_load(&s->active_calls) == 0 ? idle + 1 : 0;
        if (now >= end || idle >= 2) {
            if (now >= end)
                sw_log_warn("server.grace_expired", "grace_ms=%lld calls=%d",
                            (long long)grace_ms, atomic_load(&s->active_calls));
            grpc_server_cancel_all_calls(s->server);
            (void)grpc_completion_queue_pluck(
                scq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            break;
        }
    }
    /* A cancelled stream's failed read reaches a polling thread, which
     * queues the call for a worker to end and free it, possibly after the
     * shutdown notification: give the workers (bounded) until no client
     * call is left before stopping them, or such a call would never be
     * freed. */
    end = sw_mono_ms() + SVC_STOP_CALLS_MS;
    while (atomic_load(&s->active_calls) > 0 && sw_mono_ms() < end) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* Every call has now completed; let the workers finish what they hold. */
    pthread_mutex_lock(&s->wmu);
    s->wstop = 1;
    pthread_cond_broadcast(&s->wcv[0]);
    pthread_cond_broadcast(&s->wcv[1]);
    pthread_mutex_unlock(&s->wmu);
    for (i = 0; i < s->workers_started; i++)
        pthread_join(s->workers[i], NULL);
    for (i = 0; i < s->nqueues; i++)
        grpc_completion_queue_shutdown(s->queues[i].cq);
    for (i = 0; i < s->nqueues; i++) {
        if (s->queues[i].started)
            pthread_join(s->queues[i].thread, NULL);
        else
            while (
                grpc_completion_queue_next(
                    s->queues[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                    .type != GRPC_QUEUE_SHUTDOWN)
                ;
    }
    grpc_server_destroy(s->server);
    for (i = 0; i < s->nqueues; i++)
        grpc_completion_queue_destroy(s->queues[i].cq);
    grpc_completion_queue_shutdown(scq);
    (void)grpc_completion_queue_pluck(
        scq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_completion_queue_destroy(scq);
    if (atomic_load(&s->live_calls) != 0)
        sw_log_warn("server.calls_leaked", "calls=%d",
                    atomic_load(&s->live_calls));
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv[0]);
    pthread_cond_destroy(&s->wcv[1]);
    pthread_mutex_destroy(&s->tmu);
    pthread_cond_destroy(&s->tcv);
    pthread_mutex_destroy(&s->pmu);
    pthread_mutex_destroy(&s->smu);
    /* No call is left to watch a job: cancel the running one, join. */
    svc_rjobs_close(&s->rjobs);
    svc_idem_destroy(&s->idem);
    svc_rpc_table_free(s->methods, s->nmethods);
    sw_free(s->rm);
    sw_free(s->queues);
    sw_free(s->workers);
    sw_free(s);
}
