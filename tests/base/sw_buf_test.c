/* sw_buf_test: capped growth, appends, printf, take, and JSON string
 * escaping including invalid UTF-8. */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"

static void test_cap(void **state)
{
    struct sw_buf b;

    (void)state;
    sw_buf_init(&b, 5);
    assert_string_equal(sw_buf_str(&b), "");
    ASSERT_OK(sw_buf_add(&b, "abc", 3));
    ASSERT_ERR(sw_buf_add(&b, "def", 3), SW_ETOOBIG);
    assert_string_equal(sw_buf_str(&b), "abc");
    ASSERT_OK(sw_buf_add(&b, "de", 2));
    ASSERT_ERR(sw_buf_addc(&b, 'x'), SW_ETOOBIG);
    ASSERT_ERR(sw_buf_add(&b, "x", SIZE_MAX), SW_ETOOBIG);
    assert_int_equal(sw_buf_len(&b), 5);
    assert_string_equal(sw_buf_str(&b), "abcde");
    sw_buf_free(&b);
    sw_buf_free(&b);
    sw_buf_free(NULL);
}

static void test_growth(void **state)
{
    struct sw_buf b;
    size_t i;

    (void)state;
    sw_buf_init(&b, 1 << 20);
    for (i = 0; i < 100000; i++)
        ASSERT_OK(sw_buf_addc(&b, (char)('a' + i % 26)));
    assert_int_equal(sw_buf_len(&b), 100000);
    for (i = 0; i < 100000; i++)
        assert_int_equal(sw_buf_str(&b)[i], 'a' + i % 26);
    assert_int_equal(sw_buf_str(&b)[100000], '\0');
    sw_buf_reset(&b);
    assert_int_equal(sw_buf_len(&b), 0);
    assert_string_equal(sw_buf_str(&b), "");
    sw_buf_free(&b);
}

static void test_printf_take(void **state)
{
    struct sw_buf b;
    char *s = NULL;
    size_t n = 99;

    (void)state;
    sw_buf_init(&b, 16);
    ASSERT_OK(sw_buf_printf(&b, "%d-%s", 42, "x"));
    ASSERT_OK(sw_buf_addstr(&b, "yz"));
    assert_string_equal(sw_buf_str(&b), "42-xyz");
    ASSERT_ERR(sw_buf_printf(&b, "%s", "0123456789abc"), SW_ETOOBIG);
    assert_string_equal(sw_buf_str(&b), "42-xyz");
    ASSERT_OK(sw_buf_take(&b, &s, &n));
    assert_string_equal(s, "42-xyz");
    assert_int_equal(n, 6);
    assert_int_equal(sw_buf_len(&b), 0);
    sw_free(s);
    /* Taking an empty buffer still gives an allocated "". */
    ASSERT_OK(sw_buf_take(&b, &s, NULL));
    assert_string_equal(s, "");
    sw_free(s);
    sw_buf_free(&b);
}

static void json(const char *in, size_t n, const char *want)
{
    struct sw_buf b;

    sw_buf_init(&b, 1024);
    ASSERT_OK(sw_buf_add_json_str(&b, in, n));
    assert_string_equal(sw_buf_str(&b), want);
    sw_buf_free(&b);
}

static void test_json(void **state)
{
    struct sw_buf b;

    (void)state;
    json("", 0, "\"\"");
    json("plain", 5, "\"plain\"");
    json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    json("\n\t\x01", 3, "\"\\u000a\\u0009\\u0001\"");
    json("nul\0x", 5, "\"nul\\u0000x\"");
    json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* Invalid UTF-8 becomes U+FFFD, one per bad byte. */
    json("a\xffz", 3, "\"a\xef\xbf\xbdz\"");
    json("\xc3", 1, "\"\xef\xbf\xbd\"");
    json("\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    json("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    json("\xf4\x90\x80\x80", 4,
         "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");

    /* Over the cap: the buffer is left as it was. */
    sw_buf_init(&b, 8);
    ASSERT_OK(sw_buf_addstr(&b, "ab"));
    ASSERT_ERR(sw_buf_add_json_str(&b, "0123456789", 10), SW_ETOOBIG);
    assert_string_equal(sw_buf_str(&b), "ab");
    assert_int_equal(sw_buf_len(&b), 2);
    sw_buf_free(&b);
}

static void test_nomem(void **state)
{
    struct sw_buf b;
    int64_t live = sw_mem_live();

    (void)state;
    sw_buf_init(&b, 1024);
    sw_mem_fail_nth(1);
    ASSERT_ERR(sw_buf_addstr(&b, "x"), SW_ENOMEM);
    sw_mem_fail_nth(0);
    assert_int_equal(sw_buf_len(&b), 0);
    ASSERT_OK(sw_buf_addstr(&b, "x"));
    sw_buf_free(&b);
    assert_int_equal(sw_mem_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),         cmocka_unit_test(test_growth),
        cmocka_unit_test(test_printf_take), cmocka_unit_test(test_json),
        cmocka_unit_test(test_nomem),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
