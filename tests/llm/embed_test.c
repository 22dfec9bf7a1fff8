/* embed_test: llm_embed_batch against the scripted fake server: batch
 * sizes and inputs as received, 429 with Retry-After, 5xx then success,
 * timeouts, a wrong dimension, and the key sent but never logged. */
#include "tests/testutil.h"

#include <fcntl.h>
#include <math.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "llm/embed_openai.h"
#include "tests/llm/fake_srv.h"

#define KEY "sk-embed-SECRET-7777"

struct fx {
    char dir[TEST_PATH_MAX];
    struct fake_srv srv;
    llm_embedder *e;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    test_mkdtemp(f->dir);
    f->srv.pid = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    llm_embedder_free(&f->e);
    fake_srv_stop(&f->srv);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void fx_client(struct fx *f, size_t dim, size_t batch,
                      int64_t timeout_ms, int retries)
{
    struct llm_embed_opts o;
    char url[128];

    memset(&o, 0, sizeof(o));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", f->srv.port);
    o.http.base_url = url;
    o.http.model = "fake-embed-1";
    o.http.api_key = KEY;
    o.http.timeout_ms = timeout_ms;
    o.http.max_http_retries = retries ? retries : -1;
    o.http.backoff_base_ms = 10;
    o.http.backoff_max_ms = 2000;
    o.dim = dim;
    o.batch = batch;
    ASSERT_OK(llm_embedder_new(&o, &f->e));
}

/* 150 inputs in batches of 64: three requests of 64, 64 and 22 with the
 * inputs in order, the key in the header, unit vectors in input order. */
static void test_batches(void **state)
{
    struct fx *f = *state;
    enum { N = 150, D = 8 };
    const char *texts[N];
    size_t lens[N], i, at = 0, k;
    char buf[N][32];
    float *v = sw_malloc(N * D * sizeof(float));
    json_t *reqs;
    int requests = 0;
    char *err = NULL;

    for (i = 0; i < N; i++) {
        /* The fake embeds the last word: i and i + 10 share it. */
        snprintf(buf[i], sizeof(buf[i]), "text %zu word%zu", i, i % 10);
        texts[i] = buf[i];
        lens[i] = strlen(buf[i]);
    }
    fake_srv_start(&f->srv, f->dir, "[{\"status\": 200, \"dim\": 8}]", 0);
    fx_client(f, D, 64, 5000, 0);
    ASSERT_EQ(llm_embedder_dim(f->e), D);
    ASSERT_OK(llm_embed_batch(f->e, texts, lens, N, v, 0, &requests, &err));
    assert_null(err);
    ASSERT_EQ(requests, 3);
    reqs = fake_srv_requests(&f->srv);
    ASSERT_EQ(json_array_size(reqs), 3);
    for (k = 0; k < 3; k++) {
        json_t *rq = json_array_get(reqs, k);
        json_t *body = json_object_get(rq, "body");
        json_t *in = json_object_get(body, "input");
        const char *auth = json_string_value(
            json_object_get(json_object_get(rq, "headers"), "Authorization"));
        assert_string_equal(json_string_value(json_object_get(rq, "path")),
                            "/v1/embeddings");
        assert_string_equal(json_string_value(json_object_get(body, "model")),
                            "fake-embed-1");
        assert_non_null(auth);
        assert_string_equal(auth, "Bearer " KEY);
        ASSERT_EQ(json_array_size(in), k < 2 ? 64 : 22);
        for (i = 0; i < json_array_size(in); i++, at++)
            assert_string_equal(json_string_value(json_array_get(in, i)),
                                texts[at]);
    }
    ASSERT_EQ(at, N);
    json_decref(reqs);
    /* The answer lists vectors in reverse; they land in input order. */
    for (i = 0; i < N; i++) {
        double n = 0, same = 0, other = 0;
        for (k = 0; k < D; k++) {
            n += (double)v[i * D + k] * v[i * D + k];
            same += (double)v[i * D + k] * v[((i + 10) % N) * D + k];
            other += (double)v[i * D + k] * v[((i + 1) % N) * D + k];
        }
        assert_true(fabs(n - 1.0) < 1e-5);
        assert_true(fabs(same - 1.0) < 1e-5);
        assert_true(other < 0.999);
    }
    sw_free(v);
}

static void embed_one(struct fx *f, const char *text, sw_err want, int *req,
                      char **err)
{
    float v[8];
    size_t len = strlen(text);

    ASSERT_ERR(llm_embed_batch(f->e, &text, &len, 1, v, 0, req, err), want);
}

static void test_429_retry_after(void **state)
{
    struct fx *f = *state;
    int64_t t0;
    int req = 0;
    char *err = NULL;
    json_t *reqs;

    fake_srv_start(&f->srv, f->dir,
                   "[{\"status\": 429, \"retry_after\": 1},"
                   " {\"status\": 200, \"dim\": 8}]",
                   0);
    fx_client(f, 8, 64, 5000, 3);
    t0 = sw_mono_ms();
    embed_one(f, "hello there", SW_OK, &req, &err);
    assert_true(sw_mono_ms() - t0 >= 900); /* honoured Retry-After: 1 */
    ASSERT_EQ(req, 2);
    reqs = fake_srv_requests(&f->srv);
    ASSERT_EQ(json_array_size(reqs), 2);
    json_decref(reqs);
    sw_free(err);
}

static void test_500_then_ok(void **state)
{
    struct fx *f = *state;
    int req = 0;
    char *err = NULL;

    fake_srv_start(&f->srv, f->dir,
                   "[{\"status\": 500}, {\"status\": 503},"
                   " {\"status\": 200, \"dim\": 8}]",
                   0);
    fx_client(f, 8, 64, 5000, 3);
    embed_one(f, "hello there", SW_OK, &req, &err);
    ASSERT_EQ(req, 3);
    sw_free(err);
    /* With no retries left the 5xx is a clear provider error. */
    llm_embedder_free(&f->e);
    fake_srv_stop(&f->srv);
    fake_srv_start(&f->srv, f->dir, "[{\"status\": 500}]", 0);
    fx_client(f, 8, 64, 5000, 1);
    err = NULL;
    embed_one(f, "hello there", SW_EPROVIDER, NULL, &err);
    assert_non_null(err);
    assert_non_null(strstr(err, "5xx"));
    sw_free(err);
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    int64_t t0;
    char *err = NULL;

    fake_srv_start(&f->srv, f->dir,
                   "[{\"status\": 200, \"dim\": 8, \"delay\": 3.0}]", 0);
    fx_client(f, 8, 64, 300, 0);
    t0 = sw_mono_ms();
    embed_one(f, "slow answer", SW_ETIMEOUT, NULL, &err);
    assert_true(sw_mono_ms() - t0 < 2500);
    assert_non_null(err);
    sw_free(err);
}

static void test_wrong_dim(void **state)
{
    struct fx *f = *state;
    char *err = NULL;

    fake_srv_start(&f->srv, f->dir, "[{\"status\": 200, \"dim\": 5}]", 0);
    fx_client(f, 8, 64, 5000, 0);
    embed_one(f, "five floats only", SW_EPROVIDER, NULL, &err);
    assert_non_null(err);
    assert_non_null(strstr(err, "dimension 5"));
    assert_non_null(strstr(err, "expected 8"));
    sw_free(err);
    /* Bad inputs are refused before any request. */
    err = NULL;
    embed_one(f, "", SW_EINVAL, NULL, &err);
    sw_free(err);
    {
        struct llm_embed_opts o = {0};
        llm_embedder *e = NULL;
        o.http.base_url = "http://127.0.0.1:1";
        o.http.model = "m";
        ASSERT_ERR(llm_embedder_new(&o, &e), SW_EINVAL); /* no dim */
    }
}

static void test_key_never_logged(void **state)
{
    struct fx *f = *state;
    char path[TEST_PATH_MAX + 32], buf[1 << 16];
    char *err = NULL;
    json_t *reqs;
    int fd, saved;
    ssize_t n;

    fake_srv_start(&f->srv, f->dir, "[{\"status\": 500}]", 0);
    fx_client(f, 8, 64, 5000, 2);
    snprintf(path, sizeof(path), "%s/stderr.log", f->dir);
    fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(fd >= 0);
    saved = dup(2);
    dup2(fd, 2);
    embed_one(f, "hello there", SW_EPROVIDER, NULL, &err);
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
    assert_non_null(err);
    assert_null(strstr(err, "SECRET"));
    /* ... which every request carried. */
    reqs = fake_srv_requests(&f->srv);
    ASSERT_EQ(json_array_size(reqs), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(reqs, 2), "headers"),
                            "Authorization")),
                        "Bearer " KEY);
    json_decref(reqs);
    sw_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_500_then_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_dim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_never_logged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
