/* snipd: the Snipwise server. Parses the command line, opens the store,
 * creates the admin key (and a demo team) on first start, serves gRPC until
 * SIGTERM/SIGINT (SIGHUP reloads the TLS files), then drains and exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ingest/imap_sync.h"
#include "ingest/pipeline.h"
#include "llm/embed_openai.h"
#include "llm/provider.h"
#include "ranker/index.h"
#include "ranker/suggest.h"
#include "service/svc_backup.h"
#include "service/svc_config.h"
#include "service/svc_demo.h"
#include "service/svc_ingest.h"
#include "service/svc_llm.h"
#include "service/svc_metrics.h"
#include "service/svc_notify.h"
#include "service/svc_rerank.h"
#include "service/svc_server.h"
#include "service/svc_store.h"
#include "service/svc_tls.h"
#include "store/store.h"
#include "store/store_move.h"
#include "store/store_tenant.h"

#define SNIPD_VERSION SW_VERSION

/* snipd_stats_dir has the engine keep its teams' statistics in
 * DATA_DIR/stats (--stats-save-s). */
static sw_err snipd_stats_dir(rank_engine *e, const struct svc_config *cfg)
{
    struct sw_buf dir;
    sw_err rc;

    sw_buf_init(&dir, 4096);
    rc = sw_buf_printf(&dir, "%s/stats", cfg->data_dir);
    if (rc == SW_OK)
        rc = rank_engine_set_stats_dir(e, sw_buf_str(&dir),
                                       cfg->stats_save_s * 1000);
    sw_buf_free(&dir);
    return rc;
}

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

/* snipd_bootstrap creates the admin key when no active one exists (the
 * first start, or after every admin key was revoked) and, when the store
 * holds no team yet, the demo team, marked as waiting for the bundled
 * sample with --demo-sample 1 (svc_demo.h loads it once the server runs).
 * It runs before the listener opens, so the key files are complete when
 * clients can connect. *demo_team receives the new demo team's id (caller
 * frees) or stays NULL. */
static sw_err snipd_bootstrap(store *st, const struct svc_config *cfg,
                              int *created, char **demo_team)
{
    char *admin = NULL, *demo_key = NULL, *next = NULL;
    struct store_team team, *teams = NULL;
    size_t nteams = 0;
    sw_err rc;

    memset(&team, 0, sizeof(team));
    *created = 0;
    rc = store_admin_bootstrap(st, &admin);
    if (rc == SW_EEXIST)
        return SW_OK; /* an admin key exists: not a first start */
    if (rc)
        goto out;
    rc = snipd_write_secret(cfg->data_dir, "admin.key", admin);
    if (rc)
        goto out;
    *created = 1;
    sw_log_info("snipd.admin_key_created", "file=%s/admin.key", cfg->data_dir);
    if (!cfg->demo)
        goto out;
    rc = store_team_list(st, 1, NULL, &teams, &nteams, &next, NULL);
    if (rc || nteams > 0)
        goto out; /* a recovered store keeps its teams; no second demo */
    rc = store_team_create(st, "Demo team", &team, &demo_key, NULL);
    if (rc)
        goto out;
    rc = snipd_write_secret(cfg->data_dir, "demo.key", demo_key);
    if (rc)
        goto out;
    if (cfg->demo_sample) {
        rc = snipd_write_secret(cfg->data_dir, SVC_DEMO_PENDING, team.team_id);
        if (rc)
            goto out;
    }
    sw_log_info("snipd.demo_team_created", "team_id=%s file=%s/demo.key",
                team.team_id, cfg->data_dir);
    *demo_team = team.team_id;
    team.team_id = NULL;
out:
    store_teams_free(teams, nteams);
    sw_free(next);
    store_team_clear(&team);
    sw_free(admin);
    sw_free(demo_key);
    return rc;
}

/* snipd_welcome tells a new user, on stdout, where the keys are and how to
 * call the server. */
