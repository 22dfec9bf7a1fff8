/* ingest/imap_sync: the mailbox sync engine (issue 16). A small pool of
 * threads keeps every active mailbox of store_mailbox.h in step with its
 * IMAP server (ingest/imap_conn.h): per folder it EXAMINEs, checks
 * UIDVALIDITY (a change rescans the folder from UID 1; ingest's dedupe by
 * Message-ID keeps that free of duplicates), fetches the UIDs above its
 * cursor in batches and feeds them to the ingest pipeline, each message
 * moving the cursor (and the backlog) in the transaction that commits it:
 * a crash neither loses nor doubles a message. While one batch commits
 * the next is fetched and parsed; a failed commit stops the cursor before
 * it, and what was begun after it is fetched again later (and dedupes).
 * Batches hold at most `batch` messages and 8 MiB (a larger message comes
 * alone, and is not overlapped); at most two are held at once. Mail the
 * pipeline refuses as malformed, and mail whose RFC822.SIZE is over
 * max_message_bytes (never fetched), is stepped over for good: logged once
 * (event=mailbox.message_rejected) and counted in the folder's rejected
 * and last_rejected. Mail from the \Sent
 * folder is ingested as outbound whatever its From domain; other folders
 * leave the direction to the pipeline (team members and domains).
 *
 * Scheduling: a mailbox syncs when created, every poll interval after a
 * successful sync, at once on SyncMailbox (its sync_req changes), and
 * after a network or server error with exponential backoff and jitter. A
 * refused login stops the mailbox (AUTH_FAILED) until its credentials
 * change; a paused mailbox is left alone. Between polls a mailbox whose
 * server offers IDLE stays connected, waiting in IDLE on its INBOX and,
 * on a session of its own each, on its other folders (\Sent; at most
 * three sessions per mailbox), and syncs a folder as soon as the server
 * reports new mail in it (a server without IDLE, or that answers it
 * wrongly, is only polled; logged; a folder whose own session is refused,
 * e.g. by a cap on connections, is polled; logged). A login refused with
 * [LIMIT] or [UNAVAILABLE] backs off like a network error. An idling
 * mailbox keeps its thread unless other mailboxes are due. The engine finds
 * mailboxes by reading the store, so the API handlers only write records
 * and wake it.
 *
 * Thread-safety: every function may be called from any thread between
 * open and close. */
#ifndef INGEST_IMAP_SYNC_H
#define INGEST_IMAP_SYNC_H

#include <stdint.h>

#include "base/sw_err.h"
#include "ingest/imap_secret.h"
#include "ingest/pipeline.h"
#include "store/store.h"

/* Mailbox states; equal to snipwise.v1.MailboxState. */
#define INGEST_IMAP_CONNECTED 1
#define INGEST_IMAP_IDLE 2
#define INGEST_IMAP_SYNCING 3
#define INGEST_IMAP_BACKING_OFF 4
#define INGEST_IMAP_AUTH_FAILED 5
#define INGEST_IMAP_PAUSED 6

typedef struct ingest_imap_sync ingest_imap_sync;

struct ingest_imap_sync_opts {
    const char *data_dir;     /* holds mailbox.key (imap_secret.h) */
    int64_t poll_ms;          /* between syncs of a mailbox; 0 = 60000 */
    int timeout_s;            /* connect and every read; 0 = 60 */
    int threads;              /* mailboxes synced at once; 0 = 2 */
    int batch;                /* messages per UID FETCH; 0 = 500 */
    int64_t backoff_max_ms;   /* longest wait after errors; 0 = 300000 */
    size_t max_message_bytes; /* larger mail is refused by its RFC822.SIZE
                                 without being fetched; 0 or more than the
                                 pipeline's raw MIME cap (32 MiB): that cap */
};

/* ingest_imap_sync_open loads (or creates) the secrets key and prepares
 * the engine over s and p (borrowed: both must outlive it). Nothing runs
 * until ingest_imap_sync_start. Errors: those of ingest_imap_key_load,
 * SW_EINVAL, SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_sync_open(
    store *s, ingest_pipeline *p, const struct ingest_imap_sync_opts *o,
    ingest_imap_sync **out);

/* ingest_imap_sync_start starts the threads. Errors: SW_EINTERNAL (no
 * thread; those started are stopped again), SW_ESTATE (already started). */
SW_MUST_CHECK sw_err ingest_imap_sync_start(ingest_imap_sync *m);

/* ingest_imap_sync_key returns the key that seals secrets, for the API
 * handlers (ingest_imap_seal); valid until close. */
const ingest_imap_key *ingest_imap_sync_key(ingest_imap_sync *m);

/* ingest_imap_sync_wake makes the engine re-read the mailboxes now (after
 * a create, a credentials change, resume or SyncMailbox). NULL is
 * accepted. */
void ingest_imap_sync_wake(ingest_imap_sync *m);

/* ingest_imap_sync_close stops the threads, aborting the network reads in
 * progress (so it returns within about a second, not a read timeout),
 * frees the engine and sets *m to NULL. A folder interrupted mid-batch
 * resumes from its cursor at the next start. NULL is accepted. */
void ingest_imap_sync_close(ingest_imap_sync **m);

#endif
