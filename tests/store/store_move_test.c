/* store_move_test: moving a team between two stores (store_move.h): the
 * export, the staged import and its invisibility until the commit, the
 * refusals, an interrupted import, the export's snapshot, the move state on
 * the source and `snipd check`'s view. Each case uses its own directories. */
#include "tests/testutil.h"

#include <pthread.h>
#include <stdbool.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_move.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"
#include "tests/store/seed_mail.h"

struct fixture {
    char src_dir[TEST_PATH_MAX], dst_dir[TEST_PATH_MAX];
    store *src, *dst;
    int64_t live;
    struct store_team a, b; /* a moves; b stays */
    char *a_secret, *a_rep_secret, *b_secret;
};

/* --- Records of an export, copied out ------------------------------------ */

struct recs {
    struct store_move_rec *v;
    size_t n, cap;
    uint64_t batches, max_batch;
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

static SW_MUST_CHECK sw_err recs_add(struct recs *r, const char *db,
                                     const void *k, size_t kl, const void *v,
                                     size_t vl)
{
    struct store_move_rec *x;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        void *p = sw_realloc(r->v, cap * sizeof(*r->v));

        if (p == NULL)
            return SW_ENOMEM;
        r->v = p;
        r->cap = cap;
    }
    x = &r->v[r->n];
    x->db = sw_strdup(db);
    x->key = sw_memdup(k, kl);
    x->val = sw_memdup(vl ? v : "", vl ? vl : 1);
    x->klen = kl;
    x->vlen = vl;
    r->n++;
    if (x->db == NULL || x->key == NULL || x->val == NULL)
        return SW_ENOMEM;
    return SW_OK;
}

struct collect {
    struct recs *r;
    size_t batch_bytes;
};

static SW_MUST_CHECK sw_err collect_cb(const struct store_move_rec *m,
                                       void *arg)
{
    struct collect *c = arg;

    c->batch_bytes += m->klen + m->vlen;
    return recs_add(c->r, m->db, m->key, m->klen, m->val, m->vlen);
}

/* export_all exports team_id into *r in calls of max bytes and checks that
 * each call keeps to max (or passes a single record). */
static SW_MUST_CHECK sw_err export_all(store *s, const char *team_id,
                                       size_t max, struct recs *r)
{
    struct store_team_export *e = NULL;
    struct collect c = {r, 0};
    uint64_t n = 0, bytes = 0, sum = 0;
    size_t before;
    int done = 0;
    sw_err rc;

    rc = store_team_export_begin(s, team_id, &e, NULL);
    while (rc == SW_OK && !done) {
        before = r->n;
        c.batch_bytes = 0;
        rc = store_team_export_next(e, collect_cb, &c, max, &done);
        if (rc == SW_OK && r->n - before > 1 && c.batch_bytes > max)
            fail_msg("a call passed %zu bytes over %zu", c.batch_bytes, max);
        r->batches++;
        if (c.batch_bytes > r->max_batch)
            r->max_batch = c.batch_bytes;
    }
    store_team_export_stats(e, &n, &bytes);
    store_team_export_end(&e);
    assert_null(e);
    if (rc == SW_OK) {
        ASSERT_EQ(n, r->n);
        for (size_t i = 0; i < r->n; i++)
            sum += r->v[i].klen + r->v[i].vlen;
        ASSERT_EQ(bytes, sum);
    }
    return rc;
}

/* import_all imports r into s in batches of per records, then commits. */
static SW_MUST_CHECK sw_err import_all(store *s, const char *team_id,
                                       const struct recs *r, size_t per)
{
    sw_err rc = store_team_import_begin(s, team_id, NULL);
    size_t i;

    for (i = 0; rc == SW_OK && i < r->n; i += per)
        rc = store_team_import_put(s, team_id, r->v + i,
                                   r->n - i < per ? r->n - i : per, NULL);
    if (rc == SW_OK)
        rc = store_team_import_commit(s, team_id, NULL);
    return rc;
}

/* --- A canonical dump of everything a store holds of one team ------------
 * Records are appended as db\0, 4-byte key length, key, 4-byte value
 * length, value. Jobs are compared by content, their ids being renumbered
 * by the import; META entries naming the team are included, so that a mark
 * left behind shows. */

struct dump {
    store_txn *t;
    const char *team;
    enum store_db db;
    int meta; /* include META keys naming the team */
    struct sw_buf out;
    size_t nrec, njob_index;
};

/* has_bytes returns 1 when p[0..n) contains s. */
static int has_bytes(const void *p, size_t n, const char *s)
{
    size_t sl = strlen(s), i;

    for (i = 0; i + sl <= n; i++)
        if (memcmp((const char *)p + i, s, sl) == 0)
            return 1;
    return 0;
}

static SW_MUST_CHECK sw_err dump_add(struct dump *d, const void *k, size_t kl,
                                     const void *v, size_t vl)
{
    uint32_t n = (uint32_t)kl;
    sw_err rc = sw_buf_addstr(&d->out, store_db_name(d->db));

    if (rc == SW_OK)
        rc = sw_buf_addc(&d->out, '\0');
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, &n, sizeof(n));
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, k, kl);
    n = (uint32_t)vl;
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, &n, sizeof(n));
    if (rc == SW_OK)
        rc = sw_buf_add(&d->out, v, vl);
    d->nrec++;
    return rc;
}