static void snipd_welcome(const struct svc_config *cfg, const char *addr,
                          const char *demo_team, const char *tls_hint)
{
    printf("\nSnipwise is running on %s. First start: keys were created.\n"
           "  admin key: %s/admin.key\n",
           addr, cfg->data_dir);
    if (demo_team)
        printf("  demo team: %s, key in %s/demo.key\n", demo_team,
               cfg->data_dir);
    if (demo_team && cfg->demo_sample)
        printf("  loading a sample into it in the background (%zu mails, "
               "%zu CRM outcomes;\n  event=snipd.demo_loaded when done)\n",
               svc_demo_sample.n_mails, svc_demo_sample.n_outcomes);
    printf("Try it from another terminal:\n"
           "  bazel-bin/clients/snipctl/snipctl --addr %s%s health\n"
           "  bazel-bin/clients/snipctl/snipctl --addr %s%s --key \"$(cat "
           "%s/admin.key)\" admin list-teams\n",
           addr, tls_hint, addr, tls_hint, cfg->data_dir);
    if (demo_team)
        printf("  SNIPWISE_KEY=\"$(cat %s/demo.key)\" "
               "bazel-bin/clients/snipctl/snipctl --addr %s%s team show\n",
               cfg->data_dir, addr, tls_hint);
    printf("\n");
    fflush(stdout);
}

/* The write end of the signal pipe. A signal handler can reach nothing
 * else, so this is the one mutable global of snipd; it is set once before
 * the handler is installed. */
static volatile sig_atomic_t snipd_sig_fd = -1;
static int snipd_sig_rd = -1;

static void snipd_on_signal(int signo)
{
    unsigned char b = (unsigned char)signo;
    int saved = errno;

    /* write(2) is async-signal-safe; a full pipe already holds a signal. */
    if (snipd_sig_fd >= 0 && write(snipd_sig_fd, &b, 1) < 0)
        b = 0;
    errno = saved;
}

/* snipd_signals_init blocks SIGTERM/SIGINT/SIGHUP in this thread (and so in the
 * threads it starts) and installs the pipe-writing handler for any thread
 * that has them unblocked. */
static sw_err snipd_signals_init(sigset_t *set)
{
    struct sigaction sa;
    int fds[2];

    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return SW_EIO;
    snipd_sig_rd = fds[0];
    snipd_sig_fd = fds[1];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = snipd_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL))
        return SW_EIO;
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return SW_OK;
}

/* snipd_signals_wait returns the next SIGTERM/SIGINT/SIGHUP: taken from the
 * pipe (a thread without the mask ran the handler) or by sigtimedwait
 * (pending for the threads that block it). */
static int snipd_signals_wait(void)
{
    sigset_t set;
    struct timespec ts = {0, 100 * 1000 * 1000};
    unsigned char b;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (read(snipd_sig_rd, &b, 1) == 1)
            return b;
    }
}

/* snipd_embed_opts fills the ranker's embedder options from the flags;
 * eo and *key (the openai key, sw_free) must outlive the ranker. */
static sw_err snipd_embed_opts(const struct svc_config *cfg,
                               struct rank_opts *ro, struct llm_embed_opts *eo,
                               char **key)
{
    int openai = strcmp(cfg->embedder, "openai") == 0;
    sw_err rc;

    memset(ro, 0, sizeof(*ro));
    memset(eo, 0, sizeof(*eo));
    if (!openai && strcmp(cfg->embedder, "builtin") != 0) {
        fprintf(stderr, "snipd: --embedder must be builtin or openai\n");
        return SW_EINVAL;
    }
    rc = llm_key_load(cfg->embed_key_file, "SNIPD_EMBED_KEY", key);
    if (rc) {
        fprintf(stderr, "snipd: cannot read --embed-key-file: %s\n",
                sw_err_str(rc));
        return rc;
    }
    /* The endpoint is always configured, so an old openai index can still
     * embed queries while a rebuild runs. */
    eo->http.base_url = cfg->embed_base_url;
    eo->http.model = cfg->embed_model;
    eo->http.api_key = *key;
    eo->http.timeout_ms = cfg->llm_timeout_ms;
    eo->http.max_http_retries = 3;
    ro->openai = eo;
    ro->embedder = cfg->embedder;
    ro->dim = cfg->embed_dim > 0 ? (size_t)cfg->embed_dim : openai ? 1536 : 0;
    return SW_OK;
}

