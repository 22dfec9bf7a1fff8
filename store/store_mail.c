/* store_mail: emails, threads and content items with their indexes, as
 * declared in store_mail.h. Records are protobuf-c messages from
 * mail_records.proto; the structs of the public API are copies. */
#include "store/store_mail.h"

#include <assert.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_mem.h"
#include "base/sw_strset.h"
#include "store/store_hist.h"
#include "store/store_int.h"
#include "store/store_mail_int.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

#define STORE_MAIL_MSGID_MAX 400

/* --- Freeing -------------------------------------------------------------- */

void store_strv_free(char **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        sw_free(v[i]);
    sw_free(v);
}

sw_err store_strv_add(char ***v, size_t *n, const char *s)
{
    char **nv;
    size_t i;

    if (s == NULL || s[0] == '\0')
        return SW_OK;
    for (i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return SW_OK;
    nv = sw_realloc(*v, (*n + 1) * sizeof(char *));
    if (nv == NULL)
        return SW_ENOMEM;
    *v = nv;
    nv[*n] = sw_strdup(s);
    if (nv[*n] == NULL)
        return SW_ENOMEM;
    (*n)++;
    return SW_OK;
}

sw_err store_strv_union(char ***v, size_t *n, char *const *add, size_t nadd,
                        size_t max)
{
    struct sw_strset have = SW_STRSET_INIT;
    char **nv;
    size_t i;
    int added;
    sw_err rc;

    if (nadd == 0 || (max > 0 && *n >= max))
        return SW_OK;
    rc = sw_strset_reserve(&have, *n + nadd);
    for (i = 0; rc == SW_OK && i < *n; i++)
        rc = sw_strset_add(&have, (*v)[i], NULL);
    if (rc == SW_OK) {
        nv = sw_realloc(*v, (*n + nadd) * sizeof(char *));
        if (nv == NULL)
            rc = SW_ENOMEM;
        else
            *v = nv;
    }
    for (i = 0; rc == SW_OK && i < nadd && (max == 0 || *n < max); i++) {
        if (add[i] == NULL || add[i][0] == '\0')
            continue;
        rc = sw_strset_add(&have, add[i], &added);
        if (rc || !added)
            continue;
        (*v)[*n] = sw_strdup(add[i]);
        if ((*v)[*n] == NULL) {
            rc = SW_ENOMEM;
            break;
        }
        (*n)++; /* the set borrows add[i], alive until we return */
    }
    sw_strset_free(&have);
    return rc;
}

static void store_addrs_free(struct store_addr *a, size_t n)
{
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < n; i++) {
        sw_free(a[i].name);
        sw_free(a[i].email);
    }
    sw_free(a);
}

void store_email_clear(struct store_email *e)
{
    size_t i;

    if (e == NULL)
        return;
    sw_free(e->email_id);
    sw_free(e->team_id);
    sw_free(e->thread_id);
    sw_free(e->message_id);
    sw_free(e->in_reply_to);
    store_strv_free(e->references, e->n_references);
    sw_free(e->from_email);
    sw_free(e->from_name);
    sw_free(e->rep_email);
    sw_free(e->subject);
    store_addrs_free(e->to, e->n_to);
    store_addrs_free(e->cc, e->n_cc);
    sw_free(e->body_text);
    sw_free(e->new_text);
    if (e->contents) {
        for (i = 0; i < e->n_contents; i++) {
            sw_free(e->contents[i].content_id);
            sw_free(e->contents[i].filename);
        }
        sw_free(e->contents);
    }
    store_strv_free(e->defects, e->n_defects);
    memset(e, 0, sizeof(*e));
}

void store_thread_clear(struct store_thread *t)
{
    if (t == NULL)
        return;
    sw_free(t->thread_id);
    sw_free(t->team_id);
    sw_free(t->subject);
    sw_free(t->subject_key);
    store_strv_free(t->participants, t->n_participants);
    store_strv_free(t->rep_emails, t->n_rep_emails);
    store_strv_free(t->email_ids, t->n_emails);
    memset(t, 0, sizeof(*t));
}

void store_content_clear(struct store_content *c)
{
    if (c == NULL)
        return;
    sw_free(c->content_id);
    sw_free(c->team_id);
    sw_free(c->filename);
    sw_free(c->media_type);
    sw_free(c->text);
    sw_free(c->detail);
    memset(c, 0, sizeof(*c));
}

void store_threads_free(struct store_thread *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++)
        store_thread_clear(&items[i]);
    sw_free(items);
}

void store_contents_free(struct store_content *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++)
        store_content_clear(&items[i]);
    sw_free(items);
}

/* --- Copying out of records ---------------------------------------------- */

/* store_mail_dup copies s ("" for NULL) and counts a failure in *bad. */
static char *store_mail_dup(const char *s, int *bad)
{
    char *p = sw_strdup(s ? s : "");

    if (p == NULL)
        *bad = 1;
    return p;
}

static char **store_mail_dupv(char *const *v, size_t n, int *bad)
{
    char **out;
    size_t i;

    out = sw_calloc(n ? n : 1, sizeof(char *));
    if (out == NULL) {
        *bad = 1;
        return NULL;
    }
    for (i = 0; i < n; i++)
        out[i] = store_mail_dup(v[i], bad);
    return out;
}

