/* pipeline_commit: the write transaction of one email (ingest__commit_item):
 * dedupe, thread linking, content items, the email record and its
 * extraction job. Runs on the committer thread, possibly several times
 * (store_update retries after growing the map), so it resets its outputs
 * and has no effect outside the transaction. */
#include <stdio.h>
#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_strset.h"
#include "base/sw_util.h"
#include "ingest/pipeline_int.h"
#include "store/store_job.h"
#include "store/store_library.h"
#include "store/store_mail.h"

#define INGEST_SUBJECT_CANDIDATES 64
#define INGEST_ID_BYTES 8

/* ingest_thread_of_msgid finds the thread of the stored email whose
 * Message-ID is msgid. SW_ENOTFOUND when there is none. */
static SW_MUST_CHECK sw_err ingest_thread_of_msgid(store_txn *t,
                                                   const char *team_id,
                                                   const char *msgid,
                                                   struct store_thread *th)
{
    struct store_email e;
    struct sw_buf k;
    char *eid = NULL;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    sw_buf_init(&k, 1024);
    rc = store_mail_msgid_key(&k, msgid);
    if (rc == SW_EINVAL)
        rc = SW_ENOTFOUND;
    if (rc)
        goto out;
    rc = store_email_lookup(t, team_id, sw_buf_str(&k), sw_buf_len(&k), &eid);
    if (rc)
        goto out;
    rc = store_email_get_txn(t, team_id, eid, &e);
    if (rc)
        goto out;
    rc = store_thread_get_txn(t, team_id, e.thread_id, th);
out:
    sw_free(eid);
    store_email_clear(&e);
    sw_buf_free(&k);
    return rc;
}

/* ingest_overlaps sets *yes when an email without usable In-Reply-To or
 * References shares enough people with a same-subject thread to belong to
 * it: two participants at least (a reply between the same rep and
 * prospect), or all of them when the email names just one. One shared
 * address is not enough: two prospects writing "Question about pricing" to
 * the same rep are two conversations. */
static SW_MUST_CHECK sw_err ingest_overlaps(const struct ingest__item *it,
                                            const struct store_thread *th,
                                            int *yes)
{
    struct sw_strset mine = SW_STRSET_INIT;
    size_t i, shared = 0;
    sw_err rc;

    /* A set of the email's participants (at most 1,001) and one pass over
     * the thread's, which are distinct: linear in both. */
    *yes = 0;
    rc = sw_strset_reserve(&mine, it->n_participants);
    for (i = 0; rc == SW_OK && i < it->n_participants; i++)
        rc = sw_strset_add(&mine, it->participants[i], NULL);
    for (i = 0; rc == SW_OK && i < th->n_participants; i++)
        shared += (size_t)sw_strset_has(&mine, th->participants[i]);
    sw_strset_free(&mine);
    *yes = shared >= 2 || (shared >= 1 && shared == it->n_participants);
    return rc;
}

/* ingest_cand_of_id adds the thread that Message-ID id belongs to, if
 * any, to the candidates: by the reference index, else (mail stored before
 * that index) by the stored email with that Message-ID. */
static SW_MUST_CHECK sw_err ingest_cand_of_id(store_txn *t, const char *team_id,
                                              const char *id, char ***v,
                                              size_t *n)
{
    struct store_thread th;
    char *tid = NULL;
    sw_err rc;

    if (id == NULL || id[0] == '\0')
        return SW_OK;
    rc = store_thread_by_ref(t, team_id, id, &tid);
    if (rc == SW_OK) {
        rc = store_strv_add(v, n, tid);
        sw_free(tid);
        return rc;
    }
    if (rc != SW_ENOTFOUND)
        return rc;
    memset(&th, 0, sizeof(th));
    rc = ingest_thread_of_msgid(t, team_id, id, &th);
    if (rc == SW_OK)
        rc = store_strv_add(v, n, th.thread_id);
    else if (rc == SW_ENOTFOUND)
        rc = SW_OK;
    store_thread_clear(&th);
    return rc;
}

/* ingest_cand_subject adds every thread with the email's subject key that
 * shares people with it (ingest_overlaps) within the window. */
