/* store_mailbox: mailbox records and folder cursors (see store_mailbox.h
 * for the layout). Records are protobuf-c messages (mailbox_records.proto)
 * converted to and from the plain structs of the header. */
#include "store/store_mailbox.h"

#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/mailbox_records.pb-c.h"
#include "store/store_int.h"

#define STORE_MBX_FOLDER_MAX 64   /* folders per mailbox */
#define STORE_MBX_SECRET_MAX 8192 /* sealed secret bytes */

typedef Snipwise__Store__MailboxRecord store_mbx_rec;
typedef Snipwise__Store__MailboxFolderRecord store_mbx_frec;

#define M_(member, kind, rec, api)                                             \
    MSG_TF(struct store_mailbox, member, kind, rec, api)
const struct msg_tfield store_mailbox_table[] = {
    M_(mailbox_id, MSG_T_STR, "mailbox_id", "mailbox_id"),
    M_(rep_email, MSG_T_STR, "rep_email", "rep_email"),
    M_(host, MSG_T_STR, "host", "host"),
    M_(port, MSG_T_U32, "port", "port"),
    M_(tls_mode, MSG_T_INT, "tls_mode", "tls_mode"),
    M_(username, MSG_T_STR, "username", "username"),
    M_(auth_kind, MSG_T_INT, "auth_kind", NULL), /* a word in the API */
    MSG_TF_SECRET(struct store_mailbox, secret_box, secret_len, "secret_box",
                  NULL),
    MSG_TFN(struct store_mailbox, folders, n_folders, MSG_T_STRV, "folders",
            "requested_folders"),
    M_(paused, MSG_T_INT, "paused", "paused"),
    M_(create_ms, MSG_T_I64, "create_unix_ms", "create_time_unix_ms"),
    M_(cred_gen, MSG_T_U64, "cred_gen", NULL),
    M_(sync_req, MSG_T_U64, "sync_req", NULL),
    M_(state, MSG_T_INT, "state", NULL), /* the API's says "paused" too */
    M_(last_sync_ms, MSG_T_I64, "last_sync_unix_ms", "last_sync_time_unix_ms"),
    M_(last_error, MSG_T_STR, "last_error", "last_error"),
    M_(auth_failed_gen, MSG_T_U64, "auth_failed_gen", NULL),
    M_(backfill_days, MSG_T_INT, "backfill_days", "backfill_days"),
    M_(tls_ca_pem, MSG_T_STR, "tls_ca_pem", NULL), /* never shown */
    M_(allow_plaintext, MSG_T_INT, "allow_plaintext", "allow_plaintext"),
};
#undef M_
const size_t store_mailbox_table_n =
    sizeof(store_mailbox_table) / sizeof(store_mailbox_table[0]);

#define F_(member, kind, rec, api)                                             \
    MSG_TF(struct store_mailbox_folder, member, kind, rec, api)
const struct msg_tfield store_mailbox_folder_table[] = {
    F_(name, MSG_T_STR, "name", "name"),
    F_(uid_validity, MSG_T_U32, "uid_validity", "uid_validity"),
    F_(last_uid, MSG_T_U32, "last_uid", "last_uid"),
    F_(seen, MSG_T_I64, "seen", "messages_seen"),
    F_(ingested, MSG_T_I64, "ingested", "messages_ingested"),
    F_(backlog, MSG_T_I64, "backlog", "backlog"),
    F_(rejected, MSG_T_I64, "rejected", "messages_rejected"),
    F_(last_rejected, MSG_T_STR, "last_rejected", "last_rejected"),
};
#undef F_
const size_t store_mailbox_folder_table_n =
    sizeof(store_mailbox_folder_table) / sizeof(store_mailbox_folder_table[0]);

sw_err store_mailbox_tables_check(const ProtobufCMessageDescriptor *api_mailbox,
                                  const ProtobufCMessageDescriptor *api_folder)
{
    sw_err rc = msg_table_check(store_mailbox_table, store_mailbox_table_n,
                                &snipwise__store__mailbox_record__descriptor,
                                MSG_TABLE_REC);

    if (rc == SW_OK)
        rc = msg_table_check(
            store_mailbox_folder_table, store_mailbox_folder_table_n,
            &snipwise__store__mailbox_folder_record__descriptor, MSG_TABLE_REC);
    if (rc == SW_OK && api_mailbox)
        rc = msg_table_check(store_mailbox_table, store_mailbox_table_n,
                             api_mailbox, MSG_TABLE_API);
    if (rc == SW_OK && api_folder)
        rc = msg_table_check(store_mailbox_folder_table,
                             store_mailbox_folder_table_n, api_folder,
                             MSG_TABLE_API);
    return rc;
}

