/* store_job: the durable extraction job queue. The ingest pipeline enqueues a
 * job inside the same write transaction that commits an email; the llm worker
 * takes the oldest due job, does its work and removes the job inside the
 * commit that stores the result, so a job is never lost nor done twice.
 *
 * Layout: the queue is one store-wide database (not team-prefixed), keyed by
 * an 8-byte big-endian job id from the store-wide sequence "job", so key
 * order is enqueue order. A second, team-prefixed index (team\0job_id) lets
 * store_del_team drop a deleted team's index entries; the queue entries of a
 * deleted team are skipped and removed lazily by store_job_next, and
 * store_job_purge_team removes them eagerly. store_job_next_team walks the
 * team index instead, to share the queue fairly between teams.
 *
 * Thread-safety: every function may be called from any thread; the ones that
 * take a store open their own transactions. */
#ifndef STORE_JOB_H
#define STORE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "store/store.h"

#define STORE_JOB_EXTRACT_OUTBOUND 1 /* outbound mail with content or links */
#define STORE_JOB_CLASSIFY_INBOUND 2 /* inbound reply */

/* One queued job. Strings are owned by the struct (sw_malloc'd); release them
 * with store_job_clear. */
struct store_job {
    uint64_t job_id;       /* store-wide, starts at 1, never reused */
    char *team_id;         /* owning team */
    char *email_id;        /* the email the job is about */
    int kind;              /* STORE_JOB_* */
    int attempts;          /* times store_job_defer was called */
    int64_t not_before_ms; /* due time, Unix ms; 0 = due at once */
    char *last_error;      /* last defer reason, or NULL */
};

/* store_job_enqueue adds a job for (team_id, email_id) of kind, due at once,
 * in write transaction t, and writes its id to *job_id (may be NULL). The job
 * is visible to store_job_next once t commits.
 * Errors: SW_EINVAL (read txn, empty ids, unknown kind), SW_ETOOBIG, SW_ESTORE,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_enqueue(store_txn *t, const char *team_id,
                                       const char *email_id, int kind,
                                       uint64_t *job_id);

/* store_job_next copies into *out the oldest job (lowest id) of any team whose
 * not_before_ms <= now_ms. It does not remove the job: call store_job_finish
 * in the commit that stores the job's result, or store_job_defer. Jobs whose
 * team no longer exists are removed on the way. On success the caller owns
 * *out (store_job_clear); on error *out is zeroed.
 * Errors: SW_ENOTFOUND (no job is due), SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_next(store *s, int64_t now_ms,
                                    struct store_job *out);

/* A store_job_next_team predicate: nonzero passes over every job of team_id
 * (a NUL-terminated copy, valid during the call only). It runs inside the
 * store's read transaction: it must be quick and must not call the store. */
typedef int (*store_job_skip_fn)(const char *team_id, void *arg);

/* store_job_next_team picks a job team by team, for workers that share the
 * queue fairly. It walks the teams that have queued jobs in team-id order,
 * cyclically, starting with the first team after after_team and ending with
 * after_team itself (NULL or "": from the first team), and copies into *out
 * the oldest due job (not_before_ms <= now_ms) of the first team that has
 * one and that skip (may be NULL) does not reject. Passing the team of the
 * previous pick as after_team serves every team with due jobs once per
 * round (round-robin), whatever the size of each team's backlog; a skip that
 * rejects the teams with a job in flight keeps one team from holding more
 * than one worker. skip is called at most once per team per call, never for
 * a team without queued jobs. Like store_job_next it does not remove the job
 * (store_job_finish or store_job_defer do), and it takes no lock: two
 * callers may be given the same job, so callers in one process exclude each
 * other themselves (ingest/worker.c holds a mutex across the pick and its
 * claim), and the commit re-checks the job (store_job_get) as usual. Jobs of
 * a deleted team are never returned (the team's index went with it); unlike
 * store_job_next it leaves their queue entries for store_job_next or
 * store_job_drop_stale to remove. Cost: one read transaction; the jobs of a
 * skipped team are passed over by a seek, each of a walked team's deferred
 * jobs costs a read. On success the caller owns *out (store_job_clear); on
 * error *out is zeroed.
 * Errors: SW_ENOTFOUND (no job of an unskipped team is due), SW_EINVAL (s or
 * out NULL), SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err store_job_next_team(store *s, int64_t now_ms,
                                         const char *after_team,
                                         store_job_skip_fn skip, void *arg,
                                         struct store_job *out);

/* store_job_next_of_team copies into *out the oldest due job of team_id
 * whose id is greater than after_job_id (0: any), in enqueue order: the
 * extraction worker takes a team's next job with it while it gathers a
 * group to commit together. Like store_job_next_team it neither removes nor
 * locks the job. On error *out is zeroed.
 * Errors: SW_ENOTFOUND (no such job is due), SW_EINVAL, SW_ECORRUPT,
 * SW_ESTORE, SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err store_job_next_of_team(store *s, int64_t now_ms,
                                            const char *team_id,
                                            uint64_t after_job_id,
                                            struct store_job *out);

/* store_job_drop_stale removes the queued jobs (up to 256 per call) whose
 * team no longer exists, in one read and, if any, one write transaction,
 * and writes their count to *n (may be NULL). store_job_next does the same
 * on its way; workers that pick with store_job_next_team call this now and
 * then. Errors: SW_EINVAL, SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_drop_stale(store *s, size_t *n);

/* store_job_finish removes job job_id in write transaction t (the worker's
 * commit). Errors: SW_ENOTFOUND (no such job: already finished, or its team
 * was deleted), SW_EINVAL, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_job_finish(store_txn *t, uint64_t job_id);

/* store_job_defer postpones job job_id until not_before_ms, increments its
 * attempts and records error (may be NULL; truncated to 1 KiB) as
 * last_error, in its own write transaction.
 * Errors: SW_ENOTFOUND, SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_defer(store *s, uint64_t job_id,
                                     int64_t not_before_ms, const char *error);

/* store_job_defer_txn is store_job_defer inside write transaction t (the
 * worker's group commit). Errors: as store_job_defer; SW_EINVAL (a read
 * transaction). */
SW_MUST_CHECK sw_err store_job_defer_txn(store_txn *t, uint64_t job_id,
                                         int64_t not_before_ms,
                                         const char *error);

/* store_job_count writes the number of queued jobs (due or not, all teams) to
 * *pending. Errors: SW_ESTORE. */
SW_MUST_CHECK sw_err store_job_count(store *s, uint64_t *pending);

/* store_job_team_pending counts team_id's queued jobs (due or deferred) in
 * a read transaction. Errors: SW_EINVAL, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_team_pending(store *s, const char *team_id,
                                            uint64_t *pending);

/* store_job_get copies job job_id into *out (caller clears it) inside
 * transaction t. Errors: SW_ENOTFOUND, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_job_get(store_txn *t, uint64_t job_id,
                                   struct store_job *out);

/* store_job_purge_team removes every queued job of team_id in write
 * transaction t and adds the count to *n (may be NULL). Called when a team is
 * deleted. Errors: SW_EINVAL, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_purge_team(store_txn *t, const char *team_id,
                                          size_t *n);

/* store_job_drop_email removes in write transaction t every queued job of
 * team_id about email_id (an erased email) and adds their count to *n (may
 * be NULL). A worker holding one of them finds it gone at its commit and
 * stores nothing. Cost: a read of each of the team's queued jobs.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_job_drop_email(store_txn *t, const char *team_id,
                                          const char *email_id, size_t *n);

/* store_job_clear frees j's strings and zeroes it. Accepts NULL. */
void store_job_clear(struct store_job *j);

#endif
