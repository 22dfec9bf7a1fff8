/* store_test: the LMDB layer (open, schema, key/value, scans, team prefixes,
 * sequences, map growth, two processes) and the tenant functions (teams,
 * keys, members, domains, pagination). Each case uses its own directory.
 * The data directory's contract and a full map: store_open_test.c. */
#include "tests/testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_tenant.h"

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    int64_t live;
};

static SW_MUST_CHECK sw_err open_store(struct fixture *f, size_t map,
                                       store **out)
{
    struct store_opts o = {f->dir, map, 0, 0, 0, 0};

    return store_open(&o, out);
}

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    test_mkdtemp(f->dir);
    if (open_store(f, 0, &f->s) != SW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int64_t live;

    store_close(&f->s);
    live = sw_mem_live();
    test_rmtree(f->dir);
    if (live != f->live) {
        print_error("leak: %lld blocks live\n", (long long)(live - f->live));
        sw_free(f);
        return -1;
    }
    sw_free(f);
    return 0;
}

/* Small transaction helpers used through store_update and store_view. */

struct kv {
    enum store_db db;
    const char *k;
    size_t klen;
    const char *v;
};

static SW_MUST_CHECK sw_err put_txn(store_txn *t, void *arg)
{
    const struct kv *kv = arg;

    return store_put(t, kv->db, kv->k, kv->klen ? kv->klen : strlen(kv->k),
                     kv->v, strlen(kv->v), 0);
}

static void put_str(store *s, enum store_db db, const char *k, size_t klen,
                    const char *v)
{
    struct kv kv = {db, k, klen, v};

    ASSERT_OK(store_update(s, put_txn, &kv));
}

struct getbuf {
    enum store_db db;
    const char *k;
    size_t klen;
    char out[256];
};

static SW_MUST_CHECK sw_err get_txn(store_txn *t, void *arg)
{
    struct getbuf *g = arg;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, g->db, g->k, g->klen ? g->klen : strlen(g->k), &v, &vl);
    if (rc)
        return rc;
    if (vl >= sizeof(g->out))
        return SW_ETOOBIG;
    memcpy(g->out, v, vl);
    g->out[vl] = '\0';
    return SW_OK;
}

/* get_str returns the value as text, or NULL when absent. */
static const char *get_str(store *s, enum store_db db, const char *k,
                           size_t klen, struct getbuf *g)
{
    sw_err rc;

    g->db = db;
    g->k = k;
    g->klen = klen;
    rc = store_view(s, get_txn, g);
    if (rc == SW_ENOTFOUND)
        return NULL;
    ASSERT_OK(rc);
    return g->out;
}

static void test_open_close_reopen(void **state)
{
    struct fixture *f = *state;
    struct getbuf g;
    store *s2 = NULL;
    struct store_opts bad = {NULL, 0, 0, 0, 0, 0};

    put_str(f->s, STORE_DB_META, "hello", 0, "world");
    store_close(&f->s);
    assert_null(f->s);
    store_close(&f->s);
    store_close(NULL);
    ASSERT_OK(open_store(f, 0, &f->s));
    assert_string_equal(get_str(f->s, STORE_DB_META, "hello", 0, &g), "world");

    ASSERT_ERR(store_open(&bad, &s2), SW_EINVAL);
    bad.dir = f->dir;
    bad.map_bytes = 2 << 20;
    bad.max_map_bytes = 1 << 20;
    ASSERT_ERR(store_open(&bad, &s2), SW_EINVAL);
    assert_null(s2);
}

static SW_MUST_CHECK sw_err set_schema_txn(store_txn *t, void *arg)
{
    const unsigned char *v = arg;

    return store_put(t, STORE_DB_META, STORE_META_SCHEMA_KEY,
                     strlen(STORE_META_SCHEMA_KEY), v + 1, v[0], 0);
}

static void test_schema_version(void **state)
{
    struct fixture *f = *state;
    unsigned char v[9];
    struct getbuf g;

    /* A new store records the current version. */
    g.db = STORE_DB_META;
    g.k = STORE_META_SCHEMA_KEY;
    g.klen = 0;
    ASSERT_OK(store_view(f->s, get_txn, &g));

    v[0] = 8;
    store_u64_put(v + 1, STORE_SCHEMA_VERSION + 1);
    ASSERT_OK(store_update(f->s, set_schema_txn, v));
    store_close(&f->s);
    ASSERT_ERR(open_store(f, 0, &f->s), SW_ESCHEMA);
    assert_null(f->s);

    /* A malformed version record is corruption. */
    {
        store *raw = NULL;
        /* Re-create a good store to write a bad record through the API. */
        test_rmtree(f->dir);
        test_mkdtemp(f->dir);
        ASSERT_OK(open_store(f, 0, &raw));
        v[0] = 3;
        ASSERT_OK(store_update(raw, set_schema_txn, v));
        store_close(&raw);
        ASSERT_ERR(open_store(f, 0, &f->s), SW_ECORRUPT);
    }
    test_rmtree(f->dir);
    test_mkdtemp(f->dir);
    ASSERT_OK(open_store(f, 0, &f->s));
}

static void test_kv(void **state)
{
    struct fixture *f = *state;
    store_txn *t = NULL;
    const void *v;
    size_t vl;
    char big[600];

    ASSERT_OK(store_txn_begin(f->s, 1, &t));
    assert_int_equal(store_txn_is_write(t), 1);
    ASSERT_ERR(store_get(t, STORE_DB_META, "k", 1, &v, &vl), SW_ENOTFOUND);
    ASSERT_OK(store_put(t, STORE_DB_META, "k", 1, "v1", 2, 0));
    ASSERT_ERR(store_put(t, STORE_DB_META, "k", 1, "v2", 2, STORE_NOOVERWRITE),
               SW_EEXIST);
    ASSERT_OK(store_get(t, STORE_DB_META, "k", 1, &v, &vl));
    assert_int_equal(vl, 2);
    assert_memory_equal(v, "v1", 2);
    ASSERT_OK(store_put(t, STORE_DB_META, "k", 1, "v3", 2, 0));
    ASSERT_OK(store_put(t, STORE_DB_META, "empty", 5, "", 0, 0));
    ASSERT_ERR(store_put(t, STORE_DB_META, "", 0, "x", 1, 0), SW_EINVAL);
    memset(big, 'x', sizeof(big));
    ASSERT_ERR(store_put(t, STORE_DB_META, big, sizeof(big), "x", 1, 0),
               SW_EINVAL);
    ASSERT_ERR(store_del(t, STORE_DB_META, "nope", 4), SW_ENOTFOUND);
    ASSERT_OK(store_txn_commit(&t));
    assert_null(t);

    ASSERT_OK(store_txn_begin(f->s, 0, &t));
    assert_int_equal(store_txn_is_write(t), 0);
    ASSERT_OK(store_get(t, STORE_DB_META, "k", 1, &v, &vl));
    assert_memory_equal(v, "v3", 2);
    ASSERT_OK(store_get(t, STORE_DB_META, "empty", 5, &v, &vl));
    assert_int_equal(vl, 0);
    ASSERT_ERR(store_put(t, STORE_DB_META, "k", 1, "v", 1, 0), SW_EINVAL);
    ASSERT_ERR(store_del(t, STORE_DB_META, "k", 1), SW_EINVAL);
    store_txn_abort(&t);
    store_txn_abort(&t);
    store_txn_abort(NULL);

    /* An aborted write leaves nothing behind. */
    ASSERT_OK(store_txn_begin(f->s, 1, &t));
    ASSERT_OK(store_del(t, STORE_DB_META, "k", 1));
    ASSERT_OK(store_put(t, STORE_DB_META, "gone", 4, "x", 1, 0));
    store_txn_abort(&t);
    ASSERT_OK(store_txn_begin(f->s, 0, &t));
    ASSERT_OK(store_get(t, STORE_DB_META, "k", 1, &v, &vl));
    ASSERT_ERR(store_get(t, STORE_DB_META, "gone", 4, &v, &vl), SW_ENOTFOUND);
    store_txn_abort(&t);

    ASSERT_OK(store_txn_begin(f->s, 1, &t));
    ASSERT_OK(store_del(t, STORE_DB_META, "k", 1));
    ASSERT_OK(store_txn_commit(&t));
    ASSERT_ERR(store_txn_commit(&t), SW_EINVAL);
}

