/* pipeline_test: the ingest pipeline end to end over a real store: dedupe
 * (Message-ID and hash), direction inference, thread linking (headers and
 * subject fallback with its window), content dedupe by bytes and by text,
 * extraction jobs, bad input, concurrent callers sharing commits, and the
 * store check staying clean. */
#include "tests/testutil.h"

#include <pthread.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/pipeline.h"
#include "store/store.h"
#include "store/store_job.h"
#include "store/store_library.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

#define DAY_MS (24LL * 3600 * 1000)

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    ingest_pipeline *p;
    struct store_team team;
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
        store_team_create(f->s, "Acme", &f->team, NULL, NULL) != SW_OK ||
        store_member_add(f->s, f->team.team_id, "rep@acme.example", "Rep", NULL,
                         NULL) != SW_OK ||
        store_domain_add(f->s, f->team.team_id, "acme.example", NULL, NULL) !=
            SW_OK ||
        ingest_pipeline_open(f->s, NULL, &f->p) != SW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int64_t live;

    ingest_pipeline_close(&f->p);
    store_team_clear(&f->team);
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

static void assert_clean(struct fixture *f)
{
    struct sw_buf report;
    size_t v = 99;

    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_mail_check(f->s, &report, &v, NULL));
    if (v != 0)
        fail_msg("store check: %zu violations:\n%s", v, sw_buf_str(&report));
    sw_buf_free(&report);
}

/* mail builds a small RFC 5322 message; NULL headers are left out. */
static char *mail(const char *msgid, const char *irt, const char *refs,
                  const char *from, const char *to, const char *subject,
                  const char *date, const char *body)
{
    struct sw_buf b;
    char *out = NULL;

    sw_buf_init(&b, 1 << 20);
    if (msgid)
        ASSERT_OK(sw_buf_printf(&b, "Message-ID: <%s>\r\n", msgid));
    if (irt)
        ASSERT_OK(sw_buf_printf(&b, "In-Reply-To: <%s>\r\n", irt));
    if (refs)
        ASSERT_OK(sw_buf_printf(&b, "References: %s\r\n", refs));
    ASSERT_OK(sw_buf_printf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", from,
                            to, subject));
    if (date)
        ASSERT_OK(sw_buf_printf(&b, "Date: %s\r\n", date));
    ASSERT_OK(sw_buf_printf(&b,
                            "MIME-Version: 1.0\r\nContent-Type: text/plain; "
                            "charset=utf-8\r\n\r\n%s\r\n",
                            body));
    ASSERT_OK(sw_buf_take(&b, &out, NULL));
    return out;
}

static sw_err ingest_raw(struct fixture *f, const char *raw, int direction,
                         struct ingest_result *res)
{
    struct ingest_request r;
    struct sw_buf why;
    sw_err rc;

    memset(&r, 0, sizeof(r));
    r.raw = raw;
    r.raw_len = strlen(raw);
    r.direction = direction;
    sw_buf_init(&why, 4096);
    rc = ingest_email(f->p, f->team.team_id, &r, res, NULL, &why);
    if (rc == SW_EINVAL || rc == SW_EPARSE || rc == SW_ETOOBIG)
        assert_true(sw_buf_len(&why) > 0); /* every rejection explains */
    sw_buf_free(&why);
    return rc;
}

/* ingest_ok ingests raw, which must succeed with status want; the email
 * id and thread id are copied into eid/tid (64 bytes each) if given. */
static void ingest_ok(struct fixture *f, char *raw, int want, int *direction,
                      char *eid, char *tid)
{
    struct ingest_result res;

    ASSERT_OK(ingest_raw(f, raw, 0, &res));
    ASSERT_EQ(res.status, want);
    if (direction)
        *direction = res.direction;
    if (eid)
        snprintf(eid, 64, "%s", res.email_id);
    if (tid)
        snprintf(tid, 64, "%s", res.thread_id);
    ingest_result_clear(&res);
    sw_free(raw);
}

static uint64_t jobs(struct fixture *f)
{
    uint64_t n = 0;
    ASSERT_OK(store_job_count(f->s, &n));
    return n;
}

