/* sw_util: small checked helpers used everywhere: number parsing, clocks,
 * hex, random bytes, SHA-256 and identifiers. Thread-safe. */
#ifndef SW_UTIL_H
#define SW_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/sw_err.h"

/* sw_parse_i64 parses a whole decimal integer from s[0..n) (no sign other
 * than a leading '-', no spaces, no trailing bytes) into *out if it lies in
 * [min, max]. SW_EINVAL for malformed text, SW_ERANGE when out of range. */
SW_MUST_CHECK sw_err sw_parse_i64(const char *s, size_t n, int64_t min,
                                  int64_t max, int64_t *out);

/* sw_parse_int is sw_parse_i64 on a NUL-terminated string into an int. */
SW_MUST_CHECK sw_err sw_parse_int(const char *s, int min, int max, int *out);

/* Wall-clock milliseconds since the Unix epoch, and monotonic milliseconds
 * (for durations and deadlines); sw_mono_us is the monotonic clock in
 * microseconds, for latencies. */
int64_t sw_now_ms(void);
int64_t sw_mono_ms(void);
int64_t sw_mono_us(void);

/* sw_thread_nice lowers the calling thread's CPU priority to nice value
 * nice (Linux schedules threads apart; raising a nice value needs no
 * privilege), for background and expensive work that must not take the
 * CPUs from cheap calls. Returns 0, or -1 with errno set. */
int sw_thread_nice(int nice);

/* The version of Snipwise's programs (snipd, snipctl, snipwise-nm). */
#define SW_VERSION "0.1.0"

/* sw_timespec_in writes to out the time ms milliseconds from now on clock
 * clk (CLOCK_REALTIME or CLOCK_MONOTONIC, as the condition variable it is
 * for uses): the deadline of a pthread_cond_timedwait. */
void sw_timespec_in(clockid_t clk, int64_t ms, struct timespec *out);

/* sw_hex writes 2*n lowercase hex digits and a NUL into out, which must hold
 * 2*n+1 bytes. */
void sw_hex(const void *p, size_t n, char *out);

/* sw_random fills p with n bytes from the kernel's CSPRNG. SW_EIO if it
 * cannot. */
SW_MUST_CHECK sw_err sw_random(void *p, size_t n);

#define SW_SHA256_LEN 32

/* sw_sha256 hashes n bytes at p into out. */
void sw_sha256(const void *p, size_t n, unsigned char out[SW_SHA256_LEN]);

/* Hashing in pieces: sw_sha256_begin, any number of sw_sha256_update, then
 * sw_sha256_end, which writes the digest to out (when not NULL), frees the
 * context and sets *c to NULL. Every begun context must be ended. Errors:
 * SW_ENOMEM (and SW_EINVAL for a NULL context to end). */
typedef struct sw_sha256_ctx sw_sha256_ctx;
SW_MUST_CHECK sw_err sw_sha256_begin(sw_sha256_ctx **out);
SW_MUST_CHECK sw_err sw_sha256_update(sw_sha256_ctx *c, const void *p,
                                      size_t n);
SW_MUST_CHECK sw_err sw_sha256_end(sw_sha256_ctx **c,
                                   unsigned char out[SW_SHA256_LEN]);

/* sw_hmac_sha256 writes HMAC-SHA256(key[0..klen), p[0..n)) to out
 * (libcrypto's). SW_ENOMEM if libcrypto fails. */
SW_MUST_CHECK sw_err sw_hmac_sha256(const void *key, size_t klen, const void *p,
                                    size_t n, unsigned char out[SW_SHA256_LEN]);

/* Authenticated encryption with AES-256-GCM (libcrypto): sw_aead_seal
 * writes a random nonce, the n encrypted bytes of p and the tag to out
 * (n + SW_AEAD_OVERHEAD bytes), binding the associated data ad[0..adn);
 * sw_aead_open reverses it into out (n - SW_AEAD_OVERHEAD bytes) and fails
 * with SW_ECORRUPT when the bytes, the key or the associated data differ.
 * Errors besides: SW_EINVAL (n too short or too long), SW_EIO (no
 * randomness), SW_ENOMEM. */
#define SW_AEAD_KEY_LEN 32
#define SW_AEAD_NONCE_LEN 12
#define SW_AEAD_TAG_LEN 16
#define SW_AEAD_OVERHEAD (SW_AEAD_NONCE_LEN + SW_AEAD_TAG_LEN)
SW_MUST_CHECK sw_err sw_aead_seal(const unsigned char key[SW_AEAD_KEY_LEN],
                                  const void *ad, size_t adn, const void *p,
                                  size_t n, unsigned char *out);
SW_MUST_CHECK sw_err sw_aead_open(const unsigned char key[SW_AEAD_KEY_LEN],
                                  const void *ad, size_t adn, const void *p,
                                  size_t n, unsigned char *out);

/* sw_sha256_fd hashes the file open on fd, from offset 0 to its end (read
 * with pread, so fd's offset is left alone), into out. SW_EIO if a read
 * fails, SW_ENOMEM. */
SW_MUST_CHECK sw_err sw_sha256_fd(int fd, unsigned char out[SW_SHA256_LEN]);

/* sw_id_new returns a new identifier: prefix followed by 2*nbytes random
 * hex digits, e.g. sw_id_new("team_", 8) → "team_3f9c0d1e2a4b5c6d". The
 * caller frees it with sw_free. SW_ENOMEM, SW_EIO. */
SW_MUST_CHECK sw_err sw_id_new(const char *prefix, size_t nbytes, char **out);

/* sw_fmix64 is MurmurHash3's 64-bit finalizer: every input bit moves about
 * half of the output bits. The hash tables and the ranker's MinHash mix
 * with it; its outputs feed persisted family ids, so it never changes. */
static inline uint64_t sw_fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* sw_memeq_ct compares n bytes in constant time; returns 1 when equal. */
int sw_memeq_ct(const void *a, const void *b, size_t n);

/* sw_str_lower lowercases ASCII letters of s in place. */
void sw_str_lower(char *s);

#endif
