/* bench_rerank: one team's history at scale, written straight into LMDB
 * through the store/ APIs (as ingest and the extraction worker write it),
 * then the nightly job timed phase by phase as `snipd rerank` runs it.
 *
 * Usage:
 *   bench_rerank fill DIR --events E     catalogue shape (issue 6, part A)
 *   bench_rerank fill DIR --snippets N   one framing per outbound mail
 *   bench_rerank rerank DIR              the nightly job, once
 *   bench_rerank cluster N               family clustering of N framings
 *   bench_rerank delta DIR K             the team's full statistics build
 *                                        against counting K new outcomes
 *                                        into it (writes them: a copy)
 *   bench_rerank stats DIR               statistics saved and loaded back
 *   bench_rerank follow DIR              new mail followed from the team's
 *                                        statistics file (DIR/stats, as
 *                                        snipd saved it), three times
 * DIR must not exist for fill. fill also builds and snapshots the team's
 * index and writes the team's API key to DIR/bench_team.key. Each command
 * prints one JSON line on stdout; the job's report goes to stderr.
 *
 * The shape: FAMILIES framing families of near-identical variants
 * (VARIANTS in all) and CONTENTS content items with two key passages
 * each. Every thread starts with one outbound email that uses one or two
 * variants and (mostly) one content item; most threads then get graded
 * outcome events (the first reply is a derived outcome with its inbound
 * email, later events are recorded ones), more often positive for the
 * better families and contents. "--events E": threads are added until
 * they hold E outcome events; the framing snippets form a fixed catalogue
 * (each variant stored once, extracted from the first mail that used it),
 * so the index stays small; as the ranker ties a framing to the one mail
 * it was extracted from, only those mails count as family uses there, and
 * the content items carry the uses of every other thread. "--snippets N": every
 * outbound email has its own framing snippets (as the extraction worker writes
 * them), each a variant personalised with the prospect's company, until there
 * are N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/hist.h"
#include "ranker/hist_file.h"
#include "ranker/index.h"
#include "ranker/rerank.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

#define BENCH_FAMILIES 300
#define BENCH_VARIANTS 2000
#define BENCH_CONTENTS 200
#define BENCH_REPS 20
#define BENCH_MAX_EVENTS 6
#define BENCH_BATCH 4000 /* threads per write transaction */
#define BENCH_DAY_MS 86400000LL
#define BENCH_T0_MS 1700000000000LL /* the history starts here */
#define BENCH_SPAN_DAYS 730

static const char *const bench_vocab[] = {
    "pricing",    "deck",       "security",   "review",      "onboarding",
    "contract",   "renewal",    "quote",      "demo",        "integration",
    "roadmap",    "budget",     "finance",    "procurement", "pilot",
    "timeline",   "case",       "study",      "migration",   "support",
    "training",   "discount",   "seats",      "usage",       "compliance",
    "audit",      "latency",    "dashboard",  "api",         "export",
    "quarter",    "forecast",   "champion",   "legal",       "terms",
    "signature",  "workflow",   "pipeline",   "revenue",     "churn",
    "retention",  "analytics",  "reporting",  "insights",    "automation",
    "sandbox",    "rollout",    "adoption",   "benchmark",   "savings",
    "efficiency", "visibility", "teams",      "managers",    "leadership",
    "customers",  "partners",   "vendors",    "platform",    "features",
    "template",   "checklist",  "webinar",    "whitepaper",  "guide",
    "proposal",   "estimate",   "invoice",    "license",     "tier",
    "enterprise", "startup",    "scale",      "growth",      "launch",
    "meeting",    "call",       "coffee",     "intro",       "followup",
    "feedback",   "questions",  "concerns",   "priorities",  "goals",
    "results",    "metrics",    "outcomes",   "success",     "story",
    "example",    "industry",   "healthcare", "retail",      "logistics",
    "banking",    "insurance",  "education",  "software",    "hardware",
    "cloud",      "on-premise", "hybrid",     "data",        "privacy",
    "gdpr",       "soc2",       "uptime",     "sla",         "response",
    "resolution", "escalation", "expansion",  "upsell",      "referral"};
#define BENCH_NVOCAB (sizeof(bench_vocab) / sizeof(bench_vocab[0]))

static const char *const bench_openers[] = {
    "Quick question about",      "Following up on",
    "Thought you might like",    "Sharing a short note on",
    "Wanted to check in about",  "Here is what we learned about",
    "Curious how you handle",    "A few ideas on",
    "Could we compare notes on", "Attaching our summary of"};
#define BENCH_NOPENERS (sizeof(bench_openers) / sizeof(bench_openers[0]))

static const char *const bench_subjects[] = {"Intro",
                                             "Pricing question",
                                             "Your evaluation",
                                             "Case study",
                                             "Security review",
                                             "Next steps",
                                             "Pilot proposal",
                                             "Renewal",
                                             "Quick question",
                                             "Following up",
                                             "Demo recap",
                                             "Budget planning",
                                             "Integration",
                                             "Roadmap preview",
                                             "Onboarding plan",
                                             "Compliance docs",
                                             "Reference customers",
                                             "Quote",
                                             "Webinar invite",
                                             "Checking in"};
#define BENCH_NSUBJ (sizeof(bench_subjects) / sizeof(bench_subjects[0]))

/* Replies to the first outbound mail, by outcome kind (OutcomeKind). */
static const char *bench_reply_text(int kind)
{
    switch (kind) {
    case 4:
        return "Thanks, this looks relevant. Could we set up a call next week "
               "to go through";
    case 6:
        return "Not a priority for us right now, please do not follow up on";
    case 7:
        return "I am out of the office until Monday with limited access to "
               "email about";
    case 8:
        return "Please remove me from your list, I do not want emails about";
    default:
        return "Thanks for the note. We might look at this next quarter, "
               "send more on";
    }
}

/* splitmix64: a bijective mix, used for seeds and for ids. */
static uint64_t bench_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t bench_next(uint64_t *s)
{
    *s = bench_mix(*s);
    return *s;
}

