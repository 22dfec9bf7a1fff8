/* ctl_exit: snipctl's exit codes, one mapping from gRPC status codes for
 * every subcommand (documented in `snipctl --help`), and the test that
 * picks the subcommand that runs. */
#ifndef CTL_EXIT_H
#define CTL_EXIT_H

#define EXIT_RPC 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3
#define EXIT_AUTH 4
#define EXIT_NOTFOUND 5
#define EXIT_INVALID 6

/* ctl_exit_code maps a grpc_status_code (as an int) to an exit code: 0 for
 * OK, EXIT_INVALID, EXIT_UNAVAILABLE, EXIT_NOTFOUND, EXIT_AUTH, or
 * EXIT_RPC for the rest. Pure function. */
int ctl_exit_code(int status);

/* ctl_command_is returns 1 when argv's first command word (the first
 * argument that is neither a global flag nor its value; --json takes
 * none) is word. */
int ctl_command_is(int argc, char **argv, const char *word);

#endif
