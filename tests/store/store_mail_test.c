/* store_mail_test: emails, threads, contents and their indexes
 * (store_mail.h), the job queue (store_job.h) and the invariant check. Each
 * case uses its own store directory and two teams. */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_hist.h"
#include "store/store_job.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    struct store_team a, b;
    int64_t live;
};

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;

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
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int64_t live;

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

/* One email with its thread and one content item, written in one
 * transaction the way the pipeline does. */
struct put_one {
    const char *team, *email_id, *thread_id, *content_id, *msgid;
    const char *subject_key;
    int64_t ms;
    unsigned char sha[32];
    uint64_t job_id;
};

static SW_MUST_CHECK sw_err put_one_txn(store_txn *t, void *arg)
{
    struct put_one *p = arg;
    struct store_email e;
    struct store_thread th;
    struct store_content c;
    struct store_email_content ec;
    struct sw_buf k;
    char *eids[1];
    sw_err rc;

    memset(&e, 0, sizeof(e));
    memset(&th, 0, sizeof(th));
    memset(&c, 0, sizeof(c));
    sw_buf_init(&k, 1024);
    rc = store_mail_msgid_key(&k, p->msgid);
    if (rc)
        goto out;
    c.content_id = (char *)p->content_id;
    c.team_id = (char *)p->team;
    c.filename = "deck.pdf";
    c.media_type = "application/pdf";
    c.kind = 1;
    c.state = 2;
    c.text = "hello deck";
    memcpy(c.sha256, p->sha, 32);
    c.first_seen_ms = c.last_used_ms = p->ms;
    c.times_used = 1;
    rc = store_content_put(t, &c);
    if (rc)
        goto out;
    rc = store_content_use_add(t, p->team, p->content_id, p->email_id);
    if (rc)
        goto out;
    ec.content_id = (char *)p->content_id;
    ec.filename = "deck.pdf";
    ec.state = 2;
    ec.is_new = 1;
    e.email_id = (char *)p->email_id;
    e.team_id = (char *)p->team;
    e.thread_id = (char *)p->thread_id;
    e.message_id = (char *)p->msgid;
    e.direction = STORE_DIR_OUTBOUND;
    e.from_email = "rep@a.example";
    e.subject = "Deck";
    e.sent_ms = p->ms;
    e.body_text = "see the deck";
    e.new_text = "see the deck";
    e.contents = &ec;
    e.n_contents = 1;
    rc = store_email_put(t, &e, sw_buf_str(&k), sw_buf_len(&k));
    if (rc)
        goto out;
    eids[0] = (char *)p->email_id;
    th.thread_id = (char *)p->thread_id;
    th.team_id = (char *)p->team;
    th.subject = "Deck";
    th.subject_key = (char *)p->subject_key;
    th.email_ids = eids;
    th.n_emails = 1;
    th.first_ms = th.last_ms = p->ms;
    rc = store_thread_put(t, &th);
    if (rc)
        goto out;
    rc = store_job_enqueue(t, p->team, p->email_id, STORE_JOB_EXTRACT_OUTBOUND,
                           &p->job_id);
out:
    sw_buf_free(&k);
    return rc;
}

static void put_one(struct fixture *f, const char *team, int i, int64_t ms,
                    uint64_t *job_id)
{
    char eid[32], tid[32], cid[32], msgid[64];
    struct put_one p;

    snprintf(eid, sizeof(eid), "em_%04d", i);
    snprintf(tid, sizeof(tid), "th_%04d", i);
    snprintf(cid, sizeof(cid), "ct_%04d", i);
    snprintf(msgid, sizeof(msgid), "<m%d@x.example>", i);
    memset(&p, 0, sizeof(p));
    p.team = team;
    p.email_id = eid;
    p.thread_id = tid;
    p.content_id = cid;
    p.msgid = msgid;
    p.subject_key = "deck";
    p.ms = ms;
    p.sha[0] = (unsigned char)i;
    p.sha[1] = (unsigned char)(i >> 8);
    ASSERT_OK(store_update(f->s, put_one_txn, &p));
    if (job_id)
        *job_id = p.job_id;
}

