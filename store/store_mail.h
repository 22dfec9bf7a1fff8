/* store_mail: a team's emails, threads and content items (attachments stored
 * once), with the indexes ingest needs: Message-ID (or content hash) to
 * email, normalised subject to threads, SHA-256 of bytes and of normalised
 * text to content, per-content usage, and recency orders for listing.
 *
 * Databases (all team-prefixed, so store_team_delete removes everything):
 *   EMAILS          team\0email_id → EmailRecord
 *   EMAIL_IDS       team\0dedupe key → email_id (see store_mail_msgid_key),
 *                   and team\0"r:"Message-ID → thread_id: the thread of every
 *                   Message-ID a stored email has or references (its own,
 *                   In-Reply-To, References), so that a parent arriving
 *                   after its replies finds their thread
 *   THREADS         team\0thread_id → ThreadRecord
 *   THREAD_SUBJ     team\0subject_key\0thread_id → ""
 *   THREAD_RECENT   team\0~last_ms(8)thread_id → "" (newest first)
 *   CONTENTS        team\0content_id → ContentRecord
 *   CONTENT_HASH    team\0'b'sha256(bytes) | 't'sha256(text) → content_id
 *   CONTENT_USE     team\0content_id\0email_id → ""
 *   CONTENT_RECENT  team\0~last_used_ms(8)content_id → ""
 *
 * Conventions: as in store_tenant.h. Functions taking a store run their own
 * read transaction; functions taking a store_txn run inside the caller's
 * (the ingest pipeline commits one email with all its parts in one write
 * transaction). Structs hold strings the caller owns (sw_malloc'd); release
 * them with the matching _clear. All functions are thread-safe. */
#ifndef STORE_MAIL_H
#define STORE_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "base/sw_util.h"
#include "store/store.h"

#define STORE_DIR_OUTBOUND 1
#define STORE_DIR_INBOUND 2

/* Content states, equal to snipwise.v1.ExtractionState (and ingest/mail.h). */
#define STORE_TEXT_EXTRACTED 2

struct store_addr {
    char *name;  /* display name; "" when none */
    char *email; /* lowercased address; "" when none */
};

struct store_email_content {
    char *content_id;
    char *filename; /* the name in this email */
    int state;      /* ExtractionState of the content item */
    int is_new;     /* the item was first seen with this email */
};

struct store_email {
    char *email_id; /* "em_" and 16 hex digits */
    char *team_id;
    char *thread_id;
    char *message_id; /* without angle brackets; "" when absent */
    char *in_reply_to;
    char **references;
    size_t n_references;
    int direction; /* STORE_DIR_* */
    char *from_email;
    char *from_name;
    char *rep_email; /* team member involved; "" when none */
    char *subject;
    struct store_addr *to;
    size_t n_to;
    struct store_addr *cc;
    size_t n_cc;
    int64_t sent_ms;
    int64_t ingest_ms;
    char *body_text;
    char *new_text; /* body without quoted history and signature */
    struct store_email_content *contents;
    size_t n_contents;
    char **defects;
    size_t n_defects;
    int reply_kind; /* OutcomeKind set by the classifier; 0 until then */
    uint64_t seq;   /* the team's "email" sequence; set by store_email_put */
};

struct store_thread {
    char *thread_id; /* "th_" and 16 hex digits */
    char *team_id;
    char *subject;     /* first email's subject without Re:/Fwd: */
    char *subject_key; /* normalised subject; "" disables the fallback */
    char **participants;
    size_t n_participants;
    char **rep_emails;
    size_t n_rep_emails;
    int64_t first_ms;
    int64_t last_ms;
    char **email_ids; /* in arrival order */
    size_t n_emails;
    uint64_t seq; /* 0 for a new thread: store_thread_put assigns it */
};

/* Whether a content item's file is in the team's library; equal to
 * snipwise.v1.ContentFileState. */
#define STORE_FILE_KEPT 1      /* ReadContent returns it */
#define STORE_FILE_TOO_LARGE 2 /* over the per-file cap: text only */
#define STORE_FILE_NOT_KEPT 3  /* ingested before files were kept */
#define STORE_FILE_DELETED 4   /* removed from the library on request */

