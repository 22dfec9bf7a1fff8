/* fault_mail: the fault tests' multipart mail (fault_mail.h), written once
 * so that the pipeline's and the worker's fault tests send the same shape. */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "tests/ingest/fault_mail.h"

char *fault_mail_new(const struct fault_mail *m)
{
    struct sw_buf b;
    char *out = NULL;

    sw_buf_init(&b, 1 << 20);
    ASSERT_OK(sw_buf_printf(
        &b,
        "%sDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
        "Content-Type: text/plain; name=\"%s\"\r\n"
        "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n"
        "%s\r\n--b--\r\n",
        m->headers, m->text, m->file_name, m->file_name, m->file_text));
    ASSERT_OK(sw_buf_take(&b, &out, NULL));
    return out;
}

char *fault_mail_fmt(const char *fmt, ...)
{
    struct sw_buf b;
    char *out = NULL;
    va_list ap;
    sw_err rc;

    sw_buf_init(&b, 1 << 20);
    va_start(ap, fmt);
    rc = sw_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ASSERT_OK(rc);
    ASSERT_OK(sw_buf_take(&b, &out, NULL));
    return out;
}
