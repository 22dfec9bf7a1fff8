/* ingest/pipeline: from raw mail bytes (or an email already split into
 * fields) to a durable commit. It parses (ingest/mail.h), infers the
 * direction from the team's members and domains, links the thread
 * (Message-ID, In-Reply-To, References; else normalised subject plus shared
 * participants within 30 days), deduplicates the email (Message-ID, else a
 * hash of normalised headers and body) and its attachments (SHA-256 of the
 * bytes, then of the normalised text), and commits email, thread, contents
 * and the extraction job in ONE LMDB write transaction before returning.
 *
 * Group commit: parsing runs in the caller's thread; commits go to one
 * committer thread that takes every request queued at that moment into a
 * single write transaction (one fsync). ingest_email returns only after the
 * transaction holding its email has committed, so a successful return still
 * means the email is on disk.
 *
 * Thread-safety: ingest_email may be called from any number of threads at
 * once; open and close must not race with it. */
#ifndef INGEST_PIPELINE_H
#define INGEST_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "ingest/mail.h"
#include "store/store.h"

typedef struct ingest_pipeline ingest_pipeline;

/* Directions; equal to snipwise.v1.Direction and STORE_DIR_*. */
#define INGEST_DIR_UNSPECIFIED 0
#define INGEST_DIR_OUTBOUND 1
#define INGEST_DIR_INBOUND 2

/* Statuses; equal to snipwise.v1.IngestStatus. */
#define INGEST_NEW 1
#define INGEST_DUPLICATE 2

/* Threads are joined by subject only within this window. */
#define INGEST_THREAD_WINDOW_MS (30LL * 24 * 3600 * 1000)

/* Files larger than this are not kept in the content library by default
 * (the same bound as ingest_limits.max_attachment_bytes). */
#define INGEST_FILE_MAX_DEFAULT (16LL << 20)

struct ingest_pipeline_opts {
    struct ingest_limits limits; /* zeroed: ingest_limits_default */
    int batch_max;               /* emails per group commit; 0 = 256 */
    /* The content library (store/store_library.h): an attachment of more
     * bytes is kept as text and statistics only (STORE_FILE_TOO_LARGE);
     * 0 = INGEST_FILE_MAX_DEFAULT, negative: keep no file. */
    int64_t max_file_bytes;
    /* Bytes of kept files per team; an email whose new files would pass it
     * is refused whole with SW_EQUOTA and nothing of it is stored. 0 = no
     * quota. */
    int64_t quota_bytes;
};

/* ingest_pipeline_quota_bytes returns the per-team quota of kept files the
 * pipeline enforces (ingest_pipeline_opts.quota_bytes; 0 = none). */
int64_t ingest_pipeline_quota_bytes(const struct ingest_pipeline *p);

/* An attached file of an email given as fields. Borrowed. */
struct ingest_file {
    const char *filename;     /* may be NULL */
    const char *content_type; /* may be NULL or "" (detect) */
    const void *data;
    size_t len;
};

/* An email given as fields (snipwise.v1.ParsedEmail). All borrowed; NULL
 * strings count as empty. */
struct ingest_fields {
    const char *message_id; /* angle brackets optional */
    const char *in_reply_to;
    char *const *references;
    size_t n_references;
    const char *subject;
    const char *from; /* "Name <addr>" or "addr"; required */
    char *const *to;
    size_t n_to;
    char *const *cc;
    size_t n_cc;
    int64_t sent_ms;
    const char *text_body;
    const char *html_body; /* used when text_body is empty */
    const struct ingest_file *files;
    size_t n_files;
};

struct ingest_result;

/* A write made in the email's own transaction, so that a crash never
 * keeps one without the other: the mailbox sync moves its folder's UID
 * cursor this way (store_mailbox_folder_advance_txn). fn runs on the
 * committer thread in the write transaction, after the email's writes
 * succeeded, with the result so far (res->status tells a new email from
 * a duplicate). An error from fn fails the email's commit. fn may run
 * more than once (a transaction retried after the map grew, or the email
 * committed alone after its batch failed), each time in a fresh
 * transaction, so it must read what it changes through t. */
struct ingest_txn_hook {
    sw_err (*fn)(store_txn *t, const struct ingest_result *res, void *arg);
    void *arg;
};

/* One email to ingest: exactly one of raw (raw_len bytes of RFC 5322) or
 * fields. direction INGEST_DIR_UNSPECIFIED infers it. hook (optional,
 * borrowed until ingest_email_end) runs in the email's transaction. */
struct ingest_request {
    const void *raw;
    size_t raw_len;
    const struct ingest_fields *fields;
    int direction;
    const struct ingest_txn_hook *hook;
};

struct ingest_content_result {
    char *content_id;
    char *filename;
    int status; /* INGEST_NEW or INGEST_DUPLICATE (for the content item) */
    int state;  /* enum ingest_text_state */
};

/* What ingest_email did. Strings are owned (ingest_result_clear). */
struct ingest_result {
    int status; /* INGEST_NEW or INGEST_DUPLICATE */
    char *email_id;
    char *thread_id;
    int direction; /* used (given, inferred, or stored for a duplicate) */
    struct ingest_content_result *contents;
    size_t n_contents;
    char **defects;
    size_t n_defects;
    uint64_t job_id; /* 0 when no job was queued */
};

