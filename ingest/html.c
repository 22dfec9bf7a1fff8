/* html: HTML to text for ingest. The tree is walked without recursion (so a
 * deeply nested document cannot exhaust the stack) and the text is written
 * through a small line-layout state: pending line breaks are emitted only
 * before the next visible word, so empty blocks leave no blank runs. */
#include "ingest/html.h"

#include <stdint.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/ingest_int.h"

struct html_out {
    struct sw_buf buf;
    int pending_nl; /* line breaks owed before the next text (0..2) */
    int need_space; /* a collapsed space owed before the next word */
    int full;       /* the cap was reached; ignore the rest */
};

/* html_is_block: elements that start and end on their own line; the value
 * is how many line breaks surround them (2 = a blank line). */
static int html_block_breaks(const char *name)
{
    static const char *const para[] = {
        "p",  "h1", "h2",    "h3",  "h4", "h5", "h6",     "blockquote",
        "ul", "ol", "table", "pre", "dl", "hr", "address"};
    static const char *const line[] = {
        "div",     "li",     "tr",     "dt",         "dd",       "section",
        "article", "header", "footer", "nav",        "aside",    "form",
        "center",  "main",   "figure", "figcaption", "fieldset", "legend",
        "caption", "tbody",  "thead",  "tfoot",      "body",     "html"};
    size_t i;

    for (i = 0; i < sizeof para / sizeof para[0]; i++)
        if (strcmp(name, para[i]) == 0)
            return 2;
    for (i = 0; i < sizeof line / sizeof line[0]; i++)
        if (strcmp(name, line[i]) == 0)
            return 1;
    return 0;
}

static int html_is_hidden(const char *name)
{
    return strcmp(name, "script") == 0 || strcmp(name, "style") == 0 ||
           strcmp(name, "head") == 0 || strcmp(name, "title") == 0 ||
           strcmp(name, "noscript") == 0 || strcmp(name, "template") == 0 ||
           strcmp(name, "object") == 0 || strcmp(name, "iframe") == 0 ||
           strcmp(name, "svg") == 0;
}

static void html_break(struct html_out *o, int n)
{
    if (o->pending_nl < n)
        o->pending_nl = n;
    o->need_space = 0;
}

static sw_err html_put(struct html_out *o, const char *p, size_t n)
{
    sw_err rc;

    if (o->full)
        return SW_OK;
    rc = sw_buf_add(&o->buf, p, n);
    if (rc == SW_ETOOBIG) {
        size_t room = o->buf.max - o->buf.len;
        room = ingest__utf8_valid_len(p, room < n ? room : n);
        rc = sw_buf_add(&o->buf, p, room);
        o->full = 1;
    }
    return rc;
}

/* html_text writes one text node: whitespace runs collapse unless pre. */
static sw_err html_text(struct html_out *o, const char *s, int pre)
{
    size_t i = 0, start;
    sw_err rc;

    while (s[i] != '\0' && !o->full) {
        if (!pre && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r' || s[i] == '\f')) {
            o->need_space = 1;
            i++;
            continue;
        }
        /* U+00A0 (no-break space) is whitespace for reading purposes. */
        if (!pre && (unsigned char)s[i] == 0xC2 &&
            (unsigned char)s[i + 1] == 0xA0) {
            o->need_space = 1;
            i += 2;
            continue;
        }
        start = i;
        if (pre) {
            while (s[i] != '\0' && s[i] != '\n')
                i++;
        } else {
            while (s[i] != '\0' && s[i] != ' ' && s[i] != '\t' &&
                   s[i] != '\n' && s[i] != '\r' && s[i] != '\f' &&
                   !((unsigned char)s[i] == 0xC2 &&
                     (unsigned char)s[i + 1] == 0xA0))
                i++;
        }
        if (o->buf.len > 0 && o->pending_nl > 0) {
            rc = html_put(o, o->pending_nl > 1 ? "\n\n" : "\n",
                          (size_t)o->pending_nl);
            if (rc)
                return rc;
        } else if (o->buf.len > 0 && o->need_space) {
            rc = html_put(o, " ", 1);
            if (rc)
                return rc;
        }
        o->pending_nl = 0;
        o->need_space = 0;
        rc = html_put(o, s + start, i - start);
        if (rc)
            return rc;
        if (pre && s[i] == '\n') {
            o->pending_nl = o->pending_nl < 1 ? 1 : o->pending_nl;
            i++;
        }
    }
    return SW_OK;
}

