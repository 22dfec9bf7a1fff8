/* store_move_fault_test: a team's export and import (store_move.h) with
 * allocation N failing (N = 1, 2, ...) until a run completes without
 * reaching N. Each run exports the team from a source store and imports it
 * into a fresh target. After every failed run the failure is a clean
 * SW_ENOMEM, nothing leaked, and the target holds either the whole team,
 * byte for byte, or nothing visible of it (not found, its keys refused, no
 * key, job or team entry); store_move_check finds no violation; and an
 * import from import_begin again (without faults) succeeds. The same for
 * the abort of an interrupted import and for freeze and finish on the
 * source. */
#include "tests/testutil.h"

#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_job.h"
#include "store/store_move.h"
#include "store/store_tenant.h"

struct fault {
    uint64_t at;
    int fired;
};

static int fault_hook(uint64_t ordinal, void *arg)
{
    struct fault *f = arg;

    if (ordinal != f->at)
        return 0;
    f->fired = 1;
    return 1;
}

/* --- Records of an export, copied out ------------------------------------ */

struct recs {
    struct store_move_rec *v;
    size_t n, cap;
};

static void recs_free(struct recs *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        sw_free((void *)r->v[i].db);
        sw_free((void *)r->v[i].key);
        sw_free((void *)r->v[i].val);
    }
    sw_free(r->v);
    memset(r, 0, sizeof(*r));
}

/* collect_cb copies a record; on failure nothing is kept of it. */
static SW_MUST_CHECK sw_err collect_cb(const struct store_move_rec *m,
                                       void *arg)
{
    struct recs *r = arg;
    struct store_move_rec x;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        void *p = sw_realloc(r->v, cap * sizeof(*r->v));

        if (p == NULL)
            return SW_ENOMEM;
        r->v = p;
        r->cap = cap;
    }
    x.db = sw_strdup(m->db);
    x.key = sw_memdup(m->key, m->klen);
    x.val = sw_memdup(m->vlen ? m->val : "", m->vlen ? m->vlen : 1);
    x.klen = m->klen;
    x.vlen = m->vlen;
    if (x.db == NULL || x.key == NULL || x.val == NULL) {
        sw_free((void *)x.db);
        sw_free((void *)x.key);
        sw_free((void *)x.val);
        return SW_ENOMEM;
    }
    r->v[r->n++] = x;
    return SW_OK;
}

static SW_MUST_CHECK sw_err export_all(store *s, const char *team,
                                       struct recs *r)
{
    struct store_team_export *e = NULL;
    int done = 0;
    sw_err rc;

    rc = store_team_export_begin(s, team, &e, NULL);
    while (rc == SW_OK && !done)
        rc = store_team_export_next(e, collect_cb, r, 256, &done);
    store_team_export_end(&e);
    return rc;
}

static SW_MUST_CHECK sw_err import_all(store *s, const char *team,
                                       const struct recs *r)
{
    sw_err rc = store_team_import_begin(s, team, NULL);
    size_t i, per = 6;

    for (i = 0; rc == SW_OK && i < r->n; i += per)
        rc = store_team_import_put(s, team, r->v + i,
                                   r->n - i < per ? r->n - i : per, NULL);
    if (rc == SW_OK)
        rc = store_team_import_commit(s, team, NULL);
    return rc;
}

/* --- What a store holds of a team -----------------------------------------
 * The prefixed records, the team record, the key hashes and ids naming the
 * team and its queued jobs (by content, as the import renumbers them),
 * each as db\0 klen key vlen value. */

struct dump {
    store_txn *t;
    const char *team;
    enum store_db db;
    struct sw_buf out;
    size_t visible; /* records of the databases a caller sees */
};

