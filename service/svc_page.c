/* svc_page: sealed page tokens (svc_page.h). */
#include "service/svc_page.h"

#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "service/svc_rpc.h"

#define SVC_PAGE_VERSION 1
#define SVC_PAGE_RAW_MAX 1024 /* the longest raw position a store makes */
#define SVC_PAGE_SECRET "page_token"

sw_err svc_page_key_load(struct store *s, struct svc_page_key *out)
{
    return store_secret(s, SVC_PAGE_SECRET, out->k);
}

/* svc_page_str finds the string field name of m; NULL if m has none. */
static char **svc_page_str(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
        f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return (char **)((char *)m + f->offset);
}

/* svc_page_digest writes the SHA-256 of the request packed with
 * page_token and page_size cleared (put back before returning). */
static SW_MUST_CHECK sw_err svc_page_digest(struct svc_ctx *c,
                                            const ProtobufCMessage *req,
                                            unsigned char *digest)
{
    ProtobufCMessage *m = (ProtobufCMessage *)req;
    const ProtobufCFieldDescriptor *fs =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
                                                        "page_size");
    char **tok = svc_page_str(m, "page_token");
    char *saved_tok = tok ? *tok : NULL;
    int32_t saved_size = 0, *size = NULL;
    uint8_t *packed;
    size_t n;

    if (fs && fs->type == PROTOBUF_C_TYPE_INT32 &&
        fs->label != PROTOBUF_C_LABEL_REPEATED) {
        size = (int32_t *)((char *)m + fs->offset);
        saved_size = *size;
        *size = 0;
    }
    if (tok)
        *tok = (char *)protobuf_c_empty_string;
    n = protobuf_c_message_get_packed_size(m);
    packed = sw_arena_alloc(svc_ctx_arena(c), n ? n : 1);
    if (packed)
        protobuf_c_message_pack(m, packed);
    if (tok)
        *tok = saved_tok;
    if (size)
        *size = saved_size;
    if (packed == NULL)
        return SW_ENOMEM;
    sw_sha256(packed, n, digest);
    return SW_OK;
}

/* svc_page_aad writes what a token is bound to: the method, the team and
 * the request's digest, made once per call (open and seal both need it). */
static SW_MUST_CHECK sw_err svc_page_aad(struct svc_ctx *c, const char *method,
                                         const ProtobufCMessage *req,
                                         struct sw_buf *aad)
{
    int *set;
    unsigned char *digest = svc_ctx_page_digest(c, &set);
    sw_err rc = *set ? SW_OK : svc_page_digest(c, req, digest);

    if (rc)
        return rc;
    *set = 1;
    sw_buf_reset(aad);
    if (sw_buf_add(aad, method, strlen(method) + 1) != SW_OK ||
        sw_buf_add(aad, svc_ctx_team(c), strlen(svc_ctx_team(c)) + 1) !=
            SW_OK ||
        sw_buf_add(aad, digest, SW_SHA256_LEN) != SW_OK)
        return SW_ENOMEM;
    return SW_OK;
}

/* Base64url without padding, both ways. */
static const char svc_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *svc_page_b64(struct sw_arena *a, const unsigned char *p, size_t n)
{
    char *out = sw_arena_alloc(a, (n + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        *o++ = svc_b64[v >> 18];
        *o++ = svc_b64[(v >> 12) & 63];
        if (k > 1)
            *o++ = svc_b64[(v >> 6) & 63];
        if (k > 2)
            *o++ = svc_b64[v & 63];
    }
    *o = '\0';
    return out;
}

/* svc_page_unb64 decodes s into out (room for strlen(s) bytes); the
 * length, or -1 for a character outside the alphabet or a bad length. */
static long svc_page_unb64(const char *s, unsigned char *out)
{
    size_t n = strlen(s), i, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1;
    for (i = 0; i < n; i++) {
        const char *p = strchr(svc_b64, s[i]);
        if (s[i] == '\0' || p == NULL)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - svc_b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

sw_err svc_page_open(struct svc_ctx *c, const struct svc_page_key *key,
                     const char *method, ProtobufCMessage *req)
{
    char **tok = svc_page_str(req, "page_token");
    unsigned char *bin, *raw;
    struct sw_buf aad;
    long n;
    sw_err rc;

    if (tok == NULL || *tok == NULL || (*tok)[0] == '\0')
        return SW_OK;
    bin = sw_arena_alloc(svc_ctx_arena(c), strlen(*tok) + 1);
    raw = sw_arena_alloc(svc_ctx_arena(c), strlen(*tok) + 1);
    if (bin == NULL || raw == NULL)
        return SW_ENOMEM;
    n = svc_page_unb64(*tok, bin);
    sw_buf_init(&aad, 4096);
    rc = svc_page_aad(c, method, req, &aad);
    if (rc == SW_OK &&
        (n < 1 + SW_AEAD_OVERHEAD || bin[0] != SVC_PAGE_VERSION ||
         sw_aead_open(key->k, sw_buf_str(&aad), sw_buf_len(&aad), bin + 1,
                      (size_t)n - 1, raw) != SW_OK)) {
        svc_ctx_reason(c, "PAGE_TOKEN_INVALID");
        rc = svc_ctx_fail_field(c, SW_EINVAL, "page_token",
                                "is not one this request's previous page "
                                "returned: it was altered, or made for "
                                "another method, team or filter (only "
                                "page_size may change between pages)");
    }
    sw_buf_free(&aad);
    if (rc)
        return rc;
    n -= 1 + SW_AEAD_OVERHEAD;
    raw[n] = '\0';
    if (memchr(raw, '\0', (size_t)n))
        return SW_EINTERNAL; /* we never seal such a position */
    *tok = (char *)raw;
    return SW_OK;
}

sw_err svc_page_seal(struct svc_ctx *c, const struct svc_page_key *key,
                     const char *method, const ProtobufCMessage *req,
                     ProtobufCMessage *resp)
{
    char **next = svc_page_str(resp, "next_page_token");
    unsigned char bin[1 + SVC_PAGE_RAW_MAX + SW_AEAD_OVERHEAD];
    struct sw_buf aad;
    size_t n;
    sw_err rc;

    if (next == NULL || *next == NULL || (*next)[0] == '\0')
        return SW_OK;
    n = strlen(*next);
    if (n > SVC_PAGE_RAW_MAX)
        return SW_EINTERNAL;
    bin[0] = SVC_PAGE_VERSION;
    sw_buf_init(&aad, 4096);
    rc = svc_page_aad(c, method, req, &aad);
    if (rc == SW_OK)
        rc = sw_aead_seal(key->k, sw_buf_str(&aad), sw_buf_len(&aad), *next, n,
                          bin + 1);
    sw_buf_free(&aad);
    if (rc)
        return rc;
    *next = svc_page_b64(svc_ctx_arena(c), bin, 1 + n + SW_AEAD_OVERHEAD);
    return *next ? SW_OK : SW_ENOMEM;
}