static double bench_unit(uint64_t *s)
{
    return (double)(bench_next(s) >> 11) / 9007199254740992.0;
}

/* Quality of a family or content item: the skew that makes some of them
 * really better (a positive-reply chance from 2% to 35%). */
static double bench_quality(uint64_t salt, size_t i)
{
    uint64_t s = bench_mix(salt ^ (uint64_t)i);
    double u = bench_unit(&s);
    return 0.02 + 0.33 * u * u;
}

/* One thread's plan, a pure function of its index (both passes use it). */
struct bench_plan {
    int64_t start_ms;
    unsigned rep, subject, company;
    unsigned nvar;
    unsigned var[2];
    int content; /* -1: none */
    unsigned nev;
    int kind[BENCH_MAX_EVENTS];
    int64_t at_ms[BENCH_MAX_EVENTS];
};

static void bench_plan_make(uint64_t i, struct bench_plan *p)
{
    uint64_t s = bench_mix(i ^ 0x5eed5eedULL);
    double q, u;
    unsigned k, f, extra;
    int64_t t;
    int pos;

    memset(p, 0, sizeof(*p));
    p->start_ms = BENCH_T0_MS +
                  (int64_t)(bench_next(&s) % (BENCH_SPAN_DAYS * BENCH_DAY_MS));
    p->rep = (unsigned)(bench_next(&s) % BENCH_REPS);
    p->subject = (unsigned)(bench_next(&s) % BENCH_NSUBJ);
    p->company = (unsigned)(bench_next(&s) % 50000);
    p->nvar = 1 + (bench_next(&s) % 3 == 0);
    for (k = 0; k < p->nvar; k++) {
        /* Popular families are used far more often (u^2 skew). */
        u = bench_unit(&s);
        f = (unsigned)(u * u * BENCH_FAMILIES);
        p->var[k] =
            f * BENCH_VARIANTS / BENCH_FAMILIES +
            (unsigned)(bench_next(&s) % (BENCH_VARIANTS / BENCH_FAMILIES));
    }
    if (p->nvar == 2 && p->var[1] == p->var[0])
        p->nvar = 1;
    u = bench_unit(&s);
    p->content = bench_unit(&s) < 0.9 ? (int)(u * u * BENCH_CONTENTS) : -1;
    q = bench_quality(0xfa, p->var[0] / (BENCH_VARIANTS / BENCH_FAMILIES));
    if (p->content >= 0)
        q = 0.5 * (q + bench_quality(0xc0, (size_t)p->content));
    if (bench_unit(&s) < 0.15)
        return; /* no answer at all */
    t = p->start_ms + BENCH_DAY_MS / 4 +
        (int64_t)(bench_next(&s) % (4 * BENCH_DAY_MS));
    u = bench_unit(&s);
    p->kind[0] = u < 0.03       ? 9  /* bounce */
                 : u < 0.06     ? 8  /* unsubscribe */
                 : u < 0.06 + q ? 4  /* positive reply */
                 : u < 0.21 + q ? 6  /* negative reply */
                 : u < 0.26 + q ? 7  /* out of office */
                                : 5; /* neutral */
    p->at_ms[0] = t;
    p->nev = 1;
    if (p->kind[0] == 9 || p->kind[0] == 8 || p->kind[0] == 6)
        return;
    pos = p->kind[0] == 4;
    extra = 1 + (unsigned)(bench_next(&s) % 4);
    while (extra-- > 0 && p->nev < BENCH_MAX_EVENTS) {
        int kind;
        t += BENCH_DAY_MS / 2 + (int64_t)(bench_next(&s) % (3 * BENCH_DAY_MS));
        u = bench_unit(&s);
        if (pos == 1 && u < 0.6) {
            kind = 1; /* meeting */
            pos = 2;
        } else if (pos == 2 && u < 0.5) {
            kind = u < 0.3 ? 2 : 3; /* deal won or lost */
            pos = 3;
        } else {
            kind = u < q ? 4 : u < q + 0.1 ? 6 : 5;
            pos += pos == 0 && kind == 4;
        }
        p->kind[p->nev] = kind;
        p->at_ms[p->nev++] = t;
    }
}

/* The text of a variant: the family's template with one word swapped. */
static void bench_variant_text(unsigned v, char *out, size_t cap)
{
    unsigned f = v / (BENCH_VARIANTS / BENCH_FAMILIES);
    uint64_t s = bench_mix(0xf00dULL ^ f), sv = bench_mix(0xbeefULL ^ v);
    unsigned nw = 9 + (unsigned)(bench_next(&s) % 4), w, swap;
    size_t len;

    swap = (unsigned)(bench_next(&sv) % nw);
    len = (size_t)snprintf(out, cap, "%s",
                           bench_openers[bench_next(&s) % BENCH_NOPENERS]);
    for (w = 0; w < nw && len < cap; w++) {
        uint64_t x = bench_next(&s);
        if (w == swap && v % (BENCH_VARIANTS / BENCH_FAMILIES) != 0)
            x = bench_next(&sv);
        len += (size_t)snprintf(out + len, cap - len, " %s",
                                bench_vocab[x % BENCH_NVOCAB]);
    }
    if (len < cap)
        snprintf(out + len, cap - len, "?");
}

/* Ids: prefix and 16 hex digits of a bijective mix of the thread index,
 * whose two low bits say which record of the thread it is. Records are
 * written in id order (see bench_fill), so LMDB appends instead of
 * touching a random page per insert; the ids still look random against
 * time, as in production. */
static uint64_t bench_tkey(uint64_t i)
{
    return bench_mix(i ^ 0x1d5ULL) & ~(uint64_t)3;
}

static void bench_id(const char *prefix, uint64_t key, char out[24])
{
    unsigned char b[8];

    store_u64_put(b, key);
    snprintf(out, 24, "%s", prefix);
    sw_hex(b, 8, out + strlen(prefix));
}

struct bench_order {
    uint64_t key;
    uint64_t idx;
};

