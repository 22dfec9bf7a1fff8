/* svc_health: Check answers at once; Watch sends the current status, then a
 * new message when it changes (here: when draining starts), until the
 * client goes away or the deadline passes. Watch streams are parked, so
 * they hold no worker thread while they wait. */
#include "service/svc_health.h"

#include <string.h>

#include "grpc/health/v1/health.pb-c.h"

static const char *const svc_health_names[] = {
    "",
    "snipwise.v1.AdminService",
    "snipwise.v1.TeamService",
    "snipwise.v1.IngestService",
    "snipwise.v1.OutcomeService",
    "snipwise.v1.SuggestService",
    "snipwise.v1.SnippetService",
    "snipwise.v1.RankingService",
    "snipwise.v1.LlmService",
    "grpc.health.v1.Health",
};

static int svc_health_known(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(svc_health_names) / sizeof(svc_health_names[0]);
         i++) {
        if (strcmp(name, svc_health_names[i]) == 0)
            return 1;
    }
    return 0;
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus
svc_health_status(struct svc_ctx *c, const char *name)
{
    if (!svc_health_known(name))
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    if (svc_ctx_draining(c))
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
}

sw_err svc_health_check(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse *out;

    if (!svc_health_known(r->service))
        return svc_ctx_fail(c, SW_ENOTFOUND, "unknown service '%s'",
                            r->service);
    out = svc_ctx_new(c, &grpc__health__v1__health_check_response__descriptor);
    if (out == NULL)
        return SW_ENOMEM;
    out->status = svc_health_status(c, r->service);
    *resp = &out->base;
    return SW_OK;
}

sw_err svc_health_watch(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse out, drained;
    sw_err rc;

    (void)resp;
    grpc__health__v1__health_check_response__init(&out);
    grpc__health__v1__health_check_response__init(&drained);
    out.status = svc_health_status(c, r->service);
    rc = svc_ctx_send(c, &out.base);
    if (rc)
        return rc;
    if (out.status !=
        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
        return SW_OK; /* nothing will change: end the stream */
    /* The only change to come is draining: park the stream (no worker is
     * held) with NOT_SERVING as its last message. */
    drained.status =
        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    rc = svc_ctx_park(c, &drained.base);
    if (rc == SW_EBUSY)
        return svc_ctx_send(c, &drained.base);
    return rc;
}
