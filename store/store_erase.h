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
    size_t emails;   /* emails erased; store_content_erase: emails rewritten */
    size_t threads;  /* threads deleted (their last email erased) */
    size_t outcomes; /* outcomes deleted */
    size_t contents; /* content items deleted */
    size_t journal;  /* LLM journal entries redacted */
    char **snippet_ids; /* snippets redacted */
    size_t n_snippets;
    int64_t library_bytes; /* bytes of files removed from the library */
};

void store_erase_counts_clear(struct store_erase_counts *c);

/* The team sequence every erasure advances (store_seq_peek reads it):
 * store_hist_seqs folds it into the state the statistics are built from,
 * and the ranker drops what it kept on disk of an older state. */
#define STORE_ERASE_SEQ "erase"

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

/* Erasing emails (store_erase_mail.c). Each email goes in one write
 * transaction with everything derived from it alone:
 *   - its record, its Message-ID (or content hash) index entry and its
 *     entries in the content-use index;
 *   - its framings, redacted as store_snippet_delete does (key passages of
 *     a content item that stays lose their link to the email instead);
 *   - the outcomes derived from it (a classified reply), with their keys;
 *   - its queued extraction jobs, and what the LLM journal and cache hold
 *     of its calls (store_llm_forget_txn);
 *   - its place in its thread: the thread's participants, reps and times
 *     are rebuilt from the emails left, and a thread left without emails
 *     is deleted with its indexes and every outcome recorded on it.
 * An erased email may be ingested again later (its dedupe entry is gone).
 * Functions run their own transactions (do not call them while holding
 * one). A failure part-way leaves whole emails erased and the others
 * untouched; running it again finishes the job. *out is zeroed first and
 * accumulates (release with store_erase_counts_clear, also on error). */

/* What happens to content items no email carries any more. */
enum store_erase_content_mode {
    STORE_ERASE_KEEP_CONTENT = 0, /* they stay in the library */
    STORE_ERASE_UNUSED_CONTENT,   /* store_content_erase them */
};

/* store_email_erase erases email email_id of team_id.
 * Errors: SW_EINVAL, SW_ENOTFOUND (no such email), SW_ENOMEM, SW_ECORRUPT,
 * SW_ENOSPACE, SW_ESTORE. */
SW_MUST_CHECK sw_err store_email_erase(store *s, const char *team_id,
                                       const char *email_id,
                                       enum store_erase_content_mode content,
                                       struct store_erase_counts *out);

/* store_thread_erase erases every email of thread thread_id (and mail
 * that joins it meanwhile, for a few rounds), which deletes the thread.
 * Errors: as store_email_erase (SW_ENOTFOUND: no such thread). */
SW_MUST_CHECK sw_err store_thread_erase(store *s, const char *team_id,
                                        const char *thread_id,
                                        enum store_erase_content_mode content,
                                        struct store_erase_counts *out);

/* store_contact_erase forgets an address (matched lowercased): every email
 * from, to or cc it is erased as above, and content items that came in on
 * its mail (inbound, from it) and that no remaining email carries are
 * deleted from the library; the team's own files sent to it stay. Finding
 * the mail costs one scan of the team's emails. *out counts zero when the
 * team has no mail of the address (not an error).
 * Errors: SW_EINVAL (empty or over-long address), SW_ENOMEM, SW_ECORRUPT,
 * SW_ENOSPACE, SW_ESTORE. */
SW_MUST_CHECK sw_err store_contact_erase(store *s, const char *team_id,
                                         const char *address,
                                         struct store_erase_counts *out);

/* A test hook: fn(arg) runs after an erasure has planned (read the
 * snippets of its emails) and before the emails' write transactions, where
 * a test writes what an extraction worker could commit meanwhile. NULL
 * removes it; not for concurrent use. */
void store_erase_set_plan_hook(void (*fn)(void *arg), void *arg);

#endif
