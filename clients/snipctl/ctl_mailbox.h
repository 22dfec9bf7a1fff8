/* ctl_mailbox: `snipctl mailbox ...` over MailboxService (issue 16):
 *   mailbox add EMAIL --imap-url imaps://HOST[:PORT] --username U
 *       (--password-file F | --oauth2-token-file F) [--folders A,B]
 *       [--tls-ca PEM] [--backfill-days N|all] [--allow-plaintext]
 *   mailbox list | show ID | sync ID | pause ID | resume ID | remove ID
 *   mailbox set-credentials ID (--password-file F | --oauth2-token-file F)
 *       [--username U]
 * each with --json. Secrets are read from files ("-": standard input),
 * never from the command line. imaps:// is TLS from the first byte,
 * imap:// is STARTTLS (refused by snipd when the server does not offer
 * it); --allow-plaintext sends no TLS at all, which snipd accepts only for
 * a loopback address. After "mailbox", --tls-ca names the IMAP server's
 * CA; before it, snipd's (as for every command). */
#ifndef CTL_MAILBOX_H
#define CTL_MAILBOX_H

/* ctl_mailbox_wanted returns 1 when argv's first command word is
 * "mailbox". */
int ctl_mailbox_wanted(int argc, char **argv);

/* ctl_mailbox_main runs the command and returns the exit code
 * (ctl_exit.h): 0, EXIT_USAGE, or the RPC failure's code. */
int ctl_mailbox_main(int argc, char **argv);

#endif
