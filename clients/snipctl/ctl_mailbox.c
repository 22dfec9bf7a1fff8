/* ctl_mailbox: the mailbox commands of snipctl over MailboxService: the
 * command line, the IMAP URL and the secret files in, a mailbox's state and
 * folders out (ctl_mailbox.h). */
#include "clients/snipctl/ctl_mailbox.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_util.h"
#include "clients/snipc.h"
#include "clients/snipctl/ctl_exit.h"
#include "clients/snipctl/ctl_tls.h"
#include "proto/msg.h"
#include "snipwise/v1/mailbox.pb-c.h"

#define CTL_MBX_SVC "/snipwise.v1.MailboxService/"
#define CTL_MBX_SECRET_MAX (64 * 1024) /* OAuth2 tokens run to a few KiB */
#define CTL_MBX_PEM_MAX (1024 * 1024)
#define CTL_MBX_FOLDERS_MAX 64
#define CTL_MBX_PAGES_MAX 1000
#define CTL_MBX_JSON_MAX ((size_t)64 << 20)

/* The parsed command line. */
struct ctl_mbx {
    const char *addr, *key, *snipd_ca, *timeout;
    const char *pos[3]; /* "mailbox", the verb, ID or EMAIL */
    int npos, json, plaintext;
    const char *url, *username, *password_file, *token_file, *imap_ca,
        *backfill;
    const char *folders[CTL_MBX_FOLDERS_MAX];
    int nfolders;
};

/* A running command: the parsed line, the client and where replies live. */
struct ctl_mbx_run {
    struct ctl_mbx c;
    snipc *cl;
    struct sw_arena a;
    char *secret; /* in the arena; wiped before the arena is freed */
};

int ctl_mailbox_wanted(int argc, char **argv)
{
    return ctl_command_is(argc, argv, "mailbox");
}

static int ctl_mbx_usage(void)
{
    fprintf(stderr,
            "usage: snipctl mailbox add EMAIL --imap-url imaps://HOST[:PORT] "
            "--username U\n"
            "           (--password-file F | --oauth2-token-file F) "
            "[--folders A,B] [--tls-ca PEM]\n"
            "           [--backfill-days N|all] [--allow-plaintext] [--json]\n"
            "       snipctl mailbox list | show ID | sync ID | pause ID | "
            "resume ID | remove ID [--json]\n"
            "       snipctl mailbox set-credentials ID (--password-file F | "
            "--oauth2-token-file F) [--username U]\n"
            "  imaps:// is TLS, imap:// STARTTLS; imap:// with "
            "--allow-plaintext: no TLS at all\n"
            "  (the password and mail cross the network in the clear; "
            "for a server that\n"
            "  has no TLS, on loopback or a trusted network).\n"
            "  Secrets are read from files (\"-\": standard input), never "
            "from the command line.\n");
    return EXIT_USAGE;
}

/* ctl_mbx_slot returns where the value of flag a goes, or NULL. */
static const char **ctl_mbx_slot(struct ctl_mbx *c, const char *a)
{
    if (strcmp(a, "--addr") == 0)
        return &c->addr;
    if (strcmp(a, "--key") == 0)
        return &c->key;
    if (strcmp(a, "--tls-ca") == 0) /* snipd's before "mailbox" */
        return c->npos == 0 ? &c->snipd_ca : &c->imap_ca;
    if (strcmp(a, "--timeout-ms") == 0)
        return &c->timeout;
    if (strcmp(a, "--imap-url") == 0)
        return &c->url;
    if (strcmp(a, "--username") == 0)
        return &c->username;
    if (strcmp(a, "--password-file") == 0)
        return &c->password_file;
    if (strcmp(a, "--oauth2-token-file") == 0)
        return &c->token_file;
    if (strcmp(a, "--backfill-days") == 0)
        return &c->backfill;
    if (strcmp(a, "--folders") == 0 && c->nfolders < CTL_MBX_FOLDERS_MAX)
        return &c->folders[c->nfolders++];
    return NULL;
}

