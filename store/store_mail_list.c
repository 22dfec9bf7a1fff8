/* store_mail_list: the paginated lists of store_mail.h: threads by recent
 * activity as it stood when the listing began (so that paging stays stable
 * while mail arrives), content items by recent use. Each page walks a
 * recency index and reads the records in one read transaction. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sw_mem.h"
#include "store/store_int.h"
#include "store/store_mail.h"
#include "store/store_mail_int.h"

#define STORE_MAIL_PAGE_DEFAULT 50
#define STORE_MAIL_PAGE_MAX 1000

static const char store_mail_why_page[] = "page_size must be 0 to 1000";
static const char store_mail_why_token[] = "page_token is not valid";

/* --- Content items --------------------------------------------------------
 */

/* A page over CONTENT_RECENT: keys team\0~ms(8)id, whose records live in
 * CONTENTS under team\0id. */
struct store_mail_page {
    store_txn *t;
    const char *team_id;
    size_t prefix_len;
    size_t limit;
    const int *kinds;
    size_t nkinds;
    struct store_content *items;
    size_t n;
    int more;
    struct sw_buf after; /* the cursor: the previous page's last key */
    struct sw_buf last;
    struct sw_buf k;
};

static int store_mail_kind_match(const struct store_mail_page *p, int kind)
{
    size_t i;

    for (i = 0; i < p->nkinds; i++)
        if (kind == p->kinds[i])
            return 1;
    return p->nkinds == 0;
}

static SW_MUST_CHECK sw_err store_mail_page_cb(const void *k, size_t kl,
                                               const void *v, size_t vl,
                                               void *arg)
{
    struct store_mail_page *p = arg;
    struct store_content c;
    const void *rv;
    size_t rvl;
    char *id = NULL;
    sw_err rc;

    (void)v;
    (void)vl;
    if (kl <= p->prefix_len + 8)
        return SW_ECORRUPT;
    id =
        sw_strndup((const char *)k + p->prefix_len + 8, kl - p->prefix_len - 8);
    if (id == NULL)
        return SW_ENOMEM;
    rc = store_mail__id_key(&p->k, p->team_id, id);
    if (rc == SW_OK)
        rc = store_get(p->t, STORE_DB_CONTENTS, sw_buf_str(&p->k),
                       sw_buf_len(&p->k), &rv, &rvl);
    if (rc == SW_OK)
        rc = store_mail__content_dec(p->team_id, rv, rvl, 0, &c);
    if (rc)
        goto out;
    if (!store_mail_kind_match(p, c.kind)) {
        store_content_clear(&c);
    } else if (p->n == p->limit) {
        /* One more match exists, so the next page is not empty. */
        store_content_clear(&c);
        p->more = 1;
        rc = STORE_SCAN_STOP;
    } else {
        p->items[p->n++] = c;
        sw_buf_reset(&p->last);
        rc = sw_buf_add(&p->last, k, kl);
    }
out:
    sw_free(id);
    return rc;
}

static SW_MUST_CHECK sw_err store_mail_page_view(store_txn *t, void *arg)
{
    struct store_mail_page *p = arg;
    struct sw_buf prefix;
    size_t i;
    sw_err rc;

    p->t = t;
    for (i = 0; i < p->n; i++)
        store_content_clear(&p->items[i]);
    p->n = 0;
    p->more = 0;
    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    rc = store_key(&prefix, p->team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_CONTENT_RECENT, sw_buf_str(&prefix),
                        sw_buf_len(&prefix),
                        sw_buf_len(&p->after) ? sw_buf_str(&p->after) : NULL,
                        sw_buf_len(&p->after), store_mail_page_cb, p);
    sw_buf_free(&prefix);
    return rc;
}

static int store_mail_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* store_mail_page_size checks page_size and writes the page's length. */
static SW_MUST_CHECK sw_err store_mail_page_size(int page_size, size_t *limit,
                                                 struct sw_buf *why)
{
    if (page_size < 0 || page_size > STORE_MAIL_PAGE_MAX)
        return store__why(why, store_mail_why_page);
    *limit = page_size ? (size_t)page_size : STORE_MAIL_PAGE_DEFAULT;
    return SW_OK;
}

/* store_mail_unhex decodes a page token (lowercase hex) into out, which
 * must then be longer than min bytes and hold prefix at offset at. */
