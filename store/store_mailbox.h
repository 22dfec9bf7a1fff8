/* store_mailbox: the mailboxes snipd keeps in sync over IMAP (issue 16):
 * their settings, their sealed secret, the state the sync worker reports,
 * and each folder's cursor (UIDVALIDITY and the highest UID ingested).
 *
 * Layout (team-prefixed, so a team's deletion takes them along):
 *   MAILBOXES        team\0mailbox_id → MailboxRecord
 *   MAILBOX_FOLDERS  team\0mailbox_id\0folder name → MailboxFolderRecord
 *
 * The secret is opaque here: callers seal it before store_mailbox_create
 * (ingest/imap_secret.h) and only the sync worker opens it. Every change is
 * a read-modify-write inside one write transaction, so the API handlers
 * (pause, credentials) and the worker (state) never lose each other's
 * updates. Thread-safe. Out-params are written only on SW_OK; returned
 * structs are owned by the caller (store_mailbox_clear,
 * store_mailbox_folders_free). */
#ifndef STORE_MAILBOX_H
#define STORE_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "proto/msg_table.h"
#include "store/store.h"

/* Kinds of secret. */
#define STORE_MAILBOX_PASSWORD 1
#define STORE_MAILBOX_OAUTH2 2

/* A mailbox. Strings are never NULL when returned. */
struct store_mailbox {
    char *team_id; /* filled by store_mailbox_list_all only */
    char *mailbox_id;
    char *rep_email;
    char *host;
    uint32_t port;
    int tls_mode; /* snipwise.v1.TlsMode */
    char *username;
    int auth_kind; /* STORE_MAILBOX_* */
    unsigned char *secret_box;
    size_t secret_len;
    char **folders; /* requested folders */
    size_t n_folders;
    int paused;
    int64_t create_ms;
    uint64_t cred_gen;
    uint64_t sync_req;
    int state; /* snipwise.v1.MailboxState */
    int64_t last_sync_ms;
    char *last_error;
    uint64_t auth_failed_gen;
    int backfill_days;   /* initial backfill window in days; -1: all mail */
    char *tls_ca_pem;    /* PEM CAs trusted instead of the system's; "": none */
    int allow_plaintext; /* plaintext (tls_mode 3) allowed to any host */
};

/* A folder's cursor and counters. */
struct store_mailbox_folder {
    char *name;
    uint32_t uid_validity;
    uint32_t last_uid;
    int64_t seen;
    int64_t ingested;
    int64_t backlog;
    int64_t rejected;    /* messages stepped over: refused by ingest or too
                            large, with their reason in the log */
    char *last_rejected; /* "UID n: why" of the latest, or "" */
};

/* The fields of the two structs, with their names in the stored records
 * (store/mailbox_records.proto) and in snipwise.v1's Mailbox and
 * MailboxFolder (proto/msg_table.h): the records are encoded and decoded,
 * the structs released and the API's messages filled from these tables
 * alone (what the API shows otherwise, the service sets by hand: the auth
 * kind as a word, the state while paused). store_mailbox_tables_check
 * verifies them against the descriptors of both sides (snipd checks at
 * start; tests/ingest/imap_test too). */
extern const struct msg_tfield store_mailbox_table[];
extern const size_t store_mailbox_table_n;
extern const struct msg_tfield store_mailbox_folder_table[];
extern const size_t store_mailbox_folder_table_n;

/* store_mailbox_tables_check checks both tables against the records'
 * descriptors and, when given (non-NULL), the API's Mailbox and
 * MailboxFolder descriptors. SW_EINTERNAL (logged). */
SW_MUST_CHECK sw_err
store_mailbox_tables_check(const ProtobufCMessageDescriptor *api_mailbox,
                           const ProtobufCMessageDescriptor *api_folder);

void store_mailbox_clear(struct store_mailbox *m);
void store_mailboxes_free(struct store_mailbox *m, size_t n);
void store_mailbox_folders_free(struct store_mailbox_folder *f, size_t n);

