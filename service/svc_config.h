/* svc_config: snipd's command line. Every flag has an environment-variable
 * equivalent (SNIPD_LISTEN for --listen, ...) and a config-file key (listen
 * for --listen, in the file named by --config or SNIPD_CONFIG); flags win
 * over the environment, which wins over the file, which wins over the
 * built-in defaults. */
#ifndef SVC_CONFIG_H
#define SVC_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "base/sw_err.h"

enum svc_command {
    SVC_CMD_SERVE = 0,
    SVC_CMD_CHECK = 1,
    SVC_CMD_RERANK = 2,
    SVC_CMD_HELP = 3,
    SVC_CMD_VERSION = 4,
    SVC_CMD_REEXTRACT = 5,
    SVC_CMD_BACKUP = 6,  /* svc_backup.h */
    SVC_CMD_RESTORE = 7, /* svc_backup.h */
};

struct svc_config {
    enum svc_command cmd;
    const char *listen;   /* default 127.0.0.1:50051 */
    const char *data_dir; /* default ./data */
    /* The LMDB map grows by itself up to this many bytes; then writes fail
     * with RESOURCE_EXHAUSTED (store.h store_update) [1 TiB]. */
    int64_t max_map_bytes;
    int purge_slice;           /* store_opts.purge_slice */
    int threads;               /* polling threads, default 2 */
    int workers;               /* handler workers, default 8 */
    const char *tls_cert;      /* PEM file, or NULL */
    const char *tls_key;       /* PEM file, or NULL */
    const char *tls_client_ca; /* PEM CA file: mutual TLS; or NULL */
    int64_t max_message_bytes; /* default 32 MiB */
    int64_t grace_ms;          /* SIGTERM drain time, default 10000 */
    int64_t stream_idle_ms;    /* client stream idle limit, default 30000 */
    int64_t stats_poll_ms;     /* statistics publisher's poll, default 200 */
    int64_t stats_save_s;      /* statistics on disk at most this often;
                                  0: none; default 600 */
    int stats_follow;          /* new mail followed without a full build;
                                  default 1 */
    int light_workers;         /* threads for cheap calls, default 2 */
    int poll_rt;               /* polling threads at SCHED_RR 1, default 0 */
    int team_max_calls;        /* 0: half the workers */
    int team_max_streams;      /* default 64 */
    int log_level;             /* sw_log level, default info */
    /* The content library (ingest/pipeline.h ingest_pipeline_opts): files
     * kept up to this size [16 MiB], and bytes kept per team [10 GiB];
     * 0 keeps no file / sets no quota. */
    int64_t content_max_file_bytes;
    int64_t content_quota_bytes;
    int demo; /* create the demo team on first start, default 1 */
    /* load the bundled sample into that new team (svc_demo.h) [1] */
    int demo_sample;
    /* The extraction worker's LLM (llm/provider.h, llm/call.h). The key of
     * the openai provider is read from llm_key_file, else from the
     * environment variable SNIPD_LLM_KEY; it is never logged. */
    const char *llm_provider;       /* "builtin" (default) or "openai" */
    const char *llm_base_url;       /* [https://api.openai.com/v1] */
    const char *llm_model;          /* [gpt-4o-mini] */
    const char *llm_key_file;       /* or NULL */
    int llm_max_retries;            /* re-asks per call [2] */
    int64_t llm_timeout_ms;         /* per HTTP request [60000] */
    int64_t llm_daily_token_budget; /* per team per UTC day; 0 = none */
    int extract_workers;            /* extraction threads [2] */
    /* The snippet index's embedder (ranker/embed.h). The openai key is
     * read from embed_key_file, else from SNIPD_EMBED_KEY; never logged. */
    const char *embedder;       /* "builtin" (default) or "openai" */
    const char *embed_base_url; /* [https://api.openai.com/v1] */
    const char *embed_model;    /* [text-embedding-3-small] */
    const char *embed_key_file; /* or NULL */
    int embed_dim;              /* 0: 384 builtin, 1536 openai */
    /* snipd reextract: only this team (NULL = all) and mail sent at or
     * after since_ms. */
    const char *team;
    int64_t since_ms;
    /* Suggest's exploration bonus, percent of its default weights
     * (ranker/hist.h rank_params): 0 shows only what has proven itself,
     * 200 tries new snippets twice as hard [100]. */
    int explore_percent;
    /* Suggest applies the serving model's query adapter (ranker/adapter.h)
     * when it has one; 0 compares against the plain embedder [1]. */
    int adapter;
    /* Metrics and logs (service/svc_metrics.h). */
    const char *metrics_listen; /* Prometheus endpoint host:port; NULL off */
    int access_log;             /* one event=rpc line per call [1] */
    int metrics_teams;          /* teams with their own label [20] */
    /* Mailbox sync (ingest/imap_sync.h): time between syncs of a mailbox
     * [60000], threads syncing mailboxes at once [2], and the timeout of
     * an IMAP connect or read [60]. */
    int64_t mailbox_poll_ms;
    int mailbox_threads;
    int mailbox_timeout_s;
    /* The config file read (--config, SNIPD_CONFIG), or NULL. */
    const char *config_file;
    /* Owned by the config (svc_config_free): the file's text, which the
     * string options read from it point into, and an error's location. */
    char *file_text;
    char *file_where;
};

/* svc_config_parse fills *c from argv, the environment and the config
 * file (`key = value` lines, keys the flags without their dashes, `#`
 * comments). Strings point into argv, the environment or c->file_text.
 * SW_EINVAL with a message in *why (static storage) and what it is about
 * in *bad (argv, the environment, or "FILE:LINE: key" in c->file_where)
 * for an unknown flag or key or a bad value; SW_ENOTFOUND or SW_EIO when
 * the config file cannot be read (*bad names it). Call svc_config_free
 * afterwards whatever the result; *why and *bad live until then. */
SW_MUST_CHECK sw_err svc_config_parse(int argc, char **argv,
                                      struct svc_config *c, const char **why,
                                      const char **bad);

/* svc_config_free releases what svc_config_parse allocated (the config
 * file's text); strings read from the file are invalid afterwards. Safe on
 * a zeroed or already freed config. */
void svc_config_free(struct svc_config *c);

/* svc_config_usage prints snipd --help to f. */
void svc_config_usage(FILE *f);

#endif