static int ctl_mbx_parse(int argc, char **argv, struct ctl_mbx *c)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot;
        if (strcmp(a, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strcmp(a, "--allow-plaintext") == 0) {
            c->plaintext = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (c->npos == 3)
                return -1;
            c->pos[c->npos++] = a;
            continue;
        }
        if (strcmp(a, "--password") == 0 || strcmp(a, "--oauth2-token") == 0) {
            /* Its value is never echoed: it may be the secret itself. */
            fprintf(stderr,
                    "snipctl: there is no %s flag: secrets are read from a "
                    "file (--password-file F or --oauth2-token-file F, \"-\" "
                    "for standard input), never from the command line\n",
                    a);
            return -1;
        }
        slot = ctl_mbx_slot(c, a);
        if (slot == NULL || v == NULL) {
            fprintf(stderr, "snipctl: %s: %s\n", a,
                    slot ? "needs a value" : "unknown flag");
            return -1;
        }
        *slot = v;
        i++;
    }
    return c->npos >= 2 ? 0 : -1;
}

/* ctl_mbx_read reads path ("-": standard input) whole into the arena, at
 * most max bytes; with trim, the line ends at its end are cut. NULL after
 * saying why on stderr. The sw_buf holding a secret is wiped. */
static char *ctl_mbx_read(struct sw_arena *a, const char *flag,
                          const char *path, size_t max, int trim)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct sw_buf b;
    char chunk[4096];
    char *out = NULL;
    size_t n, len;
    int err = 0;

    if (f == NULL) {
        fprintf(stderr, "snipctl: %s %s: %s\n", flag, path, strerror(errno));
        return NULL;
    }
    sw_buf_init(&b, max);
    while (err == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        err = sw_buf_add(&b, chunk, n) != SW_OK;
    err |= ferror(f) != 0;
    len = sw_buf_len(&b);
    while (trim && len > 0 &&
           (sw_buf_str(&b)[len - 1] == '\n' || sw_buf_str(&b)[len - 1] == '\r'))
        len--;
    if (err || len == 0 || memchr(sw_buf_str(&b), '\0', len) != NULL)
        fprintf(stderr, "snipctl: %s %s: %s\n", flag, path,
                err ? "unreadable or too large" : "empty or not text");
    else
        out = sw_arena_strndup(a, sw_buf_str(&b), len);
    explicit_bzero(chunk, sizeof(chunk));
    if (sw_buf_len(&b) > 0)
        explicit_bzero((char *)sw_buf_str(&b), sw_buf_len(&b));
    sw_buf_free(&b);
    if (f != stdin)
        fclose(f);
    return out;
}

/* ctl_mbx_url splits imaps://HOST[:PORT][/] or imap://... (HOST may be
 * [IPv6]) into host, port (0: snipd's default, 993 or 143) and the TLS
 * mode. Returns 0, or -1 after saying why. */
static int ctl_mbx_url(struct ctl_mbx_run *r,
                       Snipwise__V1__CreateMailboxRequest *q)
{
    const char *u = r->c.url, *p, *end, *h, *he, *rest;
    int64_t port = 0;
    const char *bad = NULL;

    if (strncmp(u, "imaps://", 8) == 0) {
        p = u + 8;
        q->tls_mode = SNIPWISE__V1__TLS_MODE__TLS_MODE_IMAPS;
        if (r->c.plaintext)
            bad = "--allow-plaintext goes with imap://, not imaps://";
    } else if (strncmp(u, "imap://", 7) == 0) {
        p = u + 7;
        q->tls_mode =
            r->c.plaintext
                ? SNIPWISE__V1__TLS_MODE__TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY
                : SNIPWISE__V1__TLS_MODE__TLS_MODE_STARTTLS;
        q->allow_plaintext = r->c.plaintext; /* to any host, not loopback
                                                only */
    } else {
        fprintf(stderr, "snipctl: --imap-url must begin with imaps:// or "
                        "imap://\n");
        return -1;
    }
    end = p + strcspn(p, "/?#");
    h = p;
    if (*p == '[') {
        h = p + 1;
        he = memchr(h, ']', (size_t)(end - h));
        rest = he ? he + 1 : end;
    } else {
        he = memchr(p, ':', (size_t)(end - p));
        he = he ? he : end;
        rest = he;
    }
    if (memchr(p, '@', (size_t)(end - p)))
        bad = "the user name goes in --username, not in --imap-url";
    else if (*end != '\0' && strcmp(end, "/") != 0)
        bad = "--imap-url takes a server, not a path or a query";
    else if (he == NULL || he == h)
        bad = "--imap-url has no host";
    else if (rest < end &&
             (*rest != ':' || sw_parse_i64(rest + 1, (size_t)(end - rest - 1),
                                           1, 65535, &port) != SW_OK))
        bad = "--imap-url has a bad port (1..65535)";
    if (bad) {
        fprintf(stderr, "snipctl: %s\n", bad);
        return -1;
    }
    q->host = sw_arena_strndup(&r->a, h, (size_t)(he - h));
    q->port = (uint32_t)port;
    return q->host ? 0 : -1;
}

