/* Evaluation of the builtin extractor on three hand-labelled sets:
 * tests/data/llm_eval.json (partly synthetic), tests/data/
 * llm_eval_corpus.json (drawn only from the shared corpus, split into dev
 * and test halves) and tests/data/reply_heldout.json (sales replies by a
 * separate author, split the same way; per-label precision and recall of
 * POSITIVE and NEGATIVE too). Reply labels: precision and recall over the
 * non-NEUTRAL labels, accuracy and a confusion summary; framing sentences:
 * precision and recall by sentence. Prints the numbers and asserts floors
 * so a regression fails. On the corpus set only dev errors are printed:
 * rules are tuned on dev, test is only measured. */
#include "tests/testutil.h"

#include <jansson.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/mail.h"
#include "llm/builtin.h"
#include "llm/schemas.h"
#include "llm/text.h"

/* Floors on llm_eval.json: the measured values, rounded down. */
#define REPLY_PRECISION_FLOOR 0.999
#define REPLY_RECALL_FLOOR 0.999
#define REPLY_ACCURACY_FLOOR 0.999
#define FRAMING_PRECISION_FLOOR 0.83
#define FRAMING_RECALL_FLOOR 0.999

/* Floors on the TEST split of llm_eval_corpus.json: the measured values,
 * rounded down to two decimals (n=67 replies, 21 framing items). Before
 * the dev-tuned rules: replies P 0.600 R 0.273 acc 0.851, framings
 * P 0.812 R 0.806; after: P 0.875 R 0.636 acc 0.925, P 0.839 R 0.806. */
#define CORPUS_REPLY_PRECISION_FLOOR 0.87
#define CORPUS_REPLY_RECALL_FLOOR 0.63
#define CORPUS_REPLY_ACCURACY_FLOOR 0.92
#define CORPUS_FRAMING_PRECISION_FLOOR 0.83
#define CORPUS_FRAMING_RECALL_FLOOR 0.80

/* Floors on the DEV split (n=103 replies, 11 framing items), on which the
 * rules are tuned: the measured values rounded down, so that a change that
 * loses what tuning won fails here even where the test half, being
 * smaller, does not move. Measured: replies P 0.789 R 0.652 acc 0.903,
 * framings P 0.875 R 0.929. */
#define DEV_REPLY_PRECISION_FLOOR 0.78
#define DEV_REPLY_RECALL_FLOOR 0.65
#define DEV_REPLY_ACCURACY_FLOOR 0.90
#define DEV_FRAMING_PRECISION_FLOOR 0.87
#define DEV_FRAMING_RECALL_FLOOR 0.92

/* Floors on reply_heldout.json (240 sales replies written by a separate
 * author who had not seen the rules; split dev/test by hash). Before the
 * rules tuned on its dev half (session 11), test: POSITIVE P 0.842 R 0.410,
 * NEGATIVE P 1.000 R 0.321, accuracy 0.517 (dev 0.583). After, test:
 * POSITIVE P 0.880 R 0.564, NEGATIVE P 0.882 R 0.536, accuracy 0.617;
 * dev: accuracy 0.967. The gap between the halves is what phrase rules
 * tuned on 120 replies are worth on the next 120. */
#define HELDOUT_POS_PRECISION_FLOOR 0.88
#define HELDOUT_POS_RECALL_FLOOR 0.56
#define HELDOUT_NEG_PRECISION_FLOOR 0.88
#define HELDOUT_NEG_RECALL_FLOOR 0.53
#define HELDOUT_ACCURACY_FLOOR 0.61
#define HELDOUT_DEV_ACCURACY_FLOOR 0.96

static char *slurp(const char *path, size_t *n_out)
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
    ASSERT_OK(sw_buf_take(&b, &out, n_out));
    return out;
}