static int bench_order_cmp(const void *x, const void *y)
{
    const struct bench_order *a = x, *b = y;

    return a->key < b->key ? -1 : a->key > b->key;
}

struct bench_ctx {
    const char *team;
    int per_email; /* framings per outbound email (--snippets) */
    struct bench_order *ord;
    size_t nthreads;
    uint64_t owner[BENCH_VARIANTS]; /* catalogue: thread index + 1 */
    int64_t owner_ms[BENCH_VARIANTS];
    int64_t ct_first[BENCH_CONTENTS], ct_last[BENCH_CONTENTS];
    int64_t ct_uses[BENCH_CONTENTS];
    char ct_id[BENCH_CONTENTS][24];
    /* counts (from pass 1) */
    uint64_t events, emails, framings;
    /* batch range of the current transaction */
    size_t from, to;
};

static sw_err bench_put_content(store_txn *t, struct bench_ctx *c, size_t k)
{
    struct store_content ct;
    struct store_snippet sn;
    char text[1024], name[64], sid[24];
    size_t len = 0, p;
    uint64_t s = bench_mix(0xc0ffeeULL ^ k);
    sw_err rc;

    static const char *const kinds[] = {"Case study", "Pricing sheet",
                                        "Security overview", "Product deck",
                                        "ROI calculator"};
    static const char *const media[] = {"application/pdf", "application/pdf",
                                        "application/pdf",
                                        "application/vnd.openxmlformats-"
                                        "officedocument.presentationml."
                                        "presentation",
                                        "text/csv"};
    static const int ckind[] = {1, 1, 1, 3, 4};
    int w;

    memset(&ct, 0, sizeof(ct));
    snprintf(name, sizeof(name), "%s %zu.%s", kinds[k % 5], k,
             k % 5 == 3   ? "pptx"
             : k % 5 == 4 ? "csv"
                          : "pdf");
    for (p = 0; p < 2; p++) {
        char para[512];
        size_t pl;
        pl = (size_t)snprintf(para, sizeof(para), "%s:", kinds[k % 5]);
        for (w = 0; w < 14 && pl < sizeof(para); w++)
            pl += (size_t)snprintf(para + pl, sizeof(para) - pl, " %s",
                                   bench_vocab[bench_next(&s) % BENCH_NVOCAB]);
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s.",
                                p ? "\n" : "", para);
        /* The key passage: this paragraph, from the content item. */
        memset(&sn, 0, sizeof(sn));
        /* Low bits 3: never a framing's id (low bits 0 or 1). */
        bench_id("snip_", bench_mix(0x9a55ULL ^ (k * 2 + p)) | 3, sid);
        sn.snippet_id = sid;
        sn.team_id = (char *)c->team;
        sn.kind = STORE_SNIPPET_KEY_PASSAGE;
        sn.text = para;
        sn.content_id = c->ct_id[k];
        sn.provenance = "bench";
        sn.create_ms = c->ct_first[k] ? c->ct_first[k] : BENCH_T0_MS;
        rc = store_snippet_put(t, &sn);
        if (rc)
            return rc;
    }
    ct.content_id = c->ct_id[k];
    ct.team_id = (char *)c->team;
    ct.filename = name;
    ct.media_type = (char *)media[k % 5];
    ct.kind = ckind[k % 5];
    ct.state = STORE_TEXT_EXTRACTED;
    ct.text = text;
    ct.text_len = len;
    sw_sha256(name, strlen(name), ct.sha256);
    sw_hex(ct.sha256, SW_SHA256_LEN, ct.sha256_hex);
    sw_sha256(text, len, ct.text_sha256);
    ct.has_text_sha = 1;
    ct.size_bytes = 40000 + (int64_t)(k * 997 % 200000);
    ct.pages = 2 + (int)(k % 10);
    ct.first_seen_ms = c->ct_first[k] ? c->ct_first[k] : BENCH_T0_MS;
    ct.last_used_ms = c->ct_last[k] ? c->ct_last[k] : BENCH_T0_MS;
    ct.detail = "";
    ct.times_used = c->ct_uses[k];
    return store_content_put(t, &ct);
}

static sw_err bench_contents_fn(store_txn *t, void *arg)
{
    struct bench_ctx *c = arg;
    size_t k;
    sw_err rc;

    for (k = 0; k < BENCH_CONTENTS; k++)
        if ((rc = bench_put_content(t, c, k)))
            return rc;
    return SW_OK;
}

/* bench_put_thread writes thread i: its outbound email (with content and
 * framings), the first reply (an inbound email) and its outcomes. */
