/* doctext: ingest_attachment_extract. Decides what a document is from its
 * magic bytes first, then its filename and declared type (both are
 * attacker-chosen), and dispatches to the extractor: Poppler for PDF,
 * ooxml.c for DOCX/PPTX/XLSX, html.c for HTML, charset conversion for text.
 * Bad documents end in a state with a detail, never in an error. */
#include "ingest/doctext.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <poppler.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/html.h"
#include "ingest/ingest_int.h"

sw_err ingest__att_state(struct ingest_attachment *a, enum ingest_text_state st,
                         const char *fmt, ...)
{
    struct sw_buf b;
    char *detail = NULL;
    va_list ap;
    sw_err rc;

    sw_buf_init(&b, 1024);
    va_start(ap, fmt);
    rc = sw_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc == SW_ETOOBIG)
        rc = SW_OK;
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &detail, NULL);
    sw_buf_free(&b);
    if (rc)
        return rc;
    sw_free(a->detail);
    a->detail = detail;
    a->state = st;
    if (st != INGEST_TEXT_EXTRACTED) {
        sw_free(a->text);
        a->text = NULL;
        a->text_len = 0;
    }
    return SW_OK;
}

/* doc_ext returns the lowercased extension of name ("" when none) in out. */
static void doc_ext(const char *name, char *out, size_t cap)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    size_t i;

    out[0] = '\0';
    if (dot == NULL || strchr(dot, '/') != NULL)
        return;
    dot++;
    for (i = 0; dot[i] != '\0' && i + 1 < cap; i++)
        out[i] =
            (char)((dot[i] >= 'A' && dot[i] <= 'Z') ? dot[i] + 32 : dot[i]);
    out[i] = '\0';
    if (dot[i] != '\0')
        out[0] = '\0'; /* too long to be an extension we know */
}

static int doc_ext_in(const char *ext, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(ext, *list) == 0)
            return 1;
    return 0;
}

static int doc_ct_is(const char *ct, const char *prefix)
{
    return ct != NULL && strncasecmp(ct, prefix, strlen(prefix)) == 0;
}

/* doc_text_done stores extracted text (taking ownership of t). */
static sw_err doc_text_done(struct ingest_attachment *a, char *t, size_t n,
                            int truncated, const struct ingest_limits *l)
{
    sw_err rc;

    if (truncated)
        rc = ingest__att_state(a, INGEST_TEXT_EXTRACTED,
                               "text cut at %zu bytes", l->max_text_bytes);
    else
        rc = ingest__att_state(a, INGEST_TEXT_EXTRACTED, "%s",
                               n == 0 ? "no text found" : "");
    if (rc) {
        sw_free(t);
        return rc;
    }
    sw_free(a->text);
    a->text = t;
    a->text_len = n;
    return SW_OK;
}

static sw_err doc_plain(struct ingest_attachment *a,
                        const struct ingest_limits *l)
{
    char *t = NULL;
    size_t n = 0;
    int flags = 0;
    sw_err rc;

    rc = ingest__utf8_convert(a->data, a->len, NULL, l->max_text_bytes, &t, &n,
                              &flags);
    if (rc)
        return rc;
    return doc_text_done(a, t, n, (flags & INGEST__TRUNCATED) != 0, l);
}

static sw_err doc_html(struct ingest_attachment *a,
                       const struct ingest_limits *l)
{
    char *t = NULL;
    size_t n = 0;
    int truncated = 0;
    sw_err rc;

    rc = ingest_html_to_text((const char *)a->data, a->len, NULL,
                             l->max_text_bytes, &t, &n, &truncated);
    if (rc)
        return rc;
    return doc_text_done(a, t, n, truncated, l);
}

void ingest__pdf_global_init(void)
{
    /* The smallest document Poppler accepts; opening it creates Poppler's
     * global parameters, which are not created thread-safely later. */
    static const char pdf[] =
        "%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        "2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        "trailer<</Root 1 0 R>>\n%%EOF\n";
    GBytes *bytes = g_bytes_new_static(pdf, sizeof pdf - 1);
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, NULL);

    if (doc != NULL)
        g_object_unref(doc);
    g_bytes_unref(bytes);
}