void store_mailbox_clear(struct store_mailbox *m)
{
    if (m == NULL)
        return;
    sw_free(m->team_id);
    msg_table_clear(store_mailbox_table, store_mailbox_table_n, m);
    memset(m, 0, sizeof(*m));
}

void store_mailboxes_free(struct store_mailbox *m, size_t n)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < n; i++)
        store_mailbox_clear(&m[i]);
    sw_free(m);
}

void store_mailbox_folders_free(struct store_mailbox_folder *f, size_t n)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < n; i++)
        msg_table_clear(store_mailbox_folder_table,
                        store_mailbox_folder_table_n, &f[i]);
    sw_free(f);
}

/* store_mbx_from_rec fills *m from a record; *m is cleared on failure. */
static sw_err store_mbx_from_rec(const store_mbx_rec *r,
                                 struct store_mailbox *m)
{
    sw_err rc;

    memset(m, 0, sizeof(*m));
    m->team_id = sw_strdup("");
    rc = m->team_id ? msg_table_from(store_mailbox_table, store_mailbox_table_n,
                                     MSG_TABLE_REC, &r->base, m)
                    : SW_ENOMEM;
    if (rc)
        store_mailbox_clear(m);
    return rc;
}

/* store_mbx_to_rec points a record's fields at m's (borrowed: the record
 * must not outlive m). */
static sw_err store_mbx_to_rec(const struct store_mailbox *m, store_mbx_rec *r)
{
    snipwise__store__mailbox_record__init(r);
    return msg_table_to(store_mailbox_table, store_mailbox_table_n,
                        MSG_TABLE_REC, m, &r->base, NULL);
}

/* store_mbx_key writes team\0mailbox_id into b. */
static sw_err store_mbx_key(struct sw_buf *b, const char *team_id,
                            const char *mailbox_id)
{
    if (team_id == NULL || !store__id_ok(team_id) || mailbox_id == NULL ||
        !store__id_ok(mailbox_id))
        return SW_EINVAL;
    return store_key(b, team_id, mailbox_id, strlen(mailbox_id));
}

/* store_mbx_fkey writes team\0mailbox_id\0folder into b. */
static sw_err store_mbx_fkey(struct sw_buf *b, const char *team_id,
                             const char *mailbox_id, const char *folder)
{
    sw_err rc = store_mbx_key(b, team_id, mailbox_id);

    if (rc == SW_OK)
        rc = sw_buf_addc(b, '\0');
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, folder);
    return rc;
}

/* store_mbx_read reads the record under key into *m, in t. */
static sw_err store_mbx_read(store_txn *t, const struct sw_buf *key,
                             struct store_mailbox *m)
{
    ProtobufCMessage *msg = NULL;
    sw_err rc;

    rc = store__get_msg(t, STORE_DB_MAILBOXES, sw_buf_str(key), sw_buf_len(key),
                        &snipwise__store__mailbox_record__descriptor, &msg);
    if (rc)
        return rc;
    rc = store_mbx_from_rec((const store_mbx_rec *)msg, m);
    store__msg_free(msg);
    return rc;
}

static sw_err store_mbx_write(store_txn *t, const struct sw_buf *key,
                              const struct store_mailbox *m, unsigned flags)
{
    store_mbx_rec r;
    sw_err rc = store_mbx_to_rec(m, &r);

    return rc ? rc
              : store__put_msg(t, STORE_DB_MAILBOXES, sw_buf_str(key),
                               sw_buf_len(key), &r.base, flags);
}

struct store_mbx_create {
    const char *team_id;
    const struct store_mailbox *m;
    const char *id;
};