static SW_MUST_CHECK sw_err store_mail_unhex(const char *token, size_t min,
                                             size_t at,
                                             const struct sw_buf *prefix,
                                             struct sw_buf *out,
                                             struct sw_buf *why)
{
    size_t i, tl = strlen(token);
    sw_err rc;

    if (tl % 2 || tl > 2 * 511)
        return store__why(why, store_mail_why_token);
    for (i = 0; i < tl; i += 2) {
        int hi = store_mail_hexval(token[i]);
        int lo = store_mail_hexval(token[i + 1]);
        if (hi < 0 || lo < 0)
            return store__why(why, store_mail_why_token);
        rc = sw_buf_addc(out, (char)(hi << 4 | lo));
        if (rc)
            return rc;
    }
    if (sw_buf_len(out) <= min ||
        memcmp(sw_buf_str(out) + at, sw_buf_str(prefix), sw_buf_len(prefix)))
        return store__why(why, store_mail_why_token);
    return SW_OK;
}

/* store_mail_tok returns the hex of n bytes at p (NULL: out of memory). */
static char *store_mail_tok(const void *p, size_t n)
{
    char *tok = sw_malloc(2 * n + 1);

    if (tok)
        sw_hex(p, n, tok);
    return tok;
}

sw_err store_content_list(store *s, const char *team_id, const int *kinds,
                          size_t nkinds, int page_size, const char *page_token,
                          struct store_content **items, size_t *n,
                          char **next_token, struct sw_buf *why)
{
    struct store_mail_page p;
    struct sw_buf prefix;
    char *tok = NULL;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&p.after, STORE_KEYBUF_MAX);
    sw_buf_init(&p.last, STORE_KEYBUF_MAX);
    sw_buf_init(&p.k, STORE_KEYBUF_MAX);
    p.team_id = team_id;
    p.kinds = kinds;
    p.nkinds = nkinds;
    if (s == NULL || team_id == NULL || !team_id[0] || items == NULL ||
        n == NULL || next_token == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_mail_page_size(page_size, &p.limit, why);
    if (rc == SW_OK)
        rc = store_key(&prefix, team_id, NULL, 0);
    if (rc)
        goto out;
    p.prefix_len = sw_buf_len(&prefix);
    /* The token is the hex of the last index key of the previous page. */
    if (page_token && page_token[0])
        rc = store_mail_unhex(page_token, p.prefix_len + 8, 0, &prefix,
                              &p.after, why);
    if (rc)
        goto out;
    p.items = sw_calloc(p.limit, sizeof(*p.items));
    if (p.items == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = store_view(s, store_mail_page_view, &p);
    if (rc == SW_OK && p.more &&
        (tok = store_mail_tok(sw_buf_str(&p.last), sw_buf_len(&p.last))) ==
            NULL)
        rc = SW_ENOMEM;
    if (rc)
        goto out;
    *items = p.items;
    *n = p.n;
    *next_token = tok;
    p.items = NULL;
    p.n = 0;
out:
    store_contents_free(p.items, p.n);
    sw_buf_free(&prefix);
    sw_buf_free(&p.after);
    sw_buf_free(&p.last);
    sw_buf_free(&p.k);
    return rc;
}

/* --- Threads ---------------------------------------------------------------
 *
 * Threads are listed most recently active first, as they stood at the
 * snapshot: the team's "email" sequence when the first page was read. A
 * token holds that snapshot (8 bytes) and the THREAD_RECENT key the last
 * thread listed had then. A thread that gets mail while a client pages
 * moves ahead in THREAD_RECENT, perhaps past the cursor; it keeps its place
 * of the snapshot here, so it is listed once, neither skipped nor repeated.
 * Threads are read as they are now (only the order and the filters follow
 * the snapshot); threads begun after the snapshot are left to a new
 * listing.
 *
 * A later page walks the index after the cursor (the tail), where every
 * thread's place then is at or after its place now, and, when mail came
 * since the snapshot, the index up to the cursor (the head) for the threads
 * that moved there. A thread changed since the snapshot when its last email
 * (the last to arrive) is newer; then its place is worked out from its
 * emails up to the snapshot. */

/* One thread that may be on the page, at its place at the snapshot. */
struct store_thread_cand {
    struct store_thread th;
    char *key; /* THREAD_RECENT key then */
    size_t klen;
    int final; /* no thread not yet met can come before it */
};

struct store_thread_page {
    store_txn *t;
    const char *team_id;
    const struct store_thread_filter *tf;
    size_t limit;
    uint64_t snap;     /* the snapshot: the team's email sequence */
    uint64_t now;      /* the same, now */
    const char *after; /* the cursor, a key at the snapshot; alen 0: none */
    size_t alen;
    struct store_thread_cand *c;
    size_t n, cap, nfinal;
    uint64_t changed; /* threads met that changed since the snapshot */
    struct sw_buf prefix;
    struct sw_buf k;
    struct sw_buf *why;
};

/* A thread as it stood at the snapshot. */
struct store_thread_then {
    int existed;     /* it had an email then */
    int changed;     /* it has had one since */
    int rep_ok;      /* the filter's rep had taken part by then */
    int64_t last_ms; /* its last activity then */
};

static int store_thread_keycmp(const void *a, size_t al, const void *b,
                               size_t bl)
{
    int d = memcmp(a, b, al < bl ? al : bl);

    if (d)
        return d;
    return al < bl ? -1 : al > bl;
}

static int store_thread_cand_cmp(const void *a, const void *b)
{
    const struct store_thread_cand *x = a, *y = b;

    return store_thread_keycmp(x->key, x->klen, y->key, y->klen);
}

static int store_thread_has_rep(const struct store_thread *th, const char *rep)
{
    size_t i;

    for (i = 0; rep && rep[0] && i < th->n_rep_emails; i++)
        if (strcasecmp(th->rep_emails[i], rep) == 0)
            return 1;
    return 0;
}

static int store_thread_match(const struct store_thread_filter *f,
                              const struct store_thread_then *w)
{
    if (f == NULL)
        return 1;
    if (f->last_from_ms && w->last_ms < f->last_from_ms)
        return 0;
    if (f->last_to_ms && w->last_ms >= f->last_to_ms)
        return 0;
    return !(f->rep_email && f->rep_email[0]) || w->rep_ok;
}

/* store_thread_replay works out w for a thread that changed since snap
 * from its emails up to snap (all are read: threads that were merged do
 * not keep their emails in sequence order). */
static SW_MUST_CHECK sw_err store_thread_replay(store_txn *t,
                                                const struct store_thread *th,
                                                uint64_t snap, const char *rep,
                                                struct store_thread_then *w)
{
    struct store_email em;
    uint64_t seq;
    size_t i;
    sw_err rc;

    w->changed = 1;
    w->existed = w->rep_ok = 0;
    w->last_ms = INT64_MIN;
    for (i = 0; i < th->n_emails; i++) {
        memset(&em, 0, sizeof(em));
        rc = store_email_get_txn(t, th->team_id, th->email_ids[i], &em);
        if (rc == SW_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        seq = em.seq;
        if (seq <= snap) {
            int64_t eff = em.sent_ms > 0 ? em.sent_ms : em.ingest_ms;
            w->existed = 1;
            if (eff > w->last_ms)
                w->last_ms = eff;
            if (rep && rep[0] && strcasecmp(em.rep_email, rep) == 0)
                w->rep_ok = 1;
        }
        store_email_clear(&em);
    }
    return SW_OK;
}

/* store_thread_asof writes to w how th stood at the page's snapshot. */
static SW_MUST_CHECK sw_err store_thread_asof(struct store_thread_page *p,
                                              const struct store_thread *th,
                                              struct store_thread_then *w)
{
    const char *rep = p->tf ? p->tf->rep_email : NULL;
    struct store_email em;
    uint64_t seq;
    sw_err rc;

    w->existed = 1;
    w->changed = 0;
    w->rep_ok = store_thread_has_rep(th, rep);
    w->last_ms = th->last_ms;
    if (p->now == p->snap || th->n_emails == 0)
        return SW_OK; /* no mail since the snapshot */
    memset(&em, 0, sizeof(em));
    rc = store_email_get_txn(p->t, th->team_id, th->email_ids[th->n_emails - 1],
                             &em);
    if (rc && rc != SW_ENOTFOUND)
        return rc;
    seq = rc == SW_OK ? em.seq : UINT64_MAX;
    store_email_clear(&em);
    if (seq <= p->snap)
        return SW_OK;
    return store_thread_replay(p->t, th, p->snap, rep, w);
}

/* store_thread_cand_add moves *th into the candidates at key p->k. */
static SW_MUST_CHECK sw_err store_thread_cand_add(struct store_thread_page *p,
                                                  struct store_thread *th)
{
    struct store_thread_cand *c;

    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : p->limit + 1;
        c = sw_realloc(p->c, cap * sizeof(*c));
        if (c == NULL)
            return SW_ENOMEM;
        p->c = c;
        p->cap = cap;
    }
    c = &p->c[p->n];
    c->key = sw_memdup(sw_buf_str(&p->k), sw_buf_len(&p->k));
    if (c->key == NULL)
        return SW_ENOMEM;
    c->klen = sw_buf_len(&p->k);
    c->final = 0;
    c->th = *th;
    memset(th, 0, sizeof(*th));
    p->n++;
    return SW_OK;
}

/* store_thread_consider reads the thread of index key k and adds it as a
 * candidate if it existed at the snapshot, matched the filters then and,
 * in the head (at or before the cursor), moved there since from a place
 * after the cursor. */
static SW_MUST_CHECK sw_err store_thread_consider(struct store_thread_page *p,
                                                  const void *k, size_t kl,
                                                  int head)
{
    size_t pl = sw_buf_len(&p->prefix);
    struct store_thread_then w;
    struct store_thread th;
    char *id;
    sw_err rc;

    if (kl <= pl + 8)
        return SW_ECORRUPT;
    id = sw_strndup((const char *)k + pl + 8, kl - pl - 8);
    if (id == NULL)
        return SW_ENOMEM;
    memset(&th, 0, sizeof(th));
    rc = store_thread_get_txn(p->t, p->team_id, id, &th);
    sw_free(id);
    if (rc == SW_OK)
        rc = store_thread_asof(p, &th, &w);
    if (rc == SW_OK && w.changed)
        p->changed++;
    if (rc == SW_OK && w.existed && (w.changed || !head) &&
        store_thread_match(p->tf, &w)) {
        rc = store_mail__recent_key(&p->k, p->team_id, w.last_ms, th.thread_id);
        if (rc == SW_OK &&
            (!head || store_thread_keycmp(sw_buf_str(&p->k), sw_buf_len(&p->k),
                                          p->after, p->alen) > 0))
            rc = store_thread_cand_add(p, &th);
    }
    store_thread_clear(&th);
    return rc;
}

static SW_MUST_CHECK sw_err store_thread_tail_cb(const void *k, size_t kl,
                                                 const void *v, size_t vl,
                                                 void *arg)
{
    struct store_thread_page *p = arg;
    size_t i;
    sw_err rc;

    (void)v;
    (void)vl;
    rc = store_thread_consider(p, k, kl, 0);
    /* Every thread met later has its place then after k. */
    for (i = 0; rc == SW_OK && p->nfinal < p->n && i < p->n; i++)
        if (!p->c[i].final &&
            store_thread_keycmp(p->c[i].key, p->c[i].klen, k, kl) <= 0) {
            p->c[i].final = 1;
            p->nfinal++;
        }
    if (rc == SW_OK && p->nfinal > p->limit)
        return STORE_SCAN_STOP; /* the page and one more are certain */
    return rc;
}

static SW_MUST_CHECK sw_err store_thread_head_cb(const void *k, size_t kl,
                                                 const void *v, size_t vl,
                                                 void *arg)
{
    struct store_thread_page *p = arg;
    sw_err rc;

    (void)v;
    (void)vl;
    if (store_thread_keycmp(k, kl, p->after, p->alen) > 0)
        return STORE_SCAN_STOP;
    rc = store_thread_consider(p, k, kl, 1);
    /* Each email since the snapshot changed one thread at most. */
    if (rc == SW_OK && p->changed >= p->now - p->snap)
        return STORE_SCAN_STOP;
    return rc;
}

static void store_thread_cands_clear(struct store_thread_page *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        store_thread_clear(&p->c[i].th);
        sw_free(p->c[i].key);
    }
    p->n = p->nfinal = 0;
}