/* Time per stage of one ingest_email call, in microseconds. */
struct ingest_stats {
    int64_t parse_us;   /* MIME parse, attachment text included */
    int64_t attach_us;  /* attachment text alone, when measured apart
                           (fields path); 0 on the raw path */
    int64_t prepare_us; /* direction, hashes, normalisation */
    int64_t queue_us;   /* waiting for the committer */
    int64_t commit_us;  /* the write transaction, shared by the batch */
    int batch;          /* emails in that transaction */
};

/* Running totals over every call since open (for metrics and benchmarks). */
struct ingest_totals {
    uint64_t calls, new_emails, duplicates, rejected, commits;
    int64_t parse_us, prepare_us, queue_us, commit_us;
};

/* ingest_pipeline_open starts a pipeline (and its committer thread) over s,
 * which it borrows: s must outlive it. o may be NULL for defaults. Calls
 * ingest_mail_global_init. Errors: SW_EINVAL, SW_ENOMEM, SW_EINTERNAL (no
 * thread). */
SW_MUST_CHECK sw_err ingest_pipeline_open(store *s,
                                          const struct ingest_pipeline_opts *o,
                                          ingest_pipeline **out);

/* ingest_pipeline_on_jobs sets fn (NULL: none) to be called with arg on the
 * committer thread after each commit that queued at least one extraction
 * job, under the pipeline's lock: it must be quick and must not call into
 * the pipeline (snipd wakes the extraction worker with it,
 * ingest_worker_kick). arg must stay valid until the pipeline is closed or
 * fn is replaced. Thread-safe. */
void ingest_pipeline_on_jobs(ingest_pipeline *p, void (*fn)(void *arg),
                             void *arg);

/* ingest_pipeline_close stops the committer after the queued commits are
 * done, frees the pipeline and sets *p to NULL. NULL is accepted. No call
 * may be in flight. */
void ingest_pipeline_close(ingest_pipeline **p);

/* ingest_email ingests one email for team_id (which must exist) and fills
 * *res (zeroed first; caller clears it). When it returns SW_OK the email
 * (new) is committed with fsync, or was already stored (duplicate). st may
 * be NULL. why (optional) receives a reason fit for the API caller with
 * every SW_EINVAL, SW_EPARSE and SW_ETOOBIG.
 * Errors: SW_EINVAL (no or two sources, bad fields), SW_EPARSE (not a mail),
 * SW_ETOOBIG (over a limit), SW_ENOTFOUND (no such team), SW_ENOMEM,
 * SW_ESTORE, SW_EBUSY (the pipeline is closing). */
SW_MUST_CHECK sw_err ingest_email(ingest_pipeline *p, const char *team_id,
                                  const struct ingest_request *r,
                                  struct ingest_result *res,
                                  struct ingest_stats *st, struct sw_buf *why);

/* An ingest in flight: begun (parsed, queued for the committer) but not yet
 * known to be committed. */
typedef struct ingest_ticket ingest_ticket;

/* ingest_email_begin does what ingest_email does up to the commit and
 * returns at once with *t, so that a stream can parse the next email while
 * this one commits (and several commit together). r's memory must stay
 * valid until ingest_email_end. Every begun ticket must be ended.
 * Errors: as ingest_email, for the parse and preparation. */
SW_MUST_CHECK sw_err ingest_email_begin(ingest_pipeline *p, const char *team_id,
                                        const struct ingest_request *r,
                                        ingest_ticket **t, struct sw_buf *why);

/* ingest_email_end waits for the commit of *t, fills *res (may be NULL to
 * discard), st (may be NULL) and, when the commit fails for a reason the
 * caller can act on, why (may be NULL: which file and what figures for
 * SW_EQUOTA); frees the ticket and sets *t to NULL. SW_OK means durable, as
 * for ingest_email. Errors: those of the commit (SW_EQUOTA, SW_ENOTFOUND
 * for a team deleted meanwhile, SW_ENOMEM, SW_ESTORE, ...). */
SW_MUST_CHECK sw_err ingest_email_end(ingest_ticket **t,
                                      struct ingest_result *res,
                                      struct ingest_stats *st,
                                      struct sw_buf *why);

/* ingest_result_clear frees res's strings and zeroes it; NULL is fine. */
void ingest_result_clear(struct ingest_result *res);

/* ingest_pipeline_totals copies the running totals. Thread-safe. */
void ingest_pipeline_totals(ingest_pipeline *p, struct ingest_totals *out);

/* ingest_subject_key writes the normalised form of subject used for the
 * thread fallback into b (reset first): reply/forward prefixes in several
 * languages ("Re:", "Fwd:", "AW:", "SV:", "TR:", "Re[2]:", ...) removed
 * repeatedly, ASCII lowercased, whitespace collapsed and trimmed.
 * Errors: SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err ingest_subject_key(const char *subject, struct sw_buf *b);

/* ingest_subject_strip returns a pointer into subject past its reply and
 * forward prefixes (original case kept). */
const char *ingest_subject_strip(const char *subject);

#endif
