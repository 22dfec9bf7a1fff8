/* ctl_tls: --tls-cert/--tls-key taken out of the command line into the
 * environment, so that every subcommand's own parser need not know them. */
#include "clients/snipctl/ctl_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_tls_take(int *argc, char **argv)
{
    int i, j = 1;

    for (i = 1; i < *argc; i++) {
        const char *a = argv[i], *env = NULL, *v = NULL;
        size_t n = 0;
        if (strncmp(a, "--tls-cert", 10) == 0) {
            env = "SNIPWISE_TLS_CERT";
            n = 10;
        } else if (strncmp(a, "--tls-key", 9) == 0) {
            env = "SNIPWISE_TLS_KEY";
            n = 9;
        }
        if (env == NULL || (a[n] != '\0' && a[n] != '=')) {
            argv[j++] = argv[i];
            continue;
        }
        if (a[n] == '=')
            v = a + n + 1;
        else if (i + 1 < *argc)
            v = argv[++i];
        if (v == NULL || v[0] == '\0') {
            fprintf(stderr, "snipctl: %.*s needs a file\n", (int)n, a);
            return -1;
        }
        if (setenv(env, v, 1) != 0) {
            fprintf(stderr, "snipctl: cannot set %s\n", env);
            return -1;
        }
    }
    *argc = j;
    argv[j] = NULL;
    if ((getenv("SNIPWISE_TLS_CERT") == NULL) !=
        (getenv("SNIPWISE_TLS_KEY") == NULL)) {
        fprintf(stderr, "snipctl: --tls-cert and --tls-key go together\n");
        return -1;
    }
    return 0;
}

void ctl_tls_opts(struct snipc_opts *o)
{
    o->tls_cert = getenv("SNIPWISE_TLS_CERT");
    o->tls_key = getenv("SNIPWISE_TLS_KEY");
}
