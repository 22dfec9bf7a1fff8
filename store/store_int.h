/* store_int.h: helpers shared by the files of the store module (record
 * encoding with protobuf-c). Included only inside store/; Bazel keeps it
 * private to the store library. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <protobuf-c/protobuf-c.h>

#include "store/store.h"

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

#endif
