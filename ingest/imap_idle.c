/* ingest/imap_idle: new mail by IMAP IDLE (RFC 2177) between the polls
 * of the mailbox sync engine (imap_sync.h): after a sync pass the
 * mailbox's session waits in IDLE on the INBOX, and a session of its own
 * on each other folder followed (\Sent), all at once, and a folder is
 * synced as soon as its server reports new mail. */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ingest/imap_secret.h"
#include "ingest/imap_sync_int.h"

/* ingest_imap__entry_of returns the scheduler's entry of mb, or NULL. Under
 * m->mu. */
struct imap_entry *ingest_imap__entry_of(ingest_imap_sync *m,
                                         const struct store_mailbox *mb)
{
    size_t i;

    for (i = 0; i < m->ne; i++) {
        if (strcmp(m->e[i].mailbox_id, mb->mailbox_id) == 0 &&
            strcmp(m->e[i].team_id, mb->team_id) == 0)
            return &m->e[i];
    }
    return NULL;
}

/* imap_may_idle returns 1 unless IDLE failed (or was not offered) on this
 * mailbox lately. */
static int imap_may_idle(struct imap_run *r)
{
    struct imap_entry *e;
    int ok;

    pthread_mutex_lock(&r->m->mu);
    e = ingest_imap__entry_of(r->m, r->mb);
    ok = e != NULL && e->no_idle_until <= sw_mono_ms();
    pthread_mutex_unlock(&r->m->mu);
    return ok;
}

/* imap_no_idle logs why the mailbox falls back to polling and keeps it
 * from trying IDLE for IMAP_SYNC_NO_IDLE_MS. */
static void imap_no_idle(struct imap_run *r, int failed, const char *reason)
{
    struct imap_entry *e;

    if (failed)
        sw_log_warn("mailbox.idle_failed",
                    "team_id=%s mailbox_id=%s reason=\"%s\" action=poll",
                    r->mb->team_id, r->mb->mailbox_id, reason);
    else
        sw_log_info("mailbox.idle_unavailable",
                    "team_id=%s mailbox_id=%s reason=\"%s\" action=poll",
                    r->mb->team_id, r->mb->mailbox_id, reason);
    pthread_mutex_lock(&r->m->mu);
    e = ingest_imap__entry_of(r->m, r->mb);
    if (e != NULL)
        e->no_idle_until = sw_mono_ms() + IMAP_SYNC_NO_IDLE_MS;
    pthread_mutex_unlock(&r->m->mu);
    sw_buf_reset(&r->why); /* not an error of the mailbox */
}

/* imap_idle_folder returns the folder IDLE watches: the INBOX when it is
 * followed, else the first folder followed. */
static const char *imap_idle_folder(const struct store_mailbox *mb)
{
    size_t i;

    if (mb->n_folders == 0)
        return "INBOX";
    for (i = 0; i < mb->n_folders; i++) {
        if (strcasecmp(mb->folders[i], "INBOX") == 0)
            return mb->folders[i];
    }
    return mb->folders[0];
}

/* What ended a wait in IDLE. */
enum imap_wake {
    IMAP_WAKE_NONE,
    IMAP_WAKE_DATA,     /* the server sent something */
    IMAP_WAKE_DEADLINE, /* the poll interval is over: sync every folder */
    IMAP_WAKE_SYNC,     /* SyncMailbox */
    IMAP_WAKE_YIELD     /* another mailbox waits for this worker */
};

/* imap_idle_check looks, between two waits, for what ends IDLE besides
 * the server: the engine stopping, the mailbox paused, given new
 * credentials or deleted (the errors of imap_run_check), SyncMailbox, or
 * another mailbox due while every worker is busy (an idling mailbox must
 * not starve the others). The mailboxes are re-read here as in
 * imap_thread, since every worker may be idling. */
