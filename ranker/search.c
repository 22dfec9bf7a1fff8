/* search: filtered, paginated search with over-fetching (search.h). */
#include "ranker/search.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/rank_int.h"

#define RANK_K_MIN 32
#define RANK_TOKEN_MAX 64

static sw_err rank_why(struct sw_buf *why, const char *msg)
{
    if (why) {
        sw_buf_reset(why);
        sw_err rc = sw_buf_addstr(why, msg);
        (void)rc; /* the SW_EINVAL matters more than the reason */
    }
    return SW_EINVAL;
}

/* rank_query_hash fingerprints every field of q that selects results (not
 * the page token, nor the page size): a token cannot be replayed against
 * another query, and stays valid when the next page asks for another size
 * (AIP-158). */
static uint64_t rank_query_hash(const struct rank_query *q)
{
    uint64_t h = rank__hash64(q->team_id, strlen(q->team_id), 0);
    size_t i;

    if (q->text)
        h = rank__hash64(q->text, q->text_len, h);
    if (q->vec)
        h = rank__hash64(q->vec, q->vec_len * sizeof(float), h ^ 1);
    h = rank__hash64(&q->kinds, sizeof(q->kinds), h);
    if (q->content_id)
        h = rank__hash64(q->content_id, strlen(q->content_id), h ^ 2);
    if (q->rep_email)
        h = rank__hash64(q->rep_email, strlen(q->rep_email), h ^ 3);
    h = rank__hash64(&q->from_ms, sizeof(q->from_ms), h);
    h = rank__hash64(&q->to_ms, sizeof(q->to_ms), h);
    for (i = 0; i < q->ntags; i++) {
        h = rank__hash64(q->tags[i].key, strlen(q->tags[i].key), h ^ 4);
        h = rank__hash64(q->tags[i].value, strlen(q->tags[i].value), h ^ 5);
    }
    return h;
}

/* Tokens are "<offset>.<16 hex digits of the query hash>". */
static SW_MUST_CHECK sw_err rank_token_parse(const char *tok, uint64_t qh,
                                             size_t *offset)
{
    const char *dot = strchr(tok, '.');
    char want[17];
    unsigned char b[8];
    int64_t off;
    int i;

    if (dot == NULL || strlen(dot + 1) != 16)
        return SW_EINVAL;
    if (sw_parse_i64(tok, (size_t)(dot - tok), 1, RANK_OFFSET_MAX, &off))
        return SW_EINVAL;
    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(qh >> (56 - 8 * i));
    sw_hex(b, 8, want);
    if (memcmp(dot + 1, want, 16) != 0)
        return SW_EINVAL;
    *offset = (size_t)off;
    return SW_OK;
}

static SW_MUST_CHECK sw_err rank_token_make(size_t offset, uint64_t qh,
                                            char **out)
{
    struct sw_buf b;
    char hex[17];
    unsigned char v[8];
    int i;
    sw_err rc;

    for (i = 0; i < 8; i++)
        v[i] = (unsigned char)(qh >> (56 - 8 * i));
    sw_hex(v, 8, hex);
    sw_buf_init(&b, RANK_TOKEN_MAX);
    rc = sw_buf_printf(&b, "%zu.%s", offset, hex);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    sw_buf_free(&b);
    return rc;
}

static int rank_tag_match(const struct store_snippet *sn,
                          const struct rank_tag *t)
{
    const char *have = NULL;

    if (strcmp(t->key, "topic") == 0)
        have = sn->topic;
    else if (strcmp(t->key, "intent") == 0)
        have = sn->intent;
    else if (strcmp(t->key, "persona") == 0)
        have = sn->persona;
    else if (strcmp(t->key, "stage") == 0)
        have = sn->stage;
    return have != NULL && strcasecmp(have, t->value) == 0;
}

static int rank_filtered(const struct rank_query *q)
{
    return q->kinds || (q->content_id && q->content_id[0]) ||
           (q->rep_email && q->rep_email[0]) || q->from_ms || q->to_ms ||
           q->ntags;
}

