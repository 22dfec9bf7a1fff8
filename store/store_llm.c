/* store_llm: LLM cache, journal and daily token counters in LMDB (see
 * store_llm.h for the layout). */
#include "store/store_llm.h"

#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "store/store_tlv.h"

#define STORE_LLM_VERSION 1
#define STORE_LLM_RAW_MAX (256u * 1024)
#define STORE_LLM_KEY_MAX 512

/* The attempt's strings, one row each: clear and copy walk the same list,
 * so a new string field is added here once. */
#define STORE_LLM_ATTEMPT_STRS(X)                                              \
    X(attempt_id)                                                              \
    X(job_id)                                                                  \
    X(provider)                                                                \
    X(model)                                                                   \
    X(schema_name)                                                             \
    X(request_hash)                                                            \
    X(raw_output)                                                              \
    X(errors)                                                                  \
    X(mode)

void store_llm_attempt_clear(struct store_llm_attempt *a)
{
    if (a == NULL)
        return;
#define STORE_LLM_FREE(f) sw_free(a->f);
    STORE_LLM_ATTEMPT_STRS(STORE_LLM_FREE)
#undef STORE_LLM_FREE
    memset(a, 0, sizeof(*a));
}

sw_err store_llm_attempt_copy(const struct store_llm_attempt *src,
                              struct store_llm_attempt *dst)
{
    sw_err rc = SW_OK;

    *dst = *src;
#define STORE_LLM_DUP(f)                                                       \
    dst->f = NULL;                                                             \
    if (rc == SW_OK && src->f && (dst->f = sw_strdup(src->f)) == NULL)         \
        rc = SW_ENOMEM;
    STORE_LLM_ATTEMPT_STRS(STORE_LLM_DUP)
#undef STORE_LLM_DUP
    if (rc)
        store_llm_attempt_clear(dst);
    return rc;
}

void store_llm_attempts_free(struct store_llm_attempt *a, size_t n)
{
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < n; i++)
        store_llm_attempt_clear(&a[i]);
    sw_free(a);
}

static sw_err store_llm_encode(const struct store_llm_attempt *a,
                               const char *attempt_id, struct sw_buf *b)
{
    sw_err rc;

    rc = sw_buf_addc(b, STORE_LLM_VERSION);
    if (rc == SW_OK)
        rc = store_tlv_str(b, attempt_id, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->job_id, 256);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->attempt_number);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->provider, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->model, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->schema_name, 256);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->schema_version);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->request_hash, 256);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->raw_output, STORE_LLM_RAW_MAX);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->errors, 64 * 1024);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->prompt_tokens);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->completion_tokens);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->latency_ms);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->time_ms);
    if (rc == SW_OK)
        rc = store_tlv_i64(b, a->outcome);
    if (rc == SW_OK)
        rc = store_tlv_str(b, a->mode, 64);
    return rc;
}

static sw_err store_llm_decode(const void *v, size_t n,
                               struct store_llm_attempt *a)
{
    struct store_tlv_rd r = {(const unsigned char *)v + 1, n ? n - 1 : 0,
                             SW_OK};

    memset(a, 0, sizeof(*a));
    if (n < 1 || ((const unsigned char *)v)[0] != STORE_LLM_VERSION)
        return SW_ECORRUPT;
    a->attempt_id = store_tlv_get_str(&r);
    a->job_id = store_tlv_get_str(&r);
    a->attempt_number = (int)store_tlv_get_i64(&r);
    a->provider = store_tlv_get_str(&r);
    a->model = store_tlv_get_str(&r);
    a->schema_name = store_tlv_get_str(&r);
    a->schema_version = (int)store_tlv_get_i64(&r);
    a->request_hash = store_tlv_get_str(&r);
    a->raw_output = store_tlv_get_str(&r);
    a->errors = store_tlv_get_str(&r);
    a->prompt_tokens = store_tlv_get_i64(&r);
    a->completion_tokens = store_tlv_get_i64(&r);
    a->latency_ms = store_tlv_get_i64(&r);
    a->time_ms = store_tlv_get_i64(&r);
    a->outcome = (int)store_tlv_get_i64(&r);
    /* Fields added later are read only when present. */
    a->mode = r.n ? store_tlv_get_str(&r) : sw_strdup("");
    if (r.rc == SW_OK && a->mode == NULL)
        r.rc = SW_ENOMEM;
    if (r.rc)
        store_llm_attempt_clear(a);
    return r.rc;
}

