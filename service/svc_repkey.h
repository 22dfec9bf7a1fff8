/* svc_repkey: rep keys (ROLE_REP), each acting as one member of a team.
 * TeamService's CreateRepKey, ListRepKeys and RevokeRepKey, for a team's
 * admin key, and the creation both they and AdminService.CreateApiKey use.
 * The team always comes from the caller's key. */
#ifndef SVC_REPKEY_H
#define SVC_REPKEY_H

#include "service/svc_rpc.h"

struct store_apikey;

/* svc_repkey_make creates a rep key of team_id acting as rep_email (a
 * member of the team) labelled display_name ("" gives "rep key"), and
 * fills *key and *secret (the caller clears *key with store_apikey_clear
 * and wipes and sw_frees *secret). Failures carry their details: SW_EINVAL
 * names rep_email or display_name, SW_ENOTFOUND names the team, SW_ESTATE
 * (reason REP_NOT_A_MEMBER) names rep_email; also SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err svc_repkey_make(struct svc_ctx *c, const char *team_id,
                                     const char *rep_email,
                                     const char *display_name,
                                     struct store_apikey *key, char **secret);

sw_err svc_repkey_create(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);
sw_err svc_repkey_list(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_repkey_revoke(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp);

#endif
