/* index_test: the store's snippet feed, the per-team index following it
 * (snapshot, replay, deletes), a kill -9 between a snippet's commit and the
 * next snapshot, team isolation, and filtered, paginated search. */
#include "tests/testutil.h"

#include <signal.h>
#include <sys/wait.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/index.h"
#include "ranker/search.h"
#include "store/store.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

struct fix {
    char dir[TEST_PATH_MAX];
    store *s;
    char *team_a, *team_b;
};

static store *open_store(const char *dir)
{
    struct store_opts o = {0};
    store *s = NULL;

    o.dir = dir;
    ASSERT_OK(store_open(&o, &s));
    return s;
}

static char *new_team(store *s, const char *name)
{
    struct store_team t = {0};
    char *key = NULL, *id;

    ASSERT_OK(store_team_create(s, name, &t, &key, NULL));
    id = sw_strdup(t.team_id);
    store_team_clear(&t);
    sw_free(key);
    return id;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));

    test_mkdtemp(f->dir);
    f->s = open_store(f->dir);
    f->team_a = new_team(f->s, "A");
    f->team_b = new_team(f->s, "B");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    store_close(&f->s);
    test_rmtree(f->dir);
    sw_free(f->team_a);
    sw_free(f->team_b);
    free(f);
    return 0;
}

struct putarg {
    struct store_snippet *sn;
};

static sw_err put_fn(store_txn *t, void *arg)
{
    return store_snippet_put(t, ((struct putarg *)arg)->sn);
}

/* put stores a snippet and returns its id (the caller frees it). */
static char *put(store *s, const char *team, int kind, const char *text,
                 const char *content, const char *rep, const char *topic)
{
    struct store_snippet sn = {0};
    struct putarg a = {&sn};
    char *id;

    sn.team_id = (char *)team;
    sn.kind = kind;
    sn.text = (char *)text;
    sn.content_id = (char *)content;
    sn.rep_email = (char *)rep;
    sn.topic = (char *)topic;
    ASSERT_OK(store_update(s, put_fn, &a));
    assert_non_null(sn.snippet_id);
    assert_true(sn.seq > 0);
    id = sn.snippet_id;
    return id;
}

static const char *topics[] = {"pricing", "security", "onboarding", "legal"};
static const char *phrases[] = {
    "our pricing tiers scale with seats and usage",
    "the security whitepaper covers encryption and audits",
    "onboarding takes two weeks with a dedicated manager",
    "the contract terms were reviewed by our legal team",
};

/* fill adds n snippets with varied text to team. */
static void fill(store *s, const char *team, size_t n)
{
    char text[256];

    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "%s, note %zu for account %zu",
                 phrases[i % 4], i, i * 7919 % 1000);
        sw_free(
            put(s, team, 1 + (int)(i % 2), text, i % 3 ? "cont_a" : "cont_b",
                i % 5 ? "rep@example.com" : "boss@example.com", topics[i % 4]));
    }
}

/* feed_collect records the ids and seqs store_snippet_since walks. */
struct feed_ids {
    char ids[8][32];
    uint64_t seqs[8];
    size_t n;
};

static sw_err feed_collect(const struct store_snippet *sn, void *arg)
{
    struct feed_ids *fi = arg;

    if (fi->n >= 8)
        return SW_ETOOBIG;
    snprintf(fi->ids[fi->n], sizeof(fi->ids[0]), "%s", sn->snippet_id);
    fi->seqs[fi->n++] = sn->seq;
    return SW_OK;
}

