/* reply: ingest_reply_strip, the new text of a reply. Works on lines: find
 * where the quoted history starts (an "On ... wrote:" header in one to
 * three lines, an "Original Message" rule, an Outlook From:/Sent: block, in
 * several languages), keep what is above it (or, for replies written
 * below or between quoted lines, the unquoted lines down to the last new
 * one), then drop the signature and every ">" quoted line. */
#include <string.h>
#include <strings.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/mail.h"

struct reply_line {
    const char *p;
    size_t n;
};

/* Verbs of "On <date>, <name> wrote:" headers, lowercase UTF-8. */
static const char *const reply_verbs[] = {
    "wrote",      "writes",     "schrieb", "geschrieben", "a écrit",
    "a ecrit",    "ha scritto", "scrisse", "escribió",    "escribio",
    "ha escrito", "escreveu",   "skrev",   "skrive",      "kirjoitti",
    "napisał",    "napisała",   "napisal", "написал",     "написала",
    "пишет",      "schreef",    "írta",    "yazdı",       "kirjutas",
    "rašė",       "napsal",     "napísal", "έγραψε",      "写道",
    "寫道",       "wrote",      NULL};

/* Rules that introduce an original or forwarded message. */
static const char *const reply_rules[] = {
    "original message",        "message d'origine",
    "message d’origine",       "ursprüngliche nachricht",
    "originalnachricht",       "mensaje original",
    "messaggio originale",     "mensagem original",
    "oorspronkelijk bericht",  "original meddelelse",
    "originalmeddelelse",      "opprinnelig melding",
    "ursprungligt meddelande", "alkuperäinen viesti",
    "исходное сообщение",      "пересылаемое сообщение",
    "wiadomość oryginalna",    "forwarded message",
    "message transféré",       "weitergeleitete nachricht",
    "begin forwarded message", "mensaje reenviado",
    "messaggio inoltrato",     NULL};

/* Outlook header names: the first line of the block, then the others. */
static const char *const reply_from[] = {
    "from", "de",        "von", "da",     "fra",        "van",      "od",
    "från", "lähettäjä", "от",  "feladó", "expéditeur", "afzender", NULL};
static const char *const reply_hdr[] = {"sent",      "date",
                                        "to",        "subject",
                                        "cc",        "gesendet",
                                        "datum",     "an",
                                        "betreff",   "envoyé",
                                        "à",         "objet",
                                        "À",         "envoyé le",
                                        "sujet",     "copie à",
                                        "inviato",   "data",
                                        "a",         "oggetto",
                                        "enviado",   "fecha",
                                        "para",      "asunto",
                                        "assunto",   "sendt",
                                        "dato",      "til",
                                        "emne",      "verzonden",
                                        "aan",       "onderwerp",
                                        "lähetetty", "vastaanottaja",
                                        "aihe",      "отправлено",
                                        "кому",      "тема",
                                        "skickat",   "ämne",
                                        "wysłano",   "temat",
                                        "do",        "kopie",
                                        "copie",     NULL};

/* Lines that open a mobile or webmail signature. */
static const char *const reply_sent_from[] = {
    "gesendet von",         "envoyé à partir de",
    "sent from my",         "sent from mail",
    "sent from outlook",    "sent from yahoo",
    "sent from samsung",    "sent from windows mail",
    "get outlook for",      "envoyé de mon",
    "envoyé depuis",        "von meinem",
    "gesendet von meinem",  "enviado desde mi",
    "enviado do meu",       "inviato da",
    "skickat från min",     "sendt fra min",
    "verzonden vanaf mijn", "lähetetty",
    "отправлено с",         NULL};

static int reply_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* reply_trim narrows a line to its non-blank middle. */
static struct reply_line reply_trim(struct reply_line l)
{
    while (l.n > 0 && reply_space(l.p[0])) {
        l.p++;
        l.n--;
    }
    while (l.n > 0 && reply_space(l.p[l.n - 1]))
        l.n--;
    return l;
}

static int reply_blank(struct reply_line l)
{
    return reply_trim(l).n == 0;
}

