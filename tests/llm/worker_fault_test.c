/* worker_fault_test: allocation failure N (N = 1, 2, ...) during one group
 * of the extraction worker (ingest_worker_run_group over two jobs with the
 * builtin extractor): reading the mail, the LLM call and its held journal,
 * the plan, and the group's commit. Each failure must give SW_ENOMEM (or a
 * clean success), leak nothing, and lose nothing: a run without faults
 * then finishes every job, each email ends with its framings stored once
 * and its call journaled, and the store check finds nothing wrong. */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/pipeline.h"
#include "ingest/worker.h"
#include "llm/call.h"
#include "llm/provider.h"
#include "store/store.h"
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"
#include "tests/ingest/fault_mail.h"

#define JOBS 2
/* Every allocation of a group is probed, one round each. A group made 426
 * in December 2026 (a round takes a few milliseconds); past this bound the
 * test fails rather than run for minutes. */
#define MAX_ALLOCS 4000

/* worker_mail: round n's mail j, a rep's outbound mail with one framing
 * sentence and a case study attached. */
static char *worker_mail(int n, int j)
{
    struct fault_mail m;
    char *headers, *text, *file_text, *out;

    headers = fault_mail_fmt(
        "Message-ID: <w%d.%d@acme.example>\r\nFrom: Rita "
        "<rita@acme.example>\r\nTo: pat@prospect.example\r\nSubject: Case "
        "study %d\r\n",
        n, j, n);
    text = fault_mail_fmt(
        "Hi Pat,\r\n\r\nI've attached the Acme case study, which shows how a "
        "logistics team like yours cut onboarding time by 40%%. Ref "
        "%d.%d\r\n\r\nBest,\r\nRita",
        n, j);
    file_text = fault_mail_fmt(
        "Acme Logistics runs 400 warehouses. After the rollout Acme reduced "
        "onboarding time by 40%% in six months; support tickets fell from "
        "1,200 to 700 a month (case %d.%d).",
        n, j);
    m.headers = headers;
    m.text = text;
    m.file_name = "case-study.txt";
    m.file_text = file_text;
    out = fault_mail_new(&m);
    sw_free(headers);
    sw_free(text);
    sw_free(file_text);
    return out;
}

/* The hook: fail allocation fail_at, remember how far the count went. */
struct probe {
    uint64_t fail_at, seen;
};

static int probe_hook(uint64_t ordinal, void *arg)
{
    struct probe *p = arg;

    if (ordinal > p->seen)
        p->seen = ordinal;
    return ordinal == p->fail_at;
}

struct fx {
    store *s;
    ingest_pipeline *p;
    struct store_team team;
    ingest_worker *w;
    char ids[JOBS][64];
    uint64_t seq0; /* the snippet feed before this round's mail */
};

static void fx_ingest(struct fx *f, int n)
{
    struct ingest_request r;
    struct ingest_result res;
    int j;

    ASSERT_OK(store_snippet_last_seq(f->s, f->team.team_id, &f->seq0));
    for (j = 0; j < JOBS; j++) {
        char *raw = worker_mail(n, j);
        memset(&r, 0, sizeof(r));
        r.raw = raw;
        r.raw_len = strlen(raw);
        ASSERT_OK(ingest_email(f->p, f->team.team_id, &r, &res, NULL, NULL));
        ASSERT_EQ(res.status, INGEST_NEW);
        snprintf(f->ids[j], sizeof(f->ids[j]), "%s", res.email_id);
        ingest_result_clear(&res);
        sw_free(raw);
    }
}

struct framings {
    const char *email_id;
    size_t n;
    uint64_t last_seq, seen; /* the feed's page */
};

static sw_err count_framings(const struct store_snippet *sn, void *arg)
{
    struct framings *fr = arg;

    fr->last_seq = sn->seq;
    fr->seen++;
    if (!sn->deleted && sn->kind == STORE_SNIPPET_FRAMING &&
        strcmp(sn->email_id, fr->email_id) == 0)
        fr->n++;
    return SW_OK;
}

/* fx_framings counts email_id's live framings in the feed since this
 * round's mail came in (a snippet rewritten appears once, at its latest
 * seq). */
static size_t fx_framings(struct fx *f, const char *email_id)
{
    struct framings fr;

    memset(&fr, 0, sizeof(fr));
    fr.email_id = email_id;
    fr.last_seq = f->seq0;
    do {
        fr.seen = 0;
        ASSERT_OK(store_snippet_since(f->s, f->team.team_id, fr.last_seq, 500,
                                      count_framings, &fr));
    } while (fr.seen == 500);
    return fr.n;
}

/* fx_assert_done: every job finished, each email's framings stored once
 * (one live framing: the mail has one framing sentence) and its call
 * journaled. */
