/* store_library: a team's content library, the bytes of the files its reps
 * sent. Each distinct file is kept once per team, addressed by the SHA-256
 * of its bytes, whatever number of emails or content items carry it; the
 * team's usage is counted so that ingest can enforce a quota.
 *
 *   LIBRARY        team\0sha256(32)chunk(4, big-endian) → the file's bytes
 *                  [chunk * STORE_LIBRARY_CHUNK, +STORE_LIBRARY_CHUNK)
 *   LIBRARY_USAGE  team\0 → bytes(8) files(8), big-endian: what the team's
 *                  library holds
 *
 * A file of n bytes has ceil(n / STORE_LIBRARY_CHUNK) chunks, and an empty
 * file one empty chunk, so chunk 0 exists exactly when a file is kept. Chunks
 * are never rewritten in place: a file is put whole in one write transaction
 * and deleted whole, so a reader that opens a read transaction per chunk sees
 * either all of a file or (after a delete) SW_ENOTFOUND, never a mix of two
 * files.
 *
 * Thread-safety: as store.h; every function takes the caller's
 * transaction. */
#ifndef STORE_LIBRARY_H
#define STORE_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "base/sw_util.h"
#include "store/store.h"

/* Bytes per stored chunk and per ReadContent message. */
#define STORE_LIBRARY_CHUNK (256 * 1024)

/* What a team's library holds. */
struct store_library_usage {
    int64_t bytes; /* sum of the kept files' sizes */
    int64_t files; /* number of kept files */
};

/* store_library_usage reads team_id's usage (zeros for a team that has
 * kept nothing). Errors: SW_EINVAL (NULL argument), SW_ECORRUPT,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_library_usage(store_txn *t, const char *team_id,
                                         struct store_library_usage *out);

/* store_library_put keeps len bytes at data (whose SHA-256 is sha, which
 * the caller computed: it is not recomputed here) in team_id's library,
 * unless a file with that hash is already kept, in which case nothing is
 * written and *added is 0. A new file is refused with SW_EQUOTA when the
 * team's usage plus len would exceed quota_bytes (quota_bytes <= 0: no
 * quota); nothing is written then. *added (may be NULL) is 1 when the file
 * was written. Needs a write transaction.
 * Errors: SW_EINVAL, SW_EQUOTA, SW_ENOSPACE, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err store_library_put(store_txn *t, const char *team_id,
                                       const unsigned char sha[SW_SHA256_LEN],
                                       const void *data, size_t len,
                                       int64_t quota_bytes, int *added);

/* store_library_read resets out and writes chunk number chunk of the file
 * sha into it. SW_ENOTFOUND when the library has no such chunk (past the
 * end of the file, or the file is not kept). Errors: SW_EINVAL, SW_ENOMEM,
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_library_read(store_txn *t, const char *team_id,
                                        const unsigned char sha[SW_SHA256_LEN],
                                        uint32_t chunk, struct sw_buf *out);

/* store_library_delete removes the file sha of size bytes from team_id's
 * library and takes it off the usage. SW_ENOTFOUND when the file is not
 * kept (nothing changes). Needs a write transaction. Errors:
 * SW_EINVAL, SW_ENOTFOUND, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err
store_library_delete(store_txn *t, const char *team_id,
                     const unsigned char sha[SW_SHA256_LEN], int64_t size);

#endif