static SW_MUST_CHECK sw_err ingest_cand_subject(store_txn *t,
                                                const struct ingest__item *it,
                                                char ***v, size_t *n)
{
    struct store_thread cand;
    char **ids = NULL;
    size_t nids = 0, i;
    sw_err rc;

    if (sw_buf_len(&it->subject_key) == 0)
        return SW_OK;
    rc = store_thread_by_subject(t, it->team_id, sw_buf_str(&it->subject_key),
                                 INGEST_SUBJECT_CANDIDATES, &ids, &nids);
    for (i = 0; rc == SW_OK && i < nids; i++) {
        int yes = 0;

        memset(&cand, 0, sizeof(cand));
        rc = store_thread_get_txn(t, it->team_id, ids[i], &cand);
        if (rc == SW_OK &&
            it->eff_ms >= cand.first_ms - INGEST_THREAD_WINDOW_MS &&
            it->eff_ms <= cand.last_ms + INGEST_THREAD_WINDOW_MS)
            rc = ingest_overlaps(it, &cand, &yes);
        else if (rc == SW_ENOTFOUND)
            rc = SW_OK;
        if (rc == SW_OK && yes)
            rc = store_strv_add(v, n, cand.thread_id);
        store_thread_clear(&cand);
    }
    store_strv_free(ids, nids);
    return rc;
}

/* ingest_find_thread links the email to the stored threads it belongs to:
 * each thread that one of its Message-IDs (its own, In-Reply-To,
 * References) belongs to, and each thread of its subject key sharing
 * people with it within the window. So that the threads come out the same
 * whatever order mail arrives in, an email that links several threads
 * merges them, in this transaction, into the one with the smallest id
 * (store_thread_merge). *found is 0 when no thread fits; th is then left
 * empty. */
static SW_MUST_CHECK sw_err ingest_find_thread(store_txn *t,
                                               struct ingest__item *it,
                                               struct store_thread *th,
                                               int *found)
{
    const struct ingest_mail *m = it->m;
    char **ids = NULL;
    size_t n = 0, i, min = 0;
    sw_err rc;

    *found = 0;
    rc = ingest_cand_of_id(t, it->team_id, m->message_id, &ids, &n);
    if (rc == SW_OK)
        rc = ingest_cand_of_id(t, it->team_id, m->in_reply_to, &ids, &n);
    for (i = 0; rc == SW_OK && i < m->n_references; i++)
        rc = ingest_cand_of_id(t, it->team_id, m->references[i], &ids, &n);
    if (rc == SW_OK)
        rc = ingest_cand_subject(t, it, &ids, &n);
    if (rc || n == 0)
        goto out;
    for (i = 1; i < n; i++)
        if (strcmp(ids[i], ids[min]) < 0)
            min = i;
    rc = store_thread_get_txn(t, it->team_id, ids[min], th);
    for (i = 0; rc == SW_OK && i < n; i++)
        if (i != min)
            rc = store_thread_merge(t, th, ids[i]);
    if (rc == SW_OK)
        *found = 1;
out:
    store_strv_free(ids, n);
    return rc;
}

/* ingest_index_refs records that the email's Message-IDs (its own and
 * those it references) belong to thread_id. */
static SW_MUST_CHECK sw_err ingest_index_refs(store_txn *t,
                                              const struct ingest__item *it,
                                              const char *thread_id)
{
    const struct ingest_mail *m = it->m;
    size_t i;
    sw_err rc;

    rc = store_thread_ref_put(t, it->team_id,
                              m->message_id ? m->message_id : "", thread_id);
    if (rc == SW_OK)
        rc = store_thread_ref_put(
            t, it->team_id, m->in_reply_to ? m->in_reply_to : "", thread_id);
    for (i = 0; rc == SW_OK && i < m->n_references; i++)
        rc = store_thread_ref_put(t, it->team_id,
                                  m->references[i] ? m->references[i] : "",
                                  thread_id);
    return rc;
}

