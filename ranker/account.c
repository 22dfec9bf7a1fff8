/* account: the recipients' accounts as ranking context (hist.h): the key of
 * an address's account, the team's record per account and per (account,
 * item) built with a history (account_int.h), and the lookups Suggest
 * makes in it. */
#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ranker/account_int.h"

#define RANK_ACCT_PER_THREAD 6 /* candidate domains kept per thread */
#define RANK_ACCT_NONE UINT32_MAX

/* Free-mail domains: an address there says nothing of the company. */
static const char *const rank_acct_freemail[] = {
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    NULL,
};

/* Second-level labels under a country code that are not the company's
 * ("acme.co.uk" is the account, not "co.uk"). */
static const char *const rank_acct_sld[] = {
    "co",  "com", "org", "net", "ac", "gov",
    "edu", "ltd", "plc", "ne",  "or", NULL,
};

static int rank_acct_in(const char *const *list, const char *s, size_t n)
{
    size_t i;

    for (i = 0; list[i]; i++)
        if (strlen(list[i]) == n && memcmp(list[i], s, n) == 0)
            return 1;
    return 0;
}

/* rank_acct_domain copies the domain of addr, lowercased, to d (cap
 * bytes); returns its length, 0 when there is none or it is malformed. */
static size_t rank_acct_domain(const char *addr, char *d, size_t cap)
{
    const char *p = addr, *end, *at;
    size_t n = 0;

    if (p == NULL)
        return 0;
    if ((at = strchr(p, '<')) != NULL)
        p = at + 1;
    end = strchr(p, '>');
    if (end == NULL)
        end = p + strlen(p);
    for (at = end; at > p && at[-1] != '@'; at--)
        ;
    if (at > p)
        p = at; /* after the last '@' */
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && (isspace((unsigned char)end[-1]) || end[-1] == '.'))
        end--;
    for (; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!(isalnum(ch) || ch == '-' || ch == '.') || n + 1 >= cap ||
            (ch == '.' && (n == 0 || d[n - 1] == '.')))
            return 0;
        d[n++] = (char)tolower(ch);
    }
    d[n] = '\0';
    return memchr(d, '.', n) ? n : 0;
}

size_t rank_account_key(const char *addr, char *out, size_t cap)
{
    char d[RANK_ACCOUNT_KEY_MAX + 1];
    size_t n, i, dots = 0, start = 0, keep, tld = 0, sld = 0;

    n = rank_acct_domain(addr, d, sizeof(d));
    if (n == 0)
        return 0;
    /* Label boundaries from the right: the TLD, the label before it. */
    for (i = n; i > 0; i--) {
        if (d[i - 1] != '.')
            continue;
        dots++;
        if (dots == 1)
            tld = n - i;
        else if (dots == 2)
            sld = i;
    }
    keep = 2;
    if (dots >= 2 && tld == 2) {
        size_t s0 = sld, s1 = n - tld - 1; /* the second-level label */
        if (rank_acct_in(rank_acct_sld, d + s0, s1 - s0))
            keep = 3;
    }
    /* start: after the (keep)-th dot from the right, or 0. */
    for (i = n, dots = 0; i > 0; i--)
        if (d[i - 1] == '.' && ++dots == keep) {
            start = i;
            break;
        }
    n -= start;
    if (n + 1 > cap || rank_acct_in(rank_acct_freemail, d + start, n))
        return 0;
    memcpy(out, d + start, n);
    out[n] = '\0';
    return n;
}

static uint64_t rank_acct_hash(const char *key, size_t n)
{
    return rank__hash64(key, n, 0xacc7);
}

long rank_account_find(const struct rank_hist *h, const char *key)
{
    uint64_t v;

    if (h->naccounts == 0 ||
        !rank__map_get(&h->by_account, rank_acct_hash(key, strlen(key)), &v))
        return -1;
    return strcmp(h->accounts[v].domain, key) == 0 ? (long)v : -1;
}

int rank_account_own(const struct rank_hist *h, const char *key)
{
    uint64_t v;

    return rank__map_get(&h->own, rank_acct_hash(key, strlen(key)), &v);
}

void rank_account_sum(const struct rank_hist *h, const uint32_t *acc, size_t n,
                      uint32_t item, struct rank_acct_evid *out)
{
    size_t k;

    memset(out, 0, sizeof(*out));
    out->account = RANK_ACCT_NONE;
    out->item = item;
    for (k = 0; k < n && h->acct_lo; k++) {
        long x;
        if (acc[k] >= h->naccounts)
            continue;
        x = rank__acct_ev_index(h, acc[k], item);
        if (x >= 0) {
            const struct rank_acct_evid *e = &h->acct_ev[x];
            out->threads += e->threads;
            out->positives += e->positives;
            out->trials += e->trials;
            out->value += e->value;
        }
    }
}

