/* reembed_test: changing the embedder re-embeds in the background. An
 * index built with builtin, restarted with openai (the fake server on
 * loopback): searches keep answering from the old index (with the old
 * embedder) while the endpoint is unreachable and while the rebuild runs,
 * then the new index takes over; a kill -9 during the rebuild loses
 * nothing and the restart resumes from the rebuild's snapshot. */
#include "tests/testutil.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/index.h"
#include "ranker/search.h"
#include "store/store.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"
#include "tests/llm/fake_srv.h"

#define OLD_DIM 64
#define NEW_DIM 8

static const char *fruits[] = {"kiwi",  "mango", "papaya", "lychee",
                               "guava", "melon", "quince", "durian"};

struct fix {
    char dir[TEST_PATH_MAX], sdir[TEST_PATH_MAX + 8], url[64];
    store *s;
    char *team;
    struct fake_srv srv;
    struct llm_embed_opts eo;
};

static store *open_store(const char *dir)
{
    struct store_opts o = {0};
    store *s = NULL;

    o.dir = dir;
    ASSERT_OK(store_open(&o, &s));
    return s;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    struct store_team t = {0};
    char *key = NULL;

    test_mkdtemp(f->dir);
    snprintf(f->sdir, sizeof(f->sdir), "%s/db", f->dir);
    assert_int_equal(mkdir(f->sdir, 0700), 0);
    f->s = open_store(f->sdir);
    ASSERT_OK(store_team_create(f->s, "A", &t, &key, NULL));
    f->team = sw_strdup(t.team_id);
    store_team_clear(&t);
    sw_free(key);
    f->srv.pid = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    fake_srv_stop(&f->srv);
    store_close(&f->s);
    test_rmtree(f->dir);
    sw_free(f->team);
    free(f);
    return 0;
}

static sw_err put_fn(store_txn *t, void *arg)
{
    return store_snippet_put(t, arg);
}

static char *put(store *s, const char *team, const char *text)
{
    struct store_snippet sn = {0};

    sn.team_id = (char *)team;
    sn.kind = 1;
    sn.text = (char *)text;
    ASSERT_OK(store_update(s, put_fn, &sn));
    assert_non_null(sn.snippet_id);
    return sn.snippet_id;
}

/* fill stores n snippets; snippet i ends with fruits[i % 8]. */
static void fill(store *s, const char *team, int n)
{
    char text[128];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "note %d on renewal terms and %s", i,
                 fruits[i % 8]);
        sw_free(put(s, team, text));
    }
}

static void open_ranker(struct fix *f, int openai, rank_ranker **r)
{
    struct rank_opts o = {0};

    o.dim = openai ? NEW_DIM : OLD_DIM;
    o.embedder = openai ? "openai" : "builtin";
    o.openai = &f->eo;
    o.batch = 64;
    o.snapshot_every = 128;
    o.poll_ms = 20;
    o.retry_min_ms = 50;
    o.retry_max_ms = 200;
    ASSERT_OK(rank_ranker_open(f->s, &o, r));
}

static void endpoint(struct fix *f, int port)
{
    memset(&f->eo, 0, sizeof(f->eo));
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/v1", port);
    f->eo.http.base_url = f->url;
    f->eo.http.model = "fake-embed-1";
    f->eo.http.api_key = "sk-reembed-SECRET";
    f->eo.http.timeout_ms = 5000;
    f->eo.http.connect_timeout_ms = 1000;
    f->eo.http.max_http_retries = -1; /* none */
    f->eo.batch = 32;
}

/* search "kiwi": the top score tells the embedding apart. The fake embeds
 * by the last word, so under it every "... kiwi" snippet scores 1. */
static double top_kiwi(struct fix *f, rank_ranker *r, size_t *n, int all_kiwi)
{
    struct rank_query q = {0};
    struct rank_page pg = {0};
    double top;
    size_t i;

    q.team_id = f->team;
    q.text = "kiwi";
    q.text_len = 4;
    q.page_size = 5;
    ASSERT_OK(rank_search(r, f->s, &q, &pg, NULL));
    assert_true(pg.n >= 1);
    top = pg.hits[0].score;
    for (i = 0; i < pg.n; i++) {
        size_t l = strlen(pg.hits[i].sn.text);
        if (all_kiwi)
            assert_string_equal(pg.hits[i].sn.text + l - 4, "kiwi");
    }
    *n = pg.n;
    rank_page_free(&pg);
    return top;
}

static size_t inputs_received(struct fix *f, size_t max_batch)
{
    json_t *reqs = fake_srv_requests(&f->srv);
    size_t i, n = 0;

    for (i = 0; i < json_array_size(reqs); i++) {
        json_t *in = json_object_get(
            json_object_get(json_array_get(reqs, i), "body"), "input");
        assert_true(json_array_size(in) <= max_batch);
        n += json_array_size(in);
    }
    json_decref(reqs);
    return n;
}

