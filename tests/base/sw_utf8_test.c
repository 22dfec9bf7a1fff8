/* sw_utf8_test: sw_utf8_valid on the edges of each sequence length, on
 * one case or more of every class it refuses (NUL, stray bytes, cut and
 * broken sequences, overlong forms, surrogates, past U+10FFFF), and on
 * the bound n sets. */
#include "tests/testutil.h"

#include "base/sw_utf8.h"

struct utf8_case {
    const char *name;
    const char *s;
    size_t n; /* the bytes of s, which may hold a NUL */
    int want; /* sw_utf8_valid's answer */
};

#define UTF8_OK(name, lit)                                                     \
    {                                                                          \
        name, lit, sizeof(lit) - 1, 1                                          \
    }
#define UTF8_BAD(name, lit)                                                    \
    {                                                                          \
        name, lit, sizeof(lit) - 1, 0                                          \
    }

static const struct utf8_case utf8_cases[] = {
    /* Valid, the edges of each length included. */
    UTF8_OK("empty", ""),
    UTF8_OK("ASCII", "Acme sales, team 7"),
    UTF8_OK("U+0001", "\x01"),
    UTF8_OK("U+007F", "\x7F"),
    UTF8_OK("U+0080", "\xC2\x80"),
    UTF8_OK("U+009F", "\xC2\x9F"),
    UTF8_OK("U+00E9", "\xC3\xA9"),
    UTF8_OK("U+07FF", "\xDF\xBF"),
    UTF8_OK("U+0800", "\xE0\xA0\x80"),
    UTF8_OK("U+D7FF", "\xED\x9F\xBF"),
    UTF8_OK("U+E000", "\xEE\x80\x80"),
    UTF8_OK("U+FFFD", "\xEF\xBF\xBD"),
    UTF8_OK("U+FFFF", "\xEF\xBF\xBF"),
    UTF8_OK("U+10000", "\xF0\x90\x80\x80"),
    UTF8_OK("U+10FFFF", "\xF4\x8F\xBF\xBF"),
    UTF8_OK("mixed", "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"),
    /* NUL, anywhere. */
    UTF8_BAD("NUL alone", "\0"),
    UTF8_BAD("NUL inside", "Sales\0Evil"),
    UTF8_BAD("NUL last", "Sales\0"),
    UTF8_BAD("NUL after a sequence", "\xC3\xA9\0"),
    /* Bytes that cannot start a sequence. */
    UTF8_BAD("lone 0x80", "\x80"),
    UTF8_BAD("lone 0xBF", "a\xBF"),
    UTF8_BAD("continuation after a whole sequence", "\xC3\xA9\xA9"),
    UTF8_BAD("0xF8 (5 bytes)", "\xF8\x88\x80\x80\x80"),
    UTF8_BAD("0xFC (6 bytes)", "\xFC\x84\x80\x80\x80\x80"),
    UTF8_BAD("0xFE", "\xFE"),
    UTF8_BAD("0xFF", "\xFF"),
    /* Sequences cut short or broken. */
    UTF8_BAD("2 cut", "\xC2"),
    UTF8_BAD("3 cut after 1", "\xE0"),
    UTF8_BAD("3 cut after 2", "\xE0\xA0"),
    UTF8_BAD("4 cut after 3", "\xF0\x90\x80"),
    UTF8_BAD("2 broken by ASCII", "\xC2\x41"),
    UTF8_BAD("3 broken by ASCII", "\xE0\xA0\x41"),
    UTF8_BAD("4 broken by ASCII", "\xF0\x90\x80\x41"),
    UTF8_BAD("2 broken by a lead byte", "\xC2\xC2\x80"),
    UTF8_BAD("2 broken by NUL", "\xC2\0"),
    /* Overlong forms. */
    UTF8_BAD("NUL in 2", "\xC0\x80"),
    UTF8_BAD("U+007F in 2", "\xC1\xBF"),
    UTF8_BAD("'/' in 3", "\xE0\x80\xAF"),
    UTF8_BAD("U+07FF in 3", "\xE0\x9F\xBF"),
    UTF8_BAD("NUL in 4", "\xF0\x80\x80\x80"),
    UTF8_BAD("U+FFFF in 4", "\xF0\x8F\xBF\xBF"),
    /* Surrogates. */
    UTF8_BAD("U+D800", "\xED\xA0\x80"),
    UTF8_BAD("U+DBFF", "\xED\xAF\xBF"),
    UTF8_BAD("U+DC00", "\xED\xB0\x80"),
    UTF8_BAD("U+DFFF", "\xED\xBF\xBF"),
    UTF8_BAD("a pair (CESU-8)", "\xED\xA0\xBD\xED\xB8\x80"),
    /* Past U+10FFFF. */
    UTF8_BAD("U+110000", "\xF4\x90\x80\x80"),
    UTF8_BAD("0xF5 lead", "\xF5\x80\x80\x80"),
    UTF8_BAD("U+1FFFFF", "\xF7\xBF\xBF\xBF"),
};

/* Every case, named in the failure when it is answered wrong. */
static void test_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        if (sw_utf8_valid(c->s, c->n) != c->want)
            fail_msg("%s: expected %s", c->name, c->want ? "valid" : "invalid");
    }
}

/* n bounds the bytes read: a sequence cut by n is refused, and a bad
 * byte past n is never looked at; no bytes at all are valid. */
static void test_length_bounds(void **state)
{
    (void)state;
    assert_int_equal(sw_utf8_valid(NULL, 0), 1);
    assert_int_equal(sw_utf8_valid("\xC2\x80", 1), 0);
    assert_int_equal(sw_utf8_valid("\xF4\x8F\xBF\xBF", 3), 0);
    assert_int_equal(sw_utf8_valid("ab\xFF", 2), 1);
    assert_int_equal(sw_utf8_valid("a\0b", 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_length_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
