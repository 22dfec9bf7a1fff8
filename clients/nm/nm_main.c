/* snipwise-nm: the native messaging host that lets the mail-client and
 * browser extensions reach snipd. It reads length-prefixed JSON requests
 * on stdin, answers each on stdout, and exits when stdin ends. */
#include <grpc/grpc.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "clients/nm/nm_config.h"
#include "clients/nm/nm_frame.h"
#include "clients/nm/nm_host.h"

/* Exit codes: 0 the extension closed stdin; 1 the stream broke (a partial
 * frame, an oversized frame too large to skip, an I/O error); 2 usage. */
#define NM_EXIT_BROKEN 1
#define NM_EXIT_USAGE 2

static void nm_usage(FILE *f)
{
    fputs("usage: snipwise-nm [--help | --version]\n\n"
          "The Snipwise native messaging host. Browsers and mail clients "
          "start it\n"
          "(the arguments they pass are ignored) and talk to it on "
          "stdin/stdout:\n"
          "each message is a 4-byte native-endian length and UTF-8 JSON "
          "(at most\n"
          "8 MiB in, 1 MB out).\n\n"
          "Config: $SNIPWISE_NM_CONFIG or ~/.config/snipwise/nm.json:\n"
          "  {\"addr\": \"127.0.0.1:50051\", \"key\": \"API key\", "
          "\"tls_ca\": \"/path/ca.pem\",\n"
          "   \"rep_email\": \"me@example.com\", \"timeout_ms\": 10000}\n\n"
          "Exit codes: 0 stdin closed, 1 broken stream, 2 usage.\n",
          f);
}

/* nm_send writes one reply frame; 0 on success. */
static int nm_send(struct sw_buf *reply)
{
    sw_err rc = nm_frame_write(1, sw_buf_str(reply), sw_buf_len(reply));

    if (rc) {
        fprintf(stderr, "snipwise-nm: cannot write a reply: %s\n",
                sw_err_str(rc));
        return -1;
    }
    return 0;
}

/* nm_send_chunk writes a chunk frame of a read_content reply. */
static sw_err nm_send_chunk(const char *p, size_t n, void *arg)
{
    (void)arg;
    return nm_frame_write(1, p, n);
}

/* nm_loop serves frames until stdin ends; returns the exit code. */
static int nm_loop(nm_host *h)
{
    struct sw_buf reply, msg;
    char *body = NULL;
    size_t len = 0;
    int eof = 0, code = NM_EXIT_BROKEN;
    sw_err rc;

    sw_buf_init(&reply, 2 * NM_FRAME_OUT_MAX);
    sw_buf_init(&msg, 4096);
    for (;;) {
        sw_buf_reset(&reply);
        sw_buf_reset(&msg);
        rc = nm_frame_read(0, NM_FRAME_IN_MAX, &body, &len, &eof);
        if (rc == SW_OK && eof) {
            code = 0;
            break;
        }
        if (rc == SW_ETOOBIG) {
            /* Refuse it, then skip its body to stay in sync if that is
             * cheap enough; a huge length is more likely garbage. */
            if (sw_buf_printf(&msg,
                              "the message of %zu bytes exceeds the host's "
                              "limit of %u bytes",
                              len, NM_FRAME_IN_MAX) ||
                nm_host_error_reply("RESOURCE_EXHAUSTED", sw_buf_str(&msg),
                                    &reply) ||
                nm_send(&reply))
                break;
            if (len > NM_FRAME_SKIP_MAX) {
                fprintf(stderr,
                        "snipwise-nm: refused a frame of %zu bytes; too "
                        "large to skip, closing the stream\n",
                        len);
                break;
            }
            rc = nm_frame_skip(0, len);
            if (rc) {
                fprintf(stderr,
                        "snipwise-nm: the stream ended inside a refused "
                        "frame of %zu bytes\n",
                        len);
                break;
            }
            continue;
        }
        if (rc == SW_EPARSE) {
            fprintf(stderr, "snipwise-nm: the stream ended inside a frame "
                            "(a partial length or body); exiting\n");
            break;
        }
        if (rc) {
            fprintf(stderr, "snipwise-nm: cannot read stdin: %s\n",
                    sw_err_str(rc));
            break;
        }
        rc = nm_host_handle(h, body, len, nm_send_chunk, NULL, &reply);
        sw_free(body);
        body = NULL;
        if (rc) {
            fprintf(stderr, "snipwise-nm: cannot answer: %s\n", sw_err_str(rc));
            break;
        }
        if (nm_send(&reply))
            break;
    }
    sw_free(body);
    sw_buf_free(&msg);
    sw_buf_free(&reply);
    return code;
}

int main(int argc, char **argv)
{
    struct nm_config *cfg = NULL;
    struct sw_buf why;
    nm_host *h = NULL;
    char *path = NULL;
    int code = NM_EXIT_BROKEN;
    sw_err rc;

    if (argc > 1 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        nm_usage(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("snipwise-nm %s\n", NM_HOST_VERSION);
        return 0;
    }
    if (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
        nm_usage(stderr);
        return NM_EXIT_USAGE;
    }
    /* A reader that went away must show up as a write error, not kill us
     * before we can say so. */
    signal(SIGPIPE, SIG_IGN);
    json_set_alloc_funcs(sw_malloc, sw_free);
    sw_buf_init(&why, 8192);
    rc = nm_config_path(&path);
    if (rc == SW_OK)
        rc = nm_config_load(path, &cfg, &why);
    else
        rc = sw_buf_addstr(&why, "neither SNIPWISE_NM_CONFIG nor HOME is set");
    if (rc == SW_ENOMEM)
        goto out;
    if (cfg == NULL)
        sw_log_warn("nm.config_error", "msg=\"%s\"", sw_buf_str(&why));
    grpc_init();
    rc = nm_host_new(cfg, sw_buf_str(&why), &h);
    if (rc == SW_OK)
        code = nm_loop(h);
    nm_host_free(&h);
    grpc_shutdown();
out:
    nm_config_free(&cfg);
    sw_free(path);
    sw_buf_free(&why);
    return code;
}
