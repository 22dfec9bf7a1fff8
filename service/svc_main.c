/* snipd: the Snipwise server. Parses the command line, opens the store,
 * creates the admin key (and a demo team) on first start, serves gRPC until
 * SIGTERM/SIGINT, then drains and exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "service/svc_config.h"
#include "service/svc_server.h"
#include "store/store.h"
#include "store/store_tenant.h"

#define SNIPD_VERSION "0.1.0"
#define SNIPD_MAX_PEM (1024 * 1024)

/* snipd_write_secret writes secret to dir/name with mode 0600, replacing
 * any older file atomically (write to a temporary name, fsync, rename). */
static sw_err snipd_write_secret(const char *dir, const char *name,
                                 const char *secret)
{
    struct sw_buf path, tmp;
    int fd = -1;
    size_t n = strlen(secret), off = 0;
    sw_err rc;

    sw_buf_init(&path, 4096);
    sw_buf_init(&tmp, 4096);
    rc = sw_buf_printf(&path, "%s/%s", dir, name);
    if (rc == SW_OK)
        rc = sw_buf_printf(&tmp, "%s/.%s.tmp", dir, name);
    if (rc)
        goto out;
    fd = open(sw_buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = SW_EIO;
        goto out;
    }
    while (off < n) {
        ssize_t w = write(fd, secret + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = SW_EIO;
            goto out;
        }
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        rc = SW_EIO;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = SW_EIO;
        goto out;
    }
    fd = -1;
    if (rename(sw_buf_str(&tmp), sw_buf_str(&path)) != 0)
        rc = SW_EIO;
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        sw_log_error("snipd.write_secret_failed", "file=%s errno=%d",
                     sw_buf_str(&path), errno);
    sw_buf_free(&path);
    sw_buf_free(&tmp);
    return rc;
}

/* snipd_read_file reads a whole (small) file into a NUL-terminated string. */
static sw_err snipd_read_file(const char *file, char **out)
{
    struct sw_buf b;
    char chunk[4096];
    int fd;
    sw_err rc = SW_OK;

    sw_buf_init(&b, SNIPD_MAX_PEM);
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SW_ENOTFOUND;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = SW_EIO;
            break;
        }
        if (r == 0)
            break;
        rc = sw_buf_add(&b, chunk, (size_t)r);
        if (rc)
            break;
    }
    close(fd);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    sw_buf_free(&b);
    return rc;
}

/* snipd_bootstrap creates the admin key and the demo team the first time
 * a data directory is served, and tells the user how to reach them. */
static sw_err snipd_bootstrap(store *st, const struct svc_config *cfg,
                              const char *addr)
{
    char *admin = NULL, *demo_key = NULL;
    struct store_team team;
    sw_err rc;

    memset(&team, 0, sizeof(team));
    rc = store_admin_bootstrap(st, &admin);
    if (rc == SW_EEXIST)
        return SW_OK; /* not the first start */
    if (rc)
        goto out;
    rc = snipd_write_secret(cfg->data_dir, "admin.key", admin);
    if (rc)
        goto out;
    sw_log_info("snipd.admin_key_created", "file=%s/admin.key", cfg->data_dir);
    if (cfg->demo) {
        rc = store_team_create(st, "Demo team", &team, &demo_key, NULL);
        if (rc)
            goto out;
        rc = snipd_write_secret(cfg->data_dir, "demo.key", demo_key);
        if (rc)
            goto out;
        sw_log_info("snipd.demo_team_created", "team_id=%s file=%s/demo.key",
                    team.team_id, cfg->data_dir);
    }
    printf("\nSnipwise is running on %s. First start: keys were created.\n"
           "  admin key: %s/admin.key\n",
           addr, cfg->data_dir);
    if (cfg->demo)
        printf("  demo team: %s, key in %s/demo.key\n", team.team_id,
               cfg->data_dir);
    printf("Try it from another terminal:\n"
           "  bazel-bin/clients/snipctl/snipctl --addr %s health\n"
           "  bazel-bin/clients/snipctl/snipctl --addr %s --key \"$(cat "
           "%s/admin.key)\" admin list-teams\n",
           addr, addr, cfg->data_dir);
    if (cfg->demo)
        printf("  SNIPWISE_KEY=\"$(cat %s/demo.key)\" "
               "bazel-bin/clients/snipctl/snipctl --addr %s team show\n",
               cfg->data_dir, addr);
    printf("\n");
    fflush(stdout);
out:
    store_team_clear(&team);
    sw_free(admin);
    sw_free(demo_key);
    return rc;
}