static sw_err store_mbx_create_txn(store_txn *t, void *arg)
{
    struct store_mbx_create *c = arg;
    struct store_mailbox m = *c->m;
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_get(t, STORE_DB_TEAMS, c->team_id, strlen(c->team_id), &v, &vl);
    if (rc)
        goto out;
    rc = store_mbx_key(&k, c->team_id, c->id);
    if (rc)
        goto out;
    m.team_id = NULL;
    m.mailbox_id = (char *)c->id;
    m.create_ms = sw_now_ms();
    m.cred_gen = 1;
    m.sync_req = 0;
    m.state = 0;
    m.last_sync_ms = 0;
    m.last_error = NULL;
    m.auth_failed_gen = 0;
    rc = store_mbx_write(t, &k, &m, STORE_NOOVERWRITE);
out:
    sw_buf_free(&k);
    return rc;
}

sw_err store_mailbox_create(store *s, const char *team_id,
                            const struct store_mailbox *m, char **id)
{
    struct store_mbx_create c;
    char *nid = NULL;
    sw_err rc;

    if (s == NULL || team_id == NULL || !store__id_ok(team_id) || m == NULL ||
        id == NULL || m->host == NULL || m->host[0] == '\0' ||
        m->username == NULL || m->username[0] == '\0' || m->secret_len == 0 ||
        m->n_folders > STORE_MBX_FOLDER_MAX)
        return SW_EINVAL;
    if (m->secret_len > STORE_MBX_SECRET_MAX)
        return SW_ETOOBIG;
    rc = sw_id_new("mbx_", 8, &nid);
    if (rc)
        return rc;
    c.team_id = team_id;
    c.m = m;
    c.id = nid;
    rc = store_update(s, store_mbx_create_txn, &c);
    if (rc) {
        sw_free(nid);
        return rc;
    }
    *id = nid;
    return SW_OK;
}

struct store_mbx_get {
    struct sw_buf key;
    struct store_mailbox m;
};

static sw_err store_mbx_get_txn(store_txn *t, void *arg)
{
    struct store_mbx_get *g = arg;

    store_mailbox_clear(&g->m);
    return store_mbx_read(t, &g->key, &g->m);
}

sw_err store_mailbox_get(store *s, const char *team_id, const char *mailbox_id,
                         struct store_mailbox *out)
{
    struct store_mbx_get g;
    sw_err rc;

    memset(&g, 0, sizeof(g));
    sw_buf_init(&g.key, STORE_KEYBUF_MAX);
    rc = store_mbx_key(&g.key, team_id, mailbox_id);
    if (rc == SW_OK)
        rc = store_view(s, store_mbx_get_txn, &g);
    if (rc == SW_OK) {
        *out = g.m;
        memset(&g.m, 0, sizeof(g.m));
    }
    store_mailbox_clear(&g.m);
    sw_buf_free(&g.key);
    return rc;
}

/* A growing array of mailboxes filled by a scan. */
struct store_mbx_acc {
    struct store_mailbox *items;
    size_t n, cap, limit;
    int more;
    int with_team;
};

static sw_err store_mbx_acc_cb(const void *k, size_t klen, const void *v,
                               size_t vlen, void *arg)
{
    struct store_mbx_acc *a = arg;
    ProtobufCMessage *msg = NULL;
    const char *nul;
    sw_err rc;

    if (a->n == a->limit) {
        a->more = 1;
        return STORE_SCAN_STOP;
    }
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 16;
        struct store_mailbox *ni =
            sw_realloc(a->items, ncap * sizeof(*a->items));
        if (ni == NULL)
            return SW_ENOMEM;
        a->items = ni;
        a->cap = ncap;
    }
    rc = store__unpack(&snipwise__store__mailbox_record__descriptor, v, vlen,
                       &msg);
    if (rc)
        return rc;
    rc = store_mbx_from_rec((const store_mbx_rec *)msg, &a->items[a->n]);
    store__msg_free(msg);
    if (rc)
        return rc;
    nul = memchr(k, '\0', klen);
    if (a->with_team && nul != NULL) {
        sw_free(a->items[a->n].team_id);
        a->items[a->n].team_id = sw_strndup(k, (size_t)(nul - (const char *)k));
        if (a->items[a->n].team_id == NULL) {
            store_mailbox_clear(&a->items[a->n]);
            return SW_ENOMEM;
        }
    }
    a->n++;
    return SW_OK;
}

