/* svc_mailbox: MailboxService handlers over store_mailbox and the sync
 * engine (see svc_mailbox.h). */
#include "service/svc_mailbox.h"

#include <stdbool.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ingest/imap_conn.h"
#include "ingest/imap_secret.h"
#include "ingest/imap_sync.h"
#include "snipwise/v1/mailbox.pb-c.h"
#include "store/store_mailbox.h"
#include "store/store_tenant.h"

#define SVC_MBX_HOST_MAX 253
#define SVC_MBX_NAME_MAX 400
#define SVC_MBX_FOLDERS_MAX 64
#define SVC_MBX_PAGE_DEFAULT 100
#define SVC_MBX_CA_MAX (64 * 1024)

/* svc_mbx_engine returns the sync engine, or NULL after failing the call
 * with UNAVAILABLE. */
static ingest_imap_sync *svc_mbx_engine(struct svc_ctx *c)
{
    ingest_imap_sync *m = svc_ctx_mailbox(c);

    if (m == NULL)
        (void)svc_ctx_fail(c, SW_EBUSY, "mailbox sync is not running");
    return m;
}

/* svc_mbx_text_ok: 1..max bytes of printable ASCII without spaces or
 * quotes (host names, user names and folder names travel in IMAP
 * commands; libetpan quotes them, but control bytes have no business
 * there). Folder names may hold spaces. */
static int svc_mbx_text_ok(const char *s, size_t max, int spaces)
{
    size_t i;

    if (s == NULL || s[0] == '\0')
        return 0;
    for (i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= max || ch < 0x20 || ch == 0x7f || (ch == ' ' && !spaces))
            return 0;
    }
    return 1;
}

static Snipwise__V1__Mailbox *svc_mbx_out(struct svc_ctx *c,
                                          const struct store_mailbox *m,
                                          const struct store_mailbox_folder *f,
                                          size_t nf)
{
    struct sw_arena *a = svc_ctx_arena(c);
    Snipwise__V1__Mailbox *p =
        svc_ctx_new(c, &snipwise__v1__mailbox__descriptor);
    size_t i;

    /* Every field with an API name in store_mailbox_table, then the
     * few the API shows otherwise. */
    if (p == NULL || msg_table_to(store_mailbox_table, store_mailbox_table_n,
                                  MSG_TABLE_API, m, &p->base, a) != SW_OK)
        return NULL;
    p->auth_kind = svc_ctx_str(
        c, m->auth_kind == STORE_MAILBOX_OAUTH2 ? "oauth2" : "password");
    p->state =
        (Snipwise__V1__MailboxState)(m->paused ? INGEST_IMAP_PAUSED : m->state);
    if (p->state == 0)
        p->state = SNIPWISE__V1__MAILBOX_STATE__MAILBOX_STATE_IDLE;
    p->custom_ca = m->tls_ca_pem != NULL && m->tls_ca_pem[0] != '\0';
    if (nf > 0) {
        p->folders = sw_arena_alloc(a, nf * sizeof(*p->folders));
        if (p->folders == NULL)
            return NULL;
    }
    for (i = 0; i < nf; i++) {
        Snipwise__V1__MailboxFolder *q =
            svc_ctx_new(c, &snipwise__v1__mailbox_folder__descriptor);
        if (q == NULL ||
            msg_table_to(store_mailbox_folder_table,
                         store_mailbox_folder_table_n, MSG_TABLE_API, &f[i],
                         &q->base, a) != SW_OK)
            return NULL;
        p->backlog += f[i].backlog;
        p->folders[i] = q;
    }
    p->n_folders = nf;
    return svc_ctx_oom(c) ? NULL : p;
}

sw_err svc_mailbox_check(void)
{
    return store_mailbox_tables_check(
        &snipwise__v1__mailbox__descriptor,
        &snipwise__v1__mailbox_folder__descriptor);
}

