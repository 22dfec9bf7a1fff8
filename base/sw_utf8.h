/* sw_utf8: the one check that bytes are well-formed UTF-8, for text that
 * arrives from clients and is handed on as C strings (protobuf-c string
 * fields, team and member names, the extractor's fuzzed input). Pure and
 * thread-safe. */
#ifndef SW_UTF8_H
#define SW_UTF8_H

#include <stddef.h>

/* sw_utf8_valid returns 1 when the n bytes at p are well-formed UTF-8 as
 * RFC 3629 defines it and hold no NUL byte, else 0. n == 0 is valid (p may
 * then be NULL). Refused:
 *   - a NUL byte (U+0000) anywhere: callers hand the text on as a C string,
 *     where it would silently cut the value ("Sales\0Evil" read as "Sales");
 *   - a byte that cannot start a sequence: a lone continuation byte
 *     (0x80-0xBF) or 0xF8-0xFF;
 *   - a sequence cut short by the end of the bytes or by a byte that is not
 *     a continuation byte;
 *   - overlong forms (a code point encoded in more bytes than it needs, so
 *     0xC0 and 0xC1 never start a valid sequence, nor 0xE0 0x80-0x9F, nor
 *     0xF0 0x80-0x8F);
 *   - the UTF-16 surrogates U+D800-U+DFFF (0xED 0xA0-0xBF);
 *   - code points past U+10FFFF (0xF4 0x90-0xBF, 0xF5-0xF7).
 * Everything else is accepted, control characters and noncharacters such
 * as U+FFFF included: callers with stricter rules add them on top. */
int sw_utf8_valid(const void *p, size_t n);

#endif
