/* ingest/imap_sync: the mailbox sync engine: the scheduler shared by a
 * small pool of threads, and the sync of one mailbox, folder by folder and
 * batch by batch, one batch committing while the next is fetched and
 * parsed (see imap_sync.h for the contract; new mail by IDLE between
 * polls is imap_idle.c). */
#include "ingest/imap_sync.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ingest/imap_conn.h"
#include "ingest/imap_sync_int.h"
#include "ingest/mail.h"
#include "store/store_mailbox.h"

void ingest_imap__say(struct sw_buf *why, const char *fmt, ...)
{
    va_list ap;
    sw_err rc;

    va_start(ap, fmt);
    rc = sw_buf_vprintf(why, fmt, ap);
    va_end(ap);
    (void)rc;
}

/* --- Status written back to the record -------------------------------- */

static sw_err imap_status_edit(struct store_mailbox *m, void *arg)
{
    const struct imap_status *s = arg;
    char *err = sw_strdup(s->error ? s->error : "");

    if (err == NULL)
        return SW_ENOMEM;
    sw_free(m->last_error);
    m->last_error = err;
    m->state = s->state;
    if (s->synced)
        m->last_sync_ms = sw_now_ms();
    if (s->auth_failed) {
        if (m->cred_gen == s->cred_gen)
            m->auth_failed_gen = s->cred_gen;
        else /* new credentials arrived meanwhile: try them */
            m->state = INGEST_IMAP_BACKING_OFF;
    }
    if (m->paused)
        m->state = INGEST_IMAP_PAUSED; /* Pause wins over a sync's result */
    return SW_OK;
}

void ingest_imap__status_set(ingest_imap_sync *m,
                             const struct store_mailbox *mb,
                             const struct imap_status *s)
{
    sw_err rc = store_mailbox_update(m->st, mb->team_id, mb->mailbox_id,
                                     imap_status_edit, (void *)s, NULL);

    if (rc && rc != SW_ENOTFOUND)
        sw_log_warn("mailbox.status_not_saved",
                    "team_id=%s mailbox_id=%s err=%s", mb->team_id,
                    mb->mailbox_id, sw_err_name(rc));
}

/* --- One folder -------------------------------------------------------- */

/* imap_reject_why returns "UID uid: reason" (sw_free; NULL without
 * memory: the rejection then only loses its words) for last_rejected. */
static char *imap_reject_why(uint32_t uid, const char *reason)
{
    struct sw_buf b;
    char *out = NULL;

    sw_buf_init(&b, IMAP_SYNC_WHY_MAX);
    if (sw_buf_printf(&b, "UID %u: %s", uid,
                      reason && reason[0] ? reason : "refused by ingest") ==
        SW_OK)
        out = sw_strdup(sw_buf_str(&b));
    sw_buf_free(&b);
    return out;
}

/* imap_cur_rejected counts n rejections in the mirrored cursor and takes
 * why (may be NULL) as its last_rejected. */
static void imap_cur_rejected(struct imap_run *r, int64_t n, char *why)
{
    r->cur.rejected += n;
    if (why == NULL)
        return;
    sw_free(r->cur.last_rejected);
    r->cur.last_rejected = why;
}

/* imap_backlog returns how many UIDs of this pass are above uid. */
static int64_t imap_backlog(const struct imap_run *r, uint32_t uid)
{
    size_t lo = 0, hi = r->nuids, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (r->uids[mid] <= uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int64_t)(r->nuids - lo);
}

/* imap_run_check returns SW_ECANCELLED when the engine stops or the
 * mailbox was paused or given new credentials, SW_ENOTFOUND when it was
 * deleted (the record is re-read between batches), else SW_OK. */
static sw_err imap_run_check(struct imap_run *r)
{
    struct store_mailbox now;
    int stop;
    sw_err rc;

    pthread_mutex_lock(&r->m->mu);
    stop = r->m->stop;
    pthread_mutex_unlock(&r->m->mu);
    if (stop)
        return SW_ECANCELLED;
    memset(&now, 0, sizeof(now));
    rc = store_mailbox_get(r->m->st, r->mb->team_id, r->mb->mailbox_id, &now);
    if (rc)
        return rc; /* SW_ENOTFOUND: deleted */
    if (now.paused || now.cred_gen != r->mb->cred_gen)
        rc = SW_ECANCELLED;
    store_mailbox_clear(&now);
    return rc;
}

/* The cursor advance one message carries into its own commit. */
struct imap_adv {
    struct ingest_txn_hook hook;
    struct store_mailbox_advance a;
    char *why; /* a.rejected_why, owned */
    int moved; /* by the committer; read after ingest_email_end */
};

/* imap_adv_txn runs in the message's write transaction (ingest_txn_hook):
 * the folder's cursor moves to its UID there, or not at all. */
static sw_err imap_adv_txn(store_txn *t, const struct ingest_result *res,
                           void *arg)
{
    struct imap_adv *v = arg;
    struct store_mailbox_advance a = v->a;

    a.ingested = res->status == INGEST_NEW;
    return store_mailbox_folder_advance_txn(t, &a, &v->moved);
}

