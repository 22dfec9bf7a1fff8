/* ingest/imap_secret: the key that seals mailbox secrets at rest
 * (passwords and OAuth2 tokens of store_mailbox.h) with libsodium's
 * crypto_secretbox (XSalsa20-Poly1305). The key is 32 random bytes in
 * DATA_DIR/mailbox.key, mode 0600, created on first start; a sealed box
 * is nonce || ciphertext, so a store copied without the key file reveals
 * no secret. Thread-safe once loaded. */
#ifndef INGEST_IMAP_SECRET_H
#define INGEST_IMAP_SECRET_H

#include <stddef.h>

#include "base/sw_err.h"

typedef struct ingest_imap_key ingest_imap_key;

/* The key file's name inside the data directory. */
#define INGEST_IMAP_KEY_FILE "mailbox.key"

/* ingest_imap_key_load reads data_dir/mailbox.key, creating it (mode 0600,
 * O_EXCL, fsynced) when it does not exist. A key file readable by group or
 * others, or of the wrong size, is refused. The caller frees *out with
 * ingest_imap_key_free. Errors: SW_EPERM (mode), SW_ECORRUPT (size),
 * SW_EIO, SW_ENOMEM, SW_EINTERNAL (libsodium would not start). */
SW_MUST_CHECK sw_err ingest_imap_key_load(const char *data_dir,
                                          ingest_imap_key **out);

/* ingest_imap_key_free wipes and frees the key and sets *k to NULL; NULL
 * is accepted. */
void ingest_imap_key_free(ingest_imap_key **k);

/* ingest_imap_seal seals secret[0..n) into *box (*box_len bytes, sw_free).
 * Errors: SW_EINVAL (empty), SW_ETOOBIG (over 4096 bytes), SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_seal(const ingest_imap_key *k,
                                      const char *secret, size_t n,
                                      unsigned char **box, size_t *box_len);

/* ingest_imap_unseal opens a box into *secret, a NUL-terminated copy the
 * caller wipes and frees with ingest_imap_secret_free. Errors:
 * SW_ECORRUPT (too short, or sealed with another key or altered),
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_imap_unseal(const ingest_imap_key *k,
                                        const unsigned char *box, size_t n,
                                        char **secret);

/* ingest_imap_secret_free wipes and frees a secret from ingest_imap_unseal
 * and sets *s to NULL; NULL is accepted. */
void ingest_imap_secret_free(char **s);

#endif
