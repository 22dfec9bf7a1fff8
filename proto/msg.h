/* msg: the one descriptor-driven pair that turns wire bytes into protobuf-c
 * messages and back, plus a JSON rendering of any message for snipctl's
 * --json output and for logs. Everything else sees typed messages only.
 * Thread-safe (no shared state). */
#ifndef MSG_H
#define MSG_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_err.h"

/* msg_allocator fills *out with a protobuf-c allocator drawing from arena a;
 * messages unpacked with it need no free: sw_arena_free releases them. */
void msg_allocator(struct sw_arena *a, ProtobufCAllocator *out);

/* msg_decode unpacks n bytes at p as a message of type d, in arena a.
 * SW_EPARSE when the bytes are not a valid encoding of d (a NULL unpack),
 * SW_EINVAL when a string field is not NUL-free UTF-8, SW_ENOMEM. *out is
 * valid until the arena is freed. */
SW_MUST_CHECK sw_err msg_decode(const ProtobufCMessageDescriptor *d,
                                const uint8_t *p, size_t n, struct sw_arena *a,
                                ProtobufCMessage **out);

/* msg_decode_checked is msg_decode that also tells which field failed the
 * string check: SW_EINVAL with *bad_field (a static field name) when a
 * string field holds a NUL byte or invalid UTF-8, which protobuf-c would
 * otherwise accept and silently truncate. msg_decode applies the same
 * check. */
SW_MUST_CHECK sw_err msg_decode_checked(const ProtobufCMessageDescriptor *d,
                                        const uint8_t *p, size_t n,
                                        struct sw_arena *a,
                                        ProtobufCMessage **out,
                                        const char **bad_field);

/* msg_packed_size and msg_pack_to encode m into a caller-provided buffer of
 * at least msg_packed_size(m) bytes; msg_pack_to returns the bytes written. */
size_t msg_packed_size(const ProtobufCMessage *m);
size_t msg_pack_to(const ProtobufCMessage *m, uint8_t *out);

/* msg_new allocates a message of type d in arena a and initialises it with
 * its descriptor's defaults. NULL when out of memory. */
ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d,
                          struct sw_arena *a);

/* msg_to_json appends m as one JSON object to b, with the proto field names
 * (snake_case) as keys, enums by name, bytes as base64, 64-bit integers as
 * numbers. Fields at their proto3 default are included, so scripts can rely
 * on every key being present. SW_ETOOBIG, SW_ENOMEM. */
SW_MUST_CHECK sw_err msg_to_json(const ProtobufCMessage *m, struct sw_buf *b);

#endif
