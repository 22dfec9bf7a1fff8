/* store_tenant: teams, API keys, team members and team domains, kept in the
 * store's TEAMS, KEYS, KEY_HASHES, KEY_IDS, MEMBERS and DOMAINS databases.
 * The service authenticates every call here and takes the caller's team from
 * the key, never from the request.
 *
 * Conventions for every function below:
 * - Each runs its own transaction; a write is durable when it returns SW_OK.
 *   All are thread-safe and may run in several processes at once.
 * - Out-params are written only on SW_OK. Structs returned by value hold
 *   strings the caller owns: release them with the matching _clear function
 *   (arrays with the matching _free function, even when n is 0). Strings
 *   returned through char ** are freed with sw_free.
 * - why, when not NULL, receives a human-readable reason (reset first) with
 *   every SW_EINVAL; it is safe to show to the API caller.
 * - Lists are paginated: page_size 0 means 50, at most 1000; page_token is
 *   NULL or "" for the first page, else a *next_token from the previous page
 *   of the same list (opaque; SW_EINVAL when malformed). *next_token is NULL
 *   on the last page.
 * - display names are 1 to 200 bytes of UTF-8 without control characters
 *   (a member's may also be empty). Emails and domains are lowercased. */
#ifndef STORE_TENANT_H
#define STORE_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "store/store.h"

#define STORE_ROLE_ADMIN 1 /* manages teams; belongs to no team */
#define STORE_ROLE_TEAM 2  /* acts for one team */
#define STORE_ROLE_REP 3   /* acts for one member (rep_email) of one team */

/* Length of a secret: "sk_" and 64 hex digits. */
#define STORE_SECRET_LEN 67

/* An API key is its secret, with, for team and rep keys, the team's id and
 * STORE_ROUTE_SEP in front: "team_0123456789abcdef.sk_<64 hex>". That public
 * prefix is the routing id: a proxy in front of several snipd nodes reads it
 * from the authorization header to pick the node that holds the team
 * (docs/SCALING.md). Only the secret part is hashed, so a key made before
 * routing (the bare secret) still authenticates, and also with its team's
 * prefix put in front. Admin keys belong to no team and have no prefix. */
#define STORE_ROUTE_SEP '.'
#define STORE_ROUTE_LEN 21 /* "team_" and 16 hex digits */
#define STORE_KEY_MAX_LEN (STORE_ROUTE_LEN + 1 + STORE_SECRET_LEN)

struct store_team {
    char *team_id; /* "team_" and 16 hex digits */
    char *display_name;
    int64_t create_ms;
};

struct store_apikey {
    char *key_id;  /* "key_" and 16 hex digits */
    char *team_id; /* "" for admin keys */
    char *display_name;
    int role; /* STORE_ROLE_ADMIN, STORE_ROLE_TEAM or STORE_ROLE_REP */
    int64_t create_ms;
    int64_t revoke_ms; /* 0 while active */
    char *key_prefix;  /* for display: the key's routing prefix, if any, and
                          the secret's first 11 characters */
    char *rep_email;   /* STORE_ROLE_REP: the member, lowercased; else "" */
};

struct store_member {
    char *email;
    char *display_name;
    int64_t create_ms;
};

struct store_domain {
    char *domain;
    int64_t create_ms;
};

/* The _clear functions free a struct's strings and zero it; NULL is
 * accepted. The _free functions clear n items and free the array; NULL is
 * accepted. */
void store_team_clear(struct store_team *t);
void store_apikey_clear(struct store_apikey *k);
void store_member_clear(struct store_member *m);
void store_domain_clear(struct store_domain *d);
void store_teams_free(struct store_team *items, size_t n);
void store_apikeys_free(struct store_apikey *items, size_t n);
void store_members_free(struct store_member *items, size_t n);
void store_domains_free(struct store_domain *items, size_t n);

/* Teams */

