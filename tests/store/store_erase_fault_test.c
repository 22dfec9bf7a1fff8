/* store_erase_fault_test: ForgetContact (store_contact_erase) with
 * allocation N failing (N = 1, 2, ...) until a run completes without
 * reaching N. A team's thread holds a rep's mail with a file and the
 * contact's reply (a derived outcome, a framing, a queued job, a journal
 * entry with its cache entry). After every failed run each email is either
 * whole or gone, the store passes store_mail_check, nothing leaked, and
 * running the erasure again (without faults) finishes it. */
#include "tests/testutil.h"

#include <string.h>

#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_erase.h"
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"
#include "tests/store/seed_mail.h"

#define CONTACT "buyer@prospect.example"

struct fault {
    uint64_t at;
    int fired;
};

static int fault_hook(uint64_t ordinal, void *arg)
{
    struct fault *f = arg;

    if (ordinal != f->at)
        return 0;
    f->fired = 1;
    return 1;
}

struct seed {
    const char *team;
};

static SW_MUST_CHECK sw_err seed_txn(store_txn *t, void *arg)
{
    struct seed *s = arg;
    char *ids[] = {"em_0000000000000001", "em_0000000000000002"};
    char *parts[] = {"rep@seller.example", CONTACT};
    char *reps[] = {"rep@seller.example"};
    struct store_email_content ec = {"ct_0000000000000001", "deck.txt", 2, 1};
    struct store_content c;
    struct store_thread th;
    struct store_outcome o;
    struct store_snippet sn;
    struct store_llm_attempt a;
    unsigned char key[32];
    char *oid = NULL;
    int dup = 0;
    sw_err rc;

    memset(&c, 0, sizeof(c));
    c.content_id = ec.content_id;
    c.team_id = (char *)s->team;
    c.filename = "deck.txt";
    c.media_type = "text/plain";
    c.kind = 6;
    c.state = 2;
    c.text = "the deck";
    c.text_len = 8;
    c.sha256[0] = 1;
    c.file_state = STORE_FILE_NOT_KEPT;
    rc = store_content_put(t, &c);
    if (rc == SW_OK)
        rc = seed_email(t, s->team, "rep@seller.example", ids[0],
                        "m1@seller.example", "rep@seller.example", CONTACT,
                        STORE_DIR_OUTBOUND, &ec);
    if (rc == SW_OK)
        rc = store_content_use_add(t, s->team, ec.content_id, ids[0]);
    if (rc == SW_OK)
        rc = seed_email(t, s->team, "rep@seller.example", ids[1],
                        "m2@prospect.example", CONTACT, "rep@seller.example",
                        STORE_DIR_INBOUND, NULL);
    memset(&th, 0, sizeof(th));
    th.thread_id = "th_0000000000000001";
    th.team_id = (char *)s->team;
    th.subject = "Deck";
    th.subject_key = "deck";
    th.participants = parts;
    th.n_participants = 2;
    th.rep_emails = reps;
    th.n_rep_emails = 1;
    th.email_ids = ids;
    th.n_emails = 2;
    th.first_ms = 1000;
    th.last_ms = 2000;
    if (rc == SW_OK)
        rc = store_thread_put(t, &th);
    memset(&o, 0, sizeof(o));
    o.thread_id = th.thread_id;
    o.kind = 4;
    o.source = STORE_OUTCOME_DERIVED;
    o.email_id = ids[1];
    o.idem_key = "reply:em_0000000000000002";
    if (rc == SW_OK)
        rc = store_outcome_put(t, s->team, &o, &dup, &oid);
    sw_free(oid);
    memset(&sn, 0, sizeof(sn));
    sn.team_id = (char *)s->team;
    sn.kind = STORE_SNIPPET_FRAMING;
    sn.text = "I've attached the deck";
    sn.content_id = ec.content_id;
    sn.email_id = ids[0];
    sn.thread_id = th.thread_id;
    if (rc == SW_OK)
        rc = store_snippet_put(t, &sn);
    sw_free(sn.snippet_id);
    if (rc == SW_OK)
        rc = store_job_enqueue(t, s->team, ids[1], STORE_JOB_CLASSIFY_INBOUND,
                               NULL);
    memset(&a, 0, sizeof(a));
    a.job_id = ids[1];
    a.provider = "builtin";
    a.model = "builtin-v1";
    a.schema_name = "reply";
    a.schema_version = 1;
    a.request_hash = "00ff";
    a.raw_output = "{\"evidence\":\"words of the contact\"}";
    a.errors = "";
    a.outcome = STORE_LLM_OK;
    if (rc == SW_OK)
        rc = store_llm_journal_add(t, s->team, &a);
    if (rc == SW_OK)
        rc = store_llm_cache_key("builtin", "builtin-v1", "reply", 1, "00ff",
                                 key);
    if (rc == SW_OK)
        rc = store_llm_cache_put(t, s->team, key, "{}", 2);
    return rc;
}

/* state_ok: the store is consistent, and each email whole or gone (its
 * thread lists exactly the emails that exist). Returns the emails left. */
