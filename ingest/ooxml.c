/* ooxml: text from DOCX, PPTX and XLSX packages (ZIP containers of XML
 * parts) with libzip and libxml2's streaming reader. Every size in the
 * central directory is checked against the limits before the first byte is
 * inflated, and reads stop at the declared size, so a zip bomb costs only
 * the directory scan. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/xmlreader.h>
#include <zip.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ingest/doctext.h"
#include "ingest/ingest_int.h"

#define OOXML_MAX_ENTRIES 20000
#define OOXML_MAX_STRINGS (1u << 20)

struct ooxml {
    zip_t *za;
    struct ingest_attachment *a;
    const struct ingest_limits *l;
    struct sw_buf out; /* the document's text, capped at max_text_bytes */
    int truncated;
    enum ingest_text_state bad; /* 0, or the state that ends extraction */
    const char *bad_detail;     /* static text for bad */
    /* XLSX shared strings: offsets into strs, one NUL-terminated each. */
    struct sw_buf strs;
    size_t *str_off;
    size_t n_str, cap_str;
};

/* One part's pair of (number, index), to read slides and sheets in order. */
struct ooxml_part {
    int64_t num;
    zip_uint64_t idx;
};

static void ooxml_fail(struct ooxml *z, enum ingest_text_state st,
                       const char *detail)
{
    if (z->bad == 0) {
        z->bad = st;
        z->bad_detail = detail;
    }
}

static sw_err ooxml_put(struct ooxml *z, const char *s, size_t n)
{
    sw_err rc;
    size_t room;

    if (z->truncated)
        return SW_OK;
    rc = sw_buf_add(&z->out, s, n);
    if (rc != SW_ETOOBIG)
        return rc;
    room = z->out.max - z->out.len;
    room = ingest__utf8_valid_len(s, room < n ? room : n);
    z->truncated = 1;
    return sw_buf_add(&z->out, s, room);
}

/* ooxml_newline ends a line unless the text already ends with one. */
static sw_err ooxml_newline(struct ooxml *z)
{
    if (z->out.len == 0 || z->out.data[z->out.len - 1] == '\n')
        return SW_OK;
    return ooxml_put(z, "\n", 1);
}

/* ooxml_read inflates entry idx into *buf (caller frees with sw_free),
 * stopping at its declared size; a part that inflates past it or fails its
 * CRC is recorded as a broken document. */
static sw_err ooxml_read(struct ooxml *z, zip_uint64_t idx, char **buf,
                         size_t *len)
{
    zip_stat_t st;
    zip_file_t *f = NULL;
    struct sw_buf b;
    char chunk[16384];
    zip_int64_t got;
    sw_err rc = SW_OK;

    *buf = NULL;
    *len = 0;
    sw_buf_init(&b, z->l->max_uncompressed_bytes);
    if (zip_stat_index(z->za, idx, 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE)) {
        ooxml_fail(z, INGEST_TEXT_FAILED, "broken ZIP entry");
        goto out;
    }
    f = zip_fopen_index(z->za, idx, 0);
    if (f == NULL) {
        ooxml_fail(z, INGEST_TEXT_FAILED, "ZIP entry cannot be opened");
        goto out;
    }
    for (;;) {
        got = zip_fread(f, chunk, sizeof chunk);
        if (got < 0) {
            ooxml_fail(z, INGEST_TEXT_FAILED, "ZIP entry is corrupt");
            goto out;
        }
        if (got == 0)
            break;
        if (b.len + (size_t)got > st.size) {
            ooxml_fail(z, INGEST_TEXT_TOO_LARGE,
                       "ZIP entry inflates past its declared size");
            goto out;
        }
        rc = sw_buf_add(&b, chunk, (size_t)got);
        if (rc == SW_ETOOBIG) {
            rc = SW_OK;
            ooxml_fail(z, INGEST_TEXT_TOO_LARGE,
                       "ZIP entry inflates past the size limit");
            goto out;
        }
        if (rc)
            goto out;
    }
    rc = sw_buf_take(&b, buf, len);
out:
    if (f != NULL)
        zip_fclose(f);
    sw_buf_free(&b);
    return rc;
}

