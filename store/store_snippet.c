/* store_snippet: snippets and their per-team change feed (store_snippet.h).
 * SNIPPETS holds team\0snippet_id → SnippetRecord; SNIPPET_SEQ holds
 * team\0seq → snippet_id, one entry per snippet at its latest seq. */
#include "store/store_snippet.h"

#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/snippet_records.pb-c.h"
#include "store/store_int.h"

#define STORE_SNIPPET_SEQ_NAME "snippet"
#define STORE_SNIPPET_LIMIT_DEFAULT 1000

static const char store_snippet_empty[] = "";

static const char *store_snippet_s(const char *s)
{
    return s ? s : store_snippet_empty;
}

void store_snippet_clear(struct store_snippet *s)
{
    if (s == NULL)
        return;
    sw_free(s->snippet_id);
    sw_free(s->team_id);
    sw_free(s->text);
    sw_free(s->content_id);
    sw_free(s->email_id);
    sw_free(s->thread_id);
    sw_free(s->rep_email);
    sw_free(s->family_id);
    sw_free(s->topic);
    sw_free(s->intent);
    sw_free(s->persona);
    sw_free(s->stage);
    sw_free(s->provenance);
    memset(s, 0, sizeof(*s));
}

/* store_snippet_dup copies src (NULL reads as "") into *dst; it returns 0
 * only when allocation fails. */
static int store_snippet_dup(char **dst, const char *src)
{
    *dst = sw_strdup(store_snippet_s(src));
    return *dst != NULL;
}

sw_err store_snippet_copy(const struct store_snippet *src,
                          struct store_snippet *dst)
{
    struct store_snippet c = {0};
    int ok = 1;

    c.kind = src->kind;
    c.create_ms = src->create_ms;
    c.seq = src->seq;
    c.deleted = src->deleted;
    ok &= store_snippet_dup(&c.snippet_id, src->snippet_id);
    ok &= store_snippet_dup(&c.team_id, src->team_id);
    ok &= store_snippet_dup(&c.text, src->text);
    ok &= store_snippet_dup(&c.content_id, src->content_id);
    ok &= store_snippet_dup(&c.email_id, src->email_id);
    ok &= store_snippet_dup(&c.thread_id, src->thread_id);
    ok &= store_snippet_dup(&c.rep_email, src->rep_email);
    ok &= store_snippet_dup(&c.family_id, src->family_id);
    ok &= store_snippet_dup(&c.topic, src->topic);
    ok &= store_snippet_dup(&c.intent, src->intent);
    ok &= store_snippet_dup(&c.persona, src->persona);
    ok &= store_snippet_dup(&c.stage, src->stage);
    ok &= store_snippet_dup(&c.provenance, src->provenance);
    if (!ok) {
        store_snippet_clear(&c);
        return SW_ENOMEM;
    }
    *dst = c;
    return SW_OK;
}

/* store_snippet_from converts a record of team_id into *out. */
static SW_MUST_CHECK sw_err
store_snippet_from(const Snipwise__Store__SnippetRecord *r, const char *team_id,
                   struct store_snippet *out)
{
    struct store_snippet v = {0};

    v.snippet_id = r->snippet_id;
    v.team_id = (char *)team_id;
    v.kind = r->kind;
    v.text = r->text;
    v.content_id = r->content_id;
    v.email_id = r->email_id;
    v.thread_id = r->thread_id;
    v.rep_email = r->rep_email;
    v.family_id = r->family_id;
    v.topic = r->topic;
    v.intent = r->intent;
    v.persona = r->persona;
    v.stage = r->stage;
    v.provenance = r->provenance;
    v.create_ms = r->create_unix_ms;
    v.seq = r->seq;
    v.deleted = r->deleted ? 1 : 0;
    return store_snippet_copy(&v, out);
}

