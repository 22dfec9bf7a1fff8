/* Attachment text over the corpus's attachments/: the share of documents
 * (not encrypted; legacy binary Office, Outlook .msg and TNEF reported
 * apart) that yield text, encrypted ones recorded as ENCRYPTED, and zip
 * bombs refused before inflating. */
#include "tests/testutil.h"

#include <time.h>

#include <zip.h>

#include "base/sw_mem.h"
#include "ingest/mail.h"
#include "tests/ingest/corpus_util.h"

/* Measured: 178 of 226 documents (78.8%) yield text; the others are blank
 * test fixtures and image-only PDFs (listed by the test). */
#define DOC_FLOOR 0.78
/* Over the documents that carry any text by an independent check
 * (doc_text_truth.py: PyPDF2, zip + XML text nodes), the aim. */
#define DOC_TEXT_BEARING_FLOOR 0.95
#define DOC_MAX_MISSES 128

static char root[4096];

static void extract(const char *path, const char *name, char *data, size_t n,
                    struct ingest_attachment *a)
{
    struct ingest_limits l;

    (void)path;
    ingest_limits_default(&l);
    memset(a, 0, sizeof *a);
    a->filename = (char *)name;
    a->content_type = (char *)"application/octet-stream";
    a->data = (unsigned char *)data;
    a->len = n;
    ASSERT_OK(ingest_attachment_extract(a, &l));
}

/* count_empty asks doc_text_truth.py, which reads the documents with other
 * libraries than ours, how many of the n missed documents carry no text at
 * all. Paths in the corpus are plain ([A-Za-z0-9_./+=,@-]). */
static int count_empty(char **rels, int n)
{
    char cmd[65536], line[2048];
    const char *src = getenv("TEST_SRCDIR");
    size_t off;
    int i, empty = 0;
    FILE *p;

    assert_non_null(src);
    off = (size_t)snprintf(cmd, sizeof cmd,
                           "/usr/bin/python3 %s/snipwise/tests/ingest/"
                           "doc_text_truth.py '%s/attachments'",
                           src, root);
    for (i = 0; i < n && off < sizeof cmd; i++)
        off += (size_t)snprintf(cmd + off, sizeof cmd - off, " '%s'", rels[i]);
    assert_true(off < sizeof cmd);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "empty ", 6) == 0)
            empty++;
        printf("truth: %s", line);
    }
    assert_int_equal(pclose(p), 0);
    return empty;
}