static sw_err imap_idle_check(struct imap_run *r, enum imap_wake *wake)
{
    ingest_imap_sync *m = r->m;
    struct store_mailbox now;
    int64_t t = sw_mono_ms(), wait_ms;
    int stop, yield;
    sw_err rc;

    *wake = IMAP_WAKE_NONE;
    pthread_mutex_lock(&m->mu);
    stop = m->stop;
    if (!stop && (m->wake || t - m->refreshed_ms >= IMAP_SYNC_REFRESH_MS)) {
        m->wake = 0;
        ingest_imap__refresh(m);
    }
    yield = m->nbusy >= m->nstarted && ingest_imap__pick(m, t, &wait_ms) >= 0;
    pthread_mutex_unlock(&m->mu);
    if (stop)
        return SW_ECANCELLED;
    memset(&now, 0, sizeof(now));
    rc = store_mailbox_get(m->st, r->mb->team_id, r->mb->mailbox_id, &now);
    if (rc)
        return rc; /* SW_ENOTFOUND: deleted */
    if (now.paused || now.cred_gen != r->mb->cred_gen) {
        rc = SW_ECANCELLED;
    } else if (now.sync_req != r->sync_req) {
        r->sync_req = now.sync_req;
        *wake = IMAP_WAKE_SYNC;
    } else if (yield) {
        *wake = IMAP_WAKE_YIELD;
    }
    store_mailbox_clear(&now);
    return rc;
}

/* ingest_imap__conn_set publishes (or clears) the worker's session i for
 * abort. */
void ingest_imap__conn_set(struct imap_run *r, size_t i, ingest_imap_conn *c)
{
    pthread_mutex_lock(&r->m->mu);
    r->w->conn[i] = c;
    if (c != NULL && r->m->stop)
        ingest_imap_conn_abort(c);
    pthread_mutex_unlock(&r->m->mu);
}

/* One folder watched in IDLE: the folder imap_idle_folder names on the
 * mailbox's own session (watch 0), or another folder followed on a
 * session of its own (imap_watch_open). */
struct imap_watch {
    const char *folder;     /* watch 0: borrowed from the record; else own */
    char *own;              /* the name of a watch of its own: r->sent is
                               found again (and freed) by each poll pass */
    ingest_imap_conn *conn; /* watch 0: r->conn (borrowed); else owned;
                               NULL once dropped (the folder is polled) */
    int ready;              /* the server sent something during IDLE */
    int exists;             /* ... and it included EXISTS: sync it */
};

/* imap_watch_say logs why folder is only polled from now on in this
 * session (its own session could not be opened, or failed). */
static void imap_watch_say(struct imap_run *r, const char *folder,
                           const char *what, sw_err rc, const char *reason)
{
    sw_log_warn("mailbox.idle_watch_unavailable",
                "team_id=%s mailbox_id=%s folder=\"%s\" step=%s err=%s "
                "reason=\"%s\" action=poll",
                r->mb->team_id, r->mb->mailbox_id, folder, what,
                sw_err_name(rc), reason);
}

/* imap_watch_drop closes watch i (not 0) after a failure of its session:
 * its folder is polled for the rest of this session, the mailbox goes
 * on. */
static void imap_watch_drop(struct imap_run *r, struct imap_watch *wv, size_t i,
                            const char *what, sw_err rc, const char *reason)
{
    imap_watch_say(r, wv[i].folder, what, rc, reason);
    ingest_imap__conn_set(r, i, NULL);
    ingest_imap_conn_close(&wv[i].conn);
    wv[i].ready = wv[i].exists = 0;
}

/* imap_watch_open opens and logs in a session of its own for folder, as
 * watch i (published for abort). A server that refuses it (e.g. a cap on
 * connections per user, such as Dovecot's mail_max_userip_connections,
 * or Gmail's 15 per account) only costs the folder its promptness: it is
 * logged, and the folder is polled. The folder is EXAMINEd by its first
 * sync. */