static SW_MUST_CHECK sw_err store_thread_page_view(store_txn *t, void *arg)
{
    struct store_thread_page *p = arg;
    sw_err rc;

    p->t = t;
    store_thread_cands_clear(p); /* a rerun starts the page afresh */
    p->changed = 0;
    rc = store_seq_peek(t, p->team_id, "email", &p->now);
    if (rc)
        return rc;
    if (p->alen == 0)
        p->snap = p->now;
    else if (p->snap > p->now) /* e.g. made before a restore */
        return store__why(p->why, store_mail_why_token);
    rc = store_scan(t, STORE_DB_THREAD_RECENT, sw_buf_str(&p->prefix),
                    sw_buf_len(&p->prefix), p->alen ? p->after : NULL, p->alen,
                    store_thread_tail_cb, p);
    if (rc == SW_OK && p->alen && p->changed < p->now - p->snap)
        rc = store_scan(t, STORE_DB_THREAD_RECENT, sw_buf_str(&p->prefix),
                        sw_buf_len(&p->prefix), NULL, 0, store_thread_head_cb,
                        p);
    return rc;
}

/* store_thread_page_take sorts the candidates by their place then and moves
 * the page's threads to *items, and the next token to *next. */
static SW_MUST_CHECK sw_err store_thread_page_take(struct store_thread_page *p,
                                                   struct store_thread **items,
                                                   size_t *n, char **next)
{
    size_t i, m = p->n < p->limit ? p->n : p->limit;
    struct store_thread *out = sw_calloc(m ? m : 1, sizeof(*out));
    struct sw_buf tok;
    sw_err rc = SW_OK;

    if (out == NULL)
        return SW_ENOMEM;
    if (p->n > 1) /* p->c is NULL when nothing matched */
        qsort(p->c, p->n, sizeof(*p->c), store_thread_cand_cmp);
    *next = NULL;
    if (p->n > m) {
        sw_buf_init(&tok, STORE_KEYBUF_MAX + 8);
        rc = store_key_add_u64(&tok, p->snap);
        if (rc == SW_OK)
            rc = sw_buf_add(&tok, p->c[m - 1].key, p->c[m - 1].klen);
        if (rc == SW_OK && (*next = store_mail_tok(sw_buf_str(&tok),
                                                   sw_buf_len(&tok))) == NULL)
            rc = SW_ENOMEM;
        sw_buf_free(&tok);
    }
    if (rc) {
        sw_free(out);
        return rc;
    }
    for (i = 0; i < m; i++) {
        out[i] = p->c[i].th;
        memset(&p->c[i].th, 0, sizeof(p->c[i].th));
    }
    *items = out;
    *n = m;
    return SW_OK;
}

