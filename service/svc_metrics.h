/* svc_metrics: what snipd tells its operator. One table of metric
 * definitions (SVC_METRIC_LIST), the per-RPC counters and latency
 * histograms the server feeds as each call ends, the access log line of
 * each call (event=rpc), the figures read at scrape time (store, extraction
 * backlog, LLM, indexes, process), and the Prometheus text endpoint
 * (--metrics-listen) served by libmicrohttpd on its own thread, never on a
 * gRPC polling thread or worker. */
#ifndef SVC_METRICS_H
#define SVC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "service/svc_config.h"

struct store;
struct rank_ranker;
struct ingest_pipeline;
struct svc_llm;

/* X(id, name, type, labels, help): every metric snipd exposes, in the
 * order of the exposition. labels names the label keys (documentation; the
 * writers set them). Metrics with a "team" label give their own label only
 * to the opts.team_labels largest teams by index size; the rest are summed
 * (or, for an age, the oldest taken) under team="other". */
#define SVC_METRIC_LIST(X)                                                     \
    X(RPC_CALLS, "snipd_rpc_calls_total", "counter", "method,code",            \
      "RPCs finished, by method and gRPC status code.")                        \
    X(RPC_DURATION, "snipd_rpc_duration_seconds", "histogram", "method",       \
      "Time from a call's arrival to its final status, by method.")            \
    X(INGEST_EMAILS, "snipd_ingest_emails_total", "counter", "result",         \
      "Emails offered to ingest, by result: new, duplicate or rejected.")      \
    X(INGEST_COMMITS, "snipd_ingest_commits_total", "counter", "",             \
      "Write transactions of the ingest committer (a batch of emails each).")  \
    X(EXTRACT_JOBS, "snipd_extraction_jobs_total", "counter", "result",        \
      "Extraction jobs by result: done (with a result), skipped (nothing to "  \
      "do) or deferred (a provider failure; retried later).")                  \
    X(EXTRACT_FALLBACKS, "snipd_extraction_fallbacks_total", "counter", "",    \
      "Jobs done by the builtin extractor after provider failures or with "    \
      "the team's token budget spent (also counted as done).")                 \
    X(EXTRACT_SNIPPETS, "snipd_extraction_snippets_total", "counter", "",      \
      "Snippets written by extraction.")                                       \
    X(EXTRACT_OUTCOMES, "snipd_extraction_outcomes_total", "counter", "",      \
      "Reply outcomes written by classification.")                             \
    X(EXTRACT_BACKLOG, "snipd_extraction_backlog_jobs", "gauge", "",           \
      "Queued extraction jobs of every team, due or deferred.")                \
    X(LLM_ATTEMPTS, "snipd_llm_attempts_total", "counter", "provider,outcome", \
      "Structured LLM call attempts by provider and journal outcome (ok, "     \
      "invalid, provider_error, budget_exceeded, cached).")                    \
    X(LLM_TOKENS, "snipd_llm_tokens_total", "counter", "provider,kind",        \
      "Tokens the provider reported, by kind (prompt, completion).")           \
    X(INDEX_TEAMS, "snipd_index_teams", "gauge", "",                           \
      "Team indexes loaded in memory.")                                        \
    X(INDEX_VECTORS, "snipd_index_vectors", "gauge", "team",                   \
      "Vectors in a team's index, deleted ones included.")                     \
    X(INDEX_DELETED, "snipd_index_deleted_vectors", "gauge", "team",           \
      "Vectors of a team's index marked deleted.")                             \
    X(INDEX_SNAPSHOT_AGE, "snipd_index_snapshot_age_seconds", "gauge", "team", \
      "Age of a team's stored index snapshot (teams without one left out).")   \
    X(RERANK_RUNS, "snipd_rerank_runs_total", "counter", "result",             \
      "RunRerank runs in this process by result: promoted, kept or failed.")   \
    X(RERANK_DURATION, "snipd_rerank_duration_seconds", "histogram", "",       \
      "Duration of RunRerank runs in this process.")                           \
    X(STORE_MAP, "snipd_store_map_bytes", "gauge", "",                         \
      "Size of the LMDB map (it grows by itself).")                            \
    X(STORE_USED, "snipd_store_used_bytes", "gauge", "",                       \
      "Bytes of the LMDB map in use (pages in use times the page size).")      \
    X(STORE_READERS, "snipd_store_readers_used", "gauge", "",                  \
      "LMDB reader slots in use, all processes.")                              \
    X(PROCESS_RSS, "snipd_process_resident_memory_bytes", "gauge", "",         \
      "Resident set size of snipd.")                                           \
    X(PROCESS_FDS, "snipd_process_open_fds", "gauge", "",                      \
      "File descriptors snipd holds open.")                                    \
    X(PROCESS_HEAP, "snipd_process_heap_bytes", "gauge", "",                   \
      "Bytes of the C heap in use (malloc's allocated blocks, all arenas).")   \
    X(PROCESS_HEAP_FREE, "snipd_process_heap_free_bytes", "gauge", "",         \
      "Bytes the C heap holds free and has not given back to the system.")     \
    X(GATHER_ERRORS, "snipd_metrics_gather_errors_total", "counter", "source", \
      "Scrapes that could not read a source (store, index, process); its "     \
      "metrics were left out of that scrape.")