static void test_new_then_duplicate(void **state)
{
    struct fixture *f = *state;
    char e1[64], t1[64], e2[64], t2[64];
    struct store_email e;
    struct store_job j;
    int dir = 0;

    ingest_ok(f,
              mail("m1@x.example", NULL, NULL, "Pat <pat@prospect.example>",
                   "rep@acme.example", "Hello",
                   "Tue, 3 Mar 2026 10:00:00 +0000", "Hi there"),
              INGEST_NEW, &dir, e1, t1);
    ASSERT_EQ(dir, INGEST_DIR_INBOUND);
    ASSERT_EQ(jobs(f), 1);
    ingest_ok(f,
              mail("m1@x.example", NULL, NULL, "Pat <pat@prospect.example>",
                   "rep@acme.example", "Hello",
                   "Tue, 3 Mar 2026 10:00:00 +0000", "Hi there"),
              INGEST_DUPLICATE, NULL, e2, t2);
    assert_string_equal(e1, e2);
    assert_string_equal(t1, t2);
    ASSERT_EQ(jobs(f), 1); /* no second job */
    ASSERT_OK(store_email_get(f->s, f->team.team_id, e1, &e));
    assert_string_equal(e.message_id, "m1@x.example");
    assert_string_equal(e.from_email, "pat@prospect.example");
    assert_string_equal(e.rep_email, "rep@acme.example");
    ASSERT_EQ(e.direction, STORE_DIR_INBOUND);
    ASSERT_EQ(e.sent_ms, 1772532000000LL);
    store_email_clear(&e);
    /* The rep of an inbound mail may be in Cc only. */
    ingest_ok(f,
              mail("m2@x.example", NULL, NULL, "Pat <pat@prospect.example>",
                   "boss@prospect.example\r\nCc: Rep <rep@acme.example>",
                   "Hello again", "Tue, 3 Mar 2026 11:00:00 +0000", "Hi"),
              INGEST_NEW, &dir, e2, NULL);
    ASSERT_EQ(dir, INGEST_DIR_INBOUND);
    ASSERT_OK(store_email_get(f->s, f->team.team_id, e2, &e));
    assert_string_equal(e.rep_email, "rep@acme.example");
    store_email_clear(&e);
    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next(f->s, INT64_MAX, &j));
    ASSERT_EQ(j.kind, STORE_JOB_CLASSIFY_INBOUND);
    assert_string_equal(j.email_id, e1);
    store_job_clear(&j);
    assert_clean(f);
}

static void test_direction(void **state)
{
    struct fixture *f = *state;
    struct ingest_result res;
    char *raw;
    int dir = 0;

    /* A member, a colleague on the team's domain, a stranger. */
    ingest_ok(f,
              mail("d1@x", NULL, NULL, "REP@Acme.example", "a@b.example", "s1",
                   NULL, "b1"),
              INGEST_NEW, &dir, NULL, NULL);
    ASSERT_EQ(dir, INGEST_DIR_OUTBOUND);
    ingest_ok(f,
              mail("d2@x", NULL, NULL, "kim@acme.example", "a@b.example", "s2",
                   NULL, "b2"),
              INGEST_NEW, &dir, NULL, NULL);
    ASSERT_EQ(dir, INGEST_DIR_OUTBOUND);
    ingest_ok(f,
              mail("d3@x", NULL, NULL, "a@b.example", "kim@acme.example", "s3",
                   NULL, "b3"),
              INGEST_NEW, &dir, NULL, NULL);
    ASSERT_EQ(dir, INGEST_DIR_INBOUND);
    /* Outbound without attachments or links queues no job. */
    ASSERT_EQ(jobs(f), 1);
    /* Explicit direction wins. */
    raw = mail("d4@x", NULL, NULL, "a@b.example", "kim@acme.example", "s4",
               NULL, "see https://acme.example/deck");
    ASSERT_OK(ingest_raw(f, raw, INGEST_DIR_OUTBOUND, &res));
    ASSERT_EQ(res.direction, INGEST_DIR_OUTBOUND);
    ingest_result_clear(&res);
    sw_free(raw);
    ASSERT_EQ(jobs(f), 2); /* outbound with a link */
    assert_clean(f);
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    char ta[64], tb[64], tc[64], td[64], te[64], tf[64], tg[64];
    struct store_thread th;

    ingest_ok(f,
              mail("a1@x", NULL, NULL, "rep@acme.example", "pat@p.example",
                   "Pricing for Q3", "Mon, 2 Mar 2026 09:00:00 +0000",
                   "Hi Pat"),
              INGEST_NEW, NULL, NULL, ta);
    /* In-Reply-To. */
    ingest_ok(f,
              mail("b1@x", "a1@x", NULL, "pat@p.example", "rep@acme.example",
                   "Re: Pricing for Q3", "Mon, 2 Mar 2026 12:00:00 +0000",
                   "Thanks"),
              INGEST_NEW, NULL, NULL, tb);
    assert_string_equal(ta, tb);
    /* References, newest first, with an unknown id in between. */
    ingest_ok(f,
              mail("c1@x", NULL, "<a1@x> <unknown@x>", "rep@acme.example",
                   "pat@p.example", "Re: Pricing for Q3",
                   "Tue, 3 Mar 2026 12:00:00 +0000", "More"),
              INGEST_NEW, NULL, NULL, tc);
    assert_string_equal(ta, tc);
    /* No headers: the subject fallback, with another prefix and case. */
    ingest_ok(f,
              mail("d1@x", NULL, NULL, "pat@p.example", "rep@acme.example",
                   "AW: RE:  pricing FOR q3", "Wed, 4 Mar 2026 12:00:00 +0000",
                   "Sounds good"),
              INGEST_NEW, NULL, NULL, td);
    assert_string_equal(ta, td);
    /* Same subject, nobody in common: a new thread. */
    ingest_ok(f,
              mail("e1@x", NULL, NULL, "sam@other.example", "lee@other.example",
                   "Re: Pricing for Q3", "Wed, 4 Mar 2026 13:00:00 +0000",
                   "Unrelated"),
              INGEST_NEW, NULL, NULL, te);
    assert_string_not_equal(ta, te);
    /* Same subject and people, but 60 days later: a new thread. */
    ingest_ok(f,
              mail("f1@x", NULL, NULL, "pat@p.example", "rep@acme.example",
                   "Re: Pricing for Q3", "Sun, 3 May 2026 12:00:00 +0000",
                   "Back again"),
              INGEST_NEW, NULL, NULL, tf);
    assert_string_not_equal(ta, tf);
    /* A reply to the late one joins it by header. */
    ingest_ok(f,
              mail("g1@x", "f1@x", NULL, "rep@acme.example", "pat@p.example",
                   "Re: Pricing for Q3", "Sun, 3 May 2026 13:00:00 +0000",
                   "Ok"),
              INGEST_NEW, NULL, NULL, tg);
    assert_string_equal(tf, tg);
    ASSERT_OK(store_thread_get(f->s, f->team.team_id, ta, &th));
    ASSERT_EQ(th.n_emails, 4);
    assert_string_equal(th.subject, "Pricing for Q3");
    ASSERT_EQ(th.n_participants, 2);
    ASSERT_EQ(th.n_rep_emails, 1);
    assert_string_equal(th.rep_emails[0], "rep@acme.example");
    ASSERT_EQ(th.last_ms - th.first_ms, 2 * DAY_MS + 3 * 3600 * 1000);
    store_thread_clear(&th);
    assert_clean(f);
}

