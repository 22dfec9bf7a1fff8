/* store_move: the store side of moving one team between snipd nodes: a
 * consistent export of all the team's records on the source, an import in
 * slices on the target that stays invisible until its commit, and the move
 * state on the source (frozen, done, and a "moved to" tombstone).
 *
 * What is exported, database by database (STORE_DB_LIST), in this order:
 *   teams         the team's TeamRecord (key: the bare team id). Staged on
 *                 import, put in place by the commit.
 *   keys          team\0key_id → KeyRecord: every team-prefixed database is
 *                 exported as it is, each record under "team\0" (keys,
 *                 members, domains, seq, snippets, ..., request_ids, and
 *                 any prefixed database appended later).
 *   key_hashes    sha256(secret) → team\0key_id, found through the team's
 *                 KEYS records (their secret_hash). Staged on import.
 *   key_ids       key_id → team, found through the KEYS records. Staged.
 *   jobs          job_id(8) → JobRecord, found through JOB_TEAM. Job ids
 *                 come from a store-wide counter, so the commit gives each
 *                 job a new id from the target's counter (the record's
 *                 job_id field is rewritten) and writes its JOB_TEAM entry.
 *                 Staged until then, so that a worker does not drop them as
 *                 jobs of a missing team.
 * Not exported: job_team (derived from jobs at commit; an import of it is
 * SW_EINVAL) and meta (store-wide: schema, secrets, marks). The store's
 * secrets (store_secret) are not moved, so nothing the service sealed or
 * tagged under them on the source opens on the target: page tokens,
 * suggestion ids (ranker/suggest_id.c) and the sealed responses of
 * request_ids, which are copied byte for byte all the same (svc_idem must
 * take one that does not open for an expired one).
 *
 * META records of this module, beside store_tenant.h's "purge:TEAM":
 *   "import:TEAM"             an import of TEAM is unfinished (empty value)
 *   "importk:TEAM\0" tag key  a staged record: tag 't' teams (no key),
 *                             'h' key_hashes, 'i' key_ids, 'j' jobs
 *   "move:TEAM"               MoveRecord: frozen or done (source)
 *   "moved:TEAM"              the node the team moved to (tombstone)
 *
 * Conventions: as store_tenant.h. Each function runs its own transactions
 * and is thread-safe, except that one export handle is driven by one thread
 * at a time, and one team has at most one import running at a time (the
 * caller ensures it). why, when not NULL, gets a reason with SW_EINVAL and
 * SW_ESTATE. Team ids are checked like store_team_get's (SW_EINVAL). */
#ifndef STORE_MOVE_H
#define STORE_MOVE_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "store/store.h"

#define STORE_MOVE_FROZEN 1 /* the service refuses the team's writes */
#define STORE_MOVE_DONE 2   /* exported, imported and deleted here */

#define STORE_IMPORT_MARK "import:"
#define STORE_IMPORT_STAGE "importk:"
#define STORE_MOVE_MARK "move:"
#define STORE_MOVED_MARK "moved:"

/* Longest target node name, in bytes (UTF-8 without control characters). */
#define STORE_MOVE_NODE_MAX 255

/* One record of an export or import. db is the LMDB name of its database
 * (store_db_name: "keys"), never the enum number, so that nodes of
 * different versions agree. */
struct store_move_rec {
    const char *db;
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
};

/* Export */

struct store_team_export;

/* store_team_export_begin opens a read transaction, the snapshot the whole
 * export reads, and returns a handle the caller ends with
 * store_team_export_end. While it is open the store's map cannot grow in
 * this process (store.h: writers that fill the map wait for it), so drive
 * the export to its end promptly and end it on any failure or timeout.
 * Errors: SW_EINVAL, SW_ENOTFOUND (no such team), SW_ESTATE (its import is
 * unfinished, or it moved away: why says which), SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_export_begin(store *s, const char *team_id,
                                             struct store_team_export **out,
                                             struct sw_buf *why);

/* The callback of store_team_export_next, called once per record in order.
 * The pointers in *r stay valid until store_team_export_end (they point
 * into the export's snapshot or memory it keeps), so a batch may be sent
 * without copying. An error ends the call and is returned by it; that
 * record is passed again by the next call (the ones before it are not). */