static int reply_quoted(struct reply_line l)
{
    l = reply_trim(l);
    return l.n > 0 && l.p[0] == '>';
}

/* reply_lower copies up to cap-1 bytes of s, ASCII-lowercased. */
static size_t reply_lower(const char *s, size_t n, char *out, size_t cap)
{
    size_t i;

    if (n > cap - 1)
        n = cap - 1;
    for (i = 0; i < n; i++)
        out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    out[n] = '\0';
    return n;
}

static int reply_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* reply_find_word finds w in s as a word (not inside a longer word). */
static const char *reply_find_word(const char *s, const char *w)
{
    size_t wn = strlen(w);
    const char *p = s;

    while ((p = strstr(p, w)) != NULL) {
        int left = p == s || !reply_word_char((unsigned char)p[-1]);
        int right = !reply_word_char((unsigned char)p[wn]) ||
                    (unsigned char)p[wn] >= 0x80;
        if (left && right)
            return p;
        p++;
    }
    return NULL;
}

/* reply_is_wrote checks one joined header candidate (lowercased). */
static int reply_is_wrote(const char *s, size_t n)
{
    size_t i;
    int digit = 0, at = 0;

    if (n < 6 || n > 400 || s[n - 1] != ':' || s[0] == '>')
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digit = 1;
        if (s[i] == '@' || s[i] == '<')
            at = 1;
    }
    /* "30.09.2017, 18.30, "John" <john@example.com>:" has no verb. */
    if (digit && n >= 3 && s[n - 2] == '>' && strchr(s, '@') != NULL && n < 200)
        return 1;
    for (i = 0; reply_verbs[i]; i++) {
        const char *v = reply_find_word(s, reply_verbs[i]);
        const char *e;
        if (v == NULL)
            continue;
        /* "... <name> wrote:" or a dated header naming the sender. */
        e = v + strlen(reply_verbs[i]);
        while (*e == ' ')
            e++;
        if (*e == ':' && e == s + n - 1 && (digit || at || n < 60))
            return 1;
        if (digit && (at || strchr(s, ',') != NULL))
            return 1;
    }
    return 0;
}

static int reply_ends_sentence(struct reply_line l)
{
    l = reply_trim(l);
    return l.n > 0 &&
           (l.p[l.n - 1] == '.' || l.p[l.n - 1] == '!' || l.p[l.n - 1] == '?');
}

static int reply_wrote_header(const struct reply_line *L, size_t n, size_t i);

/* reply_intro: the line opens like a reply header ("On ", "Am ", a date). */
static int reply_intro(struct reply_line l)
{
    static const char *const w[] = {"on ", "am ", "le ",  "el ", "il ",
                                    "em ", "op ", "den ", NULL};
    char buf[8];
    size_t i;

    l = reply_trim(l);
    if (l.n == 0)
        return 0;
    if (l.p[0] >= '0' && l.p[0] <= '9')
        return 1;
    reply_lower(l.p, l.n, buf, sizeof buf);
    for (i = 0; w[i]; i++)
        if (strncmp(buf, w[i], strlen(w[i])) == 0)
            return 1;
    return 0;
}

/* reply_wrote_header returns how many lines (1..3) starting at i form an
 * "On ... wrote:" header, or 0. */
static int reply_wrote_header(const struct reply_line *L, size_t n, size_t i)
{
    char buf[512];
    size_t len = 0, k, j;

    for (k = 0; k < 3 && i + k < n; k++) {
        struct reply_line t = reply_trim(L[i + k]);
        if (t.n == 0 || (k > 0 && t.p[0] == '>' && t.n > 2))
            return 0;
        if (len > 0 && len < sizeof buf - 1)
            buf[len++] = ' ';
        len += reply_lower(t.p, t.n, buf + len, sizeof buf - len);
        if (len > 0 && buf[len - 1] == ':') {
            if (!reply_is_wrote(buf, len))
                return 0;
            /* The same header starting one line later is the tighter
             * match: the line at i is text just above the header. */
            for (j = i + 1; j <= i + k; j++)
                if ((reply_ends_sentence(L[j - 1]) || reply_intro(L[j])) &&
                    reply_wrote_header(L, n, j) == (int)(k - (j - i) + 1))
                    return 0;
            return (int)k + 1;
        }
        /* "On <date> <name> wrote" without its colon. */
        if (len > 9 && strncmp(buf, "on ", 3) == 0 &&
            strcmp(buf + len - 6, " wrote") == 0 &&
            strpbrk(buf, "0123456789") != NULL)
            return (int)k + 1;
    }
    return 0;
}

