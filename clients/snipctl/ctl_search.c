/* ctl_search: `snipctl search` (SnippetService.SearchSnippets) and the
 * builders of `snipctl snippet get|delete`. */
#include "clients/snipctl/ctl_search.h"

#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_tls.h"
#include "snipwise/v1/snippet.pb-c.h"

#define CTL_SEARCH_METHOD "/snipwise.v1.SnippetService/SearchSnippets"
#define CTL_TAGS_MAX 16

int ctl_search_wanted(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (strcmp(argv[i], "--json") != 0)
                i++; /* a global flag and its value */
            continue;
        }
        return strcmp(argv[i], "search") == 0;
    }
    return 0;
}

int ctl_build_snippet_id(const char *const *pos, int npos, ProtobufCMessage *m)
{
    Snipwise__V1__GetSnippetRequest *r = (void *)m;

    if (npos != 1)
        return -1;
    r->snippet_id = (char *)pos[0];
    return 0;
}

static const char *ctl_kind_name(int k)
{
    return k == 1 ? "framing" : k == 2 ? "passage" : "?";
}

static void ctl_search_print(const Snipwise__V1__SearchSnippetsResponse *r,
                             int json)
{
    struct sw_buf b;
    size_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&b, 64 * 1024 * 1024);
    if (!json) {
        for (i = 0; i < r->n_results; i++) {
            const Snipwise__V1__Snippet *s = r->results[i]->snippet;
            printf("%.3f  %s  %-7s  %s\n", r->results[i]->score,
                   s ? s->snippet_id : "", s ? ctl_kind_name(s->kind) : "",
                   s ? s->text : "");
        }
        if (r->next_page_token[0])
            printf("next_page_token: %s\n", r->next_page_token);
        if (r->filter_note[0])
            printf("note: %s\n", r->filter_note);
        return;
    }
    rc = sw_buf_addstr(&b, "{\"results\":[");
    for (i = 0; rc == SW_OK && i < r->n_results; i++) {
        const Snipwise__V1__Snippet *s = r->results[i]->snippet;
        if (s == NULL)
            continue;
        rc =
            sw_buf_printf(&b, "%s{\"score\":%.6f,\"snippet_id\":", i ? "," : "",
                          r->results[i]->score);
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(&b, s->snippet_id, strlen(s->snippet_id));
        if (rc == SW_OK)
            rc = sw_buf_printf(
                &b, ",\"kind\":\"%s\",\"content_id\":", ctl_kind_name(s->kind));
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(&b, s->content_id, strlen(s->content_id));
        if (rc == SW_OK)
            rc = sw_buf_addstr(&b, ",\"rep_email\":");
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(&b, s->rep_email, strlen(s->rep_email));
        if (rc == SW_OK)
            rc = sw_buf_addstr(&b, ",\"text\":");
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(&b, s->text, strlen(s->text));
        if (rc == SW_OK)
            rc = sw_buf_addstr(&b, "}");
    }
    if (rc == SW_OK)
        rc = sw_buf_addstr(&b, "],\"next_page_token\":");
    if (rc == SW_OK)
        rc = sw_buf_add_json_str(&b, r->next_page_token,
                                 strlen(r->next_page_token));
    if (rc == SW_OK)
        rc = sw_buf_printf(&b, ",\"exhausted\":%s,\"filter_note\":",
                           r->exhausted ? "true" : "false");
    if (rc == SW_OK)
        rc = sw_buf_add_json_str(&b, r->filter_note, strlen(r->filter_note));
    if (rc == SW_OK)
        rc = sw_buf_addstr(&b, "}");
    if (rc == SW_OK)
        puts(sw_buf_str(&b));
    else
        fprintf(stderr, "snipctl: search: response too large to print\n");
    sw_buf_free(&b);
}

