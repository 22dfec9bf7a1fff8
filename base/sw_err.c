/* sw_err: messages and gRPC status codes for the error list in sw_err.h. */
#include "base/sw_err.h"

#include <stddef.h>

struct sw_err_row {
    sw_err code;
    int status;
    const char *name;
    const char *reason;
    const char *msg;
};

static const struct sw_err_row sw_err_rows[] = {
#define SW_ERR_ROW(name, value, status, reason, msg)                           \
    {name, status, #name, reason, msg},
    SW_ERR_LIST(SW_ERR_ROW)
#undef SW_ERR_ROW
};

static const struct sw_err_row *sw_err_find(sw_err e)
{
    size_t i;

    for (i = 0; i < sizeof(sw_err_rows) / sizeof(sw_err_rows[0]); i++) {
        if (sw_err_rows[i].code == e)
            return &sw_err_rows[i];
    }
    return NULL;
}

const char *sw_err_str(sw_err e)
{
    const struct sw_err_row *r = sw_err_find(e);
    return r ? r->msg : "unknown error";
}

const char *sw_err_name(sw_err e)
{
    const struct sw_err_row *r = sw_err_find(e);
    return r ? r->name : "SW_EUNKNOWN";
}

const char *sw_err_reason(sw_err e)
{
    const struct sw_err_row *r = sw_err_find(e);
    return r ? r->reason : "UNKNOWN";
}

int sw_err_grpc_status(sw_err e)
{
    const struct sw_err_row *r = sw_err_find(e);
    return r ? r->status : 2;
}
