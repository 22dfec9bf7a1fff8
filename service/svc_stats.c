/* svc_stats: statistics of threads, content items and snippets for the
 * read handlers, from the ranking engine's published state (svc_stats.h).
 * One rank_engine_stats call per response, whatever its page size. */
#include "service/svc_stats.h"

#include <assert.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_mem.h"
#include "ranker/engine.h"
#include "snipwise/v1/common.pb-c.h"

/* svc_stats_lookup runs rank_engine_stats for ids[0..n) into a new array
 * *out (sw_free), all zeros without an engine. */
static sw_err svc_stats_lookup(struct svc_ctx *c, int what,
                               const char *const *ids, size_t n,
                               struct rank_item_stats **out)
{
    struct rank_item_stats *st;
    sw_err rc = SW_OK;

    st = sw_calloc(n ? n : 1, sizeof(*st));
    if (st == NULL)
        return SW_ENOMEM;
    if (n && svc_ctx_engine(c))
        rc = rank_engine_stats(svc_ctx_engine(c), svc_ctx_team(c), what, ids, n,
                               st, NULL);
    if (rc) {
        sw_free(st);
        return rc;
    }
    *out = st;
    return SW_OK;
}

/* svc_stats_gather runs svc_stats_lookup for the items of m[0..n), each
 * named by its string field id_field (a field of every message of m's
 * type; asserted). */
static sw_err svc_stats_gather(struct svc_ctx *c, int what,
                               ProtobufCMessage *const *m, size_t n,
                               const char *id_field,
                               struct rank_item_stats **out)
{
    const ProtobufCFieldDescriptor *f = NULL;
    const char **ids;
    size_t i;

    ids = sw_arena_alloc(svc_ctx_arena(c), (n ? n : 1) * sizeof(*ids));
    if (ids == NULL)
        return SW_ENOMEM;
    for (i = 0; i < n; i++) {
        if (f == NULL)
            f = protobuf_c_message_descriptor_get_field_by_name(
                m[i]->descriptor, id_field);
        assert(f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
               m[i]->descriptor == m[0]->descriptor);
        ids[i] = *(const char *const *)((const char *)m[i] + f->offset);
    }
    return svc_stats_lookup(c, what, ids, n, out);
}

/* svc_stats_counts makes an OutcomeCounts of counts by kind (RANK_KINDS
 * entries indexed by OutcomeKind, either type through the macro below). */
#define SVC_KIND(x) SNIPWISE__V1__OUTCOME_KIND__OUTCOME_KIND_##x
_Static_assert(SVC_KIND(BOUNCE) == RANK_KINDS - 1, "kinds fit RANK_KINDS");
#define SVC_STATS_COUNTS(o, counts)                                            \
    do {                                                                       \
        (o)->meeting_booked_count =                                            \
            (int64_t)(counts)[SVC_KIND(MEETING_BOOKED)];                       \
        (o)->deal_won_count = (int64_t)(counts)[SVC_KIND(OPPORTUNITY_WON)];    \
        (o)->deal_lost_count = (int64_t)(counts)[SVC_KIND(OPPORTUNITY_LOST)];  \
        (o)->positive_reply_count =                                            \
            (int64_t)(counts)[SVC_KIND(POSITIVE_REPLY)];                       \
        (o)->neutral_reply_count = (int64_t)(counts)[SVC_KIND(NEUTRAL_REPLY)]; \
        (o)->negative_reply_count =                                            \
            (int64_t)(counts)[SVC_KIND(NEGATIVE_REPLY)];                       \
        (o)->out_of_office_count = (int64_t)(counts)[SVC_KIND(OUT_OF_OFFICE)]; \
        (o)->unsubscribe_count = (int64_t)(counts)[SVC_KIND(UNSUBSCRIBE)];     \
        (o)->bounce_count = (int64_t)(counts)[SVC_KIND(BOUNCE)];               \
    } while (0)

