/* svc_status: google.rpc.Status with ErrorInfo and BadRequest for the
 * grpc-status-details-bin trailer (see svc_status.h), packed with
 * protobuf-c from our copies of the google.rpc messages. */
#include "service/svc_status.h"

#include <string.h>

#include "base/sw_mem.h"
#include "google/protobuf/any.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define SVC_STATUS_TYPE_PREFIX "type.googleapis.com/"

void svc_status_add_meta(struct svc_fail *f, struct sw_arena *a,
                         const char *key, const char *value)
{
    const char *v = sw_arena_strdup(a, value ? value : "");
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_key[i], key) == 0) {
            f->meta_value[i] = v;
            return;
        }
    if (f->nmeta >= SVC_STATUS_META_MAX)
        return;
    f->meta_key[f->nmeta] = sw_arena_strdup(a, key);
    if (f->meta_key[f->nmeta] == NULL)
        return;
    f->meta_value[f->nmeta++] = v;
}

void svc_status_add_field(struct svc_fail *f, struct sw_arena *a,
                          const char *field, const char *why)
{
    if (f->nfields == 0)
        svc_status_add_meta(f, a, "field", field);
    if (f->nfields >= SVC_STATUS_FIELDS_MAX)
        return;
    f->field[f->nfields] = sw_arena_strdup(a, field);
    f->field_why[f->nfields] = sw_arena_strdup(a, why ? why : "");
    if (f->field[f->nfields] && f->field_why[f->nfields])
        f->nfields++;
}

/* svc_status_any packs m into *any (type URL and bytes, both sw_malloc'd:
 * svc_status_any_clear frees them). */
static sw_err svc_status_any(const ProtobufCMessage *m,
                             Google__Protobuf__Any *any)
{
    const char *name = m->descriptor->name;
    size_t n = protobuf_c_message_get_packed_size(m);
    size_t ul = strlen(SVC_STATUS_TYPE_PREFIX) + strlen(name) + 1;

    google__protobuf__any__init(any);
    any->type_url = sw_malloc(ul);
    any->value.data = sw_malloc(n + 1);
    if (any->type_url == NULL || any->value.data == NULL)
        return SW_ENOMEM;
    memcpy(any->type_url, SVC_STATUS_TYPE_PREFIX,
           strlen(SVC_STATUS_TYPE_PREFIX));
    memcpy(any->type_url + strlen(SVC_STATUS_TYPE_PREFIX), name,
           strlen(name) + 1);
    any->value.len = protobuf_c_message_pack(m, any->value.data);
    return SW_OK;
}

static void svc_status_any_clear(Google__Protobuf__Any *any)
{
    sw_free(any->type_url);
    sw_free(any->value.data);
    any->type_url = NULL;
    any->value.data = NULL;
}

sw_err svc_status_pack(int status, const char *msg, sw_err rc,
                       const struct svc_fail *f, grpc_slice *out)
{
    Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
    Google__Rpc__ErrorInfo__MetadataEntry ents[SVC_STATUS_META_MAX];
    Google__Rpc__ErrorInfo__MetadataEntry *entp[SVC_STATUS_META_MAX];
    Google__Rpc__BadRequest bad = GOOGLE__RPC__BAD_REQUEST__INIT;
    Google__Rpc__BadRequest__FieldViolation vio[SVC_STATUS_FIELDS_MAX];
    Google__Rpc__BadRequest__FieldViolation *viop[SVC_STATUS_FIELDS_MAX];
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    Google__Protobuf__Any anys[2], *anyp[2];
    unsigned char *buf = NULL;
    size_t i, n;
    sw_err rc2;

    memset(anys, 0, sizeof(anys));
    info.reason = (char *)(f && f->reason ? f->reason : sw_err_reason(rc));
    info.domain = (char *)SVC_STATUS_DOMAIN;
    for (i = 0; f && i < f->nmeta; i++) {
        google__rpc__error_info__metadata_entry__init(&ents[i]);
        ents[i].key = (char *)f->meta_key[i];
        ents[i].value = (char *)f->meta_value[i];
        entp[i] = &ents[i];
    }
    info.n_metadata = f ? f->nmeta : 0;
    info.metadata = entp;
    rc2 = svc_status_any(&info.base, &anys[0]);
    anyp[0] = &anys[0];
    st.n_details = 1;
    if (rc2 == SW_OK && f && f->nfields) {
        for (i = 0; i < f->nfields; i++) {
            google__rpc__bad_request__field_violation__init(&vio[i]);
            vio[i].field = (char *)f->field[i];
            vio[i].description = (char *)f->field_why[i];
            viop[i] = &vio[i];
        }
        bad.n_field_violations = f->nfields;
        bad.field_violations = viop;
        rc2 = svc_status_any(&bad.base, &anys[1]);
        anyp[1] = &anys[1];
        st.n_details = 2;
    }
    if (rc2)
        goto out;
    st.code = status;
    st.message = (char *)(msg ? msg : "");
    st.details = anyp;
    n = protobuf_c_message_get_packed_size(&st.base);
    buf = sw_malloc(n + 1);
    if (buf == NULL) {
        rc2 = SW_ENOMEM;
        goto out;
    }
    n = protobuf_c_message_pack(&st.base, buf);
    *out = grpc_slice_from_copied_buffer((const char *)buf, n);
out:
    sw_free(buf);
    svc_status_any_clear(&anys[0]);
    svc_status_any_clear(&anys[1]);
    return rc2;
}