static void assert_clean(struct fixture *f, size_t want_violations)
{
    struct sw_buf report, summary;
    size_t v = 99;

    sw_buf_init(&report, 1 << 20);
    sw_buf_init(&summary, 4096);
    ASSERT_OK(store_mail_check(f->s, &report, &v, &summary));
    if (v != want_violations)
        fail_msg("check: %zu violations, want %zu:\n%s\n%s", v, want_violations,
                 sw_buf_str(&report), sw_buf_str(&summary));
    sw_buf_free(&report);
    sw_buf_free(&summary);
}

static void test_email_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct store_email e;
    struct store_content c;
    struct store_thread th;
    char **ids = NULL;
    size_t n = 0;

    put_one(f, f->a.team_id, 1, 1000, NULL);
    ASSERT_OK(store_email_get(f->s, f->a.team_id, "em_0001", &e));
    assert_string_equal(e.thread_id, "th_0001");
    assert_string_equal(e.message_id, "<m1@x.example>");
    ASSERT_EQ(e.n_contents, 1);
    assert_string_equal(e.contents[0].content_id, "ct_0001");
    ASSERT_EQ(e.seq, 1);
    store_email_clear(&e);
    /* By Message-ID, with or without angle brackets. */
    ASSERT_OK(
        store_email_by_message_id(f->s, f->a.team_id, "m1@x.example", &e));
    assert_string_equal(e.email_id, "em_0001");
    store_email_clear(&e);
    /* Another team sees nothing. */
    ASSERT_ERR(store_email_get(f->s, f->b.team_id, "em_0001", &e),
               SW_ENOTFOUND);
    ASSERT_ERR(
        store_email_by_message_id(f->s, f->b.team_id, "<m1@x.example>", &e),
        SW_ENOTFOUND);
    ASSERT_ERR(store_thread_get(f->s, f->b.team_id, "th_0001", &th),
               SW_ENOTFOUND);
    ASSERT_ERR(store_content_get(f->s, f->b.team_id, "ct_0001", &c),
               SW_ENOTFOUND);
    ASSERT_OK(store_content_get(f->s, f->a.team_id, "ct_0001", &c));
    assert_string_equal(c.text, "hello deck");
    ASSERT_EQ(c.text_len, 10);
    ASSERT_EQ(strlen(c.sha256_hex), 64);
    store_content_clear(&c);
    ASSERT_OK(
        store_content_emails(f->s, f->a.team_id, "ct_0001", 10, &ids, &n));
    ASSERT_EQ(n, 1);
    assert_string_equal(ids[0], "em_0001");
    store_strv_free(ids, n);
    assert_clean(f, 0);
}

struct dup_put {
    const char *team;
};

static SW_MUST_CHECK sw_err dup_put_txn(store_txn *t, void *arg)
{
    struct dup_put *d = arg;
    struct store_email e;

    memset(&e, 0, sizeof(e));
    e.email_id = "em_other";
    e.team_id = (char *)d->team;
    e.thread_id = "th_0001";
    return store_email_put(t, &e, "m:m1@x.example", 14);
}

static void test_dedupe_key_taken(void **state)
{
    struct fixture *f = *state;
    struct dup_put d = {f->a.team_id};
    char *id = NULL;

    put_one(f, f->a.team_id, 1, 1000, NULL);
    ASSERT_ERR(store_update(f->s, dup_put_txn, &d), SW_EEXIST);
    (void)id;
    /* The same key in another team is free. */
    d.team = f->b.team_id;
    ASSERT_OK(store_update(f->s, dup_put_txn, &d));
    /* ...but B's email points to a thread B does not have. */
    assert_clean(f, 1);
}

