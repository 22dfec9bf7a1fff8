/* store_members: a team's members (by email) and domains, declared in
 * store_tenant.h. Both are records under team_id\0name in MEMBERS or
 * DOMAINS, added only to an existing team and used for direction
 * inference. */
#include "store/store_tenant.h"

#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/records.pb-c.h"
#include "store/store_int.h"

#define STORE_EMAIL_MAX 254
#define STORE_DOMAIN_MAX 253

static const char store_why_member_name[] =
    "display_name must be at most 200 bytes of UTF-8 without control "
    "characters";
static const char store_why_email[] =
    "email must have one '@', a non-empty local part and domain, no spaces, "
    "and at most 254 bytes";
static const char store_why_domain[] =
    "domain must be a hostname: dot-separated labels of 1 to 63 letters, "
    "digits or inner '-', at most 253 bytes";

/* store__email_norm: see store_int.h. */
sw_err store__email_norm(const char *email, char **out, struct sw_buf *why)
{
    size_t i, n, at = 0, nat = 0;
    char *e;

    if (!store__text_ok(email, 3, STORE_EMAIL_MAX))
        return store__why(why, store_why_email);
    n = strlen(email);
    for (i = 0; i < n; i++) {
        if (email[i] == ' ')
            return store__why(why, store_why_email);
        if (email[i] == '@') {
            nat++;
            at = i;
        }
    }
    if (nat != 1 || at == 0 || at == n - 1)
        return store__why(why, store_why_email);
    e = sw_strdup(email);
    if (e == NULL)
        return SW_ENOMEM;
    sw_str_lower(e);
    *out = e;
    return SW_OK;
}

/* store_domain_norm validates a hostname and returns a lowercased copy. */
static SW_MUST_CHECK sw_err store_domain_norm(const char *domain, char **out,
                                              struct sw_buf *why)
{
    size_t i, n, label = 0;
    char *d;

    if (domain == NULL)
        return store__why(why, store_why_domain);
    n = strlen(domain);
    if (n == 0 || n > STORE_DOMAIN_MAX)
        return store__why(why, store_why_domain);
    for (i = 0; i <= n; i++) {
        char c = domain[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || domain[i - 1] == '-')
                return store__why(why, store_why_domain);
            label = 0;
            continue;
        }
        if (c == '-' && label == 0)
            return store__why(why, store_why_domain);
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-'))
            return store__why(why, store_why_domain);
        label++;
    }
    d = sw_strdup(domain);
    if (d == NULL)
        return SW_ENOMEM;
    sw_str_lower(d);
    *out = d;
    return SW_OK;
}

/* Freeing. */

void store_member_clear(struct store_member *m)
{
    if (m == NULL)
        return;
    sw_free(m->email);
    sw_free(m->display_name);
    memset(m, 0, sizeof(*m));
}

void store_domain_clear(struct store_domain *d)
{
    if (d == NULL)
        return;
    sw_free(d->domain);
    memset(d, 0, sizeof(*d));
}

void store_members_free(struct store_member *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++)
        store_member_clear(&items[i]);
    sw_free(items);
}

void store_domains_free(struct store_domain *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++)
        store_domain_clear(&items[i]);
    sw_free(items);
}

/* Converting records into the public structs and from stored bytes. */

