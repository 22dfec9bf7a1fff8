/* llm/builtin: the offline extractor. Everything here is deterministic
 * (same input, same JSON) and uses only the input: no clock, no random
 * numbers, no network. See builtin.h for what it finds and lexicon.c for
 * the words it looks for. */
#include "llm/builtin.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sw_mem.h"
#include "llm/lexicon.h"
#include "llm/provider.h"
#include "llm/schemas.h"
#include "llm/text.h"

#define LLM_BI_MAX_SENTS 2000
#define LLM_BI_DIM 1024 /* hashed TF-IDF dimensions */
#define LLM_BI_PASSAGES 3
#define LLM_BI_FRAMINGS 6
#define LLM_BI_PASSAGES_MAX 40   /* the outbound schema's passages max_items */
#define LLM_BI_EVIDENCE_MAX 1000 /* the reply schema's evidence max_length */
#define LLM_BI_FRAMING_MIN 2

/* --- Lexicon helpers --------------------------------------------------- */

static int llm_bi_any(const char *s, size_t n, const char *const *phrases)
{
    size_t i;

    for (i = 0; phrases[i]; i++)
        if (llm_text_icontains(s, n, phrases[i]))
            return 1;
    return 0;
}

static int llm_bi_count(const char *s, size_t n, const char *const *phrases)
{
    size_t i;
    int c = 0;

    for (i = 0; phrases[i]; i++)
        c += llm_text_icontains(s, n, phrases[i]);
    return c;
}

static int llm_bi_is_stop(const char *w, size_t n)
{
    size_t i;

    for (i = 0; llm_lex_stop[i]; i++)
        if (strlen(llm_lex_stop[i]) == n && strncmp(llm_lex_stop[i], w, n) == 0)
            return 1;
    return 0;
}

/* llm_bi_word walks s[*i..n) to the next word (letters and digits),
 * lowercased into w (at most 32 bytes); returns its length, 0 at the end. */
static size_t llm_bi_word(const char *s, size_t n, size_t *i, char *w)
{
    size_t k = 0;

    while (*i < n && !isalnum((unsigned char)s[*i]))
        (*i)++;
    while (*i < n && isalnum((unsigned char)s[*i])) {
        if (k < 32)
            w[k++] = (char)tolower((unsigned char)s[*i]);
        (*i)++;
    }
    return k;
}

static uint32_t llm_bi_hash(const char *w, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)w[i];
        h *= 16777619u;
    }
    return h;
}

/* --- Framings ---------------------------------------------------------- */

/* llm_bi_name_score rates how much s mentions document d by name: 5 for the
 * file name or its stem, else 2 per distinctive word of the stem (4+
 * letters), at most 4. */
static int llm_bi_name_score(const struct llm_doc *d, const char *s, size_t n)
{
    char stem[256], w[33];
    const char *name = d->name ? d->name : "";
    size_t sl = strlen(name), i = 0, wl, k;
    const char *dot = strrchr(name, '.');
    int score = 0;

    if (sl == 0)
        return 0;
    if (dot && dot != name)
        sl = (size_t)(dot - name);
    if (sl >= sizeof(stem))
        sl = sizeof(stem) - 1;
    memcpy(stem, name, sl);
    stem[sl] = '\0';
    if (sl >= 4 && memmem(s, n, name, strlen(name)) != NULL)
        return 5;
    if (sl >= 4 && memmem(s, n, stem, sl) != NULL)
        return 5;
    while ((wl = llm_bi_word(stem, sl, &i, w)) > 0) {
        int generic = 0;
        if (wl < 4 || llm_bi_is_stop(w, wl))
            continue;
        for (k = 0; k < wl && isdigit((unsigned char)w[k]); k++)
            ;
        generic = k == wl || (wl == 5 && strncmp(w, "final", 5) == 0) ||
                  (wl == 4 && strncmp(w, "copy", 4) == 0) ||
                  (wl == 5 && strncmp(w, "draft", 5) == 0);
        w[wl] = '\0';
        if (!generic && llm_text_icontains(s, n, w))
            score += 2;
    }
    return score > 4 ? 4 : score;
}

static int llm_bi_is_greeting(const char *s, size_t n)
{
    size_t i;

    if (n > 40)
        return 0;
    for (i = 0; llm_lex_greeting[i]; i++) {
        size_t gl = strlen(llm_lex_greeting[i]);
        if (n >= gl && strncasecmp(s, llm_lex_greeting[i], gl) == 0)
            return 1;
    }
    return 0;
}

