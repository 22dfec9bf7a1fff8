/* nm_content: ReadContent's stream → chunk frames (nm_content.h). Bytes
 * are gathered into NM_CONTENT_CHUNK pieces whatever the size of snipd's
 * messages, so the number of frames depends on the file alone. */
#include "clients/nm/nm_content.h"

#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/nm/nm_frame.h"
#include "proto/msg.h"

/* Longest request id (as JSON text) repeated in chunk frames: with a full
 * chunk's base64 the frame stays under NM_FRAME_OUT_MAX. */
#define NM_CONTENT_ID_MAX (64u * 1024)

struct nm_content {
    json_t *id;       /* borrowed */
    const char *type; /* static */
    nm_content_send_fn send;
    void *arg;
    json_t *file;           /* the ContentFile's JSON, once it came */
    char sha_hex[65];       /* announced */
    int64_t size, received; /* announced, and received so far */
    unsigned seq;           /* chunk frames sent */
    sw_sha256_ctx *h;
    struct sw_buf idj;   /* the id as JSON text */
    sw_err id_rc;        /* SW_ETOOBIG: the id does not fit a frame */
    struct sw_buf pend;  /* bytes not yet sent */
    struct sw_buf frame; /* the frame being built */
};

/* What json_dump_callback writes to: a buffer, and its first error. */
struct nm_content_dump {
    struct sw_buf *b;
    sw_err rc;
};

/* nm_content_dump appends JSON text to the buffer of a dump. */
static int nm_content_dump(const char *p, size_t n, void *data)
{
    struct nm_content_dump *d = data;

    d->rc = sw_buf_add(d->b, p, n);
    return d->rc == SW_OK ? 0 : -1;
}

