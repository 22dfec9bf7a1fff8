/* store_erase: erasure of content items (store_erase.h). */
#include "store/store_erase.h"

#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/mail_records.pb-c.h"
#include "store/store_erase_int.h"
#include "store/store_hist.h"
#include "store/store_int.h"
#include "store/store_library.h"
#include "store/store_mail.h"
#include "store/store_mail_int.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

void store_erase_counts_clear(struct store_erase_counts *c)
{
    if (c == NULL)
        return;
    store_strv_free(c->snippet_ids, c->n_snippets);
    memset(c, 0, sizeof(*c));
}

/* --- The snippets of an item -----------------------------------------------
 */

struct store_erase_snips {
    const char *content_id;
    char **ids;
    size_t n, cap;
};

static SW_MUST_CHECK sw_err store_erase_snip_cb(const struct store_snippet *s,
                                                void *arg)
{
    struct store_erase_snips *a = arg;
    char **nv;

    if (s->deleted || s->content_id == NULL ||
        strcmp(s->content_id, a->content_id) != 0)
        return SW_OK;
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        nv = sw_realloc(a->ids, a->cap * sizeof(*nv));
        if (nv == NULL)
            return SW_ENOMEM;
        a->ids = nv;
    }
    a->ids[a->n] = sw_strdup(s->snippet_id);
    if (a->ids[a->n] == NULL)
        return SW_ENOMEM;
    a->n++;
    return SW_OK;
}

struct store_erase_find {
    const char *team_id;
    struct store_erase_snips snips;
    int exists;
};

static SW_MUST_CHECK sw_err store_erase_find_txn(store_txn *t, void *arg)
{
    struct store_erase_find *f = arg;
    struct store_content c;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    rc = store_content_get_txn(t, f->team_id, f->snips.content_id, &c);
    store_content_clear(&c);
    if (rc)
        return rc;
    f->exists = 1;
    return store_hist_snippets(t, f->team_id, store_erase_snip_cb, &f->snips);
}

/* --- The write transaction -------------------------------------------------
 */

/* store_erase_email_drop removes content_id from email_id's attachments. */
static SW_MUST_CHECK sw_err store_erase_email_drop(store_txn *t,
                                                   const char *team_id,
                                                   const char *email_id,
                                                   const char *content_id)
{
    Snipwise__Store__EmailContentRecord **all, **kept = NULL;
    Snipwise__Store__EmailRecord *r;
    ProtobufCMessage *m = NULL;
    struct sw_buf k;
    const void *v;
    size_t vl, i, n = 0, n_all;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, email_id);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k), &v,
                       &vl);
    if (rc == SW_OK)
        rc = store__unpack(&snipwise__store__email_record__descriptor, v, vl,
                           &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__EmailRecord *)m;
    all = r->contents;
    n_all = r->n_contents;
    kept = sw_calloc(n_all ? n_all : 1, sizeof(*kept));
    if (kept == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < n_all; i++) /* keep the others, in order */
        if (strcmp(all[i]->content_id, content_id) != 0)
            kept[n++] = all[i];
    r->contents = kept;
    r->n_contents = n;
    rc = store__put_msg(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                        &r->base, 0);
    r->contents = all; /* freed whole with the message */
    r->n_contents = n_all;
out:
    sw_free(kept);
    store__msg_free(m);
    sw_buf_free(&k);
    return rc;
}

struct store_erase_tx {
    const char *team_id, *content_id;
    struct store_erase_counts *out;
    char **emails; /* from CONTENT_USE */
    size_t n_emails;
};