static char *runfile_n(const char *a, const char *b, size_t *n)
{
    const char *src = getenv("TEST_SRCDIR");
    char p[TEST_PATH_MAX];
    char *s;

    snprintf(p, sizeof(p), "%s/%s/%s", src ? src : ".", a, b);
    s = slurp(p, n);
    if (s == NULL && strcmp(a, "corpus") == 0) {
        snprintf(p, sizeof(p), "%s/snipwise/external/corpus/%s",
                 src ? src : ".", b);
        s = slurp(p, n);
    }
    if (s == NULL)
        fail_msg("cannot read %s", b);
    return s;
}

static char *runfile(const char *a, const char *b)
{
    return runfile_n(a, b, NULL);
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

/* --- The corpus set (llm_eval_corpus.json) ------------------------------ */

#define EVAL_LABELS 6
#define EVAL_MAX_DOCS 64

static const char *const eval_labels[EVAL_LABELS] = {
    "POSITIVE", "NEUTRAL", "NEGATIVE", "OUT_OF_OFFICE", "UNSUBSCRIBE", "BOUNCE",
};

static int eval_label_index(const char *l)
{
    int i;

    for (i = 0; i < EVAL_LABELS; i++)
        if (strcmp(eval_labels[i], l) == 0)
            return i;
    fail_msg("unknown label %s", l);
    return 0;
}

/* A corpus item as the worker would see it: a parsed mail (new_text, else
 * body_text, and its attachments) or, for a bare body, the text after
 * ingest_reply_strip (the raw text when that is empty). */
struct eval_item {
    char *raw;
    struct ingest_mail *m;
    char *stripped;
    const char *text;
};

static void eval_item_load(struct eval_item *it, const char *file)
{
    struct ingest_limits l;
    struct sw_buf why;
    size_t n = 0;
    sw_err rc = SW_EPARSE;

    memset(it, 0, sizeof(*it));
    it->raw = runfile_n("corpus", file, &n);
    if (strncmp(file, "emails/", 7) == 0) {
        ingest_limits_default(&l);
        sw_buf_init(&why, 4096);
        rc = ingest_mail_parse(it->raw, n, &l, &it->m, &why);
        sw_buf_free(&why);
        assert_true(rc == SW_OK || rc == SW_EPARSE);
    }
    if (rc == SW_OK) {
        it->text = it->m->new_text && it->m->new_text[0] ? it->m->new_text
                                                         : it->m->body_text;
        return;
    }
    ASSERT_OK(ingest_reply_strip(it->raw, strlen(it->raw), &it->stripped));
    it->text = it->stripped[0] ? it->stripped : it->raw;
}

static void eval_item_free(struct eval_item *it)
{
    ingest_mail_free(&it->m);
    sw_free(it->stripped);
    sw_free(it->raw);
}

/* norm_contains: whether normalised needle occurs in normalised hay. */
static int norm_contains(const char *hay, const char *needle)
{
    char *nh = NULL, *nn = NULL;
    int r;

    ASSERT_OK(llm_text_norm(hay, strlen(hay), &nh, NULL));
    ASSERT_OK(llm_text_norm(needle, strlen(needle), &nn, NULL));
    r = nn[0] != '\0' && strstr(nh, nn) != NULL;
    sw_free(nh);
    sw_free(nn);
    return r;
}

struct eval_reply_stats {
    size_t conf[EVAL_LABELS][EVAL_LABELS]; /* [want][got] */
    double p, r, acc;
    double lp[EVAL_LABELS], lr[EVAL_LABELS]; /* per label (eval_labels) */
    size_t n;
};

/* eval_label_pr fills st's per-label precision and recall from its
 * confusion counts and prints POSITIVE's and NEGATIVE's. */
static void eval_label_pr(const char *set, const char *split,
                          struct eval_reply_stats *st)
{
    int w, g;

    for (w = 0; w < EVAL_LABELS; w++) {
        size_t row = 0, col = 0;
        for (g = 0; g < EVAL_LABELS; g++) {
            row += st->conf[w][g];
            col += st->conf[g][w];
        }
        st->lp[w] = col ? (double)st->conf[w][w] / (double)col : 0.0;
        st->lr[w] = row ? (double)st->conf[w][w] / (double)row : 0.0;
    }
    print_message("%s %s POSITIVE precision=%.3f recall=%.3f; NEGATIVE "
                  "precision=%.3f recall=%.3f\n",
                  set, split, st->lp[0], st->lr[0], st->lp[2], st->lr[2]);
}

/* eval_replies_split measures the replies of one split of a set whose
 * items are corpus files (corpus_file) or texts (text); dev errors are
 * printed with their evidence. */
static void eval_replies_split(json_t *root, const char *set, const char *split,
                               struct eval_reply_stats *st)
{
    json_t *it;
    size_t i, tp = 0, fp = 0, fn = 0, correct = 0, off, len;
    int w, g;

    memset(st, 0, sizeof(*st));
    json_array_foreach(json_object_get(root, "replies"), i, it)
    {
        const char *want = json_string_value(json_object_get(it, "label"));
        const char *file =
            json_string_value(json_object_get(it, "corpus_file"));
        const char *text = json_string_value(json_object_get(it, "text"));
        struct eval_item e;
        const char *got;

        if (strcmp(json_string_value(json_object_get(it, "split")), split))
            continue;
        if (file) {
            eval_item_load(&e, file);
        } else {
            assert_non_null(text);
            memset(&e, 0, sizeof(e));
            e.text = text;
            file = json_string_value(json_object_get(it, "split_key"));
        }
        got = llm_builtin_reply_label(e.text, strlen(e.text), &off, &len);
        assert_true(off + len <= strlen(e.text));
        w = eval_label_index(want);
        g = eval_label_index(got);
        st->conf[w][g]++;
        st->n++;
        correct += w == g;
        if (strcmp(got, "NEUTRAL") != 0 && w == g)
            tp++;
        else if (strcmp(got, "NEUTRAL") != 0)
            fp++;
        if (strcmp(want, "NEUTRAL") != 0 && w != g)
            fn++;
        if (w != g && strcmp(split, "dev") == 0)
            print_message("%s dev reply %s: want %s got %s (evidence "
                          "\"%.*s\")\n",
                          set, file, want, got, (int)(len > 80 ? 80 : len),
                          e.text + off);
        eval_item_free(&e);
    }
    st->p = tp + fp ? (double)tp / (double)(tp + fp) : 0;
    st->r = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    st->acc = st->n ? (double)correct / (double)st->n : 0;
    print_message("%s %s replies: n=%zu precision=%.3f recall=%.3f "
                  "accuracy=%.3f (tp=%zu fp=%zu fn=%zu)\n",
                  set, split, st->n, st->p, st->r, st->acc, tp, fp, fn);
    for (w = 0; w < EVAL_LABELS; w++) {
        char line[512];
        size_t row = 0, k = 0;

        for (g = 0; g < EVAL_LABELS; g++)
            row += st->conf[w][g];
        if (row == 0)
            continue;
        line[0] = '\0';
        for (g = 0; g < EVAL_LABELS; g++)
            if (st->conf[w][g] > 0 && k < sizeof(line))
                k += (size_t)snprintf(line + k, sizeof(line) - k, " %s=%zu",
                                      eval_labels[g], st->conf[w][g]);
        print_message("  %s %s want %-13s n=%-3zu got:%s\n", set, split,
                      eval_labels[w], row, line);
    }
    eval_label_pr(set, split, st);
}

struct eval_framing_stats {
    double p, r;
    size_t items, nlab, npred;
};

/* eval_framing_input fills in (and docs) for a framing item: the excerpt
 * and named links of a template, or a parsed mail and its attachments. */
static void eval_framing_input(json_t *it, struct eval_item *e,
                               struct llm_doc *docs, struct llm_input *in)
{
    const char *file = json_string_value(json_object_get(it, "corpus_file"));
    json_t *text = json_object_get(it, "text"), *x;
    size_t k;

    memset(in, 0, sizeof(*in));
    memset(e, 0, sizeof(*e));
    if (text != NULL) {
        /* A template excerpt: it must be verbatim from the file. */
        e->raw = runfile("corpus", file);
        in->text = json_string_value(text);
        if (!norm_contains(e->raw, in->text))
            fail_msg("excerpt of %s is not in the file", file);
        json_array_foreach(json_object_get(it, "docs"), k, x)
        {
            assert_true(k < EVAL_MAX_DOCS);
            docs[k].name = json_string_value(x);
            docs[k].text = "Document text.";
            docs[k].len = 14;
            in->n_docs = k + 1;
        }
    } else {
        eval_item_load(e, file);
        assert_non_null(e->m);
        in->text = e->text;
        for (k = 0; k < e->m->n_atts && k < EVAL_MAX_DOCS; k++) {
            const struct ingest_attachment *a = &e->m->atts[k];
            docs[k].name = a->filename[0] ? a->filename : "attachment";
            docs[k].text = a->text ? a->text : "Document text.";
            docs[k].len = a->text ? a->text_len : 14;
        }
        in->n_docs = k;
    }
    in->len = strlen(in->text);
    in->docs = docs;
}

static void eval_framings_split(json_t *root, const char *split,
                                struct eval_framing_stats *st)
{
    json_t *it, *lab, *ans, *fr, *x;
    size_t i, k, m, ptp = 0, rtp = 0;
    struct llm_doc docs[EVAL_MAX_DOCS];
    struct llm_input in;
    struct eval_item e;
    struct sw_buf b;
    json_error_t err;
    int dev = strcmp(split, "dev") == 0;

    memset(st, 0, sizeof(*st));
    sw_buf_init(&b, 1u << 22);
    json_array_foreach(json_object_get(root, "framings"), i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));

        if (strcmp(json_string_value(json_object_get(it, "split")), split))
            continue;
        eval_framing_input(it, &e, docs, &in);
        lab = json_object_get(it, "framings");
        for (m = 0; m < json_array_size(lab); m++)
            if (!norm_contains(in.text,
                               json_string_value(json_array_get(lab, m))))
                fail_msg("framing %zu of %s is not in its text", m, id);
        sw_buf_reset(&b);
        ASSERT_OK(llm_builtin_extract(&llm_schema_outbound, &in, &b));
        ans = json_loads(sw_buf_str(&b), 0, &err);
        assert_non_null(ans);
        fr = json_object_get(ans, "framings");
        st->items++;
        st->npred += json_array_size(fr);
        st->nlab += json_array_size(lab);
        json_array_foreach(fr, k, x)
        {
            const char *t = json_string_value(json_object_get(x, "text"));
            int hit = 0;
            for (m = 0; m < json_array_size(lab); m++)
                hit |=
                    same_sentence(t, json_string_value(json_array_get(lab, m)));
            ptp += hit;
            if (!hit && dev)
                print_message("corpus dev framing %s: extra \"%.100s\"\n", id,
                              t);
        }
        for (m = 0; m < json_array_size(lab); m++) {
            const char *t = json_string_value(json_array_get(lab, m));
            int hit = 0;
            json_array_foreach(fr, k, x) hit |=
                same_sentence(t, json_string_value(json_object_get(x, "text")));
            rtp += hit;
            if (!hit && dev)
                print_message("corpus dev framing %s: missed \"%.100s\"\n", id,
                              t);
        }
        json_decref(ans);
        eval_item_free(&e);
    }
    sw_buf_free(&b);
    st->p = st->npred ? (double)ptp / (double)st->npred : 0;
    st->r = st->nlab ? (double)rtp / (double)st->nlab : 0;
    print_message("corpus %s framings: emails=%zu labelled=%zu predicted=%zu "
                  "precision=%.3f recall=%.3f\n",
                  split, st->items, st->nlab, st->npred, st->p, st->r);
}