static void test_corpus_documents(void **state)
{
    char path[6000], *man, *line, *save = NULL;
    size_t n = 0;
    int docs = 0, text = 0, encrypted = 0, skipped = 0, failed = 0, empty;
    char *misses[DOC_MAX_MISSES];

    (void)state;
    snprintf(path, sizeof path, "%s/attachments/MANIFEST.csv", root);
    man = corpus_read(path, &n);
    assert_non_null(man);
    for (line = strtok_r(man, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        struct ingest_attachment a;
        char rel[1024], *comma = strchr(line, ','), *data;
        const char *name;
        int must_encrypt, legacy;
        size_t dn = 0;

        if (comma == NULL || strncmp(line, "path,", 5) == 0 ||
            strncmp(line, "MANIFEST", 8) == 0)
            continue;
        snprintf(rel, sizeof rel, "%.*s", (int)(comma - line), line);
        must_encrypt = strstr(line, "CDFV2 Encrypted") != NULL;
        legacy = (strstr(line, "Composite Document File") != NULL &&
                  !must_encrypt) ||
                 strstr(line, "Outlook Message") != NULL ||
                 strncmp(rel, "tnef/", 5) == 0 ||
                 corpus_ends_with(rel, ".ods") ||
                 corpus_ends_with(rel, ".xlsb") ||
                 corpus_ends_with(rel, ".xls") || corpus_ends_with(rel, ".rtf");
        snprintf(path, sizeof path, "%s/attachments/%s", root, rel);
        data = corpus_read(path, &dn);
        assert_non_null(data);
        name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        extract(path, name, data, dn, &a);
        if (must_encrypt && a.state != INGEST_TEXT_ENCRYPTED)
            fail_msg("%s: want ENCRYPTED, got state %d (%s)", rel, a.state,
                     a.detail);
        if ((strstr(rel, "pdfminer/aes-") || strstr(rel, "pdfminer/rc4-") ||
             strstr(rel, "libreoffice-writer-password")) &&
            a.state != INGEST_TEXT_ENCRYPTED)
            fail_msg("%s: encrypted PDF not recorded as ENCRYPTED", rel);
        if (a.state == INGEST_TEXT_ENCRYPTED) {
            encrypted++;
        } else if (legacy) {
            skipped++;
            assert_true(a.state == INGEST_TEXT_UNSUPPORTED);
        } else {
            docs++;
            if (a.state == INGEST_TEXT_EXTRACTED && a.text_len > 0) {
                text++;
            } else {
                if (failed < DOC_MAX_MISSES)
                    misses[failed] = strdup(rel);
                failed++;
                printf("no text: %s (state %d: %s)\n", rel, a.state, a.detail);
            }
        }
        sw_free(a.text);
        sw_free(a.detail);
        free(data);
    }
    printf("documents: %d of %d yield text (%.1f%%); %d encrypted recorded "
           "as ENCRYPTED; %d legacy/.msg/TNEF UNSUPPORTED\n",
           text, docs, 100.0 * text / (docs ? docs : 1), encrypted, skipped);
    assert_true(docs >= 200);
    assert_true((double)text / docs >= DOC_FLOOR);
    assert_true(failed <= DOC_MAX_MISSES);
    empty =
        count_empty(misses, failed > DOC_MAX_MISSES ? DOC_MAX_MISSES : failed);
    printf("independent check: %d of the %d misses hold no text at all; "
           "%d of %d text-bearing documents yield text (%.1f%%)\n",
           empty, failed, text, docs - empty,
           100.0 * text / (docs - empty ? docs - empty : 1));
    assert_true((double)text / (docs - empty) >= DOC_TEXT_BEARING_FLOOR);
    for (int k = 0; k < failed && k < DOC_MAX_MISSES; k++)
        free(misses[k]);
    free(man);
}

/* make_docx writes a DOCX whose document.xml holds n bytes of 'a'. */
static char *make_docx(size_t n, size_t *out_len)
{
    char dir[TEST_PATH_MAX], path[TEST_PATH_MAX + 32];
    zip_t *z;
    char *xml, *bytes;
    static const char head[] = "<w:document><w:body><w:p><w:r><w:t>";
    int err = 0;

    test_mkdtemp(dir);
    snprintf(path, sizeof path, "%s/bomb.docx", dir);
    xml = malloc(n);
    assert_non_null(xml);
    memset(xml, 'a', n);
    memcpy(xml, head, sizeof head - 1);
    z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    assert_true(zip_file_add(z, "word/document.xml",
                             zip_source_buffer(z, xml, n, 0),
                             ZIP_FL_OVERWRITE) >= 0);
    assert_int_equal(zip_close(z), 0);
    free(xml);
    bytes = corpus_read(path, out_len);
    assert_non_null(bytes);
    test_rmtree(dir);
    return bytes;
}

static void test_zip_bomb(void **state)
{
    struct ingest_attachment a;
    struct timespec t0, t1;
    size_t n = 0;
    char *docx;
    double ms;

    (void)state;
    /* 80 MiB inflated: over the 64 MiB total and the ratio limit. */
    docx = make_docx(80u << 20, &n);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    extract("bomb", "bomb.docx", docx, n, &a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("zip bomb: %zu bytes -> state %d (%s) in %.1f ms\n", n, a.state,
           a.detail, ms);
    ASSERT_EQ(a.state, INGEST_TEXT_TOO_LARGE);
    assert_null(a.text);
    assert_true(ms < 1000);
    sw_free(a.detail);
    free(docx);
    /* A small, highly compressible one: refused by the ratio alone. */
    docx = make_docx(4u << 20, &n);
    extract("ratio", "ratio.docx", docx, n, &a);
    ASSERT_EQ(a.state, INGEST_TEXT_TOO_LARGE);
    assert_non_null(strstr(a.detail, "ratio"));
    sw_free(a.detail);
    free(docx);
}

static void test_kinds(void **state)
{
    struct ingest_attachment a;
    char png[] = "\x89PNG\r\n\x1a\n0000";
    char txt[] = "caf\xe9 au lait";

    (void)state;
    extract("png", "x.png", png, sizeof png - 1, &a);
    ASSERT_EQ(a.kind, INGEST_KIND_IMAGE);
    ASSERT_EQ(a.state, INGEST_TEXT_UNSUPPORTED);
    sw_free(a.detail);
    extract("txt", "x.txt", txt, sizeof txt - 1, &a);
    ASSERT_EQ(a.state, INGEST_TEXT_EXTRACTED);
    assert_string_equal(a.text, "caf\xc3\xa9 au lait");
    sw_free(a.text);
    sw_free(a.detail);
    extract("pdf", "x.pdf", txt, sizeof txt - 1, &a);
    ASSERT_EQ(a.kind, INGEST_KIND_PDF);
    ASSERT_EQ(a.state, INGEST_TEXT_FAILED);
    sw_free(a.detail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_corpus_documents),
    };

    if (corpus_root(root, sizeof root) != 0) {
        fprintf(stderr, "corpus not found in runfiles\n");
        return 1;
    }
    ingest_mail_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
