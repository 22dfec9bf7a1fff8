/* nm_build: JSON → protobuf-c request builders for the native host. The
 * JSON comes from a browser extension, so nothing about its shape is
 * trusted: each field is checked for type and range before use. */
#include "clients/nm/nm_build.h"

#include <string.h>

#include "proto/msg.h"

/* nm_build_bad appends "field: problem" to why and returns SW_EINVAL. */
static sw_err nm_build_bad(struct sw_buf *why, const char *field,
                           const char *problem)
{
    if (sw_buf_printf(why, "\"%s\" %s", field, problem))
        return SW_ENOMEM;
    return SW_EINVAL;
}

/* nm_build_str copies string member name of o into the arena. Missing or
 * null leaves *dst alone (an error only if required); an empty string
 * counts as missing for required fields. */
static sw_err nm_build_str(json_t *o, const char *name, int required,
                           struct sw_arena *a, char **dst, struct sw_buf *why)
{
    json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v)) {
        return required ? nm_build_bad(why, name, "is required") : SW_OK;
    }
    if (!json_is_string(v))
        return nm_build_bad(why, name, "must be a string");
    if (required && json_string_length(v) == 0)
        return nm_build_bad(why, name, "must not be empty");
    *dst = sw_arena_strndup(a, json_string_value(v), json_string_length(v));
    return *dst ? SW_OK : SW_ENOMEM;
}

/* nm_build_strs copies an array of strings into *n / *dst. */
static sw_err nm_build_strs(json_t *o, const char *name, struct sw_arena *a,
                            size_t *n, char ***dst, struct sw_buf *why)
{
    json_t *v = json_object_get(o, name), *e;
    size_t i;
    char **arr;

    if (v == NULL || json_is_null(v))
        return SW_OK;
    if (!json_is_array(v))
        return nm_build_bad(why, name, "must be an array of strings");
    if (json_array_size(v) > NM_BUILD_MAX_LIST)
        return nm_build_bad(why, name, "has too many entries (max 1000)");
    arr = sw_arena_alloc(a, (json_array_size(v) + 1) * sizeof(*arr));
    if (arr == NULL)
        return SW_ENOMEM;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return nm_build_bad(why, name, "must be an array of strings");
        arr[i] =
            sw_arena_strndup(a, json_string_value(e), json_string_length(e));
        if (arr[i] == NULL)
            return SW_ENOMEM;
    }
    *n = json_array_size(v);
    *dst = arr;
    return SW_OK;
}

/* nm_build_int reads an optional integer member within [min, max]. */
static sw_err nm_build_int(json_t *o, const char *name, json_int_t min,
                           json_int_t max, int64_t *dst, struct sw_buf *why)
{
    json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v))
        return SW_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        if (sw_buf_printf(why, "\"%s\" must be an integer from %lld to %lld",
                          name, (long long)min, (long long)max))
            return SW_ENOMEM;
        return SW_EINVAL;
    }
    *dst = json_integer_value(v);
    return SW_OK;
}

/* nm_build_thread_text fills a ThreadText from the thread object t. */
static sw_err nm_build_thread_text(json_t *t, struct sw_arena *a,
                                   Snipwise__V1__ThreadText **out,
                                   struct sw_buf *why)
{
    Snipwise__V1__ThreadText *tt;
    json_t *msgs = json_object_get(t, "messages"), *m;
    size_t i;
    sw_err rc;

