/* store_outcome: thread outcomes with idempotency keys (see
 * store_outcome.h for the layout). */
#include "store/store_outcome.h"

#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/store_tlv.h"

#define STORE_OUTCOME_VERSION 1
#define STORE_OUTCOME_KEY_MAX 512

void store_outcome_clear(struct store_outcome *o)
{
    if (o == NULL)
        return;
    sw_free(o->outcome_id);
    sw_free(o->thread_id);
    sw_free(o->email_id);
    sw_free(o->idem_key);
    sw_free(o->evidence);
    sw_free(o->note);
    sw_free(o->provenance);
    sw_free(o->deal_currency);
    memset(o, 0, sizeof(*o));
}

void store_outcomes_free(struct store_outcome *o, size_t n)
{
    size_t i;

    if (o == NULL)
        return;
    for (i = 0; i < n; i++)
        store_outcome_clear(&o[i]);
    sw_free(o);
}

static sw_err store_outcome_encode(const struct store_outcome *o,
                                   const char *id, int64_t rec, int64_t occ,
                                   struct sw_buf *b)
{
    /* Thousandths first (what records before units and nanos held), then
     * the exact units and nanos, which newer readers prefer. */
    int64_t amount_milli = o->deal_units * 1000 + o->deal_nanos / 1000000;
    sw_err rc = sw_buf_addc(b, STORE_OUTCOME_VERSION);

    if (rc == SW_OK)
        rc = store_tlv_str(b, id, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->thread_id, 256);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, o->kind);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, occ);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, rec);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, o->source);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->email_id, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->idem_key, 1024);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->evidence, 4096);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->note, 4096);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->provenance, 512);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, amount_milli);
    if (rc == SW_OK)
        rc = store_tlv_str(b, o->deal_currency, 16);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, o->deal_units);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, o->deal_nanos);
    return rc;
}

static sw_err store_outcome_decode(const void *v, size_t n,
                                   struct store_outcome *o)
{
    struct store_tlv_rd r = {(const unsigned char *)v + 1, n ? n - 1 : 0,
                             SW_OK};
    int64_t milli;

    memset(o, 0, sizeof(*o));
    if (n < 1 || ((const unsigned char *)v)[0] != STORE_OUTCOME_VERSION)
        return SW_ECORRUPT;
    o->outcome_id = store_tlv_get_str(&r);
    o->thread_id = store_tlv_get_str(&r);
    o->kind = (int)store_tlv_get_i64(&r);
    o->occur_ms = store_tlv_get_i64(&r);
    o->record_ms = store_tlv_get_i64(&r);
    o->source = (int)store_tlv_get_i64(&r);
    o->email_id = store_tlv_get_str(&r);
    o->idem_key = store_tlv_get_str(&r);
    o->evidence = store_tlv_get_str(&r);
    o->note = store_tlv_get_str(&r);
    o->provenance = store_tlv_get_str(&r);
    milli = store_tlv_get_i64(&r);
    o->deal_currency = store_tlv_get_str(&r);
    if (r.n) { /* written with units and nanos */
        o->deal_units = store_tlv_get_i64(&r);
        o->deal_nanos = (int32_t)store_tlv_get_i64(&r);
    } else {
        o->deal_units = milli / 1000;
        o->deal_nanos = (int32_t)(milli % 1000) * 1000000;
    }
    if (r.rc)
        store_outcome_clear(o);
    return r.rc;
}

sw_err store_outcome_set_thread_txn(store_txn *t, const char *team_id,
                                    uint64_t seq, const char *thread_id)
{
    struct store_outcome o;
    struct sw_buf k, v;
    const void *val;
    size_t vl;
    char *old;
    sw_err rc;

    if (t == NULL || team_id == NULL || thread_id == NULL || !thread_id[0])
        return SW_EINVAL;
    memset(&o, 0, sizeof(o));
    sw_buf_init(&k, STORE_OUTCOME_KEY_MAX);
    sw_buf_init(&v, 1 << 20);
    rc = store_key(&k, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&k, UINT64_MAX - seq);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_OUTCOMES, sw_buf_str(&k), sw_buf_len(&k),
                       &val, &vl);
    if (rc == SW_OK)
        rc = store_outcome_decode(val, vl, &o);
    if (rc)
        goto out;
    old = o.thread_id;
    o.thread_id = (char *)thread_id;
    rc = store_outcome_encode(&o, o.outcome_id, o.record_ms, o.occur_ms, &v);
    o.thread_id = old; /* freed with the rest */
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_OUTCOMES, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), 0);
out:
    store_outcome_clear(&o);
    sw_buf_free(&v);
    sw_buf_free(&k);
    return rc;
}