static Snipwise__V1__OutcomeCounts *svc_stats_counts_new(struct svc_ctx *c)
{
    Snipwise__V1__OutcomeCounts *o =
        svc_ctx_new(c, &snipwise__v1__outcome_counts__descriptor);

    return o;
}

/* svc_stats_rate: the fraction of ev's threads with a positive outcome or
 * better (rank_is_positive), as Suggest's Evidence.positive_rate. */
static double svc_stats_rate(const struct rank_evid *ev)
{
    return ev->threads ? (double)ev->positives / (double)ev->threads : 0.0;
}

sw_err svc_stats_threads(struct svc_ctx *c, Snipwise__V1__Thread **m, size_t n)
{
    struct rank_item_stats *st = NULL;
    size_t i;
    sw_err rc;

    rc = svc_stats_gather(c, RANK_STATS_THREAD, (ProtobufCMessage *const *)m, n,
                          "thread_id", &st);
    if (rc)
        return rc;
    for (i = 0; i < n && rc == SW_OK; i++) {
        m[i]->outcome_counts = svc_stats_counts_new(c);
        if (m[i]->outcome_counts == NULL) {
            rc = SW_ENOMEM;
            break;
        }
        SVC_STATS_COUNTS(m[i]->outcome_counts, st[i].outcomes);
        m[i]->best_outcome = (Snipwise__V1__OutcomeKind)st[i].best_outcome;
    }
    sw_free(st);
    return rc;
}

sw_err svc_stats_contents(struct svc_ctx *c, Snipwise__V1__Content **m,
                          size_t n)
{
    struct rank_item_stats *st = NULL;
    size_t i;
    sw_err rc;

    rc = svc_stats_gather(c, RANK_STATS_CONTENT, (ProtobufCMessage *const *)m,
                          n, "content_id", &st);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        Snipwise__V1__ContentStats *s = m[i]->stats;
        if (s == NULL) { /* svc_stats.h: the caller sets it */
            rc = SW_EINTERNAL;
            break;
        }
        s->rep_count = st[i].ev.reps;
        s->thread_count = st[i].ev.threads;
        s->positive_rate = svc_stats_rate(&st[i].ev);
        s->outcomes = svc_stats_counts_new(c);
        if (s->outcomes == NULL) {
            rc = SW_ENOMEM;
            break;
        }
        SVC_STATS_COUNTS(s->outcomes, st[i].ev.outcomes);
    }
    sw_free(st);
    return rc;
}

sw_err svc_stats_snippets(struct svc_ctx *c, Snipwise__V1__Snippet **m,
                          size_t n)
{
    struct rank_item_stats *st = NULL;
    size_t i;
    sw_err rc;

    rc = svc_stats_gather(c, RANK_STATS_SNIPPET, (ProtobufCMessage *const *)m,
                          n, "snippet_id", &st);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        Snipwise__V1__SnippetStats *s =
            svc_ctx_new(c, &snipwise__v1__snippet_stats__descriptor);
        if (s == NULL) {
            rc = SW_ENOMEM;
            break;
        }
        s->use_count = st[i].ev.times_used;
        s->rep_count = st[i].ev.reps;
        s->thread_count = st[i].ev.threads;
        s->positive_rate = svc_stats_rate(&st[i].ev);
        s->last_used_time_unix_ms = st[i].ev.last_ms;
        s->outcomes = svc_stats_counts_new(c);
        if (s->outcomes == NULL) {
            rc = SW_ENOMEM;
            break;
        }
        SVC_STATS_COUNTS(s->outcomes, st[i].ev.outcomes);
        m[i]->stats = s;
        if ((m[i]->family_id == NULL || m[i]->family_id[0] == '\0') &&
            st[i].family_id[0])
            m[i]->family_id = svc_ctx_str(c, st[i].family_id);
    }
    if (rc == SW_OK && svc_ctx_oom(c))
        rc = SW_ENOMEM;
    sw_free(st);
    return rc;
}