int llm_builtin_framing_score(const struct llm_input *in, const char *s,
                              size_t n, size_t *doc)
{
    int best = 0, ns, score = 0;
    size_t i;

    *doc = 0;
    if (n < 12 || n > 700 || llm_bi_is_greeting(s, n) || s[0] == '>')
        return 0;
    for (i = 0; i < in->n_docs; i++) {
        ns = llm_bi_name_score(&in->docs[i], s, n);
        if (ns > best) {
            best = ns;
            *doc = i;
        }
    }
    if (llm_bi_any(s, n, llm_lex_framing_strong))
        score += 2;
    if (llm_bi_any(s, n, llm_lex_framing_noun))
        score += 1;
    /* A bare mention of title words ("pricing", "feature adoption") is
     * topic, not framing ("Thanks for reaching out about feature
     * adoption."): without a cue only the full name counts (5; a cue plus
     * the name or two of its words scores the same 4). */
    if (score > 0 || best >= 5)
        score += best > 4 ? 4 : best;
    return score >= LLM_BI_FRAMING_MIN ? score : 0;
}

/* llm_bi_positions: sentence i positions the attachment introduced by
 * sentence i-1 ("I've attached the ROI study. It shows how teams like yours
 * cut onboarding time in half."): it follows a framing sentence in the same
 * paragraph, is a statement of reasonable length, and is no greeting or
 * sign-off. *doc receives the previous sentence's attachment. */
static int llm_bi_positions(const struct llm_input *in,
                            const struct llm_span *sp, size_t i, size_t *doc)
{
    const char *s = in->text + sp[i].off;
    size_t n = sp[i].len, gap_off = sp[i - 1].off + sp[i - 1].len, k;

    /* A conditional aside ("If it is not a focus right now, all good.")
     * hedges the mail, it does not position the attachment. */
    if (n < 20 || n > 400 || llm_bi_is_greeting(s, n) || s[0] == '>' ||
        s[n - 1] == '?' || strncasecmp(s, "if ", 3) == 0)
        return 0;
    for (k = gap_off; k + 1 < sp[i].off; k++) {
        if (in->text[k] == '\n' && in->text[k + 1] == '\n')
            return 0; /* a new paragraph */
    }
    return llm_builtin_framing_score(in, in->text + sp[i - 1].off,
                                     sp[i - 1].len, doc) > 0;
}

/* --- Key passages ------------------------------------------------------ */

struct llm_bi_sent {
    struct llm_span sp;
    double score;
};

static int llm_bi_by_score(const void *a, const void *b)
{
    const struct llm_bi_sent *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->sp.off < y->sp.off ? -1 : x->sp.off > y->sp.off;
}

static int llm_bi_by_off(const void *a, const void *b)
{
    const struct llm_bi_sent *x = a, *y = b;

    return x->sp.off < y->sp.off ? -1 : x->sp.off > y->sp.off;
}

/* llm_bi_passage_ok keeps prose: 40..500 bytes, 6+ words, no markup
 * lines (headings, tables, front matter, bare links). */
static int llm_bi_passage_ok(const char *s, size_t n)
{
    size_t i = 0, words = 0;
    char w[33];

    if (n < 40 || n > 500 || s[0] == '#' || s[0] == '|' || s[0] == '-' ||
        s[0] == '{' || s[0] == '<' || s[0] == '!' || s[0] == '[')
        return 0;
    while (llm_bi_word(s, n, &i, w) > 0)
        words++;
    return words >= 6;
}

/* llm_bi_signals: figures, percentages, mid-sentence capitalised names and
 * outcome words each add weight to a passage. */
static double llm_bi_signals(const char *s, size_t n)
{
    double v = 0;
    size_t i;
    int digits = 0, names = 0;

    for (i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digits = 1;
        if (s[i] == '%' || s[i] == '$')
            v += 0.15;
        if (i > 1 && s[i - 1] == ' ' && isupper((unsigned char)s[i]) &&
            s[i - 2] != '.' && s[i - 2] != ':')
            names++;
    }
    if (digits)
        v += 0.2;
    if (names)
        v += names > 3 ? 0.15 : 0.05 * names;
    v += 0.2 * llm_bi_count(s, n, llm_lex_outcome);
    return v > 0.8 ? 0.8 : v;
}

