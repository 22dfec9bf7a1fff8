/* svc_backup: `snipd backup --data-dir DIR --to FILE` (a compacted,
 * consistent copy of the store taken while snipd serves, mode 0600, with
 * FILE.sha256 in sha256sum format) and `snipd restore FILE --data-dir NEW`
 * (checks the checksum, writes NEW/data.mdb into a new or empty directory,
 * and opens it as a store). The API key files admin.key and demo.key live
 * beside the store, not in it, so neither command copies them. */
#ifndef SVC_BACKUP_H
#define SVC_BACKUP_H

#include "service/svc_config.h"

/* Arguments of backup and restore that svc_config does not know. */
struct svc_backup_args {
    const char *to;   /* backup: --to FILE */
    const char *from; /* restore: the FILE after "restore" (or --from) */
};

/* svc_backup_args_take removes `--to FILE` (backup) or the backup file
 * (restore: the first argument after the command, or --from FILE) from
 * argv, updating *argc, when argv[1] is "backup" or "restore". Strings
 * point into argv. */
void svc_backup_args_take(int *argc, char **argv, struct svc_backup_args *a);

/* svc_backup_main runs `snipd backup`; returns the exit code: 0 written,
 * 1 the copy failed (nothing is left at FILE but an older backup), 2 a bad
 * argument or DIR is not a Snipwise store. */
int svc_backup_main(const struct svc_config *cfg,
                    const struct svc_backup_args *a);

/* svc_restore_main runs `snipd restore`; returns the exit code: 0
 * restored, 1 the checksum does not match or a copy failed (the target is
 * left as it was), 2 a bad argument, a missing checksum file, a non-empty
 * target, or a file that is not a Snipwise store. */
int svc_restore_main(const struct svc_config *cfg,
                     const struct svc_backup_args *a);

#endif
