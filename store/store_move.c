/* store_move: moving one team between snipd nodes (store_move.h): the
 * export on the source and the staged import on the target, plus the
 * helpers store_move_state.c shares (store_move_int.h). Writes run through
 * store_update, so each callback below may run more than once and resets
 * whatever it fills. */
#include "store/store_move.h"

#include <assert.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/mail_records.pb-c.h"
#include "store/records.pb-c.h"
#include "store/store_int.h"
#include "store/store_job.h"
#include "store/store_move_int.h"
#include "store/store_tenant.h"

#define STORE_MOVE_HASH_LEN 32 /* a KEY_HASHES key: SHA-256 */
#define STORE_MOVE_ID_MAX 64   /* a key id, as store__id_ok */
#define STORE_MOVE_RESERVE 640 /* more than a key (511 bytes) */
#define STORE_MOVE_LIST_MAX ((size_t)1 << 26)
#define STORE_MOVE_STAGE_MAX ((size_t)1 << 30)

/* So that a database appended later is exported and imported with the
 * others. */
const unsigned char store__move_prefixed[STORE_DB_COUNT] = {
#define STORE_MOVE_PFX(name, lmdb_name, prefixed) prefixed,
    STORE_DB_LIST(STORE_MOVE_PFX)
#undef STORE_MOVE_PFX
};

static const char store_why_importing[] = "no import of the team is running";

/* store__move_say: store__why for codes other than SW_EINVAL. */
sw_err store__move_say(struct sw_buf *why, const char *msg, sw_err rc)
{
    sw_err e = store__why(why, msg);

    return e == SW_EINVAL ? rc : e;
}

/* store_move_whyf is store__move_say with one string argument, for
 * SW_EINVAL reasons that name a database. */
static sw_err store_move_whyf(struct sw_buf *why, const char *fmt,
                              const char *a)
{
    if (why) {
        sw_buf_reset(why);
        if (sw_buf_printf(why, fmt, a) != SW_OK)
            sw_buf_reset(why);
    }
    return SW_EINVAL;
}

/* store__move_key resets b to the META key mark + team_id. */
sw_err store__move_key(struct sw_buf *b, const char *mark, const char *team_id)
{
    sw_err rc;

    sw_buf_reset(b);
    rc = sw_buf_addstr(b, mark);
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, team_id);
    return rc;
}

/* store_move_stage_key resets b to "importk:TEAM\0" tag key: a staged
 * record, or with tag 0 the prefix of them all. */
static SW_MUST_CHECK sw_err store_move_stage_key(struct sw_buf *b,
                                                 const char *team_id, char tag,
                                                 const void *k, size_t kl)
{
    sw_err rc = store__move_key(b, STORE_IMPORT_STAGE, team_id);

    if (rc == SW_OK)
        rc = sw_buf_addc(b, '\0');
    if (rc == SW_OK && tag)
        rc = sw_buf_addc(b, tag);
    if (rc == SW_OK && kl)
        rc = sw_buf_add(b, k, kl);
    return rc;
}

/* store__move_exists sets *yes to whether k is in db. */
sw_err store__move_exists(store_txn *t, enum store_db db, const void *k,
                          size_t kl, int *yes)
{
    const void *v;
    size_t vl;
    sw_err rc = store_get(t, db, k, kl, &v, &vl);

    *yes = rc == SW_OK;
    return rc == SW_ENOTFOUND ? SW_OK : rc;
}

/* store__move_marked sets *yes to whether META holds mark + team_id. */
sw_err store__move_marked(store_txn *t, const char *mark, const char *team_id,
                          int *yes)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store__move_key(&k, mark, team_id);
    if (rc == SW_OK)
        rc = store__move_exists(t, STORE_DB_META, sw_buf_str(&k),
                                sw_buf_len(&k), yes);
    sw_buf_free(&k);
    return rc;
}

/* store__move_team_exists sets *yes to whether team_id's TeamRecord is
 * visible. */
sw_err store__move_team_exists(store_txn *t, const char *team_id, int *yes)
{
    return store__move_exists(t, STORE_DB_TEAMS, team_id, strlen(team_id), yes);
}

/* store__move_unmark deletes META mark + team_id; a missing one is fine. */
sw_err store__move_unmark(store_txn *t, struct sw_buf *k, const char *mark,
                          const char *team_id)
{
    sw_err rc = store__move_key(k, mark, team_id);

    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_META, sw_buf_str(k), sw_buf_len(k));
    return rc == SW_ENOTFOUND ? SW_OK : rc;
}

/* store_move_reserve makes b hold n bytes without allocating again:
 * sw_buf has no reserve, but a reset keeps the memory. */
