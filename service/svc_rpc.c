/* svc_rpc: the method table, one row per RPC, and the mapping from sw_err
 * to gRPC status codes. Request and response types come from the
 * protobuf-c service descriptors, so a row only says how a method is run. */
#include "service/svc_rpc.h"

#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "grpc/health/v1/health.pb-c.h"
#include "service/svc_admin.h"
#include "service/svc_content.h"
#include "service/svc_erase.h"
#include "service/svc_feedback.h"
#include "service/svc_health.h"
#include "service/svc_ingest.h"
#include "service/svc_llm.h"
#include "service/svc_mailbox.h"
#include "service/svc_move.h"
#include "service/svc_outcome.h"
#include "service/svc_repkey.h"
#include "service/svc_rjobs.h"
#include "service/svc_snippet.h"
#include "service/svc_suggest.h"
#include "service/svc_team.h"
#include "snipwise/v1/admin.pb-c.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/llm.pb-c.h"
#include "snipwise/v1/mailbox.pb-c.h"
#include "snipwise/v1/move.pb-c.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "snipwise/v1/ranking.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"
#include "snipwise/v1/team.pb-c.h"

struct svc_row {
    const ProtobufCServiceDescriptor *svc;
    const char *method;
    enum svc_kind kind;
    enum svc_access access;
    unsigned flags;
    svc_handler fn;
    const char *pending;
};

#define ADMIN &snipwise__v1__admin_service__descriptor
#define TEAM &snipwise__v1__team_service__descriptor
#define INGEST &snipwise__v1__ingest_service__descriptor
#define OUTCOME &snipwise__v1__outcome_service__descriptor
#define SUGGEST &snipwise__v1__suggest_service__descriptor
#define SNIPPET &snipwise__v1__snippet_service__descriptor
#define RANKING &snipwise__v1__ranking_service__descriptor
#define LLM &snipwise__v1__llm_service__descriptor
#define MAILBOX &snipwise__v1__mailbox_service__descriptor
#define MOVE &snipwise__v1__team_move_service__descriptor
#define HEALTH &grpc__health__v1__health__descriptor

#define P_RETRIEVAL "snippet retrieval arrives with issues 4 and 5"

/* The access column says who may call: SVC_TEAM rows need a team(-admin)
 * key and refuse rep keys (REP_KEY_NOT_ALLOWED): managing members, domains
 * and keys, ingest (mail's rep comes from its headers, which a rep key
 * could forge for another rep; the team's mailbox connector ingests),
 * outcomes (the CRM's record of the team), redaction, re-ranking and the
 * LLM journal. SVC_REP rows are what a rep does as itself: Suggest,
 * feedback and the reads. */