/* reply_rule: a short line of dashes, underscores or stars around one of
 * the phrases, or a "Begin forwarded message:" line. */
static int reply_rule(struct reply_line l)
{
    char buf[160];
    size_t i, n;

    l = reply_trim(l);
    if (l.n == 0 || l.n > 120)
        return 0;
    n = reply_lower(l.p, l.n, buf, sizeof buf);
    /* "-------- Oprindelig besked --------": words between long rules. */
    if (n > 10 && strncmp(buf, "----", 4) == 0 &&
        strcmp(buf + n - 4, "----") == 0) {
        size_t letters = 0;
        for (i = 0; i < n; i++)
            letters += reply_word_char((unsigned char)buf[i]) != 0;
        if (letters >= 4)
            return 1;
    }
    for (i = 0; reply_rules[i]; i++) {
        const char *p = strstr(buf, reply_rules[i]);
        if (p == NULL)
            continue;
        if (buf[0] == '-' || buf[0] == '_' || buf[0] == '*' || buf[0] == '=' ||
            p == buf || buf[n - 1] == '-')
            return 1;
    }
    return 0;
}

/* reply_header_name: does the line start with one of names and a colon
 * (allowing "*From:*" bold markers and a space before the colon)? */
static int reply_header_name(struct reply_line l, const char *const *names)
{
    char buf[64];
    size_t i, n, k;

    l = reply_trim(l);
    while (l.n > 0 && l.p[0] == '*') {
        l.p++;
        l.n--;
    }
    n = reply_lower(l.p, l.n < 40 ? l.n : 40, buf, sizeof buf);
    for (i = 0; names[i]; i++) {
        k = strlen(names[i]);
        if (n <= k || strncmp(buf, names[i], k) != 0)
            continue;
        while (k < n && (buf[k] == ' ' || buf[k] == '*'))
            k++;
        if (k < n && buf[k] == ':')
            return 1;
    }
    return 0;
}

/* reply_outlook: a From: line followed within four lines by another
 * header line (Sent:, Date:, To:, Subject: and their translations). */
static int reply_outlook(const struct reply_line *L, size_t n, size_t i)
{
    size_t k;

    if (!reply_header_name(L[i], reply_from))
        return 0;
    for (k = i + 1; k < n && k <= i + 4; k++) {
        if (reply_blank(L[k]))
            continue;
        if (reply_header_name(L[k], reply_hdr))
            return 1;
    }
    return 0;
}

static int reply_underscores(struct reply_line l)
{
    size_t i;

    l = reply_trim(l);
    if (l.n < 2)
        return 0;
    for (i = 0; i < l.n; i++)
        if (l.p[i] != '_')
            return 0;
    return 1;
}

/* reply_sig_delim: "--", "-- " or a rule of underscores. */
static int reply_sig_delim(struct reply_line l)
{
    struct reply_line t = reply_trim(l);

    if (t.n == 2 && t.p[0] == '-' && t.p[1] == '-')
        return 1;
    /* A rule of three or more em dashes ("———") above contact details. */
    if (t.n >= 9 && t.n % 3 == 0) {
        size_t i;
        for (i = 0; i < t.n; i += 3)
            if (memcmp(t.p + i, "\xE2\x80\x94", 3) != 0)
                break;
        if (i == t.n)
            return 1;
    }
    return reply_underscores(l);
}

static int reply_sent_from_line(struct reply_line l)
{
    char buf[96];
    size_t i, n, words = 1;

    l = reply_trim(l);
    if (l.n == 0 || l.n > 80)
        return 0;
    n = reply_lower(l.p, l.n, buf, sizeof buf);
    for (i = 0; i < n; i++)
        if (buf[i] == ' ')
            words++;
    if (words > 8)
        return 0;
    for (i = 0; reply_sent_from[i]; i++)
        if (strncmp(buf, reply_sent_from[i], strlen(reply_sent_from[i])) == 0)
            return 1;
    return 0;
}

