/* Tests of llm/call and llm/provider_openai against a scripted fake
 * OpenAI-compatible server (fake_openai.py) on loopback: valid answers,
 * re-asks on invalid JSON, schema violations and ungrounded quotes, 429,
 * 5xx, timeouts, fallbacks, budgets, the cache and the journal. Each case
 * starts its own server and store. */
#include "tests/testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "llm/call.h"
#include "llm/provider.h"
#include "llm/schemas.h"
#include "store/store.h"
#include "store/store_llm.h"

#define KEY "sk-test-SECRET-4242"
#define TEAM "team_00000000000000aa"

static const char reply_text[] =
    "Hi Bob,\n\nThanks for reaching out. I'd love to see a demo next week.\n"
    "\nCheers,\nAna";

#define VALID_REPLY                                                            \
    "{\"label\":\"POSITIVE\",\"evidence\":\"I'd love to see a demo next "      \
    "week.\"}"

struct fx {
    char dir[TEST_PATH_MAX];
    char script[TEST_PATH_MAX + 32];
    char log[TEST_PATH_MAX + 32];
    pid_t pid;
    int port;
    store *s;
    struct llm_provider *p;
    llm_client *c;
    const char *model;      /* NULL: "fake-model-1" */
    int64_t mode_retry_ms;  /* 0: the provider's default */
    int64_t backoff_max_ms; /* 0: 2000 */
};

/* One scripted answer of the fake server. */
struct step {
    int status;          /* 0 = 200 */
    const char *content; /* the model's answer */
    int retry_after;     /* seconds; -1 = no header */
    double delay;        /* seconds before answering */
    int tool;            /* answer as a tool call */
    const char *message; /* error message for non-200, or a JSON object
                          * merged into the step ("body", "headers") */
};

static void fx_script(struct fx *f, const struct step *st, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "status",
                            json_integer(st[i].status ? st[i].status : 200));
        if (st[i].content)
            json_object_set_new(o, "content", json_string(st[i].content));
        if (st[i].retry_after >= 0 && st[i].status == 429)
            json_object_set_new(o, "retry_after",
                                json_integer(st[i].retry_after));
        if (st[i].delay > 0)
            json_object_set_new(o, "delay", json_real(st[i].delay));
        if (st[i].tool)
            json_object_set_new(o, "tool", json_true());
        if (st[i].message && strncmp(st[i].message, "err:", 4) == 0) {
            /* "err:CODE:PARAM:MESSAGE": an OpenAI-style error body. */
            char code[64], param[64];
            const char *m = st[i].message + 4, *c1 = strchr(m, ':'),
                       *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            json_t *body;
            char *txt;
            assert_non_null(c2);
            snprintf(code, sizeof(code), "%.*s", (int)(c1 - m), m);
            snprintf(param, sizeof(param), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
            body = json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "message",
                             c2 + 1, "type", "invalid_request_error", "param",
                             param, "code", code);
            txt = json_dumps(body, JSON_COMPACT);
            json_object_set_new(o, "body", json_string(txt));
            free(txt);
            json_decref(body);
        } else if (st[i].message && st[i].message[0] == '{') {
            /* A JSON object: more of the step (body, headers, usage). */
            json_error_t e;
            json_t *more = json_loads(st[i].message, 0, &e);
            assert_non_null(more);
            json_object_update(o, more);
            json_decref(more);
        } else if (st[i].message) {
            json_object_set_new(o, "message", json_string(st[i].message));
        }
        json_array_append_new(a, o);
    }
    assert_int_equal(json_dump_file(a, f->script, 0), 0);
    json_decref(a);
}

/* fx_start runs the fake server and waits for its "PORT n" line. */
static void fx_start(struct fx *f, const struct step *st, size_t n)
{
    const char *srcdir = getenv("TEST_SRCDIR");
    char py[TEST_PATH_MAX], line[64];
    int pfd[2];
    ssize_t r;
    size_t k = 0;

    fx_script(f, st, n);
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
    assert_int_equal(sw_parse_int(line + 5, 1, 65535, &f->port), 0);
}

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