static SW_MUST_CHECK sw_err store_move_reserve(struct sw_buf *b, size_t n)
{
    static const char zeros[64];
    sw_err rc = SW_OK;
    size_t i;

    for (i = 0; rc == SW_OK && i < n; i += sizeof(zeros))
        rc = sw_buf_add(b, zeros, sizeof(zeros));
    sw_buf_reset(b);
    return rc;
}

/* --- Export ---------------------------------------------------------------
 * The export walks the databases in STORE_DB_LIST order. Its resume point
 * is the database and the last key passed of the database it scans there
 * (KEYS for key_hashes and key_ids, JOB_TEAM for jobs). */

struct store_team_export {
    store_txn *t;
    char *team_id;
    struct sw_buf prefix; /* team\0 */
    int db;               /* the database being exported */
    struct sw_buf after;  /* the last scanned key passed in db */
    struct sw_buf from;   /* the copy of after a scan starts from */
    /* Keys made outside LMDB's pages (a KEY_HASHES key comes from a
     * decoded KeyRecord, freed after its callback): kept here until the
     * export ends, as the callback's contract promises. */
    struct sw_arena keep;
    uint64_t records, bytes;
};

/* One call of store_team_export_next. */
struct store_export_pass {
    struct store_team_export *exp;
    store_export_fn cb;
    void *arg;
    size_t max, used;
    int full; /* stopped at max bytes */
};

void store_team_export_end(struct store_team_export **exp)
{
    struct store_team_export *e;

    if (exp == NULL || *exp == NULL)
        return;
    e = *exp;
    store_txn_abort(&e->t);
    sw_free(e->team_id);
    sw_buf_free(&e->prefix);
    sw_buf_free(&e->after);
    sw_buf_free(&e->from);
    sw_arena_free(&e->keep);
    sw_free(e);
    *exp = NULL;
}

void store_team_export_stats(const struct store_team_export *exp,
                             uint64_t *records, uint64_t *bytes)
{
    if (records)
        *records = exp ? exp->records : 0;
    if (bytes)
        *bytes = exp ? exp->bytes : 0;
}

/* store_export_check refuses a team that is half imported, moved away, or
 * missing. */
static SW_MUST_CHECK sw_err store_export_check(store_txn *t,
                                               const char *team_id,
                                               struct sw_buf *why)
{
    int yes = 0;
    sw_err rc;

    rc = store__move_marked(t, STORE_IMPORT_MARK, team_id, &yes);
    if (rc == SW_OK && yes)
        return store__move_say(why, "the team's import is unfinished",
                               SW_ESTATE);
    if (rc == SW_OK)
        rc = store__move_marked(t, STORE_MOVED_MARK, team_id, &yes);
    if (rc == SW_OK && yes)
        return store__move_say(why, "the team moved to another node",
                               SW_ESTATE);
    if (rc == SW_OK)
        rc = store__move_team_exists(t, team_id, &yes);
    if (rc == SW_OK && !yes)
        rc = SW_ENOTFOUND;
    return rc;
}

sw_err store_team_export_begin(store *s, const char *team_id,
                               struct store_team_export **out,
                               struct sw_buf *why)
{
    struct store_team_export *e = NULL;
    sw_err rc;