static sw_err bench_put_thread(store_txn *t, struct bench_ctx *c, uint64_t i)
{
    struct bench_plan p;
    struct store_email em;
    struct store_email_content ec;
    struct store_addr to, rep;
    struct store_thread th;
    char tid[24], oid[24], iid[24], sid[24], msgid[64], body[1200];
    char vtext[2][400], inbody[400], idem[64], repmail[48], prospect[48];
    char fromname[24], *eids[2], *parts[2], *reps[1], *out_oid = NULL;
    struct sw_buf dk;
    uint64_t key = bench_tkey(i);
    size_t len, k;
    int dup, inbound;
    sw_err rc = SW_OK;

    bench_plan_make(i, &p);
    bench_id("th_", key, tid);
    bench_id("em_", key, oid);
    bench_id("em_", key | 1, iid);
    snprintf(repmail, sizeof(repmail), "rep%u@team.example", p.rep);
    snprintf(prospect, sizeof(prospect), "buyer%u@co%u.example", p.company,
             p.company);
    snprintf(fromname, sizeof(fromname), "Rep %u", p.rep);
    inbound = p.nev > 0 && p.kind[0] != 9;
    sw_buf_init(&dk, 1024);

    /* The outbound email: greeting, framings, content. */
    len = (size_t)snprintf(body, sizeof(body), "Hi,\n\n");
    for (k = 0; k < p.nvar; k++) {
        bench_variant_text(p.var[k], vtext[k], sizeof(vtext[k]));
        if (c->per_email) { /* personalised for the prospect's company */
            size_t vl = strlen(vtext[k]);
            snprintf(vtext[k] + vl, sizeof(vtext[k]) - vl, " for co%u",
                     p.company);
        }
        len += (size_t)snprintf(body + len, sizeof(body) - len, "%s\n\n",
                                vtext[k]);
    }
    snprintf(body + len, sizeof(body) - len, "Best,\n%s", fromname);
    memset(&em, 0, sizeof(em));
    memset(&ec, 0, sizeof(ec));
    to.name = "";
    to.email = prospect;
    rep.name = fromname;
    rep.email = repmail;
    snprintf(msgid, sizeof(msgid), "%s@team.example", oid);
    rc = store_mail_msgid_key(&dk, msgid);
    if (rc)
        goto out;
    em.email_id = oid;
    em.team_id = (char *)c->team;
    em.thread_id = tid;
    em.message_id = msgid;
    em.in_reply_to = "";
    em.direction = STORE_DIR_OUTBOUND;
    em.from_email = repmail;
    em.from_name = fromname;
    em.rep_email = repmail;
    em.subject = (char *)bench_subjects[p.subject];
    em.to = &to;
    em.n_to = 1;
    em.sent_ms = p.start_ms;
    em.ingest_ms = p.start_ms;
    em.body_text = body;
    em.new_text = body;
    if (p.content >= 0) {
        ec.content_id = c->ct_id[p.content];
        ec.filename = "attachment.pdf";
        ec.state = STORE_TEXT_EXTRACTED;
        em.contents = &ec;
        em.n_contents = 1;
    }
    rc = store_email_put(t, &em, sw_buf_str(&dk), sw_buf_len(&dk));
    if (rc == SW_OK && p.content >= 0)
        rc = store_content_use_add(t, c->team, c->ct_id[p.content], oid);
    if (rc)
        goto out;

    /* Framings: the worker's snippets of this email. */
    for (k = 0; k < p.nvar; k++) {
        struct store_snippet sn;
        if (!c->per_email && c->owner[p.var[k]] != i + 1)
            continue;
        memset(&sn, 0, sizeof(sn));
        bench_id("snip_", key | k, sid);
        sn.snippet_id = sid;
        sn.team_id = (char *)c->team;
        sn.kind = STORE_SNIPPET_FRAMING;
        sn.text = vtext[k];
        sn.content_id = p.content >= 0 ? c->ct_id[p.content] : "";
        sn.email_id = oid;
        sn.thread_id = tid;
        sn.rep_email = repmail;
        sn.provenance = "bench";
        sn.create_ms = p.start_ms;
        rc = store_snippet_put(t, &sn);
        if (rc)
            goto out;
    }

    /* The first reply, as an inbound email and a derived outcome. */
    if (inbound) {
        uint64_t s = bench_mix(i ^ 0x77ULL);
        len = (size_t)snprintf(inbody, sizeof(inbody), "%s",
                               bench_reply_text(p.kind[0]));
        for (k = 0; k < 3; k++)
            len += (size_t)snprintf(inbody + len, sizeof(inbody) - len, " %s",
                                    bench_vocab[bench_next(&s) % BENCH_NVOCAB]);
        snprintf(inbody + len, sizeof(inbody) - len, ".");
        memset(&em, 0, sizeof(em));
        snprintf(msgid, sizeof(msgid), "%s@co%u.example", iid, p.company);
        rc = store_mail_msgid_key(&dk, msgid);
        if (rc)
            goto out;
        em.email_id = iid;
        em.team_id = (char *)c->team;
        em.thread_id = tid;
        em.message_id = msgid;
        em.in_reply_to = "";
        em.direction = STORE_DIR_INBOUND;
        em.from_email = prospect;
        em.from_name = "";
        em.rep_email = repmail;
        em.subject = (char *)bench_subjects[p.subject];
        em.to = &rep;
        em.n_to = 1;
        em.sent_ms = p.at_ms[0];
        em.ingest_ms = p.at_ms[0];
        em.body_text = inbody;
        em.new_text = inbody;
        em.reply_kind = p.kind[0];
        rc = store_email_put(t, &em, sw_buf_str(&dk), sw_buf_len(&dk));
        if (rc)
            goto out;
    }
    for (k = 0; k < p.nev; k++) {
        struct store_outcome o;
        memset(&o, 0, sizeof(o));
        o.thread_id = tid;
        o.kind = p.kind[k];
        o.occur_ms = p.at_ms[k];
        o.record_ms = p.at_ms[k];
        if (k == 0 && inbound) {
            snprintf(idem, sizeof(idem), "reply:%s", iid);
            o.source = STORE_OUTCOME_DERIVED;
            o.email_id = iid;
            o.provenance = "builtin/bench";
        } else {
            snprintf(idem, sizeof(idem), "bench:%s:%zu", tid, k);
            o.source = STORE_OUTCOME_RECORDED;
        }
        o.idem_key = idem;
        rc = store_outcome_put(t, c->team, &o, &dup, &out_oid);
        sw_free(out_oid);
        out_oid = NULL;
        if (rc)
            goto out;
    }

    /* The thread record, as ingest leaves it after both emails. */
    memset(&th, 0, sizeof(th));
    eids[0] = oid;
    eids[1] = iid;
    parts[0] = repmail;
    parts[1] = prospect;
    reps[0] = repmail;
    th.thread_id = tid;
    th.team_id = (char *)c->team;
    th.subject = (char *)bench_subjects[p.subject];
    th.subject_key = (char *)bench_subjects[p.subject];
    th.participants = parts;
    th.n_participants = 2;
    th.rep_emails = reps;
    th.n_rep_emails = 1;
    th.email_ids = eids;
    th.n_emails = inbound ? 2 : 1;
    th.first_ms = p.start_ms;
    th.last_ms = inbound ? p.at_ms[0] : p.start_ms;
    rc = store_thread_put(t, &th);
out:
    sw_buf_free(&dk);
    return rc;
}

