/* pipeline: the ingest path of pipeline.h up to the commit: building the
 * parsed mail (from raw bytes or fields), preparing what the transaction
 * needs (direction, dedupe key, subject key, hashes), and the group-commit
 * queue with its committer thread. The transaction itself is in
 * pipeline_commit.c. */
#include "ingest/pipeline.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_strset.h"
#include "base/sw_util.h"
#include "ingest/pipeline_int.h"
#include "store/store_mail.h"
#include "store/store_tenant.h"

/* Emails per group commit: one fsync for up to this many. A mailbox
 * backfill queues a UID FETCH batch (up to 500) at once, and with 64 its
 * fetches waited on eight commits a batch (docs/PERFORMANCE.md). */
#define INGEST_BATCH_DEFAULT 256
#define INGEST_KEY_MAX 1024
#define INGEST_HASH_INPUT_MAX ((size_t)96 << 20)

struct ingest_pipeline {
    store *s;
    struct ingest_limits lim;
    int batch_max;
    int64_t max_file_bytes, quota_bytes;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the committer waits for items */
    pthread_cond_t done; /* callers wait for their item */
    struct ingest__item *head, *tail;
    void (*on_jobs)(void *arg); /* under mu */
    void *on_jobs_arg;
    int stop;
    pthread_t thr;
    struct ingest_totals tot; /* under mu */
};

int64_t ingest_pipeline_quota_bytes(const ingest_pipeline *p)
{
    return p ? p->quota_bytes : 0;
}

int64_t ingest__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ingest_result_clear(struct ingest_result *res)
{
    size_t i;

    if (res == NULL)
        return;
    sw_free(res->email_id);
    sw_free(res->thread_id);
    if (res->contents) {
        for (i = 0; i < res->n_contents; i++) {
            sw_free(res->contents[i].content_id);
            sw_free(res->contents[i].filename);
        }
        sw_free(res->contents);
    }
    if (res->defects) {
        for (i = 0; i < res->n_defects; i++)
            sw_free(res->defects[i]);
        sw_free(res->defects);
    }
    memset(res, 0, sizeof(*res));
}

/* --- Text helpers ----------------------------------------------------------
 */

sw_err ingest__norm_text(struct sw_buf *b, const char *s, size_t n)
{
    size_t i;
    int space = 0;
    sw_err rc;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
            c == '\v') {
            space = 1;
            continue;
        }
        if (space && sw_buf_len(b) > 0) {
            rc = sw_buf_addc(b, ' ');
            if (rc)
                return rc;
        }
        space = 0;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        rc = sw_buf_addc(b, (char)c);
        if (rc)
            return rc;
    }
    return SW_OK;
}

/* Reply and forward prefixes in several languages, lowercased. */
static const char *const ingest_prefixes[] = {
    "re",  "fw",  "fwd", "aw",  "sv",     "tr",   "vs",   "wg",   "antw",
    "rif", "r",   "ref", "res", "enc",    "odp",  "fs",   "vb",   "antwort",
    "rv",  "ynt", "atb", "vl",  "doorst", "回复", "答复", "转发",
};

/* ingest_prefix_len returns the length of one prefix ("Re:", "Re[2]:",
 * "FWD :", "回复：") at the start of s, or 0. */
static size_t ingest_prefix_len(const char *s)
{
    size_t i, k, n;

    for (i = 0; i < sizeof(ingest_prefixes) / sizeof(ingest_prefixes[0]); i++) {
        n = strlen(ingest_prefixes[i]);
        if (strncasecmp(s, ingest_prefixes[i], n) != 0)
            continue;
        k = n;
        if (s[k] == '[' || s[k] == '(') { /* Re[2]: */
            char close = s[k] == '[' ? ']' : ')';
            k++;
            while (s[k] >= '0' && s[k] <= '9')
                k++;
            if (s[k] != close)
                continue;
            k++;
        }
        while (s[k] == ' ')
            k++;
        if (s[k] == ':')
            return k + 1;
        if (strncmp(s + k, "\xef\xbc\x9a", 3) == 0) /* full-width colon */
            return k + 3;
    }
    return 0;
}