double rank_account_move(const struct rank_params *p,
                         const struct rank_hitem *it,
                         const struct rank_acct_evid *ev)
{
    double n = (double)ev->trials, k = p->account_strength, all;

    if (!(n > 0) || it->ev.trials <= 0 || !(k >= 0))
        return 0.0;
    /* Against the item's own mean over all its uses, not its shrunk
     * value: an item used only with this account is not moved (its few
     * uses count once, in the outcome term). */
    all = it->ev.value / (double)it->ev.trials;
    return (ev->value / n - all) * n / (n + k);
}

/* --- the build ------------------------------------------------------------ */

struct rank_acct_tcand {
    uint64_t dom[RANK_ACCT_PER_THREAD]; /* candidate domains */
    unsigned char ndom;
};

struct rank_acct_build {
    struct rank_acct_tcand *th; /* by thread index */
    size_t nth;
    struct rank__map by_name; /* hash of a candidate domain → names index */
    const char **names;       /* in the history's arena */
    size_t nnames, cnames;
    struct rank__map own; /* hashes of the team's own domains → 1 */
};

sw_err rank__acct_begin(struct rank_acct_build **out)
{
    *out = sw_calloc(1, sizeof(**out));
    return *out ? SW_OK : SW_ENOMEM;
}

void rank__acct_end(struct rank_acct_build **ab)
{
    if (ab == NULL || *ab == NULL)
        return;
    sw_free((*ab)->th);
    sw_free((void *)(*ab)->names);
    rank__map_free(&(*ab)->by_name);
    rank__map_free(&(*ab)->own);
    sw_free(*ab);
    *ab = NULL;
}

/* rank_acct_own_add notes addr's account as one of the team's own. */
static sw_err rank_acct_own_add(struct rank_acct_build *ab, const char *addr)
{
    char key[RANK_ACCOUNT_KEY_MAX];
    size_t n = rank_account_key(addr, key, sizeof(key));

    return n ? rank__map_put(&ab->own, rank_acct_hash(key, n), 1) : SW_OK;
}

/* rank_acct_cand_add notes addr's account as a candidate of thread th. */
static sw_err rank_acct_cand_add(struct rank_acct_build *ab, struct sw_arena *a,
                                 uint32_t th, const char *addr)
{
    char key[RANK_ACCOUNT_KEY_MAX];
    size_t n = rank_account_key(addr, key, sizeof(key)), i;
    struct rank_acct_tcand *t;
    uint64_t hv, v;

    if (n == 0)
        return SW_OK;
    hv = rank_acct_hash(key, n);
    t = &ab->th[th];
    for (i = 0; i < t->ndom; i++)
        if (t->dom[i] == hv)
            return SW_OK;
    if (t->ndom == RANK_ACCT_PER_THREAD)
        return SW_OK; /* a thread with many companies: the first ones */
    if (!rank__map_get(&ab->by_name, hv, &v)) {
        if (ab->nnames == ab->cnames) {
            size_t nc = ab->cnames ? 2 * ab->cnames : 64;
            const char **p = sw_realloc((void *)ab->names, nc * sizeof(*p));
            if (p == NULL)
                return SW_ENOMEM;
            ab->names = p;
            ab->cnames = nc;
        }
        ab->names[ab->nnames] = sw_arena_strdup(a, key);
        if (ab->names[ab->nnames] == NULL)
            return SW_ENOMEM;
        if (rank__map_put(&ab->by_name, hv, ab->nnames) != SW_OK)
            return SW_ENOMEM;
        ab->nnames++;
    }
    t->dom[t->ndom++] = hv;
    return SW_OK;
}