/* reply_header_ish: a short "Label : value with digits" line or a rule of
 * '=' or '-', as mail clients put above a From: block. */
static int reply_header_ish(struct reply_line l)
{
    size_t i, digits = 0, colon = 0, rule = 1;

    l = reply_trim(l);
    if (l.n == 0 || l.n > 60)
        return 0;
    for (i = 0; i < l.n; i++) {
        digits += l.p[i] >= '0' && l.p[i] <= '9';
        colon += l.p[i] == ':';
        if (l.p[i] != '=' && l.p[i] != '-')
            rule = 0;
    }
    return (rule && l.n >= 3) || (colon && digits >= 4);
}

/* reply_extend_up moves a From: block's start over the header-ish lines
 * and blank lines just above it. */
static size_t reply_extend_up(const struct reply_line *L, size_t i)
{
    size_t j = i, best = i;

    while (j > 0 && (reply_blank(L[j - 1]) || reply_header_ish(L[j - 1]))) {
        j--;
        if (!reply_blank(L[j]))
            best = j;
    }
    return best;
}

/* reply_boundary finds the first line where quoted history starts; sets
 * *wrote when it is an "On ... wrote:" header and *hlen to its lines. */
static size_t reply_boundary(const struct reply_line *L, size_t n, int *wrote,
                             int *hlen)
{
    size_t i;

    *wrote = 0;
    *hlen = 0;
    for (i = 0; i < n; i++) {
        int h = reply_wrote_header(L, n, i);
        if (h > 0) {
            *wrote = 1;
            *hlen = h;
            return i;
        }
        if (reply_quoted(L[i])) {
            /* A quoted "> On ... wrote:" header still ends the reply. */
            struct reply_line t = reply_trim(L[i]);
            t.p++;
            t.n--;
            if (reply_wrote_header(&t, 1, 0) > 0)
                return i;
            continue;
        }
        if (reply_rule(L[i]))
            return i;
        if (reply_outlook(L, n, i)) {
            /* Outlook puts a rule of underscores above the block. */
            size_t j = i;
            while (j > 0 && reply_blank(L[j - 1]))
                j--;
            if (j > 0 && reply_underscores(L[j - 1]))
                return j - 1;
            return reply_extend_up(L, i);
        }
    }
    return n;
}

/* reply_valediction: "Regards," and its variants alone on a line, with at
 * most four short lines (name, title) after it before end. */
static int reply_valediction(const struct reply_line *L, size_t i, size_t end)
{
    static const char *const v[] = {"regards",
                                    "best regards",
                                    "kind regards",
                                    "warm regards",
                                    "best wishes",
                                    "cordialement",
                                    "mit freundlichen grüßen",
                                    "viele grüße",
                                    "saludos",
                                    "cordiali saluti",
                                    NULL};
    struct reply_line t = reply_trim(L[i]);
    char buf[64];
    size_t k, n, lines = 0;

    if (t.n == 0 || t.n > 40)
        return 0;
    n = reply_lower(t.p, t.n, buf, sizeof buf);
    while (n > 0 && (buf[n - 1] == ',' || buf[n - 1] == '.'))
        buf[--n] = '\0';
    for (k = 0; v[k]; k++)
        if (strcmp(buf, v[k]) == 0)
            break;
    if (v[k] == NULL)
        return 0;
    for (k = i + 1; k < end; k++) {
        if (reply_blank(L[k]))
            continue;
        if (reply_trim(L[k]).n > 60 || ++lines > 4)
            return 0;
    }
    return 1;
}

/* reply_sig_start returns where the signature of lines [0, end) starts,
 * or end when there is none. */