/* ctl_mbx_auth reads the one secret file given into a (arena) auth. */
static Snipwise__V1__MailboxAuth *ctl_mbx_auth(struct ctl_mbx_run *r)
{
    Snipwise__V1__MailboxAuth *au = sw_arena_alloc(&r->a, sizeof(*au));
    const struct ctl_mbx *c = &r->c;

    if (au == NULL)
        return NULL;
    snipwise__v1__mailbox_auth__init(au);
    if (!!c->password_file + !!c->token_file != 1) {
        fprintf(stderr, "snipctl: give one of --password-file and "
                        "--oauth2-token-file\n");
        return NULL;
    }
    r->secret = ctl_mbx_read(
        &r->a, c->password_file ? "--password-file" : "--oauth2-token-file",
        c->password_file ? c->password_file : c->token_file, CTL_MBX_SECRET_MAX,
        1);
    if (r->secret == NULL)
        return NULL;
    if (c->password_file) {
        au->secret_case = SNIPWISE__V1__MAILBOX_AUTH__SECRET_PASSWORD;
        au->password = r->secret;
    } else {
        au->secret_case =
            SNIPWISE__V1__MAILBOX_AUTH__SECRET_OAUTH2_ACCESS_TOKEN;
        au->oauth2_access_token = r->secret;
    }
    return au;
}

/* ctl_mbx_folders splits the --folders values (A,B; the flag may be
 * repeated) into q. */
static int ctl_mbx_folders(struct ctl_mbx_run *r,
                           Snipwise__V1__CreateMailboxRequest *q)
{
    size_t cap = 0, n = 0;
    int i;

    for (i = 0; i < r->c.nfolders; i++)
        cap += strlen(r->c.folders[i]) + 1;
    q->folders = sw_arena_alloc(&r->a, (cap ? cap : 1) * sizeof(char *));
    if (q->folders == NULL)
        return -1;
    for (i = 0; i < r->c.nfolders; i++) {
        const char *s = r->c.folders[i];
        for (;;) {
            size_t k = strcspn(s, ",");
            if (k == 0) {
                fprintf(stderr, "snipctl: --folders has an empty name\n");
                return -1;
            }
            q->folders[n] = sw_arena_strndup(&r->a, s, k);
            if (q->folders[n++] == NULL)
                return -1;
            if (s[k] == '\0')
                break;
            s += k + 1;
        }
    }
    q->n_folders = n;
    return 0;
}

