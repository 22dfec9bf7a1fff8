/* msg_table: struct <-> message conversions from one table (msg_table.h). */
#include "proto/msg_table.h"

#include <stdint.h>
#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"

/* msg_table_fits: whether a field of type ty and label lb holds kind k. */
static int msg_table_fits(enum msg_tkind k, ProtobufCType ty, ProtobufCLabel lb)
{
    if ((k == MSG_T_STRV) != (lb == PROTOBUF_C_LABEL_REPEATED))
        return 0;
    switch (k) {
    case MSG_T_STR:
    case MSG_T_STRV:
        return ty == PROTOBUF_C_TYPE_STRING;
    case MSG_T_BYTES:
        return ty == PROTOBUF_C_TYPE_BYTES;
    case MSG_T_INT:
        return ty == PROTOBUF_C_TYPE_INT32 || ty == PROTOBUF_C_TYPE_SINT32 ||
               ty == PROTOBUF_C_TYPE_SFIXED32 || ty == PROTOBUF_C_TYPE_ENUM ||
               ty == PROTOBUF_C_TYPE_BOOL;
    case MSG_T_I64:
        return ty == PROTOBUF_C_TYPE_INT64 || ty == PROTOBUF_C_TYPE_SINT64 ||
               ty == PROTOBUF_C_TYPE_SFIXED64;
    case MSG_T_U32:
        return ty == PROTOBUF_C_TYPE_UINT32 || ty == PROTOBUF_C_TYPE_FIXED32;
    case MSG_T_U64:
        return ty == PROTOBUF_C_TYPE_UINT64 || ty == PROTOBUF_C_TYPE_FIXED64;
    }
    return 0;
}

sw_err msg_table_check(const struct msg_tfield *t, size_t n,
                       const ProtobufCMessageDescriptor *d, enum msg_tside side)
{
    const ProtobufCFieldDescriptor *f;
    size_t i;

    for (i = 0; i < n; i++) {
        if (t[i].names[side] == NULL)
            continue;
        f = protobuf_c_message_descriptor_get_field_by_name(d,
                                                            t[i].names[side]);
        if (f == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            !msg_table_fits(t[i].kind, f->type, f->label)) {
            sw_log_error("msg.table_bad_row", "message=%s field=%s", d->name,
                         t[i].names[side]);
            return SW_EINTERNAL;
        }
    }
    return SW_OK;
}

#define MSG_AT(p, off, type) (*(type *)((char *)(p) + (off)))
#define MSG_CAT(p, off, type) (*(type const *)((const char *)(p) + (off)))

/* msg_table_str: s in the arena (or s itself without one); "" for NULL. */
static char *msg_table_str(const char *s, struct sw_arena *a)
{
    if (s == NULL)
        s = "";
    return a ? sw_arena_strdup(a, s) : (char *)s;
}

static sw_err msg_table_to_one(const struct msg_tfield *r,
                               const ProtobufCFieldDescriptor *f,
                               const void *st, ProtobufCMessage *m,
                               struct sw_arena *a)
{
    size_t i, cnt = r->n_off ? MSG_CAT(st, r->n_off, size_t) : 0;
    ProtobufCBinaryData *b;
    char **v, *const *src;

    switch (r->kind) {
    case MSG_T_STR:
        MSG_AT(m, f->offset, char *) =
            msg_table_str(MSG_CAT(st, r->off, char *), a);
        return MSG_AT(m, f->offset, char *) ? SW_OK : SW_ENOMEM;
    case MSG_T_BYTES:
        b = &MSG_AT(m, f->offset, ProtobufCBinaryData);
        b->len = cnt;
        b->data = MSG_CAT(st, r->off, unsigned char *);
        if (a && cnt) {
            b->data = sw_arena_alloc(a, cnt);
            if (b->data == NULL)
                return SW_ENOMEM;
            memcpy(b->data, MSG_CAT(st, r->off, unsigned char *), cnt);
        }
        return SW_OK;
    case MSG_T_STRV:
        src = MSG_CAT(st, r->off, char **);
        v = (char **)src;
        if (a && cnt) {
            v = sw_arena_alloc(a, cnt * sizeof(*v));
            for (i = 0; v && i < cnt; i++)
                if ((v[i] = msg_table_str(src[i], a)) == NULL)
                    return SW_ENOMEM;
            if (v == NULL)
                return SW_ENOMEM;
        }
        MSG_AT(m, f->quantifier_offset, size_t) = cnt;
        MSG_AT(m, f->offset, char **) = v;
        return SW_OK;
    case MSG_T_INT:
        if (f->type == PROTOBUF_C_TYPE_BOOL)
            MSG_AT(m, f->offset, protobuf_c_boolean) =
                MSG_CAT(st, r->off, int) != 0;
        else
            MSG_AT(m, f->offset, int32_t) = MSG_CAT(st, r->off, int);
        return SW_OK;
    case MSG_T_I64:
        MSG_AT(m, f->offset, int64_t) = MSG_CAT(st, r->off, int64_t);
        return SW_OK;
    case MSG_T_U32:
        MSG_AT(m, f->offset, uint32_t) = MSG_CAT(st, r->off, uint32_t);
        return SW_OK;
    case MSG_T_U64:
        MSG_AT(m, f->offset, uint64_t) = MSG_CAT(st, r->off, uint64_t);
        return SW_OK;
    }
    return SW_EINTERNAL;
}

