/* store_job: the extraction job queue declared in store_job.h. JOBS holds
 * JobRecords under 8-byte big-endian ids (enqueue order); JOB_TEAM indexes
 * them by team so that a team's jobs can be found and purged. */
#include "store/store_job.h"

#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/mail_records.pb-c.h"
#include "store/store_int.h"

#define STORE_JOB_ERR_MAX 1024
#define STORE_JOB_STALE_MAX 256 /* stale jobs removed per store_job_next */

void store_job_clear(struct store_job *j)
{
    if (j == NULL)
        return;
    sw_free(j->team_id);
    sw_free(j->email_id);
    sw_free(j->last_error);
    memset(j, 0, sizeof(*j));
}

/* store_job_from copies a record into *out (zeroed first). */
static SW_MUST_CHECK sw_err store_job_from(const Snipwise__Store__JobRecord *r,
                                           struct store_job *out)
{
    memset(out, 0, sizeof(*out));
    out->job_id = r->job_id;
    out->kind = r->kind;
    out->attempts = r->attempts;
    out->not_before_ms = r->not_before_unix_ms;
    out->team_id = sw_strdup(r->team_id);
    out->email_id = sw_strdup(r->email_id);
    if (r->last_error && r->last_error[0])
        out->last_error = sw_strdup(r->last_error);
    if (out->team_id == NULL || out->email_id == NULL ||
        (r->last_error && r->last_error[0] && out->last_error == NULL)) {
        store_job_clear(out);
        return SW_ENOMEM;
    }
    return SW_OK;
}

/* store_job_team_key writes team\0id into b. */
static SW_MUST_CHECK sw_err store_job_team_key(struct sw_buf *b,
                                               const char *team_id, uint64_t id)
{
    sw_err rc = store_key(b, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(b, id);
    return rc;
}

sw_err store_job_enqueue(store_txn *t, const char *team_id,
                         const char *email_id, int kind, uint64_t *job_id)
{
    Snipwise__Store__JobRecord r = SNIPWISE__STORE__JOB_RECORD__INIT;
    unsigned char k[8];
    struct sw_buf tk;
    uint64_t id = 0;
    sw_err rc;

    sw_buf_init(&tk, STORE_KEYBUF_MAX);
    if (t == NULL || !store_txn_is_write(t) || team_id == NULL || !team_id[0] ||
        email_id == NULL || !email_id[0] ||
        (kind != STORE_JOB_EXTRACT_OUTBOUND &&
         kind != STORE_JOB_CLASSIFY_INBOUND)) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_seq_next(t, "", "job", &id);
    if (rc)
        goto out;
    r.job_id = id;
    r.team_id = (char *)team_id;
    r.email_id = (char *)email_id;
    r.kind = kind;
    r.create_unix_ms = sw_now_ms();
    store_u64_put(k, id);
    rc = store__put_msg(t, STORE_DB_JOBS, k, sizeof(k), &r.base,
                        STORE_NOOVERWRITE);
    if (rc)
        goto out;
    rc = store_job_team_key(&tk, team_id, id);
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_JOB_TEAM, sw_buf_str(&tk), sw_buf_len(&tk), "",
                   0, 0);
    if (rc)
        goto out;
    if (job_id)
        *job_id = id;
out:
    sw_buf_free(&tk);
    return rc;
}

sw_err store_job_get(store_txn *t, uint64_t job_id, struct store_job *out)
{
    ProtobufCMessage *m = NULL;
    unsigned char k[8];
    sw_err rc;

    store_u64_put(k, job_id);
    rc = store__get_msg(t, STORE_DB_JOBS, k, sizeof(k),
                        &snipwise__store__job_record__descriptor, &m);
    if (rc)
        goto out;
    rc = store_job_from((Snipwise__Store__JobRecord *)m, out);
out:
    store__msg_free(m);
    return rc;
}

/* The scan of store_job_next: the first due job whose team exists, and the
 * ids of jobs whose team is gone. */
struct store_job_scan {
    store_txn *t;
    int64_t now_ms;
    struct store_job *out;
    int found;
    int stale_only; /* store_job_drop_stale: collect stale jobs, take none */
    uint64_t stale[STORE_JOB_STALE_MAX];
    size_t nstale;
};