static struct store_addr *
store_mail_dup_addrs(Snipwise__Store__AddrRecord *const *v, size_t n, int *bad)
{
    struct store_addr *out;
    size_t i;

    out = sw_calloc(n ? n : 1, sizeof(*out));
    if (out == NULL) {
        *bad = 1;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        out[i].name = store_mail_dup(v[i]->name, bad);
        out[i].email = store_mail_dup(v[i]->email, bad);
    }
    return out;
}

sw_err store_mail__email_dec(const char *team_id, const void *v, size_t vl,
                             struct store_email *out)
{
    Snipwise__Store__EmailRecord *r;
    ProtobufCMessage *m = NULL;
    int bad = 0;
    size_t i;
    sw_err rc;

    memset(out, 0, sizeof(*out));
    rc = store__unpack(&snipwise__store__email_record__descriptor, v, vl, &m);
    if (rc)
        return rc;
    r = (Snipwise__Store__EmailRecord *)m;
    out->email_id = store_mail_dup(r->email_id, &bad);
    out->team_id = store_mail_dup(team_id, &bad);
    out->thread_id = store_mail_dup(r->thread_id, &bad);
    out->message_id = store_mail_dup(r->message_id, &bad);
    out->in_reply_to = store_mail_dup(r->in_reply_to, &bad);
    out->references = store_mail_dupv(r->references, r->n_references, &bad);
    out->n_references = out->references ? r->n_references : 0;
    out->direction = r->direction;
    out->from_email = store_mail_dup(r->from ? r->from->email : "", &bad);
    out->from_name = store_mail_dup(r->from ? r->from->name : "", &bad);
    out->rep_email = store_mail_dup(r->rep_email, &bad);
    out->subject = store_mail_dup(r->subject, &bad);
    out->to = store_mail_dup_addrs(r->to, r->n_to, &bad);
    out->n_to = out->to ? r->n_to : 0;
    out->cc = store_mail_dup_addrs(r->cc, r->n_cc, &bad);
    out->n_cc = out->cc ? r->n_cc : 0;
    out->sent_ms = r->sent_unix_ms;
    out->ingest_ms = r->ingest_unix_ms;
    out->body_text = store_mail_dup(r->body_text, &bad);
    out->new_text = store_mail_dup(r->new_text, &bad);
    out->contents =
        sw_calloc(r->n_contents ? r->n_contents : 1, sizeof(*out->contents));
    if (out->contents == NULL) {
        bad = 1;
    } else {
        out->n_contents = r->n_contents;
        for (i = 0; i < r->n_contents; i++) {
            out->contents[i].content_id =
                store_mail_dup(r->contents[i]->content_id, &bad);
            out->contents[i].filename =
                store_mail_dup(r->contents[i]->filename, &bad);
            out->contents[i].state = r->contents[i]->state;
            out->contents[i].is_new = r->contents[i]->is_new;
        }
    }
    out->defects = store_mail_dupv(r->defects, r->n_defects, &bad);
    out->n_defects = out->defects ? r->n_defects : 0;
    out->reply_kind = r->reply_kind;
    out->seq = r->seq;
    store__msg_free(m);
    if (bad) {
        store_email_clear(out);
        return SW_ENOMEM;
    }
    return SW_OK;
}

sw_err store_mail__thread_dec(const char *team_id, const void *v, size_t vl,
                              struct store_thread *out)
{
    Snipwise__Store__ThreadRecord *r;
    ProtobufCMessage *m = NULL;
    int bad = 0;
    sw_err rc;

    memset(out, 0, sizeof(*out));
    rc = store__unpack(&snipwise__store__thread_record__descriptor, v, vl, &m);
    if (rc)
        return rc;
    r = (Snipwise__Store__ThreadRecord *)m;
    out->thread_id = store_mail_dup(r->thread_id, &bad);
    out->team_id = store_mail_dup(team_id, &bad);
    out->subject = store_mail_dup(r->subject, &bad);
    out->subject_key = store_mail_dup(r->subject_key, &bad);
    out->participants =
        store_mail_dupv(r->participants, r->n_participants, &bad);
    out->n_participants = out->participants ? r->n_participants : 0;
    out->rep_emails = store_mail_dupv(r->rep_emails, r->n_rep_emails, &bad);
    out->n_rep_emails = out->rep_emails ? r->n_rep_emails : 0;
    out->email_ids = store_mail_dupv(r->email_ids, r->n_email_ids, &bad);
    out->n_emails = out->email_ids ? r->n_email_ids : 0;
    out->first_ms = r->first_unix_ms;
    out->last_ms = r->last_unix_ms;
    out->seq = r->seq;
    store__msg_free(m);
    if (bad) {
        store_thread_clear(out);
        return SW_ENOMEM;
    }
    return SW_OK;
}