static int snipd_serve(const struct svc_config *cfg)
{
    struct store_opts so;
    struct svc_server_opts o;
    store *st = NULL;
    svc_server *srv = NULL;
    char *cert = NULL, *key = NULL;
    sigset_t set;
    int sig = 0, port = 0, code = 1, grpc_up = 0;
    struct sw_buf addr;
    sw_err rc;

    sw_buf_init(&addr, 1024);
    /* Block the signals before gRPC starts its threads, so that only
     * sigwait below ever receives them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->tls_cert) {
        rc = snipd_read_file(cfg->tls_cert, &cert);
        if (rc == SW_OK)
            rc = snipd_read_file(cfg->tls_key, &key);
        if (rc) {
            fprintf(stderr, "snipd: cannot read --tls-cert/--tls-key: %s\n",
                    sw_err_str(rc));
            goto out;
        }
    }
    memset(&so, 0, sizeof(so));
    so.dir = cfg->data_dir;
    rc = store_open(&so, &st);
    if (rc) {
        fprintf(stderr, "snipd: cannot open the store in %s: %s\n",
                cfg->data_dir, sw_err_str(rc));
        goto out;
    }
    grpc_init();
    grpc_up = 1;
    memset(&o, 0, sizeof(o));
    o.listen = cfg->listen;
    o.cq_threads = cfg->threads;
    o.workers = cfg->workers;
    o.max_message_bytes = cfg->max_message_bytes;
    o.tls_cert_pem = cert;
    o.tls_key_pem = key;
    rc = svc_server_start(&o, st, &srv, &port);
    if (rc) {
        fprintf(stderr, "snipd: cannot serve on %s: %s\n", cfg->listen,
                sw_err_str(rc));
        goto out;
    }
    {
        const char *colon = strrchr(cfg->listen, ':');
        size_t hl = colon ? (size_t)(colon - cfg->listen) : strlen(cfg->listen);
        if (sw_buf_add(&addr, cfg->listen, hl) != SW_OK ||
            sw_buf_printf(&addr, ":%d", port) != SW_OK)
            sw_buf_reset(&addr);
    }
    sw_log_info("server.listening",
                "addr=%s tls=%d data_dir=%s threads=%d "
                "workers=%d max_message_bytes=%lld",
                sw_buf_str(&addr), cert != NULL, cfg->data_dir, cfg->threads,
                cfg->workers, (long long)cfg->max_message_bytes);
    rc = snipd_bootstrap(st, cfg, sw_buf_str(&addr));
    if (rc) {
        fprintf(stderr, "snipd: first-start set-up failed: %s\n",
                sw_err_str(rc));
        goto out;
    }
    if (sigwait(&set, &sig) != 0)
        sig = 0;
    sw_log_info("server.draining", "signal=%d grace_ms=%lld", sig,
                (long long)cfg->grace_ms);
    svc_server_stop(&srv, cfg->grace_ms);
    sw_log_info("server.stopped", "code=0");
    code = 0;
out:
    svc_server_stop(&srv, 0);
    store_close(&st);
    if (grpc_up)
        grpc_shutdown();
    sw_free(cert);
    sw_free(key);
    sw_buf_free(&addr);
    return code;
}

static int snipd_check(const struct svc_config *cfg)
{
    struct store_opts so;
    struct store_stats stats;
    store *st = NULL;
    sw_err rc;

    memset(&so, 0, sizeof(so));
    so.dir = cfg->data_dir;
    rc = store_open(&so, &st);
    if (rc == SW_OK)
        rc = store_stat(st, &stats);
    store_close(&st);
    if (rc) {
        fprintf(stderr, "snipd check: %s: %s\n", cfg->data_dir, sw_err_str(rc));
        return 1;
    }
    printf("snipd check: %s: store opened, schema version current\n",
           cfg->data_dir);
    return 0;
}

int main(int argc, char **argv)
{
    struct svc_config cfg;
    const char *why = NULL, *bad = NULL;

    if (svc_config_parse(argc, argv, &cfg, &why, &bad) != SW_OK) {
        fprintf(stderr, "snipd: %s: %s\n", bad ? bad : "?", why);
        return 2;
    }
    sw_log_set_level((enum sw_log_level)cfg.log_level);
    switch (cfg.cmd) {
    case SVC_CMD_HELP:
        svc_config_usage(stdout);
        return 0;
    case SVC_CMD_VERSION:
        printf("snipd %s\n", SNIPD_VERSION);
        return 0;
    case SVC_CMD_CHECK:
        return snipd_check(&cfg);
    case SVC_CMD_RERANK:
        fprintf(stderr, "snipd rerank: the re-ranking job is not built yet "
                        "(issue 6)\n");
        return 3;
    case SVC_CMD_SERVE:
        break;
    }
    return snipd_serve(&cfg);
}
