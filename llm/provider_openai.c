/* llm/provider_openai: any OpenAI-compatible Chat Completions endpoint over
 * libcurl. Structured output is asked for with response_format json_schema
 * (strict); servers that say they do not support it (a 400 with an
 * unsupported_* code naming the parameter) get tool calling, then JSON
 * mode, for mode_retry_ms. 429 honours Retry-After, 5xx and transport
 * errors back off exponentially with jitter, all within the request's
 * deadline. A pool of
 * curl handles reuses connections and bounds concurrency (both shared with
 * the embeddings client in llm/http.c). */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "llm/http_int.h"
#include "llm/provider.h"

#define LLM_OA_MAX_BODY (8u << 20)

enum llm_oa_mode {
    LLM_OA_SCHEMA = 0, /* response_format json_schema strict */
    LLM_OA_TOOLS = 1,  /* one forced function call */
    LLM_OA_JSON = 2,   /* response_format json_object */
};

static const char *const llm_oa_mode_name[] = {"json_schema", "tools",
                                               "json_object"};

#define LLM_OA_AUTH_PREFIX "Authorization: Bearer "

struct llm_oa {
    char *url;
    char *auth; /* "Authorization: Bearer ..."; NULL without a key */
    struct llm_openai_opts o;
    struct llm__http http; /* handle pool and retries (http_int.h) */
    pthread_mutex_t mu;
    int mode;        /* enum llm_oa_mode, under mu */
    int64_t down_ms; /* when mode last stepped down (mono), under mu */
};

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

/* llm_oa_rejects_mode says whether a 400 answer means "this server does
 * not support the mode's parameter": its error's code starts with
 * "unsupported_" (OpenAI: unsupported_parameter, unsupported_value) and its
 * param names what the mode sends (response_format..., tools or
 * tool_choice). Words in the message decide nothing: a 400 about the
 * messages, or a schema the server refuses, is an error of this request.
 * *why gets "code param" for the log (static storage of the body). */
static int llm_oa_rejects_mode(const char *body, size_t n, int mode, char *why,
                               size_t cap)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, n, 0, &jerr), *e;
    const char *code, *param;
    int yes = 0;

    e = json_object_get(j, "error");
    code = json_string_value(json_object_get(e, "code"));
    param = json_string_value(json_object_get(e, "param"));
    if (code && param && strncmp(code, "unsupported_", 12) == 0) {
        if (mode == LLM_OA_SCHEMA)
            yes = strncmp(param, "response_format", 15) == 0;
        else if (mode == LLM_OA_TOOLS)
            yes = strncmp(param, "tool", 4) == 0;
        snprintf(why, cap, "%s %s", code, param);
    }
    json_decref(j);
    return yes;
}

/* llm_oa_mode_now returns the mode to use: the current one, or json_schema
 * again once a step-down is older than mode_retry_ms. */
static int llm_oa_mode_now(struct llm_oa *p)
{
    int mode;

    pthread_mutex_lock(&p->mu);
    if (p->mode != LLM_OA_SCHEMA &&
        sw_mono_ms() - p->down_ms >= p->o.mode_retry_ms) {
        sw_log_info("llm.openai_mode", "from=%s to=%s why=retry",
                    llm_oa_mode_name[p->mode], llm_oa_mode_name[LLM_OA_SCHEMA]);
        p->mode = LLM_OA_SCHEMA;
    }
    mode = p->mode;
    pthread_mutex_unlock(&p->mu);
    return mode;
}

/* llm_oa_step_down moves from mode to the next one (unless another
 * request already did). */
static void llm_oa_step_down(struct llm_oa *p, int mode, const char *why)
{
    pthread_mutex_lock(&p->mu);
    if (p->mode == mode) {
        p->mode = mode + 1;
        p->down_ms = sw_mono_ms();
        sw_log_warn("llm.openai_mode", "from=%s to=%s why=\"400 %s\"",
                    llm_oa_mode_name[mode], llm_oa_mode_name[mode + 1], why);
    }
    pthread_mutex_unlock(&p->mu);
}

/* llm_oa_error sets out->error to the first 300 bytes of the server's
 * answer with secrets redacted. */