/* ctl_mbx_build_add fills CreateMailboxRequest q from the command line. */
static int ctl_mbx_build_add(struct ctl_mbx_run *r,
                             Snipwise__V1__CreateMailboxRequest *q)
{
    const struct ctl_mbx *c = &r->c;
    int64_t days = 0;

    if (c->npos != 3 || c->url == NULL || c->username == NULL) {
        fprintf(stderr, "snipctl: mailbox add needs EMAIL, --imap-url and "
                        "--username\n");
        return -1;
    }
    q->rep_email = (char *)c->pos[2];
    q->username = (char *)c->username;
    if (c->backfill && strcmp(c->backfill, "all") == 0)
        days = -1;
    else if (c->backfill && (sw_parse_i64(c->backfill, strlen(c->backfill), -1,
                                          36500, &days) != SW_OK ||
                             days == 0)) {
        fprintf(stderr, "snipctl: --backfill-days is a number of days "
                        "(1..36500), or -1 or \"all\" for all mail\n");
        return -1;
    }
    q->backfill_days = (int32_t)days;
    if (ctl_mbx_url(r, q) != 0 || ctl_mbx_folders(r, q) != 0)
        return -1;
    if (c->imap_ca &&
        q->tls_mode ==
            SNIPWISE__V1__TLS_MODE__TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY) {
        fprintf(stderr, "snipctl: --tls-ca has no use with "
                        "--allow-plaintext\n");
        return -1;
    }
    if (c->imap_ca) {
        q->tls_ca_pem =
            ctl_mbx_read(&r->a, "--tls-ca", c->imap_ca, CTL_MBX_PEM_MAX, 0);
        if (q->tls_ca_pem == NULL)
            return -1;
    }
    q->auth = ctl_mbx_auth(r);
    return q->auth ? 0 : -1;
}

/* --- Printing ------------------------------------------------------------ */

/* ctl_mbx_word writes the enum value v of d as a word into out: its name
 * without the prefix that the UNSPECIFIED value shows, lowercased, '_' as
 * '-' ("auth-failed"). */
static const char *ctl_mbx_word(const ProtobufCEnumDescriptor *d, int v,
                                char *out, size_t n)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    const char *un = d->n_values ? d->values[0].name : "";
    const char *end = strstr(un, "UNSPECIFIED");
    size_t plen = end ? (size_t)(end - un) : 0, k;
    const char *w;

    if (ev == NULL) {
        snprintf(out, n, "%d", v);
        return out;
    }
    w = strncmp(ev->name, un, plen) == 0 ? ev->name + plen : ev->name;
    for (k = 0; w[k] && k + 1 < n; k++)
        out[k] = w[k] == '_'                    ? '-'
                 : (w[k] >= 'A' && w[k] <= 'Z') ? (char)(w[k] + 32)
                                                : w[k];
    out[k] = '\0';
    return out;
}

/* ctl_mbx_time writes ms as ISO 8601 in UTC, "-" when unset. */
static const char *ctl_mbx_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[32];

    if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
        strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%s.%03dZ", s, (int)(ms % 1000));
    return out;
}

/* ctl_mbx_server writes the mailbox's server as a URL. */
static const char *ctl_mbx_server(const Snipwise__V1__Mailbox *m, char *out,
                                  size_t n)
{
    int v6 = strchr(m->host, ':') != NULL;

    snprintf(
        out, n, "%s://%s%s%s:%u%s",
        m->tls_mode == SNIPWISE__V1__TLS_MODE__TLS_MODE_IMAPS ? "imaps"
                                                              : "imap",
        v6 ? "[" : "", m->host, v6 ? "]" : "", m->port,
        m->tls_mode ==
                SNIPWISE__V1__TLS_MODE__TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY
            ? " (plaintext)"
            : "");
    return out;
}

