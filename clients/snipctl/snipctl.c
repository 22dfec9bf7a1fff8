/* snipctl: the Snipwise command line. Every subcommand is one row of a
 * table: how to build its request from the arguments, which RPC to call, and
 * how to print the reply (a table or key: value lines for people, one JSON
 * object with --json for scripts). */
#include <assert.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_cluster.h"
#include "clients/snipctl/ctl_config.h"
#include "clients/snipctl/ctl_content.h"
#include "clients/snipctl/ctl_enum.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_ingest.h"
#include "clients/snipctl/ctl_llm.h"
#include "clients/snipctl/ctl_mailbox.h"
#include "clients/snipctl/ctl_rank.h"
#include "clients/snipctl/ctl_search.h"
#include "clients/snipctl/ctl_tls.h"
#include "grpc/health/v1/health.pb-c.h"
#include "proto/msg.h"
#include "snipwise/v1/admin.pb-c.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "snipwise/v1/ranking.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "snipwise/v1/team.pb-c.h"

#define CTL_MAX_POS 8

struct ctl {
    const char *addr;
    const char *key;
    const char *tls_ca;
    int64_t timeout_ms;
    int json;
    const char *pos[CTL_MAX_POS];
    int npos;
    const char *name;       /* --name */
    const char *rep;        /* --rep: a rep key's member, or a filter */
    int admin_role;         /* --admin */
    int32_t page_size;      /* --page-size */
    const char *page_token; /* --page-token */
    int with_files;         /* --with-files */
    struct sw_arena arena;
};

/* A subcommand: build fills the request (NULL message means the usage was
 * wrong), then the reply is printed; flatten names a message field whose
 * members are printed at the top level (so create-team prints team_id and
 * api_key side by side). */
struct ctl_cmd {
    const char *group; /* "admin", "team" or NULL */
    const char *name;
    const char *args;
    const char *help;
    const char *method;
    const ProtobufCMessageDescriptor *req;
    const ProtobufCMessageDescriptor *resp;
    int min_pos, max_pos;
    int (*build)(struct ctl *c, ProtobufCMessage *req);
    const char *flatten;
};

static int ctl_build_health(struct ctl *c, ProtobufCMessage *m)
{
    Grpc__Health__V1__HealthCheckRequest *r = (void *)m;
    if (c->npos > 0)
        r->service = (char *)c->pos[0];
    return 0;
}

static int ctl_build_create_team(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__CreateTeamRequest *r = (void *)m;
    r->display_name = (char *)c->pos[0];
    return 0;
}

static int ctl_build_team_id(struct ctl *c, ProtobufCMessage *m)
{
    /* GetTeamRequest and DeleteTeamRequest both hold just team_id. */
    Snipwise__V1__GetTeamRequest *r = (void *)m;
    r->team_id = (char *)c->pos[0];
    return 0;
}

static int ctl_build_list_teams(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__ListTeamsRequest *r = (void *)m;
    r->page_size = c->page_size;
    if (c->page_token)
        r->page_token = (char *)c->page_token;
    return 0;
}

static int ctl_build_create_key(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__CreateApiKeyRequest *r = (void *)m;
    if (c->admin_role) {
        if (c->npos > 0 || c->rep)
            return -1;
        r->role = SNIPWISE__V1__ROLE__ROLE_ADMIN;
    } else {
        if (c->npos < 1)
            return -1;
        r->team_id = (char *)c->pos[0];
        r->role = SNIPWISE__V1__ROLE__ROLE_TEAM;
        if (c->rep) {
            r->role = SNIPWISE__V1__ROLE__ROLE_REP;
            r->rep_email = (char *)c->rep;
        }
    }
    if (c->name)
        r->display_name = (char *)c->name;
    return 0;
}

static int ctl_build_list_keys(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__ListApiKeysRequest *r = (void *)m;
    if (c->npos > 0)
        r->team_id = (char *)c->pos[0];
    r->page_size = c->page_size;
    if (c->page_token)
        r->page_token = (char *)c->page_token;
    return 0;
}

static int ctl_build_revoke_key(struct ctl *c, ProtobufCMessage *m)
{
    /* RevokeApiKeyRequest and RevokeRepKeyRequest both hold just key_id. */
    Snipwise__V1__RevokeApiKeyRequest *r = (void *)m;
    r->key_id = (char *)c->pos[0];
    return 0;
}

static int ctl_build_create_rep_key(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__CreateRepKeyRequest *r = (void *)m;
    r->rep_email = (char *)c->pos[0];
    if (c->name)
        r->display_name = (char *)c->name;
    return 0;
}

static int ctl_build_list_feedback(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__ListFeedbackRequest *r = (void *)m;
    r->page_size = c->page_size;
    if (c->page_token)
        r->page_token = (char *)c->page_token;
    if (c->rep)
        r->rep_email = (char *)c->rep;
    return 0;
}

static int ctl_build_none(struct ctl *c, ProtobufCMessage *m)
{
    (void)c;
    (void)m;
    return 0;
}

static int ctl_build_add_member(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__AddTeamMemberRequest *r = (void *)m;
    Snipwise__V1__TeamMember *tm = sw_arena_alloc(&c->arena, sizeof(*tm));
    if (tm == NULL)
        return -1;
    snipwise__v1__team_member__init(tm);
    tm->email = (char *)c->pos[0];
    if (c->name)
        tm->display_name = (char *)c->name;
    r->member = tm;
    return 0;
}

