/* verdict: dismissals and thumbs tied to the thread of the rep's next
 * outbound email (verdict.h), for the query adapter's training. */
#include "ranker/verdict.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ranker/feedback.h"
#include "ranker/rank_int.h"
#include "store/store_feedback.h"
#include "store/store_hist.h"
#include "store/store_mail.h"

/* An outbound email as the linking needs it: its rep, time and thread. */
struct rank_vmail {
    uint64_t rep; /* rank_verdict_rep of its rep's address */
    int64_t ms;
    char *thread_id;
};

struct rank_vread {
    struct rank_vmail *m;
    size_t nm, capm;
    struct rank_verdicts *out;
    size_t capv;
};

/* rank_verdict_rep hashes an address without regard to case (a rep key's
 * feedback carries the key's rep in any case). */
static uint64_t rank_verdict_rep(const char *s)
{
    char low[320];
    size_t n = 0;

    for (; s[n] && n < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)s[n]);
    return rank__hash64(low, n, 0x7e9d);
}

static sw_err rank_verdict_mail(const struct store_email *e, void *arg)
{
    struct rank_vread *r = arg;
    struct rank_vmail *m;

    if (e->direction != STORE_DIR_OUTBOUND || !e->rep_email ||
        !e->rep_email[0] || !e->thread_id || !e->thread_id[0])
        return SW_OK;
    if (r->nm == r->capm) {
        size_t cap = r->capm ? 2 * r->capm : 256;
        m = sw_realloc(r->m, cap * sizeof(*m));
        if (m == NULL)
            return SW_ENOMEM;
        r->m = m;
        r->capm = cap;
    }
    m = &r->m[r->nm];
    m->thread_id = sw_strdup(e->thread_id);
    if (m->thread_id == NULL)
        return SW_ENOMEM;
    m->rep = rank_verdict_rep(e->rep_email);
    m->ms = e->sent_ms;
    r->nm++;
    return SW_OK;
}

static int rank_vmail_cmp(const void *x, const void *y)
{
    const struct rank_vmail *a = x, *b = y;
    int c;

    if (a->rep != b->rep)
        return a->rep < b->rep ? -1 : 1;
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    c = strcmp(a->thread_id, b->thread_id);
    return c;
}

/* rank_verdict_fb ties one feedback record to its thread (verdict.h). */
static sw_err rank_verdict_fb(const struct store_feedback *f, void *arg)
{
    struct rank_vread *r = arg;
    struct rank_verdicts *o = r->out;
    struct rank_verdict *v;
    uint64_t rep;
    int64_t ms = f->time_ms ? f->time_ms : f->record_ms;
    size_t lo = 0, hi = r->nm;

    if (f->kind != RANK_FB_DISMISSED && f->kind != RANK_FB_THUMBS_DOWN &&
        f->kind != RANK_FB_THUMBS_UP)
        return SW_OK;
    if ((f->target_kind != 'c' && f->target_kind != 'f') || !f->target_id[0])
        return SW_OK;
    rep = rank_verdict_rep(f->rep_email);
    /* The first email of rep at or after ms. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct rank_vmail *m = &r->m[mid];
        if (m->rep < rep || (m->rep == rep && m->ms < ms))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->nm || r->m[lo].rep != rep ||
        r->m[lo].ms - ms > RANK_VERDICT_WINDOW_MS)
        return SW_OK;
    if (o->n == r->capv) {
        size_t cap = r->capv ? 2 * r->capv : 64;
        v = sw_realloc(o->v, cap * sizeof(*v));
        if (v == NULL)
            return SW_ENOMEM;
        o->v = v;
        r->capv = cap;
    }
    v = &o->v[o->n];
    memset(v, 0, sizeof(*v));
    v->thread_id = sw_strdup(r->m[lo].thread_id);
    v->target_id = sw_strdup(f->target_id);
    if (!v->thread_id || !v->target_id) {
        sw_free(v->thread_id);
        sw_free(v->target_id);
        return SW_ENOMEM;
    }
    v->target_kind = f->target_kind;
    v->kind = f->kind;
    v->ms = ms;
    o->n++;
    return SW_OK;
}

/* The feed is read newest first; verdicts are kept oldest first, and a
 * stable order of equal times keeps the feed's. */
static void rank_verdicts_reverse(struct rank_verdicts *v)
{
    size_t i;

    for (i = 0; i < v->n / 2; i++) {
        struct rank_verdict x = v->v[i];
        v->v[i] = v->v[v->n - 1 - i];
        v->v[v->n - 1 - i] = x;
    }
}

sw_err rank_verdicts_read(store_txn *t, const char *team_id,
                          struct rank_verdicts **out)
{
    struct rank_vread r;
    size_t i;
    sw_err rc;

    if (t == NULL || team_id == NULL || out == NULL)
        return SW_EINVAL;
    memset(&r, 0, sizeof(r));
    r.out = sw_calloc(1, sizeof(*r.out));
    if (r.out == NULL)
        return SW_ENOMEM;
    rc = store_hist_emails(t, team_id, rank_verdict_mail, &r);
    if (rc)
        goto out;
    if (r.nm)
        qsort(r.m, r.nm, sizeof(*r.m), rank_vmail_cmp);
    rc = store_feedback_scan(t, team_id, rank_verdict_fb, &r);
    if (rc)
        goto out;
    rank_verdicts_reverse(r.out);
    *out = r.out;
    r.out = NULL;
out:
    for (i = 0; i < r.nm; i++)
        sw_free(r.m[i].thread_id);
    sw_free(r.m);
    rank_verdicts_free(&r.out);
    return rc;
}

void rank_verdicts_free(struct rank_verdicts **v)
{
    size_t i;

    if (v == NULL || *v == NULL)
        return;
    for (i = 0; i < (*v)->n; i++) {
        sw_free((*v)->v[i].thread_id);
        sw_free((*v)->v[i].target_id);
    }
    sw_free((*v)->v);
    sw_free(*v);
    *v = NULL;
}
