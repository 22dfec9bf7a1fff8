/* msg_table: a plain C struct converted to and from protobuf-c messages by
 * one table of its fields. Each row names a struct member, its kind, and
 * the field that holds it in the stored record and in the API message (by
 * name, found in the descriptors), so a field added to the struct, the
 * record and the API is one row: the record's encoding and decoding, the
 * struct's release and the API's conversion all follow the table.
 * msg_table_check verifies a table against a descriptor (each named field
 * exists, with a type the kind may hold); callers check their tables once
 * (a test or at start) and may then convert without checking again.
 * Thread-safe (no shared state). */
#ifndef MSG_TABLE_H
#define MSG_TABLE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "base/sw_arena.h"
#include "base/sw_err.h"

enum msg_tkind {
    MSG_T_STR,   /* char *: string ("" for NULL) */
    MSG_T_BYTES, /* unsigned char * and a size_t count: bytes */
    MSG_T_STRV,  /* char ** and a size_t count: repeated string */
    MSG_T_INT,   /* int: int32, sint32, sfixed32, enum or bool */
    MSG_T_I64,   /* int64_t: int64, sint64 or sfixed64 */
    MSG_T_U32,   /* uint32_t: uint32 or fixed32 */
    MSG_T_U64,   /* uint64_t: uint64 or fixed64 */
};

/* The two messages a struct maps onto. */
enum msg_tside {
    MSG_TABLE_REC, /* the stored record */
    MSG_TABLE_API, /* the API's message */
};

struct msg_tfield {
    size_t off;   /* of the member */
    size_t n_off; /* MSG_T_BYTES, MSG_T_STRV: of its size_t count */
    enum msg_tkind kind;
    const char *names[2]; /* [side]: the field's name; NULL: not there */
    int secret;           /* MSG_T_BYTES: wiped before it is freed */
};

/* A row: struct type, member, kind, record field name, API field name. */
#define MSG_TF(type, member, kind, rec, api)                                   \
    {                                                                          \
        offsetof(type, member), 0, kind, {rec, api}, 0                         \
    }
/* A row with a count member (MSG_T_BYTES, MSG_T_STRV). */
#define MSG_TFN(type, member, count, kind, rec, api)                           \
    {                                                                          \
        offsetof(type, member), offsetof(type, count), kind, {rec, api}, 0     \
    }
/* A secret byte string: wiped before it is freed. */
#define MSG_TF_SECRET(type, member, count, rec, api)                           \
    {                                                                          \
        offsetof(type, member), offsetof(type, count), MSG_T_BYTES,            \
            {rec, api}, 1                                                      \
    }

/* msg_table_check: every row with a name on side names a field of d of a
 * type its kind holds (repeated only for MSG_T_STRV, never in a oneof).
 * SW_EINTERNAL (the row is logged), SW_OK. */
SW_MUST_CHECK sw_err msg_table_check(const struct msg_tfield *t, size_t n,
                                     const ProtobufCMessageDescriptor *d,
                                     enum msg_tside side);

/* msg_table_to sets the fields of m (of the checked descriptor) from the
 * struct st. With a NULL arena the message borrows st's strings, bytes and
 * arrays (it must not outlive st); with an arena they are copied into it.
 * SW_ENOMEM (arena copies only). */
SW_MUST_CHECK sw_err msg_table_to(const struct msg_tfield *t, size_t n,
                                  enum msg_tside side, const void *st,
                                  ProtobufCMessage *m, struct sw_arena *a);

/* msg_table_from sets the members of st named on side from m, copying
 * strings, bytes and arrays with sw_malloc (strings never NULL). On
 * SW_ENOMEM some members may be set: release st with msg_table_clear. */
SW_MUST_CHECK sw_err msg_table_from(const struct msg_tfield *t, size_t n,
                                    enum msg_tside side,
                                    const ProtobufCMessage *m, void *st);

/* msg_table_clear frees the strings, bytes (wiped first when secret) and
 * arrays of every row of t in st and zeroes those members and counts;
 * other members are left to the caller. */
void msg_table_clear(const struct msg_tfield *t, size_t n, void *st);

#endif