static int ctl_build_email(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__RemoveTeamMemberRequest *r = (void *)m;
    r->email = (char *)c->pos[0];
    return 0;
}

static int ctl_build_domain(struct ctl *c, ProtobufCMessage *m)
{
    /* AddTeamDomainRequest and RemoveTeamDomainRequest hold just domain. */
    Snipwise__V1__AddTeamDomainRequest *r = (void *)m;
    r->domain = (char *)c->pos[0];
    return 0;
}

static int ctl_build_page(struct ctl *c, ProtobufCMessage *m)
{
    /* ListTeamMembersRequest, ListTeamDomainsRequest and ListRepKeysRequest:
     * page_size, token. */
    Snipwise__V1__ListTeamMembersRequest *r = (void *)m;
    r->page_size = c->page_size;
    if (c->page_token)
        r->page_token = (char *)c->page_token;
    return 0;
}

static int ctl_build_list_outcomes(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__ListOutcomesRequest *r = (void *)m;
    r->thread_id = (char *)c->pos[0];
    r->page_size = c->page_size;
    if (c->page_token)
        r->page_token = (char *)c->page_token;
    return 0;
}

static int ctl_build_list_models(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__ListModelsRequest *r = (void *)m;
    r->page_size = c->page_size;
    if (c->page_token)
        r->page_token = (char *)c->page_token;
    return 0;
}

/* ctl_build_feedback: SUGGESTION_ID ITEM_ID KIND IDEMPOTENCY_KEY, KIND one
 * of shown, inserted, copied, dismissed, thumbs_up, thumbs_down. */
static int ctl_build_feedback(struct ctl *c, ProtobufCMessage *m)
{
    Snipwise__V1__RecordFeedbackRequest *r = (void *)m;
    int k = ctl_enum_value(&snipwise__v1__feedback_kind__descriptor, "KIND",
                           c->pos[2]);

    r->suggestion_id = (char *)c->pos[0];
    r->item_id = (char *)c->pos[1];
    r->idempotency_key = (char *)c->pos[3];
    if (k < 0)
        return -1;
    r->kind = (Snipwise__V1__FeedbackKind)k;
    return 0;
}

#define M(s, x) "/snipwise.v1." s "/" x
#define D(x) &snipwise__v1__##x##__descriptor

/* The mail rows; their requests are built in ctl_ingest.c. */
static int ctl_build_mail(struct ctl *c, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    if (d == D(get_email_request))
        return ctl_build_get_email(c->pos, c->npos, m);
    if (d == D(get_thread_request))
        return ctl_build_get_thread(c->pos, c->npos, m);
    if (d == D(list_threads_request))
        return ctl_build_list_threads(c->page_size, c->page_token, m);
    /* GetContentRequest and DeleteContentRequest hold just content_id. */
    if (d == D(get_content_request) || d == D(delete_content_request))
        return ctl_build_get_content(c->pos, c->npos, m);
    return ctl_build_list_contents(c->page_size, c->page_token, m);
}

/* The erasure rows: field 1 of the request is the one argument (an id or
 * an address) and field 2, when the request has one, the bool that
 * --with-files sets (delete the content no other email carries). */
static int ctl_build_erase(struct ctl *c, ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f1, *f2;

    f1 = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
    f2 = protobuf_c_message_descriptor_get_field(m->descriptor, 2);
    assert(f1 && f1->type == PROTOBUF_C_TYPE_STRING);
    *(const char **)((char *)m + f1->offset) = c->pos[0];
    if (c->with_files) {
        if (f2 == NULL || f2->type != PROTOBUF_C_TYPE_BOOL) {
            fprintf(stderr, "snipctl: --with-files does not apply here\n");
            return -1;
        }
        *(protobuf_c_boolean *)((char *)m + f2->offset) = 1;
    }
    return 0;
}

/* The snippet rows; their requests are built in ctl_search.c. */
static int ctl_build_snippet(struct ctl *c, ProtobufCMessage *m)
{
    return ctl_build_snippet_id(c->pos, c->npos, m);
}

