/* ctl_rank: `snipctl suggest`, `snipctl outcome record`, `snipctl rerank`
 * and `snipctl model show` over SuggestService, OutcomeService and
 * RankingService. */
#include "clients/snipctl/ctl_rank.h"

#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_enum.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_tls.h"
#include "proto/msg.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "snipwise/v1/ranking.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"

#define CTL_RANK_FILE_MAX (4 * 1024 * 1024)

static const char *const ctl_rank_words[] = {"suggest", "outcome", "rerank",
                                             "model", NULL};

/* ctl_rank_first returns the first command word of argv, or NULL. */
static const char *ctl_rank_first(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (strcmp(argv[i], "--json") != 0)
                i++; /* a global flag and its value */
            continue;
        }
        return argv[i];
    }
    return NULL;
}

int ctl_rank_wanted(int argc, char **argv)
{
    const char *w = ctl_rank_first(argc, argv);
    int i;

    for (i = 0; w && ctl_rank_words[i]; i++)
        if (strcmp(w, ctl_rank_words[i]) == 0)
            return 1;
    return 0;
}

/* The parsed command line. */
struct ctl_rank {
    const char *addr, *key, *tls_ca;
    const char *pos[4];
    int npos, json;
    const char *thread, *reply_to, *text_file, *draft, *mode, *message_id,
        *kind, *idem, *version, *job, *cancel;
    int force, dry;
};

static int ctl_rank_parse(int argc, char **argv, struct ctl_rank *c)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;
        if (strcmp(a, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strcmp(a, "--force-promote") == 0) {
            c->force = 1;
            continue;
        }
        if (strcmp(a, "--dry-run") == 0) {
            c->dry = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (c->npos == 4)
                return -1;
            c->pos[c->npos++] = a;
            continue;
        }
        if (strcmp(a, "--addr") == 0)
            slot = &c->addr;
        else if (strcmp(a, "--key") == 0)
            /* After "outcome record", --key is the idempotency key (as the
             * command's usage says); before it, the API key. */
            slot = c->npos >= 1 && strcmp(c->pos[0], "outcome") == 0 ? &c->idem
                                                                     : &c->key;
        else if (strcmp(a, "--tls-ca") == 0)
            slot = &c->tls_ca;
        else if (strcmp(a, "--thread") == 0)
            slot = &c->thread;
        else if (strcmp(a, "--reply-to") == 0)
            slot = &c->reply_to;
        else if (strcmp(a, "--text") == 0)
            slot = &c->text_file;
        else if (strcmp(a, "--draft") == 0)
            slot = &c->draft;
        else if (strcmp(a, "--mode") == 0)
            slot = &c->mode;
        else if (strcmp(a, "--message-id") == 0)
            slot = &c->message_id;
        else if (strcmp(a, "--kind") == 0)
            slot = &c->kind;
        else if (strcmp(a, "--key-id") == 0 ||
                 strcmp(a, "--idempotency-key") == 0)
            slot = &c->idem;
        else if (strcmp(a, "--version") == 0)
            slot = &c->version;
        else if (strcmp(a, "--job") == 0)
            slot = &c->job;
        else if (strcmp(a, "--cancel") == 0)
            slot = &c->cancel;
        if (slot == NULL || v == NULL)
            return -1;
        *slot = v;
        i++;
    }
    return 0;
}

static int ctl_rank_usage(void)
{
    fprintf(stderr,
            "usage: snipctl [--addr A] [--key K] suggest (--thread ID | "
            "--reply-to MSGID | --text FILE) [--draft TEXT]\n"
            "                 [--mode outcome|popularity|similarity|random] "
            "[--json]\n"
            "       snipctl outcome delete OUTCOME_ID\n"
            "       snipctl outcome record --message-id X --kind KIND --key "
            "K   (KIND: meeting_booked, opportunity_won, ...)\n"
            "       snipctl rerank [--force-promote] [--dry-run] [--json]   "
            "(starts a job, or follows the running one)\n"
            "       snipctl rerank --job JOB_ID | --cancel JOB_ID [--json]\n"
            "       snipctl model show [--version V] [--json]\n");
    return 2;
}

static int ctl_rank_mode(const char *m)
{
    if (m == NULL)
        return 0;
    return ctl_enum_value(&snipwise__v1__ranking_mode__descriptor, "--mode", m);
}

