/* svc_mailbox: snipwise.v1.MailboxService, the team's IMAP mailboxes
 * (issue 16). Handlers validate, seal the secret with the sync engine's
 * key (ingest/imap_sync.h), write store_mailbox records and wake the
 * engine, which does all network work on its own threads. No response
 * carries a secret. Without an engine (svc_ctx_mailbox NULL) every method
 * answers UNAVAILABLE. */
#ifndef SVC_MAILBOX_H
#define SVC_MAILBOX_H

#include "service/svc_rpc.h"

sw_err svc_mailbox_create(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_mailbox_get(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_mailbox_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);
sw_err svc_mailbox_update_credentials(struct svc_ctx *c,
                                      const ProtobufCMessage *req,
                                      ProtobufCMessage **resp);
sw_err svc_mailbox_pause(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);
sw_err svc_mailbox_resume(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_mailbox_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_mailbox_sync(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);

/* svc_mailbox_check verifies the mailbox tables (store_mailbox.h) against
 * the records and the API's Mailbox and MailboxFolder: snipd refuses to
 * start otherwise. SW_EINTERNAL (logged). */
SW_MUST_CHECK sw_err svc_mailbox_check(void);

#endif