static const struct ctl_cmd ctl_cmds[] = {
    {NULL, "health", "[SERVICE]", "check that snipd is serving",
     "/grpc.health.v1.Health/Check",
     &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, 0, 1,
     ctl_build_health, NULL},
    {"admin", "create-team", "NAME", "create a team and its first API key",
     M("AdminService", "CreateTeam"), D(create_team_request),
     D(create_team_response), 1, 1, ctl_build_create_team, "team"},
    {"admin", "get-team", "TEAM_ID", "show a team",
     M("AdminService", "GetTeam"), D(get_team_request), D(team), 1, 1,
     ctl_build_team_id, NULL},
    {"admin", "list-teams", "[--page-size N] [--page-token T]", "list teams",
     M("AdminService", "ListTeams"), D(list_teams_request),
     D(list_teams_response), 0, 0, ctl_build_list_teams, NULL},
    {"admin", "delete-team", "TEAM_ID", "delete a team and all its data",
     M("AdminService", "DeleteTeam"), D(delete_team_request),
     D(delete_team_response), 1, 1, ctl_build_team_id, NULL},
    {"admin", "create-key",
     "TEAM_ID [--name NAME] [--rep EMAIL] | --admin [--name NAME]",
     "create an API key (printed once); --rep: a rep key acting as that "
     "member",
     M("AdminService", "CreateApiKey"), D(create_api_key_request),
     D(create_api_key_response), 0, 1, ctl_build_create_key, "key"},
    {"admin", "list-keys", "[TEAM_ID] [--page-size N] [--page-token T]",
     "list API keys", M("AdminService", "ListApiKeys"),
     D(list_api_keys_request), D(list_api_keys_response), 0, 1,
     ctl_build_list_keys, NULL},
    {"admin", "revoke-key", "KEY_ID", "revoke an API key at once",
     M("AdminService", "RevokeApiKey"), D(revoke_api_key_request), D(api_key),
     1, 1, ctl_build_revoke_key, NULL},
    {"team", "show", "", "show the key's team", M("TeamService", "GetMyTeam"),
     D(get_my_team_request), D(team), 0, 0, ctl_build_none, NULL},
    {"team", "add-member", "EMAIL [--name NAME]", "add a rep to the team",
     M("TeamService", "AddTeamMember"), D(add_team_member_request),
     D(team_member), 1, 1, ctl_build_add_member, NULL},
    {"team", "remove-member", "EMAIL", "remove a rep from the team",
     M("TeamService", "RemoveTeamMember"), D(remove_team_member_request),
     D(remove_team_member_response), 1, 1, ctl_build_email, NULL},
    {"team", "list-members", "[--page-size N] [--page-token T]",
     "list the team's reps", M("TeamService", "ListTeamMembers"),
     D(list_team_members_request), D(list_team_members_response), 0, 0,
     ctl_build_page, NULL},
    {"team", "add-domain", "DOMAIN", "add one of the team's mail domains",
     M("TeamService", "AddTeamDomain"), D(add_team_domain_request),
     D(team_domain), 1, 1, ctl_build_domain, NULL},
    {"team", "remove-domain", "DOMAIN", "remove a team mail domain",
     M("TeamService", "RemoveTeamDomain"), D(remove_team_domain_request),
     D(remove_team_domain_response), 1, 1, ctl_build_domain, NULL},
    {"team", "list-domains", "[--page-size N] [--page-token T]",
     "list the team's mail domains", M("TeamService", "ListTeamDomains"),
     D(list_team_domains_request), D(list_team_domains_response), 0, 0,
     ctl_build_page, NULL},
    {"team", "create-rep-key", "EMAIL [--name NAME]",
     "create a key acting as one member of the team (printed once)",
     M("TeamService", "CreateRepKey"), D(create_rep_key_request),
     D(create_rep_key_response), 1, 1, ctl_build_create_rep_key, "key"},
    {"team", "list-rep-keys", "[--page-size N] [--page-token T]",
     "list the team's rep keys", M("TeamService", "ListRepKeys"),
     D(list_rep_keys_request), D(list_rep_keys_response), 0, 0, ctl_build_page,
     NULL},
    {"team", "revoke-rep-key", "KEY_ID", "revoke one of the team's rep keys",
     M("TeamService", "RevokeRepKey"), D(revoke_rep_key_request), D(api_key), 1,
     1, ctl_build_revoke_key, NULL},
    {NULL, "outcomes", "THREAD_ID [--page-size N] [--page-token T]",
     "list a thread's outcomes (recorded and derived from replies)",
     M("OutcomeService", "ListOutcomes"), D(list_outcomes_request),
     D(list_outcomes_response), 1, 1, ctl_build_list_outcomes, NULL},
    {NULL, "feedback",
     "SUGGESTION_ID ITEM_ID shown|inserted|copied|dismissed|thumbs_up|"
     "thumbs_down IDEMPOTENCY_KEY",
     "report what a rep did with a suggestion",
     M("OutcomeService", "RecordFeedback"), D(record_feedback_request),
     D(record_feedback_response), 4, 4, ctl_build_feedback, NULL},
    {NULL, "feedback-list", "[--rep EMAIL] [--page-size N] [--page-token T]",
     "list recorded feedback, newest first, with the rep of each",
     M("OutcomeService", "ListFeedback"), D(list_feedback_request),
     D(list_feedback_response), 0, 0, ctl_build_list_feedback, NULL},
    {NULL, "models", "[--page-size N] [--page-token T]",
     "list the team's ranking models, newest first",
     M("RankingService", "ListModels"), D(list_models_request),
     D(list_models_response), 0, 0, ctl_build_list_models, NULL},
    {"email", "get", "EMAIL_ID | MESSAGE_ID", "show a stored email",
     M("IngestService", "GetEmail"), D(get_email_request), D(email), 1, 1,
     ctl_build_mail, NULL},
    {"email", "delete", "EMAIL_ID [--with-files]",
     "delete an email and what was derived from it alone; --with-files: "
     "also its files no other email carries",
     M("IngestService", "DeleteEmail"), D(delete_email_request),
     D(delete_email_response), 1, 1, ctl_build_erase, "summary"},
    {"thread", "delete", "THREAD_ID [--with-files]",
     "delete a thread, its emails and its outcomes; --with-files: also "
     "their files no other email carries",
     M("IngestService", "DeleteThread"), D(delete_thread_request),
     D(delete_thread_response), 1, 1, ctl_build_erase, "summary"},
    {"contact", "forget", "EMAIL_ADDRESS",
     "forget an address (a privacy request): every email from, to or cc "
     "it, what was derived from them, the files its mail brought",
     M("IngestService", "ForgetContact"), D(forget_contact_request),
     D(forget_contact_response), 1, 1, ctl_build_erase, "summary"},
    {"thread", "get", "THREAD_ID", "show a thread and its emails",
     M("IngestService", "GetThread"), D(get_thread_request), D(thread), 1, 1,
     ctl_build_mail, NULL},
    {"thread", "list", "[--page-size N] [--page-token T]",
     "list threads, most recently active first",
     M("IngestService", "ListThreads"), D(list_threads_request),
     D(list_threads_response), 0, 0, ctl_build_mail, NULL},
    {"content", "get", "CONTENT_ID [--output FILE|-]",
     "show a content item; --output saves its file, checked against its "
     "SHA-256",
     M("SnippetService", "GetContent"), D(get_content_request), D(content), 1,
     1, ctl_build_mail, NULL},
    {"content", "list", "[--page-size N] [--page-token T]",
     "list content items, most recently used first",
     M("SnippetService", "ListContents"), D(list_contents_request),
     D(list_contents_response), 0, 0, ctl_build_mail, NULL},
    {"content", "delete", "CONTENT_ID",
     "delete a content item for good: its file, its snippets, and its "
     "place in the emails that carried it",
     M("SnippetService", "DeleteContent"), D(delete_content_request),
     D(delete_content_response), 1, 1, ctl_build_mail, NULL},
    {"snippet", "get", "SNIPPET_ID", "show a snippet",
     M("SnippetService", "GetSnippet"), D(get_snippet_request), D(snippet), 1,
     1, ctl_build_snippet, NULL},
    {"snippet", "delete", "SNIPPET_ID",
     "redact a snippet: wipe its text and drop it from search",
     M("SnippetService", "DeleteSnippet"), D(delete_snippet_request),
     D(delete_snippet_response), 1, 1, ctl_build_snippet, NULL},
};

