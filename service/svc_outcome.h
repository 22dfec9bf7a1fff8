/* svc_outcome: snipwise.v1.OutcomeService — RecordOutcome (a thread by id
 * or by the Message-ID of any of its emails; idempotent by key),
 * RecordFeedback (what a rep did with a suggested item; idempotent by key)
 * and ListOutcomes. The team always comes from the key. Handlers follow
 * svc_rpc.h: responses live in the call's arena; errors carry a message
 * through svc_ctx_fail. Thread-safe.
 *
 * svc_outcome_store is RecordOutcome without a call: the one path by which
 * a recorded outcome is checked and stored, used by the handler and by the
 * demo team's loader (svc_demo.h). */
#ifndef SVC_OUTCOME_H
#define SVC_OUTCOME_H

#include "base/sw_buf.h"
#include "service/svc_rpc.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "store/store.h"

sw_err svc_outcome_record(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_outcome_feedback(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);
sw_err svc_outcome_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);

/* What svc_outcome_store did. Strings are owned (svc_outcome_result_clear). */
struct svc_outcome_result {
    char *outcome_id;
    char *thread_id;
    int duplicate; /* the idempotency key was seen: the first result */
};

/* svc_outcome_store applies RecordOutcome's field rules to r (a thread or
 * Message-ID reference, a kind from 1 to 9, an idempotency key of at most
 * 400 bytes, a note of at most 4096, a time not negative, a deal value only
 * for won or lost deals), then resolves its thread and stores the outcome
 * for team_id in one write transaction (source RECORDED); a repeated
 * idempotency key returns the first result with res->duplicate set. *res is
 * zeroed first and filled on success (caller clears it). why is reset and
 * receives the reason of SW_EINVAL and of SW_ENOTFOUND (no such thread or
 * email in the team). Thread-safe.
 * Errors: SW_EINVAL, SW_ENOTFOUND, SW_ENOMEM, SW_ENOSPACE, SW_ESTORE. */
SW_MUST_CHECK sw_err svc_outcome_store(
    store *st, const char *team_id, const Snipwise__V1__RecordOutcomeRequest *r,
    struct svc_outcome_result *res, struct sw_buf *why);

/* svc_outcome_result_clear frees res's strings and zeroes it; NULL is
 * accepted. */
void svc_outcome_result_clear(struct svc_outcome_result *res);

/* svc_outcome_delete serves DeleteOutcome (store/store_erase.h). */
sw_err svc_outcome_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);

#endif