const char *ingest_subject_strip(const char *subject)
{
    const char *p = subject ? subject : "";
    size_t n;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p == '[') { /* "[EXTERNAL] Re: ..." keeps the tag out too */
            const char *q = strchr(p, ']');
            if (q && q - p <= 24 &&
                ingest_prefix_len(q + 1 + strspn(q + 1, " ")))
                p = q + 1;
        }
        while (*p == ' ')
            p++;
        n = ingest_prefix_len(p);
        if (n == 0)
            return p;
        p += n;
    }
}

sw_err ingest_subject_key(const char *subject, struct sw_buf *b)
{
    const char *p = ingest_subject_strip(subject);

    sw_buf_reset(b);
    return ingest__norm_text(b, p, strlen(p));
}

/* --- Building a mail from fields --------------------------------------------
 */

static char *ingest_dup(const char *s, int *bad)
{
    char *p = sw_strdup(s ? s : "");
    if (p == NULL)
        *bad = 1;
    return p;
}

/* ingest_strip_angles copies s without surrounding whitespace and angle
 * brackets; NULL for an empty result. */
static char *ingest_strip_angles(const char *s, int *bad)
{
    size_t n;
    char *p;

    if (s == NULL)
        return NULL;
    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n && s[0] == '<') {
        s++;
        n--;
    }
    if (n && s[n - 1] == '>')
        n--;
    if (n == 0)
        return NULL;
    p = sw_strndup(s, n);
    if (p == NULL)
        *bad = 1;
    return p;
}

/* ingest_addr_parse splits "Name <addr>" or "addr" into a lowercased
 * address and a name. */
static void ingest_addr_parse(const char *s, struct ingest_address *a, int *bad)
{
    const char *lt, *gt;
    size_t n;

    s = s ? s : "";
    lt = strrchr(s, '<');
    gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt) {
        n = (size_t)(lt - s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '"'))
            n--;
        while (*s == ' ' || *s == '"') {
            s++;
            n = n ? n - 1 : 0;
        }
        a->name = sw_strndup(s, n);
        a->email = sw_strndup(lt + 1, (size_t)(gt - lt - 1));
    } else {
        while (*s == ' ')
            s++;
        n = strlen(s);
        while (n && s[n - 1] == ' ')
            n--;
        a->name = sw_strdup("");
        a->email = sw_strndup(s, n);
    }
    if (a->name == NULL || a->email == NULL)
        *bad = 1;
    else
        sw_str_lower(a->email);
}

/* ingest_fields_free frees a mail built by ingest_fields_build (attachment
 * data is borrowed). */
static void ingest_fields_free(struct ingest_mail **mp)
{
    struct ingest_mail *m = mp ? *mp : NULL;
    size_t i;

    if (m == NULL)
        return;
    sw_free(m->message_id);
    sw_free(m->in_reply_to);
    for (i = 0; m->references && i < m->n_references; i++)
        sw_free(m->references[i]);
    sw_free(m->references);
    sw_free(m->subject);
    sw_free(m->from.name);
    sw_free(m->from.email);
    for (i = 0; m->to && i < m->n_to; i++) {
        sw_free(m->to[i].name);
        sw_free(m->to[i].email);
    }
    sw_free(m->to);
    for (i = 0; m->cc && i < m->n_cc; i++) {
        sw_free(m->cc[i].name);
        sw_free(m->cc[i].email);
    }
    sw_free(m->cc);
    sw_free(m->body_text);
    sw_free(m->new_text);
    for (i = 0; m->atts && i < m->n_atts; i++) {
        sw_free(m->atts[i].filename);
        sw_free(m->atts[i].content_type);
        sw_free(m->atts[i].text);
        sw_free(m->atts[i].detail);
    }
    sw_free(m->atts);
    for (i = 0; m->defects && i < m->n_defects; i++)
        sw_free(m->defects[i]);
    sw_free(m->defects);
    sw_free(m);
    *mp = NULL;
}