/* svc_mbx_reply sets *resp to the mailbox m with its folders. */
static sw_err svc_mbx_reply(struct svc_ctx *c, const struct store_mailbox *m,
                            ProtobufCMessage **resp)
{
    struct store_mailbox_folder *f = NULL;
    Snipwise__V1__Mailbox *p;
    size_t nf = 0;
    sw_err rc;

    rc = store_mailbox_folders(svc_ctx_store(c), svc_ctx_team(c), m->mailbox_id,
                               &f, &nf);
    if (rc)
        return rc;
    p = svc_mbx_out(c, m, f, nf);
    store_mailbox_folders_free(f, nf);
    if (p == NULL)
        return SW_ENOMEM;
    *resp = &p->base;
    return SW_OK;
}

/* svc_mbx_seal checks auth and seals its secret into *box. */
static sw_err svc_mbx_seal(struct svc_ctx *c, ingest_imap_sync *eng,
                           const Snipwise__V1__MailboxAuth *auth,
                           const char *field, int *kind, unsigned char **box,
                           size_t *len)
{
    const char *secret = NULL;
    sw_err rc;

    if (auth != NULL &&
        auth->secret_case == SNIPWISE__V1__MAILBOX_AUTH__SECRET_PASSWORD) {
        secret = auth->password;
        *kind = STORE_MAILBOX_PASSWORD;
    } else if (auth != NULL &&
               auth->secret_case ==
                   SNIPWISE__V1__MAILBOX_AUTH__SECRET_OAUTH2_ACCESS_TOKEN) {
        secret = auth->oauth2_access_token;
        *kind = STORE_MAILBOX_OAUTH2;
    }
    if (secret == NULL || secret[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, field,
                                  "needs a password or an oauth2_access_token");
    rc = ingest_imap_seal(ingest_imap_sync_key(eng), secret, strlen(secret),
                          box, len);
    if (rc == SW_ETOOBIG)
        return svc_ctx_fail_field(c, SW_EINVAL, field,
                                  "secret is longer than 4096 bytes");
    return rc;
}

/* svc_mbx_check_target validates host, port and TLS mode of a request and
 * fills m's. */
static sw_err svc_mbx_check_target(struct svc_ctx *c,
                                   const Snipwise__V1__CreateMailboxRequest *r,
                                   struct store_mailbox *m)
{
    if (!svc_mbx_text_ok(r->host, SVC_MBX_HOST_MAX, 0))
        return svc_ctx_fail_field(c, SW_EINVAL, "host",
                                  "must be a host name or address");
    if (r->port > 65535)
        return svc_ctx_fail_field(c, SW_EINVAL, "port", "must be 1..65535");
    if (r->tls_mode < SNIPWISE__V1__TLS_MODE__TLS_MODE_IMAPS ||
        r->tls_mode >
            SNIPWISE__V1__TLS_MODE__TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY)
        return svc_ctx_fail_field(c, SW_EINVAL, "tls_mode",
                                  "must be IMAPS, STARTTLS or "
                                  "PLAIN_INSECURE_LOOPBACK_ONLY");
    if (r->tls_mode ==
            SNIPWISE__V1__TLS_MODE__TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY &&
        !ingest_imap_plaintext_ok(r->host, r->allow_plaintext))
        return svc_ctx_fail_field(c, SW_EINVAL, "tls_mode",
                                  "plaintext is allowed only to a loopback "
                                  "address, not to %s, unless "
                                  "allow_plaintext is set",
                                  r->host);
    if (!svc_mbx_text_ok(r->username, SVC_MBX_NAME_MAX, 0))
        return svc_ctx_fail_field(c, SW_EINVAL, "username", "is required");
    m->host = r->host;
    m->username = r->username;
    m->tls_mode = (int)r->tls_mode;
    /* Ignored (and not kept) with IMAPS and STARTTLS. */
    m->allow_plaintext =
        r->allow_plaintext &&
        r->tls_mode ==
            SNIPWISE__V1__TLS_MODE__TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY;
    m->port = r->port                                                 ? r->port
              : r->tls_mode == SNIPWISE__V1__TLS_MODE__TLS_MODE_IMAPS ? 993
                                                                      : 143;
    return SW_OK;
}

sw_err svc_mailbox_create(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__CreateMailboxRequest *r = (const void *)req;
    ingest_imap_sync *eng = svc_mbx_engine(c);
    struct store_mailbox m, got;
    char *id = NULL;
    bool member = false;
    size_t i;
    sw_err rc;

    memset(&m, 0, sizeof(m));
    memset(&got, 0, sizeof(got));
    if (eng == NULL)
        return SW_EBUSY;
    rc = store_member_is(svc_ctx_store(c), svc_ctx_team(c),
                         r->rep_email ? r->rep_email : "", &member);
    if (rc)
        return rc;
    if (!member)
        return svc_ctx_fail_field(c, SW_EINVAL, "rep_email",
                                  "must be a member of the team");
    rc = svc_mbx_check_target(c, r, &m);
    if (rc)
        return rc;
    if (r->n_folders > SVC_MBX_FOLDERS_MAX)
        return svc_ctx_fail_field(c, SW_EINVAL, "folders", "at most %d",
                                  SVC_MBX_FOLDERS_MAX);
    for (i = 0; i < r->n_folders; i++) {
        if (!svc_mbx_text_ok(r->folders[i], SVC_MBX_NAME_MAX, 1))
            return svc_ctx_fail_field(c, SW_EINVAL, "folders",
                                      "must be non-empty names");
    }
    if (r->backfill_days < -1 || r->backfill_days > 36500)
        return svc_ctx_fail_field(
            c, SW_EINVAL, "backfill_days",
            "must be -1 (everything), 0 (365) or 1..36500");
    m.backfill_days = r->backfill_days == 0 ? 365 : r->backfill_days;
    if (r->tls_ca_pem != NULL && r->tls_ca_pem[0] != '\0' &&
        (strlen(r->tls_ca_pem) > SVC_MBX_CA_MAX ||
         strstr(r->tls_ca_pem, "-----BEGIN CERTIFICATE-----") == NULL))
        return svc_ctx_fail_field(c, SW_EINVAL, "tls_ca_pem",
                                  "must be PEM certificates, at most %d bytes",
                                  SVC_MBX_CA_MAX);
    m.tls_ca_pem = r->tls_ca_pem;
    m.rep_email = r->rep_email;
    m.folders = r->folders;
    m.n_folders = r->n_folders;
    rc = svc_mbx_seal(c, eng, r->auth, "auth", &m.auth_kind, &m.secret_box,
                      &m.secret_len);
    if (rc)
        return rc;
    rc = store_mailbox_create(svc_ctx_store(c), svc_ctx_team(c), &m, &id);
    sw_free(m.secret_box);
    if (rc == SW_OK)
        rc = store_mailbox_get(svc_ctx_store(c), svc_ctx_team(c), id, &got);
    if (rc == SW_OK) {
        ingest_imap_sync_wake(eng);
        rc = svc_mbx_reply(c, &got, resp);
    }
    store_mailbox_clear(&got);
    sw_free(id);
    return rc;
}

/* svc_mbx_id checks a request's mailbox_id. */
static sw_err svc_mbx_id(struct svc_ctx *c, const char *id)
{
    if (id == NULL || id[0] == '\0')
        return svc_ctx_fail_field(c, SW_EINVAL, "mailbox_id", "is required");
    return SW_OK;
}

/* svc_mbx_not_found words an unknown (or malformed) id as NOT_FOUND. */
static sw_err svc_mbx_not_found(struct svc_ctx *c, sw_err rc, const char *id)
{
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL)
        return svc_ctx_fail(c, SW_ENOTFOUND, "no mailbox '%s' in this team",
                            id);
    return rc;
}

