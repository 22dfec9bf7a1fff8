/* svc_status: the machine-readable part of an error answer. Every error
 * snipd answers carries a google.rpc.Status in the grpc-status-details-bin
 * trailer: exactly one google.rpc.ErrorInfo (a stable UPPER_SNAKE reason,
 * domain "snipwise.v1", metadata such as the field or the limit) and, when
 * a request field was wrong, one google.rpc.BadRequest naming each field.
 * proto/README.md lists the reasons. */
#ifndef SVC_STATUS_H
#define SVC_STATUS_H

#include <grpc/slice.h>
#include <stddef.h>

#include "base/sw_arena.h"
#include "base/sw_err.h"

#define SVC_STATUS_DOMAIN "snipwise.v1"
#define SVC_STATUS_META_MAX 8
#define SVC_STATUS_FIELDS_MAX 8

/* What a handler said about its failure beyond the code and the message
 * (svc_ctx_reason, svc_ctx_meta, svc_ctx_fail_field). Strings live in the
 * call's arena. */
struct svc_fail {
    const char *reason; /* NULL: sw_err_reason of the code */
    const char *meta_key[SVC_STATUS_META_MAX];
    const char *meta_value[SVC_STATUS_META_MAX];
    size_t nmeta;
    const char *field[SVC_STATUS_FIELDS_MAX]; /* BadRequest violations */
    const char *field_why[SVC_STATUS_FIELDS_MAX];
    size_t nfields;
};

/* svc_status_add_meta adds key = value (both copied into a) to f's
 * metadata, replacing an earlier value of key; beyond SVC_STATUS_META_MAX
 * keys it is dropped. */
void svc_status_add_meta(struct svc_fail *f, struct sw_arena *a,
                         const char *key, const char *value);

/* svc_status_add_field adds a violation of field (copied into a) with
 * description why; the first also sets metadata "field". */
void svc_status_add_field(struct svc_fail *f, struct sw_arena *a,
                          const char *field, const char *why);

/* svc_status_pack writes into *out (a new slice, the caller's to unref) the
 * google.rpc.Status of an error answered with gRPC status code status,
 * message msg and sw_err rc, with f's reason, metadata and fields (f may
 * be NULL). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err svc_status_pack(int status, const char *msg, sw_err rc,
                                     const struct svc_fail *f, grpc_slice *out);

#endif
