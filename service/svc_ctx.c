/* svc_ctx: the call context a handler sees (svc_rpc.h): its accessors,
 * failures with their details (svc_status.h), page sizes, deadlines and
 * cancellation. The machinery around it is svc_server.c. */
#include "service/svc_server_int.h"

#include <grpc/support/time.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_util.h"
#include "proto/msg.h"

/* --- context accessors (declared in svc_rpc.h) -------------------------- */

struct sw_arena *svc_ctx_arena(struct svc_ctx *c)
{
    return &c->arena;
}

_Static_assert(sizeof(((struct svc_ctx *)0)->page_digest) == SW_SHA256_LEN,
               "a page digest is a SHA-256");

unsigned char *svc_ctx_page_digest(struct svc_ctx *c, int **set)
{
    *set = &c->page_digest_set;
    return c->page_digest;
}

void *svc_ctx_new(struct svc_ctx *c, const ProtobufCMessageDescriptor *d)
{
    return msg_new(d, &c->arena);
}
struct store *svc_ctx_store(struct svc_ctx *c)
{
    return c->srv->st;
}

struct rank_ranker *svc_ctx_ranker(struct svc_ctx *c)
{
    return c->srv->ranker;
}

struct rank_engine *svc_ctx_engine(struct svc_ctx *c)
{
    return c->srv->engine;
}

struct svc_rjobs *svc_ctx_rjobs(struct svc_ctx *c)
{
    return c->srv->rjobs;
}

struct svc_metrics *svc_ctx_metrics(struct svc_ctx *c)
{
    return c->srv->mx;
}

struct ingest_pipeline *svc_ctx_ingest(struct svc_ctx *c)
{
    return c->srv->ingest;
}

struct ingest_imap_sync *svc_ctx_mailbox(struct svc_ctx *c)
{
    return c->srv->mailbox;
}
const char *svc_ctx_team(struct svc_ctx *c)
{
    return c->id.team_id;
}
const char *svc_ctx_key_id(struct svc_ctx *c)
{
    return c->id.key_id;
}
int svc_ctx_is_admin(struct svc_ctx *c)
{
    return c->id.is_admin;
}
const char *svc_ctx_rep_email(struct svc_ctx *c)
{
    return c->id.rep_email ? c->id.rep_email : "";
}

sw_err svc_ctx_rep_identity(struct svc_ctx *c, const char *field,
                            const char *given, const char **out)
{
    const char *rep = svc_ctx_rep_email(c);

    if (given == NULL)
        given = "";
    /* A team key speaks for any rep; a rep key only for its own. */
    if (rep[0] == '\0' || given[0] == '\0' || strcasecmp(given, rep) == 0) {
        *out = rep[0] ? rep : given;
        return SW_OK;
    }
    svc_ctx_reason(c, "REP_IDENTITY_MISMATCH");
    svc_ctx_meta(c, "rep_email", "%s", rep);
    return svc_ctx_fail_field(c, SW_EPERM, field,
                              "is %.320s, but this rep key acts as %s: leave "
                              "it empty or give the key's rep",
                              given, rep);
}
int svc_ctx_draining(struct svc_ctx *c)
{
    return atomic_load(&c->srv->draining);
}

sw_err svc_ctx_fail(struct svc_ctx *c, sw_err e, const char *fmt, ...)
{
    struct sw_buf b;
    va_list ap;

    sw_buf_init(&b, 4096);
    va_start(ap, fmt);
    if (sw_buf_vprintf(&b, fmt, ap) == SW_OK)
        c->fail_msg = sw_arena_strdup(&c->arena, sw_buf_str(&b));
    va_end(ap);
    sw_buf_free(&b);
    return e;
}

sw_err svc_ctx_fail_field(struct svc_ctx *c, sw_err e, const char *field,
                          const char *fmt, ...)
{
    struct sw_buf b;
    va_list ap;

    sw_buf_init(&b, 4096);
    va_start(ap, fmt);
    if (sw_buf_vprintf(&b, fmt, ap) == SW_OK) {
        c->fail_msg =
            sw_arena_printf(&c->arena, "%s %s", field, sw_buf_str(&b));
        svc_status_add_field(&c->fail, &c->arena, field, sw_buf_str(&b));
    }
    va_end(ap);
    sw_buf_free(&b);
    return e;
}

void svc_ctx_reason(struct svc_ctx *c, const char *reason)
{
    c->fail.reason = reason;
}

void svc_ctx_meta(struct svc_ctx *c, const char *key, const char *fmt, ...)
{
    struct sw_buf b;
    va_list ap;

    sw_buf_init(&b, 1024);
    va_start(ap, fmt);
    if (sw_buf_vprintf(&b, fmt, ap) == SW_OK)
        svc_status_add_meta(&c->fail, &c->arena, key, sw_buf_str(&b));
    va_end(ap);
    sw_buf_free(&b);
}

