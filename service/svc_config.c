/* svc_config: flags, environment variables and the config file for snipd,
 * described by one table so that parsing, the environment names, the file's
 * keys and --help agree. */
#include "service/svc_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/store.h"

/* A config file larger than this is refused (it is a few dozen lines). */
#define SVC_CONFIG_MAX_BYTES (1024 * 1024)

enum svc_opt_type {
    SVC_OPT_STR,
    SVC_OPT_INT,
    SVC_OPT_BOOL,
    SVC_OPT_LEVEL,
    SVC_OPT_I64,
    SVC_OPT_CONFIG /* --config: read before the others, not a file key */
};

struct svc_opt {
    const char *flag;
    const char *env;
    enum svc_opt_type type;
    size_t offset;
    int64_t min, max;
    const char *help;
};

#define SVC_OFF(f) offsetof(struct svc_config, f)

static const struct svc_opt svc_opts[] = {
    {"--config", "SNIPD_CONFIG", SVC_OPT_CONFIG, SVC_OFF(config_file), 0, 0,
     "read settings from FILE: `key = value` lines, keys the\n"
     "                         flags below without --, # comments; flags\n"
     "                         win over the environment, which wins over\n"
     "                         FILE [none]"},
    {"--listen", "SNIPD_LISTEN", SVC_OPT_STR, SVC_OFF(listen), 0, 0,
     "address to listen on (host:port; port 0 picks a free one)\n"
     "                         [127.0.0.1:50051]"},
    {"--data-dir", "SNIPD_DATA_DIR", SVC_OPT_STR, SVC_OFF(data_dir), 0, 0,
     "LMDB data directory; serve creates it if missing (not\n"
     "                         its parent), other commands need a store "
     "[./data]"},
    {"--max-map-bytes", "SNIPD_MAX_MAP_BYTES", SVC_OPT_I64,
     SVC_OFF(max_map_bytes), 1 << 20, INT64_MAX / 4,
     "the LMDB map grows by itself up to this; then writes\n"
     "                         get RESOURCE_EXHAUSTED [1099511627776 = 1 TiB]"},
    {"--purge-slice", "SNIPD_PURGE_SLICE", SVC_OPT_INT, SVC_OFF(purge_slice), 1,
     1 << 30,
     "records deleted per write transaction when a team is\n"
     "                         deleted, so that other teams' writes interleave "
     "[20000]"},
    {"--threads", "SNIPD_THREADS", SVC_OPT_INT, SVC_OFF(threads), 1, 64,
     "gRPC polling threads, one completion queue each [2]"},
    {"--workers", "SNIPD_WORKERS", SVC_OPT_INT, SVC_OFF(workers), 1, 256,
     "worker threads for handlers that may block [8]"},
    {"--tls-cert", "SNIPD_TLS_CERT", SVC_OPT_STR, SVC_OFF(tls_cert), 0, 0,
     "PEM certificate chain; with --tls-key, serve TLS"},
    {"--tls-key", "SNIPD_TLS_KEY", SVC_OPT_STR, SVC_OFF(tls_key), 0, 0,
     "PEM private key for --tls-cert; SIGHUP re-reads both"},
    {"--tls-client-ca", "SNIPD_TLS_CLIENT_CA", SVC_OPT_STR,
     SVC_OFF(tls_client_ca), 0, 0,
     "PEM CA certificates: clients must present a certificate\n"
     "                         signed by one (mutual TLS) [off]"},
    {"--max-message-bytes", "SNIPD_MAX_MESSAGE_BYTES", SVC_OPT_INT,
     SVC_OFF(max_message_bytes), 1024, INT32_MAX,
     "largest request message accepted; larger ones get\n"
     "                         RESOURCE_EXHAUSTED [33554432]"},
    {"--grace-ms", "SNIPD_GRACE_MS", SVC_OPT_INT, SVC_OFF(grace_ms), 0, 3600000,
     "on SIGTERM, time calls in flight get to finish [10000]"},
    {"--light-workers", "SNIPD_LIGHT_WORKERS", SVC_OPT_INT,
     SVC_OFF(light_workers), 1, 64,
     "threads for cheap calls (reads, team and admin calls),\n"
     "                         which never wait behind --workers' calls [2]"},
    {"--poll-rt", "SNIPD_POLL_RT", SVC_OPT_INT, SVC_OFF(poll_rt), 0, 1,
     "1: the polling threads (network I/O, Health and GetMyTeam)\n"
     "                         run at real-time priority SCHED_RR 1, ahead of\n"
     "                         busy workers; needs CAP_SYS_NICE or "
     "RLIMIT_RTPRIO\n"
     "                         >= 1, else a warning and normal priority [0]"},
    {"--team-max-calls", "SNIPD_TEAM_MAX_CALLS", SVC_OPT_INT,
     SVC_OFF(team_max_calls), 0, 4096,
     "ingest, Suggest, search and rerank calls one team may\n"
     "                         have in progress; more get RESOURCE_EXHAUSTED\n"
     "                         [0 = half of --workers, at least 1]"},
    {"--team-max-streams", "SNIPD_TEAM_MAX_STREAMS", SVC_OPT_INT,
     SVC_OFF(team_max_streams), 1, 65536,
     "IngestEmails streams one team may have open [64]"},
    {"--stream-idle-ms", "SNIPD_STREAM_IDLE_MS", SVC_OPT_I64,
     SVC_OFF(stream_idle_ms), 100, 86400000,
     "a stream whose client sends (IngestEmails) or reads\n"
     "                         (ReadContent) nothing this long ends with\n"
     "                         DEADLINE_EXCEEDED [30000]"},
    {"--stats-poll-ms", "SNIPD_STATS_POLL_MS", SVC_OPT_I64,
     SVC_OFF(stats_poll_ms), 10, 3600000,
     "how often the background publisher looks for teams whose\n"
     "                         ranking statistics are older than the store "
     "[200]"},
    {"--stats-follow", "SNIPD_STATS_FOLLOW", SVC_OPT_INT, SVC_OFF(stats_follow),
     0, 1,
     "count new mail by following the store's feeds (1), or by\n"
     "                         full builds only (0: statistics that are a\n"
     "                         function of the store alone) [1]"},
    {"--stats-save-s", "SNIPD_STATS_SAVE_S", SVC_OPT_I64, SVC_OFF(stats_save_s),
     0, 86400,
     "keep each team's ranking statistics in DATA_DIR/stats,\n"
     "                         saved after a full build at most this often\n"
     "                         (sooner after an erasure), so that Suggest\n"
     "                         ranks with them right after a restart [600;\n"
     "                         0 = keep none on disk]"},
    {"--content-max-file-bytes", "SNIPD_CONTENT_MAX_FILE_BYTES", SVC_OPT_I64,
     SVC_OFF(content_max_file_bytes), 0, 16 << 20,
     "an attached file larger than this is kept as text and\n"
     "                         statistics only, not in the content library\n"
     "                         [16777216]"},
    {"--content-quota-bytes", "SNIPD_CONTENT_QUOTA_BYTES", SVC_OPT_I64,
     SVC_OFF(content_quota_bytes), 0, INT64_MAX / 4,
     "bytes of files each team's content library may hold; an\n"
     "                         email whose new files would pass it gets\n"
     "                         RESOURCE_EXHAUSTED; 0 = no quota [10737418240]"},
    {"--log-level", "SNIPD_LOG_LEVEL", SVC_OPT_LEVEL, SVC_OFF(log_level), 0, 0,
     "debug, info, warn or error [info]"},
    {"--demo", "SNIPD_DEMO", SVC_OPT_BOOL, SVC_OFF(demo), 0, 1,
     "1 or 0: create a demo team and key on first start [1]"},
    {"--demo-sample", "SNIPD_DEMO_SAMPLE", SVC_OPT_BOOL, SVC_OFF(demo_sample),
     0, 1,
     "1 or 0: load the bundled sample (a small sales team's mail\n"
     "                         and outcomes) into the new demo team, in the\n"
     "                         background [1]"},
    {"--llm-provider", "SNIPD_LLM_PROVIDER", SVC_OPT_STR, SVC_OFF(llm_provider),
     0, 0,
     "extraction model: builtin (offline, deterministic) or\n"
     "                         openai (any OpenAI-compatible endpoint) "
     "[builtin]"},
    {"--llm-base-url", "SNIPD_LLM_BASE_URL", SVC_OPT_STR, SVC_OFF(llm_base_url),
     0, 0, "openai: endpoint base URL [https://api.openai.com/v1]"},
    {"--llm-model", "SNIPD_LLM_MODEL", SVC_OPT_STR, SVC_OFF(llm_model), 0, 0,
     "openai: model name [gpt-4o-mini]"},
    {"--llm-key-file", "SNIPD_LLM_KEY_FILE", SVC_OPT_STR, SVC_OFF(llm_key_file),
     0, 0,
     "openai: file holding the API key; else the key is\n"
     "                         read from SNIPD_LLM_KEY (never logged)"},
    {"--llm-max-retries", "SNIPD_LLM_MAX_RETRIES", SVC_OPT_INT,
     SVC_OFF(llm_max_retries), 0, 10,
     "re-asks when an answer fails validation [2]"},
    {"--llm-timeout-ms", "SNIPD_LLM_TIMEOUT_MS", SVC_OPT_I64,
     SVC_OFF(llm_timeout_ms), 100, 3600000,
     "openai: timeout of one HTTP request [60000]"},
    {"--extract-workers", "SNIPD_EXTRACT_WORKERS", SVC_OPT_INT,
     SVC_OFF(extract_workers), 1, 64,
     "extraction threads; each team's jobs run one at a time,\n"
     "                         teams take turns on the threads [2]"},
    {"--llm-daily-token-budget", "SNIPD_LLM_DAILY_TOKEN_BUDGET", SVC_OPT_I64,
     SVC_OFF(llm_daily_token_budget), 0, INT64_MAX / 4,
     "tokens per team per UTC day; 0 = no cap [0]"},
    {"--embedder", "SNIPD_EMBEDDER", SVC_OPT_STR, SVC_OFF(embedder), 0, 0,
     "snippet embeddings: builtin (offline) or openai (any\n"
     "                         OpenAI-compatible /v1/embeddings); a change\n"
     "                         re-embeds in the background [builtin]"},
    {"--embed-base-url", "SNIPD_EMBED_BASE_URL", SVC_OPT_STR,
     SVC_OFF(embed_base_url), 0, 0,
     "openai embedder: endpoint base URL [https://api.openai.com/v1]"},
    {"--embed-model", "SNIPD_EMBED_MODEL", SVC_OPT_STR, SVC_OFF(embed_model), 0,
     0, "openai embedder: model [text-embedding-3-small]"},
    {"--embed-key-file", "SNIPD_EMBED_KEY_FILE", SVC_OPT_STR,
     SVC_OFF(embed_key_file), 0, 0,
     "openai embedder: file holding the API key; else read\n"
     "                         from SNIPD_EMBED_KEY (never logged)"},
    {"--embed-dim", "SNIPD_EMBED_DIM", SVC_OPT_INT, SVC_OFF(embed_dim), 1, 4096,
     "embedding dimension; openai answers must match it\n"
     "                         [384 builtin, 1536 openai]"},
    {"--team", "SNIPD_TEAM", SVC_OPT_STR, SVC_OFF(team), 0, 0,
     "reextract: only this team's mail [all teams]"},
    {"--since-ms", "SNIPD_SINCE_MS", SVC_OPT_I64, SVC_OFF(since_ms), 0,
     INT64_MAX / 4, "reextract: only mail sent at or after (Unix ms) [0]"},
    {"--explore-percent", "SNIPD_EXPLORE_PERCENT", SVC_OPT_INT,
     SVC_OFF(explore_percent), 0, 1000,
     "Suggest's share of exploration, percent of the default:\n"
     "                         0 = only what has proven itself [100]"},
    {"--adapter", "SNIPD_ADAPTER", SVC_OPT_INT, SVC_OFF(adapter), 0, 1,
     "Suggest applies the query adapter the nightly job kept\n"
     "                         with the serving model (0: the plain embedder) "
     "[1]"},
    {"--metrics-listen", "SNIPD_METRICS_LISTEN", SVC_OPT_STR,
     SVC_OFF(metrics_listen), 0, 0,
     "serve Prometheus metrics at http://ADDR/metrics (host:port;\n"
     "                         port 0 picks one) [off]"},
    {"--access-log", "SNIPD_ACCESS_LOG", SVC_OPT_BOOL, SVC_OFF(access_log), 0,
     1, "1 or 0: log one event=rpc line per call (info level) [1]"},
    {"--metrics-teams", "SNIPD_METRICS_TEAMS", SVC_OPT_INT,
     SVC_OFF(metrics_teams), 0, 1000,
     "largest teams given their own team label in metrics;\n"
     "                         the rest are summed as team=\"other\" [20]"},
    {"--mailbox-poll-ms", "SNIPD_MAILBOX_POLL_MS", SVC_OPT_I64,
     SVC_OFF(mailbox_poll_ms), 100, 86400000,
     "time between two syncs of a connected IMAP mailbox\n"
     "                         (SyncMailbox syncs at once) [60000]"},
    {"--mailbox-threads", "SNIPD_MAILBOX_THREADS", SVC_OPT_INT,
     SVC_OFF(mailbox_threads), 1, 64, "mailboxes synced at the same time [2]"},
    {"--mailbox-timeout-s", "SNIPD_MAILBOX_TIMEOUT_S", SVC_OPT_INT,
     SVC_OFF(mailbox_timeout_s), 1, 3600,
     "timeout of an IMAP connect or read, in seconds [60]"},
};

