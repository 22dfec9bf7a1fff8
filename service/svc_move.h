/* svc_move: snipwise.v1.TeamMoveService, the service side of moving one
 * team between snipd nodes (issue 22, docs/SCALING.md) over the store's
 * export, staged import and move state (store/store_move.h). FreezeTeam
 * records the freeze and then waits for the team's writes in progress
 * (svc_ctx_drain_writes); from then on the server refuses the team's
 * writes (SVC_WRITE rows, TEAM_MOVING). ExportTeam streams one snapshot;
 * ImportTeam writes each batch as it comes and commits on the message
 * that says so; FinishTeamMove deletes the source's copy and leaves the
 * tombstone that svc_auth turns into TEAM_MOVED. Admin key only. */
#ifndef SVC_MOVE_H
#define SVC_MOVE_H

#include "service/svc_rpc.h"

sw_err svc_move_freeze(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_move_export(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_move_import(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_move_finish(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_move_abort(struct svc_ctx *c, const ProtobufCMessage *req,
                      ProtobufCMessage **resp);
sw_err svc_move_get(struct svc_ctx *c, const ProtobufCMessage *req,
                    ProtobufCMessage **resp);

#endif