sw_err rank__acct_email(struct rank_acct_build *ab, struct sw_arena *a,
                        uint32_t thread, const struct store_email *e)
{
    int out = e->direction == STORE_DIR_OUTBOUND;
    size_t i;
    sw_err rc = SW_OK;

    if (thread >= ab->nth) {
        size_t nn = ab->nth ? ab->nth : 64;
        struct rank_acct_tcand *p;
        while (nn <= thread)
            nn *= 2;
        p = sw_realloc(ab->th, nn * sizeof(*p));
        if (p == NULL)
            return SW_ENOMEM;
        memset(p + ab->nth, 0, (nn - ab->nth) * sizeof(*p));
        ab->th = p;
        ab->nth = nn;
    }
    if (out)
        rc = rank_acct_own_add(ab, e->from_email);
    if (rc == SW_OK && e->rep_email && e->rep_email[0])
        rc = rank_acct_own_add(ab, e->rep_email);
    if (rc == SW_OK && !out)
        rc = rank_acct_cand_add(ab, a, thread, e->from_email);
    for (i = 0; rc == SW_OK && i < e->n_to; i++)
        rc = rank_acct_cand_add(ab, a, thread, e->to[i].email);
    for (i = 0; rc == SW_OK && i < e->n_cc; i++)
        rc = rank_acct_cand_add(ab, a, thread, e->cc[i].email);
    return rc;
}

sw_err rank__acct_seed(struct rank_acct_build *ab, const struct rank_hist *base)
{
    size_t i, k;
    sw_err rc;

    assert(ab->nth == 0 && ab->nnames == 0);
    ab->names = sw_calloc(base->naccounts + 1, sizeof(*ab->names));
    ab->th = sw_calloc(base->nthreads + 1, sizeof(*ab->th));
    if (ab->names == NULL || ab->th == NULL)
        return SW_ENOMEM;
    ab->cnames = base->naccounts + 1;
    ab->nth = base->nthreads + 1;
    for (i = 0; i < base->naccounts; i++) {
        const char *d = base->accounts[i].domain;
        ab->names[ab->nnames++] = d;
        rc = rank__map_put(&ab->by_name, rank_acct_hash(d, strlen(d)), i);
        if (rc)
            return rc;
    }
    for (i = 0; i < base->nthreads; i++)
        for (k = base->thr_acc_lo[i]; k < base->thr_acc_lo[i + 1]; k++) {
            const char *d = base->accounts[base->thr_acc[k]].domain;
            assert(ab->th[i].ndom < RANK_ACCT_PER_THREAD);
            ab->th[i].dom[ab->th[i].ndom++] = rank_acct_hash(d, strlen(d));
        }
    return rank__map_copy(&ab->own, &base->own, 8);
}

int rank__acct_known_own(const struct rank_acct_build *ab, const char *addr)
{
    char key[RANK_ACCOUNT_KEY_MAX];
    size_t n = rank_account_key(addr, key, sizeof(key));
    uint64_t v;

    return n == 0 || rank__map_get(&ab->own, rank_acct_hash(key, n), &v);
}

int rank__acct_room(const struct rank_acct_build *ab, uint32_t th,
                    size_t unseen)
{
    size_t n = th < ab->nth ? ab->th[th].ndom : 0;

    return n + unseen < RANK_ACCT_PER_THREAD;
}

size_t rank__acct_nown(const struct rank_acct_build *ab)
{
    return ab->own.n + (size_t)ab->own.has_zero;
}

static int rank_acct_name_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

sw_err rank__acct_resolve(struct rank_acct_build *ab, struct rank_hist *h)
{
    const char **sorted = NULL;
    size_t i, j, n = 0;
    uint64_t v;
    sw_err rc = SW_ENOMEM;

    sorted = sw_calloc(ab->nnames + 1, sizeof(*sorted));
    if (sorted == NULL)
        goto out;
    for (i = 0; i < ab->nnames; i++) {
        const char *s = ab->names[i];
        if (!rank__map_get(&ab->own, rank_acct_hash(s, strlen(s)), &v))
            sorted[n++] = s;
    }
    if (n)
        qsort(sorted, n, sizeof(*sorted), rank_acct_name_cmp);
    h->accounts = sw_calloc(n + 1, sizeof(*h->accounts));
    if (h->accounts == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        h->accounts[i].domain = (char *)sorted[i];
        rc = rank__map_put(&h->by_account,
                           rank_acct_hash(sorted[i], strlen(sorted[i])), i);
        if (rc)
            goto out;
    }
    h->naccounts = n;
    h->thr_acc_lo = sw_calloc(h->nthreads + 1, sizeof(*h->thr_acc_lo));
    h->thr_acc =
        sw_calloc(h->nthreads * RANK_ACCT_PER_THREAD + 1, sizeof(*h->thr_acc));
    if (h->thr_acc_lo == NULL || h->thr_acc == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0, n = 0; i < h->nthreads; i++) {
        h->thr_acc_lo[i] = (uint32_t)n;
        if (i >= ab->nth)
            continue;
        for (j = 0; j < ab->th[i].ndom; j++)
            if (rank__map_get(&h->by_account, ab->th[i].dom[j], &v))
                h->thr_acc[n++] = (uint32_t)v;
    }
    h->thr_acc_lo[h->nthreads] = (uint32_t)n;
    h->own = ab->own; /* moved */
    memset(&ab->own, 0, sizeof(ab->own));
    rc = SW_OK;
out:
    sw_free((void *)sorted);
    return rc;
}