static void fx_assert_done(struct fx *f, int n)
{
    struct store_llm_attempt *items = NULL;
    struct sw_buf report;
    char *next = NULL;
    uint64_t pending = 99;
    size_t k, v = 99;
    int j;

    ASSERT_OK(store_job_count(f->s, &pending));
    if (pending)
        fail_msg("allocation %d: %llu jobs left", n,
                 (unsigned long long)pending);
    for (j = 0; j < JOBS; j++) {
        k = fx_framings(f, f->ids[j]);
        if (k != 1)
            fail_msg("allocation %d: email %d has %zu framings", n, j, k);
        ASSERT_OK(store_llm_journal_list(f->s, f->team.team_id, f->ids[j], 10,
                                         NULL, &items, &k, &next, NULL));
        store_llm_attempts_free(items, k);
        sw_free(next);
        if (k == 0)
            fail_msg("allocation %d: email %d was never journaled", n, j);
    }
    if (n % 16 != 0) /* the whole store's check, now and then */
        return;
    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_mail_check(f->s, &report, &v, NULL));
    if (v)
        fail_msg("allocation %d: store check:\n%s", n, sw_buf_str(&report));
    sw_buf_free(&report);
}

static void test_group_alloc_faults(void **state)
{
    char dir[TEST_PATH_MAX];
    struct store_opts o;
    struct ingest_worker_opts wo;
    struct llm_provider *bp = NULL;
    llm_client *bc = NULL;
    struct probe pr;
    struct fx f;
    uint64_t total, at;
    int64_t live;
    size_t did;
    int failed = 0, probes = 0;
    sw_err rc;

    (void)state;
    memset(&f, 0, sizeof(f));
    test_mkdtemp(dir);
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    ASSERT_OK(store_open(&o, &f.s));
    ASSERT_OK(store_team_create(f.s, "Acme", &f.team, NULL, NULL));
    ASSERT_OK(store_member_add(f.s, f.team.team_id, "rita@acme.example", "",
                               NULL, NULL));
    ASSERT_OK(
        store_domain_add(f.s, f.team.team_id, "acme.example", NULL, NULL));
    ASSERT_OK(ingest_pipeline_open(f.s, NULL, &f.p));
    ASSERT_OK(llm_provider_builtin_new(&bp));
    ASSERT_OK(llm_client_new(bp, f.s, NULL, &bc));
    memset(&wo, 0, sizeof(wo));
    wo.group_ms = 600000; /* the group is bounded by its jobs only */
    ASSERT_OK(ingest_worker_new(f.s, bc, bc, &wo, &f.w));

    /* A group without faults: its allocations, counted. */
    fx_ingest(&f, 0);
    memset(&pr, 0, sizeof(pr));
    sw_mem_set_fault(probe_hook, &pr);
    rc = ingest_worker_run_group(f.w, 0, 64, &did);
    sw_mem_set_fault(NULL, NULL);
    ASSERT_OK(rc);
    ASSERT_EQ(did, JOBS);
    fx_assert_done(&f, 0);
    total = pr.seen;
    print_message("a group of %d jobs: %llu allocations, each probed\n", JOBS,
                  (unsigned long long)total);
    if (total >= MAX_ALLOCS)
        fail_msg("a group of %d jobs made %llu allocations, the bound is %d",
                 JOBS, (unsigned long long)total, MAX_ALLOCS);

    /* Until the group ends before allocation at: a later round's group may
     * make a few more than the first (428 against 426 in December 2026). */
    live = sw_mem_live();
    for (at = 1; at < MAX_ALLOCS; at++) {
        fx_ingest(&f, (int)at);
        memset(&pr, 0, sizeof(pr));
        pr.fail_at = at;
        sw_mem_set_fault(probe_hook, &pr);
        rc = ingest_worker_run_group(f.w, 0, 64, &did);
        sw_mem_set_fault(NULL, NULL);
        if (rc != SW_OK && rc != SW_ENOMEM)
            fail_msg("allocation %llu: %s, want SW_ENOMEM",
                     (unsigned long long)at, sw_err_name(rc));
        failed += rc == SW_ENOMEM;
        probes++;
        /* Without faults the rest is done, and nothing was lost. */
        do
            ASSERT_OK(ingest_worker_run_group(f.w, 0, 64, &did));
        while (did);
        fx_assert_done(&f, (int)at);
        if (sw_mem_live() != live)
            fail_msg("allocation %llu: %lld blocks leaked",
                     (unsigned long long)at, (long long)(sw_mem_live() - live));
        if (pr.seen < at)
            break; /* the group ended before allocation at */
    }
    if (at >= MAX_ALLOCS)
        fail_msg("a group still allocated at %d, the bound", MAX_ALLOCS);
    fx_assert_done(&f, 0); /* with the whole store's check */
    print_message("%d probes, %d gave SW_ENOMEM\n", probes, failed);
    assert_true(failed > 0);
    ingest_worker_free(&f.w);
    llm_client_free(&bc);
    llm_provider_free(&bp);
    ingest_pipeline_close(&f.p);
    store_team_clear(&f.team);
    store_close(&f.s);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_alloc_faults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
