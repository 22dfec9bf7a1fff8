/* eval_paraphrase_embed: can an embedder's cosine tell paraphrases from
 * different ideas? On tests/data/paraphrase_pairs.json (100 labelled pairs
 * of framing sentences, written by a separate author), it embeds both
 * sentences of each pair with the builtin embedder (no document
 * frequencies: every word weighs the same) and prints the mean cosine of
 * "same" and "different" pairs, then precision and recall of "same" when
 * pairs at or above each threshold are joined. A measurement for
 * docs/RANKING.md ("Families by meaning"), not a test:
 *
 *   bazel run //tests/bench:eval_paraphrase_embed -- \
 *       $PWD/tests/data/paraphrase_pairs.json */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ranker/embed.h"

#define DIM RANK_EMBED_DIM_DEFAULT
#define MAXPAIRS 1000

int main(int argc, char **argv)
{
    static const double th[] = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7};
    static double cos[MAXPAIRS];
    static int same[MAXPAIRS];
    struct rank_embedder *e = NULL;
    json_error_t err;
    json_t *root, *pairs;
    float a[DIM], b[DIM];
    double sum[2] = {0, 0};
    size_t i, n = 0, cnt[2] = {0, 0}, k;

    if (argc != 2) {
        fprintf(stderr, "usage: eval_paraphrase_embed PAIRS.json\n");
        return 2;
    }
    root = json_load_file(argv[1], 0, &err);
    pairs = root ? json_object_get(root, "pairs") : NULL;
    if (!json_is_array(pairs) || rank_embedder_builtin_new(DIM, &e) != SW_OK) {
        fprintf(stderr, "eval_paraphrase_embed: cannot read %s\n", argv[1]);
        return 1;
    }
    for (i = 0; i < json_array_size(pairs) && n < MAXPAIRS; i++) {
        json_t *it = json_array_get(pairs, i);
        const char *x = json_string_value(json_object_get(it, "a"));
        const char *y = json_string_value(json_object_get(it, "b"));
        const char *l = json_string_value(json_object_get(it, "label"));
        double c = 0.0;
        size_t d;

        if (!x || !y || !l || e->ops->embed(e, NULL, x, strlen(x), a) ||
            e->ops->embed(e, NULL, y, strlen(y), b)) {
            fprintf(stderr, "eval_paraphrase_embed: pair %zu unusable\n", i);
            return 1;
        }
        for (d = 0; d < DIM; d++)
            c += (double)a[d] * (double)b[d];
        same[n] = strcmp(l, "same") == 0;
        cos[n] = c;
        sum[same[n]] += c;
        cnt[same[n]]++;
        n++;
    }
    printf("pairs %zu: same %zu, mean cosine %.3f; different %zu, mean "
           "cosine %.3f\n",
           n, cnt[1], cnt[1] ? sum[1] / (double)cnt[1] : 0.0, cnt[0],
           cnt[0] ? sum[0] / (double)cnt[0] : 0.0);
    printf("threshold  joined  precision  recall\n");
    for (k = 0; k < sizeof(th) / sizeof(th[0]); k++) {
        size_t tp = 0, fp = 0;
        for (i = 0; i < n; i++) {
            tp += (size_t)(cos[i] >= th[k] && same[i]);
            fp += (size_t)(cos[i] >= th[k] && !same[i]);
        }
        printf("%9.2f  %6zu  %9.3f  %6.3f\n", th[k], tp + fp,
               tp + fp ? (double)tp / (double)(tp + fp) : 0.0,
               cnt[1] ? (double)tp / (double)cnt[1] : 0.0);
    }
    e->ops->destroy(&e);
    json_decref(root);
    return 0;
}