#define SVC_NOPTS (sizeof(svc_opts) / sizeof(svc_opts[0]))

static sw_err svc_opt_set(const struct svc_opt *o, const char *v,
                          struct svc_config *c, const char **why)
{
    char *base = (char *)c;
    int64_t n;
    int lvl;

    switch (o->type) {
    case SVC_OPT_STR:
    case SVC_OPT_CONFIG:
        if (v[0] == '\0') {
            *why = "must not be empty";
            return SW_EINVAL;
        }
        *(const char **)(base + o->offset) = v;
        return SW_OK;
    case SVC_OPT_INT:
    case SVC_OPT_BOOL:
    case SVC_OPT_I64:
        if (sw_parse_i64(v, strlen(v), o->min, o->max, &n) != SW_OK) {
            *why = o->type == SVC_OPT_BOOL ? "must be 0 or 1"
                                           : "must be an integer in range";
            return SW_EINVAL;
        }
        if (o->type == SVC_OPT_I64 || o->offset == SVC_OFF(max_message_bytes) ||
            o->offset == SVC_OFF(grace_ms))
            *(int64_t *)(base + o->offset) = n;
        else
            *(int *)(base + o->offset) = (int)n;
        return SW_OK;
    case SVC_OPT_LEVEL:
        lvl = sw_log_parse_level(v);
        if (lvl < 0) {
            *why = "must be debug, info, warn or error";
            return SW_EINVAL;
        }
        *(int *)(base + o->offset) = lvl;
        return SW_OK;
    }
    return SW_EINVAL;
}

