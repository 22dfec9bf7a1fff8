/* sw_util_test: number parsing edge cases, hex, SHA-256, identifiers and
 * the small string helpers. */
#include "tests/testutil.h"

#include "base/sw_mem.h"
#include "base/sw_util.h"

static SW_MUST_CHECK sw_err parse(const char *s, int64_t *v)
{
    return sw_parse_i64(s, strlen(s), INT64_MIN, INT64_MAX, v);
}

static void test_parse_i64(void **state)
{
    int64_t v = 7;

    (void)state;
    ASSERT_OK(parse("0", &v));
    assert_int_equal(v, 0);
    ASSERT_OK(parse("-0", &v));
    assert_int_equal(v, 0);
    ASSERT_OK(parse("123", &v));
    assert_int_equal(v, 123);
    ASSERT_OK(parse("007", &v));
    assert_int_equal(v, 7);
    ASSERT_OK(parse("9223372036854775807", &v));
    assert_true(v == INT64_MAX);
    ASSERT_OK(parse("-9223372036854775808", &v));
    assert_true(v == INT64_MIN);
    ASSERT_OK(parse("-9223372036854775807", &v));
    assert_true(v == INT64_MIN + 1);

    v = 7;
    ASSERT_ERR(parse("9223372036854775808", &v), SW_ERANGE);
    ASSERT_ERR(parse("-9223372036854775809", &v), SW_ERANGE);
    ASSERT_ERR(parse("99999999999999999999", &v), SW_ERANGE);
    ASSERT_ERR(parse("-", &v), SW_EINVAL);
    ASSERT_ERR(parse("", &v), SW_EINVAL);
    ASSERT_ERR(parse("12a", &v), SW_EINVAL);
    ASSERT_ERR(parse("+1", &v), SW_EINVAL);
    ASSERT_ERR(parse(" 1", &v), SW_EINVAL);
    ASSERT_ERR(parse("1 ", &v), SW_EINVAL);
    ASSERT_ERR(parse("--1", &v), SW_EINVAL);
    ASSERT_ERR(parse("0x10", &v), SW_EINVAL);
    ASSERT_ERR(sw_parse_i64(NULL, 0, 0, 1, &v), SW_EINVAL);
    assert_int_equal(v, 7); /* untouched on error */

    /* Bounds and lengths. */
    ASSERT_ERR(sw_parse_i64("5", 1, 0, 4, &v), SW_ERANGE);
    ASSERT_ERR(sw_parse_i64("-1", 2, 0, 4, &v), SW_ERANGE);
    ASSERT_OK(sw_parse_i64("4", 1, 0, 4, &v));
    assert_int_equal(v, 4);
    ASSERT_OK(sw_parse_i64("1234", 2, 0, 100, &v));
    assert_int_equal(v, 12);
    ASSERT_OK(sw_parse_i64("12\0"
                           "3",
                           2, 0, 100, &v));
    assert_int_equal(v, 12);
    ASSERT_ERR(sw_parse_i64("12\0"
                            "3",
                            4, 0, 10000, &v),
               SW_EINVAL);
}

static void test_parse_int(void **state)
{
    int v = 3;

    (void)state;
    ASSERT_OK(sw_parse_int("2147483647", INT32_MIN, INT32_MAX, &v));
    assert_int_equal(v, INT32_MAX);
    ASSERT_OK(sw_parse_int("-2147483648", INT32_MIN, INT32_MAX, &v));
    assert_int_equal(v, INT32_MIN);
    ASSERT_ERR(sw_parse_int("2147483648", INT32_MIN, INT32_MAX, &v), SW_ERANGE);
    ASSERT_ERR(sw_parse_int("x", 0, 10, &v), SW_EINVAL);
    ASSERT_ERR(sw_parse_int(NULL, 0, 10, &v), SW_EINVAL);
    ASSERT_ERR(sw_parse_int("11", 0, 10, &v), SW_ERANGE);
    assert_int_equal(v, INT32_MIN);
}

