/* nm_content_test: ReadContent's stream → chunk frames (clients/nm/
 * nm_content.h) without snipd: chunking independent of snipd's message
 * sizes, base64 against RFC 4648's vectors, the size and SHA-256 checks,
 * and each way a stream can break its contract. */
#include "tests/testutil.h"

#include <jansson.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "clients/nm/nm_content.h"
#include "clients/nm/nm_frame.h"

#define NM_TEST_FRAMES 64

/* The frames a reader sent, as parsed JSON. */
struct nm_test_sink {
    json_t *frames[NM_TEST_FRAMES];
    size_t n, max_len;
    int fail; /* 1: the next send fails as if the reader went away */
};

static sw_err nm_test_send(const char *p, size_t n, void *arg)
{
    struct nm_test_sink *s = arg;
    json_error_t e;

    if (s->fail)
        return SW_EIO;
    assert_true(n <= NM_FRAME_OUT_MAX);
    assert_true(s->n < NM_TEST_FRAMES);
    s->frames[s->n] = json_loadb(p, n, 0, &e);
    if (s->frames[s->n] == NULL)
        fail_msg("frame %zu is not JSON: %s", s->n, e.text);
    s->n++;
    if (n > s->max_len)
        s->max_len = n;
    return SW_OK;
}

static void nm_test_sink_free(struct nm_test_sink *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        json_decref(s->frames[i]);
}

/* nm_test_header fills a first message announcing n bytes at p. */
static void nm_test_header(Snipwise__V1__ReadContentResponse *m,
                           Snipwise__V1__ContentFile *f, char *hex,
                           const void *p, size_t n)
{
    unsigned char sha[SW_SHA256_LEN];

    sw_sha256(p, n, sha);
    sw_hex(sha, SW_SHA256_LEN, hex);
    snipwise__v1__read_content_response__init(m);
    snipwise__v1__content_file__init(f);
    f->content_id = "ct_1";
    f->filename = "deck.pdf";
    f->media_type = "application/pdf";
    f->size_bytes = (int64_t)n;
    f->sha256 = hex;
    m->file = f;
}

/* nm_test_data fills a later message carrying n bytes at p. */
static void nm_test_data(Snipwise__V1__ReadContentResponse *m, const void *p,
                         size_t n)
{
    snipwise__v1__read_content_response__init(m);
    m->data.data = (uint8_t *)p;
    m->data.len = n;
}

/* nm_test_feed sends the header, then the bytes in messages of step. */
static sw_err nm_test_feed(nm_content *r, const unsigned char *p, size_t n,
                           size_t step, struct sw_buf *why)
{
    Snipwise__V1__ReadContentResponse m;
    Snipwise__V1__ContentFile f;
    char hex[65];
    size_t at;
    sw_err rc;

    nm_test_header(&m, &f, hex, p, n);
    rc = nm_content_take(r, &m, why);
    for (at = 0; rc == SW_OK && at < n; at += step) {
        nm_test_data(&m, p + at, n - at < step ? n - at : step);
        rc = nm_content_take(r, &m, why);
    }
    return rc;
}

