/* worker_test: the extraction worker over a real store and ingest pipeline:
 * outbound mail with an attachment becomes builtin snippets, a reply
 * becomes an outcome on its thread, an unreachable provider defers the job
 * (never drops it) and the builtin extractor takes over after K failures,
 * re-extraction with a newer model replaces snippets instead of copying
 * them and keeps redactions, and the pool of threads is fair across teams
 * (one team's stalled endpoint or backlog does not hold another's jobs)
 * and runs every job once; a job queued by the pipeline wakes an idle
 * worker at once (the on_jobs hook and ingest_worker_kick). Providers are
 * the builtin extractor and the scripted fake OpenAI server
 * (fake_openai.py) on loopback. */
#include "tests/testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ingest/pipeline.h"
#include "ingest/worker.h"
#include "llm/call.h"
#include "llm/provider.h"
#include "store/store.h"
#include "store/store_erase.h"
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"
#include "tests/llm/fake_srv.h"

#define DAY_MS (24LL * 3600 * 1000)
#define SENT_MS 1772532000000LL

static const char deck_name[] = "acme-case-study.txt";
static const char deck_text[] =
    "Acme Logistics case study.\n\n"
    "Acme Logistics runs 400 warehouses across Europe. "
    "After rolling out Snipwise, Acme reduced onboarding time by 40% in six "
    "months. Support tickets fell from 1,200 to 700 per month. "
    "The team saved $2.1M in the first year. "
    "The rollout took three weeks and needed no new hardware.\n";
static const char outbound_body[] =
    "Hi Pat,\n\n"
    "Thanks for the call today. I've attached the Acme case study, which "
    "shows how a logistics team like yours cut onboarding time by 40%.\n\n"
    "Would Tuesday work for a follow-up?\n\nBest,\nRita\n";
/* A framing sentence the fake model returns; it occurs in the body. */
#define FAKE_FRAMING                                                           \
    "I've attached the Acme case study, which shows how a logistics team "     \
    "like yours cut onboarding time by 40%."

/* The fake model's answer: FAKE_FRAMING, which every fairness mail holds;
 * the answer of a newer model in the re-extraction test. */
#define FAKE_ANSWER                                                            \
    "\"{\\\"framings\\\":[{\\\"text\\\":\\\"" FAKE_FRAMING                     \
    "\\\",\\\"content\\\":\\\"acme-case-study.txt\\\",\\\"start\\\":"          \
    "null}],\\\"passages\\\":[],\\\"tags\\\":{\\\"topic\\\":["                 \
    "\\\"case_study\\\"],\\\"intent\\\":\\\"share_content\\\","                \
    "\\\"persona\\\":\\\"operations\\\",\\\"stage\\\":"                        \
    "\\\"discovery\\\"}}\""

struct fx {
    char dir[TEST_PATH_MAX];
    char script[TEST_PATH_MAX + 32];
    char log[TEST_PATH_MAX + 32];
    pid_t pid;
    int port;
    store *s;
    ingest_pipeline *p;
    struct store_team team;
    struct llm_provider *bp, *op;
    llm_client *bc, *oc;
    int64_t live;
    /* The fairness cases: two fake servers behind a router provider, and
     * the worker, stopped by teardown if a case fails half-way. */
    struct fake_srv srv[2];
    struct llm_provider *sp[2], *rp;
    llm_client *rc;
    ingest_worker *w;
};

static int setup(void **state)
{
    struct fx *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    f->pid = -1;
    f->srv[0].pid = f->srv[1].pid = -1;
    test_mkdtemp(f->dir);
    snprintf(f->script, sizeof(f->script), "%s/script.json", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/requests.jsonl", f->dir);
    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    if (store_open(&o, &f->s) != SW_OK ||
        store_team_create(f->s, "Acme", &f->team, NULL, NULL) != SW_OK ||
        store_member_add(f->s, f->team.team_id, "rita@snip.example", "Rita",
                         NULL, NULL) != SW_OK ||
        store_domain_add(f->s, f->team.team_id, "snip.example", NULL, NULL) !=
            SW_OK ||
        ingest_pipeline_open(f->s, NULL, &f->p) != SW_OK ||
        llm_provider_builtin_new(&f->bp) != SW_OK ||
        llm_client_new(f->bp, f->s, NULL, &f->bc) != SW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int64_t live;
    int st;

    ingest_worker_free(&f->w);
    llm_client_free(&f->rc);
    llm_provider_free(&f->rp);
    llm_provider_free(&f->sp[0]);
    llm_provider_free(&f->sp[1]);
    fake_srv_stop(&f->srv[0]);
    fake_srv_stop(&f->srv[1]);
    llm_client_free(&f->oc);
    llm_provider_free(&f->op);
    llm_client_free(&f->bc);
    llm_provider_free(&f->bp);
    ingest_pipeline_close(&f->p);
    store_team_clear(&f->team);
    store_close(&f->s);
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, &st, 0);
    }
    test_rmtree(f->dir);
    live = sw_mem_live() - f->live;
    sw_free(f);
    if (live != 0) {
        print_error("leak: %lld blocks live\n", (long long)live);
        return -1;
    }
    return 0;
}

/* fx_fake_ex starts fake_openai.py answering every request with status and
 * content (a JSON string literal, or NULL) after delay seconds, and makes
 * f->oc over it with a daily token budget per team (0: none; with one,
 * the client has no cache, so that every mail is a paid call). */
