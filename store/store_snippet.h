/* store_snippet: a team's snippets (framings and key passages), kept in the
 * store's SNIPPETS database with a change feed in SNIPPET_SEQ. Every put or
 * delete gives the snippet a new per-team sequence number, so followers
 * (the ranker's indexer) see each change once, in order, with
 * store_snippet_since.
 *
 * Conventions: out-params are written only on SW_OK; structs returned by
 * value hold strings the caller owns (release with store_snippet_clear).
 * All functions are thread-safe. */
#ifndef STORE_SNIPPET_H
#define STORE_SNIPPET_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "store/store.h"

/* Kinds, equal to the snipwise.v1.SnippetKind values (snippet.proto). */
#define STORE_SNIPPET_FRAMING 1
#define STORE_SNIPPET_KEY_PASSAGE 2

/* Limits checked by store_snippet_put. */
#define STORE_SNIPPET_TEXT_MAX (64 * 1024) /* bytes of text */
#define STORE_SNIPPET_FIELD_MAX 1024       /* bytes of every other string */

/* A snippet. Strings may be NULL on input (stored as ""); on output every
 * string is non-NULL. */
struct store_snippet {
    char *snippet_id; /* "snip_" and 16 hex digits */
    char *team_id;
    int kind;   /* STORE_SNIPPET_FRAMING or STORE_SNIPPET_KEY_PASSAGE */
    char *text; /* "" once deleted */
    char *content_id;
    char *email_id;
    char *thread_id;
    char *rep_email;
    char *family_id;
    char *topic; /* tags; "" when unset */
    char *intent;
    char *persona;
    char *stage;
    char *provenance; /* how it was extracted, e.g. "llm:model" */
    int64_t create_ms;
    uint64_t seq; /* position in the team's snippet feed */
    int deleted;  /* 1 once redacted */
};

/* store_snippet_id_ok returns 1 when id has the shape of a snippet id:
 * "snip_" and 16 lowercase hex digits (the ranker uses those 64 bits as
 * the snippet's ANN label), else 0. */
int store_snippet_id_ok(const char *id);

/* store_snippet_put stores s under s->team_id in the write transaction t.
 * When s->snippet_id is NULL it assigns a new id (the caller owns it, freed
 * by store_snippet_clear). A create_ms of 0 becomes the current time. It
 * sets s->seq to store_seq_next(team, "snippet") and indexes the snippet by
 * id and by seq (an older seq entry of the same id is removed), so
 * store_snippet_since reports it again. s->deleted is stored as given.
 * A given snippet_id must satisfy store_snippet_id_ok.
 * Since store_update may rerun its callback, calling this again with the
 * same s is safe (the same id is reused).
 * Errors: SW_EINVAL (bad team id, kind, id or over-long strings; read
 * transaction), SW_ENOMEM, SW_ETOOBIG (map full; store_update retries),
 * SW_ESTORE. */
SW_MUST_CHECK sw_err store_snippet_put(store_txn *t, struct store_snippet *s);

/* store_snippet_get reads snippet_id of team_id into *out (deleted snippets
 * included: check out->deleted). Errors: SW_ENOTFOUND, SW_EINVAL,
 * SW_ENOMEM, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err store_snippet_get(store *s, const char *team_id,
                                       const char *snippet_id,
                                       struct store_snippet *out);

/* store_snippet_get_txn is store_snippet_get inside the caller's
 * transaction t (read or write). Errors as store_snippet_get. */
SW_MUST_CHECK sw_err store_snippet_get_txn(store_txn *t, const char *team_id,
                                           const char *snippet_id,
                                           struct store_snippet *out);

/* store_snippet_delete redacts a snippet: its text and tags are wiped,
 * deleted becomes 1 and it gets a new seq so followers see the change.
 * Deleting a deleted snippet succeeds and changes nothing. Runs its own
 * write transaction (do not call it while holding one).
 * Errors: SW_ENOTFOUND, SW_EINVAL, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err store_snippet_delete(store *s, const char *team_id,
                                          const char *snippet_id);

/* store_snippet_redact_txn is store_snippet_delete inside the caller's
 * write transaction t (the erasures of store_erase.h redact an email's
 * snippets in the transaction that removes the email).
 * Errors: as store_snippet_delete. */
SW_MUST_CHECK sw_err store_snippet_redact_txn(store_txn *t, const char *team_id,
                                              const char *snippet_id);

/* The callback of store_snippet_since. sn is valid only during the call.
 * Returning an error stops the walk and is returned by store_snippet_since;
 * STORE_SCAN_STOP stops it early with SW_OK. */
typedef sw_err (*store_snippet_fn)(const struct store_snippet *sn, void *arg);

/* store_snippet_since calls fn for up to limit snippets of team_id whose
 * seq is greater than after_seq, in seq order, deleted ones included (each
 * snippet appears once, at its latest seq). The records are read in one
 * read transaction that ends before fn runs, so fn may use the store
 * freely. limit 0 means 1000.
 * Errors: fn's error, SW_EINVAL, SW_ENOMEM, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err store_snippet_since(store *s, const char *team_id,
                                         uint64_t after_seq, size_t limit,
                                         store_snippet_fn fn, void *arg);

/* store_snippet_last_seq writes the team's latest snippet seq (0 if none)
 * to *out. Errors: SW_EINVAL, SW_ESTORE, SW_ECORRUPT. */
SW_MUST_CHECK sw_err store_snippet_last_seq(store *s, const char *team_id,
                                            uint64_t *out);

/* store_snippet_last_seq_txn is store_snippet_last_seq in transaction t. */
SW_MUST_CHECK sw_err store_snippet_last_seq_txn(store_txn *t,
                                                const char *team_id,
                                                uint64_t *out);

/* store_snippet_ids_since_txn resets ids to the NUL-terminated ids, one
 * after another, of team_id's snippets whose seq is greater than
 * after_seq, in seq order, read in transaction t (the erasures of
 * store_erase.h find the snippets written since they planned). Errors:
 * SW_EINVAL, SW_ENOMEM, SW_ETOOBIG, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err store_snippet_ids_since_txn(store_txn *t,
                                                 const char *team_id,
                                                 uint64_t after_seq,
                                                 struct sw_buf *ids);

/* store_snippet_copy deep-copies src into *dst. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err store_snippet_copy(const struct store_snippet *src,
                                        struct store_snippet *dst);

/* store_snippet_clear frees the strings of s and zeroes it; NULL is
 * accepted. */
void store_snippet_clear(struct store_snippet *s);

#endif