sw_err msg_table_to(const struct msg_tfield *t, size_t n, enum msg_tside side,
                    const void *st, ProtobufCMessage *m, struct sw_arena *a)
{
    const ProtobufCFieldDescriptor *f;
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < n; i++) {
        if (t[i].names[side] == NULL)
            continue;
        f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
                                                            t[i].names[side]);
        rc = f ? msg_table_to_one(&t[i], f, st, m, a) : SW_EINTERNAL;
    }
    return rc;
}

static sw_err msg_table_from_one(const struct msg_tfield *r,
                                 const ProtobufCFieldDescriptor *f,
                                 const ProtobufCMessage *m, void *st)
{
    const ProtobufCBinaryData *b;
    char *const *src;
    char **v;
    size_t i, cnt;

    switch (r->kind) {
    case MSG_T_STR:
        src = &MSG_CAT(m, f->offset, char *);
        MSG_AT(st, r->off, char *) = sw_strdup(*src ? *src : "");
        return MSG_AT(st, r->off, char *) ? SW_OK : SW_ENOMEM;
    case MSG_T_BYTES:
        b = &MSG_CAT(m, f->offset, ProtobufCBinaryData);
        if (b->len > 0 &&
            (MSG_AT(st, r->off, void *) = sw_memdup(b->data, b->len)) == NULL)
            return SW_ENOMEM;
        MSG_AT(st, r->n_off, size_t) = b->len;
        return SW_OK;
    case MSG_T_STRV:
        cnt = MSG_CAT(m, f->quantifier_offset, size_t);
        src = MSG_CAT(m, f->offset, char **);
        v = cnt ? sw_calloc(cnt, sizeof(*v)) : NULL;
        if (cnt && v == NULL)
            return SW_ENOMEM;
        MSG_AT(st, r->off, char **) = v;
        for (i = 0; i < cnt; i++) {
            v[i] = sw_strdup(src[i] ? src[i] : "");
            if (v[i] == NULL)
                return SW_ENOMEM; /* the count covers what was copied */
            MSG_AT(st, r->n_off, size_t) = i + 1;
        }
        return SW_OK;
    case MSG_T_INT:
        MSG_AT(st, r->off, int) =
            f->type == PROTOBUF_C_TYPE_BOOL
                ? (int)MSG_CAT(m, f->offset, protobuf_c_boolean)
                : (int)MSG_CAT(m, f->offset, int32_t);
        return SW_OK;
    case MSG_T_I64:
        MSG_AT(st, r->off, int64_t) = MSG_CAT(m, f->offset, int64_t);
        return SW_OK;
    case MSG_T_U32:
        MSG_AT(st, r->off, uint32_t) = MSG_CAT(m, f->offset, uint32_t);
        return SW_OK;
    case MSG_T_U64:
        MSG_AT(st, r->off, uint64_t) = MSG_CAT(m, f->offset, uint64_t);
        return SW_OK;
    }
    return SW_EINTERNAL;
}

sw_err msg_table_from(const struct msg_tfield *t, size_t n, enum msg_tside side,
                      const ProtobufCMessage *m, void *st)
{
    const ProtobufCFieldDescriptor *f;
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < n; i++) {
        if (t[i].names[side] == NULL)
            continue;
        f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
                                                            t[i].names[side]);
        rc = f ? msg_table_from_one(&t[i], f, m, st) : SW_EINTERNAL;
    }
    return rc;
}

void msg_table_clear(const struct msg_tfield *t, size_t n, void *st)
{
    size_t i, j, cnt;
    char **v;

    for (i = 0; i < n; i++) {
        cnt = t[i].n_off ? MSG_AT(st, t[i].n_off, size_t) : 0;
        switch (t[i].kind) {
        case MSG_T_STR:
            sw_free(MSG_AT(st, t[i].off, char *));
            MSG_AT(st, t[i].off, char *) = NULL;
            break;
        case MSG_T_BYTES:
            if (t[i].secret && MSG_AT(st, t[i].off, void *) != NULL)
                memset(MSG_AT(st, t[i].off, void *), 0, cnt);
            sw_free(MSG_AT(st, t[i].off, void *));
            MSG_AT(st, t[i].off, void *) = NULL;
            MSG_AT(st, t[i].n_off, size_t) = 0;
            break;
        case MSG_T_STRV:
            v = MSG_AT(st, t[i].off, char **);
            for (j = 0; v && j < cnt; j++)
                sw_free(v[j]);
            sw_free(v);
            MSG_AT(st, t[i].off, char **) = NULL;
            MSG_AT(st, t[i].n_off, size_t) = 0;
            break;
        default:
            break;
        }
    }
}