static SW_MUST_CHECK sw_err ingest_addrs(char *const *v, size_t n,
                                         struct ingest_address **out,
                                         size_t *nout, int *bad)
{
    size_t i;

    *out = sw_calloc(n ? n : 1, sizeof(**out));
    if (*out == NULL)
        return SW_ENOMEM;
    *nout = n;
    for (i = 0; i < n; i++)
        ingest_addr_parse(v[i], &(*out)[i], bad);
    return SW_OK;
}

/* ingest_fields_build turns fields into a struct ingest_mail: the HTML body
 * and the files go through ingest_attachment_extract, the body through
 * ingest_reply_strip. */
static SW_MUST_CHECK sw_err ingest_fields_build(const struct ingest_fields *f,
                                                const struct ingest_limits *l,
                                                struct ingest_mail **out,
                                                int64_t *attach_us,
                                                struct sw_buf *why)
{
    struct ingest_mail *m = NULL;
    struct ingest_attachment html;
    size_t i, total = 0;
    int bad = 0;
    int64_t t0;
    sw_err rc = SW_OK;

    memset(&html, 0, sizeof(html));
    if (f->from == NULL || strchr(f->from, '@') == NULL) {
        rc = SW_EINVAL;
        if (why && sw_buf_addstr(why, "parsed.from_address must hold an "
                                      "email address") != SW_OK)
            rc = SW_ENOMEM;
        goto out;
    }
    /* Every count a client controls is bounded, as raw MIME's are, so
     * that nothing below costs more than linear time in a request. */
    if (f->n_to + f->n_cc > INGEST_MAX_ADDRS ||
        f->n_references > INGEST_MAX_REFS ||
        f->n_files >
            (size_t)(l->max_attachments > 0 ? l->max_attachments : 0)) {
        rc = SW_ETOOBIG;
        if (why &&
            sw_buf_printf(why,
                          "the email has %zu recipients (To and Cc), %zu "
                          "references and %zu files; the limits are %d, %d "
                          "and %d",
                          f->n_to + f->n_cc, f->n_references, f->n_files,
                          INGEST_MAX_ADDRS, INGEST_MAX_REFS,
                          l->max_attachments) != SW_OK)
            rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < f->n_files; i++)
        total += f->files[i].len;
    total += f->text_body ? strlen(f->text_body) : 0;
    total += f->html_body ? strlen(f->html_body) : 0;
    if (total > l->max_message_bytes) {
        rc = SW_ETOOBIG;
        if (why && sw_buf_printf(why,
                                 "the email is %zu bytes, over the limit of "
                                 "%zu",
                                 total, l->max_message_bytes) != SW_OK)
            rc = SW_ENOMEM;
        goto out;
    }
    m = sw_calloc(1, sizeof(*m));
    if (m == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    m->message_id = ingest_strip_angles(f->message_id, &bad);
    m->in_reply_to = ingest_strip_angles(f->in_reply_to, &bad);
    m->references =
        sw_calloc(f->n_references ? f->n_references : 1, sizeof(char *));
    if (m->references == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < f->n_references; i++) {
        char *r = ingest_strip_angles(f->references[i], &bad);
        if (r)
            m->references[m->n_references++] = r;
    }
    m->subject = ingest_dup(f->subject, &bad);
    ingest_addr_parse(f->from, &m->from, &bad);
    rc = ingest_addrs(f->to, f->n_to, &m->to, &m->n_to, &bad);
    if (rc == SW_OK)
        rc = ingest_addrs(f->cc, f->n_cc, &m->cc, &m->n_cc, &bad);
    if (rc)
        goto out;
    m->date_ms = f->sent_ms;
    t0 = ingest__now_us();
    if (f->text_body && f->text_body[0]) {
        m->body_text = ingest_dup(f->text_body, &bad);
    } else if (f->html_body && f->html_body[0]) {
        html.content_type = "text/html";
        html.filename = "body.html";
        html.data = (unsigned char *)f->html_body;
        html.len = strlen(f->html_body);
        rc = ingest_attachment_extract(&html, l);
        if (rc)
            goto out;
        m->body_text = ingest_dup(html.text ? html.text : "", &bad);
        m->body_from_html = 1;
    } else {
        m->body_text = ingest_dup("", &bad);
    }
    if (bad) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = ingest_reply_strip(m->body_text, strlen(m->body_text), &m->new_text);
    if (rc)
        goto out;
    m->atts = sw_calloc(f->n_files ? f->n_files : 1, sizeof(*m->atts));
    m->defects = sw_calloc(1, sizeof(char *));
    if (m->atts == NULL || m->defects == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < f->n_files; i++) {
        struct ingest_attachment *a = &m->atts[i];
        m->n_atts++;
        a->filename = ingest_dup(f->files[i].filename, &bad);
        a->content_type = ingest_dup(f->files[i].content_type, &bad);
        if (bad) {
            rc = SW_ENOMEM;
            goto out;
        }
        sw_str_lower(a->content_type);
        a->data = (unsigned char *)f->files[i].data;
        a->len = f->files[i].len;
        sw_sha256(a->data ? (const void *)a->data : "", a->len, a->sha256);
        rc = ingest_attachment_extract(a, l);
        if (rc)
            goto out;
    }
    if (attach_us)
        *attach_us = ingest__now_us() - t0;
    *out = m;
    m = NULL;
out:
    /* html's strings were made by the extractor; its data is borrowed. */
    sw_free(html.text);
    sw_free(html.detail);
    ingest_fields_free(&m);
    return rc;
}

/* --- Preparing an item ------------------------------------------------------
 */

/* ingest_add_participant adds address e to the item's participants once
 * (seen: the set of those already added, which borrows their copies). */
static SW_MUST_CHECK sw_err ingest_add_participant(struct ingest__item *it,
                                                   struct sw_strset *seen,
                                                   const char *e, size_t cap)
{
    sw_err rc;

    if (e == NULL || e[0] == '\0' || strchr(e, '@') == NULL ||
        sw_strset_has(seen, e) || it->n_participants >= cap)
        return SW_OK;
    it->participants[it->n_participants] = sw_strdup(e);
    if (it->participants[it->n_participants] == NULL)
        return SW_ENOMEM;
    rc = sw_strset_add(seen, it->participants[it->n_participants], NULL);
    it->n_participants++;
    return rc;
}

/* ingest_is_team reports whether email is a member or on a team domain. */
static SW_MUST_CHECK sw_err ingest_is_team(store *s, const char *team_id,
                                           const char *email, int *yes)
{
    const char *at;
    bool b = false;
    sw_err rc;

    *yes = 0;
    if (email == NULL || (at = strrchr(email, '@')) == NULL)
        return SW_OK;
    rc = store_member_is(s, team_id, email, &b);
    if (rc == SW_OK && !b)
        rc = store_domain_is(s, team_id, at + 1, &b);
    if (rc == SW_OK)
        *yes = b;
    return rc;
}

static void ingest_item_clear(struct ingest__item *it)
{
    size_t i;

    sw_free(it->rep_email);
    sw_buf_free(&it->dkey);
    sw_buf_free(&it->subject_key);
    for (i = 0; it->participants && i < it->n_participants; i++)
        sw_free(it->participants[i]);
    sw_free(it->participants);
    sw_free(it->text_sha);
    sw_free(it->has_text_sha);
    ingest_result_clear(&it->res);
}

/* ingest_dedupe_hash hashes the normalised headers and body of a mail
 * without a Message-ID. */
static SW_MUST_CHECK sw_err ingest_dedupe_hash(const struct ingest_mail *m,
                                               const struct sw_buf *subj,
                                               unsigned char out[32])
{
    struct sw_buf b;
    size_t i;
    sw_err rc;

    sw_buf_init(&b, INGEST_HASH_INPUT_MAX);
    rc = sw_buf_printf(&b, "from:%s\nto:", m->from.email ? m->from.email : "");
    for (i = 0; rc == SW_OK && i < m->n_to; i++)
        rc = sw_buf_printf(&b, "%s,", m->to[i].email ? m->to[i].email : "");
    if (rc == SW_OK)
        rc = sw_buf_addstr(&b, "\ncc:");
    for (i = 0; rc == SW_OK && i < m->n_cc; i++)
        rc = sw_buf_printf(&b, "%s,", m->cc[i].email ? m->cc[i].email : "");
    if (rc == SW_OK)
        rc = sw_buf_printf(&b,
                           "\nsubject:%s\ndate:%lld\nbody:", sw_buf_str(subj),
                           (long long)m->date_ms);
    if (rc == SW_OK && m->body_text)
        rc = ingest__norm_text(&b, m->body_text, strlen(m->body_text));
    for (i = 0; rc == SW_OK && i < m->n_atts; i++)
        rc = sw_buf_add(&b, m->atts[i].sha256, SW_SHA256_LEN);
    if (rc == SW_OK)
        sw_sha256(sw_buf_str(&b), sw_buf_len(&b), out);
    sw_buf_free(&b);
    return rc;
}

static SW_MUST_CHECK sw_err ingest_prepare(store *s, const char *team_id,
                                           const struct ingest_mail *m,
                                           int direction,
                                           struct ingest__item *it)
{
    unsigned char sha[SW_SHA256_LEN];
    struct sw_strset seen = SW_STRSET_INIT;
    struct sw_buf nb;
    size_t i, cap;
    int yes = 0;
    sw_err rc;