static sw_err doc_pdf(struct ingest_attachment *a,
                      const struct ingest_limits *l)
{
    GBytes *bytes = NULL;
    GError *gerr = NULL;
    PopplerDocument *doc = NULL;
    struct sw_buf b;
    char *t = NULL;
    size_t n = 0;
    int pages, i, truncated = 0;
    sw_err rc = SW_OK;

    sw_buf_init(&b, l->max_text_bytes);
    a->kind = INGEST_KIND_PDF;
    if (a->len > (size_t)G_MAXINT) {
        rc = ingest__att_state(a, INGEST_TEXT_TOO_LARGE, "PDF too large");
        goto out;
    }
    bytes = g_bytes_new_static(a->data, a->len);
    doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
    if (doc == NULL) {
        if (gerr != NULL && gerr->domain == POPPLER_ERROR &&
            gerr->code == POPPLER_ERROR_ENCRYPTED)
            rc =
                ingest__att_state(a, INGEST_TEXT_ENCRYPTED, "PDF is encrypted");
        else
            rc = ingest__att_state(a, INGEST_TEXT_FAILED, "broken PDF: %s",
                                   gerr && gerr->message ? gerr->message
                                                         : "unreadable");
        goto out;
    }
    pages = poppler_document_get_n_pages(doc);
    a->pages = pages;
    for (i = 0; i < pages && i < l->max_pages && !truncated; i++) {
        PopplerPage *page = poppler_document_get_page(doc, i);
        char *pt;
        size_t pn, room;

        if (page == NULL)
            continue;
        pt = poppler_page_get_text(page);
        g_object_unref(page);
        if (pt == NULL)
            continue;
        pn = ingest__utf8_valid_len(pt, strlen(pt));
        if (b.len > 0 && pn > 0)
            rc = sw_buf_add(&b, "\n\n", 2);
        if (rc == SW_OK)
            rc = sw_buf_add(&b, pt, pn);
        if (rc == SW_ETOOBIG) {
            room = b.max - b.len;
            room = ingest__utf8_valid_len(pt, room < pn ? room : pn);
            rc = sw_buf_add(&b, pt, room);
            truncated = 1;
        }
        g_free(pt);
        if (rc)
            goto out;
    }
    /* Poppler's text can hold NULs and stray bytes; clean it. */
    rc = ingest__utf8_convert(sw_buf_str(&b), b.len, "utf-8", l->max_text_bytes,
                              &t, &n, NULL);
    if (rc)
        goto out;
    rc = doc_text_done(a, t, n, truncated, l);
    t = NULL;
    if (rc == SW_OK && pages > l->max_pages)
        rc = ingest__att_state(a, INGEST_TEXT_EXTRACTED,
                               "read the first %d of %d pages", l->max_pages,
                               pages);
out:
    sw_free(t);
    sw_buf_free(&b);
    if (gerr != NULL)
        g_error_free(gerr);
    if (doc != NULL)
        g_object_unref(doc);
    if (bytes != NULL)
        g_bytes_unref(bytes);
    return rc;
}

/* doc_cfb handles OLE compound files: encrypted OOXML packages (which are
 * CFB files holding an EncryptionInfo stream) and legacy Office formats. */
static sw_err doc_cfb(struct ingest_attachment *a, const char *ext)
{
    static const char enc_name[] = "E\0n\0c\0r\0y\0p\0t\0i\0o\0n\0I\0n\0f\0o";
    static const char *const sheet[] = {"xls", "xlsx", "xlsm", "xlsb", NULL};
    static const char *const pres[] = {"ppt", "pptx", "pptm", "pps", NULL};

    if (doc_ext_in(ext, sheet))
        a->kind = INGEST_KIND_SPREADSHEET;
    else if (doc_ext_in(ext, pres))
        a->kind = INGEST_KIND_PRESENTATION;
    else if (strcmp(ext, "msg") == 0)
        a->kind = INGEST_KIND_OTHER;
    else
        a->kind = INGEST_KIND_DOCUMENT;
    if (memmem(a->data, a->len, enc_name, sizeof enc_name - 1) != NULL)
        return ingest__att_state(a, INGEST_TEXT_ENCRYPTED,
                                 "Office document is encrypted");
    if (strcmp(ext, "msg") == 0)
        return ingest__att_state(a, INGEST_TEXT_UNSUPPORTED,
                                 "Outlook .msg items are not read");
    return ingest__att_state(a, INGEST_TEXT_UNSUPPORTED,
                             "legacy binary Office format (.%s) is not read",
                             ext[0] ? ext : "doc/xls/ppt");
}

