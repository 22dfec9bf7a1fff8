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
 * The journal's job_id of every attempt is the email id the job is about.
 *
 * Fairness: a worker runs a pool of threads (opts.threads) over the one
 * store-wide queue. Each pick is exclusive within the process (a mutex
 * held across store_job_next_team and the claim of the job) and goes
 * round-robin over the teams that have a due job and no job in hand: a
 * team's jobs run one at a time, in enqueue order, while other teams' jobs
 * run on the other threads. So one team's backlog, or a call of one team
 * that stalls until its timeout, holds at most one thread, and every other
 * team with due jobs is served once per round. A job is claimed until its
 * commit or deferral has committed: no two threads of a worker run the same
 * job. Separate processes (or workers) over one store do not exclude each
 * other; the commit's re-check of the job keeps their results single.
 *
 * Group commit: a thread that picked a team goes on with that team's next
 * due jobs, in enqueue order, for up to group_max jobs or group_ms of work,
 * and commits them all in one write transaction, with their LLM journal
 * (llm_held): a backlog costs one fsync per group, not two per job. A job
 * whose call is slower than group_ms (any paid provider) commits alone as
 * soon as it is done. If the group's commit fails, each job commits alone. */
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
    int threads;             /* threads of ingest_worker_start [2] */
    int group_max;           /* jobs of one team committed together [64] */
    int64_t group_ms;        /* work gathered into one commit, at most [20] */
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

/* ingest_worker_run_one processes one job due at now_ms (0 = the current
 * time; tests pass a later time to make deferred jobs due), if any: the
 * fair pick described above (with a single caller and a single team, the
 * oldest due job). *did is written on every return, errors included. It is
 * 1 when a job was taken, whatever came of it: finished (here, or meanwhile
 * elsewhere), deferred, or left queued as it was (not deferred), with the
 * error returned, when its step failed before its commit (reading its
 * email or documents, the LLM call with SW_ENOMEM or SW_ESTORE, or
 * preparing its results: only the journal of its LLM call, if one was
 * made, is committed) or when its commit failed (nothing of it stored). It
 * is 0 when no job was taken: none was due to this call (a team whose job
 * is in hand in another thread waits), or the pick or the group's
 * allocation failed (that error is returned). A job whose email no longer
 * exists, or an empty reply, is finished with nothing written. Thread-safe:
 * the worker's threads call it, and any thread may call it besides them.
 * Errors: store errors only (provider failures defer the job); SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_worker_run_one(ingest_worker *w, int64_t now_ms,
                                           int *did);

/* ingest_worker_run_group runs one group (see "Group commit" above): the
 * fair pick of a job, then up to max - 1 more due jobs of its team, in
 * enqueue order, while the group's work stays under group_ms, all committed
 * in one write transaction (each job alone if that fails). *did receives
 * the number of jobs taken (0 when none was due). The worker's threads run
 * this with group_max; ingest_worker_run_one is a group of one. Thread-safe.
 * Errors: SW_EINVAL (max 0); as ingest_worker_run_one (the first job's
 * error; the jobs before it are committed, the failed one stays queued). */
SW_MUST_CHECK sw_err ingest_worker_run_group(ingest_worker *w, int64_t now_ms,
                                             size_t max, size_t *did);

/* ingest_worker_start runs the worker on opts.threads threads until
 * ingest_worker_stop. Errors: SW_ESTATE (already running), SW_EIO (a
 * thread cannot start; those started are stopped again). */
SW_MUST_CHECK sw_err ingest_worker_start(ingest_worker *w);

/* ingest_worker_kick wakes an idle thread of the worker at once, so that a
 * job just queued is taken without waiting out idle_ms; a thread that is
 * not waiting then skips its next wait. snipd calls it after each commit
 * of the ingest pipeline that queued a job (ingest_pipeline_on_jobs).
 * Thread-safe; accepts NULL. */
void ingest_worker_kick(ingest_worker *w);

/* ingest_worker_stop asks the threads to stop, waits for the jobs in hand
 * to be committed or deferred, and joins them. No-op when not running. */
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
