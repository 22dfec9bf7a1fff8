/* svc_content: snipwise.v1.SnippetService.ReadContent, which streams a
 * content item's file from the team's content library
 * (store/store_library.h): one message describing the file, then its bytes
 * in chunks of STORE_LIBRARY_CHUNK, each read in its own short read
 * transaction so that a slow reader pins no LMDB snapshot. The bytes are
 * hashed as they go and checked against the item's SHA-256 at the end: a
 * mismatch ends the call with DATA_LOSS. Handlers follow svc_rpc.h.
 * Thread-safe. */
#ifndef SVC_CONTENT_H
#define SVC_CONTENT_H

#include "service/svc_rpc.h"

struct Snipwise__V1__ContentLibraryUsage;

/* svc_content_usage returns team_id's library usage as an arena message,
 * with the quota the server's ingest pipeline enforces; NULL with *rc set
 * on failure. */
struct Snipwise__V1__ContentLibraryUsage *
svc_content_usage(struct svc_ctx *c, const char *team_id, sw_err *rc);

sw_err svc_content_read(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);

/* svc_content_delete serves DeleteContent (store_erase.h). */
sw_err svc_content_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);

#endif