static void test_snippet_feed(void **state)
{
    struct fix *f = *state;
    struct store_snippet g = {0};
    char *a, *b;
    uint64_t last;

    a = put(f->s, f->team_a, STORE_SNIPPET_FRAMING, "hello there", "c1",
            "r@x.com", "pricing");
    b = put(f->s, f->team_a, STORE_SNIPPET_KEY_PASSAGE, "second one", NULL,
            NULL, NULL);
    ASSERT_OK(store_snippet_get(f->s, f->team_a, a, &g));
    assert_string_equal(g.text, "hello there");
    assert_string_equal(g.topic, "pricing");
    assert_string_equal(g.email_id, "");
    ASSERT_EQ(g.seq, 1);
    store_snippet_clear(&g);
    /* Other team: not found; malformed ids: invalid. */
    ASSERT_ERR(store_snippet_get(f->s, f->team_b, a, &g), SW_ENOTFOUND);
    ASSERT_ERR(store_snippet_get(f->s, f->team_a, "snip_x", &g), SW_EINVAL);
    /* Redaction wipes the text and moves the snippet to the feed's end. */
    ASSERT_OK(store_snippet_delete(f->s, f->team_a, a));
    ASSERT_OK(store_snippet_delete(f->s, f->team_a, a));
    ASSERT_OK(store_snippet_get(f->s, f->team_a, a, &g));
    assert_string_equal(g.text, "");
    assert_string_equal(g.topic, "");
    ASSERT_EQ(g.deleted, 1);
    ASSERT_EQ(g.seq, 3);
    store_snippet_clear(&g);
    ASSERT_OK(store_snippet_last_seq(f->s, f->team_a, &last));
    ASSERT_EQ(last, 3);
    /* The feed holds each snippet once, at its latest seq: b, then a. */
    {
        struct feed_ids fi = {0};
        ASSERT_OK(
            store_snippet_since(f->s, f->team_a, 0, 0, feed_collect, &fi));
        ASSERT_EQ(fi.n, 2);
        assert_string_equal(fi.ids[0], b);
        assert_string_equal(fi.ids[1], a);
        ASSERT_EQ(fi.seqs[0], 2);
        ASSERT_EQ(fi.seqs[1], 3);
    }
    ASSERT_ERR(store_snippet_delete(f->s, f->team_a, "snip_0000000000000000"),
               SW_ENOTFOUND);
    sw_free(a);
    sw_free(b);
}

/* search_text runs one text search and returns the page. */
static void search_text(rank_ranker *r, store *s, const char *team,
                        const char *text, size_t page, const char *token,
                        struct rank_page *out)
{
    struct rank_query q = {0};

    q.team_id = team;
    q.text = text;
    q.text_len = strlen(text);
    q.page_size = page;
    q.page_token = token;
    ASSERT_OK(rank_search(r, s, &q, out, NULL));
}

/* Template framings that differ by one word (bench_mailbox.py's): a
 * search whose page covers the whole team finds every one of them, and
 * each is found by its own text first. */
static void test_template_framings_all_found(void **state)
{
    enum { N = 62 };
    struct fix *f = *state;
    struct rank_page pg = {0};
    rank_ranker *r = NULL;
    char text[N][200], *ids[N];
    int done = 0, missing = 0, first_wrong = 0;

    for (size_t i = 0; i < N; i++) {
        char w[16];
        size_t k = sizeof(w) - 1, x = i;
        w[k] = '\0';
        do {
            w[--k] = (char)('a' + x % 26);
            x /= 26;
        } while (x);
        snprintf(text[i], sizeof(text[i]),
                 "I've attached the pricing guide for the zyq%s rollout, "
                 "which covers seats, volume discounts and the annual plan.",
                 w + k);
        ids[i] =
            put(f->s, f->team_a, 1, text[i], NULL, "rep@acme.example", NULL);
    }
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    for (size_t i = 0; i < N; i++) {
        int found = 0;
        search_text(r, f->s, f->team_a, text[i], N, NULL, &pg);
        for (size_t j = 0; j < pg.n; j++)
            found += strcmp(pg.hits[j].sn.snippet_id, ids[i]) == 0;
        missing += found == 0;
        first_wrong += pg.n == 0 || strcmp(pg.hits[0].sn.snippet_id, ids[i]);
        rank_page_free(&pg);
    }
    if (missing || first_wrong)
        fail_msg("%d of %d framings not found by their own text, %d not "
                 "first",
                 missing, N, first_wrong);
    for (size_t i = 0; i < N; i++)
        sw_free(ids[i]);
    rank_ranker_close(&r);
}

