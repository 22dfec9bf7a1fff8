/* ingest/mail: turns untrusted mail bytes into a parsed, UTF-8, size-capped
 * struct: headers, the body as text, the new text of a reply (quoted history
 * and signature removed), attachments with their extracted text, and the
 * defects met on the way. Parsing uses GMime; documents go through doctext.
 * This header is the contract between the parsing code and the ingest
 * pipeline (thread linking, dedupe, storage), which only reads the struct.
 * Thread-safe: calls share no state (GMime is initialised once per process
 * through ingest_mail_global_init). */
#ifndef INGEST_MAIL_H
#define INGEST_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "base/sw_util.h"

/* Limits against hostile input. ingest_limits_default fills safe defaults
 * (shown in brackets). */
struct ingest_limits {
    size_t max_message_bytes;      /* whole raw message [32 MiB] */
    size_t max_attachment_bytes;   /* one decoded attachment [16 MiB] */
    size_t max_uncompressed_bytes; /* total inflated bytes of one archive
                                      (DOCX/PPTX/XLSX) [64 MiB] */
    double max_ratio;              /* inflated/compressed per archive [100] */
    int max_pages;                 /* PDF pages read [200] */
    size_t max_text_bytes; /* extracted text kept per document [2 MiB] */
    int max_attachments;   /* per message [64] */
    int max_depth;         /* nested message/rfc822 depth [8] */
};

void ingest_limits_default(struct ingest_limits *l);

/* Bounds every parser applies whatever the limits: To and Cc addresses
 * together (raw MIME keeps the first ones; a parsed request over it is
 * refused), References kept (the newest), attachments of a parsed request
 * (as max_attachments for MIME). */
#define INGEST_MAX_ADDRS 1000
#define INGEST_MAX_REFS 200

/* Content kinds; numerically equal to snipwise.v1.ContentKind. */
enum ingest_kind {
    INGEST_KIND_PDF = 1,
    INGEST_KIND_DOCUMENT = 2,
    INGEST_KIND_PRESENTATION = 3,
    INGEST_KIND_SPREADSHEET = 4,
    INGEST_KIND_HTML = 5,
    INGEST_KIND_TEXT = 6,
    INGEST_KIND_IMAGE = 7,
    INGEST_KIND_OTHER = 8,
};

/* Text extraction states; numerically equal to snipwise.v1.ExtractionState. */
enum ingest_text_state {
    INGEST_TEXT_EXTRACTED = 2,
    INGEST_TEXT_ENCRYPTED = 3,   /* recorded, never an error of the email */
    INGEST_TEXT_UNSUPPORTED = 4, /* e.g. images, legacy binary formats */
    INGEST_TEXT_TOO_LARGE = 5,   /* a limit was hit: zip bomb, size, pages */
    INGEST_TEXT_FAILED = 6,      /* the document is broken */
};

struct ingest_attachment {
    char *filename;      /* UTF-8 (RFC 2231/2047 decoded); "" when absent */
    char *content_type;  /* lowercased, e.g. "application/pdf" */
    unsigned char *data; /* the decoded bytes */
    size_t len;
    unsigned char sha256[SW_SHA256_LEN]; /* of data */
    enum ingest_kind kind;
    enum ingest_text_state state;
    char *text; /* UTF-8, NUL-terminated; NULL unless EXTRACTED */
    size_t text_len;
    int pages;    /* PDF/PPTX pages or slides, XLSX sheets; 0 if unknown */
    char *detail; /* why not extracted ("PDF is encrypted"); "" when fine */
};

struct ingest_address {
    char *name;  /* display name, UTF-8; "" when absent */
    char *email; /* addr-spec, lowercased; never NULL (may be "") */
};

struct ingest_mail {
    char *message_id;  /* without angle brackets; NULL when absent */
    char *in_reply_to; /* without angle brackets; NULL when absent */
    char **references; /* oldest first, without angle brackets */
    size_t n_references;
    char *subject; /* decoded UTF-8; "" when absent */
    struct ingest_address from;
    struct ingest_address *to;
    size_t n_to;
    struct ingest_address *cc;
    size_t n_cc;
    int64_t date_ms; /* Date header, ms since the epoch; 0 when absent */
    char *body_text; /* whole body as UTF-8 text: text/plain preferred,
                        else HTML converted to text; "" when none */
    int body_from_html;
    char *new_text; /* body_text without quoted history and signature */
    struct ingest_attachment *atts; /* in MIME order, nested ones included */
    size_t n_atts;
    char **defects; /* one short English sentence each, e.g. "multipart
                       boundary missing; GMime recovered 2 parts" */
    size_t n_defects;
};

/* ingest_mail_global_init initialises GMime once per process (idempotent,
 * thread-safe). Call before the first parse. */
void ingest_mail_global_init(void);

/* ingest_mail_parse parses n bytes of an RFC 5322/MIME message. Recoverable
 * damage is recorded in defects; attachments whose text cannot be extracted
 * keep their state and detail. *out is owned by the caller
 * (ingest_mail_free).
 * Errors: SW_ETOOBIG (over max_message_bytes), SW_EPARSE (not a mail at
 * all: no header block, or nothing GMime can use) with the reason in why,
 * SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_mail_parse(const void *raw, size_t n,
                                       const struct ingest_limits *l,
                                       struct ingest_mail **out,
                                       struct sw_buf *why);

/* ingest_mail_free frees a parsed mail and sets *m to NULL; NULL is fine. */
void ingest_mail_free(struct ingest_mail **m);

/* ingest_attachment_extract fills a->kind, state, text, pages and detail
 * from a->data/len, content_type and filename (used by ingest_mail_parse,
 * and by the pipeline for attachments of an already-parsed email). Never
 * fails for bad documents (they get a state); SW_ENOMEM only. */
SW_MUST_CHECK sw_err ingest_attachment_extract(struct ingest_attachment *a,
                                               const struct ingest_limits *l);

/* ingest_reply_strip returns the new text of a reply body: quoted history
 * ("On ... wrote:", "-----Original Message-----", From:/Sent: blocks in
 * several languages, ">" lines) and the signature removed, trailing blank
 * lines trimmed. *out is NUL-terminated, caller frees with sw_free.
 * Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest_reply_strip(const char *text, size_t n, char **out);

#endif
