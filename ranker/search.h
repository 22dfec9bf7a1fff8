/* search: filtered, paginated snippet search over a team's index
 * (index.h). hnswlib 0.6 has no filter callback, so the search over-fetches
 * with a growing k and beam, checks each hit against the store (which also
 * drops deleted snippets), and stops when the page is full or the index is
 * exhausted, saying so in the result.
 *
 * Thread-safety: rank_search may run on many threads at once. */
#ifndef RANK_SEARCH_H
#define RANK_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "ranker/index.h"
#include "store/store_snippet.h"

#define RANK_PAGE_DEFAULT 10
#define RANK_PAGE_MAX 100
#define RANK_OFFSET_MAX 10000 /* deepest result reachable by paging */
#define RANK_TAGS_MAX 16

/* A tag filter: key is "topic", "intent", "persona" or "stage". */
struct rank_tag {
    const char *key;
    const char *value;
};

/* A query. Exactly one of text and vec is set. Strings are borrowed. */
struct rank_query {
    const char *team_id;
    const char *text; /* free text, embedded with the team's embedder */
    size_t text_len;
    const float *vec; /* or a vector of vec_len == dim floats */
    size_t vec_len;
    unsigned kinds;         /* bit (1 << kind); 0: every kind */
    const char *content_id; /* NULL or "": any */
    const char *rep_email;  /* NULL or "": any (compared case-insensitively) */
    int64_t from_ms, to_ms; /* create time in [from, to); 0: open */
    const struct rank_tag *tags;
    size_t ntags;
    size_t page_size; /* 0: RANK_PAGE_DEFAULT; above RANK_PAGE_MAX: capped */
    const char *page_token; /* NULL or "": first page */
};

struct rank_hit {
    struct store_snippet sn;
    double score; /* cosine similarity, higher is better */
};

/* A page of results, owned by the caller: free with rank_page_free. */
struct rank_page {
    struct rank_hit *hits;
    size_t n;
    char *next_token; /* NULL on the last page */
    int exhausted;    /* the index ran out before the page filled */
    char *note;       /* how filters limited the search, or NULL */
    size_t searched;  /* index hits examined */
};

/* rank_search runs q against its team's index in r, reading snippets from
 * s. Results are the snippets passing every filter, best first. Paging
 * tokens are tied to the query: reusing one with another query is
 * SW_EINVAL. Pages come from independent approximate searches, so a
 * snippet may rarely move across a page boundary.
 * Errors: SW_EINVAL (no or both queries, wrong vector length, no words in
 * the text, bad page size or token, unknown tag key; reason in why if not
 * NULL), SW_ENOMEM, SW_ESTORE, SW_EINTERNAL. out is written only on
 * SW_OK. */
SW_MUST_CHECK sw_err rank_search(rank_ranker *r, store *s,
                                 const struct rank_query *q,
                                 struct rank_page *out, struct sw_buf *why);

/* rank_page_free releases a page and zeroes it; NULL is accepted. */
void rank_page_free(struct rank_page *p);

#endif
