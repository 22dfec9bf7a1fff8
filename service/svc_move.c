/* svc_move: TeamMoveService (svc_move.h). */
#include "service/svc_move.h"

#include <pthread.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ingest/imap_sync.h"
#include "snipwise/v1/move.pb-c.h"
#include "store/store_move.h"
#include "store/store_tenant.h"

#define SVC_WHY_MAX 1024
#define SVC_MOVE_DRAIN_MS 30000
#define SVC_MOVE_BATCH_BYTES (1 << 20)
#define SVC_MOVE_BATCH_MAX (16 << 20)
#define SVC_MOVE_IMPORTS_MAX 16
#define SVC_MOVE_PIECE (1 << 20)             /* a large value's pieces */
#define SVC_MOVE_VALUE_MAX ((size_t)2 << 30) /* LMDB's practical limit */

/* svc_move_fail turns a store error and its why into the call's status. */
static sw_err svc_move_fail(struct svc_ctx *c, sw_err rc, struct sw_buf *why,
                            const char *team, const char *what)
{
    if (sw_buf_len(why))
        return svc_ctx_fail_buf(c, rc, why);
    if (rc == SW_ENOTFOUND)
        return svc_ctx_fail(c, rc, "no team '%s' on this node", team);
    return svc_ctx_fail(c, rc, "%s of team %s failed: %s", what, team,
                        sw_err_str(rc));
}

/* svc_move_state fills m with where team stands on this node. */
static sw_err svc_move_state(struct svc_ctx *c, const char *team,
                             Snipwise__V1__TeamMove *m)
{
    struct store *st = svc_ctx_store(c);
    struct store_team t;
    struct store_move mv;
    char *node = NULL;
    sw_err rc;

    memset(&t, 0, sizeof(t));
    memset(&mv, 0, sizeof(mv));
    m->team_id = svc_ctx_str(c, team);
    rc = store_team_get(st, team, &t, NULL);
    store_team_clear(&t);
    if (rc && rc != SW_ENOTFOUND)
        return rc;
    if (rc == SW_OK)
        m->state = SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_SERVING;
    else if (store_team_moved_to(st, team, &node) == SW_OK)
        m->state = SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_MOVED;
    else
        m->state = SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_ABSENT;
    sw_free(node);
    rc = store_team_move_get(st, team, &mv);
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    if (rc)
        return rc;
    if (m->state == SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_SERVING &&
        mv.state == STORE_MOVE_FROZEN)
        m->state = SNIPWISE__V1__TEAM_MOVE_STATE__TEAM_MOVE_STATE_FROZEN;
    m->target_node = svc_ctx_str(c, mv.target_node);
    m->start_time_unix_ms = mv.start_ms;
    m->finish_time_unix_ms = mv.done_ms;
    m->records = (int64_t)mv.export_records;
    m->bytes = (int64_t)mv.export_bytes;
    store_move_clear(&mv);
    return svc_ctx_oom(c) ? SW_ENOMEM : SW_OK;
}

/* svc_move_answer makes the TeamMove reply for team. */
static sw_err svc_move_answer(struct svc_ctx *c, const char *team,
                              ProtobufCMessage **resp)
{
    Snipwise__V1__TeamMove *m =
        svc_ctx_new(c, &snipwise__v1__team_move__descriptor);
    sw_err rc;

    if (m == NULL)
        return SW_ENOMEM;
    rc = svc_move_state(c, team, m);
    if (rc)
        return svc_ctx_fail(c, rc, "could not read the move state of %s", team);
    *resp = &m->base;
    return SW_OK;
}