static sw_err bench_batch_fn(store_txn *t, void *arg)
{
    struct bench_ctx *c = arg;
    size_t j;
    sw_err rc;

    for (j = c->from; j < c->to; j++)
        if ((rc = bench_put_thread(t, c, c->ord[j].idx)))
            return rc;
    return SW_OK;
}

static void bench_die(const char *what, sw_err rc)
{
    fprintf(stderr, "bench_rerank: %s: %s\n", what, sw_err_name(rc));
    exit(1);
}

/* bench_plan_all is pass 1: it decides how many threads make the target,
 * orders them by id and gathers what later records need (the catalogue's
 * owners, the content items' use counts). */
static void bench_plan_all(struct bench_ctx *c, uint64_t events,
                           uint64_t snippets)
{
    struct bench_plan p;
    size_t cap = 1 << 16, k;
    uint64_t i;

    c->ord = sw_malloc(cap * sizeof(*c->ord));
    if (c->ord == NULL)
        bench_die("plan", SW_ENOMEM);
    for (i = 0;; i++) {
        if (events && c->events >= events)
            break;
        if (snippets && c->framings >= snippets)
            break;
        bench_plan_make(i, &p);
        if (c->nthreads == cap) {
            struct bench_order *x =
                sw_realloc(c->ord, 2 * cap * sizeof(*c->ord));
            if (x == NULL)
                bench_die("plan", SW_ENOMEM);
            c->ord = x;
            cap *= 2;
        }
        c->ord[c->nthreads].key = bench_tkey(i);
        c->ord[c->nthreads++].idx = i;
        c->events += p.nev;
        c->emails += 1 + (p.nev > 0 && p.kind[0] != 9);
        for (k = 0; k < p.nvar; k++) {
            unsigned v = p.var[k];
            if (c->per_email) {
                c->framings++;
            } else if (c->owner[v] == 0 || p.start_ms < c->owner_ms[v]) {
                c->framings += c->owner[v] == 0;
                c->owner[v] = i + 1;
                c->owner_ms[v] = p.start_ms;
            }
        }
        if (p.content >= 0) {
            int64_t *f = &c->ct_first[p.content], *l = &c->ct_last[p.content];
            if (*f == 0 || p.start_ms < *f)
                *f = p.start_ms;
            if (p.start_ms > *l)
                *l = p.start_ms;
            c->ct_uses[p.content]++;
        }
    }
    qsort(c->ord, c->nthreads, sizeof(*c->ord), bench_order_cmp);
    for (k = 0; k < BENCH_CONTENTS; k++)
        bench_id("ct_", bench_mix(0xc7ULL ^ k), c->ct_id[k]);
}

static int bench_fill(const char *dir, uint64_t events, uint64_t snippets)
{
    struct store_opts so = {0};
    struct store_team team = {0};
    struct store_stats st;
    struct rank_index_stats ist;
    struct bench_ctx *c = NULL;
    rank_ranker *r = NULL;
    store *s = NULL;
    char *key = NULL, path[4096];
    int64_t t0, plan_ms, fill_ms, index_ms, snap_ms;
    uint64_t bytes;
    size_t j;
    FILE *f;
    int done = 0;
    sw_err rc;

    c = sw_calloc(1, sizeof(*c));
    if (c == NULL)
        bench_die("alloc", SW_ENOMEM);
    c->per_email = snippets > 0;
    t0 = sw_mono_ms();
    bench_plan_all(c, events, snippets);
    plan_ms = sw_mono_ms() - t0;
    so.dir = dir;
    /* A map large enough from the start: store_update would grow it by
     * doubling, rerunning a batch each time. */
    bytes = (c->events + c->nthreads) * 1024ULL + (1ULL << 30);
    so.map_bytes = (size_t)bytes;
    if ((rc = store_open(&so, &s)))
        bench_die("store_open", rc);
    if ((rc = store_team_create(s, "bench", &team, &key, NULL)))
        bench_die("team", rc);
    c->team = team.team_id;
    t0 = sw_mono_ms();
    if ((rc = store_update(s, bench_contents_fn, c)))
        bench_die("contents", rc);
    for (j = 0; j < c->nthreads; j += BENCH_BATCH) {
        c->from = j;
        c->to = j + BENCH_BATCH < c->nthreads ? j + BENCH_BATCH : c->nthreads;
        if ((rc = store_update(s, bench_batch_fn, c)))
            bench_die("fill", rc);
    }
    fill_ms = sw_mono_ms() - t0;
    fprintf(stderr, "bench_rerank: %zu threads, %llu events in %lld ms\n",
            c->nthreads, (unsigned long long)c->events, (long long)fill_ms);

    /* The index as the server's indexer leaves it: built and snapshotted
     * (one thread, as rank_ranker_sync runs). */
    if ((rc = rank_ranker_open(s, NULL, &r)))
        bench_die("ranker", rc);
    t0 = sw_mono_ms();
    if ((rc = rank_ranker_sync(r, team.team_id, 0, &done)))
        bench_die("sync", rc);
    index_ms = sw_mono_ms() - t0;
    t0 = sw_mono_ms();
    if ((rc = rank_ranker_snapshot(r, team.team_id)))
        bench_die("snapshot", rc);
    snap_ms = sw_mono_ms() - t0;
    if ((rc = rank_ranker_stats(r, team.team_id, &ist)))
        bench_die("stats", rc);
    rank_ranker_close(&r);
    if ((rc = store_stat(s, &st)))
        bench_die("stat", rc);

    snprintf(path, sizeof(path), "%s/bench_team.key", dir);
    f = fopen(path, "w");
    if (f == NULL || fprintf(f, "%s\n", key) < 0 || fclose(f) != 0)
        bench_die("key file", SW_EIO);
    (void)chmod(path, 0600); /* a bench key; best effort */
    printf("{\"step\":\"fill\",\"shape\":\"%s\",\"events\":%llu,"
           "\"threads\":%zu,\"emails\":%llu,\"framing_snippets\":%llu,"
           "\"snippets\":%zu,\"indexed\":%zu,\"index_deleted\":%zu,"
           "\"feed_seq\":%llu,\"contents\":%d,\"plan_ms\":%lld,"
           "\"fill_ms\":%lld,\"fill_events_per_s\":%.0f,"
           "\"index_build_ms\":%lld,\"snapshot_ms\":%lld,"
           "\"lmdb_used_bytes\":%llu,\"team\":\"%s\"}\n",
           c->per_email ? "per_email" : "catalogue",
           (unsigned long long)c->events, c->nthreads,
           (unsigned long long)c->emails, (unsigned long long)c->framings,
           (size_t)(c->framings + 2 * BENCH_CONTENTS), ist.count, ist.deleted,
           (unsigned long long)ist.feed_seq, BENCH_CONTENTS, (long long)plan_ms,
           (long long)fill_ms,
           fill_ms ? (double)c->events * 1000.0 / (double)fill_ms : 0.0,
           (long long)index_ms, (long long)snap_ms,
           (unsigned long long)(st.used_pages * st.page_bytes), team.team_id);
    sw_free(c->ord);
    sw_free(c);
    store_team_clear(&team);
    sw_free(key);
    store_close(&s);
    return 0;
}

