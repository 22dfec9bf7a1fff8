/* sw_err_test: every code in the list has a name, a message, a gRPC
 * status and an ErrorInfo reason (UPPER_SNAKE, unique); values are unique;
 * unknown codes have safe answers. */
#include "tests/testutil.h"

#include "base/sw_err.h"

struct row {
    sw_err code;
    int value;
    int status;
    const char *name;
    const char *reason;
};

static const struct row rows[] = {
#define ROW(name, value, status, reason, msg)                                  \
    {name, value, status, #name, reason},
    SW_ERR_LIST(ROW)
#undef ROW
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void test_every_code(void **state)
{
    size_t i, j, k;

    (void)state;
    assert_true(NROWS >= 22);
    for (i = 0; i < NROWS; i++) {
        const char *msg = sw_err_str(rows[i].code);
        assert_int_equal((int)rows[i].code, rows[i].value);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(msg, "unknown error");
        assert_string_equal(sw_err_name(rows[i].code), rows[i].name);
        assert_int_equal(sw_err_grpc_status(rows[i].code), rows[i].status);
        assert_in_range(rows[i].status, 0, 16);
        if (i > 0)
            assert_true(rows[i].value <= 0 && rows[i].status != 0);
        assert_string_equal(sw_err_reason(rows[i].code), rows[i].reason);
        for (k = 0; rows[i].reason[k]; k++)
            assert_true(
                (rows[i].reason[k] >= 'A' && rows[i].reason[k] <= 'Z') ||
                rows[i].reason[k] == '_');
        assert_true(k > 0);
        for (j = 0; j < i; j++) {
            assert_int_not_equal(rows[i].value, rows[j].value);
            assert_string_not_equal(rows[i].reason, rows[j].reason);
        }
    }
    assert_int_equal(SW_OK, 0);
    assert_int_equal(sw_err_grpc_status(SW_OK), 0);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_string_equal(sw_err_str((sw_err)-9999), "unknown error");
    assert_string_equal(sw_err_name((sw_err)-9999), "SW_EUNKNOWN");
    assert_int_equal(sw_err_grpc_status((sw_err)-9999), 2);
    assert_int_equal(sw_err_grpc_status((sw_err)1), 2);
    assert_string_equal(sw_err_reason((sw_err)-9999), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code),
        cmocka_unit_test(test_unknown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
