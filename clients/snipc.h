/* snipc: a small C client for snipwise.v1 on gRPC core, used by snipctl,
 * the native messaging host and the benchmarks. One channel per handle;
 * each call has its own completion queue, so a handle may be used from
 * several threads at once. */
#ifndef SNIPC_H
#define SNIPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "base/sw_arena.h"
#include "base/sw_err.h"

typedef struct snipc snipc;

struct snipc_opts {
    const char *addr; /* "127.0.0.1:50051" */
    const char *key;  /* API key sent as `authorization: Bearer`; NULL: none */
    const char *tls_ca; /* PEM of the CA to trust; NULL: plaintext */
    /* A client certificate and its key (PEM files, both or neither) for a
     * server that asks for one (mutual TLS); they imply TLS. */
    const char *tls_cert;
    const char *tls_key;
    int64_t timeout_ms; /* per-call deadline; 0 = 30 s */
};

/* The outcome of a call as the server reported it. */
struct snipc_status {
    int code;            /* grpc_status_code; 0 = OK */
    const char *message; /* in the caller's arena; "" when none. An
                          * UNAVAILABLE that looks like a TLS mismatch ends
                          * with advice in parentheses ("the server may be
                          * using TLS: pass --tls-ca CA.pem") */
    const char *reason;  /* the ErrorInfo reason of the error's
                          * google.rpc.Status details (proto/README.md,
                          * "Errors"), e.g. "CONTENT_NOT_FOUND"; "" when the
                          * server sent none (OK, or gRPC core's own) */
    /* The ErrorInfo metadata, key and value pairs (in the caller's arena);
     * read with snipc_status_meta. */
    const char **meta;
    size_t n_meta;
};

/* snipc_status_meta returns the value of ErrorInfo metadata key in st
 * (e.g. "job_id" of a RERANK_JOB_RUNNING), or NULL. */
const char *snipc_status_meta(const struct snipc_status *st, const char *key);

/* snipc_status_label writes "CODE" or "CODE (REASON)" for st into buf (n
 * bytes) and returns buf: what snipctl and the host print before the
 * message. */
const char *snipc_status_label(const struct snipc_status *st, char *buf,
                               size_t n);

/* snipc_open creates a channel (lazily connected). Strings in o are copied.
 * SW_EINVAL (also tls_cert without tls_key), SW_ENOMEM, SW_EIO (unreadable
 * PEM file). Call grpc_init() first. */
SW_MUST_CHECK sw_err snipc_open(const struct snipc_opts *o, snipc **out);

/* snipc_close destroys the channel; NULL is accepted. */
void snipc_close(snipc **c);

/* snipc_unary calls method ("/snipwise.v1.AdminService/CreateTeam") with
 * req and decodes the reply as resp_d into arena a. A call refused because
 * its team is moving between nodes (UNAVAILABLE, TEAM_MOVING or
 * TEAM_MOVED: nothing was applied) is repeated after the server's
 * retry_after_ms until the handle's timeout has passed. Returns SW_OK when the
 * call completed with any status (see *st); *resp is set only for status
 * OK. SW_EPARSE if the reply does not decode; SW_ENOMEM; SW_EINTERNAL if
 * gRPC refused the batch. */
SW_MUST_CHECK sw_err snipc_unary(snipc *c, const char *method,
                                 const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_d,
                                 struct sw_arena *a, ProtobufCMessage **resp,
                                 struct snipc_status *st);

/* A callback for each message of a server stream; a non-zero return
 * cancels the call. The message lives in a per-message arena. */
typedef int (*snipc_msg_fn)(const ProtobufCMessage *m, void *arg);

/* snipc_server_stream calls a server-streaming method, giving each reply to
 * fn. Results as for snipc_unary. */
SW_MUST_CHECK sw_err
snipc_server_stream(snipc *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_d, snipc_msg_fn fn,
                    void *arg, struct sw_arena *a, struct snipc_status *st);

/* A client stream: open, send any number of messages, finish. */
typedef struct snipc_stream snipc_stream;

SW_MUST_CHECK sw_err snipc_stream_open(snipc *c, const char *method,
                                       snipc_stream **out);
/* snipc_stream_send sends one message; SW_ECANCELLED when the server has
 * already ended the call (finish then tells why). */
SW_MUST_CHECK sw_err snipc_stream_send(snipc_stream *s,
                                       const ProtobufCMessage *m);
/* snipc_stream_finish half-closes, waits for the reply and the status and
 * frees the stream (*s = NULL). Results as for snipc_unary. */
SW_MUST_CHECK sw_err snipc_stream_finish(
    snipc_stream **s, const ProtobufCMessageDescriptor *resp_d,
    struct sw_arena *a, ProtobufCMessage **resp, struct snipc_status *st);

/* snipc_status_name returns "OK", "INVALID_ARGUMENT", ... for a code. */
const char *snipc_status_name(int code);

#endif
