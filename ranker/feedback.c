/* feedback: the running tally of a team's feedback feed and its roll-up
 * to the statistics' items (see feedback.h). */
#include "ranker/feedback.h"

#include <assert.h>
#include <string.h>

#include "base/sw_mem.h"
#include "store/store_feedback.h"

const char *rank_fb_kind_name(int kind)
{
    switch (kind) {
#define RANK_FB_NAME(name, num, text)                                          \
    case num:                                                                  \
        return text;
        RANK_FB_KIND_LIST(RANK_FB_NAME)
#undef RANK_FB_NAME
    default:
        return "";
    }
}

/* rank_fb_rep_hash hashes a rep's email without case; 0 for none (the
 * team's entry). */
static uint64_t rank_fb_rep_hash(const char *rep)
{
    char low[512];
    size_t n, i;

    if (rep == NULL || rep[0] == '\0')
        return 0;
    n = strlen(rep);
    if (n >= sizeof(low)) /* longer than any address snipd accepts */
        return rank__hash64(rep, n, 0xfb);
    for (i = 0; i < n; i++)
        low[i] = rep[i] >= 'A' && rep[i] <= 'Z' ? (char)(rep[i] + 32) : rep[i];
    return rank__hash64(low, n, 0xfb);
}

/* rank_fb_key: the key of (kind, id) for a rep (hash; 0: the team). Two
 * distinct keys hashing alike (odds 2^-64) would share an entry. */
static uint64_t rank_fb_key(int kind, const char *id, uint64_t rep)
{
    uint64_t h = rank__hash64(id, strlen(id), (uint64_t)(unsigned char)kind);

    return rep ? rank__hash64(&rep, sizeof(rep), h) : h;
}

/* rank_fb_add_time keeps t among e's newest insert times (newest
 * first). */
static void rank_fb_add_time(struct rank_fb_entry *e, int64_t t)
{
    uint32_t i;

    if (e->nins == RANK_FB_TIMES && t <= e->ins_ms[RANK_FB_TIMES - 1])
        return;
    i = e->nins < RANK_FB_TIMES ? e->nins++ : RANK_FB_TIMES - 1;
    for (; i > 0 && e->ins_ms[i - 1] < t; i--)
        e->ins_ms[i] = e->ins_ms[i - 1];
    e->ins_ms[i] = t;
}

/* rank_fb_merge adds src's counts and insert times to dst. */
static void rank_fb_merge(struct rank_fb_entry *dst,
                          const struct rank_fb_entry *src)
{
    uint32_t i;
    int k;

    for (k = 1; k < RANK_FB_KINDS; k++)
        dst->c.n[k] += src->c.n[k];
    for (i = 0; i < src->nins; i++)
        rank_fb_add_time(dst, src->ins_ms[i]);
}

/* --- The running tally --------------------------------------------------- */

struct rank_fbraw_ent {
    char *target; /* the content or snippet id */
    int tkind;    /* 'c' or 'f' (store_feedback.target_kind) */
    uint64_t rep; /* rank_fb_rep_hash; 0: the team's entry */
    struct rank_fb_entry e;
};

struct rank_fbraw {
    uint64_t seq;
    int64_t now_ms;
    struct rank__map by_key; /* rank_fb_key(tkind, target, rep) → index */
    struct rank_fbraw_ent *ents;
    size_t n, cap;
};

sw_err rank_fbraw_new(rank_fbraw **out)
{
    *out = sw_calloc(1, sizeof(**out));
    return *out ? SW_OK : SW_ENOMEM;
}

static void rank_fbraw_empty(rank_fbraw *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        sw_free(r->ents[i].target);
    sw_free(r->ents);
    rank__map_free(&r->by_key);
    memset(r, 0, sizeof(*r));
}

void rank_fbraw_free(rank_fbraw **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    rank_fbraw_empty(*rp);
    sw_free(*rp);
    *rp = NULL;
}

uint64_t rank_fbraw_seq(const rank_fbraw *r)
{
    return r->seq;
}

/* rank_fbraw_entry finds or makes the entry of (tkind, target, rep). */
static sw_err rank_fbraw_entry(rank_fbraw *r, int tkind, const char *target,
                               uint64_t rep, struct rank_fb_entry **out)
{
    uint64_t key = rank_fb_key(tkind, target, rep), v;
    struct rank_fbraw_ent *en;

    if (rank__map_get(&r->by_key, key, &v)) {
        *out = &r->ents[v].e;
        return SW_OK;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        void *p = sw_realloc(r->ents, nc * sizeof(*r->ents));
        if (p == NULL)
            return SW_ENOMEM;
        r->ents = p;
        r->cap = nc;
    }
    en = &r->ents[r->n];
    memset(en, 0, sizeof(*en));
    en->target = sw_strdup(target);
    if (en->target == NULL)
        return SW_ENOMEM;
    if (rank__map_put(&r->by_key, key, r->n) != SW_OK) {
        sw_free(en->target);
        return SW_ENOMEM;
    }
    en->tkind = tkind;
    en->rep = rep;
    r->n++;
    *out = &en->e;
    return SW_OK;
}

/* rank_fbraw_count adds one record to the team's entry of its target and
 * to its rep's. */
