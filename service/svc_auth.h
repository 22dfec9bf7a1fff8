/* svc_auth: turns a call's `authorization: Bearer <key>` metadata into the
 * caller's identity (team and role), checking it against the method's access
 * level. Keys are looked up by their SHA-256 in the store; a revoked key or a
 * deleted team fails at once. Thread-safe. */
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
};

/* svc_auth_check authenticates md for a method of the given access level.
 * On success *id is filled with strings in arena a. SW_EUNAUTH when the key
 * is missing, malformed, unknown or revoked; SW_EPERM when a team key calls
 * an admin method or the admin key calls a team method. *why (arena string)
 * explains a failure. */
SW_MUST_CHECK sw_err svc_auth_check(struct store *st,
                                    const grpc_metadata_array *md,
                                    enum svc_access access, struct sw_arena *a,
                                    struct svc_identity *id, const char **why);

#endif