/* svc_config_find returns the table row of flag name[0..n), or NULL. */
static const struct svc_opt *svc_config_find(const char *name, size_t n)
{
    size_t k;

    for (k = 0; k < SVC_NOPTS; k++) {
        if (strlen(svc_opts[k].flag) == n &&
            strncmp(svc_opts[k].flag, name, n) == 0)
            return &svc_opts[k];
    }
    return NULL;
}

/* svc_config_path finds the config file to read: the last --config in argv
 * (walked as the flag loop walks it, so a flag's value is never taken for a
 * flag), else $SNIPD_CONFIG, else NULL. A malformed command line is left
 * to the flag loop to report. */
static const char *svc_config_path(int argc, char **argv, int i)
{
    const char *path = NULL, *env;

    for (; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        const struct svc_opt *o = svc_config_find(a, alen);
        if (o == NULL)
            continue;
        if (!eq && i + 1 < argc)
            i++;
        if (o->type == SVC_OPT_CONFIG)
            path = eq ? eq + 1 : argv[i];
    }
    if (path == NULL) {
        env = getenv("SNIPD_CONFIG");
        if (env != NULL && env[0] != '\0')
            path = env;
    }
    return path;
}

/* svc_config_read reads the whole file into c->file_text. */
static sw_err svc_config_read(const char *path, struct svc_config *c)
{
    struct sw_buf b;
    char chunk[4096];
    int fd = -1;
    sw_err rc = SW_OK;

    sw_buf_init(&b, SVC_CONFIG_MAX_BYTES);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? SW_ENOTFOUND : SW_EIO;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = SW_EIO;
            goto out;
        }
        if (r == 0)
            break;
        rc = sw_buf_add(&b, chunk, (size_t)r);
        if (rc)
            goto out;
    }
    rc = sw_buf_take(&b, &c->file_text, NULL);