/* The three part readers below see the XML as a stream of reader events. */
typedef sw_err (*ooxml_event_fn)(struct ooxml *z, xmlTextReaderPtr rd, int type,
                                 const char *name, void *st);

static void ooxml_quiet(void *arg, const char *msg,
                        xmlParserSeverities severity,
                        xmlTextReaderLocatorPtr loc)
{
    (void)arg;
    (void)msg;
    (void)severity;
    (void)loc;
}

static sw_err ooxml_xml(struct ooxml *z, zip_uint64_t idx, ooxml_event_fn fn,
                        void *st)
{
    xmlTextReaderPtr rd = NULL;
    char *buf = NULL;
    size_t len = 0;
    int r;
    sw_err rc;

    rc = ooxml_read(z, idx, &buf, &len);
    if (rc || z->bad || len > (size_t)INT32_MAX)
        goto out;
    rd = xmlReaderForMemory(buf, (int)len, "", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING | XML_PARSE_COMPACT);
    if (rd == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    xmlTextReaderSetErrorHandler(rd, ooxml_quiet, NULL);
    while ((r = xmlTextReaderRead(rd)) == 1 && !z->truncated) {
        const char *name = (const char *)xmlTextReaderConstLocalName(rd);
        rc = fn(z, rd, xmlTextReaderNodeType(rd), name ? name : "", st);
        if (rc)
            goto out;
    }
    /* Broken XML keeps what was read before the damage; a part with no
     * text at all and an error marks the document broken. */
    if (r < 0 && z->out.len == 0)
        ooxml_fail(z, INGEST_TEXT_FAILED, "broken XML in the document");
out:
    if (rd != NULL)
        xmlFreeTextReader(rd);
    sw_free(buf);
    return rc;
}

enum {
    OOXML_ELEM = XML_READER_TYPE_ELEMENT,
    OOXML_END = XML_READER_TYPE_END_ELEMENT,
};

static int ooxml_is_text(int type)
{
    return type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
           type == XML_READER_TYPE_WHITESPACE ||
           type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE;
}

/* Runs of text (w:t in DOCX, a:t in PPTX) and paragraph ends. */
static sw_err ooxml_runs(struct ooxml *z, xmlTextReaderPtr rd, int type,
                         const char *name, void *st)
{
    int *in_t = st;
    const char *v;

    if (type == OOXML_ELEM) {
        if (strcmp(name, "t") == 0 && !xmlTextReaderIsEmptyElement(rd))
            *in_t = 1;
        else if (strcmp(name, "tab") == 0)
            return ooxml_put(z, "\t", 1);
        else if (strcmp(name, "br") == 0 || strcmp(name, "cr") == 0)
            return ooxml_put(z, "\n", 1);
        else if (strcmp(name, "p") == 0 && xmlTextReaderIsEmptyElement(rd))
            return ooxml_newline(z);
    } else if (type == OOXML_END) {
        if (strcmp(name, "t") == 0)
            *in_t = 0;
        else if (strcmp(name, "p") == 0)
            return ooxml_newline(z);
    } else if (*in_t && ooxml_is_text(type)) {
        v = (const char *)xmlTextReaderConstValue(rd);
        if (v != NULL)
            return ooxml_put(z, v, strlen(v));
    }
    return SW_OK;
}

struct ooxml_sst {
    struct sw_buf cur;
    int in_t, in_rph;
};

static sw_err ooxml_str_push(struct ooxml *z, const char *s, size_t n)
{
    size_t *p;
    sw_err rc;

    if (z->n_str >= OOXML_MAX_STRINGS) {
        ooxml_fail(z, INGEST_TEXT_TOO_LARGE, "too many shared strings");
        return SW_OK;
    }
    if (z->n_str == z->cap_str) {
        size_t cap = z->cap_str ? z->cap_str * 2 : 256;
        p = sw_realloc(z->str_off, cap * sizeof *p);
        if (p == NULL)
            return SW_ENOMEM;
        z->str_off = p;
        z->cap_str = cap;
    }
    z->str_off[z->n_str] = z->strs.len;
    rc = sw_buf_add(&z->strs, s, n);
    if (rc == SW_OK)
        rc = sw_buf_addc(&z->strs, '\0');
    if (rc == SW_ETOOBIG) {
        ooxml_fail(z, INGEST_TEXT_TOO_LARGE, "shared strings too large");
        return SW_OK;
    }
    if (rc == SW_OK)
        z->n_str++;
    return rc;
}

/* xl/sharedStrings.xml: one string per si, phonetic runs left out. */
static sw_err ooxml_sst_event(struct ooxml *z, xmlTextReaderPtr rd, int type,
                              const char *name, void *arg)
{
    struct ooxml_sst *s = arg;
    const char *v;
    sw_err rc;

    if (type == OOXML_ELEM) {
        if (strcmp(name, "si") == 0) {
            sw_buf_reset(&s->cur);
            if (xmlTextReaderIsEmptyElement(rd))
                return ooxml_str_push(z, "", 0);
        } else if (strcmp(name, "rPh") == 0 &&
                   !xmlTextReaderIsEmptyElement(rd)) {
            s->in_rph = 1;
        } else if (strcmp(name, "t") == 0 && !xmlTextReaderIsEmptyElement(rd)) {
            s->in_t = 1;
        }
    } else if (type == OOXML_END) {
        if (strcmp(name, "si") == 0)
            return ooxml_str_push(z, sw_buf_str(&s->cur), s->cur.len);
        if (strcmp(name, "rPh") == 0)
            s->in_rph = 0;
        else if (strcmp(name, "t") == 0)
            s->in_t = 0;
    } else if (s->in_t && !s->in_rph && ooxml_is_text(type)) {
        v = (const char *)xmlTextReaderConstValue(rd);
        if (v != NULL) {
            rc = sw_buf_addstr(&s->cur, v);
            if (rc == SW_ETOOBIG)
                rc = SW_OK; /* one cell's text is capped; keep going */
            return rc;
        }
    }
    return SW_OK;
}

struct ooxml_sheet {
    struct sw_buf val;
    char type[16];
    int in_v, in_t, cells_in_row;
};

static sw_err ooxml_cell_end(struct ooxml *z, struct ooxml_sheet *s)
{
    const char *v = sw_buf_str(&s->val);
    int64_t idx;
    sw_err rc;

    if (s->val.len == 0)
        return SW_OK;
    if (strcmp(s->type, "s") == 0) {
        if (sw_parse_i64(v, s->val.len, 0, (int64_t)z->n_str - 1, &idx) !=
            SW_OK)
            return SW_OK; /* a dangling index: skip the cell */
        v = z->strs.data + z->str_off[idx];
    }
    if (v[0] == '\0')
        return SW_OK;
    if (s->cells_in_row++ > 0) {
        rc = ooxml_put(z, "\t", 1);
        if (rc)
            return rc;
    }
    return ooxml_put(z, v, strlen(v));
}

/* xl/worksheets/sheetN.xml: cells tab-separated, one row per line. */
static sw_err ooxml_sheet_event(struct ooxml *z, xmlTextReaderPtr rd, int type,
                                const char *name, void *arg)
{
    struct ooxml_sheet *s = arg;
    const char *v;
    sw_err rc;

    if (type == OOXML_ELEM) {
        if (strcmp(name, "c") == 0) {
            xmlChar *t = xmlTextReaderGetAttribute(rd, BAD_CAST "t");
            sw_buf_reset(&s->val);
            s->type[0] = '\0';
            if (t != NULL) {
                size_t n = strlen((const char *)t);
                if (n >= sizeof s->type)
                    n = sizeof s->type - 1;
                memcpy(s->type, t, n);
                s->type[n] = '\0';
                xmlFree(t);
            }
        } else if (strcmp(name, "v") == 0 && !xmlTextReaderIsEmptyElement(rd)) {
            s->in_v = 1;
        } else if (strcmp(name, "t") == 0 && !xmlTextReaderIsEmptyElement(rd)) {
            s->in_t = 1;
        }
    } else if (type == OOXML_END) {
        if (strcmp(name, "c") == 0)
            return ooxml_cell_end(z, s);
        if (strcmp(name, "v") == 0)
            s->in_v = 0;
        else if (strcmp(name, "t") == 0)
            s->in_t = 0;
        else if (strcmp(name, "row") == 0) {
            s->cells_in_row = 0;
            return ooxml_newline(z);
        }
    } else if ((s->in_v || s->in_t) && ooxml_is_text(type)) {
        v = (const char *)xmlTextReaderConstValue(rd);
        if (v != NULL) {
            rc = sw_buf_addstr(&s->val, v);
            if (rc == SW_ETOOBIG)
                rc = SW_OK;
            return rc;
        }
    }
    return SW_OK;
}

static int ooxml_part_cmp(const void *x, const void *y)
{
    const struct ooxml_part *a = x, *b = y;
    return a->num < b->num ? -1 : a->num > b->num;
}

/* ooxml_numbered collects entries named prefix<N>.xml, sorted by N. */
static sw_err ooxml_numbered(struct ooxml *z, const char *prefix,
                             struct ooxml_part **out, size_t *n_out)
{
    zip_int64_t n = zip_get_num_entries(z->za, 0), i;
    struct ooxml_part *parts = NULL;
    size_t k = 0, plen = strlen(prefix);

    parts = sw_calloc((size_t)n + 1, sizeof *parts);
    if (parts == NULL)
        return SW_ENOMEM;
    for (i = 0; i < n; i++) {
        const char *name = zip_get_name(z->za, (zip_uint64_t)i, 0);
        size_t len;
        int64_t num;

        if (name == NULL || strncmp(name, prefix, plen) != 0)
            continue;
        len = strlen(name);
        if (len < plen + 5 || strcmp(name + len - 4, ".xml") != 0)
            continue;
        if (sw_parse_i64(name + plen, len - plen - 4, 0, INT32_MAX, &num))
            continue;
        parts[k].num = num;
        parts[k].idx = (zip_uint64_t)i;
        k++;
    }
    qsort(parts, k, sizeof *parts, ooxml_part_cmp);
    *out = parts;
    *n_out = k;
    return SW_OK;
}

/* ooxml_extra appends the text runs of every part named prefix<N>.xml
 * (headers, footers, notes, drawings, comments), in number order. */
static sw_err ooxml_extra(struct ooxml *z, const char *prefix)
{
    struct ooxml_part *parts = NULL;
    size_t n = 0, i;
    int in_t;
    sw_err rc;

    rc = ooxml_numbered(z, prefix, &parts, &n);
    if (rc)
        return rc;
    for (i = 0; i < n && !z->bad && !z->truncated; i++) {
        in_t = 0;
        rc = ooxml_newline(z);
        if (rc == SW_OK)
            rc = ooxml_xml(z, parts[i].idx, ooxml_runs, &in_t);
        if (rc)
            break;
    }
    sw_free(parts);
    return rc;
}

static sw_err ooxml_extras(struct ooxml *z, const char *const *prefixes)
{
    sw_err rc = SW_OK;

    for (; *prefixes && rc == SW_OK && !z->bad; prefixes++)
        rc = ooxml_extra(z, *prefixes);
    return rc;
}

static sw_err ooxml_docx(struct ooxml *z, zip_int64_t doc)
{
    static const char *const extra[] = {"word/header",    "word/footer",
                                        "word/footnotes", "word/endnotes",
                                        "word/comments",  NULL};
    int in_t = 0;
    sw_err rc;

    z->a->kind = INGEST_KIND_DOCUMENT;
    rc = ooxml_xml(z, (zip_uint64_t)doc, ooxml_runs, &in_t);
    if (rc == SW_OK && !z->bad)
        rc = ooxml_extras(z, extra);
    return rc;
}

static sw_err ooxml_pptx(struct ooxml *z)
{
    struct ooxml_part *parts = NULL;
    size_t n = 0, i;
    int in_t;
    sw_err rc;

    z->a->kind = INGEST_KIND_PRESENTATION;
    rc = ooxml_numbered(z, "ppt/slides/slide", &parts, &n);
    if (rc)
        return rc;
    z->a->pages = (int)n;
    for (i = 0; i < n && !z->bad && !z->truncated; i++) {
        in_t = 0;
        if (z->out.len > 0)
            rc = ooxml_put(z, "\n", 1);
        if (rc == SW_OK)
            rc = ooxml_xml(z, parts[i].idx, ooxml_runs, &in_t);
        if (rc)
            break;
    }
    sw_free(parts);
    if (rc == SW_OK && !z->bad) {
        static const char *const extra[] = {"ppt/notesSlides/notesSlide", NULL};
        rc = ooxml_extras(z, extra);
    }
    return rc;
}

static sw_err ooxml_xlsx(struct ooxml *z)
{
    struct ooxml_part *parts = NULL;
    struct ooxml_sst sst;
    struct ooxml_sheet sh;
    zip_int64_t idx;
    size_t n = 0, i;
    sw_err rc = SW_OK;

    memset(&sst, 0, sizeof sst);
    memset(&sh, 0, sizeof sh);
    sw_buf_init(&sst.cur, 1 << 20);
    sw_buf_init(&sh.val, 1 << 20);
    z->a->kind = INGEST_KIND_SPREADSHEET;
    idx = zip_name_locate(z->za, "xl/sharedStrings.xml", ZIP_FL_NOCASE);
    if (idx >= 0) {
        rc = ooxml_xml(z, (zip_uint64_t)idx, ooxml_sst_event, &sst);
        if (rc || z->bad)
            goto out;
    }
    rc = ooxml_numbered(z, "xl/worksheets/sheet", &parts, &n);
    if (rc)
        goto out;
    z->a->pages = (int)n;
    for (i = 0; i < n && !z->bad && !z->truncated; i++) {
        sh.in_v = sh.in_t = sh.cells_in_row = 0;
        if (z->out.len > 0)
            rc = ooxml_put(z, "\n", 1);
        if (rc == SW_OK)
            rc = ooxml_xml(z, parts[i].idx, ooxml_sheet_event, &sh);
        if (rc)
            goto out;
    }
    if (!z->bad) {
        static const char *const extra[] = {"xl/drawings/drawing",
                                            "xl/comments", NULL};
        rc = ooxml_extras(z, extra);
    }
out:
    sw_free(parts);
    sw_buf_free(&sst.cur);
    sw_buf_free(&sh.val);
    return rc;
}

/* ooxml_check_limits walks the central directory: entry count, each
 * declared size, their total and the total's ratio to the archive. */
static void ooxml_check_limits(struct ooxml *z)
{
    zip_int64_t n = zip_get_num_entries(z->za, 0), i;
    const struct ingest_limits *l = z->l;
    double total = 0;
    zip_stat_t st;

    if (n < 0 || n > OOXML_MAX_ENTRIES) {
        ooxml_fail(z, INGEST_TEXT_TOO_LARGE, "too many ZIP entries");
        return;
    }
    for (i = 0; i < n; i++) {
        if (zip_stat_index(z->za, (zip_uint64_t)i, 0, &st) != 0) {
            ooxml_fail(z, INGEST_TEXT_FAILED, "broken ZIP directory");
            return;
        }
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) &&
            st.encryption_method != ZIP_EM_NONE) {
            ooxml_fail(z, INGEST_TEXT_ENCRYPTED, "ZIP entries are encrypted");
            return;
        }
        if (!(st.valid & ZIP_STAT_SIZE))
            continue;
        if (st.size > l->max_uncompressed_bytes) {
            ooxml_fail(z, INGEST_TEXT_TOO_LARGE,
                       "a ZIP entry inflates past the size limit");
            return;
        }
        total += (double)st.size;
    }
    if (total > (double)l->max_uncompressed_bytes) {
        ooxml_fail(z, INGEST_TEXT_TOO_LARGE,
                   "the ZIP entries inflate past the size limit");
        return;
    }
    if (total / (double)(z->a->len ? z->a->len : 1) > l->max_ratio)
        ooxml_fail(z, INGEST_TEXT_TOO_LARGE,
                   "the ZIP compression ratio is past the limit (zip bomb?)");
}

