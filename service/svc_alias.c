/* svc_alias: the API's renamed fields kept equal (svc_alias.h). */
#include "service/svc_alias.h"

#include <string.h>

#include "base/sw_log.h"
#include "snipwise/v1/common.pb-c.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/ranking.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"

struct svc_alias {
    const ProtobufCMessageDescriptor *d;
    const char *old_name; /* kept for older clients */
    const char *new_name; /* the one name per concept */
};

#define SVC_ALIAS(msg, old, new)                                               \
    {                                                                          \
        &snipwise__v1__##msg##__descriptor, old, new                           \
    }

static const struct svc_alias svc_aliases[] = {
    SVC_ALIAS(team, "pending_extraction_jobs", "pending_extraction_job_count"),
    SVC_ALIAS(content_library_usage, "files", "file_count"),
    SVC_ALIAS(outcome_counts, "positive_replies", "positive_reply_count"),
    SVC_ALIAS(outcome_counts, "neutral_replies", "neutral_reply_count"),
    SVC_ALIAS(outcome_counts, "negative_replies", "negative_reply_count"),
    SVC_ALIAS(outcome_counts, "out_of_office", "out_of_office_count"),
    SVC_ALIAS(outcome_counts, "unsubscribes", "unsubscribe_count"),
    SVC_ALIAS(outcome_counts, "bounces", "bounce_count"),
    SVC_ALIAS(outcome_counts, "meetings_booked", "meeting_booked_count"),
    SVC_ALIAS(outcome_counts, "deals_won", "deal_won_count"),
    SVC_ALIAS(outcome_counts, "deals_lost", "deal_lost_count"),
    SVC_ALIAS(ingest_emails_response, "results_omitted",
              "omitted_result_count"),
    SVC_ALIAS(attachment, "content_type", "media_type"),
    SVC_ALIAS(model_metrics, "holdout_threads", "holdout_thread_count"),
    SVC_ALIAS(model_metrics, "holdout_outcomes", "holdout_outcome_count"),
    SVC_ALIAS(model_metrics, "train_threads", "train_thread_count"),
    SVC_ALIAS(snippet_stats, "times_used", "use_count"),
    SVC_ALIAS(snippet_stats, "reps", "rep_count"),
    SVC_ALIAS(snippet_stats, "threads", "thread_count"),
    SVC_ALIAS(content_stats, "times_used", "use_count"),
    SVC_ALIAS(content_stats, "reps", "rep_count"),
    SVC_ALIAS(content_stats, "threads", "thread_count"),
    SVC_ALIAS(evidence, "times_used", "use_count"),
    SVC_ALIAS(evidence, "reps", "rep_count"),
    SVC_ALIAS(evidence, "threads", "thread_count"),
    SVC_ALIAS(evidence, "positive_replies", "positive_reply_count"),
    SVC_ALIAS(evidence, "meetings", "meeting_count"),
    SVC_ALIAS(evidence, "deals_won", "deal_won_count"),
};

#define SVC_NALIASES (sizeof(svc_aliases) / sizeof(svc_aliases[0]))

/* svc_alias_size is the bytes of a singular field of type t (0 for the
 * types the table may not hold: messages). */
static size_t svc_alias_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    default:
        return 0;
    }
}

static int svc_alias_pair(const struct svc_alias *a,
                          const ProtobufCFieldDescriptor **o,
                          const ProtobufCFieldDescriptor **n)
{
    *o = protobuf_c_message_descriptor_get_field_by_name(a->d, a->old_name);
    *n = protobuf_c_message_descriptor_get_field_by_name(a->d, a->new_name);
    return *o && *n && (*o)->type == (*n)->type &&
           (*o)->label != PROTOBUF_C_LABEL_REPEATED &&
           (*n)->label != PROTOBUF_C_LABEL_REPEATED &&
           !((*o)->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           !((*n)->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           svc_alias_size((*o)->type) != 0;
}

sw_err svc_alias_check(void)
{
    const ProtobufCFieldDescriptor *o, *n;
    size_t i;

    for (i = 0; i < SVC_NALIASES; i++) {
        if (!svc_alias_pair(&svc_aliases[i], &o, &n)) {
            sw_log_error("rpc.alias_bad_row", "message=%s old=%s new=%s",
                         svc_aliases[i].d->name, svc_aliases[i].old_name,
                         svc_aliases[i].new_name);
            return SW_EINTERNAL;
        }
    }
    return SW_OK;
}

/* svc_alias_empty: a singular field at its proto3 default. */
static int svc_alias_empty(const void *p, ProtobufCType t, size_t size)
{
    static const unsigned char zero[8];

    if (t == PROTOBUF_C_TYPE_STRING)
        return *(char *const *)p == NULL || **(char *const *)p == '\0';
    return memcmp(p, zero, size) == 0;
}

static void svc_alias_one(ProtobufCMessage *m, const struct svc_alias *a)
{
    const ProtobufCFieldDescriptor *o, *n;
    char *po, *pn;
    size_t size;

    if (!svc_alias_pair(a, &o, &n))
        return; /* svc_alias_check refused it at start */
    size = svc_alias_size(o->type);
    po = (char *)m + o->offset;
    pn = (char *)m + n->offset;
    /* Nothing is written when both are set or both empty. */
    if (svc_alias_empty(pn, n->type, size) &&
        !svc_alias_empty(po, o->type, size))
        memcpy(pn, po, size); /* the older name given */
    else if (svc_alias_empty(po, o->type, size) &&
             !svc_alias_empty(pn, n->type, size))
        memcpy(po, pn, size); /* the new name given */
}

void svc_alias_fill(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d;
    size_t i, j, n;

    if (m == NULL)
        return;
    d = m->descriptor;
    for (i = 0; i < SVC_NALIASES; i++)
        if (svc_aliases[i].d == d)
            svc_alias_one(m, &svc_aliases[i]);
    for (i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *p = (char *)m + f->offset;

        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
            *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
            continue; /* another member of the oneof is set */
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            svc_alias_fill(*(ProtobufCMessage **)p);
            continue;
        }
        n = *(size_t *)((char *)m + f->quantifier_offset);
        for (j = 0; j < n; j++)
            svc_alias_fill((*(ProtobufCMessage ***)p)[j]);
    }
}