static void fx_fake_ex(struct fx *f, int status, const char *content_json,
                       double delay, int64_t daily_tokens)
{
    const char *srcdir = getenv("TEST_SRCDIR");
    struct llm_openai_opts o;
    struct llm_call_opts co;
    char py[TEST_PATH_MAX], line[64], url[128];
    FILE *fp;
    int pfd[2];
    ssize_t r;
    size_t k = 0;

    fp = fopen(f->script, "w");
    assert_non_null(fp);
    fprintf(fp, "[{\"status\": %d, \"content\": %s, \"delay\": %.3f}]\n",
            status, content_json ? content_json : "\"\"", delay);
    fclose(fp);
    snprintf(py, sizeof(py), "%s/snipwise/tests/llm/fake_openai.py",
             srcdir ? srcdir : ".");
    assert_int_equal(pipe(pfd), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl("/usr/bin/python3", "python3", py, f->script, f->log,
              (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    while (k + 1 < sizeof(line)) {
        r = read(pfd[0], line + k, 1);
        if (r <= 0 || line[k] == '\n')
            break;
        k++;
    }
    line[k] = '\0';
    close(pfd[0]);
    assert_true(k > 5 && strncmp(line, "PORT ", 5) == 0);
    ASSERT_OK(sw_parse_int(line + 5, 1, 65535, &f->port));
    memset(&o, 0, sizeof(o));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", f->port);
    o.base_url = url;
    o.model = "fake-model-2";
    o.api_key = "sk-test";
    o.timeout_ms = 5000;
    o.max_http_retries = -1; /* none */
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 10;
    ASSERT_OK(llm_provider_openai_new(&o, &f->op));
    llm_call_opts_default(&co);
    co.max_retries = 0;
    co.team_daily_tokens = daily_tokens;
    co.no_cache = daily_tokens > 0; /* each mail a paid call, not a hit */
    ASSERT_OK(llm_client_new(f->op, f->s, &co, &f->oc));
}

/* fx_fake answers at once, with no budget. */
static void fx_fake(struct fx *f, int status, const char *content_json)
{
    fx_fake_ex(f, status, content_json, 0.0, 0);
}

/* fx_outbound ingests the outbound email with its attachment. */
static void fx_outbound(struct fx *f, const char *msgid,
                        struct ingest_result *res)
{
    struct ingest_request r;
    struct ingest_fields fl;
    struct ingest_file file;
    char *to[1] = {"pat@prospect.example"};

    memset(&fl, 0, sizeof(fl));
    memset(&file, 0, sizeof(file));
    fl.message_id = msgid;
    fl.subject = "Acme case study";
    fl.from = "Rita <rita@snip.example>";
    fl.to = to;
    fl.n_to = 1;
    fl.sent_ms = SENT_MS;
    fl.text_body = outbound_body;
    file.filename = deck_name;
    file.content_type = "text/plain";
    file.data = deck_text;
    file.len = strlen(deck_text);
    fl.files = &file;
    fl.n_files = 1;
    memset(&r, 0, sizeof(r));
    r.fields = &fl;
    ASSERT_OK(ingest_email(f->p, f->team.team_id, &r, res, NULL, NULL));
    ASSERT_EQ(res->status, INGEST_NEW);
    ASSERT_EQ(res->direction, INGEST_DIR_OUTBOUND);
    assert_true(res->job_id > 0);
}

/* drain runs w until no job is due at now_ms; returns the jobs run. */
static int drain(ingest_worker *w, int64_t now_ms)
{
    int did = 1, n = 0;

    while (did && n < 1000) {
        ASSERT_OK(ingest_worker_run_one(w, now_ms, &did));
        n += did;
    }
    assert_true(n < 1000);
    return n;
}

struct snips {
    struct store_snippet v[128];
    size_t n;
};

static sw_err snips_add(const struct store_snippet *sn, void *arg)
{
    struct snips *s = arg;

    if (s->n == 128)
        return SW_ETOOBIG;
    return store_snippet_copy(sn, &s->v[s->n++]);
}

static void snips_load(struct fx *f, struct snips *s)
{
    memset(s, 0, sizeof(*s));
    ASSERT_OK(store_snippet_since(f->s, f->team.team_id, 0, 0, snips_add, s));
}

static void snips_clear(struct snips *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        store_snippet_clear(&s->v[i]);
    s->n = 0;
}

static size_t snips_live(const struct snips *s, int kind)
{
    size_t i, k = 0;

    for (i = 0; i < s->n; i++)
        k += !s->v[i].deleted && (kind == 0 || s->v[i].kind == kind);
    return k;
}

static uint64_t jobs_pending(struct fx *f)
{
    uint64_t n = 99;

    ASSERT_OK(store_job_count(f->s, &n));
    return n;
}

static void assert_clean(struct fx *f)
{
    struct sw_buf report;
    size_t v = 99;

    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_mail_check(f->s, &report, &v, NULL));
    if (v != 0)
        fail_msg("store check: %zu violations:\n%s", v, sw_buf_str(&report));
    sw_buf_free(&report);
}

/* Outbound email with an attachment → framing and key passages from the
 * builtin extractor, with provenance, and the job gone. */
static void test_outbound_builtin(void **state)
{
    struct fx *f = *state;
    struct ingest_result res;
    struct ingest_worker_stats st;
    struct store_llm_attempt *items = NULL;
    struct snips s;
    ingest_worker *w = NULL;
    char *next = NULL;
    size_t i, n = 0;

    fx_outbound(f, "<out1@snip.example>", &res);
    ASSERT_EQ(jobs_pending(f), 1);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &w));
    ASSERT_EQ(drain(w, 0), 1);
    ASSERT_EQ(jobs_pending(f), 0);
    snips_load(f, &s);
    assert_true(snips_live(&s, STORE_SNIPPET_FRAMING) >= 1);
    assert_true(snips_live(&s, STORE_SNIPPET_KEY_PASSAGE) >= 1);
    for (i = 0; i < s.n; i++) {
        const struct store_snippet *x = &s.v[i];
        assert_true(store_snippet_id_ok(x->snippet_id));
        assert_string_equal(x->provenance, "llm:builtin/builtin-v1");
        assert_string_equal(x->content_id, res.contents[0].content_id);
        if (x->kind == STORE_SNIPPET_FRAMING) {
            /* Verbatim from the email, tied to it and its thread. */
            assert_non_null(strstr(outbound_body, x->text));
            assert_string_equal(x->email_id, res.email_id);
            assert_string_equal(x->thread_id, res.thread_id);
            assert_string_equal(x->rep_email, "rita@snip.example");
        } else {
            assert_non_null(strstr(deck_text, x->text));
        }
        assert_true(x->topic[0] != '\0');
    }
    ingest_worker_stats(w, &st);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.snippets, s.n);
    /* The attempt is journaled under the email's id. */
    ASSERT_OK(store_llm_journal_list(f->s, f->team.team_id, res.email_id, 10,
                                     NULL, &items, &n, &next, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(items[0].outcome, STORE_LLM_OK);
    assert_string_equal(items[0].schema_name, "outbound_extraction");
    store_llm_attempts_free(items, n);
    sw_free(next);
    snips_clear(&s);
    assert_clean(f);
    ingest_worker_free(&w);
    ingest_result_clear(&res);
}

/* A document attached again: its key passages are not rewritten (a new
 * feed seq would make followers such as the index count them twice, or
 * not, depending on timing); the second mail gets its own framings. */
static void test_passages_kept_on_reattach(void **state)
{
    struct fx *f = *state;
    struct ingest_result r1, r2;
    struct snips a, b;
    ingest_worker *w = NULL;
    size_t i, j, passages = 0, framings2 = 0;

    fx_outbound(f, "<re1@snip.example>", &r1);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &w));
    ASSERT_EQ(drain(w, 0), 1);
    snips_load(f, &a);
    fx_outbound(f, "<re2@snip.example>", &r2);
    ASSERT_EQ(drain(w, 0), 1);
    snips_load(f, &b);
    for (i = 0; i < a.n; i++) {
        if (a.v[i].kind != STORE_SNIPPET_KEY_PASSAGE)
            continue;
        for (j = 0; j < b.n; j++)
            if (strcmp(a.v[i].snippet_id, b.v[j].snippet_id) == 0)
                break;
        assert_true(j < b.n);
        ASSERT_EQ(b.v[j].seq, a.v[i].seq);
        assert_false(b.v[j].deleted);
        passages++;
    }
    assert_true(passages >= 1);
    for (j = 0; j < b.n; j++)
        framings2 += b.v[j].kind == STORE_SNIPPET_FRAMING &&
                     strcmp(b.v[j].email_id, r2.email_id) == 0;
    assert_true(framings2 >= 1);
    snips_clear(&a);
    snips_clear(&b);
    assert_clean(f);
    ingest_worker_free(&w);
    ingest_result_clear(&r1);
    ingest_result_clear(&r2);
}

