/* sw_utf8: decodes each sequence to its code point and refuses what
 * RFC 3629 does not allow (see sw_utf8.h); no tables, one pass. */
#include "base/sw_utf8.h"

#include <stdint.h>

int sw_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0, k, len;
    uint32_t cp;

    while (i < n) {
        if (s[i] == 0)
            return 0;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0) {
            len = 2;
            cp = s[i] & 0x1F;
        } else if ((s[i] & 0xF0) == 0xE0) {
            len = 3;
            cp = s[i] & 0x0F;
        } else if ((s[i] & 0xF8) == 0xF0) {
            len = 4;
            cp = s[i] & 0x07;
        } else {
            return 0; /* a continuation byte, or 0xF8-0xFF */
        }
        if (len > n - i)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Decoding first and judging the code point covers the overlong
         * forms of every length, the surrogates and the range in one test. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}