#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

/* The commands that are not rows of ctl_cmds (their own modules parse
 * them): usage, then what they do. */
static const char *const ctl_more[][2] = {
    {"ingest PATH... [--json]",
     "ingest mail: files, directories, mbox files, Maildirs"},
    {"llm journal [--job EMAIL_ID] [--page-size N] [--page-token T]",
     "the team's LLM call journal, newest first"},
    {"search TEXT [--kind framing|passage] [--content ID] [--rep EMAIL]\n"
     "         [--tag K=V] [--since MS] [--until MS] [--page-size N]",
     "search the team's snippets"},
    {"suggest (--thread ID | --reply-to MSGID | --text FILE) [--draft TEXT]\n"
     "          [--mode outcome|popularity|similarity|random]",
     "the best content and framings for a thread and a draft"},
    {"outcome record --message-id X --kind KIND --key IDEMPOTENCY_KEY",
     "record a meeting booked, an opportunity won or lost, ..."},
    {"outcome delete OUTCOME_ID",
     "delete a mistaken outcome (and its idempotency key)"},
    {"rerank [--force-promote] [--dry-run] | --job ID | --cancel ID",
     "start (or follow) a re-ranking job, with a progress bar"},
    {"model show [--version V]", "the serving ranking model and its metrics"},
    {"mailbox add EMAIL --imap-url imaps://HOST[:PORT] --username U\n"
     "          (--password-file F | --oauth2-token-file F) [--folders A,B]\n"
     "          [--tls-ca PEM] [--backfill-days N|all] [--allow-plaintext]",
     "connect a rep's IMAP mailbox; its mail then flows in by itself\n"
     "      (imap:// is STARTTLS; --allow-plaintext: no TLS, loopback only;\n"
     "      after \"mailbox\", --tls-ca is the IMAP server's CA)"},
    {"mailbox list | show ID | sync ID | pause ID | resume ID | remove ID",
     "mailboxes, their state, last error and folders; sync now; pause;\n"
     "      remove (the mail already ingested stays)"},
    {"mailbox set-credentials ID (--password-file F | --oauth2-token-file F)\n"
     "          [--username U]",
     "new credentials (a mailbox stopped by a refused login syncs again)"},
    {"cluster [--cluster FILE] haproxy-config | list-teams\n"
     "          | create-team NAME [--node NODE] | route TEAM_ID NODE\n"
     "          | move-team TEAM_ID --to NODE [--batch-bytes N]",
     "several snipd nodes behind HAProxy: its configuration, every node's\n"
     "      teams and their routes, a team placed on a node or moved to\n"
     "      another, its writes paused for the cut-over (docs/SCALING.md)"},
};

#define CTL_NMORE (sizeof(ctl_more) / sizeof(ctl_more[0]))

/* ctl_word_is says whether usage begins with the command word w. */
static int ctl_word_is(const char *usage, const char *w)
{
    size_t n = strlen(w);
    return strncmp(usage, w, n) == 0 && (usage[n] == ' ' || usage[n] == '\0');
}

/* ctl_usage prints the usage of every command, or with word of those
 * whose first word (group or name) it is: `snipctl content --help`.
 * Returns how many commands it printed. */