typedef sw_err (*store_export_fn)(const struct store_move_rec *r, void *arg);

/* store_team_export_next passes the next records of the export to cb, up to
 * max_bytes of keys and values (at least one record, however large), and
 * sets *done to 1 once every record has been passed (possibly in a call
 * that passes none). Errors: cb's, SW_EINVAL, SW_ECORRUPT, SW_ENOMEM,
 * SW_ESTORE; the export may go on after any of them. */
SW_MUST_CHECK sw_err store_team_export_next(struct store_team_export *exp,
                                            store_export_fn cb, void *arg,
                                            size_t max_bytes, int *done);

/* store_team_export_stats writes the records and bytes (keys plus values)
 * passed so far. */
void store_team_export_stats(const struct store_team_export *exp,
                             uint64_t *records, uint64_t *bytes);

/* store_team_export_end aborts the transaction, frees the handle and sets
 * *exp to NULL. Accepts NULL and a pointer to NULL. */
void store_team_export_end(struct store_team_export **exp);

/* Import */

/* store_team_import_begin starts (or restarts) the import of team_id: it
 * writes the mark "import:TEAM", then removes every record an earlier
 * unfinished import (or an unfinished purge) of the team left, in slices
 * like store_team_purge, and the queued jobs of missing teams
 * (store_job_drop_stale), so that old jobs of the team do not revive.
 * Errors: SW_EEXIST (the team exists here), SW_EINVAL, SW_ENOMEM,
 * SW_ESTORE, SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_team_import_begin(store *s, const char *team_id,
                                             struct sw_buf *why);

/* store_team_import_put writes recs[0..n) in one write transaction: all or
 * nothing. Every record must belong to team_id (prefixed databases: the
 * key begins with team\0; teams: key == team and its TeamRecord names it;
 * key_ids: value == team; key_hashes: a 32-byte key and a value beginning
 * with team\0; jobs: an 8-byte key and a JobRecord of the team). Records of
 * prefixed databases are written in place (rewriting a record is harmless,
 * so a batch may be sent again); the others are staged until the commit.
 * Errors: SW_EINVAL (an unknown or refused database, a record of another
 * team, a bad key: why names the database), SW_ESTATE (no import of the
 * team is running), SW_ECORRUPT (a record that does not decode), SW_ENOMEM,
 * SW_ENOSPACE, SW_ETOOBIG (batch too large for one transaction), SW_ESTORE.
 */
SW_MUST_CHECK sw_err store_team_import_put(store *s, const char *team_id,
                                           const struct store_move_rec *recs,
                                           size_t n, struct sw_buf *why);

/* store_team_import_commit makes the import visible in one write
 * transaction: the staged team record, key hashes and key ids are put in
 * place (none may exist already), the staged jobs are queued under new ids,
 * the stage and the import mark are removed, and so are any move record and
 * tombstone of the team (a team moved back). From then on the team is found
 * and its keys authenticate.
 * Errors: SW_ESTATE (no import running, or no team record was imported),
 * SW_EEXIST (a key hash or key id is taken on this node; the import stays
 * pending: abort it), SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ENOSPACE,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_import_commit(store *s, const char *team_id,
                                              struct sw_buf *why);

/* store_team_import_abort removes everything of team_id's unfinished import
 * (in slices; the mark goes last, so that a crash in between leaves it to
 * store_team_import_pending). Errors: SW_ENOTFOUND (no import running),
 * SW_ESTATE (the team exists: the mark is stale; nothing is deleted),
 * SW_EINVAL, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_import_abort(store *s, const char *team_id);

/* store_team_import_pending aborts every unfinished import (snipd serve
 * calls it at start, before serving: an import does not outlive its node's
 * process) and adds their number to *nteams (optional). Errors: as
 * store_team_import_abort. */