static SW_MUST_CHECK sw_err store_member_from(
    const Snipwise__Store__MemberRecord *r, struct store_member *out)
{
    struct store_member m = {0};

    m.email = sw_strdup(r->email);
    m.display_name = sw_strdup(r->display_name);
    m.create_ms = r->create_unix_ms;
    if (m.email == NULL || m.display_name == NULL) {
        store_member_clear(&m);
        return SW_ENOMEM;
    }
    *out = m;
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_domain_from(
    const Snipwise__Store__DomainRecord *r, struct store_domain *out)
{
    struct store_domain d = {0};

    d.domain = sw_strdup(r->domain);
    d.create_ms = r->create_unix_ms;
    if (d.domain == NULL)
        return SW_ENOMEM;
    *out = d;
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_member_conv(const void *v, size_t vl,
                                              void *item)
{
    ProtobufCMessage *m = NULL;
    sw_err rc;

    rc = store__unpack(&snipwise__store__member_record__descriptor, v, vl, &m);
    if (rc == SW_OK)
        rc = store_member_from((Snipwise__Store__MemberRecord *)m, item);
    store__msg_free(m);
    return rc;
}

static SW_MUST_CHECK sw_err store_domain_conv(const void *v, size_t vl,
                                              void *item)
{
    ProtobufCMessage *m = NULL;
    sw_err rc;

    rc = store__unpack(&snipwise__store__domain_record__descriptor, v, vl, &m);
    if (rc == SW_OK)
        rc = store_domain_from((Snipwise__Store__DomainRecord *)m, item);
    store__msg_free(m);
    return rc;
}

static void store_member_clear_v(void *p)
{
    store_member_clear(p);
}

static void store_domain_clear_v(void *p)
{
    store_domain_clear(p);
}

/* Members and domains share one shape: a record under team_id\0name in
 * MEMBERS or DOMAINS, added only to an existing team. */

struct store_entry_ctx {
    const char *team_id;
    enum store_db db;
    struct sw_buf key;
    const ProtobufCMessage *msg;
    int found;
};

static SW_MUST_CHECK sw_err store_entry_add_txn(store_txn *t, void *arg)
{
    struct store_entry_ctx *c = arg;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_TEAMS, c->team_id, strlen(c->team_id), &v, &vl);
    if (rc)
        return rc;
    return store__put_msg(t, c->db, sw_buf_str(&c->key), sw_buf_len(&c->key),
                          c->msg, STORE_NOOVERWRITE);
}

static SW_MUST_CHECK sw_err store_entry_remove_txn(store_txn *t, void *arg)
{
    struct store_entry_ctx *c = arg;

    return store_del(t, c->db, sw_buf_str(&c->key), sw_buf_len(&c->key));
}

static SW_MUST_CHECK sw_err store_entry_is_txn(store_txn *t, void *arg)
{
    struct store_entry_ctx *c = arg;
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, c->db, sw_buf_str(&c->key), sw_buf_len(&c->key), &v, &vl);
    c->found = rc == SW_OK;
    return rc == SW_ENOTFOUND ? SW_OK : rc;
}

/* store_entry_run builds the key team_id\0name and runs fn in a write
 * (write != 0) or read transaction. */
static SW_MUST_CHECK sw_err store_entry_run(
    store *s, enum store_db db, const char *team_id, const char *name,
    const ProtobufCMessage *msg, int write, store_txn_fn fn, int *found)
{
    struct store_entry_ctx c;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    sw_buf_init(&c.key, STORE_KEYBUF_MAX);
    c.team_id = team_id;
    c.db = db;
    c.msg = msg;
    rc = store_key(&c.key, team_id, name, strlen(name));
    if (rc)
        goto out;
    rc = write ? store_update(s, fn, &c) : store_view(s, fn, &c);
    if (rc == SW_OK && found)
        *found = c.found;
out:
    sw_buf_free(&c.key);
    return rc;
}

