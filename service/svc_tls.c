/* svc_tls: TLS files read, checked with libcrypto, and served to gRPC core
 * through a certificate-config fetcher, which gRPC calls at each handshake:
 * a reload only bumps a generation number that the fetcher compares. */
#include "service/svc_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/support/log.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"

#define SVC_TLS_MAX_PEM (1024 * 1024)

/* One generation of TLS material, as NUL-terminated PEM. */
struct svc_tls_pems {
    char *cert;
    char *key;
    char *ca; /* NULL: clients are not asked for a certificate */
    int self_signed;
};

struct svc_tls {
    const char *cert_path, *key_path, *ca_path; /* borrowed */
    pthread_mutex_t mu;                         /* guards cur, gen and served */
    struct svc_tls_pems cur;
    uint64_t gen;    /* bumped by each successful load */
    uint64_t served; /* the generation gRPC last fetched */
};

static void svc_tls_pems_clear(struct svc_tls_pems *p)
{
    if (p->key) {
        memset(p->key, 0, strlen(p->key));
        sw_free(p->key);
    }
    sw_free(p->cert);
    sw_free(p->ca);
    memset(p, 0, sizeof(*p));
}

/* svc_tls_read reads a whole (small) file into a NUL-terminated string. */
static sw_err svc_tls_read(const char *file, char **out)
{
    struct sw_buf b;
    char chunk[4096];
    int fd;
    sw_err rc = SW_OK;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SW_ENOTFOUND : SW_EIO;
    sw_buf_init(&b, SVC_TLS_MAX_PEM);
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = SW_EIO;
            break;
        }
        if (r == 0)
            break;
        rc = sw_buf_add(&b, chunk, (size_t)r);
        if (rc)
            break;
    }
    close(fd);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    sw_buf_free(&b);
    return rc;
}

