/* hist_file: a team's statistics (rank_hist) kept in a file between two
 * runs of snipd, so that Suggest ranks with them seconds after a restart
 * instead of after a full build (minutes at a million snippets). The file
 * is a cache of what the store holds: losing it costs one build, never
 * data, and a file that is stale (the store moved on since it was
 * written), damaged or from another version is simply not used.
 *
 * Format (native byte order and layout: written and read by the same
 * build of snipd on the same machine, which the header checks): a fixed
 * header (magic, version, a signature of the structures' layout, the
 * team id, the store's sequences the statistics were built from, the
 * team's erasure sequence, the scalar fields, the body's length and a
 * checksum of it), then the body: each array of the history as a section
 * (count, element size, bytes padded to 8) in a fixed order, the maps as
 * their slot arrays, and last the strings, NUL-terminated, which the
 * records name by offset. Loading maps the file read-only (the history
 * keeps it mapped while it lives): the strings, the plain arrays and the
 * maps are read in place, the records with strings are copied to point
 * at them, and everything is checked before the history is returned, so
 * that no index in it can point outside its array whatever the file
 * holds.
 *
 * Thread-safety: the functions share no state; the history saved is only
 * read. */
#ifndef RANK_HIST_FILE_H
#define RANK_HIST_FILE_H

#include <stdint.h>

#include "base/sw_err.h"
#include "ranker/hist.h"

/* Longest team id a file can name (store ids are far shorter). */
#define RANK_HF_TEAM_MAX 63

/* rank_hist_save writes h, the statistics of team_id built with no
 * cutoff (a full build or one made by rank_hist_delta), to path: into a
 * temporary file beside it, synced, then renamed over path, so a crash
 * leaves the old file or the new one, never a mix. erase_seq is the
 * team's erasure sequence (store_erase.h) when h was built: a reader
 * that sees it moved on drops the file (it may hold erased text).
 * Errors: SW_EINVAL (h has a cutoff or no mail tables, team_id too
 * long), SW_EIO (the file system; errno logged), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_hist_save(const struct rank_hist *h,
                                    const char *team_id, uint64_t erase_seq,
                                    const char *path);

/* rank_hist_load reads the statistics of team_id from path into *out (a
 * root history: rank_hist_free; rank_hist_delta may count later outcomes
 * into it) and their erasure sequence into *erase_seq. The caller
 * compares out's seqs with the store's. Errors: SW_ENOTFOUND (no file),
 * SW_ECORRUPT (not such a file, another version or layout, another
 * team, a checksum or any structural check failed), SW_EIO, SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_hist_load(const char *path, const char *team_id,
                                    struct rank_hist **out,
                                    uint64_t *erase_seq);

#endif
