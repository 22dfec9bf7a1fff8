/* svc_rerank: the `snipd rerank` command (see svc_rerank.h). */
#include "service/svc_rerank.h"

#include <stdio.h>
#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ranker/index.h"
#include "ranker/rerank.h"
#include "service/svc_store.h"
#include "store/store.h"
#include "store/store_tenant.h"

void svc_rerank_flags_take(int *argc, char **argv, struct svc_rerank_flags *f)
{
    int i, j;

    memset(f, 0, sizeof(*f));
    if (*argc < 2 || strcmp(argv[1], "rerank") != 0)
        return;
    for (i = j = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--force-promote") == 0)
            f->force_promote = 1;
        else if (strcmp(argv[i], "--dry-run") == 0)
            f->dry_run = 1;
        else
            argv[j++] = argv[i];
    }
    argv[j] = NULL;
    *argc = j;
}

static int svc_rerank_progress(const char *phase, double f, const char *msg,
                               void *arg)
{
    (void)arg;
    fprintf(stderr, "snipd rerank: %-13s %3.0f%%  %s\n", phase, 100.0 * f, msg);
    return 0;
}

static int svc_rerank_one(store *st, rank_ranker *r, const char *team,
                          const struct svc_rerank_flags *f, int no_adapter)
{
    struct rank_rerank_opts o;
    struct rank_rerank_result res;
    sw_err rc;

    memset(&o, 0, sizeof(o));
    o.force_promote = f->force_promote;
    o.dry_run = f->dry_run;
    o.no_adapter = no_adapter; /* --adapter 0: none learnt nor judged */
    rc = rank_rerank_team(st, r, team, NULL, &o, svc_rerank_progress, NULL,
                          &res);
    if (rc) {
        fprintf(stderr, "snipd rerank: team %s: %s\n", team, sw_err_str(rc));
        return 1;
    }
    printf("%s\nmodel %s: %s\n\n", res.model->report, res.model->version,
           res.decision);
    fflush(stdout);
    rank_model_free(&res.model);
    return 0;
}

int svc_rerank_main(const struct svc_config *cfg,
                    const struct svc_rerank_flags *f)
{
    struct store_team *teams = NULL;
    store *st = NULL;
    rank_ranker *r = NULL;
    char *next = NULL, *tok = NULL;
    size_t n = 0, i;
    int code = 0;
    sw_err rc;

    code = svc_store_open(cfg, "rerank", 0, &st);
    if (code)
        goto out;
    rc = rank_ranker_open(st, NULL, &r);
    if (rc) {
        fprintf(stderr, "snipd rerank: cannot open %s: %s\n", cfg->data_dir,
                sw_err_str(rc));
        code = 2;
        goto out;
    }
    if (cfg->team) {
        code = svc_rerank_one(st, r, cfg->team, f, !cfg->adapter);
        goto out;
    }
    do {
        rc = store_team_list(st, 100, tok, &teams, &n, &next, NULL);
        if (rc) {
            fprintf(stderr, "snipd rerank: cannot list teams: %s\n",
                    sw_err_str(rc));
            code = 1;
            goto out;
        }
        for (i = 0; i < n; i++)
            code |= svc_rerank_one(st, r, teams[i].team_id, f, !cfg->adapter);
        store_teams_free(teams, n);
        teams = NULL;
        sw_free(tok);
        tok = next;
        next = NULL;
    } while (tok);
out:
    sw_free(tok);
    rank_ranker_close(&r);
    store_close(&st);
    return code;
}