sw_err store_outcome_put(store_txn *t, const char *team_id,
                         const struct store_outcome *o, int *duplicate,
                         char **outcome_id)
{
    struct sw_buf ik, k, v;
    const void *val;
    size_t vl;
    uint64_t seq;
    unsigned char sb[8];
    char hex[17], *id = NULL;
    int64_t rec, occ;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || o == NULL ||
        o->thread_id == NULL || o->thread_id[0] == '\0' ||
        o->idem_key == NULL || o->idem_key[0] == '\0' || o->kind < 1 ||
        o->kind > 9)
        return SW_EINVAL;
    sw_buf_init(&ik, STORE_OUTCOME_KEY_MAX);
    sw_buf_init(&k, STORE_OUTCOME_KEY_MAX);
    sw_buf_init(&v, 64 * 1024);
    rc = store_key(&ik, team_id, o->idem_key, strlen(o->idem_key));
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_OUTCOME_KEYS, sw_buf_str(&ik), sw_buf_len(&ik),
                   &val, &vl);
    if (rc == SW_OK) {
        struct store_outcome prev;
        if (vl != 8) {
            rc = SW_ECORRUPT;
            goto out;
        }
        rc = store_key(&k, team_id, NULL, 0);
        if (rc == SW_OK)
            rc = store_key_add_u64(&k, UINT64_MAX - store_u64_get(val));
        if (rc == SW_OK)
            rc = store_get(t, STORE_DB_OUTCOMES, sw_buf_str(&k), sw_buf_len(&k),
                           &val, &vl);
        if (rc == SW_ENOTFOUND)
            rc = SW_ECORRUPT;
        if (rc == SW_OK)
            rc = store_outcome_decode(val, vl, &prev);
        if (rc)
            goto out;
        *outcome_id = prev.outcome_id;
        prev.outcome_id = NULL;
        store_outcome_clear(&prev);
        *duplicate = 1;
        goto out;
    }
    if (rc != SW_ENOTFOUND)
        goto out;
    rc = store_seq_next(t, team_id, "outcome", &seq);
    if (rc)
        goto out;
    store_u64_put(sb, seq);
    sw_hex(sb, 8, hex);
    rc = sw_buf_printf(&v, "out_%s", hex);
    if (rc == SW_OK)
        rc = sw_buf_take(&v, &id, NULL);
    if (rc)
        goto out;
    rec = o->record_ms ? o->record_ms : sw_now_ms();
    occ = o->occur_ms ? o->occur_ms : rec;
    rc = store_outcome_encode(o, id, rec, occ, &v);
    if (rc == SW_OK)
        rc = store_key(&k, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&k, UINT64_MAX - seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_OUTCOMES, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), STORE_NOOVERWRITE);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_OUTCOME_KEYS, sw_buf_str(&ik),
                       sw_buf_len(&ik), sb, 8, STORE_NOOVERWRITE);
    if (rc)
        goto out;
    *duplicate = 0;
    *outcome_id = id;
    id = NULL;
out:
    sw_free(id);
    sw_buf_free(&ik);
    sw_buf_free(&k);
    sw_buf_free(&v);
    return rc;
}

sw_err store_outcome_by_key(store_txn *t, const char *team_id,
                            const char *idem_key, struct store_outcome *out)
{
    struct sw_buf ik, k;
    const void *val;
    size_t vl;
    uint64_t seq = 0;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' ||
        idem_key == NULL || idem_key[0] == '\0' || out == NULL)
        return SW_EINVAL;
    sw_buf_init(&ik, STORE_OUTCOME_KEY_MAX);
    sw_buf_init(&k, STORE_OUTCOME_KEY_MAX);
    rc = store_key(&ik, team_id, idem_key, strlen(idem_key));
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_OUTCOME_KEYS, sw_buf_str(&ik),
                       sw_buf_len(&ik), &val, &vl);
    if (rc == SW_OK && vl != 8)
        rc = SW_ECORRUPT;
    if (rc == SW_OK) {
        seq = store_u64_get(val);
        rc = store_key(&k, team_id, NULL, 0);
    }
    if (rc == SW_OK)
        rc = store_key_add_u64(&k, UINT64_MAX - seq);
    if (rc == SW_OK) {
        rc = store_get(t, STORE_DB_OUTCOMES, sw_buf_str(&k), sw_buf_len(&k),
                       &val, &vl);
        if (rc == SW_ENOTFOUND)
            rc = SW_ECORRUPT;
    }
    if (rc == SW_OK)
        rc = store_outcome_decode(val, vl, out);
    if (rc == SW_OK)
        out->seq = seq;
    sw_buf_free(&ik);
    sw_buf_free(&k);
    return rc;
}

struct store_outcome_scan_arg {
    const char *thread_id;
    size_t plen;
    store_outcome_fn fn;
    void *arg;
};

static sw_err store_outcome_scan_cb(const void *k, size_t klen, const void *v,
                                    size_t vlen, void *arg)
{
    struct store_outcome_scan_arg *a = arg;
    struct store_outcome o;
    sw_err rc;

    if (klen != a->plen + 8)
        return SW_ECORRUPT;
    rc = store_outcome_decode(v, vlen, &o);
    if (rc)
        return rc;
    o.seq = UINT64_MAX - store_u64_get((const unsigned char *)k + a->plen);
    if (a->thread_id == NULL || strcmp(a->thread_id, o.thread_id) == 0)
        rc = a->fn(&o, a->arg);
    store_outcome_clear(&o);
    return rc;
}

