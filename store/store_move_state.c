/* store_move_state: the move state of a team on its source node (frozen,
 * done, the "moved to" tombstone) and `snipd check`'s view of the marks of
 * moves and imports (store_move.h). Writes run through store_update, so
 * each callback below may run more than once and resets its outputs. */
#include "store/store_move.h"

#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/records.pb-c.h"
#include "store/store_int.h"
#include "store/store_job.h"
#include "store/store_move_int.h"
#include "store/store_tenant.h"

#define STORE_MOVE_REPORT_MAX 200 /* lines listed; all are counted */

static const char store_why_node[] =
    "target_node must be 1 to 255 bytes of UTF-8 without control characters";

/* --- Move state -----------------------------------------------------------
 */

void store_move_clear(struct store_move *m)
{
    if (m == NULL)
        return;
    sw_free(m->target_node);
    memset(m, 0, sizeof(*m));
}

/* store_move_from converts a record; *out is untouched on failure. */
static SW_MUST_CHECK sw_err
store_move_from(const Snipwise__Store__MoveRecord *r, struct store_move *out)
{
    struct store_move m = {0};

    m.target_node = sw_strdup(r->target_node ? r->target_node : "");
    if (m.target_node == NULL)
        return SW_ENOMEM;
    m.state = r->state;
    m.start_ms = r->start_unix_ms;
    m.done_ms = r->done_unix_ms;
    m.export_records = r->export_records;
    m.export_bytes = r->export_bytes;
    *out = m;
    return SW_OK;
}

struct store_move_ctx {
    const char *team_id;
    const char *node;
    int64_t now;
    uint64_t records, bytes;
    struct sw_buf *why;
    struct sw_buf k;
    struct store_move res;
    ProtobufCMessage *m; /* the move record read, or NULL */
};

static void store_move_ctx_init(struct store_move_ctx *c, const char *team_id,
                                struct sw_buf *why)
{
    memset(c, 0, sizeof(*c));
    c->team_id = team_id;
    c->why = why;
    c->now = sw_now_ms();
    sw_buf_init(&c->k, STORE_KEYBUF_MAX);
}

static void store_move_ctx_free(struct store_move_ctx *c)
{
    store__msg_free(c->m);
    c->m = NULL;
    store_move_clear(&c->res);
    sw_buf_free(&c->k);
}

/* store_move_read reads the team's move record into c->m (left NULL when
 * there is none) and leaves its key in c->k. */
static SW_MUST_CHECK sw_err store_move_read(store_txn *t,
                                            struct store_move_ctx *c)
{
    sw_err rc;

    store__msg_free(c->m);
    c->m = NULL;
    store_move_clear(&c->res);
    rc = store__move_key(&c->k, STORE_MOVE_MARK, c->team_id);
    if (rc == SW_OK)
        rc = store__get_msg(t, STORE_DB_META, sw_buf_str(&c->k),
                            sw_buf_len(&c->k),
                            &snipwise__store__move_record__descriptor, &c->m);
    return rc == SW_ENOTFOUND ? SW_OK : rc;
}

static SW_MUST_CHECK sw_err store_freeze_txn(store_txn *t, void *arg)
{
    Snipwise__Store__MoveRecord rec = SNIPWISE__STORE__MOVE_RECORD__INIT;
    struct store_move_ctx *c = arg;
    const Snipwise__Store__MoveRecord *r;
    int yes = 0;
    sw_err rc;

    rc = store_move_read(t, c);
    if (rc == SW_OK)
        rc = store__move_team_exists(t, c->team_id, &yes);
    if (rc == SW_OK && !yes)
        rc = SW_ENOTFOUND;
    if (rc)
        return rc;
    r = (const Snipwise__Store__MoveRecord *)c->m;
    if (r && r->state != STORE_MOVE_FROZEN)
        return store__move_say(c->why, "the team has moved already", SW_ESTATE);
    if (r && strcmp(r->target_node, c->node) != 0)
        return store__move_say(c->why,
                               "the team is frozen for a move to "
                               "another node",
                               SW_ESTATE);
    if (r)
        return store_move_from(r, &c->res);
    rec.target_node = (char *)c->node;
    rec.state = STORE_MOVE_FROZEN;
    rec.start_unix_ms = c->now;
    rc = store__put_msg(t, STORE_DB_META, sw_buf_str(&c->k), sw_buf_len(&c->k),
                        &rec.base, 0);
    if (rc == SW_OK)
        rc = store_move_from(&rec, &c->res);
    return rc;
}