static int rank_match(const struct rank_query *q,
                      const struct store_snippet *sn)
{
    size_t i;

    if (sn->deleted)
        return 0;
    if (q->kinds &&
        !(sn->kind >= 0 && sn->kind < 32 && (q->kinds & (1u << sn->kind))))
        return 0;
    if (q->content_id && q->content_id[0] &&
        strcmp(q->content_id, sn->content_id) != 0)
        return 0;
    if (q->rep_email && q->rep_email[0] &&
        strcasecmp(q->rep_email, sn->rep_email) != 0)
        return 0;
    if (q->from_ms && sn->create_ms < q->from_ms)
        return 0;
    if (q->to_ms && sn->create_ms >= q->to_ms)
        return 0;
    for (i = 0; i < q->ntags; i++)
        if (!rank_tag_match(sn, &q->tags[i]))
            return 0;
    return 1;
}

/* One round: the candidates of a search with k hits, checked in one read
 * transaction. */
struct rank_round {
    const struct rank_query *q;
    const uint64_t *labels;
    const float *dists;
    size_t n;
    size_t want;           /* matches to collect: offset + page + 1 */
    struct rank_hit *hits; /* want slots */
    size_t nhits;
    size_t examined;
};

static void rank_round_clear(struct rank_round *rd)
{
    size_t i;

    for (i = 0; i < rd->nhits; i++)
        store_snippet_clear(&rd->hits[i].sn);
    rd->nhits = 0;
    rd->examined = 0;
}

static sw_err rank_round_fn(store_txn *t, void *arg)
{
    struct rank_round *rd = arg;
    size_t i;
    sw_err rc = SW_OK;

    rank_round_clear(rd); /* store_view may rerun us */
    for (i = 0; i < rd->n && rd->nhits < rd->want; i++) {
        struct store_snippet sn = {0};
        char id[22];

        rd->examined++;
        rank_label_id(rd->labels[i], id);
        rc = store_snippet_get_txn(t, rd->q->team_id, id, &sn);
        if (rc == SW_ENOTFOUND) {
            rc = SW_OK; /* gone with its team, or never this team's */
            continue;
        }
        if (rc)
            return rc;
        if (!rank_match(rd->q, &sn)) {
            store_snippet_clear(&sn);
            continue;
        }
        rd->hits[rd->nhits].sn = sn;
        rd->hits[rd->nhits].score = 1.0 - (double)rd->dists[i];
        rd->nhits++;
    }
    return rc;
}

void rank_page_free(struct rank_page *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        store_snippet_clear(&p->hits[i].sn);
    sw_free(p->hits);
    sw_free(p->next_token);
    sw_free(p->note);
    memset(p, 0, sizeof(*p));
}

static SW_MUST_CHECK sw_err rank_check(rank_ranker *r,
                                       const struct rank_query *q,
                                       struct sw_buf *why)
{
    size_t i;

    if ((q->text == NULL) == (q->vec == NULL))
        return rank_why(why, "give exactly one of query text or vector");
    if (q->vec && q->vec_len != rank_ranker_dim(r) &&
        q->vec_len != rank_ranker_embed_dim(r))
        return rank_why(why, "query vector length must equal the embedding "
                             "dimension");
    if (q->text && q->text_len == 0)
        return rank_why(why, "query text is empty");
    if (q->ntags > RANK_TAGS_MAX)
        return rank_why(why, "at most 16 tag filters");
    for (i = 0; i < q->ntags; i++) {
        const char *k = q->tags[i].key;
        if (k == NULL || q->tags[i].value == NULL ||
            (strcmp(k, "topic") && strcmp(k, "intent") &&
             strcmp(k, "persona") && strcmp(k, "stage")))
            return rank_why(why, "tag keys are topic, intent, persona or "
                                 "stage");
    }
    if (q->from_ms && q->to_ms && q->to_ms <= q->from_ms)
        return rank_why(why, "time range end must be after its start");
    return SW_OK;
}

sw_err rank_search(rank_ranker *r, store *s, const struct rank_query *q,
                   struct rank_page *out, struct sw_buf *why)
{
    struct rank_round rd = {0};
    struct rank_page pg = {0};
    uint64_t *labels = NULL;
    float *dists = NULL, *vec = NULL;
    size_t page, offset = 0, k, i, dim = rank_ranker_dim(r), total;
    uint64_t qh;
    int caught_up = 0;
    sw_err rc;

