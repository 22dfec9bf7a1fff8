/* imap_test: the parts of the mailbox sync that need no IMAP server: the
 * mailbox records and folder cursors (store_mailbox.h), the sealing of
 * secrets and its key file (imap_secret.h), and the loopback check that
 * guards plaintext IMAP (imap_conn.h), and the folder cursor that moves in
 * the transaction of the mail it covers (pipeline.h's ingest_txn_hook). The
 * sync itself runs against a real
 * Dovecot in tests/e2e/test_mailbox.py. */
#include "tests/testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ingest/imap_conn.h"
#include "ingest/imap_secret.h"
#include "ingest/pipeline.h"
#include "store/store.h"
#include "store/store_mailbox.h"
#include "store/store_tenant.h"

struct fixture {
    char dir[TEST_PATH_MAX];
    store *s;
    struct store_team a, b;
    int64_t live;
};

static int setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;

    if (f == NULL)
        return -1;
    f->live = sw_mem_live();
    test_mkdtemp(f->dir);
    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    if (store_open(&o, &f->s) != SW_OK ||
        store_team_create(f->s, "A", &f->a, NULL, NULL) != SW_OK ||
        store_team_create(f->s, "B", &f->b, NULL, NULL) != SW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int64_t live;

    store_team_clear(&f->a);
    store_team_clear(&f->b);
    store_close(&f->s);
    live = sw_mem_live() - f->live;
    test_rmtree(f->dir);
    sw_free(f);
    if (live != 0) {
        print_error("leak: %lld blocks live\n", (long long)live);
        return -1;
    }
    return 0;
}

/* new_mailbox creates a mailbox for team with a fake sealed secret. */
static char *new_mailbox(struct fixture *f, const char *team, const char *host)
{
    static char *const folders[] = {"INBOX", "Deals"};
    unsigned char box[] = {1, 2, 3, 4};
    struct store_mailbox m;
    char *id = NULL;

    memset(&m, 0, sizeof(m));
    m.rep_email = "rep@acme.example";
    m.host = (char *)host;
    m.port = 993;
    m.tls_mode = 1;
    m.username = "rep";
    m.auth_kind = STORE_MAILBOX_PASSWORD;
    m.secret_box = box;
    m.secret_len = sizeof(box);
    m.folders = (char **)folders;
    m.n_folders = 2;
    ASSERT_OK(store_mailbox_create(f->s, team, &m, &id));
    return id;
}

static sw_err pause_edit(struct store_mailbox *m, void *arg)
{
    (void)arg;
    m->paused = 1;
    m->sync_req++;
    return SW_OK;
}

static sw_err refuse_edit(struct store_mailbox *m, void *arg)
{
    (void)arg;
    m->paused = 0;
    return SW_ESTATE;
}

static void test_records(void **state)
{
    struct fixture *f = *state;
    struct store_mailbox m, *all = NULL, *list = NULL;
    size_t n = 0, nl = 0;
    int more = 0;
    char *id = new_mailbox(f, f->a.team_id, "imap.acme.example");
    char *id_b = new_mailbox(f, f->b.team_id, "imap.b.example");

    memset(&m, 0, sizeof(m));
    ASSERT_OK(store_mailbox_get(f->s, f->a.team_id, id, &m));
    assert_string_equal(m.host, "imap.acme.example");
    assert_int_equal(m.port, 993);
    assert_int_equal(m.cred_gen, 1);
    assert_int_equal(m.n_folders, 2);
    assert_string_equal(m.folders[1], "Deals");
    assert_int_equal(m.secret_len, 4);
    assert_true(m.create_ms > 0);
    store_mailbox_clear(&m);

    /* Another team's id does not exist here. */
    ASSERT_ERR(store_mailbox_get(f->s, f->a.team_id, id_b, &m), SW_ENOTFOUND);

    /* Edits are read-modify-write; a refused edit writes nothing. */
    ASSERT_OK(
        store_mailbox_update(f->s, f->a.team_id, id, pause_edit, NULL, &m));
    assert_true(m.paused);
    assert_int_equal(m.sync_req, 1);
    assert_string_equal(m.team_id, f->a.team_id);
    store_mailbox_clear(&m);
    ASSERT_ERR(
        store_mailbox_update(f->s, f->a.team_id, id, refuse_edit, NULL, NULL),
        SW_ESTATE);
    ASSERT_OK(store_mailbox_get(f->s, f->a.team_id, id, &m));
    assert_true(m.paused);
    store_mailbox_clear(&m);

    ASSERT_OK(
        store_mailbox_list(f->s, f->a.team_id, NULL, 10, &list, &nl, &more));
    assert_int_equal(nl, 1);
    assert_false(more);
    store_mailboxes_free(list, nl);
    ASSERT_OK(store_mailbox_list_all(f->s, 100, &all, &n));
    assert_int_equal(n, 2);
    assert_true(strcmp(all[0].team_id, f->a.team_id) == 0 ||
                strcmp(all[1].team_id, f->a.team_id) == 0);
    store_mailboxes_free(all, n);
    sw_free(id);
    sw_free(id_b);
}