/* Scans: the callback records keys as "a,b,c" and can stop or fail. */
struct scanlog {
    char text[1024];
    int stop_after; /* 0: never */
    int fail_after; /* 0: never */
    int n;
};

static SW_MUST_CHECK sw_err scan_cb(const void *k, size_t kl, const void *v,
                                    size_t vl, void *arg)
{
    struct scanlog *l = arg;
    size_t len = strlen(l->text), i;

    (void)v;
    (void)vl;
    if (len)
        l->text[len++] = ',';
    for (i = 0; i < kl && len + 1 < sizeof(l->text); i++)
        l->text[len++] = ((const char *)k)[i] ? ((const char *)k)[i] : '|';
    l->text[len] = '\0';
    l->n++;
    if (l->fail_after && l->n == l->fail_after)
        return SW_EPARSE;
    if (l->stop_after && l->n == l->stop_after)
        return STORE_SCAN_STOP;
    return SW_OK;
}

struct scanreq {
    const char *prefix;
    size_t plen;
    const char *after;
    size_t alen;
    struct scanlog log;
};

static SW_MUST_CHECK sw_err scan_txn(store_txn *t, void *arg)
{
    struct scanreq *r = arg;

    return store_scan(t, STORE_DB_KEYS, r->prefix, r->plen, r->after, r->alen,
                      scan_cb, &r->log);
}

static const char *scan(store *s, const char *prefix, size_t plen,
                        const char *after, size_t alen, int stop, int fail,
                        sw_err want, struct scanreq *r)
{
    memset(r, 0, sizeof(*r));
    r->prefix = prefix;
    r->plen = plen;
    r->after = after;
    r->alen = alen;
    r->log.stop_after = stop;
    r->log.fail_after = fail;
    ASSERT_ERR(store_view(s, scan_txn, r), want);
    return r->log.text;
}

struct delreq {
    const char *prefix;
    size_t plen;
    size_t n;
};

static SW_MUST_CHECK sw_err del_prefix_txn(store_txn *t, void *arg)
{
    struct delreq *d = arg;

    return store_del_prefix(t, STORE_DB_KEYS, d->prefix, d->plen, &d->n);
}

static void test_scan_and_del_prefix(void **state)
{
    struct fixture *f = *state;
    static const char *keys[] = {"a", "b1", "b2", "b3", "c", "ba"};
    struct scanreq r;
    struct delreq d = {"b", 1, 0};
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put_str(f->s, STORE_DB_KEYS, keys[i], 0, "v");
    assert_string_equal(scan(f->s, "", 0, NULL, 0, 0, 0, SW_OK, &r),
                        "a,b1,b2,b3,ba,c");
    assert_string_equal(scan(f->s, "b", 1, NULL, 0, 0, 0, SW_OK, &r),
                        "b1,b2,b3,ba");
    assert_string_equal(scan(f->s, "b", 1, "b2", 2, 0, 0, SW_OK, &r), "b3,ba");
    /* start_after need not exist, and one before the prefix is ignored. */
    assert_string_equal(scan(f->s, "b", 1, "b25", 3, 0, 0, SW_OK, &r), "b3,ba");
    assert_string_equal(scan(f->s, "b", 1, "a", 1, 0, 0, SW_OK, &r),
                        "b1,b2,b3,ba");
    assert_string_equal(scan(f->s, "b", 1, "bz", 2, 0, 0, SW_OK, &r), "");
    assert_string_equal(scan(f->s, "", 0, "b3", 2, 0, 0, SW_OK, &r), "ba,c");
    assert_string_equal(scan(f->s, "b", 1, NULL, 0, 2, 0, SW_OK, &r), "b1,b2");
    assert_string_equal(scan(f->s, "b", 1, NULL, 0, 0, 3, SW_EPARSE, &r),
                        "b1,b2,b3");
    assert_string_equal(scan(f->s, "zz", 2, NULL, 0, 0, 0, SW_OK, &r), "");

    ASSERT_OK(store_update(f->s, del_prefix_txn, &d));
    assert_int_equal(d.n, 4);
    assert_string_equal(scan(f->s, "", 0, NULL, 0, 0, 0, SW_OK, &r), "a,c");
    ASSERT_OK(store_update(f->s, del_prefix_txn, &d));
    assert_int_equal(d.n, 0);
    d.plen = 0;
    ASSERT_ERR(store_update(f->s, del_prefix_txn, &d), SW_EINVAL);
}

struct teamreq {
    const char *team;
    size_t n;
};

static SW_MUST_CHECK sw_err del_team_txn(store_txn *t, void *arg)
{
    struct teamreq *r = arg;

    r->n = 0;
    return store_del_team(t, r->team, &r->n);
}

static void put_team_key(store *s, enum store_db db, const char *team,
                         const char *rest)
{
    struct sw_buf b;

    sw_buf_init(&b, 1024);
    ASSERT_OK(store_key(&b, team, rest, strlen(rest)));
    put_str(s, db, sw_buf_str(&b), sw_buf_len(&b), team);
    sw_buf_free(&b);
}

