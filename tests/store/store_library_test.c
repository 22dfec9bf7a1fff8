/* store_library_test: the content library (store_library.h): files kept
 * whole in chunks, once per team and hash, counted for the quota, refused
 * whole past it, deleted whole, and separate per team. */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/store.h"
#include "store/store_library.h"
#include "store/store_tenant.h"

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    struct store_team a, b;
    int64_t live;
    unsigned char *big; /* 2.5 chunks of bytes */
    size_t big_len;
    unsigned char big_sha[SW_SHA256_LEN];
};

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;
    size_t i;

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    test_mkdtemp(f->dir);
    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    if (store_open(&o, &f->s) != SW_OK ||
        store_team_create(f->s, "A", &f->a, NULL, NULL) != SW_OK ||
        store_team_create(f->s, "B", &f->b, NULL, NULL) != SW_OK)
        return -1;
    f->big_len = 2 * STORE_LIBRARY_CHUNK + STORE_LIBRARY_CHUNK / 2;
    f->big = sw_malloc(f->big_len);
    if (f->big == NULL)
        return -1;
    for (i = 0; i < f->big_len; i++) /* no two chunks alike */
        f->big[i] = (unsigned char)((i * 131u) ^ (i >> 11));
    sw_sha256(f->big, f->big_len, f->big_sha);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int64_t live;

    sw_free(f->big);
    store_team_clear(&f->a);
    store_team_clear(&f->b);
    store_close(&f->s);
    live = sw_mem_live() - f->live;
    test_rmtree(f->dir);
    sw_free(f);
    if (live != 0) {
        print_error("leak: %lld blocks live\n", (long long)live);
        return -1;
    }
    return 0;
}

struct put {
    const char *team;
    const unsigned char *sha;
    const void *data;
    size_t len;
    int64_t quota;
    int added;
};

static SW_MUST_CHECK sw_err put_txn(store_txn *t, void *arg)
{
    struct put *p = arg;
    return store_library_put(t, p->team, p->sha, p->data, p->len, p->quota,
                             &p->added);
}

static sw_err put(struct fixture *f, const char *team, const unsigned char *sha,
                  const void *data, size_t len, int64_t quota, int *added)
{
    struct put p = {team, sha, data, len, quota, -1};
    sw_err rc = store_update(f->s, put_txn, &p);
    if (added)
        *added = p.added;
    return rc;
}

struct get {
    const char *team;
    const unsigned char *sha;
    struct sw_buf *out; /* the whole file, chunk after chunk */
    struct store_library_usage u;
    uint32_t chunks;
};

static SW_MUST_CHECK sw_err get_txn(store_txn *t, void *arg)
{
    struct get *g = arg;
    struct sw_buf piece;
    sw_err rc;

    sw_buf_reset(g->out);
    g->chunks = 0;
    rc = store_library_usage(t, g->team, &g->u);
    sw_buf_init(&piece, STORE_LIBRARY_CHUNK);
    while (rc == SW_OK) {
        rc = store_library_read(t, g->team, g->sha, g->chunks, &piece);
        if (rc == SW_OK) {
            assert_true(sw_buf_len(&piece) <= STORE_LIBRARY_CHUNK);
            rc = sw_buf_add(g->out, sw_buf_str(&piece), sw_buf_len(&piece));
            g->chunks++;
        }
    }
    sw_buf_free(&piece);
    return rc == SW_ENOTFOUND ? SW_OK : rc;
}

/* get reads team's usage and the whole file sha (empty, 0 chunks, when it
 * is not kept). */
static void get(struct fixture *f, const char *team, const unsigned char *sha,
                struct sw_buf *out, struct get *g)
{
    g->team = team;
    g->sha = sha;
    g->out = out;
    ASSERT_OK(store_view(f->s, get_txn, g));
}

static void test_put_read_dedupe(void **state)
{
    struct fixture *f = *state;
    struct sw_buf b;
    struct get g;
    int added;

    sw_buf_init(&b, 4 * STORE_LIBRARY_CHUNK);
    ASSERT_OK(put(f, f->a.team_id, f->big_sha, f->big, f->big_len, 0, &added));
    assert_int_equal(added, 1);
    get(f, f->a.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 3);
    assert_int_equal(sw_buf_len(&b), f->big_len);
    assert_memory_equal(sw_buf_str(&b), f->big, f->big_len);
    assert_int_equal(g.u.bytes, (int64_t)f->big_len);
    assert_int_equal(g.u.files, 1);

    /* The same file again (another email): one copy, counted once. */
    ASSERT_OK(put(f, f->a.team_id, f->big_sha, f->big, f->big_len, 0, &added));
    assert_int_equal(added, 0);
    get(f, f->a.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.u.bytes, (int64_t)f->big_len);
    assert_int_equal(g.u.files, 1);

    /* Team B sees nothing of it and has its own count. */
    get(f, f->b.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 0);
    assert_int_equal(g.u.bytes, 0);
    ASSERT_OK(put(f, f->b.team_id, f->big_sha, f->big, f->big_len, 0, &added));
    assert_int_equal(added, 1);
    get(f, f->b.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 3);
    assert_int_equal(g.u.files, 1);
    sw_buf_free(&b);
}