sw_err store_llm_journal_add(store_txn *t, const char *team_id,
                             const struct store_llm_attempt *a)
{
    struct sw_buf k, v;
    char *id = NULL;
    uint64_t seq;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || a == NULL)
        return SW_EINVAL;
    sw_buf_init(&k, STORE_LLM_KEY_MAX);
    sw_buf_init(&v, STORE_LLM_RAW_MAX + 128 * 1024);
    rc = store_seq_next(t, team_id, "llm_journal", &seq);
    if (rc)
        goto out;
    if (a->attempt_id == NULL || a->attempt_id[0] == '\0') {
        rc = sw_id_new("att_", 8, &id);
        if (rc)
            goto out;
    }
    rc = store_key(&k, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&k, UINT64_MAX - seq);
    if (rc == SW_OK)
        rc = store_llm_encode(a, id ? id : a->attempt_id, &v);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_LLM_JOURNAL, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), 0);
out:
    sw_free(id);
    sw_buf_free(&k);
    sw_buf_free(&v);
    return rc;
}

struct store_llm_list {
    const char *job_id;
    size_t plen;
    size_t want;
    struct store_llm_attempt *items;
    size_t n;
    unsigned char last[8];
    int more;
    sw_err rc;
};

static sw_err store_llm_list_cb(const void *k, size_t klen, const void *v,
                                size_t vlen, void *arg)
{
    struct store_llm_list *l = arg;
    struct store_llm_attempt a;
    sw_err rc;

    if (klen != l->plen + 8)
        return SW_ECORRUPT;
    rc = store_llm_decode(v, vlen, &a);
    if (rc)
        return rc;
    if (l->job_id && strcmp(l->job_id, a.job_id) != 0) {
        store_llm_attempt_clear(&a);
        return SW_OK;
    }
    if (l->n == l->want) {
        store_llm_attempt_clear(&a);
        l->more = 1;
        return STORE_SCAN_STOP;
    }
    l->items[l->n++] = a;
    memcpy(l->last, (const unsigned char *)k + l->plen, 8);
    return SW_OK;
}

struct store_llm_list_arg {
    const char *team_id;
    const char *page_token;
    struct store_llm_list *l;
};

static sw_err store_llm_list_txn(store_txn *t, void *arg)
{
    struct store_llm_list_arg *a = arg;
    struct sw_buf p, s;
    unsigned char tok[8];
    size_t i, tl;
    sw_err rc;

    sw_buf_init(&p, STORE_LLM_KEY_MAX);
    sw_buf_init(&s, STORE_LLM_KEY_MAX);
    rc = store_key(&p, a->team_id, NULL, 0);
    if (rc)
        goto out;
    a->l->plen = sw_buf_len(&p);
    if (a->page_token && a->page_token[0]) {
        tl = strlen(a->page_token);
        if (tl != 16) {
            rc = SW_EINVAL;
            goto out;
        }
        for (i = 0; i < 16; i++) {
            char c = a->page_token[i];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
            if (d < 0) {
                rc = SW_EINVAL;
                goto out;
            }
            if (i % 2 == 0)
                tok[i / 2] = (unsigned char)(d << 4);
            else
                tok[i / 2] |= (unsigned char)d;
        }
        rc = sw_buf_add(&s, sw_buf_str(&p), sw_buf_len(&p));
        if (rc == SW_OK)
            rc = sw_buf_add(&s, tok, 8);
        if (rc)
            goto out;
    }
    rc = store_scan(t, STORE_DB_LLM_JOURNAL, sw_buf_str(&p), sw_buf_len(&p),
                    sw_buf_len(&s) ? sw_buf_str(&s) : NULL, sw_buf_len(&s),
                    store_llm_list_cb, a->l);
out:
    sw_buf_free(&p);
    sw_buf_free(&s);
    return rc;
}

sw_err store_llm_journal_list(store *s, const char *team_id, const char *job_id,
                              int page_size, const char *page_token,
                              struct store_llm_attempt **items, size_t *n,
                              char **next_token, struct sw_buf *why)
{
    struct store_llm_list l;
    struct store_llm_list_arg a;
    char hex[17];
    sw_err rc;

    if (why)
        sw_buf_reset(why);
    if (s == NULL || team_id == NULL || team_id[0] == '\0' || page_size < 0)
        return SW_EINVAL;
    memset(&l, 0, sizeof(l));
    l.job_id = job_id && job_id[0] ? job_id : NULL;
    l.want = page_size == 0 ? 50 : page_size > 1000 ? 1000 : (size_t)page_size;
    l.items = sw_calloc(l.want, sizeof(*l.items));
    if (l.items == NULL)
        return SW_ENOMEM;
    a.team_id = team_id;
    a.page_token = page_token;
    a.l = &l;
    rc = store_view(s, store_llm_list_txn, &a);
    if (rc == SW_EINVAL && why)
        if (sw_buf_addstr(why, "page_token is malformed")) {
            /* the reason is optional */
        }
    if (rc) {
        store_llm_attempts_free(l.items, l.n);
        return rc;
    }
    *next_token = NULL;
    if (l.more) {
        sw_hex(l.last, 8, hex);
        *next_token = sw_strdup(hex);
        if (*next_token == NULL) {
            store_llm_attempts_free(l.items, l.n);
            return SW_ENOMEM;
        }
    }
    *items = l.items;
    *n = l.n;
    return SW_OK;
}