struct store_content {
    char *content_id; /* "ct_" and 16 hex digits */
    char *team_id;
    char *filename; /* the name it was first seen with */
    char *media_type;
    int kind;   /* ContentKind */
    int state;  /* ExtractionState */
    char *text; /* NUL-terminated; "" unless extracted */
    size_t text_len;
    unsigned char sha256[SW_SHA256_LEN];      /* of the bytes */
    char sha256_hex[2 * SW_SHA256_LEN + 1];   /* the same, as hex */
    unsigned char text_sha256[SW_SHA256_LEN]; /* of the normalised text */
    int has_text_sha;
    int64_t size_bytes;
    int pages;
    int64_t first_seen_ms;
    int64_t last_used_ms;
    char *detail; /* why the text is missing; "" when fine */
    int64_t times_used;
    int file_state; /* STORE_FILE_*: is the file in the library
                       (store_library.h, keyed by sha256)? */
    uint64_t seq;   /* 0 for a new item: store_content_put assigns it */
};

/* Filters of store_thread_list; zero fields mean no filter. */
struct store_thread_filter {
    const char *rep_email;
    int64_t last_from_ms; /* last_ms >= this */
    int64_t last_to_ms;   /* last_ms < this, when non-zero */
};

/* The _clear functions free a struct's strings and zero it; the _free
 * functions clear n items and free the array. NULL is accepted. */
void store_email_clear(struct store_email *e);
void store_thread_clear(struct store_thread *t);
void store_content_clear(struct store_content *c);
void store_threads_free(struct store_thread *items, size_t n);
void store_contents_free(struct store_content *items, size_t n);
/* store_strv_free frees n strings and the array; NULL is accepted. */
void store_strv_free(char **v, size_t n);

/* store_strv_add appends a copy of s to the array *v of *n strings unless
 * s is NULL, empty or there already (a set kept in insertion order, as
 * threads keep their emails, participants and reps). Errors: SW_ENOMEM
 * (*v and *n stay valid). */
SW_MUST_CHECK sw_err store_strv_add(char ***v, size_t *n, const char *s);

/* store_strv_union appends copies of the strings of add[0..nadd) that are
 * not NULL, empty or already in the set *v of *n strings, in their order,
 * until *n reaches max (0: no limit): store_strv_add for many, in time
 * linear in *n + nadd. Errors: SW_ENOMEM (*v and *n stay valid, possibly
 * with some of add appended). */
SW_MUST_CHECK sw_err store_strv_union(char ***v, size_t *n, char *const *add,
                                      size_t nadd, size_t max);

/* The most participants a thread keeps: addresses past it are left out of
 * the thread (they stay on its emails), so that a thread of many large
 * mailings does not grow a record rewritten with every email. */
#define STORE_THREAD_MAX_PARTICIPANTS 10000

/* --- Keys ------------------------------------------------------------- */

/* store_mail_msgid_key resets b to the EMAIL_IDS key (after the team prefix)
 * of a Message-ID: "m:" and the id without angle brackets, or "M:" and its
 * SHA-256 in hex when it is longer than 400 bytes. Errors: SW_EINVAL (empty
 * id), SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err store_mail_msgid_key(struct sw_buf *b, const char *msgid);

/* store_mail_hash_key resets b to the EMAIL_IDS key of an email without a
 * Message-ID: "h:" and the hex of sha (a hash of its normalised headers and
 * body). Errors: SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err
store_mail_hash_key(struct sw_buf *b, const unsigned char sha[SW_SHA256_LEN]);

/* --- Inside a transaction (the ingest pipeline) ----------------------- */