static void fx_client(struct fx *f, int retries, int64_t timeout_ms,
                      int max_http_retries, struct llm_call_opts *co)
{
    struct llm_openai_opts o;
    struct llm_call_opts d;
    char url[128];

    memset(&o, 0, sizeof(o));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/", f->port);
    o.base_url = url;
    o.model = f->model ? f->model : "fake-model-1";
    o.api_key = KEY;
    o.timeout_ms = timeout_ms;
    o.max_http_retries = max_http_retries ? max_http_retries : -1;
    o.backoff_base_ms = 10;
    o.backoff_max_ms = f->backoff_max_ms ? f->backoff_max_ms : 2000;
    o.mode_retry_ms = f->mode_retry_ms;
    o.max_concurrency = 2;
    ASSERT_OK(llm_provider_openai_new(&o, &f->p));
    if (co == NULL) {
        llm_call_opts_default(&d);
        d.max_retries = retries;
        co = &d;
    }
    ASSERT_OK(llm_client_new(f->p, f->s, co, &f->c));
}

/* put_team writes TEAM's team record: background writers keep nothing for
 * a team that does not exist (store_team_exists_txn). */
static sw_err put_team(store_txn *t, void *team)
{
    return store_put(t, STORE_DB_TEAMS, team, strlen(team), "", 0, 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_opts so;

    test_mkdtemp(f->dir);
    snprintf(f->script, sizeof(f->script), "%s/script.json", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/requests.jsonl", f->dir);
    memset(&so, 0, sizeof(so));
    char sdir[TEST_PATH_MAX + 16];
    snprintf(sdir, sizeof(sdir), "%s/store", f->dir);
    so.dir = sdir;
    ASSERT_OK(store_open(&so, &f->s));
    ASSERT_OK(store_update(f->s, put_team, (void *)TEAM));
    f->pid = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int st;

    llm_client_free(&f->c);
    llm_provider_free(&f->p);
    store_close(&f->s);
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, &st, 0);
    }
    test_rmtree(f->dir);
    free(f);
    return 0;
}

/* fx_requests loads the requests the server received. */
static json_t *fx_requests(struct fx *f)
{
    json_t *a = json_array();
    char line[1 << 16];
    FILE *fp = fopen(f->log, "r");

    if (fp == NULL)
        return a;
    while (fgets(line, sizeof(line), fp)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        assert_non_null(j);
        json_array_append_new(a, j);
    }
    fclose(fp);
    return a;
}

static const char *req_last_user(json_t *req)
{
    json_t *m = json_object_get(json_object_get(req, "body"), "messages");
    return json_string_value(
        json_object_get(json_array_get(m, json_array_size(m) - 1), "content"));
}

static void reply_input(struct llm_input *in)
{
    memset(in, 0, sizeof(*in));
    in->text = reply_text;
    in->len = strlen(reply_text);
}

static size_t journal_count(struct fx *f, int outcome)
{
    struct store_llm_attempt *items = NULL;
    size_t n = 0, i, k = 0;
    char *next = NULL;

    ASSERT_OK(store_llm_journal_list(f->s, TEAM, NULL, 100, NULL, &items, &n,
                                     &next, NULL));
    for (i = 0; i < n; i++)
        k += items[i].outcome == outcome;
    store_llm_attempts_free(items, n);
    sw_free(next);
    return k;
}

static void test_valid(void **state)
{
    struct fx *f = *state;
    struct llm_input in;
    struct llm_result r;
    json_t *reqs, *body, *rf;

    static const struct step st[] = {{0, VALID_REPLY, -1, 0, 0, NULL}};

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job1", &llm_schema_reply, &in, &r));
    ASSERT_EQ(r.attempts, 1);
    ASSERT_EQ(r.prompt_tokens, 10);
    ASSERT_EQ(r.completion_tokens, 5);
    assert_non_null(strstr(r.output, "POSITIVE"));
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(reqs, 0), "headers"),
                            "Authorization")),
                        "Bearer " KEY);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
        "/v1/chat/completions");
    body = json_object_get(json_array_get(reqs, 0), "body");
    assert_string_equal(json_string_value(json_object_get(body, "model")),
                        "fake-model-1");
    rf = json_object_get(body, "response_format");
    assert_string_equal(json_string_value(json_object_get(rf, "type")),
                        "json_schema");
    assert_true(json_is_true(
        json_object_get(json_object_get(rf, "json_schema"), "strict")));
    /* The schema sent is the one the validator uses: label's enum. */
    assert_int_equal(
        json_array_size(json_object_get(
            json_object_get(
                json_object_get(
                    json_object_get(json_object_get(rf, "json_schema"),
                                    "schema"),
                    "properties"),
                "label"),
            "enum")),
        6);
    json_decref(reqs);
    ASSERT_EQ(journal_count(f, STORE_LLM_OK), 1);
    llm_result_clear(&r);
}

/* A call for a team that is gone (deleted, or moved to another node, while
 * the call ran) journals nothing: no record outlives its team. */
