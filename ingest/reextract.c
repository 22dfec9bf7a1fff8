/* ingest/reextract: queue the extraction jobs of stored mail again, so the
 * worker re-runs them with today's provider, model and schema versions.
 * Walks a team's threads page by page (newest activity first) and queues
 * one job per qualifying email, each page in one write transaction. */
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ingest/worker.h"
#include "store/store_job.h"
#include "store/store_mail.h"
#include "store/store_tenant.h"

#define INGEST_REEXTRACT_PAGE 200

/* The jobs of one page. */
struct ingest_rx_page {
    const char *team;
    char **ids;
    int *kinds;
    size_t n, cap;
};

static sw_err ingest_rx_add(struct ingest_rx_page *p, const char *id, int kind)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        char **ni = sw_realloc(p->ids, cap * sizeof(*ni));
        int *nk;
        if (ni == NULL)
            return SW_ENOMEM;
        p->ids = ni;
        nk = sw_realloc(p->kinds, cap * sizeof(*nk));
        if (nk == NULL)
            return SW_ENOMEM;
        p->kinds = nk;
        p->cap = cap;
    }
    p->ids[p->n] = sw_strdup(id);
    if (p->ids[p->n] == NULL)
        return SW_ENOMEM;
    p->kinds[p->n++] = kind;
    return SW_OK;
}

static void ingest_rx_reset(struct ingest_rx_page *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        sw_free(p->ids[i]);
    p->n = 0;
}

static sw_err ingest_rx_txn(store_txn *t, void *arg)
{
    struct ingest_rx_page *p = arg;
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < p->n; i++)
        rc = store_job_enqueue(t, p->team, p->ids[i], p->kinds[i], NULL);
    return rc;
}

/* ingest_rx_team queues the jobs of one team. */
static sw_err ingest_rx_team(store *s, const char *team, int64_t since_ms,
                             size_t *n)
{
    struct store_thread_filter f;
    struct store_thread *th = NULL;
    struct store_email em;
    struct ingest_rx_page pg;
    struct sw_buf why;
    char *tok = NULL, *next = NULL;
    size_t nth = 0, i, j;
    int kind;
    sw_err rc;

    memset(&f, 0, sizeof(f));
    memset(&pg, 0, sizeof(pg));
    sw_buf_init(&why, 1024);
    f.last_from_ms = since_ms;
    pg.team = team;
    do {
        rc = store_thread_list(s, team, &f, INGEST_REEXTRACT_PAGE, tok, &th,
                               &nth, &next, &why);
        if (rc)
            goto out;
        for (i = 0; i < nth; i++) {
            for (j = 0; j < th[i].n_emails; j++) {
                memset(&em, 0, sizeof(em));
                rc = store_email_get(s, team, th[i].email_ids[j], &em);
                if (rc == SW_ENOTFOUND) {
                    rc = SW_OK; /* raced with a team deletion */
                    continue;
                }
                if (rc)
                    goto out;
                kind = 0;
                if (em.sent_ms >= since_ms &&
                    em.direction == STORE_DIR_OUTBOUND && em.n_contents > 0)
                    kind = STORE_JOB_EXTRACT_OUTBOUND;
                else if (em.sent_ms >= since_ms &&
                         em.direction == STORE_DIR_INBOUND)
                    kind = STORE_JOB_CLASSIFY_INBOUND;
                if (kind)
                    rc = ingest_rx_add(&pg, em.email_id, kind);
                store_email_clear(&em);
                if (rc)
                    goto out;
            }
        }
        if (pg.n) {
            rc = store_update(s, ingest_rx_txn, &pg);
            if (rc)
                goto out;
            *n += pg.n;
            ingest_rx_reset(&pg);
        }
        store_threads_free(th, nth);
        th = NULL;
        nth = 0;
        sw_free(tok);
        tok = next;
        next = NULL;
    } while (tok != NULL);
out:
    if (rc && sw_buf_len(&why))
        sw_log_error("reextract.failed", "team=%s why=%s", team,
                     sw_buf_str(&why));
    store_threads_free(th, nth);
    ingest_rx_reset(&pg);
    sw_free(pg.ids);
    sw_free(pg.kinds);
    sw_free(tok);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

sw_err ingest_reextract(store *s, const char *team_id, int64_t since_ms,
                        size_t *n)
{
    struct store_team *teams = NULL, one;
    char *tok = NULL, *next = NULL;
    size_t nt = 0, i;
    sw_err rc;

    *n = 0;
    memset(&one, 0, sizeof(one));
    if (team_id && team_id[0]) {
        rc = store_team_get(s, team_id, &one, NULL);
        if (rc == SW_OK)
            rc = ingest_rx_team(s, team_id, since_ms, n);
        store_team_clear(&one);
        return rc;
    }
    do {
        rc = store_team_list(s, 100, tok, &teams, &nt, &next, NULL);
        if (rc)
            goto out;
        for (i = 0; rc == SW_OK && i < nt; i++)
            rc = ingest_rx_team(s, teams[i].team_id, since_ms, n);
        if (rc)
            goto out;
        store_teams_free(teams, nt);
        teams = NULL;
        nt = 0;
        sw_free(tok);
        tok = next;
        next = NULL;
    } while (tok != NULL);
out:
    store_teams_free(teams, nt);
    sw_free(tok);
    sw_free(next);
    return rc;
}
