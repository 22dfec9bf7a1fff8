/* ingest/html: turns HTML (mail bodies, .html attachments) into readable
 * plain text with libxml2's forgiving HTML parser: block elements become
 * line breaks, script and style are dropped, entities are decoded and runs
 * of whitespace collapse to one space. */
#ifndef INGEST_HTML_H
#define INGEST_HTML_H

#include <stddef.h>

#include "base/sw_err.h"

/* ingest_html_to_text converts n bytes of HTML to UTF-8 text of at most max
 * bytes. encoding names the bytes' charset (NULL: libxml2 detects it from a
 * BOM or <meta>, else UTF-8 with a windows-1252 fallback). Broken markup is
 * read as far as libxml2 recovers it; input that yields no document gives
 * "". *out is NUL-terminated, caller frees with sw_free; *out_len (may be
 * NULL) excludes the NUL; *truncated (may be NULL) is set to 1 when max cut
 * the text. Errors: SW_ENOMEM. Thread-safe once
 * ingest_mail_global_init has run (it initialises libxml2). */
SW_MUST_CHECK sw_err ingest_html_to_text(const char *html, size_t n,
                                         const char *encoding, size_t max,
                                         char **out, size_t *out_len,
                                         int *truncated);

#endif
