/* mail: ingest_mail_parse on GMime 3. Headers come from GMime's decoders
 * (RFC 2047/2231, fallback charsets); the MIME tree is walked once, bodies
 * go through ingest__utf8_convert and ingest_html_to_text, leaf parts that
 * are not the body become attachments and go through doctext. GMime's
 * parser warnings and our own findings become the mail's defects. */
#include "ingest/mail.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <libxml/parser.h>

#include "base/sw_mem.h"
#include "ingest/doctext.h"
#include "ingest/html.h"
#include "ingest/ingest_int.h"

#define MAIL_MAX_DEFECTS 32
#define MAIL_MAX_ADDRS INGEST_MAX_ADDRS
#define MAIL_MAX_REFS INGEST_MAX_REFS
#define MAIL_MAX_WALK_DEPTH 64

struct mail_ctx {
    const struct ingest_limits *l;
    struct ingest_mail *m;
    size_t cap_atts, cap_defects;
    struct sw_buf plain, html;   /* body candidates of the message itself */
    struct sw_buf nplain, nhtml; /* bodies of enclosed messages (fallback) */
    int atts_dropped;
    sw_err err; /* first SW_ENOMEM met inside GMime callbacks */
};

void ingest_limits_default(struct ingest_limits *l)
{
    l->max_message_bytes = 32u << 20;
    l->max_attachment_bytes = 16u << 20;
    l->max_uncompressed_bytes = 64u << 20;
    l->max_ratio = 100.0;
    l->max_pages = 200;
    l->max_text_bytes = 2u << 20;
    l->max_attachments = 64;
    l->max_depth = 8;
}

static pthread_once_t mail_once = PTHREAD_ONCE_INIT;

static void mail_init_once(void)
{
    g_mime_init();
    xmlInitParser();
    ingest__pdf_global_init();
}

void ingest_mail_global_init(void)
{
    pthread_once(&mail_once, mail_init_once);
}