static SW_MUST_CHECK sw_err dump_cb(const void *k, size_t kl, const void *v,
                                    size_t vl, void *arg)
{
    struct dump *d = arg;
    size_t tl = strlen(d->team);
    struct store_job j = {0};
    char line[512];
    sw_err rc;

    switch (d->db) {
    case STORE_DB_KEY_IDS:
        if (vl != tl || memcmp(v, d->team, tl) != 0)
            return SW_OK;
        break;
    case STORE_DB_KEY_HASHES:
        if (vl <= tl || memcmp(v, d->team, tl + 1) != 0)
            return SW_OK;
        break;
    case STORE_DB_META:
        if (!d->meta || !has_bytes(k, kl, d->team))
            return SW_OK;
        break;
    case STORE_DB_JOB_TEAM:
        /* Renumbered: each entry must name a queued job of the team. */
        ASSERT_EQ(kl, tl + 1 + 8);
        ASSERT_OK(
            store_job_get(d->t, store_u64_get((const char *)k + tl + 1), &j));
        assert_string_equal(j.team_id, d->team);
        store_job_clear(&j);
        d->njob_index++;
        return SW_OK;
    case STORE_DB_JOBS:
        rc = store_job_get(d->t, store_u64_get(k), &j);
        if (rc == SW_OK && strcmp(j.team_id, d->team) == 0) {
            int n = snprintf(line, sizeof(line), "%s|%d|%d|%lld|%s", j.email_id,
                             j.kind, j.attempts, (long long)j.not_before_ms,
                             j.last_error ? j.last_error : "");
            assert_true(n > 0 && (size_t)n < sizeof(line));
            rc = dump_add(d, "job", 3, line, (size_t)n);
        }
        store_job_clear(&j);
        return rc;
    default:
        break;
    }
    return dump_add(d, k, kl, v, vl);
}

static SW_MUST_CHECK sw_err dump_txn(store_txn *t, void *arg)
{
    struct dump *d = arg;
    struct sw_buf prefix;
    sw_err rc = SW_OK;
    int i;

    d->t = t;
    sw_buf_init(&prefix, 1024);
    ASSERT_OK(store_key(&prefix, d->team, NULL, 0));
    for (i = 0; rc == SW_OK && i < STORE_DB_COUNT; i++) {
        d->db = (enum store_db)i;
        if (i == STORE_DB_TEAMS)
            continue; /* team_rec_txn */
        if (i == STORE_DB_META || i == STORE_DB_KEY_IDS ||
            i == STORE_DB_KEY_HASHES || i == STORE_DB_JOBS)
            rc = store_scan(t, d->db, NULL, 0, NULL, 0, dump_cb, d);
        else
            rc = store_scan(t, d->db, sw_buf_str(&prefix), sw_buf_len(&prefix),
                            NULL, 0, dump_cb, d);
    }
    sw_buf_free(&prefix);
    return rc;
}

/* dump_team fills d (freed with sw_buf_free(&d->out)) with the team's
 * records but its team record. */
static void dump_team(store *s, const char *team, int meta, struct dump *d)
{
    memset(d, 0, sizeof(*d));
    d->team = team;
    d->meta = meta;
    sw_buf_init(&d->out, (size_t)1 << 28);
    ASSERT_OK(store_view(s, dump_txn, d));
}

static SW_MUST_CHECK sw_err team_rec_txn(store_txn *t, void *arg)
{
    struct dump *d = arg;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_TEAMS, d->team, strlen(d->team), &v, &vl);
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    d->db = STORE_DB_TEAMS;
    return rc ? rc : dump_add(d, d->team, strlen(d->team), v, vl);
}

/* dump_full is dump_team plus the team record. */
static void dump_full(store *s, const char *team, int meta, struct dump *d)
{
    dump_team(s, team, meta, d);
    ASSERT_OK(store_view(s, team_rec_txn, d));
}

static void assert_same(store *s1, store *s2, const char *team)
{
    struct dump d1, d2;

    dump_full(s1, team, 1, &d1);
    dump_full(s2, team, 1, &d2);
    ASSERT_EQ(d1.nrec, d2.nrec);
    ASSERT_EQ(d1.njob_index, d2.njob_index);
    ASSERT_EQ(sw_buf_len(&d1.out), sw_buf_len(&d2.out));
    assert_memory_equal(sw_buf_str(&d1.out), sw_buf_str(&d2.out),
                        sw_buf_len(&d1.out));
    sw_buf_free(&d1.out);
    sw_buf_free(&d2.out);
}

/* assert_absent checks that s holds nothing of team (with meta: no mark
 * either). */
static void assert_absent(store *s, const char *team, int meta)
{
    struct dump d;

    dump_full(s, team, meta, &d);
    ASSERT_EQ(d.nrec, 0);
    ASSERT_EQ(d.njob_index, 0);
    sw_buf_free(&d.out);
}

/* --- Building a team in many databases ------------------------------------
 */

struct fill {
    const char *team;
    int big; /* one value larger than any export call's budget */
};

