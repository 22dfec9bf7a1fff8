/* ingest_int: helpers shared by the files of the ingest parsing code (mail,
 * html, doctext, reply) and nothing else: charset conversion to clean UTF-8.
 * Bazel visibility keeps this header inside ingest/. */
#ifndef INGEST_INT_H
#define INGEST_INT_H

#include <stddef.h>

#include "base/sw_err.h"

/* Flags reported by ingest__utf8_convert through *flags. */
#define INGEST__LOSSY 1           /* invalid bytes became U+FFFD */
#define INGEST__TRUNCATED 2       /* output was cut at max bytes */
#define INGEST__UNKNOWN_CHARSET 4 /* charset unknown; read as windows-1252 */

/* ingest__utf8_convert converts n bytes in charset (NULL or "" = guess:
 * UTF-8 when valid, else UTF-16 with a BOM, else windows-1252) to valid
 * UTF-8 without NUL bytes, cut on a character boundary at max bytes. *out is
 * NUL-terminated, caller frees with sw_free; *out_len excludes the NUL.
 * *flags (may be NULL) receives INGEST__* bits. Errors: SW_ENOMEM only.
 * Thread-safe. */
SW_MUST_CHECK sw_err ingest__utf8_convert(const void *p, size_t n,
                                          const char *charset, size_t max,
                                          char **out, size_t *out_len,
                                          int *flags);

/* ingest__utf8_valid_len returns the length of the longest prefix of
 * p[0..n) that is valid UTF-8 ending on a character boundary. */
size_t ingest__utf8_valid_len(const char *p, size_t n);

#endif
