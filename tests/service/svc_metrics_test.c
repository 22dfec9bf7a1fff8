/* svc_metrics_test: the per-method counters by status code and the latency
 * histograms as the exposition shows them, the table's order and types,
 * RunRerank counters, the bound on team labels, the heap gauges following
 * blocks allocated and freed, and the access log line (what it holds, and
 * that --access-log 0 writes none). */
#include "tests/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/index.h"
#include "service/svc_metrics.h"

#define M_TEAM "/snipwise.v1.TeamService/GetMyTeam"
#define M_CHECK "/grpc.health.v1.Health/Check"

static svc_metrics *mk(int access_log)
{
    struct svc_metrics_opts o;
    svc_metrics *m = NULL;

    memset(&o, 0, sizeof(o));
    o.access_log = access_log;
    o.team_labels = 2;
    ASSERT_OK(svc_metrics_new(&o, &m));
    return m;
}

static void call(svc_metrics *m, const char *method, int status, int64_t us,
                 const char *team)
{
    struct svc_metrics_call c;

    memset(&c, 0, sizeof(c));
    c.method = method;
    c.method_index = 3; /* a wrong hint: the path decides */
    c.status = status;
    c.us = us;
    c.team = team;
    c.peer = "ipv4:127.0.0.1:4242";
    svc_metrics_call_done(m, &c);
}

static char *render(svc_metrics *m)
{
    struct sw_buf b;
    char *s = NULL;

    sw_buf_init(&b, 1 << 20);
    ASSERT_OK(svc_metrics_render(m, &b));
    ASSERT_OK(sw_buf_take(&b, &s, NULL));
    sw_buf_free(&b);
    return s;
}

/* has: the exposition holds this whole line. */
static int has(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
        p += n;
    }
    return 0;
}

static void test_calls_by_method_and_code(void **state)
{
    svc_metrics *m = mk(0);
    char *t;

    (void)state;
    call(m, M_TEAM, 0, 200, "team_a");
    call(m, M_TEAM, 0, 3000, "team_a");
    call(m, M_TEAM, 16, 100, NULL);
    call(m, M_CHECK, 0, 50, NULL);
    call(m, NULL, 12, 10, NULL);    /* a method not in the table */
    call(m, M_CHECK, 99, 10, NULL); /* out of range: UNKNOWN */
    t = render(m);
    assert_true(
        has(t, "snipd_rpc_calls_total{method=\"" M_TEAM "\",code=\"OK\"} 2"));
    assert_true(has(t, "snipd_rpc_calls_total{method=\"" M_TEAM
                       "\",code=\"UNAUTHENTICATED\"} 1"));
    assert_true(
        has(t, "snipd_rpc_calls_total{method=\"" M_CHECK "\",code=\"OK\"} 1"));
    assert_true(has(t, "snipd_rpc_calls_total{method=\"" M_CHECK
                       "\",code=\"UNKNOWN\"} 1"));
    assert_true(has(t, "snipd_rpc_calls_total{method=\"unknown\","
                       "code=\"UNIMPLEMENTED\"} 1"));
    /* Codes never seen are left out rather than written as zeros. */
    assert_null(strstr(t, "code=\"NOT_FOUND\""));
    /* One histogram per method: cumulative, its count the calls made. */
    assert_true(has(t, "snipd_rpc_duration_seconds_bucket{method=\"" M_TEAM
                       "\",le=\"0.0005\"} 2"));
    assert_true(has(t, "snipd_rpc_duration_seconds_bucket{method=\"" M_TEAM
                       "\",le=\"0.0025\"} 2"));
    assert_true(has(t, "snipd_rpc_duration_seconds_bucket{method=\"" M_TEAM
                       "\",le=\"0.005\"} 3"));
    assert_true(has(t, "snipd_rpc_duration_seconds_bucket{method=\"" M_TEAM
                       "\",le=\"+Inf\"} 3"));
    assert_true(
        has(t, "snipd_rpc_duration_seconds_count{method=\"" M_TEAM "\"} 3"));
    assert_true(
        has(t, "snipd_rpc_duration_seconds_sum{method=\"" M_TEAM "\"} 0.0033"));
    assert_true(
        has(t, "snipd_rpc_duration_seconds_count{method=\"" M_CHECK "\"} 2"));
    sw_free(t);
    svc_metrics_free(&m);
    assert_null(m);
    svc_metrics_free(NULL);
}