/* An inbound reply becomes a derived outcome on its thread. */
static void test_reply_outcome(void **state)
{
    struct fx *f = *state;
    struct ingest_result out, in;
    struct ingest_request r;
    struct ingest_fields fl;
    struct store_outcome *items = NULL;
    struct store_email em;
    ingest_worker *w = NULL;
    char *to[1] = {"rita@snip.example"};
    char *next = NULL;
    size_t n = 0;

    fx_outbound(f, "<out2@snip.example>", &out);
    memset(&fl, 0, sizeof(fl));
    fl.message_id = "<re2@prospect.example>";
    fl.in_reply_to = "<out2@snip.example>";
    fl.subject = "Re: Acme case study";
    fl.from = "Pat <pat@prospect.example>";
    fl.to = to;
    fl.n_to = 1;
    fl.sent_ms = SENT_MS + 3600000;
    fl.text_body = "Hi Rita,\n\nThis looks great. I'd love to see a demo next "
                   "week, could you send a few times?\n\nPat\n";
    memset(&r, 0, sizeof(r));
    r.fields = &fl;
    ASSERT_OK(ingest_email(f->p, f->team.team_id, &r, &in, NULL, NULL));
    ASSERT_EQ(in.direction, INGEST_DIR_INBOUND);
    assert_string_equal(in.thread_id, out.thread_id);
    ASSERT_EQ(jobs_pending(f), 2);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &w));
    ASSERT_EQ(drain(w, 0), 2);
    ASSERT_EQ(jobs_pending(f), 0);
    ASSERT_OK(store_outcome_list(f->s, f->team.team_id, out.thread_id, 10, NULL,
                                 &items, &n, &next, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(items[0].kind, 4); /* POSITIVE */
    ASSERT_EQ(items[0].source, STORE_OUTCOME_DERIVED);
    assert_string_equal(items[0].email_id, in.email_id);
    assert_non_null(strstr(fl.text_body, items[0].evidence));
    assert_true(items[0].evidence[0] != '\0');
    assert_non_null(strstr(items[0].provenance, "builtin"));
    store_outcomes_free(items, n);
    sw_free(next);
    ASSERT_OK(store_email_get(f->s, f->team.team_id, in.email_id, &em));
    ASSERT_EQ(em.reply_kind, 4);
    store_email_clear(&em);
    assert_clean(f);
    ingest_worker_free(&w);
    ingest_result_clear(&out);
    ingest_result_clear(&in);
}

/* A provider that always fails (HTTP 500) defers the job with backoff and
 * never drops it; after fallback_after failures the builtin runs it and
 * the snippets say so. */
static void test_provider_down_defers_then_fallback(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_result res;
    struct store_job j;
    struct store_llm_attempt *items = NULL;
    struct snips s;
    ingest_worker *w = NULL;
    char *next = NULL;
    int64_t now = sw_now_ms(), t;
    size_t i, n = 0;
    int did;

    fx_fake(f, 500, NULL);
    fx_outbound(f, "<out3@snip.example>", &res);
    memset(&wo, 0, sizeof(wo));
    wo.fallback_after = 2;
    wo.backoff_base_ms = 1000;
    ASSERT_OK(ingest_worker_new(f->s, f->oc, f->bc, &wo, &w));
    /* First failure: deferred by the base backoff. */
    ASSERT_OK(ingest_worker_run_one(w, now, &did));
    ASSERT_EQ(did, 1);
    ASSERT_EQ(jobs_pending(f), 1);
    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next(f->s, INT64_MAX / 4, &j));
    ASSERT_EQ(j.attempts, 1);
    assert_true(j.not_before_ms >= now + 1000);
    assert_non_null(j.last_error);
    assert_true(j.last_error[0] != '\0');
    t = j.not_before_ms;
    store_job_clear(&j);
    /* Not due yet: nothing runs. */
    ASSERT_OK(ingest_worker_run_one(w, now + 1, &did));
    ASSERT_EQ(did, 0);
    /* Second failure: the backoff doubles. */
    ASSERT_OK(ingest_worker_run_one(w, t, &did));
    ASSERT_EQ(did, 1);
    ASSERT_EQ(jobs_pending(f), 1);
    ASSERT_OK(store_job_next(f->s, INT64_MAX / 4, &j));
    ASSERT_EQ(j.attempts, 2);
    assert_true(j.not_before_ms >= t + 2000);
    t = j.not_before_ms;
    store_job_clear(&j);
    /* Third run: the builtin fallback finishes it. */
    ASSERT_EQ(drain(w, t), 1);
    ASSERT_EQ(jobs_pending(f), 0);
    snips_load(f, &s);
    assert_true(snips_live(&s, 0) >= 2);
    for (i = 0; i < s.n; i++)
        assert_string_equal(s.v[i].provenance, "fallback:builtin/builtin-v1");
    snips_clear(&s);
    /* The journal holds both provider errors and the fallback's success. */
    ASSERT_OK(store_llm_journal_list(f->s, f->team.team_id, res.email_id, 10,
                                     NULL, &items, &n, &next, NULL));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(items[0].outcome, STORE_LLM_OK);
    assert_string_equal(items[0].provider, "builtin");
    ASSERT_EQ(items[1].outcome, STORE_LLM_PROVIDER_ERROR);
    ASSERT_EQ(items[2].outcome, STORE_LLM_PROVIDER_ERROR);
    store_llm_attempts_free(items, n);
    sw_free(next);
    ingest_worker_free(&w);
    ingest_result_clear(&res);
}

/* A failed call is deferred by the backoff counted from the failure: a
 * call that took 1.2 s before failing is not retried 1 s after it began. */
static void test_backoff_from_failure(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_result res;
    struct store_job j;
    ingest_worker *w = NULL;
    int64_t now = sw_now_ms();
    int did;

    fx_fake_ex(f, 500, NULL, 1.2, 0);
    fx_outbound(f, "<out-slow@snip.example>", &res);
    memset(&wo, 0, sizeof(wo));
    wo.backoff_base_ms = 1000;
    ASSERT_OK(ingest_worker_new(f->s, f->oc, f->bc, &wo, &w));
    ASSERT_OK(ingest_worker_run_one(w, now, &did));
    ASSERT_EQ(did, 1);
    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next(f->s, INT64_MAX / 4, &j));
    ASSERT_EQ(j.attempts, 1);
    assert_true(j.not_before_ms >= now + 1200 + 1000);
    assert_true(j.not_before_ms <= now + 1200 + 1250 + 5000);
    store_job_clear(&j);
    ingest_worker_free(&w);
    ingest_result_clear(&res);
}