/* ingest_dup_result describes the stored copy of a duplicate. */
static SW_MUST_CHECK sw_err ingest_dup_result(store_txn *t,
                                              struct ingest__item *it,
                                              const char *email_id)
{
    struct ingest_result *res = &it->res;
    struct store_email e;
    size_t i;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    rc = store_email_get_txn(t, it->team_id, email_id, &e);
    if (rc)
        goto out;
    res->status = INGEST_DUPLICATE;
    res->direction = e.direction;
    res->email_id = e.email_id;
    res->thread_id = e.thread_id;
    e.email_id = e.thread_id = NULL;
    res->contents =
        sw_calloc(e.n_contents ? e.n_contents : 1, sizeof(*res->contents));
    res->defects = sw_calloc(e.n_defects ? e.n_defects : 1, sizeof(char *));
    if (res->contents == NULL || res->defects == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < e.n_contents; i++) {
        struct ingest_content_result *c = &res->contents[i];
        c->content_id = e.contents[i].content_id;
        c->filename = e.contents[i].filename;
        e.contents[i].content_id = e.contents[i].filename = NULL;
        c->status = INGEST_DUPLICATE;
        c->state = e.contents[i].state;
        res->n_contents++;
    }
    for (i = 0; i < e.n_defects; i++) {
        res->defects[i] = e.defects[i];
        e.defects[i] = NULL;
        res->n_defects++;
    }
out:
    store_email_clear(&e);
    return rc;
}

/* ingest_keep_file puts attachment a's bytes in the team's library when
 * they are under the per-file cap, and says in *file_state where they are.
 * An item whose file is not kept yet (one ingested before the library, or
 * under a higher cap) gains it now. SW_EQUOTA, with it->why saying which
 * file and the figures, when the library has no room for it. */
static SW_MUST_CHECK sw_err ingest_keep_file(store_txn *t,
                                             struct ingest__item *it,
                                             const struct ingest_attachment *a,
                                             int *file_state)
{
    struct store_library_usage u;
    sw_err rc;

    if (*file_state == STORE_FILE_KEPT || *file_state == STORE_FILE_DELETED)
        return SW_OK; /* a deleted file comes back only by request */
    /* The raw parser drops the bytes of an attachment over its cap. */
    if ((a->data == NULL && a->len > 0) ||
        (a->data == NULL && a->state == INGEST_TEXT_TOO_LARGE) ||
        (int64_t)a->len > it->max_file_bytes) {
        *file_state = STORE_FILE_TOO_LARGE;
        return SW_OK;
    }
    rc = store_library_put(t, it->team_id, a->sha256, a->data, a->len,
                           it->quota_bytes, NULL);
    if (rc == SW_EQUOTA && store_library_usage(t, it->team_id, &u) == SW_OK)
        snprintf(it->why, sizeof(it->why),
                 "the team's content library is full: %lld of its %lld-byte "
                 "quota is used and the new file \"%.80s\" needs %zu bytes; "
                 "nothing of this email was stored",
                 (long long)u.bytes, (long long)it->quota_bytes,
                 a->filename ? a->filename : "", a->len);
    if (rc == SW_OK)
        *file_state = STORE_FILE_KEPT;
    return rc;
}

/* ingest_commit_content stores or reuses the content item of attachment i
 * and records the usage by email_id. */
