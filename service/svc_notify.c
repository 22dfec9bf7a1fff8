/* svc_notify: READY=1 and STOPPING=1 through libsystemd's sd_notify, so
 * that `systemctl start snipd` returns once snipd serves and the manager
 * knows a stop is in progress while calls drain. */
#include "service/svc_notify.h"

#include <systemd/sd-daemon.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"

void svc_notify_ready(const char *addr)
{
    struct sw_buf msg;
    int r;

    sw_buf_init(&msg, 1024);
    if (sw_buf_printf(&msg, "READY=1\nSTATUS=serving on %s", addr) != SW_OK)
        sw_buf_reset(&msg);
    /* 0: keep $NOTIFY_SOCKET, so STOPPING=1 can be sent later. */
    r = sd_notify(0, sw_buf_len(&msg) ? sw_buf_str(&msg) : "READY=1");
    if (r < 0)
        sw_log_warn("server.notify_failed", "state=ready errno=%d", -r);
    else if (r > 0)
        sw_log_info("server.notified", "state=ready");
    sw_buf_free(&msg);
}

void svc_notify_stopping(void)
{
    int r = sd_notify(0, "STOPPING=1\nSTATUS=draining calls in flight");

    if (r < 0)
        sw_log_warn("server.notify_failed", "state=stopping errno=%d", -r);
}