/* seed_mail writes a thread of two emails with a content item, an outcome,
 * a framing, two queued jobs and an LLM journal and cache entry, as
 * ingestion would (after store_erase_fault_test's seed). */
static SW_MUST_CHECK sw_err seed_mail(store_txn *t, const char *team)
{
    char *ids[] = {"em_0000000000000001", "em_0000000000000002"};
    char *parts[] = {"rep@example.com", "buyer@prospect.example"};
    char *reps[] = {"rep@example.com"};
    struct store_email_content ec = {"ct_0000000000000001", "deck.txt", 2, 1};
    struct store_content c = {0};
    struct store_thread th = {0};
    struct store_outcome o = {0};
    struct store_snippet sn = {0};
    struct store_llm_attempt a = {0};
    unsigned char key[32];
    char *oid = NULL;
    int dup = 0;
    sw_err rc;

    c.content_id = ec.content_id;
    c.team_id = (char *)team;
    c.filename = "deck.txt";
    c.media_type = "text/plain";
    c.kind = 6;
    c.state = 2;
    c.text = "the deck";
    c.text_len = 8;
    c.sha256[0] = 1;
    c.file_state = STORE_FILE_NOT_KEPT;
    rc = store_content_put(t, &c);
    if (rc == SW_OK)
        rc = seed_email(t, team, "rep@example.com", ids[0], "m1@example.com",
                        "rep@example.com", parts[1], STORE_DIR_OUTBOUND, &ec);
    if (rc == SW_OK)
        rc = store_content_use_add(t, team, ec.content_id, ids[0]);
    if (rc == SW_OK)
        rc = seed_email(t, team, "rep@example.com", ids[1],
                        "m2@prospect.example", parts[1], "rep@example.com",
                        STORE_DIR_INBOUND, NULL);
    th.thread_id = "th_0000000000000001";
    th.team_id = (char *)team;
    th.subject = "Deck";
    th.subject_key = "deck";
    th.participants = parts;
    th.n_participants = 2;
    th.rep_emails = reps;
    th.n_rep_emails = 1;
    th.email_ids = ids;
    th.n_emails = 2;
    th.first_ms = 1000;
    th.last_ms = 2000;
    if (rc == SW_OK)
        rc = store_thread_put(t, &th);
    o.thread_id = th.thread_id;
    o.kind = 4;
    o.source = STORE_OUTCOME_DERIVED;
    o.email_id = ids[1];
    o.idem_key = "reply:em_0000000000000002";
    if (rc == SW_OK)
        rc = store_outcome_put(t, team, &o, &dup, &oid);
    sw_free(oid);
    sn.team_id = (char *)team;
    sn.kind = STORE_SNIPPET_FRAMING;
    sn.text = "I've attached the deck";
    sn.content_id = ec.content_id;
    sn.email_id = ids[0];
    sn.thread_id = th.thread_id;
    if (rc == SW_OK)
        rc = store_snippet_put(t, &sn);
    sw_free(sn.snippet_id);
    if (rc == SW_OK)
        rc = store_job_enqueue(t, team, ids[0], STORE_JOB_EXTRACT_OUTBOUND,
                               NULL);
    if (rc == SW_OK)
        rc = store_job_enqueue(t, team, ids[1], STORE_JOB_CLASSIFY_INBOUND,
                               NULL);
    a.job_id = ids[1];
    a.provider = "builtin";
    a.model = "builtin-v1";
    a.schema_name = "reply";
    a.schema_version = 1;
    a.request_hash = "00ff";
    a.raw_output = "{\"evidence\":\"words\"}";
    a.errors = "";
    a.outcome = STORE_LLM_OK;
    if (rc == SW_OK)
        rc = store_llm_journal_add(t, team, &a);
    if (rc == SW_OK)
        rc = store_llm_cache_key("builtin", "builtin-v1", "reply", 1, "00ff",
                                 key);
    if (rc == SW_OK)
        rc = store_llm_cache_put(t, team, key, "{}", 2);
    if (rc == SW_OK)
        rc = store_llm_budget_add(t, team, 20000, 77, NULL);
    return rc;
}

static SW_MUST_CHECK sw_err any_cb(const void *k, size_t kl, const void *v,
                                   size_t vl, void *arg)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    *(int *)arg = 1;
    return STORE_SCAN_STOP;
}

/* fill_txn seeds the team's mail and puts one raw record in every prefixed
 * database the seed left empty of the team (ranker data, library, ...),
 * in LIBRARY one larger than any export call's budget when f->big. */