static void ctl_mbx_show(const Snipwise__V1__Mailbox *m)
{
    char w[64], t1[48], t2[48], srv[600];
    size_t i;

    printf("mailbox_id:    %s\nrep_email:     %s\nserver:        %s%s\n"
           "username:      %s\nauth:          %s\n",
           m->mailbox_id, m->rep_email, ctl_mbx_server(m, srv, sizeof(srv)),
           m->custom_ca ? " (own CA)" : "", m->username, m->auth_kind);
    if (m->allow_plaintext)
        printf("plaintext:     allowed to any host (--allow-plaintext)\n");
    printf("state:         %s%s\n",
           ctl_mbx_word(&snipwise__v1__mailbox_state__descriptor, (int)m->state,
                        w, sizeof(w)),
           m->paused ? " (paused)" : "");
    printf("created:       %s\nlast_sync:     %s\nbackfill_days: ",
           ctl_mbx_time(m->create_time_unix_ms, t1, sizeof(t1)),
           ctl_mbx_time(m->last_sync_time_unix_ms, t2, sizeof(t2)));
    if (m->backfill_days < 0)
        printf("all\n");
    else
        printf("%d\n", m->backfill_days);
    printf("backlog:       %lld\nlast_error:    %s\n", (long long)m->backlog,
           m->last_error[0] ? m->last_error : "-");
    printf("\n%-24s %10s %10s %10s %10s %12s %10s\n", "folder", "seen",
           "ingested", "rejected", "backlog", "uidvalidity", "last_uid");
    for (i = 0; i < m->n_folders; i++) {
        const Snipwise__V1__MailboxFolder *f = m->folders[i];
        printf("%-24s %10lld %10lld %10lld %10lld %12u %10u\n", f->name,
               (long long)f->messages_seen, (long long)f->messages_ingested,
               (long long)f->messages_rejected, (long long)f->backlog,
               f->uid_validity, f->last_uid);
    }
    for (i = 0; i < m->n_folders; i++) {
        const Snipwise__V1__MailboxFolder *f = m->folders[i];
        if (f->last_rejected[0])
            printf("last rejected in %s: %s\n", f->name, f->last_rejected);
    }
    if (m->n_folders == 0)
        printf("(none synced yet%s)\n",
               m->n_requested_folders ? "" : "; INBOX and \\Sent to follow");
}

static void ctl_mbx_table(Snipwise__V1__Mailbox *const *ms, size_t n)
{
    char w[64], t[48], srv[600];
    size_t i;

    printf("%-22s %-28s %-30s %-12s %-25s %8s  %s\n", "mailbox_id", "rep_email",
           "server", "state", "last_sync", "backlog", "last_error");
    for (i = 0; i < n; i++) {
        const Snipwise__V1__Mailbox *m = ms[i];
        printf("%-22s %-28s %-30s %-12s %-25s %8lld  %s\n", m->mailbox_id,
               m->rep_email, ctl_mbx_server(m, srv, sizeof(srv)),
               ctl_mbx_word(&snipwise__v1__mailbox_state__descriptor,
                            (int)m->state, w, sizeof(w)),
               ctl_mbx_time(m->last_sync_time_unix_ms, t, sizeof(t)),
               (long long)m->backlog, m->last_error[0] ? m->last_error : "-");
    }
    if (n == 0)
        printf("(none)\n");
}

static int ctl_mbx_json(const ProtobufCMessage *m)
{
    struct sw_buf b;
    sw_err rc;

    sw_buf_init(&b, CTL_MBX_JSON_MAX);
    rc = msg_to_json(m, &b);
    if (rc == SW_OK)
        printf("%s\n", sw_buf_str(&b));
    sw_buf_free(&b);
    return rc == SW_OK ? 0 : EXIT_RPC;
}

/* --- Calls --------------------------------------------------------------- */

/* ctl_mbx_rpc calls MailboxService method with q; 0 with *resp, or the
 * exit code after printing the failure (as JSON too with --json). */