/* CONTENT_USE keys are team\0content_id\0email_id. */
static SW_MUST_CHECK sw_err store_erase_use_cb(const void *k, size_t kl,
                                               const void *v, size_t vl,
                                               void *arg)
{
    struct store_erase_tx *x = arg;
    size_t pre = strlen(x->team_id) + 1 + strlen(x->content_id) + 1;
    char **nv;

    (void)v;
    (void)vl;
    if (kl <= pre)
        return SW_ECORRUPT;
    nv = sw_realloc(x->emails, (x->n_emails + 1) * sizeof(*nv));
    if (nv == NULL)
        return SW_ENOMEM;
    x->emails = nv;
    nv[x->n_emails] = sw_strndup((const char *)k + pre, kl - pre);
    if (nv[x->n_emails] == NULL)
        return SW_ENOMEM;
    x->n_emails++;
    return SW_OK;
}

/* store_erase_hash deletes the hash entry which/sha if it names the item. */
static SW_MUST_CHECK sw_err store_erase_hash(store_txn *t,
                                             const struct store_content *c,
                                             char which,
                                             const unsigned char *sha,
                                             struct sw_buf *k)
{
    const void *v;
    size_t vl;
    sw_err rc = store_mail__hash_key(k, c->team_id, which, sha);

    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_CONTENT_HASH, sw_buf_str(k), sw_buf_len(k),
                       &v, &vl);
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    if (rc || vl != strlen(c->content_id) || memcmp(v, c->content_id, vl) != 0)
        return rc; /* another item's entry (a text twin's): leave it */
    return store_del(t, STORE_DB_CONTENT_HASH, sw_buf_str(k), sw_buf_len(k));
}

static SW_MUST_CHECK sw_err store_erase_content_txn(store_txn *t, void *arg)
{
    struct store_erase_tx *x = arg;
    struct store_content c;
    struct sw_buf k;
    uint64_t seq;
    size_t i;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    store_strv_free(x->emails, x->n_emails); /* a retried transaction */
    x->emails = NULL;
    x->n_emails = 0;
    rc = store_content_get_txn(t, x->team_id, x->content_id, &c);
    if (rc == SW_OK)
        rc =
            store_key(&k, x->team_id, x->content_id, strlen(x->content_id) + 1);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_CONTENT_USE, sw_buf_str(&k), sw_buf_len(&k),
                        NULL, 0, store_erase_use_cb, x);
    for (i = 0; rc == SW_OK && i < x->n_emails; i++)
        rc = store_erase_email_drop(t, x->team_id, x->emails[i], x->content_id);
    if (rc == SW_OK)
        rc = store_del_prefix(t, STORE_DB_CONTENT_USE, sw_buf_str(&k),
                              sw_buf_len(&k), NULL);
    if (rc == SW_OK)
        rc = store_erase_hash(t, &c, 'b', c.sha256, &k);
    if (rc == SW_OK && c.has_text_sha)
        rc = store_erase_hash(t, &c, 't', c.text_sha256, &k);
    if (rc == SW_OK)
        rc = store_mail__recent_key(&k, x->team_id, c.last_used_ms,
                                    x->content_id);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_CONTENT_RECENT, sw_buf_str(&k),
                       sw_buf_len(&k));
    if (rc == SW_OK || rc == SW_ENOTFOUND)
        rc = store_mail__id_key(&k, x->team_id, x->content_id);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_CONTENTS, sw_buf_str(&k), sw_buf_len(&k));
    x->out->library_bytes = 0;
    if (rc == SW_OK && c.file_state == STORE_FILE_KEPT) {
        rc = store_library_delete(t, x->team_id, c.sha256, c.size_bytes);
        x->out->library_bytes = c.size_bytes;
    }
    if (rc == SW_OK)
        rc = store_seq_next(t, x->team_id, STORE_ERASE_SEQ, &seq);
    x->out->emails = x->n_emails;
    store_content_clear(&c);
    sw_buf_free(&k);
    return rc;
}

sw_err store_content_erase(store *s, const char *team_id,
                           const char *content_id,
                           struct store_erase_counts *out)
{
    struct store_erase_find f;
    struct store_erase_tx x;
    size_t i;
    sw_err rc;