/* snipd_tls_hint writes the TLS flags snipctl needs into b, for the
 * first-start banner: the certificate itself when it is self-signed, else
 * a placeholder for the CA that signed it; and a client certificate under
 * --tls-client-ca. */
static sw_err snipd_tls_hint(const struct svc_config *cfg, svc_tls *tls,
                             struct sw_buf *b)
{
    sw_err rc;

    rc = sw_buf_printf(b, " --tls-ca %s",
                       svc_tls_self_signed(tls) ? cfg->tls_cert : "CA.pem");
    if (rc == SW_OK && cfg->tls_client_ca)
        rc = sw_buf_addstr(b, " --tls-cert CLIENT.pem --tls-key CLIENT.key");
    return rc;
}

/* snipd_reload re-reads the TLS files on SIGHUP; bad files are logged and
 * the old ones stay in use. */
static void snipd_reload(svc_tls *tls)
{
    const char *why = NULL;
    sw_err rc;

    if (tls == NULL) {
        sw_log_info("tls.reload_skipped", "reason=\"TLS is off\"");
        return;
    }
    rc = svc_tls_reload(tls, &why);
    if (rc)
        sw_log_error("tls.reload_failed", "err=%s reason=\"%s\" kept=previous",
                     sw_err_name(rc), why ? why : "");
    else
        sw_log_info("tls.reloaded", "self_signed=%d", svc_tls_self_signed(tls));
}