/* References alone link a mail: a forward of the thread with another
 * subject, between people the thread never had, joins it by its
 * References header; a mail that references two known threads merges
 * them into the one with the smaller id, whatever the order of its
 * references and with or without an unknown id among them. */
static void test_thread_references(void **state)
{
    struct fixture *f = *state;
    char ta[64], tb[64], tc[64], td[64], te[64];

    ingest_ok(f,
              mail("ra@x", NULL, NULL, "rep@acme.example", "pat@p.example",
                   "Pricing for Q3", "Mon, 2 Mar 2026 09:00:00 +0000",
                   "Hi Pat"),
              INGEST_NEW, NULL, NULL, ta);
    ingest_ok(f,
              mail("rb@x", NULL, NULL, "rep@acme.example", "kim@k.example",
                   "Security review", "Mon, 2 Mar 2026 10:00:00 +0000",
                   "Hi Kim"),
              INGEST_NEW, NULL, NULL, tb);
    assert_string_not_equal(ta, tb);
    ingest_ok(f,
              mail("rc@x", NULL, "<ra@x>", "ops@third.example",
                   "desk@fourth.example", "Notes from the call",
                   "Tue, 3 Mar 2026 09:00:00 +0000", "Forwarding the notes"),
              INGEST_NEW, NULL, NULL, tc);
    assert_string_equal(ta, tc);
    ingest_ok(f,
              mail("rd@x", NULL, "<ra@x> <rb@x> <unknown@x>",
                   "ops@third.example", "desk@fourth.example", "Both of them",
                   "Tue, 3 Mar 2026 10:00:00 +0000", "Two threads"),
              INGEST_NEW, NULL, NULL, td);
    assert_string_equal(td, strcmp(ta, tb) < 0 ? ta : tb);
    ingest_ok(f,
              mail("re@x", NULL, "<rb@x> <ra@x>", "ops@third.example",
                   "desk@fourth.example", "Both of them again",
                   "Tue, 3 Mar 2026 11:00:00 +0000", "Other order"),
              INGEST_NEW, NULL, NULL, te);
    assert_string_equal(td, te);
    assert_clean(f);
}

/* The mail set of test_thread_any_order: replies before their parents, a
 * reply that names only its parent, a subject-only reply, and a mail whose
 * References link two conversations. All but the last are one thread. */
