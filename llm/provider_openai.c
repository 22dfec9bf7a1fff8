/* llm/provider_openai: any OpenAI-compatible Chat Completions endpoint over
 * libcurl. Structured output is asked for with response_format json_schema
 * (strict); servers that refuse it with a 400 get tool calling, then JSON
 * mode. 429 honours Retry-After, 5xx and transport errors back off
 * exponentially with jitter, all within the request's deadline. A pool of
 * curl handles reuses connections and bounds concurrency. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "llm/provider.h"

#define LLM_OA_MAX_BODY (8u << 20)

enum llm_oa_mode {
    LLM_OA_SCHEMA = 0, /* response_format json_schema strict */
    LLM_OA_TOOLS = 1,  /* one forced function call */
    LLM_OA_JSON = 2,   /* response_format json_object */
};

struct llm_oa {
    char *url;
    char *auth; /* "Authorization: Bearer ..."; NULL without a key */
    struct llm_openai_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURL **pool; /* free handles */
    int n_free;
    int mode; /* enum llm_oa_mode, under mu */
};

static pthread_once_t llm_http_once = PTHREAD_ONCE_INIT;
static CURLcode llm_http_init_rc = CURLE_OK;

static void llm_http_init_once(void)
{
    llm_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

sw_err llm_http_global_init(void)
{
    pthread_once(&llm_http_once, llm_http_init_once);
    return llm_http_init_rc == CURLE_OK ? SW_OK : SW_EINTERNAL;
}

/* --- Handles ----------------------------------------------------------- */

static CURL *llm_oa_acquire(struct llm_oa *p)
{
    CURL *h;

    pthread_mutex_lock(&p->mu);
    while (p->n_free == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    h = p->pool[--p->n_free];
    pthread_mutex_unlock(&p->mu);
    if (h == NULL)
        h = curl_easy_init();
    else
        curl_easy_reset(h); /* keeps the connection cache */
    return h;
}

static void llm_oa_release(struct llm_oa *p, CURL *h)
{
    pthread_mutex_lock(&p->mu);
    p->pool[p->n_free++] = h; /* NULL is kept: a slot to init later */
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* --- Request body ------------------------------------------------------ */

static json_t *llm_oa_body(struct llm_oa *p, const struct llm_request *r,
                           int mode)
{
    json_t *b = json_object(), *msgs = json_array(), *schema, *x;
    json_error_t jerr;
    size_t i;
    int bad = b == NULL || msgs == NULL;

    schema = json_loads(r->schema_json, 0, &jerr);
    bad |= schema == NULL;
    for (i = 0; !bad && i < r->n_msgs; i++) {
        x = json_pack("{s:s,s:s}", "role", r->msgs[i].role, "content",
                      r->msgs[i].content);
        bad |= x == NULL || json_array_append_new(msgs, x) != 0;
    }
    if (!bad) {
        bad |= json_object_set_new(b, "model", json_string(p->o.model)) != 0;
        bad |= json_object_set_new(b, "messages", msgs) != 0;
        msgs = NULL;
        bad |= json_object_set_new(b, "temperature", json_real(0.0)) != 0;
        if (r->max_tokens > 0)
            bad |= json_object_set_new(b, "max_tokens",
                                       json_integer(r->max_tokens)) != 0;
    }
    if (!bad && mode == LLM_OA_SCHEMA) {
        x = json_pack("{s:s,s:{s:s,s:b,s:O}}", "type", "json_schema",
                      "json_schema", "name", r->schema->name, "strict", 1,
                      "schema", schema);
        bad |= x == NULL || json_object_set_new(b, "response_format", x) != 0;
    } else if (!bad && mode == LLM_OA_TOOLS) {
        x = json_pack("[{s:s,s:{s:s,s:s,s:b,s:O}}]", "type", "function",
                      "function", "name", r->schema->name, "description",
                      "Return the answer.", "strict", 1, "parameters", schema);
        bad |= x == NULL || json_object_set_new(b, "tools", x) != 0;
        x = json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name",
                      r->schema->name);
        bad |= x == NULL || json_object_set_new(b, "tool_choice", x) != 0;
    } else if (!bad) {
        x = json_pack("{s:s}", "type", "json_object");
        bad |= x == NULL || json_object_set_new(b, "response_format", x) != 0;
    }
    json_decref(schema);
    json_decref(msgs);
    if (bad) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* --- Transfer ---------------------------------------------------------- */

struct llm_oa_xfer {
    struct sw_buf body;
    int64_t retry_after_ms; /* -1 when absent */
};

static size_t llm_oa_write(char *ptr, size_t size, size_t n, void *arg)
{
    struct llm_oa_xfer *x = arg;

    if (sw_buf_add(&x->body, ptr, size * n) != SW_OK)
        return 0; /* aborts the transfer: too big or out of memory */
    return size * n;
}

static size_t llm_oa_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct llm_oa_xfer *x = arg;
    size_t len = size * n, k = 12, e;
    int64_t v;

    if (len > k && strncasecmp(ptr, "retry-after:", k) == 0) {
        while (k < len && ptr[k] == ' ')
            k++;
        e = k;
        while (e < len && ptr[e] >= '0' && ptr[e] <= '9')
            e++;
        if (e > k && sw_parse_i64(ptr + k, e - k, 0, 86400, &v) == SW_OK)
            x->retry_after_ms = v * 1000;
    }
    return len;
}

static void llm_oa_sleep(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* llm_oa_backoff: base * 2^try, capped, with up to 50% random jitter. */
static int64_t llm_oa_backoff(const struct llm_oa *p, int try)
{
    int64_t d = p->o.backoff_base_ms;
    uint32_t r = 0;
    int i;

    for (i = 0; i < try && d < p->o.backoff_max_ms; i++)
        d *= 2;
    if (d > p->o.backoff_max_ms)
        d = p->o.backoff_max_ms;
    if (sw_random(&r, sizeof(r)) == SW_OK && d > 1)
        d = d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
    return d;
}

/* llm_oa_parse reads content (or the tool call's arguments) and usage from
 * a 200 body. */
static sw_err llm_oa_parse(const char *body, size_t n, struct llm_response *out)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, n, 0, &jerr), *msg, *c, *u;
    const char *s = NULL;
    size_t sl = 0;
    sw_err rc = SW_OK;

    if (j == NULL) {
        out->error = sw_strdup("the server's answer is not JSON");
        return SW_EPROVIDER;
    }
    u = json_object_get(j, "usage");
    if (json_is_object(u)) {
        out->prompt_tokens =
            json_integer_value(json_object_get(u, "prompt_tokens"));
        out->completion_tokens =
            json_integer_value(json_object_get(u, "completion_tokens"));
    }
    msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0),
                          "message");
    c = json_object_get(msg, "content");
    if (json_is_string(c) && json_string_length(c) > 0) {
        s = json_string_value(c);
        sl = json_string_length(c);
    } else {
        c = json_object_get(
            json_object_get(
                json_array_get(json_object_get(msg, "tool_calls"), 0),
                "function"),
            "arguments");
        if (json_is_string(c)) {
            s = json_string_value(c);
            sl = json_string_length(c);
        }
    }
    if (s == NULL) {
        out->error = sw_strdup("the server's answer has no message content");
        rc = SW_EPROVIDER;
    } else {
        out->content = sw_strndup(s, sl);
        out->len = sl;
        if (out->content == NULL)
            rc = SW_ENOMEM;
    }
    json_decref(j);
    return rc;
}