static int ctl_rank_kind(const char *k)
{
    return ctl_enum_value(&snipwise__v1__outcome_kind__descriptor, "--kind", k);
}

/* ctl_rank_read reads a whole file into the arena as a string. */
static char *ctl_rank_read(struct sw_arena *a, const char *path)
{
    struct sw_buf b;
    char chunk[4096];
    char *out = NULL;
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return NULL;
    sw_buf_init(&b, CTL_RANK_FILE_MAX);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sw_buf_add(&b, chunk, n) != SW_OK)
            break;
    if (!ferror(f))
        out = sw_arena_strdup(a, sw_buf_str(&b));
    fclose(f);
    sw_buf_free(&b);
    return out;
}

static void ctl_rank_json(const ProtobufCMessage *m)
{
    struct sw_buf b;

    sw_buf_init(&b, 64 * 1024 * 1024);
    if (msg_to_json(m, &b) == SW_OK)
        puts(sw_buf_str(&b));
    sw_buf_free(&b);
}

static void ctl_suggest_print(const Snipwise__V1__SuggestResponse *r)
{
    size_t i;

    printf("suggestion %s  model %s\n", r->suggestion_id,
           r->model_version[0] ? r->model_version : "(none yet)");
    printf("contents:\n");
    for (i = 0; i < r->n_contents; i++) {
        const Snipwise__V1__ContentSuggestion *c = r->contents[i];
        printf("  %6.3f  %s  %s\n          %s\n",
               c->score ? c->score->total : 0.0, c->content_id, c->title,
               c->explanation);
    }
    printf("framings:\n");
    for (i = 0; i < r->n_framings; i++) {
        const Snipwise__V1__FramingSuggestion *f = r->framings[i];
        printf("  %6.3f  %s  %s\n          %s\n",
               f->score ? f->score->total : 0.0, f->family_id, f->text,
               f->explanation);
    }
}

/* How a followed job is shown: a progress bar redrawn in place on a
 * terminal, a line per change otherwise, one JSON object per change with
 * --json. */
struct ctl_watch {
    int json, tty, state;
};

static int ctl_rerank_msg(const ProtobufCMessage *m, void *arg)
{
    const Snipwise__V1__RerankJob *j = (const Snipwise__V1__RerankJob *)m;
    struct ctl_watch *w = arg;
    char bar[31];
    int k, fill = (int)(j->fraction * 30.0 + 0.5);

    w->state = (int)j->state;
    if (w->json) {
        ctl_rank_json(m);
        return 0;
    }
    for (k = 0; k < 30; k++)
        bar[k] = k < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "%s%s [%s] %3.0f%%  %-12s %.60s%s", w->tty ? "\r" : "",
            j->job_id, bar, 100.0 * j->fraction, j->phase, j->message,
            w->tty ? "\033[K" : "\n");
    if (j->state >=
        SNIPWISE__V1__RERANK_JOB_STATE__RERANK_JOB_STATE_SUCCEEDED) {
        if (w->tty)
            fputc('\n', stderr);
        if (j->result && j->result->model)
            printf("%s\nmodel %s: %s\n", j->result->model->report,
                   j->result->model->model_version, j->result->decision);
        else if (j->error[0])
            fprintf(stderr, "snipctl: rerank job %s: %s\n", j->job_id,
                    j->error);
    }
    return 0;
}

/* ctl_rerank runs `snipctl rerank`: start a job (or find the running one),
 * or cancel one, then follow it to its end. The exit code is 0 only for a
 * job that SUCCEEDED. */
static int ctl_rerank(snipc *cl, const struct ctl_rank *c, struct sw_arena *a,
                      struct snipc_status *st, sw_err *rc)
{
    const char *job = c->job;
    ProtobufCMessage *resp = NULL;
    struct ctl_watch w = {c->json, isatty(STDERR_FILENO), 0};

