/* store: Snipwise's only view of LMDB. It opens the environment and its named
 * databases, runs transactions (growing the map when it fills), and offers
 * key/value operations, team-prefixed keys and per-team sequence counters.
 *
 * Key layout. Every record that belongs to a team lives under a key that
 * begins with the team id and a NUL byte: "team_3f9c0d1e2a4b5c6d\0rest".
 * The NUL keeps one team's prefix from matching another's ("t1\0" is not a
 * prefix of "t10\0..."), so a prefix scan or delete never crosses teams.
 * Build such keys with store_key. Admin-owned records use the empty team id,
 * giving keys "\0rest". Numbers inside keys are 8-byte big-endian
 * (store_key_add_u64) so that byte order equals numeric order.
 * Databases whose keys are not team-prefixed are marked so in STORE_DB_LIST.
 *
 * Several processes may open the same directory at once (the server and the
 * nightly job); LMDB coordinates them through its lock file. Within one
 * process, open a directory at most once and share the handle.
 *
 * Thread-safety: a store handle may be used from any number of threads. A
 * transaction belongs to one thread at a time but may move between threads
 * (the environment uses MDB_NOTLS). LMDB allows one write transaction at a
 * time across all processes; store_txn_begin(write) waits for it. */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"

typedef struct store store;
typedef struct store_txn store_txn;

/* The named databases: X(enum name, LMDB name, team-prefixed keys). To add a
 * database, append one row; existing environments gain it on their next
 * open. Never rename or reorder the LMDB names of existing rows.
 *   META         schema version and other store-wide records; not prefixed.
 *   TEAMS        team_id → TeamRecord; the key is the bare team id.
 *   KEYS         team_id\0key_id → KeyRecord (team_id "" for admin keys).
 *   KEY_HASHES   SHA-256(secret) → team_id\0key_id (the KEYS key).
 *   KEY_IDS      key_id → team_id, to find a key by id alone.
 *   MEMBERS      team_id\0email → MemberRecord.
 *   DOMAINS      team_id\0domain → DomainRecord.
 *   SEQ          team_id\0name → 8-byte big-endian counter.
 *   SNIPPETS     team_id\0snippet_id → SnippetRecord (store_snippet.h).
 *   SNIPPET_SEQ  team_id\0seq → snippet_id, the change feed of snippets.
 *   RANK_META    team_id\0name → ranker index metadata (ranker/index.h).
 *   RANK_DF      team_id\0term hash → document frequency (ranker/embed.h).
 *   RANK_SNAP    team_id\0chunk → ranker index snapshot chunks.
 *   EMAILS .. CONTENT_RECENT: mail, threads and contents (store_mail.h).
 *   JOBS         job_id → JobRecord, the store-wide queue (store_job.h).
 *   JOB_TEAM     team_id\0job_id → empty, a team's jobs (store_job.h).
 *   LLM_CACHE .. LLM_BUDGET: LLM cache, journal, daily tokens (store_llm.h).
 *   OUTCOMES, OUTCOME_KEYS: thread outcomes (store_outcome.h).
 *   FEEDBACK, FEEDBACK_KEYS: feedback on suggestions (store_feedback.h).
 *   RANK_MODELS, RANK_BLOBS: ranking models and their data
 *                (ranker/model.h).
 *   LIBRARY, LIBRARY_USAGE: the kept files of content items and each
 *                team's usage (store_library.h).
 *   REQUEST_IDS  team_id\0method\0request_id → the sealed response of an
 *                idempotent create (service/svc_idem.h).
 *   MAILBOXES, MAILBOX_FOLDERS: IMAP mailboxes kept in sync and their
 *                folders' UID cursors (store_mailbox.h).
 *   EMAIL_SEQ    team_id\0seq → email_id, the feed of new emails by their
 *                "email" sequence (store_hist_email_feed); written by
 *                store_email_put, removed with the email. Emails stored
 *                before it existed have no entry. */