static void test_snapshot_replay(void **state)
{
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_index_stats st;
    struct rank_page pg = {0};
    rank_ranker *r = NULL;
    char *late, *gone;
    int done = 0;

    o.dim = 128;
    fill(f->s, f->team_a, 300);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    ASSERT_EQ(done, 1);
    ASSERT_OK(rank_ranker_snapshot(r, f->team_a));
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.count, 300);
    ASSERT_EQ(st.snapshot_seq, 300);
    /* After the snapshot: one new snippet and one deletion. */
    late = put(f->s, f->team_a, 1, "zebra migration logistics overview", NULL,
               NULL, NULL);
    gone = put(f->s, f->team_a, 1, "quarterly kangaroo budget review", NULL,
               NULL, NULL);
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    ASSERT_OK(store_snippet_delete(f->s, f->team_a, gone));
    ASSERT_OK(rank_ranker_forget_snippet(r, f->team_a, gone));
    search_text(r, f->s, f->team_a, "kangaroo budget", 5, NULL, &pg);
    for (size_t i = 0; i < pg.n; i++)
        assert_string_not_equal(pg.hits[i].sn.snippet_id, gone);
    rank_page_free(&pg);
    rank_ranker_close(&r);
    assert_null(r);

    /* Restart: the snapshot loads, the feed after it replays. */
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.from_snapshot, 1);
    ASSERT_EQ(st.covered_seq, 300);
    ASSERT_EQ(st.feed_seq, 303);
    search_text(r, f->s, f->team_a, "zebra migration", 3, NULL, &pg);
    assert_true(pg.n >= 1);
    assert_string_equal(pg.hits[0].sn.snippet_id, late);
    rank_page_free(&pg);
    search_text(r, f->s, f->team_a, "kangaroo budget", 5, NULL, &pg);
    for (size_t i = 0; i < pg.n; i++)
        assert_string_not_equal(pg.hits[i].sn.snippet_id, gone);
    rank_page_free(&pg);
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    /* The deleted snippet's only feed entry is its deletion, so the
     * replay never adds it. */
    ASSERT_EQ(st.covered_seq, 303);
    ASSERT_EQ(st.count, 301);
    ASSERT_EQ(st.deleted, 0);
    rank_ranker_close(&r);

    /* Changed settings make the snapshot useless: a full rebuild. */
    o.dim = 96;
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    ASSERT_OK(rank_ranker_rebuild(r, f->team_a, 0, &done));
    ASSERT_EQ(done, 1);
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.from_snapshot, 0);
    ASSERT_EQ(st.count, 301);
    rank_ranker_close(&r);
    sw_free(late);
    sw_free(gone);
}

/* A snippet deleted in the store but still in the index (the indexer has
 * not seen the deletion yet) is never returned: search checks each hit's
 * stored record. */
static void test_search_skips_deleted(void **state)
{
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_page pg = {0};
    rank_ranker *r = NULL;
    char *gone;
    int done = 0, seen = 0;

    o.dim = 128;
    fill(f->s, f->team_a, 20);
    gone = put(f->s, f->team_a, 1, "quarterly kangaroo budget review", NULL,
               NULL, NULL);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    search_text(r, f->s, f->team_a, "kangaroo budget", 5, NULL, &pg);
    for (size_t i = 0; i < pg.n; i++)
        seen += strcmp(pg.hits[i].sn.snippet_id, gone) == 0;
    ASSERT_EQ(seen, 1);
    rank_page_free(&pg);
    ASSERT_OK(store_snippet_delete(f->s, f->team_a, gone));
    search_text(r, f->s, f->team_a, "kangaroo budget", 5, NULL, &pg);
    for (size_t i = 0; i < pg.n; i++)
        assert_string_not_equal(pg.hits[i].sn.snippet_id, gone);
    rank_page_free(&pg);
    rank_ranker_close(&r);
    sw_free(gone);
}

/* The child process: index, snapshot, then commit one more snippet and
 * report its id through the pipe; the parent kills it with SIGKILL. */