/* bench_store_one opens the store in dir, which must hold one team: *s,
 * the team list (*teams, *n; store_teams_free) and its *next (sw_free). */
static void bench_store_one(const char *dir, store **s,
                            struct store_team **teams, size_t *n, char **next)
{
    struct store_opts so = {0};
    sw_err rc;

    so.dir = dir;
    if ((rc = store_open(&so, s)))
        bench_die("store_open", rc);
    if ((rc = store_team_list(*s, 100, NULL, teams, n, next, NULL)))
        bench_die("teams", rc);
    if (*n != 1)
        bench_die("expected one team", SW_EINVAL);
}

/* --- the nightly job ------------------------------------------------------
 */

#define BENCH_PHASES 8

struct bench_prog {
    int n;
    const char *phase[BENCH_PHASES];
    int64_t at_ms[BENCH_PHASES];
};

static int bench_progress(const char *phase, double f, const char *msg,
                          void *arg)
{
    struct bench_prog *p = arg;
    int64_t now = sw_mono_ms();

    if (p->n < BENCH_PHASES) {
        p->phase[p->n] = phase; /* rerank.c passes string literals */
        p->at_ms[p->n++] = now;
    }
    fprintf(stderr, "bench_rerank: %lld ms %-13s %3.0f%%  %s\n",
            p->n > 1 ? (long long)(now - p->at_ms[0]) : 0LL, phase, 100.0 * f,
            msg);
    return 0;
}

static int bench_rerank(const char *dir)
{
    struct store_team *teams = NULL;
    struct rank_rerank_opts o;
    struct rank_rerank_result res;
    struct bench_prog prog;
    rank_ranker *r = NULL;
    store *s = NULL;
    char *next = NULL;
    size_t n = 0;
    int64_t t0, open_ms, job_ms;
    int i;
    sw_err rc;

    t0 = sw_mono_ms();
    bench_store_one(dir, &s, &teams, &n, &next);
    if ((rc = rank_ranker_open(s, NULL, &r)))
        bench_die("ranker", rc);
    open_ms = sw_mono_ms() - t0;
    /* As svc_rerank_one runs it: default parameters and options. */
    memset(&o, 0, sizeof(o));
    memset(&prog, 0, sizeof(prog));
    t0 = sw_mono_ms();
    rc = rank_rerank_team(s, r, teams[0].team_id, NULL, &o, bench_progress,
                          &prog, &res);
    job_ms = sw_mono_ms() - t0;
    if (rc)
        bench_die("rerank", rc);
    fprintf(stderr, "%s\nmodel %s: %s\n", res.model->report, res.model->version,
            res.decision);
    printf("{\"step\":\"rerank\",\"open_ms\":%lld,\"job_ms\":%lld,"
           "\"promoted\":%d",
           (long long)open_ms, (long long)job_ms, res.promoted);
    for (i = 0; i < prog.n; i++)
        printf(",\"%s_ms\":%lld", prog.phase[i],
               (long long)((i + 1 < prog.n ? prog.at_ms[i + 1] : t0 + job_ms) -
                           prog.at_ms[i]));
    printf(",\"holdout_threads\":%lld,\"train_threads\":%lld,"
           "\"ndcg_model\":%.3f,\"ndcg_popularity\":%.3f}\n",
           (long long)res.model->metrics.holdout_threads,
           (long long)res.model->metrics.train_threads,
           res.model->metrics.model.ndcg,
           res.model->metrics.base[RANK_BASE_POPULARITY].ndcg);
    rank_model_free(&res.model);
    store_teams_free(teams, n);
    sw_free(next);
    rank_ranker_close(&r);
    store_close(&s);
    return 0;
}

/* What bench_delta's transactions work on. */
struct bench_delta {
    const char *team;
    struct rank_hist *base, *h;
    struct rank_sigs *sigs; /* the engine's cache of family signatures */
    size_t k;
    uint64_t seed;
    sw_err rc;
};

static sw_err bench_delta_build(store_txn *t, void *arg)
{
    struct bench_delta *d = arg;

    return rank_hist_build_cached(t, d->team, NULL, 0, d->sigs, &d->base);
}

/* bench_delta_rebuild builds the team again with the signatures the first
 * build left in the cache, as the engine's builder does, into d->h. */
static sw_err bench_delta_rebuild(store_txn *t, void *arg)
{
    struct bench_delta *d = arg;

    return rank_hist_build_cached(t, d->team, NULL, 0, d->sigs, &d->h);
}

static sw_err bench_delta_apply(store_txn *t, void *arg)
{
    struct bench_delta *d = arg;

    d->rc = rank_hist_delta(t, d->team, NULL, d->base, &d->h);
    return SW_OK;
}

/* bench_delta_outcomes records d->k positive replies on threads of the
 * base picked at random (outbound ones), dated at its latest event. */