static size_t state_ok(store *s, const char *team)
{
    const char *ids[] = {"em_0000000000000001", "em_0000000000000002"};
    struct store_email e;
    struct store_thread th;
    struct sw_buf report;
    size_t v = 99, i, left = 0;
    sw_err rc;

    sw_buf_init(&report, 1 << 20);
    ASSERT_OK(store_mail_check(s, &report, &v, NULL));
    if (v != 0)
        fail_msg("check: %zu violations:\n%s", v, sw_buf_str(&report));
    sw_buf_free(&report);
    for (i = 0; i < 2; i++) {
        memset(&e, 0, sizeof(e));
        rc = store_email_get(s, team, ids[i], &e);
        left += rc == SW_OK;
        store_email_clear(&e);
        if (rc != SW_ENOTFOUND)
            ASSERT_OK(rc);
    }
    memset(&th, 0, sizeof(th));
    rc = store_thread_get(s, team, "th_0000000000000001", &th);
    if (left == 0)
        ASSERT_ERR(rc, SW_ENOTFOUND);
    else
        ASSERT_EQ(th.n_emails, left); /* check saw the rest */
    store_thread_clear(&th);
    return left;
}

static void test_forget_under_faults(void **state)
{
    char dir[TEST_PATH_MAX];
    struct store_opts o = {dir, 0, 0, 0, 0, 0};
    struct store_team team;
    struct store_erase_counts n;
    struct fault f = {0, 0};
    struct seed sd;
    int64_t live;
    int failures = 0;
    store *s = NULL;
    char *secret = NULL;
    sw_err rc;

    (void)state;
    for (f.at = 1; f.at < 100000; f.at++) {
        test_mkdtemp(dir);
        memset(&team, 0, sizeof(team));
        ASSERT_OK(store_open(&o, &s));
        ASSERT_OK(store_team_create(s, "Erase", &team, &secret, NULL));
        sw_free(secret);
        secret = NULL;
        sd.team = team.team_id;
        ASSERT_OK(store_update(s, seed_txn, &sd));
        live = sw_mem_live();
        f.fired = 0;
        sw_mem_set_fault(fault_hook, &f);
        rc = store_contact_erase(s, team.team_id, CONTACT, &n);
        sw_mem_set_fault(NULL, NULL);
        store_erase_counts_clear(&n);
        if (sw_mem_live() != live)
            fail_msg("fail at %llu: %lld blocks leaked (rc %s)",
                     (unsigned long long)f.at,
                     (long long)(sw_mem_live() - live), sw_err_name(rc));
        if (f.fired && rc != SW_OK && rc != SW_ENOMEM)
            fail_msg("fail at %llu: got %s, want SW_ENOMEM",
                     (unsigned long long)f.at, sw_err_name(rc));
        failures += rc != SW_OK;
        if (rc == SW_OK)
            ASSERT_EQ(state_ok(s, team.team_id), 0);
        else
            (void)state_ok(s, team.team_id);
        /* Running it again finishes the job. */
        ASSERT_OK(store_contact_erase(s, team.team_id, CONTACT, &n));
        store_erase_counts_clear(&n);
        ASSERT_EQ(state_ok(s, team.team_id), 0);
        store_team_clear(&team);
        store_close(&s);
        test_rmtree(dir);
        if (!f.fired)
            break;
    }
    print_message("allocation faults injected: %llu, failed cleanly: %d\n",
                  (unsigned long long)f.at - 1, failures);
    assert_true(failures > 10);
}

/* The plan hook's work: a framing of the contact's reply, as a worker
 * committing its extraction between the plan and the erasure would write
 * it. */
static SW_MUST_CHECK sw_err late_snippet_txn(store_txn *t, void *arg)
{
    struct store_snippet sn;
    sw_err rc;

    memset(&sn, 0, sizeof(sn));
    sn.team_id = (char *)arg;
    sn.kind = STORE_SNIPPET_FRAMING;
    sn.text = "Happy to look at the deck next week";
    sn.email_id = "em_0000000000000002";
    sn.thread_id = "th_0000000000000001";
    rc = store_snippet_put(t, &sn);
    sw_free(sn.snippet_id);
    return rc;
}

struct late {
    store *s;
    const char *team;
    int ran;
};

static void late_snippet(void *arg)
{
    struct late *l = arg;

    ASSERT_OK(store_update(l->s, late_snippet_txn, (void *)l->team));
    l->ran = 1;
}

/* A snippet of the contact's email committed after the erasure planned
 * (an extraction finishing meanwhile) is redacted with the email: no
 * snippet names an email that no longer exists. */
static void test_snippet_written_after_the_plan(void **state)
{
    char dir[TEST_PATH_MAX];
    struct store_opts o = {dir, 0, 0, 0, 0, 0};
    struct store_team team;
    struct store_erase_counts n;
    struct seed sd;
    struct late l;
    store *s = NULL;
    char *secret = NULL;

    (void)state;
    test_mkdtemp(dir);
    ASSERT_OK(store_open(&o, &s));
    ASSERT_OK(store_team_create(s, "Erase", &team, &secret, NULL));
    sw_free(secret);
    sd.team = team.team_id;
    ASSERT_OK(store_update(s, seed_txn, &sd));
    l.s = s;
    l.team = team.team_id;
    l.ran = 0;
    store_erase_set_plan_hook(late_snippet, &l);
    ASSERT_OK(store_contact_erase(s, team.team_id, CONTACT, &n));
    store_erase_set_plan_hook(NULL, NULL);
    assert_true(l.ran);
    assert_int_equal(n.n_snippets, 2); /* the seeded framing and the late one */
    store_erase_counts_clear(&n);
    ASSERT_EQ(state_ok(s, team.team_id), 0); /* store_mail_check: clean */
    store_team_clear(&team);
    store_close(&s);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forget_under_faults),
        cmocka_unit_test(test_snippet_written_after_the_plan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
