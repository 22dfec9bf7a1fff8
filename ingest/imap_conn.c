/* ingest/imap_conn: an IMAP session on libetpan's mailimap (see
 * imap_conn.h). libetpan's TLS (GnuTLS in Debian's build) does not check
 * the server's certificate, so this file checks the chain it received
 * against the system's CA store and the host name with OpenSSL before any
 * credential is sent. */
#include "ingest/imap_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libetpan/libetpan.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"

/* imap_say writes a sentence for last_error into why; a sentence cut
 * short by why's cap (or lost to memory) only loses words, so the result
 * is not checked. */
static void imap_say(struct sw_buf *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void imap_say(struct sw_buf *why, const char *fmt, ...)
{
    va_list ap;
    sw_err rc;

    va_start(ap, fmt);
    rc = sw_buf_vprintf(why, fmt, ap);
    va_end(ap);
    (void)rc;
}
#define INGEST_IMAP_WHY_MAX 300    /* bytes of server text quoted in why */
#define INGEST_IMAP_SIZES_MAX 2000 /* UIDs per UID FETCH (RFC822.SIZE) */

struct ingest_imap_conn {
    mailimap *s;
    char *host;
    const char *ca_pem; /* borrowed during open; NULL: the system's CAs */
};

int ingest_imap_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (host == NULL)
        return 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

int ingest_imap_plaintext_ok(const char *host, int allow_plaintext)
{
    return host != NULL &&
           (allow_plaintext || ingest_imap_host_is_loopback(host));
}

/* ingest_imap_quote appends the server's last response text to why,
 * printable ASCII only and capped, or nothing when there is none. */
static void ingest_imap_quote(ingest_imap_conn *c, struct sw_buf *why)
{
    const char *t = c->s ? c->s->imap_response : NULL;
    size_t i;

    if (t == NULL || t[0] == '\0')
        return;
    if (sw_buf_addstr(why, ": ") != SW_OK)
        return;
    for (i = 0; t[i] && i < INGEST_IMAP_WHY_MAX; i++) {
        char ch = (t[i] >= 0x20 && t[i] < 0x7f) ? t[i] : ' ';
        if (sw_buf_addc(why, ch) != SW_OK)
            return;
    }
}

/* ingest_imap_fail maps a mailimap result to an sw_err and writes "WHAT
 * failed on HOST: server text" (or the caller's verb for a refusal) to
 * why. */
static sw_err ingest_imap_fail(ingest_imap_conn *c, int r, const char *what,
                               struct sw_buf *why)
{
    sw_err rc;

    sw_buf_reset(why);
    switch (r) {
    case MAILIMAP_ERROR_LOGIN:
        rc = SW_EPERM;
        imap_say(why, "%s rejected by %s", what, c->host);
        break;
    case MAILIMAP_ERROR_STREAM:
        imap_say(why, "%s failed on %s: connection lost or timed out", what,
                 c->host);
        return SW_EIO;
    case MAILIMAP_ERROR_CONNECTION_REFUSED:
        imap_say(why,
                 "%s failed on %s: cannot connect (refused, unreachable "
                 "or timed out)",
                 what, c->host);
        return SW_EIO;
    case MAILIMAP_ERROR_SSL:
        imap_say(why, "%s failed on %s: TLS handshake failed", what, c->host);
        return SW_EIO;
    case MAILIMAP_ERROR_MEMORY:
        return SW_ENOMEM;
    default:
        rc = SW_EPROVIDER;
        imap_say(why, "%s failed on %s", what, c->host);
        break;
    }
    ingest_imap_quote(c, why);
    return rc;
}

/* ingest_imap_sni sets the TLS server name (SNI) before the handshake. */
static void ingest_imap_sni(struct mailstream_ssl_context *ctx, void *arg)
{
    (void)mailstream_ssl_set_server_name(ctx, (char *)arg);
}

/* ingest_imap_trust loads the CAs to trust into store: the PEM
 * certificates of ca_pem, or else the system's. Returns 1 on success. */
static int ingest_imap_trust(X509_STORE *store, const char *ca_pem)
{
    BIO *bio;
    X509 *x;
    int n = 0;

    if (ca_pem == NULL)
        return X509_STORE_set_default_paths(store) == 1;
    bio = BIO_new_mem_buf(ca_pem, -1);
    if (bio == NULL)
        return 0;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error(); /* the read that ends the loop leaves an error */
    BIO_free(bio);
    return n > 0;
}

/* ingest_imap_verify checks the certificate chain the server sent against
 * the trusted CAs (ingest_imap_trust) and the host name (or IP address). */
static sw_err ingest_imap_verify(ingest_imap_conn *c, struct sw_buf *why)
{
    carray *chain = mailstream_get_certificate_chain(c->s->imap_stream);
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *rest = NULL;
    X509 *leaf = NULL;
    unsigned i;
    int ok = 0;
    const char *what = "no certificate";

    if (chain == NULL || carray_count(chain) == 0)
        goto out;
    rest = sk_X509_new_null();
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    if (rest == NULL || store == NULL || ctx == NULL ||
        !ingest_imap_trust(store, c->ca_pem))
        goto out;
    for (i = 0; i < carray_count(chain); i++) {
        MMAPString *der = carray_get(chain, i);
        const unsigned char *p = (const unsigned char *)der->str;
        X509 *x = d2i_X509(NULL, &p, (long)der->len);
        if (x == NULL)
            goto out;
        if (i == 0)
            leaf = x;
        else if (!sk_X509_push(rest, x)) {
            X509_free(x);
            goto out;
        }
    }
    what = "certificate not trusted";
    if (X509_STORE_CTX_init(ctx, store, leaf, rest) != 1 ||
        X509_verify_cert(ctx) != 1)
        goto out;
    what = "certificate does not match the host name";
    if (ingest_imap_host_is_loopback(c->host) && strchr(c->host, '.'))
        ok = X509_check_ip_asc(leaf, c->host, 0) == 1;
    else
        ok = X509_check_host(leaf, c->host, 0, 0, NULL) == 1 ||
             X509_check_ip_asc(leaf, c->host, 0) == 1;
out:
    if (!ok) {
        sw_buf_reset(why);
        imap_say(why, "TLS to %s refused: %s", c->host, what);
    }
    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    if (chain)
        mailstream_certificate_chain_free(chain);
    return ok ? SW_OK : SW_EIO;
}

/* ingest_imap_starttls upgrades a plain session, refusing a server that
 * does not offer STARTTLS (never falls back to plaintext). */
static sw_err ingest_imap_starttls(ingest_imap_conn *c, struct sw_buf *why)
{
    struct mailimap_capability_data *cap = NULL;
    int r;

    r = mailimap_capability(c->s, &cap);
    if (r != MAILIMAP_NO_ERROR)
        return ingest_imap_fail(c, r, "CAPABILITY", why);
    mailimap_capability_data_free(cap);
    if (!mailimap_has_extension(c->s, "STARTTLS")) {
        sw_buf_reset(why);
        imap_say(why, "%s does not offer STARTTLS", c->host);
        return SW_EPROVIDER;
    }
    r = mailimap_socket_starttls_with_callback(c->s, ingest_imap_sni, c->host);
    if (r != MAILIMAP_NO_ERROR)
        return ingest_imap_fail(c, r, "STARTTLS", why);
    return SW_OK;
}

sw_err ingest_imap_conn_open(const char *host, uint16_t port, int tls_mode,
                             int allow_plaintext, const char *ca_pem,
                             int timeout_s, ingest_imap_conn **out,
                             struct sw_buf *why)
{
    ingest_imap_conn *c = NULL;
    sw_err rc = SW_OK;
    int r;

    sw_buf_reset(why);
    if (host == NULL || port == 0 || tls_mode < INGEST_IMAP_TLS_IMAPS ||
        tls_mode > INGEST_IMAP_TLS_PLAIN_LOOPBACK)
        return SW_EINVAL;
    if (tls_mode == INGEST_IMAP_TLS_PLAIN_LOOPBACK &&
        !ingest_imap_plaintext_ok(host, allow_plaintext)) {
        imap_say(why,
                 "plaintext IMAP to %s refused: not a loopback address "
                 "and allow_plaintext not set",
                 host);
        return SW_EINVAL;
    }
    c = sw_calloc(1, sizeof(*c));
    if (c == NULL)
        return SW_ENOMEM;
    c->host = sw_strdup(host);
    c->s = mailimap_new(0, NULL);
    if (c->host == NULL || c->s == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    mailimap_set_timeout(c->s, timeout_s > 0 ? timeout_s : 60);
    if (tls_mode == INGEST_IMAP_TLS_IMAPS)
        r = mailimap_ssl_connect_with_callback(c->s, host, port,
                                               ingest_imap_sni, c->host);
    else
        r = mailimap_socket_connect(c->s, host, port);
    if (r != MAILIMAP_NO_ERROR_AUTHENTICATED &&
        r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
        rc = ingest_imap_fail(c, r, "connecting", why);
        goto out;
    }
    if (tls_mode == INGEST_IMAP_TLS_STARTTLS)
        rc = ingest_imap_starttls(c, why);
    c->ca_pem = ca_pem && ca_pem[0] ? ca_pem : NULL;
    if (rc == SW_OK && tls_mode != INGEST_IMAP_TLS_PLAIN_LOOPBACK)
        rc = ingest_imap_verify(c, why);
    c->ca_pem = NULL;
    if (rc)
        goto out;
    *out = c;
    c = NULL;
out:
    ingest_imap_conn_close(&c);
    return rc;
}

void ingest_imap_conn_close(ingest_imap_conn **c)
{
    if (c == NULL || *c == NULL)
        return;
    if ((*c)->s != NULL) {
        if ((*c)->s->imap_stream != NULL)
            (void)mailimap_logout((*c)->s); /* best effort: closing anyway */
        mailimap_free((*c)->s);
    }
    sw_free((*c)->host);
    sw_free(*c);
    *c = NULL;
}

void ingest_imap_conn_abort(ingest_imap_conn *c)
{
    mailstream_low *low;
    int fd;

    if (c == NULL || c->s == NULL || c->s->imap_stream == NULL)
        return;
    low = mailstream_get_low(c->s->imap_stream);
    fd = low ? mailstream_low_get_fd(low) : -1;
    if (fd >= 0)
        (void)shutdown(fd, SHUT_RDWR); /* the reader sees EOF and fails */
}

/* ingest_imap_refused_for_now returns 1 when the server's refusal of a
 * login carries an RFC 5530 code that says the credentials are not the
 * reason: [LIMIT] (e.g. Dovecot's mail_max_userip_connections) or
 * [UNAVAILABLE]. libetpan keeps such a code's atom in the response info
 * of the last response. */
static int ingest_imap_refused_for_now(const ingest_imap_conn *c)
{
    const char *atom =
        c->s->imap_response_info ? c->s->imap_response_info->rsp_atom : NULL;

    return atom != NULL && (strcasecmp(atom, "LIMIT") == 0 ||
                            strcasecmp(atom, "UNAVAILABLE") == 0);
}

sw_err ingest_imap_conn_login(ingest_imap_conn *c, const char *user,
                              int auth_kind, const char *secret,
                              struct sw_buf *why)
{
    const char *what = "LOGIN";
    int r;

    sw_buf_reset(why);
    if (c == NULL || user == NULL || secret == NULL)
        return SW_EINVAL;
    if (auth_kind == INGEST_IMAP_AUTH_OAUTH2) {
        what = "AUTHENTICATE XOAUTH2";
        r = mailimap_oauth2_authenticate(c->s, user, secret);
        if (r == MAILIMAP_ERROR_SASL)
            r = MAILIMAP_ERROR_LOGIN;
    } else {
        r = mailimap_login(c->s, user, secret);
    }
    if (r == MAILIMAP_NO_ERROR)
        return SW_OK;
    if (r == MAILIMAP_ERROR_LOGIN && ingest_imap_refused_for_now(c)) {
        imap_say(why, "%s refused for now by %s [%s]", what, c->host,
                 c->s->imap_response_info->rsp_atom);
        ingest_imap_quote(c, why);
        return SW_EIO; /* not the credentials: back off and retry */
    }
    return ingest_imap_fail(c, r, what, why);
}

/* ingest_imap_is_sent returns 1 when a LIST entry carries \Sent. */
static int ingest_imap_is_sent(const struct mailimap_mailbox_list *mb)
{
    clistiter *it;

    if (mb->mb_flag == NULL || mb->mb_flag->mbf_oflags == NULL)
        return 0;
    for (it = clist_begin(mb->mb_flag->mbf_oflags); it; it = clist_next(it)) {
        const struct mailimap_mbx_list_oflag *f = clist_content(it);
        const char *e = f->of_flag_ext;
        if (f->of_type != MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT || e == NULL)
            continue;
        if (e[0] == '\\')
            e++;
        if (strcasecmp(e, "Sent") == 0)
            return 1;
    }
    return 0;
}

sw_err ingest_imap_conn_sent(ingest_imap_conn *c, char **name,
                             struct sw_buf *why)
{
    clist *res = NULL;
    clistiter *it;
    char *found = NULL;
    int r;

    sw_buf_reset(why);
    r = mailimap_list(c->s, "", "*", &res);
    if (r != MAILIMAP_NO_ERROR)
        return ingest_imap_fail(c, r, "LIST", why);
    for (it = clist_begin(res); it; it = clist_next(it)) {
        const struct mailimap_mailbox_list *mb = clist_content(it);
        if (mb->mb_name != NULL && ingest_imap_is_sent(mb)) {
            found = sw_strdup(mb->mb_name);
            if (found == NULL) {
                mailimap_list_result_free(res);
                return SW_ENOMEM;
            }
            break;
        }
    }
    mailimap_list_result_free(res);
    *name = found;
    return SW_OK;
}

sw_err ingest_imap_conn_examine(ingest_imap_conn *c, const char *folder,
                                uint32_t *uidvalidity, uint32_t *uidnext,
                                uint32_t *exists, struct sw_buf *why)
{
    const struct mailimap_selection_info *si;
    sw_err rc;
    int r;

    sw_buf_reset(why);
    r = mailimap_examine(c->s, folder);
    if (r != MAILIMAP_NO_ERROR) {
        rc = ingest_imap_fail(c, r, "EXAMINE", why);
        return rc == SW_EPROVIDER ? SW_ENOTFOUND : rc;
    }
    si = c->s->imap_selection_info;
    if (si == NULL) {
        imap_say(why, "EXAMINE %s on %s: no selection data", folder, c->host);
        return SW_EPROVIDER;
    }
    *uidvalidity = si->sel_uidvalidity;
    *uidnext = si->sel_uidnext;
    *exists = si->sel_exists;
    return SW_OK;
}

/* ingest_imap_msg_att reads the UID, the body section and RFC822.SIZE
 * (into *size, when not NULL) of one FETCH response; fields stay NULL/0
 * when their item is absent. */
static void ingest_imap_msg_att(const struct mailimap_msg_att *ma,
                                struct ingest_imap_msg *m, uint32_t *size)
{
    clistiter *it;

    memset(m, 0, sizeof(*m));
    for (it = clist_begin(ma->att_list); it; it = clist_next(it)) {
        const struct mailimap_msg_att_item *item = clist_content(it);
        const struct mailimap_msg_att_static *st;
        if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
            continue;
        st = item->att_data.att_static;
        if (st->att_type == MAILIMAP_MSG_ATT_UID)
            m->uid = st->att_data.att_uid;
        else if (st->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE && size != NULL)
            *size = st->att_data.att_rfc822_size;
        else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION &&
                 st->att_data.att_body_section != NULL) {
            m->data = st->att_data.att_body_section->sec_body_part;
            m->len = st->att_data.att_body_section->sec_length;
        }
    }
}

static int ingest_imap_uid_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* ingest_imap_fetch_uids runs UID FETCH set (UID), with RFC822.SIZE when
 * with_size, into *res (the caller frees it with mailimap_fetch_list_free;
 * set stays the caller's). Errors: SW_ENOMEM (set NULL too), and those of
 * ingest_imap_fail. */
static sw_err ingest_imap_fetch_uids(ingest_imap_conn *c,
                                     struct mailimap_set *set, int with_size,
                                     clist **res, struct sw_buf *why)
{
    struct mailimap_fetch_type *ft;
    sw_err rc = SW_OK;
    int r;

    *res = NULL;
    ft = mailimap_fetch_type_new_fetch_att_list_empty();
    if (set == NULL || ft == NULL ||
        mailimap_fetch_type_new_fetch_att_list_add(
            ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
        (with_size &&
         mailimap_fetch_type_new_fetch_att_list_add(
             ft, mailimap_fetch_att_new_rfc822_size()) != MAILIMAP_NO_ERROR)) {
        rc = SW_ENOMEM;
    } else {
        r = mailimap_uid_fetch(c->s, set, ft, res);
        if (r != MAILIMAP_NO_ERROR)
            rc = ingest_imap_fail(c, r, "UID FETCH", why);
    }
    if (ft)
        mailimap_fetch_type_free(ft);
    return rc;
}

sw_err ingest_imap_conn_uids(ingest_imap_conn *c, uint32_t after,
                             uint32_t **uids, size_t *n, struct sw_buf *why)
{
    struct mailimap_set *set = NULL;
    clist *res = NULL;
    clistiter *it;
    uint32_t *u = NULL;
    size_t k = 0;
    sw_err rc = SW_OK;

    sw_buf_reset(why);
    if (after == UINT32_MAX) {
        *uids = NULL;
        *n = 0;
        return SW_OK;
    }
    set = mailimap_set_new_interval(after + 1, 0); /* after+1:* */
    rc = ingest_imap_fetch_uids(c, set, 0, &res, why);
    if (rc)
        goto out;
    u = sw_calloc((size_t)clist_count(res) + 1, sizeof(*u));
    if (u == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (it = clist_begin(res); it; it = clist_next(it)) {
        struct ingest_imap_msg m;
        ingest_imap_msg_att(clist_content(it), &m, NULL);
        /* "n:*" also answers the last message when every UID is below n. */
        if (m.uid > after)
            u[k++] = m.uid;
    }
    qsort(u, k, sizeof(*u), ingest_imap_uid_cmp);
out:
    if (res)
        mailimap_fetch_list_free(res);
    if (set)
        mailimap_set_free(set);
    if (rc) {
        sw_free(u);
        return rc;
    }
    if (k == 0) {
        sw_free(u);
        u = NULL;
    }
    *uids = u;
    *n = k;
    return SW_OK;
}

sw_err ingest_imap_conn_uids_since(ingest_imap_conn *c, int64_t since_s,
                                   uint32_t **uids, size_t *n,
                                   struct sw_buf *why)
{
    struct mailimap_search_key *key = NULL;
    struct mailimap_date *date = NULL;
    clist *res = NULL;
    clistiter *it;
    uint32_t *u = NULL;
    size_t k = 0;
    time_t t = (time_t)since_s;
    struct tm tm;
    int r;

    sw_buf_reset(why);
    if (gmtime_r(&t, &tm) == NULL)
        return SW_EINVAL;
    date = mailimap_date_new(tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900);
    key = date ? mailimap_search_key_new_since(date) : NULL;
    if (key == NULL) {
        if (date)
            mailimap_date_free(date);
        return SW_ENOMEM;
    }
    r = mailimap_uid_search(c->s, NULL, key, &res);
    mailimap_search_key_free(key); /* frees date too */
    if (r != MAILIMAP_NO_ERROR)
        return ingest_imap_fail(c, r, "UID SEARCH", why);
    u = sw_calloc((size_t)clist_count(res) + 1, sizeof(*u));
    if (u == NULL) {
        mailimap_search_result_free(res);
        return SW_ENOMEM;
    }
    for (it = clist_begin(res); it; it = clist_next(it)) {
        const uint32_t *uid = clist_content(it);
        if (uid != NULL && *uid > 0)
            u[k++] = *uid;
    }
    mailimap_search_result_free(res);
    qsort(u, k, sizeof(*u), ingest_imap_uid_cmp);
    if (k == 0) {
        sw_free(u);
        u = NULL;
    }
    *uids = u;
    *n = k;
    return SW_OK;
}

/* ingest_imap_set_of builds the set of n ascending UIDs as ranges of
 * consecutive ones (a backlog of thousands stays a short command). */
static struct mailimap_set *ingest_imap_set_of(const uint32_t *uids, size_t n)
{
    struct mailimap_set *set = mailimap_set_new_empty();
    size_t i = 0, j;

    while (set != NULL && i < n) {
        for (j = i; j + 1 < n && uids[j + 1] == uids[j] + 1; j++)
            ;
        if (mailimap_set_add_interval(set, uids[i], uids[j]) !=
            MAILIMAP_NO_ERROR) {
            mailimap_set_free(set);
            return NULL;
        }
        i = j + 1;
    }
    return set;
}

/* ingest_imap_sizes_some is ingest_imap_conn_sizes for one command. */
static sw_err ingest_imap_sizes_some(ingest_imap_conn *c, const uint32_t *uids,
                                     size_t n, uint32_t *sizes,
                                     struct sw_buf *why)
{
    struct mailimap_set *set = NULL;
    clist *res = NULL;
    clistiter *it;
    sw_err rc = SW_OK;

    set = ingest_imap_set_of(uids, n);
    rc = ingest_imap_fetch_uids(c, set, 1, &res, why);
    if (rc)
        goto out;
    for (it = clist_begin(res); it; it = clist_next(it)) {
        struct ingest_imap_msg m;
        uint32_t size = 0;
        const uint32_t *at;
        ingest_imap_msg_att(clist_content(it), &m, &size);
        at = bsearch(&m.uid, uids, n, sizeof(*uids), ingest_imap_uid_cmp);
        if (at != NULL)
            sizes[at - uids] = size;
    }
out:
    if (res)
        mailimap_fetch_list_free(res);
    if (set)
        mailimap_set_free(set);
    return rc;
}

sw_err ingest_imap_conn_sizes(ingest_imap_conn *c, const uint32_t *uids,
                              size_t n, uint32_t *sizes, struct sw_buf *why)
{
    size_t i, k;
    sw_err rc = SW_OK;

    sw_buf_reset(why);
    if (n > 0)
        memset(sizes, 0, n * sizeof(*sizes));
    /* A few thousand UIDs per command: sparse UIDs (after expunges) are
     * not ranges, and servers cap a command's length (Dovecot: 64 KiB). */
    for (i = 0; rc == SW_OK && i < n; i += k) {
        k = n - i < INGEST_IMAP_SIZES_MAX ? n - i : INGEST_IMAP_SIZES_MAX;
        rc = ingest_imap_sizes_some(c, uids + i, k, sizes + i, why);
    }
    return rc;
}

static int ingest_imap_msg_cmp(const void *a, const void *b)
{
    const struct ingest_imap_msg *x = a, *y = b;

    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* ingest_imap_fetch_type builds (UID BODY.PEEK[]): PEEK never sets \Seen. */
static struct mailimap_fetch_type *ingest_imap_fetch_type(void)
{
    struct mailimap_fetch_type *ft;
    struct mailimap_section *sec;
    struct mailimap_fetch_att *att;

    ft = mailimap_fetch_type_new_fetch_att_list_empty();
    if (ft == NULL)
        return NULL;
    att = mailimap_fetch_att_new_uid();
    if (att == NULL || mailimap_fetch_type_new_fetch_att_list_add(ft, att) !=
                           MAILIMAP_NO_ERROR)
        goto fail;
    sec = mailimap_section_new(NULL);
    att = sec ? mailimap_fetch_att_new_body_peek_section(sec) : NULL;
    if (att == NULL || mailimap_fetch_type_new_fetch_att_list_add(ft, att) !=
                           MAILIMAP_NO_ERROR)
        goto fail;
    return ft;
fail:
    mailimap_fetch_type_free(ft);
    return NULL;
}

sw_err ingest_imap_conn_fetch(ingest_imap_conn *c, const uint32_t *uids,
                              size_t n, ingest_imap_batch_fn fn, void *arg,
                              struct sw_buf *why)
{
    struct mailimap_set *set = NULL;
    struct mailimap_fetch_type *ft = NULL;
    struct ingest_imap_msg *msgs = NULL;
    clist *res = NULL;
    clistiter *it;
    size_t i, k = 0;
    sw_err rc = SW_OK;
    int r;

    sw_buf_reset(why);
    if (n == 0)
        return SW_OK;
    set = mailimap_set_new_empty();
    ft = ingest_imap_fetch_type();
    if (set == NULL || ft == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (mailimap_set_add_single(set, uids[i]) != MAILIMAP_NO_ERROR) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    r = mailimap_uid_fetch(c->s, set, ft, &res);
    if (r != MAILIMAP_NO_ERROR) {
        rc = ingest_imap_fail(c, r, "UID FETCH", why);
        goto out;
    }
    msgs = sw_calloc((size_t)clist_count(res) + 1, sizeof(*msgs));
    if (msgs == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (it = clist_begin(res); it; it = clist_next(it)) {
        ingest_imap_msg_att(clist_content(it), &msgs[k], NULL);
        if (msgs[k].uid != 0 && msgs[k].data != NULL)
            k++;
    }
    qsort(msgs, k, sizeof(*msgs), ingest_imap_msg_cmp);
    rc = fn(msgs, k, arg);
out:
    sw_free(msgs);
    if (res)
        mailimap_fetch_list_free(res);
    if (ft)
        mailimap_fetch_type_free(ft);
    if (set)
        mailimap_set_free(set);
    return rc;
}

sw_err ingest_imap_conn_has_idle(ingest_imap_conn *c, int *has,
                                 struct sw_buf *why)
{
    int r;

    sw_buf_reset(why);
    *has = 0;
    if (c->s->imap_connection_info == NULL ||
        c->s->imap_connection_info->imap_capability == NULL) {
        struct mailimap_capability_data *cap = NULL;
        r = mailimap_capability(c->s, &cap); /* stored in connection_info */
        if (r != MAILIMAP_NO_ERROR)
            return ingest_imap_fail(c, r, "CAPABILITY", why);
        mailimap_capability_data_free(cap);
    }
    *has = mailimap_has_idle(c->s) != 0;
    return SW_OK;
}

sw_err ingest_imap_conn_idle_start(ingest_imap_conn *c, struct sw_buf *why)
{
    int r;

    sw_buf_reset(why);
    if (c->s->imap_selection_info == NULL) {
        imap_say(why, "IDLE on %s: no folder selected", c->host);
        return SW_EPROVIDER;
    }
    /* Set again by an EXISTS the server sends during IDLE. */
    c->s->imap_selection_info->sel_has_exists = 0;
    r = mailimap_idle(c->s);
    if (r == MAILIMAP_ERROR_FATAL) /* BYE: the server closes the session */
        r = MAILIMAP_ERROR_STREAM;
    if (r != MAILIMAP_NO_ERROR)
        return ingest_imap_fail(c, r, "IDLE", why);
    return SW_OK;
}

sw_err ingest_imap_conn_idle_wait_any(ingest_imap_conn *const *c, size_t n,
                                      int64_t ms, int *ready)
{
    struct pollfd p[INGEST_IMAP_WAIT_MAX];
    size_t i;
    int any = 0, r;

    if (n == 0 || n > INGEST_IMAP_WAIT_MAX)
        return SW_EINVAL;
    memset(p, 0, sizeof(p));
    for (i = 0; i < n; i++) {
        ready[i] = 0;
        if (c[i]->s->imap_stream == NULL)
            return SW_EIO;
        /* Bytes libetpan already read past the continuation line (a TLS
         * record is read whole into this buffer): no poll would see
         * them. */
        if (c[i]->s->imap_stream->read_buffer_len > 0) {
            ready[i] = 1;
            any = 1;
        }
        p[i].fd = mailimap_idle_get_fd(c[i]->s);
        if (p[i].fd < 0)
            return SW_EIO;
        p[i].events = POLLIN;
    }
    if (any)
        return SW_OK;
    if (ms < 0)
        ms = 0;
    if (ms > 3600000)
        ms = 3600000;
    r = poll(p, (nfds_t)n, (int)ms);
    if (r < 0)
        return errno == EINTR ? SW_OK : SW_EIO;
    for (i = 0; i < n; i++) /* data, or a closed socket whose next read
                               fails */
        ready[i] = p[i].revents != 0;
    return SW_OK;
}

sw_err ingest_imap_conn_idle_wait(ingest_imap_conn *c, int64_t ms, int *ready)
{
    return ingest_imap_conn_idle_wait_any(&c, 1, ms, ready);
}

sw_err ingest_imap_conn_idle_done(ingest_imap_conn *c, int *exists,
                                  struct sw_buf *why)
{
    struct mailimap_selection_info *si = c->s->imap_selection_info;
    uint32_t before = si ? si->sel_exists : 0;
    int r;

    sw_buf_reset(why);
    *exists = 0;
    r = mailimap_idle_done(c->s); /* stores the untagged data read */
    si = c->s->imap_selection_info;
    if (si != NULL)
        *exists = si->sel_has_exists || si->sel_exists != before;
    if (r == MAILIMAP_ERROR_FATAL) /* BYE: the server closes the session */
        r = MAILIMAP_ERROR_STREAM;
    if (r != MAILIMAP_NO_ERROR)
        return ingest_imap_fail(c, r, "IDLE", why);
    return SW_OK;
}