    sw_buf_init(&nb, INGEST_HASH_INPUT_MAX);
    it->team_id = team_id;
    it->m = m;
    it->now_ms = sw_now_ms();
    it->eff_ms = m->date_ms > 0 ? m->date_ms : it->now_ms;
    sw_buf_init(&it->dkey, INGEST_KEY_MAX);
    sw_buf_init(&it->subject_key, INGEST_KEY_MAX / 2);
    rc = ingest_subject_key(m->subject, &it->subject_key);
    if (rc == SW_ETOOBIG) { /* an absurd subject: no subject fallback */
        sw_buf_reset(&it->subject_key);
        rc = SW_OK;
    }
    if (rc)
        goto out;
    /* Direction: given, else From a member or on a team domain. */
    if (direction == INGEST_DIR_OUTBOUND || direction == INGEST_DIR_INBOUND) {
        it->direction = direction;
    } else {
        rc = ingest_is_team(s, team_id, m->from.email, &yes);
        if (rc)
            goto out;
        it->direction = yes ? INGEST_DIR_OUTBOUND : INGEST_DIR_INBOUND;
    }
    /* The rep: the sender of outbound mail, else the first team addressee. */
    if (it->direction == INGEST_DIR_OUTBOUND) {
        it->rep_email = sw_strdup(m->from.email ? m->from.email : "");
    } else {
        for (i = 0; i < m->n_to + m->n_cc && it->rep_email == NULL; i++) {
            const char *e =
                i < m->n_to ? m->to[i].email : m->cc[i - m->n_to].email;
            rc = ingest_is_team(s, team_id, e, &yes);
            if (rc)
                goto out;
            if (yes)
                it->rep_email = sw_strdup(e);
        }
        if (it->rep_email == NULL)
            it->rep_email = sw_strdup("");
    }
    if (it->rep_email == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    cap = 1 + m->n_to + m->n_cc;
    it->participants = sw_calloc(cap, sizeof(char *));
    if (it->participants == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = sw_strset_reserve(&seen, cap);
    if (rc == SW_OK)
        rc = ingest_add_participant(it, &seen, m->from.email, cap);
    for (i = 0; rc == SW_OK && i < m->n_to; i++)
        rc = ingest_add_participant(it, &seen, m->to[i].email, cap);
    for (i = 0; rc == SW_OK && i < m->n_cc; i++)
        rc = ingest_add_participant(it, &seen, m->cc[i].email, cap);
    sw_strset_free(&seen);
    if (rc)
        goto out;
    /* Dedupe key. */
    if (m->message_id && m->message_id[0]) {
        rc = store_mail_msgid_key(&it->dkey, m->message_id);
    } else {
        rc = ingest_dedupe_hash(m, &it->subject_key, sha);
        if (rc == SW_OK)
            rc = store_mail_hash_key(&it->dkey, sha);
    }
    if (rc)
        goto out;
    /* Text hashes of the attachments, for the re-exported deck. */
    it->text_sha = sw_calloc(m->n_atts ? m->n_atts : 1, 32);
    it->has_text_sha = sw_calloc(m->n_atts ? m->n_atts : 1, sizeof(int));
    if (it->text_sha == NULL || it->has_text_sha == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < m->n_atts; i++) {
        const struct ingest_attachment *a = &m->atts[i];
        if (a->state != INGEST_TEXT_EXTRACTED || a->text == NULL)
            continue;
        sw_buf_reset(&nb);
        rc = ingest__norm_text(&nb, a->text, a->text_len);
        if (rc)
            goto out;
        if (sw_buf_len(&nb) < 16) /* too little text to call two files one */
            continue;
        sw_sha256(sw_buf_str(&nb), sw_buf_len(&nb), it->text_sha[i]);
        it->has_text_sha[i] = 1;
    }
    it->has_links = m->new_text && (strstr(m->new_text, "http://") ||
                                    strstr(m->new_text, "https://"));
out:
    sw_buf_free(&nb);
    return rc;
}

/* --- Group commit ----------------------------------------------------------
 */

struct ingest_batch {
    struct ingest__item **items;
    size_t n;
};

static SW_MUST_CHECK sw_err ingest_batch_txn(store_txn *t, void *arg)
{
    struct ingest_batch *b = arg;
    size_t i;
    sw_err rc;

    for (i = 0; i < b->n; i++) {
        const struct ingest_txn_hook *h = b->items[i]->hook;
        rc = ingest__commit_item(t, b->items[i]);
        if (rc == SW_OK && h && h->fn) /* in the same transaction */
            rc = h->fn(t, &b->items[i]->res, h->arg);
        if (rc)
            return rc;
    }
    return SW_OK;
}

/* ingest_run_batch commits the batch in one transaction; if that fails, it
 * commits each email alone so that one bad email fails only itself. */
static void ingest_run_batch(ingest_pipeline *p, struct ingest__item **items,
                             size_t n)
{
    struct ingest_batch b;
    int64_t t0 = ingest__now_us(), dt;
    size_t i;
    sw_err rc;

    for (i = 0; i < n; i++)
        items[i]->start_us = t0;
    b.items = items;
    b.n = n;
    rc = store_update(p->s, ingest_batch_txn, &b);
    if (rc && n > 1) {
        sw_log_warn("ingest.batch_failed", "n=%zu err=%s", n, sw_err_name(rc));
        for (i = 0; i < n; i++) {
            b.items = &items[i];
            b.n = 1;
            items[i]->rc = store_update(p->s, ingest_batch_txn, &b);
        }
    } else {
        for (i = 0; i < n; i++)
            items[i]->rc = rc;
    }
    dt = ingest__now_us() - t0;
    for (i = 0; i < n; i++) {
        items[i]->commit_us = dt;
        items[i]->batch = (int)n;
    }
}

/* ingest_jobs_queued tells on_jobs that the commit of items[0..n) queued an
 * extraction job. mu held; the items are still the committer's (done not
 * yet set). */
static void ingest_jobs_queued(ingest_pipeline *p, struct ingest__item **items,
                               size_t n)
{
    size_t i;

    for (i = 0; i < n && p->on_jobs; i++) {
        if (items[i]->rc == SW_OK && items[i]->res.job_id != 0) {
            p->on_jobs(p->on_jobs_arg);
            return;
        }
    }
}

void ingest_pipeline_on_jobs(ingest_pipeline *p, void (*fn)(void *arg),
                             void *arg)
{
    pthread_mutex_lock(&p->mu);
    p->on_jobs = fn;
    p->on_jobs_arg = arg;
    pthread_mutex_unlock(&p->mu);
}

static void *ingest_committer(void *arg)
{
    ingest_pipeline *p = arg;
    struct ingest__item **batch;
    size_t n, i;

    batch = sw_calloc((size_t)p->batch_max, sizeof(*batch));
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->head == NULL)
            break;
        n = 0;
        while (p->head && (n == 0 || (batch && n < (size_t)p->batch_max))) {
            struct ingest__item *it = p->head;
            p->head = it->next;
            if (p->head == NULL)
                p->tail = NULL;
            if (batch == NULL) { /* no memory for a batch: one at a time */
                pthread_mutex_unlock(&p->mu);
                ingest_run_batch(p, &it, 1);
                pthread_mutex_lock(&p->mu);
                ingest_jobs_queued(p, &it, 1);
                it->done = 1;
                p->tot.commits++;
                pthread_cond_broadcast(&p->done);
                continue;
            }
            batch[n++] = it;
        }
        if (n == 0)
            continue;
        pthread_mutex_unlock(&p->mu);
        ingest_run_batch(p, batch, n);
        pthread_mutex_lock(&p->mu);
        ingest_jobs_queued(p, batch, n);
        for (i = 0; i < n; i++)
            batch[i]->done = 1;
        p->tot.commits++;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    sw_free(batch);
    return NULL;
}

sw_err ingest_pipeline_open(store *s, const struct ingest_pipeline_opts *o,
                            ingest_pipeline **out)
{
    ingest_pipeline *p;

    if (s == NULL || out == NULL)
        return SW_EINVAL;
    p = sw_calloc(1, sizeof(*p));
    if (p == NULL)
        return SW_ENOMEM;
    p->s = s;
    if (o && o->limits.max_message_bytes)
        p->lim = o->limits;
    else
        ingest_limits_default(&p->lim);
    p->batch_max = o && o->batch_max > 0 ? o->batch_max : INGEST_BATCH_DEFAULT;
    p->max_file_bytes = o == NULL || o->max_file_bytes == 0
                            ? INGEST_FILE_MAX_DEFAULT
                        : o->max_file_bytes < 0 ? -1
                                                : o->max_file_bytes;
    p->quota_bytes = o && o->quota_bytes > 0 ? o->quota_bytes : 0;
    ingest_mail_global_init();
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (pthread_create(&p->thr, NULL, ingest_committer, p) != 0) {
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        sw_free(p);
        return SW_EINTERNAL;
    }
    *out = p;
    return SW_OK;
}

void ingest_pipeline_close(ingest_pipeline **pp)
{
    ingest_pipeline *p = pp ? *pp : NULL;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thr, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    sw_free(p);
    *pp = NULL;
}

void ingest_pipeline_totals(ingest_pipeline *p, struct ingest_totals *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->tot;
    pthread_mutex_unlock(&p->mu);
}

/* ingest_enqueue hands it to the committer. */
static SW_MUST_CHECK sw_err ingest_enqueue(ingest_pipeline *p,
                                           struct ingest__item *it)
{
    pthread_mutex_lock(&p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        return SW_EBUSY;
    }
    it->enq_us = ingest__now_us();
    it->next = NULL;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return SW_OK;
}

/* ingest_wait waits until the committer is done with it. */
static SW_MUST_CHECK sw_err ingest_wait(ingest_pipeline *p,
                                        struct ingest__item *it)
{
    pthread_mutex_lock(&p->mu);
    while (!it->done)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return it->rc;
}

static void ingest_why(struct sw_buf *why, const char *msg)
{
    if (why && sw_buf_len(why) == 0 && sw_buf_addstr(why, msg) != SW_OK)
        sw_buf_reset(why);
}

struct ingest_ticket {
    ingest_pipeline *p;
    struct ingest__item it;
    struct ingest_mail *m;
    int from_fields;
    int queued;
    struct ingest_stats st;
};

static void ingest_count(ingest_pipeline *p, sw_err rc, int status,
                         const struct ingest_stats *st)
{
    pthread_mutex_lock(&p->mu);
    p->tot.calls++;
    if (rc == SW_OK && status == INGEST_NEW)
        p->tot.new_emails++;
    else if (rc == SW_OK)
        p->tot.duplicates++;
    else if (rc == SW_EPARSE || rc == SW_ETOOBIG || rc == SW_EINVAL)
        p->tot.rejected++;
    p->tot.parse_us += st->parse_us;
    p->tot.prepare_us += st->prepare_us;
    p->tot.queue_us += st->queue_us;
    p->tot.commit_us += st->commit_us;
    pthread_mutex_unlock(&p->mu);
}

static void ingest_ticket_free(struct ingest_ticket *k)
{
    if (k == NULL)
        return;
    ingest_item_clear(&k->it);
    if (k->from_fields)
        ingest_fields_free(&k->m);
    else
        ingest_mail_free(&k->m);
    sw_free(k);
}

sw_err ingest_email_begin(ingest_pipeline *p, const char *team_id,
                          const struct ingest_request *r, ingest_ticket **out,
                          struct sw_buf *why)
{
    struct ingest_ticket *k = NULL;
    int64_t t0, t1;
    sw_err rc;

