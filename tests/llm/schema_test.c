/* Tests of llm/schema, llm/schemas, llm/text and the builtin extractor:
 * the JSON Schema generated from the field tables, every validation code,
 * grounding after whitespace normalisation, document references, offsets,
 * and that builtin answers validate for all three schemas. */
#include "tests/testutil.h"

#include <jansson.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "llm/builtin.h"
#include "llm/call.h"
#include "llm/provider.h"
#include "llm/schema.h"
#include "llm/schemas.h"
#include "llm/text.h"

static const char email[] =
    "Hi Ana,\n\nGreat talking yesterday. I've attached the Airbus case study\n"
    "so you can see how their   team cut reporting time.\n\n"
    "Would Thursday work for a 20 minute call?\n\nBest,\nBob";

static const char doc_text[] =
    "Airbus is one of the largest aircraft makers in the world. "
    "With PostHog, the Airbus analytics team reduced reporting time by 40% "
    "and saved 300 engineering hours per quarter. The rollout took two "
    "weeks across five product teams. Dashboards are shared with every "
    "program manager.";

static struct llm_doc docs[] = {
    {"airbus_case_study.pdf", doc_text, sizeof(doc_text) - 1},
};

static void outbound_input(struct llm_input *in)
{
    in->text = email;
    in->len = sizeof(email) - 1;
    in->docs = docs;
    in->n_docs = 1;
}

/* validate returns the codes found, as "code@path;..." in b. */
static void validate(const struct llm_schema *s, const struct llm_input *in,
                     const char *json, struct sw_buf *b)
{
    struct llm_verrs e = {NULL, 0};
    size_t i;

    sw_buf_reset(b);
    ASSERT_OK(llm_schema_validate(s, in, json, strlen(json), &e, NULL));
    for (i = 0; i < e.n; i++)
        ASSERT_OK(sw_buf_printf(b, "%s@%s;", llm_vcode_str(e.v[i].code),
                                e.v[i].path));
    llm_verrs_clear(&e);
}

static void test_schema_json(void **state)
{
    struct sw_buf b;
    json_t *j, *fr, *props;
    json_error_t err;

    (void)state;
    sw_buf_init(&b, 1 << 20);
    ASSERT_OK(llm_schema_json(&llm_schema_outbound, &b));
    j = json_loads(sw_buf_str(&b), 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "object");
    assert_true(json_is_false(json_object_get(j, "additionalProperties")));
    fr = json_object_get(
        json_object_get(json_object_get(j, "properties"), "framings"), "items");
    props = json_object_get(fr, "properties");
    /* Optional fields are nullable and still listed as required (strict). */
    assert_int_equal(json_array_size(json_object_get(fr, "required")), 3);
    assert_true(json_is_array(
        json_object_get(json_object_get(props, "start"), "type")));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(props, "text"), "type")),
                        "string");
    json_decref(j);
    sw_buf_free(&b);
}