static int ctl_mbx_rpc(struct ctl_mbx_run *r, const char *method,
                       const ProtobufCMessage *q,
                       const ProtobufCMessageDescriptor *d,
                       ProtobufCMessage **resp)
{
    char lb[128], path[96];
    struct snipc_status st;
    struct sw_buf b;
    sw_err rc;

    memset(&st, 0, sizeof(st));
    snprintf(path, sizeof(path), CTL_MBX_SVC "%s", method);
    rc = snipc_unary(r->cl, path, q, d, &r->a, resp, &st);
    if (rc) {
        fprintf(stderr, "snipctl: mailbox: cannot reach %s: %s\n", r->c.addr,
                sw_err_str(rc));
        return EXIT_RPC;
    }
    if (st.code == 0)
        return 0;
    if (r->c.json) {
        sw_buf_init(&b, 1 << 20);
        if (sw_buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"reason\":",
                          snipc_status_name(st.code)) == SW_OK &&
            sw_buf_add_json_str(&b, st.reason ? st.reason : "",
                                strlen(st.reason ? st.reason : "")) == SW_OK &&
            sw_buf_addstr(&b, ",\"message\":") == SW_OK &&
            sw_buf_add_json_str(&b, st.message, strlen(st.message)) == SW_OK &&
            sw_buf_addstr(&b, "}}") == SW_OK)
            printf("%s\n", sw_buf_str(&b));
        sw_buf_free(&b);
    }
    fprintf(stderr, "snipctl: %s: %s\n",
            snipc_status_label(&st, lb, sizeof(lb)),
            st.message[0] ? st.message : "(no message)");
    return ctl_exit_code(st.code);
}

/* ctl_mbx_list lists every mailbox, page after page. */
static int ctl_mbx_list(struct ctl_mbx_run *r)
{
    Snipwise__V1__ListMailboxesResponse all =
        SNIPWISE__V1__LIST_MAILBOXES_RESPONSE__INIT;
    Snipwise__V1__Mailbox **items = NULL;
    size_t cap = 0;
    char *token = "";
    int pages, code;

    for (pages = 0; pages < CTL_MBX_PAGES_MAX; pages++) {
        Snipwise__V1__ListMailboxesRequest q =
            SNIPWISE__V1__LIST_MAILBOXES_REQUEST__INIT;
        Snipwise__V1__ListMailboxesResponse *p = NULL;
        q.page_size = 1000;
        q.page_token = token;
        code = ctl_mbx_rpc(r, "ListMailboxes", &q.base,
                           &snipwise__v1__list_mailboxes_response__descriptor,
                           (ProtobufCMessage **)&p);
        if (code)
            return code;
        if (all.n_mailboxes + p->n_mailboxes > cap) {
            Snipwise__V1__Mailbox **grown;
            cap = (all.n_mailboxes + p->n_mailboxes) * 2;
            grown = sw_arena_alloc(&r->a, cap * sizeof(*grown));
            if (grown == NULL)
                return EXIT_RPC;
            if (all.n_mailboxes)
                memcpy(grown, items, all.n_mailboxes * sizeof(*grown));
            items = grown;
        }
        if (p->n_mailboxes)
            memcpy(items + all.n_mailboxes, p->mailboxes,
                   p->n_mailboxes * sizeof(*items));
        all.n_mailboxes += p->n_mailboxes;
        token = p->next_page_token;
        if (token == NULL || token[0] == '\0')
            break;
    }
    all.mailboxes = items;
    if (r->c.json)
        return ctl_mbx_json(&all.base);
    ctl_mbx_table(items, all.n_mailboxes);
    return 0;
}

/* ctl_mbx_one runs a verb on one mailbox: show, sync, pause, resume,
 * remove or set-credentials. The request types all begin with mailbox_id. */
