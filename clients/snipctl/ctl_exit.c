/* ctl_exit: the status-to-exit-code mapping shared by snipctl's commands. */
#include "clients/snipctl/ctl_exit.h"

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
