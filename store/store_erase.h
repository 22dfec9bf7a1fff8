/* store_erase: deleting what a team asked to forget, with every record
 * that points to it, so that `snipd check` finds nothing dangling.
 *
 * Each erasure counts in the team's "erase" sequence, which store_hist_seqs
 * folds into the state the ranker's statistics are built from: the
 * background publisher rebuilds them and what was erased leaves Suggest,
 * the statistics and the read responses (store_hist.h). */
#ifndef STORE_ERASE_H
#define STORE_ERASE_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "store/store.h"

/* What an erasure removed. snippet_ids (sw_free'd with store_strv_free)
 * name the snippets redacted, for the caller to drop from the search index
 * at once (the index re-checks the store anyway). */
struct store_erase_counts {
    size_t emails;      /* emails whose records were rewritten */
    char **snippet_ids; /* snippets redacted */
    size_t n_snippets;
    int64_t library_bytes; /* bytes of the file removed from the library */
};

void store_erase_counts_clear(struct store_erase_counts *c);

/* store_content_erase deletes content item content_id of team_id: its
 * snippets (key passages and the framings that introduce it) are redacted
 * as store_snippet_delete does, then in one write transaction the item's
 * record, its hash, usage and recency entries and its file in the content
 * library go, and every email that carried it loses it from its list of
 * attachments (the emails themselves stay). Redactions done before a
 * failure of the transaction stay; running it again finishes the job.
 * Runs its own transactions (do not call it while holding one). Errors:
 * SW_EINVAL, SW_ENOTFOUND (no such item), SW_ENOMEM, SW_ECORRUPT,
 * SW_ENOSPACE, SW_ESTORE. */
SW_MUST_CHECK sw_err store_content_erase(store *s, const char *team_id,
                                         const char *content_id,
                                         struct store_erase_counts *out);

/* store_outcome_erase deletes outcome outcome_id of team_id (recorded or
 * derived) with its idempotency key, so the same key may record it again
 * (a mistaken outcome, corrected). Runs its own transactions. Errors:
 * SW_EINVAL, SW_ENOTFOUND, SW_ENOMEM, SW_ECORRUPT, SW_ENOSPACE,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_outcome_erase(store *s, const char *team_id,
                                         const char *outcome_id);

#endif