static SW_MUST_CHECK sw_err
ingest_commit_content(store_txn *t, struct ingest__item *it, size_t i,
                      const char *email_id, struct ingest_content_result *cr)
{
    const struct ingest_attachment *a = &it->m->atts[i];
    struct store_content c;
    char *cid = NULL;
    size_t j;
    int seen = 0;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    rc = store_content_lookup(t, it->team_id, 'b', a->sha256, &cid);
    if (rc == SW_ENOTFOUND && it->has_text_sha[i])
        rc = store_content_lookup(t, it->team_id, 't', it->text_sha[i], &cid);
    if (rc && rc != SW_ENOTFOUND)
        goto out;
    cr->filename = sw_strdup(a->filename ? a->filename : "");
    if (cr->filename == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (rc == SW_OK) {
        rc = store_content_get_txn(t, it->team_id, cid, &c);
        if (rc)
            goto out;
        for (j = 0; j < i; j++) /* the same file twice in one email */
            seen |= it->res.contents[j].content_id &&
                    strcmp(it->res.contents[j].content_id, cid) == 0;
        if (!seen) {
            c.times_used++;
            if (it->eff_ms > c.last_used_ms)
                c.last_used_ms = it->eff_ms;
            /* The bytes the item stands for: a text twin's stay its own. */
            if (memcmp(c.sha256, a->sha256, SW_SHA256_LEN) == 0)
                rc = ingest_keep_file(t, it, a, &c.file_state);
            if (rc == SW_OK)
                rc = store_content_put(t, &c);
            if (rc)
                goto out;
        }
        cr->status = INGEST_DUPLICATE;
        cr->state = c.state;
    } else {
        rc = sw_id_new("ct_", INGEST_ID_BYTES, &cid);
        if (rc)
            goto out;
        /* Borrowed strings: c is not cleared but its owned fields are. */
        c.content_id = cid;
        c.team_id = (char *)it->team_id;
        c.filename = a->filename ? a->filename : "";
        c.media_type = a->content_type ? a->content_type : "";
        c.kind = (int)a->kind;
        c.state = (int)a->state;
        c.text = a->text && a->state == INGEST_TEXT_EXTRACTED ? a->text : "";
        c.text_len = strlen(c.text);
        memcpy(c.sha256, a->sha256, SW_SHA256_LEN);
        if (it->has_text_sha[i]) {
            memcpy(c.text_sha256, it->text_sha[i], SW_SHA256_LEN);
            c.has_text_sha = 1;
        }
        c.size_bytes = (int64_t)a->len;
        c.pages = a->pages;
        c.first_seen_ms = it->eff_ms;
        c.last_used_ms = it->eff_ms;
        c.detail = a->detail ? a->detail : "";
        c.times_used = 1;
        rc = ingest_keep_file(t, it, a, &c.file_state);
        if (rc == SW_OK)
            rc = store_content_put(t, &c);
        memset(&c, 0, sizeof(c));
        if (rc)
            goto out;
        cr->status = INGEST_NEW;
        cr->state = (int)a->state;
    }
    rc = store_content_use_add(t, it->team_id, cid, email_id);
    if (rc)
        goto out;
    cr->content_id = cid;
    cid = NULL;
out:
    sw_free(cid);
    store_content_clear(&c);
    return rc;
}

/* ingest_addrs_view makes store_addr views of a mail's addresses. */
static struct store_addr *ingest_addrs_view(const struct ingest_address *a,
                                            size_t n)
{
    struct store_addr *v = sw_calloc(n ? n : 1, sizeof(*v));
    size_t i;

    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        v[i].name = a[i].name;
        v[i].email = a[i].email;
    }
    return v;
}