static void test_gone_team_keeps_nothing(void **state)
{
    static const char gone[] = "team_00000000000000bb";
    static const struct step st[] = {{0, VALID_REPLY, -1, 0, 0, NULL}};
    struct fx *f = *state;
    struct store_llm_attempt *items = NULL;
    struct llm_input in;
    struct llm_result r;
    char *next = NULL;
    size_t n = 9;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, gone, "job1", &llm_schema_reply, &in, &r));
    ASSERT_OK(store_llm_journal_list(f->s, gone, NULL, 100, NULL, &items, &n,
                                     &next, NULL));
    ASSERT_EQ(n, 0);
    store_llm_attempts_free(items, n);
    sw_free(next);
    llm_result_clear(&r);
}

/* Invalid JSON, then a valid answer: the re-ask carries the parse error
 * and the model's own answer. */
static void test_invalid_json_reask(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0, "{\"label\": \"POSITIVE\", \"evidence\": ", -1, 0, 0, NULL},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs, *msgs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job2", &llm_schema_reply, &in, &r));
    ASSERT_EQ(r.attempts, 2);
    ASSERT_EQ(r.prompt_tokens, 20);
    ASSERT_EQ(r.completion_tokens, 10);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 2);
    msgs = json_object_get(json_object_get(json_array_get(reqs, 1), "body"),
                           "messages");
    ASSERT_EQ(json_array_size(msgs), 4);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(msgs, 2), "role")),
        "assistant");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(msgs, 2), "content")),
        st[0].content);
    assert_non_null(
        strstr(req_last_user(json_array_get(reqs, 1)), "not valid JSON"));
    assert_non_null(strstr(req_last_user(json_array_get(reqs, 1)), "[json]"));
    json_decref(reqs);
    ASSERT_EQ(journal_count(f, STORE_LLM_INVALID), 1);
    ASSERT_EQ(journal_count(f, STORE_LLM_OK), 1);
    llm_result_clear(&r);
}

/* A schema violation (an unknown label, an extra field), then valid. */
static void test_schema_violation_reask(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0,
         "{\"label\":\"MAYBE\",\"evidence\":\"I'd love to see a demo next "
         "week.\",\"mood\":\"happy\"}",
         -1, 0, 0, NULL},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;
    const char *u;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job3", &llm_schema_reply, &in, &r));
    ASSERT_EQ(r.attempts, 2);
    reqs = fx_requests(f);
    u = req_last_user(json_array_get(reqs, 1));
    assert_non_null(strstr(u, "label: \"MAYBE\" is not one of the allowed"));
    assert_non_null(strstr(u, "[enum]"));
    assert_non_null(strstr(u, "mood: is not a field of this schema"));
    json_decref(reqs);
    llm_result_clear(&r);
}

/* A hallucinated quote is rejected by grounding, re-asked, corrected. */
static void test_grounding_reask(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0, "{\"label\":\"POSITIVE\",\"evidence\":\"We want to buy today.\"}",
         -1, 0, 0, NULL},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job4", &llm_schema_reply, &in, &r));
    ASSERT_EQ(r.attempts, 2);
    assert_non_null(strstr(r.output, "demo next week"));
    reqs = fx_requests(f);
    assert_non_null(strstr(req_last_user(json_array_get(reqs, 1)),
                           "evidence: not found in the source text"));
    assert_non_null(
        strstr(req_last_user(json_array_get(reqs, 1)), "[not_grounded]"));
    json_decref(reqs);
    llm_result_clear(&r);
}

/* 429 with Retry-After: the provider waits and retries; one attempt. */
static void test_429_retry_after(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {429, NULL, 1, 0, 0, "rate limited"},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;
    int64_t t0 = sw_mono_ms();

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 3, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job5", &llm_schema_reply, &in, &r));
    ASSERT_EQ(r.attempts, 1);
    assert_true(sw_mono_ms() - t0 >= 900); /* honoured Retry-After: 1 */
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 2);
    json_decref(reqs);
    llm_result_clear(&r);
}

/* 500 then success: exponential backoff, then the answer. */
static void test_500_then_ok(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {500, NULL, -1, 0, 0, "boom"},
        {503, NULL, -1, 0, 0, "busy"},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 3, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job6", &llm_schema_reply, &in, &r));
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 3);
    json_decref(reqs);
    llm_result_clear(&r);
}

/* A request that times out is retried; with no retries left the call
 * fails with SW_ETIMEOUT and is journaled as a provider error. */
