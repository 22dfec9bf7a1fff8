/* svc_metrics: counters fed by the server as calls end, figures gathered at
 * scrape time, the exposition driven by SVC_METRIC_LIST, the access log,
 * and the libmicrohttpd endpoint.
 *
 * Nothing here takes a lock a gRPC thread waits on: calls only add to
 * atomic counters (and write one log line); a scrape, on libmicrohttpd's
 * thread, reads those counters, LMDB statistics in a read transaction, the
 * worker's and pipeline's counters (each under a mutex held for a copy)
 * and the index figures between batches (rank_ranker_figures). */
#include "service/svc_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_metric.h"
#include "base/sw_util.h"
#include "ingest/pipeline.h"
#include "ranker/index.h"
#include "service/svc_llm.h"
#include "service/svc_rpc.h"
#include "store/store.h"
#include "store/store_job.h"

#define SVC_METRICS_NCODES 17             /* grpc_status_code 0..16 */
#define SVC_METRICS_MAX_BYTES (16u << 20) /* one exposition, at most */
#define SVC_METRICS_HTTP_CONNS 16
#define SVC_METRICS_HTTP_TIMEOUT_S 10

struct svc_metric_def {
    const char *name, *type, *help;
};

static const struct svc_metric_def svc_metric_defs[SVC_METRIC_COUNT] = {
#define SVC_METRIC_DEF(id, name, type, labels, help) {name, type, help},
    SVC_METRIC_LIST(SVC_METRIC_DEF)
#undef SVC_METRIC_DEF
};

static const char *const svc_metrics_codes[SVC_METRICS_NCODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* Latency buckets of RPCs (seconds): from a cached Health.Check to a
 * streamed ingest of a large mailbox. */
static const double svc_metrics_rpc_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25,   0.5,   1,      2.5,   5,    10,    30,   120,
};

/* Re-ranking takes seconds to many minutes. */
static const double svc_metrics_rerank_bounds[] = {
    0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
};

#define SVC_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum svc_gather_src { SVC_SRC_STORE, SVC_SRC_INDEX, SVC_SRC_PROCESS, SVC_NSRC };

static const char *const svc_gather_src_names[SVC_NSRC] = {"store", "index",
                                                           "process"};

enum svc_rerank_result {
    SVC_RERANK_PROMOTED,
    SVC_RERANK_KEPT,
    SVC_RERANK_FAILED,
    SVC_NRERANK
};

static const char *const svc_rerank_names[SVC_NRERANK] = {"promoted", "kept",
                                                          "failed"};

struct svc_metrics {
    struct svc_metrics_opts o;
    struct svc_llm *llm;
    /* Per method slot (the method table's order, plus one last slot for
     * calls to methods not in it): calls by status code, durations. */
    struct svc_method *methods;
    size_t nmethods;
    uint64_t *calls;        /* [(nmethods + 1) * SVC_METRICS_NCODES] */
    struct sw_hist *rpc_us; /* [nmethods + 1] */
    uint64_t rerank_runs[SVC_NRERANK];
    struct sw_hist rerank_us;
    uint64_t gather_errors[SVC_NSRC];
    struct MHD_Daemon *httpd;
};

/* What one scrape read, before it is written out. */
struct svc_metrics_snap {
    int has_store;
    struct store_stats ss;
    uint64_t backlog;
    int has_ingest;
    struct ingest_totals it;
    int has_llm;
    struct svc_llm_stats ls;
    int has_index;
    struct rank_team_figures *teams; /* sorted; the last may be "other" */
    size_t nteams, nloaded;
    int64_t now_ms;
    int has_process;
    uint64_t rss, fds;
    int has_heap;             /* glibc's malloc (not a sanitizer's) */
    uint64_t heap, heap_free; /* mallinfo2: in use, and held free */
};

const char *svc_metrics_code_name(int status)
{
    if (status < 0 || status >= SVC_METRICS_NCODES)
        return "UNKNOWN";
    return svc_metrics_codes[status];
}

/* --- Life ----------------------------------------------------------------- */