static SW_MUST_CHECK sw_err dump_add(struct dump *d, const void *k, size_t kl,
                                     const void *v, size_t vl)
{
    uint32_t n = (uint32_t)kl;
    sw_err rc = sw_buf_addstr(&d->out, store_db_name(d->db));

    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, &n, sizeof(n));
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, k, kl);
    n = (uint32_t)vl;
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, &n, sizeof(n));
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, v, vl);
    if (d->db == STORE_DB_TEAMS || d->db == STORE_DB_KEY_HASHES ||
        d->db == STORE_DB_KEY_IDS || d->db == STORE_DB_JOBS ||
        d->db == STORE_DB_JOB_TEAM)
        d->visible++;
    return rc;
}

static SW_MUST_CHECK sw_err dump_cb(const void *k, size_t kl, const void *v,
                                    size_t vl, void *arg)
{
    struct dump *d = arg;
    size_t tl = strlen(d->team);
    struct store_job j = {0};
    sw_err rc = SW_OK;

    switch (d->db) {
    case STORE_DB_TEAMS:
        return kl == tl && memcmp(k, d->team, tl) == 0
                   ? dump_add(d, k, kl, v, vl)
                   : SW_OK;
    case STORE_DB_KEY_IDS:
        return vl == tl && memcmp(v, d->team, tl) == 0
                   ? dump_add(d, k, kl, v, vl)
                   : SW_OK;
    case STORE_DB_KEY_HASHES:
        return vl > tl && memcmp(v, d->team, tl + 1) == 0
                   ? dump_add(d, k, kl, v, vl)
                   : SW_OK;
    case STORE_DB_JOB_TEAM:
        return dump_add(d, "", 0, "", 0); /* ids differ: count them */
    case STORE_DB_JOBS:
        rc = store_job_get(d->t, store_u64_get(k), &j);
        if (rc == SW_OK && strcmp(j.team_id, d->team) == 0)
            rc = dump_add(d, j.email_id, strlen(j.email_id), &j.kind,
                          sizeof(j.kind));
        store_job_clear(&j);
        return rc;
    default:
        return dump_add(d, k, kl, v, vl);
    }
}

static SW_MUST_CHECK sw_err dump_txn(store_txn *t, void *arg)
{
    struct dump *d = arg;
    struct sw_buf prefix;
    sw_err rc;
    int i;

    d->t = t;
    sw_buf_reset(&d->out);
    d->visible = 0;
    sw_buf_init(&prefix, 1024);
    rc = store_key(&prefix, d->team, NULL, 0);
    for (i = 1; rc == SW_OK && i < STORE_DB_COUNT; i++) {
        int whole = i == STORE_DB_TEAMS || i == STORE_DB_KEY_IDS ||
                    i == STORE_DB_KEY_HASHES || i == STORE_DB_JOBS;

        d->db = (enum store_db)i;
        rc = store_scan(t, d->db, whole ? NULL : sw_buf_str(&prefix),
                        whole ? 0 : sw_buf_len(&prefix), NULL, 0, dump_cb, d);
    }
    sw_buf_free(&prefix);
    return rc;
}

static void dump_team(store *s, const char *team, struct dump *d)
{
    memset(d, 0, sizeof(*d));
    d->team = team;
    sw_buf_init(&d->out, (size_t)1 << 26);
    ASSERT_OK(store_view(s, dump_txn, d));
}

/* --- The source team ------------------------------------------------------
 */

struct src {
    char dir[TEST_PATH_MAX];
    store *s;
    struct store_team team;
    char *secret, *rep_secret;
    struct recs recs; /* its export, made without faults */
    struct dump dump;
};

static SW_MUST_CHECK sw_err fill_txn(store_txn *t, void *arg)
{
    const char *team = arg;
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, 1024);
    rc =
        store_job_enqueue(t, team, "email_1", STORE_JOB_EXTRACT_OUTBOUND, NULL);
    if (rc == SW_OK)
        rc = store_job_enqueue(t, team, "email_2", STORE_JOB_CLASSIFY_INBOUND,
                               NULL);
    if (rc == SW_OK)
        rc = store_key(&k, team, "snip_1", 6);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_SNIPPETS, sw_buf_str(&k), sw_buf_len(&k),
                       "snippet", 7, 0);
    if (rc == SW_OK)
        rc = store_key(&k, team, "em_1", 4);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                       "email", 5, 0);
    sw_buf_free(&k);
    return rc;
}