    tt = (void *)msg_new(&snipwise__v1__thread_text__descriptor, a);
    if (tt == NULL)
        return SW_ENOMEM;
    rc = nm_build_str(t, "subject", 0, a, &tt->subject, why);
    if (rc)
        return rc;
    if (!json_is_array(msgs))
        return nm_build_bad(why, "thread.messages", "must be an array");
    if (json_array_size(msgs) > NM_BUILD_MAX_LIST)
        return nm_build_bad(why, "thread.messages",
                            "has too many entries (max 1000)");
    tt->messages =
        sw_arena_alloc(a, (json_array_size(msgs) + 1) * sizeof(*tt->messages));
    if (tt->messages == NULL)
        return SW_ENOMEM;
    json_array_foreach(msgs, i, m)
    {
        Snipwise__V1__ThreadTextMessage *tm;
        if (!json_is_object(m))
            return nm_build_bad(why, "thread.messages",
                                "must hold objects {from, text, "
                                "sent_time_unix_ms}");
        tm = (void *)msg_new(&snipwise__v1__thread_text_message__descriptor, a);
        if (tm == NULL)
            return SW_ENOMEM;
        rc = nm_build_str(m, "from", 0, a, &tm->from_address, why);
        if (rc == SW_OK)
            rc = nm_build_str(m, "text", 0, a, &tm->text, why);
        if (rc == SW_OK)
            rc = nm_build_int(m, "sent_time_unix_ms", 0, INT64_MAX,
                              &tm->sent_time_unix_ms, why);
        if (rc)
            return rc;
        tt->messages[i] = tm;
    }
    tt->n_messages = json_array_size(msgs);
    *out = tt;
    return SW_OK;
}

static const char *const nm_build_modes[] = {"", "outcome", "popularity",
                                             "similarity", "random"};

sw_err nm_build_suggest(json_t *req, const char *default_rep, int use_text,
                        struct sw_arena *a, Snipwise__V1__SuggestRequest **out,
                        int *has_text, struct sw_buf *why)
{
    Snipwise__V1__SuggestRequest *r;
    json_t *t = json_object_get(req, "thread"), *mode;
    char *id = NULL;
    int64_t v;
    size_t i;
    sw_err rc;

    r = (void *)msg_new(&snipwise__v1__suggest_request__descriptor, a);
    if (r == NULL)
        return SW_ENOMEM;
    *has_text = 0;
    if (t != NULL && !json_is_null(t)) {
        if (!json_is_object(t))
            return nm_build_bad(why, "thread", "must be an object");
        *has_text = json_object_get(t, "messages") != NULL;
        if (!use_text) {
            rc = nm_build_str(t, "thread_id", 0, a, &id, why);
            if (rc)
                return rc;
            if (id && id[0]) {
                r->thread_case =
                    SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_ID;
                r->thread_id = id;
            } else {
                rc = nm_build_str(t, "in_reply_to_message_id", 0, a, &id, why);
                if (rc)
                    return rc;
                if (id && id[0]) {
                    r->thread_case =
                        SNIPWISE__V1__SUGGEST_REQUEST__THREAD_IN_REPLY_TO_MESSAGE_ID;
                    r->in_reply_to_message_id = id;
                }
            }
        }
        if (r->thread_case == SNIPWISE__V1__SUGGEST_REQUEST__THREAD__NOT_SET &&
            *has_text) {
            rc = nm_build_thread_text(t, a, &r->thread_text, why);
            if (rc)
                return rc;
            r->thread_case = SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_TEXT;
        }
    }
    rc = nm_build_str(req, "draft", 0, a, &r->draft_text, why);
    if (rc)
        return rc;
    rc = nm_build_strs(req, "recipients", a, &r->n_recipients, &r->recipients,
                       why);
    if (rc)
        return rc;
    rc = nm_build_strs(req, "attachment_content_ids", a,
                       &r->n_attachment_content_ids, &r->attachment_content_ids,
                       why);
    if (rc)
        return rc;
    rc = nm_build_str(req, "rep_email", 0, a, &r->rep_email, why);
    if (rc)
        return rc;
    if ((r->rep_email == NULL || r->rep_email[0] == '\0') && default_rep)
        r->rep_email = (char *)default_rep;
    v = 0;
    rc = nm_build_int(req, "max_contents", 0, 100, &v, why);
    if (rc)
        return rc;
    r->max_contents = (int32_t)v;
    v = 0;
    rc = nm_build_int(req, "max_framings", 0, 100, &v, why);
    if (rc)
        return rc;
    r->max_framings = (int32_t)v;
    mode = json_object_get(req, "mode");
    if (mode != NULL && !json_is_null(mode)) {
        for (i = 1; i < sizeof(nm_build_modes) / sizeof(nm_build_modes[0]); i++)
            if (json_is_string(mode) &&
                strcmp(json_string_value(mode), nm_build_modes[i]) == 0)
                r->mode = (Snipwise__V1__RankingMode)i;
        if (r->mode == 0)
            return nm_build_bad(why, "mode",
                                "must be \"outcome\", \"popularity\", "
                                "\"similarity\" or \"random\"");
    }
    r->explain = 1;
    *out = r;
    return SW_OK;
}

