/* sw_log: logfmt lines to stderr, built in a stack-bounded sw_buf and
 * written with one write(2). */
#include "base/sw_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_buf.h"

static atomic_int sw_log_min = SW_LOG_INFO;

static const char *const sw_log_names[] = {"debug", "info", "warn", "error"};

void sw_log_set_level(enum sw_log_level level)
{
    atomic_store(&sw_log_min, (int)level);
}

int sw_log_parse_level(const char *s)
{
    int i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, sw_log_names[i]) == 0)
            return i;
    }
    return -1;
}

void sw_log(enum sw_log_level level, const char *event, const char *fmt, ...)
{
    struct sw_buf b;
    struct timespec ts;
    struct tm tm;
    va_list ap;
    sw_err rc;

    if ((int)level < atomic_load(&sw_log_min) || (int)level > SW_LOG_ERROR)
        return;
    sw_buf_init(&b, 16384);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    rc = sw_buf_printf(&b,
                       "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s "
                       "event=%s",
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                       sw_log_names[level], event);
    if (rc == SW_OK && fmt != NULL && fmt[0] != '\0') {
        rc = sw_buf_addc(&b, ' ');
        if (rc == SW_OK) {
            va_start(ap, fmt);
            rc = sw_buf_vprintf(&b, fmt, ap);
            va_end(ap);
        }
    }
    if (rc == SW_ETOOBIG)
        rc = sw_buf_addstr(&b, " truncated=1");
    if (sw_buf_addc(&b, '\n') == SW_OK || b.len > 0) {
        const char *p = sw_buf_str(&b);
        size_t n = sw_buf_len(&b);
        /* A failed log write has nowhere to be reported. */
        while (n > 0) {
            ssize_t w = write(STDERR_FILENO, p, n);
            if (w <= 0)
                break;
            p += w;
            n -= (size_t)w;
        }
    }
    sw_buf_free(&b);
}
