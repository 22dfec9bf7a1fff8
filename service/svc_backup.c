/* svc_backup: `snipd backup` and `snipd restore` (see svc_backup.h). The
 * copy itself is LMDB's (store_backup); this file handles the files around
 * it: a temporary name beside the target renamed into place once complete
 * and synced, mode 0600 (the store holds mail and key hashes), the
 * sha256sum-format checksum file, and the checks restore makes before it
 * writes anything. */
#include "service/svc_backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "service/svc_store.h"
#include "store/store.h"

#define SVC_BK_PATH_MAX 8192
#define SVC_BK_CHUNK ((size_t)1 << 20)
#define SVC_BK_SUM_MAX 4096

void svc_backup_args_take(int *argc, char **argv, struct svc_backup_args *a)
{
    int i, j, backup, restore;

    memset(a, 0, sizeof(*a));
    if (*argc < 2)
        return;
    backup = strcmp(argv[1], "backup") == 0;
    restore = strcmp(argv[1], "restore") == 0;
    if (!backup && !restore)
        return;
    for (i = j = 2; i < *argc; i++) {
        const char *s = argv[i];
        if (backup && strncmp(s, "--to=", 5) == 0)
            a->to = s + 5;
        else if (backup && strcmp(s, "--to") == 0 && i + 1 < *argc)
            a->to = argv[++i];
        else if (restore && strncmp(s, "--from=", 7) == 0)
            a->from = s + 7;
        else if (restore && strcmp(s, "--from") == 0 && i + 1 < *argc)
            a->from = argv[++i];
        else if (restore && i == 2 && s[0] != '-')
            a->from = s;
        else
            argv[j++] = argv[i];
    }
    argv[j] = NULL;
    *argc = j;
}

static const char *svc_bk_strerror(int e, char *eb, size_t n)
{
    /* The GNU strerror_r (we build with _GNU_SOURCE) returns the message,
     * which may or may not be eb. */
    return strerror_r(e, eb, n);
}

/* svc_bk_dir writes the directory part of path ("." when it has none). */
static SW_MUST_CHECK sw_err svc_bk_dir(const char *path, struct sw_buf *out)
{
    const char *slash = strrchr(path, '/');

    sw_buf_reset(out);
    if (slash == NULL)
        return sw_buf_addstr(out, ".");
    if (slash == path)
        return sw_buf_addstr(out, "/");
    return sw_buf_add(out, path, (size_t)(slash - path));
}

/* svc_bk_sync_dir makes the renames in dir durable. */
static SW_MUST_CHECK sw_err svc_bk_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    sw_err rc = SW_OK;

    if (fd < 0)
        return SW_EIO;
    if (fsync(fd) != 0)
        rc = SW_EIO;
    close(fd);
    return rc;
}

static SW_MUST_CHECK sw_err svc_bk_write_all(int fd, const void *p, size_t n)
{
    const char *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == ENOSPC || errno == EDQUOT ? SW_ENOSPACE : SW_EIO;
        b += w;
        n -= (size_t)w;
    }
    return SW_OK;
}

/* svc_bk_mkstemp creates a new file named template (ending in XXXXXX) with
 * mode 0600; *fd receives it. */
static SW_MUST_CHECK sw_err svc_bk_mkstemp(struct sw_buf *template, int *fd)
{
    /* The buffer is ours and writable; mkstemp rewrites the six X's in
     * place, keeping the length. */
    *fd = mkstemp((char *)sw_buf_str(template));
    if (*fd < 0)
        return SW_EIO;
    /* mkstemp gives 0600 already; say so for umasks and future libcs. */
    if (fchmod(*fd, 0600) != 0)
        return SW_EIO;
    return SW_OK;
}

