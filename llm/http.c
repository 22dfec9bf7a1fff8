/* llm/http: the libcurl handle pool and the retrying JSON POST shared by
 * the OpenAI-compatible chat and embeddings clients (http_int.h). */
#include "llm/http_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"

static pthread_once_t llm_http_once = PTHREAD_ONCE_INIT;
static CURLcode llm_http_init_rc = CURLE_OK;

static void llm_http_init_once(void)
{
    llm_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

sw_err llm_http_global_init(void)
{
    pthread_once(&llm_http_once, llm_http_init_once);
    return llm_http_init_rc == CURLE_OK ? SW_OK : SW_EINTERNAL;
}

sw_err llm__http_init(struct llm__http *h, struct llm_openai_opts *o)
{
    sw_err rc;

    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    rc = llm_http_global_init();
    if (rc)
        return rc;
    if (o->timeout_ms <= 0)
        o->timeout_ms = 60000;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = 10000;
    if (o->max_http_retries == 0)
        o->max_http_retries = 3;
    else if (o->max_http_retries < 0)
        o->max_http_retries = 0;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 500;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 30000;
    if (o->max_concurrency <= 0)
        o->max_concurrency = 4;
    h->timeout_ms = o->timeout_ms;
    h->connect_timeout_ms = o->connect_timeout_ms;
    h->max_retries = o->max_http_retries;
    h->backoff_base_ms = o->backoff_base_ms;
    h->backoff_max_ms = o->backoff_max_ms;
    h->pool = sw_calloc((size_t)o->max_concurrency, sizeof(*h->pool));
    if (h->pool == NULL)
        return SW_ENOMEM;
    h->n_free = o->max_concurrency;
    return SW_OK;
}

void llm__http_free(struct llm__http *h)
{
    int i;

    if (h->pool)
        for (i = 0; i < h->n_free; i++)
            if (h->pool[i])
                curl_easy_cleanup(h->pool[i]);
    sw_free(h->pool);
    h->pool = NULL;
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
}

sw_err llm__http_auth_header(const char *key, char **out)
{
    struct sw_buf b;
    sw_err rc;

    *out = NULL;
    if (key == NULL || key[0] == '\0')
        return SW_OK;
    sw_buf_init(&b, 4096);
    rc = sw_buf_printf(&b, "Authorization: Bearer %s", key);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    if (sw_buf_len(&b))
        memset((char *)sw_buf_str(&b), 0, sw_buf_len(&b));
    sw_buf_free(&b);
    return rc;
}

void llm__http_wipe(char *s)
{
    if (s == NULL)
        return;
    memset(s, 0, strlen(s));
    sw_free(s);
}

sw_err llm__http_url(const char *base_url, const char *path, char **out)
{
    struct sw_buf b;
    size_t bl = strlen(base_url);
    sw_err rc;

    while (bl > 0 && base_url[bl - 1] == '/')
        bl--;
    sw_buf_init(&b, 4096);
    rc = sw_buf_add(&b, base_url, bl);
    if (rc == SW_OK)
        rc = sw_buf_addstr(&b, path);
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    sw_buf_free(&b);
    return rc;
}

/* --- Handles ----------------------------------------------------------- */

static CURL *llm_http_acquire(struct llm__http *p)
{
    CURL *h;

    pthread_mutex_lock(&p->mu);
    while (p->n_free == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    h = p->pool[--p->n_free];
    pthread_mutex_unlock(&p->mu);
    if (h == NULL)
        h = curl_easy_init();
    else
        curl_easy_reset(h); /* keeps the connection cache */
    return h;
}

static void llm_http_release(struct llm__http *p, CURL *h)
{
    pthread_mutex_lock(&p->mu);
    p->pool[p->n_free++] = h; /* NULL is kept: a slot to init later */
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* --- Transfer ---------------------------------------------------------- */

struct llm_http_xfer {
    struct sw_buf *body;
    int64_t retry_after_ms; /* -1 when absent */
    int64_t reset_ms;       /* longest x-ratelimit-reset-*; -1 when absent */
};

static size_t llm_http_write(char *ptr, size_t size, size_t n, void *arg)
{
    struct llm_http_xfer *x = arg;

    if (sw_buf_add(x->body, ptr, size * n) != SW_OK)
        return 0; /* aborts the transfer: too big or out of memory */
    return size * n;
}

/* llm__http_duration_ms parses a rate-limit reset hint: "1s", "6m0s",
 * "20ms", "1h2m3.5s" or a bare number of seconds ("30", "0.5"). Returns
 * -1 when s[0..n) is none of these. */
int64_t llm__http_duration_ms(const char *s, size_t n)
{
    double total = 0, v;
    size_t i = 0, j;
    int units = 0;

    while (i < n && s[i] == ' ')
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (i == n)
        return -1;
    while (i < n) {
        char num[32];
        j = i;
        while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.'))
            j++;
        if (j == i || j - i >= sizeof(num))
            return -1;
        memcpy(num, s + i, j - i);
        num[j - i] = '\0';
        v = strtod(num, NULL);
        i = j;
        if (i == n && units == 0) {
            total = v * 1000; /* bare seconds */
            break;
        }
        if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's') {
            total += v;
            i += 2;
        } else if (i < n && s[i] == 'h') {
            total += v * 3600000;
            i++;
        } else if (i < n && s[i] == 'm') {
            total += v * 60000;
            i++;
        } else if (i < n && s[i] == 's') {
            total += v * 1000;
            i++;
        } else {
            return -1;
        }
        units++;
    }
    if (total < 0 || total > 86400000.0)
        return -1;
    return (int64_t)(total + 0.5);
}

/* llm_http_header keeps the server's wait hints: Retry-After (seconds or
 * an HTTP date) and the latest x-ratelimit-reset-* duration. */
static size_t llm_http_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct llm_http_xfer *x = arg;
    size_t len = size * n, k;
    int64_t v;

    if (len > 12 && strncasecmp(ptr, "retry-after:", 12) == 0) {
        char val[128];
        k = 12;
        while (k < len && ptr[k] == ' ')
            k++;
        v = llm__http_duration_ms(ptr + k, len - k);
        if (v >= 0) {
            x->retry_after_ms = v; /* delta-seconds */
        } else if (len - k < sizeof(val)) {
            time_t when;
            size_t e = len;
            while (e > k && (ptr[e - 1] == '\r' || ptr[e - 1] == '\n' ||
                             ptr[e - 1] == ' '))
                e--;
            memcpy(val, ptr + k, e - k);
            val[e - k] = '\0';
            when = curl_getdate(val, NULL); /* an HTTP date */
            if (when != (time_t)-1) {
                v = ((int64_t)when * 1000) - sw_now_ms();
                x->retry_after_ms = v > 0 ? v : 0;
            }
        }
    } else if (len > 20 && strncasecmp(ptr, "x-ratelimit-reset-", 18) == 0) {
        const char *c = memchr(ptr, ':', len);
        if (c) {
            v = llm__http_duration_ms(c + 1, len - (size_t)(c + 1 - ptr));
            if (v > x->reset_ms)
                x->reset_ms = v;
        }
    }
    return len;
}

static void llm_http_sleep(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* llm_http_backoff: base * 2^try, capped, with up to 50% random jitter. */
static int64_t llm_http_backoff(const struct llm__http *p, int try)
{
    int64_t d = p->backoff_base_ms;
    uint32_t r = 0;
    int i;

    for (i = 0; i < try && d < p->backoff_max_ms; i++)
        d *= 2;
    if (d > p->backoff_max_ms)
        d = p->backoff_max_ms;
    if (sw_random(&r, sizeof(r)) == SW_OK && d > 1)
        d = d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
    return d;
}

/* llm_http_pause makes every request of the client wait until until_ms
 * (sw_mono_ms clock); a later pause extends it, an earlier one is kept. */
static void llm_http_pause(struct llm__http *p, int64_t until_ms)
{
    pthread_mutex_lock(&p->mu);
    if (until_ms > p->pause_until_ms)
        p->pause_until_ms = until_ms;
    pthread_mutex_unlock(&p->mu);
}

static int64_t llm_http_paused_ms(struct llm__http *p, int64_t now)
{
    int64_t left;

    pthread_mutex_lock(&p->mu);
    left = p->pause_until_ms - now;
    pthread_mutex_unlock(&p->mu);
    return left > 0 ? left : 0;
}

static void llm_http_err(char **err, const char *msg)
{
    if (err == NULL)
        return;
    sw_free(*err);
    *err = sw_strdup(msg);
}

sw_err llm__http_post(struct llm__http *p, const char *url, const char *auth,
                      const char *payload, int64_t deadline_ms,
                      struct sw_buf *body, long *status, int *tries, char **err)
{
    struct llm_http_xfer x = {body, -1, -1};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    CURL *h = NULL;
    CURLcode cc;
    int64_t now, left, wait;
    int try = 0;
    sw_err rc = SW_EPROVIDER;

    *status = 0;
    h = llm_http_acquire(p);
    if (h == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (hdrs && auth)
        hdrs = curl_slist_append(hdrs, auth);
    if (hdrs == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (;;) {
        now = sw_mono_ms();
        left = p->timeout_ms;
        if (deadline_ms > 0) {
            if (deadline_ms - now <= 0) {
                rc = SW_ETIMEOUT;
                llm_http_err(err, "deadline exceeded");
                goto out;
            }
            if (deadline_ms - now < left)
                left = deadline_ms - now;
        }
        /* A 429 pauses every request of this client until the server's
         * hint: wait out the pause (within the deadline) before sending. */
        wait = llm_http_paused_ms(p, now);
        if (wait > 0) {
            if (deadline_ms > 0 && now + wait >= deadline_ms) {
                rc = SW_ETIMEOUT;
                llm_http_err(err, "rate limited: the provider's pause "
                                  "outlasts the deadline");
                goto out;
            }
            llm_http_sleep(wait);
            continue;
        }
        sw_buf_reset(body);
        x.retry_after_ms = -1;
        x.reset_ms = -1;
        errbuf[0] = '\0';
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, llm_http_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, llm_http_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)p->connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(h);
        if (tries)
            (*tries)++;
        *status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        if (cc == CURLE_OK && *status != 429 && *status < 500) {
            rc = SW_OK;
            goto out;
        }
        /* Retryable: 429, 5xx, transport errors and timeouts. */
        sw_log_warn("llm.openai_retry", "try=%d status=%ld curl=%d err=\"%s\"",
                    try, *status, (int)cc, errbuf);
        rc = cc == CURLE_OPERATION_TIMEDOUT ? SW_ETIMEOUT : SW_EPROVIDER;
        llm_http_err(err, cc != CURLE_OK   ? curl_easy_strerror(cc)
                          : *status == 429 ? "rate limited (429)"
                                           : "server error (5xx)");
        /* Wait from now (the moment of failure): the server's hint on a
         * 429, else jittered exponential backoff; never beyond the cap. */
        wait = llm_http_backoff(p, try);
        if (*status == 429 && x.retry_after_ms >= 0)
            wait = x.retry_after_ms;
        else if (*status == 429 && x.reset_ms >= 0)
            wait = x.reset_ms;
        if (wait > p->backoff_max_ms)
            wait = p->backoff_max_ms;
        if (*status == 429)
            llm_http_pause(p, sw_mono_ms() + wait);
        if (try >= p->max_retries)
            goto out;
        if (deadline_ms > 0 && sw_mono_ms() + wait >= deadline_ms) {
            rc = SW_ETIMEOUT;
            goto out;
        }
        llm_http_sleep(wait);
        try++;
    }
out:
    if (h)
        curl_easy_reset(h); /* drops pointers to our buffers */
    llm_http_release(p, h);
    curl_slist_free_all(hdrs);
    return rc;
}

/* --- Redaction ----------------------------------------------------------- */

static int llm_http_keychar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* llm_http_secret_at: the length of a secret starting at s[i] (the
 * configured one, an "sk-" key or a bearer token), else 0. */
static size_t llm_http_secret_at(const char *s, size_t n, size_t i,
                                 const char *secret, size_t sl)
{
    size_t j;

    if (sl > 0 && n - i >= sl && memcmp(s + i, secret, sl) == 0)
        return sl;
    if (n - i > 3 && memcmp(s + i, "sk-", 3) == 0 &&
        (i == 0 || !llm_http_keychar(s[i - 1]))) {
        for (j = i + 3; j < n && llm_http_keychar(s[j]); j++)
            ;
        if (j - i >= 11)
            return j - i;
    }
    if (n - i > 7 && strncasecmp(s + i, "bearer ", 7) == 0) {
        for (j = i + 7; j < n && s[j] != ' ' && s[j] != '"' && s[j] != '\'' &&
                        s[j] != '\n' && s[j] != '\r';
             j++)
            ;
        if (j - i > 7)
            return j - i;
    }
    return 0;
}

char *llm__http_redact(const char *s, size_t n, const char *secret)
{
    size_t sl = secret ? strlen(secret) : 0, i = 0, k;
    struct sw_buf b;
    char *out = NULL;
    sw_err rc = SW_OK;

    sw_buf_init(&b, 2 * n + 64);
    while (rc == SW_OK && i < n) {
        k = llm_http_secret_at(s, n, i, secret, sl);
        if (k) {
            rc = sw_buf_addstr(&b, "[redacted]");
            i += k;
        } else {
            rc = sw_buf_add(&b, s + i, 1);
            i++;
        }
    }
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &out, NULL);
    sw_buf_free(&b);
    return rc == SW_OK ? out : NULL;
}