/* svc__trailer sets c's grpc-status-details-bin trailer for an error
 * answered with status and msg, and points op at it; without memory the
 * answer goes without it. */
void svc__trailer(struct svc_ctx *c, grpc_op *op, int status, const char *msg,
                  sw_err rc)
{
    grpc_slice v;

    if (c->has_trail || svc_status_pack(status, msg, rc, &c->fail, &v) != SW_OK)
        return;
    c->trail_md.key = grpc_slice_from_static_string("grpc-status-details-bin");
    c->trail_md.value = v;
    c->has_trail = 1;
    op->data.send_status_from_server.trailing_metadata_count = 1;
    op->data.send_status_from_server.trailing_metadata = &c->trail_md;
}

sw_err svc_ctx_fail_buf_field(struct svc_ctx *c, sw_err e, const char *field,
                              const struct sw_buf *why)
{
    if (e != SW_EINVAL || why == NULL || sw_buf_len(why) == 0)
        return svc_ctx_fail_buf(c, e, why);
    c->fail_msg = sw_arena_strdup(&c->arena, sw_buf_str(why));
    svc_status_add_field(&c->fail, &c->arena, field, sw_buf_str(why));
    return e;
}

sw_err svc_ctx_fail_buf(struct svc_ctx *c, sw_err e, const struct sw_buf *why)
{
    if (why && sw_buf_len(why) > 0)
        return svc_ctx_fail(c, e, "%s", sw_buf_str(why));
    return e;
}

sw_err svc_ctx_page_size(struct svc_ctx *c, int32_t page_size)
{
    if (page_size < 0)
        return svc_ctx_fail_field(c, SW_EINVAL, "page_size",
                                  "must not be negative (0 means the "
                                  "default)");
    return SW_OK;
}

sw_err svc_ctx_page(struct svc_ctx *c, int32_t page_size, int *out)
{
    sw_err rc = svc_ctx_page_size(c, page_size);

    if (rc == SW_OK)
        *out = page_size > SVC_MAX_PAGE_SIZE ? SVC_MAX_PAGE_SIZE : page_size;
    return rc;
}

sw_err svc_ctx_list(struct svc_ctx *c, const ProtobufCMessageDescriptor *d,
                    const char *field, size_t n, svc_list_item_fn item,
                    void *arg, const char *next, ProtobufCMessage **resp)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, field);
    const ProtobufCFieldDescriptor *nf =
        protobuf_c_message_descriptor_get_field_by_name(d, "next_page_token");
    ProtobufCMessage *m, **items;
    size_t i;

    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED ||
        f->type != PROTOBUF_C_TYPE_MESSAGE ||
        (nf && nf->type != PROTOBUF_C_TYPE_STRING))
        return SW_EINTERNAL;
    m = msg_new(d, &c->arena);
    items = sw_arena_alloc(&c->arena, (n ? n : 1) * sizeof(*items));
    if (m == NULL || items == NULL)
        return SW_ENOMEM;
    for (i = 0; i < n; i++) {
        items[i] = item(c, i, arg);
        if (items[i] == NULL)
            return SW_ENOMEM;
    }
    *(size_t *)((char *)m + f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)m + f->offset) = items;
    if (nf && next && next[0])
        *(char **)((char *)m + nf->offset) = svc_ctx_str(c, next);
    if (c->oom)
        return SW_ENOMEM;
    *resp = m;
    return SW_OK;
}

char *svc_ctx_str(struct svc_ctx *c, const char *s)
{
    char *p;

    if (s == NULL)
        return (char *)protobuf_c_empty_string;
    p = sw_arena_strdup(&c->arena, s);
    if (p == NULL) {
        c->oom = 1;
        return (char *)protobuf_c_empty_string;
    }
    return p;
}

int svc_ctx_oom(struct svc_ctx *c)
{
    return c->oom;
}

sw_err svc_ctx_done_reason(struct svc_ctx *c)
{
    if (atomic_load(&c->closed))
        return SW_ECANCELLED;
    if (gpr_time_cmp(c->deadline, gpr_now(c->deadline.clock_type)) <= 0)
        return SW_ETIMEOUT;
    return SW_OK;
}

int svc_ctx_done(struct svc_ctx *c)
{
    return svc_ctx_done_reason(c) != SW_OK;
}

int svc_ctx_wait(struct svc_ctx *c, int64_t ms)
{
    int64_t end = sw_mono_ms() + ms;

    /* Wake at least every 100 ms to notice the deadline and draining. */
    pthread_mutex_lock(&c->mu);
    while (!svc_ctx_done(c) && !atomic_load(&c->srv->draining)) {
        int64_t now = sw_mono_ms(), step;
        struct timespec ts;
        if (now >= end)
            break;
        step = end - now < 100 ? end - now : 100;
        sw_timespec_in(CLOCK_REALTIME, step, &ts);
        (void)pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return svc_ctx_done(c);
}