/* With the team's paid budget spent, the builtin fallback answers at once
 * (it costs nothing): no deferral, nothing left pending. */
static void test_budget_spent_falls_back_now(void **state)
{
    struct fx *f = *state;
    struct ingest_result r1, r2;
    struct snips s;
    ingest_worker *w = NULL;
    size_t i, fb = 0, paid = 0;

    fx_fake_ex(f, 200, FAKE_ANSWER, 0.0, 1);
    fx_outbound(f, "<out-b1@snip.example>", &r1);
    fx_outbound(f, "<out-b2@snip.example>", &r2);
    ASSERT_OK(ingest_worker_new(f->s, f->oc, f->bc, NULL, &w));
    ASSERT_EQ(drain(w, 0), 2);
    ASSERT_EQ(jobs_pending(f), 0);
    snips_load(f, &s);
    for (i = 0; i < s.n; i++) {
        fb += strncmp(s.v[i].provenance, "fallback:builtin", 16) == 0;
        paid += strncmp(s.v[i].provenance, "llm:", 4) == 0;
    }
    assert_true(paid >= 1); /* the first mail, before the budget was spent */
    assert_true(fb >= 1);   /* the second, by the builtin at once */
    snips_clear(&s);
    ingest_worker_free(&w);
    ingest_result_clear(&r1);
    ingest_result_clear(&r2);
}

/* An unreachable endpoint (a closed port) is a provider failure too. */
static void test_closed_port_defers(void **state)
{
    struct fx *f = *state;
    struct llm_openai_opts o;
    struct llm_provider *p = NULL;
    llm_client *c = NULL;
    struct ingest_result res;
    struct store_job j;
    ingest_worker *w = NULL;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char url[128];
    int fd, did;

    /* A port that was just free: bind, read it, close. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", ntohs(sa.sin_port));
    memset(&o, 0, sizeof(o));
    o.base_url = url;
    o.model = "m";
    o.max_http_retries = 1;
    o.backoff_base_ms = 1;
    o.connect_timeout_ms = 1000;
    ASSERT_OK(llm_provider_openai_new(&o, &p));
    ASSERT_OK(llm_client_new(p, f->s, NULL, &c));
    fx_outbound(f, "<out4@snip.example>", &res);
    ASSERT_OK(ingest_worker_new(f->s, c, f->bc, NULL, &w));
    ASSERT_OK(ingest_worker_run_one(w, 0, &did));
    ASSERT_EQ(did, 1);
    ASSERT_EQ(jobs_pending(f), 1);
    memset(&j, 0, sizeof(j));
    ASSERT_OK(store_job_next(f->s, INT64_MAX / 4, &j));
    ASSERT_EQ(j.attempts, 1);
    assert_true(j.not_before_ms > sw_now_ms());
    store_job_clear(&j);
    ingest_worker_free(&w);
    llm_client_free(&c);
    llm_provider_free(&p);
    ingest_result_clear(&res);
}

/* Re-extraction with a newer model replaces the email's snippets (same
 * ids for the same places, left-overs redacted), keeps a user's redaction,
 * and never duplicates. */
static void test_reextract_replaces(void **state)
{
    struct fx *f = *state;
    struct ingest_result res;
    struct snips a, b;
    ingest_worker *w = NULL;
    char redacted[32] = "";
    size_t i, k, n = 0, framings;

    fx_outbound(f, "<out5@snip.example>", &res);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &w));
    ASSERT_EQ(drain(w, 0), 1);
    snips_load(f, &a);
    framings = snips_live(&a, STORE_SNIPPET_FRAMING);
    assert_true(framings >= 1);
    assert_true(snips_live(&a, STORE_SNIPPET_KEY_PASSAGE) >= 2);
    /* The same provider again: nothing is duplicated or rewritten. */
    ASSERT_OK(ingest_reextract(f->s, f->team.team_id, 0, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(drain(w, 0), 1);
    snips_load(f, &b);
    ASSERT_EQ(b.n, a.n);
    ASSERT_EQ(snips_live(&b, 0), snips_live(&a, 0));
    for (i = 0; i < b.n; i++) {
        for (k = 0; k < a.n; k++)
            if (strcmp(a.v[k].snippet_id, b.v[i].snippet_id) == 0)
                break;
        assert_true(k < a.n);
        assert_string_equal(a.v[k].text, b.v[i].text);
        /* The same answer (from the cache): nothing rewritten, so the
         * index has nothing to redo. */
        ASSERT_EQ(b.v[i].seq, a.v[k].seq);
    }
    /* A user redacts the last passage (not the first: the newer answer
     * below must redact every left-over from the first one on). */
    for (i = 0; i < b.n; i++)
        if (b.v[i].kind == STORE_SNIPPET_KEY_PASSAGE)
            snprintf(redacted, sizeof(redacted), "%s", b.v[i].snippet_id);
    ASSERT_OK(store_snippet_delete(f->s, f->team.team_id, redacted));
    snips_clear(&b);
    /* A newer model answers one framing and no passages. */
    ingest_worker_free(&w);
    fx_fake(f, 200, FAKE_ANSWER);
    ASSERT_OK(ingest_worker_new(f->s, f->oc, f->bc, NULL, &w));
    ASSERT_OK(ingest_reextract(f->s, NULL, SENT_MS, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(ingest_reextract(f->s, f->team.team_id, SENT_MS + DAY_MS, &n));
    ASSERT_EQ(n, 0); /* nothing that recent */
    ASSERT_EQ(drain(w, 0), 1);
    snips_load(f, &b);
    ASSERT_EQ(b.n, a.n); /* the same ids, no new ones */
    ASSERT_EQ(snips_live(&b, STORE_SNIPPET_FRAMING), 1);
    ASSERT_EQ(snips_live(&b, STORE_SNIPPET_KEY_PASSAGE), 0);
    for (i = 0; i < b.n; i++) {
        if (b.v[i].deleted) {
            assert_string_equal(b.v[i].text, "");
            continue;
        }
        assert_string_equal(b.v[i].text, FAKE_FRAMING);
        assert_string_equal(b.v[i].topic, "case_study");
        assert_non_null(strstr(b.v[i].provenance, "fake-model-2"));
    }
    snips_clear(&a);
    snips_clear(&b);
    /* The builtin again: the framings and passages come back, except the
     * one a user redacted. */
    ingest_worker_free(&w);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &w));
    ASSERT_OK(ingest_reextract(f->s, f->team.team_id, 0, &n));
    ASSERT_EQ(drain(w, 0), 1);
    snips_load(f, &b);
    for (i = 0; i < b.n; i++)
        if (strcmp(b.v[i].snippet_id, redacted) == 0) {
            ASSERT_EQ(b.v[i].deleted, 1);
            assert_string_equal(b.v[i].text, "");
        }
    assert_true(snips_live(&b, STORE_SNIPPET_KEY_PASSAGE) >= 1);
    ASSERT_EQ(snips_live(&b, STORE_SNIPPET_FRAMING), framings);
    snips_clear(&b);
    ASSERT_ERR(ingest_reextract(f->s, "team_00000000000000ff", 0, &n),
               SW_ENOTFOUND);
    assert_clean(f);
    ingest_worker_free(&w);
    ingest_result_clear(&res);
}

/* Outbound mail with a link but no document has nothing to cite: the job
 * is finished without a provider call (no journal entry, no spend). */
static void test_nothing_to_extract(void **state)
{
    struct fx *f = *state;
    struct ingest_request r;
    struct ingest_fields fl;
    struct ingest_result res;
    struct ingest_worker_stats st;
    struct store_llm_attempt *items = NULL;
    ingest_worker *w = NULL;
    char *to[1] = {"pat@prospect.example"};
    char *next = NULL;
    size_t n = 9;

    memset(&fl, 0, sizeof(fl));
    fl.message_id = "<links@snip.example>";
    fl.subject = "Our deck";
    fl.from = "rita@snip.example";
    fl.to = to;
    fl.n_to = 1;
    fl.sent_ms = SENT_MS;
    fl.text_body = "Hi Pat, the deck is at https://snip.example/deck.pdf\n";
    memset(&r, 0, sizeof(r));
    r.fields = &fl;
    ASSERT_OK(ingest_email(f->p, f->team.team_id, &r, &res, NULL, NULL));
    assert_true(res.job_id > 0);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &w));
    ASSERT_EQ(drain(w, 0), 1);
    ASSERT_EQ(jobs_pending(f), 0);
    ingest_worker_stats(w, &st);
    ASSERT_EQ(st.skipped, 1);
    ASSERT_EQ(st.done, 0);
    ASSERT_OK(store_llm_journal_list(f->s, f->team.team_id, NULL, 10, NULL,
                                     &items, &n, &next, NULL));
    ASSERT_EQ(n, 0);
    store_llm_attempts_free(items, n);
    sw_free(next);
    ingest_worker_free(&w);
    ingest_result_clear(&res);
}