int store_snippet_id_ok(const char *id)
{
    size_t i;

    if (id == NULL || strncmp(id, "snip_", 5) != 0 || strlen(id) != 21)
        return 0;
    for (i = 5; i < 21; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

/* store_snippet_check validates the fields of s before a put. */
static SW_MUST_CHECK sw_err store_snippet_check(const struct store_snippet *s)
{
    const char *fields[] = {
        s->content_id, s->email_id, s->thread_id, s->rep_email, s->family_id,
        s->topic,      s->intent,   s->persona,   s->stage,     s->provenance};
    size_t i;

    if (!store__id_ok(s->team_id))
        return SW_EINVAL;
    if (s->snippet_id != NULL && !store_snippet_id_ok(s->snippet_id))
        return SW_EINVAL;
    if (s->kind != STORE_SNIPPET_FRAMING &&
        s->kind != STORE_SNIPPET_KEY_PASSAGE)
        return SW_EINVAL;
    if (s->text != NULL && strlen(s->text) > STORE_SNIPPET_TEXT_MAX)
        return SW_EINVAL;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (fields[i] != NULL && strlen(fields[i]) > STORE_SNIPPET_FIELD_MAX)
            return SW_EINVAL;
    return SW_OK;
}

/* store_snippet_seq_key writes team\0seq into b. */
static SW_MUST_CHECK sw_err store_snippet_seq_key(struct sw_buf *b,
                                                  const char *team_id,
                                                  uint64_t seq)
{
    sw_err rc;

    rc = store_key(b, team_id, NULL, 0);
    if (rc)
        return rc;
    return store_key_add_u64(b, seq);
}

sw_err store_snippet_put(store_txn *t, struct store_snippet *s)
{
    Snipwise__Store__SnippetRecord r = SNIPWISE__STORE__SNIPPET_RECORD__INIT;
    ProtobufCMessage *old = NULL;
    struct sw_buf key, skey;
    char *id = NULL;
    uint64_t seq;
    sw_err rc;

    sw_buf_init(&key, STORE_KEYBUF_MAX);
    sw_buf_init(&skey, STORE_KEYBUF_MAX);
    if (t == NULL || s == NULL || !store_txn_is_write(t)) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_snippet_check(s);
    if (rc)
        goto out;
    if (s->snippet_id == NULL) {
        rc = sw_id_new("snip_", 8, &id);
        if (rc)
            goto out;
    }
    rc = store_key(&key, s->team_id, id ? id : s->snippet_id,
                   strlen(id ? id : s->snippet_id));
    if (rc)
        goto out;
    /* An update moves the snippet to the end of the feed: drop its old
     * position first. */
    rc =
        store__get_msg(t, STORE_DB_SNIPPETS, sw_buf_str(&key), sw_buf_len(&key),
                       &snipwise__store__snippet_record__descriptor, &old);
    if (rc == SW_OK) {
        uint64_t oseq = ((Snipwise__Store__SnippetRecord *)old)->seq;
        rc = store_snippet_seq_key(&skey, s->team_id, oseq);
        if (rc)
            goto out;
        rc = store_del(t, STORE_DB_SNIPPET_SEQ, sw_buf_str(&skey),
                       sw_buf_len(&skey));
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
        if (rc)
            goto out;
    } else if (rc != SW_ENOTFOUND) {
        goto out;
    }
    rc = store_seq_next(t, s->team_id, STORE_SNIPPET_SEQ_NAME, &seq);
    if (rc)
        goto out;
    r.snippet_id = id ? id : s->snippet_id;
    r.kind = s->kind;
    r.text = (char *)store_snippet_s(s->text);
    r.content_id = (char *)store_snippet_s(s->content_id);
    r.email_id = (char *)store_snippet_s(s->email_id);
    r.thread_id = (char *)store_snippet_s(s->thread_id);
    r.rep_email = (char *)store_snippet_s(s->rep_email);
    r.family_id = (char *)store_snippet_s(s->family_id);
    r.topic = (char *)store_snippet_s(s->topic);
    r.intent = (char *)store_snippet_s(s->intent);
    r.persona = (char *)store_snippet_s(s->persona);
    r.stage = (char *)store_snippet_s(s->stage);
    r.provenance = (char *)store_snippet_s(s->provenance);
    r.create_unix_ms = s->create_ms ? s->create_ms : sw_now_ms();
    r.seq = seq;
    r.deleted = s->deleted ? 1 : 0;
    rc = store__put_msg(t, STORE_DB_SNIPPETS, sw_buf_str(&key),
                        sw_buf_len(&key), &r.base, 0);
    if (rc)
        goto out;
    rc = store_snippet_seq_key(&skey, s->team_id, seq);
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_SNIPPET_SEQ, sw_buf_str(&skey),
                   sw_buf_len(&skey), r.snippet_id, strlen(r.snippet_id), 0);
    if (rc)
        goto out;
    if (id != NULL) {
        s->snippet_id = id;
        id = NULL;
    }
    s->create_ms = r.create_unix_ms;
    s->seq = seq;
out:
    sw_free(id);
    store__msg_free(old);
    sw_buf_free(&skey);
    sw_buf_free(&key);
    return rc;
}

sw_err store_snippet_get_txn(store_txn *t, const char *team_id,
                             const char *snippet_id, struct store_snippet *out)
{
    ProtobufCMessage *m = NULL;
    struct sw_buf key;
    sw_err rc;

    sw_buf_init(&key, STORE_KEYBUF_MAX);
    if (!store__id_ok(team_id) || !store_snippet_id_ok(snippet_id)) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_key(&key, team_id, snippet_id, strlen(snippet_id));
    if (rc)
        goto out;
    rc =
        store__get_msg(t, STORE_DB_SNIPPETS, sw_buf_str(&key), sw_buf_len(&key),
                       &snipwise__store__snippet_record__descriptor, &m);
    if (rc)
        goto out;
    rc = store_snippet_from((Snipwise__Store__SnippetRecord *)m, team_id, out);
out:
    store__msg_free(m);
    sw_buf_free(&key);
    return rc;
}

struct store_snippet_getarg {
    const char *team_id;
    const char *snippet_id;
    struct store_snippet *out;
};

static sw_err store_snippet_get_fn(store_txn *t, void *arg)
{
    struct store_snippet_getarg *a = arg;

    return store_snippet_get_txn(t, a->team_id, a->snippet_id, a->out);
}

sw_err store_snippet_get(store *s, const char *team_id, const char *snippet_id,
                         struct store_snippet *out)
{
    struct store_snippet_getarg a = {team_id, snippet_id, out};

    return store_view(s, store_snippet_get_fn, &a);
}

sw_err store_snippet_redact_txn(store_txn *t, const char *team_id,
                                const char *snippet_id)
{
    struct store_snippet sn = {0};
    sw_err rc;

    rc = store_snippet_get_txn(t, team_id, snippet_id, &sn);
    if (rc)
        goto out;
    if (sn.deleted)
        goto out;
    /* Redaction keeps ids (so statistics and families still resolve) but
     * erases every piece of the rep's words: the text and the tags. */
    sn.text[0] = '\0';
    sn.topic[0] = '\0';
    sn.intent[0] = '\0';
    sn.persona[0] = '\0';
    sn.stage[0] = '\0';
    sn.deleted = 1;
    rc = store_snippet_put(t, &sn);
out:
    store_snippet_clear(&sn);
    return rc;
}

static sw_err store_snippet_delete_fn(store_txn *t, void *arg)
{
    struct store_snippet_getarg *a = arg;

    return store_snippet_redact_txn(t, a->team_id, a->snippet_id);
}

sw_err store_snippet_delete(store *s, const char *team_id,
                            const char *snippet_id)
{
    struct store_snippet_getarg a = {team_id, snippet_id, NULL};

    if (!store__id_ok(team_id) || !store_snippet_id_ok(snippet_id))
        return SW_EINVAL;
    return store_update(s, store_snippet_delete_fn, &a);
}

struct store_snippet_batch {
    const char *team_id;
    size_t limit;
    store_txn *t;
    struct store_snippet *items;
    size_t n;
};

static sw_err store_snippet_scan_fn(const void *k, size_t klen, const void *v,
                                    size_t vlen, void *arg)
{
    struct store_snippet_batch *b = arg;
    char *id = NULL;
    sw_err rc;

    (void)k;
    (void)klen;
    if (b->n >= b->limit)
        return STORE_SCAN_STOP;
    id = sw_strndup(v, vlen);
    if (id == NULL)
        return SW_ENOMEM;
    rc = store_snippet_get_txn(b->t, b->team_id, id, &b->items[b->n]);
    sw_free(id);
    if (rc == SW_ENOTFOUND) {
        /* The feed and the records are written in one transaction, so a
         * dangling feed entry is corruption; report it once and move on. */
        sw_log_error("store.snippet_feed_dangling", "team=%s", b->team_id);
        return SW_OK;
    }
    if (rc)
        return rc;
    b->n++;
    return SW_OK;
}

struct store_snippet_sincearg {
    struct store_snippet_batch *b;
    uint64_t after;
};

static sw_err store_snippet_since_fn(store_txn *t, void *arg)
{
    struct store_snippet_sincearg *a = arg;
    struct store_snippet_batch *b = a->b;
    struct sw_buf prefix, after;
    size_t i;
    sw_err rc;

    /* store_view may rerun us: start from an empty batch. */
    for (i = 0; i < b->n; i++)
        store_snippet_clear(&b->items[i]);
    b->n = 0;
    b->t = t;
    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&after, STORE_KEYBUF_MAX);
    rc = store_key(&prefix, b->team_id, NULL, 0);
    if (rc)
        goto out;
    rc = store_snippet_seq_key(&after, b->team_id, a->after);
    if (rc)
        goto out;
    rc = store_scan(t, STORE_DB_SNIPPET_SEQ, sw_buf_str(&prefix),
                    sw_buf_len(&prefix), sw_buf_str(&after), sw_buf_len(&after),
                    store_snippet_scan_fn, b);
out:
    b->t = NULL;
    sw_buf_free(&after);
    sw_buf_free(&prefix);
    return rc;
}