static int snipd_serve(const struct svc_config *cfg)
{
    struct svc_server_opts o;
    store *st = NULL;
    svc_server *srv = NULL;
    rank_ranker *ranker = NULL;
    struct rank_opts ro;
    struct llm_embed_opts eo;
    char *embed_key = NULL;
    rank_engine *engine = NULL;
    ingest_pipeline *ingest = NULL;
    struct ingest_pipeline_opts io;
    ingest_imap_sync *mailbox = NULL;
    struct ingest_imap_sync_opts mo;
    svc_llm *llm = NULL;
    svc_metrics *mx = NULL;
    svc_demo *demo = NULL;
    struct svc_demo_opts dopt;
    char *demo_team = NULL;
    svc_tls *tls = NULL;
    struct sw_buf tls_hint;
    const char *why = NULL;
    sigset_t set;
    int sig = 0, port = 0, code = 1, grpc_up = 0, first_start = 0;
    struct sw_buf addr;
    sw_err rc;

    sw_buf_init(&addr, 1024);
    sw_buf_init(&tls_hint, 8192);
    /* SIGTERM/SIGINT are caught by a handler that writes to a pipe the main
     * thread reads. Blocking them and calling sigwait is not enough: a
     * library may start threads before main with the signals unblocked
     * (libopenblas does), and such a thread would take the default action
     * and kill the process. Blocking them here still keeps gRPC's threads
     * from running the handler. */
    rc = snipd_signals_init(&set);
    if (rc) {
        fprintf(stderr, "snipd: cannot set up signal handling\n");
        goto out;
    }

    if (cfg->tls_cert) {
        rc = svc_tls_open(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &tls,
                          &why);
        if (rc == SW_OK)
            rc = snipd_tls_hint(cfg, tls, &tls_hint);
        if (rc) {
            fprintf(stderr, "snipd: %s: %s\n", why ? why : "TLS set-up",
                    sw_err_str(rc));
            goto out;
        }
    }
    /* serve is the one command that may create a store (svc_store.h). */
    if (svc_store_open(cfg, "serve", 1, &st) != 0) {
        code = 2;
        goto out;
    }
    /* A team deletion cut short by a crash: its records go before anything
     * reads them (store_team_delete). */
    rc = store_team_purge_pending(st, NULL);
    if (rc) {
        fprintf(stderr, "snipd: cannot finish the purge of deleted teams: %s\n",
                sw_err_str(rc));
        goto out;
    }
    /* A team import cut short by a crash is discarded: nothing of it was
     * visible, and the mover begins it again (store_move.h). */
    {
        size_t nimports = 0;
        rc = store_team_import_pending(st, &nimports);
        if (rc) {
            fprintf(stderr,
                    "snipd: cannot discard unfinished team imports: %s\n",
                    sw_err_str(rc));
            goto out;
        }
        if (nimports)
            sw_log_info("move.imports_discarded", "teams=%zu", nimports);
    }
    rc = snipd_embed_opts(cfg, &ro, &eo, &embed_key);
    if (rc)
        goto out;
    rc = rank_ranker_open(st, &ro, &ranker);
    if (rc == SW_OK)
        rc = rank_ranker_start(ranker);
    if (rc == SW_OK) {
        struct rank_params rp;
        rank_params_default(&rp);
        rp.w_explore *= cfg->explore_percent / 100.0;
        rp.wc_explore *= cfg->explore_percent / 100.0;
        rp.use_adapter = cfg->adapter;
        rc = rank_engine_open(st, ranker, &rp, &engine);
        if (rc == SW_OK)
            rank_engine_set_follow(engine, cfg->stats_follow);
        if (rc == SW_OK && cfg->stats_save_s > 0)
            rc = snipd_stats_dir(engine, cfg);
        if (rc == SW_OK) /* Suggest reads what it publishes (engine.h) */
            rc = rank_engine_start(engine, cfg->stats_poll_ms);
    }
    if (rc) {
        fprintf(stderr, "snipd: cannot start the snippet indexer: %s\n",
                sw_err_str(rc));
        goto out;
    }
    memset(&io, 0, sizeof(io));
    io.max_file_bytes =
        cfg->content_max_file_bytes > 0 ? cfg->content_max_file_bytes : -1;
    io.quota_bytes = cfg->content_quota_bytes;
    rc = ingest_pipeline_open(st, &io, &ingest);
    if (rc) {
        fprintf(stderr, "snipd: cannot start the ingest pipeline: %s\n",
                sw_err_str(rc));
        goto out;
    }
    /* The mailbox sync engine: its key file is made now, its threads
     * start once the server serves. */
    memset(&mo, 0, sizeof(mo));
    mo.data_dir = cfg->data_dir;
    mo.poll_ms = cfg->mailbox_poll_ms;
    mo.threads = cfg->mailbox_threads;
    mo.timeout_s = cfg->mailbox_timeout_s;
    /* The cap raw MIME has through the API (a request of at most
     * --max-message-bytes), and never above the pipeline's own. */
    mo.max_message_bytes = (size_t)cfg->max_message_bytes;
    rc = ingest_imap_sync_open(st, ingest, &mo, &mailbox);
    if (rc) {
        fprintf(stderr, "snipd: cannot start the mailbox sync (%s/%s): %s\n",
                cfg->data_dir, INGEST_IMAP_KEY_FILE, sw_err_str(rc));
        goto out;
    }
    if (tls)
        svc_tls_log_hints(); /* before grpc_init: it may log */
    grpc_init();
    grpc_up = 1;
    memset(&o, 0, sizeof(o));
    o.listen = cfg->listen;
    o.cq_threads = cfg->threads;
    o.workers = cfg->workers;
    o.max_message_bytes = cfg->max_message_bytes;
    o.stream_idle_ms = cfg->stream_idle_ms;
    o.light_workers = cfg->light_workers;
    o.poll_rt = cfg->poll_rt;
    o.team_max_calls = cfg->team_max_calls;
    o.team_max_streams = cfg->team_max_streams;
    o.tls = tls;
    o.ranker = ranker;
    o.engine = engine;
    o.ingest = ingest;
    o.mailbox = mailbox;
    rc = svc_metrics_open(cfg, st, ranker, ingest, &mx);
    if (rc)
        goto out;
    o.metrics = mx;
    rc = snipd_bootstrap(st, cfg, &first_start, &demo_team);
    if (rc) {
        fprintf(stderr, "snipd: first-start set-up failed: %s\n",
                sw_err_str(rc));
        goto out;
    }
    rc = svc_server_start(&o, st, &srv, &port);
    if (rc) {
        fprintf(stderr, "snipd: cannot serve on %s: %s\n", cfg->listen,
                sw_err_str(rc));
        goto out;
    }
    /* The extraction worker, and the mailbox sync. */
    rc = svc_llm_start(cfg, st, &llm);
    if (rc == SW_OK) {
        /* New jobs wake the worker instead of waiting for its idle poll
         * (the pipeline closes before the worker stops, below). */
        ingest_pipeline_on_jobs(ingest, svc_llm_kick, llm);
        rc = ingest_imap_sync_start(mailbox);
    }
    if (rc == SW_OK)
        rc = svc_metrics_start(mx, llm); /* --metrics-listen */
    if (rc)
        goto out;
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
                sw_buf_str(&addr), tls != NULL, cfg->data_dir, cfg->threads,
                cfg->workers, (long long)cfg->max_message_bytes);
    if (first_start)
        snipd_welcome(cfg, sw_buf_str(&addr), demo_team, sw_buf_str(&tls_hint));
    /* The demo team's sample, when a first start left it to load (only
     * then: a restart finds no mark and starts nothing). It runs in the
     * background; a failure to start it leaves the server serving. */
    memset(&dopt, 0, sizeof(dopt));
    dopt.data_dir = cfg->data_dir;
    dopt.sample = &svc_demo_sample;
    dopt.st = st;
    dopt.ingest = ingest;
    dopt.engine = engine;
    rc = svc_demo_start(&dopt, &demo);
    if (rc)
        sw_log_error("snipd.demo_not_started", "err=%s", sw_err_name(rc));
    svc_notify_ready(sw_buf_str(&addr)); /* Type=notify (svc_notify.h) */
    while ((sig = snipd_signals_wait()) == SIGHUP)
        snipd_reload(tls);
    sw_log_info("server.draining", "signal=%d grace_ms=%lld", sig,
                (long long)cfg->grace_ms);
    svc_notify_stopping();
    svc_demo_stop(&demo); /* an unfinished load resumes at the next start */
    svc_server_stop(&srv, cfg->grace_ms);
    ingest_imap_sync_close(&mailbox); /* after the handlers; aborts reads */
    sw_log_info("server.stopped", "code=0");
    code = 0;
