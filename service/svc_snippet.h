/* svc_snippet: snipwise.v1.SnippetService's snippet methods —
 * SearchSnippets (text or vector, filters, pages; over ranker/search.h),
 * GetSnippet and DeleteSnippet (redaction: the text is wiped and the
 * snippet leaves the index at once). The team always comes from the key.
 * Handlers follow svc_rpc.h: the response lives in the call's arena;
 * errors carry a message through svc_ctx_fail. Thread-safe. */
#ifndef SVC_SNIPPET_H
#define SVC_SNIPPET_H

#include "service/svc_rpc.h"

sw_err svc_snippet_search(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_snippet_get(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_snippet_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);

#endif
