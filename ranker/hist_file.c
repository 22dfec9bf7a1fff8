/* hist_file: a team's statistics saved to a file and loaded back
 * (hist_file.h). The sections are one table (rank_hf_table), read by
 * both directions; the records with strings name them by offset. */
#include "ranker/hist_file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/account_int.h"
#include "ranker/rank_int.h"

#define RANK_HF_MAGIC "SWSTATS"
#define RANK_HF_VERSION 1u
#define RANK_HF_BLOCK ((size_t)1 << 20) /* the checksum's unit */
#define RANK_HF_NONE UINT32_MAX
#define RANK_HF_NULL UINT64_MAX /* a NULL string's offset */

struct rank_hf_head {
    char magic[8];
    uint32_t version;
    uint32_t layout; /* rank_hf_layout */
    char team[RANK_HF_TEAM_MAX + 1];
    uint64_t erase_seq;
    uint64_t seqs[3];
    uint64_t marks[RANK_MARKS];
    int64_t now_ms, cutoff_ms;
    int64_t team_threads, team_mature, n_outcomes, team_pos, use_n;
    double team_rate, team_value, use_sd, team_vsum, use_sum, use_sq;
    uint64_t body_len;
    uint64_t sum; /* rank_hf_sum over the body, block by block */
};

/* A section's header in the body. aux: a map's n, has_zero, zero_val. */
struct rank_hf_sec_head {
    uint64_t count, elsz, aux[3];
};

/* What a section holds: plain values, records with strings, a map. */
enum {
    RANK_HF_POD,
    RANK_HF_SNIPS,
    RANK_HF_ITEMS,
    RANK_HF_THREADS,
    RANK_HF_ACCOUNTS,
    RANK_HF_MAP
};

/* A section: the history's array field (or map), its count and its
 * element size. */
struct rank_hf_sec {
    void **arr;
    size_t *n;
    size_t elsz;
    int kind;
    struct rank__map *map;
};

/* The counts a history does not keep in a field of its own. A save
 * derives them; a load reads them and checks them (rank_hf_counts_ok). */
struct rank_hf_counts {
    size_t use_lo, acct_lo, email_lo, emails, email_items, out_lo, thr_acc_lo,
        thr_acc;
};

#define RANK_HF_NSEC 22

/* rank_hf_derive fills c from h (complete, for a save). */
static void rank_hf_derive(const struct rank_hist *h, struct rank_hf_counts *c)
{
    size_t i;

    c->use_lo = c->email_lo = c->out_lo = c->thr_acc_lo = h->nthreads + 1;
    c->acct_lo = h->naccounts + 1;
    c->emails = h->email_lo[h->nthreads];
    c->thr_acc = h->thr_acc_lo[h->nthreads];
    c->email_items = 0;
    for (i = 0; i < c->emails; i++) {
        size_t e = (size_t)h->emails[i].lo + h->emails[i].nf + h->emails[i].nc;
        if (e > c->email_items)
            c->email_items = e;
    }
}

/* rank_hf_counts_ok: the counts read agree with the history read. */
static int rank_hf_counts_ok(const struct rank_hist *h,
                             const struct rank_hf_counts *c)
{
    size_t t1 = h->nthreads + 1;

    return c->use_lo == t1 && c->email_lo == t1 && c->out_lo == t1 &&
           c->thr_acc_lo == t1 && c->acct_lo == h->naccounts + 1 &&
           h->nby_out <= h->nthreads;
}

/* rank_hf_table lists h's sections in file order, with their counts in
 * h or c. */
static void rank_hf_table(struct rank_hist *h, struct rank_hf_counts *c,
                          struct rank_hf_sec *s)
{
    size_t i = 0;

#define RANK_HF_ARR(field, count, k)                                           \
    s[i].arr = (void **)&h->field;                                             \
    s[i].n = (count);                                                          \
    s[i].elsz = sizeof(*h->field);                                             \
    s[i].kind = (k);                                                           \
    s[i].map = NULL;                                                           \
    i++
#define RANK_HF_MAP_(field)                                                    \
    memset(&s[i], 0, sizeof(s[i]));                                            \
    s[i].kind = RANK_HF_MAP;                                                   \
    s[i].map = &h->field;                                                      \
    s[i].elsz = sizeof(uint64_t);                                              \
    i++

