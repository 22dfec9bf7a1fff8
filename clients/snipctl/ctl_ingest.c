/* ctl_ingest: `snipctl ingest PATH...`. Collects messages from files,
 * directories (recursively), mbox files (split on "From " lines, ">From "
 * unescaped) and Maildirs (cur/ and new/), streams them over
 * IngestService.IngestEmails, and prints the summary. Also the request
 * builders of the mail-reading subcommands. */
#include "clients/snipctl/ctl_ingest.h"

#include <dirent.h>
#include <errno.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_tls.h"
#include "snipwise/v1/ingest.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"

#define CTL_METHOD "/snipwise.v1.IngestService/IngestEmails"
#define CTL_MAX_MSG ((size_t)32 << 20) /* snipd's default message limit */
#define CTL_MAX_FILE ((size_t)1 << 30) /* mbox files are read whole */
#define CTL_MAX_REASONS 64
#define CTL_DEPTH_MAX 32

/* The files to ingest, in walk order. */
struct ctl_files {
    char **paths;
    size_t n, cap;
};

struct ctl_reason {
    char *text;
    long count;
};

struct ctl_run {
    snipc_stream *st;
    int json, bar;
    size_t files_done, files_total;
    long sent, local_rejected;
    struct ctl_reason reasons[CTL_MAX_REASONS];
    size_t nreasons;
    long other_reasons;
    sw_err rc; /* first send failure */
};

static int ctl_add_file(struct ctl_files *f, const char *path)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        char **np = sw_realloc(f->paths, cap * sizeof(char *));
        if (np == NULL)
            return -1;
        f->paths = np;
        f->cap = cap;
    }
    f->paths[f->n] = sw_strdup(path);
    if (f->paths[f->n] == NULL)
        return -1;
    f->n++;
    return 0;
}

static int ctl_isdir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ctl_skip_name(const char *n)
{
    return n[0] == '.';
}

/* ctl_walk collects the regular files under path; in a Maildir (a directory
 * with cur/ and new/) only cur/ and new/ are read. */
static int ctl_walk(struct ctl_files *f, const char *path, int depth)
{
    struct dirent **ents = NULL;
    struct sw_buf b;
    int n, i, rc = 0, maildir;

    if (!ctl_isdir(path))
        return ctl_add_file(f, path);
    if (depth > CTL_DEPTH_MAX)
        return 0;
    sw_buf_init(&b, 8192);
    if (sw_buf_printf(&b, "%s/cur", path) != SW_OK) {
        rc = -1;
        goto out;
    }
    maildir = ctl_isdir(sw_buf_str(&b));
    sw_buf_reset(&b);
    if (sw_buf_printf(&b, "%s/new", path) != SW_OK) {
        rc = -1;
        goto out;
    }
    maildir = maildir && ctl_isdir(sw_buf_str(&b));
    n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "snipctl: ingest: cannot read directory %s: %s\n", path,
                strerror(errno));
        rc = 0; /* reported; the other paths go on */
        goto out;
    }
    for (i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (rc == 0 && !ctl_skip_name(name) &&
            (!maildir || strcmp(name, "cur") == 0 ||
             strcmp(name, "new") == 0)) {
            sw_buf_reset(&b);
            if (sw_buf_printf(&b, "%s/%s", path, name) != SW_OK)
                rc = -1;
            else
                rc = ctl_walk(f, sw_buf_str(&b), depth + 1);
        }
        free(ents[i]); /* scandir allocates with malloc */
    }
    free(ents);
out:
    sw_buf_free(&b);
    return rc;
}

/* ctl_read_file reads a whole file. */
static sw_err ctl_read_file(const char *path, char **out, size_t *len)
{
    struct sw_buf b;
    char chunk[65536];
    FILE *fp;
    size_t n;
    sw_err rc = SW_OK;

    fp = fopen(path, "rb");
    if (fp == NULL)
        return SW_EIO;
    sw_buf_init(&b, CTL_MAX_FILE);
    while (rc == SW_OK && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        rc = sw_buf_add(&b, chunk, n);
    if (rc == SW_OK && ferror(fp))
        rc = SW_EIO;
    fclose(fp);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, len);
    sw_buf_free(&b);
    return rc;
}