sw_err store_mail__content_dec(const char *team_id, const void *v, size_t vl,
                               int with_text, struct store_content *out)
{
    Snipwise__Store__ContentRecord *r;
    ProtobufCMessage *m = NULL;
    int bad = 0;
    sw_err rc;

    memset(out, 0, sizeof(*out));
    rc = store__unpack(&snipwise__store__content_record__descriptor, v, vl, &m);
    if (rc)
        return rc;
    r = (Snipwise__Store__ContentRecord *)m;
    if (r->sha256.len != SW_SHA256_LEN ||
        (r->text_sha256.len != 0 && r->text_sha256.len != SW_SHA256_LEN)) {
        store__msg_free(m);
        return SW_ECORRUPT;
    }
    out->content_id = store_mail_dup(r->content_id, &bad);
    out->team_id = store_mail_dup(team_id, &bad);
    out->filename = store_mail_dup(r->filename, &bad);
    out->media_type = store_mail_dup(r->media_type, &bad);
    out->kind = r->kind;
    out->state = r->state;
    out->text_len = r->text ? strlen(r->text) : 0;
    out->text = store_mail_dup(with_text ? r->text : "", &bad);
    memcpy(out->sha256, r->sha256.data, SW_SHA256_LEN);
    sw_hex(out->sha256, SW_SHA256_LEN, out->sha256_hex);
    out->has_text_sha = r->text_sha256.len == SW_SHA256_LEN;
    if (out->has_text_sha)
        memcpy(out->text_sha256, r->text_sha256.data, SW_SHA256_LEN);
    out->size_bytes = r->size_bytes;
    out->pages = r->pages;
    out->first_seen_ms = r->first_seen_unix_ms;
    out->last_used_ms = r->last_used_unix_ms;
    out->detail = store_mail_dup(r->detail, &bad);
    out->times_used = r->times_used;
    out->file_state = r->file_state ? r->file_state : STORE_FILE_NOT_KEPT;
    out->seq = r->seq;
    store__msg_free(m);
    if (bad) {
        store_content_clear(out);
        return SW_ENOMEM;
    }
    return SW_OK;
}

/* --- Keys ------------------------------------------------------------------
 */

sw_err store_mail__id_key(struct sw_buf *b, const char *team_id, const char *id)
{
    if (team_id == NULL || id == NULL || !team_id[0] || !id[0])
        return SW_EINVAL;
    return store_key(b, team_id, id, strlen(id));
}

sw_err store_mail__seq_key(struct sw_buf *b, const char *team_id, uint64_t seq)
{
    sw_err rc;

    if (team_id == NULL || !team_id[0])
        return SW_EINVAL;
    rc = store_key(b, team_id, NULL, 0);
    return rc ? rc : store_key_add_u64(b, seq);
}

sw_err store_mail__recent_key(struct sw_buf *b, const char *team_id, int64_t ms,
                              const char *id)
{
    sw_err rc;

    if (team_id == NULL || id == NULL || !team_id[0])
        return SW_EINVAL;
    rc = store_key(b, team_id, NULL, 0);
    if (rc == SW_OK) /* inverted so that newer sorts first */
        rc = store_key_add_u64(b, ~(uint64_t)(ms < 0 ? 0 : ms));
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, id);
    return rc;
}

sw_err store_mail__subj_key(struct sw_buf *b, const char *team_id,
                            const char *subject_key, const char *thread_id)
{
    sw_err rc;

    if (team_id == NULL || subject_key == NULL || !subject_key[0])
        return SW_EINVAL;
    rc = store_key(b, team_id, subject_key, strlen(subject_key));
    if (rc == SW_OK)
        rc = sw_buf_addc(b, '\0');
    if (rc == SW_OK && thread_id)
        rc = sw_buf_addstr(b, thread_id);
    return rc;
}

sw_err store_mail__hash_key(struct sw_buf *b, const char *team_id, char which,
                            const unsigned char sha[32])
{
    sw_err rc;

    if (team_id == NULL || !team_id[0])
        return SW_EINVAL;
    rc = store_key(b, team_id, &which, 1);
    if (rc == SW_OK)
        rc = sw_buf_add(b, sha, SW_SHA256_LEN);
    return rc;
}

sw_err store_mail__use_key(struct sw_buf *b, const char *team_id,
                           const char *content_id, const char *email_id)
{
    sw_err rc = store_mail__id_key(b, team_id, content_id);

    if (rc == SW_OK)
        rc = sw_buf_addc(b, '\0');
    if (rc == SW_OK && email_id)
        rc = sw_buf_addstr(b, email_id);
    return rc;
}

sw_err store_mail_msgid_key(struct sw_buf *b, const char *msgid)
{
    unsigned char sha[SW_SHA256_LEN];
    char hex[2 * SW_SHA256_LEN + 1];
    size_t n;

    sw_buf_reset(b);
    if (msgid == NULL)
        return SW_EINVAL;
    n = strlen(msgid);
    if (n > 0 && msgid[0] == '<' && msgid[n - 1] == '>') {
        msgid++;
        n -= n >= 2 ? 2 : 1;
    }
    if (n == 0)
        return SW_EINVAL;
    if (n > STORE_MAIL_MSGID_MAX) {
        sw_sha256(msgid, n, sha);
        sw_hex(sha, SW_SHA256_LEN, hex);
        return sw_buf_printf(b, "M:%s", hex);
    }
    if (sw_buf_addstr(b, "m:") != SW_OK)
        return SW_ENOMEM;
    return sw_buf_add(b, msgid, n);
}

sw_err store_mail_hash_key(struct sw_buf *b,
                           const unsigned char sha[SW_SHA256_LEN])
{
    char hex[2 * SW_SHA256_LEN + 1];

    sw_buf_reset(b);
    sw_hex(sha, SW_SHA256_LEN, hex);
    return sw_buf_printf(b, "h:%s", hex);
}

