/* svc_page: sealed page tokens (svc_page.h). */
#include "service/svc_page.h"

#include <openssl/evp.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "service/svc_rpc.h"

#define SVC_PAGE_VERSION 1
#define SVC_PAGE_NONCE 12
#define SVC_PAGE_TAG 16
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

/* svc_page_aad writes what a token is bound to: the method, the team and
 * the SHA-256 of the request packed with page_token and page_size cleared
 * (put back before returning). */
static SW_MUST_CHECK sw_err svc_page_aad(struct svc_ctx *c, const char *method,
                                         const ProtobufCMessage *req,
                                         struct sw_buf *aad)
{
    ProtobufCMessage *m = (ProtobufCMessage *)req;
    const ProtobufCFieldDescriptor *fs =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
                                                        "page_size");
    char **tok = svc_page_str(m, "page_token");
    unsigned char digest[SW_SHA256_LEN];
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
    sw_buf_reset(aad);
    if (sw_buf_add(aad, method, strlen(method) + 1) != SW_OK ||
        sw_buf_add(aad, svc_ctx_team(c), strlen(svc_ctx_team(c)) + 1) !=
            SW_OK ||
        sw_buf_add(aad, digest, sizeof(digest)) != SW_OK)
        return SW_ENOMEM;
    return SW_OK;
}

/* svc_page_gcm runs AES-256-GCM one way (enc 1: seal, 0: open) over in,
 * writing to out (n bytes) and using or checking tag. 0 on success. */
static int svc_page_gcm(int enc, const struct svc_page_key *key,
                        const unsigned char *nonce, const struct sw_buf *aad,
                        const unsigned char *in, size_t n, unsigned char *out,
                        unsigned char *tag)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int len = 0, ok;

    ok = x &&
         EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, SVC_PAGE_NONCE, NULL) ==
             1 &&
         EVP_CipherInit_ex(x, NULL, NULL, key->k, nonce, enc) == 1 &&
         EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)sw_buf_str(aad),
                          (int)sw_buf_len(aad)) == 1 &&
         EVP_CipherUpdate(x, out, &len, in, (int)n) == 1 &&
         (enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, SVC_PAGE_TAG,
                                     tag) == 1) &&
         EVP_CipherFinal_ex(x, out + len, &len) == 1 &&
         (!enc ||
          EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, SVC_PAGE_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(x);
    return ok ? 0 : -1;
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
        (n < 1 + SVC_PAGE_NONCE + SVC_PAGE_TAG || bin[0] != SVC_PAGE_VERSION ||
         svc_page_gcm(0, key, bin + 1, &aad, bin + 1 + SVC_PAGE_NONCE,
                      (size_t)n - 1 - SVC_PAGE_NONCE - SVC_PAGE_TAG, raw,
                      bin + n - SVC_PAGE_TAG) != 0)) {
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
    raw[n - 1 - SVC_PAGE_NONCE - SVC_PAGE_TAG] = '\0';
    if (memchr(raw, '\0', (size_t)n - 1 - SVC_PAGE_NONCE - SVC_PAGE_TAG))
        return SW_EINTERNAL; /* we never seal such a position */
    *tok = (char *)raw;
    return SW_OK;
}

sw_err svc_page_seal(struct svc_ctx *c, const struct svc_page_key *key,
                     const char *method, const ProtobufCMessage *req,
                     ProtobufCMessage *resp)
{
    char **next = svc_page_str(resp, "next_page_token");
    unsigned char bin[1 + SVC_PAGE_NONCE + SVC_PAGE_RAW_MAX + SVC_PAGE_TAG];
    struct sw_buf aad;
    size_t n;
    sw_err rc;

    if (next == NULL || *next == NULL || (*next)[0] == '\0')
        return SW_OK;
    n = strlen(*next);
    if (n > SVC_PAGE_RAW_MAX)
        return SW_EINTERNAL;
    bin[0] = SVC_PAGE_VERSION;
    rc = sw_random(bin + 1, SVC_PAGE_NONCE);
    sw_buf_init(&aad, 4096);
    if (rc == SW_OK)
        rc = svc_page_aad(c, method, req, &aad);
    if (rc == SW_OK &&
        svc_page_gcm(1, key, bin + 1, &aad, (const unsigned char *)*next, n,
                     bin + 1 + SVC_PAGE_NONCE,
                     bin + 1 + SVC_PAGE_NONCE + n) != 0)
        rc = SW_EINTERNAL;
    sw_buf_free(&aad);
    if (rc)
        return rc;
    *next = svc_page_b64(svc_ctx_arena(c), bin,
                         1 + SVC_PAGE_NONCE + n + SVC_PAGE_TAG);
    return *next ? SW_OK : SW_ENOMEM;
}
