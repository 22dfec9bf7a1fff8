/* bench_ingest: the ingest pipeline in process, per stage, over a mail
 * corpus: MIME parse, attachment text (timed apart by extracting each
 * parsed attachment again), preparation, and the commit (one fsync'd LMDB
 * transaction, shared by concurrent callers). Prints one JSON object per
 * configuration. Usage: bench_ingest CORPUS_DIR [THREADS...]. Run by
 * tests/bench/bench_ingest.sh; never part of the test suite. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ingest/mail.h"
#include "ingest/pipeline.h"
#include "store/store.h"
#include "store/store_tenant.h"

struct msg {
    char *data;
    size_t len;
};

struct corpus {
    struct msg *m;
    size_t n, cap;
};

static int add_msg(struct corpus *c, const char *p, size_t n)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 512;
        struct msg *nm = sw_realloc(c->m, cap * sizeof(*nm));
        if (nm == NULL)
            return -1;
        c->m = nm;
        c->cap = cap;
    }
    c->m[c->n].data = sw_memdup(p, n);
    c->m[c->n].len = n;
    if (c->m[c->n].data == NULL)
        return -1;
    c->n++;
    return 0;
}

/* add_file adds a file's message, or the messages of an mbox. */
static int add_file(struct corpus *c, const char *path)
{
    struct sw_buf b;
    char chunk[65536];
    const char *p, *end, *start;
    FILE *f = fopen(path, "rb");
    size_t n;
    int rc = 0;

    if (f == NULL)
        return 0;
    sw_buf_init(&b, (size_t)256 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sw_buf_add(&b, chunk, n) != SW_OK)
            rc = -1;
    fclose(f);
    p = sw_buf_str(&b);
    end = p + sw_buf_len(&b);
    if (rc == 0 && sw_buf_len(&b) > 5 && memcmp(p, "From ", 5) == 0) {
        while (p < end && rc == 0) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            start = nl ? nl + 1 : end;
            p = start;
            while (p < end) {
                nl = memchr(p, '\n', (size_t)(end - p));
                p = nl ? nl + 1 : end;
                if (end - p >= 5 && memcmp(p, "From ", 5) == 0)
                    break;
            }
            if (p > start)
                rc = add_msg(c, start, (size_t)(p - start));
        }
    } else if (rc == 0 && sw_buf_len(&b) > 0) {
        rc = add_msg(c, p, sw_buf_len(&b));
    }
    sw_buf_free(&b);
    return rc;
}

static int walk(struct corpus *c, const char *dir)
{
    struct dirent **ents = NULL;
    struct sw_buf path;
    struct stat st;
    int n, i, rc = 0;

    n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0)
        return add_file(c, dir);
    sw_buf_init(&path, 8192);
    for (i = 0; i < n; i++) {
        if (rc == 0 && ents[i]->d_name[0] != '.') {
            sw_buf_reset(&path);
            if (sw_buf_printf(&path, "%s/%s", dir, ents[i]->d_name) != SW_OK)
                rc = -1;
            else if (stat(sw_buf_str(&path), &st) == 0 && S_ISDIR(st.st_mode))
                rc = walk(c, sw_buf_str(&path));
            else
                rc = add_file(c, sw_buf_str(&path));
        }
        free(ents[i]); /* scandir allocates with malloc */
    }
    free(ents);
    sw_buf_free(&path);
    return rc;
}

/* Attachment text alone: parse each message, then extract each attachment
 * again from its decoded bytes. */
static void bench_attach(const struct corpus *c, int64_t *parse_us,
                         int64_t *attach_us, long *natt)
{
    struct ingest_limits l;
    size_t i, k;

    ingest_limits_default(&l);
    *parse_us = *attach_us = 0;
    *natt = 0;
    for (i = 0; i < c->n; i++) {
        struct ingest_mail *m = NULL;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (ingest_mail_parse(c->m[i].data, c->m[i].len, &l, &m, NULL) != SW_OK)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &b);
        *parse_us +=
            (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
        for (k = 0; k < m->n_atts; k++) {
            struct ingest_attachment x;
            memset(&x, 0, sizeof(x));
            x.filename = m->atts[k].filename;
            x.content_type = m->atts[k].content_type;
            x.data = m->atts[k].data;
            x.len = m->atts[k].len;
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (ingest_attachment_extract(&x, &l) == SW_OK)
                (*natt)++;
            clock_gettime(CLOCK_MONOTONIC, &b);
            *attach_us += (b.tv_sec - a.tv_sec) * 1000000 +
                          (b.tv_nsec - a.tv_nsec) / 1000;
            sw_free(x.text);
            sw_free(x.detail);
        }
        ingest_mail_free(&m);
    }
}

struct run {
    const struct corpus *c;
    ingest_pipeline *p;
    const char *team;
    size_t next; /* under mu */
    pthread_mutex_t mu;
    long ok, rejected;
    int64_t parse_us, prepare_us, queue_us, commit_us;
    long batches, batch_sum;
};