static int ooxml_named(const struct ingest_attachment *a)
{
    static const char *const ext[] = {".docx", ".docm", ".dotx", ".pptx",
                                      ".pptm", ".ppsx", ".potx", ".xlsx",
                                      ".xlsm", ".xltx", NULL};
    const char *f = a->filename ? a->filename : "";
    size_t n = strlen(f), i, k;

    if (a->content_type != NULL &&
        strncasecmp(a->content_type, "application/vnd.openxmlformats", 30) == 0)
        return 1;
    for (i = 0; ext[i]; i++) {
        k = strlen(ext[i]);
        if (n >= k && strcasecmp(f + n - k, ext[i]) == 0)
            return 1;
    }
    return 0;
}

sw_err ingest__ooxml_extract(struct ingest_attachment *a,
                             const struct ingest_limits *l, int *is_ooxml)
{
    struct ooxml z;
    zip_source_t *src = NULL;
    zip_error_t zerr;
    zip_int64_t doc;
    char *t = NULL;
    size_t tn = 0;
    sw_err rc = SW_OK;

    memset(&z, 0, sizeof z);
    z.a = a;
    z.l = l;
    sw_buf_init(&z.out, l->max_text_bytes);
    sw_buf_init(&z.strs, l->max_uncompressed_bytes);
    *is_ooxml = 0;
    zip_error_init(&zerr);
    src = zip_source_buffer_create(a->data, a->len, 0, &zerr);
    if (src == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    z.za = zip_open_from_source(src, ZIP_RDONLY, &zerr);
    if (z.za == NULL) {
        zip_source_free(src);
        if (ooxml_named(a)) {
            *is_ooxml = 1;
            if (a->kind == 0)
                a->kind = INGEST_KIND_DOCUMENT;
            rc = ingest__att_state(a, INGEST_TEXT_FAILED,
                                   "broken ZIP container: %s",
                                   zip_error_strerror(&zerr));
        }
        goto out;
    }
    doc = zip_name_locate(z.za, "word/document.xml", ZIP_FL_NOCASE);
    if (doc < 0 &&
        zip_name_locate(z.za, "ppt/presentation.xml", ZIP_FL_NOCASE) < 0 &&
        zip_name_locate(z.za, "xl/workbook.xml", ZIP_FL_NOCASE) < 0) {
        if (ooxml_named(a)) {
            *is_ooxml = 1;
            a->kind = INGEST_KIND_DOCUMENT;
            rc = ingest__att_state(a, INGEST_TEXT_FAILED,
                                   "Office package without a main part");
        }
        goto out;
    }
    *is_ooxml = 1;
    a->kind =
        doc >= 0 ? INGEST_KIND_DOCUMENT
        : zip_name_locate(z.za, "ppt/presentation.xml", ZIP_FL_NOCASE) >= 0
            ? INGEST_KIND_PRESENTATION
            : INGEST_KIND_SPREADSHEET;
    ooxml_check_limits(&z);
    if (z.bad == 0) {
        if (a->kind == INGEST_KIND_DOCUMENT)
            rc = ooxml_docx(&z, doc);
        else if (a->kind == INGEST_KIND_PRESENTATION)
            rc = ooxml_pptx(&z);
        else
            rc = ooxml_xlsx(&z);
        if (rc)
            goto out;
    }
    if (z.bad != 0) {
        rc = ingest__att_state(a, z.bad, "%s", z.bad_detail);
        goto out;
    }
    rc = ingest__utf8_convert(sw_buf_str(&z.out), z.out.len, "utf-8",
                              l->max_text_bytes, &t, &tn, NULL);
    if (rc)
        goto out;
    rc = ingest__att_state(a, INGEST_TEXT_EXTRACTED, "%s",
                           z.truncated ? "text cut at the size limit"
                           : tn == 0   ? "no text found"
                                       : "");
    if (rc)
        goto out;
    sw_free(a->text);
    a->text = t;
    a->text_len = tn;
    t = NULL;
out:
    sw_free(t);
    if (z.za != NULL)
        zip_discard(z.za);
    sw_free(z.str_off);
    sw_buf_free(&z.strs);
    sw_buf_free(&z.out);
    return rc;
}
