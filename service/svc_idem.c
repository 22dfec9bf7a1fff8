/* svc_idem: idempotent creates (svc_idem.h). */
#include "service/svc_idem.h"

#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "proto/msg.h"
#include "service/svc_rpc.h"

#define SVC_IDEM_SECRET "request_id"
#define SVC_IDEM_HEAD (8 + SW_SHA256_LEN) /* time, request digest */
#define SVC_IDEM_PRUNE 64    /* expired records dropped per new record */
#define SVC_IDEM_KEY_MAX 511 /* LMDB's longest key */

sw_err svc_idem_init(struct store *s, struct svc_idem *out)
{
    sw_err rc = store_secret(s, SVC_IDEM_SECRET, out->key);
    size_t i;

    for (i = 0; rc == SW_OK && i < SVC_IDEM_STRIPES; i++)
        pthread_mutex_init(&out->mu[i], NULL);
    return rc;
}

void svc_idem_destroy(struct svc_idem *m)
{
    size_t i;

    for (i = 0; i < SVC_IDEM_STRIPES; i++)
        pthread_mutex_destroy(&m->mu[i]);
}

/* svc_idem_lock picks the lock of team, method and request_id (FNV-1a):
 * the same request always gets the same one. */
static pthread_mutex_t *svc_idem_lock(struct svc_ctx *c, struct svc_idem *m,
                                      const char *method, const char *id)
{
    const char *parts[3] = {svc_ctx_team(c), method, id};
    uint64_t h = 1469598103934665603ULL;
    const char *p;
    size_t i;

    for (i = 0; i < 3; i++) {
        for (p = parts[i] ? parts[i] : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xffu) * 1099511628211ULL; /* a separator */
    }
    return &m->mu[h % SVC_IDEM_STRIPES];
}

const char *svc_idem_request_id(const ProtobufCMessage *req)
{
    const ProtobufCFieldDescriptor *f;
    const char *id;

    if (req == NULL)
        return NULL;
    f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor,
                                                        "request_id");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
        f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    id = *(const char *const *)((const char *)req + f->offset);
    return id && id[0] ? id : NULL;
}

/* svc_idem_key writes team\0method\0request_id; the method and team also
 * make the associated data of the sealed response. */
static SW_MUST_CHECK sw_err svc_idem_key(struct svc_ctx *c, const char *method,
                                         const char *id, struct sw_buf *k)
{
    sw_err rc = store_key(k, svc_ctx_team(c), method, strlen(method) + 1);

    return rc ? rc : sw_buf_addstr(k, id);
}

static void svc_idem_digest(struct svc_ctx *c, const ProtobufCMessage *req,
                            unsigned char out[SW_SHA256_LEN])
{
    size_t n = msg_packed_size(req);
    uint8_t *p = sw_arena_alloc(svc_ctx_arena(c), n ? n : 1);

    memset(out, 0, SW_SHA256_LEN);
    if (p) {
        msg_pack_to(req, p);
        sw_sha256(p, n, out);
    }
}

struct svc_idem_get {
    struct sw_buf *k;
    struct sw_buf *val; /* a copy of the record */
};

static SW_MUST_CHECK sw_err svc_idem_get_txn(store_txn *t, void *arg)
{
    struct svc_idem_get *g = arg;
    const void *v;
    size_t vl;
    sw_err rc = store_get(t, STORE_DB_REQUEST_IDS, sw_buf_str(g->k),
                          sw_buf_len(g->k), &v, &vl);

    sw_buf_reset(g->val);
    return rc ? rc : sw_buf_add(g->val, v, vl);
}

sw_err svc_idem_begin(struct svc_ctx *c, struct svc_idem *m, const char *method,
                      const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_d,
                      ProtobufCMessage **resp)
{
    const char *id = svc_idem_request_id(req);
    unsigned char digest[SW_SHA256_LEN], *plain;
    struct sw_buf k, val;
    struct svc_idem_get g = {&k, &val};
    const unsigned char *v;
    size_t n;
    sw_err rc;

    *resp = NULL;
    pthread_mutex_lock(svc_idem_lock(c, m, method, id));
    if (strlen(id) > SVC_IDEM_ID_MAX)
        return svc_ctx_fail_field(c, SW_EINVAL, "request_id",
                                  "is longer than %d bytes", SVC_IDEM_ID_MAX);
    sw_buf_init(&k, SVC_IDEM_KEY_MAX);
    sw_buf_init(&val, 64 << 20);
    rc = svc_idem_key(c, method, id, &k);
    if (rc == SW_OK)
        rc = store_view(svc_ctx_store(c), svc_idem_get_txn, &g);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK; /* the first call: run it */
        goto out;
    }
    if (rc)
        goto out;
    v = (const unsigned char *)sw_buf_str(&val);
    n = sw_buf_len(&val);
    if (n < SVC_IDEM_HEAD + SW_AEAD_OVERHEAD ||
        sw_now_ms() - (int64_t)store_u64_get(v) > SVC_IDEM_TTL_MS) {
        rc = SW_OK; /* expired (or damaged): run it again */
        goto out;
    }
    svc_idem_digest(c, req, digest);
    if (memcmp(digest, v + 8, SW_SHA256_LEN) != 0) {
        svc_ctx_reason(c, "REQUEST_ID_REUSED");
        rc = svc_ctx_fail_field(c, SW_EINVAL, "request_id",
                                "was used for a different request within "
                                "the last 24 hours; use a new one");
        goto out;
    }
    n -= SVC_IDEM_HEAD;
    plain = sw_arena_alloc(svc_ctx_arena(c), n);
    rc = plain ? sw_aead_open(m->key, sw_buf_str(&k), sw_buf_len(&k),
                              v + SVC_IDEM_HEAD, n, plain)
               : SW_ENOMEM;
    if (rc == SW_ECORRUPT) {
        /* Sealed by another node's key: the team moved here after the
         * first call (TeamMoveService). The request was applied; running
         * it again would apply it twice, and its answer cannot be shown. */
        svc_ctx_reason(c, "REQUEST_REPLAY_UNAVAILABLE");
        rc = svc_ctx_fail_field(c, SW_ESTATE, "request_id",
                                "was applied on the node this team lived on "
                                "before it moved here; its response cannot "
                                "be replayed: read the result instead");
        goto out;
    }
    if (rc == SW_OK)
        rc = msg_decode(resp_d, plain, n - SW_AEAD_OVERHEAD, svc_ctx_arena(c),
                        resp);
    if (rc == SW_OK)
        sw_log_info("rpc.idempotent_repeat", "method=%s team=%s", method,
                    svc_ctx_team(c));