/* mail_defect appends one defect sentence (deduplicated, capped). */
static sw_err mail_defect(struct mail_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static sw_err mail_defect(struct mail_ctx *c, const char *fmt, ...)
{
    struct ingest_mail *m = c->m;
    struct sw_buf b;
    char *s = NULL, *clean = NULL;
    va_list ap;
    size_t i;
    sw_err rc;

    if (m->n_defects >= MAIL_MAX_DEFECTS)
        return SW_OK;
    sw_buf_init(&b, 256);
    va_start(ap, fmt);
    rc = sw_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc == SW_ETOOBIG)
        rc = SW_OK;
    if (rc)
        goto out;
    rc = ingest__utf8_convert(sw_buf_str(&b), b.len, "utf-8", 256, &clean, NULL,
                              NULL);
    if (rc)
        goto out;
    for (i = 0; i < m->n_defects; i++)
        if (strcmp(m->defects[i], clean) == 0)
            goto out;
    if (m->n_defects == c->cap_defects) {
        size_t cap = c->cap_defects ? c->cap_defects * 2 : 4;
        char **p = sw_realloc(m->defects, cap * sizeof *p);
        if (p == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        m->defects = p;
        c->cap_defects = cap;
    }
    m->defects[m->n_defects++] = clean;
    clean = NULL;
out:
    sw_free(s);
    sw_free(clean);
    sw_buf_free(&b);
    return rc;
}

static const char *mail_warning_text(GMimeParserWarning w)
{
    switch (w) {
    case GMIME_WARN_DUPLICATED_HEADER:
        return "header repeated";
    case GMIME_WARN_DUPLICATED_PARAMETER:
        return "header parameter repeated";
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
        return "header with unencoded 8-bit bytes";
    case GMIME_WARN_INVALID_CONTENT_TYPE:
        return "invalid Content-Type, read as application/octet-stream";
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        return "invalid RFC 2047 encoded header";
    case GMIME_WARN_MALFORMED_MULTIPART:
        return "multipart without child parts";
    case GMIME_WARN_TRUNCATED_MESSAGE:
        return "message is truncated (missing closing boundary)";
    case GMIME_WARN_MALFORMED_MESSAGE:
        return "message is malformed";
    case GMIME_CRIT_INVALID_HEADER_NAME:
        return "invalid header name";
    case GMIME_CRIT_CONFLICTING_HEADER:
        return "conflicting headers";
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        return "conflicting header parameters";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        return "multipart boundary missing";
    case GMIME_WARN_INVALID_PARAMETER:
        return "invalid header parameter";
    case GMIME_WARN_INVALID_ADDRESS_LIST:
        return "invalid address list";
    case GMIME_CRIT_NESTING_OVERFLOW:
        return "MIME nesting too deep; inner parts skipped";
    case GMIME_WARN_PART_WITHOUT_CONTENT:
        return "MIME part without content";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        return "MIME part without headers or content";
    }
    return "MIME damage";
}

static void mail_on_warning(gint64 offset, GMimeParserWarning code,
                            const gchar *item, gpointer user_data)
{
    struct mail_ctx *c = user_data;
    char clip[64];
    size_t n = 0;
    sw_err rc;

    if (item != NULL) {
        n = strlen(item);
        if (n > sizeof clip - 1)
            n = sizeof clip - 1;
        memcpy(clip, item, n);
    }
    clip[n] = '\0';
    if (n > 0)
        rc = mail_defect(c, "%s (%s) at byte %lld", mail_warning_text(code),
                         clip, (long long)offset);
    else
        rc = mail_defect(c, "%s at byte %lld", mail_warning_text(code),
                         (long long)offset);
    if (rc && c->err == SW_OK)
        c->err = rc;
}

/* mail_str copies a GMime string as clean UTF-8 ("" for NULL). */
static sw_err mail_str(const char *s, size_t max, char **out)
{
    if (s == NULL)
        s = "";
    return ingest__utf8_convert(s, strlen(s), "utf-8", max, out, NULL, NULL);
}

static sw_err mail_addr_one(InternetAddressMailbox *mb,
                            struct ingest_address *a)
{
    sw_err rc;

    rc = mail_str(internet_address_get_name(INTERNET_ADDRESS(mb)), 1024,
                  &a->name);
    if (rc == SW_OK)
        rc = mail_str(internet_address_mailbox_get_addr(mb), 1024, &a->email);
    if (rc == SW_OK)
        sw_str_lower(a->email);
    return rc;
}

/* mail_addrs flattens an address list (groups included) into *out. */
static sw_err mail_addrs(InternetAddressList *list, struct ingest_address **out,
                         size_t *n_out)
{
    struct ingest_address *v = NULL;
    size_t n = 0, cap = 0;
    int i, j, count = list ? internet_address_list_length(list) : 0;
    sw_err rc = SW_OK;

    for (i = 0; i < count && n < MAIL_MAX_ADDRS; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        InternetAddressList *members = NULL;
        int m = 1;

        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            members =
                internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
            m = members ? internet_address_list_length(members) : 0;
        }
        for (j = 0; j < m && n < MAIL_MAX_ADDRS; j++) {
            InternetAddress *x =
                members ? internet_address_list_get_address(members, j) : ia;
            if (!INTERNET_ADDRESS_IS_MAILBOX(x))
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4;
                struct ingest_address *p = sw_realloc(v, nc * sizeof *p);
                if (p == NULL) {
                    rc = SW_ENOMEM;
                    goto out;
                }
                v = p;
                cap = nc;
            }
            memset(&v[n], 0, sizeof v[n]);
            rc = mail_addr_one(INTERNET_ADDRESS_MAILBOX(x), &v[n]);
            n++;
            if (rc)
                goto out;
        }
    }
out:
    if (rc) {
        size_t k;
        for (k = 0; k < n; k++) {
            sw_free(v[k].name);
            sw_free(v[k].email);
        }
        sw_free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return SW_OK;
}