out:
    if (fd >= 0)
        close(fd);
    sw_buf_free(&b);
    return rc;
}

static int svc_config_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* svc_config_trim cuts the blanks around s[0..*n) and returns the start. */
static char *svc_config_trim(char *s, size_t *n)
{
    while (*n > 0 && svc_config_space(s[0])) {
        s++;
        (*n)--;
    }
    while (*n > 0 && svc_config_space(s[*n - 1]))
        (*n)--;
    return s;
}

/* svc_config_where sets *bad to "FILE:LINE: key" (c->file_where). */
static void svc_config_where(struct svc_config *c, const char *path, int line,
                             const char *key, size_t keylen, const char **bad)
{
    struct sw_buf b;

    sw_buf_init(&b, 8192);
    sw_free(c->file_where);
    c->file_where = NULL;
    if (sw_buf_printf(&b, "%s:%d", path, line) == SW_OK &&
        (keylen == 0 ||
         sw_buf_printf(&b, ": %.*s", (int)keylen, key) == SW_OK) &&
        sw_buf_take(&b, &c->file_where, NULL) == SW_OK)
        *bad = c->file_where;
    else
        *bad = path;
    sw_buf_free(&b);
}

/* svc_config_file applies the config file's `key = value` lines to *c, in
 * place: values are cut out of c->file_text with a NUL. */
