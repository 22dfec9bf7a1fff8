/* sw_mem_test: the allocation wrappers, the live-block counter and the
 * fault hook (fail_nth fails exactly one allocation). */
#include "tests/testutil.h"

#include "base/sw_mem.h"

static void test_fail_nth(void **state)
{
    void *p[5];
    int64_t live = sw_mem_live();
    int i;

    (void)state;
    sw_mem_fail_nth(3);
    for (i = 0; i < 5; i++)
        p[i] = sw_malloc(16);
    sw_mem_fail_nth(0);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    assert_null(p[2]);
    assert_non_null(p[3]);
    assert_non_null(p[4]);
    assert_int_equal(sw_mem_live(), live + 4);
    for (i = 0; i < 5; i++)
        sw_free(p[i]);
    assert_int_equal(sw_mem_live(), live);

    /* Counting restarts when the hook is installed; 0 removes it. */
    sw_mem_fail_nth(1);
    assert_null(sw_calloc(2, 8));
    p[0] = sw_calloc(2, 8);
    assert_non_null(p[0]);
    assert_int_equal(((char *)p[0])[15], 0);
    sw_free(p[0]);
    sw_mem_fail_nth(0);
    for (i = 0; i < 5; i++) {
        p[i] = sw_malloc(1);
        assert_non_null(p[i]);
        sw_free(p[i]);
    }
    assert_int_equal(sw_mem_live(), live);
}

static void test_mem_realloc(void **state)
{
    int64_t live = sw_mem_live();
    char *p, *q;

    (void)state;
    p = sw_realloc(NULL, 4);
    assert_non_null(p);
    assert_int_equal(sw_mem_live(), live + 1);
    memcpy(p, "abc", 4);
    sw_mem_fail_nth(1);
    q = sw_realloc(p, 1 << 20);
    sw_mem_fail_nth(0);
    assert_null(q);
    assert_string_equal(p, "abc"); /* the original survives */
    q = sw_realloc(p, 1 << 20);
    assert_non_null(q);
    assert_string_equal(q, "abc");
    assert_int_equal(sw_mem_live(), live + 1);
    sw_free(q);
    sw_free(NULL);
    assert_int_equal(sw_mem_live(), live);
}

static void test_dup(void **state)
{
    int64_t live = sw_mem_live();
    char *a, *b, *c;

    (void)state;
    a = sw_strdup("hello");
    b = sw_strndup("hello", 3);
    c = sw_memdup("x\0y", 3);
    assert_string_equal(a, "hello");
    assert_string_equal(b, "hel");
    assert_memory_equal(c, "x\0y", 3);
    sw_free(a);
    sw_free(b);
    sw_free(c);
    a = sw_strndup("hi", 10);
    assert_string_equal(a, "hi");
    sw_free(a);
    sw_mem_fail_nth(1);
    assert_null(sw_strdup("x"));
    sw_mem_fail_nth(0);
    assert_int_equal(sw_mem_live(), live);
}

static int count_hook(uint64_t ordinal, void *arg)
{
    *(uint64_t *)arg = ordinal;
    return 0;
}

static void test_custom_hook(void **state)
{
    uint64_t last = 0;
    void *p;

    (void)state;
    sw_mem_set_fault(count_hook, &last);
    p = sw_malloc(1);
    sw_free(p);
    p = sw_malloc(1);
    sw_free(p);
    sw_mem_set_fault(NULL, NULL);
    assert_int_equal(last, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_nth),
        cmocka_unit_test(test_mem_realloc),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_custom_hook),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
