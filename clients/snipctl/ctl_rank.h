/* ctl_rank: the ranking commands of snipctl — `suggest (--thread ID |
 * --reply-to MSGID | --text FILE) [--draft TEXT] [--mode M] [--json]`,
 * `outcome record --message-id X --kind KIND --key K`, `rerank
 * [--force-promote] [--dry-run]` and `model show [--version V]`. */
#ifndef CTL_RANK_H
#define CTL_RANK_H

/* ctl_rank_wanted returns 1 when argv's first command word is one of
 * suggest, outcome, rerank or model. */
int ctl_rank_wanted(int argc, char **argv);

/* ctl_rank_main runs the command and returns the exit code: 0 on success,
 * 2 for usage errors, 1 when the call failed (the status is printed). */
int ctl_rank_main(int argc, char **argv);

#endif
