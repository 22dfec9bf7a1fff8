/* svc_tls: snipd's TLS material. The certificate, key and optional client
 * CA are read from files and checked here, then handed to gRPC core through
 * a certificate-config fetcher, so that a reload (SIGHUP) swaps them for new
 * connections without a restart and without touching open ones. */
#ifndef SVC_TLS_H
#define SVC_TLS_H

#include <grpc/grpc_security.h>

#include "base/sw_err.h"

typedef struct svc_tls svc_tls;

/* svc_tls_open reads cert (PEM chain), key (PEM private key) and, if not
 * NULL, client_ca (PEM certificates that client certificates must chain
 * to: mutual TLS). The paths are borrowed and must outlive *out. Checks
 * that each file parses and that the key belongs to the certificate.
 * SW_ENOTFOUND/SW_EIO (unreadable), SW_EPARSE (not PEM, or a passphrase),
 * SW_EINVAL (key and certificate differ), SW_ETOOBIG, SW_ENOMEM; then
 * *why names the file and the reason (static text). */
SW_MUST_CHECK sw_err svc_tls_open(const char *cert, const char *key,
                                  const char *client_ca, svc_tls **out,
                                  const char **why);

/* svc_tls_reload reads the same files again and, if they pass the checks
 * of svc_tls_open, makes them the ones new connections get (open
 * connections keep theirs). On error the old material stays in use and
 * *why says what was wrong. Thread-safe against the fetcher. */
SW_MUST_CHECK sw_err svc_tls_reload(svc_tls *t, const char **why);

/* svc_tls_creds returns new server credentials (the caller releases them)
 * that fetch t's current material at each handshake; with a client CA,
 * clients must present a certificate that chains to it. t must outlive
 * every server using them (free it after grpc_shutdown). NULL on error. */
grpc_server_credentials *svc_tls_creds(svc_tls *t);

/* svc_tls_self_signed tells whether the certificate loaded last is
 * self-signed, so that clients can trust the --tls-cert file itself. */
int svc_tls_self_signed(svc_tls *t);

/* svc_tls_log_hints routes gRPC core's log through a filter that adds
 * event=tls.plaintext_client, with a hint, after a handshake that failed
 * because the client spoke plaintext to the TLS port. Process-wide; call
 * once, before grpc_init. */
void svc_tls_log_hints(void);

/* svc_tls_free frees t and clears *t; NULL is accepted. */
void svc_tls_free(svc_tls **t);

#endif