static void test_timeout(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0, VALID_REPLY, -1, 3.0, 0, NULL},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 300, 1, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job7", &llm_schema_reply, &in, &r));
    llm_result_clear(&r);
    /* Now every answer is late and there is no HTTP retry. */
    llm_client_free(&f->c);
    llm_provider_free(&f->p);
    kill(f->pid, SIGTERM);
    waitpid(f->pid, NULL, 0);
    {
        static const struct step late[] = {{0, VALID_REPLY, -1, 3.0, 0, NULL}};
        fx_start(f, late, NSTEPS(late));
    }
    fx_client(f, 2, 300, 0, NULL);
    ASSERT_ERR(llm_call(f->c, TEAM, "job7b", &llm_schema_reply, &in, &r),
               SW_ETIMEOUT);
    assert_non_null(r.error);
    llm_result_clear(&r);
    ASSERT_EQ(journal_count(f, STORE_LLM_PROVIDER_ERROR), 1);
}

/* Never valid: fails after the retry limit with usage summed and the last
 * output and its errors kept. */
static void test_never_valid(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0, "{\"label\":\"POSITIVE\",\"evidence\":\"made up\"}", -1, 0, 0,
         NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_ERR(llm_call(f->c, TEAM, "job8", &llm_schema_reply, &in, &r),
               SW_EPARSE);
    ASSERT_EQ(r.attempts, 3);
    ASSERT_EQ(r.prompt_tokens, 30);
    ASSERT_EQ(r.completion_tokens, 15);
    assert_null(r.output);
    assert_string_equal(r.last_output, st[0].content);
    ASSERT_EQ(r.last_errors.n, 1);
    ASSERT_EQ(r.last_errors.v[0].code, LLM_V_NOT_GROUNDED);
    assert_string_equal(r.last_errors.v[0].path, "evidence");
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 3);
    /* The third request carries the whole conversation. */
    ASSERT_EQ(
        json_array_size(json_object_get(
            json_object_get(json_array_get(reqs, 2), "body"), "messages")),
        6);
    json_decref(reqs);
    ASSERT_EQ(journal_count(f, STORE_LLM_INVALID), 3);
    llm_result_clear(&r);
}

/* A repeat of a cached call makes no HTTP request. */
static void test_cache_hit(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {{0, VALID_REPLY, -1, 0, 0, NULL}};
    struct llm_input in;
    struct llm_result r, r2;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job9", &llm_schema_reply, &in, &r));
    ASSERT_OK(llm_call(f->c, TEAM, "job9b", &llm_schema_reply, &in, &r2));
    ASSERT_EQ(r2.cached, 1);
    ASSERT_EQ(r2.attempts, 0);
    assert_string_equal(r.output, r2.output);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 1);
    json_decref(reqs);
    ASSERT_EQ(journal_count(f, STORE_LLM_CACHED), 1);
    llm_result_clear(&r);
    llm_result_clear(&r2);
}

/* The cache key names the model: the same prompt to another model of the
 * same provider is asked again, and each model then hits its own entry. */
static void test_cache_per_model(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {{0, VALID_REPLY, -1, 0, 0, NULL}};
    struct llm_input in;
    struct llm_result r1, r2, r3;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "jobm1", &llm_schema_reply, &in, &r1));
    ASSERT_EQ(r1.cached, 0);
    llm_client_free(&f->c);
    llm_provider_free(&f->p);
    f->model = "fake-model-2";
    fx_client(f, 2, 5000, 0, NULL);
    ASSERT_OK(llm_call(f->c, TEAM, "jobm2", &llm_schema_reply, &in, &r2));
    ASSERT_EQ(r2.cached, 0);
    ASSERT_OK(llm_call(f->c, TEAM, "jobm3", &llm_schema_reply, &in, &r3));
    ASSERT_EQ(r3.cached, 1);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(reqs, 1), "body"), "model")),
        "fake-model-2");
    json_decref(reqs);
    llm_result_clear(&r1);
    llm_result_clear(&r2);
    llm_result_clear(&r3);
}

/* A server without json_schema support answers 400; the provider falls
 * back to tool calling. */
static void test_fallback_tools(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {400, NULL, -1, 0, 0,
         "err:unsupported_parameter:response_format:response_format "
         "json_schema is not supported by this model"},
        {0, VALID_REPLY, -1, 0, 1, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs, *b;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "job10", &llm_schema_reply, &in, &r));
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 2);
    b = json_object_get(json_array_get(reqs, 1), "body");
    assert_non_null(json_object_get(b, "tools"));
    assert_null(json_object_get(b, "response_format"));
    json_decref(reqs);
    llm_result_clear(&r);
}