sw_err svc_move_freeze(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__FreezeTeamRequest *r = (const void *)req;
    int64_t drain =
        r->drain_timeout_ms > 0 ? r->drain_timeout_ms : SVC_MOVE_DRAIN_MS;
    struct sw_buf why;
    sw_err rc;

    if (r->target_node[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "target_node",
                                  "is required: the node the team moves to");
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_freeze(svc_ctx_store(c), r->team_id, r->target_node, NULL,
                           &why);
    if (rc) {
        rc = svc_move_fail(c, rc, &why, r->team_id, "freezing");
        sw_buf_free(&why);
        return rc;
    }
    sw_buf_free(&why);
    /* Frozen: new writes are refused. Those already counted finish. */
    rc = svc_ctx_drain_writes(c, r->team_id, drain);
    if (rc == SW_ETIMEOUT)
        return svc_ctx_fail(c, rc,
                            "team %s is frozen, but writes begun before "
                            "still run after %lld ms; call FreezeTeam again "
                            "to wait more, or AbortTeamMove",
                            r->team_id, (long long)drain);
    if (rc)
        return rc;
    sw_log_info("move.frozen", "team=%s target=%s", r->team_id, r->target_node);
    return svc_move_answer(c, r->team_id, resp);
}

/* --- ExportTeam ---------------------------------------------------------- */

/* The batch being filled; sent when its keys and values reach max. A value
 * over max or SVC_MOVE_PIECE goes in pieces (TeamRecord.value_size and
 * value_offset), so no message is much larger than twice max whatever the
 * records. */
struct svc_export_batch {
    struct svc_ctx *c;
    struct sw_arena a;
    Snipwise__V1__TeamRecordBatch b;
    size_t cap, bytes, max;
};

static void svc_export_reset(struct svc_export_batch *e)
{
    sw_arena_free(&e->a);
    snipwise__v1__team_record_batch__init(&e->b);
    e->cap = 0;
    e->bytes = 0;
}

/* svc_export_flush sends the batch (the last one with the totals). */
static sw_err svc_export_flush(struct svc_export_batch *e,
                               struct store_team_export *last)
{
    uint64_t n, bytes;
    sw_err rc;

    if (last) {
        store_team_export_stats(last, &n, &bytes);
        e->b.last = 1;
        e->b.total_records = (int64_t)n;
        e->b.total_bytes = (int64_t)bytes;
    }
    rc = svc_ctx_send(e->c, &e->b.base);
    svc_export_reset(e);
    return rc;
}

/* svc_export_piece appends one TeamRecord: all of r's value, or the piece
 * at off. The store's bytes stay valid until the export ends, so they are
 * pointed to, not copied. */
static sw_err svc_export_piece(struct svc_export_batch *e,
                               const struct store_move_rec *r, size_t off,
                               size_t len)
{
    Snipwise__V1__TeamRecord *rec;

    if (e->b.n_records == e->cap) {
        size_t nc = e->cap ? 2 * e->cap : 256;
        Snipwise__V1__TeamRecord **p = sw_arena_alloc(&e->a, nc * sizeof(*p));
        if (p == NULL)
            return SW_ENOMEM;
        if (e->cap)
            memcpy(p, e->b.records, e->cap * sizeof(*p));
        e->b.records = p;
        e->cap = nc;
    }
    rec = sw_arena_alloc(&e->a, sizeof(*rec));
    if (rec == NULL)
        return SW_ENOMEM;
    snipwise__v1__team_record__init(rec);
    rec->db = (char *)r->db;
    rec->key.data = (uint8_t *)r->key;
    rec->key.len = r->klen;
    rec->value.data = (uint8_t *)r->val + off;
    rec->value.len = len;
    if (len < r->vlen) {
        rec->value_size = (int64_t)r->vlen;
        rec->value_offset = (int64_t)off;
    }
    e->b.records[e->b.n_records++] = rec;
    e->bytes += r->klen + len;
    return SW_OK;
}

/* svc_export_add is the store's callback: the record, in pieces if
 * large, sending the batch whenever it is full. */
static sw_err svc_export_add(const struct store_move_rec *r, void *arg)
{
    struct svc_export_batch *e = arg;
    size_t off = 0;
    sw_err rc = SW_OK;

    do {
        /* Pieces no larger than a batch: a small batch_bytes cuts
         * ordinary records too (the tests move teams so). */
        size_t piece = e->max < SVC_MOVE_PIECE ? e->max : SVC_MOVE_PIECE;
        size_t len = r->vlen - off > piece ? piece : r->vlen - off;
        rc = svc_export_piece(e, r, off, len);
        if (rc == SW_OK && e->bytes >= e->max)
            rc = svc_export_flush(e, NULL);
        off += len;
    } while (rc == SW_OK && off < r->vlen);
    return rc;
}

sw_err svc_move_export(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__ExportTeamRequest *r = (const void *)req;
    struct store_team_export *exp = NULL;
    struct svc_export_batch e;
    uint64_t n = 0, bytes = 0;
    int done = 0;
    struct sw_buf why;
    sw_err rc;

    (void)resp;
    memset(&e, 0, sizeof(e));
    e.c = c;
    e.max = r->batch_bytes > 0 ? (size_t)r->batch_bytes : SVC_MOVE_BATCH_BYTES;
    if (e.max > SVC_MOVE_BATCH_MAX)
        e.max = SVC_MOVE_BATCH_MAX;
    sw_arena_init(&e.a, 0);
    snipwise__v1__team_record_batch__init(&e.b);
    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_export_begin(svc_ctx_store(c), r->team_id, &exp, &why);
    if (rc) {
        rc = svc_move_fail(c, rc, &why, r->team_id, "exporting");
        sw_buf_free(&why);
        return rc;
    }
    sw_buf_free(&why);
    /* Each call passes at least one record or ends the export, so the
     * loop ends; a send that fails (the client went away) ends it too. */
    while (rc == SW_OK && !done)
        rc = store_team_export_next(exp, svc_export_add, &e, e.max, &done);
    if (rc == SW_OK)
        rc = svc_export_flush(&e, exp);
    store_team_export_stats(exp, &n, &bytes);
    store_team_export_end(&exp);
    svc_export_reset(&e);
    if (rc == SW_OK)
        sw_log_info("move.exported", "team=%s records=%llu bytes=%llu",
                    r->team_id, (unsigned long long)n,
                    (unsigned long long)bytes);
    return rc;
}

/* --- ImportTeam ---------------------------------------------------------- */

/* The teams being imported on this node: one import of a team at a time
 * (store_move.h leaves that to its caller). */
static pthread_mutex_t svc_imports_mu = PTHREAD_MUTEX_INITIALIZER;
static char svc_imports[SVC_MOVE_IMPORTS_MAX][STORE_ROUTE_LEN + 1];

static int svc_import_claim(const char *team)
{
    int i, free_slot = -1;

    if (strlen(team) != STORE_ROUTE_LEN)
        return -1;
    pthread_mutex_lock(&svc_imports_mu);
    for (i = 0; i < SVC_MOVE_IMPORTS_MAX; i++) {
        if (strcmp(svc_imports[i], team) == 0) {
            free_slot = -1;
            break;
        }
        if (svc_imports[i][0] == '\0' && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0)
        memcpy(svc_imports[free_slot], team, STORE_ROUTE_LEN + 1);
    pthread_mutex_unlock(&svc_imports_mu);
    return free_slot;
}

static void svc_import_release(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&svc_imports_mu);
    svc_imports[slot][0] = '\0';
    pthread_mutex_unlock(&svc_imports_mu);
}

struct svc_import {
    char team[STORE_ROUTE_LEN + 1];
    int slot; /* in svc_imports; -1 before the first message */
    int committed;
    int64_t records, bytes;
    struct sw_buf why;
    /* A value arriving in pieces: its database, key and the bytes so far
     * (value_size, value_offset). */
    struct sw_buf pdb, pkey, pval;
    size_t psize;
};

/* svc_import_first starts the import the first message names. */
static sw_err svc_import_first(struct svc_ctx *c, struct svc_import *im,
                               const char *team)
{
    sw_err rc;

    if (team[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "team_id",
                                  "is required in the first message");
    if (strlen(team) != STORE_ROUTE_LEN)
        return svc_ctx_fail_field(c, SW_EINVAL, "team_id", "is not a team id");
    im->slot = svc_import_claim(team);
    if (im->slot < 0)
        return svc_ctx_fail(c, SW_ESTATE,
                            "an import of team %s is already running here, "
                            "or too many imports are",
                            team);
    memcpy(im->team, team, STORE_ROUTE_LEN + 1);
    rc = store_team_import_begin(svc_ctx_store(c), team, &im->why);
    if (rc == SW_EEXIST)
        return svc_ctx_fail(c, rc, "team %s is already served by this node",
                            team);
    if (rc)
        return svc_move_fail(c, rc, &im->why, team, "importing");
    return SW_OK;
}

/* svc_import_write writes recs[0..n) in one transaction. */
static sw_err svc_import_write(struct svc_ctx *c, struct svc_import *im,
                               const struct store_move_rec *recs, size_t n)
{
    sw_err rc;

    if (n == 0)
        return SW_OK;
    rc = store_team_import_put(svc_ctx_store(c), im->team, recs, n, &im->why);
    if (rc)
        return svc_move_fail(c, rc, &im->why, im->team, "importing");
    im->records += (int64_t)n;
    return SW_OK;
}

/* svc_import_piece adds a piece of a large value; *whole is set once the
 * value is complete (im->pdb/pkey/pval then hold the record). */
static sw_err svc_import_piece(struct svc_ctx *c, struct svc_import *im,
                               const Snipwise__V1__TeamRecord *t, int *whole)
{
    sw_err rc = SW_OK;

    *whole = 0;
    if (t->value_offset == 0) {
        if (t->value_size <= 0 || (size_t)t->value_size > SVC_MOVE_VALUE_MAX)
            return svc_ctx_fail(c, SW_EINVAL, "a value of %lld bytes",
                                (long long)t->value_size);
        sw_buf_reset(&im->pdb);
        sw_buf_reset(&im->pkey);
        sw_buf_reset(&im->pval);
        im->psize = (size_t)t->value_size;
        rc = sw_buf_addstr(&im->pdb, t->db);
        if (rc == SW_OK)
            rc = sw_buf_add(&im->pkey, t->key.data, t->key.len);
    } else if (im->psize == 0 ||
               (size_t)t->value_offset != sw_buf_len(&im->pval) ||
               (size_t)t->value_size != im->psize ||
               strcmp(t->db, sw_buf_str(&im->pdb)) != 0 ||
               t->key.len != sw_buf_len(&im->pkey) ||
               memcmp(t->key.data, sw_buf_str(&im->pkey), t->key.len) != 0)
        return svc_ctx_fail(c, SW_EINVAL,
                            "a piece of a value out of order (db %s, offset "
                            "%lld)",
                            t->db, (long long)t->value_offset);
    if (rc == SW_OK && sw_buf_len(&im->pval) + t->value.len > im->psize)
        return svc_ctx_fail(c, SW_EINVAL, "a value's pieces overflow it");
    if (rc == SW_OK)
        rc = sw_buf_add(&im->pval, t->value.data, t->value.len);
    if (rc)
        return rc;
    *whole = sw_buf_len(&im->pval) == im->psize;
    if (*whole)
        im->psize = 0;
    return SW_OK;
}

/* svc_import_put writes one message's records: whole ones together in one
 * transaction, a large value when its last piece arrives. */
static sw_err svc_import_put(struct svc_ctx *c, struct svc_import *im,
                             const Snipwise__V1__ImportTeamRequest *r)
{
    struct store_move_rec *recs;
    size_t i, n = 0;
    int whole;
    sw_err rc = SW_OK;

    recs = sw_calloc(r->n_records, sizeof(*recs));
    if (recs == NULL)
        return SW_ENOMEM;
    for (i = 0; rc == SW_OK && i < r->n_records; i++) {
        const Snipwise__V1__TeamRecord *t = r->records[i];
        im->bytes += (int64_t)t->value.len;
        if (t->value_size == 0) {
            im->bytes += (int64_t)t->key.len;
            recs[n++] = (struct store_move_rec){t->db, t->key.data, t->key.len,
                                                t->value.data, t->value.len};
            continue;
        }
        if (t->value_offset == 0)
            im->bytes += (int64_t)t->key.len;
        rc = svc_import_piece(c, im, t, &whole);
        if (rc || !whole)
            continue;
        /* In order: what came before it, then the assembled record. */
        rc = svc_import_write(c, im, recs, n);
        n = 0;
        if (rc == SW_OK) {
            struct store_move_rec big = {
                sw_buf_str(&im->pdb), sw_buf_str(&im->pkey),
                sw_buf_len(&im->pkey), sw_buf_str(&im->pval),
                sw_buf_len(&im->pval)};
            rc = svc_import_write(c, im, &big, 1);
        }
    }
    if (rc == SW_OK)
        rc = svc_import_write(c, im, recs, n);
    sw_free(recs);
    return rc;
}

static sw_err svc_import_item(struct svc_ctx *c, void *state,
                              ProtobufCMessage *m, sw_err rc)
{
    struct svc_import *im = state;
    const Snipwise__V1__ImportTeamRequest *r = (const void *)m;

    if (rc == SW_EPARSE)
        return svc_ctx_fail(c, SW_EINVAL,
                            "a message of the stream does not "
                            "decode as an ImportTeamRequest");
    if (im->committed)
        return svc_ctx_fail(c, SW_EINVAL,
                            "a message after the commit: the commit ends "
                            "the import");
    sw_buf_reset(&im->why);
    if (im->slot < 0) {
        rc = svc_import_first(c, im, r->team_id);
        if (rc)
            return rc;
    } else if (r->team_id[0] && strcmp(r->team_id, im->team) != 0)
        return svc_ctx_fail_field(c, SW_EINVAL, "team_id",
                                  "changed within the stream");
    if (r->n_records) {
        rc = svc_import_put(c, im, r);
        if (rc)
            return rc;
    }
    if (!r->commit)
        return SW_OK;
    if (im->psize)
        return svc_ctx_fail(c, SW_EINVAL,
                            "the commit came before the last piece of a "
                            "value");
    rc = store_team_import_commit(svc_ctx_store(c), im->team, &im->why);
    if (rc)
        return svc_move_fail(c, rc, &im->why, im->team, "committing");
    im->committed = 1;
    sw_log_info("move.imported", "team=%s records=%lld bytes=%lld", im->team,
                (long long)im->records, (long long)im->bytes);
    /* The team's mailboxes, if any, now sync here. */
    if (svc_ctx_mailbox(c))
        ingest_imap_sync_wake(svc_ctx_mailbox(c));
    return SW_OK;
}

static sw_err svc_import_end(struct svc_ctx *c, void *state, sw_err rc,
                             ProtobufCMessage **resp)
{
    struct svc_import *im = state;
    Snipwise__V1__ImportTeamResponse *out;

    if (rc == SW_OK && im->slot >= 0 && !im->committed)
        rc = svc_ctx_fail(c, SW_ESTATE,
                          "the stream ended without a commit: nothing of "
                          "team %s is visible here",
                          im->team);
    if (rc == SW_OK && im->slot < 0)
        rc = svc_ctx_fail(c, SW_EINVAL, "the stream named no team");
    /* An import that ends otherwise leaves nothing behind. */
    if (rc && im->slot >= 0 && !im->committed &&
        store_team_import_abort(svc_ctx_store(c), im->team) != SW_OK)
        sw_log_warn("move.import_abort_failed", "team=%s", im->team);
    svc_import_release(im->slot);
    sw_buf_free(&im->why);
    sw_buf_free(&im->pdb);
    sw_buf_free(&im->pkey);
    sw_buf_free(&im->pval);
    if (rc)
        return rc;
    out = svc_ctx_new(c, &snipwise__v1__import_team_response__descriptor);
    if (out == NULL)
        return SW_ENOMEM;
    out->team_id = svc_ctx_str(c, im->team);
    out->records = im->records;
    out->bytes = im->bytes;
    *resp = &out->base;
    return SW_OK;
}

static const struct svc_stream_ops svc_import_ops = {
    svc_import_item, svc_import_end, 1 /* each message in its own arena */};

sw_err svc_move_import(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    struct svc_import *im;
    sw_err rc;

    (void)req;
    (void)resp;
    im = sw_arena_alloc(svc_ctx_arena(c), sizeof(*im));
    if (im == NULL)
        return SW_ENOMEM;
    memset(im, 0, sizeof(*im));
    im->slot = -1;
    sw_buf_init(&im->why, SVC_WHY_MAX);
    sw_buf_init(&im->pdb, 256);
    sw_buf_init(&im->pkey, 1 << 20);
    sw_buf_init(&im->pval, SVC_MOVE_VALUE_MAX);
    rc = svc_ctx_read_async(c, &svc_import_ops, im);
    if (rc) {
        sw_buf_free(&im->why);
        sw_buf_free(&im->pdb);
        sw_buf_free(&im->pkey);
        sw_buf_free(&im->pval);
    }
    return rc;
}

/* --- Finish, abort, get -------------------------------------------------- */

sw_err svc_move_finish(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__FinishTeamMoveRequest *r = (const void *)req;
    struct sw_buf why;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_move_finish(svc_ctx_store(c), r->team_id,
                                (uint64_t)(r->records > 0 ? r->records : 0),
                                (uint64_t)(r->bytes > 0 ? r->bytes : 0), &why);
    if (rc) {
        rc = svc_move_fail(c, rc, &why, r->team_id, "finishing the move");
        sw_buf_free(&why);
        return rc;
    }
    sw_buf_free(&why);
    sw_log_info("move.finished", "team=%s", r->team_id);
    return svc_move_answer(c, r->team_id, resp);
}

sw_err svc_move_abort(struct svc_ctx *c, const ProtobufCMessage *req,
                      ProtobufCMessage **resp)
{
    const Snipwise__V1__AbortTeamMoveRequest *r = (const void *)req;
    struct sw_buf why;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = store_team_unfreeze(svc_ctx_store(c), r->team_id, &why);
    if (rc == SW_ENOTFOUND && sw_buf_len(&why) == 0)
        rc = svc_ctx_fail(c, rc, "team %s is not moving", r->team_id);
    else if (rc)
        rc = svc_move_fail(c, rc, &why, r->team_id, "aborting the move");
    sw_buf_free(&why);
    if (rc)
        return rc;
    sw_log_info("move.aborted", "team=%s", r->team_id);
    return svc_move_answer(c, r->team_id, resp);
}

sw_err svc_move_get(struct svc_ctx *c, const ProtobufCMessage *req,
                    ProtobufCMessage **resp)
{
    const Snipwise__V1__GetTeamMoveRequest *r = (const void *)req;

    if (strlen(r->team_id) != STORE_ROUTE_LEN ||
        strncmp(r->team_id, "team_", 5) != 0)
        return svc_ctx_fail_field(c, SW_EINVAL, "team_id", "is not a team id");
    return svc_move_answer(c, r->team_id, resp);
}
