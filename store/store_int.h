/* store_int.h: helpers shared by the files of the store module: record
 * encoding with protobuf-c (store.c), input validation and paginated lists
 * (store_tenant.c). Included only inside store/; Bazel keeps it private to
 * the store library. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <protobuf-c/protobuf-c.h>

#include "base/sw_buf.h"
#include "store/store.h"

#define STORE_NAME_MAX 200    /* bytes in a display name */
#define STORE_KEYBUF_MAX 1024 /* cap of the sw_bufs that hold LMDB keys */
#define STORE_WHY_TEAM_ID "team_id is not valid"

/* store__put_msg packs m straight into LMDB (no intermediate buffer) under
 * key in db. flags as for store_put. Errors as store_put. */
SW_MUST_CHECK sw_err store__put_msg(store_txn *t, enum store_db db,
                                    const void *key, size_t klen,
                                    const ProtobufCMessage *m, unsigned flags);

/* store__unpack decodes p[0..n) as a message of type d, allocating through
 * sw_malloc so that fault injection reaches it. The caller frees *out with
 * store__msg_free. Errors: SW_ENOMEM, SW_ECORRUPT (malformed bytes, logged
 * once). */
SW_MUST_CHECK sw_err store__unpack(const ProtobufCMessageDescriptor *d,
                                   const void *p, size_t n,
                                   ProtobufCMessage **out);

/* store__get_msg is store_get followed by store__unpack. Errors: those of
 * both. */
SW_MUST_CHECK sw_err store__get_msg(store_txn *t, enum store_db db,
                                    const void *key, size_t klen,
                                    const ProtobufCMessageDescriptor *d,
                                    ProtobufCMessage **out);

/* store__msg_free frees a message from store__unpack. NULL is accepted. */
void store__msg_free(ProtobufCMessage *m);

/* store__why writes msg (static text) to why, if given, and returns
 * SW_EINVAL. */
SW_MUST_CHECK sw_err store__why(struct sw_buf *why, const char *msg);

/* store__text_ok returns 1 when s is min to max bytes of valid UTF-8 without
 * C0 or C1 control characters; NULL gives 0. */
int store__text_ok(const char *s, size_t min, size_t max);

/* store__id_ok returns 1 for identifiers of the shape this module makes
 * ("team_…", "key_…"): 1 to 64 bytes of [a-z0-9_]. */
int store__id_ok(const char *id);

/* store__purge_slice is the store's store_opts.purge_slice, defaulted. */
size_t store__purge_slice(const store *s);

/* store__email_norm validates an email address (one '@', non-empty local
 * part and domain, no spaces or control characters, at most 254 bytes) and
 * returns a lowercased copy in *out (sw_free). Errors: SW_EINVAL (reason in
 * why), SW_ENOMEM. */
SW_MUST_CHECK sw_err store__email_norm(const char *email, char **out,
                                       struct sw_buf *why);

/* A paginated list over one database: fill prefix (empty for the whole
 * database), then call store__list_run, then store__list_free. Items are
 * structs of item_size bytes filled by conv (which must leave the slot
 * untouched on failure) and released by clear. When keep is set, only the
 * items it returns non-zero for (given keep_arg) are listed: the others are
 * skipped without taking a place in the page. */
struct store__list {
    enum store_db db;
    struct sw_buf prefix;
    struct sw_buf after;
    struct sw_buf last;
    size_t limit;
    size_t item_size;
    sw_err (*conv)(const void *v, size_t vl, void *item);
    void (*clear)(void *item);
    int (*keep)(const void *item, const void *keep_arg);
    const void *keep_arg;
    char *items; /* limit + 1 slots of item_size bytes; n filled */
    size_t n;
    int more;
};

void store__list_init(struct store__list *l, enum store_db db, size_t item_size,
                      sw_err (*conv)(const void *, size_t, void *),
                      void (*clear)(void *));
void store__list_free(struct store__list *l);

/* store__list_run reads the page after page_token (see store_tenant.h for
 * the paging contract) and moves the items array into *items (n structs,
 * the caller's) and the next token into *next. Errors: SW_EINVAL (page size,
 * token; reason in why), SW_ENOMEM, conv's errors, SW_ESTORE. */
SW_MUST_CHECK sw_err store__list_run(store *s, struct store__list *l,
                                     int page_size, const char *token,
                                     void **items, size_t *n, char **next,
                                     struct sw_buf *why);

#endif
