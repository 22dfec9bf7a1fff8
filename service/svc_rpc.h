/* svc_rpc: what a request handler sees. The method table (one row per RPC of
 * snipwise.v1 and grpc.health.v1), the per-call context handlers use, and the
 * one function that maps sw_err to a gRPC status. Handlers are plain
 * functions over typed protobuf-c messages; they never touch gRPC. */
#ifndef SVC_RPC_H
#define SVC_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_err.h"

struct store;
struct rank_ranker;
struct rank_engine;
struct ingest_pipeline;
struct ingest_imap_sync;
struct svc_metrics;
struct svc_ctx;

enum svc_kind {
    SVC_UNARY = 0,
    SVC_SERVER_STREAM = 1, /* one request, a stream of responses */
    SVC_CLIENT_STREAM = 2, /* a stream of requests, one response */
};

enum svc_access {
    SVC_PUBLIC = 0, /* no key needed (health) */
    /* A team(-admin) key; the team comes from the key. A rep key is
     * refused (PERMISSION_DENIED, reason REP_KEY_NOT_ALLOWED): what a rep
     * may do is listed row by row, never assumed. */
    SVC_TEAM = 1,
    SVC_ADMIN = 2, /* the server admin key */
    /* A team key or a rep key of the team (what a rep does as itself:
     * Suggest, feedback, reads). Handlers check a request's rep_email
     * against a rep key with svc_ctx_rep_identity. */
    SVC_REP = 3,
};

/* Flags of a method row. */
#define SVC_INLINE 1u /* cheap and non-blocking: run on the polling thread */
/* Expensive (ingest, Suggest, search, rerank): run on the main worker pool
 * and counted against the team's share (svc_server_opts.team_max_calls, or
 * team_max_streams for a client stream). Every other method runs on the
 * small pool of light workers, so reads and team management never wait
 * behind expensive calls. */
#define SVC_HEAVY 2u
/* Changes the team's data (ingest, outcomes, members, keys, mailboxes,
 * ...): counted among the team's writes in progress and refused with
 * UNAVAILABLE (TEAM_MOVING) while the team is frozen for a move to
 * another node (TeamMoveService, docs/SCALING.md); a client stream is
 * checked again before each message. */
#define SVC_WRITE 4u

/* The retry hint of a write refused during a team's move, in ms. */
#define SVC_MOVE_RETRY_MS 500

/* A handler runs one call. req is the decoded request (NULL for client
 * streams, which read with svc_ctx_recv). A unary or client-stream handler
 * sets *resp to a message allocated in svc_ctx_arena (or leaves it NULL to
 * send an empty message of the response type); a server-stream handler sends
 * with svc_ctx_send and leaves *resp alone. A non-zero return becomes the
 * call's status, with the message set by svc_ctx_fail if any. */
typedef sw_err (*svc_handler)(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp);

struct svc_method {
    char *path; /* "/snipwise.v1.AdminService/CreateTeam" */
    const ProtobufCMessageDescriptor *req; /* from the service descriptor */
    const ProtobufCMessageDescriptor *resp;
    enum svc_kind kind;
    enum svc_access access;
    unsigned flags;
    svc_handler fn;      /* NULL: UNIMPLEMENTED until its issue lands */
    const char *pending; /* why fn is NULL, e.g. "ingest (issue 3)" */
};

/* svc_rpc_table builds the method table from the rows in svc_rpc.c and the
 * generated service descriptors, checking that every RPC of every service
 * has exactly one row. The caller owns *out and frees it with
 * svc_rpc_table_free. SW_EINTERNAL (logged) when the rows and the protos
 * disagree, SW_ENOMEM. */
SW_MUST_CHECK sw_err svc_rpc_table(struct svc_method **out, size_t *n);
void svc_rpc_table_free(struct svc_method *t, size_t n);

/* svc_rpc_status maps an error to a grpc_status_code (as an int). This is
 * the only place where that mapping happens. */
int svc_rpc_status(sw_err e);

/* --- The call context ------------------------------------------------- */

/* svc_ctx_arena: memory that lives until the call's response is sent. */
struct sw_arena *svc_ctx_arena(struct svc_ctx *c);

/* svc_ctx_page_digest is the call's 32-byte slot for svc_page's request
 * digest; *set says whether it holds one (svc_page.c fills it once). */
unsigned char *svc_ctx_page_digest(struct svc_ctx *c, int **set);

/* svc_ctx_new allocates a message of type d in the call's arena,
 * initialised with its defaults (msg_new): the one way handlers make the
 * messages they answer with. NULL when out of memory. */
void *svc_ctx_new(struct svc_ctx *c, const ProtobufCMessageDescriptor *d);

/* svc_ctx_store: the server's store; valid for the whole call. */
struct store *svc_ctx_store(struct svc_ctx *c);

/* svc_ctx_ranker: the server's snippet index (ranker/index.h), or NULL when
 * the server runs without one; valid for the whole call. */
struct rank_ranker *svc_ctx_ranker(struct svc_ctx *c);

