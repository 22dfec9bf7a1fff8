/* svc_admin: snipwise.v1.AdminService — teams and API keys. Every method
 * needs the server admin key (checked before the handler runs). */
#ifndef SVC_ADMIN_H
#define SVC_ADMIN_H

#include "service/svc_rpc.h"

sw_err svc_admin_create_team(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp);
sw_err svc_admin_get_team(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp);
sw_err svc_admin_list_teams(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);
sw_err svc_admin_delete_team(struct svc_ctx *c, const ProtobufCMessage *req,
                             ProtobufCMessage **resp);
sw_err svc_admin_create_api_key(struct svc_ctx *c, const ProtobufCMessage *req,
                                ProtobufCMessage **resp);
sw_err svc_admin_list_api_keys(struct svc_ctx *c, const ProtobufCMessage *req,
                               ProtobufCMessage **resp);
sw_err svc_admin_revoke_api_key(struct svc_ctx *c, const ProtobufCMessage *req,
                                ProtobufCMessage **resp);

#endif