/* store_email_lookup finds the email stored under dedupe key dkey[0..dlen)
 * and writes a copy of its id to *email_id (sw_free).
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_email_lookup(store_txn *t, const char *team_id,
                                        const void *dkey, size_t dlen,
                                        char **email_id);

/* store_email_put stores a new email e (its email_id, team_id and thread_id
 * set) under dedupe key dkey (its Message-ID key, or its hash key when it
 * has no Message-ID), which must be free. Assigns e's sequence number
 * (written back to e->seq). Needs a write transaction.
 * Errors: SW_EEXIST (id or key taken), SW_EINVAL, SW_ENOMEM, SW_ETOOBIG,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_email_put(store_txn *t, struct store_email *e,
                                     const void *dkey, size_t dlen);

/* store_email_get_txn reads one email. Errors: SW_ENOTFOUND, SW_EINVAL,
 * SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_email_get_txn(store_txn *t, const char *team_id,
                                         const char *email_id,
                                         struct store_email *out);

/* store_email_set_reply_kind records the classified reply kind of an
 * email (for the classifier). Errors: as store_email_get_txn, SW_ETOOBIG. */
SW_MUST_CHECK sw_err store_email_set_reply_kind(store_txn *t,
                                                const char *team_id,
                                                const char *email_id, int kind);

/* store_thread_get_txn reads one thread. Errors: as store_email_get_txn. */
SW_MUST_CHECK sw_err store_thread_get_txn(store_txn *t, const char *team_id,
                                          const char *thread_id,
                                          struct store_thread *out);

/* store_thread_put creates or replaces thread th and keeps its subject and
 * recency indexes in step (the old recency entry is removed). A new thread
 * (th->seq == 0) gets the next "thread" sequence number, written back.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_put(store_txn *t, struct store_thread *th);

/* store_thread_by_subject returns the ids of up to max threads whose
 * subject_key equals key (newest ids last); the caller frees *ids with
 * store_strv_free. Errors: SW_EINVAL, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_by_subject(store_txn *t, const char *team_id,
                                             const char *key, size_t max,
                                             char ***ids, size_t *n);

/* store_thread_by_ref finds the thread that the Message-ID msgid (angle
 * brackets optional) belongs to: the thread of a stored email that has or
 * references it. An entry naming a thread that no longer exists (left by
 * an erasure) counts as none. *thread_id is sw_free'd by the caller.
 * Errors: SW_ENOTFOUND (also for an empty id), SW_ENOMEM, SW_ECORRUPT,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_by_ref(store_txn *t, const char *team_id,
                                         const char *msgid, char **thread_id);

/* store_thread_ref_put records that Message-ID msgid belongs to thread_id
 * (replacing what it named before). An empty msgid is ignored. Needs a
 * write transaction. Errors: SW_EINVAL, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_ref_put(store_txn *t, const char *team_id,
                                          const char *msgid,
                                          const char *thread_id);

/* store_thread_ref_del removes the entry of Message-ID msgid when it
 * names thread_id (the erasure of the last email that had or referenced
 * it: store_erase.h). An empty msgid, or an entry naming another thread,
 * is left alone. Errors: SW_EINVAL, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_ref_del(store_txn *t, const char *team_id,
                                          const char *msgid,
                                          const char *thread_id);

/* The team sequence every thread merge advances (store_seq_peek reads
 * it): emails then change threads, which the feed of new emails
 * (store_hist_email_feed) does not show. */
#define STORE_MERGE_SEQ "merge"

/* store_thread_merge moves thread from_id into *into (read by the caller in
 * t, another thread of the same team): every email of from_id is re-pointed
 * at into, and so are its Message-ID references, its outcomes and its
 * snippets; into gains its emails (appended), participants and reps and
 * the union of both time spans; from_id and its recency and subject index
 * entries are deleted. *into is updated in memory only: the caller writes
 * it with store_thread_put in the same write transaction.
 * Errors: SW_EINVAL (same or missing ids), SW_ENOTFOUND (from_id), SW_ENOMEM,
 * SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_merge(store_txn *t, struct store_thread *into,
                                        const char *from_id);

/* store_content_lookup finds the content item whose bytes (which 'b') or
 * normalised text (which 't') hash to sha; *content_id is sw_free'd by the
 * caller. Errors: SW_ENOTFOUND, SW_EINVAL, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_content_lookup(store_txn *t, const char *team_id,
                                          char which,
                                          const unsigned char sha[32],
                                          char **content_id);

/* store_content_get_txn reads one content item. Errors: as
 * store_email_get_txn. */
