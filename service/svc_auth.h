/* svc_auth: turns a call's `authorization: Bearer <key>` metadata into the
 * caller's identity (team, role, and a rep key's rep), checking it against
 * the method's access level. Keys are looked up by their SHA-256 in the
 * store; a revoked key or a deleted team fails at once. Thread-safe. */
#ifndef SVC_AUTH_H
#define SVC_AUTH_H

#include <grpc/grpc.h>

#include "base/sw_arena.h"
#include "base/sw_err.h"
#include "service/svc_rpc.h"

struct store;

struct svc_identity {
    const char *team_id; /* "" for the admin key */
    const char *key_id;
    int is_admin;
    const char *rep_email; /* a rep key's member; "" for other keys */
};

/* svc_auth_check authenticates md for method m (its access level). On
 * success *id is filled with strings in arena a. SW_EUNAUTH when the key is
 * missing, malformed, unknown or revoked; SW_EPERM when a team or rep key
 * calls an admin method, the admin key a team method, or a rep key a method
 * not open to rep keys (SVC_TEAM). *why (arena string, naming the method
 * where it matters) explains a failure and *reason is its ErrorInfo reason
 * (static; NULL for the default of the code). */
SW_MUST_CHECK sw_err svc_auth_check(struct store *st,
                                    const grpc_metadata_array *md,
                                    const struct svc_method *m,
                                    struct sw_arena *a, struct svc_identity *id,
                                    const char **why, const char **reason);

#endif
