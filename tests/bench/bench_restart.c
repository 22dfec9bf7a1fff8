/* bench_restart: restart of one team's index with N snippets: time to
 * serving from the LMDB snapshot versus a full rebuild from the snippet
 * feed, snapshot size and memory per snippet.
 * Usage: bench_restart N DIR   (DIR must not exist) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/index.h"
#include "ranker/search.h"
#include "store/store.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

static const char *bench_words[] = {
    "pricing",  "deck",     "security",  "review",      "onboarding",
    "contract", "renewal",  "quote",     "demo",        "integration",
    "roadmap",  "budget",   "cfo",       "procurement", "pilot",
    "timeline", "case",     "study",     "migration",   "support",
    "training", "discount", "seats",     "usage",       "compliance",
    "audit",    "latency",  "dashboard", "api",         "export",
    "quarter",  "forecast", "champion",  "legal",       "terms",
    "signature"};

struct bench_fill {
    const char *team;
    size_t from, to;
    uint64_t rng;
};

static uint64_t bench_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static sw_err bench_fill_fn(store_txn *t, void *arg)
{
    struct bench_fill *f = arg;
    char text[512];
    size_t i, nw = sizeof(bench_words) / sizeof(bench_words[0]);

    for (i = f->from; i < f->to; i++) {
        struct store_snippet sn = {0};
        size_t len = 0, w, words = 8 + bench_next(&f->rng) % 12;
        sw_err rc;
        for (w = 0; w < words; w++) {
            const char *x = bench_words[bench_next(&f->rng) % nw];
            int k = snprintf(text + len, sizeof(text) - len, "%s%s",
                             w ? " " : "", x);
            len += (size_t)k;
        }
        snprintf(text + len, sizeof(text) - len, " account%zu", i % 5000);
        sn.team_id = (char *)f->team;
        sn.kind = 1 + (int)(i % 2);
        sn.text = text;
        rc = store_snippet_put(t, &sn);
        sw_free(sn.snippet_id);
        if (rc)
            return rc;
    }
    return SW_OK;
}

static void bench_die(const char *what, sw_err rc)
{
    fprintf(stderr, "bench_restart: %s: %s\n", what, sw_err_name(rc));
    exit(1);
}

int main(int argc, char **argv)
{
    struct store_opts so = {0};
    struct store_team team = {0};
    struct rank_index_stats st;
    struct rank_page pg = {0};
    struct rank_query q = {0};
    rank_ranker *r = NULL;
    store *s = NULL;
    char *key = NULL;
    size_t n, i;
    int64_t t0, rebuild_ms, snap_ms, load_ms, first_ms;
    int done;
    sw_err rc;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_restart N DIR\n");
        return 2;
    }
    sw_log_set_level(SW_LOG_WARN);
    n = strtoull(argv[1], NULL, 10);
    so.dir = argv[2];
    if ((rc = store_open(&so, &s)))
        bench_die("store_open", rc);
    if ((rc = store_team_create(s, "bench", &team, &key, NULL)))
        bench_die("team", rc);
    t0 = sw_mono_ms();
    for (i = 0; i < n; i += 10000) {
        struct bench_fill f = {team.team_id, i, i + 10000 < n ? i + 10000 : n,
                               0x2545f4914f6cdd1dULL + i};
        if ((rc = store_update(s, bench_fill_fn, &f)))
            bench_die("fill", rc);
    }
    fprintf(stderr, "stored %zu snippets in %lld ms\n", n,
            (long long)(sw_mono_ms() - t0));

    /* Full rebuild: embed and insert every snippet (one indexer thread). */
    if ((rc = rank_ranker_open(s, NULL, &r)))
        bench_die("open", rc);
    t0 = sw_mono_ms();
    if ((rc = rank_ranker_sync(r, team.team_id, 0, &done)))
        bench_die("sync", rc);
    rebuild_ms = sw_mono_ms() - t0;
    t0 = sw_mono_ms();
    if ((rc = rank_ranker_snapshot(r, team.team_id)))
        bench_die("snapshot", rc);
    snap_ms = sw_mono_ms() - t0;
    if ((rc = rank_ranker_stats(r, team.team_id, &st)))
        bench_die("stats", rc);
    rank_ranker_close(&r);

    /* Restart: load the snapshot; serving = the first search answered. */
    if ((rc = rank_ranker_open(s, NULL, &r)))
        bench_die("open", rc);
    t0 = sw_mono_ms();
    if ((rc = rank_ranker_stats(r, team.team_id, &st)))
        bench_die("load", rc);
    load_ms = sw_mono_ms() - t0;
    q.team_id = team.team_id;
    q.text = "pricing deck for the cfo";
    q.text_len = strlen(q.text);
    q.page_size = 10;
    if ((rc = rank_search(r, s, &q, &pg, NULL)))
        bench_die("search", rc);
    first_ms = sw_mono_ms() - t0;
    printf("{\"snippets\":%zu,\"full_rebuild_ms\":%lld,\"snapshot_write_ms\":"
           "%lld,\"snapshot_load_ms\":%lld,\"serving_after_restart_ms\":%lld,"
           "\"from_snapshot\":%d,\"hits\":%zu,\"index_bytes\":%zu,"
           "\"index_bytes_per_snippet\":%.0f}\n",
           n, (long long)rebuild_ms, (long long)snap_ms, (long long)load_ms,
           (long long)first_ms, st.from_snapshot, pg.n, st.memory,
           n ? (double)st.memory / (double)n : 0.0);
    rank_page_free(&pg);
    rank_ranker_close(&r);
    store_team_clear(&team);
    sw_free(key);
    store_close(&s);
    return 0;
}
