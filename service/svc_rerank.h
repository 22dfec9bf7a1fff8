/* svc_rerank: `snipd rerank --data-dir DIR [--team T] [--force-promote]
 * [--dry-run]`, the nightly job as a second process beside a serving
 * snipd (LMDB coordinates the two): every team (or one) in turn, each
 * report printed on stdout. */
#ifndef SVC_RERANK_H
#define SVC_RERANK_H

#include "service/svc_config.h"

/* Flags of the rerank command that svc_config does not know. */
struct svc_rerank_flags {
    int force_promote;
    int dry_run;
};

/* svc_rerank_flags_take removes --force-promote and --dry-run from argv
 * (updating *argc) when argv[1] is "rerank", recording them in *f. */
void svc_rerank_flags_take(int *argc, char **argv, struct svc_rerank_flags *f);

/* svc_rerank_main runs the job; returns the process exit code (0: every
 * team ran; 1: a team failed; 2: the store could not be opened). */
int svc_rerank_main(const struct svc_config *cfg,
                    const struct svc_rerank_flags *f);

#endif