static int imap_malformed(sw_err rc)
{
    return rc == SW_EPARSE || rc == SW_ETOOBIG || rc == SW_EINVAL;
}

/* A fetched batch whose messages are begun (parsed and queued for the
 * committer) and not yet ended. The tickets borrow the messages' bytes
 * until they are ended, so a batch kept past its fetch callback owns a
 * copy of them (one block); one ended within the callback borrows
 * libetpan's. */
struct imap_flight {
    struct ingest_imap_msg *msgs; /* n, in UID order */
    char *bytes;                  /* the copy msgs point into, or NULL */
    ingest_ticket **t;            /* NULL: malformed, or not begun */
    struct imap_adv *adv;
    size_t n;
};

/* imap_flight_free frees fl, whose tickets are ended (or none begun). */
static void imap_flight_free(struct imap_flight **flp)
{
    struct imap_flight *fl = *flp;
    size_t i;

    if (fl == NULL)
        return;
    for (i = 0; fl->adv != NULL && i < fl->n; i++)
        sw_free(fl->adv[i].why);
    sw_free(fl->bytes);
    sw_free(fl->msgs);
    sw_free(fl->t);
    sw_free(fl->adv);
    sw_free(fl);
    *flp = NULL;
}

/* imap_flight_new prepares msgs[0..n) for imap_flight_begin, copying
 * their bytes when copy is set. */
static sw_err imap_flight_new(const struct ingest_imap_msg *msgs, size_t n,
                              int copy, struct imap_flight **out)
{
    struct imap_flight *fl = sw_calloc(1, sizeof(*fl));
    size_t i, bytes = 0;

    if (fl == NULL)
        return SW_ENOMEM;
    fl->n = n;
    fl->msgs = sw_calloc(n, sizeof(*fl->msgs));
    fl->t = sw_calloc(n, sizeof(*fl->t));
    fl->adv = sw_calloc(n, sizeof(*fl->adv));
    for (i = 0; i < n; i++)
        bytes += msgs[i].len;
    if (copy)
        fl->bytes = sw_malloc(bytes ? bytes : 1);
    if (fl->msgs == NULL || fl->t == NULL || fl->adv == NULL ||
        (copy && fl->bytes == NULL)) {
        imap_flight_free(&fl);
        return SW_ENOMEM;
    }
    for (i = 0, bytes = 0; i < n; i++) {
        fl->msgs[i] = msgs[i];
        if (!copy)
            continue;
        memcpy(fl->bytes + bytes, msgs[i].data, msgs[i].len);
        fl->msgs[i].data = fl->bytes + bytes;
        bytes += msgs[i].len;
    }
    *out = fl;
    return SW_OK;
}

/* imap_begin parses and queues one message with the cursor advance from
 * r->chain_uid to its UID, counting the r->skipped malformed messages
 * before it as seen and rejected (taking r->skip_why, the latest one's
 * reason). */
static sw_err imap_begin(struct imap_run *r, const struct ingest_imap_msg *msg,
                         struct imap_adv *adv, ingest_ticket **t,
                         struct sw_buf *why)
{
    struct ingest_request req;
    sw_err rc;

    memset(&req, 0, sizeof(req));
    adv->hook.fn = imap_adv_txn;
    adv->hook.arg = adv;
    adv->a.team_id = r->mb->team_id;
    adv->a.mailbox_id = r->mb->mailbox_id;
    adv->a.folder = r->cur.name;
    adv->a.uid_validity = r->cur.uid_validity;
    adv->a.from_uid = r->chain_uid;
    adv->a.to_uid = msg->uid;
    adv->a.seen = 1 + r->skipped;
    adv->a.rejected = r->skipped;
    adv->a.backlog = imap_backlog(r, msg->uid);
    adv->why = r->skip_why;
    adv->a.rejected_why = adv->why;
    r->skip_why = NULL;
    req.raw = msg->data;
    req.raw_len = msg->len;
    req.direction = r->direction;
    req.hook = &adv->hook;
    rc = ingest_email_begin(r->m->p, r->mb->team_id, &req, t, why);
    if (imap_malformed(rc))
        sw_log_warn("mailbox.message_rejected",
                    "team_id=%s mailbox_id=%s folder=\"%s\" uid=%u err=%s "
                    "reason=\"%s\"",
                    r->mb->team_id, r->mb->mailbox_id, r->cur.name, msg->uid,
                    sw_err_name(rc), sw_buf_str(why));
    return rc;
}

/* imap_flight_begin begins every message of fl in UID order, each
 * chaining from the one before (across batches). A malformed message
 * (logged with its reason: retrying would not help) is counted by the
 * next message's advance, or by imap_settle when none follows. Stops at
 * the first other failure: that message and the rest are not queued, so
 * the cursor stops before them. */