static sw_err bench_delta_outcomes(store_txn *t, void *arg)
{
    struct bench_delta *d = arg;
    const struct rank_hist *h = d->base;
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < d->k && h->nby_out; i++) {
        struct store_outcome o;
        char key[64], *oid = NULL;
        int dup = 0;
        d->seed = d->seed * 6364136223846793005ULL + 1442695040888963407ULL;
        memset(&o, 0, sizeof(o));
        o.thread_id = h->threads[h->by_out[(d->seed >> 33) % h->nby_out]].id;
        o.kind = 4; /* a positive reply */
        o.occur_ms = o.record_ms = h->now_ms;
        o.source = STORE_OUTCOME_RECORDED;
        snprintf(key, sizeof(key), "bench-delta-%llu-%zu",
                 (unsigned long long)d->seed, i);
        o.idem_key = key;
        rc = store_outcome_put(t, d->team, &o, &dup, &oid);
        sw_free(oid);
    }
    return rc;
}

/* bench_delta times the team's full statistics build against counting k
 * new outcomes into it (rank_hist_delta), and a delta with nothing new.
 * It writes the outcomes: run it on a copy of a filled store. */
static int bench_delta(const char *dir, size_t k)
{
    struct store_team *teams = NULL;
    struct bench_delta d;
    store *s = NULL;
    char *next = NULL;
    size_t n = 0;
    int64_t t0, build_ms, rebuild_ms, delta_ms, none_ms;
    struct rank_hist *h1;
    sw_err rc;

    bench_store_one(dir, &s, &teams, &n, &next);
    memset(&d, 0, sizeof(d));
    d.team = teams[0].team_id;
    d.k = k;
    d.seed = 42;
    if ((rc = rank_sigs_new(&d.sigs)))
        bench_die("sigs", rc);
    t0 = sw_mono_ms();
    if ((rc = store_view(s, bench_delta_build, &d)))
        bench_die("build", rc);
    build_ms = sw_mono_ms() - t0;
    t0 = sw_mono_ms();
    if ((rc = store_view(s, bench_delta_rebuild, &d)))
        bench_die("rebuild", rc);
    rebuild_ms = sw_mono_ms() - t0;
    rank_hist_free(&d.h);
    if ((rc = store_update(s, bench_delta_outcomes, &d)))
        bench_die("outcomes", rc);
    t0 = sw_mono_ms();
    if ((rc = store_view(s, bench_delta_apply, &d)) || (rc = d.rc))
        bench_die("delta", rc);
    delta_ms = sw_mono_ms() - t0;
    h1 = d.h;
    d.base = h1; /* nothing new since h1: the copy alone */
    d.h = NULL;
    t0 = sw_mono_ms();
    if ((rc = store_view(s, bench_delta_apply, &d)) || (rc = d.rc))
        bench_die("delta", rc);
    none_ms = sw_mono_ms() - t0;
    printf("{\"step\":\"delta\",\"items\":%zu,\"threads\":%zu,\"uses\":%zu,"
           "\"account_records\":%zu,\"build_ms\":%lld,"
           "\"rebuild_cached_ms\":%lld,\"outcomes\":%zu,"
           "\"delta_ms\":%lld,\"delta_nothing_new_ms\":%lld,"
           "\"copied_mb\":%.1f}\n",
           h1->nitems, h1->nthreads, h1->nuses, h1->nacct_ev,
           (long long)build_ms, (long long)rebuild_ms, k, (long long)delta_ms,
           (long long)none_ms,
           (double)(h1->nitems * sizeof(*h1->items) +
                    h1->nthreads * sizeof(*h1->threads) +
                    h1->nuses * sizeof(*h1->uses) +
                    h1->nacct_ev * sizeof(*h1->acct_ev)) /
               1e6);
    rank_hist_free(&d.h);
    rank_hist_free(&h1);
    rank_sigs_free(&d.sigs);
    store_teams_free(teams, n);
    sw_free(next);
    store_close(&s);
    return 0;
}

/* bench_stats times the team's statistics saved to a file and loaded
 * back (hist_file.h), as snipd does across a restart: one full build,
 * then a save to DIR/bench.stats and three loads, each checked against
 * the build's counts. */
static int bench_stats(const char *dir)
{
    struct store_team *teams = NULL;
    struct bench_delta d;
    struct rank_hist *back = NULL;
    struct sw_buf path;
    store *s = NULL;
    char *next = NULL;
    size_t n = 0;
    uint64_t erase = 0;
    int64_t t0, build_ms, save_ms, load_ms[3];
    struct stat st;
    int i;
    sw_err rc;

    bench_store_one(dir, &s, &teams, &n, &next);
    memset(&d, 0, sizeof(d));
    d.team = teams[0].team_id;
    sw_buf_init(&path, 4096);
    if ((rc = sw_buf_printf(&path, "%s/bench.stats", dir)))
        bench_die("path", rc);
    t0 = sw_mono_ms();
    if ((rc = store_view(s, bench_delta_build, &d)))
        bench_die("build", rc);
    build_ms = sw_mono_ms() - t0;
    t0 = sw_mono_ms();
    if ((rc = rank_hist_save(d.base, d.team, 0, sw_buf_str(&path))))
        bench_die("save", rc);
    save_ms = sw_mono_ms() - t0;
    for (i = 0; i < 3; i++) {
        t0 = sw_mono_ms();
        if ((rc = rank_hist_load(sw_buf_str(&path), d.team, &back, &erase)))
            bench_die("load", rc);
        load_ms[i] = sw_mono_ms() - t0;
        if (back->nthreads != d.base->nthreads ||
            back->nuses != d.base->nuses || back->nitems != d.base->nitems)
            bench_die("loaded statistics differ", SW_ECORRUPT);
        rank_hist_free(&back);
    }
    if (stat(sw_buf_str(&path), &st) != 0)
        bench_die("stat", SW_EIO);
    printf("{\"step\":\"stats\",\"threads\":%zu,\"snippets\":%zu,"
           "\"build_ms\":%lld,\"save_ms\":%lld,\"file_mb\":%.1f,"
           "\"load_ms\":[%lld,%lld,%lld]}\n",
           d.base->nthreads, d.base->nsnips, (long long)build_ms,
           (long long)save_ms, (double)st.st_size / 1e6, (long long)load_ms[0],
           (long long)load_ms[1], (long long)load_ms[2]);
    (void)unlink(sw_buf_str(&path));
    rank_hist_free(&d.base);
    sw_buf_free(&path);
    store_teams_free(teams, n);
    sw_free(next);
    store_close(&s);
    return 0;
}