struct store_mbx_scan {
    struct sw_buf prefix, after;
    struct store_mbx_acc acc;
};

static sw_err store_mbx_scan_txn(store_txn *t, void *arg)
{
    struct store_mbx_scan *sc = arg;

    return store_scan(t, STORE_DB_MAILBOXES, sw_buf_str(&sc->prefix),
                      sw_buf_len(&sc->prefix),
                      sw_buf_len(&sc->after) ? sw_buf_str(&sc->after) : NULL,
                      sw_buf_len(&sc->after), store_mbx_acc_cb, &sc->acc);
}

sw_err store_mailbox_list(store *s, const char *team_id,
                          const char *start_after, size_t limit,
                          struct store_mailbox **out, size_t *n, int *more)
{
    struct store_mbx_scan sc;
    sw_err rc;

    if (team_id == NULL || !store__id_ok(team_id) || limit == 0 || limit > 1000)
        return SW_EINVAL;
    memset(&sc, 0, sizeof(sc));
    sc.acc.limit = limit;
    sw_buf_init(&sc.prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&sc.after, STORE_KEYBUF_MAX);
    rc = store_key(&sc.prefix, team_id, NULL, 0);
    if (rc == SW_OK && start_after != NULL && start_after[0] != '\0')
        rc = store_mbx_key(&sc.after, team_id, start_after);
    if (rc == SW_OK)
        rc = store_view(s, store_mbx_scan_txn, &sc);
    if (rc == SW_OK) {
        *out = sc.acc.items;
        *n = sc.acc.n;
        *more = sc.acc.more;
    } else {
        store_mailboxes_free(sc.acc.items, sc.acc.n);
    }
    sw_buf_free(&sc.prefix);
    sw_buf_free(&sc.after);
    return rc;
}

sw_err store_mailbox_list_all(store *s, size_t max, struct store_mailbox **out,
                              size_t *n)
{
    struct store_mbx_scan sc;
    sw_err rc;

    memset(&sc, 0, sizeof(sc));
    sc.acc.limit = max;
    sc.acc.with_team = 1;
    sw_buf_init(&sc.prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&sc.after, STORE_KEYBUF_MAX);
    rc = store_view(s, store_mbx_scan_txn, &sc);
    if (rc == SW_OK) {
        if (sc.acc.more)
            sw_log_warn("mailbox.too_many", "max=%zu", max);
        *out = sc.acc.items;
        *n = sc.acc.n;
    } else {
        store_mailboxes_free(sc.acc.items, sc.acc.n);
    }
    sw_buf_free(&sc.prefix);
    sw_buf_free(&sc.after);
    return rc;
}

struct store_mbx_upd {
    struct sw_buf key;
    store_mailbox_edit_fn fn;
    void *arg;
    struct store_mailbox m;
};

static sw_err store_mbx_update_txn(store_txn *t, void *arg)
{
    struct store_mbx_upd *u = arg;
    sw_err rc;

    store_mailbox_clear(&u->m);
    rc = store_mbx_read(t, &u->key, &u->m);
    if (rc == SW_OK)
        rc = u->fn(&u->m, u->arg);
    if (rc == SW_OK)
        rc = store_mbx_write(t, &u->key, &u->m, 0);
    return rc;
}

sw_err store_mailbox_update(store *s, const char *team_id,
                            const char *mailbox_id, store_mailbox_edit_fn fn,
                            void *arg, struct store_mailbox *out)
{
    struct store_mbx_upd u;
    sw_err rc;

    if (fn == NULL)
        return SW_EINVAL;
    memset(&u, 0, sizeof(u));
    u.fn = fn;
    u.arg = arg;
    sw_buf_init(&u.key, STORE_KEYBUF_MAX);
    rc = store_mbx_key(&u.key, team_id, mailbox_id);
    if (rc == SW_OK)
        rc = store_update(s, store_mbx_update_txn, &u);
    if (rc == SW_OK && out != NULL) {
        sw_free(u.m.team_id);
        u.m.team_id = sw_strdup(team_id);
        if (u.m.team_id == NULL)
            rc = SW_ENOMEM;
        else {
            *out = u.m;
            memset(&u.m, 0, sizeof(u.m));
        }
    }
    store_mailbox_clear(&u.m);
    sw_buf_free(&u.key);
    return rc;
}