static int ctl_mbx_one(struct ctl_mbx_run *r, const char *verb)
{
    static const struct {
        const char *verb, *method;
        const ProtobufCMessageDescriptor *req;
    } rows[] = {
        {"show", "GetMailbox", &snipwise__v1__get_mailbox_request__descriptor},
        {"sync", "SyncMailbox",
         &snipwise__v1__sync_mailbox_request__descriptor},
        {"pause", "PauseMailbox",
         &snipwise__v1__pause_mailbox_request__descriptor},
        {"resume", "ResumeMailbox",
         &snipwise__v1__resume_mailbox_request__descriptor},
        {"remove", "DeleteMailbox",
         &snipwise__v1__delete_mailbox_request__descriptor},
        {"set-credentials", "UpdateMailboxCredentials",
         &snipwise__v1__update_mailbox_credentials_request__descriptor},
    };
    Snipwise__V1__UpdateMailboxCredentialsRequest *u;
    ProtobufCMessage *q, *resp = NULL;
    const ProtobufCMessageDescriptor *rd;
    size_t i;
    int code, remove;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (strcmp(rows[i].verb, verb) == 0)
            break;
    if (i == sizeof(rows) / sizeof(rows[0]) || r->c.npos != 3)
        return ctl_mbx_usage();
    q = msg_new(rows[i].req, &r->a);
    if (q == NULL)
        return EXIT_RPC;
    /* GetMailboxRequest and its siblings: mailbox_id is field 1. */
    *(char **)((char *)q + rows[i].req->fields[0].offset) = (char *)r->c.pos[2];
    if (rows[i].req ==
        &snipwise__v1__update_mailbox_credentials_request__descriptor) {
        u = (void *)q;
        u->username = (char *)(r->c.username ? r->c.username : "");
        u->auth = ctl_mbx_auth(r);
        if (u->auth == NULL)
            return EXIT_USAGE;
    }
    remove = strcmp(verb, "remove") == 0;
    rd = remove ? &snipwise__v1__delete_mailbox_response__descriptor
                : &snipwise__v1__mailbox__descriptor;
    code = ctl_mbx_rpc(r, rows[i].method, q, rd, &resp);
    if (code)
        return code;
    if (r->c.json)
        return ctl_mbx_json(resp);
    if (remove)
        printf("removed %s (the mail it brought stays)\n", r->c.pos[2]);
    else
        ctl_mbx_show((const Snipwise__V1__Mailbox *)resp);
    return 0;
}

static int ctl_mbx_add(struct ctl_mbx_run *r)
{
    Snipwise__V1__CreateMailboxRequest q =
        SNIPWISE__V1__CREATE_MAILBOX_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int code;

    if (ctl_mbx_build_add(r, &q) != 0)
        return EXIT_USAGE;
    code = ctl_mbx_rpc(r, "CreateMailbox", &q.base,
                       &snipwise__v1__mailbox__descriptor, &resp);
    if (code)
        return code;
    if (r->c.json)
        return ctl_mbx_json(resp);
    ctl_mbx_show((const Snipwise__V1__Mailbox *)resp);
    return 0;
}

int ctl_mailbox_main(int argc, char **argv)
{
    struct ctl_mbx_run r;
    struct snipc_opts o;
    int64_t timeout_ms = 0;
    const char *verb;
    int code;
    sw_err rc;

    memset(&r, 0, sizeof(r));
    sw_arena_init(&r.a, 0);
    r.c.addr =
        getenv("SNIPWISE_ADDR") ? getenv("SNIPWISE_ADDR") : "127.0.0.1:50051";
    r.c.key = getenv("SNIPWISE_KEY");
    if (ctl_mbx_parse(argc, argv, &r.c) != 0 ||
        strcmp(r.c.pos[0], "mailbox") != 0 ||
        (r.c.timeout && sw_parse_i64(r.c.timeout, strlen(r.c.timeout), 0,
                                     86400000, &timeout_ms) != SW_OK)) {
        sw_arena_free(&r.a);
        return ctl_mbx_usage();
    }
    verb = r.c.pos[1];
    grpc_init();
    memset(&o, 0, sizeof(o));
    o.addr = r.c.addr;
    o.key = r.c.key;
    o.tls_ca = r.c.snipd_ca;
    ctl_tls_opts(&o);
    o.timeout_ms = timeout_ms;
    rc = snipc_open(&o, &r.cl);
    if (rc) {
        fprintf(stderr, "snipctl: cannot set up a channel to %s: %s\n",
                r.c.addr, sw_err_str(rc));
        code = EXIT_RPC;
    } else if (strcmp(verb, "add") == 0) {
        code = ctl_mbx_add(&r);
    } else if (strcmp(verb, "list") == 0) {
        code = r.c.npos == 2 ? ctl_mbx_list(&r) : ctl_mbx_usage();
    } else {
        code = ctl_mbx_one(&r, verb);
    }
    snipc_close(&r.cl);
    grpc_shutdown();
    if (r.secret)
        explicit_bzero(r.secret, strlen(r.secret));
    sw_arena_free(&r.a);
    return code;
}