static int doc_is_image(const unsigned char *d, size_t n, const char *ct)
{
    if (doc_ct_is(ct, "image/"))
        return 1;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return 1;
    if (n >= 3 && memcmp(d, "\xFF\xD8\xFF", 3) == 0)
        return 1;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return 1;
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return 1;
    return 0;
}

sw_err ingest_attachment_extract(struct ingest_attachment *a,
                                 const struct ingest_limits *l)
{
    static const char *const ooxml[] = {"docx", "docm", "dotx", "pptx",
                                        "pptm", "ppsx", "potx", "xlsx",
                                        "xlsm", "xltx", NULL};
    static const char *const html[] = {"html", "htm", "xhtml", NULL};
    static const char *const text[] = {"txt",  "text", "csv", "tsv",
                                       "md",   "log",  "ics", "vcf",
                                       "json", "xml",  "eml", NULL};
    const unsigned char *d = a->data;
    size_t n = a->len;
    const char *ct = a->content_type;
    char ext[16];
    int is_ooxml = 0;
    sw_err rc;

    doc_ext(a->filename, ext, sizeof ext);
    a->pages = 0;
    if (d == NULL)
        n = 0;
    if (n > l->max_attachment_bytes) {
        a->kind = INGEST_KIND_OTHER;
        return ingest__att_state(a, INGEST_TEXT_TOO_LARGE,
                                 "attachment is %zu bytes, over the %zu-byte "
                                 "limit",
                                 n, l->max_attachment_bytes);
    }
    if (n >= 5 && memmem(d, n < 1024 ? n : 1024, "%PDF-", 5) != NULL)
        return doc_pdf(a, l);
    if (n >= 4 && memcmp(d, "PK\x03\x04", 4) == 0) {
        rc = ingest__ooxml_extract(a, l, &is_ooxml);
        if (rc || is_ooxml)
            return rc;
        a->kind = INGEST_KIND_OTHER;
        return ingest__att_state(a, INGEST_TEXT_UNSUPPORTED,
                                 "ZIP archives are not unpacked");
    }
    if (n >= 8 && memcmp(d, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) == 0)
        return doc_cfb(a, ext);
    if (doc_is_image(d, n, ct)) {
        a->kind = INGEST_KIND_IMAGE;
        return ingest__att_state(a, INGEST_TEXT_UNSUPPORTED,
                                 "images are not read");
    }
    if (doc_ct_is(ct, "application/pdf") || strcmp(ext, "pdf") == 0)
        return doc_pdf(a, l); /* Poppler decides whether it is one */
    if (doc_ext_in(ext, ooxml) || doc_ct_is(ct, "application/vnd.openxml")) {
        rc = ingest__ooxml_extract(a, l, &is_ooxml);
        if (rc || is_ooxml)
            return rc;
        a->kind = INGEST_KIND_DOCUMENT;
        return ingest__att_state(a, INGEST_TEXT_FAILED,
                                 "broken Office document: not a ZIP package");
    }
    if (doc_ct_is(ct, "application/ms-tnef") ||
        doc_ct_is(ct, "application/vnd.ms-tnef") ||
        strcasecmp(a->filename ? a->filename : "", "winmail.dat") == 0 ||
        (n >= 4 && memcmp(d, "\x78\x9f\x3e\x22", 4) == 0)) {
        a->kind = INGEST_KIND_OTHER;
        return ingest__att_state(a, INGEST_TEXT_UNSUPPORTED,
                                 "TNEF (winmail.dat) is not unpacked");
    }
    if (doc_ct_is(ct, "text/html") || doc_ct_is(ct, "application/xhtml") ||
        doc_ext_in(ext, html)) {
        a->kind = INGEST_KIND_HTML;
        return doc_html(a, l);
    }
    if (doc_ct_is(ct, "text/") || doc_ext_in(ext, text)) {
        a->kind = INGEST_KIND_TEXT;
        return doc_plain(a, l);
    }
    a->kind = INGEST_KIND_OTHER;
    return ingest__att_state(a, INGEST_TEXT_UNSUPPORTED,
                             "no text extractor for %s",
                             ct && ct[0] ? ct : "this type");
}