static sw_err imap_flight_begin(struct imap_run *r, struct imap_flight *fl)
{
    struct sw_buf why;
    size_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&why, IMAP_SYNC_WHY_MAX);
    for (i = 0; i < fl->n; i++) {
        const struct ingest_imap_msg *msg = &fl->msgs[i];
        rc = imap_begin(r, msg, &fl->adv[i], &fl->t[i], &why);
        if (rc == SW_OK) {
            r->chain_uid = msg->uid;
            r->skipped = 0;
        } else if (imap_malformed(rc)) {
            r->skipped++;
            r->skip_uid = msg->uid;
            sw_free(r->skip_why);
            r->skip_why = imap_reject_why(msg->uid, sw_buf_str(&why));
            rc = SW_OK;
        } else { /* the skipped reason goes back to the next advance */
            r->skip_why = fl->adv[i].why;
            fl->adv[i].why = NULL;
            break;
        }
    }
    sw_buf_free(&why);
    return rc;
}

/* imap_end waits for the begun messages of fl in UID order and mirrors in
 * r->cur what their transactions did to the stored cursor. The first
 * failure (of this batch or an earlier one) goes to r->broken: the stored
 * cursor stopped before it, and no later message moves it. A message the
 * commit itself refused as malformed is stepped over (saved by
 * imap_settle: the later ones, already committed, are fetched again and
 * dedupe). */
static void imap_end(struct imap_run *r, struct imap_flight *fl)
{
    sw_err e;
    size_t i;

    for (i = 0; i < fl->n; i++) {
        struct imap_adv *v = &fl->adv[i];
        struct ingest_result res;
        if (fl->t[i] == NULL)
            continue; /* malformed or not begun */
        memset(&res, 0, sizeof(res));
        e = ingest_email_end(&fl->t[i], &res, NULL, NULL);
        if (r->broken == SW_OK && e == SW_OK && v->moved) {
            r->cur.last_uid = v->a.to_uid;
            r->cur.seen += v->a.seen;
            r->cur.ingested += res.status == INGEST_NEW;
            imap_cur_rejected(r, v->a.rejected, v->why);
            v->why = NULL;
        } else if (r->broken == SW_OK && imap_malformed(e)) {
            sw_log_warn("mailbox.message_rejected",
                        "team_id=%s mailbox_id=%s folder=\"%s\" uid=%u "
                        "err=%s",
                        r->mb->team_id, r->mb->mailbox_id, r->cur.name,
                        fl->msgs[i].uid, sw_err_name(e));
            r->cur.last_uid = v->a.to_uid;
            r->cur.seen += v->a.seen;
            imap_cur_rejected(r, v->a.rejected + 1,
                              imap_reject_why(fl->msgs[i].uid, sw_err_str(e)));
            r->broken = SW_ECANCELLED; /* the next sync resumes after it */
        } else if (r->broken == SW_OK) {
            /* A failed commit, or a cursor that did not move although the
             * commit succeeded (the mailbox was deleted meanwhile). */
            r->broken = e ? e : SW_ECANCELLED;
        }
        ingest_result_clear(&res);
    }
}

/* imap_land ends the batch in flight, if any. */
static void imap_land(struct imap_run *r)
{
    if (r->fl == NULL)
        return;
    imap_end(r, r->fl);
    imap_flight_free(&r->fl);
}

/* imap_batch (the fetch callback) begins the batch just fetched, then
 * ends the one before it, whose commits ran while this one was parsed,
 * and keeps this one in flight: the next UID FETCH goes out while it
 * commits. So at most two batches are held: the one in flight (a copy,
 * at most IMAP_SYNC_BATCH_BYTES) and the one being parsed. A batch over
 * that (one large message), and one after a failure, is ended at once. */
static sw_err imap_batch(const struct ingest_imap_msg *msgs, size_t n,
                         void *arg)
{
    struct imap_run *r = arg;
    struct imap_flight *fl = NULL;
    size_t i, bytes = 0;
    int64_t t0, t1;
    sw_err rc;

    if (n == 0)
        return SW_OK;
    for (i = 0; i < n; i++)
        bytes += msgs[i].len;
    t0 = sw_mono_us();
    rc = imap_flight_new(msgs, n, bytes <= IMAP_SYNC_BATCH_BYTES, &fl);
    if (rc)
        return rc; /* the batch in flight is ended by imap_settle */
    rc = imap_flight_begin(r, fl);
    t1 = sw_mono_us();
    imap_land(r);
    r->begin_us += t1 - t0;
    r->land_us += sw_mono_us() - t1;
    r->fl = fl;
    if (r->broken == SW_OK && rc == SW_OK && fl->bytes != NULL)
        return SW_OK;
    imap_land(r);
    return r->broken ? r->broken : rc;
}

/* imap_too_big steps over a message whose RFC822.SIZE is over the limit,
 * without fetching it: it is counted as seen and rejected, and logged. The
 * caller saves the cursor. */