/* --- Emails -----------------------------------------------------------------
 */

/* store_mail_id_get reads an id stored as a value at key. */
static SW_MUST_CHECK sw_err store_mail_id_get(store_txn *t, enum store_db db,
                                              const struct sw_buf *k, char **id)
{
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, db, sw_buf_str(k), sw_buf_len(k), &v, &vl);
    if (rc)
        return rc;
    if (vl == 0 || vl > 128)
        return SW_ECORRUPT;
    *id = sw_strndup(v, vl);
    return *id ? SW_OK : SW_ENOMEM;
}

sw_err store_email_lookup(store_txn *t, const char *team_id, const void *dkey,
                          size_t dlen, char **email_id)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    if (t == NULL || team_id == NULL || !team_id[0] || dkey == NULL ||
        dlen == 0 || email_id == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_key(&k, team_id, dkey, dlen);
    if (rc)
        goto out;
    rc = store_mail_id_get(t, STORE_DB_EMAIL_IDS, &k, email_id);
out:
    sw_buf_free(&k);
    return rc;
}

static char *store_mail_s(const char *s)
{
    return (char *)(s ? s : "");
}

static Snipwise__Store__AddrRecord **
store_mail_addrs(struct sw_arena *a, const struct store_addr *v, size_t n)
{
    Snipwise__Store__AddrRecord **out;
    size_t i;

    out = sw_arena_alloc(a, (n ? n : 1) * sizeof(*out));
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        out[i] = sw_arena_alloc(a, sizeof(**out));
        if (out[i] == NULL)
            return NULL;
        snipwise__store__addr_record__init(out[i]);
        out[i]->name = store_mail_s(v[i].name);
        out[i]->email = store_mail_s(v[i].email);
    }
    return out;
}

/* store_mail_strv gives a vector with NULLs replaced by "". */
static char **store_mail_strv(struct sw_arena *a, char *const *v, size_t n)
{
    char **out = sw_arena_alloc(a, (n ? n : 1) * sizeof(char *));
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        out[i] = store_mail_s(v[i]);
    return out;
}

static SW_MUST_CHECK sw_err store_email_pack_put(store_txn *t,
                                                 const struct store_email *e,
                                                 const void *dkey, size_t dlen,
                                                 unsigned flags)
{
    Snipwise__Store__EmailRecord r = SNIPWISE__STORE__EMAIL_RECORD__INIT;
    Snipwise__Store__AddrRecord from = SNIPWISE__STORE__ADDR_RECORD__INIT;
    struct sw_arena a;
    struct sw_buf k;
    size_t i;
    sw_err rc;

    sw_arena_init(&a, 0);
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    r.email_id = e->email_id;
    r.thread_id = store_mail_s(e->thread_id);
    r.message_id = store_mail_s(e->message_id);
    r.in_reply_to = store_mail_s(e->in_reply_to);
    r.n_references = e->n_references;
    r.references = store_mail_strv(&a, e->references, e->n_references);
    r.subject = store_mail_s(e->subject);
    from.name = store_mail_s(e->from_name);
    from.email = store_mail_s(e->from_email);
    r.from = &from;
    r.n_to = e->n_to;
    r.to = store_mail_addrs(&a, e->to, e->n_to);
    r.n_cc = e->n_cc;
    r.cc = store_mail_addrs(&a, e->cc, e->n_cc);
    r.sent_unix_ms = e->sent_ms;
    r.ingest_unix_ms = e->ingest_ms;
    r.direction = e->direction;
    r.rep_email = store_mail_s(e->rep_email);
    r.body_text = store_mail_s(e->body_text);
    r.new_text = store_mail_s(e->new_text);
    r.n_contents = e->n_contents;
    r.contents = sw_arena_alloc(&a, (e->n_contents ? e->n_contents : 1) *
                                        sizeof(*r.contents));
    r.n_defects = e->n_defects;
    r.defects = store_mail_strv(&a, e->defects, e->n_defects);
    r.dedupe_key.data = (uint8_t *)dkey;
    r.dedupe_key.len = dlen;
    r.seq = e->seq;
    r.reply_kind = e->reply_kind;
    if (r.references == NULL || r.to == NULL || r.cc == NULL ||
        r.contents == NULL || r.defects == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < e->n_contents; i++) {
        Snipwise__Store__EmailContentRecord *c = sw_arena_alloc(&a, sizeof(*c));
        if (c == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        snipwise__store__email_content_record__init(c);
        c->content_id = store_mail_s(e->contents[i].content_id);
        c->filename = store_mail_s(e->contents[i].filename);
        c->state = e->contents[i].state;
        c->is_new = e->contents[i].is_new != 0;
        r.contents[i] = c;
    }
    rc = store_mail__id_key(&k, e->team_id, e->email_id);
    if (rc)
        goto out;
    rc = store__put_msg(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                        &r.base, flags);
out:
    sw_buf_free(&k);
    sw_arena_free(&a);
    return rc;
}

sw_err store_email_put(store_txn *t, struct store_email *e, const void *dkey,
                       size_t dlen)
{
    struct sw_buf k, mk;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    sw_buf_init(&mk, STORE_KEYBUF_MAX);
    if (t == NULL || e == NULL || e->email_id == NULL || e->team_id == NULL ||
        e->thread_id == NULL || dkey == NULL || dlen == 0) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_seq_next(t, e->team_id, "email", &e->seq);
    if (rc)
        goto out;
    rc = store_email_pack_put(t, e, dkey, dlen, STORE_NOOVERWRITE);
    if (rc)
        goto out;
    rc = store_key(&k, e->team_id, dkey, dlen);
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_EMAIL_IDS, sw_buf_str(&k), sw_buf_len(&k),
                   e->email_id, strlen(e->email_id), STORE_NOOVERWRITE);
    if (rc)
        goto out;
    /* The feed of new emails (store_hist_email_feed). */
    rc = store_mail__seq_key(&mk, e->team_id, e->seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_EMAIL_SEQ, sw_buf_str(&mk), sw_buf_len(&mk),
                       e->email_id, strlen(e->email_id), STORE_NOOVERWRITE);
out:
    sw_buf_free(&k);
    sw_buf_free(&mk);
    return rc;
}