static SW_MUST_CHECK sw_err fill_txn(store_txn *t, void *arg)
{
    const struct fill *f = arg;
    static char big[300 * 1024];
    struct sw_buf k;
    sw_err rc;
    int i, any;

    sw_buf_init(&k, 1024);
    rc = seed_mail(t, f->team);
    if (rc == SW_OK)
        rc = store_key(&k, f->team, NULL, 0);
    memset(big, 'b', sizeof(big));
    for (i = 0; rc == SW_OK && i < STORE_DB_COUNT; i++) {
        const char *name = store_db_name((enum store_db)i);
        int lib = f->big && i == STORE_DB_LIBRARY;

        any = 0;
        if (i == STORE_DB_META || i == STORE_DB_TEAMS ||
            i == STORE_DB_KEY_HASHES || i == STORE_DB_KEY_IDS ||
            i == STORE_DB_JOBS)
            continue; /* not prefixed */
        rc = store_key(&k, f->team, NULL, 0);
        if (rc == SW_OK)
            rc = store_scan(t, (enum store_db)i, sw_buf_str(&k), sw_buf_len(&k),
                            NULL, 0, any_cb, &any);
        if (rc || (any && !lib))
            continue;
        rc = store_key(&k, f->team, name, strlen(name));
        if (rc == SW_OK)
            rc = store_put(t, (enum store_db)i, sw_buf_str(&k), sw_buf_len(&k),
                           lib ? big : name, lib ? sizeof(big) : strlen(name),
                           0);
    }
    sw_buf_free(&k);
    return rc;
}

static void build_team(store *s, const char *name, struct store_team *team,
                       char **secret, char **rep_secret, int big)
{
    struct fill f;
    struct store_apikey k = {0};
    char *s2 = NULL;

    ASSERT_OK(store_team_create(s, name, team, secret, NULL));
    ASSERT_OK(store_member_add(s, team->team_id, "rep@example.com", "Rep", NULL,
                               NULL));
    ASSERT_OK(
        store_member_add(s, team->team_id, "boss@example.com", "", NULL, NULL));
    ASSERT_OK(store_domain_add(s, team->team_id, "example.com", NULL, NULL));
    ASSERT_OK(store_key_create(s, team->team_id, "ci", STORE_ROLE_TEAM, &k, &s2,
                               NULL));
    store_apikey_clear(&k);
    sw_free(s2);
    ASSERT_OK(store_key_create_rep(s, team->team_id, "rep@example.com", "rep",
                                   NULL, rep_secret, NULL));
    f.team = team->team_id;
    f.big = big;
    ASSERT_OK(store_update(s, fill_txn, &f));
}

static SW_MUST_CHECK sw_err open_dir(const char *dir, store **out)
{
    struct store_opts o = {dir, 0, 0, 0, 0, 0};

    return store_open(&o, out);
}

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    char *unused = NULL;

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    test_mkdtemp(f->src_dir);
    test_mkdtemp(f->dst_dir);
    ASSERT_OK(open_dir(f->src_dir, &f->src));
    ASSERT_OK(open_dir(f->dst_dir, &f->dst));
    build_team(f->src, "Moving", &f->a, &f->a_secret, &f->a_rep_secret, 1);
    build_team(f->src, "Staying", &f->b, &f->b_secret, &unused, 0);
    sw_free(unused);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(&f->src);
    store_close(&f->dst);
    store_team_clear(&f->a);
    store_team_clear(&f->b);
    sw_free(f->a_secret);
    sw_free(f->a_rep_secret);
    sw_free(f->b_secret);
    if (sw_mem_live() != f->live)
        fail_msg("%lld blocks leaked", (long long)(sw_mem_live() - f->live));
    test_rmtree(f->src_dir);
    test_rmtree(f->dst_dir);
    sw_free(f);
    return 0;
}

static void assert_auth(store *s, const char *secret, sw_err want)
{
    struct store_apikey k = {0};

    ASSERT_ERR(store_key_authenticate(s, secret, strlen(secret), &k), want);
    store_apikey_clear(&k);
}

static void assert_team(store *s, const char *team, sw_err want)
{
    struct store_team t = {0};

    ASSERT_ERR(store_team_get(s, team, &t, NULL), want);
    store_team_clear(&t);
}

/* check_store runs store_move_check and returns its violations. */
static size_t check_store(store *s, struct sw_buf *report)
{
    struct sw_buf summary;
    size_t v = 99;

    sw_buf_init(&summary, 4096);
    sw_buf_reset(report);
    ASSERT_OK(store_move_check(s, report, &v, &summary));
    sw_buf_free(&summary);
    return v;
}

/* mail_violations runs store_mail_check (emails, threads, contents, jobs
 * and their index, the job counter) and returns its violations. */
static size_t mail_violations(store *s)
{
    struct sw_buf report;
    size_t v = 99;

    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_mail_check(s, &report, &v, NULL));
    if (v)
        print_message("%s", sw_buf_str(&report));
    sw_buf_free(&report);
    return v;
}

/* --- Cases ----------------------------------------------------------------
 */

/* 1. The whole team arrives byte for byte; nothing of it shows before the
 * commit; the other team stays behind. */
