/* store_erase_int.h: what store_erase.c and store_erase_mail.c share.
 * Private to the store module. */
#ifndef STORE_ERASE_INT_H
#define STORE_ERASE_INT_H

#include <stdint.h>

#include "base/sw_err.h"
#include "store/store.h"
#include "store/store_erase.h"

/* store_erase__outcome_del deletes the outcome with sequence number seq
 * and, when it still names that outcome, its idempotency key idem_key, in
 * write transaction t. An outcome already gone is not an error.
 * Errors: SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_erase__outcome_del(store_txn *t, const char *team_id,
                                              uint64_t seq,
                                              const char *idem_key);

#endif
