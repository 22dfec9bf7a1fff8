/* fake_srv: start and stop the scripted fake OpenAI-compatible server
 * (tests/llm/fake_openai.py) on loopback and read the requests it logged.
 * Header-only test helper; needs cmocka, jansson and testutil.h. */
#ifndef TESTS_LLM_FAKE_SRV_H
#define TESTS_LLM_FAKE_SRV_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/sw_util.h"
#include "tests/testutil.h"

struct fake_srv {
    char script[TEST_PATH_MAX + 32];
    char log[TEST_PATH_MAX + 32];
    pid_t pid;
    int port;
};

/* fake_srv_start writes script (a JSON list of steps) into dir and runs the
 * server on port (0: any), waiting for its "PORT n" line. */
static inline void fake_srv_start(struct fake_srv *f, const char *dir,
                                  const char *script, int port)
{
    const char *srcdir = getenv("TEST_SRCDIR");
    char py[TEST_PATH_MAX], line[64], ps[16];
    int pfd[2];
    ssize_t r;
    size_t k = 0;
    FILE *fp;

    snprintf(f->script, sizeof(f->script), "%s/script.json", dir);
    snprintf(f->log, sizeof(f->log), "%s/requests.jsonl", dir);
    fp = fopen(f->script, "w");
    assert_non_null(fp);
    fputs(script, fp);
    fclose(fp);
    unlink(f->log);
    snprintf(py, sizeof(py), "%s/snipwise/tests/llm/fake_openai.py",
             srcdir ? srcdir : ".");
    snprintf(ps, sizeof(ps), "%d", port);
    assert_int_equal(pipe(pfd), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl("/usr/bin/python3", "python3", py, f->script, f->log, ps,
              (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    while (k + 1 < sizeof(line)) {
        r = read(pfd[0], line + k, 1);
        if (r <= 0 || line[k] == '\n')
            break;
        k++;
    }
    line[k] = '\0';
    close(pfd[0]);
    assert_true(k > 5 && strncmp(line, "PORT ", 5) == 0);
    assert_int_equal(sw_parse_int(line + 5, 1, 65535, &f->port), 0);
}

/* fake_srv_stop ends the server (if running). */
static inline void fake_srv_stop(struct fake_srv *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
    }
    f->pid = -1;
}

/* fake_srv_requests returns the logged requests as a JSON array. */
static inline json_t *fake_srv_requests(const struct fake_srv *f)
{
    json_t *a = json_array();
    static char line[1 << 20];
    FILE *fp = fopen(f->log, "r");

    if (fp == NULL)
        return a;
    while (fgets(line, sizeof(line), fp)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        assert_non_null(j);
        json_array_append_new(a, j);
    }
    fclose(fp);
    return a;
}

/* fake_srv_free_port finds a loopback port nobody listens on now (for a
 * server started later: the endpoint is unreachable until then). */
static inline int fake_srv_free_port(void)
{
    struct fake_srv f = {.pid = -1};
    char dir[TEST_PATH_MAX];
    int port;

    test_mkdtemp(dir);
    fake_srv_start(&f, dir, "[]", 0);
    port = f.port;
    fake_srv_stop(&f);
    test_rmtree(dir);
    return port;
}

#endif
