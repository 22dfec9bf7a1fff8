/* store_fault_test: fails allocation N (N = 1, 2, ...) during a
 * representative sequence of store calls, until the sequence completes
 * without reaching allocation N. Each failure must be a clean SW_ENOMEM,
 * leak nothing, and leave a store that opens and is consistent. */
#include "tests/testutil.h"

#include <stdbool.h>

#include "base/sw_mem.h"
#include "store/store.h"
#include "store/store_tenant.h"

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

struct seqval {
    uint64_t v;
};

static SW_MUST_CHECK sw_err seq_txn(store_txn *t, void *arg)
{
    struct seqval *q = arg;

    return store_seq_next(t, "", "fault", &q->v);
}

/* sequence runs the calls under test and releases everything it made. */
static SW_MUST_CHECK sw_err sequence(const char *dir)
{
    struct store_opts o = {dir, 0, 0, 0, 0, 0};
    struct store_team team = {0}, *teams = NULL;
    struct store_apikey key = {0}, auth = {0}, *keys = NULL, *reps = NULL;
    struct store_member mem = {0};
    struct seqval q = {0};
    char *secret = NULL, *secret2 = NULL, *next = NULL, *next2 = NULL;
    char *secret3 = NULL, *next3 = NULL;
    size_t nteams = 0, nkeys = 0, nreps = 0;
    store *s = NULL;
    bool is = false;
    sw_err rc;

    rc = store_open(&o, &s);
    if (rc)
        goto out;
    rc = store_team_create(s, "Fault Team", &team, &secret, NULL);
    if (rc)
        goto out;
    rc = store_key_create(s, team.team_id, "ci", STORE_ROLE_TEAM, &key,
                          &secret2, NULL);
    if (rc)
        goto out;
    rc = store_key_authenticate(s, secret2, strlen(secret2), &auth);
    if (rc)
        goto out;
    rc = store_team_list(s, 2, NULL, &teams, &nteams, &next, NULL);
    if (rc)
        goto out;
    rc = store_key_list(s, team.team_id, 1, NULL, &keys, &nkeys, &next2, NULL);
    if (rc)
        goto out;
    rc = store_member_add(s, team.team_id, "A@B.example", "A", &mem, NULL);
    if (rc)
        goto out;
    rc = store_member_is(s, team.team_id, "a@b.example", &is);
    if (rc)
        goto out;
    if (!is) {
        rc = SW_EINTERNAL;
        goto out;
    }
    /* A rep key of the member, listed by role, revoked with its member. */
    rc = store_key_create_rep(s, team.team_id, "a@b.example", "rep", NULL,
                              &secret3, NULL);
    if (rc)
        goto out;
    rc = store_key_list_role(s, team.team_id, STORE_ROLE_REP, 1, NULL, &reps,
                             &nreps, &next3, NULL);
    if (rc)
        goto out;
    rc = store_member_remove(s, team.team_id, "a@b.example", NULL);
    if (rc)
        goto out;
    rc = store_update(s, seq_txn, &q);
out:
    store_apikeys_free(reps, nreps);
    sw_free(next3);
    sw_free(secret3);
    store_member_clear(&mem);
    store_apikeys_free(keys, nkeys);
    store_teams_free(teams, nteams);
    store_apikey_clear(&auth);
    store_apikey_clear(&key);
    store_team_clear(&team);
    sw_free(next2);
    sw_free(next);
    sw_free(secret2);
    sw_free(secret);
    store_close(&s);
    return rc;
}

/* check_consistent opens the store with no faults and checks that every
 * team has a key and that every key has its hash and id index entries. */
static void check_consistent(const char *dir)
{
    struct store_opts o = {dir, 0, 0, 0, 0, 0};
    struct store_team *teams = NULL;
    struct store_apikey *keys = NULL;
    struct store_stats st;
    char *next = NULL;
    size_t n, nk, i;
    store *s = NULL;

    ASSERT_OK(store_open(&o, &s));
    ASSERT_OK(store_stat(s, &st));
    ASSERT_EQ(st.entries[STORE_DB_KEY_HASHES], st.entries[STORE_DB_KEYS]);
    ASSERT_EQ(st.entries[STORE_DB_KEY_IDS], st.entries[STORE_DB_KEYS]);
    ASSERT_OK(store_team_list(s, 1000, NULL, &teams, &n, &next, NULL));
    assert_null(next);
    for (i = 0; i < n; i++) {
        ASSERT_OK(store_key_list(s, teams[i].team_id, 0, NULL, &keys, &nk,
                                 &next, NULL));
        assert_true(nk >= 1);
        store_apikeys_free(keys, nk);
        sw_free(next);
    }
    store_teams_free(teams, n);
    store_close(&s);
}

static void test_fault_sequence(void **state)
{
    char dir[TEST_PATH_MAX];
    struct fault f = {0, 0};
    int64_t live;
    sw_err rc;
    int failures = 0;

    (void)state;
    test_mkdtemp(dir);
    live = sw_mem_live();
    for (f.at = 1;; f.at++) {
        f.fired = 0;
        sw_mem_set_fault(fault_hook, &f);
        rc = sequence(dir);
        sw_mem_set_fault(NULL, NULL);
        if (sw_mem_live() != live)
            fail_msg("fail at %llu: %lld blocks leaked (rc %s)",
                     (unsigned long long)f.at,
                     (long long)(sw_mem_live() - live), sw_err_name(rc));
        if (!f.fired) {
            ASSERT_OK(rc);
            break;
        }
        /* A failure that only cost a log line may still succeed. */
        if (rc != SW_OK && rc != SW_ENOMEM)
            fail_msg("fail at %llu: got %s, want SW_ENOMEM",
                     (unsigned long long)f.at, sw_err_name(rc));
        if (rc)
            failures++;
        check_consistent(dir);
        if (sw_mem_live() != live)
            fail_msg("check leaked at %llu", (unsigned long long)f.at);
    }
    print_message("allocation faults injected: %llu, failed cleanly: %d\n",
                  (unsigned long long)f.at - 1, failures);
    assert_true(failures > 10);
    check_consistent(dir);
    test_rmtree(dir);
}

/* A malformed record is SW_ECORRUPT, a failed allocation while decoding it
 * is SW_ENOMEM: the two must not be confused. */
static SW_MUST_CHECK sw_err corrupt_team_txn(store_txn *t, void *arg)
{
    const char *team_id = arg;

    return store_put(t, STORE_DB_TEAMS, team_id, strlen(team_id), "\xff\xff", 2,
                     0);
}

static void test_corrupt_record(void **state)
{
    char dir[TEST_PATH_MAX];
    struct store_opts o = {dir, 0, 0, 0, 0, 0};
    struct store_team t = {0}, g = {0};
    store *s = NULL;
    int64_t live;

    (void)state;
    test_mkdtemp(dir);
    live = sw_mem_live();
    ASSERT_OK(store_open(&o, &s));
    ASSERT_OK(store_team_create(s, "x", &t, NULL, NULL));
    ASSERT_OK(store_team_get(s, t.team_id, &g, NULL));
    store_team_clear(&g);
    ASSERT_OK(store_update(s, corrupt_team_txn, t.team_id));
    ASSERT_ERR(store_team_get(s, t.team_id, &g, NULL), SW_ECORRUPT);
    store_team_clear(&t);
    store_close(&s);
    ASSERT_EQ(sw_mem_live(), live);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_sequence),
        cmocka_unit_test(test_corrupt_record),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
