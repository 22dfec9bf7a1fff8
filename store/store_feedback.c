/* store_feedback: feedback on suggested items with idempotency keys (see
 * store_feedback.h for the layout). */
#include "store/store_feedback.h"

#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/store_tlv.h"

#define STORE_FEEDBACK_VERSION 1
#define STORE_FEEDBACK_KEY_MAX 512

void store_feedback_clear(struct store_feedback *f)
{
    if (f == NULL)
        return;
    sw_free(f->feedback_id);
    sw_free(f->suggestion_id);
    sw_free(f->item_id);
    sw_free(f->target_id);
    sw_free(f->rep_email);
    sw_free(f->idem_key);
    memset(f, 0, sizeof(*f));
}

static sw_err store_feedback_encode(const struct store_feedback *f,
                                    const char *id, int64_t rec, int64_t when,
                                    struct sw_buf *b)
{
    sw_err rc = sw_buf_addc(b, STORE_FEEDBACK_VERSION);

    if (rc == SW_OK)
        rc = store_tlv_str(b, id, 64);
    if (rc == SW_OK)
        rc = store_tlv_str(b, f->suggestion_id, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, f->item_id, 512);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, f->target_kind);
    if (rc == SW_OK)
        rc = store_tlv_str(b, f->target_id, 256);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, f->kind);
    if (rc == SW_OK)
        rc = store_tlv_str(b, f->rep_email, 512);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, when);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, rec);
    if (rc == SW_OK)
        rc = store_tlv_str(b, f->idem_key, 1024);
    return rc;
}

static sw_err store_feedback_decode(const void *v, size_t n,
                                    struct store_feedback *f)
{
    struct store_tlv_rd r = {(const unsigned char *)v + 1, n ? n - 1 : 0,
                             SW_OK};

    memset(f, 0, sizeof(*f));
    if (n < 1 || ((const unsigned char *)v)[0] != STORE_FEEDBACK_VERSION)
        return SW_ECORRUPT;
    f->feedback_id = store_tlv_get_str(&r);
    f->suggestion_id = store_tlv_get_str(&r);
    f->item_id = store_tlv_get_str(&r);
    f->target_kind = (int)store_tlv_get_i64(&r);
    f->target_id = store_tlv_get_str(&r);
    f->kind = (int)store_tlv_get_i64(&r);
    f->rep_email = store_tlv_get_str(&r);
    f->time_ms = store_tlv_get_i64(&r);
    f->record_ms = store_tlv_get_i64(&r);
    f->idem_key = store_tlv_get_str(&r);
    if (r.rc)
        store_feedback_clear(f);
    return r.rc;
}

static int store_feedback_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