static void src_open(struct src *x)
{
    struct store_opts o = {x->dir, 0, 0, 0, 0, 0};
    struct store_team other = {0};
    const char *team;

    memset(x, 0, sizeof(*x));
    test_mkdtemp(x->dir);
    ASSERT_OK(store_open(&o, &x->s));
    ASSERT_OK(store_team_create(x->s, "Other", &other, NULL, NULL));
    ASSERT_OK(store_team_create(x->s, "Moving", &x->team, &x->secret, NULL));
    team = x->team.team_id;
    ASSERT_OK(
        store_member_add(x->s, team, "rep@example.com", "Rep", NULL, NULL));
    ASSERT_OK(store_domain_add(x->s, team, "example.com", NULL, NULL));
    ASSERT_OK(store_key_create_rep(x->s, team, "rep@example.com", "rep", NULL,
                                   &x->rep_secret, NULL));
    ASSERT_OK(store_update(x->s, fill_txn, (void *)team));
    ASSERT_OK(store_update(x->s, fill_txn, other.team_id));
    store_team_clear(&other);
    ASSERT_OK(export_all(x->s, team, &x->recs));
    dump_team(x->s, team, &x->dump);
    assert_true(x->dump.visible >= 9);
}

static void src_close(struct src *x)
{
    recs_free(&x->recs);
    sw_buf_free(&x->dump.out);
    store_team_clear(&x->team);
    sw_free(x->secret);
    sw_free(x->rep_secret);
    store_close(&x->s);
    test_rmtree(x->dir);
}

static sw_err auth(store *s, const char *secret)
{
    struct store_apikey k = {0};
    sw_err rc = store_key_authenticate(s, secret, strlen(secret), &k);

    store_apikey_clear(&k);
    return rc;
}

/* assert_all_or_nothing checks the target after a run: the whole team, or
 * nothing of it a caller can see; returns 1 for the whole team. */
static int assert_all_or_nothing(struct src *x, store *dst)
{
    const char *team = x->team.team_id;
    struct store_team t = {0};
    struct sw_buf report;
    struct dump d;
    size_t v = 99;
    sw_err rc;
    int whole;

    rc = store_team_get(dst, team, &t, NULL);
    store_team_clear(&t);
    if (rc != SW_OK && rc != SW_ENOTFOUND)
        fail_msg("store_team_get: %s", sw_err_name(rc));
    whole = rc == SW_OK;
    dump_team(dst, team, &d);
    if (whole) {
        ASSERT_EQ(sw_buf_len(&d.out), sw_buf_len(&x->dump.out));
        assert_memory_equal(sw_buf_str(&d.out), sw_buf_str(&x->dump.out),
                            sw_buf_len(&d.out));
    } else {
        ASSERT_EQ(d.visible, 0);
    }
    ASSERT_ERR(auth(dst, x->secret), whole ? SW_OK : SW_EUNAUTH);
    ASSERT_ERR(auth(dst, x->rep_secret), whole ? SW_OK : SW_EUNAUTH);
    sw_buf_free(&d.out);
    sw_buf_init(&report, 1 << 16);
    ASSERT_OK(store_move_check(dst, &report, &v, NULL));
    if (v != 0)
        fail_msg("store_move_check: %s", sw_buf_str(&report));
    sw_buf_free(&report);
    return whole;
}