static sw_err store_llm_cache_dbkey(struct sw_buf *k, const char *team_id,
                                    const unsigned char key[32])
{
    sw_err rc = store_key(k, team_id, NULL, 0);

    if (rc == SW_OK)
        rc = sw_buf_add(k, key, 32);
    return rc;
}

struct store_llm_get {
    const char *team_id;
    const unsigned char *key;
    char *out;
    size_t len;
};

static sw_err store_llm_cache_txn(store_txn *t, void *arg)
{
    struct store_llm_get *g = arg;
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, STORE_LLM_KEY_MAX);
    rc = store_llm_cache_dbkey(&k, g->team_id, g->key);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_LLM_CACHE, sw_buf_str(&k), sw_buf_len(&k),
                       &v, &vl);
    if (rc == SW_OK) {
        g->out = sw_strndup(v, vl);
        g->len = vl;
        if (g->out == NULL)
            rc = SW_ENOMEM;
    }
    sw_buf_free(&k);
    return rc;
}

sw_err store_llm_cache_get(store *s, const char *team_id,
                           const unsigned char key[32], char **out, size_t *len)
{
    struct store_llm_get g = {team_id, key, NULL, 0};
    sw_err rc;

    if (s == NULL || team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    rc = store_view(s, store_llm_cache_txn, &g);
    if (rc) {
        sw_free(g.out);
        return rc;
    }
    *out = g.out;
    *len = g.len;
    return SW_OK;
}

sw_err store_llm_cache_put(store_txn *t, const char *team_id,
                           const unsigned char key[32], const char *val,
                           size_t len)
{
    struct sw_buf k;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    sw_buf_init(&k, STORE_LLM_KEY_MAX);
    rc = store_llm_cache_dbkey(&k, team_id, key);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_LLM_CACHE, sw_buf_str(&k), sw_buf_len(&k),
                       val, len, 0);
    sw_buf_free(&k);
    return rc;
}

static sw_err store_llm_budget_key(struct sw_buf *k, const char *team_id,
                                   int64_t day)
{
    sw_err rc = store_key(k, team_id, NULL, 0);

    if (rc == SW_OK)
        rc = store_key_add_u64(k, (uint64_t)day);
    return rc;
}

static sw_err store_llm_budget_read(store_txn *t, const struct sw_buf *k,
                                    uint64_t *out)
{
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_LLM_BUDGET, sw_buf_str(k), sw_buf_len(k), &v,
                   &vl);
    if (rc == SW_ENOTFOUND) {
        *out = 0;
        return SW_OK;
    }
    if (rc)
        return rc;
    if (vl != 8)
        return SW_ECORRUPT;
    *out = store_u64_get(v);
    return SW_OK;
}

sw_err store_llm_budget_add(store_txn *t, const char *team_id, int64_t day,
                            uint64_t tokens, uint64_t *total)
{
    struct sw_buf k;
    unsigned char v[8];
    uint64_t cur = 0;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    sw_buf_init(&k, STORE_LLM_KEY_MAX);
    rc = store_llm_budget_key(&k, team_id, day);
    if (rc == SW_OK)
        rc = store_llm_budget_read(t, &k, &cur);
    if (rc == SW_OK) {
        cur += tokens;
        store_u64_put(v, cur);
        rc = store_put(t, STORE_DB_LLM_BUDGET, sw_buf_str(&k), sw_buf_len(&k),
                       v, 8, 0);
    }
    if (rc == SW_OK && total)
        *total = cur;
    sw_buf_free(&k);
    return rc;
}

struct store_llm_bget {
    const char *team_id;
    int64_t day;
    uint64_t v;
};

static sw_err store_llm_bget_txn(store_txn *t, void *arg)
{
    struct store_llm_bget *g = arg;
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_LLM_KEY_MAX);
    rc = store_llm_budget_key(&k, g->team_id, g->day);
    if (rc == SW_OK)
        rc = store_llm_budget_read(t, &k, &g->v);
    sw_buf_free(&k);
    return rc;
}