    rc = rank_check(r, q, why);
    if (rc)
        return rc;
    page = q->page_size ? q->page_size : RANK_PAGE_DEFAULT;
    if (page > RANK_PAGE_MAX)
        page = RANK_PAGE_MAX; /* capped, never refused (AIP-158) */
    qh = rank_query_hash(q);
    if (q->page_token && q->page_token[0]) {
        rc = rank_token_parse(q->page_token, qh, &offset);
        if (rc)
            return rank_why(why, "page_token is not valid for this query");
    }
    /* Read-your-writes for small backlogs: apply what the indexer has not
     * yet, but never hold a search behind a large rebuild. */
    rc = rank_ranker_sync_nowait(r, q->team_id, 2048, &caught_up);
    if (rc)
        goto out;
    rc = rank_ranker_count(r, q->team_id, &total);
    if (rc)
        goto out;
    if (q->vec) {
        vec = sw_calloc(dim, sizeof(float)); /* zero-padded */
        if (vec == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        memcpy(vec, q->vec, q->vec_len * sizeof(float));
        double norm = 0;
        for (i = 0; i < dim; i++)
            norm += (double)vec[i] * vec[i];
        if (!(norm > 0) || !isfinite(norm)) {
            rc = rank_why(why, "query vector must be finite and non-zero");
            goto out;
        }
        for (i = 0; i < dim; i++)
            vec[i] = (float)(vec[i] / sqrt(norm));
    } else {
        vec = sw_malloc(dim * sizeof(float));
        if (vec == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        rc = rank_ranker_embed(r, q->team_id, q->text, q->text_len, vec);
        if (rc == SW_EINVAL) {
            rc = rank_why(why, "query text has no words");
            goto out;
        }
        if (rc == SW_EBUSY) {
            rc = rank_why(why, "text queries wait for the index rebuild "
                               "(the old embedder is unavailable); vector "
                               "queries are served");
            if (rc == SW_EINVAL)
                rc = SW_EBUSY;
            goto out;
        }
        if (rc)
            goto out;
    }
    rd.q = q;
    rd.want = offset + page + 1;
    rd.hits = sw_calloc(rd.want, sizeof(*rd.hits));
    if (rd.hits == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    k = rd.want * 2 < RANK_K_MIN ? RANK_K_MIN : rd.want * 2;
    for (;;) {
        size_t n = 0;
        if (total > 0 && k > total)
            k = total;
        if (k == 0) {
            pg.exhausted = 1;
            break;
        }
        sw_free(labels);
        sw_free(dists);
        labels = sw_malloc(k * sizeof(*labels));
        dists = sw_malloc(k * sizeof(*dists));
        if (labels == NULL || dists == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        rc = rank_ranker_search(r, q->team_id, vec, k, k, labels, dists, &n);
        if (rc)
            goto out;
        rd.labels = labels;
        rd.dists = dists;
        rd.n = n;
        rc = store_view(s, rank_round_fn, &rd);
        if (rc)
            goto out;
        pg.searched = rd.examined;
        if (rd.nhits >= rd.want)
            break;
        if (n < k || k >= total) {
            pg.exhausted = 1;
            break;
        }
        k *= 4;
    }
    /* The page: matches [offset, offset + page). */
    if (rd.nhits > offset) {
        size_t m = rd.nhits - offset < page ? rd.nhits - offset : page;
        pg.hits = sw_calloc(m, sizeof(*pg.hits));
        if (pg.hits == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        for (i = 0; i < m; i++) {
            pg.hits[i] = rd.hits[offset + i];
            memset(&rd.hits[offset + i], 0, sizeof(rd.hits[0]));
        }
        pg.n = m;
    }
    if (rd.nhits > offset + page && offset + page <= RANK_OFFSET_MAX) {
        rc = rank_token_make(offset + page, qh, &pg.next_token);
        if (rc)
            goto out;
    }
    if (pg.exhausted && rank_filtered(q) && pg.n < page) {
        struct sw_buf nb;
        sw_buf_init(&nb, 512);
        rc = sw_buf_printf(&nb,
                           "filters matched %zu of %zu indexed snippets "
                           "searched; the index is exhausted",
                           rd.nhits, pg.searched);
        if (rc == SW_OK)
            rc = sw_buf_take(&nb, &pg.note, NULL);
        sw_buf_free(&nb);
        if (rc)
            goto out;
    } else if (!caught_up) {
        pg.note = sw_strdup("the index is still catching up with new "
                            "snippets; recent ones may be missing");
        if (pg.note == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    *out = pg;
    memset(&pg, 0, sizeof(pg));
out:
    for (i = 0; i < rd.nhits; i++)
        store_snippet_clear(&rd.hits[i].sn);
    sw_free(rd.hits);
    rank_page_free(&pg);
    sw_free(labels);
    sw_free(dists);
    sw_free(vec);
    return rc;
}
