/* ctl_config: reads snipctl.conf into the environment (see ctl_config.h). */
#include "clients/snipctl/ctl_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"

#define CTL_CONFIG_MAX (64 * 1024)

/* ctl_config_read reads a whole small file into b; -1 with errno. */
static int ctl_config_read(const char *path, struct sw_buf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    int rc = 0;

    if (f == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sw_buf_add(b, chunk, n) != SW_OK) {
            errno = EFBIG;
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static char *ctl_config_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s &&
           (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* ctl_config_key_file sets SNIPWISE_KEY from the first line of path
 * (replacing a value already set when overwrite). */
static int ctl_config_key_file_as(const char *conf, const char *path,
                                  int overwrite);

static int ctl_config_key_file(const char *conf, const char *path)
{
    return ctl_config_key_file_as(conf, path, 0);
}

int ctl_key_file_take(int *argc, char **argv)
{
    int i, j;

    for (i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--key-file") != 0)
            continue;
        if (i + 1 >= *argc) {
            fprintf(stderr, "snipctl: --key-file needs a PATH\n");
            return -1;
        }
        if (ctl_config_key_file_as("--key-file", argv[i + 1], 1) != 0)
            return -1;
        for (j = i; j + 2 <= *argc; j++) /* drop the two arguments */
            argv[j] = argv[j + 2];
        *argc -= 2;
        i--;
    }
    if (getenv("SNIPWISE_KEY") == NULL && getenv("SNIPWISE_KEY_FILE"))
        return ctl_config_key_file_as("SNIPWISE_KEY_FILE",
                                      getenv("SNIPWISE_KEY_FILE"), 0);
    return 0;
}

static int ctl_config_key_file_as(const char *conf, const char *path,
                                  int overwrite)
{
    struct sw_buf b;
    char *nl, *k;
    int rc = 0;

    sw_buf_init(&b, CTL_CONFIG_MAX);
    if (ctl_config_read(path, &b) != 0) {
        fprintf(stderr, "snipctl: %s: key_file %s: %s\n", conf, path,
                strerror(errno));
        sw_buf_free(&b);
        return -1;
    }
    k = b.data ? b.data : "";
    nl = strchr(k, '\n');
    if (nl)
        *nl = '\0';
    k = ctl_config_trim(k);
    if (k[0] == '\0') {
        fprintf(stderr, "snipctl: %s: key_file %s is empty\n", conf, path);
        rc = -1;
    } else if (setenv("SNIPWISE_KEY", k, overwrite) != 0) {
        rc = -1;
    }
    sw_buf_free(&b);
    return rc;
}

int ctl_config_env(void)
{
    const char *path = getenv("SNIPWISE_CONFIG"), *home = getenv("HOME");
    struct sw_buf p, b;
    char *line, *next;
    int lineno = 0, rc = 0, explicit_path = path != NULL && path[0] != '\0';

    sw_buf_init(&p, 4096);
    sw_buf_init(&b, CTL_CONFIG_MAX);
    if (!explicit_path) {
        if (home == NULL || home[0] == '\0' ||
            sw_buf_printf(&p, "%s/.config/snipwise/snipctl.conf", home) !=
                SW_OK)
            goto out;
        path = sw_buf_str(&p);
    }
    if (ctl_config_read(path, &b) != 0) {
        if (errno == ENOENT && !explicit_path)
            goto out; /* no config file: nothing to do */
        fprintf(stderr, "snipctl: config %s: %s\n", path, strerror(errno));
        rc = -1;
        goto out;
    }
    for (line = b.data; rc == 0 && line && *line; line = next) {
        char *eq, *name, *val;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        name = ctl_config_trim(line);
        if (name[0] == '\0' || name[0] == '#')
            continue;
        eq = strchr(name, '=');
        if (eq == NULL) {
            fprintf(stderr, "snipctl: %s:%d: expected NAME = VALUE\n", path,
                    lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        name = ctl_config_trim(name);
        val = ctl_config_trim(eq + 1);
        if (strcmp(name, "addr") == 0) {
            rc = setenv("SNIPWISE_ADDR", val, 0) == 0 ? 0 : -1;
        } else if (strcmp(name, "key") == 0) {
            rc = setenv("SNIPWISE_KEY", val, 0) == 0 ? 0 : -1;
        } else if (strcmp(name, "key_file") == 0) {
            if (getenv("SNIPWISE_KEY") == NULL)
                rc = ctl_config_key_file(path, val);
        } else {
            fprintf(stderr,
                    "snipctl: %s:%d: unknown setting '%s' (addr, key, "
                    "key_file)\n",
                    path, lineno, name);
            rc = -1;
        }
    }
out:
    sw_buf_free(&p);
    sw_buf_free(&b);
    return rc;
}
