/* store_tenant: teams and API keys (store_tenant.h), plus the helpers that
 * store_members.c shares through store_int.h: input validation and paginated
 * lists. Records are protobuf-c messages from records.proto; every write runs
 * through store_update, so each callback below may run more than once and
 * resets whatever it fills. */
#include "store/store_tenant.h"

#include <assert.h>
#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_utf8.h"
#include "base/sw_util.h"
#include "store/records.pb-c.h"
#include "store/store_int.h"

#define STORE_ID_MAX 64
#define STORE_PAGE_DEFAULT 50
#define STORE_PAGE_MAX 1000
#define STORE_KEY_PREFIX_LEN 11 /* of the secret: "sk_" and 8 hex digits */

static const char store_why_name[] =
    "display_name must be 1 to 200 bytes of UTF-8 without control characters";
static const char store_why_key_id[] = "key_id is not valid";
static const char store_why_page_size[] = "page_size must be 0 to 1000";
static const char store_why_token[] = "page_token is not valid";
static const char store_why_role[] =
    "role must be 1 (admin, without a team) or 2 (team, with a team_id)";
static const char store_why_not_member[] =
    "rep_email is not a member of the team: add it with AddTeamMember first";
static const char store_why_other_role[] =
    "the key has another role and is left alone";

/* store__why: see store_int.h. */
sw_err store__why(struct sw_buf *why, const char *msg)
{
    if (why) {
        sw_buf_reset(why);
        /* A reason that does not fit in why is dropped; the code remains.
         * (GCC ignores a (void) cast on a warn_unused_result call.) */
        if (sw_buf_addstr(why, msg) != SW_OK)
            sw_buf_reset(why);
    }
    return SW_EINVAL;
}

/* store__text_ok accepts min to max bytes of valid UTF-8 without C0 or C1
 * control characters. */
int store__text_ok(const char *s, size_t min, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n, i;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n < min || n > max || !sw_utf8_valid(p, n))
        return 0;
    /* In valid UTF-8, 0xC2 only starts a sequence, and 0xC2 0x80-0x9F
     * is exactly U+0080-U+009F, the C1 controls. */
    for (i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return 0;
        if (p[i] == 0xC2 && p[i + 1] < 0xA0)
            return 0;
    }
    return 1;
}

/* store__id_ok accepts the identifiers this module makes ("team_…",
 * "key_…"): 1 to 64 bytes of lowercase letters, digits and '_'. */
