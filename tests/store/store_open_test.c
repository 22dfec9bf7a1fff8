/* store_open_test: the data directory's contract (store_open creates only
 * the last path component, and with must_exist refuses whatever is not a
 * Snipwise store, creating nothing), a map full at its maximum
 * (SW_ENOSPACE, reads and earlier commits intact, writes again with a
 * larger maximum), and store_backup's copy. Each case uses its own
 * directory. */
#include "tests/testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    int64_t live;
};

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    struct store_opts o = {NULL, 0, 0, 0, 0, 0};

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    test_mkdtemp(f->dir);
    o.dir = f->dir;
    if (store_open(&o, &f->s) != SW_OK)
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

struct kv {
    enum store_db db;
    const char *k;
    const char *v;
};

static SW_MUST_CHECK sw_err put_txn(store_txn *t, void *arg)
{
    const struct kv *kv = arg;

    return store_put(t, kv->db, kv->k, strlen(kv->k), kv->v, strlen(kv->v), 0);
}

static void put_str(store *s, enum store_db db, const char *k, size_t klen,
                    const char *v)
{
    struct kv kv = {db, k, v};

    (void)klen;
    ASSERT_OK(store_update(s, put_txn, &kv));
}

struct getbuf {
    enum store_db db;
    const char *k;
    char out[256];
};

static SW_MUST_CHECK sw_err get_txn(store_txn *t, void *arg)
{
    struct getbuf *g = arg;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, g->db, g->k, strlen(g->k), &v, &vl);
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

    (void)klen;
    g->db = db;
    g->k = k;
    rc = store_view(s, get_txn, g);
    if (rc == SW_ENOTFOUND)
        return NULL;
    ASSERT_OK(rc);
    return g->out;
}

/* Transactions of GROW_PER_TXN values of GROW_VAL bytes. */
#define GROW_VAL 4000

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

/* count_entries returns the number of names in dir (without . and ..),
 * or -1 when it cannot be read. */
