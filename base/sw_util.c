/* sw_util: checked parsing, clocks, hex, randomness, hashing, identifiers.
 * SHA-256 comes from OpenSSL's libcrypto rather than our own code. */
#include "base/sw_util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_mem.h"

/* sw_sha256_fd reads files in pieces of this size. */
#define SW_SHA256_CHUNK ((size_t)1 << 20)

sw_err sw_parse_i64(const char *s, size_t n, int64_t min, int64_t max,
                    int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;

    if (s == NULL || n == 0)
        return SW_EINVAL;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return SW_EINVAL;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return SW_EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return SW_ERANGE;
        v = v * 10 + d;
    }
    {
        int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
        if (neg && v == (uint64_t)INT64_MAX + 1)
            r = INT64_MIN;
        if (r < min || r > max)
            return SW_ERANGE;
        *out = r;
    }
    return SW_OK;
}

sw_err sw_parse_int(const char *s, int min, int max, int *out)
{
    int64_t v;
    sw_err rc;

    if (s == NULL)
        return SW_EINVAL;
    rc = sw_parse_i64(s, strlen(s), min, max, &v);
    if (rc)
        return rc;
    *out = (int)v;
    return SW_OK;
}

int64_t sw_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sw_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sw_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sw_hex(const void *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

sw_err sw_random(void *p, size_t n)
{
    unsigned char *b = p;

    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return SW_EIO;
        }
        b += r;
        n -= (size_t)r;
    }
    return SW_OK;
}

sw_err sw_sha256_begin(sw_sha256_ctx **out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    *out = NULL;
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return SW_ENOMEM;
    }
    *out = (sw_sha256_ctx *)ctx;
    return SW_OK;
}

sw_err sw_sha256_update(sw_sha256_ctx *c, const void *p, size_t n)
{
    return EVP_DigestUpdate((EVP_MD_CTX *)c, p, n) == 1 ? SW_OK : SW_ENOMEM;
}

sw_err sw_sha256_end(sw_sha256_ctx **c, unsigned char out[SW_SHA256_LEN])
{
    unsigned int len = SW_SHA256_LEN;
    sw_err rc = SW_OK;

    if (c == NULL || *c == NULL)
        return SW_EINVAL;
    if (out && EVP_DigestFinal_ex((EVP_MD_CTX *)*c, out, &len) != 1)
        rc = SW_ENOMEM;
    EVP_MD_CTX_free((EVP_MD_CTX *)*c);
    *c = NULL;
    return rc;
}

/* sw_aead_run runs AES-256-GCM one way (enc 1 seals) over in[0..n) into
 * out, with nonce and tag as given (set by a seal). 0 on success. */
static int sw_aead_run(int enc, const unsigned char *key,
                       const unsigned char *nonce, const void *ad, size_t adn,
                       const unsigned char *in, size_t n, unsigned char *out,
                       unsigned char *tag)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int len = 0, ok;

    ok = x &&
         EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, SW_AEAD_NONCE_LEN,
                             NULL) == 1 &&
         EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1 &&
         (adn == 0 || EVP_CipherUpdate(x, NULL, &len, ad, (int)adn) == 1) &&
         (n == 0 || EVP_CipherUpdate(x, out, &len, in, (int)n) == 1) &&
         (enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, SW_AEAD_TAG_LEN,
                                     tag) == 1) &&
         EVP_CipherFinal_ex(x, out + (n ? len : 0), &len) == 1 &&
         (!enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, SW_AEAD_TAG_LEN,
                                      tag) == 1);
    EVP_CIPHER_CTX_free(x);
    return ok ? 0 : -1;
}

void sw_timespec_in(clockid_t clk, int64_t ms, struct timespec *out)
{
    clock_gettime(clk, out);
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

sw_err sw_aead_seal(const unsigned char key[SW_AEAD_KEY_LEN], const void *ad,
                    size_t adn, const void *p, size_t n, unsigned char *out)
{
    sw_err rc;

    if (n > INT32_MAX / 2 || adn > INT32_MAX / 2)
        return SW_EINVAL;
    rc = sw_random(out, SW_AEAD_NONCE_LEN);
    if (rc)
        return rc;
    return sw_aead_run(1, key, out, ad, adn, p, n, out + SW_AEAD_NONCE_LEN,
                       out + SW_AEAD_NONCE_LEN + n) == 0
               ? SW_OK
               : SW_ENOMEM;
}

sw_err sw_aead_open(const unsigned char key[SW_AEAD_KEY_LEN], const void *ad,
                    size_t adn, const void *p, size_t n, unsigned char *out)
{
    const unsigned char *b = p;
    unsigned char tag[SW_AEAD_TAG_LEN];

    if (n < SW_AEAD_OVERHEAD || n > INT32_MAX / 2 || adn > INT32_MAX / 2)
        return SW_EINVAL;
    memcpy(tag, b + n - SW_AEAD_TAG_LEN, sizeof(tag));
    return sw_aead_run(0, key, b, ad, adn, b + SW_AEAD_NONCE_LEN,
                       n - SW_AEAD_OVERHEAD, out, tag) == 0
               ? SW_OK
               : SW_ECORRUPT;
}

sw_err sw_hmac_sha256(const void *key, size_t klen, const void *p, size_t n,
                      unsigned char out[SW_SHA256_LEN])
{
    size_t len = 0;

    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen, p, n, out,
                  SW_SHA256_LEN, &len) == NULL ||
        len != SW_SHA256_LEN)
        return SW_ENOMEM;
    return SW_OK;
}

sw_err sw_sha256_fd(int fd, unsigned char out[SW_SHA256_LEN])
{
    sw_sha256_ctx *ctx = NULL;
    unsigned char *buf = NULL;
    off_t off = 0;
    sw_err rc;
    ssize_t r;

    buf = sw_malloc(SW_SHA256_CHUNK);
    rc = buf ? sw_sha256_begin(&ctx) : SW_ENOMEM;
    while (rc == SW_OK) {
        r = pread(fd, buf, SW_SHA256_CHUNK, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = SW_EIO;
        if (r <= 0)
            break;
        rc = sw_sha256_update(ctx, buf, (size_t)r);
        off += r;
    }
    if (ctx) {
        sw_err rc2 = sw_sha256_end(&ctx, rc == SW_OK ? out : NULL);
        if (rc == SW_OK)
            rc = rc2;
    }
    sw_free(buf);
    return rc;
}

void sw_sha256(const void *p, size_t n, unsigned char out[SW_SHA256_LEN])
{
    unsigned int len = SW_SHA256_LEN;

    /* EVP_Digest cannot fail for SHA-256 on in-memory input short of memory
     * exhaustion inside libcrypto; clear the output so a failure is visible
     * as an all-zero digest rather than stale bytes. */
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, SW_SHA256_LEN);
}

sw_err sw_id_new(const char *prefix, size_t nbytes, char **out)
{
    unsigned char raw[32];
    size_t plen = strlen(prefix);
    char *id;
    sw_err rc;

    if (nbytes == 0 || nbytes > sizeof(raw))
        return SW_EINVAL;
    rc = sw_random(raw, nbytes);
    if (rc)
        return rc;
    id = sw_malloc(plen + 2 * nbytes + 1);
    if (id == NULL)
        return SW_ENOMEM;
    memcpy(id, prefix, plen);
    sw_hex(raw, nbytes, id + plen);
    *out = id;
    return SW_OK;
}

int sw_memeq_ct(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

void sw_str_lower(char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

int sw_thread_nice(int nice)
{
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}