static size_t ctl_usage_of(FILE *f, const char *word)
{
    size_t i, n = 0;

    if (word == NULL)
        fputs("usage: snipctl [--addr ADDR] [--key KEY] [--tls-ca PEM] "
              "[--timeout-ms N] [--json] COMMAND [ARGS]\n"
              "       snipctl [COMMAND] --help | --version\n\n"
              "  --addr ADDR     snipd address [127.0.0.1:50051, or "
              "SNIPWISE_ADDR]\n"
              "  --key KEY       API key [SNIPWISE_KEY]; the admin key is in "
              "DATA_DIR/admin.key\n"
              "  --key-file PATH read the key from PATH [SNIPWISE_KEY_FILE]: "
              "keys stay off\n"
              "                  command lines and shell history\n"
              "  config file     $SNIPWISE_CONFIG or "
              "~/.config/snipwise/snipctl.conf,\n"
              "                  lines addr = A, key = K or key_file = PATH\n"
              "  --tls-ca PEM    trust this CA and use TLS\n"
              "  --tls-cert PEM --tls-key PEM\n"
              "                  client certificate and key, for a server "
              "with\n"
              "                  --tls-client-ca [SNIPWISE_TLS_CERT, "
              "SNIPWISE_TLS_KEY]\n"
              "  --json          print one JSON object instead of a table\n\n"
              "commands:\n",
              f);
    for (i = 0; i < CTL_NCMDS; i++) {
        const struct ctl_cmd *k = &ctl_cmds[i];
        const char *first = k->group ? k->group : k->name;
        if (word && strcmp(first, word) != 0)
            continue;
        fprintf(f, "  %s%s%s %s\n      %s\n", k->group ? k->group : "",
                k->group ? " " : "", k->name, k->args, k->help);
        n++;
    }
    for (i = 0; i < CTL_NMORE; i++) {
        if (word && !ctl_word_is(ctl_more[i][0], word))
            continue;
        fprintf(f, "  %s\n      %s\n", ctl_more[i][0], ctl_more[i][1]);
        n++;
    }
    fputs("\nexit codes: 0 ok, 1 other error, 2 usage, 3 server unavailable "
          "or too slow,\n            4 not authenticated or not allowed, 5 "
          "not found, 6 invalid argument\n",
          f);
    return n;
}

static void ctl_usage(FILE *f)
{
    (void)ctl_usage_of(f, NULL);
}

/* --- printing ------------------------------------------------------------ */

static int ctl_scalar(const ProtobufCFieldDescriptor *f)
{
    return f->label != PROTOBUF_C_LABEL_REPEATED &&
           f->type != PROTOBUF_C_TYPE_MESSAGE &&
           f->type != PROTOBUF_C_TYPE_BYTES;
}

/* ctl_field_text renders one scalar field as text into b. */
/* Times are `*_unix_ms` fields (common.proto); people read them as ISO
 * 8601 in UTC ("-" when unset), scripts get the number with --json. */
static int ctl_is_time(const char *name)
{
    size_t n = strlen(name);
    return n > 8 && strcmp(name + n - 8, "_unix_ms") == 0;
}

static sw_err ctl_time_text(int64_t ms, struct sw_buf *b)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char out[32];

    if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
        strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return sw_buf_addstr(b, ms == 0 ? "-" : "?");
    return sw_buf_printf(b, "%s.%03dZ", out, (int)(ms % 1000));
}

static sw_err ctl_field_text(const ProtobufCMessage *m,
                             const ProtobufCFieldDescriptor *f,
                             struct sw_buf *b)
{
    const char *v = (const char *)m + f->offset;
    const ProtobufCEnumValue *ev;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return sw_buf_addstr(b, *(char *const *)v ? *(char *const *)v : "");
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return sw_buf_printf(b, "%d", *(const int32_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sw_buf_printf(b, "%u", *(const uint32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (ctl_is_time(f->name))
            return ctl_time_text(*(const int64_t *)v, b);
        return sw_buf_printf(b, "%lld", (long long)*(const int64_t *)v);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sw_buf_printf(b, "%llu",
                             (unsigned long long)*(const uint64_t *)v);
    case PROTOBUF_C_TYPE_FLOAT:
        return sw_buf_printf(b, "%g", (double)*(const float *)v);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sw_buf_printf(b, "%g", *(const double *)v);
    case PROTOBUF_C_TYPE_BOOL:
        return sw_buf_addstr(b, *(const protobuf_c_boolean *)v ? "yes" : "no");
    case PROTOBUF_C_TYPE_ENUM:
        ev = protobuf_c_enum_descriptor_get_value(f->descriptor,
                                                  *(const int *)v);
        return ev ? sw_buf_addstr(b, ev->name)
                  : sw_buf_printf(b, "%d", *(const int *)v);
    default:
        return sw_buf_addstr(b, "…");
    }
}

/* ctl_print_fields prints "name: value" for every scalar field and recurses
 * into sub-messages with their name as a prefix. */
static void ctl_print_fields(const ProtobufCMessage *m, const char *prefix)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    struct sw_buf b;
    unsigned i;

    sw_buf_init(&b, 1 << 20);
    for (i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
            f->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessage *sub =
                *(ProtobufCMessage *const *)((const char *)m + f->offset);
            if (sub)
                ctl_print_fields(sub, f->name);
            continue;
        }
        if (!ctl_scalar(f))
            continue;
        sw_buf_reset(&b);
        if (ctl_field_text(m, f, &b) != SW_OK)
            continue;
        printf("%s%s%s: %s\n", prefix ? prefix : "", prefix ? "." : "", f->name,
               sw_buf_str(&b));
    }
    sw_buf_free(&b);
}

/* ctl_term_width is the width tables must fit: the terminal's when stdout
 * is one, else $COLUMNS, else 0 (no limit: a pipe gets whole values). */
static size_t ctl_term_width(void)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    int64_t v;

    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_col > 0)
        return ws.ws_col;
    if (cols && sw_parse_i64(cols, strlen(cols), 20, 10000, &v) == SW_OK)
        return (size_t)v;
    return 0;
}