/* html_leave applies the end of an element: block breaks, the end of pre,
 * and the gap after a table cell. */
static void html_leave(struct html_out *o, xmlNode *n, int *pre)
{
    const char *name = (const char *)n->name;
    int br;

    if (n->type != XML_ELEMENT_NODE || name == NULL || html_is_hidden(name))
        return;
    br = html_block_breaks(name);
    if (br)
        html_break(o, br);
    if (strcmp(name, "pre") == 0 && *pre > 0)
        (*pre)--;
    if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
        o->need_space = 1;
}

static sw_err html_walk(struct html_out *o, xmlNode *root)
{
    xmlNode *n = root;
    int pre = 0;
    sw_err rc;

    while (n != NULL && !o->full) {
        int descend = 0;
        const char *name = (const char *)n->name;

        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content != NULL) {
                rc = html_text(o, (const char *)n->content, pre > 0);
                if (rc)
                    return rc;
            }
        } else if (n->type == XML_ELEMENT_NODE && name != NULL &&
                   !html_is_hidden(name)) {
            int br = html_block_breaks(name);
            if (strcmp(name, "br") == 0)
                html_break(o, o->pending_nl + 1 > 2 ? 2 : o->pending_nl + 1);
            else if (br)
                html_break(o, br);
            else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
                o->need_space = 1;
            if (strcmp(name, "pre") == 0)
                pre++;
            descend = n->children != NULL;
        }
        if (descend) {
            n = n->children;
            continue;
        }
        for (;;) {
            html_leave(o, n, &pre);
            if (n == root) {
                n = NULL;
                break;
            }
            if (n->next != NULL) {
                n = n->next;
                break;
            }
            n = n->parent;
            if (n == NULL)
                break;
        }
    }
    return SW_OK;
}

sw_err ingest_html_to_text(const char *html, size_t n, const char *encoding,
                           size_t max, char **out, size_t *out_len,
                           int *truncated)
{
    htmlDocPtr doc = NULL;
    struct html_out o;
    char *conv = NULL;
    size_t conv_len = 0;
    const char *enc = encoding;
    sw_err rc = SW_OK;

    memset(&o, 0, sizeof o);
    sw_buf_init(&o.buf, max);
    if (n > (size_t)INT32_MAX)
        n = (size_t)INT32_MAX;
    if (enc == NULL && ingest__utf8_valid_len(html, n) != n &&
        (n < 2 ||
         !((unsigned char)html[0] == 0xFF || (unsigned char)html[0] == 0xFE))) {
        /* No declared charset and not UTF-8: let a <meta> decide unless
         * there is none, in which case read it as windows-1252. */
        if (memmem(html, n, "charset", 7) == NULL) {
            rc = ingest__utf8_convert(html, n, "windows-1252", 4 * n + 16,
                                      &conv, &conv_len, NULL);
            if (rc)
                goto out;
            html = conv;
            n = conv_len;
            enc = "UTF-8";
        }
    }
    doc = htmlReadMemory(html, (int)n, NULL, enc,
                         HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                             HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                             HTML_PARSE_NOBLANKS | HTML_PARSE_COMPACT);
    if (doc != NULL && xmlDocGetRootElement(doc) != NULL) {
        rc = html_walk(&o, xmlDocGetRootElement(doc));
        if (rc)
            goto out;
    }
    if (truncated != NULL)
        *truncated = o.full;
    rc = sw_buf_take(&o.buf, out, out_len);
out:
    if (doc != NULL)
        xmlFreeDoc(doc);
    sw_free(conv);
    sw_buf_free(&o.buf);
    return rc;
}
