/* query: the built-in, deterministic query decomposition of Suggest (issue
 * 21): from what a rep typed ("the security whitepaper PDF from last
 * quarter", "the slides from 2025-11", "the pricing one-pager we sent in
 * March 2026") the content kinds asked for, a date range and the sales
 * topics. Suggest reports them (SuggestResponse.query) and, when the text
 * is about content, ranks the content that matches them first.
 *
 * English only; a phrase it does not know is ignored rather than guessed.
 * Pure functions: no allocation, no I/O, thread-safe. */
#ifndef RANK_QUERY_H
#define RANK_QUERY_H

#include <stddef.h>
#include <stdint.h>

/* Content kinds: snipwise.v1.ContentKind's numbers, which the store keeps
 * (tied to the generated enum in service/svc_enums.c). */
enum rank_content_kind {
    RANK_KIND_PDF = 1,
    RANK_KIND_DOCUMENT = 2,
    RANK_KIND_PRESENTATION = 3,
    RANK_KIND_SPREADSHEET = 4,
    RANK_KIND_HTML = 5,
    RANK_KIND_TEXT = 6,
    RANK_KIND_IMAGE = 7,
};

/* At most this many content kinds and topics are kept. */
#define RANK_QUERY_KINDS 8
#define RANK_QUERY_TOPICS 8

/* Bytes of text read (the rest is ignored). */
#define RANK_QUERY_TEXT_MAX 8192

struct rank_query {
    int kinds[RANK_QUERY_KINDS]; /* enum rank_content_kind, in the order
                                    first mentioned, distinct */
    size_t n_kinds;
    const char *topics[RANK_QUERY_TOPICS]; /* canonical names ("pricing",
                                              "case study"; static strings),
                                              in lexicon order, distinct */
    size_t n_topics;
    int has_range;     /* a date range was found */
    int64_t start_ms;  /* inclusive, Unix ms; 0 = open (as TimeRange) */
    int64_t end_ms;    /* exclusive; 0 = open */
    int about_content; /* the text speaks of a file (a kind, "attached",
                          "deck", "one-pager", ...): only then do the
                          kinds and range decide which content comes
                          first, so that "thanks for the call yesterday"
                          filters nothing */
};

/* rank_query_decompose reads text (NUL-terminated; NULL is empty) and
 * fills *out. Relative dates ("last quarter", "in March", "Q2",
 * "yesterday") are read against now_ms (UTC): a month, quarter or half
 * without a year is the latest one that has begun. The first date
 * expression found is the range; "since"/"after" before it leave the end
 * open, "before"/"until" leave the start open. A four-digit year alone
 * counts only where it reads as a date ("in 2025", "our 2025 deck", not
 * "2000 seats"). */
void rank_query_decompose(const char *text, int64_t now_ms,
                          struct rank_query *out);

/* rank_query_merge combines the decompositions of a draft and of the
 * thread it answers: the kinds of both (the draft's first), the topics of
 * both, and the range of the first of the two that speaks of content and
 * has one (a date in a text that speaks of no file is not about content:
 * "thanks for the call yesterday"). */
void rank_query_merge(const struct rank_query *draft,
                      const struct rank_query *ctx, struct rank_query *out);

/* rank_query_topic_count and rank_query_topic_name list the lexicon's
 * canonical topics (for tests and docs). */
size_t rank_query_topic_count(void);
const char *rank_query_topic_name(size_t i);

/* rank_days_from_civil returns the days since 1970-01-01 of a proleptic
 * Gregorian date (month 1-12, day 1-31; out-of-range days roll over). */
int64_t rank_days_from_civil(int64_t y, int m, int d);

#endif
