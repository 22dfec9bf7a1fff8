/* pipeline_fault_test: allocation failure N (N = 1, 2, ...) during one
 * ingest, through parsing, preparation and the committer's transaction.
 * Each failure must give SW_ENOMEM (or a clean success), leak nothing, and
 * leave the store consistent: an email whose ingest failed is not stored
 * (ingesting it again says NEW), one that succeeded is (DUPLICATE). */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/pipeline.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_tenant.h"
#include "tests/ingest/fault_mail.h"

#define MAX_N 5000

/* pipeline_mail: round n's mail, a rep's reply with a link, a quote and an
 * attachment. */
static char *pipeline_mail(int n)
{
    struct fault_mail m;
    char *headers, *out;

    headers = fault_mail_fmt(
        "Message-ID: <f%d@x.example>\r\nIn-Reply-To: <root%d@x.example>\r\n"
        "From: Rep <rep@acme.example>\r\nTo: pat@p.example, "
        "lee@p.example\r\nCc: kim@acme.example\r\nSubject: Re: Offer %d\r\n",
        n, n, n);
    m.headers = headers;
    m.text = "Hi Pat, see https://acme.example/offer\r\n\r\nOn Mon, Pat "
             "wrote:\r\n> ok";
    m.file_name = "offer.txt";
    m.file_text = "The offer: 12 seats, 40 percent off in year one.";
    out = fault_mail_new(&m);
    sw_free(headers);
    return out;
}

static void test_alloc_faults(void **state)
{
    char dir[TEST_PATH_MAX];
    struct store_opts o;
    struct store_team team;
    struct sw_buf report;
    ingest_pipeline *p = NULL;
    store *s = NULL;
    int64_t live;
    int n, failed = 0, done = 0;

    (void)state;
    test_mkdtemp(dir);
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    memset(&team, 0, sizeof(team));
    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_open(&o, &s));
    ASSERT_OK(store_team_create(s, "Acme", &team, NULL, NULL));
    ASSERT_OK(
        store_member_add(s, team.team_id, "rep@acme.example", "", NULL, NULL));
    ASSERT_OK(ingest_pipeline_open(s, NULL, &p));
    {
        /* Warm up: the parser and the store allocate some state once. */
        struct ingest_request r;
        struct ingest_result res;
        char *raw = pipeline_mail(0);
        memset(&r, 0, sizeof(r));
        r.raw = raw;
        r.raw_len = strlen(raw);
        ASSERT_OK(ingest_email(p, team.team_id, &r, &res, NULL, NULL));
        ingest_result_clear(&res);
        sw_free(raw);
    }
    live = sw_mem_live();
    for (n = 1; n <= MAX_N && !done; n++) {
        struct ingest_request r;
        struct ingest_result res;
        char *raw = pipeline_mail(n);
        size_t v = 0;
        sw_err rc, rc2;

        memset(&r, 0, sizeof(r));
        r.raw = raw;
        r.raw_len = strlen(raw);
        sw_mem_fail_nth((uint64_t)n);
        rc = ingest_email(p, team.team_id, &r, &res, NULL, NULL);
        sw_mem_fail_nth(0);
        ingest_result_clear(&res);
        if (rc == SW_OK)
            done = 1; /* the n-th allocation was never reached */
        else if (rc != SW_ENOMEM)
            fail_msg("allocation %d: %s, want SW_ENOMEM", n, sw_err_name(rc));
        else
            failed++;
        /* Ingest again without faults: stored exactly when it succeeded. */
        rc2 = ingest_email(p, team.team_id, &r, &res, NULL, NULL);
        ASSERT_OK(rc2);
        ASSERT_EQ(res.status, rc == SW_OK ? INGEST_DUPLICATE : INGEST_NEW);
        ingest_result_clear(&res);
        sw_free(raw);
        if (sw_mem_live() != live)
            fail_msg("allocation %d: %lld blocks leaked", n,
                     (long long)(sw_mem_live() - live));
        sw_buf_reset(&report);
        ASSERT_OK(store_mail_check(s, &report, &v, NULL));
        if (v)
            fail_msg("allocation %d: store check:\n%s", n, sw_buf_str(&report));
    }
    assert_true(done);
    print_message("%d allocation failures handled\n", failed);
    ingest_pipeline_close(&p);
    store_team_clear(&team);
    store_close(&s);
    sw_buf_free(&report);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_faults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
