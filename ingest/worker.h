/* ingest/worker: the extraction worker. It takes due jobs from the store's
 * queue (store_job.h), runs the right schema through llm/call (outbound
 * extraction or reply classification), and commits the snippets or the
 * outcome together with the job's removal in one write transaction, so a
 * crash at any point loses no job and does none twice. A failing provider
 * defers the job with exponential backoff (never dropped); after
 * fallback_after failures the job is run with the builtin extractor and
 * its snippets record that provenance.
 *
 * Snippet ids are derived from what they are (framings: team, email and
 * ordinal; key passages: team, content item and ordinal), so extracting an
 * email again (a re-run, ingest_reextract) replaces its snippets instead of
 * adding copies; left-over ordinals of an older, longer answer are
 * redacted, and a snippet a user redacted stays redacted.
 * The journal's job_id of every attempt is the email id the job is about. */
#ifndef INGEST_WORKER_H
#define INGEST_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "llm/call.h"
#include "store/store.h"

struct ingest_worker_opts {
    int fallback_after;      /* failures before the builtin fallback [3] */
    int64_t backoff_base_ms; /* first deferral, doubled per failure [1000] */
    int64_t backoff_max_ms;  /* cap of one deferral [300000] */
    int64_t idle_ms;         /* poll interval when the queue is empty [200] */
};

/* Counters since the worker was made (for logs and tests). */
struct ingest_worker_stats {
    uint64_t done;      /* jobs finished with a result */
    uint64_t deferred;  /* provider failures that deferred a job */
    uint64_t fallbacks; /* jobs finished by the builtin fallback */
    uint64_t skipped;   /* jobs finished with nothing to do */
    uint64_t snippets;  /* snippets written */
    uint64_t outcomes;  /* outcomes written (duplicates included) */
};

typedef struct ingest_worker ingest_worker;

/* ingest_worker_new makes a worker over store s with client c (the
 * configured provider) and fallback (a builtin client; may be c itself),
 * all borrowed and outliving the worker. o NULL = defaults.
 * Errors: SW_EINVAL (a NULL argument), SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_worker_new(store *s, llm_client *c,
                                       llm_client *fallback,
                                       const struct ingest_worker_opts *o,
                                       ingest_worker **out);

/* ingest_worker_run_one processes the oldest job due at now_ms (0 = the
 * current time; tests pass a later time to make deferred jobs due), if
 * any. *did is set to 1 when a job was finished or deferred, 0 when none
 * was due. A job whose email no longer exists, or an empty reply, is
 * finished with nothing written. Not to be called while the worker's
 * thread runs. Errors: store errors only (provider failures defer the
 * job); SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_worker_run_one(ingest_worker *w, int64_t now_ms,
                                           int *did);

/* ingest_worker_start runs the worker on its own thread until
 * ingest_worker_stop. Errors: SW_ESTATE (already running), SW_EIO (the
 * thread cannot start). */
SW_MUST_CHECK sw_err ingest_worker_start(ingest_worker *w);

/* ingest_worker_stop asks the thread to stop, waits for the job in hand to
 * be committed or deferred, and joins it. No-op when not running. */
void ingest_worker_stop(ingest_worker *w);

/* ingest_worker_stats copies the counters. Thread-safe. */
void ingest_worker_stats(ingest_worker *w, struct ingest_worker_stats *out);

/* ingest_worker_free stops the worker if running, frees it, NULLs *w. */
void ingest_worker_free(ingest_worker **w);

/* ingest_reextract enqueues the extraction jobs of stored mail again:
 * outbound emails with content items (extraction) and inbound emails
 * (classification) of team_id (NULL or "" = every team) sent at or after
 * since_ms. The worker then re-runs them with the configured provider,
 * model and schema versions; their snippets are replaced (see above). *n
 * receives the number of jobs queued. Runs its own transactions (one per
 * thread page). Errors: SW_ENOTFOUND (no such team), SW_EINVAL, SW_ENOMEM,
 * SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err ingest_reextract(store *s, const char *team_id,
                                      int64_t since_ms, size_t *n);

#endif