static void imap_too_big(struct imap_run *r, uint32_t uid, uint32_t size)
{
    struct sw_buf b;

    sw_buf_init(&b, IMAP_SYNC_WHY_MAX);
    ingest_imap__say(&b,
                     "%u bytes (RFC822.SIZE), over the limit of %zu bytes; not "
                     "fetched",
                     size, r->m->o.max_message_bytes);
    sw_log_warn("mailbox.message_rejected",
                "team_id=%s mailbox_id=%s folder=\"%s\" uid=%u err=%s "
                "reason=\"%s\"",
                r->mb->team_id, r->mb->mailbox_id, r->cur.name, uid,
                sw_err_name(SW_ETOOBIG), sw_buf_str(&b));
    if (uid > r->cur.last_uid)
        r->cur.last_uid = uid;
    r->cur.seen++;
    imap_cur_rejected(r, 1, imap_reject_why(uid, sw_buf_str(&b)));
    sw_buf_free(&b);
}

/* imap_batch_len returns how many of the next n messages (sizes, the
 * first within the limit) one UID FETCH takes: at most batch, up to
 * IMAP_SYNC_BATCH_BYTES together (but at least one), and none over the
 * limit, which imap_too_big steps over on its own. */
static size_t imap_batch_len(const ingest_imap_sync *m, const uint32_t *sizes,
                             size_t n, size_t batch)
{
    size_t k = 1, bytes = sizes[0];

    while (k < n && k < batch && sizes[k] <= m->o.max_message_bytes &&
           bytes + sizes[k] <= IMAP_SYNC_BATCH_BYTES) {
        bytes += sizes[k];
        k++;
    }
    return k;
}

/* imap_folder_cursor loads the folder's cursor into r->cur (a new one when
 * the folder was never synced). */
static sw_err imap_folder_cursor(struct imap_run *r, const char *folder)
{
    struct store_mailbox_folder *f = NULL;
    size_t n = 0, i;
    sw_err rc;

    memset(&r->cur, 0, sizeof(r->cur));
    rc = store_mailbox_folders(r->m->st, r->mb->team_id, r->mb->mailbox_id, &f,
                               &n);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        if (strcmp(f[i].name, folder) == 0) {
            r->cur = f[i];
            f[i].name = NULL;
            f[i].last_rejected = NULL;
            break;
        }
    }
    store_mailbox_folders_free(f, n);
    if (r->cur.name == NULL)
        r->cur.name = sw_strdup(folder);
    return r->cur.name ? SW_OK : SW_ENOMEM;
}

/* imap_folder_save rewrites the whole folder record from r->cur, so it is
 * only called with no batch in flight (imap_settle): the advances of a
 * batch committing meanwhile would be written back. */
static sw_err imap_folder_save(struct imap_run *r)
{
    return store_mailbox_folder_put(r->m->st, r->mb->team_id, r->mb->mailbox_id,
                                    &r->cur);
}

/* imap_settle ends the batch in flight and saves the cursor, after rc
 * stopped the fetches or before a step the cursor must be saved for.
 * When nothing failed, the malformed messages after the last one begun
 * are stepped over, and so is every UID up to upto (0: none) that the
 * server did not send (expunged since the UID list). Returns the first
 * failure in UID order, else rc, else the save's. */
static sw_err imap_settle(struct imap_run *r, sw_err rc, uint32_t upto)
{
    sw_err e;

    imap_land(r);
    if (r->broken == SW_OK && r->skipped > 0) {
        r->cur.last_uid = r->skip_uid;
        r->cur.seen += r->skipped;
        imap_cur_rejected(r, r->skipped, r->skip_why);
        r->skip_why = NULL;
    }
    if (r->broken == SW_OK && rc == SW_OK && upto > r->cur.last_uid)
        r->cur.last_uid = upto;
    if (r->broken)
        rc = r->broken;
    r->broken = SW_OK;
    r->skipped = 0;
    sw_free(r->skip_why);
    r->skip_why = NULL;
    r->cur.backlog = imap_backlog(r, r->cur.last_uid);
    e = imap_folder_save(r); /* after a failure: keep what committed */
    r->chain_uid = r->cur.last_uid;
    return rc ? rc : e;
}

/* imap_folder_fetch fetches and ingests uids[0..n) (sizes from
 * ingest_imap_conn_sizes) batch by batch, one batch in flight. */
