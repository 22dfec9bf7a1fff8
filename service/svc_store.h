/* svc_store: how snipd's commands open the data directory (the one place
 * that decides which command may create a store, with the messages and exit
 * codes they share), and the status message of a write refused because the
 * store's map or disk is full. */
#ifndef SVC_STORE_H
#define SVC_STORE_H

#include "base/sw_err.h"
#include "service/svc_config.h"

struct store;
struct svc_ctx;

/* svc_store_open opens cfg->data_dir (with cfg->max_map_bytes) for the
 * command named cmd ("serve", "check", ...). Only serve passes create = 1:
 * it may create the directory's last component and a new store there (a
 * missing parent is refused). Every other command needs an existing
 * Snipwise store and creates nothing. On success *out is the store (the
 * caller closes it) and the result is 0; otherwise one line naming the path
 * and the reason is printed on stderr and the result is the exit code, 2. */
int svc_store_open(const struct svc_config *cfg, const char *cmd, int create,
                   struct store **out);

/* svc_store_err_str returns sw_err_str(rc), or for SW_ENOSPACE the
 * store's cause (store_nospace_why: the map at its maximum size, or no
 * space left on the device of the data dir), in the call's arena. A call
 * that ends SW_ENOSPACE without a message of its own gets it as its
 * status message (svc_finish); handlers use it for messages that say more
 * around it ("ingest failed at item 3: ..."). */
const char *svc_store_err_str(struct svc_ctx *c, sw_err rc);

/* svc_store_full_cause says what the store's latest SW_ENOSPACE was, for
 * the error's ErrorInfo metadata "cause": "map" (the map at its maximum
 * size) or "disk" (no space left on the data dir's device). */
const char *svc_store_full_cause(struct svc_ctx *c);

#endif