static void build_builtin(struct fix *f, int n)
{
    struct rank_index_stats st;
    rank_ranker *r = NULL;
    int done = 0;

    fill(f->s, f->team, n);
    open_ranker(f, 0, &r);
    ASSERT_OK(rank_ranker_sync(r, f->team, 0, &done));
    ASSERT_EQ(done, 1);
    ASSERT_OK(rank_ranker_snapshot(r, f->team));
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.dim, OLD_DIM);
    ASSERT_EQ(st.rebuilding, 0);
    rank_ranker_close(&r);
}

/* The indexer thread: endpoint down (the rebuild waits and retries), then
 * up (the rebuild finishes and swaps in); searches answer throughout. */
static void test_background_rebuild(void **state)
{
    struct fix *f = *state;
    struct rank_index_stats st;
    rank_ranker *r = NULL;
    char *late, *gone;
    size_t n;
    double top;
    int port, i;

    build_builtin(f, 300);
    port = fake_srv_free_port();
    endpoint(f, port); /* nobody listens there yet */
    open_ranker(f, 1, &r);
    ASSERT_OK(rank_ranker_start(r));
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuilding, 1);
    ASSERT_EQ(st.dim, OLD_DIM);
    ASSERT_EQ(st.text_queries, 1);
    ASSERT_EQ(st.from_snapshot, 1);
    ASSERT_EQ(rank_ranker_dim(r), OLD_DIM);
    ASSERT_EQ(rank_ranker_embed_dim(r), NEW_DIM);
    /* Served from the old index with the old embedder. */
    top = top_kiwi(f, r, &n, 0);
    assert_true(top < 0.99);
    ASSERT_EQ(n, 5);
    /* New snippets and deletions show up at once meanwhile. */
    late = put(f->s, f->team, "late remark about a walrus and kiwi");
    gone = put(f->s, f->team, "doomed remark about a narwhal and kiwi");
    ASSERT_OK(store_snippet_delete(f->s, f->team, gone));
    ASSERT_OK(rank_ranker_forget_snippet(r, f->team, gone));
    /* The old index follows the feed with the old embedder. */
    for (i = 0; i < 500; i++) {
        ASSERT_OK(rank_ranker_stats(r, f->team, &st));
        if (st.covered_seq == st.feed_seq)
            break;
        rank_ranker_kick(r);
        usleep(10000);
    }
    ASSERT_EQ(st.covered_seq, st.feed_seq);
    {
        struct rank_query q = {0};
        struct rank_page pg = {0};
        q.team_id = f->team;
        q.text = "late remark about a walrus and kiwi";
        q.text_len = strlen(q.text);
        q.page_size = 3;
        ASSERT_OK(rank_search(r, f->s, &q, &pg, NULL));
        assert_true(pg.n >= 1);
        assert_string_equal(pg.hits[0].sn.snippet_id, late);
        for (size_t k = 0; k < pg.n; k++)
            assert_string_not_equal(pg.hits[k].sn.snippet_id, gone);
        rank_page_free(&pg);
    }
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuilding, 1);
    ASSERT_EQ(st.rebuild_seq, 0); /* nothing embedded: unreachable */

    /* The endpoint comes up: the waiting rebuild retries and finishes. */
    fake_srv_start(&f->srv, f->dir, "[{\"status\": 200, \"dim\": 8}]", port);
    rank_ranker_kick(r);
    for (i = 0; i < 1000; i++) {
        ASSERT_OK(rank_ranker_stats(r, f->team, &st));
        if (st.rebuilds == 1)
            break;
        /* Searches keep answering while it runs. */
        (void)top_kiwi(f, r, &n, 0);
        usleep(10000);
    }
    ASSERT_EQ(st.rebuilds, 1);
    ASSERT_EQ(st.rebuilding, 0);
    ASSERT_EQ(st.dim, NEW_DIM);
    ASSERT_EQ(st.covered_seq, st.feed_seq);
    ASSERT_EQ(st.count, 301); /* 300 + late; gone's only entry is a delete */
    /* Every live snippet was sent, in requests of at most 32 inputs. */
    assert_true(inputs_received(f, 32) >= 301);
    top = top_kiwi(f, r, &n, 1);
    assert_true(fabs(top - 1.0) < 1e-4); /* the new embedding */
    rank_ranker_close(&r);

    /* Restart: the new index is current; nothing is rebuilt again. */
    n = inputs_received(f, 32);
    open_ranker(f, 1, &r);
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuilding, 0);
    ASSERT_EQ(st.from_snapshot, 1);
    ASSERT_EQ(st.dim, NEW_DIM);
    ASSERT_EQ(rank_ranker_dim(r), NEW_DIM); /* the old snapshot is gone */
    top = top_kiwi(f, r, &n, 1);
    assert_true(fabs(top - 1.0) < 1e-4);
    rank_ranker_close(&r);
    sw_free(late);
    sw_free(gone);
}