    RANK_HF_ARR(snips, &h->nsnips, RANK_HF_SNIPS);
    RANK_HF_ARR(items, &h->nitems, RANK_HF_ITEMS);
    RANK_HF_ARR(threads, &h->nthreads, RANK_HF_THREADS);
    RANK_HF_ARR(accounts, &h->naccounts, RANK_HF_ACCOUNTS);
    RANK_HF_ARR(uses, &h->nuses, RANK_HF_POD);
    RANK_HF_ARR(use_lo, &c->use_lo, RANK_HF_POD);
    RANK_HF_ARR(acct_ev, &h->nacct_ev, RANK_HF_POD);
    RANK_HF_ARR(acct_lo, &c->acct_lo, RANK_HF_POD);
    RANK_HF_ARR(email_lo, &c->email_lo, RANK_HF_POD);
    RANK_HF_ARR(emails, &c->emails, RANK_HF_POD);
    RANK_HF_ARR(email_items, &c->email_items, RANK_HF_POD);
    RANK_HF_ARR(outs, &h->nouts, RANK_HF_POD);
    RANK_HF_ARR(out_lo, &c->out_lo, RANK_HF_POD);
    RANK_HF_ARR(xouts, &h->nxouts, RANK_HF_POD);
    RANK_HF_ARR(thr_acc_lo, &c->thr_acc_lo, RANK_HF_POD);
    RANK_HF_ARR(thr_acc, &c->thr_acc, RANK_HF_POD);
    RANK_HF_ARR(by_out, &h->nby_out, RANK_HF_POD);
    RANK_HF_MAP_(by_thread);
    RANK_HF_MAP_(by_label);
    RANK_HF_MAP_(by_item);
    RANK_HF_MAP_(by_account);
    RANK_HF_MAP_(own);
#undef RANK_HF_ARR
#undef RANK_HF_MAP_
    (void)sizeof(char[i == RANK_HF_NSEC ? 1 : -1]);
}

/* rank_hf_layout: a signature of everything the format takes from this
 * build: the records' sizes and the kinds' count. */
static uint32_t rank_hf_layout(void)
{
    const size_t sizes[] = {
        sizeof(struct rank_hsnip),
        sizeof(struct rank_hitem),
        sizeof(struct rank_hthread),
        sizeof(struct rank_account),
        sizeof(struct rank_use),
        sizeof(struct rank_acct_evid),
        sizeof(struct rank_hemail),
        sizeof(struct rank_hout),
        sizeof(struct rank_evid),
        sizeof(struct rank_hf_head),
        sizeof(void *),
        RANK_KINDS,
        RANK_HF_NSEC,
    };

    return (uint32_t)rank__hash64(sizes, sizeof(sizes), 0x5f11e);
}

/* rank_hf_strs returns the string fields of record x of kind (their
 * slots in slot[0..n)). */
static size_t rank_hf_strs(int kind, void *x, char ***slot)
{
    switch (kind) {
    case RANK_HF_SNIPS:
        slot[0] = &((struct rank_hsnip *)x)->id;
        slot[1] = &((struct rank_hsnip *)x)->text;
        return 2;
    case RANK_HF_ITEMS:
        slot[0] = &((struct rank_hitem *)x)->id;
        slot[1] = &((struct rank_hitem *)x)->title;
        slot[2] = &((struct rank_hitem *)x)->key;
        return 3;
    case RANK_HF_THREADS:
        slot[0] = &((struct rank_hthread *)x)->id;
        slot[1] = &((struct rank_hthread *)x)->context;
        return 2;
    case RANK_HF_ACCOUNTS:
        slot[0] = &((struct rank_account *)x)->domain;
        return 1;
    default:
        return 0;
    }
}