/* svc_ctx_engine: the server's ranking engine (ranker/suggest.h), or NULL
 * when the server runs without one; valid for the whole call. */
struct rank_engine *svc_ctx_engine(struct svc_ctx *c);

/* svc_ctx_rjobs: the server's re-ranking jobs (service/svc_rjobs.h), or
 * NULL without an engine; valid for the whole call. */
struct svc_rjobs;
struct svc_rjobs *svc_ctx_rjobs(struct svc_ctx *c);

/* svc_ctx_metrics: the server's metrics (service/svc_metrics.h), or NULL;
 * valid for the whole call. */
struct svc_metrics *svc_ctx_metrics(struct svc_ctx *c);

/* svc_ctx_ingest: the server's ingest pipeline (ingest/pipeline.h), or NULL
 * when the server runs without one; valid for the whole call. */
struct ingest_pipeline *svc_ctx_ingest(struct svc_ctx *c);

/* svc_ctx_mailbox: the server's mailbox sync engine (ingest/imap_sync.h),
 * or NULL when the server runs without one; valid for the whole call. */
struct ingest_imap_sync *svc_ctx_mailbox(struct svc_ctx *c);

/* The caller's identity, from its API key. team_id is "" for the admin key;
 * key_id is "" on public methods. svc_ctx_rep_email is the member a rep key
 * acts as (lowercased), "" for every other key. Valid for the whole call. */
const char *svc_ctx_team(struct svc_ctx *c);
const char *svc_ctx_key_id(struct svc_ctx *c);
int svc_ctx_is_admin(struct svc_ctx *c);
const char *svc_ctx_rep_email(struct svc_ctx *c);

/* svc_ctx_rep_identity checks a request's rep_email (given, named field)
 * against the caller's key and sets *out to the rep the call acts as: for a
 * rep key, its rep when given is empty or the same address in any case,
 * else SW_EPERM (reason REP_IDENTITY_MISMATCH, the field named in the
 * details); for any other key, given unchanged. *out is given or an
 * identity string, valid for the whole call. */
SW_MUST_CHECK sw_err svc_ctx_rep_identity(struct svc_ctx *c, const char *field,
                                          const char *given, const char **out);

/* svc_ctx_fail records a human-readable status message for error e and
 * returns e, so handlers can write `return svc_ctx_fail(c, SW_EINVAL,
 * "display_name must not be empty");`. */
sw_err svc_ctx_fail(struct svc_ctx *c, sw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* svc_ctx_fail_field is svc_ctx_fail for a bad request field: the message
 * is "<field> <text>", and the error's details name the field (ErrorInfo
 * metadata "field", a google.rpc.BadRequest violation). Call it once per
 * bad field. Returns e. */
sw_err svc_ctx_fail_field(struct svc_ctx *c, sw_err e, const char *field,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* svc_ctx_reason sets the error's ErrorInfo reason (a static UPPER_SNAKE
 * string listed in proto/README.md) instead of the default of its sw_err
 * (sw_err_reason). */
void svc_ctx_reason(struct svc_ctx *c, const char *reason);

/* svc_ctx_meta adds key = value to the error's ErrorInfo metadata (up to
 * SVC_STATUS_META_MAX keys). */