out:
    sw_buf_free(&val);
    sw_buf_free(&k);
    return rc;
}

struct svc_idem_put {
    struct sw_buf *k;
    const struct sw_buf *val;
    int64_t now;
};

/* svc_idem_prune_cb collects up to SVC_IDEM_PRUNE expired keys. */
struct svc_idem_prune {
    int64_t now;
    struct sw_buf keys; /* length-prefixed keys */
    int n;
};

static SW_MUST_CHECK sw_err svc_idem_prune_cb(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct svc_idem_prune *p = arg;
    uint32_t len = (uint32_t)kl;
    sw_err rc;

    if (vl >= 8 && p->now - (int64_t)store_u64_get(v) <= SVC_IDEM_TTL_MS)
        return SW_OK;
    rc = sw_buf_add(&p->keys, &len, sizeof(len));
    if (rc == SW_OK)
        rc = sw_buf_add(&p->keys, k, kl);
    return rc ? rc : ++p->n >= SVC_IDEM_PRUNE ? STORE_SCAN_STOP : SW_OK;
}

static SW_MUST_CHECK sw_err svc_idem_put_txn(store_txn *t, void *arg)
{
    struct svc_idem_put *a = arg;
    struct svc_idem_prune p;
    const char *team = sw_buf_str(a->k);
    size_t off = 0;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    p.now = a->now;
    sw_buf_init(&p.keys, 1 << 20);
    /* The team's expired records go as new ones come. */
    rc = store_scan(t, STORE_DB_REQUEST_IDS, team, strlen(team) + 1, NULL, 0,
                    svc_idem_prune_cb, &p);
    while (rc == SW_OK && off < sw_buf_len(&p.keys)) {
        uint32_t len;
        memcpy(&len, sw_buf_str(&p.keys) + off, sizeof(len));
        rc = store_del(t, STORE_DB_REQUEST_IDS,
                       sw_buf_str(&p.keys) + off + sizeof(len), len);
        off += sizeof(len) + len;
    }
    sw_buf_free(&p.keys);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_REQUEST_IDS, sw_buf_str(a->k),
                       sw_buf_len(a->k), sw_buf_str(a->val), sw_buf_len(a->val),
                       0);
    return rc;
}

void svc_idem_end(struct svc_ctx *c, struct svc_idem *m, const char *method,
                  const ProtobufCMessage *req, const ProtobufCMessage *resp,
                  int ok)
{
    const char *id = svc_idem_request_id(req);
    unsigned char head[SVC_IDEM_HEAD], *packed, *sealed;
    struct sw_buf k, val;
    struct svc_idem_put a = {&k, &val, sw_now_ms()};
    size_t n;
    sw_err rc = SW_OK;

    if (!ok || resp == NULL || id == NULL) {
        pthread_mutex_unlock(svc_idem_lock(c, m, method, id));
        return;
    }
    sw_buf_init(&k, SVC_IDEM_KEY_MAX);
    sw_buf_init(&val, 64 << 20);
    n = msg_packed_size(resp);
    packed = sw_arena_alloc(svc_ctx_arena(c), n ? n : 1);
    sealed = sw_arena_alloc(svc_ctx_arena(c), n + SW_AEAD_OVERHEAD);
    if (packed == NULL || sealed == NULL)
        rc = SW_ENOMEM;
    if (rc == SW_OK) {
        msg_pack_to(resp, packed);
        store_u64_put(head, (uint64_t)a.now);
        svc_idem_digest(c, req, head + 8);
        rc = svc_idem_key(c, method, id, &k);
    }
    if (rc == SW_OK)
        rc = sw_aead_seal(m->key, sw_buf_str(&k), sw_buf_len(&k), packed, n,
                          sealed);
    if (rc == SW_OK)
        rc = sw_buf_add(&val, head, sizeof(head));
    if (rc == SW_OK)
        rc = sw_buf_add(&val, sealed, n + SW_AEAD_OVERHEAD);
    if (rc == SW_OK)
        rc = store_update(svc_ctx_store(c), svc_idem_put_txn, &a);
    if (rc)
        sw_log_warn("rpc.request_id_not_kept", "method=%s team=%s err=%s",
                    method, svc_ctx_team(c), sw_err_name(rc));
    pthread_mutex_unlock(svc_idem_lock(c, m, method, id));
    sw_buf_free(&val);
    sw_buf_free(&k);
}