sw_err store_team_freeze(store *s, const char *team_id, const char *target_node,
                         struct store_move *out, struct sw_buf *why)
{
    struct store_move_ctx c;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    if (!store__text_ok(target_node, 1, STORE_MOVE_NODE_MAX))
        return store__why(why, store_why_node);
    store_move_ctx_init(&c, team_id, why);
    c.node = target_node;
    rc = store_update(s, store_freeze_txn, &c);
    if (rc == SW_OK && out) {
        *out = c.res;
        memset(&c.res, 0, sizeof(c.res));
    }
    if (rc == SW_OK)
        sw_log_info("store.team_frozen", "team=%s target=%s", team_id,
                    target_node);
    store_move_ctx_free(&c);
    return rc;
}

static SW_MUST_CHECK sw_err store_move_get_txn(store_txn *t, void *arg)
{
    struct store_move_ctx *c = arg;
    sw_err rc = store_move_read(t, c);

    if (rc == SW_OK && c->m == NULL)
        rc = SW_ENOTFOUND;
    if (rc == SW_OK)
        rc = store_move_from((Snipwise__Store__MoveRecord *)c->m, &c->res);
    return rc;
}

sw_err store_team_move_get(store *s, const char *team_id,
                           struct store_move *out)
{
    struct store_move_ctx c;
    sw_err rc;

    if (s == NULL || out == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    store_move_ctx_init(&c, team_id, NULL);
    rc = store_view(s, store_move_get_txn, &c);
    if (rc == SW_OK) {
        *out = c.res;
        memset(&c.res, 0, sizeof(c.res));
    }
    store_move_ctx_free(&c);
    return rc;
}

struct store_frozen_ctx {
    const char *team_id;
    int frozen;
};

static SW_MUST_CHECK sw_err store_frozen_txn(store_txn *t, void *arg)
{
    struct store_frozen_ctx *c = arg;

    return store__move_marked(t, STORE_MOVE_MARK, c->team_id, &c->frozen);
}

sw_err store_team_frozen(store *s, const char *team_id, int *frozen)
{
    struct store_frozen_ctx c = {team_id, 0};
    sw_err rc;

    if (s == NULL || frozen == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    rc = store_view(s, store_frozen_txn, &c);
    if (rc == SW_OK)
        *frozen = c.frozen;
    return rc;
}

static SW_MUST_CHECK sw_err store_unfreeze_txn(store_txn *t, void *arg)
{
    struct store_move_ctx *c = arg;
    const Snipwise__Store__MoveRecord *r;
    sw_err rc = store_move_read(t, c);

    if (rc)
        return rc;
    r = (const Snipwise__Store__MoveRecord *)c->m;
    if (r == NULL)
        return SW_ENOTFOUND;
    if (r->state != STORE_MOVE_FROZEN)
        return store__move_say(c->why, "the move is done", SW_ESTATE);
    return store_del(t, STORE_DB_META, sw_buf_str(&c->k), sw_buf_len(&c->k));
}

sw_err store_team_unfreeze(store *s, const char *team_id, struct sw_buf *why)
{
    struct store_move_ctx c;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    store_move_ctx_init(&c, team_id, why);
    rc = store_update(s, store_unfreeze_txn, &c);
    if (rc == SW_OK)
        sw_log_info("store.team_unfrozen", "team=%s", team_id);
    store_move_ctx_free(&c);
    return rc;
}

/* The first step of a finish: the move is done, the tombstone says where
 * to. A finish run again finds it done and goes on to the deletion. */
static SW_MUST_CHECK sw_err store_finish_txn(store_txn *t, void *arg)
{
    struct store_move_ctx *c = arg;
    Snipwise__Store__MoveRecord *r;
    sw_err rc = store_move_read(t, c);

    if (rc)
        return rc;
    r = (Snipwise__Store__MoveRecord *)c->m;
    if (r == NULL)
        return store__move_say(c->why, "the team is not frozen for a move",
                               SW_ESTATE);
    if (r->state == STORE_MOVE_DONE)
        return SW_OK;
    r->state = STORE_MOVE_DONE;
    r->export_records = c->records;
    r->export_bytes = c->bytes;
    r->done_unix_ms = c->now;
    rc = store__put_msg(t, STORE_DB_META, sw_buf_str(&c->k), sw_buf_len(&c->k),
                        &r->base, 0);
    if (rc == SW_OK)
        rc = store__move_key(&c->k, STORE_MOVED_MARK, c->team_id);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_META, sw_buf_str(&c->k), sw_buf_len(&c->k),
                       r->target_node, strlen(r->target_node), 0);
    return rc;
}

sw_err store_team_move_finish(store *s, const char *team_id,
                              uint64_t export_records, uint64_t export_bytes,
                              struct sw_buf *why)
{
    struct store_move_ctx c;
    size_t n;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    store_move_ctx_init(&c, team_id, why);
    c.records = export_records;
    c.bytes = export_bytes;
    rc = store_update(s, store_finish_txn, &c);
    store_move_ctx_free(&c);
    if (rc == SW_OK)
        rc = store_team_delete(s, team_id, NULL);
    /* Deleted by an earlier finish: its purge may still be marked. */
    if (rc == SW_ENOTFOUND)
        rc = store_team_purge(s, team_id, 0, NULL);
    /* store_team_delete leaves the team's queued jobs to the workers, which
     * drop them lazily; they go now, so that nothing of the team stays. */
    do {
        n = 0;
        if (rc == SW_OK)
            rc = store_job_drop_stale(s, &n);
    } while (rc == SW_OK && n > 0);
    if (rc == SW_OK)
        sw_log_info("store.team_moved", "team=%s records=%llu bytes=%llu",
                    team_id, (unsigned long long)export_records,
                    (unsigned long long)export_bytes);
    return rc;
}

struct store_moved_ctx {
    const char *team_id;
    char *node;
};

static SW_MUST_CHECK sw_err store_moved_txn(store_txn *t, void *arg)
{
    struct store_moved_ctx *c = arg;
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_free(c->node);
    c->node = NULL;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store__move_key(&k, STORE_MOVED_MARK, c->team_id);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_META, sw_buf_str(&k), sw_buf_len(&k), &v,
                       &vl);
    if (rc == SW_OK) {
        c->node = sw_strndup(v, vl);
        rc = c->node ? SW_OK : SW_ENOMEM;
    }
    sw_buf_free(&k);
    return rc;
}