static SW_MUST_CHECK sw_err store_job_scan_cb(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct store_job_scan *sc = arg;
    Snipwise__Store__JobRecord *r;
    ProtobufCMessage *m = NULL;
    const void *tv;
    size_t tvl;
    sw_err rc;

    (void)k;
    (void)kl;
    rc = store__unpack(&snipwise__store__job_record__descriptor, v, vl, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__JobRecord *)m;
    if (!sc->stale_only && r->not_before_unix_ms > sc->now_ms)
        goto out;
    if (!r->team_id[0])
        rc = SW_ENOTFOUND;
    else
        rc = store_get(sc->t, STORE_DB_TEAMS, r->team_id, strlen(r->team_id),
                       &tv, &tvl);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK;
        if (sc->nstale < STORE_JOB_STALE_MAX)
            sc->stale[sc->nstale++] = r->job_id;
        else if (sc->stale_only)
            rc = STORE_SCAN_STOP;
        goto out;
    }
    if (rc || sc->stale_only)
        goto out;
    rc = store_job_from(r, sc->out);
    if (rc)
        goto out;
    sc->found = 1;
    rc = STORE_SCAN_STOP;
out:
    store__msg_free(m);
    return rc;
}

static SW_MUST_CHECK sw_err store_job_next_view(store_txn *t, void *arg)
{
    struct store_job_scan *sc = arg;

    sc->t = t;
    sc->nstale = 0;
    sc->found = 0;
    store_job_clear(sc->out);
    return store_scan(t, STORE_DB_JOBS, NULL, 0, NULL, 0, store_job_scan_cb,
                      sc);
}

/* store_job_drop_stale removes queued jobs whose team is gone (checked again
 * inside the write transaction). */
static SW_MUST_CHECK sw_err store_job_drop_stale_txn(store_txn *t, void *arg)
{
    const struct store_job_scan *sc = arg;
    struct store_job j;
    const void *tv;
    size_t i, tvl;
    sw_err rc = SW_OK;

    memset(&j, 0, sizeof(j));
    for (i = 0; i < sc->nstale; i++) {
        rc = store_job_get(t, sc->stale[i], &j);
        if (rc == SW_ENOTFOUND) {
            rc = SW_OK;
            continue;
        }
        if (rc)
            goto out;
        rc = j.team_id[0] ? store_get(t, STORE_DB_TEAMS, j.team_id,
                                      strlen(j.team_id), &tv, &tvl)
                          : SW_ENOTFOUND;
        if (rc == SW_ENOTFOUND)
            rc = store_job_finish(t, sc->stale[i]);
        store_job_clear(&j);
        if (rc)
            goto out;
    }
out:
    store_job_clear(&j);
    return rc;
}