/* Budgets: a per-call token cap and a per-team daily cap. */
static void test_budgets(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0, "not json", -1, 0, 0, NULL},
    };
    struct llm_call_opts co;
    struct llm_input in;
    struct llm_result r;

    fx_start(f, st, NSTEPS(st));
    llm_call_opts_default(&co);
    co.max_retries = 5;
    co.max_call_tokens = 20; /* each attempt costs 15 */
    fx_client(f, 5, 5000, 0, &co);
    reply_input(&in);
    ASSERT_ERR(llm_call(f->c, TEAM, "job11", &llm_schema_reply, &in, &r),
               SW_EBUDGET);
    ASSERT_EQ(r.attempts, 2);
    ASSERT_EQ(r.prompt_tokens + r.completion_tokens, 30);
    assert_string_equal(r.last_output, "not json");
    llm_result_clear(&r);
    ASSERT_EQ(journal_count(f, STORE_LLM_BUDGET_EXCEEDED), 1);

    /* The team has spent 30 tokens today; a cap of 25 stops the next. */
    llm_client_free(&f->c);
    co.max_call_tokens = 0;
    co.team_daily_tokens = 25;
    ASSERT_OK(llm_client_new(f->p, f->s, &co, &f->c));
    ASSERT_ERR(llm_call(f->c, TEAM, "job12", &llm_schema_reply, &in, &r),
               SW_EBUDGET);
    ASSERT_EQ(r.attempts, 0);
    llm_result_clear(&r);
}

static sw_err held_write(store_txn *t, void *arg)
{
    return llm_held_write_txn(t, TEAM, arg);
}

/* A held journal (the worker's group commit): the calls write nothing
 * until the caller's transaction does; meanwhile a repeat finds the held
 * cache entry, and the held tokens count against the daily budget. */
static void test_held_journal(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {{0, VALID_REPLY, -1, 0, 0, NULL}};
    static const char other[] = "Not now, thanks. Maybe next quarter.";
    struct llm_call_opts co;
    struct llm_held held;
    struct llm_input in;
    struct llm_result r;
    uint64_t today = 99;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    llm_call_opts_default(&co);
    co.team_daily_tokens = 15; /* one answer (15 tokens) spends it */
    fx_client(f, 2, 5000, 0, &co);
    memset(&held, 0, sizeof(held));
    reply_input(&in);
    ASSERT_OK(
        llm_call_held(f->c, TEAM, "jobh1", &llm_schema_reply, &in, &r, &held));
    ASSERT_EQ(r.cached, 0);
    llm_result_clear(&r);
    ASSERT_EQ(held.n, 1);
    ASSERT_EQ(held.tokens, 15);
    ASSERT_EQ(journal_count(f, STORE_LLM_OK), 0);
    ASSERT_OK(
        llm_call_held(f->c, TEAM, "jobh2", &llm_schema_reply, &in, &r, &held));
    ASSERT_EQ(r.cached, 1);
    assert_non_null(strstr(r.output, "POSITIVE"));
    llm_result_clear(&r);
    in.text = other;
    in.len = strlen(other);
    ASSERT_ERR(
        llm_call_held(f->c, TEAM, "jobh3", &llm_schema_reply, &in, &r, &held),
        SW_EBUDGET);
    ASSERT_EQ(r.attempts, 0);
    llm_result_clear(&r);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 1);
    json_decref(reqs);
    ASSERT_EQ(held.n, 3);
    /* The caller's transaction writes all three, the tokens and the
     * cache entry, as llm_call would have. */
    ASSERT_OK(store_update(f->s, held_write, &held));
    llm_held_clear(&held);
    ASSERT_EQ(journal_count(f, STORE_LLM_OK), 1);
    ASSERT_EQ(journal_count(f, STORE_LLM_CACHED), 1);
    ASSERT_EQ(journal_count(f, STORE_LLM_BUDGET_EXCEEDED), 1);
    ASSERT_OK(
        store_llm_budget_get(f->s, TEAM, sw_now_ms() / 86400000LL, &today));
    ASSERT_EQ(today, 15);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "jobh4", &llm_schema_reply, &in, &r));
    ASSERT_EQ(r.cached, 1);
    llm_result_clear(&r);
}