static const char *const nm_build_kinds[] = {
    "", "shown", "inserted", "copied", "dismissed", "thumbs_up", "thumbs_down"};

sw_err nm_build_feedback(json_t *req, const char *default_rep,
                         struct sw_arena *a,
                         Snipwise__V1__RecordFeedbackRequest **out,
                         struct sw_buf *why)
{
    Snipwise__V1__RecordFeedbackRequest *r;
    json_t *kind = json_object_get(req, "kind");
    size_t i;
    sw_err rc;

    r = (void *)msg_new(&snipwise__v1__record_feedback_request__descriptor, a);
    if (r == NULL)
        return SW_ENOMEM;
    rc = nm_build_str(req, "suggestion_id", 1, a, &r->suggestion_id, why);
    if (rc)
        return rc;
    rc = nm_build_str(req, "item_id", 1, a, &r->item_id, why);
    if (rc)
        return rc;
    for (i = 1; i < sizeof(nm_build_kinds) / sizeof(nm_build_kinds[0]); i++)
        if (json_is_string(kind) &&
            strcmp(json_string_value(kind), nm_build_kinds[i]) == 0)
            r->kind = (Snipwise__V1__FeedbackKind)i;
    if (r->kind == 0)
        return nm_build_bad(why, "kind",
                            "must be \"shown\", \"inserted\", \"copied\", "
                            "\"dismissed\", \"thumbs_up\" or \"thumbs_down\"");
    rc = nm_build_str(req, "rep_email", 0, a, &r->rep_email, why);
    if (rc)
        return rc;
    if ((r->rep_email == NULL || r->rep_email[0] == '\0') && default_rep)
        r->rep_email = (char *)default_rep;
    rc = nm_build_int(req, "time_unix_ms", 0, INT64_MAX, &r->time_unix_ms, why);
    if (rc)
        return rc;
    rc = nm_build_str(req, "idempotency_key", 0, a, &r->idempotency_key, why);
    if (rc)
        return rc;
    if (r->idempotency_key == NULL || r->idempotency_key[0] == '\0') {
        r->idempotency_key =
            sw_arena_printf(a, "nm:%s:%s:%s", r->suggestion_id, r->item_id,
                            nm_build_kinds[r->kind]);
        if (r->idempotency_key == NULL)
            return SW_ENOMEM;
    }
    *out = r;
    return SW_OK;
}

sw_err nm_build_content(json_t *req, struct sw_arena *a,
                        Snipwise__V1__GetContentRequest **out,
                        struct sw_buf *why)
{
    Snipwise__V1__GetContentRequest *r;
    sw_err rc;

    r = (void *)msg_new(&snipwise__v1__get_content_request__descriptor, a);
    if (r == NULL)
        return SW_ENOMEM;
    rc = nm_build_str(req, "content_id", 1, a, &r->content_id, why);
    if (rc)
        return rc;
    *out = r;
    return SW_OK;
}

sw_err nm_build_read_content(json_t *req, struct sw_arena *a,
                             Snipwise__V1__ReadContentRequest **out,
                             struct sw_buf *why)
{
    Snipwise__V1__ReadContentRequest *r;
    sw_err rc;

    r = (void *)msg_new(&snipwise__v1__read_content_request__descriptor, a);
    if (r == NULL)
        return SW_ENOMEM;
    rc = nm_build_str(req, "content_id", 1, a, &r->content_id, why);
    if (rc)
        return rc;
    *out = r;
    return SW_OK;
}
