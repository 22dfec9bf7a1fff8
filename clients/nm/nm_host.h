/* nm_host: the request loop's brain: one JSON request in, one JSON reply
 * out. Requests are {"id", "type": "suggest"|"feedback"|"content"|
 * "read_content"|"ping", ...}; replies are {"id", "type", "ok": true,
 * "result": {...}} or {"id", "type", "ok": false, "error": {"code",
 * "message", ...}} with gRPC status names as codes. "read_content" sends
 * the file as chunk frames before its final reply (nm_content.h). Calls go
 * to snipd through snipc with the config's key and deadline. */
#ifndef NM_HOST_H
#define NM_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "clients/nm/nm_config.h"
#include "clients/nm/nm_content.h"

#define NM_HOST_VERSION "0.1.0"

typedef struct nm_host nm_host;

/* nm_host_new creates a host. cfg (borrowed; must outlive the host) may be
 * NULL when the config could not be loaded: then config_error (copied)
 * explains why, and every request is answered with FAILED_PRECONDITION
 * and that explanation. The gRPC channel opens lazily on the first call
 * (grpc_init must have been called). SW_ENOMEM. */
SW_MUST_CHECK sw_err nm_host_new(const struct nm_config *cfg,
                                 const char *config_error, nm_host **out);

/* nm_host_free closes the channel and frees the host; NULL is accepted. */
void nm_host_free(nm_host **h);

/* nm_host_handle answers one request: body is n bytes of a frame (not
 * necessarily NUL-terminated, maybe not JSON). The reply JSON is appended
 * to reply (at most NM_FRAME_OUT_MAX bytes: a larger result becomes a
 * RESOURCE_EXHAUSTED error reply). A "read_content" request first sends
 * its chunk frames through send(p, n, arg), then leaves the final reply
 * (the file's description, or an error: the extension then drops the
 * chunks) in reply. An error reply about a file the library does not keep
 * carries "reason": "CONTENT_FILE_NOT_KEPT", "file_state" and "content"
 * (the item's GetContent JSON). Every problem with the request becomes an
 * error reply, so the result is SW_OK unless memory ran out (SW_ENOMEM)
 * or send failed (SW_EIO: the reader went away). Blocks for at most the
 * config's timeout per snipd call (suggest may make two calls: ids, then
 * the thread text). Not thread-safe. */
SW_MUST_CHECK sw_err nm_host_handle(nm_host *h, const char *body, size_t n,
                                    nm_content_send_fn send, void *arg,
                                    struct sw_buf *reply);

/* nm_host_error_reply appends an error reply with a null id to reply, for
 * frames that were refused before they could be read (e.g. oversized).
 * code is a gRPC status name. SW_ENOMEM, SW_ETOOBIG. */
SW_MUST_CHECK sw_err nm_host_error_reply(const char *code, const char *message,
                                         struct sw_buf *reply);

#endif