sw_err store_member_add(store *s, const char *team_id, const char *email,
                        const char *display_name, struct store_member *out,
                        struct sw_buf *why)
{
    Snipwise__Store__MemberRecord rec;
    struct store_member res = {0};
    char *norm = NULL;
    sw_err rc;

    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (!store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    if (display_name == NULL)
        display_name = "";
    if (!store__text_ok(display_name, 0, STORE_NAME_MAX)) {
        rc = store__why(why, store_why_member_name);
        goto out;
    }
    rc = store__email_norm(email, &norm, why);
    if (rc)
        goto out;
    snipwise__store__member_record__init(&rec);
    rec.email = norm;
    rec.display_name = (char *)display_name;
    rec.create_unix_ms = sw_now_ms();
    if (out) {
        rc = store_member_from(&rec, &res);
        if (rc)
            goto out;
    }
    rc = store_entry_run(s, STORE_DB_MEMBERS, team_id, norm, &rec.base, 1,
                         store_entry_add_txn, NULL);
    if (rc)
        goto out;
    if (out) {
        *out = res;
        memset(&res, 0, sizeof(res));
    }
out:
    store_member_clear(&res);
    sw_free(norm);
    return rc;
}

/* Removing a member revokes its rep keys in the same transaction, so that
 * no moment exists in which the member is gone and its key still works. */

struct store_member_rm_ctx {
    const char *team_id;
    const char *email; /* normalized */
    int64_t now;
    struct sw_buf key;  /* team_id\0email, then team_id\0key_id */
    struct sw_buf refs; /* ids of the rep keys to revoke, NUL-terminated */
};

/* store_repkeys_cb collects the active rep keys acting as c->email. */
static SW_MUST_CHECK sw_err store_repkeys_cb(const void *k, size_t kl,
                                             const void *v, size_t vl,
                                             void *arg)
{
    struct store_member_rm_ctx *c = arg;
    Snipwise__Store__KeyRecord *r;
    ProtobufCMessage *m = NULL;
    sw_err rc;

    (void)k;
    (void)kl;
    rc = store__unpack(&snipwise__store__key_record__descriptor, v, vl, &m);
    if (rc)
        return rc;
    r = (Snipwise__Store__KeyRecord *)m;
    if (r->role == STORE_ROLE_REP && r->revoke_unix_ms == 0 && r->rep_email &&
        strcmp(r->rep_email, c->email) == 0)
        rc = sw_buf_add(&c->refs, r->key_id, strlen(r->key_id) + 1);
    store__msg_free(m);
    return rc;
}

/* store_repkey_revoke sets the revocation time of the team's key id. */
static SW_MUST_CHECK sw_err store_repkey_revoke(store_txn *t,
                                                struct store_member_rm_ctx *c,
                                                const char *id)
{
    ProtobufCMessage *m = NULL;
    sw_err rc;

    rc = store_key(&c->key, c->team_id, id, strlen(id));
    if (rc == SW_OK)
        rc = store__get_msg(t, STORE_DB_KEYS, sw_buf_str(&c->key),
                            sw_buf_len(&c->key),
                            &snipwise__store__key_record__descriptor, &m);
    if (rc == SW_OK) {
        ((Snipwise__Store__KeyRecord *)m)->revoke_unix_ms = c->now;
        rc = store__put_msg(t, STORE_DB_KEYS, sw_buf_str(&c->key),
                            sw_buf_len(&c->key), m, 0);
    }
    store__msg_free(m);
    return rc;
}

static SW_MUST_CHECK sw_err store_member_remove_txn(store_txn *t, void *arg)
{
    struct store_member_rm_ctx *c = arg;
    const char *p;
    size_t off;
    sw_err rc;

    sw_buf_reset(&c->refs);
    rc = store_key(&c->key, c->team_id, c->email, strlen(c->email));
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_MEMBERS, sw_buf_str(&c->key),
                       sw_buf_len(&c->key));
    if (rc == SW_OK)
        rc = store_key(&c->key, c->team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_KEYS, sw_buf_str(&c->key),
                        sw_buf_len(&c->key), NULL, 0, store_repkeys_cb, c);
    p = sw_buf_str(&c->refs);
    for (off = 0; rc == SW_OK && off < sw_buf_len(&c->refs);
         off += strlen(p + off) + 1)
        rc = store_repkey_revoke(t, c, p + off);
    return rc;
}

