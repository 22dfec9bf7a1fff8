/* store_move_int.h: helpers shared by the two files of the team move
 * (store_move.h): store_move.c (export, import) and store_move_state.c
 * (move state, check). Included only by those two. */
#ifndef STORE_MOVE_INT_H
#define STORE_MOVE_INT_H

#include <stddef.h>

#include "base/sw_buf.h"
#include "store/store.h"

/* The "prefixed" column of STORE_DB_LIST, indexed by enum store_db. */
extern const unsigned char store__move_prefixed[STORE_DB_COUNT];

/* store__move_say writes msg (static text) to why, if given, and returns
 * rc. */
sw_err store__move_say(struct sw_buf *why, const char *msg, sw_err rc);

/* store__move_key resets b to the META key mark + team_id. Errors:
 * SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err store__move_key(struct sw_buf *b, const char *mark,
                                     const char *team_id);

/* store__move_exists sets *yes to whether k[0..kl) is in db. Errors: as
 * store_get but SW_ENOTFOUND. */
SW_MUST_CHECK sw_err store__move_exists(store_txn *t, enum store_db db,
                                        const void *k, size_t kl, int *yes);

/* store__move_marked sets *yes to whether META holds mark + team_id. */
SW_MUST_CHECK sw_err store__move_marked(store_txn *t, const char *mark,
                                        const char *team_id, int *yes);

/* store__move_team_exists sets *yes to whether team_id's TeamRecord is in
 * TEAMS (visible). */
SW_MUST_CHECK sw_err store__move_team_exists(store_txn *t, const char *team_id,
                                             int *yes);

/* store__move_unmark deletes META mark + team_id, using k as key buffer; a
 * missing mark is fine. Needs a write transaction. */
SW_MUST_CHECK sw_err store__move_unmark(store_txn *t, struct sw_buf *k,
                                        const char *mark, const char *team_id);

#endif