static void test_thread_list(void **state)
{
    struct fixture *f = *state;
    struct store_thread *items = NULL;
    struct store_content *cs = NULL;
    struct store_thread_filter tf;
    char *next = NULL, *tok = NULL;
    size_t n = 0, total = 0;
    int i, pages = 0, kinds[1];
    int64_t prev = INT64_MAX;

    for (i = 1; i <= 7; i++)
        put_one(f, f->a.team_id, i, 1000 * (i % 4) + i, NULL);
    put_one(f, f->b.team_id, 100, 99999, NULL);
    do {
        ASSERT_OK(store_thread_list(f->s, f->a.team_id, NULL, 3, tok, &items,
                                    &n, &next, NULL));
        pages++;
        for (size_t k = 0; k < n; k++) {
            assert_true(items[k].last_ms <= prev);
            prev = items[k].last_ms;
        }
        total += n;
        store_threads_free(items, n);
        sw_free(tok);
        tok = next;
    } while (tok && pages < 10);
    ASSERT_EQ(total, 7);
    ASSERT_EQ(pages, 3);
    memset(&tf, 0, sizeof(tf));
    tf.last_from_ms = 3000;
    ASSERT_OK(store_thread_list(f->s, f->a.team_id, &tf, 0, NULL, &items, &n,
                                &next, NULL));
    ASSERT_EQ(n, 2); /* i = 3 (3003) and 7 (3007) */
    assert_null(next);
    store_threads_free(items, n);
    /* A range is half-open: [1005, 3003) holds 1005, 2002 and 2006. */
    tf.last_from_ms = 1005;
    tf.last_to_ms = 3003;
    ASSERT_OK(store_thread_list(f->s, f->a.team_id, &tf, 0, NULL, &items, &n,
                                &next, NULL));
    ASSERT_EQ(n, 3);
    for (size_t k = 0; k < n; k++)
        assert_true(items[k].last_ms >= 1005 && items[k].last_ms < 3003);
    store_threads_free(items, n);
    kinds[0] = 1;
    ASSERT_OK(store_content_list(f->s, f->a.team_id, kinds, 1, 0, NULL, &cs, &n,
                                 &next, NULL));
    ASSERT_EQ(n, 7);
    assert_string_equal(cs[0].text, ""); /* lists leave the text out */
    ASSERT_EQ(cs[0].text_len, 10);
    store_contents_free(cs, n);
    kinds[0] = 3;
    ASSERT_OK(store_content_list(f->s, f->a.team_id, kinds, 1, 0, NULL, &cs, &n,
                                 &next, NULL));
    ASSERT_EQ(n, 0);
    store_contents_free(cs, n);
    ASSERT_ERR(store_thread_list(f->s, f->a.team_id, NULL, 3, "zz", &items, &n,
                                 &next, NULL),
               SW_EINVAL);
    assert_clean(f, 0);
}

static void test_jobs(void **state)
{
    struct fixture *f = *state;
    struct store_job j;
    uint64_t j1, j2, j3, pending = 0;
    struct sw_buf why;

    sw_buf_init(&why, 1024);
    memset(&j, 0, sizeof(j));
    ASSERT_ERR(store_job_next(f->s, 0, &j), SW_ENOTFOUND);
    put_one(f, f->a.team_id, 1, 1000, &j1);
    put_one(f, f->b.team_id, 2, 1000, &j2);
    put_one(f, f->a.team_id, 3, 1000, &j3);
    assert_true(j1 < j2 && j2 < j3);
    ASSERT_OK(store_job_count(f->s, &pending));
    ASSERT_EQ(pending, 3);
    ASSERT_OK(store_job_next(f->s, 5000, &j));
    ASSERT_EQ(j.job_id, j1);
    assert_string_equal(j.team_id, f->a.team_id);
    assert_string_equal(j.email_id, "em_0001");
    ASSERT_EQ(j.kind, STORE_JOB_EXTRACT_OUTBOUND);
    store_job_clear(&j);
    /* Deferred: the next due job comes first. */
    ASSERT_OK(store_job_defer(f->s, j1, 10000, "provider down"));
    ASSERT_OK(store_job_next(f->s, 5000, &j));
    ASSERT_EQ(j.job_id, j2);
    store_job_clear(&j);
    ASSERT_OK(store_job_next(f->s, 10000, &j));
    ASSERT_EQ(j.job_id, j1);
    ASSERT_EQ(j.attempts, 1);
    assert_string_equal(j.last_error, "provider down");
    store_job_clear(&j);
    /* Deleting team B drops its job; the check does not call it an
     * orphan. */
    ASSERT_OK(store_team_delete(f->s, f->b.team_id, &why));
    assert_clean(f, 0);
    ASSERT_OK(store_job_next(f->s, 5000, &j));
    ASSERT_EQ(j.job_id, j3);
    store_job_clear(&j);
    ASSERT_OK(store_job_count(f->s, &pending));
    ASSERT_EQ(pending, 2);
    sw_buf_free(&why);
    assert_clean(f, 0);
}