static sw_err store_mbx_delete_txn(store_txn *t, void *arg)
{
    const struct sw_buf *key = arg;
    struct sw_buf pfx;
    sw_err rc;

    rc = store_del(t, STORE_DB_MAILBOXES, sw_buf_str(key), sw_buf_len(key));
    if (rc)
        return rc;
    /* The folders' keys are the mailbox key, a NUL, then the name. */
    sw_buf_init(&pfx, STORE_KEYBUF_MAX);
    rc = sw_buf_add(&pfx, sw_buf_str(key), sw_buf_len(key));
    if (rc == SW_OK)
        rc = sw_buf_addc(&pfx, '\0');
    if (rc == SW_OK)
        rc = store_del_prefix(t, STORE_DB_MAILBOX_FOLDERS, sw_buf_str(&pfx),
                              sw_buf_len(&pfx), NULL);
    sw_buf_free(&pfx);
    return rc;
}

sw_err store_mailbox_delete(store *s, const char *team_id,
                            const char *mailbox_id)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mbx_key(&k, team_id, mailbox_id);
    if (rc == SW_OK)
        rc = store_update(s, store_mbx_delete_txn, &k);
    sw_buf_free(&k);
    return rc;
}

struct store_mbx_folders {
    struct sw_buf prefix;
    struct store_mailbox_folder *items;
    size_t n, cap;
};

static sw_err store_mbx_folder_cb(const void *k, size_t klen, const void *v,
                                  size_t vlen, void *arg)
{
    struct store_mbx_folders *f = arg;
    ProtobufCMessage *msg = NULL;
    sw_err rc;

    (void)k;
    (void)klen;
    if (f->n == STORE_MBX_FOLDER_MAX)
        return STORE_SCAN_STOP;
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 4;
        struct store_mailbox_folder *ni =
            sw_realloc(f->items, ncap * sizeof(*f->items));
        if (ni == NULL)
            return SW_ENOMEM;
        f->items = ni;
        f->cap = ncap;
    }
    rc = store__unpack(&snipwise__store__mailbox_folder_record__descriptor, v,
                       vlen, &msg);
    if (rc)
        return rc;
    memset(&f->items[f->n], 0, sizeof(f->items[f->n]));
    rc =
        msg_table_from(store_mailbox_folder_table, store_mailbox_folder_table_n,
                       MSG_TABLE_REC, msg, &f->items[f->n]);
    store__msg_free(msg);
    if (rc) {
        msg_table_clear(store_mailbox_folder_table,
                        store_mailbox_folder_table_n, &f->items[f->n]);
        return rc;
    }
    f->n++;
    return SW_OK;
}

static sw_err store_mbx_folders_txn(store_txn *t, void *arg)
{
    struct store_mbx_folders *f = arg;

    store_mailbox_folders_free(f->items, f->n);
    f->items = NULL;
    f->n = f->cap = 0;
    return store_scan(t, STORE_DB_MAILBOX_FOLDERS, sw_buf_str(&f->prefix),
                      sw_buf_len(&f->prefix), NULL, 0, store_mbx_folder_cb, f);
}

sw_err store_mailbox_folders(store *s, const char *team_id,
                             const char *mailbox_id,
                             struct store_mailbox_folder **out, size_t *n)
{
    struct store_mbx_folders f;
    sw_err rc;

    memset(&f, 0, sizeof(f));
    sw_buf_init(&f.prefix, STORE_KEYBUF_MAX);
    rc = store_mbx_key(&f.prefix, team_id, mailbox_id);
    if (rc == SW_OK)
        rc = sw_buf_addc(&f.prefix, '\0');
    if (rc == SW_OK)
        rc = store_view(s, store_mbx_folders_txn, &f);
    if (rc == SW_OK) {
        *out = f.items;
        *n = f.n;
    } else {
        store_mailbox_folders_free(f.items, f.n);
    }
    sw_buf_free(&f.prefix);
    return rc;
}

struct store_mbx_fput {
    struct sw_buf mkey, fkey;
    const struct store_mailbox_folder *f;
};

