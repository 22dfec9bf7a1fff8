/* ctl_content: content get --output (ctl_content.h). */
#include "clients/snipctl/ctl_content.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_tls.h"
#include "snipwise/v1/snippet.pb-c.h"

int ctl_content_wanted(int argc, char **argv)
{
    int i, words = 0, output = 0;
    const char *w[2] = {NULL, NULL};

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) {
            output = 1;
            i++;
        } else if (strcmp(argv[i], "--json") == 0) {
            continue;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            i++; /* a flag and its value */
        } else if (words < 2) {
            w[words++] = argv[i];
        }
    }
    return output && words == 2 && strcmp(w[0], "content") == 0 &&
           strcmp(w[1], "get") == 0;
}

/* What the stream has told so far. */
struct ctl_read {
    int fd;                 /* where the bytes go */
    int have_file;          /* the first message came */
    char sha_hex[65];       /* announced */
    int64_t size, received; /* announced, and received so far */
    char filename[256], media_type[128];
    sw_sha256_ctx *h;
    int bad; /* 1: a protocol error, 2: a write error (errno in err) */
    int err;
};

static int ctl_write_all(int fd, const void *p, size_t n)
{
    const char *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ctl_read_msg(const ProtobufCMessage *m, void *arg)
{
    const Snipwise__V1__ReadContentResponse *r = (const void *)m;
    struct ctl_read *rd = arg;

    if (!rd->have_file) {
        if (r->file == NULL || r->file->sha256 == NULL ||
            strlen(r->file->sha256) != 64 || r->file->size_bytes < 0) {
            rd->bad = 1;
            return 1;
        }
        rd->have_file = 1;
        memcpy(rd->sha_hex, r->file->sha256, 65);
        rd->size = r->file->size_bytes;
        snprintf(rd->filename, sizeof(rd->filename), "%s",
                 r->file->filename ? r->file->filename : "");
        snprintf(rd->media_type, sizeof(rd->media_type), "%s",
                 r->file->media_type ? r->file->media_type : "");
        return 0;
    }
    if (r->file != NULL || rd->received + (int64_t)r->data.len > rd->size) {
        rd->bad = 1; /* a second header, or more bytes than announced */
        return 1;
    }
    if (sw_sha256_update(rd->h, r->data.data, r->data.len) != SW_OK ||
        ctl_write_all(rd->fd, r->data.data, r->data.len) != 0) {
        rd->bad = 2;
        rd->err = errno;
        return 1;
    }
    rd->received += (int64_t)r->data.len;
    return 0;
}

/* The parsed command line. */
struct ctl_content {
    const char *addr, *key, *tls_ca, *output, *id, *timeout;
    int json;
};

static int ctl_content_parse(int argc, char **argv, struct ctl_content *c)
{
    int i, words = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;
        if (strcmp(a, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strncmp(a, "-", 1) != 0 || strcmp(a, "-") == 0) {
            if (++words == 3)
                c->id = a;
            else if (words > 3)
                return -1;
            continue;
        }
        if (strcmp(a, "--addr") == 0)
            slot = &c->addr;
        else if (strcmp(a, "--key") == 0)
            slot = &c->key;
        else if (strcmp(a, "--tls-ca") == 0)
            slot = &c->tls_ca;
        else if (strcmp(a, "--output") == 0 || strcmp(a, "-o") == 0)
            slot = &c->output;
        else if (strcmp(a, "--timeout-ms") == 0)
            slot = &c->timeout;
        if (slot == NULL || v == NULL)
            return -1;
        *slot = v;
        i++;
    }
    return c->id && c->output ? 0 : -1;
}

/* ctl_content_open opens where the bytes go: standard output, or a new
 * temporary file beside path (its name in tmp). */
static int ctl_content_open(const char *path, struct sw_buf *tmp)
{
    int fd;

    if (strcmp(path, "-") == 0)
        return STDOUT_FILENO;
    if (sw_buf_printf(tmp, "%s.partial-XXXXXX", path) != SW_OK)
        return -1;
    fd = mkstemp((char *)sw_buf_str(tmp));
    return fd;
}

/* ctl_content_check compares what came with what was announced. */
static const char *ctl_content_check(struct ctl_read *rd)
{
    unsigned char sha[SW_SHA256_LEN];
    char hex[65];

    if (sw_sha256_end(&rd->h, sha) != SW_OK)
        return "out of memory";
    if (!rd->have_file)
        return "the server sent no file description";
    if (rd->received != rd->size)
        return "the file ended early";
    sw_hex(sha, SW_SHA256_LEN, hex);
    if (strcmp(hex, rd->sha_hex) != 0)
        return "the bytes do not match the file's SHA-256";
    return NULL;
}

int ctl_content_main(int argc, char **argv)
{
    char lb[128]; /* snipc_status_label */
    Snipwise__V1__ReadContentRequest q =
        SNIPWISE__V1__READ_CONTENT_REQUEST__INIT;
    struct ctl_content c;
    struct ctl_read rd;
    struct snipc_opts o;
    struct snipc_status st;
    struct sw_arena a;
    struct sw_buf tmp;
    snipc *cl = NULL;
    const char *problem = NULL;
    int64_t timeout_ms = 600000;
    int code = EXIT_RPC, to_stdout;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    memset(&rd, 0, sizeof(rd));
    memset(&st, 0, sizeof(st));
    c.addr =
        getenv("SNIPWISE_ADDR") ? getenv("SNIPWISE_ADDR") : "127.0.0.1:50051";
    c.key = getenv("SNIPWISE_KEY");
    if (ctl_content_parse(argc, argv, &c) != 0 ||
        (c.timeout && sw_parse_i64(c.timeout, strlen(c.timeout), 1,
                                   INT64_MAX / 2, &timeout_ms) != SW_OK)) {
        fprintf(stderr, "usage: snipctl content get CONTENT_ID --output FILE|- "
                        "[--timeout-ms N]\n");
        return EXIT_USAGE;
    }
    to_stdout = strcmp(c.output, "-") == 0;
    sw_arena_init(&a, 0);
    sw_buf_init(&tmp, 8192);
    rd.fd = ctl_content_open(c.output, &tmp);
    if (rd.fd < 0) {
        fprintf(stderr, "snipctl: cannot write beside %s: %s\n", c.output,
                strerror(errno));
        sw_buf_free(&tmp);
        return EXIT_RPC;
    }
    grpc_init();
    memset(&o, 0, sizeof(o));
    o.addr = c.addr;
    o.key = c.key;
    o.tls_ca = c.tls_ca;
    ctl_tls_opts(&o);
    o.timeout_ms = timeout_ms;
    rc = snipc_open(&o, &cl);
    if (rc == SW_OK)
        rc = sw_sha256_begin(&rd.h);
    if (rc == SW_OK) {
        q.content_id = (char *)c.id;
        rc = snipc_server_stream(
            cl, "/snipwise.v1.SnippetService/ReadContent", &q.base,
            &snipwise__v1__read_content_response__descriptor, ctl_read_msg, &rd,
            &a, &st);
    }
    if (rc) {
        fprintf(stderr, "snipctl: content get: %s\n", sw_err_str(rc));
    } else if (st.code != 0 && !rd.bad) {
        fprintf(stderr, "snipctl: %s: %s\n",
                snipc_status_label(&st, lb, sizeof(lb)), st.message);
        code = ctl_exit_code(st.code);
    } else {
        problem = rd.bad == 2   ? strerror(rd.err)
                  : rd.bad == 1 ? "the server's stream is malformed"
                                : ctl_content_check(&rd);
        if (problem == NULL && !to_stdout &&
            (fsync(rd.fd) != 0 || rename(sw_buf_str(&tmp), c.output) != 0))
            problem = strerror(errno);
        if (problem)
            fprintf(stderr, "snipctl: content get %s: %s; nothing written\n",
                    c.id, problem);
        else
            code = 0;
    }
    if (rd.h && sw_sha256_end(&rd.h, NULL) != SW_OK)
        code = code ? code : EXIT_RPC; /* cannot happen: out is NULL */
    if (!to_stdout) {
        close(rd.fd);
        if (code != 0)
            unlink(sw_buf_str(&tmp));
    }
    if (code == 0 && !to_stdout) {
        if (c.json) {
            struct sw_buf j;
            sw_buf_init(&j, 16384);
            if (sw_buf_addstr(&j, "{\"content_id\":") == SW_OK &&
                sw_buf_add_json_str(&j, c.id, strlen(c.id)) == SW_OK &&
                sw_buf_addstr(&j, ",\"output\":") == SW_OK &&
                sw_buf_add_json_str(&j, c.output, strlen(c.output)) == SW_OK &&
                sw_buf_printf(&j, ",\"size_bytes\":%lld,\"sha256\":\"%s\"}",
                              (long long)rd.size, rd.sha_hex) == SW_OK)
                printf("%s\n", sw_buf_str(&j));
            sw_buf_free(&j);
        } else
            printf("%s: %lld bytes, sha256 %s (%s, %s)\n", c.output,
                   (long long)rd.size, rd.sha_hex, rd.filename, rd.media_type);
    }
    snipc_close(&cl);
    grpc_shutdown();
    sw_arena_free(&a);
    sw_buf_free(&tmp);
    return code;
}