static uint64_t rank_hf_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* rank_hf_sum folds p[0..n) into the checksum h. */
static uint64_t rank_hf_sum(uint64_t h, const unsigned char *p, size_t n)
{
    const uint64_t k1 = 0x9e3779b185ebca87ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
    uint64_t a = h ^ k1, b = h + k2, c = rank_hf_rotl(h, 23), d = ~h, w[4];
    uint64_t t = 0;
    size_t i = 0;

    for (; i + 32 <= n; i += 32) {
        memcpy(w, p + i, sizeof(w));
        a = rank_hf_rotl(a ^ (w[0] * k2), 31) * k1;
        b = rank_hf_rotl(b ^ (w[1] * k2), 29) * k1;
        c = rank_hf_rotl(c ^ (w[2] * k2), 27) * k1;
        d = rank_hf_rotl(d ^ (w[3] * k2), 25) * k1;
    }
    for (; i < n; i++)
        t = (t ^ p[i]) * 0x100000001b3ULL;
    return sw_fmix64(a ^ rank_hf_rotl(b, 17) ^ rank_hf_rotl(c, 29) ^
                     rank_hf_rotl(d, 41) ^ t ^ (uint64_t)n);
}

/* --- writing ------------------------------------------------------------ */

/* A buffered writer that sums the body block by block as it goes. */
struct rank_hf_w {
    FILE *f;
    unsigned char *buf;
    size_t n;
    uint64_t sum, len;
    int err;
};

static void rank_hf_flush(struct rank_hf_w *w)
{
    if (w->n == 0 || w->err)
        return;
    w->sum = rank_hf_sum(w->sum, w->buf, w->n);
    if (fwrite(w->buf, 1, w->n, w->f) != w->n)
        w->err = errno ? errno : EIO;
    w->len += w->n;
    w->n = 0;
}

static void rank_hf_put(struct rank_hf_w *w, const void *p, size_t n)
{
    const unsigned char *s = p;

    while (n && !w->err) {
        size_t k = RANK_HF_BLOCK - w->n;
        if (k > n)
            k = n;
        memcpy(w->buf + w->n, s, k);
        w->n += k;
        s += k;
        n -= k;
        if (w->n == RANK_HF_BLOCK)
            rank_hf_flush(w);
    }
}

static void rank_hf_pad(struct rank_hf_w *w, size_t n)
{
    static const unsigned char zero[8];

    if (n % 8)
        rank_hf_put(w, zero, 8 - n % 8);
}

/* rank_hf_put_recs writes count records of a kind with strings, each
 * string replaced by its offset in the strings section (*off runs on in
 * the order rank_hf_put_strs writes them). */
static void rank_hf_put_recs(struct rank_hf_w *w, const struct rank_hf_sec *s,
                             uint64_t *off)
{
    union {
        struct rank_hsnip s;
        struct rank_hitem i;
        struct rank_hthread t;
        struct rank_account a;
    } rec;
    char **slot[4];
    size_t i, j, k;

    for (i = 0; i < *s->n; i++) {
        assert(s->elsz <= sizeof(rec));
        memcpy(&rec, (const char *)*s->arr + i * s->elsz, s->elsz);
        k = rank_hf_strs(s->kind, &rec, slot);
        for (j = 0; j < k; j++) {
            uint64_t o = RANK_HF_NULL;
            if (*slot[j]) {
                o = *off;
                *off += strlen(*slot[j]) + 1;
            }
            *slot[j] = (char *)(uintptr_t)o;
        }
        rank_hf_put(w, &rec, s->elsz);
    }
}

static void rank_hf_put_strs(struct rank_hf_w *w, const struct rank_hf_sec *s)
{
    char **slot[4];
    size_t i, j, k;

    for (i = 0; i < *s->n; i++) {
        k = rank_hf_strs(s->kind, (char *)*s->arr + i * s->elsz, slot);
        for (j = 0; j < k; j++)
            if (*slot[j])
                rank_hf_put(w, *slot[j], strlen(*slot[j]) + 1);
    }
}