static const struct svc_row svc_rows[] = {
    {HEALTH, "Check", SVC_UNARY, SVC_PUBLIC, SVC_INLINE, svc_health_check,
     NULL},
    {HEALTH, "Watch", SVC_SERVER_STREAM, SVC_PUBLIC, 0, svc_health_watch, NULL},

    {ADMIN, "CreateTeam", SVC_UNARY, SVC_ADMIN, 0, svc_admin_create_team, NULL},
    {ADMIN, "GetTeam", SVC_UNARY, SVC_ADMIN, 0, svc_admin_get_team, NULL},
    {ADMIN, "ListTeams", SVC_UNARY, SVC_ADMIN, 0, svc_admin_list_teams, NULL},
    {ADMIN, "DeleteTeam", SVC_UNARY, SVC_ADMIN, 0, svc_admin_delete_team, NULL},
    {ADMIN, "CreateApiKey", SVC_UNARY, SVC_ADMIN, 0, svc_admin_create_api_key,
     NULL},
    {ADMIN, "ListApiKeys", SVC_UNARY, SVC_ADMIN, 0, svc_admin_list_api_keys,
     NULL},
    {ADMIN, "RevokeApiKey", SVC_UNARY, SVC_ADMIN, 0, svc_admin_revoke_api_key,
     NULL},

    {TEAM, "GetMyTeam", SVC_UNARY, SVC_REP, SVC_INLINE, svc_team_get_my_team,
     NULL},
    {TEAM, "AddTeamMember", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_team_add_member,
     NULL},
    {TEAM, "RemoveTeamMember", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_team_remove_member, NULL},
    {TEAM, "ListTeamMembers", SVC_UNARY, SVC_REP, 0, svc_team_list_members,
     NULL},
    {TEAM, "AddTeamDomain", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_team_add_domain,
     NULL},
    {TEAM, "RemoveTeamDomain", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_team_remove_domain, NULL},
    {TEAM, "ListTeamDomains", SVC_UNARY, SVC_REP, 0, svc_team_list_domains,
     NULL},
    {TEAM, "CreateRepKey", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_repkey_create,
     NULL},
    {TEAM, "ListRepKeys", SVC_UNARY, SVC_TEAM, 0, svc_repkey_list, NULL},
    {TEAM, "RevokeRepKey", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_repkey_revoke,
     NULL},

    {INGEST, "IngestEmail", SVC_UNARY, SVC_TEAM, SVC_HEAVY | SVC_WRITE,
     svc_ingest_email, NULL},
    {INGEST, "IngestEmails", SVC_CLIENT_STREAM, SVC_TEAM, SVC_HEAVY | SVC_WRITE,
     svc_ingest_emails, NULL},
    {INGEST, "GetEmail", SVC_UNARY, SVC_REP, 0, svc_ingest_get_email, NULL},
    {INGEST, "GetThread", SVC_UNARY, SVC_REP, 0, svc_ingest_get_thread, NULL},
    {INGEST, "ListThreads", SVC_UNARY, SVC_REP, 0, svc_ingest_list_threads,
     NULL},
    {INGEST, "DeleteEmail", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_erase_email,
     NULL},
    {INGEST, "DeleteThread", SVC_UNARY, SVC_TEAM, SVC_HEAVY | SVC_WRITE,
     svc_erase_thread, NULL},
    {INGEST, "ForgetContact", SVC_UNARY, SVC_TEAM, SVC_HEAVY | SVC_WRITE,
     svc_erase_contact, NULL},

    {OUTCOME, "RecordOutcome", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_outcome_record, NULL},
    {OUTCOME, "RecordFeedback", SVC_UNARY, SVC_REP, SVC_WRITE,
     svc_outcome_feedback, NULL},
    {OUTCOME, "ListOutcomes", SVC_UNARY, SVC_REP, 0, svc_outcome_list, NULL},
    {OUTCOME, "DeleteOutcome", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_outcome_delete, NULL},
    {OUTCOME, "ListFeedback", SVC_UNARY, SVC_REP, 0, svc_feedback_list, NULL},

    {SUGGEST, "Suggest", SVC_UNARY, SVC_REP, SVC_HEAVY, svc_suggest, NULL},

    {SNIPPET, "SearchSnippets", SVC_UNARY, SVC_REP, SVC_HEAVY,
     svc_snippet_search, NULL},
    {SNIPPET, "GetSnippet", SVC_UNARY, SVC_REP, 0, svc_snippet_get, NULL},
    {SNIPPET, "DeleteSnippet", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_snippet_delete, NULL},
    {SNIPPET, "GetContent", SVC_UNARY, SVC_REP, 0, svc_ingest_get_content,
     NULL},
    {SNIPPET, "ListContents", SVC_UNARY, SVC_REP, 0, svc_ingest_list_contents,
     NULL},
    {SNIPPET, "ReadContent", SVC_SERVER_STREAM, SVC_REP, SVC_HEAVY,
     svc_content_read, NULL},
    {SNIPPET, "DeleteContent", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_content_delete, NULL},

    {RANKING, "RunRerank", SVC_SERVER_STREAM, SVC_TEAM, SVC_HEAVY | SVC_WRITE,
     svc_ranking_run, NULL},
    {RANKING, "GetModel", SVC_UNARY, SVC_REP, 0, svc_ranking_get, NULL},
    {RANKING, "ListModels", SVC_UNARY, SVC_REP, 0, svc_ranking_list, NULL},
    {RANKING, "StartRerank", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_rjobs_start_rpc, NULL},
    {RANKING, "GetRerankJob", SVC_UNARY, SVC_TEAM, 0, svc_rjobs_get_rpc, NULL},
    {RANKING, "ListRerankJobs", SVC_UNARY, SVC_TEAM, 0, svc_rjobs_list_rpc,
     NULL},
    {RANKING, "WatchRerankJob", SVC_SERVER_STREAM, SVC_TEAM, SVC_HEAVY,
     svc_rjobs_watch_rpc, NULL},
    {RANKING, "CancelRerankJob", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_rjobs_cancel_rpc, NULL},

    {LLM, "ListJournal", SVC_UNARY, SVC_TEAM, 0, svc_llm_list_journal, NULL},

    {MAILBOX, "CreateMailbox", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_mailbox_create, NULL},
    {MAILBOX, "GetMailbox", SVC_UNARY, SVC_TEAM, 0, svc_mailbox_get, NULL},
    {MAILBOX, "ListMailboxes", SVC_UNARY, SVC_TEAM, 0, svc_mailbox_list, NULL},
    {MAILBOX, "UpdateMailboxCredentials", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_mailbox_update_credentials, NULL},
    {MAILBOX, "PauseMailbox", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_mailbox_pause,
     NULL},
    {MAILBOX, "ResumeMailbox", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_mailbox_resume, NULL},
    {MAILBOX, "DeleteMailbox", SVC_UNARY, SVC_TEAM, SVC_WRITE,
     svc_mailbox_delete, NULL},
    {MAILBOX, "SyncMailbox", SVC_UNARY, SVC_TEAM, SVC_WRITE, svc_mailbox_sync,
     NULL},

    {MOVE, "FreezeTeam", SVC_UNARY, SVC_ADMIN, 0, svc_move_freeze, NULL},
    {MOVE, "ExportTeam", SVC_SERVER_STREAM, SVC_ADMIN, SVC_HEAVY,
     svc_move_export, NULL},
    {MOVE, "ImportTeam", SVC_CLIENT_STREAM, SVC_ADMIN, 0, svc_move_import,
     NULL},
    {MOVE, "FinishTeamMove", SVC_UNARY, SVC_ADMIN, 0, svc_move_finish, NULL},
    {MOVE, "AbortTeamMove", SVC_UNARY, SVC_ADMIN, 0, svc_move_abort, NULL},
    {MOVE, "GetTeamMove", SVC_UNARY, SVC_ADMIN, 0, svc_move_get, NULL},
};