    if (s == NULL || out == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    e = sw_calloc(1, sizeof(*e));
    if (e == NULL)
        return SW_ENOMEM;
    sw_arena_init(&e->keep, 0);
    sw_buf_init(&e->prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&e->after, STORE_KEYBUF_MAX);
    sw_buf_init(&e->from, STORE_KEYBUF_MAX);
    e->db = STORE_DB_TEAMS;
    e->team_id = sw_strdup(team_id);
    rc = e->team_id ? store_key(&e->prefix, team_id, NULL, 0) : SW_ENOMEM;
    /* With room for any key, moving the resume point never fails. */
    if (rc == SW_OK)
        rc = store_move_reserve(&e->after, STORE_MOVE_RESERVE);
    if (rc == SW_OK)
        rc = store_move_reserve(&e->from, STORE_MOVE_RESERVE);
    if (rc == SW_OK)
        rc = store_txn_begin(s, 0, &e->t);
    if (rc == SW_OK)
        rc = store_export_check(e->t, team_id, why);
    if (rc == SW_OK) {
        *out = e;
        e = NULL;
    }
    store_team_export_end(&e);
    return rc;
}

/* store_export_emit passes one record to the callback unless the call's
 * bytes are spent (then STORE_SCAN_STOP), and makes the scanned key
 * sk[0..skl) the resume point. k NULL passes nothing but moves on. */
static SW_MUST_CHECK sw_err store_export_emit(struct store_export_pass *p,
                                              const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              const void *sk, size_t skl)
{
    struct store_team_export *e = p->exp;
    struct store_move_rec r;
    size_t size = kl + vl;
    sw_err rc;

    if (k != NULL) {
        if (p->used > 0 && (p->used >= p->max || size > p->max - p->used)) {
            p->full = 1;
            return STORE_SCAN_STOP;
        }
        r.db = store_db_name((enum store_db)e->db);
        r.key = k;
        r.klen = kl;
        r.val = v;
        r.vlen = vl;
        rc = p->cb(&r, p->arg);
        if (rc)
            return rc;
        p->used += size;
        e->records++;
        e->bytes += size;
    }
    sw_buf_reset(&e->after);
    rc = sw_buf_add(&e->after, sk, skl);
    assert(rc == SW_OK); /* reserved at begin */
    return rc;
}

/* A record of a team-prefixed database is passed as it is. */
static SW_MUST_CHECK sw_err store_export_plain_cb(const void *k, size_t kl,
                                                  const void *v, size_t vl,
                                                  void *arg)
{
    return store_export_emit(arg, k, kl, v, vl, k, kl);
}

/* KEY_HASHES and KEY_IDS entries are found through the team's KEYS records;
 * an entry that is missing or points elsewhere is not the team's. */
static SW_MUST_CHECK sw_err store_export_key_cb(const void *k, size_t kl,
                                                const void *v, size_t vl,
                                                void *arg)
{
    struct store_export_pass *p = arg;
    struct store_team_export *e = p->exp;
    Snipwise__Store__KeyRecord *r;
    ProtobufCMessage *m = NULL;
    const void *ek = NULL, *ev = NULL;
    size_t ekl = 0, evl = 0, plen = sw_buf_len(&e->prefix);
    sw_err rc;

    rc = store__unpack(&snipwise__store__key_record__descriptor, v, vl, &m);
    if (rc)
        return rc;
    r = (Snipwise__Store__KeyRecord *)m;
    if (e->db == STORE_DB_KEY_HASHES) {
        /* The hash is in the decoded record, freed below: the export keeps
         * a copy, valid as long as the callback's contract says. */
        ekl = r->secret_hash.len;
        rc = SW_ENOTFOUND;
        if (ekl == STORE_MOVE_HASH_LEN) {
            ek = sw_arena_memdup(&e->keep, r->secret_hash.data, ekl);
            rc = ek ? store_get(e->t, STORE_DB_KEY_HASHES, ek, ekl, &ev, &evl)
                    : SW_ENOMEM;
        }
        if (rc == SW_OK && (evl != kl || memcmp(ev, k, kl) != 0))
            rc = SW_ENOTFOUND;
    } else {
        ek = (const char *)k + plen;
        ekl = kl - plen;
        rc = store_get(e->t, STORE_DB_KEY_IDS, ek, ekl, &ev, &evl);
        if (rc == SW_OK && (evl != plen - 1 || memcmp(ev, e->team_id, evl)))
            rc = SW_ENOTFOUND;
    }
    if (rc == SW_ENOTFOUND) {
        sw_log_warn("store.export_key_skipped", "team=%s db=%s key_id=%s",
                    e->team_id, store_db_name((enum store_db)e->db), r->key_id);
        ek = NULL;
        rc = SW_OK;
    }
    if (rc == SW_OK)
        rc = store_export_emit(p, ek, ekl, ev, evl, k, kl);
    store__msg_free(m);
    return rc;
}

/* Queued jobs are found through the team's JOB_TEAM index: team\0id(8). */
static SW_MUST_CHECK sw_err store_export_job_cb(const void *k, size_t kl,
                                                const void *v, size_t vl,
                                                void *arg)
{
    struct store_export_pass *p = arg;
    struct store_team_export *e = p->exp;
    size_t plen = sw_buf_len(&e->prefix);
    ProtobufCMessage *m = NULL;
    const void *jv = NULL;
    const char *jk = (const char *)k + plen;
    size_t jvl = 0;
    sw_err rc;

    (void)v;
    (void)vl;
    if (kl != plen + 8) {
        sw_log_error("store.job_index_corrupt", "team=%s", e->team_id);
        return SW_ECORRUPT;
    }
    rc = store_get(e->t, STORE_DB_JOBS, jk, 8, &jv, &jvl);
    if (rc == SW_OK)
        rc = store__unpack(&snipwise__store__job_record__descriptor, jv, jvl,
                           &m);
    if (rc == SW_OK &&
        strcmp(((Snipwise__Store__JobRecord *)m)->team_id, e->team_id) != 0)
        rc = SW_ENOTFOUND;
    store__msg_free(m);
    if (rc == SW_ENOTFOUND) /* finished since it was indexed: not queued */
        return store_export_emit(p, NULL, 0, NULL, 0, k, kl);
    if (rc)
        return rc;
    return store_export_emit(p, jk, 8, jv, jvl, k, kl);
}

/* store_export_db passes records of the export's current database from its
 * resume point on, until the database ends or the call's bytes are spent. */
static SW_MUST_CHECK sw_err store_export_db(struct store_export_pass *p)
{
    struct store_team_export *e = p->exp;
    enum store_db db = (enum store_db)e->db, src = db;
    store_scan_fn cb = store_export_plain_cb;
    const void *v;
    size_t vl;
    sw_err rc;

    if (db == STORE_DB_META || db == STORE_DB_JOB_TEAM)
        return SW_OK; /* store-wide, or derived from jobs */
    if (db == STORE_DB_TEAMS) {
        rc = store_get(e->t, db, e->team_id, strlen(e->team_id), &v, &vl);
        if (rc == SW_OK)
            rc = store_export_emit(p, e->team_id, strlen(e->team_id), v, vl,
                                   e->team_id, strlen(e->team_id));
        return rc;
    }
    if (db == STORE_DB_KEY_HASHES || db == STORE_DB_KEY_IDS) {
        src = STORE_DB_KEYS;
        cb = store_export_key_cb;
    } else if (db == STORE_DB_JOBS) {
        src = STORE_DB_JOB_TEAM;
        cb = store_export_job_cb;
    } else if (!store__move_prefixed[db]) {
        /* A store-wide database added without teaching this file how to
         * find a team's records in it: refuse rather than lose them. */
        sw_log_error("store.export_unknown_db", "db=%s", store_db_name(db));
        return SW_EINTERNAL;
    }
    sw_buf_reset(&e->from);
    rc = sw_buf_add(&e->from, sw_buf_str(&e->after), sw_buf_len(&e->after));
    assert(rc == SW_OK); /* reserved at begin */
    if (rc == SW_OK)
        rc = store_scan(e->t, src, sw_buf_str(&e->prefix),
                        sw_buf_len(&e->prefix), sw_buf_str(&e->from),
                        sw_buf_len(&e->from), cb, p);
    return rc;
}

sw_err store_team_export_next(struct store_team_export *exp, store_export_fn cb,
                              void *arg, size_t max_bytes, int *done)
{
    struct store_export_pass p;
    sw_err rc = SW_OK;

    if (exp == NULL || cb == NULL || done == NULL)
        return SW_EINVAL;
    memset(&p, 0, sizeof(p));
    p.exp = exp;
    p.cb = cb;
    p.arg = arg;
    p.max = max_bytes;
    while (exp->db < STORE_DB_COUNT && !p.full) {
        rc = store_export_db(&p);
        if (rc)
            return rc;
        if (!p.full) {
            exp->db++;
            sw_buf_reset(&exp->after);
        }
    }
    *done = exp->db >= STORE_DB_COUNT;
    return SW_OK;
}

/* --- Import ---------------------------------------------------------------
 */

struct store_import_ctx {
    const char *team_id;
    const struct store_move_rec *recs;
    size_t n;
    struct sw_buf *why;
    struct sw_buf prefix; /* team\0 */
    struct sw_buf k;
    struct sw_buf stage; /* commit: the staged records, see below */
    int have_team;       /* commit: a team record is staged */
};

static void store_import_ctx_init(struct store_import_ctx *c,
                                  const char *team_id, struct sw_buf *why)
{
    memset(c, 0, sizeof(*c));
    c->team_id = team_id;
    c->why = why;
    sw_buf_init(&c->prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&c->k, STORE_KEYBUF_MAX);
    sw_buf_init(&c->stage, STORE_MOVE_STAGE_MAX);
}

static void store_import_ctx_free(struct store_import_ctx *c)
{
    sw_buf_free(&c->prefix);
    sw_buf_free(&c->k);
    sw_buf_free(&c->stage);
}

/* store_import_running fails with SW_ESTATE unless team_id's import mark
 * is set. */
static SW_MUST_CHECK sw_err
store_import_running(store_txn *t, const struct store_import_ctx *c)
{
    int yes = 0;
    sw_err rc = store__move_marked(t, STORE_IMPORT_MARK, c->team_id, &yes);

    if (rc == SW_OK && !yes)
        rc = store__move_say(c->why, store_why_importing, SW_ESTATE);
    return rc;
}

/* store_import_db finds the database called name. */
static SW_MUST_CHECK sw_err store_import_db(const char *name, enum store_db *db)
{
    int i;

    for (i = 0; name && i < STORE_DB_COUNT; i++) {
        if (strcmp(store_db_name((enum store_db)i), name) == 0) {
            *db = (enum store_db)i;
            return SW_OK;
        }
    }
    return SW_ENOTFOUND;
}

/* store_import_decode checks that r's value is a d record naming the team
 * in its team_id field (offset off of the message struct). */
static SW_MUST_CHECK sw_err store_import_decode(
    const struct store_import_ctx *c, const struct store_move_rec *r,
    const ProtobufCMessageDescriptor *d, size_t off)
{
    ProtobufCMessage *m = NULL;
    const char *team;
    sw_err rc;

    rc = store__unpack(d, r->val, r->vlen, &m);
    if (rc == SW_ECORRUPT)
        return store_move_whyf(c->why, "a record of %s does not decode", r->db);
    if (rc)
        return rc;
    team = *(char *const *)((const char *)m + off);
    if (team == NULL || strcmp(team, c->team_id) != 0)
        rc = store_move_whyf(c->why, "a record of %s belongs to another team",
                             r->db);
    store__msg_free(m);
    return rc;
}

/* store_import_tag validates a record of a store-wide database and gives
 * the tag it is staged under. */
static SW_MUST_CHECK sw_err store_import_tag(const struct store_import_ctx *c,
                                             enum store_db db,
                                             const struct store_move_rec *r,
                                             char *tag)
{
    size_t tl = strlen(c->team_id), plen = sw_buf_len(&c->prefix);
    int ok;

    switch (db) {
    case STORE_DB_TEAMS:
        *tag = 't';
        if (r->klen != tl || memcmp(r->key, c->team_id, tl) != 0)
            break;
        return store_import_decode(
            c, r, &snipwise__store__team_record__descriptor,
            offsetof(Snipwise__Store__TeamRecord, team_id));
    case STORE_DB_KEY_HASHES:
        *tag = 'h';
        ok = r->klen == STORE_MOVE_HASH_LEN && r->vlen > plen &&
             memcmp(r->val, sw_buf_str(&c->prefix), plen) == 0;
        return ok ? SW_OK
                  : store_move_whyf(c->why,
                                    "a record of %s belongs "
                                    "to another team",
                                    r->db);
    case STORE_DB_KEY_IDS:
        *tag = 'i';
        ok = r->klen <= STORE_MOVE_ID_MAX && r->vlen == tl &&
             memcmp(r->val, c->team_id, tl) == 0;
        return ok ? SW_OK
                  : store_move_whyf(c->why,
                                    "a record of %s belongs "
                                    "to another team",
                                    r->db);
    case STORE_DB_JOBS:
        *tag = 'j';
        if (r->klen != 8)
            break;
        return store_import_decode(
            c, r, &snipwise__store__job_record__descriptor,
            offsetof(Snipwise__Store__JobRecord, team_id));
    default:
        return store_move_whyf(c->why, "records of %s cannot be imported",
                               r->db);
    }
    return store_move_whyf(c->why, "a record of %s belongs to another team",
                           r->db);
}

/* store_import_one validates one record and writes it: in place for a
 * team-prefixed database, else into the stage. */
static SW_MUST_CHECK sw_err store_import_one(store_txn *t,
                                             struct store_import_ctx *c,
                                             const struct store_move_rec *r)
{
    size_t plen = sw_buf_len(&c->prefix);
    enum store_db db;
    char tag = 0;
    sw_err rc;

    if (store_import_db(r->db, &db) != SW_OK)
        return store_move_whyf(c->why, "unknown database \"%s\"",
                               r->db ? r->db : "");
    if (r->key == NULL || r->klen == 0 || (r->val == NULL && r->vlen > 0))
        return store_move_whyf(c->why, "a record of %s has no key", r->db);
    if (db == STORE_DB_JOB_TEAM)
        return store_move_whyf(
            c->why, "%s entries are made from the jobs at commit", r->db);
    if (store__move_prefixed[db]) {
        if (r->klen <= plen || memcmp(r->key, sw_buf_str(&c->prefix), plen))
            return store_move_whyf(
                c->why, "a record of %s belongs to another team", r->db);
        return store_put(t, db, r->key, r->klen, r->val ? r->val : "", r->vlen,
                         0);
    }
    rc = store_import_tag(c, db, r, &tag);
    if (rc == SW_OK)
        rc = store_move_stage_key(&c->k, c->team_id, tag,
                                  db == STORE_DB_TEAMS ? NULL : r->key,
                                  db == STORE_DB_TEAMS ? 0 : r->klen);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_META, sw_buf_str(&c->k), sw_buf_len(&c->k),
                       r->val ? r->val : "", r->vlen, 0);
    return rc;
}