sw_err svc_metrics_new(const struct svc_metrics_opts *o, svc_metrics **out)
{
    svc_metrics *m;
    size_t i;
    sw_err rc;

    m = sw_calloc(1, sizeof(*m));
    if (m == NULL)
        return SW_ENOMEM;
    m->o = *o;
    if (m->o.team_labels < 0)
        m->o.team_labels = 0;
    rc = svc_rpc_table(&m->methods, &m->nmethods);
    if (rc) {
        sw_free(m);
        return rc;
    }
    m->calls =
        sw_calloc((m->nmethods + 1) * SVC_METRICS_NCODES, sizeof(*m->calls));
    m->rpc_us = sw_calloc(m->nmethods + 1, sizeof(*m->rpc_us));
    if (m->calls == NULL || m->rpc_us == NULL) {
        svc_metrics_free(&m);
        return SW_ENOMEM;
    }
    for (i = 0; i <= m->nmethods; i++)
        sw_hist_init(&m->rpc_us[i], svc_metrics_rpc_bounds,
                     SVC_NELEM(svc_metrics_rpc_bounds));
    sw_hist_init(&m->rerank_us, svc_metrics_rerank_bounds,
                 SVC_NELEM(svc_metrics_rerank_bounds));
    *out = m;
    return SW_OK;
}

sw_err svc_metrics_open(const struct svc_config *cfg, struct store *st,
                        struct rank_ranker *ranker,
                        struct ingest_pipeline *ingest, svc_metrics **out)
{
    struct svc_metrics_opts o;
    sw_err rc;

    memset(&o, 0, sizeof(o));
    o.listen = cfg->metrics_listen;
    o.access_log = cfg->access_log;
    o.team_labels = cfg->metrics_teams;
    o.st = st;
    o.ranker = ranker;
    o.ingest = ingest;
    rc = svc_metrics_new(&o, out);
    if (rc)
        fprintf(stderr, "snipd: cannot set up metrics: %s\n", sw_err_str(rc));
    return rc;
}

void svc_metrics_free(svc_metrics **mp)
{
    svc_metrics *m;

    if (mp == NULL || *mp == NULL)
        return;
    m = *mp;
    if (m->httpd)
        MHD_stop_daemon(m->httpd);
    svc_rpc_table_free(m->methods, m->nmethods);
    sw_free(m->calls);
    sw_free(m->rpc_us);
    sw_free(m);
    *mp = NULL;
}

/* --- Counting --------------------------------------------------------------
 */

int svc_metrics_access_log(const svc_metrics *m)
{
    return m != NULL && m->o.access_log;
}

/* svc_metrics_slot finds a method's slot: the hint when it names the
 * method, else a search; unknown methods share the last slot. */
static size_t svc_metrics_slot(const svc_metrics *m, const char *method,
                               size_t hint)
{
    size_t i;

    if (method == NULL)
        return m->nmethods;
    if (hint < m->nmethods && strcmp(m->methods[hint].path, method) == 0)
        return hint;
    for (i = 0; i < m->nmethods; i++)
        if (strcmp(m->methods[i].path, method) == 0)
            return i;
    return m->nmethods;
}

void svc_metrics_call_done(svc_metrics *m, const struct svc_metrics_call *c)
{
    size_t slot;
    int code;

    if (m == NULL)
        return;
    slot = svc_metrics_slot(m, c->method, c->method_index);
    code = c->status >= 0 && c->status < SVC_METRICS_NCODES ? c->status : 2;
    sw_counter_add(&m->calls[slot * SVC_METRICS_NCODES + (size_t)code], 1);
    sw_hist_observe_us(&m->rpc_us[slot], c->us);
    if (!m->o.access_log)
        return;
    /* Method, team id, status and duration: never a key, a header or any
     * of the request's text. */
    sw_log_info("rpc", "method=%s team=%s code=%s status=%d ms=%.3f peer=%s",
                slot < m->nmethods ? m->methods[slot].path : "unknown",
                c->team && c->team[0] ? c->team : "-",
                svc_metrics_code_name(code), code,
                (double)(c->us < 0 ? 0 : c->us) / 1000.0,
                c->peer && c->peer[0] ? c->peer : "-");
}

void svc_metrics_rerank_done(svc_metrics *m, sw_err rc, int promoted,
                             int64_t us)
{
    enum svc_rerank_result r;

    if (m == NULL)
        return;
    r = rc         ? SVC_RERANK_FAILED
        : promoted ? SVC_RERANK_PROMOTED
                   : SVC_RERANK_KEPT;
    sw_counter_add(&m->rerank_runs[r], 1);
    sw_hist_observe_us(&m->rerank_us, us);
}

