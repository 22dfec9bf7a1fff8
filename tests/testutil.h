/* testutil: helpers shared by the cmocka tests: a private temporary
 * directory under $TEST_TMPDIR, removed recursively afterwards, and
 * assertions that print sw_err names. Include after nothing else: it pulls in
 * cmocka's prerequisites itself. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_err.h"

/* ASSERT_OK fails the test, naming the error, unless expr gives SW_OK. */
#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        sw_err rc_ = (expr);                                                   \
        if (rc_ != SW_OK)                                                      \
            fail_msg("%s:%d: %s returned %s (%s)", __FILE__, __LINE__, #expr,  \
                     sw_err_name(rc_), sw_err_str(rc_));                       \
    } while (0)

/* ASSERT_ERR fails the test unless expr gives exactly want. */
#define ASSERT_ERR(expr, want)                                                 \
    do {                                                                       \
        sw_err rc_ = (expr);                                                   \
        if (rc_ != (want))                                                     \
            fail_msg("%s:%d: %s returned %s, want %s", __FILE__, __LINE__,     \
                     #expr, sw_err_name(rc_), sw_err_name(want));              \
    } while (0)

/* ASSERT_EQ compares two integers of any width as long long. */
#define ASSERT_EQ(a, b)                                                        \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            fail_msg("%s:%d: %s == %lld, want %s == %lld", __FILE__, __LINE__, \
                     #a, a_, #b, b_);                                          \
    } while (0)

#define TEST_PATH_MAX 4096

/* test_mkdtemp creates a fresh directory under $TEST_TMPDIR (or /tmp) and
 * writes its path into out, which holds TEST_PATH_MAX bytes. */
static inline void test_mkdtemp(char *out)
{
    const char *base = getenv("TEST_TMPDIR");
    int n;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    n = snprintf(out, TEST_PATH_MAX, "%s/swtest.XXXXXX", base);
    if (n < 0 || n >= TEST_PATH_MAX)
        fail_msg("temporary path too long");
    if (mkdtemp(out) == NULL)
        fail_msg("mkdtemp(%s) failed", out);
}

static inline int test_rmtree_cb(const char *path, const struct stat *st,
                                 int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* test_rmtree removes dir and everything under it. */
static inline void test_rmtree(const char *dir)
{
    if (nftw(dir, test_rmtree_cb, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fail_msg("cannot remove %s", dir);
}

#endif