/* store_team_create creates a team and its first STORE_ROLE_TEAM key (named
 * "default") in one transaction. *out (optional) receives the team;
 * *api_key_out (optional) receives the key's secret, which is stored only as
 * a hash and cannot be recovered later.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_EIO (no randomness), SW_ETOOBIG,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_create(store *s, const char *display_name,
                                       struct store_team *out,
                                       char **api_key_out, struct sw_buf *why);

/* store_team_get reads one team into *out.
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_get(store *s, const char *team_id,
                                    struct store_team *out, struct sw_buf *why);

/* store_team_exists_txn: SW_OK when team_id's team record is in t,
 * SW_ENOTFOUND when it is not (the team was deleted, moved to another node,
 * or its import is not committed yet). A background writer (an LLM call's
 * journal, the index's snapshots and document frequencies, a re-ranking
 * commit) asks it in its own write transaction and writes nothing for a
 * missing team, so that no record outlives its team. Errors besides:
 * SW_EINVAL, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_exists_txn(store_txn *t, const char *team_id);

/* store_team_list returns one page of teams in team-id order.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_list(store *s, int page_size,
                                     const char *page_token,
                                     struct store_team **items, size_t *n,
                                     char **next_token, struct sw_buf *why);

/* store_team_delete deletes the team, its keys, members and domains and
 * every other record under its prefix in every database. The team and its
 * keys go in one transaction, which also marks the team's records for
 * purging (META key STORE_PURGE_MARK + team id): from then on the team is
 * not found and its keys do not authenticate. The records then go in
 * slices of STORE_PURGE_SLICE per write transaction (store_team_purge), so
 * that a large team does not hold the single writer for seconds while
 * other teams wait (store_opts.purge_slice); the last slice removes the
 * mark. Returns when all is
 * gone. If the process dies in between, store_team_purge_pending finishes
 * the job. Errors: SW_ENOTFOUND, SW_EINVAL, SW_ECORRUPT, SW_ENOMEM,
 * SW_ESTORE (the team may then be gone with its purge still marked). */
SW_MUST_CHECK sw_err store_team_delete(store *s, const char *team_id,
                                       struct sw_buf *why);

/* The META key prefix of a team whose records are still being purged. */
#define STORE_PURGE_MARK "purge:"

/* store_team_purge deletes team_id's records in slices of slice records (0:
 * the store's purge_slice) per write transaction, and its purge mark with the
 * last, adding the count to *ndeleted (optional). For a team already
 * deleted (store_team_delete does it itself). Errors: SW_EINVAL, SW_ENOMEM,
 * SW_ESTORE, SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_team_purge(store *s, const char *team_id,
                                      size_t slice, size_t *ndeleted);

/* store_team_purge_pending finishes every purge that a crash interrupted
 * (snipd serve calls it at start) and adds the number of teams to *nteams
 * (optional). Errors: as store_team_purge. */
SW_MUST_CHECK sw_err store_team_purge_pending(store *s, size_t *nteams);

/* API keys */

/* store_key_create creates a key: role STORE_ROLE_ADMIN with team_id NULL or
 * "", or STORE_ROLE_TEAM with an existing team (STORE_ROLE_REP keys are made
 * by store_key_create_rep). The secret is "sk_" and 64 hex digits from 32
 * random bytes, behind the team's routing prefix for a team or rep key
 * (STORE_ROUTE_SEP); only the secret's SHA-256 is stored. *out and
 * *secret_out are optional.
 * Errors: SW_EINVAL (bad name or role/team mismatch), SW_ENOTFOUND (no such
 * team), SW_ENOMEM, SW_EIO, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_key_create(store *s, const char *team_id,
                                      const char *display_name, int role,
                                      struct store_apikey *out,
                                      char **secret_out, struct sw_buf *why);

/* store_key_create_rep is store_key_create for a STORE_ROLE_REP key acting
 * as rep_email (validated like a member's email, stored lowercased), which
 * must be a member of the team when the key is written (checked in the same
 * transaction).
 * Errors: SW_EINVAL (bad email or name), SW_ENOTFOUND (no such team),
 * SW_ESTATE (rep_email is not a member; why says so), SW_ENOMEM, SW_EIO,
 * SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_key_create_rep(store *s, const char *team_id,
                                          const char *rep_email,
                                          const char *display_name,
                                          struct store_apikey *out,
                                          char **secret_out,
                                          struct sw_buf *why);

/* store_key_authenticate checks the key secret[0..n) (not NUL-terminated;
 * a bare secret or a routed key, see STORE_ROUTE_SEP) and writes its key to
 * *out. One hash and two lookups in a read transaction. A routing prefix
 * must name the key's own team.
 * Errors: SW_EUNAUTH (malformed, unknown, revoked, its team deleted, or a
 * prefix of another team), SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_key_authenticate(store *s, const char *secret,
                                            size_t n, struct store_apikey *out);

/* store_key_route parses the routing prefix of the key key[0..n): on
 * success team_out (STORE_ROUTE_LEN + 1 bytes) holds the team id it names,
 * which says only where the key claims to belong, not that it is valid.
 * SW_ENOTFOUND when the key has no well-formed prefix. No store access. */
SW_MUST_CHECK sw_err store_key_route(const char *key, size_t n,
                                     char team_out[STORE_ROUTE_LEN + 1]);