static sw_err imap_folder_fetch(struct imap_run *r, const uint32_t *uids,
                                const uint32_t *sizes, size_t n)
{
    size_t i, k, batch = (size_t)r->m->o.batch;
    int64_t t;
    sw_err rc = SW_OK;

    if (n == 0)
        return SW_OK; /* the caller saved the cursor: nothing to settle */
    r->uids = uids;
    r->nuids = n;
    r->chain_uid = r->cur.last_uid;
    for (i = 0; rc == SW_OK && i < n; i += k) {
        if (sizes[i] > r->m->o.max_message_bytes) {
            k = 1;
            rc = imap_settle(r, SW_OK, i > 0 ? uids[i - 1] : 0);
            if (rc)
                break;
            imap_too_big(r, uids[i], sizes[i]);
            r->cur.backlog = (int64_t)(n - i - 1);
            rc = imap_folder_save(r);
            r->chain_uid = r->cur.last_uid;
            continue;
        }
        k = imap_batch_len(r->m, sizes + i, n - i, batch);
        rc = imap_run_check(r);
        t = sw_mono_us();
        if (rc == SW_OK)
            rc = ingest_imap_conn_fetch(r->conn, uids + i, k, imap_batch, r,
                                        &r->why);
        r->fetch_us += sw_mono_us() - t;
    }
    t = sw_mono_us();
    rc = imap_settle(r, rc, rc == SW_OK ? uids[n - 1] : 0);
    r->settle_us += sw_mono_us() - t;
    r->uids = NULL;
    r->nuids = 0;
    return rc;
}

/* ingest_imap__folder_sync brings one folder up to date. */
sw_err ingest_imap__folder_sync(struct imap_run *r, const char *folder)
{
    uint32_t uidvalidity = 0, uidnext = 0, exists = 0, *uids = NULL;
    uint32_t *sizes = NULL;
    size_t n = 0;
    int64_t t0 = sw_mono_us(), listed_us = 0;
    sw_err rc;

    r->fetch_us = r->begin_us = r->land_us = r->settle_us = 0;
    rc = imap_folder_cursor(r, folder);
    if (rc == SW_OK)
        rc = ingest_imap_conn_examine(r->conn, folder, &uidvalidity, &uidnext,
                                      &exists, &r->why);
    if (rc)
        goto out;
    if (r->cur.uid_validity != uidvalidity) {
        if (r->cur.uid_validity != 0)
            sw_log_info("mailbox.uidvalidity_changed",
                        "team_id=%s mailbox_id=%s folder=\"%s\" old=%u new=%u "
                        "action=rescan",
                        r->mb->team_id, r->mb->mailbox_id, folder,
                        r->cur.uid_validity, uidvalidity);
        r->cur.uid_validity = uidvalidity;
        r->cur.last_uid = 0;
    }
    if (exists > 0 && r->cur.last_uid == 0 && r->mb->backfill_days > 0)
        /* The first pass (or a rescan) is bounded to the backfill window;
         * later passes take every UID above the cursor. */
        rc = ingest_imap_conn_uids_since(
            r->conn, sw_now_ms() / 1000 - (int64_t)r->mb->backfill_days * 86400,
            &uids, &n, &r->why);
    else if (exists > 0 && (uidnext == 0 || uidnext > r->cur.last_uid + 1))
        rc =
            ingest_imap_conn_uids(r->conn, r->cur.last_uid, &uids, &n, &r->why);
    if (rc)
        goto out;
    /* The sizes first, without the bodies: batches are cut by bytes as
     * well as by count, and mail over the limit is never fetched. */
    if (n > 0) {
        sizes = sw_calloc(n, sizeof(*sizes));
        rc = sizes ? ingest_imap_conn_sizes(r->conn, uids, n, sizes, &r->why)
                   : SW_ENOMEM;
        if (rc)
            goto out;
    }
    r->cur.backlog = (int64_t)n;
    rc = imap_folder_save(r);
    listed_us = sw_mono_us() - t0;
    if (rc == SW_OK)
        rc = imap_folder_fetch(r, uids, sizes, n);
    if (rc == SW_OK)
        sw_log_info("mailbox.folder_synced",
                    "team_id=%s mailbox_id=%s folder=\"%s\" uidvalidity=%u "
                    "last_uid=%u fetched=%zu seen=%lld ingested=%lld "
                    "list_ms=%lld fetch_ms=%lld begin_ms=%lld land_ms=%lld "
                    "settle_ms=%lld",
                    r->mb->team_id, r->mb->mailbox_id, folder, uidvalidity,
                    r->cur.last_uid, n, (long long)r->cur.seen,
                    (long long)r->cur.ingested, (long long)listed_us / 1000,
                    (long long)r->fetch_us / 1000,
                    (long long)r->begin_us / 1000, (long long)r->land_us / 1000,
                    (long long)r->settle_us / 1000);
out:
    sw_free(uids);
    sw_free(sizes);
    sw_free(r->cur.name);
    sw_free(r->cur.last_rejected);
    memset(&r->cur, 0, sizeof(r->cur));
    return rc;
}

/* ingest_imap__folders_sync finds the \Sent folder and syncs the folders asked
 * for, or INBOX and \Sent. */
