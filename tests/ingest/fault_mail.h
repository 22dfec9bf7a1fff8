/* fault_mail: the multipart mail the fault-injection tests ingest (a text
 * part and one text attachment), built from the parts each test varies.
 * Shared by tests/ingest:pipeline_fault_test and tests/llm:worker_fault_test.
 * Test-only. */
#ifndef TESTS_INGEST_FAULT_MAIL_H
#define TESTS_INGEST_FAULT_MAIL_H

/* The parts of a mail. Every string is borrowed and NUL-terminated. */
struct fault_mail {
    const char *headers;   /* from Message-ID to Subject, each line ending in
                              CRLF; Date, MIME-Version and Content-Type
                              follow them */
    const char *text;      /* the text/plain part's body, without its last
                              CRLF */
    const char *file_name; /* the text/plain attachment's file name */
    const char *file_text; /* its body, without its last CRLF */
};

/* fault_mail_new returns the mail of m: its headers, a fixed Date, then a
 * multipart/mixed body (boundary "b") of a UTF-8 text part and the
 * attachment. The caller frees it with sw_free. Fails the test when memory
 * runs out. */
char *fault_mail_new(const struct fault_mail *m);

/* fault_mail_fmt returns the printf-formatted string (for a part that
 * carries the round's number). The caller frees it with sw_free. Fails the
 * test when memory runs out. */
char *fault_mail_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
