/* svc_stats: the usage and outcome statistics that read responses carry
 * (Thread.best_outcome and outcome_counts, Content.stats, Snippet.stats),
 * taken from the ranking engine's published statistics: what Suggest
 * reads, so they agree with its evidence, and a page of n items costs n
 * hash lookups, never a scan of the store (ranker/engine.h,
 * rank_engine_stats). They are as current as
 * SuggestResponse.statistics says; an item the statistics do not know
 * yet (or a server without an engine) gets zeros. Thread-safe. */
#ifndef SVC_STATS_H
#define SVC_STATS_H

#include <stddef.h>

#include "service/svc_rpc.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"

/* svc_stats_threads sets best_outcome and outcome_counts of m[0..n)
 * (allocated in the call's arena). Errors: SW_ENOMEM, SW_ESTORE,
 * SW_ECORRUPT. */
SW_MUST_CHECK sw_err svc_stats_threads(struct svc_ctx *c,
                                       Snipwise__V1__Thread **m, size_t n);

/* svc_stats_contents sets reps, threads, outcomes and positive_rate of
 * m[i]->stats (which must be set; times_used stays the store's count,
 * made at ingest and so always current). Errors: as svc_stats_threads. */
SW_MUST_CHECK sw_err svc_stats_contents(struct svc_ctx *c,
                                        Snipwise__V1__Content **m, size_t n);

/* svc_stats_snippets sets stats of m[0..n) (pooled over each framing's
 * family; a key passage's are its content item's) and family_id where the
 * snippet has none stored. Errors: as svc_stats_threads. */
SW_MUST_CHECK sw_err svc_stats_snippets(struct svc_ctx *c,
                                        Snipwise__V1__Snippet **m, size_t n);

#endif
