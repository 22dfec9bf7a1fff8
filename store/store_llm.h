/* store_llm: what the LLM layer keeps in LMDB: the result cache (keyed by
 * provider, model, schema name+version and prompt hash), the journal of
 * every attempt, and per-team daily token counters for the budget.
 *
 * Layout (all team-prefixed, so a deleted team loses them with the rest):
 *   LLM_CACHE    team\0 SHA-256(cache key) → the validated output JSON
 *   LLM_JOURNAL  team\0 be64(UINT64_MAX - seq) → attempt record; newest
 *                first in key order
 *   LLM_BUDGET   team\0 be64(day since epoch, UTC) → be64 tokens used
 * Records are encoded privately by this module.
 *
 * Conventions: functions taking a store run their own transaction and are
 * thread-safe; those taking a store_txn run inside the caller's. Out-params
 * are written only on SW_OK. */
#ifndef STORE_LLM_H
#define STORE_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "store/store.h"

/* Journal outcomes: numerically equal to snipwise.v1.JournalOutcome. */
#define STORE_LLM_OK 1
#define STORE_LLM_INVALID 2
#define STORE_LLM_PROVIDER_ERROR 3
#define STORE_LLM_BUDGET_EXCEEDED 4
#define STORE_LLM_CACHED 5

/* One journaled attempt. Strings are owned (sw_malloc'd) when returned by
 * this module and borrowed when passed in; never NULL when returned. */
struct store_llm_attempt {
    char *attempt_id; /* set by store_llm_journal_add when NULL */
    char *job_id;
    int attempt_number;
    char *provider;
    char *model;
    char *schema_name;
    int schema_version;
    char *request_hash; /* lowercase hex SHA-256 */
    char *raw_output;
    char *errors; /* validation errors, one per line; "" when none */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t latency_ms;
    int64_t time_ms;
    int outcome; /* STORE_LLM_* */
    /* The structured-output mode the request went out in ("json_schema",
     * "tools", "json_object"); "" for the builtin, a cache hit, a budget
     * stop, and records written before the field existed. */
    char *mode;
};

/* store_llm_attempt_clear frees a returned attempt's strings and zeroes
 * it; store_llm_attempts_free clears n attempts and frees the array. NULL
 * is accepted. */
void store_llm_attempt_clear(struct store_llm_attempt *a);

/* store_llm_attempt_copy copies src into *dst with strings of its own
 * (store_llm_attempt_clear them); on error *dst is zeroed. SW_ENOMEM. */
SW_MUST_CHECK sw_err store_llm_attempt_copy(const struct store_llm_attempt *src,
                                            struct store_llm_attempt *dst);
void store_llm_attempts_free(struct store_llm_attempt *a, size_t n);

/* store_llm_journal_add appends a to team_id's journal in write transaction
 * t (raw_output is cut at 256 KiB). NULL strings are stored as "".
 * Errors: SW_EINVAL, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM, SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_llm_journal_add(store_txn *t, const char *team_id,
                                           const struct store_llm_attempt *a);

/* store_llm_journal_list returns one page of team_id's journal, newest
 * first, only entries of job_id when it is not NULL or "". page_size 0 =
 * 50, at most 1000; page_token NULL/"" for the first page, else a previous
 * *next_token (NULL on the last page; sw_free). *items: free with
 * store_llm_attempts_free even when *n is 0.
 * Errors: SW_EINVAL (bad token, with why), SW_ECORRUPT, SW_ESTORE,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err store_llm_journal_list(store *s, const char *team_id,
                                            const char *job_id, int page_size,
                                            const char *page_token,
                                            struct store_llm_attempt **items,
                                            size_t *n, char **next_token,
                                            struct sw_buf *why);

/* store_llm_cache_get copies the cached output for key (32 bytes) of
 * team_id into *out (sw_free, NUL-terminated) and its length into *len.
 * Errors: SW_ENOTFOUND, SW_ESTORE, SW_ENOMEM, SW_EINVAL. */
SW_MUST_CHECK sw_err store_llm_cache_get(store *s, const char *team_id,
                                         const unsigned char key[32],
                                         char **out, size_t *len);

/* store_llm_cache_put stores val[0..len) under key in write txn t.
 * Errors: SW_EINVAL, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_llm_cache_put(store_txn *t, const char *team_id,
                                         const unsigned char key[32],
                                         const char *val, size_t len);

/* store_llm_budget_add adds tokens to team_id's counter of day (days since
 * the epoch, UTC) in write txn t and writes the new total to *total
 * (optional). Errors: SW_EINVAL, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM,
 * SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_llm_budget_add(store_txn *t, const char *team_id,
                                          int64_t day, uint64_t tokens,
                                          uint64_t *total);

/* store_llm_budget_get writes team_id's tokens used on day to *out (0 when
 * none). Errors: SW_ESTORE, SW_ENOMEM, SW_ECORRUPT, SW_EINVAL. */
SW_MUST_CHECK sw_err store_llm_budget_get(store *s, const char *team_id,
                                          int64_t day, uint64_t *out);

/* store_llm_cache_key computes the LLM_CACHE key of a request: SHA-256 of
 * provider, model and schema name (each NUL-terminated), then
 * "v<schema_version>:<request_hash>". llm_call and the erasure below use
 * it, so both name the same entry. Errors: SW_EINVAL, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_llm_cache_key(
    const char *provider, const char *model, const char *schema_name,
    int schema_version, const char *request_hash, unsigned char key[32]);

/* store_llm_forget_txn forgets what the LLM was told and answered for job
 * job_id of team_id (the extraction worker journals its calls under the
 * email's id): in write txn t every journal entry of job_id loses its raw
 * output, validation errors and request hash (provider, model, tokens,
 * latency and outcome stay, so cost reports still add up), and the cache
 * entry each request would hit is deleted. Adds the number of entries
 * redacted to *n (may be NULL). Cost: one scan of the team's journal.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_llm_forget_txn(store_txn *t, const char *team_id,
                                          const char *job_id, size_t *n);

#endif