/* --- Gathering ------------------------------------------------------------
 */

/* svc_metrics_proc reads the resident set size and the open descriptors
 * from /proc/self. */
static sw_err svc_metrics_proc(uint64_t *rss, uint64_t *fds)
{
    char text[256];
    const char *p, *e;
    ssize_t n;
    int64_t pages;
    long psz = sysconf(_SC_PAGESIZE);
    DIR *d;
    struct dirent *de;
    uint64_t k = 0;
    int fd;

    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SW_EIO;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0 || psz <= 0)
        return SW_EIO;
    text[n] = '\0';
    /* "size resident shared text lib data dt", in pages. */
    p = strchr(text, ' ');
    if (p == NULL)
        return SW_EIO;
    p++;
    e = p + strcspn(p, " \n");
    if (sw_parse_i64(p, (size_t)(e - p), 0, INT64_MAX / 65536, &pages))
        return SW_EIO;
    *rss = (uint64_t)pages * (uint64_t)psz;
    d = opendir("/proc/self/fd");
    if (d == NULL)
        return SW_EIO;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            k++;
    closedir(d);
    *fds = k > 0 ? k - 1 : 0; /* not the directory's own descriptor */
    return SW_OK;
}

static int svc_metrics_team_cmp(const void *a, const void *b)
{
    const struct rank_team_figures *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->team_id, y->team_id);
}

sw_err svc_metrics_fold_teams(struct rank_team_figures *t, size_t *n,
                              size_t cap)
{
    struct rank_team_figures o;
    size_t i;

    qsort(t, *n, sizeof(*t), svc_metrics_team_cmp);
    if (*n <= cap)
        return SW_OK;
    memset(&o, 0, sizeof(o));
    for (i = cap; i < *n; i++) {
        o.count += t[i].count;
        o.deleted += t[i].deleted;
        if (t[i].snapshot_unix_ms > 0 &&
            (o.snapshot_unix_ms == 0 ||
             t[i].snapshot_unix_ms < o.snapshot_unix_ms))
            o.snapshot_unix_ms = t[i].snapshot_unix_ms;
        sw_free(t[i].team_id);
        t[i].team_id = NULL;
    }
    o.team_id = sw_strdup("other");
    if (o.team_id == NULL) {
        *n = cap;
        return SW_ENOMEM;
    }
    t[cap] = o;
    *n = cap + 1;
    return SW_OK;
}

static void svc_metrics_gather(svc_metrics *m, struct svc_metrics_snap *s)
{
    sw_err rc;

    memset(s, 0, sizeof(*s));
    s->now_ms = sw_now_ms();
    if (m->o.st) {
        rc = store_stat(m->o.st, &s->ss);
        if (rc == SW_OK)
            rc = store_job_count(m->o.st, &s->backlog);
        s->has_store = rc == SW_OK;
        if (rc)
            sw_counter_add(&m->gather_errors[SVC_SRC_STORE], 1);
    }
    if (m->o.ingest) {
        ingest_pipeline_totals(m->o.ingest, &s->it);
        s->has_ingest = 1;
    }
    if (m->llm) {
        svc_llm_stats(m->llm, &s->ls);
        s->has_llm = 1;
    }
    if (m->o.ranker) {
        rc = rank_ranker_figures(m->o.ranker, &s->teams, &s->nteams);
        if (rc == SW_OK) {
            s->nloaded = s->nteams;
            rc = svc_metrics_fold_teams(s->teams, &s->nteams,
                                        (size_t)m->o.team_labels);
        }
        s->has_index = rc == SW_OK;
        if (rc)
            sw_counter_add(&m->gather_errors[SVC_SRC_INDEX], 1);
    }
    s->has_process = svc_metrics_proc(&s->rss, &s->fds) == SW_OK;
    {
        /* In use against held free: a resident size that grows while the
         * heap in use does not is fragmentation, not a leak. */
        struct mallinfo2 mi = mallinfo2();
        s->heap = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
        s->heap_free = (uint64_t)mi.fordblks;
        /* Under a sanitizer's allocator glibc's figures are all zero:
         * nothing to report rather than a heap of 0. */
        s->has_heap = s->heap > 0;
    }
    if (!s->has_process)
        sw_counter_add(&m->gather_errors[SVC_SRC_PROCESS], 1);
}

