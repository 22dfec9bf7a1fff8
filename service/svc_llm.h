/* svc_llm: the LLM side of snipd. LlmService.ListJournal (the journal of
 * structured LLM calls, team-scoped by the caller's key), the extraction
 * worker's life inside `snipd serve` (its provider, clients and thread),
 * and `snipd reextract`. */
#ifndef SVC_LLM_H
#define SVC_LLM_H

#include "base/sw_err.h"
#include "ingest/worker.h"
#include "llm/call.h"
#include "service/svc_config.h"
#include "service/svc_rpc.h"

/* Most journal entries returned in one page (raw outputs can be large). */
#define SVC_LLM_JOURNAL_PAGE_MAX 100

/* svc_llm_list_journal lists the caller's team's journal, newest first,
 * optionally only one job's attempts (job_id is the email id the job is
 * about). Errors: a negative page_size or a bad page_token →
 * INVALID_ARGUMENT. */
sw_err svc_llm_list_journal(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);

typedef struct svc_llm svc_llm;

/* svc_llm_start builds the provider named by cfg->llm_provider (reading
 * the openai key from cfg->llm_key_file or SNIPD_LLM_KEY), a builtin
 * fallback, their clients over st, and starts the extraction worker's
 * thread. st is borrowed and must outlive the worker. A one-line reason
 * goes to stderr on failure. Errors: SW_EINVAL (openai without a model or
 * URL), SW_EIO (unreadable key file), SW_ENOMEM, SW_EINTERNAL (libcurl). */
SW_MUST_CHECK sw_err svc_llm_start(const struct svc_config *cfg,
                                   struct store *st, svc_llm **out);

/* svc_llm_stop stops the worker after the job in hand is committed or
 * deferred, frees everything and sets *l to NULL. NULL is accepted. Call
 * before the store closes. */
void svc_llm_stop(svc_llm **l);

/* svc_llm_kick wakes the extraction worker at once (a job was queued);
 * arg is the svc_llm, as ingest_pipeline_on_jobs calls it. Thread-safe;
 * accepts NULL. */
void svc_llm_kick(void *arg);

/* What the extraction side has done since start, for metrics. */
struct svc_llm_stats {
    struct ingest_worker_stats worker;
    const char *provider;           /* the configured provider's name */
    struct llm_client_stats calls;  /* its client's attempts and tokens */
    const char *fallback;           /* the builtin fallback's name, or NULL
                                       when the provider is the builtin */
    struct llm_client_stats fcalls; /* the fallback client's */
};

/* svc_llm_stats copies the counters; names live as long as l.
 * Thread-safe. */
void svc_llm_stats(svc_llm *l, struct svc_llm_stats *out);

/* svc_llm_reextract runs `snipd reextract`: opens cfg->data_dir's store
 * and queues cfg->team's (or every team's) mail sent at or after
 * cfg->since_ms for extraction again. Prints the count; returns the exit
 * code (0, or 1 with the reason on stderr). */
int svc_llm_reextract(const struct svc_config *cfg);

#endif