static void test_folders_and_delete(void **state)
{
    struct fixture *f = *state;
    struct store_mailbox_folder c, *got = NULL;
    struct store_mailbox m;
    size_t n = 0, ndel = 0;
    char *id = new_mailbox(f, f->a.team_id, "imap.acme.example");
    char *id2 = new_mailbox(f, f->a.team_id, "imap2.acme.example");

    memset(&c, 0, sizeof(c));
    c.name = "INBOX";
    c.uid_validity = 77;
    c.last_uid = 12;
    c.seen = 12;
    c.ingested = 10;
    ASSERT_OK(store_mailbox_folder_put(f->s, f->a.team_id, id, &c));
    c.last_uid = 15; /* a later batch replaces the cursor */
    ASSERT_OK(store_mailbox_folder_put(f->s, f->a.team_id, id, &c));
    c.name = "Sent";
    ASSERT_OK(store_mailbox_folder_put(f->s, f->a.team_id, id, &c));
    ASSERT_OK(store_mailbox_folder_put(f->s, f->a.team_id, id2, &c));
    ASSERT_OK(store_mailbox_folders(f->s, f->a.team_id, id, &got, &n));
    assert_int_equal(n, 2);
    assert_string_equal(got[0].name, "INBOX");
    assert_int_equal(got[0].uid_validity, 77);
    assert_int_equal(got[0].last_uid, 15);
    assert_int_equal(got[0].ingested, 10);
    store_mailbox_folders_free(got, n);

    /* Delete takes its cursors along, not those of the other mailbox; a
     * cursor is never written for a deleted mailbox. */
    ASSERT_OK(store_mailbox_delete(f->s, f->a.team_id, id));
    ASSERT_ERR(store_mailbox_delete(f->s, f->a.team_id, id), SW_ENOTFOUND);
    ASSERT_ERR(store_mailbox_get(f->s, f->a.team_id, id, &m), SW_ENOTFOUND);
    ASSERT_OK(store_mailbox_folders(f->s, f->a.team_id, id, &got, &n));
    assert_int_equal(n, 0);
    store_mailbox_folders_free(got, n);
    ASSERT_ERR(store_mailbox_folder_put(f->s, f->a.team_id, id, &c),
               SW_ENOTFOUND);
    ASSERT_OK(store_mailbox_folders(f->s, f->a.team_id, id2, &got, &n));
    assert_int_equal(n, 1);
    store_mailbox_folders_free(got, n);

    /* A team's deletion takes its mailboxes. */
    {
        store_txn *t = NULL;
        ASSERT_OK(store_txn_begin(f->s, 1, &t));
        ASSERT_OK(store_del_team(t, f->a.team_id, &ndel));
        ASSERT_OK(store_txn_commit(&t));
    }
    ASSERT_ERR(store_mailbox_get(f->s, f->a.team_id, id2, &m), SW_ENOTFOUND);
    sw_free(id);
    sw_free(id2);
}

static void test_create_refusals(void **state)
{
    struct fixture *f = *state;
    struct store_mailbox m;
    char *id = NULL;

    memset(&m, 0, sizeof(m));
    m.host = "h";
    m.username = "u";
    /* No secret. */
    ASSERT_ERR(store_mailbox_create(f->s, f->a.team_id, &m, &id), SW_EINVAL);
    m.secret_box = (unsigned char *)"x";
    m.secret_len = 1;
    ASSERT_ERR(store_mailbox_create(f->s, "team_0000000000000000", &m, &id),
               SW_ENOTFOUND);
    assert_null(id);
}

/* contains: whether s occurs in p[0..n). */
static int contains(const unsigned char *p, size_t n, const char *s)
{
    size_t i, k = strlen(s);

    for (i = 0; i + k <= n; i++) {
        if (memcmp(p + i, s, k) == 0)
            return 1;
    }
    return 0;
}