static void test_table_and_sources(void **state)
{
    svc_metrics *m = mk(0);
    char *t;
    const char *a, *b;

    (void)state;
    svc_metrics_rerank_done(m, SW_OK, 1, 2000000);
    svc_metrics_rerank_done(m, SW_OK, 0, 700000);
    svc_metrics_rerank_done(m, SW_EINTERNAL, 0, 100);
    svc_metrics_rerank_done(NULL, SW_OK, 1, 1); /* no metrics: nothing */
    t = render(m);
    assert_true(has(t, "# TYPE snipd_rpc_calls_total counter"));
    assert_true(has(t, "# TYPE snipd_rpc_duration_seconds histogram"));
    assert_true(has(t, "# TYPE snipd_rerank_duration_seconds histogram"));
    assert_true(has(t, "snipd_rerank_runs_total{result=\"promoted\"} 1"));
    assert_true(has(t, "snipd_rerank_runs_total{result=\"kept\"} 1"));
    assert_true(has(t, "snipd_rerank_runs_total{result=\"failed\"} 1"));
    assert_true(has(t, "snipd_rerank_duration_seconds_bucket{le=\"1\"} 2"));
    assert_true(has(t, "snipd_rerank_duration_seconds_count 3"));
    assert_true(has(t, "snipd_rerank_duration_seconds_sum 2.7001"));
    /* The process is always readable; metrics of sources this instance
     * lacks (store, index, worker) are left out entirely. */
    assert_true(has(t, "# TYPE snipd_process_resident_memory_bytes gauge"));
    assert_null(strstr(t, "snipd_process_resident_memory_bytes 0\n"));
    assert_null(strstr(t, "snipd_process_open_fds 0\n"));
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's allocator: glibc has no heap figures, so none are shown. */
    assert_null(strstr(t, "snipd_process_heap_bytes"));
#else
    assert_true(has(t, "# TYPE snipd_process_heap_bytes gauge"));
    assert_true(has(t, "# TYPE snipd_process_heap_free_bytes gauge"));
    assert_null(strstr(t, "snipd_process_heap_bytes 0\n"));
#endif
    assert_null(strstr(t, "snipd_store_map_bytes"));
    assert_null(strstr(t, "snipd_extraction_backlog_jobs"));
    assert_null(strstr(t, "snipd_index_vectors"));
    /* The table's order is the exposition's. */
    a = strstr(t, "# HELP snipd_rpc_calls_total");
    b = strstr(t, "# HELP snipd_rerank_runs_total");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_string_equal(svc_metrics_code_name(0), "OK");
    assert_string_equal(svc_metrics_code_name(16), "UNAUTHENTICATED");
    assert_string_equal(svc_metrics_code_name(17), "UNKNOWN");
    sw_free(t);
    svc_metrics_free(&m);
}

#if !defined(__SANITIZE_ADDRESS__)
/* gauge: the value of the unlabelled sample name in the exposition. */
static uint64_t gauge(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text, *end;
    int64_t v = -1;

    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            break;
        p += n;
    }
    if (p == NULL)
        fail_msg("no sample %s", name);
    p += n + 1;
    end = strchr(p, '\n');
    assert_non_null(end);
    ASSERT_OK(sw_parse_i64(p, (size_t)(end - p), 0, INT64_MAX, &v));
    return (uint64_t)v;
}
#endif

/* The heap gauges move with the heap: held blocks raise the heap in use;
 * blocks freed between held ones stay in the heap (neither merged with its
 * top nor given back) and move from in use to held free. The blocks are
 * below glibc's mmap threshold (128 KiB by default; it only ever rises), so
 * they come from the heap, not from mmap. */
#define HEAP_BLOCK (64 * 1024)
#define HEAP_BLOCKS 512 /* 32 MiB */

static void test_heap_gauges_follow_the_heap(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's allocator: glibc has no heap figures, so none are shown. */
    (void)state;
    skip();
#else
    const uint64_t all = (uint64_t)HEAP_BLOCK * HEAP_BLOCKS;
    const uint64_t half = all / 2;
    svc_metrics *m = mk(0);
    char *blocks[HEAP_BLOCKS];
    uint64_t heap0, heap1, heap2, free1, free2;
    char *t;
    size_t i;

    (void)state;
    t = render(m);
    heap0 = gauge(t, "snipd_process_heap_bytes");
    sw_free(t);
    for (i = 0; i < HEAP_BLOCKS; i++) {
        blocks[i] = sw_malloc(HEAP_BLOCK);
        assert_non_null(blocks[i]);
        memset(blocks[i], (int)(i & 0xff), HEAP_BLOCK); /* touched */
    }
    t = render(m);
    heap1 = gauge(t, "snipd_process_heap_bytes");
    free1 = gauge(t, "snipd_process_heap_free_bytes");
    sw_free(t);
    if (heap1 < heap0 + all / 10 * 9)
        fail_msg("heap in use %llu -> %llu after %llu bytes allocated",
                 (unsigned long long)heap0, (unsigned long long)heap1,
                 (unsigned long long)all);
    /* Every other block, the last one held: each freed block lies between
     * two held ones. */
    for (i = 0; i < HEAP_BLOCKS; i += 2) {
        sw_free(blocks[i]);
        blocks[i] = NULL;
    }
    t = render(m);
    heap2 = gauge(t, "snipd_process_heap_bytes");
    free2 = gauge(t, "snipd_process_heap_free_bytes");
    sw_free(t);
    print_message("heap in use %llu, %llu, %llu; held free %llu, %llu\n",
                  (unsigned long long)heap0, (unsigned long long)heap1,
                  (unsigned long long)heap2, (unsigned long long)free1,
                  (unsigned long long)free2);
    if (heap2 + half / 10 * 9 > heap1)
        fail_msg("heap in use %llu -> %llu after %llu bytes freed",
                 (unsigned long long)heap1, (unsigned long long)heap2,
                 (unsigned long long)half);
    if (free2 < free1 + half / 10 * 9)
        fail_msg("heap held free %llu -> %llu after %llu bytes freed",
                 (unsigned long long)free1, (unsigned long long)free2,
                 (unsigned long long)half);
    for (i = 1; i < HEAP_BLOCKS; i += 2)
        sw_free(blocks[i]);
    svc_metrics_free(&m);
#endif
}

