/* llm/schema: one field table → JSON Schema (for the provider) and the
 * validator (for the answer). Both walk the same descriptors, so a field
 * added to a schema is at once requested and checked. */
#include "llm/schema.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "base/sw_mem.h"
#include "llm/text.h"

#define LLM_SCHEMA_MAX_ERRS 64
#define LLM_SCHEMA_PATH_MAX 1024

static const char *const llm_vcode_names[] = {
#define LLM_VERR_STR(name, value, str) [value] = str,
    LLM_VERR_LIST(LLM_VERR_STR)
#undef LLM_VERR_STR
};

const char *llm_vcode_str(enum llm_vcode c)
{
    size_t i = (size_t)c;

    if (i >= sizeof(llm_vcode_names) / sizeof(llm_vcode_names[0]) ||
        llm_vcode_names[i] == NULL)
        return "?";
    return llm_vcode_names[i];
}

void llm_verrs_clear(struct llm_verrs *e)
{
    size_t i;

    if (e == NULL)
        return;
    for (i = 0; i < e->n; i++) {
        sw_free(e->v[i].path);
        sw_free(e->v[i].message);
    }
    sw_free(e->v);
    e->v = NULL;
    e->n = 0;
}

sw_err llm_verrs_format(const struct llm_verrs *e, struct sw_buf *b)
{
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; i < e->n && rc == SW_OK; i++)
        rc = sw_buf_printf(b, "%s: %s [%s]\n",
                           e->v[i].path[0] ? e->v[i].path : "(root)",
                           e->v[i].message, llm_vcode_str(e->v[i].code));
    return rc;
}

/* --- JSON Schema ------------------------------------------------------- */

static json_t *llm_schema_node(const struct llm_field *f);

static int llm_schema_set(json_t *o, const char *k, json_t *v)
{
    return v == NULL || json_object_set_new(o, k, v) != 0;
}

