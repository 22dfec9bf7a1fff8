/* store_mail_list: the paginated lists of store_mail.h (threads by recent
 * activity, content items by recent use), walking the recency indexes and
 * reading each record in the same read transaction. */
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

/* --- Lists
 * ----------------------------------------------------------------------- */

/* A page over a recency index: keys team\0~ms(8)id, whose records live in
 * rec_db under team\0id. */
struct store_mail_page {
    store_txn *t;
    const char *team_id;
    enum store_db rec_db;
    size_t prefix_len;
    size_t limit;
    const struct store_thread_filter *tf;
    const int *kinds;
    size_t nkinds;
    size_t item_size;
    char *items;
    size_t n;
    int more;
    struct sw_buf last;
    struct sw_buf k;
};

static int store_mail_thread_match(const struct store_thread *th,
                                   const struct store_thread_filter *f)
{
    size_t i;

    if (f == NULL)
        return 1;
    if (f->last_from_ms && th->last_ms < f->last_from_ms)
        return 0;
    if (f->last_to_ms && th->last_ms >= f->last_to_ms)
        return 0;
    if (f->rep_email && f->rep_email[0]) {
        for (i = 0; i < th->n_rep_emails; i++)
            if (strcasecmp(th->rep_emails[i], f->rep_email) == 0)
                return 1;
        return 0;
    }
    return 1;
}