static void test_corpus_dev(void **state)
{
    struct eval_reply_stats rs;
    struct eval_framing_stats fs;

    /* Measured and printed (with every error) for tuning, and guarded. */
    eval_replies_split(*state, "corpus", "dev", &rs);
    eval_framings_split(*state, "dev", &fs);
    assert_true(rs.n >= 100 && fs.items >= 10);
    assert_true(rs.p >= DEV_REPLY_PRECISION_FLOOR);
    assert_true(rs.r >= DEV_REPLY_RECALL_FLOOR);
    assert_true(rs.acc >= DEV_REPLY_ACCURACY_FLOOR);
    assert_true(fs.p >= DEV_FRAMING_PRECISION_FLOOR);
    assert_true(fs.r >= DEV_FRAMING_RECALL_FLOOR);
}

static void test_corpus_test(void **state)
{
    struct eval_reply_stats rs;
    struct eval_framing_stats fs;

    eval_replies_split(*state, "corpus", "test", &rs);
    eval_framings_split(*state, "test", &fs);
    assert_true(rs.n >= 60 && fs.items >= 20);
    assert_true(rs.p >= CORPUS_REPLY_PRECISION_FLOOR);
    assert_true(rs.r >= CORPUS_REPLY_RECALL_FLOOR);
    assert_true(rs.acc >= CORPUS_REPLY_ACCURACY_FLOOR);
    assert_true(fs.p >= CORPUS_FRAMING_PRECISION_FLOOR);
    assert_true(fs.r >= CORPUS_FRAMING_RECALL_FLOOR);
}