static void svc_metrics_snap_clear(struct svc_metrics_snap *s)
{
    rank_team_figures_free(s->teams, s->nteams);
    s->teams = NULL;
    s->nteams = 0;
}

/* --- Writing -------------------------------------------------------------- */

/* A label set built in a small buffer (a method path, a team id). */
#define SVC_LABELS_MAX 1024

/* svc_w1 writes one sample with one label (key NULL: none). */
static sw_err svc_w1(struct sw_buf *b, const char *name, const char *key,
                     const char *val, uint64_t v)
{
    struct sw_buf l;
    sw_err rc = SW_OK;

    sw_buf_init(&l, SVC_LABELS_MAX);
    if (key)
        rc = sw_metric_label(&l, key, val);
    if (rc == SW_OK)
        rc = sw_metric_u64(b, name, sw_buf_str(&l), v);
    sw_buf_free(&l);
    return rc;
}

/* svc_w2 writes one sample with two labels. */
static sw_err svc_w2(struct sw_buf *b, const char *name, const char *k1,
                     const char *v1, const char *k2, const char *v2, uint64_t v)
{
    struct sw_buf l;
    sw_err rc;

    sw_buf_init(&l, SVC_LABELS_MAX);
    rc = sw_metric_label(&l, k1, v1);
    if (rc == SW_OK)
        rc = sw_metric_label(&l, k2, v2);
    if (rc == SW_OK)
        rc = sw_metric_u64(b, name, sw_buf_str(&l), v);
    sw_buf_free(&l);
    return rc;
}

static const char *svc_metrics_method(const svc_metrics *m, size_t slot)
{
    return slot < m->nmethods ? m->methods[slot].path : "unknown";
}

/* Methods that were called are written; the others would only be zeros. */
static sw_err svc_write_rpc_calls(svc_metrics *m, struct sw_buf *b,
                                  const char *name)
{
    size_t i;
    int k;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i <= m->nmethods; i++) {
        for (k = 0; rc == SW_OK && k < SVC_METRICS_NCODES; k++) {
            uint64_t v =
                sw_counter_get(&m->calls[i * SVC_METRICS_NCODES + (size_t)k]);
            if (v > 0)
                rc = svc_w2(b, name, "method", svc_metrics_method(m, i), "code",
                            svc_metrics_codes[k], v);
        }
    }
    return rc;
}

static sw_err svc_write_rpc_duration(svc_metrics *m, struct sw_buf *b,
                                     const char *name)
{
    struct sw_hist_snap h;
    struct sw_buf l;
    size_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&l, SVC_LABELS_MAX);
    for (i = 0; rc == SW_OK && i <= m->nmethods; i++) {
        size_t k;
        uint64_t total = 0;
        sw_hist_read(&m->rpc_us[i], &h);
        for (k = 0; k <= h.n; k++)
            total += h.counts[k];
        if (total == 0)
            continue;
        sw_buf_reset(&l);
        rc = sw_metric_label(&l, "method", svc_metrics_method(m, i));
        if (rc == SW_OK)
            rc = sw_metric_hist(b, name, sw_buf_str(&l), &h);
    }
    sw_buf_free(&l);
    return rc;
}

static sw_err svc_write_llm(const struct svc_metrics_snap *s, struct sw_buf *b,
                            const char *name, int tokens)
{
    const struct llm_client_stats *st[2] = {&s->ls.calls, &s->ls.fcalls};
    const char *prov[2] = {s->ls.provider, s->ls.fallback};
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < 2; i++) {
        const struct llm_client_stats *c = st[i];
        if (prov[i] == NULL)
            continue;
        if (tokens) {
            rc = svc_w2(b, name, "provider", prov[i], "kind", "prompt",
                        c->prompt_tokens);
            if (rc == SW_OK)
                rc = svc_w2(b, name, "provider", prov[i], "kind", "completion",
                            c->completion_tokens);
            continue;
        }
        rc = svc_w2(b, name, "provider", prov[i], "outcome", "ok", c->ok);
        if (rc == SW_OK)
            rc = svc_w2(b, name, "provider", prov[i], "outcome", "invalid",
                        c->invalid);
        if (rc == SW_OK)
            rc = svc_w2(b, name, "provider", prov[i], "outcome",
                        "provider_error", c->provider_error);
        if (rc == SW_OK)
            rc = svc_w2(b, name, "provider", prov[i], "outcome",
                        "budget_exceeded", c->budget_exceeded);
        if (rc == SW_OK)
            rc = svc_w2(b, name, "provider", prov[i], "outcome", "cached",
                        c->cached);
    }
    return rc;
}