/* The API key is sent but never logged, even when calls fail. */
static void test_key_never_logged(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {{500, NULL, -1, 0, 0, "down"}};
    char path[TEST_PATH_MAX + 32], buf[1 << 16];
    struct llm_input in;
    struct llm_result r;
    int fd, saved;
    ssize_t n;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 2, NULL);
    reply_input(&in);
    snprintf(path, sizeof(path), "%s/stderr.log", f->dir);
    fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(fd >= 0);
    saved = dup(2);
    dup2(fd, 2);
    ASSERT_ERR(llm_call(f->c, TEAM, "job13", &llm_schema_reply, &in, &r),
               SW_EPROVIDER);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n > 0); /* the retries were logged ... */
    buf[n] = '\0';
    assert_non_null(strstr(buf, "llm.openai_retry"));
    assert_null(strstr(buf, KEY)); /* ... without the key */
    assert_null(strstr(buf, "SECRET"));
    assert_true(r.error == NULL || strstr(r.error, KEY) == NULL);
    llm_result_clear(&r);
}

/* req_time and req_mode read one logged request: when it arrived (unix
 * seconds) and its structured-output mode. */
static double req_time(json_t *reqs, size_t i)
{
    return json_real_value(json_object_get(json_array_get(reqs, i), "t"));
}

static const char *req_mode(json_t *reqs, size_t i)
{
    json_t *b = json_object_get(json_array_get(reqs, i), "body");

    if (json_object_get(b, "tools"))
        return "tools";
    return json_string_value(
        json_object_get(json_object_get(b, "response_format"), "type"));
}

/* journal_newest returns the newest journal entry (cleared by the caller). */
static void journal_newest(struct fx *f, struct store_llm_attempt *out)
{
    struct store_llm_attempt *items = NULL;
    size_t n = 0, i;
    char *next = NULL;

    ASSERT_OK(store_llm_journal_list(f->s, TEAM, NULL, 1, NULL, &items, &n,
                                     &next, NULL));
    ASSERT_EQ(n, 1);
    *out = items[0];
    memset(&items[0], 0, sizeof(items[0]));
    for (i = 0; i < n; i++)
        store_llm_attempt_clear(&items[i]);
    sw_free(items);
    sw_free(next);
}

/* A 400 that is not "mode not supported" (about the messages, though its
 * text mentions tools and "not supported") is an error of that request
 * alone: the next call still goes out as json_schema. */
static void test_transient_400_keeps_mode(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {400, NULL, -1, 0, 0,
         "err:invalid_value:messages:tool use is not supported in this "
         "message"},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r1, r2;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_ERR(llm_call(f->c, TEAM, "jobt1", &llm_schema_reply, &in, &r1),
               SW_EPROVIDER);
    ASSERT_OK(llm_call(f->c, TEAM, "jobt2", &llm_schema_reply, &in, &r2));
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 2);
    assert_string_equal(req_mode(reqs, 0), "json_schema");
    assert_string_equal(req_mode(reqs, 1), "json_schema");
    json_decref(reqs);
    llm_result_clear(&r1);
    llm_result_clear(&r2);
}

/* A step-down shows in the journal and lasts mode_retry_ms; then
 * json_schema is tried again. */
static void test_mode_step_down_then_retry(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {400, NULL, -1, 0, 0,
         "err:unsupported_parameter:response_format:not supported"},
        {0, VALID_REPLY, -1, 0, 1, NULL},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct store_llm_attempt a;
    struct llm_call_opts co;
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;
    int i;

    fx_start(f, st, NSTEPS(st));
    llm_call_opts_default(&co);
    co.no_cache = 1;
    f->mode_retry_ms = 400;
    fx_client(f, 2, 5000, 0, &co);
    reply_input(&in);
    for (i = 0; i < 2; i++) {
        ASSERT_OK(llm_call(f->c, TEAM, "jobm", &llm_schema_reply, &in, &r));
        llm_result_clear(&r);
        journal_newest(f, &a);
        assert_string_equal(a.mode, "tools");
        store_llm_attempt_clear(&a);
    }
    usleep(500 * 1000);
    ASSERT_OK(llm_call(f->c, TEAM, "jobm", &llm_schema_reply, &in, &r));
    llm_result_clear(&r);
    journal_newest(f, &a);
    assert_string_equal(a.mode, "json_schema");
    store_llm_attempt_clear(&a);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 4);
    assert_string_equal(req_mode(reqs, 0), "json_schema");
    assert_string_equal(req_mode(reqs, 1), "tools");
    assert_string_equal(req_mode(reqs, 2), "tools");
    assert_string_equal(req_mode(reqs, 3), "json_schema");
    json_decref(reqs);
}