struct finish_arg {
    uint64_t id;
};

static SW_MUST_CHECK sw_err finish_txn(store_txn *t, void *arg)
{
    return store_job_finish(t, ((struct finish_arg *)arg)->id);
}

static SW_MUST_CHECK sw_err purge_txn(store_txn *t, void *arg)
{
    size_t n = 0;
    sw_err rc = store_job_purge_team(t, arg, &n);
    return rc == SW_OK && n != 1 ? SW_EINTERNAL : rc;
}

static void test_job_finish(void **state)
{
    struct fixture *f = *state;
    struct finish_arg fa;
    struct store_job j;
    uint64_t j1, j2, pending = 9;

    memset(&j, 0, sizeof(j));
    put_one(f, f->a.team_id, 1, 1000, &j1);
    put_one(f, f->a.team_id, 2, 1000, &j2);
    fa.id = j1;
    ASSERT_OK(store_update(f->s, finish_txn, &fa));
    ASSERT_ERR(store_update(f->s, finish_txn, &fa), SW_ENOTFOUND);
    ASSERT_OK(store_job_next(f->s, 5000, &j));
    ASSERT_EQ(j.job_id, j2);
    store_job_clear(&j);
    ASSERT_OK(store_update(f->s, purge_txn, (void *)f->a.team_id));
    ASSERT_OK(store_job_count(f->s, &pending));
    ASSERT_EQ(pending, 0);
    ASSERT_ERR(store_job_next(f->s, 5000, &j), SW_ENOTFOUND);
    assert_clean(f, 0);
}

/* A skip predicate that rejects one team (or none) and counts its calls
 * per team. */
struct skip_arg {
    const char *reject;
    const char *a, *b;
    int calls_a, calls_b;
};

static int skip_team(const char *team_id, void *arg)
{
    struct skip_arg *x = arg;

    x->calls_a += strcmp(team_id, x->a) == 0;
    x->calls_b += strcmp(team_id, x->b) == 0;
    return x->reject && strcmp(team_id, x->reject) == 0;
}

static uint64_t next_team_id(struct fixture *f, int64_t now, const char *after,
                             struct skip_arg *sk)
{
    struct store_job j;
    uint64_t id;

    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next_team(f->s, now, after, skip_team, sk, &j));
    id = j.job_id;
    store_job_clear(&j);
    return id;
}

static uint64_t next_of_team_id(struct fixture *f, int64_t now,
                                const char *team, uint64_t after)
{
    struct store_job j;
    uint64_t id;

    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next_of_team(f->s, now, team, after, &j));
    assert_string_equal(j.team_id, team);
    id = j.job_id;
    store_job_clear(&j);
    return id;
}

/* store_job_next_of_team (the worker's group): the team's due jobs after a
 * given one, in enqueue order, never another team's, deferred ones passed
 * over. */