static void test_team_prefix_isolation(void **state)
{
    struct fixture *f = *state;
    struct sw_buf b;
    struct scanreq r;
    struct teamreq tr = {"t1", 0};
    struct getbuf g;

    put_team_key(f->s, STORE_DB_KEYS, "t1", "a");
    put_team_key(f->s, STORE_DB_KEYS, "t1", "b");
    put_team_key(f->s, STORE_DB_KEYS, "t10", "a");
    put_team_key(f->s, STORE_DB_KEYS, "t2", "a");
    put_team_key(f->s, STORE_DB_MEMBERS, "t1", "x@y");
    put_team_key(f->s, STORE_DB_MEMBERS, "t10", "x@y");
    put_str(f->s, STORE_DB_META, "t1", 0, "not prefixed");

    sw_buf_init(&b, 1024);
    ASSERT_OK(store_key(&b, "t1", NULL, 0));
    assert_int_equal(sw_buf_len(&b), 3);
    assert_string_equal(
        scan(f->s, sw_buf_str(&b), sw_buf_len(&b), NULL, 0, 0, 0, SW_OK, &r),
        "t1|a,t1|b");
    ASSERT_OK(store_update(f->s, del_team_txn, &tr));
    assert_int_equal(tr.n, 3);
    assert_string_equal(scan(f->s, "", 0, NULL, 0, 0, 0, SW_OK, &r),
                        "t10|a,t2|a");
    ASSERT_OK(store_key(&b, "t10", "x@y", 3));
    assert_non_null(
        get_str(f->s, STORE_DB_MEMBERS, sw_buf_str(&b), sw_buf_len(&b), &g));
    assert_string_equal(get_str(f->s, STORE_DB_META, "t1", 0, &g),
                        "not prefixed");

    /* Admin records live under the empty team. */
    ASSERT_OK(store_key(&b, "", "k", 1));
    assert_int_equal(sw_buf_len(&b), 2);
    assert_memory_equal(sw_buf_str(&b), "\0k", 2);
    ASSERT_OK(store_key_add_u64(&b, 0x0102030405060708ull));
    assert_int_equal(sw_buf_len(&b), 10);
    assert_int_equal(store_u64_get(sw_buf_str(&b) + 2), 0x0102030405060708ull);
    sw_buf_free(&b);
}

/* The databases whose keys do not start with a team id: exactly these.
 * Every other database is team-prefixed, so deleting a team must leave
 * none of its keys there. A database added without a row here, or one of
 * these five marked prefixed by mistake (or a team database marked
 * unprefixed, as the LLM cache once could be), fails this test. */
static const char *const UNPREFIXED_DBS[] = {"meta", "teams", "key_hashes",
                                             "key_ids", "jobs"};

static int db_unprefixed(enum store_db db)
{
    size_t i;

    for (i = 0; i < sizeof(UNPREFIXED_DBS) / sizeof(UNPREFIXED_DBS[0]); i++)
        if (strcmp(store_db_name(db), UNPREFIXED_DBS[i]) == 0)
            return 1;
    return 0;
}

struct countreq {
    enum store_db db;
    const char *prefix;
    size_t plen, n;
};

static sw_err count_cb(const void *k, size_t klen, const void *v, size_t vlen,
                       void *arg)
{
    (void)k;
    (void)klen;
    (void)v;
    (void)vlen;
    ((struct countreq *)arg)->n++;
    return SW_OK;
}

static SW_MUST_CHECK sw_err count_txn(store_txn *t, void *arg)
{
    struct countreq *q = arg;

    q->n = 0;
    return store_scan(t, q->db, q->prefix, q->plen, NULL, 0, count_cb, q);
}

static size_t count_prefix(store *s, enum store_db db, const char *team)
{
    struct countreq q = {db, team, strlen(team) + 1, 0};

    ASSERT_OK(store_view(s, count_txn, &q));
    return q.n;
}

static void test_del_team_every_database(void **state)
{
    struct fixture *f = *state;
    struct teamreq tr = {"t1", 0};
    size_t unprefixed = 0;
    int db;

    for (db = 0; db < STORE_DB_COUNT; db++) {
        assert_non_null(store_db_name((enum store_db)db));
        if (db_unprefixed((enum store_db)db)) {
            unprefixed++;
            continue;
        }
        put_team_key(f->s, (enum store_db)db, "t1", "a");
        put_team_key(f->s, (enum store_db)db, "t1", "b");
        put_team_key(f->s, (enum store_db)db, "t2", "a");
    }
    assert_int_equal(unprefixed, 5);
    ASSERT_OK(store_update(f->s, del_team_txn, &tr));
    assert_int_equal(tr.n, 2 * (STORE_DB_COUNT - unprefixed));
    for (db = 0; db < STORE_DB_COUNT; db++) {
        if (db_unprefixed((enum store_db)db))
            continue;
        if (count_prefix(f->s, (enum store_db)db, "t1") != 0)
            fail_msg("team t1 left keys in %s", store_db_name(db));
        if (count_prefix(f->s, (enum store_db)db, "t2") != 1)
            fail_msg("team t2 lost its key in %s", store_db_name(db));
    }
}

/* team_rows counts team's records in the team-prefixed databases. */
static size_t team_rows(store *s, const char *team)
{
    size_t n = 0;
    int db;

    for (db = 0; db < STORE_DB_COUNT; db++)
        if (!db_unprefixed((enum store_db)db))
            n += count_prefix(s, (enum store_db)db, team);
    return n;
}

static size_t purge_marks(store *s, const char *team)
{
    char key[64];
    struct countreq q = {STORE_DB_META, key, 0, 0};

    snprintf(key, sizeof(key), "%s%s", STORE_PURGE_MARK, team);
    q.plen = strlen(key);
    ASSERT_OK(store_view(s, count_txn, &q));
    return q.n;
}

/* A team's deletion goes in slices (store_team_delete): failing each
 * allocation in turn, the team is either whole or gone with its purge
 * marked, and store_team_purge_pending (snipd's start) then removes every
 * record; a purge cut short mid-way (slices of 7) is finished the same
 * way. Another team's records are never touched. */
static void test_team_delete_in_slices_survives_faults(void **state)
{
    struct fixture *f = *state;
    struct store_team a, b;
    struct store_apikey k;
    char *secret = NULL, rest[16];
    const enum store_db dbs[] = {STORE_DB_SNIPPETS, STORE_DB_EMAILS,
                                 STORE_DB_OUTCOMES};
    size_t i, j, before, left, nfail = 0, nmid = 0, nwhole = 0, ndel;
    uint64_t nth;
    sw_err rc;

    ASSERT_OK(store_team_create(f->s, "Other", &b, NULL, NULL));
    put_team_key(f->s, STORE_DB_EMAILS, b.team_id, "keep");
    for (nth = 1; nth < 400; nth++) {
        ASSERT_OK(store_team_create(f->s, "Doomed", &a, &secret, NULL));
        for (i = 0; i < 3; i++)
            for (j = 0; j < 20; j++) {
                snprintf(rest, sizeof(rest), "r%03zu", j);
                put_team_key(f->s, dbs[i], a.team_id, rest);
            }
        before = team_rows(f->s, a.team_id);
        assert_true(before >= 60);
        sw_mem_fail_nth(nth);
        rc = store_team_delete(f->s, a.team_id, NULL);
        sw_mem_fail_nth(0);
        if (rc != SW_OK) {
            assert_int_equal(rc, SW_ENOMEM);
            nfail++;
            if (purge_marks(f->s, a.team_id) == 0) {
                /* The first transaction failed: nothing changed. */
                assert_int_equal(team_rows(f->s, a.team_id), before);
                ASSERT_OK(
                    store_key_authenticate(f->s, secret, strlen(secret), &k));
                store_apikey_clear(&k);
                ASSERT_OK(store_team_delete(f->s, a.team_id, NULL));
            } else {
                /* Gone for every caller, its records still marked. */
                ASSERT_ERR(
                    store_key_authenticate(f->s, secret, strlen(secret), &k),
                    SW_EUNAUTH);
                ASSERT_ERR(store_team_delete(f->s, a.team_id, NULL),
                           SW_ENOTFOUND);
                left = team_rows(f->s, a.team_id);
                assert_true(left > 0);
                /* A purge in slices of 7: whole, or cut short by a later
                 * allocation, when it has deleted whole slices only. */
                ndel = 0;
                sw_mem_fail_nth(nth % 2 ? 0 : 3 + nth % 17);
                rc = store_team_purge(f->s, a.team_id, 7, &ndel);
                sw_mem_fail_nth(0);
                if (rc != SW_OK) {
                    assert_int_equal(rc, SW_ENOMEM);
                    assert_int_equal(ndel % 7, 0);
                    assert_int_equal(team_rows(f->s, a.team_id), left - ndel);
                    assert_int_equal(purge_marks(f->s, a.team_id), 1);
                    nmid++;
                } else {
                    assert_int_equal(ndel, left);
                    assert_int_equal(team_rows(f->s, a.team_id), 0);
                    assert_int_equal(purge_marks(f->s, a.team_id), 0);
                    nwhole++;
                }
                ASSERT_OK(store_team_purge_pending(f->s, NULL));
            }
        }
        assert_int_equal(team_rows(f->s, a.team_id), 0);
        assert_int_equal(purge_marks(f->s, a.team_id), 0);
        ASSERT_ERR(store_key_authenticate(f->s, secret, strlen(secret), &k),
                   SW_EUNAUTH);
        assert_int_equal(count_prefix(f->s, STORE_DB_EMAILS, b.team_id), 1);
        sw_free(secret);
        secret = NULL;
        store_team_clear(&a);
        if (rc == SW_OK && nfail > 0 && nth > 1 && nfail == nth - 1)
            break; /* past every allocation of a deletion */
    }
    assert_true(nfail > 2);
    assert_true(nmid > 0 && nwhole > 0);
    store_team_clear(&b);
}

