/* svc_content: ReadContent over the team's content library
 * (svc_content.h). */
#include "service/svc_content.h"

#include <assert.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_log.h"
#include "base/sw_util.h"
#include "ingest/pipeline.h"
#include "ranker/index.h"
#include "snipwise/v1/common.pb-c.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "store/store_erase.h"
#include "store/store_library.h"
#include "store/store_mail.h"

/* svc_content_file_state names a file state for error metadata. */
static const char *svc_content_file_state(int st)
{
    switch (st) {
    case STORE_FILE_KEPT:
        return "CONTENT_FILE_STATE_KEPT";
    case STORE_FILE_TOO_LARGE:
        return "CONTENT_FILE_STATE_TOO_LARGE";
    case STORE_FILE_NOT_KEPT:
        return "CONTENT_FILE_STATE_NOT_KEPT";
    case STORE_FILE_DELETED:
        return "CONTENT_FILE_STATE_DELETED";
    default:
        return "CONTENT_FILE_STATE_UNSPECIFIED";
    }
}

/* svc_content_not_kept fails the call for an item whose file the library
 * does not hold, saying why and what would help. */
static sw_err svc_content_not_kept(struct svc_ctx *c,
                                   const struct store_content *s)
{
    const char *why;

    switch (s->file_state) {
    case STORE_FILE_TOO_LARGE:
        why = "its file is larger than the server keeps (snipd "
              "--content-max-file-bytes); its text and statistics are kept";
        break;
    case STORE_FILE_DELETED:
        why = "its file was deleted from the team's content library";
        break;
    default:
        why = "it was ingested before Snipwise kept files; ingest again an "
              "email that carries it to keep the file";
        break;
    }
    svc_ctx_reason(c, "CONTENT_FILE_NOT_KEPT");
    svc_ctx_meta(c, "file_state", "%s", svc_content_file_state(s->file_state));
    return svc_ctx_fail(c, SW_ESTATE, "content item %s has no file to read: %s",
                        s->content_id, why);
}

struct svc_content_chunk {
    const char *team_id;
    const unsigned char *sha;
    uint32_t chunk;
    struct sw_buf *out;
};

static SW_MUST_CHECK sw_err svc_content_chunk_txn(store_txn *t, void *arg)
{
    struct svc_content_chunk *k = arg;

    return store_library_read(t, k->team_id, k->sha, k->chunk, k->out);
}

/* svc_content_send_header sends the stream's first message. */
static SW_MUST_CHECK sw_err
svc_content_send_header(struct svc_ctx *c, const struct store_content *s)
{
    Snipwise__V1__ReadContentResponse m =
        SNIPWISE__V1__READ_CONTENT_RESPONSE__INIT;
    Snipwise__V1__ContentFile f = SNIPWISE__V1__CONTENT_FILE__INIT;

    f.content_id = s->content_id;
    f.filename = s->filename;
    f.media_type = s->media_type;
    f.size_bytes = s->size_bytes;
    f.sha256 = (char *)s->sha256_hex;
    m.file = &f;
    return svc_ctx_send(c, &m.base);
}

/* svc_content_send_bytes sends the file's chunks in order, hashing them,
 * and checks the total and the hash at the end. */
static SW_MUST_CHECK sw_err
svc_content_send_bytes(struct svc_ctx *c, const struct store_content *s)
{
    Snipwise__V1__ReadContentResponse m =
        SNIPWISE__V1__READ_CONTENT_RESPONSE__INIT;
    unsigned char got[SW_SHA256_LEN];
    struct svc_content_chunk k;
    sw_sha256_ctx *h = NULL;
    struct sw_buf b;
    int64_t sent = 0;
    sw_err rc;

    sw_buf_init(&b, STORE_LIBRARY_CHUNK);
    k.team_id = svc_ctx_team(c);
    k.sha = s->sha256;
    k.out = &b;
    rc = sw_sha256_begin(&h);
    for (k.chunk = 0; rc == SW_OK && sent < s->size_bytes; k.chunk++) {
        rc = store_view(svc_ctx_store(c), svc_content_chunk_txn, &k);
        if (rc == SW_ENOTFOUND) /* deleted while we read, or cut short */
            rc = svc_ctx_fail(c, k.chunk == 0 ? SW_ENOTFOUND : SW_ECORRUPT,
                              "the file of content item %s is no longer in "
                              "the library (after %lld bytes)",
                              s->content_id, (long long)sent);
        if (rc == SW_OK && sw_buf_len(&b) == 0)
            rc = SW_ECORRUPT; /* an empty chunk inside a file */
        if (rc == SW_OK)
            rc = sw_sha256_update(h, sw_buf_str(&b), sw_buf_len(&b));
        if (rc)
            break;
        m.data.data = (uint8_t *)sw_buf_str(&b);
        m.data.len = sw_buf_len(&b);
        sent += (int64_t)sw_buf_len(&b);
        rc = svc_ctx_send(c, &m.base);
    }
    if (h) {
        sw_err rc2 = sw_sha256_end(&h, rc == SW_OK ? got : NULL);
        if (rc == SW_OK)
            rc = rc2;
    }
    if (rc == SW_OK &&
        (sent != s->size_bytes || memcmp(got, s->sha256, SW_SHA256_LEN) != 0)) {
        sw_log_error("content.corrupt", "team=%s content=%s sent=%lld",
                     svc_ctx_team(c), s->content_id, (long long)sent);
        rc = svc_ctx_fail(c, SW_ECORRUPT,
                          "the stored file of content item %s does not match "
                          "its SHA-256; discard what was received",
                          s->content_id);
    }
    sw_buf_free(&b);
    return rc;
}