/* rank_hf_body writes every section of h, then the strings. */
static void rank_hf_body(struct rank_hf_w *w, struct rank_hist *h)
{
    struct rank_hf_sec s[RANK_HF_NSEC];
    struct rank_hf_sec_head sh;
    struct rank_hf_counts c;
    uint64_t off = 0;
    size_t i;

    rank_hf_derive(h, &c);
    rank_hf_table(h, &c, s);
    for (i = 0; i < RANK_HF_NSEC; i++) {
        memset(&sh, 0, sizeof(sh));
        if (s[i].kind == RANK_HF_MAP) {
            const struct rank__map *m = s[i].map;
            sh.count = m->cap;
            sh.elsz = sizeof(uint64_t);
            sh.aux[0] = m->n;
            sh.aux[1] = (uint64_t)m->has_zero;
            sh.aux[2] = m->zero_val;
            rank_hf_put(w, &sh, sizeof(sh));
            if (m->cap) {
                rank_hf_put(w, m->keys, m->cap * sizeof(uint64_t));
                rank_hf_put(w, m->vals, m->cap * sizeof(uint64_t));
            }
            continue;
        }
        sh.count = *s[i].n;
        sh.elsz = s[i].elsz;
        rank_hf_put(w, &sh, sizeof(sh));
        if (s[i].kind == RANK_HF_POD) {
            if (*s[i].n)
                rank_hf_put(w, *s[i].arr, *s[i].n * s[i].elsz);
        } else {
            rank_hf_put_recs(w, &s[i], &off);
        }
        rank_hf_pad(w, *s[i].n * s[i].elsz);
    }
    memset(&sh, 0, sizeof(sh));
    sh.count = off;
    sh.elsz = 1;
    rank_hf_put(w, &sh, sizeof(sh));
    for (i = 0; i < RANK_HF_NSEC; i++)
        if (s[i].kind != RANK_HF_POD && s[i].kind != RANK_HF_MAP)
            rank_hf_put_strs(w, &s[i]);
    rank_hf_pad(w, (size_t)off);
}

static void rank_hf_head_fill(struct rank_hf_head *hd,
                              const struct rank_hist *h, const char *team,
                              uint64_t erase_seq)
{
    memset(hd, 0, sizeof(*hd));
    memcpy(hd->magic, RANK_HF_MAGIC, sizeof(RANK_HF_MAGIC));
    hd->version = RANK_HF_VERSION;
    hd->layout = rank_hf_layout();
    memcpy(hd->team, team, strlen(team));
    hd->erase_seq = erase_seq;
    memcpy(hd->seqs, h->seqs, sizeof(hd->seqs));
    memcpy(hd->marks, h->marks, sizeof(hd->marks));
    hd->now_ms = h->now_ms;
    hd->cutoff_ms = h->cutoff_ms;
    hd->team_threads = h->team_threads;
    hd->team_mature = h->team_mature;
    hd->n_outcomes = h->n_outcomes;
    hd->team_pos = h->team_pos;
    hd->use_n = h->use_n;
    hd->team_rate = h->team_rate;
    hd->team_value = h->team_value;
    hd->use_sd = h->use_sd;
    hd->team_vsum = h->team_vsum;
    hd->use_sum = h->use_sum;
    hd->use_sq = h->use_sq;
}