static void imap_watch_open(struct imap_run *r, struct imap_watch *wv, size_t i,
                            const char *folder)
{
    const struct store_mailbox *mb = r->mb;
    ingest_imap_conn *c = NULL;
    char *secret = NULL;
    struct sw_buf why;
    const char *what = "copy";
    sw_err rc = SW_ENOMEM;

    memset(&wv[i], 0, sizeof(wv[i]));
    wv[i].own = sw_strdup(folder);
    wv[i].folder = wv[i].own ? wv[i].own : folder;
    sw_buf_init(&why, IMAP_SYNC_WHY_MAX);
    if (wv[i].own != NULL) {
        what = "unseal";
        rc = ingest_imap_unseal(r->m->key, mb->secret_box, mb->secret_len,
                                &secret);
    }
    if (rc == SW_OK) {
        what = "connect";
        rc = ingest_imap_conn_open(mb->host, (uint16_t)mb->port, mb->tls_mode,
                                   mb->allow_plaintext, mb->tls_ca_pem,
                                   r->m->o.timeout_s, &c, &why);
    }
    if (rc == SW_OK) {
        ingest_imap__conn_set(r, i, c);
        what = "login";
        rc = ingest_imap_conn_login(c, mb->username, mb->auth_kind, secret,
                                    &why);
    }
    ingest_imap_secret_free(&secret);
    if (rc) {
        imap_watch_say(r, folder, what, rc, sw_buf_str(&why));
        ingest_imap__conn_set(r, i, NULL);
        ingest_imap_conn_close(&c);
    }
    wv[i].conn = c;
    sw_buf_free(&why);
}

/* imap_watches_open makes watch 0 of r's session on folder and opens a
 * watch for each other folder followed (the INBOX and \Sent by default),
 * up to IMAP_SYNC_WATCHES in all; *nw is how many slots are used. */
static void imap_watches_open(struct imap_run *r, const char *folder,
                              struct imap_watch *wv, size_t *nw)
{
    const struct store_mailbox *mb = r->mb;
    const char *other[IMAP_SYNC_WATCHES];
    size_t i, n = 0, want = 0;

    memset(wv, 0, IMAP_SYNC_WATCHES * sizeof(*wv));
    wv[0].folder = folder;
    wv[0].conn = r->conn;
    if (mb->n_folders == 0 && r->sent != NULL &&
        strcasecmp(r->sent, "INBOX") != 0) {
        other[n++] = r->sent;
        want = 1;
    }
    for (i = 0; i < mb->n_folders; i++) {
        if (mb->folders[i] == folder)
            continue;
        want++;
        if (n + 1 < IMAP_SYNC_WATCHES)
            other[n++] = mb->folders[i];
    }
    if (want > n)
        sw_log_info("mailbox.idle_watch_unavailable",
                    "team_id=%s mailbox_id=%s folders=%zu watched=%zu "
                    "reason=\"at most %d sessions per mailbox\" "
                    "action=poll",
                    mb->team_id, mb->mailbox_id, want + 1, n + 1,
                    IMAP_SYNC_WATCHES);
    for (i = 0; i < n; i++)
        imap_watch_open(r, wv, i + 1, other[i]);
    *nw = n + 1;
}

/* imap_watches_close closes every watch but 0 (r's own session). */
static void imap_watches_close(struct imap_run *r, struct imap_watch *wv,
                               size_t nw)
{
    size_t i;

    for (i = 1; i < nw; i++) {
        ingest_imap__conn_set(r, i, NULL);
        ingest_imap_conn_close(&wv[i].conn);
        sw_free(wv[i].own);
        wv[i].own = NULL;
    }
}

/* imap_watch_sync syncs the folder of watch w on its own session. */
static sw_err imap_watch_sync(struct imap_run *r, struct imap_watch *w)
{
    ingest_imap_conn *own = r->conn;
    sw_err rc;

    r->direction = r->sent != NULL && strcmp(w->folder, r->sent) == 0
                       ? INGEST_DIR_OUTBOUND
                       : INGEST_DIR_UNSPECIFIED;
    r->conn = w->conn;
    rc = ingest_imap__folder_sync(r, w->folder);
    r->conn = own;
    return rc;
}

/* imap_idle_wait waits in IDLE on every watch at once until a server
 * sends something (wv[i].ready) or imap_idle_check finds a reason, or
 * until deadline (monotonic ms), in slices of IMAP_SYNC_IDLE_SLICE_MS. */
