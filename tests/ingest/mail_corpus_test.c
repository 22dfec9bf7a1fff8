/* Every single message in the corpus's emails/ either parses or is refused
 * with SW_EPARSE/SW_ETOOBIG and a reason; nothing leaks through sw_malloc.
 * Also spot checks of what parsing must find (charsets, nesting,
 * attachments, defects). */
#include "tests/testutil.h"

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/mail.h"
#include "tests/ingest/corpus_util.h"

static char root[4096];

static int is_single_message(const char *p)
{
    return corpus_ends_with(p, ".eml") || corpus_ends_with(p, ".msg") ||
           corpus_ends_with(p, ".emlx") ||
           (corpus_ends_with(p, ".txt") && strstr(p, "LICENSE") == NULL);
}

static void test_all_emails(void **state)
{
    struct ingest_limits l;
    struct corpus_list list;
    char dir[4200];
    size_t i, ok = 0, rejected = 0, defects = 0, atts = 0, html = 0;

    (void)state;
    ingest_limits_default(&l);
    snprintf(dir, sizeof dir, "%s/emails", root);
    corpus_list_dir(dir, &list);
    for (i = 0; i < list.n; i++) {
        struct ingest_mail *m = NULL;
        struct sw_buf why;
        size_t n = 0;
        char *raw;
        int64_t live = sw_mem_live();
        sw_err rc;

        if (!is_single_message(list.paths[i]))
            continue;
        raw = corpus_read(list.paths[i], &n);
        assert_non_null(raw);
        sw_buf_init(&why, 1024);
        rc = ingest_mail_parse(raw, n, &l, &m, &why);
        if (rc == SW_OK) {
            ok++;
            defects += m->n_defects > 0;
            atts += m->n_atts;
            html += m->body_from_html;
            assert_non_null(m->body_text);
            assert_non_null(m->new_text);
            assert_non_null(m->subject);
            ingest_mail_free(&m);
        } else {
            if (rc != SW_EPARSE && rc != SW_ETOOBIG)
                fail_msg("%s: %s", list.paths[i], sw_err_name(rc));
            if (sw_buf_len(&why) == 0)
                fail_msg("%s: refused without a reason", list.paths[i]);
            printf("rejected %s: %s\n", list.paths[i] + strlen(root) + 1,
                   sw_buf_str(&why));
            rejected++;
        }
        sw_buf_free(&why);
        free(raw);
        ASSERT_EQ(sw_mem_live(), live);
    }
    printf("emails: %zu parsed (%zu with defects, %zu from HTML, %zu "
           "attachments), %zu rejected\n",
           ok, defects, html, atts, rejected);
    assert_true(ok >= 350);
    corpus_list_free(&list);
}

static struct ingest_mail *parse(const char *rel)
{
    struct ingest_limits l;
    struct ingest_mail *m = NULL;
    char path[4200];
    size_t n = 0;
    char *raw;

    ingest_limits_default(&l);
    snprintf(path, sizeof path, "%s/emails/%s", root, rel);
    raw = corpus_read(path, &n);
    assert_non_null(raw);
    ASSERT_OK(ingest_mail_parse(raw, n, &l, &m, NULL));
    free(raw);
    return m;
}

static void test_spot_checks(void **state)
{
    struct ingest_mail *m;
    size_t i;
    int found = 0;

    (void)state;
    /* RFC 2047 subjects in ISO-2022-JP and GB2312 decoded to UTF-8. */
    m = parse("mimekit_messages/japanese.txt");
    assert_string_equal(m->subject, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"
                                    "\xE3\x83\xA1\xE3\x83\xBC\xE3\x83\xAB"
                                    "\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"
                                    " (testing Japanese emails)");
    ingest_mail_free(&m);
    m = parse("spamscope_realworld/mail_test_12.eml");
    assert_non_null(strstr(m->subject, "\xE5\x8F\x91\xE7\xA5\xA8"));
    ingest_mail_free(&m);
    /* A PDF attachment yields text. */
    m = parse("flanker/attached-pdf.eml");
    for (i = 0; i < m->n_atts; i++)
        if (m->atts[i].kind == INGEST_KIND_PDF &&
            m->atts[i].state == INGEST_TEXT_EXTRACTED &&
            m->atts[i].text_len > 0)
            found = 1;
    assert_true(found);
    ingest_mail_free(&m);
    /* A body only in HTML is converted to text. */
    m = parse("spamscope_realworld/mail_test_13.eml");
    assert_true(strlen(m->body_text) > 100);
    assert_null(strstr(m->body_text, "<td"));
    ingest_mail_free(&m);
    /* So is one whose only part is text/html (GB2312, base64). */
    m = parse("spamscope_realworld/mail_test_9.eml");
    assert_int_equal(m->body_from_html, 1);
    assert_true(strlen(m->body_text) > 0);
    for (i = 0; m->body_text[i]; i++) {
        char nx = m->body_text[i] == '<' ? m->body_text[i + 1] : ' ';
        assert_false((nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z') ||
                     nx == '/' || nx == '!');
    }
    ingest_mail_free(&m);
    /* Broken boundaries are recovered with a defect recorded. */
    m = parse("flanker/missing-final-boundary.eml");
    assert_true(m->n_defects > 0);
    ingest_mail_free(&m);
    /* A reply: headers and the new text. */
    m = parse("replies_talon/gmail.eml");
    assert_string_equal(m->new_text, "Hello");
    assert_string_equal(m->from.email, "xxx@gmail.com");
    assert_true(m->date_ms > 1300000000000LL);
    ingest_mail_free(&m);
}

static void test_bad_input(void **state)
{
    struct ingest_limits l;
    struct ingest_mail *m = NULL;
    struct sw_buf why;
    static const char big[] = "Subject: x\r\n\r\nbody";

    (void)state;
    ingest_limits_default(&l);
    sw_buf_init(&why, 256);
    ASSERT_ERR(ingest_mail_parse("", 0, &l, &m, &why), SW_EPARSE);
    sw_buf_reset(&why);
    ASSERT_ERR(ingest_mail_parse("just text, no headers\n", 22, &l, &m, &why),
               SW_EPARSE);
    assert_true(sw_buf_len(&why) > 0);
    l.max_message_bytes = 8;
    ASSERT_ERR(ingest_mail_parse(big, sizeof big - 1, &l, &m, &why),
               SW_ETOOBIG);
    assert_null(m);
    sw_buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_emails),
        cmocka_unit_test(test_spot_checks),
        cmocka_unit_test(test_bad_input),
    };

    if (corpus_root(root, sizeof root) != 0) {
        fprintf(stderr, "corpus not found in runfiles\n");
        return 1;
    }
    ingest_mail_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
