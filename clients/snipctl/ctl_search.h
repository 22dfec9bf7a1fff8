/* ctl_search: `snipctl search "TEXT" [filters]` over
 * SnippetService.SearchSnippets, and the request builders of `snipctl
 * snippet get|delete ID`, which are rows of snipctl's command table. */
#ifndef CTL_SEARCH_H
#define CTL_SEARCH_H

#include <protobuf-c/protobuf-c.h>

/* ctl_search_wanted returns 1 when argv's first command word is "search". */
int ctl_search_wanted(int argc, char **argv);

/* ctl_search_main runs `snipctl [flags] search TEXT [--kind framing|passage]
 * [--content ID] [--rep EMAIL] [--tag KEY=VALUE]... [--since MS] [--until
 * MS] [--page-size N] [--page-token T] [--json]` and returns the exit code:
 * 0 on success, 2 for usage errors, else the RPC failure's code. Prints one
 * line per hit (score, id, kind, text), then the next page token and any
 * filter note; with --json, the response as one JSON object. */
int ctl_search_main(int argc, char **argv);

/* ctl_build_snippet_id fills a GetSnippetRequest or DeleteSnippetRequest
 * (both hold only snippet_id) from pos[0]; 0, or -1 for bad usage. */
int ctl_build_snippet_id(const char *const *pos, int npos, ProtobufCMessage *m);

#endif