/* rank_hf_sync_dir makes the rename in dir of path durable. */
static int rank_hf_sync_dir(const char *path)
{
    struct sw_buf d;
    const char *slash = strrchr(path, '/');
    int fd, rc = 0;

    sw_buf_init(&d, 8192);
    if (sw_buf_add(&d, slash ? path : ".",
                   slash ? (size_t)(slash - path) + (slash == path) : 1) !=
        SW_OK) {
        sw_buf_free(&d);
        return ENOMEM;
    }
    fd = open(sw_buf_str(&d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = errno;
    if (fd >= 0)
        close(fd);
    sw_buf_free(&d);
    return rc;
}

sw_err rank_hist_save(const struct rank_hist *h, const char *team_id,
                      uint64_t erase_seq, const char *path)
{
    struct rank_hf_head hd;
    struct rank_hf_w w;
    struct sw_buf tmp;
    int fd = -1, err = 0;
    sw_err rc;

    if (h == NULL || team_id == NULL || path == NULL || h->cutoff_ms != 0 ||
        h->email_lo == NULL || strlen(team_id) > RANK_HF_TEAM_MAX)
        return SW_EINVAL;
    memset(&w, 0, sizeof(w));
    sw_buf_init(&tmp, 8192);
    rc = sw_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    w.buf = sw_malloc(RANK_HF_BLOCK);
    if (rc || w.buf == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    fd = open(sw_buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (w.f = fdopen(fd, "wb")) == NULL) {
        err = errno;
        goto out;
    }
    fd = -1; /* the stream's */
    /* The header last: first its room, then the body it sums. */
    memset(&hd, 0, sizeof(hd));
    if (fwrite(&hd, sizeof(hd), 1, w.f) != 1) {
        err = errno ? errno : EIO;
        goto out;
    }
    rank_hf_body(&w, (struct rank_hist *)h);
    rank_hf_flush(&w);
    if (w.err) {
        err = w.err;
        goto out;
    }
    rank_hf_head_fill(&hd, h, team_id, erase_seq);
    hd.body_len = w.len;
    hd.sum = w.sum;
    if (fseek(w.f, 0, SEEK_SET) != 0 || fwrite(&hd, sizeof(hd), 1, w.f) != 1 ||
        fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) {
        err = errno ? errno : EIO;
        goto out;
    }
    if (fclose(w.f) != 0) {
        w.f = NULL;
        err = errno ? errno : EIO;
        goto out;
    }
    w.f = NULL;
    if (rename(sw_buf_str(&tmp), path) != 0) {
        err = errno;
        goto out;
    }
    err = rank_hf_sync_dir(path);
out:
    if (w.f)
        fclose(w.f);
    if (fd >= 0)
        close(fd);
    if (err) {
        sw_log_warn("rank.stats_save_failed", "path=%s errno=%d", path, err);
        (void)unlink(sw_buf_str(&tmp));
        rc = err == ENOMEM ? SW_ENOMEM : SW_EIO;
    }
    sw_free(w.buf);
    sw_buf_free(&tmp);
    return rc;
}

/* --- reading ------------------------------------------------------------ */

/* A reader over the mapped body; any read past its end fails. */
struct rank_hf_r {
    const unsigned char *p;
    size_t n, at;
};

static const void *rank_hf_take(struct rank_hf_r *r, size_t n)
{
    const void *x;

    if (n > r->n - r->at)
        return NULL;
    x = r->p + r->at;
    r->at += n;
    return x;
}

static int rank_hf_mul_ok(uint64_t a, uint64_t b, size_t *out)
{
    if (b && a > SIZE_MAX / b)
        return 0;
    *out = (size_t)(a * b);
    return 1;
}

/* rank_hf_strfix turns the offsets in record x back into pointers into
 * strs (len bytes, NUL-terminated at its end). */
static int rank_hf_strfix(int kind, void *x, const char *strs, size_t len)
{
    char **slot[4];
    size_t j, k = rank_hf_strs(kind, x, slot);

    for (j = 0; j < k; j++) {
        uint64_t o = (uint64_t)(uintptr_t)*slot[j];
        if (o == RANK_HF_NULL) {
            *slot[j] = NULL;
            continue;
        }
        if (o >= len)
            return 0;
        *slot[j] = (char *)strs + o;
    }
    return 1;
}

/* rank_hf_map_ok: m is a map whose lookups end (a free slot), holding n
 * keys, every value below lim. */
static int rank_hf_map_ok(const struct rank__map *m, uint64_t lim)
{
    size_t i, n = 0;

    if (m->has_zero && m->zero_val >= lim)
        return 0;
    if (m->cap == 0)
        return m->n == 0;
    if ((m->cap & (m->cap - 1)) != 0 || m->n >= m->cap)
        return 0;
    for (i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            n++;
            if (m->vals[i] >= lim)
                return 0;
        }
    return n == m->n;
}

/* rank_hf_lo_ok: lo[0..n] rises from 0 to last. */
static int rank_hf_lo_ok(const uint32_t *lo, size_t n, size_t last)
{
    size_t i;

    if (lo[0] != 0 || lo[n] != last)
        return 0;
    for (i = 0; i < n; i++)
        if (lo[i] > lo[i + 1])
            return 0;
    return 1;
}

/* rank_hf_has_use: thread th has a use of item (what attribution and
 * the account records assume of every item of its emails). */
static int rank_hf_has_use(const struct rank_hist *h, uint32_t th,
                           uint32_t item)
{
    uint32_t i;

    for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++)
        if (h->uses[i].item == item)
            return 1;
    return 0;
}

/* rank_hf_check_refs: every index in h's records names an element of its
 * array, and what the counting code asserts holds. */
static int rank_hf_check_refs(const struct rank_hist *h, size_t nemails,
                              size_t nitems_e, size_t nthr_acc)
{
    size_t i, nt = h->nthreads, ni = h->nitems;
    uint32_t th, k, j;

    for (i = 0; i < h->nsnips; i++)
        if ((h->snips[i].item != RANK_HF_NONE && h->snips[i].item >= ni) ||
            (h->snips[i].content != RANK_HF_NONE &&
             h->snips[i].content >= ni) ||
            h->snips[i].id == NULL || h->snips[i].text == NULL)
            return 0;
    for (i = 0; i < ni; i++)
        if ((h->items[i].rep != RANK_HF_NONE && h->items[i].rep >= h->nsnips) ||
            h->items[i].id == NULL || h->items[i].key == NULL ||
            h->items[i].title == NULL)
            return 0;
    for (i = 0; i < nt; i++)
        if (h->threads[i].id == NULL || h->threads[i].context == NULL)
            return 0;
    for (i = 0; i < h->naccounts; i++)
        if (h->accounts[i].domain == NULL)
            return 0;
    if (!rank_hf_lo_ok(h->use_lo, nt, h->nuses) ||
        !rank_hf_lo_ok(h->acct_lo, h->naccounts, h->nacct_ev) ||
        !rank_hf_lo_ok(h->email_lo, nt, nemails) ||
        !rank_hf_lo_ok(h->out_lo, nt, h->nouts) ||
        !rank_hf_lo_ok(h->thr_acc_lo, nt, nthr_acc))
        return 0;
    for (th = 0; th < nt; th++) {
        for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++)
            if (h->uses[i].thread != th || h->uses[i].item >= ni)
                return 0;
        for (i = h->out_lo[th]; i < h->out_lo[th + 1]; i++)
            if (h->outs[i].thread != th)
                return 0;
        for (k = h->thr_acc_lo[th]; k < h->thr_acc_lo[th + 1]; k++) {
            if (h->thr_acc[k] >= h->naccounts)
                return 0;
            for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++)
                if (rank__acct_ev_index(h, h->thr_acc[k], h->uses[i].item) < 0)
                    return 0;
        }
        for (i = h->email_lo[th]; i < h->email_lo[th + 1]; i++) {
            const struct rank_hemail *e = &h->emails[i];
            if ((size_t)e->lo + e->nf + e->nc > nitems_e)
                return 0;
            for (j = 0; j < e->nf + e->nc; j++)
                if (h->email_items[e->lo + j] >= ni ||
                    !rank_hf_has_use(h, th, h->email_items[e->lo + j]))
                    return 0;
        }
    }
    for (i = 0; i < h->naccounts; i++)
        for (k = h->acct_lo[i]; k < h->acct_lo[i + 1]; k++)
            if (h->acct_ev[k].account != i || h->acct_ev[k].item >= ni)
                return 0;
    for (i = 0; i < h->nxouts; i++)
        if (h->xouts[i].thread >= nt ||
            (i && h->xouts[i].thread < h->xouts[i - 1].thread))
            return 0;
    for (i = 0; i < h->nby_out; i++)
        if (h->by_out[i] >= nt)
            return 0;
    return rank_hf_map_ok(&h->by_thread, nt) &&
           rank_hf_map_ok(&h->by_label, h->nsnips) &&
           rank_hf_map_ok(&h->by_item, ni) &&
           rank_hf_map_ok(&h->by_account, h->naccounts) &&
           rank_hf_map_ok(&h->own, UINT64_MAX);
}

