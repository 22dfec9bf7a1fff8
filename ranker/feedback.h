/* feedback: what reps did with suggestions (RecordFeedback, stored by
 * store_feedback.h), tallied for the ranking (docs/RANKING.md, "Feedback").
 *
 * Two layers:
 *   - rank_fbraw, the running tally of a team's feedback feed per target
 *     (a content id or a snippet id, as the item ids name them) and per
 *     (target, rep). Its owner (the engine's publisher, under the team's
 *     build lock) catches it up with the records stored since it last
 *     read: a feedback costs its own record, never a rescan of the feed.
 *     The feed is append-only (feedback is never erased or edited), which
 *     is what makes the running tally exact.
 *   - rank_fb, that tally rolled up to the items of one rank_hist: a
 *     snippet counts for its framing family, so a dismissal of one wording
 *     lowers the family whichever member is shown next. Built in time
 *     linear in the tally's entries (not in the records), immutable once
 *     built, read by any number of Suggest calls.
 *
 * Thread-safety: a rank_fbraw is its owner's alone; a built rank_fb may be
 * read by many threads at once. */
#ifndef RANK_FEEDBACK_H
#define RANK_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "ranker/hist.h"
#include "ranker/rank_int.h"
#include "store/store.h"

/* FeedbackKind numbers (snipwise.v1.FeedbackKind), one table: the kind,
 * its number and its name in explanations. */
#define RANK_FB_KIND_LIST(X)                                                   \
    X(RANK_FB_SHOWN, 1, "shown")                                               \
    X(RANK_FB_INSERTED, 2, "inserted")                                         \
    X(RANK_FB_COPIED, 3, "copied")                                             \
    X(RANK_FB_DISMISSED, 4, "dismissed")                                       \
    X(RANK_FB_THUMBS_UP, 5, "thumbs up")                                       \
    X(RANK_FB_THUMBS_DOWN, 6, "thumbs down")

enum {
#define RANK_FB_ENUM(name, num, text) name = num,
    RANK_FB_KIND_LIST(RANK_FB_ENUM)
#undef RANK_FB_ENUM
};

/* Arrays indexed by kind have RANK_FB_KINDS entries (entry 0 unused). */
#define RANK_FB_KINDS 7

/* The newest inserts (inserted or copied) whose times an entry keeps, to
 * count those whose mail has not arrived yet (rank_fb_pending). */
#define RANK_FB_TIMES 16

/* Feedback counts of one item, for the team or for one rep. */
struct rank_fb_counts {
    int64_t n[RANK_FB_KINDS]; /* records by FeedbackKind */
};

/* One entry of a tally: its counts and the times of its newest inserts,
 * newest first. */
struct rank_fb_entry {
    struct rank_fb_counts c;
    int64_t ins_ms[RANK_FB_TIMES];
    uint32_t nins;
};

/* rank_fb_kind_name names kind ("thumbs up"); "" when not a kind. */
const char *rank_fb_kind_name(int kind);

/* --- The running tally --------------------------------------------------- */

typedef struct rank_fbraw rank_fbraw;

/* rank_fbraw_new makes an empty tally (it has read nothing: seq 0).
 * Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_fbraw_new(rank_fbraw **out);
void rank_fbraw_free(rank_fbraw **r);

/* rank_fbraw_seq: the seq of the newest feed record counted (0: none). */
uint64_t rank_fbraw_seq(const rank_fbraw *r);

/* rank_fbraw_catch_up adds to r team_id's feedback records newer than
 * r's seq, read in transaction t, and sets r's seq to the newest (a
 * record of an unknown kind or target counts for nothing). On any
 * error r is emptied (seq 0), so that the next catch-up reads the whole
 * feed: a tally is never half caught up. Errors: SW_EINVAL, SW_ENOMEM,
 * SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_fbraw_catch_up(rank_fbraw *r, store_txn *t,
                                         const char *team_id);

/* --- The tally by item --------------------------------------------------- */

struct rank_fb {
    struct rank__map by_key; /* rank_fb_key → entry index */
    struct rank_fb_entry *entries;
    size_t n;
    uint64_t seq;   /* the raw tally's seq it was built from */
    int64_t now_ms; /* the newest action time in the feed (0: none) */
};

/* rank_fb_build rolls r up to h's items: a content target to its content
 * item, a snippet to its framing family's item (or, for a key passage,
 * to its content item), a target h does not know (newer than h) under
 * its own id, rolled up once h knows it. Each item gets a team entry and
 * one per rep. On success *out is the caller's (rank_fb_free).
 * Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_fb_build(const rank_fbraw *r,
                                   const struct rank_hist *h,
                                   struct rank_fb **out);
void rank_fb_free(struct rank_fb **f);

/* rank_fb_get returns the entry of h's item it (kind 'c' or 'f', by id)
 * for rep (NULL or "": the team's), or NULL when nobody gave feedback on
 * it. Rep emails compare without case. f may be NULL (no tally). */
const struct rank_fb_entry *rank_fb_get(const struct rank_fb *f,
                                        const struct rank_hitem *it,
                                        const char *rep);

/* rank_fb_pending counts e's inserts that are uses not yet in the
 * statistics: newer than the item's latest use (last_use_ms: the mail
 * that carried an insert is sent after it) and than since_ms (older
 * inserts whose mail never came are not counted). At most
 * RANK_FB_TIMES. */
int64_t rank_fb_pending(const struct rank_fb_entry *e, int64_t last_use_ms,
                        int64_t since_ms);

#endif