/* file_has says whether the file at path holds the bytes of s. */
static int file_has(const char *path, const char *s)
{
    size_t n = 0;
    char *data = NULL;
    FILE *fp = fopen(path, "rb");
    long sz;
    int found;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    sz = ftell(fp);
    assert_true(sz > 0);
    rewind(fp);
    data = malloc((size_t)sz);
    assert_non_null(data);
    n = fread(data, 1, (size_t)sz, fp);
    fclose(fp);
    found = memmem(data, n, s, strlen(s)) != NULL;
    free(data);
    return found;
}

/* An endpoint that echoes the key in its error body: the journal keeps
 * the error with the key (and a token-shaped string) redacted, and the
 * LMDB file holds no copy of either. */
static void test_key_echo_redacted(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {401, NULL, -1, 0, 0,
         "Incorrect API key provided: " KEY ". Other keys such as "
         "sk-proj-abcdefghijkl0123 and Bearer tok_9876543210 are wrong too."},
    };
    struct store_llm_attempt a;
    struct llm_input in;
    struct llm_result r;
    char path[TEST_PATH_MAX + 32];

    fx_start(f, st, NSTEPS(st));
    fx_client(f, 2, 5000, 0, NULL);
    reply_input(&in);
    ASSERT_ERR(llm_call(f->c, TEAM, "jobk", &llm_schema_reply, &in, &r),
               SW_EPROVIDER);
    assert_null(strstr(r.error, KEY));
    assert_non_null(strstr(r.error, "[redacted]"));
    llm_result_clear(&r);
    journal_newest(f, &a);
    ASSERT_EQ(a.outcome, STORE_LLM_PROVIDER_ERROR);
    assert_non_null(strstr(a.errors, "HTTP 401"));
    assert_non_null(strstr(a.errors, "Incorrect API key provided: [redacted]"));
    store_llm_attempt_clear(&a);
    snprintf(path, sizeof(path), "%s/store/data.mdb", f->dir);
    assert_false(file_has(path, KEY));
    assert_false(file_has(path, "sk-proj-abcdefghijkl0123"));
    assert_false(file_has(path, "tok_9876543210"));
    assert_true(file_has(path, "Incorrect API key provided"));
}

/* Reported usage that cannot be real (negative, or beyond any answer) is
 * the provider's error: nothing is counted against the budget. */
static void test_usage_impossible(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {0, VALID_REPLY, -1, 0, 0, "{\"usage\": [-5000, 9223372036854775807]}"},
        {0, VALID_REPLY, -1, 0, 0, "{\"usage\": [12, 99999999999]}"},
    };
    struct store_llm_attempt a;
    struct llm_call_opts co;
    struct llm_input in;
    struct llm_result r;
    uint64_t today = 1;
    int i;

    fx_start(f, st, NSTEPS(st));
    llm_call_opts_default(&co);
    co.no_cache = 1;
    co.team_daily_tokens = 1000000;
    fx_client(f, 2, 5000, 0, &co);
    reply_input(&in);
    for (i = 0; i < 2; i++) {
        ASSERT_ERR(llm_call(f->c, TEAM, "jobu", &llm_schema_reply, &in, &r),
                   SW_EPROVIDER);
        ASSERT_EQ(r.prompt_tokens, 0);
        ASSERT_EQ(r.completion_tokens, 0);
        assert_non_null(strstr(r.error, "impossible usage"));
        llm_result_clear(&r);
        journal_newest(f, &a);
        ASSERT_EQ(a.outcome, STORE_LLM_PROVIDER_ERROR);
        ASSERT_EQ(a.prompt_tokens, 0);
        ASSERT_EQ(a.completion_tokens, 0);
        store_llm_attempt_clear(&a);
    }
    ASSERT_OK(
        store_llm_budget_get(f->s, TEAM, sw_now_ms() / 86400000LL, &today));
    ASSERT_EQ(today, 0);
}

/* The builtin extractor costs nothing: with the team's daily budget spent
 * by a paid provider, the builtin still answers and counts nothing. */
