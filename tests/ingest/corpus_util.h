/* corpus_util: finding the shared corpus in a test's runfiles, reading
 * files and listing a folder's files in a stable order. Test-only. */
#ifndef CORPUS_UTIL_H
#define CORPUS_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CORPUS_MAX_FILES 4096

/* corpus_root writes the corpus directory into out (4096 bytes). */
static inline int corpus_root(char *out, size_t cap)
{
    const char *sr = getenv("TEST_SRCDIR");
    const char *cand[] = {"%s/corpus", "%s/snipwise/external/corpus"};
    struct stat st;
    size_t i;

    if (sr == NULL)
        sr = ".";
    for (i = 0; i < 2; i++) {
        snprintf(out, cap, cand[i], sr);
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
    }
    return -1;
}

/* corpus_read returns the file's bytes (malloc'd, NUL-terminated). */
static inline char *corpus_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long sz;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        p = malloc((size_t)sz + 1);
        if (p != NULL) {
            *n = fread(p, 1, (size_t)sz, f);
            p[*n] = '\0';
        }
    }
    fclose(f);
    return p;
}

struct corpus_list {
    char *paths[CORPUS_MAX_FILES];
    size_t n;
};

static int corpus_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void corpus_walk(const char *dir, struct corpus_list *l)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && l->n < CORPUS_MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
                (int)sizeof path ||
            stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            corpus_walk(path, l);
        else
            l->paths[l->n++] = strdup(path);
    }
    closedir(d);
}

/* corpus_list_dir lists every file under dir, sorted. */
static inline void corpus_list_dir(const char *dir, struct corpus_list *l)
{
    l->n = 0;
    corpus_walk(dir, l);
    qsort(l->paths, l->n, sizeof l->paths[0], corpus_cmp);
}

static inline void corpus_list_free(struct corpus_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->paths[i]);
    l->n = 0;
}

static inline int corpus_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

#endif