static sw_err llm_bi_passages(const struct llm_doc *d, struct llm_bi_sent **out,
                              size_t *n_out)
{
    struct llm_span *sp = NULL;
    struct llm_bi_sent *ss = NULL;
    double *vec = NULL, *cent = NULL, *df = NULL, norm, cn, dot;
    size_t n = 0, i, k, j, p, wl;
    char w[33];
    sw_err rc;

    *out = NULL;
    *n_out = 0;
    rc = llm_text_sentences(d->text, d->len, LLM_BI_MAX_SENTS, &sp, &n);
    if (rc || n == 0)
        goto out;
    ss = sw_calloc(n, sizeof(*ss));
    vec = sw_calloc(n * LLM_BI_DIM, sizeof(*vec));
    cent = sw_calloc(LLM_BI_DIM, sizeof(*cent));
    df = sw_calloc(LLM_BI_DIM, sizeof(*df));
    if (ss == NULL || vec == NULL || cent == NULL || df == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    /* Term frequencies per sentence, document frequencies per bucket. */
    for (i = 0; i < n; i++) {
        const char *s = d->text + sp[i].off;
        double *v = vec + i * LLM_BI_DIM;
        p = 0;
        while ((wl = llm_bi_word(s, sp[i].len, &p, w)) > 0) {
            if (wl < 3 || llm_bi_is_stop(w, wl))
                continue;
            v[llm_bi_hash(w, wl) % LLM_BI_DIM] += 1;
        }
        for (j = 0; j < LLM_BI_DIM; j++)
            if (v[j] > 0)
                df[j] += 1;
    }
    /* TF-IDF, unit length, and the centroid of all sentences. */
    for (i = 0; i < n; i++) {
        double *v = vec + i * LLM_BI_DIM;
        norm = 0;
        for (j = 0; j < LLM_BI_DIM; j++) {
            if (v[j] > 0)
                v[j] = (1 + log(v[j])) * log(1.0 + (double)n / df[j]);
            norm += v[j] * v[j];
        }
        norm = sqrt(norm);
        for (j = 0; norm > 0 && j < LLM_BI_DIM; j++) {
            v[j] /= norm;
            cent[j] += v[j];
        }
    }
    cn = 0;
    for (j = 0; j < LLM_BI_DIM; j++)
        cn += cent[j] * cent[j];
    cn = sqrt(cn);
    k = 0;
    for (i = 0; i < n; i++) {
        const char *s = d->text + sp[i].off;
        if (!llm_bi_passage_ok(s, sp[i].len))
            continue;
        dot = 0;
        for (j = 0; j < LLM_BI_DIM; j++)
            dot += vec[i * LLM_BI_DIM + j] * cent[j];
        ss[k].sp = sp[i];
        ss[k].score = (cn > 0 ? dot / cn : 0) + llm_bi_signals(s, sp[i].len);
        k++;
    }
    qsort(ss, k, sizeof(*ss), llm_bi_by_score);
    if (k > LLM_BI_PASSAGES)
        k = LLM_BI_PASSAGES;
    qsort(ss, k, sizeof(*ss), llm_bi_by_off);
    if (k > 0) {
        *out = ss;
        *n_out = k;
        ss = NULL;
    }
out:
    sw_free(sp);
    sw_free(ss);
    sw_free(vec);
    sw_free(cent);
    sw_free(df);
    return rc;
}

/* --- Tags -------------------------------------------------------------- */

static const char *llm_bi_first(const struct llm_lex_rule *r, size_t nr,
                                const char *s, size_t n, const char *dflt)
{
    size_t i;

    for (i = 0; i < nr; i++)
        if (llm_bi_any(s, n, r[i].phrases))
            return r[i].value;
    return dflt;
}

/* llm_bi_topics appends up to max topic values, most mentioned first, as
 * JSON strings separated by commas; "other" when none match. */
static sw_err llm_bi_topics(const char *s, size_t n, size_t max, int with_other,
                            struct sw_buf *b)
{
    int cnt[32] = {0}, best;
    size_t i, k, bi = 0, emitted = 0;
    sw_err rc = SW_OK;

    for (i = 0; i < llm_lex_topic_n && i < 32; i++)
        cnt[i] = llm_bi_count(s, n, llm_lex_topic[i].phrases);
    for (k = 0; k < max && rc == SW_OK; k++) {
        best = 0;
        for (i = 0; i < llm_lex_topic_n && i < 32; i++)
            if (cnt[i] > best) {
                best = cnt[i];
                bi = i;
            }
        if (best == 0)
            break;
        cnt[bi] = 0;
        rc = sw_buf_printf(b, "%s\"%s\"", emitted ? "," : "",
                           llm_lex_topic[bi].value);
        emitted++;
    }
    if (rc == SW_OK && emitted == 0 && with_other)
        rc = sw_buf_addstr(b, "\"other\"");
    return rc;
}

/* --- Outbound ---------------------------------------------------------- */

static sw_err llm_bi_outbound(const struct llm_input *in, struct sw_buf *b)
{
    struct llm_span *sp = NULL;
    struct llm_bi_sent *ps = NULL;
    struct sw_buf all;
    size_t n = 0, i, k, doc, np = 0, nf = 0;
    sw_err rc;

    sw_buf_init(&all, 64u << 20);
    rc = sw_buf_addstr(b, "{\"framings\":[");
    if (rc)
        goto out;
    if (in->n_docs > 0) {
        rc = llm_text_sentences(in->text, in->len, LLM_BI_MAX_SENTS, &sp, &n);
        if (rc)
            goto out;
    }
    for (i = 0; i < n && nf < LLM_BI_FRAMINGS; i++) {
        const char *s = in->text + sp[i].off;
        if (llm_builtin_framing_score(in, s, sp[i].len, &doc) == 0 &&
            !(i > 0 && llm_bi_positions(in, sp, i, &doc)))
            continue;
        rc = sw_buf_printf(b, "%s{\"text\":", nf ? "," : "");
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(b, s, sp[i].len);
        if (rc == SW_OK)
            rc = sw_buf_addstr(b, ",\"content\":");
        if (rc == SW_OK)
            rc = sw_buf_add_json_str(b, in->docs[doc].name,
                                     strlen(in->docs[doc].name));
        if (rc == SW_OK)
            rc = sw_buf_printf(b, ",\"start\":%zu}", sp[i].off);
        if (rc)
            goto out;
        nf++;
    }
    rc = sw_buf_addstr(b, "],\"passages\":[");
    /* Three passages a document: past 13 documents the schema's cap is
     * what stops, and the first documents keep theirs. */
    for (k = 0, nf = 0;
         rc == SW_OK && k < in->n_docs && nf < LLM_BI_PASSAGES_MAX; k++) {
        rc = llm_bi_passages(&in->docs[k], &ps, &np);
        for (i = 0; rc == SW_OK && i < np && nf < LLM_BI_PASSAGES_MAX; i++) {
            rc = sw_buf_printf(b, "%s{\"content\":", nf++ ? "," : "");
            if (rc == SW_OK)
                rc = sw_buf_add_json_str(b, in->docs[k].name,
                                         strlen(in->docs[k].name));
            if (rc == SW_OK)
                rc = sw_buf_addstr(b, ",\"text\":");
            if (rc == SW_OK)
                rc = sw_buf_add_json_str(b, in->docs[k].text + ps[i].sp.off,
                                         ps[i].sp.len);
            if (rc == SW_OK)
                rc = sw_buf_printf(b, ",\"start\":%zu}", ps[i].sp.off);
        }
        sw_free(ps);
        ps = NULL;
    }
    if (rc)
        goto out;
    /* Tags read the email first, then the documents' text. */
    rc = sw_buf_add(&all, in->text, in->len);
    for (k = 0; rc == SW_OK && k < in->n_docs; k++) {
        rc = sw_buf_addc(&all, '\n');
        if (rc == SW_OK)
            rc = sw_buf_add(&all, in->docs[k].text, in->docs[k].len);
    }
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, "],\"tags\":{\"topic\":[");
    if (rc == SW_OK)
        rc = llm_bi_topics(sw_buf_str(&all), sw_buf_len(&all), 5, 1, b);
    if (rc == SW_OK)
        rc = sw_buf_printf(
            b, "],\"intent\":\"%s\",\"persona\":\"%s\",\"stage\":\"%s\"}}",
            llm_bi_first(llm_lex_intent, llm_lex_intent_n, in->text, in->len,
                         in->n_docs ? "share_content" : "other"),
            llm_bi_first(llm_lex_persona, llm_lex_persona_n, in->text, in->len,
                         "unknown"),
            llm_bi_first(llm_lex_stage, llm_lex_stage_n, in->text, in->len,
                         "unknown"));
out:
    sw_free(sp);
    sw_buf_free(&all);
    return rc;
}