static void ctl_reason_add(struct ctl_run *r, const char *text)
{
    size_t i;

    for (i = 0; i < r->nreasons; i++) {
        if (strcmp(r->reasons[i].text, text) == 0) {
            r->reasons[i].count++;
            return;
        }
    }
    if (r->nreasons < CTL_MAX_REASONS) {
        r->reasons[r->nreasons].text = sw_strdup(text);
        if (r->reasons[r->nreasons].text) {
            r->reasons[r->nreasons++].count = 1;
            return;
        }
    }
    r->other_reasons++;
}

static void ctl_bar(struct ctl_run *r)
{
    int width = 30, fill;

    if (!r->bar)
        return;
    fill = r->files_total
               ? (int)((double)r->files_done * width / (double)r->files_total)
               : width;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu files, %ld messages", fill,
            "##############################", width - fill, "", r->files_done,
            r->files_total, r->sent);
    fflush(stderr);
}

/* ctl_send streams one message; one too large for snipd is rejected here
 * (gRPC would otherwise end the whole stream). */
static void ctl_send(struct ctl_run *r, const char *data, size_t len,
                     const char *ref)
{
    Snipwise__V1__IngestEmailRequest q =
        SNIPWISE__V1__INGEST_EMAIL_REQUEST__INIT;
    sw_err rc;

    if (r->rc)
        return;
    if (len > CTL_MAX_MSG - 4096) {
        r->local_rejected++;
        ctl_reason_add(r, "larger than the 32 MiB message limit");
        if (!r->json)
            fprintf(stderr, "%ssnipctl: ingest: %s: too large, skipped\n",
                    r->bar ? "\n" : "", ref);
        return;
    }
    q.source_case = SNIPWISE__V1__INGEST_EMAIL_REQUEST__SOURCE_RAW_MIME;
    q.raw_mime.data = (uint8_t *)data;
    q.raw_mime.len = len;
    q.client_ref = (char *)ref;
    rc = snipc_stream_send(r->st, &q.base);
    if (rc)
        r->rc = rc;
    else
        r->sent++;
}