    if (why)
        sw_buf_reset(why);
    if (p == NULL || team_id == NULL || !team_id[0] || r == NULL || out == NULL)
        return SW_EINVAL;
    if ((r->raw != NULL) == (r->fields != NULL)) {
        rc = SW_EINVAL;
        ingest_why(why, "give exactly one of raw_mime and parsed");
        goto out;
    }
    if (r->direction < 0 || r->direction > INGEST_DIR_INBOUND) {
        rc = SW_EINVAL;
        ingest_why(why, "direction is not a known value");
        goto out;
    }
    k = sw_calloc(1, sizeof(*k));
    if (k == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    k->p = p;
    t0 = ingest__now_us();
    if (r->raw) {
        if (r->raw_len == 0) {
            rc = SW_EPARSE;
            ingest_why(why, "raw_mime is empty");
            goto out;
        }
        rc = ingest_mail_parse(r->raw, r->raw_len, &p->lim, &k->m, why);
    } else {
        k->from_fields = 1;
        rc = ingest_fields_build(r->fields, &p->lim, &k->m, &k->st.attach_us,
                                 why);
    }
    if (rc) {
        if (rc == SW_EPARSE)
            ingest_why(why, "the message could not be parsed as mail");
        else if (rc == SW_ETOOBIG)
            ingest_why(why, "the message is over the size limit");
        goto out;
    }
    t1 = ingest__now_us();
    k->st.parse_us = t1 - t0;
    k->it.max_file_bytes = p->max_file_bytes;
    k->it.quota_bytes = p->quota_bytes;
    k->it.hook = r->hook;
    rc = ingest_prepare(p->s, team_id, k->m, r->direction, &k->it);
    if (rc)
        goto out;
    k->st.prepare_us = ingest__now_us() - t1;
    rc = ingest_enqueue(p, &k->it);
    if (rc)
        goto out;
    k->queued = 1;
    *out = k;
    k = NULL;
out:
    if (k) {
        ingest_count(p, rc, 0, &k->st);
        ingest_ticket_free(k);
    } else if (rc) {
        struct ingest_stats none;
        memset(&none, 0, sizeof(none));
        ingest_count(p, rc, 0, &none);
    }
    return rc;
}

sw_err ingest_email_end(ingest_ticket **tp, struct ingest_result *res,
                        struct ingest_stats *st, struct sw_buf *why)
{
    struct ingest_ticket *k = tp ? *tp : NULL;
    sw_err rc;