sw_err store_email_get_txn(store_txn *t, const char *team_id,
                           const char *email_id, struct store_email *out)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, email_id);
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k), &v, &vl);
    if (rc)
        goto out;
    rc = store_mail__email_dec(team_id, v, vl, out);
out:
    sw_buf_free(&k);
    return rc;
}

sw_err store_email_set_reply_kind(store_txn *t, const char *team_id,
                                  const char *email_id, int kind)
{
    Snipwise__Store__EmailRecord *r;
    ProtobufCMessage *m = NULL;
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, email_id);
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k), &v, &vl);
    if (rc)
        goto out;
    rc = store__unpack(&snipwise__store__email_record__descriptor, v, vl, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__EmailRecord *)m;
    r->reply_kind = kind;
    rc = store__put_msg(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                        &r->base, 0);
out:
    store__msg_free(m);
    sw_buf_free(&k);
    return rc;
}

/* --- Threads -----------------------------------------------------------------
 */

sw_err store_thread_get_txn(store_txn *t, const char *team_id,
                            const char *thread_id, struct store_thread *out)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, thread_id);
    if (rc)
        goto out;
    rc =
        store_get(t, STORE_DB_THREADS, sw_buf_str(&k), sw_buf_len(&k), &v, &vl);
    if (rc)
        goto out;
    rc = store_mail__thread_dec(team_id, v, vl, out);
out:
    sw_buf_free(&k);
    return rc;
}

