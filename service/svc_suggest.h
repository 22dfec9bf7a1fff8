/* svc_suggest: snipwise.v1.SuggestService.Suggest over ranker/suggest.h,
 * and RankingService (RunRerank with streamed progress, GetModel,
 * ListModels) over ranker/rerank.h and ranker/model.h. The team always
 * comes from the key. Handlers follow svc_rpc.h. Thread-safe. */
#ifndef SVC_SUGGEST_H
#define SVC_SUGGEST_H

#include "ranker/engine.h"
#include "service/svc_rpc.h"
#include "snipwise/v1/common.pb-c.h"

/* svc_suggest_stats converts f to a StatisticsState in c's arena (NULL
 * when out of memory); GetMyTeam reports it too. */
Snipwise__V1__StatisticsState *svc_suggest_stats(struct svc_ctx *c,
                                                 const struct rank_fresh *f);

sw_err svc_suggest(struct svc_ctx *c, const ProtobufCMessage *req,
                   ProtobufCMessage **resp);
sw_err svc_ranking_run(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
/* svc_model_find returns the team's model version (in the call's arena);
 * NULL with *rc SW_ENOTFOUND, SW_ENOMEM or a store error. */
struct Snipwise__V1__Model;
struct Snipwise__V1__Model *svc_model_find(struct svc_ctx *c,
                                           const char *version, sw_err *rc);

sw_err svc_ranking_get(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
sw_err svc_ranking_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp);

#endif
