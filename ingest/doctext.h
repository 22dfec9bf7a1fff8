/* ingest/doctext: text extraction from attached documents, the engine
 * behind ingest_attachment_extract (declared in ingest/mail.h). This header
 * is internal to ingest/: the format extractors share it (PDF, text and HTML
 * in doctext.c; DOCX/PPTX/XLSX in ooxml.c). */
#ifndef INGEST_DOCTEXT_H
#define INGEST_DOCTEXT_H

#include "base/sw_err.h"
#include "ingest/mail.h"

/* ingest__att_state records a state and a printf-formatted detail on a
 * (replacing any earlier detail; text is freed unless the state is
 * EXTRACTED). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest__att_state(struct ingest_attachment *a,
                                       enum ingest_text_state st,
                                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ingest__ooxml_extract reads a ZIP container. When it is a DOCX, PPTX or
 * XLSX package, sets *is_ooxml = 1 and fills kind, state, text, pages and
 * detail; otherwise sets *is_ooxml = 0 and leaves a alone (a broken ZIP
 * counts as OOXML when the filename or type says so). Size, count and
 * ratio limits are checked on the central directory before anything is
 * inflated. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err ingest__ooxml_extract(struct ingest_attachment *a,
                                           const struct ingest_limits *l,
                                           int *is_ooxml);

/* ingest__pdf_global_init makes Poppler set up its process-wide state once,
 * before threads race to do it (called by ingest_mail_global_init). */
void ingest__pdf_global_init(void);

#endif