static void test_roundtrip(void **state)
{
    struct fixture *f = *state;
    const char *a = f->a.team_id;
    struct store_team_export *e = NULL;
    struct store_team res = {0};
    char *res_secret = NULL, *res_rep = NULL;
    struct recs r = {0};
    struct sw_buf report;
    struct dump d, before;
    size_t i, dbs = 0;
    const char *last = "";

    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(export_all(f->src, a, 300, &r));
    assert_true(r.batches > 10);
    assert_true(r.max_batch >= 300 * 1024); /* the big value came alone */
    for (i = 0; i < r.n; i++) {
        if (strcmp(r.v[i].db, last) != 0)
            dbs++;
        last = r.v[i].db;
        assert_string_not_equal(r.v[i].db, "job_team");
        assert_string_not_equal(r.v[i].db, "meta");
    }
    /* Every database but meta and job_team, each in one run. */
    ASSERT_EQ(dbs, STORE_DB_COUNT - 2);

    /* A team of the target with jobs of its own, whose ids the source's
     * jobs also have. */
    build_team(f->dst, "Resident", &res, &res_secret, &res_rep, 0);
    dump_full(f->dst, res.team_id, 1, &before);

    ASSERT_OK(store_team_import_begin(f->dst, a, NULL));
    for (i = 0; i < r.n; i += 3)
        ASSERT_OK(store_team_import_put(f->dst, a, r.v + i,
                                        r.n - i < 3 ? r.n - i : 3, NULL));
    assert_team(f->dst, a, SW_ENOTFOUND);
    assert_auth(f->dst, f->a_secret, SW_EUNAUTH);
    assert_auth(f->dst, f->a_rep_secret, SW_EUNAUTH);
    ASSERT_EQ(check_store(f->dst, &report), 0);
    assert_non_null(strstr(sw_buf_str(&report), "is being imported"));
    ASSERT_ERR(store_team_export_begin(f->dst, a, &e, NULL), SW_ESTATE);
    assert_null(e);
    ASSERT_OK(store_team_import_commit(f->dst, a, NULL));

    assert_team(f->dst, a, SW_OK);
    assert_auth(f->dst, f->a_secret, SW_OK);
    assert_auth(f->dst, f->a_rep_secret, SW_OK);
    assert_same(f->src, f->dst, a);
    assert_absent(f->dst, f->b.team_id, 1);
    ASSERT_EQ(mail_violations(f->src), 0);
    ASSERT_EQ(mail_violations(f->dst), 0);
    assert_auth(f->dst, f->b_secret, SW_EUNAUTH);
    ASSERT_EQ(check_store(f->dst, &report), 0);
    ASSERT_EQ(sw_buf_len(&report), 0);
    /* A commit again has nothing to commit. */
    ASSERT_ERR(store_team_import_commit(f->dst, a, NULL), SW_ESTATE);
    ASSERT_ERR(store_team_import_abort(f->dst, a), SW_ENOTFOUND);
    assert_team(f->dst, a, SW_OK);
    dump_team(f->dst, a, 1, &d);
    ASSERT_EQ(d.njob_index, 2);
    sw_buf_free(&d.out);
    dump_full(f->dst, res.team_id, 1, &d);
    ASSERT_EQ(sw_buf_len(&d.out), sw_buf_len(&before.out));
    assert_memory_equal(sw_buf_str(&d.out), sw_buf_str(&before.out),
                        sw_buf_len(&d.out));
    ASSERT_EQ(d.njob_index, 2);
    sw_buf_free(&d.out);
    sw_buf_free(&before.out);
    assert_auth(f->dst, res_secret, SW_OK);
    store_team_clear(&res);
    sw_free(res_secret);
    sw_free(res_rep);
    sw_buf_free(&report);
    recs_free(&r);
}

/* 2. What the import refuses, and that a refused batch writes nothing. */
static void test_refusals(void **state)
{
    struct fixture *f = *state;
    const char *a = f->a.team_id, *b = f->b.team_id;
    struct recs ra = {0}, rb = {0}, bad = {0};
    struct sw_buf why;
    struct dump d;
    size_t i, ntables = 0;

    sw_buf_init(&why, 1024);
    ASSERT_OK(export_all(f->src, a, 1 << 20, &ra));
    ASSERT_OK(export_all(f->src, b, 1 << 20, &rb));
    ASSERT_ERR(store_team_import_begin(f->src, a, &why), SW_EEXIST);
    ASSERT_ERR(store_team_import_put(f->dst, a, ra.v, 1, &why), SW_ESTATE);
    ASSERT_ERR(store_team_import_commit(f->dst, a, &why), SW_ESTATE);
    ASSERT_OK(store_team_import_begin(f->dst, a, &why));
    /* Commit without a team record. */
    ASSERT_ERR(store_team_import_commit(f->dst, a, &why), SW_ESTATE);
    assert_string_equal(sw_buf_str(&why), "no team record was imported");

    /* Each of b's records, after a good record of a, spoils the batch. */
    for (i = 0; i < rb.n; i++) {
        struct store_move_rec two[2] = {ra.v[ra.n - 1], rb.v[i]};

        ASSERT_ERR(store_team_import_put(f->dst, a, two, 2, &why), SW_EINVAL);
        if (strcmp(rb.v[i].db, "jobs") == 0 || strcmp(rb.v[i].db, "teams") == 0)
            ntables++;
    }
    ASSERT_EQ(ntables, 3); /* two jobs and the team were among them */
    dump_team(f->dst, a, 0, &d);
    ASSERT_EQ(d.nrec, 0);
    sw_buf_free(&d.out);

    ASSERT_OK(recs_add(&bad, "nope", a, strlen(a), "x", 1));
    ASSERT_ERR(store_team_import_put(f->dst, a, bad.v, 1, &why), SW_EINVAL);
    assert_non_null(strstr(sw_buf_str(&why), "\"nope\""));
    recs_free(&bad);
    ASSERT_OK(recs_add(&bad, "job_team", a, strlen(a) + 1, "", 0));
    ASSERT_ERR(store_team_import_put(f->dst, a, bad.v, 1, &why), SW_EINVAL);
    assert_non_null(strstr(sw_buf_str(&why), "job_team"));
    recs_free(&bad);
    ASSERT_OK(recs_add(&bad, "meta", "x", 1, "", 0));
    ASSERT_ERR(store_team_import_put(f->dst, a, bad.v, 1, &why), SW_EINVAL);
    recs_free(&bad);
    ASSERT_OK(recs_add(&bad, "teams", a, strlen(a), "\xff\xff", 2));
    ASSERT_ERR(store_team_import_put(f->dst, a, bad.v, 1, &why), SW_EINVAL);
    assert_non_null(strstr(sw_buf_str(&why), "does not decode"));
    recs_free(&bad);

    /* The whole import still goes through, then a second one is refused. */
    ASSERT_OK(import_all(f->dst, a, &ra, 1000));
    assert_same(f->src, f->dst, a);
    ASSERT_ERR(store_team_import_begin(f->dst, a, &why), SW_EEXIST);
    assert_same(f->src, f->dst, a);
    sw_buf_free(&why);
    recs_free(&ra);
    recs_free(&rb);
    recs_free(&bad);
}