static void test_validate_codes(void **state)
{
    struct llm_input in;
    struct sw_buf b;

    (void)state;
    memset(&in, 0, sizeof(in));
    outbound_input(&in);
    sw_buf_init(&b, 1 << 16);

    validate(&llm_schema_reply, &in, "{\"label\":", &b);
    assert_string_equal(sw_buf_str(&b), "json@;");
    validate(&llm_schema_reply, &in, "[]", &b);
    assert_string_equal(sw_buf_str(&b), "type@;");
    validate(&llm_schema_reply, &in, "{\"label\":\"NEGATIVE\"}", &b);
    assert_string_equal(sw_buf_str(&b), "required@evidence;");
    validate(&llm_schema_reply, &in,
             "{\"label\":\"MEH\",\"evidence\":\"Hi Ana,\",\"x\":1}", &b);
    assert_string_equal(sw_buf_str(&b), "enum@label;unknown_field@x;");
    validate(&llm_schema_reply, &in,
             "{\"label\":\"POSITIVE\",\"evidence\":\"\"}", &b);
    assert_string_equal(sw_buf_str(&b), "min_length@evidence;");
    /* Grounding ignores whitespace differences, not wording. */
    validate(&llm_schema_reply, &in,
             "{\"label\":\"POSITIVE\",\"evidence\":\"I've attached the "
             "Airbus case study so you can see how their team cut reporting "
             "time.\"}",
             &b);
    assert_string_equal(sw_buf_str(&b), "");
    validate(&llm_schema_reply, &in,
             "{\"label\":\"POSITIVE\",\"evidence\":\"I attached the Airbus "
             "case study.\"}",
             &b);
    assert_string_equal(sw_buf_str(&b), "not_grounded@evidence;");

    /* Outbound: document references, grounding in the named document,
     * offsets, enums in nested arrays, item counts. */
    validate(&llm_schema_outbound, &in,
             "{\"framings\":[{\"text\":\"Would Thursday work for a 20 minute "
             "call?\",\"content\":\"deck.pdf\",\"start\":null}],"
             "\"passages\":[{\"content\":\"airbus_case_study.pdf\",\"text\":"
             "\"reduced reporting time by 40%\",\"start\":3}],"
             "\"tags\":{\"topic\":[\"roi\",\"weather\"],\"intent\":"
             "\"share_content\",\"persona\":\"unknown\",\"stage\":"
             "\"unknown\"}}",
             &b);
    assert_string_equal(sw_buf_str(&b), "unknown_document@framings[0].content;"
                                        "offset_mismatch@passages[0].start;"
                                        "enum@tags.topic[1];");
    validate(&llm_schema_outbound, &in,
             "{\"framings\":[],\"passages\":[{\"content\":"
             "\"airbus_case_study.pdf\",\"text\":\"Would Thursday work\","
             "\"start\":null}],\"tags\":{\"topic\":[],\"intent\":\"other\","
             "\"persona\":\"unknown\",\"stage\":\"unknown\"}}",
             &b);
    assert_string_equal(sw_buf_str(&b), "not_grounded@passages[0].text;"
                                        "min_items@tags.topic;");
    /* Integers outside their range: a negative offset, one past 2^30. */
    validate(&llm_schema_outbound, &in,
             "{\"framings\":[],\"passages\":[{\"content\":"
             "\"airbus_case_study.pdf\",\"text\":\"reduced reporting time "
             "by 40%\",\"start\":-5},{\"content\":\"airbus_case_study.pdf\","
             "\"text\":\"reduced reporting time by 40%\",\"start\":"
             "1073741825}],\"tags\":{\"topic\":[\"roi\"],\"intent\":"
             "\"other\",\"persona\":\"unknown\",\"stage\":\"unknown\"}}",
             &b);
    assert_string_equal(sw_buf_str(&b),
                        "range@passages[0].start;range@passages[1].start;");
    sw_buf_free(&b);
}

static void test_text(void **state)
{
    struct llm_span *sp = NULL;
    size_t n = 0;
    char *norm = NULL;
    size_t nl;

    (void)state;
    ASSERT_OK(llm_text_norm("  a \n\t b\xc2\xa0 c  ", 14, &norm, &nl));
    assert_string_equal(norm, "a b c");
    sw_free(norm);
    ASSERT_EQ(llm_text_at(email, strlen(email), 9, "Great talking", 13), 1);
    ASSERT_EQ(llm_text_at(email, strlen(email), 10, "Great talking", 13), 0);
    ASSERT_OK(llm_text_sentences(email, strlen(email), 100, &sp, &n));
    ASSERT_EQ(n, 6);
    assert_true(strncmp(email + sp[0].off, "Hi Ana,", sp[0].len) == 0);
    assert_true(strncmp(email + sp[2].off, "I've attached", 13) == 0);
    sw_free(sp);
    ASSERT_EQ(llm_text_icontains("We reduced costs", 16, "reduc*"), 1);
    ASSERT_EQ(llm_text_icontains("seduced", 7, "reduc*"), 0);
    ASSERT_EQ(llm_text_icontains("not interested", 14, "interest"), 0);
    /* A typographic apostrophe matches an ASCII one in the phrase. */
    ASSERT_EQ(
        llm_text_icontains("We don\xe2\x80\x99t need it", 24, "don't need"), 1);
    ASSERT_EQ(
        llm_text_icontains("We don\xe2\x80\x99tneed it", 23, "don't need"), 0);
    ASSERT_EQ(llm_text_icontains("We don\xe2\x80\x99t", 10, "don't"), 1);
    ASSERT_EQ(llm_text_icontains("We don\xe2\x80\x99", 9, "don't"), 0);
    ASSERT_EQ(llm_text_icontains("We don\xe2\x80", 8, "don't"), 0);
    /* Any case on either side; words end at non-word bytes only. */
    ASSERT_EQ(llm_text_icontains("Please UNSUBSCRIBE me", 21, "unsubscribe"),
              1);
    ASSERT_EQ(llm_text_icontains("not Interested.", 15, "not interested"), 1);
    ASSERT_EQ(llm_text_icontains("Xunsubscribe", 12, "Unsubscribe"), 0);
    ASSERT_EQ(llm_text_icontains("unsubscribed", 12, "unsubscribe"), 0);
    ASSERT_EQ(llm_text_icontains("caf\xc3\xa9s", 6, "caf"), 0);
    ASSERT_EQ(llm_text_icontains("in 2 weeks", 10, "2 WEEKS"), 1);
    ASSERT_EQ(llm_text_icontains("we", 2, "well"), 0);
}

