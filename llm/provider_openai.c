/* llm/provider_openai: any OpenAI-compatible Chat Completions endpoint over
 * libcurl. Structured output is asked for with response_format json_schema
 * (strict); servers that refuse it with a 400 get tool calling, then JSON
 * mode. 429 honours Retry-After, 5xx and transport errors back off
 * exponentially with jitter, all within the request's deadline. A pool of
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

struct llm_oa {
    char *url;
    char *auth; /* "Authorization: Bearer ..."; NULL without a key */
    struct llm_openai_opts o;
    struct llm__http http; /* handle pool and retries (http_int.h) */
    pthread_mutex_t mu;
    int mode; /* enum llm_oa_mode, under mu */
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
    struct sw_buf resp;
    json_t *body = NULL;
    char *payload = NULL;
    long status = 0;
    int mode;
    sw_err rc = SW_EPROVIDER;

    sw_buf_init(&resp, LLM_OA_MAX_BODY);
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
            llm_oa_rejects_mode(sw_buf_str(&resp))) {
            pthread_mutex_lock(&p->mu);
            if (p->mode == mode)
                p->mode = mode + 1;
            pthread_mutex_unlock(&p->mu);
            sw_log_warn("llm.openai_fallback", "from=%d to=%d", mode, mode + 1);
            continue; /* a downgrade is not a failure */
        }
        sw_free(out->error);
        out->error =
            sw_strndup(sw_buf_str(&resp),
                       sw_buf_len(&resp) > 300 ? 300 : sw_buf_len(&resp));
        sw_log_warn("llm.openai_http", "status=%ld", status);
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