/* The worker's own thread drains the queue and stops cleanly. */
static void test_thread_start_stop(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_worker_stats st;
    struct ingest_result res;
    ingest_worker *w = NULL;
    int i;

    fx_outbound(f, "<out6@snip.example>", &res);
    memset(&wo, 0, sizeof(wo));
    wo.idle_ms = 5;
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, &wo, &w));
    ASSERT_OK(ingest_worker_start(w));
    ASSERT_ERR(ingest_worker_start(w), SW_ESTATE);
    /* Bounded wait for the queue to empty (the worker polls every 5 ms). */
    for (i = 0; i < 2000 && jobs_pending(f) != 0; i++)
        usleep(5000);
    ASSERT_EQ(jobs_pending(f), 0);
    ingest_worker_stop(w);
    ingest_worker_stats(w, &st);
    ASSERT_EQ(st.done, 1);
    ingest_worker_stop(w); /* idempotent */
    ingest_worker_free(&w);
    ingest_result_clear(&res);
}

/* What the pipeline's on_jobs hook saw, and the worker it kicks. */
struct kick_count {
    ingest_worker *w;
    int calls;
};

static void kick_hook(void *arg)
{
    struct kick_count *k = arg;

    k->calls++; /* on the committer thread, under the pipeline's lock */
    ingest_worker_kick(k->w);
}

/* wait_done waits (bounded: 10 s) until w has finished n jobs; returns the
 * count reached. */
static uint64_t wait_done(ingest_worker *w, uint64_t n)
{
    struct ingest_worker_stats st;
    int i;

    for (i = 0; i < 1000; i++) {
        ingest_worker_stats(w, &st);
        if (st.done >= n)
            break;
        usleep(10000);
    }
    return st.done;
}

/* A commit that queued a job calls the pipeline's on_jobs hook, which
 * kicks the worker: with a ten-minute idle wait, both jobs (queued while
 * the threads wait) are done within the bounded wait. A duplicate email
 * queues no job and calls no hook. */
static void test_kick_wakes_idle_worker(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_result a, b, dup;
    struct ingest_request r;
    struct ingest_fields fl;
    struct kick_count k;

    memset(&wo, 0, sizeof(wo));
    wo.threads = 2;
    wo.idle_ms = 600000;
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, &wo, &f->w));
    k.w = f->w;
    k.calls = 0;
    ingest_pipeline_on_jobs(f->p, kick_hook, &k);
    ASSERT_OK(ingest_worker_start(f->w));
    fx_outbound(f, "<kick1@snip.example>", &a);
    ASSERT_EQ(k.calls, 1);
    ASSERT_EQ(wait_done(f->w, 1), 1);
    /* The threads are in their wait now, or about to enter it: only the
     * kick brings the second job in before ten minutes. */
    fx_outbound(f, "<kick2@snip.example>", &b);
    ASSERT_EQ(k.calls, 2);
    ASSERT_EQ(wait_done(f->w, 2), 2);
    memset(&fl, 0, sizeof(fl));
    fl.message_id = "<kick2@snip.example>";
    fl.from = "Rita <rita@snip.example>";
    fl.text_body = outbound_body;
    memset(&r, 0, sizeof(r));
    r.fields = &fl;
    ASSERT_OK(ingest_email(f->p, f->team.team_id, &r, &dup, NULL, NULL));
    ASSERT_EQ(dup.status, INGEST_DUPLICATE);
    ASSERT_EQ(dup.job_id, 0);
    ASSERT_EQ(k.calls, 2);
    ASSERT_EQ(jobs_pending(f), 0);
    ingest_pipeline_on_jobs(f->p, NULL, NULL);
    ingest_worker_stop(f->w);
    ingest_worker_free(&f->w);
    ingest_result_clear(&dup);
    ingest_result_clear(&b);
    ingest_result_clear(&a);
}

/* --- fairness across teams ---------------------------------------------- */

/* The marker of the mails whose calls go to the stalling endpoint. */
#define STALL_MARK "Ref: slow"

/* A provider that routes each request by its mail's text: to sp[0] when
 * it holds STALL_MARK, else to sp[1]. It stands for teams whose calls
 * meet different fates at one endpoint (a slow model on long mail, a
 * stalled connection). */
static sw_err router_complete(struct llm_provider *p,
                              const struct llm_request *r,
                              struct llm_response *out)
{
    struct llm_provider **sp = p->impl;
    int slow = r->in && r->in->text && strstr(r->in->text, STALL_MARK);

    return llm_provider_complete(sp[slow ? 0 : 1], r, out);
}

static void router_destroy(struct llm_provider *p)
{
    (void)p; /* sp[] belongs to the fixture */
}