static sw_err svc_write_index(const struct svc_metrics_snap *s,
                              struct sw_buf *b, const char *name,
                              enum svc_metric_id id)
{
    struct sw_buf l;
    size_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&l, SVC_LABELS_MAX);
    for (i = 0; rc == SW_OK && i < s->nteams; i++) {
        const struct rank_team_figures *t = &s->teams[i];
        sw_buf_reset(&l);
        rc = sw_metric_label(&l, "team", t->team_id);
        if (rc)
            break;
        if (id == SVC_METRIC_INDEX_VECTORS)
            rc = sw_metric_u64(b, name, sw_buf_str(&l), t->count);
        else if (id == SVC_METRIC_INDEX_DELETED)
            rc = sw_metric_u64(b, name, sw_buf_str(&l), t->deleted);
        else if (t->snapshot_unix_ms > 0)
            rc = sw_metric_f64(b, name, sw_buf_str(&l),
                               (double)(s->now_ms > t->snapshot_unix_ms
                                            ? s->now_ms - t->snapshot_unix_ms
                                            : 0) /
                                   1000.0);
    }
    sw_buf_free(&l);
    return rc;
}

/* svc_metrics_has says whether metric id has a source in this scrape; a
 * metric without one is left out entirely (no HELP, no TYPE). */
static int svc_metrics_has(const struct svc_metrics_snap *s,
                           enum svc_metric_id id)
{
    switch (id) {
    case SVC_METRIC_INGEST_EMAILS:
    case SVC_METRIC_INGEST_COMMITS:
        return s->has_ingest;
    case SVC_METRIC_EXTRACT_JOBS:
    case SVC_METRIC_EXTRACT_FALLBACKS:
    case SVC_METRIC_EXTRACT_SNIPPETS:
    case SVC_METRIC_EXTRACT_OUTCOMES:
    case SVC_METRIC_LLM_ATTEMPTS:
    case SVC_METRIC_LLM_TOKENS:
        return s->has_llm;
    case SVC_METRIC_EXTRACT_BACKLOG:
    case SVC_METRIC_STORE_MAP:
    case SVC_METRIC_STORE_USED:
    case SVC_METRIC_STORE_READERS:
        return s->has_store;
    case SVC_METRIC_INDEX_TEAMS:
    case SVC_METRIC_INDEX_VECTORS:
    case SVC_METRIC_INDEX_DELETED:
    case SVC_METRIC_INDEX_SNAPSHOT_AGE:
        return s->has_index;
    case SVC_METRIC_PROCESS_RSS:
    case SVC_METRIC_PROCESS_FDS:
        return s->has_process;
    case SVC_METRIC_PROCESS_HEAP:
    case SVC_METRIC_PROCESS_HEAP_FREE:
        return s->has_heap;
    default:
        return 1;
    }
}

/* svc_metrics_write writes the samples of one metric. */
static sw_err svc_metrics_write(svc_metrics *m,
                                const struct svc_metrics_snap *s,
                                struct sw_buf *b, enum svc_metric_id id)
{
    const char *name = svc_metric_defs[id].name;
    const struct ingest_worker_stats *w = &s->ls.worker;
    struct sw_hist_snap h;
    sw_err rc = SW_OK;
    size_t i;