    if (res)
        memset(res, 0, sizeof(*res));
    if (k == NULL)
        return SW_EINVAL;
    rc = ingest_wait(k->p, &k->it);
    k->st.queue_us = k->it.start_us - k->it.enq_us;
    k->st.commit_us = k->it.commit_us;
    k->st.batch = k->it.batch;
    ingest_count(k->p, rc, k->it.res.status, &k->st);
    if (st)
        *st = k->st;
    if (rc == SW_EQUOTA && k->it.why[0])
        ingest_why(why, k->it.why);
    if (rc == SW_OK && res) {
        *res = k->it.res;
        memset(&k->it.res, 0, sizeof(k->it.res));
    }
    ingest_ticket_free(k);
    *tp = NULL;
    return rc;
}

sw_err ingest_email(ingest_pipeline *p, const char *team_id,
                    const struct ingest_request *r, struct ingest_result *res,
                    struct ingest_stats *st, struct sw_buf *why)
{
    ingest_ticket *k = NULL;
    sw_err rc;

    if (res)
        memset(res, 0, sizeof(*res));
    if (st)
        memset(st, 0, sizeof(*st));
    if (res == NULL)
        return SW_EINVAL;
    rc = ingest_email_begin(p, team_id, r, &k, why);
    if (rc)
        return rc;
    return ingest_email_end(&k, res, st, why);
}