sw_err store_thread_list(store *s, const char *team_id,
                         const struct store_thread_filter *f, int page_size,
                         const char *page_token, struct store_thread **items,
                         size_t *n, char **next_token, struct sw_buf *why)
{
    struct store_thread_page p;
    struct sw_buf tok;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    sw_buf_init(&p.prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&p.k, STORE_KEYBUF_MAX);
    sw_buf_init(&tok, STORE_KEYBUF_MAX + 8);
    p.team_id = team_id;
    p.tf = f;
    p.why = why;
    if (s == NULL || team_id == NULL || !team_id[0] || items == NULL ||
        n == NULL || next_token == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    rc = store_mail_page_size(page_size, &p.limit, why);
    if (rc == SW_OK)
        rc = store_key(&p.prefix, team_id, NULL, 0);
    /* The token: the snapshot (8 bytes) and the cursor, a key then. */
    if (rc == SW_OK && page_token && page_token[0]) {
        rc = store_mail_unhex(page_token, 8 + sw_buf_len(&p.prefix) + 8, 8,
                              &p.prefix, &tok, why);
        if (rc == SW_OK) {
            p.snap = store_u64_get(sw_buf_str(&tok));
            p.after = sw_buf_str(&tok) + 8;
            p.alen = sw_buf_len(&tok) - 8;
        }
    }
    if (rc == SW_OK)
        rc = store_view(s, store_thread_page_view, &p);
    if (rc == SW_OK)
        rc = store_thread_page_take(&p, items, n, next_token);
out:
    store_thread_cands_clear(&p);
    sw_free(p.c);
    sw_buf_free(&p.prefix);
    sw_buf_free(&p.k);
    sw_buf_free(&tok);
    return rc;
}