static SW_MUST_CHECK sw_err store_import_put_txn(store_txn *t, void *arg)
{
    struct store_import_ctx *c = arg;
    sw_err rc;
    size_t i;

    rc = store_import_running(t, c);
    for (i = 0; rc == SW_OK && i < c->n; i++)
        rc = store_import_one(t, c, &c->recs[i]);
    return rc;
}

sw_err store_team_import_put(store *s, const char *team_id,
                             const struct store_move_rec *recs, size_t n,
                             struct sw_buf *why)
{
    struct store_import_ctx c;
    sw_err rc;

    if (s == NULL || (recs == NULL && n > 0))
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    store_import_ctx_init(&c, team_id, why);
    c.recs = recs;
    c.n = n;
    rc = store_key(&c.prefix, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_update(s, store_import_put_txn, &c);
    store_import_ctx_free(&c);
    return rc;
}

/* The commit copies the stage out of META before it writes (LMDB values
 * read in a write transaction may move with its writes) as entries of
 * [4-byte rest length][rest: tag and key][4-byte value length][value]. */
static SW_MUST_CHECK sw_err store_commit_collect_cb(const void *k, size_t kl,
                                                    const void *v, size_t vl,
                                                    void *arg)
{
    struct store_import_ctx *c = arg;
    size_t pl = sw_buf_len(&c->k);
    uint32_t n;
    sw_err rc;

    if (kl <= pl || vl > UINT32_MAX)
        return SW_ECORRUPT;
    if (((const char *)k)[pl] == 't')
        c->have_team = 1;
    n = (uint32_t)(kl - pl);
    rc = sw_buf_add(&c->stage, &n, sizeof(n));
    if (rc == SW_OK)
        rc = sw_buf_add(&c->stage, (const char *)k + pl, n);
    n = (uint32_t)vl;
    if (rc == SW_OK)
        rc = sw_buf_add(&c->stage, &n, sizeof(n));
    if (rc == SW_OK)
        rc = sw_buf_add(&c->stage, v, vl);
    return rc;
}

/* store_commit_job queues a staged job under a new id of this store. */
static SW_MUST_CHECK sw_err store_commit_job(store_txn *t,
                                             struct store_import_ctx *c,
                                             const void *v, size_t vl)
{
    Snipwise__Store__JobRecord *r;
    ProtobufCMessage *m = NULL;
    unsigned char k[8];
    uint64_t id = 0;
    sw_err rc;

    rc = store__unpack(&snipwise__store__job_record__descriptor, v, vl, &m);
    if (rc == SW_OK)
        rc = store_seq_next(t, "", "job", &id);
    if (rc)
        goto out;
    r = (Snipwise__Store__JobRecord *)m;
    r->job_id = id;
    store_u64_put(k, id);
    rc = store__put_msg(t, STORE_DB_JOBS, k, sizeof(k), m, STORE_NOOVERWRITE);
    if (rc == SW_OK)
        rc = store_key(&c->k, c->team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&c->k, id);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_JOB_TEAM, sw_buf_str(&c->k),
                       sw_buf_len(&c->k), "", 0, 0);
out:
    store__msg_free(m);
    return rc;
}

