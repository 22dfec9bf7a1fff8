/* llm/provider: the small interface every model backend implements (the
 * OpenAI-compatible HTTP client and the offline builtin extractor), and the
 * request/response types that cross it. A provider answers one request
 * with raw text; validation and re-asks happen above it, in llm/call. */
#ifndef LLM_PROVIDER_H
#define LLM_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "llm/schema.h"

/* One chat message. */
struct llm_msg {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
};

/* A request. Everything is borrowed for the duration of complete(). */
struct llm_request {
    const struct llm_schema *schema;
    const char *schema_json; /* llm_schema_json of schema */
    const struct llm_input *in;
    const struct llm_msg *msgs; /* the conversation, re-asks included */
    size_t n_msgs;
    int64_t max_tokens;  /* completion cap; 0 = provider default */
    int64_t deadline_ms; /* sw_mono_ms() deadline; 0 = none */
};

/* A response. content is owned by the holder (llm_response_clear). */
struct llm_response {
    char *content; /* the raw answer, NUL-terminated */
    size_t len;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int http_tries; /* HTTP requests made (retries included); 0 builtin */
    char *error;    /* on failure, a message without secrets; else NULL */
    /* The structured-output mode the request went out in: "json_schema",
     * "tools" or "json_object"; NULL from the builtin. A static string. */
    const char *mode;
};

/* llm_response_clear frees the response's strings and zeroes it. */
void llm_response_clear(struct llm_response *r);

struct llm_provider;

struct llm_provider_ops {
    /* complete answers r into *out (zeroed by the caller). Errors:
     * SW_EPROVIDER (HTTP or protocol failure after retries, message in
     * out->error), SW_ETIMEOUT (deadline), SW_ENOMEM. On error out may
     * still carry tokens and error text; the caller clears it. Must be
     * thread-safe. */
    sw_err (*complete)(struct llm_provider *p, const struct llm_request *r,
                       struct llm_response *out);
    void (*destroy)(struct llm_provider *p);
};

struct llm_provider {
    const struct llm_provider_ops *ops;
    char *name;  /* "builtin" or the endpoint's host */
    char *model; /* "builtin-v1" or the model name */
    int no_cost; /* 1: calls cost nothing (the builtin), so no token budget
                  * applies to them and they never count against one */
    void *impl;
};

/* llm_provider_complete calls p->ops->complete. */
SW_MUST_CHECK sw_err llm_provider_complete(struct llm_provider *p,
                                           const struct llm_request *r,
                                           struct llm_response *out);

/* llm_provider_free destroys *p and sets it to NULL; NULL is fine. No call
 * may be in flight. */
void llm_provider_free(struct llm_provider **p);

/* llm_provider_builtin_new creates the offline deterministic extractor
 * (llm/builtin.h). The caller frees it with llm_provider_free. SW_ENOMEM. */
SW_MUST_CHECK sw_err llm_provider_builtin_new(struct llm_provider **out);

/* Options of the OpenAI-compatible provider. Strings are copied. */
struct llm_openai_opts {
    const char *base_url; /* "https://api.openai.com/v1"; required */
    const char *model;    /* required */
    const char *api_key;  /* the secret itself; NULL = none. Never logged */
    int64_t timeout_ms;   /* per HTTP request [60000] */
    int64_t connect_timeout_ms; /* [10000] */
    int max_http_retries;       /* 429/5xx/transport retries [3]; 0 means
                                 * the default, a negative value none */
    int64_t backoff_base_ms;    /* first backoff, doubled each retry [500] */
    int64_t backoff_max_ms;     /* cap of one backoff or Retry-After [30000] */
    int max_concurrency;        /* requests in flight at once [4] */
    int64_t mode_retry_ms;      /* how long a step-down of the structured-output
                                 * mode lasts before json_schema is tried again
                                 * [600000] */
};

/* llm_provider_openai_new creates a provider for any OpenAI-compatible
 * Chat Completions endpoint. It asks for response_format json_schema
 * (strict) and steps down to tool calling, then to JSON mode, only when the
 * server answers 400 with an "unsupported_*" error code whose param names
 * the mode's parameter (response_format, tools); any other 400 is an error
 * of that request. A step-down is logged, shows in every answer's mode
 * (and so in the journal), and lasts mode_retry_ms, after which json_schema
 * is tried again. 429 answers pause every request of the provider until
 * the server's Retry-After (seconds or an HTTP date) or x-ratelimit-reset
 * hint, capped by backoff_max_ms. Error text taken from the server has the
 * API key and anything shaped like a bearer token or "sk-" key replaced by
 * "[redacted]". Connections are
 * reused (a pool of max_concurrency libcurl handles, which also bounds
 * concurrency). Call curl_global_init once per process before threads start
 * (llm_http_global_init). SW_EINVAL (no base_url/model), SW_ENOMEM. */
SW_MUST_CHECK sw_err llm_provider_openai_new(const struct llm_openai_opts *o,
                                             struct llm_provider **out);

/* llm_http_global_init initialises libcurl once per process; idempotent
 * and thread-safe. SW_EINTERNAL if libcurl cannot start. */
SW_MUST_CHECK sw_err llm_http_global_init(void);

/* llm_key_load reads an API key: from the file path (trimmed of
 * whitespace) if path is set, else from the environment variable env_name.
 * *out (sw_free; NULL when neither gives a key) never appears in logs.
 * SW_EIO (unreadable file), SW_EINVAL (empty file), SW_ENOMEM. */
SW_MUST_CHECK sw_err llm_key_load(const char *path, const char *env_name,
                                  char **out);

#endif