static void team(struct rank_team_figures *t, const char *id, size_t count,
                 int64_t snap)
{
    t->team_id = sw_strdup(id);
    assert_non_null(t->team_id);
    t->count = count;
    t->deleted = count / 10;
    t->snapshot_unix_ms = snap;
}

static void test_team_labels_are_bounded(void **state)
{
    struct rank_team_figures *t = sw_calloc(5, sizeof(*t));
    size_t n = 5;

    (void)state;
    team(&t[0], "team_small", 10, 5000);
    team(&t[1], "team_big", 1000, 9000);
    team(&t[2], "team_mid", 500, 0);
    team(&t[3], "team_tiny", 1, 0);
    team(&t[4], "team_midtoo", 500, 7000);
    ASSERT_OK(svc_metrics_fold_teams(t, &n, 2));
    /* The two largest keep their label (ties by id); three are summed. */
    assert_int_equal(n, 3);
    assert_string_equal(t[0].team_id, "team_big");
    assert_string_equal(t[1].team_id, "team_mid");
    assert_string_equal(t[2].team_id, "other");
    assert_int_equal(t[2].count, 500 + 10 + 1);
    assert_int_equal(t[2].deleted, 50 + 1 + 0);
    assert_int_equal(t[2].snapshot_unix_ms, 5000); /* the oldest */
    rank_team_figures_free(t, n);

    /* Under the cap nothing is folded; a cap of 0 folds everything. */
    t = sw_calloc(2, sizeof(*t));
    n = 2;
    team(&t[0], "team_a", 1, 0);
    team(&t[1], "team_b", 2, 0);
    ASSERT_OK(svc_metrics_fold_teams(t, &n, 2));
    assert_int_equal(n, 2);
    assert_string_equal(t[0].team_id, "team_b");
    ASSERT_OK(svc_metrics_fold_teams(t, &n, 0));
    assert_int_equal(n, 1);
    assert_string_equal(t[0].team_id, "other");
    assert_int_equal(t[0].count, 3);
    assert_int_equal(t[0].snapshot_unix_ms, 0);
    rank_team_figures_free(t, n);
}

/* capture runs fn with stderr going to a file; returns what it wrote. */
static char *capture(void (*fn)(svc_metrics *), svc_metrics *m)
{
    char path[] = "/tmp/svc_metrics_test.XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char *out = sw_calloc(1, 65536);
    ssize_t n;

    assert_true(fd >= 0 && saved >= 0 && out != NULL);
    assert_int_equal(dup2(fd, 2), 2);
    fn(m);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    n = pread(fd, out, 65535, 0);
    assert_true(n >= 0);
    close(fd);
    unlink(path);
    return out;
}

static int svc_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void two_calls(svc_metrics *m)
{
    call(m, M_TEAM, 16, 1500, NULL);
    call(m, M_TEAM, 0, 2250, "team_0123");
}

static void test_access_log(void **state)
{
    svc_metrics *m = mk(1);
    char *out, *line2;

    (void)state;
    assert_true(svc_metrics_access_log(m));
    out = capture(two_calls, m);
    line2 = strchr(out, '\n');
    assert_non_null(line2);
    line2++;
    /* One logfmt line per call: method, team, code, status, ms, peer. */
    assert_non_null(strstr(out, " event=rpc method=" M_TEAM
                                " team=- code=UNAUTHENTICATED status=16 "
                                "ms=1.500 peer=ipv4:127.0.0.1:4242\n"));
    assert_non_null(strstr(line2, " event=rpc method=" M_TEAM
                                  " team=team_0123 code=OK status=0 ms=2.250 "
                                  "peer=ipv4:127.0.0.1:4242\n"));
    /* Exactly two lines. */
    assert_int_equal(svc_lines(out), 2);
    sw_free(out);
    svc_metrics_free(&m);

    /* --access-log 0: counted, not logged. */
    m = mk(0);
    assert_false(svc_metrics_access_log(m));
    out = capture(two_calls, m);
    assert_string_equal(out, "");
    sw_free(out);
    svc_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_by_method_and_code),
        cmocka_unit_test(test_table_and_sources),
        cmocka_unit_test(test_heap_gauges_follow_the_heap),
        cmocka_unit_test(test_team_labels_are_bounded),
        cmocka_unit_test(test_access_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
