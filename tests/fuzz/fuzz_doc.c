/* libFuzzer target: ingest_attachment_extract for one document type,
 * chosen at build time by FUZZ_NAME (the filename the bytes claim). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ingest/mail.h"

#ifndef FUZZ_NAME
#define FUZZ_NAME "x.pdf"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ingest_limits l;
    struct ingest_attachment a;

    ingest_mail_global_init();
    ingest_limits_default(&l);
    l.max_pages = 10;
    memset(&a, 0, sizeof a);
    a.filename = (char *)FUZZ_NAME;
    a.content_type = (char *)"application/octet-stream";
    a.data = (unsigned char *)data;
    a.len = size;
    if (ingest_attachment_extract(&a, &l) == SW_OK) {
        if (a.state == INGEST_TEXT_EXTRACTED && a.text == NULL)
            __builtin_trap();
        sw_free(a.text);
        sw_free(a.detail);
    }
    return 0;
}