sw_err store_thread_put(store_txn *t, struct store_thread *th)
{
    Snipwise__Store__ThreadRecord r = SNIPWISE__STORE__THREAD_RECORD__INIT;
    struct store_thread old;
    struct sw_arena a;
    struct sw_buf k;
    int had = 0;
    sw_err rc;

    memset(&old, 0, sizeof(old));
    sw_arena_init(&a, 0);
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    if (t == NULL || th == NULL || th->thread_id == NULL ||
        th->team_id == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_thread_get_txn(t, th->team_id, th->thread_id, &old);
    if (rc == SW_OK)
        had = 1;
    else if (rc != SW_ENOTFOUND)
        goto out;
    if (th->seq == 0) {
        if (had) {
            th->seq = old.seq;
        } else {
            rc = store_seq_next(t, th->team_id, "thread", &th->seq);
            if (rc)
                goto out;
        }
    }
    r.thread_id = th->thread_id;
    r.subject = store_mail_s(th->subject);
    r.subject_key = store_mail_s(th->subject_key);
    r.n_participants = th->n_participants;
    r.participants = store_mail_strv(&a, th->participants, th->n_participants);
    r.n_rep_emails = th->n_rep_emails;
    r.rep_emails = store_mail_strv(&a, th->rep_emails, th->n_rep_emails);
    r.n_email_ids = th->n_emails;
    r.email_ids = store_mail_strv(&a, th->email_ids, th->n_emails);
    r.first_unix_ms = th->first_ms;
    r.last_unix_ms = th->last_ms;
    r.seq = th->seq;
    if (r.participants == NULL || r.rep_emails == NULL || r.email_ids == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (had) {
        rc =
            store_mail__recent_key(&k, th->team_id, old.last_ms, th->thread_id);
        if (rc == SW_OK)
            rc = store_del(t, STORE_DB_THREAD_RECENT, sw_buf_str(&k),
                           sw_buf_len(&k));
        if (rc && rc != SW_ENOTFOUND)
            goto out;
        if (old.subject_key && old.subject_key[0] &&
            strcmp(old.subject_key, r.subject_key) != 0) {
            rc = store_mail__subj_key(&k, th->team_id, old.subject_key,
                                      th->thread_id);
            if (rc == SW_OK)
                rc = store_del(t, STORE_DB_THREAD_SUBJ, sw_buf_str(&k),
                               sw_buf_len(&k));
            if (rc && rc != SW_ENOTFOUND)
                goto out;
        }
    }
    rc = store_mail__id_key(&k, th->team_id, th->thread_id);
    if (rc)
        goto out;
    rc = store__put_msg(t, STORE_DB_THREADS, sw_buf_str(&k), sw_buf_len(&k),
                        &r.base, 0);
    if (rc)
        goto out;
    rc = store_mail__recent_key(&k, th->team_id, th->last_ms, th->thread_id);
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_THREAD_RECENT, sw_buf_str(&k), sw_buf_len(&k),
                   "", 0, 0);
    if (rc)
        goto out;
    if (r.subject_key[0]) {
        rc =
            store_mail__subj_key(&k, th->team_id, r.subject_key, th->thread_id);
        if (rc)
            goto out;
        rc = store_put(t, STORE_DB_THREAD_SUBJ, sw_buf_str(&k), sw_buf_len(&k),
                       "", 0, 0);
    }
out:
    store_thread_clear(&old);
    sw_buf_free(&k);
    sw_arena_free(&a);
    return rc;
}

struct store_mail_ids {
    size_t skip; /* bytes of key before the id */
    size_t max;
    char **ids;
    size_t n;
};

static SW_MUST_CHECK sw_err store_mail_ids_cb(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct store_mail_ids *x = arg;

    (void)v;
    (void)vl;
    if (x->n >= x->max)
        return STORE_SCAN_STOP;
    if (kl <= x->skip)
        return SW_OK;
    x->ids[x->n] = sw_strndup((const char *)k + x->skip, kl - x->skip);
    if (x->ids[x->n] == NULL)
        return SW_ENOMEM;
    x->n++;
    return SW_OK;
}

/* store_mail_ids_scan collects the id suffixes of the keys under prefix. */
static SW_MUST_CHECK sw_err store_mail_ids_scan(store_txn *t, enum store_db db,
                                                const struct sw_buf *prefix,
                                                size_t max, char ***ids,
                                                size_t *n)
{
    struct store_mail_ids x;
    sw_err rc;

    memset(&x, 0, sizeof(x));
    x.skip = sw_buf_len(prefix);
    x.max = max;
    x.ids = sw_calloc(max ? max : 1, sizeof(char *));
    if (x.ids == NULL)
        return SW_ENOMEM;
    rc = store_scan(t, db, sw_buf_str(prefix), sw_buf_len(prefix), NULL, 0,
                    store_mail_ids_cb, &x);
    if (rc) {
        store_strv_free(x.ids, x.n);
        return rc;
    }
    *ids = x.ids;
    *n = x.n;
    return SW_OK;
}

sw_err store_thread_by_subject(store_txn *t, const char *team_id,
                               const char *key, size_t max, char ***ids,
                               size_t *n)
{
    struct sw_buf p;
    sw_err rc;

    sw_buf_init(&p, STORE_KEYBUF_MAX);
    if (t == NULL || ids == NULL || n == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_mail__subj_key(&p, team_id, key, NULL);
    if (rc)
        goto out;
    rc = store_mail_ids_scan(t, STORE_DB_THREAD_SUBJ, &p, max, ids, n);
out:
    sw_buf_free(&p);
    return rc;
}

/* --- Thread references and merging -------------------------------------
 * Threading does not depend on the order mail arrives in: every Message-ID
 * an email has or references names the email's thread ("r:" entries in
 * EMAIL_IDS), so a parent that comes after its replies finds their thread,
 * and an email that links two threads merges them (store_thread_merge). */

/* store_mail_ref_key resets k to the EMAIL_IDS key of msgid's thread
 * reference: its Message-ID key with 'r' ('R' when hashed) for 'm' ('M').
 * SW_EINVAL for an empty id. */
static SW_MUST_CHECK sw_err store_mail_ref_key(struct sw_buf *k,
                                               const char *team_id,
                                               const char *msgid)
{
    struct sw_buf m;
    const char *p;
    char c;
    sw_err rc;

    sw_buf_init(&m, STORE_KEYBUF_MAX);
    rc = store_mail_msgid_key(&m, msgid);
    if (rc == SW_OK) {
        p = sw_buf_str(&m);
        assert(sw_buf_len(&m) > 2 && (p[0] == 'm' || p[0] == 'M'));
        c = p[0] == 'm' ? 'r' : 'R';
        rc = store_key(k, team_id, &c, 1);
        if (rc == SW_OK)
            rc = sw_buf_add(k, p + 1, sw_buf_len(&m) - 1);
    }
    sw_buf_free(&m);
    return rc;
}

sw_err store_thread_by_ref(store_txn *t, const char *team_id, const char *msgid,
                           char **thread_id)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    char *id = NULL;
    sw_err rc;

    if (t == NULL || team_id == NULL || !team_id[0] || thread_id == NULL)
        return SW_EINVAL;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail_ref_key(&k, team_id, msgid);
    if (rc == SW_EINVAL)
        rc = SW_ENOTFOUND;
    if (rc == SW_OK)
        rc = store_mail_id_get(t, STORE_DB_EMAIL_IDS, &k, &id);
    if (rc == SW_OK)
        rc = store_mail__id_key(&k, team_id, id);
    if (rc == SW_OK) /* SW_ENOTFOUND: erased since */
        rc = store_get(t, STORE_DB_THREADS, sw_buf_str(&k), sw_buf_len(&k), &v,
                       &vl);
    if (rc == SW_OK) {
        *thread_id = id;
        id = NULL;
    }
    sw_free(id);
    sw_buf_free(&k);
    return rc;
}

sw_err store_thread_ref_put(store_txn *t, const char *team_id,
                            const char *msgid, const char *thread_id)
{
    struct sw_buf k;
    sw_err rc;

    if (t == NULL || team_id == NULL || !team_id[0] || thread_id == NULL ||
        !thread_id[0])
        return SW_EINVAL;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail_ref_key(&k, team_id, msgid);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_EMAIL_IDS, sw_buf_str(&k), sw_buf_len(&k),
                       thread_id, strlen(thread_id), 0);
    else if (rc == SW_EINVAL && msgid != NULL)
        rc = SW_OK; /* an empty Message-ID references nothing */
    sw_buf_free(&k);
    return rc;
}