static const char nm_test_abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* nm_test_unb64 decodes padded base64 s, appending to out; the bytes. */
static size_t nm_test_unb64(const char *s, unsigned char *out)
{
    size_t n = strlen(s), i, o = 0;

    assert_int_equal(n % 4, 0);
    for (i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int j, pad = 0;
        for (j = 0; j < 4; j++) {
            const char *c = strchr(nm_test_abc, s[i + j]);
            if (s[i + j] == '=') {
                pad++;
                continue;
            }
            assert_non_null(c);
            assert_int_equal(pad, 0);
            v |= (uint32_t)(c - nm_test_abc) << (18 - 6 * j);
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    return o;
}

/* A file of 700,000 bytes in snipd messages of 100,000: two frames of
 * 512 KiB and the rest, in order, decoding to the file. */
static void test_chunks_do_not_follow_snipd_messages(void **state)
{
    size_t n = 700000, i, got = 0;
    unsigned char *file = sw_malloc(n), *back = sw_malloc(n + 3);
    struct nm_test_sink s;
    struct sw_buf why;
    json_t *id = json_string("r1"), *res = NULL;
    nm_content *r = NULL;

    (void)state;
    memset(&s, 0, sizeof(s));
    sw_buf_init(&why, 4096);
    for (i = 0; i < n; i++)
        file[i] = (unsigned char)(i * 131 + 7);
    ASSERT_OK(nm_content_new(id, "read_content", nm_test_send, &s, &r));
    ASSERT_OK(nm_test_feed(r, file, n, 100000, &why));
    ASSERT_EQ(s.n, 1); /* the first full chunk went as soon as it filled */
    ASSERT_OK(nm_content_finish(r, &res, &why));
    ASSERT_EQ(s.n, 2);
    for (i = 0; i < s.n; i++) {
        json_t *f = s.frames[i], *c = json_object_get(f, "chunk");
        assert_string_equal(json_string_value(json_object_get(f, "id")), "r1");
        assert_string_equal(json_string_value(json_object_get(f, "type")),
                            "read_content");
        assert_true(json_is_true(json_object_get(f, "ok")));
        assert_true(json_is_true(json_object_get(f, "more")));
        ASSERT_EQ(json_integer_value(json_object_get(c, "seq")), i);
        ASSERT_EQ(json_integer_value(json_object_get(c, "offset")), got);
        got += nm_test_unb64(json_string_value(json_object_get(c, "data")),
                             back + got);
        if (i == 0)
            ASSERT_EQ(got, NM_CONTENT_CHUNK);
    }
    ASSERT_EQ(got, n);
    assert_memory_equal(back, file, n);
    assert_true(s.max_len < NM_FRAME_OUT_MAX);
    ASSERT_EQ(json_integer_value(json_object_get(res, "chunks")), 2);
    ASSERT_EQ(json_integer_value(json_object_get(res, "size_bytes")), n);
    assert_string_equal(json_string_value(json_object_get(res, "filename")),
                        "deck.pdf");
    assert_int_equal(strlen(json_string_value(json_object_get(res, "sha256"))),
                     64);
    json_decref(res);
    nm_content_free(&r);
    assert_null(r);
    nm_test_sink_free(&s);
    json_decref(id);
    sw_buf_free(&why);
    sw_free(file);
    sw_free(back);
}

/* RFC 4648 section 10, and the empty file (no chunk frame at all). */
static void test_base64_vectors(void **state)
{
    static const char *const in[] = {"",     "f",     "fo",    "foo",
                                     "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct nm_test_sink s;
        struct sw_buf why;
        json_t *res = NULL;
        nm_content *r = NULL;

        memset(&s, 0, sizeof(s));
        sw_buf_init(&why, 4096);
        ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
        ASSERT_OK(nm_test_feed(r, (const unsigned char *)in[i], strlen(in[i]),
                               1, &why));
        ASSERT_OK(nm_content_finish(r, &res, &why));
        ASSERT_EQ(s.n, in[i][0] ? 1 : 0);
        if (s.n) {
            assert_true(json_is_null(json_object_get(s.frames[0], "id")));
            assert_string_equal(
                json_string_value(json_object_get(
                    json_object_get(s.frames[0], "chunk"), "data")),
                out[i]);
        }
        ASSERT_EQ(json_integer_value(json_object_get(res, "chunks")), s.n);
        json_decref(res);
        nm_content_free(&r);
        nm_test_sink_free(&s);
        sw_buf_free(&why);
    }
}

/* nm_test_expect checks an error and that why explains it with text. */
static void nm_test_expect(sw_err got, sw_err want, struct sw_buf *why,
                           const char *text)
{
    ASSERT_ERR(got, want);
    if (strstr(sw_buf_str(why), text) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", sw_buf_str(why), text);
}

static void test_broken_streams_are_refused(void **state)
{
    static const char file[] = "the file's bytes";
    Snipwise__V1__ReadContentResponse m;
    Snipwise__V1__ContentFile f;
    struct nm_test_sink s;
    struct sw_buf why;
    json_t *res = NULL;
    nm_content *r = NULL;
    char hex[65];

    (void)state;
    memset(&s, 0, sizeof(s));
    sw_buf_init(&why, 4096);
    /* Bytes before the description. */
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_data(&m, file, 4);
    nm_test_expect(nm_content_take(r, &m, &why), SW_EPARSE, &why,
                   "did not start with the file's description");
    nm_content_free(&r);
    /* A second description, and more bytes than announced. */
    sw_buf_reset(&why);
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_header(&m, &f, hex, file, 4);
    ASSERT_OK(nm_content_take(r, &m, &why));
    nm_test_expect(nm_content_take(r, &m, &why), SW_EPARSE, &why,
                   "a second time");
    sw_buf_reset(&why);
    nm_test_data(&m, file, 5);
    nm_test_expect(nm_content_take(r, &m, &why), SW_EPARSE, &why,
                   "more bytes than it announced");
    nm_content_free(&r);
    /* Fewer bytes than announced; bytes that do not match the hash. */
    sw_buf_reset(&why);
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_header(&m, &f, hex, file, 8);
    ASSERT_OK(nm_content_take(r, &m, &why));
    nm_test_data(&m, file, 4);
    ASSERT_OK(nm_content_take(r, &m, &why));
    nm_test_expect(nm_content_finish(r, &res, &why), SW_ECORRUPT, &why,
                   "before all the announced bytes");
    nm_content_free(&r);
    sw_buf_reset(&why);
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_header(&m, &f, hex, file, 4);
    ASSERT_OK(nm_content_take(r, &m, &why));
    nm_test_data(&m, "THE ", 4); /* same size, other bytes */
    ASSERT_OK(nm_content_take(r, &m, &why));
    nm_test_expect(nm_content_finish(r, &res, &why), SW_ECORRUPT, &why,
                   "do not match the file's SHA-256");
    nm_content_free(&r);
    /* A description without a valid SHA-256, and none at all. */
    sw_buf_reset(&why);
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_header(&m, &f, hex, file, 4);
    hex[0] = 'A';
    nm_test_expect(nm_content_take(r, &m, &why), SW_EPARSE, &why,
                   "valid size and SHA-256");
    nm_content_free(&r);
    sw_buf_reset(&why);
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_expect(nm_content_finish(r, &res, &why), SW_EPARSE, &why,
                   "without describing the file");
    nm_content_free(&r);
    assert_null(res);
    nm_test_sink_free(&s);
    sw_buf_free(&why);
}

/* Over 16 MiB is refused from the description alone; a reader that went
 * away is SW_EIO; an id too long to repeat in frames is SW_ETOOBIG. */
static void test_limits_and_a_lost_reader(void **state)
{
    Snipwise__V1__ReadContentResponse m;
    Snipwise__V1__ContentFile f;
    struct nm_test_sink s;
    struct sw_buf why;
    nm_content *r = NULL;
    unsigned char *big = sw_calloc(1, NM_CONTENT_CHUNK);
    char hex[65], *longid = sw_malloc(70000);
    json_t *id;

    (void)state;
    memset(&s, 0, sizeof(s));
    sw_buf_init(&why, 4096);
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    nm_test_header(&m, &f, hex, "x", 1);
    f.size_bytes = NM_CONTENT_MAX + 1;
    nm_test_expect(nm_content_take(r, &m, &why), SW_ETOOBIG, &why, "16 MiB");
    nm_content_free(&r);
    s.fail = 1;
    ASSERT_OK(nm_content_new(NULL, "read_content", nm_test_send, &s, &r));
    ASSERT_ERR(nm_test_feed(r, big, NM_CONTENT_CHUNK, NM_CONTENT_CHUNK, &why),
               SW_EIO);
    nm_content_free(&r);
    s.fail = 0;
    sw_buf_reset(&why);
    memset(longid, 'i', 69999);
    longid[69999] = '\0';
    id = json_string(longid);
    ASSERT_OK(nm_content_new(id, "read_content", nm_test_send, &s, &r));
    nm_test_expect(
        nm_test_feed(r, big, NM_CONTENT_CHUNK, NM_CONTENT_CHUNK, &why),
        SW_ETOOBIG, &why, "id is too long");
    nm_content_free(&r);
    ASSERT_EQ(s.n, 0);
    json_decref(id);
    sw_free(longid);
    sw_free(big);
    sw_buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_do_not_follow_snipd_messages),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_broken_streams_are_refused),
        cmocka_unit_test(test_limits_and_a_lost_reader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