/* ctl_mbox_from tells whether p (at a line start) is a "From " separator. */
static int ctl_mbox_from(const char *p, const char *end)
{
    return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

/* ctl_send_mbox splits an mbox and sends each message with ">From "
 * lines unescaped (one '>' removed, as mboxrd writes them). */
static void ctl_send_mbox(struct ctl_run *r, const char *data, size_t len,
                          const char *path)
{
    const char *p = data, *end = data + len;
    struct sw_buf msg, ref;
    int idx = 0;

    sw_buf_init(&msg, CTL_MAX_FILE);
    sw_buf_init(&ref, 8192);
    while (p < end && r->rc == SW_OK) {
        const char *nl;
        /* p is at a separator line: skip it. */
        nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
        sw_buf_reset(&msg);
        while (p < end && !ctl_mbox_from(p, end)) {
            const char *q = p, *start = p, *le;
            nl = memchr(p, '\n', (size_t)(end - p));
            le = nl ? nl + 1 : end;
            while (q < le && *q == '>')
                q++;
            if (q > p && ctl_mbox_from(q, le))
                start = p + 1; /* drop one '>' */
            if (sw_buf_add(&msg, start, (size_t)(le - start)) != SW_OK) {
                r->rc = SW_ENOMEM;
                break;
            }
            p = le;
        }
        sw_buf_reset(&ref);
        if (sw_buf_printf(&ref, "%s#%d", path, ++idx) != SW_OK) {
            r->rc = SW_ENOMEM;
            break;
        }
        if (sw_buf_len(&msg) > 0)
            ctl_send(r, sw_buf_str(&msg), sw_buf_len(&msg), sw_buf_str(&ref));
    }
    sw_buf_free(&msg);
    sw_buf_free(&ref);
}

static void ctl_send_file(struct ctl_run *r, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    sw_err rc;

    rc = ctl_read_file(path, &data, &len);
    if (rc) {
        r->local_rejected++;
        ctl_reason_add(r, rc == SW_ETOOBIG ? "file too large to read"
                                           : "cannot read the file");
        if (!r->json)
            fprintf(stderr, "%ssnipctl: ingest: %s: %s\n", r->bar ? "\n" : "",
                    path, rc == SW_EIO ? strerror(errno) : sw_err_str(rc));
    } else if (ctl_mbox_from(data, data + len)) {
        ctl_send_mbox(r, data, len, path);
    } else {
        ctl_send(r, data, len, path);
    }
    sw_free(data);
    r->files_done++;
    ctl_bar(r);
}

int ctl_ingest_wanted(int argc, char **argv)
{
    return ctl_command_is(argc, argv, "ingest");
}

static int ctl_exit(int status)
{
    switch (status) {
    case 0:
        return 0;
    case 3:
    case 11:
        return 6;
    case 4:
    case 14:
        return 3;
    case 5:
        return 5;
    case 7:
    case 16:
        return 4;
    default:
        return 1;
    }
}

static void ctl_print_summary(struct ctl_run *r,
                              const Snipwise__V1__IngestEmailsResponse *resp)
{
    struct sw_buf b;
    size_t i;
    long rejected = r->local_rejected + (long)resp->rejected_count;
    int first = 1;

    for (i = 0; i < resp->n_results; i++) {
        const Snipwise__V1__IngestItemResult *it = resp->results[i];
        if (it->status != SNIPWISE__V1__INGEST_STATUS__INGEST_STATUS_REJECTED)
            continue;
        ctl_reason_add(r, it->reason);
        if (!r->json)
            printf("rejected: %s: %s\n", it->client_ref, it->reason);
    }
    if (resp->results_omitted)
        r->other_reasons += resp->results_omitted;
    sw_buf_init(&b, 1 << 20);
    if (r->json) {
        if (sw_buf_printf(&b,
                          "{\"new\":%lld,\"duplicate\":%lld,\"rejected\":%ld,"
                          "\"reasons\":{",
                          (long long)resp->new_count,
                          (long long)resp->duplicate_count, rejected) != SW_OK)
            goto out;
        for (i = 0; i < r->nreasons; i++) {
            if ((!first && sw_buf_addc(&b, ',') != SW_OK) ||
                sw_buf_add_json_str(&b, r->reasons[i].text,
                                    strlen(r->reasons[i].text)) != SW_OK ||
                sw_buf_printf(&b, ":%ld", r->reasons[i].count) != SW_OK)
                goto out;
            first = 0;
        }
        if (r->other_reasons &&
            sw_buf_printf(&b, "%s\"(other)\":%ld", first ? "" : ",",
                          r->other_reasons) != SW_OK)
            goto out;
        if (sw_buf_addstr(&b, "}}") != SW_OK)
            goto out;
        printf("%s\n", sw_buf_str(&b));
    } else {
        printf("new: %lld\nduplicate: %lld\nrejected: %ld\n",
               (long long)resp->new_count, (long long)resp->duplicate_count,
               rejected);
        for (i = 0; i < r->nreasons; i++)
            printf("  %ld × %s\n", r->reasons[i].count, r->reasons[i].text);
        if (r->other_reasons)
            printf("  %ld × (reason not reported)\n", r->other_reasons);
    }
out:
    sw_buf_free(&b);
}

int ctl_ingest_main(int argc, char **argv)
{
    char lb[128]; /* snipc_status_label */
    struct snipc_opts o;
    struct snipc_status st;
    struct ctl_files files;
    struct ctl_run run;
    struct sw_arena arena;
    ProtobufCMessage *resp = NULL;
    snipc *cl = NULL;
    const char *addr, *key, *tls_ca = NULL;
    int64_t timeout_ms = 3600 * 1000;
    int i, code = 1, seen_cmd = 0, grpc_up = 0;
    size_t k;
    sw_err rc;

    memset(&files, 0, sizeof(files));
    memset(&run, 0, sizeof(run));
    sw_arena_init(&arena, 0);
    addr =
        getenv("SNIPWISE_ADDR") ? getenv("SNIPWISE_ADDR") : "127.0.0.1:50051";
    key = getenv("SNIPWISE_KEY");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            run.json = 1;
        } else if (strncmp(a, "--", 2) == 0) {
            int64_t v;
            if (next == NULL) {
                fprintf(stderr, "snipctl: %s needs a value\n", a);
                code = 2;
                goto out;
            }
            i++;
            if (strcmp(a, "--addr") == 0)
                addr = next;
            else if (strcmp(a, "--key") == 0)
                key = next;
            else if (strcmp(a, "--tls-ca") == 0)
                tls_ca = next;
            else if (strcmp(a, "--timeout-ms") == 0 &&
                     sw_parse_i64(next, strlen(next), 1, 86400000, &v) == SW_OK)
                timeout_ms = v;
            else {
                fprintf(stderr, "snipctl: ingest: bad flag %s %s\n", a, next);
                code = 2;
                goto out;
            }
        } else if (!seen_cmd) {
            seen_cmd = 1; /* "ingest" */
        } else if (access(a, R_OK) != 0) {
            fprintf(stderr, "snipctl: ingest: %s: %s\n", a, strerror(errno));
            code = 2;
            goto out;
        } else if (ctl_walk(&files, a, 0) != 0) {
            fprintf(stderr, "snipctl: ingest: out of memory\n");
            goto out;
        }
    }
    if (files.n == 0) {
        fprintf(stderr, "usage: snipctl ingest PATH... (files, directories, "
                        "mbox files, Maildirs)\n");
        code = 2;
        goto out;
    }
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
        rc = snipc_stream_open(cl, CTL_METHOD, &run.st);
    if (rc) {
        fprintf(stderr, "snipctl: ingest: cannot reach %s: %s\n", addr,
                sw_err_str(rc));
        goto out;
    }
    run.bar = !run.json && isatty(STDERR_FILENO);
    run.files_total = files.n;
    for (k = 0; k < files.n && run.rc == SW_OK; k++)
        ctl_send_file(&run, files.paths[k]);
    if (run.bar)
        fputc('\n', stderr);
    rc = snipc_stream_finish(&run.st,
                             &snipwise__v1__ingest_emails_response__descriptor,
                             &arena, &resp, &st);
    if (rc) {
        fprintf(stderr, "snipctl: ingest: %s\n", sw_err_str(rc));
        goto out;
    }
    if (st.code != 0) {
        fprintf(stderr, "snipctl: ingest: %s: %s (after %ld messages)\n",
                snipc_status_label(&st, lb, sizeof(lb)),
                st.message[0] ? st.message : "(no message)", run.sent);
        code = ctl_exit(st.code);
        goto out;
    }
    ctl_print_summary(&run, (const void *)resp);
    code = 0;
