/* svc_page: opaque page tokens for every List and Search method (AIP-158),
 * done once for all of them by the server around the handler.
 *
 * A handler pages the way the store does: it reads a raw position from
 * request.page_token and writes the next one to response.next_page_token.
 * On the wire those raw positions are never seen. svc_page_seal encrypts
 * and authenticates next_page_token (AES-256-GCM under the store's
 * "page_token" secret, store_secret) together with what the token is for:
 * the method, the team and a digest of the request's other fields (the
 * request packed with page_token and page_size cleared). svc_page_open
 * reverses that before the handler runs, and refuses with INVALID_ARGUMENT
 * (reason PAGE_TOKEN_INVALID, field page_token) a token that was altered,
 * made for another method or team, or for a request whose filters changed.
 * page_size may change between pages. The secret is in the store, so
 * tokens outlive a restart and travel with a backup.
 *
 * Methods are recognised by their descriptors: a request with a string
 * field page_token and a response with a string field next_page_token.
 * Thread-safe. */
#ifndef SVC_PAGE_H
#define SVC_PAGE_H

#include <protobuf-c/protobuf-c.h>

#include "base/sw_err.h"
#include "store/store.h"

struct svc_ctx;

/* The sealing key, loaded once per server. */
struct svc_page_key {
    unsigned char k[STORE_SECRET_BYTES];
};

/* svc_page_key_load reads (or, on a new store, creates) the key. Errors:
 * as store_secret. */
SW_MUST_CHECK sw_err svc_page_key_load(struct store *s,
                                       struct svc_page_key *out);

/* svc_page_open replaces a sealed req.page_token by the raw position it
 * holds (in the call's arena). Requests without page_token, or with an
 * empty one, are left alone. Returns SW_EINVAL, with the call's status set,
 * for a token that does not open. */
SW_MUST_CHECK sw_err svc_page_open(struct svc_ctx *c,
                                   const struct svc_page_key *key,
                                   const char *method, ProtobufCMessage *req);

/* svc_page_seal replaces resp.next_page_token, when set, by its sealed
 * form for the same method, team and request (the request as the handler
 * saw it: svc_page_open has cleared nothing in it but the token).
 * Errors: SW_ENOMEM, SW_EINTERNAL. */
SW_MUST_CHECK sw_err svc_page_seal(struct svc_ctx *c,
                                   const struct svc_page_key *key,
                                   const char *method,
                                   const ProtobufCMessage *req,
                                   ProtobufCMessage *resp);

#endif