#define ORDER_N 7
static const char *const order_set[ORDER_N][7] = {
    {"p@x", NULL, NULL, "rep@acme.example", "pat@p.example", "Pilot plan",
     "Mon, 2 Mar 2026 09:00:00 +0000"},
    {"c1@x", "p@x", "<p@x>", "pat@p.example", "rep@acme.example",
     "Re: Pilot plan", "Tue, 3 Mar 2026 09:00:00 +0000"},
    {"c2@x", "c1@x", "<c1@x>", "rep@acme.example", "pat@p.example",
     "Re: Pilot plan", "Wed, 4 Mar 2026 09:00:00 +0000"},
    {"s@x", NULL, NULL, "pat@p.example", "rep@acme.example", "RE: pilot plan",
     "Thu, 5 Mar 2026 09:00:00 +0000"},
    {"q@x", "zz@x", "<zz@x>", "kim@k.example", "rep@acme.example",
     "Security review", "Tue, 3 Mar 2026 10:00:00 +0000"},
    {"r@x", NULL, "<q@x> <p@x>", "ops@third.example", "desk@fourth.example",
     "Both", "Fri, 6 Mar 2026 09:00:00 +0000"},
    {"u@x", NULL, NULL, "lee@l.example", "rep@acme.example", "Other things",
     "Fri, 6 Mar 2026 10:00:00 +0000"},
};

/* ingest_in_order ingests order_set in the order given into a new team and
 * writes, for each mail i, the smallest j whose mail shares its thread. */
static void ingest_in_order(struct fixture *f, const int *order,
                            size_t part[ORDER_N])
{
    char tids[ORDER_N][64];
    struct store_team team;
    struct store_email e;
    char *saved = f->team.team_id;
    size_t i, j;

    ASSERT_OK(store_team_create(f->s, "Order", &team, NULL, NULL));
    ASSERT_OK(store_domain_add(f->s, team.team_id, "acme.example", NULL, NULL));
    f->team.team_id = team.team_id;
    for (i = 0; i < ORDER_N; i++) {
        const char *const *m = order_set[order[i]];
        ingest_ok(f, mail(m[0], m[1], m[2], m[3], m[4], m[5], m[6], "Hello"),
                  INGEST_NEW, NULL, NULL, NULL);
    }
    for (i = 0; i < ORDER_N; i++) {
        ASSERT_OK(
            store_email_by_message_id(f->s, team.team_id, order_set[i][0], &e));
        snprintf(tids[i], sizeof(tids[i]), "%s", e.thread_id);
        store_email_clear(&e);
        for (j = 0; strcmp(tids[j], tids[i]) != 0; j++)
            ;
        part[i] = j;
    }
    f->team.team_id = saved;
    store_team_clear(&team);
}

/* Children before their parent, in three orders: the same threads. */
static void test_thread_any_order(void **state)
{
    static const int orders[3][ORDER_N] = {
        {0, 1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1, 0}, {2, 5, 3, 6, 4, 1, 0}};
    static const size_t want[ORDER_N] = {0, 0, 0, 0, 0, 0, 6};
    struct fixture *f = *state;
    size_t part[ORDER_N], k;

    for (k = 0; k < 3; k++) {
        ingest_in_order(f, orders[k], part);
        assert_memory_equal(part, want, sizeof(want));
    }
    assert_clean(f);
}

struct merge_marks {
    const char *team_id, *thread_id, *email_id, *key;
    char snippet_id[32];
};

/* merge_mark_txn gives a thread an outcome and its email a framing. */
static sw_err merge_mark_txn(store_txn *t, void *arg)
{
    struct merge_marks *x = arg;
    struct store_outcome o;
    struct store_snippet sn;
    char *oid = NULL;
    int dup = 0;
    sw_err rc;

    memset(&o, 0, sizeof(o));
    o.thread_id = (char *)x->thread_id;
    o.kind = 1;
    o.source = STORE_OUTCOME_RECORDED;
    o.email_id = (char *)"";
    o.idem_key = (char *)x->key;
    rc = store_outcome_put(t, x->team_id, &o, &dup, &oid);
    sw_free(oid);
    memset(&sn, 0, sizeof(sn));
    sn.snippet_id = x->snippet_id;
    sn.team_id = (char *)x->team_id;
    sn.kind = STORE_SNIPPET_FRAMING;
    sn.text = (char *)"Framing";
    sn.email_id = (char *)x->email_id;
    sn.thread_id = (char *)x->thread_id;
    if (rc == SW_OK)
        rc = store_snippet_put(t, &sn);
    return rc;
}

/* A merge takes the younger thread's emails, outcomes and snippets along
 * and deletes it. */