out:
    if (run.st) {
        struct snipc_status ignored;
        ProtobufCMessage *r2 = NULL;
        if (snipc_stream_finish(
                &run.st, &snipwise__v1__ingest_emails_response__descriptor,
                &arena, &r2, &ignored) != SW_OK)
            code = code ? code : 1;
    }
    snipc_close(&cl);
    if (grpc_up)
        grpc_shutdown();
    for (k = 0; k < files.n; k++)
        sw_free(files.paths[k]);
    sw_free(files.paths);
    for (k = 0; k < run.nreasons; k++)
        sw_free(run.reasons[k].text);
    sw_arena_free(&arena);
    return code;
}

/* --- Builders of the table rows --------------------------------------------
 */

int ctl_build_get_email(const char *const *pos, int npos, ProtobufCMessage *m)
{
    Snipwise__V1__GetEmailRequest *r = (void *)m;

    if (npos != 1)
        return -1;
    if (strchr(pos[0], '@')) { /* a Message-ID */
        r->email_ref_case =
            SNIPWISE__V1__GET_EMAIL_REQUEST__EMAIL_REF_MESSAGE_ID;
        r->message_id = (char *)pos[0];
    } else {
        r->email_ref_case = SNIPWISE__V1__GET_EMAIL_REQUEST__EMAIL_REF_EMAIL_ID;
        r->email_id = (char *)pos[0];
    }
    return 0;
}

int ctl_build_get_thread(const char *const *pos, int npos, ProtobufCMessage *m)
{
    Snipwise__V1__GetThreadRequest *r = (void *)m;

    if (npos != 1)
        return -1;
    r->thread_id = (char *)pos[0];
    r->include_emails = 1;
    return 0;
}

int ctl_build_list_threads(int32_t page_size, const char *page_token,
                           ProtobufCMessage *m)
{
    Snipwise__V1__ListThreadsRequest *r = (void *)m;

    r->page_size = page_size;
    if (page_token)
        r->page_token = (char *)page_token;
    return 0;
}

int ctl_build_get_content(const char *const *pos, int npos, ProtobufCMessage *m)
{
    Snipwise__V1__GetContentRequest *r = (void *)m;

    if (npos != 1)
        return -1;
    r->content_id = (char *)pos[0];
    return 0;
}

int ctl_build_list_contents(int32_t page_size, const char *page_token,
                            ProtobufCMessage *m)
{
    Snipwise__V1__ListContentsRequest *r = (void *)m;

    r->page_size = page_size;
    if (page_token)
        r->page_token = (char *)page_token;
    return 0;
}