/* store_commit_one puts one staged record in place. */
static SW_MUST_CHECK sw_err store_commit_one(store_txn *t,
                                             struct store_import_ctx *c,
                                             const char *rest, size_t rl,
                                             const void *v, size_t vl)
{
    sw_err rc;

    switch (rest[0]) {
    case 't':
        rc = store_put(t, STORE_DB_TEAMS, c->team_id, strlen(c->team_id), v, vl,
                       STORE_NOOVERWRITE);
        return rc == SW_EEXIST
                   ? store__move_say(c->why, "the team exists on this node", rc)
                   : rc;
    case 'h':
    case 'i':
        rc = store_put(t,
                       rest[0] == 'h' ? STORE_DB_KEY_HASHES : STORE_DB_KEY_IDS,
                       rest + 1, rl - 1, v, vl, STORE_NOOVERWRITE);
        return rc == SW_EEXIST
                   ? store__move_say(c->why,
                                     "a key of the team (its id or its "
                                     "secret) exists on this node",
                                     rc)
                   : rc;
    case 'j':
        return store_commit_job(t, c, v, vl);
    default:
        sw_log_error("store.import_stage_corrupt", "team=%s tag=%d", c->team_id,
                     rest[0]);
        return SW_ECORRUPT;
    }
}

/* store_commit_apply puts every collected record in place. */
static SW_MUST_CHECK sw_err store_commit_apply(store_txn *t,
                                               struct store_import_ctx *c)
{
    const char *p = sw_buf_str(&c->stage), *end = p + sw_buf_len(&c->stage);
    uint32_t rl, vl;
    sw_err rc = SW_OK;