sw_err ingest_imap__folders_sync(struct imap_run *r)
{
    const struct store_mailbox *mb = r->mb;
    const char *sent;
    size_t i;
    sw_err rc;

    sw_free(r->sent);
    r->sent = NULL;
    rc = ingest_imap_conn_sent(r->conn, &r->sent, &r->why);
    if (rc)
        return rc;
    sent = r->sent;
    if (mb->n_folders == 0) {
        r->direction = INGEST_DIR_UNSPECIFIED;
        rc = ingest_imap__folder_sync(r, "INBOX");
        if (rc == SW_OK && sent != NULL) {
            r->direction = INGEST_DIR_OUTBOUND;
            rc = ingest_imap__folder_sync(r, sent);
        }
    }
    for (i = 0; rc == SW_OK && i < mb->n_folders; i++) {
        int is_sent = sent != NULL && strcmp(mb->folders[i], sent) == 0;
        r->direction = is_sent ? INGEST_DIR_OUTBOUND : INGEST_DIR_UNSPECIFIED;
        rc = ingest_imap__folder_sync(r, mb->folders[i]);
    }
    return rc;
}

/* --- One mailbox ------------------------------------------------------- */

/* imap_mailbox_sync runs one sync of mb and returns its outcome: SW_OK,
 * SW_EPERM (credentials refused), or another error (back off). The
 * record's state and last_error are written on the way. */
static sw_err imap_mailbox_sync(ingest_imap_sync *m, struct imap_worker *w,
                                const struct store_mailbox *mb)
{
    struct imap_run r;
    struct imap_status st;
    ingest_imap_conn *conn = NULL;
    char *secret = NULL;
    sw_err rc;

    memset(&r, 0, sizeof(r));
    memset(&st, 0, sizeof(st));
    r.m = m;
    r.w = w;
    r.mb = mb;
    r.sync_req = mb->sync_req;
    sw_buf_init(&r.why, IMAP_SYNC_WHY_MAX);
    st.state = INGEST_IMAP_SYNCING;
    st.error = mb->last_error;
    ingest_imap__status_set(m, mb, &st);
    rc = ingest_imap_unseal(m->key, mb->secret_box, mb->secret_len, &secret);
    if (rc) {
        ingest_imap__say(&r.why, "%s",
                         "the stored secret cannot be opened with "
                         "DATA_DIR/mailbox.key; set the "
                         "credentials again");
        goto out;
    }
    rc = ingest_imap_conn_open(mb->host, (uint16_t)mb->port, mb->tls_mode,
                               mb->allow_plaintext, mb->tls_ca_pem,
                               m->o.timeout_s, &conn, &r.why);
    if (rc)
        goto out;
    ingest_imap__conn_set(&r, 0, conn);
    r.conn = conn;
    rc = ingest_imap_conn_login(conn, mb->username, mb->auth_kind, secret,
                                &r.why);
    ingest_imap_secret_free(&secret);
    if (rc)
        goto out;
    st.state = INGEST_IMAP_CONNECTED;
    ingest_imap__status_set(m, mb, &st);
    rc = ingest_imap__folders_sync(&r);
    if (rc == SW_OK)
        rc = ingest_imap__idle(&r);
out:
    sw_free(r.sent);
    ingest_imap_secret_free(&secret);
    ingest_imap__conn_set(&r, 0, NULL);
    ingest_imap_conn_close(&conn);
    pthread_mutex_lock(&m->mu);
    if (m->stop && rc != SW_OK)
        rc = SW_ECANCELLED; /* our own abort at shutdown, not the server's */
    pthread_mutex_unlock(&m->mu);
    memset(&st, 0, sizeof(st));
    st.cred_gen = mb->cred_gen;
    if (rc == SW_OK || rc == SW_ECANCELLED) {
        st.state = INGEST_IMAP_IDLE;
        st.error = "";
        st.synced = rc == SW_OK;
    } else {
        if (sw_buf_len(&r.why) == 0)
            ingest_imap__say(&r.why, "sync of %s failed: %s", mb->host,
                             sw_err_str(rc));
        st.state =
            rc == SW_EPERM ? INGEST_IMAP_AUTH_FAILED : INGEST_IMAP_BACKING_OFF;
        st.auth_failed = rc == SW_EPERM;
        st.error = sw_buf_str(&r.why);
        sw_log_warn("mailbox.sync_failed",
                    "team_id=%s mailbox_id=%s err=%s reason=\"%s\"",
                    mb->team_id, mb->mailbox_id, sw_err_name(rc),
                    sw_buf_str(&r.why));
    }
    if (rc != SW_ENOTFOUND || sw_buf_len(&r.why) > 0)
        ingest_imap__status_set(m, mb, &st);
    sw_buf_free(&r.why);
    return rc;
}

/* --- The scheduler ------------------------------------------------------ */

static struct imap_entry *imap_entry_find(ingest_imap_sync *m,
                                          const struct store_mailbox *mb)
{
    struct imap_entry *e = ingest_imap__entry_of(m, mb);

    if (e != NULL)
        return e;
    if (m->ne == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        struct imap_entry *ne = sw_realloc(m->e, ncap * sizeof(*ne));
        if (ne == NULL)
            return NULL;
        m->e = ne;
        m->cap = ncap;
    }
    memset(&m->e[m->ne], 0, sizeof(m->e[m->ne]));
    m->e[m->ne].team_id = sw_strdup(mb->team_id);
    m->e[m->ne].mailbox_id = sw_strdup(mb->mailbox_id);
    if (m->e[m->ne].team_id == NULL || m->e[m->ne].mailbox_id == NULL) {
        sw_free(m->e[m->ne].team_id);
        sw_free(m->e[m->ne].mailbox_id);
        return NULL;
    }
    m->e[m->ne].due_ms = sw_mono_ms(); /* new (or after a restart): now */
    m->e[m->ne].done_req = mb->sync_req;
    return &m->e[m->ne++];
}