    if (c->cancel) {
        Snipwise__V1__CancelRerankJobRequest q =
            SNIPWISE__V1__CANCEL_RERANK_JOB_REQUEST__INIT;
        q.job_id = (char *)c->cancel;
        *rc = snipc_unary(cl, "/snipwise.v1.RankingService/CancelRerankJob",
                          &q.base, &snipwise__v1__rerank_job__descriptor, a,
                          &resp, st);
        job = c->cancel;
    } else if (job == NULL) {
        Snipwise__V1__StartRerankRequest q =
            SNIPWISE__V1__START_RERANK_REQUEST__INIT;
        q.force_promote = c->force;
        q.dry_run = c->dry;
        *rc =
            snipc_unary(cl, "/snipwise.v1.RankingService/StartRerank", &q.base,
                        &snipwise__v1__rerank_job__descriptor, a, &resp, st);
        if (*rc == SW_OK && st->code == 0)
            job = ((const Snipwise__V1__RerankJob *)resp)->job_id;
        else if (*rc == SW_OK && snipc_status_meta(st, "job_id")) {
            job = snipc_status_meta(st, "job_id"); /* one runs: follow it */
            fprintf(stderr,
                    "snipctl: a job is already running; following "
                    "%s\n",
                    job);
        }
    }
    if (*rc || job == NULL || (st->code != 0 && c->cancel))
        return 1;
    {
        Snipwise__V1__WatchRerankJobRequest q =
            SNIPWISE__V1__WATCH_RERANK_JOB_REQUEST__INIT;
        q.job_id = (char *)job;
        memset(st, 0, sizeof(*st));
        *rc = snipc_server_stream(
            cl, "/snipwise.v1.RankingService/WatchRerankJob", &q.base,
            &snipwise__v1__rerank_job__descriptor, ctl_rerank_msg, &w, a, st);
    }
    return w.state == SNIPWISE__V1__RERANK_JOB_STATE__RERANK_JOB_STATE_SUCCEEDED
               ? 0
               : 1;
}