    while (rc == SW_OK && p < end) {
        memcpy(&rl, p, sizeof(rl));
        p += sizeof(rl);
        memcpy(&vl, p + rl, sizeof(vl));
        rc = store_commit_one(t, c, p, rl, p + rl + sizeof(vl), vl);
        p += rl + sizeof(vl) + vl;
    }
    assert(rc != SW_OK || p == end);
    return rc;
}

static SW_MUST_CHECK sw_err store_import_commit_txn(store_txn *t, void *arg)
{
    struct store_import_ctx *c = arg;
    struct sw_buf pfx;
    sw_err rc;

    sw_buf_reset(&c->stage);
    c->have_team = 0;
    sw_buf_init(&pfx, STORE_KEYBUF_MAX);
    rc = store_import_running(t, c);
    if (rc == SW_OK)
        rc = store_move_stage_key(&c->k, c->team_id, 0, NULL, 0);
    if (rc == SW_OK)
        rc = sw_buf_add(&pfx, sw_buf_str(&c->k), sw_buf_len(&c->k));
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_META, sw_buf_str(&pfx), sw_buf_len(&pfx),
                        NULL, 0, store_commit_collect_cb, c);
    if (rc == SW_OK && !c->have_team)
        rc = store__move_say(c->why, "no team record was imported", SW_ESTATE);
    if (rc == SW_OK)
        rc = store_commit_apply(t, c);
    if (rc == SW_OK)
        rc = store_del_prefix(t, STORE_DB_META, sw_buf_str(&pfx),
                              sw_buf_len(&pfx), NULL);
    if (rc == SW_OK)
        rc = store__move_unmark(t, &c->k, STORE_IMPORT_MARK, c->team_id);
    if (rc == SW_OK)
        rc = store__move_unmark(t, &c->k, STORE_MOVE_MARK, c->team_id);
    if (rc == SW_OK)
        rc = store__move_unmark(t, &c->k, STORE_MOVED_MARK, c->team_id);
    sw_buf_free(&pfx);
    return rc;
}

