/* worker_test: the extraction worker over a real store and ingest pipeline:
 * outbound mail with an attachment becomes builtin snippets, a reply
 * becomes an outcome on its thread, an unreachable provider defers the job
 * (never drops it) and the builtin extractor takes over after K failures,
 * re-extraction with a newer model replaces snippets instead of copying
 * them and keeps redactions. Providers are the builtin extractor and the
 * scripted fake OpenAI server (fake_openai.py) on loopback. */
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
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

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
};

static int setup(void **state)
{
    struct fx *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    f->pid = -1;
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

/* fx_fake starts fake_openai.py answering every request with status and
 * content (a JSON string literal, or NULL), and makes f->oc over it. */
static void fx_fake(struct fx *f, int status, const char *content_json)
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
    fprintf(fp, "[{\"status\": %d, \"content\": %s}]\n", status,
            content_json ? content_json : "\"\"");
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
    o.max_http_retries = 0;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 10;
    ASSERT_OK(llm_provider_openai_new(&o, &f->op));
    llm_call_opts_default(&co);
    co.max_retries = 0;
    ASSERT_OK(llm_client_new(f->op, f->s, &co, &f->oc));
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
    fx_fake(f, 200,
            "\"{\\\"framings\\\":[{\\\"text\\\":\\\"" FAKE_FRAMING
            "\\\",\\\"content\\\":\\\"acme-case-study.txt\\\",\\\"start\\\":"
            "null}],\\\"passages\\\":[],\\\"tags\\\":{\\\"topic\\\":["
            "\\\"case_study\\\"],\\\"intent\\\":\\\"share_content\\\","
            "\\\"persona\\\":\\\"operations\\\",\\\"stage\\\":"
            "\\\"discovery\\\"}}\"");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbound_builtin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passages_kept_on_reattach, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reply_outcome, setup, teardown),
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
    };

    if (llm_http_global_init() != SW_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