sw_err svc_mailbox_get(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__GetMailboxRequest *r = (const void *)req;
    struct store_mailbox m;
    sw_err rc;

    memset(&m, 0, sizeof(m));
    rc = svc_mbx_id(c, r->mailbox_id);
    if (rc)
        return rc;
    rc =
        store_mailbox_get(svc_ctx_store(c), svc_ctx_team(c), r->mailbox_id, &m);
    if (rc)
        return svc_mbx_not_found(c, rc, r->mailbox_id);
    rc = svc_mbx_reply(c, &m, resp);
    store_mailbox_clear(&m);
    return rc;
}

sw_err svc_mailbox_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__ListMailboxesRequest *r = (const void *)req;
    Snipwise__V1__ListMailboxesResponse *out;
    struct store_mailbox *items = NULL;
    size_t n = 0, i;
    int size = 0, more = 0;
    sw_err rc;

    rc = svc_ctx_page(c, r->page_size, &size);
    if (rc)
        return rc;
    rc = store_mailbox_list(svc_ctx_store(c), svc_ctx_team(c), r->page_token,
                            size > 0 ? (size_t)size : SVC_MBX_PAGE_DEFAULT,
                            &items, &n, &more);
    if (rc == SW_EINVAL)
        return svc_ctx_fail_field(c, rc, "page_token", "is not valid");
    if (rc)
        return rc;
    out = svc_ctx_new(c, &snipwise__v1__list_mailboxes_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (n > 0) {
        out->mailboxes =
            sw_arena_alloc(svc_ctx_arena(c), n * sizeof(*out->mailboxes));
        if (out->mailboxes == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    for (i = 0; i < n && rc == SW_OK; i++) {
        ProtobufCMessage *one = NULL;
        rc = svc_mbx_reply(c, &items[i], &one);
        if (rc == SW_OK)
            out->mailboxes[out->n_mailboxes++] = (Snipwise__V1__Mailbox *)one;
    }
    if (rc == SW_OK && more && n > 0)
        out->next_page_token = svc_ctx_str(c, items[n - 1].mailbox_id);
    if (rc == SW_OK)
        *resp = &out->base;
out:
    store_mailboxes_free(items, n);
    return rc;
}

/* The edits of a mailbox record, run inside store_mailbox_update. */
struct svc_mbx_edit {
    int op; /* SVC_MBX_* below */
    unsigned char *box;
    size_t box_len;
    int kind;
    const char *username;
};

#define SVC_MBX_CREDS 1
#define SVC_MBX_PAUSE 2
#define SVC_MBX_RESUME 3
#define SVC_MBX_SYNC 4

static sw_err svc_mbx_edit_fn(struct store_mailbox *m, void *arg)
{
    const struct svc_mbx_edit *e = arg;
    char *user = NULL, *err = NULL;
    unsigned char *box = NULL;

    switch (e->op) {
    case SVC_MBX_CREDS:
        box = sw_memdup(e->box, e->box_len);
        err = sw_strdup("");
        if (e->username && e->username[0])
            user = sw_strdup(e->username);
        if (box == NULL || err == NULL ||
            (e->username && e->username[0] && user == NULL)) {
            sw_free(box);
            sw_free(err);
            sw_free(user);
            return SW_ENOMEM;
        }
        memset(m->secret_box, 0, m->secret_len);
        sw_free(m->secret_box);
        m->secret_box = box;
        m->secret_len = e->box_len;
        m->auth_kind = e->kind;
        if (user) {
            sw_free(m->username);
            m->username = user;
        }
        sw_free(m->last_error);
        m->last_error = err;
        m->cred_gen++;
        if (!m->paused)
            m->state = INGEST_IMAP_IDLE;
        return SW_OK;
    case SVC_MBX_PAUSE:
        m->paused = 1;
        m->state = INGEST_IMAP_PAUSED;
        return SW_OK;
    case SVC_MBX_RESUME:
        m->paused = 0;
        m->state = m->auth_failed_gen == m->cred_gen ? INGEST_IMAP_AUTH_FAILED
                                                     : INGEST_IMAP_IDLE;
        m->sync_req++;
        return SW_OK;
    case SVC_MBX_SYNC:
        if (m->paused || m->auth_failed_gen == m->cred_gen)
            return SW_ESTATE;
        m->sync_req++;
        return SW_OK;
    }
    return SW_EINVAL;
}

/* svc_mbx_apply runs one edit and answers with the mailbox. */
static sw_err svc_mbx_apply(struct svc_ctx *c, const char *id,
                            struct svc_mbx_edit *e, ProtobufCMessage **resp)
{
    struct store_mailbox m;
    sw_err rc;

    memset(&m, 0, sizeof(m));
    rc = svc_mbx_id(c, id);
    if (rc)
        return rc;
    rc = store_mailbox_update(svc_ctx_store(c), svc_ctx_team(c), id,
                              svc_mbx_edit_fn, e, &m);
    if (rc == SW_ESTATE)
        return svc_ctx_fail(c, rc,
                            "mailbox '%s' is paused or its credentials were "
                            "refused; resume it or update its credentials",
                            id);
    if (rc)
        return svc_mbx_not_found(c, rc, id);
    ingest_imap_sync_wake(svc_ctx_mailbox(c));
    rc = svc_mbx_reply(c, &m, resp);
    store_mailbox_clear(&m);
    return rc;
}

sw_err svc_mailbox_update_credentials(struct svc_ctx *c,
                                      const ProtobufCMessage *req,
                                      ProtobufCMessage **resp)
{
    const Snipwise__V1__UpdateMailboxCredentialsRequest *r = (const void *)req;
    ingest_imap_sync *eng = svc_mbx_engine(c);
    struct svc_mbx_edit e;
    sw_err rc;

    if (eng == NULL)
        return SW_EBUSY;
    memset(&e, 0, sizeof(e));
    e.op = SVC_MBX_CREDS;
    if (r->username && r->username[0] &&
        !svc_mbx_text_ok(r->username, SVC_MBX_NAME_MAX, 0))
        return svc_ctx_fail_field(c, SW_EINVAL, "username", "is not valid");
    e.username = r->username;
    rc = svc_mbx_seal(c, eng, r->auth, "auth", &e.kind, &e.box, &e.box_len);
    if (rc)
        return rc;
    rc = svc_mbx_apply(c, r->mailbox_id, &e, resp);
    sw_free(e.box);
    return rc;
}

sw_err svc_mailbox_pause(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    const Snipwise__V1__PauseMailboxRequest *r = (const void *)req;
    struct svc_mbx_edit e = {SVC_MBX_PAUSE, NULL, 0, 0, NULL};

    return svc_mbx_apply(c, r->mailbox_id, &e, resp);
}

sw_err svc_mailbox_resume(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__ResumeMailboxRequest *r = (const void *)req;
    struct svc_mbx_edit e = {SVC_MBX_RESUME, NULL, 0, 0, NULL};

    return svc_mbx_apply(c, r->mailbox_id, &e, resp);
}

sw_err svc_mailbox_sync(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__SyncMailboxRequest *r = (const void *)req;
    struct svc_mbx_edit e = {SVC_MBX_SYNC, NULL, 0, 0, NULL};

    return svc_mbx_apply(c, r->mailbox_id, &e, resp);
}

sw_err svc_mailbox_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteMailboxRequest *r = (const void *)req;
    sw_err rc;

    (void)resp; /* an empty DeleteMailboxResponse */
    rc = svc_mbx_id(c, r->mailbox_id);
    if (rc)
        return rc;
    rc = store_mailbox_delete(svc_ctx_store(c), svc_ctx_team(c), r->mailbox_id);
    if (rc)
        return svc_mbx_not_found(c, rc, r->mailbox_id);
    ingest_imap_sync_wake(svc_ctx_mailbox(c));
    return SW_OK;
}