/* store_key_revoke revokes key_id at once; revoking a revoked key succeeds
 * and keeps the first revocation time. When team_scope is not NULL, a key
 * of any other team counts as missing (a team caller may revoke only its own
 * keys); pass NULL for admin callers. *out (optional) receives the key.
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_key_revoke(store *s, const char *team_scope,
                                      const char *key_id,
                                      struct store_apikey *out,
                                      struct sw_buf *why);

/* store_key_revoke_role is store_key_revoke that revokes only a key of the
 * given role: a key of another role is left alone and is SW_ESTATE (why
 * says which role it has). A team revokes its rep keys so. */
SW_MUST_CHECK sw_err store_key_revoke_role(store *s, const char *team_scope,
                                           int role, const char *key_id,
                                           struct store_apikey *out,
                                           struct sw_buf *why);

/* store_key_list returns one page of keys, revoked ones included, of
 * team_id ("" for admin keys) or of everyone (team_id NULL), ordered by team
 * then key id. Errors: SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_key_list(store *s, const char *team_id,
                                    int page_size, const char *page_token,
                                    struct store_apikey **items, size_t *n,
                                    char **next_token, struct sw_buf *why);

/* store_key_list_role is store_key_list of the keys of one role only
 * (role 0: every role); the others take no place in a page. */
SW_MUST_CHECK sw_err store_key_list_role(store *s, const char *team_id,
                                         int role, int page_size,
                                         const char *page_token,
                                         struct store_apikey **items, size_t *n,
                                         char **next_token, struct sw_buf *why);

/* store_admin_bootstrap creates an admin key named "bootstrap" when no
 * active (unrevoked) admin key exists and returns its secret in *secret_out
 * (freed with sw_free); the service writes it to DATA_DIR/admin.key.
 * Errors: SW_EEXIST (an active admin key exists), SW_ENOMEM, SW_EIO,
 * SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err store_admin_bootstrap(store *s, char **secret_out);

/* Members: people of the team, by email, for direction inference. */

/* store_member_add adds email (validated: one '@', non-empty local part and
 * domain, no spaces or control characters, at most 254 bytes; stored
 * lowercased) to an existing team. *out is optional.
 * Errors: SW_EINVAL, SW_ENOTFOUND (no such team), SW_EEXIST, SW_ENOMEM,
 * SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_member_add(store *s, const char *team_id,
                                      const char *email,
                                      const char *display_name,
                                      struct store_member *out,
                                      struct sw_buf *why);

/* store_member_remove removes email from the team and, in the same
 * transaction, revokes every active STORE_ROLE_REP key acting as it (the
 * team's other keys are untouched), so a rep who leaves keeps no access.
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_member_remove(store *s, const char *team_id,
                                         const char *email, struct sw_buf *why);

/* store_member_list returns one page of the team's members by email.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_member_list(store *s, const char *team_id,
                                       int page_size, const char *page_token,
                                       struct store_member **items, size_t *n,
                                       char **next_token, struct sw_buf *why);

/* store_member_is sets *out to whether email (any case) is a member of the
 * team. A malformed email is simply not a member.
 * Errors: SW_ENOMEM, SW_ESTORE, SW_EINVAL (NULL arguments). */
SW_MUST_CHECK sw_err store_member_is(store *s, const char *team_id,
                                     const char *email, bool *out);

/* Domains: the team's own mail domains, for direction inference. */

/* store_domain_add adds domain (a hostname: dot-separated labels of 1 to 63
 * letters, digits and inner '-', at most 253 bytes; stored lowercased) to
 * an existing team. *out is optional.
 * Errors: SW_EINVAL, SW_ENOTFOUND (no such team), SW_EEXIST, SW_ENOMEM,
 * SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_domain_add(store *s, const char *team_id,
                                      const char *domain,
                                      struct store_domain *out,
                                      struct sw_buf *why);

/* store_domain_remove removes domain from the team.
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_domain_remove(store *s, const char *team_id,
                                         const char *domain,
                                         struct sw_buf *why);

/* store_domain_list returns one page of the team's domains in order.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_domain_list(store *s, const char *team_id,
                                       int page_size, const char *page_token,
                                       struct store_domain **items, size_t *n,
                                       char **next_token, struct sw_buf *why);

/* store_domain_is sets *out to whether domain (any case) is one of the
 * team's domains. A malformed domain is simply not one.
 * Errors: SW_ENOMEM, SW_ESTORE, SW_EINVAL (NULL arguments). */
SW_MUST_CHECK sw_err store_domain_is(store *s, const char *team_id,
                                     const char *domain, bool *out);

#endif