    switch (id) {
    case SVC_METRIC_RPC_CALLS:
        return svc_write_rpc_calls(m, b, name);
    case SVC_METRIC_RPC_DURATION:
        return svc_write_rpc_duration(m, b, name);
    case SVC_METRIC_INGEST_EMAILS:
        rc = svc_w1(b, name, "result", "new", s->it.new_emails);
        if (rc == SW_OK)
            rc = svc_w1(b, name, "result", "duplicate", s->it.duplicates);
        if (rc == SW_OK)
            rc = svc_w1(b, name, "result", "rejected", s->it.rejected);
        return rc;
    case SVC_METRIC_INGEST_COMMITS:
        return svc_w1(b, name, NULL, NULL, s->it.commits);
    case SVC_METRIC_EXTRACT_JOBS:
        rc = svc_w1(b, name, "result", "done", w->done);
        if (rc == SW_OK)
            rc = svc_w1(b, name, "result", "skipped", w->skipped);
        if (rc == SW_OK)
            rc = svc_w1(b, name, "result", "deferred", w->deferred);
        return rc;
    case SVC_METRIC_EXTRACT_FALLBACKS:
        return svc_w1(b, name, NULL, NULL, w->fallbacks);
    case SVC_METRIC_EXTRACT_SNIPPETS:
        return svc_w1(b, name, NULL, NULL, w->snippets);
    case SVC_METRIC_EXTRACT_OUTCOMES:
        return svc_w1(b, name, NULL, NULL, w->outcomes);
    case SVC_METRIC_EXTRACT_BACKLOG:
        return svc_w1(b, name, NULL, NULL, s->backlog);
    case SVC_METRIC_LLM_ATTEMPTS:
        return svc_write_llm(s, b, name, 0);
    case SVC_METRIC_LLM_TOKENS:
        return svc_write_llm(s, b, name, 1);
    case SVC_METRIC_INDEX_TEAMS:
        return svc_w1(b, name, NULL, NULL, s->nloaded);
    case SVC_METRIC_INDEX_VECTORS:
    case SVC_METRIC_INDEX_DELETED:
    case SVC_METRIC_INDEX_SNAPSHOT_AGE:
        return svc_write_index(s, b, name, id);
    case SVC_METRIC_RERANK_RUNS:
        for (i = 0; rc == SW_OK && i < SVC_NRERANK; i++)
            rc = svc_w1(b, name, "result", svc_rerank_names[i],
                        sw_counter_get(&m->rerank_runs[i]));
        return rc;
    case SVC_METRIC_RERANK_DURATION:
        sw_hist_read(&m->rerank_us, &h);
        return sw_metric_hist(b, name, NULL, &h);
    case SVC_METRIC_STORE_MAP:
        return svc_w1(b, name, NULL, NULL, s->ss.map_bytes);
    case SVC_METRIC_STORE_USED:
        return svc_w1(b, name, NULL, NULL, s->ss.used_pages * s->ss.page_bytes);
    case SVC_METRIC_STORE_READERS:
        return svc_w1(b, name, NULL, NULL, s->ss.readers_used);
    case SVC_METRIC_PROCESS_RSS:
        return svc_w1(b, name, NULL, NULL, s->rss);
    case SVC_METRIC_PROCESS_FDS:
        return svc_w1(b, name, NULL, NULL, s->fds);
    case SVC_METRIC_PROCESS_HEAP:
        return svc_w1(b, name, NULL, NULL, s->heap);
    case SVC_METRIC_PROCESS_HEAP_FREE:
        return svc_w1(b, name, NULL, NULL, s->heap_free);
    case SVC_METRIC_GATHER_ERRORS:
        for (i = 0; rc == SW_OK && i < SVC_NSRC; i++)
            rc = svc_w1(b, name, "source", svc_gather_src_names[i],
                        sw_counter_get(&m->gather_errors[i]));
        return rc;
    case SVC_METRIC_COUNT:
        break;
    }
    return SW_EINTERNAL;
}

sw_err svc_metrics_render(svc_metrics *m, struct sw_buf *b)
{
    struct svc_metrics_snap s;
    int id;
    sw_err rc = SW_OK;

    svc_metrics_gather(m, &s);
    for (id = 0; rc == SW_OK && id < SVC_METRIC_COUNT; id++) {
        const struct svc_metric_def *d = &svc_metric_defs[id];
        if (!svc_metrics_has(&s, (enum svc_metric_id)id))
            continue;
        rc = sw_metric_head(b, d->name, d->type, d->help);
        if (rc == SW_OK)
            rc = svc_metrics_write(m, &s, b, (enum svc_metric_id)id);
    }
    svc_metrics_snap_clear(&s);
    return rc;
}

/* --- The endpoint -------------------------------------------------------- */