sw_err store_thread_ref_del(store_txn *t, const char *team_id,
                            const char *msgid, const char *thread_id)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    if (t == NULL || team_id == NULL || !team_id[0] || thread_id == NULL)
        return SW_EINVAL;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail_ref_key(&k, team_id, msgid);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_EMAIL_IDS, sw_buf_str(&k), sw_buf_len(&k),
                       &v, &vl);
    if (rc == SW_OK && vl == strlen(thread_id) && memcmp(v, thread_id, vl) == 0)
        rc = store_del(t, STORE_DB_EMAIL_IDS, sw_buf_str(&k), sw_buf_len(&k));
    else if (rc == SW_OK || rc == SW_ENOTFOUND || (rc == SW_EINVAL && msgid))
        rc = SW_OK; /* another thread's, none, or an empty Message-ID */
    sw_buf_free(&k);
    return rc;
}

/* --- Contents
 * ------------------------------------------------------------------ */

sw_err store_content_lookup(store_txn *t, const char *team_id, char which,
                            const unsigned char sha[32], char **content_id)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    if (t == NULL || sha == NULL || content_id == NULL ||
        (which != 'b' && which != 't')) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_mail__hash_key(&k, team_id, which, sha);
    if (rc)
        goto out;
    rc = store_mail_id_get(t, STORE_DB_CONTENT_HASH, &k, content_id);
out:
    sw_buf_free(&k);
    return rc;
}

sw_err store_content_get_txn(store_txn *t, const char *team_id,
                             const char *content_id, struct store_content *out)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, content_id);
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_CONTENTS, sw_buf_str(&k), sw_buf_len(&k), &v,
                   &vl);
    if (rc)
        goto out;
    rc = store_mail__content_dec(team_id, v, vl, 1, out);
out:
    sw_buf_free(&k);
    return rc;
}

/* store_content_index puts content_id under the hash key unless taken. */
static SW_MUST_CHECK sw_err store_content_index(store_txn *t,
                                                const struct store_content *c,
                                                char which,
                                                const unsigned char *sha,
                                                struct sw_buf *k)
{
    sw_err rc = store_mail__hash_key(k, c->team_id, which, sha);

    if (rc)
        return rc;
    rc = store_put(t, STORE_DB_CONTENT_HASH, sw_buf_str(k), sw_buf_len(k),
                   c->content_id, strlen(c->content_id), STORE_NOOVERWRITE);
    return rc == SW_EEXIST ? SW_OK : rc;
}

sw_err store_content_put(store_txn *t, struct store_content *c)
{
    Snipwise__Store__ContentRecord r = SNIPWISE__STORE__CONTENT_RECORD__INIT;
    const void *v;
    size_t vl;
    int64_t old_last = -1;
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    if (t == NULL || c == NULL || c->content_id == NULL || c->team_id == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_mail__id_key(&k, c->team_id, c->content_id);
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_CONTENTS, sw_buf_str(&k), sw_buf_len(&k), &v,
                   &vl);
    if (rc == SW_OK) {
        ProtobufCMessage *m = NULL;
        rc = store__unpack(&snipwise__store__content_record__descriptor, v, vl,
                           &m);
        if (rc)
            goto out;
        old_last = ((Snipwise__Store__ContentRecord *)m)->last_used_unix_ms;
        if (c->seq == 0)
            c->seq = ((Snipwise__Store__ContentRecord *)m)->seq;
        store__msg_free(m);
    } else if (rc != SW_ENOTFOUND) {
        goto out;
    }
    if (c->seq == 0) {
        rc = store_seq_next(t, c->team_id, "content", &c->seq);
        if (rc)
            goto out;
    }
    r.content_id = c->content_id;
    r.filename = store_mail_s(c->filename);
    r.media_type = store_mail_s(c->media_type);
    r.kind = c->kind;
    r.state = c->state;
    r.text = store_mail_s(c->text);
    r.sha256.data = c->sha256;
    r.sha256.len = SW_SHA256_LEN;
    if (c->has_text_sha) {
        r.text_sha256.data = c->text_sha256;
        r.text_sha256.len = SW_SHA256_LEN;
    }
    r.size_bytes = c->size_bytes;
    r.pages = c->pages;
    r.first_seen_unix_ms = c->first_seen_ms;
    r.last_used_unix_ms = c->last_used_ms;
    r.detail = store_mail_s(c->detail);
    r.times_used = c->times_used;
    r.file_state = c->file_state;
    r.seq = c->seq;
    rc = store_mail__id_key(&k, c->team_id, c->content_id);
    if (rc)
        goto out;
    rc = store__put_msg(t, STORE_DB_CONTENTS, sw_buf_str(&k), sw_buf_len(&k),
                        &r.base, 0);
    if (rc)
        goto out;
    rc = store_content_index(t, c, 'b', c->sha256, &k);
    if (rc == SW_OK && c->has_text_sha)
        rc = store_content_index(t, c, 't', c->text_sha256, &k);
    if (rc)
        goto out;
    if (old_last >= 0) {
        rc = store_mail__recent_key(&k, c->team_id, old_last, c->content_id);
        if (rc == SW_OK)
            rc = store_del(t, STORE_DB_CONTENT_RECENT, sw_buf_str(&k),
                           sw_buf_len(&k));
        if (rc && rc != SW_ENOTFOUND)
            goto out;
    }
    rc = store_mail__recent_key(&k, c->team_id, c->last_used_ms, c->content_id);
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_CONTENT_RECENT, sw_buf_str(&k), sw_buf_len(&k),
                   "", 0, 0);