SW_MUST_CHECK sw_err store_content_get_txn(store_txn *t, const char *team_id,
                                           const char *content_id,
                                           struct store_content *out);

/* store_content_put creates or replaces content item c, indexing its byte
 * hash and (when has_text_sha and not yet taken) its text hash, and moving
 * its recency entry. A new item (c->seq == 0) gets the next "content"
 * sequence number, written back. Errors: as store_thread_put. */
SW_MUST_CHECK sw_err store_content_put(store_txn *t, struct store_content *c);

/* store_content_use_add records that email_id used content_id.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_content_use_add(store_txn *t, const char *team_id,
                                           const char *content_id,
                                           const char *email_id);

/* --- Reads (own read transaction) -------------------------------------- */

/* store_email_get reads email email_id of team_id into *out.
 * Errors: SW_ENOTFOUND (also for another team's id), SW_EINVAL, SW_ECORRUPT,
 * SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_email_get(store *s, const char *team_id,
                                     const char *email_id,
                                     struct store_email *out);

/* store_email_by_message_id reads the email with Message-ID msgid (angle
 * brackets optional). Errors: as store_email_get. */
SW_MUST_CHECK sw_err store_email_by_message_id(store *s, const char *team_id,
                                               const char *msgid,
                                               struct store_email *out);

/* store_thread_get reads one thread. Errors: as store_email_get. */
SW_MUST_CHECK sw_err store_thread_get(store *s, const char *team_id,
                                      const char *thread_id,
                                      struct store_thread *out);

/* store_content_get reads one content item, text included. Errors: as
 * store_email_get. */
SW_MUST_CHECK sw_err store_content_get(store *s, const char *team_id,
                                       const char *content_id,
                                       struct store_content *out);

/* store_content_emails returns the ids of up to max emails that used
 * content_id, in id order (caller frees with store_strv_free).
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_content_emails(store *s, const char *team_id,
                                          const char *content_id, size_t max,
                                          char ***ids, size_t *n);

/* store_thread_list returns one page of threads, most recently active
 * first, matching f (may be NULL). Paging as in store_tenant.h, over the
 * order and filters as they stood at the first page (the team's "email"
 * sequence then, kept in the token): a thread that gets mail while a
 * caller pages keeps its place, so each thread that existed at the first
 * page is listed once; threads begun later appear on a new listing. The
 * threads themselves are read as they are now. (Erasing mail while a
 * caller pages may move a thread and so repeat or skip it.)
 * Errors: SW_EINVAL (page size, token), SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_thread_list(store *s, const char *team_id,
                                       const struct store_thread_filter *f,
                                       int page_size, const char *page_token,
                                       struct store_thread **items, size_t *n,
                                       char **next_token, struct sw_buf *why);

/* store_content_list returns one page of content items, most recently used
 * first, of the given kinds (nkinds 0: all), text left out (text "" and
 * text_len kept). Paging and errors as store_thread_list. */
SW_MUST_CHECK sw_err store_content_list(store *s, const char *team_id,
                                        const int *kinds, size_t nkinds,
                                        int page_size, const char *page_token,
                                        struct store_content **items, size_t *n,
                                        char **next_token, struct sw_buf *why);

/* store_mail_check verifies the invariants of every team's mail in one read
 * transaction: each email's thread exists and lists it, each thread's
 * emails exist and point back, content references and usage entries
 * resolve, the Message-ID/hash index and the email records agree, every
 * job's email exists (jobs of deleted teams are counted apart, as they are
 * removed lazily), and the sequences are at least the largest number used.
 * Each violation is appended to report as one line; *violations receives
 * their count and *summary (optional) one line of totals.
 * Errors: SW_ESTORE, SW_ENOMEM (the check itself could not run). */
SW_MUST_CHECK sw_err store_mail_check(store *s, struct sw_buf *report,
                                      size_t *violations,
                                      struct sw_buf *summary);

#endif
