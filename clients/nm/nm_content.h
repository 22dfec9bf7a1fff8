/* nm_content: passes a content file from snipd's ReadContent stream on to
 * the extension as base64 chunk frames (a file is larger than the 1 MB a
 * browser accepts in one message), checking the bytes against the size and
 * SHA-256 the stream announced. Used by nm_host for "read_content". */
#ifndef NM_CONTENT_H
#define NM_CONTENT_H

#include <jansson.h>
#include <stddef.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "snipwise/v1/snippet.pb-c.h"

/* Largest file passed on: snipd's largest --content-max-file-bytes, so
 * every file the library keeps fits. The extension holds the whole file
 * in memory to attach it. */
#define NM_CONTENT_MAX (16u * 1024 * 1024)

/* File bytes per chunk frame: 512 KiB become 699,052 base64 characters,
 * which with the frame's JSON stays well inside NM_FRAME_OUT_MAX. */
#define NM_CONTENT_CHUNK (512u * 1024)

/* A sender of one frame's n bytes at p; returns SW_OK or the write's error
 * (SW_EIO when the reader went away). */
typedef sw_err (*nm_content_send_fn)(const char *p, size_t n, void *arg);

typedef struct nm_content nm_content;

/* nm_content_new creates a reader whose chunk frames
 *   {"id": id, "type": type, "ok": true, "more": true,
 *    "chunk": {"seq": n, "offset": bytes before, "data": base64}}
 * go to send(p, n, arg), in order, seq counting from 0. id (borrowed,
 * kept until nm_content_free; NULL means null) is the request's id; type
 * is a static string. SW_ENOMEM. */
SW_MUST_CHECK sw_err nm_content_new(json_t *id, const char *type,
                                    nm_content_send_fn send, void *arg,
                                    nm_content **out);

/* nm_content_free releases a reader (finished or not) and clears *r; NULL
 * is accepted. */
void nm_content_free(nm_content **r);

/* nm_content_take takes the stream's next message m (borrowed for the
 * call): the file's description first, then its bytes, which are sent on
 * as each NM_CONTENT_CHUNK fills. Errors, with a sentence appended to why:
 * SW_EPARSE (the stream breaks ReadContent's contract: no description
 * first, a second one, a bad SHA-256, more bytes than announced);
 * SW_ETOOBIG (the file is larger than NM_CONTENT_MAX, or the id makes a
 * frame too large); SW_EIO (send failed); SW_ENOMEM. After an error the
 * reader must only be freed. */
SW_MUST_CHECK sw_err nm_content_take(nm_content *r,
                                     const Snipwise__V1__ReadContentResponse *m,
                                     struct sw_buf *why);

/* nm_content_finish sends the last chunk frame and checks the bytes sent
 * against the announced size and SHA-256. On SW_OK *result (the caller's
 * to json_decref) is the final reply's result: the ContentFile's JSON
 * {content_id, filename, media_type, size_bytes, sha256} plus "chunks",
 * the number of chunk frames sent. Errors, with a sentence appended to
 * why: SW_EPARSE (no description came), SW_ECORRUPT (fewer bytes than
 * announced, or a SHA-256 mismatch), SW_EIO, SW_ETOOBIG, SW_ENOMEM. */
SW_MUST_CHECK sw_err nm_content_finish(nm_content *r, json_t **result,
                                       struct sw_buf *why);

#endif