static void crash_child(const char *dir, const char *team, int fd)
{
    struct rank_opts o = {0};
    rank_ranker *r = NULL;
    store *s = open_store(dir);
    char *id;
    int done;

    o.dim = 128;
    if (rank_ranker_open(s, &o, &r) || rank_ranker_sync(r, team, 0, &done) ||
        rank_ranker_snapshot(r, team))
        _exit(3);
    id = put(s, team, 1, "walrus fleet insurance renewal quote", NULL, NULL,
             NULL);
    if (write(fd, id, 21) != 21)
        _exit(4);
    for (;;)
        pause();
}

static void test_crash_between_commit_and_snapshot(void **state)
{
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_index_stats st;
    struct rank_page pg = {0};
    rank_ranker *r = NULL;
    char id[22] = {0};
    int p[2], status;
    pid_t pid;

    fill(f->s, f->team_a, 100);
    store_close(&f->s);
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(f->dir, f->team_a, p[1]);
    }
    close(p[1]);
    assert_int_equal(read(p[0], id, 21), 21);
    close(p[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    f->s = open_store(f->dir);
    o.dim = 128;
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.from_snapshot, 1);
    ASSERT_EQ(st.snapshot_seq, 100);
    search_text(r, f->s, f->team_a, "walrus insurance", 3, NULL, &pg);
    assert_true(pg.n >= 1);
    assert_string_equal(pg.hits[0].sn.snippet_id, id);
    rank_page_free(&pg);
    rank_ranker_close(&r);
}

static void test_team_isolation(void **state)
{
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_page pg = {0};
    rank_ranker *r = NULL;
    char *a, *b;

    o.dim = 128;
    a = put(f->s, f->team_a, 1, "identical text about penguin logistics", NULL,
            NULL, NULL);
    b = put(f->s, f->team_b, 1, "identical text about penguin logistics", NULL,
            NULL, NULL);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    search_text(r, f->s, f->team_a, "penguin logistics", 10, NULL, &pg);
    ASSERT_EQ(pg.n, 1);
    assert_string_equal(pg.hits[0].sn.snippet_id, a);
    assert_string_equal(pg.hits[0].sn.team_id, f->team_a);
    rank_page_free(&pg);
    search_text(r, f->s, f->team_b, "penguin logistics", 10, NULL, &pg);
    ASSERT_EQ(pg.n, 1);
    assert_string_equal(pg.hits[0].sn.snippet_id, b);
    rank_page_free(&pg);
    /* Team B cannot remove team A's snippet through its own index. */
    ASSERT_OK(rank_ranker_forget_snippet(r, f->team_b, a));
    search_text(r, f->s, f->team_a, "penguin logistics", 10, NULL, &pg);
    ASSERT_EQ(pg.n, 1);
    rank_page_free(&pg);
    rank_ranker_close(&r);
    sw_free(a);
    sw_free(b);
}

