/* ctl_content: `snipctl content get CONTENT_ID --output FILE`, which reads
 * a content item's file from the team's content library (ReadContent) into
 * FILE ("-" for standard output). The bytes are checked against the size
 * and SHA-256 the server announced first; a file is written to a temporary
 * name beside FILE and renamed over it only when complete and correct, so
 * FILE is never left half-written. Without --output, `content get` shows
 * the item (snipctl.c). */
#ifndef CTL_CONTENT_H
#define CTL_CONTENT_H

/* ctl_content_wanted says whether argv is `content get ... --output ...`. */
int ctl_content_wanted(int argc, char **argv);

/* ctl_content_main runs it; returns the process exit code (ctl_exit.h). */
int ctl_content_main(int argc, char **argv);

#endif