static void test_fault_export_import(void **state)
{
    struct src x;
    struct fault f = {0, 0};
    int64_t live;
    int failures = 0, wholes = 0;
    sw_err rc;

    (void)state;
    src_open(&x);
    live = sw_mem_live();
    for (f.at = 1;; f.at++) {
        char dir[TEST_PATH_MAX];
        struct store_opts o = {dir, 0, 0, 0, 0, 0};
        struct recs r = {0};
        store *dst = NULL;

        test_mkdtemp(dir);
        ASSERT_OK(store_open(&o, &dst));
        f.fired = 0;
        sw_mem_set_fault(fault_hook, &f);
        rc = export_all(x.s, x.team.team_id, &r);
        if (rc == SW_OK)
            rc = import_all(dst, x.team.team_id, &r);
        sw_mem_set_fault(NULL, NULL);
        recs_free(&r);
        if (!f.fired) {
            ASSERT_OK(rc);
            assert_true(assert_all_or_nothing(&x, dst));
            store_close(&dst);
            test_rmtree(dir);
            break;
        }
        if (rc != SW_OK && rc != SW_ENOMEM)
            fail_msg("fail at %llu: got %s, want SW_ENOMEM",
                     (unsigned long long)f.at, sw_err_name(rc));
        failures += rc != SW_OK;
        wholes += assert_all_or_nothing(&x, dst);
        /* Again from import_begin, without faults. */
        rc = import_all(dst, x.team.team_id, &x.recs);
        if (rc != SW_OK && rc != SW_EEXIST)
            fail_msg("retry after %llu: %s", (unsigned long long)f.at,
                     sw_err_name(rc));
        assert_true(assert_all_or_nothing(&x, dst));
        store_close(&dst);
        test_rmtree(dir);
        if (sw_mem_live() != live)
            fail_msg("fail at %llu: %lld blocks leaked",
                     (unsigned long long)f.at,
                     (long long)(sw_mem_live() - live));
    }
    print_message("allocation faults injected: %llu, failed cleanly: %d, "
                  "committed anyway: %d\n",
                  (unsigned long long)f.at - 1, failures, wholes);
    assert_true(failures > 50);
    src_close(&x);
}

/* An import cut short, then aborted at restart (store_team_import_pending)
 * under faults: a failed abort leaves nothing visible and its mark, and
 * the next one removes every record of the team. */
static void test_fault_abort(void **state)
{
    struct src x;
    struct fault f = {0, 0};
    int64_t live;
    int failures = 0;
    size_t n = 0;
    sw_err rc;

    (void)state;
    src_open(&x);
    live = sw_mem_live();
    for (f.at = 1;; f.at++) {
        char dir[TEST_PATH_MAX];
        struct store_opts o = {dir, 0, 0, 0, 0, 0};
        struct dump d;
        store *dst = NULL;

        test_mkdtemp(dir);
        ASSERT_OK(store_open(&o, &dst));
        ASSERT_OK(store_team_import_begin(dst, x.team.team_id, NULL));
        ASSERT_OK(store_team_import_put(dst, x.team.team_id, x.recs.v, x.recs.n,
                                        NULL));
        f.fired = 0;
        sw_mem_set_fault(fault_hook, &f);
        rc = store_team_import_pending(dst, NULL);
        sw_mem_set_fault(NULL, NULL);
        if (rc != SW_OK && rc != SW_ENOMEM)
            fail_msg("fail at %llu: got %s, want SW_ENOMEM",
                     (unsigned long long)f.at, sw_err_name(rc));
        failures += rc != SW_OK;
        assert_false(assert_all_or_nothing(&x, dst));
        n = 0;
        ASSERT_OK(store_team_import_pending(dst, &n));
        ASSERT_EQ(n, rc == SW_OK ? 0 : 1);
        dump_team(dst, x.team.team_id, &d);
        ASSERT_EQ(sw_buf_len(&d.out), 0);
        sw_buf_free(&d.out);
        store_close(&dst);
        test_rmtree(dir);
        if (sw_mem_live() != live)
            fail_msg("fail at %llu: %lld blocks leaked",
                     (unsigned long long)f.at,
                     (long long)(sw_mem_live() - live));
        if (!f.fired)
            break;
    }
    print_message("allocation faults injected: %llu, failed cleanly: %d\n",
                  (unsigned long long)f.at - 1, failures);
    assert_true(failures > 5);
    src_close(&x);
}

