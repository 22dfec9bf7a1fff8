/* ctl_ingest: `snipctl ingest PATH...` (files, directories, mbox and Maildir
 * streamed over IngestService.IngestEmails) and the request builders of the
 * mail-reading subcommands (email get, thread get/list, content get/list),
 * which are rows of snipctl's command table. */
#ifndef CTL_INGEST_H
#define CTL_INGEST_H

#include <protobuf-c/protobuf-c.h>

/* ctl_ingest_wanted returns 1 when argv's first command word is "ingest". */
int ctl_ingest_wanted(int argc, char **argv);

/* ctl_ingest_main runs `snipctl [flags] ingest [flags] PATH...` and returns
 * the process exit code: 0 when the stream completed (even with rejected
 * messages), 2 for usage errors, else the RPC failure's code as snipctl's
 * other commands map it. Prints the summary on stdout (one JSON object with
 * --json) and a progress bar on stderr when it is a terminal. */
int ctl_ingest_main(int argc, char **argv);

/* Request builders for the table rows: each reads its positional arguments
 * (pos, npos) and flags and fills m; 0 on success, -1 for bad usage. */
int ctl_build_get_email(const char *const *pos, int npos, ProtobufCMessage *m);
int ctl_build_get_thread(const char *const *pos, int npos, ProtobufCMessage *m);
int ctl_build_list_threads(int32_t page_size, const char *page_token,
                           ProtobufCMessage *m);
int ctl_build_get_content(const char *const *pos, int npos,
                          ProtobufCMessage *m);
int ctl_build_list_contents(int32_t page_size, const char *page_token,
                            ProtobufCMessage *m);

#endif