static json_t *llm_schema_type(const char *t, int nullable)
{
    json_t *a;

    if (!nullable)
        return json_string(t);
    a = json_array();
    if (a == NULL || json_array_append_new(a, json_string(t)) ||
        json_array_append_new(a, json_string("null"))) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *llm_schema_object(const struct llm_field *fields, size_t n)
{
    json_t *o = json_object(), *props = json_object(), *req = json_array();
    size_t i;
    int bad = o == NULL || props == NULL || req == NULL;

    for (i = 0; i < n && !bad; i++) {
        bad |=
            llm_schema_set(props, fields[i].name, llm_schema_node(&fields[i]));
        bad |= json_array_append_new(req, json_string(fields[i].name)) != 0;
    }
    if (!bad) {
        bad |= llm_schema_set(o, "properties", props);
        props = NULL;
        bad |= llm_schema_set(o, "required", req);
        req = NULL;
        bad |= llm_schema_set(o, "additionalProperties", json_false());
    }
    json_decref(props);
    json_decref(req);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *llm_schema_node(const struct llm_field *f)
{
    int nullable = (f->flags & LLM_F_REQUIRED) == 0 && f->name != NULL;
    json_t *o = NULL, *e;
    size_t i;
    int bad = 0;

    if (f->type == LLM_T_OBJECT) {
        o = llm_schema_object(f->fields, f->n_fields);
        if (o && nullable)
            bad |= llm_schema_set(o, "type", llm_schema_type("object", 1));
        else if (o)
            bad |= llm_schema_set(o, "type", json_string("object"));
    } else {
        o = json_object();
        if (o == NULL)
            return NULL;
        switch (f->type) {
        case LLM_T_STRING:
            /* Strict endpoints refuse minLength/maxLength: the limits go
             * in the description and the validator enforces them. */
            bad |=
                llm_schema_set(o, "type", llm_schema_type("string", nullable));
            break;
        case LLM_T_ENUM:
            bad |=
                llm_schema_set(o, "type", llm_schema_type("string", nullable));
            e = json_array();
            for (i = 0; e && f->enum_values && f->enum_values[i]; i++)
                bad |= json_array_append_new(e, json_string(f->enum_values[i]));
            if (e && nullable)
                bad |= json_array_append_new(e, json_null());
            bad |= llm_schema_set(o, "enum", e);
            break;
        case LLM_T_INT:
        case LLM_T_NUMBER:
            bad |= llm_schema_set(
                o, "type",
                llm_schema_type(f->type == LLM_T_INT ? "integer" : "number",
                                nullable));
            if (f->max > f->min) {
                bad |= llm_schema_set(o, "minimum", json_integer(f->min));
                bad |= llm_schema_set(o, "maximum", json_integer(f->max));
            }
            break;
        case LLM_T_BOOL:
            bad |=
                llm_schema_set(o, "type", llm_schema_type("boolean", nullable));
            break;
        case LLM_T_ARRAY:
            bad |=
                llm_schema_set(o, "type", llm_schema_type("array", nullable));
            bad |= f->items == NULL;
            if (f->items)
                bad |= llm_schema_set(o, "items", llm_schema_node(f->items));
            if (f->max > 0) {
                bad |= llm_schema_set(o, "minItems", json_integer(f->min));
                bad |= llm_schema_set(o, "maxItems", json_integer(f->max));
            }
            break;
        case LLM_T_OBJECT:
            break;
        }
    }
    if (o && f->type == LLM_T_STRING && f->max > 0) {
        struct sw_buf d;
        sw_buf_init(&d, 8192);
        bad |= sw_buf_printf(&d, "%s%s%lld to %lld bytes of text",
                             f->desc ? f->desc : "", f->desc ? "; " : "",
                             (long long)f->min, (long long)f->max) != SW_OK;
        if (!bad)
            bad |=
                llm_schema_set(o, "description", json_string(sw_buf_str(&d)));
        sw_buf_free(&d);
    } else if (o && f->desc)
        bad |= llm_schema_set(o, "description", json_string(f->desc));
    if (o == NULL || bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static sw_err llm_schema_dump(json_t *j, struct sw_buf *b, size_t flags)
{
    char *s;
    sw_err rc;

    s = json_dumps(j, flags);
    if (s == NULL)
        return SW_ENOMEM;
    rc = sw_buf_addstr(b, s);
    free(s); /* jansson allocated it with its own allocator */
    return rc;
}

sw_err llm_schema_json(const struct llm_schema *s, struct sw_buf *b)
{
    json_t *j;
    sw_err rc;

    if (s->root == NULL || s->root->type != LLM_T_OBJECT)
        return SW_EINTERNAL;
    j = llm_schema_node(s->root);
    if (j == NULL)
        return SW_ENOMEM;
    rc = llm_schema_dump(j, b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc;
}

/* --- Validation -------------------------------------------------------- */

struct llm_vctx {
    const struct llm_input *in;
    char *text_norm; /* the input's text, normalised */
    size_t text_norm_len;
    char **doc_norm; /* lazily normalised documents */
    size_t *doc_norm_len;
    struct llm_verrs *errs;
    struct sw_buf path;
    sw_err rc; /* first resource failure */
};

static void llm_vadd(struct llm_vctx *c, enum llm_vcode code, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

static void llm_vadd(struct llm_vctx *c, enum llm_vcode code, const char *fmt,
                     ...)
{
    struct llm_verr *nv;
    struct sw_buf m;
    va_list ap;
    sw_err rc;

    if (c->rc || c->errs->n >= LLM_SCHEMA_MAX_ERRS)
        return;
    sw_buf_init(&m, 2048);
    va_start(ap, fmt);
    rc = sw_buf_vprintf(&m, fmt, ap);
    va_end(ap);
    if (rc == SW_ETOOBIG)
        rc = SW_OK; /* a long message is cut, not fatal */
    nv = sw_realloc(c->errs->v, (c->errs->n + 1) * sizeof(*nv));
    if (rc == SW_OK && nv == NULL)
        rc = SW_ENOMEM;
    if (rc == SW_OK) {
        c->errs->v = nv;
        nv[c->errs->n].code = code;
        nv[c->errs->n].path = sw_strdup(sw_buf_str(&c->path));
        nv[c->errs->n].message = sw_strdup(sw_buf_str(&m));
        if (nv[c->errs->n].path == NULL || nv[c->errs->n].message == NULL) {
            sw_free(nv[c->errs->n].path);
            sw_free(nv[c->errs->n].message);
            rc = SW_ENOMEM;
        } else {
            c->errs->n++;
        }
    }
    sw_buf_free(&m);
    if (rc)
        c->rc = rc;
}

static size_t llm_vpath_push(struct llm_vctx *c, const char *name, long idx)
{
    size_t saved = c->path.len;
    sw_err rc;

    if (name)
        rc = sw_buf_printf(&c->path, "%s%s", saved ? "." : "", name);
    else
        rc = sw_buf_printf(&c->path, "[%ld]", idx);
    if (rc && c->rc == SW_OK)
        c->rc = rc;
    return saved;
}

static void llm_vpath_pop(struct llm_vctx *c, size_t saved)
{
    if (c->path.len > saved) {
        c->path.len = saved;
        c->path.data[saved] = '\0';
    }
}

static const char *llm_vjson_type(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* llm_vdoc finds the document named name; -1 if none. Names match exactly,
 * then case-insensitively. */
static long llm_vdoc(const struct llm_input *in, const char *name)
{
    size_t i;

    for (i = 0; i < in->n_docs; i++)
        if (strcmp(in->docs[i].name, name) == 0)
            return (long)i;
    for (i = 0; i < in->n_docs; i++)
        if (strcasecmp(in->docs[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* llm_vsource returns the normalised text a grounded field of obj is
 * checked against: the named document for LLM_F_GROUNDED_DOC, else the
 * input's text. NULL (no error added) when the reference is itself bad. */
static const char *llm_vsource(struct llm_vctx *c, const struct llm_field *f,
                               const struct llm_field *parent, json_t *obj,
                               size_t *len, long *doc_out)
{
    size_t i;
    long d = -1;
    sw_err rc;

    *doc_out = -1;
    if ((f->flags & LLM_F_GROUNDED_DOC) == 0) {
        *len = c->text_norm_len;
        return c->text_norm;
    }
    for (i = 0; parent && i < parent->n_fields; i++) {
        if (parent->fields[i].flags & LLM_F_DOCREF) {
            json_t *r = json_object_get(obj, parent->fields[i].name);
            if (json_is_string(r))
                d = llm_vdoc(c->in, json_string_value(r));
        }
    }
    if (d < 0)
        return NULL;
    if (c->doc_norm[d] == NULL) {
        rc = llm_text_norm(c->in->docs[d].text, c->in->docs[d].len,
                           &c->doc_norm[d], &c->doc_norm_len[d]);
        if (rc) {
            c->rc = rc;
            return NULL;
        }
    }
    *len = c->doc_norm_len[d];
    *doc_out = d;
    return c->doc_norm[d];
}

static void llm_vvalue(struct llm_vctx *c, const struct llm_field *f,
                       const struct llm_field *parent, json_t *obj, json_t *v);

static void llm_vobject(struct llm_vctx *c, const struct llm_field *f,
                        json_t *v)
{
    const char *k;
    json_t *x;
    size_t i, saved;

    for (i = 0; i < f->n_fields; i++) {
        saved = llm_vpath_push(c, f->fields[i].name, 0);
        llm_vvalue(c, &f->fields[i], f, v,
                   json_object_get(v, f->fields[i].name));
        llm_vpath_pop(c, saved);
    }
    json_object_foreach(v, k, x)
    {
        for (i = 0; i < f->n_fields; i++)
            if (strcmp(k, f->fields[i].name) == 0)
                break;
        if (i == f->n_fields) {
            saved = llm_vpath_push(c, k, 0);
            llm_vadd(c, LLM_V_UNKNOWN_FIELD, "is not a field of this schema");
            llm_vpath_pop(c, saved);
        }
    }
}

static void llm_vstring(struct llm_vctx *c, const struct llm_field *f,
                        const struct llm_field *parent, json_t *obj, json_t *v)
{
    const char *s = json_string_value(v), *src;
    size_t n = json_string_length(v), srclen = 0, i;
    long doc;
    int found;

    if (f->max > 0 && (int64_t)n < f->min)
        llm_vadd(c, LLM_V_MIN_LENGTH, "is %zu bytes long; at least %lld needed",
                 n, (long long)f->min);
    if (f->max > 0 && (int64_t)n > f->max)
        llm_vadd(c, LLM_V_MAX_LENGTH, "is %zu bytes long; at most %lld allowed",
                 n, (long long)f->max);
    if (f->type == LLM_T_ENUM) {
        for (i = 0; f->enum_values && f->enum_values[i]; i++)
            if (strcmp(f->enum_values[i], s) == 0)
                break;
        if (f->enum_values == NULL || f->enum_values[i] == NULL)
            llm_vadd(c, LLM_V_ENUM,
                     "\"%.80s\" is not one of the allowed values", s);
    }
    if (f->flags & LLM_F_DOCREF) {
        if (llm_vdoc(c->in, s) < 0)
            llm_vadd(c, LLM_V_UNKNOWN_DOC,
                     "\"%.120s\" is not the name of an attached document", s);
    }
    if (n > 0 && (f->flags & (LLM_F_GROUNDED | LLM_F_GROUNDED_DOC))) {
        src = llm_vsource(c, f, parent, obj, &srclen, &doc);
        if (src == NULL)
            return;
        found = llm_text_find_norm(src, srclen, s, n);
        if (found < 0)
            c->rc = SW_ENOMEM;
        else if (!found)
            llm_vadd(c, LLM_V_NOT_GROUNDED,
                     "not found in the source text%s%s%s; quote it verbatim",
                     doc >= 0 ? " of \"" : "",
                     doc >= 0 ? c->in->docs[doc].name : "",
                     doc >= 0 ? "\"" : "");
    }
}

/* llm_voffset checks an LLM_F_OFFSET field: the sibling grounded string must
 * start at that byte offset of its (unnormalised) source. */
static void llm_voffset(struct llm_vctx *c, const struct llm_field *parent,
                        json_t *obj, int64_t off)
{
    const struct llm_field *g = NULL;
    const char *src;
    json_t *t;
    size_t i, len;
    long d = -1;
    int ok;

    for (i = 0; parent && i < parent->n_fields; i++)
        if (parent->fields[i].flags & (LLM_F_GROUNDED | LLM_F_GROUNDED_DOC))
            g = &parent->fields[i];
    if (g == NULL)
        return;
    t = json_object_get(obj, g->name);
    if (!json_is_string(t))
        return;
    if (g->flags & LLM_F_GROUNDED_DOC) {
        if (llm_vsource(c, g, parent, obj, &len, &d) == NULL)
            return;
        src = c->in->docs[d].text;
        len = c->in->docs[d].len;
    } else {
        src = c->in->text;
        len = c->in->len;
    }
    ok = llm_text_at(src, len, (size_t)off, json_string_value(t),
                     json_string_length(t));
    if (ok < 0)
        c->rc = SW_ENOMEM;
    else if (!ok)
        llm_vadd(c, LLM_V_OFFSET,
                 "offset %lld does not point at the quoted %s text",
                 (long long)off, g->name);
}

static void llm_vvalue(struct llm_vctx *c, const struct llm_field *f,
                       const struct llm_field *parent, json_t *obj, json_t *v)
{
    size_t i, saved;
    json_t *x;
    int64_t iv;
    double dv;

    if (c->rc)
        return;
    if (v == NULL || json_is_null(v)) {
        if (f->flags & LLM_F_REQUIRED)
            llm_vadd(c, LLM_V_REQUIRED, "is required");
        return;
    }
    switch (f->type) {
    case LLM_T_STRING:
    case LLM_T_ENUM:
        if (!json_is_string(v))
            goto type;
        llm_vstring(c, f, parent, obj, v);
        return;
    case LLM_T_INT:
        if (!json_is_integer(v))
            goto type;
        iv = json_integer_value(v);
        if (f->max > f->min && (iv < f->min || iv > f->max))
            llm_vadd(c, LLM_V_RANGE, "%lld is outside [%lld, %lld]",
                     (long long)iv, (long long)f->min, (long long)f->max);
        else if ((f->flags & LLM_F_OFFSET) && iv >= 0)
            llm_voffset(c, parent, obj, iv);
        return;
    case LLM_T_NUMBER:
        if (!json_is_number(v))
            goto type;
        dv = json_number_value(v);
        if (f->max > f->min && (dv < (double)f->min || dv > (double)f->max))
            llm_vadd(c, LLM_V_RANGE, "%g is outside [%lld, %lld]", dv,
                     (long long)f->min, (long long)f->max);
        return;
    case LLM_T_BOOL:
        if (!json_is_boolean(v))
            goto type;
        return;
    case LLM_T_ARRAY:
        if (!json_is_array(v))
            goto type;
        if (f->max > 0 && (int64_t)json_array_size(v) < f->min)
            llm_vadd(c, LLM_V_MIN_ITEMS, "has %zu items; at least %lld needed",
                     json_array_size(v), (long long)f->min);
        if (f->max > 0 && (int64_t)json_array_size(v) > f->max)
            llm_vadd(c, LLM_V_MAX_ITEMS, "has %zu items; at most %lld allowed",
                     json_array_size(v), (long long)f->max);
        json_array_foreach(v, i, x)
        {
            saved = llm_vpath_push(c, NULL, (long)i);
            llm_vvalue(c, f->items, NULL, NULL, x);
            llm_vpath_pop(c, saved);
        }
        return;
    case LLM_T_OBJECT:
        if (!json_is_object(v))
            goto type;
        llm_vobject(c, f, v);
        return;
    }
type:
    llm_vadd(c, LLM_V_TYPE, "is %s; expected %s", llm_vjson_type(v),
             f->type == LLM_T_ENUM     ? "string"
             : f->type == LLM_T_INT    ? "integer"
             : f->type == LLM_T_BOOL   ? "boolean"
             : f->type == LLM_T_ARRAY  ? "array"
             : f->type == LLM_T_OBJECT ? "object"
             : f->type == LLM_T_NUMBER ? "number"
                                       : "string");
}

sw_err llm_schema_validate(const struct llm_schema *s,
                           const struct llm_input *in, const char *out,
                           size_t n, struct llm_verrs *errs,
                           struct sw_buf *canon)
{
    struct llm_vctx c;
    json_error_t jerr;
    json_t *j = NULL;
    size_t i, n0 = errs->n;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    c.in = in;
    c.errs = errs;
    sw_buf_init(&c.path, LLM_SCHEMA_PATH_MAX);
    rc = llm_text_norm(in->text ? in->text : "", in->text ? in->len : 0,
                       &c.text_norm, &c.text_norm_len);
    if (rc)
        goto out;
    if (in->n_docs) {
        c.doc_norm = sw_calloc(in->n_docs, sizeof(*c.doc_norm));
        c.doc_norm_len = sw_calloc(in->n_docs, sizeof(*c.doc_norm_len));
        if (c.doc_norm == NULL || c.doc_norm_len == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    j = json_loadb(out, n, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        llm_vadd(&c, LLM_V_JSON, "the output is not valid JSON: %s (line %d)",
                 jerr.text, jerr.line);
    } else {
        llm_vvalue(&c, s->root, NULL, NULL, j);
    }
    rc = c.rc;
    if (rc == SW_OK && canon != NULL && errs->n == n0)
        rc = llm_schema_dump(j, canon, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(j);
    for (i = 0; c.doc_norm && i < in->n_docs; i++)
        sw_free(c.doc_norm[i]);
    sw_free(c.doc_norm);
    sw_free(c.doc_norm_len);
    sw_free(c.text_norm);
    sw_buf_free(&c.path);
    return rc;
}
