/* sw_metric_test: histogram bucketing (inclusive bounds, +Inf, sums in
 * seconds), cumulative exposition, counters, label escaping and number
 * formats of the Prometheus text format. */
#include "tests/testutil.h"

#include <math.h>
#include <string.h>

#include "base/sw_metric.h"

static const double bounds[] = {0.001, 0.01, 0.1, 1};

static void test_hist_buckets(void **state)
{
    struct sw_hist h;
    struct sw_hist_snap s;

    (void)state;
    sw_hist_init(&h, bounds, 4);
    sw_hist_observe_us(&h, 500);     /* 0.0005 s: le 0.001 */
    sw_hist_observe_us(&h, 1000);    /* exactly 0.001 s: le 0.001 (le is <=) */
    sw_hist_observe_us(&h, 1001);    /* just above: le 0.01 */
    sw_hist_observe_us(&h, 100000);  /* exactly 0.1 s: le 0.1 */
    sw_hist_observe_us(&h, 2000000); /* 2 s: above every bound, +Inf */
    sw_hist_observe_us(&h, -5);      /* a clock step back counts as 0 */
    sw_hist_read(&h, &s);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.counts[0], 3);
    assert_int_equal(s.counts[1], 1);
    assert_int_equal(s.counts[2], 1);
    assert_int_equal(s.counts[3], 0);
    assert_int_equal(s.counts[4], 1);
    assert_int_equal(s.sum_us, 500 + 1000 + 1001 + 100000 + 2000000);
}

static void test_hist_exposition(void **state)
{
    struct sw_hist h;
    struct sw_hist_snap s;
    struct sw_buf b;

    (void)state;
    sw_hist_init(&h, bounds, 4);
    sw_hist_observe_us(&h, 500);
    sw_hist_observe_us(&h, 5000);
    sw_hist_observe_us(&h, 5000);
    sw_hist_observe_us(&h, 3000000);
    sw_hist_read(&h, &s);
    sw_buf_init(&b, 4096);
    ASSERT_OK(sw_metric_hist(&b, "x_seconds", "method=\"/a/B\"", &s));
    /* Cumulative counts, +Inf equal to _count, the sum in seconds. */
    assert_string_equal(sw_buf_str(&b),
                        "x_seconds_bucket{method=\"/a/B\",le=\"0.001\"} 1\n"
                        "x_seconds_bucket{method=\"/a/B\",le=\"0.01\"} 3\n"
                        "x_seconds_bucket{method=\"/a/B\",le=\"0.1\"} 3\n"
                        "x_seconds_bucket{method=\"/a/B\",le=\"1\"} 3\n"
                        "x_seconds_bucket{method=\"/a/B\",le=\"+Inf\"} 4\n"
                        "x_seconds_sum{method=\"/a/B\"} 3.0105\n"
                        "x_seconds_count{method=\"/a/B\"} 4\n");
    sw_buf_reset(&b);
    ASSERT_OK(sw_metric_hist(&b, "y", NULL, &s));
    assert_non_null(strstr(sw_buf_str(&b), "y_bucket{le=\"0.01\"} 3\n"));
    assert_non_null(strstr(sw_buf_str(&b), "y_sum 3.0105\ny_count 4\n"));
    sw_buf_free(&b);
}

static void test_hist_merge(void **state)
{
    struct sw_hist a, c;
    struct sw_hist_snap sa, sc, other;

    (void)state;
    sw_hist_init(&a, bounds, 4);
    sw_hist_init(&c, bounds, 4);
    sw_hist_observe_us(&a, 10);
    sw_hist_observe_us(&c, 10);
    sw_hist_observe_us(&c, 50000);
    sw_hist_read(&a, &sa);
    sw_hist_read(&c, &sc);
    ASSERT_OK(sw_hist_merge(&sa, &sc));
    assert_int_equal(sa.counts[0], 2);
    assert_int_equal(sa.counts[2], 1);
    assert_int_equal(sa.sum_us, 50020);
    other = sc;
    other.n = 3;
    ASSERT_ERR(sw_hist_merge(&sa, &other), SW_EINVAL);
}

static void test_counter_and_samples(void **state)
{
    uint64_t c = 0;
    struct sw_buf b, l;

    (void)state;
    sw_counter_add(&c, 2);
    sw_counter_add(&c, 40);
    assert_int_equal(sw_counter_get(&c), 42);
    sw_buf_init(&b, 4096);
    sw_buf_init(&l, 256);
    ASSERT_OK(sw_metric_head(&b, "a_total", "counter", "Things done."));
    ASSERT_OK(sw_metric_u64(&b, "a_total", NULL, sw_counter_get(&c)));
    ASSERT_OK(sw_metric_label(&l, "method", "/x/Y"));
    ASSERT_OK(sw_metric_label(&l, "code", "OK"));
    ASSERT_OK(sw_metric_u64(&b, "a_total", sw_buf_str(&l), 7));
    ASSERT_OK(sw_metric_f64(&b, "g", "", 0.25));
    ASSERT_OK(sw_metric_f64(&b, "g", NULL, NAN));
    ASSERT_OK(sw_metric_f64(&b, "g", NULL, INFINITY));
    ASSERT_OK(sw_metric_f64(&b, "g", NULL, -INFINITY));
    ASSERT_OK(sw_metric_f64(&b, "g", NULL, 1e21));
    assert_string_equal(sw_buf_str(&b),
                        "# HELP a_total Things done.\n"
                        "# TYPE a_total counter\n"
                        "a_total 42\n"
                        "a_total{method=\"/x/Y\",code=\"OK\"} 7\n"
                        "g 0.25\n"
                        "g NaN\n"
                        "g +Inf\n"
                        "g -Inf\n"
                        "g 1e+21\n");
    sw_buf_free(&b);
    sw_buf_free(&l);
}

static void test_label_escaping(void **state)
{
    struct sw_buf l;

    (void)state;
    sw_buf_init(&l, 256);
    ASSERT_OK(sw_metric_label(&l, "team", "a\"b\\c\nd"));
    assert_string_equal(sw_buf_str(&l), "team=\"a\\\"b\\\\c\\nd\"");
    sw_buf_free(&l);
    /* A full buffer is an error, never a cut label. */
    sw_buf_init(&l, 8);
    ASSERT_ERR(sw_metric_label(&l, "team", "0123456789"), SW_ETOOBIG);
    sw_buf_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_hist_exposition),
        cmocka_unit_test(test_hist_merge),
        cmocka_unit_test(test_counter_and_samples),
        cmocka_unit_test(test_label_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