static sw_err svc_config_file(const char *path, struct svc_config *c,
                              const char **why, const char **bad)
{
    char *p, *end;
    int line = 0;
    sw_err rc;

    rc = svc_config_read(path, c);
    if (rc) {
        *bad = path;
        *why = rc == SW_ENOTFOUND ? "config file not found"
               : rc == SW_ETOOBIG ? "config file too large"
                                  : "config file cannot be read";
        return SW_EINVAL;
    }
    c->config_file = path;
    p = c->file_text;
    end = p + strlen(p);
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *ln, *eq, *key, *val, *hash;
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), kn, vn;
        const struct svc_opt *o = NULL;
        struct sw_buf flag;

        ln = p;
        p = nl ? nl + 1 : end;
        line++;
        ln = svc_config_trim(ln, &n);
        if (n == 0 || ln[0] == '#')
            continue;
        eq = memchr(ln, '=', n);
        if (eq == NULL) {
            svc_config_where(c, path, line, NULL, 0, bad);
            *why = "expected `key = value`";
            return SW_EINVAL;
        }
        kn = (size_t)(eq - ln);
        key = svc_config_trim(ln, &kn);
        vn = n - (size_t)(eq + 1 - ln);
        val = eq + 1;
        /* A # after a blank starts a comment. */
        for (hash = val; hash < val + vn; hash++) {
            if (*hash == '#' && (hash == val || svc_config_space(hash[-1]))) {
                vn = (size_t)(hash - val);
                break;
            }
        }
        val = svc_config_trim(val, &vn);
        sw_buf_init(&flag, 256);
        if (kn > 0 && sw_buf_printf(&flag, "--%.*s", (int)kn, key) == SW_OK)
            o = svc_config_find(sw_buf_str(&flag), sw_buf_len(&flag));
        sw_buf_free(&flag);
        if (o == NULL || o->type == SVC_OPT_CONFIG) {
            svc_config_where(c, path, line, key, kn, bad);
            *why = o ? "a config file cannot name another"
                     : "unknown key (the flags of snipd --help, without --)";
            return SW_EINVAL;
        }
        val[vn] = '\0';
        rc = svc_opt_set(o, val, c, why);
        if (rc) {
            svc_config_where(c, path, line, key, kn, bad);
            return rc;
        }
    }
    return SW_OK;
}

