/* ingest/imap_sync_int: what the mailbox sync engine's two files share:
 * imap_sync.c (the scheduler, and the sync of a mailbox folder by folder)
 * and imap_idle.c (new mail by IDLE between polls). Included by those two
 * only. */
#ifndef INGEST_IMAP_SYNC_INT_H
#define INGEST_IMAP_SYNC_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "ingest/imap_conn.h"
#include "ingest/imap_sync.h"
#include "store/store_mailbox.h"

#define IMAP_SYNC_MAX_MAILBOXES 10000
#define IMAP_SYNC_REFRESH_MS                                                   \
    1000 /* re-read the mailboxes at least this often */
#define IMAP_SYNC_BACKOFF_MIN_MS 1000
#define IMAP_SYNC_WHY_MAX 1024
#define IMAP_SYNC_BATCH_BYTES                                                  \
    (8u << 20) /* bytes per UID FETCH; a larger message comes alone */
#define IMAP_SYNC_IDLE_SLICE_MS 200 /* checks of stop, pause, etc. in IDLE */
#define IMAP_SYNC_IDLE_MAX_MS                                                  \
    (25 * 60 * 1000) /* RFC 2177: re-issue IDLE within 29 minutes */
#define IMAP_SYNC_NO_IDLE_MS                                                   \
    (60 * 60 * 1000) /* poll only, after IDLE failed or is not offered */
#define IMAP_SYNC_WATCHES                                                      \
    3 /* sessions an idling mailbox holds: its own, and one in IDLE on each    \
         other folder followed (\Sent) up to this; more are polled */

/* The scheduler's view of one mailbox. */
struct imap_entry {
    char *team_id;
    char *mailbox_id;
    int present;           /* seen by the last refresh */
    int busy;              /* a thread is syncing it */
    int eligible;          /* not paused, credentials not refused */
    int64_t due_ms;        /* monotonic time of the next sync */
    int64_t backoff_ms;    /* 0 after a success */
    uint64_t sync_req;     /* the record's sync_req at the last refresh */
    uint64_t done_req;     /* the sync_req the last sync started under */
    int64_t no_idle_until; /* monotonic: no IDLE before (polling only) */
};

/* One worker thread's slot: its sessions, so close can abort their
 * reads. */
struct imap_worker {
    struct ingest_imap_sync *m;
    pthread_t th;
    /* Guarded by m->mu: [0] the mailbox's session, the others its IDLE
     * watches (imap_watch_open). */
    ingest_imap_conn *conn[IMAP_SYNC_WATCHES];
};

struct ingest_imap_sync {
    store *st;
    ingest_pipeline *p;
    ingest_imap_key *key;
    struct ingest_imap_sync_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int wake;
    int64_t refreshed_ms;
    struct imap_entry *e;
    size_t ne, cap;
    struct imap_worker *w;
    int nstarted;
    int nbusy; /* workers syncing (or idling in) a mailbox */
    uint64_t rng;
};

/* --- Status written back to the record -------------------------------- */

struct imap_status {
    int state;
    const char *error; /* "" clears */
    int synced;        /* set last_sync_ms to now */
    int auth_failed;   /* the server refused cred_gen */
    uint64_t cred_gen;
};

struct imap_flight;

/* The sync of one mailbox in progress. */
struct imap_run {
    ingest_imap_sync *m;
    struct imap_worker *w;
    const struct store_mailbox *mb;
    ingest_imap_conn *conn;
    struct store_mailbox_folder cur; /* the folder's cursor, as ended */
    int direction;
    sw_err hard; /* a failure that stops the folder (cursor kept) */
    struct sw_buf why;
    char *sent;        /* the \Sent folder, or NULL */
    uint64_t sync_req; /* the record's sync_req this session answered */
    int64_t woke_us;   /* IDLE: when the server's data arrived */
    int64_t done_us;   /* IDLE: when DONE was answered */
    /* The backfill in flight (imap_batch): the advances chain from the
     * last message begun, which runs ahead of cur.last_uid (the last
     * ended) while a batch commits. */
    struct imap_flight *fl; /* the batch begun and not yet ended, or NULL */
    uint32_t chain_uid;     /* the UID the next advance follows */
    int64_t skipped;        /* malformed since chain_uid, up to skip_uid */
    uint32_t skip_uid;
    char *skip_why;       /* the latest one's reason (owned) */
    sw_err broken;        /* the first failure an end found; nothing after it in
                             UID order may move the cursor */
    const uint32_t *uids; /* the UIDs of this pass, for the backlog */
    size_t nuids;
    /* Where a folder sync's time goes (mailbox.folder_synced): UID FETCH
     * commands in all, and within them the copy, parse and queueing of
     * the batches (begin) and the wait for the batch before to commit
     * (land); then the last batch's commit and the save (settle). */
    int64_t fetch_us, begin_us, land_us, settle_us;
};

/* ingest_imap__say writes a sentence for last_error into why; a sentence
 * cut short by why's cap (or lost to memory) only loses words, so the
 * result is not checked. */
void ingest_imap__say(struct sw_buf *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ingest_imap__status_set writes s into mb's record (a failure is
 * logged: the state is only a report). */
void ingest_imap__status_set(ingest_imap_sync *m,
                             const struct store_mailbox *mb,
                             const struct imap_status *s);

/* ingest_imap__folder_sync brings one folder up to date on r->conn, with
 * r->direction. */
sw_err ingest_imap__folder_sync(struct imap_run *r, const char *folder);

/* ingest_imap__folders_sync finds the \Sent folder (r->sent) and syncs
 * the folders asked for, or INBOX and \Sent. */
sw_err ingest_imap__folders_sync(struct imap_run *r);

/* ingest_imap__refresh re-reads every mailbox (under m->mu). */
void ingest_imap__refresh(ingest_imap_sync *m);

/* ingest_imap__pick returns the index of a due mailbox, or -1 and the
 * wait until the next one in *wait_ms. Under m->mu. */
long ingest_imap__pick(ingest_imap_sync *m, int64_t now, int64_t *wait_ms);

/* ingest_imap__entry_of returns the scheduler's entry of mb, or NULL.
 * Under m->mu. */
struct imap_entry *ingest_imap__entry_of(ingest_imap_sync *m,
                                         const struct store_mailbox *mb);

/* ingest_imap__conn_set publishes (or clears) the worker's session i for
 * abort. */
void ingest_imap__conn_set(struct imap_run *r, size_t i, ingest_imap_conn *c);

/* ingest_imap__idle keeps the mailbox up to date by IDLE after a sync
 * pass (imap_idle.c says how). */
sw_err ingest_imap__idle(struct imap_run *r);

#endif