/* --- Replies ----------------------------------------------------------- */

/* llm_bi_has_link: s[0..n) holds a URL, a mailto or an email address, or
 * a host name with a path ("lumen.example.com/prefs"). */
static int llm_bi_has_link(const char *s, size_t n)
{
    size_t i, dot = 0;

    if (memmem(s, n, "://", 3) != NULL || memmem(s, n, "www.", 4) != NULL ||
        memmem(s, n, "mailto:", 7) != NULL)
        return 1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            dot = 0;
        } else if (c == '.' && i + 1 < n && isalnum((unsigned char)s[i + 1])) {
            dot = 1;
        } else if (c == '@' && i > 0 && i + 1 < n &&
                   memchr(s + i, '.', n - i) != NULL &&
                   isalnum((unsigned char)s[i - 1])) {
            return 1;
        } else if (c == '/' && dot) {
            return 1;
        }
    }
    return 0;
}

/* llm_bi_footer_start: where a signature or list footer begins, the first
 * line that is "--" or "---" (RFC 3676's "-- " included) after some text;
 * n when none. What follows is the mail client's or the company's, not
 * the writer's answer. */
static size_t llm_bi_footer_start(const char *s, size_t n)
{
    size_t i = 0, text = 0;

    while (i < n) {
        size_t e = i, a, b;
        while (e < n && s[e] != '\n')
            e++;
        for (a = i; a < e && isspace((unsigned char)s[a]); a++)
            ;
        for (b = e; b > a && isspace((unsigned char)s[b - 1]); b--)
            ;
        /* Bounded by the line: text[0..n) need not end in a NUL. */
        if ((b - a == 2 || b - a == 3) && s[a] == '-' && s[a + 1] == '-' &&
            s[b - 1] == '-') {
            if (text)
                return i;
        } else if (b > a) {
            text = 1;
        }
        i = e + 1;
    }
    return n;
}