struct seqreq {
    const char *team;
    const char *name;
    uint64_t v;
    int peek;
};

static SW_MUST_CHECK sw_err seq_txn(store_txn *t, void *arg)
{
    struct seqreq *q = arg;

    if (q->peek)
        return store_seq_peek(t, q->team, q->name, &q->v);
    return store_seq_next(t, q->team, q->name, &q->v);
}

static uint64_t seq(store *s, const char *team, const char *name, int peek)
{
    struct seqreq q = {team, name, 0, peek};

    if (peek)
        ASSERT_OK(store_view(s, seq_txn, &q));
    else
        ASSERT_OK(store_update(s, seq_txn, &q));
    return q.v;
}

static void test_sequences(void **state)
{
    struct fixture *f = *state;
    struct seqreq bad = {"t1", "", 0, 0};

    assert_int_equal(seq(f->s, "t1", "snippets", 1), 0);
    assert_int_equal(seq(f->s, "t1", "snippets", 0), 1);
    assert_int_equal(seq(f->s, "t1", "snippets", 0), 2);
    assert_int_equal(seq(f->s, "t1", "emails", 0), 1);
    assert_int_equal(seq(f->s, "t10", "snippets", 0), 1);
    assert_int_equal(seq(f->s, "", "snippets", 0), 1);
    assert_int_equal(seq(f->s, "t1", "snippets", 1), 2);
    store_close(&f->s);
    ASSERT_OK(open_store(f, 0, &f->s));
    assert_int_equal(seq(f->s, "t1", "snippets", 1), 2);
    assert_int_equal(seq(f->s, "t1", "snippets", 0), 3);
    assert_int_equal(seq(f->s, "t10", "snippets", 0), 2);
    ASSERT_ERR(store_update(f->s, seq_txn, &bad), SW_EINVAL);
}

/* Map growth: 20 MiB through a store that starts with a 1 MiB map. */
#define GROW_VAL 4000
#define GROW_PER_TXN 128
#define GROW_TXNS 40

struct growreq {
    int txn;
    int per_txn;
    int runs;
};

static void grow_value(char *v, int txn, int i)
{
    memset(v, 'a' + (txn + i) % 26, GROW_VAL);
    snprintf(v, 32, "%d/%d", txn, i);
}

static SW_MUST_CHECK sw_err grow_txn(store_txn *t, void *arg)
{
    struct growreq *g = arg;
    char key[32], val[GROW_VAL];
    sw_err rc;
    int i;

    g->runs++;
    for (i = 0; i < g->per_txn; i++) {
        snprintf(key, sizeof(key), "g%04d.%04d", g->txn, i);
        grow_value(val, g->txn, i);
        rc = store_put(t, STORE_DB_KEYS, key, strlen(key), val, sizeof(val), 0);
        if (rc)
            return rc;
    }
    return SW_OK;
}

struct growcheck {
    int txns;
    int per_txn;
    int bad;
};

static SW_MUST_CHECK sw_err grow_check_txn(store_txn *t, void *arg)
{
    struct growcheck *c = arg;
    char key[32], val[GROW_VAL];
    const void *v;
    size_t vl;
    sw_err rc;
    int i, j;

    for (j = 0; j < c->txns; j++) {
        for (i = 0; i < c->per_txn; i++) {
            snprintf(key, sizeof(key), "g%04d.%04d", j, i);
            rc = store_get(t, STORE_DB_KEYS, key, strlen(key), &v, &vl);
            if (rc)
                return rc;
            grow_value(val, j, i);
            if (vl != GROW_VAL || memcmp(v, val, GROW_VAL) != 0)
                c->bad++;
        }
    }
    return SW_OK;
}

static void test_map_growth(void **state)
{
    struct fixture *f = *state;
    struct store_stats st;
    struct growreq g = {0, GROW_PER_TXN, 0};
    struct growcheck c = {GROW_TXNS, GROW_PER_TXN, 0};
    struct store_opts capped = {f->dir, 1 << 20, 2 << 20, 0, 0, 0};
    int reruns = 0;

    store_close(&f->s);
    test_rmtree(f->dir);
    test_mkdtemp(f->dir);
    ASSERT_OK(open_store(f, 1 << 20, &f->s));
    ASSERT_OK(store_stat(f->s, &st));
    assert_int_equal(st.map_bytes, 1 << 20);
    for (g.txn = 0; g.txn < GROW_TXNS; g.txn++) {
        g.runs = 0;
        ASSERT_OK(store_update(f->s, grow_txn, &g));
        reruns += g.runs - 1;
    }
    assert_true(reruns > 0);
    ASSERT_OK(store_view(f->s, grow_check_txn, &c));
    assert_int_equal(c.bad, 0);
    ASSERT_OK(store_stat(f->s, &st));
    assert_true(st.map_bytes >= (uint64_t)20 << 20);
    assert_int_equal(st.entries[STORE_DB_KEYS], GROW_TXNS * GROW_PER_TXN);
    assert_true(st.used_pages * st.page_bytes <= st.map_bytes);

    /* Reopening with a small map keeps the grown size and the data. */
    store_close(&f->s);
    ASSERT_OK(open_store(f, 1 << 20, &f->s));
    ASSERT_OK(store_stat(f->s, &st));
    assert_true(st.map_bytes >= (uint64_t)20 << 20);
    c.bad = 0;
    ASSERT_OK(store_view(f->s, grow_check_txn, &c));
    assert_int_equal(c.bad, 0);

    /* A map that may not grow far enough fails cleanly. */
    store_close(&f->s);
    test_rmtree(f->dir);
    test_mkdtemp(f->dir);
    ASSERT_OK(store_open(&capped, &f->s));
    g.per_txn = 1000; /* about 4 MiB */
    ASSERT_ERR(store_update(f->s, grow_txn, &g), SW_ENOSPACE);
    g.per_txn = 10;
    ASSERT_OK(store_update(f->s, grow_txn, &g));
}