static void test_thread_merge_moves(void **state)
{
    struct fixture *f = *state;
    char ta[64], tb[64], ea[64], eb[64], tm[64];
    struct merge_marks a = {f->team.team_id, ta, ea, "mark-a",
                            "snip_00000000000000a1"};
    struct merge_marks b = {f->team.team_id, tb, eb, "mark-b",
                            "snip_00000000000000b1"};
    struct store_outcome o;
    struct store_snippet sn;
    struct store_thread th;
    store_txn *t;

    ingest_ok(f,
              mail("ma@x", NULL, NULL, "rep@acme.example", "pat@p.example",
                   "Alpha", "Mon, 2 Mar 2026 09:00:00 +0000", "A"),
              INGEST_NEW, NULL, ea, ta);
    ingest_ok(f,
              mail("mb@x", NULL, NULL, "rep@acme.example", "kim@k.example",
                   "Beta", "Tue, 3 Mar 2026 09:00:00 +0000", "B"),
              INGEST_NEW, NULL, eb, tb);
    assert_string_not_equal(ta, tb);
    ASSERT_OK(store_update(f->s, merge_mark_txn, &a));
    ASSERT_OK(store_update(f->s, merge_mark_txn, &b));
    ingest_ok(f,
              mail("mc@x", NULL, "<mb@x> <ma@x>", "rep@acme.example",
                   "lee@l.example", "Both", "Wed, 4 Mar 2026 09:00:00 +0000",
                   "C"),
              INGEST_NEW, NULL, NULL, tm);
    assert_string_equal(tm, strcmp(ta, tb) < 0 ? ta : tb);
    ASSERT_EQ(store_thread_get(f->s, f->team.team_id,
                               strcmp(ta, tb) < 0 ? tb : ta, &th),
              SW_ENOTFOUND);
    ASSERT_OK(store_thread_get(f->s, f->team.team_id, tm, &th));
    ASSERT_EQ(th.n_emails, 3);
    ASSERT_EQ(th.n_participants, 4);
    ASSERT_EQ(th.last_ms - th.first_ms, 2 * DAY_MS);
    store_thread_clear(&th);
    ASSERT_OK(store_txn_begin(f->s, 0, &t));
    ASSERT_OK(store_outcome_by_key(t, f->team.team_id, "mark-a", &o));
    assert_string_equal(o.thread_id, tm);
    store_outcome_clear(&o);
    ASSERT_OK(store_outcome_by_key(t, f->team.team_id, "mark-b", &o));
    assert_string_equal(o.thread_id, tm);
    store_outcome_clear(&o);
    store_txn_abort(&t);
    ASSERT_OK(store_snippet_get(f->s, f->team.team_id, a.snippet_id, &sn));
    assert_string_equal(sn.thread_id, tm);
    store_snippet_clear(&sn);
    ASSERT_OK(store_snippet_get(f->s, f->team.team_id, b.snippet_id, &sn));
    assert_string_equal(sn.thread_id, tm);
    store_snippet_clear(&sn);
    assert_clean(f);
}

static void test_hash_dedupe(void **state)
{
    struct fixture *f = *state;
    char e1[64], e2[64], e3[64];

    ingest_ok(f,
              mail(NULL, NULL, NULL, "pat@p.example", "rep@acme.example",
                   "No id", "Mon, 2 Mar 2026 09:00:00 +0000",
                   "Body  text\r\nhere"),
              INGEST_NEW, NULL, e1, NULL);
    /* Whitespace and case of the body do not matter. */
    ingest_ok(f,
              mail(NULL, NULL, NULL, "pat@p.example", "rep@acme.example",
                   "No id", "Mon, 2 Mar 2026 09:00:00 +0000", "body text here"),
              INGEST_DUPLICATE, NULL, e2, NULL);
    assert_string_equal(e1, e2);
    ingest_ok(f,
              mail(NULL, NULL, NULL, "pat@p.example", "rep@acme.example",
                   "No id", "Mon, 2 Mar 2026 09:00:00 +0000", "another body"),
              INGEST_NEW, NULL, e3, NULL);
    assert_string_not_equal(e1, e3);
    assert_clean(f);
}

static const char deck_text[] =
    "ACME Platform overview. Cut onboarding time by 40 percent with guided "
    "workflows.";

/* ingest_file sends one outbound email carrying the file data (named
 * name) as fields; returns ingest_email's result. */
static sw_err ingest_file(struct fixture *f, const char *msgid,
                          const char *name, const char *data,
                          struct ingest_result *res)
{
    struct ingest_request r;
    struct ingest_fields fl;
    struct ingest_file file;
    char *to[1] = {"pat@p.example"};