/* ingest_imap__refresh re-reads every mailbox (under m->mu) and drops the
 * entries of deleted ones. */
void ingest_imap__refresh(ingest_imap_sync *m)
{
    struct store_mailbox *all = NULL;
    size_t n = 0, i, k;
    sw_err rc;

    rc = store_mailbox_list_all(m->st, IMAP_SYNC_MAX_MAILBOXES, &all, &n);
    if (rc) {
        sw_log_warn("mailbox.refresh_failed", "err=%s", sw_err_name(rc));
        return;
    }
    for (i = 0; i < m->ne; i++)
        m->e[i].present = 0;
    for (i = 0; i < n; i++) {
        struct imap_entry *e = imap_entry_find(m, &all[i]);
        if (e == NULL)
            continue; /* out of memory: tried again at the next refresh */
        e->present = 1;
        e->eligible =
            !all[i].paused && all[i].auth_failed_gen != all[i].cred_gen;
        e->sync_req = all[i].sync_req;
    }
    for (i = 0, k = 0; i < m->ne; i++) {
        if (m->e[i].present || m->e[i].busy) {
            m->e[k++] = m->e[i];
            continue;
        }
        sw_free(m->e[i].team_id);
        sw_free(m->e[i].mailbox_id);
    }
    m->ne = k;
    m->refreshed_ms = sw_mono_ms();
    store_mailboxes_free(all, n);
}

/* ingest_imap__pick returns the index of a due mailbox, or -1 and the wait
 * until the next one in *wait_ms. Under m->mu. */
long ingest_imap__pick(ingest_imap_sync *m, int64_t now, int64_t *wait_ms)
{
    size_t i;

    *wait_ms = IMAP_SYNC_REFRESH_MS;
    for (i = 0; i < m->ne; i++) {
        struct imap_entry *e = &m->e[i];
        if (!e->present || e->busy || !e->eligible)
            continue;
        if (e->sync_req != e->done_req || e->due_ms <= now)
            return (long)i;
        if (e->due_ms - now < *wait_ms)
            *wait_ms = e->due_ms - now;
    }
    return -1;
}

/* imap_jitter returns a value in [x/2, x]: retries of many mailboxes after
 * one outage spread out instead of arriving together. */
static int64_t imap_jitter(ingest_imap_sync *m, int64_t x)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return x / 2 + (int64_t)(m->rng % (uint64_t)(x / 2 + 1));
}

/* imap_done updates the schedule of mailbox mb after its sync ended with
 * rc (under m->mu): the poll interval after a success, a refusal or a
 * stop; exponential backoff with jitter after other errors. Entries may
 * have moved during the sync: it is found again by id. */
static void imap_done(ingest_imap_sync *m, const struct store_mailbox *mb,
                      sw_err rc)
{
    struct imap_entry *e = ingest_imap__entry_of(m, mb);
    int64_t now = sw_mono_ms();

    if (e == NULL)
        return;
    e->busy = 0;
    if (rc == SW_OK || rc == SW_ECANCELLED || rc == SW_EPERM ||
        rc == SW_ENOTFOUND) {
        e->backoff_ms = 0;
        e->due_ms = now + m->o.poll_ms;
        return;
    }
    e->backoff_ms =
        e->backoff_ms ? e->backoff_ms * 2 : IMAP_SYNC_BACKOFF_MIN_MS;
    if (e->backoff_ms > m->o.backoff_max_ms)
        e->backoff_ms = m->o.backoff_max_ms;
    e->due_ms = now + imap_jitter(m, e->backoff_ms);
}

/* imap_take copies the record of a picked entry for the sync (outside the
 * lock). SW_ENOTFOUND when it vanished or is no longer eligible. */
static sw_err imap_take(ingest_imap_sync *m, const char *team, const char *id,
                        struct store_mailbox *mb)
{
    sw_err rc = store_mailbox_get(m->st, team, id, mb);

    if (rc)
        return rc;
    sw_free(mb->team_id);
    mb->team_id = sw_strdup(team);
    if (mb->team_id == NULL) {
        store_mailbox_clear(mb);
        return SW_ENOMEM;
    }
    if (mb->paused || mb->auth_failed_gen == mb->cred_gen) {
        store_mailbox_clear(mb);
        return SW_ENOTFOUND;
    }
    return SW_OK;
}