/* after_finish checks the source after a freeze and finish that may have
 * failed: the team whole (frozen or not), or deleted with its tombstone
 * and its leftovers under its purge mark. Returns 1 when it is deleted. */
static int after_finish(struct src *x)
{
    const char *team = x->team.team_id;
    struct store_team t = {0};
    struct sw_buf report;
    struct dump d;
    char *node = NULL;
    size_t v = 99;
    sw_err rc;

    rc = store_team_get(x->s, team, &t, NULL);
    store_team_clear(&t);
    if (rc != SW_OK && rc != SW_ENOTFOUND)
        fail_msg("store_team_get: %s", sw_err_name(rc));
    dump_team(x->s, team, &d);
    if (rc == SW_OK) {
        ASSERT_EQ(sw_buf_len(&d.out), sw_buf_len(&x->dump.out));
        assert_memory_equal(sw_buf_str(&d.out), sw_buf_str(&x->dump.out),
                            sw_buf_len(&d.out));
    }
    ASSERT_ERR(auth(x->s, x->secret), rc == SW_OK ? SW_OK : SW_EUNAUTH);
    sw_buf_free(&d.out);
    if (rc == SW_ENOTFOUND) {
        ASSERT_OK(store_team_moved_to(x->s, team, &node));
        assert_string_equal(node, "node-b");
        sw_free(node);
    }
    sw_buf_init(&report, 1 << 16);
    ASSERT_OK(store_move_check(x->s, &report, &v, NULL));
    if (v != 0)
        fail_msg("store_move_check: %s", sw_buf_str(&report));
    sw_buf_free(&report);
    return rc == SW_ENOTFOUND;
}

/* Freeze and finish on the source under faults, then again without. */
static void test_fault_finish(void **state)
{
    struct fault f = {0, 0};
    int failures = 0;
    sw_err rc;

    (void)state;
    for (f.at = 1;; f.at++) {
        int64_t live = sw_mem_live();
        struct store_move m = {0};
        struct src x;
        struct dump d;

        src_open(&x);
        f.fired = 0;
        sw_mem_set_fault(fault_hook, &f);
        rc = store_team_freeze(x.s, x.team.team_id, "node-b", NULL, NULL);
        if (rc == SW_OK)
            rc = store_team_move_finish(x.s, x.team.team_id, 1, 2, NULL);
        sw_mem_set_fault(NULL, NULL);
        if (rc != SW_OK && rc != SW_ENOMEM)
            fail_msg("fail at %llu: got %s, want SW_ENOMEM",
                     (unsigned long long)f.at, sw_err_name(rc));
        failures += rc != SW_OK;
        /* A finish cut short is run again; a freeze that failed too. */
        if (!after_finish(&x) &&
            store_team_move_get(x.s, x.team.team_id, &m) == SW_ENOTFOUND)
            ASSERT_OK(
                store_team_freeze(x.s, x.team.team_id, "node-b", NULL, NULL));
        store_move_clear(&m);
        ASSERT_OK(store_team_move_finish(x.s, x.team.team_id, 1, 2, NULL));
        assert_true(after_finish(&x));
        dump_team(x.s, x.team.team_id, &d);
        ASSERT_EQ(sw_buf_len(&d.out), 0);
        sw_buf_free(&d.out);
        src_close(&x);
        if (sw_mem_live() != live)
            fail_msg("fail at %llu: %lld blocks leaked",
                     (unsigned long long)f.at,
                     (long long)(sw_mem_live() - live));
        if (!f.fired)
            break;
    }
    print_message("allocation faults injected: %llu, failed cleanly: %d\n",
                  (unsigned long long)f.at - 1, failures);
    assert_true(failures > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_export_import),
        cmocka_unit_test(test_fault_abort),
        cmocka_unit_test(test_fault_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
