/* pipeline_int.h: what pipeline.c (parsing, preparation, group commit) and
 * pipeline_commit.c (the write transaction of one email) share. Private to
 * the ingest module. */
#ifndef INGEST_PIPELINE_INT_H
#define INGEST_PIPELINE_INT_H

#include "ingest/pipeline.h"
#include "store/store.h"

/* One email on its way to the committer, prepared outside the lock. */
struct ingest__item {
    const char *team_id;
    const struct ingest_mail *m;
    int direction;             /* INGEST_DIR_OUTBOUND or INBOUND */
    char *rep_email;           /* "" when none */
    struct sw_buf dkey;        /* EMAIL_IDS key: Message-ID or hash */
    struct sw_buf subject_key; /* "" disables the subject fallback */
    char **participants;       /* lowercased, distinct */
    size_t n_participants;
    unsigned char (*text_sha)[32]; /* per attachment */
    int *has_text_sha;
    int has_links;  /* new_text holds an http(s) link */
    int64_t eff_ms; /* sent time, or now when the email has none */
    int64_t now_ms;
    int64_t max_file_bytes; /* ingest_pipeline_opts, resolved */
    int64_t quota_bytes;
    char why[256]; /* set by ingest__commit_item with SW_EQUOTA */
    const struct ingest_txn_hook *hook; /* ingest_request.hook */

    struct ingest_result res; /* filled by ingest__commit_item */
    sw_err rc;
    int done;
    int batch;
    int64_t enq_us, start_us, commit_us;
    struct ingest__item *next;
};

/* ingest__commit_item runs one email's dedupe, thread linking, contents,
 * email record and job inside write transaction t, filling it->res (reset
 * first, since store_update may run it again). Errors: SW_ENOTFOUND (team
 * gone), SW_EQUOTA (its new files do not fit the team's library), SW_ENOMEM,
 * SW_ETOOBIG, SW_ESTORE, SW_ECORRUPT, SW_EIO (no randomness). */
SW_MUST_CHECK sw_err ingest__commit_item(store_txn *t, struct ingest__item *it);

/* ingest__norm_text appends s[0..n) to b with ASCII lowercased, whitespace
 * runs collapsed to one space and the ends trimmed. Errors: as sw_buf. */
SW_MUST_CHECK sw_err ingest__norm_text(struct sw_buf *b, const char *s,
                                       size_t n);

/* ingest__now_us: monotonic microseconds. */
int64_t ingest__now_us(void);

#endif
