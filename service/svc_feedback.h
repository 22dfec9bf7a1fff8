/* svc_feedback: OutcomeService.ListFeedback, the feedback reps recorded
 * (RecordFeedback, in svc_outcome.c), read back newest first with the rep
 * each is tied to. */
#ifndef SVC_FEEDBACK_H
#define SVC_FEEDBACK_H

#include "service/svc_rpc.h"

sw_err svc_feedback_list(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);

#endif