    if (s == NULL || team_id == NULL || content_id == NULL || out == NULL)
        return SW_EINVAL;
    memset(out, 0, sizeof(*out));
    memset(&f, 0, sizeof(f));
    f.team_id = team_id;
    f.snips.content_id = content_id;
    rc = store_view(s, store_erase_find_txn, &f);
    /* Snippets first: a failure after them leaves the item whole, and a
     * second run finds them redacted already. */
    for (i = 0; rc == SW_OK && i < f.snips.n; i++)
        rc = store_snippet_delete(s, team_id, f.snips.ids[i]);
    out->snippet_ids = f.snips.ids;
    out->n_snippets = f.snips.n;
    if (rc)
        return rc;
    memset(&x, 0, sizeof(x));
    x.team_id = team_id;
    x.content_id = content_id;
    x.out = out;
    rc = store_update(s, store_erase_content_txn, &x);
    store_strv_free(x.emails, x.n_emails);
    return rc;
}

/* --- Outcomes ---------------------------------------------------------------
 */

struct store_erase_outcome {
    const char *team_id, *outcome_id;
    uint64_t seq;
    char *idem_key;
};

static SW_MUST_CHECK sw_err
store_erase_outcome_cb(const struct store_outcome *o, void *arg)
{
    struct store_erase_outcome *a = arg;

    if (strcmp(o->outcome_id, a->outcome_id) != 0)
        return SW_OK;
    a->seq = o->seq;
    a->idem_key = sw_strdup(o->idem_key);
    return a->idem_key ? STORE_SCAN_STOP : SW_ENOMEM;
}

static SW_MUST_CHECK sw_err store_erase_outcome_find(store_txn *t, void *arg)
{
    struct store_erase_outcome *a = arg;

    sw_free(a->idem_key);
    a->idem_key = NULL;
    a->seq = 0;
    return store_outcome_scan(t, a->team_id, NULL, store_erase_outcome_cb, a);
}

sw_err store_erase__outcome_del(store_txn *t, const char *team_id, uint64_t seq,
                                const char *idem_key)
{
    unsigned char be[8];
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    store_u64_put(be, UINT64_MAX - seq);
    rc = store_key(&k, team_id, be, sizeof(be));
    if (rc == SW_OK) /* SW_ENOTFOUND: erased meanwhile */
        rc = store_del(t, STORE_DB_OUTCOMES, sw_buf_str(&k), sw_buf_len(&k));
    if (rc == SW_OK)
        rc = store_key(&k, team_id, idem_key, strlen(idem_key));
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_OUTCOME_KEYS, sw_buf_str(&k), sw_buf_len(&k),
                       &v, &vl);
    if (rc == SW_OK && vl == 8 && store_u64_get(v) == seq)
        rc =
            store_del(t, STORE_DB_OUTCOME_KEYS, sw_buf_str(&k), sw_buf_len(&k));
    else if (rc == SW_ENOTFOUND || rc == SW_OK)
        rc = SW_OK; /* the key names another outcome, or none */
    sw_buf_free(&k);
    return rc;
}

static SW_MUST_CHECK sw_err store_erase_outcome_txn(store_txn *t, void *arg)
{
    struct store_erase_outcome *a = arg;
    uint64_t seq;
    sw_err rc;

    rc = store_erase__outcome_del(t, a->team_id, a->seq, a->idem_key);
    if (rc == SW_OK)
        rc = store_seq_next(t, a->team_id, STORE_ERASE_SEQ, &seq);
    return rc;
}

sw_err store_outcome_erase(store *s, const char *team_id,
                           const char *outcome_id)
{
    struct store_erase_outcome a = {team_id, outcome_id, 0, NULL};
    sw_err rc;

    if (s == NULL || team_id == NULL || outcome_id == NULL || !outcome_id[0])
        return SW_EINVAL;
    rc = store_view(s, store_erase_outcome_find, &a);
    if (rc == SW_OK && a.idem_key == NULL)
        rc = SW_ENOTFOUND;
    if (rc == SW_OK)
        rc = store_update(s, store_erase_outcome_txn, &a);
    sw_free(a.idem_key);
    return rc;
}
