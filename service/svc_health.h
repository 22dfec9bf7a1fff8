/* svc_health: the standard grpc.health.v1.Health service. The server as a
 * whole ("") and each snipwise.v1 service report SERVING until shutdown
 * begins, then NOT_SERVING. */
#ifndef SVC_HEALTH_H
#define SVC_HEALTH_H

#include "service/svc_rpc.h"

sw_err svc_health_check(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);
sw_err svc_health_watch(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);

#endif
