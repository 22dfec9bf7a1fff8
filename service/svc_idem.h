/* svc_idem: idempotent creates (AIP-155), done once for every method whose
 * request has a string field `request_id` (CreateTeam, CreateApiKey,
 * AddTeamMember, CreateRepKey, and any later create that adds one).
 *
 * The first call with a given request_id runs; its response is kept for
 * SVC_IDEM_TTL_MS, sealed (AES-256-GCM under the store's "request_id"
 * secret: a response may hold a new key's secret) in the store's
 * REQUEST_IDS database under team, method and request_id. A repeat of the
 * same request within that time is answered with the kept response and
 * changes nothing; a different request under the same request_id is
 * INVALID_ARGUMENT (reason REQUEST_ID_REUSED). Calls carrying the same
 * team, method and request_id are serialised in the process (one of
 * SVC_IDEM_STRIPES locks, picked by a hash of the three), so two identical
 * calls at once create one thing, while other teams' creates go on. An
 * empty request_id means no idempotency. */
#ifndef SVC_IDEM_H
#define SVC_IDEM_H

#include <protobuf-c/protobuf-c.h>
#include <pthread.h>

#include "base/sw_err.h"
#include "store/store.h"

struct svc_ctx;

#define SVC_IDEM_TTL_MS (24LL * 3600 * 1000)
#define SVC_IDEM_ID_MAX 128 /* longest request_id accepted */

#define SVC_IDEM_STRIPES 64

struct svc_idem {
    unsigned char key[STORE_SECRET_BYTES];
    /* One is held from the lookup to the record (svc_idem_begin to _end). */
    pthread_mutex_t mu[SVC_IDEM_STRIPES];
};

/* svc_idem_init loads (or creates) the key and the lock. Errors: as
 * store_secret. svc_idem_destroy releases the lock. */
SW_MUST_CHECK sw_err svc_idem_init(struct store *s, struct svc_idem *out);
void svc_idem_destroy(struct svc_idem *m);

/* svc_idem_request_id returns req's request_id, or NULL when it has none
 * (no such field, or empty). */
const char *svc_idem_request_id(const ProtobufCMessage *req);

/* svc_idem_begin takes the request's lock and looks request_id up: *resp is the
 * kept response (in the call's arena) when this request was answered before,
 * else NULL and the caller runs the handler. A different request under the
 * same id fails (status set). Every begin is followed by svc_idem_end. */
SW_MUST_CHECK sw_err svc_idem_begin(struct svc_ctx *c, struct svc_idem *m,
                                    const char *method,
                                    const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_d,
                                    ProtobufCMessage **resp);

/* svc_idem_end keeps resp (when the handler succeeded: ok, and it is
 * not a response svc_idem_begin returned) and releases the lock. A failure
 * to keep it is logged; the call still succeeds. */
void svc_idem_end(struct svc_ctx *c, struct svc_idem *m, const char *method,
                  const ProtobufCMessage *req, const ProtobufCMessage *resp,
                  int ok);

#endif