static void test_secret_key(void **state)
{
    struct fixture *f = *state;
    ingest_imap_key *k = NULL, *k2 = NULL;
    unsigned char *box = NULL;
    size_t len = 0;
    char *out = NULL, path[TEST_PATH_MAX + 32];
    struct stat st;
    const char *pw = "hunter2-correct-horse";

    ASSERT_OK(ingest_imap_key_load(f->dir, &k));
    snprintf(path, sizeof(path), "%s/%s", f->dir, INGEST_IMAP_KEY_FILE);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    ASSERT_OK(ingest_imap_seal(k, pw, strlen(pw), &box, &len));
    assert_false(contains(box, len, pw)); /* not in clear */

    /* The next start reads the same key and opens what the first sealed. */
    ASSERT_OK(ingest_imap_key_load(f->dir, &k2));
    ASSERT_OK(ingest_imap_unseal(k2, box, len, &out));
    assert_string_equal(out, pw);
    ingest_imap_secret_free(&out);

    /* A changed byte is refused. */
    box[len - 1] ^= 1;
    ASSERT_ERR(ingest_imap_unseal(k2, box, len, &out), SW_ECORRUPT);
    ASSERT_ERR(ingest_imap_unseal(k2, box, 8, &out), SW_ECORRUPT);
    ASSERT_ERR(ingest_imap_seal(k, "", 0, &box, &len), SW_EINVAL);
    sw_free(box);
    ingest_imap_key_free(&k);
    ingest_imap_key_free(&k2);

    /* A key file others can read is refused. */
    assert_int_equal(chmod(path, 0644), 0);
    ASSERT_ERR(ingest_imap_key_load(f->dir, &k), SW_EPERM);
    assert_null(k);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(ingest_imap_host_is_loopback("127.0.0.1"));
    assert_true(ingest_imap_host_is_loopback("127.8.9.10"));
    assert_true(ingest_imap_host_is_loopback("::1"));
    assert_true(ingest_imap_host_is_loopback("LOCALHOST"));
    assert_false(ingest_imap_host_is_loopback("128.0.0.1"));
    assert_false(ingest_imap_host_is_loopback("imap.example.com"));
    assert_false(ingest_imap_host_is_loopback("127.0.0.1.example.com"));
    assert_false(ingest_imap_host_is_loopback(NULL));
}

/* Plaintext: to loopback always, to another host only with the
 * mailbox's allow_plaintext; the session refuses before any network
 * I/O, and says why. */
static void test_plaintext_ok(void **state)
{
    ingest_imap_conn *c = NULL;
    struct sw_buf why;

    (void)state;
    assert_true(ingest_imap_plaintext_ok("127.0.0.1", 0));
    assert_true(ingest_imap_plaintext_ok("::1", 1));
    assert_false(ingest_imap_plaintext_ok("imap.example.com", 0));
    assert_false(ingest_imap_plaintext_ok("10.1.2.3", 0));
    assert_true(ingest_imap_plaintext_ok("imap.example.com", 1));
    assert_true(ingest_imap_plaintext_ok("10.1.2.3", 1));
    assert_false(ingest_imap_plaintext_ok(NULL, 1));
    sw_buf_init(&why, 1024);
    ASSERT_ERR(ingest_imap_conn_open("198.51.100.7", 143,
                                     INGEST_IMAP_TLS_PLAIN_LOOPBACK, 0, NULL, 1,
                                     &c, &why),
               SW_EINVAL);
    assert_null(c);
    assert_non_null(strstr(sw_buf_str(&why), "allow_plaintext not set"));
    sw_buf_free(&why);
}

/* The advance a message carries into its commit, as imap_sync.c does;
 * fail makes the hook fail after its write. */
struct adv_arg {
    struct ingest_txn_hook hook;
    struct store_mailbox_advance a;
    int moved;
    sw_err fail;
};

static sw_err adv_hook(store_txn *t, const struct ingest_result *res, void *arg)
{
    struct adv_arg *v = arg;
    struct store_mailbox_advance a = v->a;
    sw_err rc;

    a.ingested = res->status == INGEST_NEW;
    rc = store_mailbox_folder_advance_txn(t, &a, &v->moved);
    return rc ? rc : v->fail;
}

/* ingest_adv ingests mail `id` with an advance from..to of folder INBOX
 * (NULL adv: none) and returns the result code; *status gets the status. */
static sw_err ingest_adv(ingest_pipeline *p, const char *team, const char *id,
                         struct adv_arg *adv, int *status)
{
    struct ingest_request r;
    struct ingest_result res;
    struct sw_buf raw;
    sw_err rc;