/* rank_hf_read_map reads a map section into m (its slot arrays copied). */
static sw_err rank_hf_read_map(struct rank_hf_r *r,
                               const struct rank_hf_sec_head *sh,
                               struct rank__map *m)
{
    const void *k, *v;
    size_t len;

    if (sh->elsz != sizeof(uint64_t) ||
        !rank_hf_mul_ok(sh->count, sizeof(uint64_t), &len) || sh->aux[1] > 1 ||
        sh->aux[0] > sh->count)
        return SW_ECORRUPT;
    k = rank_hf_take(r, len);
    v = rank_hf_take(r, len);
    if (k == NULL || v == NULL)
        return SW_ECORRUPT;
    m->cap = (size_t)sh->count;
    m->n = (size_t)sh->aux[0];
    m->has_zero = (int)sh->aux[1];
    m->zero_val = sh->aux[2];
    if (m->cap) { /* read in place: a loaded history's maps never change */
        m->keys = (uint64_t *)k;
        m->vals = (uint64_t *)v;
    }
    return SW_OK;
}

/* rank_hf_read_body reads every section into h (the strings left in the
 * mapping) and checks it. */
static sw_err rank_hf_read_body(struct rank_hf_r *r, struct rank_hist *h)
{
    struct rank_hf_sec s[RANK_HF_NSEC];
    const struct rank_hf_sec_head *sh;
    struct rank_hf_counts c;
    const char *strs;
    size_t i, e, len;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    rank_hf_table(h, &c, s);
    for (i = 0; i < RANK_HF_NSEC; i++) {
        const void *data;
        sh = rank_hf_take(r, sizeof(*sh));
        if (sh == NULL)
            return SW_ECORRUPT;
        if (s[i].kind == RANK_HF_MAP) {
            rc = rank_hf_read_map(r, sh, s[i].map);
            if (rc)
                return rc;
            continue;
        }
        if (sh->elsz != s[i].elsz ||
            !rank_hf_mul_ok(sh->count, s[i].elsz, &len) || len > SIZE_MAX - 8)
            return SW_ECORRUPT;
        data = rank_hf_take(r, len);
        if (data == NULL || rank_hf_take(r, (8 - len % 8) % 8) == NULL)
            return SW_ECORRUPT;
        *s[i].n = (size_t)sh->count;
        if (s[i].kind == RANK_HF_POD) {
            /* Read in place: what a delta changes it copies first. */
            *s[i].arr = (void *)data;
            continue;
        }
        /* Records with strings are copied to point at them: a history's
         * snippets live in its arena (hist.c), the rest are its own
         * allocations, freed as a built one's are. */
        *s[i].arr = s[i].kind == RANK_HF_SNIPS
                        ? sw_arena_alloc(&h->arena, len + 1)
                        : sw_malloc(len + 1);
        if (*s[i].arr == NULL)
            return SW_ENOMEM;
        memcpy(*s[i].arr, data, len);
    }
    /* The strings, left where they are. */
    sh = rank_hf_take(r, sizeof(*sh));
    if (sh == NULL || sh->elsz != 1 || sh->count > r->n - r->at)
        return SW_ECORRUPT;
    strs = (const char *)rank_hf_take(r, (size_t)sh->count);
    len = (size_t)sh->count;
    if (rank_hf_take(r, (8 - len % 8) % 8) == NULL)
        return SW_ECORRUPT;
    if (len && strs[len - 1] != '\0')
        return SW_ECORRUPT;
    for (i = 0; i < RANK_HF_NSEC; i++) {
        if (s[i].kind == RANK_HF_POD || s[i].kind == RANK_HF_MAP)
            continue;
        for (e = 0; e < *s[i].n; e++)
            if (!rank_hf_strfix(s[i].kind, (char *)*s[i].arr + e * s[i].elsz,
                                strs, len))
                return SW_ECORRUPT;
    }
    if (!rank_hf_counts_ok(h, &c))
        return SW_ECORRUPT;
    return rank_hf_check_refs(h, c.emails, c.email_items, c.thr_acc)
               ? SW_OK
               : SW_ECORRUPT;
}