sw_err store_feedback_put(store_txn *t, const char *team_id,
                          const struct store_feedback *f, int *duplicate,
                          char **feedback_id)
{
    struct sw_buf ik, k, v;
    const void *val;
    size_t vl;
    uint64_t seq;
    unsigned char sb[8];
    char hex[17], *id = NULL;
    int64_t rec;
    sw_err rc;

    if (t == NULL || store_feedback_empty(team_id) || f == NULL ||
        store_feedback_empty(f->suggestion_id) ||
        store_feedback_empty(f->item_id) ||
        store_feedback_empty(f->target_id) ||
        store_feedback_empty(f->idem_key) || f->kind < 1 || f->kind > 6 ||
        (f->target_kind != 'c' && f->target_kind != 'f') || duplicate == NULL ||
        feedback_id == NULL)
        return SW_EINVAL;
    sw_buf_init(&ik, STORE_FEEDBACK_KEY_MAX);
    sw_buf_init(&k, STORE_FEEDBACK_KEY_MAX);
    sw_buf_init(&v, 16 * 1024);
    rc = store_key(&ik, team_id, f->idem_key, strlen(f->idem_key));
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_FEEDBACK_KEYS, sw_buf_str(&ik), sw_buf_len(&ik),
                   &val, &vl);
    if (rc == SW_OK) {
        struct store_feedback prev;
        if (vl != 8) {
            rc = SW_ECORRUPT;
            goto out;
        }
        rc = store_key(&k, team_id, NULL, 0);
        if (rc == SW_OK)
            rc = store_key_add_u64(&k, UINT64_MAX - store_u64_get(val));
        if (rc == SW_OK)
            rc = store_get(t, STORE_DB_FEEDBACK, sw_buf_str(&k), sw_buf_len(&k),
                           &val, &vl);
        if (rc == SW_ENOTFOUND)
            rc = SW_ECORRUPT;
        if (rc == SW_OK)
            rc = store_feedback_decode(val, vl, &prev);
        if (rc)
            goto out;
        *feedback_id = prev.feedback_id;
        prev.feedback_id = NULL;
        store_feedback_clear(&prev);
        *duplicate = 1;
        goto out;
    }
    if (rc != SW_ENOTFOUND)
        goto out;
    rc = store_seq_next(t, team_id, STORE_FEEDBACK_SEQ, &seq);
    if (rc)
        goto out;
    store_u64_put(sb, seq);
    sw_hex(sb, 8, hex);
    rc = sw_buf_printf(&v, "fb_%s", hex);
    if (rc == SW_OK)
        rc = sw_buf_take(&v, &id, NULL);
    if (rc)
        goto out;
    rec = f->record_ms ? f->record_ms : sw_now_ms();
    rc = store_feedback_encode(f, id, rec, f->time_ms ? f->time_ms : rec, &v);
    if (rc == SW_OK)
        rc = store_key(&k, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&k, UINT64_MAX - seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_FEEDBACK, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), STORE_NOOVERWRITE);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_FEEDBACK_KEYS, sw_buf_str(&ik),
                       sw_buf_len(&ik), sb, 8, STORE_NOOVERWRITE);
    if (rc)
        goto out;
    *duplicate = 0;
    *feedback_id = id;
    id = NULL;
out:
    sw_free(id);
    sw_buf_free(&ik);
    sw_buf_free(&k);
    sw_buf_free(&v);
    return rc;
}

struct store_feedback_scan_arg {
    size_t plen;
    store_feedback_fn fn;
    void *arg;
};

static sw_err store_feedback_scan_cb(const void *k, size_t klen, const void *v,
                                     size_t vlen, void *arg)
{
    struct store_feedback_scan_arg *a = arg;
    struct store_feedback f;
    sw_err rc;

    if (klen != a->plen + 8)
        return SW_ECORRUPT;
    rc = store_feedback_decode(v, vlen, &f);
    if (rc)
        return rc;
    f.seq = UINT64_MAX - store_u64_get((const unsigned char *)k + a->plen);
    rc = a->fn(&f, a->arg);
    store_feedback_clear(&f);
    return rc;
}

sw_err store_feedback_scan(store_txn *t, const char *team_id,
                           store_feedback_fn fn, void *arg)
{
    return store_feedback_scan_before(t, team_id, 0, fn, arg);
}

sw_err store_feedback_scan_before(store_txn *t, const char *team_id,
                                  uint64_t before_seq, store_feedback_fn fn,
                                  void *arg)
{
    struct store_feedback_scan_arg a;
    struct sw_buf p, after;
    unsigned char be[8];
    sw_err rc;

    if (t == NULL || store_feedback_empty(team_id) || fn == NULL)
        return SW_EINVAL;
    sw_buf_init(&p, STORE_FEEDBACK_KEY_MAX);
    sw_buf_init(&after, STORE_FEEDBACK_KEY_MAX);
    a.fn = fn;
    a.arg = arg;
    rc = store_key(&p, team_id, NULL, 0);
    a.plen = sw_buf_len(&p);
    /* Keys hold UINT64_MAX - seq, so older records sort after the key of
     * before_seq. */
    store_u64_put(be, UINT64_MAX - before_seq);
    if (rc == SW_OK && before_seq)
        rc = sw_buf_add(&after, sw_buf_str(&p), sw_buf_len(&p));
    if (rc == SW_OK && before_seq)
        rc = sw_buf_add(&after, be, sizeof(be));
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_FEEDBACK, sw_buf_str(&p), sw_buf_len(&p),
                        before_seq ? sw_buf_str(&after) : NULL,
                        sw_buf_len(&after), store_feedback_scan_cb, &a);
    sw_buf_free(&after);
    sw_buf_free(&p);
    return rc;
}