/* --- Sales replies (reply_heldout.json) -------------------------------- */

static void test_heldout_dev(void **state)
{
    struct eval_reply_stats rs;

    eval_replies_split(*state, "heldout", "dev", &rs);
    assert_true(rs.n >= 100);
    assert_true(rs.acc >= HELDOUT_DEV_ACCURACY_FLOOR);
}

static void test_heldout_test(void **state)
{
    struct eval_reply_stats rs;

    eval_replies_split(*state, "heldout", "test", &rs);
    assert_true(rs.n >= 100);
    assert_true(rs.lp[0] >= HELDOUT_POS_PRECISION_FLOOR);
    assert_true(rs.lr[0] >= HELDOUT_POS_RECALL_FLOOR);
    assert_true(rs.lp[2] >= HELDOUT_NEG_PRECISION_FLOOR);
    assert_true(rs.lr[2] >= HELDOUT_NEG_RECALL_FLOOR);
    assert_true(rs.acc >= HELDOUT_ACCURACY_FLOOR);
}

static json_t *load_set(const char *path)
{
    char *data = runfile("snipwise", path);
    json_error_t err;
    json_t *root = json_loads(data, 0, &err);

    sw_free(data);
    if (root == NULL)
        fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
    return root;
}

int main(void)
{
    json_t *root, *corpus, *heldout;
    int rc;

    ingest_mail_global_init();
    root = load_set("tests/data/llm_eval.json");
    corpus = load_set("tests/data/llm_eval_corpus.json");
    heldout = load_set("tests/data/reply_heldout.json");
    if (root == NULL || corpus == NULL || heldout == NULL) {
        json_decref(root);
        json_decref(corpus);
        json_decref(heldout);
        return 1;
    }
    {
        const struct CMUnitTest tests[] = {
            {"test_replies", test_replies, NULL, NULL, root},
            {"test_framings", test_framings, NULL, NULL, root},
            {"test_corpus_dev", test_corpus_dev, NULL, NULL, corpus},
            {"test_corpus_test", test_corpus_test, NULL, NULL, corpus},
            {"test_heldout_dev", test_heldout_dev, NULL, NULL, heldout},
            {"test_heldout_test", test_heldout_test, NULL, NULL, heldout},
        };
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    json_decref(root);
    json_decref(corpus);
    json_decref(heldout);
    return rc;
}