/* mail_msgid copies a message id, or NULL when there is none. */
static sw_err mail_msgid(const char *id, char **out)
{
    *out = NULL;
    if (id == NULL || id[0] == '\0')
        return SW_OK;
    return mail_str(id, 998, out);
}

static sw_err mail_refs(struct mail_ctx *c, GMimeParserOptions *opts,
                        GMimeMessage *msg)
{
    struct ingest_mail *m = c->m;
    GMimeObject *obj = GMIME_OBJECT(msg);
    const char *v;
    GMimeReferences *refs = NULL;
    int i, n, first;
    sw_err rc = SW_OK;

    rc = mail_msgid(g_mime_message_get_message_id(msg), &m->message_id);
    if (rc)
        return rc;
    v = g_mime_object_get_header(obj, "In-Reply-To");
    if (v != NULL) {
        refs = g_mime_references_parse(opts, v);
        if (refs != NULL && g_mime_references_length(refs) > 0)
            rc = mail_msgid(g_mime_references_get_message_id(refs, 0),
                            &m->in_reply_to);
        if (refs != NULL)
            g_mime_references_free(refs);
        refs = NULL;
        if (rc)
            return rc;
    }
    v = g_mime_object_get_header(obj, "References");
    if (v == NULL)
        return SW_OK;
    refs = g_mime_references_parse(opts, v);
    if (refs == NULL)
        return SW_OK;
    n = g_mime_references_length(refs);
    /* Keep the nearest ancestors when the chain is absurdly long. */
    first = n > MAIL_MAX_REFS ? n - MAIL_MAX_REFS : 0;
    if (n > first) {
        m->references = sw_calloc((size_t)(n - first), sizeof(char *));
        if (m->references == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    for (i = first; i < n; i++) {
        char *id = NULL;
        rc = mail_msgid(g_mime_references_get_message_id(refs, i), &id);
        if (rc)
            goto out;
        if (id != NULL)
            m->references[m->n_references++] = id;
    }
out:
    g_mime_references_free(refs);
    return rc;
}

/* mail_part_bytes decodes a leaf part's content (transfer encoding
 * undone) into a copy the caller frees with sw_free. */
static sw_err mail_part_bytes(GMimePart *part, unsigned char **out, size_t *len)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *ms;
    GByteArray *ba;
    unsigned char *p;

    *out = NULL;
    *len = 0;
    if (w == NULL)
        return SW_OK;
    ms = g_mime_stream_mem_new();
    if (g_mime_data_wrapper_write_to_stream(w, ms) < 0) {
        g_object_unref(ms);
        return SW_OK;
    }
    ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
    p = sw_malloc(ba->len + 1);
    if (p == NULL) {
        g_object_unref(ms);
        return SW_ENOMEM;
    }
    if (ba->len > 0)
        memcpy(p, ba->data, ba->len);
    p[ba->len] = 0;
    *out = p;
    *len = ba->len;
    g_object_unref(ms);
    return SW_OK;
}

/* mail_add_body decodes a text part and appends it to buf. */
static sw_err mail_add_body(struct mail_ctx *c, GMimePart *part,
                            struct sw_buf *buf)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
    unsigned char *raw = NULL;
    char *text = NULL;
    size_t n = 0, tn = 0;
    int flags = 0;
    sw_err rc;

    rc = mail_part_bytes(part, &raw, &n);
    if (rc || n == 0)
        goto out;
    rc = ingest__utf8_convert(raw, n, cs, c->l->max_text_bytes, &text, &tn,
                              &flags);
    if (rc)
        goto out;
    if (flags & INGEST__UNKNOWN_CHARSET)
        rc = mail_defect(c, "unknown charset \"%.40s\"; text read as %s", cs,
                         "UTF-8 or windows-1252");
    else if (flags & INGEST__LOSSY)
        rc = mail_defect(c,
                         "text not valid in its charset \"%.40s\"; bad "
                         "bytes replaced",
                         cs ? cs : "(none)");
    if (rc)
        goto out;
    if (buf->len > 0 && tn > 0) {
        rc = sw_buf_add(buf, "\n\n", 2);
        if (rc == SW_ETOOBIG)
            rc = SW_OK;
        if (rc)
            goto out;
    }
    rc = sw_buf_add(buf, text, tn);
    if (rc == SW_ETOOBIG) {
        size_t room = buf->max - buf->len;
        rc = sw_buf_add(buf, text, ingest__utf8_valid_len(text, room));
        if (rc == SW_OK)
            rc = mail_defect(c, "body text cut at %zu bytes",
                             c->l->max_text_bytes);
    }
out:
    sw_free(raw);
    sw_free(text);
    return rc;
}