SW_MUST_CHECK sw_err store_team_import_pending(store *s, size_t *nteams);

/* Move state, on the source */

struct store_move {
    char *target_node;
    int state; /* STORE_MOVE_FROZEN or STORE_MOVE_DONE */
    int64_t start_ms;
    int64_t done_ms; /* 0 until done */
    uint64_t export_records;
    uint64_t export_bytes;
};

/* store_move_clear frees m's strings and zeroes it; NULL is accepted. */
void store_move_clear(struct store_move *m);

/* store_team_freeze records that team_id is moving to target_node (1 to
 * STORE_MOVE_NODE_MAX bytes of text): from now on the service refuses the
 * team's writes (the store only records it): API calls, ingestion and the
 * workers' commits alike, since whatever is written after the export's
 * snapshot stays behind. Freezing a team frozen for the same target
 * succeeds and returns the existing record. *out is optional. Errors:
 * SW_ENOTFOUND (no such team), SW_ESTATE (frozen for another target, or already
 * moved), SW_EINVAL, SW_ENOMEM, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_freeze(store *s, const char *team_id,
                                       const char *target_node,
                                       struct store_move *out,
                                       struct sw_buf *why);

/* store_team_move_get reads team_id's move record.
 * Errors: SW_ENOTFOUND (none), SW_EINVAL, SW_ECORRUPT, SW_ENOMEM,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_move_get(store *s, const char *team_id,
                                         struct store_move *out);

/* store_team_frozen sets *frozen to 1 when team_id has a move record
 * (frozen or done), else 0: one lookup in a read transaction, for the
 * service's write path. Errors: SW_EINVAL, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_frozen(store *s, const char *team_id,
                                       int *frozen);

/* store_team_unfreeze aborts a move: the move record goes and the team takes
 * writes again. Errors: SW_ENOTFOUND (not frozen), SW_ESTATE (the move is
 * done), SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_unfreeze(store *s, const char *team_id,
                                         struct sw_buf *why);

/* store_team_move_finish ends a move once the target committed the import:
 * one transaction marks the move done (with the export's counts) and writes
 * the tombstone "moved:TEAM" → target node; then the team is deleted
 * (store_team_delete, sliced) and the queued jobs of missing teams are
 * dropped (store_job_drop_stale). Until the deletion the team is whole.
 * Calling it again after a failure or crash finishes the job. Errors: SW_ESTATE
 * (the team is not frozen), SW_EINVAL, SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_move_finish(store *s, const char *team_id,
                                            uint64_t export_records,
                                            uint64_t export_bytes,
                                            struct sw_buf *why);

/* store_team_moved_to writes the node team_id moved to into *node (sw_free)
 * so that the service can answer "moved to node X, retry there". The
 * service finds the team of a refused key from its routing prefix
 * (store_key_route); a bare secret of a moved team cannot be traced, its
 * hash having gone with the team.
 * Errors: SW_ENOTFOUND (no tombstone), SW_EINVAL, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err store_team_moved_to(store *s, const char *team_id,
                                         char **node);

/* Check */

/* store_move_check verifies in one read transaction that no team's records
 * lie around without its team record and without an import or purge mark
 * (a half-imported team whose mark was lost), that staged records have
 * their import mark, that no committed team still has an import mark or a
 * tombstone, and that move records name existing teams. Violations are
 * appended to report one per line (the first 200) and counted in
 * *violations; the marks found (imports running, moves, tombstones) are
 * listed in report too, as lines starting with "note: ". *summary
 * (optional) receives one line of totals. For `snipd check`.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ESTORE (the check could not run). */
SW_MUST_CHECK sw_err store_move_check(store *s, struct sw_buf *report,
                                      size_t *violations,
                                      struct sw_buf *summary);

#endif
