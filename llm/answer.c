/* llm/answer: copies validated JSON answers into the typed structs of
 * answer.h. The validator (llm/schema) already enforced the schema; the
 * checks here only guard against being handed the wrong document. */
#include "llm/answer.h"

#include <jansson.h>
#include <string.h>

#include "base/sw_mem.h"
#include "llm/schemas.h"

/* llm_answer_str copies the string member key of o (required unless
 * optional; a missing optional one becomes ""). */
static sw_err llm_answer_str(json_t *o, const char *key, int optional,
                             char **out)
{
    json_t *v = json_object_get(o, key);
    const char *s = "";

    if (json_is_string(v))
        s = json_string_value(v);
    else if (!optional || (v != NULL && !json_is_null(v)))
        return SW_EPARSE;
    *out = sw_strndup(s, json_is_string(v) ? json_string_length(v) : 0);
    return *out ? SW_OK : SW_ENOMEM;
}

/* llm_answer_off reads an optional offset: an integer >= 0, else -1. */
static int64_t llm_answer_off(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return (int64_t)json_integer_value(v);
    return -1;
}

/* llm_answer_strv copies an array of strings. */
static sw_err llm_answer_strv(json_t *a, char ***out, size_t *n)
{
    size_t i, k = json_array_size(a);

    if (!json_is_array(a))
        return SW_EPARSE;
    *out = sw_calloc(k ? k : 1, sizeof(char *));
    if (*out == NULL)
        return SW_ENOMEM;
    for (i = 0; i < k; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v))
            return SW_EPARSE;
        (*out)[i] = sw_strndup(json_string_value(v), json_string_length(v));
        if ((*out)[i] == NULL)
            return SW_ENOMEM;
        *n = i + 1;
    }
    return SW_OK;
}

static void llm_answer_strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++)
        sw_free(v[i]);
    sw_free(v);
}

static json_t *llm_answer_load(const char *json, size_t n)
{
    json_error_t jerr;
    json_t *j = json_loadb(json, n, 0, &jerr);

    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

void llm_outbound_clear(struct llm_outbound *o)
{
    size_t i;

    if (o == NULL)
        return;
    for (i = 0; o->framings && i < o->n_framings; i++) {
        sw_free(o->framings[i].text);
        sw_free(o->framings[i].content);
    }
    sw_free(o->framings);
    for (i = 0; o->passages && i < o->n_passages; i++) {
        sw_free(o->passages[i].content);
        sw_free(o->passages[i].text);
    }
    sw_free(o->passages);
    llm_answer_strv_free(o->topics, o->n_topics);
    sw_free(o->intent);
    sw_free(o->persona);
    sw_free(o->stage);
    memset(o, 0, sizeof(*o));
}

sw_err llm_outbound_parse(const char *json, size_t n, struct llm_outbound *out)
{
    struct llm_outbound o;
    json_t *j = NULL, *fr, *ps, *tags;
    size_t i;
    sw_err rc = SW_EPARSE;

    memset(&o, 0, sizeof(o));
    j = llm_answer_load(json, n);
    if (j == NULL)
        goto out;
    fr = json_object_get(j, "framings");
    ps = json_object_get(j, "passages");
    tags = json_object_get(j, "tags");
    if (!json_is_array(fr) || !json_is_array(ps) || !json_is_object(tags))
        goto out;
    rc = SW_ENOMEM;
    o.framings = sw_calloc(json_array_size(fr) + 1, sizeof(*o.framings));
    o.passages = sw_calloc(json_array_size(ps) + 1, sizeof(*o.passages));
    if (o.framings == NULL || o.passages == NULL)
        goto out;
    rc = SW_OK;
    for (i = 0; rc == SW_OK && i < json_array_size(fr); i++) {
        json_t *x = json_array_get(fr, i);
        struct llm_framing *f = &o.framings[i];
        o.n_framings = i + 1;
        f->start = llm_answer_off(x, "start");
        rc = llm_answer_str(x, "text", 0, &f->text);
        if (rc == SW_OK)
            rc = llm_answer_str(x, "content", 0, &f->content);
    }
    for (i = 0; rc == SW_OK && i < json_array_size(ps); i++) {
        json_t *x = json_array_get(ps, i);
        struct llm_passage *p = &o.passages[i];
        o.n_passages = i + 1;
        p->start = llm_answer_off(x, "start");
        rc = llm_answer_str(x, "content", 0, &p->content);
        if (rc == SW_OK)
            rc = llm_answer_str(x, "text", 0, &p->text);
    }
    if (rc == SW_OK)
        rc = llm_answer_strv(json_object_get(tags, "topic"), &o.topics,
                             &o.n_topics);
    if (rc == SW_OK)
        rc = llm_answer_str(tags, "intent", 0, &o.intent);
    if (rc == SW_OK)
        rc = llm_answer_str(tags, "persona", 0, &o.persona);
    if (rc == SW_OK)
        rc = llm_answer_str(tags, "stage", 0, &o.stage);
out:
    json_decref(j);
    if (rc) {
        llm_outbound_clear(&o);
        return rc;
    }
    *out = o;
    return SW_OK;
}

void llm_reply_clear(struct llm_reply *r)
{
    if (r == NULL)
        return;
    sw_free(r->label);
    sw_free(r->evidence);
    memset(r, 0, sizeof(*r));
}

sw_err llm_reply_parse(const char *json, size_t n, struct llm_reply *out)
{
    struct llm_reply r;
    json_t *j;
    sw_err rc = SW_EPARSE;

    memset(&r, 0, sizeof(r));
    j = llm_answer_load(json, n);
    if (j == NULL)
        goto out;
    rc = llm_answer_str(j, "label", 0, &r.label);
    if (rc == SW_OK)
        rc = llm_answer_str(j, "evidence", 0, &r.evidence);
    if (rc == SW_OK) {
        r.kind = llm_reply_label_kind(r.label);
        if (r.kind == 0)
            rc = SW_EPARSE;
    }
out:
    json_decref(j);
    if (rc) {
        llm_reply_clear(&r);
        return rc;
    }
    *out = r;
    return SW_OK;
}

void llm_query_clear(struct llm_query *q)
{
    if (q == NULL)
        return;
    sw_free(q->query);
    llm_answer_strv_free(q->topics, q->n_topics);
    llm_answer_strv_free(q->content_kinds, q->n_content_kinds);
    memset(q, 0, sizeof(*q));
}

sw_err llm_query_parse(const char *json, size_t n, struct llm_query *out)
{
    struct llm_query q;
    json_t *j, *dr;
    sw_err rc = SW_EPARSE;

    memset(&q, 0, sizeof(q));
    j = llm_answer_load(json, n);
    if (j == NULL)
        goto out;
    dr = json_object_get(j, "date_range");
    if (!json_is_object(dr))
        goto out;
    q.start_ms = llm_answer_off(dr, "start_unix_ms");
    q.end_ms = llm_answer_off(dr, "end_unix_ms");
    rc = llm_answer_str(j, "query", 0, &q.query);
    if (rc == SW_OK)
        rc = llm_answer_strv(json_object_get(j, "topics"), &q.topics,
                             &q.n_topics);
    if (rc == SW_OK)
        rc = llm_answer_strv(json_object_get(j, "content_kinds"),
                             &q.content_kinds, &q.n_content_kinds);
out:
    json_decref(j);
    if (rc) {
        llm_query_clear(&q);
        return rc;
    }
    *out = q;
    return SW_OK;
}