/* Threads: readers keep reading while a writer grows the map under them,
 * and a read transaction may end on another thread than began it. */
struct reader {
    store *s;
    atomic_int *stop;
    atomic_long reads;
    int errors;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct getbuf g;

    while (!atomic_load(r->stop)) {
        g.db = STORE_DB_META;
        g.k = "hello";
        g.klen = 0;
        if (store_view(r->s, get_txn, &g) != SW_OK ||
            strcmp(g.out, "world") != 0)
            r->errors++;
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void *abort_main(void *arg)
{
    store_txn *t = arg;
    const void *v;
    size_t vl;
    void *failed = NULL;

    if (store_get(t, STORE_DB_META, "hello", 5, &v, &vl) != SW_OK)
        failed = arg; /* non-NULL tells the joining thread */
    store_txn_abort(&t);
    return failed;
}

static void test_threads_during_growth(void **state)
{
    struct fixture *f = *state;
    struct reader r[3];
    pthread_t th[3], ab;
    atomic_int stop = 0;
    struct growreq g = {0, GROW_PER_TXN, 0};
    struct growcheck c = {16, GROW_PER_TXN, 0};
    store_txn *t = NULL;
    void *ret = NULL;
    int i;

    store_close(&f->s);
    test_rmtree(f->dir);
    test_mkdtemp(f->dir);
    ASSERT_OK(open_store(f, 1 << 20, &f->s));
    put_str(f->s, STORE_DB_META, "hello", 0, "world");
    for (i = 0; i < 3; i++) {
        r[i].s = f->s;
        r[i].stop = &stop;
        atomic_init(&r[i].reads, 0);
        r[i].errors = 0;
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    for (g.txn = 0; g.txn < 16; g.txn++)
        ASSERT_OK(store_update(f->s, grow_txn, &g));
    /* On a busy machine the writer may finish before a reader ran: wait
     * until each has read at least once (bounded by the test's timeout). */
    for (i = 0; i < 3; i++)
        while (atomic_load(&r[i].reads) == 0)
            sched_yield();
    atomic_store(&stop, 1);
    for (i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].errors, 0);
        assert_true(r[i].reads > 0);
    }
    ASSERT_OK(store_view(f->s, grow_check_txn, &c));
    assert_int_equal(c.bad, 0);

    ASSERT_OK(store_txn_begin(f->s, 0, &t));
    assert_int_equal(pthread_create(&ab, NULL, abort_main, t), 0);
    assert_int_equal(pthread_join(ab, &ret), 0);
    assert_null(ret);
    /* The gate was released by the other thread: the map can still grow. */
    for (g.txn = 16; g.txn < 20; g.txn++)
        ASSERT_OK(store_update(f->s, grow_txn, &g));
}

/* Two processes: the child opens its own handle on the same directory.
 * They take turns so each can check the other's commits, then both write at
 * once, the child enough to grow the map under the parent. */
#define TWO_ROUNDS 20
#define TWO_BURST 300

static int wait_byte(int fd)
{
    char c;

    return read(fd, &c, 1) == 1 ? 0 : -1;
}

static int send_byte(int fd)
{
    return write(fd, "x", 1) == 1 ? 0 : -1;
}

struct strreq {
    const char *k;
    const char *v;
    char val[GROW_VAL];
    size_t vlen;
    int found;
};

static SW_MUST_CHECK sw_err put_big_txn(store_txn *t, void *arg)
{
    struct strreq *r = arg;

    return store_put(t, STORE_DB_SEQ, r->k, strlen(r->k), r->val, r->vlen, 0);
}

static SW_MUST_CHECK sw_err find_txn(store_txn *t, void *arg)
{
    struct strreq *r = arg;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_SEQ, r->k, strlen(r->k), &v, &vl);
    if (rc == SW_ENOTFOUND) {
        r->found = 0;
        return SW_OK;
    }
    if (rc)
        return rc;
    r->found = vl == r->vlen && memcmp(v, r->val, vl) == 0;
    return SW_OK;
}

static SW_MUST_CHECK sw_err put_mark(store *s, const char *who, int i,
                                     size_t vlen)
{
    struct strreq r;
    char key[32];

    snprintf(key, sizeof(key), "%s/%d", who, i);
    r.k = key;
    r.vlen = vlen;
    memset(r.val, who[0], vlen);
    return store_update(s, put_big_txn, &r);
}

static SW_MUST_CHECK sw_err has_mark(store *s, const char *who, int i,
                                     size_t vlen, int *found)
{
    struct strreq r;
    char key[32];
    sw_err rc;

    snprintf(key, sizeof(key), "%s/%d", who, i);
    r.k = key;
    r.vlen = vlen;
    memset(r.val, who[0], vlen);
    rc = store_view(s, find_txn, &r);
    *found = r.found;
    return rc;
}

static int child_main(const char *dir, int in, int out)
{
    struct store_opts o = {dir, 1 << 20, 0, 0, 0, 0};
    store *s = NULL;
    int i, found, ret = 1;

    if (store_open(&o, &s) != SW_OK)
        return 2;
    for (i = 0; i < TWO_ROUNDS; i++) {
        if (wait_byte(in))
            goto out;
        if (has_mark(s, "parent", i, 10, &found) || !found) {
            ret = 3;
            goto out;
        }
        if (put_mark(s, "child", i, 10) || send_byte(out))
            goto out;
    }
    /* Burst: about 1.2 MiB, more than the 1 MiB map each side opened. */
    for (i = 0; i < TWO_BURST; i++) {
        if (put_mark(s, "kid", i, GROW_VAL)) {
            ret = 4;
            goto out;
        }
    }
    if (send_byte(out) || wait_byte(in))
        goto out;
    for (i = 0; i < TWO_BURST; i++) {
        if (has_mark(s, "pop", i, 100, &found) || !found) {
            ret = 5;
            goto out;
        }
    }
    ret = 0;
out:
    store_close(&s);
    return ret;
}