static sw_err llm_oa_error(struct llm_oa *p, const struct sw_buf *resp,
                           long status, struct llm_response *out)
{
    size_t n = sw_buf_len(resp) > 65536 ? 65536 : sw_buf_len(resp);
    char *red =
        llm__http_redact(sw_buf_str(resp), n,
                         p->auth ? p->auth + strlen(LLM_OA_AUTH_PREFIX) : NULL);
    struct sw_buf b;
    sw_err rc;

    if (red == NULL)
        return SW_ENOMEM;
    /* Redacted whole, then cut: a key across the cut is gone too. */
    if (strlen(red) > 300)
        red[300] = '\0';
    sw_buf_init(&b, 4096);
    rc = sw_buf_printf(&b, "HTTP %ld: %s", status, red);
    sw_free(red);
    sw_free(out->error);
    out->error = NULL;
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &out->error, NULL);
    sw_buf_free(&b);
    return rc;
}

static sw_err llm_oa_complete(struct llm_provider *pv,
                              const struct llm_request *r,
                              struct llm_response *out)
{
    struct llm_oa *p = pv->impl;
    struct sw_buf resp;
    json_t *body = NULL;
    char *payload = NULL;
    long status = 0;
    int mode;
    sw_err rc = SW_EPROVIDER;

    sw_buf_init(&resp, LLM_OA_MAX_BODY);
    for (;;) {
        char why[256] = "";
        mode = llm_oa_mode_now(p);
        out->mode = llm_oa_mode_name[mode];
        json_decref(body);
        free(payload);
        payload = NULL;
        body = llm_oa_body(p, r, mode);
        payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
        if (payload == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        rc = llm__http_post(&p->http, p->url, p->auth, payload, r->deadline_ms,
                            &resp, &status, &out->http_tries, &out->error);
        if (rc)
            goto out;
        if (status == 200) {
            sw_free(out->error);
            out->error = NULL;
            rc = llm_oa_parse(sw_buf_str(&resp), sw_buf_len(&resp), out);
            goto out;
        }
        if (status == 400 && mode < LLM_OA_JSON &&
            llm_oa_rejects_mode(sw_buf_str(&resp), sw_buf_len(&resp), mode, why,
                                sizeof(why))) {
            llm_oa_step_down(p, mode, why);
            continue; /* a step-down is not a failure */
        }
        rc = llm_oa_error(p, &resp, status, out);
        sw_log_warn("llm.openai_http", "status=%ld mode=%s", status,
                    llm_oa_mode_name[mode]);
        if (rc == SW_OK)
            rc = SW_EPROVIDER;
        goto out;
    }
out:
    json_decref(body);
    free(payload);
    sw_buf_free(&resp);
    return rc;
}

static void llm_oa_destroy(struct llm_provider *pv)
{
    struct llm_oa *p = pv->impl;

    if (p == NULL)
        return;
    llm__http_free(&p->http);
    llm__http_wipe(p->auth);
    sw_free(p->url);
    sw_free((char *)p->o.model);
    pthread_mutex_destroy(&p->mu);
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
    const char *host, *e;
    sw_err rc;

    if (o == NULL || o->base_url == NULL || o->model == NULL ||
        o->base_url[0] == '\0' || o->model[0] == '\0')
        return SW_EINVAL;
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
    p->o = *o;
    p->o.base_url = NULL;
    p->o.api_key = NULL;
    p->o.model = sw_strdup(o->model);
    if (p->o.mode_retry_ms <= 0)
        p->o.mode_retry_ms = 600000;
    rc = llm__http_init(&p->http, &p->o);
    if (rc == SW_OK)
        rc = llm__http_url(o->base_url, "/chat/completions", &p->url);
    if (rc == SW_OK)
        rc = llm__http_auth_header(o->api_key, &p->auth);
    /* The provider's display name is the endpoint's host. */
    host = strstr(o->base_url, "://");
    host = host ? host + 3 : o->base_url;
    e = host;
    while (*e && *e != '/')
        e++;
    pv->name = sw_strndup(host, (size_t)(e - host));
    pv->model = sw_strdup(o->model);
    if (rc == SW_OK &&
        (p->o.model == NULL || pv->name == NULL || pv->model == NULL))
        rc = SW_ENOMEM;
    if (rc) {
        llm_provider_free(&pv);
        return rc;
    }
    *out = pv;
    return SW_OK;
}