static void svc_metrics_http_log(void *cls, const char *fmt, va_list ap)
{
    struct sw_buf b;

    (void)cls;
    sw_buf_init(&b, 1024);
    if (sw_buf_vprintf(&b, fmt, ap) == SW_OK || sw_buf_len(&b) > 0) {
        size_t n = sw_buf_len(&b);
        const char *p = sw_buf_str(&b);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
            n--;
        sw_log_warn("metrics.http", "msg=\"%.*s\"", (int)n, p);
    }
    sw_buf_free(&b);
}

static enum MHD_Result svc_metrics_reply(struct MHD_Connection *conn,
                                         unsigned code, const char *text)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    (void)MHD_add_response_header(r, "Content-Type",
                                  "text/plain; charset=utf-8");
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result svc_metrics_http(void *cls, struct MHD_Connection *conn,
                                        const char *url, const char *method,
                                        const char *version,
                                        const char *upload_data,
                                        size_t *upload_data_size, void **ctx)
{
    svc_metrics *m = cls;
    struct MHD_Response *r;
    struct sw_buf b;
    char *text = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    sw_err rc;

    (void)version;
    (void)upload_data;
    (void)ctx;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *upload_data_size = 0;
        return svc_metrics_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                 "only GET /metrics\n");
    }
    if (strcmp(url, "/metrics") != 0)
        return svc_metrics_reply(conn, MHD_HTTP_NOT_FOUND,
                                 "not found: metrics are at /metrics\n");
    sw_buf_init(&b, SVC_METRICS_MAX_BYTES);
    rc = svc_metrics_render(m, &b);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &text, &len);
    sw_buf_free(&b);
    if (rc) {
        sw_log_error("metrics.render_failed", "err=%s", sw_err_name(rc));
        return svc_metrics_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "metrics could not be written\n");
    }
    r = MHD_create_response_from_buffer_with_free_callback(len, text, sw_free);
    if (r == NULL) {
        sw_free(text);
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, "Content-Type",
                                  "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* svc_metrics_addr resolves "host:port" ("[v6]:port" too) to a numeric
 * address. The caller frees *out with freeaddrinfo. */
static sw_err svc_metrics_addr(const char *listen, struct addrinfo **out)
{
    struct addrinfo hints;
    struct sw_buf host;
    const char *colon = strrchr(listen, ':'), *h = listen;
    size_t hl;
    int e;
    sw_err rc;

    if (colon == NULL || colon[1] == '\0')
        return SW_EINVAL;
    hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    sw_buf_init(&host, 1024);
    rc = sw_buf_add(&host, h, hl);
    if (rc) {
        sw_buf_free(&host);
        return SW_EINVAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    e = getaddrinfo(hl ? sw_buf_str(&host) : NULL, colon + 1, &hints, out);
    sw_buf_free(&host);
    return e == 0 ? SW_OK : SW_EINVAL;
}

sw_err svc_metrics_start(svc_metrics *m, struct svc_llm *l)
{
    struct addrinfo *ai = NULL;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    const char *colon;
    sw_err rc;

    if (m->httpd)
        return SW_ESTATE;
    m->llm = l;
    if (m->o.listen == NULL)
        return SW_OK;
    rc = svc_metrics_addr(m->o.listen, &ai);
    if (rc) {
        fprintf(stderr, "snipd: --metrics-listen %s: not a host:port\n",
                m->o.listen);
        return rc;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->httpd = MHD_start_daemon(
        flags, 0, NULL, NULL, svc_metrics_http, m,
        /* The logger first, so that every message goes through it. */
        MHD_OPTION_EXTERNAL_LOGGER, svc_metrics_http_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)SVC_METRICS_HTTP_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)SVC_METRICS_HTTP_TIMEOUT_S, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (m->httpd == NULL) {
        fprintf(stderr, "snipd: --metrics-listen %s: cannot listen there\n",
                m->o.listen);
        return SW_EIO;
    }
    /* The address as given, with the port actually bound (port 0 picks
     * one). */
    info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
    colon = strrchr(m->o.listen, ':');
    sw_log_info("metrics.listening", "addr=%.*s:%u path=/metrics",
                (int)(colon - m->o.listen), m->o.listen,
                info ? (unsigned)info->port : 0u);
    return SW_OK;
}
