/* sw_metric: lock-free histograms and the Prometheus text format. The
 * counters are plain uint64_t updated with the compiler's atomic builtins,
 * so structs holding them can be zeroed and copied like any other. */
#include "base/sw_metric.h"

#include <math.h>
#include <string.h>

void sw_counter_add(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

uint64_t sw_counter_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void sw_hist_init(struct sw_hist *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n = n > SW_HIST_MAX ? SW_HIST_MAX : n;
}

void sw_hist_observe_us(struct sw_hist *h, int64_t us)
{
    double s;
    size_t i;

    if (us < 0)
        us = 0;
    s = (double)us / 1e6;
    /* A bucket's bound is inclusive (le), as Prometheus defines it. */
    for (i = 0; i < h->n && s > h->bounds[i]; i++)
        ;
    sw_counter_add(&h->counts[i], 1);
    sw_counter_add(&h->sum_us, (uint64_t)us);
}

void sw_hist_read(const struct sw_hist *h, struct sw_hist_snap *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->bounds = h->bounds;
    out->n = h->n;
    for (i = 0; i <= h->n; i++)
        out->counts[i] = sw_counter_get(&h->counts[i]);
    out->sum_us = sw_counter_get(&h->sum_us);
}

sw_err sw_hist_merge(struct sw_hist_snap *a, const struct sw_hist_snap *b)
{
    size_t i;

    if (a->n != b->n || a->bounds != b->bounds)
        return SW_EINVAL;
    for (i = 0; i <= a->n; i++)
        a->counts[i] += b->counts[i];
    a->sum_us += b->sum_us;
    return SW_OK;
}

sw_err sw_metric_head(struct sw_buf *b, const char *name, const char *type,
                      const char *help)
{
    return sw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                         type);
}

sw_err sw_metric_label(struct sw_buf *l, const char *key, const char *value)
{
    const char *p;
    sw_err rc;

    rc = sw_buf_printf(l, "%s%s=\"", sw_buf_len(l) > 0 ? "," : "", key);
    for (p = value; rc == SW_OK && *p; p++) {
        if (*p == '\\')
            rc = sw_buf_addstr(l, "\\\\");
        else if (*p == '"')
            rc = sw_buf_addstr(l, "\\\"");
        else if (*p == '\n')
            rc = sw_buf_addstr(l, "\\n");
        else
            rc = sw_buf_addc(l, *p);
    }
    if (rc == SW_OK)
        rc = sw_buf_addc(l, '"');
    return rc;
}

/* sw_metric_name writes "name" or "name{labels}" and a space. */
static sw_err sw_metric_name(struct sw_buf *b, const char *name,
                             const char *labels)
{
    if (labels == NULL || labels[0] == '\0')
        return sw_buf_printf(b, "%s ", name);
    return sw_buf_printf(b, "%s{%s} ", name, labels);
}

sw_err sw_metric_u64(struct sw_buf *b, const char *name, const char *labels,
                     uint64_t v)
{
    sw_err rc = sw_metric_name(b, name, labels);

    if (rc == SW_OK)
        rc = sw_buf_printf(b, "%llu\n", (unsigned long long)v);
    return rc;
}

/* sw_metric_num formats v as the format wants it. */
static sw_err sw_metric_num(struct sw_buf *b, double v)
{
    if (isnan(v))
        return sw_buf_addstr(b, "NaN");
    if (isinf(v))
        return sw_buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
    /* 15 significant digits: what a decimal value (an age in ms / 1000)
     * survives without printing binary noise (12.345, not
     * 12.345000000000001). */
    return sw_buf_printf(b, "%.15g", v);
}

/* sw_metric_us writes a microsecond count as seconds, exactly: the
 * fraction's trailing zeros dropped ("3.0105", "2"). */
static sw_err sw_metric_us(struct sw_buf *b, uint64_t us)
{
    char frac[8];
    uint64_t f = us % 1000000;
    int i;

    if (f == 0)
        return sw_buf_printf(b, "%llu", (unsigned long long)(us / 1000000));
    for (i = 5; i >= 0; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    for (i = 6; i > 0 && frac[i - 1] == '0'; i--)
        ;
    frac[i] = '\0';
    return sw_buf_printf(b, "%llu.%s", (unsigned long long)(us / 1000000),
                         frac);
}

sw_err sw_metric_f64(struct sw_buf *b, const char *name, const char *labels,
                     double v)
{
    sw_err rc = sw_metric_name(b, name, labels);

    if (rc == SW_OK)
        rc = sw_metric_num(b, v);
    if (rc == SW_OK)
        rc = sw_buf_addc(b, '\n');
    return rc;
}

sw_err sw_metric_hist(struct sw_buf *b, const char *name, const char *labels,
                      const struct sw_hist_snap *h)
{
    const char *sep = labels && labels[0] ? "," : "";
    uint64_t cum = 0;
    size_t i;
    sw_err rc = SW_OK;

    if (labels == NULL)
        labels = "";
    for (i = 0; rc == SW_OK && i <= h->n; i++) {
        cum += h->counts[i];
        if (i < h->n) {
            /* %g keeps bounds short and stable ("0.005", "1", "2.5"). */
            rc = sw_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name,
                               labels, sep, h->bounds[i],
                               (unsigned long long)cum);
        } else {
            rc = sw_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
                               labels, sep, (unsigned long long)cum);
        }
    }
    if (rc == SW_OK)
        rc = sw_buf_printf(b, "%s_sum%s%s%s ", name, labels[0] ? "{" : "",
                           labels, labels[0] ? "}" : "");
    if (rc == SW_OK)
        rc = sw_metric_us(b, h->sum_us);
    if (rc == SW_OK)
        rc = sw_buf_printf(b, "\n%s_count%s%s%s %llu\n", name,
                           labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                           (unsigned long long)cum);
    return rc;
}
