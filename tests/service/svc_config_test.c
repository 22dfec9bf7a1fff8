/* svc_config_test: snipd's config file (--config, SNIPD_CONFIG): keys are
 * the flags without dashes, comments and blanks are skipped, flags beat the
 * environment which beats the file which beats the defaults, and a bad key,
 * value or line is an error naming the file and the line. */
#include "tests/testutil.h"

#include <fcntl.h>

#include "base/sw_log.h"
#include "service/svc_config.h"

/* The test's file, in a fresh directory; path holds TEST_PATH_MAX bytes. */
struct cfg_file {
    char dir[TEST_PATH_MAX];
    char path[TEST_PATH_MAX];
};

static void cfg_write(struct cfg_file *f, const char *text)
{
    FILE *fp;

    test_mkdtemp(f->dir);
    assert_true(snprintf(f->path, sizeof(f->path), "%s/snipd.conf", f->dir) <
                (int)sizeof(f->path));
    fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void cfg_env_clear(void)
{
    unsetenv("SNIPD_CONFIG");
    unsetenv("SNIPD_LISTEN");
    unsetenv("SNIPD_THREADS");
    unsetenv("SNIPD_DATA_DIR");
}

static const char *cfg_text =
    "# snipd's settings\n"
    "\n"
    "  listen = 127.0.0.1:6000   \n"
    "data-dir=/var/lib/snipwise # the state directory\n"
    "\tthreads = 3\n"
    "log-level = warn\n"
    "demo = 0\n"
    "max-map-bytes = 2147483648\n"
    "llm-base-url = http://llm.local:8080/v1#frag\n"
    "grace-ms = 2500";

/* Every type of key is read; blanks, comments and a last line without a
 * newline are handled. */
static void test_file_keys(void **state)
{
    struct cfg_file f;
    struct svc_config c;
    const char *why = NULL, *bad = NULL;
    char *argv[] = {"snipd", "serve", "--config", f.path, NULL};

    (void)state;
    cfg_env_clear();
    cfg_write(&f, cfg_text);
    ASSERT_OK(svc_config_parse(4, argv, &c, &why, &bad));
    assert_int_equal(c.cmd, SVC_CMD_SERVE);
    assert_string_equal(c.config_file, f.path);
    assert_string_equal(c.listen, "127.0.0.1:6000");
    assert_string_equal(c.data_dir, "/var/lib/snipwise");
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.log_level, SW_LOG_WARN);
    assert_int_equal(c.demo, 0);
    ASSERT_EQ(c.max_map_bytes, 2147483648LL);
    ASSERT_EQ(c.grace_ms, 2500);
    /* A # inside a value (no blank before it) is part of the value. */
    assert_string_equal(c.llm_base_url, "http://llm.local:8080/v1#frag");
    /* Untouched keys keep their defaults. */
    assert_int_equal(c.workers, 8);
    svc_config_free(&c);
    test_rmtree(f.dir);
}

/* flags > environment > file > defaults, and SNIPD_CONFIG names the file
 * unless --config does. */
static void test_precedence(void **state)
{
    struct cfg_file f, g;
    struct svc_config c;
    const char *why = NULL, *bad = NULL;
    char *argv1[] = {"snipd", "--listen", "127.0.0.1:7000", NULL};
    char *argv2[] = {"snipd", "check", "--config=", NULL};
    char other[TEST_PATH_MAX + 16];

    (void)state;
    cfg_env_clear();
    cfg_write(&f, "listen = 127.0.0.1:6000\nthreads = 3\ndata-dir = /a\n");
    cfg_write(&g, "data-dir = /from-g\n");
    setenv("SNIPD_CONFIG", f.path, 1);
    setenv("SNIPD_THREADS", "5", 1);
    setenv("SNIPD_DATA_DIR", "/env", 1);
    ASSERT_OK(svc_config_parse(3, argv1, &c, &why, &bad));
    assert_string_equal(c.config_file, f.path);
    assert_string_equal(c.listen, "127.0.0.1:7000"); /* flag over file */
    assert_int_equal(c.threads, 5);                  /* env over file */
    assert_string_equal(c.data_dir, "/env");         /* env over file */
    svc_config_free(&c);

    /* Without the environment the file's values hold. */
    unsetenv("SNIPD_THREADS");
    unsetenv("SNIPD_DATA_DIR");
    ASSERT_OK(svc_config_parse(3, argv1, &c, &why, &bad));
    assert_int_equal(c.threads, 3);
    assert_string_equal(c.data_dir, "/a");
    svc_config_free(&c);

    /* --config beats SNIPD_CONFIG. */
    assert_true(snprintf(other, sizeof(other), "--config=%s", g.path) <
                (int)sizeof(other));
    argv2[2] = other;
    ASSERT_OK(svc_config_parse(3, argv2, &c, &why, &bad));
    assert_int_equal(c.cmd, SVC_CMD_CHECK);
    assert_string_equal(c.config_file, g.path);
    assert_string_equal(c.data_dir, "/from-g");
    assert_string_equal(c.listen, "127.0.0.1:50051"); /* f not read */
    svc_config_free(&c);
    cfg_env_clear();
    test_rmtree(f.dir);
    test_rmtree(g.dir);
}

