/* svc_erase: snipwise.v1.IngestService.DeleteEmail, DeleteThread and
 * ForgetContact, the erasures a privacy request needs (store/store_erase.h
 * does the work; the handlers validate, answer with an ErasureSummary and
 * make the search index forget the redacted snippets at once). Handlers
 * follow svc_rpc.h. Thread-safe. */
#ifndef SVC_ERASE_H
#define SVC_ERASE_H

#include "service/svc_rpc.h"

sw_err svc_erase_email(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_erase_thread(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);
sw_err svc_erase_contact(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);

#endif