#define STORE_DB_LIST(X)                                                       \
    X(STORE_DB_META, "meta", 0)                                                \
    X(STORE_DB_TEAMS, "teams", 0)                                              \
    X(STORE_DB_KEYS, "keys", 1)                                                \
    X(STORE_DB_KEY_HASHES, "key_hashes", 0)                                    \
    X(STORE_DB_KEY_IDS, "key_ids", 0)                                          \
    X(STORE_DB_MEMBERS, "members", 1)                                          \
    X(STORE_DB_DOMAINS, "domains", 1)                                          \
    X(STORE_DB_SEQ, "seq", 1)                                                  \
    X(STORE_DB_SNIPPETS, "snippets", 1)                                        \
    X(STORE_DB_SNIPPET_SEQ, "snippet_seq", 1)                                  \
    X(STORE_DB_RANK_META, "rank_meta", 1)                                      \
    X(STORE_DB_RANK_DF, "rank_df", 1)                                          \
    X(STORE_DB_RANK_SNAP, "rank_snap", 1)                                      \
    X(STORE_DB_EMAILS, "emails", 1)                                            \
    X(STORE_DB_EMAIL_IDS, "email_ids", 1)                                      \
    X(STORE_DB_THREADS, "threads", 1)                                          \
    X(STORE_DB_THREAD_SUBJ, "thread_subj", 1)                                  \
    X(STORE_DB_THREAD_RECENT, "thread_recent", 1)                              \
    X(STORE_DB_CONTENTS, "contents", 1)                                        \
    X(STORE_DB_CONTENT_HASH, "content_hash", 1)                                \
    X(STORE_DB_CONTENT_USE, "content_use", 1)                                  \
    X(STORE_DB_CONTENT_RECENT, "content_recent", 1)                            \
    X(STORE_DB_JOBS, "jobs", 0)                                                \
    X(STORE_DB_JOB_TEAM, "job_team", 1)                                        \
    X(STORE_DB_LLM_CACHE, "llm_cache", 1)                                      \
    X(STORE_DB_LLM_JOURNAL, "llm_journal", 1)                                  \
    X(STORE_DB_LLM_BUDGET, "llm_budget", 1)                                    \
    X(STORE_DB_OUTCOMES, "outcomes", 1)                                        \
    X(STORE_DB_OUTCOME_KEYS, "outcome_keys", 1)                                \
    X(STORE_DB_FEEDBACK, "feedback", 1)                                        \
    X(STORE_DB_FEEDBACK_KEYS, "feedback_keys", 1)                              \
    X(STORE_DB_RANK_MODELS, "rank_models", 1)                                  \
    X(STORE_DB_RANK_BLOBS, "rank_blobs", 1)                                    \
    X(STORE_DB_LIBRARY, "library", 1)                                          \
    X(STORE_DB_LIBRARY_USAGE, "library_usage", 1)                              \
    X(STORE_DB_MAILBOXES, "mailboxes", 1)                                      \
    X(STORE_DB_MAILBOX_FOLDERS, "mailbox_folders", 1)                          \
    X(STORE_DB_REQUEST_IDS, "request_ids", 1)                                  \
    X(STORE_DB_EMAIL_SEQ, "email_seq", 1)

enum store_db {
#define STORE_DB_ENUM(name, lmdb_name, prefixed) name,
    STORE_DB_LIST(STORE_DB_ENUM)
#undef STORE_DB_ENUM
        STORE_DB_COUNT
};

/* The schema version this code writes and understands, and the META key it
 * is stored under (an 8-byte big-endian number). */
#define STORE_SCHEMA_VERSION 1
#define STORE_META_SCHEMA_KEY "schema_version"

struct store_opts {
    const char *dir;      /* directory of the environment (see store_open) */
    size_t map_bytes;     /* initial map size; 0 = 64 MiB, or max_map_bytes
                             when that is smaller */
    size_t max_map_bytes; /* the map never grows past this; 0 = 1 TiB */
    unsigned max_readers; /* concurrent read transactions; 0 = 512 */
    int must_exist;       /* 1: open only an existing store, create nothing */
    size_t purge_slice;   /* records deleted per write transaction when a
                             team is deleted (store_team_delete); 0 =
                             STORE_PURGE_SLICE */
};

/* The records a team deletion removes per write transaction by default:
 * tens of milliseconds of the writer (store_team_delete). */
#define STORE_PURGE_SLICE 20000