static void test_job_next_of_team(void **state)
{
    struct fixture *f = *state;
    uint64_t a1, a2, a3, b1;
    struct store_job j;

    memset(&j, 0, sizeof(j));
    ASSERT_ERR(store_job_next_of_team(f->s, 5000, f->a.team_id, 0, &j),
               SW_ENOTFOUND);
    ASSERT_ERR(store_job_next_of_team(f->s, 5000, "", 0, &j), SW_EINVAL);
    ASSERT_ERR(store_job_next_of_team(NULL, 5000, f->a.team_id, 0, &j),
               SW_EINVAL);
    put_one(f, f->a.team_id, 1, 1000, &a1);
    put_one(f, f->b.team_id, 2, 1000, &b1);
    put_one(f, f->a.team_id, 3, 1000, &a2);
    put_one(f, f->a.team_id, 4, 1000, &a3);
    ASSERT_EQ(next_of_team_id(f, 5000, f->a.team_id, 0), a1);
    ASSERT_EQ(next_of_team_id(f, 5000, f->a.team_id, a1), a2);
    ASSERT_EQ(next_of_team_id(f, 5000, f->a.team_id, a2), a3);
    ASSERT_ERR(store_job_next_of_team(f->s, 5000, f->a.team_id, a3, &j),
               SW_ENOTFOUND);
    ASSERT_EQ(j.job_id, 0);
    ASSERT_EQ(next_of_team_id(f, 5000, f->b.team_id, 0), b1);
    ASSERT_ERR(store_job_next_of_team(f->s, 5000, f->b.team_id, b1, &j),
               SW_ENOTFOUND);
    /* A deferred job is passed over until it is due. */
    ASSERT_OK(store_job_defer(f->s, a2, 10000, "provider down"));
    ASSERT_EQ(next_of_team_id(f, 5000, f->a.team_id, a1), a3);
    ASSERT_EQ(next_of_team_id(f, 10000, f->a.team_id, a1), a2);
    assert_clean(f, 0);
}

/* store_job_next_team: round-robin over teams in team-id order after the
 * last pick, each team's oldest due job, teams the predicate rejects
 * passed over (the predicate asked once per team), deferred jobs not due,
 * deleted teams never returned. */