/* llm_oa_rejects_mode: a 400 whose message names the structured-output
 * feature we used means the server lacks it. */
static int llm_oa_rejects_mode(const char *body)
{
    return strstr(body, "response_format") || strstr(body, "json_schema") ||
           strstr(body, "tool") || strstr(body, "not supported");
}

static sw_err llm_oa_complete(struct llm_provider *pv,
                              const struct llm_request *r,
                              struct llm_response *out)
{
    struct llm_oa *p = pv->impl;
    struct llm_oa_xfer x;
    struct curl_slist *hdrs = NULL;
    json_t *body = NULL;
    char *payload = NULL, errbuf[CURL_ERROR_SIZE];
    CURL *h = NULL;
    CURLcode cc;
    long status = 0;
    int64_t now, left, wait;
    int try = 0, mode;
    sw_err rc = SW_EPROVIDER;

    sw_buf_init(&x.body, LLM_OA_MAX_BODY);
    h = llm_oa_acquire(p);
    if (h == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (hdrs && p->auth)
        hdrs = curl_slist_append(hdrs, p->auth);
    if (hdrs == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        mode = p->mode;
        pthread_mutex_unlock(&p->mu);
        json_decref(body);
        free(payload);
        payload = NULL;
        body = llm_oa_body(p, r, mode);
        payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
        if (payload == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        now = sw_mono_ms();
        left = p->o.timeout_ms;
        if (r->deadline_ms > 0) {
            if (r->deadline_ms - now <= 0) {
                rc = SW_ETIMEOUT;
                goto out;
            }
            if (r->deadline_ms - now < left)
                left = r->deadline_ms - now;
        }
        sw_buf_reset(&x.body);
        x.retry_after_ms = -1;
        errbuf[0] = '\0';
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, p->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, llm_oa_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, llm_oa_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)p->o.connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(h);
        out->http_tries++;
        status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status == 200) {
            rc = llm_oa_parse(sw_buf_str(&x.body), sw_buf_len(&x.body), out);
            goto out;
        }
        if (cc == CURLE_OK && status == 400 && mode < LLM_OA_JSON &&
            llm_oa_rejects_mode(sw_buf_str(&x.body))) {
            pthread_mutex_lock(&p->mu);
            if (p->mode == mode)
                p->mode = mode + 1;
            pthread_mutex_unlock(&p->mu);
            sw_log_warn("llm.openai_fallback", "from=%d to=%d", mode, mode + 1);
            continue; /* a downgrade is not a retry */
        }
        if (cc == CURLE_OK && status != 429 && status < 500) {
            sw_free(out->error);
            out->error = sw_strndup(
                sw_buf_str(&x.body),
                sw_buf_len(&x.body) > 300 ? 300 : sw_buf_len(&x.body));
            sw_log_warn("llm.openai_http", "status=%ld", status);
            rc = SW_EPROVIDER;
            goto out;
        }
        /* Retryable: 429, 5xx, transport errors and timeouts. */
        sw_log_warn("llm.openai_retry", "try=%d status=%ld curl=%d err=\"%s\"",
                    try, status, (int)cc, errbuf);
        rc = cc == CURLE_OPERATION_TIMEDOUT ? SW_ETIMEOUT : SW_EPROVIDER;
        sw_free(out->error);
        out->error = sw_strdup(cc != CURLE_OK  ? curl_easy_strerror(cc)
                               : status == 429 ? "rate limited (429)"
                                               : "server error (5xx)");
        if (try >= p->o.max_http_retries)
            goto out;
        wait =
            x.retry_after_ms >= 0 ? x.retry_after_ms : llm_oa_backoff(p, try);
        if (wait > p->o.backoff_max_ms)
            wait = p->o.backoff_max_ms;
        if (r->deadline_ms > 0 && sw_mono_ms() + wait >= r->deadline_ms) {
            rc = SW_ETIMEOUT;
            goto out;
        }
        llm_oa_sleep(wait);
        try++;
    }
out:
    if (h)
        curl_easy_reset(h); /* drops pointers to our buffers */
    llm_oa_release(p, h);
    curl_slist_free_all(hdrs);
    json_decref(body);
    free(payload);
    sw_buf_free(&x.body);
    return rc;
}