/* ctl_fit shrinks the widest of the ncol columns (two spaces after each)
 * until the table fits total characters, none below 8. */
static void ctl_fit(size_t *width, unsigned ncol, const int *shown,
                    size_t total)
{
    for (;;) {
        size_t sum = 0, *widest = NULL;
        unsigned k;
        for (k = 0; k < ncol; k++) {
            if (!shown[k])
                continue;
            sum += width[k] + 2;
            if (widest == NULL || width[k] > *widest)
                widest = &width[k];
        }
        if (sum <= total || widest == NULL || *widest <= 8)
            return;
        (*widest)--;
    }
}

/* ctl_cell prints s in a column of width characters (UTF-8 counted by
 * code points), cut with "…" when longer. */
static void ctl_cell(const char *s, size_t width)
{
    size_t i = 0, cols = 0, n = 0;

    for (n = 0; s[n]; n++)
        cols += ((unsigned char)s[n] & 0xC0) != 0x80;
    if (cols <= width) {
        printf("%s%*s  ", s, (int)(width - cols), "");
        return;
    }
    for (cols = 0; s[i] && cols + 1 < width; cols++) { /* one character */
        i++;
        while (s[i] && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    printf("%.*s\xe2\x80\xa6%*s  ", (int)i, s, (int)(width - cols - 1), "");
}

/* ctl_print_table prints a repeated message field as an aligned table with
 * one column per scalar field of the element type, cut to the terminal's
 * width (values shortened with "…"; --json has them whole). */
static void ctl_print_table(const ProtobufCMessage *m,
                            const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
    ProtobufCMessage *const *items =
        *(ProtobufCMessage *const *const *)((const char *)m + f->offset);
    size_t width[32] = {0}, i, term = ctl_term_width();
    unsigned k, ncol = ed->n_fields < 32 ? ed->n_fields : 32;
    int shown[32] = {0};
    struct sw_buf b;

    sw_buf_init(&b, 1 << 20);
    for (k = 0; k < ncol; k++)
        width[k] = strlen(ed->fields[k].name);
    for (i = 0; i < n; i++) {
        for (k = 0; k < ncol; k++) {
            if (!ctl_scalar(&ed->fields[k]))
                continue;
            sw_buf_reset(&b);
            if (ctl_field_text(items[i], &ed->fields[k], &b) == SW_OK &&
                sw_buf_len(&b) > width[k])
                width[k] = sw_buf_len(&b);
        }
    }
    for (k = 0; k < ncol; k++)
        shown[k] = ctl_scalar(&ed->fields[k]);
    if (term)
        ctl_fit(width, ncol, shown, term);
    for (k = 0; k < ncol; k++) {
        if (shown[k])
            ctl_cell(ed->fields[k].name, width[k]);
    }
    printf("\n");
    for (i = 0; i < n; i++) {
        for (k = 0; k < ncol; k++) {
            if (!shown[k])
                continue;
            sw_buf_reset(&b);
            if (ctl_field_text(items[i], &ed->fields[k], &b) != SW_OK)
                sw_buf_reset(&b);
            ctl_cell(sw_buf_str(&b), width[k]);
        }
        printf("\n");
    }
    if (n == 0)
        printf("(none)\n");
    sw_buf_free(&b);
}

static void ctl_print_human(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    unsigned i;

    for (i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED &&
            f->type == PROTOBUF_C_TYPE_MESSAGE)
            ctl_print_table(m, f);
    }
    ctl_print_fields(m, NULL);
}

/* ctl_print_json prints m as one JSON object; when flatten names a message
 * field, that field's members are lifted to the top level and the other
 * top-level string fields are added beside them (create-team prints
 * {"team_id": ..., "display_name": ..., "api_key": ...}). */
static int ctl_print_json(const ProtobufCMessage *m, const char *flatten)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const ProtobufCFieldDescriptor *ff = NULL;
    const ProtobufCMessage *sub = NULL;
    struct sw_buf b;
    unsigned i;
    sw_err rc = SW_OK;

    sw_buf_init(&b, 64 << 20);
    if (flatten)
        ff = protobuf_c_message_descriptor_get_field_by_name(d, flatten);
    if (ff)
        sub = *(ProtobufCMessage *const *)((const char *)m + ff->offset);
    if (ff == NULL || sub == NULL) {
        rc = msg_to_json(m, &b);
    } else {
        rc = msg_to_json(sub, &b);
        for (i = 0; rc == SW_OK && i < d->n_fields; i++) {
            const ProtobufCFieldDescriptor *f = &d->fields[i];
            const char *v;
            if (f == ff || f->type != PROTOBUF_C_TYPE_STRING ||
                f->label == PROTOBUF_C_LABEL_REPEATED)
                continue;
            v = *(char *const *)((const char *)m + f->offset);
            b.len--; /* reopen the object: drop its '}' */
            rc = sw_buf_addc(&b, ',');
            if (rc == SW_OK)
                rc = sw_buf_add_json_str(&b, f->name, strlen(f->name));
            if (rc == SW_OK)
                rc = sw_buf_addc(&b, ':');
            if (rc == SW_OK)
                rc = sw_buf_add_json_str(&b, v ? v : "", strlen(v ? v : ""));
            if (rc == SW_OK)
                rc = sw_buf_addc(&b, '}');
        }
    }
    if (rc == SW_OK)
        printf("%s\n", sw_buf_str(&b));
    sw_buf_free(&b);
    return rc == SW_OK ? 0 : EXIT_RPC;
}