static const struct llm_provider_ops router_ops = {router_complete,
                                                   router_destroy};

/* fx_router starts two fake servers, sp[0] answering after delay_s
 * seconds (every request) and sp[1] at once, and makes f->rc over a
 * router between them (timeouts far above the delay). */
static void fx_router(struct fx *f, int delay_s)
{
    struct llm_openai_opts o;
    struct llm_call_opts co;
    char dir[TEST_PATH_MAX + 16], script[512], url[128];
    int i;

    for (i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/srv%c", f->dir, '0' + i);
        assert_int_equal(mkdir(dir, 0700), 0);
        snprintf(script, sizeof(script),
                 "[{\"status\": 200, \"delay\": %d, \"content\": %s}]",
                 i == 0 ? delay_s : 0, FAKE_ANSWER);
        fake_srv_start(&f->srv[i], dir, script, 0);
        memset(&o, 0, sizeof(o));
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", f->srv[i].port);
        o.base_url = url;
        o.model = "fake-model-2";
        o.api_key = "sk-test";
        o.timeout_ms = 120000;
        o.max_http_retries = -1; /* none */
        ASSERT_OK(llm_provider_openai_new(&o, &f->sp[i]));
    }
    f->rp = sw_calloc(1, sizeof(*f->rp));
    assert_non_null(f->rp);
    f->rp->ops = &router_ops;
    f->rp->name = sw_strdup("router");
    f->rp->model = sw_strdup("fake-model-2");
    f->rp->impl = f->sp;
    assert_non_null(f->rp->name);
    assert_non_null(f->rp->model);
    llm_call_opts_default(&co);
    co.max_retries = 0;
    ASSERT_OK(llm_client_new(f->rp, f->s, &co, &f->rc));
}

/* fx_team makes a second team whose rep is bob@beta.example. */
static void fx_team(struct fx *f, struct store_team *t)
{
    ASSERT_OK(store_team_create(f->s, "Beta", t, NULL, NULL));
    ASSERT_OK(store_member_add(f->s, t->team_id, "bob@beta.example", "Bob",
                               NULL, NULL));
    ASSERT_OK(store_domain_add(f->s, t->team_id, "beta.example", NULL, NULL));
}

/* fx_mail ingests outbound mail number i of team (from rep) with the deck
 * attached; ref ends the body (STALL_MARK routes it to the slow endpoint)
 * and makes each prompt different, so that no call is a cache hit.
 * email_id receives the email's id. */
static void fx_mail(struct fx *f, const char *team, const char *rep, int i,
                    const char *ref, char email_id[64])
{
    struct ingest_request r;
    struct ingest_fields fl;
    struct ingest_file file;
    struct ingest_result res;
    char *to[1] = {"pat@prospect.example"};
    char msgid[96], body[sizeof(outbound_body) + 64];

    snprintf(msgid, sizeof(msgid), "<fair%d.%s@mail.example>", i, team);
    snprintf(body, sizeof(body), "%s\n%s %d\n", outbound_body, ref, i);
    memset(&fl, 0, sizeof(fl));
    memset(&file, 0, sizeof(file));
    fl.message_id = msgid;
    fl.subject = "Acme case study";
    fl.from = rep;
    fl.to = to;
    fl.n_to = 1;
    fl.sent_ms = SENT_MS + i;
    fl.text_body = body;
    file.filename = deck_name;
    file.content_type = "text/plain";
    file.data = deck_text;
    file.len = strlen(deck_text);
    fl.files = &file;
    fl.n_files = 1;
    memset(&r, 0, sizeof(r));
    r.fields = &fl;
    ASSERT_OK(ingest_email(f->p, team, &r, &res, NULL, NULL));
    ASSERT_EQ(res.status, INGEST_NEW);
    ASSERT_EQ(res.direction, INGEST_DIR_OUTBOUND);
    assert_true(res.job_id > 0);
    snprintf(email_id, 64, "%s", res.email_id);
    ingest_result_clear(&res);
}

static uint64_t team_pending(struct fx *f, const char *team)
{
    uint64_t n = 99;

    ASSERT_OK(store_job_team_pending(f->s, team, &n));
    return n;
}

/* assert_once: email_id of team was extracted exactly once: one journal
 * entry (one call), and one live framing snippet, the fake model's (or
 * any, when want is NULL). */
