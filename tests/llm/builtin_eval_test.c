/* Evaluation of the builtin extractor on the hand-labelled set in
 * tests/data/llm_eval.json: reply labels (precision and recall over the
 * non-NEUTRAL labels, plus accuracy) and framing sentences (precision and
 * recall by sentence). Prints the numbers and asserts floors at the values
 * measured when the lexicons were last tuned, so a regression fails. */
#include "tests/testutil.h"

#include <jansson.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "llm/builtin.h"
#include "llm/schemas.h"
#include "llm/text.h"

/* Floors: the measured values, rounded down. */
#define REPLY_PRECISION_FLOOR 0.999
#define REPLY_RECALL_FLOOR 0.999
#define REPLY_ACCURACY_FLOOR 0.999
#define FRAMING_PRECISION_FLOOR 0.83
#define FRAMING_RECALL_FLOOR 0.999

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct sw_buf b;
    char chunk[4096];
    size_t n;
    char *out = NULL;

    if (f == NULL)
        return NULL;
    sw_buf_init(&b, 1u << 24);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ASSERT_OK(sw_buf_add(&b, chunk, n));
    fclose(f);
    ASSERT_OK(sw_buf_take(&b, &out, NULL));
    return out;
}

static char *runfile(const char *a, const char *b)
{
    const char *src = getenv("TEST_SRCDIR");
    char p[TEST_PATH_MAX];
    char *s;

    snprintf(p, sizeof(p), "%s/%s/%s", src ? src : ".", a, b);
    s = slurp(p);
    if (s == NULL && strcmp(a, "corpus") == 0) {
        snprintf(p, sizeof(p), "%s/snipwise/external/corpus/%s",
                 src ? src : ".", b);
        s = slurp(p);
    }
    if (s == NULL)
        fail_msg("cannot read %s", b);
    return s;
}

static int same_sentence(const char *a, const char *b)
{
    char *na = NULL, *nb = NULL;
    size_t la, lb;
    int r;

    ASSERT_OK(llm_text_norm(a, strlen(a), &na, &la));
    ASSERT_OK(llm_text_norm(b, strlen(b), &nb, &lb));
    r = la > 0 && lb > 0 && (strstr(na, nb) != NULL || strstr(nb, na) != NULL);
    sw_free(na);
    sw_free(nb);
    return r;
}

static void test_replies(void **state)
{
    json_t *root = *state, *it;
    size_t i, tp = 0, fp = 0, fn = 0, correct = 0, total = 0, off, len;
    double p, r, acc;

    json_array_foreach(json_object_get(root, "replies"), i, it)
    {
        const char *want = json_string_value(json_object_get(it, "label"));
        const char *file =
            json_string_value(json_object_get(it, "corpus_file"));
        char *text =
            file ? runfile("corpus", file)
                 : sw_strdup(json_string_value(json_object_get(it, "text")));
        const char *got =
            llm_builtin_reply_label(text, strlen(text), &off, &len);
        int neutral_w = strcmp(want, "NEUTRAL") == 0;
        int neutral_g = strcmp(got, "NEUTRAL") == 0;

        assert_true(off + len <= strlen(text));
        total++;
        if (strcmp(want, got) == 0)
            correct++;
        if (!neutral_g && strcmp(want, got) == 0)
            tp++;
        else if (!neutral_g)
            fp++;
        if (!neutral_w && strcmp(want, got) != 0)
            fn++;
        if (strcmp(want, got) != 0)
            print_message("reply %zu: want %s got %s (evidence \"%.*s\")\n", i,
                          want, got, (int)(len > 80 ? 80 : len), text + off);
        sw_free(text);
    }
    p = tp + fp ? (double)tp / (double)(tp + fp) : 0;
    r = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    acc = (double)correct / (double)total;
    print_message("builtin replies: n=%zu precision=%.3f recall=%.3f "
                  "accuracy=%.3f\n",
                  total, p, r, acc);
    assert_true(p >= REPLY_PRECISION_FLOOR);
    assert_true(r >= REPLY_RECALL_FLOOR);
    assert_true(acc >= REPLY_ACCURACY_FLOOR);
}

static void test_framings(void **state)
{
    json_t *root = *state, *it, *lab, *ans, *fr, *x;
    size_t i, k, m, npred = 0, nlab = 0, ptp = 0, rtp = 0;
    struct llm_doc docs[8];
    struct llm_input in;
    struct sw_buf b;
    json_error_t err;
    double p, r;

    sw_buf_init(&b, 1u << 20);
    json_array_foreach(json_object_get(root, "framings"), i, it)
    {
        memset(&in, 0, sizeof(in));
        in.text = json_string_value(json_object_get(it, "text"));
        in.len = strlen(in.text);
        json_array_foreach(json_object_get(it, "docs"), k, x)
        {
            assert_true(k < 8);
            docs[k].name = json_string_value(x);
            docs[k].text = "Document text.";
            docs[k].len = 14;
            in.n_docs = k + 1;
        }
        in.docs = docs;
        sw_buf_reset(&b);
        ASSERT_OK(llm_builtin_extract(&llm_schema_outbound, &in, &b));
        ans = json_loads(sw_buf_str(&b), 0, &err);
        assert_non_null(ans);
        fr = json_object_get(ans, "framings");
        lab = json_object_get(it, "framings");
        npred += json_array_size(fr);
        nlab += json_array_size(lab);
        json_array_foreach(fr, k, x)
        {
            const char *t = json_string_value(json_object_get(x, "text"));
            int hit = 0;
            for (m = 0; m < json_array_size(lab); m++)
                hit |=
                    same_sentence(t, json_string_value(json_array_get(lab, m)));
            ptp += hit;
            if (!hit)
                print_message("framing email %zu: extra \"%s\"\n", i, t);
        }
        for (m = 0; m < json_array_size(lab); m++) {
            const char *t = json_string_value(json_array_get(lab, m));
            int hit = 0;
            json_array_foreach(fr, k, x) hit |=
                same_sentence(t, json_string_value(json_object_get(x, "text")));
            rtp += hit;
            if (!hit)
                print_message("framing email %zu: missed \"%s\"\n", i, t);
        }
        json_decref(ans);
    }
    sw_buf_free(&b);
    p = npred ? (double)ptp / (double)npred : 0;
    r = nlab ? (double)rtp / (double)nlab : 0;
    print_message("builtin framings: emails=%zu labelled=%zu predicted=%zu "
                  "precision=%.3f recall=%.3f\n",
                  json_array_size(json_object_get(root, "framings")), nlab,
                  npred, p, r);
    assert_true(p >= FRAMING_PRECISION_FLOOR);
    assert_true(r >= FRAMING_RECALL_FLOOR);
}

int main(void)
{
    char *data = runfile("snipwise", "tests/data/llm_eval.json");
    json_error_t err;
    json_t *root = json_loads(data, 0, &err);
    int rc;

    sw_free(data);
    if (root == NULL)
        return 1;
    {
        const struct CMUnitTest tests[] = {
            {"test_replies", test_replies, NULL, NULL, root},
            {"test_framings", test_framings, NULL, NULL, root},
        };
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    json_decref(root);
    return rc;
}
