/* msg: protobuf-c glue shared by the server and the clients: arena-backed
 * decoding, encoding, and a descriptor-driven JSON writer. */
#include "proto/msg.h"

#include <inttypes.h>
#include <string.h>

#include "base/sw_utf8.h"

static void *msg_arena_alloc(void *data, size_t n)
{
    return sw_arena_alloc(data, n);
}

static void msg_arena_free(void *data, void *p)
{
    /* Arena memory is released all at once by sw_arena_free. */
    (void)data;
    (void)p;
}

void msg_allocator(struct sw_arena *a, ProtobufCAllocator *out)
{
    out->alloc = msg_arena_alloc;
    out->free = msg_arena_free;
    out->allocator_data = a;
}

/* msg_varint reads a base-128 varint at p[*i..n); 0 when truncated. */
static int msg_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    unsigned shift = 0;

    *v = 0;
    while (*i < n && shift < 64) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 1;
        shift += 7;
    }
    return 0;
}

/* msg_check_strings walks the wire encoding of a message that protobuf-c
 * has already accepted and checks every string field, nested messages
 * included (depth-limited). */
static sw_err msg_check_strings(const ProtobufCMessageDescriptor *d,
                                const uint8_t *p, size_t n, int depth,
                                const char **bad)
{
    size_t i = 0;

    if (depth > 32)
        return SW_EPARSE;
    while (i < n) {
        uint64_t key, len, skip;
        const ProtobufCFieldDescriptor *f;
        sw_err rc;

        if (!msg_varint(p, n, &i, &key))
            return SW_EPARSE;
        switch (key & 7) {
        case 0:
            if (!msg_varint(p, n, &i, &skip))
                return SW_EPARSE;
            break;
        case 1:
            if (n - i < 8)
                return SW_EPARSE;
            i += 8;
            break;
        case 5:
            if (n - i < 4)
                return SW_EPARSE;
            i += 4;
            break;
        case 2:
            if (!msg_varint(p, n, &i, &len) || len > n - i)
                return SW_EPARSE;
            f = protobuf_c_message_descriptor_get_field(d,
                                                        (unsigned)(key >> 3));
            /* A string must be UTF-8 (proto3) and hold no NUL: protobuf-c
             * copies strings as C strings, so an embedded NUL would
             * silently cut a value ("Sales\0Evil" stored as "Sales"). */
            if (f && f->type == PROTOBUF_C_TYPE_STRING &&
                !sw_utf8_valid(p + i, (size_t)len)) {
                *bad = f->name;
                return SW_EINVAL;
            }
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                rc = msg_check_strings(f->descriptor, p + i, (size_t)len,
                                       depth + 1, bad);
                if (rc)
                    return rc;
            }
            i += (size_t)len;
            break;
        default:
            return SW_EPARSE; /* groups are not used by proto3 */
        }
    }
    return SW_OK;
}

sw_err msg_decode_checked(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                          size_t n, struct sw_arena *a, ProtobufCMessage **out,
                          const char **bad_field)
{
    ProtobufCAllocator alloc;
    ProtobufCMessage *m;
    const char *bad = NULL;
    sw_err rc;

    msg_allocator(a, &alloc);
    m = protobuf_c_message_unpack(d, &alloc, n, p);
    if (m == NULL)
        return SW_EPARSE;
    rc = msg_check_strings(d, p, n, 0, &bad);
    if (rc) {
        if (bad_field)
            *bad_field = bad;
        return rc;
    }
    *out = m;
    return SW_OK;
}

sw_err msg_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                  size_t n, struct sw_arena *a, ProtobufCMessage **out)
{
    return msg_decode_checked(d, p, n, a, out, NULL);
}

size_t msg_packed_size(const ProtobufCMessage *m)
{
    return protobuf_c_message_get_packed_size(m);
}

size_t msg_pack_to(const ProtobufCMessage *m, uint8_t *out)
{
    return protobuf_c_message_pack(m, out);
}

ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d,
                          struct sw_arena *a)
{
    ProtobufCMessage *m = sw_arena_alloc(a, d->sizeof_message);

    if (m == NULL)
        return NULL;
    d->message_init(m);
    return m;
}

static sw_err msg_json_base64(struct sw_buf *b, const uint8_t *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    sw_err rc = sw_buf_addc(b, '"');

    for (i = 0; rc == SW_OK && i + 2 < n; i += 3) {
        char q[4] = {tbl[p[i] >> 2], tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
                     tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)],
                     tbl[p[i + 2] & 63]};
        rc = sw_buf_add(b, q, 4);
    }
    if (rc == SW_OK && n - i == 1) {
        char q[4] = {tbl[p[i] >> 2], tbl[(p[i] & 3) << 4], '=', '='};
        rc = sw_buf_add(b, q, 4);
    } else if (rc == SW_OK && n - i == 2) {
        char q[4] = {tbl[p[i] >> 2], tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
                     tbl[(p[i + 1] & 15) << 2], '='};
        rc = sw_buf_add(b, q, 4);
    }
    if (rc == SW_OK)
        rc = sw_buf_addc(b, '"');
    return rc;
}

static sw_err msg_json_value(const ProtobufCFieldDescriptor *f, const void *v,
                             struct sw_buf *b)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return sw_buf_printf(b, "%" PRId32, *(const int32_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sw_buf_printf(b, "%" PRIu32, *(const uint32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return sw_buf_printf(b, "%" PRId64, *(const int64_t *)v);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sw_buf_printf(b, "%" PRIu64, *(const uint64_t *)v);
    case PROTOBUF_C_TYPE_FLOAT:
        return sw_buf_printf(b, "%.9g", (double)*(const float *)v);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sw_buf_printf(b, "%.17g", *(const double *)v);
    case PROTOBUF_C_TYPE_BOOL:
        return sw_buf_addstr(b,
                             *(const protobuf_c_boolean *)v ? "true" : "false");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            f->descriptor, *(const int *)v);
        if (ev)
            return sw_buf_add_json_str(b, ev->name, strlen(ev->name));
        return sw_buf_printf(b, "%d", *(const int *)v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        if (s == NULL)
            s = "";
        return sw_buf_add_json_str(b, s, strlen(s));
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = v;
        return msg_json_base64(b, bd->data, bd->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
        if (sub == NULL)
            return sw_buf_addstr(b, "null");
        return msg_to_json(sub, b);
    }
    }
    return SW_EINVAL;
}

static size_t msg_json_elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 4;
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

sw_err msg_to_json(const ProtobufCMessage *m, struct sw_buf *b)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    unsigned i;
    int first = 1;
    sw_err rc = sw_buf_addc(b, '{');

    for (i = 0; rc == SW_OK && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *v = base + f->offset;

        /* A oneof member that is not the chosen case is left out. */
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (!first)
            rc = sw_buf_addc(b, ',');
        first = 0;
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(b, f->name, strlen(f->name));
        if (rc == SW_OK)
            rc = sw_buf_addc(b, ':');
        if (rc)
            break;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)v;
            size_t es = msg_json_elem_size(f), k;
            rc = sw_buf_addc(b, '[');
            for (k = 0; rc == SW_OK && k < n; k++) {
                if (k)
                    rc = sw_buf_addc(b, ',');
                if (rc == SW_OK)
                    rc = msg_json_value(f, arr + k * es, b);
            }
            if (rc == SW_OK)
                rc = sw_buf_addc(b, ']');
        } else {
            rc = msg_json_value(f, v, b);
        }
    }
    if (rc == SW_OK)
        rc = sw_buf_addc(b, '}');
    return rc;
}