#define SVC_NROWS (sizeof(svc_rows) / sizeof(svc_rows[0]))

static const ProtobufCServiceDescriptor *const svc_services[] = {
    HEALTH,  ADMIN,   TEAM, INGEST,  OUTCOME, SUGGEST,
    SNIPPET, RANKING, LLM,  MAILBOX, MOVE,
};

#define SVC_NSERVICES (sizeof(svc_services) / sizeof(svc_services[0]))

void svc_rpc_table_free(struct svc_method *t, size_t n)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < n; i++)
        sw_free(t[i].path);
    sw_free(t);
}

sw_err svc_rpc_table(struct svc_method **out, size_t *n)
{
    struct svc_method *t;
    size_t i, k, total = 0;
    struct sw_buf b;
    sw_err rc = SW_OK;

    /* Every RPC of every service must have exactly one row. */
    for (i = 0; i < SVC_NSERVICES; i++)
        total += svc_services[i]->n_methods;
    if (total != SVC_NROWS) {
        sw_log_error("rpc.table_mismatch", "rows=%zu rpcs=%zu",
                     (size_t)SVC_NROWS, total);
        return SW_EINTERNAL;
    }
    t = sw_calloc(SVC_NROWS, sizeof(*t));
    if (t == NULL)
        return SW_ENOMEM;
    sw_buf_init(&b, 1024);
    for (i = 0; i < SVC_NROWS; i++) {
        const struct svc_row *r = &svc_rows[i];
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(r->svc, r->method);
        for (k = 0; k < i; k++) {
            if (svc_rows[k].svc == r->svc &&
                strcmp(svc_rows[k].method, r->method) == 0)
                md = NULL; /* a duplicate row */
        }
        if (md == NULL) {
            sw_log_error("rpc.table_bad_row", "service=%s method=%s",
                         r->svc->name, r->method);
            rc = SW_EINTERNAL;
            break;
        }
        sw_buf_reset(&b);
        rc = sw_buf_printf(&b, "/%s/%s", r->svc->name, r->method);
        if (rc == SW_OK)
            rc = sw_buf_take(&b, &t[i].path, NULL);
        if (rc)
            break;
        t[i].req = md->input;
        t[i].resp = md->output;
        t[i].kind = r->kind;
        t[i].access = r->access;
        t[i].flags = r->flags;
        t[i].fn = r->fn;
        t[i].pending = r->pending;
    }
    sw_buf_free(&b);
    if (rc) {
        svc_rpc_table_free(t, SVC_NROWS);
        return rc;
    }
    *out = t;
    *n = SVC_NROWS;
    return SW_OK;
}

int svc_rpc_status(sw_err e)
{
    return sw_err_grpc_status(e);
}