/* llm_bi_bare_no: the sentence is a bare refusal ("No.", "haha no", "No.
 * Just no.", "Nope, sorry"): every word in llm_lex_bare_no, one of them
 * "no", "nope" or "nah". */
static int llm_bi_bare_no(const char *s, size_t n)
{
    size_t i = 0, k;
    int no = 0;

    while (i < n) {
        size_t w;
        while (i < n && !isalpha((unsigned char)s[i]))
            i++;
        for (w = i; i < n && isalpha((unsigned char)s[i]); i++)
            ;
        if (i == w)
            break;
        for (k = 0; llm_lex_bare_no[k]; k++)
            if (strlen(llm_lex_bare_no[k]) == i - w &&
                strncasecmp(llm_lex_bare_no[k], s + w, i - w) == 0)
                break;
        if (llm_lex_bare_no[k] == NULL)
            return 0;
        no |= k < 3;
    }
    return no;
}

/* llm_bi_word_in: the word s[0..n) is one of list (llm_text_icontains's
 * matching: any case, '*' a prefix). */
static int llm_bi_word_in(const char *s, size_t n, const char *const *list)
{
    size_t k;

    for (k = 0; list[k]; k++)
        if (llm_text_icontains(s, n, list[k]))
            return 1;
    return 0;
}

/* A sentence's first words that the negation rule reads: a refusal is
 * said early, and a "sentence" of thousands of words (a log, a list
 * without stops) would otherwise cost a lookup per word per rule. */
#define LLM_BI_NEG_WORDS 200

/* llm_bi_negated: a negator (llm_lex_negator) followed within two words
 * by what a refusal negates (llm_lex_neg_target): "we don't really need
 * it", "not something we'd consider", "nobody wanted it". */