static sw_err rank_fbraw_count(rank_fbraw *r, const struct store_feedback *f)
{
    uint64_t reps[2] = {0, rank_fb_rep_hash(f->rep_email)};
    int64_t when = f->time_ms ? f->time_ms : f->record_ms;
    size_t i;

    /* store_feedback_put refuses anything else; a record out of range
     * (written by a later version) counts for nothing rather than stop the
     * team's ranking. */
    if (f->kind < 1 || f->kind >= RANK_FB_KINDS ||
        (f->target_kind != 'c' && f->target_kind != 'f') ||
        f->target_id[0] == '\0')
        return SW_OK;
    for (i = 0; i < (reps[1] ? 2u : 1u); i++) {
        struct rank_fb_entry *e;
        sw_err rc =
            rank_fbraw_entry(r, f->target_kind, f->target_id, reps[i], &e);
        if (rc)
            return rc;
        e->c.n[f->kind]++;
        if (f->kind == RANK_FB_INSERTED || f->kind == RANK_FB_COPIED)
            rank_fb_add_time(e, when);
    }
    if (when > r->now_ms)
        r->now_ms = when;
    return SW_OK;
}

struct rank_fbraw_scan {
    rank_fbraw *r;
    uint64_t from;   /* the seq already counted */
    uint64_t newest; /* the newest seq read */
};

static sw_err rank_fbraw_one(const struct store_feedback *f, void *arg)
{
    struct rank_fbraw_scan *s = arg;

    /* The feed runs newest first: the first record already counted ends
     * what is new. */
    if (f->seq <= s->from)
        return STORE_SCAN_STOP;
    if (f->seq > s->newest)
        s->newest = f->seq;
    return rank_fbraw_count(s->r, f);
}

sw_err rank_fbraw_catch_up(rank_fbraw *r, store_txn *t, const char *team_id)
{
    struct rank_fbraw_scan s = {r, r->seq, r->seq};
    sw_err rc;

    if (team_id == NULL || team_id[0] == '\0')
        return SW_EINVAL;
    rc = store_feedback_scan(t, team_id, rank_fbraw_one, &s);
    if (rc) {
        rank_fbraw_empty(r);
        return rc;
    }
    assert(s.newest >= r->seq);
    r->seq = s.newest;
    return SW_OK;
}

/* --- The tally by item --------------------------------------------------- */

void rank_fb_free(struct rank_fb **fp)
{
    if (fp == NULL || *fp == NULL)
        return;
    sw_free((*fp)->entries);
    rank__map_free(&(*fp)->by_key);
    sw_free(*fp);
    *fp = NULL;
}

/* rank_fb_item: the item h counts raw entry en under, or NULL. */
static const struct rank_hitem *rank_fb_item(const struct rank_hist *h,
                                             const struct rank_fbraw_ent *en)
{
    long i;

    if (h == NULL)
        return NULL;
    if (en->tkind == 'c') {
        i = rank_hist_item(h, en->target);
        return i >= 0 && h->items[i].kind == 'c' ? &h->items[i] : NULL;
    }
    i = rank_hist_snippet(h, en->target);
    if (i < 0 || h->snips[i].item == UINT32_MAX)
        return NULL;
    return &h->items[h->snips[i].item];
}

sw_err rank_fb_build(const rank_fbraw *r, const struct rank_hist *h,
                     struct rank_fb **out)
{
    struct rank_fb *f;
    size_t i;

    *out = NULL;
    f = sw_calloc(1, sizeof(*f));
    if (f == NULL)
        return SW_ENOMEM;
    f->entries = sw_calloc(r->n + 1, sizeof(*f->entries));
    if (f->entries == NULL) {
        sw_free(f);
        return SW_ENOMEM;
    }
    f->seq = r->seq;
    f->now_ms = r->now_ms;
    for (i = 0; i < r->n; i++) {
        const struct rank_fbraw_ent *en = &r->ents[i];
        const struct rank_hitem *it = rank_fb_item(h, en);
        uint64_t key = it ? rank_fb_key(it->kind, it->id, en->rep)
                          : rank_fb_key(en->tkind, en->target, en->rep);
        uint64_t v;
        if (!rank__map_get(&f->by_key, key, &v)) {
            v = f->n++;
            assert(v < r->n);
            if (rank__map_put(&f->by_key, key, v) != SW_OK) {
                rank_fb_free(&f);
                return SW_ENOMEM;
            }
        }
        rank_fb_merge(&f->entries[v], &en->e);
    }
    *out = f;
    return SW_OK;
}

const struct rank_fb_entry *rank_fb_get(const struct rank_fb *f,
                                        const struct rank_hitem *it,
                                        const char *rep)
{
    uint64_t v;

    if (f == NULL || it == NULL || it->id == NULL)
        return NULL;
    if (!rank__map_get(&f->by_key,
                       rank_fb_key(it->kind, it->id, rank_fb_rep_hash(rep)),
                       &v))
        return NULL;
    return &f->entries[v];
}

int64_t rank_fb_pending(const struct rank_fb_entry *e, int64_t last_use_ms,
                        int64_t since_ms)
{
    int64_t n = 0;
    uint32_t i;

    if (e == NULL)
        return 0;
    for (i = 0; i < e->nins; i++) {
        if (e->ins_ms[i] <= last_use_ms || e->ins_ms[i] <= since_ms)
            break; /* newest first: the rest are older */
        n++;
    }
    return n;
}