sw_err store_member_remove(store *s, const char *team_id, const char *email,
                           struct sw_buf *why)
{
    struct store_member_rm_ctx c;
    char *norm = NULL;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    sw_buf_init(&c.key, STORE_KEYBUF_MAX);
    sw_buf_init(&c.refs, (size_t)1 << 24);
    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (!store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    rc = store__email_norm(email, &norm, why);
    if (rc)
        goto out;
    c.team_id = team_id;
    c.email = norm;
    c.now = sw_now_ms();
    rc = store_update(s, store_member_remove_txn, &c);
out:
    sw_buf_free(&c.refs);
    sw_buf_free(&c.key);
    sw_free(norm);
    return rc;
}

sw_err store_member_list(store *s, const char *team_id, int page_size,
                         const char *page_token, struct store_member **items,
                         size_t *n, char **next_token, struct sw_buf *why)
{
    struct store__list l;
    void *arr = NULL;
    sw_err rc;

    store__list_init(&l, STORE_DB_MEMBERS, sizeof(struct store_member),
                     store_member_conv, store_member_clear_v);
    if (!store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    rc = store_key(&l.prefix, team_id, NULL, 0);
    if (rc)
        goto out;
    rc =
        store__list_run(s, &l, page_size, page_token, &arr, n, next_token, why);
    if (rc == SW_OK)
        *items = arr;
out:
    store__list_free(&l);
    return rc;
}

sw_err store_member_is(store *s, const char *team_id, const char *email,
                       bool *out)
{
    char *norm = NULL;
    int found = 0;
    sw_err rc;

    if (s == NULL || team_id == NULL || email == NULL || out == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store__email_norm(email, &norm, NULL);
    if (rc == SW_EINVAL || !store__id_ok(team_id)) {
        *out = false;
        rc = SW_OK;
        goto out;
    }
    if (rc)
        goto out;
    rc = store_entry_run(s, STORE_DB_MEMBERS, team_id, norm, NULL, 0,
                         store_entry_is_txn, &found);
    if (rc == SW_OK)
        *out = found != 0;
out:
    sw_free(norm);
    return rc;
}

sw_err store_domain_add(store *s, const char *team_id, const char *domain,
                        struct store_domain *out, struct sw_buf *why)
{
    Snipwise__Store__DomainRecord rec;
    struct store_domain res = {0};
    char *norm = NULL;
    sw_err rc;

    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (!store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    rc = store_domain_norm(domain, &norm, why);
    if (rc)
        goto out;
    snipwise__store__domain_record__init(&rec);
    rec.domain = norm;
    rec.create_unix_ms = sw_now_ms();
    if (out) {
        rc = store_domain_from(&rec, &res);
        if (rc)
            goto out;
    }
    rc = store_entry_run(s, STORE_DB_DOMAINS, team_id, norm, &rec.base, 1,
                         store_entry_add_txn, NULL);
    if (rc)
        goto out;
    if (out) {
        *out = res;
        memset(&res, 0, sizeof(res));
    }
out:
    store_domain_clear(&res);
    sw_free(norm);
    return rc;
}

sw_err store_domain_remove(store *s, const char *team_id, const char *domain,
                           struct sw_buf *why)
{
    char *norm = NULL;
    sw_err rc;

    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (!store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    rc = store_domain_norm(domain, &norm, why);
    if (rc)
        goto out;
    rc = store_entry_run(s, STORE_DB_DOMAINS, team_id, norm, NULL, 1,
                         store_entry_remove_txn, NULL);
out:
    sw_free(norm);
    return rc;
}

sw_err store_domain_list(store *s, const char *team_id, int page_size,
                         const char *page_token, struct store_domain **items,
                         size_t *n, char **next_token, struct sw_buf *why)
{
    struct store__list l;
    void *arr = NULL;
    sw_err rc;

    store__list_init(&l, STORE_DB_DOMAINS, sizeof(struct store_domain),
                     store_domain_conv, store_domain_clear_v);
    if (!store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    rc = store_key(&l.prefix, team_id, NULL, 0);
    if (rc)
        goto out;
    rc =
        store__list_run(s, &l, page_size, page_token, &arr, n, next_token, why);
    if (rc == SW_OK)
        *items = arr;
out:
    store__list_free(&l);
    return rc;
}

sw_err store_domain_is(store *s, const char *team_id, const char *domain,
                       bool *out)
{
    char *norm = NULL;
    int found = 0;
    sw_err rc;

    if (s == NULL || team_id == NULL || domain == NULL || out == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_domain_norm(domain, &norm, NULL);
    if (rc == SW_EINVAL || !store__id_ok(team_id)) {
        *out = false;
        rc = SW_OK;
        goto out;
    }
    if (rc)
        goto out;
    rc = store_entry_run(s, STORE_DB_DOMAINS, team_id, norm, NULL, 0,
                         store_entry_is_txn, &found);
    if (rc == SW_OK)
        *out = found != 0;
out:
    sw_free(norm);
    return rc;
}
