/* svc_ingest: IngestService handlers (IngestEmail, IngestEmails, GetEmail,
 * GetThread, ListThreads) and SnippetService's GetContent and ListContents,
 * over ingest/pipeline.h and store/store_mail.h; plus the mail part of
 * `snipd check`.
 *
 * The ingest pipeline (and its committer thread) is made by snipd before
 * the server starts and reached through svc_ctx_ingest. */
#ifndef SVC_INGEST_H
#define SVC_INGEST_H

#include <stdio.h>

#include "service/svc_rpc.h"

/* Handlers, as rows of the method table (see svc_rpc.h). Errors: ingest of
 * a message that is not mail or breaks a field rule → INVALID_ARGUMENT,
 * over a size limit → RESOURCE_EXHAUSTED, both with a specific message;
 * unknown ids (including another team's) → NOT_FOUND. */
sw_err svc_ingest_email(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);
sw_err svc_ingest_emails(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);
sw_err svc_ingest_get_email(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);
sw_err svc_ingest_get_thread(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp);
sw_err svc_ingest_list_threads(struct svc_ctx *c, const ProtobufCMessage *req,
                               ProtobufCMessage **resp);
sw_err svc_ingest_get_content(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp);
sw_err svc_ingest_list_contents(struct svc_ctx *c, const ProtobufCMessage *req,
                                ProtobufCMessage **resp);

/* svc_ingest_close logs the pipeline's running totals, waits for queued
 * commits, stops the pipeline, frees it and sets *p to NULL. Call once no
 * handler can run any more (after svc_server_stop). NULL is accepted. */
void svc_ingest_close(struct ingest_pipeline **p);

/* svc_ingest_check runs store_mail_check on st, prints a summary and every
 * violation to out, and returns the number of violations, or -1 when the
 * check could not run (the reason is printed). */
long svc_ingest_check(struct store *st, FILE *out);

#endif