int ctl_search_main(int argc, char **argv)
{
    char lb[128]; /* snipc_status_label */
    Snipwise__V1__SearchSnippetsRequest req =
        SNIPWISE__V1__SEARCH_SNIPPETS_REQUEST__INIT;
    Snipwise__V1__TimeRange range = SNIPWISE__V1__TIME_RANGE__INIT;
    Snipwise__V1__Tag tagv[CTL_TAGS_MAX], *tagp[CTL_TAGS_MAX];
    Snipwise__V1__SnippetKind kinds[2];
    struct snipc_opts o;
    struct snipc_status st;
    struct sw_arena arena;
    ProtobufCMessage *resp = NULL;
    snipc *cl = NULL;
    const char *addr, *key, *tls_ca = NULL, *text = NULL;
    char *tagbuf[CTL_TAGS_MAX] = {0};
    int i, code = 2, seen_cmd = 0, json = 0, grpc_up = 0, ntags = 0;
    int64_t v;
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
            if (!seen_cmd)
                seen_cmd = 1; /* "search" */
            else if (text == NULL)
                text = a;
            else
                goto usage;
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
        } else if (strcmp(a, "--kind") == 0) {
            if (req.n_kinds >= 2)
                goto usage;
            if (strcmp(next, "framing") == 0)
                kinds[req.n_kinds++] =
                    SNIPWISE__V1__SNIPPET_KIND__SNIPPET_KIND_FRAMING;
            else if (strcmp(next, "passage") == 0)
                kinds[req.n_kinds++] =
                    SNIPWISE__V1__SNIPPET_KIND__SNIPPET_KIND_KEY_PASSAGE;
            else
                goto usage;
        } else if (strcmp(a, "--content") == 0) {
            req.content_id = (char *)next;
        } else if (strcmp(a, "--rep") == 0) {
            req.rep_email = (char *)next;
        } else if (strcmp(a, "--tag") == 0) {
            const char *eq = strchr(next, '=');
            if (eq == NULL || ntags >= CTL_TAGS_MAX)
                goto usage;
            tagbuf[ntags] = sw_strdup(next);
            if (tagbuf[ntags] == NULL)
                goto usage;
            tagbuf[ntags][eq - next] = '\0';
            snipwise__v1__tag__init(&tagv[ntags]);
            tagv[ntags].key = tagbuf[ntags];
            tagv[ntags].value = tagbuf[ntags] + (eq - next) + 1;
            tagp[ntags] = &tagv[ntags];
            ntags++;
        } else if (strcmp(a, "--since") == 0 &&
                   sw_parse_i64(next, strlen(next), 0, INT64_MAX, &v) ==
                       SW_OK) {
            range.start_time_unix_ms = v;
            req.create_time_range = &range;
        } else if (strcmp(a, "--until") == 0 &&
                   sw_parse_i64(next, strlen(next), 0, INT64_MAX, &v) ==
                       SW_OK) {
            range.end_time_unix_ms = v;
            req.create_time_range = &range;
        } else if (strcmp(a, "--page-size") == 0 &&
                   sw_parse_i64(next, strlen(next), 0, 1000, &v) == SW_OK) {
            req.page_size = (int32_t)v;
        } else if (strcmp(a, "--page-token") == 0) {
            req.page_token = (char *)next;
        } else {
            goto usage;
        }
    }
    if (text == NULL)
        goto usage;
    req.query_case = SNIPWISE__V1__SEARCH_SNIPPETS_REQUEST__QUERY_TEXT;
    req.text = (char *)text;
    req.kinds = kinds;
    req.tags = tagp;
    req.n_tags = (size_t)ntags;
    code = 1;
    grpc_init();
    grpc_up = 1;
    memset(&o, 0, sizeof(o));
    o.addr = addr;
    o.key = key;
    o.tls_ca = tls_ca;
    ctl_tls_opts(&o);
    rc = snipc_open(&o, &cl);
    if (rc == SW_OK)
        rc = snipc_unary(cl, CTL_SEARCH_METHOD, &req.base,
                         &snipwise__v1__search_snippets_response__descriptor,
                         &arena, &resp, &st);
    if (rc) {
        fprintf(stderr, "snipctl: search: cannot reach %s: %s\n", addr,
                sw_err_str(rc));
        goto out;
    }
    if (st.code != 0) {
        fprintf(stderr, "snipctl: search: %s: %s\n",
                snipc_status_label(&st, lb, sizeof(lb)), st.message);
        code = st.code == 3 ? 2 : 1;
        goto out;
    }
    ctl_search_print((const Snipwise__V1__SearchSnippetsResponse *)resp, json);
    code = 0;
    goto out;
usage:
    fprintf(stderr, "usage: snipctl search TEXT [--kind framing|passage] "
                    "[--content ID] [--rep EMAIL] [--tag KEY=VALUE] "
                    "[--since MS] [--until MS] [--page-size N] "
                    "[--page-token T] [--json]\n");
    code = 2;
out:
    for (i = 0; i < ntags; i++)
        sw_free(tagbuf[i]);
    snipc_close(&cl);
    if (grpc_up)
        grpc_shutdown();
    sw_arena_free(&arena);
    return code;
}