static void mail_att_clear(struct ingest_attachment *a)
{
    sw_free(a->filename);
    sw_free(a->content_type);
    sw_free(a->data);
    sw_free(a->text);
    sw_free(a->detail);
    memset(a, 0, sizeof *a);
}

/* mail_add_att records a leaf part as an attachment and extracts it. */
static sw_err mail_add_att(struct mail_ctx *c, GMimePart *part)
{
    struct ingest_mail *m = c->m;
    GMimeObject *obj = GMIME_OBJECT(part);
    struct ingest_attachment *a;
    char *mime = NULL;
    sw_err rc;

    if (m->n_atts >= (size_t)c->l->max_attachments) {
        if (!c->atts_dropped++)
            return mail_defect(c,
                               "more than %d attachments; the rest were "
                               "skipped",
                               c->l->max_attachments);
        return SW_OK;
    }
    if (m->n_atts == c->cap_atts) {
        size_t cap = c->cap_atts ? c->cap_atts * 2 : 4;
        struct ingest_attachment *p = sw_realloc(m->atts, cap * sizeof *p);
        if (p == NULL)
            return SW_ENOMEM;
        m->atts = p;
        c->cap_atts = cap;
    }
    a = &m->atts[m->n_atts];
    memset(a, 0, sizeof *a);
    rc = mail_str(g_mime_part_get_filename(part), 1024, &a->filename);
    if (rc)
        goto out;
    mime =
        g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj));
    rc = mail_str(mime, 255, &a->content_type);
    if (rc)
        goto out;
    sw_str_lower(a->content_type);
    rc = mail_part_bytes(part, &a->data, &a->len);
    if (rc)
        goto out;
    sw_sha256(a->data ? (const void *)a->data : "", a->len, a->sha256);
    if (a->len > c->l->max_attachment_bytes) {
        /* Keep the hash of the whole bytes for dedupe, not the bytes. */
        size_t len = a->len;
        sw_free(a->data);
        a->data = NULL;
        a->len = 0;
        a->kind = INGEST_KIND_OTHER;
        rc = ingest__att_state(a, INGEST_TEXT_TOO_LARGE,
                               "attachment is %zu bytes, over the %zu-byte "
                               "limit",
                               len, c->l->max_attachment_bytes);
    } else {
        rc = ingest_attachment_extract(a, c->l);
    }
out:
    g_free(mime);
    if (rc) {
        mail_att_clear(a);
        return rc;
    }
    m->n_atts++;
    return SW_OK;
}

static int mail_is_attachment(GMimeObject *obj, GMimePart *part)
{
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);

    if (d != NULL && g_mime_content_disposition_is_attachment(d))
        return 1;
    return g_mime_part_get_filename(part) != NULL;
}

static int mail_is_text(GMimeObject *obj, const char *sub)
{
    return g_mime_content_type_is_type(g_mime_object_get_content_type(obj),
                                       "text", sub);
}

static sw_err mail_walk(struct mail_ctx *c, GMimeObject *obj, int depth,
                        int nested);

/* mail_alternative walks the best alternative: text/plain when it has any
 * text, else the last (richest) alternative. */
