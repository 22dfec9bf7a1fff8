/* query: the built-in query decomposition (see query.h). The text is cut
 * into lowercase tokens of letters, digits, '-' and '/'; content kinds and
 * topics come from lexicons of tokens and two-token phrases, and the date
 * range from the first date expression, read token by token. */
#include "ranker/query.h"

#include <assert.h>
#include <string.h>

#define RANK_QUERY_TOKENS 1024
#define RANK_TOKEN_MAX 32
#define DAY_MS 86400000LL

struct rank_toks {
    char t[RANK_QUERY_TOKENS][RANK_TOKEN_MAX];
    size_t n;
};

/* --- Tokens -------------------------------------------------------------- */

static int rank_tokchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '/';
}

static void rank_tokenize(const char *text, struct rank_toks *tk)
{
    size_t i, len = 0, cap = RANK_QUERY_TEXT_MAX;
    char cur[RANK_TOKEN_MAX];

    tk->n = 0;
    for (i = 0; text && i <= cap && tk->n < RANK_QUERY_TOKENS; i++) {
        char c = i < cap ? text[i] : '\0';
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != '\0' && rank_tokchar(c)) {
            if (len + 1 < sizeof(cur))
                cur[len++] = c;
            continue;
        }
        while (len > 0 && (cur[len - 1] == '-' || cur[len - 1] == '/'))
            len--;
        if (len > 0) {
            size_t s = 0;
            while (s < len && (cur[s] == '-' || cur[s] == '/'))
                s++;
            if (s < len) {
                memcpy(tk->t[tk->n], cur + s, len - s);
                tk->t[tk->n][len - s] = '\0';
                tk->n++;
            }
        }
        len = 0;
        if (c == '\0')
            break;
    }
}

static const char *rank_tok(const struct rank_toks *tk, size_t i)
{
    return i < tk->n ? tk->t[i] : "";
}

static int rank_is(const struct rank_toks *tk, size_t i, const char *w)
{
    return i < tk->n && strcmp(tk->t[i], w) == 0;
}

/* rank_in_list: tk[i] is one of the words of a NULL-ended list. */
static int rank_in_list(const struct rank_toks *tk, size_t i,
                        const char *const *list)
{
    for (; *list; list++)
        if (rank_is(tk, i, *list))
            return 1;
    return 0;
}

/* rank_phrase_at: the phrase p (one or two words, space-separated) starts
 * at token i; returns its length in tokens, or 0. */
static size_t rank_phrase_at(const struct rank_toks *tk, size_t i,
                             const char *p)
{
    const char *sp = strchr(p, ' ');
    size_t n;

    if (sp == NULL)
        return rank_is(tk, i, p) ? 1 : 0;
    n = (size_t)(sp - p);
    if (i + 1 >= tk->n || strlen(tk->t[i]) != n ||
        memcmp(tk->t[i], p, n) != 0 || strcmp(tk->t[i + 1], sp + 1) != 0)
        return 0;
    return 2;
}

/* --- Lexicons ------------------------------------------------------------ */

/* A lexicon: its phrases (one or two words), ready to compare with tokens
 * as they are, nothing split or copied per call. */
struct rank_lex {
    int kind;                   /* ContentKind, or the topic's index */
    const char *const *phrases; /* NULL-ended */
};

static const struct rank_lex rank_kind_lex[] = {
    {RANK_KIND_PDF, (const char *const[]){"pdf", "pdfs", NULL}},
    {RANK_KIND_PRESENTATION,
     (const char *const[]){"deck", "decks", "slides", "slide deck",
                           "presentation", "presentations", "pptx", "ppt",
                           "powerpoint", "keynote", NULL}},
    {RANK_KIND_SPREADSHEET,
     (const char *const[]){"spreadsheet", "spreadsheets", "xlsx", "xls",
                           "excel", "csv", "sheet", "sheets", "workbook",
                           NULL}},
    {RANK_KIND_DOCUMENT,
     (const char *const[]){"document", "doc", "docx", "word document",
                           "word doc", "word file", "odt", NULL}},
    {RANK_KIND_IMAGE,
     (const char *const[]){"image", "images", "screenshot", "screenshots",
                           "png", "jpg", "jpeg", "picture", "photo", NULL}},
    {RANK_KIND_HTML, (const char *const[]){"html", "web page", "webpage",
                                           "landing page", NULL}},
    {RANK_KIND_TEXT, (const char *const[]){"txt", "text file", NULL}},
};