/* 3. An import cut short leaves nothing once pending imports are aborted,
 * after a restart, and a new import then succeeds. */
static void test_interrupted(void **state)
{
    struct fixture *f = *state;
    const char *a = f->a.team_id;
    struct recs r = {0};
    struct sw_buf report;
    size_t n = 0;

    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(export_all(f->src, a, 4096, &r));
    ASSERT_OK(store_team_import_begin(f->dst, a, NULL));
    ASSERT_OK(store_team_import_put(f->dst, a, r.v, r.n - 2, NULL));
    store_close(&f->dst);
    ASSERT_OK(open_dir(f->dst_dir, &f->dst));
    assert_team(f->dst, a, SW_ENOTFOUND);
    ASSERT_OK(store_team_import_pending(f->dst, &n));
    ASSERT_EQ(n, 1);
    assert_absent(f->dst, a, 1);
    n = 0;
    ASSERT_OK(store_team_import_pending(f->dst, &n));
    ASSERT_EQ(n, 0);
    ASSERT_EQ(check_store(f->dst, &report), 0);

    /* Abort by hand, then begin over a half import. */
    ASSERT_OK(store_team_import_begin(f->dst, a, NULL));
    ASSERT_OK(store_team_import_put(f->dst, a, r.v, r.n, NULL));
    ASSERT_OK(store_team_import_abort(f->dst, a));
    assert_absent(f->dst, a, 1);
    ASSERT_OK(store_team_import_begin(f->dst, a, NULL));
    ASSERT_OK(store_team_import_put(f->dst, a, r.v + 5, r.n - 5, NULL));
    ASSERT_OK(import_all(f->dst, a, &r, 7));
    assert_same(f->src, f->dst, a);
    ASSERT_EQ(check_store(f->dst, &report), 0);
    sw_buf_free(&report);
    recs_free(&r);
}

/* 4. The export is one snapshot, even driven from another thread. */
struct export_thread {
    struct store_team_export *e;
    struct recs *r;
    sw_err rc;
};

static void *export_thread_main(void *arg)
{
    struct export_thread *x = arg;
    struct collect c = {x->r, 0};
    int done = 0;

    x->rc = SW_OK;
    while (x->rc == SW_OK && !done)
        x->rc = store_team_export_next(x->e, collect_cb, &c, 512, &done);
    return NULL;
}