out:
    svc_demo_stop(&demo); /* it uses the pipeline, engine and store */
    svc_server_stop(&srv, 0);
    /* Handlers use the mailbox sync, and it uses the pipeline. */
    ingest_imap_sync_close(&mailbox);
    svc_metrics_free(&mx); /* it reads the sources closed below */
    svc_ingest_close(&ingest);
    svc_llm_stop(&llm); /* waits for the job in hand */
    rank_engine_close(&engine);
    rank_ranker_close(&ranker);
    if (embed_key) {
        memset(embed_key, 0, strlen(embed_key));
        sw_free(embed_key);
    }
    store_close(&st);
    if (grpc_up)
        grpc_shutdown();
    svc_tls_free(&tls); /* gRPC's fetcher may use it until grpc_shutdown */
    sw_buf_free(&tls_hint);
    sw_buf_free(&addr);
    sw_free(demo_team);
    return code;
}

/* snipd_check_moves prints the team-move part of `snipd check`
 * (store_move_check) and returns its violations, or 1 if it could not
 * run. */
static long snipd_check_moves(store *st)
{
    struct sw_buf report, summary;
    size_t violations = 0;
    long bad;
    sw_err rc;

    sw_buf_init(&report, 1 << 20);
    sw_buf_init(&summary, 4096);
    rc = store_move_check(st, &report, &violations, &summary);
    if (rc) {
        printf("snipd check: team moves: could not check: %s\n",
               sw_err_str(rc));
        bad = 1;
    } else {
        if (sw_buf_len(&report))
            printf("%s%s", sw_buf_str(&report),
                   sw_buf_str(&report)[sw_buf_len(&report) - 1] == '\n' ? ""
                                                                        : "\n");
        printf("snipd check: team moves: %s\n", sw_buf_str(&summary));
        bad = (long)violations;
    }
    sw_buf_free(&report);
    sw_buf_free(&summary);
    return bad;
}