static const char *const rank_topic_names[] = {
    "pricing", "security", "onboarding", "case study", "integration",
    "roi",     "contract", "product",    "proposal",   "renewal",
};

static const struct rank_lex rank_topic_lex[] = {
    {0,
     (const char *const[]){"pricing", "price", "prices", "cost", "costs",
                           "quote", "quotes", "discount", "discounts", "seats",
                           "licenses", "licences", "pricing sheet", NULL}},
    {1, (const char *const[]){"security", "soc", "soc2", "gdpr", "compliance",
                              "pen test", "pentest", "penetration", "27001",
                              "hipaa", "encryption", "dpa", NULL}},
    {2, (const char *const[]){"onboarding", "onboarded", "implementation",
                              "go-live", "golive", "rollout", "deployment",
                              "training", NULL}},
    {3, (const char *const[]){"case study", "case studies", "customer story",
                              "customer stories", "reference", "references",
                              "testimonial", "testimonials", NULL}},
    {4, (const char *const[]){"integration", "integrations", "api", "sso",
                              "salesforce", "hubspot", "architecture",
                              "webhook", "webhooks", NULL}},
    {5, (const char *const[]){"roi", "business case", "savings", "tco",
                              "payback", NULL}},
    {6, (const char *const[]){"contract", "contracts", "msa", "agreement",
                              "agreements", "order form", "terms", "redlines",
                              NULL}},
    {7, (const char *const[]){"product", "roadmap", "demo", "dashboard",
                              "features", "release notes", NULL}},
    {8, (const char *const[]){"proposal", "proposals", "rfp", NULL}},
    {9, (const char *const[]){"renewal", "renewals", "renew", NULL}},
};

/* Words that make a text speak of a file. */
static const char *const rank_doc_words[] = {
    "attached",  "attach",     "attaching",  "attachment",  "attachments",
    "one-pager", "whitepaper", "guide",      "report",      "brochure",
    "datasheet", "checklist",  "template",   "certificate", "materials",
    "file",      "files",      "overview",   "study",       "proposal",
    "list",      "sheet",      "calculator", "send",        "sending",
    "sent",      "share",      "sharing",    "resend",      "notes",
    "update",    "analysis",   "version",    "page",        NULL};

/* rank_lex_at: the length in tokens of one of the phrases at token i, or
 * 0. */
static size_t rank_lex_at(const struct rank_toks *tk, size_t i,
                          const char *const *phrases)
{
    size_t got;

    for (; *phrases; phrases++) {
        got = rank_phrase_at(tk, i, *phrases);
        if (got)
            return got;
    }
    return 0;
}

static void rank_add_kind(struct rank_query *q, int kind)
{
    size_t i;

    for (i = 0; i < q->n_kinds; i++)
        if (q->kinds[i] == kind)
            return;
    if (q->n_kinds < RANK_QUERY_KINDS)
        q->kinds[q->n_kinds++] = kind;
}

/* --- Dates --------------------------------------------------------------- */

int64_t rank_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void rank_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* A date expression's range, in days since the epoch. */
struct rank_span {
    int64_t lo, hi; /* [lo, hi) */
};

static struct rank_span rank_months(int64_t y, int m, int n)
{
    struct rank_span s;
    int64_t y2 = y + (m - 1 + n) / 12;
    int m2 = (m - 1 + n) % 12 + 1;

    s.lo = rank_days_from_civil(y, m, 1);
    s.hi = rank_days_from_civil(y2, m2, 1);
    return s;
}