void svc_config_free(struct svc_config *c)
{
    sw_free(c->file_text);
    c->file_text = NULL;
    sw_free(c->file_where);
    c->file_where = NULL;
}

sw_err svc_config_parse(int argc, char **argv, struct svc_config *c,
                        const char **why, const char **bad)
{
    const char *cfg_path;
    size_t k;
    int i = 1;
    sw_err rc;

    memset(c, 0, sizeof(*c));
    c->cmd = SVC_CMD_SERVE;
    c->listen = "127.0.0.1:50051";
    c->data_dir = "./data";
    c->max_map_bytes = (int64_t)1 << 40;
    c->purge_slice = STORE_PURGE_SLICE;
    c->threads = 2;
    c->workers = 8;
    c->max_message_bytes = 32 * 1024 * 1024;
    c->grace_ms = 10000;
    c->stream_idle_ms = 30000;
    c->stats_poll_ms = 200;
    c->stats_save_s = 600;
    c->stats_follow = 1;
    c->content_max_file_bytes = 16 << 20;
    c->content_quota_bytes = 10LL << 30;
    c->light_workers = 2;
    c->team_max_streams = 64;
    c->log_level = SW_LOG_INFO;
    c->demo = 1;
    c->demo_sample = 1;
    c->explore_percent = 100;
    c->adapter = 1;
    c->access_log = 1;
    c->metrics_teams = 20;
    c->mailbox_poll_ms = 60000;
    c->mailbox_threads = 2;
    c->mailbox_timeout_s = 60;
    c->llm_provider = "builtin";
    c->llm_base_url = "https://api.openai.com/v1";
    c->llm_model = "gpt-4o-mini";
    c->llm_max_retries = 2;
    c->llm_timeout_ms = 60000;
    c->extract_workers = 2;
    c->embedder = "builtin";
    c->embed_base_url = "https://api.openai.com/v1";
    c->embed_model = "text-embedding-3-small";

    if (argc > 1 && argv[1][0] != '-') {
        if (strcmp(argv[1], "serve") == 0)
            c->cmd = SVC_CMD_SERVE;
        else if (strcmp(argv[1], "check") == 0)
            c->cmd = SVC_CMD_CHECK;
        else if (strcmp(argv[1], "rerank") == 0)
            c->cmd = SVC_CMD_RERANK;
        else if (strcmp(argv[1], "reextract") == 0)
            c->cmd = SVC_CMD_REEXTRACT;
        else if (strcmp(argv[1], "backup") == 0)
            c->cmd = SVC_CMD_BACKUP;
        else if (strcmp(argv[1], "restore") == 0)
            c->cmd = SVC_CMD_RESTORE;
        else if (strcmp(argv[1], "help") == 0)
            c->cmd = SVC_CMD_HELP;
        else {
            *bad = argv[1];
            *why = "unknown command (expected serve, check, rerank, "
                   "reextract, backup, restore or help)";
            return SW_EINVAL;
        }
        i = 2;
    }
    /* Defaults, then the file, then the environment, then the flags. */
    cfg_path = svc_config_path(argc, argv, i);
    if (cfg_path != NULL) {
        rc = svc_config_file(cfg_path, c, why, bad);
        if (rc)
            return rc;
    }
    for (k = 0; k < SVC_NOPTS; k++) {
        const char *v = getenv(svc_opts[k].env);
        if (svc_opts[k].type == SVC_OPT_CONFIG)
            continue; /* read above */
        if (v != NULL && v[0] != '\0') {
            rc = svc_opt_set(&svc_opts[k], v, c, why);
            if (rc) {
                *bad = svc_opts[k].env;
                return rc;
            }
        }
    }
    for (; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *eq;
        size_t alen;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            c->cmd = SVC_CMD_HELP;
            return SW_OK;
        }
        if (strcmp(a, "--version") == 0) {
            c->cmd = SVC_CMD_VERSION;
            return SW_OK;
        }
        eq = strchr(a, '=');
        alen = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < SVC_NOPTS; k++) {
            if (strlen(svc_opts[k].flag) == alen &&
                strncmp(svc_opts[k].flag, a, alen) == 0)
                break;
        }
        if (k == SVC_NOPTS) {
            *bad = a;
            *why = "unknown flag (see snipd --help)";
            return SW_EINVAL;
        }
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc) {
                *bad = a;
                *why = "needs a value";
                return SW_EINVAL;
            }
            v = argv[++i];
        }
        rc = svc_opt_set(&svc_opts[k], v, c, why);
        if (rc) {
            *bad = a;
            return rc;
        }
    }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        *bad = c->tls_cert ? "--tls-cert" : "--tls-key";
        *why = "--tls-cert and --tls-key go together";
        return SW_EINVAL;
    }
    if (c->tls_client_ca && c->tls_cert == NULL) {
        *bad = "--tls-client-ca";
        *why = "needs --tls-cert and --tls-key";
        return SW_EINVAL;
    }
    if (strcmp(c->llm_provider, "builtin") != 0 &&
        strcmp(c->llm_provider, "openai") != 0) {
        *bad = "--llm-provider";
        *why = "must be builtin or openai";
        return SW_EINVAL;
    }
    return SW_OK;
}