static int llm_bi_negated(const char *s, size_t n)
{
    size_t i = 0, since = 3, words = 0;

    while (i < n && words++ < LLM_BI_NEG_WORDS) {
        size_t w;
        while (i < n && !isalnum((unsigned char)s[i]) && s[i] != '\'' &&
               (unsigned char)s[i] < 0x80)
            i++;
        for (w = i; i < n && (isalnum((unsigned char)s[i]) || s[i] == '\'' ||
                              (unsigned char)s[i] >= 0x80);
             i++)
            ;
        if (i == w)
            break;
        if (since < 3 && llm_bi_word_in(s + w, i - w, llm_lex_neg_target))
            return 1;
        if (llm_bi_word_in(s + w, i - w, llm_lex_negator))
            since = 0;
        else
            since++;
    }
    return 0;
}

/* llm_bi_blank: s[0..n) holds nothing a quote can keep, only whitespace
 * and U+00A0 (an HTML mail's &nbsp; lines), which the validator's
 * normalisation removes. */
static int llm_bi_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (isspace((unsigned char)s[i]))
            continue;
        if (i + 1 < n && (unsigned char)s[i] == 0xC2 &&
            (unsigned char)s[i + 1] == 0xA0) {
            i++;
            continue;
        }
        return 0;
    }
    return 1;
}

/* llm_bi_reply_rule: the first reply rule (index) that sentence s[0..n)
 * matches, llm_lex_reply_n when none. */
static size_t llm_bi_reply_rule(const char *s, size_t n)
{
    size_t r;

    for (r = 0; r < llm_lex_reply_n; r++) {
        const char *v = llm_lex_reply[r].value;
        if (!llm_bi_any(s, n, llm_lex_reply[r].phrases)) {
            if (strcmp(v, "NEGATIVE") == 0 &&
                (llm_bi_bare_no(s, n) || llm_bi_negated(s, n)))
                return r;
            continue;
        }
        /* "Unsubscribe" beside a link or an address is a list footer or a
         * List-Unsubscribe header, not the reader asking to leave, unless
         * the sentence asks too ("remove me from ..."). */
        if (strcmp(v, "UNSUBSCRIBE") == 0 && llm_bi_has_link(s, n) &&
            !llm_bi_any(s, n, llm_lex_unsub_ask))
            continue;
        return r;
    }
    return r;
}

const char *llm_builtin_reply_label(const char *text, size_t n, size_t *ev_off,
                                    size_t *ev_len)
{
    struct llm_span *sp = NULL;
    size_t ns = 0, i, r, best_r = llm_lex_reply_n, best_s = 0, first = 0;
    size_t footer = llm_bi_footer_start(text, n);
    int have_first = 0;

    *ev_off = 0;
    *ev_len = 0;
    if (llm_text_sentences(text, n, LLM_BI_MAX_SENTS, &sp, &ns) != SW_OK ||
        ns == 0) {
        sw_free(sp);
        *ev_len = n;
        return "NEUTRAL";
    }
    for (i = 0; i < ns && sp[i].off < footer; i++) {
        const char *s = text + sp[i].off;
        if (llm_bi_blank(s, sp[i].len))
            continue; /* matches no rule and cannot be the evidence */
        if (!have_first && !llm_bi_is_greeting(s, sp[i].len)) {
            first = i;
            have_first = 1;
        }
        r = llm_bi_reply_rule(s, sp[i].len);
        if (r < best_r) {
            best_r = r;
            best_s = i;
        }
    }
    /* No rule matched: the first sentence that is no greeting, else the
     * first with something to quote. */
    for (; !have_first && first + 1 < ns; first++)
        if (!llm_bi_blank(text + sp[first].off, sp[first].len))
            break;
    if (best_r == llm_lex_reply_n)
        best_s = first;
    *ev_off = sp[best_s].off;
    *ev_len = sp[best_s].len;
    sw_free(sp);
    return best_r == llm_lex_reply_n ? "NEUTRAL" : llm_lex_reply[best_r].value;
}

static sw_err llm_bi_reply(const struct llm_input *in, struct sw_buf *b)
{
    size_t off, len;
    const char *label = llm_builtin_reply_label(in->text, in->len, &off, &len);
    sw_err rc;

    /* The schema caps the evidence (LLM_BI_EVIDENCE_MAX bytes): a longer
     * "sentence" (a run-on or unpunctuated block) is cut at the last space
     * before the cap, which keeps it a verbatim, grounded quote. */
    if (len > LLM_BI_EVIDENCE_MAX) {
        size_t cut = LLM_BI_EVIDENCE_MAX;
        while (cut > 0 && in->text[off + cut] != ' ')
            cut--;
        len = cut > 0 ? cut : LLM_BI_EVIDENCE_MAX;
        /* Never end inside a UTF-8 sequence. */
        while (len > 0 && ((unsigned char)in->text[off + len] & 0xC0) == 0x80)
            len--;
    }
    rc = sw_buf_printf(b, "{\"label\":\"%s\",\"evidence\":", label);
    if (rc == SW_OK)
        rc = sw_buf_add_json_str(b, in->text + off, len);
    if (rc == SW_OK)
        rc = sw_buf_addc(b, '}');
    return rc;
}