static SW_MUST_CHECK sw_err store_mail_page_cb(const void *k, size_t kl,
                                               const void *v, size_t vl,
                                               void *arg)
{
    struct store_mail_page *p = arg;
    const void *rv;
    size_t rvl, i;
    char *id = NULL;
    void *slot;
    int keep = 1;
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
        rc = store_get(p->t, p->rec_db, sw_buf_str(&p->k), sw_buf_len(&p->k),
                       &rv, &rvl);
    if (rc)
        goto out;
    if (p->n == p->limit) {
        /* One more candidate exists; whether it matches the filter is left
         * to the next page, which may then be empty of matches only if
         * every later record is filtered out. Check it here instead. */
        struct store_thread th;
        struct store_content c;
        if (p->rec_db == STORE_DB_THREADS) {
            rc = store_mail__thread_dec(p->team_id, rv, rvl, &th);
            if (rc)
                goto out;
            keep = store_mail_thread_match(&th, p->tf);
            store_thread_clear(&th);
        } else {
            rc = store_mail__content_dec(p->team_id, rv, rvl, 0, &c);
            if (rc)
                goto out;
            keep = p->nkinds == 0;
            for (i = 0; i < p->nkinds; i++)
                keep |= c.kind == p->kinds[i];
            store_content_clear(&c);
        }
        if (keep) {
            p->more = 1;
            rc = STORE_SCAN_STOP;
        }
        goto out;
    }
    slot = p->items + p->n * p->item_size;
    if (p->rec_db == STORE_DB_THREADS) {
        rc = store_mail__thread_dec(p->team_id, rv, rvl, slot);
        if (rc)
            goto out;
        keep = store_mail_thread_match(slot, p->tf);
        if (!keep)
            store_thread_clear(slot);
    } else {
        struct store_content *c = slot;
        rc = store_mail__content_dec(p->team_id, rv, rvl, 0, c);
        if (rc)
            goto out;
        keep = p->nkinds == 0;
        for (i = 0; i < p->nkinds; i++)
            keep |= c->kind == p->kinds[i];
        if (!keep)
            store_content_clear(c);
    }
    if (keep) {
        p->n++;
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
    for (i = 0; i < p->n; i++) {
        if (p->rec_db == STORE_DB_THREADS)
            store_thread_clear((void *)(p->items + i * p->item_size));
        else
            store_content_clear((void *)(p->items + i * p->item_size));
    }
    p->n = 0;
    p->more = 0;
    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    rc = store_key(&prefix, p->team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_scan(t,
                        p->rec_db == STORE_DB_THREADS ? STORE_DB_THREAD_RECENT
                                                      : STORE_DB_CONTENT_RECENT,
                        sw_buf_str(&prefix), sw_buf_len(&prefix),
                        sw_buf_len(&p->k) ? sw_buf_str(&p->k) : NULL,
                        sw_buf_len(&p->k), store_mail_page_cb, p);
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

static SW_MUST_CHECK sw_err store_mail_page_run(
    store *s, struct store_mail_page *p, int page_size, const char *token,
    void **items, size_t *n, char **next, struct sw_buf *why)
{
    struct sw_buf prefix;
    char *tok = NULL;
    size_t i, tl;
    sw_err rc;

    sw_buf_init(&prefix, STORE_KEYBUF_MAX);
    sw_buf_init(&p->last, STORE_KEYBUF_MAX);
    sw_buf_init(&p->k, STORE_KEYBUF_MAX);
    if (s == NULL || p->team_id == NULL || !p->team_id[0] || items == NULL ||
        n == NULL || next == NULL) {
        rc = SW_EINVAL;
        goto out;
    }
    if (page_size < 0 || page_size > STORE_MAIL_PAGE_MAX) {
        rc = store__why(why, store_mail_why_page);
        goto out;
    }
    p->limit = page_size ? (size_t)page_size : STORE_MAIL_PAGE_DEFAULT;
    rc = store_key(&prefix, p->team_id, NULL, 0);
    if (rc)
        goto out;
    p->prefix_len = sw_buf_len(&prefix);
    /* The token is the hex of the last index key of the previous page. */
    tl = token ? strlen(token) : 0;
    if (tl) {
        if (tl % 2 || tl > 2 * 511) {
            rc = store__why(why, store_mail_why_token);
            goto out;
        }
        for (i = 0; i < tl; i += 2) {
            int hi = store_mail_hexval(token[i]);
            int lo = store_mail_hexval(token[i + 1]);
            if (hi < 0 || lo < 0) {
                rc = store__why(why, store_mail_why_token);
                goto out;
            }
            rc = sw_buf_addc(&p->k, (char)(hi << 4 | lo));
            if (rc)
                goto out;
        }
        if (sw_buf_len(&p->k) <= p->prefix_len + 8 ||
            memcmp(sw_buf_str(&p->k), sw_buf_str(&prefix), p->prefix_len)) {
            rc = store__why(why, store_mail_why_token);
            goto out;
        }
    }
    p->items = sw_calloc(p->limit, p->item_size);
    if (p->items == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = store_view(s, store_mail_page_view, p);
    if (rc)
        goto out;
    if (p->more) {
        tok = sw_malloc(2 * sw_buf_len(&p->last) + 1);
        if (tok == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        sw_hex(sw_buf_str(&p->last), sw_buf_len(&p->last), tok);
    }
    *items = p->items;
    *n = p->n;
    *next = tok;
    p->items = NULL;
    p->n = 0;
    tok = NULL;
out:
    sw_free(tok);
    sw_buf_free(&prefix);
    sw_buf_free(&p->last);
    sw_buf_free(&p->k);
    return rc;
}

sw_err store_thread_list(store *s, const char *team_id,
                         const struct store_thread_filter *f, int page_size,
                         const char *page_token, struct store_thread **items,
                         size_t *n, char **next_token, struct sw_buf *why)
{
    struct store_mail_page p;
    void *arr = NULL;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    p.team_id = team_id;
    p.rec_db = STORE_DB_THREADS;
    p.tf = f;
    p.item_size = sizeof(struct store_thread);
    rc = store_mail_page_run(s, &p, page_size, page_token, &arr, n, next_token,
                             why);
    if (rc == SW_OK)
        *items = arr;
    store_threads_free((struct store_thread *)p.items, p.n);
    return rc;
}

sw_err store_content_list(store *s, const char *team_id, const int *kinds,
                          size_t nkinds, int page_size, const char *page_token,
                          struct store_content **items, size_t *n,
                          char **next_token, struct sw_buf *why)
{
    struct store_mail_page p;
    void *arr = NULL;
    sw_err rc;

    memset(&p, 0, sizeof(p));
    p.team_id = team_id;
    p.rec_db = STORE_DB_CONTENTS;
    p.kinds = kinds;
    p.nkinds = nkinds;
    p.item_size = sizeof(struct store_content);
    rc = store_mail_page_run(s, &p, page_size, page_token, &arr, n, next_token,
                             why);
    if (rc == SW_OK)
        *items = arr;
    store_contents_free((struct store_content *)p.items, p.n);
    return rc;
}
