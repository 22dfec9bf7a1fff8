/* libFuzzer target: ingest_reply_strip on arbitrary text. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ingest/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;

    if (ingest_reply_strip((const char *)data, size, &out) == SW_OK) {
        if (strlen(out) > size)
            __builtin_trap(); /* the new text is never longer */
        sw_free(out);
    }
    return 0;
}
