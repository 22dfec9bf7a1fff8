/* svc_rjobs: re-ranking as jobs (RankingService.StartRerank, GetRerankJob,
 * ListRerankJobs, WatchRerankJob, CancelRerankJob). A job is started by one
 * call and runs on the jobs' own thread whoever watches it, so a client
 * that disconnects does not stop it; CancelRerankJob does, at the run's
 * next progress step. One job runs at a time per snipd (the nightly job is
 * CPU-bound and the cores are few); a team has at most one queued or
 * running job. Jobs live in memory: the last SVC_RJOBS_KEEP per team since
 * snipd started (the models they made are in the store for good). snipd
 * stopping cancels the running job and joins the thread.
 *
 * Thread-safety: every function may be called from any thread. */
#ifndef SVC_RJOBS_H
#define SVC_RJOBS_H

#include <stdint.h>

#include "base/sw_err.h"
#include "service/svc_rpc.h"

struct rank_engine;
struct svc_metrics;
typedef struct svc_rjobs svc_rjobs;

#define SVC_RJOBS_KEEP 32

/* svc_rjobs_open starts the jobs' thread over engine e (borrowed; it must
 * outlive the jobs) and metrics mx (borrowed, may be NULL). Errors:
 * SW_ENOMEM, SW_EINTERNAL (no thread). */
SW_MUST_CHECK sw_err svc_rjobs_open(struct rank_engine *e,
                                    struct svc_metrics *mx, svc_rjobs **out);

/* svc_rjobs_close cancels the running job, ends the queued ones
 * CANCELLED, wakes every watcher, joins the thread and frees *j (set to
 * NULL; NULL is accepted). */
void svc_rjobs_close(svc_rjobs **j);

/* The handlers of the five RPCs (svc_rpc.h). */
sw_err svc_rjobs_start_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp);
sw_err svc_rjobs_get_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);
sw_err svc_rjobs_list_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_rjobs_watch_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp);
sw_err svc_rjobs_cancel_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);

#endif