static sw_err mail_alternative(struct mail_ctx *c, GMimeMultipart *mp,
                               int depth, int nested)
{
    int i, n = g_mime_multipart_get_count(mp);
    GMimeObject *plain = NULL, *rich = NULL;
    struct sw_buf *buf = nested ? &c->nplain : &c->plain;
    size_t before = buf->len;
    sw_err rc;

    for (i = 0; i < n; i++) {
        GMimeObject *ch = g_mime_multipart_get_part(mp, i);
        if (plain == NULL && GMIME_IS_PART(ch) && mail_is_text(ch, "plain") &&
            !mail_is_attachment(ch, GMIME_PART(ch)))
            plain = ch;
        else if (GMIME_IS_MULTIPART(ch) || mail_is_text(ch, "html"))
            rich = ch;
    }
    if (plain != NULL) {
        rc = mail_add_body(c, GMIME_PART(plain), buf);
        if (rc)
            return rc;
        for (i = (int)before; (size_t)i < buf->len; i++)
            if (!g_ascii_isspace(buf->data[i]))
                return SW_OK;
    }
    if (rich != NULL)
        return mail_walk(c, rich, depth + 1, nested);
    if (plain == NULL && n > 0)
        return mail_walk(c, g_mime_multipart_get_part(mp, 0), depth + 1,
                         nested);
    return SW_OK;
}

static sw_err mail_walk(struct mail_ctx *c, GMimeObject *obj, int depth,
                        int nested)
{
    sw_err rc = SW_OK;
    int i, n;

    if (obj == NULL)
        return SW_OK;
    if (depth > MAIL_MAX_WALK_DEPTH)
        return mail_defect(c, "MIME tree deeper than %d; inner parts skipped",
                           MAIL_MAX_WALK_DEPTH);
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner =
            g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner == NULL)
            return mail_defect(c, "empty message/rfc822 part");
        if (nested + 1 > c->l->max_depth)
            return mail_defect(c,
                               "forwarded messages nested deeper than %d; "
                               "inner ones skipped",
                               c->l->max_depth);
        return mail_walk(c, g_mime_message_get_mime_part(inner), depth + 1,
                         nested + 1);
    }
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        n = g_mime_multipart_get_count(mp);
        if (g_mime_content_type_is_type(ct, "multipart", "alternative"))
            return mail_alternative(c, mp, depth, nested);
        if (g_mime_content_type_is_type(ct, "multipart", "encrypted"))
            return mail_defect(c, "encrypted (PGP/MIME) content not read");
        for (i = 0; i < n && rc == SW_OK; i++)
            rc = mail_walk(c, g_mime_multipart_get_part(mp, i), depth + 1,
                           nested);
        return rc;
    }
    if (GMIME_IS_PART(obj)) {
        GMimePart *part = GMIME_PART(obj);
        if (!mail_is_attachment(obj, part)) {
            if (mail_is_text(obj, "plain"))
                return mail_add_body(c, part, nested ? &c->nplain : &c->plain);
            if (mail_is_text(obj, "html"))
                return mail_add_body(c, part, nested ? &c->nhtml : &c->html);
        }
        return mail_add_att(c, part);
    }
    return SW_OK;
}

static int mail_blank(const struct sw_buf *b)
{
    size_t i;

    for (i = 0; i < b->len; i++)
        if (!g_ascii_isspace(b->data[i]))
            return 0;
    return 1;
}

/* mail_body picks the body: own text, own HTML, then enclosed messages'. */
static sw_err mail_body(struct mail_ctx *c)
{
    struct ingest_mail *m = c->m;
    struct sw_buf *pick = NULL;
    int html = 0, cut = 0;
    sw_err rc;

    if (!mail_blank(&c->plain))
        pick = &c->plain;
    else if (!mail_blank(&c->html))
        pick = &c->html, html = 1;
    else if (!mail_blank(&c->nplain))
        pick = &c->nplain;
    else if (!mail_blank(&c->nhtml))
        pick = &c->nhtml, html = 1;
    if (pick == NULL)
        return mail_str("", 1, &m->body_text);
    if (!html)
        return sw_buf_take(pick, &m->body_text, NULL);
    m->body_from_html = 1;
    rc = ingest_html_to_text(sw_buf_str(pick), pick->len, "UTF-8",
                             c->l->max_text_bytes, &m->body_text, NULL, &cut);
    if (rc == SW_OK && cut)
        rc = mail_defect(c, "body text cut at %zu bytes", c->l->max_text_bytes);
    return rc;
}