sw_err store_job_next(store *s, int64_t now_ms, struct store_job *out)
{
    struct store_job_scan *sc = NULL;
    struct store_job j;
    sw_err rc;

    memset(&j, 0, sizeof(j));
    if (s == NULL || out == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    sc = sw_calloc(1, sizeof(*sc));
    if (sc == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    sc->now_ms = now_ms;
    sc->out = &j;
    rc = store_view(s, store_job_next_view, sc);
    if (rc)
        goto out;
    if (sc->nstale) {
        sw_log_info("store.job_stale", "removed=%zu", sc->nstale);
        rc = store_update(s, store_job_drop_stale_txn, sc);
        if (rc)
            goto out;
    }
    if (!sc->found) {
        rc = SW_ENOTFOUND;
        goto out;
    }
    *out = j;
    memset(&j, 0, sizeof(j));
out:
    store_job_clear(&j);
    sw_free(sc);
    if (rc && out)
        memset(out, 0, sizeof(*out));
    return rc;
}

sw_err store_job_drop_stale(store *s, size_t *n)
{
    struct store_job_scan *sc = NULL;
    struct store_job j;
    sw_err rc;

    memset(&j, 0, sizeof(j));
    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    sc = sw_calloc(1, sizeof(*sc));
    if (sc == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    sc->out = &j;
    sc->stale_only = 1;
    rc = store_view(s, store_job_next_view, sc);
    if (rc == SW_OK && sc->nstale) {
        sw_log_info("store.job_stale", "removed=%zu", sc->nstale);
        rc = store_update(s, store_job_drop_stale_txn, sc);
    }
    if (rc == SW_OK && n)
        *n = sc->nstale;
out:
    store_job_clear(&j);
    sw_free(sc);
    return rc;
}

/* The walk of store_job_next_team over JOB_TEAM (team\0 + 8-byte id). */
struct store_job_walk {
    store_txn *t;
    int64_t now_ms;
    store_job_skip_fn skip;
    void *arg;
    const char *limit; /* end after keys sorting after limit; NULL: none */
    size_t llen;
    struct sw_buf team; /* the team of the keys in hand, NUL-terminated */
    int have_team;
    int team_skipped;
    int seek;   /* stopped to seek past the keys of team */
    int at_end; /* stopped at limit */
    int found;
    struct store_job *out;
};

/* store_job_keycmp orders keys as LMDB does by default: bytes, then
 * length. */
static int store_job_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static SW_MUST_CHECK sw_err store_job_walk_cb(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct store_job_walk *wk = arg;
    const char *key = k;
    ProtobufCMessage *m = NULL;
    Snipwise__Store__JobRecord *r;
    size_t tl;
    sw_err rc;

    (void)v;
    (void)vl;
    if (wk->limit && store_job_keycmp(k, kl, wk->limit, wk->llen) > 0) {
        wk->at_end = 1;
        return STORE_SCAN_STOP;
    }
    if (kl < 10 || key[kl - 9] != '\0')
        return SW_ECORRUPT;
    tl = kl - 9;
    if (!wk->have_team || sw_buf_len(&wk->team) != tl ||
        memcmp(sw_buf_str(&wk->team), key, tl) != 0) {
        sw_buf_reset(&wk->team);
        rc = sw_buf_add(&wk->team, key, tl);
        if (rc)
            return rc;
        wk->have_team = 1;
        wk->team_skipped = wk->skip && wk->skip(sw_buf_str(&wk->team), wk->arg);
    }
    if (wk->team_skipped) {
        wk->seek = 1;
        return STORE_SCAN_STOP;
    }
    rc = store__get_msg(wk->t, STORE_DB_JOBS, key + tl + 1, 8,
                        &snipwise__store__job_record__descriptor, &m);
    if (rc == SW_ENOTFOUND) /* an index entry without its job: pass */
        return SW_OK;
    if (rc)
        return rc;
    r = (Snipwise__Store__JobRecord *)m;
    if (r->not_before_unix_ms <= wk->now_ms) {
        rc = store_job_from(r, wk->out);
        if (rc == SW_OK) {
            wk->found = 1;
            rc = STORE_SCAN_STOP;
        }
    }
    store__msg_free(m);
    return rc;
}

/* store_job_team_end writes team\0 + eight 0xff bytes, which sorts after
 * every index key of team and before every key of any other team. */
static SW_MUST_CHECK sw_err store_job_team_end(struct sw_buf *b,
                                               const char *team)
{
    static const unsigned char ff[8] = {0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff};
    sw_err rc = store_key(b, team, NULL, 0);

    if (rc == SW_OK)
        rc = sw_buf_add(b, ff, sizeof(ff));
    return rc;
}

/* store_job_walk_from walks from after the key from[0..flen) (NULL: the
 * first key) until a job is found, the walk's limit or the end. */
static SW_MUST_CHECK sw_err store_job_walk_from(struct store_job_walk *wk,
                                                const char *from, size_t flen)
{
    struct sw_buf pos;
    sw_err rc;

    sw_buf_init(&pos, STORE_KEYBUF_MAX + 16);
    if (from) {
        rc = sw_buf_add(&pos, from, flen);
        if (rc)
            goto out;
    }
    for (;;) {
        wk->seek = 0;
        rc = store_scan(wk->t, STORE_DB_JOB_TEAM, NULL, 0,
                        sw_buf_len(&pos) ? sw_buf_str(&pos) : NULL,
                        sw_buf_len(&pos), store_job_walk_cb, wk);
        if (rc || !wk->seek)
            break;
        /* Skip the rest of the rejected team's keys in one seek. */
        rc = store_job_team_end(&pos, sw_buf_str(&wk->team));
        if (rc)
            break;
    }
out:
    sw_buf_free(&pos);
    return rc;
}

/* A pick, for store_job_next_team (team NULL: the next team after
 * after_team) or store_job_next_of_team (team's next job after after_id). */
struct store_job_pick {
    const char *after_team;
    const char *team;
    uint64_t after_id;
    struct store_job_walk wk;
};

/* store_job_next_team_walk: the teams after a->after_team, then from the
 * first team through it. */
static SW_MUST_CHECK sw_err store_job_next_team_walk(struct store_job_pick *a,
                                                     struct sw_buf *end)
{
    struct store_job_walk *wk = &a->wk;
    sw_err rc;

    if (a->after_team == NULL || !a->after_team[0])
        return store_job_walk_from(wk, NULL, 0);
    rc = store_job_team_end(end, a->after_team);
    if (rc == SW_OK)
        rc = store_job_walk_from(wk, sw_buf_str(end), sw_buf_len(end));
    if (rc || wk->found)
        return rc;
    wk->limit = sw_buf_str(end);
    wk->llen = sw_buf_len(end);
    return store_job_walk_from(wk, NULL, 0);
}

/* store_job_of_team_walk: a->team's keys after its job a->after_id. */
static SW_MUST_CHECK sw_err store_job_of_team_walk(struct store_job_pick *a,
                                                   struct sw_buf *end)
{
    struct store_job_walk *wk = &a->wk;
    struct sw_buf from;
    sw_err rc;

    sw_buf_init(&from, STORE_KEYBUF_MAX + 16);
    rc = store_job_team_key(&from, a->team, a->after_id);
    if (rc == SW_OK)
        rc = store_job_team_end(end, a->team);
    if (rc == SW_OK) {
        wk->limit = sw_buf_str(end);
        wk->llen = sw_buf_len(end);
        rc = store_job_walk_from(wk, sw_buf_str(&from), sw_buf_len(&from));
    }
    sw_buf_free(&from);
    return rc;
}

static SW_MUST_CHECK sw_err store_job_pick_view(store_txn *t, void *arg)
{
    struct store_job_pick *a = arg;
    struct store_job_walk *wk = &a->wk;
    struct sw_buf end;
    sw_err rc;

    sw_buf_init(&end, STORE_KEYBUF_MAX + 16);
    wk->t = t;
    wk->found = wk->have_team = wk->at_end = 0;
    wk->limit = NULL;
    store_job_clear(wk->out);
    rc = a->team ? store_job_of_team_walk(a, &end)
                 : store_job_next_team_walk(a, &end);
    sw_buf_free(&end);
    return rc;
}

/* store_job_pick_run runs pick a in a read transaction; the job found, if
 * any, goes to *out (zeroed on error). */
static SW_MUST_CHECK sw_err store_job_pick_run(store *s,
                                               struct store_job_pick *a,
                                               int64_t now_ms,
                                               struct store_job *out)
{
    struct store_job j;
    sw_err rc;

    memset(&j, 0, sizeof(j));
    sw_buf_init(&a->wk.team, STORE_KEYBUF_MAX);
    a->wk.now_ms = now_ms;
    a->wk.out = &j;
    rc = store_view(s, store_job_pick_view, a);
    if (rc == SW_OK && !a->wk.found)
        rc = SW_ENOTFOUND;
    if (rc == SW_OK) {
        *out = j;
        memset(&j, 0, sizeof(j));
    } else {
        memset(out, 0, sizeof(*out));
    }
    store_job_clear(&j);
    sw_buf_free(&a->wk.team);
    return rc;
}

sw_err store_job_next_team(store *s, int64_t now_ms, const char *after_team,
                           store_job_skip_fn skip, void *arg,
                           struct store_job *out)
{
    struct store_job_pick a;

    if (s == NULL || out == NULL) {
        if (out)
            memset(out, 0, sizeof(*out));
        return SW_EINVAL;
    }
    memset(&a, 0, sizeof(a));
    a.after_team = after_team;
    a.wk.skip = skip;
    a.wk.arg = arg;
    return store_job_pick_run(s, &a, now_ms, out);
}

sw_err store_job_next_of_team(store *s, int64_t now_ms, const char *team_id,
                              uint64_t after_job_id, struct store_job *out)
{
    struct store_job_pick a;

    if (s == NULL || out == NULL || team_id == NULL || !team_id[0]) {
        if (out)
            memset(out, 0, sizeof(*out));
        return SW_EINVAL;
    }
    memset(&a, 0, sizeof(a));
    a.team = team_id;
    a.after_id = after_job_id;
    return store_job_pick_run(s, &a, now_ms, out);
}

sw_err store_job_finish(store_txn *t, uint64_t job_id)
{
    struct store_job j;
    unsigned char k[8];
    struct sw_buf tk;
    sw_err rc;

    memset(&j, 0, sizeof(j));
    sw_buf_init(&tk, STORE_KEYBUF_MAX);
    if (t == NULL || !store_txn_is_write(t)) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_job_get(t, job_id, &j);
    if (rc)
        goto out;
    store_u64_put(k, job_id);
    rc = store_del(t, STORE_DB_JOBS, k, sizeof(k));
    if (rc)
        goto out;
    rc = store_job_team_key(&tk, j.team_id, job_id);
    if (rc)
        goto out;
    rc = store_del(t, STORE_DB_JOB_TEAM, sw_buf_str(&tk), sw_buf_len(&tk));
    if (rc == SW_ENOTFOUND) /* the team's index went with the team */
        rc = SW_OK;
out:
    store_job_clear(&j);
    sw_buf_free(&tk);
    return rc;
}

struct store_job_defer_arg {
    uint64_t job_id;
    int64_t not_before_ms;
    const char *error;
};

static SW_MUST_CHECK sw_err store_job_defer_cb(store_txn *t, void *arg)
{
    const struct store_job_defer_arg *a = arg;
    Snipwise__Store__JobRecord *r;
    ProtobufCMessage *m = NULL;
    unsigned char k[8];
    char *err = NULL;
    sw_err rc;

    store_u64_put(k, a->job_id);
    rc = store__get_msg(t, STORE_DB_JOBS, k, sizeof(k),
                        &snipwise__store__job_record__descriptor, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__JobRecord *)m;
    err = sw_strndup(a->error ? a->error : "",
                     a->error ? strnlen(a->error, STORE_JOB_ERR_MAX) : 0);
    if (err == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    r->attempts++;
    r->not_before_unix_ms = a->not_before_ms;
    /* The unpacked string belongs to the message; swap in ours and put the
     * original back before freeing so that each is freed once. */
    {
        char *orig = r->last_error;
        r->last_error = err;
        rc = store__put_msg(t, STORE_DB_JOBS, k, sizeof(k), &r->base, 0);
        r->last_error = orig;
    }
out:
    sw_free(err);
    store__msg_free(m);
    return rc;
}

sw_err store_job_defer(store *s, uint64_t job_id, int64_t not_before_ms,
                       const char *error)
{
    struct store_job_defer_arg a;

    if (s == NULL)
        return SW_EINVAL;
    a.job_id = job_id;
    a.not_before_ms = not_before_ms;
    a.error = error;
    return store_update(s, store_job_defer_cb, &a);
}

sw_err store_job_defer_txn(store_txn *t, uint64_t job_id, int64_t not_before_ms,
                           const char *error)
{
    struct store_job_defer_arg a;

    if (t == NULL || !store_txn_is_write(t))
        return SW_EINVAL;
    a.job_id = job_id;
    a.not_before_ms = not_before_ms;
    a.error = error;
    return store_job_defer_cb(t, &a);
}

sw_err store_job_count(store *s, uint64_t *pending)
{
    struct store_stats st;
    sw_err rc;

    if (s == NULL || pending == NULL)
        return SW_EINVAL;
    rc = store_stat(s, &st);
    if (rc == SW_OK)
        *pending = st.entries[STORE_DB_JOBS];
    return rc;
}

static SW_MUST_CHECK sw_err store_job_ids_cb(const void *k, size_t kl,
                                             const void *v, size_t vl,
                                             void *arg)
{
    struct sw_buf *ids = arg;

    (void)v;
    (void)vl;
    if (kl < 8)
        return SW_ECORRUPT;
    return sw_buf_add(ids, (const char *)k + kl - 8, 8);
}

sw_err store_job_purge_team(store_txn *t, const char *team_id, size_t *n)
{
    struct sw_buf prefix, ids;
    size_t i, del = 0;
    sw_err rc;

    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&ids, (size_t)1 << 30);
    if (t == NULL || team_id == NULL || !team_id[0]) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_key(&prefix, team_id, NULL, 0);
    if (rc)
        goto out;
    rc = store_scan(t, STORE_DB_JOB_TEAM, sw_buf_str(&prefix),
                    sw_buf_len(&prefix), NULL, 0, store_job_ids_cb, &ids);
    if (rc)
        goto out;
    for (i = 0; i + 8 <= sw_buf_len(&ids); i += 8) {
        rc = store_del(t, STORE_DB_JOBS, sw_buf_str(&ids) + i, 8);
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
        else if (rc == SW_OK)
            del++;
        if (rc)
            goto out;
    }
    rc = store_del_prefix(t, STORE_DB_JOB_TEAM, sw_buf_str(&prefix),
                          sw_buf_len(&prefix), NULL);
    if (rc)
        goto out;
    if (n)
        *n += del;
out:
    sw_buf_free(&prefix);
    sw_buf_free(&ids);
    return rc;
}

sw_err store_job_drop_email(store_txn *t, const char *team_id,
                            const char *email_id, size_t *n)
{
    struct sw_buf prefix, ids;
    struct store_job j;
    size_t i, del = 0;
    sw_err rc;

    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&ids, (size_t)1 << 30);
    if (t == NULL || team_id == NULL || !team_id[0] || email_id == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_key(&prefix, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_JOB_TEAM, sw_buf_str(&prefix),
                        sw_buf_len(&prefix), NULL, 0, store_job_ids_cb, &ids);
    for (i = 0; rc == SW_OK && i + 8 <= sw_buf_len(&ids); i += 8) {
        uint64_t id = store_u64_get(sw_buf_str(&ids) + i);

        memset(&j, 0, sizeof(j));
        rc = store_job_get(t, id, &j);
        if (rc == SW_OK && strcmp(j.email_id, email_id) == 0) {
            rc = store_job_finish(t, id);
            del += rc == SW_OK;
        } else if (rc == SW_ENOTFOUND) {
            rc = SW_OK;
        }
        store_job_clear(&j);
    }
    if (rc == SW_OK && n)
        *n += del;
out:
    sw_buf_free(&prefix);
    sw_buf_free(&ids);
    return rc;
}

static sw_err store_job_count_cb(const void *k, size_t kl, const void *v,
                                 size_t vl, void *arg)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(uint64_t *)arg)++;
    return SW_OK;
}

struct store_job_pending_arg {
    const char *team_id;
    uint64_t n;
};

static sw_err store_job_pending_fn(store_txn *t, void *arg)
{
    struct store_job_pending_arg *a = arg;
    struct sw_buf prefix;
    sw_err rc;

    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    a->n = 0;
    rc = store_key(&prefix, a->team_id, NULL, 0);
    if (rc == SW_OK)
        rc =
            store_scan(t, STORE_DB_JOB_TEAM, sw_buf_str(&prefix),
                       sw_buf_len(&prefix), NULL, 0, store_job_count_cb, &a->n);
    sw_buf_free(&prefix);
    return rc;
}

sw_err store_job_team_pending(store *s, const char *team_id, uint64_t *pending)
{
    struct store_job_pending_arg a = {team_id, 0};
    sw_err rc;

    if (s == NULL || team_id == NULL || !team_id[0] || pending == NULL)
        return SW_EINVAL;
    rc = store_view(s, store_job_pending_fn, &a);
    if (rc == SW_OK)
        *pending = a.n;
    return rc;
}