static void rank_hf_head_take(struct rank_hist *h,
                              const struct rank_hf_head *hd)
{
    memcpy(h->seqs, hd->seqs, sizeof(h->seqs));
    memcpy(h->marks, hd->marks, sizeof(h->marks));
    h->now_ms = hd->now_ms;
    h->cutoff_ms = hd->cutoff_ms;
    h->team_threads = hd->team_threads;
    h->team_mature = hd->team_mature;
    h->n_outcomes = hd->n_outcomes;
    h->team_pos = hd->team_pos;
    h->use_n = hd->use_n;
    h->team_rate = hd->team_rate;
    h->team_value = hd->team_value;
    h->use_sd = hd->use_sd;
    h->team_vsum = hd->team_vsum;
    h->use_sum = hd->use_sum;
    h->use_sq = hd->use_sq;
}

sw_err rank_hist_load(const char *path, const char *team_id,
                      struct rank_hist **out, uint64_t *erase_seq)
{
    struct rank_hf_head hd;
    struct rank_hist *h = NULL;
    struct rank_hf_r r;
    struct stat st;
    void *map = MAP_FAILED;
    uint64_t sum = 0;
    size_t at;
    int fd;
    sw_err rc = SW_ECORRUPT;

    if (path == NULL || team_id == NULL || out == NULL || erase_seq == NULL)
        return SW_EINVAL;
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SW_ENOTFOUND : SW_EIO;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return SW_EIO;
    }
    if ((uint64_t)st.st_size < sizeof(hd) ||
        (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return SW_ECORRUPT;
    }
    /* Populated at once: every page is read (the checksum) anyway. */
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
               fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return SW_EIO;
    memcpy(&hd, map, sizeof(hd));
    if (memcmp(hd.magic, RANK_HF_MAGIC, sizeof(RANK_HF_MAGIC)) != 0 ||
        hd.version != RANK_HF_VERSION || hd.layout != rank_hf_layout() ||
        hd.team[RANK_HF_TEAM_MAX] != '\0' || strcmp(hd.team, team_id) != 0 ||
        hd.body_len != (uint64_t)st.st_size - sizeof(hd) || hd.cutoff_ms != 0)
        goto out;
    r.p = (const unsigned char *)map + sizeof(hd);
    r.n = (size_t)hd.body_len;
    r.at = 0;
    for (at = 0; at < r.n; at += RANK_HF_BLOCK)
        sum = rank_hf_sum(sum, r.p + at,
                          r.n - at < RANK_HF_BLOCK ? r.n - at : RANK_HF_BLOCK);
    if (sum != hd.sum)
        goto out;
    h = sw_calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    h->refs = 1;
    sw_arena_init(&h->arena, 0);
    h->file_map = map;
    h->file_len = (size_t)st.st_size;
    map = MAP_FAILED; /* h's now */
    rank_hf_head_take(h, &hd);
    rc = rank_hf_read_body(&r, h);
    if (rc == SW_OK && r.at != r.n)
        rc = SW_ECORRUPT; /* bytes after the strings */
    if (rc == SW_OK) {
        *erase_seq = hd.erase_seq;
        *out = h;
        return SW_OK;
    }
out:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    rank_hist_free(&h);
    return rc;
}
