/* sw_metric: the pieces of a Prometheus endpoint that know nothing of
 * snipd. Lock-free histograms that any thread may observe into, and the
 * text exposition format (version 0.0.4): # HELP / # TYPE heads, samples
 * with escaped label values, and histograms as cumulative _bucket series
 * with _sum and _count. The metric table itself lives with its owner
 * (service/svc_metrics.h). */
#ifndef SW_METRIC_H
#define SW_METRIC_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"

#define SW_HIST_MAX 20 /* finite buckets of one histogram, at most */

/* A histogram of durations. bounds are the finite upper bounds in seconds,
 * ascending (a static table the caller keeps alive); counts[i] counts the
 * observations in bucket i alone (le bounds[i], above bounds[i-1]) and
 * counts[n] those above every bound (+Inf). Updated with relaxed atomics:
 * observe never blocks, and a reader sees each counter whole, though not
 * all of them at one instant. */
struct sw_hist {
    const double *bounds;
    size_t n;
    uint64_t counts[SW_HIST_MAX + 1];
    uint64_t sum_us; /* sum of the observations, microseconds */
};

/* A copy of a histogram, for exposition. */
struct sw_hist_snap {
    const double *bounds;
    size_t n;
    uint64_t counts[SW_HIST_MAX + 1]; /* per bucket, as in sw_hist */
    uint64_t sum_us;
};

/* sw_hist_init empties h over bounds[0..n); n is capped at SW_HIST_MAX. */
void sw_hist_init(struct sw_hist *h, const double *bounds, size_t n);

/* sw_hist_observe_us adds one observation of us microseconds (negative
 * values count as 0). Thread-safe, lock-free. */
void sw_hist_observe_us(struct sw_hist *h, int64_t us);

/* sw_hist_read copies h into *out. Thread-safe. */
void sw_hist_read(const struct sw_hist *h, struct sw_hist_snap *out);

/* sw_hist_merge adds b's counts into a (same bounds: SW_EINVAL if not). */
SW_MUST_CHECK sw_err sw_hist_merge(struct sw_hist_snap *a,
                                   const struct sw_hist_snap *b);

/* Atomic counters for plain uint64_t fields (relaxed: they only count). */
void sw_counter_add(uint64_t *c, uint64_t n);
uint64_t sw_counter_get(const uint64_t *c);

/* --- Exposition -------------------------------------------------------
 * Every writer appends to b and returns SW_OK or b's error (SW_ETOOBIG,
 * SW_ENOMEM). labels is a label set already formatted by sw_metric_label
 * (`method="x",code="OK"`), or NULL / "" for none. */

/* sw_metric_head writes the "# HELP name help" and "# TYPE name type"
 * lines; type is "counter", "gauge" or "histogram". */
SW_MUST_CHECK sw_err sw_metric_head(struct sw_buf *b, const char *name,
                                    const char *type, const char *help);

/* sw_metric_label appends key="value" to a label set in l, with a comma
 * first when l is not empty; value is escaped (backslash, double quote and
 * newline) as the format requires. */
SW_MUST_CHECK sw_err sw_metric_label(struct sw_buf *l, const char *key,
                                     const char *value);

/* sw_metric_u64 and sw_metric_f64 write one sample line "name{labels} v".
 * Doubles are written with up to 15 significant digits; NaN and the
 * infinities as NaN, +Inf, -Inf. */
SW_MUST_CHECK sw_err sw_metric_u64(struct sw_buf *b, const char *name,
                                   const char *labels, uint64_t v);
SW_MUST_CHECK sw_err sw_metric_f64(struct sw_buf *b, const char *name,
                                   const char *labels, double v);

/* sw_metric_hist writes a histogram's series: name_bucket{labels,le="B"}
 * with cumulative counts for every bound and le="+Inf", then name_sum (in
 * seconds, exact to the microsecond) and name_count (equal to the +Inf
 * bucket). */
SW_MUST_CHECK sw_err sw_metric_hist(struct sw_buf *b, const char *name,
                                    const char *labels,
                                    const struct sw_hist_snap *h);

#endif