static sw_err store_outcome_scan_from(store_txn *t, const char *team_id,
                                      const char *thread_id, uint64_t after,
                                      store_outcome_fn fn, void *arg)
{
    struct store_outcome_scan_arg a;
    struct sw_buf p, s;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || fn == NULL)
        return SW_EINVAL;
    sw_buf_init(&p, STORE_OUTCOME_KEY_MAX);
    sw_buf_init(&s, STORE_OUTCOME_KEY_MAX);
    a.thread_id = thread_id && thread_id[0] ? thread_id : NULL;
    a.fn = fn;
    a.arg = arg;
    rc = store_key(&p, team_id, NULL, 0);
    a.plen = sw_buf_len(&p);
    if (rc == SW_OK && after) {
        rc = store_key(&s, team_id, NULL, 0);
        if (rc == SW_OK)
            rc = store_key_add_u64(&s, UINT64_MAX - after);
    }
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_OUTCOMES, sw_buf_str(&p), sw_buf_len(&p),
                        after ? sw_buf_str(&s) : NULL, sw_buf_len(&s),
                        store_outcome_scan_cb, &a);
    sw_buf_free(&p);
    sw_buf_free(&s);
    return rc;
}

sw_err store_outcome_scan(store_txn *t, const char *team_id,
                          const char *thread_id, store_outcome_fn fn, void *arg)
{
    return store_outcome_scan_from(t, team_id, thread_id, 0, fn, arg);
}

struct store_outcome_page {
    const char *team_id;
    const char *thread_id;
    uint64_t after;
    size_t want, n;
    int more;
    struct store_outcome *items;
};

static sw_err store_outcome_page_cb(const struct store_outcome *o, void *arg)
{
    struct store_outcome_page *pg = arg;
    struct store_outcome *d;

    if (pg->n == pg->want) {
        pg->more = 1;
        return STORE_SCAN_STOP;
    }
    d = &pg->items[pg->n];
    *d = *o;
    d->outcome_id = sw_strdup(o->outcome_id);
    d->thread_id = sw_strdup(o->thread_id);
    d->email_id = sw_strdup(o->email_id);
    d->idem_key = sw_strdup(o->idem_key);
    d->evidence = sw_strdup(o->evidence);
    d->note = sw_strdup(o->note);
    d->provenance = sw_strdup(o->provenance);
    d->deal_currency = sw_strdup(o->deal_currency);
    pg->n++;
    if (!d->outcome_id || !d->thread_id || !d->email_id || !d->idem_key ||
        !d->evidence || !d->note || !d->provenance || !d->deal_currency)
        return SW_ENOMEM;
    return SW_OK;
}

static sw_err store_outcome_page_txn(store_txn *t, void *arg)
{
    struct store_outcome_page *pg = arg;
    size_t i;

    for (i = 0; i < pg->n; i++)
        store_outcome_clear(&pg->items[i]);
    pg->n = 0;
    pg->more = 0;
    return store_outcome_scan_from(t, pg->team_id, pg->thread_id, pg->after,
                                   store_outcome_page_cb, pg);
}

sw_err store_outcome_list(store *s, const char *team_id, const char *thread_id,
                          int page_size, const char *page_token,
                          struct store_outcome **items, size_t *n,
                          char **next_token, struct sw_buf *why)
{
    struct store_outcome_page pg;
    int64_t after = 0;
    sw_err rc;

    if (why)
        sw_buf_reset(why);
    if (s == NULL || team_id == NULL || team_id[0] == '\0' || page_size < 0)
        return SW_EINVAL;
    if (page_token && page_token[0] &&
        sw_parse_i64(page_token, strlen(page_token), 1, INT64_MAX, &after)) {
        if (why)
            if (sw_buf_addstr(why, "page_token is malformed")) {
                /* the reason is optional */
            }
        return SW_EINVAL;
    }
    memset(&pg, 0, sizeof(pg));
    pg.team_id = team_id;
    pg.thread_id = thread_id;
    pg.after = (uint64_t)after;
    pg.want = page_size == 0 ? 50 : page_size > 1000 ? 1000 : (size_t)page_size;
    pg.items = sw_calloc(pg.want, sizeof(*pg.items));
    if (pg.items == NULL)
        return SW_ENOMEM;
    rc = store_view(s, store_outcome_page_txn, &pg);
    *next_token = NULL;
    if (rc == SW_OK && pg.more && pg.n > 0) {
        struct sw_buf b;
        sw_buf_init(&b, 32);
        rc = sw_buf_printf(&b, "%llu",
                           (unsigned long long)pg.items[pg.n - 1].seq);
        if (rc == SW_OK)
            rc = sw_buf_take(&b, next_token, NULL);
        sw_buf_free(&b);
    }
    if (rc) {
        store_outcomes_free(pg.items, pg.n);
        return rc;
    }
    *items = pg.items;
    *n = pg.n;
    return SW_OK;
}