static size_t reply_sig_start(const struct reply_line *L, size_t end)
{
    size_t i, seen = 0;

    for (i = 1; i < end; i++) {
        if (reply_sig_delim(L[i]))
            return i;
        if (reply_blank(L[i - 1]) && reply_sent_from_line(L[i]))
            return i;
        if (reply_valediction(L, i, end))
            return i;
    }
    /* "Sent from my iPhone" among the last three non-blank lines. */
    for (i = end; i > 0 && seen < 3; i--) {
        if (reply_blank(L[i - 1]))
            continue;
        seen++;
        if (reply_sent_from_line(L[i - 1]))
            return i - 1;
    }
    return end;
}

/* reply_trim_tail drops trailing blank and quoted lines. */
static size_t reply_trim_tail(const struct reply_line *L, size_t end)
{
    while (end > 0 && (reply_blank(L[end - 1]) || reply_quoted(L[end - 1])))
        end--;
    return end;
}

/* reply_split cuts text into lines (LF or CRLF), pointing into text. */
static sw_err reply_split(const char *text, size_t n, struct reply_line **out,
                          size_t *n_out)
{
    struct reply_line *L;
    size_t count = 1, i, k = 0, start = 0;

    for (i = 0; i < n; i++)
        if (text[i] == '\n')
            count++;
    L = sw_calloc(count, sizeof *L);
    if (L == NULL)
        return SW_ENOMEM;
    for (i = 0; i <= n; i++) {
        if (i == n || text[i] == '\n') {
            size_t e = i;
            if (e > start && text[e - 1] == '\r')
                e--;
            L[k].p = text + start;
            L[k].n = e - start;
            k++;
            start = i + 1;
        }
    }
    *out = L;
    *n_out = k;
    return SW_OK;
}

sw_err ingest_reply_strip(const char *text, size_t n, char **out)
{
    struct reply_line *L = NULL;
    struct sw_buf b;
    size_t nl = 0, end, i, sig, skip_from = 0, skip_to = 0;
    int wrote = 0, hlen = 0, pending_blank = 0;
    sw_err rc;

    sw_buf_init(&b, n + 1);
    rc = reply_split(text ? text : "", text ? n : 0, &L, &nl);
    if (rc)
        goto out;
    end = reply_boundary(L, nl, &wrote, &hlen);
    if (wrote) {
        /* Bottom-posting and replies between quotes: new, unquoted text
         * after the quote below the header means the reply runs down to
         * that text; the header and the quoted lines are left out. */
        size_t j = end + (size_t)hlen, last = nl;
        int quoted = 0, prev_q = 0;
        last = reply_sig_start(L, nl);
        /* An unquoted line between quoted ones is the quote's own text
         * wrapped by a mail client, not new text. */
        while (j < last &&
               (reply_blank(L[j]) || reply_quoted(L[j]) ||
                (prev_q && j + 1 < last && reply_quoted(L[j + 1])))) {
            prev_q = reply_quoted(L[j]) || (prev_q && !reply_blank(L[j]));
            quoted |= reply_quoted(L[j]);
            j++;
        }
        if (quoted && j < reply_trim_tail(L, last)) {
            int w2, h2;
            size_t b2 = reply_boundary(L + j, last - j, &w2, &h2);
            skip_from = end;
            skip_to = j;
            end = j + b2;
        }
    }
    end = reply_trim_tail(L, end);
    sig = reply_sig_start(L, end);
    end = reply_trim_tail(L, sig);
    for (i = 0; i < end; i++) {
        struct reply_line t = L[i];
        int blank = reply_blank(t);

        if ((i >= skip_from && i < skip_to) || reply_quoted(t))
            continue;
        if (blank) {
            pending_blank = b.len > 0;
            continue;
        }
        while (t.n > 0 && reply_space(t.p[t.n - 1]))
            t.n--;
        if (b.len > 0)
            rc = sw_buf_add(&b, pending_blank ? "\n\n" : "\n",
                            pending_blank ? 2 : 1);
        if (rc == SW_OK)
            rc = sw_buf_add(&b, t.p, t.n);
        if (rc)
            goto out;
        pending_blank = 0;
    }
    rc = sw_buf_take(&b, out, NULL);
out:
    sw_free(L);
    sw_buf_free(&b);
    return rc;
}
