/* libFuzzer target: ingest_mail_parse on arbitrary bytes (whole MIME path,
 * attachments and reply stripping included). */
#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "ingest/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ingest_limits l;
    struct ingest_mail *m = NULL;
    struct sw_buf why;

    ingest_mail_global_init();
    ingest_limits_default(&l);
    l.max_pages = 20;
    sw_buf_init(&why, 512);
    if (ingest_mail_parse(data, size, &l, &m, &why) == SW_OK)
        ingest_mail_free(&m);
    sw_buf_free(&why);
    return 0;
}