enum svc_metric_id {
#define SVC_METRIC_ENUM(id, name, type, labels, help) SVC_METRIC_##id,
    SVC_METRIC_LIST(SVC_METRIC_ENUM)
#undef SVC_METRIC_ENUM
        SVC_METRIC_COUNT
};

typedef struct svc_metrics svc_metrics;

struct svc_metrics_opts {
    const char *listen; /* the endpoint's host:port (port 0 picks one);
                           NULL: no endpoint, counting only */
    int access_log;     /* 1: one event=rpc line per call */
    int team_labels;    /* teams given their own "team" label [0..] */
    /* Sources read at scrape time, borrowed (they must outlive the
     * metrics); each may be NULL, and its metrics are then left out. */
    struct store *st;
    struct rank_ranker *ranker;
    struct ingest_pipeline *ingest;
};

/* svc_metrics_new makes the counters (one slot per method of
 * svc_rpc_table). Nothing is served until svc_metrics_serve.
 * Errors: SW_ENOMEM, SW_EINTERNAL (the method table). */
SW_MUST_CHECK sw_err svc_metrics_new(const struct svc_metrics_opts *o,
                                     svc_metrics **out);

/* svc_metrics_open is svc_metrics_new with the options of snipd's flags
 * (--metrics-listen, --access-log, --metrics-teams) and its sources. A
 * one-line reason goes to stderr on failure. */
SW_MUST_CHECK sw_err svc_metrics_open(const struct svc_config *cfg,
                                      struct store *st,
                                      struct rank_ranker *ranker,
                                      struct ingest_pipeline *ingest,
                                      svc_metrics **out);

/* svc_metrics_start adds the extraction side l (worker and LLM clients;
 * borrowed, valid until svc_metrics_free; may be NULL) as a source and
 * starts the endpoint (GET /metrics) on opts.listen, on libmicrohttpd's
 * own thread, logging event=metrics.listening with the bound address. No
 * endpoint configured: only l is set. A one-line reason goes to stderr on
 * failure. Errors: SW_EINVAL (a bad address), SW_EIO (cannot bind),
 * SW_ESTATE (already serving). */
SW_MUST_CHECK sw_err svc_metrics_start(svc_metrics *m, struct svc_llm *l);

/* svc_metrics_free stops the endpoint (waiting for a scrape in progress),
 * frees m and sets *m to NULL; NULL is accepted. Call after the gRPC
 * server has stopped and before the sources are closed. */
void svc_metrics_free(svc_metrics **m);

/* One finished call, as the server reports it. */
struct svc_metrics_call {
    const char *method;  /* its path; NULL for a method not in the table */
    size_t method_index; /* its row in svc_rpc_table (a hint) */
    int status;          /* the grpc_status_code sent */
    int64_t us;          /* from its arrival to its final status */
    const char *team;    /* the caller's team; NULL or "" for none */
    const char *peer;    /* gRPC's peer string, or NULL */
};

/* svc_metrics_call_done counts a call and writes its access log line.
 * Lock-free (atomic counters; the log line is one write(2)); any thread.
 * m NULL: nothing. */
void svc_metrics_call_done(svc_metrics *m, const struct svc_metrics_call *c);

/* svc_metrics_access_log: whether call_done writes a line (so the caller
 * fetches the peer only then). */
int svc_metrics_access_log(const svc_metrics *m);

/* svc_metrics_rerank_done counts a RunRerank run that returned rc after
 * us microseconds, promoting a model or not. m NULL: nothing. */
void svc_metrics_rerank_done(svc_metrics *m, sw_err rc, int promoted,
                             int64_t us);

/* svc_metrics_render writes the exposition of every metric into b (what
 * GET /metrics returns). Reads the sources without blocking serving: LMDB
 * statistics in a read transaction, counters atomically, index figures
 * between batches. A source that fails is counted in
 * snipd_metrics_gather_errors_total and left out. Errors: b's (SW_ETOOBIG,
 * SW_ENOMEM). */
SW_MUST_CHECK sw_err svc_metrics_render(svc_metrics *m, struct sw_buf *b);

/* svc_metrics_fold_teams bounds the "team" label: it sorts t[0..*n) by
 * index size (largest first, then by team id), keeps the cap largest and
 * folds the rest into one entry named "other" (their sums, and the oldest
 * of their snapshot times), so that at most cap + 1 team values are
 * exposed. *n is updated; entries past it are freed. Errors: SW_ENOMEM
 * (the rest are then dropped, *n = cap). */
struct rank_team_figures;
SW_MUST_CHECK sw_err svc_metrics_fold_teams(struct rank_team_figures *t,
                                            size_t *n, size_t cap);

/* svc_metrics_code_name returns the name of a grpc_status_code ("OK",
 * "UNAUTHENTICATED"); "UNKNOWN" outside 0..16. */
const char *svc_metrics_code_name(int status);

#endif
