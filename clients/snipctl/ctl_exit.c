/* ctl_exit: the status-to-exit-code mapping shared by snipctl's commands. */
#include "clients/snipctl/ctl_exit.h"

#include <string.h>

int ctl_exit_code(int status)
{
    switch (status) {
    case 0:
        return 0;
    case 3:  /* INVALID_ARGUMENT */
    case 11: /* OUT_OF_RANGE */
        return EXIT_INVALID;
    case 4:  /* DEADLINE_EXCEEDED */
    case 14: /* UNAVAILABLE */
        return EXIT_UNAVAILABLE;
    case 5: /* NOT_FOUND */
        return EXIT_NOTFOUND;
    case 7:  /* PERMISSION_DENIED */
    case 16: /* UNAUTHENTICATED */
        return EXIT_AUTH;
    default:
        return EXIT_RPC;
    }
}

int ctl_command_is(int argc, char **argv, const char *word)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (strcmp(argv[i], "--json") != 0)
                i++; /* a global flag and its value */
            continue;
        }
        return strcmp(argv[i], word) == 0;
    }
    return 0;
}
