/* ingest/imap_conn: one IMAP client session on libetpan (mailimap), the
 * only code that includes libetpan: connect (IMAPS, STARTTLS, or plaintext
 * to a loopback address, or to any host when the mailbox allows it) with
 * certificate and host-name checks, log in (LOGIN or AUTHENTICATE XOAUTH2),
 * find the \Sent folder (RFC 6154), EXAMINE a folder (read-only, so no flag
 * ever changes), list the UIDs after a cursor and fetch messages with
 * BODY.PEEK[], and wait for new mail with IDLE (RFC 2177). Every read has the
 * session's timeout.
 *
 * Errors carry a sentence for the mailbox's last_error in why (reset
 * first): what failed, on which host, and what the server said. Secrets
 * never reach why or the log. A session belongs to one thread. */
#ifndef INGEST_IMAP_CONN_H
#define INGEST_IMAP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"

typedef struct ingest_imap_conn ingest_imap_conn;

/* TLS modes; equal to snipwise.v1.TlsMode. */
#define INGEST_IMAP_TLS_IMAPS 1
#define INGEST_IMAP_TLS_STARTTLS 2
#define INGEST_IMAP_TLS_PLAIN_LOOPBACK 3

/* Kinds of secret; equal to STORE_MAILBOX_*. */
#define INGEST_IMAP_AUTH_PASSWORD 1
#define INGEST_IMAP_AUTH_OAUTH2 2

/* ingest_imap_host_is_loopback returns 1 when host is "localhost" or a
 * literal 127.0.0.0/8 or ::1 address (no name lookup), else 0. */
int ingest_imap_host_is_loopback(const char *host);

/* ingest_imap_plaintext_ok returns 1 when a plaintext session to host is
 * allowed: host is a loopback address (ingest_imap_host_is_loopback), or
 * the mailbox was created with allow_plaintext (non-zero); else 0. The one
 * decision behind CreateMailbox's check and ingest_imap_conn_open's. */
int ingest_imap_plaintext_ok(const char *host, int allow_plaintext);

/* ingest_imap_conn_open connects to host:port in tls_mode with timeout_s
 * seconds for the connection and every read. With TLS the server's
 * certificate must chain to ca_pem's certificates (PEM text), or to the
 * system's CAs when ca_pem is NULL or "", and match host. Errors:
 * SW_EINVAL (a bad mode, or plaintext where ingest_imap_plaintext_ok
 * says no), SW_EIO (network, TLS, certificate), SW_EPROVIDER (no STARTTLS
 * offered, a bad greeting), SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_open(const char *host, uint16_t port,
                                           int tls_mode, int allow_plaintext,
                                           const char *ca_pem, int timeout_s,
                                           ingest_imap_conn **out,
                                           struct sw_buf *why);

/* ingest_imap_conn_close logs out (best effort), frees the session and
 * sets *c to NULL. NULL is accepted. */
void ingest_imap_conn_close(ingest_imap_conn **c);

/* ingest_imap_conn_abort shuts the session's socket down so that a read
 * blocked in another thread fails at once (SW_EIO); the session must still
 * be closed by its own thread. For a bounded shutdown. */
void ingest_imap_conn_abort(ingest_imap_conn *c);

/* ingest_imap_conn_login authenticates. Errors: SW_EPERM (the server
 * refused the credentials: why quotes it), SW_EIO (also a refusal with
 * RFC 5530's [LIMIT] or [UNAVAILABLE]: too many connections, or the
 * server is busy; not the credentials), SW_EPROVIDER, SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_login(ingest_imap_conn *c,
                                            const char *user, int auth_kind,
                                            const char *secret,
                                            struct sw_buf *why);

/* ingest_imap_conn_sent sets *name (sw_free) to the folder LIST marks
 * \Sent, or to NULL when there is none. Errors: SW_EIO, SW_EPROVIDER,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_sent(ingest_imap_conn *c, char **name,
                                           struct sw_buf *why);

/* ingest_imap_conn_examine opens folder read-only and reports its
 * UIDVALIDITY, UIDNEXT (0 if the server sent none) and message count.
 * Errors: SW_ENOTFOUND (the server said NO), SW_EIO, SW_EPROVIDER. */
SW_MUST_CHECK sw_err ingest_imap_conn_examine(
    ingest_imap_conn *c, const char *folder, uint32_t *uidvalidity,
    uint32_t *uidnext, uint32_t *exists, struct sw_buf *why);