static void test_snapshot(void **state)
{
    struct fixture *f = *state;
    const char *a = f->a.team_id;
    struct store_team_export *e = NULL;
    struct recs r = {0}, all = {0};
    struct collect c = {&r, 0};
    struct export_thread x = {NULL, &r, SW_OK};
    pthread_t th;
    size_t i;
    int done = 0;

    ASSERT_OK(store_team_export_begin(f->src, a, &e, NULL));
    ASSERT_OK(store_team_export_next(e, collect_cb, &c, 512, &done));
    assert_false(done);
    ASSERT_OK(
        store_member_add(f->src, a, "late@example.com", "Late", NULL, NULL));
    ASSERT_OK(store_domain_add(f->src, a, "zz-late.example", NULL, NULL));
    x.e = e;
    assert_int_equal(pthread_create(&th, NULL, export_thread_main, &x), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    ASSERT_OK(x.rc);
    store_team_export_end(&e);
    for (i = 0; i < r.n; i++) {
        assert_false(has_bytes(r.v[i].key, r.v[i].klen, "late@"));
        assert_false(has_bytes(r.v[i].key, r.v[i].klen, "zz-late"));
    }
    ASSERT_OK(export_all(f->src, a, 1 << 20, &all));
    ASSERT_EQ(all.n, r.n + 2);
    recs_free(&r);
    recs_free(&all);
}

/* 4b. A callback error ends the call; the next call passes that record
 * again and none twice. A batch put twice imports the same. */
struct flaky {
    struct collect c;
    size_t calls, fail_at;
};

static SW_MUST_CHECK sw_err flaky_cb(const struct store_move_rec *m, void *arg)
{
    struct flaky *x = arg;

    if (++x->calls == x->fail_at)
        return SW_EBUSY;
    return collect_cb(m, &x->c);
}

static void test_retries(void **state)
{
    struct fixture *f = *state;
    const char *a = f->a.team_id;
    struct store_team_export *e = NULL;
    struct recs r = {0}, all = {0};
    struct flaky x = {{&r, 0}, 0, 0};
    size_t i, fails = 0;
    int done = 0;

    ASSERT_OK(export_all(f->src, a, 1 << 20, &all));
    ASSERT_OK(store_team_export_begin(f->src, a, &e, NULL));
    while (!done) {
        sw_err rc;

        x.calls = 0;
        x.fail_at = 3;
        rc = store_team_export_next(e, flaky_cb, &x, 700, &done);
        if (rc == SW_EBUSY)
            fails++;
        else
            ASSERT_OK(rc);
    }
    store_team_export_end(&e);
    assert_true(fails > 3);
    ASSERT_EQ(r.n, all.n);
    for (i = 0; i < r.n; i++) {
        assert_string_equal(r.v[i].db, all.v[i].db);
        ASSERT_EQ(r.v[i].klen, all.v[i].klen);
        assert_memory_equal(r.v[i].key, all.v[i].key, r.v[i].klen);
    }

    ASSERT_OK(store_team_import_begin(f->dst, a, NULL));
    ASSERT_OK(store_team_import_put(f->dst, a, r.v, r.n / 2, NULL));
    ASSERT_OK(store_team_import_put(f->dst, a, r.v, r.n, NULL));
    ASSERT_OK(
        store_team_import_put(f->dst, a, r.v + r.n / 2, r.n - r.n / 2, NULL));
    ASSERT_OK(store_team_import_commit(f->dst, a, NULL));
    assert_same(f->src, f->dst, a);
    recs_free(&r);
    recs_free(&all);
}

/* 4c. The records passed stay valid until the export ends, so that the
 * service sends a batch without copying it: pointers kept across calls
 * still read the exported bytes at the end (a freed key would read the
 * 0x5a that debug builds write over freed memory). */
struct keep {
    struct store_move_rec v[256];
    size_t n;
};

static SW_MUST_CHECK sw_err keep_cb(const struct store_move_rec *m, void *arg)
{
    struct keep *k = arg;

    if (k->n == sizeof(k->v) / sizeof(k->v[0]))
        return SW_ETOOBIG;
    k->v[k->n++] = *m;
    return SW_OK;
}

static void test_pointers_live(void **state)
{
    struct fixture *f = *state;
    struct store_team_export *e = NULL;
    struct recs all = {0};
    struct keep *k = sw_calloc(1, sizeof(*k));
    size_t i, hashes = 0;
    int done = 0;

    assert_non_null(k);
    ASSERT_OK(export_all(f->src, f->a.team_id, 1 << 20, &all));
    ASSERT_OK(store_team_export_begin(f->src, f->a.team_id, &e, NULL));
    while (!done)
        ASSERT_OK(store_team_export_next(e, keep_cb, k, 64, &done));
    ASSERT_EQ(k->n, all.n);
    for (i = 0; i < k->n; i++) {
        assert_string_equal(k->v[i].db, all.v[i].db);
        ASSERT_EQ(k->v[i].klen, all.v[i].klen);
        assert_memory_equal(k->v[i].key, all.v[i].key, all.v[i].klen);
        ASSERT_EQ(k->v[i].vlen, all.v[i].vlen);
        assert_memory_equal(k->v[i].val, all.v[i].val, all.v[i].vlen);
        hashes += strcmp(all.v[i].db, "key_hashes") == 0;
    }
    ASSERT_EQ(hashes, 3);
    store_team_export_end(&e);
    sw_free(k);
    recs_free(&all);
}

/* 5. Freeze, unfreeze, finish, the tombstone, and a move back. */
static void test_move_state(void **state)
{
    struct fixture *f = *state;
    const char *a = f->a.team_id;
    struct store_move m = {0}, m2 = {0};
    struct store_team_export *e = NULL;
    struct sw_buf why, report;
    struct recs r = {0};
    char *node = NULL;
    int frozen = 7;

    sw_buf_init(&why, 1024);
    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_team_frozen(f->src, a, &frozen));
    ASSERT_EQ(frozen, 0);
    ASSERT_ERR(store_team_move_get(f->src, a, &m), SW_ENOTFOUND);
    ASSERT_ERR(store_team_unfreeze(f->src, a, &why), SW_ENOTFOUND);
    ASSERT_ERR(store_team_move_finish(f->src, a, 0, 0, &why), SW_ESTATE);
    ASSERT_ERR(
        store_team_freeze(f->src, "team_0000000000000000", "n", &m, &why),
        SW_ENOTFOUND);
    ASSERT_ERR(store_team_freeze(f->src, a, "", &m, &why), SW_EINVAL);

    ASSERT_OK(store_team_freeze(f->src, a, "node-b:7070", &m, &why));
    assert_string_equal(m.target_node, "node-b:7070");
    ASSERT_EQ(m.state, STORE_MOVE_FROZEN);
    assert_true(m.start_ms > 0);
    ASSERT_OK(store_team_freeze(f->src, a, "node-b:7070", &m2, &why));
    ASSERT_EQ(m2.start_ms, m.start_ms);
    store_move_clear(&m2);
    ASSERT_ERR(store_team_freeze(f->src, a, "node-c", &m2, &why), SW_ESTATE);
    ASSERT_OK(store_team_frozen(f->src, a, &frozen));
    ASSERT_EQ(frozen, 1);
    ASSERT_OK(store_team_frozen(f->src, f->b.team_id, &frozen));
    ASSERT_EQ(frozen, 0);
    ASSERT_EQ(check_store(f->src, &report), 0);
    assert_non_null(strstr(sw_buf_str(&report), "frozen for a move"));
    ASSERT_OK(store_team_unfreeze(f->src, a, &why));
    ASSERT_OK(store_team_frozen(f->src, a, &frozen));
    ASSERT_EQ(frozen, 0);
    store_move_clear(&m);

    /* The real move: freeze, export (frozen teams export), import, finish. */
    ASSERT_OK(store_team_freeze(f->src, a, "node-b", NULL, &why));
    ASSERT_OK(export_all(f->src, a, 1 << 16, &r));
    ASSERT_OK(import_all(f->dst, a, &r, 50));
    ASSERT_OK(store_team_move_finish(f->src, a, 41, 4242, &why));
    assert_team(f->src, a, SW_ENOTFOUND);
    assert_auth(f->src, f->a_secret, SW_EUNAUTH);
    assert_absent(f->src, a, 0); /* META keeps the move and the tombstone */
    ASSERT_OK(store_team_moved_to(f->src, a, &node));
    assert_string_equal(node, "node-b");
    sw_free(node);
    node = NULL;
    ASSERT_OK(store_team_move_get(f->src, a, &m));
    ASSERT_EQ(m.state, STORE_MOVE_DONE);
    ASSERT_EQ(m.export_records, 41);
    ASSERT_EQ(m.export_bytes, 4242);
    assert_true(m.done_ms >= m.start_ms);
    store_move_clear(&m);
    ASSERT_ERR(store_team_export_begin(f->src, a, &e, &why), SW_ESTATE);
    ASSERT_OK(store_team_move_finish(f->src, a, 1, 1, &why)); /* again */
    ASSERT_ERR(store_team_unfreeze(f->src, a, &why), SW_ESTATE);
    ASSERT_ERR(store_team_moved_to(f->src, f->b.team_id, &node), SW_ENOTFOUND);
    ASSERT_EQ(check_store(f->src, &report), 0);
    assert_team(f->src, f->b.team_id, SW_OK);
    assert_auth(f->src, f->b_secret, SW_OK);

    /* The team comes back: the commit removes the tombstone and the record.
     */
    ASSERT_OK(import_all(f->src, a, &r, 50));
    ASSERT_ERR(store_team_moved_to(f->src, a, &node), SW_ENOTFOUND);
    ASSERT_ERR(store_team_move_get(f->src, a, &m), SW_ENOTFOUND);
    ASSERT_OK(store_team_frozen(f->src, a, &frozen));
    ASSERT_EQ(frozen, 0);
    assert_auth(f->src, f->a_secret, SW_OK);
    assert_same(f->src, f->dst, a);
    ASSERT_EQ(check_store(f->src, &report), 0);
    sw_buf_free(&why);
    sw_buf_free(&report);
    recs_free(&r);
}