/* store_open opens the Snipwise store in o->dir. On success *out is a
 * handle the caller closes with store_close.
 *
 * With o->must_exist == 1 (every snipd command but serve) o->dir must
 * already hold a Snipwise store: a non-empty data.mdb whose META database
 * holds the schema-version record. Anything else (a missing or mistyped
 * directory, an empty directory, another program's LMDB file) is refused
 * with SW_ENOTFOUND before anything is written, and nothing is created: no
 * directory, no data.mdb. (Opening an existing store may create its
 * lock.mdb, which LMDB rebuilds whenever it is missing, e.g. after a
 * restore.)
 *
 * With o->must_exist == 0 (snipd serve, tests) a missing o->dir is created
 * with mode 0700, but only its last component: a missing parent directory
 * is refused with SW_ENOTFOUND, so that a mistyped path never grows a tree
 * of directories. A directory without data.mdb gets a new store (logged as
 * event=store.created dir=...); an existing store is opened as above.
 *
 * Either way any named database a newer row of STORE_DB_LIST added is
 * created, and the schema version is checked.
 * Errors: SW_EINVAL (no dir, or map_bytes > max_map_bytes), SW_ENOTFOUND
 * (not a store, or a missing parent: see above), SW_EIO (the directory
 * cannot be created, or dir is not a directory), SW_ESCHEMA (the store was
 * written by a newer Snipwise), SW_ECORRUPT, SW_ENOSPACE (no room on the
 * disk for a new store), SW_ESTORE, SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err store_open(const struct store_opts *o, store **out);

/* store_close closes the environment and frees the handle, then sets *s to
 * NULL. Accepts NULL and a pointer to NULL. Every transaction must have ended
 * first; no other thread may be using the handle. */
void store_close(store **s);

/* store_txn_begin starts a read (write == 0) or write transaction. A write
 * transaction waits for any other writer, in this or another process. End it
 * with store_txn_commit or store_txn_abort. Do not begin a write transaction
 * in a thread that already holds one. Prefer store_update and store_view,
 * which also handle a full map.
 * Errors: SW_EINVAL, SW_ESTORE, SW_ENOMEM, SW_ECORRUPT. *out is written only on
 * success. */
SW_MUST_CHECK sw_err store_txn_begin(store *s, int write, store_txn **out);

/* store_txn_commit commits the transaction and frees it, setting *t to NULL,
 * whatever the result. For a write transaction SW_OK means durable. A read
 * transaction commits like an abort. Errors: SW_ENOSPACE (the map or the
 * disk is full: nothing was written; store_update grows a map that is not
 * yet at its maximum), SW_ESTORE, SW_EINVAL (NULL). */
SW_MUST_CHECK sw_err store_txn_commit(store_txn **t);

/* store_txn_abort discards the transaction and frees it, setting *t to NULL.
 * Accepts NULL and a pointer to NULL. */
void store_txn_abort(store_txn **t);

/* The callback run by store_update and store_view. Its result is returned
 * by them; a failure aborts the transaction. */
typedef sw_err (*store_txn_fn)(store_txn *t, void *arg);

/* store_update runs fn in a write transaction and commits it if fn returns
 * SW_OK. When the map fills up (during fn or at commit) it aborts, doubles
 * the map (up to max_map_bytes) and runs fn again, so fn must have no side
 * effects outside the transaction other than resetting and filling its own
 * outputs in arg: it may run more than once. While it grows the map it waits
 * for every transaction of this process to end, so never call it from a
 * thread that holds a transaction.
 * Errors: fn's error; SW_ENOSPACE when the map is full at max_map_bytes or
 * the filesystem is full (ENOSPC, EDQUOT): nothing of this transaction was
 * written, earlier commits are intact, read transactions go on working,
 * and a later call succeeds once there is room again (store_nospace_why
 * says which it was); SW_ESTORE, SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err store_update(store *s, store_txn_fn fn, void *arg);

/* store_view runs fn in a read transaction, which sees one consistent
 * snapshot, then ends it. Values fn reads are valid only inside fn.
 * Errors: fn's error, SW_ESTORE, SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err store_view(store *s, store_txn_fn fn, void *arg);

/* store_txn_is_write returns 1 for a write transaction, else 0. */
int store_txn_is_write(const store_txn *t);