/* --- main ------------------------------------------------------------------
 */

static int ctl_parse(int argc, char **argv, struct ctl *c)
{
    int i;
    int64_t v;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            c->json = 1;
        } else if (strcmp(a, "--admin") == 0) {
            c->admin_role = 1;
        } else if (strcmp(a, "--with-files") == 0) {
            c->with_files = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return 1;
        } else if (strncmp(a, "--", 2) == 0) {
            if (next == NULL) {
                fprintf(stderr, "snipctl: %s needs a value\n", a);
                return -1;
            }
            i++;
            if (strcmp(a, "--addr") == 0)
                c->addr = next;
            else if (strcmp(a, "--key") == 0)
                c->key = next;
            else if (strcmp(a, "--tls-ca") == 0)
                c->tls_ca = next;
            else if (strcmp(a, "--name") == 0)
                c->name = next;
            else if (strcmp(a, "--rep") == 0)
                c->rep = next;
            else if (strcmp(a, "--page-token") == 0)
                c->page_token = next;
            else if (strcmp(a, "--page-size") == 0 ||
                     strcmp(a, "--timeout-ms") == 0) {
                if (sw_parse_i64(next, strlen(next), 0,
                                 a[2] == 'p' ? 100000 : 86400000,
                                 &v) != SW_OK) {
                    fprintf(stderr, "snipctl: %s: not a valid number: %s\n", a,
                            next);
                    return -1;
                }
                if (a[2] == 'p')
                    c->page_size = (int32_t)v;
                else
                    c->timeout_ms = v;
            } else {
                fprintf(stderr, "snipctl: unknown flag %s (see --help)\n", a);
                return -1;
            }
        } else {
            if (c->npos == CTL_MAX_POS) {
                fprintf(stderr, "snipctl: too many arguments\n");
                return -1;
            }
            c->pos[c->npos++] = a;
        }
    }
    return 0;
}

static const struct ctl_cmd *ctl_find(struct ctl *c, int *used)
{
    size_t i;

    for (i = 0; i < CTL_NCMDS; i++) {
        const struct ctl_cmd *k = &ctl_cmds[i];
        if (k->group == NULL) {
            if (c->npos >= 1 && strcmp(c->pos[0], k->name) == 0) {
                *used = 1;
                return k;
            }
        } else if (c->npos >= 2 && strcmp(c->pos[0], k->group) == 0 &&
                   strcmp(c->pos[1], k->name) == 0) {
            *used = 2;
            return k;
        }
    }
    return NULL;
}

/* ctl_first_word returns the first argument before argv[end] that is
 * neither a flag nor a flag's value, or NULL. */
static const char *ctl_first_word(int argc, char **argv, int end)
{
    int i;

    (void)argc;
    for (i = 1; i < end; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (strcmp(argv[i], "--json") != 0 && strchr(argv[i], '=') == NULL)
                i++; /* its value */
            continue;
        }
        return argv[i];
    }
    return NULL;
}

/* The rewritten argument vector of ctl_split_eq, freed at exit (every
 * return of main and every exit() of a subcommand). */
static char **ctl_argv_mem;

static void ctl_argv_free(void)
{
    sw_free(ctl_argv_mem);
    ctl_argv_mem = NULL;
}

/* ctl_split_eq rewrites argv so that every "--flag=value" is the two
 * arguments "--flag" "value", as getopt_long takes either form; every
 * parser after it sees only the second. Returns the new argv (argv itself
 * when nothing had '='). */
static char **ctl_split_eq(int *argc, char **argv)
{
    char **out;
    int i, n = 0, extra = 0;

    for (i = 1; i < *argc; i++)
        extra += strncmp(argv[i], "--", 2) == 0 && strchr(argv[i], '=');
    if (extra == 0)
        return argv;
    out = sw_calloc((size_t)(*argc + extra + 1), sizeof(*out));
    if (out == NULL)
        return argv;
    ctl_argv_mem = out;
    if (atexit(ctl_argv_free) != 0) {
        sw_free(out);
        ctl_argv_mem = NULL;
        return argv;
    }
    for (i = 0; i < *argc; i++) {
        char *eq = i > 0 && strncmp(argv[i], "--", 2) == 0
                       ? strchr(argv[i], '=')
                       : NULL;
        if (eq) {
            *eq = '\0'; /* argv's strings are ours to change */
            out[n++] = argv[i];
            out[n++] = eq + 1;
        } else {
            out[n++] = argv[i];
        }
    }
    *argc = n;
    return out;
}