/* The child: rebuild in small steps; once a rebuild snapshot is stored and
 * more has been embedded, report the snapshot's seq and keep going until
 * killed. */
static void crash_child(struct fix *f, int fd)
{
    struct rank_index_stats st;
    rank_ranker *r = NULL;
    int done = 0, told = 0;

    f->s = open_store(f->sdir);
    open_ranker(f, 1, &r);
    for (;;) {
        if (rank_ranker_rebuild(r, f->team, 64, &done))
            _exit(3);
        if (rank_ranker_stats(r, f->team, &st))
            _exit(4);
        if (!told && st.rebuild_snapshot_seq > 0 &&
            st.rebuild_seq > st.rebuild_snapshot_seq) {
            if (write(fd, &st.rebuild_snapshot_seq, 8) != 8)
                _exit(5);
            told = 1;
        }
        if (done)
            _exit(6); /* the parent kills long before this */
    }
}

static void test_kill9_during_rebuild(void **state)
{
    struct fix *f = *state;
    struct rank_index_stats st;
    rank_ranker *r = NULL;
    uint64_t snap = 0, resume;
    size_t before, n;
    int p[2], status, done = 0;
    pid_t pid;

    build_builtin(f, 1200);
    store_close(&f->s);
    /* Slow answers, so the kill lands in the middle of the rebuild. */
    fake_srv_start(&f->srv, f->dir,
                   "[{\"status\": 200, \"dim\": 8, \"delay\": 0.02}]", 0);
    endpoint(f, f->srv.port);
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(f, p[1]);
    }
    close(p[1]);
    assert_int_equal(read(p[0], &snap, 8), 8);
    close(p[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(snap > 0 && snap < 1200);
    before = inputs_received(f, 32);

    /* Restart: the old index serves, the rebuild resumes from its
     * snapshot. */
    f->s = open_store(f->sdir);
    open_ranker(f, 1, &r);
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuilding, 1);
    ASSERT_EQ(st.dim, OLD_DIM);
    ASSERT_EQ(st.count, 1200);
    resume = st.rebuild_seq;
    assert_true(resume >= snap);
    ASSERT_EQ(st.rebuild_snapshot_seq, resume);
    ASSERT_EQ(st.rebuild_count, resume);
    assert_true(top_kiwi(f, r, &n, 0) < 0.99);
    /* Syncing the serving index (as Suggest and rerank do) never drives
     * the rebuild. */
    ASSERT_OK(rank_ranker_sync(r, f->team, 0, &done));
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuild_seq, resume);
    ASSERT_EQ(inputs_received(f, 32), before);
    ASSERT_OK(rank_ranker_rebuild(r, f->team, 0, &done));
    ASSERT_EQ(done, 1);
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuilding, 0);
    ASSERT_EQ(st.rebuilds, 1);
    ASSERT_EQ(st.count, 1200); /* nothing lost */
    ASSERT_EQ(st.dim, NEW_DIM);
    /* Only the rest was embedded after the restart. */
    ASSERT_EQ(inputs_received(f, 32) - before, 1200 - resume);
    assert_true(fabs(top_kiwi(f, r, &n, 1) - 1.0) < 1e-4);
    rank_ranker_close(&r);
}

/* An endpoint answering vectors of the wrong length is a clear error: the
 * rebuild waits, the old index keeps serving. */
static void test_wrong_dim_keeps_serving(void **state)
{
    struct fix *f = *state;
    struct rank_index_stats st;
    rank_ranker *r = NULL;
    size_t n;
    int done = 0;

    build_builtin(f, 100);
    fake_srv_start(&f->srv, f->dir, "[{\"status\": 200, \"dim\": 5}]", 0);
    endpoint(f, f->srv.port);
    open_ranker(f, 1, &r);
    ASSERT_ERR(rank_ranker_rebuild(r, f->team, 0, &done), SW_EPROVIDER);
    ASSERT_OK(rank_ranker_stats(r, f->team, &st));
    ASSERT_EQ(st.rebuilding, 1);
    ASSERT_EQ(st.rebuild_seq, 0);
    ASSERT_EQ(st.count, 100);
    assert_true(top_kiwi(f, r, &n, 0) < 0.99);
    rank_ranker_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_background_rebuild, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kill9_during_rebuild, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_dim_keeps_serving, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