int ctl_rank_main(int argc, char **argv)
{
    char lb[128]; /* snipc_status_label */
    struct ctl_rank c;
    struct snipc_opts o;
    struct snipc_status st;
    struct sw_arena a;
    snipc *cl = NULL;
    ProtobufCMessage *resp = NULL;
    const char *cmd;
    int code = 2, grpc_up = 0, job_code = 0;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    memset(&st, 0, sizeof(st));
    sw_arena_init(&a, 0);
    c.addr =
        getenv("SNIPWISE_ADDR") ? getenv("SNIPWISE_ADDR") : "127.0.0.1:50051";
    c.key = getenv("SNIPWISE_KEY");
    if (ctl_rank_parse(argc, argv, &c) != 0 || c.npos == 0)
        return ctl_rank_usage();
    cmd = c.pos[0];
    grpc_init();
    grpc_up = 1;
    memset(&o, 0, sizeof(o));
    o.addr = c.addr;
    o.key = c.key;
    o.tls_ca = c.tls_ca;
    ctl_tls_opts(&o);
    o.timeout_ms = 600000;
    rc = snipc_open(&o, &cl);
    if (rc) {
        fprintf(stderr, "snipctl: cannot set up a channel to %s: %s\n", c.addr,
                sw_err_str(rc));
        code = 1;
        goto out;
    }
    if (strcmp(cmd, "suggest") == 0 && c.npos == 1) {
        Snipwise__V1__SuggestRequest q = SNIPWISE__V1__SUGGEST_REQUEST__INIT;
        Snipwise__V1__ThreadText tt = SNIPWISE__V1__THREAD_TEXT__INIT;
        Snipwise__V1__ThreadTextMessage tm =
            SNIPWISE__V1__THREAD_TEXT_MESSAGE__INIT;
        Snipwise__V1__ThreadTextMessage *tmp = &tm;
        int mode = ctl_rank_mode(c.mode);
        if (mode < 0 || !!c.thread + !!c.reply_to + !!c.text_file > 1) {
            code = ctl_rank_usage();
            goto out;
        }
        if (c.thread) {
            q.thread_case = SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_ID;
            q.thread_id = (char *)c.thread;
        } else if (c.reply_to) {
            q.thread_case =
                SNIPWISE__V1__SUGGEST_REQUEST__THREAD_IN_REPLY_TO_MESSAGE_ID;
            q.in_reply_to_message_id = (char *)c.reply_to;
        } else if (c.text_file) {
            tm.text = ctl_rank_read(&a, c.text_file);
            if (tm.text == NULL) {
                fprintf(stderr, "snipctl: cannot read %s\n", c.text_file);
                goto out;
            }
            tt.n_messages = 1;
            tt.messages = &tmp;
            q.thread_case = SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_TEXT;
            q.thread_text = &tt;
        }
        q.draft_text = (char *)(c.draft ? c.draft : "");
        q.mode = (Snipwise__V1__RankingMode)mode;
        q.explain = 1;
        rc = snipc_unary(cl, "/snipwise.v1.SuggestService/Suggest", &q.base,
                         &snipwise__v1__suggest_response__descriptor, &a, &resp,
                         &st);
        if (rc == SW_OK && st.code == 0) {
            if (c.json)
                ctl_rank_json(resp);
            else
                ctl_suggest_print((Snipwise__V1__SuggestResponse *)resp);
        }
    } else if (strcmp(cmd, "outcome") == 0 && c.npos == 3 &&
               strcmp(c.pos[1], "delete") == 0) {
        Snipwise__V1__DeleteOutcomeRequest q =
            SNIPWISE__V1__DELETE_OUTCOME_REQUEST__INIT;
        q.outcome_id = (char *)c.pos[2];
        rc = snipc_unary(
            cl, "/snipwise.v1.OutcomeService/DeleteOutcome", &q.base,
            &snipwise__v1__delete_outcome_response__descriptor, &a, &resp, &st);
        if (rc == SW_OK && st.code == 0 && !c.json)
            printf("deleted %s\n", c.pos[2]);
        else if (rc == SW_OK && st.code == 0)
            printf("{}\n");
    } else if (strcmp(cmd, "outcome") == 0 && c.npos == 2 &&
               strcmp(c.pos[1], "record") == 0) {
        Snipwise__V1__RecordOutcomeRequest q =
            SNIPWISE__V1__RECORD_OUTCOME_REQUEST__INIT;
        int kind = ctl_rank_kind(c.kind);
        if (c.message_id == NULL || kind < 0 || c.idem == NULL) {
            code = ctl_rank_usage();
            goto out;
        }
        q.thread_ref_case =
            SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF_MESSAGE_ID;
        q.message_id = (char *)c.message_id;
        q.kind = (Snipwise__V1__OutcomeKind)kind;
        q.idempotency_key = (char *)c.idem;
        rc = snipc_unary(
            cl, "/snipwise.v1.OutcomeService/RecordOutcome", &q.base,
            &snipwise__v1__record_outcome_response__descriptor, &a, &resp, &st);
        if (rc == SW_OK && st.code == 0) {
            const Snipwise__V1__RecordOutcomeResponse *r = (void *)resp;
            if (c.json)
                ctl_rank_json(resp);
            else
                printf("%s  thread %s%s\n", r->outcome_id, r->thread_id,
                       r->duplicate ? "  (duplicate: recorded before)" : "");
        }
    } else if (strcmp(cmd, "rerank") == 0 && c.npos == 1) {
        job_code = ctl_rerank(cl, &c, &a, &st, &rc);
    } else if (strcmp(cmd, "model") == 0 && c.npos == 2 &&
               strcmp(c.pos[1], "show") == 0) {
        Snipwise__V1__GetModelRequest q = SNIPWISE__V1__GET_MODEL_REQUEST__INIT;
        q.model_version = (char *)(c.version ? c.version : "");
        rc = snipc_unary(cl, "/snipwise.v1.RankingService/GetModel", &q.base,
                         &snipwise__v1__model__descriptor, &a, &resp, &st);
        if (rc == SW_OK && st.code == 0) {
            const Snipwise__V1__Model *m = (void *)resp;
            if (c.json)
                ctl_rank_json(resp);
            else
                printf("model %s%s\n%s", m->model_version,
                       m->promoted ? " (serving)" : "", m->report);
        }
    } else {
        code = ctl_rank_usage();
        goto out;
    }
    if (rc) {
        fprintf(stderr, "snipctl: %s: %s\n", cmd, sw_err_str(rc));
        code = 1;
    } else if (st.code != 0) {
        fprintf(stderr, "snipctl: %s: %s\n",
                snipc_status_label(&st, lb, sizeof(lb)), st.message);
        code = ctl_exit_code(st.code);
    } else {
        code = job_code; /* a rerank job that did not succeed: 1 */
    }
out:
    snipc_close(&cl);
    if (grpc_up)
        grpc_shutdown();
    sw_arena_free(&a);
    return code;
}
