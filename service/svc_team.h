/* svc_team: snipwise.v1.TeamService — a team key reads its team and manages
 * its members (the reps) and mail domains, which decide whether ingested
 * mail is outbound or inbound. The team always comes from the key. */
#ifndef SVC_TEAM_H
#define SVC_TEAM_H

#include "service/svc_rpc.h"

sw_err svc_team_get_my_team(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);
sw_err svc_team_add_member(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp);
sw_err svc_team_remove_member(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp);
sw_err svc_team_list_members(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp);
sw_err svc_team_add_domain(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp);
sw_err svc_team_remove_domain(struct svc_ctx *c, const ProtobufCMessage *req,
                              ProtobufCMessage **resp);
sw_err svc_team_list_domains(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp);

#endif