sw_err store_team_import_commit(store *s, const char *team_id,
                                struct sw_buf *why)
{
    struct store_import_ctx c;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    store_import_ctx_init(&c, team_id, why);
    rc = store_update(s, store_import_commit_txn, &c);
    if (rc == SW_OK)
        sw_log_info("store.import_committed", "team=%s", team_id);
    store_import_ctx_free(&c);
    return rc;
}

/* One slice of the removal of a team's stage. */
struct store_unstage_step {
    const char *team_id;
    size_t max;
    int done;
    struct sw_buf k;
};

static SW_MUST_CHECK sw_err store_unstage_txn(store_txn *t, void *arg)
{
    struct store_unstage_step *st = arg;
    size_t n = 0;
    sw_err rc;

    rc = store_move_stage_key(&st->k, st->team_id, 0, NULL, 0);
    if (rc == SW_OK)
        rc = store_del_prefix_max(t, STORE_DB_META, sw_buf_str(&st->k),
                                  sw_buf_len(&st->k), st->max, &n);
    st->done = rc == SW_OK && n < st->max;
    return rc;
}

/* store_import_clean removes an unfinished import's records, in slices:
 * the stage, then the team-prefixed records (store_team_purge, which also
 * ends a purge of the team left unfinished). The caller has checked, under
 * the import mark, that the team does not exist. */
static SW_MUST_CHECK sw_err store_import_clean(store *s, const char *team_id)
{
    struct store_unstage_step st;
    sw_err rc;

    memset(&st, 0, sizeof(st));
    st.team_id = team_id;
    st.max = store__purge_slice(s);
    sw_buf_init(&st.k, STORE_KEYBUF_MAX);
    do {
        rc = store_update(s, store_unstage_txn, &st);
    } while (rc == SW_OK && !st.done);
    sw_buf_free(&st.k);
    if (rc == SW_OK)
        rc = store_team_purge(s, team_id, 0, NULL);
    return rc;
}