/* The builtin answers are valid for every schema, deterministic and
 * useful: the framing found, a key passage with the figure. */
static void test_builtin(void **state)
{
    struct llm_provider *p = NULL;
    llm_client *c = NULL;
    struct llm_input in;
    struct llm_result r, r2;

    (void)state;
    memset(&in, 0, sizeof(in));
    outbound_input(&in);
    ASSERT_OK(llm_provider_builtin_new(&p));
    ASSERT_OK(llm_client_new(p, NULL, NULL, &c));
    ASSERT_OK(llm_call(c, NULL, NULL, &llm_schema_outbound, &in, &r));
    ASSERT_EQ(r.attempts, 1);
    assert_non_null(strstr(r.output, "I've attached the Airbus case study"));
    assert_non_null(strstr(r.output, "\"content\":\"airbus_case_study.pdf\""));
    assert_non_null(strstr(r.output, "reduced reporting time by 40%"));
    assert_null(strstr(r.output, "Thursday")); /* not a framing */
    assert_non_null(strstr(r.output, "\"intent\":\"follow_up\"")
                        ? "x"
                        : strstr(r.output, "\"intent\":\"book_meeting\""));
    ASSERT_OK(llm_call(c, NULL, NULL, &llm_schema_outbound, &in, &r2));
    assert_string_equal(r.output, r2.output);
    llm_result_clear(&r);
    llm_result_clear(&r2);

    in.n_docs = 0;
    in.text = "Thanks, but we are not interested at this time.";
    in.len = strlen(in.text);
    ASSERT_OK(llm_call(c, NULL, NULL, &llm_schema_reply, &in, &r));
    assert_non_null(strstr(r.output, "\"label\":\"NEGATIVE\""));
    llm_result_clear(&r);

    /* A reply that is one long unpunctuated block (2,400 bytes) still gets
     * a valid answer: the evidence is cut to the schema's 1000 bytes at a
     * space, so it stays a verbatim quote (it never validated before). */
    {
        static char longtext[2401];
        size_t k;
        for (k = 0; k < 2400; k++)
            longtext[k] = "thanks we will look at it "[k % 26];
        longtext[2400] = '\0';
        in.text = longtext;
        in.len = 2400;
        ASSERT_OK(llm_call(c, NULL, NULL, &llm_schema_reply, &in, &r));
        ASSERT_EQ(r.attempts, 1);
        assert_non_null(strstr(r.output, "\"evidence\":\"thanks we will"));
        llm_result_clear(&r);
    }

    in.text = "Can you find me the security whitepaper and the pricing deck "
              "we sent to fintech prospects?";
    in.len = strlen(in.text);
    ASSERT_OK(llm_call(c, NULL, NULL, &llm_schema_query, &in, &r));
    assert_non_null(strstr(r.output, "\"security\""));
    assert_non_null(strstr(r.output, "\"pricing\""));
    assert_non_null(strstr(r.output, "\"PRESENTATION\""));
    assert_non_null(strstr(r.output, "\"PDF\""));
    llm_result_clear(&r);
    llm_client_free(&c);
    llm_provider_free(&p);
}

