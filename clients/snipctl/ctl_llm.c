/* ctl_llm: `snipctl llm journal`, the LLM call journal of the key's team
 * (LlmService.ListJournal). */
#include "clients/snipctl/ctl_llm.h"

#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_tls.h"
#include "proto/msg.h"
#include "snipwise/v1/llm.pb-c.h"

#define CTL_LLM_METHOD "/snipwise.v1.LlmService/ListJournal"

int ctl_llm_wanted(int argc, char **argv)
{
    return ctl_command_is(argc, argv, "llm");
}

static const char *ctl_llm_outcome(int o)
{
    static const char *const names[] = {"?",     "ok",     "invalid",
                                        "error", "budget", "cached"};
    return o >= 0 && o <= 5 ? names[o] : "?";
}

/* ctl_llm_exit maps a gRPC status to snipctl's exit codes (see --help). */
static int ctl_llm_exit(int status)
{
    switch (status) {
    case 3:  /* INVALID_ARGUMENT */
    case 11: /* OUT_OF_RANGE */
        return 6;
    case 4:  /* DEADLINE_EXCEEDED */
    case 14: /* UNAVAILABLE */
        return 3;
    case 5: /* NOT_FOUND */
        return 5;
    case 7:  /* PERMISSION_DENIED */
    case 16: /* UNAUTHENTICATED */
        return 4;
    default:
        return 1;
    }
}

static int ctl_llm_print(const Snipwise__V1__ListJournalResponse *r, int json)
{
    struct sw_buf b;
    size_t i, k;
    sw_err rc;

    if (json) {
        sw_buf_init(&b, (size_t)256 << 20);
        rc = msg_to_json(&r->base, &b);
        if (rc == SW_OK)
            puts(sw_buf_str(&b));
        sw_buf_free(&b);
        return rc == SW_OK ? 0 : 1;
    }
    if (r->n_entries == 0)
        printf("(no journal entries)\n");
    for (i = 0; i < r->n_entries; i++) {
        const Snipwise__V1__JournalEntry *e = r->entries[i];
        printf("%lld  %s  #%d  %-7s  %s/%s%s%s  %s v%d  tokens %lld+%lld  "
               "%lld ms\n",
               (long long)e->time_unix_ms, e->job_id[0] ? e->job_id : "-",
               e->attempt_number, ctl_llm_outcome(e->outcome), e->provider,
               e->model, e->structured_output_mode[0] ? " " : "",
               e->structured_output_mode, e->schema_name, e->schema_version,
               (long long)e->prompt_tokens, (long long)e->completion_tokens,
               (long long)e->latency_ms);
        for (k = 0; k < e->n_validation_errors; k++)
            printf("    %s\n", e->validation_errors[k]);
    }
    if (r->next_page_token[0])
        printf("next_page_token: %s\n", r->next_page_token);
    return 0;
}

int ctl_llm_main(int argc, char **argv)
{
    char lb[128]; /* snipc_status_label */
    Snipwise__V1__ListJournalRequest req =
        SNIPWISE__V1__LIST_JOURNAL_REQUEST__INIT;
    struct snipc_opts o;
    struct snipc_status st;
    struct sw_arena arena;
    ProtobufCMessage *resp = NULL;
    snipc *cl = NULL;
    const char *addr, *key, *tls_ca = NULL;
    int i, code = 2, words = 0, json = 0, grpc_up = 0;
    int64_t v, timeout_ms = 0;
    sw_err rc;

    sw_arena_init(&arena, 0);
    addr =
        getenv("SNIPWISE_ADDR") ? getenv("SNIPWISE_ADDR") : "127.0.0.1:50051";
    key = getenv("SNIPWISE_KEY");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            /* "llm", then "journal" */
            if ((words == 0 && strcmp(a, "llm") != 0) ||
                (words == 1 && strcmp(a, "journal") != 0) || words > 1)
                goto usage;
            words++;
            continue;
        }
        if (next == NULL)
            goto usage;
        i++;
        if (strcmp(a, "--addr") == 0) {
            addr = next;
        } else if (strcmp(a, "--key") == 0) {
            key = next;
        } else if (strcmp(a, "--tls-ca") == 0) {
            tls_ca = next;
        } else if (strcmp(a, "--job") == 0) {
            req.job_id = (char *)next;
        } else if (strcmp(a, "--page-token") == 0) {
            req.page_token = (char *)next;
        } else if (strcmp(a, "--page-size") == 0 &&
                   sw_parse_i64(next, strlen(next), 0, 1000, &v) == SW_OK) {
            req.page_size = (int32_t)v;
        } else if (strcmp(a, "--timeout-ms") == 0 &&
                   sw_parse_i64(next, strlen(next), 0, 86400000, &v) == SW_OK) {
            timeout_ms = v;
        } else {
            goto usage;
        }
    }
    if (words != 2)
        goto usage;
    code = 1;
    grpc_init();
    grpc_up = 1;
    memset(&o, 0, sizeof(o));
    o.addr = addr;
    o.key = key;
    o.tls_ca = tls_ca;
    ctl_tls_opts(&o);
    o.timeout_ms = timeout_ms;
    rc = snipc_open(&o, &cl);
    if (rc == SW_OK)
        rc = snipc_unary(cl, CTL_LLM_METHOD, &req.base,
                         &snipwise__v1__list_journal_response__descriptor,
                         &arena, &resp, &st);
    if (rc) {
        fprintf(stderr, "snipctl: llm journal: cannot reach %s: %s\n", addr,
                sw_err_str(rc));
        goto out;
    }
    if (st.code != 0) {
        fprintf(stderr, "snipctl: llm journal: %s: %s\n",
                snipc_status_label(&st, lb, sizeof(lb)), st.message);
        code = ctl_llm_exit(st.code);
        goto out;
    }
    code = ctl_llm_print((const Snipwise__V1__ListJournalResponse *)resp, json);
    goto out;
usage:
    fprintf(stderr, "usage: snipctl llm journal [--job EMAIL_ID] "
                    "[--page-size N] [--page-token T] [--json]\n");
    code = 2;
out:
    snipc_close(&cl);
    if (grpc_up)
        grpc_shutdown();
    sw_arena_free(&arena);
    return code;
}