static void assert_once(struct fx *f, const char *team, const char *email_id,
                        const char *want)
{
    struct store_llm_attempt *items = NULL;
    struct snips s;
    char *next = NULL;
    size_t i, n = 0, framings = 0;

    ASSERT_OK(store_llm_journal_list(f->s, team, email_id, 10, NULL, &items, &n,
                                     &next, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(items[0].outcome, STORE_LLM_OK);
    store_llm_attempts_free(items, n);
    sw_free(next);
    memset(&s, 0, sizeof(s));
    ASSERT_OK(store_snippet_since(f->s, team, 0, 0, snips_add, &s));
    for (i = 0; i < s.n; i++) {
        if (s.v[i].deleted || s.v[i].kind != STORE_SNIPPET_FRAMING ||
            strcmp(s.v[i].email_id, email_id) != 0)
            continue;
        framings++;
        if (want)
            assert_string_equal(s.v[i].text, want);
    }
    snips_clear(&s);
    if (want)
        ASSERT_EQ(framings, 1);
    else
        assert_true(framings >= 1);
}

/* Two teams, two threads. Every call of team A stalls (12 s at the
 * endpoint); team B's jobs all complete while A's first call is still
 * stuck: A holds one thread, not both (one thread, or two that both take
 * A's oldest jobs, fail here). Then A's jobs complete too, one at a time,
 * and nothing is lost or run twice. */
static void test_stalled_team_does_not_hold_others(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_worker_stats st;
    struct store_team b;
    char a_ids[2][64], b_ids[3][64];
    json_t *reqs;
    int i;

    memset(&b, 0, sizeof(b));
    fx_team(f, &b);
    fx_router(f, 12);
    /* A's mails first: oldest first would run them before any of B's. */
    for (i = 0; i < 2; i++)
        fx_mail(f, f->team.team_id, "Rita <rita@snip.example>", i, STALL_MARK,
                a_ids[i]);
    for (i = 0; i < 3; i++)
        fx_mail(f, b.team_id, "Bob <bob@beta.example>", 10 + i, "Ref: fast",
                b_ids[i]);
    memset(&wo, 0, sizeof(wo));
    wo.threads = 2;
    wo.idle_ms = 20;
    ASSERT_OK(ingest_worker_new(f->s, f->rc, f->bc, &wo, &f->w));
    ASSERT_OK(ingest_worker_start(f->w));
    /* Bounded wait: B drains, or A's first call ends (then B was held). */
    for (i = 0; i < 1000 && team_pending(f, b.team_id) != 0 &&
                team_pending(f, f->team.team_id) == 2;
         i++)
        usleep(10000);
    ASSERT_EQ(team_pending(f, b.team_id), 0);
    /* ... while A's first call was still stuck at the endpoint. */
    ASSERT_EQ(team_pending(f, f->team.team_id), 2);
    reqs = fake_srv_requests(&f->srv[0]);
    ASSERT_EQ(json_array_size(reqs), 1);
    json_decref(reqs);
    for (i = 0; i < 3; i++)
        assert_once(f, b.team_id, b_ids[i], FAKE_FRAMING);
    /* Then A's jobs complete (12 s each, one after the other). */
    for (i = 0; i < 6000 && team_pending(f, f->team.team_id) != 0; i++)
        usleep(10000);
    ASSERT_EQ(team_pending(f, f->team.team_id), 0);
    ASSERT_EQ(jobs_pending(f), 0);
    ingest_worker_stop(f->w);
    for (i = 0; i < 2; i++)
        assert_once(f, f->team.team_id, a_ids[i], FAKE_FRAMING);
    reqs = fake_srv_requests(&f->srv[0]);
    ASSERT_EQ(json_array_size(reqs), 2);
    json_decref(reqs);
    reqs = fake_srv_requests(&f->srv[1]);
    ASSERT_EQ(json_array_size(reqs), 3);
    json_decref(reqs);
    ingest_worker_stats(f->w, &st);
    ASSERT_EQ(st.done, 5);
    ASSERT_EQ(st.deferred, 0);
    assert_clean(f);
    ingest_worker_free(&f->w);
    store_team_clear(&b);
}

/* One team with many jobs on two threads: every job runs exactly once. */
static void test_pool_runs_each_job_once(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_worker_stats st;
    char ids[24][64];
    int i;

    for (i = 0; i < 24; i++)
        fx_mail(f, f->team.team_id, "Rita <rita@snip.example>", i,
                "Ref:", ids[i]);
    ASSERT_EQ(team_pending(f, f->team.team_id), 24);
    memset(&wo, 0, sizeof(wo));
    wo.threads = 2;
    wo.idle_ms = 5;
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, &wo, &f->w));
    ASSERT_OK(ingest_worker_start(f->w));
    for (i = 0; i < 3000 && team_pending(f, f->team.team_id) != 0; i++)
        usleep(10000);
    ASSERT_EQ(team_pending(f, f->team.team_id), 0);
    ingest_worker_stop(f->w);
    ingest_worker_stats(f->w, &st);
    ASSERT_EQ(st.done, 24);
    ASSERT_EQ(st.deferred, 0);
    ASSERT_EQ(jobs_pending(f), 0);
    for (i = 0; i < 24; i++)
        assert_once(f, f->team.team_id, ids[i], NULL);
    assert_clean(f);
    ingest_worker_free(&f->w);
}

/* One caller, two teams: a backlog of A's does not put B's jobs behind
 * it; the picks alternate between the teams while both have due jobs. */
static void test_backlog_round_robin(void **state)
{
    struct fx *f = *state;
    struct store_team b;
    char id[64];
    uint64_t pa, pb, last_a, last_b;
    int i, did, turns_a = 0, turns_b = 0;

    memset(&b, 0, sizeof(b));
    fx_team(f, &b);
    for (i = 0; i < 6; i++)
        fx_mail(f, f->team.team_id, "Rita <rita@snip.example>", i, "Ref:", id);
    for (i = 0; i < 2; i++)
        fx_mail(f, b.team_id, "Bob <bob@beta.example>", 10 + i, "Ref:", id);
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, NULL, &f->w));
    last_a = team_pending(f, f->team.team_id);
    last_b = team_pending(f, b.team_id);
    /* The first four picks: two of each team, alternating. */
    for (i = 0; i < 4; i++) {
        ASSERT_OK(ingest_worker_run_one(f->w, 0, &did));
        ASSERT_EQ(did, 1);
        pa = team_pending(f, f->team.team_id);
        pb = team_pending(f, b.team_id);
        ASSERT_EQ((last_a - pa) + (last_b - pb), 1);
        turns_a += last_a != pa;
        turns_b += last_b != pb;
        assert_true(turns_a - turns_b <= 1 && turns_b - turns_a <= 1);
        last_a = pa;
        last_b = pb;
    }
    ASSERT_EQ(team_pending(f, b.team_id), 0);
    ASSERT_EQ(drain(f->w, 0), 4);
    ASSERT_EQ(jobs_pending(f), 0);
    assert_clean(f);
    ingest_worker_free(&f->w);
    store_team_clear(&b);
}

/* --- group commit --------------------------------------------------------- */

static uint64_t last_txn(struct fx *f)
{
    struct store_stats st;

    ASSERT_OK(store_stat(f->s, &st));
    return st.last_txn_id;
}

/* A group: the jobs of the team picked, committed in one write transaction
 * with their journal; the other team's jobs are left for the next group;
 * max bounds a group. */
static void test_group_one_commit(void **state)
{
    struct fx *f = *state;
    struct ingest_worker_opts wo;
    struct ingest_worker_stats st;
    struct store_team b;
    char a_ids[10][64], b_ids[2][64], id[64];
    const char *first, *second;
    uint64_t txn;
    size_t did;
    int i;

    memset(&b, 0, sizeof(b));
    fx_team(f, &b);
    for (i = 0; i < 10; i++)
        fx_mail(f, f->team.team_id, "Rita <rita@snip.example>", i,
                "Ref:", a_ids[i]);
    for (i = 0; i < 2; i++)
        fx_mail(f, b.team_id, "Bob <bob@beta.example>", 20 + i,
                "Ref:", b_ids[i]);
    memset(&wo, 0, sizeof(wo));
    wo.group_ms = 600000; /* the group is bounded by its jobs only */
    ASSERT_OK(ingest_worker_new(f->s, f->bc, f->bc, &wo, &f->w));
    /* The fair pick starts with either team; its group takes all of its
     * due jobs, in one commit (the result and the journal of each). */
    txn = last_txn(f);
    ASSERT_OK(ingest_worker_run_group(f->w, 0, 64, &did));
    ASSERT_EQ(last_txn(f), txn + 1);
    first = team_pending(f, f->team.team_id) == 0 ? f->team.team_id : b.team_id;
    second = first == b.team_id ? f->team.team_id : b.team_id;
    ASSERT_EQ(did, first == b.team_id ? 2 : 10);
    ASSERT_EQ(team_pending(f, first), 0);
    ASSERT_EQ(team_pending(f, second), first == b.team_id ? 10 : 2);
    txn = last_txn(f);
    ASSERT_OK(ingest_worker_run_group(f->w, 0, 64, &did));
    ASSERT_EQ(last_txn(f), txn + 1);
    ASSERT_EQ(did, first == b.team_id ? 10 : 2);
    ASSERT_EQ(jobs_pending(f), 0);
    for (i = 0; i < 10; i++)
        assert_once(f, f->team.team_id, a_ids[i], NULL);
    for (i = 0; i < 2; i++)
        assert_once(f, b.team_id, b_ids[i], NULL);
    ingest_worker_stats(f->w, &st);
    ASSERT_EQ(st.done, 12);
    /* max: a group of two, in enqueue order, then the rest. */
    for (i = 0; i < 5; i++)
        fx_mail(f, f->team.team_id, "Rita <rita@snip.example>", 40 + i,
                "Ref:", id);
    ASSERT_OK(ingest_worker_run_group(f->w, 0, 2, &did));
    ASSERT_EQ(did, 2);
    ASSERT_EQ(team_pending(f, f->team.team_id), 3);
    ASSERT_OK(ingest_worker_run_group(f->w, 0, 64, &did));
    ASSERT_EQ(did, 3);
    ASSERT_EQ(jobs_pending(f), 0);
    assert_clean(f);
    ingest_worker_free(&f->w);
    store_team_clear(&b);
}