static void test_hex_sha256(void **state)
{
    unsigned char d[SW_SHA256_LEN];
    char hex[2 * SW_SHA256_LEN + 1];
    static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};

    (void)state;
    sw_hex(bytes, sizeof(bytes), hex);
    assert_string_equal(hex, "000fa5ff");
    sw_hex(bytes, 0, hex);
    assert_string_equal(hex, "");
    sw_sha256("abc", 3, d);
    sw_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    sw_sha256("", 0, d);
    sw_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
}

static void test_ids(void **state)
{
    char *a = NULL, *b = NULL;
    size_t i;

    (void)state;
    ASSERT_OK(sw_id_new("team_", 8, &a));
    ASSERT_OK(sw_id_new("team_", 8, &b));
    assert_int_equal(strlen(a), 21);
    assert_memory_equal(a, "team_", 5);
    for (i = 5; i < 21; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    assert_string_not_equal(a, b);
    sw_free(a);
    sw_free(b);
    ASSERT_ERR(sw_id_new("x", 0, &a), SW_EINVAL);
    ASSERT_ERR(sw_id_new("x", 33, &a), SW_EINVAL);
    sw_mem_fail_nth(1);
    ASSERT_ERR(sw_id_new("x", 4, &a), SW_ENOMEM);
    sw_mem_fail_nth(0);
}

/* sw_memeq_ct (API key hashes are compared with it): a difference in any
 * byte, first, middle or last, makes two buffers unequal. */
static void test_memeq_ct(void **state)
{
    unsigned char a[32], b[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(a); i++)
        a[i] = b[i] = (unsigned char)(i * 7 + 1);
    assert_true(sw_memeq_ct(a, b, sizeof(a)));
    assert_true(sw_memeq_ct(a, b, 0));
    for (i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x10;
        assert_false(sw_memeq_ct(a, b, sizeof(a)));
        b[i] ^= 0x10;
    }
    b[0] = 0;
    b[31] = 0;
    a[0] = 0xff;
    a[31] = 0;
    assert_false(sw_memeq_ct(a, b, sizeof(a)));
    assert_true(sw_memeq_ct(a + 1, b + 1, 30));
}

static void test_misc(void **state)
{
    char s[] = "MiXeD Case 123 \xc3\x89";
    unsigned char r1[16] = {0}, r2[16] = {0};

    (void)state;
    sw_str_lower(s);
    assert_string_equal(s, "mixed case 123 \xc3\x89");
    assert_int_equal(sw_memeq_ct("abc", "abc", 3), 1);
    assert_int_equal(sw_memeq_ct("abc", "abd", 3), 0);
    assert_int_equal(sw_memeq_ct("", "", 0), 1);
    ASSERT_OK(sw_random(r1, sizeof(r1)));
    ASSERT_OK(sw_random(r2, sizeof(r2)));
    assert_memory_not_equal(r1, r2, sizeof(r1));
    assert_true(sw_now_ms() > 1600000000000LL);
    assert_true(sw_mono_ms() >= 0);
}

/* sw_timespec_in: whole seconds and milliseconds, with the nanosecond
 * carry, on both clocks. */
static void test_timespec_in(void **state)
{
    struct timespec a, b;
    int64_t d;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &a);
    sw_timespec_in(CLOCK_MONOTONIC, 2999, &b);
    assert_true(b.tv_nsec >= 0 && b.tv_nsec < 1000000000L);
    d = (int64_t)(b.tv_sec - a.tv_sec) * 1000 +
        (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(d >= 2999 && d < 3999); /* the call takes far less than 1 s */
    clock_gettime(CLOCK_REALTIME, &a);
    sw_timespec_in(CLOCK_REALTIME, 0, &b);
    d = (int64_t)(b.tv_sec - a.tv_sec) * 1000 +
        (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(d >= 0 && d < 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_i64),  cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_hex_sha256), cmocka_unit_test(test_ids),
        cmocka_unit_test(test_misc),       cmocka_unit_test(test_timespec_in),
        cmocka_unit_test(test_memeq_ct),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
