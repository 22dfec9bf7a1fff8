/* svc_admin: snipwise.v1.AdminService — teams and API keys. Every method
 * needs the server admin key (checked before the handler runs). */
#ifndef SVC_ADMIN_H
#define SVC_ADMIN_H

#include "service/svc_rpc.h"
#include "snipwise/v1/common.pb-c.h"

struct store_team;
struct store_apikey;

/* svc_admin_team builds the snipwise.v1.Team message for a stored team in
 * the call's arena (strings copied); NULL when out of memory. Shared by
 * AdminService and TeamService.GetMyTeam. */
Snipwise__V1__Team *svc_admin_team(struct svc_ctx *c,
                                   const struct store_team *t);

/* svc_admin_key builds the snipwise.v1.ApiKey message (metadata, never the
 * secret) for a stored key in the call's arena; NULL when out of memory.
 * Shared by AdminService and TeamService's rep keys. */
Snipwise__V1__ApiKey *svc_admin_key(struct svc_ctx *c,
                                    const struct store_apikey *k);

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

/* svc_admin_key_item is a svc_list_item_fn over an array of struct
 * store_apikey (arg): the ApiKey of item i. */
ProtobufCMessage *svc_admin_key_item(struct svc_ctx *c, size_t i, void *arg);

#endif