static sw_err bench_follow_apply(store_txn *t, void *arg)
{
    struct bench_delta *d = arg;

    d->rc = rank_hist_follow(t, d->team, NULL, d->base, &d->h);
    return SW_OK;
}

/* bench_follow times following the team's mail from its statistics file
 * (DIR/stats/TEAM.stats, as snipd saved it) with rank_hist_follow, three
 * times: what the publisher does for new mail, here with whatever the
 * store holds since the file (nothing, on a store snipd closed). */
static int bench_follow(const char *dir)
{
    struct store_team *teams = NULL;
    struct bench_delta d;
    struct sw_buf path;
    store *s = NULL;
    char *next = NULL;
    size_t n = 0;
    uint64_t erase = 0;
    int64_t t0, load_ms, ms[3];
    int i;
    sw_err rc;

    bench_store_one(dir, &s, &teams, &n, &next);
    memset(&d, 0, sizeof(d));
    d.team = teams[0].team_id;
    sw_buf_init(&path, 4096);
    if ((rc = sw_buf_printf(&path, "%s/stats/%s.stats", dir, d.team)))
        bench_die("path", rc);
    t0 = sw_mono_ms();
    if ((rc = rank_hist_load(sw_buf_str(&path), d.team, &d.base, &erase)))
        bench_die("load", rc);
    load_ms = sw_mono_ms() - t0;
    for (i = 0; i < 3; i++) {
        t0 = sw_mono_ms();
        if ((rc = store_view(s, bench_follow_apply, &d)) || (rc = d.rc))
            bench_die("follow", rc);
        ms[i] = sw_mono_ms() - t0;
        if (d.h->nthreads < d.base->nthreads)
            bench_die("the follow lost threads", SW_ECORRUPT);
        rank_hist_free(&d.h);
    }
    printf("{\"step\":\"follow\",\"threads\":%zu,\"snippets\":%zu,"
           "\"outcomes\":%zu,\"load_ms\":%lld,\"follow_ms\":[%lld,%lld,%lld]}"
           "\n",
           d.base->nthreads, d.base->nsnips, d.base->nouts + d.base->nxouts,
           (long long)load_ms, (long long)ms[0], (long long)ms[1],
           (long long)ms[2]);
    rank_hist_free(&d.base);
    sw_buf_free(&path);
    store_teams_free(teams, n);
    sw_free(next);
    store_close(&s);
    return 0;
}

/* bench_cluster times rank_family_cluster (the nightly job's family step)
 * on n personalised framings, as many as a team with one framing record
 * per outbound mail would hold; the catalogue shape hides this cost. */
static int bench_cluster(size_t n)
{
    struct bench_plan p;
    char **texts = NULL;
    uint32_t *fam = NULL;
    size_t i, nfam = 0;
    int64_t t0, ms;
    sw_err rc;

    texts = sw_calloc(n + 1, sizeof(*texts));
    fam = sw_calloc(n + 1, sizeof(*fam));
    if (texts == NULL || fam == NULL)
        bench_die("cluster", SW_ENOMEM);
    for (i = 0; i < n; i++) {
        char t[400];
        size_t l;
        bench_plan_make(i, &p);
        bench_variant_text(p.var[0], t, sizeof(t));
        l = strlen(t);
        snprintf(t + l, sizeof(t) - l, " for co%u", p.company);
        texts[i] = sw_strdup(t);
        if (texts[i] == NULL)
            bench_die("cluster", SW_ENOMEM);
    }
    t0 = sw_mono_ms();
    rc = rank_family_cluster((const char *const *)texts, n, 0.6, fam);
    ms = sw_mono_ms() - t0;
    if (rc)
        bench_die("cluster", rc);
    for (i = 0; i < n; i++)
        nfam += fam[i] == i;
    printf("{\"step\":\"cluster\",\"framings\":%zu,\"families\":%zu,"
           "\"cluster_ms\":%lld}\n",
           n, nfam, (long long)ms);
    for (i = 0; i < n; i++)
        sw_free(texts[i]);
    sw_free(texts);
    sw_free(fam);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t v = 0;

    sw_log_set_level(SW_LOG_WARN);
    if (argc == 3 && strcmp(argv[1], "rerank") == 0)
        return bench_rerank(argv[2]);
    if (argc == 3 && strcmp(argv[1], "cluster") == 0 &&
        sw_parse_i64(argv[2], strlen(argv[2]), 1, INT32_MAX, &v) == SW_OK)
        return bench_cluster((size_t)v);
    if (argc == 4 && strcmp(argv[1], "delta") == 0 &&
        sw_parse_i64(argv[3], strlen(argv[3]), 1, 1000000, &v) == SW_OK)
        return bench_delta(argv[2], (size_t)v);
    if (argc == 3 && strcmp(argv[1], "follow") == 0)
        return bench_follow(argv[2]);
    if (argc == 3 && strcmp(argv[1], "stats") == 0)
        return bench_stats(argv[2]);
    if (argc == 5 && strcmp(argv[1], "fill") == 0 &&
        sw_parse_i64(argv[4], strlen(argv[4]), 1, INT64_MAX / 4, &v) == SW_OK) {
        if (strcmp(argv[3], "--events") == 0)
            return bench_fill(argv[2], (uint64_t)v, 0);
        if (strcmp(argv[3], "--snippets") == 0)
            return bench_fill(argv[2], 0, (uint64_t)v);
    }
    fprintf(stderr, "usage: bench_rerank fill DIR --events E | "
                    "fill DIR --snippets N | rerank DIR | cluster N | "
                    "delta DIR K | stats DIR | follow DIR\n");
    return 2;
}