static SW_MUST_CHECK sw_err store_import_mark_txn(store_txn *t, void *arg)
{
    struct store_import_ctx *c = arg;
    int yes = 0;
    sw_err rc;

    rc = store__move_team_exists(t, c->team_id, &yes);
    if (rc == SW_OK && yes)
        rc = store__move_say(c->why, "the team exists on this node", SW_EEXIST);
    if (rc == SW_OK)
        rc = store__move_key(&c->k, STORE_IMPORT_MARK, c->team_id);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_META, sw_buf_str(&c->k), sw_buf_len(&c->k),
                       "", 0, 0);
    return rc;
}

sw_err store_team_import_begin(store *s, const char *team_id,
                               struct sw_buf *why)
{
    struct store_import_ctx c;
    size_t n;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    store_import_ctx_init(&c, team_id, why);
    rc = store_update(s, store_import_mark_txn, &c);
    store_import_ctx_free(&c);
    if (rc == SW_OK)
        rc = store_import_clean(s, team_id);
    /* Queued jobs of the team from before it left this node would come
     * back to life with it; the team is missing now, so they go. */
    do {
        n = 0;
        if (rc == SW_OK)
            rc = store_job_drop_stale(s, &n);
    } while (rc == SW_OK && n > 0);
    if (rc == SW_OK)
        sw_log_info("store.import_begun", "team=%s", team_id);
    return rc;
}

/* store_import_gone checks that team_id's import is unfinished (else
 * SW_ENOTFOUND) and its team absent (else SW_ESTATE); with unmark set it
 * also removes the mark. */
struct store_import_gone {
    const char *team_id;
    int unmark;
};

static SW_MUST_CHECK sw_err store_import_gone_txn(store_txn *t, void *arg)
{
    const struct store_import_gone *g = arg;
    struct sw_buf k;
    int yes = 0;
    sw_err rc;

    rc = store__move_marked(t, STORE_IMPORT_MARK, g->team_id, &yes);
    if (rc == SW_OK && !yes)
        return SW_ENOTFOUND;
    if (rc == SW_OK)
        rc = store__move_team_exists(t, g->team_id, &yes);
    if (rc == SW_OK && yes) {
        sw_log_error("store.import_mark_stale", "team=%s", g->team_id);
        return SW_ESTATE;
    }
    if (rc || !g->unmark)
        return rc;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store__move_unmark(t, &k, STORE_IMPORT_MARK, g->team_id);
    sw_buf_free(&k);
    return rc;
}

sw_err store_team_import_abort(store *s, const char *team_id)
{
    struct store_import_gone g = {team_id, 0};
    sw_err rc;

    if (s == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    rc = store_view(s, store_import_gone_txn, &g);
    if (rc == SW_OK)
        rc = store_import_clean(s, team_id);
    g.unmark = 1;
    if (rc == SW_OK)
        rc = store_update(s, store_import_gone_txn, &g);
    if (rc == SW_OK)
        sw_log_info("store.import_aborted", "team=%s", team_id);
    return rc;
}

/* store_move_ids_cb collects the team ids of META keys mark + team_id
 * (mark in arg's first field), NUL-separated. */
struct store_move_ids {
    const char *mark;
    struct sw_buf ids;
};

static SW_MUST_CHECK sw_err store_move_ids_cb(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct store_move_ids *a = arg;
    size_t plen = strlen(a->mark);
    sw_err rc;

    (void)v;
    (void)vl;
    if (kl <= plen)
        return SW_OK;
    rc = sw_buf_add(&a->ids, (const char *)k + plen, kl - plen);
    if (rc == SW_OK)
        rc = sw_buf_addc(&a->ids, '\0');
    return rc;
}

static SW_MUST_CHECK sw_err store_move_ids_txn(store_txn *t, void *arg)
{
    struct store_move_ids *a = arg;

    sw_buf_reset(&a->ids);
    return store_scan(t, STORE_DB_META, a->mark, strlen(a->mark), NULL, 0,
                      store_move_ids_cb, a);
}

sw_err store_team_import_pending(store *s, size_t *nteams)
{
    struct store_move_ids a;
    size_t off;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    a.mark = STORE_IMPORT_MARK;
    sw_buf_init(&a.ids, STORE_MOVE_LIST_MAX);
    rc = store_view(s, store_move_ids_txn, &a);
    for (off = 0; rc == SW_OK && off < sw_buf_len(&a.ids);) {
        const char *id = sw_buf_str(&a.ids) + off;

        sw_log_info("store.import_unfinished", "team=%s", id);
        rc = store_team_import_abort(s, id);
        if (rc == SW_OK && nteams)
            (*nteams)++;
        off += strlen(id) + 1;
    }
    sw_buf_free(&a.ids);
    return rc;
}