/* --- Query ------------------------------------------------------------- */

static sw_err llm_bi_query(const struct llm_input *in, struct sw_buf *b)
{
    struct sw_buf q;
    size_t i = 0, wl, nw = 0, k;
    char w[33];
    sw_err rc;

    sw_buf_init(&q, 500);
    /* The query: the first 12 distinct content words, in order. */
    while (nw < 12 && (wl = llm_bi_word(in->text, in->len, &i, w)) > 0) {
        if (wl < 3 || llm_bi_is_stop(w, wl))
            continue;
        w[wl] = '\0';
        if (llm_text_icontains(sw_buf_str(&q), sw_buf_len(&q), w))
            continue;
        if (sw_buf_printf(&q, "%s%s", nw ? " " : "", w) != SW_OK)
            break;
        nw++;
    }
    if (nw == 0)
        if (sw_buf_addstr(&q, "content")) {
            /* cannot fail: the buffer is empty and small */
        }
    rc = sw_buf_addstr(b, "{\"query\":");
    if (rc == SW_OK)
        rc = sw_buf_add_json_str(b, sw_buf_str(&q), sw_buf_len(&q));
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, ",\"topics\":[");
    if (rc == SW_OK)
        rc = llm_bi_topics(in->text, in->len, 5, 0, b);
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, "],\"date_range\":{\"start_unix_ms\":null,"
                              "\"end_unix_ms\":null},\"content_kinds\":[");
    for (k = 0, nw = 0; rc == SW_OK && k < llm_lex_kind_n; k++)
        if (llm_bi_any(in->text, in->len, llm_lex_kind[k].phrases))
            rc = sw_buf_printf(b, "%s\"%s\"", nw++ ? "," : "",
                               llm_lex_kind[k].value);
    if (rc == SW_OK)
        rc = sw_buf_addstr(b, "]}");
    sw_buf_free(&q);
    return rc;
}

sw_err llm_builtin_extract(const struct llm_schema *s,
                           const struct llm_input *in, struct sw_buf *out)
{
    if (s == &llm_schema_outbound)
        return llm_bi_outbound(in, out);
    if (s == &llm_schema_reply)
        return llm_bi_reply(in, out);
    if (s == &llm_schema_query)
        return llm_bi_query(in, out);
    return SW_EUNIMPL;
}

/* --- The provider ------------------------------------------------------ */

static sw_err llm_bi_complete(struct llm_provider *p,
                              const struct llm_request *r,
                              struct llm_response *out)
{
    struct sw_buf b;
    size_t i;
    sw_err rc;

    (void)p;
    sw_buf_init(&b, 16u << 20);
    rc = llm_builtin_extract(r->schema, r->in, &b);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &out->content, &out->len);
    sw_buf_free(&b);
    if (rc)
        return rc;
    /* Builtin "tokens": words read and written, so budgets and the journal
     * mean something offline too. */
    for (i = 0; i < r->n_msgs; i++)
        out->prompt_tokens += (int64_t)strlen(r->msgs[i].content) / 4;
    out->completion_tokens = (int64_t)out->len / 4;
    return SW_OK;
}

static void llm_bi_destroy(struct llm_provider *p)
{
    (void)p;
}

static const struct llm_provider_ops llm_bi_ops = {
    llm_bi_complete,
    llm_bi_destroy,
};

sw_err llm_provider_builtin_new(struct llm_provider **out)
{
    struct llm_provider *p = sw_calloc(1, sizeof(*p));

    if (p == NULL)
        return SW_ENOMEM;
    p->ops = &llm_bi_ops;
    p->name = sw_strdup("builtin");
    p->model = sw_strdup("builtin-v1");
    p->no_cost = 1;
    if (p->name == NULL || p->model == NULL) {
        llm_provider_free(&p);
        return SW_ENOMEM;
    }
    *out = p;
    return SW_OK;
}