static int count_entries(const char *dir)
{
    char cmd[TEST_PATH_MAX + 64];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    if (fscanf(p, "%d", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

/* Creating a store makes the last path component only (mode 0700), never
 * a missing parent: a mistyped path must not grow a tree of directories. */
static void test_open_creates_last_component_only(void **state)
{
    struct fixture *f = *state;
    char sub[TEST_PATH_MAX + 16], parent[TEST_PATH_MAX + 16];
    struct store_opts o = {sub, 0, 0, 0, 0, 0};
    struct stat st;
    store *s = NULL;

    snprintf(sub, sizeof(sub), "%s/new", f->dir);
    ASSERT_OK(store_open(&o, &s));
    store_close(&s);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(sub, sizeof(sub), "%s/data.mdb", f->dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    snprintf(parent, sizeof(parent), "%s/a", f->dir);
    snprintf(sub, sizeof(sub), "%s/a/b/c", f->dir);
    ASSERT_ERR(store_open(&o, &s), SW_ENOTFOUND);
    assert_null(s);
    assert_int_equal(stat(parent, &st), -1);
    /* A file where the directory should be. */
    snprintf(sub, sizeof(sub), "%s/data.mdb", f->dir);
    ASSERT_ERR(store_open(&o, &s), SW_EIO);
}

static SW_MUST_CHECK sw_err del_schema_txn(store_txn *t, void *arg)
{
    (void)arg;
    return store_del(t, STORE_DB_META, STORE_META_SCHEMA_KEY,
                     strlen(STORE_META_SCHEMA_KEY));
}

/* must_exist opens an existing store and refuses everything else with
 * SW_ENOTFOUND, creating nothing. */
static void test_open_must_exist(void **state)
{
    struct fixture *f = *state;
    char sub[TEST_PATH_MAX + 16];
    struct store_opts o = {sub, 0, 0, 0, 1, 0};
    struct getbuf g;
    struct stat st;
    store *s = NULL;
    FILE *fp;

    /* The fixture's store, with a record, opens. */
    put_str(f->s, STORE_DB_META, "hello", 0, "world");
    store_close(&f->s);
    snprintf(sub, sizeof(sub), "%s", f->dir);
    ASSERT_OK(store_open(&o, &s));
    assert_string_equal(get_str(s, STORE_DB_META, "hello", 0, &g), "world");
    store_close(&s);

    /* A missing directory: refused, nothing created. */
    snprintf(sub, sizeof(sub), "%s/typo", f->dir);
    ASSERT_ERR(store_open(&o, &s), SW_ENOTFOUND);
    assert_null(s);
    assert_int_equal(stat(sub, &st), -1);

    /* An empty directory: refused, still empty. */
    assert_int_equal(mkdir(sub, 0700), 0);
    ASSERT_ERR(store_open(&o, &s), SW_ENOTFOUND);
    assert_int_equal(count_entries(sub), 0);

    /* An empty data.mdb: refused, left as it was. */
    snprintf(sub, sizeof(sub), "%s/typo/data.mdb", f->dir);
    fp = fopen(sub, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(sub, sizeof(sub), "%s/typo", f->dir);
    ASSERT_ERR(store_open(&o, &s), SW_ENOTFOUND);
    snprintf(sub, sizeof(sub), "%s/typo/data.mdb", f->dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_size, 0);

    /* An LMDB environment without our schema record (another program's,
     * or one whose record is gone): refused, and the record is not
     * written by the refusal. */
    o.must_exist = 0;
    snprintf(sub, sizeof(sub), "%s", f->dir);
    ASSERT_OK(store_open(&o, &s));
    ASSERT_OK(store_update(s, del_schema_txn, NULL));
    store_close(&s);
    o.must_exist = 1;
    ASSERT_ERR(store_open(&o, &s), SW_ENOTFOUND);
    ASSERT_ERR(store_open(&o, &s), SW_ENOTFOUND);
    assert_null(s);
    /* Without must_exist it is adopted (the record written again). */
    o.must_exist = 0;
    ASSERT_OK(store_open(&o, &f->s));
}

/* A map at its maximum: writes fail with SW_ENOSPACE and a message naming
 * the maximum; reads go on; every earlier commit is intact, in this
 * process and after a reopen; a store opened with a larger maximum takes
 * writes again. */
static void test_map_full_at_max(void **state)
{
    struct fixture *f = *state;
    struct store_opts capped = {f->dir, 0, 1 << 20, 0, 0, 0};
    struct growreq g = {0, 8, 0};
    struct growcheck c = {0, 8, 0};
    struct getbuf gb;
    struct sw_buf why;
    sw_err rc = SW_OK;
    int committed = 0;

    sw_buf_init(&why, 1024);
    store_close(&f->s);
    test_rmtree(f->dir);
    test_mkdtemp(f->dir);
    /* No map_bytes: the initial map is the maximum when that is below the
     * 64 MiB default (else this open would be SW_EINVAL). */
    ASSERT_OK(store_open(&capped, &f->s));
    put_str(f->s, STORE_DB_META, "hello", 0, "world");
    /* 8 values of 4000 bytes per transaction: about 32 transactions fit. */
    for (g.txn = 0; g.txn < 1000; g.txn++) {
        rc = store_update(f->s, grow_txn, &g);
        if (rc)
            break;
        committed++;
    }
    ASSERT_ERR(rc, SW_ENOSPACE);
    assert_true(committed > 5);
    ASSERT_OK(store_nospace_why(f->s, &why));
    assert_string_equal(sw_buf_str(&why),
                        "the store's map is at its maximum size (1048576 "
                        "bytes; snipd --max-map-bytes)");
    /* It stays full, and says so again. */
    ASSERT_ERR(store_update(f->s, grow_txn, &g), SW_ENOSPACE);
    /* Reads still work and see every commit. */
    assert_string_equal(get_str(f->s, STORE_DB_META, "hello", 0, &gb), "world");
    c.txns = committed;
    ASSERT_OK(store_view(f->s, grow_check_txn, &c));
    assert_int_equal(c.bad, 0);
    /* After a reopen too; with a larger maximum, writes resume. */
    store_close(&f->s);
    capped.max_map_bytes = 4 << 20;
    ASSERT_OK(store_open(&capped, &f->s));
    c.bad = 0;
    ASSERT_OK(store_view(f->s, grow_check_txn, &c));
    assert_int_equal(c.bad, 0);
    ASSERT_OK(store_update(f->s, grow_txn, &g));
    sw_buf_free(&why);
}

/* store_backup: a copy taken while a write transaction is open elsewhere
 * is a complete store that opens with must_exist and holds every commit
 * (and nothing uncommitted). */
static void test_backup_copy(void **state)
{
    struct fixture *f = *state;
    char file[TEST_PATH_MAX + 32], dir[TEST_PATH_MAX + 32];
    char to[TEST_PATH_MAX + 64];
    struct store_opts o = {dir, 0, 0, 0, 1, 0};
    struct growreq g = {0, 8, 0};
    struct growcheck c = {3, 8, 0};
    struct getbuf gb;
    store_txn *w = NULL;
    store *s = NULL;
    struct stat st;
    int fd;

    put_str(f->s, STORE_DB_META, "hello", 0, "world");
    for (g.txn = 0; g.txn < 3; g.txn++)
        ASSERT_OK(store_update(f->s, grow_txn, &g));
    /* A write in progress is not in the copy. */
    ASSERT_OK(store_txn_begin(f->s, 1, &w));
    ASSERT_OK(store_put(w, STORE_DB_META, "later", 5, "x", 1, 0));
    snprintf(file, sizeof(file), "%s/copy.mdb", f->dir);
    fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    ASSERT_OK(store_backup(f->s, fd));
    store_txn_abort(&w);
    ASSERT_ERR(store_backup(f->s, -1), SW_EINVAL);
    assert_int_equal(close(fd), 0);

    /* A copy is a data.mdb: put it in an empty directory and open it. */
    snprintf(dir, sizeof(dir), "%s/restored", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(to, sizeof(to), "%s/data.mdb", dir);
    assert_int_equal(rename(file, to), 0);
    assert_int_equal(stat(to, &st), 0);
    assert_true(st.st_size > 0);
    ASSERT_OK(store_open(&o, &s));
    assert_string_equal(get_str(s, STORE_DB_META, "hello", 0, &gb), "world");
    assert_null(get_str(s, STORE_DB_META, "later", 0, &gb));
    ASSERT_OK(store_view(s, grow_check_txn, &c));
    assert_int_equal(c.bad, 0);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_last_component_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_must_exist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_at_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_copy, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