static void test_two_processes(void **state)
{
    struct fixture *f = *state;
    int p2c[2], c2p[2], status, i, found;
    pid_t pid;

    /* A fresh directory, so that both sides start with a 1 MiB map. */
    store_close(&f->s);
    test_rmtree(f->dir);
    test_mkdtemp(f->dir);
    ASSERT_OK(open_store(f, 1 << 20, &f->s));
    assert_int_equal(pipe(p2c), 0);
    assert_int_equal(pipe(c2p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ret;
        close(p2c[1]);
        close(c2p[0]);
        ret = child_main(f->dir, p2c[0], c2p[1]);
        _exit(ret);
    }
    close(p2c[0]);
    close(c2p[1]);
    for (i = 0; i < TWO_ROUNDS; i++) {
        ASSERT_OK(put_mark(f->s, "parent", i, 10));
        assert_int_equal(send_byte(p2c[1]), 0);
        assert_int_equal(wait_byte(c2p[0]), 0);
        ASSERT_OK(has_mark(f->s, "child", i, 10, &found));
        assert_true(found);
    }
    /* Write while the child writes its burst. */
    for (i = 0; i < TWO_BURST; i++)
        ASSERT_OK(put_mark(f->s, "pop", i, 100));
    assert_int_equal(wait_byte(c2p[0]), 0);
    for (i = 0; i < TWO_BURST; i++) {
        ASSERT_OK(has_mark(f->s, "kid", i, GROW_VAL, &found));
        assert_true(found);
    }
    assert_int_equal(send_byte(p2c[1]), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(p2c[1]);
    close(c2p[0]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ASSERT_OK(put_mark(f->s, "after", 0, 10));
}

/* Tenants */

static void test_team_create_get_delete(void **state)
{
    struct fixture *f = *state;
    struct store_team t = {0}, g = {0};
    struct store_apikey k = {0};
    struct sw_buf why;
    char *secret = NULL;

    sw_buf_init(&why, 1024);
    ASSERT_ERR(store_team_create(f->s, "", &t, &secret, &why), SW_EINVAL);
    assert_string_equal(sw_buf_str(&why), "display_name must be 1 to 200 bytes "
                                          "of UTF-8 without control "
                                          "characters");
    ASSERT_ERR(store_team_create(f->s, "bad\xff", &t, NULL, NULL), SW_EINVAL);
    ASSERT_ERR(store_team_create(f->s, "tab\there", &t, NULL, NULL), SW_EINVAL);
    /* Control characters beyond C0: DEL and the C1 range U+0080-U+009F. */
    ASSERT_ERR(store_team_create(f->s, "del\x7f", &t, NULL, NULL), SW_EINVAL);
    ASSERT_ERR(store_team_create(f->s, "c1 \xc2\x80", &t, NULL, NULL),
               SW_EINVAL);
    ASSERT_ERR(store_team_create(f->s, "nel \xc2\x85", &t, NULL, NULL),
               SW_EINVAL);
    ASSERT_ERR(store_team_create(f->s, "c1 \xc2\x9f", &t, NULL, NULL),
               SW_EINVAL);
    assert_null(t.team_id);

    ASSERT_OK(store_team_create(f->s, "Acme \xc3\xa9", &t, &secret, &why));
    assert_int_equal(strlen(t.team_id), 21);
    assert_memory_equal(t.team_id, "team_", 5);
    assert_string_equal(t.display_name, "Acme \xc3\xa9");
    assert_true(t.create_ms > 0);
    /* A team's key: its routing prefix, then the secret. */
    assert_int_equal(strlen(secret), STORE_KEY_MAX_LEN);
    assert_memory_equal(secret, t.team_id, STORE_ROUTE_LEN);
    assert_int_equal(secret[STORE_ROUTE_LEN], STORE_ROUTE_SEP);
    assert_memory_equal(secret + STORE_ROUTE_LEN + 1, "sk_", 3);

    ASSERT_OK(store_team_get(f->s, t.team_id, &g, NULL));
    assert_string_equal(g.team_id, t.team_id);
    assert_string_equal(g.display_name, t.display_name);
    assert_int_equal(g.create_ms, t.create_ms);
    store_team_clear(&g);

    ASSERT_OK(store_key_authenticate(f->s, secret, strlen(secret), &k));
    assert_string_equal(k.team_id, t.team_id);
    assert_int_equal(k.role, STORE_ROLE_TEAM);
    assert_string_equal(k.display_name, "default");
    assert_int_equal(k.revoke_ms, 0);
    assert_int_equal(strlen(k.key_prefix), STORE_ROUTE_LEN + 1 + 11);
    assert_memory_equal(k.key_prefix, secret, STORE_ROUTE_LEN + 1 + 11);
    store_apikey_clear(&k);
    /* The bare secret (a key made before routing) still authenticates. */
    ASSERT_OK(store_key_authenticate(f->s, secret + STORE_ROUTE_LEN + 1,
                                     STORE_SECRET_LEN, &k));
    assert_string_equal(k.team_id, t.team_id);
    store_apikey_clear(&k);

    ASSERT_OK(store_team_delete(f->s, t.team_id, NULL));
    ASSERT_ERR(store_key_authenticate(f->s, secret, strlen(secret), &k),
               SW_EUNAUTH);
    ASSERT_ERR(store_team_get(f->s, t.team_id, &g, NULL), SW_ENOTFOUND);
    ASSERT_ERR(store_team_delete(f->s, t.team_id, NULL), SW_ENOTFOUND);
    ASSERT_ERR(store_team_get(f->s, "Team X", &g, &why), SW_EINVAL);
    assert_string_equal(sw_buf_str(&why), "team_id is not valid");

    store_team_clear(&t);
    store_team_clear(NULL);
    sw_free(secret);
    sw_buf_free(&why);
}

static void test_team_list_pages(void **state)
{
    struct fixture *f = *state;
    struct store_team *items = NULL, *all = NULL;
    char *next = NULL, *tok = NULL;
    char seen[7][32];
    size_t n, total = 0, i;
    struct sw_buf why;
    int pages = 0;

    sw_buf_init(&why, 1024);
    for (i = 0; i < 7; i++) {
        struct store_team t;
        char name[16];
        snprintf(name, sizeof(name), "team %zu", i);
        ASSERT_OK(store_team_create(f->s, name, &t, NULL, NULL));
        store_team_clear(&t);
    }
    do {
        ASSERT_OK(store_team_list(f->s, 3, tok, &items, &n, &next, NULL));
        pages++;
        assert_true(n <= 3);
        for (i = 0; i < n; i++) {
            assert_true(total < 7);
            snprintf(seen[total], sizeof(seen[total]), "%s", items[i].team_id);
            if (total > 0)
                assert_true(strcmp(seen[total - 1], seen[total]) < 0);
            total++;
        }
        store_teams_free(items, n);
        sw_free(tok);
        tok = next;
    } while (tok != NULL);
    assert_int_equal(pages, 3);
    assert_int_equal(total, 7);

    /* A page that ends exactly at the end has no next token. */
    ASSERT_OK(store_team_list(f->s, 7, NULL, &all, &n, &next, NULL));
    assert_int_equal(n, 7);
    assert_null(next);
    store_teams_free(all, n);
    ASSERT_OK(store_team_list(f->s, 0, NULL, &all, &n, &next, NULL));
    assert_int_equal(n, 7);
    store_teams_free(all, n);

    ASSERT_ERR(store_team_list(f->s, 1001, NULL, &all, &n, &next, &why),
               SW_EINVAL);
    assert_string_equal(sw_buf_str(&why), "page_size must be 0 to 1000");
    ASSERT_ERR(store_team_list(f->s, -1, NULL, &all, &n, &next, NULL),
               SW_EINVAL);
    ASSERT_ERR(store_team_list(f->s, 3, "zz", &all, &n, &next, &why),
               SW_EINVAL);
    assert_string_equal(sw_buf_str(&why), "page_token is not valid");
    ASSERT_ERR(store_team_list(f->s, 3, "abc", &all, &n, &next, NULL),
               SW_EINVAL);
    ASSERT_ERR(store_team_list(f->s, 3, "ABCD", &all, &n, &next, NULL),
               SW_EINVAL);
    sw_buf_free(&why);
}

static void test_keys(void **state)
{
    struct fixture *f = *state;
    struct store_team t1 = {0}, t2 = {0};
    struct store_apikey k = {0}, a = {0}, r = {0}, *items = NULL;
    char *s1 = NULL, *s2 = NULL, *sa = NULL, *next = NULL;
    struct sw_buf why;
    size_t n;

    sw_buf_init(&why, 1024);
    ASSERT_OK(store_team_create(f->s, "one", &t1, NULL, NULL));
    ASSERT_OK(store_team_create(f->s, "two", &t2, NULL, NULL));
    ASSERT_OK(store_key_create(f->s, t1.team_id, "ci", STORE_ROLE_TEAM, &k, &s1,
                               NULL));
    assert_string_equal(k.team_id, t1.team_id);
    assert_memory_equal(k.key_id, "key_", 4);
    ASSERT_OK(
        store_key_create(f->s, NULL, "ops", STORE_ROLE_ADMIN, NULL, &sa, NULL));

    /* Role and team must agree; the team must exist. */
    ASSERT_ERR(store_key_create(f->s, t1.team_id, "x", STORE_ROLE_ADMIN, NULL,
                                NULL, &why),
               SW_EINVAL);
    assert_string_equal(sw_buf_str(&why), "role must be 1 (admin, without a "
                                          "team) or 2 (team, with a team_id)");
    ASSERT_ERR(
        store_key_create(f->s, "", "x", STORE_ROLE_TEAM, NULL, NULL, NULL),
        SW_EINVAL);
    ASSERT_ERR(store_key_create(f->s, t1.team_id, "x", 7, NULL, NULL, NULL),
               SW_EINVAL);
    ASSERT_ERR(store_key_create(f->s, "team_0000000000000000", "x",
                                STORE_ROLE_TEAM, NULL, NULL, NULL),
               SW_ENOTFOUND);

    ASSERT_OK(store_key_authenticate(f->s, sa, strlen(sa), &a));
    assert_int_equal(a.role, STORE_ROLE_ADMIN);
    assert_string_equal(a.team_id, "");
    store_apikey_clear(&a);

    /* Malformed and unknown secrets. */
    ASSERT_ERR(store_key_authenticate(f->s, "", 0, &a), SW_EUNAUTH);
    ASSERT_ERR(store_key_authenticate(f->s, s1, strlen(s1) - 1, &a),
               SW_EUNAUTH);
    /* One character of the secret part changed. */
    s1[STORE_ROUTE_LEN + 11] = s1[STORE_ROUTE_LEN + 11] == 'a' ? 'b' : 'a';
    ASSERT_ERR(store_key_authenticate(f->s, s1, strlen(s1), &a), SW_EUNAUTH);
    s1[STORE_ROUTE_LEN + 11] = k.key_prefix[STORE_ROUTE_LEN + 11];
    ASSERT_OK(store_key_authenticate(f->s, s1, strlen(s1), &a));
    store_apikey_clear(&a);

    /* Keys per team, admin keys, everyone's. */
    ASSERT_OK(
        store_key_list(f->s, t1.team_id, 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 2);
    assert_null(next);
    store_apikeys_free(items, n);
    ASSERT_OK(store_key_list(f->s, "", 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 1);
    assert_int_equal(items[0].role, STORE_ROLE_ADMIN);
    store_apikeys_free(items, n);
    ASSERT_OK(store_key_list(f->s, NULL, 2, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 2);
    assert_non_null(next);
    store_apikeys_free(items, n);
    sw_free(next);
    ASSERT_OK(
        store_key_list(f->s, t1.team_id, 1, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 1);
    assert_non_null(next);
    store_apikeys_free(items, n);
    /* A token from one list does not fit another's prefix. */
    ASSERT_ERR(
        store_key_list(f->s, t2.team_id, 2, next, &items, &n, &next, NULL),
        SW_EINVAL);
    sw_free(next);

    /* Revocation: scoped, immediate, idempotent. */
    ASSERT_ERR(store_key_revoke(f->s, t2.team_id, k.key_id, &r, NULL),
               SW_ENOTFOUND);
    ASSERT_ERR(store_key_revoke(f->s, NULL, "key_0000000000000000", &r, NULL),
               SW_ENOTFOUND);
    ASSERT_ERR(store_key_revoke(f->s, NULL, "", &r, &why), SW_EINVAL);
    ASSERT_OK(store_key_revoke(f->s, t1.team_id, k.key_id, &r, NULL));
    assert_true(r.revoke_ms > 0);
    ASSERT_ERR(store_key_authenticate(f->s, s1, strlen(s1), &a), SW_EUNAUTH);
    {
        struct store_apikey r2 = {0};
        ASSERT_OK(store_key_revoke(f->s, NULL, k.key_id, &r2, NULL));
        assert_int_equal(r2.revoke_ms, r.revoke_ms);
        store_apikey_clear(&r2);
    }
    ASSERT_OK(
        store_key_list(f->s, t1.team_id, 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 2);
    assert_true(items[0].revoke_ms > 0 || items[1].revoke_ms > 0);
    store_apikeys_free(items, n);

    /* Deleting a team removes every key record. */
    ASSERT_OK(store_key_create(f->s, t2.team_id, "ci", STORE_ROLE_TEAM, NULL,
                               &s2, NULL));
    ASSERT_OK(store_team_delete(f->s, t2.team_id, NULL));
    ASSERT_ERR(store_key_authenticate(f->s, s2, strlen(s2), &a), SW_EUNAUTH);
    {
        struct store_stats st;
        ASSERT_OK(store_stat(f->s, &st));
        assert_int_equal(st.entries[STORE_DB_KEYS], 3);
        assert_int_equal(st.entries[STORE_DB_KEY_HASHES], 3);
        assert_int_equal(st.entries[STORE_DB_KEY_IDS], 3);
        assert_int_equal(st.entries[STORE_DB_TEAMS], 1);
    }

    store_apikey_clear(&k);
    store_apikey_clear(&r);
    store_team_clear(&t1);
    store_team_clear(&t2);
    sw_free(s1);
    sw_free(s2);
    sw_free(sa);
    sw_buf_free(&why);
}

static void test_admin_bootstrap(void **state)
{
    struct fixture *f = *state;
    struct store_apikey a = {0}, r = {0};
    char *secret = NULL, *again = NULL;

    ASSERT_OK(store_admin_bootstrap(f->s, &secret));
    ASSERT_ERR(store_admin_bootstrap(f->s, &again), SW_EEXIST);
    assert_null(again);
    ASSERT_OK(store_key_authenticate(f->s, secret, strlen(secret), &a));
    assert_int_equal(a.role, STORE_ROLE_ADMIN);
    assert_string_equal(a.display_name, "bootstrap");
    /* Once every admin key is revoked, bootstrap makes a new one. */
    ASSERT_OK(store_key_revoke(f->s, NULL, a.key_id, &r, NULL));
    ASSERT_OK(store_admin_bootstrap(f->s, &again));
    assert_string_not_equal(secret, again);
    store_apikey_clear(&a);
    store_apikey_clear(&r);
    sw_free(secret);
    sw_free(again);
}

static void test_members(void **state)
{
    struct fixture *f = *state;
    struct store_team t = {0}, u = {0};
    struct store_member m = {0}, *items = NULL;
    char *next = NULL, *tok = NULL;
    struct sw_buf why;
    bool is = true;
    size_t n, total = 0;
    int i;
    static const char *bad[] = {"",     "a",     "@b",    "a@",
                                "a@@b", "a b@c", "a@b@c", "x\x01@y"};

    sw_buf_init(&why, 1024);
    ASSERT_OK(store_team_create(f->s, "one", &t, NULL, NULL));
    ASSERT_OK(store_team_create(f->s, "two", &u, NULL, NULL));
    ASSERT_OK(
        store_member_add(f->s, t.team_id, "Ann@Example.COM", "Ann", &m, &why));
    assert_string_equal(m.email, "ann@example.com");
    assert_string_equal(m.display_name, "Ann");
    store_member_clear(&m);
    ASSERT_ERR(
        store_member_add(f->s, t.team_id, "ann@example.com", NULL, &m, NULL),
        SW_EEXIST);
    for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
        sw_buf_reset(&why);
        ASSERT_ERR(store_member_add(f->s, t.team_id, bad[i], "x", &m, &why),
                   SW_EINVAL);
        assert_true(sw_buf_len(&why) > 0);
    }
    ASSERT_ERR(
        store_member_add(f->s, "team_0000000000000000", "a@b", "", &m, NULL),
        SW_ENOTFOUND);

    ASSERT_OK(store_member_is(f->s, t.team_id, "ANN@example.com", &is));
    assert_true(is);
    ASSERT_OK(store_member_is(f->s, u.team_id, "ann@example.com", &is));
    assert_false(is);
    ASSERT_OK(store_member_is(f->s, t.team_id, "not an email", &is));
    assert_false(is);

    for (i = 0; i < 9; i++) {
        char email[32];
        snprintf(email, sizeof(email), "p%d@example.com", i);
        ASSERT_OK(store_member_add(f->s, t.team_id, email, NULL, NULL, NULL));
    }
    ASSERT_OK(store_member_add(f->s, u.team_id, "z@other.org", "", NULL, NULL));
    i = 0;
    do {
        ASSERT_OK(store_member_list(f->s, t.team_id, 4, tok, &items, &n, &next,
                                    NULL));
        total += n;
        i++;
        store_members_free(items, n);
        sw_free(tok);
        tok = next;
    } while (tok);
    assert_int_equal(total, 10);
    assert_int_equal(i, 3);

    ASSERT_OK(store_member_remove(f->s, t.team_id, "ANN@example.com", NULL));
    ASSERT_ERR(store_member_remove(f->s, t.team_id, "ann@example.com", NULL),
               SW_ENOTFOUND);
    ASSERT_OK(store_member_is(f->s, t.team_id, "ann@example.com", &is));
    assert_false(is);

    ASSERT_OK(store_team_delete(f->s, t.team_id, NULL));
    ASSERT_OK(
        store_member_list(f->s, t.team_id, 0, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 0);
    store_members_free(items, n);
    ASSERT_OK(store_member_is(f->s, u.team_id, "z@other.org", &is));
    assert_true(is);

    store_team_clear(&t);
    store_team_clear(&u);
    sw_buf_free(&why);
}

static void test_domains(void **state)
{
    struct fixture *f = *state;
    struct store_team t = {0};
    struct store_domain d = {0}, *items = NULL;
    char *next = NULL, *tok = NULL;
    struct sw_buf why;
    bool is = false;
    size_t n;
    int i;
    static const char *bad[] = {"",
                                ".",
                                "a..b",
                                "-a.com",
                                "a-.com",
                                "a_b.com",
                                "a.com.",
                                "a b.com",
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                "aaaaaaaaaaaaaaaaaaaaa.com"};

    sw_buf_init(&why, 1024);
    ASSERT_OK(store_team_create(f->s, "one", &t, NULL, NULL));
    ASSERT_OK(store_domain_add(f->s, t.team_id, "Example.COM", &d, NULL));
    assert_string_equal(d.domain, "example.com");
    store_domain_clear(&d);
    ASSERT_OK(
        store_domain_add(f->s, t.team_id, "mail-1.example.org", NULL, NULL));
    ASSERT_OK(store_domain_add(f->s, t.team_id, "localhost", NULL, NULL));
    ASSERT_ERR(store_domain_add(f->s, t.team_id, "example.com", NULL, NULL),
               SW_EEXIST);
    for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
        sw_buf_reset(&why);
        ASSERT_ERR(store_domain_add(f->s, t.team_id, bad[i], NULL, &why),
                   SW_EINVAL);
        assert_true(sw_buf_len(&why) > 0);
    }
    ASSERT_OK(store_domain_is(f->s, t.team_id, "EXAMPLE.com", &is));
    assert_true(is);
    ASSERT_OK(store_domain_is(f->s, t.team_id, "example.net", &is));
    assert_false(is);
    ASSERT_OK(
        store_domain_list(f->s, t.team_id, 2, NULL, &items, &n, &next, NULL));
    assert_int_equal(n, 2);
    assert_string_equal(items[0].domain, "example.com");
    assert_non_null(next);
    store_domains_free(items, n);
    tok = next;
    ASSERT_OK(
        store_domain_list(f->s, t.team_id, 2, tok, &items, &n, &next, NULL));
    sw_free(tok);
    assert_null(next);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].domain, "mail-1.example.org");
    store_domains_free(items, n);
    ASSERT_OK(store_domain_remove(f->s, t.team_id, "example.com", NULL));
    ASSERT_ERR(store_domain_remove(f->s, t.team_id, "example.com", NULL),
               SW_ENOTFOUND);
    store_team_clear(&t);
    sw_buf_free(&why);
}

static void test_stat(void **state)
{
    struct fixture *f = *state;
    struct store_stats st;
    struct store_team t = {0};

    ASSERT_OK(store_team_create(f->s, "one", &t, NULL, NULL));
    ASSERT_OK(store_stat(f->s, &st));
    assert_int_equal(st.map_bytes, 64 << 20);
    assert_true(st.page_bytes >= 4096);
    assert_true(st.used_pages > 0);
    assert_true(st.last_txn_id >= 2);
    assert_int_equal(st.max_readers, 512);
    assert_int_equal(st.entries[STORE_DB_TEAMS], 1);
    assert_int_equal(st.entries[STORE_DB_KEYS], 1);
    assert_int_equal(st.entries[STORE_DB_META], 1);
    assert_string_equal(store_db_name(STORE_DB_KEY_HASHES), "key_hashes");
    assert_string_equal(store_db_name(STORE_DB_COUNT), "?");
    store_team_clear(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_and_del_prefix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_team_prefix_isolation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_team_delete_in_slices_survives_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_team_every_database, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sequences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_during_growth, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_team_create_get_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_team_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