void rank__acct_thread(struct rank_hist *h, uint32_t th)
{
    uint32_t k;

    for (k = h->thr_acc_lo[th]; k < h->thr_acc_lo[th + 1]; k++)
        h->accounts[h->thr_acc[k]].threads++;
}

static int rank_acct_ev_cmp(const void *x, const void *y)
{
    const struct rank_acct_evid *a = x, *b = y;

    if (a->account != b->account)
        return a->account < b->account ? -1 : 1;
    return a->item < b->item ? -1 : a->item > b->item;
}

/* rank_acct_merge folds h->acct_ev's runs of one (account, item) into one
 * record each (the array sorted) and sets h->acct_lo. */
static void rank_acct_merge(struct rank_hist *h)
{
    size_t i, j = 0, a;

    for (i = 0; i < h->nacct_ev; i++) {
        struct rank_acct_evid *e = &h->acct_ev[i];
        if (j > 0 && h->acct_ev[j - 1].account == e->account &&
            h->acct_ev[j - 1].item == e->item) {
            struct rank_acct_evid *d = &h->acct_ev[j - 1];
            d->threads += e->threads;
            d->positives += e->positives;
            d->trials += e->trials;
            d->value += e->value;
        } else {
            h->acct_ev[j++] = *e;
        }
    }
    h->nacct_ev = j;
    for (a = 0, i = 0; a <= h->naccounts; a++) {
        while (i < h->nacct_ev && h->acct_ev[i].account < a)
            i++;
        h->acct_lo[a] = (uint32_t)i;
    }
}

sw_err rank__acct_uses(struct rank_hist *h)
{
    size_t i, n = 0;
    uint32_t k;

    h->acct_lo = sw_calloc(h->naccounts + 1, sizeof(*h->acct_lo));
    if (h->acct_lo == NULL)
        return SW_ENOMEM;
    for (i = 0; i < h->nuses; i++) {
        uint32_t th = h->uses[i].thread;
        n += h->thr_acc_lo[th + 1] - h->thr_acc_lo[th];
    }
    h->acct_ev = sw_calloc(n + 1, sizeof(*h->acct_ev));
    if (h->acct_ev == NULL)
        return SW_ENOMEM;
    for (i = 0; i < h->nuses; i++) {
        const struct rank_use *u = &h->uses[i];
        for (k = h->thr_acc_lo[u->thread]; k < h->thr_acc_lo[u->thread + 1];
             k++) {
            struct rank_acct_evid *e = &h->acct_ev[h->nacct_ev++];
            e->account = h->thr_acc[k];
            e->item = u->item;
            e->threads = 1;
        }
    }
    assert(h->nacct_ev == n);
    if (h->nacct_ev)
        qsort(h->acct_ev, h->nacct_ev, sizeof(*h->acct_ev), rank_acct_ev_cmp);
    rank_acct_merge(h);
    return SW_OK;
}

long rank__acct_ev_index(const struct rank_hist *h, uint32_t a, uint32_t item)
{
    size_t lo = h->acct_lo[a], hi = h->acct_lo[a + 1];

    while (lo < hi) { /* the first record of item or above */
        size_t mid = lo + (hi - lo) / 2;
        if (h->acct_ev[mid].item < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->acct_lo[a + 1] && h->acct_ev[lo].item == item ? (long)lo
                                                                 : -1;
}

void rank__acct_count(struct rank_hist *h, uint32_t th, int sign)
{
    const struct rank_hthread *t = &h->threads[th];
    uint32_t k, i;

    for (k = h->thr_acc_lo[th]; k < h->thr_acc_lo[th + 1]; k++) {
        struct rank_account *ac = &h->accounts[h->thr_acc[k]];
        ac->mature += sign * t->mature;
        ac->positives += sign * (t->mature && t->positive);
        for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++) {
            const struct rank_use *u = &h->uses[i];
            long x = rank__acct_ev_index(h, h->thr_acc[k], u->item);
            struct rank_acct_evid *e;
            assert(x >= 0); /* rank__acct_uses made one per use */
            e = &h->acct_ev[x];
            e->positives += sign * u->positive;
            e->trials += sign * u->mature;
            if (u->mature)
                e->value += sign * u->value;
        }
    }
}