static sw_err store_mbx_fput_txn(store_txn *t, void *arg)
{
    struct store_mbx_fput *p = arg;
    store_mbx_frec r;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_MAILBOXES, sw_buf_str(&p->mkey),
                   sw_buf_len(&p->mkey), &v, &vl);
    if (rc)
        return rc;
    snipwise__store__mailbox_folder_record__init(&r);
    rc = msg_table_to(store_mailbox_folder_table, store_mailbox_folder_table_n,
                      MSG_TABLE_REC, p->f, &r.base, NULL);
    if (rc)
        return rc;
    return store__put_msg(t, STORE_DB_MAILBOX_FOLDERS, sw_buf_str(&p->fkey),
                          sw_buf_len(&p->fkey), &r.base, 0);
}

sw_err store_mailbox_folder_put(store *s, const char *team_id,
                                const char *mailbox_id,
                                const struct store_mailbox_folder *f)
{
    struct store_mbx_fput p;
    sw_err rc;

    if (f == NULL || f->name == NULL || f->name[0] == '\0' ||
        strlen(f->name) > 400)
        return SW_EINVAL;
    p.f = f;
    sw_buf_init(&p.mkey, STORE_KEYBUF_MAX);
    sw_buf_init(&p.fkey, STORE_KEYBUF_MAX);
    rc = store_mbx_key(&p.mkey, team_id, mailbox_id);
    if (rc == SW_OK)
        rc = store_mbx_fkey(&p.fkey, team_id, mailbox_id, f->name);
    if (rc == SW_OK)
        rc = store_update(s, store_mbx_fput_txn, &p);
    sw_buf_free(&p.mkey);
    sw_buf_free(&p.fkey);
    return rc;
}

sw_err store_mailbox_folder_advance_txn(store_txn *t,
                                        const struct store_mailbox_advance *a,
                                        int *moved)
{
    ProtobufCMessage *msg = NULL;
    store_mbx_frec *r;
    char *old_why;
    struct sw_buf mkey, fkey;
    const void *v;
    size_t vl;
    sw_err rc;

    if (moved == NULL || a == NULL || a->folder == NULL ||
        a->folder[0] == '\0' || strlen(a->folder) > 400)
        return SW_EINVAL;
    *moved = 0;
    sw_buf_init(&mkey, STORE_KEYBUF_MAX);
    sw_buf_init(&fkey, STORE_KEYBUF_MAX);
    rc = store_mbx_key(&mkey, a->team_id, a->mailbox_id);
    if (rc == SW_OK)
        rc = store_mbx_fkey(&fkey, a->team_id, a->mailbox_id, a->folder);
    if (rc == SW_OK) /* a cursor never outlives its mailbox */
        rc = store_get(t, STORE_DB_MAILBOXES, sw_buf_str(&mkey),
                       sw_buf_len(&mkey), &v, &vl);
    if (rc == SW_OK)
        rc = store__get_msg(
            t, STORE_DB_MAILBOX_FOLDERS, sw_buf_str(&fkey), sw_buf_len(&fkey),
            &snipwise__store__mailbox_folder_record__descriptor, &msg);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK; /* deleted meanwhile: the mail stays, no cursor */
        goto out;
    }
    if (rc)
        goto out;
    r = (store_mbx_frec *)msg;
    if (r->uid_validity != a->uid_validity || r->last_uid != a->from_uid)
        goto out;
    r->last_uid = a->to_uid;
    r->seen += a->seen;
    r->ingested += a->ingested;
    r->rejected += a->rejected;
    if (a->backlog >= 0) /* the backlog moves with the mail, not per batch */
        r->backlog = a->backlog;
    old_why = r->last_rejected;
    if (a->rejected_why != NULL) /* borrowed for the put only */
        r->last_rejected = (char *)a->rejected_why;
    rc = store__put_msg(t, STORE_DB_MAILBOX_FOLDERS, sw_buf_str(&fkey),
                        sw_buf_len(&fkey), &r->base, 0);
    r->last_rejected = old_why; /* freed with the record */
    if (rc == SW_OK)
        *moved = 1;
out:
    store__msg_free(msg);
    sw_buf_free(&mkey);
    sw_buf_free(&fkey);
    return rc;
}