void svc_config_usage(FILE *f)
{
    size_t k;

    fputs(
        "usage: snipd [serve] [flags]     serve snipwise.v1 over gRPC\n"
        "       snipd check --data-dir DIR  verify the store's invariants\n"
        "       snipd rerank --data-dir DIR run the nightly re-ranking job\n"
        "       snipd reextract --data-dir DIR [--team T] [--since-ms N]\n"
        "                                   queue stored mail for extraction "
        "again\n"
        "                                   (a running snipd picks them up)\n"
        "       snipd backup --data-dir DIR --to FILE\n"
        "                                   compacted copy, also while serving "
        "(mode\n"
        "                                   0600), and FILE.sha256\n"
        "       snipd restore FILE --data-dir NEW\n"
        "                                   check FILE.sha256, restore into a "
        "new\n"
        "                                   or empty NEW (key files are not in "
        "it)\n"
        "       snipd --help | --version\n\n"
        "flags (each also read from the environment variable shown):\n",
        f);
    for (k = 0; k < SVC_NOPTS; k++)
        fprintf(f, "  %-22s %s\n  %-22s   env %s\n", svc_opts[k].flag,
                svc_opts[k].help, "", svc_opts[k].env);
    fputs(
        "\nOn first start snipd creates DATA_DIR/admin.key (mode 0600), the\n"
        "server admin key, and with --demo 1 a demo team whose key is in\n"
        "DATA_DIR/demo.key; with --demo-sample 1 too, a background thread\n"
        "then loads a small sales team's mail and outcomes into it and\n"
        "trains its first model (event=snipd.demo_loaded). SIGTERM or\n"
        "SIGINT drains calls in flight for --grace-ms, then exits 0. SIGHUP\n"
        "re-reads --tls-cert, --tls-key and --tls-client-ca for new\n"
        "connections (event=tls.reloaded; bad files are logged and the old\n"
        "ones kept).\n"
        "\nExtraction workers (--extract-workers) turn ingested mail into\n"
        "snippets and reply outcomes with --llm-provider, teams in turn, so a\n"
        "team's backlog or a stalled call holds one thread only; failing\n"
        "provider calls are retried with backoff and, after 3 failures, done\n"
        "by the builtin extractor.\n",
        f);
}
