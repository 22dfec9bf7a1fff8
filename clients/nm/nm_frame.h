/* nm_frame: the native messaging framing on a pair of file descriptors:
 * each message is a 4-byte length in native byte order followed by that
 * many bytes of UTF-8 JSON. Used by snipwise-nm on stdin/stdout. */
#ifndef NM_FRAME_H
#define NM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

/* Largest message the host accepts from the extension. The protocol allows
 * up to 4 GiB; requests are small JSON, so 8 MiB is plenty and bounds the
 * memory a bad or hostile sender can make the host use. */
#define NM_FRAME_IN_MAX (8u * 1024 * 1024)

/* Largest message the host may send: the browsers' limit (1 MB). */
#define NM_FRAME_OUT_MAX (1024u * 1024)

/* How many bytes of an oversized frame the host reads and discards to stay
 * in sync; beyond this it gives up on the stream. */
#define NM_FRAME_SKIP_MAX (64u * 1024 * 1024)

/* nm_frame_read reads one frame from fd.
 * On SW_OK either *eof is 1 (the stream ended cleanly before a frame; *out
 * is NULL) or *eof is 0 and *out holds the *len body bytes plus a NUL
 * (caller frees with sw_free). The body may be empty (*len 0).
 * SW_ETOOBIG: the frame declares more than max bytes; *len is the declared
 * length and the body is still unread (nm_frame_skip drains it).
 * SW_EPARSE: the stream ended inside a frame (a partial length or body).
 * SW_EIO: read(2) failed. SW_ENOMEM.
 * *out and *len are written only as stated. Retries on EINTR. */
SW_MUST_CHECK sw_err nm_frame_read(int fd, size_t max, char **out, size_t *len,
                                   int *eof);

/* nm_frame_skip reads and discards n bytes from fd. SW_EPARSE if the
 * stream ends first, SW_EIO on a read error. */
SW_MUST_CHECK sw_err nm_frame_skip(int fd, uint64_t n);

/* nm_frame_write writes n bytes at p as one frame to fd.
 * SW_ETOOBIG when n exceeds NM_FRAME_OUT_MAX (nothing is written);
 * SW_EIO when write(2) fails (e.g. EPIPE: the reader went away).
 * Retries on EINTR and short writes. */
SW_MUST_CHECK sw_err nm_frame_write(int fd, const char *p, size_t n);

#endif
