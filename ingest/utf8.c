/* utf8: every byte that leaves the ingest parser as text goes through here,
 * so the rest of Snipwise can trust it to be valid UTF-8 without NULs.
 * Charset names are mapped with GMime's alias table and converted by iconv. */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include <gmime/gmime.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/ingest_int.h"

/* utf8_seq_len returns the length of the valid UTF-8 sequence at s (at most
 * n bytes available), or 0 when the bytes there are not valid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (c == 0xE0 && s[1] < 0xA0)
        return 0;
    if (c == 0xED && s[1] > 0x9F)
        return 0;
    if (c == 0xF0 && s[1] < 0x90)
        return 0;
    if (c == 0xF4 && s[1] > 0x8F)
        return 0;
    return len;
}

size_t ingest__utf8_valid_len(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, k;

    while (i < n) {
        k = utf8_seq_len(s + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    return i;
}

static int utf8_all_valid(const char *p, size_t n)
{
    return ingest__utf8_valid_len(p, n) == n;
}

/* utf8_put appends n bytes of valid UTF-8, cutting on a character boundary
 * when the buffer's cap is reached (sets INGEST__TRUNCATED). Returns
 * SW_ETOOBIG once full so that callers stop feeding it. */
static sw_err utf8_put(struct sw_buf *b, const char *p, size_t n, int *flags)
{
    size_t room;
    sw_err rc;

    rc = sw_buf_add(b, p, n);
    if (rc != SW_ETOOBIG)
        return rc;
    room = b->max - b->len;
    room = ingest__utf8_valid_len(p, room < n ? room : n);
    rc = sw_buf_add(b, p, room);
    if (rc)
        return rc;
    *flags |= INGEST__TRUNCATED;
    return SW_ETOOBIG;
}

/* utf8_sanitize appends p[0..n), copying valid sequences, turning invalid
 * bytes into U+FFFD and dropping NULs. */
static sw_err utf8_sanitize(struct sw_buf *b, const char *p, size_t n,
                            int *flags)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, start = 0, k;
    sw_err rc;

    if (n == 0)
        return SW_OK; /* p may be NULL (an empty part): no pointer sums */
    while (i < n) {
        k = utf8_seq_len(s + i, n - i);
        if (k != 0 && s[i] != 0) {
            i += k;
            continue;
        }
        rc = utf8_put(b, p + start, i - start, flags);
        if (rc)
            return rc;
        if (s[i] != 0) {
            *flags |= INGEST__LOSSY;
            rc = utf8_put(b, "\xEF\xBF\xBD", 3, flags);
            if (rc)
                return rc;
        }
        i++;
        start = i;
    }
    return utf8_put(b, p + start, n - start, flags);
}

/* utf8_iconv converts with cd, replacing undecodable bytes by U+FFFD. */
static sw_err utf8_iconv(struct sw_buf *b, iconv_t cd, const char *p, size_t n,
                         int *flags)
{
    char chunk[4096];
    char *in = (char *)p;
    size_t inleft = n;
    sw_err rc = SW_OK;

    while (inleft > 0) {
        char *outp = chunk;
        size_t outleft = sizeof chunk;
        size_t r = iconv(cd, &in, &inleft, &outp, &outleft);
        int err = (r == (size_t)-1) ? errno : 0;

        rc = utf8_sanitize(b, chunk, sizeof chunk - outleft, flags);
        if (rc)
            return rc;
        if (err == EILSEQ || err == EINVAL) {
            *flags |= INGEST__LOSSY;
            rc = utf8_put(b, "\xEF\xBF\xBD", 3, flags);
            if (rc)
                return rc;
            if (err == EINVAL)
                break; /* incomplete sequence at the end */
            in++;
            inleft--;
            /* Reset the shift state (ISO-2022-JP, UTF-7) after damage. */
            (void)iconv(cd, NULL, NULL, NULL, NULL);
        } else if (err != 0 && err != E2BIG) {
            break;
        }
    }
    /* Flush the final shift sequence, if any. */
    {
        char *outp = chunk;
        size_t outleft = sizeof chunk;
        (void)iconv(cd, NULL, NULL, &outp, &outleft);
        rc = utf8_sanitize(b, chunk, sizeof chunk - outleft, flags);
    }
    return rc;
}

static int utf8_is_unicode_name(const char *cs)
{
    return g_ascii_strcasecmp(cs, "utf-8") == 0 ||
           g_ascii_strcasecmp(cs, "utf8") == 0 ||
           g_ascii_strcasecmp(cs, "us-ascii") == 0 ||
           g_ascii_strcasecmp(cs, "ascii") == 0 ||
           g_ascii_strcasecmp(cs, "ansi_x3.4-1968") == 0;
}

sw_err ingest__utf8_convert(const void *p, size_t n, const char *charset,
                            size_t max, char **out, size_t *out_len, int *flags)
{
    const unsigned char *s = p;
    const char *from = NULL;
    iconv_t cd = (iconv_t)-1;
    struct sw_buf b;
    int fl = 0;
    sw_err rc = SW_OK;

    sw_buf_init(&b, max);
    if (charset != NULL && charset[0] != '\0' &&
        !utf8_is_unicode_name(charset)) {
        from = g_mime_charset_iconv_name(charset);
        if (from != NULL)
            cd = iconv_open("UTF-8", from);
        if (cd == (iconv_t)-1)
            fl |= INGEST__UNKNOWN_CHARSET;
    }
    if (cd == (iconv_t)-1) {
        /* Declared UTF-8/ASCII, unknown or no charset: UTF-8 when it is
         * valid, UTF-16 when it has a BOM, else the usual mislabelled
         * Western charset. */
        if (utf8_all_valid(p, n)) {
            rc = utf8_sanitize(&b, p, n, &fl);
            goto out;
        }
        if (n >= 2 &&
            ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
            cd = iconv_open("UTF-8", "UTF-16");
        else
            cd = iconv_open("UTF-8", "WINDOWS-1252");
        if (cd == (iconv_t)-1) {
            rc = utf8_sanitize(&b, p, n, &fl);
            goto out;
        }
    }
    rc = utf8_iconv(&b, cd, p, n, &fl);
out:
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    if (rc == SW_ETOOBIG)
        rc = SW_OK; /* truncation is reported through the flags */
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, out_len);
    if (rc == SW_OK && flags != NULL)
        *flags = fl;
    sw_buf_free(&b);
    return rc;
}