static int snipd_check(const struct svc_config *cfg)
{
    struct store_stats stats;
    store *st = NULL;
    long bad = 0;
    int code;
    sw_err rc;

    code = svc_store_open(cfg, "check", 0, &st);
    if (code)
        return code;
    rc = store_stat(st, &stats);
    if (rc == SW_OK)
        printf("snipd check: %s: store opened, schema version current\n",
               cfg->data_dir);
    if (rc == SW_OK)
        bad = svc_ingest_check(st, stdout);
    if (rc == SW_OK)
        bad += snipd_check_moves(st);
    store_close(&st);
    if (rc) {
        fprintf(stderr, "snipd check: %s: %s\n", cfg->data_dir, sw_err_str(rc));
        return 1;
    }
    return bad == 0 ? 0 : 1;
}

/* snipd_command runs the parsed command and returns the exit code. */
static int snipd_command(const struct svc_config *cfg,
                         const struct svc_rerank_flags *rf,
                         const struct svc_backup_args *ba)
{
    switch (cfg->cmd) {
    case SVC_CMD_HELP:
        svc_config_usage(stdout);
        return 0;
    case SVC_CMD_VERSION:
        printf("snipd %s\n", SNIPD_VERSION);
        return 0;
    case SVC_CMD_CHECK:
        return snipd_check(cfg);
    case SVC_CMD_RERANK:
        return svc_rerank_main(cfg, rf);
    case SVC_CMD_REEXTRACT:
        return svc_llm_reextract(cfg);
    case SVC_CMD_BACKUP:
        return svc_backup_main(cfg, ba);
    case SVC_CMD_RESTORE:
        return svc_restore_main(cfg, ba);
    case SVC_CMD_SERVE:
        break;
    }
    return snipd_serve(cfg);
}

int main(int argc, char **argv)
{
    struct svc_config cfg;
    struct svc_rerank_flags rf;
    struct svc_backup_args ba;
    const char *why = NULL, *bad = NULL;
    int code = 2;

    /* Blocks of 1 MiB and more are mapped and unmapped on their own. By
     * default glibc raises this threshold after the first such free, so
     * that later large blocks (a team's statistics, rebuilt in the
     * background on every change and then freed) come from the heap and
     * stay there, held free: resident memory then grows with the rebuilds
     * (docs/PERFORMANCE.md, the soak). A fixed threshold keeps them
     * mapped.
     * A fixed threshold also stops glibc raising the trim threshold, which
     * then stays at 128 KiB: each Suggest's few hundred KiB of scratch
     * (candidates, the likeness pass over the model's threads) was given
     * back to the kernel at every free and faulted in again at the next
     * call, with a TLB shootdown across the threads each time (a fifth of
     * a Suggest's time at 1M snippets under perf). 4 MiB held at the top
     * of each malloc arena keeps that scratch (docs/PERFORMANCE.md). */
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 4 << 20);
    svc_rerank_flags_take(&argc, argv, &rf);
    svc_backup_args_take(&argc, argv, &ba);
    /* Flags, environment and --config file (svc_config.h); a bad one is
     * exit 2, named with its file and line when it comes from the file. */
    if (svc_config_parse(argc, argv, &cfg, &why, &bad) != SW_OK) {
        fprintf(stderr, "snipd: %s: %s\n", bad ? bad : "?", why);
    } else {
        sw_log_set_level((enum sw_log_level)cfg.log_level);
        code = snipd_command(&cfg, &rf, &ba);
    }
    svc_config_free(&cfg);
    return code;
}
