/* svc_server_int: what svc_server.c (the gRPC core machinery) and
 * svc_ctx.c (the call context handlers see) share: the call, queue and
 * server structures. Included only by those two files. */
#ifndef SVC_SERVER_INT_H
#define SVC_SERVER_INT_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/sw_arena.h"
#include "service/svc_auth.h"
#include "service/svc_idem.h"
#include "service/svc_page.h"
#include "service/svc_rpc.h"
#include "service/svc_server.h"
#include "service/svc_status.h"

enum svc_tag_kind {
    SVC_TAG_NEW,         /* a registered call arrived */
    SVC_TAG_GENERIC_NEW, /* a call to an unknown method arrived */
    SVC_TAG_CLOSE,       /* RECV_CLOSE_ON_SERVER completed */
    SVC_TAG_DONE,        /* the final batch completed */
    SVC_TAG_SYNC,        /* a stream op a worker waits for completed */
    SVC_TAG_RECV,        /* an asynchronous read of a client stream ended */
};

struct svc_tag {
    enum svc_tag_kind kind;
    struct svc_ctx *call;
};

struct svc_queue {
    svc_server *srv;
    int idx;
    grpc_completion_queue *cq;
    pthread_t thread;
    int started;
};

struct svc_ctx {
    svc_server *srv;
    struct svc_queue *q;
    const struct svc_method *m; /* NULL for a generic (unknown) call */
    void *rm;                   /* registered method handle */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details;
    int cancelled_out; /* written by RECV_CLOSE_ON_SERVER */
    atomic_int closed; /* RECV_CLOSE completed */
    atomic_int refs;
    struct svc_tag t_new, t_close, t_done, t_sync, t_recv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_done, sync_ok;
    int sent_initial_md;
    grpc_slice status_details;
    int has_details;
    grpc_byte_buffer *send_bb;
    grpc_byte_buffer *recv_bb;
    struct sw_arena arena;
    struct svc_identity id;
    const char *fail_msg;
    struct svc_fail fail;   /* reason, metadata, bad fields (svc_status.h) */
    grpc_metadata trail_md; /* grpc-status-details-bin */
    int has_trail;
    int oom; /* an arena allocation for the response failed */
    /* svc_page: the digest the request's page tokens are bound to, made
     * once per call (by svc_page_open or svc_page_seal). */
    unsigned char page_digest[32];
    int page_digest_set;
    int active;     /* a client call arrived (not just requested) */
    int64_t t0_us;  /* when it arrived (sw_mono_us), for metrics */
    int park_taken; /* the handler parked the call (handler's thread) */
    int parked;     /* on the parked list (under the server's pmu) */
    grpc_byte_buffer *park_bb;     /* sent when draining ends a parked call */
    struct svc_ctx *next;          /* worker queue */
    struct svc_ctx *pnext, *pprev; /* parked list */
    /* An asynchronous client stream (svc_ctx_read_async). */
    const struct svc_stream_ops *sops;
    void *sstate;
    int stream_taken; /* the handler handed the stream over */
    int resume;       /* queued for a worker to take the read's result */
    int recv_ok;      /* the read's batch succeeded */
    int64_t items;    /* messages received */
    /* Under the server's smu: */
    int streaming;      /* on the stream list */
    int recv_pending;   /* a read is outstanding */
    int idle_expired;   /* cancelled for idling */
    int64_t recv_since; /* when the outstanding read began (mono ms) */
    struct svc_ctx *snext, *sprev; /* stream list */
    struct svc_share *share;       /* the team share this call holds, if any */
    struct svc_share *gate;        /* its place among the team's writes */
    struct sw_arena item_arena;    /* a stream's message (item_arena ops) */
};

/* A team's share of the expensive calls in progress, and its write calls
 * in progress (SVC_WRITE: what a move waits for), under the server's tmu;
 * kept while the team has any. */
struct svc_share {
    char team[64];
    int calls, streams;
    int writes;
    struct svc_share *next;
};

struct svc_server {
    grpc_server *server;
    struct store *st;
    struct rank_ranker *ranker;
    struct rank_engine *engine;
    struct svc_rjobs *rjobs; /* re-ranking jobs (svc_rjobs.h); NULL: none */
    struct ingest_pipeline *ingest;
    struct ingest_imap_sync *mailbox; /* borrowed; NULL: none */
    struct svc_metrics *mx;           /* borrowed; NULL: none */
    struct svc_queue *queues;
    int nqueues;
    struct svc_method *methods;
    size_t nmethods;
    void **rm; /* registered handles, one per method */
    atomic_int draining;
    atomic_int live_calls;   /* call objects, requested ones included */
    atomic_int active_calls; /* calls a client actually made */
    /* Parked calls: streams that wait for an event without holding a
     * worker (Health.Watch). */
    pthread_mutex_t pmu;
    struct svc_ctx *parked;
    /* Client streams read asynchronously: checked for idling by the first
     * polling thread every SVC_IDLE_SCAN_MS. */
    pthread_mutex_t smu;
    struct svc_ctx *streams;
    int64_t stream_idle_ms;
    int64_t idle_scan_ms; /* last scan (mono), first polling thread only */
    int64_t max_message_bytes;
    struct svc_page_key page_key; /* seals page tokens (svc_page.h) */
    struct svc_idem idem;         /* idempotent creates (svc_idem.h) */
    /* Team shares of expensive calls. */
    pthread_mutex_t tmu;
    pthread_cond_t tcv; /* a team's last write call ended */
    struct svc_share *shares;
    int team_max_calls, team_max_streams;
    /* worker pools: [0] the main one (SVC_HEAVY calls and stream steps),
     * [1] the light one (every other call) */
    pthread_mutex_t wmu;
    pthread_cond_t wcv[2];
    struct svc_ctx *whead[2], *wtail[2];
    int wstop;
    pthread_t *workers;
    int nworkers, nlight, workers_started;
    int poll_rt; /* svc_server_opts.poll_rt */
    atomic_int waiters;
};

/* svc__trailer sets c's grpc-status-details-bin trailer for an error
 * answered with status and msg (svc_status.h), and points op (a
 * SEND_STATUS_FROM_SERVER) at it; without memory the answer goes without
 * it (svc_ctx.c). */
void svc__trailer(struct svc_ctx *c, grpc_op *op, int status, const char *msg,
                  sw_err rc);

#endif