static void test_filters_and_pages(void **state)
{
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_page pg = {0}, pg2 = {0};
    struct rank_query q = {0};
    struct rank_tag tag = {"topic", "security"};
    struct sw_buf why;
    rank_ranker *r = NULL;
    char *tok;

    o.dim = 128;
    sw_buf_init(&why, 512);
    fill(f->s, f->team_a, 200);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    /* Paging: two pages of 7, no overlap, then a token bound to its query. */
    search_text(r, f->s, f->team_a, "pricing tiers seats", 7, NULL, &pg);
    ASSERT_EQ(pg.n, 7);
    assert_non_null(pg.next_token);
    for (size_t i = 1; i < pg.n; i++)
        assert_true(pg.hits[i - 1].score >= pg.hits[i].score - 1e-6);
    search_text(r, f->s, f->team_a, "pricing tiers seats", 7, pg.next_token,
                &pg2);
    ASSERT_EQ(pg2.n, 7);
    for (size_t i = 0; i < pg.n; i++)
        for (size_t j = 0; j < pg2.n; j++)
            assert_string_not_equal(pg.hits[i].sn.snippet_id,
                                    pg2.hits[j].sn.snippet_id);
    q.team_id = f->team_a;
    q.text = "other query";
    q.text_len = 11;
    q.page_size = 7;
    q.page_token = pg.next_token;
    ASSERT_ERR(rank_search(r, f->s, &q, &pg2, &why), SW_EINVAL);
    assert_non_null(strstr(sw_buf_str(&why), "page_token"));
    tok = pg.next_token;
    (void)tok;
    rank_page_free(&pg2);
    /* The next page at another size (AIP-158): the token still holds, and
     * the page goes on where the first ended, no overlap; a size over the
     * maximum is capped. */
    search_text(r, f->s, f->team_a, "pricing tiers seats", 5, pg.next_token,
                &pg2);
    ASSERT_EQ(pg2.n, 5);
    for (size_t i = 0; i < pg.n; i++)
        for (size_t j = 0; j < pg2.n; j++)
            assert_string_not_equal(pg.hits[i].sn.snippet_id,
                                    pg2.hits[j].sn.snippet_id);
    rank_page_free(&pg2);
    search_text(r, f->s, f->team_a, "pricing tiers seats", 100000, NULL, &pg2);
    ASSERT_EQ(pg2.n, RANK_PAGE_MAX);
    rank_page_free(&pg);
    rank_page_free(&pg2);

    /* Filters: kind, content, rep and tag all hold on every hit. */
    memset(&q, 0, sizeof(q));
    q.team_id = f->team_a;
    q.text = "pricing";
    q.text_len = 7;
    q.kinds = 1u << STORE_SNIPPET_KEY_PASSAGE;
    q.content_id = "cont_b";
    q.rep_email = "BOSS@example.com";
    q.tags = &tag;
    q.ntags = 1;
    q.page_size = 50;
    ASSERT_OK(rank_search(r, f->s, &q, &pg, NULL));
    /* i % 2 == 1, i % 3 == 0, i % 5 == 0, i % 4 == 1: i = 45, 105, 165. */
    ASSERT_EQ(pg.n, 3);
    assert_true(pg.exhausted);
    assert_non_null(pg.note);
    assert_null(pg.next_token);
    for (size_t i = 0; i < pg.n; i++) {
        ASSERT_EQ(pg.hits[i].sn.kind, STORE_SNIPPET_KEY_PASSAGE);
        assert_string_equal(pg.hits[i].sn.content_id, "cont_b");
        assert_string_equal(pg.hits[i].sn.topic, "security");
    }
    rank_page_free(&pg);

    /* Bad queries are refused with a reason. */
    memset(&q, 0, sizeof(q));
    q.team_id = f->team_a;
    ASSERT_ERR(rank_search(r, f->s, &q, &pg, &why), SW_EINVAL);
    q.text = "...";
    q.text_len = 3;
    ASSERT_ERR(rank_search(r, f->s, &q, &pg, &why), SW_EINVAL);
    {
        float v[5] = {1, 0, 0, 0, 0};
        q.text = NULL;
        q.vec = v;
        q.vec_len = 5;
        ASSERT_ERR(rank_search(r, f->s, &q, &pg, &why), SW_EINVAL);
    }
    {
        float v[128] = {0};
        q.vec = v;
        q.vec_len = 128;
        ASSERT_ERR(rank_search(r, f->s, &q, &pg, &why), SW_EINVAL);
        v[3] = 2.0f;
        ASSERT_OK(rank_search(r, f->s, &q, &pg, &why));
        rank_page_free(&pg);
    }
    rank_ranker_close(&r);
    sw_buf_free(&why);
}

static void test_indexer_thread(void **state)
{
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_index_stats st = {0};
    rank_ranker *r = NULL;
    int i;

    o.dim = 64;
    o.poll_ms = 20;
    o.snapshot_every = 50;
    fill(f->s, f->team_a, 120);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_start(r));
    ASSERT_ERR(rank_ranker_start(r), SW_ESTATE);
    rank_ranker_kick(r);
    /* Bounded wait for the indexer's snapshot (at most ~10 s). */
    for (i = 0; i < 500; i++) {
        ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
        if (st.snapshot_seq == 120)
            break;
        usleep(20000);
    }
    ASSERT_EQ(st.snapshot_seq, 120);
    ASSERT_EQ(st.count, 120);
    rank_ranker_close(&r);
}