static void mail_why(struct sw_buf *why, const char *msg)
{
    sw_err rc;

    if (why == NULL)
        return;
    rc = sw_buf_addstr(why, msg);
    (void)rc; /* the reason is best effort; the error code is the result */
}

/* mail_has_fields: the message or its top MIME part has at least one
 * header field (GMime moves Content-* fields to the part). */
static int mail_has_fields(GMimeMessage *msg)
{
    GMimeObject *part = g_mime_message_get_mime_part(msg);

    if (g_mime_header_list_get_count(
            g_mime_object_get_header_list(GMIME_OBJECT(msg))) > 0)
        return 1;
    return part != NULL && g_mime_header_list_get_count(
                               g_mime_object_get_header_list(part)) > 0;
}

sw_err ingest_mail_parse(const void *raw, size_t n,
                         const struct ingest_limits *l,
                         struct ingest_mail **out, struct sw_buf *why)
{
    static const char *fallback[] = {"utf-8", "windows-1252", NULL};
    GMimeStream *stream = NULL;
    GMimeParser *parser = NULL;
    GMimeParserOptions *opts = NULL;
    GMimeMessage *msg = NULL;
    GDateTime *date;
    struct mail_ctx c;
    const char *p = raw;
    sw_err rc = SW_OK;

    memset(&c, 0, sizeof c);
    c.l = l;
    sw_buf_init(&c.plain, l->max_text_bytes);
    sw_buf_init(&c.html, l->max_message_bytes);
    sw_buf_init(&c.nplain, l->max_text_bytes);
    sw_buf_init(&c.nhtml, l->max_message_bytes);
    if (n > l->max_message_bytes) {
        mail_why(why, "message is larger than the size limit");
        rc = SW_ETOOBIG;
        goto out;
    }
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3; /* a UTF-8 byte order mark */
        n -= 3;
    }
    while (n > 0 && (*p == '\r' || *p == '\n' || *p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    if (n == 0) {
        mail_why(why, "empty message");
        rc = SW_EPARSE;
        goto out;
    }
    c.m = sw_calloc(1, sizeof *c.m);
    if (c.m == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    ingest_mail_global_init();
    if (n > 5 && memcmp(p, "From ", 5) == 0) {
        /* An mbox "From " separator line: skip it. */
        const char *nl = memchr(p, '\n', n);
        size_t skip = nl ? (size_t)(nl - p) + 1 : n;
        p += skip;
        n -= skip;
        rc = mail_defect(&c, "leading mbox \"From \" line skipped");
        if (rc)
            goto out;
    }
    if (n > 1 && *p >= '0' && *p <= '9') {
        /* Apple Mail's .emlx: a line with the message's byte count. */
        size_t k = 0;
        while (k < n && k < 12 && p[k] >= '0' && p[k] <= '9')
            k++;
        if (k < n && (p[k] == '\n' || p[k] == '\r')) {
            while (k < n && (p[k] == '\n' || p[k] == '\r'))
                k++;
            p += k;
            n -= k;
            rc = mail_defect(&c, "leading byte-count line (emlx) skipped");
            if (rc)
                goto out;
        }
    }
    opts = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(opts, fallback);
    g_mime_parser_options_set_warning_callback(opts, mail_on_warning, &c);
    stream = g_mime_stream_mem_new_with_buffer(p, n);
    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    msg = g_mime_parser_construct_message(parser, opts);
    if (c.err) {
        rc = c.err;
        goto out;
    }
    if (msg == NULL) {
        mail_why(why, "no RFC 5322 header block");
        rc = SW_EPARSE;
        goto out;
    }
    if (!mail_has_fields(msg)) {
        mail_why(why, "no RFC 5322 header fields");
        rc = SW_EPARSE;
        goto out;
    }
    rc = mail_refs(&c, opts, msg);
    if (rc)
        goto out;
    rc = mail_str(g_mime_message_get_subject(msg), 4096, &c.m->subject);
    if (rc)
        goto out;
    {
        struct ingest_address *from = NULL;
        size_t nfrom = 0, k;
        rc = mail_addrs(g_mime_message_get_from(msg), &from, &nfrom);
        if (rc)
            goto out;
        if (nfrom > 0) {
            c.m->from = from[0];
            for (k = 1; k < nfrom; k++) {
                sw_free(from[k].name);
                sw_free(from[k].email);
            }
        } else {
            rc = mail_str("", 1, &c.m->from.name);
            if (rc == SW_OK)
                rc = mail_str("", 1, &c.m->from.email);
        }
        sw_free(from);
        if (rc)
            goto out;
    }
    rc = mail_addrs(g_mime_message_get_to(msg), &c.m->to, &c.m->n_to);
    if (rc == SW_OK)
        rc = mail_addrs(g_mime_message_get_cc(msg), &c.m->cc, &c.m->n_cc);
    if (rc)
        goto out;
    date = g_mime_message_get_date(msg);
    if (date != NULL)
        c.m->date_ms = g_date_time_to_unix(date) * 1000;
    else if (g_mime_object_get_header(GMIME_OBJECT(msg), "Date") != NULL)
        rc = mail_defect(&c, "Date header cannot be parsed");
    if (rc)
        goto out;
    rc = mail_walk(&c, g_mime_message_get_mime_part(msg), 0, 0);
    if (rc == SW_OK)
        rc = c.err;
    if (rc == SW_OK)
        rc = mail_body(&c);
    if (rc == SW_OK)
        rc = ingest_reply_strip(c.m->body_text, strlen(c.m->body_text),
                                &c.m->new_text);
out:
    if (msg != NULL)
        g_object_unref(msg);
    if (parser != NULL)
        g_object_unref(parser);
    if (stream != NULL)
        g_object_unref(stream);
    if (opts != NULL)
        g_mime_parser_options_free(opts);
    sw_buf_free(&c.plain);
    sw_buf_free(&c.html);
    sw_buf_free(&c.nplain);
    sw_buf_free(&c.nhtml);
    if (rc) {
        ingest_mail_free(&c.m);
        return rc;
    }
    *out = c.m;
    return SW_OK;
}

void ingest_mail_free(struct ingest_mail **mp)
{
    struct ingest_mail *m;
    size_t i;

    if (mp == NULL || *mp == NULL)
        return;
    m = *mp;
    sw_free(m->message_id);
    sw_free(m->in_reply_to);
    for (i = 0; i < m->n_references; i++)
        sw_free(m->references[i]);
    sw_free(m->references);
    sw_free(m->subject);
    sw_free(m->from.name);
    sw_free(m->from.email);
    for (i = 0; i < m->n_to; i++) {
        sw_free(m->to[i].name);
        sw_free(m->to[i].email);
    }
    sw_free(m->to);
    for (i = 0; i < m->n_cc; i++) {
        sw_free(m->cc[i].name);
        sw_free(m->cc[i].email);
    }
    sw_free(m->cc);
    sw_free(m->body_text);
    sw_free(m->new_text);
    for (i = 0; i < m->n_atts; i++)
        mail_att_clear(&m->atts[i]);
    sw_free(m->atts);
    for (i = 0; i < m->n_defects; i++)
        sw_free(m->defects[i]);
    sw_free(m->defects);
    sw_free(m);
    *mp = NULL;
}