sw_err store_snippet_since(store *s, const char *team_id, uint64_t after_seq,
                           size_t limit, store_snippet_fn fn, void *arg)
{
    struct store_snippet_batch b = {0};
    struct store_snippet_sincearg a = {&b, after_seq};
    size_t i;
    sw_err rc;

    if (s == NULL || fn == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    b.team_id = team_id;
    b.limit = limit ? limit : STORE_SNIPPET_LIMIT_DEFAULT;
    b.items = sw_calloc(b.limit, sizeof(*b.items));
    if (b.items == NULL)
        return SW_ENOMEM;
    rc = store_view(s, store_snippet_since_fn, &a);
    if (rc)
        goto out;
    for (i = 0; i < b.n; i++) {
        rc = fn(&b.items[i], arg);
        if (rc == STORE_SCAN_STOP) {
            rc = SW_OK;
            break;
        }
        if (rc)
            goto out;
    }
out:
    for (i = 0; i < b.n; i++)
        store_snippet_clear(&b.items[i]);
    sw_free(b.items);
    return rc;
}

struct store_snippet_lastarg {
    const char *team_id;
    uint64_t v;
};

static sw_err store_snippet_last_fn(store_txn *t, void *arg)
{
    struct store_snippet_lastarg *a = arg;

    return store_seq_peek(t, a->team_id, STORE_SNIPPET_SEQ_NAME, &a->v);
}

sw_err store_snippet_last_seq(store *s, const char *team_id, uint64_t *out)
{
    struct store_snippet_lastarg a = {team_id, 0};
    sw_err rc;

    if (!store__id_ok(team_id))
        return SW_EINVAL;
    rc = store_view(s, store_snippet_last_fn, &a);
    if (rc)
        return rc;
    *out = a.v;
    return SW_OK;
}

sw_err store_snippet_last_seq_txn(store_txn *t, const char *team_id,
                                  uint64_t *out)
{
    if (t == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    return store_seq_peek(t, team_id, STORE_SNIPPET_SEQ_NAME, out);
}

static sw_err store_snippet_ids_cb(const void *k, size_t klen, const void *v,
                                   size_t vlen, void *arg)
{
    struct sw_buf *ids = arg;
    sw_err rc;

    (void)k;
    (void)klen;
    rc = sw_buf_add(ids, v, vlen);
    return rc ? rc : sw_buf_add(ids, "", 1);
}

sw_err store_snippet_ids_since_txn(store_txn *t, const char *team_id,
                                   uint64_t after_seq, struct sw_buf *ids)
{
    struct sw_buf prefix, after;
    sw_err rc;

    if (t == NULL || ids == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    sw_buf_reset(ids);
    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&after, STORE_KEYBUF_MAX);
    rc = store_key(&prefix, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_snippet_seq_key(&after, team_id, after_seq);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_SNIPPET_SEQ, sw_buf_str(&prefix),
                        sw_buf_len(&prefix), sw_buf_str(&after),
                        sw_buf_len(&after), store_snippet_ids_cb, ids);
    sw_buf_free(&after);
    sw_buf_free(&prefix);
    return rc;
}