sw_err nm_content_new(json_t *id, const char *type, nm_content_send_fn send,
                      void *arg, nm_content **out)
{
    nm_content *r = sw_calloc(1, sizeof(*r));
    struct nm_content_dump d;

    if (r == NULL)
        return SW_ENOMEM;
    r->id = id;
    r->type = type;
    r->send = send;
    r->arg = arg;
    sw_buf_init(&r->idj, NM_CONTENT_ID_MAX);
    sw_buf_init(&r->pend, NM_CONTENT_CHUNK);
    sw_buf_init(&r->frame, NM_FRAME_OUT_MAX);
    d.b = &r->idj;
    d.rc = SW_OK;
    if (json_dump_callback(id ? id : json_null(), nm_content_dump, &d,
                           JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        /* Too long an id fails the first chunk, with a reason; a dump
         * that fails otherwise is out of memory. */
        r->id_rc = d.rc == SW_ETOOBIG ? SW_ETOOBIG : SW_ENOMEM;
        if (r->id_rc == SW_ENOMEM) {
            nm_content_free(&r);
            return SW_ENOMEM;
        }
    }
    *out = r;
    return SW_OK;
}

void nm_content_free(nm_content **r)
{
    if (r == NULL || *r == NULL)
        return;
    /* With out NULL, sw_sha256_end only frees; it cannot fail. */
    if ((*r)->h && sw_sha256_end(&(*r)->h, NULL) != SW_OK)
        (*r)->h = NULL;
    json_decref((*r)->file);
    sw_buf_free(&(*r)->idj);
    sw_buf_free(&(*r)->pend);
    sw_buf_free(&(*r)->frame);
    sw_free(*r);
    *r = NULL;
}

static const char nm_content_b64_abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* nm_content_b64 appends n bytes at p to b as padded standard base64. */
static sw_err nm_content_b64(struct sw_buf *b, const unsigned char *p, size_t n)
{
    char out[4096];
    size_t o = 0, i;
    sw_err rc;

    for (i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = nm_content_b64_abc[(v >> 18) & 63];
        out[o++] = nm_content_b64_abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? nm_content_b64_abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? nm_content_b64_abc[v & 63] : '=';
        if (o == sizeof(out)) {
            rc = sw_buf_add(b, out, o);
            if (rc)
                return rc;
            o = 0;
        }
    }
    return sw_buf_add(b, out, o);
}

/* nm_content_flush sends the pending bytes as the next chunk frame. */
static sw_err nm_content_flush(nm_content *r, struct sw_buf *why)
{
    struct sw_buf *f = &r->frame;
    int64_t offset = r->received - (int64_t)sw_buf_len(&r->pend);
    sw_err rc;

    sw_buf_reset(f);
    rc = r->id_rc;
    if (rc == SW_OK)
        rc = sw_buf_addstr(f, "{\"id\":");
    if (rc == SW_OK)
        rc = sw_buf_add(f, sw_buf_str(&r->idj), sw_buf_len(&r->idj));
    if (rc == SW_OK)
        rc = sw_buf_printf(f,
                           ",\"type\":\"%s\",\"ok\":true,\"more\":true,"
                           "\"chunk\":{\"seq\":%u,\"offset\":%lld,"
                           "\"data\":\"",
                           r->type, r->seq, (long long)offset);
    if (rc == SW_OK)
        rc = nm_content_b64(f, (const unsigned char *)sw_buf_str(&r->pend),
                            sw_buf_len(&r->pend));
    if (rc == SW_OK)
        rc = sw_buf_addstr(f, "\"}}");
    if (rc == SW_ETOOBIG) {
        if (sw_buf_printf(why,
                          "the request's id is too long to repeat in "
                          "chunk frames of at most %u bytes",
                          NM_FRAME_OUT_MAX))
            return SW_ENOMEM;
        return rc;
    }
    if (rc)
        return rc;
    rc = r->send(sw_buf_str(f), sw_buf_len(f), r->arg);
    if (rc)
        return rc == SW_ENOMEM ? rc : SW_EIO;
    r->seq++;
    sw_buf_reset(&r->pend);
    return SW_OK;
}

/* nm_content_bad appends a sentence to why and returns code. */
static sw_err nm_content_bad(struct sw_buf *why, sw_err code, const char *s)
{
    if (sw_buf_printf(why, "snipd's ReadContent stream %s", s))
        return SW_ENOMEM;
    return code;
}

/* nm_content_is_sha reports whether s is 64 lowercase hex digits. */
static int nm_content_is_sha(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 64)
        return 0;
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* nm_content_header takes the file's description. */
static sw_err nm_content_header(nm_content *r,
                                const Snipwise__V1__ContentFile *f,
                                struct sw_buf *why)
{
    struct sw_buf j;
    sw_err rc;

    if (!nm_content_is_sha(f->sha256) || f->size_bytes < 0)
        return nm_content_bad(why, SW_EPARSE,
                              "announced a file without a valid size and "
                              "SHA-256");
    if (f->size_bytes > (int64_t)NM_CONTENT_MAX) {
        if (sw_buf_printf(why,
                          "the file of content item %s is %lld bytes; "
                          "snipwise-nm passes files of at most %u bytes "
                          "(16 MiB) to the mail client",
                          f->content_id, (long long)f->size_bytes,
                          NM_CONTENT_MAX))
            return SW_ENOMEM;
        return SW_ETOOBIG;
    }
    sw_buf_init(&j, 64 * 1024);
    rc = msg_to_json(&f->base, &j);
    if (rc == SW_OK) {
        r->file = json_loadb(sw_buf_str(&j), sw_buf_len(&j), 0, NULL);
        if (r->file == NULL)
            rc = SW_ENOMEM;
    }
    sw_buf_free(&j);
    if (rc == SW_ETOOBIG)
        return nm_content_bad(why, SW_EPARSE,
                              "announced a file with a name too long");
    if (rc)
        return rc;
    memcpy(r->sha_hex, f->sha256, 65);
    r->size = f->size_bytes;
    return sw_sha256_begin(&r->h);
}

sw_err nm_content_take(nm_content *r,
                       const Snipwise__V1__ReadContentResponse *m,
                       struct sw_buf *why)
{
    const uint8_t *p = m->data.data;
    size_t n = m->data.len, room;
    sw_err rc;

    if (r->file == NULL) {
        if (m->file == NULL || n > 0)
            return nm_content_bad(why, SW_EPARSE,
                                  "did not start with the file's description");
        return nm_content_header(r, m->file, why);
    }
    if (m->file != NULL)
        return nm_content_bad(why, SW_EPARSE,
                              "described the file a second time");
    if ((int64_t)n > r->size - r->received)
        return nm_content_bad(why, SW_EPARSE,
                              "sent more bytes than it announced");
    rc = sw_sha256_update(r->h, p, n);
    while (rc == SW_OK && n > 0) {
        room = NM_CONTENT_CHUNK - sw_buf_len(&r->pend);
        if (room > n)
            room = n;
        rc = sw_buf_add(&r->pend, p, room);
        if (rc)
            break;
        p += room;
        n -= room;
        r->received += (int64_t)room;
        if (sw_buf_len(&r->pend) == NM_CONTENT_CHUNK)
            rc = nm_content_flush(r, why);
    }
    return rc;
}

sw_err nm_content_finish(nm_content *r, json_t **result, struct sw_buf *why)
{
    unsigned char sha[SW_SHA256_LEN];
    char hex[65];
    json_t *res;
    sw_err rc;

    if (r->file == NULL)
        return nm_content_bad(why, SW_EPARSE,
                              "ended without describing the file");
    if (sw_buf_len(&r->pend) > 0) {
        rc = nm_content_flush(r, why);
        if (rc)
            return rc;
    }
    rc = sw_sha256_end(&r->h, sha);
    if (rc)
        return rc;
    sw_hex(sha, SW_SHA256_LEN, hex);
    if (r->received != r->size)
        return nm_content_bad(why, SW_ECORRUPT,
                              "ended before all the announced bytes came");
    if (strcmp(hex, r->sha_hex) != 0)
        return nm_content_bad(why, SW_ECORRUPT,
                              "sent bytes that do not match the file's "
                              "SHA-256");
    res = json_deep_copy(r->file);
    if (res == NULL ||
        json_object_set_new(res, "chunks", json_integer((json_int_t)r->seq))) {
        json_decref(res);
        return SW_ENOMEM;
    }
    *result = res;
    return SW_OK;
}
