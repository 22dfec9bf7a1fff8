/* llm/call: the structured call. It sends a schema-bound prompt to a
 * provider, validates the answer (llm/schema), and on invalid JSON or a
 * failed validation re-asks: the model gets its answer back with the list
 * of errors, up to max_retries times. Every attempt is journaled in the
 * store; a valid answer is cached under (provider, model, schema name and
 * version, prompt hash) so a repeat costs no call; a per-call token budget
 * and a per-team daily budget stop spending.
 * A client is thread-safe: any number of threads may call llm_call on it. */
#ifndef LLM_CALL_H
#define LLM_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "llm/provider.h"
#include "llm/schema.h"

struct store;
struct store_txn;

struct llm_call_opts {
    int max_retries;           /* re-asks after the first attempt [2] */
    int64_t max_call_tokens;   /* tokens of all attempts of one call; 0 none */
    int64_t team_daily_tokens; /* tokens per team per UTC day; 0 none */
    int64_t timeout_ms;        /* deadline of the whole call; 0 none */
    int no_cache;              /* 1: neither read nor write the cache */
    size_t max_doc_prompt_bytes; /* text of one document in the prompt [24K] */
};

/* llm_call_opts_default fills the defaults shown in brackets. */
void llm_call_opts_default(struct llm_call_opts *o);

typedef struct llm_client llm_client;

/* llm_client_new makes a client over provider p and store s (both
 * borrowed: they must outlive the client; s may be NULL for no cache,
 * journal or daily budget). SW_ENOMEM. */
SW_MUST_CHECK sw_err llm_client_new(struct llm_provider *p, struct store *s,
                                    const struct llm_call_opts *o,
                                    llm_client **out);

/* llm_client_free frees the client (not its provider) and NULLs *c. */
void llm_client_free(llm_client **c);

/* llm_client_provider returns the provider the client was made with. */
struct llm_provider *llm_client_provider(llm_client *c);

/* Counters of a client's journaled attempts since it was made, by outcome
 * (store_llm.h: STORE_LLM_OK ... STORE_LLM_CACHED), and the tokens its
 * provider reported, for metrics. Counted whether or not a journal is
 * written (a client without a store counts too). */
struct llm_client_stats {
    uint64_t ok, invalid, provider_error, budget_exceeded, cached;
    uint64_t prompt_tokens, completion_tokens;
};

/* llm_client_stats copies the counters. Thread-safe, lock-free. */
void llm_client_stats(llm_client *c, struct llm_client_stats *out);

/* The result of a call, success or not. Owned by the caller:
 * llm_result_clear. */
struct llm_result {
    char *output; /* on success: the validated answer, canonical JSON */
    size_t len;
    int attempts; /* provider calls made (0 on a cache hit) */
    int cached;
    int64_t prompt_tokens; /* summed over all attempts */
    int64_t completion_tokens;
    int64_t latency_ms;
    char *request_hash;           /* hex SHA-256 of the first prompt */
    char *last_output;            /* on failure: the last raw answer */
    struct llm_verrs last_errors; /* ... and its validation errors */
    char *error;                  /* provider or budget message, or NULL */
};

void llm_result_clear(struct llm_result *r);

/* llm_call runs schema s on input in for team_id (used for the cache,
 * journal and daily budget; may be NULL without a store) as job job_id
 * (journal grouping; may be NULL). *res is always filled (reset first).
 * Errors: SW_EPARSE (never valid within the retries; last output and
 * errors kept), SW_EBUDGET (a token budget is spent), SW_EPROVIDER (the
 * provider failed), SW_ETIMEOUT (deadline), SW_ENOMEM, SW_ESTORE (the
 * journal could not be written). */
SW_MUST_CHECK sw_err llm_call(llm_client *c, const char *team_id,
                              const char *job_id, const struct llm_schema *s,
                              const struct llm_input *in,
                              struct llm_result *res);

/* A journal held back for the caller's transaction. Given to
 * llm_call_held, a call keeps its journal records (every attempt, the daily
 * tokens and the cache entry of a valid answer) here instead of writing
 * each in a write transaction of its own; llm_held_write_txn then writes
 * them in the transaction that stores what the call produced. The
 * extraction worker does so to commit a group of jobs, their results and
 * their journal with one fsync, and a result that is never committed
 * leaves no journal behind (its job runs again and is journaled then).
 * A held journal serves one team. While records are held, later calls
 * through it count the held tokens against the daily budget and find the
 * held cache entries, as if they had been written. Zero it to start;
 * llm_held_clear frees it. Not thread-safe: one caller at a time. */
struct llm_held_rec;
struct llm_held {
    struct llm_held_rec *v;
    size_t n, cap;
    uint64_t tokens; /* tokens of the held records */
};

/* llm_call_held is llm_call with the journal held in h (NULL: written at
 * once, as llm_call does). The team of every call through h must be the
 * same. Errors: those of llm_call; SW_ENOMEM when a record cannot be
 * held. */
SW_MUST_CHECK sw_err llm_call_held(llm_client *c, const char *team_id,
                                   const char *job_id,
                                   const struct llm_schema *s,
                                   const struct llm_input *in,
                                   struct llm_result *res, struct llm_held *h);

/* llm_held_write_txn writes h's records for team_id in write transaction
 * t: the journal, the daily tokens and the cache, as llm_call would have.
 * A team that no longer exists (deleted or moved meanwhile) gets nothing.
 * h is left as it was (llm_held_clear it after the commit).
 * Errors: SW_EINVAL, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM, SW_ECORRUPT. */
SW_MUST_CHECK sw_err llm_held_write_txn(struct store_txn *t,
                                        const char *team_id,
                                        const struct llm_held *h);

/* llm_held_clear frees h's records and zeroes it. Accepts NULL. */
void llm_held_clear(struct llm_held *h);

#endif