void svc_ctx_meta(struct svc_ctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* svc_ctx_fail_buf is svc_ctx_fail with the message taken from why (a
 * store-layer explanation); an empty why leaves the default message. */
sw_err svc_ctx_fail_buf(struct svc_ctx *c, sw_err e, const struct sw_buf *why);

/* svc_ctx_fail_buf_field is svc_ctx_fail_buf that, for SW_EINVAL with a
 * reason in why, also names field as the bad one (why is the violation's
 * description and the message, unchanged). Returns e. */
sw_err svc_ctx_fail_buf_field(struct svc_ctx *c, sw_err e, const char *field,
                              const struct sw_buf *why);

/* svc_ctx_page_size checks a request's page_size: negative values are
 * SW_EINVAL (with a message); 0 means the default. */
SW_MUST_CHECK sw_err svc_ctx_page_size(struct svc_ctx *c, int32_t page_size);

/* svc_ctx_page is svc_ctx_page_size that also caps values above
 * SVC_MAX_PAGE_SIZE, as common.proto promises; *out receives the size to
 * pass to the store. */
#define SVC_MAX_PAGE_SIZE 1000
SW_MUST_CHECK sw_err svc_ctx_page(struct svc_ctx *c, int32_t page_size,
                                  int *out);

/* svc_ctx_list builds the response of a List method, of type d, in the
 * call's arena: n items in its repeated message field `field`, item i made
 * by item(c, i, arg) (NULL means out of memory), and next_page_token set
 * to next (NULL or "" on the last page). One helper for every List
 * handler; the field is found by name in the descriptor. Errors:
 * SW_ENOMEM, SW_EINTERNAL (d has no such repeated message field). */
typedef ProtobufCMessage *(*svc_list_item_fn)(struct svc_ctx *c, size_t i,
                                              void *arg);
SW_MUST_CHECK sw_err svc_ctx_list(struct svc_ctx *c,
                                  const ProtobufCMessageDescriptor *d,
                                  const char *field, size_t n,
                                  svc_list_item_fn item, void *arg,
                                  const char *next, ProtobufCMessage **resp);

/* svc_ctx_str copies a store-owned string into the call's arena, so that it
 * can be placed in a response; "" for NULL or out of memory (the response
 * would then be incomplete, so callers check svc_ctx_oom). */
char *svc_ctx_str(struct svc_ctx *c, const char *s);
int svc_ctx_oom(struct svc_ctx *c);

/* svc_ctx_done returns non-zero once the client has cancelled or the
 * deadline has passed: long handlers check it and give up.
 * svc_ctx_done_reason tells which (SW_ECANCELLED, SW_ETIMEOUT; SW_OK while
 * the call is live). Draining does not end a call: see svc_ctx_draining. */
int svc_ctx_done(struct svc_ctx *c);
sw_err svc_ctx_done_reason(struct svc_ctx *c);

/* svc_ctx_wait blocks the handler's worker for at most ms milliseconds, or
 * until the call is done or the server starts draining. Returns
 * svc_ctx_done. */
int svc_ctx_wait(struct svc_ctx *c, int64_t ms);

/* svc_ctx_send sends one message of a server stream and waits until gRPC
 * has taken it. SW_ECANCELLED if the call ended. Worker threads only. */
SW_MUST_CHECK sw_err svc_ctx_send(struct svc_ctx *c, const ProtobufCMessage *m);

/* svc_ctx_recv reads the next message of a client stream into the arena.
 * SW_ENOTFOUND at the end of the stream, SW_EPARSE for a malformed message,
 * SW_ECANCELLED if the call ended. Worker threads only. It holds the worker
 * while the client takes its time: client streams should read with
 * svc_ctx_read_async instead. */
SW_MUST_CHECK sw_err svc_ctx_recv(struct svc_ctx *c, ProtobufCMessage **out);

/* Reading a client stream without holding a thread. */
struct svc_stream_ops {
    /* item handles one message: m decoded into the arena, or m NULL and rc
     * SW_EPARSE for a message that does not decode (rc is SW_OK
     * otherwise). A non-zero return ends the stream: end gets it. */
    sw_err (*item)(struct svc_ctx *c, void *state, ProtobufCMessage *m,
                   sw_err rc);
    /* end is called exactly once: rc SW_OK when the client half-closed
     * (end then sets *resp, or leaves it NULL for an empty response), or
     * why the stream ended early: item's error, SW_ECANCELLED (the client
     * went away or the server's grace ran out), SW_ETIMEOUT (no message
     * for the server's stream idle limit: the client has already been sent
     * DEADLINE_EXCEEDED with the count of messages received). end releases
     * whatever state holds and returns the call's status (its message set
     * with svc_ctx_fail if any). */
    sw_err (*end)(struct svc_ctx *c, void *state, sw_err rc,
                  ProtobufCMessage **resp);
    /* Non-zero: each message is decoded into an arena of its own, freed
     * before the next one is read, so that a long stream does not grow
     * the call's arena (item must then keep nothing of m). */
    int item_arena;
};

/* svc_ctx_read_async hands a client stream to the server: a client-stream
 * handler sets up state (in the arena) and returns
 * svc_ctx_read_async(c, ops, state) at once. The server then reads each
 * message through the completion queue, holding no thread while it waits,
 * and calls ops->item on a worker per message, then ops->end; the calls
 * for one stream never overlap. A stream that sends nothing for the
 * server's idle limit (snipd's --stream-idle-ms) ends with
 * DEADLINE_EXCEEDED. Returns SW_OK (the handler returns it), or an error
 * when the call cannot be read asynchronously (end is then not called). */
SW_MUST_CHECK sw_err svc_ctx_read_async(struct svc_ctx *c,
                                        const struct svc_stream_ops *ops,
                                        void *state);

/* svc_ctx_park keeps a server stream open without holding a worker: after
 * it returns SW_OK the handler returns SW_OK at once, and the call stays
 * open until the client cancels or its deadline passes (the call then ends
 * CANCELLED) or the server starts draining (then on_drain, encoded now, is
 * sent and the call ends OK). SW_ECANCELLED if the call already ended,
 * SW_EBUSY if the server is draining (send on_drain yourself), SW_ENOMEM. */
SW_MUST_CHECK sw_err svc_ctx_park(struct svc_ctx *c,
                                  const ProtobufCMessage *on_drain);

/* svc_ctx_drain_writes waits until no SVC_WRITE call of team_id is in
 * progress on this server, at most timeout_ms: SW_ETIMEOUT when some still
 * are. A team's move freezes it first, then drains. */
SW_MUST_CHECK sw_err svc_ctx_drain_writes(struct svc_ctx *c,
                                          const char *team_id,
                                          int64_t timeout_ms);

/* svc_ctx_draining: non-zero once the server has begun shutting down. */
int svc_ctx_draining(struct svc_ctx *c);

#endif