    memset(&fl, 0, sizeof(fl));
    memset(&file, 0, sizeof(file));
    fl.message_id = msgid;
    fl.subject = "The deck";
    fl.from = "Rep <rep@acme.example>";
    fl.to = to;
    fl.n_to = 1;
    fl.sent_ms = 1772532000000LL;
    fl.text_body = "Hi Pat,\n\nthe deck is attached.\n\nOn Mon, Pat wrote:\n> "
                   "send it\n";
    file.filename = name;
    file.content_type = "text/plain";
    file.data = data;
    file.len = strlen(data);
    fl.files = &file;
    fl.n_files = 1;
    memset(&r, 0, sizeof(r));
    r.fields = &fl;
    return ingest_email(f->p, f->team.team_id, &r, res, NULL, NULL);
}

static void ingest_fields(struct fixture *f, const char *msgid,
                          const char *data, struct ingest_result *res)
{
    ASSERT_OK(ingest_file(f, msgid, "overview.txt", data, res));
}

static void test_content_dedupe(void **state)
{
    struct fixture *f = *state;
    struct ingest_result r1, r2, r3;
    struct store_content c;
    struct store_email e;
    struct store_job j;
    char **ids = NULL;
    size_t n = 0;
    char reexported[256];

    ingest_fields(f, "<c1@x>", deck_text, &r1);
    ASSERT_EQ(r1.status, INGEST_NEW);
    ASSERT_EQ(r1.direction, INGEST_DIR_OUTBOUND);
    ASSERT_EQ(r1.n_contents, 1);
    ASSERT_EQ(r1.contents[0].status, INGEST_NEW);
    ASSERT_EQ(r1.contents[0].state, INGEST_TEXT_EXTRACTED);
    ingest_fields(f, "<c2@x>", deck_text, &r2); /* same bytes */
    ASSERT_EQ(r2.status, INGEST_NEW);
    ASSERT_EQ(r2.contents[0].status, INGEST_DUPLICATE);
    assert_string_equal(r1.contents[0].content_id, r2.contents[0].content_id);
    /* Re-exported: other bytes, the same text after normalisation. */
    snprintf(reexported, sizeof(reexported), "  %s\r\n\r\n", deck_text);
    reexported[2] = 'a'; /* "aCME": case differs too */
    ingest_fields(f, "<c3@x>", reexported, &r3);
    ASSERT_EQ(r3.contents[0].status, INGEST_DUPLICATE);
    assert_string_equal(r1.contents[0].content_id, r3.contents[0].content_id);
    ASSERT_OK(store_content_get(f->s, f->team.team_id,
                                r1.contents[0].content_id, &c));
    ASSERT_EQ(c.times_used, 3);
    assert_string_equal(c.filename, "overview.txt");
    assert_non_null(strstr(c.text, "guided workflows"));
    store_content_clear(&c);
    ASSERT_OK(store_content_emails(f->s, f->team.team_id,
                                   r1.contents[0].content_id, 10, &ids, &n));
    ASSERT_EQ(n, 3);
    store_strv_free(ids, n);
    /* The reply history is stripped from the new text. */
    ASSERT_OK(store_email_get(f->s, f->team.team_id, r1.email_id, &e));
    assert_non_null(strstr(e.new_text, "the deck is attached"));
    assert_null(strstr(e.new_text, "send it"));
    assert_string_equal(e.from_name, "Rep");
    store_email_clear(&e);
    /* Outbound with content: an extraction job each. */
    ASSERT_EQ(jobs(f), 3);
    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next(f->s, INT64_MAX, &j));
    ASSERT_EQ(j.kind, STORE_JOB_EXTRACT_OUTBOUND);
    assert_string_equal(j.email_id, r1.email_id);
    store_job_clear(&j);
    ingest_result_clear(&r1);
    ingest_result_clear(&r2);
    ingest_result_clear(&r3);
    assert_clean(f);
}

struct usage_arg {
    const char *team;
    struct store_library_usage u;
};

static SW_MUST_CHECK sw_err usage_txn(store_txn *t, void *arg)
{
    struct usage_arg *g = arg;
    return store_library_usage(t, g->team, &g->u);
}

static struct store_library_usage usage(struct fixture *f)
{
    struct usage_arg g = {f->team.team_id, {0, 0}};
    ASSERT_OK(store_view(f->s, usage_txn, &g));
    return g.u;
}

static int file_state(struct fixture *f, const char *content_id)
{
    struct store_content c;
    int st;

    ASSERT_OK(store_content_get(f->s, f->team.team_id, content_id, &c));
    st = c.file_state;
    store_content_clear(&c);
    return st;
}