/* store_get looks up key[0..klen) in db. On success *val points into the
 * transaction's snapshot and stays valid until the transaction ends (or, in
 * a write transaction, until the next write to db); never free or modify it,
 * and copy it out before the transaction ends. It is not NUL-terminated.
 * Errors: SW_ENOTFOUND, SW_EINVAL (empty or over-long key), SW_ESTORE,
 * SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_get(store_txn *t, enum store_db db, const void *key,
                               size_t klen, const void **val, size_t *vlen);

/* Flags for store_put. */
#define STORE_NOOVERWRITE 0x1u /* fail with SW_EEXIST if the key exists */

/* store_put stores val[0..vlen) under key[0..klen) in db, replacing any
 * previous value unless flags has STORE_NOOVERWRITE. Needs a write
 * transaction. Keys are 1 to 511 bytes.
 * Errors: SW_EEXIST, SW_EINVAL (read transaction, empty or over-long key),
 * SW_ENOSPACE (map or disk full; store_update grows the map if it can),
 * SW_ETOOBIG (too many dirty pages in one transaction), SW_ESTORE. */
SW_MUST_CHECK sw_err store_put(store_txn *t, enum store_db db, const void *key,
                               size_t klen, const void *val, size_t vlen,
                               unsigned flags);

/* store_del deletes key from db. Needs a write transaction.
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_del(store_txn *t, enum store_db db, const void *key,
                               size_t klen);

/* A store_scan callback returns SW_OK to go on, STORE_SCAN_STOP to end the
 * scan early (store_scan then returns SW_OK), or an error, which ends the
 * scan and is returned by store_scan. */
#define STORE_SCAN_STOP ((sw_err)1)
typedef sw_err (*store_scan_fn)(const void *k, size_t klen, const void *v,
                                size_t vlen, void *arg);

/* store_scan calls cb, in key order, for every key in db that begins with
 * prefix[0..plen) (plen 0: every key) and, when start_after is not NULL,
 * sorts after start_after[0..slen). The pointers passed to cb are valid only
 * during that call. cb must not write to db. Errors: cb's error, SW_ESTORE,
 * SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_scan(store_txn *t, enum store_db db,
                                const void *prefix, size_t plen,
                                const void *start_after, size_t slen,
                                store_scan_fn cb, void *arg);

/* store_del_prefix deletes every key in db that begins with prefix[0..plen)
 * (plen must be at least 1) and writes the count to *ndeleted if it is not
 * NULL. Needs a write transaction. Errors: SW_EINVAL, SW_ETOOBIG,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_del_prefix(store_txn *t, enum store_db db,
                                      const void *prefix, size_t plen,
                                      size_t *ndeleted);

/* store_del_prefix_max is store_del_prefix deleting at most max keys. */
SW_MUST_CHECK sw_err store_del_prefix_max(store_txn *t, enum store_db db,
                                          const void *prefix, size_t plen,
                                          size_t max, size_t *ndeleted);

/* store_key resets b and writes the key team_id, NUL, rest[0..rlen) into it
 * (see "Key layout" above). rest may be NULL when rlen is 0, which gives the
 * team's prefix. team_id may be "" (admin records). Errors: SW_ENOMEM,
 * SW_ETOOBIG (over b's cap). */
SW_MUST_CHECK sw_err store_key(struct sw_buf *b, const char *team_id,
                               const void *rest, size_t rlen);

/* store_del_team deletes every record under team_id's prefix in every
 * database marked team-prefixed in STORE_DB_LIST (databases added later are
 * included automatically) and adds the count to *ndeleted if it is not
 * NULL. Records in other databases (TEAMS, KEY_HASHES, KEY_IDS) are the
 * caller's job. Needs a write transaction. Errors: SW_EINVAL, SW_ETOOBIG,
 * SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_del_team(store_txn *t, const char *team_id,
                                    size_t *ndeleted);

/* store_del_team_some is store_del_team for at most max records (max >
 * 0), databases in STORE_DB_LIST order: one slice of a large team's
 * deletion, so that the writer is held for a bounded time. *done is 1 when
 * no record of the team is left in the team-prefixed databases. Errors: as
 * store_del_team. */