/* Allocation failures anywhere in a builtin call give a clean error and
 * leak nothing. */
/* The negation rule reads a sentence's first 200 words only: a refusal
 * at word 150 of a sentence without stops counts, one at word 250 not. */
static void test_negation_window(void **state)
{
    char text[4096];
    size_t n = 0, off, len;
    int i;

    (void)state;
    for (i = 0; i < 150; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "w%d ", i);
    snprintf(text + n, sizeof(text) - n, "nobody here really wanted it");
    assert_string_equal(llm_builtin_reply_label(text, strlen(text), &off, &len),
                        "NEGATIVE");
    n = 0;
    for (i = 0; i < 250; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "w%d ", i);
    snprintf(text + n, sizeof(text) - n, "nobody here really wanted it");
    assert_string_equal(llm_builtin_reply_label(text, strlen(text), &off, &len),
                        "NEUTRAL");
}

static void test_alloc_faults(void **state)
{
    struct llm_provider *p = NULL;
    llm_client *c = NULL;
    struct llm_input in;
    struct llm_result r;
    int64_t live;
    uint64_t nth;
    sw_err rc;

    (void)state;
    memset(&in, 0, sizeof(in));
    outbound_input(&in);
    ASSERT_OK(llm_provider_builtin_new(&p));
    ASSERT_OK(llm_client_new(p, NULL, NULL, &c));
    live = sw_mem_live();
    for (nth = 1; nth < 400; nth++) {
        sw_mem_fail_nth(nth);
        rc = llm_call(c, NULL, NULL, &llm_schema_outbound, &in, &r);
        sw_mem_fail_nth(0);
        llm_result_clear(&r);
        assert_true(rc == SW_OK || rc == SW_ENOMEM);
        ASSERT_EQ(sw_mem_live(), live);
        if (rc == SW_OK)
            break;
    }
    assert_true(nth < 400);
    llm_client_free(&c);
    llm_provider_free(&p);
}

/* Every schema the project sends is one a strict endpoint accepts: valid
 * JSON Schema against its draft's meta-schema (python3-jsonschema) and
 * within the strict structured-output subset (tests/llm/strict_schema.py,
 * the same check the fake server applies). */
static void test_schemas_strict(void **state)
{
    static const struct llm_schema *const all[] = {
        &llm_schema_outbound, &llm_schema_reply, &llm_schema_query};
    const char *srcdir = getenv("TEST_SRCDIR");
    char dir[TEST_PATH_MAX], path[TEST_PATH_MAX + 64], cmd[8 * TEST_PATH_MAX];
    struct sw_buf b;
    size_t i, k = 0;
    FILE *fp;

    (void)state;
    test_mkdtemp(dir);
    k += (size_t)snprintf(cmd, sizeof(cmd),
                          "/usr/bin/python3 %s/snipwise/tests/llm/"
                          "strict_schema.py",
                          srcdir ? srcdir : ".");
    sw_buf_init(&b, 1 << 20);
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        sw_buf_reset(&b);
        ASSERT_OK(llm_schema_json(all[i], &b));
        snprintf(path, sizeof(path), "%s/%s.json", dir, all[i]->name);
        fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fwrite(sw_buf_str(&b), 1, sw_buf_len(&b), fp),
                         sw_buf_len(&b));
        assert_int_equal(fclose(fp), 0);
        k += (size_t)snprintf(cmd + k, sizeof(cmd) - k, " %s", path);
        assert_true(k < sizeof(cmd));
    }
    assert_int_equal(system(cmd), 0);
    /* And the checker refuses what a strict endpoint refuses. */
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
          "[\"integer\",null]}},\"required\":[\"a\"],"
          "\"additionalProperties\":false}",
          fp);
    assert_int_equal(fclose(fp), 0);
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s/snipwise/tests/llm/strict_schema.py %s "
             "2>/dev/null",
             srcdir ? srcdir : ".", path);
    assert_int_not_equal(system(cmd), 0);
    sw_buf_free(&b);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_json),
        cmocka_unit_test(test_schemas_strict),
        cmocka_unit_test(test_validate_codes),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_negation_window),
        cmocka_unit_test(test_alloc_faults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