static sw_err imap_idle_wait(struct imap_run *r, struct imap_watch *wv,
                             size_t nw, int64_t deadline, enum imap_wake *wake)
{
    ingest_imap_conn *cs[IMAP_SYNC_WATCHES];
    size_t at[IMAP_SYNC_WATCHES], n, i;
    int ready[IMAP_SYNC_WATCHES];
    sw_err rc;

    for (;;) {
        int64_t left;
        rc = imap_idle_check(r, wake);
        if (rc || *wake != IMAP_WAKE_NONE)
            return rc;
        left = deadline - sw_mono_ms();
        if (left <= 0) {
            *wake = IMAP_WAKE_DEADLINE;
            return SW_OK;
        }
        for (i = 0, n = 0; i < nw; i++) {
            if (wv[i].conn == NULL)
                continue;
            cs[n] = wv[i].conn;
            at[n++] = i;
        }
        rc = ingest_imap_conn_idle_wait_any(
            cs, n,
            left < IMAP_SYNC_IDLE_SLICE_MS ? left : IMAP_SYNC_IDLE_SLICE_MS,
            ready);
        if (rc) {
            ingest_imap__say(&r->why,
                             "IDLE failed on %s: waiting on the connection",
                             r->mb->host);
            return rc;
        }
        for (i = 0; i < n; i++) {
            wv[at[i]].ready = ready[i];
            if (ready[i])
                *wake = IMAP_WAKE_DATA;
        }
        if (*wake == IMAP_WAKE_DATA) {
            r->woke_us = sw_mono_us();
            return SW_OK;
        }
    }
}

/* imap_idle_once runs one IDLE command on every watch: start, wait, DONE;
 * wv[i].exists tells whether its server reported EXISTS. A watch of its
 * own whose IDLE or DONE fails is dropped (imap_watch_drop). Returns
 * SW_EPROVIDER when r's session did not answer IDLE or DONE correctly
 * (r->why says how; a timeout counts, unless the server had sent
 * something), SW_EIO when that connection is lost (or the server says
 * BYE), other errors as imap_idle_wait. */
static sw_err imap_idle_once(struct imap_run *r, struct imap_watch *wv,
                             size_t nw, int64_t deadline, enum imap_wake *wake)
{
    struct sw_buf why;
    sw_err rc, e, f;
    size_t i;
    int stop;

    for (i = 0; i < nw; i++)
        wv[i].ready = wv[i].exists = 0;
    rc = ingest_imap_conn_idle_start(wv[0].conn, &r->why);
    if (rc) /* even a timeout: the session answered EXAMINE just now */
        return rc == SW_ENOMEM ? rc : SW_EPROVIDER;
    sw_buf_init(&why, IMAP_SYNC_WHY_MAX);
    for (i = 1; i < nw; i++) {
        if (wv[i].conn == NULL)
            continue;
        f = ingest_imap_conn_idle_start(wv[i].conn, &why);
        if (f)
            imap_watch_drop(r, wv, i, "IDLE", f, sw_buf_str(&why));
    }
    rc = imap_idle_wait(r, wv, nw, deadline, wake);
    pthread_mutex_lock(&r->m->mu);
    stop = r->m->stop;
    pthread_mutex_unlock(&r->m->mu);
    if (stop || rc == SW_EIO) { /* stop: the sockets are aborted, no DONE */
        sw_buf_free(&why);
        return stop ? SW_ECANCELLED : rc;
    }
    e = ingest_imap_conn_idle_done(wv[0].conn, &wv[0].exists, &r->why);
    r->done_us = sw_mono_us();
    for (i = 1; i < nw; i++) {
        if (wv[i].conn == NULL)
            continue;
        f = ingest_imap_conn_idle_done(wv[i].conn, &wv[i].exists, &why);
        if (f)
            imap_watch_drop(r, wv, i, "DONE", f, sw_buf_str(&why));
    }
    sw_buf_free(&why);
    if (rc) { /* paused, new credentials, deleted: DONE was a courtesy */
        sw_buf_reset(&r->why);
        return rc;
    }
    if (e == SW_EIO && !wv[0].ready)
        e = SW_EPROVIDER; /* silent, then no answer to DONE */
    return e;
}

