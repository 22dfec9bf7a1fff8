/* svc_server: snipd's gRPC core server. Polling threads (one completion
 * queue each), a worker pool for handlers that may block, the per-call state
 * machine, authentication, and draining shutdown. The only code besides the
 * C client that calls grpc_* functions. */
#ifndef SVC_SERVER_H
#define SVC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

struct store;
struct rank_ranker;
struct rank_engine;
struct ingest_pipeline;
struct ingest_imap_sync;
struct svc_metrics;
struct svc_tls;
typedef struct svc_server svc_server;

struct svc_server_opts {
    const char *listen;        /* "127.0.0.1:50051"; port 0 picks one */
    int cq_threads;            /* polling threads, >= 1 */
    int workers;               /* handler worker threads, >= 1 */
    int64_t max_message_bytes; /* largest request accepted */
    const char *tls_cert_pem;  /* both NULL: plaintext (or tls) */
    const char *tls_key_pem;
    struct svc_tls *tls;        /* reloadable TLS, optional mutual (borrowed,
                                 * service/svc_tls.h); beats tls_*_pem */
    struct rank_ranker *ranker; /* snippet search (borrowed); NULL: none */
    struct rank_engine *engine; /* Suggest and models (borrowed); NULL: none */
    struct ingest_pipeline *ingest; /* email ingest (borrowed); NULL: none */
    struct svc_metrics *metrics;    /* counters and access log (borrowed,
                                     * service/svc_metrics.h); NULL: none */
    int64_t stream_idle_ms; /* a client stream silent this long ends with
                             * DEADLINE_EXCEEDED; 0: 30000 */
    int light_workers;      /* threads for calls not flagged SVC_HEAVY;
                             * 0: 2 */
    int poll_rt;            /* 1: the polling threads ask for SCHED_RR
                             * priority 1 (a warning if refused) */
    int team_max_calls;     /* SVC_HEAVY unary and server-stream calls one team
                             * may have in progress; 0: half the workers (at
                             * least 1) */
    int team_max_streams;   /* client streams one team may have open; 0: 64 */
    /* The mailbox sync engine (borrowed); NULL: none. */
    struct ingest_imap_sync *mailbox;
};

/* svc_server_start builds the server over store st (borrowed; it must
 * outlive the server), binds, and starts serving. *port receives the bound
 * port. SW_EINVAL for bad options, SW_EIO when the address cannot be bound.
 * Call grpc_init() before, from a thread with SIGTERM/SIGINT blocked. */
SW_MUST_CHECK sw_err svc_server_start(const struct svc_server_opts *o,
                                      struct store *st, svc_server **out,
                                      int *port);

/* svc_server_stop stops accepting calls, lets calls in flight finish for up
 * to grace_ms, cancels what remains, joins every thread and frees the
 * server. *s is set to NULL; NULL is accepted. */
void svc_server_stop(svc_server **s, int64_t grace_ms);

#endif