/* A passphrase callback that refuses: snipd never prompts on a terminal. */
static int svc_tls_no_pass(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* svc_tls_check parses p's PEM and checks that the key is the
 * certificate's; it sets p->self_signed. */
static sw_err svc_tls_check(struct svc_tls_pems *p, const char **why)
{
    BIO *bio = NULL;
    X509 *x = NULL, *ca = NULL;
    EVP_PKEY *pk = NULL;
    sw_err rc = SW_EPARSE;

    bio = BIO_new_mem_buf(p->cert, -1);
    x = bio ? PEM_read_bio_X509(bio, NULL, svc_tls_no_pass, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL) {
        *why = "--tls-cert: no PEM certificate in the file";
        goto out;
    }
    bio = BIO_new_mem_buf(p->key, -1);
    pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, svc_tls_no_pass, NULL) : NULL;
    BIO_free(bio);
    if (pk == NULL) {
        *why = "--tls-key: no unencrypted PEM private key in the file";
        goto out;
    }
    if (X509_check_private_key(x, pk) != 1) {
        *why = "--tls-key is not the key of the --tls-cert certificate";
        rc = SW_EINVAL;
        goto out;
    }
    if (p->ca) {
        bio = BIO_new_mem_buf(p->ca, -1);
        ca = bio ? PEM_read_bio_X509(bio, NULL, svc_tls_no_pass, NULL) : NULL;
        BIO_free(bio);
        if (ca == NULL) {
            *why = "--tls-client-ca: no PEM certificate in the file";
            goto out;
        }
    }
    p->self_signed = X509_check_issued(x, x) == X509_V_OK;
    rc = SW_OK;
out:
    ERR_clear_error(); /* libcrypto's error queue is per thread: leave it
                        * empty for gRPC's own TLS code */
    X509_free(ca);
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

/* svc_tls_load reads and checks t's files into *p (cleared on error). */
static sw_err svc_tls_load(const svc_tls *t, struct svc_tls_pems *p,
                           const char **why)
{
    sw_err rc;

    memset(p, 0, sizeof(*p));
    rc = svc_tls_read(t->cert_path, &p->cert);
    if (rc) {
        *why = "--tls-cert: cannot read the file";
        goto out;
    }
    rc = svc_tls_read(t->key_path, &p->key);
    if (rc) {
        *why = "--tls-key: cannot read the file";
        goto out;
    }
    if (t->ca_path) {
        rc = svc_tls_read(t->ca_path, &p->ca);
        if (rc) {
            *why = "--tls-client-ca: cannot read the file";
            goto out;
        }
    }
    rc = svc_tls_check(p, why);
out:
    if (rc)
        svc_tls_pems_clear(p);
    return rc;
}

sw_err svc_tls_open(const char *cert, const char *key, const char *client_ca,
                    svc_tls **out, const char **why)
{
    svc_tls *t;
    sw_err rc;

    *why = "";
    if (cert == NULL || key == NULL) {
        *why = "--tls-cert and --tls-key go together";
        return SW_EINVAL;
    }
    t = sw_calloc(1, sizeof(*t));
    if (t == NULL)
        return SW_ENOMEM;
    t->cert_path = cert;
    t->key_path = key;
    t->ca_path = client_ca;
    rc = svc_tls_load(t, &t->cur, why);
    if (rc) {
        sw_free(t);
        return rc;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->gen = 1;
    *out = t;
    return SW_OK;
}

sw_err svc_tls_reload(svc_tls *t, const char **why)
{
    struct svc_tls_pems p, old;
    sw_err rc;

    *why = "";
    rc = svc_tls_load(t, &p, why);
    if (rc)
        return rc;
    pthread_mutex_lock(&t->mu);
    old = t->cur;
    t->cur = p;
    t->gen++;
    pthread_mutex_unlock(&t->mu);
    svc_tls_pems_clear(&old);
    return SW_OK;
}

/* svc_tls_fetch is gRPC's fetcher: called at start and before each
 * handshake (gRPC serializes the calls of one port), it hands over a new
 * config only when a reload happened since the last one. gRPC owns and
 * frees *config. */
static grpc_ssl_certificate_config_reload_status
svc_tls_fetch(void *arg, grpc_ssl_server_certificate_config **config)
{
    svc_tls *t = arg;
    grpc_ssl_pem_key_cert_pair pair;
    grpc_ssl_certificate_config_reload_status st =
        GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;

    pthread_mutex_lock(&t->mu);
    if (t->served != t->gen) {
        pair.private_key = t->cur.key;
        pair.cert_chain = t->cur.cert;
        /* It copies the strings. gRPC 1.51 asserts that a fetched config
         * has root certificates even when clients are not asked for a
         * certificate, in which case they are never used. */
        *config = grpc_ssl_server_certificate_config_create(
            t->cur.ca ? t->cur.ca : t->cur.cert, &pair, 1);
        if (*config) {
            t->served = t->gen;
            st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
        } else {
            st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

grpc_server_credentials *svc_tls_creds(svc_tls *t)
{
    grpc_ssl_server_credentials_options *o;

    o = grpc_ssl_server_credentials_create_options_using_config_fetcher(
        t->ca_path ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        svc_tls_fetch, t);
    if (o == NULL)
        return NULL;
    return grpc_ssl_server_credentials_create_with_options(o); /* takes o */
}

int svc_tls_self_signed(svc_tls *t)
{
    int s;

    pthread_mutex_lock(&t->mu);
    s = t->cur.self_signed;
    pthread_mutex_unlock(&t->mu);
    return s;
}

/* svc_tls_grpc_log writes gRPC core's line as its default logger does and
 * explains the handshake failures people meet: OpenSSL's "wrong version
 * number" on a server is what a plaintext HTTP/2 preface looks like, and
 * "peer did not return a certificate" is a client without one under
 * --tls-client-ca. gRPC does not say which peer it was. */
static void svc_tls_grpc_log(gpr_log_func_args *a)
{
    const char *m = a->message ? a->message : "";

    fprintf(stderr, "%s %s:%d] %s\n", gpr_log_severity_string(a->severity),
            a->file ? a->file : "?", a->line, m);
    if (strstr(m, "Handshake failed") == NULL)
        return;
    if (strstr(m, "wrong version number"))
        sw_log_warn("tls.plaintext_client",
                    "hint=\"a client spoke plaintext to this TLS port; it "
                    "needs TLS and the CA (snipctl --tls-ca CA.pem)\"");
    else if (strstr(m, "did not return a certificate"))
        sw_log_warn("tls.client_cert_missing",
                    "hint=\"a client sent no certificate; --tls-client-ca "
                    "requires one (snipctl --tls-cert/--tls-key)\"");
}

void svc_tls_log_hints(void)
{
    gpr_set_log_function(svc_tls_grpc_log);
}

void svc_tls_free(svc_tls **tp)
{
    svc_tls *t = tp ? *tp : NULL;

    if (t == NULL)
        return;
    *tp = NULL;
    svc_tls_pems_clear(&t->cur);
    pthread_mutex_destroy(&t->mu);
    sw_free(t);
}
