/* llm/http_int: the HTTP plumbing shared by the OpenAI-compatible clients
 * (chat completions, embeddings): a pool of libcurl handles that reuses
 * connections and bounds concurrency, and a JSON POST that retries 429
 * (honouring Retry-After and x-ratelimit-reset-*, and pausing every
 * request of the client meanwhile), 5xx and transport errors with jittered
 * exponential backoff from the moment of failure, within a deadline.
 * Internal to llm/. */
#ifndef LLM_HTTP_INT_H
#define LLM_HTTP_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "llm/provider.h"

/* A handle pool with the retry settings of one client. */
struct llm__http {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURL **pool; /* free handles (NULL slots are created on first use) */
    int n_free;
    int64_t timeout_ms, connect_timeout_ms, backoff_base_ms, backoff_max_ms;
    int max_retries;
    int64_t pause_until_ms; /* after a 429, no request before this (mono
                             * clock); under mu */
};

/* llm__http_init prepares h from the timeouts, retries and concurrency of
 * o (defaults applied as documented in llm_openai_opts) and writes the
 * completed settings back into *o. Calls llm_http_global_init. Errors:
 * SW_ENOMEM, SW_EINTERNAL. Free with llm__http_free (also after errors). */
SW_MUST_CHECK sw_err llm__http_init(struct llm__http *h,
                                    struct llm_openai_opts *o);

/* llm__http_free releases the pool; no request may be in flight. */
void llm__http_free(struct llm__http *h);

/* llm__http_auth_header builds "Authorization: Bearer KEY" into *out
 * (sw_free; wipe with llm__http_wipe), or NULL when key is NULL or empty.
 * Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err llm__http_auth_header(const char *key, char **out);

/* llm__http_wipe zeroes and frees a secret string; NULL is fine. */
void llm__http_wipe(char *s);

/* llm__http_url joins base_url (trailing slashes dropped) and path into
 * *out (sw_free). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err llm__http_url(const char *base_url, const char *path,
                                   char **out);

/* llm__http_duration_ms parses a wait hint of n bytes at s: bare seconds
 * ("30", "0.5") or a duration ("20ms", "1s", "6m0s", "1h2m3.5s", the form
 * of x-ratelimit-reset-*), to milliseconds; -1 when it is neither or over
 * a day. */
int64_t llm__http_duration_ms(const char *s, size_t n);

/* llm__http_redact returns a copy of s[0..n) (sw_free) in which secret
 * (when not NULL or empty) and anything shaped like an API key ("sk-" and
 * at least 8 key characters) or a bearer token ("Bearer " and a token) is
 * replaced by "[redacted]"; NULL when out of memory. Error text from a
 * server goes through it before it is logged or stored. */
char *llm__http_redact(const char *s, size_t n, const char *secret);

/* llm__http_post POSTs the JSON payload to url with the Content-Type
 * header and auth (the header line, or NULL), retrying 429/5xx/transport
 * errors up to h->max_retries times. The timeout of each request is
 * h->timeout_ms, cut to deadline_ms (sw_mono_ms clock; 0 = none).
 * Returns SW_OK when the server answered with any other status: *status
 * and body (reset first; at most its cap) hold the answer. Errors:
 * SW_EPROVIDER (retries exhausted), SW_ETIMEOUT (deadline or the last try
 * timed out), SW_ENOMEM. On errors *err (if not NULL; replaced, sw_free)
 * gets a message without secrets. *tries is incremented per request. */
SW_MUST_CHECK sw_err llm__http_post(struct llm__http *h, const char *url,
                                    const char *auth, const char *payload,
                                    int64_t deadline_ms, struct sw_buf *body,
                                    long *status, int *tries, char **err);

#endif