static void *run_thread(void *arg)
{
    struct run *r = arg;

    for (;;) {
        struct ingest_request q;
        struct ingest_result res;
        struct ingest_stats st;
        size_t i;
        sw_err rc;
        pthread_mutex_lock(&r->mu);
        i = r->next++;
        pthread_mutex_unlock(&r->mu);
        if (i >= r->c->n)
            return NULL;
        memset(&q, 0, sizeof(q));
        q.raw = r->c->m[i].data;
        q.raw_len = r->c->m[i].len;
        rc = ingest_email(r->p, r->team, &q, &res, &st, NULL);
        ingest_result_clear(&res);
        pthread_mutex_lock(&r->mu);
        if (rc == SW_OK)
            r->ok++;
        else
            r->rejected++;
        r->parse_us += st.parse_us;
        r->prepare_us += st.prepare_us;
        r->queue_us += st.queue_us;
        r->commit_us += st.commit_us;
        if (st.batch) {
            r->batches++;
            r->batch_sum += st.batch;
        }
        pthread_mutex_unlock(&r->mu);
    }
}

static int bench_pipeline(const struct corpus *c, const char *dir, int threads,
                          int pass)
{
    struct store_opts so;
    struct store_team team;
    struct ingest_totals tot;
    struct run r;
    store *s = NULL;
    pthread_t th[64];
    int64_t t0, ms;
    int i, rc = 1;

    memset(&so, 0, sizeof(so));
    memset(&team, 0, sizeof(team));
    memset(&r, 0, sizeof(r));
    so.dir = dir;
    if (store_open(&so, &s) != SW_OK ||
        store_team_create(s, "bench", &team, NULL, NULL) != SW_OK ||
        ingest_pipeline_open(s, NULL, &r.p) != SW_OK)
        goto out;
    r.c = c;
    r.team = team.team_id;
    pthread_mutex_init(&r.mu, NULL);
    for (int k = 0; k < pass; k++) {
        r.next = 0;
        r.ok = r.rejected = 0;
        r.parse_us = r.prepare_us = r.queue_us = r.commit_us = 0;
        r.batches = r.batch_sum = 0;
        t0 = sw_mono_ms();
        for (i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, run_thread, &r);
        for (i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        ms = sw_mono_ms() - t0;
        ingest_pipeline_totals(r.p, &tot);
        printf("{\"bench\":\"pipeline\",\"pass\":\"%s\",\"threads\":%d,"
               "\"messages\":%zu,\"stored_or_dup\":%ld,\"rejected\":%ld,"
               "\"seconds\":%.3f,\"emails_per_s\":%.0f,"
               "\"parse_ms_per_email\":%.3f,\"prepare_ms_per_email\":%.3f,"
               "\"queue_ms_per_email\":%.3f,\"commit_ms_per_txn\":%.3f,"
               "\"emails_per_commit\":%.2f}\n",
               k == 0 ? "new" : "duplicate", threads, c->n, r.ok, r.rejected,
               ms / 1000.0, ms ? c->n * 1000.0 / ms : 0.0,
               r.parse_us / 1000.0 / c->n, r.prepare_us / 1000.0 / c->n,
               r.queue_us / 1000.0 / c->n,
               r.batch_sum ? r.commit_us / 1000.0 / r.batches : 0.0,
               r.batches ? (double)r.batch_sum / r.batches : 0.0);
    }
    pthread_mutex_destroy(&r.mu);
    rc = 0;
out:
    ingest_pipeline_close(&r.p);
    store_team_clear(&team);
    store_close(&s);
    return rc;
}

int main(int argc, char **argv)
{
    struct corpus c;
    struct sw_buf dir;
    int64_t parse_us, attach_us;
    long natt;
    int i, threads;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_ingest CORPUS_DIR SCRATCH_DIR "
                        "[THREADS...]\n");
        return 2;
    }
    memset(&c, 0, sizeof(c));
    ingest_mail_global_init();
    if (walk(&c, argv[1]) != 0 || c.n == 0) {
        fprintf(stderr, "bench_ingest: no messages under %s\n", argv[1]);
        return 1;
    }
    bench_attach(&c, &parse_us, &attach_us, &natt);
    printf("{\"bench\":\"stages\",\"messages\":%zu,\"attachments\":%ld,"
           "\"mime_ms_per_email\":%.3f,\"attachment_text_ms_per_email\":%.3f,"
           "\"parse_total_ms\":%.1f}\n",
           c.n, natt, (parse_us - attach_us) / 1000.0 / c.n,
           attach_us / 1000.0 / c.n, parse_us / 1000.0);
    sw_buf_init(&dir, 4096);
    for (i = 3; i < argc || i == 3; i++) {
        if (i < argc) {
            if (sw_parse_int(argv[i], 1, 64, &threads) != SW_OK)
                return 2;
        } else {
            threads = 1;
        }
        sw_buf_reset(&dir);
        if (sw_buf_printf(&dir, "%s/store-%d", argv[2], threads) != SW_OK ||
            bench_pipeline(&c, sw_buf_str(&dir), threads, 2) != 0) {
            fprintf(stderr, "bench_ingest: pipeline run failed\n");
            return 1;
        }
    }
    sw_buf_free(&dir);
    for (size_t k = 0; k < c.n; k++)
        sw_free(c.m[k].data);
    sw_free(c.m);
    return 0;
}