sw_err store_llm_budget_get(store *s, const char *team_id, int64_t day,
                            uint64_t *out)
{
    struct store_llm_bget g = {team_id, day, 0};
    sw_err rc;

    if (s == NULL || team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    rc = store_view(s, store_llm_bget_txn, &g);
    if (rc == SW_OK)
        *out = g.v;
    return rc;
}

/* --- The cache key, and forgetting an email's calls ------------------------
 */

sw_err store_llm_cache_key(const char *provider, const char *model,
                           const char *schema_name, int schema_version,
                           const char *request_hash, unsigned char key[32])
{
    struct sw_buf ck;
    sw_err rc;

    if (provider == NULL || model == NULL || schema_name == NULL ||
        request_hash == NULL || key == NULL)
        return SW_EINVAL;
    sw_buf_init(&ck, 4096);
    rc = sw_buf_add(&ck, provider, strlen(provider) + 1);
    if (rc == SW_OK)
        rc = sw_buf_add(&ck, model, strlen(model) + 1);
    if (rc == SW_OK)
        rc = sw_buf_add(&ck, schema_name, strlen(schema_name) + 1);
    if (rc == SW_OK)
        rc = sw_buf_printf(&ck, "v%d:%s", schema_version, request_hash);
    if (rc == SW_OK)
        sw_sha256(sw_buf_str(&ck), sw_buf_len(&ck), key);
    sw_buf_free(&ck);
    return rc;
}

struct store_llm_forget {
    const char *job_id;
    struct sw_buf keys; /* journal keys of job_id's entries, each klen long */
    size_t klen;
};

static sw_err store_llm_forget_cb(const void *k, size_t kl, const void *v,
                                  size_t vl, void *arg)
{
    struct store_llm_forget *f = arg;
    struct store_llm_attempt a;
    sw_err rc;

    if (kl != f->klen)
        return SW_ECORRUPT;
    rc = store_llm_decode(v, vl, &a);
    if (rc)
        return rc;
    if (strcmp(a.job_id, f->job_id) == 0 &&
        (a.raw_output[0] || a.errors[0] || a.request_hash[0]))
        rc = sw_buf_add(&f->keys, k, kl);
    store_llm_attempt_clear(&a);
    return rc;
}

/* store_llm_forget_one redacts the journal entry at key k[0..kl) and drops
 * the cache entry its request would hit. */
static sw_err store_llm_forget_one(store_txn *t, const char *team_id,
                                   const void *k, size_t kl, struct sw_buf *b)
{
    struct store_llm_attempt a;
    unsigned char ck[32];
    const void *v;
    size_t vl;
    sw_err rc;

    rc = store_get(t, STORE_DB_LLM_JOURNAL, k, kl, &v, &vl);
    if (rc == SW_OK)
        rc = store_llm_decode(v, vl, &a);
    if (rc)
        return rc;
    rc = store_llm_cache_key(a.provider, a.model, a.schema_name,
                             a.schema_version, a.request_hash, ck);
    if (rc == SW_OK)
        rc = store_llm_cache_dbkey(b, team_id, ck);
    if (rc == SW_OK) {
        rc = store_del(t, STORE_DB_LLM_CACHE, sw_buf_str(b), sw_buf_len(b));
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
    }
    if (rc == SW_OK) { /* what was asked and answered goes; the cost stays */
        a.raw_output[0] = a.errors[0] = a.request_hash[0] = '\0';
        sw_buf_reset(b);
        rc = store_llm_encode(&a, a.attempt_id, b);
    }
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_LLM_JOURNAL, k, kl, sw_buf_str(b),
                       sw_buf_len(b), 0);
    store_llm_attempt_clear(&a);
    return rc;
}

sw_err store_llm_forget_txn(store_txn *t, const char *team_id,
                            const char *job_id, size_t *n)
{
    struct store_llm_forget f;
    struct sw_buf p, b;
    size_t off;
    sw_err rc;

    if (t == NULL || team_id == NULL || !team_id[0] || job_id == NULL ||
        !job_id[0])
        return SW_EINVAL;
    memset(&f, 0, sizeof(f));
    f.job_id = job_id;
    sw_buf_init(&f.keys, (size_t)1 << 30);
    sw_buf_init(&p, STORE_LLM_KEY_MAX);
    sw_buf_init(&b, STORE_LLM_RAW_MAX + 128 * 1024);
    rc = store_key(&p, team_id, NULL, 0);
    f.klen = sw_buf_len(&p) + 8;
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_LLM_JOURNAL, sw_buf_str(&p), sw_buf_len(&p),
                        NULL, 0, store_llm_forget_cb, &f);
    for (off = 0; rc == SW_OK && off + f.klen <= sw_buf_len(&f.keys);
         off += f.klen)
        rc = store_llm_forget_one(t, team_id, sw_buf_str(&f.keys) + off, f.klen,
                                  &b);
    if (rc == SW_OK && n)
        *n += sw_buf_len(&f.keys) / f.klen;
    sw_buf_free(&f.keys);
    sw_buf_free(&p);
    sw_buf_free(&b);
    return rc;
}
