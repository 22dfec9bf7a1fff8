/* ctl_enum: API enums as command-line words (ctl_enum.h). */
#include "clients/snipctl/ctl_enum.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ctl_enum_word returns name without the enum's prefix, which is what its
 * zero value ("PREFIX_UNSPECIFIED") has before UNSPECIFIED. */
static const char *ctl_enum_word(const ProtobufCEnumDescriptor *d,
                                 const char *name, size_t *plen)
{
    const char *un = d->n_values ? d->values[0].name : "";
    const char *end = strstr(un, "UNSPECIFIED");

    *plen = end ? (size_t)(end - un) : 0;
    return strncmp(name, un, *plen) == 0 ? name + *plen : name;
}

int ctl_enum_value(const ProtobufCEnumDescriptor *d, const char *flag,
                   const char *word)
{
    size_t i, plen;

    for (i = 0; word && i < d->n_values; i++) {
        const char *w = ctl_enum_word(d, d->values[i].name, &plen);
        if (d->values[i].value != 0 && strcasecmp(w, word) == 0)
            return d->values[i].value;
    }
    fprintf(stderr, "snipctl: %s '%s' is not one of:", flag, word ? word : "");
    for (i = 0; i < d->n_values; i++) {
        const char *w = ctl_enum_word(d, d->values[i].name, &plen);
        char low[128];
        size_t k;
        if (d->values[i].value == 0)
            continue;
        for (k = 0; w[k] && k + 1 < sizeof(low); k++)
            low[k] = (char)(w[k] >= 'A' && w[k] <= 'Z' ? w[k] + 32 : w[k]);
        low[k] = '\0';
        fprintf(stderr, "%s %s", i > 1 ? "," : "", low);
    }
    fputc('\n', stderr);
    return -1;
}