struct svc_content_usage_arg {
    const char *team_id;
    struct store_library_usage u;
};

static SW_MUST_CHECK sw_err svc_content_usage_txn(store_txn *t, void *arg)
{
    struct svc_content_usage_arg *g = arg;
    return store_library_usage(t, g->team_id, &g->u);
}

Snipwise__V1__ContentLibraryUsage *
svc_content_usage(struct svc_ctx *c, const char *team_id, sw_err *rc)
{
    Snipwise__V1__ContentLibraryUsage *m;
    struct svc_content_usage_arg g;

    memset(&g, 0, sizeof(g));
    g.team_id = team_id;
    *rc = store_view(svc_ctx_store(c), svc_content_usage_txn, &g);
    if (*rc)
        return NULL;
    m = svc_ctx_new(c, &snipwise__v1__content_library_usage__descriptor);
    if (m == NULL) {
        *rc = SW_ENOMEM;
        return NULL;
    }
    m->file_count = g.u.files;
    m->used_bytes = g.u.bytes;
    m->quota_bytes = ingest_pipeline_quota_bytes(svc_ctx_ingest(c));
    return m;
}

sw_err svc_content_read(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__ReadContentRequest *r = (const void *)req;
    struct store_content s;
    sw_err rc;

    (void)resp; /* a server stream sends with svc_ctx_send */
    if (r->content_id == NULL || r->content_id[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "content_id", "is required");
    memset(&s, 0, sizeof(s));
    rc =
        store_content_get(svc_ctx_store(c), svc_ctx_team(c), r->content_id, &s);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL) {
        svc_ctx_reason(c, "CONTENT_NOT_FOUND");
        return svc_ctx_fail(c, SW_ENOTFOUND, "no such content item: %s",
                            r->content_id);
    }
    if (rc)
        return rc;
    if (s.file_state != STORE_FILE_KEPT)
        rc = svc_content_not_kept(c, &s);
    if (rc == SW_OK)
        rc = svc_content_send_header(c, &s);
    if (rc == SW_OK)
        rc = svc_content_send_bytes(c, &s);
    store_content_clear(&s);
    return rc;
}

sw_err svc_content_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteContentRequest *r = (const void *)req;
    Snipwise__V1__DeleteContentResponse *out;
    struct store_erase_counts n;
    size_t i;
    sw_err rc;

    if (r->content_id == NULL || r->content_id[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "content_id", "is required");
    rc = store_content_erase(svc_ctx_store(c), svc_ctx_team(c), r->content_id,
                             &n);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL) {
        store_erase_counts_clear(&n);
        svc_ctx_reason(c, "CONTENT_NOT_FOUND");
        return svc_ctx_fail(c, SW_ENOTFOUND, "no such content item: %s",
                            r->content_id);
    }
    /* The store is the truth (searches re-check it); this only makes the
     * index forget at once instead of on the indexer's next pass. */
    for (i = 0; rc == SW_OK && svc_ctx_ranker(c) && i < n.n_snippets; i++)
        rc = rank_ranker_forget_snippet(svc_ctx_ranker(c), svc_ctx_team(c),
                                        n.snippet_ids[i]);
    out =
        rc ? NULL
           : svc_ctx_new(c, &snipwise__v1__delete_content_response__descriptor);
    if (rc == SW_OK && out == NULL)
        rc = SW_ENOMEM;
    if (rc == SW_OK) {
        out->email_count = (int64_t)n.emails;
        out->snippet_count = (int64_t)n.n_snippets;
        out->library_bytes = n.library_bytes;
        *resp = &out->base;
        sw_log_info("content.deleted",
                    "team=%s content=%s emails=%zu snippets=%zu bytes=%lld",
                    svc_ctx_team(c), r->content_id, n.emails, n.n_snippets,
                    (long long)n.library_bytes);
    }
    store_erase_counts_clear(&n);
    return rc;
}
