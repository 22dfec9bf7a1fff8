/* svc_config: snipd's command line. Every flag has an environment-variable
 * equivalent (SNIPD_LISTEN for --listen, ...); flags win over the
 * environment, which wins over the built-in defaults. */
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
};

struct svc_config {
    enum svc_command cmd;
    const char *listen;        /* default 127.0.0.1:50051 */
    const char *data_dir;      /* default ./data */
    int threads;               /* polling threads, default 2 */
    int workers;               /* handler workers, default 8 */
    const char *tls_cert;      /* PEM file, or NULL */
    const char *tls_key;       /* PEM file, or NULL */
    int64_t max_message_bytes; /* default 32 MiB */
    int64_t grace_ms;          /* SIGTERM drain time, default 10000 */
    int log_level;             /* sw_log level, default info */
    int demo; /* create the demo team on first start, default 1 */
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
};

/* svc_config_parse fills *c from argv and the environment. Strings point
 * into argv or the environment. SW_EINVAL with a message in *why (static or
 * argv storage) for an unknown flag or a bad value. */
SW_MUST_CHECK sw_err svc_config_parse(int argc, char **argv,
                                      struct svc_config *c, const char **why,
                                      const char **bad);

/* svc_config_usage prints snipd --help to f. */
void svc_config_usage(FILE *f);

#endif
