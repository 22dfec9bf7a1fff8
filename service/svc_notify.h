/* svc_notify: snipd's side of systemd's readiness protocol (sd_notify(3)),
 * for dist/snipd.service's Type=notify. Without $NOTIFY_SOCKET (not started
 * by systemd) every call does nothing. */
#ifndef SVC_NOTIFY_H
#define SVC_NOTIFY_H

/* svc_notify_ready tells the service manager that snipd serves: READY=1
 * and a STATUS= line naming addr (the listening host:port). Call it once,
 * after the listener accepts calls. Errors are logged, never returned: a
 * manager that does not listen must not stop the server. Thread-safe. */
void svc_notify_ready(const char *addr);

/* svc_notify_stopping tells the service manager that snipd drains (on
 * SIGTERM/SIGINT): STOPPING=1. Same error rule as svc_notify_ready. */
void svc_notify_stopping(void);

#endif
