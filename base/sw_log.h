/* sw_log: structured one-line logs to stderr in logfmt
 * ("ts=... level=info event=server.start addr=127.0.0.1:50051").
 * Each line is written with one write(2), so lines from different threads
 * never interleave. Thread-safe. */
#ifndef SW_LOG_H
#define SW_LOG_H

enum sw_log_level {
    SW_LOG_DEBUG = 0,
    SW_LOG_INFO = 1,
    SW_LOG_WARN = 2,
    SW_LOG_ERROR = 3,
};

/* sw_log_set_level drops lines below level. Set once at start-up. */
void sw_log_set_level(enum sw_log_level level);

/* sw_log_parse_level maps "debug", "info", "warn", "error" to a level;
 * returns -1 for anything else. */
int sw_log_parse_level(const char *s);

/* sw_log writes one line: the timestamp, level and event, then the caller's
 * key=value pairs formatted from fmt (which may be NULL). Quote values that
 * may hold spaces ("msg=\"%s\""). Never log secrets. */
void sw_log(enum sw_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sw_log_debug(ev, ...) sw_log(SW_LOG_DEBUG, ev, __VA_ARGS__)
#define sw_log_info(ev, ...) sw_log(SW_LOG_INFO, ev, __VA_ARGS__)
#define sw_log_warn(ev, ...) sw_log(SW_LOG_WARN, ev, __VA_ARGS__)
#define sw_log_error(ev, ...) sw_log(SW_LOG_ERROR, ev, __VA_ARGS__)

#endif
