/* sw_strset_test: membership over many strings (equal bytes, not equal
 * pointers), duplicates counted once, growth keeping every member, the
 * empty string and long strings, and a failed allocation leaving the set
 * as it was. */
#include "tests/testutil.h"

#include <stdio.h>

#include "base/sw_mem.h"
#include "base/sw_strset.h"

enum { N = 20000 };

static void test_members_and_duplicates(void **state)
{
    static char a[N][24], b[N][24];
    struct sw_strset s = SW_STRSET_INIT;
    size_t i;
    int added;

    (void)state;
    assert_false(sw_strset_has(&s, "x"));
    for (i = 0; i < N; i++) {
        snprintf(a[i], sizeof(a[i]), "r%zu@many.example", i);
        memcpy(b[i], a[i], sizeof(a[i])); /* same bytes, other pointer */
    }
    for (i = 0; i < N; i++) {
        ASSERT_OK(sw_strset_add(&s, a[i], &added));
        assert_int_equal(added, 1);
    }
    assert_int_equal(s.n, N);
    for (i = 0; i < N; i++) {
        assert_true(sw_strset_has(&s, b[i]));
        ASSERT_OK(sw_strset_add(&s, b[i], &added));
        assert_int_equal(added, 0);
    }
    assert_int_equal(s.n, N);
    assert_false(sw_strset_has(&s, "r20000@many.example"));
    assert_false(sw_strset_has(&s, "r1@many.exampl"));
    assert_false(sw_strset_has(&s, ""));
    ASSERT_OK(sw_strset_add(&s, "", &added));
    assert_int_equal(added, 1);
    assert_true(sw_strset_has(&s, ""));
    ASSERT_ERR(sw_strset_add(&s, NULL, &added), SW_EINVAL);
    assert_false(sw_strset_has(&s, NULL));
    sw_strset_free(&s);
    assert_int_equal(s.n, 0);
    assert_false(sw_strset_has(&s, a[0]));
}

static void test_long_strings_differ_late(void **state)
{
    char x[300], y[300];
    struct sw_strset s = SW_STRSET_INIT;

    (void)state;
    memset(x, 'a', sizeof(x) - 1);
    x[sizeof(x) - 1] = '\0';
    memcpy(y, x, sizeof(x));
    y[sizeof(y) - 2] = 'b'; /* differs in the last byte only */
    ASSERT_OK(sw_strset_add(&s, x, NULL));
    assert_false(sw_strset_has(&s, y));
    y[sizeof(y) - 2] = 'a';
    assert_true(sw_strset_has(&s, y));
    sw_strset_free(&s);
}

static void test_failed_growth_keeps_the_set(void **state)
{
    static char a[64][16];
    struct sw_strset s = SW_STRSET_INIT;
    int64_t live = sw_mem_live();
    size_t i, j;
    sw_err rc;

    (void)state;
    for (i = 0; i < 64; i++)
        snprintf(a[i], sizeof(a[i]), "k%zu", i);
    for (i = 0; i < 64; i++) {
        sw_mem_fail_nth(1);
        rc = sw_strset_add(&s, a[i], NULL);
        sw_mem_fail_nth(0);
        if (rc != SW_OK) {
            assert_int_equal(rc, SW_ENOMEM);
            assert_false(sw_strset_has(&s, a[i]));
            ASSERT_OK(sw_strset_add(&s, a[i], NULL));
        }
        for (j = 0; j <= i; j++)
            assert_true(sw_strset_has(&s, a[j]));
        assert_int_equal(s.n, i + 1);
    }
    ASSERT_OK(sw_strset_reserve(&s, 1000));
    for (j = 0; j < 64; j++)
        assert_true(sw_strset_has(&s, a[j]));
    sw_strset_free(&s);
    assert_int_equal(sw_mem_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_and_duplicates),
        cmocka_unit_test(test_long_strings_differ_late),
        cmocka_unit_test(test_failed_growth_keeps_the_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