/* flip_chunk_fn changes one byte of the first snapshot chunk of at least
 * 4 KiB in the store (a bit flipped on disk). */
struct flip_arg {
    char key[512];
    size_t klen;
    unsigned char *val;
    size_t vlen;
};

static sw_err flip_find_fn(const void *k, size_t klen, const void *v,
                           size_t vlen, void *arg)
{
    struct flip_arg *a = arg;

    if (vlen < 4096 || klen > sizeof(a->key))
        return SW_OK;
    memcpy(a->key, k, klen);
    a->klen = klen;
    a->val = sw_malloc(vlen);
    assert_non_null(a->val);
    memcpy(a->val, v, vlen);
    a->vlen = vlen;
    return STORE_SCAN_STOP;
}

static sw_err flip_chunk_fn(store_txn *t, void *arg)
{
    struct flip_arg *a = arg;
    sw_err rc;

    rc = store_scan(t, STORE_DB_RANK_SNAP, NULL, 0, NULL, 0, flip_find_fn, a);
    if (rc)
        return rc;
    assert_non_null(a->val);
    a->val[2000] ^= 0x40;
    return store_put(t, STORE_DB_RANK_SNAP, a->key, a->klen, a->val, a->vlen,
                     0);
}

/* A snapshot of several chunks loads from them in place (issue 13) into an
 * index that answers as the saved one did; a chunk changed in the store
 * fails the SHA-256 check, so the index is rebuilt from the feed. */
static void test_snapshot_chunks(void **state)
{
    static const char *queries[] = {"pricing tiers seats", "security audits",
                                    "legal contract terms",
                                    "onboarding manager note 17"};
    struct fix *f = *state;
    struct rank_opts o = {0};
    struct rank_index_stats st;
    struct rank_page pg = {0};
    struct flip_arg fa;
    rank_ranker *r = NULL;
    char ids[4][10][32];
    size_t nids[4], q, i;
    int done = 0;

    o.dim = 128;
    fill(f->s, f->team_a, 1800);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    ASSERT_EQ(done, 1);
    ASSERT_OK(rank_ranker_snapshot(r, f->team_a));
    for (q = 0; q < 4; q++) {
        search_text(r, f->s, f->team_a, queries[q], 10, NULL, &pg);
        nids[q] = pg.n;
        for (i = 0; i < pg.n; i++)
            snprintf(ids[q][i], sizeof(ids[q][i]), "%s",
                     pg.hits[i].sn.snippet_id);
        rank_page_free(&pg);
    }
    rank_ranker_close(&r);

    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.from_snapshot, 1);
    ASSERT_EQ(st.count, 1800);
    for (q = 0; q < 4; q++) {
        search_text(r, f->s, f->team_a, queries[q], 10, NULL, &pg);
        ASSERT_EQ(pg.n, nids[q]);
        for (i = 0; i < pg.n; i++)
            assert_string_equal(pg.hits[i].sn.snippet_id, ids[q][i]);
        rank_page_free(&pg);
    }
    rank_ranker_close(&r);

    memset(&fa, 0, sizeof(fa));
    ASSERT_OK(store_update(f->s, flip_chunk_fn, &fa));
    sw_free(fa.val);
    ASSERT_OK(rank_ranker_open(f->s, &o, &r));
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.from_snapshot, 0);
    ASSERT_OK(rank_ranker_sync(r, f->team_a, 0, &done));
    ASSERT_OK(rank_ranker_stats(r, f->team_a, &st));
    ASSERT_EQ(st.count, 1800);
    rank_ranker_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snippet_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_framings_all_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_skips_deleted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_commit_and_snapshot,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_team_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters_and_pages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_indexer_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