static int rank_digits(const char *s, size_t n)
{
    size_t i;

    if (strlen(s) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int rank_num(const char *s, size_t from, size_t n)
{
    int v = 0;
    size_t i;

    for (i = from; i < from + n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* rank_year: token i is a year of this century's span, 2000-2099. */
static int rank_year(const struct rank_toks *tk, size_t i)
{
    int y;

    if (!rank_digits(rank_tok(tk, i), 4))
        return 0;
    y = rank_num(tk->t[i], 0, 4);
    return y >= 2000 && y <= 2099 ? y : 0;
}

/* rank_day: token i is a day of the month ("3", "03", "3rd", "14th"). */
static int rank_day(const struct rank_toks *tk, size_t i)
{
    const char *s = rank_tok(tk, i);
    size_t n = 0;
    int v;

    while (s[n] >= '0' && s[n] <= '9')
        n++;
    if (n == 0 || n > 2)
        return 0;
    if (s[n] != '\0' && strcmp(s + n, "st") != 0 && strcmp(s + n, "nd") != 0 &&
        strcmp(s + n, "rd") != 0 && strcmp(s + n, "th") != 0)
        return 0;
    v = rank_num(s, 0, n);
    return v >= 1 && v <= 31 ? v : 0;
}

static const char *const rank_month_names[12][2] = {
    {"january", "jan"}, {"february", "feb"}, {"march", "mar"},
    {"april", "apr"},   {"may", "may"},      {"june", "jun"},
    {"july", "jul"},    {"august", "aug"},   {"september", "sep"},
    {"october", "oct"}, {"november", "nov"}, {"december", "dec"},
};

static int rank_month(const struct rank_toks *tk, size_t i)
{
    int m;

    for (m = 0; m < 12; m++)
        if (rank_is(tk, i, rank_month_names[m][0]) ||
            rank_is(tk, i, rank_month_names[m][1]) ||
            (m == 8 && rank_is(tk, i, "sept")))
            return m + 1;
    return 0;
}

/* Words after which a bare year or month reads as a date. */
static const char *const rank_date_lead[] = {
    "in",  "from",  "since", "before", "after", "during", "of",  "the", "our",
    "for", "until", "last",  "this",   "early", "late",   "mid", "end", NULL};

/* Words after a number that make it a quantity, not a year. */
static const char *const rank_quantity[] = {
    "seats",     "seat",   "users",     "user",     "licenses", "licences",
    "employees", "people", "customers", "accounts", "units",    "reps",
    "dollars",   "euros",  "hours",     "days",     "minutes",  NULL};

struct rank_today {
    int64_t days; /* now, in days since the epoch */
    int64_t y;
    int m, d;
};

/* rank_latest_year is the year of the latest month m that has begun. */
static int64_t rank_latest_year(const struct rank_today *now, int m)
{
    return m <= now->m ? now->y : now->y - 1;
}

/* rank_numeric_date reads YYYY-MM-DD (returns 3), YYYY-MM, YYYY/MM or
 * MM/YYYY (returns 2) with a year 2000-2099; 0 for anything else. */
static int rank_numeric_date(const char *w, int *y, int *m, int *d)
{
    char digits[11];
    size_t n = strlen(w), i, k = 0;
    int sep[3], ns = 0;

    if (n < 6 || n > 10)
        return 0;
    for (i = 0; i < n; i++) {
        if (w[i] == '-' || w[i] == '/') {
            if (ns == 2)
                return 0;
            sep[ns++] = (int)k;
        } else if (w[i] >= '0' && w[i] <= '9') {
            digits[k++] = w[i];
        } else {
            return 0;
        }
    }
    digits[k] = '\0';
    if (ns == 2 && k == 8 && sep[0] == 4 && sep[1] == 6) {
        *y = rank_num(digits, 0, 4);
        *m = rank_num(digits, 4, 2);
        *d = rank_num(digits, 6, 2);
    } else if (ns == 1 && k == 6 && sep[0] == 4) {
        *y = rank_num(digits, 0, 4);
        *m = rank_num(digits, 4, 2);
        *d = 1;
    } else if (ns == 1 && (k == 5 || k == 6) && sep[0] == (int)k - 4 &&
               strchr(w, '/')) {
        *m = rank_num(digits, 0, k - 4);
        *y = rank_num(digits, k - 4, 4);
        *d = 1;
    } else {
        return 0;
    }
    if (*y < 2000 || *y > 2099 || *m < 1 || *m > 12 || *d < 1 || *d > 31)
        return 0;
    return ns == 2 ? 3 : 2;
}

/* rank_date_at reads a date expression starting at token i into *s and
 * returns its length in tokens, or 0. */
static size_t rank_date_at(const struct rank_toks *tk, size_t i,
                           const struct rank_today *now, struct rank_span *s)
{
    const char *w = rank_tok(tk, i);
    int y, m, d, qn;

    /* ISO and numeric forms: 2026-02-14, 2025-11, 2026/03, 11/2025. */
    switch (rank_numeric_date(w, &y, &m, &d)) {
    case 3:
        s->lo = rank_days_from_civil(y, m, d);
        s->hi = s->lo + 1;
        return 1;
    case 2:
        *s = rank_months(y, m, 1);
        return 1;
    default:
        break;
    }
    /* Quarters and halves: Q3 2025, Q2, H1 2026. */
    if (strlen(w) == 2 && (w[0] == 'q' || w[0] == 'h') && w[1] >= '1' &&
        w[1] <= (w[0] == 'q' ? '4' : '2')) {
        int months = w[0] == 'q' ? 3 : 6;
        qn = w[1] - '0';
        m = (qn - 1) * months + 1;
        y = rank_year(tk, i + 1);
        if (y) {
            *s = rank_months(y, m, months);
            return 2;
        }
        *s = rank_months(rank_latest_year(now, m), m, months);
        return 1;
    }
    /* Day month year: 3 March 2026. */
    if ((d = rank_day(tk, i)) != 0 && (m = rank_month(tk, i + 1)) != 0 &&
        (y = rank_year(tk, i + 2)) != 0) {
        s->lo = rank_days_from_civil(y, m, d);
        s->hi = s->lo + 1;
        return 3;
    }
    if ((m = rank_month(tk, i)) != 0) {
        /* "may" is a verb far more often than a month. */
        int lead = i > 0 && rank_in_list(tk, i - 1, rank_date_lead);
        if ((d = rank_day(tk, i + 1)) != 0 && (y = rank_year(tk, i + 2))) {
            s->lo = rank_days_from_civil(y, m, d); /* March 3, 2026 */
            s->hi = s->lo + 1;
            return 3;
        }
        if ((y = rank_year(tk, i + 1)) != 0) { /* March 2026 */
            *s = rank_months(y, m, 1);
            return 2;
        }
        if (m != 5 || lead) { /* in March: the latest March begun */
            *s = rank_months(rank_latest_year(now, m), m, 1);
            return 1;
        }
        return 0;
    }
    /* Relative: yesterday, last/this/past week|month|quarter|year ("today"
     * is how people write, not a date they ask about). */
    if (rank_is(tk, i, "yesterday")) {
        s->lo = now->days - 1;
        s->hi = s->lo + 1;
        return 1;
    }
    if (rank_is(tk, i, "last") || rank_is(tk, i, "this") ||
        rank_is(tk, i, "past") || rank_is(tk, i, "previous")) {
        int back = !rank_is(tk, i, "this");
        int64_t wd;
        if (rank_is(tk, i + 1, "week")) {
            /* Weeks begin on Monday; 1970-01-01 was a Thursday. */
            wd = ((now->days % 7) + 7 + 3) % 7;
            s->lo = now->days - wd - (back ? 7 : 0);
            s->hi = s->lo + 7;
            if (back && rank_is(tk, i, "past")) { /* the past 7 days */
                s->lo = now->days - 7;
                s->hi = now->days + 1;
            }
            return 2;
        }
        if (rank_is(tk, i + 1, "month")) {
            y = (int)now->y;
            m = now->m - back;
            if (m == 0) {
                m = 12;
                y--;
            }
            *s = rank_months(y, m, 1);
            return 2;
        }
        if (rank_is(tk, i + 1, "quarter")) {
            m = (now->m - 1) / 3 * 3 + 1 - 3 * back;
            y = (int)now->y;
            if (m < 1) {
                m += 12;
                y--;
            }
            *s = rank_months(y, m, 3);
            return 2;
        }
        if (rank_is(tk, i + 1, "year")) {
            *s = rank_months(now->y - back, 1, 12);
            return 2;
        }
        return 0;
    }
    /* A year alone, where it reads as a date. */
    if ((y = rank_year(tk, i)) != 0 && i > 0 &&
        rank_in_list(tk, i - 1, rank_date_lead) &&
        !rank_in_list(tk, i + 1, rank_quantity)) {
        *s = rank_months(y, 1, 12);
        return 1;
    }
    return 0;
}

/* rank_find_range sets q's range from the first date expression. */
static void rank_find_range(const struct rank_toks *tk, int64_t now_ms,
                            struct rank_query *q)
{
    struct rank_today now;
    struct rank_span s;
    size_t i;
    int open_end, open_start;

    now.days = now_ms >= 0 ? now_ms / DAY_MS : (now_ms - DAY_MS + 1) / DAY_MS;
    rank_civil_from_days(now.days, &now.y, &now.m, &now.d);
    for (i = 0; i < tk->n; i++) {
        if (rank_date_at(tk, i, &now, &s) == 0)
            continue;
        assert(s.hi > s.lo);
        open_end = i > 0 &&
                   (rank_is(tk, i - 1, "since") || rank_is(tk, i - 1, "after"));
        open_start = i > 0 && (rank_is(tk, i - 1, "before") ||
                               rank_is(tk, i - 1, "until"));
        q->has_range = 1;
        q->start_ms = open_start ? 0 : s.lo * DAY_MS;
        q->end_ms = open_end ? 0 : (open_start ? s.lo : s.hi) * DAY_MS;
        return;
    }
}

/* --- The decomposition --------------------------------------------------- */

void rank_query_decompose(const char *text, int64_t now_ms,
                          struct rank_query *out)
{
    struct rank_toks tk; /* 32 KiB of stack, for this call only */
    size_t i, k;
    int seen[sizeof(rank_topic_names) / sizeof(rank_topic_names[0])];

    memset(out, 0, sizeof(*out));
    memset(seen, 0, sizeof(seen));
    rank_tokenize(text, &tk);
    for (i = 0; i < tk.n; i++) {
        for (k = 0; k < sizeof(rank_kind_lex) / sizeof(rank_kind_lex[0]); k++)
            if (rank_lex_at(&tk, i, rank_kind_lex[k].phrases)) {
                rank_add_kind(out, rank_kind_lex[k].kind);
                break;
            }
        for (k = 0; k < sizeof(rank_topic_lex) / sizeof(rank_topic_lex[0]); k++)
            if (rank_lex_at(&tk, i, rank_topic_lex[k].phrases))
                seen[rank_topic_lex[k].kind] = 1;
        if (rank_in_list(&tk, i, rank_doc_words))
            out->about_content = 1;
    }
    for (k = 0; k < sizeof(seen) / sizeof(seen[0]); k++)
        if (seen[k] && out->n_topics < RANK_QUERY_TOPICS)
            out->topics[out->n_topics++] = rank_topic_names[k];
    if (out->n_kinds)
        out->about_content = 1;
    rank_find_range(&tk, now_ms, out);
}

size_t rank_query_topic_count(void)
{
    return sizeof(rank_topic_names) / sizeof(rank_topic_names[0]);
}

const char *rank_query_topic_name(size_t i)
{
    return i < rank_query_topic_count() ? rank_topic_names[i] : NULL;
}

void rank_query_merge(const struct rank_query *draft,
                      const struct rank_query *ctx, struct rank_query *out)
{
    const struct rank_query *src[2] = {draft, ctx};
    size_t i, j, k;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < 2; i++)
        for (j = 0; j < src[i]->n_kinds; j++)
            rank_add_kind(out, src[i]->kinds[j]);
    for (k = 0; k < rank_query_topic_count(); k++)
        for (i = 0; i < 2; i++) {
            int has = 0;
            for (j = 0; j < src[i]->n_topics; j++)
                has |= strcmp(src[i]->topics[j], rank_topic_names[k]) == 0;
            if (has && out->n_topics < RANK_QUERY_TOPICS &&
                (out->n_topics == 0 ||
                 out->topics[out->n_topics - 1] != rank_topic_names[k]))
                out->topics[out->n_topics++] = rank_topic_names[k];
        }
    for (i = 0; i < 2 && !out->has_range; i++)
        if (src[i]->has_range && src[i]->about_content) {
            out->has_range = 1;
            out->start_ms = src[i]->start_ms;
            out->end_ms = src[i]->end_ms;
        }
    out->about_content = draft->about_content || ctx->about_content;
}