sw_err store_team_moved_to(store *s, const char *team_id, char **node)
{
    struct store_moved_ctx c = {team_id, NULL};
    sw_err rc;

    if (s == NULL || node == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    rc = store_view(s, store_moved_txn, &c);
    if (rc == SW_OK) {
        *node = c.node;
        c.node = NULL;
    }
    sw_free(c.node);
    return rc;
}

/* --- Check ----------------------------------------------------------------
 * `snipd check`: marks are listed as notes; a team's records without its
 * team record and without a mark that explains them are violations. */

struct store_mcheck {
    store_txn *t;
    struct sw_buf *report;
    size_t lines, violations, imports, staged, moves, tombstones;
    const char *mark;   /* the META marks being scanned */
    enum store_db db;   /* the database being scanned for orphans */
    struct sw_buf team; /* the team of the record at hand */
    struct sw_buf last; /* the last team reported for staged records */
};

static void store_mcheck_line(struct store_mcheck *c, int violation,
                              const char *fmt, const char *a, const char *b)
{
    if (violation)
        c->violations++;
    if (++c->lines > STORE_MOVE_REPORT_MAX || c->report == NULL)
        return;
    /* A line that does not fit is cut; the counts stay right. */
    if (sw_buf_addstr(c->report, violation ? "" : "note: ") == SW_OK &&
        sw_buf_printf(c->report, fmt, a ? a : "", b ? b : "") == SW_OK &&
        sw_buf_addc(c->report, '\n') == SW_OK)
        return;
}

/* store_mcheck_team copies into c->team the n bytes at p, a team id. */
static SW_MUST_CHECK sw_err store_mcheck_team(struct store_mcheck *c,
                                              const void *p, size_t n)
{
    sw_buf_reset(&c->team);
    return sw_buf_add(&c->team, p, n);
}

/* store_mcheck_explained sets *yes when team (in c->team) exists or has an
 * import or purge mark. */
static SW_MUST_CHECK sw_err store_mcheck_explained(struct store_mcheck *c,
                                                   int *yes)
{
    const char *team = sw_buf_str(&c->team);
    sw_err rc = store__move_team_exists(c->t, team, yes);

    if (rc == SW_OK && !*yes)
        rc = store__move_marked(c->t, STORE_IMPORT_MARK, team, yes);
    if (rc == SW_OK && !*yes)
        rc = store__move_marked(c->t, STORE_PURGE_MARK, team, yes);
    return rc;
}

/* Marks: "import:TEAM", "move:TEAM" and "moved:TEAM". */
static SW_MUST_CHECK sw_err store_mcheck_mark_cb(const void *k, size_t kl,
                                                 const void *v, size_t vl,
                                                 void *arg)
{
    struct store_mcheck *c = arg;
    size_t ml = strlen(c->mark);
    const char *team;
    int live = 0, done = 0;
    sw_err rc;

    rc = store_mcheck_team(c, (const char *)k + ml, kl - ml);
    team = sw_buf_str(&c->team);
    if (rc == SW_OK)
        rc = store__move_team_exists(c->t, team, &live);
    if (rc)
        return rc;
    if (strcmp(c->mark, STORE_IMPORT_MARK) == 0) {
        c->imports++;
        store_mcheck_line(c, live,
                          live ? "team %s exists but is marked as "
                                 "being imported%s"
                               : "team %s is being imported%s",
                          team, NULL);
        return SW_OK;
    }
    if (strcmp(c->mark, STORE_MOVE_MARK) == 0) {
        ProtobufCMessage *m = NULL;

        c->moves++;
        rc =
            store__unpack(&snipwise__store__move_record__descriptor, v, vl, &m);
        if (rc == SW_ECORRUPT)
            store_mcheck_line(c, 1, "team %s: move record does not decode%s",
                              team, NULL);
        if (rc == SW_OK)
            store_mcheck_line(
                c, 0,
                ((Snipwise__Store__MoveRecord *)m)->state == STORE_MOVE_FROZEN
                    ? "team %s is frozen for a move to %s"
                    : "team %s: its move to %s is done",
                team, ((Snipwise__Store__MoveRecord *)m)->target_node);
        store__msg_free(m);
        return rc == SW_ECORRUPT ? SW_OK : rc;
    }
    c->tombstones++;
    rc = store__move_marked(c->t, STORE_MOVE_MARK, team, &done);
    if (rc == SW_OK && live)
        store_mcheck_line(c, !done,
                          done ? "team %s: moved, not yet deleted "
                                 "(run the move's finish again)%s"
                               : "team %s exists but is marked "
                                 "moved%s",
                          team, NULL);
    return rc;
}

/* Staged records need their import mark. */
static SW_MUST_CHECK sw_err store_mcheck_stage_cb(const void *k, size_t kl,
                                                  const void *v, size_t vl,
                                                  void *arg)
{
    struct store_mcheck *c = arg;
    size_t ml = sizeof(STORE_IMPORT_STAGE) - 1;
    const char *nul = memchr((const char *)k + ml, '\0', kl - ml);
    int yes = 0;
    sw_err rc;

    (void)v;
    (void)vl;
    c->staged++;
    rc =
        store_mcheck_team(c, (const char *)k + ml,
                          nul ? (size_t)(nul - (const char *)k) - ml : kl - ml);
    if (rc == SW_OK)
        rc = store__move_marked(c->t, STORE_IMPORT_MARK, sw_buf_str(&c->team),
                                &yes);
    if (rc || yes || strcmp(sw_buf_str(&c->last), sw_buf_str(&c->team)) == 0)
        return rc;
    store_mcheck_line(c, 1,
                      "team %s: staged import records without an "
                      "import mark%s",
                      sw_buf_str(&c->team), NULL);
    sw_buf_reset(&c->last);
    return sw_buf_add(&c->last, sw_buf_str(&c->team), sw_buf_len(&c->team));
}

/* The first key of a scan: its team, up to the NUL (the whole key if none). */
static SW_MUST_CHECK sw_err store_mcheck_first_cb(const void *k, size_t kl,
                                                  const void *v, size_t vl,
                                                  void *arg)
{
    struct store_mcheck *c = arg;
    const char *nul = memchr(k, '\0', kl);
    sw_err rc;

    (void)v;
    (void)vl;
    rc = store_mcheck_team(c, k, nul ? (size_t)(nul - (const char *)k) : kl);
    return rc ? rc : STORE_SCAN_STOP;
}

/* store_mcheck_orphans visits each team with records in the prefixed db,
 * seeking past each team's keys (team + "\x01" sorts after them all). */
static SW_MUST_CHECK sw_err store_mcheck_orphans(struct store_mcheck *c,
                                                 enum store_db db)
{
    struct sw_buf from;
    int first = 1, yes = 0;
    sw_err rc = SW_OK;

    sw_buf_init(&from, STORE_KEYBUF_MAX);
    for (;;) {
        sw_buf_reset(&c->team);
        rc = store_scan(c->t, db, NULL, 0, first ? NULL : sw_buf_str(&from),
                        sw_buf_len(&from), store_mcheck_first_cb, c);
        first = 0;
        if (rc || (sw_buf_len(&c->team) == 0 && sw_buf_len(&from) > 0))
            break;
        sw_buf_reset(&from);
        rc = sw_buf_add(&from, sw_buf_str(&c->team), sw_buf_len(&c->team));
        if (rc == SW_OK)
            rc = sw_buf_addc(&from, '\x01');
        if (rc)
            break;
        if (sw_buf_len(&c->team) == 0)
            continue; /* admin records ("" team) or an empty db's end */
        rc = store_mcheck_explained(c, &yes);
        if (rc)
            break;
        if (!yes)
            store_mcheck_line(c, 1,
                              "team %s has records in %s but no team "
                              "record and no import or purge mark",
                              sw_buf_str(&c->team), store_db_name(db));
    }
    sw_buf_free(&from);
    return rc;
}

/* KEY_IDS (value: team) and KEY_HASHES (value: team\0key_id) entries of a
 * team that is neither there nor being imported or purged. */
static SW_MUST_CHECK sw_err store_mcheck_keyref_cb(const void *k, size_t kl,
                                                   const void *v, size_t vl,
                                                   void *arg)
{
    struct store_mcheck *c = arg;
    const char *nul = memchr(v, '\0', vl);
    int yes = 0;
    sw_err rc;

    (void)k;
    (void)kl;
    rc = store_mcheck_team(c, v, nul ? (size_t)(nul - (const char *)v) : vl);
    if (rc || sw_buf_len(&c->team) == 0)
        return rc; /* admin keys */
    rc = store_mcheck_explained(c, &yes);
    if (rc == SW_OK && !yes)
        store_mcheck_line(c, 1,
                          "team %s has an entry in %s but no team "
                          "record and no import or purge mark",
                          sw_buf_str(&c->team), store_db_name(c->db));
    return rc;
}

static SW_MUST_CHECK sw_err store_mcheck_view(store_txn *t, void *arg)
{
    static const char *const marks[] = {STORE_IMPORT_MARK, STORE_MOVE_MARK,
                                        STORE_MOVED_MARK};
    struct store_mcheck *c = arg;
    sw_err rc = SW_OK;
    size_t i;
    int db;

    c->t = t;
    for (i = 0; rc == SW_OK && i < sizeof(marks) / sizeof(marks[0]); i++) {
        c->mark = marks[i];
        rc = store_scan(t, STORE_DB_META, c->mark, strlen(c->mark), NULL, 0,
                        store_mcheck_mark_cb, c);
    }
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_META, STORE_IMPORT_STAGE,
                        sizeof(STORE_IMPORT_STAGE) - 1, NULL, 0,
                        store_mcheck_stage_cb, c);
    for (db = 0; rc == SW_OK && db < STORE_DB_COUNT; db++)
        if (store__move_prefixed[db])
            rc = store_mcheck_orphans(c, (enum store_db)db);
    c->db = STORE_DB_KEY_IDS;
    if (rc == SW_OK)
        rc = store_scan(t, c->db, NULL, 0, NULL, 0, store_mcheck_keyref_cb, c);
    c->db = STORE_DB_KEY_HASHES;
    if (rc == SW_OK)
        rc = store_scan(t, c->db, NULL, 0, NULL, 0, store_mcheck_keyref_cb, c);
    return rc;
}

sw_err store_move_check(store *s, struct sw_buf *report, size_t *violations,
                        struct sw_buf *summary)
{
    struct store_mcheck c;
    sw_err rc;

    if (s == NULL || violations == NULL)
        return SW_EINVAL;
    memset(&c, 0, sizeof(c));
    c.report = report;
    sw_buf_init(&c.team, STORE_KEYBUF_MAX);
    sw_buf_init(&c.last, STORE_KEYBUF_MAX);
    rc = store_view(s, store_mcheck_view, &c);
    sw_buf_free(&c.team);
    sw_buf_free(&c.last);
    if (rc)
        return rc;
    if (c.lines > STORE_MOVE_REPORT_MAX && report)
        rc = sw_buf_printf(report, "... and %zu more lines\n",
                           c.lines - STORE_MOVE_REPORT_MAX);
    if (rc == SW_OK && summary)
        rc = sw_buf_printf(summary,
                           "%zu imports running (%zu staged records), %zu "
                           "moves, %zu tombstones, %zu violations",
                           c.imports, c.staged, c.moves, c.tombstones,
                           c.violations);
    if (rc == SW_OK)
        *violations = c.violations;
    return rc;
}