static void test_job_next_team(void **state)
{
    struct fixture *f = *state;
    const char *lo, *hi;
    uint64_t lo1, lo2, hi1, hi2, id;
    struct skip_arg sk;
    struct store_job j;
    struct sw_buf why;
    size_t n = 9;
    int lo_is_a = strcmp(f->a.team_id, f->b.team_id) < 0;

    sw_buf_init(&why, 1024);
    memset(&j, 0, sizeof(j));
    memset(&sk, 0, sizeof(sk));
    sk.a = f->a.team_id;
    sk.b = f->b.team_id;
    lo = lo_is_a ? f->a.team_id : f->b.team_id;
    hi = lo_is_a ? f->b.team_id : f->a.team_id;
    ASSERT_ERR(store_job_next_team(f->s, 5000, NULL, NULL, NULL, &j),
               SW_ENOTFOUND);
    ASSERT_ERR(store_job_next_team(NULL, 5000, NULL, NULL, NULL, &j),
               SW_EINVAL);
    ASSERT_ERR(store_job_next_team(f->s, 5000, NULL, NULL, NULL, NULL),
               SW_EINVAL);
    /* hi's jobs are older than lo's: order within a team only. */
    put_one(f, hi, 1, 1000, &hi1);
    put_one(f, hi, 2, 1000, &hi2);
    put_one(f, lo, 3, 1000, &lo1);
    put_one(f, lo, 4, 1000, &lo2);
    /* From the first team; after a team, the next one; after the last
     * team, around to the first; after a team without jobs (or unknown),
     * the next team that has some. */
    ASSERT_EQ(next_team_id(f, 5000, NULL, &sk), lo1);
    ASSERT_EQ(next_team_id(f, 5000, "", &sk), lo1);
    ASSERT_EQ(next_team_id(f, 5000, lo, &sk), hi1);
    ASSERT_EQ(next_team_id(f, 5000, hi, &sk), lo1);
    ASSERT_EQ(next_team_id(f, 5000, "team_", &sk), lo1);
    ASSERT_EQ(next_team_id(f, 5000, "zzz", &sk), lo1);
    ASSERT_OK(store_job_next_team(f->s, 5000, lo, NULL, NULL, &j));
    ASSERT_EQ(j.job_id, hi1);
    assert_string_equal(j.team_id, hi);
    assert_string_equal(j.email_id, "em_0001");
    ASSERT_EQ(j.kind, STORE_JOB_EXTRACT_OUTBOUND);
    store_job_clear(&j);
    /* A rejected team is passed over wherever the walk starts, and asked
     * about once per call. */
    sk.reject = lo;
    sk.calls_a = sk.calls_b = 0;
    ASSERT_EQ(next_team_id(f, 5000, hi, &sk), hi1);
    ASSERT_EQ(lo_is_a ? sk.calls_a : sk.calls_b, 1);
    ASSERT_EQ(lo_is_a ? sk.calls_b : sk.calls_a, 1);
    ASSERT_EQ(next_team_id(f, 5000, NULL, &sk), hi1);
    sk.reject = hi;
    ASSERT_EQ(next_team_id(f, 5000, lo, &sk), lo1);
    sk.reject = NULL;
    /* Deferred: the team's next due job; not due at all: the other team,
     * and nothing when that one is rejected. */
    ASSERT_OK(store_job_defer(f->s, hi1, 10000, "provider down"));
    ASSERT_EQ(next_team_id(f, 5000, lo, &sk), hi2);
    ASSERT_OK(store_job_defer(f->s, hi2, 10000, "provider down"));
    ASSERT_EQ(next_team_id(f, 5000, lo, &sk), lo1);
    sk.reject = lo;
    ASSERT_ERR(store_job_next_team(f->s, 5000, lo, skip_team, &sk, &j),
               SW_ENOTFOUND);
    ASSERT_EQ(j.job_id, 0);
    ASSERT_EQ(next_team_id(f, 10000, lo, &sk), hi1);
    sk.reject = NULL;
    /* Finished jobs are gone. */
    {
        struct finish_arg fa = {lo1};
        ASSERT_OK(store_update(f->s, finish_txn, &fa));
    }
    ASSERT_EQ(next_team_id(f, 5000, hi, &sk), lo2);
    /* A deleted team's jobs are never returned; its queue entries wait for
     * store_job_drop_stale. */
    ASSERT_OK(store_team_delete(f->s, lo, &why));
    ASSERT_ERR(store_job_next_team(f->s, 5000, hi, NULL, NULL, &j),
               SW_ENOTFOUND);
    ASSERT_EQ(next_team_id(f, 10000, NULL, &sk), hi1);
    ASSERT_OK(store_job_count(f->s, &id));
    ASSERT_EQ(id, 3);
    ASSERT_OK(store_job_drop_stale(f->s, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(store_job_count(f->s, &id));
    ASSERT_EQ(id, 2);
    ASSERT_OK(store_job_drop_stale(f->s, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(store_job_team_pending(f->s, hi, &id));
    ASSERT_EQ(id, 2);
    sw_buf_free(&why);
    assert_clean(f, 0);
}

/* The check notices a thread that went missing. */
static SW_MUST_CHECK sw_err drop_thread_txn(store_txn *t, void *arg)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, 1024);
    rc = store_key(&k, arg, "th_0001", 7);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_THREADS, sw_buf_str(&k), sw_buf_len(&k));
    sw_buf_free(&k);
    return rc;
}

/* --- The feed of new emails (store_hist_email_feed) --------------------- */

struct feed_seen {
    char ids[8][32];
    uint64_t seqs[8];
    size_t n;
};

static sw_err feed_cb(const struct store_email *e, void *arg)
{
    struct feed_seen *s = arg;

    assert_true(s->n < 8);
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", e->email_id);
    s->seqs[s->n++] = e->seq;
    return SW_OK;
}

struct feed_read {
    const char *team;
    uint64_t after;
    struct feed_seen seen;
    uint64_t merges;
};

static sw_err feed_read_txn(store_txn *t, void *arg)
{
    struct feed_read *r = arg;
    sw_err rc;

    memset(&r->seen, 0, sizeof(r->seen));
    rc = store_hist_email_feed(t, r->team, r->after, feed_cb, &r->seen);
    return rc ? rc : store_seq_peek(t, r->team, STORE_MERGE_SEQ, &r->merges);
}

static void feed_read(struct fixture *f, const char *team, uint64_t after,
                      struct feed_read *r)
{
    memset(r, 0, sizeof(*r));
    r->team = team;
    r->after = after;
    ASSERT_OK(store_view(f->s, feed_read_txn, r));
}

static sw_err merge_txn(store_txn *t, void *arg)
{
    struct store_thread into;
    sw_err rc;

    (void)arg;
    memset(&into, 0, sizeof(into));
    rc = store_thread_get_txn(t, "A", "th_0002", &into);
    if (rc == SW_OK)
        rc = store_thread_merge(t, &into, "th_0001");
    if (rc == SW_OK)
        rc = store_thread_put(t, &into);
    store_thread_clear(&into);
    return rc;
}

static sw_err dangling_seq_txn(store_txn *t, void *arg)
{
    struct sw_buf k;
    sw_err rc;

    (void)arg;
    sw_buf_init(&k, 256);
    rc = store_key(&k, "A", NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&k, 999);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_EMAIL_SEQ, sw_buf_str(&k), sw_buf_len(&k),
                       "em_gone", 7, 0);
    sw_buf_free(&k);
    return rc;
}