/* A flag's value that looks like --config is a value, not a flag. */
static void test_config_as_value(void **state)
{
    struct svc_config c;
    const char *why = NULL, *bad = NULL;
    char *argv[] = {"snipd", "--data-dir", "--config", NULL};

    (void)state;
    cfg_env_clear();
    ASSERT_OK(svc_config_parse(3, argv, &c, &why, &bad));
    assert_null(c.config_file);
    assert_string_equal(c.data_dir, "--config");
    svc_config_free(&c);
}

/* Each bad file is SW_EINVAL with *bad = "FILE:LINE: key". */
static void expect_bad(const char *text, int line, const char *key,
                       const char *why_part)
{
    struct cfg_file f;
    struct svc_config c;
    const char *why = NULL, *bad = NULL;
    char *argv[] = {"snipd", "--config", f.path, NULL};
    char want[TEST_PATH_MAX + 64];

    cfg_env_clear();
    cfg_write(&f, text);
    ASSERT_ERR(svc_config_parse(3, argv, &c, &why, &bad), SW_EINVAL);
    if (key)
        snprintf(want, sizeof(want), "%s:%d: %s", f.path, line, key);
    else
        snprintf(want, sizeof(want), "%s:%d", f.path, line);
    assert_non_null(bad);
    assert_string_equal(bad, want);
    assert_non_null(why);
    assert_non_null(strstr(why, why_part));
    svc_config_free(&c);
    test_rmtree(f.dir);
}

static void test_errors(void **state)
{
    (void)state;
    expect_bad("# ok\nlisten = 127.0.0.1:1\nbogus = 1\n", 3, "bogus",
               "unknown key");
    expect_bad("threads = 0\n", 1, "threads", "integer in range");
    expect_bad("\n\nthreads = many\n", 3, "threads", "integer in range");
    expect_bad("demo = 2\n", 1, "demo", "0 or 1");
    expect_bad("log-level = loud\n", 1, "log-level", "debug, info");
    expect_bad("listen =\n", 1, "listen", "must not be empty");
    expect_bad("listen 127.0.0.1:1\n", 1, NULL, "key = value");
    expect_bad("--listen = 127.0.0.1:1\n", 1, "--listen", "unknown key");
    expect_bad("config = /etc/other.conf\n", 1, "config", "another");
}

/* A missing file is an error naming it; so is an environment value that
 * the file did not make valid. */
static void test_missing_file(void **state)
{
    struct svc_config c;
    const char *why = NULL, *bad = NULL;
    char *argv[] = {"snipd", "--config", "/nonexistent/snipd.conf", NULL};

    (void)state;
    cfg_env_clear();
    ASSERT_ERR(svc_config_parse(3, argv, &c, &why, &bad), SW_EINVAL);
    assert_string_equal(bad, "/nonexistent/snipd.conf");
    assert_non_null(strstr(why, "not found"));
    svc_config_free(&c);
    svc_config_free(&c); /* twice is safe */
}

/* --help lists --config and its variable. */
static void test_usage_lists_config(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    svc_config_usage(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "  --config "));
    assert_non_null(strstr(text, "env SNIPD_CONFIG"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_keys),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_config_as_value),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_usage_lists_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