static void reopen(struct fixture *f, int64_t max_file, int64_t quota)
{
    struct ingest_pipeline_opts o;

    memset(&o, 0, sizeof(o));
    o.max_file_bytes = max_file;
    o.quota_bytes = quota;
    ingest_pipeline_close(&f->p);
    ASSERT_OK(ingest_pipeline_open(f->s, &o, &f->p));
}

/* The content library: a file over the cap is not kept, and is kept when
 * an email carries it again under a higher cap; a text twin's other bytes
 * are not kept beside the item's; a new file past the quota fails its
 * email whole. */
static void test_content_library(void **state)
{
    struct fixture *f = *state;
    const size_t len = strlen(deck_text);
    struct ingest_result r1, r2, r3, r4;
    char reexported[256];
    struct store_library_usage u;
    struct store_email e;

    reopen(f, -1, 0); /* keep no file */
    ingest_fields(f, "<k1@x>", deck_text, &r1);
    ASSERT_EQ(file_state(f, r1.contents[0].content_id), STORE_FILE_TOO_LARGE);
    ASSERT_EQ(usage(f).files, 0);

    reopen(f, 0, (int64_t)len + 10); /* the default cap, a tight quota */
    ingest_fields(f, "<k2@x>", deck_text, &r2);
    assert_string_equal(r1.contents[0].content_id, r2.contents[0].content_id);
    ASSERT_EQ(file_state(f, r1.contents[0].content_id), STORE_FILE_KEPT);
    u = usage(f);
    ASSERT_EQ(u.files, 1);
    ASSERT_EQ(u.bytes, (int64_t)len);

    snprintf(reexported, sizeof(reexported), "  %s\r\n\r\n", deck_text);
    ingest_fields(f, "<k3@x>", reexported, &r3); /* same text, other bytes */
    assert_string_equal(r1.contents[0].content_id, r3.contents[0].content_id);
    ASSERT_EQ(usage(f).bytes, (int64_t)len);

    memset(&r4, 0, sizeof(r4));
    ASSERT_ERR(ingest_file(f, "<k4@x>", "other.txt",
                           "A new file, larger than the ten bytes left.", &r4),
               SW_EQUOTA);
    u = usage(f);
    ASSERT_EQ(u.files, 1);
    ASSERT_EQ(u.bytes, (int64_t)len);
    /* Nothing of the refused email is stored. */
    ASSERT_ERR(store_email_by_message_id(f->s, f->team.team_id, "k4@x", &e),
               SW_ENOTFOUND);
    ingest_result_clear(&r1);
    ingest_result_clear(&r2);
    ingest_result_clear(&r3);
    assert_clean(f);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct ingest_request r;
    struct ingest_fields fl;
    struct ingest_result res;
    struct ingest_pipeline_opts o;
    ingest_pipeline *small = NULL;
    struct sw_buf why;
    char *raw;
    sw_err rc;

    sw_buf_init(&why, 4096);
    memset(&r, 0, sizeof(r));
    /* Neither or both sources. */
    ASSERT_ERR(ingest_email(f->p, f->team.team_id, &r, &res, NULL, &why),
               SW_EINVAL);
    memset(&fl, 0, sizeof(fl));
    r.raw = "x";
    r.raw_len = 1;
    r.fields = &fl;
    ASSERT_ERR(ingest_email(f->p, f->team.team_id, &r, &res, NULL, &why),
               SW_EINVAL);
    /* Fields without a sender. */
    r.raw = NULL;
    ASSERT_ERR(ingest_email(f->p, f->team.team_id, &r, &res, NULL, &why),
               SW_EINVAL);
    assert_non_null(strstr(sw_buf_str(&why), "from_address"));
    /* Fields with more recipients than any mail may carry: refused before
     * any work that grows with them; at the limit, accepted. */
    {
        enum { N = INGEST_MAX_ADDRS + 1 };
        char **to = calloc(N, sizeof(char *));
        size_t i;
        assert_non_null(to);
        for (i = 0; i < N; i++) {
            to[i] = malloc(40);
            assert_non_null(to[i]);
            snprintf(to[i], 40, "r%zu@many.example", i);
        }
        fl.from = "rep@acme.example";
        fl.message_id = "<many@x>";
        fl.subject = "Many";
        fl.text_body = "Hello all";
        fl.to = to;
        fl.n_to = N;
        sw_buf_reset(&why);
        ASSERT_ERR(ingest_email(f->p, f->team.team_id, &r, &res, NULL, &why),
                   SW_ETOOBIG);
        assert_non_null(strstr(sw_buf_str(&why), "1001 recipients"));
        fl.n_to = N - 1;
        ASSERT_OK(ingest_email(f->p, f->team.team_id, &r, &res, NULL, &why));
        ingest_result_clear(&res);
        for (i = 0; i < N; i++)
            free(to[i]);
        free(to);
        memset(&fl, 0, sizeof(fl));
    }
    /* Not mail at all. */
    rc = ingest_raw(f, "\x01\x02 this is not mail", 0, &res);
    assert_true(rc == SW_EPARSE || rc == SW_EINVAL);
    /* Over the size limit. */
    memset(&o, 0, sizeof(o));
    ingest_limits_default(&o.limits);
    o.limits.max_message_bytes = 200;
    ASSERT_OK(ingest_pipeline_open(f->s, &o, &small));
    raw = mail("big@x", NULL, NULL, "a@b.example", "c@d.example", "Big", NULL,
               "0123456789012345678901234567890123456789012345678901234567890"
               "1234567890123456789012345678901234567890123456789012345678901"
               "2345678901234567890123456789012345678901234567890123456789");
    memset(&r, 0, sizeof(r));
    r.raw = raw;
    r.raw_len = strlen(raw);
    ASSERT_ERR(ingest_email(small, f->team.team_id, &r, &res, NULL, &why),
               SW_ETOOBIG);
    assert_true(sw_buf_len(&why) > 0);
    ingest_pipeline_close(&small);
    sw_free(raw);
    /* Nothing was stored. */
    ASSERT_EQ(jobs(f), 0);
    sw_buf_free(&why);
    assert_clean(f);
}