/* A provider that meddles while it answers: on the request whose mail
 * holds MEDDLE_MARK it first does to the store what another process could
 * do during a call (finish the job, or erase its email), then answers as
 * the builtin extractor. */
#define MEDDLE_MARK "Ref: meddle"

struct meddler {
    struct llm_provider *inner;
    store *s;
    const char *team;
    const char *email_id;
    int erase; /* 1: erase the email; 0: finish its job */
    int done;
};

static sw_err meddle_finish_txn(store_txn *t, void *arg)
{
    const struct store_job *j = arg;
    return store_job_finish(t, j->job_id);
}

static sw_err meddler_complete(struct llm_provider *p,
                               const struct llm_request *r,
                               struct llm_response *out)
{
    struct meddler *m = p->impl;
    struct store_erase_counts ec;
    struct store_job j;
    uint64_t after = 0;

    if (r->in && r->in->text && strstr(r->in->text, MEDDLE_MARK) && !m->done) {
        m->done = 1;
        if (m->erase) {
            memset(&ec, 0, sizeof(ec));
            ASSERT_OK(store_email_erase(m->s, m->team, m->email_id,
                                        STORE_ERASE_KEEP_CONTENT, &ec));
            store_erase_counts_clear(&ec);
        } else {
            memset(&j, 0, sizeof(j));
            for (;;) { /* the email's job, among the team's */
                ASSERT_OK(store_job_next_of_team(m->s, sw_now_ms(), m->team,
                                                 after, &j));
                after = j.job_id;
                if (strcmp(j.email_id, m->email_id) == 0)
                    break;
                store_job_clear(&j);
            }
            ASSERT_OK(store_update(m->s, meddle_finish_txn, &j));
            store_job_clear(&j);
        }
    }
    return llm_provider_complete(m->inner, r, out);
}

static void meddler_destroy(struct llm_provider *p)
{
    (void)p; /* the meddler is the case's */
}

static const struct llm_provider_ops meddler_ops = {meddler_complete,
                                                    meddler_destroy};

/* journal_n counts email_id's journal entries. */
static size_t journal_n(struct fx *f, const char *email_id)
{
    struct store_llm_attempt *items = NULL;
    char *next = NULL;
    size_t n = 0;

    ASSERT_OK(store_llm_journal_list(f->s, f->team.team_id, email_id, 10, NULL,
                                     &items, &n, &next, NULL));
    store_llm_attempts_free(items, n);
    sw_free(next);
    return n;
}

/* A group of three whose middle job is finished elsewhere during its call
 * (erase = 0), or whose middle email is erased then (erase = 1): the
 * other two are stored once each; the middle one gets nothing, but the
 * journal of its call when only its job went (its tokens were spent). */
static void group_meddled(struct fx *f, int erase)
{
    struct ingest_worker_opts wo;
    struct ingest_worker_stats st;
    struct meddler m;
    struct snips sn;
    char ids[3][64];
    uint64_t txn;
    size_t did, i;

    for (i = 0; i < 3; i++)
        fx_mail(f, f->team.team_id, "Rita <rita@snip.example>", (int)i,
                i == 1 ? MEDDLE_MARK : "Ref:", ids[i]);
    memset(&m, 0, sizeof(m));
    m.inner = f->bp;
    m.s = f->s;
    m.team = f->team.team_id;
    m.email_id = ids[1];
    m.erase = erase;
    f->rp = sw_calloc(1, sizeof(*f->rp));
    assert_non_null(f->rp);
    f->rp->ops = &meddler_ops;
    f->rp->name = sw_strdup("builtin");
    f->rp->model = sw_strdup("builtin-v1");
    f->rp->no_cost = 1;
    f->rp->impl = &m;
    ASSERT_OK(llm_client_new(f->rp, f->s, NULL, &f->rc));
    memset(&wo, 0, sizeof(wo));
    wo.group_ms = 600000;
    ASSERT_OK(ingest_worker_new(f->s, f->rc, f->bc, &wo, &f->w));
    txn = last_txn(f);
    ASSERT_OK(ingest_worker_run_group(f->w, 0, 64, &did));
    ASSERT_EQ(did, 3);
    ASSERT_EQ(m.done, 1);
    /* The erasure, then the group in one commit; a finished job fails the
     * group: each job alone, the middle one's journal by itself. */
    ASSERT_EQ(last_txn(f), txn + (erase ? 2 : 4));
    ASSERT_EQ(jobs_pending(f), 0);
    assert_once(f, f->team.team_id, ids[0], NULL);
    assert_once(f, f->team.team_id, ids[2], NULL);
    ASSERT_EQ(journal_n(f, ids[1]), erase ? 0 : 1);
    memset(&sn, 0, sizeof(sn));
    ASSERT_OK(store_snippet_since(f->s, f->team.team_id, 0, 0, snips_add, &sn));
    for (i = 0; i < sn.n; i++)
        if (!sn.v[i].deleted && sn.v[i].email_id &&
            strcmp(sn.v[i].email_id, ids[1]) == 0)
            fail_msg("a snippet of the meddled email: %s", sn.v[i].text);
    snips_clear(&sn);
    ingest_worker_stats(f->w, &st);
    ASSERT_EQ(st.done, 2);
    assert_clean(f);
    ingest_worker_free(&f->w);
}

static void test_group_job_finished_elsewhere(void **state)
{
    group_meddled(*state, 0);
}

static void test_group_email_erased(void **state)
{
    group_meddled(*state, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbound_builtin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passages_kept_on_reattach, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reply_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_from_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_budget_spent_falls_back_now, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_provider_down_defers_then_fallback,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_port_defers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reextract_replaces, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nothing_to_extract, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thread_start_stop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kick_wakes_idle_worker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stalled_team_does_not_hold_others,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_runs_each_job_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_group_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_job_finished_elsewhere,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_email_erased, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backlog_round_robin, setup,
                                        teardown),
    };

    if (llm_http_global_init() != SW_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