/* ingest_imap_conn_uids lists the UIDs above after in the examined folder,
 * ascending, into *uids (*n of them, sw_free; NULL when none).
 * Errors: SW_EIO, SW_EPROVIDER, SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_uids(ingest_imap_conn *c, uint32_t after,
                                           uint32_t **uids, size_t *n,
                                           struct sw_buf *why);

/* ingest_imap_conn_uids_since lists, ascending, the UIDs of the examined
 * folder's messages the server received on or after the day of since_s
 * (Unix seconds, UTC; UID SEARCH SINCE, by INTERNALDATE) into *uids (*n of
 * them, sw_free; NULL when none). Errors: as ingest_imap_conn_uids. */
SW_MUST_CHECK sw_err ingest_imap_conn_uids_since(ingest_imap_conn *c,
                                                 int64_t since_s,
                                                 uint32_t **uids, size_t *n,
                                                 struct sw_buf *why);

/* ingest_imap_conn_sizes reads the RFC822.SIZE of uids[0..n) (ascending)
 * of the examined folder into sizes[0..n), with UID FETCH (UID
 * RFC822.SIZE), a command per 2,000 UIDs, and no body: a message the
 * server no longer has gets 0.
 * Errors: SW_EIO, SW_EPROVIDER, SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_sizes(ingest_imap_conn *c,
                                            const uint32_t *uids, size_t n,
                                            uint32_t *sizes,
                                            struct sw_buf *why);

/* A fetched message: its UID and raw RFC 5322 bytes (valid during the
 * callback only). */
struct ingest_imap_msg {
    uint32_t uid;
    const char *data;
    size_t len;
};

/* Receives one batch, in ascending UID order (messages deleted meanwhile
 * are missing). Its error ends ingest_imap_conn_fetch with that error. */
typedef sw_err (*ingest_imap_batch_fn)(const struct ingest_imap_msg *msgs,
                                       size_t n, void *arg);

/* ingest_imap_conn_fetch fetches uids[0..n) with UID FETCH (UID
 * BODY.PEEK[]) in one command and hands them to fn. Errors: fn's,
 * SW_EIO, SW_EPROVIDER, SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_fetch(ingest_imap_conn *c,
                                            const uint32_t *uids, size_t n,
                                            ingest_imap_batch_fn fn, void *arg,
                                            struct sw_buf *why);

/* ingest_imap_conn_has_idle sets *has to 1 when the server advertises
 * IDLE (RFC 2177) in its CAPABILITY (asked for when not yet known), else
 * 0. Errors: SW_EIO, SW_EPROVIDER, SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_has_idle(ingest_imap_conn *c, int *has,
                                               struct sw_buf *why);

/* ingest_imap_conn_idle_start sends IDLE in the examined folder and reads
 * the server's continuation (with the session's read timeout). Errors:
 * SW_EPROVIDER (the server refused IDLE or answered something else),
 * SW_EIO (connection lost or timed out, or BYE), SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_idle_start(ingest_imap_conn *c,
                                                 struct sw_buf *why);

/* ingest_imap_conn_idle_wait waits at most ms milliseconds, during IDLE,
 * for the server to send something (or for the socket to close, e.g. by
 * ingest_imap_conn_abort); *ready is 1 when there is something to read,
 * else 0. Errors: SW_EIO. */
SW_MUST_CHECK sw_err ingest_imap_conn_idle_wait(ingest_imap_conn *c, int64_t ms,
                                                int *ready);

/* The most sessions ingest_imap_conn_idle_wait_any waits on at once. */
#define INGEST_IMAP_WAIT_MAX 8

/* ingest_imap_conn_idle_wait_any waits like ingest_imap_conn_idle_wait
 * on the n sessions c[0..n) at once (each in IDLE, each owned by the
 * calling thread), until one of them has something to read or ms
 * milliseconds pass; ready[i] is 1 when c[i] has, else 0. Errors:
 * SW_EINVAL (n is 0 or over INGEST_IMAP_WAIT_MAX), SW_EIO (a session
 * without a socket, or poll failed). */
SW_MUST_CHECK sw_err ingest_imap_conn_idle_wait_any(ingest_imap_conn *const *c,
                                                    size_t n, int64_t ms,
                                                    int *ready);

/* ingest_imap_conn_idle_done ends IDLE (DONE) and reads the server's
 * answer, with the untagged data it sent meanwhile; *exists is 1 when
 * that included EXISTS (the folder's message count changed), else 0.
 * Errors: SW_EPROVIDER (a bad answer to DONE), SW_EIO (connection lost
 * or timed out, or BYE), SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_conn_idle_done(ingest_imap_conn *c,
                                                int *exists,
                                                struct sw_buf *why);

#endif