static void test_team_deleted(void **state)
{
    struct fixture *f = *state;
    struct ingest_result res;
    struct sw_buf why;
    char *raw = mail("t1@x", NULL, NULL, "a@b.example", "rep@acme.example",
                     "Hi", NULL, "x");

    sw_buf_init(&why, 1024);
    ASSERT_OK(store_team_delete(f->s, f->team.team_id, &why));
    ASSERT_ERR(ingest_raw(f, raw, 0, &res), SW_ENOTFOUND);
    sw_free(raw);
    sw_buf_free(&why);
    assert_clean(f);
}

/* Concurrent callers: every email is stored once, commits are shared. */
struct worker {
    struct fixture *f;
    int id;
    int ok;
};

#define WORKERS 8
#define PER_WORKER 25

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char msgid[64], body[64];
    int i;

    for (i = 0; i < PER_WORKER; i++) {
        struct ingest_result res;
        char *raw;
        snprintf(msgid, sizeof(msgid), "w%d-%d@x", w->id, i);
        snprintf(body, sizeof(body), "message %d of worker %d", i, w->id);
        raw = mail(msgid, NULL, NULL, "pat@p.example", "rep@acme.example",
                   msgid, NULL, body);
        if (ingest_raw(w->f, raw, 0, &res) == SW_OK && res.status == INGEST_NEW)
            w->ok++;
        ingest_result_clear(&res);
        sw_free(raw);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    struct worker w[WORKERS];
    pthread_t th[WORKERS];
    struct ingest_totals t;
    int i, total = 0;

    for (i = 0; i < WORKERS; i++) {
        w[i].f = f;
        w[i].id = i;
        w[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        total += w[i].ok;
    }
    ASSERT_EQ(total, WORKERS * PER_WORKER);
    ingest_pipeline_totals(f->p, &t);
    ASSERT_EQ(t.new_emails, WORKERS * PER_WORKER);
    assert_true(t.commits >= 1 && t.commits <= t.calls);
    print_message("concurrent: %llu calls in %llu commits\n",
                  (unsigned long long)t.calls, (unsigned long long)t.commits);
    ASSERT_EQ(jobs(f), WORKERS * PER_WORKER);
    assert_clean(f);
}

static void test_subject_key(void **state)
{
    struct sw_buf b;

    (void)state;
    sw_buf_init(&b, 1024);
    ASSERT_OK(ingest_subject_key("Re: AW: Fwd:  Hello   World ", &b));
    assert_string_equal(sw_buf_str(&b), "hello world");
    ASSERT_OK(ingest_subject_key("RE[2]: SV: TR: x", &b));
    assert_string_equal(sw_buf_str(&b), "x");
    ASSERT_OK(ingest_subject_key("Reply needed", &b));
    assert_string_equal(sw_buf_str(&b), "reply needed");
    ASSERT_OK(ingest_subject_key("\xe5\x9b\x9e\xe5\xa4\x8d\xef\xbc\x9a"
                                 "Test",
                                 &b));
    assert_string_equal(sw_buf_str(&b), "test");
    ASSERT_OK(ingest_subject_key("", &b));
    ASSERT_EQ(sw_buf_len(&b), 0);
    assert_string_equal(ingest_subject_strip("Fwd: Re: The Deck"), "The Deck");
    sw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_then_duplicate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_direction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_references, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thread_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_merge_moves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hash_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_team_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test(test_subject_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