out:
    sw_buf_free(&k);
    return rc;
}

sw_err store_content_use_add(store_txn *t, const char *team_id,
                             const char *content_id, const char *email_id)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    if (t == NULL || email_id == NULL || !email_id[0]) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_mail__use_key(&k, team_id, content_id, email_id);
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_CONTENT_USE, sw_buf_str(&k), sw_buf_len(&k), "",
                   0, 0);
out:
    sw_buf_free(&k);
    return rc;
}

/* --- Reads
 * ----------------------------------------------------------------------- */

struct store_mail_get {
    const char *team_id;
    const char *id;
    int what; /* 'e' email, 'm' email by Message-ID, 't' thread, 'c' content */
    void *out;
    char **ids;
    size_t max, n;
};

static SW_MUST_CHECK sw_err store_mail_get_view(store_txn *t, void *arg)
{
    struct store_mail_get *g = arg;
    struct sw_buf mk;
    char *eid = NULL;
    sw_err rc;

    sw_buf_init(&mk, STORE_KEYBUF_MAX);
    switch (g->what) {
    case 'e':
        rc = store_email_get_txn(t, g->team_id, g->id, g->out);
        break;
    case 'm':
        rc = store_mail_msgid_key(&mk, g->id);
        if (rc == SW_EINVAL)
            rc = SW_ENOTFOUND;
        if (rc == SW_OK)
            rc = store_email_lookup(t, g->team_id, sw_buf_str(&mk),
                                    sw_buf_len(&mk), &eid);
        if (rc == SW_OK)
            rc = store_email_get_txn(t, g->team_id, eid, g->out);
        break;
    case 't':
        rc = store_thread_get_txn(t, g->team_id, g->id, g->out);
        break;
    case 'c':
        rc = store_content_get_txn(t, g->team_id, g->id, g->out);
        break;
    default:
        rc = store_mail__use_key(&mk, g->team_id, g->id, NULL);
        if (rc == SW_OK)
            rc = store_mail_ids_scan(t, STORE_DB_CONTENT_USE, &mk, g->max,
                                     &g->ids, &g->n);
        break;
    }
    sw_free(eid);
    sw_buf_free(&mk);
    return rc;
}

static SW_MUST_CHECK sw_err store_mail_get(store *s, const char *team_id,
                                           const char *id, int what, void *out)
{
    struct store_mail_get g;

    if (s == NULL || team_id == NULL || id == NULL || out == NULL)
        return SW_EINVAL;
    if (!team_id[0] || !id[0] || strlen(id) > 400)
        return SW_ENOTFOUND;
    memset(&g, 0, sizeof(g));
    g.team_id = team_id;
    g.id = id;
    g.what = what;
    g.out = out;
    return store_view(s, store_mail_get_view, &g);
}

sw_err store_email_get(store *s, const char *team_id, const char *email_id,
                       struct store_email *out)
{
    return store_mail_get(s, team_id, email_id, 'e', out);
}

sw_err store_email_by_message_id(store *s, const char *team_id,
                                 const char *msgid, struct store_email *out)
{
    return store_mail_get(s, team_id, msgid, 'm', out);
}

sw_err store_thread_get(store *s, const char *team_id, const char *thread_id,
                        struct store_thread *out)
{
    return store_mail_get(s, team_id, thread_id, 't', out);
}

sw_err store_content_get(store *s, const char *team_id, const char *content_id,
                         struct store_content *out)
{
    return store_mail_get(s, team_id, content_id, 'c', out);
}

sw_err store_content_emails(store *s, const char *team_id,
                            const char *content_id, size_t max, char ***ids,
                            size_t *n)
{
    struct store_mail_get g;
    sw_err rc;

    if (s == NULL || team_id == NULL || content_id == NULL || ids == NULL ||
        n == NULL || !team_id[0] || !content_id[0])
        return SW_EINVAL;
    memset(&g, 0, sizeof(g));
    g.team_id = team_id;
    g.id = content_id;
    g.what = 'u';
    g.out = ids;
    g.max = max;
    rc = store_view(s, store_mail_get_view, &g);
    if (rc) {
        store_strv_free(g.ids, g.n);
        return rc;
    }
    *ids = g.ids;
    *n = g.n;
    return SW_OK;
}