int svc_backup_main(const struct svc_config *cfg,
                    const struct svc_backup_args *a)
{
    struct sw_buf tmp, sumtmp, sumpath, dir, line;
    unsigned char sum[SW_SHA256_LEN];
    char hex[2 * SW_SHA256_LEN + 1], eb[128];
    const char *base;
    store *st = NULL;
    struct stat sb;
    int fd = -1, sfd = -1, tmp_made = 0, sumtmp_made = 0, code = 1;
    sw_err rc = SW_OK;

    sw_buf_init(&tmp, SVC_BK_PATH_MAX);
    sw_buf_init(&sumtmp, SVC_BK_PATH_MAX);
    sw_buf_init(&sumpath, SVC_BK_PATH_MAX);
    sw_buf_init(&dir, SVC_BK_PATH_MAX);
    sw_buf_init(&line, SVC_BK_PATH_MAX);
    if (a->to == NULL || a->to[0] == '\0') {
        fprintf(stderr, "snipd backup: --to FILE is required\n");
        code = 2;
        goto out;
    }
    code = svc_store_open(cfg, "backup", 0, &st);
    if (code)
        goto out;
    code = 1;
    base = strrchr(a->to, '/');
    base = base ? base + 1 : a->to;
    rc = sw_buf_printf(&tmp, "%s.tmp.XXXXXX", a->to);
    if (rc == SW_OK)
        rc = sw_buf_printf(&sumpath, "%s.sha256", a->to);
    if (rc == SW_OK)
        rc = sw_buf_printf(&sumtmp, "%s.sha256.tmp.XXXXXX", a->to);
    if (rc == SW_OK)
        rc = svc_bk_dir(a->to, &dir);
    if (rc)
        goto fail;
    if (base[0] == '\0') {
        fprintf(stderr, "snipd backup: --to %s names a directory, not a file\n",
                a->to);
        code = 2;
        goto out;
    }
    rc = svc_bk_mkstemp(&tmp, &fd);
    if (fd >= 0)
        tmp_made = 1;
    if (rc) {
        int e = errno;
        fprintf(stderr, "snipd backup: cannot create a file beside %s: %s\n",
                a->to, svc_bk_strerror(e, eb, sizeof(eb)));
        code = e == ENOENT || e == ENOTDIR ? 2 : 1;
        goto out;
    }
    rc = store_backup(st, fd);
    if (rc)
        goto fail;
    if (fsync(fd) != 0 || fstat(fd, &sb) != 0) {
        rc = errno == ENOSPC || errno == EDQUOT ? SW_ENOSPACE : SW_EIO;
        goto fail;
    }
    rc = sw_sha256_fd(fd, sum);
    if (rc)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        rc = SW_EIO;
        goto fail;
    }
    fd = -1;
    sw_hex(sum, sizeof(sum), hex);
    /* sha256sum's format: the digest, two spaces, the file's name as it
     * sits beside the checksum file (`cd DIR && sha256sum -c FILE.sha256`). */
    rc = sw_buf_printf(&line, "%s  %s\n", hex, base);
    if (rc == SW_OK)
        rc = svc_bk_mkstemp(&sumtmp, &sfd);
    if (sfd >= 0)
        sumtmp_made = 1;
    if (rc == SW_OK)
        rc = svc_bk_write_all(sfd, sw_buf_str(&line), sw_buf_len(&line));
    if (rc == SW_OK && fsync(sfd) != 0)
        rc = SW_EIO;
    if (rc)
        goto fail;
    close(sfd);
    sfd = -1;
    /* The backup first, then its checksum: a reader who finds FILE.sha256
     * newer than FILE sees a mismatch and retries, never a half file. */
    if (rename(sw_buf_str(&tmp), a->to) != 0) {
        rc = SW_EIO;
        goto fail;
    }
    tmp_made = 0;
    if (rename(sw_buf_str(&sumtmp), sw_buf_str(&sumpath)) != 0) {
        rc = SW_EIO;
        goto fail;
    }
    sumtmp_made = 0;
    rc = svc_bk_sync_dir(sw_buf_str(&dir));
    if (rc)
        goto fail;
    printf("snipd backup: %s -> %s (%lld bytes, mode 0600), checksum in %s\n"
           "sha256 %s\n",
           cfg->data_dir, a->to, (long long)sb.st_size, sw_buf_str(&sumpath),
           hex);
    code = 0;
    goto out;
fail:
    if (rc == SW_ENOSPACE)
        fprintf(stderr,
                "snipd backup: no space left on the device of %s; nothing "
                "was written there\n",
                a->to);
    else
        fprintf(stderr, "snipd backup: %s -> %s failed: %s\n", cfg->data_dir,
                a->to, sw_err_str(rc));
    code = 1;