static void llm_oa_destroy(struct llm_provider *pv)
{
    struct llm_oa *p = pv->impl;
    int i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n_free; i++)
        if (p->pool[i])
            curl_easy_cleanup(p->pool[i]);
    sw_free(p->pool);
    if (p->auth) {
        memset(p->auth, 0, strlen(p->auth));
        sw_free(p->auth);
    }
    sw_free(p->url);
    sw_free((char *)p->o.model);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    sw_free(p);
    pv->impl = NULL;
}

static const struct llm_provider_ops llm_oa_ops = {
    llm_oa_complete,
    llm_oa_destroy,
};

sw_err llm_provider_openai_new(const struct llm_openai_opts *o,
                               struct llm_provider **out)
{
    struct llm_provider *pv = NULL;
    struct llm_oa *p = NULL;
    struct sw_buf b;
    const char *host, *e;
    size_t bl;
    sw_err rc;

    if (o == NULL || o->base_url == NULL || o->model == NULL ||
        o->base_url[0] == '\0' || o->model[0] == '\0')
        return SW_EINVAL;
    rc = llm_http_global_init();
    if (rc)
        return rc;
    sw_buf_init(&b, 4096);
    pv = sw_calloc(1, sizeof(*pv));
    p = sw_calloc(1, sizeof(*p));
    if (pv == NULL || p == NULL) {
        sw_free(pv);
        sw_free(p);
        return SW_ENOMEM;
    }
    pv->ops = &llm_oa_ops;
    pv->impl = p;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->o = *o;
    p->o.base_url = NULL;
    p->o.api_key = NULL;
    p->o.model = sw_strdup(o->model);
    if (p->o.timeout_ms <= 0)
        p->o.timeout_ms = 60000;
    if (p->o.connect_timeout_ms <= 0)
        p->o.connect_timeout_ms = 10000;
    if (p->o.max_http_retries < 0)
        p->o.max_http_retries = 0;
    if (p->o.backoff_base_ms <= 0)
        p->o.backoff_base_ms = 500;
    if (p->o.backoff_max_ms <= 0)
        p->o.backoff_max_ms = 30000;
    if (p->o.max_concurrency <= 0)
        p->o.max_concurrency = 4;
    p->pool = sw_calloc((size_t)p->o.max_concurrency, sizeof(*p->pool));
    p->n_free = p->o.max_concurrency; /* NULL slots, created on first use */
    bl = strlen(o->base_url);
    while (bl > 0 && o->base_url[bl - 1] == '/')
        bl--;
    rc = sw_buf_add(&b, o->base_url, bl);
    if (rc == SW_OK)
        rc = sw_buf_addstr(&b, "/chat/completions");
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &p->url, NULL);
    if (rc == SW_OK && o->api_key && o->api_key[0]) {
        rc = sw_buf_printf(&b, "Authorization: Bearer %s", o->api_key);
        if (rc == SW_OK)
            rc = sw_buf_take(&b, &p->auth, NULL);
    }
    /* The provider's display name is the endpoint's host. */
    host = strstr(o->base_url, "://");
    host = host ? host + 3 : o->base_url;
    e = host;
    while (*e && *e != '/')
        e++;
    pv->name = sw_strndup(host, (size_t)(e - host));
    pv->model = sw_strdup(o->model);
    if (rc == SW_OK && (p->pool == NULL || p->o.model == NULL ||
                        pv->name == NULL || pv->model == NULL))
        rc = SW_ENOMEM;
    sw_buf_free(&b);
    if (rc) {
        llm_provider_free(&pv);
        return rc;
    }
    *out = pv;
    return SW_OK;
}