int main(int argc, char **argv)
{
    char lb[128]; /* snipc_status_label */
    struct ctl c;
    const struct ctl_cmd *k;
    struct snipc_opts o;
    struct snipc_status st;
    snipc *cl = NULL;
    ProtobufCMessage *req, *resp = NULL;
    int used = 0, code = EXIT_RPC, i, pr;
    sw_err rc;

    argv = ctl_split_eq(&argc, argv);
    /* --help prints the usage of the command named before it (`snipctl
     * content --help`), or of every command; --version the version. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("snipctl %s\n", SW_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            const char *word = ctl_first_word(argc, argv, i);
            if (word == NULL || ctl_usage_of(stdout, word) == 0) {
                if (word)
                    fprintf(stderr,
                            "snipctl: no command '%s'; all of "
                            "them:\n",
                            word);
                ctl_usage(stdout);
                return word ? EXIT_USAGE : 0;
            }
            return 0;
        }
    }
    /* Flags beat the environment, which beats the config file. */
    if (ctl_key_file_take(&argc, argv) != 0 || ctl_config_env() != 0 ||
        ctl_tls_take(&argc, argv) != 0)
        return EXIT_USAGE;
    if (ctl_content_wanted(argc, argv))
        return ctl_content_main(argc, argv);
    if (ctl_ingest_wanted(argc, argv))
        return ctl_ingest_main(argc, argv);
    if (ctl_search_wanted(argc, argv))
        return ctl_search_main(argc, argv);
    if (ctl_llm_wanted(argc, argv))
        return ctl_llm_main(argc, argv);
    if (ctl_rank_wanted(argc, argv))
        return ctl_rank_main(argc, argv);
    if (ctl_mailbox_wanted(argc, argv))
        return ctl_mailbox_main(argc, argv);
    if (ctl_cluster_wanted(argc, argv))
        return ctl_cluster_main(argc, argv);
    memset(&c, 0, sizeof(c));
    sw_arena_init(&c.arena, 0);
    c.addr =
        getenv("SNIPWISE_ADDR") ? getenv("SNIPWISE_ADDR") : "127.0.0.1:50051";
    c.key = getenv("SNIPWISE_KEY");
    pr = ctl_parse(argc, argv, &c);
    if (pr != 0 || c.npos == 0) {
        ctl_usage(pr > 0 ? stdout : stderr);
        sw_arena_free(&c.arena);
        return pr > 0 ? 0 : EXIT_USAGE;
    }
    k = ctl_find(&c, &used);
    if (k == NULL) {
        fprintf(stderr, "snipctl: unknown command '%s%s%s' (see --help)\n",
                c.pos[0], c.npos > 1 ? " " : "", c.npos > 1 ? c.pos[1] : "");
        sw_arena_free(&c.arena);
        return EXIT_USAGE;
    }
    for (i = used; i < c.npos; i++)
        c.pos[i - used] = c.pos[i];
    c.npos -= used;
    req = msg_new(k->req, &c.arena);
    if (c.npos < k->min_pos || c.npos > k->max_pos || req == NULL ||
        k->build(&c, req) != 0) {
        fprintf(stderr, "usage: snipctl %s%s%s %s\n", k->group ? k->group : "",
                k->group ? " " : "", k->name, k->args);
        sw_arena_free(&c.arena);
        return EXIT_USAGE;
    }
    grpc_init();
    memset(&o, 0, sizeof(o));
    o.addr = c.addr;
    o.key = c.key;
    o.tls_ca = c.tls_ca;
    ctl_tls_opts(&o);
    o.timeout_ms = c.timeout_ms;
    rc = snipc_open(&o, &cl);
    if (rc) {
        fprintf(stderr, "snipctl: cannot set up a channel to %s: %s\n", c.addr,
                sw_err_str(rc));
        goto out;
    }
    rc = snipc_unary(cl, k->method, req, k->resp, &c.arena, &resp, &st);
    if (rc) {
        fprintf(stderr, "snipctl: %s: %s\n", k->method, sw_err_str(rc));
        goto out;
    }
    if (st.code != 0) {
        if (c.json) {
            const char *why = st.reason ? st.reason : "";
            struct sw_buf b;
            sw_buf_init(&b, 1 << 20);
            if (sw_buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"reason\":",
                              snipc_status_name(st.code)) == SW_OK &&
                sw_buf_add_json_str(&b, why, strlen(why)) == SW_OK &&
                sw_buf_addstr(&b, ",\"message\":") == SW_OK &&
                sw_buf_add_json_str(&b, st.message, strlen(st.message)) ==
                    SW_OK &&
                sw_buf_addstr(&b, "}}") == SW_OK)
                printf("%s\n", sw_buf_str(&b));
            sw_buf_free(&b);
        }
        fprintf(stderr, "snipctl: %s: %s\n",
                snipc_status_label(&st, lb, sizeof(lb)),
                st.message[0] ? st.message : "(no message)");
        code = ctl_exit_code(st.code);
        goto out;
    }
    if (c.json)
        code = ctl_print_json(resp, k->flatten);
    else {
        ctl_print_human(resp);
        code = 0;
    }
out:
    snipc_close(&cl);
    grpc_shutdown();
    sw_arena_free(&c.arena);
    return code;
}