out:
    if (fd >= 0)
        close(fd);
    if (sfd >= 0)
        close(sfd);
    if (tmp_made)
        (void)unlink(sw_buf_str(&tmp)); /* best effort: a left-over temp */
    if (sumtmp_made)
        (void)unlink(sw_buf_str(&sumtmp));
    store_close(&st);
    sw_buf_free(&tmp);
    sw_buf_free(&sumtmp);
    sw_buf_free(&sumpath);
    sw_buf_free(&dir);
    sw_buf_free(&line);
    return code;
}

/* svc_bk_read_sum reads the digest from a sha256sum-format file into hex
 * (lowercase). SW_ENOTFOUND if the file is missing, SW_EPARSE if it does
 * not start with 64 hex digits. */
static SW_MUST_CHECK sw_err svc_bk_read_sum(const char *path,
                                            char hex[2 * SW_SHA256_LEN + 1])
{
    char buf[2 * SW_SHA256_LEN + 2];
    ssize_t r;
    size_t n = 0;
    int fd, i;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SW_ENOTFOUND : SW_EIO;
    while (n < sizeof(buf)) {
        r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n < 2 * SW_SHA256_LEN)
        return SW_EPARSE;
    if (n > 2 * SW_SHA256_LEN && buf[2 * SW_SHA256_LEN] != ' ' &&
        buf[2 * SW_SHA256_LEN] != '\n')
        return SW_EPARSE;
    for (i = 0; i < 2 * SW_SHA256_LEN; i++) {
        char c = buf[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return SW_EPARSE;
        hex[i] = c;
    }
    hex[2 * SW_SHA256_LEN] = '\0';
    return SW_OK;
}

/* svc_bk_is_empty_dir: 1 if dir holds no entry, 0 if it holds one, -1 if
 * it cannot be read. */
static int svc_bk_is_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* svc_bk_copy copies in to out (both at offset 0). */
static SW_MUST_CHECK sw_err svc_bk_copy(int in, int out)
{
    char *buf = sw_malloc(SVC_BK_CHUNK);
    sw_err rc = SW_OK;
    ssize_t r;

    if (buf == NULL)
        return SW_ENOMEM;
    for (;;) {
        r = read(in, buf, SVC_BK_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = SW_EIO;
            break;
        }
        if (r == 0)
            break;
        rc = svc_bk_write_all(out, buf, (size_t)r);
        if (rc)
            break;
    }
    sw_free(buf);
    return rc;
}

int svc_restore_main(const struct svc_config *cfg,
                     const struct svc_backup_args *a)
{
    struct sw_buf sumpath, tmp, final, lock;
    char want[2 * SW_SHA256_LEN + 1], got[2 * SW_SHA256_LEN + 1], eb[128];
    unsigned char sum[SW_SHA256_LEN];
    const char *dir = cfg->data_dir;
    store *st = NULL;
    struct stat sb;
    int in = -1, out_fd = -1, made_dir = 0, tmp_made = 0, placed = 0;
    int code = 2, e;
    sw_err rc = SW_OK;

    sw_buf_init(&sumpath, SVC_BK_PATH_MAX);
    sw_buf_init(&tmp, SVC_BK_PATH_MAX);
    sw_buf_init(&final, SVC_BK_PATH_MAX);
    sw_buf_init(&lock, SVC_BK_PATH_MAX);
    if (a->from == NULL || a->from[0] == '\0') {
        fprintf(stderr, "snipd restore: usage: snipd restore FILE --data-dir "
                        "NEW\n");
        goto out;
    }
    rc = sw_buf_printf(&sumpath, "%s.sha256", a->from);
    if (rc == SW_OK)
        rc = sw_buf_printf(&tmp, "%s/.data.mdb.restore", dir);
    if (rc == SW_OK)
        rc = sw_buf_printf(&final, "%s/data.mdb", dir);
    if (rc == SW_OK)
        rc = sw_buf_printf(&lock, "%s/lock.mdb", dir);
    if (rc) {
        fprintf(stderr, "snipd restore: path too long\n");
        goto out;
    }
    rc = svc_bk_read_sum(sw_buf_str(&sumpath), want);
    if (rc) {
        fprintf(stderr,
                "snipd restore: %s: %s; restore checks the backup against "
                "the checksum file snipd backup wrote beside it\n",
                sw_buf_str(&sumpath),
                rc == SW_ENOTFOUND ? "no such checksum file"
                : rc == SW_EPARSE  ? "not in sha256sum format"
                                   : "cannot be read");
        goto out;
    }
    in = open(a->from, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "snipd restore: cannot read the backup %s\n", a->from);
        goto out;
    }
    /* The target: a new directory (only its last component is created) or
     * an empty one, so that a restore never mixes with or replaces a store. */
    if (stat(dir, &sb) == 0) {
        int empty = S_ISDIR(sb.st_mode) ? svc_bk_is_empty_dir(dir) : -1;
        if (empty != 1) {
            fprintf(stderr,
                    "snipd restore: %s %s; restore writes only into a new or "
                    "empty directory\n",
                    dir, empty == 0 ? "is not empty" : "is not a directory");
            goto out;
        }
    } else if (mkdir(dir, 0700) == 0) {
        made_dir = 1;
    } else {
        e = errno;
        fprintf(stderr, "snipd restore: cannot create %s: %s%s\n", dir,
                svc_bk_strerror(e, eb, sizeof(eb)),
                e == ENOENT ? " (its parent directory does not exist; snipd "
                              "creates only the last component)"
                            : "");
        goto out;
    }
    code = 1;
    out_fd =
        open(sw_buf_str(&tmp), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out_fd >= 0)
        tmp_made = 1;
    if (out_fd < 0 || fchmod(out_fd, 0600) != 0) {
        rc = SW_EIO;
        goto fail;
    }
    rc = svc_bk_copy(in, out_fd);
    if (rc == SW_OK && fsync(out_fd) != 0)
        rc = SW_EIO;
    if (rc == SW_OK)
        rc = sw_sha256_fd(out_fd, sum);
    if (rc)
        goto fail;
    /* The digest of the bytes as written, not as read: what we check is
     * what snipd will open. */
    sw_hex(sum, sizeof(sum), got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr,
                "snipd restore: %s does not match its checksum (sha256 %s, "
                "%s says %s); nothing restored\n",
                a->from, got, sw_buf_str(&sumpath), want);
        goto out;
    }
    if (close(out_fd) != 0) {
        out_fd = -1;
        rc = SW_EIO;
        goto fail;
    }
    out_fd = -1;
    if (rename(sw_buf_str(&tmp), sw_buf_str(&final)) != 0) {
        rc = SW_EIO;
        goto fail;
    }
    tmp_made = 0;
    placed = 1;
    rc = svc_bk_sync_dir(dir);
    if (rc)
        goto fail;
    /* Open it as every other command will: schema record, version. */
    code = svc_store_open(cfg, "restore", 0, &st);
    if (code) {
        fprintf(stderr,
                "snipd restore: %s is not a Snipwise backup; nothing "
                "restored\n",
                a->from);
        goto out;
    }
    store_close(&st);
    printf("snipd restore: %s -> %s/data.mdb (sha256 %s verified, mode "
           "0600)\n"
           "The API key files are not in a backup: copy admin.key (and "
           "demo.key) from\nthe old data directory into %s with mode 0600; the "
           "store holds their\nhashes, so the same keys keep working. Then: "
           "snipd check --data-dir %s\n",
           a->from, dir, got, dir, dir);
    code = 0;
    goto out;
fail:
    fprintf(stderr, "snipd restore: %s -> %s failed: %s\n", a->from, dir,
            rc == SW_ENOSPACE ? "no space left on device" : sw_err_str(rc));
    code = 1;
out:
    if (in >= 0)
        close(in);
    if (out_fd >= 0)
        close(out_fd);
    store_close(&st);
    /* A failed restore leaves the target as it found it (best effort). */
    if (code != 0 && tmp_made)
        (void)unlink(sw_buf_str(&tmp));
    if (code != 0 && placed) {
        (void)unlink(sw_buf_str(&final));
        (void)unlink(sw_buf_str(&lock));
    }
    if (code != 0 && made_dir)
        (void)rmdir(dir);
    sw_buf_free(&sumpath);
    sw_buf_free(&tmp);
    sw_buf_free(&final);
    sw_buf_free(&lock);
    return code;
}