static void *imap_thread(void *arg)
{
    struct imap_worker *w = arg;
    ingest_imap_sync *m = w->m;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        int64_t now = sw_mono_ms(), wait_ms;
        struct store_mailbox mb;
        struct timespec ts;
        char *team, *id;
        long i;
        sw_err rc;

        if (m->wake || now - m->refreshed_ms >= IMAP_SYNC_REFRESH_MS) {
            m->wake = 0;
            ingest_imap__refresh(m);
        }
        i = ingest_imap__pick(m, now, &wait_ms);
        if (i < 0) {
            sw_timespec_in(CLOCK_REALTIME, wait_ms, &ts);
            (void)pthread_cond_timedwait(&m->cv, &m->mu, &ts);
            continue;
        }
        m->e[i].busy = 1;
        m->e[i].done_req = m->e[i].sync_req;
        m->nbusy++;
        team = sw_strdup(m->e[i].team_id);
        id = sw_strdup(m->e[i].mailbox_id);
        pthread_mutex_unlock(&m->mu);
        memset(&mb, 0, sizeof(mb));
        rc = team && id ? imap_take(m, team, id, &mb) : SW_ENOMEM;
        if (rc == SW_OK)
            rc = imap_mailbox_sync(m, w, &mb);
        pthread_mutex_lock(&m->mu);
        if (mb.mailbox_id == NULL) { /* not taken: match by the ids */
            mb.team_id = team;
            mb.mailbox_id = id;
            team = id = NULL;
        }
        imap_done(m, &mb, rc);
        m->nbusy--;
        store_mailbox_clear(&mb);
        sw_free(team);
        sw_free(id);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* --- Open, start, close ------------------------------------------------- */

sw_err ingest_imap_sync_open(store *s, ingest_pipeline *p,
                             const struct ingest_imap_sync_opts *o,
                             ingest_imap_sync **out)
{
    struct ingest_limits lim;
    ingest_imap_sync *m;
    sw_err rc;

    if (s == NULL || p == NULL || o == NULL || o->data_dir == NULL ||
        out == NULL)
        return SW_EINVAL;
    m = sw_calloc(1, sizeof(*m));
    if (m == NULL)
        return SW_ENOMEM;
    m->st = s;
    m->p = p;
    m->o = *o;
    if (m->o.poll_ms <= 0)
        m->o.poll_ms = 60000;
    if (m->o.timeout_s <= 0)
        m->o.timeout_s = 60;
    if (m->o.threads <= 0)
        m->o.threads = 2;
    if (m->o.batch <= 0)
        m->o.batch = 500;
    if (m->o.backoff_max_ms <= 0)
        m->o.backoff_max_ms = 300000;
    ingest_limits_default(&lim); /* the pipeline's cap on raw MIME */
    if (m->o.max_message_bytes == 0 ||
        m->o.max_message_bytes > lim.max_message_bytes)
        m->o.max_message_bytes = lim.max_message_bytes;
    m->rng = (uint64_t)sw_mono_us() | 1u;
    rc = ingest_imap_key_load(o->data_dir, &m->key);
    if (rc) {
        sw_free(m);
        return rc;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    *out = m;
    return SW_OK;
}

const ingest_imap_key *ingest_imap_sync_key(ingest_imap_sync *m)
{
    return m ? m->key : NULL;
}

void ingest_imap_sync_wake(ingest_imap_sync *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->wake = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void imap_stop_threads(ingest_imap_sync *m)
{
    int i, k;

    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    for (i = 0; i < m->nstarted; i++)
        for (k = 0; k < IMAP_SYNC_WATCHES; k++)
            ingest_imap_conn_abort(m->w[i].conn[k]);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    for (i = 0; i < m->nstarted; i++)
        pthread_join(m->w[i].th, NULL);
    m->nstarted = 0;
}

sw_err ingest_imap_sync_start(ingest_imap_sync *m)
{
    int i;

    if (m == NULL)
        return SW_EINVAL;
    if (m->w != NULL)
        return SW_ESTATE;
    m->w = sw_calloc((size_t)m->o.threads, sizeof(*m->w));
    if (m->w == NULL)
        return SW_ENOMEM;
    for (i = 0; i < m->o.threads; i++) {
        m->w[i].m = m;
        if (pthread_create(&m->w[i].th, NULL, imap_thread, &m->w[i]) != 0) {
            imap_stop_threads(m);
            return SW_EINTERNAL;
        }
        m->nstarted++;
    }
    sw_log_info("mailbox.sync_started", "threads=%d poll_ms=%lld timeout_s=%d",
                m->o.threads, (long long)m->o.poll_ms, m->o.timeout_s);
    return SW_OK;
}

void ingest_imap_sync_close(ingest_imap_sync **mp)
{
    ingest_imap_sync *m;
    size_t i;

    if (mp == NULL || *mp == NULL)
        return;
    m = *mp;
    imap_stop_threads(m);
    for (i = 0; i < m->ne; i++) {
        sw_free(m->e[i].team_id);
        sw_free(m->e[i].mailbox_id);
    }
    sw_free(m->e);
    sw_free(m->w);
    ingest_imap_key_free(&m->key);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    sw_free(m);
    *mp = NULL;
}