static void test_quota(void **state)
{
    struct fixture *f = *state;
    unsigned char small[1000], small_sha[SW_SHA256_LEN];
    struct sw_buf b;
    struct get g;
    int added;

    sw_buf_init(&b, 4 * STORE_LIBRARY_CHUNK);
    memset(small, 'x', sizeof(small));
    sw_sha256(small, sizeof(small), small_sha);
    ASSERT_OK(
        put(f, f->a.team_id, small_sha, small, sizeof(small), 5000, &added));
    assert_int_equal(added, 1);
    /* 1000 + big > 5000: refused whole, nothing written. */
    ASSERT_ERR(
        put(f, f->a.team_id, f->big_sha, f->big, f->big_len, 5000, &added),
        SW_EQUOTA);
    get(f, f->a.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 0);
    assert_int_equal(g.u.bytes, 1000);
    assert_int_equal(g.u.files, 1);
    /* Exactly filling the quota is allowed; one byte more is not. */
    ASSERT_OK(put(f, f->a.team_id, f->big_sha, f->big, f->big_len,
                  1000 + (int64_t)f->big_len, &added));
    assert_int_equal(added, 1);
    ASSERT_ERR(put(f, f->a.team_id,
                   (const unsigned char *)"01234567890123456"
                                          "789012345678901",
                   "z", 1, 1000 + (int64_t)f->big_len, &added),
               SW_EQUOTA);
    /* A file already kept costs nothing more, even over the quota. */
    ASSERT_OK(put(f, f->a.team_id, small_sha, small, sizeof(small), 1, &added));
    assert_int_equal(added, 0);
    sw_buf_free(&b);
}

struct del {
    const char *team;
    const unsigned char *sha;
    int64_t size;
};

static SW_MUST_CHECK sw_err del_txn(store_txn *t, void *arg)
{
    struct del *d = arg;
    return store_library_delete(t, d->team, d->sha, d->size);
}

static void test_empty_file_and_delete(void **state)
{
    struct fixture *f = *state;
    unsigned char empty_sha[SW_SHA256_LEN];
    struct del d = {NULL, NULL, 0};
    struct sw_buf b;
    struct get g;
    int added;

    sw_buf_init(&b, 4 * STORE_LIBRARY_CHUNK);
    sw_sha256("", 0, empty_sha);
    ASSERT_OK(put(f, f->a.team_id, empty_sha, NULL, 0, 0, &added));
    assert_int_equal(added, 1);
    get(f, f->a.team_id, empty_sha, &b, &g);
    assert_int_equal(g.chunks, 1); /* one empty chunk: kept */
    assert_int_equal(sw_buf_len(&b), 0);
    assert_int_equal(g.u.files, 1);
    ASSERT_OK(put(f, f->a.team_id, f->big_sha, f->big, f->big_len, 0, &added));

    d.team = f->a.team_id;
    d.sha = f->big_sha;
    d.size = (int64_t)f->big_len;
    ASSERT_OK(store_update(f->s, del_txn, &d));
    get(f, f->a.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 0);
    assert_int_equal(g.u.bytes, 0);
    assert_int_equal(g.u.files, 1);
    ASSERT_ERR(store_update(f->s, del_txn, &d), SW_ENOTFOUND);
    d.sha = empty_sha;
    d.size = 0;
    ASSERT_OK(store_update(f->s, del_txn, &d));
    get(f, f->a.team_id, empty_sha, &b, &g);
    assert_int_equal(g.chunks, 0);
    assert_int_equal(g.u.files, 0);
    sw_buf_free(&b);
}

static void test_team_delete_takes_the_library(void **state)
{
    struct fixture *f = *state;
    struct sw_buf b;
    struct get g;

    sw_buf_init(&b, 4 * STORE_LIBRARY_CHUNK);
    ASSERT_OK(put(f, f->a.team_id, f->big_sha, f->big, f->big_len, 0, NULL));
    ASSERT_OK(put(f, f->b.team_id, f->big_sha, f->big, f->big_len, 0, NULL));
    ASSERT_OK(store_team_delete(f->s, f->a.team_id, NULL));
    get(f, f->a.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 0);
    assert_int_equal(g.u.bytes, 0);
    get(f, f->b.team_id, f->big_sha, &b, &g);
    assert_int_equal(g.chunks, 3);
    sw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_read_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_team_delete_takes_the_library,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