static void test_email_feed(void **state)
{
    struct fixture *f = *state;
    struct feed_read r;

    put_one(f, "A", 1, 1000, NULL);
    put_one(f, "B", 9, 1500, NULL);
    put_one(f, "A", 2, 2000, NULL);
    put_one(f, "A", 3, 3000, NULL);
    /* In sequence order, the team's own only, after the given number. */
    feed_read(f, "A", 0, &r);
    assert_int_equal(r.seen.n, 3);
    assert_string_equal(r.seen.ids[0], "em_0001");
    assert_string_equal(r.seen.ids[1], "em_0002");
    assert_string_equal(r.seen.ids[2], "em_0003");
    assert_true(r.seen.seqs[0] < r.seen.seqs[1] &&
                r.seen.seqs[1] < r.seen.seqs[2]);
    feed_read(f, "A", r.seen.seqs[0], &r);
    assert_int_equal(r.seen.n, 2);
    assert_string_equal(r.seen.ids[0], "em_0002");
    feed_read(f, "B", 0, &r);
    assert_int_equal(r.seen.n, 1);
    assert_string_equal(r.seen.ids[0], "em_0009");
    /* A merge advances the merge sequence; the feed still lists each
     * email once. */
    assert_int_equal(r.merges, 0);
    ASSERT_OK(store_update(f->s, merge_txn, NULL));
    feed_read(f, "A", 0, &r);
    assert_int_equal(r.merges, 1);
    assert_int_equal(r.seen.n, 3);
    assert_clean(f, 0);
    /* The check finds an entry whose email has gone. */
    ASSERT_OK(store_update(f->s, dangling_seq_txn, NULL));
    assert_clean(f, 1);
}

static void test_check_finds_damage(void **state)
{
    struct fixture *f = *state;

    put_one(f, f->a.team_id, 1, 1000, NULL);
    put_one(f, f->a.team_id, 2, 1000, NULL);
    assert_clean(f, 0);
    ASSERT_OK(store_update(f->s, drop_thread_txn, (void *)f->a.team_id));
    /* The email, and the recency and subject indexes, name it. */
    assert_clean(f, 3);
}

/* An outcome and a snippet that name a thread and an email that do not
 * exist: what an erasure must never leave behind. */
struct dangling {
    const char *team;
    int with_refs;
};