int store__id_ok(const char *id)
{
    size_t i;

    if (id == NULL || id[0] == '\0')
        return 0;
    for (i = 0; id[i]; i++) {
        char c = id[i];
        if (i >= STORE_ID_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* store_why_state is store__why for a refusal that is SW_ESTATE. */
static sw_err store_why_state(struct sw_buf *why, const char *msg)
{
    sw_err rc = store__why(why, msg);

    return rc == SW_EINVAL ? SW_ESTATE : rc;
}

/* Freeing. */

void store_team_clear(struct store_team *t)
{
    if (t == NULL)
        return;
    sw_free(t->team_id);
    sw_free(t->display_name);
    memset(t, 0, sizeof(*t));
}

void store_apikey_clear(struct store_apikey *k)
{
    if (k == NULL)
        return;
    sw_free(k->key_id);
    sw_free(k->team_id);
    sw_free(k->display_name);
    sw_free(k->key_prefix);
    sw_free(k->rep_email);
    memset(k, 0, sizeof(*k));
}

void store_teams_free(struct store_team *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++)
        store_team_clear(&items[i]);
    sw_free(items);
}

void store_apikeys_free(struct store_apikey *items, size_t n)
{
    size_t i;

    if (items == NULL)
        return;
    for (i = 0; i < n; i++)
        store_apikey_clear(&items[i]);
    sw_free(items);
}

/* Converting records into the public structs. Each leaves *out untouched
 * on failure. */

static SW_MUST_CHECK sw_err
store_team_from(const Snipwise__Store__TeamRecord *r, struct store_team *out)
{
    struct store_team t = {0};

    t.team_id = sw_strdup(r->team_id);
    t.display_name = sw_strdup(r->display_name);
    t.create_ms = r->create_unix_ms;
    if (t.team_id == NULL || t.display_name == NULL) {
        store_team_clear(&t);
        return SW_ENOMEM;
    }
    *out = t;
    return SW_OK;
}

static SW_MUST_CHECK sw_err
store_apikey_from(const Snipwise__Store__KeyRecord *r, struct store_apikey *out)
{
    struct store_apikey k = {0};

    k.key_id = sw_strdup(r->key_id);
    k.team_id = sw_strdup(r->team_id);
    k.display_name = sw_strdup(r->display_name);
    k.key_prefix = sw_strdup(r->key_prefix);
    k.rep_email = sw_strdup(r->rep_email ? r->rep_email : "");
    k.role = r->role;
    k.create_ms = r->create_unix_ms;
    k.revoke_ms = r->revoke_unix_ms;
    if (!k.key_id || !k.team_id || !k.display_name || !k.key_prefix ||
        !k.rep_email) {
        store_apikey_clear(&k);
        return SW_ENOMEM;
    }
    *out = k;
    return SW_OK;
}

/* Converters from stored bytes, for the generic list below. */

static SW_MUST_CHECK sw_err store_team_conv(const void *v, size_t vl,
                                            void *item)
{
    ProtobufCMessage *m = NULL;
    sw_err rc;

    rc = store__unpack(&snipwise__store__team_record__descriptor, v, vl, &m);
    if (rc == SW_OK)
        rc = store_team_from((Snipwise__Store__TeamRecord *)m, item);
    store__msg_free(m);
    return rc;
}

static SW_MUST_CHECK sw_err store_apikey_conv(const void *v, size_t vl,
                                              void *item)
{
    ProtobufCMessage *m = NULL;
    sw_err rc;

    rc = store__unpack(&snipwise__store__key_record__descriptor, v, vl, &m);
    if (rc == SW_OK)
        rc = store_apikey_from((Snipwise__Store__KeyRecord *)m, item);
    store__msg_free(m);
    return rc;
}

static void store_team_clear_v(void *p)
{
    store_team_clear(p);
}

static void store_apikey_clear_v(void *p)
{
    store_apikey_clear(p);
}

/* Pagination. A page token is the hex of the last key returned; the next
 * page starts after it. Tokens must lie under the list's prefix so that a
 * token from one team's list is rejected by another's. */

static int store_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static SW_MUST_CHECK sw_err store_token_decode(const char *tok,
                                               const struct sw_buf *prefix,
                                               struct sw_buf *out,
                                               struct sw_buf *why)
{
    size_t i, n;
    sw_err rc;

    sw_buf_reset(out);
    if (tok == NULL || tok[0] == '\0')
        return SW_OK;
    n = strlen(tok);
    if (n % 2 != 0 || n > 2 * 511)
        return store__why(why, store_why_token);
    for (i = 0; i < n; i += 2) {
        int hi = store_hexval(tok[i]), lo = store_hexval(tok[i + 1]);
        if (hi < 0 || lo < 0)
            return store__why(why, store_why_token);
        rc = sw_buf_addc(out, (char)(hi << 4 | lo));
        if (rc)
            return rc;
    }
    if (sw_buf_len(out) <= sw_buf_len(prefix) ||
        memcmp(sw_buf_str(out), sw_buf_str(prefix), sw_buf_len(prefix)) != 0)
        return store__why(why, store_why_token);
    return SW_OK;
}

void store__list_init(struct store__list *l, enum store_db db, size_t item_size,
                      sw_err (*conv)(const void *, size_t, void *),
                      void (*clear)(void *))
{
    memset(l, 0, sizeof(*l));
    l->db = db;
    l->item_size = item_size;
    l->conv = conv;
    l->clear = clear;
    sw_buf_init(&l->prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&l->after, STORE_KEYBUF_MAX);
    sw_buf_init(&l->last, STORE_KEYBUF_MAX);
}

void store__list_free(struct store__list *l)
{
    size_t i;

    if (l->items) {
        for (i = 0; i < l->n; i++)
            l->clear(l->items + i * l->item_size);
        sw_free(l->items);
    }
    l->items = NULL;
    l->n = 0;
    sw_buf_free(&l->prefix);
    sw_buf_free(&l->after);
    sw_buf_free(&l->last);
}

static SW_MUST_CHECK sw_err store_list_cb(const void *k, size_t kl,
                                          const void *v, size_t vl, void *arg)
{
    struct store__list *l = arg;
    char *slot = l->items + l->n * l->item_size;
    int kept;
    sw_err rc;

    /* With a filter an item is converted first (into the spare slot when
     * the page is full) to know whether it counts at all. */
    if (l->keep) {
        rc = l->conv(v, vl, slot);
        if (rc)
            return rc;
        kept = l->keep(slot, l->keep_arg);
        if (!kept || l->n == l->limit)
            l->clear(slot);
        if (!kept)
            return SW_OK;
    }
    if (l->n == l->limit) {
        l->more = 1;
        return STORE_SCAN_STOP;
    }
    if (l->keep == NULL) {
        rc = l->conv(v, vl, slot);
        if (rc)
            return rc;
    }
    l->n++;
    sw_buf_reset(&l->last);
    return sw_buf_add(&l->last, k, kl);
}

static SW_MUST_CHECK sw_err store_list_view(store_txn *t, void *arg)
{
    struct store__list *l = arg;
    size_t alen = sw_buf_len(&l->after);

    return store_scan(t, l->db, sw_buf_str(&l->prefix), sw_buf_len(&l->prefix),
                      alen ? sw_buf_str(&l->after) : NULL, alen, store_list_cb,
                      l);
}

/* store__list_run reads one page into *items (the caller's array of n
 * structs) and *next. l->prefix must be set; l is freed by the caller. */
sw_err store__list_run(store *s, struct store__list *l, int page_size,
                       const char *token, void **items, size_t *n, char **next,
                       struct sw_buf *why)
{
    char *tok = NULL;
    sw_err rc;

    if (s == NULL || items == NULL || n == NULL || next == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (page_size < 0 || page_size > STORE_PAGE_MAX) {
        rc = store__why(why, store_why_page_size);
        goto out;
    }
    l->limit = page_size ? (size_t)page_size : STORE_PAGE_DEFAULT;
    rc = store_token_decode(token, &l->prefix, &l->after, why);
    if (rc)
        goto out;
    l->items = sw_calloc(l->limit + 1, l->item_size);
    if (l->items == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = store_view(s, store_list_view, l);
    if (rc)
        goto out;
    if (l->more) {
        tok = sw_malloc(2 * sw_buf_len(&l->last) + 1);
        if (tok == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        sw_hex(sw_buf_str(&l->last), sw_buf_len(&l->last), tok);
    }
    *items = l->items;
    *n = l->n;
    *next = tok;
    l->items = NULL;
    l->n = 0;
    tok = NULL;
out:
    sw_free(tok);
    return rc;
}

/* New API keys. The key material is made before the transaction, so that
 * store_update may rerun the insert and so that nothing can fail after the
 * commit. */

struct store_newkey {
    char *key_id;
    char *secret;
    unsigned char hash[SW_SHA256_LEN];
    char prefix[STORE_ROUTE_LEN + 1 + STORE_KEY_PREFIX_LEN + 1];
    struct sw_buf kkey; /* team_id\0key_id */
    Snipwise__Store__KeyRecord rec;
};

static void store_newkey_clear(struct store_newkey *k)
{
    sw_free(k->key_id);
    if (k->secret) {
        explicit_bzero(k->secret, strlen(k->secret));
        sw_free(k->secret);
    }
    sw_buf_free(&k->kkey);
    memset(k, 0, sizeof(*k));
}

/* store_newkey_init mints a key. team_id and name must outlive k. */
static SW_MUST_CHECK sw_err store_newkey_init(struct store_newkey *k,
                                              const char *team_id,
                                              const char *name, int role,
                                              int64_t now)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 1];
    size_t route;
    sw_err rc;

    memset(k, 0, sizeof(*k));
    sw_buf_init(&k->kkey, STORE_KEYBUF_MAX);
    rc = sw_id_new("key_", 8, &k->key_id);
    if (rc)
        goto out;
    rc = sw_random(raw, sizeof(raw));
    if (rc)
        goto out;
    /* A team's keys carry its id in front as their routing prefix. */
    route = team_id[0] != '\0' ? strlen(team_id) + 1 : 0;
    assert(route == 0 || route == STORE_ROUTE_LEN + 1);
    k->secret = sw_malloc(STORE_KEY_MAX_LEN + 1);
    if (k->secret == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (route) {
        memcpy(k->secret, team_id, route - 1);
        k->secret[route - 1] = STORE_ROUTE_SEP;
    }
    sw_hex(raw, sizeof(raw), hex);
    memcpy(k->secret + route, "sk_", 3);
    memcpy(k->secret + route + 3, hex, sizeof(hex));
    sw_sha256(k->secret + route, STORE_SECRET_LEN, k->hash);
    memcpy(k->prefix, k->secret, route + STORE_KEY_PREFIX_LEN);
    k->prefix[route + STORE_KEY_PREFIX_LEN] = '\0';
    rc = store_key(&k->kkey, team_id, k->key_id, strlen(k->key_id));
    if (rc)
        goto out;
    snipwise__store__key_record__init(&k->rec);
    k->rec.key_id = k->key_id;
    k->rec.team_id = (char *)team_id;
    k->rec.display_name = (char *)name;
    k->rec.role = role;
    k->rec.create_unix_ms = now;
    k->rec.revoke_unix_ms = 0;
    k->rec.key_prefix = k->prefix;
    k->rec.secret_hash.data = k->hash;
    k->rec.secret_hash.len = sizeof(k->hash);
out:
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(hex, sizeof(hex));
    return rc;
}

/* store_newkey_insert writes the key's three records; a team or rep key
 * needs its team to exist, and a rep key its rep to be a member (else
 * SW_ESTATE). */
static SW_MUST_CHECK sw_err store_newkey_insert(store_txn *t,
                                                const struct store_newkey *k)
{
    const char *team_id = k->rec.team_id;
    struct sw_buf mkey;
    const void *v;
    size_t vl;
    sw_err rc;

    if (k->rec.role == STORE_ROLE_TEAM || k->rec.role == STORE_ROLE_REP) {
        rc = store_get(t, STORE_DB_TEAMS, team_id, strlen(team_id), &v, &vl);
        if (rc)
            return rc;
    }
    if (k->rec.role == STORE_ROLE_REP) {
        sw_buf_init(&mkey, STORE_KEYBUF_MAX);
        rc = store_key(&mkey, team_id, k->rec.rep_email,
                       strlen(k->rec.rep_email));
        if (rc == SW_OK)
            rc = store_get(t, STORE_DB_MEMBERS, sw_buf_str(&mkey),
                           sw_buf_len(&mkey), &v, &vl);
        sw_buf_free(&mkey);
        if (rc == SW_ENOTFOUND)
            rc = SW_ESTATE;
        if (rc)
            return rc;
    }
    rc = store__put_msg(t, STORE_DB_KEYS, sw_buf_str(&k->kkey),
                        sw_buf_len(&k->kkey), &k->rec.base, STORE_NOOVERWRITE);
    if (rc)
        return rc;
    rc = store_put(t, STORE_DB_KEY_HASHES, k->hash, sizeof(k->hash),
                   sw_buf_str(&k->kkey), sw_buf_len(&k->kkey),
                   STORE_NOOVERWRITE);
    if (rc)
        return rc;
    return store_put(t, STORE_DB_KEY_IDS, k->key_id, strlen(k->key_id), team_id,
                     strlen(team_id), STORE_NOOVERWRITE);
}

/* Teams */

struct store_team_create_ctx {
    Snipwise__Store__TeamRecord rec;
    struct store_newkey key;
};

static SW_MUST_CHECK sw_err store_team_create_txn(store_txn *t, void *arg)
{
    struct store_team_create_ctx *c = arg;
    sw_err rc;

    rc =
        store__put_msg(t, STORE_DB_TEAMS, c->rec.team_id,
                       strlen(c->rec.team_id), &c->rec.base, STORE_NOOVERWRITE);
    if (rc)
        return rc;
    return store_newkey_insert(t, &c->key);
}

sw_err store_team_create(store *s, const char *display_name,
                         struct store_team *out, char **api_key_out,
                         struct sw_buf *why)
{
    struct store_team_create_ctx c;
    struct store_team res = {0};
    char *team_id = NULL, *secret = NULL;
    int64_t now = sw_now_ms();
    sw_err rc;

    memset(&c, 0, sizeof(c));
    sw_buf_init(&c.key.kkey, STORE_KEYBUF_MAX);
    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (!store__text_ok(display_name, 1, STORE_NAME_MAX)) {
        rc = store__why(why, store_why_name);
        goto out;
    }
    rc = sw_id_new("team_", 8, &team_id);
    if (rc)
        goto out;
    rc = store_newkey_init(&c.key, team_id, "default", STORE_ROLE_TEAM, now);
    if (rc)
        goto out;
    snipwise__store__team_record__init(&c.rec);
    c.rec.team_id = team_id;
    c.rec.display_name = (char *)display_name;
    c.rec.create_unix_ms = now;

    res.team_id = sw_strdup(team_id);
    res.display_name = sw_strdup(display_name);
    res.create_ms = now;
    if (res.team_id == NULL || res.display_name == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (api_key_out) {
        secret = sw_strdup(c.key.secret);
        if (secret == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    rc = store_update(s, store_team_create_txn, &c);
    if (rc)
        goto out;
    if (out) {
        *out = res;
        memset(&res, 0, sizeof(res));
    }
    if (api_key_out) {
        *api_key_out = secret;
        secret = NULL;
    }
out:
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        sw_free(secret);
    }
    store_team_clear(&res);
    store_newkey_clear(&c.key);
    sw_free(team_id);
    return rc;
}

struct store_team_get_ctx {
    const char *team_id;
    struct store_team res;
};

static SW_MUST_CHECK sw_err store_team_get_txn(store_txn *t, void *arg)
{
    struct store_team_get_ctx *c = arg;
    ProtobufCMessage *m = NULL;
    sw_err rc;

    rc = store__get_msg(t, STORE_DB_TEAMS, c->team_id, strlen(c->team_id),
                        &snipwise__store__team_record__descriptor, &m);
    if (rc == SW_OK)
        rc = store_team_from((Snipwise__Store__TeamRecord *)m, &c->res);
    store__msg_free(m);
    return rc;
}

sw_err store_team_get(store *s, const char *team_id, struct store_team *out,
                      struct sw_buf *why)
{
    struct store_team_get_ctx c = {team_id, {0}};
    sw_err rc;

    if (s == NULL || out == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    rc = store_view(s, store_team_get_txn, &c);
    if (rc == SW_OK)
        *out = c.res;
    return rc;
}

sw_err store_team_list(store *s, int page_size, const char *page_token,
                       struct store_team **items, size_t *n, char **next_token,
                       struct sw_buf *why)
{
    struct store__list l;
    void *arr = NULL;
    sw_err rc;

    store__list_init(&l, STORE_DB_TEAMS, sizeof(struct store_team),
                     store_team_conv, store_team_clear_v);
    rc =
        store__list_run(s, &l, page_size, page_token, &arr, n, next_token, why);
    if (rc == SW_OK)
        *items = arr;
    store__list_free(&l);
    return rc;
}

/* store_keyrefs_cb collects, for each of a team's keys, its secret hash and
 * its id ("hash[32] key_id\0" repeated), so that the KEY_HASHES and KEY_IDS
 * entries can be deleted after the scan. */
static SW_MUST_CHECK sw_err store_keyrefs_cb(const void *k, size_t kl,
                                             const void *v, size_t vl,
                                             void *arg)
{
    struct sw_buf *refs = arg;
    Snipwise__Store__KeyRecord *r;
    ProtobufCMessage *m = NULL;
    sw_err rc;

    (void)k;
    (void)kl;
    rc = store__unpack(&snipwise__store__key_record__descriptor, v, vl, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__KeyRecord *)m;
    if (r->secret_hash.len != SW_SHA256_LEN) {
        sw_log_error("store.key_corrupt", "key_id=%s hash_len=%zu", r->key_id,
                     r->secret_hash.len);
        rc = SW_ECORRUPT;
        goto out;
    }
    rc = sw_buf_add(refs, r->secret_hash.data, SW_SHA256_LEN);
    if (rc == SW_OK)
        rc = sw_buf_add(refs, r->key_id, strlen(r->key_id) + 1);
out:
    store__msg_free(m);
    return rc;
}

/* store_purge_mark_key resets b to the META key that marks team_id's
 * records as still being purged. */
static SW_MUST_CHECK sw_err store_purge_mark_key(struct sw_buf *b,
                                                 const char *team_id)
{
    sw_err rc;

    sw_buf_reset(b);
    rc = sw_buf_addstr(b, STORE_PURGE_MARK);
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, team_id);
    return rc;
}

static SW_MUST_CHECK sw_err store_team_delete_txn(store_txn *t, void *arg)
{
    const char *team_id = arg;
    struct sw_buf prefix, refs;
    const void *v;
    size_t vl, off, idlen = 0;
    const char *p;
    sw_err rc;

    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&refs, (size_t)1 << 30);
    rc = store_get(t, STORE_DB_TEAMS, team_id, strlen(team_id), &v, &vl);
    if (rc)
        goto out;
    rc = store_key(&prefix, team_id, NULL, 0);
    if (rc)
        goto out;
    rc = store_scan(t, STORE_DB_KEYS, sw_buf_str(&prefix), sw_buf_len(&prefix),
                    NULL, 0, store_keyrefs_cb, &refs);
    if (rc)
        goto out;
    p = sw_buf_str(&refs);
    for (off = 0; off < sw_buf_len(&refs); off += SW_SHA256_LEN + idlen + 1) {
        const char *id = p + off + SW_SHA256_LEN;
        idlen = strlen(id);
        rc = store_del(t, STORE_DB_KEY_HASHES, p + off, SW_SHA256_LEN);
        if (rc == SW_OK || rc == SW_ENOTFOUND)
            rc = store_del(t, STORE_DB_KEY_IDS, id, idlen);
        if (rc && rc != SW_ENOTFOUND)
            goto out;
        rc = SW_OK;
    }
    rc = store_del(t, STORE_DB_TEAMS, team_id, strlen(team_id));
    if (rc)
        goto out;
    /* The rest goes in slices (store_team_purge); the mark says so, for a
     * restart after a crash in between. */
    rc = store_purge_mark_key(&prefix, team_id);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_META, sw_buf_str(&prefix),
                       sw_buf_len(&prefix), "", 0, 0);
out:
    sw_buf_free(&refs);
    sw_buf_free(&prefix);
    return rc;
}

/* One slice of a team's purge: at most max records, and the mark with the
 * last of them. */
struct store_purge_step {
    const char *team_id;
    size_t max;
    size_t deleted;
    int done;
};

static SW_MUST_CHECK sw_err store_purge_step_txn(store_txn *t, void *arg)
{
    struct store_purge_step *st = arg;
    struct sw_buf k;
    sw_err rc;

    st->deleted = 0;
    rc = store_del_team_some(t, st->team_id, st->max, &st->deleted, &st->done);
    if (rc || !st->done)
        return rc;
    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_purge_mark_key(&k, st->team_id);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_META, sw_buf_str(&k), sw_buf_len(&k));
    if (rc == SW_ENOTFOUND)
        rc = SW_OK;
    sw_buf_free(&k);
    return rc;
}

sw_err store_team_purge(store *s, const char *team_id, size_t slice,
                        size_t *ndeleted)
{
    struct store_purge_step st;
    sw_err rc;

    if (s == NULL || !store__id_ok(team_id))
        return SW_EINVAL;
    memset(&st, 0, sizeof(st));
    st.team_id = team_id;
    st.max = slice > 0 ? slice : store__purge_slice(s);
    /* Each slice deletes at least one record or ends the purge, so the
     * loop ends; between slices, other writers get the writer. */
    do {
        rc = store_update(s, store_purge_step_txn, &st);
        if (rc == SW_OK && ndeleted)
            *ndeleted += st.deleted;
    } while (rc == SW_OK && !st.done);
    return rc;
}

sw_err store_team_exists_txn(store_txn *t, const char *team_id)
{
    const void *v;
    size_t vl;

    if (t == NULL || team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    return store_get(t, STORE_DB_TEAMS, team_id, strlen(team_id), &v, &vl);
}

sw_err store_team_delete(store *s, const char *team_id, struct sw_buf *why)
{
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    rc = store_update(s, store_team_delete_txn, (void *)team_id);
    if (rc == SW_OK)
        rc = store_team_purge(s, team_id, 0, NULL);
    return rc;
}

static sw_err store_purge_list_cb(const void *k, size_t klen, const void *v,
                                  size_t vlen, void *arg)
{
    struct sw_buf *ids = arg;
    size_t plen = sizeof(STORE_PURGE_MARK) - 1;

    sw_err rc;

    (void)v;
    (void)vlen;
    if (klen <= plen)
        return SW_OK;
    rc = sw_buf_add(ids, (const char *)k + plen, klen - plen);
    if (rc == SW_OK)
        rc = sw_buf_add(ids, "", 1);
    return rc;
}

static SW_MUST_CHECK sw_err store_purge_list_txn(store_txn *t, void *arg)
{
    sw_buf_reset(arg);
    return store_scan(t, STORE_DB_META, STORE_PURGE_MARK,
                      sizeof(STORE_PURGE_MARK) - 1, NULL, 0,
                      store_purge_list_cb, arg);
}

sw_err store_team_purge_pending(store *s, size_t *nteams)
{
    struct sw_buf ids;
    size_t off;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    sw_buf_init(&ids, (size_t)1 << 26);
    rc = store_view(s, store_purge_list_txn, &ids);
    for (off = 0; rc == SW_OK && off < sw_buf_len(&ids);) {
        const char *id = sw_buf_str(&ids) + off;

        sw_log_info("store.purge_resumed", "team=%s", id);
        rc = store_team_purge(s, id, 0, NULL);
        if (rc == SW_OK && nteams)
            (*nteams)++;
        off += strlen(id) + 1;
    }
    sw_buf_free(&ids);
    return rc;
}

/* API keys */

struct store_key_create_ctx {
    struct store_newkey key;
};

static SW_MUST_CHECK sw_err store_key_create_txn(store_txn *t, void *arg)
{
    struct store_key_create_ctx *c = arg;

    return store_newkey_insert(t, &c->key);
}

/* store_key_create_any makes a key of any role once its arguments are
 * checked; rep_email is the normalized member of a rep key, else "". */
static SW_MUST_CHECK sw_err
store_key_create_any(store *s, const char *team_id, const char *display_name,
                     int role, const char *rep_email, struct store_apikey *out,
                     char **secret_out, struct sw_buf *why)
{
    struct store_key_create_ctx c;
    struct store_apikey res = {0};
    char *secret = NULL;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    sw_buf_init(&c.key.kkey, STORE_KEYBUF_MAX);
    if (team_id[0] != '\0' && !store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    if (!store__text_ok(display_name, 1, STORE_NAME_MAX)) {
        rc = store__why(why, store_why_name);
        goto out;
    }
    rc = store_newkey_init(&c.key, team_id, display_name, role, sw_now_ms());
    if (rc)
        goto out;
    c.key.rec.rep_email = (char *)rep_email;
    if (out) {
        rc = store_apikey_from(&c.key.rec, &res);
        if (rc)
            goto out;
    }
    if (secret_out) {
        secret = sw_strdup(c.key.secret);
        if (secret == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    rc = store_update(s, store_key_create_txn, &c);
    if (rc == SW_ESTATE)
        rc = store_why_state(why, store_why_not_member);
    if (rc)
        goto out;
    if (out) {
        *out = res;
        memset(&res, 0, sizeof(res));
    }
    if (secret_out) {
        *secret_out = secret;
        secret = NULL;
    }
out:
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        sw_free(secret);
    }
    store_apikey_clear(&res);
    store_newkey_clear(&c.key);
    return rc;
}

sw_err store_key_create(store *s, const char *team_id, const char *display_name,
                        int role, struct store_apikey *out, char **secret_out,
                        struct sw_buf *why)
{
    if (s == NULL)
        return SW_EINVAL;
    if (team_id == NULL)
        team_id = "";
    if ((role == STORE_ROLE_ADMIN && team_id[0] != '\0') ||
        (role == STORE_ROLE_TEAM && team_id[0] == '\0') ||
        (role != STORE_ROLE_ADMIN && role != STORE_ROLE_TEAM))
        return store__why(why, store_why_role);
    return store_key_create_any(s, team_id, display_name, role, "", out,
                                secret_out, why);
}

sw_err store_key_create_rep(store *s, const char *team_id,
                            const char *rep_email, const char *display_name,
                            struct store_apikey *out, char **secret_out,
                            struct sw_buf *why)
{
    char *norm = NULL;
    sw_err rc;

    if (s == NULL || team_id == NULL)
        return SW_EINVAL;
    if (!store__id_ok(team_id))
        return store__why(why, STORE_WHY_TEAM_ID);
    rc = store__email_norm(rep_email, &norm, why);
    if (rc)
        return rc;
    rc = store_key_create_any(s, team_id, display_name, STORE_ROLE_REP, norm,
                              out, secret_out, why);
    sw_free(norm);
    return rc;
}

struct store_auth_ctx {
    const unsigned char *hash;
    struct store_apikey res;
};

static SW_MUST_CHECK sw_err store_auth_txn(store_txn *t, void *arg)
{
    struct store_auth_ctx *c = arg;
    Snipwise__Store__KeyRecord *r;
    ProtobufCMessage *m = NULL;
    const void *kkey;
    size_t kl;
    sw_err rc;

    rc = store_get(t, STORE_DB_KEY_HASHES, c->hash, SW_SHA256_LEN, &kkey, &kl);
    if (rc == SW_ENOTFOUND)
        rc = SW_EUNAUTH;
    if (rc)
        goto out;
    rc = store__get_msg(t, STORE_DB_KEYS, kkey, kl,
                        &snipwise__store__key_record__descriptor, &m);
    if (rc == SW_ENOTFOUND)
        rc = SW_EUNAUTH;
    if (rc)
        goto out;
    r = (Snipwise__Store__KeyRecord *)m;
    /* The lookup matched on the hash already; comparing the stored hash
     * guards against a KEY_HASHES entry that points at the wrong key. */
    if (r->secret_hash.len != SW_SHA256_LEN ||
        !sw_memeq_ct(r->secret_hash.data, c->hash, SW_SHA256_LEN)) {
        sw_log_error("store.key_hash_mismatch", "key_id=%s", r->key_id);
        rc = SW_EUNAUTH;
        goto out;
    }
    if (r->revoke_unix_ms != 0) {
        sw_log_warn("store.revoked_key_used", "key_id=%s", r->key_id);
        rc = SW_EUNAUTH;
        goto out;
    }
    rc = store_apikey_from(r, &c->res);
out:
    store__msg_free(m);
    return rc;
}

sw_err store_key_route(const char *key, size_t n,
                       char team_out[STORE_ROUTE_LEN + 1])
{
    size_t i;

    if (key == NULL || n <= STORE_ROUTE_LEN ||
        key[STORE_ROUTE_LEN] != STORE_ROUTE_SEP || memcmp(key, "team_", 5))
        return SW_ENOTFOUND;
    for (i = 5; i < STORE_ROUTE_LEN; i++)
        if (!((key[i] >= '0' && key[i] <= '9') ||
              (key[i] >= 'a' && key[i] <= 'f')))
            return SW_ENOTFOUND;
    memcpy(team_out, key, STORE_ROUTE_LEN);
    team_out[STORE_ROUTE_LEN] = '\0';
    return SW_OK;
}

sw_err store_key_authenticate(store *s, const char *secret, size_t n,
                              struct store_apikey *out)
{
    struct store_auth_ctx c;
    unsigned char hash[SW_SHA256_LEN];
    char route[STORE_ROUTE_LEN + 1];
    int routed;
    sw_err rc;

    if (s == NULL || out == NULL)
        return SW_EINVAL;
    if (secret == NULL)
        return SW_EUNAUTH;
    routed = store_key_route(secret, n, route) == SW_OK;
    if (routed) {
        secret += STORE_ROUTE_LEN + 1;
        n -= STORE_ROUTE_LEN + 1;
    }
    if (n != STORE_SECRET_LEN || memcmp(secret, "sk_", 3) != 0)
        return SW_EUNAUTH;
    sw_sha256(secret, n, hash);
    memset(&c, 0, sizeof(c));
    c.hash = hash;
    rc = store_view(s, store_auth_txn, &c);
    if (rc == SW_OK && routed && strcmp(c.res.team_id, route) != 0) {
        /* A valid secret behind another team's prefix would be routed to
         * the wrong node: refuse it rather than guess. */
        store_apikey_clear(&c.res);
        rc = SW_EUNAUTH;
    }
    if (rc == SW_OK)
        *out = c.res;
    return rc;
}

struct store_revoke_ctx {
    const char *team_scope;
    int role; /* 0: any */
    const char *key_id;
    int64_t now;
    struct store_apikey res;
};

static SW_MUST_CHECK sw_err store_revoke_txn(store_txn *t, void *arg)
{
    struct store_revoke_ctx *c = arg;
    Snipwise__Store__KeyRecord *r;
    ProtobufCMessage *m = NULL;
    struct sw_buf kkey;
    const void *team;
    size_t tl;
    sw_err rc;

    store_apikey_clear(&c->res);
    sw_buf_init(&kkey, STORE_KEYBUF_MAX);
    rc = store_get(t, STORE_DB_KEY_IDS, c->key_id, strlen(c->key_id), &team,
                   &tl);
    if (rc)
        goto out;
    if (c->team_scope &&
        (strlen(c->team_scope) != tl || memcmp(c->team_scope, team, tl) != 0)) {
        rc = SW_ENOTFOUND;
        goto out;
    }
    rc = sw_buf_add(&kkey, team, tl);
    if (rc == SW_OK)
        rc = sw_buf_addc(&kkey, '\0');
    if (rc == SW_OK)
        rc = sw_buf_addstr(&kkey, c->key_id);
    if (rc)
        goto out;
    rc = store__get_msg(t, STORE_DB_KEYS, sw_buf_str(&kkey), sw_buf_len(&kkey),
                        &snipwise__store__key_record__descriptor, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__KeyRecord *)m;
    if (c->role && r->role != c->role) {
        rc = SW_ESTATE;
        goto out;
    }
    if (r->revoke_unix_ms == 0) {
        r->revoke_unix_ms = c->now;
        rc = store__put_msg(t, STORE_DB_KEYS, sw_buf_str(&kkey),
                            sw_buf_len(&kkey), m, 0);
        if (rc)
            goto out;
    }
    rc = store_apikey_from(r, &c->res);
out:
    store__msg_free(m);
    sw_buf_free(&kkey);
    return rc;
}

sw_err store_key_revoke(store *s, const char *team_scope, const char *key_id,
                        struct store_apikey *out, struct sw_buf *why)
{
    return store_key_revoke_role(s, team_scope, 0, key_id, out, why);
}

sw_err store_key_revoke_role(store *s, const char *team_scope, int role,
                             const char *key_id, struct store_apikey *out,
                             struct sw_buf *why)
{
    struct store_revoke_ctx c;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    if (s == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (!store__id_ok(key_id)) {
        rc = store__why(why, store_why_key_id);
        goto out;
    }
    c.team_scope = team_scope;
    c.role = role;
    c.key_id = key_id;
    c.now = sw_now_ms();
    rc = store_update(s, store_revoke_txn, &c);
    if (rc == SW_ESTATE)
        rc = store_why_state(why, store_why_other_role);
    if (rc)
        goto out;
    if (out) {
        *out = c.res;
        memset(&c.res, 0, sizeof(c.res));
    }
out:
    store_apikey_clear(&c.res);
    return rc;
}

sw_err store_key_list(store *s, const char *team_id, int page_size,
                      const char *page_token, struct store_apikey **items,
                      size_t *n, char **next_token, struct sw_buf *why)
{
    return store_key_list_role(s, team_id, 0, page_size, page_token, items, n,
                               next_token, why);
}

/* store_apikey_keep keeps the keys of the role *role_arg. */
static int store_apikey_keep(const void *item, const void *role_arg)
{
    return ((const struct store_apikey *)item)->role == *(const int *)role_arg;
}

sw_err store_key_list_role(store *s, const char *team_id, int role,
                           int page_size, const char *page_token,
                           struct store_apikey **items, size_t *n,
                           char **next_token, struct sw_buf *why)
{
    struct store__list l;
    void *arr = NULL;
    sw_err rc;

    store__list_init(&l, STORE_DB_KEYS, sizeof(struct store_apikey),
                     store_apikey_conv, store_apikey_clear_v);
    if (role) {
        l.keep = store_apikey_keep;
        l.keep_arg = &role;
    }
    if (team_id && team_id[0] != '\0' && !store__id_ok(team_id)) {
        rc = store__why(why, STORE_WHY_TEAM_ID);
        goto out;
    }
    if (team_id) {
        rc = store_key(&l.prefix, team_id, NULL, 0);
        if (rc)
            goto out;
    }
    rc =
        store__list_run(s, &l, page_size, page_token, &arr, n, next_token, why);
    if (rc == SW_OK)
        *items = arr;
out:
    store__list_free(&l);
    return rc;
}

struct store_bootstrap_ctx {
    struct store_newkey key;
    int found;
};

static SW_MUST_CHECK sw_err store_active_admin_cb(const void *k, size_t kl,
                                                  const void *v, size_t vl,
                                                  void *arg)
{
    struct store_bootstrap_ctx *c = arg;
    ProtobufCMessage *m = NULL;
    sw_err rc;

    (void)k;
    (void)kl;
    rc = store__unpack(&snipwise__store__key_record__descriptor, v, vl, &m);
    if (rc)
        return rc;
    if (((Snipwise__Store__KeyRecord *)m)->revoke_unix_ms == 0)
        c->found = 1;
    store__msg_free(m);
    return c->found ? STORE_SCAN_STOP : SW_OK;
}

static SW_MUST_CHECK sw_err store_bootstrap_txn(store_txn *t, void *arg)
{
    struct store_bootstrap_ctx *c = arg;
    static const char admin_prefix[1] = {'\0'};
    sw_err rc;

    c->found = 0;
    rc = store_scan(t, STORE_DB_KEYS, admin_prefix, sizeof(admin_prefix), NULL,
                    0, store_active_admin_cb, c);
    if (rc)
        return rc;
    if (c->found)
        return SW_EEXIST;
    return store_newkey_insert(t, &c->key);
}

sw_err store_admin_bootstrap(store *s, char **secret_out)
{
    struct store_bootstrap_ctx c;
    char *secret = NULL;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    sw_buf_init(&c.key.kkey, STORE_KEYBUF_MAX);
    if (s == NULL || secret_out == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_newkey_init(&c.key, "", "bootstrap", STORE_ROLE_ADMIN,
                           sw_now_ms());
    if (rc)
        goto out;
    secret = sw_strdup(c.key.secret);
    if (secret == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = store_update(s, store_bootstrap_txn, &c);
    if (rc)
        goto out;
    sw_log_info("store.admin_bootstrap", "key_id=%s", c.key.key_id);
    *secret_out = secret;
    secret = NULL;
out:
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        sw_free(secret);
    }
    store_newkey_clear(&c.key);
    return rc;
}