/* imap_idle_loop is ingest_imap__idle over the watches wv[0..nw). */
static sw_err imap_idle_loop(struct imap_run *r, struct imap_watch *wv,
                             size_t nw)
{
    ingest_imap_sync *m = r->m;
    int64_t turn_ms = m->o.poll_ms < IMAP_SYNC_IDLE_MAX_MS
                          ? m->o.poll_ms
                          : IMAP_SYNC_IDLE_MAX_MS;
    struct imap_status st;
    enum imap_wake wake = IMAP_WAKE_NONE;
    size_t i;
    sw_err rc;

    memset(&st, 0, sizeof(st));
    st.state = INGEST_IMAP_IDLE;
    st.error = "";
    st.synced = 1;
    st.cred_gen = r->mb->cred_gen;
    for (;;) { /* one poll interval per turn */
        int64_t deadline = sw_mono_ms() + turn_ms;
        /* EXAMINE each folder watched (and catch up on it). */
        for (i = 0; i < nw; i++)
            wv[i].exists = wv[i].conn != NULL;
        do {
            int synced = 0;
            for (i = 0; i < nw; i++) {
                if (wv[i].conn == NULL || !wv[i].exists)
                    continue;
                rc = imap_watch_sync(r, &wv[i]);
                if (rc)
                    return rc;
                synced = 1;
            }
            if (synced && wake == IMAP_WAKE_DATA) /* where the time goes */
                sw_log_debug("mailbox.idle_synced",
                             "team_id=%s mailbox_id=%s done_us=%lld "
                             "sync_us=%lld",
                             r->mb->team_id, r->mb->mailbox_id,
                             (long long)(r->done_us - r->woke_us),
                             (long long)(sw_mono_us() - r->done_us));
            if (synced)
                ingest_imap__status_set(m, r->mb, &st);
            rc = imap_idle_once(r, wv, nw, deadline, &wake);
            if (rc == SW_EPROVIDER) {
                imap_no_idle(r, 1, sw_buf_str(&r->why));
                return SW_OK;
            }
            if (rc)
                return rc;
        } while (wake == IMAP_WAKE_DATA);
        if (wake == IMAP_WAKE_YIELD || wake == IMAP_WAKE_SYNC)
            return SW_OK; /* SyncMailbox: the scheduler syncs it at once,
                             on a new connection */
        rc = ingest_imap__folders_sync(r);
        if (rc)
            return rc;
        ingest_imap__status_set(m, r->mb, &st);
    }
}

/* ingest_imap__idle keeps the mailbox up to date after a sync pass while the
 * server offers IDLE (RFC 2177): it waits in IDLE on the INBOX (or the
 * first folder followed) on the same session, and on each other folder
 * followed (\Sent by default) on a session of its own, up to
 * IMAP_SYNC_WATCHES sessions (imap_watches_open; a folder whose session
 * cannot be had is polled), and syncs a folder as soon as its server
 * reports EXISTS; it leaves IDLE every poll interval for a pass over every
 * folder. It returns SW_OK when the session should end: on SyncMailbox
 * (the scheduler then syncs the mailbox at once, on a new connection),
 * when another mailbox waits for this worker, or when IDLE is not offered
 * or not answered correctly on the mailbox's own session (both logged,
 * and remembered for IMAP_SYNC_NO_IDLE_MS: the mailbox is polled
 * instead). Else the error that ended it: SW_ECANCELLED (stop, pause,
 * new credentials), SW_ENOTFOUND (deleted), or that of a sync or of the
 * connection (lost or timed out: the scheduler backs off). */
sw_err ingest_imap__idle(struct imap_run *r)
{
    struct imap_watch wv[IMAP_SYNC_WATCHES];
    size_t nw = 0;
    int has = 0;
    sw_err rc;

    if (!imap_may_idle(r))
        return SW_OK;
    rc = ingest_imap_conn_has_idle(r->conn, &has, &r->why);
    if (rc)
        return rc;
    if (!has) {
        imap_no_idle(r, 0, "the server does not offer IDLE");
        return SW_OK;
    }
    imap_watches_open(r, imap_idle_folder(r->mb), wv, &nw);
    rc = imap_idle_loop(r, wv, nw);
    imap_watches_close(r, wv, nw);
    return rc;
}
