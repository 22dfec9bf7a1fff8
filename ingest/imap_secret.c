/* ingest/imap_secret: mailbox secrets sealed with crypto_secretbox under a
 * key file in the data directory (see imap_secret.h). */
#include "ingest/imap_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"

#define INGEST_IMAP_SECRET_MAX 4096

struct ingest_imap_key {
    unsigned char k[crypto_secretbox_KEYBYTES];
};

/* ingest_imap_key_create writes a new random key to path, mode 0600; the
 * O_EXCL open makes two starts racing on one directory agree on one key. */
static sw_err ingest_imap_key_create(const char *path, ingest_imap_key *key)
{
    int fd;
    sw_err rc = SW_OK;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? SW_EEXIST : SW_EIO;
    randombytes_buf(key->k, sizeof(key->k));
    if (write(fd, key->k, sizeof(key->k)) != (ssize_t)sizeof(key->k) ||
        fsync(fd) != 0)
        rc = SW_EIO;
    if (close(fd) != 0)
        rc = SW_EIO;
    if (rc)
        (void)unlink(path); /* a partial key would lock every secret out */
    else
        sw_log_info("mailbox.key_created", "file=%s", path);
    return rc;
}

/* ingest_imap_key_read reads an existing key file, refusing loose modes. */
static sw_err ingest_imap_key_read(const char *path, ingest_imap_key *key)
{
    struct stat sb;
    ssize_t r;
    int fd;
    sw_err rc = SW_OK;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SW_ENOTFOUND : SW_EIO;
    if (fstat(fd, &sb) != 0) {
        rc = SW_EIO;
    } else if ((sb.st_mode & 077) != 0) {
        sw_log_error("mailbox.key_mode", "file=%s mode=%o want=600", path,
                     (unsigned)(sb.st_mode & 0777));
        rc = SW_EPERM;
    } else if (sb.st_size != (off_t)sizeof(key->k)) {
        sw_log_error("mailbox.key_size", "file=%s bytes=%lld want=%zu", path,
                     (long long)sb.st_size, sizeof(key->k));
        rc = SW_ECORRUPT;
    } else {
        r = read(fd, key->k, sizeof(key->k));
        if (r != (ssize_t)sizeof(key->k))
            rc = SW_EIO;
    }
    close(fd);
    return rc;
}

sw_err ingest_imap_key_load(const char *data_dir, ingest_imap_key **out)
{
    struct sw_buf path;
    ingest_imap_key *key = NULL;
    sw_err rc;

    if (data_dir == NULL || out == NULL)
        return SW_EINVAL;
    if (sodium_init() < 0)
        return SW_EINTERNAL;
    sw_buf_init(&path, 4096);
    key = sw_calloc(1, sizeof(*key));
    if (key == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = sw_buf_printf(&path, "%s/%s", data_dir, INGEST_IMAP_KEY_FILE);
    if (rc)
        goto out;
    rc = ingest_imap_key_read(sw_buf_str(&path), key);
    if (rc == SW_ENOTFOUND) {
        rc = ingest_imap_key_create(sw_buf_str(&path), key);
        if (rc == SW_EEXIST) /* another process made it first */
            rc = ingest_imap_key_read(sw_buf_str(&path), key);
    }
    if (rc)
        goto out;
    *out = key;
    key = NULL;
out:
    ingest_imap_key_free(&key);
    sw_buf_free(&path);
    return rc;
}

void ingest_imap_key_free(ingest_imap_key **k)
{
    if (k == NULL || *k == NULL)
        return;
    sodium_memzero((*k)->k, sizeof((*k)->k));
    sw_free(*k);
    *k = NULL;
}

sw_err ingest_imap_seal(const ingest_imap_key *k, const char *secret, size_t n,
                        unsigned char **box, size_t *box_len)
{
    size_t len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
    unsigned char *b;

    if (k == NULL || secret == NULL || n == 0)
        return SW_EINVAL;
    if (n > INGEST_IMAP_SECRET_MAX)
        return SW_ETOOBIG;
    b = sw_malloc(len);
    if (b == NULL)
        return SW_ENOMEM;
    randombytes_buf(b, crypto_secretbox_NONCEBYTES);
    if (crypto_secretbox_easy(b + crypto_secretbox_NONCEBYTES,
                              (const unsigned char *)secret, n, b, k->k) != 0) {
        sw_free(b);
        return SW_EINTERNAL;
    }
    *box = b;
    *box_len = len;
    return SW_OK;
}

sw_err ingest_imap_unseal(const ingest_imap_key *k, const unsigned char *box,
                          size_t n, char **secret)
{
    size_t len;
    char *s;

    if (k == NULL || box == NULL || secret == NULL)
        return SW_EINVAL;
    if (n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return SW_ECORRUPT;
    len = n - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    s = sw_malloc(len + 1);
    if (s == NULL)
        return SW_ENOMEM;
    if (crypto_secretbox_open_easy(
            (unsigned char *)s, box + crypto_secretbox_NONCEBYTES,
            n - crypto_secretbox_NONCEBYTES, box, k->k) != 0) {
        sw_free(s);
        return SW_ECORRUPT;
    }
    s[len] = '\0';
    *secret = s;
    return SW_OK;
}

void ingest_imap_secret_free(char **s)
{
    if (s == NULL || *s == NULL)
        return;
    sodium_memzero(*s, strlen(*s));
    sw_free(*s);
    *s = NULL;
}
