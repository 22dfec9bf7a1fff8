/* svc_outcome: snipwise.v1.OutcomeService — RecordOutcome (a thread by id
 * or by the Message-ID of any of its emails; idempotent by key),
 * RecordFeedback (what a rep did with a suggested item; idempotent by key)
 * and ListOutcomes. The team always comes from the key. Handlers follow
 * svc_rpc.h: responses live in the call's arena; errors carry a message
 * through svc_ctx_fail. Thread-safe. */
#ifndef SVC_OUTCOME_H
#define SVC_OUTCOME_H

#include "service/svc_rpc.h"

sw_err svc_outcome_record(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_outcome_feedback(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);
sw_err svc_outcome_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);

#endif