/* store_mailbox_create stores m (borrowed) for team_id under a new id
 * "mbx_" + 16 hex, which *id receives (sw_free). m->mailbox_id, team_id and
 * the state fields are ignored; create_ms is set to now and cred_gen to 1.
 * Errors: SW_EINVAL (no host, username or secret), SW_ENOTFOUND (no such
 * team), SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mailbox_create(store *s, const char *team_id,
                                          const struct store_mailbox *m,
                                          char **id);

/* store_mailbox_get reads one mailbox into *out. Errors: SW_ENOTFOUND,
 * SW_EINVAL (bad id), SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mailbox_get(store *s, const char *team_id,
                                       const char *mailbox_id,
                                       struct store_mailbox *out);

/* store_mailbox_list returns up to limit (1..1000) of the team's mailboxes
 * with ids after start_after ("" or NULL: from the first), in id order;
 * *more is set when more follow. Errors: SW_EINVAL, SW_ECORRUPT, SW_ESTORE,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mailbox_list(store *s, const char *team_id,
                                        const char *start_after, size_t limit,
                                        struct store_mailbox **out, size_t *n,
                                        int *more);

/* store_mailbox_list_all returns every mailbox of every team (team_id
 * filled), for the sync worker; at most max (more are left out and
 * logged). Errors: SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mailbox_list_all(store *s, size_t max,
                                            struct store_mailbox **out,
                                            size_t *n);

/* An edit of a mailbox: fn changes *m (strings it replaces must be
 * sw_malloc'ed; the old ones it frees) and returns SW_OK to write it, or an
 * error to write nothing. It may run more than once (store_update). */
typedef sw_err (*store_mailbox_edit_fn)(struct store_mailbox *m, void *arg);

/* store_mailbox_update reads the mailbox, applies fn and writes it back in
 * one write transaction; *out (may be NULL) receives the result. Errors:
 * SW_ENOTFOUND, fn's error, SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mailbox_update(store *s, const char *team_id,
                                          const char *mailbox_id,
                                          store_mailbox_edit_fn fn, void *arg,
                                          struct store_mailbox *out);

/* store_mailbox_delete deletes the mailbox and its folders' cursors (the
 * mail ingested stays). Errors: SW_ENOTFOUND, SW_EINVAL, SW_ESTORE. */
SW_MUST_CHECK sw_err store_mailbox_delete(store *s, const char *team_id,
                                          const char *mailbox_id);

/* store_mailbox_folders returns the mailbox's folder cursors in name order.
 * Errors: SW_EINVAL, SW_ECORRUPT, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_mailbox_folders(store *s, const char *team_id,
                                           const char *mailbox_id,
                                           struct store_mailbox_folder **out,
                                           size_t *n);

/* store_mailbox_folder_put writes f as the cursor of folder f->name of the
 * mailbox, in one write transaction that first checks the mailbox still
 * exists (a cursor never outlives its mailbox). Errors: SW_ENOTFOUND (the
 * mailbox was deleted), SW_EINVAL, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err
store_mailbox_folder_put(store *s, const char *team_id, const char *mailbox_id,
                         const struct store_mailbox_folder *f);

/* An advance of a folder's cursor by the mail that one transaction
 * commits (store_mailbox_folder_advance_txn). */
struct store_mailbox_advance {
    const char *team_id;
    const char *mailbox_id;
    const char *folder;
    uint32_t uid_validity;
    uint32_t from_uid; /* the cursor this advance follows */
    uint32_t to_uid;   /* the UID of the mail committed with it */
    int64_t seen;      /* added to the folder's counters */
    int64_t ingested;
    int64_t rejected;
    const char *rejected_why; /* becomes last_rejected; NULL: unchanged */
    int64_t backlog;          /* the folder's backlog once this mail is in
                                 (UIDs still to fetch); negative: unchanged */
};

/* store_mailbox_folder_advance_txn moves a folder's cursor inside write
 * transaction t, the one that commits the mail it covers, so that the
 * mail and the cursor are durable together or not at all. Only when the
 * stored cursor is at (a->uid_validity, a->from_uid) does it become
 * (a->uid_validity, a->to_uid), its seen, ingested and rejected counters
 * growing by a's (and last_rejected set to a->rejected_why, backlog to
 * a->backlog, when given);
 * otherwise (an earlier message of the batch was not committed, the folder was
 * rescanned, or the mailbox or its cursor is gone) nothing is written and
 * *moved is 0, so a failed message is never skipped. It reads what it changes
 * through t, so it may run again in a retried transaction. Errors: SW_EINVAL,
 * SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE, SW_ENOMEM (the transaction must then be
 * aborted). */
SW_MUST_CHECK sw_err store_mailbox_folder_advance_txn(
    store_txn *t, const struct store_mailbox_advance *a, int *moved);

#endif