sw_err ingest__commit_item(store_txn *t, struct ingest__item *it)
{
    const struct ingest_mail *m = it->m;
    struct ingest_result *res = &it->res;
    struct store_email e; /* borrows everything; only its arrays are ours */
    struct store_thread th;
    char *eid = NULL;
    const void *tv;
    size_t tvl, i;
    int found = 0, kind = 0;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    memset(&th, 0, sizeof(th));
    ingest_result_clear(res);
    it->why[0] = '\0';
    rc = store_get(t, STORE_DB_TEAMS, it->team_id, strlen(it->team_id), &tv,
                   &tvl);
    if (rc)
        goto out;
    rc = store_email_lookup(t, it->team_id, sw_buf_str(&it->dkey),
                            sw_buf_len(&it->dkey), &eid);
    if (rc == SW_OK) {
        rc = ingest_dup_result(t, it, eid);
        goto out;
    }
    if (rc != SW_ENOTFOUND)
        goto out;
    rc = ingest_find_thread(t, it, &th, &found);
    if (rc)
        goto out;
    if (!found) {
        rc = sw_id_new("th_", INGEST_ID_BYTES, &th.thread_id);
        if (rc)
            goto out;
        th.team_id = sw_strdup(it->team_id);
        th.subject = sw_strdup(ingest_subject_strip(m->subject));
        th.subject_key = sw_strdup(sw_buf_str(&it->subject_key));
        if (th.team_id == NULL || th.subject == NULL ||
            th.subject_key == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        th.first_ms = th.last_ms = it->eff_ms;
    }
    rc = sw_id_new("em_", INGEST_ID_BYTES, &res->email_id);
    if (rc)
        goto out;
    res->status = INGEST_NEW;
    res->direction = it->direction;
    res->thread_id = sw_strdup(th.thread_id);
    res->contents =
        sw_calloc(m->n_atts ? m->n_atts : 1, sizeof(*res->contents));
    res->defects = sw_calloc(m->n_defects ? m->n_defects : 1, sizeof(char *));
    e.contents = sw_calloc(m->n_atts ? m->n_atts : 1, sizeof(*e.contents));
    e.to = ingest_addrs_view(m->to, m->n_to);
    e.cc = ingest_addrs_view(m->cc, m->n_cc);
    if (res->thread_id == NULL || res->contents == NULL ||
        res->defects == NULL || e.contents == NULL || e.to == NULL ||
        e.cc == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < m->n_defects; i++) {
        res->defects[i] = sw_strdup(m->defects[i]);
        if (res->defects[i] == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        res->n_defects++;
    }
    for (i = 0; i < m->n_atts; i++) {
        res->n_contents++;
        rc = ingest_commit_content(t, it, i, res->email_id, &res->contents[i]);
        if (rc)
            goto out;
        e.contents[i].content_id = res->contents[i].content_id;
        e.contents[i].filename = res->contents[i].filename;
        e.contents[i].state = res->contents[i].state;
        e.contents[i].is_new = res->contents[i].status == INGEST_NEW;
    }
    e.n_contents = m->n_atts;
    e.email_id = res->email_id;
    e.team_id = (char *)it->team_id;
    e.thread_id = th.thread_id;
    e.message_id = m->message_id ? m->message_id : "";
    e.in_reply_to = m->in_reply_to ? m->in_reply_to : "";
    e.references = m->references;
    e.n_references = m->n_references;
    e.direction = it->direction;
    e.from_email = m->from.email;
    e.from_name = m->from.name;
    e.rep_email = it->rep_email;
    e.subject = m->subject;
    e.n_to = m->n_to;
    e.n_cc = m->n_cc;
    e.sent_ms = m->date_ms;
    e.ingest_ms = it->now_ms;
    e.body_text = m->body_text;
    e.new_text = m->new_text;
    e.defects = m->defects;
    e.n_defects = m->n_defects;
    rc = store_email_put(t, &e, sw_buf_str(&it->dkey), sw_buf_len(&it->dkey));
    if (rc)
        goto out;
    /* The thread gains the email, its participants and its rep. */
    rc = store_strv_add(&th.email_ids, &th.n_emails, res->email_id);
    if (rc == SW_OK)
        rc = store_strv_union(&th.participants, &th.n_participants,
                              it->participants, it->n_participants,
                              STORE_THREAD_MAX_PARTICIPANTS);
    if (rc == SW_OK)
        rc = store_strv_add(&th.rep_emails, &th.n_rep_emails, it->rep_email);
    if (rc)
        goto out;
    if (it->eff_ms < th.first_ms)
        th.first_ms = it->eff_ms;
    if (it->eff_ms > th.last_ms)
        th.last_ms = it->eff_ms;
    rc = store_thread_put(t, &th);
    if (rc == SW_OK)
        rc = ingest_index_refs(t, it, th.thread_id);
    if (rc)
        goto out;
    if (it->direction == INGEST_DIR_OUTBOUND &&
        (m->n_atts > 0 || it->has_links))
        kind = STORE_JOB_EXTRACT_OUTBOUND;
    else if (it->direction == INGEST_DIR_INBOUND)
        kind = STORE_JOB_CLASSIFY_INBOUND;
    if (kind)
        rc = store_job_enqueue(t, it->team_id, res->email_id, kind,
                               &res->job_id);
out:
    sw_free(eid);
    sw_free(e.contents);
    sw_free(e.to);
    sw_free(e.cc);
    store_thread_clear(&th);
    return rc;
}