static void test_builtin_free_of_budget(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {{0, VALID_REPLY, -1, 0, 0, NULL}};
    struct llm_provider *bp = NULL;
    llm_client *bc = NULL;
    struct llm_call_opts co;
    struct llm_input in;
    struct llm_result r;
    uint64_t spent = 0, after = 0;
    int i;

    fx_start(f, st, NSTEPS(st));
    llm_call_opts_default(&co);
    co.no_cache = 1;
    co.team_daily_tokens = 10; /* one paid answer (15 tokens) spends it */
    fx_client(f, 2, 5000, 0, &co);
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "jobp1", &llm_schema_reply, &in, &r));
    llm_result_clear(&r);
    ASSERT_ERR(llm_call(f->c, TEAM, "jobp2", &llm_schema_reply, &in, &r),
               SW_EBUDGET);
    llm_result_clear(&r);
    ASSERT_OK(
        store_llm_budget_get(f->s, TEAM, sw_now_ms() / 86400000LL, &spent));
    ASSERT_EQ(spent, 15);
    ASSERT_OK(llm_provider_builtin_new(&bp));
    ASSERT_OK(llm_client_new(bp, f->s, &co, &bc));
    for (i = 0; i < 3; i++) {
        ASSERT_OK(llm_call(bc, TEAM, "jobb", &llm_schema_reply, &in, &r));
        assert_non_null(r.output);
        llm_result_clear(&r);
    }
    ASSERT_OK(
        store_llm_budget_get(f->s, TEAM, sw_now_ms() / 86400000LL, &after));
    ASSERT_EQ(after, spent);
    llm_client_free(&bc);
    llm_provider_free(&bp);
}

/* With the options left at their defaults (as snipd leaves them), 429s are
 * retried after the server's hint: Retry-After 5 (seconds), then as an
 * HTTP date, then x-ratelimit-reset-requests; no request goes out before. */
static void test_defaults_honour_rate_limits(void **state)
{
    struct fx *f = *state;
    char date[64], more[160];
    time_t t = time(NULL) + 7; /* about 2 s after the first wait */
    struct tm tm;
    struct step st[4] = {
        {429, NULL, 5, 0, 0, "rate limited"},
        {429, NULL, -1, 0, 0, NULL},
        {429, NULL, -1, 0, 0,
         "{\"headers\": {\"x-ratelimit-reset-requests\": \"1s\"}}"},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_openai_opts o;
    struct llm_input in;
    struct llm_result r;
    char url[128];
    json_t *reqs;

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(more, sizeof(more), "{\"headers\": {\"Retry-After\": \"%s\"}}",
             date);
    st[1].message = more;
    fx_start(f, st, NSTEPS(st));
    memset(&o, 0, sizeof(o));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/", f->port);
    o.base_url = url;
    o.model = "fake-model-1";
    o.api_key = KEY;
    ASSERT_OK(llm_provider_openai_new(&o, &f->p));
    ASSERT_OK(llm_client_new(f->p, f->s, NULL, &f->c));
    reply_input(&in);
    ASSERT_OK(llm_call(f->c, TEAM, "jobr", &llm_schema_reply, &in, &r));
    llm_result_clear(&r);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 4);
    assert_true(req_time(reqs, 1) - req_time(reqs, 0) >= 4.9);
    /* Not before the HTTP date (whole seconds), however late the test. */
    assert_true(req_time(reqs, 2) >= (double)t - 0.001);
    assert_true(req_time(reqs, 3) - req_time(reqs, 2) >= 0.9);
    json_decref(reqs);
}

/* A 429 pauses the whole provider: another call made right after the
 * failed one (no retries left) waits for the server's Retry-After. */
static void test_429_pauses_the_provider(void **state)
{
    struct fx *f = *state;
    static const struct step st[] = {
        {429, NULL, 2, 0, 0, "rate limited"},
        {0, VALID_REPLY, -1, 0, 0, NULL},
    };
    struct llm_input in;
    struct llm_result r;
    json_t *reqs;

    fx_start(f, st, NSTEPS(st));
    f->backoff_max_ms = 10000;
    fx_client(f, 2, 10000, 0, NULL); /* no HTTP retries */
    reply_input(&in);
    ASSERT_ERR(llm_call(f->c, TEAM, "jobq1", &llm_schema_reply, &in, &r),
               SW_EPROVIDER);
    llm_result_clear(&r);
    ASSERT_OK(llm_call(f->c, TEAM, "jobq2", &llm_schema_reply, &in, &r));
    llm_result_clear(&r);
    reqs = fx_requests(f);
    ASSERT_EQ(json_array_size(reqs), 2);
    assert_true(req_time(reqs, 1) - req_time(reqs, 0) >= 1.9);
    json_decref(reqs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gone_team_keeps_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_json_reask, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schema_violation_reask, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grounding_reask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_500_then_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_per_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_400_keeps_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mode_step_down_then_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_echo_redacted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usage_impossible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_free_of_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_defaults_honour_rate_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_429_pauses_the_provider, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_held_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_never_logged, setup, teardown),
    };

    if (llm_http_global_init() != SW_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