static SW_MUST_CHECK sw_err dangling_txn(store_txn *t, void *arg)
{
    struct dangling *d = arg;
    const char *th = d->with_refs ? "th_0404" : "th_0001";
    const char *em = d->with_refs ? "em_0404" : "em_0001";
    struct store_outcome o;
    struct store_snippet sn;
    char *oid = NULL;
    int dup = 0;
    sw_err rc;

    memset(&o, 0, sizeof(o));
    o.thread_id = (char *)th;
    o.kind = 4;
    o.source = STORE_OUTCOME_DERIVED;
    o.email_id = (char *)em;
    o.idem_key = d->with_refs ? "reply:em_0404" : "reply:em_0001";
    rc = store_outcome_put(t, d->team, &o, &dup, &oid);
    sw_free(oid);
    memset(&sn, 0, sizeof(sn));
    sn.team_id = (char *)d->team;
    sn.kind = STORE_SNIPPET_FRAMING;
    sn.text = "see the deck";
    sn.email_id = (char *)em;
    sn.thread_id = (char *)th;
    if (rc == SW_OK)
        rc = store_snippet_put(t, &sn);
    sw_free(sn.snippet_id);
    return rc;
}

static void test_check_finds_dangling_refs(void **state)
{
    struct fixture *f = *state;
    struct dangling d = {f->a.team_id, 0};

    put_one(f, f->a.team_id, 1, 1000, NULL);
    ASSERT_OK(store_update(f->s, dangling_txn, &d));
    assert_clean(f, 0);
    d.with_refs = 1;
    ASSERT_OK(store_update(f->s, dangling_txn, &d));
    /* The outcome's thread and email, the snippet's email and thread. */
    assert_clean(f, 4);
}

/* store_strv_union: a set kept in insertion order; NULL, empty and
 * repeated strings skipped (also repeats within add); stops at max. */
static void test_strv_union(void **state)
{
    char *add[] = {"b@x", "a@x", NULL, "", "c@x", "b@x", "d@x", "e@x"};
    char **v = NULL;
    size_t n = 0;

    (void)state;
    ASSERT_OK(store_strv_add(&v, &n, "a@x"));
    ASSERT_OK(store_strv_union(&v, &n, add, 8, 0));
    assert_int_equal(n, 5);
    assert_string_equal(v[0], "a@x");
    assert_string_equal(v[1], "b@x");
    assert_string_equal(v[2], "c@x");
    assert_string_equal(v[3], "d@x");
    assert_string_equal(v[4], "e@x");
    assert_true(v[1] != add[0]); /* copies */
    store_strv_free(v, n);
    v = NULL;
    n = 0;
    ASSERT_OK(store_strv_union(&v, &n, add, 8, 3));
    assert_int_equal(n, 3);
    assert_string_equal(v[2], "c@x");
    ASSERT_OK(store_strv_union(&v, &n, add + 6, 2, 3)); /* full: unchanged */
    assert_int_equal(n, 3);
    store_strv_free(v, n);
}

static void test_msgid_key(void **state)
{
    struct sw_buf b;
    char big[600];

    (void)state;
    sw_buf_init(&b, 1024);
    ASSERT_OK(store_mail_msgid_key(&b, "<a@b>"));
    assert_string_equal(sw_buf_str(&b), "m:a@b");
    ASSERT_OK(store_mail_msgid_key(&b, "a@b"));
    assert_string_equal(sw_buf_str(&b), "m:a@b");
    ASSERT_ERR(store_mail_msgid_key(&b, "<>"), SW_EINVAL);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_OK(store_mail_msgid_key(&b, big));
    ASSERT_EQ(sw_buf_len(&b), 2 + 64);
    assert_true(strncmp(sw_buf_str(&b), "M:", 2) == 0);
    sw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_email_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedupe_key_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_next_team, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_next_of_team, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_finds_damage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check_finds_dangling_refs, setup,
                                        teardown),
        cmocka_unit_test(test_msgid_key),
        cmocka_unit_test(test_strv_union),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