    sw_buf_init(&raw, 4096);
    ASSERT_OK(sw_buf_printf(&raw,
                            "Message-ID: <%s@cursor.example>\r\n"
                            "From: rep@acme.example\r\nTo: b@c.example\r\n"
                            "Subject: cursor %s\r\n\r\nHello %s\r\n",
                            id, id, id));
    memset(&r, 0, sizeof(r));
    r.raw = sw_buf_str(&raw);
    r.raw_len = sw_buf_len(&raw);
    if (adv) {
        adv->hook.fn = adv_hook;
        adv->hook.arg = adv;
        r.hook = &adv->hook;
    }
    rc = ingest_email(p, team, &r, &res, NULL, NULL);
    *status = res.status;
    ingest_result_clear(&res);
    sw_buf_free(&raw);
    return rc;
}

static struct store_mailbox_folder inbox_of(struct fixture *f, const char *id)
{
    struct store_mailbox_folder *got = NULL, c;
    size_t n = 0;

    ASSERT_OK(store_mailbox_folders(f->s, f->a.team_id, id, &got, &n));
    assert_int_equal(n, 1);
    c = got[0];
    store_mailbox_folders_free(got, n);
    c.name = NULL;
    return c;
}

static void test_cursor_in_mail_txn(void **state)
{
    struct fixture *f = *state;
    struct store_mailbox_folder c;
    ingest_pipeline *p = NULL;
    struct adv_arg v;
    char *id = new_mailbox(f, f->a.team_id, "imap.acme.example");
    int status = 0;

    ASSERT_OK(ingest_pipeline_open(f->s, NULL, &p));
    memset(&c, 0, sizeof(c));
    c.name = "INBOX";
    c.uid_validity = 7;
    c.backlog = 9;
    ASSERT_OK(store_mailbox_folder_put(f->s, f->a.team_id, id, &c));
    memset(&v, 0, sizeof(v));
    v.a.team_id = f->a.team_id;
    v.a.mailbox_id = id;
    v.a.folder = "INBOX";
    v.a.uid_validity = 7;
    v.a.seen = 1;
    v.a.backlog = -1;

    /* New mail moves the cursor and both counters; its repeat only seen.
     * A negative backlog leaves the folder's; a given one is written. */
    v.a.to_uid = 5;
    ASSERT_OK(ingest_adv(p, f->a.team_id, "a", &v, &status));
    assert_int_equal(status, INGEST_NEW);
    assert_true(v.moved);
    c = inbox_of(f, id);
    assert_int_equal(c.last_uid, 5);
    assert_int_equal(c.seen, 1);
    assert_int_equal(c.ingested, 1);
    assert_int_equal(c.backlog, 9);
    v.a.from_uid = 5;
    v.a.to_uid = 6;
    v.a.backlog = 3;
    ASSERT_OK(ingest_adv(p, f->a.team_id, "a", &v, &status));
    assert_int_equal(status, INGEST_DUPLICATE);
    c = inbox_of(f, id);
    assert_int_equal(c.last_uid, 6);
    assert_int_equal(c.seen, 2);
    assert_int_equal(c.ingested, 1);
    assert_int_equal(c.backlog, 3);

    /* An advance that does not follow the stored cursor (a message before
     * it failed) leaves the cursor: the mail is fetched again, not lost. */
    v.a.from_uid = 5;
    v.a.to_uid = 9;
    ASSERT_OK(ingest_adv(p, f->a.team_id, "b", &v, &status));
    assert_false(v.moved);
    assert_int_equal(inbox_of(f, id).last_uid, 6);

    /* One transaction: when the commit fails after the cursor was written,
     * neither the mail nor the cursor is kept. */
    v.a.from_uid = 6;
    v.a.to_uid = 7;
    v.fail = SW_ESTORE;
    ASSERT_ERR(ingest_adv(p, f->a.team_id, "c", &v, &status), SW_ESTORE);
    c = inbox_of(f, id);
    assert_int_equal(c.last_uid, 6);
    assert_int_equal(c.seen, 2);
    ASSERT_OK(ingest_adv(p, f->a.team_id, "c", NULL, &status));
    assert_int_equal(status, INGEST_NEW); /* it was not stored */

    /* A mailbox deleted meanwhile: the mail is stored, no cursor. */
    v.fail = SW_OK;
    ASSERT_OK(store_mailbox_delete(f->s, f->a.team_id, id));
    ASSERT_OK(ingest_adv(p, f->a.team_id, "d", &v, &status));
    assert_int_equal(status, INGEST_NEW);
    assert_false(v.moved);
    ingest_pipeline_close(&p);
    sw_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folders_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_key, setup, teardown),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_plaintext_ok),
        cmocka_unit_test_setup_teardown(test_cursor_in_mail_txn, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