SW_MUST_CHECK sw_err store_del_team_some(store_txn *t, const char *team_id,
                                         size_t max, size_t *ndeleted,
                                         int *done);

/* store_key_add_u64 appends v to b as 8 big-endian bytes. Errors: SW_ENOMEM,
 * SW_ETOOBIG. */
SW_MUST_CHECK sw_err store_key_add_u64(struct sw_buf *b, uint64_t v);

/* store_u64_get reads 8 big-endian bytes at p. */
uint64_t store_u64_get(const void *p);

/* store_u64_put writes v as 8 big-endian bytes at p. */
void store_u64_put(void *p, uint64_t v);

/* store_seq_next advances the counter name of team_id (team_id "" for
 * store-wide counters) and writes the new value to *out. Counters start at 1,
 * never repeat and survive restarts; they are deleted with the team. Needs a
 * write transaction. Errors: SW_EINVAL, SW_ECORRUPT, SW_ETOOBIG, SW_ESTORE,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err store_seq_next(store_txn *t, const char *team_id,
                                    const char *name, uint64_t *out);

/* store_seq_peek writes the counter's last value (0 if never advanced) to
 * *out without changing it. Errors: as store_seq_next. */
SW_MUST_CHECK sw_err store_seq_peek(store_txn *t, const char *team_id,
                                    const char *name, uint64_t *out);

struct store_stats {
    uint64_t map_bytes;               /* current map size */
    uint64_t page_bytes;              /* page size */
    uint64_t used_pages;              /* pages in use in the data file */
    uint64_t last_txn_id;             /* id of the last committed transaction */
    uint64_t max_readers;             /* reader slots */
    uint64_t readers_used;            /* reader slots in use, all processes */
    uint64_t entries[STORE_DB_COUNT]; /* records per database */
};

/* store_nospace_why resets why and writes the cause of the latest
 * SW_ENOSPACE of this handle: "the store's map is at its maximum size (N
 * bytes)" or "no space left on device in DIR" (a generic sentence if there
 * was none). For status messages and logs. Errors: SW_ENOMEM, SW_ETOOBIG
 * (over why's cap). Thread-safe. */
SW_MUST_CHECK sw_err store_nospace_why(store *s, struct sw_buf *why);

/* store_backup writes a compacted copy of the store's data file (LMDB's
 * mdb_env_copyfd2 with MDB_CP_COMPACT: free pages left out) to fd, which
 * must be a regular file open for writing at offset 0; on a retry it is
 * truncated and rewritten. The copy is one consistent snapshot (a read
 * transaction held for the whole copy), so writers in this and other
 * processes go on meanwhile. The caller syncs and closes fd. The copy is a
 * complete data.mdb: put it in an empty directory to open it.
 * Errors: SW_ENOSPACE (the disk of fd is full), SW_EIO, SW_ESTORE,
 * SW_EINVAL. Thread-safe. */
SW_MUST_CHECK sw_err store_backup(store *s, int fd);

/* store_secret writes the store-wide secret called name (STORE_SECRET_BYTES
 * random bytes, e.g. the key that seals page tokens) to out, creating it
 * on first use. It lives in META under "secret/" + name, so a backup and a
 * restore carry it. Thread-safe. Errors: SW_EINVAL (no or an over-long
 * name), SW_EIO (no randomness), SW_ECORRUPT (a stored secret of the wrong
 * length), SW_ENOSPACE, SW_ESTORE. */
#define STORE_SECRET_BYTES 32
SW_MUST_CHECK sw_err store_secret(store *s, const char *name,
                                  unsigned char out[STORE_SECRET_BYTES]);

/* store_db_name returns the static LMDB name of db ("keys"), or "?" for a
 * value outside the enum. */
const char *store_db_name(enum store_db db);

/* store_stat fills *st from a read transaction, for `snipd check` and
 * metrics. Errors: SW_ESTORE, SW_ENOMEM. Thread-safe. */
SW_MUST_CHECK sw_err store_stat(store *s, struct store_stats *st);

#endif
