/* sw_err: the one list of Snipwise error codes, their messages and the gRPC
 * status each maps to. Every module returns these; only service/ turns them
 * into gRPC statuses (through sw_err_grpc_status). */
#ifndef SW_ERR_H
#define SW_ERR_H

/* X(name, value, grpc status code, reason, message). Append only: never
 * renumber or remove a row, since values are logged and stored in job
 * records. The status column holds the numeric grpc_status_code so that
 * base/ need not include gRPC headers. The reason is the default
 * google.rpc.ErrorInfo reason of an error answered with this code (stable,
 * UPPER_SNAKE; proto/README.md lists them); a handler may give a more
 * precise one. */
#define SW_ERR_LIST(X)                                                         \
    X(SW_OK, 0, 0, "OK", "ok")                                                 \
    X(SW_ENOMEM, -1, 8, "OUT_OF_MEMORY", "out of memory")                      \
    X(SW_EINVAL, -2, 3, "INVALID_ARGUMENT", "invalid argument")                \
    X(SW_ENOTFOUND, -3, 5, "NOT_FOUND", "not found")                           \
    X(SW_EEXIST, -4, 6, "ALREADY_EXISTS", "already exists")                    \
    X(SW_ETOOBIG, -5, 8, "TOO_LARGE", "too large")                             \
    X(SW_EIO, -6, 13, "IO_ERROR", "I/O error")                                 \
    X(SW_ESTORE, -7, 13, "STORAGE_ERROR", "storage error")                     \
    X(SW_ECORRUPT, -8, 15, "DATA_CORRUPT", "stored data is corrupt")           \
    X(SW_EUNAUTH, -9, 16, "API_KEY_INVALID", "missing or invalid API key")     \
    X(SW_EPERM, -10, 7, "PERMISSION_DENIED", "permission denied")              \
    X(SW_EUNIMPL, -11, 12, "NOT_IMPLEMENTED", "not implemented")               \
    X(SW_EBUSY, -12, 14, "UNAVAILABLE", "temporarily unavailable")             \
    X(SW_ECANCELLED, -13, 1, "CANCELLED", "cancelled")                         \
    X(SW_ETIMEOUT, -14, 4, "DEADLINE_EXCEEDED", "deadline exceeded")           \
    X(SW_ESTATE, -15, 9, "FAILED_PRECONDITION", "failed precondition")         \
    X(SW_ESCHEMA, -16, 9, "STORE_SCHEMA_UNSUPPORTED",                          \
      "store schema version is not supported")                                 \
    X(SW_EPARSE, -17, 3, "MALFORMED_INPUT", "malformed input")                 \
    X(SW_EBUDGET, -18, 8, "LIMIT_EXCEEDED", "budget exceeded")                 \
    X(SW_EPROVIDER, -19, 14, "PROVIDER_ERROR", "provider error")               \
    X(SW_EINTERNAL, -20, 13, "INTERNAL", "internal error")                     \
    X(SW_ERANGE, -21, 11, "OUT_OF_RANGE", "out of range")                      \
    X(SW_EABORTED, -22, 10, "CONFLICT",                                        \
      "aborted: a conflicting operation is running")                           \
    X(SW_ENOSPACE, -23, 8, "STORAGE_FULL",                                     \
      "no space left for writes: the store's map is at its maximum size or "   \
      "its disk is full")                                                      \
    X(SW_EQUOTA, -24, 8, "CONTENT_QUOTA_EXCEEDED",                             \
      "the team's content library is full")

typedef enum sw_err {
#define SW_ERR_ENUM(name, value, status, reason, msg) name = value,
    SW_ERR_LIST(SW_ERR_ENUM)
#undef SW_ERR_ENUM
} sw_err;

/* Marks functions whose sw_err result must be checked. */
#define SW_MUST_CHECK __attribute__((warn_unused_result))

/* sw_err_str returns a static, human-readable message for e; unknown codes
 * give "unknown error". Thread-safe. */
const char *sw_err_str(sw_err e);

/* sw_err_name returns the static symbolic name ("SW_EINVAL") for e. */
const char *sw_err_name(sw_err e);

/* sw_err_reason returns the static default ErrorInfo reason for e
 * ("UNKNOWN" for codes not in the list). */
const char *sw_err_reason(sw_err e);

/* sw_err_grpc_status returns the numeric grpc_status_code for e
 * (UNKNOWN, 2, for codes not in the list). */
int sw_err_grpc_status(sw_err e);

#endif