/* 6. `snipd check` finds records nobody explains. */
struct raw {
    enum store_db db;
    const char *k;
    size_t kl;
};

static SW_MUST_CHECK sw_err raw_put_txn(store_txn *t, void *arg)
{
    const struct raw *r = arg;

    return store_put(t, r->db, r->k, r->kl, "x", 1, 0);
}

static void test_check(void **state)
{
    struct fixture *f = *state;
    struct raw orphan = {STORE_DB_SNIPPETS, "team_dead\0snip", 14};
    struct raw staged = {STORE_DB_META, "importk:team_gone\0t", 19};
    struct raw keyid = {STORE_DB_KEY_IDS, "key_lost", 8};
    struct sw_buf report;

    sw_buf_init(&report, 1 << 20);
    ASSERT_EQ(check_store(f->src, &report), 0);
    ASSERT_OK(store_update(f->src, raw_put_txn, &orphan));
    ASSERT_EQ(check_store(f->src, &report), 1);
    assert_non_null(strstr(sw_buf_str(&report), "team_dead has records in "
                                                "snippets"));
    ASSERT_OK(store_update(f->src, raw_put_txn, &staged));
    ASSERT_EQ(check_store(f->src, &report), 2);
    ASSERT_OK(store_update(f->src, raw_put_txn, &keyid)); /* → team "x" */
    ASSERT_EQ(check_store(f->src, &report), 3);
    sw_buf_free(&report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pointers_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
